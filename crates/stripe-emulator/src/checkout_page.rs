//! The hosted Checkout page (`/c/pay/{session}`): items and totals, the promotion code field,
//! the billing address (and with it the tax), and payment.
//!
//! Plain HTML forms, no JavaScript:
//! * `POST /c/pay/{id}/promotion_code` (`promotion_code`, `action=apply|remove`) applies or
//!   removes a code and renders the page again.
//! * `POST /c/pay/{id}` pays; with `action=update_address` it only stores the billing address and
//!   renders the page with the tax for it. A payment whose total changed with the address just
//!   submitted (the form's `expected_total`) is not made: the page shows the new total first.

use std::sync::Arc;

use askama::Template;
use serde_json::Value;

use super::address::{self, COUNTRIES, Choice, US_STATES};
use super::checkout;
use super::objects::format_amount;
use super::pages::{html, interval_label, load_session, message, parse_card, redirect};
use super::payments::{self, Method, Outcome};
use super::totals::price_session;
use super::{Shared, with_ctx};

struct ItemView {
    name: String,
    quantity: i64,
    unit: String,
    amount: String,
    interval: Option<String>,
}

struct DiscountView {
    /// The promotion code, else the coupon's name, else its id.
    label: String,
    amount: String,
}

struct TaxView {
    label: String,
    /// `None` until an address is known.
    amount: Option<String>,
}

struct PromoView {
    applied: Option<String>,
    removable: bool,
    value: String,
    error: Option<String>,
}

struct AddressView {
    /// Street, city and postal code too (`billing_address_collection=required`).
    full: bool,
    /// The customer's address, not editable (`customer_update[address]` not `auto`).
    locked: Option<String>,
    countries: Vec<Choice>,
    states: Vec<Choice>,
    line1: String,
    city: String,
    postal_code: String,
    /// Show "Update total" (automatic tax).
    tax: bool,
}

#[derive(Template)]
#[template(path = "emulator/checkout.html")]
pub struct CheckoutPage {
    id: String,
    mode: String,
    items: Vec<ItemView>,
    subtotal: String,
    discount: Option<DiscountView>,
    tax: Option<TaxView>,
    total: String,
    expected_total: i64,
    state: String,
    email: String,
    card_number: String,
    card_expiry: String,
    error: Option<String>,
    cancel_url: Option<String>,
    promo: Option<PromoView>,
    address: Option<AddressView>,
    /// Card or bank fields (not for an order that costs nothing).
    pay: bool,
    card: bool,
    bank: bool,
    submit: String,
}

/// What the shopper typed, shown again when the page is re-rendered.
#[derive(Debug, Clone, Default)]
pub struct Typed {
    pub email: String,
    pub card_number: String,
    pub card_expiry: String,
    pub address: address::Typed,
}

/// Does paying this session need a payment method on the page?
fn needs_payment(s: &Value) -> bool {
    s["amount_total"].as_i64().unwrap_or(0) > 0
        || (s["mode"] == "subscription" && s["payment_method_collection"] != "if_required")
}

/// Does the page ask for a billing address, and may the shopper edit it?
fn asks_address(s: &Value) -> (bool, bool) {
    let asks =
        s["automatic_tax"]["enabled"] == true || s["billing_address_collection"] == "required";
    (asks, asks && s["_address_locked"] != true)
}

fn discount_view(s: &Value, cur: &str) -> Option<DiscountView> {
    let d = s["discounts"].as_array()?.first()?;
    let label = match (&s["_promo_code"], &s["_coupon_name"]) {
        (Value::String(code), _) => code.clone(),
        (_, Value::String(name)) => name.clone(),
        _ => d["coupon"].as_str().unwrap_or("Discount").to_string(),
    };
    Some(DiscountView {
        label,
        amount: format_amount(
            -s["total_details"]["amount_discount"].as_i64().unwrap_or(0),
            cur,
        ),
    })
}

