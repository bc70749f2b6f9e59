//! The installation row: demo data never becomes a real shop's, and every Stripe idempotency key
//! carries the database's install id.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use storefront::admin::users::{DEMO_ADMIN_EMAIL, DEMO_ADMIN_PASSWORD};
use storefront::config::Config;
use storefront::startup::{Application, StartError};

use crate::helpers::*;

/// Runs the binary once on `db` with Shop-like variables plus `extra`; a run still going after
/// 30 s (a `serve` that should have been refused) is stopped and reported as it is.
fn run_binary(db: &TestDb, args: &[&str], extra: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_storefront"));
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &db.url)
        .env("BIND", "127.0.0.1:0")
        .env("SESSION_KEY", session_key())
        .env("STRIPE_WEBHOOK_SECRET", "whsec_test_installation")
        .env("RUST_LOG", "warn");
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("run storefront");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("storefront's output")
}

/// An order with a dispute, a balance transaction, a fetch queued and a recovery, and an
/// unsubscribed address, written as the shop would.
fn leave_money_trails(db: &TestDb) {
    use diesel::prelude::*;
    use storefront::schema::{
        balance_fetches, balance_transactions, checkout_recoveries, disputes, orders,
        recovery_unsubscribes,
    };
    let url = storefront::config::DatabaseUrl::parse(&db.url).unwrap();
    let mut conn = storefront::db::Manager::connect(&url).unwrap();
    diesel::insert_into(orders::table)
        .values(&storefront::orders::model::NewOrder {
            number: "SF-DEMO-0001",
            kind: "one_time",
            status: "paid",
            currency: "usd",
            amount_total: 1800,
            amount_subtotal: 1800,
            tax_behavior: None,
            email: Some("shopper@example.com"),
            cart_id: None,
            cart_fingerprint: "f",
            client_ip: None,
            idempotency_key: "k",
            checkout_expires_at: 0,
            created_at: 0,
            updated_at: 0,
            user_id: None,
            stripe_account: None,
        })
        .execute(&mut conn)
        .unwrap();
    let id: i64 = orders::table
        .select(orders::id)
        .filter(orders::number.eq("SF-DEMO-0001"))
        .first(&mut conn)
        .unwrap();
    diesel::insert_into(disputes::table)
        .values((
            disputes::id.eq("dp_demo"),
            disputes::order_id.eq(Some(id)),
            disputes::charge_id.eq("ch_demo"),
            disputes::amount.eq(1800),
            disputes::currency.eq("usd"),
            disputes::reason.eq("fraudulent"),
            disputes::status.eq("lost"),
            disputes::created_at.eq(0),
            disputes::updated_at.eq(0),
        ))
        .execute(&mut conn)
        .unwrap();
    diesel::insert_into(balance_transactions::table)
        .values((
            balance_transactions::id.eq("txn_demo"),
            balance_transactions::order_id.eq(id),
            balance_transactions::category.eq("charge"),
            balance_transactions::amount.eq(1800),
            balance_transactions::fee.eq(82),
            balance_transactions::net.eq(1718),
            balance_transactions::currency.eq("usd"),
            balance_transactions::created.eq(0),
            balance_transactions::recorded_at.eq(0),
        ))
        .execute(&mut conn)
        .unwrap();
    diesel::insert_into(balance_fetches::table)
        .values((
            balance_fetches::source.eq("re_demo"),
            balance_fetches::order_id.eq(id),
            balance_fetches::next_at.eq(0),
            balance_fetches::created_at.eq(0),
        ))
        .execute(&mut conn)
        .unwrap();
    diesel::insert_into(checkout_recoveries::table)
        .values((
            checkout_recoveries::order_id.eq(id),
            checkout_recoveries::email.eq("shopper@example.com"),
            checkout_recoveries::cart_fingerprint.eq("f"),
            checkout_recoveries::status.eq("sent"),
            checkout_recoveries::expired_at.eq(0),
            checkout_recoveries::created_at.eq(0),
            checkout_recoveries::updated_at.eq(0),
        ))
        .execute(&mut conn)
        .unwrap();
    diesel::insert_into(recovery_unsubscribes::table)
        .values((
            recovery_unsubscribes::email.eq("shopper@example.com"),
            recovery_unsubscribes::created_at.eq(0),
        ))
        .execute(&mut conn)
        .unwrap();
}

