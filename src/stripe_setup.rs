//! `storefront stripe setup`: makes the configured Stripe account (or the emulator) ready for
//! the shop — our webhook endpoint with its API version pinned to our client's, and our
//! products and prices.

use diesel::prelude::*;
use stripe_misc::webhook_endpoint::{
    CreateWebhookEndpoint, CreateWebhookEndpointEnabledEvents, DeleteWebhookEndpoint,
    ListWebhookEndpoint, UpdateWebhookEndpoint, UpdateWebhookEndpointEnabledEvents,
};
use stripe_product::price::{CreatePrice, CreatePriceRecurring, CreatePriceRecurringInterval};
use stripe_product::product::CreateProduct;
use stripe_shared::version::VERSION;

use crate::catalog::model::{Price, Product};
use crate::checkout::fulfil::FulfilError;
use crate::db::{self, DbError};
use crate::payments::PaymentError;
use crate::schema::{prices, products};
use crate::web::AppState;

/// Every event type the shop acts on, now or in features to come.
pub const ENABLED_EVENTS: &[&str] = &[
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
    "payment_intent.payment_failed",
    "charge.refunded",
    "charge.refund.updated",
    "refund.created",
    "refund.updated",
    "refund.failed",
    "charge.dispute.created",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.paid",
    "invoice.payment_failed",
];

#[derive(Debug, Default)]
pub struct SetupReport {
    pub endpoint_id: String,
    /// Only when the endpoint was created: Stripe shows a secret once.
    pub new_secret: Option<String>,
    pub products_created: usize,
    pub prices_created: usize,
}

/// Creates or updates the endpoint for `url`, and creates Stripe products and prices for ours.
pub async fn run(state: &AppState, url: &str) -> Result<SetupReport, FulfilError> {
    let mut report = SetupReport::default();
    let endpoints = state
        .stripe
        .read(&ListWebhookEndpoint::new().limit(100))
        .await?;
    let ours = endpoints.data.into_iter().find(|e| e.url == url);
    let pinned = VERSION.as_str();
    match ours {
        // The API version of an endpoint cannot change: a stale one is replaced.
        Some(e) if e.api_version.as_deref() == Some(pinned) => {
            let events: Vec<UpdateWebhookEndpointEnabledEvents> = ENABLED_EVENTS
                .iter()
                .map(|s| s.parse().expect("infallible"))
                .collect();
            let req = UpdateWebhookEndpoint::new(e.id.clone())
                .enabled_events(events)
                .disabled(false);
            state
                .stripe
                .write(
                    &req,
                    &format!(
                        "setup-endpoint-update-{}-{}",
                        e.id.as_str(),
                        ENABLED_EVENTS.len()
                    ),
                )
                .await?;
            report.endpoint_id = e.id.as_str().to_owned();
        }
        stale => {
            if let Some(e) = stale {
                state
                    .stripe
                    .write(
                        &DeleteWebhookEndpoint::new(e.id.clone()),
                        &format!("setup-endpoint-delete-{}", e.id.as_str()),
                    )
                    .await?;
            }
            let events: Vec<CreateWebhookEndpointEnabledEvents> = ENABLED_EVENTS
                .iter()
                .map(|s| s.parse().expect("infallible"))
                .collect();
            let req = CreateWebhookEndpoint::new(events, url)
                .api_version(VERSION)
                .description("Storefront");
            // A fresh key: a re-run must create anew, not replay an endpoint deleted since.
            let key = format!("setup-endpoint-{}", uuid_like());
            let created = state.stripe.write(&req, &key).await?;
            report.endpoint_id = created.id.as_str().to_owned();
            report.new_secret = created.secret;
        }
    }
    sync_catalog(state, &mut report).await?;
    Ok(report)
}

fn uuid_like() -> String {
    use rand::RngCore as _;
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

async fn sync_catalog(state: &AppState, report: &mut SetupReport) -> Result<(), FulfilError> {
    let (products, prices) = db::run(&state.pool, |conn| {
        let products: Vec<Product> = products::table.select(Product::as_select()).load(conn)?;
        let prices: Vec<Price> = prices::table.select(Price::as_select()).load(conn)?;
        Ok::<_, DbError>((products, prices))
    })
    .await?;
    for product in &products {
        let stripe_product_id = match &product.stripe_product_id {
            Some(id) => id.clone(),
            None => {
                let req = CreateProduct::new(product.name.clone())
                    .description(product.description.clone());
                let created = state
                    .stripe
                    .write(&req, &format!("product-{}", product.id))
                    .await?;
                let id = created.id.as_str().to_owned();
                let (pid, sid, now) = (product.id, id.clone(), state.clock.unix());
                db::run(&state.pool, move |conn| {
                    diesel::update(products::table.find(pid))
                        .set((
                            products::stripe_product_id.eq(sid),
                            products::updated_at.eq(now),
                        ))
                        .execute(conn)
                        .map_err(DbError::from)
                })
                .await?;
                report.products_created += 1;
                id
            }
        };
        for price in prices
            .iter()
            .filter(|p| p.product_id == product.id && p.stripe_price_id.is_none())
        {
            let currency: stripe_types::Currency = price
                .currency
                .parse()
                .map_err(|_| PaymentError::Internal("currency".into()))?;
            let mut req = CreatePrice::new(currency)
                .product(stripe_product_id.clone())
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
            let created = state.stripe.write(&req, &key).await?;
            let (pid, sid, now) = (price.id, created.id.as_str().to_owned(), state.clock.unix());
            db::run(&state.pool, move |conn| {
                diesel::update(prices::table.find(pid))
                    .set((prices::stripe_price_id.eq(sid), prices::updated_at.eq(now)))
                    .execute(conn)
                    .map_err(DbError::from)
            })
            .await?;
            report.prices_created += 1;
        }
    }
    Ok(())
}
