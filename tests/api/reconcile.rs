//! The periodic reconcile's window: from its last successful run, so an outage is caught up.

use chrono::TimeDelta;
use storefront::clock::Clock as _;

use crate::helpers::*;

#[actix_web::test]
async fn after_a_five_hour_outage_the_periodic_reconcile_catches_up_what_was_missed() {
    let app = TestApp::spawn().await;
    // A successful run before the outage records where the next one starts.
    let before = storefront::reconcile::periodic(&app.state).await.unwrap();
    assert_eq!(before.failed, 0, "{before}");
    let last_run = app.clock.unix();

    // The outage: webhooks are lost and the shop's jobs do not run. Two hours in, a shopper
    // pays (Stripe's clock moves with ours).
    app.emulator_post("_emulator/webhooks", &[("drop", "100")])
        .await;
    app.clock.advance(TimeDelta::hours(2));
    app.emulator_post("_emulator/clock/advance", &[("seconds", "7200")])
        .await;
    app.add_to_cart("canvas-tote", 1).await;
    let session_url = app.checkout().await;
    let order = app.order_by_session(&session_id_of(&session_url)).await;
    app.pay_ok(&session_url).await;
    app.wait_for_deliveries().await;
    assert_eq!(app.order(&order.number).await.status, "pending");

    // Five hours after the last run, the shop is back: a fixed hour would look back only to
    // hour four and miss the payment.
    app.clock.advance(TimeDelta::hours(3));
    let now = app.clock.unix();
    assert_eq!(
        storefront::reconcile::window_start(now, Some(last_run)),
        last_run - 300
    );
    let report = storefront::reconcile::periodic(&app.state).await.unwrap();
    assert_eq!(report.processed.get("paid"), Some(&1), "{report}");
    assert_eq!(app.order(&order.number).await.status, "paid");

    // That run is the new start: the next one looks back an hour, no longer five.
    let recorded: i64 = storefront::db::run(&app.pool, |conn| {
        use diesel::prelude::*;
        storefront::schema::job_runs::table
            .find("reconcile")
            .select(storefront::schema::job_runs::last_success_started_at)
            .first(conn)
            .map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap();
    assert_eq!(recorded, now);
}
