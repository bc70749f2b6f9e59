//! Changing a price from the admin pages: Stripe prices are immutable, so a new amount is a new
//! price; the old one is retired at Stripe, carts follow, subscriptions keep what they were sold.

use storefront::schema::subscriptions;

use crate::helpers::*;
use crate::subscription_invoices::{invoice_orders, next_month};

/// The product page's price rows: (price id, "label | kind | status | subscriptions").
async fn price_rows(app: &TestApp, admin: &reqwest::Client, slug: &str) -> Vec<(String, String)> {
    let (_, html) = fetch_page(admin, app.url(&format!("/admin/products/{slug}"))).await;
    let doc = scraper::Html::parse_document(&html);
    let row = scraper::Selector::parse("#prices tbody tr").unwrap();
    let cell = scraper::Selector::parse("td").unwrap();
    let input = scraper::Selector::parse("input[name=amount]").unwrap();
    doc.select(&row)
        .map(|tr| {
            let id = tr
                .select(&input)
                .next()
                .and_then(|i| i.value().attr("id"))
                .map(|id| id.trim_start_matches("amount-").to_owned())
                .unwrap_or_default();
            let cells: Vec<String> = tr
                .select(&cell)
                .take(5)
                .enumerate()
                .filter(|(i, _)| *i != 2)
                .map(|(_, td)| td.text().next().unwrap_or_default().trim().to_owned())
                .collect();
            (id, cells.join(" | "))
        })
        .collect()
}

async fn change(
    app: &TestApp,
    admin: &reqwest::Client,
    slug: &str,
    price: &str,
    amount: &str,
) -> reqwest::Response {
    let page = format!("/admin/products/{slug}");
    let (_, html) = fetch_page(admin, app.url(&page)).await;
    admin
        .post(app.url(&format!("{page}/prices/{price}")))
        .form(&[
            ("csrf_token", csrf_token(&html).as_str()),
            ("amount", amount),
        ])
        .send()
        .await
        .unwrap()
}

