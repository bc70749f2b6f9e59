//! `fulfil_checkout`: the only way an order becomes paid.
//!
//! Called by the webhook and by the success page, in either order and any number of times. It
//! asks Stripe what really happened to the session (event snapshots can be stale and arrive out
//! of order), checks the session against the order, and moves the order forward in one
//! transaction with conditional updates, so whichever call comes second finds nothing to do.

use diesel::prelude::*;
use diesel::result::Error as DieselError;
use stripe_shared::{
    CheckoutSession, CheckoutSessionItem, CheckoutSessionMode, CheckoutSessionPaymentStatus,
    CheckoutSessionStatus, PaymentIntentStatus,
};

use super::breakdown::{self, Breakdown, Expectations};
use crate::db::{self, AnyConnection, DbError, write_tx};
use crate::error::SyncError;
use crate::inventory;
use crate::mail::messages::{self, OrderEvent};
use crate::mail::outbox;
use crate::orders::model::Order;
use crate::orders::queries;
use crate::orders::status::OrderStatus;
use crate::orders::transition;
use crate::payments::checkout as sessions;
use crate::schema::{order_items, orders};
use crate::state::AppState;
use crate::webhooks::ledger::{self, EventRecord, Outcome};

/// What Stripe says the order should become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Paid,
    Processing,
    PaymentFailed,
    Expired,
    /// Still open: nothing to do yet.
    Open,
}

fn target(session: &CheckoutSession) -> Target {
    match session.status {
        Some(CheckoutSessionStatus::Expired) => Target::Expired,
        Some(CheckoutSessionStatus::Complete) => match session.payment_status {
            CheckoutSessionPaymentStatus::Paid
            | CheckoutSessionPaymentStatus::NoPaymentRequired => Target::Paid,
            _ => {
                let intent_status = session
                    .payment_intent
                    .as_ref()
                    .and_then(|pi| pi.as_object())
                    .map(|pi| &pi.status);
                match intent_status {
                    Some(PaymentIntentStatus::Succeeded) => Target::Paid,
                    Some(
                        PaymentIntentStatus::Canceled | PaymentIntentStatus::RequiresPaymentMethod,
                    ) => Target::PaymentFailed,
                    _ => Target::Processing,
                }
            }
        },
        _ => Target::Open,
    }
}

/// Why the session cannot be trusted for this order, if it cannot; for a completed session, the
/// breakdown of what was paid. An open session's total can still change (a promotion code
/// entered on the payment page), so until completion only our items' subtotal must match.
fn check_session(
    conn: &mut AnyConnection,
    order: &Order,
    session: &CheckoutSession,
    lines: Option<&[CheckoutSessionItem]>,
    livemode: bool,
) -> Result<Result<Option<Breakdown>, String>, DieselError> {
    if session.client_reference_id.as_deref() != Some(order.number.as_str()) {
        return Ok(Err(format!(
            "session reference {:?} is not the order number",
            session.client_reference_id
        )));
    }
    let currency = session.currency.as_ref().map(|c| c.to_string());
    if currency.as_deref() != Some(order.currency.as_str()) {
        return Ok(Err(format!(
            "session currency {currency:?} differs from the order's {}",
            order.currency
        )));
    }
    if session.livemode != livemode {
        return Ok(Err(format!(
            "session livemode {} differs from ours ({livemode})",
            session.livemode
        )));
    }
    let Some(lines) = lines else {
        if session.amount_subtotal != Some(order.amount_subtotal) {
            return Ok(Err(format!(
                "session subtotal {:?} differs from the order's items ({})",
                session.amount_subtotal, order.amount_subtotal
            )));
        }
        return Ok(Ok(None));
    };
    let items = queries::items(conn, order)?;
    let offered = crate::shipping::offer::for_order(conn, order.id)?;
    // The order's own setting: the one its session was asked for, whatever it is now.
    let expect = Expectations {
        tax: order.tax().is_on(),
        inclusive: order.tax() == crate::config::TaxSetting::Inclusive,
        shipping: &offered,
    };
    Ok(breakdown::check(order, &items, session, lines, expect).map(Some))
}

