//! Checkout Sessions: create one for an order, read it back, expire it.

use std::collections::HashMap;

use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionAutomaticTax, CreateCheckoutSessionCustomerUpdate,
    CreateCheckoutSessionCustomerUpdateAddress, CreateCheckoutSessionCustomerUpdateShipping,
    CreateCheckoutSessionLineItems, CreateCheckoutSessionLineItemsPriceData,
    CreateCheckoutSessionLineItemsPriceDataTaxBehavior, CreateCheckoutSessionPaymentIntentData,
    CreateCheckoutSessionPhoneNumberCollection, CreateCheckoutSessionSavedPaymentMethodOptions,
    CreateCheckoutSessionSavedPaymentMethodOptionsPaymentMethodSave as SaveCard,
    CreateCheckoutSessionShippingAddressCollection, CreateCheckoutSessionShippingOptions,
    CreateCheckoutSessionShippingOptionsShippingRateData,
    CreateCheckoutSessionShippingOptionsShippingRateDataDeliveryEstimate as Estimate,
    CreateCheckoutSessionShippingOptionsShippingRateDataDeliveryEstimateMaximum as EstimateMax,
    CreateCheckoutSessionShippingOptionsShippingRateDataDeliveryEstimateMaximumUnit as MaxUnit,
    CreateCheckoutSessionShippingOptionsShippingRateDataDeliveryEstimateMinimum as EstimateMin,
    CreateCheckoutSessionShippingOptionsShippingRateDataDeliveryEstimateMinimumUnit as MinUnit,
    CreateCheckoutSessionShippingOptionsShippingRateDataFixedAmount,
    CreateCheckoutSessionShippingOptionsShippingRateDataTaxBehavior,
    CreateCheckoutSessionShippingOptionsShippingRateDataType, ExpireCheckoutSession,
    ListLineItemsCheckoutSession, ProductData, RetrieveCheckoutSession,
};
use stripe_shared::{
    CheckoutSession, CheckoutSessionBillingAddressCollection, CheckoutSessionItem,
    CheckoutSessionMode,
};

use super::{PaymentError, Stripe};
use crate::config::TaxSetting;
use crate::orders::model::{Order, OrderItem};

/// Stripe Tax's code for shipping charges.
pub const SHIPPING_TAX_CODE: &str = "txcd_92010001";

/// The metadata key naming our rate on the Stripe shipping rate Checkout makes from it.
pub const RATE_KEY: &str = "rate_key";

/// What Checkout asks about shipping for an order with something physical in it.
pub struct ShippingAsk<'a> {
    /// ISO codes of the countries we ship to (`SHIP_TO`).
    pub countries: &'a [String],
    /// Ask for a phone number too (`COLLECT_PHONE`).
    pub phone: bool,
    /// The order's options, the first preselected; none: shipping is free and not asked.
    pub rates: &'a [crate::shipping::offer::Offered],
}

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
    shipping: Option<&ShippingAsk<'_>>,
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
        // A returning customer sees the cards they saved, and may save this one: asked on the
        // page, never implied (which `setup_future_usage` would do).
        let mut saved = CreateCheckoutSessionSavedPaymentMethodOptions::new();
        saved.payment_method_save = Some(SaveCard::Enabled);
        req = req
            .customer(customer.to_owned())
            .saved_payment_method_options(saved);
    } else if let Some(email) = &order.email {
        req = req.customer_email(email.clone());
    }
    // A one-off parcel (a gift, say) must not become where the customer's plan ships: only a
    // subscription's Checkout keeps its address on the Customer.
    req = with_tax(req, tax, customer.is_some(), false);
    if let Some(ask) = shipping {
        req = with_address(req, ask.countries, ask.phone);
        if !ask.rates.is_empty() {
            req = req.shipping_options(shipping_options(ask.rates, tax, &currency));
        }
    }
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
    /// For a physical plan: the countries we ship to. The address is kept on the Customer, and
    /// each renewal's invoice ships to it.
    pub ship_to: Option<&'a [String]>,
    pub phone: bool,
    /// The plan's shipping charge per period (a Stripe Price of the same interval), billed as a
    /// second item; `None`: the plan's price includes delivery.
    pub shipping_price: Option<&'a str>,
}

/// Automatic tax on or (explicitly) off. On, Checkout asks for the billing address it taxes by,
/// and keeps it on an existing Customer: Stripe refuses automatic tax for a Customer without an
/// address otherwise, and the Customer's renewals are taxed by it.
/// With `save_shipping`, the shipping address entered is kept on the Customer too (renewals of a
/// physical plan ship to it; the next checkout starts from it).
fn with_tax(
    req: CreateCheckoutSession,
    tax: TaxSetting,
    has_customer: bool,
    save_shipping: bool,
) -> CreateCheckoutSession {
    let mut req = req.automatic_tax(CreateCheckoutSessionAutomaticTax::new(tax.is_on()));
    if tax.is_on() {
        req = req.billing_address_collection(CheckoutSessionBillingAddressCollection::Required);
    }
    if !has_customer || !(tax.is_on() || save_shipping) {
        return req;
    }
    let mut update = CreateCheckoutSessionCustomerUpdate::new();
    if tax.is_on() {
        update.address = Some(CreateCheckoutSessionCustomerUpdateAddress::Auto);
    }
    if save_shipping {
        update.shipping = Some(CreateCheckoutSessionCustomerUpdateShipping::Auto);
    }
    req.customer_update(update)
}

