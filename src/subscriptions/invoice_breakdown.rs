//! What a paid subscription invoice says the customer paid, checked before it becomes an order.
//!
//! A subscription bought with a promotion code (or taxed) is invoiced for less (or more) than
//! its plan: the order must show the plan's price, the discount, the tax and what was paid, as a
//! one-time order does (see `checkout::breakdown`). The invoice's numbers must add up by the same
//! rule: total = subtotal − discount + exclusive tax (inclusive tax is inside the subtotal), and
//! what was paid is that total. An invoice whose numbers do not add up is flagged for an admin
//! rather than stored as if they did.

use stripe_shared::{
    BillingBillResourceInvoicingTaxesTax, BillingBillResourceInvoicingTaxesTaxTaxBehavior,
    Discount, Invoice, InvoiceLineItem,
};
use stripe_types::Expandable;

/// Our price the subscription is on, as the catalogue has it.
#[derive(Debug, Clone)]
pub struct Plan {
    pub stripe_price_id: Option<String>,
    pub unit_amount: i64,
    /// Every Stripe Price made for the plan's shipping charge (`stripe_ids::shipping_price`).
    pub shipping_prices: Vec<String>,
}

/// An invoice's totals as paid, and the one order item's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceBreakdown {
    /// The invoice's subtotal less its shipping lines: what the order's item costs.
    pub subtotal: i64,
    /// The plan's shipping charge for the period (its own line on the invoice), and its tax.
    pub shipping: i64,
    pub shipping_tax: i64,
    pub discount: i64,
    pub tax_exclusive: i64,
    pub tax_inclusive: i64,
    pub total: i64,
    pub discount_label: Option<String>,
    /// The plan's price and quantity for a plain period invoice; for anything else (prorations,
    /// several lines) the whole subtotal as one unit, so unit × quantity is always the subtotal.
    pub unit_amount: i64,
    pub quantity: i64,
    /// The order item's share: for a plain period the plan line's own discount, tax and what was
    /// paid for it (the shipping line's are the shipping's); otherwise the whole invoice.
    pub item_discount: i64,
    pub item_tax: i64,
    pub item_paid: i64,
}

/// Checks a paid invoice's arithmetic; the breakdown to store, or why it cannot be trusted.
pub fn check(invoice: &Invoice, plan: Option<&Plan>) -> Result<InvoiceBreakdown, String> {
    let subtotal = invoice.subtotal;
    let discount: i64 = invoice
        .total_discount_amounts
        .iter()
        .flatten()
        .map(|d| d.amount)
        .sum();
    let (tax_exclusive, tax_inclusive) = split_taxes(invoice.total_taxes.iter().flatten());
    let lines = &invoice.lines;
    // A page of lines that is not all of them cannot be summed; the totals still are checked.
    if !lines.has_more {
        let line_sum: i64 = lines.data.iter().map(|l| l.amount).sum();
        if line_sum != subtotal {
            return Err(format!(
                "invoice subtotal {subtotal} is not its lines' ({line_sum})"
            ));
        }
        let line_discounts: i64 = lines
            .data
            .iter()
            .flat_map(|l| l.discount_amounts.iter().flatten())
            .map(|d| d.amount)
            .sum();
        if line_discounts != discount {
            return Err(format!(
                "invoice discount {discount} is not its lines' ({line_discounts})"
            ));
        }
        let (ex, inc) = split_taxes(lines.data.iter().flat_map(|l| l.taxes.iter().flatten()));
        if (ex, inc) != (tax_exclusive, tax_inclusive) {
            return Err(format!(
                "invoice tax {} + {} (exclusive + inclusive) is not its lines' ({ex} + {inc})",
                tax_exclusive, tax_inclusive
            ));
        }
    }
    if discount < 0 || discount > subtotal.max(0) {
        return Err(format!(
            "discount {discount} is outside the subtotal {subtotal}"
        ));
    }
    if tax_exclusive < 0 || tax_inclusive < 0 {
        return Err("a negative tax".into());
    }
    let total = subtotal - discount + tax_exclusive;
    if invoice.total != total {
        return Err(format!(
            "invoice total {} is not subtotal − discount + exclusive tax ({total})",
            invoice.total
        ));
    }
    if let Some(excluding) = invoice.total_excluding_tax
        && excluding != total - tax_exclusive - tax_inclusive
    {
        return Err(format!(
            "invoice total excluding tax {excluding} is not its total less all tax ({})",
            total - tax_exclusive - tax_inclusive
        ));
    }
    if invoice.amount_paid != total {
        return Err(format!(
            "invoice paid {} of a total of {total}",
            invoice.amount_paid
        ));
    }
    let mut item = (discount, tax_exclusive + tax_inclusive, total);
    let (unit_amount, quantity, shipping, shipping_tax) = match plain_period(invoice, plan) {
        Some((line, shipping_lines, plan)) => {
            let quantity = line.quantity.unwrap_or(1) as i64;
            if plan.unit_amount.checked_mul(quantity) != Some(line.amount) {
                return Err(format!(
                    "the plan line charges {} for {quantity}, our price is {} each",
                    line.amount, plan.unit_amount
                ));
            }
            let shipping: i64 = shipping_lines.iter().map(|l| l.amount).sum();
            let (ex, inc) =
                split_taxes(shipping_lines.iter().flat_map(|l| l.taxes.iter().flatten()));
            if shipping < 0 {
                return Err(format!("a negative shipping charge ({shipping})"));
            }
            let line_discount: i64 = line
                .discount_amounts
                .iter()
                .flatten()
                .map(|d| d.amount)
                .sum();
            let (line_ex, line_inc) = split_taxes(line.taxes.iter().flatten());
            item = (
                line_discount,
                line_ex + line_inc,
                line.amount - line_discount + line_ex,
            );
            (plan.unit_amount, quantity, shipping, ex + inc)
        }
        None => (subtotal, 1, 0, 0),
    };
    Ok(InvoiceBreakdown {
        subtotal: subtotal - shipping,
        shipping,
        shipping_tax,
        discount,
        tax_exclusive,
        tax_inclusive,
        total,
        discount_label: discount_label(invoice),
        unit_amount,
        quantity,
        item_discount: item.0,
        item_tax: item.1,
        item_paid: item.2,
    })
}

