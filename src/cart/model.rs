//! Cart rules: what may go in, how much, and what the lines cost now.

use diesel::prelude::*;

use crate::db::{AnyConnection, write_tx};
use crate::error::AppError;
use crate::inventory;
use crate::money::{Currency, Money};
use crate::schema::{cart_items, carts, prices, product_variants, products};

const STATUS_ACTIVE: &str = crate::catalog::model::Status::Active.as_str();

/// Most units of one item in a cart.
pub const MAX_QUANTITY: i64 = 99;

#[derive(Debug, Clone)]
pub struct CartLine {
    pub item_id: i64,
    pub price_id: i64,
    pub product_id: i64,
    /// The variant the price sells, whose stock the line takes.
    pub variant_id: i64,
    pub slug: String,
    /// The product's name, and the variant's ("Canvas tote — Large / Blue").
    pub name: String,
    pub unit: Money,
    pub quantity: i64,
    /// The price can still be bought: price and product active, in the shop's currency, one-time.
    pub for_sale: bool,
    /// Units a new checkout could take (None: unlimited).
    pub available: Option<i64>,
}

impl CartLine {
    pub fn total(&self) -> Option<Money> {
        self.unit.checked_mul(self.quantity)
    }

    /// Why this line cannot be checked out as it is, if it cannot.
    pub fn problem(&self) -> Option<String> {
        if !self.for_sale {
            return Some("No longer for sale — please remove it.".into());
        }
        match self.available {
            Some(0) => Some("Sold out — please remove it.".into()),
            Some(n) if n < self.quantity => {
                Some(format!("Only {n} left — please lower the quantity."))
            }
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CartError {
    #[error("That item doesn't exist.")]
    UnknownItem,
    #[error("{0} is not for sale any more.")]
    NotForSale(String),
    #[error("{0} is sold out.")]
    SoldOut(String),
    #[error("You can add at most {max} of {name}.")]
    TooMany { name: String, max: i64 },
}

/// The cart to add to: a signed-in customer's own cart (their cart follows them across
/// devices), else the session's cart if it still exists, else a new one.
pub fn ensure(
    conn: &mut AnyConnection,
    cart_id: Option<i64>,
    user_id: Option<i64>,
    now: i64,
) -> QueryResult<i64> {
    ensure_made(conn, cart_id, user_id, now).map(|(id, _)| id)
}

/// [`ensure`], and whether the cart was made just now (so it is empty, with no checkout).
fn ensure_made(
    conn: &mut AnyConnection,
    cart_id: Option<i64>,
    user_id: Option<i64>,
    now: i64,
) -> QueryResult<(i64, bool)> {
    if let Some(uid) = user_id {
        if let Some(id) = carts::table
            .filter(carts::user_id.eq(uid))
            .select(carts::id)
            .first::<i64>(conn)
            .optional()?
        {
            return Ok((id, false));
        }
    }
    if let Some(id) = cart_id {
        let owner: Option<Option<i64>> = carts::table
            .filter(carts::id.eq(id))
            .select(carts::user_id)
            .first(conn)
            .optional()?;
        match (owner, user_id) {
            (Some(None), Some(uid)) => {
                diesel::update(carts::table.find(id))
                    .set(carts::user_id.eq(uid))
                    .execute(conn)?;
                return Ok((id, false));
            }
            (Some(owner), _) if owner == user_id => return Ok((id, false)),
            _ => {}
        }
    }
    crate::on_backend!(conn, |c| diesel::insert_into(carts::table)
        .values((
            carts::created_at.eq(now),
            carts::updated_at.eq(now),
            carts::user_id.eq(user_id),
        ))
        .returning(carts::id)
        .get_result(c))
    .map(|id| (id, true))
}

/// The cart's checkout in progress, if any: the units it holds are held for this very cart.
fn own_checkout(conn: &mut AnyConnection, cart_id: i64) -> QueryResult<Option<i64>> {
    Ok(crate::orders::queries::pending_for_cart(conn, cart_id)?.map(|o| o.id))
}

/// The cart's lines with today's prices and availability, oldest first. Two statements whose
/// SQL never changes (so both stay prepared): the cart page runs them on every view.
pub fn lines(
    conn: &mut AnyConnection,
    cart_id: i64,
    currency: Currency,
) -> QueryResult<Vec<CartLine>> {
    #[allow(clippy::type_complexity)]
    let rows: Vec<(
        (i64, i64, i64, i64),
        (String, String, String, String),
        (i64, String, bool, Option<String>),
        (String, Option<i64>, i64),
    )> = crate::on_backend!(conn, |c| cart_items::table
        .inner_join(prices::table.inner_join(products::table))
        .inner_join(
            product_variants::table.on(prices::variant_id.eq(product_variants::id.nullable())),
        )
        .filter(cart_items::cart_id.eq(cart_id))
        .order(cart_items::id.asc())
        .select((
            (
                cart_items::id,
                cart_items::price_id,
                products::id,
                cart_items::quantity,
            ),
            (
                products::slug,
                products::name,
                product_variants::option1,
                product_variants::option2,
            ),
            (
                prices::unit_amount,
                prices::currency,
                prices::active,
                prices::recurring_interval,
            ),
            (
                products::status,
                product_variants::stock,
                product_variants::id,
            ),
        ))
        .load(c))?;
    let held = inventory::held_for_others_than_cart(conn, cart_id)?;
    Ok(rows
        .into_iter()
        .map(
            |(
                (item_id, price_id, product_id, quantity),
                (slug, name, option1, option2),
                (unit_amount, price_currency, price_active, interval),
                (product_status, stock, variant_id),
            )| {
                let same_currency = price_currency == currency.code();
                let held = held.get(&variant_id).copied().unwrap_or(0);
                let variant = crate::catalog::variants::label(&option1, &option2);
                CartLine {
                    item_id,
                    price_id,
                    product_id,
                    variant_id,
                    slug,
                    name: crate::catalog::variants::line_name(&name, &variant),
                    unit: Money::new(unit_amount, currency),
                    quantity,
                    for_sale: price_active
                        && product_status == STATUS_ACTIVE
                        && same_currency
                        && interval.is_none(),
                    available: stock.map(|s| (s - held).max(0)),
                }
            },
        )
        .collect())
}

/// Most units of a line the cart may hold: 99, or fewer if that's all there is.
fn limit(available: Option<i64>) -> i64 {
    available.map_or(MAX_QUANTITY, |a| a.min(MAX_QUANTITY))
}

/// What to add to which cart: `quantity` (1–99, already parsed) of a price, to the cart
/// [`ensure`] picks for this session and customer.
pub struct Addition {
    pub cart_id: Option<i64>,
    pub user_id: Option<i64>,
    pub price_id: i64,
    pub quantity: i64,
}

/// Adds to the cart, creating the cart if needed, in one write transaction: a refused addition
/// leaves no empty cart behind. The cart's id and the product's name.
pub fn add(
    conn: &mut AnyConnection,
    addition: &Addition,
    currency: Currency,
    now: i64,
) -> Result<(i64, String), AddError> {
    let &Addition {
        cart_id,
        user_id,
        price_id,
        quantity,
    } = addition;
    write_tx(conn, |conn| {
        // A cart made just now has no lines, no checkout, and today's `updated_at`: three
        // statements fewer on a new visitor's first add.
        let (cart_id, made) = ensure_made(conn, cart_id, user_id, now)?;
        // On PostgreSQL, hold the price row: an admin removing its variant at this moment waits
        // for this addition (and then takes the line out with the rest) or has already removed
        // it (then the price is unknown here), never a line pointing at a deleted price.
        if let AnyConnection::Postgresql(pg) = conn {
            prices::table
                .find(price_id)
                .select(prices::id)
                .for_share()
                .load::<i64>(pg)?;
        }
        #[allow(clippy::type_complexity)]
        let row: Option<(
            (Option<i64>, String, bool, String),
            (String, Option<String>, Option<String>, Option<String>),
        )> = crate::on_backend!(conn, |c| prices::table
            .inner_join(products::table)
            .left_join(
                product_variants::table.on(prices::variant_id.eq(product_variants::id.nullable())),
            )
            .filter(prices::id.eq(price_id))
            .select((
                (
                    prices::variant_id,
                    products::name,
                    prices::active,
                    products::status,
                ),
                (
                    prices::currency,
                    prices::recurring_interval,
                    product_variants::option1.nullable(),
                    product_variants::option2.nullable(),
                ),
            ))
            .first(c)
            .optional())?;
        let Some((
            (variant_id, name, price_active, product_status),
            (price_currency, interval, option1, option2),
        )) = row
        else {
            return Err(AddError::Cart(CartError::UnknownItem));
        };
        let name = crate::catalog::variants::line_name(
            &name,
            &crate::catalog::variants::label(
                option1.as_deref().unwrap_or(""),
                option2.as_deref().unwrap_or(""),
            ),
        );
        let Some(variant_id) = variant_id else {
            return Err(AddError::Cart(CartError::NotForSale(name)));
        };
        if !(price_active
            && product_status == STATUS_ACTIVE
            && price_currency == currency.code()
            && interval.is_none())
        {
            return Err(AddError::Cart(CartError::NotForSale(name)));
        }
        let own = match made {
            true => None,
            false => own_checkout(conn, cart_id)?,
        };
        let available = inventory::available_one_to(conn, variant_id, own)?;
        if available == Some(0) {
            return Err(AddError::Cart(CartError::SoldOut(name)));
        }
        let existing: Option<(i64, i64)> = match made {
            true => None,
            false => crate::on_backend!(conn, |c| cart_items::table
                .filter(cart_items::cart_id.eq(cart_id))
                .filter(cart_items::price_id.eq(price_id))
                .select((cart_items::id, cart_items::quantity))
                .first(c)
                .optional())?,
        };
        let max = limit(available);
        let wanted = existing.map_or(0, |(_, q)| q) + quantity;
        if wanted > max {
            return Err(AddError::Cart(CartError::TooMany { name, max }));
        }
        match existing {
            Some((id, _)) => {
                crate::on_backend!(conn, |c| diesel::update(cart_items::table.find(id))
                    .set(cart_items::quantity.eq(wanted))
                    .execute(c))?;
            }
            None => {
                crate::on_backend!(conn, |c| diesel::insert_into(cart_items::table)
                    .values((
                        cart_items::cart_id.eq(cart_id),
                        cart_items::price_id.eq(price_id),
                        cart_items::quantity.eq(wanted),
                        cart_items::created_at.eq(now),
                    ))
                    .execute(c))?;
            }
        }
        if !made {
            touch(conn, cart_id, now)?;
        }
        Ok((cart_id, name))
    })
}

/// Sets a line's quantity (0 removes it). Lowering is always allowed; raising is capped by stock.
pub fn set_quantity(
    conn: &mut AnyConnection,
    cart_id: i64,
    item_id: i64,
    quantity: i64,
    now: i64,
) -> Result<(), AddError> {
    write_tx(conn, |conn| {
        let row: Option<(i64, Option<i64>, String)> = cart_items::table
            .inner_join(prices::table.inner_join(products::table))
            .filter(cart_items::id.eq(item_id))
            .filter(cart_items::cart_id.eq(cart_id))
            .select((cart_items::quantity, prices::variant_id, products::name))
            .first(conn)
            .optional()?;
        let Some((current, variant_id, name)) = row else {
            return Err(AddError::Cart(CartError::UnknownItem));
        };
        if quantity == 0 {
            diesel::delete(cart_items::table.find(item_id)).execute(conn)?;
        } else {
            let own = own_checkout(conn, cart_id)?;
            let max = match variant_id {
                Some(v) => limit(inventory::available_one_to(conn, v, own)?),
                None => 0,
            };
            if quantity > current && quantity > max {
                return Err(AddError::Cart(CartError::TooMany { name, max }));
            }
            diesel::update(cart_items::table.find(item_id))
                .set(cart_items::quantity.eq(quantity))
                .execute(conn)?;
        }
        touch(conn, cart_id, now)?;
        Ok(())
    })
}

/// Empties the cart (after a successful payment).
pub fn clear(conn: &mut AnyConnection, cart_id: i64) -> QueryResult<usize> {
    diesel::delete(cart_items::table.filter(cart_items::cart_id.eq(cart_id))).execute(conn)
}

fn touch(conn: &mut AnyConnection, cart_id: i64, now: i64) -> QueryResult<()> {
    crate::on_backend!(conn, |c| diesel::update(carts::table.find(cart_id))
        .set(carts::updated_at.eq(now))
        .execute(c))?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum AddError {
    #[error(transparent)]
    Cart(CartError),
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
}

impl From<diesel::result::Error> for AddError {
    fn from(e: diesel::result::Error) -> Self {
        AddError::Db(e.into())
    }
}

impl From<AddError> for AppError {
    fn from(e: AddError) -> Self {
        match e {
            AddError::Cart(c) => AppError::BadRequest(c.to_string()),
            AddError::Db(d) => d.into(),
        }
    }
}
