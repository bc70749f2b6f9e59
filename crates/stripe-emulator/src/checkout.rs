//! Checkout Sessions: create, expire.

use serde_json::{Value, json};

use super::api::{Routed, expand_of, make_price, valid_currency};
use super::error::{ApiError, ApiResult};
use super::form::{P, Params, check};
use super::objects;
use super::store::Ctx;

const PRICE_DATA: &[(&str, P)] = &[
    ("currency", P::Str),
    ("product", P::Str),
    (
        "product_data",
        P::Obj(&[
            ("name", P::Str),
            ("description", P::Str),
            ("metadata", P::Meta),
            ("images", P::Arr(&P::Str)),
            ("tax_code", P::Str),
            ("unit_label", P::Str),
        ]),
    ),
    ("unit_amount", P::Int),
    ("unit_amount_decimal", P::Str),
    (
        "recurring",
        P::Obj(&[
            ("interval", P::Enum(&["day", "week", "month", "year"])),
            ("interval_count", P::Int),
        ]),
    ),
    (
        "tax_behavior",
        P::Enum(&["exclusive", "inclusive", "unspecified"]),
    ),
];

const SESSION_PARAMS: &[(&str, P)] = &[
    ("mode", P::Enum(&["payment", "setup", "subscription"])),
    (
        "line_items",
        P::Arr(&P::Obj(&[
            ("price", P::Str),
            ("price_data", P::Obj(PRICE_DATA)),
            ("quantity", P::Int),
            (
                "adjustable_quantity",
                P::Obj(&[
                    ("enabled", P::Bool),
                    ("maximum", P::Int),
                    ("minimum", P::Int),
                ]),
            ),
            ("tax_rates", P::Arr(&P::Str)),
            ("metadata", P::Meta),
        ])),
    ),
    ("success_url", P::Str),
    ("cancel_url", P::Str),
    ("return_url", P::Str),
    ("client_reference_id", P::Str),
    ("customer", P::Str),
    ("customer_email", P::Str),
    ("customer_creation", P::Enum(&["always", "if_required"])),
    ("metadata", P::Meta),
    ("expires_at", P::Int),
    ("currency", P::Str),
    ("locale", P::Str),
    ("payment_method_types", P::Arr(&P::Str)),
    ("allow_promotion_codes", P::Bool),
    ("billing_address_collection", P::Enum(&["auto", "required"])),
    (
        "submit_type",
        P::Enum(&["auto", "book", "donate", "pay", "subscribe"]),
    ),
    (
        "ui_mode",
        P::Enum(&["hosted_page", "embedded_page", "elements", "form", "hosted"]),
    ),
    ("automatic_tax", P::Obj(&[("enabled", P::Bool)])),
    ("phone_number_collection", P::Obj(&[("enabled", P::Bool)])),
    (
        "payment_intent_data",
        P::Obj(&[
            ("metadata", P::Meta),
            ("description", P::Str),
            ("receipt_email", P::Str),
            ("statement_descriptor", P::Str),
            ("statement_descriptor_suffix", P::Str),
            (
                "setup_future_usage",
                P::Enum(&["off_session", "on_session"]),
            ),
            ("capture_method", P::Enum(&["automatic", "automatic_async"])),
            ("transfer_group", P::Str),
        ]),
    ),
    (
        "subscription_data",
        P::Obj(&[
            ("metadata", P::Meta),
            ("description", P::Str),
            ("trial_period_days", P::Int),
        ]),
    ),
    ("expand", P::Arr(&P::Str)),
];

pub const PAYMENT_METHOD_TYPES: &[&str] = &["card", "us_bank_account"];

