//! Shipping: shipping rates (`/v1/shipping_rates`) and what a Checkout Session offers and
//! records — the countries it ships to (`shipping_address_collection`), its options
//! (`shipping_options`, the first pre-selected), and the phone number field.
//!
//! A session keeps a snapshot of its rates (`_shipping_rates`) and the chosen one
//! (`_shipping_rate`); [`super::totals::price_session`] turns the choice into `shipping_cost`.
//! Shipping rates emit no events (Stripe has none for them).

use serde_json::{Value, json};

use super::api::{Routed, check_tax_code, expand_of, merge_metadata, paginate, valid_currency};
use super::error::{ApiError, ApiResult};
use super::form::{P, Params, check};
use super::objects::format_amount;
use super::store::{Ctx, new_id};

/// Countries Stripe accepts in `shipping_address_collection[allowed_countries]` (ISO 3166-1
/// alpha-2, from the OpenAPI reference; Stripe leaves out AS, CX, CC, CU, HM, IR, KP, MH, FM,
/// NF, MP, PW, SY, UM and VI, and adds `ZZ` for "unknown").
pub const ALLOWED_COUNTRIES: &[&str] = &[
    "AC", "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN", "CO",
    "CR", "CV", "CW", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE", "EG", "EH", "ER",
    "ES", "ET", "FI", "FJ", "FK", "FO", "FR", "GA", "GB", "GD", "GE", "GF", "GG", "GH", "GI", "GL",
    "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HN", "HR", "HT", "HU", "ID",
    "IE", "IL", "IM", "IN", "IO", "IQ", "IS", "IT", "JE", "JM", "JO", "JP", "KE", "KG", "KH", "KI",
    "KM", "KN", "KR", "KW", "KY", "KZ", "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT", "LU", "LV",
    "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MK", "ML", "MM", "MN", "MO", "MQ", "MR", "MS", "MT",
    "MU", "MV", "MW", "MX", "MY", "MZ", "NA", "NC", "NE", "NG", "NI", "NL", "NO", "NP", "NR", "NU",
    "NZ", "OM", "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PY", "QA",
    "RE", "RO", "RS", "RU", "RW", "SA", "SB", "SC", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM",
    "SN", "SO", "SR", "SS", "ST", "SV", "SX", "SZ", "TA", "TC", "TD", "TF", "TG", "TH", "TJ", "TK",
    "TL", "TM", "TN", "TO", "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "US", "UY", "UZ", "VA", "VC",
    "VE", "VG", "VN", "VU", "WF", "WS", "XK", "YE", "YT", "ZA", "ZM", "ZW", "ZZ",
];

/// Most shipping options a session may offer.
pub const MAX_OPTIONS: usize = 5;

const UNITS: &[&str] = &["business_day", "day", "hour", "month", "week"];
const TAX_BEHAVIOR: P = P::Enum(&["exclusive", "inclusive", "unspecified"]);
const BOUND: P = P::Obj(&[("unit", P::Enum(UNITS)), ("value", P::Int)]);

/// `POST /v1/shipping_rates` and `shipping_options[N][shipping_rate_data]`.
pub const RATE_DATA: &[(&str, P)] = &[
    ("display_name", P::Str),
    ("type", P::Enum(&["fixed_amount"])),
    (
        "fixed_amount",
        P::Obj(&[("amount", P::Int), ("currency", P::Str)]),
    ),
    (
        "delivery_estimate",
        P::Obj(&[("minimum", BOUND), ("maximum", BOUND)]),
    ),
    ("tax_behavior", TAX_BEHAVIOR),
    ("tax_code", P::Str),
    ("metadata", P::Meta),
];

/// A bound's length in hours, to compare a minimum with a maximum in another unit.
fn hours(bound: &Value) -> i64 {
    let per = match bound["unit"].as_str().unwrap_or_default() {
        "hour" => 1,
        "day" | "business_day" => 24,
        "week" => 7 * 24,
        _ => 30 * 24,
    };
    bound["value"].as_i64().unwrap_or(0).saturating_mul(per)
}

