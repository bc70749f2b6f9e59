//! Checkout Sessions: create (with discounts, automatic tax and shipping), expire; the
//! discount, address, shipping-rate and phone changes the hosted page makes.

use serde_json::{Value, json};

use super::api::{Routed, expand_of, make_price, valid_currency};
use super::coupons;
use super::error::{ApiError, ApiResult};
use super::form::{P, Params, check};
use super::objects;
use super::shipping;
use super::store::Ctx;
use super::totals::price_session;

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
    (
        "automatic_tax",
        P::Obj(&[
            ("enabled", P::Bool),
            (
                "liability",
                P::Obj(&[("type", P::Enum(&["account", "self"])), ("account", P::Str)]),
            ),
        ]),
    ),
    (
        "customer_update",
        P::Obj(&[
            ("address", P::Enum(&["auto", "never"])),
            ("name", P::Enum(&["auto", "never"])),
            ("shipping", P::Enum(&["auto", "never"])),
        ]),
    ),
    (
        "discounts",
        P::Arr(&P::Obj(&[("coupon", P::Str), ("promotion_code", P::Str)])),
    ),
    (
        "payment_method_collection",
        P::Enum(&["always", "if_required"]),
    ),
    ("phone_number_collection", P::Obj(&[("enabled", P::Bool)])),
    (
        "shipping_address_collection",
        P::Obj(&[(
            "allowed_countries",
            P::Arr(&P::Enum(shipping::ALLOWED_COUNTRIES)),
        )]),
    ),
    (
        "shipping_options",
        P::Arr(&P::Obj(&[
            ("shipping_rate", P::Str),
            ("shipping_rate_data", P::Obj(shipping::RATE_DATA)),
        ])),
    ),
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
    (
        "saved_payment_method_options",
        P::Obj(&[
            (
                "allow_redisplay_filters",
                P::Arr(&P::Enum(&["always", "limited", "unspecified"])),
            ),
            ("payment_method_remove", P::Enum(&["disabled", "enabled"])),
            ("payment_method_save", P::Enum(&["disabled", "enabled"])),
        ]),
    ),
    ("expand", P::Arr(&P::Str)),
];

pub const PAYMENT_METHOD_TYPES: &[&str] = &["card", "us_bank_account"];

