//! A rush at checkout: when Stripe's rate limit (or the shop's share of it) has no turn free,
//! the shopper waits in line on a page that reloads itself, their stock held, and goes on to
//! pay — never an error page for a 429.

use crate::helpers::*;

/// Stripe answers 429 to the next `count` creates at `path` (three: one call and its retries).
async fn rate_limited(app: &TestApp, path: &str, count: u32) {
    let count = count.to_string();
    app.emulator_post(
        "_emulator/faults",
        &[
            ("path", path),
            ("method", "POST"),
            ("status", "429"),
            ("count", count.as_str()),
        ],
    )
    .await;
}

/// Posts the cart's checkout form from `client`; the response (not followed).
async fn post_checkout(app: &TestApp, client: &reqwest::Client) -> reqwest::Response {
    app.checkout_with(client, "rush@example.com").await
}

#[actix_web::test]
async fn a_rate_limited_checkout_waits_in_line_with_its_stock_held_then_pays() {
    let app = TestApp::spawn().await;
    app.add_to_cart("canvas-tote", 1).await;
    // Stripe answers 429 to the checkout's create and its retries, then to the first try from
    // the waiting page.
    rate_limited(&app, "/v1/checkout/sessions", 6).await;
    let res = post_checkout(&app, &app.client).await;
    assert_eq!(res.status().as_u16(), 303);
    let wait = location(&res);
    assert!(wait.starts_with("/checkout/wait/SF-"), "{wait}");
    assert_eq!(app.held("canvas-tote").await, 1, "held while waiting");

    let (status, html) = app.get_html(&wait).await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(
        select_attr(&html, "meta[http-equiv=refresh]", "content"),
        vec!["3"]
    );
    assert_eq!(select_text(&html, "#place"), vec!["number 1"]);
    // Someone else's browser cannot see (or move) this place in line.
    let other = app.new_browser();
    let res = other.get(app.url(&wait)).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 404);

    // Its turn: the payment page, made once under the order's key.
    let res = app.get(&wait).await;
    assert_eq!(res.status().as_u16(), 303);
    let session_url = location(&res);
    assert!(session_url.contains("/c/pay/"), "{session_url}");
    let res = app.get(&wait).await;
    assert_eq!(
        location(&res),
        session_url,
        "the same page, not a second session"
    );
    let number = wait.trim_start_matches("/checkout/wait/").to_owned();
    app.pay_ok(&session_url).await;
    app.wait_for_status(&number, "paid").await;
    let sessions = app.emulator_get("v1/checkout/sessions?limit=100").await;
    assert_eq!(sessions["data"].as_array().unwrap().len(), 1);
}

#[actix_web::test]
async fn the_shops_own_budget_puts_a_second_shopper_in_line_without_a_429() {
    let app = TestApp::spawn_with(&[("STRIPE_RATE_LIMIT", "1")]).await;
    // The tote's Stripe product and price are made by a first checkout, then the turns fill up.
    let early = app.new_browser();
    app.add_to_cart_with(&early, "canvas-tote", "1").await;
    assert!(location(&post_checkout(&app, &early).await).contains("/c/pay/"));
    let first = app.new_browser();
    let also = app.new_browser();
    let second = app.new_browser();
    app.add_to_cart_with(&first, "canvas-tote", "1").await;
    app.add_to_cart_with(&also, "canvas-tote", "1").await;
    app.add_to_cart_with(&second, "canvas-tote", "1").await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    app.emulator_post("_emulator/requests/reset", &[]).await;
    // One a second, and two saved up after a quiet moment.
    for early in [&first, &also] {
        let res = post_checkout(&app, early).await;
        assert!(
            location(&res).contains("/c/pay/"),
            "the first two go to Stripe"
        );
    }
    let res = post_checkout(&app, &second).await;
    let wait = location(&res);
    assert!(
        wait.starts_with("/checkout/wait/"),
        "the second waits: {wait}"
    );
    // A second later (one checkout a second), its turn.
    let mut session_url = None;
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        let res = second.get(app.url(&wait)).send().await.unwrap();
        if res.status().as_u16() == 303 {
            session_url = Some(location(&res));
            break;
        }
        assert_eq!(res.status().as_u16(), 200);
    }
    assert!(session_url.unwrap().contains("/c/pay/"));
    let report = app.emulator_get("_emulator/requests").await;
    assert_eq!(report["total"]["rate_limited"], 0, "{report}");
}

