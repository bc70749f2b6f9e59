//! Operations: `/metrics` (Prometheus text, token or loopback only, counters that follow the
//! business), logs that never carry secrets, and a graceful stop on SIGTERM that loses no webhook.
//!
//! The log and shutdown tests run a copy of the real binary as a child process (logs are read
//! from its stdout/stderr exactly as an operator would see them; a signal needs a process).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::Stdio;
use std::time::{Duration, Instant};

use actix_web::http::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use storefront::metrics::{Denied, authorize};

use crate::helpers::*;

// ---- /metrics --------------------------------------------------------------------------------

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
    let res = app
        .pay(&session_url, storefront::emulator::CARD_DISPUTED)
        .await;
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

// ---- the real binary as a child process --------------------------------------------------

/// A copy of the `storefront` binary running `serve` in demo mode on free ports, its output
/// going to files.
struct Shop {
    child: std::process::Child,
    dir: tempfile::TempDir,
    db: TestDb,
    address: String,
    emulator: String,
    webhook_secret: String,
    session_key: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Shop {
    async fn start(extra: &[(&str, &str)]) -> Shop {
        let dir = tempfile::tempdir().unwrap();
        // A copy: other builds may replace target/debug/storefront while we run.
        let bin = dir.path().join("storefront");
        std::fs::copy(env!("CARGO_BIN_EXE_storefront"), &bin).expect("copy the binary");
        let db = TestDb::new();
        let (port, emulator_port) = (free_port(), free_port());
        let webhook_secret = format!("whsec_{}", random_hex(24));
        let session_key = session_key();
        let stdout = std::fs::File::create(dir.path().join("stdout")).unwrap();
        let stderr = std::fs::File::create(dir.path().join("stderr")).unwrap();
        let mut cmd = std::process::Command::new(&bin);
        cmd.arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &db.url)
            .env("BIND", format!("127.0.0.1:{port}"))
            .env("EMULATOR_BIND", format!("127.0.0.1:{emulator_port}"))
            .env("EMULATOR_DB", dir.path().join("emulator.db"))
            .env("STRIPE_WEBHOOK_SECRET", &webhook_secret)
            .env("SESSION_KEY", &session_key)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start the shop");
        let mut shop = Shop {
            child,
            dir,
            db,
            address: format!("http://127.0.0.1:{port}"),
            emulator: format!("http://127.0.0.1:{emulator_port}"),
            webhook_secret,
            session_key,
        };
        shop.wait_until_ready().await;
        shop
    }

    async fn wait_until_ready(&mut self) {
        let client = plain_client();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the shop exited early ({status}): {}", self.output());
            }
            if let Ok(res) = client.get(self.url("/healthz")).send().await
                && res.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the shop never became ready: {}", self.output());
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    fn output(&self) -> String {
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!("{}{}", read("stdout"), read("stderr"))
    }

    fn terminate(&self) {
        self.signal("-TERM");
    }

    fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
    }

    /// Waits for the process to end; its exit status.
    async fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the shop did not exit within {limit:?}: {}", self.output());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn emulator_api(
        &self,
        method: reqwest::Method,
        path: &str,
        form: &[(&str, &str)],
    ) -> serde_json::Value {
        let res = plain_client()
            .request(method, format!("{}/{path}", self.emulator))
            .bearer_auth(EMULATOR_KEY)
            .form(form)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body: serde_json::Value = res.json().await.unwrap_or_default();
        assert!(status.is_success(), "emulator {path}: {status} {body}");
        body
    }

    async fn wait_for_deliveries(&self) {
        for _ in 0..200 {
            let d = self
                .emulator_api(reqwest::Method::GET, "_emulator/deliveries", &[])
                .await;
            let pending = d["data"]
                .as_array()
                .map(|a| a.iter().filter(|x| x["state"] == "pending").count());
            if pending == Some(0) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("webhook deliveries still pending");
    }

    async fn pool(&self) -> storefront::db::Pool {
        let url = storefront::config::DatabaseUrl::parse(&self.db.url).unwrap();
        actix_web::web::block(move || storefront::db::pool(&url, 2))
            .await
            .unwrap()
            .unwrap()
    }
}

