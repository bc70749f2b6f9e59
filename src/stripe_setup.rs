//! `storefront stripe setup`: makes the configured Stripe account (or the emulator) ready for
//! the shop — our webhook endpoint with its API version pinned to our client's, and our
//! products and prices.

use diesel::prelude::*;
use sha2::Digest as _;
use stripe_billing::billing_portal_configuration::{
    CreateBillingPortalConfiguration, CreateBillingPortalConfigurationFeatures,
    CreateBillingPortalConfigurationFeaturesSubscriptionCancel,
    CreateBillingPortalConfigurationFeaturesSubscriptionCancelMode,
    CreateBillingPortalConfigurationFeaturesSubscriptionUpdate,
    CreateBillingPortalConfigurationFeaturesSubscriptionUpdateDefaultAllowedUpdates,
    CreateBillingPortalConfigurationFeaturesSubscriptionUpdateProrationBehavior, InvoiceListParam,
    PaymentMethodUpdateParam, SubscriptionUpdateProductParam,
};
use stripe_misc::webhook_endpoint::{
    CreateWebhookEndpoint, CreateWebhookEndpointEnabledEvents, DeleteWebhookEndpoint,
    ListWebhookEndpoint, UpdateWebhookEndpoint, UpdateWebhookEndpointEnabledEvents,
};
use stripe_shared::version::VERSION;

use crate::catalog::model::{Price, Product};
use crate::checkout::fulfil::FulfilError;
use crate::db::{self, DbError};
use crate::schema::{prices, products};
use crate::subscriptions::prices::{ensure_price, ensure_product};
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
    pub portal_configuration: String,
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
    let plans = sync_catalog(state, &mut report).await?;
    report.portal_configuration = portal_configuration(state, &plans).await?;
    Ok(report)
}

fn uuid_like() -> String {
    use rand::RngCore as _;
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// Creates Stripe products and prices for ours that have none yet.
async fn sync_catalog(
    state: &AppState,
    report: &mut SetupReport,
) -> Result<Vec<(String, Vec<String>)>, FulfilError> {
    let (products, prices) = db::run(&state.pool, |conn| {
        let products: Vec<Product> = products::table.select(Product::as_select()).load(conn)?;
        let prices: Vec<Price> = prices::table.select(Price::as_select()).load(conn)?;
        Ok::<_, DbError>((products, prices))
    })
    .await?;
    // (Stripe product, its recurring Stripe prices): what the Billing Portal may switch between.
    let mut plans = vec![];
    for product in &products {
        if product.stripe_product_id.is_none() {
            report.products_created += 1;
        }
        let stripe_product = ensure_product(state, product).await.map_err(setup_error)?;
        let mut recurring = vec![];
        for price in prices.iter().filter(|p| p.product_id == product.id) {
            if price.stripe_price_id.is_none() {
                report.prices_created += 1;
            }
            let id = ensure_price(state, price).await.map_err(setup_error)?;
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

fn setup_error(e: crate::subscriptions::prices::SyncError) -> FulfilError {
    match e {
        crate::subscriptions::prices::SyncError::Stripe(e) => FulfilError::Stripe(e),
        crate::subscriptions::prices::SyncError::Db(e) => FulfilError::Db(e),
    }
}

/// The Billing Portal configuration: cancel at period end, switch between a product's plans
/// (prorated), update the card, see invoices.
async fn portal_configuration(
    state: &AppState,
    plans: &[(String, Vec<String>)],
) -> Result<String, FulfilError> {
    let mut cancel = CreateBillingPortalConfigurationFeaturesSubscriptionCancel::new(true);
    cancel.mode = Some(CreateBillingPortalConfigurationFeaturesSubscriptionCancelMode::AtPeriodEnd);
    let mut update =
        CreateBillingPortalConfigurationFeaturesSubscriptionUpdate::new(!plans.is_empty());
    update.default_allowed_updates = Some(vec![
        CreateBillingPortalConfigurationFeaturesSubscriptionUpdateDefaultAllowedUpdates::Price,
    ]);
    update.proration_behavior = Some(CreateBillingPortalConfigurationFeaturesSubscriptionUpdateProrationBehavior::CreateProrations);
    update.products = Some(
        plans
            .iter()
            .map(|(product, prices)| {
                SubscriptionUpdateProductParam::new(prices.clone(), product.clone())
            })
            .collect(),
    );
    let mut features = CreateBillingPortalConfigurationFeatures::new();
    features.subscription_cancel = Some(cancel);
    features.subscription_update = Some(update);
    features.payment_method_update = Some(PaymentMethodUpdateParam::new(true));
    features.invoice_history = Some(InvoiceListParam::new(true));
    let req = CreateBillingPortalConfiguration::new(features)
        .default_return_url(format!("{}account/subscriptions", state.public_url));
    // Same plans, same key: re-running setup does not pile up configurations.
    let key = format!(
        "portal-config-{}",
        hex::encode(sha2::Sha256::digest(format!("{plans:?}").as_bytes()))[..32].to_owned()
    );
    Ok(state.stripe.write(&req, &key).await?.id.as_str().to_owned())
}
