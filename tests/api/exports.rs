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

/// An order of one tote paid with the disputed test card, whose dispute is then lost; its number.
async fn lost_dispute(app: &TestApp) -> String {
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
    disputed
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
    let disputed = lost_dispute(&app).await;
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
    assert!(csv.contains(",-15.00,"), "{csv}");
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
    assert_eq!(only.len(), 3, "{only:?}");
    assert_eq!(only[1][0], disputed);
    assert_eq!(only[2][0], "Total USD");

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

/// Stores a shipping address in Berlin on the hosted page (tax and the default rate follow),
/// then pays by card.
async fn ship_to_berlin_and_pay(session_url: &str) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(REQUEST_TIMEOUT)
        .build()
        .unwrap();
    let mut fields: Vec<(&str, &str)> = vec![
        ("email", "shopper@example.com"),
        ("shipping_name", "Ada Lovelace"),
        ("shipping_line1", "Unter den Linden 1"),
        ("shipping_city", "Berlin"),
        ("shipping_postal_code", "10117"),
        ("shipping_country", "DE"),
    ];
    let mut update = fields.clone();
    update.push(("action", "update_address"));
    let res = client.post(session_url).form(&update).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    fields.extend([
        ("method", "card"),
        ("card_number", CARD_OK),
        ("card_expiry", "12 / 34"),
        ("card_cvc", "123"),
    ]);
    let res = client.post(session_url).form(&fields).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 303, "{}", res.text().await.unwrap());
}

