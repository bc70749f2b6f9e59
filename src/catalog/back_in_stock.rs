//! "E-mail me when it's back": shoppers leave an address on a sold-out product (every variant
//! sold out), and each address
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
use crate::schema::{products, stock_alerts};

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

/// Records `email` (normalized by the caller) as waiting for the product.
pub fn sign_up(
    conn: &mut AnyConnection,
    product_id: i64,
    email: &str,
    now: i64,
) -> QueryResult<SignUp> {
    let available = inventory::available_by_product(conn, &[product_id])?;
    if available.get(&product_id).is_none_or(|n| *n > 0) {
        return Ok(SignUp::InStock);
    }
    // Told before and sold out again: a new sign-up, with a new id (so a new mail key). One still
    // waiting keeps its place.
    diesel::delete(
        stock_alerts::table
            .filter(stock_alerts::product_id.eq(product_id))
            .filter(stock_alerts::email.eq(email))
            .filter(stock_alerts::notified_at.is_not_null()),
    )
    .execute(conn)?;
    crate::db::insert_once(conn, |conn| {
        diesel::insert_into(stock_alerts::table)
            .values((
                stock_alerts::product_id.eq(product_id),
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
        .select(stock_alerts::product_id)
        .distinct()
        .into_boxed();
    if let Some(id) = product {
        waited_for = waited_for.filter(stock_alerts::product_id.eq(id));
    }
    let waited_for: Vec<i64> = waited_for.load(conn)?;
    if waited_for.is_empty() {
        return Ok(0);
    }
    let limited: HashMap<i64, i64> = inventory::available_by_product(conn, &waited_for)?;
    let buyable: Vec<i64> = waited_for
        .into_iter()
        .filter(|id| limited.get(id).is_none_or(|n| *n > 0))
        .collect();
    let due: Vec<(i64, String, String, String)> = stock_alerts::table
        .inner_join(products::table)
        .filter(stock_alerts::notified_at.is_null())
        .filter(stock_alerts::product_id.eq_any(&buyable))
        .select((
            stock_alerts::id,
            stock_alerts::email,
            products::slug,
            products::name,
        ))
        .order(stock_alerts::id.asc())
        .limit(BATCH)
        .load(conn)?;
    let base = public_url.as_str().trim_end_matches('/');
    let mut queued = 0;
    for (id, email, slug, name) in due {
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
