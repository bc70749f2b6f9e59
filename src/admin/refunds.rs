//! Refund rows, the refundable amount, and the order's derived refund status.
//!
//! Every function here runs inside the caller's write transaction. The order row is locked
//! first ([`lock_order`]) so that two admins (or an admin and a webhook) cannot both pass the
//! "amount ≤ refundable" check or both insert a row for the same Stripe refund.

use diesel::prelude::*;
use diesel::result::Error as DieselError;

use super::audit;
use crate::db::AnyConnection;
use crate::orders::model::{Order, OrderItem};
use crate::orders::transition;
use crate::schema::{
    order_items, orders, product_variants, products, refund_lines, refund_restocks, refund_tokens,
    refunds,
};

pub const PENDING: &str = "pending";
pub const SUCCEEDED: &str = "succeeded";
pub const FAILED: &str = "failed";
/// Stripe refused to create it: nothing was refunded.
pub const CANCELED: &str = "canceled";

/// A one-time token is good for this long after the form was shown.
pub const TOKEN_TTL_SECS: i64 = 24 * 3600;

pub const REASONS: [(&str, &str); 3] = [
    ("requested_by_customer", "Requested by customer"),
    ("duplicate", "Duplicate"),
    ("fraudulent", "Fraudulent"),
];

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = refunds)]
pub struct Refund {
    pub id: i64,
    pub order_id: i64,
    pub stripe_refund_id: Option<String>,
    pub amount: i64,
    pub currency: String,
    pub reason: Option<String>,
    pub note: Option<String>,
    pub status: String,
    pub failure_message: Option<String>,
    pub admin_id: Option<i64>,
    pub idempotency_key: Option<String>,
    pub restocked: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Refund {
    pub fn label(&self) -> &'static str {
        match self.status.as_str() {
            SUCCEEDED => "Succeeded",
            FAILED => "Failed",
            CANCELED => "Not created",
            _ => "Pending",
        }
    }

    /// Sent to Stripe, but we have not heard back (a timeout): a retry replays the same call.
    pub fn awaiting_stripe(&self) -> bool {
        self.status == PENDING && self.stripe_refund_id.is_none() && self.idempotency_key.is_some()
    }
}

/// Statuses only move forward: pending → succeeded → failed; failed and canceled are final.
/// Stripe's answers can arrive out of order, and an older view must not undo a newer one.
fn rank(status: &str) -> u8 {
    match status {
        PENDING => 0,
        SUCCEEDED => 1,
        _ => 2,
    }
}

/// Our status for a Stripe refund status.
pub fn from_stripe_status(status: Option<&str>) -> &'static str {
    match status {
        Some("succeeded") => SUCCEEDED,
        Some("failed") => FAILED,
        Some("canceled") => CANCELED,
        _ => PENDING,
    }
}

/// Locks the order's row until the transaction ends (PostgreSQL; SQLite's IMMEDIATE write
/// transactions already run one at a time).
pub fn lock_order(conn: &mut AnyConnection, order_id: i64) -> QueryResult<()> {
    if let AnyConnection::Postgresql(pg) = conn {
        orders::table
            .filter(orders::id.eq(order_id))
            .select(orders::id)
            .for_update()
            .load::<i64>(pg)?;
    }
    Ok(())
}

pub fn for_order(conn: &mut AnyConnection, order_id: i64) -> QueryResult<Vec<Refund>> {
    refunds::table
        .filter(refunds::order_id.eq(order_id))
        .order((refunds::created_at.asc(), refunds::id.asc()))
        .select(Refund::as_select())
        .load(conn)
}

pub fn by_id(conn: &mut AnyConnection, id: i64) -> QueryResult<Refund> {
    refunds::table
        .find(id)
        .select(Refund::as_select())
        .first(conn)
}

