use std::sync::Arc;

use actix_web::{App, test, web};
use storefront::config::{Config, DatabaseUrl};
use storefront::db::Manager;

use crate::helpers::TestApp;

#[actix_web::test]
async fn every_response_carries_the_security_headers() {
    let app = TestApp::spawn().await;
    for path in ["/", "/products/canvas-tote", "/missing", "/healthz"] {
        let res = app.get(path).await;
        let h = res.headers();
        let csp = h
            .get("content-security-policy")
            .unwrap_or_else(|| panic!("{path}: no CSP"))
            .to_str()
            .unwrap();
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        // The emulator's checkout page is where the checkout form redirects to.
        assert!(
            csp.contains("form-action 'self' http://127.0.0.1:"),
            "{csp}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
    }
}

#[actix_web::test]
async fn session_cookie_is_http_only_and_encrypted() {
    let app = TestApp::spawn().await;
    // The session begins with the first form POST, which keeps the page's token.
    let (token, _) = app.product_form(&app.client, "canvas-tote").await;
    let res = app.add_to_cart_with(&app.client, "canvas-tote", "1").await;
    assert_eq!(res.status(), 303);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("storefront="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    // Private cookies are encrypted: the token must not be readable in the cookie.
    assert!(!cookie.contains(&token), "CSRF token visible in the cookie");
    assert!(
        !cookie.contains("csrf"),
        "session keys visible in the cookie"
    );
}

#[actix_web::test]
async fn healthz_answers_200_when_the_database_answers() {
    let app = TestApp::spawn().await;
    let res = app.get("/healthz").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), r#"{"status":"ok"}"#);
}

#[actix_web::test]
async fn healthz_answers_503_when_the_database_does_not() {
    // A pool whose server is gone: connections are refused.
    let url = DatabaseUrl::parse("postgres://postgres@127.0.0.1:1/nowhere").unwrap();
    let pool = diesel::r2d2::Pool::builder()
        .connection_timeout(std::time::Duration::from_millis(300))
        .build_unchecked(Manager::new(url));
    let pool = storefront::db::Pool::new(pool);
    let config = Config::from_lookup(|_| None).unwrap();
    let state = web::Data::new(storefront::state::AppState {
        catalogue: storefront::catalog::snapshot::CatalogueCache::new(
            pool.clone(),
            config.currency,
        ),
        pool,
        config: Arc::new(config),
        clock: Arc::new(storefront::clock::SystemClock),
        public_url: url::Url::parse("http://127.0.0.1/").unwrap(),
        stripe: storefront::payments::Stripe::new(
            "sk_test_x",
            None,
            std::time::Duration::from_secs(1),
            false,
            "install",
        )
        .unwrap(),
        metrics: Default::default(),
        webhook_secret: "whsec_x".into(),
        mailer: Arc::new(storefront::mail::worker::Transport::Local),
        mail_from: "shop@localhost".into(),
        hasher: Arc::new(storefront::accounts::password::Hasher::new(1)),
        dev_inbox: Default::default(),
        refund_policy: Default::default(),
        links: Arc::new(storefront::digital::links::LinkSigner::new(
            &actix_web::cookie::Key::generate(),
        )),
    });
    let svc = test::init_service(
        App::new()
            .app_data(state)
            .route("/healthz", web::get().to(storefront::health::healthz)),
    )
    .await;
    let res = test::call_service(&svc, test::TestRequest::get().uri("/healthz").to_request()).await;
    assert_eq!(res.status(), 503);
}

#[actix_web::test]
async fn the_stylesheet_is_served_and_cached() {
    let app = TestApp::spawn().await;
    let (_, html) = app.get_html("/").await;
    let href = crate::helpers::select_attr(&html, "link[rel=stylesheet]", "href").remove(0);
    let res = app.get(&href).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/css; charset=utf-8");
    assert!(
        res.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
}

#[actix_web::test]
async fn wrong_methods_and_odd_requests_never_500() {
    let app = TestApp::spawn().await;
    let cases = [
        app.client.post(app.url("/")).send().await.unwrap(),
        app.client
            .delete(app.url("/products/canvas-tote"))
            .send()
            .await
            .unwrap(),
        app.client
            .get(app.url("/products/canvas-tote?x=%ZZ"))
            .send()
            .await
            .unwrap(),
        app.client
            .get(app.url(&format!("/products/{}", "a".repeat(5000))))
            .send()
            .await
            .unwrap(),
    ];
    for res in cases {
        let status = res.status().as_u16();
        assert!(status < 500, "{} → {status}", res.url());
    }
}
