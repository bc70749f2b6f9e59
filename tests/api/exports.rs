//! Orders for the accountant (`/admin/orders.csv`, `storefront export orders`): each row adds up
//! (total − refunded − dispute withdrawals − dispute fees + reinstatements = net), text never
//! runs as a formula, and amounts stay numbers, negative ones included.

use crate::helpers::*;

const CARD_DISPUTED: &str = "4000000000000259";

/// Minor units of a major-unit cell ("18.00" → 1800, "-15.00" → -1500).
fn minor(cell: &str) -> i64 {
    let negative = cell.starts_with('-');
    let digits: String = cell.chars().filter(|c| c.is_ascii_digit()).collect();
    let v: i64 = digits
        .parse()
        .unwrap_or_else(|_| panic!("not a number: {cell:?}"));
    if negative { -v } else { v }
}

/// Splits CSV text into rows of cells (quoted cells may hold commas and doubled quotes).
fn parse(csv: &str) -> Vec<Vec<String>> {
    let mut rows = vec![];
    for line in csv.split("\r\n").filter(|l| !l.is_empty()) {
        let mut cells = vec![];
        let mut cell = String::new();
        let mut quoted = false;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match (c, quoted) {
                ('"', true) if chars.peek() == Some(&'"') => {
                    cell.push('"');
                    chars.next();
                }
                ('"', _) => quoted = !quoted,
                (',', false) => cells.push(std::mem::take(&mut cell)),
                (c, _) => cell.push(c),
            }
        }
        cells.push(cell);
        rows.push(cells);
    }
    rows
}

fn column(header: &[String], name: &str) -> usize {
    header.iter().position(|h| h == name).unwrap()
}

#[actix_web::test]
async fn each_row_adds_up_text_is_defused_and_negative_amounts_stay_numbers() {
    let app = TestApp::spawn().await;
    storefront::db::run(&app.pool, |conn| {
        use diesel::prelude::*;
        use storefront::schema::products;
        diesel::update(products::table.filter(products::slug.eq("canvas-tote")))
            .set(products::name.eq("=HYPERLINK(\"http://evil.example\",\"tote\")"))
            .execute(conn)
            .map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap();
    // A partly refunded order, and a disputed one that is lost.
    let refunded = app.paid_order(1, CARD_OK).await;
    let pi = app.order(&refunded).await.payment_intent_id.unwrap();
    app.emulator_post("v1/refunds", &[("payment_intent", &pi), ("amount", "500")])
        .await;
    app.wait_for_order(&refunded, "refunded", |o| o.amount_refunded == 500)
        .await;
    let disputed = app.paid_order(1, CARD_DISPUTED).await;
    app.emulator_post("_emulator/run_jobs", &[]).await;
    app.wait_for_order(&disputed, "disputed", |o| o.disputed)
        .await;
    let dispute = app.emulator_get("v1/disputes").await["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.emulator_post(
        &format!("_emulator/disputes/{dispute}"),
        &[("status", "lost")],
    )
    .await;
    app.wait_for_deliveries().await;
    // A checkout never paid moved no money: it is not in the export.
    app.add_to_cart("canvas-tote", 1).await;
    let unpaid = app
        .order_by_session(&session_id_of(&app.checkout().await))
        .await
        .number;

    let admin = app.admin_browser().await;
    let res = admin
        .get(app.url("/admin/orders.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = res.text().await.unwrap();
    assert!(!csv.contains(&unpaid), "{csv}");
    let rows = parse(&csv);
    let header = &rows[0];
    let row_of = |number: &str| rows.iter().find(|r| r[0] == number).unwrap().clone();
    let (total, refunded_col, withdrawn, fees, reinstated, net, items) = (
        column(header, "total"),
        column(header, "refunded"),
        column(header, "dispute_withdrawn"),
        column(header, "dispute_fees"),
        column(header, "dispute_reinstated"),
        column(header, "net_before_stripe_fees"),
        column(header, "items"),
    );
    for r in &rows[1..] {
        assert_eq!(
            minor(&r[net]),
            minor(&r[total]) - minor(&r[refunded_col]) - minor(&r[withdrawn]) - minor(&r[fees])
                + minor(&r[reinstated]),
            "{r:?}"
        );
    }
    let a = row_of(&refunded);
    assert_eq!(a[refunded_col], "5.00");
    let b = row_of(&disputed);
    assert_eq!(
        minor(&b[withdrawn]),
        app.order(&disputed).await.amount_total
    );
    assert_eq!(b[fees], "15.00");
    assert_eq!(b[net], "-15.00");
    // On the wire: the product name is text that cannot run; the negative amount is a number.
    assert!(
        a[items].starts_with("'=HYPERLINK(\"http://evil.example\""),
        "{:?}",
        a[items]
    );
    assert!(a[items].ends_with(" × 1"), "{:?}", a[items]);
    assert!(csv.contains(",-15.00\r\n"), "{csv}");
    let formula_cells = csv
        .split(['\n', ','])
        .filter(|c| c.trim_start_matches('"').starts_with('='))
        .count();
    assert_eq!(formula_cells, 0, "{csv}");

    // The list's filters apply.
    let only = admin
        .get(app.url("/admin/orders.csv?disputed=1"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let only = parse(&only);
    assert_eq!(only.len(), 2);
    assert_eq!(only[1][0], disputed);

    // The command gives the same rows.
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_storefront"))
        .args(["export", "orders", "--since", &today])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &app.db.url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), csv);
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_storefront"))
        .args(["export", "orders", "--since", "last tuesday"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &app.db.url)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--since"));

    // Customers cannot.
    app.register("customer@example.com").await;
    assert_eq!(app.get("/admin/orders.csv").await.status().as_u16(), 403);
}
