//! Deleting a product that nothing sold names: a draft made by mistake, a duplicate. The caller
//! checks first that no order line or subscription names it (those are archived instead).

use diesel::prelude::*;

use crate::admin::audit;
use crate::db::AnyConnection;
use crate::schema::{
    audit_log, cart_items, licence_keys, prices, product_files, product_images, product_redirects,
    product_variants, products, shipping_prices, stock_alerts, stock_reservations,
    subscription_checkouts,
};

/// Removes product `id` and what hangs off it, in the caller's transaction: its variants and prices (and
/// carts' lines of them), stock alerts, unsold keys, file, redirects. Its trail stays in the
/// audit log, no longer linked, with a last entry saying it was deleted. Returns its Stripe
/// Product's id, for the caller to retire.
pub fn delete(
    conn: &mut AnyConnection,
    id: i64,
    actor: Option<i64>,
    now: i64,
) -> QueryResult<Option<String>> {
    let (slug, name, stripe_product): (String, String, Option<String>) = products::table
        .find(id)
        .select((products::slug, products::name, products::stripe_product_id))
        .first(conn)?;
    let price_ids: Vec<i64> = prices::table
        .filter(prices::product_id.eq(id))
        .select(prices::id)
        .load(conn)?;
    diesel::delete(cart_items::table.filter(cart_items::price_id.eq_any(&price_ids)))
        .execute(conn)?;
    diesel::delete(shipping_prices::table.filter(shipping_prices::price_id.eq_any(&price_ids)))
        .execute(conn)?;
    diesel::delete(subscription_checkouts::table.filter(subscription_checkouts::product_id.eq(id)))
        .execute(conn)?;
    diesel::delete(prices::table.filter(prices::product_id.eq(id))).execute(conn)?;
    diesel::delete(stock_reservations::table.filter(stock_reservations::product_id.eq(id)))
        .execute(conn)?;
    diesel::delete(stock_alerts::table.filter(stock_alerts::product_id.eq(id))).execute(conn)?;
    diesel::delete(licence_keys::table.filter(licence_keys::product_id.eq(id))).execute(conn)?;
    diesel::delete(product_files::table.filter(product_files::product_id.eq(id))).execute(conn)?;
    diesel::delete(product_redirects::table.filter(product_redirects::product_id.eq(id)))
        .execute(conn)?;
    diesel::delete(product_variants::table.filter(product_variants::product_id.eq(id)))
        .execute(conn)?;
    diesel::delete(product_images::table.filter(product_images::product_id.eq(id)))
        .execute(conn)?;
    diesel::update(audit_log::table.filter(audit_log::product_id.eq(id)))
        .set(audit_log::product_id.eq(None::<i64>))
        .execute(conn)?;
    diesel::delete(products::table.find(id)).execute(conn)?;
    audit::record(
        conn,
        audit::Event {
            actor,
            action: audit::PRODUCT_DELETED,
            order_id: None,
            subject_user_id: None,
            product_id: None,
            details: format!("{name} (/products/{slug})"),
        },
        now,
    )?;
    Ok(stripe_product)
}
