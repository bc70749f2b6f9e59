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

#[actix_web::test]
async fn the_next_parameter_never_leaves_the_site() {
    let app = TestApp::spawn().await;
    app.register("jo@example.com").await;
    app.logout(&app.client).await;
    let html = app.get_html("/account/login").await.1;
    let res = app
        .post_form(
            "/account/login",
            &[
                ("csrf_token", &csrf_token(&html)),
                ("email", "jo@example.com"),
                ("password", PASSWORD),
                ("next", "//evil.example/x"),
            ],
        )
        .await;
    assert_redirect_to(&res, "/account");
}
