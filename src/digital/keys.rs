//! Licence keys: a pool per variant, which is the variant's stock (adding keys adds stock, so
//! holds and checkout never sell more keys than exist). Paid orders take one key per unit in
//! their fulfilment transaction, and a key is taken by one order line only: a conditional
//! update (`… WHERE order_item_id IS NULL`) decides, whatever runs at the same time.

use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::schema::{licence_keys, order_items, orders, product_variants, products};

/// A key as an admin pastes it: printable, no spaces inside, 4 to 200 characters.
pub fn plausible(key: &str) -> bool {
    (4..=200).contains(&key.chars().count()) && key.chars().all(|c| c.is_ascii_graphic())
}

/// What adding keys did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Added {
    pub added: usize,
    /// Already in the pool (or sold): not added twice.
    pub duplicates: usize,
}

/// Adds keys to a variant's pool, gives keys to paid orders still waiting for theirs (oldest
/// first), and sets the variant's stock to the keys left. Returns what was added and the lines
/// that got keys.
pub fn add(
    conn: &mut AnyConnection,
    variant_id: i64,
    keys: &[String],
    now: i64,
) -> QueryResult<(Added, Vec<i64>)> {
    // Everything that changes a key variant's pool or stock holds its row: two admins adding
    // keys, or a key added while a checkout takes one, see each other's effect.
    crate::inventory::lock_variants(conn, &[variant_id])?;
    let product_id: i64 = product_variants::table
        .find(variant_id)
        .select(product_variants::product_id)
        .first(conn)?;
    let mut result = Added::default();
    for key in keys {
        let inserted = crate::db::insert_once(conn, |conn| {
            diesel::insert_into(licence_keys::table)
                .values((
                    licence_keys::product_id.eq(product_id),
                    licence_keys::variant_id.eq(variant_id),
                    licence_keys::licence_key.eq(key),
                    licence_keys::created_at.eq(now),
                ))
                .execute(conn)
        })?;
        if inserted {
            result.added += 1;
        } else {
            result.duplicates += 1;
        }
    }
    let waiting = waiting_lines(conn, Some(variant_id))?;
    let mut served = Vec::new();
    for (item_id, _) in waiting {
        if assign_line(conn, item_id, now)? > 0 {
            served.push(item_id);
        }
    }
    // A key variant's stock is its unsold keys (orders that waited for keys took theirs).
    let (free, _) = pool(conn, variant_id)?;
    diesel::update(product_variants::table.find(variant_id))
        .set((
            product_variants::stock.eq(Some(free)),
            product_variants::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok((result, served))
}

/// Gives every key line of a paid order the keys it still lacks, as far as the pool has them.
/// Returns how many units are still without a key.
pub fn assign(conn: &mut AnyConnection, order_id: i64, now: i64) -> QueryResult<i64> {
    let lines: Vec<(i64, Option<i64>)> = order_items::table
        .inner_join(products::table.on(products::id.eq(order_items::product_id)))
        .filter(order_items::order_id.eq(order_id))
        .filter(products::delivery.eq("keys"))
        .select((order_items::id, order_items::variant_id))
        .load(conn)?;
    let variants: Vec<i64> = lines.iter().filter_map(|(_, v)| *v).collect();
    crate::inventory::lock_variants(conn, &variants)?;
    let lines: Vec<i64> = lines.into_iter().map(|(i, _)| i).collect();
    let mut short = 0;
    for item_id in lines {
        assign_line(conn, item_id, now)?;
        short += missing(conn, item_id)?;
    }
    Ok(short)
}

/// Units of a line without a key.
fn missing(conn: &mut AnyConnection, item_id: i64) -> QueryResult<i64> {
    let quantity: i64 = order_items::table
        .find(item_id)
        .select(order_items::quantity)
        .first(conn)?;
    let have: i64 = licence_keys::table
        .filter(licence_keys::order_item_id.eq(item_id))
        .count()
        .get_result(conn)?;
    Ok((quantity - have).max(0))
}

/// Takes free keys for a line, one conditional update per key; returns how many it took.
fn assign_line(conn: &mut AnyConnection, item_id: i64, now: i64) -> QueryResult<i64> {
    let mut need = missing(conn, item_id)?;
    let variant_id: Option<i64> = order_items::table
        .find(item_id)
        .select(order_items::variant_id)
        .first(conn)?;
    let Some(variant_id) = variant_id else {
        return Ok(0);
    };
    let mut took = 0;
    while need > 0 {
        let free = free_keys(conn, variant_id, need)?;
        if free.is_empty() {
            break;
        }
        for id in free {
            if need == 0 {
                break;
            }
            let n = diesel::update(
                licence_keys::table
                    .filter(licence_keys::id.eq(id))
                    .filter(licence_keys::order_item_id.is_null()),
            )
            .set((
                licence_keys::order_item_id.eq(item_id),
                licence_keys::assigned_at.eq(now),
            ))
            .execute(conn)?;
            took += n as i64;
            need -= n as i64;
        }
    }
    Ok(took)
}

/// Up to `n` free keys, oldest first. On PostgreSQL, rows another transaction is taking are
/// skipped rather than waited for (it will take them or roll back; the conditional update
/// decides either way).
fn free_keys(conn: &mut AnyConnection, variant_id: i64, n: i64) -> QueryResult<Vec<i64>> {
    let query = licence_keys::table
        .filter(licence_keys::variant_id.eq(variant_id))
        .filter(licence_keys::order_item_id.is_null())
        .order(licence_keys::id.asc())
        .limit(n)
        .select(licence_keys::id);
    match conn {
        AnyConnection::Postgresql(pg) => query.for_update().skip_locked().load(pg),
        _ => query.load(conn),
    }
}

/// Paid (or partly refunded) order lines of key products still lacking keys, oldest first:
/// (item id, units missing). `variant`: only that variant's lines.
pub fn waiting_lines(
    conn: &mut AnyConnection,
    variant: Option<i64>,
) -> QueryResult<Vec<(i64, i64)>> {
    let mut query = order_items::table
        .inner_join(orders::table)
        .inner_join(products::table.on(products::id.eq(order_items::product_id)))
        .filter(products::delivery.eq("keys"))
        .filter(orders::status.eq_any(["paid", "partially_refunded"]))
        .filter(orders::disputed.eq(false))
        .order((orders::paid_at.asc(), order_items::id.asc()))
        .select((
            order_items::id,
            order_items::order_id,
            order_items::quantity,
        ))
        .into_boxed();
    if let Some(v) = variant {
        query = query.filter(order_items::variant_id.eq(v));
    }
    let lines: Vec<(i64, i64, i64)> = query.load(conn)?;
    // Keys held by those lines, in one query rather than one per line.
    let ids: Vec<i64> = lines.iter().map(|(id, _, _)| *id).collect();
    let held: Vec<Option<i64>> = licence_keys::table
        .filter(licence_keys::order_item_id.eq_any(&ids))
        .select(licence_keys::order_item_id)
        .load(conn)?;
    let mut out = Vec::new();
    let mut refunded: Vec<(i64, Vec<i64>)> = Vec::new();
    for (item_id, order_id, quantity) in lines {
        let have = held.iter().filter(|h| **h == Some(item_id)).count() as i64;
        if have >= quantity {
            continue;
        }
        // A refunded line waits for nothing (asked once per order, and only for short lines).
        if !refunded.iter().any(|(o, _)| *o == order_id) {
            let lines = crate::digital::access::refunded_lines(conn, order_id)?;
            refunded.push((order_id, lines));
        }
        if refunded
            .iter()
            .any(|(o, r)| *o == order_id && r.contains(&item_id))
        {
            continue;
        }
        out.push((item_id, quantity - have));
    }
    Ok(out)
}

/// The keys given to an order's lines: (item id, key), in the order they were taken.
pub fn for_order(conn: &mut AnyConnection, order_id: i64) -> QueryResult<Vec<(i64, String)>> {
    licence_keys::table
        .inner_join(
            order_items::table.on(order_items::id.nullable().eq(licence_keys::order_item_id)),
        )
        .filter(order_items::order_id.eq(order_id))
        .order(licence_keys::id.asc())
        .select((order_items::id, licence_keys::licence_key))
        .load(conn)
}

/// A variant's pool: (keys not yet sold, keys sold).
pub fn pool(conn: &mut AnyConnection, variant_id: i64) -> QueryResult<(i64, i64)> {
    let free: i64 = licence_keys::table
        .filter(licence_keys::variant_id.eq(variant_id))
        .filter(licence_keys::order_item_id.is_null())
        .count()
        .get_result(conn)?;
    let sold: i64 = licence_keys::table
        .filter(licence_keys::variant_id.eq(variant_id))
        .filter(licence_keys::order_item_id.is_not_null())
        .count()
        .get_result(conn)?;
    Ok((free, sold))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_printable_without_spaces() {
        assert!(plausible("ABCD-1234-EFGH"));
        assert!(!plausible("abc"));
        assert!(!plausible("AB CD-1234"));
        assert!(!plausible("ключ-1234"));
        assert!(!plausible(&"K".repeat(201)));
    }
}
