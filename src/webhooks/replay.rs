//! Replaying one event from the events inbox: fetched again from Stripe and run through the
//! same handler as a webhook. An event already applied changes nothing and says so.

use super::dispatch;
use super::events::EventKind;
use super::ledger::{self, EventRecord, Outcome};
use crate::error::SyncError;
use crate::payments::PaymentError;
use crate::state::AppState;

/// Stripe keeps events for 30 days.
pub const RETENTION_SECS: i64 = 30 * 86_400;

/// What a replay did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replayed {
    /// Applied now, with this outcome.
    Applied(Outcome),
    /// The ledger already had it: nothing changed.
    AlreadyApplied,
    /// Older than Stripe keeps events: use "Catch up" or the Stripe Dashboard instead.
    TooOld,
    /// Stripe has no such event (or not any more).
    NotFound,
    /// It failed again (noted in the inbox with the reason).
    Failed(String),
}

impl Replayed {
    /// What the admin reads after pressing "Replay".
    pub fn message(&self, id: &str) -> String {
        match self {
            Replayed::Applied(outcome) => format!("Event {id} applied: {}.", outcome.label()),
            Replayed::AlreadyApplied => {
                format!("Event {id} was already applied; replaying it changed nothing.")
            }
            Replayed::TooOld => format!(
                "Event {id} is older than the 30 days Stripe keeps events; it cannot be fetched again."
            ),
            Replayed::NotFound => format!("Stripe has no event {id}."),
            Replayed::Failed(why) => format!("Event {id} failed again: {why}"),
        }
    }
}

/// Whether an event created at `created` can still be fetched from Stripe at `now`.
pub fn within_retention(created: i64, now: i64) -> bool {
    now - created < RETENTION_SECS
}

pub async fn replay(state: &AppState, id: &str) -> Result<Replayed, SyncError> {
    if ledger::already_recorded(state, id).await? {
        ledger::forget_failure(state, id).await?;
        return Ok(Replayed::AlreadyApplied);
    }
    let event = match crate::payments::webhook_endpoints::retrieve_event(&state.stripe, id).await {
        Ok(event) => event,
        Err(PaymentError::Refused { status: 404, .. }) => return Ok(Replayed::NotFound),
        Err(e) => return Err(e.into()),
    };
    if !within_retention(event.created, state.clock.unix()) {
        return Ok(Replayed::TooOld);
    }
    let object: serde_json::Value =
        serde_json::from_str(&miniserde::json::to_string(&event.data.object))
            .map_err(|_| SyncError::Stripe(PaymentError::Unexpected("the event's object")))?;
    let type_ = event.type_.as_str().to_owned();
    let record = EventRecord::of(event.id.as_str(), &type_, event.created, &object);
    let kind = EventKind::of(&type_, &object);
    match dispatch::process(state, record.clone(), kind).await {
        Ok(Outcome::Duplicate) => Ok(Replayed::AlreadyApplied),
        Ok(outcome) => {
            // Counted as the webhook would have counted it.
            crate::metrics::count_event_effects(&state.metrics, &type_, &object, &outcome);
            Ok(Replayed::Applied(outcome))
        }
        Err(e) => {
            let why = crate::error::Report(&e).to_string();
            tracing::warn!(event = %record.id, error = %why, "replayed event failed");
            ledger::record_failure(state, &record, why.clone()).await?;
            Ok(Replayed::Failed(why))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_can_be_fetched_again_for_thirty_days() {
        let now = 10_000_000;
        assert!(within_retention(now - 29 * 86_400, now));
        assert!(!within_retention(now - 30 * 86_400, now));
    }
}
