//! Discounts and automatic tax: one engine for Checkout Sessions and invoices.
//!
//! * Percent-off coupons discount each eligible line by `round(amount × percent)`; amount-off
//!   coupons are spread over the eligible lines in proportion to their amounts (largest
//!   remainder, so the line discounts add up exactly). A discount never exceeds what it applies to.
//! * Tax comes from a fixed rate table ([`jurisdiction`]): exclusive prices get
//!   `round(net × rate)` added, inclusive prices contain `net − net / (1 + rate)`, where `net`
//!   is the line amount after its discount; rounding is half-up per line.
//! * Shipping (a session's chosen rate) is never discounted and is taxed like a line at the
//!   same place, by the rate's own `tax_behavior`. The place is the shipping address when one
//!   is known, else the billing address ([`tax_address`]), as Stripe Tax chooses.

use serde_json::{Value, json};

use super::error::ApiResult;
use super::store::{Ctx, new_id, public};

/// The Nontaxable product tax code: such lines are never taxed.
pub const NONTAXABLE: &str = "txcd_00000000";

/// A coupon's terms.
#[derive(Debug, Clone)]
pub struct Terms {
    /// Percent in millionths (12.5 % → 12_500_000).
    pub percent_micros: Option<i64>,
    pub amount_off: Option<i64>,
    /// Empty: every product.
    pub products: Vec<String>,
}

impl Terms {
    pub fn of_coupon(coupon: &Value) -> Terms {
        Terms {
            percent_micros: coupon["percent_off"]
                .as_f64()
                .map(|p| (p * 1_000_000.0).round() as i64),
            amount_off: coupon["amount_off"].as_i64(),
            products: super::coupons::applies_to(coupon),
        }
    }

    fn eligible(&self, product: &str) -> bool {
        self.products.is_empty() || self.products.iter().any(|p| p == product)
    }
}

/// One line to price.
#[derive(Debug, Clone)]
pub struct LineIn {
    /// Before discounts (tax included for inclusive prices).
    pub amount: i64,
    pub product: String,
    pub inclusive: bool,
    pub exempt: bool,
}

/// A priced line.
#[derive(Debug, Clone, Default)]
pub struct LineOut {
    /// `None`: the discount does not apply to this line.
    pub discount: Option<i64>,
    pub tax: i64,
    pub taxable: i64,
}

/// A place with a tax rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Jurisdiction {
    pub country: String,
    pub state: Option<String>,
    /// Basis points (7.25 % → 725).
    pub bp: i64,
    pub display_name: &'static str,
    pub tax_type: Option<&'static str>,
    pub label: String,
    pub level: &'static str,
}

/// The emulator's deterministic rate table: US-CA 7.25 %, DE 19 %, GB 20 %, anywhere else 0 %.
pub fn jurisdiction(country: &str, state: Option<&str>) -> Jurisdiction {
    let country = country.to_ascii_uppercase();
    let state = state
        .map(|s| s.trim().to_ascii_uppercase())
        .filter(|s| !s.is_empty());
    match (country.as_str(), state.as_deref()) {
        ("US", Some("CA")) => Jurisdiction {
            country,
            state,
            bp: 725,
            display_name: "Sales Tax",
            tax_type: Some("sales_tax"),
            label: "CALIFORNIA".into(),
            level: "state",
        },
        ("DE", _) | ("GB", _) => Jurisdiction {
            bp: if country == "DE" { 1900 } else { 2000 },
            label: country.clone(),
            country,
            state: None,
            display_name: "VAT",
            tax_type: Some("vat"),
            level: "country",
        },
        _ => Jurisdiction {
            label: match &state {
                Some(s) if country == "US" => s.clone(),
                _ => country.clone(),
            },
            level: if country == "US" { "state" } else { "country" },
            display_name: if country == "US" { "Sales Tax" } else { "Tax" },
            country,
            state,
            bp: 0,
            tax_type: None,
        },
    }
}

/// `n / d` rounded half away from zero.
fn div_round(n: i128, d: i128) -> i64 {
    let q = (2 * n.abs() + d) / (2 * d);
    (if n < 0 { -q } else { q }) as i64
}

/// Tax on a net line amount: added on top (exclusive) or contained in it (inclusive).
pub fn tax_on(net: i64, bp: i64, inclusive: bool) -> i64 {
    let (n, bp) = (i128::from(net), i128::from(bp));
    if inclusive {
        div_round(n * bp, 10_000 + bp)
    } else {
        div_round(n * bp, 10_000)
    }
}

