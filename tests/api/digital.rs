//! Digital goods: no address asked, a download counted against its limit and revoked by a
//! refund, licence keys taken once each however fulfilments race, and keys that were pending.

use crate::helpers::*;

/// Buys `quantity` of `slug` with a new browser (its own cart); returns the order number and
/// the browser (which may see the success page).
async fn buy(app: &TestApp, slug: &str, quantity: &str) -> (String, reqwest::Client, String) {
    let browser = app.new_browser();
    let res = app.add_to_cart_with(&browser, slug, quantity).await;
    assert_eq!(res.status().as_u16(), 303);
    let res = app.checkout_with(&browser, "buyer@example.com").await;
    assert_eq!(res.status().as_u16(), 303, "{}", res.text().await.unwrap());
    let session_url = location(&res);
    let number = app
        .order_by_session(&session_id_of(&session_url))
        .await
        .number;
    (number, browser, session_url)
}

#[actix_web::test]
async fn a_download_works_up_to_its_limit_then_refuses_and_a_refund_revokes_it() {
    let app = TestApp::spawn().await;
    let (number, browser, session_url) = buy(&app, "harbour-map", "1").await;
    // Nothing to ship: no address asked.
    let session = app
        .emulator_get(&format!(
            "v1/checkout/sessions/{}",
            session_id_of(&session_url)
        ))
        .await;
    assert_eq!(
        session["shipping_address_collection"],
        serde_json::Value::Null
    );
    let success = app.pay_ok(&session_url).await;
    app.wait_for_status(&number, "paid").await;
    app.wait_for_deliveries().await;
    assert_eq!(app.order(&number).await.fulfilment_status, "not_required");

    let (_, page) = fetch_page(&browser, success).await;
    let links = select_attr(&page, "a.download-link", "href");
    assert_eq!(links.len(), 1, "{page}");
    let link = app.url(&links[0]);
    for n in 1..=5 {
        let res = plain_client().get(&link).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 200, "download {n}");
        assert!(
            res.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .contains("attachment; filename=\"harbour-map.svg\"")
        );
        assert_eq!(res.headers()["content-type"], "image/svg+xml");
        assert!(res.bytes().await.unwrap().starts_with(b"<svg"));
    }
    let res = plain_client().get(&link).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 410, "the sixth download");
    assert!(res.text().await.unwrap().contains("downloaded 5 times"));

    // A forged or altered link is not found; an old one has expired.
    let altered = link.replace("/downloads/", "/downloads/9");
    assert_eq!(
        plain_client()
            .get(&altered)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );
    let parts: Vec<&str> = links[0].split('/').collect();
    let later = format!(
        "/downloads/{}/{}/{}",
        parts[2],
        parts[3].parse::<i64>().unwrap() + 1,
        parts[4]
    );
    assert_eq!(
        plain_client()
            .get(app.url(&later))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );

    // The receipt carries a link signed when it was sent; the outbox holds only a placeholder.
    let mails = app.outbox().await;
    let receipt = mails.iter().find(|m| m.kind == "receipt_paid").unwrap();
    assert!(
        receipt.body_text.contains("DOWNLOAD-LINK-"),
        "{}",
        receipt.body_text
    );
    assert!(!receipt.body_text.contains("/downloads/"));
    assert!(receipt.body_text.contains("Nothing to ship"));
    storefront::mail::worker::run_once(&app.state)
        .await
        .unwrap();
    let sent = app
        .state
        .dev_inbox
        .get(receipt.id)
        .expect("delivered to the demo inbox");
    assert!(
        sent.contains(&format!("{}/downloads/", app.address)),
        "{sent}"
    );

    // A second order, refunded in full: its download is refused.
    let (second, browser, session_url) = buy(&app, "harbour-map", "1").await;
    let success = app.pay_ok(&session_url).await;
    app.wait_for_status(&second, "paid").await;
    let (_, page) = fetch_page(&browser, success.clone()).await;
    let link = app.url(&select_attr(&page, "a.download-link", "href")[0]);
    let admin = app.admin_browser().await;
    let (_, order_page) = fetch_page(&admin, app.url(&format!("/admin/orders/{second}"))).await;
    let res = admin
        .post(app.url(&format!("/admin/orders/{second}/refunds")))
        .form(&[
            ("csrf_token", csrf_token(&order_page).as_str()),
            (
                "token",
                select_attr(&order_page, "input[name=token]", "value")[0].as_str(),
            ),
            ("amount", "4.00"),
            ("reason", "requested_by_customer"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 303);
    app.wait_for_status(&second, "refunded").await;
    let res = plain_client().get(&link).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 403);
    assert!(res.text().await.unwrap().contains("refunded or disputed"));
    let (_, page) = fetch_page(&browser, success).await;
    assert!(select_attr(&page, "a.download-link", "href").is_empty());
    assert!(page.contains("id=\"digital-revoked\""));

    // Links expire: a day later the first order's page link is refused as expired.
    let (_, page) = fetch_page(&app.client, app.url("/")).await;
    drop(page);
    app.clock.advance(chrono::TimeDelta::hours(25));
    let res = plain_client().get(app.url(&links[0])).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 410);
    assert!(res.text().await.unwrap().contains("expired"));
}

