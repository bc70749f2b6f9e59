//! The hosted Checkout page (`/c/pay/{session}`): items and totals, the promotion code field,
//! the billing address, the shipping address, shipping rate and phone number (and with them the
//! tax and shipping cost), and payment.
//!
//! Plain HTML forms, no JavaScript:
//! * `POST /c/pay/{id}/promotion_code` (`promotion_code`, `action=apply|remove`) applies or
//!   removes a code and renders the page again.
//! * `POST /c/pay/{id}` pays; with `action=update_address` it only stores the addresses, the
//!   shipping rate and the phone number and renders the page with the totals for them. A payment
//!   whose total changed with what was just submitted (the form's `expected_total`) is not made:
//!   the page shows the new total first.
//! * Shipping fields are checked one by one; each message is shown next to its field in
//!   `#{field}_error` (`#shipping_line1_error`, `#shipping_rate_error`, `#phone_error`, …).

use std::sync::Arc;

use askama::Template;
use serde_json::Value;

use super::address::{self, COUNTRIES, Choice, US_STATES};
use super::checkout::{self, PageDetails};
use super::objects::format_amount;
use super::pages::{html, interval_label, load_session, message, parse_card, redirect};
use super::payments::{self, Method, Outcome};
use super::shipping;
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
    /// Until an address is known, what to enter instead ("Enter your billing address to
    /// calculate").
    amount: Result<String, String>,
}

struct PromoView {
    applied: Option<String>,
    removable: bool,
    value: String,
    error: Option<String>,
}

/// The shipping row of the totals (`#shipping_label`, `#shipping`).
struct ShippingRowView {
    label: String,
    /// "$5.00", or "Free".
    amount: String,
}

/// A text input with its message (`#{id}_error`).
struct FieldView {
    id: &'static str,
    label: &'static str,
    autocomplete: &'static str,
    value: String,
    required: bool,
    error: Option<String>,
}

struct ShippingView {
    countries: Vec<Choice>,
    country_error: Option<String>,
    name: FieldView,
    line1: FieldView,
    line2: FieldView,
    city: FieldView,
    /// A text input outside the United States.
    state: FieldView,
    /// For the United States, the state is a select of these instead.
    us_states: Option<Vec<Choice>>,
    postal_code: FieldView,
}

struct RateView {
    id: String,
    name: String,
    amount: String,
    estimate: Option<String>,
    checked: bool,
}

struct PhoneView {
    value: String,
    error: Option<String>,
}

struct AddressView {
    /// Street, city and postal code too (`billing_address_collection=required`).
    full: bool,
    /// A shipping address is collected too: left empty, the billing address is the same.
    same_as_shipping: bool,
    /// The customer's address, not editable (`customer_update[address]` not `auto`).
    locked: Option<String>,
    countries: Vec<Choice>,
    states: Vec<Choice>,
    line1: String,
    city: String,
    postal_code: String,
}

#[derive(Template)]
#[template(path = "emulator/checkout.html")]
pub struct CheckoutPage {
    id: String,
    mode: String,
    items: Vec<ItemView>,
    subtotal: String,
    discount: Option<DiscountView>,
    shipping_row: Option<ShippingRowView>,
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
    shipping: Option<ShippingView>,
    rates: Vec<RateView>,
    rate_error: Option<String>,
    phone: Option<PhoneView>,
    /// Show "Update total" (`action=update_address`): something on the form changes the total.
    update_total: bool,
    /// Card or bank fields (not for an order that costs nothing).
    pay: bool,
    card: bool,
    bank: bool,
    /// The customer's saved cards the page offers (id, label); the first is chosen unless the
    /// shopper chose otherwise.
    saved_cards: Vec<(String, String)>,
    /// The `saved_card` radio's value: a card's id, or `new`.
    saved_card: String,
    /// Offer "Save my card for future purchases" (`payment_method_save=enabled`).
    save_offer: bool,
    save_card: bool,
    submit: String,
}

