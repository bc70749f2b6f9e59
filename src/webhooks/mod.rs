//! `POST /webhooks/stripe`: Stripe's events, verified over the raw body, processed exactly once.
//!
//! 400: the request is not a genuine, current Stripe event (bad signature, old timestamp,
//! garbage) — nothing is touched. 200: processed now, processed before (the event id is recorded
//! in the same transaction as its effects), or a type we don't act on. 500: our side failed and
//! rolled back, so Stripe retries later.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use stripe_webhook::{Webhook, WebhookError};

use crate::checkout::fulfil::{EventRecord, Outcome};
use crate::metrics::WebhookResult;
use crate::web::AppState;

pub mod dispatch;

pub async fn receive(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let Some(signature) = req
        .headers()
        .get("Stripe-Signature")
        .and_then(|v| v.to_str().ok())
    else {
        state.metrics.webhook("unverified", WebhookResult::Rejected);
        return reply(StatusCode::BAD_REQUEST, "missing Stripe-Signature header");
    };
    let Ok(payload) = std::str::from_utf8(&body) else {
        state.metrics.webhook("unverified", WebhookResult::Rejected);
        return reply(StatusCode::BAD_REQUEST, "body is not UTF-8");
    };
    let event = match Webhook::construct_event(payload, signature, &state.webhook_secret) {
        Ok(event) => event,
        Err(WebhookError::BadParse(reason)) => {
            // Genuine but unreadable: our API version differs from the endpoint's. Say so loudly.
            tracing::error!(%reason, "a signed Stripe event could not be parsed; check the endpoint's api_version (storefront stripe setup pins it)");
            state.metrics.webhook("unparsed", WebhookResult::Rejected);
            return reply(StatusCode::BAD_REQUEST, "event could not be parsed");
        }
        Err(e) => {
            tracing::warn!(error = %e, "webhook refused");
            state.metrics.webhook("unverified", WebhookResult::Rejected);
            return reply(StatusCode::BAD_REQUEST, "invalid signature");
        }
    };
    let record = EventRecord {
        id: event.id.as_str().to_owned(),
        type_: event.type_.as_str().to_owned(),
        created: event.created,
    };
    let kind = dispatch::EventKind::from_webhook(&event.data.object);
    state
        .metrics
        .webhook(&record.type_, WebhookResult::Received);
    match dispatch::process(&state, record.clone(), kind).await {
        Ok(outcome) => {
            tracing::info!(event = %record.id, r#type = %record.type_, ?outcome, "webhook processed");
            if outcome == Outcome::Duplicate {
                state
                    .metrics
                    .webhook(&record.type_, WebhookResult::Duplicate);
            } else {
                state
                    .metrics
                    .webhook(&record.type_, WebhookResult::Processed);
                crate::metrics::count_event_effects(&state.metrics, &event.data.object, &outcome);
            }
            reply(StatusCode::OK, "ok")
        }
        Err(e) => {
            state
                .metrics
                .webhook(&record.type_, WebhookResult::Rejected);
            tracing::error!(event = %record.id, r#type = %record.type_, error = %e, "webhook processing failed; Stripe will retry");
            reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                "processing failed; retry later",
            )
        }
    }
}

fn reply(status: StatusCode, message: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json")
        .body(serde_json::json!({ "message": message }).to_string())
}
