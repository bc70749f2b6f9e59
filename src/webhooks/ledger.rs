//! The ledger of Stripe events: every event id we processed, recorded in the same transaction as
//! its effects, so an event delivered twice (or replayed by reconcile) is applied once. Every
//! handler — checkout sessions, subscriptions, invoices, refunds, disputes, failed attempts —
//! records through here and reports an [`Outcome`].

use diesel::prelude::*;

use crate::db::{self, AnyConnection, DbError};
use crate::orders::status::OrderStatus;
use crate::schema::stripe_events;
use crate::state::AppState;

/// The event being processed, recorded in the same transaction as its effects.
#[derive(Debug, Clone)]
pub struct EventRecord {
    pub id: String,
    pub type_: String,
    pub created: i64,
}

/// What processing an event (or a success-page check) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The order is (now, or already) in this status.
    Order { number: String, status: OrderStatus },
    /// The Stripe object does not match its order; an admin must look.
    Flagged { number: String, reason: String },
    /// A payment attempt failed with this decline code.
    PaymentFailed { decline_code: String },
    /// A subscription is (now) in this Stripe status.
    Subscription { id: String, status: String },
    /// No record of ours has this object.
    Unknown,
    /// This event was processed before.
    Duplicate,
}

impl Outcome {
    /// A short label for reports and logs ("paid", "flagged", …).
    pub fn label(&self) -> String {
        match self {
            Outcome::Order { status, .. } => status.as_str().to_owned(),
            Outcome::Flagged { .. } => "flagged".into(),
            Outcome::Subscription { status, .. } => format!("subscription {status}"),
            Outcome::PaymentFailed { .. } => "payment failed".into(),
            Outcome::Unknown => "not ours".into(),
            Outcome::Duplicate => "duplicate".into(),
        }
    }
}

/// Records `event` in the caller's transaction; false when it was recorded before (its effects
/// are already committed: the caller must do nothing else).
pub fn record(
    conn: &mut AnyConnection,
    event: &EventRecord,
    order_id: Option<i64>,
    outcome: &str,
    now: i64,
) -> QueryResult<bool> {
    db::insert_once(conn, |conn| {
        diesel::insert_into(stripe_events::table)
            .values((
                stripe_events::id.eq(&event.id),
                stripe_events::type_.eq(&event.type_),
                stripe_events::created.eq(event.created),
                stripe_events::processed_at.eq(now),
                stripe_events::order_id.eq(order_id),
                stripe_events::outcome.eq(outcome),
            ))
            .execute(conn)
    })
}

/// A cheap look before any Stripe call; the insert in the transaction stays the real guard.
pub async fn already_recorded(state: &AppState, event_id: &str) -> Result<bool, DbError> {
    let id = event_id.to_owned();
    let n: i64 = db::run(&state.pool, move |conn| {
        stripe_events::table
            .filter(stripe_events::id.eq(id))
            .count()
            .get_result(conn)
            .map_err(DbError::from)
    })
    .await?;
    Ok(n > 0)
}
