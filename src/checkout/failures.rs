//! `payment_intent.payment_failed`: a declined or failed attempt, kept for the dashboard's
//! failure rate and top decline codes. The order itself stays as it was: the shopper can still
//! pay the same session with another card. Unlike state changes, an attempt is a fact of the
//! past: the event's snapshot is the record of it, so it is not re-fetched.

use diesel::prelude::*;
use serde_json::Value;

use crate::db::{self, write_tx};
use crate::error::SyncError;
use crate::orders::queries;
use crate::schema::payment_failures;
use crate::state::AppState;
use crate::webhooks::ledger::{self, EventRecord, Outcome};

/// One failed attempt, as its event describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub payment_intent_id: String,
    pub decline_code: String,
    pub amount: i64,
    pub currency: String,
    pub order_number: Option<String>,
}

impl Attempt {
    /// From the event's PaymentIntent snapshot (its `data.object`).
    pub fn from_object(intent: &Value) -> Self {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
        let error = intent.get("last_payment_error");
        let code = text(error.and_then(|e| e.get("decline_code")))
            .or_else(|| text(error.and_then(|e| e.get("code"))))
            .unwrap_or_else(|| "unknown".into());
        Self {
            payment_intent_id: text(intent.get("id")).unwrap_or_default(),
            decline_code: code,
            amount: intent.get("amount").and_then(Value::as_i64).unwrap_or(0),
            currency: text(intent.get("currency")).unwrap_or_default(),
            order_number: text(intent.get("metadata").and_then(|m| m.get("order_number"))),
        }
    }
}

pub async fn record(
    state: &AppState,
    attempt: Attempt,
    event: EventRecord,
) -> Result<Outcome, SyncError> {
    let now = state.clock.unix();
    db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let order_id = match &attempt.order_number {
                Some(n) => queries::by_number(conn, n)?.map(|o| o.id),
                None => None,
            };
            if !ledger::record(conn, &event, order_id, "payment failed", now)? {
                return Ok::<_, diesel::result::Error>(Outcome::Duplicate);
            }
            diesel::insert_into(payment_failures::table)
                .values((
                    payment_failures::event_id.eq(&event.id),
                    payment_failures::payment_intent_id.eq(&attempt.payment_intent_id),
                    payment_failures::order_id.eq(order_id),
                    payment_failures::decline_code.eq(&attempt.decline_code),
                    payment_failures::amount.eq(attempt.amount),
                    payment_failures::currency.eq(&attempt.currency),
                    payment_failures::created_at.eq(now),
                ))
                .execute(conn)?;
            Ok(Outcome::PaymentFailed {
                decline_code: attempt.decline_code.clone(),
            })
        })
        .map_err(SyncError::from)
    })
    .await
}
