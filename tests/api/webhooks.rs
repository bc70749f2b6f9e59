//! The webhook endpoint: verification, and exactly-once fulfilment however Stripe delivers.

use serde_json::Value;

use crate::helpers::*;

/// A paid order whose webhooks were all dropped, and its `checkout.session.completed` event.
async fn paid_without_webhooks(app: &TestApp) -> (String, String, String) {
    app.emulator_post("_emulator/webhooks", &[("drop", "100")])
        .await;
    app.add_to_cart("canvas-tote", 2).await;
    let session_url = app.checkout().await;
    let session_id = session_id_of(&session_url);
    let order = app.order_by_session(&session_id).await;
    app.pay_ok(&session_url).await;
    app.wait_for_deliveries().await;
    let events = app
        .session_events(&session_id, "checkout.session.completed")
        .await;
    assert_eq!(events.len(), 1);
    (order.number, session_id, events[0].clone())
}

async fn event_count(app: &TestApp) -> i64 {
    use diesel::prelude::*;
    use storefront::schema::stripe_events;
    storefront::db::run(&app.pool, |conn| {
        stripe_events::table
            .count()
            .get_result(conn)
            .map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap()
}

#[actix_web::test]
async fn forged_old_or_garbled_webhooks_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let (number, _, event) = paid_without_webhooks(&app).await;
    let tampered = event.replace("\"amount_total\":3600", "\"amount_total\":1");
    let wrong_secret =
        stripe_webhook::Webhook::generate_test_header(&event, "whsec_not_ours", None);
    let cases: Vec<(&str, String, String)> = vec![
        ("wrong secret", event.clone(), wrong_secret),
        ("tampered body", tampered, app.sign(&event, 0)),
        ("old timestamp", event.clone(), app.sign(&event, 400)),
        ("future timestamp", event.clone(), app.sign(&event, -400)),
        ("garbage signature", event.clone(), "t=abc,v1=zzz".into()),
        ("garbage body", "{not json".into(), app.sign("{not json", 0)),
        ("empty body", String::new(), app.sign("", 0)),
    ];
    for (what, body, sig) in cases {
        let res = app.post_webhook(&body, &sig).await;
        assert_eq!(res.status().as_u16(), 400, "{what}");
    }
    let res = reqwest::Client::new()
        .post(app.url("/webhooks/stripe"))
        .body(event.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400, "no signature header");
    assert_eq!(app.order(&number).await.status, "pending");
    assert_eq!(event_count(&app).await, 0, "nothing recorded");

    // The genuine one still works afterwards.
    let res = app.post_webhook(&event, &app.sign(&event, 0)).await;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(app.order(&number).await.status, "paid");
}

#[actix_web::test]
async fn the_same_event_five_times_at_once_fulfils_once() {
    let app = TestApp::spawn().await;
    let (number, _, event) = paid_without_webhooks(&app).await;
    let sig = app.sign(&event, 0);
    let results =
        futures_util::future::join_all((0..5).map(|_| app.post_webhook(&event, &sig))).await;
    for r in &results {
        assert_eq!(r.status().as_u16(), 200);
    }
    assert_eq!(app.order(&number).await.status, "paid");
    assert_eq!(app.stock("canvas-tote").await, Some(38), "stock taken once");
    assert_eq!(event_count(&app).await, 1, "the event is recorded once");
}

#[actix_web::test]
async fn events_in_reverse_order_end_paid_once() {
    let app = TestApp::spawn().await;
    app.emulator_post(
        "_emulator/webhooks",
        &[("hold", "true"), ("reverse", "true")],
    )
    .await;
    app.add_to_cart("canvas-tote", 1).await;
    let session_url = app.checkout().await;
    let order = app.order_by_session(&session_id_of(&session_url)).await;
    app.pay_ok(&session_url).await;
    app.emulator_post("_emulator/webhooks/release", &[]).await;
    app.wait_for_deliveries().await;
    let order = app.wait_for_status(&order.number, "paid").await;
    assert!(order.stock_committed);
    assert_eq!(app.stock("canvas-tote").await, Some(39));
}

/// The completed event rewritten as another type (a stale or misordered delivery).
fn as_type(event: &str, type_: &str, id: &str) -> String {
    let mut v: Value = serde_json::from_str(event).unwrap();
    v["type"] = Value::String(type_.into());
    v["id"] = Value::String(id.into());
    v.to_string()
}

#[actix_web::test]
async fn expired_after_completed_and_completed_after_expired_both_end_paid() {
    let app = TestApp::spawn().await;
    let (number, _, completed) = paid_without_webhooks(&app).await;
    let expired = as_type(&completed, "checkout.session.expired", "evt_fake_expired_1");

    // `expired` first: Stripe shows the session complete, so the order is paid, not expired.
    let res = app.post_webhook(&expired, &app.sign(&expired, 0)).await;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(app.order(&number).await.status, "paid");
    let res = app.post_webhook(&completed, &app.sign(&completed, 0)).await;
    assert_eq!(res.status().as_u16(), 200);
    // And once more `expired` after `completed`.
    let late = as_type(&completed, "checkout.session.expired", "evt_fake_expired_2");
    app.post_webhook(&late, &app.sign(&late, 0)).await;
    let order = app.order(&number).await;
    assert_eq!(order.status, "paid");
    assert_eq!(
        app.stock("canvas-tote").await,
        Some(38),
        "stock taken once, never released"
    );
    assert_eq!(app.held("canvas-tote").await, 0);
}

#[actix_web::test]
async fn webhook_and_success_page_racing_fulfil_once() {
    let app = TestApp::spawn().await;
    app.emulator_post("_emulator/webhooks", &[("hold", "true")])
        .await;
    app.add_to_cart("canvas-tote", 3).await;
    let session_url = app.checkout().await;
    let order = app.order_by_session(&session_id_of(&session_url)).await;
    let success = app.pay_ok(&session_url).await;
    let path = success.trim_start_matches(&app.address).to_owned();
    let (page, _) = tokio::join!(
        app.get_html(&path),
        app.emulator_post("_emulator/webhooks/release", &[])
    );
    assert_eq!(page.0, 200);
    app.wait_for_deliveries().await;
    assert_eq!(app.order(&order.number).await.status, "paid");
    assert_eq!(app.stock("canvas-tote").await, Some(37));
}

#[actix_web::test]
async fn a_failure_rolls_back_answers_500_and_the_retry_succeeds() {
    let app = TestApp::spawn().await;
    let (number, _, event) = paid_without_webhooks(&app).await;
    // Break the database under the handler, midway: the order row can move to paid and the
    // event can be recorded, but taking the stock fails, so all of it must roll back.
    let rename = |sql: &'static str| {
        let pool = app.pool.clone();
        async move {
            storefront::db::run(&pool, move |conn| {
                use diesel::connection::SimpleConnection;
                conn.batch_execute(sql)
                    .map_err(storefront::db::DbError::from)
            })
            .await
            .unwrap()
        }
    };
    rename("ALTER TABLE stock_reservations RENAME TO stock_reservations_away").await;
    let res = app.post_webhook(&event, &app.sign(&event, 0)).await;
    assert_eq!(
        res.status().as_u16(),
        500,
        "our failure asks Stripe to retry"
    );
    rename("ALTER TABLE stock_reservations_away RENAME TO stock_reservations").await;
    assert_eq!(app.order(&number).await.status, "pending", "rolled back");
    assert_eq!(
        event_count(&app).await,
        0,
        "the event is not recorded when its effects fail"
    );
    assert_eq!(app.stock("canvas-tote").await, Some(40));

    let res = app.post_webhook(&event, &app.sign(&event, 0)).await;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(app.order(&number).await.status, "paid");
    assert_eq!(app.stock("canvas-tote").await, Some(38));
}

