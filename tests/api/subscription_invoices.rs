//! Subscriptions bought with a promotion code: each invoice's order carries the invoice's own
//! breakdown (the plan's price, the discount while the coupon lasts, what was paid), checked
//! before it is stored.

use crate::helpers::*;
use storefront::orders::model::{Order, OrderItem};

const MONTH: i64 = 30 * 86_400;

/// Subscribes the signed-in customer to the monthly coffee club ($15.00) with `code` typed on
/// the hosted page, which must show `total` after the code.
pub(crate) async fn subscribe_with_code(app: &TestApp, code: &str, total: &str) {
    let html = app.get_html("/products/coffee-club").await.1;
    let monthly = select_attr(&html, ".plans form", "action").remove(0);
    let res = app.submit("/products/coffee-club", &monthly, &[]).await;
    assert_eq!(res.status().as_u16(), 303);
    let session_url = location(&res);
    let (status, page) = apply_promotion_code(&session_url, code).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(select_text(&page, "#total"), vec![total]);
    let success = app.pay_ok(&session_url).await;
    let (status, _) = app.get_html(success.trim_start_matches(&app.address)).await;
    assert_eq!(status, 200);
    app.wait_for_deliveries().await;
}

/// One month of the emulator's test clock (its months are 30 days), then every webhook.
pub(crate) async fn next_month(app: &TestApp) {
    app.emulator_post(
        "_emulator/clock/advance",
        &[("seconds", &(MONTH + 60).to_string())],
    )
    .await;
    app.wait_for_deliveries().await;
}

/// The subscription orders, oldest first, each with its items.
pub(crate) async fn invoice_orders(app: &TestApp) -> Vec<(Order, Vec<OrderItem>)> {
    let mut orders: Vec<Order> = app
        .all_orders()
        .await
        .into_iter()
        .filter(|o| o.kind == "subscription")
        .collect();
    orders.sort_by_key(|o| o.id);
    let mut out = vec![];
    for order in orders {
        let items = storefront::db::run(&app.pool, {
            let order = order.clone();
            move |conn| {
                storefront::orders::queries::items(conn, &order)
                    .map_err(storefront::db::DbError::from)
            }
        })
        .await
        .unwrap();
        out.push((order, items));
    }
    out
}

/// (subtotal, discount, total, label) of an order.
fn totals(order: &Order) -> (i64, i64, i64, Option<&str>) {
    (
        order.amount_subtotal,
        order.amount_discount,
        order.amount_total,
        order.discount_label.as_deref(),
    )
}

/// (unit amount, quantity, discount, paid) of an order's one item.
fn item_terms(items: &[OrderItem]) -> (i64, i64, i64, i64) {
    assert_eq!(items.len(), 1, "{items:?}");
    let i = &items[0];
    (i.unit_amount, i.quantity, i.amount_discount, i.amount_paid)
}

/// The customer's order page: (subtotal, discount, total) as shown.
async fn order_page(app: &TestApp, number: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
    let (status, html) = app.get_html(&format!("/account/orders/{number}")).await;
    assert_eq!(status, 200, "{html}");
    (
        select_text(&html, "#order-subtotal"),
        select_text(&html, "#order-discount"),
        select_text(&html, "#order-total"),
    )
}

