//! Shipping paid orders from the admin pages: the queue, parcels with tracking, delivery, the
//! customer's timeline and e-mails, and how refunds and shipping meet.

use std::collections::HashMap;

use crate::helpers::*;

/// The ship form of an admin order page, as a browser would post it, with `changes` applied
/// (a field set to "" is left out).
async fn ship(
    app: &TestApp,
    admin: &reqwest::Client,
    number: &str,
    changes: &[(&str, &str)],
) -> (u16, String) {
    let page = admin_page(app, admin, number).await;
    let mut form: HashMap<String, String> = HashMap::from([
        ("csrf_token".to_owned(), csrf_token(&page)),
        (
            "form_key".to_owned(),
            select_attr(&page, "#ship-form input[name=form_key]", "value").remove(0),
        ),
        ("carrier".to_owned(), "ups".to_owned()),
        (
            "tracking_number".to_owned(),
            "1Z999AA10123456784".to_owned(),
        ),
    ]);
    let names = select_attr(&page, "#ship-form input[type=number]", "name");
    let values = select_attr(&page, "#ship-form input[type=number]", "value");
    form.extend(names.into_iter().zip(values));
    for (k, v) in changes {
        if v.is_empty() {
            form.remove(*k);
        } else {
            form.insert((*k).to_owned(), (*v).to_owned());
        }
    }
    post(
        app,
        admin,
        &format!("/admin/orders/{number}/shipments"),
        &form,
    )
    .await
}

async fn post(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    form: &HashMap<String, String>,
) -> (u16, String) {
    let res = client.post(app.url(path)).form(form).send().await.unwrap();
    let status = res.status().as_u16();
    let location = location(&res);
    let body = res.text().await.unwrap();
    (status, if location.is_empty() { body } else { location })
}

