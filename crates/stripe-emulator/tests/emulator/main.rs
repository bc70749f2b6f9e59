//! Tests of the built-in Stripe emulator. Each test starts its own emulator on 127.0.0.1:0
//! with an in-memory database.

mod balance;
mod billing;
mod checkout_flow;
mod contract;
mod discounts;
mod node_interop;
mod protocol;
mod rate_limits;
mod saved_cards;
mod schema;
mod shipping;
mod support;