/// Discount per line (`None` where the coupon does not apply).
pub fn allocate(lines: &[LineIn], terms: &Terms) -> Vec<Option<i64>> {
    let eligible: Vec<bool> = lines.iter().map(|l| terms.eligible(&l.product)).collect();
    if let Some(micros) = terms.percent_micros {
        return lines
            .iter()
            .zip(&eligible)
            .map(|(l, ok)| {
                ok.then(|| {
                    let d = div_round(i128::from(l.amount) * i128::from(micros), 100 * 1_000_000);
                    if l.amount >= 0 {
                        d.min(l.amount)
                    } else {
                        d.max(l.amount)
                    }
                })
            })
            .collect();
    }
    let off = terms.amount_off.unwrap_or(0).max(0);
    let base: i128 = lines
        .iter()
        .zip(&eligible)
        .filter(|(l, ok)| **ok && l.amount > 0)
        .map(|(l, _)| i128::from(l.amount))
        .sum();
    let total = i128::from(off).min(base);
    let mut out: Vec<Option<i64>> = eligible.iter().map(|ok| ok.then_some(0)).collect();
    if total <= 0 {
        return out;
    }
    // Floor shares, then hand the leftover units to the largest remainders (earlier lines first).
    let mut given: i128 = 0;
    let mut rema: Vec<(i128, usize)> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if eligible[i] && l.amount > 0 {
            let exact = total * i128::from(l.amount);
            let share = exact / base;
            out[i] = Some(share as i64);
            given += share;
            rema.push((exact % base, i));
        }
    }
    rema.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in rema.into_iter().take((total - given) as usize) {
        out[i] = out[i].map(|d| d + 1);
    }
    out
}

/// Price every line: discounts, then tax where a jurisdiction is known.
pub fn price(
    lines: &[LineIn],
    terms: Option<&Terms>,
    place: Option<&Jurisdiction>,
) -> Vec<LineOut> {
    let discounts = match terms {
        Some(t) => allocate(lines, t),
        None => vec![None; lines.len()],
    };
    lines
        .iter()
        .zip(discounts)
        .map(|(l, d)| {
            let net = l.amount - d.unwrap_or(0);
            let (tax, taxable) = match place {
                Some(j) if !l.exempt => {
                    let t = tax_on(net, j.bp, l.inclusive);
                    (t, if l.inclusive { net - t } else { net })
                }
                Some(_) => (0, 0),
                None => (0, net),
            };
            LineOut {
                discount: d,
                tax,
                taxable,
            }
        })
        .collect()
}

pub fn taxability_reason(place: &Jurisdiction, exempt: bool) -> &'static str {
    if exempt {
        "product_exempt"
    } else if place.bp == 0 {
        "not_collecting"
    } else {
        "standard_rated"
    }
}

/// The tax rate object for a jurisdiction (created once, then reused).
pub fn tax_rate(ctx: &mut Ctx, place: &Jurisdiction, inclusive: bool) -> ApiResult<Value> {
    let key = format!(
        "{}-{}-{}",
        place.country,
        place.state.as_deref().unwrap_or(""),
        if inclusive { "inclusive" } else { "exclusive" }
    );
    if let Some(r) = ctx
        .all("tax_rate")?
        .into_iter()
        .find(|r| r["_key"] == key.as_str())
    {
        return Ok(r);
    }
    let pct = place.bp as f64 / 100.0;
    let rate = json!({
        "id": new_id("txr_"),
        "object": "tax_rate",
        "active": true,
        "country": place.country,
        "created": ctx.now,
        "description": null,
        "display_name": place.display_name,
        "effective_percentage": pct,
        "flat_amount": null,
        "inclusive": inclusive,
        "jurisdiction": place.label,
        "jurisdiction_level": place.level,
        "livemode": false,
        "metadata": {},
        "percentage": pct,
        "rate_type": "percentage",
        "state": place.state,
        "tax_type": place.tax_type,
        "_key": key,
    });
    ctx.put(&rate)?;
    Ok(rate)
}

/// The jurisdiction of a stored tax location (`{country, state, …}`), if it names a country.
pub fn place_of(address: &Value) -> Option<Jurisdiction> {
    let country = address["country"].as_str().filter(|c| c.len() == 2)?;
    Some(jurisdiction(country, address["state"].as_str()))
}

