//! Subscriptions: subscribe, manage, renewals and failures, sync from webhooks.

use crate::helpers::*;

async fn subscribe(app: &TestApp, plan: &str) -> String {
    let html = app.get_html("/products/coffee-club").await.1;
    let forms = select_attr(&html, ".plans form", "action");
    let action = if plan == "monthly" {
        &forms[0]
    } else {
        &forms[1]
    };
    let res = app.submit("/products/coffee-club", action, &[]).await;
    assert_eq!(
        res.status().as_u16(),
        303,
        "{}",
        res.text().await.unwrap_or_default()
    );
    let session_url = location(&res);
    assert!(
        session_url.starts_with(app.emulator.as_str()),
        "{session_url}"
    );
    let success = app.pay_ok(&session_url).await;
    assert!(
        success.contains("/account/subscriptions?session_id=cs_"),
        "{success}"
    );
    let back = success.trim_start_matches(&app.address).to_owned();
    // The browser lands there; that page syncs the new subscription without waiting for webhooks.
    let (status, _) = app.get_html(&back).await;
    assert_eq!(status, 200);
    back
}

async fn subscriptions_page(app: &TestApp) -> String {
    let (status, html) = app.get_html("/account/subscriptions").await;
    assert_eq!(status, 200);
    html
}

async fn subscription_orders(app: &TestApp) -> Vec<storefront::orders::model::Order> {
    app.all_orders()
        .await
        .into_iter()
        .filter(|o| o.kind == "subscription")
        .collect()
}

#[actix_web::test]
async fn guests_are_sent_to_sign_in_and_back() {
    let app = TestApp::spawn().await;
    let html = app.get_html("/products/coffee-club").await.1;
    let action = select_attr(&html, ".plans form", "action").remove(0);
    let res = app.submit("/products/coffee-club", &action, &[]).await;
    assert_redirect_to(&res, "/account/login?next=%2Fproducts%2Fcoffee-club");
}

#[actix_web::test]
async fn subscribe_switch_cancel_resume_renew_and_end() {
    let app = TestApp::spawn().await;
    app.register("sub@example.com").await;
    let back = subscribe(&app, "monthly").await;
    let html = app.get_html(&back).await.1;
    assert_eq!(
        select_text(&html, ".subscription h3"),
        vec!["Coffee club subscription"]
    );
    assert!(
        select_text(&html, ".subscription")
            .join(" ")
            .contains("$15.00 / month")
    );
    assert!(
        select_text(&html, ".status").contains(&"Active".to_owned()),
        "{html}"
    );
    assert!(html.contains("Renews on"));
    app.wait_for_deliveries().await;
    assert_eq!(
        subscription_orders(&app).await.len(),
        1,
        "the first invoice is an order"
    );
    let first = &subscription_orders(&app).await[0];
    assert_eq!((first.amount_total, first.status.as_str()), (1500, "paid"));
    let account = app.get_html("/account").await.1;
    assert!(account.contains(&first.number) && account.contains("Subscription"));

    // Switch to yearly (prorated).
    let html = subscriptions_page(&app).await;
    let id = select_attr(&html, ".subscription", "aria-labelledby")
        .remove(0)
        .trim_start_matches("sub-")
        .to_owned();
    let yearly = select_attr(
        &html,
        &format!("form[action='/account/subscriptions/{id}/change'] input[name=price_id]"),
        "value",
    )
    .remove(0);
    let res = app
        .submit(
            "/account/subscriptions",
            &format!("/account/subscriptions/{id}/change"),
            &[("price_id", &yearly)],
        )
        .await;
    assert_redirect_to(&res, "/account/subscriptions");
    let html = subscriptions_page(&app).await;
    assert!(html.contains("Switched to $150.00 / year"), "flash");
    assert!(
        select_text(&html, ".subscription")
            .join(" ")
            .contains("$150.00 / year")
    );

    // Cancel at period end, then resume.
    let res = app
        .submit(
            "/account/subscriptions",
            &format!("/account/subscriptions/{id}/cancel"),
            &[],
        )
        .await;
    assert_redirect_to(&res, "/account/subscriptions");
    let html = subscriptions_page(&app).await;
    assert!(html.contains("It stays active until"), "{html}");
    assert!(html.contains("Ends on"));
    let res = app
        .submit(
            "/account/subscriptions",
            &format!("/account/subscriptions/{id}/resume"),
            &[],
        )
        .await;
    assert_redirect_to(&res, "/account/subscriptions");
    let html = subscriptions_page(&app).await;
    assert!(html.contains("Renews on"));

    // A year later: a renewal.
    app.emulator_post(
        "_emulator/clock/advance",
        &[("seconds", &(366 * 86_400).to_string())],
    )
    .await;
    app.wait_for_deliveries().await;
    let orders = subscription_orders(&app).await;
    assert_eq!(orders.len(), 3, "{orders:?}");
    assert!(orders.iter().all(|o| o.status == "paid"));

    // Cancel at period end and let it run out.
    app.submit(
        "/account/subscriptions",
        &format!("/account/subscriptions/{id}/cancel"),
        &[],
    )
    .await;
    app.emulator_post(
        "_emulator/clock/advance",
        &[("seconds", &(366 * 86_400).to_string())],
    )
    .await;
    app.wait_for_deliveries().await;
    let html = subscriptions_page(&app).await;
    assert!(
        select_text(&html, ".status").contains(&"Ended".to_owned()),
        "{html}"
    );
    assert!(html.contains("Ended on"));
    assert!(
        !html.contains("Cancel at period end"),
        "no actions on an ended subscription"
    );
    assert_eq!(
        subscription_orders(&app).await.len(),
        3,
        "no charge after the end"
    );
}

