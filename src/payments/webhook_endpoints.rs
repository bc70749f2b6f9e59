//! Webhook endpoints and the events list (what reconcile pages through).

use stripe_core::event::{ListEvent, RetrieveEvent};
use stripe_misc::WebhookEndpoint;
use stripe_misc::webhook_endpoint::{
    CreateWebhookEndpoint, CreateWebhookEndpointEnabledEvents, DeleteWebhookEndpoint,
    ListWebhookEndpoint, UpdateWebhookEndpoint, UpdateWebhookEndpointEnabledEvents,
};
use stripe_shared::Event;
use stripe_shared::version::VERSION;
use stripe_types::{List, RangeQueryTs};

use super::{PaymentError, Stripe};

/// The API version our client reads; an endpoint must send events in it.
pub fn pinned_version() -> &'static str {
    VERSION.as_str()
}

/// Our account's endpoints (an account has far fewer than 100).
pub async fn list(stripe: &Stripe) -> Result<Vec<WebhookEndpoint>, PaymentError> {
    Ok(stripe
        .read(&ListWebhookEndpoint::new().limit(100))
        .await?
        .data)
}

/// Enables exactly `events` on an endpoint (and re-enables a disabled one).
pub async fn update(
    stripe: &Stripe,
    id: &str,
    events: &[String],
) -> Result<WebhookEndpoint, PaymentError> {
    let enabled: Vec<UpdateWebhookEndpointEnabledEvents> = events
        .iter()
        .map(|s| s.parse().expect("infallible"))
        .collect();
    let req = UpdateWebhookEndpoint::new(id)
        .enabled_events(enabled)
        .disabled(false);
    // Same endpoint, same events: a re-run replays rather than repeats.
    stripe
        .write(
            &req,
            &format!("setup-endpoint-update-{id}-{}", events.len()),
        )
        .await
}

pub async fn delete(stripe: &Stripe, id: &str) -> Result<(), PaymentError> {
    stripe
        .write(
            &DeleteWebhookEndpoint::new(id),
            &format!("setup-endpoint-delete-{id}"),
        )
        .await?;
    Ok(())
}

/// Creates an endpoint for `url` with our pinned API version. A fresh key: a re-run must create
/// anew, not replay an endpoint deleted since.
pub async fn create(
    stripe: &Stripe,
    url: &str,
    events: &[String],
) -> Result<WebhookEndpoint, PaymentError> {
    let enabled: Vec<CreateWebhookEndpointEnabledEvents> = events
        .iter()
        .map(|s| s.parse().expect("infallible"))
        .collect();
    let req = CreateWebhookEndpoint::new(enabled, url)
        .api_version(VERSION)
        .description("Storefront");
    stripe.write_once(&req, "setup-endpoint").await
}

/// One page (newest first) of the events of `types` created since `since`.
pub async fn events_page(
    stripe: &Stripe,
    since: i64,
    types: &[String],
    starting_after: Option<&str>,
) -> Result<List<Event>, PaymentError> {
    let mut req = ListEvent::new()
        .created(RangeQueryTs::gte(since))
        .types(types.to_vec())
        .limit(100);
    if let Some(after) = starting_after {
        req = req.starting_after(after.to_owned());
    }
    stripe.read(&req).await
}

/// One event, as Stripe keeps it (for 30 days).
pub async fn retrieve_event(stripe: &Stripe, id: &str) -> Result<Event, PaymentError> {
    stripe.read(&RetrieveEvent::new(id)).await
}

/// `POST /v1/webhook_endpoints/{id}/test_event`: the emulator's signed test delivery (Stripe
/// itself has no such API; its Dashboard has a button).
struct SendTestEvent {
    endpoint: String,
}

impl stripe_client_core::StripeRequest for SendTestEvent {
    type Output = Event;

    fn build(&self) -> stripe_client_core::RequestBuilder {
        stripe_client_core::RequestBuilder::new(
            stripe_client_core::StripeMethod::Post,
            format!("/webhook_endpoints/{}/test_event", self.endpoint),
        )
    }
}

/// Has the emulator send a signed test event to the endpoint; a 404 means this is Stripe.
pub async fn send_test_event(stripe: &Stripe, endpoint: &str) -> Result<Event, PaymentError> {
    stripe
        .write_once(
            &SendTestEvent {
                endpoint: endpoint.to_owned(),
            },
            "test-event",
        )
        .await
}
