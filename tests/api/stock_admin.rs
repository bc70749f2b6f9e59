//! Stock from the admin pages (set, adjust, unlimited; a reason; never below what checkouts
//! hold; audited) and "e-mail me when it's back" on sold-out products: one mail per waiting
//! address, whoever restocks.

use storefront::clock::Clock as _;

use crate::helpers::*;

/// Posts a page's form with `client`: the page's CSRF token and `fields`.
async fn post_with(
    app: &TestApp,
    client: &reqwest::Client,
    page: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let html = client
        .get(app.url(page))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = csrf_token(&html);
    let mut form = vec![("csrf_token", token.as_str())];
    form.extend_from_slice(fields);
    client
        .post(app.url(action))
        .form(&form)
        .send()
        .await
        .unwrap()
}

async fn notify_me(
    app: &TestApp,
    client: &reqwest::Client,
    slug: &str,
    email: &str,
) -> reqwest::Response {
    let page = format!("/products/{slug}");
    post_with(
        app,
        client,
        &page,
        &format!("{page}/back-in-stock"),
        &[("email", email)],
    )
    .await
}

async fn set_stock(
    app: &TestApp,
    admin: &reqwest::Client,
    slug: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let page = format!("/admin/products/{slug}");
    post_with(app, admin, &page, &format!("{page}/stock"), fields).await
}

async fn back_in_stock_mails(app: &TestApp) -> Vec<(String, String)> {
    let mut mails: Vec<(String, String)> = app
        .outbox()
        .await
        .into_iter()
        .filter(|m| m.kind == "back_in_stock")
        .map(|m| (m.recipient, m.body_text))
        .collect();
    mails.sort();
    mails
}

