//! Disputes through their life: opened (funds withdrawn with the dispute fee), under review,
//! then lost or won (funds reinstated), on the order page, the dashboard and the audit trail,
//! whatever order the events arrive in.

use crate::helpers::*;

const CARD_DISPUTED: &str = "4000000000000259";

async fn page(client: &reqwest::Client, url: String) -> String {
    client.get(url).send().await.unwrap().text().await.unwrap()
}

/// The dispute the shop keeps for the order, once its events have arrived.
async fn dispute_row(app: &TestApp, number: &str, status: &str) -> (String, i64, i64, i64) {
    let number = number.to_owned();
    for _ in 0..200 {
        let n = number.clone();
        let row: Option<(String, String, i64, i64, i64)> =
            storefront::db::run(&app.pool, move |conn| {
                use diesel::prelude::*;
                use storefront::schema::{disputes, orders};
                disputes::table
                    .inner_join(orders::table.on(orders::id.nullable().eq(disputes::order_id)))
                    .filter(orders::number.eq(n))
                    .select((
                        disputes::id,
                        disputes::status,
                        disputes::withdrawn,
                        disputes::reinstated,
                        disputes::fees,
                    ))
                    .first(conn)
                    .optional()
                    .map_err(storefront::db::DbError::from)
            })
            .await
            .unwrap();
        if let Some((id, s, w, r, f)) = row
            && s == status
        {
            return (id, w, r, f);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the dispute of {number} never became {status}");
}

async fn decide(app: &TestApp, dispute: &str, status: &str) {
    app.emulator_post(
        &format!("_emulator/disputes/{dispute}"),
        &[("status", status)],
    )
    .await;
}

#[actix_web::test]
async fn a_dispute_is_shown_at_each_step_until_it_is_lost() {
    let app = TestApp::spawn().await;
    let number = app.paid_order(1, CARD_DISPUTED).await;
    let total = app.order(&number).await.amount_total;
    app.emulator_post("_emulator/run_jobs", &[]).await;
    let (id, withdrawn, reinstated, fees) = dispute_row(&app, &number, "needs_response").await;
    assert_eq!((withdrawn, reinstated, fees), (total, 0, 1500));

    let admin = app.admin_browser().await;
    let order_page = app.url(&format!("/admin/orders/{number}"));
    let html = page(&admin, order_page.clone()).await;
    assert_eq!(
        select_text(&html, "#dispute-status"),
        vec!["Needs your response"]
    );
    assert_eq!(select_text(&html, "#dispute-reason"), vec!["fraudulent"]);
    assert_eq!(
        select_text(&html, "#dispute-due").len(),
        1,
        "evidence due date"
    );
    assert!(
        select_text(&html, "#dispute-withdrawn")[0].contains("$15.00"),
        "the fee"
    );
    assert_eq!(
        select_attr(&html, "#dispute-dashboard", "href"),
        vec![format!("https://dashboard.stripe.com/test/disputes/{id}")]
    );
    let dashboard = page(&admin, app.url("/admin/dashboard")).await;
    assert_eq!(select_text(&dashboard, "#disputes-open"), vec!["1"]);

    // Evidence submitted: the bank is looking at it.
    decide(&app, &id, "under_review").await;
    dispute_row(&app, &number, "under_review").await;
    let html = page(&admin, order_page.clone()).await;
    assert_eq!(
        select_text(&html, "#dispute-status"),
        vec!["Under review by the bank"]
    );
    assert!(
        select_text(&html, "#dispute-due").is_empty(),
        "nothing more is due"
    );

    // Lost: the money stays withdrawn.
    decide(&app, &id, "lost").await;
    let (_, withdrawn, reinstated, _) = dispute_row(&app, &number, "lost").await;
    assert_eq!((withdrawn, reinstated), (total, 0));
    let html = page(&admin, order_page).await;
    assert_eq!(select_text(&html, "#dispute-status"), vec!["Lost"]);
    let trail = select_text(&html, "#audit tbody tr").join("\n");
    for step in [
        "status needs response",
        "dispute under review",
        "dispute lost",
    ] {
        assert!(trail.contains(step), "{step} in {trail}");
    }
    let dashboard = page(&admin, app.url("/admin/dashboard")).await;
    assert_eq!(select_text(&dashboard, "#disputes-open"), vec!["0"]);
    assert_eq!(select_text(&dashboard, "#disputes-lost"), vec!["1"]);
    let taken = storefront::money::Money::new(
        total + 1500,
        storefront::money::Currency::parse("usd").unwrap(),
    );
    assert!(
        select_text(&dashboard, "#dispute-withdrawn")[0].starts_with(&taken.to_string()),
        "{:?}",
        select_text(&dashboard, "#dispute-withdrawn")
    );
}

#[actix_web::test]
async fn a_won_dispute_reinstates_the_money_whatever_order_its_events_come_in() {
    let app = TestApp::spawn().await;
    let number = app.paid_order(1, CARD_DISPUTED).await;
    let total = app.order(&number).await.amount_total;
    // Stripe sends the opening's events backwards.
    app.emulator_post("_emulator/webhooks", &[("reverse", "true")])
        .await;
    app.emulator_post("_emulator/run_jobs", &[]).await;
    let (id, ..) = dispute_row(&app, &number, "needs_response").await;
    decide(&app, &id, "won").await;
    let (_, withdrawn, reinstated, fees) = dispute_row(&app, &number, "won").await;
    assert_eq!((withdrawn, reinstated, fees), (total, total, 1500));
    app.emulator_post("_emulator/webhooks", &[("reverse", "false")])
        .await;
    app.wait_for_deliveries().await;
    // Every event applied, and the state is the last one's.
    let (_, withdrawn, reinstated, _) = dispute_row(&app, &number, "won").await;
    assert_eq!((withdrawn, reinstated), (total, total));

    let admin = app.admin_browser().await;
    let html = page(&admin, app.url(&format!("/admin/orders/{number}"))).await;
    assert_eq!(select_text(&html, "#dispute-status"), vec!["Won"]);
    let dashboard = page(&admin, app.url("/admin/dashboard")).await;
    assert_eq!(select_text(&dashboard, "#disputes-won"), vec!["1"]);
    assert!(select_text(&dashboard, "#dispute-withdrawn")[0].starts_with("$15.00"));
    // Each of its events is in the inbox, applied.
    let events = page(&admin, app.url("/admin/events?outcome=applied")).await;
    for t in [
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.funds_reinstated",
        "charge.dispute.closed",
    ] {
        assert!(events.contains(t), "{t} in the inbox");
    }
}
