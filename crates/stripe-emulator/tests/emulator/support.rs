//! Test harness: an emulator on 127.0.0.1:0 with `:memory:`, an async-stripe client, a plain
//! HTTP client for the hosted pages, and a webhook receiver that verifies every signature.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::Value;
use stripe_emulator::{Emulator, EmulatorConfig, WebhookTarget};

pub const KEY: &str = "sk_test_emulator";
pub const SECRET: &str = "whsec_test_secret_for_emulator";

#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub kind: String,
    pub json: Value,
    pub signature_t: i64,
    /// `Debug` of the parsed `EventObject` variant.
    pub variant: String,
}

#[derive(Default)]
pub struct Inbox {
    pub events: Mutex<Vec<Received>>,
    pub failures: Mutex<Vec<String>>,
    /// Answer 500 to this many requests first.
    pub fail_first: AtomicU32,
    pub hits: AtomicU32,
}

async fn receive(req: HttpRequest, body: web::Bytes, inbox: web::Data<Inbox>) -> HttpResponse {
    inbox.hits.fetch_add(1, Ordering::SeqCst);
    if inbox
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return HttpResponse::InternalServerError().finish();
    }
    let payload = String::from_utf8_lossy(&body).to_string();
    let sig = req
        .headers()
        .get("Stripe-Signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    match stripe_webhook::Webhook::construct_event(&payload, &sig, SECRET) {
        Ok(ev) => {
            let json: Value = serde_json::from_str(&payload).expect("payload is JSON");
            let t = sig
                .split(',')
                .find_map(|p| p.strip_prefix("t="))
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            let variant = format!("{:?}", ev.data.object);
            let variant = variant.split('(').next().unwrap_or_default().to_string();
            inbox.events.lock().unwrap().push(Received {
                id: ev.id.as_str().to_string(),
                kind: ev.type_.as_str().to_string(),
                json,
                signature_t: t,
                variant,
            });
            HttpResponse::Ok().finish()
        }
        Err(e) => {
            let kind = serde_json::from_str::<Value>(&payload)
                .map(|v| v["type"].to_string())
                .unwrap_or_default();
            inbox
                .failures
                .lock()
                .unwrap()
                .push(format!("{kind}: {e:?}"));
            HttpResponse::BadRequest().finish()
        }
    }
}

pub struct Receiver {
    pub addr: SocketAddr,
    pub inbox: web::Data<Inbox>,
    handle: actix_web::dev::ServerHandle,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let inbox = web::Data::new(Inbox::default());
        let data = inbox.clone();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/hook", web::post().to(receive))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Receiver {
            addr,
            inbox,
            handle,
        }
    }

    pub fn url(&self) -> url::Url {
        url::Url::parse(&format!("http://{}/hook", self.addr)).unwrap()
    }

    pub fn events(&self) -> Vec<Received> {
        self.inbox.events.lock().unwrap().clone()
    }

    pub fn kinds(&self) -> Vec<String> {
        self.events().into_iter().map(|e| e.kind).collect()
    }

    pub fn failures(&self) -> Vec<String> {
        self.inbox.failures.lock().unwrap().clone()
    }

    /// Wait until an event of this type arrives; returns it.
    pub async fn wait_for(&self, kind: &str) -> Received {
        for _ in 0..150 {
            if let Some(e) = self.events().into_iter().find(|e| e.kind == kind) {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "no {kind} event arrived; got {:?}; failures {:?}",
            self.kinds(),
            self.failures()
        );
    }

    /// Wait until `n` events arrived.
    pub async fn wait_count(&self, n: usize) -> Vec<Received> {
        for _ in 0..150 {
            let ev = self.events();
            if ev.len() >= n {
                return ev;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "expected {n} events, got {:?}; failures {:?}",
            self.kinds(),
            self.failures()
        );
    }

    pub async fn stop(self) {
        let _ = tokio::time::timeout(Duration::from_secs(5), self.handle.stop(false)).await;
    }
}

pub struct Harness {
    pub emu: Emulator,
    pub stripe: stripe::Client,
    pub http: reqwest::Client,
    pub hooks: Receiver,
}

pub fn client_for(emu: &Emulator) -> stripe::Client {
    stripe::ClientBuilder::new(KEY)
        .url(emu.base_url().as_str())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        // A stuck request fails its test instead of hanging the run.
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

impl Harness {
    pub async fn start() -> Harness {
        let hooks = Receiver::start().await;
        let emu = Emulator::start(EmulatorConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            db: ":memory:".into(),
            webhook: Some(WebhookTarget {
                url: hooks.url(),
                secret: SECRET.into(),
                enabled_events: vec!["*".into()],
                api_version: None,
            }),
            rate_limits: Default::default(),
        })
        .await
        .expect("emulator starts");
        Harness {
            stripe: client_for(&emu),
            emu,
            http: http(),
            hooks,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.emu.origin(), path)
    }

    /// Raw API call with the secret key.
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        form: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method.clone(), self.url(path))
            .bearer_auth(KEY);
        if method == reqwest::Method::GET {
            req = req.query(form);
        } else {
            req = req.form(form);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        self.api(reqwest::Method::POST, path, form).await
    }

    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
        self.api(reqwest::Method::GET, path, query).await
    }

    /// A one-time price of `amount` (minor units) in `currency`.
    pub async fn one_time_price(&self, name: &str, amount: i64, currency: &str) -> String {
        let amount = amount.to_string();
        let (s, v) = self
            .post(
                "/v1/prices",
                &[
                    ("currency", currency),
                    ("unit_amount", &amount),
                    ("product_data[name]", name),
                ],
            )
            .await;
        assert_eq!(s, 200, "{v}");
        v["id"].as_str().unwrap().to_string()
    }

    /// A payment-mode session for `price` × `qty`; returns (id, url).
    pub async fn session(&self, price: &str, qty: u32) -> (String, String) {
        let qty = qty.to_string();
        let (s, v) = self
            .post(
                "/v1/checkout/sessions",
                &[
                    ("mode", "payment"),
                    ("line_items[0][price]", price),
                    ("line_items[0][quantity]", &qty),
                    (
                        "success_url",
                        "http://shop.test/checkout/success?session_id={CHECKOUT_SESSION_ID}",
                    ),
                    ("cancel_url", "http://shop.test/checkout/cancel"),
                    ("client_reference_id", "ORDER-1"),
                ],
            )
            .await;
        assert_eq!(s, 200, "{v}");
        (
            v["id"].as_str().unwrap().to_string(),
            v["url"].as_str().unwrap().to_string(),
        )
    }

    /// Submit the hosted checkout form.
    pub async fn pay(&self, url: &str, card: &str) -> reqwest::Response {
        self.http
            .post(url)
            .form(&[
                ("email", "buyer@example.com"),
                ("method", "card"),
                ("card_number", card),
                ("card_expiry", "12 / 34"),
                ("card_cvc", "123"),
            ])
            .send()
            .await
            .unwrap()
    }

    /// Stops everything, checking that every delivery verified and parsed to a known type.
    pub async fn stop(self) {
        self.emu.stop().await;
        let failures = self.hooks.failures();
        assert!(
            failures.is_empty(),
            "webhooks that did not verify or parse: {failures:?}"
        );
        for e in self.hooks.events() {
            assert!(
                !e.variant.starts_with("Unknown"),
                "{} parsed as an unknown event type",
                e.kind
            );
        }
        self.hooks.stop().await;
    }
}

pub fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}
