//! Checkout Sessions: create one for an order, read it back, expire it.

use std::collections::HashMap;

use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionAutomaticTax, CreateCheckoutSessionCustomerUpdate,
    CreateCheckoutSessionCustomerUpdateAddress, CreateCheckoutSessionLineItems,
    CreateCheckoutSessionLineItemsPriceData, CreateCheckoutSessionLineItemsPriceDataTaxBehavior,
    CreateCheckoutSessionPaymentIntentData, ExpireCheckoutSession, ListLineItemsCheckoutSession,
    ProductData, RetrieveCheckoutSession,
};
use stripe_shared::{
    CheckoutSession, CheckoutSessionBillingAddressCollection, CheckoutSessionItem,
    CheckoutSessionMode,
};

use super::{PaymentError, Stripe};
use crate::config::TaxSetting;
use crate::orders::model::{Order, OrderItem};

/// What a new Checkout Session needs beyond the order itself.
pub struct SessionUrls {
    pub success_url: String,
    pub cancel_url: String,
}

/// Creates the order's Checkout Session. Every parameter comes from the stored order and its
/// items (their Stripe Products and the tax setting included), so a retry under the same
/// idempotency key sends an identical request, whatever changed since.
///
/// Each line names the Stripe Product stored with it, so a coupon restricted to some products
/// can match it; a line without one (an order from before products were named) keeps an inline
/// name. Customers may enter promotion codes; automatic tax is sent explicitly either way, so a
/// Dashboard default never changes our totals.
pub async fn create(
    stripe: &Stripe,
    order: &Order,
    items: &[OrderItem],
    urls: &SessionUrls,
    customer: Option<&str>,
) -> Result<CheckoutSession, PaymentError> {
    let tax = order.tax();
    let currency = super::currency(&order.currency)?;
    let line_items: Vec<CreateCheckoutSessionLineItems> = items
        .iter()
        .map(|item| {
            let mut price_data = CreateCheckoutSessionLineItemsPriceData::new(currency.clone());
            price_data.unit_amount = Some(item.unit_amount);
            match &item.stripe_product_id {
                Some(id) => price_data.product = Some(id.clone()),
                None => price_data.product_data = Some(ProductData::new(item.name.clone())),
            }
            price_data.tax_behavior = tax.behavior().map(|b| match b {
                "inclusive" => CreateCheckoutSessionLineItemsPriceDataTaxBehavior::Inclusive,
                _ => CreateCheckoutSessionLineItemsPriceDataTaxBehavior::Exclusive,
            });
            let mut line = CreateCheckoutSessionLineItems::new();
            line.price_data = Some(price_data);
            line.quantity = Some(item.quantity as u64);
            line
        })
        .collect();
    let metadata = HashMap::from([("order_number".to_owned(), order.number.clone())]);
    let mut payment_intent_data = CreateCheckoutSessionPaymentIntentData::new();
    payment_intent_data.metadata = Some(metadata.clone());
    let mut req = CreateCheckoutSession::new()
        .mode(CheckoutSessionMode::Payment)
        .line_items(line_items)
        .client_reference_id(order.number.clone())
        .metadata(metadata)
        .payment_intent_data(payment_intent_data)
        .allow_promotion_codes(true)
        .expires_at(order.checkout_expires_at)
        .success_url(urls.success_url.clone())
        .cancel_url(urls.cancel_url.clone());
    if let Some(customer) = customer {
        req = req.customer(customer.to_owned());
    } else if let Some(email) = &order.email {
        req = req.customer_email(email.clone());
    }
    req = with_tax(req, tax, customer.is_some());
    // The order keeps the whole key it was created with (see `Stripe::key`).
    stripe.write_keyed(&req, &order.idempotency_key).await
}

/// A subscription-mode session for one of our recurring prices.
pub struct SubscriptionCheckout<'a> {
    pub customer: &'a str,
    pub stripe_price: &'a str,
    pub user_id: i64,
    pub price_id: i64,
    /// Stored with the attempt, so a retry sends the same value.
    pub expires_at: i64,
    pub success_url: String,
    pub cancel_url: String,
    pub idempotency_key: String,
    pub tax: TaxSetting,
}

