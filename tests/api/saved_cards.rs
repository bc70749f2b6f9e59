//! Saved cards: a signed-in customer may save the card at Checkout, pays the next order with it
//! without typing it, and manages the saved cards under Account → Payment methods.

use crate::helpers::*;

const CARDS: &str = "/account/payment-methods";
const REMOVE: &str = "/account/payment-methods/remove";

const TYPED_CARD: [(&str, &str); 3] = [
    ("card_number", CARD_OK),
    ("card_expiry", "12 / 34"),
    ("card_cvc", "123"),
];

/// The card typed, with "Save my card for future purchases" ticked.
const SAVED_CARD: [(&str, &str); 4] = [
    ("card_number", CARD_OK),
    ("card_expiry", "12 / 34"),
    ("card_cvc", "123"),
    ("save_card", "on"),
];

/// Buys a tote as the signed-in browser: the session's page, then the paid order's number.
async fn buy(app: &TestApp, fields: &[(&str, &str)]) -> (String, String) {
    app.add_to_cart("canvas-tote", 1).await;
    let session_url = app.checkout().await;
    let page = plain_client()
        .get(&session_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let res = app.pay_with(&session_url, fields).await;
    assert_eq!(
        res.status().as_u16(),
        303,
        "payment: {}",
        res.text().await.unwrap_or_default()
    );
    let order = app.order_by_session(&session_id_of(&session_url)).await;
    app.wait_for_status(&order.number, "paid").await;
    (page, order.number)
}

/// The customer's payment methods at the emulator, as the API lists them.
async fn stripe_cards(app: &TestApp, customer: &str) -> Vec<serde_json::Value> {
    app.emulator_get(&format!("v1/customers/{customer}/payment_methods"))
        .await["data"]
        .as_array()
        .unwrap()
        .clone()
}

async fn customer_of(app: &TestApp, email: &str) -> String {
    app.user(email)
        .await
        .stripe_customer_id
        .expect("a Stripe Customer")
}

#[actix_web::test]
async fn a_returning_customer_pays_with_the_saved_card_and_removes_it() {
    let app = TestApp::spawn().await;
    app.register("returning@example.com").await;
    let (first_page, _) = buy(&app, &SAVED_CARD).await;
    assert_eq!(
        select_attr(&first_page, "#save_card", "name"),
        vec!["save_card"],
        "the first page offers to save the card"
    );
    assert!(select_attr(&first_page, "#saved_cards", "id").is_empty());

    let customer = customer_of(&app, "returning@example.com").await;
    let saved = stripe_cards(&app, &customer).await;
    assert_eq!(saved.len(), 1, "{saved:?}");
    assert_eq!(saved[0]["allow_redisplay"], "always");
    let pm = saved[0]["id"].as_str().unwrap().to_owned();

    // The next order: the saved card is offered, and paying names it instead of a number.
    let (second_page, number) = buy(&app, &[("saved_card", pm.as_str())]).await;
    let offered = select_attr(&second_page, "#saved_cards input[name=saved_card]", "value");
    assert_eq!(offered, vec![pm.clone(), "new".to_owned()]);
    assert!(
        select_text(&second_page, "#saved_cards")
            .join(" ")
            .contains("4242")
    );
    let order = app.order(&number).await;
    let intent = app
        .emulator_get(&format!(
            "v1/payment_intents/{}",
            order.payment_intent_id.as_deref().unwrap()
        ))
        .await;
    assert_eq!(
        intent["payment_method"],
        pm.as_str(),
        "charged the saved card"
    );
    assert_eq!(
        stripe_cards(&app, &customer).await.len(),
        1,
        "no second copy saved"
    );

    // Account → Payment methods lists it, and removes it.
    let (status, html) = app.get_html(CARDS).await;
    assert_eq!(status, 200);
    let labels = select_text(&html, "#cards .card-label");
    assert_eq!(labels, vec!["Visa ending in 4242"]);
    let res = app.submit(CARDS, REMOVE, &[("payment_method", &pm)]).await;
    assert_redirect_to(&res, CARDS);
    let (_, html) = app.get_html(CARDS).await;
    assert!(html.contains("Visa ending in 4242 removed."), "{html}");
    assert_eq!(select_attr(&html, "#no-cards", "id"), vec!["no-cards"]);
    assert!(stripe_cards(&app, &customer).await.is_empty());
    let pm_now = app.emulator_get(&format!("v1/payment_methods/{pm}")).await;
    assert!(pm_now["customer"].is_null(), "{pm_now}");

    // And the next page no longer offers it.
    app.add_to_cart("canvas-tote", 1).await;
    let session_url = app.checkout().await;
    let (_, page) = fetch_page(&plain_client(), session_url).await;
    assert!(select_attr(&page, "#saved_cards", "id").is_empty());
}

#[actix_web::test]
async fn a_card_paid_without_saving_is_not_kept() {
    let app = TestApp::spawn().await;
    app.register("once@example.com").await;
    buy(&app, &TYPED_CARD).await;
    let customer = customer_of(&app, "once@example.com").await;
    assert!(stripe_cards(&app, &customer).await.is_empty());
    let (status, html) = app.get_html(CARDS).await;
    assert_eq!(status, 200);
    assert_eq!(select_attr(&html, "#no-cards", "id"), vec!["no-cards"]);
}

#[actix_web::test]
async fn guests_are_not_offered_to_save_a_card() {
    let app = TestApp::spawn().await;
    app.add_to_cart("canvas-tote", 1).await;
    let session_url = app.checkout().await;
    let session = app
        .emulator_get(&format!(
            "v1/checkout/sessions/{}",
            session_id_of(&session_url)
        ))
        .await;
    assert!(
        session["saved_payment_method_options"].is_null(),
        "{session}"
    );
    let (_, page) = fetch_page(&plain_client(), session_url).await;
    assert!(select_attr(&page, "#save_card", "id").is_empty());
}

#[actix_web::test]
async fn another_customers_card_is_not_found_and_stays_attached() {
    let app = TestApp::spawn().await;
    app.register("owner@example.com").await;
    buy(&app, &SAVED_CARD).await;
    let owner = customer_of(&app, "owner@example.com").await;
    let pm = stripe_cards(&app, &owner).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Someone else, with no Stripe Customer yet, then with one.
    let other = app.new_browser();
    let res = app
        .register_with(&other, "other@example.com", PASSWORD, PASSWORD)
        .await;
    assert_redirect_to(&res, "/account");
    let try_remove = |id: String| {
        let other = other.clone();
        let app = &app;
        async move {
            let html = other
                .get(app.url(CARDS))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            other
                .post(app.url(REMOVE))
                .form(&[
                    ("csrf_token", csrf_token(&html).as_str()),
                    ("payment_method", id.as_str()),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(try_remove(pm.clone()).await.status().as_u16(), 404);
    app.add_to_cart_with(&other, "canvas-tote", "1").await;
    let res = app.checkout_with(&other, "").await;
    assert_eq!(res.status().as_u16(), 303);
    assert!(
        app.user("other@example.com")
            .await
            .stripe_customer_id
            .is_some()
    );
    for id in [pm.clone(), "pm_doesnotexist".into(), "../customers".into()] {
        let res = try_remove(id.clone()).await;
        assert_eq!(res.status().as_u16(), 404, "{id}");
    }
    let still = stripe_cards(&app, &owner).await;
    assert_eq!(still.len(), 1, "nothing was detached");
    assert_eq!(still[0]["id"], pm.as_str());

    // Without a CSRF token nothing happens either.
    let res = app
        .post_form(REMOVE, &[("payment_method", pm.as_str())])
        .await;
    assert_eq!(res.status().as_u16(), 403);
    assert_eq!(stripe_cards(&app, &owner).await.len(), 1);
}

#[actix_web::test]
async fn the_card_a_live_subscription_pays_with_is_not_removed() {
    let app = TestApp::spawn().await;
    app.register("subscriber@example.com").await;
    let html = app.get_html("/products/coffee-club").await.1;
    let action = select_attr(&html, ".plans form", "action").remove(0);
    let res = app.submit("/products/coffee-club", &action, &[]).await;
    let success = app.pay_ok(&location(&res)).await;
    let back = success.trim_start_matches(&app.address).to_owned();
    assert_eq!(app.get_html(&back).await.0, 200);

    let (status, html) = app.get_html(CARDS).await;
    assert_eq!(status, 200, "{html}");
    let listed = select_attr(&html, "#cards li", "id");
    assert_eq!(listed.len(), 1, "the subscription's card is listed: {html}");
    let pm = listed[0].trim_start_matches("card-").to_owned();
    assert!(html.contains("Pays for your subscription"), "{html}");
    assert!(html.contains("Default"), "{html}");
    // Instead of "Remove", the way to change it.
    assert!(select_attr(&html, "#cards input[name=payment_method]", "value").is_empty());
    assert_eq!(
        select_attr(&html, "#cards form", "action"),
        vec!["/account/billing-portal"]
    );

    // A removal posted anyway is refused.
    let res = app
        .post_form(
            REMOVE,
            &[
                ("csrf_token", csrf_token(&html).as_str()),
                ("payment_method", pm.as_str()),
            ],
        )
        .await;
    assert_eq!(res.status().as_u16(), 409);
    let html = res.text().await.unwrap();
    let refusal = select_text(&html, "#card-refusal").join(" ");
    assert!(refusal.contains("pays for a subscription"), "{refusal}");
    assert_eq!(
        select_attr(&html, "#card-refusal form", "action"),
        vec!["/account/billing-portal"]
    );
    let customer = customer_of(&app, "subscriber@example.com").await;
    assert_eq!(
        stripe_cards(&app, &customer).await.len(),
        1,
        "still attached"
    );
}

#[actix_web::test]
async fn the_page_says_so_when_stripe_cannot_list_the_cards() {
    let app = TestApp::spawn().await;
    app.register("outage@example.com").await;
    buy(&app, &TYPED_CARD).await;
    let customer = customer_of(&app, "outage@example.com").await;
    app.emulator_post(
        "_emulator/faults",
        &[
            ("path", &format!("/v1/customers/{customer}/payment_methods")),
            ("method", "GET"),
            ("status", "500"),
            ("count", "3"),
        ],
    )
    .await;
    let (status, html) = app.get_html(CARDS).await;
    assert_eq!(status, 503);
    assert_eq!(
        select_attr(&html, "#cards-unavailable", "id"),
        vec!["cards-unavailable"]
    );
    assert!(
        select_attr(&html, "#no-cards", "id").is_empty(),
        "not 'no cards'"
    );
}