/// What the shopper typed, shown again when the page is re-rendered, and the messages about it.
#[derive(Debug, Clone, Default)]
pub struct Typed {
    pub email: String,
    pub card_number: String,
    pub card_expiry: String,
    pub address: address::Typed,
    pub shipping: address::ShippingTyped,
    /// The `shipping_rate` radio's value.
    pub shipping_rate: String,
    pub phone: String,
    /// The `saved_card` radio's value (a saved card's id, or `new`) and the "save" box.
    pub saved_card: String,
    pub save_card: bool,
    /// Messages shown next to fields, by field name (`shipping_city` → `#shipping_city_error`).
    pub errors: Vec<(&'static str, String)>,
}

impl Typed {
    fn error(&self, field: &str) -> Option<String> {
        self.errors
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.clone())
    }
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

/// The countries a session ships to, as `allowed_countries` lists them.
fn ships_to(s: &Value) -> Option<Vec<String>> {
    s["shipping_address_collection"]["allowed_countries"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str().map(str::to_string))
                .collect()
        })
}

fn shipping_row(s: &Value, cur: &str) -> Option<ShippingRowView> {
    let cost = s["shipping_cost"].as_object()?;
    let id = cost.get("shipping_rate")?.as_str().unwrap_or_default();
    let name = shipping::offered(s, id)
        .and_then(|r| r["display_name"].as_str())
        .unwrap_or("Shipping");
    Some(ShippingRowView {
        label: format!("Shipping ({name})"),
        amount: shipping::amount_label(
            cost.get("amount_subtotal")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            cur,
        ),
    })
}

fn shipping_view(s: &Value, typed: &Typed) -> Option<ShippingView> {
    let allowed = ships_to(s)?;
    let t = if typed.shipping.is_empty() {
        address::ShippingTyped::of(&s["_shipping"])
    } else {
        typed.shipping.clone()
    };
    let mut country = t.country.trim().to_ascii_uppercase();
    if country.is_empty() && allowed.len() == 1 {
        country = allowed[0].clone();
    }
    let countries = allowed
        .iter()
        .map(|c| Choice {
            value: c.clone(),
            label: address::country_name(c),
            selected: *c == country,
        })
        .collect();
    let field = |id, label, autocomplete, value: &str, required| FieldView {
        id,
        label,
        autocomplete,
        value: value.to_string(),
        required,
        error: typed.error(id),
    };
    Some(ShippingView {
        countries,
        country_error: typed.error("shipping_country"),
        name: field("shipping_name", "Full name", "shipping name", &t.name, true),
        line1: field(
            "shipping_line1",
            "Address line 1",
            "shipping address-line1",
            &t.line1,
            true,
        ),
        line2: field(
            "shipping_line2",
            "Address line 2 (optional)",
            "shipping address-line2",
            &t.line2,
            false,
        ),
        city: field(
            "shipping_city",
            "City",
            "shipping address-level2",
            &t.city,
            true,
        ),
        state: field(
            "shipping_state",
            "State, province or region",
            "shipping address-level1",
            &t.state,
            address::STATE_REQUIRED.contains(&country.as_str()),
        ),
        us_states: (country == "US").then(|| {
            let code = address::us_state(&t.state).unwrap_or_default();
            address::choices(US_STATES, code)
        }),
        postal_code: field(
            "shipping_postal_code",
            "Postal code",
            "shipping postal-code",
            &t.postal_code,
            !address::NO_POSTAL_CODE.contains(&country.as_str()),
        ),
    })
}

