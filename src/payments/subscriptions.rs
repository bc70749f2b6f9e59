//! Subscriptions and their invoices.

use stripe_billing::invoice::RetrieveInvoice;
use stripe_billing::subscription::{
    RetrieveSubscription, UpdateSubscription, UpdateSubscriptionItems,
    UpdateSubscriptionProrationBehavior,
};
use stripe_shared::{Invoice, Subscription};

use super::{PaymentError, Stripe};

pub async fn retrieve(stripe: &Stripe, id: &str) -> Result<Subscription, PaymentError> {
    stripe.read(&RetrieveSubscription::new(id)).await
}

/// Cancel at the period's end (`true`) or resume (`false`). Idempotent by nature, so a fresh
/// key per call (`what` names it in logs): a derived key would replay a stale earlier call.
pub async fn set_cancel_at_period_end(
    stripe: &Stripe,
    id: &str,
    cancel: bool,
    what: &str,
) -> Result<Subscription, PaymentError> {
    let req = UpdateSubscription::new(id).cancel_at_period_end(cancel);
    stripe.write_once(&req, what).await
}

/// What a plan switch changes at Stripe.
pub struct Switch<'a> {
    /// The Stripe price the subscription's plan item is on now.
    pub from: &'a str,
    /// The new plan's Stripe price.
    pub to: &'a str,
    /// The new plan's shipping charge (a Stripe price), if it has one.
    pub shipping: Option<&'a str>,
    /// Every Stripe price ever made for a plan's shipping: the items on them are shipping items.
    pub shipping_prices: &'a [String],
}

/// Moves the subscription's plan item to the new plan and its shipping item to the new plan's
/// shipping charge: changed, added or removed, in one update (Stripe refuses items on two
/// intervals, so a monthly-to-yearly switch must move both at once). Stripe prorates.
pub async fn switch_plan(
    stripe: &Stripe,
    id: &str,
    switch: &Switch<'_>,
    what: &str,
) -> Result<Subscription, PaymentError> {
    let current = retrieve(stripe, id).await?;
    let data = &current.items.data;
    let is_shipping = |price: &str| switch.shipping_prices.iter().any(|s| s == price);
    let plan = data
        .iter()
        .find(|i| i.price.id.as_str() == switch.from && !is_shipping(switch.from))
        .or_else(|| {
            data.iter().find(|i| {
                !switch
                    .shipping_prices
                    .iter()
                    .any(|s| s == i.price.id.as_str())
            })
        })
        .ok_or(PaymentError::Unexpected(
            "a subscription without its plan's item",
        ))?;
    let item = |id: Option<&str>, price: Option<&str>, deleted: bool| {
        let mut item = UpdateSubscriptionItems::new();
        item.id = id.map(str::to_owned);
        item.price = price.map(str::to_owned);
        item.deleted = deleted.then_some(true);
        item
    };
    let mut items = vec![item(Some(plan.id.as_str()), Some(switch.to), false)];
    let mut shipping_items = data.iter().filter(|i| {
        i.id != plan.id
            && switch
                .shipping_prices
                .iter()
                .any(|s| s == i.price.id.as_str())
    });
    match (switch.shipping, shipping_items.next()) {
        (Some(price), Some(old)) => items.push(item(Some(old.id.as_str()), Some(price), false)),
        (Some(price), None) => items.push(item(None, Some(price), false)),
        (None, Some(old)) => items.push(item(Some(old.id.as_str()), None, true)),
        (None, None) => {}
    }
    items.extend(shipping_items.map(|old| item(Some(old.id.as_str()), None, true)));
    let req = UpdateSubscription::new(id)
        .items(items)
        .proration_behavior(UpdateSubscriptionProrationBehavior::CreateProrations);
    stripe.write_once(&req, what).await
}

/// An invoice with its payments (the PaymentIntent that paid it) and its discounts' codes and
/// coupons (what the order page calls the discount; Stripe gives only ids unless asked).
pub async fn invoice(stripe: &Stripe, id: &str) -> Result<Invoice, PaymentError> {
    let req = RetrieveInvoice::new(id).expand(vec![
        "payments".to_owned(),
        "discounts.promotion_code".to_owned(),
        "discounts.source.coupon".to_owned(),
    ]);
    stripe.read(&req).await
}
