//! The test harness: a real app on 127.0.0.1:0 with its own fresh database, and a browser-like client.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use chrono::Utc;
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use rand::RngCore as _;
use storefront::clock::ManualClock;
use storefront::config::Config;
use storefront::db::Pool;
use storefront::startup::Application;

/// A fresh database for one test: a SQLite file in a temp dir, or a PostgreSQL database created
/// on the server named by `TEST_DATABASE_URL` and dropped afterwards.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_admin: Option<(String, String)>,
}

impl TestDb {
    pub fn new() -> Self {
        match std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|v| !v.is_empty())
        {
            Some(base) => {
                let mut admin = url::Url::parse(&base).expect("TEST_DATABASE_URL is a URL");
                admin.set_path("/postgres");
                let name = format!("storefront_test_{}", random_hex(8));
                let mut conn = PgConnection::establish(admin.as_str())
                    .unwrap_or_else(|e| panic!("TEST_DATABASE_URL unreachable: {e}"));
                conn.batch_execute(&format!("CREATE DATABASE {name}"))
                    .expect("create test database");
                let mut url = admin.clone();
                url.set_path(&format!("/{name}"));
                Self {
                    url: url.to_string(),
                    _dir: None,
                    pg_admin: Some((admin.to_string(), name)),
                }
            }
            None => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("shop.db").display());
                Self {
                    url,
                    _dir: Some(dir),
                    pg_admin: None,
                }
            }
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.pg_admin.is_some()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.pg_admin
            && let Ok(mut conn) = PgConnection::establish(admin)
        {
            let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

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
}

impl TestApp {
    /// Builds the app like `main` does (demo mode, demo catalogue) and serves it in the background.
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    pub async fn spawn_with(overrides: &[(&str, &str)]) -> Self {
        let db = TestDb::new();
        let mut vars: HashMap<String, String> = HashMap::from([
            ("DATABASE_URL".into(), db.url.clone()),
            ("BIND".into(), "127.0.0.1:0".into()),
            ("SESSION_KEY".into(), session_key()),
            ("EMULATOR_BIND".into(), "127.0.0.1:0".into()),
            ("EMULATOR_DB".into(), ":memory:".into()),
        ]);
        for (k, v) in overrides {
            vars.insert((*k).into(), (*v).into());
        }
        let config = Config::from_lookup(|k| vars.get(k).cloned()).expect("test config is valid");
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let app = Application::build(config, clock.clone())
            .await
            .expect("app builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        let pool = app.pool().clone();
        actix_web::rt::spawn(app.run_until_stopped());
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Self {
            address,
            client,
            clock,
            pool,
            db,
        }
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

/// The value of the first `csrf_token` hidden field in a page.
pub fn csrf_token(html: &str) -> String {
    select_attr(html, "input[name=csrf_token]", "value")
        .into_iter()
        .next()
        .expect("page has a CSRF field")
}

/// Every `attr` of the elements matching `selector`.
pub fn select_attr(html: &str, selector: &str, attr: &str) -> Vec<String> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(selector).expect("selector");
    doc.select(&sel)
        .filter_map(|e| e.value().attr(attr).map(str::to_owned))
        .collect()
}

/// The trimmed text of every element matching `selector`.
pub fn select_text(html: &str, selector: &str) -> Vec<String> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(selector).expect("selector");
    doc.select(&sel)
        .map(|e| {
            e.text()
                .collect::<String>()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

pub fn assert_redirect_to(res: &reqwest::Response, location: &str) {
    assert_eq!(res.status().as_u16(), 303, "expected a 303 redirect");
    assert_eq!(
        res.headers().get("location").and_then(|v| v.to_str().ok()),
        Some(location)
    );
}
