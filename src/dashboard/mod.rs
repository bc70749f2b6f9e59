//! `GET /admin/dashboard`: how the shop is doing over the last 24 hours, 7 or 30 days, computed
//! from the database by one plain function (`compute`) that tests call directly.

pub mod routes;

use std::collections::BTreeMap;

use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::schema::{
    balance_fetches, balance_transactions, checkout_recoveries, disputes, orders, outbox,
    payment_failures, refunds, stripe_event_failures, stripe_events, subscriptions,
};

/// A window to report on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Day,
    Week,
    Month,
}

impl Period {
    pub fn parse(raw: Option<&str>) -> Self {
        match raw {
            Some("7d") => Period::Week,
            Some("30d") => Period::Month,
            _ => Period::Day,
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Period::Day => "24h",
            Period::Week => "7d",
            Period::Month => "30d",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Period::Day => "last 24 hours",
            Period::Week => "last 7 days",
            Period::Month => "last 30 days",
        }
    }

    pub fn secs(self) -> i64 {
        match self {
            Period::Day => 86_400,
            Period::Week => 7 * 86_400,
            Period::Month => 30 * 86_400,
        }
    }

    /// Days shown in the chart.
    pub fn chart_days(self) -> i64 {
        match self {
            Period::Day | Period::Week => 7,
            Period::Month => 30,
        }
    }
}

const PAID_STATES: [&str; 3] = ["paid", "partially_refunded", "refunded"];

/// The figures of one window. Money in minor units of the shop's currency; rates in basis
/// points (1/100 of a percent), so no floats anywhere.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Figures {
    pub since: i64,
    pub orders: i64,
    /// What paid orders brought in, tax excluded (tax is the authorities', not revenue).
    pub gross: i64,
    /// Tax collected on those orders (added on top or included in prices).
    pub tax: i64,
    pub refunded: i64,
    pub net: i64,
    pub failures: i64,
    pub success_rate: Option<i64>,
    pub failure_rate: Option<i64>,
    /// Most frequent decline codes first.
    pub top_declines: Vec<(String, i64)>,
    pub refund_rate: Option<i64>,
    pub disputes: i64,
    pub dispute_rate: Option<i64>,
    /// Disputes waiting for a response or a decision (whenever opened).
    pub disputes_open: i64,
    /// Disputes closed in the window, won and lost (a warning closed counts as won).
    pub disputes_won: i64,
    pub disputes_lost: i64,
    /// What disputes opened in the window took from the balance: withdrawn plus fees, less what
    /// was reinstated.
    pub dispute_withdrawn: i64,
    /// Per settlement currency, from Stripe's balance transactions made in the window: (currency,
    /// Stripe's fees, net: what reached the balance after fees, refunds and disputes).
    pub settled: Vec<(String, i64, i64)>,
    /// Charges and refunds whose fees are still to be read from Stripe.
    pub fees_pending: i64,
    /// Abandoned-checkout e-mails sent in the window.
    pub recovery_sent: i64,
    /// Orders paid through a recovery link in the window, and what they brought in.
    pub recovered_orders: i64,
    pub recovered_revenue: i64,
    pub active_subscriptions: i64,
    pub churned: i64,
    pub churn_rate: Option<i64>,
    pub last_event_at: Option<i64>,
    pub events: i64,
    /// Events that failed and nothing has applied since (the inbox's "Needs attention").
    pub events_failed: i64,
    pub mail_backlog: i64,
    pub mail_failed: i64,
    /// Net revenue per day, oldest first: (day start, amount).
    pub daily: Vec<(i64, i64)>,
}

/// An amount and when it happened.
type Dated = (i64, i64);

/// The part of a refund of `amount` that is tax, for an order of `total` carrying `tax`.
fn tax_share(amount: i64, total: i64, tax: i64) -> i64 {
    if total <= 0 || tax <= 0 {
        return 0;
    }
    (i128::from(amount.min(total)) * i128::from(tax) / i128::from(total)) as i64
}

fn rate(part: i64, whole: i64) -> Option<i64> {
    (whole > 0).then(|| part.saturating_mul(10_000) / whole)
}

