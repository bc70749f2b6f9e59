//! The binary itself: one-line configuration errors, migrate, seed.

use std::process::Command;

use crate::helpers::TestDb;

fn storefront(db_url: &str, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_storefront"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", db_url)
        .env("RUST_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run storefront")
}

fn one_line_error(out: &std::process::Output, var: &str) {
    assert_eq!(out.status.code(), Some(2), "exit code");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {stderr}");
    assert!(lines[0].contains(var), "{var} not named: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_configuration_stops_start_up_with_one_line_naming_the_variable() {
    one_line_error(
        &storefront("mysql://nope", &["migrate"], &[]),
        "DATABASE_URL",
    );
    one_line_error(
        &storefront("postgres://postgres@127.0.0.1:1/none", &["migrate"], &[]),
        "DATABASE_URL",
    );
    one_line_error(
        &storefront("sqlite://x.db", &["serve"], &[("SESSION_KEY", "c2hvcnQ=")]),
        "SESSION_KEY",
    );
    one_line_error(
        &storefront("sqlite://x.db", &["serve"], &[("BIND", "0.0.0.0:8080")]),
        "STRIPE_SECRET_KEY",
    );
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("shop.db").display());
    one_line_error(
        &storefront(
            &db,
            &["serve"],
            &[
                ("REFUND_POLICY_FILE", "/nonexistent/refunds.md"),
                ("BIND", "127.0.0.1:0"),
            ],
        ),
        "REFUND_POLICY_FILE",
    );
}

#[test]
fn help_lists_the_commands() {
    let out = storefront("sqlite://x.db", &["--help"], &[]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in ["serve", "migrate", "seed"] {
        assert!(text.contains(cmd), "{cmd} missing from --help: {text}");
    }
}

#[test]
fn migrate_and_seed_from_the_command_line() {
    let db = TestDb::new();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        "[[products]]\nslug = \"mug\"\nname = \"Mug\"\nstock = 3\nprices = [{ key = \"mug\", unit_amount = 900 }]\n",
    )
    .unwrap();
    let path = file.path().to_str().unwrap();

    let out = storefront(&db.url, &["migrate"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = storefront(&db.url, &["seed", path], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("products: 1 created"));

    let out = storefront(&db.url, &["seed", path], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout
            .contains("products: 0 created, 0 updated; prices: 0 created, 0 updated; 2 unchanged"),
        "{stdout}"
    );

    let out = storefront(&db.url, &["seed", "/no/such/file.toml"], &[]);
    assert_eq!(out.status.code(), Some(2));
}

/// `storefront …` in demo mode on `app`'s database and emulator state (`emulator_db`), as a
/// merchant runs it beside the demo shop; run off the test's thread, which serves the app.
async fn storefront_beside(
    app: &crate::helpers::TestApp,
    emulator_db: &std::path::Path,
    args: &[&str],
) -> (Option<i32>, String, String) {
    let db = app.db.url.clone();
    let emulator_db = emulator_db.to_str().unwrap().to_owned();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let out = actix_web::rt::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        storefront(
            &db,
            &args,
            &[
                ("EMULATOR_DB", emulator_db.as_str()),
                ("SESSION_KEY", crate::helpers::session_key().as_str()),
            ],
        )
    })
    .await
    .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A demo shop whose emulator keeps its state in a file a command can open too.
async fn demo_with_emulator_file() -> (
    crate::helpers::TestApp,
    tempfile::TempDir,
    std::path::PathBuf,
) {
    let dir = tempfile::tempdir().unwrap();
    let emulator_db = dir.path().join("emulator.db");
    let app =
        crate::helpers::TestApp::spawn_with(&[("EMULATOR_DB", emulator_db.to_str().unwrap())])
            .await;
    (app, dir, emulator_db)
}

#[actix_web::test]
async fn a_code_made_on_the_command_line_discounts_the_running_demo_shops_checkout() {
    use crate::helpers::*;
    let (app, _dir, emulator_db) = demo_with_emulator_file().await;
    let create = [
        "stripe",
        "coupon",
        "create",
        "--percent-off",
        "20",
        "--code",
        "CLI20",
        "--max-redemptions",
        "5",
        "--expires-in",
        "30d",
    ];
    let (code, stdout, stderr) = storefront_beside(&app, &emulator_db, &create).await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.starts_with("promotion code CLI20: 20% off once, up to 5 uses, until "),
        "{stdout}"
    );
    assert!(
        stdout.contains("customers enter CLI20 on the Checkout page"),
        "{stdout}"
    );
    // Run again (a retry): the same code, no second coupon.
    let (code, again, _) = storefront_beside(&app, &emulator_db, &create).await;
    assert_eq!(code, Some(0));
    assert_eq!(again, stdout);
    let coupons = app.emulator_get("v1/coupons").await;
    assert_eq!(coupons["data"].as_array().unwrap().len(), 1, "{coupons}");

    app.add_to_cart("canvas-tote", 2).await;
    let session_url = app.checkout().await;
    let (status, page) = apply_promotion_code(&session_url, "cli20").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(select_text(&page, "#discount_amount"), vec!["-$7.20"]);
    app.pay_ok(&session_url).await;
    let order = app.order_by_session(&session_id_of(&session_url)).await;
    let order = app.wait_for_status(&order.number, "paid").await;
    assert_eq!(
        (
            order.amount_subtotal,
            order.amount_discount,
            order.amount_total
        ),
        (3600, 720, 2880)
    );
    assert_eq!(order.discount_label.as_deref(), Some("CLI20"));

    let (code, list, stderr) =
        storefront_beside(&app, &emulator_db, &["stripe", "coupon", "list"]).await;
    assert_eq!(code, Some(0), "{stderr}");
    let line = list
        .lines()
        .find(|l| l.starts_with("CLI20\t"))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(
        line.starts_with("CLI20\tactive\t20% off once, up to 5 uses, until ")
            && line.contains("; used 1 of 5 times\t(promo_"),
        "{line}"
    );
}