#[actix_web::test]
async fn a_three_month_half_price_code_discounts_three_invoices_and_not_the_fourth() {
    let app = TestApp::spawn().await;
    app.coupon_with_code(
        "HALF3",
        &[
            ("percent_off", "50"),
            ("duration", "repeating"),
            ("duration_in_months", "3"),
        ],
    )
    .await;
    app.register("half@example.com").await;
    subscribe_with_code(&app, "HALF3", "$7.50").await;
    for _ in 0..3 {
        next_month(&app).await;
    }

    let orders = invoice_orders(&app).await;
    assert_eq!(orders.len(), 4, "one order per invoice: {orders:?}");
    for (n, (order, items)) in orders.iter().enumerate() {
        assert_eq!(order.flagged, None, "invoice {}", n + 1);
        assert_eq!(order.status, "paid");
        if n < 3 {
            assert_eq!(
                totals(order),
                (1500, 750, 750, Some("HALF3")),
                "invoice {}",
                n + 1
            );
            assert_eq!(item_terms(items), (1500, 1, 750, 750));
            assert_eq!(
                order_page(&app, &order.number).await,
                (
                    vec!["$15.00".to_owned()],
                    vec!["−$7.50".to_owned()],
                    vec!["$7.50".to_owned()]
                ),
                "invoice {}",
                n + 1
            );
        } else {
            assert_eq!(totals(order), (1500, 0, 1500, None), "invoice 4");
            assert_eq!(item_terms(items), (1500, 1, 0, 1500));
            // Full price: no breakdown, just the total.
            assert_eq!(
                order_page(&app, &order.number).await,
                (vec![], vec![], vec!["$15.00".to_owned()])
            );
        }
    }
    // What the orders say is what Stripe charged.
    let invoices = app.emulator_get("v1/invoices?limit=10").await;
    let mut paid: Vec<(i64, i64)> = invoices["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["created"].as_i64().unwrap(),
                i["amount_paid"].as_i64().unwrap(),
            )
        })
        .collect();
    paid.sort();
    let paid: Vec<i64> = paid.into_iter().map(|(_, a)| a).collect();
    assert_eq!(paid, vec![750, 750, 750, 1500]);
}

#[actix_web::test]
async fn a_once_code_discounts_the_first_invoice_and_a_forever_one_every_invoice() {
    let app = TestApp::spawn().await;
    app.coupon_with_code("FIRST20", &[("percent_off", "20"), ("duration", "once")])
        .await;
    app.register("once@example.com").await;
    subscribe_with_code(&app, "FIRST20", "$12.00").await;
    next_month(&app).await;
    let orders = invoice_orders(&app).await;
    let got: Vec<_> = orders.iter().map(|(o, _)| totals(o)).collect();
    assert_eq!(
        got,
        vec![(1500, 300, 1200, Some("FIRST20")), (1500, 0, 1500, None)]
    );

    // Another customer, $5.00 off for ever.
    let app = TestApp::spawn().await;
    app.coupon_with_code(
        "FIVEOFF",
        &[
            ("amount_off", "500"),
            ("currency", "usd"),
            ("duration", "forever"),
        ],
    )
    .await;
    app.register("forever@example.com").await;
    subscribe_with_code(&app, "FIVEOFF", "$10.00").await;
    next_month(&app).await;
    next_month(&app).await;
    let orders = invoice_orders(&app).await;
    let got: Vec<_> = orders
        .iter()
        .map(|(o, i)| (totals(o), item_terms(i)))
        .collect();
    let each = ((1500, 500, 1000, Some("FIVEOFF")), (1500, 1, 500, 1000));
    assert_eq!(got, vec![each; 3]);
}

