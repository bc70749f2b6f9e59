//! The purchase path end to end, through the embedded emulator.

use crate::helpers::*;

#[actix_web::test]
async fn happy_path_with_the_webhook_first_pays_once() {
    let app = TestApp::spawn().await;
    app.add_to_cart("canvas-tote", 2).await;
    app.add_to_cart("harbour-print", 1).await;
    let session_url = app.checkout().await;
    assert!(
        session_url.starts_with(app.emulator.as_str()),
        "{session_url}"
    );
    let order = app.order_by_session(&session_id_of(&session_url)).await;
    assert_eq!(order.status, "pending");
    assert_eq!(order.amount_total, 2 * 1800 + 4500);
    assert_eq!(app.held("harbour-print").await, 1);

    let success = app.pay_ok(&session_url).await;
    assert!(
        success.starts_with(&format!("{}/checkout/success?session_id=cs_", app.address)),
        "{success}"
    );
    app.wait_for_status(&order.number, "paid").await;

    let (status, html) = app.get_html(success.trim_start_matches(&app.address)).await;
    assert_eq!(status, 200);
    assert_eq!(select_text(&html, "#order-status"), vec!["Paid"]);
    assert_eq!(select_text(&html, "#order-total"), vec!["$81.00"]);
    assert_eq!(
        select_text(&html, "#items thead th"),
        vec!["Item", "Quantity", "Price", "Total"]
    );
    assert_eq!(
        select_text(&html, "#items tbody td"),
        vec![
            "Canvas tote bag",
            "2",
            "$18.00",
            "$36.00",
            "Limited print: Harbour at dawn",
            "1",
            "$45.00",
            "$45.00"
        ]
    );
    assert!(html.contains(&order.number));

    app.wait_for_deliveries().await;
    assert_eq!(app.stock("canvas-tote").await, Some(38));
    assert_eq!(app.stock("harbour-print").await, Some(0));
    assert_eq!(app.held("harbour-print").await, 0);
    let cart = app.cart_html().await;
    assert!(
        cart.contains("Your cart is empty"),
        "the cart is emptied after paying"
    );
    let order = app.order(&order.number).await;
    assert!(order.stock_committed && order.payment_intent_id.is_some() && order.flagged.is_none());
}

#[actix_web::test]
async fn happy_path_with_the_success_page_first_pays_once() {
    let app = TestApp::spawn().await;
    app.emulator_post("_emulator/webhooks", &[("hold", "true")])
        .await;
    app.add_to_cart("enamel-mug", 3).await;
    let session_url = app.checkout().await;
    let order = app.order_by_session(&session_id_of(&session_url)).await;
    let success = app.pay_ok(&session_url).await;

    // No webhook yet: the success page asks Stripe itself.
    let (_, html) = app.get_html(success.trim_start_matches(&app.address)).await;
    assert_eq!(select_text(&html, "#order-status"), vec!["Paid"]);
    assert_eq!(app.stock("enamel-mug").await, Some(22));

    // The webhooks arrive afterwards and find nothing to do.
    app.emulator_post("_emulator/webhooks/release", &[]).await;
    app.wait_for_deliveries().await;
    let order = app.order(&order.number).await;
    assert_eq!(order.status, "paid");
    assert_eq!(app.stock("enamel-mug").await, Some(22), "stock taken once");
}

#[actix_web::test]
async fn declined_cards_leave_the_order_pending_on_the_payment_page() {
    let app = TestApp::spawn().await;
    app.add_to_cart("canvas-tote", 1).await;
    let session_url = app.checkout().await;
    let order = app.order_by_session(&session_id_of(&session_url)).await;
    for (card, message) in [
        (CARD_DECLINED, "Your card was declined."),
        (CARD_INSUFFICIENT, "insufficient funds"),
    ] {
        let res = app.pay(&session_url, card).await;
        assert_ne!(res.status().as_u16(), 303, "{card} must not redirect");
        let html = res.text().await.unwrap();
        assert!(
            html.to_lowercase().contains(&message.to_lowercase()),
            "{card}: {html}"
        );
    }
    app.wait_for_deliveries().await;
    assert_eq!(app.order(&order.number).await.status, "pending");
    assert_eq!(app.held("canvas-tote").await, 1);
    // The same session can still be paid with a good card.
    app.pay_ok(&session_url).await;
    app.wait_for_status(&order.number, "paid").await;
}

