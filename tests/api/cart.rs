//! The cart: what may go in, and bad input never reaching a 500.

use crate::helpers::*;

#[actix_web::test]
async fn add_change_and_remove_items_with_totals() {
    let app = TestApp::spawn().await;
    app.add_to_cart("canvas-tote", 2).await;
    app.add_to_cart("enamel-mug", 1).await;
    app.add_to_cart("canvas-tote", 1).await;
    let html = app.cart_html().await;
    assert!(
        html.contains("Added Canvas tote bag to your cart."),
        "flash"
    );
    assert_eq!(select_text(&html, "#subtotal"), vec!["$68.50"]);
    let quantities = select_attr(&html, "input[name=quantity][type=number]", "value");
    assert_eq!(quantities, vec!["3", "1"]);

    let token = csrf_token(&html);
    let item = select_attr(&html, "form.inline-form", "action").remove(0);
    let res = app
        .post_form(&item, &[("csrf_token", &token), ("quantity", "5")])
        .await;
    assert_redirect_to(&res, "/cart");
    assert_eq!(
        select_text(&app.cart_html().await, "#subtotal"),
        vec!["$104.50"]
    );
    let res = app
        .post_form(&item, &[("csrf_token", &token), ("quantity", "0")])
        .await;
    assert_redirect_to(&res, "/cart");
    let html = app.cart_html().await;
    assert!(html.contains("Removed from your cart."));
    assert_eq!(select_text(&html, "#subtotal"), vec!["$14.50"]);
}

#[actix_web::test]
async fn bad_quantities_re_render_the_product_page_with_a_message() {
    let app = TestApp::spawn().await;
    for bad in [
        "0",
        "-1",
        "1e9",
        "abc",
        "",
        "100",
        "2.5",
        "99999999999999999999999",
    ] {
        let res = app.add_to_cart_with(&app.client, "canvas-tote", bad).await;
        assert_eq!(res.status().as_u16(), 422, "{bad:?}");
        let html = res.text().await.unwrap();
        assert_eq!(
            select_text(&html, ".field-error"),
            vec!["Enter a quantity from 1 to 99."],
            "{bad:?}"
        );
        assert_eq!(
            select_attr(&html, "input[name=quantity]", "aria-invalid"),
            vec!["true"]
        );
    }
    assert!(app.cart_html().await.contains("Your cart is empty"));
}

#[actix_web::test]
async fn stock_limits_what_can_be_added() {
    let app = TestApp::spawn().await;
    let res = app
        .add_to_cart_with(&app.client, "harbour-print", "2")
        .await;
    assert_eq!(res.status().as_u16(), 422);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("You can add at most 1 of Limited print: Harbour at dawn.")
    );
    app.add_to_cart("harbour-print", 1).await;
    let res = app
        .add_to_cart_with(&app.client, "harbour-print", "1")
        .await;
    assert_eq!(res.status().as_u16(), 422, "already holding the only one");

    // The sold-out pen has no form, but a hand-made POST gets a clear answer.
    let (token, _) = app.product_form(&app.client, "canvas-tote").await;
    let pen_price = price_id_of(&app, "brass-pen").await;
    let res = app
        .post_form(
            "/cart/items",
            &[
                ("csrf_token", &token),
                ("price_id", &pen_price),
                ("quantity", "1"),
            ],
        )
        .await;
    assert_eq!(res.status().as_u16(), 409);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Brass pocket pen is sold out.")
    );
}

