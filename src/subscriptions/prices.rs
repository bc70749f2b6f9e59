//! Stripe ids for our products and prices, created on first use (idempotently) so a shop need
//! not run `storefront stripe setup` before someone subscribes.

use diesel::prelude::*;
use stripe_product::price::{CreatePrice, CreatePriceRecurring, CreatePriceRecurringInterval};
use stripe_product::product::CreateProduct;

use crate::catalog::model::{Price, Product};
use crate::db::{self, DbError};
use crate::payments::{PaymentError, Stripe};
use crate::schema::{prices, products};
use crate::web::AppState;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Stripe(#[from] PaymentError),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The Stripe product id of a product, creating it the first time.
pub async fn ensure_product(state: &AppState, product: &Product) -> Result<String, SyncError> {
    if let Some(id) = &product.stripe_product_id {
        return Ok(id.clone());
    }
    let mut req = CreateProduct::new(product.name.clone());
    if !product.description.is_empty() {
        req = req.description(product.description.clone());
    }
    let created = state
        .stripe
        .write(&req, &format!("product-{}", product.id))
        .await?;
    let (pid, sid, now) = (
        product.id,
        created.id.as_str().to_owned(),
        state.clock.unix(),
    );
    db::run(&state.pool, move |conn| {
        diesel::update(
            products::table
                .filter(products::id.eq(pid))
                .filter(products::stripe_product_id.is_null()),
        )
        .set((
            products::stripe_product_id.eq(&sid),
            products::updated_at.eq(now),
        ))
        .execute(conn)?;
        products::table
            .find(pid)
            .select(products::stripe_product_id)
            .first::<Option<String>>(conn)?
            .ok_or(DbError::Query(diesel::result::Error::NotFound))
    })
    .await
    .map_err(SyncError::from)
}

/// The Stripe price id of a price, creating it (and its product) the first time.
pub async fn ensure_price(state: &AppState, price: &Price) -> Result<String, SyncError> {
    if let Some(id) = &price.stripe_price_id {
        return Ok(id.clone());
    }
    let product_id = price.product_id;
    let product: Product = db::run(&state.pool, move |conn| {
        products::table
            .find(product_id)
            .select(Product::as_select())
            .first(conn)
            .map_err(DbError::from)
    })
    .await?;
    let stripe_product = ensure_product(state, &product).await?;
    let created = create_price(&state.stripe, price, &stripe_product).await?;
    let (pid, now) = (price.id, state.clock.unix());
    db::run(&state.pool, move |conn| {
        diesel::update(
            prices::table
                .filter(prices::id.eq(pid))
                .filter(prices::stripe_price_id.is_null()),
        )
        .set((
            prices::stripe_price_id.eq(&created),
            prices::updated_at.eq(now),
        ))
        .execute(conn)?;
        prices::table
            .find(pid)
            .select(prices::stripe_price_id)
            .first::<Option<String>>(conn)?
            .ok_or(DbError::Query(diesel::result::Error::NotFound))
    })
    .await
    .map_err(SyncError::from)
}

async fn create_price(
    stripe: &Stripe,
    price: &Price,
    stripe_product: &str,
) -> Result<String, PaymentError> {
    let currency: stripe_types::Currency = price
        .currency
        .parse()
        .map_err(|_| PaymentError::Internal("currency".into()))?;
    let mut req = CreatePrice::new(currency)
        .product(stripe_product.to_owned())
        .unit_amount(price.unit_amount)
        .lookup_key(price.lookup_key.clone());
    if let Some(interval) = &price.recurring_interval {
        let interval = match interval.as_str() {
            "day" => CreatePriceRecurringInterval::Day,
            "week" => CreatePriceRecurringInterval::Week,
            "month" => CreatePriceRecurringInterval::Month,
            _ => CreatePriceRecurringInterval::Year,
        };
        req = req.recurring(CreatePriceRecurring::new(interval));
    }
    // Keyed by our row and its terms: new terms, new Stripe price.
    let key = format!(
        "price-{}-{}-{}",
        price.id,
        price.unit_amount,
        price.recurring_interval.as_deref().unwrap_or("once")
    );
    Ok(stripe.write(&req, &key).await?.id.as_str().to_owned())
}
