//! A customer's saved cards: listed and read through their Customer (so Stripe itself says
//! whether a method is theirs), the Customer's default, and detaching.

use stripe_client_core::{RequestBuilder, StripeMethod, StripeRequest};
use stripe_core::customer::{
    ListPaymentMethodsCustomer, ListPaymentMethodsCustomerType, RetrieveCustomer,
    RetrieveCustomerReturned, RetrievePaymentMethodCustomer,
};
use stripe_shared::PaymentMethod;

use super::{PaymentError, Stripe};

/// A saved card as the account page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedCard {
    pub id: String,
    pub brand: String,
    pub last4: String,
    pub exp_month: i64,
    pub exp_year: i64,
}

impl SavedCard {
    fn of(pm: PaymentMethod) -> Option<Self> {
        let card = pm.card?;
        Some(Self {
            id: pm.id.as_str().to_owned(),
            brand: card.brand,
            last4: card.last4,
            exp_month: card.exp_month,
            exp_year: card.exp_year,
        })
    }
}

/// Stripe's most per page; nobody keeps more cards than that.
const PAGE: i64 = 100;

/// The customer's saved cards, newest first.
pub async fn cards(stripe: &Stripe, customer: &str) -> Result<Vec<SavedCard>, PaymentError> {
    let req = ListPaymentMethodsCustomer::new(customer)
        .type_(ListPaymentMethodsCustomerType::Card)
        .limit(PAGE);
    let list = stripe.read(&req).await?;
    Ok(list.data.into_iter().filter_map(SavedCard::of).collect())
}

/// The customer's card `id`, or `None` when it is not theirs (or not a card, or unknown).
pub async fn card_of(
    stripe: &Stripe,
    customer: &str,
    id: &str,
) -> Result<Option<SavedCard>, PaymentError> {
    match stripe
        .read(&RetrievePaymentMethodCustomer::new(customer, id))
        .await
    {
        Ok(pm) if pm.customer.as_ref().map(|c| c.id().as_str()) == Some(customer) => {
            Ok(SavedCard::of(pm))
        }
        Ok(_) => Ok(None),
        // Not theirs, not a payment method, or a Customer gone at Stripe: nobody's card here.
        Err(PaymentError::Refused { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The Customer's default payment method (`invoice_settings.default_payment_method`).
pub async fn default_of(stripe: &Stripe, customer: &str) -> Result<Option<String>, PaymentError> {
    match stripe.read(&RetrieveCustomer::new(customer)).await? {
        RetrieveCustomerReturned::Customer(c) => Ok(c
            .invoice_settings
            .and_then(|s| s.default_payment_method)
            .map(|pm| pm.id().as_str().to_owned())),
        RetrieveCustomerReturned::DeletedCustomer(_) => Ok(None),
    }
}

/// `POST /v1/payment_methods/{id}/detach`, which async-stripe has in a crate of its own that
/// we would build for this one call.
struct DetachPaymentMethod {
    id: String,
}

impl StripeRequest for DetachPaymentMethod {
    type Output = PaymentMethod;

    fn build(&self) -> RequestBuilder {
        RequestBuilder::new(
            StripeMethod::Post,
            format!("/payment_methods/{}/detach", self.id),
        )
    }
}

/// Detaches a card from its customer. Detaching is idempotent by nature (a card already
/// detached is no longer the customer's, which the caller checks first), so each call gets a
/// fresh key: a key derived from the card would replay a failed first answer for a day.
pub async fn detach(stripe: &Stripe, id: &str) -> Result<(), PaymentError> {
    let req = DetachPaymentMethod { id: id.to_owned() };
    stripe.write_once(&req, "detach").await?;
    Ok(())
}