/// The keys sold, as (key, order item) pairs.
async fn sold_keys(app: &TestApp) -> Vec<(String, i64)> {
    storefront::db::run(&app.pool, |conn| {
        use diesel::prelude::*;
        use storefront::schema::licence_keys;
        licence_keys::table
            .filter(licence_keys::order_item_id.is_not_null())
            .select((
                licence_keys::licence_key,
                licence_keys::order_item_id.assume_not_null(),
            ))
            .load(conn)
            .map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap()
}

#[actix_web::test]
async fn the_last_five_keys_go_to_five_concurrent_buyers_once_each() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.stock("field-guide-app").await,
        Some(5),
        "the pool is the stock"
    );
    let mut sessions = Vec::new();
    for _ in 0..5 {
        let (number, _, url) = buy(&app, "field-guide-app", "1").await;
        sessions.push((number, url));
    }
    // Sold out while the five are held.
    let (_, product) = app.get_html("/products/field-guide-app").await;
    assert!(product.contains("Sold out"), "{product}");
    // All five pay at once, and each session is fulfilled three times at once (webhook,
    // success page, reconcile).
    let pays = sessions.iter().map(|(_, url)| app.pay(url, CARD_OK));
    for res in futures_util::future::join_all(pays).await {
        assert_eq!(res.status().as_u16(), 303);
    }
    let state = app.state.clone();
    let fulfils: Vec<_> = sessions
        .iter()
        .flat_map(|(_, url)| std::iter::repeat_n(session_id_of(url), 3))
        .map(|id| {
            let state = state.clone();
            async move { storefront::checkout::fulfil::fulfil_checkout(&state, &id, None).await }
        })
        .collect();
    for r in futures_util::future::join_all(fulfils).await {
        r.unwrap();
    }
    for (number, _) in &sessions {
        app.wait_for_status(number, "paid").await;
    }
    app.wait_for_deliveries().await;
    let sold = sold_keys(&app).await;
    assert_eq!(sold.len(), 5);
    let mut keys: Vec<&String> = sold.iter().map(|(k, _)| k).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 5, "no key twice");
    let mut items: Vec<i64> = sold.iter().map(|(_, i)| *i).collect();
    items.sort_unstable();
    items.dedup();
    assert_eq!(items.len(), 5, "one key per buyer");
    assert_eq!(app.stock("field-guide-app").await, Some(0));
    // Each receipt names its key.
    let mails = app.outbox().await;
    let receipts: Vec<_> = mails.iter().filter(|m| m.kind == "receipt_paid").collect();
    assert_eq!(receipts.len(), 5);
    for key in keys {
        assert_eq!(
            receipts
                .iter()
                .filter(|m| m.body_text.contains(key.as_str()))
                .count(),
            1,
            "{key} is in one receipt"
        );
    }
}