impl Drop for Shop {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn page(client: &reqwest::Client, url: &str) -> String {
    client.get(url).send().await.unwrap().text().await.unwrap()
}

async fn order_status(pool: &storefront::db::Pool, number: &str) -> (String, Option<String>) {
    use diesel::prelude::*;
    use storefront::schema::orders;
    let number = number.to_owned();
    storefront::db::run(pool, move |conn| {
        orders::table
            .filter(orders::number.eq(number))
            .select((orders::status, orders::payment_intent_id))
            .first(conn)
            .map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap()
}

#[actix_web::test]
async fn logs_are_json_one_line_per_request_and_never_carry_secrets() {
    let shop = Shop::start(&[("LOG_FORMAT", "json"), ("RUST_LOG", "debug")]).await;
    let password = format!("typed-pw-{}", random_hex(8));
    let card = CARD_OK;

    // Register with a known password (the browser is then signed in).
    let client = browser();
    let html = page(&client, &shop.url("/account/register")).await;
    let res = client
        .post(shop.url("/account/register"))
        .form(&[
            ("csrf_token", csrf_token(&html).as_str()),
            ("email", "logs@example.com"),
            ("password", password.as_str()),
            ("password_confirmation", password.as_str()),
            ("next", "/account"),
        ])
        .send()
        .await
        .unwrap();
    assert_redirect_to(&res, "/account");
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("storefront="))
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_owned();

    // A failed sign-in elsewhere, with another typed password.
    let wrong_password = format!("typed-wrong-{}", random_hex(8));
    let other = browser();
    let html = page(&other, &shop.url("/account/login")).await;
    let res = other
        .post(shop.url("/account/login"))
        .form(&[
            ("csrf_token", csrf_token(&html).as_str()),
            ("email", "logs@example.com"),
            ("password", wrong_password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);

    // Buy something, paying on the emulator's page with a typed card number.
    let html = page(&client, &shop.url("/products/canvas-tote")).await;
    let price = select_attr(&html, "input[name=price_id]", "value").remove(0);
    let res = client
        .post(shop.url("/cart/items"))
        .form(&[
            ("csrf_token", csrf_token(&html).as_str()),
            ("price_id", price.as_str()),
            ("quantity", "1"),
        ])
        .send()
        .await
        .unwrap();
    assert_redirect_to(&res, "/cart");
    let html = page(&client, &shop.url("/cart")).await;
    let res = client
        .post(shop.url("/checkout"))
        .form(&[
            ("csrf_token", csrf_token(&html).as_str()),
            ("email", "logs@example.com"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 303);
    let session_url = location(&res);
    let pay_page = page(&browser(), &session_url).await;
    assert!(
        pay_page.contains("card_number"),
        "the emulator's checkout page"
    );
    // First a declined card, then one that pays.
    let res = browser()
        .post(&session_url)
        .form(&[
            ("email", "logs@example.com"),
            ("method", "card"),
            ("card_number", CARD_DECLINED),
            ("card_expiry", "12 / 34"),
            ("card_cvc", "123"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 402);
    let res = browser()
        .post(&session_url)
        .form(&[
            ("email", "logs@example.com"),
            ("method", "card"),
            ("card_number", card),
            ("card_expiry", "12 / 34"),
            ("card_cvc", "123"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 303);
    let success = location(&res);
    assert!(success.contains("?session_id="), "{success}");
    let res = client.get(&success).send().await.unwrap();
    assert!(res.status().is_success() || res.status().is_redirection());
    // The only order in the shop.
    let pool = shop.pool().await;
    let number = {
        use diesel::prelude::*;
        use storefront::schema::orders;
        storefront::db::run(&pool, |conn| {
            orders::table
                .select(orders::number)
                .first::<String>(conn)
                .map_err(storefront::db::DbError::from)
        })
        .await
        .unwrap()
    };
    let mut paid = None;
    for _ in 0..200 {
        let (status, intent) = order_status(&pool, &number).await;
        if status == "paid" {
            paid = intent;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let intent = paid.expect("the order is paid");

    // A refund through Stripe's API; its webhooks reach the shop.
    shop.emulator_api(
        reqwest::Method::POST,
        "v1/refunds",
        &[("payment_intent", intent.as_str())],
    )
    .await;
    shop.wait_for_deliveries().await;
    // A password reset: the e-mailed token and the new password stay out of the logs too.
    let forgetful = browser();
    let html = page(&forgetful, &shop.url("/account/password/forgot")).await;
    forgetful
        .post(shop.url("/account/password/forgot"))
        .form(&[
            ("csrf_token", csrf_token(&html).as_str()),
            ("email", "logs@example.com"),
        ])
        .send()
        .await
        .unwrap();
    let reset_mail = storefront::db::run(&pool, |conn| {
        storefront::mail::outbox::recent(conn, 100).map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap()
    .into_iter()
    .find(|m| m.kind == "password_reset")
    .expect("a reset mail");
    let start = reset_mail.body_text.find("http").expect("a link");
    let link = reset_mail.body_text[start..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let html = page(&forgetful, &link).await;
    let reset_token = select_attr(&html, "input[name=token]", "value").remove(0);
    let new_password = format!("typed-new-{}", random_hex(8));
    let res = forgetful
        .post(shop.url("/account/password/reset"))
        .form(&[
            ("csrf_token", csrf_token(&html).as_str()),
            ("token", reset_token.as_str()),
            ("password", new_password.as_str()),
            ("password_confirmation", new_password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_redirect_to(&res, "/account/login");
    // A request with a query string that must not be logged.
    client
        .get(shop.url("/checkout/success?session_id=cs_secretquery"))
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let out = shop.output();
    let secrets: Vec<(&str, &str)> = vec![
        ("the Stripe secret key", storefront::config::DEMO_SECRET_KEY),
        ("the webhook secret", shop.webhook_secret.as_str()),
        ("the session key", shop.session_key.as_str()),
        ("the session cookie", cookie.as_str()),
        ("the typed password", password.as_str()),
        ("a mistyped password", wrong_password.as_str()),
        ("the new password", new_password.as_str()),
        ("the reset token", reset_token.as_str()),
        ("the typed card number", card),
        ("the declined card number", CARD_DECLINED),
        ("a query string", "cs_secretquery"),
    ];
    for (what, secret) in secrets {
        assert!(secret.len() >= 8, "{what} is a real value");
        assert!(
            !out.contains(secret),
            "{what} appears in the logs:\n{}",
            out.lines()
                .filter(|l| l.contains(secret))
                .take(3)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    // Structured: every log line on stdout is JSON (but the start-up banner).
    let events: Vec<serde_json::Value> = out
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let requests: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["fields"]["message"] == "request")
        .collect();
    assert!(requests.len() >= 8, "one line per request");
    for r in &requests {
        let f = &r["fields"];
        assert!(
            f["route"].is_string(),
            "a request line without its route: either request logging regressed, or another \
             worktree's build replaced target/debug/storefront after ours (rerun): {r}"
        );
        assert_eq!(f["request_id"].as_str().map(str::len), Some(16), "{r}");
        assert!(
            f["route"].is_string() && f["status"].is_u64() && f["ms"].is_f64(),
            "{r}"
        );
        assert!(!f["path"].as_str().unwrap_or_default().contains('?'), "{r}");
    }
    assert!(
        requests
            .iter()
            .any(|r| r["fields"]["route"] == "/products/{slug}"
                && r["fields"]["path"] == "/products/canvas-tote")
    );
    assert!(
        requests
            .iter()
            .any(|r| r["fields"]["route"] == "/webhooks/stripe")
    );

    // One line per Stripe call, naming the endpoint, with our idempotency key for writes.
    let calls: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["fields"]["message"] == "stripe call")
        .collect();
    let create = calls
        .iter()
        .find(|c| c["fields"]["endpoint"] == "POST /v1/checkout/sessions")
        .expect("the session create is logged");
    assert_eq!(create["fields"]["outcome"], "ok");
    assert!(
        !create["fields"]["idempotency_key"]
            .as_str()
            .unwrap_or_default()
            .is_empty()
    );
    assert!(
        calls
            .iter()
            .any(|c| c["fields"]["endpoint"] == "GET /v1/checkout/sessions/{id}")
    );
}

#[actix_web::test]
async fn sigterm_during_a_webhook_burst_loses_no_event_and_exits_cleanly() {
    let mut shop = Shop::start(&[("RUST_LOG", "info")]).await;
    const EVENTS: usize = 600;
    let bodies: Vec<(String, String)> = (0..EVENTS)
        .map(|i| {
            let id = format!("evt_burst_{i:04}_{}", random_hex(4));
            let body = format!(
                r#"{{"id":"{id}","object":"event","api_version":"2026-09-30.endive","created":{},"data":{{"object":{{"id":"thing_{i}","object":"thing"}}}},"livemode":false,"pending_webhooks":1,"request":{{"id":null,"idempotency_key":null}},"type":"thing.happened"}}"#,
                chrono::Utc::now().timestamp()
            );
            (id, body)
        })
        .collect();
    let secret = shop.webhook_secret.clone();
    let url = shop.url("/webhooks/stripe");
    // A connection per request, as Stripe's deliveries are: once the shop stops listening,
    // new deliveries are refused rather than slipped in on an old keep-alive connection.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(40))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let signalled = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));

    // 16 senders share the burst; the signal goes once a quarter is answered.
    let queue = std::sync::Arc::new(std::sync::Mutex::new(bodies.clone()));
    let mut senders = Vec::new();
    for _ in 0..16 {
        let (queue, client, url, secret, done, signalled) = (
            queue.clone(),
            client.clone(),
            url.clone(),
            secret.clone(),
            done.clone(),
            signalled.clone(),
        );
        senders.push(actix_web::rt::spawn(async move {
            let mut results: Vec<(String, Option<u16>, bool)> = Vec::new();
            loop {
                let Some((id, body)) = queue.lock().unwrap().pop() else {
                    break;
                };
                let sig = stripe_webhook::Webhook::generate_test_header(&body, &secret, None);
                let status = client
                    .post(&url)
                    .header("Stripe-Signature", sig)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .ok()
                    .map(|r| r.status().as_u16());
                done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let after = signalled.load(std::sync::atomic::Ordering::SeqCst);
                results.push((id, status, after));
            }
            results
        }));
    }
    while done.load(std::sync::atomic::Ordering::SeqCst) < EVENTS / 4 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    shop.terminate();
    signalled.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut results = Vec::new();
    for s in senders {
        results.extend(s.await.unwrap());
    }
    drop(client);
    let status = shop.wait(Duration::from_secs(45)).await;
    assert!(status.success(), "exit status {status}: {}", shop.output());

    let pool = shop.pool().await;
    let recorded: std::collections::HashSet<String> = {
        use diesel::prelude::*;
        use storefront::schema::stripe_events;
        storefront::db::run(&pool, |conn| {
            stripe_events::table
                .select(stripe_events::id)
                .load::<String>(conn)
                .map_err(storefront::db::DbError::from)
        })
        .await
        .unwrap()
        .into_iter()
        .collect()
    };
    let mut tally: HashMap<&str, usize> = HashMap::new();
    for (id, status, after_signal) in &results {
        match status {
            Some(s) if (200..300).contains(s) => {
                *tally.entry("2xx").or_default() += 1;
                if *after_signal {
                    // In flight when the signal came (or on a connection accepted just before).
                    *tally.entry("2xx answered after SIGTERM").or_default() += 1;
                }
                assert!(
                    recorded.contains(id),
                    "{id} was answered {s} but is not recorded"
                );
            }
            Some(_) => *tally.entry("refused").or_default() += 1,
            None => *tally.entry("no answer").or_default() += 1,
        }
    }
    assert_eq!(results.len(), EVENTS);
    let ok = tally.get("2xx").copied().unwrap_or(0);
    assert!(ok >= EVENTS / 4, "{tally:?}");
    assert!(ok < EVENTS, "the signal landed mid-burst: {tally:?}");
    let out = shop.output();
    assert!(out.contains("SIGTERM"), "the signal is logged: {out}");
    assert!(out.contains("stopped"), "the shutdown completes: {out}");
    eprintln!("burst: {tally:?}");
}

#[actix_web::test]
async fn ctrl_c_stops_the_shop_gracefully_too() {
    let mut shop = Shop::start(&[("RUST_LOG", "info")]).await;
    let res = reqwest::get(shop.url("/healthz")).await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    shop.signal("-INT");
    let status = shop.wait(Duration::from_secs(45)).await;
    assert!(status.success(), "exit status {status}: {}", shop.output());
    let out = shop.output();
    assert!(out.contains("SIGINT") && out.contains("stopped"), "{out}");
}