async fn page(client: &reqwest::Client, url: String) -> (u16, String) {
    let res = client.get(url).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[actix_web::test]
async fn restocking_the_sold_out_pen_mails_each_waiting_address_once() {
    let app = TestApp::spawn().await;
    let html = app.get_html("/products/brass-pen").await.1;
    assert!(select_text(&html, ".badge-sold-out").contains(&"Sold out".to_owned()));
    assert_eq!(
        select_attr(&html, "form.back-in-stock", "action"),
        vec!["/products/brass-pen/back-in-stock"]
    );

    // Two shoppers wait; one asks twice, and a typo is refused with a message.
    let res = notify_me(&app, &app.client, "brass-pen", "Ada@Example.com ").await;
    assert_redirect_to(&res, "/products/brass-pen");
    let html = app.get_html("/products/brass-pen").await.1;
    assert_eq!(
        select_text(&html, ".flash"),
        vec!["We'll e-mail ada@example.com once when Brass pocket pen is back in stock."]
    );
    assert_redirect_to(
        &notify_me(&app, &app.client, "brass-pen", "ada@example.com").await,
        "/products/brass-pen",
    );
    let other = app.new_browser();
    assert_redirect_to(
        &notify_me(&app, &other, "brass-pen", "grace@example.com").await,
        "/products/brass-pen",
    );
    let res = notify_me(&app, &other, "brass-pen", "not an address").await;
    assert_eq!(res.status().as_u16(), 422);
    let html = res.text().await.unwrap();
    assert_eq!(
        select_text(&html, "#alert-email-error"),
        vec!["Enter an e-mail address like name@example.com."]
    );
    assert_eq!(
        select_attr(&html, "#alert-email", "value"),
        vec!["not an address"]
    );
    // A product in stock has nothing to wait for.
    let res = notify_me(&app, &other, "canvas-tote", "grace@example.com").await;
    assert_redirect_to(&res, "/products/canvas-tote");
    let res = post_with(
        &app,
        &other,
        "/products/brass-pen",
        "/products/no-such-thing/back-in-stock",
        &[("email", "grace@example.com")],
    )
    .await;
    assert_eq!(res.status().as_u16(), 404);

    // The admin sees who waits, restocks with a reason, and the two addresses hear once.
    let admin = app.admin_browser().await;
    let (status, list) = page(&admin, app.url("/admin/products?q=BRASS")).await;
    assert_eq!(status, 200);
    let rows = select_text(&list, "#products tbody tr");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(
        rows[0].contains("Brass pocket pen") && rows[0].contains("Sold out"),
        "{rows:?}"
    );
    let (_, detail) = page(&admin, app.url("/admin/products/brass-pen")).await;
    assert_eq!(select_text(&detail, "#waiting"), vec!["2"]);
    let res = set_stock(
        &app,
        &admin,
        "brass-pen",
        &[
            ("mode", "adjust"),
            ("quantity", "+3"),
            ("reason", "Delivery from the workshop"),
        ],
    )
    .await;
    assert_redirect_to(&res, "/admin/products/brass-pen");
    let (_, detail) = page(&admin, app.url("/admin/products/brass-pen")).await;
    assert!(detail.contains("Stock of Brass pocket pen: 0 → 3. 2 waiting shopper(s) will get a back-in-stock e-mail."), "{detail}");
    assert_eq!(select_text(&detail, "#stock"), vec!["3"]);
    assert_eq!(select_text(&detail, "#waiting"), vec!["0"]);
    let trail = select_text(&detail, "#trail tbody tr");
    assert!(
        trail[0].contains("stock 0 → 3: Delivery from the workshop") && trail[0].contains("admin@"),
        "{trail:?}"
    );
    let mails = back_in_stock_mails(&app).await;
    assert_eq!(
        mails.iter().map(|(to, _)| to.as_str()).collect::<Vec<_>>(),
        vec!["ada@example.com", "grace@example.com"]
    );
    assert!(mails[0].1.contains("/products/brass-pen"), "{}", mails[0].1);

    // More stock, the minute job, another instance's job: nobody hears twice.
    set_stock(
        &app,
        &admin,
        "brass-pen",
        &[
            ("mode", "adjust"),
            ("quantity", "1"),
            ("reason", "Found one more"),
        ],
    )
    .await;
    assert_eq!(
        storefront::jobs::notify_restocked(&app.state)
            .await
            .unwrap(),
        0
    );
    assert_eq!(back_in_stock_mails(&app).await.len(), 2);
    let html = app.get_html("/products/brass-pen").await.1;
    assert!(select_text(&html, ".badge-sold-out").is_empty());

    // Sold out again: Ada asks again and is told again, once.
    set_stock(
        &app,
        &admin,
        "brass-pen",
        &[
            ("mode", "set"),
            ("quantity", "0"),
            ("reason", "Stock count"),
        ],
    )
    .await;
    assert_redirect_to(
        &notify_me(&app, &app.client, "brass-pen", "ada@example.com").await,
        "/products/brass-pen",
    );
    set_stock(
        &app,
        &admin,
        "brass-pen",
        &[("mode", "set"), ("quantity", "2"), ("reason", "Delivery")],
    )
    .await;
    let mails = back_in_stock_mails(&app).await;
    assert_eq!(
        mails
            .iter()
            .filter(|(to, _)| to == "ada@example.com")
            .count(),
        2
    );
    assert_eq!(mails.len(), 3);
}

#[actix_web::test]
async fn an_expired_checkout_that_frees_the_last_unit_tells_the_waiting_shopper() {
    let app = TestApp::spawn().await;
    // The last print is held by a checkout: sold out to everyone else.
    app.add_to_cart("harbour-print", 1).await;
    let session_url = app.checkout().await;
    let other = app.new_browser();
    assert_redirect_to(
        &notify_me(&app, &other, "harbour-print", "wait@example.com").await,
        "/products/harbour-print",
    );
    assert_eq!(
        storefront::jobs::notify_restocked(&app.state)
            .await
            .unwrap(),
        0
    );

    // The checkout expires: the unit is free again and the job tells the shopper.
    app.emulator_post("_emulator/clock/advance", &[("seconds", "90000")])
        .await;
    app.wait_for_deliveries().await;
    let number = app
        .order_by_session(&session_id_of(&session_url))
        .await
        .number;
    app.wait_for_status(&number, "expired").await;
    assert_eq!(
        storefront::jobs::notify_restocked(&app.state)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        storefront::jobs::notify_restocked(&app.state)
            .await
            .unwrap(),
        0
    );
    let mails = back_in_stock_mails(&app).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].0, "wait@example.com");
}

