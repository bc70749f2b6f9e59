//! Scripted runs of the hosted Checkout page, one per test card, with the webhooks they send.

use scraper::{Html, Selector};

use crate::support::{Harness, location};

fn text_of(html: &str, css: &str) -> Option<String> {
    let doc = Html::parse_document(html);
    let sel = Selector::parse(css).unwrap();
    doc.select(&sel)
        .next()
        .map(|e| e.text().collect::<String>())
}

#[actix_web::test]
async fn successful_card_payment() {
    let h = Harness::start().await;
    let price = h.one_time_price("Poster", 1500, "usd").await;
    let (sid, url) = h.session(&price, 2).await;

    let page = h.http.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(!csp.contains("script-src"), "no scripts allowed: {csp}");
    let body = page.text().await.unwrap();
    assert!(!body.contains("<script"));
    assert_eq!(text_of(&body, "#total").as_deref(), Some("$30.00"));
    for id in ["email", "card_number", "card_expiry", "card_cvc"] {
        assert!(
            body.contains(&format!("<label for=\"{id}\"")),
            "label for {id}"
        );
    }
    let back = Html::parse_document(&body);
    let a = back
        .select(&Selector::parse("a#back").unwrap())
        .next()
        .unwrap();
    assert_eq!(
        a.value().attr("href"),
        Some("http://shop.test/checkout/cancel")
    );

    let resp = h.pay(&url, "4242424242424242").await;
    assert_eq!(resp.status(), 303);
    assert_eq!(
        location(&resp),
        format!("http://shop.test/checkout/success?session_id={sid}")
    );
    let (_, s) = h.get(&format!("/v1/checkout/sessions/{sid}"), &[]).await;
    assert_eq!(s["status"], "complete");
    assert_eq!(s["payment_status"], "paid");
    assert_eq!(s["customer_details"]["email"], "buyer@example.com");

    let completed = h.hooks.wait_for("checkout.session.completed").await;
    assert_eq!(completed.variant, "CheckoutSessionCompleted");
    assert_eq!(completed.json["data"]["object"]["id"], sid.as_str());
    assert_eq!(
        completed.json["data"]["object"]["client_reference_id"],
        "ORDER-1"
    );
    let kinds = h.hooks.kinds();
    let pos = |k: &str| {
        kinds
            .iter()
            .position(|x| x == k)
            .unwrap_or_else(|| panic!("{k} in {kinds:?}"))
    };
    assert!(pos("charge.succeeded") < pos("payment_intent.succeeded"));
    assert!(pos("payment_intent.succeeded") < pos("checkout.session.completed"));
    let succeeded = h.hooks.wait_for("payment_intent.succeeded").await;
    assert_eq!(succeeded.variant, "PaymentIntentSucceeded");
    assert!(h.hooks.failures().is_empty(), "{:?}", h.hooks.failures());

    // The page now says it is done, and cannot be paid again.
    let body = h.http.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(
        text_of(&body, "#status")
            .unwrap()
            .contains("already been completed")
    );
    let again = h.pay(&url, "4242424242424242").await;
    assert_eq!(again.status(), 409);
    h.stop().await;
}

#[actix_web::test]
async fn declined_cards_keep_the_session_open() {
    let h = Harness::start().await;
    let price = h.one_time_price("Lamp", 5000, "usd").await;
    let (sid, url) = h.session(&price, 1).await;

    let resp = h.pay(&url, "4000000000000002").await;
    assert_eq!(resp.status(), 402);
    let body = resp.text().await.unwrap();
    assert_eq!(
        text_of(&body, "#error").as_deref(),
        Some("Your card was declined.")
    );
    let failed = h.hooks.wait_for("payment_intent.payment_failed").await;
    assert_eq!(failed.variant, "PaymentIntentPaymentFailed");
    let err = &failed.json["data"]["object"]["last_payment_error"];
    assert_eq!(err["code"], "card_declined");
    assert_eq!(err["decline_code"], "generic_decline");

    let resp = h.pay(&url, "4000000000009995").await;
    assert_eq!(resp.status(), 402);
    let body = resp.text().await.unwrap();
    assert_eq!(
        text_of(&body, "#error").as_deref(),
        Some("Your card has insufficient funds.")
    );
    // The e-mail is kept when the page is shown again.
    assert!(body.contains("value=\"buyer@example.com\""));
    let evs = h.hooks.wait_count(1).await;
    let _ = evs;
    for _ in 0..50 {
        if h.hooks
            .kinds()
            .iter()
            .filter(|k| *k == "payment_intent.payment_failed")
            .count()
            == 2
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let fails: Vec<_> = h
        .hooks
        .events()
        .into_iter()
        .filter(|e| e.kind == "payment_intent.payment_failed")
        .collect();
    assert_eq!(fails.len(), 2);
    assert_eq!(
        fails[1].json["data"]["object"]["last_payment_error"]["decline_code"],
        "insufficient_funds"
    );

    let (_, s) = h.get(&format!("/v1/checkout/sessions/{sid}"), &[]).await;
    assert_eq!(s["status"], "open");
    assert_eq!(s["payment_status"], "unpaid");

    // Invalid input re-renders with Stripe's messages.
    let resp = h.pay(&url, "4242424242424241").await;
    assert_eq!(resp.status(), 400);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("Your card number is invalid.")
    );

    // Then a good card pays the same session (one payment intent throughout).
    let resp = h.pay(&url, "4242424242424242").await;
    assert_eq!(resp.status(), 303);
    let (_, s) = h
        .get(
            &format!("/v1/checkout/sessions/{sid}"),
            &[("expand[]", "payment_intent")],
        )
        .await;
    assert_eq!(s["payment_status"], "paid");
    assert_eq!(s["payment_intent"]["status"], "succeeded");
    assert_eq!(
        s["payment_intent"]["id"],
        fails[0].json["data"]["object"]["id"]
    );
    h.stop().await;
}