pub fn create_session(ctx: &mut Ctx, raw: &Value) -> ApiResult<Routed> {
    let p = check(&P::Obj(SESSION_PARAMS), raw, "")?;
    let mode = p.s("mode").ok_or_else(|| ApiError::missing("mode"))?;
    if mode == "setup" {
        return Err(ApiError::param(
            "mode",
            "The emulator supports `payment` and `subscription` mode.",
        ));
    }
    let ui_mode = p.s("ui_mode").unwrap_or_else(|| "hosted_page".into());
    if ui_mode != "hosted_page" && ui_mode != "hosted" {
        return Err(ApiError::param(
            "ui_mode",
            "The emulator only hosts Checkout pages (`ui_mode=hosted`).",
        ));
    }
    let mut s = objects::checkout_session(ctx.now, &ctx.origin, &mode);

    // URLs.
    for key in ["success_url", "cancel_url"] {
        if let Some(u) = p.s(key) {
            let probe = u.replace("{CHECKOUT_SESSION_ID}", "cs_test_x");
            match url::Url::parse(&probe) {
                Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
                _ => {
                    return Err(
                        ApiError::param(key, format!("Not a valid URL: {u}")).code("url_invalid")
                    );
                }
            }
            s[key] = json!(u);
        }
    }
    if p.get("return_url").is_some() {
        return Err(ApiError::param(
            "return_url",
            "`return_url` is only for embedded and custom ui_mode.",
        ));
    }

    // Customer.
    if p.get("customer").is_some() && p.get("customer_email").is_some() {
        return Err(ApiError::param(
            "customer_email",
            "You may only specify one of these parameters: customer, customer_email.",
        ));
    }
    if let Some(c) = p.s("customer") {
        let cus = ctx.fetch_param("customer", &c, "customer")?;
        s["customer"] = json!(c);
        if let Some(e) = cus["email"].as_str() {
            s["_prefill_email"] = json!(e);
        }
    }
    if let Some(e) = p.s("customer_email") {
        if !e.contains('@') || e.len() > 800 {
            return Err(
                ApiError::param("customer_email", format!("Invalid email address: {e}"))
                    .code("email_invalid"),
            );
        }
        s["customer_email"] = json!(e);
    }
    if let Some(cc) = p.s("customer_creation") {
        if mode != "payment" {
            return Err(ApiError::param(
                "customer_creation",
                "`customer_creation` can only be used in `payment` mode.",
            ));
        }
        s["customer_creation"] = json!(cc);
    }
    if let Some(r) = p.s("client_reference_id") {
        if r.chars().count() > 200 {
            return Err(ApiError::param(
                "client_reference_id",
                "client_reference_id must be at most 200 characters.",
            ));
        }
        s["client_reference_id"] = json!(r);
    }
    if let Some(m) = p.get("metadata") {
        s["metadata"] = m.clone();
    }
    if let Some(l) = p.s("locale") {
        s["locale"] = json!(l);
    }
    for key in [
        "allow_promotion_codes",
        "billing_address_collection",
        "submit_type",
    ] {
        if let Some(v) = p.get(key) {
            s[key] = v.clone();
        }
    }
    if let Some(pm) = p["payment_method_types"].as_array() {
        if pm.is_empty() {
            return Err(ApiError::param(
                "payment_method_types",
                "payment_method_types must not be empty.",
            ));
        }
        for (i, t) in pm.iter().enumerate() {
            let t = t.as_str().unwrap_or_default();
            if !PAYMENT_METHOD_TYPES.contains(&t) {
                return Err(ApiError::param(
                    format!("payment_method_types[{i}]"),
                    format!(
                        "Invalid payment_method_types[{i}]: must be one of {}",
                        PAYMENT_METHOD_TYPES.join(", ")
                    ),
                ));
            }
        }
        s["payment_method_types"] = json!(pm);
    }

    // Expiry: 30 minutes to 24 hours ahead.
    if let Some(exp) = p.i("expires_at") {
        if exp < ctx.now + 30 * 60 || exp > ctx.now + 24 * 3600 {
            return Err(ApiError::param(
                "expires_at",
                "The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.",
            ));
        }
        s["expires_at"] = json!(exp);
    }

    // Line items.
    let items = p["line_items"].as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        return Err(ApiError::missing("line_items"));
    }
    if items.len() > 100 {
        return Err(ApiError::param(
            "line_items",
            "You may only specify up to 100 line items.",
        ));
    }
    let mut lines = Vec::new();
    let mut currency: Option<String> = p
        .s("currency")
        .map(|c| valid_currency(&c, "currency"))
        .transpose()?;
    let mut total: i64 = 0;
    let mut recurring = 0;
    for (i, li) in items.iter().enumerate() {
        let prefix = format!("line_items[{i}]");
        let price = match (li.s("price"), li.get("price_data")) {
            (Some(_), Some(_)) => {
                return Err(ApiError::param(
                    format!("{prefix}[price_data]"),
                    "You may only specify one of these parameters: price, price_data.",
                ));
            }
            (Some(pid), None) => {
                let price = ctx.fetch_param("price", &pid, &format!("{prefix}[price]"))?;
                if price["active"] != true {
                    return Err(ApiError::param(
                        format!("{prefix}[price]"),
                        format!(
                            "The price specified ({pid}) is inactive. This field only accepts active prices."
                        ),
                    ));
                }
                price
            }
            (None, Some(pd)) => {
                let mut price = make_price(ctx, pd, &format!("{prefix}[price_data]"))?;
                price["active"] = json!(false);
                ctx.put(&price)?;
                price
            }
            (None, None) => {
                return Err(ApiError::param(
                    format!("{prefix}[price]"),
                    "You must specify either `price` or `price_data` in each line item.",
                ));
            }
        };
        let qty = li
            .i("quantity")
            .ok_or_else(|| ApiError::missing(&format!("{prefix}[quantity]")))?;
        if !(1..=999_999).contains(&qty) {
            return Err(ApiError::param(
                format!("{prefix}[quantity]"),
                "Quantity must be between 1 and 999999.",
            ));
        }
        let pc = price["currency"].as_str().unwrap_or_default().to_string();
        match &currency {
            Some(c) if *c != pc => {
                return Err(ApiError::param(
                    format!("{prefix}[price]"),
                    "All line items must use the same currency.",
                ));
            }
            _ => currency = Some(pc),
        }
        let is_recurring = price["type"] == "recurring";
        if is_recurring {
            recurring += 1;
            if mode == "payment" {
                return Err(ApiError::param(
                    format!("{prefix}[price]"),
                    "You specified `payment` mode but passed a recurring price. Either switch to `subscription` mode or use only one-time prices.",
                ));
            }
        }
        let product = ctx.get(price["product"].as_str().unwrap_or_default())?;
        let desc = product
            .as_ref()
            .and_then(|p| p["name"].as_str())
            .unwrap_or("Item")
            .to_string();
        let unit = price["unit_amount"].as_i64().unwrap_or(0);
        total = unit
            .checked_mul(qty)
            .and_then(|a| total.checked_add(a))
            .filter(|t| *t <= 99_999_999_999)
            .ok_or_else(|| {
                ApiError::param(
                    format!("{prefix}[quantity]"),
                    "The total amount is too large.",
                )
            })?;
        lines.push(objects::line_item(&price, qty, &desc));
    }
    if mode == "subscription" && recurring == 0 {
        return Err(ApiError::param(
            "line_items",
            "You must provide at least one recurring price in `subscription` mode when using prices.",
        ));
    }
    let currency = currency.unwrap_or_else(|| "usd".into());
    s["currency"] = json!(currency);
    if p["payment_method_types"].is_null() && s["mode"] == "payment" && s["currency"] == "usd" {
        // Without explicit types Stripe offers what the account enabled (dynamic payment
        // methods); the emulated account has cards and US bank debits.
        s["payment_method_types"] = json!(["card", "us_bank_account"]);
    }
    s["amount_subtotal"] = json!(total);
    s["amount_total"] = json!(total);
    s["_line_items"] = json!(lines);
    if let Some(pid) = p.get("payment_intent_data") {
        s["_payment_intent_data"] = pid.clone();
    }
    if let Some(sd) = p.get("subscription_data") {
        s["_subscription_data"] = sd.clone();
    }
    ctx.put(&s)?;
    Ok((s, expand_of(&p)))
}

