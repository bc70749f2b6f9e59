//! P3: every object the emulator returns validates against the OpenAPI subset in
//! `../shared/stripe-openapi/spec-subset.json` (API version 2023-08-16) for the fields both know.
//!
//! The validator understands the parts of OpenAPI 3.0 that Stripe's spec uses for responses:
//! `$ref`, `nullable`, `anyOf`/`oneOf`, `type`, `enum` (open when `x-stripeBypassValidation`),
//! `required`, `properties`, `items`. Extra fields pass (resource schemas are open).

use std::sync::OnceLock;

use serde_json::Value;

use crate::support::Harness;

/// Fields the 2023-08-16 spec requires that later API versions removed or moved, so an object
/// of version `2026-09-30.endive` rightly lacks them. Never add stale fields to pass instead.
const EXEMPT: &[(&str, &str, &str)] = &[
    (
        "invoice",
        "paid",
        "removed in 2025-03-31.basil; derived from `status`",
    ),
    (
        "invoice",
        "paid_out_of_band",
        "removed in 2025-03-31.basil; derived from `status`",
    ),
    (
        "invoice",
        "total_tax_amounts",
        "removed in 2025-03-31.basil; replaced by `total_taxes`",
    ),
    (
        "line_item",
        "type",
        "removed from invoice line items; now `parent.type`",
    ),
    (
        "line_item",
        "proration",
        "removed; now `parent.subscription_item_details.proration`",
    ),
    (
        "subscription",
        "current_period_start",
        "moved to each subscription item in 2025-03-31.basil",
    ),
    (
        "subscription",
        "current_period_end",
        "moved to each subscription item in 2025-03-31.basil",
    ),
    ("product", "features", "renamed to `marketing_features`"),
    (
        "discount",
        "coupon",
        "moved to `source.coupon` (async-stripe rc.10's `Discount`; `customer.discount` in fixtures-subset-latest)",
    ),
    (
        "promotion_code",
        "coupon",
        "moved to `promotion.coupon` (async-stripe rc.10's `PromotionCode`)",
    ),
];

fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        // The reference data lives beside the repository (shared/), not in it.
        let dir = std::env::var("STRIPE_OPENAPI_DIR").unwrap_or_else(|_| {
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/stripe-openapi"
            )
            .to_owned()
        });
        let path = format!("{dir}/spec-subset.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{path}: {e} (set STRIPE_OPENAPI_DIR)"));
        serde_json::from_str(&text).expect("spec is JSON")
    })
}

fn resolve(schema: &Value) -> &Value {
    let mut s = schema;
    while let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/components/schemas/");
        s = &spec()["components"]["schemas"][name];
    }
    s
}