#[actix_web::test]
async fn stock_forms_refuse_bad_input_and_never_go_below_what_checkouts_hold() {
    let app = TestApp::spawn().await;
    let admin = app.admin_browser().await;
    // A checkout holds 2 linen aprons (of 8).
    app.add_to_cart("linen-apron", 2).await;
    app.checkout().await;
    let (_, detail) = page(&admin, app.url("/admin/products/linen-apron")).await;
    assert_eq!(
        (
            select_text(&detail, "#stock"),
            select_text(&detail, "#held"),
            select_text(&detail, "#available")
        ),
        (
            vec!["8".to_owned()],
            vec!["2".to_owned()],
            vec!["6".to_owned()]
        )
    );

    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: &[Case] = &[
        (
            &[("mode", "set"), ("quantity", "5")],
            "#reason-error",
            "Say why, in 3 to 200 characters",
        ),
        (
            &[("mode", "set"), ("quantity", "abc"), ("reason", "Count")],
            "#quantity-error",
            "Enter the units on the shelf",
        ),
        (
            &[("mode", "set"), ("quantity", "-1"), ("reason", "Count")],
            "#quantity-error",
            "Enter the units on the shelf",
        ),
        (
            &[("mode", "adjust"), ("quantity", "0"), ("reason", "Count")],
            "#quantity-error",
            "not 0",
        ),
        (
            &[("mode", "sideways"), ("quantity", "1"), ("reason", "Count")],
            "#mode-error",
            "Choose whether to set",
        ),
        (
            &[("quantity", "1"), ("reason", "Count")],
            "#mode-error",
            "Choose whether to set",
        ),
        (
            &[
                ("mode", "adjust"),
                ("quantity", "-9"),
                ("reason", "Damaged"),
            ],
            "#quantity-error",
            "Stock cannot go below 0",
        ),
        (
            &[("mode", "set"), ("quantity", "1"), ("reason", "Count")],
            "#quantity-error",
            "Open checkouts hold 2 unit(s)",
        ),
        (
            &[
                ("mode", "adjust"),
                ("quantity", "-7"),
                ("reason", "Damaged"),
            ],
            "#quantity-error",
            "Open checkouts hold 2 unit(s)",
        ),
    ];
    for (fields, field, message) in cases {
        let res = set_stock(&app, &admin, "linen-apron", fields).await;
        assert_eq!(res.status().as_u16(), 422, "{fields:?}");
        let html = res.text().await.unwrap();
        let shown = select_text(&html, field).join(" ");
        assert!(shown.contains(message), "{fields:?}: {shown:?}");
    }
    assert_eq!(
        app.stock("linen-apron").await,
        Some(8),
        "nothing was changed"
    );
    // Down to exactly what is held is fine; unlimited lifts the count.
    let res = set_stock(
        &app,
        &admin,
        "linen-apron",
        &[
            ("mode", "adjust"),
            ("quantity", "-6"),
            ("reason", "Damaged in the flood"),
        ],
    )
    .await;
    assert_redirect_to(&res, "/admin/products/linen-apron");
    assert_eq!(app.stock("linen-apron").await, Some(2));
    set_stock(
        &app,
        &admin,
        "linen-apron",
        &[("mode", "unlimited"), ("reason", "Made to order now")],
    )
    .await;
    assert_eq!(app.stock("linen-apron").await, None);
    let res = set_stock(
        &app,
        &admin,
        "linen-apron",
        &[("mode", "adjust"), ("quantity", "1"), ("reason", "x y z")],
    )
    .await;
    assert_eq!(res.status().as_u16(), 422);
    // A licence key product's stock is its keys; unknown products are 404.
    let res = set_stock(
        &app,
        &admin,
        "field-guide-app",
        &[("mode", "set"), ("quantity", "9"), ("reason", "More")],
    )
    .await;
    assert_eq!(res.status().as_u16(), 422);
    assert!(res.text().await.unwrap().contains("add keys instead"));
    let (status, _) = page(&admin, app.url("/admin/products/no-such-thing")).await;
    assert_eq!(status, 404);

    // Customers get 403; guests are sent to sign in.
    app.register_customer("nosy@example.com").await;
    for path in ["/admin/products", "/admin/products/linen-apron"] {
        let (status, _) = app.get_html(path).await;
        assert_eq!(status, 403, "{path}");
    }
    let res = post_with(
        &app,
        &app.client,
        "/account",
        "/admin/products/canvas-tote/stock",
        &[("mode", "set"), ("quantity", "1"), ("reason", "Mine now")],
    )
    .await;
    assert_eq!(res.status().as_u16(), 403);
    let guest = app.new_browser();
    let res = guest.get(app.url("/admin/products")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(app.stock("canvas-tote").await, Some(40));
}

#[actix_web::test]
async fn an_admin_edits_a_product_and_the_shop_and_stripe_follow() {
    let app = TestApp::spawn().await;
    // A checkout makes the tote's Stripe Product.
    app.add_to_cart("canvas-tote", 1).await;
    app.checkout().await;
    let stripe_id = app.stripe_product_of("canvas-tote").await;
    let admin = app.admin_browser().await;
    let (_, detail) = page(&admin, app.url("/admin/products/canvas-tote")).await;
    assert_eq!(
        select_attr(&detail, "#name", "value"),
        vec!["Canvas tote bag"]
    );
    assert_eq!(
        select_attr(&detail, "input[name=status][checked]", "value"),
        vec!["active"]
    );

    let edit = |fields: Vec<(&'static str, String)>| {
        let admin = admin.clone();
        let app = &app;
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post_with(
                app,
                &admin,
                "/admin/products/canvas-tote",
                "/admin/products/canvas-tote",
                &fields,
            )
            .await
        }
    };
    let good = |name: &str| {
        vec![
            ("name", name.to_owned()),
            (
                "description",
                "Heavy canvas.\r\n\r\nCarries a week of <b>groceries</b>.".to_owned(),
            ),
            ("tax_code", "txcd_99999999".to_owned()),
            ("status", "active".to_owned()),
            ("slug", "canvas-tote".to_owned()),
            ("category", String::new()),
        ]
    };
    let with = |mut fields: Vec<(&'static str, String)>, key: &str, value: &str| {
        for (k, v) in fields.iter_mut() {
            if *k == key {
                *v = value.to_owned();
            }
        }
        fields
    };
    // Bad input: a message per field, nothing saved.
    type Fields = Vec<(&'static str, String)>;
    let cases: Vec<(Fields, &str, &str)> = vec![
        (good("   "), "#name-error", "Give the product a name"),
        (
            with(good("Tote"), "tax_code", "txcd_123"),
            "#tax_code-error",
            "txcd_ and 8 digits",
        ),
        (
            with(good("Tote"), "description", &"x".repeat(5001)),
            "#description-error",
            "under 5,000 characters",
        ),
    ];
    for (fields, field, message) in cases {
        let res = edit(fields).await;
        assert_eq!(res.status().as_u16(), 422);
        let html = res.text().await.unwrap();
        assert!(
            select_text(&html, field).join(" ").contains(message),
            "{field}: {html}"
        );
    }
    assert_eq!(app.get_html("/products/canvas-tote").await.0, 200);
    assert!(
        app.get_html("/products/canvas-tote")
            .await
            .1
            .contains("Canvas tote bag")
    );

    // Saved: the shop shows it at once (paragraphs, markup escaped), Stripe's copy follows.
    let res = edit(good("Canvas market tote")).await;
    assert_redirect_to(&res, "/admin/products/canvas-tote");
    let html = app.get_html("/products/canvas-tote").await.1;
    assert_eq!(select_text(&html, "h1"), vec!["Canvas market tote"]);
    assert_eq!(
        select_text(&html, ".product-info > p:not(.price):not(.stock-note)"),
        vec!["Heavy canvas.", "Carries a week of <b>groceries</b>."]
    );
    let stripe = app.emulator_get(&format!("v1/products/{stripe_id}")).await;
    assert_eq!(stripe["name"], "Canvas market tote", "{stripe}");
    let (_, detail) = page(&admin, app.url("/admin/products/canvas-tote")).await;
    assert!(detail.contains("Saved Canvas market tote."), "{detail}");
    assert!(
        select_text(&detail, "#trail tbody tr")[0]
            .contains("name \"Canvas tote bag\" → \"Canvas market tote\"; description")
    );

    // Back to draft: gone from the shop and inactive at Stripe; the admin still finds it.
    let off = with(good("Canvas market tote"), "status", "draft");
    assert_redirect_to(&edit(off).await, "/admin/products/canvas-tote");
    assert_eq!(app.get_html("/products/canvas-tote").await.0, 404);
    assert!(!app.get_html("/").await.1.contains("Canvas market tote"));
    let stripe = app.emulator_get(&format!("v1/products/{stripe_id}")).await;
    assert_eq!(stripe["active"], false);
    let (_, list) = page(&admin, app.url("/admin/products?status=draft")).await;
    assert_eq!(
        select_text(&list, "#products tbody tr td a"),
        vec!["Canvas market tote"]
    );
}

#[actix_web::test]
async fn an_admin_creates_a_product_that_shoppers_buy_and_bad_input_makes_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin_browser().await;
    let (status, form) = page(&admin, app.url("/admin/products/new")).await;
    assert_eq!(status, 200);
    assert_eq!(
        select_attr(&form, "input[name=kind][checked]", "value"),
        vec!["physical"]
    );
    let create = |fields: Vec<(&'static str, String)>| {
        let admin = admin.clone();
        let app = &app;
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post_with(
                app,
                &admin,
                "/admin/products/new",
                "/admin/products",
                &fields,
            )
            .await
        }
    };
    let mug = |changes: &[(&'static str, &str)]| {
        let mut fields: Vec<(&'static str, String)> = vec![
            ("name", "Camp mug".into()),
            ("slug", "camp-mug".into()),
            (
                "description",
                "Speckled blue enamel, for the campfire.\r\n\r\nHolds 350 ml.".into(),
            ),
            ("kind", "physical".into()),
            ("price", "14.50".into()),
            ("stock", "3".into()),
            ("on_sale", "on".into()),
        ];
        for (k, v) in changes {
            match fields.iter_mut().find(|(key, _)| key == k) {
                Some(field) => field.1 = (*v).to_owned(),
                None => fields.push((k, (*v).to_owned())),
            }
        }
        fields.retain(|(_, v)| v != "<absent>");
        fields
    };
    type Changes<'a> = &'a [(&'static str, &'a str)];
    let cases: Vec<(Changes, &str, &str)> = vec![
        (&[("name", "")], "#name-error", "Give the product a name"),
        (
            &[("slug", "Enamel Mug")],
            "#slug-error",
            "lower-case letters",
        ),
        (
            &[("slug", "canvas-tote")],
            "#slug-error",
            "Another product already has this slug.",
        ),
        (
            &[("slug", "new")],
            "#slug-error",
            "names the new-product page",
        ),
        (
            &[("kind", "<absent>")],
            "#kind-error",
            "Choose physical or licence keys.",
        ),
        (
            &[("price", "abc")],
            "#price-error",
            "Price: enter a number, like 12.50.",
        ),
        (
            &[("price", "14.505")],
            "#price-error",
            "at most 2 decimal places",
        ),
        (&[("price", "0")], "#price-error", "tick Free"),
        (
            &[("price", "5"), ("free", "on")],
            "#price-error",
            "A free item's price is 0",
        ),
        (
            &[("stock", "-1")],
            "#stock-error",
            "Stock is a whole number",
        ),
        (
            &[("tax_code", "txcd_1")],
            "#tax_code-error",
            "txcd_ and 8 digits",
        ),
    ];
    for (changes, field, message) in cases {
        let res = create(mug(changes)).await;
        assert_eq!(res.status().as_u16(), 422, "{changes:?}");
        let html = res.text().await.unwrap();
        assert!(
            select_text(&html, field).join(" ").contains(message),
            "{changes:?}: {html}"
        );
        // What was typed stays in the form.
        assert_eq!(select_attr(&html, "#name", "value").len(), 1);
        assert_eq!(
            app.get_html("/products/camp-mug").await.0,
            404,
            "{changes:?}"
        );
    }
    assert_eq!(
        app.get_html("/products/camp-mug").await.0,
        404,
        "nothing was made"
    );

    // Made: on sale at once, with its price, stock and paragraphs.
    let res = create(mug(&[])).await;
    assert_redirect_to(&res, "/admin/products/camp-mug");
    let (_, detail) = page(&admin, app.url("/admin/products/camp-mug")).await;
    assert!(
        detail.contains("Created Camp mug. It is on sale."),
        "{detail}"
    );
    assert!(select_text(&detail, "#trail tbody tr")[0].contains("product created"));
    let html = app.get_html("/products/camp-mug").await.1;
    assert_eq!(select_text(&html, ".price-large"), vec!["$14.50"]);
    assert_eq!(select_text(&html, ".stock-note"), vec!["Only 3 left"]);
    assert!(app.get_html("/").await.1.contains("Camp mug"));

    // A shopper buys two; Stripe's Product and Price are made on the way; stock follows.
    app.add_to_cart("camp-mug", 2).await;
    let session_url = app.checkout().await;
    app.pay_ok(&session_url).await;
    let number = app
        .order_by_session(&session_id_of(&session_url))
        .await
        .number;
    let order = app.wait_for_status(&number, "paid").await;
    assert_eq!(
        order.amount_total, 2900,
        "two mugs (tests sell without shipping rates)"
    );
    assert_eq!(app.stock("camp-mug").await, Some(1));
    let stripe = app
        .emulator_get(&format!(
            "v1/products/{}",
            app.stripe_product_of("camp-mug").await
        ))
        .await;
    assert_eq!(stripe["name"], "Camp mug");

    // A draft (not on sale) and a free item.
    let res = create(mug(&[("slug", "draft-mug"), ("on_sale", "<absent>")])).await;
    assert_redirect_to(&res, "/admin/products/draft-mug");
    assert_eq!(app.get_html("/products/draft-mug").await.0, 404);
    let res = create(mug(&[
        ("slug", "free-sticker"),
        ("name", "Sticker"),
        ("price", ""),
        ("free", "on"),
    ]))
    .await;
    assert_redirect_to(&res, "/admin/products/free-sticker");
    let html = app.get_html("/products/free-sticker").await.1;
    assert_eq!(select_text(&html, ".price-large"), vec!["$0.00"]);
}

