//! Getting paid orders to the customer: the fulfilment status (apart from the payment status),
//! shipments with carrier and tracking, and the address each order ships to.
//!
//! Every writer runs inside the caller's write transaction with the order row locked
//! (`admin::refunds::lock_order`), as refunds do, so a shipment and a refund racing on the same
//! order each see the other's effect.

pub mod address;
pub mod carriers;
pub mod offer;
pub mod shipments;
pub mod status;
pub mod timeline;