/// Signs in through the real form; true when the shop let the demo admin in.
async fn demo_admin_signs_in(address: &str) -> bool {
    let browser = browser();
    let html = browser
        .get(format!("{address}/account/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let res = browser
        .post(format!("{address}/account/login"))
        .form(&[
            ("csrf_token", csrf_token(&html).as_str()),
            ("email", DEMO_ADMIN_EMAIL),
            ("password", DEMO_ADMIN_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    res.status().as_u16() == 303
}

#[actix_web::test]
async fn a_demo_database_is_refused_with_a_key_until_the_demo_is_purged() {
    // A demo run: its admin signs in with the documented password.
    let mut demo = Shop::start(&[]).await;
    assert!(demo_admin_signs_in(&demo.address).await, "the demo admin");
    demo.terminate();
    assert!(demo.wait(Duration::from_secs(30)).await.success());
    let db = Arc::clone(&demo.db);
    drop(demo);

    // The same database with a key: refused, one line saying what to do.
    let out = run_binary(&db, &["serve"], STRIPE_KEY_ENV);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {stderr}");
    assert!(lines[0].contains("DATABASE_URL"), "{stderr}");
    assert!(lines[0].contains("demo data"), "{stderr}");
    assert!(lines[0].contains("storefront demo purge"), "{stderr}");
    assert!(lines[0].contains("fresh database"), "{stderr}");
    // Other commands that talk to Stripe are refused too.
    let out = run_binary(&db, &["reconcile", "--since", "1h"], STRIPE_KEY_ENV);
    assert_eq!(out.status.code(), Some(2));

    // What a demo's orders leave besides themselves: a dispute, Stripe's fees, a recovery
    // e-mail and an unsubscribed address.
    leave_money_trails(&db);

    // Purge, then the key starts the shop, and the demo admin is gone.
    let out = run_binary(&db, &["demo", "purge"], STRIPE_KEY_ENV);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("deleted 1 accounts"), "{stdout}");
    let live = Shop::start_on(Arc::clone(&db), STRIPE_KEY_ENV).await;
    assert!(!demo_admin_signs_in(&live.address).await);
    let catalogue = plain_client()
        .get(live.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !catalogue.contains("Demo — no real payments"),
        "no demo ribbon with a key"
    );
    drop(live);

    // A database that served with a key is no demo: purge refuses and deletes nothing.
    let out = run_binary(&db, &["demo", "purge"], STRIPE_KEY_ENV);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing was deleted"));
}

fn config_on(db_url: &str, key: bool) -> Config {
    let mut vars = vec![
        ("DATABASE_URL".to_owned(), db_url.to_owned()),
        ("BIND".to_owned(), "127.0.0.1:0".to_owned()),
        ("EMULATOR_BIND".to_owned(), "127.0.0.1:0".to_owned()),
        ("EMULATOR_DB".to_owned(), ":memory:".to_owned()),
        ("SESSION_KEY".to_owned(), session_key()),
        (
            "STRIPE_WEBHOOK_SECRET".to_owned(),
            "whsec_test_x".to_owned(),
        ),
    ];
    if key {
        for (k, v) in STRIPE_KEY_ENV {
            vars.push(((*k).to_owned(), (*v).to_owned()));
        }
    }
    let vars: std::collections::HashMap<_, _> = vars.into_iter().collect();
    Config::from_lookup(|k| vars.get(k).cloned()).unwrap()
}

async fn refused(config: Config) -> String {
    let clock = Arc::new(storefront::clock::SystemClock);
    match Application::build(config, clock).await {
        Err(StartError::Config(e)) => {
            assert_eq!(e.var, "DATABASE_URL", "{e}");
            e.to_string()
        }
        Err(e) => panic!("refused for another reason: {e:#}"),
        Ok(_) => panic!("started"),
    }
}

#[actix_web::test]
async fn a_demo_database_from_before_the_installation_table_is_recognised_by_its_demo_admin() {
    let app = TestApp::spawn().await;
    storefront::db::run(&app.pool, |conn| {
        use diesel::prelude::*;
        diesel::delete(storefront::schema::installation::table)
            .execute(conn)
            .map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap();
    let err = refused(config_on(&app.db.url, true)).await;
    assert!(err.contains("storefront demo purge"), "{err}");
}

#[actix_web::test]
async fn demo_mode_refuses_a_database_made_with_a_key() {
    let app = TestApp::spawn().await;
    let live = TestApp::spawn_with_key_on(&app.emulator).await;
    let err = refused(config_on(&live.db.url, false)).await;
    assert!(err.contains("demo mode would add its demo admin"), "{err}");
    let demo_admin = storefront::db::run(&live.pool, |conn| {
        storefront::accounts::model::by_email(conn, DEMO_ADMIN_EMAIL)
            .map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap();
    assert!(demo_admin.is_none(), "no demo admin was seeded");
}

#[actix_web::test]
async fn two_shops_on_one_stripe_account_each_get_their_own_customer_for_their_user_one() {
    // One Stripe (the first app's emulator), two shops with their own databases.
    let stripe = TestApp::spawn().await;
    let shop_a = TestApp::spawn_with_key_on(&stripe.emulator).await;
    let shop_b = TestApp::spawn_with_key_on(&stripe.emulator).await;
    let email = "same.person@example.net";
    shop_a.register(email).await;
    shop_b.register(email).await;
    let (user_a, user_b) = (shop_a.user(email).await, shop_b.user(email).await);
    assert_eq!((user_a.id, user_b.id), (1, 1), "each shop's first user");

    let customer_a = storefront::stripe_ids::customer(&shop_a.state, &user_a)
        .await
        .unwrap();
    let customer_b = storefront::stripe_ids::customer(&shop_b.state, &user_b)
        .await
        .unwrap();
    assert_ne!(
        customer_a, customer_b,
        "shop B must not get shop A's customer by key replay"
    );

    // The key Stripe saw starts with the shop's install id.
    let events = stripe
        .emulator_get("v1/events?type=customer.created&limit=10")
        .await;
    let keys: Vec<String> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["request"]["idempotency_key"].as_str().map(str::to_owned))
        .collect();
    for shop in [&shop_a, &shop_b] {
        let install = storefront::db::run(&shop.pool, |conn| {
            storefront::installation::read(conn).map_err(storefront::db::DbError::from)
        })
        .await
        .unwrap()
        .unwrap();
        let expected = format!("{}-customer-1", install.install_id);
        assert!(keys.contains(&expected), "{expected} not in {keys:?}");
    }
}

#[actix_web::test]
async fn an_order_stores_the_whole_key_its_session_was_created_under() {
    let app = TestApp::spawn().await;
    app.add_to_cart("canvas-tote", 1).await;
    let session_url = app.checkout().await;
    let order = app.order_by_session(&session_id_of(&session_url)).await;
    let install = storefront::db::run(&app.pool, |conn| {
        storefront::installation::read(conn).map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        order.idempotency_key,
        format!("{}-checkout-{}", install.install_id, order.number)
    );
    // A retry sends the stored key as it is: Stripe replays the same session.
    let items = storefront::db::run(&app.pool, {
        let order = order.clone();
        move |conn| {
            storefront::orders::queries::items(conn, &order).map_err(storefront::db::DbError::from)
        }
    })
    .await
    .unwrap();
    // The same request: the tote ships, so it asked for an address (no rates: they are retired).
    let again = storefront::payments::checkout::create(
        &app.state.stripe,
        &order,
        &items,
        &storefront::checkout::start::session_urls(&app.state, &order.number),
        None,
        Some(&storefront::payments::checkout::ShippingAsk {
            countries: &app.state.config.ship_to,
            phone: false,
            rates: &[],
        }),
    )
    .await
    .unwrap();
    assert_eq!(
        Some(again.id.as_str()),
        order.checkout_session_id.as_deref()
    );
}
