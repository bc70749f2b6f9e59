//! `POST /webhooks/stripe`: Stripe's events, verified over the raw body, processed exactly once.
//!
//! 400: the request is not a genuine, current Stripe event (bad signature, old timestamp,
//! garbage) — nothing is touched. 200: processed now, processed before (the event id is recorded
//! in the same transaction as its effects), or a type we don't act on. 500: our side failed and
//! rolled back, so Stripe retries later.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use stripe_webhook::{Webhook, WebhookError};

use serde::Deserialize;
use serde_json::Value;

use super::dispatch;
use super::events::EventKind;
use super::ledger::{self, EventRecord, Outcome};
use crate::metrics::WebhookResult;
use crate::state::AppState;

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
            tracing::warn!(error = %crate::error::Report(&e), "webhook refused");
            state.metrics.webhook("unverified", WebhookResult::Rejected);
            return reply(StatusCode::BAD_REQUEST, "invalid signature");
        }
    };

    // The handlers read the object as JSON, as reconcile gets it from the events list; the
    // signature check above already proved this body genuine.
    // A body that parsed above but not here must not be recorded as "ignored" for good.
    let Ok(Body {
        data: BodyData { object },
    }) = serde_json::from_str::<Body>(payload)
    else {
        tracing::error!(event = %event.id.as_str(), "a signed Stripe event has no readable data.object");
        state.metrics.webhook("unparsed", WebhookResult::Rejected);
        return reply(StatusCode::BAD_REQUEST, "event could not be parsed");
    };
    if let Err(e) = ledger::note_verified(&state).await {
        tracing::warn!(error = %crate::error::Report(&e), "could not note the verified delivery");
    }
    let record = EventRecord::of(
        event.id.as_str(),
        event.type_.as_str(),
        event.created,
        &object,
    );
    let kind = EventKind::of(&record.type_, &object);
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
                if let Err(e) = ledger::count_delivery(&state, &record.id).await {
                    tracing::warn!(event = %record.id, error = %crate::error::Report(&e), "could not count a repeated delivery");
                }
            } else {
                state
                    .metrics
                    .webhook(&record.type_, WebhookResult::Processed);
                crate::metrics::count_event_effects(
                    &state.metrics,
                    &record.type_,
                    &object,
                    &outcome,
                );
            }
            reply(StatusCode::OK, "ok")
        }
        Err(e) => {
            state
                .metrics
                .webhook(&record.type_, WebhookResult::Rejected);
            tracing::error!(event = %record.id, r#type = %record.type_, error = %crate::error::Report(&e), "webhook processing failed; Stripe will retry");
            if let Err(e2) =
                ledger::record_failure(&state, &record, crate::error::Report(&e).to_string()).await
            {
                tracing::warn!(event = %record.id, error = %crate::error::Report(&e2), "could not note the failure in the events inbox");
            }
            reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                "processing failed; retry later",
            )
        }
    }
}

#[derive(Deserialize)]
struct Body {
    data: BodyData,
}

#[derive(Deserialize)]
struct BodyData {
    object: Value,
}

fn reply(status: StatusCode, message: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json")
        .body(serde_json::json!({ "message": message }).to_string())
}
