//! Saved payment methods: Checkout's "save my card" box and saved cards offered to the same
//! customer, the payment method routes the SDKs call, and detaching.

use scraper::{Html, Selector};
use serde_json::Value;

use crate::support::Harness;

fn attrs(html: &str, css: &str, attr: &str) -> Vec<String> {
    let doc = Html::parse_document(html);
    let sel = Selector::parse(css).unwrap();
    doc.select(&sel)
        .filter_map(|e| e.value().attr(attr).map(str::to_string))
        .collect()
}

async fn customer(h: &Harness, email: &str) -> String {
    let (s, c) = h.post("/v1/customers", &[("email", email)]).await;
    assert_eq!(s, 200, "{c}");
    c["id"].as_str().unwrap().to_string()
}

/// A payment session for `customer` offering to save the card; returns (id, url).
async fn saving_session(h: &Harness, price: &str, customer: &str) -> (String, String) {
    let (s, v) = h
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "payment"),
                ("line_items[0][price]", price),
                ("line_items[0][quantity]", "1"),
                ("customer", customer),
                (
                    "saved_payment_method_options[payment_method_save]",
                    "enabled",
                ),
                ("success_url", "http://shop.test/ok"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["saved_payment_method_options"]["payment_method_save"],
        "enabled"
    );
    assert_eq!(
        v["saved_payment_method_options"]["allow_redisplay_filters"],
        serde_json::json!(["always"])
    );
    (
        v["id"].as_str().unwrap().to_string(),
        v["url"].as_str().unwrap().to_string(),
    )
}

async fn pay_form(h: &Harness, url: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let mut form = vec![("email", "buyer@example.com"), ("method", "card")];
    form.extend_from_slice(fields);
    h.http.post(url).form(&form).send().await.unwrap()
}

async fn cards_of(h: &Harness, customer: &str) -> Vec<Value> {
    let (s, l) = h
        .get(
            &format!("/v1/customers/{customer}/payment_methods"),
            &[("type", "card")],
        )
        .await;
    assert_eq!(s, 200, "{l}");
    l["data"].as_array().unwrap().clone()
}

#[actix_web::test]
async fn a_saved_card_pays_the_next_session_and_detaches() {
    let h = Harness::start().await;
    let price = h.one_time_price("Poster", 1500, "usd").await;
    let cus = customer(&h, "buyer@example.com").await;

    let (_, url) = saving_session(&h, &price, &cus).await;
    let page = h.http.get(&url).send().await.unwrap().text().await.unwrap();
    assert_eq!(attrs(&page, "#save_card", "name"), vec!["save_card"]);
    assert!(attrs(&page, "#saved_cards", "id").is_empty());
    let res = pay_form(
        &h,
        &url,
        &[
            ("card_number", "4242424242424242"),
            ("card_expiry", "12 / 34"),
            ("card_cvc", "123"),
            ("save_card", "on"),
        ],
    )
    .await;
    assert_eq!(res.status(), 303);
    let cards = cards_of(&h, &cus).await;
    assert_eq!(cards.len(), 1);
    let pm = cards[0]["id"].as_str().unwrap().to_string();
    assert_eq!(cards[0]["allow_redisplay"], "always");
    assert_eq!(cards[0]["card"]["last4"], "4242");
    assert!(cards[0].get("_number").is_none(), "the number stays inside");
    let (_, by_filter) = h
        .get(
            "/v1/payment_methods",
            &[("customer", &cus), ("type", "card")],
        )
        .await;
    assert_eq!(by_filter["data"][0]["id"], pm.as_str());

    // The next page offers it; paying with it sends no card details.
    let (sid, url) = saving_session(&h, &price, &cus).await;
    let page = h.http.get(&url).send().await.unwrap().text().await.unwrap();
    assert_eq!(
        attrs(&page, "#saved_cards input", "value"),
        vec![pm.clone(), "new".to_string()]
    );
    let res = pay_form(&h, &url, &[("saved_card", &pm)]).await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    let (_, s) = h
        .get(
            &format!("/v1/checkout/sessions/{sid}"),
            &[("expand[]", "payment_intent")],
        )
        .await;
    assert_eq!(s["payment_status"], "paid");
    assert_eq!(s["payment_intent"]["payment_method"], pm.as_str());
    assert_eq!(cards_of(&h, &cus).await.len(), 1, "not saved twice");

    // A card typed in wins over the saved card left chosen.
    let (sid, url) = saving_session(&h, &price, &cus).await;
    let res = pay_form(
        &h,
        &url,
        &[
            ("saved_card", &pm),
            ("card_number", "5555555555554444"),
            ("card_expiry", "12 / 34"),
            ("card_cvc", "123"),
        ],
    )
    .await;
    assert_eq!(res.status(), 303);
    let (_, s) = h
        .get(
            &format!("/v1/checkout/sessions/{sid}"),
            &[("expand[]", "payment_intent")],
        )
        .await;
    assert_ne!(s["payment_intent"]["payment_method"], pm.as_str());

    // Someone else cannot see it through their customer.
    let other = customer(&h, "other@example.com").await;
    let (s, e) = h
        .get(&format!("/v1/customers/{other}/payment_methods/{pm}"), &[])
        .await;
    assert_eq!(s, 404, "{e}");
    assert_eq!(e["error"]["code"], "resource_missing");
    let (s, own) = h
        .get(&format!("/v1/customers/{cus}/payment_methods/{pm}"), &[])
        .await;
    assert_eq!(s, 200);
    assert_eq!(own["id"], pm.as_str());

    // Detached: gone from the list and from the next page; a second detach is refused.
    let (s, d) = h
        .post(&format!("/v1/payment_methods/{pm}/detach"), &[])
        .await;
    assert_eq!(s, 200, "{d}");
    assert!(d["customer"].is_null());
    assert!(cards_of(&h, &cus).await.is_empty());
    let (s, e) = h
        .post(&format!("/v1/payment_methods/{pm}/detach"), &[])
        .await;
    assert_eq!(s, 400);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not attached"),
        "{e}"
    );
    let (_, url) = saving_session(&h, &price, &cus).await;
    let page = h.http.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(attrs(&page, "#saved_cards", "id").is_empty());
    let res = pay_form(&h, &url, &[("saved_card", &pm)]).await;
    assert_eq!(res.status(), 400, "a detached card cannot be chosen");

    h.hooks.wait_for("payment_method.detached").await;
    assert!(
        h.hooks
            .kinds()
            .contains(&"payment_method.attached".to_string())
    );
    h.stop().await;
}

