//! Coupons, promotion codes and automatic tax: the API, Checkout Sessions, the hosted page's
//! code field and billing address, and subscription invoices.

use scraper::{Html, Selector};
use serde_json::Value;
use stripe::StripeError;
use stripe_billing::invoice::{ListInvoice, RetrieveInvoice};
use stripe_billing::subscription::RetrieveSubscription;
use stripe_checkout::checkout_session::{ListLineItemsCheckoutSession, RetrieveCheckoutSession};
use stripe_product::coupon::{
    CreateCoupon, CreateCouponAppliesTo, DeleteCoupon, ListCoupon, RetrieveCoupon,
};
use stripe_product::promotion_code::{
    CreatePromotionCode, CreatePromotionCodePromotion, CreatePromotionCodePromotionType,
    CreatePromotionCodeRestrictions, ListPromotionCode, RetrievePromotionCode, UpdatePromotionCode,
};
use stripe_shared::{CheckoutSessionPaymentStatus, CouponDuration};

use crate::support::{Harness, location};

const DAY: i64 = 86_400;

fn text_of(html: &str, css: &str) -> Option<String> {
    let doc = Html::parse_document(html);
    let sel = Selector::parse(css).unwrap();
    doc.select(&sel)
        .next()
        .map(|e| e.text().collect::<String>().trim().to_string())
}

fn stripe_err(e: StripeError) -> (stripe::ApiErrors, u16) {
    match e {
        StripeError::Stripe(err, status) => (*err, status),
        other => panic!("expected a Stripe API error, got {other:?}"),
    }
}

async fn product(h: &Harness, name: &str) -> String {
    let (s, v) = h.post("/v1/products", &[("name", name)]).await;
    assert_eq!(s, 200, "{v}");
    v["id"].as_str().unwrap().to_string()
}

