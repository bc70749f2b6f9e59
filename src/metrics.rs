//! Prometheus metrics: one registry per application (tests run many apps in one process), served
//! as text at `GET /metrics` to a bearer of `METRICS_TOKEN`, or to loopback peers when it is unset.
//!
//! Every family is created here; code elsewhere calls the small recording methods on
//! [`Metrics`] (reached as `state.metrics`). Label values come from fixed sets (route patterns,
//! Stripe event types, our endpoint names, decline codes), never from user input, so the number
//! of series stays bounded.

use std::net::IpAddr;
use std::time::Duration;

use actix_web::http::header::{self, HeaderMap};
use actix_web::{HttpRequest, HttpResponse, web};
use prometheus::{
    Encoder as _, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};
use subtle::ConstantTimeEq as _;

use crate::state::AppState;

/// Latency buckets (seconds) for HTTP requests and Stripe calls.
const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The application's metric families and their registry.
pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    checkout_sessions: IntCounterVec,
    orders: IntCounterVec,
    payment_failures: IntCounterVec,
    refunds: IntCounterVec,
    refunded_amount: IntCounterVec,
    disputes: IntCounterVec,
    webhooks: IntCounterVec,
    stripe_calls: IntCounterVec,
    stripe_duration: HistogramVec,
    outbox_backlog: IntGauge,
}

/// What became of one webhook request, for `storefront_webhook_events_total{result}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookResult {
    /// Verified and handed to processing.
    Received,
    /// Processed now (effects committed).
    Processed,
    /// Processed before: answered 200 without work.
    Duplicate,
    /// Refused (bad signature, unreadable) or failed (500, Stripe retries).
    Rejected,
}

impl WebhookResult {
    fn as_str(self) -> &'static str {
        match self {
            WebhookResult::Received => "received",
            WebhookResult::Processed => "processed",
            WebhookResult::Duplicate => "duplicate",
            WebhookResult::Rejected => "rejected",
        }
    }
}

/// Stripe's dispute reasons (`charge.dispute.created`'s `reason`).
const DISPUTE_REASONS: [&str; 14] = [
    "bank_cannot_process",
    "check_returned",
    "credit_not_processed",
    "customer_initiated",
    "debit_not_authorized",
    "duplicate",
    "fraudulent",
    "general",
    "incorrect_account_details",
    "insufficient_funds",
    "product_not_received",
    "product_unacceptable",
    "subscription_canceled",
    "unrecognized",
];

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry =
            Registry::new_custom(Some("storefront".into()), None).expect("a valid metrics prefix");
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("metric registered once");
            c
        };
        let histogram = |name: &str, help: &str, labels: &[&str]| {
            let h = HistogramVec::new(
                HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
                labels,
            )
            .expect("valid metric");
            registry
                .register(Box::new(h.clone()))
                .expect("metric registered once");
            h
        };
        let http_requests = counter(
            "http_requests_total",
            "HTTP requests by route pattern, method and status.",
            &["route", "method", "status"],
        );
        let http_duration = histogram(
            "http_request_duration_seconds",
            "HTTP request latency by route pattern and method.",
            &["route", "method"],
        );
        let checkout_sessions = counter(
            "checkout_sessions_created_total",
            "Checkout Sessions created at Stripe, by mode (payment, subscription).",
            &["mode"],
        );
        let orders = counter(
            "orders_total",
            "Orders that reached a status (paid, processing, payment_failed, expired, …).",
            &["status"],
        );
        let payment_failures = counter(
            "payment_failures_total",
            "Failed payment attempts (payment_intent.payment_failed) by decline code.",
            &["decline_code"],
        );
        let refunds = counter(
            "refunds_total",
            "Refunds created (in the shop or in Stripe's Dashboard).",
            &["currency"],
        );
        let refunded_amount = counter(
            "refunded_amount_total",
            "Amount refunded, in minor units of the currency.",
            &["currency"],
        );
        let disputes = counter(
            "disputes_total",
            "Disputes opened (charge.dispute.created) by reason.",
            &["reason"],
        );
        let webhooks = counter(
            "webhook_events_total",
            "Webhook events by Stripe event type and result (received, processed, duplicate, rejected).",
            &["type", "result"],
        );
        let stripe_calls = counter(
            "stripe_requests_total",
            "Calls to the Stripe API (each logical call, retries included) by endpoint and outcome.",
            &["endpoint", "outcome"],
        );
        let stripe_duration = histogram(
            "stripe_request_duration_seconds",
            "Stripe API call latency (retries included) by endpoint.",
            &["endpoint"],
        );
        let outbox_backlog = IntGauge::new(
            "outbox_backlog",
            "Messages waiting in the outbox (set by the outbox worker).",
        )
        .expect("valid metric");
        registry
            .register(Box::new(outbox_backlog.clone()))
            .expect("metric registered once");
        // Label sets known up front are exposed at zero, so each metric (and an alert rule on
        // it, docs/prometheus-alerts.yml) exists before its first event.
        for mode in ["payment", "subscription"] {
            checkout_sessions.with_label_values(&[mode]);
        }
        for status in crate::orders::status::OrderStatus::ALL {
            orders.with_label_values(&[status.as_str()]);
        }
        payment_failures.with_label_values(&["generic_decline"]);
        for reason in DISPUTE_REASONS {
            disputes.with_label_values(&[reason]);
        }
        for (type_, _) in crate::webhooks::events::HANDLED {
            for result in [
                WebhookResult::Received,
                WebhookResult::Processed,
                WebhookResult::Duplicate,
            ] {
                webhooks.with_label_values(&[type_, result.as_str()]);
            }
        }
        webhooks.with_label_values(&["unverified", WebhookResult::Rejected.as_str()]);
        Self {
            registry,
            http_requests,
            http_duration,
            checkout_sessions,
            orders,
            payment_failures,
            refunds,
            refunded_amount,
            disputes,
            webhooks,
            stripe_calls,
            stripe_duration,
            outbox_backlog,
        }
    }

    /// One HTTP request; `route` is the matched pattern (`/products/{slug}`), or `unmatched`.
    /// Methods outside the standard set count as `other`: a client can send any token as a
    /// method, and each would be a new series.
    pub fn http_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let method = match method {
            "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" => method,
            _ => "other",
        };
        self.http_requests
            .with_label_values(&[route, method, &status.to_string()])
            .inc();
        self.http_duration
            .with_label_values(&[route, method])
            .observe(elapsed.as_secs_f64());
    }

    /// A Checkout Session was created at Stripe (not when a pending one is reused); `mode` is
    /// `payment` or `subscription`.
    pub fn checkout_session_created(&self, mode: &str) {
        self.checkout_sessions.with_label_values(&[mode]).inc();
    }

    /// An order moved to `status` (counted once per transition, after the commit).
    pub fn order_status(&self, status: &str) {
        self.orders.with_label_values(&[status]).inc();
    }

    /// A payment attempt failed with this decline code (or error code when Stripe gives none).
    pub fn payment_failed(&self, decline_code: &str) {
        self.payment_failures
            .with_label_values(&[decline_code])
            .inc();
    }

    /// A refund was created, for `amount` minor units of `currency`. Call once per refund: the
    /// webhook counts every `refund.created` event (whoever created the refund), so code that
    /// creates refunds through the API should not call this again.
    pub fn refund_created(&self, amount: i64, currency: &str) {
        self.refunds.with_label_values(&[currency]).inc();
        self.refunded_amount
            .with_label_values(&[currency])
            .inc_by(amount.max(0).unsigned_abs());
    }

    /// A dispute was opened (once per `charge.dispute.created` event; the webhook calls this).
    pub fn dispute_created(&self, reason: &str) {
        self.disputes.with_label_values(&[reason]).inc();
    }

    /// A webhook request's result, by event type (`unverified` when the signature failed).
    pub fn webhook(&self, event_type: &str, result: WebhookResult) {
        self.webhooks
            .with_label_values(&[event_type, result.as_str()])
            .inc();
    }

    /// One logical Stripe call (after its retries): endpoint like `POST /v1/refunds`, outcome
    /// `ok`, `refused`, `unknown` or `error`.
    pub fn stripe_call(&self, endpoint: &str, outcome: &str, elapsed: Duration) {
        self.stripe_calls
            .with_label_values(&[endpoint, outcome])
            .inc();
        self.stripe_duration
            .with_label_values(&[endpoint])
            .observe(elapsed.as_secs_f64());
    }

    /// How many messages wait in the outbox now (the outbox worker sets it after each pass).
    pub fn set_outbox_backlog(&self, messages: i64) {
        self.outbox_backlog.set(messages);
    }

    /// The registry in Prometheus' text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::error!(error = %crate::error::Report(&e), "encoding metrics");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// Why `/metrics` refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// A token is configured and the request did not carry it.
    Unauthorized,
    /// No token is configured and the peer is not on loopback.
    Forbidden,
}