#[actix_web::test]
async fn a_card_is_kept_only_when_the_shopper_ticks_save() {
    let h = Harness::start().await;
    let price = h.one_time_price("Poster", 1500, "usd").await;
    let cus = customer(&h, "buyer@example.com").await;
    let (_, url) = saving_session(&h, &price, &cus).await;
    let res = pay_form(
        &h,
        &url,
        &[
            ("card_number", "4242424242424242"),
            ("card_expiry", "12 / 34"),
            ("card_cvc", "123"),
        ],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert!(cards_of(&h, &cus).await.is_empty());

    // Another customer's card is not offered, nor chargeable by naming it.
    let other = customer(&h, "other@example.com").await;
    let (_, url) = saving_session(&h, &price, &other).await;
    pay_form(
        &h,
        &url,
        &[
            ("card_number", "5555555555554444"),
            ("card_expiry", "12 / 34"),
            ("card_cvc", "123"),
            ("save_card", "on"),
        ],
    )
    .await;
    let theirs = cards_of(&h, &other).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, url) = saving_session(&h, &price, &cus).await;
    let page = h.http.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(attrs(&page, "#saved_cards", "id").is_empty());
    let res = pay_form(&h, &url, &[("saved_card", &theirs)]).await;
    assert_eq!(res.status(), 400);
    h.stop().await;
}

#[actix_web::test]
async fn saving_needs_a_customer_and_excludes_setup_future_usage() {
    let h = Harness::start().await;
    let price = h.one_time_price("Poster", 1500, "usd").await;
    let cus = customer(&h, "buyer@example.com").await;
    let base = [
        ("mode", "payment"),
        ("line_items[0][price]", price.as_str()),
        ("line_items[0][quantity]", "1"),
        ("success_url", "http://shop.test/ok"),
        (
            "saved_payment_method_options[payment_method_save]",
            "enabled",
        ),
    ];
    let (s, e) = h.post("/v1/checkout/sessions", &base).await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(
        e["error"]["param"],
        "saved_payment_method_options[payment_method_save]"
    );
    let mut both = base.to_vec();
    both.push(("customer", &cus));
    both.push(("payment_intent_data[setup_future_usage]", "off_session"));
    let (s, e) = h.post("/v1/checkout/sessions", &both).await;
    assert_eq!(s, 400, "{e}");
    let mut bad = base.to_vec();
    bad[4] = ("saved_payment_method_options[payment_method_save]", "maybe");
    bad.push(("customer", &cus));
    let (s, _) = h.post("/v1/checkout/sessions", &bad).await;
    assert_eq!(s, 400);
    let (s, e) = h.post("/v1/payment_methods/pm_missing/detach", &[]).await;
    assert_eq!(s, 404, "{e}");
    h.stop().await;
}