#[actix_web::test]
async fn bad_coupon_flags_are_refused_naming_the_flag_and_create_nothing() {
    let (app, _dir, emulator_db) = demo_with_emulator_file().await;
    let base = ["stripe", "coupon", "create"];
    let cases: &[(&[&str], &str)] = &[
        (
            &["--percent-off", "0", "--code", "A"],
            "storefront: --percent-off: \"0\" is not a whole number from 1 to 100",
        ),
        (
            &["--amount-off", "5.001", "--code", "A"],
            "storefront: --amount-off: \"5.001\" in USD: use at most 2 decimal places",
        ),
        (
            &["--amount-off", "5.5", "--currency", "jpy", "--code", "A"],
            "storefront: --amount-off: \"5.5\" in JPY: use at most 0 decimal places",
        ),
        (
            &["--percent-off", "10", "--code", "NO WAY"],
            "storefront: --code: ' ' is not allowed; use letters, digits, dashes and underscores",
        ),
        (
            &[
                "--percent-off",
                "10",
                "--code",
                "A",
                "--expires-at",
                "2020-01-01",
            ],
            "storefront: --expires-at: 2020-01-01 has passed",
        ),
        (
            &[
                "--percent-off",
                "10",
                "--code",
                "A",
                "--duration",
                "repeating",
            ],
            "storefront: --duration repeating needs --months N",
        ),
    ];
    for (flags, message) in cases {
        let args: Vec<&str> = base.iter().chain(flags.iter()).copied().collect();
        let (code, stdout, stderr) = storefront_beside(&app, &emulator_db, &args).await;
        assert_eq!(code, Some(2), "{flags:?}: {stdout}{stderr}");
        assert_eq!(stderr.trim_end(), *message, "{flags:?}");
        assert!(!stderr.contains("panicked"));
    }
    let (code, _, stderr) = storefront_beside(
        &app,
        &emulator_db,
        &[
            "stripe",
            "coupon",
            "create",
            "--percent-off",
            "10",
            "--amount-off",
            "5",
            "--code",
            "A",
        ],
    )
    .await;
    assert_eq!(code, Some(2));
    assert!(stderr.contains("cannot be used with"), "{stderr}");
    let coupons = app.emulator_get("v1/coupons").await;
    assert_eq!(
        coupons["data"],
        serde_json::json!([]),
        "nothing was created"
    );

    // A code that exists is not made again with other terms.
    let first = [
        "stripe",
        "coupon",
        "create",
        "--percent-off",
        "10",
        "--code",
        "TAKEN",
    ];
    assert_eq!(
        storefront_beside(&app, &emulator_db, &first).await.0,
        Some(0)
    );
    let other = [
        "stripe",
        "coupon",
        "create",
        "--percent-off",
        "15",
        "--code",
        "taken",
    ];
    let (code, _, stderr) = storefront_beside(&app, &emulator_db, &other).await;
    assert_eq!(code, Some(2));
    assert!(
        stderr.starts_with(
            "storefront: --code: an active promotion code TAKEN already exists (promo_"
        ),
        "{stderr}"
    );
    let coupons = app.emulator_get("v1/coupons").await;
    assert_eq!(coupons["data"].as_array().unwrap().len(), 1, "{coupons}");
}

/// `storefront ARGS` on `db`, off the test's thread (which may be serving an app).
async fn storefront_on(db: &str, args: &[&str]) -> std::process::Output {
    let db = db.to_owned();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    actix_web::rt::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        storefront(&db, &args, &[])
    })
    .await
    .unwrap()
}

