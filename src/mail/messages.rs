//! What the mails say: askama templates, an HTML and a plain-text part each, amounts formatted
//! as on the pages.

use askama::Template;
use diesel::prelude::*;

use super::outbox::Mail;
use crate::db::AnyConnection;
use crate::money::Money;
use crate::orders::queries;
use crate::orders::view::ItemTable;
use crate::schema::users;

/// Which change of an order a receipt reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderEvent {
    Paid,
    PaymentFailed,
    /// Refunded, with the total refunded so far (minor units).
    Refunded(i64),
}

// `items` is what the shared item table (`templates/orders/items.*`) reads.
#[derive(Template)]
#[template(path = "email/receipt.html")]
struct ReceiptHtml<'a> {
    r: &'a Receipt,
    items: &'a ItemTable,
}

#[derive(Template)]
#[template(path = "email/receipt.txt")]
struct ReceiptText<'a> {
    r: &'a Receipt,
    items: &'a ItemTable,
}

pub struct Receipt {
    pub headline: String,
    pub number: String,
    /// The order's lines, its total and, for a refund, the amount refunded so far.
    pub items: ItemTable,
    pub note: String,
}

/// The receipt for an order's change, or None when we have nobody to send it to.
pub fn order_mail(
    conn: &mut AnyConnection,
    order_id: i64,
    event: OrderEvent,
) -> QueryResult<Option<Mail>> {
    let order = queries::by_id(conn, order_id)?;
    let recipient = match (&order.email, order.user_id) {
        (Some(e), _) => Some(e.clone()),
        (None, Some(uid)) => users::table
            .find(uid)
            .select(users::email)
            .first::<String>(conn)
            .optional()?,
        (None, None) => None,
    };
    let Some(recipient) = recipient else {
        return Ok(None);
    };
    let items = queries::items(conn, &order)?;
    let currency = order.currency();
    let (kind, key, subject, headline, note, refunded) = match event {
        OrderEvent::Paid => (
            "receipt_paid",
            format!("order-paid-{}", order.number),
            format!("Your receipt for order {}", order.number),
            "Thank you! Your payment was received.".to_owned(),
            "We'll let you know when your order ships.".to_owned(),
            None,
        ),
        OrderEvent::PaymentFailed => (
            "payment_failed",
            format!("order-payment-failed-{}", order.number),
            format!("The payment for order {} did not go through", order.number),
            "Your payment did not go through.".to_owned(),
            "Nothing was charged. You can place the order again from your cart.".to_owned(),
            None,
        ),
        OrderEvent::Refunded(amount) => (
            "receipt_refunded",
            format!("order-refunded-{}-{amount}", order.number),
            format!("A refund for order {}", order.number),
            "We've refunded part or all of your order.".to_owned(),
            "Refunds reach your card within 5–10 business days.".to_owned(),
            Some(Money::new(amount, currency).to_string()),
        ),
    };
    let receipt = Receipt {
        headline,
        number: order.number.clone(),
        items: ItemTable {
            refunded,
            ..ItemTable::new(&order, &items)
        },
        note,
    };
    let render_error = |e: askama::Error| diesel::result::Error::QueryBuilderError(Box::new(e));
    Ok(Some(Mail {
        kind,
        dedupe_key: key,
        recipient,
        subject,
        text: ReceiptText {
            r: &receipt,
            items: &receipt.items,
        }
        .render()
        .map_err(render_error)?,
        html: ReceiptHtml {
            r: &receipt,
            items: &receipt.items,
        }
        .render()
        .map_err(render_error)?,
        order_id: Some(order.id),
    }))
}

#[derive(Template)]
#[template(path = "email/link.html")]
struct LinkHtml<'a> {
    intro: &'a str,
    action: &'a str,
    link: &'a str,
    outro: &'a str,
}

#[derive(Template)]
#[template(path = "email/link.txt")]
struct LinkText<'a> {
    intro: &'a str,
    action: &'a str,
    link: &'a str,
    outro: &'a str,
}

/// An account mail carrying one link (verification, password reset).
#[allow(clippy::too_many_arguments)] // Each is one sentence of the mail; a struct would only rename them.
pub fn link_mail(
    kind: &'static str,
    dedupe_key: String,
    recipient: &str,
    subject: &str,
    intro: &str,
    action: &str,
    link: &str,
    outro: &str,
) -> Result<Mail, askama::Error> {
    Ok(Mail {
        kind,
        dedupe_key,
        recipient: recipient.to_owned(),
        subject: subject.to_owned(),
        text: LinkText {
            intro,
            action,
            link,
            outro,
        }
        .render()?,
        html: LinkHtml {
            intro,
            action,
            link,
            outro,
        }
        .render()?,
        order_id: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::view::ItemRow;

    fn refund_receipt() -> Receipt {
        Receipt {
            headline: "We've refunded part or all of your order.".into(),
            number: "SF-0001-0002".into(),
            items: ItemTable {
                number: "SF-0001-0002".into(),
                rows: vec![
                    ItemRow {
                        name: "Canvas tote bag".into(),
                        quantity: 2,
                        unit: "¥1,800".into(),
                        total: "¥3,600".into(),
                    },
                    ItemRow {
                        name: "Mug & cup".into(),
                        quantity: 1,
                        unit: "¥450".into(),
                        total: "¥450".into(),
                    },
                ],
                total: Some("¥4,050".into()),
                refunded: Some("¥450".into()),
            },
            note: "Refunds reach your card within 5–10 business days.".into(),
        }
    }

    #[test]
    fn the_text_receipt_lists_each_line_then_the_totals() {
        let r = refund_receipt();
        let text = ReceiptText {
            r: &r,
            items: &r.items,
        }
        .render()
        .unwrap();
        assert_eq!(
            text,
            "We've refunded part or all of your order.\n\
             \n\
             Order SF-0001-0002\n\
             \n  2 × Canvas tote bag (¥1,800 each)  ¥3,600\
             \n  1 × Mug & cup (¥450 each)  ¥450\n\
             \n\
             Total: ¥4,050\n\
             Refunded: ¥450\n\
             \n\
             Refunds reach your card within 5–10 business days.\n\
             \n\
             — Storefront"
        );
    }

    #[test]
    fn the_html_receipt_has_the_item_table_with_the_amount_refunded() {
        let r = refund_receipt();
        let html = ReceiptHtml {
            r: &r,
            items: &r.items,
        }
        .render()
        .unwrap();
        for cell in [
            "<td>Canvas tote bag</td><td class=\"num\" align=\"right\">2</td><td class=\"num\" align=\"right\">¥1,800</td><td class=\"num\" align=\"right\">¥3,600</td>",
            "<td>Mug &#38; cup</td>",
            "id=\"order-total\">¥4,050</td>",
            "Refunded</th><td class=\"num\" align=\"right\">¥450</td>",
        ] {
            assert!(html.contains(cell), "{cell} missing from {html}");
        }
    }
}