async fn price(h: &Harness, product: &str, amount: i64, currency: &str, tax: &str) -> String {
    let amount = amount.to_string();
    let (s, v) = h
        .post(
            "/v1/prices",
            &[
                ("product", product),
                ("unit_amount", &amount),
                ("currency", currency),
                ("tax_behavior", tax),
            ],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    v["id"].as_str().unwrap().to_string()
}

async fn coupon(h: &Harness, form: &[(&str, &str)]) -> String {
    let (s, v) = h.post("/v1/coupons", form).await;
    assert_eq!(s, 200, "{v}");
    v["id"].as_str().unwrap().to_string()
}

async fn promo(h: &Harness, coupon: &str, code: &str, extra: &[(&str, &str)]) -> String {
    let mut form = vec![
        ("promotion[type]", "coupon"),
        ("promotion[coupon]", coupon),
        ("code", code),
    ];
    form.extend_from_slice(extra);
    let (s, v) = h.post("/v1/promotion_codes", &form).await;
    assert_eq!(s, 200, "{v}");
    v["id"].as_str().unwrap().to_string()
}

/// A payment-mode session; `extra` adds parameters. Returns the session JSON.
async fn session(h: &Harness, lines: &[(&str, u32)], extra: &[(&str, &str)]) -> Value {
    let mut form: Vec<(String, String)> = vec![
        ("mode".into(), "payment".into()),
        (
            "success_url".into(),
            "http://shop.test/ok?session_id={CHECKOUT_SESSION_ID}".into(),
        ),
        ("cancel_url".into(), "http://shop.test/cancel".into()),
    ];
    for (i, (price, qty)) in lines.iter().enumerate() {
        form.push((format!("line_items[{i}][price]"), (*price).to_string()));
        form.push((format!("line_items[{i}][quantity]"), qty.to_string()));
    }
    for (k, v) in extra {
        form.push(((*k).to_string(), (*v).to_string()));
    }
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (s, v) = h.post("/v1/checkout/sessions", &form).await;
    assert_eq!(s, 200, "{v}");
    v
}

async fn get_session(h: &Harness, id: &str) -> Value {
    let (s, v) = h
        .get(
            &format!("/v1/checkout/sessions/{id}"),
            &[
                ("expand[]", "line_items.data.discounts"),
                ("expand[]", "line_items.data.taxes"),
                ("expand[]", "total_details.breakdown"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    v
}

/// Apply (or with `None`, remove) a code on the hosted page; returns (status, page).
async fn code_field(h: &Harness, url: &str, code: Option<&str>) -> (u16, String) {
    let form: Vec<(&str, &str)> = match code {
        Some(c) => vec![("promotion_code", c), ("action", "apply")],
        None => vec![("action", "remove")],
    };
    let resp = h
        .http
        .post(format!("{url}/promotion_code"))
        .form(&form)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// Submit the payment form with a billing address (and `action`).
async fn submit(
    h: &Harness,
    url: &str,
    country: &str,
    state: &str,
    action: &str,
    expected_total: Option<i64>,
) -> reqwest::Response {
    let expected = expected_total.map(|t| t.to_string()).unwrap_or_default();
    let mut form = vec![
        ("email", "buyer@example.com"),
        ("billing_country", country),
        ("billing_state", state),
        ("action", action),
        ("method", "card"),
        ("card_number", "4242424242424242"),
        ("card_expiry", "12 / 34"),
        ("card_cvc", "123"),
    ];
    if expected_total.is_some() {
        form.push(("expected_total", &expected));
    }
    h.http.post(url).form(&form).send().await.unwrap()
}

#[actix_web::test]
async fn coupons_and_promotion_codes_are_created_listed_and_validated() {
    let h = Harness::start().await;
    let c = &h.stripe;
    let tee = product(&h, "Tee").await;

    let pct = CreateCoupon::new()
        .percent_off(20.0)
        .duration(CouponDuration::Repeating)
        .duration_in_months(3)
        .name("Spring")
        .max_redemptions(10)
        .send(c)
        .await
        .unwrap();
    assert_eq!(pct.percent_off, Some(20.0));
    assert_eq!(pct.duration, CouponDuration::Repeating);
    assert_eq!(pct.duration_in_months, Some(3));
    assert_eq!((pct.times_redeemed, pct.valid), (0, true));
    assert!(pct.applies_to.is_none());
    let mut only = CreateCouponAppliesTo::new();
    only.products = Some(vec![tee.clone()]);
    let off = CreateCoupon::new()
        .id("FIVE-OFF")
        .amount_off(500)
        .currency(stripe_types::Currency::USD)
        .applies_to(only)
        .send(c)
        .await
        .unwrap();
    assert_eq!(off.id.as_str(), "FIVE-OFF");
    assert_eq!(off.duration, CouponDuration::Once, "the default duration");
    assert!(off.applies_to.is_none(), "applies_to only when expanded");
    let got = RetrieveCoupon::new("FIVE-OFF")
        .expand(vec!["applies_to".to_string()])
        .send(c)
        .await
        .unwrap();
    assert_eq!(
        got.applies_to.expect("expanded").products,
        vec![tee.clone()]
    );
    let page = ListCoupon::new().limit(1).send(c).await.unwrap();
    assert_eq!(page.data.len(), 1);
    assert!(page.has_more);
    assert_eq!(page.data[0].id.as_str(), "FIVE-OFF", "newest first");
    let next = ListCoupon::new()
        .limit(1)
        .starting_after("FIVE-OFF")
        .send(c)
        .await
        .unwrap();
    assert_eq!(next.data[0].id, pct.id);

    // Stripe's errors, each naming its parameter.
    for (form, param, needle) in [
        (
            vec![
                ("percent_off", "10"),
                ("amount_off", "100"),
                ("currency", "usd"),
            ],
            "amount_off",
            "only specify one of these parameters: amount_off, percent_off",
        ),
        (vec![("duration", "once")], "percent_off", "percent_off"),
        (
            vec![("amount_off", "100")],
            "currency",
            "Missing required param: currency",
        ),
        (
            vec![("percent_off", "120")],
            "percent_off",
            "less than or equal to 100",
        ),
        (
            vec![("percent_off", "10"), ("duration", "repeating")],
            "duration_in_months",
            "Missing required param",
        ),
        (
            vec![("percent_off", "10"), ("duration_in_months", "2")],
            "duration_in_months",
            "repeating",
        ),
        (
            vec![("percent_off", "10"), ("redeem_by", "1000")],
            "redeem_by",
            "future",
        ),
        (
            vec![
                ("percent_off", "10"),
                ("applies_to[products][]", "prod_nope"),
            ],
            "applies_to[products][0]",
            "No such product",
        ),
        (
            vec![("percent_off", "10"), ("id", "FIVE-OFF")],
            "id",
            "already exists",
        ),
        (
            vec![("percent_off", "ten")],
            "percent_off",
            "Invalid decimal",
        ),
    ] {
        let (s, e) = h.post("/v1/coupons", &form).await;
        assert_eq!(s, 400, "{form:?}: {e}");
        assert_eq!(e["error"]["param"], param, "{form:?}: {e}");
        let msg = e["error"]["message"].as_str().unwrap();
        assert!(msg.contains(needle), "{form:?}: {msg}");
    }

    // Promotion codes: the 2026 `promotion[coupon]` shape, and the older `coupon`.
    let mut promotion = CreatePromotionCodePromotion::new(CreatePromotionCodePromotionType::Coupon);
    promotion.coupon = Some(pct.id.as_str().to_string());
    let mut restrictions = CreatePromotionCodeRestrictions::new();
    restrictions.minimum_amount = Some(5000);
    restrictions.minimum_amount_currency = Some(stripe_types::Currency::USD);
    restrictions.first_time_transaction = Some(true);
    let spring = CreatePromotionCode::new(promotion.clone())
        .code("Spring20")
        .max_redemptions(5)
        .restrictions(restrictions)
        .send(c)
        .await
        .unwrap();
    assert!(spring.id.as_str().starts_with("promo_"));
    assert_eq!(spring.code, "Spring20");
    assert!(spring.active);
    assert_eq!(spring.times_redeemed, 0);
    assert_eq!(spring.restrictions.minimum_amount, Some(5000));
    assert!(spring.restrictions.first_time_transaction);
    match &spring.promotion.coupon {
        Some(stripe_types::Expandable::Id(id)) => assert_eq!(id.as_str(), pct.id.as_str()),
        other => panic!("promotion.coupon: {other:?}"),
    }
    let expanded = RetrievePromotionCode::new(spring.id.clone())
        .expand(vec!["promotion.coupon".to_string()])
        .send(c)
        .await
        .unwrap();
    match expanded.promotion.coupon {
        Some(stripe_types::Expandable::Object(cp)) => {
            assert_eq!(cp.name.as_deref(), Some("Spring"))
        }
        other => panic!("not expanded: {other:?}"),
    }
    let (err, status) = stripe_err(
        CreatePromotionCode::new(promotion.clone())
            .code("SPRING20")
            .send(c)
            .await
            .unwrap_err(),
    );
    assert_eq!((status, err.param.as_deref()), (400, Some("code")));
    let generated = CreatePromotionCode::new(promotion.clone())
        .send(c)
        .await
        .unwrap();
    assert_eq!(generated.code.len(), 8);
    assert_eq!(generated.code, generated.code.to_uppercase());
    let (s, legacy) = h
        .post(
            "/v1/promotion_codes",
            &[("coupon", "FIVE-OFF"), ("code", "TEE5")],
        )
        .await;
    assert_eq!(s, 200, "{legacy}");
    assert_eq!(legacy["promotion"]["coupon"], "FIVE-OFF");
    for (form, param) in [
        (vec![("code", "X1")], "promotion"),
        (vec![("coupon", "NOPE")], "coupon"),
        (
            vec![
                ("coupon", "FIVE-OFF"),
                ("restrictions[minimum_amount]", "100"),
            ],
            "restrictions[minimum_amount_currency]",
        ),
        (vec![("coupon", "FIVE-OFF"), ("code", "no spaces")], "code"),
        (
            vec![("coupon", "FIVE-OFF"), ("expires_at", "1000")],
            "expires_at",
        ),
    ] {
        let (s, e) = h.post("/v1/promotion_codes", &form).await;
        assert_eq!(
            (s, e["error"]["param"].as_str()),
            (400, Some(param)),
            "{form:?}: {e}"
        );
    }

    // Lists filter by code (any case), coupon and active.
    let by_code = ListPromotionCode::new()
        .code("spring20")
        .send(c)
        .await
        .unwrap();
    assert_eq!(by_code.data.len(), 1);
    assert_eq!(by_code.data[0].id, spring.id);
    let by_coupon = ListPromotionCode::new()
        .coupon("FIVE-OFF")
        .send(c)
        .await
        .unwrap();
    assert_eq!(by_coupon.data.len(), 1);
    let off = UpdatePromotionCode::new(spring.id.clone())
        .active(false)
        .send(c)
        .await
        .unwrap();
    assert!(!off.active);
    let inactive = ListPromotionCode::new()
        .active(false)
        .send(c)
        .await
        .unwrap();
    assert_eq!(inactive.data.len(), 1);
    assert_eq!(
        ListPromotionCode::new()
            .active(true)
            .send(c)
            .await
            .unwrap()
            .data
            .len(),
        2
    );
    // With the first one off, its code is free again.
    CreatePromotionCode::new(promotion)
        .code("spring20")
        .send(c)
        .await
        .unwrap();
    let deleted = DeleteCoupon::new("FIVE-OFF").send(c).await.unwrap();
    assert_eq!(deleted.id.as_str(), "FIVE-OFF");
    let (s, _) = h.get("/v1/coupons/FIVE-OFF", &[]).await;
    assert_eq!(s, 404);
    h.hooks.wait_for("promotion_code.updated").await;
    h.hooks.wait_for("coupon.deleted").await;
    h.stop().await;
}

#[actix_web::test]
async fn a_promotion_code_and_german_vat_price_every_line() {
    let h = Harness::start().await;
    let shirt = product(&h, "Shirt").await;
    let socks = product(&h, "Socks").await;
    let shirt_price = price(&h, &shirt, 5000, "eur", "exclusive").await;
    let socks_price = price(&h, &socks, 1250, "eur", "exclusive").await;
    let c = coupon(&h, &[("percent_off", "20"), ("name", "Twenty")]).await;
    promo(&h, &c, "SAVE20", &[]).await;
    let s = session(
        &h,
        &[(&shirt_price, 1), (&socks_price, 2)],
        &[
            ("allow_promotion_codes", "true"),
            ("automatic_tax[enabled]", "true"),
        ],
    )
    .await;
    let (sid, url) = (s["id"].as_str().unwrap(), s["url"].as_str().unwrap());
    assert_eq!(s["automatic_tax"]["enabled"], true);
    assert_eq!(s["automatic_tax"]["status"], "requires_location_inputs");
    assert_eq!(s["amount_total"], 7500);

    let page = h.http.get(url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"promotion_code\""), "code field");
    assert!(page.contains("id=\"billing_country\""), "country field");
    assert_eq!(
        text_of(&page, "#tax").as_deref(),
        Some("Enter your billing address to calculate")
    );

    // Lower case works: codes are case-insensitive.
    let (status, page) = code_field(&h, url, Some("save20")).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        text_of(&page, "#applied_promotion_code").as_deref(),
        Some("SAVE20")
    );
    assert_eq!(
        text_of(&page, "#discount_amount").as_deref(),
        Some("-€15.00")
    );
    assert_eq!(text_of(&page, "#total").as_deref(), Some("€60.00"));

    // Choosing Germany prices the tax; the page shows it before anything is paid.
    let resp = submit(&h, url, "DE", "", "update_address", None).await;
    assert_eq!(resp.status(), 200);
    let page = resp.text().await.unwrap();
    assert_eq!(text_of(&page, "#subtotal").as_deref(), Some("€75.00"));
    assert_eq!(text_of(&page, "#discount_label").as_deref(), Some("SAVE20"));
    assert_eq!(text_of(&page, "#tax_label").as_deref(), Some("VAT (19%)"));
    assert_eq!(text_of(&page, "#tax").as_deref(), Some("€11.40"));
    assert_eq!(text_of(&page, "#total").as_deref(), Some("€71.40"));

    let s = get_session(&h, sid).await;
    // 5000 − 20 % = 4000, VAT 760; 2 × 1250 − 20 % = 2000, VAT 380.
    assert_eq!(s["amount_subtotal"], 7500);
    assert_eq!(s["total_details"]["amount_discount"], 1500);
    assert_eq!(s["total_details"]["amount_tax"], 1140);
    assert_eq!(s["total_details"]["amount_shipping"], 0);
    assert_eq!(s["amount_total"], 7140);
    assert_eq!(s["automatic_tax"]["status"], "complete");
    let promo_id = s["discounts"][0]["promotion_code"].as_str().unwrap();
    assert!(promo_id.starts_with("promo_"));
    assert_eq!(s["discounts"][0]["coupon"], c.as_str());
    let lines = s["line_items"]["data"].as_array().unwrap();
    let want = [(5000, 1000, 760, 4760), (2500, 500, 380, 2380)];
    for (li, (sub, disc, tax, total)) in lines.iter().zip(want) {
        assert_eq!(li["amount_subtotal"], sub, "{li}");
        assert_eq!(li["amount_discount"], disc, "{li}");
        assert_eq!(li["amount_tax"], tax, "{li}");
        assert_eq!(li["amount_total"], total, "{li}");
        assert_eq!(li["discounts"][0]["amount"], disc);
        let d = &li["discounts"][0]["discount"];
        assert_eq!(d["object"], "discount");
        assert_eq!(d["source"]["coupon"], c.as_str());
        assert_eq!(d["promotion_code"], promo_id);
        assert_eq!(d["checkout_session"], sid);
        let t = &li["taxes"][0];
        assert_eq!(t["amount"], tax);
        assert_eq!(t["taxable_amount"], sub - disc);
        assert_eq!(t["taxability_reason"], "standard_rated");
        assert_eq!(t["rate"]["percentage"], 19.0);
        assert_eq!(t["rate"]["inclusive"], false);
        assert_eq!(t["rate"]["country"], "DE");
    }
    let b = &s["total_details"]["breakdown"];
    assert_eq!(b["discounts"][0]["amount"], 1500);
    assert_eq!(b["taxes"][0]["amount"], 1140);
    assert_eq!(b["taxes"][0]["taxable_amount"], 6000);
    // Without expand[] the includable fields stay out, as on Stripe.
    let (_, plain) = h
        .get(
            &format!("/v1/checkout/sessions/{sid}"),
            &[("expand[]", "line_items")],
        )
        .await;
    assert!(plain["line_items"]["data"][0].get("discounts").is_none());
    assert!(plain["total_details"].get("breakdown").is_none());

    // Everything deserializes with async-stripe's types.
    let typed = RetrieveCheckoutSession::new(sid)
        .expand(vec![
            "line_items.data.discounts".to_string(),
            "line_items.data.taxes".to_string(),
            "total_details.breakdown".to_string(),
            "discounts.promotion_code".to_string(),
        ])
        .send(&h.stripe)
        .await
        .unwrap();
    assert_eq!(typed.amount_total, Some(7140));
    let td = typed.total_details.as_ref().unwrap();
    assert_eq!((td.amount_discount, td.amount_tax), (1500, 1140));
    assert_eq!(
        td.breakdown.as_ref().unwrap().taxes[0].rate.percentage,
        19.0
    );
    let discounts = typed.discounts.as_ref().unwrap();
    match &discounts[0].promotion_code {
        Some(stripe_types::Expandable::Object(p)) => assert_eq!(p.code, "SAVE20"),
        other => panic!("promotion code not expanded: {other:?}"),
    }
    let items = ListLineItemsCheckoutSession::new(sid)
        .expand(vec!["data.discounts".to_string(), "data.taxes".to_string()])
        .send(&h.stripe)
        .await
        .unwrap();
    assert_eq!(items.data[0].discounts.as_ref().unwrap()[0].amount, 1000);
    assert_eq!(items.data[1].taxes.as_ref().unwrap()[0].amount, 380);

    // Pay: the total shown is the total charged.
    let resp = submit(&h, url, "DE", "", "pay", Some(7140)).await;
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
    let s = get_session(&h, sid).await;
    assert_eq!(s["payment_status"], "paid");
    assert_eq!(s["amount_total"], 7140);
    assert_eq!(s["customer_details"]["address"]["country"], "DE");
    let (_, pi) = h
        .get(
            &format!(
                "/v1/payment_intents/{}",
                s["payment_intent"].as_str().unwrap()
            ),
            &[],
        )
        .await;
    assert_eq!(pi["amount"], 7140);
    assert_eq!(pi["amount_received"], 7140);
    let (_, p) = h.get(&format!("/v1/promotion_codes/{promo_id}"), &[]).await;
    assert_eq!(p["times_redeemed"], 1);
    let (_, cp) = h.get(&format!("/v1/coupons/{c}"), &[]).await;
    assert_eq!(cp["times_redeemed"], 1);
    let done = h.hooks.wait_for("checkout.session.completed").await;
    assert_eq!(
        done.json["data"]["object"]["total_details"]["amount_tax"],
        1140
    );
    h.stop().await;
}

#[actix_web::test]
async fn a_changed_total_is_shown_before_it_is_charged() {
    let h = Harness::start().await;
    let p = product(&h, "Lamp").await;
    let pr = price(&h, &p, 1000, "usd", "exclusive").await;
    let s = session(&h, &[(&pr, 1)], &[("automatic_tax[enabled]", "true")]).await;
    let url = s["url"].as_str().unwrap();
    // California: 7.25 % of 10.00 = 0.725 → 0.73 (half up).
    let resp = submit(&h, url, "US", "CA", "pay", Some(1000)).await;
    assert_eq!(resp.status(), 409);
    let page = resp.text().await.unwrap();
    assert!(
        text_of(&page, "#error")
            .unwrap()
            .contains("Check it and submit again")
    );
    assert_eq!(text_of(&page, "#total").as_deref(), Some("$10.73"));
    let (_, fresh) = h
        .get(
            &format!("/v1/checkout/sessions/{}", s["id"].as_str().unwrap()),
            &[],
        )
        .await;
    assert_eq!(fresh["status"], "open", "nothing was charged");
    let resp = submit(&h, url, "US", "", "pay", Some(1073)).await;
    assert_eq!(resp.status(), 400, "a US address needs a state");
    let resp = submit(&h, url, "US", "CA", "pay", Some(1073)).await;
    assert_eq!(resp.status(), 303);
    let (_, done) = h
        .get(
            &format!("/v1/checkout/sessions/{}", s["id"].as_str().unwrap()),
            &[],
        )
        .await;
    assert_eq!(done["amount_total"], 1073);
    assert_eq!(done["total_details"]["amount_tax"], 73);
    assert_eq!(done["customer_details"]["address"]["state"], "CA");
    h.stop().await;
}

#[actix_web::test]
async fn an_amount_off_coupon_splits_over_lines_and_adds_up() {
    let h = Harness::start().await;
    let mut prices = Vec::new();
    for (name, amount) in [("A", 3333), ("B", 999), ("C", 1999)] {
        let p = product(&h, name).await;
        prices.push(price(&h, &p, amount, "usd", "unspecified").await);
    }
    let c = coupon(&h, &[("amount_off", "1000"), ("currency", "usd")]).await;
    let s = session(
        &h,
        &[(&prices[0], 1), (&prices[1], 1), (&prices[2], 1)],
        &[("discounts[0][coupon]", &c)],
    )
    .await;
    assert_eq!(s["discounts"][0]["coupon"], c.as_str());
    assert!(s["discounts"][0]["promotion_code"].is_null());
    let s = get_session(&h, s["id"].as_str().unwrap()).await;
    let got: Vec<i64> = s["line_items"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|li| li["amount_discount"].as_i64().unwrap())
        .collect();
    // 1000 × (3333, 999, 1999) / 6331 = 526.46, 157.79, 315.75: the floors make 998; the two
    // cents left go to the largest remainders (not to the first or the last line).
    assert_eq!(got, vec![526, 158, 316]);
    assert_eq!(got.iter().sum::<i64>(), 1000);
    assert_eq!(s["total_details"]["amount_discount"], 1000);
    assert_eq!(s["amount_total"], 6331 - 1000);

    // More off than the order costs: the discount stops at the subtotal.
    let big = coupon(&h, &[("amount_off", "100000"), ("currency", "usd")]).await;
    let s = session(&h, &[(&prices[1], 2)], &[("discounts[0][coupon]", &big)]).await;
    assert_eq!(s["total_details"]["amount_discount"], 1998);
    assert_eq!(s["amount_total"], 0);
    // A coupon in another currency does not apply.
    let eur = coupon(&h, &[("amount_off", "100"), ("currency", "eur")]).await;
    let (st, e) = h
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "payment"),
                ("line_items[0][price]", &prices[0]),
                ("line_items[0][quantity]", "1"),
                ("discounts[0][coupon]", &eur),
            ],
        )
        .await;
    assert_eq!(
        (st, e["error"]["param"].as_str()),
        (400, Some("discounts[0][coupon]"))
    );
    h.stop().await;
}

