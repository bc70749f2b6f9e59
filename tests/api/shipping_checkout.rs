//! What Checkout asks about shipping, and what the order keeps: the address, the rate chosen
//! and its tax, checked against the options the order offered.

use serde_json::Value;

use crate::helpers::*;

/// Stores the shipping address and `rate` on the hosted page (the totals follow), then pays
/// with the same fields; returns the page shown after the update.
async fn ship_and_pay(session_url: &str, address: &[(&str, &str)], rate: Option<&str>) -> String {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(REQUEST_TIMEOUT)
        .build()
        .unwrap();
    let mut fields: Vec<(&str, &str)> = vec![("email", "shopper@example.com")];
    fields.extend_from_slice(address);
    if let Some(r) = rate {
        fields.push(("shipping_rate", r));
    }
    let mut update = fields.clone();
    update.push(("action", "update_address"));
    let res = client.post(session_url).form(&update).send().await.unwrap();
    let (status, page) = (res.status().as_u16(), res.text().await.unwrap());
    assert_eq!(status, 200, "{page}");
    fields.extend([
        ("method", "card"),
        ("card_number", CARD_OK),
        ("card_expiry", "12 / 34"),
        ("card_cvc", "123"),
    ]);
    let res = client.post(session_url).form(&fields).send().await.unwrap();
    assert_eq!(
        res.status().as_u16(),
        303,
        "payment: {}",
        res.text().await.unwrap()
    );
    page
}

async fn session(app: &TestApp, session_url: &str) -> Value {
    app.emulator_get(&format!(
        "v1/checkout/sessions/{}?expand[]=shipping_options.shipping_rate",
        session_id_of(session_url)
    ))
    .await
}

