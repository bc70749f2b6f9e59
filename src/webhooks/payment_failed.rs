//! `payment_intent.payment_failed`: a payment attempt was declined. Nothing about the order
//! changes (the shopper may try another card in the same Checkout Session; the session's own
//! events settle the order), but the event is recorded like any other and the decline is counted
//! by its code, once per event.

use diesel::prelude::*;
use stripe_shared::PaymentIntent;

use crate::checkout::fulfil::{self, EventRecord, FulfilError, Outcome};
use crate::db::{self, DbError, write_tx};
use crate::orders::model::Order;
use crate::orders::queries;
use crate::schema::orders;
use crate::web::AppState;

/// What a failed PaymentIntent tells us: its id, the decline (or error) code, our order number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub intent_id: String,
    /// `None` when only the id is known (an event from the events list): re-fetched then.
    pub decline_code: Option<String>,
    pub order_number: Option<String>,
}

impl Failure {
    pub fn from_intent(pi: &PaymentIntent) -> Self {
        Self {
            intent_id: pi.id.as_str().to_owned(),
            decline_code: Some(decline_code(pi)),
            order_number: pi.metadata.get("order_number").cloned(),
        }
    }
}

/// `last_payment_error.decline_code`, else its error code (`card_declined`,
/// `payment_intent_authentication_failure`), else `unknown`.
pub fn decline_code(pi: &PaymentIntent) -> String {
    pi.last_payment_error
        .as_ref()
        .and_then(|e| {
            e.decline_code
                .clone()
                .or_else(|| e.code.as_ref().map(|c| c.as_str().to_owned()))
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

pub async fn process(
    state: &AppState,
    record: EventRecord,
    failure: Failure,
) -> Result<Outcome, FulfilError> {
    let failure = match failure.decline_code {
        Some(_) => failure,
        None => {
            let req =
                stripe_core::payment_intent::RetrievePaymentIntent::new(failure.intent_id.as_str());
            Failure::from_intent(&state.stripe.read(&req).await?)
        }
    };
    let code = failure.decline_code.clone().unwrap_or_default();
    let now = state.clock.unix();
    let label = format!("payment failed: {code}");
    let (fresh, order) = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let order: Option<Order> = match &failure.order_number {
                Some(number) => queries::by_number(conn, number)?,
                None => orders::table
                    .filter(orders::payment_intent_id.eq(&failure.intent_id))
                    .select(Order::as_select())
                    .first(conn)
                    .optional()?,
            };
            let fresh =
                fulfil::record_event(conn, &record, order.as_ref().map(|o| o.id), &label, now)?;
            Ok::<_, diesel::result::Error>((fresh, order))
        })
        .map_err(DbError::from)
    })
    .await?;
    if !fresh {
        return Ok(Outcome::Duplicate);
    }
    state.metrics.payment_failed(&code);
    Ok(match order {
        Some(o) => Outcome::Order {
            status: o.status(),
            number: o.number,
        },
        None => Outcome::Unknown,
    })
}