/// Collects the shipping address (limited to the countries we ship to), optionally a phone
/// number, and offers the order's rates as inline rate data: each carries our rate's key, and
/// with tax on the order's tax behavior and Stripe's shipping tax code.
fn with_address(
    req: CreateCheckoutSession,
    countries: &[String],
    phone: bool,
) -> CreateCheckoutSession {
    let countries = countries
        .iter()
        .map(|c| c.parse().unwrap_or_else(|never| match never {}))
        .collect::<Vec<_>>();
    let req = req.shipping_address_collection(CreateCheckoutSessionShippingAddressCollection::new(
        countries,
    ));
    if phone {
        req.phone_number_collection(CreateCheckoutSessionPhoneNumberCollection::new(true))
    } else {
        req
    }
}

fn shipping_options(
    rates: &[crate::shipping::offer::Offered],
    tax: TaxSetting,
    currency: &stripe_types::Currency,
) -> Vec<CreateCheckoutSessionShippingOptions> {
    rates
        .iter()
        .map(|r| {
            let mut data =
                CreateCheckoutSessionShippingOptionsShippingRateData::new(r.name.clone());
            data.type_ =
                Some(CreateCheckoutSessionShippingOptionsShippingRateDataType::FixedAmount);
            data.fixed_amount = Some(
                CreateCheckoutSessionShippingOptionsShippingRateDataFixedAmount::new(
                    r.amount,
                    currency.clone(),
                ),
            );
            if r.min_days.is_some() || r.max_days.is_some() {
                let mut estimate = Estimate::new();
                estimate.minimum = r
                    .min_days
                    .map(|d| EstimateMin::new(MinUnit::BusinessDay, d));
                estimate.maximum = r
                    .max_days
                    .map(|d| EstimateMax::new(MaxUnit::BusinessDay, d));
                data.delivery_estimate = Some(estimate);
            }
            data.metadata = Some(HashMap::from([(RATE_KEY.to_owned(), r.rate_key.clone())]));
            if let Some(behavior) = tax.behavior() {
                data.tax_behavior = Some(match behavior {
                    "inclusive" => {
                        CreateCheckoutSessionShippingOptionsShippingRateDataTaxBehavior::Inclusive
                    }
                    _ => CreateCheckoutSessionShippingOptionsShippingRateDataTaxBehavior::Exclusive,
                });
                data.tax_code = Some(SHIPPING_TAX_CODE.to_owned());
            }
            let mut option = CreateCheckoutSessionShippingOptions::new();
            option.shipping_rate_data = Some(data);
            option
        })
        .collect()
}

/// Creates a subscription Checkout Session.
pub async fn create_subscription(
    stripe: &Stripe,
    s: &SubscriptionCheckout<'_>,
) -> Result<CheckoutSession, PaymentError> {
    let line = |price: &str| {
        let mut line = CreateCheckoutSessionLineItems::new();
        line.price = Some(price.to_owned());
        line.quantity = Some(1);
        line
    };
    let mut lines = vec![line(s.stripe_price)];
    lines.extend(s.shipping_price.map(line));
    let req = CreateCheckoutSession::new()
        .mode(CheckoutSessionMode::Subscription)
        .customer(s.customer.to_owned())
        .line_items(lines)
        .allow_promotion_codes(true)
        .client_reference_id(format!("user-{}", s.user_id))
        .metadata(HashMap::from([
            ("user_id".to_owned(), s.user_id.to_string()),
            ("price_id".to_owned(), s.price_id.to_string()),
        ]))
        .expires_at(s.expires_at)
        .success_url(s.success_url.clone())
        .cancel_url(s.cancel_url.clone());
    let mut req = with_tax(req, s.tax, true, s.ship_to.is_some());
    // Shipping options exist only in payment mode: a plan's price includes its delivery, or
    // its shipping charge is the second line above.
    if let Some(countries) = s.ship_to {
        req = with_address(req, countries, s.phone);
    }
    stripe.write(&req, &s.idempotency_key).await
}

/// Reads a session with its PaymentIntent (what really happened to the payment) and its
/// discounts' codes and coupons (what the order page calls the discount).
pub async fn retrieve(stripe: &Stripe, session_id: &str) -> Result<CheckoutSession, PaymentError> {
    let req = RetrieveCheckoutSession::new(session_id).expand(vec![
        "payment_intent".to_owned(),
        "discounts.promotion_code".to_owned(),
        "discounts.coupon".to_owned(),
        "shipping_cost.shipping_rate".to_owned(),
    ]);
    stripe.read(&req).await
}

/// [`retrieve`] for fulfilment: in the same call, the first page of line items with their
/// discounts and taxes, and the charge's balance transaction (Stripe's fee), so a paid order
/// costs one read, not three (see README "Selling at scale").
pub async fn retrieve_for_fulfilment(
    stripe: &Stripe,
    session_id: &str,
) -> Result<CheckoutSession, PaymentError> {
    let req = RetrieveCheckoutSession::new(session_id).expand(vec![
        "payment_intent.latest_charge.balance_transaction".to_owned(),
        "discounts.promotion_code".to_owned(),
        "discounts.coupon".to_owned(),
        "shipping_cost.shipping_rate".to_owned(),
        "line_items".to_owned(),
        "line_items.data.discounts".to_owned(),
        "line_items.data.taxes".to_owned(),
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