/// Stores what was paid, line by line (the same values however often a session is checked).
fn store_breakdown(
    conn: &mut AnyConnection,
    order_id: i64,
    b: &Breakdown,
) -> Result<(), DieselError> {
    diesel::update(orders::table.find(order_id))
        .set((
            orders::amount_total.eq(b.total),
            orders::amount_discount.eq(b.discount),
            orders::amount_shipping.eq(b.shipping),
            orders::amount_tax_exclusive.eq(b.tax_exclusive),
            orders::amount_tax_inclusive.eq(b.tax_inclusive),
            orders::discount_label.eq(&b.discount_label),
        ))
        .execute(conn)?;
    let ids: Vec<i64> = order_items::table
        .filter(order_items::order_id.eq(order_id))
        .order(order_items::id.asc())
        .select(order_items::id)
        .load(conn)?;
    for (id, share) in ids.into_iter().zip(&b.lines) {
        diesel::update(order_items::table.find(id))
            .set((
                order_items::amount_discount.eq(share.discount),
                order_items::amount_tax.eq(share.tax),
                order_items::amount_paid.eq(share.paid),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Where a completed session's order goes: the address and phone Checkout collected, with the
/// rate chosen. `None` when Checkout collected no address (nothing physical in the order).
fn shipping_snapshot(
    order_id: i64,
    session: &CheckoutSession,
    b: &Breakdown,
) -> Option<crate::shipping::address::OrderShipping> {
    let details = session
        .collected_information
        .as_ref()
        .and_then(|c| c.shipping_details.as_ref())?;
    let a = &details.address;
    let choice = b.shipping_choice.as_ref();
    Some(crate::shipping::address::OrderShipping {
        order_id,
        name: details.name.clone(),
        line1: a.line1.clone(),
        line2: a.line2.clone(),
        city: a.city.clone(),
        state: a.state.clone(),
        postal_code: a.postal_code.clone(),
        country: a.country.clone().unwrap_or_default(),
        phone: session
            .customer_details
            .as_ref()
            .and_then(|d| d.phone.clone()),
        rate_id: choice.and_then(|c| c.rate_id.clone()),
        rate_name: choice.map(|c| c.name.clone()),
        amount: b.shipping,
        amount_tax: choice.map_or(0, |c| c.tax),
    })
}

/// Brings the order of `session_id` up to date with Stripe.
pub async fn fulfil_checkout(
    state: &AppState,
    session_id: &str,
    event: Option<EventRecord>,
) -> Result<Outcome, SyncError> {
    let mut session = sessions::retrieve_for_fulfilment(&state.stripe, session_id).await?;
    // A completed payment session's amounts are final: its lines say how they were reached.
    // They came with the session unless there are more than one page of them.
    let included = session.line_items.take();
    let lines = match (session.status.as_ref(), &session.mode) {
        (Some(CheckoutSessionStatus::Complete), CheckoutSessionMode::Payment) => {
            Some(match included.filter(|l| !l.has_more) {
                Some(first_page) => first_page.data,
                None => sessions::line_items(&state.stripe, session_id).await?,
            })
        }
        _ => None,
    };
    // Stripe's fee, when the charge has succeeded: kept with the order as it is paid.
    let charged = crate::payments::balance::of_session(&session);
    let livemode = state.stripe.livemode;
    let now = state.clock.unix();
    let (outcome, moved) = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            apply(
                conn,
                &session,
                lines.as_deref(),
                charged.as_ref(),
                livemode,
                event.as_ref(),
                now,
            )
        })
        .map_err(SyncError::from)
    })
    .await?;
    if let Some(status) = moved {
        state.metrics.order_status(status.as_str());
        // Released holds show as stock on this instance's pages at once.
        if matches!(status, OrderStatus::Expired | OrderStatus::PaymentFailed) {
            state.catalogue.invalidate();
        }
    }
    if let Outcome::Flagged { number, reason } = &outcome {
        tracing::error!(order = %number, %reason, "checkout session does not match its order; not fulfilled");
    }
    Ok(outcome)
}