async fn admin_page(app: &TestApp, admin: &reqwest::Client, number: &str) -> String {
    let res = admin
        .get(app.url(&format!("/admin/orders/{number}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    res.text().await.unwrap()
}

/// The order's mails of one kind (`order_shipped`, `order_delivered`…).
async fn mails(app: &TestApp, kind: &'static str) -> Vec<storefront::mail::outbox::QueuedMail> {
    app.outbox()
        .await
        .into_iter()
        .filter(|m| m.kind == kind)
        .collect()
}

async fn queue(app: &TestApp, admin: &reqwest::Client) -> Vec<String> {
    let (status, page) = fetch_page(admin, app.url("/admin/shipping")).await;
    assert_eq!(status, 200, "{page}");
    select_text(&page, "#shipping-queue tbody td:first-child a")
}

/// Posts the delivered button of the order's `n`th parcel.
async fn deliver(app: &TestApp, admin: &reqwest::Client, number: &str, n: usize) -> (u16, String) {
    let page = admin_page(app, admin, number).await;
    let action = select_attr(&page, "#parcels form", "action").remove(n);
    let form = HashMap::from([("csrf_token".to_owned(), csrf_token(&page))]);
    post(app, admin, &action, &form).await
}

#[actix_web::test]
async fn an_admin_ships_a_paid_order_and_marks_it_delivered_and_the_customer_sees_each_step() {
    let app = TestApp::spawn().await;
    app.register_customer("shopper@example.com").await;
    let number = app.paid_order(2, CARD_OK).await;
    let admin = app.admin_browser().await;

    let page = admin_page(&app, &admin, &number).await;
    assert_eq!(
        select_text(&page, "#fulfilment-status"),
        vec!["Not shipped yet"]
    );
    assert_eq!(queue(&app, &admin).await, vec![number.clone()]);
    let (_, mine) = fetch_page(&app.client, app.url(&format!("/account/orders/{number}"))).await;
    assert!(
        select_text(&mine, "#timeline li")
            .iter()
            .any(|s| s.contains("Preparing your order")),
        "{mine}"
    );

    // Shipped with a tracking number: off the queue, on the customer's page, one e-mail.
    let (status, location) = ship(&app, &admin, &number, &[]).await;
    assert_eq!(status, 303, "{location}");
    assert_eq!(app.order(&number).await.fulfilment_status, "shipped");
    assert!(queue(&app, &admin).await.is_empty());
    let (_, mine) = fetch_page(&app.client, app.url(&format!("/account/orders/{number}"))).await;
    let steps = select_text(&mine, "#timeline li");
    assert!(
        steps
            .iter()
            .any(|s| s.contains("Shipped") && s.contains("2 × Canvas tote bag, with UPS")),
        "{steps:?}"
    );
    assert_eq!(
        select_attr(&mine, "#timeline a", "href"),
        vec!["https://www.ups.com/track?tracknum=1Z999AA10123456784"]
    );
    let shipped = mails(&app, "order_shipped").await;
    assert_eq!(shipped.len(), 1);
    assert_eq!(shipped[0].recipient, "shopper@example.com");
    assert!(
        shipped[0].body_text.contains("1Z999AA10123456784"),
        "{}",
        shipped[0].body_text
    );

    // Delivered, once: a second click changes nothing and mails nobody.
    let (status, _) = deliver(&app, &admin, &number, 0).await;
    assert_eq!(status, 303);
    assert_eq!(app.order(&number).await.fulfilment_status, "delivered");
    let page = admin_page(&app, &admin, &number).await;
    assert_eq!(select_text(&page, "#fulfilment-status"), vec!["Delivered"]);
    assert!(
        select_attr(&page, "#parcels form", "action").is_empty(),
        "no button once delivered"
    );
    let form = HashMap::from([("csrf_token".to_owned(), csrf_token(&page))]);
    let parcel = storefront::db::run(&app.pool, |conn| {
        use diesel::prelude::*;
        storefront::schema::shipments::table
            .select(storefront::schema::shipments::id)
            .first::<i64>(conn)
            .map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap();
    let (status, _) = post(
        &app,
        &admin,
        &format!("/admin/orders/{number}/shipments/{parcel}/delivered"),
        &form,
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(mails(&app, "order_delivered").await.len(), 1);
    let (_, mine) = fetch_page(&app.client, app.url(&format!("/account/orders/{number}"))).await;
    assert!(
        select_text(&mine, "#timeline li")
            .iter()
            .any(|s| s.contains("Delivered"))
    );

    // Every step is in the audit trail, once.
    let actions = storefront::db::run(&app.pool, |conn| {
        use diesel::prelude::*;
        use storefront::schema::audit_log;
        audit_log::table
            .filter(audit_log::action.eq_any(["shipped", "delivered"]))
            .order(audit_log::id.asc())
            .select(audit_log::action)
            .load::<String>(conn)
            .map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap();
    assert_eq!(actions, vec!["shipped", "delivered"]);
}

#[actix_web::test]
async fn a_resubmitted_ship_form_records_one_parcel_and_one_email() {
    let app = TestApp::spawn().await;
    let number = app.paid_order(3, CARD_OK).await;
    let admin = app.admin_browser().await;
    let page = admin_page(&app, &admin, &number).await;
    let item = select_attr(&page, "#ship-form input[type=number]", "name").remove(0);
    let form = HashMap::from([
        ("csrf_token".to_owned(), csrf_token(&page)),
        (
            "form_key".to_owned(),
            select_attr(&page, "#ship-form input[name=form_key]", "value").remove(0),
        ),
        ("carrier".to_owned(), "dhl".to_owned()),
        ("tracking_number".to_owned(), "JD014600003".to_owned()),
        (item, "1".to_owned()),
    ]);
    let path = format!("/admin/orders/{number}/shipments");
    // A double-click: the same form twice at once.
    let (a, b) = tokio::join!(
        post(&app, &admin, &path, &form),
        post(&app, &admin, &path, &form)
    );
    assert_eq!((a.0, b.0), (303, 303));
    let order = app.order(&number).await;
    assert_eq!(order.fulfilment_status, "partially_shipped");
    assert_eq!(mails(&app, "order_shipped").await.len(), 1);
    let page = admin_page(&app, &admin, &number).await;
    assert_eq!(select_text(&page, "#parcels .parcel").len(), 1);
    // Two units are still to go: the order stays on the queue, marked partly shipped.
    let (_, q) = fetch_page(&admin, app.url("/admin/shipping")).await;
    assert!(q.contains("(partly shipped)"), "{q}");
    assert_eq!(select_text(&q, "#shipping-queue td.num"), vec!["2"]);
}

#[actix_web::test]
async fn a_partial_shipment_then_a_refund_of_the_unshipped_line_restocks_only_that_line() {
    let app = TestApp::spawn().await;
    app.add_to_cart("canvas-tote", 2).await;
    app.add_to_cart("enamel-mug", 1).await;
    let session_url = app.checkout().await;
    let number = app
        .order_by_session(&session_id_of(&session_url))
        .await
        .number;
    assert_eq!(app.pay(&session_url, CARD_OK).await.status().as_u16(), 303);
    app.wait_for_status(&number, "paid").await;
    app.wait_for_deliveries().await;
    let (totes, mugs) = (
        app.stock("canvas-tote").await,
        app.stock("enamel-mug").await,
    );
    let admin = app.admin_browser().await;

    // The totes go out; the mug does not.
    let page = admin_page(&app, &admin, &number).await;
    let fields = select_attr(&page, "#ship-form input[type=number]", "name");
    let (status, _) = ship(&app, &admin, &number, &[(fields[1].as_str(), "0")]).await;
    assert_eq!(status, 303);
    assert_eq!(
        app.order(&number).await.fulfilment_status,
        "partially_shipped"
    );

    // Refunding the mug's line proposes its unit back to stock; the totes' line, shipped,
    // proposes none.
    let page = admin_page(&app, &admin, &number).await;
    let links = select_attr(&page, ".line-proposal", "href");
    let (_, tote_form) = fetch_page(&admin, app.url(&links[0])).await;
    assert_eq!(
        select_attr(&tote_form, ".refund-form input[type=number]", "value"),
        vec!["0", "0"]
    );
    let (_, mug_form) = fetch_page(&admin, app.url(&links[1])).await;
    assert_eq!(
        select_attr(&mug_form, ".refund-form input[type=number]", "value"),
        vec!["0", "1"]
    );
    let mut form: HashMap<String, String> = HashMap::from([
        ("csrf_token".to_owned(), csrf_token(&mug_form)),
        (
            "token".to_owned(),
            select_attr(&mug_form, "input[name=token]", "value").remove(0),
        ),
        (
            "amount".to_owned(),
            select_attr(&mug_form, "input[name=amount]", "value").remove(0),
        ),
        ("reason".to_owned(), "requested_by_customer".to_owned()),
        (
            "line".to_owned(),
            select_attr(&mug_form, "input[name=line]", "value").remove(0),
        ),
    ]);
    let names = select_attr(&mug_form, ".refund-form input[type=number]", "name");
    let values = select_attr(&mug_form, ".refund-form input[type=number]", "value");
    form.extend(names.into_iter().zip(values));
    let (status, body) = post(
        &app,
        &admin,
        &format!("/admin/orders/{number}/refunds"),
        &form,
    )
    .await;
    assert_eq!(status, 303, "{body}");
    app.wait_for_deliveries().await;

    assert_eq!(
        app.stock("enamel-mug").await,
        mugs.map(|m| m + 1),
        "the mug is back"
    );
    assert_eq!(
        app.stock("canvas-tote").await,
        totes,
        "the shipped totes are not"
    );
    // Nothing is left to ship: the order is shipped and leaves the queue.
    let order = app.order(&number).await;
    assert_eq!(order.status, "partially_refunded");
    assert_eq!(order.fulfilment_status, "shipped");
    assert!(queue(&app, &admin).await.is_empty());
}

#[actix_web::test]
async fn a_full_refund_of_an_unshipped_order_cancels_its_shipping_and_it_cannot_be_shipped() {
    let app = TestApp::spawn().await;
    let number = app.paid_order(1, CARD_OK).await;
    let admin = app.admin_browser().await;
    // The ship form was on the page before the refund.
    let before = admin_page(&app, &admin, &number).await;

    let page = admin_page(&app, &admin, &number).await;
    let form = HashMap::from([
        ("csrf_token".to_owned(), csrf_token(&page)),
        (
            "token".to_owned(),
            select_attr(&page, "input[name=token]", "value").remove(0),
        ),
        ("amount".to_owned(), "18.00".to_owned()),
        ("reason".to_owned(), "requested_by_customer".to_owned()),
    ]);
    let (status, _) = post(
        &app,
        &admin,
        &format!("/admin/orders/{number}/refunds"),
        &form,
    )
    .await;
    assert_eq!(status, 303);
    let order = app
        .wait_for_order(&number, "refunded", |o| o.status == "refunded")
        .await;
    assert_eq!(order.fulfilment_status, "canceled");
    assert!(queue(&app, &admin).await.is_empty());
    let page = admin_page(&app, &admin, &number).await;
    assert!(select_attr(&page, "#ship-form", "action").is_empty());
    assert_eq!(
        select_text(&page, "#ship-blocked"),
        vec!["This order was refunded in full: it cannot be marked shipped."]
    );

    // The form from before the refund is refused with that message, not a 500.
    let mut form: HashMap<String, String> = HashMap::from([
        ("csrf_token".to_owned(), csrf_token(&before)),
        (
            "form_key".to_owned(),
            select_attr(&before, "#ship-form input[name=form_key]", "value").remove(0),
        ),
        ("carrier".to_owned(), "ups".to_owned()),
        (
            "tracking_number".to_owned(),
            "1Z999AA10123456784".to_owned(),
        ),
    ]);
    let names = select_attr(&before, "#ship-form input[type=number]", "name");
    form.extend(names.into_iter().map(|n| (n, "1".to_owned())));
    let (status, body) = post(
        &app,
        &admin,
        &format!("/admin/orders/{number}/shipments"),
        &form,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        select_text(&body, "#ship-error"),
        vec!["This order was refunded in full: it cannot be marked shipped."]
    );
    assert!(mails(&app, "order_shipped").await.is_empty());
}

#[actix_web::test]
async fn bad_input_on_the_ship_form_gets_a_clear_message_never_a_500() {
    let app = TestApp::spawn().await;
    let number = app.paid_order(2, CARD_OK).await;
    let admin = app.admin_browser().await;
    let page = admin_page(&app, &admin, &number).await;
    let line = select_attr(&page, "#ship-form input[type=number]", "name").remove(0);

    type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![("tracking_number", "")],
            "#tracking_number-error",
            "Enter the parcel's tracking number.",
        ),
        (
            vec![("tracking_number", "   ")],
            "#tracking_number-error",
            "Enter the parcel's tracking number.",
        ),
        (
            vec![("tracking_number", "<b>1Z</b>")],
            "#tracking_number-error",
            "A tracking number is 4 to 40 letters, digits, spaces or dashes.",
        ),
        (
            vec![("carrier", "pigeon")],
            "#carrier-error",
            "Choose one of the carriers.",
        ),
        (
            vec![(line.as_str(), "0")],
            "#ship-error",
            "Choose at least one unit to put in the parcel.",
        ),
        (
            vec![(line.as_str(), "3")],
            "#ship_",
            "Enter a whole number from 0 to 2.",
        ),
        (
            vec![(line.as_str(), "two")],
            "#ship_",
            "Enter a whole number from 0 to 2.",
        ),
    ];
    for (changes, selector, message) in cases {
        let (status, body) = ship(&app, &admin, &number, &changes).await;
        assert_eq!(status, 422, "{changes:?}: {body}");
        let selector = if selector == "#ship_" {
            format!("#{line}-error")
        } else {
            selector.to_owned()
        };
        assert_eq!(select_text(&body, &selector), vec![message], "{changes:?}");
        // What was typed is kept.
        if let Some((_, v)) = changes.iter().find(|(k, _)| *k == "tracking_number") {
            assert_eq!(
                select_attr(&body, "#tracking_number", "value"),
                vec![v.to_string()]
            );
        }
    }
    // A form without its key, an unknown order, an unknown parcel.
    let (status, _) = ship(&app, &admin, &number, &[("form_key", "")]).await;
    assert_eq!(status, 400);
    let page = admin_page(&app, &admin, &number).await;
    let form = HashMap::from([("csrf_token".to_owned(), csrf_token(&page))]);
    let (status, _) = post(&app, &admin, "/admin/orders/SF-ZZZZ-ZZZZ/shipments", &form).await;
    assert!(status == 404 || status == 400, "{status}");
    let (status, _) = post(
        &app,
        &admin,
        &format!("/admin/orders/{number}/shipments/999999/delivered"),
        &form,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = post(
        &app,
        &admin,
        &format!("/admin/orders/{number}/shipments/abc/delivered"),
        &form,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = fetch_page(&admin, app.url("/admin/shipping?page=zero")).await;
    assert_eq!(status, 400);
    // Nothing was recorded by any of it.
    assert_eq!(app.order(&number).await.fulfilment_status, "unfulfilled");
    assert!(mails(&app, "order_shipped").await.is_empty());

    // The pages are admins' only.
    let (status, _) = fetch_page(&app.new_browser(), app.url("/admin/shipping")).await;
    assert_ne!(status, 200);
    let (status, _) = fetch_page(
        &app.new_browser(),
        app.url(&format!("/admin/orders/{number}/packing-slip")),
    )
    .await;
    assert_ne!(status, 200);
}

#[actix_web::test]
async fn the_queue_is_oldest_first_and_leaves_out_unpaid_disputed_and_flagged_orders() {
    let app = TestApp::spawn().await;
    let first = app.paid_order(1, CARD_OK).await;
    let second = app.paid_order(1, CARD_OK).await;
    let flagged = app.paid_order(1, CARD_OK).await;
    let disputed = app.paid_order(1, CARD_OK).await;
    let pending = {
        app.add_to_cart("canvas-tote", 1).await;
        let url = app.checkout().await;
        app.order_by_session(&session_id_of(&url)).await.number
    };
    storefront::db::run(&app.pool, move |conn| {
        use diesel::prelude::*;
        use storefront::schema::orders;
        diesel::update(orders::table.filter(orders::number.eq(flagged)))
            .set(orders::flagged.eq("test: amount mismatch"))
            .execute(conn)?;
        diesel::update(orders::table.filter(orders::number.eq(disputed)))
            .set(orders::disputed.eq(true))
            .execute(conn)
            .map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap();
    let admin = app.admin_browser().await;
    assert_eq!(queue(&app, &admin).await, vec![first.clone(), second]);
    assert_eq!(app.order(&pending).await.status, "pending");

    // The packing slip: the address block and what goes in the box, no prices.
    let (status, slip) = fetch_page(
        &admin,
        app.url(&format!("/admin/orders/{first}/packing-slip")),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(select_text(&slip, "#slip-order"), vec![first]);
    assert_eq!(
        select_text(&slip, "#slip-lines tbody td"),
        vec!["Canvas tote bag", "1", "1"]
    );
    assert!(!slip.contains("$18.00"));
}

#[actix_web::test]
async fn two_admins_shipping_the_same_units_at_once_record_one_parcel() {
    let app = TestApp::spawn().await;
    let number = app.paid_order(2, CARD_OK).await;
    let (one, two) = (
        app.admin_browser().await,
        app.another_admin("second-admin@example.com").await,
    );
    // Each has the page open with its own form, both shipping both units.
    let (a, b) = tokio::join!(
        ship(
            &app,
            &one,
            &number,
            &[("tracking_number", "1Z0000000000000001")]
        ),
        ship(
            &app,
            &two,
            &number,
            &[("tracking_number", "1Z0000000000000002")]
        )
    );
    let mut statuses = [a.0, b.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [303, 422], "{a:?} {b:?}");
    let refused = if a.0 == 422 { a.1 } else { b.1 };
    assert_eq!(
        select_text(&refused, "#ship-error"),
        vec!["Nothing is left to ship on this order."]
    );
    assert_eq!(app.order(&number).await.fulfilment_status, "shipped");
    assert_eq!(mails(&app, "order_shipped").await.len(), 1);
}

#[actix_web::test]
async fn a_returned_shipped_unit_goes_back_to_stock_without_cancelling_the_unshipped_one() {
    let app = TestApp::spawn().await;
    let number = app.paid_order(2, CARD_OK).await;
    let admin = app.admin_browser().await;
    let page = admin_page(&app, &admin, &number).await;
    let field = select_attr(&page, "#ship-form input[type=number]", "name").remove(0);
    let (status, _) = ship(&app, &admin, &number, &[(field.as_str(), "1")]).await;
    assert_eq!(status, 303);
    let stock = app.stock("canvas-tote").await.unwrap();

    // The customer sends the shipped tote back: refunded, on the shelf, marked as a return.
    let refund = |returned: bool| {
        let (app, admin, number) = (&app, &admin, number.clone());
        async move {
            let page = admin_page(app, admin, &number).await;
            let item = select_attr(&page, ".refund-form input[type=number]", "name").remove(0);
            let id = item.trim_start_matches("restock_").to_owned();
            assert_eq!(
                select_attr(&page, &format!("#returned_{id}"), "name").len(),
                1,
                "a line with shipped units asks whether they came back"
            );
            let mut form: HashMap<String, String> = HashMap::from([
                ("csrf_token".to_owned(), csrf_token(&page)),
                (
                    "token".to_owned(),
                    select_attr(&page, "input[name=token]", "value").remove(0),
                ),
                ("amount".to_owned(), "18.00".to_owned()),
                ("reason".to_owned(), "requested_by_customer".to_owned()),
                (item, "1".to_owned()),
            ]);
            if returned {
                form.insert(format!("returned_{id}"), "1".to_owned());
            }
            let (status, body) = post(
                app,
                admin,
                &format!("/admin/orders/{number}/refunds"),
                &form,
            )
            .await;
            assert_eq!(status, 303, "{body}");
            app.wait_for_deliveries().await;
        }
    };
    refund(true).await;
    assert_eq!(app.stock("canvas-tote").await, Some(stock + 1));
    assert_eq!(
        app.order(&number).await.fulfilment_status,
        "partially_shipped",
        "the unshipped tote is still to go"
    );
    assert_eq!(queue(&app, &admin).await, vec![number.clone()]);

    // The other tote is cancelled before it ships: nothing is left to send.
    refund(false).await;
    assert_eq!(app.stock("canvas-tote").await, Some(stock + 2));
    assert_eq!(app.order(&number).await.fulfilment_status, "shipped");
    assert!(queue(&app, &admin).await.is_empty());
}
