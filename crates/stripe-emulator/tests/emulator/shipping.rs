//! Shipping: shipping rates, a Checkout Session's shipping options, address and phone fields,
//! shipping on the hosted page (with its totals, tax and `expected_total`), and shipping details
//! on Customers and subscription invoices.

use std::collections::HashMap;

use scraper::{Html, Selector};
use serde_json::Value;
use stripe_billing::invoice::RetrieveInvoice;
use stripe_checkout::checkout_session::RetrieveCheckoutSession;
use stripe_core::customer::{RetrieveCustomer, RetrieveCustomerReturned};
use stripe_core::payment_intent::RetrievePaymentIntent;
use stripe_product::shipping_rate::{
    CreateShippingRate, CreateShippingRateDeliveryEstimate,
    CreateShippingRateDeliveryEstimateMaximum, CreateShippingRateDeliveryEstimateMaximumUnit,
    CreateShippingRateDeliveryEstimateMinimum, CreateShippingRateDeliveryEstimateMinimumUnit,
    CreateShippingRateFixedAmount, ListShippingRate, RetrieveShippingRate, UpdateShippingRate,
};
use stripe_shared::{ShippingRateDeliveryEstimateBoundUnit, ShippingRateTaxBehavior};

use crate::support::Harness;

const DAY: i64 = 86_400;

/// Form fields, in order.
type Form<'a> = Vec<(&'a str, &'a str)>;

fn text_of(html: &str, css: &str) -> Option<String> {
    let doc = Html::parse_document(html);
    let sel = Selector::parse(css).unwrap();
    doc.select(&sel)
        .next()
        .map(|e| e.text().collect::<String>().trim().to_string())
}

fn count(html: &str, css: &str) -> usize {
    Html::parse_document(html)
        .select(&Selector::parse(css).unwrap())
        .count()
}

fn attr(html: &str, css: &str, name: &str) -> Option<String> {
    let doc = Html::parse_document(html);
    let sel = Selector::parse(css).unwrap();
    doc.select(&sel)
        .next()
        .and_then(|e| e.value().attr(name).map(str::to_string))
}

async fn price(h: &Harness, amount: i64, currency: &str, tax: &str) -> String {
    let amount = amount.to_string();
    let (s, v) = h
        .post(
            "/v1/prices",
            &[
                ("product_data[name]", "Lamp"),
                ("unit_amount", &amount),
                ("currency", currency),
                ("tax_behavior", tax),
            ],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    v["id"].as_str().unwrap().to_string()
}

/// `POST /v1/checkout/sessions` with one line of `price` and `extra`; returns (status, body).
async fn try_session(h: &Harness, price: &str, mode: &str, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut form = vec![
        ("mode", mode),
        ("line_items[0][price]", price),
        ("line_items[0][quantity]", "1"),
        (
            "success_url",
            "http://shop.test/ok?session_id={CHECKOUT_SESSION_ID}",
        ),
        ("cancel_url", "http://shop.test/cancel"),
    ];
    form.extend_from_slice(extra);
    h.post("/v1/checkout/sessions", &form).await
}

async fn session(h: &Harness, price: &str, extra: &[(&str, &str)]) -> Value {
    let (s, v) = try_session(h, price, "payment", extra).await;
    assert_eq!(s, 200, "{v}");
    v
}

async fn get_session(h: &Harness, id: &str, expand: &[&str]) -> Value {
    let q: Vec<(&str, &str)> = expand.iter().map(|e| ("expand[]", *e)).collect();
    let (s, v) = h.get(&format!("/v1/checkout/sessions/{id}"), &q).await;
    assert_eq!(s, 200, "{v}");
    v
}

/// Two inline rates: Standard ($5.00, 3–5 business days) and Express ($15.00, 1 business day).
const TWO_RATES: &[(&str, &str)] = &[
    (
        "shipping_options[0][shipping_rate_data][display_name]",
        "Standard",
    ),
    (
        "shipping_options[0][shipping_rate_data][type]",
        "fixed_amount",
    ),
    (
        "shipping_options[0][shipping_rate_data][fixed_amount][amount]",
        "500",
    ),
    (
        "shipping_options[0][shipping_rate_data][fixed_amount][currency]",
        "usd",
    ),
    (
        "shipping_options[0][shipping_rate_data][delivery_estimate][minimum][unit]",
        "business_day",
    ),
    (
        "shipping_options[0][shipping_rate_data][delivery_estimate][minimum][value]",
        "3",
    ),
    (
        "shipping_options[0][shipping_rate_data][delivery_estimate][maximum][unit]",
        "business_day",
    ),
    (
        "shipping_options[0][shipping_rate_data][delivery_estimate][maximum][value]",
        "5",
    ),
    (
        "shipping_options[0][shipping_rate_data][metadata][tier]",
        "standard",
    ),
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
        "usd",
    ),
    (
        "shipping_options[1][shipping_rate_data][delivery_estimate][minimum][unit]",
        "business_day",
    ),
    (
        "shipping_options[1][shipping_rate_data][delivery_estimate][minimum][value]",
        "1",
    ),
    (
        "shipping_options[1][shipping_rate_data][delivery_estimate][maximum][unit]",
        "business_day",
    ),
    (
        "shipping_options[1][shipping_rate_data][delivery_estimate][maximum][value]",
        "1",
    ),
];

/// A shipping address in the page's field names.
fn ship_to<'a>(country: &'a str, state: &'a str, postal: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("shipping_name", "Ada Lovelace"),
        ("shipping_line1", "1 Analytical Way"),
        ("shipping_line2", "Apt 2"),
        ("shipping_city", "Springfield"),
        ("shipping_state", state),
        ("shipping_postal_code", postal),
        ("shipping_country", country),
    ]
}

