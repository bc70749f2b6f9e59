//! Talking to Stripe (or the built-in emulator, which speaks the same API) through async-stripe.
//! Every request the shop sends is built here, one module per Stripe resource; callers keep the
//! decisions, this layer the request shapes, keys and retries.
//!
//! Every call that creates something carries an idempotency key derived from our own record, and
//! is retried with that same key on 429, 5xx and connection failures, so a retry never creates
//! a second object. Every key starts with this database's install id
//! ([`crate::installation`]): `customer-1` of one shop is not `customer-1` of another shop on the
//! same Stripe account, nor of this shop after a database reset. Keys that rows keep for later
//! retries (orders, refunds) are stored whole, prefix included, as [`Stripe::key`] made them,
//! and sent as stored with [`Stripe::write_keyed`]; a row from before install ids keeps the
//! key it was first sent with.

pub mod account;
pub mod balance;
pub mod budget;
pub mod checkout;
pub mod coupons;
pub mod customers;
pub mod disputes;
pub mod payment_methods;
pub mod portal;
pub mod products;
pub mod refunds;
pub mod subscriptions;
pub mod usage;
pub mod webhook_endpoints;

use std::sync::Arc;
use std::time::Duration;

use stripe::{Client, ClientBuilder, StripeError};
use stripe_client_core::{IdempotencyKey, RequestStrategy, StripeRequest};

use crate::metrics::Metrics;

/// The shop's Stripe client.
#[derive(Clone)]
pub struct Stripe {
    client: Client,
    /// What `livemode` every object must carry: a test-mode session never pays a live order.
    pub livemode: bool,
    /// Which account and mode the key belongs to, as far as we can tell without asking: a
    /// fingerprint of the key (`test:` or `live:` and a digest). Orders record it, so a session
    /// that this account says does not exist is known to be really gone, not made elsewhere.
    pub account: String,
    /// Where each call is counted (`storefront_stripe_requests_total`); the app's registry.
    metrics: Arc<Metrics>,
    /// This database's install id: the prefix of every idempotency key.
    install_id: Arc<str>,
    /// This instance's share of the account's rate limit ([`budget`]).
    budget: Arc<budget::Budget>,
    /// The requests sent, per endpoint, until the heartbeat writes them down ([`usage`]).
    usage: Arc<usage::Usage>,
}

