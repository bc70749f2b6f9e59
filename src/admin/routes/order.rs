//! `GET /admin/orders/{number}`: the order, its payment, refunds, events and audit trail, and
//! the refund form with a fresh one-time token.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use diesel::prelude::*;

use super::{admin_label, plausible, render, when};
use crate::accounts::auth::Admin;
use crate::admin::refunds::per_line;
use crate::admin::{audit, refunds};
use crate::db::{self, AnyConnection};
use crate::error::AppError;
use crate::money::Money;
use crate::orders::model::{Order, OrderItem};
use crate::orders::queries;
use crate::orders::view::ItemTable;
use crate::schema::{stripe_events, users};
use crate::shipping::{
    self, address::OrderShipping, carriers, shipments, shipments::Parcel, status::Fulfilment,
    status::Line,
};
use crate::state::AppState;
use crate::web::field_errors::FieldErrors;
use crate::web::layout::Layout;

/// A line of the refund form: how many units of an item to put back in stock.
pub struct RestockRow {
    pub id: i64,
    pub name: String,
    /// Units that may still go back on the shelf.
    pub max: i64,
    pub value: String,
    /// What is left to refund of the line (see `refunds::line_remaining`), capped by what the
    /// order still has; `None` when nothing of it is left.
    pub proposal: Option<String>,
    /// Some of its units shipped: the form asks whether the units put back came back from the
    /// customer (else they cancel unshipped ones).
    pub shipped: bool,
    pub returned: bool,
}