pub fn expire_session(ctx: &mut Ctx, raw: &Value, id: &str) -> ApiResult<Routed> {
    let p = check(&P::Obj(&[("expand", P::Arr(&P::Str))]), raw, "")?;
    let s = ctx.fetch("checkout.session", id)?;
    if s["status"] != "open" {
        return Err(ApiError::invalid(format!(
            "Only Checkout Sessions with a status in [\"open\"] can be expired. This Checkout Session has a status of \"{}\".",
            s["status"].as_str().unwrap_or_default()
        )));
    }
    let s = expire_now(ctx, s)?;
    Ok((s, expand_of(&p)))
}

/// Move an open session to `expired` and emit `checkout.session.expired`.
pub fn expire_now(ctx: &mut Ctx, mut s: Value) -> ApiResult<Value> {
    s["status"] = json!("expired");
    s["url"] = Value::Null;
    if let Some(pi_id) = s["payment_intent"].as_str().map(str::to_string) {
        if let Some(mut pi) = ctx.get(&pi_id)? {
            if pi["status"] != "succeeded" {
                pi["status"] = json!("canceled");
                pi["canceled_at"] = json!(ctx.now);
                pi["cancellation_reason"] = json!("automatic");
                ctx.put(&pi)?;
                ctx.emit("payment_intent.canceled", &pi, None)?;
            }
        }
    }
    ctx.put(&s)?;
    ctx.emit("checkout.session.expired", &s, None)?;
    Ok(s)
}
