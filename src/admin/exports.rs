//! Orders for the accountant: one CSV row per order with what it was charged (subtotal,
//! discount, shipping, tax, total), what went back (refunds, disputes with their fees) and
//! what the shop kept before Stripe's own fees. Spreadsheet-safe (see [`crate::web::csv`]).

use std::collections::HashMap;

use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::money::{Currency, Money};
use crate::orders::model::{Order, OrderItem};
use crate::schema::{disputes, order_items, users};
use crate::web::csv::{Cell, row};

pub const ORDER_COLUMNS: &[&str] = &[
    "number",
    "created_utc",
    "paid_utc",
    "kind",
    "status",
    "email",
    "currency",
    "items",
    "subtotal",
    "discount",
    "shipping",
    "tax",
    "total",
    "refunded",
    "dispute_withdrawn",
    "dispute_fees",
    "dispute_reinstated",
    "net_before_stripe_fees",
];

fn utc(ts: Option<i64>) -> String {
    ts.and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// What an order kept: paid, less refunds, less what disputes withdrew and their fees, plus
/// what they reinstated (Stripe's processing fees are not in the shop's records).
pub fn net(total: i64, refunded: i64, withdrawn: i64, fees: i64, reinstated: i64) -> i64 {
    total - refunded - withdrawn - fees + reinstated
}

/// The CSV of the `orders` whose payment was taken (paid, partly or wholly refunded), in the
/// order given, with its header. Checkouts never paid moved no money and are left out.
pub fn orders_csv(conn: &mut AnyConnection, orders: &[Order]) -> QueryResult<String> {
    let orders: Vec<&Order> = orders.iter().filter(|o| o.status().is_paid()).collect();
    let ids: Vec<i64> = orders.iter().map(|o| o.id).collect();
    let mut items: HashMap<i64, Vec<OrderItem>> = HashMap::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<OrderItem> = order_items::table
            .filter(order_items::order_id.eq_any(chunk))
            .order(order_items::id.asc())
            .select(OrderItem::as_select())
            .load(conn)?;
        for item in rows {
            items.entry(item.order_id).or_default().push(item);
        }
    }
    let mut moved: HashMap<i64, (i64, i64, i64)> = HashMap::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<(Option<i64>, i64, i64, i64)> = disputes::table
            .filter(disputes::order_id.eq_any(chunk))
            .select((
                disputes::order_id,
                disputes::withdrawn,
                disputes::fees,
                disputes::reinstated,
            ))
            .load(conn)?;
        for (order_id, w, f, r) in rows {
            let Some(order_id) = order_id else { continue };
            let e = moved.entry(order_id).or_default();
            *e = (e.0 + w, e.1 + f, e.2 + r);
        }
    }
    let mut user_ids: Vec<i64> = orders.iter().filter_map(|o| o.user_id).collect();
    user_ids.sort_unstable();
    user_ids.dedup();
    let mut emails: HashMap<i64, String> = HashMap::new();
    for chunk in user_ids.chunks(500) {
        emails.extend(
            users::table
                .filter(users::id.eq_any(chunk))
                .select((users::id, users::email))
                .load::<(i64, String)>(conn)?,
        );
    }

    let mut out = row(&ORDER_COLUMNS
        .iter()
        .map(|c| Cell::Text((*c).to_owned()))
        .collect::<Vec<_>>());
    for o in orders.iter().copied() {
        let currency: Currency = o.currency();
        let money = |m: i64| Cell::Number(Money::new(m, currency).to_major_string());
        let (withdrawn, fees, reinstated) = moved.get(&o.id).copied().unwrap_or_default();
        let lines = items
            .get(&o.id)
            .map(|is| {
                is.iter()
                    .map(|i| format!("{} × {}", i.name, i.quantity))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default();
        out.push_str(&row(&[
            Cell::Text(o.number.clone()),
            Cell::Text(utc(Some(o.created_at))),
            Cell::Text(utc(o.paid_at)),
            Cell::Text(o.kind.clone()),
            Cell::Text(o.status.clone()),
            Cell::Text(
                o.email
                    .clone()
                    .or_else(|| o.user_id.and_then(|u| emails.get(&u).cloned()))
                    .unwrap_or_default(),
            ),
            Cell::Text(currency.code().to_ascii_uppercase()),
            Cell::Text(lines),
            money(o.amount_subtotal),
            money(o.amount_discount),
            money(o.amount_shipping),
            money(o.amount_tax_exclusive + o.amount_tax_inclusive),
            money(o.amount_total),
            money(o.amount_refunded),
            money(withdrawn),
            money(fees),
            money(reinstated),
            money(net(
                o.amount_total,
                o.amount_refunded,
                withdrawn,
                fees,
                reinstated,
            )),
        ]));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::net;

    #[test]
    fn a_lost_dispute_leaves_less_than_nothing() {
        assert_eq!(net(2300, 0, 0, 0, 0), 2300);
        assert_eq!(net(2300, 500, 0, 0, 0), 1800);
        assert_eq!(net(2300, 0, 2300, 1500, 0), -1500);
        assert_eq!(net(2300, 0, 2300, 1500, 2300), 800);
    }
}
