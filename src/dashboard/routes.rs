//! The dashboard page, with a server-rendered SVG chart of daily revenue (no JavaScript).

use actix_web::web;
use askama::Template;
use askama_web::WebTemplate;
use diesel::prelude::*;
use serde::Deserialize;

use super::{Period, compute, percent};
use crate::accounts::auth::Admin;
use crate::accounts::routes::date;
use crate::db::{self, DbError};
use crate::error::AppError;
use crate::money::Money;
use crate::payments::usage::Summary;
use crate::schema::subscriptions;
use crate::state::AppState;
use crate::subscriptions::model::LIVE_STATUSES;
use crate::web::layout::Layout;

pub struct Bar {
    pub x: i64,
    pub y: i64,
    pub height: i64,
    pub label: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/dashboard.html")]
pub struct DashboardPage {
    layout: Layout,
    period: &'static str,
    period_label: &'static str,
    since: i64,
    orders: i64,
    gross: String,
    tax: String,
    refunded: String,
    net: String,
    failures: i64,
    success_rate: String,
    failure_rate: String,
    top_declines: Vec<(String, i64)>,
    refund_rate: String,
    disputes: i64,
    dispute_rate: String,
    disputes_open: i64,
    disputes_won: i64,
    disputes_lost: i64,
    dispute_withdrawn: String,
    /// (settlement currency, Stripe's fees, net), formatted.
    settled: Vec<(String, String, String)>,
    fees_pending: i64,
    recovery_sent: i64,
    recovered_orders: i64,
    recovered_revenue: String,
    active_subscriptions: i64,
    churned: i64,
    churn_rate: String,
    last_event: String,
    events: i64,
    events_failed: i64,
    mail_backlog: i64,
    mail_failed: i64,
    bars: Vec<Bar>,
    chart_width: i64,
    /// (Stripe subscription id, why): second live subscriptions to one product.
    flagged_subscriptions: Vec<(String, String)>,
    /// (order number, product slug, product name, units): paid lines still waiting for a key.
    keys_pending: Vec<(String, String, String, i64)>,
    stripe: StripeBudget,
}

/// The Stripe rate limit's use: this instance's share, every instance's requests.
pub struct StripeBudget {
    /// "10 a second (2 instances share 20)", or "no limit".
    share: String,
    /// (endpoint, calls a second over the last minutes, requests in the period, 429s in it)
    endpoints: Vec<(String, String, i64, i64)>,
    /// Calls a second over the last [`RECENT_SECS`], all endpoints.
    recent_rate: String,
    requests: i64,
    rate_limited: i64,
    calls_per_order: String,
    /// Shoppers on the waiting page now (pending orders without their payment page yet).
    waiting: i64,
}

/// The window of the "now" rates: the last five whole minutes and the current one.
const RECENT_SECS: i64 = 300;

#[derive(Debug, Deserialize)]
pub struct DashboardQuery {
    pub period: Option<String>,
}

const CHART_HEIGHT: i64 = 120;
const BAR_WIDTH: i64 = 18;

pub async fn dashboard(
    state: web::Data<AppState>,
    layout: Layout,
    _admin: Admin,
    query: web::Query<DashboardQuery>,
) -> Result<DashboardPage, AppError> {
    let period = Period::parse(query.period.as_deref());
    let currency = state.config.currency;
    let now = state.clock.unix();
    let (f, flagged_subscriptions, keys_pending, usage) = db::run(&state.pool, move |conn| {
        let figures = compute(conn, now, period, currency.code())?;
        let minute = now - now.rem_euclid(60);
        let usage = (
            crate::payments::usage::summary(conn, figures.since, minute + 60)?,
            crate::payments::usage::summary(conn, minute - RECENT_SECS, minute + 60)?,
            crate::checkout::start::waiting(conn, now)?,
        );
        // Whatever the window: these need an admin until someone clears them.
        let flagged = subscriptions::table
            .filter(subscriptions::flagged.is_not_null())
            .filter(subscriptions::status.eq_any(LIVE_STATUSES))
            .order(subscriptions::id.asc())
            .select((
                subscriptions::stripe_subscription_id,
                subscriptions::flagged.assume_not_null(),
            ))
            .load(conn)?;
        let mut keys_pending = Vec::new();
        for (item_id, units) in crate::digital::keys::waiting_lines(conn, None)? {
            use crate::schema::{order_items, orders, products};
            let (number, slug, name) = order_items::table
                .inner_join(orders::table)
                .inner_join(products::table.on(products::id.eq(order_items::product_id)))
                .filter(order_items::id.eq(item_id))
                .select((orders::number, products::slug, products::name))
                .first::<(String, String, String)>(conn)?;
            keys_pending.push((number, slug, name, units));
        }
        Ok::<_, DbError>((figures, flagged, keys_pending, usage))
    })
    .await?;
    let money = |m: i64| Money::new(m, currency).to_string();
    let max = f.daily.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let bars = f
        .daily
        .iter()
        .enumerate()
        .map(|(i, (day_end, value))| {
            let height = (value.max(&0) * CHART_HEIGHT / max).max(if *value > 0 { 1 } else { 0 });
            Bar {
                x: i as i64 * (BAR_WIDTH + 4),
                y: CHART_HEIGHT - height,
                height,
                label: format!("{}: {}", date(day_end - 1), money(*value)),
            }
        })
        .collect::<Vec<_>>();
    let stripe = stripe_budget(&state, usage, f.orders, now);
    Ok(DashboardPage {
        stripe,
        layout,
        flagged_subscriptions,
        keys_pending,
        period: period.key(),
        period_label: period.label(),
        since: f.since,
        orders: f.orders,
        gross: money(f.gross),
        tax: money(f.tax),
        refunded: money(f.refunded),
        net: money(f.net),
        failures: f.failures,
        success_rate: percent(f.success_rate),
        failure_rate: percent(f.failure_rate),
        top_declines: f.top_declines,
        refund_rate: percent(f.refund_rate),
        disputes: f.disputes,
        dispute_rate: percent(f.dispute_rate),
        disputes_open: f.disputes_open,
        disputes_won: f.disputes_won,
        disputes_lost: f.disputes_lost,
        dispute_withdrawn: Money::new(f.dispute_withdrawn, state.config.currency).to_string(),
        settled: f
            .settled
            .iter()
            .map(|(c, fee, net)| {
                let fmt = |m: i64| match crate::money::Currency::parse(c) {
                    Ok(cur) => Money::new(m, cur).to_string(),
                    Err(_) => format!("{m} {c}"),
                };
                (c.to_ascii_uppercase(), fmt(*fee), fmt(*net))
            })
            .collect(),
        fees_pending: f.fees_pending,
        recovery_sent: f.recovery_sent,
        recovered_orders: f.recovered_orders,
        recovered_revenue: money(f.recovered_revenue),
        active_subscriptions: f.active_subscriptions,
        churned: f.churned,
        churn_rate: percent(f.churn_rate),
        last_event: f
            .last_event_at
            .map(|t| {
                chrono::DateTime::from_timestamp(t, 0)
                    .map(|d| d.format("%-d %B %Y %H:%M UTC").to_string())
                    .unwrap_or_default()
            })
            .unwrap_or_else(|| "never".into()),
        events: f.events,
        events_failed: f.events_failed,
        mail_backlog: f.mail_backlog,
        mail_failed: f.mail_failed,
        chart_width: bars.len() as i64 * (BAR_WIDTH + 4),
        bars,
    })
}

fn stripe_budget(
    state: &AppState,
    (period, recent, waiting): (Summary, Summary, i64),
    paid_orders: i64,
    now: i64,
) -> StripeBudget {
    use crate::payments::usage::{per_order, per_second};
    // The recent window runs to now: whole minutes behind, the current one so far.
    let recent_secs = RECENT_SECS + now.rem_euclid(60).max(1);
    let share = match state.stripe.budget().share() {
        (None, _) => {
            "no limit (STRIPE_RATE_LIMIT=off, or the demo's emulator without limits)".to_owned()
        }
        (Some(mine), 1) => format!("{mine} calls a second (this instance alone)"),
        (Some(mine), n) => format!("{mine} calls a second ({n} instances share the limit)"),
    };
    let endpoints = period
        .endpoints
        .iter()
        .map(|(endpoint, requests, limited)| {
            let recent_calls = recent
                .endpoints
                .iter()
                .find(|r| &r.0 == endpoint)
                .map_or(0, |r| r.1);
            (
                endpoint.clone(),
                per_second(recent_calls, recent_secs),
                *requests,
                *limited,
            )
        })
        .collect();
    StripeBudget {
        share,
        endpoints,
        recent_rate: per_second(recent.requests, recent_secs),
        requests: period.requests,
        rate_limited: period.rate_limited,
        calls_per_order: per_order(period.requests, paid_orders),
        waiting,
    }
}
