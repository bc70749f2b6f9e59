//! Auth, idempotency, bad input, persistence, signatures and retries.

use std::time::Duration;

use serde_json::Value;
use stripe::{IdempotencyKey, RequestStrategy, StripeError, StripeRequest};
use stripe_emulator::{Emulator, EmulatorConfig, WebhookTarget};
use stripe_product::product::{CreateProduct, RetrieveProduct};

use crate::support::{Harness, KEY, Receiver, SECRET, client_for, http};

fn assert_stripe_error(v: &Value, kind: &str) {
    let e = &v["error"];
    assert_eq!(e["type"], kind, "{v}");
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
}

#[actix_web::test]
async fn api_key_is_required() {
    let h = Harness::start().await;
    let url = h.url("/v1/products");
    let none = h.http.get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert_stripe_error(&none.json().await.unwrap(), "invalid_request_error");
    for bad in ["sk_live_123", "pk_test_123", "sk_test_"] {
        let r = h.http.get(&url).bearer_auth(bad).send().await.unwrap();
        assert_eq!(r.status(), 401, "{bad}");
    }
    let basic = h
        .http
        .get(&url)
        .basic_auth("sk_test_basic", None::<&str>)
        .send()
        .await
        .unwrap();
    assert_eq!(
        basic.status(),
        200,
        "HTTP Basic with the key as user name, like curl -u"
    );
    let ok = h
        .http
        .get(&url)
        .bearer_auth("sk_test_anything")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    // async-stripe sees the 401 as a Stripe error.
    let bad = stripe::ClientBuilder::new("sk_live_nope")
        .url(h.emu.base_url().as_str())
        .build()
        .unwrap();
    match CreateProduct::new("x").send(&bad).await {
        Err(StripeError::Stripe(_, 401)) => {}
        other => panic!("expected 401, got {other:?}"),
    }
    h.stop().await;
}

#[actix_web::test]
async fn idempotency_replay_and_conflict() {
    let h = Harness::start().await;
    let send = |name: &'static str, key: &'static str| {
        h.http
            .post(h.url("/v1/products"))
            .bearer_auth(KEY)
            .header("Idempotency-Key", key)
            .form(&[("name", name)])
            .send()
    };
    let first = send("Hat", "k-1").await.unwrap();
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    let again = send("Hat", "k-1").await.unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(first["id"], again["id"]);
    let (_, list) = h.get("/v1/products", &[]).await;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        1,
        "replay created nothing"
    );
    let conflict = send("Scarf", "k-1").await.unwrap();
    assert_eq!(conflict.status(), 400);
    assert_stripe_error(&conflict.json().await.unwrap(), "idempotency_error");

    // Through async-stripe's own strategy.
    let key = IdempotencyKey::new("typed-key").unwrap();
    let a = CreateProduct::new("Cap")
        .customize()
        .request_strategy(RequestStrategy::Idempotent(key.clone()))
        .send(&h.stripe)
        .await
        .unwrap();
    let b = CreateProduct::new("Cap")
        .customize()
        .request_strategy(RequestStrategy::Idempotent(key.clone()))
        .send(&h.stripe)
        .await
        .unwrap();
    assert_eq!(a.id, b.id);
    match CreateProduct::new("Other")
        .customize()
        .request_strategy(RequestStrategy::Idempotent(key))
        .send(&h.stripe)
        .await
    {
        Err(StripeError::Stripe(e, 400)) => {
            assert_eq!(e.type_, stripe::ApiErrorsType::IdempotencyError)
        }
        other => panic!("expected idempotency_error, got {other:?}"),
    }
    // Errors are replayed too.
    let e1 = send("", "k-err").await.unwrap();
    assert_eq!(e1.status(), 400);
    let e2 = send("", "k-err").await.unwrap();
    assert_eq!(e2.status(), 400);
    assert_eq!(e2.headers()["idempotent-replayed"], "true");
    h.stop().await;
}