#[actix_web::test]
async fn a_product_restricted_code_discounts_only_that_product() {
    let h = Harness::start().await;
    let mug = product(&h, "Mug").await;
    let tea = product(&h, "Tea").await;
    let c = coupon(
        &h,
        &[("percent_off", "50"), ("applies_to[products][]", &mug)],
    )
    .await;
    promo(&h, &c, "MUGHALF", &[]).await;
    // price_data with an existing product (as the shop sends it).
    let (st, s) = h
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "payment"),
                ("allow_promotion_codes", "true"),
                ("line_items[0][price_data][currency]", "usd"),
                ("line_items[0][price_data][product]", &mug),
                ("line_items[0][price_data][unit_amount]", "1200"),
                ("line_items[0][quantity]", "2"),
                ("line_items[1][price_data][currency]", "usd"),
                ("line_items[1][price_data][product]", &tea),
                ("line_items[1][price_data][unit_amount]", "800"),
                ("line_items[1][quantity]", "1"),
                ("success_url", "http://shop.test/ok"),
            ],
        )
        .await;
    assert_eq!(st, 200, "{s}");
    let url = s["url"].as_str().unwrap();
    let (status, _) = code_field(&h, url, Some("MUGHALF")).await;
    assert_eq!(status, 200);
    let s = get_session(&h, s["id"].as_str().unwrap()).await;
    let lines = s["line_items"]["data"].as_array().unwrap();
    assert_eq!(lines[0]["price"]["product"], mug.as_str());
    assert_eq!(lines[0]["amount_discount"], 1200);
    assert_eq!(lines[0]["discounts"][0]["amount"], 1200);
    assert_eq!(lines[1]["amount_discount"], 0);
    assert_eq!(lines[1]["discounts"], serde_json::json!([]));
    assert_eq!(s["amount_total"], 2400 + 800 - 1200);

    // The code form's URL, opened again (a reload), leads back to the page.
    let back = h
        .http
        .get(format!("{url}/promotion_code"))
        .send()
        .await
        .unwrap();
    assert_eq!(back.status(), 303);
    assert!(url.ends_with(&location(&back)), "{}", location(&back));
    // Removing the code restores the full price.
    let (status, page) = code_field(&h, url, None).await;
    assert_eq!(status, 200);
    assert!(text_of(&page, "#discount").is_none());
    let s = get_session(&h, s["id"].as_str().unwrap()).await;
    assert_eq!(s["amount_total"], 3200);
    assert_eq!(s["discounts"], serde_json::json!([]));

    // A session with only tea: the code applies to nothing in it.
    let tea_price = price(&h, &tea, 800, "usd", "unspecified").await;
    let s = session(&h, &[(&tea_price, 1)], &[("allow_promotion_codes", "true")]).await;
    let (status, page) = code_field(&h, s["url"].as_str().unwrap(), Some("MUGHALF")).await;
    assert_eq!(status, 400);
    assert_eq!(
        text_of(&page, "#promotion_code_error").as_deref(),
        Some("This code does not apply to any item in your order.")
    );
    h.stop().await;
}

