//! `GET /admin`: orders, newest first, filtered by status, searched by number, e-mail or Stripe
//! id ([`crate::admin::search`]).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use diesel::prelude::*;
use serde::Deserialize;

use super::{PAGE_SIZE, admin_label, escape_like, lower, render, when};
use crate::accounts::auth::Admin;
use crate::admin::search::{self, Term};
use crate::db::{self, AnyConnection, DbError};
use crate::error::AppError;
use crate::money::Money;
use crate::orders::model::Order;
use crate::orders::status::OrderStatus;
use crate::payments::PaymentError;
use crate::schema::{orders, refunds, users};
use crate::state::AppState;
use crate::web::forms::parse_int_in;
use crate::web::layout::Layout;

pub struct ListRow {
    pub number: String,
    pub date: String,
    pub email: String,
    pub status: &'static str,
    pub status_class: &'static str,
    pub total: String,
    pub refunded: String,
    pub disputed: bool,
}

pub struct StatusOption {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "admin/orders.html")]
struct OrdersPage {
    layout: Layout,
    rows: Vec<ListRow>,
    statuses: Vec<StatusOption>,
    q: String,
    /// What the search learnt from Stripe (a charge's PaymentIntent), or why it could not.
    note: Option<String>,
    /// Kept by the search form (the dashboard links here with them): shown, and removable.
    disputed: bool,
    since: Option<(i64, String)>,
    /// The same list without `since`.
    all_dates: String,
    /// These orders (every page) as CSV.
    csv: String,
    /// Per currency: paid, of which tax, refunded.
    totals: Vec<(String, String, String)>,
    page: i64,
    prev: Option<String>,
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    pub status: Option<String>,
    pub q: Option<String>,
    pub page: Option<String>,
    /// Only orders created at or after this unix time (the dashboard links here).
    pub since: Option<String>,
    /// Only disputed orders.
    pub disputed: Option<String>,
}

type Backend = <AnyConnection as diesel::Connection>::Backend;

/// `term`: `None` when the search can match nothing (a charge Stripe does not know).
fn filtered(
    status: Option<OrderStatus>,
    term: Option<&Term>,
    since: Option<i64>,
    disputed: bool,
) -> orders::BoxedQuery<'static, Backend> {
    let mut query = orders::table.into_boxed();
    if let Some(t) = since {
        query = query.filter(orders::created_at.ge(t));
    }
    if disputed {
        query = query.filter(orders::disputed.eq(true));
    }
    if let Some(s) = status {
        query = query.filter(orders::status.eq(s.as_str()));
    }
    match term {
        None => query.filter(orders::id.eq(-1)),
        Some(Term::Empty) => query,
        Some(Term::Text(q)) => {
            let escaped = escape_like(q);
            let by_number = format!("%{}%", escaped.to_uppercase());
            let by_email = format!("%{}%", escaped.to_lowercase());
            // A signed-in customer's order carries their account, not an address of its own.
            let accounts = users::table
                .filter(
                    lower(users::email.nullable())
                        .like(by_email.clone())
                        .escape('\\'),
                )
                .select(users::id.nullable());
            query.filter(
                orders::number
                    .like(by_number)
                    .escape('\\')
                    .or(lower(orders::email).like(by_email).escape('\\'))
                    .or(orders::user_id.eq_any(accounts)),
            )
        }
        Some(Term::PaymentIntent(id)) => query.filter(orders::payment_intent_id.eq(id.clone())),
        Some(Term::Session(id)) => query.filter(orders::checkout_session_id.eq(id.clone())),
        Some(Term::Invoice(id)) => query.filter(orders::invoice_id.eq(id.clone())),
        Some(Term::Refund(id)) => query.filter(
            orders::id.eq_any(
                refunds::table
                    .filter(refunds::stripe_refund_id.eq(id.clone()))
                    .select(refunds::order_id),
            ),
        ),
        // Resolved to its PaymentIntent before searching (see `resolve`).
        Some(Term::Charge(_)) => query.filter(orders::id.eq(-1)),
    }
}

