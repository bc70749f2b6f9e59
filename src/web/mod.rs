//! Web plumbing shared by every feature: state, page layout, sessions and CSRF, headers, assets,
//! the canonical host.

pub mod assets;
pub mod canonical_host;
pub mod field_errors;
pub mod forms;
pub mod layout;
pub mod security;
pub mod session;
pub mod telemetry;

use std::sync::Arc;

use url::Url;

use crate::clock::Clock;
use crate::config::Config;
use crate::db::Pool;

/// What every handler can reach, registered once as `web::Data<AppState>`.
pub struct AppState {
    pub pool: Pool,
    pub config: Arc<Config>,
    pub clock: Arc<dyn Clock>,
    /// Base for absolute links (success, cancel and return URLs).
    pub public_url: Url,
    pub stripe: crate::payments::Stripe,
    /// This application's Prometheus registry (`GET /metrics`).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Signing secret of our webhook endpoint (`whsec_…`).
    pub webhook_secret: String,
    pub mailer: std::sync::Arc<crate::mail::worker::Transport>,
    /// Sender of our mail: `MAIL_FROM`, or `Storefront <shop@HOST>` from `PUBLIC_URL`.
    pub mail_from: String,
}

/// A rendered page with a status other than 200 (re-rendered forms, refusals). Pages answered
/// with 200 return their template directly.
pub fn html_page(
    rendered: Result<String, askama::Error>,
    status: actix_web::http::StatusCode,
) -> Result<actix_web::HttpResponse, crate::error::AppError> {
    let html = rendered.map_err(|e| crate::error::AppError::Internal(e.into()))?;
    Ok(actix_web::HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(html))
}