/// What may still be refunded: paid − (succeeded + pending refunds). Zero unless payment was taken.
pub fn refundable(conn: &mut AnyConnection, order: &Order) -> QueryResult<i64> {
    if !order.status().is_paid() || order.payment_intent_id.is_none() {
        return Ok(0);
    }
    let committed: i64 = refunds::table
        .filter(refunds::order_id.eq(order.id))
        .filter(refunds::status.eq_any([PENDING, SUCCEEDED]))
        .select(refunds::amount)
        .load::<i64>(conn)?
        .iter()
        .sum();
    Ok((order.amount_total - committed).max(0))
}

/// What is left to refund of a line: what the customer paid for it (its amount net of its
/// discount, with its exclusive tax) less the refunds attributed to it.
pub fn line_remaining(item: &OrderItem, refunded: i64) -> i64 {
    (item.amount_paid - refunded.max(0)).max(0)
}

/// The share of a line's `remaining` money that belongs to `units` of its `units_left`
/// not-yet-returned units. Returning the last units takes what is left, so the shares of
/// successive returns add up exactly to what was paid for the line, however they are split.
pub fn units_share(remaining: i64, units_left: i64, units: i64) -> i64 {
    if units_left <= 0 || units <= 0 {
        return 0;
    }
    if units >= units_left {
        return remaining.max(0);
    }
    (i128::from(remaining.max(0)) * i128::from(units) / i128::from(units_left)) as i64
}

/// The sum over one order line of (order item id, value) rows: units restocked, money refunded,
/// units shipped.
pub fn per_line(rows: &[(i64, i64)], item_id: i64) -> i64 {
    rows.iter()
        .filter(|(id, _)| *id == item_id)
        .map(|(_, v)| v)
        .sum()
}

/// Which lines a refund of `amount` pays back, and how much of each (only lines it touches).
/// Filled in for one line ("refund this line"), the money goes to that line, up to what is
/// left of it; otherwise each line with units going back to stock gets those units' share.
/// What is not attributed (a goodwill amount) belongs to no line. `refunded` and `returned`
/// are per line (item id, amount or units) from earlier pending and succeeded refunds.
pub fn allocate(
    items: &[OrderItem],
    refunded: &[(i64, i64)],
    returned: &[(i64, i64)],
    amount: i64,
    line: Option<i64>,
    restock: &[(i64, i64)],
) -> Vec<(i64, i64)> {
    let sum = per_line;
    let mut left = amount.max(0);
    let mut out = Vec::new();
    let mut give = |id: i64, share: i64, left: &mut i64| {
        let share = share.min(*left);
        if share > 0 {
            *left -= share;
            out.push((id, share));
        }
    };
    match line.and_then(|id| items.iter().find(|i| i.id == id)) {
        Some(item) => {
            let remaining = line_remaining(item, sum(refunded, item.id));
            give(item.id, remaining, &mut left);
        }
        None => {
            for &(id, units) in restock {
                let Some(item) = items.iter().find(|i| i.id == id) else {
                    continue;
                };
                let remaining = line_remaining(item, sum(refunded, id));
                let units_left = item.quantity - sum(returned, id);
                give(id, units_share(remaining, units_left, units), &mut left);
            }
        }
    }
    out
}

/// Recomputes the order's `amount_refunded` and refund status from its succeeded refunds
/// (the refund status is derived, never stepped: a refund that fails later makes its amount
/// refundable again). Orders whose payment was never taken keep their status.
pub fn recompute(conn: &mut AnyConnection, order_id: i64, now: i64) -> QueryResult<()> {
    let succeeded: i64 = refunds::table
        .filter(refunds::order_id.eq(order_id))
        .filter(refunds::status.eq(SUCCEEDED))
        .select(refunds::amount)
        .load::<i64>(conn)?
        .iter()
        .sum();
    let before: i64 = orders::table
        .find(order_id)
        .select(orders::amount_refunded)
        .first(conn)?;
    transition::by_refunds(conn, order_id, succeeded, now)?;
    // Units refunded back to stock, or a full refund, leave less (or nothing) to ship.
    crate::shipping::status::recompute(conn, order_id)?;
    if succeeded > before {
        // Once per refunded total (the outbox's key names it), whoever reports it first.
        crate::checkout::fulfil::queue_receipt(
            conn,
            order_id,
            crate::mail::messages::OrderEvent::Refunded(succeeded),
            now,
        )?;
    }
    Ok(())
}