/// How a Stripe call failed, in the terms the shop acts on.
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// Stripe answered and refused (4xx, or 429 after retries): nothing was created.
    #[error("Stripe refused the request ({status}): {message}")]
    Refused {
        status: u16,
        code: Option<String>,
        message: String,
    },
    /// We don't know whether Stripe acted (a timeout, a 5xx, a 409 for the same key still in
    /// flight, a broken or refused connection — the client does not tell those apart): retry
    /// with the same key.
    #[error("Stripe's answer is unknown")]
    Unknown(#[source] StripeError),
    /// Our side is wrong (an answer we cannot read, a bad configuration): a bug to log.
    #[error("the Stripe client failed")]
    Client(#[source] StripeError),
    #[error("{0:?} is not a valid idempotency key")]
    BadKey(String),
    #[error("{0:?} is not a currency Stripe knows")]
    Currency(String),
    /// Stripe's answer lacks something it always has.
    #[error("Stripe's answer lacks {0}")]
    Unexpected(&'static str),
}

impl PaymentError {
    /// Whether Stripe certainly did nothing, so our record may be dropped.
    pub fn nothing_created(&self) -> bool {
        matches!(self, PaymentError::Refused { .. })
    }
}

impl From<StripeError> for PaymentError {
    fn from(e: StripeError) -> Self {
        match e {
            // An idempotency error says the key was used for another request: something may
            // exist under it, so it is not a refusal that lets us drop our record.
            StripeError::Stripe(ref err, status)
                if status < 500
                    && status != 409
                    && err.type_ != stripe_shared::ApiErrorsType::IdempotencyError =>
            {
                PaymentError::Refused {
                    status,
                    code: err.code.as_ref().map(|c| c.as_str().to_owned()),
                    message: err.message.clone().unwrap_or_else(|| "no message".into()),
                }
            }
            StripeError::Stripe(..) | StripeError::Timeout | StripeError::ClientError(_) => {
                PaymentError::Unknown(e)
            }
            StripeError::JSONDeserialize(_) | StripeError::ConfigError(_) => {
                PaymentError::Client(e)
            }
        }
    }
}

/// Stripe's currency for one of our lower-case ISO codes.
pub fn currency(code: &str) -> Result<stripe_types::Currency, PaymentError> {
    code.parse()
        .map_err(|_| PaymentError::Currency(code.to_owned()))
}

/// Attempts for one logical call (the first try included).
const ATTEMPTS: u32 = 3;

/// The pause before retry `attempt` + 1: 300 ms, 600 ms… doubled each time, each drawn at
/// random from half to all of it, so instances refused together (a 429 in a rush) do not all
/// come back in the same millisecond.
fn backoff(attempt: u32) -> Duration {
    use rand::Rng as _;
    let full = 150 * 2u64.pow(attempt);
    Duration::from_millis(rand::rng().random_range(full / 2..=full))
}

impl Stripe {
    pub fn new(
        secret_key: &str,
        api_base: Option<&url::Url>,
        timeout: Duration,
        livemode: bool,
        install_id: &str,
    ) -> Result<Self, PaymentError> {
        let mut builder = ClientBuilder::new(secret_key).timeout(timeout).app_info(
            "storefront",
            Some(env!("CARGO_PKG_VERSION").into()),
            None,
        );
        if let Some(base) = api_base {
            builder = builder.url(base.as_str());
        }
        let client = builder.build().map_err(PaymentError::from)?;
        use sha2::Digest as _;
        let digest = hex::encode(sha2::Sha256::digest(secret_key.as_bytes()));
        Ok(Self {
            client,
            livemode,
            account: format!(
                "{}:{}",
                if livemode { "live" } else { "test" },
                &digest[..16]
            ),
            metrics: Arc::new(Metrics::new()),
            install_id: install_id.into(),
            budget: Arc::new(budget::Budget::unlimited()),
            usage: Arc::new(usage::Usage::default()),
        })
    }

    /// Keeps this instance's calls within `budget` (see [`budget`]).
    pub fn with_budget(mut self, budget: budget::Budget) -> Self {
        self.budget = Arc::new(budget);
        self
    }

    /// This instance's share of the rate limit.
    pub fn budget(&self) -> &budget::Budget {
        &self.budget
    }

    /// The requests sent and not yet written down.
    pub fn usage(&self) -> &usage::Usage {
        &self.usage
    }

    /// A turn to create a Checkout Session, if one is free now.
    pub fn try_checkout_turn(&self) -> bool {
        self.budget.try_checkout()
    }

    /// The idempotency key Stripe sees for our record's `local` key (`checkout-SF-…`,
    /// `customer-12`): the install id, a dash, the local key. Store it whole where a row must
    /// retry later, and send it with [`Stripe::write_keyed`].
    pub fn key(&self, local: &str) -> String {
        format!("{}-{local}", self.install_id)
    }

    /// Counts calls in the application's registry.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Sends a read-only request (retried on transient failures; reads are safe to repeat).
    pub async fn read<R: StripeRequest>(&self, req: &R) -> Result<R::Output, PaymentError>
    where
        R::Output: miniserde::Deserialize,
    {
        self.with_retries(&endpoint_of(req), None, || {
            req.customize().send(&self.client)
        })
        .await
    }

    /// Sends a request that changes something under the idempotency key derived from `local`
    /// (see [`Stripe::key`]), retrying with the same key.
    pub async fn write<R: StripeRequest>(
        &self,
        req: &R,
        local: &str,
    ) -> Result<R::Output, PaymentError>
    where
        R::Output: miniserde::Deserialize,
    {
        self.write_keyed(req, &self.key(local)).await
    }

    /// Sends a request that changes something under a whole key a row stored (made by
    /// [`Stripe::key`] when the row was written), retrying with the same key.
    pub async fn write_keyed<R: StripeRequest>(
        &self,
        req: &R,
        key: &str,
    ) -> Result<R::Output, PaymentError>
    where
        R::Output: miniserde::Deserialize,
    {
        let endpoint = endpoint_of(req);
        let key_text = key;
        let key = IdempotencyKey::new(key).map_err(|_| PaymentError::BadKey(key.to_owned()))?;
        self.with_retries(&endpoint, Some(key_text), || {
            req.customize()
                .request_strategy(RequestStrategy::Idempotent(key.clone()))
                .send(&self.client)
        })
        .await
    }

    /// Sends a change that is idempotent by nature (setting a flag, switching to a price) under
    /// a fresh key: the key only makes this call's own retries safe.
    pub async fn write_once<R: StripeRequest>(
        &self,
        req: &R,
        what: &str,
    ) -> Result<R::Output, PaymentError>
    where
        R::Output: miniserde::Deserialize,
    {
        use rand::RngCore as _;
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        self.write(req, &format!("{what}-{}", hex::encode(nonce)))
            .await
    }

    /// Runs one logical call with retries, then counts and logs it once (endpoint, outcome,
    /// attempts, total time, our idempotency key: async-stripe does not expose Stripe's
    /// `Request-Id` response header, so the key is what ties our log to Stripe's request log).
    async fn with_retries<T, F, Fut>(
        &self,
        endpoint: &str,
        key: Option<&str>,
        call: F,
    ) -> Result<T, PaymentError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, StripeError>>,
    {
        let started = std::time::Instant::now();
        let (result, attempts) = self.attempts(endpoint, call).await;
        let elapsed = started.elapsed();
        let outcome = match &result {
            Ok(_) => "ok",
            Err(PaymentError::Refused { .. }) => "refused",
            Err(PaymentError::Unknown(_)) => "unknown",
            Err(_) => "error",
        };
        self.metrics.stripe_call(endpoint, outcome, elapsed);
        let ms = elapsed.as_millis() as u64;
        let idempotency_key = key.unwrap_or("");
        match &result {
            Ok(_) => {
                tracing::info!(%endpoint, outcome, attempts, ms, idempotency_key, "stripe call")
            }
            Err(error) => {
                tracing::warn!(%endpoint, outcome, attempts, ms, idempotency_key, error = %crate::error::Report(error), "stripe call")
            }
        }
        result
    }

    async fn attempts<T, F, Fut>(
        &self,
        endpoint: &str,
        mut call: F,
    ) -> (Result<T, PaymentError>, u32)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, StripeError>>,
    {
        let mut attempt = 1;
        loop {
            // Our own share of the rate limit first: waiting here is cheaper than a 429.
            self.budget.take().await;
            let started = std::time::Instant::now();
            let result = call().await;
            let ms = started.elapsed().as_millis() as u64;
            self.usage.count(
                endpoint,
                matches!(&result, Err(StripeError::Stripe(_, 429))),
            );
            match result {
                Ok(v) => return (Ok(v), attempt),
                Err(e) => {
                    let transient = match &e {
                        StripeError::Stripe(_, status) => {
                            *status == 429 || *status >= 500 || *status == 409
                        }
                        StripeError::ClientError(_) => true,
                        _ => false,
                    };
                    let err = PaymentError::from(e);
                    if !transient || attempt >= ATTEMPTS {
                        return (Err(err), attempt);
                    }
                    tracing::info!(error = %crate::error::Report(&err), attempt, ms, "Stripe call failed; retrying with the same key");
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
            }
        }
    }
}

/// `POST /v1/checkout/sessions/{id}/expire`: the request's method and path with object ids
/// replaced, a bounded label for metrics and logs.
fn endpoint_of<R: StripeRequest>(req: &R) -> String {
    use stripe_client_core::StripeMethod;
    let built = req.build();
    let method = match built.method {
        StripeMethod::Get => "GET",
        StripeMethod::Post => "POST",
        StripeMethod::Delete => "DELETE",
    };
    format!("{method} /v1{}", normalize_path(&built.path))
}

/// The fixed words of the Stripe paths we call; every other segment is an object id and becomes
/// `{id}`, so the label set stays bounded whatever the ids look like.
const PATH_WORDS: &[&str] = &[
    "v1",
    "checkout",
    "sessions",
    "expire",
    "line_items",
    "payment_intents",
    "charges",
    "refunds",
    "customers",
    "products",
    "prices",
    "subscriptions",
    "invoices",
    "billing_portal",
    "configurations",
    "webhook_endpoints",
    "events",
    "coupons",
    "promotion_codes",
    "payment_methods",
    "detach",
    "test_event",
    "account",
    "tax",
    "settings",
    "disputes",
];

/// `/checkout/sessions/cs_test_a1B2/expire` → `/checkout/sessions/{id}/expire`.
fn normalize_path(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg.is_empty() || PATH_WORDS.contains(&seg) {
                seg
            } else {
                "{id}"
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::{backoff, normalize_path};

    #[test]
    fn retries_back_off_with_jitter() {
        let waits: Vec<u128> = (0..50).map(|_| backoff(1).as_millis()).collect();
        assert!(waits.iter().all(|w| (150..=300).contains(w)), "{waits:?}");
        assert!(waits.iter().any(|w| *w != waits[0]), "jittered: {waits:?}");
        assert!((300..=600).contains(&backoff(2).as_millis()));
    }

    #[test]
    fn paths_lose_their_ids_but_keep_their_shape() {
        assert_eq!(
            normalize_path("/checkout/sessions/cs_test_a1B2c3/expire"),
            "/checkout/sessions/{id}/expire"
        );
        assert_eq!(
            normalize_path("/checkout/sessions/cs_test_a1/line_items"),
            "/checkout/sessions/{id}/line_items"
        );
        assert_eq!(
            normalize_path("/payment_intents/pi_3N9x"),
            "/payment_intents/{id}"
        );
        assert_eq!(normalize_path("/refunds"), "/refunds");
        // Ids of any shape, lower-case included, are ids.
        assert_eq!(normalize_path("/customers/abc"), "/customers/{id}");
        assert_eq!(normalize_path("/refunds/re_lower"), "/refunds/{id}");
        assert_eq!(
            normalize_path("/subscriptions/whatever-it-is/../x"),
            "/subscriptions/{id}/{id}/{id}"
        );
    }
}
