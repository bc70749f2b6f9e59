//! Promotion codes the merchant makes from the command line (`storefront stripe coupon …`):
//! a Stripe Coupon (what comes off) and a Promotion Code (what customers type on Checkout).
//! Checkout applies them; orders carry the result (see `checkout::breakdown`).

pub mod command;
pub mod terms;