#[actix_web::test]
async fn an_invoice_whose_numbers_do_not_add_up_is_flagged_with_what_was_paid() {
    let dir = tempfile::tempdir().unwrap();
    let emulator_db = dir.path().join("emulator.db");
    let app = TestApp::spawn_with(&[("EMULATOR_DB", emulator_db.to_str().unwrap())]).await;
    app.coupon_with_code(
        "FIVEOFF",
        &[
            ("amount_off", "500"),
            ("currency", "usd"),
            ("duration", "forever"),
        ],
    )
    .await;
    app.register("tampered@example.com").await;
    subscribe_with_code(&app, "FIVEOFF", "$10.00").await;

    // The renewal is invoiced; before the shop hears of it, its subtotal is no longer its line's.
    app.emulator_post("_emulator/webhooks", &[("hold", "true")])
        .await;
    app.emulator_post(
        "_emulator/clock/advance",
        &[("seconds", &(MONTH + 60).to_string())],
    )
    .await;
    let invoices = app.emulator_get("v1/invoices?limit=10").await;
    let renewal = invoices["data"]
        .as_array()
        .unwrap()
        .iter()
        .max_by_key(|i| i["created"].as_i64())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    {
        use diesel::prelude::*;
        let mut conn = diesel::SqliteConnection::establish(emulator_db.to_str().unwrap()).unwrap();
        diesel::sql_query(
            "UPDATE objects SET data = json_set(data, '$.subtotal', 2000) WHERE id = ?",
        )
        .bind::<diesel::sql_types::Text, _>(&renewal)
        .execute(&mut conn)
        .unwrap();
    }
    app.emulator_post("_emulator/webhooks/release", &[]).await;
    app.wait_for_deliveries().await;

    let orders = invoice_orders(&app).await;
    assert_eq!(orders.len(), 2, "{orders:?}");
    let (first, _) = &orders[0];
    assert_eq!(first.flagged, None);
    let (order, items) = &orders[1];
    assert_eq!(order.invoice_id.as_deref(), Some(renewal.as_str()));
    assert!(
        order
            .flagged
            .as_deref()
            .unwrap_or_default()
            .contains("invoice subtotal 2000 is not its lines' (1500)"),
        "{:?}",
        order.flagged
    );
    // Only what is certain is stored: what was paid.
    assert_eq!(totals(order), (1000, 0, 1000, None));
    assert_eq!(item_terms(items), (1000, 1, 0, 1000));
    assert_eq!(order.status, "paid");
}

