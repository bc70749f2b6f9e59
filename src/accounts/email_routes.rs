//! E-mail verification and password reset, both through e-mailed single-use links.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use diesel::prelude::*;
use serde::Deserialize;
use validator::Validate;

use super::model::{self, User, normalize_email};
use super::{password, tokens};
use crate::db::{self, DbError, write_tx};
use crate::error::AppError;
use crate::mail::messages::link_mail;
use crate::mail::outbox;
use crate::schema::{orders, users};
use crate::state::AppState;
use crate::web::field_errors::FieldErrors;
use crate::web::layout::Layout;
use crate::web::see_other;
use crate::web::session::{CsrfForm, TypedSession};

fn link(state: &AppState, path: &str, token: &str) -> String {
    format!(
        "{}{path}?token={token}",
        state.public_url.as_str().trim_end_matches('/')
    )
}

/// Queues the "confirm your e-mail address" mail for a new account.
pub async fn send_verification(state: &AppState, user: &User) -> Result<(), AppError> {
    let (uid, email, now) = (user.id, user.email.clone(), state.clock.unix());
    let token = db::run(&state.pool, move |conn| {
        tokens::issue(conn, uid, tokens::VERIFY, tokens::VERIFY_TTL, now).map_err(DbError::from)
    })
    .await?;
    let mail = link_mail(
        "verify_email",
        format!("verify-{uid}-{}", &token[..12]),
        &email,
        "Confirm your e-mail address",
        "Thanks for creating an account. Please confirm that this address is yours.",
        "Confirm my e-mail address",
        &link(state, "/account/verify", &token),
        "If you didn't create an account, you can ignore this e-mail.",
    )
    .map_err(|e| AppError::Internal(e.into()))?;
    db::run(&state.pool, move |conn| {
        outbox::enqueue(conn, &mail, now).map_err(DbError::from)
    })
    .await?;
    Ok(())
}

/// No `Debug`: single-use tokens never reach a log line.
#[derive(Deserialize)]
pub struct TokenQuery {
    pub token: Option<String>,
}

#[derive(Template)]
#[template(path = "account/verify.html")]
struct VerifyPage {
    layout: Layout,
    token: String,
    valid: bool,
}

pub async fn verify_form(
    state: web::Data<AppState>,
    layout: Layout,
    query: web::Query<TokenQuery>,
) -> Result<HttpResponse, AppError> {
    let token = query.into_inner().token.unwrap_or_default();
    let valid = is_valid(&state, &token, tokens::VERIFY).await?;
    // The link only shows a button: mail scanners that open links must not use the token up.
    crate::web::html_page(
        VerifyPage {
            layout,
            token,
            valid,
        }
        .render(),
        if valid {
            StatusCode::OK
        } else {
            StatusCode::NOT_FOUND
        },
    )
}

async fn is_valid(state: &AppState, token: &str, purpose: &'static str) -> Result<bool, AppError> {
    if !tokens::plausible(token) {
        return Ok(false);
    }
    let (token, now) = (token.to_owned(), state.clock.unix());
    Ok(db::run(&state.pool, move |conn| {
        tokens::peek(conn, &token, purpose, now).map_err(DbError::from)
    })
    .await?
    .is_some())
}

/// No `Debug`: single-use tokens never reach a log line.
#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    pub token: String,
}

pub async fn verify(
    state: web::Data<AppState>,
    layout: Layout,
    session: TypedSession,
    form: CsrfForm<TokenForm>,
) -> Result<HttpResponse, AppError> {
    let token = form.0.token;
    if !tokens::plausible(&token) {
        return crate::web::html_page(
            VerifyPage {
                layout,
                token,
                valid: false,
            }
            .render(),
            StatusCode::NOT_FOUND,
        );
    }
    let now = state.clock.unix();
    let t = token.clone();
    let verified = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let Some(uid) = tokens::consume(conn, &t, tokens::VERIFY, now)? else {
                return Ok(None);
            };
            diesel::update(users::table.find(uid))
                .set(users::email_verified_at.eq(now))
                .execute(conn)?;
            let user = model::by_id(conn, uid)?.ok_or(diesel::result::Error::NotFound)?;
            // Now that the address is proven, the guest orders placed with it are this customer's.
            diesel::update(
                orders::table
                    .filter(orders::user_id.is_null())
                    .filter(orders::email.eq(normalize_email(&user.email))),
            )
            .set(orders::user_id.eq(uid))
            .execute(conn)?;
            Ok::<_, diesel::result::Error>(Some(uid))
        })
        .map_err(DbError::from)
    })
    .await?;
    match verified {
        Some(_) => {
            session.flash("Thank you: your e-mail address is confirmed.")?;
            Ok(see_other("/account"))
        }
        None => crate::web::html_page(
            VerifyPage {
                layout,
                token,
                valid: false,
            }
            .render(),
            StatusCode::NOT_FOUND,
        ),
    }
}

// ---- forgot / reset ----------------------------------------------------------------------

