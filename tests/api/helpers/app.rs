//! The app under test: built like `main` builds it, served on 127.0.0.1:0, and its browser.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use chrono::Utc;
use rand::RngCore as _;
use storefront::clock::ManualClock;
use storefront::config::Config;
use storefront::db::Pool;
use storefront::startup::Application;
use storefront::state::AppState;

use super::{TestDb, random_hex};

pub fn session_key() -> String {
    let mut bytes = [0u8; 64];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub clock: Arc<ManualClock>,
    pub pool: Pool,
    pub db: TestDb,
    pub state: actix_web::web::Data<AppState>,
    /// Uploaded pictures' files (`MEDIA_DIR`).
    pub media: tempfile::TempDir,
    /// The embedded emulator's base URL (`http://127.0.0.1:PORT/`).
    pub emulator: url::Url,
    pub webhook_secret: String,
}

pub const EMULATOR_KEY: &str = "sk_test_storefront_demo";

/// `TestApp::spawn_with(&[(SHIPPING_RATES, "on")])`: keep the demo catalogue's shipping rates.
pub const SHIPPING_RATES: &str = "TEST_SHIPPING_RATES";

/// How long any request of the harness may take: a stuck request fails its test instead of
/// hanging the run.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// A browser: its own cookies, redirects left to the test, bounded in time.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .default_headers(same_origin_headers())
        .redirect(reqwest::redirect::Policy::none())
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("client")
}

/// What browsers send on every request from a page of the same site. A page view creates no
/// session, so a first form POST is accepted on a signed token only with this (or `Origin`).
pub fn same_origin_headers() -> reqwest::header::HeaderMap {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "sec-fetch-site",
        reqwest::header::HeaderValue::from_static("same-origin"),
    );
    headers
}

/// A client without cookies (APIs, webhooks), bounded in time.
pub fn plain_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("client")
}

impl TestApp {
    /// Builds the app like `main` does (demo mode, demo catalogue) and serves it in the background.
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    pub async fn spawn_with(overrides: &[(&str, &str)]) -> Self {
        let db = TestDb::new();
        let media = tempfile::tempdir().expect("a media directory");
        let mut vars: HashMap<String, String> = HashMap::from([
            (
                "MEDIA_DIR".into(),
                media.path().to_str().expect("a UTF-8 path").to_owned(),
            ),
            ("DATABASE_URL".into(), db.url.clone()),
            ("BIND".into(), "127.0.0.1:0".into()),
            ("SESSION_KEY".into(), session_key()),
            ("EMULATOR_BIND".into(), "127.0.0.1:0".into()),
            ("EMULATOR_DB".into(), ":memory:".into()),
            (
                "STRIPE_WEBHOOK_SECRET".into(),
                format!("whsec_test_{}", random_hex(16)),
            ),
        ]);
        for (k, v) in overrides {
            vars.insert((*k).into(), (*v).into());
        }
        // Most tests are about something other than shipping: their orders ship free (the demo
        // catalogue's rates are retired) unless they ask for the rates with this.
        let rates = vars.remove(SHIPPING_RATES).is_some_and(|v| v == "on");
        let config = Config::from_lookup(|k| vars.get(k).cloned()).expect("test config is valid");
        let webhook_secret = vars["STRIPE_WEBHOOK_SECRET"].clone();
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let app = Application::build(config, clock.clone())
            .await
            .expect("app builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        let pool = app.pool().clone();
        if !rates {
            storefront::db::run(&pool, |conn| {
                use diesel::prelude::*;
                use storefront::schema::shipping_rates;
                diesel::update(shipping_rates::table)
                    .set(shipping_rates::active.eq(false))
                    .execute(conn)
                    .map_err(storefront::db::DbError::from)
            })
            .await
            .unwrap();
        }
        let state = app.state();
        let emulator = app
            .emulator_url()
            .or_else(|| {
                vars.get("STRIPE_API_BASE")
                    .and_then(|u| url::Url::parse(u).ok())
            })
            .expect("demo mode runs the emulator; with a key, STRIPE_API_BASE names one");
        actix_web::rt::spawn(app.run_until_stopped());
        let client = browser();
        Self {
            address,
            client,
            clock,
            pool,
            db,
            state,
            emulator,
            webhook_secret,
            media,
        }
    }

    /// A shop with a Stripe key (test mode) whose Stripe is `emulator` (another app's embedded
    /// one), as a real shop talks to Stripe: no emulator of its own, no demo data.
    pub async fn spawn_with_key_on(emulator: &url::Url) -> Self {
        Self::spawn_with(&[
            ("STRIPE_SECRET_KEY", "sk_test_second_shop"),
            ("STRIPE_API_BASE", emulator.as_str()),
            // Loopback http in a test; a real shop needs an https PUBLIC_URL.
            ("ALLOW_INSECURE_PUBLIC_URL", "1"),
        ])
        .await
    }

    /// A second shopper: another browser (own cookies) on the same shop.
    pub fn new_browser(&self) -> reqwest::Client {
        browser()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn get_html(&self, path: &str) -> (u16, String) {
        let res = self.get(path).await;
        let status = res.status().as_u16();
        (status, res.text().await.expect("body"))
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .expect("POST")
    }
}
