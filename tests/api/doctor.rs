//! `storefront stripe doctor` and `/admin/health`: the account's settings that would break
//! orders, one check each, failing loudly on the ones that do.

use storefront::stripe_doctor::{self, Level};

use crate::helpers::*;

fn level_of(report: &stripe_doctor::Report, name: &str) -> (Level, String) {
    let c = report
        .checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check {name}: {}", report.render()));
    (c.level, c.detail.clone())
}

async fn our_endpoint(app: &TestApp) -> String {
    let list = app.emulator_get("v1/webhook_endpoints").await;
    list["data"][0]["id"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn a_set_up_shop_passes_and_a_broken_endpoint_is_named() {
    let app = TestApp::spawn().await;
    // As an operator would before going live: the prices made at Stripe, the portal configured.
    let url = format!("{}/webhooks/stripe", app.address.trim_end_matches('/'));
    let setup = storefront::stripe_setup::run(&app.state, &url)
        .await
        .unwrap();
    assert!(setup.new_secret.is_none(), "the demo's endpoint is kept");
    let report = stripe_doctor::run(&app.state).await;
    assert!(!report.failed(), "{}", report.render());
    for name in [
        stripe_doctor::ENDPOINT,
        stripe_doctor::ENABLED,
        stripe_doctor::VERSION,
        stripe_doctor::EVENT_TYPES,
        stripe_doctor::SECRET,
        stripe_doctor::PRICES,
        stripe_doctor::CURRENCY,
        stripe_doctor::TAX,
        stripe_doctor::MAIL,
        stripe_doctor::PORTAL,
    ] {
        assert_eq!(level_of(&report, name).0, Level::Ok, "{}", report.render());
    }
    // The signing secret was proven by a signed event the shop verified.
    let (_, secret) = level_of(&report, stripe_doctor::SECRET);
    assert!(secret.contains("accepted by the shop"), "{secret}");

    // An endpoint that lost an event type.
    let id = our_endpoint(&app).await;
    let some: Vec<(&str, &str)> = vec![
        ("enabled_events[]", "checkout.session.completed"),
        ("enabled_events[]", "checkout.session.expired"),
    ];
    app.emulator_post(&format!("v1/webhook_endpoints/{id}"), &some)
        .await;
    let report = stripe_doctor::run(&app.state).await;
    assert!(report.failed());
    let (level, detail) = level_of(&report, stripe_doctor::EVENT_TYPES);
    assert_eq!(level, Level::Fail);
    assert!(detail.contains("refund.failed"), "{detail}");
    assert!(report.render().contains("storefront stripe setup"));

    // A disabled endpoint.
    app.emulator_post(
        &format!("v1/webhook_endpoints/{id}"),
        &[("disabled", "true")],
    )
    .await;
    let report = stripe_doctor::run(&app.state).await;
    let (level, detail) = level_of(&report, stripe_doctor::ENABLED);
    assert_eq!(level, Level::Fail);
    assert!(detail.contains("disabled"), "{detail}");

    // A price on sale that was archived at Stripe.
    let price: String = storefront::db::run(&app.pool, |conn| {
        use diesel::prelude::*;
        use storefront::schema::prices;
        prices::table
            .filter(prices::active.eq(true))
            .filter(prices::stripe_price_id.is_not_null())
            .select(prices::stripe_price_id.assume_not_null())
            .first(conn)
            .map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap();
    app.emulator_post(&format!("v1/prices/{price}"), &[("active", "false")])
        .await;
    let report = stripe_doctor::run(&app.state).await;
    let (level, detail) = level_of(&report, stripe_doctor::PRICES);
    assert_eq!(level, Level::Fail, "{}", report.render());
    assert!(detail.contains(&price), "{detail}");
}

#[actix_web::test]
async fn the_health_page_shows_the_checks_to_admins_only() {
    let app = TestApp::spawn().await;
    let admin = app.admin_browser().await;
    let res = admin.get(app.url("/admin/health")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let html = res.text().await.unwrap();
    assert_eq!(select_attr(&html, "#health-ok", "id"), vec!["health-ok"]);
    let rows = select_text(&html, "#checks tbody tr th");
    assert!(rows.contains(&"webhook endpoint".to_owned()), "{rows:?}");
    app.register("customer@example.com").await;
    assert_eq!(app.get_html("/admin/health").await.0, 403);
}

/// The command against a running demo shop's emulator, as an operator with a test key would
/// run it.
fn doctor(shop: &Shop, db: &TestDb) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_storefront"))
        .args(["stripe", "doctor"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &db.url)
        .env("STRIPE_SECRET_KEY", EMULATOR_KEY)
        .env("STRIPE_API_BASE", format!("{}/", shop.emulator))
        .env("STRIPE_WEBHOOK_SECRET", &shop.webhook_secret)
        .env("PUBLIC_URL", format!("{}/", shop.address))
        .env("ALLOW_INSECURE_PUBLIC_URL", "1")
        .env("SESSION_KEY", session_key())
        .env("RUST_LOG", "warn")
        .output()
        .expect("run the doctor")
}

#[actix_web::test]
async fn the_command_exits_non_zero_naming_the_failed_check() {
    let shop = Shop::start(&[]).await;
    let db = TestDb::new();
    let out = doctor(&shop, &db);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("ok    signing secret: a signed test event"),
        "{stdout}"
    );

    let list = shop
        .emulator_api(reqwest::Method::GET, "v1/webhook_endpoints", &[])
        .await;
    let id = list["data"][0]["id"].as_str().unwrap().to_owned();
    shop.emulator_api(
        reqwest::Method::POST,
        &format!("v1/webhook_endpoints/{id}"),
        &[("disabled", "true")],
    )
    .await;
    let out = doctor(&shop, &db);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("FAIL  endpoint enabled: the endpoint is disabled"),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("check(s) failed"));
}

#[actix_web::test]
async fn against_stripe_the_secret_check_reads_the_last_signed_delivery_not_the_reconcile() {
    let app = TestApp::spawn().await;
    let check = stripe_doctor::last_verified(&app.state).await;
    assert_eq!(check.level, Level::Warn, "{}", check.detail);
    // A reconcile writes ledger rows without any signature: still nothing verified.
    app.emulator_post("_emulator/webhooks", &[("drop", "1000")])
        .await;
    app.add_to_cart("canvas-tote", 1).await;
    let session_url = app.checkout().await;
    app.pay_ok(&session_url).await;
    app.wait_for_deliveries().await;
    storefront::reconcile::reconcile(&app.state, 0)
        .await
        .unwrap();
    let check = stripe_doctor::last_verified(&app.state).await;
    assert_eq!(check.level, Level::Warn, "{}", check.detail);
    // A signed delivery.
    app.emulator_post("_emulator/webhooks", &[("drop", "0")])
        .await;
    app.add_to_cart("canvas-tote", 1).await;
    let session_url = app.checkout().await;
    app.pay_ok(&session_url).await;
    app.wait_for_deliveries().await;
    let check = stripe_doctor::last_verified(&app.state).await;
    assert_eq!(check.level, Level::Ok, "{}", check.detail);
    assert!(check.detail.contains("last signed delivery verified"));
}
