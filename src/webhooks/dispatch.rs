//! Which handler an event goes to. Shared by the webhook endpoint and `storefront reconcile`.

use stripe_webhook::EventObject;

use super::{checkout_session_of, record_only};
use crate::checkout::fulfil::{self, EventRecord, FulfilError, Outcome};
use crate::db::{self, DbError};
use crate::web::AppState;

/// Processes one verified event. Already-recorded events return `Duplicate` without any work.
pub async fn process(state: &AppState, record: EventRecord, object: EventObject) -> Result<Outcome, FulfilError> {
    if already_processed(state, &record.id).await? {
        return Ok(Outcome::Duplicate);
    }
    match checkout_session_of(&object) {
        Some(session_id) => fulfil::fulfil_checkout(state, &session_id, Some(record)).await,
        None => record_only(state, record).await,
    }
}

/// A cheap look before any Stripe call; the insert in the transaction stays the real guard.
async fn already_processed(state: &AppState, event_id: &str) -> Result<bool, FulfilError> {
    use diesel::prelude::*;

    use crate::schema::stripe_events;
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
