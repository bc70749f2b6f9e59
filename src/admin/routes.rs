//! `GET /admin` (orders), `GET /admin/orders/{number}` (details, refunds, events, audit trail)
//! and `POST /admin/orders/{number}/refunds`. Everything behind [`Admin`]; every POST through
//! [`CsrfForm`]; results flashed after a redirect (Post/Redirect/Get).

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use diesel::prelude::*;
use serde::Deserialize;
use stripe_core::payment_intent::RetrievePaymentIntent;

use super::audit;
use super::refunds::{self, Refusal, Reserved};
use super::sync::{self, Submitted};
use crate::accounts::auth::Admin;
use crate::cart::routes::see_other;
use crate::db::{self, AnyConnection, DbError, write_tx};
use crate::error::AppError;
use crate::money::{Money, MoneyParseError};
use crate::orders::model::{Order, OrderItem};
use crate::orders::status::OrderStatus;
use crate::orders::{number, queries};
use crate::schema::{orders, stripe_events, users};
use crate::web::AppState;
use crate::web::field_errors::FieldErrors;
use crate::web::forms::parse_int_in;
use crate::web::layout::Layout;
use crate::web::session::{CsrfForm, TypedSession};

pub const PAGE_SIZE: i64 = 20;
const NOTE_MAX_CHARS: usize = 500;

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Nullable<diesel::sql_types::Text>) -> diesel::sql_types::Nullable<diesel::sql_types::Text>);

fn render(
    html: Result<String, askama::Error>,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let html = html.map_err(|e| AppError::Internal(e.into()))?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(html))
}

/// "2026-11-26 21:40 UTC": admins need the time, not only the day.
pub fn when(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

/// A status as admins read it: the plain state, not the customer's wording.
pub fn admin_label(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::Pending => "Pending",
        OrderStatus::Processing => "Processing",
        OrderStatus::Paid => "Paid",
        OrderStatus::PaymentFailed => "Payment failed",
        OrderStatus::Expired => "Expired",
        OrderStatus::PartiallyRefunded => "Partially refunded",
        OrderStatus::Refunded => "Refunded",
    }
}

// ---- the orders list ------------------------------------------------------------------------

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
    totals: Vec<(String, String)>,
    page: i64,
    prev: Option<String>,
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    pub status: Option<String>,
    pub q: Option<String>,
    pub page: Option<String>,
}

type Backend = <AnyConnection as diesel::Connection>::Backend;

