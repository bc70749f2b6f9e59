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
            "more than 0",
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

    // Customers get no variant forms.
    let shopper = app.new_browser();
    let res = shopper
        .post(app.url("/admin/products/canvas-tote/variants/new"))
        .form(&[("option1", "Huge"), ("price", "1")])
        .send()
        .await
        .unwrap();
    assert!([303, 403].contains(&res.status().as_u16()));
    assert_eq!(app.variant_stocks("canvas-tote").await.len(), 2);
}
