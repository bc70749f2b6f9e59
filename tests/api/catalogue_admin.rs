//! The catalogue's structure from the admin pages: a product's address (renamed, the old one
//! redirecting), its category, its status (draft, active, archived) and deleting one that
//! nothing sold names.

use crate::helpers::*;

/// The product form's fields as the page shows them, with `changes` applied.
async fn edited(
    app: &TestApp,
    admin: &reqwest::Client,
    slug: &str,
    changes: &[(&str, &str)],
) -> reqwest::Response {
    let page = format!("/admin/products/{slug}");
    let (_, html) = fetch_page(admin, app.url(&page)).await;
    let value = |sel: &str| select_attr(&html, sel, "value").pop().unwrap_or_default();
    let mut fields = vec![
        ("csrf_token", csrf_token(&html)),
        ("name", value("#name")),
        (
            "description",
            select_text(&html, "#description").pop().unwrap_or_default(),
        ),
        ("tax_code", value("#tax_code")),
        ("slug", value("#slug")),
        ("category", value("#category")),
        ("status", value("input[name=status][checked]")),
    ];
    for (k, v) in changes {
        fields.retain(|(key, _)| key != k);
        fields.push((k, (*v).to_owned()));
    }
    admin
        .post(app.url(&page))
        .form(&fields)
        .send()
        .await
        .unwrap()
}

#[actix_web::test]
async fn a_renamed_product_keeps_its_old_address_as_a_redirect() {
    let app = TestApp::spawn().await;
    let admin = app.admin_browser().await;
    app.add_to_cart("canvas-tote", 2).await;
    let res = edited(&app, &admin, "canvas-tote", &[("slug", "market-tote")]).await;
    assert_redirect_to(&res, "/admin/products/market-tote");

    let res = browser()
        .get(app.url("/products/canvas-tote"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 301);
    assert_eq!(location(&res), "/products/market-tote");
    assert_eq!(app.get_html("/products/market-tote").await.0, 200);
    // The cart's line follows the product; the trail says what moved.
    assert!(app.cart_html().await.contains("/products/market-tote"));
    let (_, detail) = fetch_page(&admin, app.url("/admin/products/market-tote")).await;
    assert!(
        select_text(&detail, "#trail tbody tr")[0]
            .contains("address /products/canvas-tote → /products/market-tote"),
        "{detail}"
    );
    assert!(detail.contains("Earlier addresses, redirecting here: /products/canvas-tote"));

    // Taken slugs, current or earlier, are refused with a reason; bad ones too.
    for (slug, message) in [
        ("enamel-mug", "Another product already has this slug."),
        (
            "Market Tote",
            "lower-case letters, digits and single dashes",
        ),
        ("new", "names the new-product page"),
    ] {
        let res = edited(&app, &admin, "market-tote", &[("slug", slug)]).await;
        assert_eq!(res.status().as_u16(), 422, "{slug}");
        let html = res.text().await.unwrap();
        assert!(
            select_text(&html, "#slug-error")[0].contains(message),
            "{slug}: {html}"
        );
    }
    let res = edited(&app, &admin, "enamel-mug", &[("slug", "canvas-tote")]).await;
    assert_eq!(res.status().as_u16(), 422);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("earlier address of another product")
    );
    // Its own old address can be taken back: then it no longer redirects.
    let res = edited(&app, &admin, "market-tote", &[("slug", "canvas-tote")]).await;
    assert_redirect_to(&res, "/admin/products/canvas-tote");
    assert_eq!(app.get_html("/products/canvas-tote").await.0, 200);
    let res = browser()
        .get(app.url("/products/market-tote"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&res), "/products/canvas-tote");
    // Seeding the catalogue file (which names the old slug) updates, never duplicates, it.
    let _ = edited(&app, &admin, "canvas-tote", &[("slug", "tote")]).await;
    let report = app
        .seed_catalogue(storefront::catalog::seed::DEMO_CATALOG)
        .await;
    assert_eq!(report.products_created, 0, "{report}");
    assert_eq!(app.get_html("/products/tote").await.0, 200);
}

