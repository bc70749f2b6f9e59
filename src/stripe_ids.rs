//! The Stripe ids of our users, products and prices: each object is created at Stripe the first
//! time it is needed, under an idempotency key derived from our row (so callers racing here get
//! the same object), and its id is stored by the first writer. A shop need not run
//! `storefront stripe setup` before someone buys or subscribes.

use std::future::Future;

use diesel::prelude::*;

use crate::accounts::model::User;
use crate::catalog::model::{Price, Product};
use crate::db::{self, AnyConnection, DbError};
use crate::error::SyncError;
use crate::payments::{self, PaymentError};
use crate::schema::{prices, products, shipping_prices, users};
use crate::state::AppState;

/// The Stripe Customer of a user.
pub async fn customer(state: &AppState, user: &User) -> Result<String, SyncError> {
    ensure(
        state,
        user.stripe_customer_id.as_deref(),
        payments::customers::create(&state.stripe, user.id, &user.email),
        Row::User(user.id),
    )
    .await
}

/// The Stripe Product of a product.
pub async fn product(state: &AppState, product: &Product) -> Result<String, SyncError> {
    ensure(
        state,
        product.stripe_product_id.as_deref(),
        payments::products::create_product(&state.stripe, product),
        Row::Product(product.id),
    )
    .await
}

/// The Stripe Price of a price (and its product's Stripe Product first). With Stripe Tax on, a
/// Price made under another tax behavior is replaced by a new one (Stripe cannot change it).
pub async fn price(state: &AppState, price: &Price) -> Result<String, SyncError> {
    let wanted = state.config.tax.behavior();
    if let Some(id) = &price.stripe_price_id
        && (wanted.is_none() || price.stripe_tax_behavior.as_deref() == wanted)
    {
        return Ok(id.clone());
    }
    let product_id = price.product_id;
    let owner: Product = db::run(&state.pool, move |conn| {
        products::table
            .find(product_id)
            .select(Product::as_select())
            .first(conn)
            .map_err(DbError::from)
    })
    .await?;
    let stripe_product = product(state, &owner).await?;
    let created =
        payments::products::create_price(&state.stripe, price, &stripe_product, wanted).await?;
    let (key, now) = (price.id, state.clock.unix());
    let behavior = wanted.map(str::to_owned);
    db::run(&state.pool, move |conn| {
        store_price(conn, key, &created, behavior.as_deref(), now).map_err(DbError::from)
    })
    .await
    .map_err(SyncError::from)
}

/// The Stripe Price of a plan's shipping charge per period, made the first time the plan's
/// current terms (currency, amount, interval, tax behavior) need it; `None` when the plan's price
/// includes delivery. Every such Price stays on record: subscriptions made on older terms keep
/// billing theirs, and their invoices are still read as plan plus shipping.
pub async fn shipping_price(state: &AppState, price: &Price) -> Result<Option<String>, SyncError> {
    let Some(amount) = price.shipping_amount else {
        return Ok(None);
    };
    let behavior = state.config.tax.behavior();
    let terms = format!(
        "{}-{amount}-{}-{}",
        price.currency,
        price.recurring_interval.as_deref().unwrap_or("once"),
        behavior.unwrap_or("unspecified")
    );
    let (key, wanted) = (price.id, terms.clone());
    let known = db::run(&state.pool, move |conn| {
        stored_shipping_price(conn, key, &wanted).map_err(DbError::from)
    })
    .await?;
    if let Some(id) = known {
        return Ok(Some(id));
    }
    let created =
        payments::products::create_shipping_price(&state.stripe, price, amount, behavior, &terms)
            .await?;
    let now = state.clock.unix();
    db::run(&state.pool, move |conn| {
        // A racing call made the same Price (same key): either insert stores it.
        db::insert_once(conn, |conn| {
            diesel::insert_into(shipping_prices::table)
                .values((
                    shipping_prices::price_id.eq(key),
                    shipping_prices::terms.eq(&terms),
                    shipping_prices::amount.eq(amount),
                    shipping_prices::stripe_price_id.eq(&created),
                    shipping_prices::created_at.eq(now),
                ))
                .execute(conn)
        })?;
        stored_shipping_price(conn, key, &terms)?
            .ok_or(DbError::Query(diesel::result::Error::NotFound))
    })
    .await
    .map(Some)
    .map_err(SyncError::from)
}

fn stored_shipping_price(
    conn: &mut AnyConnection,
    price_id: i64,
    terms: &str,
) -> QueryResult<Option<String>> {
    shipping_prices::table
        .filter(shipping_prices::price_id.eq(price_id))
        .filter(shipping_prices::terms.eq(terms))
        .select(shipping_prices::stripe_price_id)
        .first(conn)
        .optional()
}

/// Stores a price's new Stripe Price unless a racing call stored one for the same behavior
/// first; returns the id the row holds now.
fn store_price(
    conn: &mut AnyConnection,
    key: i64,
    id: &str,
    behavior: Option<&str>,
    now: i64,
) -> QueryResult<String> {
    let row = prices::table.filter(prices::id.eq(key));
    let values = (
        prices::stripe_price_id.eq(id),
        prices::stripe_tax_behavior.eq(behavior),
        prices::updated_at.eq(now),
    );
    match behavior {
        Some(b) => diesel::update(
            row.filter(
                prices::stripe_price_id
                    .is_null()
                    .or(prices::stripe_tax_behavior
                        .is_null()
                        .or(prices::stripe_tax_behavior.ne(b).assume_not_null())),
            ),
        )
        .set(values)
        .execute(conn)?,
        None => diesel::update(row.filter(prices::stripe_price_id.is_null()))
            .set(values)
            .execute(conn)?,
    };
    prices::table
        .find(key)
        .select(prices::stripe_price_id.assume_not_null())
        .first(conn)
}

/// Which of our rows an id belongs to.
#[derive(Clone, Copy)]
enum Row {
    User(i64),
    Product(i64),
}

async fn ensure(
    state: &AppState,
    existing: Option<&str>,
    create: impl Future<Output = Result<String, PaymentError>>,
    row: Row,
) -> Result<String, SyncError> {
    if let Some(id) = existing {
        return Ok(id.to_owned());
    }
    let created = create.await?;
    let now = state.clock.unix();
    db::run(&state.pool, move |conn| {
        store_first(conn, row, &created, now)?
            .ok_or(DbError::Query(diesel::result::Error::NotFound))
    })
    .await
    .map_err(SyncError::from)
}

/// Stores `id` unless the row has one already; returns the row's id now.
fn store_first(
    conn: &mut AnyConnection,
    row: Row,
    id: &str,
    now: i64,
) -> QueryResult<Option<String>> {
    macro_rules! store {
        ($table:ident, $column:ident, $key:expr) => {{
            diesel::update(
                $table::table
                    .filter($table::id.eq($key))
                    .filter($table::$column.is_null()),
            )
            .set(($table::$column.eq(id), $table::updated_at.eq(now)))
            .execute(conn)?;
            $table::table
                .find($key)
                .select($table::$column)
                .first::<Option<String>>(conn)
        }};
    }
    match row {
        Row::User(key) => store!(users, stripe_customer_id, key),
        Row::Product(key) => store!(products, stripe_product_id, key),
    }
}
