//! `/metrics`: Prometheus text, token or loopback only, counters that follow the business.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use actix_web::http::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use storefront::metrics::{Denied, authorize};

use crate::helpers::*;

/// One scrape, parsed strictly (the whole text must be a valid exposition): every sample with
/// its name, labels and value.
struct Scrape(Vec<(String, HashMap<String, String>, f64)>);

impl Scrape {
    fn parse(text: &str) -> Scrape {
        let (_, families) = nom_openmetrics::parser::prometheus(text)
            .unwrap_or_else(|e| panic!("metrics are not Prometheus text ({e}):\n{text}"));
        Scrape(
            families
                .iter()
                .flat_map(|f| &f.samples)
                .map(|s| {
                    let labels = s
                        .labels()
                        .iter()
                        .map(|l| (l.name.to_owned(), l.value.clone()))
                        .collect();
                    (s.name().to_owned(), labels, s.number())
                })
                .collect(),
        )
    }

    /// The sum over the series `name` whose labels include `labels` (0 if none).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.0
            .iter()
            .filter(|(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, _, v)| v)
            .sum()
    }

    fn label_values(&self, name: &str, label: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(n, _, _)| n == name)
            .filter_map(|(_, l, _)| l.get(label).cloned())
            .collect()
    }
}

async fn scrape(app: &TestApp) -> Scrape {
    let res = app.get("/metrics").await;
    assert_eq!(res.status().as_u16(), 200);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    Scrape::parse(&res.text().await.unwrap())
}

