//! The canonical host: pages on another name of the shop go to `PUBLIC_URL`'s host (308 for GET
//! and HEAD, 400 for forms), so the host-only session cookie is there when Stripe sends the
//! shopper back; health checks, metrics, Stripe's webhooks and assets answer on any host.

use std::io::{Read as _, Write as _};

use crate::helpers::*;

impl TestApp {
    fn port(&self) -> u16 {
        self.address.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// A request to this app (by its address) naming another `Host`.
    fn on_host(&self, method: reqwest::Method, path: &str, host: &str) -> reqwest::RequestBuilder {
        self.new_browser()
            .request(method, self.url(path))
            .header("Host", host)
    }
}

#[actix_web::test]
async fn pages_on_another_host_are_redirected_to_public_url_with_308() {
    let app = TestApp::spawn().await;
    let host = format!("localhost:{}", app.port());
    for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
        let res = app
            .on_host(method.clone(), "/products/canvas-tote?ref=a%20b&x=1", &host)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 308, "{method}");
        assert_eq!(
            location(&res),
            app.url("/products/canvas-tote?ref=a%20b&x=1"),
            "{method}"
        );
    }
    // The address the shop is published at is served as before.
    let res = app.get("/products/canvas-tote").await;
    assert_eq!(res.status().as_u16(), 200);
    // As is a request without a Host (HTTP/1.0): it is redirected, as on any unknown host.
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", app.port())).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    stream.write_all(b"GET /cart HTTP/1.0\r\n\r\n").unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert_eq!(answer.split_whitespace().nth(1), Some("308"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains(&format!("location: {}\r\n", app.url("/cart"))),
        "{answer}"
    );
}

#[actix_web::test]
async fn hosts_compare_case_insensitively_with_default_ports() {
    let app = TestApp::spawn_with(&[("PUBLIC_URL", "http://localhost/")]).await;
    for host in ["localhost", "LocalHost", "localhost:80"] {
        let res = app
            .on_host(reqwest::Method::GET, "/", host)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200, "{host}");
    }
    for host in ["localhost:8080", "127.0.0.1", "shop.localhost"] {
        let res = app
            .on_host(reqwest::Method::GET, "/cart", host)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 308, "{host}");
        assert_eq!(location(&res), "http://localhost/cart", "{host}");
    }
}

#[actix_web::test]
async fn forms_posted_to_another_host_are_refused_with_a_page_that_says_where_the_shop_is() {
    let app = TestApp::spawn().await;
    let host = format!("localhost:{}", app.port());
    let (token, price) = app.product_form(&app.client, "canvas-tote").await;
    let res = app
        .on_host(reqwest::Method::POST, "/cart/items", &host)
        .form(&[
            ("csrf_token", token.as_str()),
            ("price_id", price.as_str()),
            ("quantity", "1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = res.text().await.unwrap();
    assert!(
        html.contains(&format!("This shop is at {}.", app.address)),
        "{html}"
    );
    assert!(
        !app.cart_html().await.contains("Canvas tote"),
        "nothing added"
    );
}

#[actix_web::test]
async fn health_metrics_webhooks_and_assets_answer_on_any_host() {
    let app = TestApp::spawn().await;
    let host = format!("10.0.0.7:{}", app.port());
    for path in [
        "/healthz",
        "/metrics",
        storefront::web::assets::stylesheet_path(),
        "/favicon.ico",
    ] {
        let res = app
            .on_host(reqwest::Method::GET, path, &host)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200, "{path}");
    }
    let payload = format!(
        r#"{{"id":"evt_any_host_{}","object":"event","api_version":"2026-09-30.endive","created":{},"data":{{"object":{{"id":"thing_1","object":"thing"}}}},"livemode":false,"pending_webhooks":1,"request":{{"id":null,"idempotency_key":null}},"type":"thing.happened"}}"#,
        random_hex(4),
        chrono::Utc::now().timestamp()
    );
    let res = app
        .on_host(reqwest::Method::POST, "/webhooks/stripe", &host)
        .header("Stripe-Signature", app.sign(&payload, 0))
        .header("content-type", "application/json")
        .body(payload)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
}
