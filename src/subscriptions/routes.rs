//! `POST /subscribe/{price_id}`, `GET /account/subscriptions`, the manage actions
//! (`…/{id}/cancel`, `…/{id}/resume`, `…/{id}/change`) and `POST /account/billing-portal`.

use actix_web::{HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use diesel::prelude::*;
use serde::Deserialize;

use super::checkout::{self, Opened};
use super::model::Subscription;
use super::sync;
use crate::accounts::auth::{CurrentUser, SignedIn};
use crate::accounts::model::User;
use crate::accounts::routes::date;
use crate::catalog::model::Price;
use crate::db::{self, DbError};
use crate::error::{AppError, SyncError};
use crate::payments::checkout as sessions;
use crate::payments::portal;
use crate::payments::subscriptions as stripe_subscriptions;
use crate::schema::{prices, products, subscriptions};
use crate::state::AppState;
use crate::stripe_ids;
use crate::web::forms::parse_id;
use crate::web::layout::Layout;
use crate::web::see_other;
use crate::web::session::{CsrfForm, TypedSession};

#[derive(Debug, Deserialize)]
pub struct Empty {}

/// A recurring price that can be subscribed to now, with its product's slug.
async fn subscribable(state: &AppState, price_id: i64) -> Result<(Price, String), AppError> {
    let currency = state.config.currency;
    db::run(&state.pool, move |conn| {
        prices::table
            .inner_join(products::table)
            .filter(prices::id.eq(price_id))
            .filter(prices::active.eq(true))
            .filter(products::status.eq(crate::catalog::model::Status::Active.as_str()))
            .filter(prices::recurring_interval.is_not_null())
            .filter(prices::currency.eq(currency.code()))
            .select((Price::as_select(), products::slug))
            .first::<(Price, String)>(conn)
            .optional()?
            .ok_or(AppError::NotFound)
    })
    .await
}

pub async fn subscribe(
    state: web::Data<AppState>,
    session: TypedSession,
    CurrentUser(user): CurrentUser,
    path: web::Path<String>,
    _form: CsrfForm<Empty>,
) -> Result<HttpResponse, AppError> {
    let price_id = parse_id(&path).ok_or(AppError::NotFound)?;
    let (price, slug) = subscribable(&state, price_id).await?;
    let Some(user) = user else {
        // Guests sign in (or register) first and come back to the product.
        return Err(AppError::SignInRequired(format!("/products/{slug}")));
    };
    let (uid, product_id) = (user.id, price.product_id);
    let already = db::run(&state.pool, move |conn| {
        subscriptions::table
            .inner_join(prices::table)
            .filter(subscriptions::user_id.eq(uid))
            .filter(prices::product_id.eq(product_id))
            .filter(subscriptions::status.eq_any([
                "active",
                "trialing",
                "past_due",
                "unpaid",
                "incomplete",
            ]))
            .count()
            .get_result::<i64>(conn)
            .map_err(DbError::from)
    })
    .await?;
    if already > 0 {
        session.flash("You already have this subscription; switch plans or cancel it here.")?;
        return Ok(see_other("/account/subscriptions"));
    }
    let base = state.public_url.as_str().trim_end_matches('/');
    match checkout::open(&state, &user, &price, format!("{base}/products/{slug}")).await {
        Ok(Opened::Url(url)) => Ok(see_other(&url)),
        Ok(Opened::AlreadySubscribed) => {
            session.flash("You have just subscribed to this; here it is.")?;
            Ok(see_other("/account/subscriptions"))
        }
        Ok(Opened::Conflict) => {
            session.flash(
                "Another payment page for this subscription was opened just now. Please choose your plan again.",
            )?;
            Ok(see_other(&format!("/products/{slug}")))
        }
        Err(e) => {
            tracing::warn!(error = %crate::error::Report(&e), "subscription checkout failed");
            session.flash(
                "The payment page is not available right now. Please try again in a moment.",
            )?;
            Ok(see_other(&format!("/products/{slug}")))
        }
    }
}

pub struct SubscriptionView {
    pub id: i64,
    pub product: String,
    pub price: String,
    pub status: &'static str,
    pub status_class: String,
    pub live: bool,
    pub cancel_at_period_end: bool,
    pub renews: Option<String>,
    pub ends: Option<String>,
    pub ended: Option<String>,
    pub payment_failed: bool,
    /// The shop has since changed this plan's price: the subscriber keeps theirs.
    pub price_retired: bool,
    /// Other prices of the same product to switch to: (id, label).
    pub switch_to: Vec<(i64, String)>,
}

#[derive(Template, WebTemplate)]
#[template(path = "account/subscriptions.html")]
pub struct SubscriptionsPage {
    layout: Layout,
    subscriptions: Vec<SubscriptionView>,
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    pub session_id: Option<String>,
}

pub async fn list(
    state: web::Data<AppState>,
    layout: Layout,
    SignedIn(user): SignedIn,
    query: web::Query<ListQuery>,
) -> Result<SubscriptionsPage, AppError> {
    // Back from Checkout: don't wait for the webhook to show the new subscription.
    if let Some(session_id) = query
        .into_inner()
        .session_id
        .filter(|s| s.starts_with("cs_") && s.len() < 255)
    {
        match sessions::retrieve(&state.stripe, &session_id).await {
            Ok(cs)
                if cs.customer.as_ref().map(|c| c.id().as_str())
                    == user.stripe_customer_id.as_deref() =>
            {
                if let Some(sub) = cs.subscription {
                    if let Err(e) = sync::sync_subscription(&state, sub.id().as_str(), None).await {
                        tracing::warn!(error = %crate::error::Report(&e), "could not sync the new subscription; the webhook will");
                    }
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %crate::error::Report(&e), "could not read the checkout session")
            }
        }
    }
    let views = views_for(&state, &user).await?;
    Ok(SubscriptionsPage {
        layout,
        subscriptions: views,
    })
}

async fn views_for(state: &AppState, user: &User) -> Result<Vec<SubscriptionView>, AppError> {
    let uid = user.id;
    let rows = db::run(&state.pool, move |conn| {
        let subs: Vec<Subscription> = subscriptions::table
            .filter(subscriptions::user_id.eq(uid))
            .order(subscriptions::id.desc())
            .select(Subscription::as_select())
            .load(conn)?;
        let mut out = vec![];
        for s in subs {
            let price: Option<(Price, String)> = match s.price_id {
                Some(pid) => prices::table
                    .inner_join(products::table)
                    .filter(prices::id.eq(pid))
                    .select((Price::as_select(), products::name))
                    .first(conn)
                    .optional()?,
                None => None,
            };
            let others: Vec<Price> = match &price {
                // Only a product still for sale offers its other plans.
                Some((p, _)) => prices::table
                    .inner_join(products::table)
                    .filter(prices::product_id.eq(p.product_id))
                    .filter(prices::id.ne(p.id))
                    .filter(prices::active.eq(true))
                    .filter(prices::recurring_interval.is_not_null())
                    .filter(products::status.eq(crate::catalog::model::Status::Active.as_str()))
                    .select(Price::as_select())
                    .load(conn)?,
                None => vec![],
            };
            out.push((s, price, others));
        }
        Ok::<_, DbError>(out)
    })
    .await?;
    Ok(rows
        .into_iter()
        .map(|(s, price, others)| {
            let live = s.is_live();
            let retired = price.as_ref().filter(|(p, _)| !p.active).map(|(p, _)| p);
            SubscriptionView {
                id: s.id,
                product: price
                    .as_ref()
                    .map(|(_, n)| n.clone())
                    .unwrap_or_else(|| "Subscription".into()),
                price: price
                    .as_ref()
                    .map(|(p, _)| p.plan_label())
                    .unwrap_or_default(),
                status: s.status_label(),
                status_class: s.status.clone(),
                live,
                cancel_at_period_end: s.cancel_at_period_end,
                renews: (live && !s.cancel_at_period_end)
                    .then(|| s.current_period_end.map(date))
                    .flatten(),
                ends: (live && s.cancel_at_period_end)
                    .then(|| s.current_period_end.map(date))
                    .flatten(),
                ended: (!live).then(|| s.ended_at.map(date)).flatten(),
                payment_failed: live && s.payment_failed(),
                price_retired: live && retired.is_some(),
                switch_to: if live {
                    others
                        .iter()
                        // What replaced their price is not a plan to switch to.
                        .filter(|o| {
                            retired.is_none_or(|r| r.recurring_interval != o.recurring_interval)
                        })
                        .map(|p| (p.id, p.plan_label()))
                        .collect()
                } else {
                    vec![]
                },
            }
        })
        .collect())
}

/// The user's own live subscription with this id (anything else: 404).
async fn own(state: &AppState, user: &User, id: &str) -> Result<Subscription, AppError> {
    let id = parse_id(id).ok_or(AppError::NotFound)?;
    let uid = user.id;
    db::run(&state.pool, move |conn| {
        subscriptions::table
            .filter(subscriptions::id.eq(id))
            .filter(subscriptions::user_id.eq(uid))
            .select(Subscription::as_select())
            .first(conn)
            .optional()?
            .ok_or(AppError::NotFound)
    })
    .await
}

async fn set_cancel_at_period_end(
    state: &AppState,
    user: &User,
    id: &str,
    cancel: bool,
) -> Result<Subscription, AppError> {
    let sub = own(state, user, id).await?;
    if !sub.is_live() {
        return Err(AppError::BadRequest(
            "This subscription has already ended.".into(),
        ));
    }
    stripe_subscriptions::set_cancel_at_period_end(
        &state.stripe,
        &sub.stripe_subscription_id,
        cancel,
        &format!("sub-{}-cancel-{cancel}", sub.id),
    )
    .await
    .map_err(SyncError::from)?;
    sync::sync_subscription(state, &sub.stripe_subscription_id, None).await?;
    own(state, user, id).await
}

pub async fn cancel(
    state: web::Data<AppState>,
    session: TypedSession,
    SignedIn(user): SignedIn,
    path: web::Path<String>,
    _form: CsrfForm<Empty>,
) -> Result<HttpResponse, AppError> {
    let sub = set_cancel_at_period_end(&state, &user, &path, true).await?;
    let until = sub.current_period_end.map(date).unwrap_or_default();
    session.flash(format!(
        "Your subscription is cancelled. It stays active until {until}."
    ))?;
    Ok(see_other("/account/subscriptions"))
}

pub async fn resume(
    state: web::Data<AppState>,
    session: TypedSession,
    SignedIn(user): SignedIn,
    path: web::Path<String>,
    _form: CsrfForm<Empty>,
) -> Result<HttpResponse, AppError> {
    let sub = set_cancel_at_period_end(&state, &user, &path, false).await?;
    let next = sub.current_period_end.map(date).unwrap_or_default();
    session.flash(format!(
        "Welcome back! Your subscription continues and renews on {next}."
    ))?;
    Ok(see_other("/account/subscriptions"))
}

#[derive(Debug, Deserialize)]
pub struct ChangeForm {
    #[serde(default)]
    pub price_id: String,
}

pub async fn change(
    state: web::Data<AppState>,
    session: TypedSession,
    SignedIn(user): SignedIn,
    path: web::Path<String>,
    form: CsrfForm<ChangeForm>,
) -> Result<HttpResponse, AppError> {
    let sub = own(&state, &user, &path).await?;
    if !sub.is_live() {
        return Err(AppError::BadRequest(
            "This subscription has already ended.".into(),
        ));
    }
    let new_id = parse_id(&form.0.price_id)
        .ok_or_else(|| AppError::BadRequest("Choose a plan to switch to.".into()))?;
    let (new_price, _) = subscribable(&state, new_id).await?;
    let current_product: Option<i64> = match sub.price_id {
        Some(pid) => {
            db::run(&state.pool, move |conn| {
                prices::table
                    .find(pid)
                    .select(prices::product_id)
                    .first::<i64>(conn)
                    .optional()
                    .map_err(DbError::from)
            })
            .await?
        }
        None => None,
    };
    if current_product != Some(new_price.product_id) || sub.price_id == Some(new_price.id) {
        return Err(AppError::BadRequest(
            "That plan is not another plan of this subscription.".into(),
        ));
    }
    let stripe_price = stripe_ids::price(&state, &new_price).await?;
    let shipping = stripe_ids::shipping_price(&state, &new_price).await?;
    let shipping_prices = db::run(&state.pool, |conn| {
        use crate::schema::shipping_prices;
        shipping_prices::table
            .select(shipping_prices::stripe_price_id)
            .load::<String>(conn)
            .map_err(DbError::from)
    })
    .await?;
    // The plan item (and the shipping item with it) get the new prices; Stripe prorates.
    stripe_subscriptions::switch_plan(
        &state.stripe,
        &sub.stripe_subscription_id,
        &stripe_subscriptions::Switch {
            from: &sub.stripe_price_id,
            to: &stripe_price,
            shipping: shipping.as_deref(),
            shipping_prices: &shipping_prices,
        },
        &format!("sub-{}-price-{}", sub.id, new_price.id),
    )
    .await
    .map_err(SyncError::from)?;
    sync::sync_subscription(&state, &sub.stripe_subscription_id, None).await?;
    session.flash(format!(
        "Switched to {}. The unused time of your old plan is credited.",
        new_price.plan_label()
    ))?;
    Ok(see_other("/account/subscriptions"))
}

pub async fn billing_portal(
    state: web::Data<AppState>,
    SignedIn(user): SignedIn,
    _form: CsrfForm<Empty>,
) -> Result<HttpResponse, AppError> {
    let customer = stripe_ids::customer(&state, &user).await?;
    let return_url = format!(
        "{}/account/subscriptions",
        state.public_url.as_str().trim_end_matches('/')
    );
    let url = portal::session(
        &state.stripe,
        &customer,
        &return_url,
        &format!("portal-{}", user.id),
    )
    .await
    .map_err(SyncError::from)?;
    Ok(see_other(&url))
}