async fn three_ds(app: &TestApp, session_url: &str, action: &str) -> reqwest::Response {
    let res = app.pay(session_url, CARD_3DS).await;
    assert_eq!(res.status().as_u16(), 303);
    let challenge = location(&res);
    let challenge = if challenge.starts_with("http") {
        challenge
    } else {
        format!(
            "{}{}",
            app.emulator.as_str().trim_end_matches('/'),
            challenge
        )
    };
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(challenge)
        .form(&[("action", action)])
        .send()
        .await
        .unwrap()
}

#[actix_web::test]
async fn three_d_secure_approve_pays_and_fail_does_not() {
    let app = TestApp::spawn().await;
    app.add_to_cart("merino-beanie", 1).await;
    let session_url = app.checkout().await;
    let order = app.order_by_session(&session_id_of(&session_url)).await;
    let res = three_ds(&app, &session_url, "fail").await;
    assert!(
        !location(&res).contains("/checkout/success"),
        "a failed challenge does not pay"
    );
    app.wait_for_deliveries().await;
    assert_eq!(app.order(&order.number).await.status, "pending");

    let res = three_ds(&app, &session_url, "approve").await;
    assert!(
        location(&res).contains("/checkout/success"),
        "{}",
        location(&res)
    );
    app.wait_for_status(&order.number, "paid").await;
}

#[actix_web::test]
async fn a_double_click_on_checkout_opens_one_session() {
    let app = TestApp::spawn().await;
    app.add_to_cart("canvas-tote", 1).await;
    let (a, b) = tokio::join!(
        app.checkout_with(&app.client, "shopper@example.com"),
        app.checkout_with(&app.client, "shopper@example.com")
    );
    assert_eq!(a.status().as_u16(), 303);
    assert_eq!(b.status().as_u16(), 303);
    assert_eq!(
        location(&a),
        location(&b),
        "both clicks go to the same session"
    );
    let again = app.checkout().await;
    assert_eq!(again, location(&a));
    assert_eq!(app.all_orders().await.len(), 1);
    let sessions = app.emulator_get("v1/checkout/sessions?limit=100").await;
    assert_eq!(
        sessions["data"].as_array().unwrap().len(),
        1,
        "one session at Stripe"
    );
}

#[actix_web::test]
async fn a_changed_cart_expires_the_old_session_first() {
    let app = TestApp::spawn().await;
    app.add_to_cart("canvas-tote", 1).await;
    let first = app.checkout().await;
    app.add_to_cart("enamel-mug", 1).await;
    let second = app.checkout().await;
    assert_ne!(first, second);
    let old = app
        .emulator_get(&format!("v1/checkout/sessions/{}", session_id_of(&first)))
        .await;
    assert_eq!(old["status"], "expired");
    let orders = app.all_orders().await;
    assert_eq!(
        orders.iter().map(|o| o.status.as_str()).collect::<Vec<_>>(),
        vec!["expired", "pending"]
    );
    assert_eq!(
        app.held("canvas-tote").await,
        1,
        "only the new order holds stock"
    );
    // The old tab can no longer pay.
    assert_ne!(app.pay(&first, CARD_OK).await.status().as_u16(), 303);
}

#[actix_web::test]
async fn cancel_expires_the_session_releases_stock_and_keeps_the_cart() {
    let app = TestApp::spawn().await;
    app.add_to_cart("harbour-print", 1).await;
    let session_url = app.checkout().await;
    let order = app.order_by_session(&session_id_of(&session_url)).await;
    assert_eq!(app.held("harbour-print").await, 1);

    // Back from Stripe: a GET changes nothing (browsers and scanners prefetch links)…
    let cancel_page = format!("/checkout/cancel?order={}", order.number);
    let (status, html) = app.get_html(&cancel_page).await;
    assert_eq!(status, 200);
    assert!(html.contains("Back to cart"), "{html}");
    assert!(
        html.contains(&session_url),
        "the way back to the payment page"
    );
    assert_eq!(app.order(&order.number).await.status, "pending");
    assert_eq!(app.held("harbour-print").await, 1);
    // The unit its own checkout holds is not "sold out" to this cart.
    let cart = app.cart_html().await;
    assert!(!cart.contains("Sold out"), "{cart}");
    assert!(cart.contains("Check out"), "{cart}");
    // …its "Back to cart" button (a POST with the CSRF token) ends the checkout.
    let res = app
        .post_form("/checkout/cancel", &[("order", order.number.as_str())])
        .await;
    assert_eq!(res.status().as_u16(), 403, "no CSRF token, no cancel");
    assert_eq!(app.order(&order.number).await.status, "pending");
    let res = app
        .submit(
            &cancel_page,
            "/checkout/cancel",
            &[("order", order.number.as_str())],
        )
        .await;
    assert_redirect_to(&res, "/cart");
    let cart = app.cart_html().await;
    assert!(cart.contains("Checkout cancelled"), "{cart}");
    assert!(
        cart.contains("Limited print: Harbour at dawn"),
        "the cart is intact"
    );
    assert_eq!(app.order(&order.number).await.status, "expired");
    assert_eq!(app.held("harbour-print").await, 0);

    // Paying on the still-open tab is impossible: Stripe expired the session.
    let res = app.pay(&session_url, CARD_OK).await;
    assert_ne!(res.status().as_u16(), 303);
    app.wait_for_deliveries().await;
    assert_eq!(app.order(&order.number).await.status, "expired");
    assert_eq!(app.stock("harbour-print").await, Some(1));
}