pub fn create_session(ctx: &mut Ctx, raw: &Value) -> ApiResult<Routed> {
    let p = check(&P::Obj(SESSION_PARAMS), raw, "")?;
    let mode = p.s("mode").ok_or_else(|| ApiError::missing("mode"))?;
    shipping::check_mode(&p, &mode)?;
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
    let mut customer = None;
    if let Some(c) = p.s("customer") {
        let cus = ctx.fetch_param("customer", &c, "customer")?;
        s["customer"] = json!(c);
        if let Some(e) = cus["email"].as_str() {
            s["_prefill_email"] = json!(e);
        }
        customer = Some(cus);
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
    saved_methods(&p, &mode, &mut s)?;
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
    if let Some(pmc) = p.s("payment_method_collection") {
        if mode != "subscription" {
            return Err(ApiError::param(
                "payment_method_collection",
                "`payment_method_collection` can only be used in `subscription` mode.",
            ));
        }
        s["payment_method_collection"] = json!(pmc);
    }
    tax_settings(&mut s, &p, customer.as_ref())?;
    shipping::session_settings(ctx, &mut s, &p)?;
    if let Some(d) = session_discount(ctx, &s, &p)? {
        attach_discount(ctx, &mut s, &d, "api")?;
    }
    price_session(ctx, &mut s)?;
    ctx.put(&s)?;
    Ok((s, expand_of(&p)))
}

/// `automatic_tax`, `customer_update` and where the tax location comes from.
fn tax_settings(s: &mut Value, p: &Value, customer: Option<&Value>) -> ApiResult<()> {
    let update = p.get("customer_update").cloned();
    if let Some(u) = &update {
        if customer.is_none() {
            return Err(ApiError::param(
                "customer_update",
                "`customer_update` can only be used with `customer`.",
            ));
        }
        s["_customer_update"] = u.clone();
    }
    let enabled = p["automatic_tax"].b("enabled").unwrap_or(false);
    if !enabled {
        return Ok(());
    }
    s["automatic_tax"] = json!({
        "enabled": true,
        "liability": { "type": "self" },
        "provider": "stripe",
        "status": "requires_location_inputs",
    });
    let address_auto = update
        .as_ref()
        .is_some_and(|u| u["address"] == "auto" || u["shipping"] == "auto");
    if let Some(cus) = customer {
        let country = cus["address"]["country"].as_str().filter(|c| c.len() == 2);
        // Like Stripe Tax, a shipping address on the Customer comes before its billing address.
        let ships_to = &cus["shipping"]["address"];
        if super::totals::place_of(ships_to).is_some() {
            s["_customer_shipping_location"] = ships_to.clone();
        }
        match country {
            Some(_) => {
                // The customer's address is the billing address and tax location (the page can
                // change it only when `customer_update[address]=auto`).
                s["_tax_location"] = cus["address"].clone();
                s["_billing_address"] = cus["address"].clone();
                s["_address_locked"] = json!(!address_auto);
            }
            None if s["_customer_shipping_location"].is_object() => {}
            None if !address_auto => {
                return Err(ApiError::param(
                    "automatic_tax[enabled]",
                    "Automatic tax calculation requires a valid address on the Customer. Add a valid address to the Customer or set either `customer_update[address]` or `customer_update[shipping]` to 'auto' to save the address entered in Checkout to the Customer.",
                )
                .code("customer_tax_location_invalid"));
            }
            None => {}
        }
    }
    Ok(())
}

/// The discount named in `discounts[0]`, checked against this session (validated against
/// `allow_promotion_codes`).
fn session_discount(ctx: &mut Ctx, s: &Value, p: &Value) -> ApiResult<Option<Applied>> {
    let Some(list) = p["discounts"].as_array().filter(|l| !l.is_empty()) else {
        return Ok(None);
    };
    if p.get("allow_promotion_codes").is_some() {
        return Err(ApiError::param(
            "allow_promotion_codes",
            "You may only specify one of these parameters: allow_promotion_codes, discounts.",
        ));
    }
    if list.len() > 1 {
        return Err(ApiError::param(
            "discounts",
            "You may only specify one discount (coupon or promotion code) for a Checkout Session.",
        ));
    }
    let d = &list[0];
    let purchase = purchase_of(ctx, s, None)?;
    match (d.s("coupon"), d.s("promotion_code")) {
        (Some(_), Some(_)) => Err(ApiError::param(
            "discounts[0][promotion_code]",
            "You may only specify one of these parameters: coupon, promotion_code.",
        )),
        (Some(c), None) => {
            let param = "discounts[0][coupon]";
            let coupon = ctx.fetch_param("coupon", &c, param)?;
            coupons::check_coupon(ctx.now, &coupon, &purchase)
                .map_err(|r| r.api_error(param, "coupon"))?;
            Ok(Some(Applied {
                coupon: c,
                promotion_code: None,
            }))
        }
        (None, Some(pc)) => {
            let param = "discounts[0][promotion_code]";
            let promo = ctx.fetch_param("promotion_code", &pc, param)?;
            let mut promo = promo;
            coupons::refresh(ctx, &mut promo)?;
            let coupon = coupons::check_promotion_code(ctx, &promo, &purchase)?
                .map_err(|r| r.api_error(param, "promotion code"))?;
            Ok(Some(Applied {
                coupon: coupon["id"].as_str().unwrap_or_default().to_string(),
                promotion_code: Some(pc),
            }))
        }
        (None, None) => Err(ApiError::missing("discounts[0][coupon]")),
    }
}

/// A coupon (and the promotion code it came from) about to be applied.
pub struct Applied {
    pub coupon: String,
    pub promotion_code: Option<String>,
}

/// What a code is checked against: the session's currency, subtotal, products and customer.
fn purchase_of<'a>(
    ctx: &mut Ctx,
    s: &'a Value,
    email: Option<&str>,
) -> ApiResult<coupons::Purchase<'a>> {
    let products = s["_line_items"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|li| li["price"]["product"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let customer = s["customer"].as_str().map(str::to_string);
    let email = match email.filter(|e| !e.is_empty()) {
        Some(e) => Some(e.to_string()),
        None => match s["customer_email"].as_str() {
            Some(e) => Some(e.to_string()),
            None => match &customer {
                Some(c) => ctx
                    .get(c)?
                    .and_then(|c| c["email"].as_str().map(str::to_string)),
                None => None,
            },
        },
    };
    Ok(coupons::Purchase {
        currency: s["currency"].as_str().unwrap_or("usd"),
        subtotal: s["_line_items"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|li| li["amount_subtotal"].as_i64().unwrap_or(0))
                    .sum()
            })
            .unwrap_or(0),
        products,
        customer,
        email,
    })
}