/// Build a shipping rate from checked `shipping_rate_data`-like parameters (not stored).
/// `prefix` names the parameters in errors (`shipping_options[0][shipping_rate_data]`).
pub fn make_rate(ctx: &Ctx, p: &Value, prefix: &str) -> ApiResult<Value> {
    let name = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}[{k}]")
        }
    };
    let display = p
        .s("display_name")
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::missing(&name("display_name")))?;
    if display.chars().count() > 100 {
        return Err(ApiError::param(
            name("display_name"),
            "display_name must be at most 100 characters.",
        ));
    }
    let fixed = name("fixed_amount");
    let fa = p
        .get("fixed_amount")
        .filter(|v| v.is_object())
        .ok_or_else(|| ApiError::missing(&fixed))?;
    let amount = fa
        .i("amount")
        .ok_or_else(|| ApiError::missing(&format!("{fixed}[amount]")))?;
    if !(0..=99_999_999).contains(&amount) {
        return Err(ApiError::param(
            format!("{fixed}[amount]"),
            "Invalid integer: amount must be between 0 and 99999999.",
        )
        .code("parameter_invalid_integer"));
    }
    let currency = valid_currency(
        &fa.s("currency")
            .ok_or_else(|| ApiError::missing(&format!("{fixed}[currency]")))?,
        &format!("{fixed}[currency]"),
    )?;
    let estimate = match p.get("delivery_estimate").filter(|v| v.is_object()) {
        None => Value::Null,
        Some(d) => {
            let mut out = json!({ "maximum": null, "minimum": null });
            for key in ["minimum", "maximum"] {
                let Some(b) = d.get(key).filter(|v| v.is_object()) else {
                    continue;
                };
                let at = format!("{}[{key}]", name("delivery_estimate"));
                let unit = b
                    .s("unit")
                    .ok_or_else(|| ApiError::missing(&format!("{at}[unit]")))?;
                let value = b
                    .i("value")
                    .ok_or_else(|| ApiError::missing(&format!("{at}[value]")))?;
                if !(1..=1000).contains(&value) {
                    return Err(ApiError::param(
                        format!("{at}[value]"),
                        "A delivery estimate's value must be between 1 and 1000.",
                    ));
                }
                out[key] = json!({ "unit": unit, "value": value });
            }
            if out["minimum"].is_object()
                && out["maximum"].is_object()
                && hours(&out["minimum"]) > hours(&out["maximum"])
            {
                return Err(ApiError::param(
                    format!("{}[minimum]", name("delivery_estimate")),
                    "The delivery estimate's minimum must not be greater than its maximum.",
                ));
            }
            out
        }
    };
    check_tax_code(p, &name("tax_code"))?;
    let mut rate = json!({
        "id": new_id("shr_"),
        "object": "shipping_rate",
        "active": true,
        "created": ctx.now,
        "delivery_estimate": estimate,
        "display_name": display,
        "fixed_amount": { "amount": amount, "currency": currency },
        "livemode": false,
        "metadata": {},
        "tax_behavior": p.s("tax_behavior").unwrap_or_else(|| "unspecified".into()),
        "tax_code": p.get("tax_code").cloned().unwrap_or(Value::Null),
        "type": "fixed_amount",
    });
    merge_metadata(&mut rate, p);
    Ok(rate)
}

/// Split `expand` off a body so the rest can be checked against [`RATE_DATA`].
fn without_expand(raw: &Value) -> ApiResult<(Value, Vec<String>)> {
    let mut rest = raw.clone();
    let expand = match rest.as_object_mut().and_then(|m| m.remove("expand")) {
        Some(e) => check(&P::Arr(&P::Str), &e, "expand")?,
        None => Value::Null,
    };
    Ok((rest, expand_of(&json!({ "expand": expand }))))
}

fn create_rate(ctx: &mut Ctx, raw: &Value) -> ApiResult<Routed> {
    let (rest, expand) = without_expand(raw)?;
    let p = check(&P::Obj(RATE_DATA), &rest, "")?;
    let rate = make_rate(ctx, &p, "")?;
    ctx.put(&rate)?;
    Ok((rate, expand))
}

fn update_rate(ctx: &mut Ctx, raw: &Value, id: &str) -> ApiResult<Routed> {
    const S: &[(&str, P)] = &[
        ("active", P::Bool),
        ("metadata", P::Meta),
        ("tax_behavior", TAX_BEHAVIOR),
        ("expand", P::Arr(&P::Str)),
    ];
    let p = check(&P::Obj(S), raw, "")?;
    let mut rate = ctx.fetch("shipping_rate", id)?;
    if let Some(tb) = p.s("tax_behavior") {
        let current = rate["tax_behavior"].as_str().unwrap_or("unspecified");
        if current != "unspecified" && current != tb {
            return Err(ApiError::param(
                "tax_behavior",
                format!(
                    "The tax_behavior of a shipping rate cannot be changed once it is set to `inclusive` or `exclusive` (this shipping rate's is `{current}`). Create a new shipping rate instead."
                ),
            ));
        }
        rate["tax_behavior"] = json!(tb);
    }
    if let Some(a) = p.get("active") {
        rate["active"] = a.clone();
    }
    merge_metadata(&mut rate, &p);
    ctx.put(&rate)?;
    Ok((rate, expand_of(&p)))
}