// The session as read, with what came in the same call; the rest is the event's context.
#[allow(clippy::too_many_arguments)]
fn apply(
    conn: &mut AnyConnection,
    session: &CheckoutSession,
    lines: Option<&[CheckoutSessionItem]>,
    charged: Option<&crate::payments::balance::Charged>,
    livemode: bool,
    event: Option<&EventRecord>,
    now: i64,
) -> Result<(Outcome, Option<OrderStatus>), DieselError> {
    let order = match queries::by_session(conn, session.id.as_str())? {
        Some(o) => Some(o),
        // The session may be ours before we stored its id (a timed-out create): match the reference,
        // but only to an order that has no other session.
        None => match &session.client_reference_id {
            Some(number) => {
                queries::by_number(conn, number)?.filter(|o| o.checkout_session_id.is_none())
            }
            None => None,
        },
    };
    let Some(order) = order else {
        if let Some(ev) = event
            && !ledger::record(conn, ev, None, "unknown session", now)?
        {
            return Ok((Outcome::Duplicate, None));
        }
        return Ok((Outcome::Unknown, None));
    };

    let target = target(session);
    let outcome_label = format!("{target:?}").to_lowercase();
    if let Some(ev) = event
        && !ledger::record(conn, ev, Some(order.id), &outcome_label, now)?
    {
        // The insert conflicted: this event's effects are already committed. Roll back nothing
        // of ours; there is nothing else in this transaction.
        return Ok((Outcome::Duplicate, None));
    }

    // A paid order's breakdown was checked and stored when it was paid; refunds are computed
    // from it. A late or repeated event finds nothing more to learn from the lines.
    let lines = lines.filter(|_| !order.status().is_paid());
    let breakdown = match check_session(conn, &order, session, lines, livemode)? {
        Ok(b) => b,
        Err(reason) => return flag(conn, order, reason, now),
    };
    if let Some(b) = &breakdown {
        store_breakdown(conn, order.id, b)?;
        if let Some(snapshot) = shipping_snapshot(order.id, session, b) {
            crate::shipping::address::store_once(conn, &snapshot)?;
        }
    }

    // A late-stored session id, the payment intent and the e-mail Stripe collected.
    let intent_id = session
        .payment_intent
        .as_ref()
        .map(|pi| pi.id().as_str().to_owned());
    let email = session
        .customer_details
        .as_ref()
        .and_then(|d| d.email.as_deref())
        .map(crate::accounts::model::normalize_email);
    let intent_id = intent_id.or(order.payment_intent_id.clone());
    diesel::update(orders::table.find(order.id))
        .set((
            orders::checkout_session_id.eq(session.id.as_str()),
            orders::payment_intent_id.eq(&intent_id),
            orders::email.eq(order.email.clone().or(email)),
        ))
        .execute(conn)?;

    // The status the order moved to in this call, for the metrics (counted after the commit).
    let mut moved = None;
    match target {
        Target::Open => {}
        Target::Paid => {
            if transition::by_payment(conn, order.id, OrderStatus::Paid, now)? {
                diesel::update(orders::table.find(order.id))
                    .set(orders::paid_at.eq(now))
                    .execute(conn)?;
                // Keys are taken before the receipt is written, so it carries them.
                let pending = crate::digital::keys::assign(conn, order.id, now)?;
                if pending > 0 {
                    tracing::warn!(order = %order.number, pending, "paid, but the licence key pool ran out: keys pending");
                }
                queue_receipt(conn, order.id, OrderEvent::Paid, now)?;
                // The charge has succeeded (a bank debit only now): Stripe's fee came with the
                // session, or is read later.
                match (charged, &intent_id) {
                    (Some(c), _) => crate::balance::record_charge(conn, order.id, c, now)?,
                    (None, Some(intent)) => crate::balance::queue(conn, intent, order.id, now)?,
                    (None, None) => {}
                }
                crate::recovery::mark_recovered(conn, order.id, now)?;
                moved = Some(OrderStatus::Paid);
            }
            commit_stock_once(conn, &order, now)?;
            crate::shipping::status::recompute(conn, order.id)?;
        }
        Target::Processing => {
            if transition::by_payment(conn, order.id, OrderStatus::Processing, now)? {
                moved = Some(OrderStatus::Processing);
            }
        }
        Target::PaymentFailed => {
            if transition::by_payment(conn, order.id, OrderStatus::PaymentFailed, now)? {
                inventory::release(conn, order.id, now)?;
                queue_receipt(conn, order.id, OrderEvent::PaymentFailed, now)?;
                moved = Some(OrderStatus::PaymentFailed);
            }
        }
        Target::Expired => {
            if expire_order(conn, order.id, now)? {
                // The session ran out unpaid: abandoned, so a consenting shopper may hear of it.
                crate::recovery::schedule(conn, order.id, now)?;
                moved = Some(OrderStatus::Expired);
            }
        }
    }
    let status = queries::by_id(conn, order.id)?.status();
    Ok((
        Outcome::Order {
            number: order.number,
            status,
        },
        moved,
    ))
}

