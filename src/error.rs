//! The error types of the two layers above the database, and the one place that turns errors
//! into HTTP responses.
//!
//! [`SyncError`] is the domain's error for work that brings our records in step with Stripe
//! (fulfilment, subscription, refund and dispute sync, reconcile, setup): Stripe failed, or the
//! database did. [`AppError`] is the web layer's.
//!
//! Handlers return `Result<_, AppError>`. Use `NotFound` for anything the visitor may not see or
//! that does not exist (never reveal which), `BadRequest` for input we cannot even parse (forms
//! that fail validation are re-rendered by their handler instead), `Csrf` for a missing or wrong
//! token, and `Internal` for everything else: its cause is logged, never shown.
//!
//! Every 4xx/5xx response that is not already a page or JSON — ours or actix's own (unknown route,
//! unparsable query string) — is rendered as the HTML error page by [`render_error_page`].

use actix_web::body::BoxBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use crate::db::DbError;
use crate::payments::PaymentError;
use crate::web::layout::Layout;

/// An error with its causes on one line ("Stripe: Stripe's answer is unknown: timed out"), for
/// logs: our error types keep their causes as sources rather than in their own message.
pub struct Report<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

/// Stripe or the database failed while we synced with Stripe; both keep their cause.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("Stripe")]
    Stripe(#[from] PaymentError),
    #[error("database")]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for SyncError {
    fn from(e: diesel::result::Error) -> Self {
        SyncError::Db(e.into())
    }
}

impl From<SyncError> for AppError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::Db(e) => e.into(),
            // Stripe did not answer (or kept answering 429): a moment later may work. Our own
            // mistakes (a request Stripe refuses, an answer we cannot read) stay 500s.
            SyncError::Stripe(
                ref cause @ (PaymentError::Unknown(_) | PaymentError::Refused { status: 429, .. }),
            ) => {
                tracing::warn!(error = %Report(cause), "Stripe did not answer");
                AppError::Unavailable(
                    "Our payment provider did not answer. Please try again in a moment.".into(),
                )
            }
            other => AppError::Internal(other.into()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("missing or invalid CSRF token")]
    Csrf,
    #[error("forbidden")]
    Forbidden,
    /// Forbidden, with the reason the page gives.
    #[error("refused: {0}")]
    Refused(String),
    /// A link that worked once and no longer does (expired, used up).
    #[error("gone: {0}")]
    Gone(String),
    /// Only for signed-in users: go sign in, then come back to the path.
    #[error("sign-in required")]
    SignInRequired(String),
    /// The state changed under the form, or the thing cannot be done in its state. Shown.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Something we depend on (Stripe) did not answer; nothing was changed. The reason is shown.
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<DbError> for AppError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Query(diesel::result::Error::NotFound) => AppError::NotFound,
            other => AppError::Internal(other.into()),
        }
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        DbError::from(e).into()
    }
}

/// What the error page says, carried from the error to the page renderer.
#[derive(Debug, Clone)]
pub struct ErrorMessage(pub String);

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Csrf | AppError::Forbidden | AppError::Refused(_) => StatusCode::FORBIDDEN,
            AppError::Gone(_) => StatusCode::GONE,
            AppError::SignInRequired(_) => StatusCode::SEE_OTHER,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let AppError::SignInRequired(next) = self {
            let target = format!(
                "/account/login?next={}",
                url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
            );
            return HttpResponse::SeeOther()
                .insert_header(("Location", target))
                .finish();
        }
        let message = match self {
            AppError::NotFound => "We couldn't find that page.".to_owned(),
            AppError::BadRequest(m)
            | AppError::Refused(m)
            | AppError::Gone(m)
            | AppError::Unavailable(m)
            | AppError::Conflict(m) => m.clone(),
            AppError::Csrf => {
                "Your form expired or came from somewhere else. Go back, reload the page and try again.".to_owned()
            }
            AppError::Forbidden => "You don't have access to this page.".to_owned(),
            AppError::SignInRequired(_) => String::new(),
            AppError::Internal(cause) => {
                tracing::error!(error = ?cause, "request failed");
                "Something went wrong on our side. Please try again in a moment.".to_owned()
            }
        };
        let mut res = HttpResponse::new(self.status_code());
        res.extensions_mut().insert(ErrorMessage(message));
        res
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    status: u16,
    title: &'static str,
    message: String,
}

fn title_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "That request didn't make sense",
        403 => "Not allowed",
        404 => "Page not found",
        405 => "Not allowed",
        410 => "That link no longer works",
        413 => "That was too large",
        429 => "Too many requests",
        s if s >= 500 => "Something went wrong",
        _ => "That didn't work",
    }
}

/// `ErrorHandlers` hook: renders the HTML error page for error responses without a page body.
pub fn render_error_page<B: 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let content_type = res
        .response()
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with("text/html") || content_type.starts_with("application/json") {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let message = res
        .response()
        .extensions()
        .get::<ErrorMessage>()
        .map(|m| m.0.clone())
        .unwrap_or_else(|| match status.as_u16() {
            404 => "We couldn't find that page.".to_owned(),
            405 => "That page can't be used like that.".to_owned(),
            s if s >= 500 => {
                "Something went wrong on our side. Please try again in a moment.".to_owned()
            }
            _ => "The request was not understood. Please check what you entered and try again."
                .to_owned(),
        });
    let page = ErrorPage {
        layout: Layout::from_request(res.request()),
        status: status.as_u16(),
        title: title_for(status),
        message,
    };
    let html = page
        .render()
        .unwrap_or_else(|_| "<!doctype html><title>Error</title><p>Error</p>".to_owned());
    let (req, mut response) = res.into_parts();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    let response = response.set_body(BoxBody::new(html));
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, response).map_into_right_body(),
    ))
}
