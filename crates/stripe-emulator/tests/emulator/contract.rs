//! Every P1 endpoint driven through async-stripe's own typed requests, so each object the
//! emulator returns deserializes in the client the shop uses.

use std::collections::HashMap;

use stripe::StripeError;
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionLineItemsPriceData,
    ExpireCheckoutSession, ListCheckoutSession, ListLineItemsCheckoutSession, ProductData,
    RetrieveCheckoutSession,
};
use stripe_core::charge::RetrieveCharge;
use stripe_core::customer::{
    CreateCustomer, DeleteCustomer, ListCustomer, RetrieveCustomer, RetrieveCustomerReturned,
    UpdateCustomer,
};
use stripe_core::event::{ListEvent, RetrieveEvent};
use stripe_core::payment_intent::RetrievePaymentIntent;
use stripe_core::refund::{CreateRefund, CreateRefundReason, ListRefund, RetrieveRefund};
use stripe_product::price::{
    CreatePrice, CreatePriceRecurring, CreatePriceRecurringInterval, ListPrice, RetrievePrice,
};
use stripe_product::product::{CreateProduct, ListProduct, RetrieveProduct, UpdateProduct};
use stripe_shared::{
    CheckoutSessionMode, CheckoutSessionPaymentStatus, CheckoutSessionStatus, PaymentIntentStatus,
};

use crate::support::{Harness, location};

fn stripe_err(e: StripeError) -> (stripe::ApiErrors, u16) {
    match e {
        StripeError::Stripe(err, status) => (*err, status),
        other => panic!("expected a Stripe API error, got {other:?}"),
    }
}

#[actix_web::test]
async fn products_prices_and_customers() {
    let h = Harness::start().await;
    let c = &h.stripe;

    let prod = CreateProduct::new("T-shirt")
        .description("Gray cotton")
        .metadata(HashMap::from([("sku".to_string(), "TS-1".to_string())]))
        .send(c)
        .await
        .unwrap();
    assert!(prod.id.as_str().starts_with("prod_"));
    assert!(!prod.livemode);
    assert_eq!(prod.metadata.get("sku").map(String::as_str), Some("TS-1"));
    let got = RetrieveProduct::new(prod.id.clone()).send(c).await.unwrap();
    assert_eq!(got.name, "T-shirt");
    let upd = UpdateProduct::new(prod.id.clone())
        .name("T-shirt v2")
        .active(false)
        .send(c)
        .await
        .unwrap();
    assert_eq!(upd.name, "T-shirt v2");
    assert!(!upd.active);

    let one_time = CreatePrice::new(stripe_types::Currency::USD)
        .product(prod.id.as_str())
        .unit_amount(1999)
        .send(c)
        .await
        .unwrap();
    assert!(one_time.id.as_str().starts_with("price_"));
    assert_eq!(one_time.unit_amount, Some(1999));
    assert!(one_time.recurring.is_none());
    let monthly = CreatePrice::new(stripe_types::Currency::USD)
        .product(prod.id.as_str())
        .unit_amount(500)
        .recurring(CreatePriceRecurring::new(
            CreatePriceRecurringInterval::Month,
        ))
        .send(c)
        .await
        .unwrap();
    let rec = monthly.recurring.clone().expect("recurring");
    assert_eq!(rec.interval_count, 1);
    let got = RetrievePrice::new(monthly.id.clone())
        .send(c)
        .await
        .unwrap();
    assert_eq!(got.id, monthly.id);
    let prices = ListPrice::new()
        .product(prod.id.as_str())
        .send(c)
        .await
        .unwrap();
    assert_eq!(prices.data.len(), 2);
    assert_eq!(prices.data[0].id, monthly.id, "newest first");
    let products = ListProduct::new().limit(1).send(c).await.unwrap();
    assert_eq!(products.data.len(), 1);

    let cus = CreateCustomer::new()
        .email("ada@example.com")
        .name("Ada")
        .send(c)
        .await
        .unwrap();
    assert!(cus.id.as_str().starts_with("cus_"));
    let cus2 = UpdateCustomer::new(cus.id.clone())
        .name("Ada Lovelace")
        .send(c)
        .await
        .unwrap();
    assert_eq!(cus2.name.as_deref(), Some("Ada Lovelace"));
    match RetrieveCustomer::new(cus.id.clone()).send(c).await.unwrap() {
        RetrieveCustomerReturned::Customer(x) => {
            assert_eq!(x.email.as_deref(), Some("ada@example.com"))
        }
        other => panic!("unexpected {other:?}"),
    }
    let list = ListCustomer::new()
        .email("ada@example.com")
        .send(c)
        .await
        .unwrap();
    assert_eq!(list.data.len(), 1);
    let deleted = DeleteCustomer::new(cus.id.clone()).send(c).await.unwrap();
    assert_eq!(deleted.id, cus.id);
    match RetrieveCustomer::new(cus.id.clone()).send(c).await.unwrap() {
        RetrieveCustomerReturned::DeletedCustomer(d) => assert_eq!(d.id, cus.id),
        other => panic!("expected a deleted customer, got {other:?}"),
    }
    assert!(ListCustomer::new().send(c).await.unwrap().data.is_empty());
    let (err, status) = stripe_err(
        UpdateCustomer::new(cus.id.clone())
            .name("Ghost")
            .send(c)
            .await
            .unwrap_err(),
    );
    assert_eq!(status, 404);
    assert_eq!(err.code, Some(stripe::ApiErrorsCode::ResourceMissing));
    h.stop().await;
}

