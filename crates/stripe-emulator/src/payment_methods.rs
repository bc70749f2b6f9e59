//! A customer's saved payment methods: listed and retrieved through the customer
//! (`GET /v1/customers/{id}/payment_methods[/{pm}]`) or on their own
//! (`GET /v1/payment_methods?customer=`, `GET /v1/payment_methods/{id}`), and detached
//! (`POST /v1/payment_methods/{id}/detach`). Cards are saved from the hosted Checkout page
//! (`payments::pay_session`) and offered on the next page of the same customer.

use serde_json::{Value, json};

use super::api::{Routed, expand_of, list_simple};
use super::error::{ApiError, ApiResult};
use super::form::{P, check};
use super::objects::Card;
use super::store::Ctx;

const EXPAND_ONLY: &[(&str, P)] = &[("expand", P::Arr(&P::Str))];

/// The filters of both list routes (`customer` is the path's on the customer route).
const FILTERS: &[(&str, P)] = &[
    ("customer", P::Str),
    ("type", P::Enum(&["card", "us_bank_account"])),
    (
        "allow_redisplay",
        P::Enum(&["always", "limited", "unspecified"]),
    ),
];

pub fn route(ctx: &mut Ctx, method: &str, segs: &[&str], raw: &Value) -> ApiResult<Option<Routed>> {
    Ok(Some(match (method, segs) {
        ("GET", ["customers", customer, "payment_methods"]) => {
            ctx.fetch("customer", customer)?;
            if raw.get("customer").is_some() {
                return Err(ApiError::unknown_param("customer"));
            }
            let mut raw = raw.clone();
            raw["customer"] = json!(customer);
            list_simple(
                ctx,
                &raw,
                "payment_method",
                &format!("/v1/customers/{customer}/payment_methods"),
                FILTERS,
            )?
        }
        ("GET", ["customers", customer, "payment_methods", id]) => {
            let p = check(&P::Obj(EXPAND_ONLY), raw, "")?;
            ctx.fetch("customer", customer)?;
            let pm = ctx.fetch("payment_method", id)?;
            // Another customer's method is no more visible here than one that does not exist.
            if pm["customer"] != *customer {
                return Err(ApiError::no_such("payment_method", id, Some("id")));
            }
            (pm, expand_of(&p))
        }
        ("GET", ["payment_methods"]) => {
            list_simple(ctx, raw, "payment_method", "/v1/payment_methods", FILTERS)?
        }
        ("GET", ["payment_methods", id]) => {
            let p = check(&P::Obj(EXPAND_ONLY), raw, "")?;
            (ctx.fetch("payment_method", id)?, expand_of(&p))
        }
        ("POST", ["payment_methods", id, "detach"]) => {
            let p = check(&P::Obj(EXPAND_ONLY), raw, "")?;
            (detach(ctx, id)?, expand_of(&p))
        }
        _ => return Ok(None),
    }))
}

/// Detaches a method from its customer: it can no longer be charged or shown again, and stops
/// being the customer's default.
fn detach(ctx: &mut Ctx, id: &str) -> ApiResult<Value> {
    let mut pm = ctx.fetch("payment_method", id)?;
    let Some(customer) = pm["customer"].as_str().map(str::to_string) else {
        return Err(ApiError::invalid(
            "The payment method you provided is not attached to a customer so detachment is impossible.",
        ));
    };
    pm["customer"] = Value::Null;
    ctx.put(&pm)?;
    if let Some(mut cus) = ctx.get(&customer)?.filter(|c| c["object"] == "customer") {
        if cus["invoice_settings"]["default_payment_method"] == id {
            cus["invoice_settings"]["default_payment_method"] = Value::Null;
            ctx.put(&cus)?;
        }
    }
    ctx.emit(
        "payment_method.detached",
        &pm,
        Some(json!({ "customer": customer })),
    )?;
    Ok(pm)
}

/// Attaches a method used on a Checkout page to the session's customer: `always` when the
/// shopper ticked "save" (shown again on later pages), `limited` when a subscription keeps it to
/// charge renewals. A method already attached stays as it is.
pub fn attach(ctx: &mut Ctx, pm: &mut Value, customer: &str, redisplay: &str) -> ApiResult<()> {
    if !pm["customer"].is_null() {
        return Ok(());
    }
    pm["customer"] = json!(customer);
    pm["allow_redisplay"] = json!(redisplay);
    ctx.put(pm)?;
    ctx.emit("payment_method.attached", pm, None)?;
    Ok(())
}

/// The cards a session's page offers: the customer's, passing the session's
/// `allow_redisplay_filters`, newest first. None without `saved_payment_method_options`.
pub fn offered(ctx: &mut Ctx, s: &Value) -> ApiResult<Vec<Value>> {
    let Some(customer) = s["customer"].as_str() else {
        return Ok(vec![]);
    };
    let Some(filters) = s["saved_payment_method_options"]["allow_redisplay_filters"].as_array()
    else {
        return Ok(vec![]);
    };
    let mut cards: Vec<Value> = ctx
        .all("payment_method")?
        .into_iter()
        .filter(|pm| {
            pm["customer"] == customer
                && pm["type"] == "card"
                && filters.contains(&pm["allow_redisplay"])
        })
        .collect();
    cards.sort_by_key(|pm| std::cmp::Reverse(pm["created"].as_i64().unwrap_or(0)));
    Ok(cards)
}

/// Adds the cards the page offers to a session about to be rendered (`_saved_cards`: id and
/// label); never stored.
pub fn decorate(ctx: &mut Ctx, s: &mut Value) -> ApiResult<()> {
    let cards: Vec<Value> = offered(ctx, s)?
        .iter()
        .map(|pm| {
            json!({
                "id": pm["id"],
                "label": format!(
                    "{} •••• {} (expires {:02}/{})",
                    brand_name(pm["card"]["brand"].as_str().unwrap_or("card")),
                    pm["card"]["last4"].as_str().unwrap_or("????"),
                    pm["card"]["exp_month"].as_i64().unwrap_or(0),
                    pm["card"]["exp_year"].as_i64().unwrap_or(0) % 100,
                ),
            })
        })
        .collect();
    s["_saved_cards"] = json!(cards);
    Ok(())
}

fn brand_name(brand: &str) -> &str {
    match brand {
        "visa" => "Visa",
        "mastercard" => "Mastercard",
        "amex" => "American Express",
        "discover" => "Discover",
        other => other,
    }
}

/// The saved card `id` the page's form chose, as a card to charge: it must be one the session
/// offers (the customer's own, passing the filters).
pub fn chosen(ctx: &mut Ctx, s: &Value, id: &str) -> ApiResult<Card> {
    let pm = offered(ctx, s)?
        .into_iter()
        .find(|pm| pm["id"] == id)
        .ok_or_else(|| ApiError::invalid("This saved card is not available. Choose another."))?;
    Ok(Card {
        number: pm["_number"].as_str().unwrap_or_default().to_string(),
        exp_month: pm["card"]["exp_month"].as_i64().unwrap_or(0),
        exp_year: pm["card"]["exp_year"].as_i64().unwrap_or(0),
    })
}
