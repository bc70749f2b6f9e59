//! P2: subscriptions, invoices, the Billing Portal, the test clock, bank debits, special test
//! cards and fault controls.

use std::time::Duration;

use serde_json::Value;
use stripe::StripeError;
use stripe_billing::billing_portal_configuration::{
    CreateBillingPortalConfiguration, CreateBillingPortalConfigurationFeatures,
    CreateBillingPortalConfigurationFeaturesSubscriptionCancel,
    CreateBillingPortalConfigurationFeaturesSubscriptionUpdate, SubscriptionUpdateProductParam,
};
use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_billing::invoice::RetrieveInvoice;
use stripe_billing::subscription::{
    CancelSubscription, ListSubscription, ListSubscriptionStatus, RetrieveSubscription,
    UpdateSubscription, UpdateSubscriptionItems, UpdateSubscriptionProrationBehavior,
};
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, RetrieveCheckoutSession,
};
use stripe_product::price::{CreatePrice, CreatePriceRecurring, CreatePriceRecurringInterval};
use stripe_product::product::CreateProduct;
use stripe_shared::{CheckoutSessionMode, InvoiceStatus, SubscriptionStatus};

use crate::support::{Harness, KEY, location};

const DAY: i64 = 86_400;

async fn monthly(h: &Harness, product: &str, amount: i64) -> String {
    CreatePrice::new(stripe_types::Currency::USD)
        .product(product)
        .unit_amount(amount)
        .recurring(CreatePriceRecurring::new(
            CreatePriceRecurringInterval::Month,
        ))
        .send(&h.stripe)
        .await
        .unwrap()
        .id
        .as_str()
        .to_string()
}

