//! Reading orders.

use diesel::prelude::*;

use super::model::{Order, OrderItem};
use super::status::OrderStatus;
use crate::db::AnyConnection;
use crate::schema::{order_items, orders};

pub fn by_number(conn: &mut AnyConnection, number: &str) -> QueryResult<Option<Order>> {
    orders::table
        .filter(orders::number.eq(number))
        .select(Order::as_select())
        .first(conn)
        .optional()
}

pub fn by_session(conn: &mut AnyConnection, session_id: &str) -> QueryResult<Option<Order>> {
    orders::table
        .filter(orders::checkout_session_id.eq(session_id))
        .select(Order::as_select())
        .first(conn)
        .optional()
}

/// The cart's checkout in progress: at most one (a partial unique index says so).
pub fn pending_for_cart(conn: &mut AnyConnection, cart_id: i64) -> QueryResult<Option<Order>> {
    crate::on_backend!(conn, |c| orders::table
        .filter(orders::cart_id.eq(cart_id))
        .filter(orders::status.eq(OrderStatus::Pending.as_str()))
        .select(Order::as_select())
        .first(c)
        .optional())
}

pub fn by_id(conn: &mut AnyConnection, id: i64) -> QueryResult<Order> {
    orders::table
        .find(id)
        .select(Order::as_select())
        .first(conn)
}

pub fn items(conn: &mut AnyConnection, order: &Order) -> QueryResult<Vec<OrderItem>> {
    OrderItem::belonging_to(order)
        .order(order_items::id.asc())
        .select(OrderItem::as_select())
        .load(conn)
}

/// A customer's orders, newest first.
pub fn for_user(
    conn: &mut AnyConnection,
    user_id: i64,
    offset: i64,
    limit: i64,
) -> QueryResult<Vec<Order>> {
    orders::table
        .filter(orders::user_id.eq(user_id))
        // Abandoned checkouts are not orders a customer placed.
        .filter(orders::status.ne_all(["pending", "expired"]))
        .order((orders::created_at.desc(), orders::id.desc()))
        .offset(offset)
        .limit(limit)
        .select(Order::as_select())
        .load(conn)
}
