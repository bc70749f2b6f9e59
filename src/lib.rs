//! Storefront: a server-rendered shop that sells through Stripe.
pub mod emulator;