/// Submit the payment form: e-mail, a working card, `action`, and `fields`.
async fn submit(h: &Harness, url: &str, action: &str, fields: &[(&str, &str)]) -> (u16, String) {
    let mut form = vec![
        ("email", "ada@example.com"),
        ("method", "card"),
        ("card_number", "4242424242424242"),
        ("card_expiry", "12 / 34"),
        ("card_cvc", "123"),
        ("action", action),
    ];
    form.extend_from_slice(fields);
    let resp = h.http.post(url).form(&form).send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// The invariant every session keeps.
fn assert_totals_add_up(s: &Value, exclusive_tax: i64) {
    let n = |v: &Value| v.as_i64().unwrap();
    let td = &s["total_details"];
    assert_eq!(
        n(&s["amount_total"]),
        n(&s["amount_subtotal"]) - n(&td["amount_discount"])
            + n(&td["amount_shipping"])
            + exclusive_tax,
        "{s}"
    );
}

#[actix_web::test]
async fn shipping_rates_are_created_retrieved_listed_and_updated() {
    let h = Harness::start().await;
    let c = &h.stripe;
    let mut estimate = CreateShippingRateDeliveryEstimate::new();
    estimate.minimum = Some(CreateShippingRateDeliveryEstimateMinimum::new(
        CreateShippingRateDeliveryEstimateMinimumUnit::BusinessDay,
        3,
    ));
    estimate.maximum = Some(CreateShippingRateDeliveryEstimateMaximum::new(
        CreateShippingRateDeliveryEstimateMaximumUnit::BusinessDay,
        5,
    ));
    let ground = CreateShippingRate::new("Ground")
        .fixed_amount(CreateShippingRateFixedAmount::new(
            500,
            stripe_types::Currency::USD,
        ))
        .delivery_estimate(estimate)
        .tax_behavior(ShippingRateTaxBehavior::Exclusive)
        .tax_code("txcd_92010001")
        .metadata(HashMap::from([("carrier".to_string(), "ups".to_string())]))
        .send(c)
        .await
        .unwrap();
    assert!(ground.id.as_str().starts_with("shr_"));
    assert!(ground.active && !ground.livemode);
    assert_eq!(ground.display_name.as_deref(), Some("Ground"));
    let fa = ground.fixed_amount.as_ref().unwrap();
    assert_eq!(
        (fa.amount, &fa.currency),
        (500, &stripe_types::Currency::USD)
    );
    let e = ground.delivery_estimate.as_ref().unwrap();
    let min = e.minimum.as_ref().unwrap();
    assert_eq!(
        (&min.unit, min.value),
        (&ShippingRateDeliveryEstimateBoundUnit::BusinessDay, 3)
    );
    assert_eq!(e.maximum.as_ref().unwrap().value, 5);
    assert_eq!(
        ground.tax_behavior,
        Some(ShippingRateTaxBehavior::Exclusive)
    );
    assert!(matches!(
        &ground.tax_code,
        Some(stripe_types::Expandable::Id(code)) if code.as_str() == "txcd_92010001"
    ));
    assert_eq!(
        ground.metadata.get("carrier").map(String::as_str),
        Some("ups")
    );

    // The defaults, as Stripe shows them.
    let (s, pickup) = h
        .post(
            "/v1/shipping_rates",
            &[
                ("display_name", "Pickup"),
                ("fixed_amount[amount]", "0"),
                ("fixed_amount[currency]", "USD"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{pickup}");
    assert_eq!(pickup["object"], "shipping_rate");
    assert_eq!(pickup["type"], "fixed_amount");
    assert_eq!(pickup["tax_behavior"], "unspecified");
    assert_eq!(pickup["fixed_amount"]["currency"], "usd");
    assert!(pickup["delivery_estimate"].is_null() && pickup["tax_code"].is_null());
    assert_eq!(pickup["metadata"], serde_json::json!({}));
    let pickup_id = pickup["id"].as_str().unwrap().to_string();

    let got = RetrieveShippingRate::new(ground.id.clone())
        .send(c)
        .await
        .unwrap();
    assert_eq!(got.id, ground.id);

    // Listing: newest first, paginated, filtered by `active` and `currency`.
    let mut ids = vec![ground.id.as_str().to_string(), pickup_id.clone()];
    for (name, cur) in [
        ("Letter", stripe_types::Currency::USD),
        ("Parcel", stripe_types::Currency::USD),
        ("Paket", stripe_types::Currency::EUR),
    ] {
        let r = CreateShippingRate::new(name)
            .fixed_amount(CreateShippingRateFixedAmount::new(300, cur))
            .send(c)
            .await
            .unwrap();
        ids.push(r.id.as_str().to_string());
    }
    ids.reverse();
    let page1 = ListShippingRate::new().limit(2).send(c).await.unwrap();
    assert!(page1.has_more);
    let got: Vec<&str> = page1.data.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(got, ids[..2].iter().map(String::as_str).collect::<Vec<_>>());
    let page2 = ListShippingRate::new()
        .limit(2)
        .starting_after(page1.data[1].id.as_str())
        .send(c)
        .await
        .unwrap();
    assert_eq!(page2.data[0].id.as_str(), ids[2]);
    let page3 = ListShippingRate::new()
        .limit(2)
        .starting_after(page2.data[1].id.as_str())
        .send(c)
        .await
        .unwrap();
    assert_eq!(page3.data.len(), 1);
    assert!(!page3.has_more);
    let eur = ListShippingRate::new()
        .currency(stripe_types::Currency::EUR)
        .send(c)
        .await
        .unwrap();
    assert_eq!(eur.data.len(), 1);
    assert_eq!(eur.data[0].display_name.as_deref(), Some("Paket"));

    // Update: active, metadata, tax_behavior (fixed once set).
    let archived = UpdateShippingRate::new(pickup_id.as_str())
        .active(false)
        .metadata(HashMap::from([(
            "note".to_string(),
            "archived".to_string(),
        )]))
        .tax_behavior(ShippingRateTaxBehavior::Inclusive)
        .send(c)
        .await
        .unwrap();
    assert!(!archived.active);
    assert_eq!(
        archived.tax_behavior,
        Some(ShippingRateTaxBehavior::Inclusive)
    );
    assert_eq!(
        archived.metadata.get("note").map(String::as_str),
        Some("archived")
    );
    let active = ListShippingRate::new().active(true).send(c).await.unwrap();
    assert_eq!(active.data.len(), 4);
    assert!(active.data.iter().all(|r| r.id.as_str() != pickup_id));
    let inactive = ListShippingRate::new().active(false).send(c).await.unwrap();
    assert_eq!(inactive.data.len(), 1);
    let (s, e) = h
        .post(
            &format!("/v1/shipping_rates/{pickup_id}"),
            &[("tax_behavior", "exclusive")],
        )
        .await;
    assert_eq!(
        (s, e["error"]["param"].as_str()),
        (400, Some("tax_behavior"))
    );
    let (s, cleared) = h
        .post(
            &format!("/v1/shipping_rates/{pickup_id}"),
            &[("metadata[note]", "")],
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(cleared["metadata"], serde_json::json!({}));

    // Bad parameters: a Stripe-shaped 4xx naming each one.
    let ok = [
        ("display_name", "X"),
        ("fixed_amount[amount]", "100"),
        ("fixed_amount[currency]", "usd"),
    ];
    let cases: Vec<(Form, &str)> = vec![
        (ok[1..].to_vec(), "display_name"),
        (vec![ok[0]], "fixed_amount"),
        (vec![ok[0], ok[2]], "fixed_amount[amount]"),
        (vec![ok[0], ok[1]], "fixed_amount[currency]"),
        (
            [&ok[..], &[("fixed_amount[amount]", "-1")]].concat(),
            "fixed_amount[amount]",
        ),
        (
            [&ok[..], &[("fixed_amount[currency]", "dollars")]].concat(),
            "fixed_amount[currency]",
        ),
        ([&ok[..], &[("type", "weight_based")]].concat(), "type"),
        (
            [
                &ok[..],
                &[
                    ("delivery_estimate[minimum][unit]", "year"),
                    ("delivery_estimate[minimum][value]", "1"),
                ],
            ]
            .concat(),
            "delivery_estimate[minimum][unit]",
        ),
        (
            [
                &ok[..],
                &[
                    ("delivery_estimate[minimum][unit]", "day"),
                    ("delivery_estimate[minimum][value]", "0"),
                ],
            ]
            .concat(),
            "delivery_estimate[minimum][value]",
        ),
        (
            [&ok[..], &[("delivery_estimate[maximum][unit]", "day")]].concat(),
            "delivery_estimate[maximum][value]",
        ),
        (
            [
                &ok[..],
                &[
                    ("delivery_estimate[minimum][unit]", "week"),
                    ("delivery_estimate[minimum][value]", "2"),
                    ("delivery_estimate[maximum][unit]", "day"),
                    ("delivery_estimate[maximum][value]", "3"),
                ],
            ]
            .concat(),
            "delivery_estimate[minimum]",
        ),
        (
            [&ok[..], &[("tax_behavior", "sometimes")]].concat(),
            "tax_behavior",
        ),
        ([&ok[..], &[("tax_code", "shipping")]].concat(), "tax_code"),
        // Stripe's create takes no `active` (only updates do).
        ([&ok[..], &[("active", "false")]].concat(), "active"),
        (
            [&ok[..], &[("fixed_amount[weight]", "1")]].concat(),
            "fixed_amount[weight]",
        ),
    ];
    for (form, param) in cases {
        let (s, e) = h.post("/v1/shipping_rates", &form).await;
        assert_eq!(s, 400, "{form:?}: {e}");
        assert_eq!(e["error"]["type"], "invalid_request_error");
        assert_eq!(e["error"]["param"], param, "{form:?}: {e}");
    }
    let (s, e) = h
        .post(
            &format!("/v1/shipping_rates/{pickup_id}"),
            &[("display_name", "Renamed")],
        )
        .await;
    assert_eq!(
        (s, e["error"]["param"].as_str()),
        (400, Some("display_name"))
    );
    let (s, e) = h.get("/v1/shipping_rates/shr_nope", &[]).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (404, Some("resource_missing"))
    );
    let (s, e) = h
        .get("/v1/shipping_rates", &[("starting_after", "shr_nope")])
        .await;
    assert_eq!(
        (s, e["error"]["param"].as_str()),
        (400, Some("starting_after"))
    );
    let (s, e) = h.get("/v1/shipping_rates", &[("active", "maybe")]).await;
    assert_eq!((s, e["error"]["param"].as_str()), (400, Some("active")));
    let (_, all) = h.get("/v1/shipping_rates", &[("limit", "100")]).await;
    assert_eq!(
        all["data"].as_array().unwrap().len(),
        5,
        "refusals store nothing"
    );
    h.stop().await;
}

#[actix_web::test]
async fn session_shipping_parameters_are_accepted_or_refused_like_stripe() {
    let h = Harness::start().await;
    let pr = price(&h, 2000, "usd", "exclusive").await;
    let (_, saved) = h
        .post(
            "/v1/shipping_rates",
            &[
                ("display_name", "Saved"),
                ("fixed_amount[amount]", "700"),
                ("fixed_amount[currency]", "usd"),
            ],
        )
        .await;
    let saved = saved["id"].as_str().unwrap().to_string();
    let (_, euro) = h
        .post(
            "/v1/shipping_rates",
            &[
                ("display_name", "Euro"),
                ("fixed_amount[amount]", "700"),
                ("fixed_amount[currency]", "eur"),
            ],
        )
        .await;
    let euro = euro["id"].as_str().unwrap().to_string();
    let (_, off) = h
        .post(
            "/v1/shipping_rates",
            &[
                ("display_name", "Off"),
                ("fixed_amount[amount]", "100"),
                ("fixed_amount[currency]", "usd"),
            ],
        )
        .await;
    let off = off["id"].as_str().unwrap().to_string();
    h.post(&format!("/v1/shipping_rates/{off}"), &[("active", "false")])
        .await;

    let s = session(
        &h,
        &pr,
        &[
            ("shipping_address_collection[allowed_countries][]", "US"),
            ("shipping_address_collection[allowed_countries][]", "DE"),
            ("phone_number_collection[enabled]", "true"),
            ("shipping_options[0][shipping_rate]", saved.as_str()),
            (
                "shipping_options[1][shipping_rate_data][display_name]",
                "Inline",
            ),
            (
                "shipping_options[1][shipping_rate_data][fixed_amount][amount]",
                "0",
            ),
            (
                "shipping_options[1][shipping_rate_data][fixed_amount][currency]",
                "usd",
            ),
            (
                "shipping_options[1][shipping_rate_data][tax_behavior]",
                "inclusive",
            ),
            (
                "shipping_options[1][shipping_rate_data][tax_code]",
                "txcd_92010001",
            ),
        ],
    )
    .await;
    assert_eq!(
        s["shipping_address_collection"],
        serde_json::json!({ "allowed_countries": ["US", "DE"] })
    );
    assert_eq!(s["phone_number_collection"]["enabled"], true);
    let options = s["shipping_options"].as_array().unwrap();
    assert_eq!(options.len(), 2);
    assert_eq!(options[0]["shipping_rate"], saved.as_str());
    assert_eq!(options[0]["shipping_amount"], 700);
    let inline = options[1]["shipping_rate"].as_str().unwrap();
    assert!(inline.starts_with("shr_"));
    let (st, r) = h.get(&format!("/v1/shipping_rates/{inline}"), &[]).await;
    assert_eq!(st, 200, "an inline rate is a real shipping rate");
    assert_eq!(r["tax_behavior"], "inclusive");
    assert_eq!(r["tax_code"], "txcd_92010001");
    assert_eq!(s["shipping_cost"]["shipping_rate"], saved.as_str());
    assert_eq!(s["amount_total"], 2700);
    // Without options there is no shipping cost.
    let plain = session(
        &h,
        &pr,
        &[("shipping_address_collection[allowed_countries][0]", "US")],
    )
    .await;
    assert!(plain["shipping_cost"].is_null());
    assert_eq!(plain["shipping_options"], serde_json::json!([]));
    assert_eq!(plain["total_details"]["amount_shipping"], 0);
    assert_eq!(plain["phone_number_collection"]["enabled"], false);
    let (_, before) = h.get("/v1/shipping_rates", &[("limit", "100")]).await;
    let rates_before = before["data"].as_array().unwrap().len();

    let data = |extra: &[(&'static str, &'static str)]| {
        let mut f = vec![
            ("shipping_options[0][shipping_rate_data][display_name]", "D"),
            (
                "shipping_options[0][shipping_rate_data][fixed_amount][amount]",
                "100",
            ),
            (
                "shipping_options[0][shipping_rate_data][fixed_amount][currency]",
                "usd",
            ),
        ];
        f.extend_from_slice(extra);
        f
    };
    let six: Vec<(String, String)> = (0..6)
        .map(|i| {
            (
                format!("shipping_options[{i}][shipping_rate]"),
                saved.clone(),
            )
        })
        .collect();
    let six: Vec<(&str, &str)> = six.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let cases: Vec<(Form, &str)> = vec![
        (
            vec![("shipping_address_collection[allowed_countries][0]", "XX")],
            "shipping_address_collection[allowed_countries][0]",
        ),
        (
            vec![("shipping_address_collection[allowed_countries][0]", "us")],
            "shipping_address_collection[allowed_countries][0]",
        ),
        (
            vec![("shipping_address_collection[allowed_countries]", "")],
            "shipping_address_collection[allowed_countries]",
        ),
        (
            vec![("shipping_address_collection[countries][0]", "US")],
            "shipping_address_collection[countries]",
        ),
        (
            vec![("phone_number_collection[enabled]", "maybe")],
            "phone_number_collection[enabled]",
        ),
        (
            vec![("phone_number_collection[required]", "true")],
            "phone_number_collection[required]",
        ),
        (six, "shipping_options"),
        (
            data(&[("shipping_options[0][shipping_rate]", "shr_x")]),
            "shipping_options[0][shipping_rate_data]",
        ),
        (
            vec![("shipping_options[0][shipping_rate]", "shr_nope")],
            "shipping_options[0][shipping_rate]",
        ),
        (
            vec![("shipping_options[0][shipping_rate]", off.as_str())],
            "shipping_options[0][shipping_rate]",
        ),
        (
            vec![("shipping_options[0][shipping_rate]", euro.as_str())],
            "shipping_options[0][shipping_rate]",
        ),
        (
            vec![
                ("shipping_options[0][shipping_rate]", saved.as_str()),
                ("shipping_options[1][shipping_rate]", saved.as_str()),
            ],
            "shipping_options[1][shipping_rate]",
        ),
        (
            vec![(
                "shipping_options[0][shipping_rate_data][fixed_amount][amount]",
                "1",
            )],
            "shipping_options[0][shipping_rate_data][display_name]",
        ),
        (
            vec![("shipping_options[0][shipping_rate_data][display_name]", "D")],
            "shipping_options[0][shipping_rate_data][fixed_amount]",
        ),
        (
            vec![
                ("shipping_options[0][shipping_rate_data][display_name]", "D"),
                (
                    "shipping_options[0][shipping_rate_data][fixed_amount][amount]",
                    "100",
                ),
                (
                    "shipping_options[0][shipping_rate_data][fixed_amount][currency]",
                    "eur",
                ),
            ],
            "shipping_options[0][shipping_rate_data][fixed_amount][currency]",
        ),
        (
            data(&[(
                "shipping_options[0][shipping_rate_data][delivery_estimate][maximum][unit]",
                "fortnight",
            )]),
            "shipping_options[0][shipping_rate_data][delivery_estimate][maximum][unit]",
        ),
        (
            data(&[(
                "shipping_options[0][shipping_rate_data][tax_behavior]",
                "yes",
            )]),
            "shipping_options[0][shipping_rate_data][tax_behavior]",
        ),
        (
            data(&[("shipping_options[0][shipping_rate_data][tax_code]", "x")]),
            "shipping_options[0][shipping_rate_data][tax_code]",
        ),
        (
            data(&[("shipping_options[0][shipping_rate_data][active]", "true")]),
            "shipping_options[0][shipping_rate_data][active]",
        ),
        (
            vec![("shipping_options[0][other]", "x")],
            "shipping_options[0][other]",
        ),
    ];
    for (form, param) in cases {
        let (st, e) = try_session(&h, &pr, "payment", &form).await;
        assert_eq!(st, 400, "{form:?}: {e}");
        assert_eq!(e["error"]["type"], "invalid_request_error");
        assert_eq!(e["error"]["param"], param, "{form:?}: {e}");
    }
    let (_, after) = h.get("/v1/shipping_rates", &[("limit", "100")]).await;
    assert_eq!(
        after["data"].as_array().unwrap().len(),
        rates_before,
        "a refused session leaves no inline rate behind"
    );

    // Subscription (and setup) mode: shipping options are refused with Stripe's message;
    // the address and phone number are collected.
    let (_, monthly) = h
        .post(
            "/v1/prices",
            &[
                ("product_data[name]", "Box"),
                ("unit_amount", "1000"),
                ("currency", "usd"),
                ("recurring[interval]", "month"),
            ],
        )
        .await;
    let monthly = monthly["id"].as_str().unwrap();
    for mode in ["subscription", "setup"] {
        let (st, e) = try_session(
            &h,
            monthly,
            mode,
            &[("shipping_options[0][shipping_rate]", saved.as_str())],
        )
        .await;
        assert_eq!(st, 400, "{e}");
        assert_eq!(e["error"]["param"], "shipping_options");
        assert_eq!(
            e["error"]["message"],
            "`shipping_options` can only be used in payment mode."
        );
    }
    let (st, sub) = try_session(
        &h,
        monthly,
        "subscription",
        &[
            ("shipping_address_collection[allowed_countries][0]", "GB"),
            ("phone_number_collection[enabled]", "true"),
        ],
    )
    .await;
    assert_eq!(st, 200, "{sub}");
    assert_eq!(
        sub["shipping_address_collection"]["allowed_countries"][0],
        "GB"
    );
    assert!(sub["shipping_cost"].is_null());
    h.stop().await;
}

#[actix_web::test]
async fn the_first_option_is_preselected_and_the_page_switches_to_another() {
    let h = Harness::start().await;
    let pr = price(&h, 2000, "usd", "exclusive").await;
    let mut extra = TWO_RATES.to_vec();
    extra.extend([
        ("shipping_address_collection[allowed_countries][]", "US"),
        ("shipping_address_collection[allowed_countries][]", "CA"),
        ("phone_number_collection[enabled]", "true"),
    ]);
    let s = session(&h, &pr, &extra).await;
    let (sid, url) = (s["id"].as_str().unwrap(), s["url"].as_str().unwrap());
    let standard = s["shipping_options"][0]["shipping_rate"].as_str().unwrap();
    let express = s["shipping_options"][1]["shipping_rate"].as_str().unwrap();
    assert_eq!(s["shipping_options"][0]["shipping_amount"], 500);
    assert_eq!(s["shipping_options"][1]["shipping_amount"], 1500);
    assert_eq!(
        s["shipping_cost"],
        serde_json::json!({
            "amount_subtotal": 500, "amount_tax": 0, "amount_total": 500, "shipping_rate": standard
        }),
        "taxes are shown only when expanded"
    );
    assert_eq!(s["amount_subtotal"], 2000);
    assert_eq!(s["total_details"]["amount_shipping"], 500);
    assert_eq!(s["amount_total"], 2500);
    assert!(s["collected_information"].is_null());
    assert_totals_add_up(&s, 0);
    let (_, rate) = h.get(&format!("/v1/shipping_rates/{standard}"), &[]).await;
    assert_eq!(rate["display_name"], "Standard");
    assert_eq!(rate["metadata"]["tier"], "standard");
    let expanded = get_session(
        &h,
        sid,
        &[
            "shipping_cost.shipping_rate",
            "shipping_options.shipping_rate",
        ],
    )
    .await;
    assert_eq!(
        expanded["shipping_cost"]["shipping_rate"]["object"],
        "shipping_rate"
    );
    assert_eq!(
        expanded["shipping_options"][1]["shipping_rate"]["display_name"],
        "Express"
    );

    // The page: the rates as radios (the first checked), the address and phone fields.
    let page = h.http.get(url).send().await.unwrap().text().await.unwrap();
    assert_eq!(count(&page, "input[type=radio][name=shipping_rate]"), 2);
    assert_eq!(
        attr(&page, "input[name=shipping_rate][checked]", "value").as_deref(),
        Some(standard)
    );
    let labels: Vec<String> = Html::parse_document(&page)
        .select(&Selector::parse("#shipping_rates label").unwrap())
        .map(|l| l.text().collect::<String>().trim().to_string())
        .collect();
    assert_eq!(
        labels,
        vec![
            "Standard — $5.00 (3–5 business days)",
            "Express — $15.00 (1 business day)"
        ]
    );
    assert_eq!(text_of(&page, "#shipping").as_deref(), Some("$5.00"));
    assert_eq!(
        text_of(&page, "#shipping_label").as_deref(),
        Some("Shipping (Standard)")
    );
    assert_eq!(text_of(&page, "#total").as_deref(), Some("$25.00"));
    for name in [
        "shipping_name",
        "shipping_line1",
        "shipping_line2",
        "shipping_city",
        "shipping_state",
        "shipping_postal_code",
        "phone",
    ] {
        assert_eq!(count(&page, &format!("input[name={name}]")), 1, "{name}");
    }
    assert!(attr(&page, "input[name=shipping_line2]", "required").is_none());
    assert!(attr(&page, "input[name=phone]", "required").is_none());
    let countries: Vec<String> = Html::parse_document(&page)
        .select(&Selector::parse("select[name=shipping_country] option").unwrap())
        .filter_map(|o| o.value().attr("value").map(str::to_string))
        .collect();
    assert_eq!(
        countries,
        vec!["", "US", "CA"],
        "only the allowed countries"
    );
    assert_eq!(
        attr(&page, "input[name=expected_total]", "value").as_deref(),
        Some("2500")
    );

    // Switch to Express: totals, `shipping_cost` and `total_details` follow.
    let mut fields = ship_to("US", "NY", "10001");
    fields.push(("shipping_rate", express));
    fields.push(("phone", "+1 (212) 555-0100"));
    let (st, page) = submit(&h, url, "update_address", &fields).await;
    assert_eq!(st, 200, "{page}");
    assert_eq!(text_of(&page, "#shipping").as_deref(), Some("$15.00"));
    assert_eq!(text_of(&page, "#total").as_deref(), Some("$35.00"));
    assert_eq!(
        attr(&page, "input[name=shipping_rate][checked]", "value").as_deref(),
        Some(express)
    );
    assert_eq!(
        attr(
            &page,
            "select[name=shipping_state] option[selected]",
            "value"
        )
        .as_deref(),
        Some("NY"),
        "a US address has a select of states"
    );
    let s = get_session(&h, sid, &[]).await;
    assert_eq!(s["shipping_cost"]["shipping_rate"], express);
    assert_eq!(s["shipping_cost"]["amount_total"], 1500);
    assert_eq!(s["total_details"]["amount_shipping"], 1500);
    assert_eq!(s["amount_total"], 3500);
    assert_eq!(
        s["collected_information"]["shipping_details"]["address"]["city"],
        "Springfield"
    );
    assert_totals_add_up(&s, 0);

    // Pay: the session, its payment and the webhook carry the shipping.
    fields.push(("expected_total", "3500"));
    let (st, body) = submit(&h, url, "pay", &fields).await;
    assert_eq!(st, 303, "{body}");
    let s = get_session(&h, sid, &["payment_intent.latest_charge"]).await;
    assert_eq!(s["status"], "complete");
    let details = &s["collected_information"]["shipping_details"];
    assert_eq!(details["name"], "Ada Lovelace");
    assert_eq!(
        details["address"],
        serde_json::json!({
            "city": "Springfield", "country": "US", "line1": "1 Analytical Way",
            "line2": "Apt 2", "postal_code": "10001", "state": "NY"
        })
    );
    assert_eq!(s["customer_details"]["phone"], "+12125550100");
    assert_eq!(s["customer_details"]["address"]["state"], Value::Null);
    assert_eq!(s["shipping_cost"]["shipping_rate"], express);
    let pi = &s["payment_intent"];
    assert_eq!(pi["amount"], 3500);
    assert_eq!(pi["shipping"]["name"], "Ada Lovelace");
    assert_eq!(pi["shipping"]["phone"], "+12125550100");
    assert_eq!(pi["shipping"]["address"], details["address"]);
    assert_eq!(pi["latest_charge"]["shipping"], pi["shipping"]);
    let done = h.hooks.wait_for("checkout.session.completed").await;
    let o = &done.json["data"]["object"];
    assert_eq!(o["shipping_cost"]["shipping_rate"], express);
    assert_eq!(o["total_details"]["amount_shipping"], 1500);
    assert_eq!(o["collected_information"]["shipping_details"], *details);
    assert_eq!(o["shipping_options"].as_array().unwrap().len(), 2);

    // async-stripe reads it all.
    let typed = RetrieveCheckoutSession::new(sid)
        .expand(vec![
            "shipping_cost.shipping_rate".to_string(),
            "shipping_cost.taxes".to_string(),
            "shipping_options.shipping_rate".to_string(),
        ])
        .send(&h.stripe)
        .await
        .unwrap();
    let cost = typed.shipping_cost.as_ref().unwrap();
    assert_eq!((cost.amount_subtotal, cost.amount_total), (1500, 1500));
    match &cost.shipping_rate {
        Some(stripe_types::Expandable::Object(r)) => {
            assert_eq!(r.display_name.as_deref(), Some("Express"))
        }
        other => panic!("shipping rate not expanded: {other:?}"),
    }
    assert_eq!(typed.shipping_options.len(), 2);
    assert_eq!(
        typed.total_details.as_ref().unwrap().amount_shipping,
        Some(1500)
    );
    let info = typed.collected_information.as_ref().unwrap();
    let sd = info.shipping_details.as_ref().unwrap();
    assert_eq!(sd.name, "Ada Lovelace");
    assert_eq!(sd.address.state.as_deref(), Some("NY"));
    assert_eq!(
        typed.customer_details.as_ref().unwrap().phone.as_deref(),
        Some("+12125550100")
    );
    let pi = RetrievePaymentIntent::new(pi["id"].as_str().unwrap())
        .send(&h.stripe)
        .await
        .unwrap();
    let ship = pi.shipping.as_ref().unwrap();
    assert_eq!(ship.name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(
        ship.address.as_ref().unwrap().postal_code.as_deref(),
        Some("10001")
    );
    h.stop().await;
}

#[actix_web::test]
async fn shipping_is_taxed_at_the_shipping_address_exclusive_or_inclusive() {
    let h = Harness::start().await;
    let rate = |name: &'static str, amount: &'static str, cur: &'static str, tb: &'static str| {
        vec![
            (
                "shipping_options[0][shipping_rate_data][display_name]",
                name,
            ),
            (
                "shipping_options[0][shipping_rate_data][fixed_amount][amount]",
                amount,
            ),
            (
                "shipping_options[0][shipping_rate_data][fixed_amount][currency]",
                cur,
            ),
            ("shipping_options[0][shipping_rate_data][tax_behavior]", tb),
            ("automatic_tax[enabled]", "true"),
            ("shipping_address_collection[allowed_countries][0]", "DE"),
            ("shipping_address_collection[allowed_countries][1]", "US"),
            ("shipping_address_collection[allowed_countries][2]", "FR"),
        ]
    };

    // Exclusive, in Germany, with a 20 % coupon (never on shipping) and a French billing address
    // (the shipping address decides the tax).
    let (_, coupon) = h.post("/v1/coupons", &[("percent_off", "20")]).await;
    let coupon = coupon["id"].as_str().unwrap();
    let eur = price(&h, 5000, "eur", "exclusive").await;
    let mut extra = rate("DHL", "1000", "eur", "exclusive");
    extra.push(("discounts[0][coupon]", coupon));
    let s = session(&h, &eur, &extra).await;
    let (sid, url) = (s["id"].as_str().unwrap(), s["url"].as_str().unwrap());
    assert_eq!(s["automatic_tax"]["status"], "requires_location_inputs");
    assert_eq!(s["shipping_cost"]["amount_tax"], 0);
    assert_eq!(s["amount_total"], 5000);
    let page = h.http.get(url).send().await.unwrap().text().await.unwrap();
    assert_eq!(
        text_of(&page, "#tax").as_deref(),
        Some("Enter your shipping address to calculate")
    );
    let mut fields = ship_to("DE", "", "10115");
    fields.extend([("billing_country", "FR")]);
    let (st, page) = submit(&h, url, "update_address", &fields).await;
    assert_eq!(st, 200, "{page}");
    assert_eq!(text_of(&page, "#shipping").as_deref(), Some("€10.00"));
    assert_eq!(text_of(&page, "#tax_label").as_deref(), Some("VAT (19%)"));
    assert_eq!(text_of(&page, "#tax").as_deref(), Some("€9.50"));
    assert_eq!(text_of(&page, "#total").as_deref(), Some("€59.50"));
    let s = get_session(&h, sid, &["shipping_cost.taxes", "total_details.breakdown"]).await;
    // Items 5000 − 20 % = 4000, VAT 760; shipping 1000 (undiscounted), VAT 190.
    assert_eq!(s["total_details"]["amount_discount"], 1000);
    assert_eq!(s["total_details"]["amount_shipping"], 1000);
    assert_eq!(s["total_details"]["amount_tax"], 950);
    assert_eq!(s["amount_total"], 5950);
    assert_totals_add_up(&s, 950);
    let cost = &s["shipping_cost"];
    assert_eq!(
        (
            &cost["amount_subtotal"],
            &cost["amount_tax"],
            &cost["amount_total"]
        ),
        (&Value::from(1000), &Value::from(190), &Value::from(1190))
    );
    let t = &cost["taxes"][0];
    assert_eq!(t["amount"], 190);
    assert_eq!(t["taxable_amount"], 1000);
    assert_eq!(t["taxability_reason"], "standard_rated");
    assert_eq!(t["rate"]["country"], "DE");
    assert_eq!(t["rate"]["inclusive"], false);
    let b = &s["total_details"]["breakdown"]["taxes"][0];
    assert_eq!(
        (&b["amount"], &b["taxable_amount"]),
        (&Value::from(950), &Value::from(5000))
    );
    assert_eq!(s["customer_details"], Value::Null);
    let (st, body) = submit(
        &h,
        url,
        "pay",
        &[&fields[..], &[("expected_total", "5950")]].concat(),
    )
    .await;
    assert_eq!(st, 303, "{body}");
    let s = get_session(&h, sid, &[]).await;
    assert_eq!(s["customer_details"]["address"]["country"], "FR");
    assert_eq!(
        s["collected_information"]["shipping_details"]["address"]["country"],
        "DE"
    );
    assert_eq!(s["amount_total"], 5950);

    // Inclusive, in Germany: the tax is the part inside the rate; nothing is added. Billing left
    // empty is the shipping address.
    let incl = price(&h, 11900, "eur", "inclusive").await;
    let s = session(&h, &incl, &rate("DHL", "1190", "eur", "inclusive")).await;
    let (st, page) = submit(
        &h,
        s["url"].as_str().unwrap(),
        "update_address",
        &ship_to("DE", "", "10115"),
    )
    .await;
    assert_eq!(st, 200, "{page}");
    assert!(
        text_of(&page, "#tax_label")
            .unwrap()
            .starts_with("Includes VAT")
    );
    assert_eq!(
        text_of(&page, "#billing_same_as_shipping").as_deref(),
        Some("Leave empty to use the shipping address.")
    );
    assert!(
        attr(&page, "#billing_country option[selected]", "value").is_none(),
        "a billing address taken from the shipping address is not shown as typed"
    );
    let s = get_session(&h, s["id"].as_str().unwrap(), &["shipping_cost.taxes"]).await;
    assert_eq!(s["shipping_cost"]["amount_tax"], 190);
    assert_eq!(s["shipping_cost"]["amount_total"], 1190);
    assert_eq!(s["shipping_cost"]["taxes"][0]["taxable_amount"], 1000);
    assert_eq!(s["shipping_cost"]["taxes"][0]["rate"]["inclusive"], true);
    assert_eq!(s["total_details"]["amount_tax"], 1900 + 190);
    assert_eq!(s["amount_total"], 11900 + 1190);
    assert_totals_add_up(&s, 0);

    // California: 7.25 % on the items and on the shipping; New York collects nothing.
    let usd = price(&h, 1000, "usd", "exclusive").await;
    let s = session(&h, &usd, &rate("UPS", "800", "usd", "exclusive")).await;
    let (sid, url) = (s["id"].as_str().unwrap(), s["url"].as_str().unwrap());
    submit(&h, url, "update_address", &ship_to("US", "CA", "94103")).await;
    let s = get_session(&h, sid, &["shipping_cost.taxes"]).await;
    // 1000 × 7.25 % = 72.5 → 73; 800 × 7.25 % = 58.
    assert_eq!(s["shipping_cost"]["amount_tax"], 58);
    assert_eq!(s["shipping_cost"]["taxes"][0]["rate"]["state"], "CA");
    assert_eq!(s["total_details"]["amount_tax"], 131);
    assert_eq!(s["amount_total"], 1931);
    assert_totals_add_up(&s, 131);
    // An exclusive rate and an inclusive price together.
    let (st, page) = submit(
        &h,
        url,
        "update_address",
        &ship_to("US", "New York", "10001"),
    )
    .await;
    assert_eq!(st, 200, "{page}");
    let s = get_session(&h, sid, &["shipping_cost.taxes"]).await;
    assert_eq!(s["shipping_cost"]["amount_tax"], 0);
    assert_eq!(
        s["shipping_cost"]["taxes"][0]["taxability_reason"],
        "not_collecting"
    );
    assert_eq!(s["amount_total"], 1800);
    let mixed = session(&h, &incl, &rate("DHL", "1000", "eur", "exclusive")).await;
    submit(
        &h,
        mixed["url"].as_str().unwrap(),
        "update_address",
        &ship_to("DE", "", "10115"),
    )
    .await;
    let s = get_session(&h, mixed["id"].as_str().unwrap(), &[]).await;
    // Inclusive items contain 1900; the exclusive shipping adds 190.
    assert_eq!(s["total_details"]["amount_tax"], 2090);
    assert_eq!(s["amount_total"], 11900 + 1000 + 190);
    assert_totals_add_up(&s, 190);
    h.stop().await;
}

#[actix_web::test]
async fn the_page_names_each_shipping_field_that_is_wrong() {
    let h = Harness::start().await;
    let pr = price(&h, 2000, "usd", "exclusive").await;
    let mut extra = TWO_RATES.to_vec();
    extra.extend([
        ("shipping_address_collection[allowed_countries][]", "US"),
        ("shipping_address_collection[allowed_countries][]", "CA"),
        ("shipping_address_collection[allowed_countries][]", "HK"),
        ("phone_number_collection[enabled]", "true"),
    ]);
    let s = session(&h, &pr, &extra).await;
    let (sid, url) = (s["id"].as_str().unwrap(), s["url"].as_str().unwrap());

    let (st, page) = submit(&h, url, "update_address", &[("shipping_line2", "Apt 9")]).await;
    assert_eq!(st, 400);
    for (id, msg) in [
        ("#shipping_name_error", "Enter the recipient's name."),
        ("#shipping_country_error", "Select a country."),
        ("#shipping_line1_error", "Enter the street address."),
        ("#shipping_city_error", "Enter the city."),
        ("#shipping_postal_code_error", "Enter the postal code."),
    ] {
        assert_eq!(text_of(&page, id).as_deref(), Some(msg), "{id}");
    }
    assert_eq!(
        attr(&page, "#shipping_line1", "aria-describedby").as_deref(),
        Some("shipping_line1_error")
    );
    assert_eq!(
        attr(&page, "#shipping_line2", "value").as_deref(),
        Some("Apt 9"),
        "what was typed stays"
    );
    assert!(text_of(&page, "#shipping_state_error").is_none());

    let cases: Vec<(Form, &str, &str)> = vec![
        (
            ship_to("US", "", "10001"),
            "#shipping_state_error",
            "Select a state.",
        ),
        (
            ship_to("US", "ZZ", "10001"),
            "#shipping_state_error",
            "Select a state.",
        ),
        (
            ship_to("CA", "", "K1A 0B1"),
            "#shipping_state_error",
            "Enter the state or province.",
        ),
        (
            ship_to("FR", "", "75001"),
            "#shipping_country_error",
            "Shipping to FR is not available.",
        ),
        (
            [
                &ship_to("US", "NY", "10001")[..],
                &[("shipping_rate", "shr_bogus")],
            ]
            .concat(),
            "#shipping_rate_error",
            "This shipping option is not available.",
        ),
        (
            [&ship_to("US", "NY", "10001")[..], &[("phone", "call me")]].concat(),
            "#phone_error",
            "Your phone number is invalid.",
        ),
    ];
    for (fields, id, msg) in cases {
        for action in ["update_address", "pay"] {
            let (st, page) = submit(&h, url, action, &fields).await;
            assert_eq!(st, 400, "{fields:?}");
            assert_eq!(text_of(&page, id).as_deref(), Some(msg), "{fields:?}");
        }
    }
    // The state control follows the country shown: a select for the US, text elsewhere.
    let (_, page) = submit(&h, url, "update_address", &ship_to("US", "", "10001")).await;
    assert_eq!(count(&page, "select#shipping_state"), 1);
    let (_, page) = submit(&h, url, "update_address", &ship_to("CA", "", "")).await;
    assert_eq!(count(&page, "input#shipping_state"), 1);
    assert!(attr(&page, "input#shipping_state", "required").is_some());
    assert!(text_of(&page, "#shipping_postal_code_error").is_some());

    // Nothing was stored.
    let s = get_session(&h, sid, &[]).await;
    assert!(s["collected_information"].is_null());
    assert_eq!(s["shipping_cost"]["amount_subtotal"], 500);

    // Hong Kong has no postal codes; a province needs no particular format.
    let (st, page) = submit(&h, url, "update_address", &ship_to("HK", "", "")).await;
    assert_eq!(st, 200, "{page}");
    let (st, _) = submit(&h, url, "update_address", &ship_to("CA", "on", "K1A 0B1")).await;
    assert_eq!(st, 200);
    let s = get_session(&h, sid, &[]).await;
    let a = &s["collected_information"]["shipping_details"]["address"];
    assert_eq!(
        (&a["country"], &a["state"]),
        (&Value::from("CA"), &Value::from("ON"))
    );
    h.stop().await;
}

#[actix_web::test]
async fn a_total_changed_by_the_rate_or_address_is_shown_before_it_is_charged() {
    let h = Harness::start().await;
    let pr = price(&h, 2000, "usd", "exclusive").await;
    let mut extra = TWO_RATES.to_vec();
    extra.extend([
        ("shipping_address_collection[allowed_countries][]", "US"),
        ("automatic_tax[enabled]", "true"),
    ]);
    let s = session(&h, &pr, &extra).await;
    let (sid, url) = (s["id"].as_str().unwrap(), s["url"].as_str().unwrap());
    let express = s["shipping_options"][1]["shipping_rate"].as_str().unwrap();
    let (_, page) = submit(&h, url, "update_address", &ship_to("US", "NY", "10001")).await;
    assert_eq!(
        attr(&page, "input[name=expected_total]", "value").as_deref(),
        Some("2500")
    );

    // Express chosen while paying the total shown for Standard: nothing is charged.
    let mut fields = ship_to("US", "NY", "10001");
    fields.extend([("shipping_rate", express), ("expected_total", "2500")]);
    let (st, page) = submit(&h, url, "pay", &fields).await;
    assert_eq!(st, 409, "{page}");
    assert_eq!(
        text_of(&page, "#error").as_deref(),
        Some("Your total has been updated for your shipping details. Check it and submit again.")
    );
    assert_eq!(text_of(&page, "#total").as_deref(), Some("$35.00"));
    assert_eq!(text_of(&page, "#shipping").as_deref(), Some("$15.00"));
    assert_eq!(
        attr(&page, "input[name=expected_total]", "value").as_deref(),
        Some("3500")
    );
    let s = get_session(&h, sid, &[]).await;
    assert_eq!(s["status"], "open");
    assert!(s["payment_intent"].is_null(), "no payment was attempted");

    // A shipping address that changes the tax is shown first too.
    let mut fields = ship_to("US", "CA", "94103");
    fields.extend([("shipping_rate", express), ("expected_total", "3500")]);
    let (st, page) = submit(&h, url, "pay", &fields).await;
    assert_eq!(st, 409, "{page}");
    // (2000 + 1500) × 7.25 % = 145 + 108.75 → 145 + 109.
    assert_eq!(text_of(&page, "#total").as_deref(), Some("$37.54"));

    fields.pop();
    fields.push(("expected_total", "3754"));
    let (st, body) = submit(&h, url, "pay", &fields).await;
    assert_eq!(st, 303, "{body}");
    let s = get_session(&h, sid, &["payment_intent"]).await;
    assert_eq!(s["amount_total"], 3754);
    assert_eq!(s["payment_intent"]["amount"], 3754);
    assert_eq!(s["shipping_cost"]["shipping_rate"], express);
    assert_eq!(s["shipping_cost"]["amount_tax"], 109);
    h.stop().await;
}

/// A subscription checkout that collects a shipping address; returns (session, subscription).
async fn subscribe_shipping(
    h: &Harness,
    price: &str,
    extra: &[(&str, &str)],
    fields: &[(&str, &str)],
) -> (Value, String) {
    let mut form = vec![("shipping_address_collection[allowed_countries][]", "US")];
    form.extend_from_slice(extra);
    let (st, s) = try_session(h, price, "subscription", &form).await;
    assert_eq!(st, 200, "{s}");
    let (st, body) = submit(h, s["url"].as_str().unwrap(), "pay", fields).await;
    assert_eq!(st, 303, "{body}");
    let s = get_session(h, s["id"].as_str().unwrap(), &[]).await;
    let sub = s["subscription"].as_str().unwrap().to_string();
    (s, sub)
}

async fn invoices_of(h: &Harness, sub: &str) -> Vec<Value> {
    let (_, list) = h
        .get("/v1/invoices", &[("subscription", sub), ("limit", "100")])
        .await;
    let mut v = list["data"].as_array().unwrap().clone();
    v.reverse();
    v
}

#[actix_web::test]
async fn subscriptions_save_the_shipping_address_and_renewals_ship_to_the_customers() {
    let h = Harness::start().await;
    let (_, monthly) = h
        .post(
            "/v1/prices",
            &[
                ("product_data[name]", "Coffee club"),
                ("unit_amount", "1000"),
                ("currency", "usd"),
                ("recurring[interval]", "month"),
                ("tax_behavior", "exclusive"),
            ],
        )
        .await;
    let monthly = monthly["id"].as_str().unwrap().to_string();
    let (_, cus) = h
        .post("/v1/customers", &[("email", "ada@example.com")])
        .await;
    let cid = cus["id"].as_str().unwrap().to_string();

    // An existing customer with `customer_update[shipping]=auto`, taxed where it ships.
    let mut fields = ship_to("US", "CA", "94103");
    fields.push(("phone", "415 555 0100"));
    let (s, sub) = subscribe_shipping(
        &h,
        &monthly,
        &[
            ("customer", cid.as_str()),
            ("customer_update[shipping]", "auto"),
            ("phone_number_collection[enabled]", "true"),
            ("automatic_tax[enabled]", "true"),
        ],
        &[&fields[..], &[("expected_total", "1073")]].concat(),
    )
    .await;
    assert_eq!(s["amount_total"], 1073);
    assert_eq!(
        s["collected_information"]["shipping_details"]["address"]["state"],
        "CA"
    );
    let (_, cus) = h.get(&format!("/v1/customers/{cid}"), &[]).await;
    let shipping = &cus["shipping"];
    assert_eq!(shipping["name"], "Ada Lovelace");
    assert_eq!(shipping["phone"], "4155550100");
    assert_eq!(shipping["address"]["line1"], "1 Analytical Way");
    assert_eq!(shipping["address"]["postal_code"], "94103");
    let updated = h.hooks.wait_for("customer.updated").await;
    assert!(updated.json["data"]["previous_attributes"]["shipping"].is_null());
    let first = &invoices_of(&h, &sub).await[0];
    assert_eq!(first["customer_shipping"], *shipping);
    assert_eq!(first["total"], 1073);

    // The customer moves; the next renewal ships there (and is taxed there).
    let (st, e) = h
        .post(
            &format!("/v1/customers/{cid}"),
            &[("shipping[address][line1]", "2 Main St")],
        )
        .await;
    assert_eq!(
        (st, e["error"]["param"].as_str()),
        (400, Some("shipping[name]"))
    );
    let (st, e) = h
        .post(
            &format!("/v1/customers/{cid}"),
            &[("shipping[name]", "Ada")],
        )
        .await;
    assert_eq!(
        (st, e["error"]["param"].as_str()),
        (400, Some("shipping[address]"))
    );
    let (st, e) = h
        .post(
            &format!("/v1/customers/{cid}"),
            &[("shipping[name]", "Ada"), ("shipping[carrier]", "UPS")],
        )
        .await;
    assert_eq!(
        (st, e["error"]["param"].as_str()),
        (400, Some("shipping[carrier]"))
    );
    let (st, moved) = h
        .post(
            &format!("/v1/customers/{cid}"),
            &[
                ("shipping[name]", "Ada King"),
                ("shipping[phone]", "+1 212 555 0199"),
                ("shipping[address][line1]", "2 Main St"),
                ("shipping[address][city]", "New York"),
                ("shipping[address][state]", "NY"),
                ("shipping[address][postal_code]", "10001"),
                ("shipping[address][country]", "US"),
            ],
        )
        .await;
    assert_eq!(st, 200, "{moved}");
    assert_eq!(moved["shipping"]["address"]["line2"], Value::Null);
    h.emu.advance_clock(30 * DAY).await.unwrap();
    let renewal = &invoices_of(&h, &sub).await[1];
    assert_eq!(renewal["billing_reason"], "subscription_cycle");
    assert_eq!(renewal["customer_shipping"], moved["shipping"]);
    assert_eq!(renewal["customer_shipping"]["name"], "Ada King");
    assert_eq!(renewal["total"], 1000, "New York collects no tax");

    // `shipping=""` clears it: the next invoice has none.
    let (st, cleared) = h
        .post(&format!("/v1/customers/{cid}"), &[("shipping", "")])
        .await;
    assert_eq!(st, 200);
    assert!(cleared["shipping"].is_null());
    h.emu.advance_clock(30 * DAY).await.unwrap();
    let third = &invoices_of(&h, &sub).await[2];
    assert!(third["customer_shipping"].is_null());

    // Typed, through async-stripe.
    let inv = RetrieveInvoice::new(renewal["id"].as_str().unwrap())
        .send(&h.stripe)
        .await
        .unwrap();
    let cs = inv.customer_shipping.as_ref().unwrap();
    assert_eq!(cs.name.as_deref(), Some("Ada King"));
    assert_eq!(
        cs.address.as_ref().unwrap().city.as_deref(),
        Some("New York")
    );

    // A customer Checkout creates keeps the shipping details and phone number.
    let (s, sub2) = subscribe_shipping(
        &h,
        &monthly,
        &[("phone_number_collection[enabled]", "true")],
        &[
            &ship_to("US", "WA", "98101")[..],
            &[("phone", "+1 206 555 0100")],
        ]
        .concat(),
    )
    .await;
    let new_cid = s["customer"].as_str().unwrap();
    match RetrieveCustomer::new(new_cid)
        .send(&h.stripe)
        .await
        .unwrap()
    {
        RetrieveCustomerReturned::Customer(c) => {
            let sh = c.shipping.as_ref().unwrap();
            assert_eq!(sh.name.as_deref(), Some("Ada Lovelace"));
            assert_eq!(sh.phone.as_deref(), Some("+12065550100"));
            assert_eq!(c.phone.as_deref(), Some("+12065550100"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        invoices_of(&h, &sub2).await[0]["customer_shipping"]["address"]["state"],
        "WA"
    );

    // Without `customer_update[shipping]=auto` an existing customer is left as it is.
    let (_, other) = h
        .post("/v1/customers", &[("email", "bo@example.com")])
        .await;
    let other_id = other["id"].as_str().unwrap();
    let (_, sub3) = subscribe_shipping(
        &h,
        &monthly,
        &[("customer", other_id)],
        &ship_to("US", "WA", "98101"),
    )
    .await;
    let (_, other) = h.get(&format!("/v1/customers/{other_id}"), &[]).await;
    assert!(other["shipping"].is_null());
    assert!(invoices_of(&h, &sub3).await[0]["customer_shipping"].is_null());
    h.stop().await;
}

#[actix_web::test]
async fn a_customers_shipping_address_comes_before_its_address_for_tax() {
    let h = Harness::start().await;
    let pr = price(&h, 10000, "eur", "exclusive").await;
    let shipping = [
        ("shipping[name]", "Ada"),
        ("shipping[address][line1]", "Unter den Linden 1"),
        ("shipping[address][city]", "Berlin"),
        ("shipping[address][country]", "DE"),
    ];
    // Only a shipping address: enough for automatic tax (no `customer_update` needed).
    let (_, only) = h.post("/v1/customers", &shipping).await;
    let s = session(
        &h,
        &pr,
        &[
            ("customer", only["id"].as_str().unwrap()),
            ("automatic_tax[enabled]", "true"),
        ],
    )
    .await;
    assert_eq!(s["automatic_tax"]["status"], "complete");
    assert_eq!(s["total_details"]["amount_tax"], 1900);
    // A billing address in the United Kingdom and a shipping address in Germany: German VAT.
    let mut both = shipping.to_vec();
    both.extend([("address[country]", "GB"), ("address[line1]", "1 Strand")]);
    let (_, cus) = h.post("/v1/customers", &both).await;
    let s = session(
        &h,
        &pr,
        &[
            ("customer", cus["id"].as_str().unwrap()),
            ("automatic_tax[enabled]", "true"),
        ],
    )
    .await;
    assert_eq!(s["total_details"]["amount_tax"], 1900);
    let page = h
        .http
        .get(s["url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        text_of(&page, "#billing_address_fixed").as_deref(),
        Some("United Kingdom")
    );
    // Neither: refused as before.
    let (_, bare) = h.post("/v1/customers", &[("email", "x@example.com")]).await;
    let (st, e) = try_session(
        &h,
        &pr,
        "payment",
        &[
            ("customer", bare["id"].as_str().unwrap()),
            ("automatic_tax[enabled]", "true"),
        ],
    )
    .await;
    assert_eq!(
        (st, e["error"]["param"].as_str()),
        (400, Some("automatic_tax[enabled]"))
    );
    h.stop().await;
}