#[actix_web::test]
async fn the_code_field_explains_why_a_code_cannot_be_used() {
    let h = Harness::start().await;
    let p = product(&h, "Print").await;
    let usd = price(&h, &p, 3000, "usd", "unspecified").await;
    let jpy = price(&h, &p, 3000, "jpy", "unspecified").await;
    let now = h.emu.now().await.unwrap();
    let soon = (now + 3600).to_string();
    let c = coupon(&h, &[("percent_off", "10")]).await;
    let limited = coupon(&h, &[("percent_off", "10"), ("max_redemptions", "1")]).await;
    let ending = coupon(&h, &[("percent_off", "10"), ("redeem_by", &soon)]).await;
    promo(&h, &c, "EXPIRING", &[("expires_at", &soon)]).await;
    promo(&h, &ending, "COUPONENDS", &[]).await;
    promo(&h, &c, "ONCEONLY", &[("max_redemptions", "1")]).await;
    promo(&h, &limited, "LIMITED", &[]).await;
    promo(
        &h,
        &c,
        "BIGORDER",
        &[
            ("restrictions[minimum_amount]", "5000"),
            ("restrictions[minimum_amount_currency]", "usd"),
        ],
    )
    .await;
    promo(
        &h,
        &c,
        "YENMIN",
        &[
            ("restrictions[minimum_amount]", "5000"),
            ("restrictions[minimum_amount_currency]", "jpy"),
        ],
    )
    .await;
    promo(
        &h,
        &c,
        "WELCOME",
        &[("restrictions[first_time_transaction]", "true")],
    )
    .await;
    let off = promo(&h, &c, "RETIRED", &[]).await;
    let (s, _) = h
        .post(
            &format!("/v1/promotion_codes/{off}"),
            &[("active", "false")],
        )
        .await;
    assert_eq!(s, 200);

    // Use up ONCEONLY and LIMITED, and make buyer@example.com a paying customer.
    for code in ["ONCEONLY", "LIMITED"] {
        let s = session(&h, &[(&usd, 1)], &[("allow_promotion_codes", "true")]).await;
        let url = s["url"].as_str().unwrap();
        assert_eq!(code_field(&h, url, Some(code)).await.0, 200);
        assert_eq!(h.pay(url, "4242424242424242").await.status(), 303);
    }
    h.emu.advance_clock(7200).await.unwrap();

    let s = session(&h, &[(&usd, 1)], &[("allow_promotion_codes", "true")]).await;
    let url = s["url"].as_str().unwrap().to_string();
    let y = session(&h, &[(&jpy, 1)], &[("allow_promotion_codes", "true")]).await;
    let yen_url = y["url"].as_str().unwrap().to_string();
    let first = session(
        &h,
        &[(&usd, 1)],
        &[
            ("allow_promotion_codes", "true"),
            ("customer_email", "buyer@example.com"),
        ],
    )
    .await;
    let first_url = first["url"].as_str().unwrap().to_string();
    for (url, code, want) in [
        (&url, "NOSUCHCODE", "This code is invalid."),
        (&url, "RETIRED", "This code is no longer active."),
        (&url, "EXPIRING", "This code has expired."),
        (&url, "COUPONENDS", "This code has expired."),
        (
            &url,
            "ONCEONLY",
            "This code has reached its redemption limit.",
        ),
        (
            &url,
            "LIMITED",
            "This code has reached its redemption limit.",
        ),
        (
            &url,
            "BIGORDER",
            "This code requires a minimum order of $50.00.",
        ),
        (
            &yen_url,
            "YENMIN",
            "This code requires a minimum order of ¥5,000.",
        ),
        (
            &url,
            "YENMIN",
            "This code is not valid for purchases in USD.",
        ),
        (
            &first_url,
            "WELCOME",
            "This code is only valid for first-time customers.",
        ),
    ] {
        let (status, page) = code_field(&h, url, Some(code)).await;
        assert_eq!(status, 400, "{code}");
        assert_eq!(
            text_of(&page, "#promotion_code_error").as_deref(),
            Some(want),
            "{code}"
        );
        assert!(
            page.contains(&format!("value=\"{code}\"")),
            "{code} stays in the field"
        );
    }
    let (_, s) = h
        .get(
            &format!("/v1/checkout/sessions/{}", s["id"].as_str().unwrap()),
            &[],
        )
        .await;
    assert_eq!(s["discounts"], serde_json::json!([]));
    assert_eq!(s["amount_total"], 3000);
    // A first-time customer may use WELCOME; paying as someone who has paid before may not.
    let (status, _) = code_field(&h, &url, Some("WELCOME")).await;
    assert_eq!(status, 200);
    let resp = h.pay(&url, "4242424242424242").await;
    assert_eq!(resp.status(), 400);
    let page = resp.text().await.unwrap();
    assert_eq!(
        text_of(&page, "#error").as_deref(),
        Some("This code is only valid for first-time customers.")
    );
    h.stop().await;
}

