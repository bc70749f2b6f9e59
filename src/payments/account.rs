//! What the account itself says: its default (settlement) currency and whether Stripe Tax is
//! active. async-stripe has these in crates of their own (Connect, Tax) that we would build for
//! two reads; the requests here name only the fields we read.

use stripe_client_core::{RequestBuilder, StripeMethod, StripeRequest};

use super::{PaymentError, Stripe};

#[derive(Debug, miniserde::Deserialize)]
pub struct AccountInfo {
    pub id: String,
    pub default_currency: Option<String>,
}

struct RetrieveAccount;

impl StripeRequest for RetrieveAccount {
    type Output = AccountInfo;

    fn build(&self) -> RequestBuilder {
        RequestBuilder::new(StripeMethod::Get, "/account")
    }
}

/// The account the key belongs to.
pub async fn account(stripe: &Stripe) -> Result<AccountInfo, PaymentError> {
    stripe.read(&RetrieveAccount).await
}

#[derive(Debug, miniserde::Deserialize)]
pub struct TaxSettings {
    /// `active` or `pending` (the head office or a default is missing).
    pub status: String,
}

struct RetrieveTaxSettings;

impl StripeRequest for RetrieveTaxSettings {
    type Output = TaxSettings;

    fn build(&self) -> RequestBuilder {
        RequestBuilder::new(StripeMethod::Get, "/tax/settings")
    }
}

/// Stripe Tax's settings: automatic tax works only when they are `active`.
pub async fn tax_settings(stripe: &Stripe) -> Result<TaxSettings, PaymentError> {
    stripe.read(&RetrieveTaxSettings).await
}