/// What an admin asked for, already parsed.
#[derive(Debug, Clone)]
pub struct Request {
    pub token: String,
    /// The whole Stripe idempotency key for this token (`Stripe::key("refund-{token}")`),
    /// stored on the row so "Ask Stripe again" sends the same one.
    pub idempotency_key: String,
    pub admin_id: i64,
    pub amount: i64,
    pub reason: String,
    pub note: Option<String>,
    /// (order item id, units to put back on the shelf), only lines with units.
    pub restock: Vec<(i64, i64)>,
    /// The line the form was filled in for ("refund this line"), if any.
    pub line: Option<i64>,
    /// Lines whose restocked units came back from the customer after shipping (otherwise they
    /// are taken as the line's unshipped units, cancelled).
    pub returned: Vec<i64>,
}

#[derive(Debug)]
pub enum Reserved {
    /// A new pending refund: now ask Stripe.
    New(Refund),
    /// This token was used before: its refund, not a new one.
    AlreadySubmitted(Refund),
    /// Not allowed; nothing was written.
    Refused(Refusal),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The token is unknown, expired, or belongs to another order or admin.
    BadToken,
    /// More than is still refundable.
    TooMuch { refundable: i64 },
    /// More units back on the shelf than were sold (counting earlier refunds).
    TooManyUnits { item_id: i64, max: i64 },
}