fn tax_view(s: &Value, cur: &str) -> Option<TaxView> {
    if s["automatic_tax"]["enabled"] != true {
        return None;
    }
    if s["automatic_tax"]["status"] != "complete" {
        return Some(TaxView {
            label: "Tax".into(),
            amount: None,
        });
    }
    let items = s["_line_items"].as_array().cloned().unwrap_or_default();
    let rates: Vec<&Value> = items
        .iter()
        .filter_map(|li| {
            li["_taxes"][0]["rate"]
                .as_object()
                .map(|_| &li["_taxes"][0]["rate"])
        })
        .collect();
    let all_inclusive = !rates.is_empty() && rates.iter().all(|r| r["inclusive"] == true);
    let name = match rates.first() {
        Some(r) => format!(
            "{} ({}%)",
            r["display_name"].as_str().unwrap_or("Tax"),
            r["percentage"].as_f64().unwrap_or(0.0)
        ),
        None => "Tax".into(),
    };
    Some(TaxView {
        label: if all_inclusive {
            format!("Includes {name}")
        } else {
            name
        },
        amount: Some(format_amount(
            s["total_details"]["amount_tax"].as_i64().unwrap_or(0),
            cur,
        )),
    })
}

pub fn page_for(
    s: &Value,
    typed: &Typed,
    error: Option<String>,
    promo_error: Option<(String, String)>,
) -> CheckoutPage {
    let cur = s["currency"].as_str().unwrap_or("usd");
    let items = s["_line_items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|li| ItemView {
            name: li["description"].as_str().unwrap_or("Item").to_string(),
            quantity: li["quantity"].as_i64().unwrap_or(1),
            unit: format_amount(li["price"]["unit_amount"].as_i64().unwrap_or(0), cur),
            amount: format_amount(li["amount_subtotal"].as_i64().unwrap_or(0), cur),
            interval: interval_label(&li["price"]["recurring"]),
        })
        .collect();
    let prefill = s["customer_email"]
        .as_str()
        .or_else(|| s["_prefill_email"].as_str())
        .unwrap_or_default();
    let promo = (s["allow_promotion_codes"] == true).then(|| {
        let applied = s["_promo_code"].as_str().map(str::to_string);
        let (value, error) = match promo_error {
            Some((v, e)) => (v, Some(e)),
            None => (String::new(), None),
        };
        PromoView {
            removable: s["_discount_source"] == "page",
            applied,
            value,
            error,
        }
    });
    let (asks, editable) = asks_address(s);
    let address = asks.then(|| {
        let a = if typed.address.is_empty() {
            address::Typed::of(&s["_billing_address"])
        } else {
            typed.address.clone()
        };
        let locked = (!editable).then(|| {
            let country = COUNTRIES
                .iter()
                .find(|(c, _)| *c == a.country)
                .map_or(a.country.as_str(), |(_, n)| n);
            if a.state.is_empty() {
                country.to_string()
            } else {
                format!("{}, {country}", a.state)
            }
        });
        AddressView {
            full: s["billing_address_collection"] == "required",
            locked,
            countries: address::choices(COUNTRIES, &a.country),
            states: address::choices(US_STATES, &a.state),
            line1: a.line1,
            city: a.city,
            postal_code: a.postal_code,
            tax: s["automatic_tax"]["enabled"] == true,
        }
    });
    let pay = needs_payment(s);
    let total = format_amount(s["amount_total"].as_i64().unwrap_or(0), cur);
    let mode = s["mode"].as_str().unwrap_or("payment").to_string();
    let submit = if !pay {
        "Complete order".to_string()
    } else if mode == "subscription" {
        "Subscribe".to_string()
    } else {
        format!("Pay {total}")
    };
    CheckoutPage {
        id: s["id"].as_str().unwrap_or_default().to_string(),
        mode,
        items,
        subtotal: format_amount(s["amount_subtotal"].as_i64().unwrap_or(0), cur),
        discount: discount_view(s, cur),
        tax: tax_view(s, cur),
        total,
        expected_total: s["amount_total"].as_i64().unwrap_or(0),
        state: s["status"].as_str().unwrap_or("open").to_string(),
        email: if typed.email.is_empty() {
            prefill.to_string()
        } else {
            typed.email.clone()
        },
        card_number: typed.card_number.clone(),
        card_expiry: typed.card_expiry.clone(),
        error,
        cancel_url: s["cancel_url"].as_str().map(str::to_string),
        promo,
        address,
        pay,
        card: s["payment_method_types"]
            .as_array()
            .is_some_and(|a| a.iter().any(|t| t == "card")),
        bank: s["payment_method_types"]
            .as_array()
            .is_some_and(|a| a.iter().any(|t| t == "us_bank_account")),
        submit,
    }
}

