//! Where an order ships to and at what rate: one row per order, snapshotted from the Checkout
//! Session when the order is paid.

use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::schema::order_shipping;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = order_shipping)]
pub struct OrderShipping {
    pub order_id: i64,
    pub name: String,
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    pub phone: Option<String>,
    pub rate_id: Option<String>,
    pub rate_name: Option<String>,
    /// What the rate cost (minor units of the order's currency), with any inclusive tax.
    pub amount: i64,
    /// The tax on it (added on top, or inside `amount`, as the order's tax behavior says).
    pub amount_tax: i64,
}

impl OrderShipping {
    /// The address as a label prints it, one line per entry.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![self.name.clone()];
        out.extend(self.line1.iter().cloned());
        out.extend(self.line2.iter().filter(|l| !l.is_empty()).cloned());
        let town = [
            self.postal_code.as_deref(),
            self.city.as_deref(),
            self.state.as_deref(),
        ]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
        if !town.is_empty() {
            out.push(town);
        }
        out.push(self.country.clone());
        out
    }

    /// "Berlin, DE": enough to tell parcels apart in a list.
    pub fn short(&self) -> String {
        match &self.city {
            Some(c) if !c.is_empty() => format!("{c}, {}", self.country),
            _ => self.country.clone(),
        }
    }
}

pub fn for_order(conn: &mut AnyConnection, order_id: i64) -> QueryResult<Option<OrderShipping>> {
    order_shipping::table
        .find(order_id)
        .select(OrderShipping::as_select())
        .first(conn)
        .optional()
}

/// Stores the order's shipping once: a second call (webhook and success page both fulfil)
/// keeps the first snapshot.
pub fn store_once(conn: &mut AnyConnection, shipping: &OrderShipping) -> QueryResult<bool> {
    crate::db::insert_once(conn, |conn| {
        diesel::insert_into(order_shipping::table)
            .values(shipping)
            .execute(conn)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_prints_as_a_label() {
        let a = OrderShipping {
            order_id: 1,
            name: "Ada Lovelace".into(),
            line1: Some("Unter den Linden 1".into()),
            line2: Some(String::new()),
            city: Some("Berlin".into()),
            state: None,
            postal_code: Some("10117".into()),
            country: "DE".into(),
            phone: None,
            rate_id: None,
            rate_name: None,
            amount: 0,
            amount_tax: 0,
        };
        assert_eq!(
            a.lines(),
            vec!["Ada Lovelace", "Unter den Linden 1", "10117 Berlin", "DE"]
        );
        assert_eq!(a.short(), "Berlin, DE");
    }
}