#[actix_web::test]
async fn a_full_discount_completes_without_a_payment() {
    let h = Harness::start().await;
    let p = product(&h, "Gift").await;
    let pr = price(&h, &p, 2500, "usd", "unspecified").await;
    let c = coupon(&h, &[("percent_off", "100")]).await;
    promo(&h, &c, "FREE", &[]).await;
    let s = session(&h, &[(&pr, 2)], &[("allow_promotion_codes", "true")]).await;
    let (sid, url) = (s["id"].as_str().unwrap(), s["url"].as_str().unwrap());
    let (status, page) = code_field(&h, url, Some("FREE")).await;
    assert_eq!(status, 200);
    assert_eq!(text_of(&page, "#total").as_deref(), Some("$0.00"));
    assert_eq!(text_of(&page, "#submit").as_deref(), Some("Complete order"));
    assert!(!page.contains("card_number"), "no card fields");
    assert!(!page.contains("account_number"), "no bank fields");
    let resp = h
        .http
        .post(url)
        .form(&[("email", "free@example.com"), ("expected_total", "0")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(
        location(&resp),
        format!("http://shop.test/ok?session_id={sid}")
    );
    let typed = RetrieveCheckoutSession::new(sid)
        .send(&h.stripe)
        .await
        .unwrap();
    assert_eq!(
        typed.payment_status,
        CheckoutSessionPaymentStatus::NoPaymentRequired
    );
    assert!(typed.payment_intent.is_none());
    assert_eq!(typed.amount_total, Some(0));
    assert_eq!(typed.total_details.unwrap().amount_discount, 5000);
    let completed = h.hooks.wait_for("checkout.session.completed").await;
    assert_eq!(
        completed.json["data"]["object"]["payment_status"],
        "no_payment_required"
    );
    let kinds = h.hooks.kinds();
    assert!(
        !kinds
            .iter()
            .any(|k| k.starts_with("payment_intent.") || k.starts_with("charge.")),
        "{kinds:?}"
    );
    let (_, pis) = h.get("/v1/payment_intents", &[]).await;
    assert_eq!(pis["data"], serde_json::json!([]));
    let (_, cp) = h.get(&format!("/v1/coupons/{c}"), &[]).await;
    assert_eq!(cp["times_redeemed"], 1);
    h.stop().await;
}

#[actix_web::test]
async fn promotion_codes_field_and_discounts_are_exclusive() {
    let h = Harness::start().await;
    let p = product(&h, "Hat").await;
    let pr = price(&h, &p, 1000, "usd", "unspecified").await;
    let c = coupon(&h, &[("percent_off", "10")]).await;
    let (s, e) = h
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "payment"),
                ("line_items[0][price]", &pr),
                ("line_items[0][quantity]", "1"),
                ("allow_promotion_codes", "true"),
                ("discounts[0][coupon]", &c),
            ],
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(e["error"]["type"], "invalid_request_error");
    assert_eq!(e["error"]["param"], "allow_promotion_codes");
    assert_eq!(
        e["error"]["message"],
        "You may only specify one of these parameters: allow_promotion_codes, discounts."
    );
    for (form, param) in [
        (
            vec![("discounts[0][coupon]", "NOPE")],
            "discounts[0][coupon]",
        ),
        (
            vec![("discounts[0][promotion_code]", "promo_nope")],
            "discounts[0][promotion_code]",
        ),
        (
            vec![
                ("discounts[0][coupon]", c.as_str()),
                ("discounts[1][coupon]", c.as_str()),
            ],
            "discounts",
        ),
    ] {
        let mut f = vec![
            ("mode", "payment"),
            ("line_items[0][price]", pr.as_str()),
            ("line_items[0][quantity]", "1"),
        ];
        f.extend(form);
        let (s, e) = h.post("/v1/checkout/sessions", &f).await;
        assert_eq!((s, e["error"]["param"].as_str()), (400, Some(param)), "{e}");
    }
    h.stop().await;
}