/// Hundreds of shoppers waiting for a product still sold out never hide one whose product is
/// back: the job looks at products that can be bought first.
#[actix_web::test]
async fn a_crowd_waiting_for_a_sold_out_product_does_not_hide_a_restocked_one() {
    let app = TestApp::spawn().await;
    let now = app.clock.unix();
    storefront::db::run(&app.pool, move |conn| {
        use diesel::prelude::*;
        use storefront::schema::{products, stock_alerts};
        let id_of = |conn: &mut storefront::db::AnyConnection, slug: &str| {
            products::table
                .filter(products::slug.eq(slug))
                .select(products::id)
                .first::<i64>(conn)
        };
        let pen = id_of(conn, "brass-pen")?;
        let print = id_of(conn, "harbour-print")?;
        for n in 0..600 {
            diesel::insert_into(stock_alerts::table)
                .values((
                    stock_alerts::product_id.eq(pen),
                    stock_alerts::email.eq(format!("fan{n}@example.com")),
                    stock_alerts::created_at.eq(now),
                ))
                .execute(conn)?;
        }
        // The print is in stock (one left): its alert is due.
        diesel::insert_into(stock_alerts::table)
            .values((
                stock_alerts::product_id.eq(print),
                stock_alerts::email.eq("late@example.com"),
                stock_alerts::created_at.eq(now),
            ))
            .execute(conn)
            .map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap();
    assert_eq!(
        storefront::jobs::notify_restocked(&app.state)
            .await
            .unwrap(),
        1
    );
    let mails = back_in_stock_mails(&app).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].0, "late@example.com");
}

