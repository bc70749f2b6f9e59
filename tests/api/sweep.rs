//! The expiry sweep: it backs off per order, never touches flagged orders, and releases the
//! stock of a session Stripe says does not exist only after a grace period and only under the
//! account the order was made with.

use chrono::TimeDelta;
use diesel::prelude::*;
use storefront::schema::orders;

use crate::helpers::*;

async fn set(app: &TestApp, number: &str, session: Option<&str>, account: Option<&str>) {
    let (number, session, account) = (
        number.to_owned(),
        session.map(str::to_owned),
        account.map(str::to_owned),
    );
    let mut conn = app.pool.get().unwrap();
    let target = orders::table.filter(orders::number.eq(&number));
    if let Some(s) = session {
        diesel::update(target)
            .set(orders::checkout_session_id.eq(s))
            .execute(&mut conn)
            .unwrap();
    }
    if let Some(a) = account {
        diesel::update(orders::table.filter(orders::number.eq(&number)))
            .set(orders::stripe_account.eq(a))
            .execute(&mut conn)
            .unwrap();
    }
}

fn attempts(app: &TestApp, number: &str) -> i64 {
    orders::table
        .filter(orders::number.eq(number))
        .select(orders::sweep_attempts)
        .first(&mut app.pool.get().unwrap())
        .unwrap()
}

#[actix_web::test]
async fn a_session_stripe_does_not_know_is_released_after_the_grace_period_under_its_own_account() {
    let app = TestApp::spawn().await;
    app.add_to_cart("harbour-print", 1).await;
    let session_url = app.checkout().await;
    let ours = app.order_by_session(&session_id_of(&session_url)).await;
    // Made under this shop's account, but Stripe does not know the session (a deleted test
    // object, a key rotated to a new account…).
    set(&app, &ours.number, Some("cs_test_not_there"), None).await;

    app.clock.advance(TimeDelta::minutes(32));
    storefront::jobs::sweep(&app.state).await.unwrap();
    assert_eq!(app.order(&ours.number).await.status, "pending", "grace");
    assert_eq!(app.held("harbour-print").await, 1);

    app.clock
        .advance(TimeDelta::seconds(storefront::jobs::MISSING_SESSION_GRACE));
    storefront::jobs::sweep(&app.state).await.unwrap();
    assert_eq!(app.order(&ours.number).await.status, "expired");
    assert_eq!(app.held("harbour-print").await, 0);
}

#[actix_web::test]
async fn a_session_missing_under_another_account_keeps_its_stock_for_an_admin() {
    let app = TestApp::spawn().await;
    app.add_to_cart("harbour-print", 1).await;
    let session_url = app.checkout().await;
    let order = app.order_by_session(&session_id_of(&session_url)).await;
    // Made with another key: that account may well have the session, and may have taken money.
    set(
        &app,
        &order.number,
        Some("cs_test_elsewhere"),
        Some("test:0123456789abcdef"),
    )
    .await;
    for _ in 0..5 {
        app.clock.advance(TimeDelta::hours(7));
        storefront::jobs::sweep(&app.state).await.unwrap();
    }
    assert_eq!(app.order(&order.number).await.status, "pending");
    assert_eq!(app.held("harbour-print").await, 1);
}

#[actix_web::test]
async fn failing_orders_back_off_so_newer_ones_are_checked_and_flagged_ones_are_left_alone() {
    let app = TestApp::spawn().await;
    app.add_to_cart("canvas-tote", 1).await;
    let a_url = app.checkout().await;
    let a = app.order_by_session(&session_id_of(&a_url)).await;
    let other = app.new_browser();
    app.add_to_cart_with(&other, "canvas-tote", "1").await;
    let b = app
        .order_by_session(&session_id_of(&location(
            &app.checkout_with(&other, "b@example.com").await,
        )))
        .await;
    app.emulator_post(
        "_emulator/faults",
        &[
            (
                "path",
                &format!("/v1/checkout/sessions/{}", session_id_of(&a_url)),
            ),
            ("method", "GET"),
            ("status", "500"),
            ("count", "100"),
        ],
    )
    .await;
    app.clock.advance(TimeDelta::minutes(32));

    // One order a pass: the first fails and backs off, so the next pass reaches the second.
    assert_eq!(
        storefront::jobs::sweep_batch(&app.state, 1).await.unwrap(),
        1
    );
    assert_eq!(
        (attempts(&app, &a.number), attempts(&app, &b.number)),
        (1, 0)
    );
    assert_eq!(
        storefront::jobs::sweep_batch(&app.state, 1).await.unwrap(),
        1
    );
    assert_eq!(
        (attempts(&app, &a.number), attempts(&app, &b.number)),
        (1, 1)
    );
    // Within the back-off, nothing is due.
    assert_eq!(storefront::jobs::sweep(&app.state).await.unwrap(), 0);

    // A flagged order waits for an admin, however long.
    {
        let mut conn = app.pool.get().unwrap();
        diesel::update(orders::table.filter(orders::number.eq(&a.number)))
            .set(orders::flagged.eq("amount mismatch"))
            .execute(&mut conn)
            .unwrap();
    }
    app.clock.advance(TimeDelta::hours(30));
    storefront::jobs::sweep(&app.state).await.unwrap();
    assert_eq!(
        attempts(&app, &a.number),
        1,
        "the flagged order was not checked"
    );
    assert_eq!(app.order(&a.number).await.status, "pending");
}