/// Checks and records a refund request: one transaction for the token, the refundable check,
/// the pending row and the audit entry. The caller runs it inside `write_tx`.
pub fn reserve(
    conn: &mut AnyConnection,
    order_id: i64,
    req: &Request,
    now: i64,
) -> Result<Reserved, DieselError> {
    lock_order(conn, order_id)?;
    let token: Option<(i64, i64, i64, Option<i64>)> = refund_tokens::table
        .find(&req.token)
        .select((
            refund_tokens::order_id,
            refund_tokens::admin_id,
            refund_tokens::created_at,
            refund_tokens::refund_id,
        ))
        .first(conn)
        .optional()?;
    let Some((t_order, t_admin, t_created, t_refund)) = token else {
        return Ok(Reserved::Refused(Refusal::BadToken));
    };
    if t_order != order_id {
        return Ok(Reserved::Refused(Refusal::BadToken));
    }
    // A used token shows (or, when Stripe's answer is unknown, retries) its refund, whoever asks.
    if let Some(refund_id) = t_refund {
        return Ok(Reserved::AlreadySubmitted(by_id(conn, refund_id)?));
    }
    if t_admin != req.admin_id || now - t_created > TOKEN_TTL_SECS {
        return Ok(Reserved::Refused(Refusal::BadToken));
    }
    let order: Order = orders::table
        .find(order_id)
        .select(Order::as_select())
        .first(conn)?;
    let refundable = refundable(conn, &order)?;
    if req.amount <= 0 || req.amount > refundable {
        return Ok(Reserved::Refused(Refusal::TooMuch { refundable }));
    }
    for &(item_id, qty) in &req.restock {
        let sold: i64 = order_items::table
            .filter(order_items::id.eq(item_id))
            .filter(order_items::order_id.eq(order_id))
            .select(order_items::quantity)
            .first(conn)?;
        let returned: i64 = refund_restocks::table
            .inner_join(refunds::table)
            .filter(refund_restocks::order_item_id.eq(item_id))
            .filter(refunds::status.eq_any([PENDING, SUCCEEDED]))
            .select(refund_restocks::quantity)
            .load::<i64>(conn)?
            .iter()
            .sum();
        if qty > sold - returned {
            return Ok(Reserved::Refused(Refusal::TooManyUnits {
                item_id,
                max: (sold - returned).max(0),
            }));
        }
    }
    let items: Vec<OrderItem> = order_items::table
        .filter(order_items::order_id.eq(order_id))
        .select(OrderItem::as_select())
        .load(conn)?;
    let lines = allocate(
        &items,
        &refunded_per_line(conn, order_id)?,
        &restocked_units(conn, order_id)?,
        req.amount,
        req.line,
        &req.restock,
    );
    let key = &req.idempotency_key;
    diesel::insert_into(refunds::table)
        .values((
            refunds::order_id.eq(order_id),
            refunds::amount.eq(req.amount),
            refunds::currency.eq(&order.currency),
            refunds::reason.eq(&req.reason),
            refunds::note.eq(&req.note),
            refunds::status.eq(PENDING),
            refunds::admin_id.eq(req.admin_id),
            refunds::idempotency_key.eq(key),
            refunds::created_at.eq(now),
            refunds::updated_at.eq(now),
        ))
        .execute(conn)?;
    let refund: Refund = refunds::table
        .filter(refunds::idempotency_key.eq(key))
        .select(Refund::as_select())
        .first(conn)?;
    let to_ship = crate::shipping::status::lines(conn, order_id)?;
    for &(item_id, qty) in &req.restock {
        // Units put back that never left cancel that much of what is still to ship.
        let cancelled = if req.returned.contains(&item_id) {
            0
        } else {
            to_ship
                .iter()
                .find(|l| l.item_id == item_id)
                .map_or(0, |l| l.to_ship().min(qty))
        };
        diesel::insert_into(refund_restocks::table)
            .values((
                refund_restocks::refund_id.eq(refund.id),
                refund_restocks::order_item_id.eq(item_id),
                refund_restocks::quantity.eq(qty),
                refund_restocks::cancelled.eq(cancelled),
            ))
            .execute(conn)?;
    }
    for &(item_id, amount) in &lines {
        diesel::insert_into(refund_lines::table)
            .values((
                refund_lines::refund_id.eq(refund.id),
                refund_lines::order_item_id.eq(item_id),
                refund_lines::amount.eq(amount),
            ))
            .execute(conn)?;
    }
    diesel::update(refund_tokens::table.find(&req.token))
        .set((
            refund_tokens::used_at.eq(now),
            refund_tokens::refund_id.eq(refund.id),
        ))
        .execute(conn)?;
    let money = crate::money::Money::new(req.amount, order.currency());
    audit::record(
        conn,
        audit::Event::order(
            Some(req.admin_id),
            audit::REFUND_REQUESTED,
            order_id,
            format!(
                "{money} ({}){}{}",
                req.reason,
                req.note
                    .as_deref()
                    .map(|n| format!(", note: {n}"))
                    .unwrap_or_default(),
                if req.restock.is_empty() {
                    String::new()
                } else {
                    format!(
                        ", restock {} unit(s)",
                        req.restock.iter().map(|(_, q)| q).sum::<i64>()
                    )
                }
            ),
        ),
        now,
    )?;
    crate::shipping::status::recompute(conn, order_id)?;
    Ok(Reserved::New(refund))
}

