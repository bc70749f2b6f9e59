//! A plan that charges shipping each period (`shipping = …` on a recurring price): a second
//! subscription item on every invoice, split out on each order, and moved with the plan when the
//! customer switches.

use crate::helpers::*;
use crate::subscription_invoices::{invoice_orders, next_month, subscribe_with_code};

/// The demo catalogue with the monthly coffee club charging `monthly` shipping (the yearly plan
/// includes delivery).
async fn seed_shipping(app: &TestApp, monthly: i64) {
    let plan = r#"{ key = "coffee-club-monthly", unit_amount = 1500, interval = "month" }"#;
    assert!(storefront::catalog::seed::DEMO_CATALOG.contains(plan));
    let file = storefront::catalog::seed::DEMO_CATALOG.replace(
        plan,
        &plan.replace(" }", &format!(", shipping = {monthly} }}")),
    );
    app.seed_catalogue(&file).await;
}

/// The Stripe prices of the subscription's items.
async fn item_prices(app: &TestApp, subscription: &str) -> Vec<(String, i64)> {
    let sub = app
        .emulator_get(&format!("v1/subscriptions/{subscription}"))
        .await;
    sub["items"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["price"]["id"].as_str().unwrap().to_owned(),
                i["price"]["unit_amount"].as_i64().unwrap(),
            )
        })
        .collect()
}

async fn switch(app: &TestApp, to: &str) {
    let html = app.get_html("/account/subscriptions").await.1;
    let id = select_attr(&html, ".subscription", "aria-labelledby")
        .remove(0)
        .trim_start_matches("sub-")
        .to_owned();
    let action = format!("/account/subscriptions/{id}/change");
    let price = select_attr(
        &html,
        &format!("form[action='{action}'] input[name=price_id]"),
        "value",
    )
    .remove(0);
    let res = app
        .submit("/account/subscriptions", &action, &[("price_id", &price)])
        .await;
    assert_redirect_to(&res, "/account/subscriptions");
    let html = app.get_html("/account/subscriptions").await.1;
    assert!(html.contains(&format!("Switched to {to}")), "{html}");
    app.wait_for_deliveries().await;
}

