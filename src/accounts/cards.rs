//! Account → Payment methods: the cards a customer saved at Checkout, read from Stripe, and
//! removing one (`GET /account/payment-methods`, `POST /account/payment-methods/remove`).
//!
//! A card is only ever looked up through the customer's own Stripe Customer, so an id from
//! someone else's account is "not found" and nothing is detached. The card a live subscription
//! pays with stays until the customer changes it in the Billing Portal.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use diesel::prelude::*;
use serde::Deserialize;

use super::auth::SignedIn;
use super::model::User;
use crate::db::{self, DbError};
use crate::error::{AppError, Report, SyncError};
use crate::payments::PaymentError;
use crate::payments::payment_methods::{self as stripe_cards, SavedCard};
use crate::payments::subscriptions as stripe_subscriptions;
use crate::schema::subscriptions;
use crate::state::AppState;
use crate::subscriptions::model::LIVE_STATUSES;
use crate::web::layout::Layout;
use crate::web::responses::html_page;
use crate::web::see_other;
use crate::web::session::{CsrfForm, TypedSession};

/// Which card pays for what: the Customer's default (what invoices use when a subscription names
/// none) and each live subscription's own card, if it names one.
#[derive(Debug, Default)]
pub struct Payers {
    pub customer_default: Option<String>,
    pub subscriptions: Vec<Option<String>>,
}

impl Payers {
    /// Whether removing `card` would leave a live subscription without the card it pays with.
    pub fn pays_a_subscription(&self, card: &str) -> bool {
        self.subscriptions.iter().any(|own| match own {
            Some(own) => own == card,
            None => self.customer_default.as_deref() == Some(card),
        })
    }
}

pub struct CardView {
    pub id: String,
    pub label: String,
    pub expiry: String,
    pub is_default: bool,
    pub pays_subscription: bool,
}

impl CardView {
    fn of(card: &SavedCard, payers: &Payers) -> Self {
        Self {
            id: card.id.clone(),
            label: format!("{} ending in {}", brand_name(&card.brand), card.last4),
            expiry: format!("{:02}/{}", card.exp_month, card.exp_year % 100),
            is_default: payers.customer_default.as_deref() == Some(card.id.as_str()),
            pays_subscription: payers.pays_a_subscription(&card.id),
        }
    }
}

fn brand_name(brand: &str) -> &str {
    match brand {
        "visa" => "Visa",
        "mastercard" => "Mastercard",
        "amex" => "American Express",
        "discover" => "Discover",
        "diners" => "Diners Club",
        "jcb" => "JCB",
        "unionpay" => "UnionPay",
        _ => "Card",
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "account/payment_methods.html")]
pub struct PaymentMethodsPage {
    pub layout: Layout,
    pub cards: Vec<CardView>,
    /// Stripe could not be reached: the list is unknown, not empty.
    pub unavailable: bool,
    /// Why the last removal was refused.
    pub refusal: Option<String>,
}

/// The live subscriptions' cards (each read from Stripe: the card may have changed in the
/// Billing Portal since our copy) and the Customer's default.
async fn payers(state: &AppState, user: &User, customer: &str) -> Result<Payers, SyncError> {
    let uid = user.id;
    let live: Vec<String> = db::run(&state.pool, move |conn| {
        subscriptions::table
            .filter(subscriptions::user_id.eq(uid))
            .filter(subscriptions::status.eq_any(LIVE_STATUSES))
            .select(subscriptions::stripe_subscription_id)
            .load(conn)
            .map_err(DbError::from)
    })
    .await?;
    let mut payers = Payers {
        customer_default: stripe_cards::default_of(&state.stripe, customer).await?,
        subscriptions: vec![],
    };
    for id in live {
        let sub = stripe_subscriptions::retrieve(&state.stripe, &id).await?;
        payers.subscriptions.push(
            sub.default_payment_method
                .map(|pm| pm.id().as_str().to_owned()),
        );
    }
    Ok(payers)
}

