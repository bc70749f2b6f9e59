//! `payment_intent.payment_failed`: a declined or failed attempt, kept for the dashboard's
//! failure rate and top decline codes. The order itself stays as it was: the shopper can still
//! pay the same session with another card.

use diesel::prelude::*;
use stripe_core::payment_intent::RetrievePaymentIntent;

use super::fulfil::{self, EventRecord, FulfilError, Outcome};
use crate::db::{self, write_tx};
use crate::orders::queries;
use crate::schema::payment_failures;
use crate::web::AppState;

pub async fn record(
    state: &AppState,
    payment_intent_id: &str,
    event: EventRecord,
) -> Result<Outcome, FulfilError> {
    // The event's snapshot may be stale; the decline code of this attempt is on the intent.
    let intent = state
        .stripe
        .read(&RetrievePaymentIntent::new(payment_intent_id))
        .await?;
    let code = intent
        .last_payment_error
        .as_ref()
        .and_then(|e| {
            e.decline_code
                .clone()
                .or_else(|| e.code.as_ref().map(|c| c.as_str().to_owned()))
        })
        .unwrap_or_else(|| "unknown".into());
    let number = intent.metadata.get("order_number").cloned();
    let (pi, amount, currency, now) = (
        payment_intent_id.to_owned(),
        intent.amount,
        intent.currency.to_string(),
        state.clock.unix(),
    );
    db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let order_id = match &number {
                Some(n) => queries::by_number(conn, n)?.map(|o| o.id),
                None => None,
            };
            if !fulfil::record_event(conn, &event, order_id, "payment failed", now)? {
                return Ok::<_, diesel::result::Error>(Outcome::Duplicate);
            }
            diesel::insert_into(payment_failures::table)
                .values((
                    payment_failures::event_id.eq(&event.id),
                    payment_failures::payment_intent_id.eq(&pi),
                    payment_failures::order_id.eq(order_id),
                    payment_failures::decline_code.eq(&code),
                    payment_failures::amount.eq(amount),
                    payment_failures::currency.eq(&currency),
                    payment_failures::created_at.eq(now),
                ))
                .execute(conn)?;
            Ok(Outcome::PaymentFailed { decline_code: code })
        })
        .map_err(FulfilError::from)
    })
    .await
}