/// Follows "Manage billing" into the emulator's portal and updates the card there.
async fn update_card_in_portal(app: &TestApp, card: &str) {
    let res = app
        .submit("/account/subscriptions", "/account/billing-portal", &[])
        .await;
    assert_eq!(res.status(), 303);
    let portal = location(&res);
    assert!(portal.starts_with(app.emulator.as_str()), "{portal}");
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{portal}/card"))
        .form(&[
            ("card_number", card),
            ("card_expiry", "12 / 34"),
            ("card_cvc", "123"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        303,
        "{}",
        res.text().await.unwrap_or_default()
    );
}

#[actix_web::test]
async fn a_failed_renewal_asks_for_a_new_card_and_recovers_when_it_is_updated() {
    let app = TestApp::spawn().await;
    app.register("late@example.com").await;
    subscribe(&app, "monthly").await;
    app.wait_for_deliveries().await;
    update_card_in_portal(&app, "4000000000000341").await;
    app.emulator_post(
        "_emulator/clock/advance",
        &[("seconds", &(32 * 86_400).to_string())],
    )
    .await;
    app.wait_for_deliveries().await;
    let html = subscriptions_page(&app).await;
    assert!(
        html.contains("Payment failed — update your card."),
        "{html}"
    );
    assert!(
        select_attr(&html, ".flash-error form", "action")
            .contains(&"/account/billing-portal".to_owned())
    );
    assert_eq!(
        subscription_orders(&app).await.len(),
        1,
        "the failed renewal is not an order"
    );

    update_card_in_portal(&app, CARD_OK).await;
    app.wait_for_deliveries().await;
    let html = subscriptions_page(&app).await;
    assert!(!html.contains("Payment failed"), "{html}");
    assert!(select_text(&html, ".status").contains(&"Active".to_owned()));
    assert_eq!(
        subscription_orders(&app).await.len(),
        2,
        "the retried invoice is paid"
    );
}

#[actix_web::test]
async fn subscription_events_out_of_order_and_duplicated_end_right() {
    let app = TestApp::spawn().await;
    app.emulator_post(
        "_emulator/webhooks",
        &[("hold", "true"), ("reverse", "true"), ("duplicate", "50")],
    )
    .await;
    app.register("order@example.com").await;
    let back = subscribe(&app, "monthly").await;
    let _ = back;
    let html = subscriptions_page(&app).await;
    let id = select_attr(&html, ".subscription", "aria-labelledby")
        .remove(0)
        .trim_start_matches("sub-")
        .to_owned();
    app.submit(
        "/account/subscriptions",
        &format!("/account/subscriptions/{id}/cancel"),
        &[],
    )
    .await;
    app.emulator_post("_emulator/webhooks/release", &[]).await;
    app.wait_for_deliveries().await;
    let html = subscriptions_page(&app).await;
    assert!(
        html.contains("Ends on"),
        "cancel_at_period_end survives older events arriving last: {html}"
    );
    assert_eq!(
        subscription_orders(&app).await.len(),
        1,
        "one order for the first invoice despite duplicates"
    );
}

#[actix_web::test]
async fn nobody_touches_another_customers_subscription() {
    let app = TestApp::spawn().await;
    app.register("owner@example.com").await;
    subscribe(&app, "monthly").await;
    let html = subscriptions_page(&app).await;
    let id = select_attr(&html, ".subscription", "aria-labelledby")
        .remove(0)
        .trim_start_matches("sub-")
        .to_owned();

    let other = app.new_browser();
    app.register_with(&other, "intruder@example.com", PASSWORD, PASSWORD)
        .await;
    let page = other
        .get(app.url("/account/subscriptions"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("Coffee club"), "not listed for someone else");
    let token = csrf_token(&page);
    for action in ["cancel", "resume", "change"] {
        let res = other
            .post(app.url(&format!("/account/subscriptions/{id}/{action}")))
            .form(&[("csrf_token", token.as_str()), ("price_id", "1")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{action}");
    }
    let guest = app.new_browser();
    assert_eq!(
        guest
            .get(app.url("/account/subscriptions"))
            .send()
            .await
            .unwrap()
            .status(),
        303
    );
    let res = app
        .post_form(
            &format!("/account/subscriptions/{id}/cancel"),
            &[("csrf_token", "forged")],
        )
        .await;
    assert_eq!(res.status(), 403);
    assert!(
        subscriptions_page(&app).await.contains("Renews on"),
        "untouched"
    );
}

#[actix_web::test]
async fn stripe_setup_creates_the_endpoint_catalogue_and_portal_configuration() {
    let app = TestApp::spawn().await;
    // An address with no endpoint yet (the demo registers its own, already pinned: see the
    // doctor's tests).
    let url = format!("{}/webhooks/stripe-elsewhere", app.address);
    let report = storefront::stripe_setup::run(&app.state, &url)
        .await
        .unwrap();
    assert!(
        report
            .new_secret
            .as_deref()
            .is_some_and(|s| s.starts_with("whsec_"))
    );
    assert!(
        report.products_created >= 9 && report.prices_created >= 10,
        "{report:?}"
    );
    assert!(
        report.portal_configuration.starts_with("bpc_"),
        "{report:?}"
    );
    // Customers keep their shipping address (where the coffee goes) current in the portal.
    let portal = app
        .emulator_get(&format!(
            "v1/billing_portal/configurations/{}",
            report.portal_configuration
        ))
        .await;
    assert_eq!(
        portal["features"]["customer_update"]["enabled"], true,
        "{portal}"
    );
    assert_eq!(
        portal["features"]["customer_update"]["allowed_updates"],
        serde_json::json!(["shipping", "address"])
    );
    let endpoints = app.emulator_get("v1/webhook_endpoints").await;
    let ours = endpoints["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["url"] == url.as_str())
        .unwrap()
        .clone();
    assert_eq!(ours["api_version"], "2026-09-30.endive");
    assert!(
        ours["enabled_events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "checkout.session.completed")
    );

    // A second run changes nothing and shows no secret.
    let again = storefront::stripe_setup::run(&app.state, &url)
        .await
        .unwrap();
    assert_eq!((again.products_created, again.prices_created), (0, 0));
    assert!(again.new_secret.is_none());
    assert_eq!(again.endpoint_id, report.endpoint_id);
    assert_eq!(again.portal_configuration, report.portal_configuration);
}

/// The subscribe buttons' form actions: (monthly, yearly).
async fn plan_actions(app: &TestApp) -> (String, String) {
    let html = app.get_html("/products/coffee-club").await.1;
    let forms = select_attr(&html, ".plans form", "action");
    (forms[0].clone(), forms[1].clone())
}

async fn click(app: &TestApp, action: &str) -> reqwest::Response {
    app.submit("/products/coffee-club", action, &[]).await
}

fn emulator_session_id(url: &str) -> String {
    url.rsplit('/').next().unwrap().to_owned()
}

#[actix_web::test]
async fn two_tabs_get_one_subscription_checkout_and_another_plan_expires_the_open_one() {
    let app = TestApp::spawn().await;
    app.register("tabs@example.com").await;
    let (monthly, yearly) = plan_actions(&app).await;

    // Two clicks, an hour apart: the same open session (the old 10-minute key gave two).
    let first = location(&click(&app, &monthly).await);
    app.clock.advance(chrono::TimeDelta::minutes(20));
    let second = location(&click(&app, &monthly).await);
    assert_eq!(first, second);

    // The other plan: a new session, and the open one can no longer be paid.
    let other = location(&click(&app, &yearly).await);
    assert_ne!(other, first);
    let sessions = app.emulator_get("v1/checkout/sessions?limit=100").await;
    let statuses: Vec<(String, String)> = sessions["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_owned(),
                s["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(statuses.len(), 2, "{statuses:?}");
    assert!(statuses.contains(&(emulator_session_id(&first), "expired".into())));
    assert_ne!(app.pay(&first, CARD_OK).await.status().as_u16(), 303);

    // Paid: a click in a stale tab refuses a second subscription.
    let success = app.pay_ok(&other).await;
    app.get_html(success.trim_start_matches(&app.address)).await;
    let res = click(&app, &monthly).await;
    assert_redirect_to(&res, "/account/subscriptions");
    let html = subscriptions_page(&app).await;
    assert!(
        html.contains("You already have this subscription"),
        "{html}"
    );
    app.wait_for_deliveries().await;
    assert_eq!(subscription_orders(&app).await.len(), 1);
}

#[actix_web::test]
async fn a_second_live_subscription_made_elsewhere_is_flagged_for_an_admin() {
    let app = TestApp::spawn().await;
    app.register("twice@example.com").await;
    subscribe(&app, "monthly").await;
    app.wait_for_deliveries().await;
    // A session opened outside the shop's rule (another integration, the Dashboard…).
    let user = app.user("twice@example.com").await;
    let customer = user.stripe_customer_id.unwrap();
    let price = app.emulator_get("v1/prices?limit=100").await["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["recurring"]["interval"] == "month")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let session = app
        .emulator_post(
            "v1/checkout/sessions",
            &[
                ("mode", "subscription"),
                ("customer", &customer),
                ("line_items[0][price]", &price),
                ("line_items[0][quantity]", "1"),
                ("success_url", "http://127.0.0.1/done"),
            ],
        )
        .await;
    let res = app.pay(session["url"].as_str().unwrap(), CARD_OK).await;
    assert_eq!(res.status().as_u16(), 303);
    app.wait_for_deliveries().await;

    let admin = app.new_browser();
    crate::mail::make_admin(&app, "boss@example.com").await;
    app.login_with(&admin, "boss@example.com", PASSWORD).await;
    let res = admin.get(app.url("/admin/dashboard")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let html = res.text().await.unwrap();
    let flagged = select_text(&html, "#flagged-subscriptions tbody tr");
    assert_eq!(flagged.len(), 1, "{html}");
    assert!(
        flagged[0].contains("second live subscription"),
        "{flagged:?}"
    );
}

#[actix_web::test]
async fn a_coffee_club_period_ships_to_the_address_the_customer_keeps_at_stripe() {
    let app = TestApp::spawn().await;
    app.register("beans@example.com").await;
    let back = subscribe(&app, "monthly").await;
    let session_id = back.rsplit('=').next().unwrap().to_owned();
    let session = app
        .emulator_get(&format!("v1/checkout/sessions/{session_id}"))
        .await;
    assert!(
        session["shipping_address_collection"]["allowed_countries"]
            .as_array()
            .is_some_and(|c| !c.is_empty()),
        "the subscription's Checkout asks where the coffee goes: {session}"
    );
    assert_eq!(session["shipping_options"], serde_json::json!([]));
    app.wait_for_deliveries().await;
    let user = app.user("beans@example.com").await;
    let customer = user.stripe_customer_id.unwrap();
    let kept = app.emulator_get(&format!("v1/customers/{customer}")).await;
    assert_eq!(kept["shipping"]["address"]["city"], "New York", "{kept}");

    // The customer moves (in the Billing Portal); the next period ships to the new address.
    app.emulator_post(
        &format!("v1/customers/{customer}"),
        &[
            ("shipping[name]", "Ada Lovelace"),
            ("shipping[address][line1]", "1 Infinite Loop"),
            ("shipping[address][city]", "Cupertino"),
            ("shipping[address][state]", "CA"),
            ("shipping[address][postal_code]", "95014"),
            ("shipping[address][country]", "US"),
        ],
    )
    .await;
    app.emulator_post(
        "_emulator/clock/advance",
        &[("seconds", &(32 * 86_400).to_string())],
    )
    .await;
    app.wait_for_deliveries().await;
    let orders = subscription_orders(&app).await;
    assert_eq!(orders.len(), 2);
    let cities = storefront::db::run(&app.pool, |conn| {
        use diesel::prelude::*;
        use storefront::schema::order_shipping;
        order_shipping::table
            .order(order_shipping::order_id.asc())
            .select(order_shipping::city.assume_not_null())
            .load::<String>(conn)
            .map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap();
    assert_eq!(cities, vec!["New York", "Cupertino"]);
    // Each period is a parcel to send.
    assert!(orders.iter().all(|o| o.fulfilment_status == "unfulfilled"));
    let admin = app.admin_browser().await;
    let queue = admin
        .get(app.url("/admin/shipping"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        queue.contains("Cupertino, US") && queue.contains("New York, US"),
        "{queue}"
    );
}