/// The id of the session's option named `name`.
fn rate_id(session: &Value, name: &str) -> String {
    session["shipping_options"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["shipping_rate"]["display_name"] == name)
        .unwrap_or_else(|| panic!("no option {name}: {session}"))["shipping_rate"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn amounts(session: &Value) -> Vec<i64> {
    session["shipping_options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["shipping_amount"].as_i64().unwrap())
        .collect()
}

/// The text of the one paid receipt in the outbox.
async fn receipt(app: &TestApp) -> String {
    let mails = app.outbox().await;
    let paid: Vec<_> = mails.iter().filter(|m| m.kind == "receipt_paid").collect();
    assert_eq!(paid.len(), 1);
    paid[0].body_text.clone()
}

#[actix_web::test]
async fn a_physical_purchase_keeps_the_address_and_the_rate_chosen_and_charges_it() {
    let app = TestApp::spawn_with(&[(SHIPPING_RATES, "on")]).await;
    app.register_customer("shopper@example.com").await;
    app.add_to_cart("canvas-tote", 1).await;
    // The cart says what shipping will cost before checkout.
    let cart = app.cart_html().await;
    assert_eq!(
        select_text(&cart, "#shipping-rates li"),
        vec![
            "Standard shipping: $5.00 (3–5 business days), free from $50.00",
            "Express shipping: $15.00 (1–2 business days)"
        ]
    );
    assert!(cart.contains("id=\"free-shipping-note\""));

    let session_url = app.checkout().await;
    let s = session(&app, &session_url).await;
    assert_eq!(
        s["shipping_address_collection"]["allowed_countries"],
        serde_json::json!(["US", "CA", "GB", "DE", "FR", "NL", "AU"])
    );
    assert_eq!(amounts(&s), vec![500, 1500]);
    assert_eq!(
        s["shipping_options"][0]["shipping_rate"]["metadata"]["rate_key"],
        "standard"
    );
    // Tax is off: the rates say nothing about it.
    assert_eq!(
        s["shipping_options"][0]["shipping_rate"]["tax_code"],
        Value::Null
    );
    let express = rate_id(&s, "Express shipping");

    let page = ship_and_pay(&session_url, &SHIP_TO_NEW_YORK, Some(&express)).await;
    assert_eq!(select_text(&page, "#shipping"), vec!["$15.00"]);
    assert_eq!(select_text(&page, "#total"), vec!["$33.00"]);
    let number = app
        .order_by_session(&session_id_of(&session_url))
        .await
        .number;
    app.wait_for_status(&number, "paid").await;
    app.wait_for_deliveries().await;
    let order = app.order(&number).await;
    assert_eq!((order.amount_shipping, order.amount_total), (1500, 3300));
    assert!(order.flagged.is_none());
    assert!(
        receipt(&app)
            .await
            .contains("We'll let you know when your order ships.")
    );

    // The admin sees where it goes and how; the customer too; the queue names the recipient.
    let admin = app.admin_browser().await;
    let page = fetch_page(&admin, app.url(&format!("/admin/orders/{number}")))
        .await
        .1;
    assert_eq!(
        select_text(&page, "#ship-to"),
        vec!["Ada Lovelace350 Fifth Avenue10118 New York NYUS"]
    );
    assert_eq!(
        select_text(&page, "#ship-rate"),
        vec!["Express shipping ($15.00)"]
    );
    assert_eq!(select_text(&page, "#order-shipping"), vec!["$15.00"]);
    let queue = fetch_page(&admin, app.url("/admin/shipping")).await.1;
    assert!(queue.contains("Ada Lovelace, New York, US"), "{queue}");
    let slip = fetch_page(
        &admin,
        app.url(&format!("/admin/orders/{number}/packing-slip")),
    )
    .await
    .1;
    assert!(select_text(&slip, "#slip-address")[0].starts_with("Ada Lovelace350 Fifth Avenue"));
    let mine = fetch_page(&app.client, app.url(&format!("/account/orders/{number}")))
        .await
        .1;
    assert_eq!(
        select_text(&mine, "#ship-rate"),
        vec!["Shipping method: Express shipping"]
    );
    assert!(select_text(&mine, "#ship-to")[0].starts_with("Ada Lovelace"));
    // A one-off parcel's address is not kept on the customer's Stripe Customer (a gift must not
    // become where their subscription ships).
    let user = app.user("shopper@example.com").await;
    let customer = user
        .stripe_customer_id
        .expect("a signed-in buyer has a Customer");
    let kept = app.emulator_get(&format!("v1/customers/{customer}")).await;
    assert_eq!(kept["shipping"], Value::Null, "{kept}");
}

#[actix_web::test]
async fn free_shipping_is_decided_on_the_subtotal_before_a_code_and_a_code_keeps_it() {
    let app = TestApp::spawn_with(&[(SHIPPING_RATES, "on")]).await;
    app.coupon_with_code("SPRING20", &[("percent_off", "20"), ("duration", "once")])
        .await;
    app.add_to_cart("canvas-tote", 3).await;
    let session_url = app.checkout().await;
    assert_eq!(amounts(&session(&app, &session_url).await), vec![0, 1500]);
    // $54.00 less 20 %: $43.20, under the threshold, and shipping stays free.
    let (status, _) = apply_promotion_code(&session_url, "SPRING20").await;
    assert_eq!(status, 200);
    let page = ship_and_pay(&session_url, &SHIP_TO_NEW_YORK, None).await;
    assert_eq!(select_text(&page, "#shipping"), vec!["Free"]);
    let number = app
        .order_by_session(&session_id_of(&session_url))
        .await
        .number;
    app.wait_for_status(&number, "paid").await;
    let order = app.order(&number).await;
    assert_eq!((order.amount_shipping, order.amount_total), (0, 4320));
    assert!(order.flagged.is_none());
}

#[actix_web::test]
async fn with_tax_on_shipping_is_taxed_as_shipping_and_the_order_adds_it_up() {
    let app = TestApp::spawn_with(&[(SHIPPING_RATES, "on"), ("STRIPE_TAX", "on")]).await;
    app.add_to_cart("canvas-tote", 1).await;
    let session_url = app.checkout().await;
    let s = session(&app, &session_url).await;
    let rate = &s["shipping_options"][0]["shipping_rate"];
    assert_eq!(rate["tax_behavior"], "exclusive");
    assert_eq!(rate["tax_code"], "txcd_92010001");
    let berlin = [
        ("shipping_name", "Ada Lovelace"),
        ("shipping_line1", "Unter den Linden 1"),
        ("shipping_city", "Berlin"),
        ("shipping_postal_code", "10117"),
        ("shipping_country", "DE"),
    ];
    let page = ship_and_pay(&session_url, &berlin, None).await;
    // $18.00 + $5.00, and 19 % of both on top: $3.42 + $0.95.
    assert_eq!(select_text(&page, "#total"), vec!["$27.37"]);
    let number = app
        .order_by_session(&session_id_of(&session_url))
        .await
        .number;
    app.wait_for_status(&number, "paid").await;
    let order = app.order(&number).await;
    assert!(order.flagged.is_none(), "{:?}", order.flagged);
    assert_eq!(
        (
            order.amount_shipping,
            order.amount_tax_exclusive,
            order.amount_total
        ),
        (500, 437, 2737)
    );
    let (tax, shipping) = storefront::db::run(&app.pool, move |conn| {
        use diesel::prelude::*;
        use storefront::schema::{order_items, order_shipping};
        let tax: i64 = order_items::table
            .select(order_items::amount_tax)
            .first(conn)?;
        let shipping: i64 = order_shipping::table
            .select(order_shipping::amount_tax)
            .first(conn)?;
        Ok::<_, storefront::db::DbError>((tax, shipping))
    })
    .await
    .unwrap();
    assert_eq!((tax, shipping), (342, 95), "the line's tax and shipping's");
}

#[actix_web::test]
async fn a_session_charging_shipping_the_order_did_not_offer_is_flagged() {
    let app = TestApp::spawn_with(&[(SHIPPING_RATES, "on")]).await;
    app.add_to_cart("canvas-tote", 1).await;
    let order = app.order_without_session().await;
    let product = app.stripe_product_of("canvas-tote").await;
    // Our number, product and amount, but a shipping rate of its own.
    let forged = app
        .emulator_post(
            "v1/checkout/sessions",
            &[
                ("mode", "payment"),
                ("line_items[0][price_data][currency]", "usd"),
                ("line_items[0][price_data][unit_amount]", "1800"),
                ("line_items[0][price_data][product]", product.as_str()),
                ("line_items[0][quantity]", "1"),
                ("client_reference_id", order.number.as_str()),
                ("success_url", "http://127.0.0.1/ok"),
                ("shipping_address_collection[allowed_countries][0]", "US"),
                (
                    "shipping_options[0][shipping_rate_data][display_name]",
                    "Standard shipping",
                ),
                (
                    "shipping_options[0][shipping_rate_data][type]",
                    "fixed_amount",
                ),
                (
                    "shipping_options[0][shipping_rate_data][fixed_amount][amount]",
                    "4000",
                ),
                (
                    "shipping_options[0][shipping_rate_data][fixed_amount][currency]",
                    "usd",
                ),
            ],
        )
        .await;
    let url = forged["url"].as_str().unwrap().to_owned();
    ship_and_pay(&url, &SHIP_TO_NEW_YORK, None).await;
    app.wait_for_deliveries().await;
    let order = app.order(&order.number).await;
    assert_ne!(order.status, "paid");
    let flagged = order.flagged.unwrap_or_default();
    assert!(
        flagged.contains("not one the order offered") || flagged.contains("offered it for"),
        "{flagged}"
    );
}

#[actix_web::test]
async fn a_digital_only_cart_asks_for_no_address_and_has_nothing_to_ship() {
    let app = TestApp::spawn_with(&[(SHIPPING_RATES, "on")]).await;
    let file = storefront::catalog::seed::DEMO_CATALOG.to_owned()
        + r#"
[[products]]
slug = "city-map-pdf"
name = "City map (PDF)"
kind = "digital"
prices = [{ key = "city-map-pdf", unit_amount = 900 }]
"#;
    app.seed_catalogue(&file).await;
    app.add_to_cart("city-map-pdf", 1).await;
    assert!(!app.cart_html().await.contains("id=\"shipping-rates\""));
    let session_url = app.checkout().await;
    let s = session(&app, &session_url).await;
    assert_eq!(s["shipping_address_collection"], Value::Null);
    assert_eq!(amounts(&s), Vec::<i64>::new());
    app.pay_ok(&session_url).await;
    let number = app
        .order_by_session(&session_id_of(&session_url))
        .await
        .number;
    app.wait_for_status(&number, "paid").await;
    let order = app.order(&number).await;
    assert_eq!(order.fulfilment_status, "not_required");
    assert_eq!(order.amount_total, 900);
    app.wait_for_deliveries().await;
    let text = receipt(&app).await;
    assert!(
        text.contains("Nothing to ship") && !text.contains("ships"),
        "{text}"
    );
    let admin = app.admin_browser().await;
    let page = fetch_page(&admin, app.url(&format!("/admin/orders/{number}")))
        .await
        .1;
    assert!(!page.contains("id=\"fulfilment\""), "no shipping section");
    let queue = fetch_page(&admin, app.url("/admin/shipping")).await.1;
    assert!(queue.contains("id=\"queue-empty\""));
}

#[actix_web::test]
async fn ship_to_limits_the_countries_and_collect_phone_asks_for_a_phone() {
    let app = TestApp::spawn_with(&[("SHIP_TO", "gb,de"), ("COLLECT_PHONE", "on")]).await;
    app.add_to_cart("canvas-tote", 1).await;
    let session_url = app.checkout().await;
    let s = session(&app, &session_url).await;
    assert_eq!(
        s["shipping_address_collection"]["allowed_countries"],
        serde_json::json!(["GB", "DE"])
    );
    assert_eq!(s["phone_number_collection"]["enabled"], true);
    // No rates in the catalogue: the address is asked, shipping is free.
    assert_eq!(amounts(&s), Vec::<i64>::new());
}