/// A charge id becomes its PaymentIntent's (asked of Stripe); other terms stay. Returns the term
/// to search by (`None`: nothing can match) and a note for the page when Stripe had to be asked.
async fn resolve(state: &AppState, term: Term) -> (Option<Term>, Option<String>) {
    let Term::Charge(id) = &term else {
        return (Some(term), None);
    };
    match crate::payments::refunds::charge(&state.stripe, id).await {
        Ok(charge) => match charge.payment_intent {
            Some(pi) => (
                Some(Term::PaymentIntent(pi.id().as_str().to_owned())),
                Some(format!(
                    "Charge {id} belongs to PaymentIntent {}.",
                    pi.id().as_str()
                )),
            ),
            None => (None, Some(format!("Charge {id} has no PaymentIntent."))),
        },
        Err(PaymentError::Refused { status: 404, .. }) => {
            (None, Some(format!("Stripe has no charge {id}.")))
        }
        Err(e) => {
            tracing::warn!(error = %crate::error::Report(&e), "could not look up a charge");
            (
                None,
                Some(format!(
                    "We couldn't ask Stripe about {id} just now. Search by its PaymentIntent (pi_…), or try again in a moment."
                )),
            )
        }
    }
}

pub async fn list(
    state: web::Data<AppState>,
    layout: Layout,
    _admin: Admin,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let status: Option<OrderStatus> = query.status.as_deref().and_then(|s| s.parse().ok());
    let q = query.q.clone().unwrap_or_default();
    let q = q.chars().take(200).collect::<String>();
    let page = query
        .page
        .as_deref()
        .and_then(|p| parse_int_in(p, 1, 100_000))
        .unwrap_or(1);
    let (term, note) = resolve(&state, search::parse(&q)).await;
    let since = query
        .since
        .as_deref()
        .and_then(|s| parse_int_in(s, 0, 10_000_000_000));
    let disputed = query.disputed.as_deref() == Some("1");
    let (orders_found, more, sums, accounts) = db::run(&state.pool, move |conn| {
        let mut rows: Vec<Order> = filtered(status, term.as_ref(), since, disputed)
            .order((orders::created_at.desc(), orders::id.desc()))
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE + 1)
            .select(Order::as_select())
            .load(conn)?;
        let more = rows.len() as i64 > PAGE_SIZE;
        rows.truncate(PAGE_SIZE as usize);
        // Totals over every matching order whose payment was taken, per currency.
        let paid: Vec<&str> = OrderStatus::ALL
            .iter()
            .filter(|s| s.is_paid())
            .map(|s| s.as_str())
            .collect();
        let amounts: Vec<(String, i64, i64, i64, i64)> =
            filtered(status, term.as_ref(), since, disputed)
                .filter(orders::status.eq_any(paid))
                .select((
                    orders::currency,
                    orders::amount_total,
                    orders::amount_tax_exclusive,
                    orders::amount_tax_inclusive,
                    orders::amount_refunded,
                ))
                .load(conn)?;
        // (currency, paid, of which tax, refunded)
        let mut sums: Vec<(String, i64, i64, i64)> = Vec::new();
        for (cur, total, ex, inc, refunded) in amounts {
            match sums.iter_mut().find(|(c, _, _, _)| *c == cur) {
                Some(entry) => {
                    entry.1 += total;
                    entry.2 += ex + inc;
                    entry.3 += refunded;
                }
                None => sums.push((cur, total, ex + inc, refunded)),
            }
        }
        // Signed-in customers' orders show their account's address.
        let account_ids: Vec<i64> = rows.iter().filter_map(|o| o.user_id).collect();
        let accounts: std::collections::HashMap<i64, String> = users::table
            .filter(users::id.eq_any(account_ids))
            .select((users::id, users::email))
            .load::<(i64, String)>(conn)?
            .into_iter()
            .collect();
        Ok::<_, DbError>((rows, more, sums, accounts))
    })
    .await?;
    // Every filter in force carries over to the other pages (the dashboard links here with
    // `since` and `disputed`, which the form does not show).
    let link = |p: i64, since: Option<i64>| {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        if let Some(st) = status {
            s.append_pair("status", st.as_str());
        }
        if !q.is_empty() {
            s.append_pair("q", &q);
        }
        if let Some(t) = since {
            s.append_pair("since", &t.to_string());
        }
        if disputed {
            s.append_pair("disputed", "1");
        }
        s.append_pair("page", &p.to_string());
        format!("/admin?{}", s.finish())
    };
    let totals = sums
        .iter()
        .filter_map(|(cur, total, tax, refunded)| {
            let c = crate::money::Currency::parse(cur).ok()?;
            Some((
                Money::new(*total, c).to_string(),
                Money::new(*tax, c).to_string(),
                Money::new(*refunded, c).to_string(),
            ))
        })
        .collect();
    let page_html = OrdersPage {
        layout,
        rows: orders_found
            .iter()
            .map(|o| ListRow {
                number: o.number.clone(),
                date: when(o.created_at),
                email: o
                    .email
                    .clone()
                    .or_else(|| o.user_id.and_then(|id| accounts.get(&id).cloned()))
                    .unwrap_or_default(),
                status: admin_label(o.status()),
                status_class: o.status().as_str(),
                total: o.total().to_string(),
                refunded: Money::new(o.amount_refunded, o.currency()).to_string(),
                disputed: o.disputed,
            })
            .collect(),
        statuses: OrderStatus::ALL
            .iter()
            .map(|s| StatusOption {
                value: s.as_str(),
                label: admin_label(*s),
                selected: Some(*s) == status,
            })
            .collect(),
        q: q.clone(),
        note,
        disputed,
        since: since.map(|t| (t, when(t))),
        all_dates: link(1, None),
        csv: link(1, since).replacen("/admin?", "/admin/orders.csv?", 1),
        totals,
        page,
        prev: (page > 1).then(|| link(page - 1, since)),
        next: more.then(|| link(page + 1, since)),
    }
    .render();
    render(page_html, StatusCode::OK)
}

