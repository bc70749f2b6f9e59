//! Orders for the accountant: one CSV row per order with what it was charged (subtotal,
//! discount, shipping, tax, total), what went back (refunds, disputes with their fees), what
//! the shop kept before Stripe's fees, and — from Stripe's balance transactions, in the
//! settlement currency — Stripe's fees and the net that reached the bank, with one total line
//! per settlement currency. A second export lists the refunds and disputes themselves.
//! Spreadsheet-safe (see [`crate::web::csv`]).

use std::collections::{BTreeMap, HashMap};

use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::money::{Currency, Money};
use crate::orders::model::{Order, OrderItem};
use crate::schema::{balance_transactions, disputes, order_items, orders, refunds, users};
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
    "payment_method",
    "settlement_currency",
    "stripe_fees",
    "net",
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

    let settled = crate::balance::settled(conn, &ids)?;

    let mut out = header(ORDER_COLUMNS);
    let mut totals: BTreeMap<String, Totals> = BTreeMap::new();
    for o in orders.iter().copied() {
        let currency: Currency = o.currency();
        let money = |m: i64| amount(Some(currency), m);
        let settlement = settled.get(&o.id);
        let settle_money = |m: i64| {
            amount(
                settlement.and_then(|s| Currency::parse(&s.currency).ok()),
                m,
            )
        };
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
            Cell::Text(o.payment_method_type.clone().unwrap_or_default()),
            Cell::Text(
                settlement
                    .map(|s| s.currency.to_ascii_uppercase())
                    // Still being read from Stripe (or never charged: a free order).
                    .unwrap_or_else(|| {
                        if o.amount_total > 0 {
                            PENDING.into()
                        } else {
                            String::new()
                        }
                    }),
            ),
            settle_money(settlement.map_or(0, |s| s.processing_fees)),
            settle_money(settlement.map_or(0, |s| s.net)),
        ]));
        // Orders whose settlement is not known yet are added up apart ("Total pending"): their
        // fees and net are not in any currency's line.
        let key = settlement.map_or_else(|| PENDING.to_owned(), |s| s.currency.clone());
        totals
            .entry(key)
            .or_default()
            .add(o, (withdrawn, fees, reinstated), settlement);
    }
    for (settlement, t) in &totals {
        out.push_str(&t.row(settlement));
    }
    Ok(out)
}

/// The settlement column of orders whose balance transactions are still to be read.
const PENDING: &str = "pending";

/// An amount in major units as a number cell; blank when its currency is not known (not read
/// from Stripe yet, or several currencies that cannot be added).
fn amount(currency: Option<Currency>, minor: i64) -> Cell {
    match currency {
        Some(c) => Cell::Number(Money::new(minor, c).to_major_string()),
        None => Cell::Text(String::new()),
    }
}

fn header(columns: &[&str]) -> String {
    row(&columns
        .iter()
        .map(|c| Cell::Text((*c).to_owned()))
        .collect::<Vec<_>>())
}

/// The orders settled in one currency, added up. Amounts the shop charged are added only while
/// every order was charged in the same currency: a total of dollars and euros means nothing.
#[derive(Default)]
struct Totals {
    orders: usize,
    charged_in: Option<Option<Currency>>,
    /// subtotal, discount, shipping, tax, total, refunded, withdrawn, dispute fees, reinstated.
    charged: [i64; 9],
    fees: i64,
    net: i64,
}

impl Totals {
    fn add(
        &mut self,
        o: &Order,
        (withdrawn, fees, reinstated): (i64, i64, i64),
        s: Option<&crate::balance::Settled>,
    ) {
        self.orders += 1;
        let c = o.currency();
        self.charged_in = match self.charged_in {
            None => Some(Some(c)),
            Some(Some(seen)) if seen == c => Some(Some(c)),
            Some(_) => Some(None),
        };
        let add = [
            o.amount_subtotal,
            o.amount_discount,
            o.amount_shipping,
            o.amount_tax_exclusive + o.amount_tax_inclusive,
            o.amount_total,
            o.amount_refunded,
            withdrawn,
            fees,
            reinstated,
        ];
        for (t, a) in self.charged.iter_mut().zip(add) {
            *t += a;
        }
        if let Some(s) = s {
            self.fees += s.processing_fees;
            self.net += s.net;
        }
    }

    fn row(&self, settlement: &str) -> String {
        let charged_in = self.charged_in.flatten();
        let charged = |m: i64| amount(charged_in, m);
        let settled = |m: i64| amount(Currency::parse(settlement).ok(), m);
        let [
            subtotal,
            discount,
            shipping,
            tax,
            total,
            refunded,
            withdrawn,
            fees,
            reinstated,
        ] = self.charged;
        row(&[
            Cell::Text(format!("Total {}", settlement.to_ascii_uppercase())),
            Cell::Text(String::new()),
            Cell::Text(String::new()),
            Cell::Text(String::new()),
            Cell::Text(format!("{} orders", self.orders)),
            Cell::Text(String::new()),
            Cell::Text(
                charged_in
                    .map(|c| c.code().to_ascii_uppercase())
                    .unwrap_or_default(),
            ),
            Cell::Text(String::new()),
            charged(subtotal),
            charged(discount),
            charged(shipping),
            charged(tax),
            charged(total),
            charged(refunded),
            charged(withdrawn),
            charged(fees),
            charged(reinstated),
            charged(net(total, refunded, withdrawn, fees, reinstated)),
            Cell::Text(String::new()),
            Cell::Text(settlement.to_ascii_uppercase()),
            settled(self.fees),
            settled(self.net),
        ])
    }
}

