//! Refunds, and the charges and PaymentIntents they are read through.

use std::collections::HashMap;

use stripe_core::charge::RetrieveCharge;
use stripe_core::payment_intent::RetrievePaymentIntent;
use stripe_core::refund::{CreateRefund, CreateRefundReason, ListRefund, RetrieveRefund};
use stripe_shared::{Charge, PaymentIntent, Refund};

use super::{PaymentError, Stripe};

/// Metadata key of our refunds: `"{order number}/{refund row id}"`. One key, because the
/// client's metadata is a `HashMap`: with two keys their order, and so the request body, would
/// differ between a call and its retry, and Stripe refuses a reused key with a different body.
pub const METADATA_KEY: &str = "storefront_refund";

/// What to refund. Every field comes from our stored refund row, so a retry under the same
/// idempotency key sends an identical request.
pub struct NewRefund<'a> {
    pub payment_intent: &'a str,
    pub amount: i64,
    /// `duplicate`, `fraudulent`, anything else is `requested_by_customer`.
    pub reason: Option<&'a str>,
    /// `"{order number}/{refund row id}"`.
    pub reference: String,
    /// Our refund row's one-time key, whole (install id included).
    pub idempotency_key: &'a str,
}

pub async fn create(stripe: &Stripe, refund: NewRefund<'_>) -> Result<Refund, PaymentError> {
    let reason = match refund.reason {
        Some("duplicate") => CreateRefundReason::Duplicate,
        Some("fraudulent") => CreateRefundReason::Fraudulent,
        _ => CreateRefundReason::RequestedByCustomer,
    };
    let req = CreateRefund::new()
        .payment_intent(refund.payment_intent.to_owned())
        .amount(refund.amount)
        .reason(reason)
        .metadata(HashMap::from([(METADATA_KEY.to_owned(), refund.reference)]));
    // The refund row keeps the whole key it was created with (see `Stripe::key`).
    stripe.write_keyed(&req, refund.idempotency_key).await
}

pub async fn retrieve(stripe: &Stripe, refund_id: &str) -> Result<Refund, PaymentError> {
    stripe.read(&RetrieveRefund::new(refund_id)).await
}

/// Every refund of a charge, as Stripe lists them now (a charge has far fewer than 100).
pub async fn of_charge(stripe: &Stripe, charge_id: &str) -> Result<Vec<Refund>, PaymentError> {
    Ok(stripe
        .read(&ListRefund::new().charge(charge_id).limit(100))
        .await?
        .data)
}

pub async fn charge(stripe: &Stripe, charge_id: &str) -> Result<Charge, PaymentError> {
    stripe.read(&RetrieveCharge::new(charge_id)).await
}

pub async fn payment_intent(
    stripe: &Stripe,
    intent_id: &str,
) -> Result<PaymentIntent, PaymentError> {
    stripe.read(&RetrievePaymentIntent::new(intent_id)).await
}