#[actix_web::test]
async fn inclusive_tax_is_the_part_inside_the_price() {
    let h = Harness::start().await;
    let p = product(&h, "Book").await;
    let eur = price(&h, &p, 11900, "eur", "inclusive").await;
    let gbp = price(&h, &p, 12000, "gbp", "inclusive").await;
    for (pr, country, tax, pct) in [(&eur, "DE", 1900, 19.0), (&gbp, "GB", 2000, 20.0)] {
        let s = session(&h, &[(pr, 1)], &[("automatic_tax[enabled]", "true")]).await;
        let resp = submit(
            &h,
            s["url"].as_str().unwrap(),
            country,
            "",
            "update_address",
            None,
        )
        .await;
        assert_eq!(resp.status(), 200);
        let page = resp.text().await.unwrap();
        assert!(
            text_of(&page, "#tax_label")
                .unwrap()
                .starts_with("Includes VAT")
        );
        let s = get_session(&h, s["id"].as_str().unwrap()).await;
        assert_eq!(s["amount_subtotal"], s["amount_total"], "nothing added");
        assert_eq!(s["total_details"]["amount_tax"], tax);
        let li = &s["line_items"]["data"][0];
        assert_eq!(li["amount_tax"], tax);
        assert_eq!(li["amount_total"], li["amount_subtotal"]);
        assert_eq!(li["taxes"][0]["rate"]["inclusive"], true);
        assert_eq!(li["taxes"][0]["rate"]["percentage"], pct);
        assert_eq!(
            li["taxes"][0]["taxable_amount"],
            li["amount_subtotal"].as_i64().unwrap() - tax
        );
    }
    // Elsewhere no tax is collected.
    let s = session(&h, &[(&eur, 1)], &[("automatic_tax[enabled]", "true")]).await;
    submit(
        &h,
        s["url"].as_str().unwrap(),
        "FR",
        "",
        "update_address",
        None,
    )
    .await;
    let s = get_session(&h, s["id"].as_str().unwrap()).await;
    assert_eq!(s["total_details"]["amount_tax"], 0);
    assert_eq!(
        s["line_items"]["data"][0]["taxes"][0]["taxability_reason"],
        "not_collecting"
    );
    h.stop().await;
}

