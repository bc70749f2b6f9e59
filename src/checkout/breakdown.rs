//! What a completed Checkout Session says the customer paid, checked against our order.
//!
//! Checkout applies promotion codes and (when asked) tax, so the session's total may differ from
//! our items' sum. It must differ only by the rules: total = subtotal − discount + shipping +
//! exclusive tax, where the subtotal and every line's subtotal are ours. Inclusive tax is inside
//! the subtotal already; Stripe's `amount_tax` counts both kinds, so each line's taxes say which.

use stripe_shared::{CheckoutSession, CheckoutSessionItem};

use crate::orders::model::{Order, OrderItem};
use crate::shipping::offer::Offered;

/// The order's totals as paid, and each line's share (in the order's item order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breakdown {
    pub subtotal: i64,
    pub discount: i64,
    pub shipping: i64,
    pub tax_exclusive: i64,
    pub tax_inclusive: i64,
    pub total: i64,
    pub discount_label: Option<String>,
    pub lines: Vec<LineShare>,
    /// The shipping option the customer chose, if the order offered any.
    pub shipping_choice: Option<ShippingChoice>,
}

/// The rate chosen at Checkout, matched to one the order offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShippingChoice {
    /// Stripe's shipping rate id (made from our inline rate data).
    pub rate_id: Option<String>,
    pub name: String,
    pub amount: i64,
    /// Its tax, added on top or inside `amount` as the order's tax behavior says.
    pub tax: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineShare {
    pub discount: i64,
    pub tax: i64,
    /// Subtotal − discount + exclusive tax: what a refund of the whole line gives back.
    pub paid: i64,
}

/// What the order asked of Checkout, which the session must agree with.
#[derive(Debug, Clone, Copy)]
pub struct Expectations<'a> {
    /// Stripe Tax is on (`STRIPE_TAX`): without it any tax is a change we did not ask for.
    pub tax: bool,
    /// The order's tax is inside its prices (shipping's tax too).
    pub inclusive: bool,
    /// The shipping options the order offered: the chosen one must be one of them, and with
    /// none any shipping amount is a change we did not ask for.
    pub shipping: &'a [Offered],
}

/// Checks a completed session and its line items against the order; the breakdown to store, or
/// why the session cannot be trusted. Lines are matched in order: Checkout lists a session's
/// line items as they were created, and any other order fails the check (flagged, not lost).
pub fn check(
    order: &Order,
    items: &[OrderItem],
    session: &CheckoutSession,
    lines: &[CheckoutSessionItem],
    expect: Expectations<'_>,
) -> Result<Breakdown, String> {
    if session.amount_subtotal != Some(order.amount_subtotal) {
        return Err(format!(
            "session subtotal {:?} differs from the order's items ({})",
            session.amount_subtotal, order.amount_subtotal
        ));
    }
    if lines.len() != items.len() {
        return Err(format!(
            "session has {} line(s), the order {}",
            lines.len(),
            items.len()
        ));
    }
    let mut shares = Vec::with_capacity(items.len());
    let (mut discount, mut tax_exclusive, mut tax_inclusive) = (0i64, 0i64, 0i64);
    for (n, (item, line)) in items.iter().zip(lines).enumerate() {
        let share = line_share(item, line).map_err(|why| format!("line {}: {why}", n + 1))?;
        let (exclusive, inclusive) = taxes(line).ok_or("line taxes out of range")?;
        discount = add(discount, share.discount)?;
        tax_exclusive = add(tax_exclusive, exclusive)?;
        tax_inclusive = add(tax_inclusive, inclusive)?;
        shares.push(share);
    }
    let details = session.total_details.as_ref();
    let session_discount = details.map_or(0, |d| d.amount_discount);
    let session_tax = details.map_or(0, |d| d.amount_tax);
    let shipping = details.and_then(|d| d.amount_shipping).unwrap_or(0);
    if session_discount != discount {
        return Err(format!(
            "session discount {session_discount} is not its lines' ({discount})"
        ));
    }
    if discount < 0 || discount > order.amount_subtotal {
        return Err(format!("discount {discount} is outside the subtotal"));
    }
    if shipping < 0 {
        return Err(format!("shipping {shipping} is negative"));
    }
    let shipping_choice = shipping_choice(session, shipping, expect)?;
    let shipping_tax = shipping_choice.as_ref().map_or(0, |c| c.tax);
    let line_tax = add(tax_exclusive, tax_inclusive)?;
    if session_tax != add(line_tax, shipping_tax)? {
        return Err(format!(
            "session tax {session_tax} is not its lines' ({line_tax}) and shipping's ({shipping_tax})"
        ));
    }
    if expect.inclusive {
        tax_inclusive = add(tax_inclusive, shipping_tax)?;
    } else {
        tax_exclusive = add(tax_exclusive, shipping_tax)?;
    }
    if discount > 0 && session.discounts.as_ref().is_none_or(Vec::is_empty) {
        return Err("a discount without a coupon or code".into());
    }
    if session_tax != 0 && !expect.tax {
        return Err(format!("tax {session_tax} charged, but Stripe Tax is off"));
    }
    let total = add(
        order.amount_subtotal - discount,
        add(shipping, tax_exclusive)?,
    )?;
    if session.amount_total != Some(total) {
        return Err(format!(
            "session amount {:?} differs from the order's breakdown ({total})",
            session.amount_total
        ));
    }
    Ok(Breakdown {
        subtotal: order.amount_subtotal,
        discount,
        shipping,
        tax_exclusive,
        tax_inclusive,
        total,
        discount_label: discount_label(session),
        lines: shares,
        shipping_choice,
    })
}

