//! The rules that must hold once the run is quiet, each checked against Stripe's (the
//! emulator's) records and the shared database, with counts for the report.

use std::collections::{BTreeMap, BTreeSet};

use diesel::prelude::*;
use serde_json::Value;
use storefront::schema::{
    audit_log, order_items, orders, outbox, product_variants, products, refund_restocks, refunds,
    stock_reservations, stripe_events, subscriptions,
};

use crate::cluster::{Emulator, Failure};

/// One invariant's outcome: what was checked (counts) and what broke it.
pub struct Check {
    pub name: &'static str,
    pub counts: Vec<(String, usize)>,
    pub violations: Vec<String>,
}

impl Check {
    fn new(name: &'static str) -> Check {
        Check {
            name,
            counts: Vec::new(),
            violations: Vec::new(),
        }
    }

    fn count(&mut self, what: &str, n: usize) {
        self.counts.push((what.to_owned(), n));
    }

    fn fail(&mut self, what: String) {
        self.violations.push(what);
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verdict = if self.violations.is_empty() {
            "ok".to_owned()
        } else {
            format!("VIOLATED ({})", self.violations.len())
        };
        let counts = self
            .counts
            .iter()
            .map(|(w, n)| format!("{w} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        write!(f, "{:<58} {verdict:<14} {counts}", self.name)?;
        for v in self.violations.iter().take(8) {
            write!(f, "\n      - {v}")?;
        }
        if self.violations.len() > 8 {
            write!(f, "\n      … and {} more", self.violations.len() - 8)?;
        }
        Ok(())
    }
}

const PAID: &[&str] = &["paid", "partially_refunded", "refunded"];

#[derive(Queryable, Debug, Clone)]
struct OrderRow {
    id: i64,
    number: String,
    status: String,
    currency: String,
    amount_total: i64,
    amount_subtotal: i64,
    amount_discount: i64,
    amount_refunded: i64,
    session: Option<String>,
    payment_intent: Option<String>,
    flagged: Option<String>,
    paid_at: Option<i64>,
    invoice: Option<String>,
    email: Option<String>,
    user_id: Option<i64>,
}

fn load_orders(conn: &mut PgConnection) -> Vec<OrderRow> {
    orders::table
        .select((
            orders::id,
            orders::number,
            orders::status,
            orders::currency,
            orders::amount_total,
            orders::amount_subtotal,
            orders::amount_discount,
            orders::amount_refunded,
            orders::checkout_session_id,
            orders::payment_intent_id,
            orders::flagged,
            orders::paid_at,
            orders::invoice_id,
            orders::email,
            orders::user_id,
        ))
        .order(orders::id.asc())
        .load(conn)
        .unwrap()
}

/// Everything the checks read from Stripe, fetched once.
pub struct StripeView {
    pub sessions: Vec<Value>,
    pub refunds: Vec<Value>,
    pub subscriptions: Vec<Value>,
    pub invoices: Vec<Value>,
    pub events: Vec<Value>,
    pub promotion_codes: Vec<Value>,
    pub fired: Vec<Value>,
}

impl StripeView {
    pub async fn fetch(emu: &Emulator) -> StripeView {
        StripeView {
            sessions: emu.list_all("v1/checkout/sessions", &[]).await,
            refunds: emu.list_all("v1/refunds", &[]).await,
            subscriptions: emu.list_all("v1/subscriptions", &[("status", "all")]).await,
            invoices: emu.list_all("v1/invoices", &[]).await,
            events: emu.list_all("v1/events", &[]).await,
            promotion_codes: emu.list_all("v1/promotion_codes", &[]).await,
            fired: emu
                .call(reqwest::Method::GET, "_emulator/faults", &[])
                .await["fired"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        }
    }
}

/// Invariant 0: Every event Stripe made of a type the shop handles is in the ledger, once (delivered,
/// doubled, reordered or dropped and found by reconcile).
pub fn events_recorded(conn: &mut PgConnection, stripe: &StripeView) -> Check {
    let mut c = Check::new("0 every handled Stripe event recorded once");
    let handled = storefront::webhooks::events::handled_types();
    let ours: Vec<String> = stripe_events::table
        .select(stripe_events::id)
        .load(conn)
        .unwrap();
    let ours: BTreeSet<&str> = ours.iter().map(String::as_str).collect();
    let theirs: Vec<&Value> = stripe
        .events
        .iter()
        .filter(|e| {
            e["type"]
                .as_str()
                .is_some_and(|t| handled.iter().any(|h| h == t))
        })
        .collect();
    c.count("Stripe events", stripe.events.len());
    c.count("of handled types", theirs.len());
    c.count("in the ledger", ours.len());
    for e in theirs {
        let id = e["id"].as_str().unwrap_or_default();
        if !ours.contains(id) {
            c.fail(format!("{id} ({}) never recorded", e["type"]));
        }
    }
    c
}

/// Invariant 1: Every session paid at Stripe ↔ exactly one paid order, as snapshotted.
pub fn sessions_and_orders(conn: &mut PgConnection, stripe: &StripeView) -> Check {
    let mut c = Check::new("1 paid sessions <-> paid orders");
    let orders = load_orders(conn);
    let by_session: BTreeMap<&str, Vec<&OrderRow>> =
        orders.iter().fold(BTreeMap::new(), |mut m, o| {
            if let Some(s) = &o.session {
                m.entry(s.as_str()).or_insert_with(Vec::new).push(o);
            }
            m
        });
    let payment: Vec<&Value> = stripe
        .sessions
        .iter()
        .filter(|s| s["mode"] == "payment")
        .collect();
    let paid: BTreeSet<&str> = payment
        .iter()
        .filter(|s| {
            s["status"] == "complete"
                && (s["payment_status"] == "paid" || s["payment_status"] == "no_payment_required")
        })
        .filter_map(|s| s["id"].as_str())
        .collect();
    c.count("sessions", payment.len());
    c.count("paid", paid.len());
    for s in &payment {
        let id = s["id"].as_str().unwrap_or_default();
        let mine = by_session.get(id).cloned().unwrap_or_default();
        if paid.contains(id) {
            match mine.as_slice() {
                [o] => {
                    if !PAID.contains(&o.status.as_str()) {
                        c.fail(format!("{id} is paid, order {} is {}", o.number, o.status));
                    }
                    if Some(o.amount_total) != s["amount_total"].as_i64()
                        || Some(o.amount_subtotal) != s["amount_subtotal"].as_i64()
                        || Some(o.amount_discount) != s["total_details"]["amount_discount"].as_i64()
                        || Some(o.currency.as_str()) != s["currency"].as_str()
                    {
                        c.fail(format!(
                            "{id}: order {} has {} {} (subtotal {}), Stripe {} {} ({})",
                            o.number,
                            o.amount_total,
                            o.currency,
                            o.amount_subtotal,
                            s["amount_total"],
                            s["currency"],
                            s["amount_subtotal"]
                        ));
                    }
                }
                other => c.fail(format!("{id} is paid and has {} orders", other.len())),
            }
        } else {
            for o in &mine {
                if PAID.contains(&o.status.as_str()) {
                    c.fail(format!(
                        "order {} is {} but its session {id} is {} / {}",
                        o.number, o.status, s["status"], s["payment_status"]
                    ));
                }
                // A finished session leaves no order waiting: the jobs bring it right.
                if s["status"] == "expired" && o.status == "pending" {
                    c.fail(format!(
                        "order {} still pending, session {id} expired",
                        o.number
                    ));
                }
            }
        }
    }
    let checkouts: Vec<&OrderRow> = orders.iter().filter(|o| o.invoice.is_none()).collect();
    let paid_orders = checkouts
        .iter()
        .filter(|o| PAID.contains(&o.status.as_str()))
        .count();
    c.count("paid orders", paid_orders);
    for o in &checkouts {
        if PAID.contains(&o.status.as_str())
            && !o.session.as_deref().is_some_and(|s| paid.contains(s))
        {
            c.fail(format!(
                "order {} is {} without a paid session",
                o.number, o.status
            ));
        }
    }
    let by_status = checkouts.iter().fold(BTreeMap::new(), |mut m, o| {
        *m.entry(o.status.as_str()).or_insert(0usize) += 1;
        m
    });
    for (status, n) in by_status {
        c.count(status, n);
    }
    // The promotion code never went past its limit; each redemption is a completed session's.
    let discounted = payment
        .iter()
        .filter(|s| {
            s["status"] == "complete"
                && s["total_details"]["amount_discount"].as_i64().unwrap_or(0) > 0
        })
        .count();
    c.count("completed with the code", discounted);
    for p in &stripe.promotion_codes {
        let (used, max) = (p["times_redeemed"].as_i64(), p["max_redemptions"].as_i64());
        if used > max || used != Some(discounted as i64) {
            c.fail(format!(
                "code {}: redeemed {used:?} of {max:?}, {discounted} sessions completed with it",
                p["code"]
            ));
        }
    }
    let flagged = orders.iter().filter(|o| o.flagged.is_some()).count();
    c.count("flagged", flagged);
    for o in orders.iter().filter(|o| o.flagged.is_some()) {
        c.fail(format!(
            "order {} flagged: {}",
            o.number,
            o.flagged.as_deref().unwrap_or_default()
        ));
    }
    c
}

/// Invariant 2: Stock: initial − committed + restocked ± admin adjustments = current, never negative; no
/// unit held for an order that no longer waits for its payment.
pub fn stock(conn: &mut PgConnection, seeded: &[(&str, &str, i64)]) -> Check {
    let mut c = Check::new("2 stock = initial - sold + restocked + adjusted");
    let adjustments = adjustments(conn);
    let variants: Vec<(i64, String, String, Option<i64>)> = product_variants::table
        .inner_join(products::table)
        .select((
            product_variants::id,
            products::slug,
            product_variants::option1,
            product_variants::stock,
        ))
        .load(conn)
        .unwrap();
    let committed: Vec<(i64, i64)> = stock_reservations::table
        .filter(stock_reservations::status.eq("committed"))
        .select((stock_reservations::variant_id, stock_reservations::quantity))
        .load(conn)
        .unwrap();
    let restocked: Vec<(Option<i64>, i64)> = refund_restocks::table
        .inner_join(refunds::table)
        .inner_join(order_items::table.on(order_items::id.eq(refund_restocks::order_item_id)))
        .filter(refunds::restocked.eq(true))
        .select((order_items::variant_id, refund_restocks::quantity))
        .load(conn)
        .unwrap();
    let (mut sold_units, mut restocked_units, mut limited) = (0, 0, 0);
    for (id, slug, option, current) in &variants {
        let Some(start) = seeded
            .iter()
            .find(|(s, o, _)| s == slug && o == option)
            .map(|(_, _, n)| n)
        else {
            continue;
        };
        limited += 1;
        let sold: i64 = committed
            .iter()
            .filter(|(v, _)| v == id)
            .map(|(_, q)| q)
            .sum();
        let back: i64 = restocked
            .iter()
            .filter(|(v, _)| *v == Some(*id))
            .map(|(_, q)| q)
            .sum();
        let adjusted = adjustments
            .get(&(slug.clone(), option.clone()))
            .copied()
            .unwrap_or(0);
        sold_units += sold;
        restocked_units += back;
        let expected = start - sold + back + adjusted;
        match current {
            Some(now) if *now == expected && *now >= 0 => {}
            other => c.fail(format!(
                "{slug} {option}: stock {other:?}, expected {start} - {sold} + {back} + {adjusted} = {expected}"
            )),
        }
    }
    c.count("limited variants", limited);
    c.count("units sold", sold_units as usize);
    c.count("units restocked", restocked_units as usize);
    c.count(
        "units adjusted by admins",
        adjustments.values().sum::<i64>() as usize,
    );
    let stale: Vec<(String, String, i64)> = stock_reservations::table
        .inner_join(orders::table)
        .filter(stock_reservations::status.eq("held"))
        .filter(orders::status.ne_all(["pending", "processing"]))
        .select((orders::number, orders::status, stock_reservations::quantity))
        .load(conn)
        .unwrap();
    for (number, status, q) in &stale {
        c.fail(format!(
            "{q} unit(s) still held by order {number}, which is {status}"
        ));
    }
    let held: Vec<i64> = stock_reservations::table
        .filter(stock_reservations::status.eq("held"))
        .select(stock_reservations::quantity)
        .load(conn)
        .unwrap();
    c.count(
        "units held by waiting orders",
        held.iter().sum::<i64>() as usize,
    );
    c
}

/// Stock changes made on the admin pages, per (product, variant), from the audit trail
/// ("M: stock 2 → 5: a delivery"; no variant label on a product's only variant).
fn adjustments(conn: &mut PgConnection) -> BTreeMap<(String, String), i64> {
    let trail: Vec<(String, String)> = audit_log::table
        .inner_join(products::table.on(audit_log::product_id.eq(products::id.nullable())))
        .filter(audit_log::action.eq(storefront::admin::audit::STOCK_CHANGED))
        .select((products::slug, audit_log::details))
        .load(conn)
        .unwrap();
    let mut out = BTreeMap::new();
    for (slug, details) in trail {
        let (variant, rest) = match details.strip_prefix("stock ") {
            Some(rest) => ("", rest),
            None => match details.split_once(": stock ") {
                Some(split) => split,
                None => continue,
            },
        };
        let Some((before, after)) = rest
            .split_once(':')
            .map(|(change, _)| change)
            .and_then(|change| change.split_once(" → "))
        else {
            continue;
        };
        if let (Ok(b), Ok(a)) = (before.trim().parse::<i64>(), after.trim().parse::<i64>()) {
            *out.entry((slug, variant.to_owned())).or_default() += a - b;
        }
    }
    out
}

/// Invariant 3: Refunds: never more than paid; one Stripe refund per submitted form at most; the order's
/// figures are Stripe's.
pub fn refunds_match(
    conn: &mut PgConnection,
    stripe: &StripeView,
    tokens: &BTreeMap<String, BTreeSet<String>>,
) -> Check {
    let mut c = Check::new("3 refunds: <= paid, one per submit, = Stripe's");
    let orders = load_orders(conn);
    let local: Vec<(i64, Option<String>, i64, String)> = refunds::table
        .select((
            refunds::order_id,
            refunds::stripe_refund_id,
            refunds::amount,
            refunds::status,
        ))
        .load(conn)
        .unwrap();
    let mut stripe_by_pi: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for r in &stripe.refunds {
        if let Some(pi) = r["payment_intent"].as_str() {
            stripe_by_pi.entry(pi).or_default().push(r);
        }
    }
    let ids: Vec<&str> = local.iter().filter_map(|r| r.1.as_deref()).collect();
    let known: BTreeSet<&str> = ids.iter().copied().collect();
    if known.len() != ids.len() {
        c.fail("one Stripe refund recorded twice".into());
    }
    let waiting = local.iter().filter(|r| r.3 == "pending").count();
    c.count("awaiting Stripe's answer", waiting);
    c.count("Stripe refunds", stripe.refunds.len());
    c.count("orders refunded from", tokens.len());
    c.count(
        "submitted forms",
        tokens.values().map(BTreeSet::len).sum::<usize>(),
    );
    for r in &stripe.refunds {
        let id = r["id"].as_str().unwrap_or_default();
        if !known.contains(id) {
            c.fail(format!(
                "Stripe refund {id} ({}) has no record in the shop",
                r["amount"]
            ));
        }
    }
    for o in &orders {
        let Some(pi) = o.payment_intent.as_deref() else {
            continue;
        };
        let at_stripe = stripe_by_pi.get(pi).cloned().unwrap_or_default();
        let stripe_sum: i64 = at_stripe
            .iter()
            .filter(|r| r["status"] == "succeeded")
            .filter_map(|r| r["amount"].as_i64())
            .sum();
        let mine: i64 = local
            .iter()
            .filter(|r| r.0 == o.id && r.3 == "succeeded")
            .map(|r| r.2)
            .sum();
        if mine > o.amount_total || stripe_sum > o.amount_total {
            c.fail(format!(
                "order {}: refunded {mine} (Stripe {stripe_sum}) of {}",
                o.number, o.amount_total
            ));
        }
        if o.amount_refunded != stripe_sum {
            c.fail(format!(
                "order {}: amount_refunded {}, Stripe's refunds {stripe_sum}",
                o.number, o.amount_refunded
            ));
        }
        let want = match stripe_sum {
            0 => None,
            s if s == o.amount_total => Some("refunded"),
            _ => Some("partially_refunded"),
        };
        if let Some(want) = want
            && o.status != want
        {
            c.fail(format!(
                "order {} is {}, Stripe says {want}",
                o.number, o.status
            ));
        }
        // Each submitted form makes at most one refund (a double click, or a retry after an
        // unknown answer, reuses the form's token), and each Stripe refund is one of ours.
        let submitted = tokens.get(&o.number).map_or(0, BTreeSet::len);
        let ours = local.iter().filter(|r| r.0 == o.id).count();
        let ours_at_stripe = local
            .iter()
            .filter(|r| r.0 == o.id && r.1.is_some())
            .count();
        if ours > submitted || at_stripe.len() != ours_at_stripe {
            c.fail(format!(
                "order {}: {ours} refund(s) recorded ({ours_at_stripe} with a Stripe id), {} at Stripe, from {submitted} submitted form(s)",
                o.number,
                at_stripe.len()
            ));
        }
    }
    c
}

/// Invariant 4: One receipt per order event (paid, refunded total, failed), each sent once.
pub fn receipts(conn: &mut PgConnection, received: &[String], kills: usize) -> Check {
    let mut c = Check::new("4 one receipt per order event, sent once");
    // What the SMTP server got, by Message-ID: a stable id per queued mail, so a resend after
    // a kill (sent, then killed before it was marked sent) is one message to the mailbox.
    let mut delivered: BTreeMap<String, usize> = BTreeMap::new();
    for m in received {
        if let Some(id) = m.lines().find_map(|l| l.strip_prefix("Message-ID: ")) {
            *delivered.entry(id.trim().to_owned()).or_default() += 1;
        }
    }
    c.count("messages at the SMTP server", received.len());
    // A send cut short by a kill may go out again with the same Message-ID (the mailbox sees
    // one message); at most one per kill.
    let resent: usize = delivered.values().map(|n| n - 1).sum();
    c.count("resent with the same Message-ID", resent);
    if resent > kills {
        c.fail(format!("{resent} extra copies with {kills} kills"));
    }
    let orders = load_orders(conn);
    let mails: Vec<(Option<i64>, String, String, String, i64, String)> = outbox::table
        .select((
            outbox::order_id,
            outbox::kind,
            outbox::dedupe_key,
            outbox::status,
            outbox::attempts,
            outbox::message_id,
        ))
        .load(conn)
        .unwrap();
    let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, kind, _, _, _, _) in &mails {
        *by_kind.entry(kind.as_str()).or_default() += 1;
    }
    for (k, n) in &by_kind {
        c.count(k, *n);
    }
    let mut keys = BTreeSet::new();
    for (_, kind, key, status, attempts, message_id) in &mails {
        if !keys.insert(key.as_str()) {
            c.fail(format!("mail {key} queued twice"));
        }
        if status != "sent" {
            c.fail(format!(
                "{kind} {key}: {status} after {attempts} attempt(s)"
            ));
        }
        let got = delivered.get(message_id.as_str()).copied().unwrap_or(0);
        if status == "sent" && got == 0 {
            c.fail(format!(
                "{kind} {key} is marked sent, the SMTP server never got it"
            ));
        }
    }
    for o in &orders {
        if o.email.is_none() && o.user_id.is_none() {
            continue;
        }
        let of = |kind: &str| {
            mails
                .iter()
                .filter(|m| m.0 == Some(o.id) && m.1 == kind)
                .count()
        };
        let was_paid = o.paid_at.is_some();
        if was_paid && of("receipt_paid") != 1 {
            c.fail(format!(
                "order {} ({}) has {} paid receipts",
                o.number,
                o.status,
                of("receipt_paid")
            ));
        }
        if !was_paid && of("receipt_paid") != 0 {
            c.fail(format!(
                "order {} ({}) was never paid but has a receipt",
                o.number, o.status
            ));
        }
        let failed = usize::from(o.status == "payment_failed");
        if of("payment_failed") != failed {
            c.fail(format!(
                "order {} ({}) has {} payment-failed mails",
                o.number,
                o.status,
                of("payment_failed")
            ));
        }
        if o.amount_refunded > 0 {
            let key = format!("order-refunded-{}-{}", o.number, o.amount_refunded);
            if !mails.iter().any(|m| m.2 == key) {
                c.fail(format!(
                    "order {}: no receipt for its refunded total",
                    o.number
                ));
            }
        } else if of("receipt_refunded") != 0 {
            c.fail(format!(
                "order {} has a refund receipt and no refund",
                o.number
            ));
        }
    }
    c
}

/// Invariant 5: Subscriptions: the shop's view of each is Stripe's; one order per paid invoice.
pub fn subscriptions_match(conn: &mut PgConnection, stripe: &StripeView) -> Check {
    let mut c = Check::new("5 subscriptions = Stripe's; one order per paid invoice");
    let rows: Vec<(String, String, String, Option<i64>, bool)> = subscriptions::table
        .select((
            subscriptions::stripe_subscription_id,
            subscriptions::status,
            subscriptions::stripe_price_id,
            subscriptions::current_period_end,
            subscriptions::cancel_at_period_end,
        ))
        .load(conn)
        .unwrap();
    let mine: BTreeMap<&str, _> = rows.iter().map(|r| (r.0.as_str(), r)).collect();
    c.count("subscriptions", stripe.subscriptions.len());
    for s in &stripe.subscriptions {
        let id = s["id"].as_str().unwrap_or_default();
        let item = &s["items"]["data"][0];
        let theirs = (
            s["status"].as_str().unwrap_or_default(),
            item["price"]["id"].as_str().unwrap_or_default(),
            item["current_period_end"].as_i64(),
            s["cancel_at_period_end"].as_bool().unwrap_or_default(),
        );
        match mine.get(id) {
            None => c.fail(format!("{id} ({}) unknown to the shop", theirs.0)),
            Some(r) => {
                let ours = (r.1.as_str(), r.2.as_str(), r.3, r.4);
                if ours != theirs {
                    c.fail(format!("{id}: shop {ours:?}, Stripe {theirs:?}"));
                }
            }
        }
    }
    let orders = load_orders(conn);
    let paid: Vec<&Value> = stripe
        .invoices
        .iter()
        .filter(|i| i["status"] == "paid" && i["amount_paid"].as_i64().unwrap_or(0) > 0)
        .collect();
    c.count("paid invoices", paid.len());
    for i in &paid {
        let id = i["id"].as_str().unwrap_or_default();
        let n = orders
            .iter()
            .filter(|o| o.invoice.as_deref() == Some(id))
            .count();
        if n != 1 {
            c.fail(format!(
                "invoice {id} paid {}: {n} orders",
                i["amount_paid"]
            ));
        }
    }
    let paid_ids: BTreeSet<&str> = paid.iter().filter_map(|i| i["id"].as_str()).collect();
    let invoice_orders: Vec<&OrderRow> = orders.iter().filter(|o| o.invoice.is_some()).collect();
    c.count("invoice orders", invoice_orders.len());
    for o in invoice_orders {
        let invoice = o.invoice.as_deref().unwrap_or_default();
        if PAID.contains(&o.status.as_str()) && !paid_ids.contains(invoice) {
            c.fail(format!(
                "order {} is {} for invoice {invoice}, not paid at Stripe",
                o.number, o.status
            ));
        }
    }
    let theirs: BTreeSet<&str> = stripe
        .subscriptions
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    for r in &rows {
        if !theirs.contains(r.0.as_str()) {
            c.fail(format!(
                "the shop's subscription {} is unknown to Stripe",
                r.0
            ));
        }
    }
    c
}

/// Invariant 6: no 500 seen by anyone; a 503 only while a Stripe fault that fails or loses an
/// answer fired on a call that request makes, and a failed upstream only on the instance killed
/// while the request was in flight; no panic in any log.
pub fn answers(
    failures: &[Failure],
    fired: &[Value],
    kills: &[(usize, i64)],
    logs: &[(&str, String)],
    journal_problems: &[String],
) -> Check {
    let mut c = Check::new("6 no 500; 503 only under a fault or a kill; no panic");
    // A fault that only slows a call (`stall_ms`) is no excuse for an error.
    let failing: Vec<(i64, &str)> = fired
        .iter()
        .filter(|f| f["fault"].get("stall_ms").is_none())
        .filter_map(|f| Some((f["at_ms"].as_i64()?, f["path"].as_str()?)))
        .collect();
    let (mut faulted, mut killed) = (0, 0);
    for f in failures {
        let during = |t: i64| t >= f.start_ms - 50 && t <= f.end_ms + 50;
        let under_fault = failing
            .iter()
            .any(|(t, path)| during(*t) && calls(&f.path, path));
        let during_kill = kills.iter().any(|(i, t)| *i == f.upstream && during(*t));
        match f.status {
            502 if during_kill => killed += 1,
            503 if under_fault => faulted += 1,
            _ => c.fail(format!(
                "{} {} {} on instance {}{} ({} ms)",
                f.status,
                f.method,
                f.path,
                f.upstream,
                if f.copy { " (webhook copy)" } else { "" },
                f.end_ms - f.start_ms
            )),
        }
    }
    c.count("503 under a Stripe fault", faulted);
    c.count("failed in flight on a killed instance", killed);
    c.count("faults fired", fired.len());
    for p in journal_problems {
        c.fail(format!("seen by an actor: {p}"));
    }
    for (name, log) in logs {
        for line in log.lines().filter(|l| l.contains("panicked")) {
            c.fail(format!("{name}: {line}"));
        }
    }
    c
}

/// Whether a request to our `route` calls Stripe's `api` path (for the faults that explain a
/// 503): checkout and subscribing create sessions and customers, refund forms create refunds.
fn calls(route: &str, api: &str) -> bool {
    if route.contains("/refunds") {
        api == "/v1/refunds"
    } else if route.starts_with("/checkout") || route.starts_with("/subscribe") {
        api == "/v1/checkout/sessions" || api == "/v1/customers"
    } else {
        false
    }
}