fn filtered(status: Option<OrderStatus>, q: &str) -> orders::BoxedQuery<'static, Backend> {
    let mut query = orders::table.into_boxed();
    if let Some(s) = status {
        query = query.filter(orders::status.eq(s.as_str()));
    }
    let q = q.trim();
    if !q.is_empty() {
        let escaped: String = q
            .chars()
            .flat_map(|c| match c {
                '%' | '_' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        let by_number = format!("%{}%", escaped.to_uppercase());
        let by_email = format!("%{}%", escaped.to_lowercase());
        query = query.filter(
            orders::number
                .like(by_number)
                .escape('\\')
                .or(lower(orders::email).like(by_email).escape('\\')),
        );
    }
    query
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
    let q2 = q.clone();
    let (orders_found, more, sums) = db::run(&state.pool, move |conn| {
        let mut rows: Vec<Order> = filtered(status, &q2)
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
        let amounts: Vec<(String, i64, i64)> = filtered(status, &q2)
            .filter(orders::status.eq_any(paid))
            .select((
                orders::currency,
                orders::amount_total,
                orders::amount_refunded,
            ))
            .load(conn)?;
        let mut sums: Vec<(String, i64, i64)> = Vec::new();
        for (cur, total, refunded) in amounts {
            match sums.iter_mut().find(|(c, _, _)| *c == cur) {
                Some(entry) => {
                    entry.1 += total;
                    entry.2 += refunded;
                }
                None => sums.push((cur, total, refunded)),
            }
        }
        Ok::<_, DbError>((rows, more, sums))
    })
    .await?;
    let link = |p: i64| {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        if let Some(st) = status {
            s.append_pair("status", st.as_str());
        }
        if !q.is_empty() {
            s.append_pair("q", &q);
        }
        s.append_pair("page", &p.to_string());
        format!("/admin?{}", s.finish())
    };
    let totals = sums
        .iter()
        .filter_map(|(cur, total, refunded)| {
            let c = crate::money::Currency::parse(cur).ok()?;
            Some((
                Money::new(*total, c).to_string(),
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
                email: o.email.clone().unwrap_or_default(),
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
        totals,
        page,
        prev: (page > 1).then(|| link(page - 1)),
        next: more.then(|| link(page + 1)),
    }
    .render();
    render(page_html, StatusCode::OK)
}

// ---- one order --------------------------------------------------------------------------------

pub struct ItemRow {
    pub id: i64,
    pub name: String,
    pub quantity: i64,
    pub unit: String,
    pub total: String,
    /// Units that may still go back on the shelf.
    pub restock_max: i64,
    pub restock_value: String,
}

pub struct RefundRow {
    pub date: String,
    pub amount: String,
    pub status: &'static str,
    pub status_class: String,
    pub stripe_id: String,
    pub reason: String,
    pub note: String,
    pub by: String,
    pub failure: Option<String>,
    /// For a refund whose outcome is unknown: the form that asks Stripe again (same key).
    pub retry: Option<RetryForm>,
}

pub struct RetryForm {
    pub token: String,
    pub amount: String,
    pub reason: String,
}

pub struct EventRow {
    pub id: String,
    pub type_: String,
    pub date: String,
    pub outcome: String,
}

pub struct AuditRow {
    pub date: String,
    pub who: String,
    pub action: String,
    pub details: String,
}

pub struct ReasonOption {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

pub struct RefundFormView {
    pub token: String,
    pub amount: String,
    pub note: String,
    pub refundable: String,
    pub currency: String,
}

#[derive(Template)]
#[template(path = "admin/order.html")]
struct OrderPage {
    layout: Layout,
    number: String,
    date: String,
    status: &'static str,
    status_class: &'static str,
    kind: &'static str,
    total: String,
    refunded: String,
    email: String,
    account: Option<String>,
    payment_intent: Option<String>,
    charge: Option<String>,
    disputed: bool,
    flagged: Option<String>,
    items: Vec<ItemRow>,
    refunds: Vec<RefundRow>,
    events: Vec<EventRow>,
    audit: Vec<AuditRow>,
    form: Option<RefundFormView>,
    reasons: Vec<ReasonOption>,
    errors: FieldErrors,
}

/// What the order page shows, read in one go.
struct Loaded {
    order: Order,
    items: Vec<OrderItem>,
    refunds: Vec<refunds::Refund>,
    events: Vec<(String, String, i64, String)>,
    audit: Vec<audit::Entry>,
    emails: HashMap<i64, String>,
    refundable: i64,
    restocked: Vec<(i64, i64)>,
    token: Option<String>,
    retry_tokens: HashMap<i64, String>,
}

fn load(
    conn: &mut AnyConnection,
    number: &str,
    admin_id: i64,
    token: Option<String>,
    now: i64,
) -> Result<Loaded, AppError> {
    let order = queries::by_number(conn, number)?.ok_or(AppError::NotFound)?;
    let items = queries::items(conn, &order)?;
    let refund_rows = refunds::for_order(conn, order.id)?;
    let events = stripe_events::table
        .filter(stripe_events::order_id.eq(order.id))
        .order((
            stripe_events::processed_at.asc(),
            stripe_events::created.asc(),
        ))
        .select((
            stripe_events::id,
            stripe_events::type_,
            stripe_events::created,
            stripe_events::outcome,
        ))
        .load(conn)?;
    let trail = audit::for_order(conn, order.id)?;
    let mut ids: Vec<i64> = trail
        .iter()
        .filter_map(|e| e.actor_id)
        .chain(refund_rows.iter().filter_map(|r| r.admin_id))
        .chain(order.user_id)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let emails: HashMap<i64, String> = users::table
        .filter(users::id.eq_any(ids))
        .select((users::id, users::email))
        .load::<(i64, String)>(conn)?
        .into_iter()
        .collect();
    let refundable = refunds::refundable(conn, &order)?;
    let restocked = refunds::restocked_units(conn, order.id)?;
    let mut retry_tokens = HashMap::new();
    for r in refund_rows.iter().filter(|r| r.awaiting_stripe()) {
        if let Some(t) = refunds::token_of(conn, r.id)? {
            retry_tokens.insert(r.id, t);
        }
    }
    let token = match token {
        Some(t) => Some(t),
        None if refundable > 0 => Some(refunds::new_token(conn, order.id, admin_id, now)?),
        None => None,
    };
    Ok(Loaded {
        order,
        items,
        refunds: refund_rows,
        events,
        audit: trail,
        emails,
        refundable,
        restocked,
        token,
        retry_tokens,
    })
}

/// What the admin typed, to show again after a refusal.
#[derive(Default)]
struct Typed {
    amount: Option<String>,
    reason: Option<String>,
    note: String,
    restock: HashMap<i64, String>,
}

async fn order_page(
    state: &AppState,
    layout: Layout,
    loaded: Loaded,
    typed: Typed,
    errors: FieldErrors,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let Loaded {
        order,
        items,
        refunds: refund_rows,
        events,
        audit: trail,
        emails,
        refundable,
        restocked,
        token,
        retry_tokens,
    } = loaded;
    let currency = order.currency();
    // The charge id lives at Stripe; the page still works when Stripe does not answer.
    // It gets a few seconds, so a slow Stripe cannot hold up the page.
    let charge = match &order.payment_intent_id {
        Some(pi) => tokio::time::timeout(
            std::time::Duration::from_secs(3),
            state.stripe.read(&RetrievePaymentIntent::new(pi.as_str())),
        )
        .await
        .ok()
        .and_then(Result::ok)
        .and_then(|p| p.latest_charge.map(|c| c.id().as_str().to_owned())),
        None => None,
    };
    let who = |id: Option<i64>, none: &str| {
        id.and_then(|i| emails.get(&i).cloned())
            .unwrap_or_else(|| none.to_owned())
    };
    let items_view = items
        .iter()
        .map(|i| {
            let unit = Money::new(i.unit_amount, currency);
            let back: i64 = restocked
                .iter()
                .filter(|(id, _)| *id == i.id)
                .map(|(_, q)| q)
                .sum();
            ItemRow {
                id: i.id,
                name: i.name.clone(),
                quantity: i.quantity,
                unit: unit.to_string(),
                total: unit
                    .checked_mul(i.quantity)
                    .map(|m| m.to_string())
                    .unwrap_or_default(),
                restock_max: (i.quantity - back).max(0),
                restock_value: typed
                    .restock
                    .get(&i.id)
                    .cloned()
                    .unwrap_or_else(|| "0".into()),
            }
        })
        .collect();
    let selected_reason = typed
        .reason
        .clone()
        .unwrap_or_else(|| "requested_by_customer".into());
    // After a refusal the form stays, with its message, even when nothing is left to refund.
    let form = token
        .filter(|_| refundable > 0 || !errors.is_empty())
        .map(|token| RefundFormView {
            token,
            amount: typed
                .amount
                .clone()
                .unwrap_or_else(|| Money::new(refundable, currency).to_major_string()),
            note: typed.note.clone(),
            refundable: Money::new(refundable, currency).to_string(),
            currency: currency.code().to_ascii_uppercase(),
        });
    let html = OrderPage {
        layout,
        number: order.number.clone(),
        date: when(order.created_at),
        status: admin_label(order.status()),
        status_class: order.status().as_str(),
        kind: if order.kind == "subscription" {
            "Subscription"
        } else {
            "Order"
        },
        total: order.total().to_string(),
        refunded: Money::new(order.amount_refunded, currency).to_string(),
        email: order.email.clone().unwrap_or_default(),
        account: order.user_id.and_then(|id| emails.get(&id).cloned()),
        payment_intent: order.payment_intent_id.clone(),
        charge,
        disputed: order.disputed,
        flagged: order.flagged.clone(),
        items: items_view,
        refunds: refund_rows
            .iter()
            .map(|r| RefundRow {
                date: when(r.created_at),
                amount: Money::new(r.amount, currency).to_string(),
                status: r.label(),
                status_class: r.status.clone(),
                stripe_id: r.stripe_refund_id.clone().unwrap_or_default(),
                reason: r.reason.clone().unwrap_or_default(),
                note: r.note.clone().unwrap_or_default(),
                by: who(r.admin_id, "outside the shop (Stripe)"),
                failure: r.failure_message.clone(),
                retry: retry_tokens.get(&r.id).map(|t| RetryForm {
                    token: t.clone(),
                    amount: Money::new(r.amount, currency).to_major_string(),
                    reason: r.reason.clone().unwrap_or_default(),
                }),
            })
            .collect(),
        events: events
            .into_iter()
            .map(|(id, type_, created, outcome)| EventRow {
                id,
                type_,
                date: when(created),
                outcome,
            })
            .collect(),
        audit: trail
            .iter()
            .map(|e| AuditRow {
                date: when(e.created_at),
                who: who(e.actor_id, "system"),
                action: e.action.clone(),
                details: e.details.clone(),
            })
            .collect(),
        form,
        reasons: refunds::REASONS
            .iter()
            .map(|(value, label)| ReasonOption {
                value,
                label,
                selected: *value == selected_reason,
            })
            .collect(),
        errors,
    }
    .render();
    render(html, status)
}

fn plausible(number: &str) -> Result<String, AppError> {
    if number::is_plausible(number) {
        Ok(number.to_owned())
    } else {
        Err(AppError::NotFound)
    }
}

pub async fn show(
    state: web::Data<AppState>,
    layout: Layout,
    Admin(admin): Admin,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let number = plausible(&path.into_inner())?;
    let now = state.clock.unix();
    let loaded = db::run(&state.pool, move |conn| {
        load(conn, &number, admin.id, None, now)
    })
    .await?;
    order_page(
        &state,
        layout,
        loaded,
        Typed::default(),
        FieldErrors::default(),
        StatusCode::OK,
    )
    .await
}

// ---- refunding --------------------------------------------------------------------------------

fn amount_message(e: &MoneyParseError) -> String {
    match e {
        MoneyParseError::Empty => "Enter the amount to refund, like 12.50.".into(),
        MoneyParseError::Negative => "The amount cannot be negative.".into(),
        MoneyParseError::NotANumber => "Enter a number, like 12.50.".into(),
        MoneyParseError::TooPrecise { decimals: 0 } => {
            "This currency has no decimals; enter a whole number.".into()
        }
        MoneyParseError::TooPrecise { decimals } => {
            format!("Use at most {decimals} decimal places.")
        }
        MoneyParseError::TooLarge => "That amount is too large.".into(),
    }
}

pub async fn refund(
    state: web::Data<AppState>,
    layout: Layout,
    session: TypedSession,
    Admin(admin): Admin,
    path: web::Path<String>,
    form: CsrfForm<HashMap<String, String>>,
) -> Result<HttpResponse, AppError> {
    let number = plausible(&path.into_inner())?;
    let fields = form.0;
    let token = fields
        .get("token")
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty() && t.len() <= 100)
        .ok_or_else(|| AppError::BadRequest("The refund form was incomplete.".into()))?;
    let n = number.clone();
    let (order, items) = db::run(&state.pool, move |conn| {
        let order = queries::by_number(conn, &n)?.ok_or(AppError::NotFound)?;
        let items = queries::items(conn, &order)?;
        Ok::<_, AppError>((order, items))
    })
    .await?;
    let currency = order.currency();

    // Parse every field into domain values; collect messages for the ones that fail.
    let mut errors = FieldErrors::default();
    let typed = Typed {
        amount: fields.get("amount").cloned(),
        reason: fields.get("reason").cloned(),
        note: fields.get("note").cloned().unwrap_or_default(),
        restock: items
            .iter()
            .filter_map(|i| {
                fields
                    .get(&format!("restock_{}", i.id))
                    .map(|v| (i.id, v.clone()))
            })
            .collect(),
    };
    let amount = match Money::parse_major(typed.amount.as_deref().unwrap_or(""), currency) {
        Ok(m) if m.amount == 0 => {
            errors.add("amount", "Enter an amount greater than zero.");
            None
        }
        Ok(m) => Some(m.amount),
        Err(e) => {
            errors.add("amount", amount_message(&e));
            None
        }
    };
    let reason = typed
        .reason
        .as_deref()
        .filter(|r| refunds::REASONS.iter().any(|(v, _)| v == r))
        .map(str::to_owned);
    if reason.is_none() {
        errors.add("reason", "Choose one of the reasons.");
    }
    let note = typed.note.trim().to_owned();
    if note.chars().count() > NOTE_MAX_CHARS {
        errors.add(
            "note",
            format!("Keep the note under {NOTE_MAX_CHARS} characters."),
        );
    }
    let mut restock = Vec::new();
    for item in &items {
        let raw = typed
            .restock
            .get(&item.id)
            .map(String::as_str)
            .unwrap_or("0");
        match parse_int_in(raw, 0, item.quantity) {
            Some(0) => {}
            Some(q) => restock.push((item.id, q)),
            None => errors.add(
                &format!("restock_{}", item.id),
                format!("Enter a whole number from 0 to {}.", item.quantity),
            ),
        }
    }

    let now = state.clock.unix();
    let rerender = |errors: FieldErrors, typed: Typed, token: String| {
        let (state, layout, number) = (state.clone(), layout.clone(), number.clone());
        let admin_id = admin.id;
        async move {
            let loaded = db::run(&state.pool, move |conn| {
                load(conn, &number, admin_id, Some(token), now)
            })
            .await?;
            order_page(
                &state,
                layout,
                loaded,
                typed,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    };
    let (Some(amount), Some(reason), true) = (amount, reason, errors.is_empty()) else {
        return rerender(errors, typed, token).await;
    };

    let request = refunds::Request {
        token: token.clone(),
        admin_id: admin.id,
        amount,
        reason,
        note: (!note.is_empty()).then_some(note),
        restock,
    };
    let order_id = order.id;
    let reserved = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| refunds::reserve(conn, order_id, &request, now))
            .map_err(DbError::from)
    })
    .await?;
    let target = format!("/admin/orders/{number}");
    let (refund, replay) = match reserved {
        Reserved::New(r) => (r, false),
        Reserved::AlreadySubmitted(r) if r.awaiting_stripe() => (r, true),
        Reserved::AlreadySubmitted(r) => {
            session.flash(format!(
                "This refund was already submitted: {} of {} is {}.",
                r.stripe_refund_id.as_deref().unwrap_or("the refund"),
                Money::new(r.amount, currency),
                r.label().to_lowercase()
            ))?;
            return Ok(see_other(&target));
        }
        Reserved::Refused(Refusal::BadToken) => {
            session.flash("This refund form has expired. Check the refunds below, then try again with the new form.")?;
            return Ok(see_other(&target));
        }
        Reserved::Refused(Refusal::TooMuch { refundable }) => {
            let mut errors = FieldErrors::default();
            errors.add(
                "amount",
                if refundable > 0 {
                    format!(
                        "At most {} can still be refunded (refunds already made or pending count against the total).",
                        Money::new(refundable, currency)
                    )
                } else {
                    "Nothing is left to refund on this order.".to_owned()
                },
            );
            return rerender(errors, typed, token).await;
        }
        Reserved::Refused(Refusal::TooManyUnits { item_id, max }) => {
            let mut errors = FieldErrors::default();
            errors.add(
                &format!("restock_{item_id}"),
                format!("At most {max} unit(s) of this line can still go back to stock."),
            );
            return rerender(errors, typed, token).await;
        }
    };

    let money = Money::new(refund.amount, currency);
    let message = match sync::submit(&state, &order, &refund, Some(admin.id), replay)
        .await
        .map_err(|e| AppError::Internal(e.into()))?
    {
        Submitted::Created(r) if r.status == refunds::SUCCEEDED => {
            format!("Refund of {money} issued.")
        }
        Submitted::Created(r) if r.status == refunds::PENDING => {
            format!("Refund of {money} requested; Stripe reports it pending.")
        }
        Submitted::Created(r) => format!(
            "Refund of {money} {}: {}",
            r.status,
            r.failure_message.as_deref().unwrap_or("no reason given")
        ),
        Submitted::Refused(m) => {
            format!("Stripe refused the refund of {money}; nothing was refunded. Stripe said: {m}")
        }
        Submitted::Unknown => format!(
            "We could not confirm the refund of {money} with Stripe. It stays pending; submitting the same form again retries it safely."
        ),
    };
    session.flash(message)?;
    Ok(see_other(&target))
}
