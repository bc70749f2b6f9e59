//! E-mail verification and password reset, both through e-mailed single-use links.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use diesel::prelude::*;
use serde::Deserialize;
use validator::Validate;

use super::model::{self, User, normalize_email};
use super::password::HashError;
use super::{limits, sessions, tokens};
use crate::db::{self, DbError, write_tx};
use crate::error::AppError;
use crate::mail::messages::account_mail;
use crate::mail::outbox;
use crate::schema::{orders, users};
use crate::state::AppState;
use crate::web::client::ClientAddr;
use crate::web::field_errors::FieldErrors;
use crate::web::layout::Layout;
use crate::web::see_other;
use crate::web::session::{CsrfForm, TypedSession};

/// Queues the "confirm your e-mail address" mail for a new account (its link's token is issued
/// when the mail is sent).
pub async fn send_verification(state: &AppState, user: &User) -> Result<(), AppError> {
    let (uid, email, now) = (user.id, user.email.clone(), state.clock.unix());
    let mail = account_mail(
        tokens::VERIFY,
        uid,
        &email,
        &state.public_url,
        format!("verify-{uid}"),
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
    error: Option<String>,
}

pub async fn forgot_form(layout: Layout) -> Result<HttpResponse, AppError> {
    crate::web::html_page(
        ForgotPage {
            layout,
            sent: false,
            error: None,
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

/// Answers the same whether or not the address has an account, and however often it is asked:
/// at most one mail per e-mail address every few minutes (`limits::RESET_MAIL_PER_EMAIL`). Only
/// a client asking too often is told to wait (`limits::FORGOT_PER_ADDRESS`).
pub async fn forgot(
    state: web::Data<AppState>,
    layout: Layout,
    client: ClientAddr,
    form: CsrfForm<ForgotForm>,
) -> Result<HttpResponse, AppError> {
    let email = normalize_email(&form.0.email);
    let (ip, now, public_url) = (
        client.limit_key(),
        state.clock.unix(),
        state.public_url.clone(),
    );
    let refused = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            if let Err(wait) = limits::hit(conn, &limits::FORGOT_PER_ADDRESS, &ip, now)? {
                return Ok(Some(wait));
            }
            if email.len() > 254
                || limits::hit(conn, &limits::RESET_MAIL_PER_EMAIL, &email, now)?.is_err()
            {
                return Ok(None);
            }
            let Some(user) = model::by_email(conn, &email)? else {
                return Ok(None);
            };
            let mail = account_mail(
                tokens::RESET,
                user.id,
                &user.email,
                &public_url,
                format!("reset-{}-{now}", user.id),
            )
            .map_err(|e| diesel::result::Error::QueryBuilderError(Box::new(e)))?;
            outbox::enqueue(conn, &mail, now)?;
            Ok::<_, diesel::result::Error>(None)
        })
        .map_err(DbError::from)
    })
    .await?;
    if let Some(wait) = refused {
        return crate::web::html_page(
            ForgotPage {
                layout,
                sent: false,
                error: Some(format!(
                    "Too many requests from your network. Please wait {} and try again.",
                    limits::minutes(wait)
                )),
            }
            .render(),
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    crate::web::html_page(
        ForgotPage {
            layout,
            sent: true,
            error: None,
        }
        .render(),
        StatusCode::OK,
    )
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

/// What a reset submission may do, decided before any password is hashed.
enum ResetGate {
    Go,
    Invalid,
    Wait(i64),
}

pub async fn reset(
    state: web::Data<AppState>,
    layout: Layout,
    session: Session,
    client: ClientAddr,
    form: CsrfForm<ResetForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.0;
    let page = |layout: Layout, token: String, valid: bool, errors: FieldErrors, status| {
        crate::web::html_page(
            ResetPage {
                layout,
                token,
                valid,
                errors,
            }
            .render(),
            status,
        )
    };
    if let Err(e) = form.validate() {
        let valid = is_valid(&state, &form.token, tokens::RESET).await?;
        return page(
            layout,
            form.token,
            valid,
            FieldErrors::from_validation(&e),
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    if !tokens::plausible(&form.token) {
        return page(
            layout,
            form.token,
            false,
            FieldErrors::default(),
            StatusCode::NOT_FOUND,
        );
    }
    // The limits and the token are checked before the password is hashed: hashing costs
    // ~19 MiB and a core, and nobody without a valid link gets that far.
    let (token, now, ip) = (form.token.clone(), state.clock.unix(), client.limit_key());
    let gate = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            if let Err(wait) = limits::hit(conn, &limits::RESET_PER_ADDRESS, &ip, now)? {
                return Ok(ResetGate::Wait(wait));
            }
            let Some(uid) = tokens::peek(conn, &token, tokens::RESET, now)? else {
                return Ok(ResetGate::Invalid);
            };
            if let Err(wait) = limits::hit(conn, &limits::RESET_PER_ACCOUNT, &uid.to_string(), now)?
            {
                return Ok(ResetGate::Wait(wait));
            }
            Ok::<_, diesel::result::Error>(ResetGate::Go)
        })
        .map_err(DbError::from)
    })
    .await?;
    match gate {
        ResetGate::Go => {}
        ResetGate::Invalid => {
            return page(
                layout,
                form.token,
                false,
                FieldErrors::default(),
                StatusCode::NOT_FOUND,
            );
        }
        ResetGate::Wait(wait) => {
            let mut errors = FieldErrors::default();
            errors.add(
                "password",
                format!(
                    "Too many attempts. Please wait {} and try again.",
                    limits::minutes(wait)
                ),
            );
            return page(
                layout,
                form.token,
                true,
                errors,
                StatusCode::TOO_MANY_REQUESTS,
            );
        }
    }
    let hash = match state.hasher.hash(form.password.clone()).await {
        Ok(hash) => hash,
        Err(HashError::Busy) => return Ok(super::busy()),
        Err(e) => return Err(AppError::Internal(e.into())),
    };
    let token = form.token.clone();
    let done = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let Some(uid) = tokens::consume(conn, &token, tokens::RESET, now)? else {
                return Ok(false);
            };
            // A new epoch, and every recorded session ended: the account is signed out
            // everywhere.
            diesel::update(users::table.find(uid))
                .set((
                    users::password_hash.eq(&hash),
                    users::session_epoch.eq(users::session_epoch + 1),
                    users::updated_at.eq(now),
                ))
                .execute(conn)?;
            sessions::end_all(conn, uid, now)?;
            tokens::revoke_all(conn, uid, tokens::RESET, now)?;
            Ok::<_, diesel::result::Error>(true)
        })
        .map_err(DbError::from)
    })
    .await?;
    if !done {
        return page(
            layout,
            form.token,
            false,
            FieldErrors::default(),
            StatusCode::NOT_FOUND,
        );
    }
    // Emptied rather than purged: a purged session drops what is written after it (the flash).
    session.clear();
    let session = TypedSession(session);
    session.renew();
    session.flash("Your password is changed. Please sign in with the new one.")?;
    Ok(see_other("/account/login"))
}