#[actix_web::test]
async fn cancel_without_a_checkout_of_this_cart_goes_to_the_cart_with_a_note() {
    let app = TestApp::spawn().await;
    // Another shopper's checkout, open and holding stock.
    let other = app.new_browser();
    app.add_to_cart_with(&other, "harbour-print", "1").await;
    let res = app.checkout_with(&other, "").await;
    let theirs = app.order_by_session(&session_id_of(&location(&res))).await;
    app.add_to_cart("canvas-tote", 1).await;

    let someone_elses = format!("?order={}", theirs.number);
    for query in [
        "",
        "?order=",
        "?order=garbage%00",
        "?order=SF-XXXX-XXXX",
        "?order=SF-XXXX-XXXX&order=SF-YYYY-YYYY",
        someone_elses.as_str(),
    ] {
        let res = app.get(&format!("/checkout/cancel{query}")).await;
        assert_redirect_to(&res, "/cart");
        let cart = app.cart_html().await;
        assert!(
            cart.contains("There was no checkout to cancel"),
            "{query}: {cart}"
        );
        assert!(cart.contains("Canvas tote"), "{query}: the cart is intact");
    }
    // A browser without any session is sent to the (empty) cart too.
    let res = app
        .new_browser()
        .get(app.url(&format!("/checkout/cancel{someone_elses}")))
        .send()
        .await
        .unwrap();
    assert_redirect_to(&res, "/cart");
    // Nobody but its shopper cancels a checkout.
    assert_eq!(app.order(&theirs.number).await.status, "pending");
    assert_eq!(app.held("harbour-print").await, 1);
}

#[actix_web::test]
async fn the_last_unit_goes_to_one_of_two_concurrent_shoppers_and_comes_back_on_expiry() {
    let app = TestApp::spawn().await;
    let other = app.new_browser();
    let res = app.add_to_cart_with(&other, "harbour-print", "1").await;
    assert_eq!(res.status().as_u16(), 303);
    app.add_to_cart("harbour-print", 1).await;

    let (a, b) = tokio::join!(
        app.checkout_with(&app.client, "a@example.com"),
        app.checkout_with(&other, "b@example.com")
    );
    let statuses = [a.status().as_u16(), b.status().as_u16()];
    assert!(
        statuses.contains(&303) && statuses.contains(&409),
        "{statuses:?}"
    );
    let loser = if a.status() == 303 { b } else { a };
    let html = loser.text().await.unwrap();
    assert!(
        html.contains("sold out") || html.contains("Sold out"),
        "{html}"
    );
    let sessions = app.emulator_get("v1/checkout/sessions?limit=100").await;
    assert_eq!(
        sessions["data"].as_array().unwrap().len(),
        1,
        "one session created"
    );

    // Nobody pays; the session expires at Stripe and the unit is for sale again.
    app.emulator_post("_emulator/clock/advance", &[("seconds", "1900")])
        .await;
    let order = app.all_orders().await.remove(0);
    app.wait_for_status(&order.number, "expired").await;
    assert_eq!(app.held("harbour-print").await, 0);
    let (_, html) = app.get_html("/products/harbour-print").await;
    assert!(html.contains("Add to cart"));
}