#[actix_web::test]
async fn the_products_csv_lists_stock_and_never_carries_a_formula() {
    let app = TestApp::spawn().await;
    app.add_to_cart("linen-apron", 2).await;
    app.checkout().await;
    storefront::db::run(&app.pool, |conn| {
        use diesel::prelude::*;
        use storefront::schema::products;
        diesel::update(products::table.filter(products::slug.eq("canvas-tote")))
            .set(products::name.eq("=HYPERLINK(\"http://evil.example\"), tote"))
            .execute(conn)
            .map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap();
    let admin = app.admin_browser().await;
    let res = admin
        .get(app.url("/admin/products.csv"))
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
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "slug,name,kind,status,price_usd,stock,held,available"
    );
    assert!(
        lines.contains(&"brass-pen,Brass pocket pen,physical,active,54.00,0,0,0"),
        "{csv}"
    );
    assert!(
        lines.contains(&"linen-apron,Linen apron,physical,active,38.00,8,2,6"),
        "{csv}"
    );
    assert!(
        lines.contains(&"canvas-tote,\"'=HYPERLINK(\"\"http://evil.example\"\"), tote\",physical,active,18.00,40,0,40"),
        "{csv}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("field-guide-app,") && l.contains("digital (keys)"))
    );

    app.register_customer("nosy@example.com").await;
    assert_eq!(app.get("/admin/products.csv").await.status().as_u16(), 403);
}

/// The commit-time guard: a payment for more units than are on the shelf (a hold lost, a count
/// corrected under it) takes what is there, never drives stock below zero, and reports the
/// shortfall so the order is flagged as oversold.
#[actix_web::test]
async fn committing_more_units_than_the_shelf_holds_empties_it_and_reports_the_shortfall() {
    use diesel::prelude::*;
    use storefront::schema::{product_variants, products};
    let app = TestApp::spawn().await;
    app.set_stock("canvas-tote", Some(2)).await;
    let short = storefront::db::run(&app.pool, |conn| {
        let variant: i64 = product_variants::table
            .inner_join(products::table)
            .filter(products::slug.eq("canvas-tote"))
            .select(product_variants::id)
            .first(conn)?;
        storefront::db::write_tx(conn, |conn| {
            storefront::inventory::commit(conn, -1, &[(variant, 3)], 0)
        })
        .map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap();
    assert_eq!(short, 1, "one unit was not there");
    assert_eq!(app.stock("canvas-tote").await, Some(0));
}
