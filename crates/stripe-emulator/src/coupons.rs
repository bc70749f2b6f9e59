//! Coupons and promotion codes (`/v1/coupons`, `/v1/promotion_codes`), and the rules that decide
//! whether one can be redeemed on a Checkout Session.
//!
//! Objects follow async-stripe rc.10 (API `2026-09-30.endive`): a promotion code names its coupon
//! in `promotion.coupon`, a discount in `source.coupon`. `applies_to` on a coupon is shown only
//! with `expand[]=applies_to`, as on Stripe.

use serde_json::{Value, json};

use super::api::{Routed, expand_of, list_simple, merge_metadata, previous, valid_currency};
use super::error::{ApiError, ApiResult};
use super::form::{P, Params, check};
use super::objects::format_amount;
use super::store::{Ctx, new_id, random_token};

/// Why a coupon or promotion code cannot be used; the hosted page shows [`Refusal::message`].
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// Unknown code (or one restricted to another customer).
    Invalid,
    /// Deactivated promotion code, or deleted coupon.
    Inactive,
    /// `expires_at` (promotion code) or `redeem_by` (coupon) has passed.
    Expired,
    /// `max_redemptions` reached on the promotion code or its coupon.
    UsedUp,
    /// An amount-off coupon or a minimum amount in another currency.
    Currency(String),
    /// `restrictions.minimum_amount` not met: (amount, currency).
    Minimum(i64, String),
    /// `restrictions.first_time_transaction` and the customer has paid before.
    FirstTime,
    /// `applies_to.products` matches no line of the session.
    NotApplicable,
}

impl Refusal {
    /// What the hosted Checkout page says.
    pub fn message(&self) -> String {
        match self {
            Refusal::Invalid => "This code is invalid.".into(),
            Refusal::Inactive => "This code is no longer active.".into(),
            Refusal::Expired => "This code has expired.".into(),
            Refusal::UsedUp => "This code has reached its redemption limit.".into(),
            Refusal::Currency(c) => format!(
                "This code is not valid for purchases in {}.",
                c.to_uppercase()
            ),
            Refusal::Minimum(amount, cur) => format!(
                "This code requires a minimum order of {}.",
                format_amount(*amount, cur)
            ),
            Refusal::FirstTime => "This code is only valid for first-time customers.".into(),
            Refusal::NotApplicable => "This code does not apply to any item in your order.".into(),
        }
    }

    /// The API's 400 for the same refusal (`discounts[0][…]` on session create).
    pub fn api_error(&self, param: &str, what: &str) -> ApiError {
        let msg = match self {
            Refusal::Invalid => format!("This {what} is invalid."),
            Refusal::Inactive => format!("This {what} is not active."),
            Refusal::Expired => format!("This {what} has expired."),
            Refusal::UsedUp => {
                format!("This {what} has reached its maximum number of redemptions.")
            }
            Refusal::Currency(c) => format!(
                "This {what} cannot be used with a Checkout Session in {}.",
                c.to_uppercase()
            ),
            Refusal::Minimum(amount, cur) => format!(
                "This {what} requires a minimum amount of {} ({amount} {cur}).",
                format_amount(*amount, cur)
            ),
            Refusal::FirstTime => format!(
                "This {what} cannot be redeemed because the associated customer has prior transactions."
            ),
            Refusal::NotApplicable => {
                format!("This {what} does not apply to any of the line items.")
            }
        };
        let e = ApiError::param(param, msg);
        match self {
            Refusal::Expired => e.code("coupon_expired"),
            _ => e,
        }
    }
}

/// What a redemption is checked against.
pub struct Purchase<'a> {
    pub currency: &'a str,
    /// Before discounts and taxes.
    pub subtotal: i64,
    pub products: Vec<String>,
    pub customer: Option<String>,
    pub email: Option<String>,
}

/// The coupon's own limits (time, redemptions, currency, products).
pub fn check_coupon(now: i64, coupon: &Value, p: &Purchase) -> Result<(), Refusal> {
    if coupon["deleted"] == true {
        return Err(Refusal::Inactive);
    }
    if coupon["redeem_by"].as_i64().is_some_and(|t| t <= now) {
        return Err(Refusal::Expired);
    }
    if used_up(coupon) {
        return Err(Refusal::UsedUp);
    }
    if let Some(c) = coupon["currency"].as_str() {
        if coupon["amount_off"].is_i64() && c != p.currency {
            return Err(Refusal::Currency(p.currency.to_string()));
        }
    }
    let only = applies_to(coupon);
    if !only.is_empty() && !p.products.iter().any(|x| only.contains(x)) {
        return Err(Refusal::NotApplicable);
    }
    Ok(())
}