#[actix_web::test]
async fn bad_input_gets_stripe_shaped_4xx() {
    let h = Harness::start().await;
    // Unknown parameter.
    let (s, v) = h
        .post("/v1/products", &[("name", "A"), ("colour", "red")])
        .await;
    assert_eq!(s, 400);
    assert_eq!(v["error"]["code"], "parameter_unknown");
    assert_eq!(v["error"]["param"], "colour");
    // Unknown nested parameter.
    let (s, v) = h
        .post(
            "/v1/checkout/sessions",
            &[("mode", "payment"), ("line_items[0][prise]", "x")],
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(v["error"]["param"], "line_items[0][prise]");
    // Wrong types.
    let (s, v) = h
        .post(
            "/v1/prices",
            &[
                ("currency", "usd"),
                ("unit_amount", "ten"),
                ("product_data[name]", "A"),
            ],
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(v["error"]["code"], "parameter_invalid_integer");
    assert_eq!(v["error"]["param"], "unit_amount");
    let (s, v) = h
        .post("/v1/products", &[("name", "A"), ("active", "maybe")])
        .await;
    assert_eq!((s, v["error"]["param"].as_str()), (400, Some("active")));
    let (s, v) = h.post("/v1/products", &[("name[x]", "A")]).await;
    assert_eq!((s, v["error"]["param"].as_str()), (400, Some("name")));
    let (s, v) = h.post("/v1/checkout/sessions", &[("mode", "rental")]).await;
    assert_eq!((s, v["error"]["param"].as_str()), (400, Some("mode")));
    // Missing required parameter.
    let (s, v) = h.post("/v1/products", &[]).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("parameter_missing"))
    );
    // Malformed body.
    let deep = format!("a{}=1", "[b]".repeat(50_000));
    for body in [
        "a[b=1",
        "[x]=1",
        "a]=1",
        "%ZZ&&&==",
        "{\"json\": true}",
        "name=a&name[x]=b",
        deep.as_str(),
    ] {
        let r = h
            .http
            .post(h.url("/v1/products"))
            .bearer_auth(KEY)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        assert!((400..500).contains(&status), "{body}: {status}");
        assert_stripe_error(&r.json().await.unwrap(), "invalid_request_error");
    }
    // Huge body.
    let huge = format!("name={}", "x".repeat(400 * 1024));
    let r = h
        .http
        .post(h.url("/v1/products"))
        .bearer_auth(KEY)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_stripe_error(&r.json().await.unwrap(), "invalid_request_error");
    // Unknown route and missing objects.
    let (s, v) = h.get("/v1/nothing_here", &[]).await;
    assert_eq!(s, 404);
    assert_stripe_error(&v, "invalid_request_error");
    let (s, v) = h.get("/v1/checkout/sessions/cs_test_missing", &[]).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (404, Some("resource_missing"))
    );
    let (s, v) = h
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "payment"),
                ("line_items[0][price]", "price_nope"),
                ("line_items[0][quantity]", "1"),
            ],
        )
        .await;
    assert_eq!(
        (s, v["error"]["param"].as_str()),
        (400, Some("line_items[0][price]"))
    );
    let (s, v) = h.get("/v1/events", &[("limit", "1000")]).await;
    assert_eq!((s, v["error"]["param"].as_str()), (400, Some("limit")));
    let (s, v) = h
        .post("/v1/refunds", &[("payment_intent", "pi_nope")])
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("resource_missing"))
    );
    h.stop().await;
}

#[actix_web::test]
async fn state_survives_a_restart_with_a_file_database() {
    let path = std::env::temp_dir().join(format!(
        "emu-restart-{}-{}.db",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
    ));
    let db = path.to_string_lossy().to_string();
    let config = EmulatorConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        db: db.clone(),
        webhook: Some(WebhookTarget {
            url: "http://127.0.0.1:9/hook".parse().unwrap(),
            secret: "whsec_one".into(),
            enabled_events: vec!["*".into()],
            api_version: None,
        }),
        rate_limits: Default::default(),
    };
    let emu = Emulator::start(config.clone()).await.unwrap();
    let prod = CreateProduct::new("Durable")
        .send(&client_for(&emu))
        .await
        .unwrap();
    emu.stop().await;

    // Same file, same endpoint URL with a new secret: updated, not duplicated.
    let mut config = config;
    if let Some(w) = config.webhook.as_mut() {
        w.secret = "whsec_two".into();
        w.enabled_events = vec!["checkout.session.completed".into()];
    }
    let emu = Emulator::start(config).await.unwrap();
    let got = RetrieveProduct::new(prod.id.clone())
        .send(&client_for(&emu))
        .await
        .unwrap();
    assert_eq!(got.name, "Durable");
    let get = |path: &str| {
        http()
            .get(format!("{}{path}", emu.origin()))
            .bearer_auth(KEY)
            .send()
    };
    let endpoints: Value = get("/v1/webhook_endpoints")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let data = endpoints["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(
        data[0]["enabled_events"],
        serde_json::json!(["checkout.session.completed"])
    );
    let events: Value = get("/v1/events").await.unwrap().json().await.unwrap();
    assert_eq!(
        events["data"][0]["type"], "product.created",
        "events survive too"
    );
    emu.stop().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{db}{suffix}"));
    }
}