/// Waits until `check` holds for a fresh scrape (webhooks arrive asynchronously).
async fn scrape_until(app: &TestApp, what: &str, check: impl Fn(&Scrape) -> bool) -> Scrape {
    for _ in 0..200 {
        let s = scrape(app).await;
        if check(&s) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("metrics never showed {what}");
}

#[actix_web::test]
async fn metrics_follow_a_purchase_a_decline_a_refund_and_a_duplicate_webhook() {
    let app = TestApp::spawn().await;
    let before = scrape(&app).await;
    assert_eq!(
        before.value("storefront_checkout_sessions_created_total", &[]),
        0.0
    );

    // A purchase.
    app.add_to_cart("canvas-tote", 2).await;
    let session_url = app.checkout().await;
    let session_id = session_id_of(&session_url);
    let order = app.order_by_session(&session_id).await;
    let success = app.pay_ok(&session_url).await;
    let res = app.client.get(&success).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let order = app.wait_for_status(&order.number, "paid").await;

    // A decline, in another browser.
    let other = app.new_browser();
    let res = app.add_to_cart_with(&other, "canvas-tote", "1").await;
    assert_redirect_to(&res, "/cart");
    let res = app.checkout_with(&other, "decline@example.com").await;
    let declined_url = location(&res);
    let res = app.pay(&declined_url, CARD_INSUFFICIENT).await;
    assert_eq!(res.status().as_u16(), 402, "the card is declined");

    // A refund made outside the shop (Stripe's API), half the total.
    let intent = order
        .payment_intent_id
        .clone()
        .expect("paid order has a PI");
    let half = (order.amount_total / 2).to_string();
    app.emulator_post(
        "v1/refunds",
        &[
            ("payment_intent", intent.as_str()),
            ("amount", half.as_str()),
        ],
    )
    .await;
    app.wait_for_deliveries().await;

    // The same checkout.session.completed again.
    let completed = app
        .session_events(&session_id, "checkout.session.completed")
        .await;
    let res = app
        .post_webhook(&completed[0], &app.sign(&completed[0], 0))
        .await;
    assert_eq!(res.status().as_u16(), 200);
    // And a forged one.
    let res = app.post_webhook(&completed[0], "t=1,v1=00").await;
    assert_eq!(res.status().as_u16(), 400);

    let m = scrape_until(&app, "the refund and the decline", |m| {
        m.value("storefront_refunds_total", &[("currency", "usd")]) >= 1.0
            && m.value("storefront_payment_failures_total", &[]) >= 1.0
    })
    .await;
    assert_eq!(
        m.value(
            "storefront_checkout_sessions_created_total",
            &[("mode", "payment")]
        ),
        2.0
    );
    assert_eq!(
        m.value("storefront_orders_total", &[("status", "paid")]),
        1.0
    );
    assert_eq!(
        m.value(
            "storefront_payment_failures_total",
            &[("decline_code", "insufficient_funds")]
        ),
        1.0
    );
    assert_eq!(
        m.value("storefront_refunds_total", &[("currency", "usd")]),
        1.0
    );
    assert_eq!(
        m.value("storefront_refunded_amount_total", &[("currency", "usd")]),
        (order.amount_total / 2) as f64
    );
    let completed_type = [("type", "checkout.session.completed")];
    let by_result = |result: &str| {
        let mut labels = completed_type.to_vec();
        labels.push(("result", result));
        m.value("storefront_webhook_events_total", &labels)
    };
    assert_eq!(by_result("duplicate"), 1.0);
    assert_eq!(by_result("processed"), 1.0);
    assert_eq!(by_result("received"), 2.0);
    assert_eq!(
        m.value(
            "storefront_webhook_events_total",
            &[("type", "unverified"), ("result", "rejected")]
        ),
        1.0
    );
    assert_eq!(
        m.value(
            "storefront_webhook_events_total",
            &[
                ("type", "payment_intent.payment_failed"),
                ("result", "processed")
            ]
        ),
        1.0
    );

    // Stripe calls by endpoint (ids folded), with latency.
    assert_eq!(
        m.value(
            "storefront_stripe_requests_total",
            &[
                ("endpoint", "POST /v1/checkout/sessions"),
                ("outcome", "ok")
            ]
        ),
        2.0
    );
    assert!(
        m.value(
            "storefront_stripe_requests_total",
            &[
                ("endpoint", "GET /v1/checkout/sessions/{id}"),
                ("outcome", "ok")
            ]
        ) >= 1.0,
        "{:?}",
        m.label_values("storefront_stripe_requests_total", "endpoint")
    );
    assert!(
        m.value(
            "storefront_stripe_request_duration_seconds_count",
            &[("endpoint", "POST /v1/checkout/sessions")]
        ) == 2.0
    );

    // HTTP requests by route pattern, never by raw path.
    assert!(
        m.value(
            "storefront_http_requests_total",
            &[
                ("route", "/products/{slug}"),
                ("method", "GET"),
                ("status", "200")
            ]
        ) >= 2.0
    );
    assert!(
        m.value(
            "storefront_http_request_duration_seconds_count",
            &[("route", "/webhooks/stripe")]
        ) >= 3.0
    );
    let routes = m.label_values("storefront_http_requests_total", "route");
    assert!(
        routes
            .iter()
            .all(|r| !r.contains("canvas-tote") && !r.contains('?')),
        "{routes:?}"
    );
    assert!(routes.iter().any(|r| r == "/checkout/success"));

    // The outbox gauge and the dispute counter are there for other code to move.
    app.state.metrics.set_outbox_backlog(7);
    app.state.metrics.dispute_created("fraudulent");
    let m = scrape(&app).await;
    assert_eq!(m.value("storefront_outbox_backlog", &[]), 7.0);
    assert_eq!(
        m.value("storefront_disputes_total", &[("reason", "fraudulent")]),
        1.0
    );
}

#[actix_web::test]
async fn a_disputed_payment_counts_a_dispute() {
    let app = TestApp::spawn().await;
    app.add_to_cart("canvas-tote", 1).await;
    let session_url = app.checkout().await;
    let order = app.order_by_session(&session_id_of(&session_url)).await;
    let res = app.pay(&session_url, stripe_emulator::CARD_DISPUTED).await;
    assert_eq!(res.status().as_u16(), 303);
    app.wait_for_status(&order.number, "paid").await;
    app.emulator_post("_emulator/run_jobs", &[]).await;
    scrape_until(&app, "a dispute", |m| {
        m.value("storefront_disputes_total", &[]) == 1.0
    })
    .await;
}

#[actix_web::test]
async fn a_paid_subscription_invoice_counts_one_paid_order() {
    let app = TestApp::spawn().await;
    app.register("subscriber@example.com").await;
    let html = app.get_html("/products/coffee-club").await.1;
    let action = select_attr(&html, ".plans form", "action").remove(0);
    let res = app.submit("/products/coffee-club", &action, &[]).await;
    assert_eq!(res.status().as_u16(), 303);
    let success = app.pay_ok(&location(&res)).await;
    app.client.get(&success).send().await.unwrap();
    app.wait_for_deliveries().await;
    let m = scrape_until(&app, "the subscription order", |m| {
        m.value("storefront_orders_total", &[("status", "paid")]) >= 1.0
    })
    .await;
    assert_eq!(
        m.value("storefront_orders_total", &[("status", "paid")]),
        1.0
    );
    assert_eq!(
        m.value(
            "storefront_checkout_sessions_created_total",
            &[("mode", "subscription")]
        ),
        1.0
    );
}

#[actix_web::test]
async fn metrics_need_the_bearer_token_when_one_is_set() {
    let app = TestApp::spawn_with(&[("METRICS_TOKEN", "metrics-secret-123")]).await;
    let res = app.get("/metrics").await;
    assert_eq!(res.status().as_u16(), 401);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    let wrong = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("metrics-secret-12")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let right = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("metrics-secret-123")
        .send()
        .await
        .unwrap();
    assert_eq!(right.status().as_u16(), 200);
    assert!(
        right
            .text()
            .await
            .unwrap()
            .contains("storefront_http_requests_total")
    );
}

#[test]
fn without_a_token_only_loopback_peers_may_read_metrics() {
    let none = HeaderMap::new();
    let v4 = |a, b, c, d| Some(IpAddr::V4(Ipv4Addr::new(a, b, c, d)));
    assert_eq!(authorize(None, &none, v4(127, 0, 0, 1)), Ok(()));
    assert_eq!(
        authorize(None, &none, Some(IpAddr::V6(Ipv6Addr::LOCALHOST))),
        Ok(())
    );
    assert_eq!(
        authorize(None, &none, v4(10, 0, 0, 7)),
        Err(Denied::Forbidden)
    );
    assert_eq!(
        authorize(None, &none, v4(203, 0, 113, 9)),
        Err(Denied::Forbidden)
    );
    assert_eq!(authorize(None, &none, None), Err(Denied::Forbidden));

    // With a token, the peer does not matter; the token does.
    let mut good = HeaderMap::new();
    good.insert(AUTHORIZATION, HeaderValue::from_static("Bearer tok"));
    let mut bad = HeaderMap::new();
    bad.insert(AUTHORIZATION, HeaderValue::from_static("Bearer nope"));
    let mut basic = HeaderMap::new();
    basic.insert(AUTHORIZATION, HeaderValue::from_static("Basic tok"));
    assert_eq!(authorize(Some("tok"), &good, v4(203, 0, 113, 9)), Ok(()));
    for (what, headers) in [("none", &none), ("wrong", &bad), ("basic", &basic)] {
        assert_eq!(
            authorize(Some("tok"), headers, v4(127, 0, 0, 1)),
            Err(Denied::Unauthorized),
            "{what}"
        );
    }
}

/// Every series of the HTTP families, as (name, sorted labels).
fn http_series(s: &Scrape) -> std::collections::BTreeSet<String> {
    s.0.iter()
        .filter(|(n, _, _)| n.starts_with("storefront_http_"))
        .map(|(n, l, _)| {
            let mut labels: Vec<_> = l.iter().map(|(k, v)| format!("{k}={v}")).collect();
            labels.sort();
            format!("{n}{{{}}}", labels.join(","))
        })
        .collect()
}

#[actix_web::test]
async fn made_up_methods_and_paths_add_no_metric_series() {
    let app = TestApp::spawn().await;
    let odd = |i: usize| reqwest::Method::from_bytes(format!("BREW{i}").as_bytes()).unwrap();
    // One of each kind first, so the series they legitimately add exist.
    for path in ["/", "/products/no-such-thing-0", "/no/such/page/0"] {
        app.client
            .request(odd(0), app.url(path))
            .send()
            .await
            .unwrap();
        app.get(path).await;
    }
    scrape(&app).await;
    let before = http_series(&scrape(&app).await);
    for i in 1..=100 {
        let path = match i % 3 {
            0 => "/".to_owned(),
            1 => format!("/products/no-such-thing-{i}"),
            _ => format!("/no/such/page/{i}"),
        };
        app.client
            .request(odd(i), app.url(&path))
            .send()
            .await
            .unwrap();
        app.get(&path).await;
    }
    let after = http_series(&scrape(&app).await);
    let new: Vec<_> = after.difference(&before).collect();
    assert!(new.is_empty(), "odd requests made new series: {new:?}");
}

fn session_lookups(s: &Scrape) -> f64 {
    s.value(
        "storefront_stripe_requests_total",
        &[("endpoint", "GET /v1/checkout/sessions/{id}")],
    )
}

#[actix_web::test]
async fn the_success_page_asks_stripe_only_while_the_order_can_move_and_a_few_times_a_minute() {
    let app = TestApp::spawn().await;
    app.add_to_cart("canvas-tote", 1).await;
    let session_url = app.checkout().await;
    let session_id = session_id_of(&session_url);
    let order = app.order_by_session(&session_id).await;
    let success = format!("/checkout/success?session_id={session_id}");

    // Unpaid: each load may ask Stripe, but one browser gets a bounded number a minute.
    let before = session_lookups(&scrape(&app).await);
    for _ in 0..20 {
        assert_eq!(app.get(&success).await.status().as_u16(), 200);
    }
    let asked = session_lookups(&scrape(&app).await) - before;
    assert!(
        (1.0..=6.0).contains(&asked),
        "20 loads asked Stripe {asked} times"
    );

    // Paid: nothing left to learn, so reloads never call Stripe.
    let res = app.pay(&session_url, CARD_OK).await;
    assert_eq!(res.status().as_u16(), 303);
    app.wait_for_status(&order.number, "paid").await;
    app.clock.advance(chrono::TimeDelta::seconds(120));
    let before = session_lookups(&scrape(&app).await);
    for _ in 0..5 {
        let (status, html) = app.get_html(&success).await;
        assert_eq!(status, 200);
        assert!(html.contains("Paid"), "{html}");
    }
    assert_eq!(session_lookups(&scrape(&app).await), before);
}

/// Every metric the alert rules (docs/prometheus-alerts.yml) name is exposed by a shop that has
/// served one page and seen no order, payment, dispute or webhook yet: an alert on a metric
/// that does not exist would never fire.
#[actix_web::test]
async fn every_metric_the_alert_rules_name_is_exposed_before_its_first_event() {
    let rules = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/prometheus-alerts.yml"
    ))
    .unwrap();
    // The metrics in the rules' expressions (an `expr:` runs until the rule's next key).
    let mut in_expr = false;
    let mut named = std::collections::BTreeSet::new();
    for line in rules.lines().map(str::trim_start) {
        if line.starts_with("expr:") {
            in_expr = true;
        } else if ["for:", "labels:", "annotations:", "- alert:"]
            .iter()
            .any(|k| line.starts_with(k))
        {
            in_expr = false;
        }
        if in_expr {
            named.extend(
                line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .filter(|w| w.starts_with("storefront_")),
            );
        }
    }
    assert!(named.len() >= 5, "{named:?}");
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/").await.status(), 200);
    let m = scrape(&app).await;
    for name in named {
        assert!(
            m.0.iter().any(|(n, _, _)| n == name),
            "{name} is named by an alert rule but not exposed"
        );
    }
}
