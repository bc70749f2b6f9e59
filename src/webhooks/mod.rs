//! Events from Stripe: the endpoint that receives them, the table of types we handle, the
//! dispatch to each handler, and the ledger that makes processing exactly-once.

pub mod dispatch;
pub mod events;
pub mod ledger;
pub mod receive;

pub use receive::receive;