/// The session's shipping, checked against what the order offered: the amount must be the
/// offered rate's (matched by the key we put in its metadata when Stripe returns the rate, else
/// by name and amount), and its tax only what Stripe Tax could add.
fn shipping_choice(
    session: &CheckoutSession,
    shipping: i64,
    expect: Expectations<'_>,
) -> Result<Option<ShippingChoice>, String> {
    let Some(cost) = &session.shipping_cost else {
        if shipping != 0 {
            return Err(format!(
                "shipping {shipping} charged without a shipping rate"
            ));
        }
        // Checkout always preselects one of the options it was given.
        if !expect.shipping.is_empty() {
            return Err("no shipping rate chosen, though the order offered some".into());
        }
        return Ok(None);
    };
    if expect.shipping.is_empty() {
        return Err(format!(
            "shipping {} charged, but the order offered none",
            cost.amount_subtotal
        ));
    }
    if cost.amount_subtotal != shipping {
        return Err(format!(
            "shipping cost {} is not the session's shipping ({shipping})",
            cost.amount_subtotal
        ));
    }
    if cost.amount_tax < 0 || (cost.amount_tax != 0 && !expect.tax) {
        return Err(format!(
            "shipping tax {} was not asked for",
            cost.amount_tax
        ));
    }
    let rate = cost.shipping_rate.as_ref();
    let (rate_id, key, name) = match rate {
        Some(r) => (
            Some(r.id().as_str().to_owned()),
            r.as_object()
                .and_then(|o| o.metadata.get(crate::payments::checkout::RATE_KEY).cloned()),
            r.as_object().and_then(|o| o.display_name.clone()),
        ),
        None => (None, None, None),
    };
    let offered = expect.shipping.iter().find(|o| match (&key, &name) {
        (Some(k), _) => *k == o.rate_key,
        (None, Some(n)) => *n == o.name && o.amount == shipping,
        (None, None) => o.amount == shipping,
    });
    let Some(offered) = offered else {
        return Err(format!(
            "shipping rate {} ({shipping}) is not one the order offered",
            name.or(key).unwrap_or_else(|| "?".into())
        ));
    };
    if offered.amount != shipping {
        return Err(format!(
            "{} costs {shipping}, but the order offered it for {}",
            offered.name, offered.amount
        ));
    }
    Ok(Some(ShippingChoice {
        rate_id,
        name: offered.name.clone(),
        amount: shipping,
        tax: cost.amount_tax,
    }))
}

fn add(a: i64, b: i64) -> Result<i64, String> {
    a.checked_add(b)
        .ok_or_else(|| "amounts out of range".to_owned())
}

fn line_share(item: &OrderItem, line: &CheckoutSessionItem) -> Result<LineShare, String> {
    let subtotal = item.unit_amount.checked_mul(item.quantity).unwrap_or(-1);
    if line.quantity != Some(item.quantity as u64) || line.amount_subtotal != subtotal {
        return Err(format!(
            "{} × {} for {} is not ours ({} × {} for {subtotal})",
            line.quantity.unwrap_or(0),
            line.description.as_deref().unwrap_or("?"),
            line.amount_subtotal,
            item.quantity,
            item.name
        ));
    }
    // Lines sold before products were named at Stripe (no id stored) are matched on the rest.
    if let (Some(ours), Some(price)) = (item.stripe_product_id.as_deref(), &line.price)
        && price.product.id().as_str() != ours
    {
        return Err(format!(
            "product {} is not ours ({ours})",
            price.product.id().as_str()
        ));
    }
    let discounts = line
        .discounts
        .iter()
        .flatten()
        .try_fold(0i64, |sum, d| sum.checked_add(d.amount.max(-1)));
    if discounts != Some(line.amount_discount) {
        return Err("its discounts do not add up".into());
    }
    let (exclusive, inclusive) = taxes(line).ok_or("its taxes are out of range")?;
    if exclusive.checked_add(inclusive) != Some(line.amount_tax) || line.amount_tax < 0 {
        return Err("its taxes do not add up".into());
    }
    if line.amount_discount < 0 || line.amount_discount > subtotal {
        return Err("its discount is outside its subtotal".into());
    }
    let paid = add(subtotal - line.amount_discount, exclusive)?;
    if line.amount_total != paid {
        return Err(format!(
            "its total {} is not subtotal − discount + tax ({paid})",
            line.amount_total
        ));
    }
    Ok(LineShare {
        discount: line.amount_discount,
        tax: line.amount_tax,
        paid,
    })
}

/// A line's tax added on top, and tax inside its price; `None` if an amount is negative or the
/// sums overflow.
fn taxes(line: &CheckoutSessionItem) -> Option<(i64, i64)> {
    line.taxes
        .iter()
        .flatten()
        .try_fold((0i64, 0i64), |(ex, inc), t| {
            if t.amount < 0 {
                None
            } else if t.rate.inclusive {
                Some((ex, inc.checked_add(t.amount)?))
            } else {
                Some((ex.checked_add(t.amount)?, inc))
            }
        })
}

/// What the customer typed (the promotion code), else the coupon's name or id.
fn discount_label(session: &CheckoutSession) -> Option<String> {
    let discount = session.discounts.as_ref()?.first()?;
    if let Some(code) = &discount.promotion_code {
        return Some(match code.as_object() {
            Some(code) => code.code.clone(),
            None => code.id().as_str().to_owned(),
        });
    }
    let coupon = discount.coupon.as_ref()?;
    Some(match coupon.as_object() {
        Some(c) => c.name.clone().unwrap_or_else(|| c.id.as_str().to_owned()),
        None => coupon.id().as_str().to_owned(),
    })
}