#[actix_web::test]
async fn a_paid_order_the_pool_cannot_serve_waits_for_keys_and_gets_them_when_added() {
    let app = TestApp::spawn().await;
    app.register_customer("keys@example.com").await;
    app.add_to_cart("field-guide-app", 2).await;
    let session_url = app.checkout().await;
    let number = app
        .order_by_session(&session_id_of(&session_url))
        .await
        .number;
    // The pool empties behind the shop's back (keys revoked by the vendor, say).
    storefront::db::run(&app.pool, |conn| {
        use diesel::prelude::*;
        use storefront::schema::licence_keys;
        diesel::delete(licence_keys::table.filter(licence_keys::order_item_id.is_null()))
            .execute(conn)
            .map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap();
    app.pay_ok(&session_url).await;
    app.wait_for_status(&number, "paid").await;
    app.wait_for_deliveries().await;
    // Payment never blocks: paid, the keys pending, the receipt says so, the dashboard alerts.
    let (_, mine) = fetch_page(&app.client, app.url(&format!("/account/orders/{number}"))).await;
    assert_eq!(select_text(&mine, ".key-pending").len(), 1, "{mine}");
    let admin = app.admin_browser().await;
    let (_, dashboard) = fetch_page(&admin, app.url("/admin/dashboard")).await;
    assert!(dashboard.contains("id=\"keys-pending-alert\""));
    let (_, admin_order) = fetch_page(&admin, app.url(&format!("/admin/orders/{number}"))).await;
    assert_eq!(
        select_text(&admin_order, "#digital-admin + ul .key-pending"),
        vec!["2 key(s) pending: the pool ran out."]
    );
    assert_eq!(select_text(&dashboard, "#keys-pending td.num"), vec!["2"]);

    // Bad input on the keys form.
    let (status, form) = fetch_page(&admin, app.url("/admin/products/field-guide-app/keys")).await;
    assert_eq!(status, 200);
    assert_eq!(select_text(&form, "#keys-waiting"), vec!["2"]);
    let post = |keys: &'static str| {
        let admin = admin.clone();
        let csrf = csrf_token(&form);
        let url = app.url("/admin/products/field-guide-app/keys");
        async move {
            let res = admin
                .post(url)
                .form(&[("csrf_token", csrf.as_str()), ("keys", keys)])
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        }
    };
    let (status, body) = post("   \n  ").await;
    assert_eq!(status, 422);
    assert_eq!(
        select_text(&body, "#keys-error"),
        vec!["Paste at least one key, one per line."]
    );
    let (status, body) = post("GOOD-KEY-0001\nbad key").await;
    assert_eq!(status, 422);
    assert!(
        select_text(&body, "#keys-error")[0].starts_with("Line 2:"),
        "{body}"
    );
    assert!(
        body.contains("GOOD-KEY-0001\nbad key</textarea>"),
        "what was typed is kept"
    );
    let (status, _) = fetch_page(&admin, app.url("/admin/products/canvas-tote/keys")).await;
    assert_eq!(status, 404, "not a key product");
    let (status, _) = fetch_page(
        &app.new_browser(),
        app.url("/admin/products/field-guide-app/keys"),
    )
    .await;
    assert_ne!(status, 200);

    // Three keys: two go to the waiting order (and an e-mail), one is stock; a repeat is skipped.
    let (status, _) = post("NEW-KEY-0001\nNEW-KEY-0002\nNEW-KEY-0003\nNEW-KEY-0001").await;
    assert_eq!(status, 303);
    app.wait_for_deliveries().await;
    let (_, mine) = fetch_page(&app.client, app.url(&format!("/account/orders/{number}"))).await;
    assert_eq!(
        select_text(&mine, ".licence-key"),
        vec!["NEW-KEY-0001", "NEW-KEY-0002"]
    );
    assert!(select_text(&mine, ".key-pending").is_empty());
    assert_eq!(app.stock("field-guide-app").await, Some(1));
    let (_, admin_order) = fetch_page(&admin, app.url(&format!("/admin/orders/{number}"))).await;
    assert_eq!(
        select_text(&admin_order, "#digital-admin + ul .licence-key"),
        vec!["NEW-KEY-0001", "NEW-KEY-0002"]
    );
    let mails = app.outbox().await;
    let keys_mail: Vec<_> = mails.iter().filter(|m| m.kind == "licence_keys").collect();
    assert_eq!(keys_mail.len(), 1);
    assert!(
        keys_mail[0]
            .body_text
            .contains("NEW-KEY-0001, NEW-KEY-0002")
    );
    let (_, dashboard) = fetch_page(&admin, app.url("/admin/dashboard")).await;
    assert!(!dashboard.contains("id=\"keys-pending-alert\""));
}

#[actix_web::test]
async fn refunding_a_digital_line_takes_its_file_and_key_back_and_never_restocks_a_key() {
    let app = TestApp::spawn().await;
    let browser = app.new_browser();
    for slug in ["harbour-map", "field-guide-app"] {
        let res = app.add_to_cart_with(&browser, slug, "1").await;
        assert_eq!(res.status().as_u16(), 303);
    }
    let res = app.checkout_with(&browser, "buyer@example.com").await;
    let session_url = location(&res);
    let number = app
        .order_by_session(&session_id_of(&session_url))
        .await
        .number;
    let success = app.pay_ok(&session_url).await;
    app.wait_for_status(&number, "paid").await;
    let (_, page) = fetch_page(&browser, success.clone()).await;
    let link = app.url(&select_attr(&page, "a.download-link", "href")[0]);
    assert_eq!(select_text(&page, ".licence-key").len(), 1);
    assert_eq!(app.stock("field-guide-app").await, Some(4));

    // The admin refunds each line with "Refund this line": nothing goes back on a shelf.
    let admin = app.admin_browser().await;
    for n in 0..2 {
        let (_, order_page) = fetch_page(&admin, app.url(&format!("/admin/orders/{number}"))).await;
        let proposal = select_attr(&order_page, ".line-proposal", "href").remove(0);
        let (_, form) = fetch_page(&admin, app.url(&proposal)).await;
        assert!(
            select_attr(&form, ".refund-form input[type=number]", "value")
                .iter()
                .all(|v| v == "0"),
            "refund {n}: a digital line restocks nothing"
        );
        let mut fields: Vec<(String, String)> = vec![
            ("csrf_token".into(), csrf_token(&form)),
            (
                "token".into(),
                select_attr(&form, "input[name=token]", "value").remove(0),
            ),
            (
                "amount".into(),
                select_attr(&form, "input[name=amount]", "value").remove(0),
            ),
            ("reason".into(), "requested_by_customer".into()),
            (
                "line".into(),
                select_attr(&form, "input[name=line]", "value").remove(0),
            ),
        ];
        // Even a forced restock of the line does not make a key sellable again.
        let line = select_attr(&form, "input[name=line]", "value").remove(0);
        fields.push((format!("restock_{line}"), "1".into()));
        let res = admin
            .post(app.url(&format!("/admin/orders/{number}/refunds")))
            .form(&fields)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 303);
        app.wait_for_deliveries().await;
    }
    app.wait_for_status(&number, "refunded").await;
    assert_eq!(
        app.stock("field-guide-app").await,
        Some(4),
        "the sold key stays sold"
    );
    assert_eq!(
        plain_client()
            .get(&link)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        403
    );
    let (_, page) = fetch_page(&browser, success).await;
    assert!(select_text(&page, ".licence-key").is_empty());
}

