//! The admin side: orders, refunds (full and partial) with one-time tokens, refund and dispute
//! sync from Stripe, the audit log, and creating admins.
//!
//! Refund money rules (docs/ARCHITECTURE.md, "Refunds"): a refund row is recorded `pending`
//! before Stripe is called, under an idempotency key from the form's one-time token; what is still refundable is checked
//! in the same write transaction (the order row locked on PostgreSQL); the order's refund status
//! and `amount_refunded` are derived from its succeeded refunds after every change.

pub mod audit;
pub mod cli;
pub mod disputes;
pub mod exports;
pub mod receipts;
pub mod refunds;
pub mod routes;
pub mod search;
pub mod sync;
pub mod users;