#[actix_web::test]
async fn stripe_failures_give_the_cart_back_with_an_explanation() {
    let app = TestApp::spawn().await;
    app.add_to_cart("canvas-tote", 1).await;
    // (A 429 is not a failure the shopper sees: they wait in line, see `flash_sale`.)
    for status in ["500"] {
        app.emulator_post(
            "_emulator/faults",
            &[
                ("path", "/v1/checkout/sessions"),
                ("method", "POST"),
                ("status", status),
                ("count", "3"),
            ],
        )
        .await;
        let res = app.checkout_with(&app.client, "").await;
        assert_eq!(res.status().as_u16(), 503, "{status}");
        let html = res.text().await.unwrap();
        assert!(html.contains("try again"), "{status}: {html}");
        assert!(html.contains("Canvas tote bag"), "the cart is still shown");
    }
    // An unknown outcome keeps the order and its key: the next attempt reuses it, and Stripe's
    // idempotency returns one session.
    let orders = app.all_orders().await;
    assert_eq!(
        orders.iter().filter(|o| o.status == "pending").count(),
        1,
        "{:?}",
        orders.iter().map(|o| &o.status).collect::<Vec<_>>()
    );
    let res = app.checkout_with(&app.client, "").await;
    assert_eq!(res.status().as_u16(), 303);
    let url = location(&res);
    let pending = app
        .all_orders()
        .await
        .into_iter()
        .find(|o| o.status == "pending")
        .unwrap();
    assert_eq!(pending.checkout_url.as_deref(), Some(url.as_str()));
    let sessions = app.emulator_get("v1/checkout/sessions?limit=100").await;
    assert_eq!(sessions["data"].as_array().unwrap().len(), 1);
}

/// A shop that gives Stripe half a second, a cart of one tote, and a checkout whose session
/// call meets `fault` (a stall before or after Stripe makes the session): the shopper got 503.
async fn checkout_timing_out(fault: (&str, &str)) -> TestApp {
    let app = TestApp::spawn_with(&[("STRIPE_TIMEOUT", "0.5")]).await;
    app.add_to_cart("canvas-tote", 1).await;
    app.emulator_post(
        "_emulator/faults",
        &[("path", "/v1/checkout/sessions"), ("method", "POST"), fault],
    )
    .await;
    let res = app.checkout_with(&app.client, "").await;
    assert_eq!(res.status().as_u16(), 503);
    app
}

#[actix_web::test]
async fn a_stripe_timeout_keeps_the_order_and_its_key_so_the_retry_opens_one_session() {
    let app = checkout_timing_out(("stall_ms", "1500")).await;
    let orders = app.all_orders().await;
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0].status, "pending");
    let key = orders[0].idempotency_key.clone();
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let res = app.checkout_with(&app.client, "").await;
    assert_eq!(res.status().as_u16(), 303);
    let url = location(&res);
    let orders = app.all_orders().await;
    assert_eq!(orders.len(), 1, "the retry reused the order");
    assert_eq!(orders[0].idempotency_key, key);
    assert_eq!(orders[0].checkout_url.as_deref(), Some(url.as_str()));
    let sessions = app.emulator_get("v1/checkout/sessions?limit=100").await;
    assert_eq!(
        sessions["data"].as_array().unwrap().len(),
        1,
        "one session despite the timeout"
    );
}

#[actix_web::test]
async fn a_session_made_but_answered_too_late_is_the_one_the_retry_gets() {
    // Stripe makes the session, then its answer is lost to our timeout: the shopper sees
    // "try again", and the retry (same order, same key) gets that very session, not a second.
    let app = checkout_timing_out(("stall_after_ms", "1500")).await;
    let made = app.emulator_get("v1/checkout/sessions?limit=100").await;
    assert_eq!(made["data"].as_array().unwrap().len(), 1, "made at Stripe");
    assert_eq!(app.held("canvas-tote").await, 1, "the order keeps its hold");
    let res = app.checkout_with(&app.client, "").await;
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(location(&res), made["data"][0]["url"].as_str().unwrap());
    let sessions = app.emulator_get("v1/checkout/sessions?limit=100").await;
    assert_eq!(
        sessions["data"].as_array().unwrap().len(),
        1,
        "not made twice"
    );
    assert_eq!(app.all_orders().await.len(), 1);
}