#[derive(Template)]
#[template(path = "account/forgot.html")]
struct ForgotPage {
    layout: Layout,
    sent: bool,
}

pub async fn forgot_form(layout: Layout) -> Result<HttpResponse, AppError> {
    crate::web::html_page(
        ForgotPage {
            layout,
            sent: false,
        }
        .render(),
        StatusCode::OK,
    )
}

#[derive(Debug, Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    pub email: String,
}

/// Answers the same whether or not the address has an account.
pub async fn forgot(
    state: web::Data<AppState>,
    layout: Layout,
    form: CsrfForm<ForgotForm>,
) -> Result<HttpResponse, AppError> {
    let email = form.0.email;
    if email.len() <= 254 {
        let now = state.clock.unix();
        let e = email.clone();
        let found = db::run(&state.pool, move |conn| {
            let Some(user) = model::by_email(conn, &e)? else {
                return Ok(None);
            };
            let token = tokens::issue(conn, user.id, tokens::RESET, tokens::RESET_TTL, now)?;
            Ok::<_, DbError>(Some((user, token)))
        })
        .await?;
        if let Some((user, token)) = found {
            let mail = link_mail(
                "password_reset",
                format!("reset-{}-{}", user.id, &token[..12]),
                &user.email,
                "Reset your password",
                "Someone (hopefully you) asked to reset the password of your account. The link works once, for one hour.",
                "Choose a new password",
                &link(&state, "/account/password/reset", &token),
                "If you didn't ask for this, ignore this e-mail: your password stays as it is.",
            )
            .map_err(|e| AppError::Internal(e.into()))?;
            db::run(&state.pool, move |conn| {
                outbox::enqueue(conn, &mail, now).map_err(DbError::from)
            })
            .await?;
        }
    }
    crate::web::html_page(ForgotPage { layout, sent: true }.render(), StatusCode::OK)
}

#[derive(Template)]
#[template(path = "account/reset.html")]
struct ResetPage {
    layout: Layout,
    token: String,
    valid: bool,
    errors: FieldErrors,
}

pub async fn reset_form(
    state: web::Data<AppState>,
    layout: Layout,
    query: web::Query<TokenQuery>,
) -> Result<HttpResponse, AppError> {
    let token = query.into_inner().token.unwrap_or_default();
    let valid = is_valid(&state, &token, tokens::RESET).await?;
    let status = if valid {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    crate::web::html_page(
        ResetPage {
            layout,
            token,
            valid,
            errors: FieldErrors::default(),
        }
        .render(),
        status,
    )
}

/// No `Debug`: neither the token nor the new password may reach a log line.
#[derive(Default, Deserialize, Validate)]
pub struct ResetForm {
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    #[validate(length(
        min = 12,
        max = 1000,
        message = "Use at least 12 characters (and at most 1000)."
    ))]
    pub password: String,
    #[serde(default)]
    #[validate(must_match(other = "password", message = "The two passwords don't match."))]
    pub password_confirmation: String,
}

pub async fn reset(
    state: web::Data<AppState>,
    layout: Layout,
    session: Session,
    form: CsrfForm<ResetForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.0;
    if let Err(e) = form.validate() {
        let valid = is_valid(&state, &form.token, tokens::RESET).await?;
        return crate::web::html_page(
            ResetPage {
                layout,
                token: form.token,
                valid,
                errors: FieldErrors::from_validation(&e),
            }
            .render(),
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    if !tokens::plausible(&form.token) {
        return crate::web::html_page(
            ResetPage {
                layout,
                token: form.token,
                valid: false,
                errors: FieldErrors::default(),
            }
            .render(),
            StatusCode::NOT_FOUND,
        );
    }
    let typed = form.password.clone();
    let hash = web::block(move || password::hash(&typed))
        .await
        .map_err(|e| AppError::Internal(e.into()))?
        .map_err(|e| AppError::Internal(e.into()))?;
    let (token, now) = (form.token.clone(), state.clock.unix());
    let done = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let Some(uid) = tokens::consume(conn, &token, tokens::RESET, now)? else {
                return Ok(false);
            };
            // A new epoch ends every session of the account, everywhere.
            diesel::update(users::table.find(uid))
                .set((
                    users::password_hash.eq(&hash),
                    users::session_epoch.eq(users::session_epoch + 1),
                    users::updated_at.eq(now),
                ))
                .execute(conn)?;
            tokens::revoke_all(conn, uid, tokens::RESET, now)?;
            Ok::<_, diesel::result::Error>(true)
        })
        .map_err(DbError::from)
    })
    .await?;
    if !done {
        return crate::web::html_page(
            ResetPage {
                layout,
                token: form.token,
                valid: false,
                errors: FieldErrors::default(),
            }
            .render(),
            StatusCode::NOT_FOUND,
        );
    }
    session.purge();
    let session = TypedSession(session);
    session.flash("Your password is changed. Please sign in with the new one.")?;
    Ok(see_other("/account/login"))
}
