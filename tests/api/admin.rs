//! The admin side: orders, refunds (full, partial, refused, raced, replayed), refund and dispute
//! sync from Stripe's webhooks, the audit log, access control, and `storefront admin create`.

use std::time::Duration;

use storefront::admin::users::{DEMO_ADMIN_EMAIL, DEMO_ADMIN_PASSWORD};
use storefront::clock::Clock as _;

use crate::helpers::*;

const CARD_REFUND_FAILS: &str = "4000000000005126";
const CARD_DISPUTED: &str = "4000000000000259";
const CUSTOMER_PASSWORD: &str = "a long customer password";

async fn text(client: &reqwest::Client, url: String) -> (u16, String) {
    let res = client.get(url).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

impl TestApp {
    /// A new browser signed in as `email`.
    pub(crate) async fn signed_in(&self, email: &str, password: &str) -> reqwest::Client {
        let client = self.new_browser();
        let (_, html) = text(&client, self.url("/account/login")).await;
        let res = client
            .post(self.url("/account/login"))
            .form(&[
                ("csrf_token", csrf_token(&html).as_str()),
                ("email", email),
                ("password", password),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 303, "sign-in of {email}");
        client
    }

    pub(crate) async fn admin_browser(&self) -> reqwest::Client {
        self.signed_in(DEMO_ADMIN_EMAIL, DEMO_ADMIN_PASSWORD).await
    }

    /// A second admin, made as `storefront admin create` makes them.
    pub(crate) async fn another_admin(&self, email: &str) -> reqwest::Client {
        let (email2, now) = (email.to_owned(), self.clock.unix());
        storefront::db::run(&self.pool, move |conn| {
            let hash = storefront::accounts::password::hash("another admin password").unwrap();
            storefront::admin::users::create_or_promote(conn, &email2, &hash, now)
                .map_err(storefront::db::DbError::from)
        })
        .await
        .unwrap();
        self.signed_in(email, "another admin password").await
    }

    /// The app's own client registered and signed in as a customer.
    pub(crate) async fn register_customer(&self, email: &str) {
        let (_, html) = self.get_html("/account/register").await;
        let res = self
            .post_form(
                "/account/register",
                &[
                    ("csrf_token", csrf_token(&html).as_str()),
                    ("email", email),
                    ("password", CUSTOMER_PASSWORD),
                    ("password_confirmation", CUSTOMER_PASSWORD),
                ],
            )
            .await;
        assert_eq!(res.status().as_u16(), 303, "registration");
    }

    /// An order of `quantity` canvas totes ($18.00 each) paid with `card`; its number.
    pub(crate) async fn paid_order(&self, quantity: u32, card: &str) -> String {
        self.add_to_cart("canvas-tote", quantity).await;
        let session_url = self.checkout().await;
        let number = self
            .order_by_session(&session_id_of(&session_url))
            .await
            .number;
        let res = self.pay(&session_url, card).await;
        assert_eq!(res.status().as_u16(), 303, "payment with {card}");
        self.wait_for_status(&number, "paid").await;
        self.wait_for_deliveries().await;
        number
    }

    async fn stripe_refunds(&self) -> Vec<serde_json::Value> {
        self.emulator_get("v1/refunds?limit=100").await["data"]
            .as_array()
            .unwrap()
            .clone()
    }

    async fn local_refunds(&self) -> Vec<storefront::admin::refunds::Refund> {
        use diesel::prelude::*;
        storefront::db::run(&self.pool, |conn| {
            storefront::schema::refunds::table
                .order(storefront::schema::refunds::id.asc())
                .select(storefront::admin::refunds::Refund::as_select())
                .load(conn)
                .map_err(storefront::db::DbError::from)
        })
        .await
        .unwrap()
    }

    /// Waits (up to 10 s) until `check` holds for the order.
    pub(crate) async fn wait_for_order(
        &self,
        number: &str,
        what: &str,
        check: impl Fn(&storefront::orders::model::Order) -> bool,
    ) -> storefront::orders::model::Order {
        for _ in 0..200 {
            let order = self.order(number).await;
            if check(&order) {
                return order;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("order {number}: {what} never happened");
    }
}

/// The refund form of an admin order page, as a browser would post it.
struct RefundForm {
    csrf: String,
    token: String,
    amount: String,
    restock_fields: Vec<String>,
}

async fn refund_form(app: &TestApp, admin: &reqwest::Client, number: &str) -> RefundForm {
    let (status, html) = text(admin, app.url(&format!("/admin/orders/{number}"))).await;
    assert_eq!(status, 200, "{html}");
    let token = select_attr(&html, "input[name=token]", "value");
    assert_eq!(token.len(), 1, "the page has a refund form: {html}");
    RefundForm {
        csrf: csrf_token(&html),
        token: token[0].clone(),
        amount: select_attr(&html, "input[name=amount]", "value")[0].clone(),
        restock_fields: select_attr(&html, ".refund-form input[type=number]", "name"),
    }
}

async fn post_refund(
    app: &TestApp,
    admin: &reqwest::Client,
    number: &str,
    form: &RefundForm,
    amount: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut fields = vec![
        ("csrf_token", form.csrf.as_str()),
        ("token", form.token.as_str()),
        ("amount", amount),
        ("reason", "requested_by_customer"),
        ("note", ""),
    ];
    fields.extend_from_slice(extra);
    admin
        .post(app.url(&format!("/admin/orders/{number}/refunds")))
        .form(&fields)
        .send()
        .await
        .unwrap()
}

async fn admin_page(app: &TestApp, admin: &reqwest::Client, number: &str) -> String {
    let (status, html) = text(admin, app.url(&format!("/admin/orders/{number}"))).await;
    assert_eq!(status, 200);
    html
}

#[actix_web::test]
async fn a_full_refund_refunds_the_order_restocks_and_is_audited() {
    let app = TestApp::spawn().await;
    let number = app.paid_order(2, CARD_OK).await;
    assert_eq!(app.stock("canvas-tote").await, Some(38));
    let admin = app.admin_browser().await;
    let form = refund_form(&app, &admin, &number).await;
    assert_eq!(form.amount, "36.00", "prefilled with what is refundable");
    assert_eq!(form.restock_fields.len(), 1);

    let restock = form.restock_fields[0].clone();
    let res = post_refund(
        &app,
        &admin,
        &number,
        &form,
        "36.00",
        &[(restock.as_str(), "2"), ("note", "arrived damaged")],
    )
    .await;
    assert_redirect_to(&res, &format!("/admin/orders/{number}"));

    let order = app.order(&number).await;
    assert_eq!(order.status, "refunded");
    assert_eq!(order.amount_refunded, 3600);
    assert_eq!(app.stock("canvas-tote").await, Some(40), "restocked once");
    let stripe = app.stripe_refunds().await;
    assert_eq!(stripe.len(), 1);
    assert_eq!(stripe[0]["amount"], 3600);
    let local = app.local_refunds().await;
    assert_eq!(
        stripe[0]["metadata"]["storefront_refund"],
        format!("{number}/{}", local[0].id)
    );

    let html = admin_page(&app, &admin, &number).await;
    assert_eq!(
        select_text(&html, "p.flash[role=status]"),
        vec!["Refund of $36.00 issued."]
    );
    assert_eq!(select_text(&html, "#order-status"), vec!["Refunded"]);
    assert_eq!(
        select_text(&html, "#items tbody td"),
        vec!["Canvas tote bag", "2", "$18.00", "$36.00"]
    );
    assert_eq!(
        select_text(&html, "#order-total"),
        vec!["$36.00"],
        "the total once, in the summary"
    );
    assert_eq!(select_text(&html, ".refund-status"), vec!["Succeeded"]);
    assert!(html.contains(stripe[0]["id"].as_str().unwrap()));
    assert!(
        select_attr(&html, "input[name=token]", "value").is_empty(),
        "nothing left to refund: no form"
    );
    let audit = select_text(&html, ".audit-entry").join("\n");
    assert!(audit.contains("refund requested"), "{audit}");
    assert!(audit.contains("arrived damaged"), "{audit}");
    assert!(audit.contains(DEMO_ADMIN_EMAIL), "{audit}");
    assert!(audit.contains("refund result"), "{audit}");

    // The webhooks arrive afterwards: recorded against the order, nothing counted twice.
    app.wait_for_deliveries().await;
    let order = app.order(&number).await;
    assert_eq!(order.amount_refunded, 3600);
    assert_eq!(app.local_refunds().await.len(), 1);
    assert_eq!(app.stock("canvas-tote").await, Some(40));
    let html = admin_page(&app, &admin, &number).await;
    let events = select_text(&html, "#events").join(" ");
    for t in [
        "checkout.session.completed",
        "refund.created",
        "charge.refunded",
    ] {
        assert!(events.contains(t), "{t} missing from {events}");
    }
}

#[actix_web::test]
async fn partial_refunds_add_up_to_the_total_a_third_is_refused_and_the_customer_sees_them() {
    let app = TestApp::spawn().await;
    app.register_customer("buyer@example.com").await;
    let number = app.paid_order(2, CARD_OK).await;
    let admin = app.admin_browser().await;

    let first = refund_form(&app, &admin, &number).await;
    let res = post_refund(&app, &admin, &number, &first, "10.00", &[]).await;
    assert_redirect_to(&res, &format!("/admin/orders/{number}"));
    let order = app.order(&number).await;
    assert_eq!(
        (order.status.as_str(), order.amount_refunded),
        ("partially_refunded", 1000)
    );

    // Two forms open at once; the first takes the rest, the second finds nothing left.
    let second = refund_form(&app, &admin, &number).await;
    let third = refund_form(&app, &admin, &number).await;
    assert_eq!(second.amount, "26.00");
    let res = post_refund(&app, &admin, &number, &second, "26.00", &[]).await;
    assert_redirect_to(&res, &format!("/admin/orders/{number}"));
    let order = app.order(&number).await;
    assert_eq!(
        (order.status.as_str(), order.amount_refunded),
        ("refunded", 3600)
    );

    // The customer gets one refund receipt per refunded total, however many events report it.
    app.wait_for_deliveries().await;
    let mut receipts: Vec<String> = storefront::db::run(&app.pool, |conn| {
        storefront::mail::outbox::recent(conn, 100).map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap()
    .into_iter()
    .filter(|m| m.kind == "receipt_refunded")
    .map(|m| m.body_text)
    .collect();
    receipts.reverse();
    assert_eq!(receipts.len(), 2, "{receipts:?}");
    assert!(receipts[0].contains("Refunded: $10.00"), "{}", receipts[0]);
    assert!(receipts[1].contains("Refunded: $36.00"), "{}", receipts[1]);

    let res = post_refund(&app, &admin, &number, &third, "1.00", &[]).await;
    assert_eq!(res.status().as_u16(), 422);
    let html = res.text().await.unwrap();
    assert_eq!(
        select_text(&html, "#amount-error"),
        vec!["Nothing is left to refund on this order."]
    );
    assert_eq!(app.stripe_refunds().await.len(), 2);

    // The customer's order page lists both refunds.
    let (status, html) = app.get_html(&format!("/account/orders/{number}")).await;
    assert_eq!(status, 200);
    assert_eq!(select_text(&html, "#order-status"), vec!["Refunded"]);
    assert_eq!(
        select_text(&html, ".refund-amount"),
        vec!["$10.00", "$26.00"]
    );
    assert_eq!(
        select_text(&html, ".refund-status"),
        vec!["Succeeded", "Succeeded"]
    );
}

#[actix_web::test]
async fn bad_amounts_get_a_field_message_and_refund_nothing() {
    let app = TestApp::spawn().await;
    let number = app.paid_order(1, CARD_OK).await;
    let admin = app.admin_browser().await;
    let form = refund_form(&app, &admin, &number).await;
    for (amount, message) in [
        ("12.505", "Use at most 2 decimal places."),
        ("-1", "The amount cannot be negative."),
        ("0", "Enter an amount greater than zero."),
        ("abc", "Enter a number, like 12.50."),
        ("", "Enter the amount to refund, like 12.50."),
        (
            "18.01",
            "At most $18.00 can still be refunded (refunds already made or pending count against the total).",
        ),
    ] {
        let res = post_refund(&app, &admin, &number, &form, amount, &[]).await;
        assert_eq!(res.status().as_u16(), 422, "{amount:?}");
        let html = res.text().await.unwrap();
        assert_eq!(
            select_text(&html, "#amount-error"),
            vec![message],
            "{amount:?}"
        );
        assert_eq!(
            select_attr(&html, "#amount", "aria-describedby"),
            vec!["amount-error refundable"]
        );
        assert_eq!(select_attr(&html, "#amount", "value"), vec![amount]);
    }
    let res = post_refund(
        &app,
        &admin,
        &number,
        &form,
        "5",
        &[
            ("reason", "because"),
            (form.restock_fields[0].as_str(), "2"),
        ],
    )
    .await;
    assert_eq!(res.status().as_u16(), 422);
    let html = res.text().await.unwrap();
    assert_eq!(
        select_text(&html, "#reason-error"),
        vec!["Choose one of the reasons."]
    );
    assert_eq!(select_text(&html, ".field-error").len(), 2, "{html}");
    assert!(app.stripe_refunds().await.is_empty());
    assert!(app.local_refunds().await.is_empty());

    // The same form still works once the input is right.
    let res = post_refund(&app, &admin, &number, &form, "5", &[]).await;
    assert_redirect_to(&res, &format!("/admin/orders/{number}"));
    assert_eq!(app.order(&number).await.amount_refunded, 500);
}

#[actix_web::test]
async fn a_refund_stripe_refuses_is_shown_and_refunds_nothing() {
    let app = TestApp::spawn().await;
    let number = app.paid_order(1, CARD_OK).await;
    let admin = app.admin_browser().await;
    let form = refund_form(&app, &admin, &number).await;
    // Someone refunds everything in the Dashboard; its webhooks have not reached us yet.
    app.emulator_post("_emulator/webhooks", &[("hold", "true")])
        .await;
    let intent = app.order(&number).await.payment_intent_id.unwrap();
    app.emulator_post("v1/refunds", &[("payment_intent", intent.as_str())])
        .await;

    let res = post_refund(&app, &admin, &number, &form, "18.00", &[]).await;
    assert_redirect_to(&res, &format!("/admin/orders/{number}"));
    let html = admin_page(&app, &admin, &number).await;
    let notice = select_text(&html, "p.flash[role=status]").join("");
    assert!(
        notice.starts_with("Stripe refused the refund of $18.00; nothing was refunded.")
            && notice.contains("has already been refunded"),
        "{notice}"
    );
    assert_eq!(select_text(&html, ".refund-status"), vec!["Not created"]);
    let order = app.order(&number).await;
    assert_eq!((order.status.as_str(), order.amount_refunded), ("paid", 0));
    let audit = select_text(&html, ".audit-entry").join("\n");
    assert!(audit.contains("Stripe refused the refund"), "{audit}");

    // The Dashboard refund's webhooks arrive: the order is refunded by that one only.
    app.emulator_post("_emulator/webhooks/release", &[]).await;
    app.wait_for_deliveries().await;
    let order = app.order(&number).await;
    assert_eq!(
        (order.status.as_str(), order.amount_refunded),
        ("refunded", 1800)
    );
    assert_eq!(app.stripe_refunds().await.len(), 1);
}

#[actix_web::test]
async fn a_double_submit_creates_one_stripe_refund() {
    let app = TestApp::spawn().await;
    let number = app.paid_order(1, CARD_OK).await;
    let admin = app.admin_browser().await;
    let form = refund_form(&app, &admin, &number).await;
    let (a, b) = tokio::join!(
        post_refund(&app, &admin, &number, &form, "5.00", &[]),
        post_refund(&app, &admin, &number, &form, "5.00", &[]),
    );
    assert_redirect_to(&a, &format!("/admin/orders/{number}"));
    assert_redirect_to(&b, &format!("/admin/orders/{number}"));
    // And a browser retry much later.
    let c = post_refund(&app, &admin, &number, &form, "5.00", &[]).await;
    assert_redirect_to(&c, &format!("/admin/orders/{number}"));
    let html = admin_page(&app, &admin, &number).await;
    let notice = select_text(&html, "p.flash[role=status]").join("");
    assert!(
        notice.starts_with("This refund was already submitted"),
        "{notice}"
    );

    assert_eq!(app.stripe_refunds().await.len(), 1, "one Stripe refund");
    assert_eq!(app.local_refunds().await.len(), 1);
    app.wait_for_deliveries().await;
    let order = app.order(&number).await;
    assert_eq!(
        (order.status.as_str(), order.amount_refunded),
        ("partially_refunded", 500)
    );
}

#[actix_web::test]
async fn an_unknown_outcome_stays_pending_and_asking_again_replays_the_same_refund() {
    let app = TestApp::spawn().await;
    let number = app.paid_order(1, CARD_OK).await;
    let admin = app.admin_browser().await;
    let form = refund_form(&app, &admin, &number).await;
    // Every attempt (the first and its retries) answers 500: we cannot know what Stripe did.
    app.emulator_post(
        "_emulator/faults",
        &[
            ("path", "/v1/refunds"),
            ("method", "POST"),
            ("status", "500"),
            ("count", "3"),
        ],
    )
    .await;
    let res = post_refund(&app, &admin, &number, &form, "4.00", &[]).await;
    assert_redirect_to(&res, &format!("/admin/orders/{number}"));
    let html = admin_page(&app, &admin, &number).await;
    let notice = select_text(&html, "p.flash[role=status]").join("");
    assert!(notice.contains("could not confirm"), "{notice}");
    assert_eq!(select_text(&html, ".refund-status"), vec!["Pending"]);
    assert_eq!(
        select_attr(&html, "#amount", "value"),
        vec!["14.00"],
        "a pending refund counts against the total"
    );
    let rows = app.local_refunds().await;
    assert_eq!((rows.len(), rows[0].stripe_refund_id.as_ref()), (1, None));

    // The page's retry button posts the same token again: one refund, now confirmed.
    let retry = select_attr(&html, ".refund-retry input[name=token]", "value");
    assert_eq!(retry, vec![form.token.clone()]);
    let res = post_refund(&app, &admin, &number, &form, "4.00", &[]).await;
    assert_redirect_to(&res, &format!("/admin/orders/{number}"));
    let html = admin_page(&app, &admin, &number).await;
    assert_eq!(
        select_text(&html, "p.flash[role=status]"),
        vec!["Refund of $4.00 issued."]
    );
    assert_eq!(app.stripe_refunds().await.len(), 1);
    let order = app.order(&number).await;
    assert_eq!(
        (order.status.as_str(), order.amount_refunded),
        ("partially_refunded", 400)
    );
    assert!(select_attr(&html, ".refund-retry input", "value").is_empty());
}

#[actix_web::test]
async fn two_admins_racing_for_the_rest_get_one_refund_and_one_clear_error() {
    let app = TestApp::spawn().await;
    let number = app.paid_order(1, CARD_OK).await;
    let ann = app.admin_browser().await;
    let bob = app.another_admin("bob@example.com").await;
    let ann_form = refund_form(&app, &ann, &number).await;
    let bob_form = refund_form(&app, &bob, &number).await;
    let (a, b) = tokio::join!(
        post_refund(&app, &ann, &number, &ann_form, "18.00", &[]),
        post_refund(&app, &bob, &number, &bob_form, "18.00", &[]),
    );
    let mut statuses = vec![a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, vec![303, 422]);
    let loser = if a.status().as_u16() == 422 { a } else { b };
    let html = loser.text().await.unwrap();
    assert_eq!(
        select_text(&html, "#amount-error"),
        vec!["Nothing is left to refund on this order."]
    );
    assert_eq!(app.stripe_refunds().await.len(), 1);
    let order = app.order(&number).await;
    assert_eq!(
        (order.status.as_str(), order.amount_refunded),
        ("refunded", 1800)
    );
}

#[actix_web::test]
async fn a_refund_made_in_the_dashboard_appears_on_the_order() {
    let app = TestApp::spawn().await;
    let number = app.paid_order(1, CARD_OK).await;
    let intent = app.order(&number).await.payment_intent_id.unwrap();
    let refund = app
        .emulator_post(
            "v1/refunds",
            &[("payment_intent", intent.as_str()), ("amount", "700")],
        )
        .await;
    let order = app
        .wait_for_order(&number, "the Dashboard refund synced", |o| {
            o.amount_refunded == 700
        })
        .await;
    assert_eq!(order.status, "partially_refunded");
    app.wait_for_deliveries().await;
    let rows = app.local_refunds().await;
    assert_eq!(rows.len(), 1, "one row for the refund and its two events");
    assert_eq!(rows[0].stripe_refund_id.as_deref(), refund["id"].as_str());
    assert_eq!(rows[0].admin_id, None);

    let admin = app.admin_browser().await;
    let html = admin_page(&app, &admin, &number).await;
    assert_eq!(select_text(&html, ".refund-amount"), vec!["$7.00"]);
    assert!(html.contains("outside the shop"), "{html}");
    assert_eq!(select_attr(&html, "#amount", "value"), vec!["11.00"]);
}

#[actix_web::test]
async fn a_refund_that_fails_later_shows_failed_and_is_refundable_again() {
    let app = TestApp::spawn().await;
    let number = app.paid_order(1, CARD_REFUND_FAILS).await;
    let admin = app.admin_browser().await;
    let form = refund_form(&app, &admin, &number).await;
    let res = post_refund(&app, &admin, &number, &form, "18.00", &[]).await;
    assert_redirect_to(&res, &format!("/admin/orders/{number}"));
    let html = admin_page(&app, &admin, &number).await;
    assert_eq!(select_text(&html, ".refund-status"), vec!["Pending"]);
    assert!(
        select_attr(&html, "input[name=token]", "value").is_empty(),
        "a pending refund still counts against the total"
    );
    assert_eq!(app.order(&number).await.status, "paid");

    app.wait_for_deliveries().await;
    app.emulator_post("_emulator/run_jobs", &[]).await;
    app.wait_for_deliveries().await;
    let rows = app.local_refunds().await;
    assert_eq!(rows[0].status, "failed");
    let order = app.order(&number).await;
    assert_eq!((order.status.as_str(), order.amount_refunded), ("paid", 0));

    let html = admin_page(&app, &admin, &number).await;
    assert_eq!(select_text(&html, ".refund-status"), vec!["Failed"]);
    assert_eq!(
        select_attr(&html, "#amount", "value"),
        vec!["18.00"],
        "refundable again"
    );
    let events = select_text(&html, "#events").join(" ");
    assert!(events.contains("refund.failed"), "{events}");
}

#[actix_web::test]
async fn a_refund_that_fails_after_succeeding_takes_its_units_back_off_the_shelf() {
    let app = TestApp::spawn().await;
    let number = app.paid_order(2, CARD_OK).await;
    assert_eq!(app.stock("canvas-tote").await, Some(38));
    let admin = app.admin_browser().await;
    let form = refund_form(&app, &admin, &number).await;
    let restock = form.restock_fields[0].clone();
    post_refund(
        &app,
        &admin,
        &number,
        &form,
        "36.00",
        &[(restock.as_str(), "2")],
    )
    .await;
    assert_eq!(app.stock("canvas-tote").await, Some(40));
    app.wait_for_deliveries().await;

    // The card was closed: Stripe reports the refund failed after all.
    let stripe_id = app.stripe_refunds().await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.emulator_post(&format!("_emulator/refunds/{stripe_id}/fail"), &[])
        .await;
    app.wait_for_order(&number, "the refund failed", |o| o.amount_refunded == 0)
        .await;
    app.wait_for_deliveries().await;
    assert_eq!(app.local_refunds().await[0].status, "failed");
    assert_eq!(app.order(&number).await.status, "paid");
    assert_eq!(
        app.stock("canvas-tote").await,
        Some(38),
        "the two units are taken back, once, whatever events repeat"
    );
    let html = admin_page(&app, &admin, &number).await;
    let trail = select_text(&html, "#audit tbody tr").join("\n");
    assert!(
        trail.contains("2 unit(s) taken back off the shelf"),
        "{trail}"
    );
}

#[actix_web::test]
async fn a_disputed_payment_is_flagged_for_the_admin_and_the_customer() {
    let app = TestApp::spawn().await;
    app.register_customer("disputer@example.com").await;
    let number = app.paid_order(1, CARD_DISPUTED).await;
    assert!(!app.order(&number).await.disputed);
    app.emulator_post("_emulator/run_jobs", &[]).await;
    app.wait_for_order(&number, "flagged disputed", |o| o.disputed)
        .await;

    let admin = app.admin_browser().await;
    let html = admin_page(&app, &admin, &number).await;
    assert_eq!(select_text(&html, "#disputed").len(), 1);
    assert!(html.contains("charge.dispute.created"));
    let (_, list) = text(&admin, app.url("/admin")).await;
    assert!(list.contains("Disputed"));
    let (_, html) = app.get_html(&format!("/account/orders/{number}")).await;
    assert_eq!(select_text(&html, "#disputed").len(), 1, "{html}");
}

#[actix_web::test]
async fn customers_and_guests_cannot_reach_admin_pages_and_forged_csrf_is_refused() {
    let app = TestApp::spawn().await;
    let number = app.paid_order(1, CARD_OK).await;
    let admin = app.admin_browser().await;
    let form = refund_form(&app, &admin, &number).await;
    let refund_path = format!("/admin/orders/{number}/refunds");
    let fields = [
        ("csrf_token", form.csrf.as_str()),
        ("token", form.token.as_str()),
        ("amount", "1.00"),
        ("reason", "duplicate"),
    ];

    // A guest is sent to sign in.
    let guest = app.new_browser();
    for path in ["/admin", &format!("/admin/orders/{number}")] {
        let res = guest.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 303, "{path}");
        assert!(location(&res).starts_with("/account/login?next="), "{path}");
    }
    let res = guest
        .post(app.url(&refund_path))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 303);

    // A customer gets 403, even with a valid CSRF token of their own.
    app.register_customer("nosy@example.com").await;
    for path in ["/admin", &format!("/admin/orders/{number}")] {
        let (status, html) = app.get_html(path).await;
        assert_eq!(status, 403, "{path}");
        assert!(html.contains("have access to this page."), "{html}");
    }
    let (_, own) = app.get_html("/account").await;
    let own_csrf = csrf_token(&own);
    let res = app
        .post_form(
            &refund_path,
            &[
                ("csrf_token", own_csrf.as_str()),
                ("token", form.token.as_str()),
                ("amount", "1.00"),
                ("reason", "duplicate"),
            ],
        )
        .await;
    assert_eq!(res.status().as_u16(), 403);

    // An admin's browser tricked into posting without the right CSRF token.
    for csrf in ["forged", ""] {
        let res = admin
            .post(app.url(&refund_path))
            .form(&[
                ("csrf_token", csrf),
                ("token", form.token.as_str()),
                ("amount", "1.00"),
                ("reason", "duplicate"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 403);
    }
    assert!(app.stripe_refunds().await.is_empty());
    assert!(app.local_refunds().await.is_empty());
}

#[actix_web::test]
async fn the_orders_list_filters_searches_and_totals() {
    let app = TestApp::spawn().await;
    let paid = app.paid_order(1, CARD_OK).await;
    // A second, abandoned checkout from another shopper.
    let other = app.new_browser();
    app.add_to_cart_with(&other, "enamel-mug", "1").await;
    let res = app.checkout_with(&other, "someone.else@example.com").await;
    let pending = app
        .order_by_session(&session_id_of(&location(&res)))
        .await
        .number;
    let admin = app.admin_browser().await;

    let numbers = |html: &str| select_text(html, "#orders tbody td:first-child");
    let (status, html) = text(&admin, app.url("/admin")).await;
    assert_eq!(status, 200);
    assert_eq!(numbers(&html), vec![pending.clone(), paid.clone()]);
    assert_eq!(select_text(&html, ".total-paid"), vec!["$18.00"]);
    assert_eq!(select_text(&html, ".total-refunded"), vec!["$0.00"]);

    let (_, html) = text(&admin, app.url("/admin?status=paid")).await;
    assert_eq!(numbers(&html), vec![paid.clone()]);
    let (_, html) = text(&admin, app.url("/admin?q=SOMEONE.ELSE")).await;
    assert_eq!(numbers(&html), vec![pending.clone()]);
    let (_, html) = text(&admin, app.url(&format!("/admin?q={}", &paid[3..]))).await;
    assert_eq!(numbers(&html), vec![paid.clone()]);
    let (_, html) = text(&admin, app.url("/admin?q=%25")).await;
    assert!(numbers(&html).is_empty(), "LIKE wildcards are escaped");
    let (status, html) = text(&admin, app.url("/admin?page=2")).await;
    assert_eq!(status, 200);
    assert!(numbers(&html).is_empty());
    let (status, _) = text(&admin, app.url("/admin/orders/SF-0000-0000")).await;
    assert_eq!(status, 404);
}

#[test]
fn admin_create_creates_promotes_and_refuses_short_passwords() {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let db = TestDb::new();
    let run = |email: &str, password: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_storefront"))
            .args(["admin", "create", "--email", email, "--password-stdin"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &db.url)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run storefront");
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        child.wait_with_output().unwrap()
    };
    let out = run("boss@example.com", "short");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("at least 12 characters"), "{stderr}");

    let out = run("boss@example.com", "a very long admin password");
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("created admin boss@example.com"));
    let out = run("Boss@Example.com", "another long admin password");
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("updated the password"));

    let url = storefront::config::DatabaseUrl::parse(&db.url).unwrap();
    let mut conn = storefront::db::Manager::connect(&url).unwrap();
    let user = storefront::accounts::model::by_email(&mut conn, "boss@example.com")
        .unwrap()
        .unwrap();
    assert!(user.is_admin());
    assert!(storefront::accounts::password::verify(
        &user.password_hash,
        "another long admin password"
    ));
}

#[actix_web::test]
async fn promoting_a_customer_is_audited_and_opens_the_admin_pages() {
    let app = TestApp::spawn().await;
    app.register_customer("rising@example.com").await;
    let (status, _) = app.get_html("/admin").await;
    assert_eq!(status, 403);
    let client = app.another_admin("rising@example.com").await;
    let (status, _) = text(&client, app.url("/admin")).await;
    assert_eq!(status, 200);
    // The old session ended with the new password.
    let (status, _) = app.get_html("/admin").await;
    assert_eq!(status, 303);
    use diesel::prelude::*;
    let details: Vec<String> = storefront::db::run(&app.pool, |conn| {
        storefront::schema::audit_log::table
            .filter(storefront::schema::audit_log::action.eq("role changed"))
            .select(storefront::schema::audit_log::details)
            .load(conn)
            .map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap();
    assert!(
        details
            .iter()
            .any(|d| d == "rising@example.com promoted from customer to admin"),
        "{details:?}"
    );
}

#[actix_web::test]
async fn missed_refund_and_dispute_webhooks_are_caught_up_by_reconcile() {
    let app = TestApp::spawn().await;
    let number = app.paid_order(1, CARD_DISPUTED).await;
    app.emulator_post("_emulator/webhooks", &[("drop", "100")])
        .await;
    let intent = app.order(&number).await.payment_intent_id.unwrap();
    app.emulator_post(
        "v1/refunds",
        &[("payment_intent", intent.as_str()), ("amount", "300")],
    )
    .await;
    app.emulator_post("_emulator/run_jobs", &[]).await;
    app.wait_for_deliveries().await;
    let order = app.order(&number).await;
    assert_eq!((order.amount_refunded, order.disputed), (0, false));

    let report =
        storefront::reconcile::reconcile(&app.state, chrono::Utc::now().timestamp() - 3600)
            .await
            .unwrap();
    let order = app.order(&number).await;
    assert_eq!(
        (order.status.as_str(), order.amount_refunded, order.disputed),
        ("partially_refunded", 300, true),
        "{report}"
    );
    assert_eq!(app.local_refunds().await.len(), 1);
}

/// An order row as the list shows it, created `ago` seconds before the test clock's now.
async fn insert_listed_order(app: &TestApp, number: &str, status: &str, disputed: bool, ago: i64) {
    use diesel::prelude::*;
    use storefront::schema::orders;
    let now = app.clock.unix();
    let (number, status) = (number.to_owned(), status.to_owned());
    storefront::db::run(&app.pool, move |conn| {
        diesel::insert_into(orders::table)
            .values((
                orders::number.eq(&number),
                orders::kind.eq("one_time"),
                orders::status.eq(&status),
                orders::currency.eq("usd"),
                orders::amount_total.eq(1000i64),
                orders::cart_fingerprint.eq(""),
                orders::idempotency_key.eq(format!("k-{number}")),
                orders::checkout_expires_at.eq(now),
                orders::disputed.eq(disputed),
                orders::created_at.eq(now - ago),
                orders::updated_at.eq(now),
            ))
            .execute(conn)
            .map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap();
}

#[actix_web::test]
async fn the_orders_list_pages_keep_every_filter() {
    let app = TestApp::spawn().await;
    let day = 86_400;
    // 23 orders match status, search, since and disputed: a page of 20, then 3.
    let mut matching = Vec::new();
    for i in 0..23 {
        let number = format!("SF-MMMM-{i:04}");
        insert_listed_order(&app, &number, "paid", true, 3600 + i).await;
        matching.push(number);
    }
    // Each of these misses exactly one filter, and would show on a later page without it.
    insert_listed_order(&app, "SF-MMMM-9001", "refunded", true, 3600).await;
    insert_listed_order(&app, "SF-XXXX-9002", "paid", true, 3600).await;
    insert_listed_order(&app, "SF-MMMM-9003", "paid", true, 10 * day).await;
    insert_listed_order(&app, "SF-MMMM-9004", "paid", false, 3600).await;
    let admin = app.admin_browser().await;
    let since = app.clock.unix() - 2 * day;

    let numbers = |html: &str| select_text(html, "#orders tbody td:first-child");
    let first = format!("/admin?status=paid&q=MMMM&since={since}&disputed=1");
    let (status, html) = text(&admin, app.url(&first)).await;
    assert_eq!(status, 200);
    let mut seen = numbers(&html);
    assert_eq!(seen.len(), 20);
    let older = select_attr(&html, "a[rel=next]", "href");
    assert_eq!(older.len(), 1, "an Older link: {html}");

    let (status, html) = text(&admin, app.url(&older[0])).await;
    assert_eq!(status, 200);
    seen.extend(numbers(&html));
    assert!(select_attr(&html, "a[rel=next]", "href").is_empty());
    seen.sort();
    assert_eq!(seen, matching, "page 2 of {}", older[0]);

    // And back: "Newer" shows the first page again, still filtered.
    let newer = select_attr(&html, "a[rel=prev]", "href").remove(0);
    let (_, html) = text(&admin, app.url(&newer)).await;
    assert_eq!(
        numbers(&html),
        numbers(&text(&admin, app.url(&first)).await.1)
    );
}

/// The dashboard links to the list with `since` and `disputed`: a search from that page keeps
/// both (shown on the form, removable), instead of silently widening to every order.
#[actix_web::test]
async fn a_search_from_a_dashboard_link_keeps_its_filters() {
    let app = TestApp::spawn().await;
    let day = 86_400;
    insert_listed_order(&app, "SF-KEEP-0001", "paid", true, 3600).await;
    insert_listed_order(&app, "SF-KEEP-0002", "paid", false, 3600).await;
    insert_listed_order(&app, "SF-KEEP-0003", "paid", true, 10 * day).await;
    let admin = app.admin_browser().await;
    let since = app.clock.unix() - 2 * day;
    let (status, html) = text(&admin, app.url(&format!("/admin?disputed=1&since={since}"))).await;
    assert_eq!(status, 200);
    assert_eq!(select_attr(&html, "#disputed[checked]", "value"), vec!["1"]);
    assert_eq!(
        select_attr(&html, "form.admin-filter input[name=since]", "value"),
        vec![since.to_string()]
    );
    assert_eq!(select_text(&html, "#since-filter").len(), 1, "{html}");

    // The form as a browser submits it, with a search typed in.
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("q", "KEEP");
    query.append_pair("status", "");
    query.append_pair("disputed", "1");
    for value in select_attr(&html, "form.admin-filter input[name=since]", "value") {
        query.append_pair("since", &value);
    }
    let (_, html) = text(&admin, app.url(&format!("/admin?{}", query.finish()))).await;
    assert_eq!(
        select_text(&html, "#orders tbody td:first-child"),
        vec!["SF-KEEP-0001"]
    );
    // "Show all dates" drops only `since`.
    let all = select_attr(&html, "#since-filter a", "href").remove(0);
    let (_, html) = text(&admin, app.url(&all)).await;
    let mut numbers = select_text(&html, "#orders tbody td:first-child");
    numbers.sort();
    assert_eq!(numbers, vec!["SF-KEEP-0001", "SF-KEEP-0003"]);
}
