//! The customer's view of an order's way to them: placed, paid, each parcel shipped and
//! delivered, and what is still to come.

use super::shipments::Parcel;
use super::status::Fulfilment;
use crate::orders::model::{Order, OrderItem};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Unix seconds; `None` for what has not happened yet.
    pub at: Option<i64>,
    pub label: String,
    pub detail: Option<String>,
    /// (tracking page, tracking number)
    pub tracking: Option<(Option<String>, String)>,
}

fn step(at: Option<i64>, label: &str) -> Step {
    Step {
        at,
        label: label.to_owned(),
        detail: None,
        tracking: None,
    }
}

/// The steps, oldest first, ending with the one still to come (if any).
pub fn steps(
    order: &Order,
    items: &[OrderItem],
    fulfilment: Fulfilment,
    parcels: &[Parcel],
) -> Vec<Step> {
    let mut out = vec![step(Some(order.created_at), "Order placed")];
    let Some(paid_at) = order.paid_at else {
        return out;
    };
    out.push(step(Some(paid_at), "Paid"));
    let mut events = Vec::new();
    // Parcels from before shipping was recorded have nothing to tell.
    for (s, lines) in parcels
        .iter()
        .filter(|(s, _)| s.carrier != super::carriers::UNRECORDED)
    {
        let contents = lines
            .iter()
            .filter_map(|(id, q)| {
                items
                    .iter()
                    .find(|i| i.id == *id)
                    .map(|i| format!("{q} × {}", i.name))
            })
            .collect::<Vec<_>>()
            .join(", ");
        events.push(Step {
            at: Some(s.shipped_at),
            label: "Shipped".to_owned(),
            detail: Some(format!("{contents}, with {}", s.carrier_name())),
            tracking: Some((s.tracking_url(), s.tracking_number.clone())),
        });
        if let Some(d) = s.delivered_at {
            events.push(Step {
                detail: Some(contents),
                ..step(Some(d), "Delivered")
            });
        }
    }
    // Stable: a parcel's shipping comes before its delivery at the same second.
    events.sort_by_key(|e| e.at);
    out.extend(events);
    match fulfilment {
        Fulfilment::Unfulfilled => out.push(step(None, "Preparing your order")),
        Fulfilment::PartiallyShipped => out.push(step(None, "The rest of your order ships soon")),
        Fulfilment::Shipped => out.push(step(None, "On its way")),
        Fulfilment::Canceled => out.push(step(None, "Shipping cancelled: the order was refunded")),
        Fulfilment::Delivered | Fulfilment::NotRequired => {}
    }
    out
}