/// Every rule of an invoice's arithmetic, on a real invoice from the emulator changed one field
/// at a time (as Stripe would never send it, or as a bug in our reading would see it).
#[actix_web::test]
async fn each_rule_of_an_invoices_arithmetic_is_checked() {
    use serde_json::{Value, json};
    use storefront::subscriptions::invoice_breakdown::{InvoiceBreakdown, Plan, check};

    let app = TestApp::spawn().await;
    app.coupon_with_code(
        "FIVEOFF",
        &[
            ("amount_off", "500"),
            ("currency", "usd"),
            ("duration", "forever"),
            ("name", "Five off"),
        ],
    )
    .await;
    app.register("rules@example.com").await;
    subscribe_with_code(&app, "FIVEOFF", "$10.00").await;
    let (order, _) = invoice_orders(&app).await.remove(0);
    let invoice_id = order.invoice_id.unwrap();
    let invoice = app
        .emulator_get(&format!(
            "v1/invoices/{invoice_id}?expand[]=discounts.promotion_code&expand[]=discounts.source.coupon"
        ))
        .await;
    let stripe_price = invoice["lines"]["data"][0]["pricing"]["price_details"]["price"]
        .as_str()
        .unwrap()
        .to_owned();
    let plan = Plan {
        stripe_price_id: Some(stripe_price.clone()),
        unit_amount: 1500,
        shipping_prices: vec![],
    };
    let run = |change: &dyn Fn(&mut Value), plan: &Plan| {
        let mut inv = invoice.clone();
        change(&mut inv);
        let inv: stripe_shared::Invoice = serde_json::from_value(inv).expect("an Invoice");
        check(&inv, Some(plan))
    };
    let err = |change: &dyn Fn(&mut Value)| run(change, &plan).expect_err("flagged");
    let tax = |amount: i64, behavior: &str| {
        json!([{
            "amount": amount, "tax_behavior": behavior,
            "tax_rate_details": { "tax_rate": "txr_test" },
            "taxability_reason": "standard_rated", "taxable_amount": 1000,
            "type": "tax_rate_details"
        }])
    };
    let ok = InvoiceBreakdown {
        subtotal: 1500,
        shipping: 0,
        shipping_tax: 0,
        discount: 500,
        tax_exclusive: 0,
        tax_inclusive: 0,
        total: 1000,
        discount_label: Some("FIVEOFF".into()),
        unit_amount: 1500,
        quantity: 1,
        item_discount: 500,
        item_tax: 0,
        item_paid: 1000,
    };
    assert_eq!(run(&|_| {}, &plan), Ok(ok.clone()));

    // Tax on top is added to the total; tax inside the price is not.
    let exclusive = run(
        &|i| {
            i["total_taxes"] = tax(190, "exclusive");
            i["lines"]["data"][0]["taxes"] = tax(190, "exclusive");
            i["total"] = json!(1190);
            i["amount_paid"] = json!(1190);
        },
        &plan,
    );
    assert_eq!(
        exclusive,
        Ok(InvoiceBreakdown {
            tax_exclusive: 190,
            total: 1190,
            item_tax: 190,
            item_paid: 1190,
            ..ok.clone()
        })
    );
    let inclusive = run(
        &|i| {
            i["total_taxes"] = tax(160, "inclusive");
            i["lines"]["data"][0]["taxes"] = tax(160, "inclusive");
            i["total_excluding_tax"] = json!(840);
        },
        &plan,
    );
    assert_eq!(
        inclusive,
        Ok(InvoiceBreakdown {
            tax_inclusive: 160,
            item_tax: 160,
            ..ok.clone()
        })
    );

    // Named by the coupon when no code was typed; by the ids when nothing was expanded.
    let by_coupon = run(
        &|i| i["discounts"][0]["promotion_code"] = Value::Null,
        &plan,
    );
    assert_eq!(
        by_coupon.unwrap().discount_label.as_deref(),
        Some("Five off")
    );
    let unexpanded = run(
        &|i| {
            let id = i["discounts"][0]["promotion_code"]["id"].clone();
            i["discounts"][0]["promotion_code"] = id;
        },
        &plan,
    );
    assert!(
        unexpanded
            .unwrap()
            .discount_label
            .unwrap()
            .starts_with("promo_")
    );

    // Anything else is flagged, saying what does not add up.
    type Change<'a> = Box<dyn Fn(&mut Value) + 'a>;
    let cases: Vec<(&str, Change)> = vec![
        (
            "invoice subtotal 2000 is not its lines' (1500)",
            Box::new(|i| i["subtotal"] = json!(2000)),
        ),
        (
            "invoice discount 500 is not its lines' (400)",
            Box::new(|i| i["lines"]["data"][0]["discount_amounts"][0]["amount"] = json!(400)),
        ),
        (
            "invoice tax 190 + 0 (exclusive + inclusive) is not its lines' (0 + 0)",
            Box::new(|i| {
                i["total_taxes"] = tax(190, "exclusive");
                i["total"] = json!(1190);
                i["amount_paid"] = json!(1190);
            }),
        ),
        (
            "invoice tax 0 + 190 (exclusive + inclusive) is not its lines' (190 + 0)",
            Box::new(|i| {
                i["total_taxes"] = tax(190, "inclusive");
                i["lines"]["data"][0]["taxes"] = tax(190, "exclusive");
            }),
        ),
        (
            "discount 1600 is outside the subtotal 1500",
            Box::new(|i| {
                i["total_discount_amounts"][0]["amount"] = json!(1600);
                i["lines"]["data"][0]["discount_amounts"][0]["amount"] = json!(1600);
            }),
        ),
        (
            "a negative tax",
            Box::new(|i| {
                i["total_taxes"] = tax(-10, "exclusive");
                i["lines"]["data"][0]["taxes"] = tax(-10, "exclusive");
                i["total"] = json!(990);
                i["amount_paid"] = json!(990);
            }),
        ),
        (
            "invoice total 900 is not subtotal − discount + exclusive tax (1000)",
            Box::new(|i| i["total"] = json!(900)),
        ),
        (
            "invoice total excluding tax 999 is not its total less all tax (1000)",
            Box::new(|i| i["total_excluding_tax"] = json!(999)),
        ),
        (
            "invoice paid 900 of a total of 1000",
            Box::new(|i| i["amount_paid"] = json!(900)),
        ),
    ];
    for (reason, change) in &cases {
        assert_eq!(&err(change.as_ref()), reason);
    }
    // The plan's line must charge our price.
    let dearer = Plan {
        unit_amount: 1400,
        ..plan.clone()
    };
    assert_eq!(
        run(&|_| {}, &dearer),
        Err("the plan line charges 1500 for 1, our price is 1400 each".into())
    );
    // A proration, or another price, is one unit of the whole subtotal.
    let prorated = run(
        &|i| {
            i["lines"]["data"][0]["amount"] = json!(1200);
            i["lines"]["data"][0]["parent"]["subscription_item_details"]["proration"] = json!(true);
            i["subtotal"] = json!(1200);
            i["total"] = json!(700);
            i["amount_paid"] = json!(700);
            i["total_excluding_tax"] = json!(700);
        },
        &plan,
    );
    assert_eq!(
        prorated.map(|b| (b.unit_amount, b.quantity, b.total)),
        Ok((1200, 1, 700))
    );
}

