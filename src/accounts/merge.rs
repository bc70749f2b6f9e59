//! What a guest did in this browser joins the account on sign-in or registration: the cart
//! merges into the account's cart, and orders placed from that cart are attached. Orders are
//! never attached by e-mail address alone: anyone can type an address.

use diesel::prelude::*;

use crate::cart::model::MAX_QUANTITY;
use crate::db::{AnyConnection, write_tx};
use crate::schema::{cart_items, carts, orders};

/// Returns the cart the session should use from now on.
pub fn adopt_guest(
    conn: &mut AnyConnection,
    user_id: i64,
    guest_cart: Option<i64>,
    now: i64,
) -> QueryResult<Option<i64>> {
    write_tx(conn, |conn| {
        // Only a cart that belongs to nobody can be adopted.
        let guest_cart = match guest_cart {
            Some(id) => carts::table
                .filter(carts::id.eq(id))
                .filter(carts::user_id.is_null())
                .select(carts::id)
                .first::<i64>(conn)
                .optional()?,
            None => None,
        };
        if let Some(guest) = guest_cart {
            diesel::update(
                orders::table
                    .filter(orders::cart_id.eq(guest))
                    .filter(orders::user_id.is_null()),
            )
            .set(orders::user_id.eq(user_id))
            .execute(conn)?;
        }
        let user_cart: Option<i64> = carts::table
            .filter(carts::user_id.eq(user_id))
            .select(carts::id)
            .first(conn)
            .optional()?;
        match (user_cart, guest_cart) {
            (None, Some(guest)) => {
                diesel::update(carts::table.find(guest))
                    .set((carts::user_id.eq(user_id), carts::updated_at.eq(now)))
                    .execute(conn)?;
                Ok(Some(guest))
            }
            (Some(mine), Some(guest)) if mine != guest => {
                let items: Vec<(i64, i64)> = cart_items::table
                    .filter(cart_items::cart_id.eq(guest))
                    .select((cart_items::price_id, cart_items::quantity))
                    .load(conn)?;
                for (price_id, quantity) in items {
                    let existing: Option<(i64, i64)> = cart_items::table
                        .filter(cart_items::cart_id.eq(mine))
                        .filter(cart_items::price_id.eq(price_id))
                        .select((cart_items::id, cart_items::quantity))
                        .first(conn)
                        .optional()?;
                    match existing {
                        Some((id, q)) => {
                            diesel::update(cart_items::table.find(id))
                                .set(cart_items::quantity.eq((q + quantity).min(MAX_QUANTITY)))
                                .execute(conn)?;
                        }
                        None => {
                            diesel::insert_into(cart_items::table)
                                .values((
                                    cart_items::cart_id.eq(mine),
                                    cart_items::price_id.eq(price_id),
                                    cart_items::quantity.eq(quantity),
                                    cart_items::created_at.eq(now),
                                ))
                                .execute(conn)?;
                        }
                    }
                }
                diesel::delete(cart_items::table.filter(cart_items::cart_id.eq(guest)))
                    .execute(conn)?;
                Ok(Some(mine))
            }
            (mine, _) => Ok(mine),
        }
    })
}