/// Subscribe through hosted Checkout; returns (session id, subscription id, customer id).
async fn subscribe(h: &Harness, price: &str, card: &str) -> (String, String, String) {
    let mut item = CreateCheckoutSessionLineItems::new();
    item.price = Some(price.to_string());
    item.quantity = Some(1);
    let s = CreateCheckoutSession::new()
        .mode(CheckoutSessionMode::Subscription)
        .line_items(vec![item])
        .success_url("http://shop.test/ok?session_id={CHECKOUT_SESSION_ID}")
        .send(&h.stripe)
        .await
        .unwrap();
    let resp = h.pay(s.url.as_deref().unwrap(), card).await;
    assert_eq!(
        resp.status(),
        303,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    let s = RetrieveCheckoutSession::new(s.id.clone())
        .send(&h.stripe)
        .await
        .unwrap();
    let sub = s
        .subscription
        .expect("subscription")
        .id()
        .as_str()
        .to_string();
    let cus = s.customer.expect("customer").id().as_str().to_string();
    (s.id.as_str().to_string(), sub, cus)
}

async fn control(h: &Harness, path: &str, form: &[(&str, &str)]) -> Value {
    let r = h
        .http
        .post(h.url(path))
        .bearer_auth(KEY)
        .form(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

async fn advance(h: &Harness, seconds: i64) {
    control(
        h,
        "/_emulator/clock/advance",
        &[("seconds", &seconds.to_string())],
    )
    .await;
}

#[actix_web::test]
async fn subscription_checkout_then_cancel_at_period_end() {
    let h = Harness::start().await;
    let prod = CreateProduct::new("Coffee club")
        .send(&h.stripe)
        .await
        .unwrap();
    let price = monthly(&h, prod.id.as_str(), 1500).await;
    let (_, sub_id, cus) = subscribe(&h, &price, "4242424242424242").await;

    let sub = RetrieveSubscription::new(sub_id.as_str())
        .expand(vec!["latest_invoice".to_string()])
        .send(&h.stripe)
        .await
        .unwrap();
    assert_eq!(sub.status, SubscriptionStatus::Active);
    assert_eq!(sub.customer.id().as_str(), cus);
    let item = &sub.items.data[0];
    assert_eq!(
        item.current_period_end - item.current_period_start,
        30 * DAY
    );
    let inv = sub.latest_invoice.clone().expect("invoice");
    let inv = RetrieveInvoice::new(inv.id().clone().expect("invoice id"))
        .expand(vec!["payments".to_string()])
        .send(&h.stripe)
        .await
        .unwrap();
    assert_eq!(inv.status, Some(InvoiceStatus::Paid));
    assert_eq!(inv.amount_paid, 1500);
    assert_eq!(inv.payments.expect("payments").data.len(), 1);

    let list = ListSubscription::new()
        .customer(cus.as_str())
        .send(&h.stripe)
        .await
        .unwrap();
    assert_eq!(list.data.len(), 1);
    let none = ListSubscription::new()
        .status(ListSubscriptionStatus::Canceled)
        .send(&h.stripe)
        .await
        .unwrap();
    assert!(none.data.is_empty());

    let upd = UpdateSubscription::new(sub_id.as_str())
        .cancel_at_period_end(true)
        .send(&h.stripe)
        .await
        .unwrap();
    assert!(upd.cancel_at_period_end);
    assert_eq!(upd.cancel_at, Some(item.current_period_end));

    for kind in [
        "customer.subscription.created",
        "invoice.paid",
        "customer.subscription.updated",
    ] {
        let ev = h.hooks.wait_for(kind).await;
        assert!(
            !ev.variant.starts_with("Unknown"),
            "{kind} parsed as {}",
            ev.variant
        );
    }
    advance(&h, 31 * DAY).await;
    let deleted = h.hooks.wait_for("customer.subscription.deleted").await;
    assert_eq!(deleted.variant, "CustomerSubscriptionDeleted");
    let sub = RetrieveSubscription::new(sub_id.as_str())
        .send(&h.stripe)
        .await
        .unwrap();
    assert_eq!(sub.status, SubscriptionStatus::Canceled);
    let canceled = ListSubscription::new()
        .status(ListSubscriptionStatus::Canceled)
        .send(&h.stripe)
        .await
        .unwrap();
    assert_eq!(canceled.data.len(), 1);
    assert!(h.hooks.failures().is_empty(), "{:?}", h.hooks.failures());
    h.stop().await;
}

#[actix_web::test]
async fn renewals_prorations_and_cancel() {
    let h = Harness::start().await;
    let prod = CreateProduct::new("Plan").send(&h.stripe).await.unwrap();
    let basic = monthly(&h, prod.id.as_str(), 1000).await;
    let pro = monthly(&h, prod.id.as_str(), 3000).await;
    let (_, sub_id, _) = subscribe(&h, &basic, "4242424242424242").await;

    // Renewal on the test clock.
    advance(&h, 30 * DAY + 60).await;
    let sub = RetrieveSubscription::new(sub_id.as_str())
        .expand(vec!["latest_invoice".to_string()])
        .send(&h.stripe)
        .await
        .unwrap();
    let inv = match sub.latest_invoice.clone().unwrap() {
        stripe_types::Expandable::Object(i) => *i,
        other => panic!("not expanded: {other:?}"),
    };
    assert_eq!(
        inv.billing_reason,
        Some(stripe_shared::InvoiceBillingReason::SubscriptionCycle)
    );
    assert_eq!(inv.status, Some(InvoiceStatus::Paid));
    assert_eq!(inv.total, 1000);

    // Switch to the pro price, invoiced now with prorations.
    let mut it = UpdateSubscriptionItems::new();
    it.id = Some(sub.items.data[0].id.as_str().to_string());
    it.price = Some(pro.clone());
    let upd = UpdateSubscription::new(sub_id.as_str())
        .items(vec![it])
        .proration_behavior(UpdateSubscriptionProrationBehavior::AlwaysInvoice)
        .expand(vec!["latest_invoice".to_string()])
        .send(&h.stripe)
        .await
        .unwrap();
    assert_eq!(upd.items.data[0].price.id.as_str(), pro);
    let inv = match upd.latest_invoice.clone().unwrap() {
        stripe_types::Expandable::Object(i) => *i,
        other => panic!("not expanded: {other:?}"),
    };
    assert_eq!(
        inv.billing_reason,
        Some(stripe_shared::InvoiceBillingReason::SubscriptionUpdate)
    );
    assert_eq!(inv.lines.data.len(), 2);
    assert!(
        inv.total > 1900 && inv.total <= 2000,
        "prorated {}",
        inv.total
    );

    // Cancel now.
    let c = CancelSubscription::new(sub_id.as_str())
        .send(&h.stripe)
        .await
        .unwrap();
    assert_eq!(c.status, SubscriptionStatus::Canceled);
    h.hooks.wait_for("customer.subscription.deleted").await;
    let paid: Vec<_> = h
        .hooks
        .events()
        .into_iter()
        .filter(|e| e.kind == "invoice.paid")
        .collect();
    assert!(paid.len() >= 2);
    assert!(paid.iter().all(|e| e.variant == "InvoicePaid"));
    h.stop().await;
}

#[actix_web::test]
async fn billing_portal_cancel_resume_switch_and_failing_card() {
    let h = Harness::start().await;
    let prod = CreateProduct::new("Magazine")
        .send(&h.stripe)
        .await
        .unwrap();
    let basic = monthly(&h, prod.id.as_str(), 800).await;
    let plus = monthly(&h, prod.id.as_str(), 1200).await;
    let mut features = CreateBillingPortalConfigurationFeatures::new();
    features.subscription_cancel =
        Some(CreateBillingPortalConfigurationFeaturesSubscriptionCancel::new(true));
    let mut update = CreateBillingPortalConfigurationFeaturesSubscriptionUpdate::new(true);
    update.products = Some(vec![SubscriptionUpdateProductParam {
        adjustable_quantity: None,
        prices: vec![basic.clone(), plus.clone()],
        product: prod.id.as_str().to_string(),
    }]);
    features.subscription_update = Some(update);
    let cfg = CreateBillingPortalConfiguration::new(features)
        .send(&h.stripe)
        .await
        .unwrap();
    assert!(cfg.id.as_str().starts_with("bpc_"));

    let (_, sub_id, cus) = subscribe(&h, &basic, "4242424242424242").await;
    let ps = CreateBillingPortalSession::new()
        .customer(cus.as_str())
        .return_url("http://shop.test/account")
        .send(&h.stripe)
        .await
        .unwrap();
    assert!(ps.url.starts_with(&h.emu.origin()));
    let page = h
        .http
        .get(&ps.url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(&sub_id));
    assert!(page.contains("$12.00 / month"), "switch option listed");

    let post = |action: &str, form: Vec<(&'static str, String)>| {
        let url = format!("{}/{action}", ps.url);
        let client = h.http.clone();
        async move { client.post(url).form(&form).send().await.unwrap() }
    };
    let r = post("cancel", vec![("subscription", sub_id.clone())]).await;
    assert_eq!(r.status(), 303);
    let sub = RetrieveSubscription::new(sub_id.as_str())
        .send(&h.stripe)
        .await
        .unwrap();
    assert!(sub.cancel_at_period_end);
    let r = post("resume", vec![("subscription", sub_id.clone())]).await;
    assert_eq!(r.status(), 303);
    let sub = RetrieveSubscription::new(sub_id.as_str())
        .send(&h.stripe)
        .await
        .unwrap();
    assert!(!sub.cancel_at_period_end);
    let r = post(
        "switch",
        vec![("subscription", sub_id.clone()), ("price", plus.clone())],
    )
    .await;
    assert_eq!(r.status(), 303);
    let sub = RetrieveSubscription::new(sub_id.as_str())
        .send(&h.stripe)
        .await
        .unwrap();
    assert_eq!(sub.items.data[0].price.id.as_str(), plus);

    // A declined card cannot be saved; 0341 can, and the next renewal then fails.
    let card = |n: &str| {
        vec![
            ("card_number", n.to_string()),
            ("card_expiry", "12/34".to_string()),
            ("card_cvc", "123".to_string()),
        ]
    };
    let r = post("card", card("4000000000000002")).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("Your card was declined."));
    let r = post("card", card("4000000000000341")).await;
    assert_eq!(r.status(), 303);
    let page = h
        .http
        .get(&ps.url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("ending in 0341"));
    advance(&h, 31 * DAY).await;
    let failed = h.hooks.wait_for("invoice.payment_failed").await;
    assert_eq!(failed.variant, "InvoicePaymentFailed");
    let sub = RetrieveSubscription::new(sub_id.as_str())
        .send(&h.stripe)
        .await
        .unwrap();
    assert_eq!(sub.status, SubscriptionStatus::PastDue);

    // A good card again: the next renewal pays and the subscription is active again.
    let r = post("card", card("4242424242424242")).await;
    assert_eq!(r.status(), 303);
    advance(&h, 31 * DAY).await;
    let sub = RetrieveSubscription::new(sub_id.as_str())
        .send(&h.stripe)
        .await
        .unwrap();
    assert_eq!(sub.status, SubscriptionStatus::Active);

    // Quantity-only change keeps the price.
    let mut it = UpdateSubscriptionItems::new();
    it.id = Some(sub.items.data[0].id.as_str().to_string());
    it.quantity = Some(3);
    let upd = UpdateSubscription::new(sub_id.as_str())
        .items(vec![it])
        .proration_behavior(UpdateSubscriptionProrationBehavior::None)
        .send(&h.stripe)
        .await
        .unwrap();
    assert_eq!(upd.items.data[0].quantity, Some(3));
    assert_eq!(upd.items.data[0].price.id.as_str(), plus);
    h.stop().await;
}

#[actix_web::test]
async fn bank_debit_settles_or_fails_later() {
    let h = Harness::start().await;
    let price = h.one_time_price("Sofa", 90000, "usd").await;
    for (account, outcome) in [
        ("000123456789", "checkout.session.async_payment_succeeded"),
        ("000111111113", "checkout.session.async_payment_failed"),
    ] {
        let (s, v) = h
            .post(
                "/v1/checkout/sessions",
                &[
                    ("mode", "payment"),
                    ("line_items[0][price]", &price),
                    ("line_items[0][quantity]", "1"),
                    ("payment_method_types[0]", "card"),
                    ("payment_method_types[1]", "us_bank_account"),
                    ("success_url", "http://shop.test/ok"),
                ],
            )
            .await;
        assert_eq!(s, 200, "{v}");
        let sid = v["id"].as_str().unwrap().to_string();
        let url = v["url"].as_str().unwrap().to_string();
        let page = h.http.get(&url).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("account_number"));
        let r = h
            .http
            .post(&url)
            .form(&[
                ("email", "bank@example.com"),
                ("method", "us_bank_account"),
                ("routing_number", "110000000"),
                ("account_number", account),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(location(&r), "http://shop.test/ok");
        let (_, s) = h.get(&format!("/v1/checkout/sessions/{sid}"), &[]).await;
        assert_eq!(s["status"], "complete");
        assert_eq!(s["payment_status"], "unpaid");
        let ev = h.hooks.wait_for(outcome).await;
        assert_eq!(ev.json["data"]["object"]["id"], sid.as_str());
        let (_, s) = h
            .get(
                &format!("/v1/checkout/sessions/{sid}"),
                &[("expand[]", "payment_intent")],
            )
            .await;
        if outcome.ends_with("succeeded") {
            assert_eq!(s["payment_status"], "paid");
            assert_eq!(s["payment_intent"]["status"], "succeeded");
        } else {
            assert_eq!(s["payment_status"], "unpaid");
            assert_eq!(s["payment_intent"]["status"], "requires_payment_method");
        }
    }
    assert!(h.hooks.failures().is_empty(), "{:?}", h.hooks.failures());
    h.stop().await;
}

#[actix_web::test]
async fn refunds_that_fail_and_disputes() {
    let h = Harness::start().await;
    let price = h.one_time_price("Camera", 30000, "usd").await;
    let (sid, url) = h.session(&price, 1).await;
    assert_eq!(h.pay(&url, "4000000000005126").await.status(), 303);
    let (_, s) = h.get(&format!("/v1/checkout/sessions/{sid}"), &[]).await;
    let pi = s["payment_intent"].as_str().unwrap();
    let (st, re) = h
        .post("/v1/refunds", &[("payment_intent", pi), ("amount", "1000")])
        .await;
    assert_eq!(st, 200);
    assert_eq!(re["status"], "pending");
    let failed = h.hooks.wait_for("refund.failed").await;
    assert_eq!(failed.variant, "RefundFailed");
    assert_eq!(failed.json["data"]["object"]["status"], "failed");
    let upd = h.hooks.wait_for("charge.refund.updated").await;
    assert_eq!(upd.variant, "ChargeRefundUpdated");
    let (_, ch) = h
        .get(
            &format!("/v1/charges/{}", re["charge"].as_str().unwrap()),
            &[],
        )
        .await;
    assert_eq!(
        ch["amount_refunded"], 0,
        "a failed refund is refundable again"
    );

    let (sid, url) = h.session(&price, 1).await;
    assert_eq!(h.pay(&url, "4000000000000259").await.status(), 303);
    let dispute = h.hooks.wait_for("charge.dispute.created").await;
    assert_eq!(dispute.variant, "ChargeDisputeCreated");
    let (_, s) = h
        .get(
            &format!("/v1/checkout/sessions/{sid}"),
            &[("expand[]", "payment_intent.latest_charge")],
        )
        .await;
    assert_eq!(
        dispute.json["data"]["object"]["charge"],
        s["payment_intent"]["latest_charge"]["id"]
    );
    assert_eq!(s["payment_intent"]["latest_charge"]["disputed"], true);
    h.stop().await;
}

#[actix_web::test]
async fn clock_expires_sessions() {
    let h = Harness::start().await;
    let price = h.one_time_price("Kite", 700, "usd").await;
    let (sid, url) = h.session(&price, 1).await;
    advance(&h, 25 * 3600).await;
    let ev = h.hooks.wait_for("checkout.session.expired").await;
    assert_eq!(ev.json["data"]["object"]["id"], sid.as_str());
    let s = RetrieveCheckoutSession::new(sid.as_str())
        .send(&h.stripe)
        .await
        .unwrap();
    assert_eq!(
        s.status,
        Some(stripe_shared::CheckoutSessionStatus::Expired)
    );
    assert_eq!(h.pay(&url, "4242424242424242").await.status(), 409);
    // The clock only moves forward and needs the key.
    let r = h
        .http
        .post(h.url("/_emulator/clock/advance"))
        .form(&[("seconds", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = h
        .http
        .post(h.url("/_emulator/clock/advance"))
        .bearer_auth(KEY)
        .form(&[("seconds", "-5")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    h.stop().await;
}

#[actix_web::test]
async fn delivery_faults_duplicate_reverse_hold_drop() {
    let h = Harness::start().await;
    control(&h, "/_emulator/webhooks", &[("duplicate", "1")]).await;
    let p1 = CreateProduct::new("One").send(&h.stripe).await.unwrap();
    let evs = h.hooks.wait_count(2).await;
    assert_eq!(evs[0].id, evs[1].id, "same event delivered twice");
    assert_eq!(evs[0].json["data"]["object"]["id"], p1.id.as_str());

    control(
        &h,
        "/_emulator/webhooks",
        &[("hold", "true"), ("reverse", "true")],
    )
    .await;
    let a = CreateProduct::new("A").send(&h.stripe).await.unwrap();
    let b = CreateProduct::new("B").send(&h.stripe).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(h.hooks.events().len(), 2, "held");
    control(&h, "/_emulator/webhooks/release", &[]).await;
    let evs = h.hooks.wait_count(4).await;
    assert_eq!(evs[2].json["data"]["object"]["id"], b.id.as_str());
    assert_eq!(evs[3].json["data"]["object"]["id"], a.id.as_str());

    control(
        &h,
        "/_emulator/webhooks",
        &[("reverse", "false"), ("drop", "1")],
    )
    .await;
    let _dropped = CreateProduct::new("Dropped").send(&h.stripe).await.unwrap();
    let kept = CreateProduct::new("Kept").send(&h.stripe).await.unwrap();
    let evs = h.hooks.wait_count(5).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(h.hooks.events().len(), 5);
    assert_eq!(evs[4].json["data"]["object"]["id"], kept.id.as_str());
    // A dropped event is still listed by the API, and found by `delivery_success=false`.
    let (_, list) = h.get("/v1/events", &[("type", "product.created")]).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 5);
    let (_, missed) = h.get("/v1/events", &[("delivery_success", "false")]).await;
    let missed = missed["data"].as_array().unwrap();
    assert_eq!(missed.len(), 1);
    assert_eq!(missed[0]["data"]["object"]["name"], "Dropped");
    let (_, fine) = h.get("/v1/events", &[("delivery_success", "true")]).await;
    assert_eq!(fine["data"].as_array().unwrap().len(), 4);
    h.stop().await;
}

#[actix_web::test]
async fn api_faults_500_429_and_stall() {
    let h = Harness::start().await;
    control(
        &h,
        "/_emulator/faults",
        &[
            ("path", "/v1/products"),
            ("method", "POST"),
            ("status", "500"),
        ],
    )
    .await;
    match CreateProduct::new("x").send(&h.stripe).await {
        Err(StripeError::Stripe(e, 500)) => assert_eq!(e.type_, stripe::ApiErrorsType::ApiError),
        other => panic!("expected 500, got {other:?}"),
    }
    control(
        &h,
        "/_emulator/faults",
        &[("path", "/v1/products"), ("status", "429"), ("count", "2")],
    )
    .await;
    for _ in 0..2 {
        match CreateProduct::new("x").send(&h.stripe).await {
            Err(StripeError::Stripe(e, 429)) => {
                assert_eq!(e.code, Some(stripe::ApiErrorsCode::RateLimit))
            }
            other => panic!("expected 429, got {other:?}"),
        }
    }
    CreateProduct::new("now it works")
        .send(&h.stripe)
        .await
        .unwrap();
    control(
        &h,
        "/_emulator/faults",
        &[("path", "/v1/products"), ("stall_ms", "800")],
    )
    .await;
    let t = std::time::Instant::now();
    CreateProduct::new("slow").send(&h.stripe).await.unwrap();
    assert!(t.elapsed() >= Duration::from_millis(800));
    let (_, list) = h.get("/v1/products", &[]).await;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        2,
        "failed calls changed nothing"
    );
    h.stop().await;
}

/// The same controls from Rust, for the shop's own tests.
#[actix_web::test]
async fn rust_clock_and_job_controls() {
    let h = Harness::start().await;
    let before = h.emu.now().await.unwrap();
    let after = h.emu.advance_clock(3600).await.unwrap();
    assert!(after >= before + 3600 && after < before + 3610);
    assert!(h.emu.advance_clock(-1).await.is_err());
    let price = h.one_time_price("Desk", 25000, "usd").await;
    let (s, v) = h
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "payment"),
                ("line_items[0][price]", &price),
                ("line_items[0][quantity]", "1"),
                ("payment_method_types[]", "us_bank_account"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let page = h
        .http
        .get(v["url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("card_number"), "cards not offered");
    let card = h.pay(v["url"].as_str().unwrap(), "4242424242424242").await;
    assert_eq!(card.status(), 400);
    let r = h
        .http
        .post(v["url"].as_str().unwrap())
        .form(&[
            ("email", "bank@example.com"),
            ("method", "us_bank_account"),
            ("routing_number", "110000000"),
            ("account_number", "000123456789"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(
        location(&r).contains("/c/done/"),
        "no success_url: the emulator's own page"
    );
    assert_eq!(h.emu.run_pending_jobs().await.unwrap(), 1);
    let (_, s) = h
        .get(
            &format!("/v1/checkout/sessions/{}", v["id"].as_str().unwrap()),
            &[],
        )
        .await;
    assert_eq!(s["payment_status"], "paid");
    assert!(
        s["created"].as_i64().unwrap() >= after,
        "created on the test clock"
    );
    h.stop().await;
}

async fn price_of(
    h: &Harness,
    product: &str,
    amount: i64,
    interval: CreatePriceRecurringInterval,
) -> String {
    CreatePrice::new(stripe_types::Currency::USD)
        .product(product)
        .unit_amount(amount)
        .recurring(CreatePriceRecurring::new(interval))
        .send(&h.stripe)
        .await
        .unwrap()
        .id
        .as_str()
        .to_string()
}

fn latest(sub: &stripe_shared::Subscription) -> stripe_shared::Invoice {
    match sub.latest_invoice.clone().unwrap() {
        stripe_types::Expandable::Object(i) => *i,
        other => panic!("not expanded: {other:?}"),
    }
}

/// A plan with a recurring shipping price: two items billed together; a switch to another
/// interval moves both (one alone is refused), an item is removed with `deleted` and added back
/// without an `id`, each prorated.
#[actix_web::test]
async fn two_items_switch_interval_together_and_are_removed_and_added() {
    let h = Harness::start().await;
    use CreatePriceRecurringInterval::{Month, Year};
    let plan = CreateProduct::new("Coffee").send(&h.stripe).await.unwrap();
    let ship = CreateProduct::new("Shipping")
        .send(&h.stripe)
        .await
        .unwrap();
    let (plan, ship) = (plan.id.as_str(), ship.id.as_str());
    let month = price_of(&h, plan, 1500, Month).await;
    let month_ship = price_of(&h, ship, 400, Month).await;
    let year = price_of(&h, plan, 15000, Year).await;
    let year_ship = price_of(&h, ship, 2400, Year).await;

    let mut a = CreateCheckoutSessionLineItems::new();
    a.price = Some(month.clone());
    a.quantity = Some(1);
    let mut b = CreateCheckoutSessionLineItems::new();
    b.price = Some(month_ship.clone());
    b.quantity = Some(1);
    let s = CreateCheckoutSession::new()
        .mode(CheckoutSessionMode::Subscription)
        .line_items(vec![a, b])
        .success_url("http://shop.test/ok")
        .send(&h.stripe)
        .await
        .unwrap();
    assert_eq!(s.amount_total, Some(1900));
    h.pay(s.url.as_deref().unwrap(), "4242424242424242").await;
    let s = RetrieveCheckoutSession::new(s.id.clone())
        .send(&h.stripe)
        .await
        .unwrap();
    let sub_id = s.subscription.unwrap().id().as_str().to_string();
    let get = || async {
        RetrieveSubscription::new(sub_id.as_str())
            .expand(vec!["latest_invoice".to_string()])
            .send(&h.stripe)
            .await
    };
    let sub = get().await.unwrap();
    assert_eq!(sub.items.data.len(), 2);
    assert_eq!(latest(&sub).total, 1900);
    let (plan_item, ship_item) = (
        sub.items.data[0].id.as_str().to_string(),
        sub.items.data[1].id.as_str().to_string(),
    );

    // A renewal bills both.
    advance(&h, 30 * DAY + 60).await;
    let sub = get().await.unwrap();
    assert_eq!(
        (latest(&sub).total, latest(&sub).lines.data.len()),
        (1900, 2)
    );

    // Only the plan to yearly: items on two intervals are refused.
    let item = |id: &str, price: &str| {
        let mut it = UpdateSubscriptionItems::new();
        it.id = Some(id.to_owned());
        it.price = Some(price.to_owned());
        it
    };
    let err = UpdateSubscription::new(sub_id.as_str())
        .items(vec![item(&plan_item, &year)])
        .send(&h.stripe)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StripeError::Stripe(ref e, 400) if e.param.as_deref() == Some("items")),
        "{err:?}"
    );
    assert_eq!(get().await.unwrap().items.data[0].price.id.as_str(), month);

    // Both to yearly: the cycle restarts now, a year of both is charged, unused months credited.
    let sub = UpdateSubscription::new(sub_id.as_str())
        .items(vec![item(&plan_item, &year), item(&ship_item, &year_ship)])
        .expand(vec!["latest_invoice".to_string()])
        .send(&h.stripe)
        .await
        .unwrap();
    let inv = latest(&sub);
    let full: Vec<i64> = inv
        .lines
        .data
        .iter()
        .filter(|l| l.amount > 0)
        .map(|l| l.amount)
        .collect();
    assert_eq!(full, vec![15000, 2400], "{:?}", inv.lines.data);
    let credit: i64 = inv
        .lines
        .data
        .iter()
        .filter(|l| l.amount < 0)
        .map(|l| l.amount)
        .sum();
    assert!(
        (-1900..=-1800).contains(&credit),
        "almost a month of both unused: {credit}"
    );
    assert_eq!(inv.total, 17400 + credit);

    // Shipping removed (credited on the next invoice), then added back without an id.
    let mut gone = UpdateSubscriptionItems::new();
    gone.id = Some(ship_item.clone());
    gone.deleted = Some(true);
    let sub = UpdateSubscription::new(sub_id.as_str())
        .items(vec![gone])
        .send(&h.stripe)
        .await
        .unwrap();
    assert_eq!(sub.items.data.len(), 1);
    let mut last = UpdateSubscriptionItems::new();
    last.id = Some(plan_item.clone());
    last.deleted = Some(true);
    let err = UpdateSubscription::new(sub_id.as_str())
        .items(vec![last])
        .send(&h.stripe)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StripeError::Stripe(_, 400)),
        "the last item stays: {err:?}"
    );
    let mut back = UpdateSubscriptionItems::new();
    back.price = Some(year_ship.clone());
    let sub = UpdateSubscription::new(sub_id.as_str())
        .items(vec![back])
        .proration_behavior(UpdateSubscriptionProrationBehavior::AlwaysInvoice)
        .expand(vec!["latest_invoice".to_string()])
        .send(&h.stripe)
        .await
        .unwrap();
    assert_eq!(sub.items.data.len(), 2);
    assert_eq!(sub.items.data[1].price.id.as_str(), year_ship);
    let inv = latest(&sub);
    // The removal's credit and the addition's charge for (almost) the whole year net out.
    assert_eq!(inv.lines.data.len(), 2, "{:?}", inv.lines.data);
    assert!(inv.total.abs() <= 1, "{}", inv.total);

    // The next renewal bills both yearly prices.
    advance(&h, 366 * DAY).await;
    let sub = get().await.unwrap();
    assert_eq!(latest(&sub).total, 17400);
    h.stop().await;
}

/// `stall_after_ms`: the call is processed at once and answered late; the same idempotency key
/// then gets the stored answer, and nothing is made twice.
#[actix_web::test]
async fn a_late_answer_comes_after_the_object_was_made() {
    let h = Harness::start().await;
    control(
        &h,
        "/_emulator/faults",
        &[("path", "/v1/products"), ("stall_after_ms", "800")],
    )
    .await;
    let slow = h
        .http
        .post(h.url("/v1/products"))
        .bearer_auth(KEY)
        .header("Idempotency-Key", "late-1")
        .form(&[("name", "late")])
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(slow.is_err(), "the client gave up before the answer");
    let (_, list) = h.get("/v1/products", &[]).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "made anyway");
    let retry = h
        .http
        .post(h.url("/v1/products"))
        .bearer_auth(KEY)
        .header("Idempotency-Key", "late-1")
        .form(&[("name", "late")])
        .send()
        .await
        .unwrap();
    assert_eq!(retry.status().as_u16(), 200);
    assert_eq!(retry.headers().get("idempotent-replayed").unwrap(), "true");
    let (_, list) = h.get("/v1/products", &[]).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "not made twice");
    let (s, e) = h
        .post(
            "/_emulator/faults",
            &[
                ("path", "/v1/products"),
                ("stall_ms", "1"),
                ("stall_after_ms", "1"),
            ],
        )
        .await;
    assert_eq!(s, 400, "{e}");
    h.stop().await;
}

/// The control API says which faults fired and when (a test tells an error the emulator caused
/// from one of the client's own), and `clear=true` disarms the rest.
#[actix_web::test]
async fn fired_faults_are_listed_and_armed_ones_can_be_cleared() {
    let h = Harness::start().await;
    let before = chrono::Utc::now().timestamp_millis();
    for (path, status) in [("/v1/products", "500"), ("/v1/customers", "429")] {
        control(
            &h,
            "/_emulator/faults",
            &[("path", path), ("status", status), ("count", "2")],
        )
        .await;
    }
    let (s, _) = h.post("/v1/products", &[("name", "x")]).await;
    assert_eq!(s, 500);
    let (_, faults) = h.get("/_emulator/faults", &[]).await;
    let fired = faults["fired"].as_array().unwrap();
    assert_eq!(fired.len(), 1, "{faults}");
    assert_eq!(fired[0]["path"], "/v1/products");
    assert_eq!(fired[0]["method"], "POST");
    assert_eq!(fired[0]["fault"]["status"], 500);
    assert!(fired[0]["at_ms"].as_i64().unwrap() >= before);
    assert_eq!(faults["armed"].as_array().unwrap().len(), 2, "{faults}");

    let (s, cleared) = h.post("/_emulator/faults", &[("clear", "true")]).await;
    assert_eq!((s, cleared["cleared"].as_i64()), (200, Some(2)));
    let (s, _) = h.post("/v1/customers", &[("email", "a@example.com")]).await;
    assert_eq!(s, 200, "no fault left");
    let (_, faults) = h.get("/_emulator/faults", &[]).await;
    assert_eq!(faults["armed"].as_array().unwrap().len(), 0);
    assert_eq!(faults["fired"].as_array().unwrap().len(), 1);
    h.stop().await;
}