/// Marks the order for an admin (once) and leaves it as it is.
fn flag(
    conn: &mut AnyConnection,
    order: Order,
    reason: String,
    now: i64,
) -> Result<(Outcome, Option<OrderStatus>), DieselError> {
    if order.flagged.is_none() {
        diesel::update(orders::table.find(order.id))
            .set((orders::flagged.eq(&reason), orders::updated_at.eq(now)))
            .execute(conn)?;
    }
    Ok((
        Outcome::Flagged {
            number: order.number,
            reason,
        },
        None,
    ))
}

/// Queues the mail for an order's change in the caller's transaction (once per event).
pub fn queue_receipt(
    conn: &mut AnyConnection,
    order_id: i64,
    event: OrderEvent,
    now: i64,
) -> Result<(), DieselError> {
    if let Some(mail) = messages::order_mail(conn, order_id, event)? {
        outbox::enqueue(conn, &mail, now)?;
    }
    Ok(())
}

/// Takes the paid order's stock off the shelf, exactly once whatever calls race here.
fn commit_stock_once(conn: &mut AnyConnection, order: &Order, now: i64) -> Result<(), DieselError> {
    let first = diesel::update(
        orders::table
            .filter(orders::id.eq(order.id))
            .filter(orders::stock_committed.eq(false)),
    )
    .set(orders::stock_committed.eq(true))
    .execute(conn)?;
    if first == 0 {
        return Ok(());
    }
    // Lines without a variant (an invoice's plan) hold no stock.
    let lines: Vec<(i64, i64)> = queries::items(conn, order)?
        .iter()
        .filter_map(|i| i.variant_id.map(|v| (v, i.quantity)))
        .collect();
    let short = inventory::commit(conn, order.id, &lines, now)?;
    if short > 0 {
        let reason = format!("paid, but {short} unit(s) were out of stock: oversold");
        diesel::update(orders::table.find(order.id))
            .set(orders::flagged.eq(reason))
            .execute(conn)?;
    }
    Ok(())
}

/// Expires a pending order in its own transaction and counts it; the async twin of
/// [`expire_order`] for callers outside a transaction (sweep, refused or abandoned checkouts).
pub async fn expire(state: &AppState, order_id: i64) -> Result<(), DbError> {
    let now = state.clock.unix();
    let expired = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| expire_order(conn, order_id, now)).map_err(DbError::from)
    })
    .await?;
    if expired {
        state.metrics.order_status(OrderStatus::Expired.as_str());
        // Its released stock shows on this instance's pages at once.
        state.catalogue.invalidate();
    }
    Ok(())
}

/// Expires a pending order and releases its stock (no-op for any other status); true when it
/// expired now (count it in `state.metrics.order_status("expired")` once committed).
pub fn expire_order(
    conn: &mut AnyConnection,
    order_id: i64,
    now: i64,
) -> Result<bool, DieselError> {
    let moved = transition::by_payment(conn, order_id, OrderStatus::Expired, now)?;
    if moved {
        inventory::release(conn, order_id, now)?;
    }
    Ok(moved)
}