/// `GET /admin/orders.csv`: every order the list's filters match (all pages), oldest first,
/// for the accountant ([`crate::admin::exports`]).
pub async fn orders_csv(
    state: web::Data<AppState>,
    _admin: Admin,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let status: Option<OrderStatus> = query.status.as_deref().and_then(|s| s.parse().ok());
    let q: String = query
        .q
        .clone()
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect();
    let since = query
        .since
        .as_deref()
        .and_then(|s| parse_int_in(s, 0, 10_000_000_000));
    let disputed = query.disputed.as_deref() == Some("1");
    let (term, _) = resolve(&state, search::parse(&q)).await;
    let csv = db::run(&state.pool, move |conn| {
        let rows: Vec<Order> = filtered(status, term.as_ref(), since, disputed)
            .order((orders::created_at.asc(), orders::id.asc()))
            .select(Order::as_select())
            .load(conn)?;
        crate::admin::exports::orders_csv(conn, &rows).map_err(DbError::from)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            "attachment; filename=\"orders.csv\"",
        ))
        .body(csv))
}

#[derive(Deserialize)]
pub struct MovementsQuery {
    pub since: Option<String>,
    pub until: Option<String>,
}

/// A `2026-11-01` date field (UTC midnight); empty is none.
fn date_field(name: &str, raw: Option<&str>) -> Result<Option<i64>, AppError> {
    match raw.map(str::trim).filter(|r| !r.is_empty()) {
        None => Ok(None),
        Some(r) => crate::web::forms::day_start(r).map(Some).ok_or_else(|| {
            AppError::BadRequest(format!("{name}: {r:?} is not a date like 2026-11-01"))
        }),
    }
}

/// `GET /admin/refunds.csv`: the refunds and disputes made between two dates (either may be
/// left out), for the accountant ([`crate::admin::exports::movements_csv`]).
pub async fn movements_csv(
    state: web::Data<AppState>,
    _admin: Admin,
    query: web::Query<MovementsQuery>,
) -> Result<HttpResponse, AppError> {
    let since = date_field("since", query.since.as_deref())?.unwrap_or(0);
    let until = date_field("until", query.until.as_deref())?.unwrap_or(i64::MAX);
    if until <= since {
        return Err(AppError::BadRequest(
            "the second date must be after the first".into(),
        ));
    }
    let csv = db::run(&state.pool, move |conn| {
        crate::admin::exports::movements_csv(conn, since, until).map_err(DbError::from)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            "attachment; filename=\"refunds-and-disputes.csv\"",
        ))
        .body(csv))
}