#[actix_web::test]
async fn a_plan_that_charges_shipping_bills_it_every_period_and_a_switch_moves_it() {
    let app = TestApp::spawn().await;
    seed_shipping(&app, 400).await;
    app.register("club@example.com").await;
    let html = app.get_html("/products/coffee-club").await.1;
    let buttons = select_text(&html, ".plans button");
    assert_eq!(
        buttons,
        vec![
            "Subscribe monthly — $15.00 + $4.00 shipping / month",
            "Subscribe yearly — $150.00 / year"
        ]
    );

    // Checkout: the plan and its shipping, two recurring lines.
    let monthly = select_attr(&html, ".plans form", "action").remove(0);
    let res = app.submit("/products/coffee-club", &monthly, &[]).await;
    let session_url = location(&res);
    let session_id = session_url.rsplit('/').next().unwrap().to_owned();
    let session = app
        .emulator_get(&format!("v1/checkout/sessions/{session_id}"))
        .await;
    assert_eq!(session["amount_total"], 1900, "{session}");
    let lines = app
        .emulator_get(&format!("v1/checkout/sessions/{session_id}/line_items"))
        .await;
    let names: Vec<&str> = lines["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["description"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Coffee club subscription", "Shipping"]);
    let success = app.pay_ok(&session_url).await;
    app.get_html(success.trim_start_matches(&app.address)).await;
    app.wait_for_deliveries().await;

    // Each period's order: the plan as its item, the shipping as shipping, to the address.
    let check_period = |order: &storefront::orders::model::Order, shipping: i64| {
        assert_eq!(
            (
                order.amount_subtotal,
                order.amount_shipping,
                order.amount_total
            ),
            (1500, shipping, 1500 + shipping),
            "{order:?}"
        );
        assert_eq!(order.flagged, None);
        assert_eq!(order.fulfilment_status, "unfulfilled");
    };
    let orders = invoice_orders(&app).await;
    assert_eq!(orders.len(), 1);
    check_period(&orders[0].0, 400);
    assert_eq!(
        orders[0]
            .1
            .iter()
            .map(|i| (i.unit_amount, i.quantity))
            .collect::<Vec<_>>(),
        vec![(1500, 1)]
    );
    let (status, page) = app
        .get_html(&format!("/account/orders/{}", orders[0].0.number))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        select_text(&page, "#order-shipping"),
        vec!["$4.00"],
        "{page}"
    );
    assert_eq!(select_text(&page, "#order-subtotal"), vec!["$15.00"]);
    let subscription = app
        .emulator_get(&format!("v1/checkout/sessions/{session_id}"))
        .await["subscription"]
        .as_str()
        .unwrap()
        .to_owned();
    let first_shipping = item_prices(&app, &subscription).await[1].0.clone();

    // The merchant raises shipping to $5: the running subscription keeps its $4 Price, and its
    // renewal is still read as plan plus shipping.
    seed_shipping(&app, 500).await;
    // A new subscriber's Checkout is on the $5 terms (a new Price)…
    let newcomer = app.new_browser();
    let res = app
        .register_with(&newcomer, "late@example.com", PASSWORD, PASSWORD)
        .await;
    assert_redirect_to(&res, "/account");
    let page = newcomer
        .get(app.url("/products/coffee-club"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let res = newcomer
        .post(app.url(&select_attr(&page, ".plans form", "action")[0]))
        .form(&[("csrf_token", csrf_token(&page).as_str())])
        .send()
        .await
        .unwrap();
    let theirs = location(&res);
    let theirs = theirs.rsplit('/').next().unwrap();
    let theirs = app
        .emulator_get(&format!("v1/checkout/sessions/{theirs}"))
        .await;
    assert_eq!(theirs["amount_total"], 2000, "{theirs}");
    // …while the first one's renewal is still read as plan plus $4 shipping.
    next_month(&app).await;
    let orders = invoice_orders(&app).await;
    assert_eq!(orders.len(), 2);
    check_period(&orders[1].0, 400);

    // Yearly includes delivery: the switch removes the shipping item with the plan's.
    switch(&app, "$150.00 / year").await;
    let items = item_prices(&app, &subscription).await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0].1, 15000);
    // Back to monthly: a shipping item again, on today's $5 terms.
    switch(&app, "$15.00 + $5.00 shipping / month").await;
    let items = item_prices(&app, &subscription).await;
    assert_eq!(
        items.iter().map(|(_, a)| *a).collect::<Vec<_>>(),
        vec![1500, 500]
    );
    assert_ne!(items[1].0, first_shipping, "new terms, a new Price");
    let page = app.get_html("/account/subscriptions").await.1;
    assert!(
        select_text(&page, ".subscription p")
            .join(" ")
            .contains("$15.00 + $5.00 shipping / month"),
        "{page}"
    );

    // The next plain period bills both and the order splits them.
    next_month(&app).await;
    let orders = invoice_orders(&app).await;
    let last = &orders.last().unwrap().0;
    check_period(last, 500);
    let address = storefront::db::run(&app.pool, {
        let id = last.id;
        move |conn| {
            use diesel::prelude::*;
            use storefront::schema::order_shipping as s;
            s::table
                .find(id)
                .select((s::amount, s::city.assume_not_null()))
                .first::<(i64, String)>(conn)
                .map_err(storefront::db::DbError::from)
        }
    })
    .await
    .unwrap();
    assert_eq!(address, (500, "New York".to_owned()));
}

/// A code off the whole invoice discounts the plan and its shipping: the order's item carries
/// only its own line's discount and payment, the order the whole discount.
#[actix_web::test]
async fn a_code_on_a_plan_with_shipping_splits_the_discount_between_the_lines() {
    let app = TestApp::spawn().await;
    seed_shipping(&app, 400).await;
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
    app.register("coded@example.com").await;
    subscribe_with_code(&app, "FIVEOFF", "$14.00").await;
    let (order, items) = invoice_orders(&app).await.remove(0);
    assert_eq!(order.flagged, None);
    assert_eq!(
        (
            order.amount_subtotal,
            order.amount_shipping,
            order.amount_discount,
            order.amount_total
        ),
        (1500, 400, 500, 1400)
    );
    let item = &items[0];
    assert!(
        item.amount_discount > 0 && item.amount_discount < 500,
        "the plan line's share of the discount: {item:?}"
    );
    assert_eq!(item.amount_paid, 1500 - item.amount_discount);
}
