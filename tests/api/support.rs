//! Supporting customers: finding an order from what the customer has (order number, e-mail,
//! a Stripe payment, charge, session or refund id), re-sending a receipt, and the refund policy
//! page the shop links to.

use crate::helpers::*;

async fn page(client: &reqwest::Client, url: String) -> (u16, String) {
    let res = client.get(url).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// The order numbers an admin search for `q` lists, and the page.
async fn search(app: &TestApp, admin: &reqwest::Client, q: &str) -> (Vec<String>, String) {
    let mut url = url::Url::parse(&app.url("/admin")).unwrap();
    url.query_pairs_mut().append_pair("q", q);
    let (status, html) = page(admin, url.to_string()).await;
    assert_eq!(status, 200, "{q}: {html}");
    (select_text(&html, "table tbody tr td:first-child a"), html)
}

#[actix_web::test]
async fn an_order_is_found_by_any_id_the_customer_or_stripe_gives() {
    let app = TestApp::spawn().await;
    let number = app.paid_order(1, CARD_OK).await;
    let other = app.paid_order(2, CARD_OK).await;
    let admin = app.admin_browser().await;
    let order = app.order(&number).await;
    let pi = order.payment_intent_id.clone().unwrap();
    let session = order.checkout_session_id.clone().unwrap();
    let charge = app.emulator_get(&format!("v1/payment_intents/{pi}")).await["latest_charge"]
        .as_str()
        .unwrap()
        .to_owned();

    assert_eq!(search(&app, &admin, &number).await.0, vec![number.clone()]);
    assert_eq!(search(&app, &admin, &pi).await.0, vec![number.clone()]);
    assert_eq!(search(&app, &admin, &session).await.0, vec![number.clone()]);
    let (found, html) = search(&app, &admin, &charge).await;
    assert_eq!(found, vec![number.clone()]);
    assert!(
        select_text(&html, "#search-note").join(" ").contains(&pi),
        "the page says which payment the charge belongs to"
    );
    let (found, html) = search(&app, &admin, "ch_doesnotexist123").await;
    assert!(found.is_empty());
    assert!(
        select_text(&html, "#search-note")
            .join(" ")
            .contains("Stripe has no charge")
    );

    // A refund made in the Stripe Dashboard, once its webhook lands.
    let refund = app
        .emulator_post("v1/refunds", &[("payment_intent", &pi), ("amount", "500")])
        .await;
    let refund_id = refund["id"].as_str().unwrap().to_owned();
    app.wait_for_order(&number, "the refund synced", |o| o.amount_refunded == 500)
        .await;
    assert_eq!(
        search(&app, &admin, &refund_id).await.0,
        vec![number.clone()]
    );

    // Both orders were placed with the same e-mail.
    let mut by_email = search(&app, &admin, "SHOPPER@example").await.0;
    by_email.sort();
    let mut both = vec![number.clone(), other.clone()];
    both.sort();
    assert_eq!(by_email, both);
}

#[actix_web::test]
async fn a_signed_in_customers_order_is_found_by_their_accounts_email() {
    let app = TestApp::spawn().await;
    app.register_customer("member@example.com").await;
    app.add_to_cart("canvas-tote", 1).await;
    let session_url = app.checkout_with(&app.client, "").await;
    let session_url = location(&session_url);
    let number = app
        .order_by_session(&session_id_of(&session_url))
        .await
        .number;
    app.pay_ok(&session_url).await;
    app.wait_for_status(&number, "paid").await;
    // The order keeps the address typed on the payment page; the account has its own.
    assert_ne!(
        app.order(&number).await.email.as_deref(),
        Some("member@example.com")
    );

    let admin = app.admin_browser().await;
    let (found, _) = search(&app, &admin, "member@").await;
    assert_eq!(found, vec![number.clone()]);
}

/// The "Re-send receipt" form of an order's admin page: (csrf token, form key).
async fn resend_form(app: &TestApp, admin: &reqwest::Client, number: &str) -> (String, String) {
    let (_, html) = page(admin, app.url(&format!("/admin/orders/{number}"))).await;
    let key = select_attr(&html, "#resend-receipt input[name=form_key]", "value");
    assert_eq!(key.len(), 1, "the page offers to re-send: {html}");
    (csrf_token(&html), key[0].clone())
}

async fn post_resend(
    app: &TestApp,
    admin: &reqwest::Client,
    number: &str,
    (csrf, key): &(String, String),
) -> reqwest::Response {
    admin
        .post(app.url(&format!("/admin/orders/{number}/receipt")))
        .form(&[("csrf_token", csrf.as_str()), ("form_key", key.as_str())])
        .send()
        .await
        .unwrap()
}

async fn resent(app: &TestApp) -> Vec<storefront::mail::outbox::QueuedMail> {
    app.outbox()
        .await
        .into_iter()
        .filter(|m| m.kind == "receipt_resent")
        .collect()
}

#[actix_web::test]
async fn re_sending_a_receipt_sends_one_mail_per_click_and_is_audited() {
    let (port, received) = smtp_sink(0).await;
    let smtp = format!("smtp://127.0.0.1:{port}");
    let app = TestApp::spawn_with(&[("SMTP_URL", &smtp)]).await;
    let number = app.paid_order(1, CARD_OK).await;
    let admin = app.admin_browser().await;

    let form = resend_form(&app, &admin, &number).await;
    let res = post_resend(&app, &admin, &number, &form).await;
    assert_redirect_to(&res, &format!("/admin/orders/{number}"));
    // The browser sends the same form again (a double click, a retry): still one mail.
    let res = post_resend(&app, &admin, &number, &form).await;
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(resent(&app).await.len(), 1);

    let (_, html) = page(&admin, app.url(&format!("/admin/orders/{number}"))).await;
    assert!(
        html.contains("Receipt sent again to shopper@example.com."),
        "{html}"
    );
    // A second click on a fresh page is a second mail.
    let again = resend_form(&app, &admin, &number).await;
    assert_ne!(again.1, form.1);
    post_resend(&app, &admin, &number, &again).await;
    let mails = resent(&app).await;
    assert_eq!(mails.len(), 2);
    assert!(mails.iter().all(|m| m.recipient == "shopper@example.com"));
    assert!(mails[0].subject.contains(&number));

    let (_, html) = page(&admin, app.url(&format!("/admin/orders/{number}"))).await;
    let trail = select_text(&html, "#audit tbody tr").join("\n");
    assert_eq!(
        trail.matches("receipt re-sent").count(),
        2,
        "each mail is in the audit trail: {trail}"
    );

    // They go out like every mail, with the refund policy at the shop's address.
    while storefront::mail::worker::run_once(&app.state)
        .await
        .unwrap()
        > 0
    {}
    let got = received.lock().unwrap().clone();
    let resent_mails: Vec<String> = got
        .iter()
        .map(|m| decoded(m))
        .filter(|m| m.contains(&format!("Your receipt for order {number}")))
        .collect();
    assert_eq!(resent_mails.len(), 3, "the first receipt and two re-sent");
    let policy = format!("{}/refund-policy", app.address.trim_end_matches('/'));
    for mail in &resent_mails {
        assert!(mail.contains(&policy), "{mail}");
        assert!(!mail.contains("SHOP-URL"), "{mail}");
    }
}

#[actix_web::test]
async fn an_unpaid_order_has_no_receipt_to_re_send() {
    let app = TestApp::spawn().await;
    app.add_to_cart("canvas-tote", 1).await;
    let session_url = app.checkout().await;
    let number = app
        .order_by_session(&session_id_of(&session_url))
        .await
        .number;
    let admin = app.admin_browser().await;
    let (_, html) = page(&admin, app.url(&format!("/admin/orders/{number}"))).await;
    assert!(select_attr(&html, "#resend-receipt", "id").is_empty());
    let key = storefront::shipping::shipments::new_form_key();
    let res = post_resend(&app, &admin, &number, &(csrf_token(&html), key)).await;
    assert_eq!(res.status().as_u16(), 409);
    assert!(res.text().await.unwrap().contains("has not been paid"));
    assert!(resent(&app).await.is_empty());

    // Nor can anyone but an admin send one, nor without the form's token.
    let paid = app.paid_order(1, CARD_OK).await;
    let (_, html) = page(&admin, app.url(&format!("/admin/orders/{paid}"))).await;
    let key = select_attr(&html, "#resend-receipt input[name=form_key]", "value").remove(0);
    let res = admin
        .post(app.url(&format!("/admin/orders/{paid}/receipt")))
        .form(&[("form_key", key.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);
    let guest = app.new_browser();
    let res = guest
        .post(app.url(&format!("/admin/orders/{paid}/receipt")))
        .form(&[
            ("csrf_token", csrf_token(&html).as_str()),
            ("form_key", key.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        location(&res).starts_with("/account/login"),
        "a guest is sent to sign in"
    );
    assert!(resent(&app).await.is_empty());
}

#[actix_web::test]
async fn the_default_refund_policy_is_linked_from_the_footer_and_the_cart() {
    let app = TestApp::spawn().await;
    let (status, html) = app.get_html("/refund-policy").await;
    assert_eq!(status, 200);
    assert_eq!(
        select_text(&html, "#refund-policy h1"),
        vec!["Refund policy"]
    );
    let (_, home) = app.get_html("/").await;
    assert!(select_attr(&home, "footer a", "href").contains(&"/refund-policy".to_owned()));
    app.add_to_cart("canvas-tote", 1).await;
    let cart = app.cart_html().await;
    assert_eq!(
        select_attr(&cart, "#cart-refund-policy", "href"),
        vec!["/refund-policy"]
    );
}

#[actix_web::test]
async fn the_merchants_policy_renders_markdown_and_nothing_that_runs() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("refunds.md");
    std::fs::write(
        &file,
        "# Our returns\n\n30 **days**. <script>alert('x')</script>\n\n\
         [Contact us](mailto:help@example.com) or [click](javascript:alert(1)) or \
         [this](data:text/html,<script>alert(1)</script>).\n\n<iframe src=\"https://evil.example\"></iframe>\n",
    )
    .unwrap();
    let app = TestApp::spawn_with(&[("REFUND_POLICY_FILE", file.to_str().unwrap())]).await;
    let (status, html) = app.get_html("/refund-policy").await;
    assert_eq!(status, 200);
    let body = html
        .split("id=\"refund-policy\"")
        .nth(1)
        .unwrap()
        .split("</article>")
        .next()
        .unwrap();
    assert!(body.contains("<h1>Our returns</h1>"), "{body}");
    assert!(body.contains("<strong>days</strong>"), "{body}");
    assert!(
        body.contains(r#"<a href="mailto:help@example.com">Contact us</a>"#),
        "{body}"
    );
    assert!(!body.contains("<script"), "{body}");
    assert!(!body.contains("<iframe"), "{body}");
    assert!(!body.contains("javascript:"), "{body}");
    assert!(!body.contains("href=\"data:"), "{body}");
    assert!(body.contains("&lt;script&gt;"), "shown as text: {body}");
    assert!(body.contains("click"), "the link's text stays: {body}");
}
