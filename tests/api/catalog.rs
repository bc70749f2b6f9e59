use storefront::catalog::seed;

use crate::helpers::{SHIPPING_RATES, TestApp, csrf_token, select_attr, select_text};

#[actix_web::test]
async fn home_page_lists_the_seeded_products_with_formatted_prices() {
    let app = TestApp::spawn().await;
    let (status, html) = app.get_html("/").await;
    assert_eq!(status, 200);
    let names = select_text(&html, ".product-card .product-name");
    assert!(names.len() >= 8, "{names:?}");
    assert!(names.contains(&"Canvas tote bag".to_owned()));
    let cards = select_text(&html, ".product-card");
    let tote = cards
        .iter()
        .find(|c| c.contains("Canvas tote bag"))
        .unwrap();
    assert!(tote.contains("$18.00"), "{tote}");
    let club = cards.iter().find(|c| c.contains("Coffee club")).unwrap();
    assert!(club.contains("from $15.00 / month"), "{club}");
    let pen = cards
        .iter()
        .find(|c| c.contains("Brass pocket pen"))
        .unwrap();
    assert!(pen.contains("Sold out"), "{pen}");
    let tote_card_badges = cards.iter().filter(|c| c.contains("Sold out")).count();
    assert_eq!(
        tote_card_badges, 1,
        "only the sold-out product has the badge"
    );
    assert!(html.contains("Demo — no real payments"), "demo ribbon");
}

#[actix_web::test]
async fn product_page_shows_price_and_an_add_to_cart_form() {
    let app = TestApp::spawn().await;
    let (status, html) = app.get_html("/products/harbour-print").await;
    assert_eq!(status, 200);
    assert_eq!(
        select_text(&html, "h1"),
        vec!["Limited print: Harbour at dawn"]
    );
    assert_eq!(select_text(&html, ".price-large"), vec!["$45.00"]);
    assert_eq!(select_text(&html, ".stock-note"), vec!["Only one left"]);
    assert_eq!(
        select_attr(&html, "form.add-to-cart", "action"),
        vec!["/cart/items"]
    );
    assert_eq!(select_attr(&html, "input[name=quantity]", "max"), vec!["1"]);
    assert!(!csrf_token(&html).is_empty());
    // Every visible field has a label.
    let id = select_attr(&html, "input[name=quantity]", "id").remove(0);
    assert_eq!(
        select_attr(&html, &format!("label[for={id}]"), "for").len(),
        1
    );
}

#[actix_web::test]
async fn sold_out_product_has_no_add_to_cart_form() {
    let app = TestApp::spawn().await;
    let (status, html) = app.get_html("/products/brass-pen").await;
    assert_eq!(status, 200);
    assert!(select_attr(&html, "form.add-to-cart", "action").is_empty());
    assert!(select_text(&html, ".badge-sold-out").contains(&"Sold out".to_owned()));
}

#[actix_web::test]
async fn subscription_product_offers_monthly_and_yearly_plans() {
    let app = TestApp::spawn().await;
    let (_, html) = app.get_html("/products/coffee-club").await;
    let buttons = select_text(&html, ".plans button");
    assert_eq!(
        buttons,
        vec![
            "Subscribe monthly — $15.00 / month",
            "Subscribe yearly — $150.00 / year"
        ]
    );
    let actions = select_attr(&html, ".plans form", "action");
    assert!(
        actions.iter().all(|a| a.starts_with("/subscribe/")),
        "{actions:?}"
    );
}

#[actix_web::test]
async fn unknown_product_is_a_real_404_page() {
    let app = TestApp::spawn().await;
    for path in [
        "/products/no-such-thing",
        "/products/%00%ff",
        "/no/such/page",
    ] {
        let res = app.get(path).await;
        assert_eq!(res.status(), 404, "{path}");
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let html = res.text().await.unwrap();
        assert_eq!(select_text(&html, "h1"), vec!["Page not found"], "{path}");
        assert!(html.contains("Back to the shop"));
    }
}

#[actix_web::test]
async fn a_zero_decimal_shop_formats_yen_without_decimals() {
    let app = TestApp::spawn_with(&[("CURRENCY", "jpy")]).await;
    let (_, html) = app.get_html("/products/canvas-tote").await;
    assert_eq!(select_text(&html, ".price-large"), vec!["¥1,800"]);
}

async fn seed_text(app: &TestApp, text: &str) -> seed::SeedReport {
    app.seed_catalogue(text).await
}

#[actix_web::test]
async fn seeding_twice_changes_nothing_and_a_changed_price_is_updated() {
    let app = TestApp::spawn_with(&[(SHIPPING_RATES, "on")]).await;
    // The demo catalogue is already in; seeding it again changes nothing.
    let again = seed_text(&app, seed::DEMO_CATALOG).await;
    assert!(!again.changed(), "{again}");

    let edited = seed::DEMO_CATALOG.replace("unit_amount = 1800", "unit_amount = 1950");
    let report = seed_text(&app, &edited).await;
    assert_eq!(
        (
            report.prices_updated,
            report.products_created,
            report.prices_created
        ),
        (1, 0, 0),
        "{report}"
    );
    let (_, html) = app.get_html("/products/canvas-tote").await;
    assert_eq!(select_text(&html, ".price-large"), vec!["$19.50"]);

    let report = seed_text(&app, &edited).await;
    assert!(!report.changed(), "{report}");
}

#[actix_web::test]
async fn seeding_a_new_product_adds_it_and_an_inactive_one_disappears() {
    let app = TestApp::spawn().await;
    let text = r#"
[[products]]
slug = "gift-card"
name = "Gift card"
prices = [{ key = "gift-card-25", unit_amount = 2500 }]

[[products]]
slug = "canvas-tote"
name = "Canvas tote bag"
description = "Heavy 16 oz cotton canvas with long handles. Carries a week of groceries."
active = false
prices = [{ key = "canvas-tote", unit_amount = 1800 }]
"#;
    let report = seed_text(&app, text).await;
    assert_eq!(
        (report.products_created, report.products_updated),
        (1, 1),
        "{report}"
    );
    let (_, html) = app.get_html("/").await;
    let names = select_text(&html, ".product-name");
    assert!(names.contains(&"Gift card".to_owned()));
    assert!(!names.contains(&"Canvas tote bag".to_owned()));
    assert_eq!(app.get("/products/canvas-tote").await.status(), 404);
}