/// A promotion code's limits on top of its coupon's; returns the coupon.
pub fn check_promotion_code(
    ctx: &mut Ctx,
    promo: &Value,
    p: &Purchase,
) -> ApiResult<Result<Value, Refusal>> {
    let coupon_id = promo["promotion"]["coupon"].as_str().unwrap_or_default();
    let Some(coupon) = ctx.get(coupon_id)? else {
        return Ok(Err(Refusal::Invalid));
    };
    if let Some(c) = promo["customer"].as_str() {
        if p.customer.as_deref() != Some(c) {
            return Ok(Err(Refusal::Invalid));
        }
    }
    // The code's own switch; the coupon's validity is checked below, reason by reason.
    if promo["_active"] == false {
        return Ok(Err(Refusal::Inactive));
    }
    if promo["expires_at"].as_i64().is_some_and(|t| t <= ctx.now) {
        return Ok(Err(Refusal::Expired));
    }
    if used_up(promo) {
        return Ok(Err(Refusal::UsedUp));
    }
    if let Err(r) = check_coupon(ctx.now, &coupon, p) {
        return Ok(Err(r));
    }
    let r = &promo["restrictions"];
    if let Some(min) = r["minimum_amount"].as_i64() {
        let cur = r["minimum_amount_currency"].as_str().unwrap_or(p.currency);
        if cur != p.currency {
            return Ok(Err(Refusal::Currency(p.currency.to_string())));
        }
        if p.subtotal < min {
            return Ok(Err(Refusal::Minimum(min, cur.to_string())));
        }
    }
    if r["first_time_transaction"] == true
        && paid_before(ctx, p.customer.as_deref(), p.email.as_deref())?
    {
        return Ok(Err(Refusal::FirstTime));
    }
    Ok(Ok(coupon))
}

/// The promotion code a shopper typed (case-insensitive): an active one if any.
pub fn find_code(ctx: &mut Ctx, code: &str) -> ApiResult<Result<Value, Refusal>> {
    let code = code.trim();
    if code.is_empty() {
        return Ok(Err(Refusal::Invalid));
    }
    let matches: Vec<Value> = ctx
        .all("promotion_code")?
        .into_iter()
        .filter(|p| {
            p["code"]
                .as_str()
                .is_some_and(|c| c.eq_ignore_ascii_case(code))
        })
        .collect();
    if let Some(active) = matches.iter().find(|p| p["_active"] != false) {
        return Ok(Ok(active.clone()));
    }
    Ok(match matches.into_iter().next() {
        Some(p) => Ok(p),
        None => Err(Refusal::Invalid),
    })
}

fn used_up(obj: &Value) -> bool {
    match obj["max_redemptions"].as_i64() {
        Some(max) => obj["times_redeemed"].as_i64().unwrap_or(0) >= max,
        None => false,
    }
}