/// An invoice handled after a plan switch is recorded for the plan it billed.
#[actix_web::test]
async fn a_late_invoice_is_recorded_for_the_plan_it_billed_not_the_current_one() {
    let app = TestApp::spawn().await;
    app.register("late@example.com").await;
    app.emulator_post("_emulator/webhooks", &[("hold", "true")])
        .await;
    let html = app.get_html("/products/coffee-club").await.1;
    let monthly = select_attr(&html, ".plans form", "action").remove(0);
    let res = app.submit("/products/coffee-club", &monthly, &[]).await;
    let success = app.pay_ok(&location(&res)).await;
    // The return page syncs the subscription; its first invoice's event is still held.
    app.get_html(success.trim_start_matches(&app.address)).await;
    let html = app.get_html("/account/subscriptions").await.1;
    let id = select_attr(&html, ".subscription", "aria-labelledby")
        .remove(0)
        .trim_start_matches("sub-")
        .to_owned();
    let change = format!("/account/subscriptions/{id}/change");
    let yearly = select_attr(
        &html,
        &format!("form[action='{change}'] input[name=price_id]"),
        "value",
    )
    .remove(0);
    let res = app
        .submit("/account/subscriptions", &change, &[("price_id", &yearly)])
        .await;
    assert_redirect_to(&res, "/account/subscriptions");
    app.emulator_post("_emulator/webhooks/release", &[]).await;
    app.wait_for_deliveries().await;

    let orders = invoice_orders(&app).await;
    let (first, items) = &orders[0];
    assert_eq!(first.flagged, None);
    assert_eq!(totals(first), (1500, 0, 1500, None));
    assert_eq!(items.len(), 1);
    assert_eq!(
        (items[0].name.as_str(), items[0].unit_amount),
        ("Coffee club subscription (monthly)", 1500),
        "{items:?}"
    );
}

#[actix_web::test]
async fn a_free_first_month_is_an_order_at_zero_and_the_next_month_is_charged() {
    let app = TestApp::spawn().await;
    app.coupon_with_code("FREEMONTH", &[("percent_off", "100"), ("duration", "once")])
        .await;
    app.register("free@example.com").await;
    subscribe_with_code(&app, "FREEMONTH", "$0.00").await;
    next_month(&app).await;
    let orders = invoice_orders(&app).await;
    let got: Vec<_> = orders.iter().map(|(o, _)| totals(o)).collect();
    assert_eq!(
        got,
        vec![(1500, 1500, 0, Some("FREEMONTH")), (1500, 0, 1500, None)]
    );
    assert!(
        orders
            .iter()
            .all(|(o, _)| o.flagged.is_none() && o.status == "paid")
    );
}