#[actix_web::test]
async fn checkout_session_create_retrieve_list_expire() {
    let h = Harness::start().await;
    let c = &h.stripe;
    let price = CreatePrice::new(stripe_types::Currency::USD)
        .product_data(stripe_product::price::CreatePriceProductData::new("Mug"))
        .unit_amount(1250)
        .send(c)
        .await
        .unwrap();
    let now = chrono::Utc::now().timestamp();
    let mut item1 = CreateCheckoutSessionLineItems::new();
    item1.price = Some(price.id.as_str().to_string());
    item1.quantity = Some(2);
    let mut pd = CreateCheckoutSessionLineItemsPriceData::new(stripe_types::Currency::USD);
    pd.product_data = Some(ProductData::new("Gift wrap"));
    pd.unit_amount = Some(300);
    let mut item2 = CreateCheckoutSessionLineItems::new();
    item2.price_data = Some(pd);
    item2.quantity = Some(1);
    let session = CreateCheckoutSession::new()
        .mode(CheckoutSessionMode::Payment)
        .line_items(vec![item1, item2])
        .client_reference_id("ORDER-42")
        .customer_email("buyer@example.com")
        .metadata(HashMap::from([(
            "order".to_string(),
            "ORDER-42".to_string(),
        )]))
        .expires_at(now + 31 * 60)
        .success_url("http://shop.test/ok?session_id={CHECKOUT_SESSION_ID}")
        .cancel_url("http://shop.test/cancel")
        .send(c)
        .await
        .unwrap();
    assert!(session.id.as_str().starts_with("cs_test_"));
    assert_eq!(session.amount_total, Some(2 * 1250 + 300));
    assert_eq!(session.status, Some(CheckoutSessionStatus::Open));
    assert_eq!(session.payment_status, CheckoutSessionPaymentStatus::Unpaid);
    assert_eq!(session.client_reference_id.as_deref(), Some("ORDER-42"));
    assert_eq!(session.expires_at, now + 31 * 60);
    let url = session.url.clone().expect("hosted url");
    assert!(url.starts_with(&h.emu.origin()), "{url}");

    let got = RetrieveCheckoutSession::new(session.id.clone())
        .expand(vec!["line_items".to_string()])
        .send(c)
        .await
        .unwrap();
    let items = got.line_items.expect("expanded line items");
    assert_eq!(items.data.len(), 2);
    assert_eq!(items.data[0].amount_total, 2500);
    assert_eq!(items.data[0].quantity, Some(2));
    assert_eq!(items.data[1].description.as_deref(), Some("Gift wrap"));
    let deep = RetrieveCheckoutSession::new(session.id.clone())
        .expand(vec!["line_items.data.price.product".to_string()])
        .send(c)
        .await
        .unwrap();
    let first = &deep.line_items.expect("line items").data[0];
    match &first.price.as_ref().expect("price").product {
        stripe_types::Expandable::Object(p) => assert_eq!(p.name, "Mug"),
        other => panic!("product not expanded: {other:?}"),
    }
    let not_expanded = RetrieveCheckoutSession::new(session.id.clone())
        .send(c)
        .await
        .unwrap();
    assert!(not_expanded.line_items.is_none());

    let li = ListLineItemsCheckoutSession::new(session.id.clone())
        .limit(1)
        .send(c)
        .await
        .unwrap();
    assert_eq!(li.data.len(), 1);
    assert!(li.has_more);

    let listed = ListCheckoutSession::new().send(c).await.unwrap();
    assert_eq!(listed.data.len(), 1);

    let expired = ExpireCheckoutSession::new(session.id.clone())
        .send(c)
        .await
        .unwrap();
    assert_eq!(expired.status, Some(CheckoutSessionStatus::Expired));
    let (err, status) = stripe_err(
        ExpireCheckoutSession::new(session.id.clone())
            .send(c)
            .await
            .unwrap_err(),
    );
    assert_eq!(status, 400);
    assert_eq!(err.type_, stripe::ApiErrorsType::InvalidRequestError);

    // expires_at outside 30 min – 24 h, recurring price in payment mode.
    let mut it = CreateCheckoutSessionLineItems::new();
    it.price = Some(price.id.as_str().to_string());
    it.quantity = Some(1);
    let (err, status) = stripe_err(
        CreateCheckoutSession::new()
            .mode(CheckoutSessionMode::Payment)
            .line_items(vec![it.clone()])
            .expires_at(now + 10 * 60)
            .success_url("http://shop.test/ok")
            .send(c)
            .await
            .unwrap_err(),
    );
    assert_eq!((status, err.param.as_deref()), (400, Some("expires_at")));
    let (err, _) = stripe_err(
        CreateCheckoutSession::new()
            .mode(CheckoutSessionMode::Payment)
            .line_items(vec![it])
            .expires_at(now + 25 * 3600)
            .send(c)
            .await
            .unwrap_err(),
    );
    assert_eq!(err.param.as_deref(), Some("expires_at"));
    h.stop().await;
}

