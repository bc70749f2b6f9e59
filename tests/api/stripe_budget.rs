//! What a paid order costs at Stripe, counted by the emulator (`GET /_emulator/requests`): the
//! account's rate limit, not our CPU, is a flash sale's ceiling (see README "Selling at scale").

use crate::helpers::*;

/// A guest buys one tote and lands on the success page; its order's fee is read.
async fn one_purchase(app: &TestApp) {
    app.add_to_cart("canvas-tote", 1).await;
    let session_url = app.checkout().await;
    let number = app
        .order_by_session(&session_id_of(&session_url))
        .await
        .number;
    let success = app.pay_ok(&session_url).await;
    app.wait_for_status(&number, "paid").await;
    app.wait_for_deliveries().await;
    let (status, _) = app.get_html(success.trim_start_matches(&app.address)).await;
    assert_eq!(status, 200);
    storefront::balance::fetch::run_due(&app.state, 100)
        .await
        .unwrap();
}

#[actix_web::test]
async fn a_paid_order_costs_at_most_this_many_stripe_calls() {
    let app = TestApp::spawn().await;
    // The first purchase makes the product and its price at Stripe: once, not per order.
    one_purchase(&app).await;
    app.emulator_post("_emulator/requests/reset", &[]).await;
    const ORDERS: u64 = 4;
    for _ in 0..ORDERS {
        one_purchase(&app).await;
    }
    let report = app.emulator_get("_emulator/requests").await;
    let calls = report["total"]["requests"].as_u64().unwrap();
    let per_order = calls as f64 / ORDERS as f64;
    eprintln!("Stripe calls per paid order: {per_order:.2} ({report})");
    let endpoints = report["endpoints"].as_object().unwrap();
    // One session created per order, never more.
    assert_eq!(endpoints["POST /v1/checkout/sessions"]["requests"], ORDERS);
    assert!(
        per_order <= 2.0 + f64::EPSILON,
        "{per_order} calls per order: {report}"
    );
}
