//! What the mails say: askama templates, an HTML and a plain-text part each, amounts formatted
//! as on the pages.

use askama::Template;
use diesel::prelude::*;

use super::outbox::Mail;
use crate::accounts::tokens;
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
    /// A parcel left (the shipment's id).
    Shipped(i64),
    /// A parcel arrived (the shipment's id).
    Delivered(i64),
    /// Licence keys a paid line waited for were added (the order item's id).
    KeysReady(i64),
    /// An admin sent the receipt again: the order as it is now (refunds included).
    Resent,
}

/// Stands for the shop's address (`PUBLIC_URL`, without its final slash) in a queued mail: the
/// mail is written where only the database is at hand, and sent by the worker, which puts the
/// address in ([`with_shop_url`]).
pub const SHOP_URL: &str = "SHOP-URL";

/// The mail's text with [`SHOP_URL`] replaced by the shop's address (escaped for HTML parts).
pub fn with_shop_url(body: &str, public_url: &str, html: bool) -> String {
    let base = public_url.trim_end_matches('/');
    if html {
        body.replace(SHOP_URL, &crate::catalog::seo::escape_xml(base))
    } else {
        body.replace(SHOP_URL, base)
    }
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
    /// The refund policy's address (with [`SHOP_URL`] for the shop's).
    pub policy_url: String,
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
            // A digital-only order has nothing to ship: promise nothing about parcels.
            [
                digital_note(conn, &order, &items)?,
                if items.iter().any(|i| i.physical) {
                    "We'll let you know when your order ships.".to_owned()
                } else {
                    "Nothing to ship: your order is complete.".to_owned()
                },
            ]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" "),
            None,
        ),
        OrderEvent::Resent => (
            "receipt_resent",
            // Replaced by the caller's key (one per click).
            format!("order-resent-{}", order.number),
            format!("Your receipt for order {}", order.number),
            "Here is your receipt again.".to_owned(),
            [
                digital_note(conn, &order, &items)?,
                if order.amount_refunded > 0 {
                    "The amount refunded so far is shown below the total.".to_owned()
                } else {
                    String::new()
                },
            ]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" "),
            (order.amount_refunded > 0)
                .then(|| Money::new(order.amount_refunded, currency).to_string()),
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
        OrderEvent::Shipped(shipment_id) => (
            "order_shipped",
            format!("order-shipped-{}-{shipment_id}", order.number),
            format!("Order {} has shipped", order.number),
            "Good news: your order is on its way.".to_owned(),
            parcel_note(conn, &order, &items, shipment_id)?,
            None,
        ),
        OrderEvent::KeysReady(item_id) => (
            "licence_keys",
            format!(
                "order-keys-{}-{item_id}-{}",
                order.number,
                crate::digital::keys::for_order(conn, order.id)?
                    .iter()
                    .filter(|(id, _)| *id == item_id)
                    .count()
            ),
            format!("Your licence key for order {}", order.number),
            "Your licence key is here.".to_owned(),
            digital_note(conn, &order, &items)?,
            None,
        ),
        OrderEvent::Delivered(shipment_id) => (
            "order_delivered",
            format!("order-delivered-{}-{shipment_id}", order.number),
            format!("Order {} was delivered", order.number),
            "Your parcel was delivered.".to_owned(),
            parcel_note(conn, &order, &items, shipment_id)?,
            None,
        ),
    };
    let receipt = Receipt {
        policy_url: format!("{SHOP_URL}/refund-policy"),
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
        user_id: None,
        link_purpose: None,
    }))
}

