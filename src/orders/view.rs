//! The item table of an order, as the customer's order page, the admin order page, the success
//! page and the receipt show it: built here once, rendered by `templates/orders/items.html` (and
//! `items.txt` for the plain-text receipt). A template includes it with
//! `{% include "orders/items.html" %}` and exposes an [`ItemTable`] named `items`.

use super::model::{Order, OrderItem};
use crate::money::Money;

/// One line of an order, its amounts formatted in the order's currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRow {
    pub name: String,
    pub quantity: i64,
    /// Price of one unit.
    pub unit: String,
    /// Unit price × quantity; empty if that overflows (it cannot for a stored order).
    pub total: String,
}

/// The rows of an order's items, in the order given.
pub fn item_rows(order: &Order, items: &[OrderItem]) -> Vec<ItemRow> {
    let currency = order.currency();
    items
        .iter()
        .map(|i| {
            let unit = Money::new(i.unit_amount, currency);
            ItemRow {
                name: i.name.clone(),
                quantity: i.quantity,
                unit: unit.to_string(),
                total: unit
                    .checked_mul(i.quantity)
                    .map(|m| m.to_string())
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// What `templates/orders/items.html` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemTable {
    /// The order number, for the table's caption.
    pub number: String,
    pub rows: Vec<ItemRow>,
    /// The order's total, in the table's footer; `None` where the page shows it elsewhere.
    pub total: Option<String>,
    /// The amount refunded so far, in the footer below the total; only the refund receipt sets it.
    pub refunded: Option<String>,
    /// Subtotal, discount, shipping and tax above the total, when the total is not just the
    /// items' sum; empty otherwise.
    pub breakdown: Vec<Adjustment>,
}

/// One line of an order's breakdown in the table's footer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjustment {
    pub label: String,
    pub amount: String,
    /// The element id tests and styles find it by.
    pub id: &'static str,
}

/// The breakdown of an order whose total differs from its items' sum (a discount, shipping or
/// tax); empty for the rest, whose table needs no more than its total.
pub fn breakdown(order: &Order) -> Vec<Adjustment> {
    if order.amount_discount == 0 && order.amount_shipping == 0 && order.amount_tax() == 0 {
        return vec![];
    }
    let row = |label: String, amount: i64, id| Adjustment {
        label,
        amount: order.money(amount).to_string(),
        id,
    };
    let mut rows = vec![row(
        "Subtotal".into(),
        order.amount_subtotal,
        "order-subtotal",
    )];
    if order.amount_discount != 0 {
        let label = match &order.discount_label {
            Some(code) => format!("Discount ({code})"),
            None => "Discount".into(),
        };
        rows.push(Adjustment {
            label,
            amount: format!("−{}", order.money(order.amount_discount)),
            id: "order-discount",
        });
    }
    if order.amount_shipping != 0 {
        rows.push(row(
            "Shipping".into(),
            order.amount_shipping,
            "order-shipping",
        ));
    }
    if order.amount_tax_exclusive != 0 {
        rows.push(row("Tax".into(), order.amount_tax_exclusive, "order-tax"));
    }
    if order.amount_tax_inclusive != 0 {
        rows.push(row(
            "Includes tax".into(),
            order.amount_tax_inclusive,
            "order-tax-included",
        ));
    }
    rows
}

impl ItemTable {
    /// The order's items with its total in the footer.
    pub fn new(order: &Order, items: &[OrderItem]) -> Self {
        Self {
            number: order.number.clone(),
            rows: item_rows(order, items),
            total: Some(order.total().to_string()),
            refunded: None,
            breakdown: breakdown(order),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(currency: &str, amount_total: i64) -> Order {
        Order {
            id: 1,
            number: "SF-0001-0002".into(),
            kind: "payment".into(),
            status: "paid".into(),
            currency: currency.into(),
            amount_total,
            amount_refunded: 0,
            email: None,
            cart_id: None,
            cart_fingerprint: String::new(),
            client_ip: None,
            idempotency_key: String::new(),
            checkout_session_id: None,
            checkout_url: None,
            checkout_expires_at: 0,
            payment_intent_id: None,
            flagged: None,
            disputed: false,
            stock_committed: true,
            paid_at: None,
            created_at: 0,
            updated_at: 0,
            user_id: None,
            invoice_id: None,
            subscription_id: None,
            amount_subtotal: amount_total,
            amount_discount: 0,
            amount_shipping: 0,
            amount_tax_exclusive: 0,
            amount_tax_inclusive: 0,
            discount_label: None,
            tax_behavior: None,
            fulfilment_status: "unfulfilled".into(),
            payment_method_type: None,
            recovery_email: None,
            recovered_from: None,
        }
    }

    #[test]
    fn a_discounted_taxed_order_shows_its_breakdown_and_a_plain_one_none() {
        assert!(breakdown(&order("usd", 1000)).is_empty());
        let o = Order {
            amount_subtotal: 5000,
            amount_discount: 1000,
            amount_tax_exclusive: 760,
            amount_total: 4760,
            discount_label: Some("SPRING20".into()),
            ..order("usd", 4760)
        };
        let rows: Vec<(String, String)> = breakdown(&o)
            .into_iter()
            .map(|a| (a.label, a.amount))
            .collect();
        assert_eq!(
            rows,
            [
                ("Subtotal".into(), "$50.00".into()),
                ("Discount (SPRING20)".into(), "−$10.00".into()),
                ("Tax".into(), "$7.60".into()),
            ]
        );
        let free = Order {
            amount_subtotal: 1800,
            amount_discount: 1800,
            amount_total: 0,
            ..order("jpy", 0)
        };
        let rows: Vec<String> = breakdown(&free).into_iter().map(|a| a.amount).collect();
        assert_eq!(rows, ["¥1,800", "−¥1,800"]);
    }

    fn item(id: i64, name: &str, unit_amount: i64, quantity: i64) -> OrderItem {
        OrderItem {
            id,
            order_id: 1,
            product_id: id,
            price_id: id,
            name: name.into(),
            unit_amount,
            quantity,
            amount_discount: 0,
            amount_tax: 0,
            amount_paid: unit_amount.saturating_mul(quantity),
            stripe_product_id: None,
            physical: true,
            variant_id: None,
        }
    }

    fn row(name: &str, quantity: i64, unit: &str, total: &str) -> ItemRow {
        ItemRow {
            name: name.into(),
            quantity,
            unit: unit.into(),
            total: total.into(),
        }
    }

    #[test]
    fn rows_format_unit_price_and_line_total_in_dollars() {
        let items = [
            item(1, "Canvas tote bag", 1800, 2),
            item(2, "Limited print", 4500, 1),
            item(3, "Brass pocket pen", 54_000, 3),
        ];
        let table = ItemTable::new(&order("usd", 3600 + 4500 + 162_000), &items);
        assert_eq!(
            table.rows,
            vec![
                row("Canvas tote bag", 2, "$18.00", "$36.00"),
                row("Limited print", 1, "$45.00", "$45.00"),
                row("Brass pocket pen", 3, "$540.00", "$1,620.00"),
            ]
        );
        assert_eq!(table.number, "SF-0001-0002");
        assert_eq!(table.total.as_deref(), Some("$1,701.00"));
        assert_eq!(table.refunded, None);
    }

    #[test]
    fn rows_of_a_zero_decimal_currency_have_no_minor_units() {
        let items = [item(1, "Canvas tote bag", 1800, 2), item(2, "Mug", 450, 1)];
        let table = ItemTable::new(&order("jpy", 4050), &items);
        assert_eq!(
            table.rows,
            vec![
                row("Canvas tote bag", 2, "¥1,800", "¥3,600"),
                row("Mug", 1, "¥450", "¥450"),
            ]
        );
        assert_eq!(table.total.as_deref(), Some("¥4,050"));
    }

    #[test]
    fn an_overflowing_line_total_is_left_empty() {
        let rows = item_rows(&order("usd", 0), &[item(1, "Huge", i64::MAX, 2)]);
        assert_eq!(rows[0].total, "");
    }
}