/// Reads every queued balance transaction, as the background job does; none is left.
async fn read_fees(app: &TestApp) {
    storefront::balance::fetch::run_due(&app.state, 100)
        .await
        .unwrap();
    let left: Vec<(String, Option<String>)> = storefront::db::run(&app.pool, |conn| {
        use diesel::prelude::*;
        use storefront::schema::balance_fetches as f;
        f::table
            .select((f::source, f::last_error))
            .load(conn)
            .map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap();
    assert!(left.is_empty(), "{left:?}");
}

async fn admin_csv(admin: &reqwest::Client, app: &TestApp, path: &str) -> Vec<Vec<String>> {
    let res = admin.get(app.url(path)).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200, "{path}");
    parse(&res.text().await.unwrap())
}

/// What Stripe's balance says each order left: its charge's net, less its refunds, less what
/// its disputes withdrew and their fees, plus what they reinstated — read from the emulator.
async fn stripe_net(app: &TestApp, intent: &str) -> (i64, i64) {
    let pi = app
        .emulator_get(&format!(
            "v1/payment_intents/{intent}?expand[]=latest_charge.balance_transaction"
        ))
        .await;
    let charge = &pi["latest_charge"]["balance_transaction"];
    let (mut net, fee) = (
        charge["net"].as_i64().unwrap(),
        charge["fee"].as_i64().unwrap(),
    );
    let charge_id = pi["latest_charge"]["id"].as_str().unwrap();
    let refunds = app
        .emulator_get(&format!(
            "v1/refunds?charge={charge_id}&expand[]=data.balance_transaction"
        ))
        .await;
    for r in refunds["data"].as_array().unwrap() {
        net -= r["amount"].as_i64().unwrap();
        assert_eq!(
            r["balance_transaction"]["amount"],
            -r["amount"].as_i64().unwrap()
        );
    }
    let disputes = app
        .emulator_get(&format!("v1/disputes?payment_intent={intent}"))
        .await;
    for d in disputes["data"].as_array().unwrap() {
        for bt in d["balance_transactions"].as_array().unwrap() {
            let amount = bt["amount"].as_i64().unwrap();
            // Withdrawals (negative) and their fee; reinstatements (positive).
            net += amount - bt["fee"].as_i64().unwrap();
        }
    }
    (net, fee)
}

#[actix_web::test]
async fn a_days_money_adds_up_per_row_and_per_settlement_currency_against_stripes_balance() {
    let app = TestApp::spawn_with(&[(SHIPPING_RATES, "on"), ("STRIPE_TAX", "on")]).await;
    app.coupon_with_code("SPRING20", &[("percent_off", "20"), ("duration", "once")])
        .await;
    // A discounted, taxed, shipped order, then partly refunded.
    app.add_to_cart("canvas-tote", 2).await;
    let session_url = app.checkout().await;
    let (status, _) = apply_promotion_code(&session_url, "SPRING20").await;
    assert_eq!(status, 200);
    ship_to_berlin_and_pay(&session_url).await;
    let shipped = app
        .order_by_session(&session_id_of(&session_url))
        .await
        .number;
    app.wait_for_status(&shipped, "paid").await;
    let o = app.order(&shipped).await;
    assert!(o.flagged.is_none(), "{:?}", o.flagged);
    assert!(o.amount_discount > 0 && o.amount_shipping > 0 && o.amount_tax_exclusive > 0);
    let shipped_pi = o.payment_intent_id.unwrap();
    app.emulator_post(
        "v1/refunds",
        &[("payment_intent", &shipped_pi), ("amount", "700")],
    )
    .await;
    app.wait_for_order(&shipped, "refunded", |o| o.amount_refunded == 700)
        .await;
    // A disputed order, lost.
    let disputed = lost_dispute(&app).await;
    let disputed_pi = app.order(&disputed).await.payment_intent_id.unwrap();

    let admin = app.admin_browser().await;
    // Before Stripe's fees are read, the rows say so rather than guess.
    let rows = admin_csv(&admin, &app, "/admin/orders.csv").await;
    let header = rows[0].clone();
    let (settlement, fees, net, method) = (
        column(&header, "settlement_currency"),
        column(&header, "stripe_fees"),
        column(&header, "net"),
        column(&header, "payment_method"),
    );
    let row_of =
        |rows: &[Vec<String>], number: &str| rows.iter().find(|r| r[0] == number).unwrap().clone();
    assert_eq!(row_of(&rows, &shipped)[settlement], "pending");
    assert_eq!(row_of(&rows, &shipped)[net], "");
    let dashboard = admin
        .get(app.url("/admin/dashboard"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !select_text(&dashboard, "#fees-pending").is_empty(),
        "{dashboard}"
    );

    read_fees(&app).await;
    let rows = admin_csv(&admin, &app, "/admin/orders.csv").await;
    let mut expected_fees = 0;
    let mut expected_net = 0;
    for (number, pi) in [(&shipped, &shipped_pi), (&disputed, &disputed_pi)] {
        let r = row_of(&rows, number);
        let (stripe_net, stripe_fee) = stripe_net(&app, pi).await;
        assert_eq!(r[settlement], "USD", "{r:?}");
        assert_eq!(r[method], "card", "{r:?}");
        assert_eq!(minor(&r[fees]), stripe_fee, "{r:?}");
        assert_eq!(minor(&r[net]), stripe_net, "{r:?}");
        expected_fees += stripe_fee;
        expected_net += stripe_net;
    }
    // The shipped order: its charge's net less the $7.00 refunded.
    let total = app.order(&shipped).await.amount_total;
    let fee = total * 29 / 1000 + 30;
    let r = row_of(&rows, &shipped);
    assert!(
        (minor(&r[fees]) - fee).abs() <= 1,
        "2.9 % + 30 of {total}: {r:?}"
    );
    assert_eq!(minor(&r[net]), total - minor(&r[fees]) - 700);
    // The lost dispute: the charge's net, less the amount withdrawn and the $15.00 fee.
    let d_total = app.order(&disputed).await.amount_total;
    let r = row_of(&rows, &disputed);
    assert_eq!(minor(&r[net]), d_total - minor(&r[fees]) - d_total - 1500);
    // One total line per settlement currency, adding up the rows.
    let totals: Vec<&Vec<String>> = rows.iter().filter(|r| r[0].starts_with("Total")).collect();
    assert_eq!(totals.len(), 1, "{rows:?}");
    assert_eq!(totals[0][0], "Total USD");
    assert_eq!(minor(&totals[0][fees]), expected_fees);
    assert_eq!(minor(&totals[0][net]), expected_net);
    let dashboard = admin
        .get(app.url("/admin/dashboard"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(select_text(&dashboard, "#fees-pending").is_empty());
    let shown = select_text(&dashboard, ".settled-net[data-currency=USD]").join("");
    assert!(
        shown.contains(
            &storefront::money::Money::new(
                expected_net,
                storefront::money::Currency::parse("usd").unwrap()
            )
            .to_string()
        ),
        "{shown}"
    );

    // Read again (a retried job, a second instance): nothing is counted twice.
    storefront::db::run(&app.pool, move |conn| {
        storefront::balance::queue(conn, &shipped_pi, 1, 0).map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap();
    read_fees(&app).await;
    let again = admin_csv(&admin, &app, "/admin/orders.csv").await;
    assert_eq!(again, rows);

    // The second export: each refund and dispute with what it did to the balance.
    let moves = admin_csv(&admin, &app, "/admin/refunds.csv").await;
    let h = moves[0].clone();
    let (kind, amount, dfee, settled_amount, mnet, order_col) = (
        column(&h, "kind"),
        column(&h, "amount"),
        column(&h, "stripe_fees"),
        column(&h, "settled_amount"),
        column(&h, "net"),
        column(&h, "order"),
    );
    assert_eq!(moves.len(), 3, "{moves:?}");
    let refund = moves.iter().find(|r| r[kind] == "refund").unwrap();
    assert_eq!(
        (refund[order_col].as_str(), refund[amount].as_str()),
        (shipped.as_str(), "-7.00")
    );
    assert_eq!(
        (refund[settled_amount].as_str(), refund[mnet].as_str()),
        ("-7.00", "-7.00")
    );
    let lost = moves.iter().find(|r| r[kind] == "dispute").unwrap();
    assert_eq!(lost[order_col], disputed);
    assert_eq!(minor(&lost[amount]), -d_total);
    assert_eq!(lost[dfee], "15.00", "the dispute fee, from Stripe's record");
    assert_eq!(refund[dfee], "0.00");
    assert_eq!(minor(&lost[mnet]), -d_total - 1500);
    // A window before today has none; a date that is not one is a 400.
    let none = admin_csv(&admin, &app, "/admin/refunds.csv?until=2020-01-01").await;
    assert_eq!(none.len(), 1);
    let bad = admin
        .get(app.url("/admin/refunds.csv?since=yesterday"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_storefront"))
        .args(["export", "refunds", "--since", &today])
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
    assert_eq!(parse(&String::from_utf8_lossy(&out.stdout)), moves);
    app.register("customer@example.com").await;
    assert_eq!(app.get("/admin/refunds.csv").await.status().as_u16(), 403);
}

#[actix_web::test]
async fn a_refund_that_fails_after_succeeding_gives_its_money_back_to_the_net() {
    let app = TestApp::spawn().await;
    let number = app.paid_order(1, CARD_OK).await;
    let pi = app.order(&number).await.payment_intent_id.unwrap();
    let re = app
        .emulator_post("v1/refunds", &[("payment_intent", &pi), ("amount", "500")])
        .await;
    let re = re["id"].as_str().unwrap().to_owned();
    app.wait_for_order(&number, "refunded", |o| o.amount_refunded == 500)
        .await;
    read_fees(&app).await;
    let admin = app.admin_browser().await;
    let rows = admin_csv(&admin, &app, "/admin/orders.csv").await;
    let net = column(&rows[0], "net");
    let before = minor(&rows.iter().find(|r| r[0] == number).unwrap()[net]);
    app.emulator_post(&format!("_emulator/refunds/{re}/fail"), &[])
        .await;
    app.wait_for_order(&number, "refund failed", |o| o.amount_refunded == 0)
        .await;
    read_fees(&app).await;
    let rows = admin_csv(&admin, &app, "/admin/orders.csv").await;
    let after = minor(&rows.iter().find(|r| r[0] == number).unwrap()[net]);
    assert_eq!(after, before + 500);
    assert_eq!(
        after,
        stripe_net(&app, &pi).await.0 + 500,
        "the failed refund is back"
    );
}

#[actix_web::test]
async fn a_subscription_invoice_order_gets_its_fee_and_a_bank_debit_only_once_it_settles() {
    let app = TestApp::spawn().await;
    app.register("subscriber@example.com").await;
    let html = app.get_html("/products/coffee-club").await.1;
    let monthly = select_attr(&html, ".plans form", "action").remove(0);
    let res = app.submit("/products/coffee-club", &monthly, &[]).await;
    assert_eq!(res.status().as_u16(), 303);
    app.pay_ok(&location(&res)).await;
    app.wait_for_deliveries().await;
    let order = app
        .all_orders()
        .await
        .into_iter()
        .find(|o| o.kind == "subscription")
        .expect("the invoice's order");
    read_fees(&app).await;
    let admin = app.admin_browser().await;
    let rows = admin_csv(&admin, &app, "/admin/orders.csv").await;
    let h = rows[0].clone();
    let r = rows.iter().find(|r| r[0] == order.number).unwrap();
    let (net, _) = stripe_net(&app, order.payment_intent_id.as_deref().unwrap()).await;
    assert_eq!(r[column(&h, "settlement_currency")], "USD");
    assert_eq!(minor(&r[column(&h, "net")]), net);

    // A bank debit: nothing to read while it processes; read once it settles.
    app.add_to_cart("canvas-tote", 1).await;
    let session_url = app.checkout().await;
    let res = pay_by_bank(&session_url, "shopper@example.com", "000123456789").await;
    assert_eq!(res.status().as_u16(), 303, "{}", res.text().await.unwrap());
    let number = app
        .order_by_session(&session_id_of(&session_url))
        .await
        .number;
    let processing = app.wait_for_status(&number, "processing").await;
    let pool = app.pool.clone();
    let known = |order_id: i64| {
        let pool = pool.clone();
        async move {
            storefront::db::run(&pool, move |conn| {
                use diesel::prelude::*;
                use storefront::schema::{balance_fetches as f, balance_transactions as t};
                let txns: i64 = t::table
                    .filter(t::order_id.eq(order_id))
                    .count()
                    .get_result(conn)?;
                let queued: i64 = f::table
                    .filter(f::order_id.eq(order_id))
                    .count()
                    .get_result(conn)?;
                Ok::<_, storefront::db::DbError>((txns, queued))
            })
            .await
            .unwrap()
        }
    };
    assert_eq!(
        known(processing.id).await,
        (0, 0),
        "nothing to read while it processes"
    );
    app.emulator_post("_emulator/run_jobs", &[]).await;
    app.wait_for_status(&number, "paid").await;
    assert_eq!(
        known(processing.id).await,
        (1, 0),
        "the fee came with the settled session"
    );
    let rows = admin_csv(&admin, &app, "/admin/orders.csv").await;
    let r = rows.iter().find(|r| r[0] == number).unwrap();
    assert_eq!(r[column(&h, "payment_method")], "us_bank_account");
    assert_ne!(r[column(&h, "net")], "");
}