fn line_inputs(ctx: &mut Ctx, items: &[Value]) -> ApiResult<Vec<LineIn>> {
    let mut out = Vec::with_capacity(items.len());
    for li in items {
        let product = li["price"]["product"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let tax_code = ctx
            .get(&product)?
            .and_then(|p| p["tax_code"].as_str().map(str::to_string));
        out.push(LineIn {
            amount: li["amount_subtotal"].as_i64().unwrap_or(0),
            product,
            inclusive: li["price"]["tax_behavior"] == "inclusive",
            exempt: tax_code.as_deref() == Some(NONTAXABLE),
        });
    }
    Ok(out)
}

/// The address a session is taxed at: like Stripe Tax, the shipping address when one is known
/// (typed on the page, else the Customer's), else the billing address (typed on the page, or the
/// Customer's). `Null` while none is known.
pub fn tax_address(s: &Value) -> Value {
    [
        &s["_shipping"]["address"],
        &s["_customer_shipping_location"],
        &s["_tax_location"],
    ]
    .into_iter()
    .find(|a| place_of(a).is_some())
    .cloned()
    .unwrap_or(Value::Null)
}

/// Tax amounts of a session grouped by rate and taxability (for `total_details.breakdown`).
type TaxGroups = Vec<(String, Value, i64, i64, &'static str)>;

/// One `taxes[]` entry (`{amount, rate, taxability_reason, taxable_amount}`), counted in `groups`.
fn session_tax(
    ctx: &mut Ctx,
    groups: &mut TaxGroups,
    place: &Jurisdiction,
    inclusive: bool,
    exempt: bool,
    tax: i64,
    taxable: i64,
) -> ApiResult<Value> {
    let rate = public(&tax_rate(ctx, place, inclusive)?);
    let reason = taxability_reason(place, exempt);
    let rid = rate["id"].as_str().unwrap_or_default().to_string();
    match groups.iter_mut().find(|g| g.0 == rid && g.4 == reason) {
        Some(g) => {
            g.2 += tax;
            g.3 += taxable;
        }
        None => groups.push((rid, rate.clone(), tax, taxable, reason)),
    }
    Ok(
        json!({ "amount": tax, "rate": rate, "taxability_reason": reason, "taxable_amount": taxable }),
    )
}

/// Recompute a Checkout Session's amounts from its line items, its applied discount
/// (`_discount`), its chosen shipping rate (`_shipping_rate`) and, with automatic tax on, its
/// tax address ([`tax_address`]).
pub fn price_session(ctx: &mut Ctx, s: &mut Value) -> ApiResult<()> {
    let mut items = s["_line_items"].as_array().cloned().unwrap_or_default();
    let inputs = line_inputs(ctx, &items)?;
    let discount = match s["_discount"].as_str() {
        Some(id) => ctx.get(id)?,
        None => None,
    };
    let terms = match &discount {
        Some(d) => ctx
            .get(d["source"]["coupon"].as_str().unwrap_or_default())?
            .map(|c| Terms::of_coupon(&c)),
        None => None,
    };
    let tax_enabled = s["automatic_tax"]["enabled"] == true;
    let place = if tax_enabled {
        place_of(&tax_address(s))
    } else {
        None
    };
    let priced = price(&inputs, terms.as_ref(), place.as_ref());
    let shown_discount = discount.as_ref().map(public);
    let (mut subtotal, mut total_discount, mut total_tax, mut total) = (0i64, 0i64, 0i64, 0i64);
    let mut tax_groups: TaxGroups = Vec::new();
    for ((li, input), out) in items.iter_mut().zip(&inputs).zip(&priced) {
        let d = out.discount.unwrap_or(0);
        let line_total = input.amount - d + if input.inclusive { 0 } else { out.tax };
        li["amount_subtotal"] = json!(input.amount);
        li["amount_discount"] = json!(d);
        li["amount_tax"] = json!(out.tax);
        li["amount_total"] = json!(line_total);
        // `discounts` and `taxes` are shown only with `expand[]=…data.discounts` / `…taxes`.
        li["_discounts"] = match (&shown_discount, out.discount) {
            (Some(disc), Some(d)) => json!([{ "amount": d, "discount": disc }]),
            _ => json!([]),
        };
        li["_taxes"] = match &place {
            Some(j) => json!([session_tax(
                ctx,
                &mut tax_groups,
                j,
                input.inclusive,
                input.exempt,
                out.tax,
                out.taxable
            )?]),
            None => json!([]),
        };
        subtotal += input.amount;
        total_discount += d;
        total_tax += out.tax;
        total += line_total;
    }
    s["_line_items"] = json!(items);
    // Shipping: the chosen rate as the session offered it; never discounted.
    let rate = s["_shipping_rate"]
        .as_str()
        .and_then(|id| super::shipping::offered(s, id))
        .cloned();
    let mut amount_shipping = 0;
    s["shipping_cost"] = match rate {
        Some(rate) => {
            let amount = rate["fixed_amount"]["amount"].as_i64().unwrap_or(0);
            let inclusive = rate["tax_behavior"] == "inclusive";
            let exempt = rate["tax_code"].as_str() == Some(NONTAXABLE);
            let (tax, taxes) = match &place {
                Some(j) => {
                    let tax = if exempt {
                        0
                    } else {
                        tax_on(amount, j.bp, inclusive)
                    };
                    let taxable = match (exempt, inclusive) {
                        (true, _) => 0,
                        (false, true) => amount - tax,
                        (false, false) => amount,
                    };
                    let t = session_tax(ctx, &mut tax_groups, j, inclusive, exempt, tax, taxable)?;
                    (tax, json!([t]))
                }
                None => (0, json!([])),
            };
            let cost_total = amount + if inclusive { 0 } else { tax };
            amount_shipping = amount;
            total_tax += tax;
            total += cost_total;
            json!({
                "amount_subtotal": amount,
                "amount_tax": tax,
                "amount_total": cost_total,
                "shipping_rate": rate["id"],
                // Shown only with `expand[]=shipping_cost.taxes`.
                "_taxes": taxes,
            })
        }
        None => Value::Null,
    };
    s["amount_subtotal"] = json!(subtotal);
    s["amount_total"] = json!(total);
    let discounts_breakdown = match &shown_discount {
        Some(disc) => json!([{ "amount": total_discount, "discount": disc }]),
        None => json!([]),
    };
    let taxes_breakdown: Vec<Value> = tax_groups
        .into_iter()
        .map(|(_, rate, amount, taxable, reason)| {
            json!({ "amount": amount, "rate": rate, "taxability_reason": reason, "taxable_amount": taxable })
        })
        .collect();
    s["total_details"] = json!({
        "amount_discount": total_discount,
        "amount_shipping": amount_shipping,
        "amount_tax": total_tax,
        // Shown only with `expand[]=total_details.breakdown`.
        "_breakdown": { "discounts": discounts_breakdown, "taxes": taxes_breakdown },
    });
    if tax_enabled {
        s["automatic_tax"]["status"] = json!(if place.is_some() {
            "complete"
        } else {
            "requires_location_inputs"
        });
    }
    Ok(())
}

/// The amounts of an invoice's lines: discount amounts and taxes per line, and the totals.
/// `discount` is the subscription's active discount, `place` its tax location (automatic tax).
pub fn price_invoice(
    ctx: &mut Ctx,
    inv: &mut Value,
    discount: Option<&Value>,
    place: Option<&Jurisdiction>,
) -> ApiResult<()> {
    let mut lines = inv["lines"]["data"].as_array().cloned().unwrap_or_default();
    let mut inputs = Vec::with_capacity(lines.len());
    for l in &lines {
        let price_id = l["pricing"]["price_details"]["price"]
            .as_str()
            .unwrap_or_default();
        let price = ctx.get(price_id)?.unwrap_or(json!({}));
        let product = l["pricing"]["price_details"]["product"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let tax_code = ctx
            .get(&product)?
            .and_then(|p| p["tax_code"].as_str().map(str::to_string));
        inputs.push(LineIn {
            amount: l["amount"].as_i64().unwrap_or(0),
            product,
            inclusive: price["tax_behavior"] == "inclusive",
            exempt: tax_code.as_deref() == Some(NONTAXABLE),
        });
    }
    let terms = match discount {
        Some(d) => ctx
            .get(d["source"]["coupon"].as_str().unwrap_or_default())?
            .map(|c| Terms::of_coupon(&c)),
        None => None,
    };
    let priced = price(&inputs, terms.as_ref(), place);
    let disc_id = discount.map(|d| d["id"].clone());
    let (mut subtotal, mut total_discount, mut excl_tax, mut incl_tax) = (0i64, 0i64, 0i64, 0i64);
    let mut tax_groups: Vec<(Value, i64, i64, &'static str, bool)> = Vec::new();
    for ((l, input), out) in lines.iter_mut().zip(&inputs).zip(&priced) {
        let d = out.discount.unwrap_or(0);
        l["discount_amounts"] = match (&disc_id, out.discount) {
            (Some(id), Some(d)) => json!([{ "amount": d, "discount": id }]),
            _ => json!([]),
        };
        l["taxes"] = match place {
            Some(j) => {
                let rate = tax_rate(ctx, j, input.inclusive)?;
                let reason = taxability_reason(j, input.exempt);
                match tax_groups
                    .iter_mut()
                    .find(|g| g.0 == rate["id"] && g.3 == reason)
                {
                    Some(g) => {
                        g.1 += out.tax;
                        g.2 += out.taxable;
                    }
                    None => tax_groups.push((
                        rate["id"].clone(),
                        out.tax,
                        out.taxable,
                        reason,
                        input.inclusive,
                    )),
                }
                json!([invoice_tax(
                    &rate["id"],
                    out.tax,
                    out.taxable,
                    reason,
                    input.inclusive
                )])
            }
            None => json!([]),
        };
        subtotal += input.amount;
        total_discount += d;
        if input.inclusive {
            incl_tax += out.tax;
        } else {
            excl_tax += out.tax;
        }
    }
    let total = (subtotal - total_discount + excl_tax).max(0);
    inv["lines"]["data"] = json!(lines);
    inv["discounts"] = match &disc_id {
        Some(id) => json!([id]),
        None => json!([]),
    };
    inv["total_discount_amounts"] = match &disc_id {
        Some(id) => json!([{ "amount": total_discount, "discount": id }]),
        None => json!([]),
    };
    inv["total_taxes"] = json!(
        tax_groups
            .iter()
            .map(|(id, amount, taxable, reason, inclusive)| invoice_tax(
                id, *amount, *taxable, reason, *inclusive
            ))
            .collect::<Vec<_>>()
    );
    inv["subtotal"] = json!(subtotal);
    inv["subtotal_excluding_tax"] = json!(subtotal - incl_tax);
    inv["total"] = json!(total);
    inv["total_excluding_tax"] = json!((total - excl_tax - incl_tax).max(0));
    inv["amount_due"] = json!(total);
    inv["amount_remaining"] = json!(total);
    if let Some(j) = place {
        inv["automatic_tax"] = json!({
            "disabled_reason": null, "enabled": true, "liability": { "type": "self" },
            "provider": "stripe", "status": "complete",
        });
        inv["customer_address"] = json!({
            "city": null, "country": j.country, "line1": null, "line2": null,
            "postal_code": null, "state": j.state,
        });
    }
    Ok(())
}

fn invoice_tax(rate_id: &Value, amount: i64, taxable: i64, reason: &str, inclusive: bool) -> Value {
    json!({
        "amount": amount,
        "tax_behavior": if inclusive { "inclusive" } else { "exclusive" },
        "tax_rate_details": { "tax_rate": rate_id },
        "taxability_reason": reason,
        "taxable_amount": taxable,
        "type": "tax_rate_details",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(amount: i64, product: &str) -> LineIn {
        LineIn {
            amount,
            product: product.into(),
            inclusive: false,
            exempt: false,
        }
    }

    #[test]
    fn amount_off_splits_by_largest_remainder_and_adds_up() {
        let lines = [line(1000, "a"), line(1000, "b"), line(1000, "c")];
        let t = Terms {
            percent_micros: None,
            amount_off: Some(1000),
            products: vec![],
        };
        let d: Vec<i64> = allocate(&lines, &t).into_iter().flatten().collect();
        assert_eq!(d, vec![334, 333, 333]);
        let lines = [line(999, "a"), line(1, "b")];
        let t = Terms {
            amount_off: Some(5000),
            ..t
        };
        let d: Vec<i64> = allocate(&lines, &t).into_iter().flatten().collect();
        assert_eq!(d, vec![999, 1], "never more than the lines");
    }

    #[test]
    fn rates_and_rounding() {
        assert_eq!(jurisdiction("us", Some("ca")).bp, 725);
        assert_eq!(jurisdiction("US", Some("NY")).bp, 0);
        assert_eq!(jurisdiction("DE", None).bp, 1900);
        assert_eq!(jurisdiction("GB", None).bp, 2000);
        assert_eq!(jurisdiction("FR", None).bp, 0);
        // 7.25 % of 1000 = 72.5 → 73 (half up); 19 % included in 1190 = 190.
        assert_eq!(tax_on(1000, 725, false), 73);
        assert_eq!(tax_on(1190, 1900, true), 190);
        assert_eq!(tax_on(-1000, 725, false), -73);
    }
}