#[actix_web::test]
async fn automatic_tax_needs_the_customers_address_or_permission_to_save_one() {
    let h = Harness::start().await;
    let p = product(&h, "Desk").await;
    let pr = price(&h, &p, 10000, "usd", "exclusive").await;
    let (_, cus) = h
        .post("/v1/customers", &[("email", "ann@example.com")])
        .await;
    let cid = cus["id"].as_str().unwrap();
    let base = [
        ("mode", "payment"),
        ("line_items[0][price]", pr.as_str()),
        ("line_items[0][quantity]", "1"),
        ("automatic_tax[enabled]", "true"),
        ("customer", cid),
        ("success_url", "http://shop.test/ok"),
    ];
    let (s, e) = h.post("/v1/checkout/sessions", &base).await;
    assert_eq!(s, 400, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("customer_update[address]")
    );
    let mut with = base.to_vec();
    with.push(("customer_update[address]", "auto"));
    let (s, sess) = h.post("/v1/checkout/sessions", &with).await;
    assert_eq!(s, 200, "{sess}");
    let url = sess["url"].as_str().unwrap();
    submit(&h, url, "US", "CA", "update_address", None).await;
    let resp = submit(&h, url, "US", "CA", "pay", Some(10725)).await;
    assert_eq!(resp.status(), 303);
    let (_, cus) = h.get(&format!("/v1/customers/{cid}"), &[]).await;
    assert_eq!(cus["address"]["country"], "US");
    assert_eq!(cus["address"]["state"], "CA");
    // Now the customer has an address: it is the tax location from the start.
    let (s, again) = h.post("/v1/checkout/sessions", &base).await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(again["automatic_tax"]["status"], "complete");
    assert_eq!(again["total_details"]["amount_tax"], 725);
    let page = h
        .http
        .get(again["url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        text_of(&page, "#billing_address_fixed").as_deref(),
        Some("CA, United States")
    );
    // customer_update needs a customer.
    let (s, e) = h
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "payment"),
                ("line_items[0][price]", pr.as_str()),
                ("line_items[0][quantity]", "1"),
                ("customer_update[address]", "auto"),
            ],
        )
        .await;
    assert_eq!(
        (s, e["error"]["param"].as_str()),
        (400, Some("customer_update"))
    );
    h.stop().await;
}

#[actix_web::test]
async fn a_price_keeps_its_tax_behavior_once_set() {
    let h = Harness::start().await;
    let p = product(&h, "Pen").await;
    let open = price(&h, &p, 100, "usd", "unspecified").await;
    let (s, v) = h
        .post(
            &format!("/v1/prices/{open}"),
            &[("tax_behavior", "inclusive")],
        )
        .await;
    assert_eq!((s, v["tax_behavior"].as_str()), (200, Some("inclusive")));
    let (s, e) = h
        .post(
            &format!("/v1/prices/{open}"),
            &[("tax_behavior", "exclusive")],
        )
        .await;
    assert_eq!(
        (s, e["error"]["param"].as_str()),
        (400, Some("tax_behavior"))
    );
    let (s, _) = h
        .post(
            &format!("/v1/prices/{open}"),
            &[("tax_behavior", "inclusive")],
        )
        .await;
    assert_eq!(s, 200, "the same value is fine");
    let (s, e) = h
        .post("/v1/products", &[("name", "X"), ("tax_code", "food")])
        .await;
    assert_eq!((s, e["error"]["param"].as_str()), (400, Some("tax_code")));
    h.stop().await;
}

/// Subscribe to a monthly price with `discounts[0][coupon]`; returns the subscription id.
async fn subscribe_with(
    h: &Harness,
    price: &str,
    coupon: &str,
    extra: &[(&str, &str)],
) -> (String, Value) {
    let mut form = vec![
        ("mode", "subscription"),
        ("line_items[0][price]", price),
        ("line_items[0][quantity]", "1"),
        ("discounts[0][coupon]", coupon),
        ("success_url", "http://shop.test/ok"),
    ];
    form.extend_from_slice(extra);
    let (s, sess) = h.post("/v1/checkout/sessions", &form).await;
    assert_eq!(s, 200, "{sess}");
    let resp = h
        .pay(sess["url"].as_str().unwrap(), "4242424242424242")
        .await;
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
    let (_, sess) = h
        .get(
            &format!("/v1/checkout/sessions/{}", sess["id"].as_str().unwrap()),
            &[],
        )
        .await;
    (sess["subscription"].as_str().unwrap().to_string(), sess)
}