async fn stripe_prices_of_subscriptions(app: &TestApp) -> Vec<String> {
    use diesel::prelude::*;
    storefront::db::run(&app.pool, |conn| {
        subscriptions::table
            .order(subscriptions::id.asc())
            .select(subscriptions::stripe_price_id)
            .load::<String>(conn)
            .map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap()
}

async fn subscribe(app: &TestApp, monthly: &str) {
    let res = app.submit("/products/coffee-club", monthly, &[]).await;
    assert_eq!(res.status().as_u16(), 303);
    let success = app.pay_ok(&location(&res)).await;
    app.get_html(success.trim_start_matches(&app.address)).await;
    app.wait_for_deliveries().await;
}

#[actix_web::test]
async fn a_new_plan_amount_is_a_new_stripe_price_and_subscribers_keep_theirs() {
    let app = TestApp::spawn().await;
    app.register("early@example.com").await;
    let monthly = select_attr(
        &app.get_html("/products/coffee-club").await.1,
        ".plans form",
        "action",
    )
    .remove(0);
    subscribe(&app, &monthly).await;
    let old_stripe = stripe_prices_of_subscriptions(&app).await.remove(0);

    let admin = app.admin_browser().await;
    let rows = price_rows(&app, &admin, "coffee-club").await;
    let (monthly_id, row) = rows
        .iter()
        .find(|(_, r)| r.starts_with("$15.00 / month"))
        .unwrap()
        .clone();
    assert_eq!(row, "$15.00 / month | Monthly | Current | 1");
    let res = change(&app, &admin, "coffee-club", &monthly_id, "16.00").await;
    assert_redirect_to(&res, "/admin/products/coffee-club");
    let (_, detail) = fetch_page(&admin, app.url("/admin/products/coffee-club")).await;
    assert!(
        detail.contains(
            "Price of Coffee club subscription: $15.00 → $16.00. 1 subscription(s) stay on $15.00 until the customer switches."
        ),
        "{detail}"
    );
    assert!(
        select_text(&detail, "#trail tbody tr")[0].contains("price per month: $15.00 → $16.00")
    );
    // The old Stripe price is retired; the history shows both.
    let stripe = app.emulator_get(&format!("v1/prices/{old_stripe}")).await;
    assert_eq!(stripe["active"], false, "{stripe}");
    let rows: Vec<String> = price_rows(&app, &admin, "coffee-club")
        .await
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    assert!(
        rows.contains(&"$16.00 / month | Monthly | Current | 0".to_owned()),
        "{rows:?}"
    );
    assert!(
        rows.contains(&"$15.00 / month | Monthly | Replaced | 1".to_owned()),
        "{rows:?}"
    );

    // The shop offers the new amount; the subscriber keeps theirs, is told so, and is not offered
    // the new amount as a "switch".
    let product = app.get_html("/products/coffee-club").await.1;
    assert!(product.contains("$16.00 / month"), "{product}");
    assert!(!product.contains("$15.00 / month"));
    let mine = app.get_html("/account/subscriptions").await.1;
    assert!(mine.contains("$15.00 / month"), "{mine}");
    assert_eq!(
        select_text(&mine, "[id^=sub-price-note-]").len(),
        1,
        "{mine}"
    );
    assert!(!mine.contains("$16.00 / month"), "{mine}");

    // A new subscriber pays the new amount, on a new Stripe price.
    app.logout(&app.client).await;
    app.register("later@example.com").await;
    let monthly = select_attr(
        &app.get_html("/products/coffee-club").await.1,
        ".plans form",
        "action",
    )
    .remove(0);
    subscribe(&app, &monthly).await;
    let prices = stripe_prices_of_subscriptions(&app).await;
    assert_eq!(prices.len(), 2);
    assert_ne!(prices[1], old_stripe);
    // A month on, each renews at the price they were sold.
    next_month(&app).await;
    let mut paid: Vec<i64> = invoice_orders(&app)
        .await
        .iter()
        .map(|(o, _)| o.amount_total)
        .collect();
    paid.sort();
    assert_eq!(paid, vec![1500, 1500, 1600, 1600]);

    // Plans of a product no longer sold are not offered as switches.
    let switches = |html: &str| select_attr(html, "form[action$='/change']", "action").len();
    assert_eq!(switches(&app.get_html("/account/subscriptions").await.1), 1);
    storefront::db::run(&app.pool, |conn| {
        use diesel::prelude::*;
        use storefront::schema::products;
        diesel::update(products::table.filter(products::slug.eq("coffee-club")))
            .set(products::status.eq("archived"))
            .execute(conn)
            .map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap();
    assert_eq!(switches(&app.get_html("/account/subscriptions").await.1), 0);
}

#[actix_web::test]
async fn a_one_time_price_change_moves_carts_and_bad_amounts_are_refused() {
    let app = TestApp::spawn().await;
    let admin = app.admin_browser().await;
    app.add_to_cart("canvas-tote", 2).await;
    let rows = price_rows(&app, &admin, "canvas-tote").await;
    assert_eq!(rows.len(), 1);
    let (tote, row) = rows[0].clone();
    assert_eq!(row, "$18.00 | One-time | Current | 0");

    // Bad amounts: a message by the field, what was typed kept, nothing changed.
    for (amount, message) in [
        ("abc", "Price:"),
        ("-1", "Price:"),
        ("18.00", "That is what the price is already."),
        ("1000000", "The price must be from 0 to 999,999.99."),
    ] {
        let res = change(&app, &admin, "canvas-tote", &tote, amount).await;
        assert_eq!(res.status().as_u16(), 422, "{amount}");
        let html = res.text().await.unwrap();
        let error = select_text(&html, &format!("#amount-{tote}-error"));
        assert!(error[0].contains(message), "{amount}: {error:?}");
        assert_eq!(
            select_attr(&html, &format!("#amount-{tote}"), "value"),
            vec![amount]
        );
    }
    // Another product's price, or no price at all: 404.
    let mug = price_rows(&app, &admin, "enamel-mug").await[0].0.clone();
    assert_eq!(
        change(&app, &admin, "canvas-tote", &mug, "1")
            .await
            .status(),
        404
    );
    assert_eq!(
        change(&app, &admin, "canvas-tote", "x", "1").await.status(),
        404
    );

    let res = change(&app, &admin, "canvas-tote", &tote, "19.50").await;
    assert_redirect_to(&res, "/admin/products/canvas-tote");
    // The cart follows; Checkout charges the new amount.
    let cart = app.cart_html().await;
    assert!(cart.contains("$39.00"), "{cart}");
    let session_url = app.checkout().await;
    let session = app
        .emulator_get(&format!(
            "v1/checkout/sessions/{}",
            session_id_of(&session_url)
        ))
        .await;
    assert_eq!(session["amount_subtotal"], 3900, "{session}");
    // The replaced price cannot be changed again.
    let res = change(&app, &admin, "canvas-tote", &tote, "20").await;
    assert_eq!(res.status().as_u16(), 422);
    assert!(res.text().await.unwrap().contains("no longer offered"));
}
