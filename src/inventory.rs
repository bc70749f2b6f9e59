//! Stock: what can still be sold, holding it while a shopper pays, and committing it exactly once.
//!
//! `products.stock` is what is on the shelf (NULL: unlimited). Units held for open checkouts are
//! `stock_reservations` rows in status `held`; they are released when the checkout expires or
//! fails, and committed (subtracted from `products.stock`) when the order is paid.

use std::collections::HashMap;

use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::orders::status::OrderStatus;
use crate::schema::{cart_items, orders, prices, products, stock_reservations};

pub const HELD: &str = "held";
pub const COMMITTED: &str = "committed";
pub const RELEASED: &str = "released";

/// Locks the products' rows until the transaction ends, so two checkouts of the last unit
/// cannot both see it available. SQLite needs nothing: its write transactions begin IMMEDIATE
/// and so already run one at a time.
pub fn lock_products(conn: &mut AnyConnection, product_ids: &[i64]) -> QueryResult<()> {
    if let AnyConnection::Postgresql(pg) = conn {
        let mut ids = product_ids.to_vec();
        ids.sort_unstable();
        // Always in id order, so two transactions never wait on each other in a cycle.
        products::table
            .filter(products::id.eq_any(ids))
            .order(products::id.asc())
            .select(products::id)
            .for_update()
            .load::<i64>(pg)?;
    }
    Ok(())
}

/// Units available to a new checkout, per product (absent: unlimited).
pub fn available(conn: &mut AnyConnection, product_ids: &[i64]) -> QueryResult<HashMap<i64, i64>> {
    let stock: Vec<(i64, Option<i64>)> = products::table
        .filter(products::id.eq_any(product_ids))
        .select((products::id, products::stock))
        .load(conn)?;
    let held: Vec<(i64, i64)> = stock_reservations::table
        .filter(stock_reservations::product_id.eq_any(product_ids))
        .filter(stock_reservations::status.eq(HELD))
        .select((stock_reservations::product_id, stock_reservations::quantity))
        .load(conn)?;
    let mut available = HashMap::new();
    for (id, stock) in stock {
        if let Some(stock) = stock {
            let held: i64 = held.iter().filter(|(p, _)| *p == id).map(|(_, q)| q).sum();
            available.insert(id, (stock - held).max(0));
        }
    }
    Ok(available)
}

/// What one product has available to the holder of `own` (an order's id): its own held units
/// count as available to it, so a shopper whose checkout holds the last unit can still go back
/// to it. Statements whose SQL never changes (so they stay prepared): adding to the cart runs
/// this every time.
pub fn available_one_to(
    conn: &mut AnyConnection,
    product_id: i64,
    own: Option<i64>,
) -> QueryResult<Option<i64>> {
    let stock: Option<i64> = crate::on_backend!(conn, |c| products::table
        .find(product_id)
        .select(products::stock)
        .first(c))?;
    let Some(stock) = stock else {
        return Ok(None);
    };
    let held = stock_reservations::table
        .filter(stock_reservations::product_id.eq(product_id))
        .filter(stock_reservations::status.eq(HELD));
    let held: Vec<i64> = match own {
        Some(own) => crate::on_backend!(conn, |c| held
            .filter(stock_reservations::order_id.ne(own))
            .select(stock_reservations::quantity)
            .load(c))?,
        None => crate::on_backend!(conn, |c| held.select(stock_reservations::quantity).load(c))?,
    };
    Ok(Some((stock - held.iter().sum::<i64>()).max(0)))
}

/// Units held per product of a cart, for checkouts other than the cart's own (which count as
/// available to it, as in [`available_one_to`]). Subselects instead of a list of ids keep the SQL
/// the same for every cart, so the statement stays prepared: the cart page runs it on every view.
pub fn held_for_others_than_cart(
    conn: &mut AnyConnection,
    cart_id: i64,
) -> QueryResult<HashMap<i64, i64>> {
    let in_cart = cart_items::table
        .inner_join(prices::table)
        .filter(cart_items::cart_id.eq(cart_id))
        .select(prices::product_id);
    let own = orders::table
        .filter(orders::cart_id.eq(cart_id))
        .filter(orders::status.eq(OrderStatus::Pending.as_str()))
        .select(orders::id);
    let rows: Vec<(i64, i64)> = crate::on_backend!(conn, |c| stock_reservations::table
        .filter(stock_reservations::status.eq(HELD))
        .filter(stock_reservations::product_id.eq_any(in_cart))
        .filter(stock_reservations::order_id.ne_all(own))
        .select((stock_reservations::product_id, stock_reservations::quantity))
        .load(c))?;
    let mut held = HashMap::new();
    for (product, quantity) in rows {
        *held.entry(product).or_insert(0) += quantity;
    }
    Ok(held)
}

/// Holds `quantity` units of a product for an order. The caller has checked availability
/// inside the same write transaction.
pub fn hold(
    conn: &mut AnyConnection,
    order_id: i64,
    product_id: i64,
    quantity: i64,
    now: i64,
) -> QueryResult<()> {
    diesel::insert_into(stock_reservations::table)
        .values((
            stock_reservations::order_id.eq(order_id),
            stock_reservations::product_id.eq(product_id),
            stock_reservations::quantity.eq(quantity),
            stock_reservations::status.eq(HELD),
            stock_reservations::created_at.eq(now),
            stock_reservations::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Returns an order's held units to the shelf. Committed units stay sold.
pub fn release(conn: &mut AnyConnection, order_id: i64, now: i64) -> QueryResult<usize> {
    diesel::update(
        stock_reservations::table
            .filter(stock_reservations::order_id.eq(order_id))
            .filter(stock_reservations::status.eq(HELD)),
    )
    .set((
        stock_reservations::status.eq(RELEASED),
        stock_reservations::updated_at.eq(now),
    ))
    .execute(conn)
}

/// Takes a paid order's units off the shelf. The caller guarantees this runs once per order
/// (a conditional update on `orders.stock_committed` in the same transaction).
/// Returns the units that could not be taken because the shelf was short (an oversell to flag).
pub fn commit(
    conn: &mut AnyConnection,
    order_id: i64,
    lines: &[(i64, i64)],
    now: i64,
) -> QueryResult<i64> {
    diesel::update(stock_reservations::table.filter(stock_reservations::order_id.eq(order_id)))
        .set((
            stock_reservations::status.eq(COMMITTED),
            stock_reservations::updated_at.eq(now),
        ))
        .execute(conn)?;
    let mut short = 0;
    for &(product_id, quantity) in lines {
        let taken = diesel::update(
            products::table
                .filter(products::id.eq(product_id))
                .filter(products::stock.ge(quantity)),
        )
        .set((
            products::stock.eq(products::stock - quantity),
            products::updated_at.eq(now),
        ))
        .execute(conn)?;
        if taken == 0 {
            // Unlimited stock is never short; a limited shelf is emptied and the shortfall reported.
            let stock: Option<i64> = products::table
                .find(product_id)
                .select(products::stock)
                .first(conn)?;
            if let Some(stock) = stock {
                short += quantity - stock;
                diesel::update(products::table.find(product_id))
                    .set((products::stock.eq(0i64), products::updated_at.eq(now)))
                    .execute(conn)?;
            }
        }
    }
    Ok(short)
}