fn list_rates(ctx: &mut Ctx, raw: &Value) -> ApiResult<Routed> {
    const S: &[(&str, P)] = &[
        ("limit", P::Int),
        ("starting_after", P::Str),
        ("ending_before", P::Str),
        ("created", P::Range),
        ("expand", P::Arr(&P::Str)),
        ("active", P::Bool),
        ("currency", P::Str),
    ];
    let p = check(&P::Obj(S), raw, "")?;
    let mut items = ctx.all("shipping_rate")?;
    if let Some(a) = p.b("active") {
        items.retain(|r| r["active"] == a);
    }
    if let Some(c) = p.s("currency") {
        let c = c.to_ascii_lowercase();
        items.retain(|r| r["fixed_amount"]["currency"] == c.as_str());
    }
    Ok((
        paginate(ctx, items, &p, "/v1/shipping_rates", "shipping_rate")?,
        expand_of(&p),
    ))
}

pub fn route(ctx: &mut Ctx, method: &str, segs: &[&str], raw: &Value) -> ApiResult<Option<Routed>> {
    Ok(Some(match (method, segs) {
        ("POST", ["shipping_rates"]) => create_rate(ctx, raw)?,
        ("GET", ["shipping_rates"]) => list_rates(ctx, raw)?,
        ("GET", ["shipping_rates", id]) => {
            let p = check(&P::Obj(&[("expand", P::Arr(&P::Str))]), raw, "")?;
            (ctx.fetch("shipping_rate", id)?, expand_of(&p))
        }
        ("POST", ["shipping_rates", id]) => update_rate(ctx, raw, id)?,
        _ => return Ok(None),
    }))
}

/// Shipping options exist only in `payment` mode (checked before anything else about the mode,
/// with Stripe's wording).
pub fn check_mode(p: &Value, mode: &str) -> ApiResult<()> {
    let offered = p["shipping_options"]
        .as_array()
        .is_some_and(|a| !a.is_empty());
    if offered && mode != "payment" {
        return Err(ApiError::param(
            "shipping_options",
            "`shipping_options` can only be used in payment mode.",
        ));
    }
    Ok(())
}

/// `shipping_address_collection`, `shipping_options` and `phone_number_collection` of a new
/// session whose currency is known. Inline `shipping_rate_data` creates (and stores) a rate.
pub fn session_settings(ctx: &mut Ctx, s: &mut Value, p: &Value) -> ApiResult<()> {
    if let Some(sac) = p
        .get("shipping_address_collection")
        .filter(|v| !v.is_null())
    {
        let param = "shipping_address_collection[allowed_countries]";
        let given = sac["allowed_countries"]
            .as_array()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| ApiError::missing(param))?;
        let mut countries: Vec<Value> = Vec::with_capacity(given.len());
        for c in given {
            if !countries.contains(c) {
                countries.push(c.clone());
            }
        }
        s["shipping_address_collection"] = json!({ "allowed_countries": countries });
    }
    if let Some(pnc) = p.get("phone_number_collection").filter(|v| !v.is_null()) {
        let enabled = pnc
            .b("enabled")
            .ok_or_else(|| ApiError::missing("phone_number_collection[enabled]"))?;
        s["phone_number_collection"] = json!({ "enabled": enabled });
    }
    let options = p["shipping_options"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if options.is_empty() {
        return Ok(());
    }
    if options.len() > MAX_OPTIONS {
        return Err(ApiError::param(
            "shipping_options",
            format!("You may only specify up to {MAX_OPTIONS} shipping options."),
        ));
    }
    let currency = s["currency"].as_str().unwrap_or("usd").to_string();
    let mut shown = Vec::with_capacity(options.len());
    let mut rates = Vec::with_capacity(options.len());
    for (i, o) in options.iter().enumerate() {
        let prefix = format!("shipping_options[{i}]");
        let data = o.get("shipping_rate_data").filter(|v| !v.is_null());
        let (rate, currency_param) = match (o.s("shipping_rate"), data) {
            (Some(_), Some(_)) => {
                return Err(ApiError::param(
                    format!("{prefix}[shipping_rate_data]"),
                    "You may only specify one of these parameters: shipping_rate, shipping_rate_data.",
                ));
            }
            (Some(id), None) => {
                let param = format!("{prefix}[shipping_rate]");
                let rate = ctx.fetch_param("shipping_rate", &id, &param)?;
                if rate["active"] != true {
                    return Err(ApiError::param(
                        param,
                        format!(
                            "The shipping rate specified ({id}) is inactive. This field only accepts active shipping rates."
                        ),
                    ));
                }
                (rate, param)
            }
            (None, Some(d)) => {
                let at = format!("{prefix}[shipping_rate_data]");
                let rate = make_rate(ctx, d, &at)?;
                (rate, format!("{at}[fixed_amount][currency]"))
            }
            (None, None) => {
                return Err(ApiError::param(
                    format!("{prefix}[shipping_rate]"),
                    "You must specify either `shipping_rate` or `shipping_rate_data` in each shipping option.",
                ));
            }
        };
        let rate_currency = rate["fixed_amount"]["currency"]
            .as_str()
            .unwrap_or_default();
        if rate_currency != currency {
            return Err(ApiError::param(
                currency_param,
                format!(
                    "The shipping rate's currency ({rate_currency}) must match the Checkout Session's currency ({currency})."
                ),
            ));
        }
        if rates.iter().any(|r: &Value| r["id"] == rate["id"]) {
            return Err(ApiError::param(
                format!("{prefix}[shipping_rate]"),
                "Each shipping option must use a different shipping rate.",
            ));
        }
        if data.is_some() {
            ctx.put(&rate)?;
        }
        shown.push(json!({
            "shipping_amount": rate["fixed_amount"]["amount"],
            "shipping_rate": rate["id"],
        }));
        rates.push(rate);
    }
    s["shipping_options"] = json!(shown);
    // Stripe pre-selects the first option.
    s["_shipping_rate"] = rates[0]["id"].clone();
    s["_shipping_rates"] = json!(rates);
    Ok(())
}