/// A new one-time token for the refund form.
pub fn new_token(
    conn: &mut AnyConnection,
    order_id: i64,
    admin_id: i64,
    now: i64,
) -> QueryResult<String> {
    use base64::Engine as _;
    use rand::RngCore as _;
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    // Forms shown but never submitted expire; forget them rather than keep every page view.
    diesel::delete(
        refund_tokens::table
            .filter(refund_tokens::used_at.is_null())
            .filter(refund_tokens::created_at.lt(now - TOKEN_TTL_SECS)),
    )
    .execute(conn)?;
    diesel::insert_into(refund_tokens::table)
        .values((
            refund_tokens::token.eq(&token),
            refund_tokens::order_id.eq(order_id),
            refund_tokens::admin_id.eq(admin_id),
            refund_tokens::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(token)
}

/// The token a refund was created with (to retry a call whose outcome is unknown).
pub fn token_of(conn: &mut AnyConnection, refund_id: i64) -> QueryResult<Option<String>> {
    refund_tokens::table
        .filter(refund_tokens::refund_id.eq(refund_id))
        .select(refund_tokens::token)
        .first(conn)
        .optional()
}

/// Stripe's view of one refund.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    pub status: &'static str,
    pub reason: Option<String>,
    pub payment_intent: Option<String>,
    /// Our row id, from the metadata we sent (absent for Dashboard refunds).
    pub local_id: Option<i64>,
    pub failure_reason: Option<String>,
}

impl From<&stripe_shared::Refund> for Snapshot {
    fn from(r: &stripe_shared::Refund) -> Self {
        Self {
            id: r.id.as_str().to_owned(),
            amount: r.amount,
            currency: r.currency.to_string(),
            status: from_stripe_status(r.status.as_deref()),
            reason: r.reason.as_ref().map(|x| x.as_str().to_owned()),
            payment_intent: r
                .payment_intent
                .as_ref()
                .map(|p| p.id().as_str().to_owned()),
            local_id: r
                .metadata
                .as_ref()
                .and_then(|m| m.get(crate::payments::refunds::METADATA_KEY))
                .and_then(|v| v.rsplit_once('/'))
                .and_then(|(_, id)| id.parse().ok()),
            failure_reason: r.failure_reason.clone(),
        }
    }
}

/// Writes Stripe's view of a refund into its row (found by Stripe id, else by our metadata id,
/// else created: a refund made outside the shop). The order row must be locked. Returns the row.
pub fn apply_snapshot(
    conn: &mut AnyConnection,
    order: &Order,
    snap: &Snapshot,
    actor: Option<i64>,
    now: i64,
) -> QueryResult<Refund> {
    let existing: Option<Refund> = refunds::table
        .filter(refunds::stripe_refund_id.eq(&snap.id))
        .select(Refund::as_select())
        .first(conn)
        .optional()?;
    let existing = match existing {
        Some(r) => Some(r),
        None => match snap.local_id {
            Some(id) => refunds::table
                .filter(refunds::id.eq(id))
                .filter(refunds::order_id.eq(order.id))
                .filter(refunds::stripe_refund_id.is_null())
                .select(Refund::as_select())
                .first(conn)
                .optional()?,
            None => None,
        },
    };
    let row = match existing {
        Some(row) => row,
        None => {
            diesel::insert_into(refunds::table)
                .values((
                    refunds::order_id.eq(order.id),
                    refunds::stripe_refund_id.eq(&snap.id),
                    refunds::amount.eq(snap.amount),
                    refunds::currency.eq(&snap.currency),
                    refunds::reason.eq(&snap.reason),
                    refunds::status.eq(PENDING),
                    refunds::created_at.eq(now),
                    refunds::updated_at.eq(now),
                ))
                .execute(conn)?;
            let row: Refund = refunds::table
                .filter(refunds::stripe_refund_id.eq(&snap.id))
                .select(Refund::as_select())
                .first(conn)?;
            audit::record(
                conn,
                audit::Event::order(
                    None,
                    audit::REFUND_SYNCED,
                    order.id,
                    format!(
                        "refund {} of {} made outside the shop",
                        snap.id,
                        crate::money::Money::new(snap.amount, order.currency())
                    ),
                ),
                now,
            )?;
            row
        }
    };
    // A row Stripe has not confirmed yet holds only our guess: Stripe's view wins. Otherwise
    // statuses only move forward.
    let new_status = if row.stripe_refund_id.is_none() || rank(snap.status) >= rank(&row.status) {
        snap.status
    } else {
        status_str(&row.status)
    };
    let changed = new_status != row.status || row.stripe_refund_id.is_none();
    if changed {
        let failure = match new_status {
            FAILED => snap
                .failure_reason
                .clone()
                .or_else(|| Some("the refund failed".into())),
            _ => row.failure_message.clone(),
        };
        diesel::update(refunds::table.find(row.id))
            .set((
                refunds::stripe_refund_id.eq(&snap.id),
                refunds::status.eq(new_status),
                refunds::failure_message.eq(failure),
                refunds::updated_at.eq(now),
            ))
            .execute(conn)?;
        // An admin's own call is audited by the caller, with its result.
        if new_status != row.status && actor.is_none() {
            audit::record(
                conn,
                audit::Event::order(
                    None,
                    audit::REFUND_SYNCED,
                    order.id,
                    format!("Stripe reports refund {} {new_status}", snap.id),
                ),
                now,
            )?;
        }
    }
    // The money moved (or came back): Stripe's record of it is read later.
    if changed && new_status != row.status && matches!(new_status, SUCCEEDED | FAILED) {
        crate::balance::queue(conn, &snap.id, order.id, now)?;
    }
    if new_status == SUCCEEDED {
        restock_once(conn, row.id, now)?;
    } else if new_status == FAILED {
        // It succeeded (and put units back) before it failed: the units were never returned
        // for money after all.
        unrestock_once(conn, row.id, order.id, now)?;
    }
    recompute(conn, order.id, now)?;
    by_id(conn, row.id)
}

fn status_str(s: &str) -> &'static str {
    match s {
        SUCCEEDED => SUCCEEDED,
        FAILED => FAILED,
        CANCELED => CANCELED,
        _ => PENDING,
    }
}

