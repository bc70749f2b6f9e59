//! The only code that writes an order's status. Each move is a conditional update on the
//! statuses its table in [`super::status`] allows, so concurrent callers (the webhook, the
//! success page, jobs, other instances) agree: whichever comes second finds nothing to do.

use diesel::prelude::*;

use super::status::OrderStatus;
use crate::db::AnyConnection;
use crate::schema::orders;

/// A payment-driven move (what Stripe says of the Checkout Session); true when it moved now.
pub fn by_payment(
    conn: &mut AnyConnection,
    order_id: i64,
    to: OrderStatus,
    now: i64,
) -> QueryResult<bool> {
    moved(conn, order_id, to, to.payment_allowed_from(), now)
}

/// Records what the succeeded refunds add up to and moves a paid order to the status that
/// amount means. An order that was never paid keeps its status. Returns the status it moved
/// to now, if it moved.
pub fn by_refunds(
    conn: &mut AnyConnection,
    order_id: i64,
    succeeded: i64,
    now: i64,
) -> QueryResult<Option<OrderStatus>> {
    let (total, refunded): (i64, i64) = orders::table
        .find(order_id)
        .select((orders::amount_total, orders::amount_refunded))
        .first(conn)?;
    if refunded != succeeded {
        diesel::update(orders::table.find(order_id))
            .set((
                orders::amount_refunded.eq(succeeded),
                orders::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    let to = OrderStatus::after_refunds(succeeded, total);
    Ok(moved(conn, order_id, to, to.refund_allowed_from(), now)?.then_some(to))
}

fn moved(
    conn: &mut AnyConnection,
    order_id: i64,
    to: OrderStatus,
    allowed_from: &[OrderStatus],
    now: i64,
) -> QueryResult<bool> {
    if allowed_from.is_empty() {
        return Ok(false);
    }
    let from: Vec<&str> = allowed_from.iter().map(|s| s.as_str()).collect();
    let n = diesel::update(
        orders::table
            .filter(orders::id.eq(order_id))
            .filter(orders::status.eq_any(from)),
    )
    .set((orders::status.eq(to.as_str()), orders::updated_at.eq(now)))
    .execute(conn)?;
    Ok(n == 1)
}
