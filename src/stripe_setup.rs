//! `storefront stripe setup`: makes the configured Stripe account (or the emulator) ready for
//! the shop — our webhook endpoint with its API version pinned to our client's, and our
//! products and prices.

use diesel::prelude::*;

use crate::catalog::model::{Price, Product};
use crate::db::{self, DbError};
use crate::error::SyncError;
use crate::payments::webhook_endpoints;
use crate::schema::{prices, products};
use crate::state::AppState;
use crate::stripe_ids;

#[derive(Debug, Default)]
pub struct SetupReport {
    pub endpoint_id: String,
    /// Only when the endpoint was created: Stripe shows a secret once.
    pub new_secret: Option<String>,
    pub products_created: usize,
    /// Products made earlier whose Stripe Product was given the catalogue's tax code.
    pub tax_codes_set: usize,
    pub prices_created: usize,
    pub portal_configuration: String,
}

/// Creates or updates the endpoint for `url`, and creates Stripe products and prices for ours.
pub async fn run(state: &AppState, url: &str) -> Result<SetupReport, SyncError> {
    let mut report = SetupReport::default();
    let events = crate::webhooks::events::handled_types();
    let ours = webhook_endpoints::list(&state.stripe)
        .await?
        .into_iter()
        .find(|e| e.url == url);
    match ours {
        // The API version of an endpoint cannot change: a stale one is replaced.
        Some(e) if e.api_version.as_deref() == Some(webhook_endpoints::pinned_version()) => {
            webhook_endpoints::update(&state.stripe, e.id.as_str(), &events).await?;
            report.endpoint_id = e.id.as_str().to_owned();
        }
        stale => {
            if let Some(e) = stale {
                webhook_endpoints::delete(&state.stripe, e.id.as_str()).await?;
            }
            let created = webhook_endpoints::create(&state.stripe, url, &events).await?;
            report.endpoint_id = created.id.as_str().to_owned();
            report.new_secret = created.secret;
        }
    }
    let plans = sync_catalog(state, &mut report).await?;
    report.portal_configuration = portal_configuration(state, &plans).await?;
    Ok(report)
}

/// Creates Stripe products and prices for ours that have none yet.
async fn sync_catalog(
    state: &AppState,
    report: &mut SetupReport,
) -> Result<Vec<(String, Vec<String>)>, SyncError> {
    let (products, prices) = db::run(&state.pool, |conn| {
        let products: Vec<Product> = products::table.select(Product::as_select()).load(conn)?;
        let prices: Vec<Price> = prices::table.select(Price::as_select()).load(conn)?;
        Ok::<_, DbError>((products, prices))
    })
    .await?;
    // (Stripe product, its recurring Stripe prices): what the Billing Portal may switch between.
    let mut plans = vec![];
    for product in &products {
        let stripe_product = stripe_ids::product(state, product).await?;
        match product.stripe_product_id {
            None => report.products_created += 1,
            // Made earlier: its tax code may predate the catalogue's.
            Some(_) => {
                crate::payments::products::set_tax_code(
                    &state.stripe,
                    &stripe_product,
                    product.tax_code(),
                )
                .await?;
                report.tax_codes_set += 1;
            }
        }
        let mut recurring = vec![];
        for price in prices.iter().filter(|p| p.product_id == product.id) {
            // A price replaced by a new amount: never made at Stripe if it was not sold, and
            // retired there if it was (again, in case the admin page's call failed).
            if !price.active {
                if let Some(id) = &price.stripe_price_id {
                    crate::payments::products::retire_price(&state.stripe, id).await?;
                }
                continue;
            }
            if price.stripe_price_id.is_none() {
                report.prices_created += 1;
            }
            let id = stripe_ids::price(state, price).await?;
            // A plan's shipping charge too, so the first subscriber's Checkout finds it.
            stripe_ids::shipping_price(state, price).await?;
            if price.is_recurring() && price.active {
                recurring.push(id);
            }
        }
        if !recurring.is_empty() {
            plans.push((stripe_product, recurring));
        }
    }
    Ok(plans)
}

/// The Billing Portal configuration, returning customers to their subscriptions page.
async fn portal_configuration(
    state: &AppState,
    plans: &[(String, Vec<String>)],
) -> Result<String, SyncError> {
    let return_url = format!("{}account/subscriptions", state.public_url);
    Ok(crate::payments::portal::configure(&state.stripe, plans, &return_url).await?)
}
