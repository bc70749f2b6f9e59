//! Re-sending an order's receipt from the admin page: one mail per click, through the outbox
//! like every other mail, and written in the audit log in the same transaction.
//!
//! Each render of the order page carries a fresh form key; the mail's dedupe key is made from
//! it, so a click sends one mail even when the browser submits the form twice, and the next
//! click (a new page, a new key) sends another.

use super::audit;
use crate::db::{AnyConnection, write_tx};
use crate::mail::messages::{self, OrderEvent};
use crate::mail::outbox;
use crate::orders::queries;

/// Why a receipt cannot be sent.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    #[error("This order has not been paid, so it has no receipt to send.")]
    NotPaid,
    #[error("This order has no e-mail address to send a receipt to.")]
    NoRecipient,
}

#[derive(Debug, thiserror::Error)]
pub enum ResendError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("no such order")]
    NotFound,
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

/// Queues the paid receipt of order `number` again, to the address the shop has for it.
/// Returns the recipient, and whether this call queued it (`false`: this form was sent before).
pub fn resend(
    conn: &mut AnyConnection,
    number: &str,
    admin_id: i64,
    form_key: &str,
    now: i64,
) -> Result<(String, bool), ResendError> {
    write_tx(conn, |conn| {
        let order = queries::by_number(conn, number)?.ok_or(ResendError::NotFound)?;
        if !order.status().is_paid() {
            return Err(Refusal::NotPaid.into());
        }
        let mut mail = messages::order_mail(conn, order.id, OrderEvent::Resent)?
            .ok_or(Refusal::NoRecipient)?;
        mail.dedupe_key = format!("order-resent-{}-{form_key}", order.number);
        let queued = outbox::enqueue(conn, &mail, now)?;
        if queued {
            audit::record(
                conn,
                audit::Event::order(
                    Some(admin_id),
                    audit::RECEIPT_RESENT,
                    order.id,
                    format!("receipt sent again to {}", mail.recipient),
                ),
                now,
            )?;
        }
        Ok((mail.recipient, queued))
    })
}

/// A form key as the page makes them (`shipments::new_form_key`): 24 URL-safe characters.
pub fn plausible_key(key: &str) -> bool {
    (16..=64).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::plausible_key;

    #[test]
    fn form_keys_are_short_url_safe_tokens() {
        assert!(plausible_key(&crate::shipping::shipments::new_form_key()));
        assert!(!plausible_key(""));
        assert!(!plausible_key("short"));
        assert!(!plausible_key(&"a".repeat(65)));
        assert!(!plausible_key("abcdefghijklmnop qrs"));
    }
}
