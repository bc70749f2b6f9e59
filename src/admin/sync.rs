//! Talking to Stripe about refunds and disputes: creating a refund under its idempotency key,
//! and bringing refunds and dispute flags up to date from webhook events.
//!
//! Handlers re-fetch the refund or charge from Stripe rather than trust the event's snapshot,
//! and record the event id in the same transaction as their effects (as checkout events do).

use diesel::prelude::*;
use diesel::result::Error as DieselError;

use super::audit;
use super::refunds::{self, Refund, Snapshot};
use crate::db::{self, AnyConnection, DbError, write_tx};
use crate::error::SyncError;
use crate::orders::model::Order;
use crate::payments::PaymentError;
use crate::payments::refunds::{self as stripe_refunds, NewRefund};
use crate::schema::{disputes, orders};
use crate::state::AppState;
use crate::webhooks::ledger::{self, EventRecord, Outcome};

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

/// Sends the pending refund to Stripe under its idempotency key and records the answer.
/// Safe to call again for the same row (`replay`): Stripe replays the first answer for the same
/// key. A replay never marks the refund refused: the first call may still be in flight.
pub async fn submit(
    state: &AppState,
    order: &Order,
    refund: &Refund,
    actor: Option<i64>,
    replay: bool,
) -> Result<Submitted, SyncError> {
    let (Some(key), Some(intent)) = (&refund.idempotency_key, &order.payment_intent_id) else {
        return Ok(Submitted::Refused(
            "this order has no payment to refund".into(),
        ));
    };
    // Every parameter comes from the stored row, so a retry sends an identical request.
    let result = stripe_refunds::create(
        &state.stripe,
        NewRefund {
            payment_intent: intent,
            amount: refund.amount,
            reason: refund.reason.as_deref(),
            reference: format!("{}/{}", order.number, refund.id),
            idempotency_key: key,
        },
    )
    .await;
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
                        audit::Event::order(
                            actor,
                            audit::REFUND_RESULT,
                            order.id,
                            format!(
                                "Stripe accepted refund {} of {}: {}",
                                snap.id,
                                crate::money::Money::new(snap.amount, order.currency()),
                                row.status
                            ),
                        ),
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
            tracing::warn!(order = %order.number, refund = refund.id, error = %crate::error::Report(&e), "refund outcome unknown; kept pending");
            db::run(&state.pool, move |conn| {
                write_tx(conn, |conn| {
                    audit::record(
                        conn,
                        audit::Event::order(
                            actor,
                            audit::REFUND_RESULT,
                            order.id,
                            format!("Stripe's answer is unknown ({e}); kept pending"),
                        ),
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
        Some(ev) => ledger::record(conn, ev, order_id, outcome, now),
        None => Ok(true),
    }
}

/// Applies Stripe's current view of some refunds (all of one payment) in one transaction.
async fn apply_all(
    state: &AppState,
    snaps: Vec<Snapshot>,
    intent: Option<String>,
    event: Option<EventRecord>,
) -> Result<Outcome, SyncError> {
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
        .map_err(SyncError::from)
    })
    .await
}

/// `refund.created`, `refund.updated`, `refund.failed`, `charge.refund.updated`.
pub async fn refund_event(
    state: &AppState,
    refund_id: &str,
    event: Option<EventRecord>,
) -> Result<Outcome, SyncError> {
    let refund = stripe_refunds::retrieve(&state.stripe, refund_id).await?;
    let snap = Snapshot::from(&refund);
    let intent = snap.payment_intent.clone();
    apply_all(state, vec![snap], intent, event).await
}

/// `charge.refunded`: every refund of the charge, as Stripe lists them now.
pub async fn charge_refunded(
    state: &AppState,
    charge_id: &str,
    event: Option<EventRecord>,
) -> Result<Outcome, SyncError> {
    let charge = stripe_refunds::charge(&state.stripe, charge_id).await?;
    let intent = charge
        .payment_intent
        .as_ref()
        .map(|p| p.id().as_str().to_owned());
    let list = stripe_refunds::of_charge(&state.stripe, charge_id).await?;
    let snaps = list.iter().map(Snapshot::from).collect();
    apply_all(state, snaps, intent, event).await
}

/// A dispute event (opened, updated, funds withdrawn or reinstated, closed): the dispute is read
/// from Stripe, whatever the event said, and its status, reason, evidence due date and the
/// money it moved are kept on its order (marked disputed; each change of status audited).
pub async fn dispute_event(
    state: &AppState,
    dispute_id: &str,
    event: Option<EventRecord>,
) -> Result<Outcome, SyncError> {
    let dispute = crate::payments::disputes::retrieve(&state.stripe, dispute_id).await?;
    let (withdrawn, reinstated, fees) = crate::payments::disputes::money_moved(&dispute);
    let row = DisputeRow {
        id: dispute.id.as_str().to_owned(),
        charge_id: dispute.charge.id().as_str().to_owned(),
        intent: dispute
            .payment_intent
            .as_ref()
            .map(|p| p.id().as_str().to_owned()),
        amount: dispute.amount,
        currency: dispute.currency.to_string(),
        reason: dispute.reason.clone(),
        status: dispute.status.as_str().to_owned(),
        evidence_due_by: dispute.evidence_details.due_by,
        withdrawn,
        reinstated,
        fees,
    };
    // Its money as it left (and came back to) the balance, for the accountant's net.
    let txns: Vec<crate::payments::balance::Txn> = dispute
        .balance_transactions
        .iter()
        .map(crate::payments::balance::Txn::from)
        .collect();
    let now = state.clock.unix();
    db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let order = match &row.intent {
                Some(pi) => order_by_intent(conn, pi)?,
                None => None,
            };
            let Some(order) = order else {
                return Ok(
                    if record(conn, event.as_ref(), None, "unknown dispute", now)? {
                        Outcome::Unknown
                    } else {
                        Outcome::Duplicate
                    },
                );
            };
            // One dispute's events (and instances) take turns: the first inserts, the rest update.
            super::refunds::lock_order(conn, order.id)?;
            let outcome = format!("dispute {}", row.status.replace('_', " "));
            if !record(conn, event.as_ref(), Some(order.id), &outcome, now)? {
                return Ok(Outcome::Duplicate);
            }
            crate::balance::record(conn, order.id, &txns, now)?;
            let before: Option<String> = disputes::table
                .find(&row.id)
                .select(disputes::status)
                .first(conn)
                .optional()?;
            // A read made before a later one committed cannot reopen a closed dispute.
            if before.as_deref().is_some_and(closed) && !closed(&row.status) {
                let status = order.status();
                return Ok(Outcome::Order {
                    number: order.number,
                    status,
                });
            }
            let values = (
                disputes::order_id.eq(Some(order.id)),
                disputes::charge_id.eq(&row.charge_id),
                disputes::amount.eq(row.amount),
                disputes::currency.eq(&row.currency),
                disputes::reason.eq(&row.reason),
                disputes::status.eq(&row.status),
                disputes::evidence_due_by.eq(row.evidence_due_by),
                disputes::withdrawn.eq(row.withdrawn),
                disputes::reinstated.eq(row.reinstated),
                disputes::fees.eq(row.fees),
                disputes::updated_at.eq(now),
            );
            if before.is_none() {
                diesel::insert_into(disputes::table)
                    .values((
                        disputes::id.eq(&row.id),
                        values,
                        disputes::created_at.eq(now),
                    ))
                    .execute(conn)?;
            } else {
                diesel::update(disputes::table.find(&row.id))
                    .set(values)
                    .execute(conn)?;
            }
            diesel::update(
                orders::table
                    .filter(orders::id.eq(order.id))
                    .filter(orders::disputed.eq(false)),
            )
            .set((orders::disputed.eq(true), orders::updated_at.eq(now)))
            .execute(conn)?;
            if before.as_deref() != Some(row.status.as_str()) {
                let what = match &before {
                    None => format!(
                        "the customer disputed {} with their bank ({}); status {}",
                        crate::money::Money::new(
                            row.amount,
                            crate::money::Currency::parse(&row.currency)
                                .unwrap_or(order.currency())
                        ),
                        row.reason.replace('_', " "),
                        row.status.replace('_', " ")
                    ),
                    Some(_) => format!("dispute {}", row.status.replace('_', " ")),
                };
                let action = if before.is_none() {
                    audit::DISPUTE_OPENED
                } else {
                    audit::DISPUTE_CHANGED
                };
                audit::record(conn, audit::Event::order(None, action, order.id, what), now)?;
            }
            let status = order.status();
            Ok::<_, DieselError>(Outcome::Order {
                number: order.number,
                status,
            })
        })
        .map_err(SyncError::from)
    })
    .await
}

/// Whether Stripe's dispute status is final.
fn closed(status: &str) -> bool {
    matches!(status, "won" | "lost" | "warning_closed" | "prevented")
}

/// What the shop keeps of a dispute.
struct DisputeRow {
    id: String,
    charge_id: String,
    intent: Option<String>,
    amount: i64,
    currency: String,
    reason: String,
    status: String,
    evidence_due_by: Option<i64>,
    withdrawn: i64,
    reinstated: i64,
    fees: i64,
}