#[actix_web::test]
async fn status_and_category_decide_where_a_product_shows() {
    let app = TestApp::spawn().await;
    let admin = app.admin_browser().await;
    // A new category, typed in the form, becomes a page of the shop.
    let res = edited(&app, &admin, "brass-pen", &[("category", "Desk & office")]).await;
    assert_redirect_to(&res, "/admin/products/brass-pen");
    let (status, desk) = app.get_html("/categories/desk-office").await;
    assert_eq!(status, 200);
    assert_eq!(
        select_text(&desk, ".product-card .product-name"),
        vec!["Brass pocket pen"]
    );
    let stationery = app.get_html("/categories/stationery").await.1;
    assert!(!stationery.contains("Brass pocket pen"));
    // Archived: gone from the shop, its category page with it; the admin list filters by status.
    let res = edited(&app, &admin, "brass-pen", &[("status", "archived")]).await;
    assert_redirect_to(&res, "/admin/products/brass-pen");
    assert_eq!(app.get_html("/products/brass-pen").await.0, 404);
    assert_eq!(app.get_html("/categories/desk-office").await.0, 404);
    let (_, list) = fetch_page(&admin, app.url("/admin/products?status=archived")).await;
    assert_eq!(
        select_text(&list, "#products tbody tr td a"),
        vec!["Brass pocket pen"]
    );
    // Bad status or category: a message each, nothing saved.
    let long = "x".repeat(61);
    for (field, value, message) in [
        ("status", "deleted", "Choose draft, active or archived."),
        ("category", long.as_str(), "at most 60 characters"),
    ] {
        let res = edited(&app, &admin, "brass-pen", &[(field, value)]).await;
        assert_eq!(res.status().as_u16(), 422);
        let html = res.text().await.unwrap();
        assert!(
            select_text(&html, &format!("#{field}-error"))[0].contains(message),
            "{html}"
        );
    }
    // Active again, and in categories whose names have no ASCII letters: each its own, never
    // merged.
    for (slug, name) in [("brass-pen", "日本"), ("field-notebook", "中国")] {
        let res = edited(
            &app,
            &admin,
            slug,
            &[("status", "active"), ("category", name)],
        )
        .await;
        assert_redirect_to(&res, &format!("/admin/products/{slug}"));
    }
    let home = app.get_html("/").await.1;
    let links: Vec<(String, String)> = select_attr(&home, "nav.categories a", "href")
        .into_iter()
        .zip(select_text(&home, "nav.categories a"))
        .filter(|(_, name)| name == "日本" || name == "中国")
        .collect();
    assert_eq!(links.len(), 2, "{home}");
    for (href, name) in links {
        let page = app.get_html(&href).await.1;
        assert_eq!(select_text(&page, "h1"), vec![name.clone()]);
        assert_eq!(
            select_text(&page, ".product-card .product-name").len(),
            1,
            "{name}"
        );
    }

    // Active again (above): back in the shop; its old category, now empty, is not.
    assert_eq!(app.get_html("/products/brass-pen").await.0, 200);
    assert_eq!(app.get_html("/categories/desk-office").await.0, 404);
}

#[actix_web::test]
async fn a_product_nothing_sold_names_can_be_deleted_one_with_orders_only_archived() {
    let app = TestApp::spawn().await;
    let admin = app.admin_browser().await;
    // A draft made by mistake, already in a shopper's cart while it was briefly on sale.
    app.seed_catalogue(
        "[[products]]\nslug = \"oops\"\nname = \"Oops\"\nprices = [{ key = \"oops\", unit_amount = 900 }]\n",
    )
    .await;
    app.add_to_cart("oops", 1).await;
    // …with a picture.
    let mut png = std::io::Cursor::new(Vec::new());
    image::RgbImage::from_pixel(80, 60, image::Rgb([10, 120, 200]))
        .write_to(&mut png, image::ImageFormat::Png)
        .unwrap();
    let picture = storefront::catalog::images::process(png.get_ref()).unwrap();
    storefront::db::run(&app.pool, move |conn| {
        use diesel::prelude::*;
        use storefront::schema::products;
        let id: i64 = products::table
            .filter(products::slug.eq("oops"))
            .select(products::id)
            .first(conn)?;
        storefront::catalog::images::add(conn, id, "Oops", &picture, 1)
            .map(|added| assert!(added.is_ok()))
            .map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap();
    let (_, detail) = fetch_page(&admin, app.url("/admin/products/oops")).await;
    assert_eq!(
        select_attr(
            &detail,
            "form[action='/admin/products/oops/delete']",
            "method"
        ),
        vec!["post"]
    );
    let token = csrf_token(&detail);
    let res = admin
        .post(app.url("/admin/products/oops/delete"))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_redirect_to(&res, "/admin/products");
    assert_eq!(app.get_html("/products/oops").await.0, 404);
    assert_eq!(
        fetch_page(&admin, app.url("/admin/products/oops")).await.0,
        404
    );
    assert!(!app.cart_html().await.contains("Oops"));

    // A product with an order: no delete form, and a forged request is refused.
    app.add_to_cart("enamel-mug", 1).await;
    let url = app.checkout().await;
    app.pay_ok(&url).await;
    let (_, detail) = fetch_page(&admin, app.url("/admin/products/enamel-mug")).await;
    assert!(select_attr(&detail, "form[action$='/delete']", "action").is_empty());
    let token = csrf_token(&detail);
    let res = admin
        .post(app.url("/admin/products/enamel-mug/delete"))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("set its status to Archived")
    );
    assert_eq!(app.get_html("/products/enamel-mug").await.0, 200);
    // Without the CSRF token, nothing happens either.
    let res = admin
        .post(app.url("/admin/products/field-notebook/delete"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);
    assert_eq!(app.get_html("/products/field-notebook").await.0, 200);
}