pub const MOVEMENT_COLUMNS: &[&str] = &[
    "kind",
    "id",
    "order",
    "created_utc",
    "status",
    "reason",
    "currency",
    "amount",
    "settlement_currency",
    "settled_amount",
    "stripe_fees",
    "net",
];

/// Refunds and disputes made in `[since, until)`, oldest first: what each took back from the
/// customer (in the order's currency) and, from Stripe's balance transactions, what it did to
/// the balance (in the settlement currency; empty while still being read from Stripe).
pub fn movements_csv(conn: &mut AnyConnection, since: i64, until: i64) -> QueryResult<String> {
    struct Movement {
        kind: &'static str,
        id: String,
        order_id: i64,
        created: i64,
        status: String,
        reason: String,
        currency: String,
        amount: i64,
    }
    let mut all: Vec<Movement> = refunds::table
        .filter(refunds::created_at.ge(since))
        .filter(refunds::created_at.lt(until))
        .select((
            refunds::id,
            refunds::stripe_refund_id,
            refunds::order_id,
            refunds::created_at,
            refunds::status,
            refunds::reason,
            refunds::currency,
            refunds::amount,
        ))
        .load::<(
            i64,
            Option<String>,
            i64,
            i64,
            String,
            Option<String>,
            String,
            i64,
        )>(conn)?
        .into_iter()
        .map(
            |(id, stripe_id, order_id, created, status, reason, currency, amount)| Movement {
                kind: "refund",
                id: stripe_id.unwrap_or_else(|| format!("refund {id} (not sent to Stripe)")),
                order_id,
                created,
                // A refund that failed, or that Stripe never made, gave nothing back.
                amount: if matches!(status.as_str(), "succeeded" | "pending") {
                    -amount
                } else {
                    0
                },
                status,
                reason: reason.unwrap_or_default(),
                currency,
            },
        )
        .collect();
    all.extend(
        disputes::table
            .filter(disputes::created_at.ge(since))
            .filter(disputes::created_at.lt(until))
            .filter(disputes::order_id.is_not_null())
            .select((
                disputes::id,
                disputes::order_id,
                disputes::created_at,
                disputes::status,
                disputes::reason,
                disputes::currency,
                disputes::withdrawn,
                disputes::reinstated,
            ))
            .load::<(String, Option<i64>, i64, String, String, String, i64, i64)>(conn)?
            .into_iter()
            .map(
                |(id, order_id, created, status, reason, currency, withdrawn, reinstated)| {
                    Movement {
                        kind: "dispute",
                        id,
                        order_id: order_id.unwrap_or_default(),
                        created,
                        status,
                        reason,
                        currency,
                        // Its fee is in the fee column, from Stripe's record of it.
                        amount: reinstated - withdrawn,
                    }
                },
            ),
    );
    all.sort_by(|a, b| (a.created, a.kind, &a.id).cmp(&(b.created, b.kind, &b.id)));

    let order_ids: Vec<i64> = all.iter().map(|m| m.order_id).collect();
    let mut numbers: HashMap<i64, String> = HashMap::new();
    for chunk in order_ids.chunks(500) {
        numbers.extend(
            orders::table
                .filter(orders::id.eq_any(chunk))
                .select((orders::id, orders::number))
                .load::<(i64, String)>(conn)?,
        );
    }
    let sources: Vec<&str> = all.iter().map(|m| m.id.as_str()).collect();
    // Per source and settlement currency: amount, fees, net.
    let mut moved: HashMap<String, (String, i64, i64, i64)> = HashMap::new();
    for chunk in sources.chunks(500) {
        let rows: Vec<(Option<String>, String, i64, i64, i64)> = balance_transactions::table
            .filter(balance_transactions::source.eq_any(chunk))
            .select((
                balance_transactions::source,
                balance_transactions::currency,
                balance_transactions::amount,
                balance_transactions::fee,
                balance_transactions::net,
            ))
            .load(conn)?;
        for (source, currency, amount, fee, net) in rows {
            let Some(source) = source else { continue };
            let e = moved.entry(source).or_insert_with(|| (currency, 0, 0, 0));
            e.1 += amount;
            e.2 += fee;
            e.3 += net;
        }
    }

    let mut out = header(MOVEMENT_COLUMNS);
    for m in &all {
        let currency = Currency::parse(&m.currency).ok();
        let money = |v: i64| amount(currency, v);
        let settled = moved.get(&m.id);
        let settle_money = |v: i64| amount(settled.and_then(|s| Currency::parse(&s.0).ok()), v);
        out.push_str(&row(&[
            Cell::Text(m.kind.to_owned()),
            Cell::Text(m.id.clone()),
            Cell::Text(numbers.get(&m.order_id).cloned().unwrap_or_default()),
            Cell::Text(utc(Some(m.created))),
            Cell::Text(m.status.clone()),
            Cell::Text(m.reason.clone()),
            Cell::Text(m.currency.to_ascii_uppercase()),
            money(m.amount),
            Cell::Text(
                settled
                    .map(|s| s.0.to_ascii_uppercase())
                    .unwrap_or_default(),
            ),
            settle_money(settled.map_or(0, |s| s.1)),
            settle_money(settled.map_or(0, |s| s.2)),
            settle_money(settled.map_or(0, |s| s.3)),
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
