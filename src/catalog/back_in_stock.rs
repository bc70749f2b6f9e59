//! "E-mail me when it's back": shoppers leave an address on a sold-out product (every variant
//! sold out), or on one sold-out variant of a product whose others are in stock, and each address
//! gets one mail through the outbox once the product can be bought again — restocked by an admin
//! (right away, in the same transaction), by a refund's restock, or freed by checkouts that
//! expired (by the minute job, on whichever instance runs it first).
//!
//! Exactly once per sign-up: an alert is claimed by a conditional update of `notified_at` before
//! its mail is queued, and the mail's dedupe key names the sign-up (its row), so two instances (or a job
//! and an admin) racing on one alert queue one mail.

use std::collections::HashMap;

use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::inventory;
use crate::mail::outbox;
use crate::schema::{product_variants, products, stock_alerts};

/// Alerts one pass looks at, at most.
const BATCH: i64 = 500;

/// What a sign-up did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignUp {
    /// The address waits (again, if it was told before and the product sold out since).
    Waiting,
    /// The product can be bought now: nothing to wait for.
    InStock,
}

/// Records `email` (normalized by the caller) as waiting for the product, or for one of its
/// variants.
pub fn sign_up(
    conn: &mut AnyConnection,
    (product_id, variant): (i64, Option<i64>),
    email: &str,
    now: i64,
) -> QueryResult<SignUp> {
    let sold_out = match variant {
        None => inventory::available_by_product(conn, &[product_id])?
            .get(&product_id)
            .is_some_and(|n| *n == 0),
        Some(v) => inventory::available(conn, &[v])?
            .get(&v)
            .is_some_and(|n| *n == 0),
    };
    if !sold_out {
        return Ok(SignUp::InStock);
    }
    // Told before and sold out again: a new sign-up, with a new id (so a new mail key). One still
    // waiting keeps its place.
    let told = stock_alerts::table
        .filter(stock_alerts::product_id.eq(product_id))
        .filter(stock_alerts::email.eq(email))
        .filter(stock_alerts::notified_at.is_not_null())
        .select(stock_alerts::id)
        .into_boxed();
    let told: Vec<i64> = match variant {
        Some(v) => told.filter(stock_alerts::variant_id.eq(v)).load(conn)?,
        None => told.filter(stock_alerts::variant_id.is_null()).load(conn)?,
    };
    diesel::delete(stock_alerts::table.filter(stock_alerts::id.eq_any(told))).execute(conn)?;
    crate::db::insert_once(conn, |conn| {
        diesel::insert_into(stock_alerts::table)
            .values((
                stock_alerts::product_id.eq(product_id),
                stock_alerts::variant_id.eq(variant),
                stock_alerts::email.eq(email),
                stock_alerts::created_at.eq(now),
            ))
            .execute(conn)
    })?;
    Ok(SignUp::Waiting)
}

/// Addresses waiting per product.
pub fn waiting(conn: &mut AnyConnection, product_id: i64) -> QueryResult<i64> {
    stock_alerts::table
        .filter(stock_alerts::product_id.eq(product_id))
        .filter(stock_alerts::notified_at.is_null())
        .count()
        .get_result(conn)
}

/// Queues the mail of every alert whose product can be bought now (only `product`'s, if given).
/// Returns how many mails this call queued.
pub fn notify(
    conn: &mut AnyConnection,
    public_url: &url::Url,
    product: Option<i64>,
    now: i64,
) -> QueryResult<usize> {
    // First the products someone waits for, then the alerts of those that can be bought now: a
    // batch of alerts for products still sold out must never hide the others.
    let mut waited_for = stock_alerts::table
        .inner_join(products::table)
        .filter(stock_alerts::notified_at.is_null())
        .filter(products::status.eq(crate::catalog::model::Status::Active.as_str()))
        .select((stock_alerts::product_id, stock_alerts::variant_id))
        .distinct()
        .into_boxed();
    if let Some(id) = product {
        waited_for = waited_for.filter(stock_alerts::product_id.eq(id));
    }
    let waited_for: Vec<(i64, Option<i64>)> = waited_for.load(conn)?;
    if waited_for.is_empty() {
        return Ok(0);
    }
    // Alerts on the product wait for any variant; alerts on a variant for that one, while it
    // is still for sale (it has an active one-time price).
    let products_waited: Vec<i64> = waited_for.iter().map(|(p, _)| *p).collect();
    let limited: HashMap<i64, i64> = inventory::available_by_product(conn, &products_waited)?;
    let buyable_products: Vec<i64> = waited_for
        .iter()
        .filter(|(p, v)| v.is_none() && limited.get(p).is_none_or(|n| *n > 0))
        .map(|(p, _)| *p)
        .collect();
    let variants_waited: Vec<i64> = waited_for.iter().filter_map(|(_, v)| *v).collect();
    let on_sale: Vec<Option<i64>> = crate::schema::prices::table
        .filter(crate::schema::prices::variant_id.eq_any(&variants_waited))
        .filter(crate::schema::prices::active.eq(true))
        .select(crate::schema::prices::variant_id)
        .load(conn)?;
    let limited: HashMap<i64, i64> = inventory::available(conn, &variants_waited)?;
    let buyable_variants: Vec<i64> = variants_waited
        .into_iter()
        .filter(|v| on_sale.contains(&Some(*v)) && limited.get(v).is_none_or(|n| *n > 0))
        .collect();
    #[allow(clippy::type_complexity)]
    let due: Vec<(i64, String, String, String, Option<(String, String)>)> = stock_alerts::table
        .inner_join(products::table)
        .left_join(
            product_variants::table
                .on(stock_alerts::variant_id.eq(product_variants::id.nullable())),
        )
        .filter(stock_alerts::notified_at.is_null())
        .filter(
            stock_alerts::variant_id
                .is_null()
                .and(stock_alerts::product_id.eq_any(&buyable_products))
                .or(stock_alerts::variant_id.eq_any(&buyable_variants)),
        )
        .select((
            stock_alerts::id,
            stock_alerts::email,
            products::slug,
            products::name,
            (product_variants::option1, product_variants::option2).nullable(),
        ))
        .order(stock_alerts::id.asc())
        .limit(BATCH)
        .load(conn)?;
    let base = public_url.as_str().trim_end_matches('/');
    let mut queued = 0;
    for (id, email, slug, name, options) in due {
        let name = match options {
            Some((a, b)) => super::variants::line_name(&name, &super::variants::label(&a, &b)),
            None => name,
        };
        let claimed = diesel::update(
            stock_alerts::table
                .filter(stock_alerts::id.eq(id))
                .filter(stock_alerts::notified_at.is_null()),
        )
        .set(stock_alerts::notified_at.eq(now))
        .execute(conn)?;
        if claimed == 0 {
            continue;
        }
        let mail = crate::mail::messages::back_in_stock_mail(
            &name,
            &format!("{base}/products/{slug}"),
            &email,
            format!("back-in-stock-{id}"),
        )
        .map_err(|e| diesel::result::Error::QueryBuilderError(Box::new(e)))?;
        if outbox::enqueue(conn, &mail, now)? {
            queued += 1;
        }
    }
    Ok(queued)
}
