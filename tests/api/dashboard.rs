//! The admin dashboard's figures against numbers worked out by hand for a scripted set of data.

use diesel::prelude::*;
use storefront::clock::Clock as _;
use storefront::schema::{orders, payment_failures, refunds, subscriptions};

use crate::helpers::*;
use crate::mail::make_admin;

const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

async fn insert_order(
    app: &TestApp,
    number: &str,
    amount: i64,
    paid_ago: i64,
    disputed: bool,
) -> i64 {
    let now = app.clock.now().timestamp();
    let number = number.to_owned();
    storefront::db::run(&app.pool, move |conn| {
        diesel::insert_into(orders::table)
            .values((
                orders::number.eq(&number),
                orders::kind.eq("one_time"),
                orders::status.eq("paid"),
                orders::currency.eq("usd"),
                orders::amount_total.eq(amount),
                orders::cart_fingerprint.eq(""),
                orders::idempotency_key.eq(format!("k-{number}")),
                orders::checkout_expires_at.eq(now),
                orders::disputed.eq(disputed),
                orders::paid_at.eq(now - paid_ago),
                orders::created_at.eq(now - paid_ago),
                orders::updated_at.eq(now),
            ))
            .execute(conn)?;
        orders::table
            .filter(orders::number.eq(&number))
            .select(orders::id)
            .first::<i64>(conn)
            .map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap()
}

async fn insert_refund(app: &TestApp, order_id: i64, amount: i64, ago: i64, status: &'static str) {
    let now = app.clock.now().timestamp();
    storefront::db::run(&app.pool, move |conn| {
        diesel::insert_into(refunds::table)
            .values((
                refunds::order_id.eq(order_id),
                refunds::amount.eq(amount),
                refunds::currency.eq("usd"),
                refunds::status.eq(status),
                refunds::created_at.eq(now - ago),
                refunds::updated_at.eq(now - ago),
            ))
            .execute(conn)
            .map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap();
}

async fn insert_failure(app: &TestApp, id: &str, code: &str, ago: i64) {
    let now = app.clock.now().timestamp();
    let (id, code) = (id.to_owned(), code.to_owned());
    storefront::db::run(&app.pool, move |conn| {
        diesel::insert_into(payment_failures::table)
            .values((
                payment_failures::event_id.eq(&id),
                payment_failures::payment_intent_id.eq("pi_x"),
                payment_failures::decline_code.eq(&code),
                payment_failures::amount.eq(1000i64),
                payment_failures::currency.eq("usd"),
                payment_failures::created_at.eq(now - ago),
            ))
            .execute(conn)
            .map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap();
}

async fn insert_subscription(app: &TestApp, id: &str, status: &str, ended_ago: Option<i64>) {
    let now = app.clock.now().timestamp();
    let (id, status) = (id.to_owned(), status.to_owned());
    storefront::db::run(&app.pool, move |conn| {
        diesel::insert_into(subscriptions::table)
            .values((
                subscriptions::stripe_subscription_id.eq(&id),
                subscriptions::stripe_customer_id.eq("cus_x"),
                subscriptions::stripe_price_id.eq("price_x"),
                subscriptions::status.eq(&status),
                subscriptions::ended_at.eq(ended_ago.map(|a| now - a)),
                subscriptions::created_at.eq(now - 60 * DAY),
                subscriptions::updated_at.eq(now),
            ))
            .execute(conn)
            .map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap();
}

fn figure(html: &str, id: &str) -> String {
    select_text(html, &format!("#{id}")).join(" ")
}

#[actix_web::test]
async fn the_dashboard_adds_up() {
    let app = TestApp::spawn().await;
    let a = insert_order(&app, "SF-AAAA-0001", 5000, 2 * HOUR, false).await;
    let b = insert_order(&app, "SF-AAAA-0002", 3000, 3 * DAY, true).await;
    insert_order(&app, "SF-AAAA-0003", 2000, 10 * DAY, false).await;
    insert_order(&app, "SF-AAAA-0004", 1000, 40 * DAY, false).await;
    insert_refund(&app, a, 500, HOUR, "succeeded").await;
    insert_refund(&app, b, 1000, 5 * DAY, "succeeded").await;
    insert_refund(&app, b, 200, HOUR, "failed").await;
    insert_failure(&app, "evt_1", "card_declined", HOUR).await;
    insert_failure(&app, "evt_2", "card_declined", 2 * HOUR).await;
    insert_failure(&app, "evt_3", "insufficient_funds", 2 * DAY).await;
    insert_subscription(&app, "sub_1", "active", None).await;
    insert_subscription(&app, "sub_2", "active", None).await;
    insert_subscription(&app, "sub_3", "canceled", Some(3 * DAY)).await;

    make_admin(&app, "owner@example.com").await;
    assert_redirect_to(
        &app.login_with(&app.client, "owner@example.com", PASSWORD)
            .await,
        "/account",
    );

    // Worked out by hand: (period, orders, net, success, failures, refunded, refund rate, disputes, dispute rate, churned, churn rate)
    let expected = [
        (
            "24h", "1", "$45.00", "33.33%", "2", "$5.00", "10.00%", "0", "0.00%", "0", "0.00%",
        ),
        (
            "7d", "2", "$65.00", "40.00%", "3", "$15.00", "18.75%", "1", "50.00%", "1", "33.33%",
        ),
        (
            "30d", "3", "$85.00", "50.00%", "3", "$15.00", "15.00%", "1", "33.33%", "1", "33.33%",
        ),
    ];
    for (
        period,
        orders,
        net,
        success,
        failures,
        refunded,
        refund_rate,
        disputes,
        dispute_rate,
        churned,
        churn_rate,
    ) in expected
    {
        let (status, html) = app
            .get_html(&format!("/admin/dashboard?period={period}"))
            .await;
        assert_eq!(status, 200);
        assert_eq!(figure(&html, "orders"), orders, "{period} orders");
        assert_eq!(figure(&html, "net"), net, "{period} net");
        assert_eq!(
            figure(&html, "success-rate"),
            success,
            "{period} success rate"
        );
        assert_eq!(figure(&html, "failures"), failures, "{period} failures");
        assert_eq!(figure(&html, "refunded"), refunded, "{period} refunded");
        assert_eq!(
            figure(&html, "refund-rate"),
            refund_rate,
            "{period} refund rate"
        );
        assert_eq!(figure(&html, "disputes"), disputes, "{period} disputes");
        assert_eq!(
            figure(&html, "dispute-rate"),
            dispute_rate,
            "{period} dispute rate"
        );
        assert_eq!(figure(&html, "churned"), churned, "{period} churned");
        assert_eq!(figure(&html, "churn-rate"), churn_rate, "{period} churn");
        assert_eq!(figure(&html, "active-subscriptions"), "2");
        assert_eq!(
            select_attr(&html, "svg.chart rect", "height").len() as i64,
            if period == "30d" { 30 } else { 7 }
        );
        assert!(select_attr(&html, "#orders", "href")[0].starts_with("/admin?status=paid&since="));
    }
    let html = app.get_html("/admin/dashboard?period=7d").await.1;
    // The figure links to the orders behind it.
    let link = select_attr(&html, "#orders", "href").remove(0);
    let list = app.get_html(&link).await.1;
    assert!(
        list.contains("SF-AAAA-0001") && list.contains("SF-AAAA-0002"),
        "{list}"
    );
    assert!(!list.contains("SF-AAAA-0003") && !list.contains("SF-AAAA-0004"));
    assert_eq!(
        select_text(&html, "#declines tbody td"),
        vec!["card_declined", "2", "insufficient_funds", "1"]
    );

    // Customers and guests don't see it.
    let customer = app.new_browser();
    app.register_with(&customer, "c@example.com", PASSWORD, PASSWORD)
        .await;
    assert_eq!(
        customer
            .get(app.url("/admin/dashboard"))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        app.new_browser()
            .get(app.url("/admin/dashboard"))
            .send()
            .await
            .unwrap()
            .status(),
        303
    );
}
