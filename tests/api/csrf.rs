//! Page views create no session; a first form POST is protected by a signed token and the
//! browser's word that it comes from our own page; POSTs from other sites are refused.

use crate::helpers::{TestApp, csrf_token, select_attr};

/// A client with cookies that sends only the headers given (no `Sec-Fetch-Site` by default).
fn bare_browser(headers: &[(&'static str, &str)]) -> reqwest::Client {
    let mut map = reqwest::header::HeaderMap::new();
    for (k, v) in headers {
        map.insert(*k, v.parse().unwrap());
    }
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(map)
        .build()
        .unwrap()
}

async fn product_page(app: &TestApp, client: &reqwest::Client) -> (String, String, bool) {
    let res = client
        .get(app.url("/products/canvas-tote"))
        .send()
        .await
        .unwrap();
    let sets_cookie = res.headers().get("set-cookie").is_some();
    let html = res.text().await.unwrap();
    let price = select_attr(&html, "input[name=price_id]", "value").remove(0);
    (csrf_token(&html), price, sets_cookie)
}

async fn add(
    app: &TestApp,
    client: &reqwest::Client,
    token: &str,
    price: &str,
) -> reqwest::Response {
    client
        .post(app.url("/cart/items"))
        .form(&[
            ("csrf_token", token),
            ("price_id", price),
            ("quantity", "1"),
        ])
        .send()
        .await
        .unwrap()
}

#[actix_web::test]
async fn page_views_set_no_cookie_for_new_or_returning_visitors() {
    let app = TestApp::spawn().await;
    for path in ["/", "/products/canvas-tote", "/cart", "/account/login"] {
        let res = app.get(path).await;
        assert_eq!(res.status(), 200, "{path}");
        assert!(
            res.headers().get("set-cookie").is_none(),
            "{path} set a cookie for a new visitor"
        );
    }
    // A returning visitor (a session with a cart): viewing pages leaves the cookie as it is.
    app.add_to_cart("canvas-tote", 1).await;
    let _ = app.cart_html().await; // the one-time "added" message is shown and gone
    for path in ["/", "/products/canvas-tote", "/cart"] {
        let res = app.get(path).await;
        assert_eq!(res.status(), 200, "{path}");
        assert!(
            res.headers().get("set-cookie").is_none(),
            "{path} rewrote an unchanged session"
        );
    }
}

#[actix_web::test]
async fn a_first_post_needs_a_signed_token_and_a_same_origin_browser() {
    let app = TestApp::spawn().await;

    // No word from the browser about where the form was: refused, even with a good token.
    let silent = bare_browser(&[]);
    let (token, price, sets_cookie) = product_page(&app, &silent).await;
    assert!(!sets_cookie);
    let res = add(&app, &silent, &token, &price).await;
    assert_eq!(res.status(), 403);

    // From another site: refused.
    for headers in [
        [("sec-fetch-site", "cross-site")],
        [("sec-fetch-site", "same-site")],
        [("origin", "http://evil.example")],
        [("origin", "null")],
    ] {
        let foreign = bare_browser(&headers);
        let (token, price, _) = product_page(&app, &foreign).await;
        let res = add(&app, &foreign, &token, &price).await;
        assert_eq!(res.status(), 403, "{headers:?}");
    }

    // A forged or altered token: refused, however same-origin the browser says it is.
    let browser = app.new_browser();
    let (token, price, _) = product_page(&app, &browser).await;
    for bad in [
        "forged".to_owned(),
        format!("{token}x"),
        token.replacen('.', "A.", 1),
        String::new(),
    ] {
        let res = add(&app, &browser, &bad, &price).await;
        assert_eq!(res.status(), 403, "{bad}");
    }

    // Our page's token from a same-origin page (Origin alone will do): accepted, and it becomes
    // the session's token, so the page's other forms keep working.
    let own_origin = app.address.clone();
    let browser = bare_browser(&[("origin", own_origin.as_str())]);
    let (token, price, _) = product_page(&app, &browser).await;
    let res = add(&app, &browser, &token, &price).await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    let res = add(&app, &browser, &token, &price).await;
    assert_eq!(res.status(), 303, "the same page's token, again");
    let cart = browser
        .get(app.url("/cart"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        select_attr(&cart, "input[type=number][name=quantity]", "value"),
        vec!["2"]
    );
    assert_eq!(csrf_token(&cart), token, "the session kept that token");

    // Until the visitor signs in, a newer signed token (a form re-rendered in answer to that
    // first POST carries one) is taken on the same terms. (After signing in, only the session's
    // own token is: see sessions::signing_in_gives_the_session_a_new_csrf_token.)
    let (newer, _, _) = product_page(&app, &bare_browser(&[])).await;
    assert_ne!(newer, token);
    let res = add(&app, &browser, &newer, &price).await;
    assert_eq!(res.status(), 303);
}

#[actix_web::test]
async fn a_cross_site_post_is_refused_even_with_the_sessions_own_token() {
    let app = TestApp::spawn().await;
    app.add_to_cart("canvas-tote", 1).await;
    let html = app.cart_html().await;
    let token = csrf_token(&html);
    let item = select_attr(&html, "form[action^='/cart/items/']", "action").remove(0);
    let res = app
        .client
        .post(app.url(&item))
        .header("sec-fetch-site", "cross-site")
        .form(&[("csrf_token", token.as_str()), ("quantity", "0")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let html = app.cart_html().await;
    assert!(html.contains("Canvas tote bag"), "the line is still there");
}
