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
    /// A dispute was opened or moved on (status, funds): re-fetch it.
    Dispute,
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
    ("charge.dispute.created", Handler::Dispute),
    ("charge.dispute.updated", Handler::Dispute),
    ("charge.dispute.funds_withdrawn", Handler::Dispute),
    ("charge.dispute.funds_reinstated", Handler::Dispute),
    ("charge.dispute.closed", Handler::Dispute),
];

impl Handler {
    /// What the shop does with an event of this kind, in a merchant's words (the webhook
    /// events page, `docs/webhook-events.md`, is made from these).
    pub fn does(self) -> &'static str {
        match self {
            Handler::CheckoutSession => {
                "Reads the Checkout Session from Stripe and moves its order forward: paid (stock taken once, receipt queued), processing (a bank debit on its way), payment failed or cancelled (held stock released). An order never moves backwards."
            }
            Handler::Subscription => {
                "Reads the subscription from Stripe and updates the customer's account page: status, plan, period end, cancellation at period end. A stale event changes nothing."
            }
            Handler::InvoicePaid => {
                "Records the paid invoice as an order (one per invoice, the first one included) and queues its receipt."
            }
            Handler::InvoicePaymentFailed => {
                "Notes that the subscription's latest payment failed, so the account page asks for another card."
            }
            Handler::PaymentFailed => {
                "Records the failed attempt and its decline code for the dashboard. The order stays open: the shopper can pay the same page with another card."
            }
            Handler::Refund => {
                "Reads the refund from Stripe and updates the order's refunded amount and status, for refunds made in the Stripe Dashboard too; a refund that fails makes its amount refundable again."
            }
            Handler::ChargeRefunded => {
                "Reads every refund of the charge from Stripe, as for the refund events (it catches refunds whose own events were missed)."
            }
            Handler::Dispute => {
                "Reads the dispute from Stripe and keeps its status, reason, evidence due date and the money it withdrew (with the dispute fee) or reinstated on the order, which is marked disputed; each change of status goes in the order's audit trail. Evidence is submitted in the Stripe Dashboard."
            }
        }
    }
}

/// The webhook events page (`docs/webhook-events.md`), made from [`HANDLED`].
pub fn events_page() -> String {
    let mut page = String::from(
        "# Stripe webhook events\n\n\
         <!-- Made from HANDLED in src/webhooks/events.rs; `UPDATE_DOCS=1 cargo test --lib webhooks::events` rewrites it. -->\n\n\
         The shop's webhook endpoint is `PUBLIC_URL` + `/webhooks/stripe`. `storefront stripe setup` \
         creates it with exactly these event types enabled; to make the endpoint by hand in the \
         Stripe Dashboard, enable these and no others (anything else is recorded and ignored). \
         Every event is verified (`Stripe-Signature`, 5 minutes' tolerance), recorded by its id \
         and applied once, however often and in whatever order it arrives; the reconcile job \
         lists the same types from Stripe and applies any that never arrived.\n\n\
         | Event type | What the shop does |\n|---|---|\n",
    );
    for (type_, handler) in HANDLED {
        page.push_str(&format!("| `{type_}` | {} |\n", handler.does()));
    }
    page
}

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
    /// The dispute's id.
    Dispute(String),
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
            Handler::Dispute => EventKind::Dispute(id),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The page merchants read when they set up the endpoint is the table the code runs on: a
    /// type added to the code only (or a handler's meaning changed) fails here until the page
    /// is made again (`UPDATE_DOCS=1`).
    #[test]
    fn the_webhook_events_page_is_the_event_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/webhook-events.md");
        let page = events_page();
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(path, &page).unwrap();
        }
        let written = std::fs::read_to_string(path).unwrap_or_default();
        assert_eq!(
            written, page,
            "docs/webhook-events.md differs from the event table: UPDATE_DOCS=1 cargo test --lib webhooks::events"
        );
        for (type_, _) in HANDLED {
            assert!(written.contains(&format!("| `{type_}` |")), "{type_}");
        }
    }

    /// Stripe's `GET /v1/events` takes at most 20 `types[]`: the reconcile lists them all in one
    /// call. A 21st handled type needs the reconcile to split its calls first.
    #[test]
    fn the_reconcile_can_ask_for_every_type_in_one_call() {
        assert!(handled_types().len() <= 20, "{}", handled_types().len());
    }

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
            EventKind::Dispute("dp_1".into())
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
