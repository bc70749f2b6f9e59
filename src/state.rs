//! `AppState`: what every handler and job can reach (pool, config, clock, Stripe, metrics, mail).
//! Built once by `startup`; registered as `web::Data<AppState>`.

use std::sync::Arc;

use url::Url;

use crate::clock::Clock;
use crate::config::Config;
use crate::db::Pool;

/// What every handler can reach, registered once as `web::Data<AppState>`.
pub struct AppState {
    pub pool: Pool,
    /// The catalogue pages' shared snapshot (`catalog::snapshot`).
    pub catalogue: crate::catalog::snapshot::CatalogueCache,
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
    /// Password hashes and checks, a few at a time (`accounts::password`).
    pub hasher: Arc<crate::accounts::password::Hasher>,
    /// Demo mode without `SMTP_URL`: account mails as delivered, with their links, in memory
    /// only (shown at `/admin/mail`; the database never holds a usable link).
    pub dev_inbox: Arc<crate::mail::worker::DevInbox>,
    /// Signs the buyers' download links (a key derived from the session key).
    pub links: Arc<crate::digital::links::LinkSigner>,
    /// `/refund-policy`, rendered at start-up.
    pub refund_policy: Arc<crate::refund_policy::Policy>,
}
