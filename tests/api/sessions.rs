//! Sessions: ended on the server by sign-out, "sign out everywhere", idle and absolute
//! lifetimes (a copied cookie dies with them); a new CSRF token at sign-in; the `__Host-`
//! cookie on https; no caching of signed-in and admin pages.

use chrono::TimeDelta;
use storefront::accounts::sessions::{
    ADMIN_ABSOLUTE_SECS, ADMIN_IDLE_SECS, CUSTOMER_ABSOLUTE_SECS, CUSTOMER_IDLE_SECS,
};

use crate::helpers::*;
use crate::mail::make_admin;

/// A browser with a readable cookie jar, registered and signed in as `email`.
async fn signed_in_with_jar(
    app: &TestApp,
    email: &str,
) -> (reqwest::Client, std::sync::Arc<reqwest::cookie::Jar>) {
    let (client, jar) = browser_with_jar();
    assert_redirect_to(
        &app.register_with(&client, email, PASSWORD, PASSWORD).await,
        "/account",
    );
    (client, jar)
}

async fn status(client: &reqwest::Client, app: &TestApp, path: &str) -> u16 {
    client
        .get(app.url(path))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[actix_web::test]
async fn signing_out_ends_the_session_so_a_copied_cookie_stops_working() {
    let app = TestApp::spawn().await;
    let (client, jar) = signed_in_with_jar(&app, "copy@example.com").await;
    let copied = app.copy_cookies(&jar);
    assert_eq!(app.get_with_cookie("/account", &copied).await.status(), 200);

    assert_redirect_to(&app.logout(&client).await, "/");
    assert_eq!(status(&client, &app, "/account").await, 303);
    let res = app.get_with_cookie("/account", &copied).await;
    assert_redirect_to(&res, "/account/login?next=%2Faccount");
    // Signing in again makes a new session; the old copy stays dead.
    assert_redirect_to(
        &app.login_with(&client, "copy@example.com", PASSWORD).await,
        "/account",
    );
    assert_eq!(app.get_with_cookie("/account", &copied).await.status(), 303);
}

#[actix_web::test]
async fn sign_out_everywhere_ends_every_session_of_the_account() {
    let app = TestApp::spawn().await;
    let (laptop, jar) = signed_in_with_jar(&app, "everywhere@example.com").await;
    let copied = app.copy_cookies(&jar);
    let phone = app.new_browser();
    assert_redirect_to(
        &app.login_with(&phone, "everywhere@example.com", PASSWORD)
            .await,
        "/account",
    );
    // Someone else's session is not touched.
    app.register("bystander@example.com").await;

    let html = laptop
        .get(app.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let forms = select_attr(&html, "form", "action");
    assert!(
        forms.iter().any(|a| a == "/account/logout-everywhere"),
        "{forms:?}"
    );
    let res = laptop
        .post(app.url("/account/logout-everywhere"))
        .form(&[("csrf_token", csrf_token(&html).as_str())])
        .send()
        .await
        .unwrap();
    assert_redirect_to(&res, "/account/login");
    let html = laptop
        .get(app.url("/account/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("signed out on every device"));
    for (what, code) in [
        ("this browser", status(&laptop, &app, "/account").await),
        ("the phone", status(&phone, &app, "/account").await),
        (
            "a copied cookie",
            app.get_with_cookie("/account", &copied)
                .await
                .status()
                .as_u16(),
        ),
    ] {
        assert_eq!(code, 303, "{what}");
    }
    assert_eq!(app.get("/account").await.status(), 200, "the bystander");
}

#[actix_web::test]
async fn customer_sessions_end_after_two_idle_hours_and_admin_sessions_after_thirty_minutes() {
    let app = TestApp::spawn().await;
    let (_, jar) = signed_in_with_jar(&app, "idle@example.com").await;
    let copied = app.copy_cookies(&jar);
    // Active just under the limit, twice over: each request resets the idle clock.
    for _ in 0..2 {
        app.clock
            .advance(TimeDelta::seconds(CUSTOMER_IDLE_SECS - 60));
        assert_eq!(app.get_with_cookie("/account", &copied).await.status(), 200);
    }
    app.clock.advance(TimeDelta::seconds(CUSTOMER_IDLE_SECS));
    assert_eq!(app.get_with_cookie("/account", &copied).await.status(), 303);

    make_admin(&app, "idle.admin@example.com").await;
    let (admin, jar) = browser_with_jar();
    assert_redirect_to(
        &app.login_with(&admin, "idle.admin@example.com", PASSWORD)
            .await,
        "/account",
    );
    let copied = app.copy_cookies(&jar);
    app.clock.advance(TimeDelta::seconds(ADMIN_IDLE_SECS - 60));
    assert_eq!(app.get_with_cookie("/admin", &copied).await.status(), 200);
    app.clock.advance(TimeDelta::seconds(ADMIN_IDLE_SECS));
    assert_eq!(status(&admin, &app, "/admin").await, 303);
    assert_eq!(app.get_with_cookie("/admin", &copied).await.status(), 303);
}

#[actix_web::test]
async fn sessions_end_after_fourteen_days_for_customers_and_twelve_hours_for_admins_however_busy() {
    let app = TestApp::spawn().await;
    let (client, _) = signed_in_with_jar(&app, "busy@example.com").await;
    make_admin(&app, "busy.admin@example.com").await;
    let admin = app.new_browser();
    assert_redirect_to(
        &app.login_with(&admin, "busy.admin@example.com", PASSWORD)
            .await,
        "/account",
    );
    // Active every 25 minutes: never idle, but the admin's 12 hours run out...
    let step = 25 * 60;
    let mut elapsed = 0;
    while elapsed + step < ADMIN_ABSOLUTE_SECS {
        app.clock.advance(TimeDelta::seconds(step));
        elapsed += step;
        assert_eq!(status(&admin, &app, "/admin").await, 200, "at {elapsed} s");
        assert_eq!(status(&client, &app, "/account").await, 200);
    }
    app.clock.advance(TimeDelta::seconds(step));
    elapsed += step;
    assert_eq!(status(&admin, &app, "/admin").await, 303);
    assert_eq!(status(&client, &app, "/account").await, 200);
    // ...and the customer's 14 days (active every 110 minutes).
    let step = 110 * 60;
    while elapsed + step < CUSTOMER_ABSOLUTE_SECS {
        app.clock.advance(TimeDelta::seconds(step));
        elapsed += step;
        assert_eq!(
            status(&client, &app, "/account").await,
            200,
            "at {elapsed} s"
        );
    }
    app.clock.advance(TimeDelta::seconds(step));
    assert_eq!(status(&client, &app, "/account").await, 303);
    // Signing in starts a new session.
    assert_redirect_to(
        &app.login_with(&client, "busy@example.com", PASSWORD).await,
        "/account",
    );
    assert_eq!(status(&client, &app, "/account").await, 200);
}

#[actix_web::test]
async fn signing_in_gives_the_session_a_new_csrf_token() {
    let app = TestApp::spawn().await;
    app.register("csrf@example.com").await;
    app.logout(&app.client).await;
    let html = app.get_html("/account/login").await.1;
    let before = csrf_token(&html);
    let res = app
        .post_form(
            "/account/login",
            &[
                ("csrf_token", before.as_str()),
                ("email", "csrf@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_redirect_to(&res, "/account");
    let after = csrf_token(&app.get_html("/account").await.1);
    assert_ne!(before, after);
    // The token seen before signing in is worth nothing now.
    let res = app
        .post_form("/account/logout", &[("csrf_token", before.as_str())])
        .await;
    assert_eq!(res.status(), 403);
    assert_eq!(app.get("/account").await.status(), 200, "still signed in");
    let res = app
        .post_form("/account/logout", &[("csrf_token", after.as_str())])
        .await;
    assert_redirect_to(&res, "/");
}

fn session_cookie(res: &reqwest::Response) -> String {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.contains("storefront="))
        .expect("a session cookie")
        .to_owned()
}

/// A new visitor's first form POST (a failed sign-in): where the session, and its cookie, begin
/// (page views create none).
async fn first_post(app: &TestApp, host: Option<&str>) -> reqwest::Response {
    let browser = app.new_browser();
    let with_host = |req: reqwest::RequestBuilder| match host {
        Some(h) => req.header("Host", h),
        None => req,
    };
    let res = with_host(browser.get(app.url("/account/login")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("set-cookie").is_none(), "a page view");
    let token = csrf_token(&res.text().await.unwrap());
    let res = with_host(browser.post(app.url("/account/login")))
        .form(&[
            ("csrf_token", token.as_str()),
            ("email", "nobody@example.com"),
            ("password", "not the password"),
        ])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error(), "{}", res.status());
    res
}

#[actix_web::test]
async fn the_session_cookie_is_host_prefixed_on_https_and_plain_on_http() {
    let app = TestApp::spawn_with(&[("PUBLIC_URL", "https://127.0.0.1/")]).await;
    let res = first_post(&app, Some("127.0.0.1")).await;
    let cookie = session_cookie(&res);
    assert!(cookie.starts_with("__Host-storefront="), "{cookie}");
    let attributes: Vec<String> = cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    assert!(attributes.iter().any(|a| a == "secure"), "{cookie}");
    assert!(attributes.iter().any(|a| a == "path=/"), "{cookie}");
    assert!(
        !attributes.iter().any(|a| a.starts_with("domain")),
        "{cookie}"
    );

    let app = TestApp::spawn().await;
    let res = first_post(&app, None).await;
    let cookie = session_cookie(&res);
    assert!(cookie.starts_with("storefront="), "{cookie}");
    assert!(!cookie.to_ascii_lowercase().contains("secure"), "{cookie}");
}

#[actix_web::test]
async fn signed_in_and_admin_pages_are_never_cached() {
    let app = TestApp::spawn().await;
    let cache = |res: &reqwest::Response| {
        res.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    // A visitor's catalogue page may be cached.
    assert_ne!(cache(&app.get("/").await), "no-store");
    app.register("cache@example.com").await;
    for path in ["/account", "/", "/products/canvas-tote", "/cart"] {
        assert_eq!(cache(&app.get(path).await), "no-store", "{path}");
    }
    make_admin(&app, "cache.admin@example.com").await;
    let admin = app.new_browser();
    assert_redirect_to(
        &app.login_with(&admin, "cache.admin@example.com", PASSWORD)
            .await,
        "/account",
    );
    for path in ["/admin", "/admin/mail", "/admin/dashboard"] {
        let res = admin.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(cache(&res), "no-store", "{path}");
    }
}
