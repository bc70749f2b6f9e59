//! The client behind a proxy (`TRUSTED_PROXIES`), as the open-checkout cap sees it.

use crate::helpers::*;

/// A browser whose every request carries this `X-Forwarded-For`, as one behind a proxy would
/// (or as a forger would send it).
fn browser_forwarded_for(xff: &str) -> reqwest::Client {
    let mut headers = crate::helpers::same_origin_headers();
    headers.insert("x-forwarded-for", xff.parse().unwrap());
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(REQUEST_TIMEOUT)
        .default_headers(headers)
        .build()
        .unwrap()
}

/// One new shopper's cart and checkout; the status of `POST /checkout`.
async fn open_checkout(app: &TestApp, browser: &reqwest::Client) -> u16 {
    app.add_to_cart_with(browser, "canvas-tote", "1").await;
    app.checkout_with(browser, "").await.status().as_u16()
}

const CAP: usize = 20;

#[actix_web::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_checkout_cap() {
    let app = TestApp::spawn_with(&[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    for i in 0..CAP {
        let status = open_checkout(&app, &browser_forwarded_for("198.51.100.7")).await;
        assert_eq!(status, 303, "checkout {i} of the first office");
    }
    let status = open_checkout(&app, &browser_forwarded_for("198.51.100.7")).await;
    assert_eq!(status, 429, "the first office is at its cap");
    // What the client wrote left of the proxy's own entry proves nothing: the rightmost
    // untrusted hop is the client.
    let forged = browser_forwarded_for("203.0.113.50, 198.51.100.7");
    assert_eq!(open_checkout(&app, &forged).await, 429);

    // Another shopper behind the same proxy is another client.
    let other = browser_forwarded_for("198.51.100.8");
    assert_eq!(open_checkout(&app, &other).await, 303);

    let orders = app.all_orders().await;
    let from = |ip: &str| {
        orders
            .iter()
            .filter(|o| o.client_ip.as_deref() == Some(ip))
            .count()
    };
    assert_eq!(from("198.51.100.7"), CAP);
    assert_eq!(from("198.51.100.8"), 1);
    assert_eq!(from("127.0.0.1"), 0, "the proxy itself is nobody's address");
}

#[actix_web::test]
async fn a_forwarded_for_header_from_an_untrusted_peer_is_ignored() {
    // No TRUSTED_PROXIES: the peer (127.0.0.1) is the client, whatever it claims.
    let app = TestApp::spawn().await;
    for i in 0..CAP {
        let forged = browser_forwarded_for(&format!("192.0.2.{}", i + 1));
        assert_eq!(open_checkout(&app, &forged).await, 303, "checkout {i}");
    }
    let forged = browser_forwarded_for("192.0.2.200");
    assert_eq!(
        open_checkout(&app, &forged).await,
        429,
        "a new forged address is still the same client"
    );
    let orders = app.all_orders().await;
    assert_eq!(orders.len(), CAP);
    assert!(
        orders
            .iter()
            .all(|o| o.client_ip.as_deref() == Some("127.0.0.1")),
        "every order is from the peer"
    );
}

#[actix_web::test]
async fn one_cart_holds_one_open_checkout() {
    let app = TestApp::spawn().await;
    app.add_to_cart("canvas-tote", 1).await;
    let first = app.checkout().await;
    let second = app.checkout().await;
    assert_eq!(first, second, "the cart's open checkout is reused");
    assert_eq!(app.all_orders().await.len(), 1);
}