/// Stripe refused to create the refund: nothing was refunded, and the amount is refundable again.
pub fn mark_refused(
    conn: &mut AnyConnection,
    refund: &Refund,
    message: &str,
    actor: Option<i64>,
    now: i64,
) -> QueryResult<()> {
    let n = diesel::update(
        refunds::table
            .filter(refunds::id.eq(refund.id))
            .filter(refunds::stripe_refund_id.is_null())
            .filter(refunds::status.eq(PENDING)),
    )
    .set((
        refunds::status.eq(CANCELED),
        refunds::failure_message.eq(message),
        refunds::updated_at.eq(now),
    ))
    .execute(conn)?;
    if n > 0 {
        audit::record(
            conn,
            audit::Event::order(
                actor,
                audit::REFUND_RESULT,
                refund.order_id,
                format!("Stripe refused the refund: {message}"),
            ),
            now,
        )?;
    }
    recompute(conn, refund.order_id, now)
}

/// (variant, the product's delivery, units) of a refund line that moved stock.
type StockLine = (Option<i64>, Option<String>, i64);

/// A refund's lines that moved stock, their variants locked: (variant, delivery, units) — all
/// the units it put back, or (`cancelled_only`) those it cancelled before they shipped.
fn stock_lines(
    conn: &mut AnyConnection,
    refund_id: i64,
    cancelled_only: bool,
) -> QueryResult<Vec<StockLine>> {
    let rows: Vec<(Option<i64>, Option<String>, i64, i64)> = refund_restocks::table
        .inner_join(order_items::table.on(order_items::id.eq(refund_restocks::order_item_id)))
        .inner_join(products::table.on(products::id.eq(order_items::product_id)))
        .filter(refund_restocks::refund_id.eq(refund_id))
        .select((
            order_items::variant_id,
            products::delivery,
            refund_restocks::quantity,
            refund_restocks::cancelled,
        ))
        .load(conn)?;
    let lines: Vec<_> = rows
        .into_iter()
        .map(|(v, d, qty, cancelled)| (v, d, if cancelled_only { cancelled } else { qty }))
        .filter(|(_, _, units)| *units > 0)
        .collect();
    let ids: Vec<i64> = lines.iter().filter_map(|(v, _, _)| *v).collect();
    crate::inventory::lock_variants(conn, &ids)?;
    Ok(lines)
}

