//! Talking to Stripe about refunds and disputes: creating a refund under its idempotency key,
//! and bringing refunds and dispute flags up to date from webhook events.
//!
//! Handlers re-fetch the refund or charge from Stripe rather than trust the event's snapshot,
//! and record the event id in the same transaction as their effects (as checkout events do).

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::result::Error as DieselError;
use stripe_core::charge::RetrieveCharge;
use stripe_core::refund::{CreateRefund, CreateRefundReason, ListRefund, RetrieveRefund};

use super::audit;
use super::refunds::{self, Refund, Snapshot};
use crate::checkout::fulfil::{self, EventRecord, FulfilError, Outcome};
use crate::db::{self, AnyConnection, DbError, write_tx};
use crate::orders::model::Order;
use crate::payments::PaymentError;
use crate::schema::orders;
use crate::web::AppState;

/// How asking Stripe for a refund ended.
#[derive(Debug, Clone)]
pub enum Submitted {
    /// Stripe created it; this is our row now.
    Created(Box<Refund>),
    /// Stripe refused: nothing was refunded.
    Refused(String),
    /// We don't know (timeout, 5xx): the row stays pending; retrying replays the same call.
    Unknown,
}

/// Metadata key of our refunds: `"{order number}/{refund row id}"`. One key, because the
/// client's metadata is a `HashMap`: with two keys their order, and so the request body, would
/// differ between a call and its retry, and Stripe refuses a reused key with a different body.
pub const METADATA_KEY: &str = "storefront_refund";

/// Sends the pending refund to Stripe under its idempotency key and records the answer.
/// Safe to call again for the same row (`replay`): Stripe replays the first answer for the same
/// key. A replay never marks the refund refused: the first call may still be in flight.
pub async fn submit(
    state: &AppState,
    order: &Order,
    refund: &Refund,
    actor: Option<i64>,
    replay: bool,
) -> Result<Submitted, FulfilError> {
    let (Some(key), Some(intent)) = (&refund.idempotency_key, &order.payment_intent_id) else {
        return Ok(Submitted::Refused(
            "this order has no payment to refund".into(),
        ));
    };
    let reason = match refund.reason.as_deref() {
        Some("duplicate") => CreateRefundReason::Duplicate,
        Some("fraudulent") => CreateRefundReason::Fraudulent,
        _ => CreateRefundReason::RequestedByCustomer,
    };
    // Every parameter comes from the stored row, so a retry sends an identical request.
    let req = CreateRefund::new()
        .payment_intent(intent.clone())
        .amount(refund.amount)
        .reason(reason)
        .metadata(HashMap::from([(
            METADATA_KEY.to_owned(),
            format!("{}/{}", order.number, refund.id),
        )]));
    let result = state.stripe.write(&req, key).await;
    let now = state.clock.unix();
    let (order, refund) = (order.clone(), refund.clone());
    match result {
        Ok(created) => {
            let snap = Snapshot::from(&created);
            let row = db::run(&state.pool, move |conn| {
                write_tx(conn, |conn| {
                    refunds::lock_order(conn, order.id)?;
                    let row = refunds::apply_snapshot(conn, &order, &snap, actor, now)?;
                    audit::record(
                        conn,
                        audit::Event {
                            actor,
                            action: audit::REFUND_RESULT,
                            order_id: Some(order.id),
                            subject_user_id: None,
                            details: format!(
                                "Stripe accepted refund {} of {}: {}",
                                snap.id,
                                crate::money::Money::new(snap.amount, order.currency()),
                                row.status
                            ),
                        },
                        now,
                    )?;
                    Ok::<_, DieselError>(row)
                })
                .map_err(DbError::from)
            })
            .await?;
            Ok(Submitted::Created(Box::new(row)))
        }
        Err(e) if e.nothing_created() && !replay => {
            let message = match &e {
                PaymentError::Refused { message, .. } => message.clone(),
                other => other.to_string(),
            };
            let m = message.clone();
            db::run(&state.pool, move |conn| {
                write_tx(conn, |conn| {
                    refunds::lock_order(conn, order.id)?;
                    refunds::mark_refused(conn, &refund, &m, actor, now)
                })
                .map_err(DbError::from)
            })
            .await?;
            Ok(Submitted::Refused(message))
        }
        Err(e) => {
            tracing::warn!(order = %order.number, refund = refund.id, error = %e, "refund outcome unknown; kept pending");
            db::run(&state.pool, move |conn| {
                write_tx(conn, |conn| {
                    audit::record(
                        conn,
                        audit::Event {
                            actor,
                            action: audit::REFUND_RESULT,
                            order_id: Some(order.id),
                            subject_user_id: None,
                            details: format!("Stripe's answer is unknown ({e}); kept pending"),
                        },
                        now,
                    )
                })
                .map_err(DbError::from)
            })
            .await?;
            Ok(Submitted::Unknown)
        }
    }
}