#[actix_web::test]
async fn unknown_event_types_are_acknowledged_and_recorded() {
    let app = TestApp::spawn().await;
    let body = r#"{"id":"evt_unknown_1","object":"event","api_version":"2026-09-30.endive","created":1800000000,"data":{"object":{"id":"thing_1","object":"thing"}},"livemode":false,"pending_webhooks":1,"request":{"id":null,"idempotency_key":null},"type":"thing.happened"}"#;
    let res = app.post_webhook(body, &app.sign(body, 0)).await;
    assert_eq!(res.status().as_u16(), 200);
    let res = app.post_webhook(body, &app.sign(body, 0)).await;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(event_count(&app).await, 1);
}

#[actix_web::test]
async fn a_session_that_does_not_match_its_order_is_flagged_not_fulfilled() {
    let app = TestApp::spawn().await;
    app.add_to_cart("canvas-tote", 1).await;
    // The first create never answers usefully: the order has no session of its own yet.
    let order = app.order_without_session().await;

    // A session for the same order number, but for 1 cent: someone tampered.
    let forged = app
        .emulator_post(
            "v1/checkout/sessions",
            &[
                ("mode", "payment"),
                ("line_items[0][price_data][currency]", "usd"),
                ("line_items[0][price_data][unit_amount]", "1"),
                (
                    "line_items[0][price_data][product_data][name]",
                    "Canvas tote bag",
                ),
                ("line_items[0][quantity]", "1"),
                ("client_reference_id", order.number.as_str()),
                ("success_url", "http://127.0.0.1/ok"),
            ],
        )
        .await;
    app.pay_ok(forged["url"].as_str().unwrap()).await;
    app.wait_for_deliveries().await;
    let order = app.order(&order.number).await;
    assert_eq!(order.status, "pending", "not fulfilled");
    assert!(
        order
            .flagged
            .as_deref()
            .unwrap_or_default()
            .contains("subtotal"),
        "{:?}",
        order.flagged
    );
    assert!(!order.stock_committed);
    assert_eq!(app.stock("canvas-tote").await, Some(40));
}

