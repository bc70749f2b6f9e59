//! The one table of Stripe event types we act on, and what each asks of us. The webhook, the
//! reconcile job and `storefront stripe setup` (the endpoint's enabled events) all read it, so a
//! type is handled everywhere or nowhere.

use serde_json::Value;

use crate::checkout::failures::Attempt;

/// Which handler an event type goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    /// A Checkout Session changed: bring its order up to date (re-fetched).
    CheckoutSession,
    /// A subscription changed: re-fetch it.
    Subscription,
    /// An invoice was paid: a subscription order.
    InvoicePaid,
    /// An invoice's payment failed.
    InvoicePaymentFailed,
    /// A payment attempt failed: recorded from the event's own snapshot.
    PaymentFailed,
    /// A refund was created or changed, in the shop or outside it: re-fetch it.
    Refund,
    /// A charge was refunded: re-fetch all of its refunds.
    ChargeRefunded,
    /// A payment was disputed.
    DisputeCreated,
}

/// Every event type we handle. Anything else is recorded as ignored.
pub const HANDLED: &[(&str, Handler)] = &[
    ("checkout.session.completed", Handler::CheckoutSession),
    (
        "checkout.session.async_payment_succeeded",
        Handler::CheckoutSession,
    ),
    (
        "checkout.session.async_payment_failed",
        Handler::CheckoutSession,
    ),
    ("checkout.session.expired", Handler::CheckoutSession),
    ("customer.subscription.created", Handler::Subscription),
    ("customer.subscription.updated", Handler::Subscription),
    ("customer.subscription.deleted", Handler::Subscription),
    ("invoice.paid", Handler::InvoicePaid),
    ("invoice.payment_failed", Handler::InvoicePaymentFailed),
    ("payment_intent.payment_failed", Handler::PaymentFailed),
    ("charge.refunded", Handler::ChargeRefunded),
    ("refund.created", Handler::Refund),
    ("refund.updated", Handler::Refund),
    ("refund.failed", Handler::Refund),
    ("charge.refund.updated", Handler::Refund),
    ("charge.dispute.created", Handler::DisputeCreated),
];

/// The handler of an event type, if we handle it.
pub fn handler(type_: &str) -> Option<Handler> {
    HANDLED.iter().find(|(t, _)| *t == type_).map(|(_, h)| *h)
}

/// The event types we handle, for the endpoint's `enabled_events` and reconcile's listing.
pub fn handled_types() -> Vec<String> {
    HANDLED.iter().map(|(t, _)| (*t).to_owned()).collect()
}

/// What an event asks of us, whatever its source (a webhook or the events list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    CheckoutSession(String),
    Subscription(String),
    /// An invoice was paid (a subscription order) or its payment failed.
    Invoice {
        id: String,
        paid: bool,
    },
    /// The event's snapshot is the record of that attempt (the intent moves on to later attempts).
    PaymentFailed(Attempt),
    Refund(String),
    ChargeRefunded(String),
    /// `charge` is the disputed charge's id.
    Dispute {
        id: String,
        charge: Option<String>,
    },
    /// Nothing for us to do; recorded so it is never looked at again.
    Other,
}

impl EventKind {
    /// From an event's type and its `data.object` (as JSON: both the webhook body and the
    /// events list carry the same object).
    pub fn of(type_: &str, object: &Value) -> Self {
        let Some(handler) = handler(type_) else {
            return EventKind::Other;
        };
        let field = |name: &str| object.get(name).and_then(Value::as_str).map(str::to_owned);
        let Some(id) = field("id") else {
            return EventKind::Other;
        };
        match handler {
            Handler::CheckoutSession => EventKind::CheckoutSession(id),
            Handler::Subscription => EventKind::Subscription(id),
            Handler::InvoicePaid => EventKind::Invoice { id, paid: true },
            Handler::InvoicePaymentFailed => EventKind::Invoice { id, paid: false },
            Handler::PaymentFailed => EventKind::PaymentFailed(Attempt::from_object(object)),
            Handler::Refund => EventKind::Refund(id),
            Handler::ChargeRefunded => EventKind::ChargeRefunded(id),
            Handler::DisputeCreated => EventKind::Dispute {
                id,
                charge: field("charge"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_type_is_listed_once() {
        let types = handled_types();
        let mut unique = types.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(types.len(), unique.len());
    }

    #[test]
    fn events_map_to_their_handlers() {
        let session = json!({"id": "cs_test_1", "object": "checkout.session"});
        assert_eq!(
            EventKind::of("checkout.session.expired", &session),
            EventKind::CheckoutSession("cs_test_1".into())
        );
        assert_eq!(
            EventKind::of("invoice.payment_failed", &json!({"id": "in_1"})),
            EventKind::Invoice {
                id: "in_1".into(),
                paid: false
            }
        );
        assert_eq!(
            EventKind::of(
                "charge.dispute.created",
                &json!({"id": "dp_1", "charge": "ch_1"})
            ),
            EventKind::Dispute {
                id: "dp_1".into(),
                charge: Some("ch_1".into())
            }
        );
        let intent = json!({
            "id": "pi_1", "amount": 1200, "currency": "usd",
            "metadata": {"order_number": "SF-1"},
            "last_payment_error": {"code": "card_declined", "decline_code": "insufficient_funds"}
        });
        match EventKind::of("payment_intent.payment_failed", &intent) {
            EventKind::PaymentFailed(a) => {
                assert_eq!(a.payment_intent_id, "pi_1");
                assert_eq!(a.decline_code, "insufficient_funds");
                assert_eq!(a.amount, 1200);
                assert_eq!(a.order_number.as_deref(), Some("SF-1"));
            }
            other => panic!("{other:?}"),
        }
        // Unhandled types and objects without an id do nothing.
        assert_eq!(
            EventKind::of("customer.created", &json!({"id": "cus_1"})),
            EventKind::Other
        );
        assert_eq!(
            EventKind::of("checkout.session.completed", &json!({})),
            EventKind::Other
        );
    }
}
