//! Stock set or adjusted by an admin, per variant: audited with a reason, never below what open
//! checkouts hold. The variant row is locked first, so a checkout placing a hold at the same moment waits
//! and then sees the new stock (or the hold is counted here).

use diesel::prelude::*;
use diesel::result::Error as DieselError;

use crate::admin::audit;
use crate::db::AnyConnection;
use crate::inventory;
use crate::schema::{product_variants, products, stock_reservations};

/// What the admin asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Exactly this many on the shelf.
    Set(i64),
    /// This many more (or fewer, negative) than now.
    Adjust(i64),
    /// No limit (made to order, or a file to download).
    Unlimited,
}

/// Why a change was refused; each reads as a message for the stock form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("Stock cannot go below 0 (it would be {0}).")]
    Negative(i64),
    #[error(
        "Open checkouts hold {held} unit(s): stock cannot go below that (it would be {wanted}). Try again when they complete or expire."
    )]
    BelowHeld { held: i64, wanted: i64 },
    #[error("This product has no stock count to adjust: set a number instead.")]
    AdjustUnlimited,
    #[error("A licence key product's stock is its unsold keys: add keys instead.")]
    Keys,
    #[error("Choose one of this product's variants.")]
    NoSuchVariant,
}

/// The stock before and after a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Changed {
    pub before: Option<i64>,
    pub after: Option<i64>,
}

/// Units of a variant held by open checkouts (reservations not yet committed or released).
pub fn held(conn: &mut AnyConnection, variant_id: i64) -> QueryResult<i64> {
    let held: Vec<i64> = stock_reservations::table
        .filter(stock_reservations::variant_id.eq(variant_id))
        .filter(stock_reservations::status.eq(inventory::HELD))
        .select(stock_reservations::quantity)
        .load(conn)?;
    Ok(held.iter().sum())
}

/// The new stock for `change` from `before` with `held` units held, or why not.
pub fn apply(before: Option<i64>, change: Change, held: i64) -> Result<Option<i64>, Refusal> {
    let wanted = match (change, before) {
        (Change::Unlimited, _) => return Ok(None),
        (Change::Set(n), _) => n,
        (Change::Adjust(_), None) => return Err(Refusal::AdjustUnlimited),
        (Change::Adjust(d), Some(s)) => s.saturating_add(d),
    };
    if wanted < 0 {
        return Err(Refusal::Negative(wanted));
    }
    if wanted < held {
        return Err(Refusal::BelowHeld { held, wanted });
    }
    Ok(Some(wanted))
}

/// Changes a variant's stock and audits it (on its product), in the caller's transaction.
pub fn change(
    conn: &mut AnyConnection,
    variant_id: i64,
    change: Change,
    reason: &str,
    actor: Option<i64>,
    now: i64,
) -> Result<Result<Changed, Refusal>, DieselError> {
    inventory::lock_variants(conn, &[variant_id])?;
    let (product_id, before, option1, option2, delivery): (
        i64,
        Option<i64>,
        String,
        String,
        Option<String>,
    ) = product_variants::table
        .inner_join(products::table)
        .filter(product_variants::id.eq(variant_id))
        .select((
            product_variants::product_id,
            product_variants::stock,
            product_variants::option1,
            product_variants::option2,
            products::delivery,
        ))
        .first(conn)?;
    if delivery.as_deref() == Some("keys") {
        return Ok(Err(Refusal::Keys));
    }
    let after = match apply(before, change, held(conn, variant_id)?) {
        Ok(after) => after,
        Err(refusal) => return Ok(Err(refusal)),
    };
    diesel::update(product_variants::table.find(variant_id))
        .set((
            product_variants::stock.eq(after),
            product_variants::updated_at.eq(now),
        ))
        .execute(conn)?;
    let variant = super::variants::label(&option1, &option2);
    let which = match variant.is_empty() {
        true => String::new(),
        false => format!("{variant}: "),
    };
    let show = |s: Option<i64>| s.map_or_else(|| "unlimited".to_owned(), |n| n.to_string());
    audit::record(
        conn,
        audit::Event::product(
            actor,
            audit::STOCK_CHANGED,
            product_id,
            format!("{which}stock {} → {}: {reason}", show(before), show(after)),
        ),
        now,
    )?;
    Ok(Ok(Changed { before, after }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stock_never_goes_below_zero_or_what_checkouts_hold() {
        assert_eq!(apply(Some(0), Change::Set(5), 0), Ok(Some(5)));
        assert_eq!(apply(Some(4), Change::Adjust(-1), 2), Ok(Some(3)));
        assert_eq!(apply(Some(4), Change::Adjust(6), 0), Ok(Some(10)));
        assert_eq!(
            apply(Some(1), Change::Adjust(-2), 0),
            Err(Refusal::Negative(-1))
        );
        assert_eq!(
            apply(Some(5), Change::Set(-1), 0),
            Err(Refusal::Negative(-1))
        );
        assert_eq!(
            apply(Some(5), Change::Set(1), 2),
            Err(Refusal::BelowHeld { held: 2, wanted: 1 })
        );
        assert_eq!(
            apply(Some(5), Change::Adjust(-4), 2),
            Err(Refusal::BelowHeld { held: 2, wanted: 1 })
        );
        assert_eq!(
            apply(None, Change::Adjust(1), 0),
            Err(Refusal::AdjustUnlimited)
        );
        assert_eq!(apply(None, Change::Set(3), 0), Ok(Some(3)));
        assert_eq!(apply(Some(3), Change::Unlimited, 2), Ok(None));
        assert_eq!(
            apply(Some(i64::MAX), Change::Adjust(5), 0),
            Ok(Some(i64::MAX))
        );
    }
}