/// Put a discount on the session (`source`: `api` from `discounts`, `page` from the code field).
pub fn attach_discount(ctx: &mut Ctx, s: &mut Value, a: &Applied, source: &str) -> ApiResult<()> {
    detach_discount(ctx, s)?;
    let d = coupons::new_discount(
        ctx.now,
        &a.coupon,
        a.promotion_code.as_deref(),
        s["id"].as_str(),
        s["customer"].clone(),
    );
    ctx.put(&d)?;
    s["_discount"] = d["id"].clone();
    s["_discount_source"] = json!(source);
    s["discounts"] = json!([{ "coupon": a.coupon, "promotion_code": a.promotion_code }]);
    // For the page's discount line: the code typed, else the coupon's name.
    if let Some(pc) = &a.promotion_code {
        s["_promo_code"] = ctx.fetch("promotion_code", pc)?["code"].clone();
    }
    s["_coupon_name"] = ctx.fetch("coupon", &a.coupon)?["name"].clone();
    Ok(())
}

/// Take the discount off the session (the page's Remove button).
pub fn detach_discount(ctx: &mut Ctx, s: &mut Value) -> ApiResult<()> {
    if let Some(id) = s["_discount"].as_str().map(str::to_string) {
        ctx.delete(&id)?;
    }
    if let Some(m) = s.as_object_mut() {
        for k in [
            "_discount",
            "_discount_source",
            "_promo_code",
            "_coupon_name",
        ] {
            m.remove(k);
        }
    }
    s["discounts"] = json!([]);
    Ok(())
}

/// Apply a code typed on the hosted page; `Err(refusal)` says why it cannot be used.
pub fn apply_code(
    ctx: &mut Ctx,
    s: &mut Value,
    code: &str,
) -> ApiResult<Result<(), coupons::Refusal>> {
    let mut promo = match coupons::find_code(ctx, code)? {
        Ok(p) => p,
        Err(r) => return Ok(Err(r)),
    };
    coupons::refresh(ctx, &mut promo)?;
    let purchase = purchase_of(ctx, s, None)?;
    let coupon = match coupons::check_promotion_code(ctx, &promo, &purchase)? {
        Ok(c) => c,
        Err(r) => return Ok(Err(r)),
    };
    let applied = Applied {
        coupon: coupon["id"].as_str().unwrap_or_default().to_string(),
        promotion_code: promo["id"].as_str().map(str::to_string),
    };
    attach_discount(ctx, s, &applied, "page")?;
    price_session(ctx, s)?;
    Ok(Ok(()))
}

/// The session's discount checked again at payment time, with the e-mail address typed.
pub fn recheck_discount(
    ctx: &mut Ctx,
    s: &Value,
    email: &str,
) -> ApiResult<Option<coupons::Refusal>> {
    let Some(did) = s["_discount"].as_str() else {
        return Ok(None);
    };
    let Some(d) = ctx.get(did)? else {
        return Ok(None);
    };
    let purchase = purchase_of(ctx, s, Some(email))?;
    Ok(match d["promotion_code"].as_str() {
        Some(pc) => {
            let Some(mut promo) = ctx.get(pc)? else {
                return Ok(Some(coupons::Refusal::Invalid));
            };
            coupons::refresh(ctx, &mut promo)?;
            coupons::check_promotion_code(ctx, &promo, &purchase)?.err()
        }
        None => {
            let coupon = ctx
                .get(d["source"]["coupon"].as_str().unwrap_or_default())?
                .unwrap_or(json!({ "deleted": true }));
            coupons::check_coupon(ctx.now, &coupon, &purchase).err()
        }
    })
}

