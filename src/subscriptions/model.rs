//! Subscription rows.

use diesel::prelude::*;

use crate::schema::subscriptions;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = subscriptions)]
pub struct Subscription {
    pub id: i64,
    pub stripe_subscription_id: String,
    pub user_id: Option<i64>,
    pub stripe_customer_id: String,
    pub price_id: Option<i64>,
    pub stripe_price_id: String,
    pub status: String,
    pub current_period_end: Option<i64>,
    pub cancel_at_period_end: bool,
    pub ended_at: Option<i64>,
    pub latest_invoice_status: Option<String>,
    pub last_event_created: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// Why an admin must look (a second live subscription to the same product).
    pub flagged: Option<String>,
}

/// The statuses of a subscription that still runs (or tries to collect).
pub const LIVE_STATUSES: [&str; 6] = [
    "active",
    "trialing",
    "past_due",
    "unpaid",
    "incomplete",
    "paused",
];

impl Subscription {
    /// Still running (or trying to collect): it can be managed.
    pub fn is_live(&self) -> bool {
        LIVE_STATUSES.contains(&self.status.as_str())
    }

    pub fn payment_failed(&self) -> bool {
        matches!(self.status.as_str(), "past_due" | "unpaid")
            || self.latest_invoice_status.as_deref() == Some("payment_failed")
                && self.status != "active"
    }

    pub fn status_label(&self) -> &'static str {
        match self.status.as_str() {
            "active" if self.cancel_at_period_end => "Active until the end of the period",
            "active" => "Active",
            "trialing" => "Trial",
            "past_due" | "unpaid" => "Payment failed",
            "incomplete" => "Awaiting first payment",
            "canceled" | "incomplete_expired" => "Ended",
            "paused" => "Paused",
            _ => "Unknown",
        }
    }
}
