//! `storefront stripe doctor` and `/admin/health`: checks the Stripe account (or the emulator)
//! for the settings that would break orders before customers find out, one line per check with
//! what to do.

use diesel::prelude::*;

use crate::db::{self, DbError};
use crate::payments::{self, PaymentError};
use crate::schema::prices;
use crate::state::AppState;
use crate::webhooks::events::handled_types;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub level: Level,
    pub detail: String,
    /// What to do about it (for a warning or a failure).
    pub fix: Option<String>,
}

impl Check {
    fn ok(name: &'static str, detail: impl Into<String>) -> Self {
        Self {
            name,
            level: Level::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    fn warn(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            name,
            level: Level::Warn,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            name,
            level: Level::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    pub fn failed(&self) -> bool {
        self.checks.iter().any(|c| c.level == Level::Fail)
    }

    /// One line per check: `ok    webhook endpoint: …`, with `→ what to do` after a problem.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for c in &self.checks {
            out.push_str(&format!("{:<5} {}: {}", c.level.as_str(), c.name, c.detail));
            if let Some(fix) = &c.fix {
                out.push_str(&format!(" → {fix}"));
            }
            out.push('\n');
        }
        out
    }
}

const SETUP: &str = "run `storefront stripe setup` (it pins the version and enables every type; a new endpoint prints a new signing secret)";

/// Names of the checks, in the order they run.
pub const ENDPOINT: &str = "webhook endpoint";
pub const ENABLED: &str = "endpoint enabled";
pub const VERSION: &str = "endpoint API version";
pub const EVENT_TYPES: &str = "endpoint event types";
pub const SECRET: &str = "signing secret";
pub const TAX: &str = "Stripe Tax";
pub const PORTAL: &str = "Billing Portal";
pub const PRICES: &str = "prices";
pub const CURRENCY: &str = "currency";
pub const MAIL: &str = "mail";

/// How long the signed round trip may take before the check says it did not arrive.
const ROUND_TRIP: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs every check; Stripe failing to answer one check is that check's warning, not the end.
pub async fn run(state: &AppState) -> Report {
    let mut checks = vec![];
    let url = format!(
        "{}/webhooks/stripe",
        state.public_url.as_str().trim_end_matches('/')
    );
    checks.extend(endpoint_checks(state, &url).await);
    checks.push(tax_check(state).await);
    checks.push(portal_check(state).await);
    checks.push(prices_check(state).await);
    checks.push(currency_check(state).await);
    checks.push(mail_check(state));
    Report { checks }
}

fn unanswered(name: &'static str, e: &PaymentError) -> Check {
    Check::warn(
        name,
        format!("Stripe did not answer ({e})"),
        "check the key and the network, then run the doctor again",
    )
}

async fn endpoint_checks(state: &AppState, url: &str) -> Vec<Check> {
    let endpoints = match payments::webhook_endpoints::list(&state.stripe).await {
        Ok(e) => e,
        Err(e) => {
            return vec![Check::fail(
                ENDPOINT,
                format!("the endpoints could not be listed ({e})"),
                "check STRIPE_SECRET_KEY: the doctor needs a key that can read webhook endpoints",
            )];
        }
    };
    let Some(ep) = endpoints.into_iter().find(|e| e.url == url) else {
        return vec![Check::fail(
            ENDPOINT,
            format!("no endpoint for {url}"),
            SETUP,
        )];
    };
    let id = ep.id.as_str().to_owned();
    let mut checks = vec![Check::ok(ENDPOINT, format!("{id} at {url}"))];
    checks.push(if ep.status == "enabled" {
        Check::ok(ENABLED, "enabled")
    } else {
        Check::fail(
            ENABLED,
            format!("the endpoint is {}: Stripe sends it nothing", ep.status),
            "enable it in the Stripe Dashboard (Developers → Webhooks), or run `storefront stripe setup`",
        )
    });
    let pinned = payments::webhook_endpoints::pinned_version();
    checks.push(match ep.api_version.as_deref() {
        Some(v) if v == pinned => Check::ok(VERSION, v.to_owned()),
        Some(v) => Check::fail(
            VERSION,
            format!("events come in {v}; the shop reads {pinned}"),
            SETUP,
        ),
        None => Check::warn(
            VERSION,
            format!("events come in the account's default version; the shop reads {pinned}"),
            SETUP,
        ),
    });
    let enabled = &ep.enabled_events;
    let missing: Vec<String> = if enabled.iter().any(|t| t == "*") {
        vec![]
    } else {
        handled_types()
            .into_iter()
            .filter(|t| !enabled.contains(t))
            .collect()
    };
    checks.push(if missing.is_empty() {
        Check::ok(
            EVENT_TYPES,
            format!("all {} types the shop handles", handled_types().len()),
        )
    } else {
        Check::fail(
            EVENT_TYPES,
            format!("missing {}", missing.join(", ")),
            SETUP,
        )
    });
    checks.push(if ep.status == "enabled" {
        secret_check(state, &id).await
    } else {
        Check::warn(
            SECRET,
            "not checked: the endpoint is disabled",
            "enable it first",
        )
    });
    checks
}

/// Against the emulator, a real signed round trip to the running shop; against Stripe (which
/// has no API to send a test event) the last event the shop verified.
async fn secret_check(state: &AppState, endpoint: &str) -> Check {
    match payments::webhook_endpoints::send_test_event(&state.stripe, endpoint).await {
        Ok(event) => {
            let id = event.id.as_str().to_owned();
            let deadline = tokio::time::Instant::now() + ROUND_TRIP;
            loop {
                match payments::webhook_endpoints::retrieve_event(&state.stripe, &id).await {
                    Ok(e) if e.pending_webhooks == 0 => {
                        return Check::ok(
                            SECRET,
                            format!("a signed test event ({id}) was accepted by the shop"),
                        );
                    }
                    Ok(_) if tokio::time::Instant::now() < deadline => {
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    }
                    Ok(_) => {
                        return Check::fail(
                            SECRET,
                            format!(
                                "the signed test event {id} was not accepted (the shop answered an error, or is not running)"
                            ),
                            "start the shop, and set STRIPE_WEBHOOK_SECRET to the secret `storefront stripe setup` printed for this endpoint",
                        );
                    }
                    Err(e) => return unanswered(SECRET, &e),
                }
            }
        }
        // Stripe itself: no test events through the API.
        Err(PaymentError::Refused { status: 404, .. }) => last_verified(state).await,
        Err(e) => unanswered(SECRET, &e),
    }
}

/// The last delivery whose signature verified (not the reconcile's rows: those have none).
pub async fn last_verified(state: &AppState) -> Check {
    let last: Result<Option<i64>, DbError> = db::run(&state.pool, |conn| {
        crate::webhooks::ledger::last_verified(conn).map_err(DbError::from)
    })
    .await;
    match last {
        Ok(Some(at)) => Check::ok(
            SECRET,
            format!(
                "the last signed delivery verified {}",
                crate::admin::routes::when(at)
            ),
        ),
        Ok(None) => Check::warn(
            SECRET,
            "cannot verify: no signed delivery has arrived yet",
            "send a test event from the Stripe Dashboard (Developers → Webhooks) and run the doctor again",
        ),
        Err(e) => Check::warn(
            SECRET,
            format!("cannot verify: the database did not answer ({e})"),
            "check DATABASE_URL",
        ),
    }
}

async fn tax_check(state: &AppState) -> Check {
    if !state.config.tax.is_on() {
        return Check::ok(TAX, "off (STRIPE_TAX): prices are charged as they are");
    }
    match payments::account::tax_settings(&state.stripe).await {
        Ok(s) if s.status == "active" => Check::ok(TAX, "active"),
        Ok(s) => Check::fail(
            TAX,
            format!(
                "STRIPE_TAX=on but the account's tax settings are {}",
                s.status
            ),
            "finish Tax settings in the Stripe Dashboard (head office address, registrations), or set STRIPE_TAX=off",
        ),
        Err(e) => unanswered(TAX, &e),
    }
}

async fn portal_check(state: &AppState) -> Check {
    match payments::portal::default_configuration(&state.stripe).await {
        Ok(Some(c)) => {
            let f = &c.features;
            let mut lacking = vec![];
            if !f.subscription_cancel.enabled {
                lacking.push("cancelling");
            }
            if !f.payment_method_update.enabled {
                lacking.push("updating the card");
            }
            if !f.invoice_history.enabled {
                lacking.push("invoice history");
            }
            if lacking.is_empty() {
                Check::ok(
                    PORTAL,
                    format!(
                        "{} allows cancelling, updating the card and invoices",
                        c.id.as_str()
                    ),
                )
            } else {
                Check::warn(
                    PORTAL,
                    format!(
                        "the default configuration does not allow {}",
                        lacking.join(", ")
                    ),
                    "turn them on in the Stripe Dashboard (Settings → Billing → Customer portal): the account pages send customers there for them",
                )
            }
        }
        Ok(None) => Check::warn(
            PORTAL,
            "no default configuration: \"Manage billing\" fails",
            "save the customer portal settings once in the Stripe Dashboard (Settings → Billing → Customer portal)",
        ),
        Err(e) => unanswered(PORTAL, &e),
    }
}

async fn prices_check(state: &AppState) -> Check {
    let ours: Result<Vec<String>, DbError> = db::run(&state.pool, |conn| {
        prices::table
            .filter(prices::active.eq(true))
            .filter(prices::stripe_price_id.is_not_null())
            .select(prices::stripe_price_id.assume_not_null())
            .load(conn)
            .map_err(DbError::from)
    })
    .await;
    let ours = match ours {
        Ok(o) => o,
        Err(e) => {
            return Check::warn(
                PRICES,
                format!("the database did not answer ({e})"),
                "check DATABASE_URL",
            );
        }
    };
    let theirs = match payments::products::active_price_ids(&state.stripe).await {
        Ok(t) => t,
        Err(e) => return unanswered(PRICES, &e),
    };
    let gone: Vec<&String> = ours.iter().filter(|p| !theirs.contains(p)).collect();
    if gone.is_empty() {
        Check::ok(
            PRICES,
            format!("all {} prices on sale are active at Stripe", ours.len()),
        )
    } else {
        Check::fail(
            PRICES,
            format!(
                "{} price(s) on sale are missing or archived at Stripe: {}",
                gone.len(),
                gone.iter()
                    .take(10)
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "reactivate them in the Stripe Dashboard, or give the product a new price in /admin/products (subscriptions cannot start on an archived price)",
        )
    }
}

async fn currency_check(state: &AppState) -> Check {
    let ours = state.config.currency.code().to_owned();
    match payments::account::account(&state.stripe).await {
        Ok(a) => match a.default_currency {
            Some(c) if c == ours => Check::ok(CURRENCY, format!("{} settles in {c}", a.id)),
            Some(c) => Check::warn(
                CURRENCY,
                format!("the shop sells in {ours}; {} settles in {c}", a.id),
                "each payment is converted (and charged a conversion fee); set CURRENCY to the account's, or add a bank account in that currency",
            ),
            None => Check::ok(CURRENCY, format!("{} has no default currency set", a.id)),
        },
        Err(e) => unanswered(CURRENCY, &e),
    }
}

fn mail_check(state: &AppState) -> Check {
    if state.config.smtp_url.is_some() {
        Check::ok(MAIL, "SMTP_URL is set")
    } else if state.config.is_demo() {
        Check::ok(MAIL, "demo mode: mail goes to /admin/mail")
    } else {
        Check::warn(
            MAIL,
            "no SMTP_URL: receipts, password resets and address checks are not sent",
            "set SMTP_URL (smtp://user:pass@host:587)",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_fails_on_any_failed_check_and_says_what_to_do() {
        let report = Report {
            checks: vec![
                Check::ok(ENDPOINT, "we_1 at https://shop/webhooks/stripe"),
                Check::warn(MAIL, "no SMTP_URL", "set SMTP_URL"),
            ],
        };
        assert!(!report.failed());
        let mut failing = report.clone();
        failing.checks.push(Check::fail(
            ENABLED,
            "the endpoint is disabled",
            "enable it",
        ));
        assert!(failing.failed());
        let text = failing.render();
        assert!(text.contains("ok    webhook endpoint: we_1"), "{text}");
        assert!(
            text.contains("warn  mail: no SMTP_URL → set SMTP_URL"),
            "{text}"
        );
        assert!(
            text.contains("FAIL  endpoint enabled: the endpoint is disabled → enable it"),
            "{text}"
        );
    }
}