fn schema_name(schema: &Value) -> Option<String> {
    schema
        .get("x-resourceId")
        .or_else(|| schema.get("title"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn validate(v: &Value, schema: &Value, path: &str, errors: &mut Vec<String>) {
    let schema = resolve(schema);
    if v.is_null() {
        if schema.get("nullable") != Some(&Value::Bool(true)) {
            errors.push(format!("{path}: null but not nullable"));
        }
        return;
    }
    if let Some(alts) = schema
        .get("anyOf")
        .or_else(|| schema.get("oneOf"))
        .and_then(Value::as_array)
    {
        let mut best: Option<Vec<String>> = None;
        for alt in alts {
            let mut e = Vec::new();
            validate(v, alt, path, &mut e);
            if e.is_empty() {
                return;
            }
            if best.as_ref().is_none_or(|b| e.len() < b.len()) {
                best = Some(e);
            }
        }
        errors.extend(best.unwrap_or_default());
        return;
    }
    let ty = schema.get("type").and_then(Value::as_str);
    let ok = match ty {
        Some("string") => v.is_string(),
        Some("integer") => v.is_i64() || v.is_u64(),
        Some("number") => v.is_number(),
        Some("boolean") => v.is_boolean(),
        Some("array") => v.is_array(),
        Some("object") => v.is_object(),
        _ => true,
    };
    if !ok {
        errors.push(format!("{path}: expected {}, got {v}", ty.unwrap_or("?")));
        return;
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        let open = schema.get("x-stripeBypassValidation") == Some(&Value::Bool(true));
        if !open && !options.contains(v) {
            errors.push(format!("{path}: {v} not in {options:?}"));
        }
    }
    if let Some(items) = schema.get("items") {
        for (i, item) in v.as_array().into_iter().flatten().enumerate() {
            validate(item, items, &format!("{path}[{i}]"), errors);
        }
    }
    if let Some(obj) = v.as_object() {
        let name = schema_name(schema).unwrap_or_default();
        let props = schema.get("properties").and_then(Value::as_object);
        for req in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let req = req.as_str().unwrap_or_default();
            if !obj.contains_key(req) && !EXEMPT.iter().any(|(n, f, _)| *n == name && *f == req) {
                errors.push(format!("{path}.{req}: required by `{name}` but missing"));
            }
        }
        if let Some(props) = props {
            for (k, sub) in props {
                if let Some(val) = obj.get(k) {
                    validate(val, sub, &format!("{path}.{k}"), errors);
                }
            }
        }
    }
}

/// Validate an object against the schema named by its `object` field (events: their
/// `data.object` too).
pub fn check_object(v: &Value) -> Vec<String> {
    let kind = match v["object"].as_str() {
        Some("customer") if v["deleted"] == true => "deleted_customer",
        Some(k) => k,
        None => return vec![format!("no object field: {v}")],
    };
    let schema = &spec()["components"]["schemas"][kind];
    if schema.is_null() {
        return vec![format!("no schema for {kind}")];
    }
    let mut errors = Vec::new();
    validate(v, schema, kind, &mut errors);
    if kind == "event" {
        errors.extend(check_object(&v["data"]["object"]));
    }
    errors
}

fn assert_valid(v: &Value) {
    let errors = check_object(v);
    assert!(
        errors.is_empty(),
        "{} does not match the spec:\n{}",
        v["object"],
        errors.join("\n")
    );
}

#[test]
#[ignore = "needs the Stripe OpenAPI subset beside the repo (STRIPE_OPENAPI_DIR); .ci/run runs it"]
fn the_validator_rejects_wrong_objects() {
    let bad = serde_json::json!({
        "object": "refund", "id": "re_1", "amount": "ten", "created": 1, "currency": "usd",
        "status": null, "charge": 5, "metadata": {}, "reason": "because"
    });
    let errors = check_object(&bad);
    for needle in ["refund.amount", "refund.charge"] {
        assert!(
            errors.iter().any(|e| e.starts_with(needle)),
            "{needle} in {errors:?}"
        );
    }
    let missing = serde_json::json!({ "object": "price", "id": "price_1" });
    assert!(
        check_object(&missing)
            .iter()
            .any(|e| e.contains("required"))
    );
}

#[actix_web::test]
#[ignore = "needs the Stripe OpenAPI subset beside the repo (STRIPE_OPENAPI_DIR); .ci/run runs it"]
async fn objects_validate_against_the_openapi_subset() {
    let h = Harness::start().await;
    let (_, product) = h
        .post(
            "/v1/products",
            &[("name", "Schema mug"), ("description", "ceramic")],
        )
        .await;
    assert_valid(&product);
    let pid = product["id"].as_str().unwrap();
    let (_, price) = h
        .post(
            "/v1/prices",
            &[
                ("currency", "usd"),
                ("unit_amount", "900"),
                ("product", pid),
            ],
        )
        .await;
    assert_valid(&price);
    let (_, monthly) = h
        .post(
            "/v1/prices",
            &[
                ("currency", "usd"),
                ("unit_amount", "400"),
                ("product", pid),
                ("recurring[interval]", "month"),
            ],
        )
        .await;
    assert_valid(&monthly);
    let (_, customer) = h
        .post("/v1/customers", &[("email", "schema@example.com")])
        .await;
    assert_valid(&customer);

    let (sid, url) = h.session(price["id"].as_str().unwrap(), 2).await;
    let (_, open) = h
        .get(
            &format!("/v1/checkout/sessions/{sid}"),
            &[("expand[]", "line_items")],
        )
        .await;
    assert_valid(&open);
    h.pay(&url, "4000000000000002").await;
    assert_eq!(h.pay(&url, "4242424242424242").await.status(), 303);
    let (_, done) = h
        .get(
            &format!("/v1/checkout/sessions/{sid}"),
            &[("expand[]", "payment_intent.latest_charge")],
        )
        .await;
    assert_valid(&done);
    let (_, items) = h
        .get(&format!("/v1/checkout/sessions/{sid}/line_items"), &[])
        .await;
    for it in items["data"].as_array().unwrap() {
        assert_valid(it);
    }
    let pi = done["payment_intent"]["id"].as_str().unwrap();
    let (_, refund) = h
        .post("/v1/refunds", &[("payment_intent", pi), ("amount", "100")])
        .await;
    assert_valid(&refund);
    let (_, charge) = h
        .get(
            &format!("/v1/charges/{}", refund["charge"].as_str().unwrap()),
            &[],
        )
        .await;
    assert_valid(&charge);
    // Balance transactions: the charge's and the refund's, alone and listed by source.
    for bt in [
        &charge["balance_transaction"],
        &refund["balance_transaction"],
    ] {
        let (_, bt) = h
            .get(
                &format!("/v1/balance_transactions/{}", bt.as_str().unwrap()),
                &[],
            )
            .await;
        assert_valid(&bt);
    }
    let (_, listed) = h
        .get(
            "/v1/balance_transactions",
            &[("source", charge["id"].as_str().unwrap())],
        )
        .await;
    assert_valid(&listed["data"][0]);

    let (sid2, _) = h.session(price["id"].as_str().unwrap(), 1).await;
    let (_, expired) = h
        .post(&format!("/v1/checkout/sessions/{sid2}/expire"), &[])
        .await;
    assert_valid(&expired);

    // Subscription, invoice, portal session.
    let (s, sub_session) = h
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "subscription"),
                ("line_items[0][price]", monthly["id"].as_str().unwrap()),
                ("line_items[0][quantity]", "1"),
                ("success_url", "http://shop.test/ok"),
            ],
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        h.pay(sub_session["url"].as_str().unwrap(), "4242424242424242")
            .await
            .status(),
        303
    );
    let (_, sub_session) = h
        .get(
            &format!(
                "/v1/checkout/sessions/{}",
                sub_session["id"].as_str().unwrap()
            ),
            &[],
        )
        .await;
    assert_valid(&sub_session);
    let (_, sub) = h
        .get(
            &format!(
                "/v1/subscriptions/{}",
                sub_session["subscription"].as_str().unwrap()
            ),
            &[],
        )
        .await;
    assert_valid(&sub);
    let (_, inv) = h
        .get(
            &format!("/v1/invoices/{}", sub["latest_invoice"].as_str().unwrap()),
            &[],
        )
        .await;
    assert_valid(&inv);
    let (_, portal) = h
        .post(
            "/v1/billing_portal/sessions",
            &[
                ("customer", sub["customer"].as_str().unwrap()),
                ("return_url", "http://shop.test/account"),
            ],
        )
        .await;
    assert_valid(&portal);
    let (_, deleted) = h
        .api(
            reqwest::Method::DELETE,
            &format!("/v1/customers/{}", customer["id"].as_str().unwrap()),
            &[],
        )
        .await;
    assert_valid(&deleted);

    // Every event, with its data.object.
    let (_, events) = h.get("/v1/events", &[("limit", "100")]).await;
    let events = events["data"].as_array().unwrap();
    assert!(events.len() > 20);
    for e in events {
        assert_valid(e);
    }
    h.stop().await;
}