fn rate_views(s: &Value, typed: &Typed, cur: &str) -> Vec<RateView> {
    let chosen = if shipping::offered(s, &typed.shipping_rate).is_some() {
        typed.shipping_rate.as_str()
    } else {
        s["_shipping_rate"].as_str().unwrap_or_default()
    };
    s["_shipping_rates"]
        .as_array()
        .map(|rates| {
            rates
                .iter()
                .map(|r| {
                    let id = r["id"].as_str().unwrap_or_default().to_string();
                    RateView {
                        checked: id == chosen,
                        name: r["display_name"].as_str().unwrap_or("Shipping").to_string(),
                        amount: shipping::amount_label(
                            r["fixed_amount"]["amount"].as_i64().unwrap_or(0),
                            cur,
                        ),
                        estimate: shipping::estimate_label(&r["delivery_estimate"]),
                        id,
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

fn tax_view(s: &Value, cur: &str) -> Option<TaxView> {
    if s["automatic_tax"]["enabled"] != true {
        return None;
    }
    if s["automatic_tax"]["status"] != "complete" {
        let which = if ships_to(s).is_some() {
            "shipping"
        } else {
            "billing"
        };
        return Some(TaxView {
            label: "Tax".into(),
            amount: Err(format!("Enter your {which} address to calculate")),
        });
    }
    let items = s["_line_items"].as_array().cloned().unwrap_or_default();
    let rates: Vec<&Value> = items
        .iter()
        .map(|li| &li["_taxes"])
        .chain(std::iter::once(&s["shipping_cost"]["_taxes"]))
        .filter_map(|taxes| taxes[0]["rate"].as_object().map(|_| &taxes[0]["rate"]))
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
        amount: Ok(format_amount(
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
        // A billing address that defaulted to the shipping address is not shown as typed.
        let a = if typed.address.is_empty() && s["_billing_same_as_shipping"] == true {
            address::Typed::default()
        } else if typed.address.is_empty() {
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
            same_as_shipping: ships_to(s).is_some(),
            locked,
            countries: address::choices(COUNTRIES, &a.country),
            states: address::choices(US_STATES, &a.state),
            line1: a.line1,
            city: a.city,
            postal_code: a.postal_code,
        }
    });
    let shipping = shipping_view(s, typed);
    let rates = rate_views(s, typed, cur);
    let phone = (s["phone_number_collection"]["enabled"] == true).then(|| PhoneView {
        value: if typed.phone.is_empty() {
            s["_phone"].as_str().unwrap_or_default().to_string()
        } else {
            typed.phone.clone()
        },
        error: typed.error("phone"),
    });
    let update_total = (editable && s["automatic_tax"]["enabled"] == true)
        || shipping.is_some()
        || !rates.is_empty();
    let pay = needs_payment(s);
    let saved_cards: Vec<(String, String)> = s["_saved_cards"]
        .as_array()
        .map(|cards| {
            cards
                .iter()
                .map(|c| {
                    (
                        c["id"].as_str().unwrap_or_default().to_string(),
                        c["label"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let saved_card = if !typed.saved_card.is_empty() {
        typed.saved_card.clone()
    } else {
        saved_cards
            .first()
            .map_or_else(|| "new".to_string(), |(id, _)| id.clone())
    };
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
        shipping_row: shipping_row(s, cur),
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
        shipping,
        rates,
        rate_error: typed.error("shipping_rate"),
        phone,
        update_total,
        pay,
        card: s["payment_method_types"]
            .as_array()
            .is_some_and(|a| a.iter().any(|t| t == "card")),
        bank: s["payment_method_types"]
            .as_array()
            .is_some_and(|a| a.iter().any(|t| t == "us_bank_account")),
        saved_cards,
        saved_card,
        save_offer: s["saved_payment_method_options"]["payment_method_save"] == "enabled"
            && s["customer"].is_string(),
        save_card: typed.save_card,
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

/// Store what the payment form sent and reprice; returns the session.
async fn store_details(
    st: &Arc<Shared>,
    id: &str,
    details: PageDetails,
) -> Result<Value, super::ApiError> {
    let id = id.to_string();
    with_ctx(st, move |ctx| {
        let mut s = ctx.fetch("checkout.session", &id)?;
        checkout::apply_page_details(ctx, &mut s, details)?;
        ctx.put(&s)?;
        super::payment_methods::decorate(ctx, &mut s)?;
        Ok(s)
    })
    .await
}

fn render(s: &Value, typed: &Typed, status: u16, msg: Option<String>) -> actix_web::HttpResponse {
    html(status, page_for(s, typed, msg, None).render())
}

/// Check the shipping address, rate and phone number and the billing address the form sent.
/// Field messages go into `typed.errors`; a billing address message is returned.
fn read_details(s: &Value, typed: &mut Typed) -> (PageDetails, Option<String>) {
    let mut d = PageDetails::default();
    if let Some(allowed) = ships_to(s) {
        match typed.shipping.parse(&allowed) {
            Ok(v) => d.shipping = Some(v),
            Err(errors) => typed.errors.extend(errors),
        }
    }
    if s["_shipping_rates"].is_array() && !typed.shipping_rate.is_empty() {
        if shipping::offered(s, &typed.shipping_rate).is_some() {
            d.rate = Some(typed.shipping_rate.clone());
        } else {
            typed.errors.push((
                "shipping_rate",
                "This shipping option is not available.".to_string(),
            ));
        }
    }
    if s["phone_number_collection"]["enabled"] == true {
        match address::parse_phone(&typed.phone) {
            Ok(p) => d.phone = Some(p.map_or(Value::Null, Value::from)),
            Err(m) => typed.errors.push(("phone", m)),
        }
    }
    let mut billing_error = None;
    let (_, editable) = asks_address(s);
    if editable {
        let same_as_shipping = typed.address.is_empty() && ships_to(s).is_some();
        d.billing_same_as_shipping = same_as_shipping;
        if same_as_shipping {
            // As on Stripe, the billing address defaults to the shipping address.
            d.billing = d.shipping.as_ref().map(|sh| sh["address"].clone());
        } else {
            match typed
                .address
                .parse(s["billing_address_collection"] == "required")
            {
                Ok(a) => d.billing = Some(a),
                Err(m) => billing_error = Some(m),
            }
        }
    }
    (d, billing_error)
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
    let mut typed = Typed {
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
        shipping: address::ShippingTyped {
            name: get("shipping_name"),
            line1: get("shipping_line1"),
            line2: get("shipping_line2"),
            city: get("shipping_city"),
            state: get("shipping_state"),
            postal_code: get("shipping_postal_code"),
            country: get("shipping_country"),
        },
        shipping_rate: get("shipping_rate"),
        phone: get("phone"),
        saved_card: get("saved_card"),
        save_card: get("save_card") == "on",
        errors: Vec::new(),
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

    // Addresses, shipping rate and phone (and with them the tax and the shipping cost).
    let (details, billing_error) = read_details(&s, &mut typed);
    if billing_error.is_some() || !typed.errors.is_empty() {
        return render(&s, &typed, 400, billing_error);
    }
    let typed = typed;
    let rerender = |s: &Value, status: u16, msg: Option<String>| render(s, &typed, status, msg);
    if !details.is_empty() {
        let before = s["amount_total"].clone();
        let rate_before = s["_shipping_rate"].clone();
        s = match store_details(&st, &id, details).await {
            Ok(s) => s,
            Err(e) => return rerender(&s, e.status, Some(e.message)),
        };
        if get("action") == "update_address" {
            return rerender(&s, 200, None);
        }
        let expected = get("expected_total");
        let shown = if expected.is_empty() {
            before
        } else {
            Value::from(expected.parse::<i64>().unwrap_or(-1))
        };
        if shown != s["amount_total"] {
            let why = if ships_to(&s).is_some() || s["_shipping_rate"] != rate_before {
                "shipping details"
            } else {
                "billing address"
            };
            return rerender(
                &s,
                409,
                Some(format!(
                    "Your total has been updated for your {why}. Check it and submit again."
                )),
            );
        }
    } else if get("action") == "update_address" {
        return rerender(&s, 200, None);
    }

    if !typed.email.contains('@') || typed.email.len() > 512 {
        return rerender(&s, 400, Some("Your email address is incomplete.".into()));
    }
    // A card typed in is a new card, whichever radio was left on.
    let reuse = Some(typed.saved_card.clone()).filter(|c| {
        !c.is_empty()
            && c != "new"
            && typed.card_number.is_empty()
            && needs_payment(&s)
            && get("method") != "us_bank_account"
    });
    let save = typed.save_card && reuse.is_none();
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
    } else if reuse.is_some() {
        // The saved card, checked against what the page offers when paying.
        None
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
        payments::lazy_expire(ctx, &sid)?;
        let mut s = ctx.fetch("checkout.session", &sid)?;
        let method = match &reuse {
            Some(id) => Some(Method::Card(super::payment_methods::chosen(ctx, &s, id)?)),
            None => method,
        };
        s["_card_choice"] = serde_json::json!({ "save": save, "reuse": reuse });
        ctx.put(&s)?;
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
        let refusal = if s["status"] != "open" || s["allow_promotion_codes"] != true {
            None
        } else if remove {
            if s["_discount_source"] == "page" {
                checkout::detach_discount(ctx, &mut s)?;
                price_session(ctx, &mut s)?;
                ctx.put(&s)?;
            }
            None
        } else {
            match checkout::apply_code(ctx, &mut s, &typed_code)? {
                Ok(()) => {
                    ctx.put(&s)?;
                    None
                }
                Err(refusal) => Some(refusal.message()),
            }
        };
        // After it is stored: the offered cards are for the page only.
        super::payment_methods::decorate(ctx, &mut s)?;
        Ok(Some((s, refusal)))
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