/// The digital goods of a paid order, for its e-mails: download links (signed when the mail is
/// sent: see `digital::links::PLACEHOLDER`) and licence keys.
fn digital_note(
    conn: &mut AnyConnection,
    order: &crate::orders::model::Order,
    items: &[crate::orders::model::OrderItem],
) -> QueryResult<String> {
    use crate::digital::links::PLACEHOLDER;
    if !items.iter().any(|i| !i.physical) || !crate::digital::access::granted(order) {
        return Ok(String::new());
    }
    let keys = crate::digital::keys::for_order(conn, order.id)?;
    let mut parts = Vec::new();
    for item in items.iter().filter(|i| !i.physical) {
        let (delivery, max): (Option<String>, i64) = crate::schema::products::table
            .find(item.product_id)
            .select((
                crate::schema::products::delivery,
                crate::schema::products::max_downloads,
            ))
            .first(conn)?;
        match delivery.as_deref() {
            Some("file") => parts.push(format!(
                "Download {}: {PLACEHOLDER}{} (the link works for 7 days; {max} downloads in all).",
                item.name, item.id
            )),
            Some("keys") => {
                let mine: Vec<&str> = keys
                    .iter()
                    .filter(|(id, _)| *id == item.id)
                    .map(|(_, k)| k.as_str())
                    .collect();
                if !mine.is_empty() {
                    parts.push(format!(
                        "Your licence key for {}: {}.",
                        item.name,
                        mine.join(", ")
                    ));
                }
                if (mine.len() as i64) < item.quantity {
                    parts.push(format!(
                        "Your licence key for {} is on its way: we'll e-mail it shortly.",
                        item.name
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(parts.join(" "))
}

/// "In this parcel: 2 × Canvas tote bag. Carrier: UPS, tracking number 1Z… (https://…)."
fn parcel_note(
    conn: &mut AnyConnection,
    order: &crate::orders::model::Order,
    items: &[crate::orders::model::OrderItem],
    shipment_id: i64,
) -> QueryResult<String> {
    let parcel = crate::shipping::shipments::for_order(conn, order.id)?
        .into_iter()
        .find(|(s, _)| s.id == shipment_id);
    let Some((shipment, lines)) = parcel else {
        return Ok(String::new());
    };
    let contents = lines
        .iter()
        .filter_map(|(item_id, qty)| {
            items
                .iter()
                .find(|i| i.id == *item_id)
                .map(|i| format!("{qty} × {}", i.name))
        })
        .collect::<Vec<_>>()
        .join(", ");
    let tracking = match shipment.tracking_url() {
        Some(url) => format!("{} ({url})", shipment.tracking_number),
        None => shipment.tracking_number.clone(),
    };
    Ok(format!(
        "In this parcel: {contents}. Carrier: {}, tracking number {tracking}.",
        shipment.carrier_name()
    ))
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

/// Where an account mail's token goes until the worker sends it: the queued mail never holds a
/// usable link. (Letters and dashes only, so HTML escaping leaves it as it is.)
pub const TOKEN_PLACEHOLDER: &str = "ISSUED-WHEN-SENT";

/// The account mail (verification or password reset) for `user_id`, with its link's token left
/// as [`TOKEN_PLACEHOLDER`].
pub fn account_mail(
    purpose: &'static str,
    user_id: i64,
    recipient: &str,
    public_url: &url::Url,
    dedupe_key: String,
) -> Result<Mail, askama::Error> {
    let (path, subject, intro, action, outro) = if purpose == tokens::RESET {
        (
            "/account/password/reset",
            "Reset your password",
            "Someone (hopefully you) asked to reset the password of your account. The link works once, for one hour.",
            "Choose a new password",
            "If you didn't ask for this, ignore this e-mail: your password stays as it is.",
        )
    } else {
        (
            "/account/verify",
            "Confirm your e-mail address",
            "Thanks for creating an account. Please confirm that this address is yours.",
            "Confirm my e-mail address",
            "If you didn't create an account, you can ignore this e-mail.",
        )
    };
    let link = format!(
        "{}{path}?token={TOKEN_PLACEHOLDER}",
        public_url.as_str().trim_end_matches('/')
    );
    let link = link.as_str();
    Ok(Mail {
        kind: if purpose == tokens::RESET {
            "password_reset"
        } else {
            "verify_email"
        },
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
        user_id: Some(user_id),
        link_purpose: Some(purpose),
    })
}

/// "It's back": one mail to an address that asked to hear when `name` can be bought again.
pub fn back_in_stock_mail(
    name: &str,
    link: &str,
    recipient: &str,
    dedupe_key: String,
) -> Result<Mail, askama::Error> {
    let intro = format!("Good news: {name} is back in stock. You asked us to let you know.");
    let outro = "We e-mail you once per request: ask again on the product page if it sells out before you get there.";
    let action = "See it in the shop";
    Ok(Mail {
        kind: "back_in_stock",
        dedupe_key,
        recipient: recipient.to_owned(),
        subject: format!("Back in stock: {name}"),
        text: LinkText {
            intro: &intro,
            action,
            link,
            outro,
        }
        .render()?,
        html: LinkHtml {
            intro: &intro,
            action,
            link,
            outro,
        }
        .render()?,
        order_id: None,
        user_id: None,
        link_purpose: None,
    })
}

/// The bodies with the token in place of [`TOKEN_PLACEHOLDER`].
pub fn with_token(body: &str, token: &str) -> String {
    body.replace(TOKEN_PLACEHOLDER, token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::view::ItemRow;

    fn refund_receipt() -> Receipt {
        Receipt {
            policy_url: format!("{SHOP_URL}/refund-policy"),
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
                breakdown: vec![],
            },
            note: "Refunds reach your card within 5–10 business days.".into(),
        }
    }

    #[test]
    fn account_mails_hold_a_placeholder_where_the_token_goes() {
        let url = url::Url::parse("http://127.0.0.1:8080/").unwrap();
        let mail = account_mail(tokens::RESET, 7, "a@example.com", &url, "k".into()).unwrap();
        let link =
            format!("http://127.0.0.1:8080/account/password/reset?token={TOKEN_PLACEHOLDER}");
        assert!(mail.text.contains(&link), "{}", mail.text);
        assert!(
            mail.html.contains(&format!("href=\"{link}\"")),
            "{}",
            mail.html
        );
        assert_eq!(
            (mail.user_id, mail.link_purpose),
            (Some(7), Some(tokens::RESET))
        );
        let token = "A".repeat(43);
        assert!(with_token(&mail.html, &token).contains(&format!("reset?token={token}\"")));
    }

    #[test]
    fn receipts_link_the_refund_policy_at_the_shops_address() {
        let r = refund_receipt();
        let text = with_shop_url(
            &ReceiptText {
                r: &r,
                items: &r.items,
            }
            .render()
            .unwrap(),
            "https://shop.example/",
            false,
        );
        assert!(
            text.contains("Our refund policy: https://shop.example/refund-policy"),
            "{text}"
        );
        let html = with_shop_url(
            &ReceiptHtml {
                r: &r,
                items: &r.items,
            }
            .render()
            .unwrap(),
            "https://shop.example/?a=1&b=\"",
            true,
        );
        assert!(
            html.contains(r#"<a href="https://shop.example/?a=1&amp;b=&quot;/refund-policy">"#),
            "{html}"
        );
        assert!(!html.contains(SHOP_URL));
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
             Our refund policy: SHOP-URL/refund-policy\n\
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
