//! Logs: JSON, one line per request, never carrying secrets (passwords, card numbers, keys,
//! tokens, session cookies).

use std::time::Duration;

use crate::helpers::*;

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
        .form(
            &[
                ("email", "logs@example.com"),
                ("method", "card"),
                ("card_number", CARD_DECLINED),
                ("card_expiry", "12 / 34"),
                ("card_cvc", "123"),
            ]
            .into_iter()
            .chain(SHIP_TO_NEW_YORK)
            .collect::<Vec<_>>(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 402);
    let res = browser()
        .post(&session_url)
        .form(
            &[
                ("email", "logs@example.com"),
                ("method", "card"),
                ("card_number", card),
                ("card_expiry", "12 / 34"),
                ("card_cvc", "123"),
            ]
            .into_iter()
            .chain(SHIP_TO_NEW_YORK)
            .collect::<Vec<_>>(),
        )
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
    for _ in 0..600 {
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
    // The link is issued when the mail worker sends the mail: demo mode shows it to admins in
    // the development inbox at /admin/mail.
    let admin = browser();
    let html = page(&admin, &shop.url("/account/login")).await;
    let res = admin
        .post(shop.url("/account/login"))
        .form(&[
            ("csrf_token", csrf_token(&html).as_str()),
            ("email", storefront::admin::users::DEMO_ADMIN_EMAIL),
            ("password", storefront::admin::users::DEMO_ADMIN_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 303);
    let mut link = None;
    for _ in 0..200 {
        let mailbox = page(&admin, &shop.url("/admin/mail")).await;
        link = select_text(&mailbox, "article.mail pre")
            .join(" ")
            .split_whitespace()
            .find(|w| {
                w.contains("/account/password/reset?token=")
                    && !w.ends_with(storefront::mail::messages::TOKEN_PLACEHOLDER)
            })
            .map(str::to_owned);
        if link.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let link = link.expect("the reset link in the demo mailbox");
    let html = page(&forgetful, &link).await;
    let reset_token = select_attr(&html, "input[name=token]", "value")
        .pop()
        .unwrap_or_else(|| panic!("{link}: {html}"));
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