async fn page(
    state: &AppState,
    layout: Layout,
    user: &User,
    refusal: Option<String>,
) -> PaymentMethodsPage {
    let mut page = PaymentMethodsPage {
        layout,
        cards: vec![],
        unavailable: false,
        refusal,
    };
    // Nobody who never paid as a Customer has saved a card: no Customer is made for the asking.
    let Some(customer) = &user.stripe_customer_id else {
        return page;
    };
    let listed = async {
        let cards = stripe_cards::cards(&state.stripe, customer)
            .await
            .map_err(SyncError::from)?;
        let payers = if cards.is_empty() {
            Payers::default()
        } else {
            payers(state, user, customer).await?
        };
        Ok::<_, SyncError>(cards.iter().map(|c| CardView::of(c, &payers)).collect())
    };
    match listed.await {
        Ok(cards) => page.cards = cards,
        // A Customer deleted at Stripe has no cards.
        Err(SyncError::Stripe(PaymentError::Refused { status: 404, .. })) => {}
        Err(e) => {
            tracing::warn!(error = %Report(&e), "could not list the saved cards");
            page.unavailable = true;
        }
    }
    page
}

pub async fn list(
    state: web::Data<AppState>,
    layout: Layout,
    SignedIn(user): SignedIn,
) -> Result<HttpResponse, AppError> {
    let page = page(&state, layout, &user, None).await;
    let status = if page.unavailable {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    html_page(page.render(), status)
}

#[derive(Debug, Deserialize)]
pub struct RemoveForm {
    #[serde(default)]
    pub payment_method: String,
}

/// A Stripe payment method id as the form may carry one; anything else is nobody's card.
fn plausible_id(id: &str) -> bool {
    id.starts_with("pm_")
        && id.len() <= 255
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

pub async fn remove(
    state: web::Data<AppState>,
    layout: Layout,
    session: TypedSession,
    SignedIn(user): SignedIn,
    form: CsrfForm<RemoveForm>,
) -> Result<HttpResponse, AppError> {
    let id = form.0.payment_method;
    let Some(customer) = user.stripe_customer_id.clone() else {
        return Err(AppError::NotFound);
    };
    if !plausible_id(&id) {
        return Err(AppError::NotFound);
    }
    let unavailable = |e: SyncError| match e {
        SyncError::Stripe(e) => {
            tracing::warn!(error = %Report(&e), "could not remove a saved card");
            AppError::Unavailable(
                "We couldn't reach our payment provider. Your card was not removed; please try again in a moment."
                    .into(),
            )
        }
        db => db.into(),
    };
    let card = stripe_cards::card_of(&state.stripe, &customer, &id)
        .await
        .map_err(|e| unavailable(e.into()))?
        .ok_or(AppError::NotFound)?;
    let payers = payers(&state, &user, &customer)
        .await
        .map_err(unavailable)?;
    if payers.pays_a_subscription(&card.id) {
        let label = CardView::of(&card, &payers).label;
        let page = page(
            &state,
            layout,
            &user,
            Some(format!(
                "Your {label} pays for a subscription, so it can't be removed here. Change the subscription's card in the billing portal first."
            )),
        )
        .await;
        return html_page(page.render(), StatusCode::CONFLICT);
    }
    stripe_cards::detach(&state.stripe, &card.id)
        .await
        .map_err(|e| unavailable(e.into()))?;
    tracing::info!(user_id = user.id, "saved card removed");
    session.flash(format!(
        "{} removed.",
        CardView::of(&card, &Payers::default()).label
    ))?;
    Ok(see_other("/account/payment-methods"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payers(default: Option<&str>, subs: &[Option<&str>]) -> Payers {
        Payers {
            customer_default: default.map(str::to_owned),
            subscriptions: subs.iter().map(|s| s.map(str::to_owned)).collect(),
        }
    }

    #[test]
    fn a_card_a_subscription_names_pays_it() {
        let p = payers(Some("pm_b"), &[Some("pm_a")]);
        assert!(p.pays_a_subscription("pm_a"));
        assert!(!p.pays_a_subscription("pm_b"));
    }

    #[test]
    fn a_subscription_naming_no_card_is_paid_by_the_customers_default() {
        let p = payers(Some("pm_b"), &[None]);
        assert!(p.pays_a_subscription("pm_b"));
        assert!(!p.pays_a_subscription("pm_a"));
    }

    #[test]
    fn without_live_subscriptions_every_card_may_go() {
        let p = payers(Some("pm_b"), &[]);
        assert!(!p.pays_a_subscription("pm_b"));
    }

    #[test]
    fn only_payment_method_ids_are_looked_up() {
        assert!(plausible_id("pm_1Abc"));
        assert!(!plausible_id("cus_1Abc"));
        assert!(!plausible_id("pm_../../v1/customers"));
        assert!(!plausible_id(&format!("pm_{}", "a".repeat(300))));
    }
}
