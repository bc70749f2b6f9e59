//! Subscriptions: started through subscription-mode Checkout, kept current from Stripe's
//! webhooks (always re-fetching the subscription, so out-of-order events cannot regress it),
//! managed from the account pages or Stripe's Billing Portal. Every paid invoice, first and
//! renewals, becomes an order of kind `subscription`.

pub mod checkout;
pub mod invoice_breakdown;
pub mod model;
pub mod routes;
pub mod sync;
