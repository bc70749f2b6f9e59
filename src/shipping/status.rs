//! The order's fulfilment status: derived, never stepped, from its physical lines, the units
//! shipped, the units refunded back to stock and its payment status; stored on the order for the
//! "awaiting shipment" queue. Every change to one of those inputs calls [`recompute`].

use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::orders::status::OrderStatus;
use crate::schema::{order_items, orders, shipment_lines, shipments};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fulfilment {
    /// Nothing shipped yet.
    Unfulfilled,
    /// Some units shipped, some still to go.
    PartiallyShipped,
    /// Everything that is to be shipped was.
    Shipped,
    /// Every shipment arrived.
    Delivered,
    /// Nothing to ship: a digital-only order.
    NotRequired,
    /// Refunded before anything shipped: nothing will.
    Canceled,
}

impl Fulfilment {
    pub const ALL: [Fulfilment; 6] = [
        Fulfilment::Unfulfilled,
        Fulfilment::PartiallyShipped,
        Fulfilment::Shipped,
        Fulfilment::Delivered,
        Fulfilment::NotRequired,
        Fulfilment::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Fulfilment::Unfulfilled => "unfulfilled",
            Fulfilment::PartiallyShipped => "partially_shipped",
            Fulfilment::Shipped => "shipped",
            Fulfilment::Delivered => "delivered",
            Fulfilment::NotRequired => "not_required",
            Fulfilment::Canceled => "canceled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// What admins and customers read.
    pub fn label(self) -> &'static str {
        match self {
            Fulfilment::Unfulfilled => "Not shipped yet",
            Fulfilment::PartiallyShipped => "Partly shipped",
            Fulfilment::Shipped => "Shipped",
            Fulfilment::Delivered => "Delivered",
            Fulfilment::NotRequired => "Nothing to ship",
            Fulfilment::Canceled => "Cancelled",
        }
    }
}

/// One order line as fulfilment sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line {
    pub item_id: i64,
    pub quantity: i64,
    pub physical: bool,
    /// Units refunded before they shipped (pending or succeeded refunds): no longer to ship.
    /// Units that came back after shipping do not count here.
    pub cancelled: i64,
    pub shipped: i64,
}

impl Line {
    /// Units still to put in a parcel.
    pub fn to_ship(&self) -> i64 {
        if !self.physical {
            return 0;
        }
        (self.quantity - self.cancelled - self.shipped).max(0)
    }
}

/// The status for these lines. `any_shipment`/`all_delivered` describe the order's parcels;
/// a fully refunded order has nothing left to ship, whatever its stock did.
pub fn derive(
    lines: &[Line],
    any_shipment: bool,
    all_delivered: bool,
    fully_refunded: bool,
) -> Fulfilment {
    if !lines.iter().any(|l| l.physical) {
        return Fulfilment::NotRequired;
    }
    let to_ship: i64 = if fully_refunded {
        0
    } else {
        lines.iter().map(Line::to_ship).sum()
    };
    match (any_shipment, to_ship > 0) {
        (false, true) => Fulfilment::Unfulfilled,
        (false, false) => Fulfilment::Canceled,
        (true, true) => Fulfilment::PartiallyShipped,
        (true, false) if all_delivered => Fulfilment::Delivered,
        (true, false) => Fulfilment::Shipped,
    }
}

/// The order's lines with what was shipped and returned of each.
pub fn lines(conn: &mut AnyConnection, order_id: i64) -> QueryResult<Vec<Line>> {
    let items: Vec<(i64, i64, bool)> = order_items::table
        .filter(order_items::order_id.eq(order_id))
        .order(order_items::id.asc())
        .select((
            order_items::id,
            order_items::quantity,
            order_items::physical,
        ))
        .load(conn)?;
    let cancelled = crate::admin::refunds::cancelled_units(conn, order_id)?;
    let shipped: Vec<(i64, i64)> = shipment_lines::table
        .inner_join(shipments::table)
        .filter(shipments::order_id.eq(order_id))
        .select((shipment_lines::order_item_id, shipment_lines::quantity))
        .load(conn)?;
    let sum = crate::admin::refunds::per_line;
    Ok(items
        .into_iter()
        .map(|(item_id, quantity, physical)| Line {
            item_id,
            quantity,
            physical,
            cancelled: sum(&cancelled, item_id),
            shipped: sum(&shipped, item_id),
        })
        .collect())
}

/// Derives the order's fulfilment status from its rows and stores it; returns it.
pub fn recompute(conn: &mut AnyConnection, order_id: i64) -> QueryResult<Fulfilment> {
    let lines = lines(conn, order_id)?;
    let parcels: Vec<String> = shipments::table
        .filter(shipments::order_id.eq(order_id))
        .select(shipments::status)
        .load(conn)?;
    let status: String = orders::table
        .find(order_id)
        .select(orders::status)
        .first(conn)?;
    let fully_refunded = status == OrderStatus::Refunded.as_str();
    let derived = derive(
        &lines,
        !parcels.is_empty(),
        parcels.iter().all(|s| s == super::shipments::DELIVERED),
        fully_refunded,
    );
    diesel::update(
        orders::table
            .filter(orders::id.eq(order_id))
            .filter(orders::fulfilment_status.ne(derived.as_str())),
    )
    .set(orders::fulfilment_status.eq(derived.as_str()))
    .execute(conn)?;
    Ok(derived)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(quantity: i64, physical: bool, cancelled: i64, shipped: i64) -> Line {
        Line {
            item_id: 1,
            quantity,
            physical,
            cancelled,
            shipped,
        }
    }

    #[test]
    fn the_status_follows_what_is_left_to_ship() {
        use Fulfilment::*;
        let digital = line(1, false, 0, 0);
        assert_eq!(derive(&[digital], false, true, false), NotRequired);
        assert_eq!(
            derive(&[line(2, true, 0, 0), digital], false, true, false),
            Unfulfilled
        );
        assert_eq!(
            derive(&[line(2, true, 0, 1)], true, false, false),
            PartiallyShipped
        );
        assert_eq!(derive(&[line(2, true, 0, 2)], true, false, false), Shipped);
        assert_eq!(derive(&[line(2, true, 0, 2)], true, true, false), Delivered);
        // The unshipped unit was refunded back to stock: the parcel sent was everything.
        assert_eq!(derive(&[line(2, true, 1, 1)], true, false, false), Shipped);
        // Refunded before anything shipped.
        assert_eq!(derive(&[line(2, true, 2, 0)], false, true, false), Canceled);
        assert_eq!(derive(&[line(2, true, 0, 0)], false, true, true), Canceled);
        // Refunded after one parcel: the rest will not follow.
        assert_eq!(derive(&[line(2, true, 0, 1)], true, false, true), Shipped);
        // A unit shipped and then returned to stock does not make the order ship it again.
        assert_eq!(line(2, true, 1, 2).to_ship(), 0);
        assert_eq!(line(3, false, 0, 0).to_ship(), 0);
    }

    #[test]
    fn every_status_parses_back() {
        for f in Fulfilment::ALL {
            assert_eq!(Fulfilment::parse(f.as_str()), Some(f));
        }
        assert_eq!(Fulfilment::parse("lost"), None);
    }
}