async fn invoice_amounts(h: &Harness, sub: &str) -> Vec<(i64, i64)> {
    let list = ListInvoice::new()
        .subscription(sub)
        .limit(100)
        .send(&h.stripe)
        .await
        .unwrap();
    let mut v: Vec<(i64, i64, i64)> = list
        .data
        .iter()
        .map(|i| {
            let disc: i64 = i
                .total_discount_amounts
                .as_ref()
                .map(|d| d.iter().map(|x| x.amount).sum())
                .unwrap_or(0);
            (i.created, i.amount_due, disc)
        })
        .collect();
    v.sort();
    v.into_iter().map(|(_, due, disc)| (due, disc)).collect()
}

#[actix_web::test]
async fn a_three_month_coupon_discounts_the_first_three_invoices() {
    let h = Harness::start().await;
    let p = product(&h, "Club").await;
    let (s, monthly) = h
        .post(
            "/v1/prices",
            &[
                ("product", p.as_str()),
                ("unit_amount", "2000"),
                ("currency", "usd"),
                ("recurring[interval]", "month"),
            ],
        )
        .await;
    assert_eq!(s, 200);
    let monthly = monthly["id"].as_str().unwrap().to_string();
    let c = coupon(
        &h,
        &[
            ("percent_off", "50"),
            ("duration", "repeating"),
            ("duration_in_months", "3"),
        ],
    )
    .await;
    let (sub_id, sess) = subscribe_with(&h, &monthly, &c, &[]).await;
    assert_eq!(sess["amount_total"], 1000);
    let sub = RetrieveSubscription::new(sub_id.as_str())
        .expand(vec!["discounts".to_string()])
        .send(&h.stripe)
        .await
        .unwrap();
    assert_eq!(sub.discounts.len(), 1);
    match &sub.discounts[0] {
        stripe_types::Expandable::Object(d) => {
            assert_eq!(d.subscription.as_deref(), Some(sub_id.as_str()));
            let start = d.start;
            assert_eq!(d.end, Some(start + 90 * DAY), "three 30-day months");
        }
        other => panic!("discount not expanded: {other:?}"),
    }
    let first = RetrieveInvoice::new(
        sub.latest_invoice
            .as_ref()
            .unwrap()
            .id()
            .clone()
            .expect("invoice id"),
    )
    .send(&h.stripe)
    .await
    .unwrap();
    assert_eq!(
        (first.subtotal, first.total, first.amount_due),
        (2000, 1000, 1000)
    );
    assert_eq!(first.discounts.len(), 1);
    assert_eq!(
        first.lines.data[0].discount_amounts.as_ref().unwrap()[0].amount,
        1000
    );
    for _ in 0..3 {
        h.emu.advance_clock(30 * DAY).await.unwrap();
    }
    assert_eq!(
        invoice_amounts(&h, &sub_id).await,
        vec![(1000, 1000), (1000, 1000), (1000, 1000), (2000, 0)]
    );
    let sub = RetrieveSubscription::new(sub_id.as_str())
        .send(&h.stripe)
        .await
        .unwrap();
    assert!(sub.discounts.is_empty(), "the discount ended");
    h.hooks.wait_for("customer.discount.deleted").await;
    h.hooks.wait_for("customer.discount.created").await;
    h.stop().await;
}

#[actix_web::test]
async fn once_and_forever_coupons_on_renewals_and_tax_on_invoices() {
    let h = Harness::start().await;
    let p = product(&h, "Box").await;
    let (_, monthly) = h
        .post(
            "/v1/prices",
            &[
                ("product", p.as_str()),
                ("unit_amount", "1000"),
                ("currency", "eur"),
                ("recurring[interval]", "month"),
                ("tax_behavior", "exclusive"),
            ],
        )
        .await;
    let monthly = monthly["id"].as_str().unwrap().to_string();
    let once = coupon(&h, &[("amount_off", "300"), ("currency", "eur")]).await;
    let forever = coupon(&h, &[("percent_off", "10"), ("duration", "forever")]).await;
    let (once_sub, _) = subscribe_with(&h, &monthly, &once, &[]).await;

    // A taxed subscription: the address from the page taxes every invoice.
    let (s, sess) = h
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "subscription"),
                ("line_items[0][price]", monthly.as_str()),
                ("line_items[0][quantity]", "1"),
                ("discounts[0][coupon]", forever.as_str()),
                ("automatic_tax[enabled]", "true"),
                ("success_url", "http://shop.test/ok"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{sess}");
    let url = sess["url"].as_str().unwrap();
    // 1000 − 10 % = 900, VAT 19 % = 171.
    let resp = submit(&h, url, "DE", "", "pay", Some(1071)).await;
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
    let (_, sess) = h
        .get(
            &format!("/v1/checkout/sessions/{}", sess["id"].as_str().unwrap()),
            &[],
        )
        .await;
    let taxed_sub = sess["subscription"].as_str().unwrap().to_string();
    assert_eq!(sess["amount_total"], 1071);

    h.emu.advance_clock(30 * DAY).await.unwrap();
    h.emu.advance_clock(30 * DAY).await.unwrap();
    assert_eq!(
        invoice_amounts(&h, &once_sub).await,
        vec![(700, 300), (1000, 0), (1000, 0)]
    );
    assert_eq!(
        invoice_amounts(&h, &taxed_sub).await,
        vec![(1071, 100), (1071, 100), (1071, 100)]
    );
    let list = ListInvoice::new()
        .subscription(taxed_sub.as_str())
        .send(&h.stripe)
        .await
        .unwrap();
    for inv in &list.data {
        let taxes = inv.total_taxes.as_ref().unwrap();
        assert_eq!(taxes[0].amount, 171);
        assert_eq!(taxes[0].taxable_amount, Some(900));
        assert!(inv.automatic_tax.enabled);
        assert_eq!(inv.total_excluding_tax, Some(900));
    }
    h.stop().await;
}