pub async fn get(
    path: actix_web::web::Path<String>,
    st: actix_web::web::Data<Shared>,
) -> actix_web::HttpResponse {
    let st = st.into_inner();
    match load_session(&st, path.into_inner()).await {
        Ok(Some(s)) => html(200, page_for(&s, &Typed::default(), None, None).render()),
        Ok(None) => message(404, "Not found", "This Checkout Session does not exist."),
        Err(e) => message(500, "Error", &e.message),
    }
}

/// Store the billing address typed on the page and reprice; returns the session.
async fn store_address(
    st: &Arc<Shared>,
    id: &str,
    address: Value,
) -> Result<Value, super::ApiError> {
    let id = id.to_string();
    with_ctx(st, move |ctx| {
        let mut s = ctx.fetch("checkout.session", &id)?;
        checkout::set_billing_address(ctx, &mut s, address)?;
        ctx.put(&s)?;
        Ok(s)
    })
    .await
}

pub async fn post(
    path: actix_web::web::Path<String>,
    body: actix_web::web::Bytes,
    st: actix_web::web::Data<Shared>,
) -> actix_web::HttpResponse {
    let st = st.into_inner();
    let id = path.into_inner();
    let f = super::pages::form_map(&body);
    let get = |k: &str| f.get(k).map(|s| s.trim().to_string()).unwrap_or_default();
    let typed = Typed {
        email: get("email"),
        card_number: get("card_number"),
        card_expiry: get("card_expiry"),
        address: address::Typed {
            country: get("billing_country"),
            state: get("billing_state"),
            line1: get("billing_line1"),
            city: get("billing_city"),
            postal_code: get("billing_postal_code"),
        },
    };
    let cvc = get("card_cvc");
    let mut s = match load_session(&st, id.clone()).await {
        Ok(Some(s)) => s,
        Ok(None) => return message(404, "Not found", "This Checkout Session does not exist."),
        Err(e) => return message(500, "Error", &e.message),
    };
    if s["status"] != "open" {
        return html(409, page_for(&s, &Typed::default(), None, None).render());
    }
    let rerender = |s: &Value, status: u16, msg: Option<String>| {
        html(status, page_for(s, &typed, msg, None).render())
    };

    // Billing address (and with it the tax).
    let (_, editable) = asks_address(&s);
    if editable {
        let full = s["billing_address_collection"] == "required";
        let parsed = typed.address.parse(full);
        let update_only = get("action") == "update_address";
        match parsed {
            Err(m) => return rerender(&s, 400, Some(m)),
            Ok(a) => {
                let before = s["amount_total"].clone();
                s = match store_address(&st, &id, a).await {
                    Ok(s) => s,
                    Err(e) => return rerender(&s, e.status, Some(e.message)),
                };
                if update_only {
                    return rerender(&s, 200, None);
                }
                let expected = get("expected_total");
                let shown = if expected.is_empty() {
                    before
                } else {
                    Value::from(expected.parse::<i64>().unwrap_or(-1))
                };
                if shown != s["amount_total"] {
                    return rerender(
                        &s,
                        409,
                        Some(
                            "Your total has been updated for your billing address. Check it and submit again."
                                .into(),
                        ),
                    );
                }
            }
        }
    }

    if !typed.email.contains('@') || typed.email.len() > 512 {
        return rerender(&s, 400, Some("Your email address is incomplete.".into()));
    }
    let method = if !needs_payment(&s) {
        None
    } else if get("method") == "us_bank_account" {
        let allowed = s["payment_method_types"]
            .as_array()
            .is_some_and(|a| a.iter().any(|t| t == "us_bank_account"));
        let account = get("account_number");
        if !allowed {
            return rerender(
                &s,
                400,
                Some("This payment method is not available for this session.".into()),
            );
        }
        if account.len() < 4
            || !account.chars().all(|c| c.is_ascii_digit())
            || get("routing_number").len() != 9
        {
            return rerender(
                &s,
                400,
                Some("Your bank account details are incomplete.".into()),
            );
        }
        Some(Method::Bank { account })
    } else {
        let card_allowed = s["payment_method_types"]
            .as_array()
            .is_some_and(|a| a.iter().any(|t| t == "card"));
        if !card_allowed {
            return rerender(
                &s,
                400,
                Some("Cards are not accepted for this payment.".into()),
            );
        }
        let now = s["created"]
            .as_i64()
            .unwrap_or(0)
            .max(chrono::Utc::now().timestamp());
        match parse_card(&typed.card_number, &typed.card_expiry, &cvc, now) {
            Ok(c) => Some(Method::Card(c)),
            Err(m) => return rerender(&s, 400, Some(m)),
        }
    };
    let sid = id.clone();
    let em = typed.email.clone();
    let res = with_ctx(&st, move |ctx| {
        payments::pay_session(ctx, &sid, &em, method, None)
    })
    .await;
    match res {
        Ok(Outcome::Completed(Some(url))) => redirect(&url),
        Ok(Outcome::Completed(None)) => redirect(&format!("/c/done/{id}")),
        Ok(Outcome::NeedsAction) => redirect(&format!("/c/pay/{id}/3ds")),
        Ok(Outcome::Declined(e)) => rerender(&s, 402, Some(e.message)),
        Err(e) => {
            // The page shows the session as it is now (a discount may have run out).
            let fresh = load_session(&st, id.clone()).await.ok().flatten();
            rerender(fresh.as_ref().unwrap_or(&s), e.status, Some(e.message))
        }
    }
}

