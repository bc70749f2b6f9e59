//! The links of a recovery e-mail — `GET|POST /recovery/{token}` (restore the cart) and
//! `GET|POST /recovery/{token}/unsubscribe` — and the account page's reminder choice
//! (`POST /account/reminders`). Following a link only shows a page: mail scanners open links,
//! so restoring (which holds stock) and unsubscribing each take a button press.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;
use validator::Validate;

use super::{RECOVERED, Recovery};
use crate::accounts::auth::{CurrentUser, SignedIn};
use crate::accounts::routes::Empty;
use crate::cart::page::{CheckoutFields, render_cart_with};
use crate::db::{self, DbError};
use crate::error::AppError;
use crate::state::AppState;
use crate::web::client::ClientAddr;
use crate::web::layout::Layout;
use crate::web::see_other;
use crate::web::session::{CsrfForm, TypedSession};

async fn recovery_of(state: &AppState, token: String) -> Result<Recovery, AppError> {
    let now = state.clock.unix();
    db::run(&state.pool, move |conn| {
        super::by_token(conn, &token, now).map_err(DbError::from)
    })
    .await?
    .ok_or(AppError::NotFound)
}

pub struct OfferRow {
    pub name: String,
    pub quantity: i64,
    /// Today's price, or why it cannot be had.
    pub now: String,
    /// What it cost when the cart was left, when that differs.
    pub was: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "recovery/restore.html")]
pub struct RestorePage {
    layout: Layout,
    token: String,
    offers: Vec<OfferRow>,
    /// Paid through this link already.
    recovered: bool,
}

/// `GET /recovery/{token}`: what the cart held, at today's prices, and a button to restore it.
pub async fn show(
    state: web::Data<AppState>,
    layout: Layout,
    path: web::Path<String>,
) -> Result<RestorePage, AppError> {
    let token = path.into_inner();
    let rec = recovery_of(&state, token.clone()).await?;
    let currency = state.config.currency;
    let recovered = rec.status == RECOVERED;
    let offers = db::run(&state.pool, move |conn| {
        super::offers(conn, &rec, currency).map_err(DbError::from)
    })
    .await?;
    Ok(RestorePage {
        layout,
        token,
        recovered,
        offers: offers
            .into_iter()
            .map(|o| OfferRow {
                name: o.name,
                quantity: o.quantity,
                now: o
                    .now
                    .map(|m| m.to_string())
                    .unwrap_or_else(|| "No longer for sale".into()),
                was: o.now.filter(|n| *n != o.was).map(|_| o.was.to_string()),
            })
            .collect(),
    })
}

/// `POST /recovery/{token}`: the lines go back into this browser's cart at today's prices and
/// stock. When nothing changed, checkout starts at once (the stock is held again) and the
/// shopper goes to Stripe; otherwise the cart shows what changed.
pub async fn restore(
    state: web::Data<AppState>,
    layout: Layout,
    session: TypedSession,
    CurrentUser(user): CurrentUser,
    client: ClientAddr,
    path: web::Path<String>,
    _form: CsrfForm<Empty>,
) -> Result<HttpResponse, AppError> {
    let rec = recovery_of(&state, path.into_inner()).await?;
    let (currency, now) = (state.config.currency, state.clock.unix());
    let (cart_id, user_id) = (session.cart_id(), user.as_ref().map(|u| u.id));
    // A guest's receipt goes where the reminder went; a customer's to their account.
    let email = if user.is_none() {
        rec.email.clone()
    } else {
        String::new()
    };
    let (cart_id, changes) = db::run(&state.pool, move |conn| {
        super::restore(conn, &rec, cart_id, user_id, currency, now)
    })
    .await?;
    session.set_cart_id(cart_id)?;
    state.catalogue.invalidate();
    let fields = CheckoutFields {
        email,
        email_error: None,
        remind: false,
    };
    if !changes.is_empty() {
        let mut notes = vec!["Your cart is back, with today's prices and stock:".to_owned()];
        notes.extend(changes);
        return render_cart_with(&state, layout, &session, notes, fields, StatusCode::OK).await;
    }
    crate::checkout::routes::begin(&state, layout, &session, user, &client, cart_id, fields).await
}

#[derive(Template, WebTemplate)]
#[template(path = "recovery/unsubscribe.html")]
pub struct UnsubscribePage {
    layout: Layout,
    token: String,
    done: bool,
}

/// `GET /recovery/{token}/unsubscribe`: asks to confirm (no sign-in needed).
pub async fn unsubscribe_form(
    state: web::Data<AppState>,
    layout: Layout,
    path: web::Path<String>,
) -> Result<UnsubscribePage, AppError> {
    let token = path.into_inner();
    recovery_of(&state, token.clone()).await?;
    Ok(UnsubscribePage {
        layout,
        token,
        done: false,
    })
}

/// `POST /recovery/{token}/unsubscribe`: no more reminders to this address.
pub async fn unsubscribe(
    state: web::Data<AppState>,
    layout: Layout,
    path: web::Path<String>,
    _form: CsrfForm<Empty>,
) -> Result<UnsubscribePage, AppError> {
    let token = path.into_inner();
    let rec = recovery_of(&state, token.clone()).await?;
    let now = state.clock.unix();
    db::run(&state.pool, move |conn| {
        super::unsubscribe(conn, &rec.email, now).map_err(DbError::from)
    })
    .await?;
    Ok(UnsubscribePage {
        layout,
        token,
        done: true,
    })
}

#[derive(Debug, Deserialize, Validate)]
pub struct RemindersForm {
    #[serde(default)]
    #[validate(length(max = 1))]
    pub remind: Option<String>,
}

/// `POST /account/reminders`: the customer's standing consent to recovery e-mails.
pub async fn set_reminders(
    state: web::Data<AppState>,
    session: TypedSession,
    SignedIn(user): SignedIn,
    form: CsrfForm<RemindersForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.0;
    form.validate()
        .map_err(|_| AppError::BadRequest("remind must be 1 or absent".into()))?;
    let on = form.remind.as_deref() == Some("1");
    db::run(&state.pool, move |conn| {
        super::set_opt_in(conn, user.id, on).map_err(DbError::from)
    })
    .await?;
    session.flash(if on {
        "Reminders on: if you leave a checkout unfinished, we'll e-mail you once with a link back."
    } else {
        "Reminders off: we won't e-mail you about unfinished checkouts."
    })?;
    Ok(see_other("/account#reminders"))
}