#[actix_web::test]
async fn a_household_may_hold_twenty_open_checkouts_per_address_but_not_more() {
    let app = TestApp::spawn().await;
    for i in 0..20 {
        let browser = app.new_browser();
        app.add_to_cart_with(&browser, "canvas-tote", "1").await;
        let res = app.checkout_with(&browser, "").await;
        assert_eq!(res.status().as_u16(), 303, "checkout {i}");
    }
    let browser = app.new_browser();
    app.add_to_cart_with(&browser, "canvas-tote", "1").await;
    let res = app.checkout_with(&browser, "").await;
    assert_eq!(res.status().as_u16(), 429);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("20 checkouts open from your network")
    );
}

#[actix_web::test]
async fn the_success_page_never_shows_someone_elses_order() {
    let app = TestApp::spawn().await;
    app.add_to_cart("canvas-tote", 1).await;
    let session_url = app.checkout().await;
    let success = app.pay_ok(&session_url).await;
    let path = success.trim_start_matches(&app.address).to_owned();
    let stranger = app.new_browser();
    let res = stranger.get(app.url(&path)).send().await.unwrap();
    assert_eq!(res.status(), 404);
    for bad in [
        "/checkout/success",
        "/checkout/success?session_id=cs_test_nope",
        "/checkout/success?session_id=%00",
    ] {
        assert_eq!(app.get(bad).await.status(), 404, "{bad}");
    }
}

#[actix_web::test]
async fn missed_webhooks_are_caught_up_by_reconcile() {
    let app = TestApp::spawn().await;
    app.emulator_post("_emulator/webhooks", &[("drop", "100")])
        .await;
    app.add_to_cart("canvas-tote", 1).await;
    let session_url = app.checkout().await;
    let order = app.order_by_session(&session_id_of(&session_url)).await;
    app.pay_ok(&session_url).await;
    app.wait_for_deliveries().await;
    assert_eq!(
        app.order(&order.number).await.status,
        "pending",
        "no webhook arrived"
    );

    let report =
        storefront::reconcile::reconcile(&app.state, chrono::Utc::now().timestamp() - 3600)
            .await
            .unwrap();
    assert_eq!(report.processed.get("paid"), Some(&1), "{report}");
    assert_eq!(app.order(&order.number).await.status, "paid");
    assert_eq!(app.stock("canvas-tote").await, Some(39));
    let again = storefront::reconcile::reconcile(&app.state, chrono::Utc::now().timestamp() - 3600)
        .await
        .unwrap();
    assert_eq!(again.processed.values().sum::<usize>(), 0, "{again}");
    assert!(again.already_processed >= 1);
}

#[actix_web::test]
async fn the_sweep_releases_stock_of_sessions_stripe_shows_expired() {
    let app = TestApp::spawn().await;
    app.emulator_post("_emulator/webhooks", &[("drop", "100")])
        .await;
    app.add_to_cart("harbour-print", 1).await;
    let session_url = app.checkout().await;
    let order = app.order_by_session(&session_id_of(&session_url)).await;
    app.emulator_post("_emulator/clock/advance", &[("seconds", "1900")])
        .await;
    app.clock.advance(chrono::TimeDelta::minutes(32));
    let checked = storefront::jobs::sweep(&app.state).await.unwrap();
    assert_eq!(checked, 1);
    assert_eq!(app.order(&order.number).await.status, "expired");
    assert_eq!(app.held("harbour-print").await, 0);
}

/// A 409 means Stripe is still processing a request with the same key: whether it will create
/// the session is unknown, so the order keeps its stock and key, and the retry finds the session.
#[actix_web::test]
async fn a_stripe_409_is_an_unknown_outcome_not_a_refusal() {
    let app = TestApp::spawn().await;
    app.add_to_cart("harbour-print", 1).await;
    app.emulator_post(
        "_emulator/faults",
        &[
            ("path", "/v1/checkout/sessions"),
            ("method", "POST"),
            ("status", "409"),
            ("count", "3"),
        ],
    )
    .await;
    let res = app.checkout_with(&app.client, "").await;
    assert_eq!(res.status().as_u16(), 503);
    let html = res.text().await.unwrap();
    assert!(html.contains("be charged twice"), "{html}");
    let orders = app.all_orders().await;
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0].status, "pending", "the order is kept");
    assert_eq!(app.held("harbour-print").await, 1, "its stock stays held");
    let res = app.checkout_with(&app.client, "").await;
    assert_eq!(
        res.status().as_u16(),
        303,
        "{}",
        res.text().await.unwrap_or_default()
    );
    assert_eq!(
        app.all_orders().await.len(),
        1,
        "the retry reused the order"
    );
}