#[actix_web::test]
async fn deliveries_are_retried_and_signed_with_wall_clock_time() {
    let hooks = Receiver::start().await;
    hooks
        .inbox
        .fail_first
        .store(2, std::sync::atomic::Ordering::SeqCst);
    let emu = Emulator::start(EmulatorConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        db: ":memory:".into(),
        webhook: Some(WebhookTarget {
            url: hooks.url(),
            secret: SECRET.into(),
            enabled_events: vec!["product.created".into()],
            api_version: None,
        }),
        rate_limits: Default::default(),
    })
    .await
    .unwrap();
    let c = client_for(&emu);
    // Move the test clock a day ahead: `created` follows it, the signature does not.
    let r = http()
        .post(format!("{}/_emulator/clock/advance", emu.origin()))
        .bearer_auth(KEY)
        .form(&[("seconds", "86400")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let started = std::time::Instant::now();
    let prod = CreateProduct::new("Retry me").send(&c).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "API does not wait for webhooks"
    );
    let ev = hooks.wait_for("product.created").await;
    assert_eq!(ev.json["data"]["object"]["id"], prod.id.as_str());
    assert!(hooks.inbox.hits.load(std::sync::atomic::Ordering::SeqCst) >= 3);
    let now = chrono::Utc::now().timestamp();
    assert!((now - ev.signature_t).abs() < 30, "t is wall-clock time");
    assert!(
        ev.json["created"].as_i64().unwrap() >= now + 86_000,
        "created uses the test clock"
    );
    // Only enabled events are delivered.
    stripe_core::customer::CreateCustomer::new()
        .send(&c)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(hooks.kinds(), vec!["product.created".to_string()]);
    let log: Value = http()
        .get(format!("{}/_emulator/deliveries", emu.origin()))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(log["data"][0]["state"], "delivered");
    assert_eq!(log["data"][0]["attempts"], 3);
    emu.stop().await;
    hooks.stop().await;
}

/// Malformed and hostile input on every route: always a Stripe-shaped 4xx, never a 5xx.
#[actix_web::test]
async fn no_route_answers_5xx_to_bad_input() {
    let h = Harness::start().await;
    let price = h.one_time_price("Fuzz", 100, "usd").await;
    let (sid, _) = h.session(&price, 1).await;
    let posts = [
        "/v1/products".to_string(),
        "/v1/prices".to_string(),
        "/v1/customers".to_string(),
        "/v1/checkout/sessions".to_string(),
        format!("/v1/checkout/sessions/{sid}/expire"),
        "/v1/refunds".to_string(),
        "/v1/webhook_endpoints".to_string(),
        "/v1/subscriptions/sub_nope".to_string(),
        "/v1/billing_portal/sessions".to_string(),
        "/v1/billing_portal/configurations".to_string(),
        "/v1/shipping_rates".to_string(),
        "/v1/shipping_rates/shr_nope".to_string(),
        format!("/v1/products/{}", "prod_nope"),
        format!("/v1/prices/{price}"),
    ];
    let bodies: Vec<String> = vec![
        "a=1".into(),
        "metadata=x".into(),
        format!("metadata[{}]=v", "k".repeat(41)),
        "metadata[k]=".into(),
        "line_items=x".into(),
        "line_items[0]=x".into(),
        "line_items[x][price]=p".into(),
        "line_items[0][price_data]=x".into(),
        "line_items[0][price_data][unit_amount]=99999999999999999999".into(),
        "line_items[0][quantity]=-4&line_items[0][price]=x&mode=payment".into(),
        "mode=payment&line_items[0][price_data][currency]=usd&line_items[0][price_data][unit_amount]=1&line_items[0][quantity]=1".into(),
        "expand[]=nothing".into(),
        "expand[0][x]=1".into(),
        "amount=-1&charge=ch_x".into(),
        "expires_at=abc".into(),
        "recurring[interval]=decade&currency=usd&unit_amount=1&product_data[name]=x".into(),
        "currency=usdollars&unit_amount=1&product_data[name]=x".into(),
        "customer=cus_nope".into(),
        "url=javascript:alert(1)&enabled_events[]=*".into(),
        "name=%00%FF%FE".into(),
        "features[subscription_update][products][0][prices]=x".into(),
        "cancel_at_period_end=yes".into(),
        "items[0][price]=price_nope".into(),
        "shipping=x".into(),
        "shipping[address]=x&shipping[name]=n".into(),
        "display_name=x&fixed_amount[amount]=99999999999999999999&fixed_amount[currency]=usd".into(),
        "display_name=x&fixed_amount=5".into(),
        "delivery_estimate[minimum]=x".into(),
        "shipping_address_collection=x".into(),
        "shipping_address_collection[allowed_countries][0][x]=US".into(),
        "mode=payment&line_items[0][price_data][currency]=usd&line_items[0][price_data][unit_amount]=1&line_items[0][price_data][product_data][name]=x&line_items[0][quantity]=1&shipping_options[0]=x".into(),
        "mode=payment&line_items[0][price_data][currency]=usd&line_items[0][price_data][unit_amount]=1&line_items[0][price_data][product_data][name]=x&line_items[0][quantity]=1&shipping_options[0][shipping_rate_data][display_name]=x&shipping_options[0][shipping_rate_data][fixed_amount][amount]=99999999&shipping_options[0][shipping_rate_data][fixed_amount][currency]=usd&shipping_options[0][shipping_rate_data][delivery_estimate][minimum][unit]=month&shipping_options[0][shipping_rate_data][delivery_estimate][minimum][value]=99999999999".into(),
    ];
    for path in &posts {
        for body in &bodies {
            let r = h
                .http
                .post(h.url(path))
                .bearer_auth(KEY)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let v: Value = r
                .json()
                .await
                .unwrap_or_else(|e| panic!("{path} {body}: not JSON: {e}"));
            assert!(status < 500, "{path} with {body}: {status} {v}");
            if status >= 400 {
                assert_stripe_error(&v, v["error"]["type"].as_str().unwrap_or("?"));
            }
        }
    }
    let gets = [
        "/v1/events?limit=0",
        "/v1/events?limit=abc",
        "/v1/events?created[gte]=x",
        "/v1/events?created[between]=1",
        "/v1/events?starting_after=evt_nope",
        "/v1/checkout/sessions?expand[]=data.line_items.x",
        "/v1/checkout/sessions?status=weird",
        "/v1/prices?type=x",
        "/v1/subscriptions?status=x",
        "/v1/invoices/in_nope",
        "/v1/charges/ch_nope?expand[]=payment_intent",
    ];
    for path in gets {
        let r = h
            .http
            .get(h.url(path))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap();
        assert!((400..500).contains(&status), "{path}: {status} {v}");
        assert_stripe_error(&v, "invalid_request_error");
    }
    // Hosted pages with junk.
    for (path, body) in [
        (format!("/c/pay/{sid}"), "email=x&card_number=abc"),
        (format!("/c/pay/{sid}"), "%%%"),
        (
            format!("/c/pay/{sid}"),
            "shipping_rate=shr_x&shipping_country=%00&phone=%FF&action=update_address",
        ),
        (format!("/c/pay/{sid}/3ds"), "action=approve"),
        ("/c/pay/cs_test_nope".to_string(), "email=a@b.c"),
        ("/p/session/nope/cancel".to_string(), "subscription=sub_x"),
    ] {
        let r = h.http.post(h.url(&path)).body(body).send().await.unwrap();
        assert!(r.status().as_u16() < 500, "{path}: {}", r.status());
    }
    h.stop().await;
}