#[actix_web::test]
async fn an_async_bank_debit_shows_processing_then_settles_to_paid() {
    let app = TestApp::spawn().await;
    app.add_to_cart("merino-beanie", 2).await;
    let session_url = app.checkout().await;
    let order = app.order_by_session(&session_id_of(&session_url)).await;
    let res = pay_by_bank(&session_url, "shopper@example.com", "000123456789").await;
    assert_eq!(
        res.status().as_u16(),
        303,
        "{}",
        res.text().await.unwrap_or_default()
    );
    let success = location(&res);
    let (_, html) = app.get_html(success.trim_start_matches(&app.address)).await;
    assert_eq!(
        select_text(&html, "#order-status"),
        vec!["Payment processing — we'll e-mail you"]
    );
    assert_eq!(app.order(&order.number).await.status, "processing");
    assert_eq!(
        app.held("merino-beanie").await,
        2,
        "still held while the debit settles"
    );

    app.emulator_post("_emulator/run_jobs", &[]).await;
    app.wait_for_status(&order.number, "paid").await;
    assert_eq!(app.stock("merino-beanie").await, Some(10));
    assert_eq!(app.held("merino-beanie").await, 0);
}

#[actix_web::test]
async fn a_failed_bank_debit_ends_payment_failed_and_releases_stock() {
    let app = TestApp::spawn().await;
    app.add_to_cart("merino-beanie", 2).await;
    let session_url = app.checkout().await;
    let order = app.order_by_session(&session_id_of(&session_url)).await;
    let res = pay_by_bank(&session_url, "shopper@example.com", "000111111113").await;
    assert_eq!(res.status().as_u16(), 303);
    app.wait_for_status(&order.number, "processing").await;
    app.emulator_post("_emulator/run_jobs", &[]).await;
    app.wait_for_status(&order.number, "payment_failed").await;
    assert_eq!(app.held("merino-beanie").await, 0);
    assert_eq!(app.stock("merino-beanie").await, Some(12));
}