/// Automatic tax on or (explicitly) off. On, Checkout asks for the billing address it taxes by,
/// and keeps it on an existing Customer: Stripe refuses automatic tax for a Customer without an
/// address otherwise, and the Customer's renewals are taxed by it.
fn with_tax(
    req: CreateCheckoutSession,
    tax: TaxSetting,
    has_customer: bool,
) -> CreateCheckoutSession {
    let req = req.automatic_tax(CreateCheckoutSessionAutomaticTax::new(tax.is_on()));
    if !tax.is_on() {
        return req;
    }
    let req = req.billing_address_collection(CheckoutSessionBillingAddressCollection::Required);
    if !has_customer {
        return req;
    }
    let mut update = CreateCheckoutSessionCustomerUpdate::new();
    update.address = Some(CreateCheckoutSessionCustomerUpdateAddress::Auto);
    req.customer_update(update)
}

/// Creates a subscription Checkout Session.
pub async fn create_subscription(
    stripe: &Stripe,
    s: &SubscriptionCheckout<'_>,
) -> Result<CheckoutSession, PaymentError> {
    let mut line = CreateCheckoutSessionLineItems::new();
    line.price = Some(s.stripe_price.to_owned());
    line.quantity = Some(1);
    let req = CreateCheckoutSession::new()
        .mode(CheckoutSessionMode::Subscription)
        .customer(s.customer.to_owned())
        .line_items(vec![line])
        .allow_promotion_codes(true)
        .client_reference_id(format!("user-{}", s.user_id))
        .metadata(HashMap::from([
            ("user_id".to_owned(), s.user_id.to_string()),
            ("price_id".to_owned(), s.price_id.to_string()),
        ]))
        .expires_at(s.expires_at)
        .success_url(s.success_url.clone())
        .cancel_url(s.cancel_url.clone());
    let req = with_tax(req, s.tax, true);
    stripe.write(&req, &s.idempotency_key).await
}

/// Reads a session with its PaymentIntent (what really happened to the payment) and its
/// discounts' codes and coupons (what the order page calls the discount).
pub async fn retrieve(stripe: &Stripe, session_id: &str) -> Result<CheckoutSession, PaymentError> {
    let req = RetrieveCheckoutSession::new(session_id).expand(vec![
        "payment_intent".to_owned(),
        "discounts.promotion_code".to_owned(),
        "discounts.coupon".to_owned(),
    ]);
    stripe.read(&req).await
}

/// Most line items one page may hold (Stripe's limit).
const LINE_ITEMS_PAGE: i64 = 100;

/// All of a session's line items, in order, each with its discounts and taxes (which Stripe
/// includes only when asked).
pub async fn line_items(
    stripe: &Stripe,
    session_id: &str,
) -> Result<Vec<CheckoutSessionItem>, PaymentError> {
    let mut all: Vec<CheckoutSessionItem> = vec![];
    loop {
        let mut req = ListLineItemsCheckoutSession::new(session_id)
            .limit(LINE_ITEMS_PAGE)
            .expand(vec!["data.discounts".to_owned(), "data.taxes".to_owned()]);
        if let Some(last) = all.last() {
            req = req.starting_after(last.id.as_str().to_owned());
        }
        let page = stripe.read(&req).await?;
        // An empty page cannot lead anywhere, whatever `has_more` says.
        if page.data.is_empty() || !page.has_more {
            all.extend(page.data);
            return Ok(all);
        }
        all.extend(page.data);
    }
}

/// Expires an open session, so it can no longer be paid.
pub async fn expire(stripe: &Stripe, session_id: &str) -> Result<CheckoutSession, PaymentError> {
    let req = ExpireCheckoutSession::new(session_id);
    stripe.write(&req, &format!("expire-{session_id}")).await
}
