//! Changing what a price costs. Stripe Prices are immutable, so a new amount is a new price: the
//! old row is retired (it stays for the orders and subscriptions that name it, and gives its
//! lookup key to the new one), a new row takes its place, and carts holding the old price move to
//! the new one. The new row's Stripe Price is made when a checkout first needs it
//! (`stripe_ids::price`, which takes the lookup key over at Stripe); the caller retires the old
//! Stripe Price. Subscriptions stay on the price they were sold at until the customer switches.

use diesel::prelude::*;

use super::model::Price;
use crate::admin::audit;
use crate::db::AnyConnection;
use crate::money::{Currency, Money};
use crate::schema::{cart_items, prices, subscriptions};

/// The terms of a price row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terms {
    pub product_id: i64,
    pub currency: String,
    pub unit_amount: i64,
    pub recurring_interval: Option<String>,
    pub shipping_amount: Option<i64>,
    pub active: bool,
}

/// Retires `old` and makes a row with `terms` under its lookup key, in the caller's
/// transaction; the new row's id.
/// `None` when `old` was retired meanwhile (another admin changed it first).
pub fn replace(
    conn: &mut AnyConnection,
    old: &Price,
    terms: &Terms,
    now: i64,
) -> QueryResult<Option<i64>> {
    // Only the row as read is replaced; a concurrent change waits for this row's lock, then
    // finds its key gone and nothing to update.
    let retired = diesel::update(
        prices::table
            .filter(prices::id.eq(old.id))
            .filter(prices::lookup_key.eq(&old.lookup_key)),
    )
    .set((
        prices::active.eq(false),
        // Lookup keys are unique: the retired row keeps a key of its own.
        prices::lookup_key.eq(format!("{}~{}", old.lookup_key, old.id)),
        prices::updated_at.eq(now),
    ))
    .execute(conn)?;
    if retired == 0 {
        return Ok(None);
    }
    // A one-time price sells the old one's variant (a plan made one-time: the default variant).
    let variant = match (&terms.recurring_interval, old.variant_id) {
        (None, Some(v)) if old.product_id == terms.product_id => Some(v),
        (None, _) => Some(super::variants::default_of(conn, terms.product_id)?.id),
        (Some(_), _) => None,
    };
    diesel::insert_into(prices::table)
        .values((
            prices::product_id.eq(terms.product_id),
            prices::variant_id.eq(variant),
            prices::lookup_key.eq(&old.lookup_key),
            prices::currency.eq(&terms.currency),
            prices::unit_amount.eq(terms.unit_amount),
            prices::recurring_interval.eq(&terms.recurring_interval),
            prices::active.eq(terms.active),
            prices::shipping_amount.eq(terms.shipping_amount),
            prices::created_at.eq(now),
            prices::updated_at.eq(now),
        ))
        .execute(conn)?;
    let new_id: i64 = prices::table
        .filter(prices::lookup_key.eq(&old.lookup_key))
        .select(prices::id)
        .first(conn)?;
    // A cart holds one-time prices only: its lines follow to the new price when it is one.
    let carts = cart_items::table.filter(cart_items::price_id.eq(old.id));
    if terms.recurring_interval.is_none() {
        diesel::update(carts)
            .set(cart_items::price_id.eq(new_id))
            .execute(conn)?;
    } else {
        diesel::delete(carts).execute(conn)?;
    }
    Ok(Some(new_id))
}

/// Why an amount was not changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceRefusal {
    #[error("That is what the price is already.")]
    Same,
    #[error("This price is no longer offered: change the current one.")]
    Retired,
}

/// What a change did.
#[derive(Debug, Clone)]
pub struct Changed {
    pub before: Money,
    pub after: Money,
    /// The old row's Stripe Price, to retire at Stripe.
    pub old_stripe_price: Option<String>,
    /// Live subscriptions that stay on the old price.
    pub subscribers: i64,
}

/// Gives price `price_id` of product `product_id` a new amount, audited, in the caller's
/// transaction. A price of another product is not found (`NotFound`).
pub fn change_amount(
    conn: &mut AnyConnection,
    product_id: i64,
    price_id: i64,
    unit_amount: i64,
    actor: i64,
    now: i64,
) -> QueryResult<Result<Changed, PriceRefusal>> {
    let old: Price = prices::table
        .filter(prices::id.eq(price_id))
        .filter(prices::product_id.eq(product_id))
        .select(Price::as_select())
        .first(conn)?;
    if !old.active {
        return Ok(Err(PriceRefusal::Retired));
    }
    if old.unit_amount == unit_amount {
        return Ok(Err(PriceRefusal::Same));
    }
    let terms = Terms {
        product_id,
        currency: old.currency.clone(),
        unit_amount,
        recurring_interval: old.recurring_interval.clone(),
        shipping_amount: old.shipping_amount,
        active: true,
    };
    if replace(conn, &old, &terms, now)?.is_none() {
        return Ok(Err(PriceRefusal::Retired));
    }
    let subscribers: i64 = subscriptions::table
        .filter(subscriptions::price_id.eq(old.id))
        .filter(subscriptions::status.eq_any(crate::subscriptions::model::LIVE_STATUSES))
        .count()
        .get_result(conn)?;
    let currency = Currency::parse(&old.currency).map_err(|_| {
        diesel::result::Error::DeserializationError("price in an unknown currency".into())
    })?;
    let (before, after) = (
        Money::new(old.unit_amount, currency),
        Money::new(unit_amount, currency),
    );
    let mut details = format!(
        "price {}: {before} → {after}",
        old.recurring_interval
            .as_deref()
            .map_or("one-time".to_owned(), |i| format!("per {i}"))
    );
    if subscribers > 0 {
        details.push_str(&format!("; {subscribers} subscription(s) stay on {before}"));
    }
    audit::record(
        conn,
        audit::Event::product(Some(actor), audit::PRICE_CHANGED, product_id, details),
        now,
    )?;
    Ok(Ok(Changed {
        before,
        after,
        old_stripe_price: old.stripe_price_id,
        subscribers,
    }))
}
