//! Events from Stripe: the endpoint that receives them, the table of types we handle, the
//! dispatch to each handler, and the ledger that makes processing exactly-once.

pub mod dispatch;
pub mod events;
pub mod inbox;
pub mod ledger;
pub mod receive;
pub mod replay;

pub use receive::receive;