#[actix_web::test]
async fn payment_intents_charges_refunds_and_events() {
    let h = Harness::start().await;
    let c = &h.stripe;
    let price = h.one_time_price("Book", 4000, "usd").await;
    let (sid, url) = h.session(&price, 1).await;
    let resp = h.pay(&url, "4242 4242 4242 4242").await;
    assert_eq!(resp.status(), 303);

    let s = RetrieveCheckoutSession::new(sid.as_str())
        .expand(vec!["payment_intent".to_string()])
        .send(c)
        .await
        .unwrap();
    let pi_id = s
        .payment_intent
        .as_ref()
        .expect("payment intent")
        .id()
        .clone();
    let pi = RetrievePaymentIntent::new(pi_id.clone())
        .send(c)
        .await
        .unwrap();
    assert_eq!(pi.status, PaymentIntentStatus::Succeeded);
    assert_eq!(pi.amount_received, 4000);
    let ch_id = pi.latest_charge.expect("charge").id().clone();
    let ch = RetrieveCharge::new(ch_id.clone()).send(c).await.unwrap();
    assert!(ch.paid && ch.captured);
    assert_eq!(ch.amount, 4000);
    assert_eq!(
        ch.payment_method_details
            .as_ref()
            .unwrap()
            .card
            .as_ref()
            .unwrap()
            .last4
            .as_deref(),
        Some("4242")
    );

    // Partial refund on the payment intent, then the rest on the charge.
    let r1 = CreateRefund::new()
        .payment_intent(pi_id.as_str())
        .amount(1500)
        .reason(CreateRefundReason::RequestedByCustomer)
        .send(c)
        .await
        .unwrap();
    assert!(r1.id.as_str().starts_with("re_"));
    assert_eq!(r1.amount, 1500);
    assert_eq!(r1.status.as_deref(), Some("succeeded"));
    let (err, status) = stripe_err(
        CreateRefund::new()
            .charge(ch_id.as_str())
            .amount(2501)
            .send(c)
            .await
            .unwrap_err(),
    );
    assert_eq!((status, err.param.as_deref()), (400, Some("amount")));
    let r2 = CreateRefund::new()
        .charge(ch_id.as_str())
        .send(c)
        .await
        .unwrap();
    assert_eq!(r2.amount, 2500);
    let ch = RetrieveCharge::new(ch_id.clone()).send(c).await.unwrap();
    assert!(ch.refunded);
    assert_eq!(ch.amount_refunded, 4000);
    assert!(
        ch.refunds.is_none(),
        "refunds are listed only when expanded"
    );
    let ch = RetrieveCharge::new(ch_id.clone())
        .expand(vec!["refunds".to_string()])
        .send(c)
        .await
        .unwrap();
    assert_eq!(ch.refunds.expect("expanded").data.len(), 2);
    let (err, _) = stripe_err(
        CreateRefund::new()
            .charge(ch_id.as_str())
            .send(c)
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, Some(stripe::ApiErrorsCode::ChargeAlreadyRefunded));
    let refunds = ListRefund::new()
        .charge(ch_id.as_str())
        .send(c)
        .await
        .unwrap();
    assert_eq!(refunds.data.len(), 2);
    let got = RetrieveRefund::new(r1.id.clone()).send(c).await.unwrap();
    assert_eq!(
        got.reason,
        Some(stripe_shared::RefundReason::RequestedByCustomer)
    );
    // The reason enum is enforced.
    let (s2, body) = h
        .post(
            "/v1/refunds",
            &[("payment_intent", pi_id.as_str()), ("reason", "because")],
        )
        .await;
    assert_eq!(s2, 400);
    assert_eq!(body["error"]["param"], "reason");

    // Events: type filter, created range, pagination, retrieve.
    let ev = ListEvent::new()
        .type_("charge.refunded")
        .send(c)
        .await
        .unwrap();
    assert_eq!(ev.data.len(), 2);
    let all = ListEvent::new().limit(100).send(c).await.unwrap();
    assert!(all.data.len() >= 8, "{}", all.data.len());
    let page1 = ListEvent::new().limit(3).send(c).await.unwrap();
    assert!(page1.has_more);
    let page2 = ListEvent::new()
        .limit(3)
        .starting_after(page1.data[2].id.as_str())
        .send(c)
        .await
        .unwrap();
    assert_eq!(page2.data[0].id, all.data[3].id);
    let wildcard = ListEvent::new()
        .type_("refund.*")
        .limit(100)
        .send(c)
        .await
        .unwrap();
    assert!(
        wildcard
            .data
            .iter()
            .all(|e| e.type_.as_str().starts_with("refund."))
    );
    assert_eq!(wildcard.data.len(), 2);
    let future = ListEvent::new()
        .created(stripe_types::RangeQueryTs::gte(
            chrono::Utc::now().timestamp() + 3600,
        ))
        .send(c)
        .await
        .unwrap();
    assert!(future.data.is_empty());
    let one = RetrieveEvent::new(all.data[0].id.clone())
        .send(c)
        .await
        .unwrap();
    assert_eq!(one.id, all.data[0].id);

    // Every delivered event is signed and parses with construct_event.
    h.hooks.wait_for("charge.refunded").await;
    assert!(h.hooks.failures().is_empty(), "{:?}", h.hooks.failures());
    let _ = location(&resp);
    h.stop().await;
}

