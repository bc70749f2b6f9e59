//! Abandoned-checkout recovery: one e-mail, only with consent, after the delay, never twice for
//! a cart and never after the customer paid for those items elsewhere; its link restores the
//! cart (prices and stock re-checked, stock held again) and an order paid through it counts as
//! recovered; its unsubscribe link works without signing in.

use chrono::TimeDelta;

use crate::helpers::*;

/// Checks out the session's cart with `email`, ticking the reminder box when `remind`; the
/// order's number and the session URL.
async fn check_out(
    app: &TestApp,
    client: &reqwest::Client,
    email: &str,
    remind: bool,
) -> (String, String) {
    let html = client
        .get(app.url("/cart"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = csrf_token(&html);
    let mut form = vec![("csrf_token", token.as_str()), ("email", email)];
    if remind {
        form.push(("remind", "1"));
    }
    let res = client
        .post(app.url("/checkout"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 303, "{}", res.text().await.unwrap());
    let url = location(&res);
    let number = app.order_by_session(&session_id_of(&url)).await.number;
    (number, url)
}

/// The session expires unpaid at Stripe; the webhook expires the order.
async fn abandon(app: &TestApp, number: &str, session_url: &str) {
    app.emulator_post(
        &format!("v1/checkout/sessions/{}/expire", session_id_of(session_url)),
        &[],
    )
    .await;
    app.wait_for_deliveries().await;
    app.wait_for_status(number, "expired").await;
}

/// One pass of the recovery job after the delay (an hour by default); the mails it queued.
async fn after_the_delay(app: &TestApp) -> usize {
    app.clock.advance(TimeDelta::seconds(3601));
    storefront::recovery::send_due(&app.state).await.unwrap()
}

async fn recovery_mails(app: &TestApp) -> usize {
    app.outbox()
        .await
        .iter()
        .filter(|m| m.kind == "checkout_recovery")
        .count()
}

async fn recoveries(app: &TestApp) -> Vec<(String, Option<String>, Option<i64>)> {
    storefront::db::run(&app.pool, |conn| {
        use diesel::prelude::*;
        use storefront::schema::checkout_recoveries as r;
        r::table
            .order(r::id.asc())
            .select((r::status, r::cancelled_reason, r::recovered_amount))
            .load(conn)
            .map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap()
}

/// Opens `url` and presses its form's button (the page's CSRF token with it), as a shopper
/// following a link from a mail does; the response to the press.
async fn press(client: &reqwest::Client, url: &str) -> reqwest::Response {
    let html = client.get(url).send().await.unwrap().text().await.unwrap();
    client
        .post(url)
        .form(&[("csrf_token", csrf_token(&html).as_str())])
        .send()
        .await
        .unwrap()
}

/// Marks the account's address verified (as its e-mailed link does) and sets its reminders.
async fn verify(app: &TestApp, email: &str, reminders: bool) {
    let email = email.to_owned();
    storefront::db::run(&app.pool, move |conn| {
        use diesel::prelude::*;
        use storefront::schema::users;
        diesel::update(users::table.filter(users::email_normalized.eq(email)))
            .set((
                users::email_verified_at.eq(Some(1)),
                users::recovery_opt_in.eq(reminders),
            ))
            .execute(conn)
            .map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap();
}

#[actix_web::test]
async fn a_consenting_guest_gets_one_mail_whose_link_restores_the_cart_and_recovers_the_sale() {
    let app = TestApp::spawn().await;
    app.add_to_cart("canvas-tote", 2).await;
    let stock = app.stock("canvas-tote").await.unwrap();
    let (number, url) = check_out(&app, &app.client, "Guest@Example.com", true).await;
    assert_eq!(
        app.order(&number).await.recovery_email.as_deref(),
        Some("guest@example.com")
    );
    abandon(&app, &number, &url).await;
    assert_eq!(app.held("canvas-tote").await, 0);
    // Not before the delay.
    assert_eq!(storefront::recovery::send_due(&app.state).await.unwrap(), 0);
    assert_eq!(recovery_mails(&app).await, 0);
    assert_eq!(after_the_delay(&app).await, 1);
    assert_eq!(after_the_delay(&app).await, 0, "never twice");
    let mail = app
        .outbox()
        .await
        .into_iter()
        .find(|m| m.kind == "checkout_recovery")
        .unwrap();
    assert_eq!(mail.recipient, "guest@example.com");
    assert!(
        mail.body_text.contains("Canvas tote bag × 2"),
        "{}",
        mail.body_text
    );
    // The queued mail holds no usable link; the sent one does.
    assert!(
        mail.body_text
            .contains(storefront::recovery::TOKEN_PLACEHOLDER)
    );
    let link = app.delivered_link("checkout_recovery").await;
    assert!(link.contains("/recovery/"), "{link}");

    // Opened in another browser (the mail client's): a page first, nothing held yet.
    let browser = app.new_browser();
    let page = browser.get(&link).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Canvas tote bag"), "{html}");
    assert_eq!(app.held("canvas-tote").await, 0);
    let res = browser
        .post(&link)
        .form(&[("csrf_token", csrf_token(&html).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 303, "{}", res.text().await.unwrap());
    let new_url = location(&res);
    assert!(new_url.contains("/c/pay/"), "straight to Stripe: {new_url}");
    let new_order = app.order_by_session(&session_id_of(&new_url)).await;
    assert!(new_order.recovered_from.is_some());
    assert_eq!(new_order.email.as_deref(), Some("guest@example.com"));
    assert_eq!(app.held("canvas-tote").await, 2, "stock held again");
    app.pay_ok(&new_url).await;
    let paid = app.wait_for_status(&new_order.number, "paid").await;
    assert_eq!(app.stock("canvas-tote").await, Some(stock - 2));
    assert_eq!(
        recoveries(&app).await,
        vec![("recovered".to_owned(), None, Some(paid.amount_total))]
    );
    // The link now says it is done; the dashboard counts the mail and the revenue.
    let again = browser
        .get(&link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!select_text(&again, "#already-paid").is_empty(), "{again}");
    let admin = app.admin_browser().await;
    let dashboard = admin
        .get(app.url("/admin/dashboard"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(select_text(&dashboard, "#recovery-sent"), vec!["1"]);
    assert_eq!(
        select_text(&dashboard, "#recovered-revenue"),
        vec!["$36.00"]
    );
}

#[actix_web::test]
async fn a_guest_who_did_not_tick_the_box_gets_nothing() {
    let app = TestApp::spawn().await;
    app.add_to_cart("canvas-tote", 1).await;
    let (number, url) = check_out(&app, &app.client, "guest@example.com", false).await;
    assert_eq!(app.order(&number).await.recovery_email, None);
    abandon(&app, &number, &url).await;
    assert_eq!(after_the_delay(&app).await, 0);
    assert!(recoveries(&app).await.is_empty());
    assert_eq!(recovery_mails(&app).await, 0);
}

#[actix_web::test]
async fn the_box_without_an_address_is_an_error_on_the_cart_page() {
    let app = TestApp::spawn().await;
    app.add_to_cart("canvas-tote", 1).await;
    let (_, html) = app.get_html("/cart").await;
    assert_eq!(select_attr(&html, "input#remind", "type"), vec!["checkbox"]);
    let res = app
        .post_form(
            "/checkout",
            &[
                ("csrf_token", &csrf_token(&html)),
                ("email", ""),
                ("remind", "1"),
            ],
        )
        .await;
    assert_eq!(res.status().as_u16(), 422);
    let html = res.text().await.unwrap();
    assert!(
        select_text(&html, "#email-error")
            .join("")
            .contains("to get a reminder"),
        "{html}"
    );
    // The box stays ticked; nothing was held.
    assert_eq!(select_attr(&html, "input#remind", "checked").len(), 1);
    assert_eq!(app.held("canvas-tote").await, 0);
}

#[actix_web::test]
async fn paying_elsewhere_first_cancels_the_mail() {
    let app = TestApp::spawn().await;
    app.add_to_cart("canvas-tote", 1).await;
    let (number, url) = check_out(&app, &app.client, "guest@example.com", true).await;
    abandon(&app, &number, &url).await;
    // Back on another device before the mail: buys the tote.
    let other = app.new_browser();
    app.add_to_cart_with(&other, "canvas-tote", "1").await;
    let (paid, url) = check_out(&app, &other, "guest@example.com", false).await;
    app.pay_ok(&url).await;
    app.wait_for_status(&paid, "paid").await;
    assert_eq!(after_the_delay(&app).await, 0);
    assert_eq!(
        recoveries(&app).await,
        vec![("cancelled".to_owned(), Some("paid since".to_owned()), None)]
    );
    assert_eq!(recovery_mails(&app).await, 0);
}

#[actix_web::test]
async fn a_customer_opts_in_on_the_account_page_and_unsubscribes_from_the_mail() {
    let app = TestApp::spawn().await;
    app.register("ada@example.com").await;
    // Opted in with an address not verified yet: nothing (anyone can sign up with any address).
    let (_, html) = app.get_html("/account").await;
    assert!(!select_text(&html, "#reminders-unverified").is_empty());
    let res = app
        .post_form(
            "/account/reminders",
            &[("csrf_token", &csrf_token(&html)), ("remind", "1")],
        )
        .await;
    assert_redirect_to(&res, "/account#reminders");
    app.add_to_cart("harbour-print", 1).await;
    let (number, _) = check_out(&app, &app.client, "", false).await;
    assert_eq!(app.order(&number).await.recovery_email, None);
    verify(&app, "ada@example.com", false).await;
    // Verified but not opted in: nothing.
    app.add_to_cart("canvas-tote", 1).await;
    let (number, url) = check_out(&app, &app.client, "", false).await;
    assert_eq!(app.order(&number).await.recovery_email, None);
    abandon(&app, &number, &url).await;
    // Opted in on the account page.
    let (_, html) = app.get_html("/account").await;
    assert_eq!(select_attr(&html, "input#remind", "checked").len(), 0);
    let res = app
        .post_form(
            "/account/reminders",
            &[("csrf_token", &csrf_token(&html)), ("remind", "1")],
        )
        .await;
    assert_redirect_to(&res, "/account#reminders");
    let (_, html) = app.get_html("/account").await;
    assert_eq!(select_attr(&html, "input#remind", "checked").len(), 1);
    // The cart changed (so it is a new checkout), and is left again.
    app.add_to_cart("merino-beanie", 1).await;
    let (number, url) = check_out(&app, &app.client, "", false).await;
    assert_eq!(
        app.order(&number).await.recovery_email.as_deref(),
        Some("ada@example.com")
    );
    abandon(&app, &number, &url).await;
    assert_eq!(after_the_delay(&app).await, 1);
    let link = app.delivered_link("checkout_recovery").await;

    // Unsubscribing needs no sign-in, and a button (mail scanners open links).
    let stranger = app.new_browser();
    let unsubscribe = format!("{link}/unsubscribe");
    let html = stranger
        .get(&unsubscribe)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(select_text(&html, "#unsubscribed").is_empty());
    let res = stranger
        .post(&unsubscribe)
        .form(&[("csrf_token", csrf_token(&html).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert!(!select_text(&res.text().await.unwrap(), "#unsubscribed").is_empty());
    let (_, html) = app.get_html("/account").await;
    assert_eq!(
        select_attr(&html, "input#remind", "checked").len(),
        0,
        "opted out"
    );
    // Another cart left: nothing scheduled.
    app.add_to_cart("canvas-tote", 1).await;
    let (number, url) = check_out(&app, &app.client, "", false).await;
    abandon(&app, &number, &url).await;
    assert_eq!(after_the_delay(&app).await, 0);
    assert_eq!(recovery_mails(&app).await, 1);
    // A made-up token is a 404.
    let fake = format!("/recovery/{}", "A".repeat(43));
    assert_eq!(app.get(&fake).await.status().as_u16(), 404);
    assert_eq!(app.get("/recovery/short").await.status().as_u16(), 404);
}

#[actix_web::test]
async fn a_restored_cart_shows_what_changed_and_holds_nothing_until_checkout() {
    let app = TestApp::spawn().await;
    app.add_to_cart("canvas-tote", 3).await;
    let (number, url) = check_out(&app, &app.client, "guest@example.com", true).await;
    abandon(&app, &number, &url).await;
    assert_eq!(after_the_delay(&app).await, 1);
    let link = app.delivered_link("checkout_recovery").await;
    // Since then, only two are left.
    app.set_stock("canvas-tote", Some(2)).await;
    let browser = app.new_browser();
    let res = press(&browser, &link).await;
    assert_eq!(res.status().as_u16(), 200);
    let cart = res.text().await.unwrap();
    assert!(cart.contains("Only 2 of Canvas tote bag left"), "{cart}");
    assert_eq!(app.held("canvas-tote").await, 0);
    // Checking out from there is a recovered sale too; abandoning it again sends nothing.
    let (number, url) = check_out(&app, &browser, "guest@example.com", true).await;
    assert!(app.order(&number).await.recovered_from.is_some());
    abandon(&app, &number, &url).await;
    assert_eq!(after_the_delay(&app).await, 0);
    assert_eq!(recovery_mails(&app).await, 1);
}

#[actix_web::test]
async fn the_same_cart_left_twice_gets_one_mail_and_unsubscribing_cancels_what_is_scheduled() {
    let app = TestApp::spawn().await;
    app.add_to_cart("canvas-tote", 1).await;
    let (number, url) = check_out(&app, &app.client, "guest@example.com", true).await;
    abandon(&app, &number, &url).await;
    assert_eq!(after_the_delay(&app).await, 1);
    let link = app.delivered_link("checkout_recovery").await;
    // The same cart checked out and left again, box ticked again: no second mail.
    let (number, url) = check_out(&app, &app.client, "guest@example.com", true).await;
    abandon(&app, &number, &url).await;
    assert_eq!(recoveries(&app).await.len(), 1);
    assert_eq!(after_the_delay(&app).await, 0);
    // Another cart from another device, scheduled; then "no more reminders" from the first mail.
    let other = app.new_browser();
    app.add_to_cart_with(&other, "harbour-print", "1").await;
    let (number, url) = check_out(&app, &other, "guest@example.com", true).await;
    abandon(&app, &number, &url).await;
    assert_eq!(recoveries(&app).await[1].0, "scheduled");
    let unsubscribe = format!("{link}/unsubscribe");
    let res = press(&other, &unsubscribe).await;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(
        recoveries(&app).await[1],
        (
            "cancelled".to_owned(),
            Some("unsubscribed".to_owned()),
            None
        )
    );
    assert_eq!(after_the_delay(&app).await, 0);
    assert_eq!(recovery_mails(&app).await, 1);
    // Ticking the box again later is not consent against the unsubscribe: nothing is kept.
    let third = app.new_browser();
    app.add_to_cart_with(&third, "canvas-tote", "2").await;
    let (number, _) = check_out(&app, &third, "guest@example.com", true).await;
    assert_eq!(app.order(&number).await.recovery_email, None);
}

#[actix_web::test]
async fn restoring_in_the_same_browser_does_not_double_the_cart_and_links_expire() {
    let app = TestApp::spawn().await;
    app.add_to_cart("canvas-tote", 2).await;
    let (number, url) = check_out(&app, &app.client, "guest@example.com", true).await;
    abandon(&app, &number, &url).await;
    assert_eq!(after_the_delay(&app).await, 1);
    let link = app.delivered_link("checkout_recovery").await;
    // This browser's cart still holds the two totes: restoring keeps two, twice over.
    let mut urls = vec![];
    for _ in 0..2 {
        let html = app
            .client
            .get(&link)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let res = app
            .client
            .post(&link)
            .form(&[("csrf_token", csrf_token(&html).as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 303, "{}", res.text().await.unwrap());
        urls.push(location(&res));
    }
    assert_eq!(urls[0], urls[1], "a second press finds the same checkout");
    let order = app.order_by_session(&session_id_of(&urls[0])).await;
    assert_eq!(order.amount_total, 3600, "two totes, not four");
    assert_eq!(app.held("canvas-tote").await, 2);
    // A month later the link no longer works.
    app.clock.advance(TimeDelta::days(31));
    assert_eq!(
        app.client
            .get(&link)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );
}

#[actix_web::test]
async fn a_checkout_replaced_by_a_changed_cart_is_not_reminded_of_the_last_one_is() {
    let app = TestApp::spawn().await;
    app.add_to_cart("canvas-tote", 1).await;
    let (first, _) = check_out(&app, &app.client, "guest@example.com", true).await;
    // The shopper adds a print and checks out again: the first checkout ends (expired at
    // Stripe), and would be reminded of…
    app.add_to_cart("harbour-print", 1).await;
    let (second, url) = check_out(&app, &app.client, "guest@example.com", true).await;
    app.wait_for_deliveries().await;
    app.wait_for_status(&first, "expired").await;
    // …but leaving the second replaces that reminder with one for the cart as it was last.
    abandon(&app, &second, &url).await;
    assert_eq!(after_the_delay(&app).await, 1);
    let mail = app
        .outbox()
        .await
        .into_iter()
        .find(|m| m.kind == "checkout_recovery")
        .unwrap();
    assert!(mail.body_text.contains("Harbour"), "{}", mail.body_text);
    let states: Vec<String> = recoveries(&app).await.into_iter().map(|r| r.0).collect();
    assert!(
        states == ["cancelled", "sent"] || states == ["sent"],
        "{states:?}"
    );
}

#[actix_web::test]
async fn a_shopper_back_at_checkout_with_the_cart_gets_no_reminder() {
    let app = TestApp::spawn().await;
    app.add_to_cart("canvas-tote", 1).await;
    let (number, url) = check_out(&app, &app.client, "guest@example.com", true).await;
    abandon(&app, &number, &url).await;
    // Before the mail, they check the same cart out again (without the box) and are paying.
    let (_, url) = check_out(&app, &app.client, "guest@example.com", false).await;
    assert!(url.contains("/c/pay/"));
    assert_eq!(after_the_delay(&app).await, 0);
    assert_eq!(
        recoveries(&app).await,
        vec![(
            "cancelled".to_owned(),
            Some("checked out again".to_owned()),
            None
        )]
    );
}

#[actix_web::test]
async fn a_bank_debit_still_processing_elsewhere_cancels_the_mail_too() {
    let app = TestApp::spawn().await;
    app.add_to_cart("canvas-tote", 1).await;
    let (number, url) = check_out(&app, &app.client, "guest@example.com", true).await;
    abandon(&app, &number, &url).await;
    let other = app.new_browser();
    app.add_to_cart_with(&other, "canvas-tote", "1").await;
    let (processing, url) = check_out(&app, &other, "guest@example.com", false).await;
    let res = pay_by_bank(&url, "guest@example.com", "000123456789").await;
    assert_eq!(res.status().as_u16(), 303);
    app.wait_for_status(&processing, "processing").await;
    assert_eq!(after_the_delay(&app).await, 0);
    assert_eq!(
        recoveries(&app).await,
        vec![("cancelled".to_owned(), Some("paid since".to_owned()), None)]
    );
}
