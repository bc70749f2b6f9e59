//! `payment_intent.payment_failed`: a declined or failed attempt, kept for the dashboard's
//! failure rate and top decline codes. The order itself stays as it was: the shopper can still
//! pay the same session with another card. Unlike state changes, an attempt is a fact of the
//! past: the event's snapshot is the record of it, so it is not re-fetched.

use diesel::prelude::*;
use stripe_shared::PaymentIntent;

use super::fulfil::{self, EventRecord, FulfilError, Outcome};
use crate::db::{self, write_tx};
use crate::orders::queries;
use crate::schema::payment_failures;
use crate::web::AppState;

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
    pub fn from_intent(pi: &PaymentIntent) -> Self {
        let code = pi
            .last_payment_error
            .as_ref()
            .and_then(|e| {
                e.decline_code
                    .clone()
                    .or_else(|| e.code.as_ref().map(|c| c.as_str().to_owned()))
            })
            .unwrap_or_else(|| "unknown".into());
        Self {
            payment_intent_id: pi.id.as_str().to_owned(),
            decline_code: code,
            amount: pi.amount,
            currency: pi.currency.to_string(),
            order_number: pi.metadata.get("order_number").cloned(),
        }
    }
}

pub async fn record(
    state: &AppState,
    attempt: Attempt,
    event: EventRecord,
) -> Result<Outcome, FulfilError> {
    let now = state.clock.unix();
    db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let order_id = match &attempt.order_number {
                Some(n) => queries::by_number(conn, n)?.map(|o| o.id),
                None => None,
            };
            if !fulfil::record_event(conn, &event, order_id, "payment failed", now)? {
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
        .map_err(FulfilError::from)
    })
    .await
}
