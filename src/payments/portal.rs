//! The Billing Portal: its configuration and the sessions that hand a customer over to it.

use sha2::Digest as _;
use stripe_billing::billing_portal_configuration::{
    CreateBillingPortalConfiguration, CreateBillingPortalConfigurationFeatures,
    CreateBillingPortalConfigurationFeaturesCustomerUpdate,
    CreateBillingPortalConfigurationFeaturesCustomerUpdateAllowedUpdates as CustomerField,
    CreateBillingPortalConfigurationFeaturesSubscriptionCancel,
    CreateBillingPortalConfigurationFeaturesSubscriptionCancelMode,
    CreateBillingPortalConfigurationFeaturesSubscriptionUpdate,
    CreateBillingPortalConfigurationFeaturesSubscriptionUpdateDefaultAllowedUpdates,
    CreateBillingPortalConfigurationFeaturesSubscriptionUpdateProrationBehavior, InvoiceListParam,
    PaymentMethodUpdateParam, SubscriptionUpdateProductParam,
};
use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_billing::{
    BillingPortalConfiguration, billing_portal_configuration::ListBillingPortalConfiguration,
};

use super::{PaymentError, Stripe};

/// A portal session for `customer` that returns to `return_url`. Short-lived and harmless if
/// duplicated, so a fresh key per call.
pub async fn session(
    stripe: &Stripe,
    customer: &str,
    return_url: &str,
    what: &str,
) -> Result<String, PaymentError> {
    let req = CreateBillingPortalSession::new()
        .customer(customer.to_owned())
        .return_url(return_url.to_owned());
    Ok(stripe.write_once(&req, what).await?.url)
}

/// The configuration: cancel at period end, switch between a product's plans (prorated),
/// update the card, see invoices. `plans` are (Stripe product, its recurring Stripe prices).
pub async fn configure(
    stripe: &Stripe,
    plans: &[(String, Vec<String>)],
    return_url: &str,
) -> Result<String, PaymentError> {
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
    // A physical plan ships to the Customer's shipping address: the customer keeps it current
    // here (and the billing address Stripe Tax uses).
    let mut customer = CreateBillingPortalConfigurationFeaturesCustomerUpdate::new(true);
    customer.allowed_updates = Some(vec![CustomerField::Shipping, CustomerField::Address]);
    features.customer_update = Some(customer);
    let req = CreateBillingPortalConfiguration::new(features).default_return_url(return_url);
    // Same plans, same key: re-running setup does not pile up configurations.
    // (v2: customers may update their addresses.)
    let key = format!(
        "portal-config-v2-{}",
        &hex::encode(sha2::Sha256::digest(format!("{plans:?}").as_bytes()))[..32]
    );
    Ok(stripe.write(&req, &key).await?.id.as_str().to_owned())
}

/// The account's default configuration (the one a portal session without `configuration` uses),
/// if it has one.
pub async fn default_configuration(
    stripe: &Stripe,
) -> Result<Option<BillingPortalConfiguration>, PaymentError> {
    let list = stripe
        .read(
            &ListBillingPortalConfiguration::new()
                .is_default(true)
                .limit(1),
        )
        .await?;
    Ok(list.data.into_iter().next())
}
