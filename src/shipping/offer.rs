//! The shipping rates an order offers at Checkout: the shop's active rates, each made free when
//! the cart's subtotal (before discounts) reaches its threshold, fixed on the order when it is
//! created so a retried session sends the same options and fulfilment can check the choice.

use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::money::Money;
use crate::schema::{order_shipping_rates, shipping_rates};

/// One of the shop's rates (`shipping_rates`, from the catalogue file).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = shipping_rates)]
pub struct Rate {
    pub key: String,
    pub name: String,
    pub amount: i64,
    pub min_days: Option<i64>,
    pub max_days: Option<i64>,
    pub free_over: Option<i64>,
}

/// What one order offers.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = order_shipping_rates)]
pub struct Offered {
    pub rate_key: String,
    pub name: String,
    /// After the free-over decision.
    pub amount: i64,
    pub min_days: Option<i64>,
    pub max_days: Option<i64>,
}

/// "3–5 business days", "1 business day".
pub fn estimate(min: Option<i64>, max: Option<i64>) -> Option<String> {
    let days = |n: i64| {
        if n == 1 {
            "business day"
        } else {
            "business days"
        }
    };
    match (min, max) {
        (Some(a), Some(b)) if a == b => Some(format!("{a} {}", days(a))),
        (Some(a), Some(b)) => Some(format!("{a}–{b} {}", days(b))),
        (Some(a), None) => Some(format!("{a}+ {}", days(a))),
        (None, Some(b)) => Some(format!("up to {b} {}", days(b))),
        (None, None) => None,
    }
}

/// The shop's active rates, in the catalogue's order.
pub fn active(conn: &mut AnyConnection) -> QueryResult<Vec<Rate>> {
    shipping_rates::table
        .filter(shipping_rates::active.eq(true))
        .order((shipping_rates::position.asc(), shipping_rates::id.asc()))
        .select(Rate::as_select())
        .load(conn)
}

/// The options for a cart with this subtotal (minor units, before any discount).
pub fn offer(rates: &[Rate], subtotal: i64) -> Vec<Offered> {
    rates
        .iter()
        .map(|r| Offered {
            rate_key: r.key.clone(),
            name: r.name.clone(),
            amount: match r.free_over {
                Some(threshold) if subtotal >= threshold => 0,
                _ => r.amount,
            },
            min_days: r.min_days,
            max_days: r.max_days,
        })
        .collect()
}

pub fn store(conn: &mut AnyConnection, order_id: i64, offered: &[Offered]) -> QueryResult<()> {
    for (position, o) in offered.iter().enumerate() {
        diesel::insert_into(order_shipping_rates::table)
            .values((
                order_shipping_rates::order_id.eq(order_id),
                order_shipping_rates::position.eq(position as i64),
                order_shipping_rates::rate_key.eq(&o.rate_key),
                order_shipping_rates::name.eq(&o.name),
                order_shipping_rates::amount.eq(o.amount),
                order_shipping_rates::min_days.eq(o.min_days),
                order_shipping_rates::max_days.eq(o.max_days),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub fn for_order(conn: &mut AnyConnection, order_id: i64) -> QueryResult<Vec<Offered>> {
    order_shipping_rates::table
        .filter(order_shipping_rates::order_id.eq(order_id))
        .order(order_shipping_rates::position.asc())
        .select(Offered::as_select())
        .load(conn)
}

/// How the cart page describes a rate: "Standard shipping: $5.00 (3–5 business days), free
/// from $50.00".
pub fn describe(rate: &Rate, currency: crate::money::Currency) -> String {
    let mut s = format!("{}: {}", rate.name, price(rate.amount, currency));
    if let Some(e) = estimate(rate.min_days, rate.max_days) {
        s.push_str(&format!(" ({e})"));
    }
    if let Some(t) = rate.free_over {
        s.push_str(&format!(", free from {}", Money::new(t, currency)));
    }
    s
}

fn price(amount: i64, currency: crate::money::Currency) -> String {
    if amount == 0 {
        "free".into()
    } else {
        Money::new(amount, currency).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn standard() -> Rate {
        Rate {
            key: "standard".into(),
            name: "Standard shipping".into(),
            amount: 500,
            min_days: Some(3),
            max_days: Some(5),
            free_over: Some(5000),
        }
    }

    #[test]
    fn a_rate_is_free_from_its_threshold_on_the_subtotal() {
        let express = Rate {
            key: "express".into(),
            name: "Express".into(),
            amount: 1500,
            min_days: Some(1),
            max_days: Some(1),
            free_over: None,
        };
        let rates = [standard(), express];
        let amounts = |subtotal| {
            offer(&rates, subtotal)
                .iter()
                .map(|o| o.amount)
                .collect::<Vec<_>>()
        };
        assert_eq!(amounts(4999), vec![500, 1500]);
        assert_eq!(amounts(5000), vec![0, 1500]);
        assert_eq!(
            estimate(offer(&rates, 0)[1].min_days, offer(&rates, 0)[1].max_days).as_deref(),
            Some("1 business day")
        );
    }

    #[test]
    fn the_cart_page_describes_each_rate() {
        let usd = crate::money::Currency::parse("usd").unwrap();
        assert_eq!(
            describe(&standard(), usd),
            "Standard shipping: $5.00 (3–5 business days), free from $50.00"
        );
        assert_eq!(estimate(None, None), None);
    }
}