/// Puts the refund's units back on the shelf, once (a conditional update guards it).
fn restock_once(conn: &mut AnyConnection, refund_id: i64, now: i64) -> QueryResult<()> {
    let first = diesel::update(
        refunds::table
            .filter(refunds::id.eq(refund_id))
            .filter(refunds::restocked.eq(false)),
    )
    .set(refunds::restocked.eq(true))
    .execute(conn)?;
    if first == 0 {
        return Ok(());
    }
    let lines = stock_lines(conn, refund_id, false)?;
    for (variant_id, delivery, qty) in lines {
        // A licence key's stock is its unsold keys: a key once given cannot be sold again, so
        // its units never go back. A line without a variant (an invoice's) holds no stock.
        let (Some(variant_id), false) = (variant_id, delivery.as_deref() == Some("keys")) else {
            continue;
        };
        // Unlimited stock (NULL) stays unlimited.
        diesel::update(
            product_variants::table
                .filter(product_variants::id.eq(variant_id))
                .filter(product_variants::stock.is_not_null()),
        )
        .set((
            product_variants::stock.eq(product_variants::stock + qty),
            product_variants::updated_at.eq(now),
        ))
        .execute(conn)?;
    }
    Ok(())
}

/// Takes back the units a refund cancelled before they shipped (and put on the shelf), once,
/// when it fails after succeeding: the customer paid for them after all, so they go back to
/// "to ship". Units the customer sent back stay on the shelf (they are here). Units sold or held
/// by checkouts meanwhile cannot be taken back: what is missing is written in the audit trail.
fn unrestock_once(
    conn: &mut AnyConnection,
    refund_id: i64,
    order_id: i64,
    now: i64,
) -> QueryResult<()> {
    let first = diesel::update(
        refunds::table
            .filter(refunds::id.eq(refund_id))
            .filter(refunds::restocked.eq(true)),
    )
    .set(refunds::restocked.eq(false))
    .execute(conn)?;
    if first == 0 {
        return Ok(());
    }
    let lines = stock_lines(conn, refund_id, true)?;
    let mut taken = 0;
    let mut short = 0;
    for (variant_id, delivery, qty) in lines {
        let (Some(variant_id), false) = (variant_id, delivery.as_deref() == Some("keys")) else {
            continue;
        };
        let stock: Option<i64> = product_variants::table
            .find(variant_id)
            .select(product_variants::stock)
            .first(conn)?;
        let Some(stock) = stock else { continue };
        let held: i64 = crate::schema::stock_reservations::table
            .filter(crate::schema::stock_reservations::variant_id.eq(variant_id))
            .filter(crate::schema::stock_reservations::status.eq(crate::inventory::HELD))
            .select(crate::schema::stock_reservations::quantity)
            .load::<i64>(conn)?
            .iter()
            .sum();
        let back = qty.min((stock - held).max(0));
        short += qty - back;
        diesel::update(product_variants::table.find(variant_id))
            .set((
                product_variants::stock.eq(stock - back),
                product_variants::updated_at.eq(now),
            ))
            .execute(conn)?;
        taken += back;
    }
    audit::record(
        conn,
        audit::Event::order(
            None,
            audit::STOCK_CHANGED,
            order_id,
            if short > 0 {
                format!(
                    "the refund failed after succeeding: {taken} unit(s) taken back off the shelf to ship; {short} already sold or held again — find them before shipping"
                )
            } else {
                format!(
                    "the refund failed after succeeding: {taken} unit(s) taken back off the shelf to ship"
                )
            },
        ),
        now,
    )
}

/// Money per order line already refunded or being refunded (pending or succeeded refunds).
pub fn refunded_per_line(conn: &mut AnyConnection, order_id: i64) -> QueryResult<Vec<(i64, i64)>> {
    refund_lines::table
        .inner_join(refunds::table)
        .filter(refunds::order_id.eq(order_id))
        .filter(refunds::status.eq_any([PENDING, SUCCEEDED]))
        .select((refund_lines::order_item_id, refund_lines::amount))
        .load(conn)
}

/// Units per order line refunded before they shipped (pending or succeeded refunds).
pub fn cancelled_units(conn: &mut AnyConnection, order_id: i64) -> QueryResult<Vec<(i64, i64)>> {
    refund_restocks::table
        .inner_join(refunds::table)
        .filter(refunds::order_id.eq(order_id))
        .filter(refunds::status.eq_any([PENDING, SUCCEEDED]))
        .filter(refund_restocks::cancelled.gt(0))
        .select((refund_restocks::order_item_id, refund_restocks::cancelled))
        .load(conn)
}

