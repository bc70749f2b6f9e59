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
    pub state: actix_web::web::Data<AppState>,
    /// The embedded emulator's base URL (`http://127.0.0.1:PORT/`).
    pub emulator: url::Url,
    pub webhook_secret: String,
}

pub const EMULATOR_KEY: &str = "sk_test_storefront_demo";

/// How long any request of the harness may take: a stuck request fails its test instead of
/// hanging the run.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// A browser: its own cookies, redirects left to the test, bounded in time.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("client")
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
        let mut vars: HashMap<String, String> = HashMap::from([
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
        let config = Config::from_lookup(|k| vars.get(k).cloned()).expect("test config is valid");
        let webhook_secret = vars["STRIPE_WEBHOOK_SECRET"].clone();
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let app = Application::build(config, clock.clone())
            .await
            .expect("app builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        let pool = app.pool().clone();
        let state = app.state();
        let emulator = app.emulator_url().expect("demo mode runs the emulator");
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
        }
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

// ---- the purchase path -------------------------------------------------------------------

use storefront::orders::model::Order;
use storefront::web::AppState;

pub const CARD_OK: &str = "4242424242424242";
pub const CARD_DECLINED: &str = "4000000000000002";
pub const CARD_INSUFFICIENT: &str = "4000000000009995";
pub const CARD_3DS: &str = "4000002500003155";

impl TestApp {
    /// The CSRF token and first price id of a product page, as a browser would see them.
    pub async fn product_form(&self, client: &reqwest::Client, slug: &str) -> (String, String) {
        let html = client
            .get(self.url(&format!("/products/{slug}")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let price = select_attr(&html, "input[name=price_id]", "value")
            .into_iter()
            .next()
            .unwrap_or_default();
        (csrf_token(&html), price)
    }

    pub async fn add_to_cart_with(
        &self,
        client: &reqwest::Client,
        slug: &str,
        quantity: &str,
    ) -> reqwest::Response {
        let (token, price) = self.product_form(client, slug).await;
        client
            .post(self.url("/cart/items"))
            .form(&[
                ("csrf_token", token.as_str()),
                ("price_id", price.as_str()),
                ("quantity", quantity),
            ])
            .send()
            .await
            .unwrap()
    }

    pub async fn add_to_cart(&self, slug: &str, quantity: u32) {
        let res = self
            .add_to_cart_with(&self.client, slug, &quantity.to_string())
            .await;
        assert_redirect_to(&res, "/cart");
    }

    pub async fn cart_html(&self) -> String {
        self.get_html("/cart").await.1
    }

    /// Posts the cart's checkout form.
    pub async fn checkout_with(&self, client: &reqwest::Client, email: &str) -> reqwest::Response {
        let html = client
            .get(self.url("/cart"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let token = csrf_token(&html);
        client
            .post(self.url("/checkout"))
            .form(&[("csrf_token", token.as_str()), ("email", email)])
            .send()
            .await
            .unwrap()
    }

    /// Checks out and returns the Checkout Session URL it redirects to.
    pub async fn checkout(&self) -> String {
        let res = self
            .checkout_with(&self.client, "shopper@example.com")
            .await;
        assert_eq!(
            res.status().as_u16(),
            303,
            "checkout: {}",
            res.text().await.unwrap_or_default()
        );
        location(&res)
    }

    /// Pays on the emulator's hosted page (another client: Stripe's page has its own cookies).
    pub async fn pay(&self, session_url: &str, card: &str) -> reqwest::Response {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .build()
            .unwrap()
            .post(session_url)
            .form(&[
                ("email", "shopper@example.com"),
                ("method", "card"),
                ("card_number", card),
                ("card_expiry", "12 / 34"),
                ("card_cvc", "123"),
            ])
            .send()
            .await
            .unwrap()
    }

    /// Pays with a card that works and returns the success URL Stripe sends the shopper to.
    pub async fn pay_ok(&self, session_url: &str) -> String {
        let res = self.pay(session_url, CARD_OK).await;
        assert_eq!(
            res.status().as_u16(),
            303,
            "payment: {}",
            res.text().await.unwrap_or_default()
        );
        location(&res)
    }

    /// Calls the emulator's API or control API with the shop's key.
    pub async fn emulator_post(&self, path: &str, form: &[(&str, &str)]) -> serde_json::Value {
        let res = plain_client()
            .post(self.emulator.join(path.trim_start_matches('/')).unwrap())
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

    pub async fn emulator_get(&self, path: &str) -> serde_json::Value {
        plain_client()
            .get(self.emulator.join(path.trim_start_matches('/')).unwrap())
            .bearer_auth(EMULATOR_KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn order_by_session(&self, session_id: &str) -> Order {
        let id = session_id.to_owned();
        storefront::db::run(&self.pool, move |conn| {
            storefront::orders::queries::by_session(conn, &id)
                .map_err(storefront::db::DbError::from)
        })
        .await
        .unwrap()
        .expect("order for the session")
    }

    pub async fn order(&self, number: &str) -> Order {
        let n = number.to_owned();
        storefront::db::run(&self.pool, move |conn| {
            storefront::orders::queries::by_number(conn, &n).map_err(storefront::db::DbError::from)
        })
        .await
        .unwrap()
        .expect("order")
    }

    pub async fn all_orders(&self) -> Vec<Order> {
        use diesel::prelude::*;
        use storefront::schema::orders;
        storefront::db::run(&self.pool, |conn| {
            orders::table
                .order(orders::id.asc())
                .select(Order::as_select())
                .load(conn)
                .map_err(storefront::db::DbError::from)
        })
        .await
        .unwrap()
    }

    /// `products.stock` of a product.
    pub async fn stock(&self, slug: &str) -> Option<i64> {
        use diesel::prelude::*;
        use storefront::schema::products;
        let slug = slug.to_owned();
        storefront::db::run(&self.pool, move |conn| {
            products::table
                .filter(products::slug.eq(slug))
                .select(products::stock)
                .first(conn)
                .map_err(storefront::db::DbError::from)
        })
        .await
        .unwrap()
    }

    /// Units held for open checkouts of a product.
    pub async fn held(&self, slug: &str) -> i64 {
        use diesel::prelude::*;
        use storefront::schema::{products, stock_reservations};
        let slug = slug.to_owned();
        storefront::db::run(&self.pool, move |conn| {
            let id: i64 = products::table
                .filter(products::slug.eq(slug))
                .select(products::id)
                .first(conn)?;
            let q: Vec<i64> = stock_reservations::table
                .filter(stock_reservations::product_id.eq(id))
                .filter(stock_reservations::status.eq("held"))
                .select(stock_reservations::quantity)
                .load(conn)?;
            Ok::<_, storefront::db::DbError>(q.iter().sum())
        })
        .await
        .unwrap()
    }

    /// Waits (up to 10 s) until the order reaches `status`, as webhooks arrive asynchronously.
    pub async fn wait_for_status(&self, number: &str, status: &str) -> Order {
        for _ in 0..200 {
            let order = self.order(number).await;
            if order.status == status {
                return order;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let order = self.order(number).await;
        panic!("order {number} stayed {} (wanted {status})", order.status);
    }

    /// Waits until every webhook the emulator has queued was delivered (or gave up).
    pub async fn wait_for_deliveries(&self) {
        for _ in 0..200 {
            let d = self.emulator_get("_emulator/deliveries").await;
            let pending = d["data"]
                .as_array()
                .map(|a| a.iter().filter(|x| x["state"] == "pending").count());
            if pending == Some(0) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!(
            "webhook deliveries still pending: {}",
            self.emulator_get("_emulator/deliveries").await
        );
    }

    /// Signs a payload as Stripe would for our endpoint, `age` seconds ago.
    pub fn sign(&self, payload: &str, age: i64) -> String {
        stripe_webhook::Webhook::generate_test_header(
            payload,
            &self.webhook_secret,
            Some(chrono::Utc::now().timestamp() - age),
        )
    }

    pub async fn post_webhook(&self, payload: &str, signature: &str) -> reqwest::Response {
        plain_client()
            .post(self.url("/webhooks/stripe"))
            .header("Stripe-Signature", signature)
            .header("content-type", "application/json")
            .body(payload.to_owned())
            .send()
            .await
            .unwrap()
    }

    /// The events the emulator holds for a session, oldest first, as raw JSON strings.
    pub async fn session_events(&self, session_id: &str, type_: &str) -> Vec<String> {
        let list = self
            .emulator_get(&format!("v1/events?type={type_}&limit=100"))
            .await;
        let mut out: Vec<String> = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["data"]["object"]["id"] == session_id)
            .map(|e| e.to_string())
            .collect();
        out.reverse();
        out
    }
}

pub fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

pub fn session_id_of(url: &str) -> String {
    url.rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned()
}

// ---- accounts ----------------------------------------------------------------------------

pub const PASSWORD: &str = "correct horse battery staple";

impl TestApp {
    /// Registers through the form (the browser is then signed in).
    pub async fn register_with(
        &self,
        client: &reqwest::Client,
        email: &str,
        password: &str,
        confirmation: &str,
    ) -> reqwest::Response {
        let html = client
            .get(self.url("/account/register"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        client
            .post(self.url("/account/register"))
            .form(&[
                ("csrf_token", csrf_token(&html).as_str()),
                ("email", email),
                ("password", password),
                ("password_confirmation", confirmation),
                ("next", "/account"),
            ])
            .send()
            .await
            .unwrap()
    }

    pub async fn register(&self, email: &str) {
        let res = self
            .register_with(&self.client, email, PASSWORD, PASSWORD)
            .await;
        assert_redirect_to(&res, "/account");
    }

    pub async fn login_with(
        &self,
        client: &reqwest::Client,
        email: &str,
        password: &str,
    ) -> reqwest::Response {
        let html = client
            .get(self.url("/account/login"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        client
            .post(self.url("/account/login"))
            .form(&[
                ("csrf_token", csrf_token(&html).as_str()),
                ("email", email),
                ("password", password),
                ("next", "/account"),
            ])
            .send()
            .await
            .unwrap()
    }

    pub async fn logout(&self, client: &reqwest::Client) -> reqwest::Response {
        let html = client
            .get(self.url("/"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        client
            .post(self.url("/account/logout"))
            .form(&[("csrf_token", csrf_token(&html).as_str())])
            .send()
            .await
            .unwrap()
    }

    pub async fn user(&self, email: &str) -> storefront::accounts::model::User {
        let email = email.to_owned();
        storefront::db::run(&self.pool, move |conn| {
            storefront::accounts::model::by_email(conn, &email)
                .map_err(storefront::db::DbError::from)
        })
        .await
        .unwrap()
        .expect("user")
    }

    /// Posts a form found on `page` by its action, with the page's CSRF token and extra fields.
    pub async fn submit(
        &self,
        page: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let html = self.get_html(page).await.1;
        let actions = select_attr(&html, "form", "action");
        assert!(
            actions.iter().any(|a| a == action),
            "no form posting to {action} on {page}: {actions:?}"
        );
        let token = csrf_token(&html);
        let mut form = vec![("csrf_token", token.as_str())];
        form.extend_from_slice(fields);
        self.post_form(action, &form).await
    }
}