async fn price_id_of(app: &TestApp, key: &str) -> String {
    use diesel::prelude::*;
    use storefront::schema::prices;
    let key = key.to_owned();
    storefront::db::run(&app.pool, move |conn| {
        prices::table
            .filter(prices::lookup_key.eq(key))
            .select(prices::id)
            .first::<i64>(conn)
            .map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap()
    .to_string()
}

#[actix_web::test]
async fn unknown_inactive_and_subscription_prices_cannot_be_added() {
    let app = TestApp::spawn().await;
    let (token, _) = app.product_form(&app.client, "canvas-tote").await;
    for (price, status, message) in [
        ("999999".to_owned(), 404, "That item doesn't exist."),
        ("abc".to_owned(), 404, "That item doesn't exist."),
        ("-3".to_owned(), 404, "That item doesn't exist."),
        (
            price_id_of(&app, "coffee-club-monthly").await,
            422,
            "Coffee club subscription is not for sale any more.",
        ),
    ] {
        let res = app
            .post_form(
                "/cart/items",
                &[
                    ("csrf_token", &token),
                    ("price_id", &price),
                    ("quantity", "1"),
                ],
            )
            .await;
        assert_eq!(res.status().as_u16(), status, "{price}");
        let html = res.text().await.unwrap();
        let text = select_text(&html, "main").join(" ");
        assert!(text.contains(message), "{price}: {text}");
    }
}

#[actix_web::test]
async fn a_price_or_stock_change_makes_the_cart_stale_and_checkout_refuses() {
    let app = TestApp::spawn().await;
    app.add_to_cart("merino-beanie", 3).await;
    // Someone else buys most of the stock meanwhile.
    app.set_stock("merino-beanie", Some(2)).await;
    let html = app.cart_html().await;
    assert!(
        html.contains("Only 2 left — please lower the quantity."),
        "{html}"
    );
    assert!(
        select_attr(&html, "form[action='/checkout']", "action").is_empty(),
        "no checkout button"
    );
    let res = app
        .post_form(
            "/checkout",
            &[("csrf_token", &csrf_token(&html)), ("email", "")],
        )
        .await;
    assert_eq!(res.status().as_u16(), 409);
    assert!(res.text().await.unwrap().contains("Only 2 left"));
    assert!(app.all_orders().await.is_empty());
}

#[actix_web::test]
async fn checkout_of_an_empty_cart_or_with_a_bad_email_is_refused_kindly() {
    let app = TestApp::spawn().await;
    let (token, _) = app.product_form(&app.client, "canvas-tote").await;
    let res = app.post_form("/checkout", &[("csrf_token", &token)]).await;
    assert_eq!(res.status().as_u16(), 422);
    assert!(res.text().await.unwrap().contains("Your cart is empty."));
    app.add_to_cart("canvas-tote", 1).await;
    let res = app
        .post_form(
            "/checkout",
            &[("csrf_token", &token), ("email", "not an address")],
        )
        .await;
    assert_eq!(res.status().as_u16(), 422);
    let html = res.text().await.unwrap();
    assert_eq!(
        select_attr(&html, "#email", "value"),
        vec!["not an address"],
        "what was typed is kept"
    );
    assert!(html.contains("Enter an e-mail address like name@example.com"));
    assert!(app.all_orders().await.is_empty());
}

#[actix_web::test]
async fn posts_without_the_right_csrf_token_are_refused() {
    let app = TestApp::spawn().await;
    let (_, price) = app.product_form(&app.client, "canvas-tote").await;
    for token in [None, Some("forged")] {
        let mut form = vec![("price_id", price.as_str()), ("quantity", "1")];
        if let Some(t) = token {
            form.push(("csrf_token", t));
        }
        let res = app.post_form("/cart/items", &form).await;
        assert_eq!(res.status().as_u16(), 403);
        let res = app.post_form("/checkout", &form).await;
        assert_eq!(res.status().as_u16(), 403);
    }
    assert!(app.cart_html().await.contains("Your cart is empty"));
}

#[actix_web::test]
async fn malformed_cart_and_checkout_requests_never_500() {
    let app = TestApp::spawn().await;
    app.add_to_cart("canvas-tote", 1).await;
    let html = app.cart_html().await;
    let token = csrf_token(&html);
    let bodies = [
        format!("csrf_token={token}&price_id=1&quantity=1&quantity=2"),
        format!("csrf_token={token}&price_id[]=1"),
        format!("csrf_token={token}&%ZZ=1"),
        format!("csrf_token={token}&price_id=1&quantity=%00"),
        format!("csrf_token={token}&email={}", "a".repeat(70_000)),
        "\u{0}\u{1}garbage".to_string(),
        format!("csrf_token={token}&price_id=1&quantity=1"),
    ];
    for path in [
        "/cart/items",
        "/cart/items/1",
        "/cart/items/abc",
        "/cart/items/99999999999999999999",
        "/checkout",
    ] {
        for body in &bodies {
            let res = app
                .client
                .post(app.url(path))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert!(
                res.status().as_u16() < 500,
                "{path} {body:.40} → {}",
                res.status()
            );
        }
    }
}

#[actix_web::test]
async fn the_cart_lives_in_the_database_and_the_cookie_persists() {
    let app = TestApp::spawn().await;
    let res = app.add_to_cart_with(&app.client, "canvas-tote", "2").await;
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("Max-Age="),
        "a persistent cookie survives a browser restart: {cookie}"
    );
    assert!(cookie.len() < 600, "the cookie holds an id, not the cart");
    // Another item and the cookie does not grow with the cart.
    app.add_to_cart("enamel-mug", 1).await;
    app.add_to_cart("coffee-beans", 4).await;
    let html = app.cart_html().await;
    assert_eq!(select_text(&html, "#subtotal"), vec!["$114.50"]);
}