/// `POST /c/pay/{id}/promotion_code`: `action=apply` with `promotion_code`, or `action=remove`.
pub async fn promotion_code(
    path: actix_web::web::Path<String>,
    body: actix_web::web::Bytes,
    st: actix_web::web::Data<Shared>,
) -> actix_web::HttpResponse {
    let st = st.into_inner();
    let id = path.into_inner();
    let f = super::pages::form_map(&body);
    let code = f
        .get("promotion_code")
        .map(|c| c.trim().to_string())
        .unwrap_or_default();
    let remove = f.get("action").map(String::as_str) == Some("remove");
    let sid = id.clone();
    let typed_code = code.clone();
    let res = with_ctx(&st, move |ctx| {
        payments::lazy_expire(ctx, &sid)?;
        let Some(mut s) = ctx.get(&sid)?.filter(|s| s["object"] == "checkout.session") else {
            return Ok(None);
        };
        if s["status"] != "open" || s["allow_promotion_codes"] != true {
            return Ok(Some((s, None)));
        }
        if remove {
            if s["_discount_source"] == "page" {
                checkout::detach_discount(ctx, &mut s)?;
                price_session(ctx, &mut s)?;
                ctx.put(&s)?;
            }
            return Ok(Some((s, None)));
        }
        match checkout::apply_code(ctx, &mut s, &typed_code)? {
            Ok(()) => {
                ctx.put(&s)?;
                Ok(Some((s, None)))
            }
            Err(refusal) => Ok(Some((s, Some(refusal.message())))),
        }
    })
    .await;
    match res {
        Ok(None) => message(404, "Not found", "This Checkout Session does not exist."),
        Ok(Some((s, None))) if s["status"] != "open" => {
            html(409, page_for(&s, &Typed::default(), None, None).render())
        }
        Ok(Some((s, None))) => html(200, page_for(&s, &Typed::default(), None, None).render()),
        Ok(Some((s, Some(refusal)))) => html(
            400,
            page_for(&s, &Typed::default(), None, Some((code, refusal))).render(),
        ),
        Err(e) => message(500, "Error", &e.message),
    }
}
