//! Mail: receipts queued once per event in the same transaction, sent at least once with a
//! stable Message-ID (retried after SMTP failures), and the account e-mails.

use crate::helpers::*;

async fn outbox(app: &TestApp) -> Vec<storefront::mail::outbox::QueuedMail> {
    storefront::db::run(&app.pool, |conn| {
        storefront::mail::outbox::recent(conn, 100).map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap()
}

#[actix_web::test]
async fn a_purchase_queues_exactly_one_receipt_however_often_it_is_fulfilled() {
    let app = TestApp::spawn().await;
    app.emulator_post(
        "_emulator/webhooks",
        &[("hold", "true"), ("duplicate", "20")],
    )
    .await;
    app.add_to_cart("canvas-tote", 2).await;
    let session_url = app.checkout().await;
    let order = app.order_by_session(&session_id_of(&session_url)).await;
    let success = app.pay_ok(&session_url).await;
    let path = success.trim_start_matches(&app.address).to_owned();
    // Success page and webhooks (each delivered twice) race; then the success page again.
    let _ = tokio::join!(
        app.get_html(&path),
        app.emulator_post("_emulator/webhooks/release", &[])
    );
    app.wait_for_deliveries().await;
    app.get_html(&path).await;
    let mails = outbox(&app).await;
    let receipts: Vec<_> = mails.iter().filter(|m| m.kind == "receipt_paid").collect();
    assert_eq!(receipts.len(), 1, "{mails:?}");
    let receipt = receipts[0];
    assert_eq!(receipt.recipient, "shopper@example.com");
    assert!(receipt.subject.contains(&order.number));
    assert!(
        receipt
            .body_text
            .contains("\n  2 × Canvas tote bag ($18.00 each)  $36.00\n\nTotal: $36.00\n"),
        "{}",
        receipt.body_text
    );
    assert_eq!(
        select_text(&receipt.body_html, "#items tbody td"),
        vec!["Canvas tote bag", "2", "$18.00", "$36.00"]
    );
    assert_eq!(
        select_text(&receipt.body_html, "#order-total"),
        vec!["$36.00"]
    );
    assert_eq!(receipt.status, "queued");

    assert_eq!(
        storefront::mail::worker::run_once(&app.state)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        storefront::mail::worker::run_once(&app.state)
            .await
            .unwrap(),
        0,
        "sent once"
    );

    // The local mailbox shows it to admins only.
    assert_eq!(
        app.get("/admin/mail").await.status(),
        303,
        "signed out → sign in"
    );
    app.register("customer@example.com").await;
    assert_eq!(
        app.get("/admin/mail").await.status(),
        403,
        "customers are refused"
    );
    let admin = app.new_browser();
    make_admin(&app, "boss@example.com").await;
    assert_redirect_to(
        &app.login_with(&admin, "boss@example.com", PASSWORD).await,
        "/account",
    );
    let html = admin
        .get(app.url("/admin/mail"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(&format!("Your receipt for order {}", order.number)),
        "{html}"
    );
}

#[actix_web::test]
async fn a_yen_order_shows_whole_yen_on_the_success_page_and_in_the_receipt() {
    let app = TestApp::spawn_with(&[("CURRENCY", "jpy")]).await;
    app.add_to_cart("canvas-tote", 2).await;
    let session_url = app.checkout().await;
    let order = app.order_by_session(&session_id_of(&session_url)).await;
    let success = app.pay_ok(&session_url).await;
    app.wait_for_status(&order.number, "paid").await;
    let (_, html) = app.get_html(success.trim_start_matches(&app.address)).await;
    assert_eq!(
        select_text(&html, "#items tbody td"),
        vec!["Canvas tote bag", "2", "¥1,800", "¥3,600"]
    );
    assert_eq!(select_text(&html, "#order-total"), vec!["¥3,600"]);

    app.wait_for_deliveries().await;
    let mails = outbox(&app).await;
    let receipt = mails
        .iter()
        .find(|m| m.kind == "receipt_paid")
        .expect("a receipt");
    assert!(
        receipt
            .body_text
            .contains("\n  2 × Canvas tote bag (¥1,800 each)  ¥3,600\n\nTotal: ¥3,600\n"),
        "{}",
        receipt.body_text
    );
    assert_eq!(
        select_text(&receipt.body_html, "#items tbody td"),
        vec!["Canvas tote bag", "2", "¥1,800", "¥3,600"]
    );
}

pub async fn make_admin(app: &TestApp, email: &str) {
    let hash = storefront::accounts::password::hash(PASSWORD).unwrap();
    let email = email.to_owned();
    storefront::db::run(&app.pool, move |conn| {
        storefront::accounts::model::create(conn, &email, &hash, "admin", 0)
            .map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap();
}

#[actix_web::test]
async fn an_smtp_failure_is_retried_with_the_same_message_id() {
    let (port, received) = smtp_sink(1).await;
    let smtp = format!("smtp://127.0.0.1:{port}");
    let app = TestApp::spawn_with(&[
        ("SMTP_URL", &smtp),
        ("MAIL_FROM", "Shop <shop@example.com>"),
    ])
    .await;
    app.add_to_cart("enamel-mug", 1).await;
    let session_url = app.checkout().await;
    let order = app.order_by_session(&session_id_of(&session_url)).await;
    app.pay_ok(&session_url).await;
    app.wait_for_status(&order.number, "paid").await;

    assert_eq!(
        storefront::mail::worker::run_once(&app.state)
            .await
            .unwrap(),
        0,
        "the sink refuses the first try"
    );
    let row = outbox(&app)
        .await
        .into_iter()
        .find(|m| m.kind == "receipt_paid")
        .unwrap();
    assert_eq!((row.status.as_str(), row.attempts), ("queued", 1));
    assert!(row.last_error.is_some());
    assert_eq!(
        storefront::mail::worker::run_once(&app.state)
            .await
            .unwrap(),
        0,
        "not due yet"
    );
    app.clock.advance(chrono::TimeDelta::minutes(2));
    assert_eq!(
        storefront::mail::worker::run_once(&app.state)
            .await
            .unwrap(),
        1
    );
    let row = outbox(&app)
        .await
        .into_iter()
        .find(|m| m.kind == "receipt_paid")
        .unwrap();
    assert_eq!((row.status.as_str(), row.attempts), ("sent", 2));
    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert!(
        got[0].contains(&format!("Message-ID: {}", row.message_id)),
        "{}",
        got[0]
    );
    assert!(got[0].contains(&order.number));
    assert!(got[0].contains("text/plain") && got[0].contains("text/html"));
}

#[actix_web::test]
async fn verifying_the_address_attaches_guest_orders_placed_with_it() {
    let app = TestApp::spawn().await;
    // A guest order paid with this address, in another browser.
    app.add_to_cart("canvas-tote", 1).await;
    let session_url = app.checkout().await;
    let order = app.order_by_session(&session_id_of(&session_url)).await;
    app.pay_ok(&session_url).await;
    app.wait_for_status(&order.number, "paid").await;

    let browser = app.new_browser();
    app.register_with(&browser, "Shopper@Example.com", PASSWORD, PASSWORD)
        .await;
    let html = browser
        .get(app.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !html.contains(&order.number),
        "not attached by a typed address alone"
    );

    let mail = outbox(&app)
        .await
        .into_iter()
        .find(|m| m.kind == "verify_email")
        .expect("verification mail");
    assert_eq!(mail.recipient, "Shopper@Example.com");
    let link = app.delivered_link("verify_email").await;
    let page = browser.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let token = select_attr(&html, "input[name=token]", "value").remove(0);
    let res = browser
        .post(app.url("/account/verify"))
        .form(&[
            ("csrf_token", csrf_token(&html).as_str()),
            ("token", token.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_redirect_to(&res, "/account");
    let html = browser
        .get(app.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("your e-mail address is confirmed"));
    assert!(
        html.contains(&order.number),
        "now the guest order is theirs"
    );
    // The link works once.
    assert_eq!(browser.get(&link).send().await.unwrap().status(), 404);
}

#[actix_web::test]
async fn password_reset_answers_the_same_and_ends_every_session() {
    let app = TestApp::spawn().await;
    app.register("reset@example.com").await;
    let other = app.new_browser();
    assert_redirect_to(
        &app.login_with(&other, "reset@example.com", PASSWORD).await,
        "/account",
    );

    let unknown = app.forgot("nobody@example.com").await;
    let known = app.forgot("RESET@example.com").await;
    assert_eq!(unknown, known, "the same answer either way");
    let resets: Vec<_> = outbox(&app)
        .await
        .into_iter()
        .filter(|m| m.kind == "password_reset")
        .collect();
    assert_eq!(resets.len(), 1);
    let link = app.delivered_link("password_reset").await;

    let guest = app.new_browser();
    let html = guest.get(&link).send().await.unwrap().text().await.unwrap();
    let token = select_attr(&html, "input[name=token]", "value").remove(0);
    let res = guest
        .post(app.url("/account/password/reset"))
        .form(&[
            ("csrf_token", csrf_token(&html).as_str()),
            ("token", &token),
            ("password", "short"),
            ("password_confirmation", "short"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let new_password = "a brand new long password";
    let res = guest
        .post(app.url("/account/password/reset"))
        .form(&[
            ("csrf_token", csrf_token(&html).as_str()),
            ("token", &token),
            ("password", new_password),
            ("password_confirmation", new_password),
        ])
        .send()
        .await
        .unwrap();
    assert_redirect_to(&res, "/account/login");
    let html = guest
        .get(app.url("/account/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Your password is changed."), "{html}");
    // Every session of the account ended.
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
    assert_eq!(
        app.login_with(&guest, "reset@example.com", PASSWORD)
            .await
            .status(),
        401
    );
    assert_redirect_to(
        &app.login_with(&guest, "reset@example.com", new_password)
            .await,
        "/account",
    );
    // Single use, and an hour at most.
    assert_eq!(guest.get(&link).send().await.unwrap().status(), 404);
    // (One reset mail per address every five minutes.)
    app.clock.advance(chrono::TimeDelta::minutes(5));
    app.forgot("reset@example.com").await;
    let fresh = app.delivered_link("password_reset").await;
    assert_ne!(fresh, link);
    app.clock.advance(chrono::TimeDelta::minutes(61));
    assert_eq!(
        guest.get(&fresh).send().await.unwrap().status(),
        404,
        "expired"
    );
}

/// A base64url token of 32 bytes (what e-mailed links carry) anywhere in `text`.
fn plausible_tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .filter(|w| storefront::accounts::tokens::plausible(w))
        .map(str::to_owned)
        .collect()
}

fn token_of(link: &str) -> String {
    link.split("token=").nth(1).expect("a token").to_owned()
}

/// Whether `needle` appears anywhere in the database: every row of every table as text on
/// PostgreSQL; the database file and its write-ahead log, byte for byte, on SQLite.
async fn database_contains(app: &TestApp, needle: &str) -> bool {
    use diesel::prelude::*;
    use diesel::sql_types::{BigInt, Text};
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = Text)]
        name: String,
    }
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    if let Some(path) = app.db.url.strip_prefix("sqlite://") {
        let needle = needle.as_bytes();
        return [path.to_owned(), format!("{path}-wal")].iter().any(|file| {
            std::fs::read(file)
                .unwrap_or_default()
                .windows(needle.len())
                .any(|w| w == needle)
        });
    }
    let needle = format!("%{needle}%");
    storefront::db::run(&app.pool, move |conn| {
        let storefront::db::AnyConnection::Postgresql(pg) = conn else {
            unreachable!("not SQLite, so PostgreSQL")
        };
        let tables: Vec<Name> = diesel::sql_query(
            "SELECT table_name::text AS name FROM information_schema.tables WHERE table_schema = 'public'",
        )
        .load(pg)?;
        let mut found = false;
        for t in tables {
            let hits: Vec<Count> = diesel::sql_query(format!(
                "SELECT COUNT(*) AS n FROM \"{0}\" t WHERE t::text LIKE $1",
                t.name
            ))
            .bind::<Text, _>(&needle)
            .load(pg)?;
            found |= hits[0].n > 0;
        }
        Ok::<_, storefront::db::DbError>(found)
    })
    .await
    .unwrap()
}

#[actix_web::test]
async fn account_links_are_issued_when_sent_and_stored_nowhere_but_in_the_demo_inbox() {
    let app = TestApp::spawn().await;
    app.register("links@example.com").await;
    app.logout(&app.client).await;
    app.forgot("links@example.com").await;

    // Queued: no token anywhere in the outbox, none issued yet.
    let queued = outbox(&app).await;
    for kind in ["verify_email", "password_reset"] {
        let mail = queued.iter().find(|m| m.kind == kind).expect(kind);
        for body in [&mail.body_text, &mail.body_html] {
            assert!(
                body.contains(storefront::mail::messages::TOKEN_PLACEHOLDER),
                "{body}"
            );
            assert_eq!(plausible_tokens(body), Vec::<String>::new(), "{body}");
        }
    }
    let issued = |app: &TestApp| {
        use diesel::prelude::*;
        let pool = app.pool.clone();
        async move {
            storefront::db::run(&pool, |conn| {
                storefront::schema::email_tokens::table
                    .count()
                    .get_result::<i64>(conn)
                    .map_err(storefront::db::DbError::from)
            })
            .await
            .unwrap()
        }
    };
    assert_eq!(
        issued(&app).await,
        0,
        "tokens are issued when the mail is sent"
    );

    // Sent to the demo inbox: the admin's mailbox page shows the links.
    assert_eq!(
        storefront::mail::worker::run_once(&app.state)
            .await
            .unwrap(),
        2
    );
    assert_eq!(issued(&app).await, 2);
    let admin = app.new_browser();
    assert_redirect_to(
        &app.login_with(
            &admin,
            storefront::admin::users::DEMO_ADMIN_EMAIL,
            storefront::admin::users::DEMO_ADMIN_PASSWORD,
        )
        .await,
        "/account",
    );
    let page = admin
        .get(app.url("/admin/mail"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mailbox = select_text(&page, "article.mail pre").join("\n");
    let reset_link = mailbox
        .split_whitespace()
        .find(|w| w.contains("/account/password/reset?token="))
        .expect("the reset link in the demo mailbox")
        .to_owned();
    let verify_link = mailbox
        .split_whitespace()
        .find(|w| w.contains("/account/verify?token="))
        .expect("the verification link in the demo mailbox")
        .to_owned();

    // Neither token is anywhere in the database (only their hashes are).
    for link in [&reset_link, &verify_link] {
        let token = token_of(link);
        assert!(storefront::accounts::tokens::plausible(&token), "{link}");
        assert!(!database_contains(&app, &token).await, "{link} is stored");
    }
    for mail in outbox(&app).await {
        assert_eq!(plausible_tokens(&mail.body_text), Vec::<String>::new());
        assert_eq!(plausible_tokens(&mail.body_html), Vec::<String>::new());
    }

    // The delivered link works, once.
    let guest = app.new_browser();
    let html = guest
        .get(&reset_link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let new_password = "another long new password";
    let res = guest
        .post(app.url("/account/password/reset"))
        .form(&[
            ("csrf_token", csrf_token(&html).as_str()),
            ("token", token_of(&reset_link).as_str()),
            ("password", new_password),
            ("password_confirmation", new_password),
        ])
        .send()
        .await
        .unwrap();
    assert_redirect_to(&res, "/account/login");
    assert_eq!(guest.get(&reset_link).send().await.unwrap().status(), 404);
    assert_redirect_to(
        &app.login_with(&guest, "links@example.com", new_password)
            .await,
        "/account",
    );
}

#[actix_web::test]
async fn account_links_go_out_by_smtp_with_a_fresh_token_per_attempt() {
    let (port, received) = smtp_sink(1).await;
    let smtp = format!("smtp://127.0.0.1:{port}");
    let app = TestApp::spawn_with(&[
        ("SMTP_URL", &smtp),
        ("MAIL_FROM", "Shop <shop@example.com>"),
    ])
    .await;
    app.register("smtp@example.com").await;
    // The sink refuses the first try; the retry issues a fresh token.
    assert_eq!(
        storefront::mail::worker::run_once(&app.state)
            .await
            .unwrap(),
        0
    );
    app.clock.advance(chrono::TimeDelta::minutes(2));
    assert_eq!(
        storefront::mail::worker::run_once(&app.state)
            .await
            .unwrap(),
        1
    );
    let tokens: i64 = {
        use diesel::prelude::*;
        storefront::db::run(&app.pool, |conn| {
            storefront::schema::email_tokens::table
                .count()
                .get_result(conn)
                .map_err(storefront::db::DbError::from)
        })
        .await
        .unwrap()
    };
    assert_eq!(tokens, 2, "one token per attempt");
    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let message = decoded(&got[0]);
    let link = message
        .split(|c: char| c.is_whitespace() || c == '"')
        .find(|w| w.contains("/account/verify?token="))
        .unwrap_or_else(|| panic!("a verification link in {message}"))
        .to_owned();
    let token = token_of(&link);
    assert!(storefront::accounts::tokens::plausible(&token), "{link}");
    assert!(!database_contains(&app, &token).await);
    for mail in outbox(&app).await {
        assert!(!mail.body_text.contains(&token) && !mail.body_html.contains(&token));
    }

    // The delivered link works, once.
    let html = app.get_html(link.trim_start_matches(&app.address)).await.1;
    let res = app
        .post_form(
            "/account/verify",
            &[
                ("csrf_token", csrf_token(&html).as_str()),
                ("token", token.as_str()),
            ],
        )
        .await;
    assert_redirect_to(&res, "/account");
    assert_eq!(
        app.get(link.trim_start_matches(&app.address))
            .await
            .status(),
        404
    );
}

/// An instance that claimed a mail and died before sending it (SIGKILL mid-send) holds it for
/// `CLAIM_SECS`: nobody sends it meanwhile (no double send), and another instance sends it once
/// the claim runs out.
#[actix_web::test]
async fn a_mail_claimed_by_an_instance_that_died_goes_out_when_its_claim_runs_out() {
    use storefront::mail::worker::{CLAIM_SECS, claim, run_once};
    let app = TestApp::spawn().await;
    app.add_to_cart("enamel-mug", 1).await;
    let session_url = app.checkout().await;
    let order = app.order_by_session(&session_id_of(&session_url)).await;
    app.pay_ok(&session_url).await;
    app.wait_for_status(&order.number, "paid").await;
    let receipt = outbox(&app)
        .await
        .into_iter()
        .find(|m| m.kind == "receipt_paid")
        .unwrap();
    let now = storefront::clock::Clock::unix(app.clock.as_ref());
    let (id, seen) = (receipt.id, receipt.next_attempt_at);
    let claimed = storefront::db::run(&app.pool, move |conn| {
        claim(conn, id, seen, now).map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap();
    assert_eq!(claimed, 1, "the instance that then dies has it");
    assert_eq!(
        run_once(&app.state).await.unwrap(),
        0,
        "claimed: not sent twice"
    );
    app.clock
        .advance(chrono::TimeDelta::seconds(CLAIM_SECS - 5));
    assert_eq!(run_once(&app.state).await.unwrap(), 0, "still claimed");
    app.clock.advance(chrono::TimeDelta::seconds(10));
    assert_eq!(run_once(&app.state).await.unwrap(), 1, "sent by another");
    let row = outbox(&app)
        .await
        .into_iter()
        .find(|m| m.id == receipt.id)
        .unwrap();
    assert_eq!((row.status.as_str(), row.attempts), ("sent", 1));
}
