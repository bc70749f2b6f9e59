//! Shipments: an admin puts some units of some lines in a parcel with a carrier and tracking
//! number, then marks it delivered. Each step is audited and mails the customer once.

use diesel::prelude::*;
use diesel::result::Error as DieselError;

use super::carriers;
use super::status::{self, Fulfilment};
use crate::admin::{audit, refunds::lock_order};
use crate::db::AnyConnection;
use crate::mail::messages::OrderEvent;
use crate::orders::model::Order;
use crate::orders::status::OrderStatus;
use crate::schema::{orders, shipment_lines, shipments};

pub const SHIPPED: &str = "shipped";
pub const DELIVERED: &str = "delivered";

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = shipments)]
pub struct Shipment {
    pub id: i64,
    pub order_id: i64,
    pub form_key: String,
    pub carrier: String,
    pub tracking_number: String,
    pub status: String,
    pub admin_id: Option<i64>,
    pub shipped_at: i64,
    pub delivered_at: Option<i64>,
}

impl Shipment {
    pub fn carrier_name(&self) -> String {
        carriers::name(&self.carrier)
    }

    pub fn tracking_url(&self) -> Option<String> {
        carriers::tracking_url(&self.carrier, &self.tracking_number)
    }

    pub fn delivered(&self) -> bool {
        self.status == DELIVERED
    }
}

/// A shipment with its (order item id, units) lines.
pub type Parcel = (Shipment, Vec<(i64, i64)>);

/// What an admin asked to ship, already parsed.
#[derive(Debug, Clone)]
pub struct Request {
    /// The one-time key of the form (a double-click records one shipment).
    pub form_key: String,
    pub admin_id: i64,
    pub carrier: String,
    pub tracking_number: String,
    /// (order item id, units in the parcel), only lines with units.
    pub lines: Vec<(i64, i64)>,
}

#[derive(Debug)]
pub enum Outcome {
    Recorded(Shipment),
    /// This form was submitted before: its shipment, not a new one.
    AlreadyRecorded(Shipment),
    Refused(Refusal),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The order cannot ship in its state; the message says why.
    NotShippable(&'static str),
    /// No units chosen.
    NothingChosen,
    /// More units of a line than are left to ship (or a line that does not ship).
    TooManyUnits { item_id: i64, max: i64 },
    /// No such shipment on this order.
    UnknownShipment,
}

/// Why an order in this state cannot ship, or `None` when it can.
pub fn why_not(order: &Order, fulfilment: Fulfilment) -> Option<&'static str> {
    match order.status() {
        OrderStatus::Refunded => {
            return Some("This order was refunded in full: it cannot be marked shipped.");
        }
        OrderStatus::Paid | OrderStatus::PartiallyRefunded => {}
        _ => return Some("This order is not paid: nothing on it can ship yet."),
    }
    if order.flagged.is_some() {
        return Some("This order is flagged for review: settle the flag before shipping.");
    }
    if order.disputed {
        return Some("This order is disputed: hold the parcel until the dispute is settled.");
    }
    match fulfilment {
        Fulfilment::NotRequired => Some("Nothing on this order ships: it is digital only."),
        Fulfilment::Shipped | Fulfilment::Delivered | Fulfilment::Canceled => {
            Some("Nothing is left to ship on this order.")
        }
        Fulfilment::Unfulfilled | Fulfilment::PartiallyShipped => None,
    }
}

fn order(conn: &mut AnyConnection, order_id: i64) -> QueryResult<Order> {
    orders::table
        .find(order_id)
        .select(Order::as_select())
        .first(conn)
}

