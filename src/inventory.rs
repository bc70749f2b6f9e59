//! Stock: what can still be sold, holding it while a shopper pays, and committing it exactly once.
//!
//! Stock belongs to a product's variants: `product_variants.stock` is what is on the shelf
//! (NULL: unlimited). Units held for open checkouts are `stock_reservations` rows in status
//! `held`; they are released when the checkout expires or fails, and committed (subtracted from
//! the variant's stock) when the order is paid. Every function here takes variant ids.

use std::collections::HashMap;

use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::orders::status::OrderStatus;
use crate::schema::{cart_items, orders, prices, product_variants, stock_reservations};

pub const HELD: &str = "held";
pub const COMMITTED: &str = "committed";
pub const RELEASED: &str = "released";

/// Locks the variants' rows until the transaction ends, so two checkouts of the last unit
/// cannot both see it available. SQLite needs nothing: its write transactions begin IMMEDIATE
/// and so already run one at a time.
pub fn lock_variants(conn: &mut AnyConnection, variant_ids: &[i64]) -> QueryResult<()> {
    if let AnyConnection::Postgresql(pg) = conn {
        let mut ids = variant_ids.to_vec();
        ids.sort_unstable();
        // Always in id order, so two transactions never wait on each other in a cycle.
        product_variants::table
            .filter(product_variants::id.eq_any(ids))
            .order(product_variants::id.asc())
            .select(product_variants::id)
            .for_update()
            .load::<i64>(pg)?;
    }
    Ok(())
}

/// Units available to a new checkout, per variant (absent: unlimited).
pub fn available(conn: &mut AnyConnection, variant_ids: &[i64]) -> QueryResult<HashMap<i64, i64>> {
    let stock: Vec<(i64, Option<i64>)> = product_variants::table
        .filter(product_variants::id.eq_any(variant_ids))
        .select((product_variants::id, product_variants::stock))
        .load(conn)?;
    let held: Vec<(i64, i64)> = stock_reservations::table
        .filter(stock_reservations::variant_id.eq_any(variant_ids))
        .filter(stock_reservations::status.eq(HELD))
        .select((stock_reservations::variant_id, stock_reservations::quantity))
        .load(conn)?;
    let mut available = HashMap::new();
    for (id, stock) in stock {
        if let Some(stock) = stock {
            let held: i64 = held.iter().filter(|(v, _)| *v == id).map(|(_, q)| q).sum();
            available.insert(id, (stock - held).max(0));
        }
    }
    Ok(available)
}

/// Units available per product, over its variants for sale (with an active one-time price):
/// absent when any of them is unlimited.
pub fn available_by_product(
    conn: &mut AnyConnection,
    product_ids: &[i64],
) -> QueryResult<HashMap<i64, i64>> {
    let variants: Vec<(i64, i64)> = prices::table
        .filter(prices::product_id.eq_any(product_ids))
        .filter(prices::active.eq(true))
        .filter(prices::recurring_interval.is_null())
        .filter(prices::variant_id.is_not_null())
        .select((prices::product_id, prices::variant_id.assume_not_null()))
        .load(conn)?;
    let ids: Vec<i64> = variants.iter().map(|(_, v)| *v).collect();
    let per_variant = available(conn, &ids)?;
    Ok(by_product(&variants, &per_variant))
}

/// Sums variants' availability per product: a product with an unlimited variant is left out
/// (unlimited), one whose variants are all limited has their sum.
pub fn by_product(variants: &[(i64, i64)], per_variant: &HashMap<i64, i64>) -> HashMap<i64, i64> {
    let mut sums: HashMap<i64, Option<i64>> = HashMap::new();
    for &(product, variant) in variants {
        let entry = sums.entry(product).or_insert(Some(0));
        *entry = match (*entry, per_variant.get(&variant)) {
            (Some(sum), Some(n)) => Some(sum + n),
            _ => None,
        };
    }
    sums.into_iter()
        .filter_map(|(p, n)| n.map(|n| (p, n)))
        .collect()
}