#[actix_web::test]
async fn the_exported_catalogue_seeds_back_unchanged_and_rebuilds_it_in_an_empty_shop() {
    use crate::helpers::*;
    let app = TestApp::spawn().await;
    // Changes made in the admin pages: a new address, a draft, a new price.
    let admin = app.admin_browser().await;
    let page = "/admin/products/canvas-tote";
    let (_, html) = fetch_page(&admin, app.url(page)).await;
    let value = |sel: &str| select_attr(&html, sel, "value").pop().unwrap_or_default();
    let res = admin
        .post(app.url(page))
        .form(&[
            ("csrf_token", csrf_token(&html)),
            ("name", "Canvas tote = \"market\" bag".to_owned()),
            (
                "description",
                "Heavy canvas.\n\nCarries a week of groceries.".to_owned(),
            ),
            ("tax_code", String::new()),
            ("slug", "market-tote".to_owned()),
            ("category", "Bags & baskets".to_owned()),
            ("status", "draft".to_owned()),
        ])
        .send()
        .await
        .unwrap();
    assert_redirect_to(&res, "/admin/products/market-tote");
    let price = value("input[name=amount]");
    assert_eq!(price, "18.00");
    let (_, html) = fetch_page(&admin, app.url("/admin/products/market-tote")).await;
    let action = select_attr(&html, "#prices form", "action").remove(0);
    let res = admin
        .post(app.url(&action))
        .form(&[
            ("csrf_token", csrf_token(&html).as_str()),
            ("amount", "19.50"),
        ])
        .send()
        .await
        .unwrap();
    assert_redirect_to(&res, "/admin/products/market-tote");
    // Two variants: the option named, the first valued, a second with its SKU, price and stock.
    let (_, html) = fetch_page(&admin, app.url("/admin/products/market-tote")).await;
    let first = select_attr(&html, "#variants input[name$=-sku]", "name").remove(0);
    let first = first.trim_end_matches("-sku");
    let res = admin
        .post(app.url("/admin/products/market-tote/variants"))
        .form(&[
            ("csrf_token", csrf_token(&html)),
            ("option1_name", "Size".to_owned()),
            (&format!("{first}-option1"), "Small".to_owned()),
            (&format!("{first}-sku"), "TB-S".to_owned()),
        ])
        .send()
        .await
        .unwrap();
    assert_redirect_to(&res, "/admin/products/market-tote");
    let res = admin
        .post(app.url("/admin/products/market-tote/variants/new"))
        .form(&[
            ("csrf_token", csrf_token(&html).as_str()),
            ("option1", "Large"),
            ("sku", "TB-L"),
            ("price", "24.00"),
            ("stock", "3"),
        ])
        .send()
        .await
        .unwrap();
    assert_redirect_to(&res, "/admin/products/market-tote");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("catalogue.toml");
    let path = file.to_str().unwrap();
    let out = storefront_on(&app.db.url, &["catalogue", "export", path]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 download file(s)"));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("slug = \"market-tote\""), "{text}");
    assert!(text.contains("status = \"draft\""), "{text}");
    assert!(text.contains("category = \"Bags & baskets\""), "{text}");
    assert!(text.contains("unit_amount = 1950"), "{text}");
    assert!(text.contains("options = [\"Size\"]"), "{text}");
    assert!(text.contains("options = [\"Large\"]"), "{text}");
    assert!(text.contains("sku = \"TB-L\""), "{text}");
    assert!(text.contains("unit_amount = 2400"), "{text}");
    assert!(
        !text.contains("unit_amount = 1800"),
        "replaced prices stay out: {text}"
    );
    assert!(
        dir.path()
            .join("catalogue-files/harbour-map/harbour-map.svg")
            .exists()
    );

    // Seeded back into the same shop: nothing changes.
    let out = storefront_on(&app.db.url, &["seed", path]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("products: 0 created, 0 updated; prices: 0 created, 0 updated;"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Into an empty shop: the same catalogue, which exports to the same file.
    let empty = TestDb::new();
    let out = storefront_on(&empty.url, &["seed", path]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = dir.path().join("again.toml");
    let out = storefront_on(
        &empty.url,
        &["catalogue", "export", again.to_str().unwrap()],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&again).unwrap(), text);
    {
        use diesel::prelude::*;
        use storefront::schema::{product_variants, products};
        let pool = storefront::db::pool(
            &storefront::config::DatabaseUrl::parse(&empty.url).unwrap(),
            1,
        )
        .unwrap();
        let variants: Vec<(String, Option<String>, Option<i64>)> =
            storefront::db::run(&pool, |conn| {
                product_variants::table
                    .inner_join(products::table)
                    .filter(products::slug.eq("market-tote"))
                    .order(product_variants::position.asc())
                    .select((
                        product_variants::option1,
                        product_variants::sku,
                        product_variants::stock,
                    ))
                    .load(conn)
                    .map_err(storefront::db::DbError::from)
            })
            .await
            .unwrap();
        assert_eq!(
            variants,
            vec![
                ("Small".to_owned(), Some("TB-S".to_owned()), Some(40)),
                ("Large".to_owned(), Some("TB-L".to_owned()), Some(3)),
            ]
        );
    }

    // To standard output, without the files.
    let out = storefront_on(&app.db.url, &["catalogue", "export", "-"]).await;
    assert_eq!(String::from_utf8_lossy(&out.stdout), text);
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 download file(s) not written"));
}