/// Who may read `/metrics`: with `token` set, a request bearing it (compared in constant time);
/// without, only a loopback peer.
pub fn authorize(
    token: Option<&str>,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
) -> Result<(), Denied> {
    match token {
        Some(expected) => {
            let given = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or_default();
            if !given.is_empty() && bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
                Ok(())
            } else {
                Err(Denied::Unauthorized)
            }
        }
        None if peer.is_some_and(|ip| ip.is_loopback()) => Ok(()),
        None => Err(Denied::Forbidden),
    }
}

/// `GET /metrics`.
pub async fn endpoint(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let peer = req.peer_addr().map(|a| a.ip());
    match authorize(state.config.metrics_token.as_deref(), req.headers(), peer) {
        Ok(()) => HttpResponse::Ok()
            .content_type(prometheus::TEXT_FORMAT)
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(state.metrics.render()),
        Err(Denied::Unauthorized) => HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
            .body("metrics need the bearer token (METRICS_TOKEN)\n"),
        Err(Denied::Forbidden) => HttpResponse::Forbidden()
            .body("metrics are served only on loopback unless METRICS_TOKEN is set\n"),
    }
}

/// Counts what a freshly processed (not duplicate) webhook event tells about money: declined
/// attempts (`payment_intent.payment_failed`, by decline code), refunds (`refund.created`, whoever
/// created the refund: the shop or Stripe's Dashboard) and disputes (`charge.dispute.created`).
/// The event id is recorded before this runs, so each counts once.
pub fn count_event_effects(
    metrics: &Metrics,
    type_: &str,
    object: &serde_json::Value,
    outcome: &crate::webhooks::ledger::Outcome,
) {
    use serde_json::Value;
    if let crate::webhooks::ledger::Outcome::PaymentFailed { decline_code } = outcome {
        metrics.payment_failed(decline_code);
    }
    let text = |name: &str| object.get(name).and_then(Value::as_str).unwrap_or("");
    match type_ {
        "refund.created" => {
            let amount = object.get("amount").and_then(Value::as_i64).unwrap_or(0);
            metrics.refund_created(amount, text("currency"));
        }
        "charge.dispute.created" => metrics.dispute_created(text("reason")),
        _ => {}
    }
}
