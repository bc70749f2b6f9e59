//! What each order put in the bank: the balance transactions of its charge, refunds and
//! disputes, as Stripe recorded them in the account's settlement currency with its fees.
//!
//! They are read once the money has moved, never on a shopper's path: the transaction that sees
//! a charge succeed (or a refund succeed or fail) queues a fetch ([`queue`]) and the background
//! job ([`fetch::run_due`]) reads it. Dispute events carry their balance transactions and are
//! stored as they are handled ([`record`]).

pub mod fetch;

use std::collections::HashMap;

use diesel::prelude::*;

use crate::db::{self, AnyConnection};
use crate::payments::balance::Txn;
use crate::schema::{balance_fetches, balance_transactions};

/// Categories of Stripe's disputes: their fee is a dispute fee, not a processing fee.
const DISPUTE_CATEGORIES: [&str; 2] = ["dispute", "dispute_reversal"];

/// Queues a read of `source`'s balance transactions (a PaymentIntent's charge, or a refund) for
/// the order. Queued again while waiting or being read, it is read again: a refund that fails
/// just after its success was read gets its failure read too.
pub fn queue(conn: &mut AnyConnection, source: &str, order_id: i64, now: i64) -> QueryResult<()> {
    let fresh = db::insert_once(conn, |conn| {
        diesel::insert_into(balance_fetches::table)
            .values((
                balance_fetches::source.eq(source),
                balance_fetches::order_id.eq(order_id),
                balance_fetches::next_at.eq(now),
                balance_fetches::created_at.eq(now),
            ))
            .execute(conn)
    })?;
    if !fresh {
        // A reset attempt count also tells a read in flight not to dequeue it (see `fetch`).
        diesel::update(balance_fetches::table.find(source))
            .set((
                balance_fetches::attempts.eq(0),
                balance_fetches::next_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Stores balance transactions of the order; ones stored before are left as they are.
pub fn record(conn: &mut AnyConnection, order_id: i64, txns: &[Txn], now: i64) -> QueryResult<()> {
    for t in txns {
        db::insert_once(conn, |conn| {
            diesel::insert_into(balance_transactions::table)
                .values((
                    balance_transactions::id.eq(&t.id),
                    balance_transactions::order_id.eq(order_id),
                    balance_transactions::source.eq(&t.source),
                    balance_transactions::category.eq(&t.category),
                    balance_transactions::amount.eq(t.amount),
                    balance_transactions::fee.eq(t.fee),
                    balance_transactions::net.eq(t.net),
                    balance_transactions::currency.eq(&t.currency),
                    balance_transactions::created.eq(t.created),
                    balance_transactions::recorded_at.eq(now),
                ))
                .execute(conn)
        })?;
    }
    Ok(())
}

/// A charge's balance transaction read with the order's session: stored with its payment
/// method, no fetch needed.
pub fn record_charge(
    conn: &mut AnyConnection,
    order_id: i64,
    charged: &crate::payments::balance::Charged,
    now: i64,
) -> QueryResult<()> {
    record(conn, order_id, std::slice::from_ref(&charged.txn), now)?;
    if charged.method.is_some() {
        diesel::update(crate::schema::orders::table.find(order_id))
            .set(crate::schema::orders::payment_method_type.eq(&charged.method))
            .execute(conn)?;
    }
    Ok(())
}

/// An order's money as it reached the balance, in one settlement currency.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settled {
    /// Lower case, as Stripe writes it.
    pub currency: String,
    /// What the charge brought in before fees (the charge's own balance transaction).
    pub gross: i64,
    /// Stripe's processing fees (dispute fees are counted with the disputes).
    pub processing_fees: i64,
    /// What the order left in the balance: every transaction's net, fees taken off.
    pub net: i64,
}

/// What is known of each order's settlement. An order is missing while a read is still queued
/// or its charge's transaction is not known (a dispute's alone is not the order's money), and
/// when it never moved money (free orders). Orders whose transactions came in more than one
/// settlement currency are missing too: one row cannot add them up.
pub fn settled(conn: &mut AnyConnection, order_ids: &[i64]) -> QueryResult<HashMap<i64, Settled>> {
    let mut out: HashMap<i64, Settled> = HashMap::new();
    let mut mixed: Vec<i64> = Vec::new();
    let mut waiting: Vec<i64> = Vec::new();
    let mut charged: std::collections::HashSet<i64> = std::collections::HashSet::new();
    for chunk in order_ids.chunks(500) {
        let rows: Vec<(i64, String, i64, i64, i64, String)> = balance_transactions::table
            .filter(balance_transactions::order_id.eq_any(chunk))
            .select((
                balance_transactions::order_id,
                balance_transactions::category,
                balance_transactions::amount,
                balance_transactions::fee,
                balance_transactions::net,
                balance_transactions::currency,
            ))
            .load(conn)?;
        for (order_id, category, amount, fee, net, currency) in rows {
            let s = out.entry(order_id).or_insert_with(|| Settled {
                currency: currency.clone(),
                ..Settled::default()
            });
            if s.currency != currency {
                mixed.push(order_id);
            }
            if category == "charge" {
                s.gross += amount;
                charged.insert(order_id);
            }
            if !DISPUTE_CATEGORIES.contains(&category.as_str()) {
                s.processing_fees += fee;
            }
            s.net += net;
        }
        waiting.extend(
            balance_fetches::table
                .filter(balance_fetches::order_id.eq_any(chunk))
                .select(balance_fetches::order_id)
                .load::<i64>(conn)?,
        );
    }
    out.retain(|id, _| charged.contains(id));
    for id in mixed.iter().chain(&waiting) {
        out.remove(id);
    }
    Ok(out)
}