#[actix_web::test]
#[ignore = "needs the Stripe OpenAPI subset beside the repo (STRIPE_OPENAPI_DIR); .ci/run runs it"]
async fn discount_and_tax_objects_validate_against_the_openapi_subset() {
    let h = Harness::start().await;
    let (_, product) = h.post("/v1/products", &[("name", "Schema tee")]).await;
    let pid = product["id"].as_str().unwrap();
    let (_, price) = h
        .post(
            "/v1/prices",
            &[
                ("currency", "eur"),
                ("unit_amount", "2000"),
                ("product", pid),
                ("tax_behavior", "exclusive"),
            ],
        )
        .await;
    let (_, monthly) = h
        .post(
            "/v1/prices",
            &[
                ("currency", "eur"),
                ("unit_amount", "1000"),
                ("product", pid),
                ("recurring[interval]", "month"),
                ("tax_behavior", "inclusive"),
            ],
        )
        .await;
    let (_, coupon) = h
        .post(
            "/v1/coupons",
            &[
                ("percent_off", "25"),
                ("duration", "repeating"),
                ("duration_in_months", "2"),
                ("applies_to[products][]", pid),
            ],
        )
        .await;
    assert_valid(&coupon);
    let cid = coupon["id"].as_str().unwrap();
    let (_, expanded) = h
        .get(&format!("/v1/coupons/{cid}"), &[("expand[]", "applies_to")])
        .await;
    assert_valid(&expanded);
    let (_, promo) = h
        .post(
            "/v1/promotion_codes",
            &[
                ("promotion[type]", "coupon"),
                ("promotion[coupon]", cid),
                ("code", "SCHEMA25"),
                ("restrictions[minimum_amount]", "1000"),
                ("restrictions[minimum_amount_currency]", "eur"),
            ],
        )
        .await;
    assert_valid(&promo);

    let (s, session) = h
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "payment"),
                ("line_items[0][price]", price["id"].as_str().unwrap()),
                ("line_items[0][quantity]", "1"),
                ("allow_promotion_codes", "true"),
                ("automatic_tax[enabled]", "true"),
                ("success_url", "http://shop.test/ok"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{session}");
    assert_valid(&session);
    let url = session["url"].as_str().unwrap();
    let sid = session["id"].as_str().unwrap();
    let resp = h
        .http
        .post(format!("{url}/promotion_code"))
        .form(&[("promotion_code", "SCHEMA25"), ("action", "apply")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = h
        .http
        .post(url)
        .form(&[
            ("email", "schema@example.com"),
            ("billing_country", "DE"),
            ("method", "card"),
            ("card_number", "4242424242424242"),
            ("card_expiry", "12 / 34"),
            ("card_cvc", "123"),
        ])
        .send()
        .await
        .unwrap();
    // The tax changed the total: confirm it.
    assert_eq!(resp.status(), 409);
    let resp = h
        .http
        .post(url)
        .form(&[
            ("email", "schema@example.com"),
            ("billing_country", "DE"),
            ("expected_total", "1785"),
            ("method", "card"),
            ("card_number", "4242424242424242"),
            ("card_expiry", "12 / 34"),
            ("card_cvc", "123"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let (_, done) = h
        .get(
            &format!("/v1/checkout/sessions/{sid}"),
            &[
                ("expand[]", "total_details.breakdown"),
                ("expand[]", "discounts.promotion_code"),
                ("expand[]", "discounts.coupon"),
            ],
        )
        .await;
    assert_valid(&done);
    let (_, items) = h
        .get(
            &format!("/v1/checkout/sessions/{sid}/line_items"),
            &[("expand[]", "data.discounts"), ("expand[]", "data.taxes")],
        )
        .await;
    for it in items["data"].as_array().unwrap() {
        assert_valid(it);
        assert_valid(&it["taxes"][0]["rate"]);
        assert_valid(&it["discounts"][0]["discount"]);
    }

    let (s, sub_session) = h
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "subscription"),
                ("line_items[0][price]", monthly["id"].as_str().unwrap()),
                ("line_items[0][quantity]", "1"),
                ("discounts[0][coupon]", cid),
                ("success_url", "http://shop.test/ok"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{sub_session}");
    assert_eq!(
        h.pay(sub_session["url"].as_str().unwrap(), "4242424242424242")
            .await
            .status(),
        303
    );
    let (_, sub_session) = h
        .get(
            &format!(
                "/v1/checkout/sessions/{}",
                sub_session["id"].as_str().unwrap()
            ),
            &[],
        )
        .await;
    let (_, sub) = h
        .get(
            &format!(
                "/v1/subscriptions/{}",
                sub_session["subscription"].as_str().unwrap()
            ),
            &[("expand[]", "discounts")],
        )
        .await;
    assert_valid(&sub);
    let (_, inv) = h
        .get(
            &format!("/v1/invoices/{}", sub["latest_invoice"].as_str().unwrap()),
            &[("expand[]", "discounts")],
        )
        .await;
    assert_valid(&inv);
    assert_eq!(inv["total_discount_amounts"][0]["amount"], 250);

    let (_, events) = h.get("/v1/events", &[("limit", "100")]).await;
    for e in events["data"].as_array().unwrap() {
        assert_valid(e);
    }
    h.stop().await;
}

#[actix_web::test]
#[ignore = "needs the Stripe OpenAPI subset beside the repo (STRIPE_OPENAPI_DIR); .ci/run runs it"]
async fn shipping_objects_validate_against_the_openapi_subset() {
    let h = Harness::start().await;
    let (_, rate) = h
        .post(
            "/v1/shipping_rates",
            &[
                ("display_name", "Ground"),
                ("fixed_amount[amount]", "500"),
                ("fixed_amount[currency]", "eur"),
                ("delivery_estimate[minimum][unit]", "business_day"),
                ("delivery_estimate[minimum][value]", "2"),
                ("tax_behavior", "exclusive"),
                ("tax_code", "txcd_92010001"),
            ],
        )
        .await;
    assert_valid(&rate);
    let rid = rate["id"].as_str().unwrap();
    let (_, plain) = h
        .post(
            "/v1/shipping_rates",
            &[
                ("display_name", "Pickup"),
                ("fixed_amount[amount]", "0"),
                ("fixed_amount[currency]", "eur"),
            ],
        )
        .await;
    assert_valid(&plain);
    let (_, updated) = h
        .post(&format!("/v1/shipping_rates/{rid}"), &[("active", "false")])
        .await;
    assert_valid(&updated);
    let (_, list) = h.get("/v1/shipping_rates", &[]).await;
    for r in list["data"].as_array().unwrap() {
        assert_valid(r);
    }
    h.post(&format!("/v1/shipping_rates/{rid}"), &[("active", "true")])
        .await;

    let (_, price) = h
        .post(
            "/v1/prices",
            &[
                ("currency", "eur"),
                ("unit_amount", "2000"),
                ("product_data[name]", "Schema lamp"),
                ("tax_behavior", "exclusive"),
            ],
        )
        .await;
    let (s, session) = h
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "payment"),
                ("line_items[0][price]", price["id"].as_str().unwrap()),
                ("line_items[0][quantity]", "1"),
                ("automatic_tax[enabled]", "true"),
                ("shipping_address_collection[allowed_countries][0]", "DE"),
                ("phone_number_collection[enabled]", "true"),
                ("shipping_options[0][shipping_rate]", rid),
                (
                    "shipping_options[1][shipping_rate_data][display_name]",
                    "Express",
                ),
                (
                    "shipping_options[1][shipping_rate_data][fixed_amount][amount]",
                    "1500",
                ),
                (
                    "shipping_options[1][shipping_rate_data][fixed_amount][currency]",
                    "eur",
                ),
                ("success_url", "http://shop.test/ok"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{session}");
    assert_valid(&session);
    let sid = session["id"].as_str().unwrap();
    let resp = h
        .http
        .post(session["url"].as_str().unwrap())
        .form(&[
            ("email", "schema@example.com"),
            ("shipping_name", "Ada"),
            ("shipping_line1", "Unter den Linden 1"),
            ("shipping_city", "Berlin"),
            ("shipping_postal_code", "10117"),
            ("shipping_country", "DE"),
            ("phone", "+49 30 1234567"),
            // 2000 + 500, VAT 19 %.
            ("expected_total", "2975"),
            ("method", "card"),
            ("card_number", "4242424242424242"),
            ("card_expiry", "12 / 34"),
            ("card_cvc", "123"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
    let (_, done) = h
        .get(
            &format!("/v1/checkout/sessions/{sid}"),
            &[
                ("expand[]", "shipping_cost.shipping_rate"),
                ("expand[]", "shipping_cost.taxes"),
                ("expand[]", "shipping_options.shipping_rate"),
                ("expand[]", "total_details.breakdown"),
                ("expand[]", "payment_intent.latest_charge"),
            ],
        )
        .await;
    assert_eq!(done["shipping_cost"]["amount_tax"], 95);
    assert_valid(&done);
    assert_valid(&done["shipping_cost"]["taxes"][0]["rate"]);
    assert!(done["payment_intent"]["shipping"].is_object());

    // Customers and invoices with shipping details.
    let (_, customer) = h
        .post(
            "/v1/customers",
            &[
                ("email", "ship@example.com"),
                ("shipping[name]", "Ada"),
                ("shipping[phone]", "+4930123"),
                ("shipping[address][line1]", "Unter den Linden 1"),
                ("shipping[address][country]", "DE"),
            ],
        )
        .await;
    assert_valid(&customer);
    let cus = customer["id"].as_str().unwrap();
    let (_, monthly) = h
        .post(
            "/v1/prices",
            &[
                ("currency", "eur"),
                ("unit_amount", "1000"),
                ("product_data[name]", "Schema club"),
                ("recurring[interval]", "month"),
            ],
        )
        .await;
    let (s, sub_session) = h
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "subscription"),
                ("line_items[0][price]", monthly["id"].as_str().unwrap()),
                ("line_items[0][quantity]", "1"),
                ("customer", cus),
                ("success_url", "http://shop.test/ok"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{sub_session}");
    assert_eq!(
        h.pay(sub_session["url"].as_str().unwrap(), "4242424242424242")
            .await
            .status(),
        303
    );
    let (_, sub_session) = h
        .get(
            &format!(
                "/v1/checkout/sessions/{}",
                sub_session["id"].as_str().unwrap()
            ),
            &[("expand[]", "invoice")],
        )
        .await;
    assert_eq!(sub_session["invoice"]["customer_shipping"]["name"], "Ada");
    assert_valid(&sub_session);
    assert_valid(&sub_session["invoice"]);
    let (_, cleared) = h
        .post(&format!("/v1/customers/{cus}"), &[("shipping", "")])
        .await;
    assert_valid(&cleared);

    let (_, events) = h.get("/v1/events", &[("limit", "100")]).await;
    for e in events["data"].as_array().unwrap() {
        assert_valid(e);
    }
    h.stop().await;
}

#[actix_web::test]
#[ignore = "needs the Stripe OpenAPI subset beside the repo (STRIPE_OPENAPI_DIR); .ci/run runs it"]
async fn saved_payment_method_objects_validate_against_the_openapi_subset() {
    let h = Harness::start().await;
    let price = h.one_time_price("Schema card", 900, "usd").await;
    let (_, customer) = h
        .post("/v1/customers", &[("email", "saver@example.com")])
        .await;
    let cus = customer["id"].as_str().unwrap();
    let (_, session) = h
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "payment"),
                ("line_items[0][price]", &price),
                ("line_items[0][quantity]", "1"),
                ("customer", cus),
                (
                    "saved_payment_method_options[payment_method_save]",
                    "enabled",
                ),
                ("success_url", "http://shop.test/ok"),
            ],
        )
        .await;
    assert_valid(&session);
    let paid = h
        .http
        .post(session["url"].as_str().unwrap())
        .form(&[
            ("email", "saver@example.com"),
            ("method", "card"),
            ("card_number", "4242424242424242"),
            ("card_expiry", "12 / 34"),
            ("card_cvc", "123"),
            ("save_card", "on"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), 303);
    let (_, list) = h
        .get(&format!("/v1/customers/{cus}/payment_methods"), &[])
        .await;
    let methods = list["data"].as_array().unwrap();
    assert_eq!(methods.len(), 1);
    for pm in methods {
        assert_valid(pm);
    }
    let pm = methods[0]["id"].as_str().unwrap();
    let (_, detached) = h
        .post(&format!("/v1/payment_methods/{pm}/detach"), &[])
        .await;
    assert_valid(&detached);
    h.stop().await;
}