#[actix_web::test]
async fn a_line_refunded_in_part_keeps_its_download_and_one_refunded_in_full_loses_it() {
    let app = TestApp::spawn().await;
    let browser = app.new_browser();
    let res = app.add_to_cart_with(&browser, "harbour-map", "1").await;
    assert_eq!(res.status().as_u16(), 303);
    let res = app.add_to_cart_with(&browser, "canvas-tote", "1").await;
    assert_eq!(res.status().as_u16(), 303);
    let res = app.checkout_with(&browser, "buyer@example.com").await;
    let session_url = location(&res);
    let number = app
        .order_by_session(&session_id_of(&session_url))
        .await
        .number;
    let success = app.pay_ok(&session_url).await;
    app.wait_for_status(&number, "paid").await;
    let (_, page) = fetch_page(&browser, success.clone()).await;
    let link = app.url(&select_attr(&page, "a.download-link", "href")[0]);
    let admin = app.admin_browser().await;
    let refund_line = |amount: &'static str| {
        let (admin, app) = (&admin, &app);
        let number = number.clone();
        async move {
            let (_, order_page) =
                fetch_page(admin, app.url(&format!("/admin/orders/{number}"))).await;
            let map_line = select_attr(&order_page, ".line-proposal", "href")
                .into_iter()
                .find(|h| h.contains("line="))
                .unwrap();
            let (_, form) = fetch_page(admin, app.url(&map_line)).await;
            let res = admin
                .post(app.url(&format!("/admin/orders/{number}/refunds")))
                .form(&[
                    ("csrf_token", csrf_token(&form)),
                    (
                        "token",
                        select_attr(&form, "input[name=token]", "value").remove(0),
                    ),
                    ("amount", amount.to_owned()),
                    ("reason", "requested_by_customer".to_owned()),
                    (
                        "line",
                        select_attr(&form, "input[name=line]", "value").remove(0),
                    ),
                ])
                .send()
                .await
                .unwrap();
            assert_eq!(res.status().as_u16(), 303);
            app.wait_for_deliveries().await;
        }
    };
    // Half of the map's $4.00 back (goodwill for a smudge): the file stays the customer's.
    refund_line("2.00").await;
    assert_eq!(
        plain_client()
            .get(&link)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    // The rest of it: the line is refunded in full and its download is gone, though the
    // order (the tote) is still partly paid.
    refund_line("2.00").await;
    assert_eq!(app.order(&number).await.status, "partially_refunded");
    assert_eq!(
        plain_client()
            .get(&link)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        403
    );
    let (_, page) = fetch_page(&browser, success).await;
    assert_eq!(select_text(&page, ".digital-refunded").len(), 1);
}
