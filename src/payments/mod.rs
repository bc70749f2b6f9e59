//! Talking to Stripe (or the built-in emulator, which speaks the same API) through async-stripe.
//!
//! Every call that creates something carries an idempotency key derived from our own record, and
//! is retried with that same key on 429, 5xx and connection failures, so a retry never creates
//! a second object.

pub mod checkout;

use std::time::Duration;

use stripe::{Client, ClientBuilder, StripeError};
use stripe_client_core::{IdempotencyKey, RequestStrategy, StripeRequest};

/// The shop's Stripe client.
#[derive(Clone)]
pub struct Stripe {
    client: Client,
    /// What `livemode` every object must carry: a test-mode session never pays a live order.
    pub livemode: bool,
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
    /// We don't know whether Stripe acted (timeout, 5xx, a broken connection): retry with the same key.
    #[error("Stripe's answer is unknown: {0}")]
    Unknown(String),
    /// Stripe could not be reached at all (connection refused): nothing was created.
    #[error("Stripe could not be reached: {0}")]
    Unreachable(String),
    /// Our side is wrong (an answer we cannot read, a bad configuration): a bug to log.
    #[error("Stripe client error: {0}")]
    Internal(String),
}

impl PaymentError {
    /// Whether Stripe certainly did nothing, so our record may be dropped.
    pub fn nothing_created(&self) -> bool {
        matches!(
            self,
            PaymentError::Refused { .. } | PaymentError::Unreachable(_)
        )
    }

    pub fn is_resource_missing(&self) -> bool {
        matches!(self, PaymentError::Refused { status: 404, .. })
            || matches!(self, PaymentError::Refused { code: Some(c), .. } if c == "resource_missing")
    }
}

impl From<StripeError> for PaymentError {
    fn from(e: StripeError) -> Self {
        match e {
            StripeError::Stripe(err, status) => {
                let message = err.message.clone().unwrap_or_else(|| "no message".into());
                let code = err.code.as_ref().map(|c| c.as_str().to_owned());
                if status >= 500 {
                    PaymentError::Unknown(format!("{status}: {message}"))
                } else {
                    PaymentError::Refused {
                        status,
                        code,
                        message,
                    }
                }
            }
            StripeError::Timeout => PaymentError::Unknown("timed out".into()),
            StripeError::ClientError(m) if m.contains("refused") || m.contains("Connect") => {
                PaymentError::Unreachable(m)
            }
            StripeError::ClientError(m) => PaymentError::Unknown(m),
            StripeError::JSONDeserialize(m) => {
                PaymentError::Internal(format!("unreadable answer: {m}"))
            }
            StripeError::ConfigError(m) => PaymentError::Internal(m),
        }
    }
}

/// Attempts for one logical call (the first try included).
const ATTEMPTS: u32 = 3;

impl Stripe {
    pub fn new(
        secret_key: &str,
        api_base: Option<&url::Url>,
        timeout: Duration,
        livemode: bool,
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
        Ok(Self { client, livemode })
    }

    /// Sends a read-only request (retried on transient failures; reads are safe to repeat).
    pub async fn read<R: StripeRequest>(&self, req: &R) -> Result<R::Output, PaymentError>
    where
        R::Output: miniserde::Deserialize,
    {
        self.with_retries(|| req.customize().send(&self.client))
            .await
    }

    /// Sends a request that changes something, under our idempotency key, retrying with the same key.
    pub async fn write<R: StripeRequest>(
        &self,
        req: &R,
        key: &str,
    ) -> Result<R::Output, PaymentError>
    where
        R::Output: miniserde::Deserialize,
    {
        let key = IdempotencyKey::new(key)
            .map_err(|e| PaymentError::Internal(format!("idempotency key: {e:?}")))?;
        self.with_retries(|| {
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

    async fn with_retries<T, F, Fut>(&self, mut call: F) -> Result<T, PaymentError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, StripeError>>,
    {
        let mut attempt = 1;
        loop {
            let started = std::time::Instant::now();
            let result = call().await;
            let ms = started.elapsed().as_millis() as u64;
            match result {
                Ok(v) => return Ok(v),
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
                        tracing::warn!(error = %err, attempt, ms, "Stripe call failed");
                        return Err(err);
                    }
                    tracing::info!(error = %err, attempt, ms, "Stripe call failed; retrying with the same key");
                    tokio::time::sleep(Duration::from_millis(150 * 2u64.pow(attempt))).await;
                    attempt += 1;
                }
            }
        }
    }
}
