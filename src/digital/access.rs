//! What a paid order's buyer gets of its digital lines, and the download counter.

use diesel::prelude::*;

use super::{files, keys, links::LinkSigner};
use crate::db::AnyConnection;
use crate::orders::model::{Order, OrderItem};
use crate::orders::status::OrderStatus;
use crate::schema::{download_counts, order_items, orders, products};

/// One digital line as the order page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigitalLine {
    pub item_id: i64,
    pub name: String,
    /// A signed link to the file, while downloads are left (`file` products).
    pub link: Option<String>,
    pub file_name: Option<String>,
    pub downloads: i64,
    pub max_downloads: i64,
    pub keys: Vec<String>,
    /// Units still waiting for a key.
    pub keys_pending: i64,
    /// The line was refunded: its file and keys are no longer the buyer's.
    pub refunded: bool,
}

/// The order's lines whose money was refunded in full (pending refunds count: access goes
/// before the money does).
pub fn refunded_lines(conn: &mut AnyConnection, order_id: i64) -> QueryResult<Vec<i64>> {
    let refunded = crate::admin::refunds::refunded_per_line(conn, order_id)?;
    let paid: Vec<(i64, i64)> = order_items::table
        .filter(order_items::order_id.eq(order_id))
        .select((order_items::id, order_items::amount_paid))
        .load(conn)?;
    Ok(paid
        .into_iter()
        .filter(|(id, amount)| {
            let back: i64 = refunded
                .iter()
                .filter(|(i, _)| i == id)
                .map(|(_, a)| a)
                .sum();
            *amount > 0 && back >= *amount
        })
        .map(|(id, _)| id)
        .collect())
}

/// A full refund or a dispute takes the goods back.
pub fn revoked(order: &Order) -> bool {
    order.status() == OrderStatus::Refunded || order.disputed
}

/// Whether the buyer may have the goods: paid (or partly refunded) and not revoked.
pub fn granted(order: &Order) -> bool {
    matches!(
        order.status(),
        OrderStatus::Paid | OrderStatus::PartiallyRefunded
    ) && !revoked(order)
}

/// The order's digital lines with their links and keys; empty unless access is granted.
pub fn for_order(
    conn: &mut AnyConnection,
    order: &Order,
    items: &[OrderItem],
    signer: &LinkSigner,
    expires: i64,
) -> QueryResult<Vec<DigitalLine>> {
    if !granted(order) {
        return Ok(Vec::new());
    }
    let mut lines = describe(conn, order, items)?;
    for line in &mut lines {
        if line.refunded {
            line.keys.clear();
            line.keys_pending = 0;
            continue;
        }
        if line.file_name.is_some() && line.downloads < line.max_downloads {
            line.link = Some(signer.path(line.item_id, expires));
        }
    }
    Ok(lines)
}

/// The order's digital lines as they stand (keys given, downloads used), without links: what
/// an admin sees, whatever the order's status.
pub fn describe(
    conn: &mut AnyConnection,
    order: &Order,
    items: &[OrderItem],
) -> QueryResult<Vec<DigitalLine>> {
    let ids: Vec<i64> = items
        .iter()
        .filter(|i| !i.physical)
        .map(|i| i.product_id)
        .collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let delivery: Vec<(i64, Option<String>, i64)> = products::table
        .filter(products::id.eq_any(&ids))
        .select((products::id, products::delivery, products::max_downloads))
        .load(conn)?;
    let given = keys::for_order(conn, order.id)?;
    let refunded = refunded_lines(conn, order.id)?;
    let mut out = Vec::new();
    for item in items.iter().filter(|i| !i.physical) {
        let Some((_, how, max)) = delivery.iter().find(|(id, _, _)| *id == item.product_id) else {
            continue;
        };
        let mut line = DigitalLine {
            item_id: item.id,
            name: item.name.clone(),
            link: None,
            file_name: None,
            downloads: 0,
            max_downloads: *max,
            keys: Vec::new(),
            keys_pending: 0,
            refunded: refunded.contains(&item.id),
        };
        match how.as_deref() {
            Some("file") => {
                line.downloads = downloads(conn, item.id)?;
                line.file_name = files::meta(conn, item.product_id)?.map(|m| m.file_name);
            }
            Some("keys") => {
                line.keys = given
                    .iter()
                    .filter(|(id, _)| *id == item.id)
                    .map(|(_, k)| k.clone())
                    .collect();
                // Only a paid order waits for keys, and not for a refunded line's.
                if order.paid_at.is_some() && !refunded.contains(&item.id) {
                    line.keys_pending = (item.quantity - line.keys.len() as i64).max(0);
                }
            }
            _ => continue,
        }
        out.push(line);
    }
    Ok(out)
}

fn downloads(conn: &mut AnyConnection, item_id: i64) -> QueryResult<i64> {
    Ok(download_counts::table
        .find(item_id)
        .select(download_counts::downloads)
        .first(conn)
        .optional()?
        .unwrap_or(0))
}

/// What a download request gets.
#[derive(Debug)]
pub enum Download {
    /// Counted: the file to send (its bytes are read after the counting transaction, so a
    /// large file never holds SQLite's write lock).
    File {
        product_id: i64,
        file_name: String,
        content_type: String,
        /// This download's number, of `max`.
        count: i64,
        max: i64,
    },
    /// No such line, or it has no file.
    NotFound,
    /// Not paid, fully refunded or disputed.
    Revoked,
    /// Every allowed download was used.
    UsedUp { max: i64 },
}

/// Counts one download of a line's file, if one is left, and returns the file. The counter only
/// moves by a conditional update, so concurrent requests never exceed the limit.
pub fn take(conn: &mut AnyConnection, item_id: i64) -> QueryResult<Download> {
    let row: Option<(i64, i64, Option<String>, i64)> = order_items::table
        .inner_join(products::table.on(products::id.eq(order_items::product_id)))
        .filter(order_items::id.eq(item_id))
        .select((
            order_items::order_id,
            products::id,
            products::delivery,
            products::max_downloads,
        ))
        .first(conn)
        .optional()?;
    let Some((order_id, product_id, Some(delivery), max)) = row else {
        return Ok(Download::NotFound);
    };
    if delivery != "file" {
        return Ok(Download::NotFound);
    }
    let order: Order = orders::table
        .find(order_id)
        .select(Order::as_select())
        .first(conn)?;
    if !granted(&order) || refunded_lines(conn, order_id)?.contains(&item_id) {
        return Ok(Download::Revoked);
    }
    let Some(meta) = files::meta(conn, product_id)? else {
        return Ok(Download::NotFound);
    };
    crate::db::insert_once(conn, |conn| {
        diesel::insert_into(download_counts::table)
            .values(download_counts::order_item_id.eq(item_id))
            .execute(conn)
    })?;
    let counted = diesel::update(
        download_counts::table
            .filter(download_counts::order_item_id.eq(item_id))
            .filter(download_counts::downloads.lt(max)),
    )
    .set(download_counts::downloads.eq(download_counts::downloads + 1))
    .execute(conn)?;
    if counted == 0 {
        return Ok(Download::UsedUp { max });
    }
    Ok(Download::File {
        product_id,
        file_name: meta.file_name,
        content_type: meta.content_type,
        count: downloads(conn, item_id)?,
        max,
    })
}