/// The emulator also runs on a plain tokio runtime (no actix System, no LocalSet).
#[tokio::test]
async fn runs_on_a_plain_tokio_runtime() {
    let emu = Emulator::start(EmulatorConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        db: ":memory:".into(),
        webhook: None,
        rate_limits: Default::default(),
    })
    .await
    .unwrap();
    assert_eq!(emu.base_url().as_str(), format!("{}/", emu.origin()));
    let prod = CreateProduct::new("Tokio")
        .send(&client_for(&emu))
        .await
        .unwrap();
    assert!(prod.id.as_str().starts_with("prod_"));
    emu.stop().await;
}

/// Extreme numbers are refused, not overflowed.
#[actix_web::test]
async fn extreme_numbers_do_not_overflow() {
    let h = Harness::start().await;
    for form in [
        [("seconds", "9223372036854775807")],
        [("to", "-9223372036854775808")],
        [("to", "9223372036854775807")],
    ] {
        let r = h
            .http
            .post(h.url("/_emulator/clock/advance"))
            .bearer_auth(KEY)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{form:?}");
    }
    let (s, _) = h
        .post(
            "/v1/prices",
            &[
                ("currency", "usd"),
                ("unit_amount", "99999999999"),
                ("product_data[name]", "Big"),
            ],
        )
        .await;
    assert_eq!(s, 200);
    let (_, list) = h.get("/v1/prices", &[]).await;
    let price = list["data"][0]["id"].as_str().unwrap().to_string();
    let (s, v) = h
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "payment"),
                ("line_items[0][price]", &price),
                ("line_items[0][quantity]", "999999"),
            ],
        )
        .await;
    assert_eq!(
        (s, v["error"]["param"].as_str()),
        (400, Some("line_items[0][quantity]"))
    );
    let (s, _) = h
        .post(
            "/v1/refunds",
            &[("charge", "ch_x"), ("amount", "9223372036854775807")],
        )
        .await;
    assert_eq!(s, 400);
    h.stop().await;
}
