//! Variants: an admin names a product's option and adds variants (each with its SKU, price and
//! stock); shoppers pick one from a radio group; the stock of that variant alone goes down and
//! the cart, order and receipt name it.

use crate::helpers::*;

/// Posts a form from the product's admin page with its CSRF token.
async fn admin_post(
    app: &TestApp,
    admin: &reqwest::Client,
    slug: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let (_, html) = fetch_page(admin, app.url(&format!("/admin/products/{slug}"))).await;
    let token = csrf_token(&html);
    let mut form = vec![("csrf_token", token.as_str())];
    form.extend_from_slice(fields);
    admin
        .post(app.url(&format!("/admin/products/{slug}{action}")))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// The ids of a product's variants as its admin page lists them.
async fn variant_ids(app: &TestApp, admin: &reqwest::Client, slug: &str) -> Vec<String> {
    let (_, html) = fetch_page(admin, app.url(&format!("/admin/products/{slug}"))).await;
    select_attr(&html, "#variants input[name$=-sku]", "name")
        .into_iter()
        .map(|n| {
            n.trim_start_matches('v')
                .trim_end_matches("-sku")
                .to_owned()
        })
        .collect()
}

async fn refused(res: reqwest::Response, field: &str, message: &str) {
    assert_eq!(res.status().as_u16(), 422, "{field}");
    let html = res.text().await.unwrap();
    let errors = select_text(&html, &format!("#{field}-error"));
    assert!(
        errors.iter().any(|e| e.contains(message)),
        "{field}: {errors:?} should say {message:?}"
    );
}

#[actix_web::test]
async fn a_shopper_buys_the_second_variant_and_only_its_stock_goes_down() {
    let app = TestApp::spawn().await;
    let admin = app.admin_browser().await;

    // A second variant needs the option named and the first variant valued.
    let res = admin_post(
        &app,
        &admin,
        "canvas-tote",
        "/variants/new",
        &[("option1", "Large"), ("price", "24.00"), ("stock", "3")],
    )
    .await;
    refused(res, "new-option1", "Name the product's option first").await;

    let first = variant_ids(&app, &admin, "canvas-tote").await;
    assert_eq!(first.len(), 1);
    let (o1, sku) = (
        format!("v{}-option1", first[0]),
        format!("v{}-sku", first[0]),
    );
    // A named option without a value for the variant is refused, and nothing is saved.
    let res = admin_post(
        &app,
        &admin,
        "canvas-tote",
        "/variants",
        &[("option1_name", "Size"), (&o1, ""), (&sku, "TOTE-S")],
    )
    .await;
    refused(res, &o1, "Give its Size").await;
    let res = admin_post(
        &app,
        &admin,
        "canvas-tote",
        "/variants",
        &[("option1_name", "Size"), (&o1, "Small"), (&sku, "TOTE S!")],
    )
    .await;
    refused(res, &sku, "A SKU is up to 64 letters").await;
    let res = admin_post(
        &app,
        &admin,
        "canvas-tote",
        "/variants",
        &[("option1_name", "Size"), (&o1, "Small"), (&sku, "TOTE-S")],
    )
    .await;
    assert_redirect_to(&res, "/admin/products/canvas-tote");

    // Bad new variants, each with its own message; nothing is made.
    for (fields, field, message) in [
        (
            vec![("option1", ""), ("price", "24.00"), ("stock", "3")],
            "new-option1",
            "Give its Size",
        ),
        (
            vec![("option1", "Small"), ("price", "24.00"), ("stock", "3")],
            "new-option1",
            "There is already a Small variant",
        ),
        (
            vec![
                ("option1", "Large"),
                ("sku", "tote-s"),
                ("price", "24.00"),
                ("stock", "3"),
            ],
            "new-sku",
            "Another variant already has this SKU",
        ),
        (
            vec![("option1", "Large"), ("price", "0"), ("stock", "3")],
            "new-price",
            "tick Free if that is what you mean",
        ),
        (
            vec![("option1", "Large"), ("price", "twelve"), ("stock", "3")],
            "new-price",
            "Price:",
        ),
        (
            vec![("option1", "Large"), ("price", "24.00"), ("stock", "-1")],
            "new-stock",
            "whole number from 0",
        ),
    ] {
        let res = admin_post(&app, &admin, "canvas-tote", "/variants/new", &fields).await;
        refused(res, field, message).await;
    }
    assert_eq!(app.variant_stocks("canvas-tote").await.len(), 1);

    let res = admin_post(
        &app,
        &admin,
        "canvas-tote",
        "/variants/new",
        &[
            ("option1", "Large"),
            ("sku", "TB-0042L"),
            ("price", "24.00"),
            ("stock", "3"),
        ],
    )
    .await;
    assert_redirect_to(&res, "/admin/products/canvas-tote");
    assert_eq!(
        app.variant_stocks("canvas-tote").await,
        vec![
            ("Small".to_owned(), Some(40)),
            ("Large".to_owned(), Some(3))
        ]
    );

    // The product page offers both as a radio group, each with its price and availability.
    let (_, page) = app.get_html("/products/canvas-tote").await;
    assert_eq!(select_text(&page, ".variants legend"), vec!["Size"]);
    let options = select_text(&page, ".variants label.variant");
    assert_eq!(options.len(), 2, "{page}");
    assert!(options[0].contains("Small") && options[0].contains("$18.00"));
    assert!(
        options[1].contains("Large")
            && options[1].contains("$24.00")
            && options[1].contains("Only 3 left"),
        "{options:?}"
    );
    let prices = select_attr(&page, ".variants input[name=price_id]", "value");
    let token = csrf_token(&page);
    let add = |price: String, quantity: &'static str| {
        let token = token.clone();
        let client = app.client.clone();
        let url = app.url("/cart/items");
        async move {
            client
                .post(url)
                .form(&[
                    ("csrf_token", token.as_str()),
                    ("price_id", price.as_str()),
                    ("quantity", quantity),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    // More of the second variant than it has: refused with its own count, the choice kept.
    let res = add(prices[1].clone(), "4").await;
    assert_eq!(res.status().as_u16(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("You can add at most 3 of Canvas tote bag — Large."));
    assert_eq!(
        select_attr(&html, ".variants input[checked]", "value"),
        vec![prices[1].clone()]
    );
    assert_redirect_to(&add(prices[1].clone(), "2").await, "/cart");
    let cart = app.cart_html().await;
    assert!(cart.contains("Canvas tote bag — Large"), "{cart}");

    let session_url = app.checkout().await;
    let order = app.order_by_session(&session_id_of(&session_url)).await;
    assert_eq!(order.amount_total, 4800);
    assert_eq!(app.held("canvas-tote").await, 2);
    app.pay_ok(&session_url).await;
    app.wait_for_status(&order.number, "paid").await;

    // Only the Large shelf moved; the order and the receipt name the variant.
    assert_eq!(
        app.variant_stocks("canvas-tote").await,
        vec![
            ("Small".to_owned(), Some(40)),
            ("Large".to_owned(), Some(1))
        ]
    );
    let (_, detail) = fetch_page(&admin, app.url(&format!("/admin/orders/{}", order.number))).await;
    assert!(detail.contains("Canvas tote bag — Large"), "{detail}");
    let receipt = app
        .outbox()
        .await
        .into_iter()
        .find(|m| m.body_text.contains(&order.number))
        .expect("a receipt");
    assert!(receipt.body_text.contains("Canvas tote bag — Large"));

    // The SKU finds the product; the admin page shows each variant's stock and price.
    let (_, found) = app.get_html("/search?q=tb-0042l").await;
    assert!(found.contains("/products/canvas-tote"), "{found}");
    let (_, admin_page) = fetch_page(&admin, app.url("/admin/products/canvas-tote")).await;
    let rows = select_text(&admin_page, "#variants tbody tr");
    assert!(
        rows[1].contains("$24.00") && rows[1].contains('1'),
        "{rows:?}"
    );

    // Restocking one variant leaves the other alone, and says which in the trail.
    let ids = variant_ids(&app, &admin, "canvas-tote").await;
    let res = admin_post(
        &app,
        &admin,
        "canvas-tote",
        "/stock",
        &[
            ("variant", &ids[1]),
            ("mode", "adjust"),
            ("quantity", "5"),
            ("reason", "delivery"),
        ],
    )
    .await;
    assert_redirect_to(&res, "/admin/products/canvas-tote");
    assert_eq!(
        app.variant_stocks("canvas-tote").await,
        vec![
            ("Small".to_owned(), Some(40)),
            ("Large".to_owned(), Some(6))
        ]
    );
    let (_, admin_page) = fetch_page(&admin, app.url("/admin/products/canvas-tote")).await;
    assert!(select_text(&admin_page, "#trail tbody tr")[0].contains("Large: stock 1 → 6"));

    // A sold variant is retired, not deleted; the last one for sale stays.
    let res = admin_post(
        &app,
        &admin,
        "canvas-tote",
        &format!("/variants/{}/delete", ids[1]),
        &[],
    )
    .await;
    assert_redirect_to(&res, "/admin/products/canvas-tote");
    let (_, page) = app.get_html("/products/canvas-tote").await;
    assert!(select_text(&page, ".variants label.variant").is_empty());
    assert_eq!(app.variant_stocks("canvas-tote").await.len(), 2);
    let res = admin_post(
        &app,
        &admin,
        "canvas-tote",
        &format!("/variants/{}/delete", ids[0]),
        &[],
    )
    .await;
    assert_eq!(res.status().as_u16(), 409);
    assert!(res.text().await.unwrap().contains("last variant for sale"));

    // A visitor is sent to sign in; a customer, with a valid CSRF token of their own, gets 403
    // from every variant form; nothing changes.
    let visitor = app.new_browser();
    let res = visitor
        .post(app.url("/admin/products/canvas-tote/variants/new"))
        .form(&[("option1", "Huge"), ("price", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 303);
    app.register_customer("nosy@example.com").await;
    let (_, own) = app.get_html("/account").await;
    let token = csrf_token(&own);
    for (action, fields) in [
        (
            "/variants/new",
            vec![("option1", "Huge"), ("price", "1.00")],
        ),
        ("/variants", vec![("option1_name", "Size")]),
        (&*format!("/variants/{}/delete", ids[0]), vec![]),
        (
            "/stock",
            vec![
                ("variant", ids[0].as_str()),
                ("mode", "set"),
                ("quantity", "0"),
                ("reason", "nosy"),
            ],
        ),
    ] {
        let mut form = vec![("csrf_token", token.as_str())];
        form.extend(fields);
        let res = app
            .post_form(&format!("/admin/products/canvas-tote{action}"), &form)
            .await;
        assert_eq!(res.status().as_u16(), 403, "{action}");
    }
    assert_eq!(
        app.variant_stocks("canvas-tote").await,
        vec![
            ("Small".to_owned(), Some(40)),
            ("Large".to_owned(), Some(6))
        ]
    );
}

const CAP_FILE: &str = r#"
[[products]]
slug = "trail-cap"
name = "Trail cap"
category = "Hats"
options = ["Size"]

[[products.variants]]
options = ["Medium"]
sku = "CAP-M"
stock = 4
price = { key = "trail-cap", unit_amount = 2500 }

[[products.variants]]
options = ["Large"]
sku = "CAP-L"
stock = 2
price = { key = "trail-cap-large", unit_amount = 2700 }
"#;

#[actix_web::test]
async fn a_catalogue_file_makes_variants_and_the_admin_forms_hold_their_rules() {
    let app = TestApp::spawn().await;
    let report = app.seed_catalogue(CAP_FILE).await;
    assert_eq!((report.products_created, report.prices_created), (1, 2));
    assert_eq!(
        app.variant_stocks("trail-cap").await,
        vec![
            ("Medium".to_owned(), Some(4)),
            ("Large".to_owned(), Some(2))
        ]
    );
    // Seeding again changes nothing; a new amount for one variant is a new price for it.
    let again = app.seed_catalogue(CAP_FILE).await;
    assert!(!again.changed(), "{again}");
    let raised = app
        .seed_catalogue(&CAP_FILE.replace("unit_amount = 2700", "unit_amount = 2900"))
        .await;
    assert_eq!((raised.prices_updated, raised.products_updated), (1, 0));
    let (_, page) = app.get_html("/products/trail-cap").await;
    let options = select_text(&page, ".variants label.variant");
    assert!(
        options[1].contains("Large") && options[1].contains("$29.00"),
        "{options:?}"
    );
    // JSON-LD: one offer per variant, with its SKU, price and availability.
    let data = select_text(&page, "script[type=\"application/ld+json\"]").remove(0);
    let data: serde_json::Value = serde_json::from_str(&data).unwrap();
    let offers = data["offers"].as_array().expect("an offer per variant");
    assert_eq!(offers.len(), 2);
    assert_eq!(offers[1]["sku"], "CAP-L");
    assert_eq!(offers[1]["price"], "29.00");
    assert_eq!(offers[1]["availability"], "https://schema.org/InStock");
    // The quantity field allows what the fullest variant has.
    assert_eq!(select_attr(&page, "#quantity", "max"), vec!["4"]);

    let admin = app.admin_browser().await;
    let ids = variant_ids(&app, &admin, "trail-cap").await;
    // One new SKU given to two variants in one form: refused with a message, not a 500.
    let (m1, m2) = (
        format!("v{}-option1", ids[0]),
        format!("v{}-option1", ids[1]),
    );
    let (s1, s2) = (format!("v{}-sku", ids[0]), format!("v{}-sku", ids[1]));
    let res = admin_post(
        &app,
        &admin,
        "trail-cap",
        "/variants",
        &[
            ("option1_name", "Size"),
            (&m1, "Medium"),
            (&s1, "CAP-X"),
            (&m2, "Large"),
            (&s2, "cap-x"),
        ],
    )
    .await;
    refused(res, &s2, "Another variant already has this SKU").await;
    // Two variants may swap SKUs in one save.
    let res = admin_post(
        &app,
        &admin,
        "trail-cap",
        "/variants",
        &[
            ("option1_name", "Size"),
            (&m1, "Medium"),
            (&s1, "CAP-L"),
            (&m2, "Large"),
            (&s2, "CAP-M"),
        ],
    )
    .await;
    assert_redirect_to(&res, "/admin/products/trail-cap");
    // A form from a tab opened before Large existed (no Large row) cannot take Large's SKU.
    let res = admin_post(
        &app,
        &admin,
        "trail-cap",
        "/variants",
        &[("option1_name", "Size"), (&m1, "Medium"), (&s1, "cap-m")],
    )
    .await;
    refused(res, &s1, "Another variant already has this SKU").await;
    // A value with a control character is refused.
    let res = admin_post(
        &app,
        &admin,
        "trail-cap",
        "/variants",
        &[
            ("option1_name", "Size"),
            (&m1, "Med\u{1}ium"),
            (&m2, "Large"),
        ],
    )
    .await;
    refused(res, &m1, "without control characters").await;

    // With several variants the stock form must say which one.
    let res = admin_post(
        &app,
        &admin,
        "trail-cap",
        "/stock",
        &[
            ("mode", "adjust"),
            ("quantity", "5"),
            ("reason", "delivery"),
        ],
    )
    .await;
    refused(
        res,
        "stock-variant",
        "Choose one of this product's variants",
    )
    .await;
    assert_eq!(app.stock("trail-cap").await, Some(6));

    // A shopper's cart holds Large; the admin removes Large meanwhile: checkout says so.
    let (_, page) = app.get_html("/products/trail-cap").await;
    let large = select_attr(&page, ".variants input[name=price_id]", "value").remove(1);
    let res = app
        .client
        .post(app.url("/cart/items"))
        .form(&[
            ("csrf_token", csrf_token(&page).as_str()),
            ("price_id", large.as_str()),
            ("quantity", "1"),
        ])
        .send()
        .await
        .unwrap();
    assert_redirect_to(&res, "/cart");
    let res = admin_post(
        &app,
        &admin,
        "trail-cap",
        &format!("/variants/{}/delete", ids[1]),
        &[],
    )
    .await;
    assert_redirect_to(&res, "/admin/products/trail-cap");
    // Nothing sold it: deleted, with its price and the cart's line.
    assert_eq!(app.variant_stocks("trail-cap").await.len(), 1);
    app.cart_html().await; // shows the "added" message once
    assert!(!app.cart_html().await.contains("Trail cap — Large"));

    // Sold, removed, and offered again: the same variant comes back with a new price.
    let res = admin_post(
        &app,
        &admin,
        "trail-cap",
        "/variants/new",
        &[("option1", "Large"), ("price", "31.00"), ("stock", "1")],
    )
    .await;
    assert_redirect_to(&res, "/admin/products/trail-cap");
    app.add_to_cart("trail-cap", 1).await;
    let session_url = app.checkout().await;
    let order = app.order_by_session(&session_id_of(&session_url)).await;
    app.pay_ok(&session_url).await;
    app.wait_for_status(&order.number, "paid").await;
    let ids = variant_ids(&app, &admin, "trail-cap").await;
    let res = admin_post(
        &app,
        &admin,
        "trail-cap",
        &format!("/variants/{}/delete", ids[0]),
        &[],
    )
    .await;
    assert_redirect_to(&res, "/admin/products/trail-cap");
    assert_eq!(
        app.variant_stocks("trail-cap").await.len(),
        2,
        "kept for its order"
    );
    let res = admin_post(
        &app,
        &admin,
        "trail-cap",
        "/variants/new",
        &[("option1", "Medium"), ("price", "26.00"), ("stock", "7")],
    )
    .await;
    assert_redirect_to(&res, "/admin/products/trail-cap");
    assert_eq!(
        app.variant_stocks("trail-cap").await,
        vec![
            ("Medium".to_owned(), Some(7)),
            ("Large".to_owned(), Some(1))
        ]
    );
    let (_, page) = app.get_html("/products/trail-cap").await;
    assert!(select_text(&page, ".variants label.variant")[0].contains("$26.00"));
    // A price of 0 is a free variant when meant so.
    let res = admin_post(
        &app,
        &admin,
        "trail-cap",
        "/variants/new",
        &[("option1", "Sample"), ("price", "0"), ("free", "on")],
    )
    .await;
    assert_redirect_to(&res, "/admin/products/trail-cap");
    let (_, page) = app.get_html("/products/trail-cap").await;
    assert!(select_text(&page, ".variants label.variant")[2].contains("$0.00"));

    // A file that adds a one-time price to a product with variants, without saying which: refused.
    let usd = storefront::money::Currency::parse("usd").unwrap();
    let file = storefront::catalog::seed::CatalogFile::parse(
        "[[products]]\nslug = \"trail-cap\"\nname = \"Trail cap\"\nprices = [{ key = \"cap-plain\", unit_amount = 2000 }]",
        usd,
    )
    .unwrap();
    let err = storefront::db::run(&app.pool, move |conn| {
        Ok::<_, storefront::db::DbError>(storefront::catalog::seed::seed(conn, &file, usd, 1).err())
    })
    .await
    .unwrap()
    .expect("refused");
    assert!(
        err.to_string().contains("has variants in the shop"),
        "{err}"
    );
}

/// Back-in-stock mails queued so far: (recipient, subject).
async fn back_in_stock_mails(app: &TestApp) -> Vec<(String, String)> {
    app.outbox()
        .await
        .into_iter()
        .filter(|m| m.kind == "back_in_stock")
        .map(|m| (m.recipient, m.subject))
        .collect()
}

#[actix_web::test]
async fn a_shopper_waits_for_one_sold_out_variant_and_hears_only_when_it_is_back() {
    let app = TestApp::spawn().await;
    app.seed_catalogue(&CAP_FILE.replace("stock = 2", "stock = 0"))
        .await;
    let (_, page) = app.get_html("/products/trail-cap").await;
    // The product is for sale (Medium); Large is sold out and can be waited for.
    assert!(select_text(&page, ".badge-sold-out").is_empty());
    let options = select_text(&page, ".variants label.variant");
    assert!(options[1].contains("Sold out"), "{options:?}");
    assert_eq!(
        select_attr(&page, ".variants input[disabled]", "value").len(),
        1
    );
    assert_eq!(select_text(&page, "#alert-variant option"), vec!["Large"]);
    let large = select_attr(&page, "#alert-variant option", "value").remove(0);
    let token = csrf_token(&page);
    let sign_up = |variant: &str, email: &str| {
        let form = vec![
            ("csrf_token".to_owned(), token.clone()),
            ("variant".to_owned(), variant.to_owned()),
            ("email".to_owned(), email.to_owned()),
        ];
        let (client, url) = (
            app.client.clone(),
            app.url("/products/trail-cap/back-in-stock"),
        );
        async move { client.post(url).form(&form).send().await.unwrap() }
    };
    assert_redirect_to(
        &sign_up(&large, "ada@example.com").await,
        "/products/trail-cap",
    );
    let (_, page) = app.get_html("/products/trail-cap").await;
    assert_eq!(
        select_text(&page, ".flash"),
        vec!["We'll e-mail ada@example.com once when Trail cap — Large is back in stock."]
    );
    // Waiting for the whole product while Medium is in stock: it is in stock.
    assert_redirect_to(&sign_up("", "bob@example.com").await, "/products/trail-cap");
    let (_, page) = app.get_html("/products/trail-cap").await;
    assert_eq!(
        select_text(&page, ".flash"),
        vec!["Good news: Trail cap is in stock now."]
    );
    // Another product's variant id: refused.
    assert_eq!(
        sign_up("999999", "eve@example.com").await.status().as_u16(),
        400
    );

    let admin = app.admin_browser().await;
    let ids = variant_ids(&app, &admin, "trail-cap").await;
    let restock = |variant: String| {
        let admin = admin.clone();
        let app = &app;
        async move {
            admin_post(
                app,
                &admin,
                "trail-cap",
                "/stock",
                &[
                    ("variant", variant.as_str()),
                    ("mode", "adjust"),
                    ("quantity", "2"),
                    ("reason", "delivery"),
                ],
            )
            .await
        }
    };
    // Restocking Medium tells nobody; restocking Large tells Ada once.
    assert_redirect_to(&restock(ids[0].clone()).await, "/admin/products/trail-cap");
    assert!(back_in_stock_mails(&app).await.is_empty());
    assert_redirect_to(&restock(ids[1].clone()).await, "/admin/products/trail-cap");
    assert_redirect_to(&restock(ids[1].clone()).await, "/admin/products/trail-cap");
    assert_eq!(
        back_in_stock_mails(&app).await,
        vec![(
            "ada@example.com".to_owned(),
            "Back in stock: Trail cap — Large".to_owned()
        )]
    );
}
