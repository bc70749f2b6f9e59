//! Which handler an event goes to. Shared by the webhook endpoint and `storefront reconcile`.

use stripe_webhook::EventObject;

use crate::checkout::fulfil::{self, EventRecord, FulfilError, Outcome};
use crate::db::{self, DbError};
use crate::web::AppState;

/// What an event asks of us, whatever its source (a webhook or the events list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// A Checkout Session changed: bring its order up to date.
    CheckoutSession(String),
    /// A subscription changed: re-fetch it.
    Subscription(String),
    /// A payment attempt failed (declined card…): recorded for the dashboard. The event's own
    /// snapshot is the record of that attempt (the intent itself moves on to later attempts).
    PaymentFailed(crate::checkout::failures::Attempt),
    /// An invoice was paid (a subscription order) or its payment failed.
    Invoice { id: String, paid: bool },
    /// Nothing for us to do; recorded so it is never looked at again.
    Other,
}

/// The event types that move orders.
pub const HANDLED_TYPES: &[&str] = &[
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.paid",
    "invoice.payment_failed",
    "payment_intent.payment_failed",
];

impl EventKind {
    pub fn from_webhook(object: &EventObject) -> Self {
        match object {
            EventObject::CheckoutSessionCompleted(s)
            | EventObject::CheckoutSessionAsyncPaymentSucceeded(s)
            | EventObject::CheckoutSessionAsyncPaymentFailed(s)
            | EventObject::CheckoutSessionExpired(s) => {
                EventKind::CheckoutSession(s.id.as_str().to_owned())
            }
            EventObject::CustomerSubscriptionCreated(s)
            | EventObject::CustomerSubscriptionUpdated(s)
            | EventObject::CustomerSubscriptionDeleted(s) => {
                EventKind::Subscription(s.id.as_str().to_owned())
            }
            EventObject::PaymentIntentPaymentFailed(pi) => {
                EventKind::PaymentFailed(crate::checkout::failures::Attempt::from_intent(pi))
            }
            EventObject::InvoicePaid(i) => {
                i.id.as_ref()
                    .map_or(EventKind::Other, |id| EventKind::Invoice {
                        id: id.as_str().to_owned(),
                        paid: true,
                    })
            }
            EventObject::InvoicePaymentFailed(i) => {
                i.id.as_ref()
                    .map_or(EventKind::Other, |id| EventKind::Invoice {
                        id: id.as_str().to_owned(),
                        paid: false,
                    })
            }
            _ => EventKind::Other,
        }
    }

    /// From an event's type and its object's id (the events list gives untyped objects).
    pub fn from_type(type_: &str, object_id: Option<&str>) -> Self {
        let Some(id) = object_id.map(str::to_owned) else {
            return EventKind::Other;
        };
        match type_ {
            t if t.starts_with("checkout.session.") && HANDLED_TYPES.contains(&t) => {
                EventKind::CheckoutSession(id)
            }
            t if t.starts_with("customer.subscription.") && HANDLED_TYPES.contains(&t) => {
                EventKind::Subscription(id)
            }
            "invoice.paid" => EventKind::Invoice { id, paid: true },
            "payment_intent.payment_failed" => EventKind::Other,
            "invoice.payment_failed" => EventKind::Invoice { id, paid: false },
            _ => EventKind::Other,
        }
    }
}

/// Processes one verified event. Already-recorded events return `Duplicate` without any work.
pub async fn process(
    state: &AppState,
    record: EventRecord,
    kind: EventKind,
) -> Result<Outcome, FulfilError> {
    if already_processed(state, &record.id).await? {
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
        EventKind::CheckoutSession(session_id) => {
            fulfil::fulfil_checkout(state, &session_id, Some(record)).await
        }
        EventKind::Other => {
            let now = state.clock.unix();
            let fresh = db::run(&state.pool, move |conn| {
                db::write_tx(conn, |conn| {
                    fulfil::record_event(conn, &record, None, "ignored", now)
                })
                .map_err(DbError::from)
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

/// A cheap look before any Stripe call; the insert in the transaction stays the real guard.
pub async fn already_processed(state: &AppState, event_id: &str) -> Result<bool, FulfilError> {
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