#[actix_web::test]
async fn declined_attempts_are_recorded_with_their_decline_codes_once() {
    let app = TestApp::spawn().await;
    app.emulator_post("_emulator/webhooks", &[("duplicate", "50")])
        .await;
    app.add_to_cart("canvas-tote", 1).await;
    let session_url = app.checkout().await;
    let order = app.order_by_session(&session_id_of(&session_url)).await;
    app.pay(&session_url, CARD_DECLINED).await;
    app.pay(&session_url, CARD_INSUFFICIENT).await;
    app.wait_for_deliveries().await;
    use diesel::prelude::*;
    use storefront::schema::payment_failures;
    let rows: Vec<(String, Option<i64>)> = storefront::db::run(&app.pool, |conn| {
        payment_failures::table
            .order(payment_failures::created_at.asc())
            .select((payment_failures::decline_code, payment_failures::order_id))
            .load(conn)
            .map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap();
    let mut codes: Vec<&str> = rows.iter().map(|(c, _)| c.as_str()).collect();
    codes.sort();
    assert_eq!(
        codes,
        vec!["generic_decline", "insufficient_funds"],
        "one row per attempt despite duplicates"
    );
    assert!(rows.iter().all(|(_, o)| *o == Some(order.id)));
    assert_eq!(
        app.order(&order.number).await.status,
        "pending",
        "a decline changes no order"
    );
}

/// A JSON value of any shape, a few levels deep: what a body could hold where we expect a
/// Stripe object.
fn any_json() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        "(cs|pi|ch|re|in|sub|dp)_[a-zA-Z0-9]{0,14}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("id".to_owned()),
                    Just("object".to_owned()),
                    Just("status".to_owned()),
                    Just("payment_status".to_owned()),
                    Just("payment_intent".to_owned()),
                    Just("charge".to_owned()),
                    Just("amount".to_owned()),
                    Just("metadata".to_owned()),
                    "[a-z_]{1,10}",
                ],
                inner,
                0..6,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A generated object, given the generated id (if any) as most Stripe objects carry one.
fn with_id(object: Value, id: Option<String>) -> Value {
    match (object, id) {
        (object, None) => object,
        (Value::Object(mut map), Some(id)) => {
            map.insert("id".to_owned(), Value::from(id));
            Value::Object(map)
        }
        (other, Some(id)) => serde_json::json!({ "id": id, "extra": other }),
    }
}

#[actix_web::test]
async fn genuine_events_of_any_shape_get_an_answer_and_never_a_server_error() {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::TestRunner;
    let app = TestApp::spawn().await;
    let mut types = storefront::webhooks::events::handled_types();
    types.push("product.updated".to_owned());
    let mut runner = TestRunner::deterministic();
    // Most objects carry an id, so most events reach their handler (which asks Stripe, here
    // the emulator, about an object it may not know).
    let strategy = (
        proptest::sample::select(types),
        any_json(),
        proptest::option::weighted(0.8, "(cs|pi|ch|re|in|sub|dp)_(test_)?[a-zA-Z0-9]{1,14}"),
    );
    for n in 0..200 {
        let (type_, object, id) = strategy.new_tree(&mut runner).unwrap().current();
        let object = with_id(object, id);
        let event = serde_json::json!({
            "id": format!("evt_fuzz_{n}"),
            "object": "event",
            "api_version": storefront::payments::webhook_endpoints::pinned_version(),
            "created": chrono::Utc::now().timestamp(),
            "livemode": false,
            "pending_webhooks": 1,
            "request": { "id": null, "idempotency_key": null },
            "type": type_,
            "data": { "object": object },
        })
        .to_string();
        let res = app.post_webhook(&event, &app.sign(&event, 0)).await;
        let status = res.status().as_u16();
        assert!(
            status == 200 || status == 400,
            "{status} for {event}: {}",
            res.text().await.unwrap_or_default()
        );
    }
    // A handled type's object that Stripe's types cannot read never gets past the parser (400):
    // the handlers get such objects only from the events list (reconcile), as JSON. So feed
    // them the same shapes directly: each ends in an outcome, or in a Stripe answer (the
    // emulator does not know the object; a webhook would answer 500 and Stripe retry), never
    // in a database error or a panic.
    let mut handled = 0;
    for n in 0..200 {
        let (type_, object, id) = strategy.new_tree(&mut runner).unwrap().current();
        let object = with_id(object, id);
        let kind = storefront::webhooks::events::EventKind::of(&type_, &object);
        if kind != storefront::webhooks::events::EventKind::Other {
            handled += 1;
        }
        let record = storefront::webhooks::ledger::EventRecord::of(
            &format!("evt_fuzz_listed_{n}"),
            &type_,
            chrono::Utc::now().timestamp(),
            &object,
        );
        match storefront::webhooks::dispatch::process(&app.state, record, kind).await {
            Ok(_) | Err(storefront::error::SyncError::Stripe(_)) => {}
            Err(e) => panic!("{object}: {}", storefront::error::Report(&e)),
        }
    }
    assert!(handled >= 100, "only {handled} of 200 reached a handler");
    // The shop still works.
    app.add_to_cart("canvas-tote", 1).await;
}
