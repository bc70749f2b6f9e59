//! The Stripe events inbox (`/admin/events`): every event and what the shop did with it, the
//! failures on top with their reason, "Replay" (fetched again from Stripe, applied once) and
//! "Catch up now".

use crate::helpers::*;

async fn page(client: &reqwest::Client, url: String) -> (u16, String) {
    let res = client.get(url).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

async fn failures(app: &TestApp) -> Vec<storefront::webhooks::inbox::Row> {
    storefront::db::run(&app.pool, |conn| {
        storefront::webhooks::inbox::failures(conn, &Default::default())
            .map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap()
}

/// Posts a form of the inbox page (by its action) with the page's CSRF token.
async fn post_on_inbox(
    app: &TestApp,
    admin: &reqwest::Client,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let (_, html) = page(admin, app.url("/admin/events")).await;
    let mut form = vec![("csrf_token", csrf_token(&html))];
    form.extend(fields.iter().map(|(k, v)| (*k, v.to_string())));
    admin
        .post(app.url(action))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// The flash the inbox shows after a POST.
async fn flash(app: &TestApp, admin: &reqwest::Client) -> String {
    let (_, html) = page(admin, app.url("/admin/events")).await;
    select_text(&html, "main .flash").join(" ")
}

#[actix_web::test]
async fn a_failed_webhook_is_shown_with_its_reason_and_a_replay_applies_it_once() {
    let app = TestApp::spawn().await;
    app.add_to_cart("canvas-tote", 1).await;
    let session_url = app.checkout().await;
    let sid = session_id_of(&session_url);
    let order = app.order_by_session(&sid).await;
    let stock_before = app.stock("canvas-tote").await;
    // Reading the session back fails for a while: the webhook cannot be applied.
    let path = format!("/v1/checkout/sessions/{sid}");
    app.emulator_post(
        "_emulator/faults",
        &[
            ("path", &path),
            ("method", "GET"),
            ("status", "500"),
            ("count", "1000"),
        ],
    )
    .await;
    app.pay_ok(&session_url).await;
    let mut failed = vec![];
    for _ in 0..200 {
        failed = failures(&app).await;
        if !failed.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(failed.len(), 1, "the failure is noted");
    let event = failed[0].id.clone();
    assert_eq!(failed[0].type_, "checkout.session.completed");
    assert_eq!(failed[0].object_id.as_deref(), Some(sid.as_str()));
    // Stripe's retries wait (one in flight fails like the rest); then Stripe answers again.
    app.emulator_post("_emulator/webhooks", &[("hold", "true")])
        .await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    app.emulator_post("_emulator/faults", &[("clear", "true")])
        .await;
    assert_eq!(app.order(&order.number).await.status, "pending");

    let admin = app.admin_browser().await;
    let (status, html) = page(&admin, app.url("/admin/events")).await;
    assert_eq!(status, 200);
    let row = select_text(&html, "#failures tbody tr").join(" ");
    assert!(row.contains(&event), "{row}");
    assert!(row.contains("Stripe"), "the reason is shown: {row}");
    let (_, only_failed) = page(&admin, app.url("/admin/events?outcome=failed")).await;
    assert!(
        select_text(&only_failed, "#failures")
            .join(" ")
            .contains(&event)
    );

    // Replay: applied, the failure is gone.
    let res = post_on_inbox(&app, &admin, &format!("/admin/events/{event}/replay"), &[]).await;
    assert_redirect_to(&res, "/admin/events");
    let said = flash(&app, &admin).await;
    assert!(
        said.contains(&format!("Event {event} applied: paid.")),
        "{said}"
    );
    assert_eq!(app.order(&order.number).await.status, "paid");
    assert!(failures(&app).await.is_empty());
    let stock_paid = app.stock("canvas-tote").await;
    assert_eq!(
        stock_paid.map(|s| s + 1),
        stock_before,
        "one unit left the shelf"
    );

    // Again: nothing changes, and it says so.
    post_on_inbox(&app, &admin, &format!("/admin/events/{event}/replay"), &[]).await;
    let said = flash(&app, &admin).await;
    assert!(
        said.contains("was already applied; replaying it changed nothing"),
        "{said}"
    );
    assert_eq!(app.stock("canvas-tote").await, stock_paid);

    // The event's line, by its object, links the order; Stripe's held retry is a duplicate.
    app.emulator_post("_emulator/webhooks/release", &[]).await;
    app.wait_for_deliveries().await;
    let (_, by_object) = page(&admin, app.url(&format!("/admin/events?object={sid}"))).await;
    let line = select_text(&by_object, "#events tbody tr").join(" ");
    assert!(
        line.contains(&event) && line.contains(&order.number),
        "{line}"
    );
    assert_eq!(
        select_attr(&by_object, "#events tbody tr a", "href"),
        vec![format!("/admin/orders/{}", order.number)]
    );
    let (_, duplicates) = page(&admin, app.url("/admin/events?outcome=duplicate")).await;
    assert!(
        select_text(&duplicates, "#events tbody")
            .join(" ")
            .contains(&event),
        "the redelivery is counted"
    );
    let (_, ignored) = page(&admin, app.url("/admin/events?outcome=ignored")).await;
    assert!(
        !select_text(&ignored, "#events tbody")
            .join(" ")
            .contains(&event)
    );

    // Both replays are in the audit log.
    let replays: i64 = storefront::db::run(&app.pool, |conn| {
        use diesel::prelude::*;
        use storefront::schema::audit_log;
        audit_log::table
            .filter(audit_log::action.eq(storefront::admin::audit::EVENT_REPLAYED))
            .count()
            .get_result(conn)
            .map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap();
    assert_eq!(replays, 2);
}

#[actix_web::test]
async fn catch_up_applies_an_event_that_never_arrived() {
    let app = TestApp::spawn().await;
    app.add_to_cart("canvas-tote", 1).await;
    let session_url = app.checkout().await;
    let order = app.order_by_session(&session_id_of(&session_url)).await;
    // Stripe's delivery of the payment is lost.
    // (Every event of the payment: the demo endpoint takes all types.)
    app.emulator_post("_emulator/webhooks", &[("drop", "20")])
        .await;
    app.pay_ok(&session_url).await;
    app.wait_for_deliveries().await;
    assert_eq!(app.order(&order.number).await.status, "pending");

    let admin = app.admin_browser().await;
    let res = post_on_inbox(&app, &admin, "/admin/events/catch-up", &[("hours", "24")]).await;
    assert_redirect_to(&res, "/admin/events");
    let said = flash(&app, &admin).await;
    assert!(
        said.starts_with("Caught up on the last 24 hours:"),
        "{said}"
    );
    assert!(said.contains("paid: 1"), "{said}");
    assert_eq!(app.order(&order.number).await.status, "paid");

    // Nonsense windows are refused, and nothing runs.
    for hours in ["0", "721", "a day"] {
        let res = post_on_inbox(&app, &admin, "/admin/events/catch-up", &[("hours", hours)]).await;
        assert_eq!(res.status().as_u16(), 400, "{hours}");
    }
}

#[actix_web::test]
async fn only_admins_see_the_inbox_and_replays_need_the_form() {
    let app = TestApp::spawn().await;
    let guest = app.new_browser();
    let res = guest.get(app.url("/admin/events")).send().await.unwrap();
    assert!(
        location(&res).starts_with("/account/login"),
        "a guest signs in first"
    );
    app.register("customer@example.com").await;
    let (status, _) = app.get_html("/admin/events").await;
    assert_eq!(status, 403);

    let admin = app.admin_browser().await;
    let res = admin
        .post(app.url("/admin/events/evt_123/replay"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403, "no CSRF token");
    let res = post_on_inbox(&app, &admin, "/admin/events/cs_test_1/replay", &[]).await;
    assert_eq!(res.status().as_u16(), 404, "not an event id");
    let res = post_on_inbox(&app, &admin, "/admin/events/evt_doesnotexist/replay", &[]).await;
    assert_redirect_to(&res, "/admin/events");
    assert!(
        flash(&app, &admin)
            .await
            .contains("Stripe has no event evt_doesnotexist.")
    );
    let (status, _) = page(
        &admin,
        app.url("/admin/events?outcome=nonsense&page=x&type=%3Cb%3E"),
    )
    .await;
    assert_eq!(status, 200, "unknown filters are ignored");
}