/// The session's snapshot of a rate it offers.
pub fn offered<'a>(s: &'a Value, id: &str) -> Option<&'a Value> {
    s["_shipping_rates"]
        .as_array()?
        .iter()
        .find(|r| r["id"] == id)
}

fn unit_label(unit: &str, n: i64) -> String {
    let one = match unit {
        "business_day" => "business day",
        other => other,
    };
    if n == 1 {
        one.to_string()
    } else {
        format!("{one}s")
    }
}

/// "3–5 business days", "1 day", "At least 2 weeks", "Up to 10 days", "12 hours – 2 days".
pub fn estimate_label(e: &Value) -> Option<String> {
    let bound = |b: &Value| {
        b["unit"]
            .as_str()
            .map(|u| (u.to_string(), b["value"].as_i64().unwrap_or(0)))
    };
    match (bound(&e["minimum"]), bound(&e["maximum"])) {
        (Some((u1, a)), Some((u2, b))) if u1 == u2 && a == b => {
            Some(format!("{a} {}", unit_label(&u1, a)))
        }
        (Some((u1, a)), Some((u2, b))) if u1 == u2 => {
            Some(format!("{a}–{b} {}", unit_label(&u2, b)))
        }
        (Some((u1, a)), Some((u2, b))) => Some(format!(
            "{a} {} – {b} {}",
            unit_label(&u1, a),
            unit_label(&u2, b)
        )),
        (Some((u, a)), None) => Some(format!("At least {a} {}", unit_label(&u, a))),
        (None, Some((u, b))) => Some(format!("Up to {b} {}", unit_label(&u, b))),
        (None, None) => None,
    }
}

/// "$5.00", or "Free" for a rate of 0.
pub fn amount_label(amount: i64, currency: &str) -> String {
    if amount == 0 {
        "Free".into()
    } else {
        format_amount(amount, currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_read_like_stripes() {
        let e = |min: Option<(&str, i64)>, max: Option<(&str, i64)>| {
            let b = |x: Option<(&str, i64)>| match x {
                Some((u, v)) => json!({ "unit": u, "value": v }),
                None => Value::Null,
            };
            estimate_label(&json!({ "minimum": b(min), "maximum": b(max) }))
        };
        assert_eq!(
            e(Some(("business_day", 3)), Some(("business_day", 5))).as_deref(),
            Some("3–5 business days")
        );
        assert_eq!(
            e(Some(("day", 1)), Some(("day", 1))).as_deref(),
            Some("1 day")
        );
        assert_eq!(
            e(Some(("hour", 12)), Some(("day", 2))).as_deref(),
            Some("12 hours – 2 days")
        );
        assert_eq!(
            e(Some(("week", 2)), None).as_deref(),
            Some("At least 2 weeks")
        );
        assert_eq!(
            e(None, Some(("month", 1))).as_deref(),
            Some("Up to 1 month")
        );
        assert_eq!(e(None, None), None);
        assert_eq!(amount_label(0, "usd"), "Free");
        assert_eq!(amount_label(500, "usd"), "$5.00");
    }
}
