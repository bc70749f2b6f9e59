//! Runs an event through its handler. Shared by the webhook endpoint and `storefront reconcile`.

use super::events::EventKind;
use super::ledger::{self, EventRecord, Outcome};
use crate::db;
use crate::error::SyncError;
use crate::state::AppState;

/// Processes one verified event. Already-recorded events return `Duplicate` without any work.
pub async fn process(
    state: &AppState,
    record: EventRecord,
    kind: EventKind,
) -> Result<Outcome, SyncError> {
    if ledger::already_recorded(state, &record.id).await? {
        return Ok(Outcome::Duplicate);
    }
    match kind {
        EventKind::PaymentFailed(attempt) => {
            crate::checkout::failures::record(state, attempt, record).await
        }
        EventKind::Subscription(id) => {
            crate::subscriptions::sync::sync_subscription(state, &id, Some(record)).await
        }
        EventKind::Invoice { id, paid } => {
            crate::subscriptions::sync::invoice_event(state, &id, paid, Some(record)).await
        }
        EventKind::Refund(id) => crate::admin::sync::refund_event(state, &id, Some(record)).await,
        EventKind::ChargeRefunded(id) => {
            crate::admin::sync::charge_refunded(state, &id, Some(record)).await
        }
        EventKind::Dispute(id) => crate::admin::sync::dispute_event(state, &id, Some(record)).await,
        EventKind::CheckoutSession(session_id) => {
            crate::checkout::fulfil::fulfil_checkout(state, &session_id, Some(record)).await
        }
        EventKind::Other => {
            let now = state.clock.unix();
            let fresh = db::write(&state.pool, move |conn| {
                db::write_tx(conn, |conn| {
                    ledger::record(conn, &record, None, "ignored", now)
                })
                .map_err(SyncError::from)
            })
            .await?;
            Ok(if fresh {
                Outcome::Unknown
            } else {
                Outcome::Duplicate
            })
        }
    }
}