/// `GET /admin/orders/{number}?line={item id}`: the refund form filled in for that line.
#[derive(Debug, Default, serde::Deserialize)]
pub struct ProposeQuery {
    pub line: Option<i64>,
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

/// One parcel on the order page.
pub struct ParcelRow {
    pub id: i64,
    pub date: String,
    pub carrier: String,
    pub tracking: String,
    pub tracking_url: Option<String>,
    pub contents: String,
    pub delivered: Option<String>,
}

/// A line of the ship form: how many units go in the parcel.
pub struct ShipRow {
    pub id: i64,
    pub name: String,
    pub max: i64,
    pub value: String,
}

pub struct CarrierOption {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

pub struct ShipFormView {
    pub form_key: String,
    pub tracking_number: String,
    pub carriers: Vec<CarrierOption>,
    pub lines: Vec<ShipRow>,
}

/// The fulfilment section of the order page.
pub struct FulfilmentView {
    pub status: &'static str,
    pub status_class: &'static str,
    /// The ship-to label, one entry per line.
    pub address: Vec<String>,
    pub phone: Option<String>,
    pub rate: Option<String>,
    pub parcels: Vec<ParcelRow>,
    pub form: Option<ShipFormView>,
    /// Why the order cannot ship now (only for orders a customer paid for).
    pub blocked: Option<&'static str>,
    pub ships: bool,
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
    /// Filled in for one line: (item id, its name).
    pub line: Option<(i64, String)>,
}

/// A dispute on the order page.
pub struct DisputeView {
    pub id: String,
    pub status: &'static str,
    pub status_class: String,
    pub amount: String,
    pub reason: String,
    /// When evidence is due, while it still can be sent.
    pub due: Option<String>,
    pub withdrawn: String,
    pub reinstated: String,
    pub fees: String,
    /// The dispute in the Stripe Dashboard, where evidence is submitted.
    pub dashboard: String,
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
    /// The "Re-send receipt" form's key (a paid order with someone to send it to).
    resend_key: Option<String>,
    disputed: bool,
    disputes: Vec<DisputeView>,
    flagged: Option<String>,
    items: ItemTable,
    restock: Vec<RestockRow>,
    refunds: Vec<RefundRow>,
    events: Vec<EventRow>,
    audit: Vec<AuditRow>,
    form: Option<RefundFormView>,
    reasons: Vec<ReasonOption>,
    fulfilment: FulfilmentView,
    digital: Vec<crate::digital::access::DigitalLine>,
    errors: FieldErrors,
}

/// What the order page shows, read in one go.
pub(super) struct Loaded {
    order: Order,
    items: Vec<OrderItem>,
    refunds: Vec<refunds::Refund>,
    events: Vec<(String, String, i64, String)>,
    audit: Vec<audit::Entry>,
    emails: HashMap<i64, String>,
    refundable: i64,
    restocked: Vec<(i64, i64)>,
    refunded_lines: Vec<(i64, i64)>,
    token: Option<String>,
    retry_tokens: HashMap<i64, String>,
    fulfilment: Fulfilment,
    lines: Vec<Line>,
    parcels: Vec<Parcel>,
    address: Option<OrderShipping>,
    digital: Vec<crate::digital::access::DigitalLine>,
    disputes: Vec<crate::admin::disputes::Dispute>,
}

pub(super) fn load(
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
    let refunded_lines = refunds::refunded_per_line(conn, order.id)?;
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
    let fulfilment = Fulfilment::parse(&order.fulfilment_status).unwrap_or(Fulfilment::Unfulfilled);
    let lines = shipping::status::lines(conn, order.id)?;
    let parcels = shipments::for_order(conn, order.id)?;
    let address = shipping::address::for_order(conn, order.id)?;
    let digital = crate::digital::access::describe(conn, &order, &items)?;
    let disputes = crate::admin::disputes::for_order(conn, order.id)?;
    Ok(Loaded {
        order,
        items,
        refunds: refund_rows,
        events,
        audit: trail,
        emails,
        refundable,
        restocked,
        refunded_lines,
        token,
        retry_tokens,
        fulfilment,
        lines,
        parcels,
        address,
        digital,
        disputes,
    })
}

/// What the admin typed, to show again after a refusal.
#[derive(Default)]
pub(super) struct Typed {
    pub(super) amount: Option<String>,
    pub(super) reason: Option<String>,
    pub(super) note: String,
    pub(super) restock: HashMap<i64, String>,
    /// The line the form was filled in for, sent back so the refund is attributed to it.
    pub(super) line: Option<i64>,
    /// The ship form as it was submitted.
    pub(super) ship: Option<ShipTyped>,
    /// Lines ticked "came back from the customer".
    pub(super) returned: Vec<i64>,
}

/// What the admin typed in the ship form, to show again after a refusal.
#[derive(Default)]
pub(super) struct ShipTyped {
    pub(super) form_key: String,
    pub(super) carrier: String,
    pub(super) tracking_number: String,
    pub(super) lines: HashMap<i64, String>,
}

pub(super) async fn order_page(
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
        refunded_lines,
        token,
        retry_tokens,
        fulfilment,
        lines,
        parcels,
        address,
        digital,
        disputes,
    } = loaded;
    let currency = order.currency();
    // The charge id lives at Stripe; the page still works when Stripe does not answer.
    // It gets a few seconds, so a slow Stripe cannot hold up the page.
    let charge = match &order.payment_intent_id {
        Some(pi) => tokio::time::timeout(
            std::time::Duration::from_secs(3),
            crate::payments::refunds::payment_intent(&state.stripe, pi),
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
    let restock = items
        .iter()
        .map(|i| {
            let back = per_line(&restocked, i.id);
            let proposal =
                refunds::line_remaining(i, per_line(&refunded_lines, i.id)).min(refundable);
            RestockRow {
                id: i.id,
                name: i.name.clone(),
                max: (i.quantity - back).max(0),
                proposal: (proposal > 0).then(|| Money::new(proposal, currency).to_string()),
                shipped: i.physical && lines.iter().any(|l| l.item_id == i.id && l.shipped > 0),
                returned: typed.returned.contains(&i.id),
                value: typed
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
            line: typed.line.and_then(|id| {
                items
                    .iter()
                    .find(|i| i.id == id)
                    .map(|i| (id, i.name.clone()))
            }),
        });
    let fulfilment = fulfilment_view(
        &order, &items, fulfilment, &lines, &parcels, address, typed.ship,
    );
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
        resend_key: (order.status().is_paid()
            && (order.email.is_some() || order.user_id.is_some()))
        .then(shipments::new_form_key),
        disputed: order.disputed,
        disputes: disputes
            .iter()
            .map(|d| {
                let money = |m: i64| {
                    crate::money::Currency::parse(&d.currency)
                        .map(|c| Money::new(m, c).to_string())
                        .unwrap_or_else(|_| format!("{m} {}", d.currency))
                };
                DisputeView {
                    id: d.id.clone(),
                    status: d.status_label(),
                    status_class: d.status.clone(),
                    amount: money(d.amount),
                    reason: d.reason.replace('_', " "),
                    due: d.evidence_due_by.filter(|_| d.needs_response()).map(when),
                    withdrawn: money(d.withdrawn),
                    reinstated: money(d.reinstated),
                    fees: money(d.fees),
                    dashboard: d.dashboard_url(state.stripe.livemode),
                }
            })
            .collect(),
        flagged: order.flagged.clone(),
        // The summary above the table shows the total, next to the amount refunded.
        items: ItemTable {
            total: None,
            ..ItemTable::new(&order, &items)
        },
        restock,
        refunds: refund_rows
            .iter()
            .map(|r| RefundRow {
                date: when(r.created_at),
                amount: Money::new(r.amount, currency).to_string(),
                status: r.label(),
                status_class: r.status.clone(),
                stripe_id: r.stripe_refund_id.clone().unwrap_or_default(),
                reason: reason_label(r.reason.as_deref()),
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
        fulfilment,
        digital,
        errors,
    }
    .render();
    render(html, status)
}

pub async fn show(
    state: web::Data<AppState>,
    layout: Layout,
    Admin(admin): Admin,
    path: web::Path<String>,
    query: web::Query<ProposeQuery>,
) -> Result<HttpResponse, AppError> {
    let number = plausible(&path.into_inner())?;
    let now = state.clock.unix();
    let loaded = db::run(&state.pool, move |conn| {
        load(conn, &number, admin.id, None, now)
    })
    .await?;
    let typed = match query.line {
        Some(line) => proposed(&loaded, line).ok_or(AppError::NotFound)?,
        None => Typed::default(),
    };
    order_page(
        &state,
        layout,
        loaded,
        typed,
        FieldErrors::default(),
        StatusCode::OK,
    )
    .await
}

/// The refund form filled in for one line: what is left of it to refund (capped by what the
/// order still has) and its remaining units back to stock. `None`: no such line on this order.
fn proposed(loaded: &Loaded, line: i64) -> Option<Typed> {
    let item = loaded.items.iter().find(|i| i.id == line)?;
    let amount = refunds::line_remaining(item, per_line(&loaded.refunded_lines, line))
        .min(loaded.refundable);
    // A physical line's units that never left go back on the shelf; shipped ones are with the
    // customer (the admin can still return them to stock when they come back).
    let back = match loaded.lines.iter().find(|l| l.item_id == line) {
        Some(l) if l.physical => l.to_ship(),
        // Nothing of a digital line goes back on a shelf.
        _ => 0,
    };
    Some(Typed {
        amount: Some(Money::new(amount, loaded.order.currency()).to_major_string()),
        restock: HashMap::from([(line, back.to_string())]),
        line: Some(line),
        ..Typed::default()
    })
}

/// The fulfilment section: status, address, parcels and, when the order can ship, the form.
fn fulfilment_view(
    order: &Order,
    items: &[OrderItem],
    fulfilment: Fulfilment,
    lines: &[Line],
    parcels: &[Parcel],
    address: Option<OrderShipping>,
    typed: Option<ShipTyped>,
) -> FulfilmentView {
    let name_of = |id: i64| {
        items
            .iter()
            .find(|i| i.id == id)
            .map_or_else(String::new, |i| i.name.clone())
    };
    let blocked = shipments::why_not(order, fulfilment);
    let typed = typed.unwrap_or_default();
    let form = blocked.is_none().then(|| ShipFormView {
        form_key: if typed.form_key.is_empty() {
            shipments::new_form_key()
        } else {
            typed.form_key.clone()
        },
        tracking_number: typed.tracking_number.clone(),
        carriers: carriers::CARRIERS
            .iter()
            .map(|(value, label, _)| CarrierOption {
                value,
                label,
                selected: *value == typed.carrier,
            })
            .collect(),
        lines: lines
            .iter()
            .filter(|l| l.to_ship() > 0)
            .map(|l| ShipRow {
                id: l.item_id,
                name: name_of(l.item_id),
                max: l.to_ship(),
                value: typed
                    .lines
                    .get(&l.item_id)
                    .cloned()
                    .unwrap_or_else(|| l.to_ship().to_string()),
            })
            .collect(),
    });
    FulfilmentView {
        status: fulfilment.label(),
        status_class: fulfilment.as_str(),
        address: address
            .as_ref()
            .map(OrderShipping::lines)
            .unwrap_or_default(),
        phone: address.as_ref().and_then(|a| a.phone.clone()),
        rate: address.as_ref().and_then(|a| {
            a.rate_name
                .as_ref()
                .map(|n| format!("{n} ({})", order.money(a.amount)))
        }),
        parcels: parcels
            .iter()
            .map(|(s, contents)| ParcelRow {
                id: s.id,
                date: when(s.shipped_at),
                carrier: s.carrier_name(),
                tracking: s.tracking_number.clone(),
                tracking_url: s.tracking_url(),
                contents: contents
                    .iter()
                    .map(|(id, q)| format!("{q} × {}", name_of(*id)))
                    .collect::<Vec<_>>()
                    .join(", "),
                delivered: s.delivered_at.map(when),
            })
            .collect(),
        form,
        // Orders nobody paid for have nothing to say about shipping.
        blocked: blocked.filter(|_| order.paid_at.is_some()),
        ships: fulfilment != Fulfilment::NotRequired,
    }
}

/// "Requested by customer" for `requested_by_customer`; unknown codes (from the Dashboard) as they are.
fn reason_label(code: Option<&str>) -> String {
    let code = code.unwrap_or_default();
    crate::admin::refunds::REASONS
        .iter()
        .find(|(c, _)| *c == code)
        .map_or_else(|| code.to_owned(), |(_, label)| (*label).to_owned())
}