fn order_by_intent(conn: &mut AnyConnection, intent: &str) -> QueryResult<Option<Order>> {
    orders::table
        .filter(orders::payment_intent_id.eq(intent))
        .order(orders::id.asc())
        .select(Order::as_select())
        .first(conn)
        .optional()
}

/// Records the event (if any) against the order; false when it was processed before.
fn record(
    conn: &mut AnyConnection,
    event: Option<&EventRecord>,
    order_id: Option<i64>,
    outcome: &str,
    now: i64,
) -> Result<bool, DieselError> {
    match event {
        Some(ev) => fulfil::record_event(conn, ev, order_id, outcome, now),
        None => Ok(true),
    }
}

/// Applies Stripe's current view of some refunds (all of one payment) in one transaction.
async fn apply_all(
    state: &AppState,
    snaps: Vec<Snapshot>,
    intent: Option<String>,
    event: Option<EventRecord>,
) -> Result<Outcome, FulfilError> {
    let now = state.clock.unix();
    db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let order = match &intent {
                Some(pi) => order_by_intent(conn, pi)?,
                None => None,
            };
            let Some(order) = order else {
                return Ok(
                    if record(conn, event.as_ref(), None, "unknown refund", now)? {
                        Outcome::Unknown
                    } else {
                        Outcome::Duplicate
                    },
                );
            };
            refunds::lock_order(conn, order.id)?;
            if !record(conn, event.as_ref(), Some(order.id), "refund", now)? {
                return Ok(Outcome::Duplicate);
            }
            for snap in &snaps {
                refunds::apply_snapshot(conn, &order, snap, None, now)?;
            }
            let status = crate::orders::queries::by_id(conn, order.id)?.status();
            Ok::<_, DieselError>(Outcome::Order {
                number: order.number,
                status,
            })
        })
        .map_err(FulfilError::from)
    })
    .await
}

/// `refund.created`, `refund.updated`, `refund.failed`, `charge.refund.updated`.
pub async fn refund_event(
    state: &AppState,
    refund_id: &str,
    event: Option<EventRecord>,
) -> Result<Outcome, FulfilError> {
    let refund = state.stripe.read(&RetrieveRefund::new(refund_id)).await?;
    let snap = Snapshot::from(&refund);
    let intent = snap.payment_intent.clone();
    apply_all(state, vec![snap], intent, event).await
}

/// `charge.refunded`: every refund of the charge, as Stripe lists them now.
pub async fn charge_refunded(
    state: &AppState,
    charge_id: &str,
    event: Option<EventRecord>,
) -> Result<Outcome, FulfilError> {
    let charge = state.stripe.read(&RetrieveCharge::new(charge_id)).await?;
    let intent = charge
        .payment_intent
        .as_ref()
        .map(|p| p.id().as_str().to_owned());
    let list = state
        .stripe
        .read(&ListRefund::new().charge(charge_id).limit(100))
        .await?;
    let snaps = list.data.iter().map(Snapshot::from).collect();
    apply_all(state, snaps, intent, event).await
}

/// `charge.dispute.created`: flags the order of the disputed charge.
pub async fn dispute_created(
    state: &AppState,
    charge_id: Option<&str>,
    event: Option<EventRecord>,
) -> Result<Outcome, FulfilError> {
    let charge = match charge_id {
        Some(id) => Some(state.stripe.read(&RetrieveCharge::new(id)).await?),
        None => None,
    };
    let intent = charge.as_ref().and_then(|c| {
        c.payment_intent
            .as_ref()
            .map(|p| p.id().as_str().to_owned())
    });
    let disputed = charge.as_ref().is_some_and(|c| c.disputed);
    let now = state.clock.unix();
    db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let order = match &intent {
                Some(pi) => order_by_intent(conn, pi)?,
                None => None,
            };
            let Some(order) = order.filter(|_| disputed) else {
                return Ok(
                    if record(conn, event.as_ref(), None, "unknown dispute", now)? {
                        Outcome::Unknown
                    } else {
                        Outcome::Duplicate
                    },
                );
            };
            if !record(conn, event.as_ref(), Some(order.id), "disputed", now)? {
                return Ok(Outcome::Duplicate);
            }
            let flagged = diesel::update(
                orders::table
                    .filter(orders::id.eq(order.id))
                    .filter(orders::disputed.eq(false)),
            )
            .set((orders::disputed.eq(true), orders::updated_at.eq(now)))
            .execute(conn)?;
            if flagged > 0 {
                audit::record(
                    conn,
                    audit::Event {
                        actor: None,
                        action: audit::DISPUTE_OPENED,
                        order_id: Some(order.id),
                        subject_user_id: None,
                        details: "the customer disputed the payment with their bank".into(),
                    },
                    now,
                )?;
            }
            let status = order.status();
            Ok::<_, DieselError>(Outcome::Order {
                number: order.number,
                status,
            })
        })
        .map_err(FulfilError::from)
    })
    .await
}
