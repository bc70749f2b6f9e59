//! The background jobs on the real binary: their intervals come from `SWEEP_INTERVAL` (and
//! `RECONCILE_INTERVAL`), and `INSTANCE_JOBS=off` keeps them off an instance.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use storefront::schema::orders;

use crate::helpers::*;

/// A shopper starts a checkout of one tote on `shop`; the order is then made to look like one
/// whose session never got to us and whose time is up, which the sweep releases. Its id.
async fn abandoned_checkout(shop: &Shop) -> i64 {
    let client = browser();
    let (_, page) = fetch_page(&client, shop.url("/products/canvas-tote")).await;
    let price = select_attr(&page, "input[name=price_id]", "value").remove(0);
    let res = client
        .post(shop.url("/cart/items"))
        .form(&[
            ("csrf_token", csrf_token(&page).as_str()),
            ("price_id", price.as_str()),
            ("quantity", "1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 303);
    let (_, cart) = fetch_page(&client, shop.url("/cart")).await;
    let res = client
        .post(shop.url("/checkout"))
        .form(&[
            ("csrf_token", csrf_token(&cart).as_str()),
            ("email", "shopper@example.com"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 303, "{}", res.text().await.unwrap());
    let pool = shop.pool().await;
    storefront::db::run(&pool, |conn| {
        let id: i64 = orders::table
            .filter(orders::status.eq("pending"))
            .select(orders::id)
            .first(conn)?;
        diesel::update(orders::table.find(id))
            .set((
                orders::checkout_session_id.eq(None::<String>),
                orders::checkout_expires_at.eq(0i64),
            ))
            .execute(conn)?;
        Ok::<_, storefront::db::DbError>(id)
    })
    .await
    .unwrap()
}

async fn status(shop: &Shop, id: i64) -> String {
    let pool = shop.pool().await;
    storefront::db::run(&pool, move |conn| {
        orders::table
            .find(id)
            .select(orders::status)
            .first::<String>(conn)
            .map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap()
}

#[actix_web::test]
async fn the_sweep_runs_as_often_as_configured_and_not_where_jobs_are_off() {
    let shop = Shop::start(&[
        ("SWEEP_INTERVAL", "1"),
        ("RUST_LOG", "info"),
        ("LOG_FORMAT", "json"),
    ])
    .await;
    let order = abandoned_checkout(&shop).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while status(&shop, order).await == "pending" {
        assert!(
            Instant::now() < deadline,
            "the sweep never ran: {}",
            shop.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(status(&shop, order).await, "expired");
    assert!(
        shop.output().contains("\"sweep_seconds\":1"),
        "{}",
        shop.output()
    );

    // Another instance with jobs off leaves its abandoned checkout to the others.
    let quiet = Shop::start(&[
        ("SWEEP_INTERVAL", "1"),
        ("INSTANCE_JOBS", "off"),
        ("RUST_LOG", "info"),
    ])
    .await;
    let order = abandoned_checkout(&quiet).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(status(&quiet, order).await, "pending");
    assert!(
        quiet.output().contains("INSTANCE_JOBS=off"),
        "{}",
        quiet.output()
    );
}
