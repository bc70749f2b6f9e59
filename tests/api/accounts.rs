//! Accounts: registration, sign-in and its limits, sessions, what a guest brings along.

use crate::helpers::*;

#[actix_web::test]
async fn register_sign_out_and_sign_in_again() {
    let app = TestApp::spawn().await;
    app.register("Ann@Example.com").await;
    let (status, html) = app.get_html("/account").await;
    assert_eq!(status, 200);
    assert!(html.contains("Signed in as Ann@Example.com"));
    assert!(html.contains("Welcome! Your account is ready."));
    let user = app.user("ann@example.com").await;
    assert!(user.password_hash.starts_with("$argon2id$"), "argon2id");
    assert!(!user.password_hash.contains(PASSWORD));

    assert_redirect_to(&app.logout(&app.client).await, "/");
    let res = app.get("/account").await;
    assert_redirect_to(&res, "/account/login?next=%2Faccount");

    // E-mail matching ignores case.
    let res = app
        .login_with(&app.client, "ANN@example.COM", PASSWORD)
        .await;
    assert_redirect_to(&res, "/account");
    assert_eq!(app.get("/account").await.status(), 200);
}

#[actix_web::test]
async fn bad_registrations_re_render_with_field_messages_and_create_nothing() {
    let app = TestApp::spawn().await;
    app.register("taken@example.com").await;
    app.logout(&app.client).await;
    let cases = [
        (
            "TAKEN@example.com",
            PASSWORD,
            PASSWORD,
            "email",
            "already exists",
        ),
        (
            "someone@example.com",
            "short",
            "short",
            "password",
            "at least 12 characters",
        ),
        (
            "someone@example.com",
            PASSWORD,
            "something else entirely",
            "password_confirmation",
            "don't match",
        ),
        (
            "not-an-email",
            PASSWORD,
            PASSWORD,
            "email",
            "name@example.com",
        ),
        ("", PASSWORD, PASSWORD, "email", "name@example.com"),
    ];
    for (email, password, confirmation, field, message) in cases {
        let res = app
            .register_with(&app.client, email, password, confirmation)
            .await;
        assert_eq!(res.status().as_u16(), 422, "{field}");
        let html = res.text().await.unwrap();
        let errors = select_text(&html, ".field-error").join(" | ");
        assert!(errors.contains(message), "{field}: {errors}");
        assert_eq!(
            select_attr(&html, &format!("#{field}"), "aria-invalid"),
            vec!["true"],
            "{field}"
        );
    }
    use diesel::prelude::*;
    let n: i64 = storefront::db::run(&app.pool, |conn| {
        // Customers only: demo mode also seeds its admin.
        storefront::schema::users::table
            .filter(storefront::schema::users::role.eq("customer"))
            .count()
            .get_result(conn)
            .map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap();
    assert_eq!(n, 1);
}

#[actix_web::test]
async fn a_wrong_password_and_an_unknown_e_mail_get_the_same_answer() {
    let app = TestApp::spawn().await;
    app.register("bob@example.com").await;
    app.logout(&app.client).await;
    for (email, password) in [
        ("bob@example.com", "wrong password here"),
        ("nobody@example.com", PASSWORD),
    ] {
        let res = app.login_with(&app.client, email, password).await;
        assert_eq!(res.status().as_u16(), 401);
        let html = res.text().await.unwrap();
        assert_eq!(
            select_text(&html, "#login-error"),
            vec!["E-mail or password is wrong."]
        );
    }
}

#[actix_web::test]
async fn sign_in_attempts_are_limited_with_growing_delays_per_address_and_e_mail() {
    let app = TestApp::spawn().await;
    app.register("carol@example.com").await;
    app.register_with(&app.new_browser(), "dave@example.com", PASSWORD, PASSWORD)
        .await;
    app.logout(&app.client).await;
    for _ in 0..5 {
        let res = app
            .login_with(&app.client, "carol@example.com", "not the password")
            .await;
        assert_eq!(res.status().as_u16(), 401);
    }
    // Past the limit even the right password is not checked.
    let res = app
        .login_with(&app.client, "carol@example.com", PASSWORD)
        .await;
    assert_eq!(res.status().as_u16(), 429);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Too many sign-in attempts. Please wait 1 minute")
    );
    // Another account from the same address is not locked out.
    assert_redirect_to(
        &app.login_with(&app.new_browser(), "dave@example.com", PASSWORD)
            .await,
        "/account",
    );
    // The delay passes; one more failure doubles it.
    app.clock.advance(chrono::TimeDelta::seconds(61));
    assert_eq!(
        app.login_with(&app.client, "carol@example.com", "still wrong")
            .await
            .status()
            .as_u16(),
        401
    );
    let res = app
        .login_with(&app.client, "carol@example.com", PASSWORD)
        .await;
    assert_eq!(res.status().as_u16(), 429);
    assert!(res.text().await.unwrap().contains("wait 2 minutes"));
    app.clock.advance(chrono::TimeDelta::seconds(121));
    assert_redirect_to(
        &app.login_with(&app.client, "carol@example.com", PASSWORD)
            .await,
        "/account",
    );
}

#[actix_web::test]
async fn bumping_the_session_epoch_ends_every_session() {
    let app = TestApp::spawn().await;
    app.register("erin@example.com").await;
    let other = app.new_browser();
    assert_redirect_to(
        &app.login_with(&other, "erin@example.com", PASSWORD).await,
        "/account",
    );
    assert_eq!(
        other
            .get(app.url("/account"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    {
        use diesel::prelude::*;
        use storefront::schema::users;
        storefront::db::run(&app.pool, |conn| {
            diesel::update(users::table)
                .set(users::session_epoch.eq(users::session_epoch + 1))
                .execute(conn)
                .map_err(storefront::db::DbError::from)
        })
        .await
        .unwrap();
    }
    assert_eq!(app.get("/account").await.status(), 303);
    assert_eq!(
        other
            .get(app.url("/account"))
            .send()
            .await
            .unwrap()
            .status(),
        303
    );
}

#[actix_web::test]
async fn a_guest_cart_and_guest_orders_join_the_account_on_sign_in() {
    let app = TestApp::spawn().await;
    // The account already has something in its cart.
    let phone = app.new_browser();
    app.register_with(&phone, "fay@example.com", PASSWORD, PASSWORD)
        .await;
    app.add_to_cart_with(&phone, "enamel-mug", "1").await;
    app.logout(&phone).await;

    // As a guest in another browser: an order, then a cart.
    app.add_to_cart("canvas-tote", 1).await;
    let session_url = app.checkout().await;
    let order = app.order_by_session(&session_id_of(&session_url)).await;
    app.pay_ok(&session_url).await;
    app.wait_for_status(&order.number, "paid").await;
    app.get_html(&format!(
        "/checkout/success?session_id={}",
        session_id_of(&session_url)
    ))
    .await;
    app.add_to_cart("coffee-beans", 2).await;
    app.add_to_cart("enamel-mug", 2).await;

    assert_redirect_to(
        &app.login_with(&app.client, "fay@example.com", PASSWORD)
            .await,
        "/account",
    );
    let html = app.get_html("/account").await.1;
    assert!(html.contains(&order.number), "the guest order is attached");
    let cart = app.cart_html().await;
    let qty = select_attr(&cart, "input[name=quantity][type=number]", "value");
    let names = select_text(&cart, ".cart tbody td a");
    assert_eq!(
        names,
        vec!["Enamel camp mug", "Single-origin coffee beans, 250 g"]
    );
    assert_eq!(qty, vec!["3", "2"], "quantities add up");
    // And it's the same cart on the other device after signing in there.
    assert_redirect_to(
        &app.login_with(&phone, "fay@example.com", PASSWORD).await,
        "/account",
    );
    let html = phone
        .get(app.url("/cart"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        select_attr(&html, "input[name=quantity][type=number]", "value"),
        vec!["3", "2"]
    );
}

#[actix_web::test]
async fn customers_only_see_their_own_orders() {
    let app = TestApp::spawn().await;
    app.register("gus@example.com").await;
    app.add_to_cart("canvas-tote", 1).await;
    let session_url = app.checkout().await;
    let order = app.order_by_session(&session_id_of(&session_url)).await;
    assert!(
        order.user_id.is_some(),
        "a signed-in checkout belongs to the customer"
    );
    assert!(
        order.email.is_none(),
        "paid as the customer, not by typed e-mail"
    );
    let session = app
        .emulator_get(&format!(
            "v1/checkout/sessions/{}",
            session_id_of(&session_url)
        ))
        .await;
    assert_eq!(
        session["customer"].as_str(),
        app.user("gus@example.com")
            .await
            .stripe_customer_id
            .as_deref()
    );
    app.pay_ok(&session_url).await;
    app.wait_for_status(&order.number, "paid").await;
    let (status, html) = app
        .get_html(&format!("/account/orders/{}", order.number))
        .await;
    assert_eq!(status, 200);
    assert_eq!(select_text(&html, "#order-status"), vec!["Paid"]);
    assert_eq!(
        select_text(&html, "#items tbody td"),
        vec!["Canvas tote bag", "1", "$18.00", "$18.00"]
    );
    assert_eq!(select_text(&html, "#order-total"), vec!["$18.00"]);

    let other = app.new_browser();
    app.register_with(&other, "hal@example.com", PASSWORD, PASSWORD)
        .await;
    let res = other
        .get(app.url(&format!("/account/orders/{}", order.number)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let guest = app.new_browser();
    let res = guest
        .get(app.url(&format!("/account/orders/{}", order.number)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    for path in [
        "/account/orders/nonsense",
        "/account/orders/SF-0000-0000",
        "/account?page=abc",
        "/account?page=-4",
    ] {
        assert!(
            other
                .get(app.url(path))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
                < 500,
            "{path}"
        );
    }
}

#[actix_web::test]
async fn account_posts_need_the_csrf_token() {
    let app = TestApp::spawn().await;
    let res = app
        .post_form(
            "/account/register",
            &[
                ("email", "x@example.com"),
                ("password", PASSWORD),
                ("password_confirmation", PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status(), 403);
    let res = app
        .post_form(
            "/account/login",
            &[("email", "x@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(res.status(), 403);
    app.register("ivy@example.com").await;
    let res = app
        .post_form("/account/logout", &[("csrf_token", "forged")])
        .await;
    assert_eq!(res.status(), 403);
    assert_eq!(app.get("/account").await.status(), 200, "still signed in");
}

/// Values of `next` that browsers resolve to another site (or that smuggle characters browsers
/// strip), each of which must land on the account page instead.
const OPEN_REDIRECTS: &[&str] = &[
    "//evil.example/x",
    "///evil.example",
    "/\\evil.example",
    "\\/evil.example",
    "/%09/evil.example",
    "/\t/evil.example",
    "/%5Cevil.example",
    "/%2F%2Fevil.example",
    "/.//evil.example",
    "https:evil.example",
    "https://evil.example",
    "javascript:alert(1)",
    "http://127.0.0.1@evil.example",
    "/ /evil.example",
];

#[actix_web::test]
async fn the_next_parameter_never_leaves_the_site() {
    let app = TestApp::spawn().await;
    app.register("jo@example.com").await;
    app.logout(&app.client).await;
    let host = app.address.trim_start_matches("http://").to_owned();
    let mut corpus: Vec<String> = OPEN_REDIRECTS.iter().map(|s| s.to_string()).collect();
    corpus.push(format!("http://{host}@evil.example"));
    corpus.push(format!("http://{host}.evil.example/"));
    for evil in &corpus {
        // On the sign-in page's hidden field...
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("next", evil)
            .finish();
        let html = app.get_html(&format!("/account/login?{query}")).await.1;
        assert_eq!(
            select_attr(&html, "input[name=next]", "value"),
            vec!["/account"],
            "{evil:?}"
        );
        // ...and after signing in with it.
        let res = app
            .post_form(
                "/account/login",
                &[
                    ("csrf_token", &csrf_token(&html)),
                    ("email", "jo@example.com"),
                    ("password", PASSWORD),
                    ("next", evil),
                ],
            )
            .await;
        assert_redirect_to(&res, "/account");
        app.logout(&app.client).await;
    }
    // A path of the shop is kept, on registration too.
    let res = app
        .new_browser()
        .get(app.url("/account/register?next=%2Fproducts%2Fcoffee-club"))
        .send()
        .await
        .unwrap();
    let html = res.text().await.unwrap();
    assert_eq!(
        select_attr(&html, "input[name=next]", "value"),
        vec!["/products/coffee-club"]
    );
}

/// Signs in from client address `ip` (the shop trusts 127.0.0.1 as a proxy in these tests).
async fn login_from(app: &TestApp, ip: &str, email: &str, password: &str) -> reqwest::Response {
    let client = app.new_browser();
    let html = client
        .get(app.url("/account/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    client
        .post(app.url("/account/login"))
        .header("X-Forwarded-For", ip)
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

#[actix_web::test]
async fn parallel_wrong_guesses_get_no_more_password_checks_than_the_limit_allows() {
    let app = TestApp::spawn().await;
    app.register("kim@example.com").await;
    app.logout(&app.client).await;
    let html = app.get_html("/account/login").await.1;
    let token = csrf_token(&html);
    let before = app.state.hasher.computed();
    let guesses = (0..20).map(|i| {
        let (client, url, token) = (app.client.clone(), app.url("/account/login"), token.clone());
        async move {
            client
                .post(url)
                .form(&[
                    ("csrf_token", token.as_str()),
                    ("email", "kim@example.com"),
                    ("password", format!("guess number {i:04}").as_str()),
                ])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    let checked = app.state.hasher.computed() - before;
    let wrong = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(wrong + refused, 20, "{statuses:?}");
    assert!(
        checked <= storefront::accounts::limits::PAIR_FREE as u64,
        "{checked} passwords checked: {statuses:?}"
    );
    assert_eq!(wrong as u64, checked);
}

#[actix_web::test]
async fn many_failing_addresses_slow_each_other_down_but_never_lock_the_owner_out() {
    use storefront::accounts::limits::{ACCOUNT_FREE, ACCOUNT_MAX_DELAY_SECS};
    let app = TestApp::spawn_with(&[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    app.register("lee@example.com").await;
    app.logout(&app.client).await;
    // One failure from each of many addresses: no address reaches its own limits.
    for i in 0..ACCOUNT_FREE {
        let res = login_from(&app, &format!("198.51.100.{i}"), "lee@example.com", "guess").await;
        assert_eq!(res.status().as_u16(), 401, "guess {i}");
    }
    // Now an address that failed recently waits, even with the right password...
    let res = login_from(&app, "198.51.100.1", "lee@example.com", PASSWORD).await;
    assert_eq!(res.status().as_u16(), 429);
    assert!(res.text().await.unwrap().contains("wait 1 minute"));
    // ...but the owner, from an address without failures, signs in.
    assert_redirect_to(
        &login_from(&app, "203.0.113.7", "lee@example.com", PASSWORD).await,
        "/account",
    );
    // The delay is short...
    app.clock.advance(chrono::TimeDelta::seconds(31));
    assert_redirect_to(
        &login_from(&app, "198.51.100.1", "lee@example.com", PASSWORD).await,
        "/account",
    );
    // ...doubles with each failure, but is capped at a few minutes.
    for i in 0..20 {
        app.clock.advance(chrono::TimeDelta::seconds(1));
        login_from(&app, &format!("192.0.2.{i}"), "lee@example.com", "guess").await;
    }
    let res = login_from(&app, "198.51.100.2", "lee@example.com", PASSWORD).await;
    assert_eq!(res.status().as_u16(), 429);
    assert!(
        res.text().await.unwrap().contains("wait 5 minutes"),
        "capped at {ACCOUNT_MAX_DELAY_SECS} s"
    );
    assert_redirect_to(
        &login_from(&app, "203.0.113.8", "lee@example.com", PASSWORD).await,
        "/account",
    );
    app.clock
        .advance(chrono::TimeDelta::seconds(ACCOUNT_MAX_DELAY_SECS + 1));
    assert_redirect_to(
        &login_from(&app, "198.51.100.2", "lee@example.com", PASSWORD).await,
        "/account",
    );
}

#[actix_web::test]
async fn limits_and_reset_tokens_are_checked_before_any_password_is_hashed() {
    let app = TestApp::spawn().await;
    app.register("mo@example.com").await;
    app.logout(&app.client).await;
    // Every hashing slot taken: whatever still needs a hash is refused as busy (503).
    let hasher = app.state.hasher.clone();
    let held = hasher
        .semaphore()
        .clone()
        .acquire_many_owned(hasher.size() as u32)
        .await
        .unwrap();
    let before = hasher.computed();

    // A reset with a link that is not valid: 404 at once, nothing hashed.
    let html = app.get_html("/account/password/forgot").await.1;
    let bogus = "A".repeat(43);
    let res = app
        .post_form(
            "/account/password/reset",
            &[
                ("csrf_token", csrf_token(&html).as_str()),
                ("token", bogus.as_str()),
                ("password", "a long enough password"),
                ("password_confirmation", "a long enough password"),
            ],
        )
        .await;
    assert_eq!(res.status(), 404);
    // A registration for a taken address: answered without hashing.
    let res = app
        .register_with(&app.new_browser(), "mo@example.com", PASSWORD, PASSWORD)
        .await;
    assert_eq!(res.status(), 422);
    assert_eq!(hasher.computed(), before, "nothing hashed");

    // A new registration and a sign-in need a hash: busy.
    let res = app
        .register_with(&app.new_browser(), "new@example.com", PASSWORD, PASSWORD)
        .await;
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "5");
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("try again in a few seconds")
    );
    let res = app
        .login_with(&app.new_browser(), "mo@example.com", PASSWORD)
        .await;
    assert_eq!(res.status(), 503);
    assert_eq!(hasher.computed(), before, "nothing hashed");

    // A busy answer is no failed sign-in, and the slots free up.
    drop(held);
    assert_redirect_to(
        &app.register_with(&app.new_browser(), "new@example.com", PASSWORD, PASSWORD)
            .await,
        "/account",
    );
    assert_redirect_to(
        &app.login_with(&app.new_browser(), "mo@example.com", PASSWORD)
            .await,
        "/account",
    );
}

#[actix_web::test]
async fn registrations_forgot_password_and_resets_are_limited_per_address_and_per_e_mail() {
    use storefront::accounts::limits::{
        FORGOT_PER_ADDRESS, REGISTER_PER_ADDRESS, REGISTER_PER_EMAIL, RESET_PER_ADDRESS,
    };
    let app = TestApp::spawn_with(&[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    let register_from = |ip: &'static str, email: String| {
        let app = &app;
        async move {
            let client = app.new_browser();
            let html = client
                .get(app.url("/account/register"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            client
                .post(app.url("/account/register"))
                .header("X-Forwarded-For", ip)
                .form(&[
                    ("csrf_token", csrf_token(&html).as_str()),
                    ("email", email.as_str()),
                    ("password", PASSWORD),
                    ("password_confirmation", PASSWORD),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    // Per address.
    for i in 0..REGISTER_PER_ADDRESS.max {
        let res = register_from("198.51.100.1", format!("user{i}@example.com")).await;
        assert_eq!(res.status(), 303, "registration {i}");
    }
    let res = register_from("198.51.100.1", "one.more@example.com".into()).await;
    assert_eq!(res.status(), 429);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Too many registrations from your network. Please wait 60 minutes")
    );
    assert_eq!(
        register_from("198.51.100.2", "one.more@example.com".into())
            .await
            .status(),
        303,
        "another address is not held back"
    );
    // Per e-mail, whatever the address.
    for i in 0..REGISTER_PER_EMAIL.max - 1 {
        let ip: &'static str = Box::leak(format!("203.0.113.{i}").into_boxed_str());
        let res = register_from(ip, "one.more@example.com".into()).await;
        assert_eq!(res.status(), 422, "taken, attempt {i}");
    }
    assert_eq!(
        register_from("203.0.113.200", "one.more@example.com".into())
            .await
            .status(),
        429
    );

    // Forgot-password requests per address.
    let forgot_from = |ip: &'static str| {
        let app = &app;
        async move {
            let client = app.new_browser();
            let html = client
                .get(app.url("/account/password/forgot"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            client
                .post(app.url("/account/password/forgot"))
                .header("X-Forwarded-For", ip)
                .form(&[
                    ("csrf_token", csrf_token(&html).as_str()),
                    ("email", "nobody@example.com"),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    for i in 0..FORGOT_PER_ADDRESS.max {
        assert_eq!(forgot_from("192.0.2.1").await.status(), 200, "request {i}");
    }
    let res = forgot_from("192.0.2.1").await;
    assert_eq!(res.status(), 429);
    assert_eq!(
        select_text(&res.text().await.unwrap(), "#forgot-error"),
        vec!["Too many requests from your network. Please wait 60 minutes and try again."]
    );
    assert_eq!(forgot_from("192.0.2.2").await.status(), 200);

    // Reset submissions per address (with links that are not valid: nothing is hashed).
    let html = app.get_html("/account/password/forgot").await.1;
    let reset_from = |ip: &'static str| {
        let (app, token) = (&app, csrf_token(&html));
        async move {
            app.client
                .post(app.url("/account/password/reset"))
                .header("X-Forwarded-For", ip)
                .form(&[
                    ("csrf_token", token.as_str()),
                    ("token", "B".repeat(43).as_str()),
                    ("password", "a long enough password"),
                    ("password_confirmation", "a long enough password"),
                ])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    for _ in 0..RESET_PER_ADDRESS.max {
        assert_eq!(reset_from("192.0.2.3").await, 404);
    }
    assert_eq!(reset_from("192.0.2.3").await, 429);
    assert_eq!(reset_from("192.0.2.4").await, 404);

    // An hour later, all is forgotten.
    app.clock.advance(chrono::TimeDelta::minutes(61));
    assert_eq!(
        register_from("198.51.100.1", "later@example.com".into())
            .await
            .status(),
        303
    );
    assert_eq!(forgot_from("192.0.2.1").await.status(), 200);
    assert_eq!(reset_from("192.0.2.3").await, 404);
}

#[actix_web::test]
async fn registration_says_an_address_is_taken_only_a_few_times_an_hour_per_client() {
    use storefront::accounts::limits::REGISTER_TAKEN_PER_ADDRESS;
    let app = TestApp::spawn().await;
    for i in 0..REGISTER_TAKEN_PER_ADDRESS.max {
        let email = format!("member{i}@example.com");
        app.register_with(&app.new_browser(), &email, PASSWORD, PASSWORD)
            .await;
    }
    let prober = app.new_browser();
    for i in 0..REGISTER_TAKEN_PER_ADDRESS.max {
        let res = app
            .register_with(
                &prober,
                &format!("member{i}@example.com"),
                PASSWORD,
                PASSWORD,
            )
            .await;
        assert_eq!(res.status(), 422);
        assert!(res.text().await.unwrap().contains("already exists"));
    }
    // Past that, the same answer for a taken address and a free one.
    let taken = app
        .register_with(&prober, "member0@example.com", PASSWORD, PASSWORD)
        .await;
    let free = app
        .register_with(&prober, "nobody.yet@example.com", PASSWORD, PASSWORD)
        .await;
    assert_eq!(
        (taken.status().as_u16(), free.status().as_u16()),
        (429, 429)
    );
    let errors = |html: String| select_text(&html, ".field-error");
    assert_eq!(
        errors(taken.text().await.unwrap()),
        errors(free.text().await.unwrap())
    );
    app.clock.advance(chrono::TimeDelta::minutes(61));
    assert_redirect_to(
        &app.register_with(&prober, "nobody.yet@example.com", PASSWORD, PASSWORD)
            .await,
        "/account",
    );
}

#[actix_web::test]
async fn forgot_password_sends_one_mail_per_address_every_five_minutes_and_prunes_expired_tokens() {
    use diesel::prelude::*;
    use storefront::schema::email_tokens;
    let app = TestApp::spawn().await;
    app.register("nell@example.com").await;
    let resets = |app: &TestApp| {
        let pool = app.pool.clone();
        async move {
            storefront::db::run(&pool, |conn| {
                storefront::mail::outbox::recent(conn, 100).map_err(storefront::db::DbError::from)
            })
            .await
            .unwrap()
            .into_iter()
            .filter(|m| m.kind == "password_reset")
            .count()
        }
    };
    let asks = (0..8).map(|_| app.forgot("nell@example.com"));
    let answers = futures_util::future::join_all(asks).await;
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    assert_eq!(answers[0].0, 200);
    assert_eq!(resets(&app).await, 1, "one mail, however many requests");
    app.clock.advance(chrono::TimeDelta::minutes(4));
    app.forgot("nell@example.com").await;
    assert_eq!(resets(&app).await, 1);
    app.clock.advance(chrono::TimeDelta::minutes(1));
    app.forgot("nell@example.com").await;
    assert_eq!(resets(&app).await, 2);

    // Both mails sent: two reset tokens (and the verification token) exist.
    storefront::mail::worker::run_once(&app.state)
        .await
        .unwrap();
    let tokens = |app: &TestApp| {
        let pool = app.pool.clone();
        async move {
            storefront::db::run(&pool, |conn| {
                email_tokens::table
                    .select(email_tokens::purpose)
                    .order(email_tokens::purpose)
                    .load::<String>(conn)
                    .map_err(storefront::db::DbError::from)
            })
            .await
            .unwrap()
        }
    };
    assert_eq!(tokens(&app).await, vec!["reset", "reset", "verify"]);
    // An hour on they have expired; the next token issued prunes them.
    app.clock.advance(chrono::TimeDelta::minutes(61));
    app.forgot("nell@example.com").await;
    storefront::mail::worker::run_once(&app.state)
        .await
        .unwrap();
    assert_eq!(tokens(&app).await, vec!["reset", "verify"]);
}