#[actix_web::test]
async fn webhook_endpoints_create_list_delete() {
    let h = Harness::start().await;
    let (s, ep) = h
        .post(
            "/v1/webhook_endpoints",
            &[
                ("url", "http://127.0.0.1:9/other"),
                ("enabled_events[]", "checkout.session.completed"),
                ("enabled_events[]", "charge.refunded"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{ep}");
    assert!(ep["id"].as_str().unwrap().starts_with("we_"));
    assert!(ep["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(ep["enabled_events"].as_array().unwrap().len(), 2);
    let (_, list) = h.get("/v1/webhook_endpoints", &[]).await;
    // The configured endpoint plus this one; secrets are not listed.
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e.get("secret").is_none())
    );
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    let id = ep["id"].as_str().unwrap();
    let (s, del) = h
        .api(
            reqwest::Method::DELETE,
            &format!("/v1/webhook_endpoints/{id}"),
            &[],
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(del["deleted"], true);
    let (s, err) = h.get(&format!("/v1/webhook_endpoints/{id}"), &[]).await;
    assert_eq!(s, 404);
    assert_eq!(err["error"]["code"], "resource_missing");
    let (s, err) = h.post("/v1/webhook_endpoints", &[("url", "ftp://x")]).await;
    assert_eq!(s, 400);
    assert!(err["error"]["param"].is_string());
    h.stop().await;
}