pub fn compute(
    conn: &mut AnyConnection,
    now: i64,
    period: Period,
    currency: &str,
) -> QueryResult<Figures> {
    let since = now - period.secs();
    let chart_since = (now - period.chart_days() * 86_400).min(since);
    let rows: Vec<(i64, i64, i64, Option<i64>, bool)> = orders::table
        .filter(orders::status.eq_any(PAID_STATES))
        .filter(orders::currency.eq(currency))
        .filter(orders::paid_at.ge(chart_since))
        .select((
            orders::amount_total,
            orders::amount_tax_exclusive,
            orders::amount_tax_inclusive,
            orders::paid_at,
            orders::disputed,
        ))
        .load(conn)?;
    // (revenue without tax, paid at, disputed), and the tax of each.
    let paid: Vec<(i64, Option<i64>, bool)> = rows
        .iter()
        .map(|(total, ex, inc, at, d)| (total - ex - inc, *at, *d))
        .collect();
    let taxes: Vec<(i64, Option<i64>)> = rows
        .iter()
        .map(|(_, ex, inc, at, _)| (ex + inc, *at))
        .collect();
    let refund_rows: Vec<(i64, i64, i64, i64, i64)> = refunds::table
        .inner_join(orders::table)
        .filter(refunds::status.eq("succeeded"))
        .filter(refunds::currency.eq(currency))
        .filter(refunds::updated_at.ge(chart_since))
        .select((
            refunds::amount,
            refunds::updated_at,
            orders::amount_total,
            orders::amount_tax_exclusive,
            orders::amount_tax_inclusive,
        ))
        .load(conn)?;
    // A refund gives back tax in proportion to what it refunds of the order: that share was
    // never revenue, and is no longer tax collected. (amount, at) without tax; (tax, at).
    let (refunds, refunded_tax): (Vec<Dated>, Vec<Dated>) = refund_rows
        .iter()
        .map(|&(amount, at, total, ex, inc)| {
            let tax = tax_share(amount, total, ex + inc);
            ((amount - tax, at), (tax, at))
        })
        .unzip();
    let in_window = |t: i64| t >= since && t <= now;
    let window_paid: Vec<&(i64, Option<i64>, bool)> = paid
        .iter()
        .filter(|(_, at, _)| at.is_some_and(in_window))
        .collect();
    let orders = window_paid.len() as i64;
    let tax: i64 = taxes
        .iter()
        .filter(|(_, at)| at.is_some_and(in_window))
        .map(|(t, _)| t)
        .sum::<i64>()
        - refunded_tax
            .iter()
            .filter(|(_, at)| in_window(*at))
            .map(|(t, _)| t)
            .sum::<i64>();
    let gross: i64 = window_paid.iter().map(|(a, _, _)| a).sum();
    let disputes = window_paid.iter().filter(|(_, _, d)| *d).count() as i64;
    let refunded: i64 = refunds
        .iter()
        .filter(|(_, at)| in_window(*at))
        .map(|(a, _)| a)
        .sum();

    let codes: Vec<String> = payment_failures::table
        .filter(payment_failures::created_at.ge(since))
        .filter(payment_failures::created_at.le(now))
        .select(payment_failures::decline_code)
        .load(conn)?;
    let failures = codes.len() as i64;
    let mut by_code: BTreeMap<String, i64> = BTreeMap::new();
    for c in codes {
        *by_code.entry(c).or_default() += 1;
    }
    let mut top_declines: Vec<(String, i64)> = by_code.into_iter().collect();
    top_declines.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    top_declines.truncate(5);

    let active_subscriptions: i64 = subscriptions::table
        .filter(subscriptions::status.eq_any(["active", "trialing", "past_due"]))
        .count()
        .get_result(conn)?;
    let churned: i64 = subscriptions::table
        .filter(subscriptions::ended_at.ge(since))
        .filter(subscriptions::ended_at.le(now))
        .count()
        .get_result(conn)?;

    let open_statuses = [
        "needs_response",
        "under_review",
        "warning_needs_response",
        "warning_under_review",
    ];
    let disputes_open: i64 = disputes::table
        .filter(disputes::status.eq_any(open_statuses))
        .count()
        .get_result(conn)?;
    let closed: Vec<String> = disputes::table
        .filter(disputes::status.eq_any(["won", "lost", "warning_closed"]))
        .filter(disputes::updated_at.ge(since))
        .select(disputes::status)
        .load(conn)?;
    let disputes_lost = closed.iter().filter(|s| *s == "lost").count() as i64;
    let disputes_won = closed.len() as i64 - disputes_lost;
    let moved: Vec<(i64, i64, i64)> = disputes::table
        .filter(disputes::created_at.ge(since))
        .filter(disputes::currency.eq(currency))
        .select((disputes::withdrawn, disputes::reinstated, disputes::fees))
        .load(conn)?;
    let dispute_withdrawn = moved.iter().map(|(w, r, f)| w + f - r).sum();

    let mut settled: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for (c, fee, net) in balance_transactions::table
        // When Stripe made them (not when they were read: an upgrade reads years of them at
        // once). No upper bound: Stripe's clock may run a little ahead of ours.
        .filter(balance_transactions::created.ge(since))
        .select((
            balance_transactions::currency,
            balance_transactions::fee,
            balance_transactions::net,
        ))
        .load::<(String, i64, i64)>(conn)?
    {
        let e = settled.entry(c).or_default();
        *e = (e.0 + fee, e.1 + net);
    }
    let settled = settled.into_iter().map(|(c, (f, n))| (c, f, n)).collect();
    let fees_pending: i64 = balance_fetches::table.count().get_result(conn)?;
    let recovery_sent: i64 = checkout_recoveries::table
        .filter(checkout_recoveries::sent_at.ge(since))
        .filter(checkout_recoveries::sent_at.le(now))
        .count()
        .get_result(conn)?;
    let recovered: Vec<Option<i64>> = checkout_recoveries::table
        .filter(checkout_recoveries::status.eq(crate::recovery::RECOVERED))
        .filter(checkout_recoveries::recovered_currency.eq(currency))
        .filter(checkout_recoveries::updated_at.ge(since))
        .filter(checkout_recoveries::updated_at.le(now))
        .select(checkout_recoveries::recovered_amount)
        .load(conn)?;
    let recovered_orders = recovered.len() as i64;
    let recovered_revenue = recovered.iter().flatten().sum();

    let last_event_at: Option<i64> = stripe_events::table
        .select(diesel::dsl::max(stripe_events::processed_at))
        .first(conn)?;
    let events: i64 = stripe_events::table
        .filter(stripe_events::processed_at.ge(since))
        .count()
        .get_result(conn)?;
    let events_failed: i64 = stripe_event_failures::table
        .filter(diesel::dsl::not(diesel::dsl::exists(
            stripe_events::table.filter(stripe_events::id.eq(stripe_event_failures::event_id)),
        )))
        .count()
        .get_result(conn)?;
    let mail_backlog: i64 = outbox::table
        .filter(outbox::status.eq("queued"))
        .count()
        .get_result(conn)?;
    let mail_failed: i64 = outbox::table
        .filter(outbox::status.eq("failed"))
        .count()
        .get_result(conn)?;

    let days = period.chart_days();
    let first_day = now - days * 86_400;
    let daily = (0..days)
        .map(|d| {
            let start = first_day + d * 86_400;
            let end = start + 86_400;
            let within = |t: i64| t > start && t <= end;
            let g: i64 = paid
                .iter()
                .filter(|(_, at, _)| at.is_some_and(within))
                .map(|(a, _, _)| a)
                .sum();
            let r: i64 = refunds
                .iter()
                .filter(|(_, at)| within(*at))
                .map(|(a, _)| a)
                .sum();
            (end, g - r)
        })
        .collect();

    Ok(Figures {
        since,
        orders,
        gross,
        tax,
        refunded,
        net: gross - refunded,
        failures,
        success_rate: rate(orders, orders + failures),
        failure_rate: rate(failures, orders + failures),
        top_declines,
        refund_rate: rate(refunded, gross),
        disputes,
        dispute_rate: rate(disputes, orders),
        disputes_open,
        disputes_won,
        disputes_lost,
        dispute_withdrawn,
        settled,
        fees_pending,
        recovery_sent,
        recovered_orders,
        recovered_revenue,
        active_subscriptions,
        churned,
        churn_rate: rate(churned, active_subscriptions + churned),
        last_event_at,
        events,
        events_failed,
        mail_backlog,
        mail_failed,
        daily,
    })
}

/// "97.53%" from basis points; "—" when there is nothing to divide by.
pub fn percent(bp: Option<i64>) -> String {
    match bp {
        Some(bp) => format!("{}.{:02}%", bp / 100, bp % 100),
        None => "—".into(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_refund_takes_back_its_share_of_the_tax() {
        // $77.11 paid, $12.31 of it tax: refunding it all takes all the tax back.
        assert_eq!(super::tax_share(7711, 7711, 1231), 1231);
        assert_eq!(super::tax_share(3427, 7711, 1231), 547);
        assert_eq!(super::tax_share(1000, 1000, 0), 0);
        assert_eq!(
            super::tax_share(5000, 1000, 100),
            100,
            "never more than the order's tax"
        );
        assert_eq!(super::tax_share(1000, 0, 0), 0);
    }

    #[test]
    fn rates_are_exact_basis_points() {
        assert_eq!(super::rate(1, 3), Some(3333));
        assert_eq!(super::rate(0, 0), None);
        assert_eq!(super::percent(Some(3333)), "33.33%");
        assert_eq!(super::percent(Some(10_000)), "100.00%");
        assert_eq!(super::percent(None), "—");
    }
}