/// What one variant has available to the holder of `own` (an order's id): its own held units
/// count as available to it, so a shopper whose checkout holds the last unit can still go back
/// to it. Statements whose SQL never changes (so they stay prepared): adding to the cart runs
/// this every time.
pub fn available_one_to(
    conn: &mut AnyConnection,
    variant_id: i64,
    own: Option<i64>,
) -> QueryResult<Option<i64>> {
    let stock: Option<i64> = crate::on_backend!(conn, |c| product_variants::table
        .find(variant_id)
        .select(product_variants::stock)
        .first(c))?;
    let Some(stock) = stock else {
        return Ok(None);
    };
    let held = stock_reservations::table
        .filter(stock_reservations::variant_id.eq(variant_id))
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

/// Units held per variant of a cart, for checkouts other than the cart's own (which count as
/// available to it, as in [`available_one_to`]). Subselects instead of a list of ids keep the SQL
/// the same for every cart, so the statement stays prepared: the cart page runs it on every view.
pub fn held_for_others_than_cart(
    conn: &mut AnyConnection,
    cart_id: i64,
) -> QueryResult<HashMap<i64, i64>> {
    let in_cart = cart_items::table
        .inner_join(prices::table)
        .filter(cart_items::cart_id.eq(cart_id))
        .filter(prices::variant_id.is_not_null())
        .select(prices::variant_id.assume_not_null());
    let own = orders::table
        .filter(orders::cart_id.eq(cart_id))
        .filter(orders::status.eq(OrderStatus::Pending.as_str()))
        .select(orders::id);
    let rows: Vec<(i64, i64)> = crate::on_backend!(conn, |c| stock_reservations::table
        .filter(stock_reservations::status.eq(HELD))
        .filter(stock_reservations::variant_id.eq_any(in_cart))
        .filter(stock_reservations::order_id.ne_all(own))
        .select((stock_reservations::variant_id, stock_reservations::quantity))
        .load(c))?;
    let mut held = HashMap::new();
    for (variant, quantity) in rows {
        *held.entry(variant).or_insert(0) += quantity;
    }
    Ok(held)
}

/// Holds `quantity` units of a variant (of `product_id`) for an order. The caller has checked
/// availability inside the same write transaction.
pub fn hold(
    conn: &mut AnyConnection,
    order_id: i64,
    (product_id, variant_id): (i64, i64),
    quantity: i64,
    now: i64,
) -> QueryResult<()> {
    diesel::insert_into(stock_reservations::table)
        .values((
            stock_reservations::order_id.eq(order_id),
            stock_reservations::product_id.eq(product_id),
            stock_reservations::variant_id.eq(variant_id),
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

/// Takes a paid order's units off the shelf: `lines` are (variant id, units). The caller guarantees this runs once per order
/// (a conditional update on `orders.stock_committed` in the same transaction).
/// Returns the units that could not be taken because the shelf was short (an oversell to flag).
pub fn commit(
    conn: &mut AnyConnection,
    order_id: i64,
    lines: &[(i64, i64)],
    now: i64,
) -> QueryResult<i64> {
    // In id order, as checkouts take them: a payment and a checkout of the same variants never
    // wait on each other in a cycle.
    lock_variants(conn, &lines.iter().map(|(v, _)| *v).collect::<Vec<_>>())?;
    diesel::update(stock_reservations::table.filter(stock_reservations::order_id.eq(order_id)))
        .set((
            stock_reservations::status.eq(COMMITTED),
            stock_reservations::updated_at.eq(now),
        ))
        .execute(conn)?;
    let mut short = 0;
    for &(variant_id, quantity) in lines {
        let taken = diesel::update(
            product_variants::table
                .filter(product_variants::id.eq(variant_id))
                .filter(product_variants::stock.ge(quantity)),
        )
        .set((
            product_variants::stock.eq(product_variants::stock - quantity),
            product_variants::updated_at.eq(now),
        ))
        .execute(conn)?;
        if taken == 0 {
            // Unlimited stock is never short; a limited shelf is emptied and the shortfall reported.
            let stock: Option<i64> = product_variants::table
                .find(variant_id)
                .select(product_variants::stock)
                .first(conn)?;
            if let Some(stock) = stock {
                short += quantity - stock;
                diesel::update(product_variants::table.find(variant_id))
                    .set((
                        product_variants::stock.eq(0i64),
                        product_variants::updated_at.eq(now),
                    ))
                    .execute(conn)?;
            }
        }
    }
    Ok(short)
}