/// Units per order line already put back or waiting to be (pending or succeeded refunds).
pub fn restocked_units(conn: &mut AnyConnection, order_id: i64) -> QueryResult<Vec<(i64, i64)>> {
    refund_restocks::table
        .inner_join(refunds::table)
        .filter(refunds::order_id.eq(order_id))
        .filter(refunds::status.eq_any([PENDING, SUCCEEDED]))
        .select((refund_restocks::order_item_id, refund_restocks::quantity))
        .load(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripe_statuses_map_and_only_move_forward() {
        assert_eq!(from_stripe_status(Some("succeeded")), SUCCEEDED);
        assert_eq!(from_stripe_status(Some("requires_action")), PENDING);
        assert_eq!(from_stripe_status(Some("failed")), FAILED);
        assert_eq!(from_stripe_status(Some("canceled")), CANCELED);
        assert_eq!(from_stripe_status(None), PENDING);
        // A succeeded refund can still fail later; nothing goes back to pending.
        assert!(rank(PENDING) < rank(SUCCEEDED) && rank(SUCCEEDED) < rank(FAILED));
        assert_eq!(rank(FAILED), rank(CANCELED));
    }

    fn item(quantity: i64, amount_paid: i64) -> OrderItem {
        OrderItem {
            id: 1,
            order_id: 1,
            product_id: 1,
            price_id: 1,
            name: "Mug".into(),
            unit_amount: 1000,
            quantity,
            amount_discount: 0,
            amount_tax: 0,
            amount_paid,
            stripe_product_id: None,
            physical: true,
            variant_id: None,
        }
    }

    #[test]
    fn unit_shares_add_up_to_what_was_paid_however_returns_are_split() {
        // $10.00 paid for 3 units (a discount left an odd amount), returned one at a time.
        let first = units_share(1000, 3, 1);
        let second = units_share(1000 - first, 2, 1);
        let third = units_share(1000 - first - second, 1, 1);
        assert_eq!((first, second, third), (333, 333, 334));
        assert_eq!(units_share(1000, 3, 3), 1000);
        assert_eq!(
            units_share(1000, 3, 7),
            1000,
            "more than is left takes what is left"
        );
        assert_eq!(units_share(1000, 0, 1), 0);
        assert_eq!(units_share(1000, 3, 0), 0);
    }

    #[test]
    fn a_line_refund_goes_to_its_line_and_restocks_take_their_units_share() {
        let mut tote = item(3, 1000);
        tote.id = 1;
        let mut print = item(1, 500);
        print.id = 2;
        let items = [tote, print];
        // "Refund this line" with nothing restocked: the whole line, not a unit more.
        assert_eq!(
            allocate(&items, &[], &[], 1200, Some(1), &[]),
            vec![(1, 1000)]
        );
        // After 400 was refunded for it, 600 is left of the line.
        assert_eq!(
            allocate(&items, &[(1, 400)], &[], 1200, Some(1), &[]),
            vec![(1, 600)]
        );
        // An edited, smaller amount is all the line's.
        assert_eq!(
            allocate(&items, &[], &[], 250, Some(1), &[]),
            vec![(1, 250)]
        );
        // Units back to stock: their share of each line, capped by the amount.
        assert_eq!(
            allocate(&items, &[], &[], 2000, None, &[(1, 1), (2, 1)]),
            vec![(1, 333), (2, 500)]
        );
        assert_eq!(
            allocate(&items, &[], &[], 400, None, &[(1, 1), (2, 1)]),
            vec![(1, 333), (2, 67)]
        );
        // The last returned unit takes what is left of the line.
        assert_eq!(
            allocate(&items, &[(1, 666)], &[(1, 2)], 2000, None, &[(1, 1)]),
            vec![(1, 334)]
        );
        // A goodwill amount belongs to no line; a line that is not the order's gets nothing.
        assert!(allocate(&items, &[], &[], 300, None, &[]).is_empty());
        assert!(allocate(&items, &[], &[], 300, Some(9), &[]).is_empty());
    }
}