/// Records a parcel: one transaction for the checks, the rows, the audit entry, the new
/// fulfilment status and the customer's e-mail. The caller runs it inside `write_tx`.
pub fn ship(
    conn: &mut AnyConnection,
    order_id: i64,
    req: &Request,
    now: i64,
) -> Result<Outcome, DieselError> {
    lock_order(conn, order_id)?;
    let earlier: Option<Shipment> = shipments::table
        .filter(shipments::form_key.eq(&req.form_key))
        .filter(shipments::order_id.eq(order_id))
        .select(Shipment::as_select())
        .first(conn)
        .optional()?;
    if let Some(s) = earlier {
        return Ok(Outcome::AlreadyRecorded(s));
    }
    // The stored status may lag a refund made a moment ago: derive it afresh under the lock.
    let fulfilment = status::recompute(conn, order_id)?;
    let order = order(conn, order_id)?;
    if let Some(why) = why_not(&order, fulfilment) {
        return Ok(Outcome::Refused(Refusal::NotShippable(why)));
    }
    let lines = status::lines(conn, order_id)?;
    if req.lines.iter().all(|(_, q)| *q <= 0) {
        return Ok(Outcome::Refused(Refusal::NothingChosen));
    }
    for &(item_id, qty) in &req.lines {
        let max = lines
            .iter()
            .find(|l| l.item_id == item_id)
            .map_or(0, status::Line::to_ship);
        if qty > max {
            return Ok(Outcome::Refused(Refusal::TooManyUnits { item_id, max }));
        }
    }
    diesel::insert_into(shipments::table)
        .values((
            shipments::order_id.eq(order_id),
            shipments::form_key.eq(&req.form_key),
            shipments::carrier.eq(&req.carrier),
            shipments::tracking_number.eq(&req.tracking_number),
            shipments::status.eq(SHIPPED),
            shipments::admin_id.eq(req.admin_id),
            shipments::shipped_at.eq(now),
        ))
        .execute(conn)?;
    let shipment: Shipment = shipments::table
        .filter(shipments::form_key.eq(&req.form_key))
        .select(Shipment::as_select())
        .first(conn)?;
    for &(item_id, qty) in req.lines.iter().filter(|(_, q)| *q > 0) {
        diesel::insert_into(shipment_lines::table)
            .values((
                shipment_lines::shipment_id.eq(shipment.id),
                shipment_lines::order_item_id.eq(item_id),
                shipment_lines::quantity.eq(qty),
            ))
            .execute(conn)?;
    }
    let after = status::recompute(conn, order_id)?;
    audit::record(
        conn,
        audit::Event::order(
            Some(req.admin_id),
            audit::SHIPPED,
            order_id,
            format!(
                "{} unit(s) with {}, tracking {} ({})",
                req.lines.iter().map(|(_, q)| q).sum::<i64>(),
                shipment.carrier_name(),
                shipment.tracking_number,
                after.label().to_lowercase()
            ),
        ),
        now,
    )?;
    crate::checkout::fulfil::queue_receipt(conn, order_id, OrderEvent::Shipped(shipment.id), now)?;
    Ok(Outcome::Recorded(shipment))
}

/// Marks a parcel delivered, once: a second click (or a second admin) changes nothing and
/// mails nobody. `Ok(false)` when it was already delivered.
pub fn mark_delivered(
    conn: &mut AnyConnection,
    order_id: i64,
    shipment_id: i64,
    admin_id: i64,
    now: i64,
) -> Result<Result<bool, Refusal>, DieselError> {
    lock_order(conn, order_id)?;
    let exists = shipments::table
        .filter(shipments::id.eq(shipment_id))
        .filter(shipments::order_id.eq(order_id))
        .select(shipments::id)
        .first::<i64>(conn)
        .optional()?;
    if exists.is_none() {
        return Ok(Err(Refusal::UnknownShipment));
    }
    let changed = diesel::update(
        shipments::table
            .filter(shipments::id.eq(shipment_id))
            .filter(shipments::status.eq(SHIPPED)),
    )
    .set((
        shipments::status.eq(DELIVERED),
        shipments::delivered_at.eq(now),
    ))
    .execute(conn)?;
    if changed == 0 {
        return Ok(Ok(false));
    }
    let after = status::recompute(conn, order_id)?;
    audit::record(
        conn,
        audit::Event::order(
            Some(admin_id),
            audit::DELIVERED,
            order_id,
            format!(
                "parcel {shipment_id} delivered ({})",
                after.label().to_lowercase()
            ),
        ),
        now,
    )?;
    crate::checkout::fulfil::queue_receipt(
        conn,
        order_id,
        OrderEvent::Delivered(shipment_id),
        now,
    )?;
    Ok(Ok(true))
}

/// The order's parcels, oldest first, each with its (order item id, units).
pub fn for_order(conn: &mut AnyConnection, order_id: i64) -> QueryResult<Vec<Parcel>> {
    let parcels: Vec<Shipment> = shipments::table
        .filter(shipments::order_id.eq(order_id))
        .order((shipments::shipped_at.asc(), shipments::id.asc()))
        .select(Shipment::as_select())
        .load(conn)?;
    let lines: Vec<(i64, i64, i64)> = shipment_lines::table
        .inner_join(shipments::table)
        .filter(shipments::order_id.eq(order_id))
        .order(shipment_lines::id.asc())
        .select((
            shipment_lines::shipment_id,
            shipment_lines::order_item_id,
            shipment_lines::quantity,
        ))
        .load(conn)?;
    Ok(parcels
        .into_iter()
        .map(|p| {
            let mine = lines
                .iter()
                .filter(|(s, _, _)| *s == p.id)
                .map(|(_, i, q)| (*i, *q))
                .collect();
            (p, mine)
        })
        .collect())
}

/// A fresh key for one ship form.
pub fn new_form_key() -> String {
    use base64::Engine as _;
    use rand::RngCore as _;
    let mut bytes = [0u8; 18];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
