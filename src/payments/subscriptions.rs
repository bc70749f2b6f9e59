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

/// Moves the subscription's one item to `price` (a Stripe price id); Stripe prorates.
pub async fn switch_price(
    stripe: &Stripe,
    id: &str,
    price: &str,
    what: &str,
) -> Result<Subscription, PaymentError> {
    let current = retrieve(stripe, id).await?;
    let item_id = current
        .items
        .data
        .first()
        .map(|i| i.id.as_str().to_owned())
        .ok_or(PaymentError::Unexpected("a subscription without items"))?;
    let mut item = UpdateSubscriptionItems::new();
    item.id = Some(item_id);
    item.price = Some(price.to_owned());
    let req = UpdateSubscription::new(id)
        .items(vec![item])
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
