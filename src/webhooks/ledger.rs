//! The ledger of Stripe events: every event id we processed, recorded in the same transaction as
//! its effects, so an event delivered twice (or replayed by reconcile) is applied once. Every
//! handler — checkout sessions, subscriptions, invoices, refunds, disputes, failed attempts —
//! records through here and reports an [`Outcome`].

use diesel::prelude::*;

use crate::db::{self, AnyConnection, DbError};
use crate::orders::status::OrderStatus;
use crate::schema::{stripe_event_failures, stripe_events};
use crate::state::AppState;

/// The event being processed, recorded in the same transaction as its effects.
#[derive(Debug, Clone)]
pub struct EventRecord {
    pub id: String,
    pub type_: String,
    pub created: i64,
    /// The id of the event's `data.object` (`cs_…`, `re_…`), for the events inbox.
    pub object_id: Option<String>,
}

impl EventRecord {
    /// An event as its type and `data.object` (JSON) describe it.
    pub fn of(id: &str, type_: &str, created: i64, object: &serde_json::Value) -> Self {
        Self {
            id: id.to_owned(),
            type_: type_.to_owned(),
            created,
            object_id: object
                .get("id")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned),
        }
    }
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
    let fresh = db::insert_once(conn, |conn| {
        diesel::insert_into(stripe_events::table)
            .values((
                stripe_events::id.eq(&event.id),
                stripe_events::type_.eq(&event.type_),
                stripe_events::created.eq(event.created),
                stripe_events::processed_at.eq(now),
                stripe_events::order_id.eq(order_id),
                stripe_events::outcome.eq(outcome),
                stripe_events::object_id.eq(&event.object_id),
            ))
            .execute(conn)
    })?;
    if fresh {
        // Applied at last: no longer a failure to look at.
        diesel::delete(stripe_event_failures::table.find(&event.id)).execute(conn)?;
    }
    Ok(fresh)
}

/// A webhook delivered an event the ledger already holds (Stripe retried, or sent it twice).
pub async fn count_delivery(state: &AppState, event_id: &str) -> Result<(), DbError> {
    let id = event_id.to_owned();
    db::write(&state.pool, move |conn| {
        diesel::update(stripe_events::table.find(id))
            .set(stripe_events::deliveries.eq(stripe_events::deliveries + 1))
            .execute(conn)
            .map(|_| ())
            .map_err(DbError::from)
    })
    .await
}

/// Notes that processing `event` failed (its transaction rolled back, so the ledger has no
/// row): the inbox shows it with `error` until a delivery, the reconcile or a replay applies
/// it. An event applied meanwhile (by another instance) is not noted.
pub async fn record_failure(
    state: &AppState,
    event: &EventRecord,
    error: String,
) -> Result<(), DbError> {
    let event = event.clone();
    let now = state.clock.unix();
    // Long chains (a Stripe error page) are cut: the log has the whole of it.
    let error: String = error.chars().take(1000).collect();
    db::write(&state.pool, move |conn| {
        db::write_tx(conn, |conn| {
            let applied: i64 = stripe_events::table
                .filter(stripe_events::id.eq(&event.id))
                .count()
                .get_result(conn)?;
            if applied > 0 {
                return Ok(());
            }
            let inserted = db::insert_once(conn, |conn| {
                diesel::insert_into(stripe_event_failures::table)
                    .values((
                        stripe_event_failures::event_id.eq(&event.id),
                        stripe_event_failures::type_.eq(&event.type_),
                        stripe_event_failures::created.eq(event.created),
                        stripe_event_failures::object_id.eq(&event.object_id),
                        stripe_event_failures::error.eq(&error),
                        stripe_event_failures::attempts.eq(1),
                        stripe_event_failures::first_failed_at.eq(now),
                        stripe_event_failures::last_failed_at.eq(now),
                    ))
                    .execute(conn)
            })?;
            if !inserted {
                diesel::update(stripe_event_failures::table.find(&event.id))
                    .set((
                        stripe_event_failures::error.eq(&error),
                        stripe_event_failures::attempts.eq(stripe_event_failures::attempts + 1),
                        stripe_event_failures::last_failed_at.eq(now),
                    ))
                    .execute(conn)?;
            }
            Ok::<_, diesel::result::Error>(())
        })
        .map_err(DbError::from)
    })
    .await
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

/// Drops the failure note of an event the ledger holds (a note a concurrent success raced past).
pub async fn forget_failure(state: &AppState, event_id: &str) -> Result<(), DbError> {
    let id = event_id.to_owned();
    db::write(&state.pool, move |conn| {
        diesel::delete(stripe_event_failures::table.find(id))
            .execute(conn)
            .map(|_| ())
            .map_err(DbError::from)
    })
    .await
}

/// The `job_runs` row holding when a signed webhook was last verified (what `stripe doctor`
/// shows against Stripe: reconcile and replays write ledger rows without any signature).
pub const VERIFIED: &str = "webhook_verified";

/// Notes that a delivery's signature verified now (at most one write a minute).
pub async fn note_verified(state: &AppState) -> Result<(), DbError> {
    use crate::schema::job_runs;
    let now = state.clock.unix();
    db::write(&state.pool, move |conn| {
        let updated = diesel::update(
            job_runs::table
                .find(VERIFIED)
                .filter(job_runs::last_success_started_at.lt(now - 60)),
        )
        .set(job_runs::last_success_started_at.eq(now))
        .execute(conn)?;
        if updated == 0 {
            db::insert_once(conn, |conn| {
                diesel::insert_into(job_runs::table)
                    .values((
                        job_runs::name.eq(VERIFIED),
                        job_runs::last_success_started_at.eq(now),
                    ))
                    .execute(conn)
            })?;
        }
        Ok::<_, DbError>(())
    })
    .await
}

/// When a signed webhook was last verified, if ever.
pub fn last_verified(conn: &mut AnyConnection) -> QueryResult<Option<i64>> {
    use crate::schema::job_runs;
    job_runs::table
        .find(VERIFIED)
        .select(job_runs::last_success_started_at)
        .first(conn)
        .optional()
}