/// One period of our plan: its line, and the lines of the plan's shipping charge, when the
/// invoice has nothing else (no proration, no other items).
fn plain_period<'a>(
    invoice: &'a Invoice,
    plan: Option<&'a Plan>,
) -> Option<(&'a InvoiceLineItem, Vec<&'a InvoiceLineItem>, &'a Plan)> {
    let plan = plan?;
    if invoice.lines.has_more {
        return None;
    }
    let (mut plan_line, mut shipping) = (None, Vec::new());
    for line in &invoice.lines.data {
        let price = period_price(line)?;
        if Some(price) == plan.stripe_price_id.as_deref() && plan_line.is_none() {
            plan_line = Some(line);
        } else if plan.shipping_prices.iter().any(|s| s == price) {
            shipping.push(line);
        } else {
            return None;
        }
    }
    Some((plan_line?, shipping, plan))
}

/// The Stripe price a line bills a period of (`None` for a proration or an invoice item).
fn period_price(line: &InvoiceLineItem) -> Option<&str> {
    let details = line.parent.as_ref()?.subscription_item_details.as_ref()?;
    if details.proration {
        return None;
    }
    Some(
        line.pricing
            .as_ref()?
            .price_details
            .as_ref()?
            .price
            .id()
            .as_str(),
    )
}

/// The Stripe prices of the invoice's period lines (not prorations), last first: among them is
/// the plan it bills for (the others are its shipping charge).
pub fn billed_prices(invoice: &Invoice) -> Vec<&str> {
    invoice
        .lines
        .data
        .iter()
        .rev()
        .filter_map(period_price)
        .collect()
}

/// Tax added on top, and tax inside the prices.
fn split_taxes<'a>(
    taxes: impl Iterator<Item = &'a BillingBillResourceInvoicingTaxesTax>,
) -> (i64, i64) {
    taxes.fold((0, 0), |(ex, inc), t| match t.tax_behavior {
        BillingBillResourceInvoicingTaxesTaxTaxBehavior::Inclusive => (ex, inc + t.amount),
        _ => (ex + t.amount, inc),
    })
}

/// The promotion code the customer typed, else the coupon's name or id, when the invoice's
/// discount says (it names them only when expanded: see `payments::subscriptions::invoice`).
fn discount_label(invoice: &Invoice) -> Option<String> {
    let discount: &Discount = invoice.discounts.first()?.as_object()?;
    if let Some(code) = &discount.promotion_code {
        return Some(match code.as_object() {
            Some(code) => code.code.clone(),
            None => code.id().as_str().to_owned(),
        });
    }
    let coupon = discount.source.coupon.as_ref()?;
    Some(match coupon {
        Expandable::Object(c) => c.name.clone().unwrap_or_else(|| c.id.as_str().to_owned()),
        Expandable::Id(id) => id.as_str().to_owned(),
    })
}