#[actix_web::test]
async fn a_place_in_line_runs_out_after_ten_minutes_and_the_stock_goes_back() {
    let app = TestApp::spawn().await;
    app.add_to_cart("canvas-tote", 1).await;
    rate_limited(&app, "/v1/checkout/sessions", 3).await;
    let wait = location(&post_checkout(&app, &app.client).await);
    assert_eq!(app.held("canvas-tote").await, 1);
    app.clock.advance(chrono::TimeDelta::seconds(
        storefront::checkout::routes::WAIT_LIMIT_SECS,
    ));
    let res = app.get(&wait).await;
    assert_redirect_to(&res, "/cart");
    assert_eq!(app.held("canvas-tote").await, 0);
    let (_, cart) = app.get_html("/cart").await;
    assert!(cart.contains("a payment page in time"), "{cart}");
}

async fn dashboard_figure(app: &TestApp, admin: &reqwest::Client, id: &str) -> String {
    let html = admin
        .get(app.url("/admin/dashboard"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    select_text(&html, &format!("#{id}"))
        .join(" ")
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[actix_web::test]
async fn the_dashboard_counts_every_call_the_429s_the_line_and_calls_per_paid_order() {
    let app = TestApp::spawn().await;
    crate::mail::make_admin(&app, "owner@example.com").await;
    let admin = app.new_browser();
    app.login_with(&admin, "owner@example.com", PASSWORD).await;
    // From here, the emulator's count and the shop's are compared.
    app.emulator_post("_emulator/requests/reset", &[]).await;
    app.state.stripe.usage().take();

    app.add_to_cart("canvas-tote", 1).await;
    let session_url = app.checkout().await;
    let number = app
        .order_by_session(&session_id_of(&session_url))
        .await
        .number;
    app.pay_ok(&session_url).await;
    app.wait_for_status(&number, "paid").await;
    app.wait_for_deliveries().await;
    storefront::instances::beat_once(&app.state, "this-instance")
        .await
        .unwrap();
    let sent = app.emulator_get("_emulator/requests").await;
    let total = sent["total"]["requests"].as_i64().unwrap();
    assert!(total >= 2, "{sent}");
    assert_eq!(
        dashboard_figure(&app, &admin, "stripe-requests").await,
        total.to_string(),
        "every request, as Stripe counted them: {sent}"
    );
    assert_eq!(
        dashboard_figure(&app, &admin, "calls-per-order").await,
        storefront::payments::usage::per_order(total, 1)
    );
    assert_eq!(
        dashboard_figure(&app, &admin, "shoppers-waiting").await,
        "0"
    );
    let html = admin
        .get(app.url("/admin/dashboard"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let rows = select_text(&html, "#stripe-endpoints tbody tr");
    assert!(
        rows.iter()
            .any(|r| r.contains("POST /v1/checkout/sessions")),
        "{rows:?}"
    );

    // A second shopper is refused with 429 on each of the create's three tries: in line.
    let second = app.new_browser();
    app.add_to_cart_with(&second, "canvas-tote", "1").await;
    rate_limited(&app, "/v1/checkout/sessions", 3).await;
    let wait = location(&post_checkout(&app, &second).await);
    assert!(wait.starts_with("/checkout/wait/"), "{wait}");
    storefront::instances::beat_once(&app.state, "this-instance")
        .await
        .unwrap();
    assert_eq!(
        dashboard_figure(&app, &admin, "shoppers-waiting").await,
        "1"
    );
    assert_eq!(
        dashboard_figure(&app, &admin, "stripe-rate-limited").await,
        "3"
    );
}

#[actix_web::test]
async fn instances_share_the_limit_by_their_heartbeats_and_a_silent_one_drops_out() {
    let app = TestApp::spawn_with(&[("STRIPE_RATE_LIMIT", "20")]).await;
    let budget = || app.state.stripe.budget().share();
    assert_eq!(budget(), (Some(20), 1));
    let beat = || storefront::instances::beat_once(&app.state, "shop-a");
    assert_eq!(beat().await.unwrap(), 1);
    // A second instance starts beating on the same database.
    let other = |at: i64| {
        storefront::db::run(&app.pool, move |conn| {
            storefront::instances::beat(conn, "shop-b", at).map_err(storefront::db::DbError::from)
        })
    };
    other(app.state.clock.unix()).await.unwrap();
    assert_eq!(beat().await.unwrap(), 2);
    assert_eq!(budget(), (Some(10), 2), "each takes half");
    // It stops beating (killed): after STALE_SECS it no longer counts.
    app.clock.advance(chrono::TimeDelta::seconds(
        storefront::instances::STALE_SECS + 1,
    ));
    assert_eq!(beat().await.unwrap(), 1);
    assert_eq!(budget(), (Some(20), 1), "the whole share comes back");
    // A graceful stop leaves the count at once.
    other(app.state.clock.unix()).await.unwrap();
    assert_eq!(beat().await.unwrap(), 2);
    storefront::db::run(&app.pool, |conn| {
        storefront::instances::leave(conn, "shop-b").map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap();
    assert_eq!(beat().await.unwrap(), 1);

    // STRIPE_INSTANCES fixes the number whatever the heartbeats say.
    let fixed =
        TestApp::spawn_with(&[("STRIPE_RATE_LIMIT", "20"), ("STRIPE_INSTANCES", "4")]).await;
    storefront::instances::beat_once(&fixed.state, "shop-c")
        .await
        .unwrap();
    assert_eq!(fixed.state.stripe.budget().share(), (Some(5), 4));
}

#[actix_web::test]
async fn the_waiting_page_stops_reloading_itself_when_asked() {
    let app = TestApp::spawn().await;
    app.add_to_cart("canvas-tote", 1).await;
    // Three 429s for the checkout's create, three for the page loaded with `auto=off`.
    rate_limited(&app, "/v1/checkout/sessions", 6).await;
    let wait = location(&post_checkout(&app, &app.client).await);
    assert!(wait.starts_with("/checkout/wait/"), "{wait}");
    let (status, html) = app.get_html(&format!("{wait}?auto=off")).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        select_attr(&html, "meta[http-equiv=refresh]", "content").is_empty(),
        "no timed refresh once turned off"
    );
    assert_eq!(select_text(&html, "#place"), vec!["number 1"]);
    assert!(!select_text(&html, "#manual").is_empty());
    let links = select_attr(&html, "main a", "href");
    assert!(
        links.contains(&format!("{wait}?auto=off")),
        "Check now: {links:?}"
    );
    assert!(
        links.contains(&wait),
        "back to checking by itself: {links:?}"
    );
    // Its turn comes on the next check all the same.
    let res = app.get(&format!("{wait}?auto=off")).await;
    assert!(location(&res).contains("/c/pay/"));
}

#[actix_web::test]
async fn a_products_first_sale_refused_with_429_waits_in_line_with_its_stock_held() {
    let app = TestApp::spawn().await;
    app.add_to_cart("canvas-tote", 1).await;
    // The tote has no Stripe Product yet: its first sale makes it, and Stripe is busy.
    rate_limited(&app, "/v1/products", 3).await;
    let res = post_checkout(&app, &app.client).await;
    assert_eq!(res.status().as_u16(), 303);
    let wait = location(&res);
    assert!(wait.starts_with("/checkout/wait/SF-"), "{wait}");
    assert_eq!(app.held("canvas-tote").await, 1, "held while waiting");
    let res = app.get(&wait).await;
    let session_url = location(&res);
    assert!(session_url.contains("/c/pay/"), "{session_url}");
    let number = wait.trim_start_matches("/checkout/wait/").to_owned();
    app.pay_ok(&session_url).await;
    let order = app.wait_for_status(&number, "paid").await;
    let items = storefront::db::run(&app.pool, move |conn| {
        storefront::orders::queries::items(conn, &order).map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap();
    let made = app.stripe_product_of("canvas-tote").await;
    assert!(
        items
            .iter()
            .all(|i| i.stripe_product_id.as_deref() == Some(made.as_str())),
        "the line carries the Stripe Product made for it"
    );
}

#[actix_web::test]
async fn a_shopper_who_leaves_the_line_gets_their_stock_back_from_the_sweep() {
    let app = TestApp::spawn().await;
    // Another shopper with a payment page, made at the same time: the sweep leaves theirs.
    let paying = app.new_browser();
    app.add_to_cart_with(&paying, "canvas-tote", "1").await;
    assert!(location(&post_checkout(&app, &paying).await).contains("/c/pay/"));
    app.add_to_cart("canvas-tote", 1).await;
    rate_limited(&app, "/v1/checkout/sessions", 3).await;
    let wait = location(&post_checkout(&app, &app.client).await);
    assert!(wait.starts_with("/checkout/wait/"), "{wait}");
    assert_eq!(app.held("canvas-tote").await, 2);
    // The shopper closes the page. At the line's ten minutes a create may still be in flight.
    app.clock.advance(chrono::TimeDelta::seconds(
        storefront::checkout::routes::WAIT_LIMIT_SECS,
    ));
    storefront::jobs::sweep(&app.state).await.unwrap();
    assert_eq!(app.held("canvas-tote").await, 2, "not before the grace");
    app.clock.advance(chrono::TimeDelta::seconds(61));
    storefront::jobs::sweep(&app.state).await.unwrap();
    assert_eq!(
        app.held("canvas-tote").await,
        1,
        "the line's unit goes back; the payment page's stays"
    );
    let number = wait.trim_start_matches("/checkout/wait/").to_owned();
    app.wait_for_status(&number, "expired").await;
}

#[actix_web::test]
async fn a_customers_first_checkout_refused_with_429_waits_in_line_and_pays_as_them() {
    let app = TestApp::spawn().await;
    app.register("first@example.com").await;
    app.add_to_cart("canvas-tote", 1).await;
    // Their Stripe Customer is made with their first session, and Stripe is busy.
    rate_limited(&app, "/v1/customers", 3).await;
    let res = post_checkout(&app, &app.client).await;
    let wait = location(&res);
    assert!(wait.starts_with("/checkout/wait/SF-"), "{wait}");
    assert_eq!(app.held("canvas-tote").await, 1, "held while waiting");
    let session_url = location(&app.get(&wait).await);
    assert!(session_url.contains("/c/pay/"), "{session_url}");
    let user = app.user("first@example.com").await;
    let customer = user
        .stripe_customer_id
        .expect("made once it was their turn");
    let session = app
        .emulator_get(&format!(
            "v1/checkout/sessions/{}",
            session_id_of(&session_url)
        ))
        .await;
    assert_eq!(session["customer"], customer.as_str(), "paid as them");
}

/// Puts the cart's checkout in line (three 429s for the session's create): the waiting page.
async fn in_line(app: &TestApp) -> String {
    app.add_to_cart("canvas-tote", 1).await;
    rate_limited(app, "/v1/checkout/sessions", 3).await;
    let wait = location(&post_checkout(app, &app.client).await);
    assert!(wait.starts_with("/checkout/wait/"), "{wait}");
    wait
}

#[actix_web::test]
async fn a_shopper_who_waited_minutes_gets_a_session_stripe_accepts() {
    let app = TestApp::spawn().await;
    let wait = in_line(&app).await;
    // Five minutes later, on both sides: a session expiring at the order's first expiry would
    // be 26 minutes away, and Stripe refuses less than 30.
    app.clock.advance(chrono::TimeDelta::seconds(300));
    app.emulator_post("_emulator/clock/advance", &[("seconds", "300")])
        .await;
    let res = app.get(&wait).await;
    let session_url = location(&res);
    assert!(session_url.contains("/c/pay/"), "{session_url}");
    let number = wait.trim_start_matches("/checkout/wait/").to_owned();
    let order = app.order(&number).await;
    assert!(order.checkout_expires_at >= app.state.clock.unix() + 30 * 60);
    app.pay_ok(&session_url).await;
    app.wait_for_status(&number, "paid").await;
}

#[actix_web::test]
async fn a_session_that_comes_after_the_line_gave_up_is_expired_never_shown() {
    let app = TestApp::spawn().await;
    let wait = in_line(&app).await;
    let number = wait.trim_start_matches("/checkout/wait/").to_owned();
    let waiting = app.order(&number).await;
    // The sweep gives up on the order while a create for it is still on its way to Stripe.
    app.clock.advance(chrono::TimeDelta::seconds(
        storefront::jobs::LEFT_THE_LINE_SECS,
    ));
    storefront::jobs::sweep(&app.state).await.unwrap();
    assert_eq!(app.order(&number).await.status, "expired");
    assert_eq!(app.held("canvas-tote").await, 0);
    let late = storefront::checkout::start::resume(&app.state, waiting).await;
    assert!(
        matches!(
            late,
            Err(storefront::checkout::start::CheckoutError::LineRanOut)
        ),
        "{late:?}"
    );
    let order = app.order(&number).await;
    assert_eq!(order.status, "expired");
    assert!(order.checkout_url.is_none(), "no page for it");
    let sessions = app.emulator_get("v1/checkout/sessions?limit=10").await;
    let sessions = sessions["data"].as_array().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["status"], "expired", "nobody can pay it");
}
