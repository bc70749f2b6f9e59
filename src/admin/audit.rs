//! The audit log: who did what, when, to which order or user. Written in the same transaction as
//! the change it describes.

use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::schema::audit_log;

pub const REFUND_REQUESTED: &str = "refund requested";
pub const REFUND_RESULT: &str = "refund result";
pub const REFUND_SYNCED: &str = "refund synced";
pub const ROLE_CHANGED: &str = "role changed";
pub const DISPUTE_OPENED: &str = "dispute opened";
pub const DISPUTE_CHANGED: &str = "dispute changed";
pub const SHIPPED: &str = "shipped";
pub const DELIVERED: &str = "delivered";
pub const KEYS_ADDED: &str = "licence keys added";
pub const STOCK_CHANGED: &str = "stock changed";
pub const PRODUCT_EDITED: &str = "product edited";
pub const PRODUCT_CREATED: &str = "product created";
pub const PRODUCT_DELETED: &str = "product deleted";
pub const PRICE_CHANGED: &str = "price changed";
pub const PICTURE_ADDED: &str = "picture added";
pub const PICTURE_REMOVED: &str = "picture removed";
pub const PICTURE_MAIN: &str = "main picture chosen";
pub const VARIANTS_CHANGED: &str = "variants changed";
pub const VARIANT_ADDED: &str = "variant added";
pub const VARIANT_REMOVED: &str = "variant removed";
pub const RECEIPT_RESENT: &str = "receipt re-sent";
pub const EVENT_REPLAYED: &str = "Stripe event replayed";
pub const EVENTS_CAUGHT_UP: &str = "Stripe events caught up";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
pub struct Entry {
    pub id: i64,
    pub actor_id: Option<i64>,
    pub action: String,
    pub order_id: Option<i64>,
    pub subject_user_id: Option<i64>,
    pub details: String,
    pub created_at: i64,
}

/// What happened; `actor` is `None` for the command line and for Stripe's own changes.
pub struct Event<'a> {
    pub actor: Option<i64>,
    pub action: &'a str,
    pub order_id: Option<i64>,
    pub subject_user_id: Option<i64>,
    /// The product a catalogue change was made to.
    pub product_id: Option<i64>,
    pub details: String,
}

impl<'a> Event<'a> {
    /// Something that happened to an order.
    pub fn order(actor: Option<i64>, action: &'a str, order_id: i64, details: String) -> Self {
        Self {
            actor,
            action,
            order_id: Some(order_id),
            subject_user_id: None,
            product_id: None,
            details,
        }
    }

    /// A change to a product in the catalogue.
    pub fn product(actor: Option<i64>, action: &'a str, product_id: i64, details: String) -> Self {
        Self {
            actor,
            action,
            order_id: None,
            subject_user_id: None,
            product_id: Some(product_id),
            details,
        }
    }
}

pub fn record(conn: &mut AnyConnection, event: Event<'_>, now: i64) -> QueryResult<()> {
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::actor_id.eq(event.actor),
            audit_log::action.eq(event.action),
            audit_log::order_id.eq(event.order_id),
            audit_log::subject_user_id.eq(event.subject_user_id),
            audit_log::product_id.eq(event.product_id),
            audit_log::details.eq(event.details),
            audit_log::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// A product's trail, newest first (at most `limit` entries).
pub fn for_product(
    conn: &mut AnyConnection,
    product_id: i64,
    limit: i64,
) -> QueryResult<Vec<Entry>> {
    audit_log::table
        .filter(audit_log::product_id.eq(product_id))
        .order((audit_log::created_at.desc(), audit_log::id.desc()))
        .limit(limit)
        .select(Entry::as_select())
        .load(conn)
}

/// An order's trail, oldest first.
pub fn for_order(conn: &mut AnyConnection, order_id: i64) -> QueryResult<Vec<Entry>> {
    audit_log::table
        .filter(audit_log::order_id.eq(order_id))
        .order((audit_log::created_at.asc(), audit_log::id.asc()))
        .select(Entry::as_select())
        .load(conn)
}