/// `applies_to.products` (empty: every product).
pub fn applies_to(coupon: &Value) -> Vec<String> {
    coupon["_applies_to"]["products"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Has this customer (or e-mail address) paid before: a paid Checkout Session or invoice?
pub fn paid_before(ctx: &mut Ctx, customer: Option<&str>, email: Option<&str>) -> ApiResult<bool> {
    if customer.is_none() && email.is_none() {
        return Ok(false);
    }
    let email_matches =
        |v: &Value| email.is_some_and(|e| v.as_str().is_some_and(|x| x.eq_ignore_ascii_case(e)));
    for s in ctx.all("checkout.session")? {
        if s["status"] == "complete"
            && s["payment_status"] == "paid"
            && ((customer.is_some() && s["customer"].as_str() == customer)
                || email_matches(&s["customer_details"]["email"]))
        {
            return Ok(true);
        }
    }
    if let Some(c) = customer {
        for inv in ctx.all("invoice")? {
            if inv["customer"] == c
                && inv["status"] == "paid"
                && inv["amount_paid"].as_i64().unwrap_or(0) > 0
            {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Count a redemption (on completion of the session that used it).
pub fn redeem(ctx: &mut Ctx, coupon_id: &str, promo_id: Option<&str>) -> ApiResult<()> {
    for id in std::iter::once(coupon_id).chain(promo_id) {
        if let Some(mut o) = ctx.get(id)? {
            o["times_redeemed"] = json!(o["times_redeemed"].as_i64().unwrap_or(0) + 1);
            ctx.put(&o)?;
        }
    }
    Ok(())
}

/// A discount object (`di_…`) for a coupon, optionally from a promotion code.
pub fn new_discount(
    now: i64,
    coupon_id: &str,
    promo_id: Option<&str>,
    session: Option<&str>,
    customer: Value,
) -> Value {
    json!({
        "id": new_id("di_"),
        "object": "discount",
        "checkout_session": session,
        "customer": customer,
        "customer_account": null,
        "end": null,
        "invoice": null,
        "invoice_item": null,
        "promotion_code": promo_id,
        "source": { "coupon": coupon_id, "type": "coupon" },
        "start": now,
        "subscription": null,
        "subscription_item": null,
    })
}

/// Fields that depend on the time and on redemptions, refreshed whenever a coupon or promotion
/// code is shown.
pub fn refresh(ctx: &mut Ctx, obj: &mut Value) -> ApiResult<()> {
    if obj.get("created").is_none() {
        // `{id, object, deleted}` answers.
        return Ok(());
    }
    match obj["object"].as_str() {
        Some("coupon") => {
            obj["valid"] = json!(
                obj["deleted"] != true
                    && !used_up(obj)
                    && obj["redeem_by"].as_i64().is_none_or(|t| t > ctx.now)
            );
        }
        Some("promotion_code") => {
            let coupon_id = obj["promotion"]["coupon"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let coupon_valid = match ctx.get(&coupon_id)? {
                Some(mut c) => {
                    refresh(ctx, &mut c)?;
                    c["valid"] == true
                }
                None => false,
            };
            obj["active"] = json!(obj["_active"] != false && coupon_valid);
        }
        _ => {}
    }
    Ok(())
}

const COUPON_PARAMS: &[(&str, P)] = &[
    ("id", P::Str),
    ("name", P::Str),
    ("percent_off", P::Num),
    ("amount_off", P::Int),
    ("currency", P::Str),
    ("duration", P::Enum(&["forever", "once", "repeating"])),
    ("duration_in_months", P::Int),
    ("max_redemptions", P::Int),
    ("redeem_by", P::Int),
    ("applies_to", P::Obj(&[("products", P::Arr(&P::Str))])),
    ("metadata", P::Meta),
    ("expand", P::Arr(&P::Str)),
];

const PROMO_PARAMS: &[(&str, P)] = &[
    ("code", P::Str),
    // API versions before the promotion/coupon split send `coupon`; newer ones `promotion`.
    ("coupon", P::Str),
    (
        "promotion",
        P::Obj(&[("type", P::Enum(&["coupon"])), ("coupon", P::Str)]),
    ),
    ("active", P::Bool),
    ("customer", P::Str),
    ("expires_at", P::Int),
    ("max_redemptions", P::Int),
    (
        "restrictions",
        P::Obj(&[
            ("first_time_transaction", P::Bool),
            ("minimum_amount", P::Int),
            ("minimum_amount_currency", P::Str),
        ]),
    ),
    ("metadata", P::Meta),
    ("expand", P::Arr(&P::Str)),
];

/// `/v1/coupons…` and `/v1/promotion_codes…`; `None` for other paths.
pub fn route(ctx: &mut Ctx, method: &str, segs: &[&str], raw: &Value) -> ApiResult<Option<Routed>> {
    let (mut obj, expand) = match (method, segs) {
        ("POST", ["coupons"]) => create_coupon(ctx, raw)?,
        ("GET", ["coupons"]) => list_simple(ctx, raw, "coupon", "/v1/coupons", &[])?,
        ("GET", ["coupons", id]) => {
            let p = check(&P::Obj(&[("expand", P::Arr(&P::Str))]), raw, "")?;
            (ctx.fetch("coupon", id)?, expand_of(&p))
        }
        ("POST", ["coupons", id]) => update_coupon(ctx, raw, id)?,
        ("DELETE", ["coupons", id]) => {
            let mut c = ctx.fetch("coupon", id)?;
            c["deleted"] = json!(true);
            ctx.put(&c)?;
            refresh(ctx, &mut c)?;
            ctx.emit("coupon.deleted", &c, None)?;
            (
                json!({ "id": id, "object": "coupon", "deleted": true }),
                vec![],
            )
        }
        ("POST", ["promotion_codes"]) => create_promotion_code(ctx, raw)?,
        ("GET", ["promotion_codes"]) => list_promotion_codes(ctx, raw)?,
        ("GET", ["promotion_codes", id]) => {
            let p = check(&P::Obj(&[("expand", P::Arr(&P::Str))]), raw, "")?;
            (ctx.fetch("promotion_code", id)?, expand_of(&p))
        }
        ("POST", ["promotion_codes", id]) => update_promotion_code(ctx, raw, id)?,
        _ => return Ok(None),
    };
    refresh(ctx, &mut obj)?;
    if let Some(items) = obj["data"].as_array_mut() {
        let mut fresh = Vec::with_capacity(items.len());
        for it in items.iter() {
            let mut it = it.clone();
            refresh(ctx, &mut it)?;
            fresh.push(it);
        }
        *items = fresh;
    }
    Ok(Some((obj, expand)))
}

fn create_coupon(ctx: &mut Ctx, raw: &Value) -> ApiResult<Routed> {
    let p = check(&P::Obj(COUPON_PARAMS), raw, "")?;
    let (percent_off, amount_off) = (p.f("percent_off"), p.i("amount_off"));
    match (percent_off, amount_off) {
        (Some(_), Some(_)) => {
            return Err(ApiError::param(
                "amount_off",
                "You may only specify one of these parameters: amount_off, percent_off.",
            ));
        }
        (None, None) => {
            return Err(ApiError::param(
                "percent_off",
                "You must provide either `percent_off` or `amount_off`.",
            )
            .code("parameter_missing"));
        }
        _ => {}
    }
    if let Some(pct) = percent_off {
        if !(pct > 0.0 && pct <= 100.0) {
            return Err(ApiError::param(
                "percent_off",
                "Invalid percent_off: must be greater than 0 and less than or equal to 100.",
            ));
        }
    }
    let currency = match (amount_off, p.s("currency")) {
        (Some(a), c) => {
            if a < 1 {
                return Err(ApiError::param(
                    "amount_off",
                    "Invalid amount_off: must be a positive integer.",
                ));
            }
            let c = c.ok_or_else(|| ApiError::missing("currency"))?;
            Some(valid_currency(&c, "currency")?)
        }
        (None, Some(_)) => {
            return Err(ApiError::param(
                "currency",
                "`currency` can only be used with `amount_off`.",
            ));
        }
        (None, None) => None,
    };
    let duration = p.s("duration").unwrap_or_else(|| "once".into());
    let months = p.i("duration_in_months");
    match (duration.as_str(), months) {
        ("repeating", None) => return Err(ApiError::missing("duration_in_months")),
        ("repeating", Some(m)) if !(1..=36).contains(&m) => {
            return Err(ApiError::param(
                "duration_in_months",
                "Invalid duration_in_months: must be between 1 and 36.",
            ));
        }
        ("once" | "forever", Some(_)) => {
            return Err(ApiError::param(
                "duration_in_months",
                "`duration_in_months` can only be used when `duration` is `repeating`.",
            ));
        }
        _ => {}
    }
    if let Some(m) = p.i("max_redemptions") {
        if m < 1 {
            return Err(ApiError::param(
                "max_redemptions",
                "Invalid max_redemptions: must be a positive integer.",
            ));
        }
    }
    if let Some(t) = p.i("redeem_by") {
        if t <= ctx.now {
            return Err(ApiError::param(
                "redeem_by",
                "Invalid redeem_by: must be in the future.",
            ));
        }
    }
    if let Some(n) = p.s("name") {
        if n.chars().count() > 40 {
            return Err(ApiError::param(
                "name",
                "Invalid name: must be at most 40 characters.",
            ));
        }
    }
    let products: Vec<String> = p["applies_to"]["products"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    for (i, prod) in products.iter().enumerate() {
        ctx.fetch_param("product", prod, &format!("applies_to[products][{i}]"))?;
    }
    let id = match p.s("id") {
        Some(id) if id.is_empty() => return Err(ApiError::missing("id")),
        // Coupon ids share the emulator's id space: an id that names any object is taken.
        Some(id) if ctx.get(&id)?.is_some() => {
            return Err(
                ApiError::param("id", "Coupon already exists.").code("resource_already_exists")
            );
        }
        Some(id) => id,
        None => random_token(8),
    };
    let mut coupon = json!({
        "id": id,
        "object": "coupon",
        "amount_off": amount_off,
        "created": ctx.now,
        "currency": currency,
        "duration": duration,
        "duration_in_months": months,
        "livemode": false,
        "max_redemptions": p.i("max_redemptions"),
        "metadata": {},
        "name": p.s("name"),
        "percent_off": percent_off,
        "redeem_by": p.i("redeem_by"),
        "times_redeemed": 0,
        "valid": true,
    });
    if !products.is_empty() {
        // Shown only with `expand[]=applies_to`.
        coupon["_applies_to"] = json!({ "products": products });
    }
    merge_metadata(&mut coupon, &p);
    ctx.put(&coupon)?;
    ctx.emit("coupon.created", &coupon, None)?;
    Ok((coupon, expand_of(&p)))
}

fn update_coupon(ctx: &mut Ctx, raw: &Value, id: &str) -> ApiResult<Routed> {
    const S: &[(&str, P)] = &[
        ("name", P::Str),
        ("metadata", P::Meta),
        ("expand", P::Arr(&P::Str)),
    ];
    let p = check(&P::Obj(S), raw, "")?;
    let mut c = ctx.fetch("coupon", id)?;
    let before = c.clone();
    if let Some(n) = p.s("name") {
        if n.chars().count() > 40 {
            return Err(ApiError::param(
                "name",
                "Invalid name: must be at most 40 characters.",
            ));
        }
        c["name"] = if n.is_empty() { Value::Null } else { json!(n) };
    }
    merge_metadata(&mut c, &p);
    ctx.put(&c)?;
    ctx.emit("coupon.updated", &c, Some(previous(&before, &c)))?;
    Ok((c, expand_of(&p)))
}

fn valid_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 500
        && code
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
}

/// Another active promotion code with this code (case-insensitive)?
fn code_taken(ctx: &mut Ctx, code: &str, except: Option<&str>) -> ApiResult<bool> {
    Ok(ctx.all("promotion_code")?.into_iter().any(|p| {
        p["_active"] != false
            && p["id"].as_str() != except
            && p["code"]
                .as_str()
                .is_some_and(|c| c.eq_ignore_ascii_case(code))
    }))
}

fn create_promotion_code(ctx: &mut Ctx, raw: &Value) -> ApiResult<Routed> {
    let p = check(&P::Obj(PROMO_PARAMS), raw, "")?;
    let (coupon_id, param) = match (p.s("coupon"), p.get("promotion")) {
        (Some(_), Some(_)) => {
            return Err(ApiError::param(
                "promotion",
                "You may only specify one of these parameters: coupon, promotion.",
            ));
        }
        (Some(c), None) => (c, "coupon"),
        (None, Some(promo)) => {
            if promo.s("type").is_none() {
                return Err(ApiError::missing("promotion[type]"));
            }
            let c = promo
                .s("coupon")
                .ok_or_else(|| ApiError::missing("promotion[coupon]"))?;
            (c, "promotion[coupon]")
        }
        (None, None) => return Err(ApiError::missing("promotion")),
    };
    let coupon = ctx.fetch_param("coupon", &coupon_id, param)?;
    let code = match p.s("code") {
        Some(c) => {
            if !valid_code(&c) {
                return Err(ApiError::param(
                    "code",
                    "Invalid code: use only letters, digits, dashes and underscores (at most 500 characters).",
                ));
            }
            c
        }
        None => loop {
            let c = random_token(8).to_uppercase();
            if !code_taken(ctx, &c, None)? {
                break c;
            }
        },
    };
    let active = p.b("active").unwrap_or(true);
    if active && code_taken(ctx, &code, None)? {
        return Err(ApiError::param(
            "code",
            format!("An active promotion code with `code: {code}` already exists."),
        )
        .code("resource_already_exists"));
    }
    if let Some(c) = p.s("customer") {
        ctx.fetch_param("customer", &c, "customer")?;
    }
    if let Some(t) = p.i("expires_at") {
        if t <= ctx.now {
            return Err(ApiError::param(
                "expires_at",
                "Invalid expires_at: must be in the future.",
            ));
        }
        if coupon["redeem_by"].as_i64().is_some_and(|r| t > r) {
            return Err(ApiError::param(
                "expires_at",
                "The promotion code's `expires_at` may not be after the coupon's `redeem_by`.",
            ));
        }
    }
    if let Some(m) = p.i("max_redemptions") {
        if m < 1 {
            return Err(ApiError::param(
                "max_redemptions",
                "Invalid max_redemptions: must be a positive integer.",
            ));
        }
    }
    let r = p.get("restrictions").cloned().unwrap_or(json!({}));
    let min = r.i("minimum_amount");
    let min_cur = match (min, r.s("minimum_amount_currency")) {
        (Some(m), Some(c)) => {
            if m < 1 {
                return Err(ApiError::param(
                    "restrictions[minimum_amount]",
                    "Invalid minimum_amount: must be a positive integer.",
                ));
            }
            Some(valid_currency(&c, "restrictions[minimum_amount_currency]")?)
        }
        (Some(_), None) => {
            return Err(ApiError::missing("restrictions[minimum_amount_currency]"));
        }
        (None, Some(_)) => return Err(ApiError::missing("restrictions[minimum_amount]")),
        (None, None) => None,
    };
    let mut promo = json!({
        "id": new_id("promo_"),
        "object": "promotion_code",
        "active": active,
        "_active": active,
        "code": code,
        "created": ctx.now,
        "customer": p.s("customer"),
        "customer_account": null,
        "expires_at": p.i("expires_at"),
        "livemode": false,
        "max_redemptions": p.i("max_redemptions"),
        "metadata": {},
        "promotion": { "coupon": coupon_id, "type": "coupon" },
        "restrictions": {
            "first_time_transaction": r.b("first_time_transaction").unwrap_or(false),
            "minimum_amount": min,
            "minimum_amount_currency": min_cur,
        },
        "times_redeemed": 0,
    });
    merge_metadata(&mut promo, &p);
    refresh(ctx, &mut promo)?;
    ctx.put(&promo)?;
    ctx.emit("promotion_code.created", &promo, None)?;
    Ok((promo, expand_of(&p)))
}

fn update_promotion_code(ctx: &mut Ctx, raw: &Value, id: &str) -> ApiResult<Routed> {
    const S: &[(&str, P)] = &[
        ("active", P::Bool),
        ("metadata", P::Meta),
        ("expand", P::Arr(&P::Str)),
    ];
    let p = check(&P::Obj(S), raw, "")?;
    let mut promo = ctx.fetch("promotion_code", id)?;
    refresh(ctx, &mut promo)?;
    let before = promo.clone();
    if let Some(a) = p.b("active") {
        let code = promo["code"].as_str().unwrap_or_default().to_string();
        if a && promo["_active"] == false && code_taken(ctx, &code, Some(id))? {
            return Err(ApiError::param(
                "active",
                format!("An active promotion code with `code: {code}` already exists."),
            ));
        }
        promo["_active"] = json!(a);
    }
    merge_metadata(&mut promo, &p);
    refresh(ctx, &mut promo)?;
    ctx.put(&promo)?;
    ctx.emit(
        "promotion_code.updated",
        &promo,
        Some(previous(&before, &promo)),
    )?;
    Ok((promo, expand_of(&p)))
}

fn list_promotion_codes(ctx: &mut Ctx, raw: &Value) -> ApiResult<Routed> {
    const S: &[(&str, P)] = &[
        ("limit", P::Int),
        ("starting_after", P::Str),
        ("ending_before", P::Str),
        ("created", P::Range),
        ("expand", P::Arr(&P::Str)),
        ("active", P::Bool),
        ("code", P::Str),
        ("coupon", P::Str),
        ("customer", P::Str),
    ];
    let p = check(&P::Obj(S), raw, "")?;
    let mut items = Vec::new();
    for mut promo in ctx.all("promotion_code")? {
        refresh(ctx, &mut promo)?;
        items.push(promo);
    }
    if let Some(a) = p.b("active") {
        items.retain(|x| x["active"] == a);
    }
    if let Some(c) = p.s("code") {
        items.retain(|x| {
            x["code"]
                .as_str()
                .is_some_and(|code| code.eq_ignore_ascii_case(&c))
        });
    }
    if let Some(c) = p.s("coupon") {
        items.retain(|x| x["promotion"]["coupon"] == c.as_str());
    }
    if let Some(c) = p.s("customer") {
        items.retain(|x| x["customer"] == c.as_str());
    }
    Ok((
        super::api::paginate(ctx, items, &p, "/v1/promotion_codes", "promotion_code")?,
        expand_of(&p),
    ))
}
