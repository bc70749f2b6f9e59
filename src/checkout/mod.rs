//! Checkout: turning a cart into a pending order and a Stripe Checkout Session, and the one
//! function that makes an order paid.

pub mod failures;
pub mod fulfil;
pub mod routes;
pub mod start;

/// Minutes a Checkout Session stays open (Stripe requires at least 30).
pub const SESSION_MINUTES: i64 = 31;

/// Open checkouts one client address may hold at once, so one visitor cannot hold all the stock.
pub const MAX_OPEN_PER_CLIENT: i64 = 3;
