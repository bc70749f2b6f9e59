//! Mail: receipts queued once per event in the same transaction, sent at least once with a
//! stable Message-ID (retried after SMTP failures), and the account e-mails.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::helpers::*;

async fn outbox(app: &TestApp) -> Vec<storefront::mail::outbox::QueuedMail> {
    storefront::db::run(&app.pool, |conn| {
        storefront::mail::outbox::recent(conn, 100).map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap()
}

fn link_in(text: &str) -> String {
    let start = text.find("http").expect("a link");
    text[start..].split_whitespace().next().unwrap().to_owned()
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

/// A tiny SMTP server that refuses the first `fail_first` messages (451) and keeps the rest.
async fn smtp_sink(fail_first: usize) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(Mutex::new(Vec::new()));
    let kept = received.clone();
    let refused = Arc::new(Mutex::new(0usize));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let kept = kept.clone();
            let refused = refused.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 sink ESMTP\r\n").await.ok();
                let mut data = None::<String>;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(buf) = data.as_mut() {
                        if line == "." {
                            let message = data.take().unwrap();
                            let reply: &[u8] = {
                                let mut n = refused.lock().unwrap();
                                if *n < fail_first {
                                    *n += 1;
                                    b"451 try again later\r\n"
                                } else {
                                    kept.lock().unwrap().push(message);
                                    b"250 ok\r\n"
                                }
                            };
                            write.write_all(reply).await.ok();
                        } else {
                            buf.push_str(&line);
                            buf.push('\n');
                        }
                        continue;
                    }
                    let cmd = line.to_ascii_uppercase();
                    let reply: &[u8] = if cmd.starts_with("EHLO") || cmd.starts_with("HELO") {
                        b"250 sink\r\n"
                    } else if cmd.starts_with("DATA") {
                        data = Some(String::new());
                        b"354 go on\r\n"
                    } else if cmd.starts_with("QUIT") {
                        write.write_all(b"221 bye\r\n").await.ok();
                        break;
                    } else {
                        b"250 ok\r\n"
                    };
                    write.write_all(reply).await.ok();
                }
            });
        }
    });
    (port, received)
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
    let link = link_in(&mail.body_text);
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

    async fn ask(app: &TestApp, email: &str) -> (u16, String) {
        let guest = app.new_browser();
        let html = guest
            .get(app.url("/account/password/forgot"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let res = guest
            .post(app.url("/account/password/forgot"))
            .form(&[("csrf_token", csrf_token(&html).as_str()), ("email", email)])
            .send()
            .await
            .unwrap();
        (
            res.status().as_u16(),
            select_text(&res.text().await.unwrap(), "main").join(" "),
        )
    }
    let unknown = ask(&app, "nobody@example.com").await;
    let known = ask(&app, "RESET@example.com").await;
    assert_eq!(unknown, known, "the same answer either way");
    let resets: Vec<_> = outbox(&app)
        .await
        .into_iter()
        .filter(|m| m.kind == "password_reset")
        .collect();
    assert_eq!(resets.len(), 1);
    let link = link_in(&resets[0].body_text);

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
    ask(&app, "reset@example.com").await;
    let fresh = outbox(&app)
        .await
        .into_iter()
        .filter(|m| m.kind == "password_reset")
        .map(|m| link_in(&m.body_text))
        .find(|l| *l != link)
        .unwrap();
    app.clock.advance(chrono::TimeDelta::minutes(61));
    assert_eq!(
        guest.get(&fresh).send().await.unwrap().status(),
        404,
        "expired"
    );
}
