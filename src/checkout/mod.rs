//! Checkout: turning a cart into a pending order and a Stripe Checkout Session, and the one
//! function that makes an order paid.

pub mod breakdown;
pub mod failures;
pub mod fulfil;
pub mod routes;
pub mod start;

/// Minutes a Checkout Session stays open (Stripe requires at least 30).
pub const SESSION_MINUTES: i64 = 31;

/// Open checkouts one client address (an IPv4 address or an IPv6 /64, see
/// `web::client::ClientAddr`) may hold at once. Each cart has at most one open checkout (a
/// second `POST /checkout` reuses it); this cap only slows a script that opens carts to hold
/// stock, so it leaves room for a household or an office behind one address.
pub const MAX_OPEN_PER_CLIENT: i64 = 20;