/// On completion: count the redemption and tie the discount to the customer.
pub fn redeem_discount(ctx: &mut Ctx, s: &Value) -> ApiResult<()> {
    let Some(did) = s["_discount"].as_str() else {
        return Ok(());
    };
    let Some(mut d) = ctx.get(did)? else {
        return Ok(());
    };
    let coupon = d["source"]["coupon"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let promo = d["promotion_code"].as_str().map(str::to_string);
    coupons::redeem(ctx, &coupon, promo.as_deref())?;
    d["customer"] = s["customer"].clone();
    ctx.put(&d)?;
    Ok(())
}

/// The shipping details collected on the page as a Customer keeps them (`{address, name,
/// phone}`), if any.
pub fn customer_shipping(s: &Value) -> Option<Value> {
    let details = &s["_shipping"];
    details["address"].is_object().then(|| {
        json!({
            "address": details["address"],
            "name": details["name"],
            "phone": s["_phone"],
        })
    })
}

/// `customer_update[address]=auto`: the address entered on the page goes onto the Customer;
/// `customer_update[shipping]=auto`: the shipping details (name, address, phone) too.
pub fn save_customer_address(ctx: &mut Ctx, s: &Value) -> ApiResult<()> {
    let Some(cid) = s["customer"].as_str() else {
        return Ok(());
    };
    let address = (s["_customer_update"]["address"] == "auto" && s["_billing_address"].is_object())
        .then(|| s["_billing_address"].clone());
    let shipping = if s["_customer_update"]["shipping"] == "auto" {
        customer_shipping(s)
    } else {
        None
    };
    if address.is_none() && shipping.is_none() {
        return Ok(());
    }
    let mut cus = ctx.fetch("customer", cid)?;
    let before = cus.clone();
    if let Some(a) = address {
        cus["address"] = a;
    }
    if let Some(sh) = shipping {
        cus["shipping"] = sh;
    }
    if cus == before {
        return Ok(());
    }
    ctx.put(&cus)?;
    ctx.emit(
        "customer.updated",
        &cus,
        Some(super::api::previous(&before, &cus)),
    )?;
    Ok(())
}

/// What the hosted page's payment form changes on a session (each `None`: unchanged).
#[derive(Debug, Clone, Default)]
pub struct PageDetails {
    /// The billing address (`customer_details.address` shape).
    pub billing: Option<Value>,
    /// The billing address was left empty and is the shipping address.
    pub billing_same_as_shipping: bool,
    /// The shipping details (`{name, address}`).
    pub shipping: Option<Value>,
    /// The chosen shipping rate (one of the session's options).
    pub rate: Option<String>,
    /// The phone number (`Value::Null`: none given).
    pub phone: Option<Value>,
}

impl PageDetails {
    pub fn is_empty(&self) -> bool {
        self.billing.is_none()
            && self.shipping.is_none()
            && self.rate.is_none()
            && self.phone.is_none()
    }
}

/// Store what the page sent and reprice. With automatic tax the billing address is the tax
/// location unless a shipping address is known (see [`super::totals::tax_address`]).
pub fn apply_page_details(ctx: &mut Ctx, s: &mut Value, d: PageDetails) -> ApiResult<()> {
    if let Some(address) = d.billing {
        if s["automatic_tax"]["enabled"] == true {
            s["_tax_location"] = address.clone();
        }
        s["_billing_address"] = address;
        s["_billing_same_as_shipping"] = json!(d.billing_same_as_shipping);
    }
    if let Some(details) = d.shipping {
        s["collected_information"] = json!({
            "business_name": null,
            "individual_name": null,
            "shipping_details": details,
        });
        s["_shipping"] = details;
    }
    if let Some(rate) = d.rate {
        if shipping::offered(s, &rate).is_some() {
            s["_shipping_rate"] = json!(rate);
        }
    }
    if let Some(phone) = d.phone {
        s["_phone"] = phone;
    }
    price_session(ctx, s)
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

/// `saved_payment_method_options`: Checkout offers the customer's saved cards (those whose
/// `allow_redisplay` passes the filters, `always` by default) and, with `payment_method_save`
/// enabled, a box to save the card entered. Both need the session's `customer`; saving cannot be
/// combined with `setup_future_usage`, which saves without asking.
fn saved_methods(p: &Value, mode: &str, s: &mut Value) -> ApiResult<()> {
    let Some(o) = p.get("saved_payment_method_options") else {
        return Ok(());
    };
    let save = o.s("payment_method_save");
    if save.as_deref() == Some("enabled") {
        if mode != "payment" {
            return Err(ApiError::param(
                "saved_payment_method_options[payment_method_save]",
                "`saved_payment_method_options[payment_method_save]` can only be used in `payment` mode.",
            ));
        }
        if p.get("customer").is_none() {
            return Err(ApiError::param(
                "saved_payment_method_options[payment_method_save]",
                "`saved_payment_method_options[payment_method_save]` requires `customer`.",
            ));
        }
        if !p["payment_intent_data"]["setup_future_usage"].is_null() {
            return Err(ApiError::param(
                "saved_payment_method_options[payment_method_save]",
                "You cannot use `saved_payment_method_options[payment_method_save]` together with `payment_intent_data[setup_future_usage]`.",
            ));
        }
    }
    let filters = o
        .get("allow_redisplay_filters")
        .cloned()
        .unwrap_or_else(|| json!(["always"]));
    s["saved_payment_method_options"] = json!({
        "allow_redisplay_filters": filters,
        "payment_method_remove": o.s("payment_method_remove"),
        "payment_method_save": save,
    });
    Ok(())
}