#[actix_web::test]
async fn three_d_secure_fail_then_approve() {
    let h = Harness::start().await;
    let price = h.one_time_price("Chair", 12000, "eur").await;
    let (sid, url) = h.session(&price, 1).await;

    let resp = h.pay(&url, "4000002500003155").await;
    assert_eq!(resp.status(), 303);
    let challenge = location(&resp);
    assert_eq!(challenge, format!("/c/pay/{sid}/3ds"));
    let page = h
        .http
        .get(h.url(&challenge))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("€120.00"));
    assert!(page.contains("3155"));

    let fail = h
        .http
        .post(h.url(&challenge))
        .form(&[("action", "fail")])
        .send()
        .await
        .unwrap();
    assert_eq!(fail.status(), 402);
    assert!(
        fail.text()
            .await
            .unwrap()
            .contains("unable to authenticate")
    );
    let failed = h.hooks.wait_for("payment_intent.payment_failed").await;
    assert_eq!(
        failed.json["data"]["object"]["last_payment_error"]["code"],
        "payment_intent_authentication_failure"
    );

    let resp = h.pay(&url, "4000002500003155").await;
    assert_eq!(location(&resp), challenge);
    let ok = h
        .http
        .post(h.url(&challenge))
        .form(&[("action", "approve")])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 303);
    assert!(location(&ok).ends_with(&sid));
    h.hooks.wait_for("checkout.session.completed").await;
    h.stop().await;
}

#[actix_web::test]
async fn expired_session_cannot_be_paid_and_zero_decimal_totals() {
    let h = Harness::start().await;
    let price = h.one_time_price("Tea", 1500, "jpy").await;
    let (sid, url) = h.session(&price, 3).await;
    let body = h.http.get(&url).send().await.unwrap().text().await.unwrap();
    assert_eq!(text_of(&body, "#total").as_deref(), Some("¥4,500"));

    let (s, v) = h
        .post(&format!("/v1/checkout/sessions/{sid}/expire"), &[])
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["status"], "expired");
    let expired = h.hooks.wait_for("checkout.session.expired").await;
    assert_eq!(expired.variant, "CheckoutSessionExpired");

    let body = h.http.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(text_of(&body, "#status").unwrap().contains("expired"));
    assert!(!body.contains("card_number"));
    let resp = h.pay(&url, "4242424242424242").await;
    assert_eq!(resp.status(), 409);
    let (_, v) = h.get(&format!("/v1/checkout/sessions/{sid}"), &[]).await;
    assert_eq!(v["status"], "expired");
    h.stop().await;
}

#[actix_web::test]
async fn existing_customer_and_payment_intent_data() {
    let h = Harness::start().await;
    let price = h.one_time_price("Pen", 350, "gbp").await;
    let (_, cus) = h
        .post("/v1/customers", &[("email", "known@example.com")])
        .await;
    let cid = cus["id"].as_str().unwrap();
    let (s, v) = h
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "payment"),
                ("customer", cid),
                ("line_items[0][price]", &price),
                ("line_items[0][quantity]", "4"),
                ("payment_intent_data[metadata][order]", "ORDER-9"),
                ("payment_intent_data[description]", "Order ORDER-9"),
                ("metadata[order]", "ORDER-9"),
                ("success_url", "http://shop.test/ok"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let url = v["url"].as_str().unwrap();
    let page = h.http.get(url).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains("value=\"known@example.com\""),
        "e-mail prefilled from the customer"
    );
    assert!(page.contains("£14.00"));
    assert_eq!(h.pay(url, "5555555555554444").await.status(), 303);
    let (_, s) = h
        .get(
            &format!("/v1/checkout/sessions/{}", v["id"].as_str().unwrap()),
            &[
                ("expand[]", "payment_intent.latest_charge"),
                ("expand[]", "customer"),
            ],
        )
        .await;
    assert_eq!(s["customer"]["id"], cid);
    assert_eq!(s["metadata"]["order"], "ORDER-9");
    let pi = &s["payment_intent"];
    assert_eq!(pi["customer"], cid);
    assert_eq!(pi["metadata"]["order"], "ORDER-9");
    assert_eq!(pi["description"], "Order ORDER-9");
    assert_eq!(pi["amount"], 1400);
    assert_eq!(pi["currency"], "gbp");
    assert_eq!(
        pi["latest_charge"]["payment_method_details"]["card"]["brand"],
        "mastercard"
    );
    // customer and customer_email together are refused.
    let (s, e) = h
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "payment"),
                ("customer", cid),
                ("customer_email", "x@example.com"),
                ("line_items[0][price]", &price),
                ("line_items[0][quantity]", "1"),
            ],
        )
        .await;
    assert_eq!(
        (s, e["error"]["param"].as_str()),
        (400, Some("customer_email"))
    );
    h.stop().await;
}
