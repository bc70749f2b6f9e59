//! A product made from the admin pages: its row, its default variant with its price and stock,
//! audited. Its Stripe
//! Product and Price are made the first time a checkout needs them (`stripe_ids`), as for
//! seeded products.

use diesel::prelude::*;
use diesel::result::Error as DieselError;

use super::model::Status;
use crate::admin::audit;
use crate::db::{AnyConnection, insert_once};
use crate::schema::{prices, products};

/// What the admin entered, checked.
#[derive(Debug, Clone)]
pub struct NewProduct {
    pub slug: String,
    pub name: String,
    pub description: String,
    /// `physical`, or `digital` delivered as licence keys (files are added by the catalogue).
    pub kind: Kind,
    pub currency: String,
    pub unit_amount: i64,
    /// `None`: unlimited (ignored for licence keys: the pool is the stock).
    pub stock: Option<i64>,
    pub tax_code: Option<String>,
    pub on_sale: bool,
    /// The category's name; blank: none.
    pub category: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Physical,
    LicenceKeys,
}

/// Why a product was not made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("Another product already has this slug.")]
    SlugTaken,
    #[error(
        "This slug was an earlier address of another product and still redirects to it: choose another."
    )]
    SlugRedirects,
}

/// Whether a slug is well formed: lower-case letters and digits, single dashes between.
pub fn plausible_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= 100
        && slug.split('-').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// Makes the product and its price in the caller's transaction; its id.
pub fn create(
    conn: &mut AnyConnection,
    new: &NewProduct,
    actor: Option<i64>,
    now: i64,
) -> Result<Result<i64, Refusal>, DieselError> {
    let position: Option<i64> = products::table
        .select(diesel::dsl::max(products::position))
        .first(conn)?;
    let (kind, delivery, stock) = match new.kind {
        Kind::Physical => ("physical", None, new.stock),
        Kind::LicenceKeys => ("digital", Some("keys"), Some(0)),
    };
    if super::slugs::redirect(conn, &new.slug)?.is_some() {
        return Ok(Err(Refusal::SlugRedirects));
    }
    let category = super::categories::resolve(conn, &new.category, now)?;
    let inserted = insert_once(conn, |conn| {
        diesel::insert_into(products::table)
            .values((
                products::slug.eq(&new.slug),
                products::name.eq(&new.name),
                products::description.eq(&new.description),
                products::status.eq(if new.on_sale {
                    Status::Active
                } else {
                    Status::Draft
                }
                .as_str()),
                products::category_id.eq(category),
                products::position.eq(position.unwrap_or(0) + 1),
                products::tax_code.eq(&new.tax_code),
                products::kind.eq(kind),
                products::delivery.eq(delivery),
                products::created_at.eq(now),
                products::updated_at.eq(now),
            ))
            .execute(conn)
    })?;
    if !inserted {
        return Ok(Err(Refusal::SlugTaken));
    }
    let id: i64 = products::table
        .filter(products::slug.eq(&new.slug))
        .select(products::id)
        .first(conn)?;
    let variant = super::variants::insert(
        conn,
        id,
        &super::variants::NewVariant {
            stock,
            ..Default::default()
        },
        now,
    )?;
    insert_price(
        conn,
        (id, variant),
        &new.slug,
        (&new.currency, new.unit_amount),
        now,
    )?;
    audit::record(
        conn,
        audit::Event::product(
            actor,
            audit::PRODUCT_CREATED,
            id,
            format!(
                "{} ({kind}), {} {}, stock {}{}",
                new.name,
                new.unit_amount,
                new.currency,
                stock.map_or_else(|| "unlimited".to_owned(), |s| s.to_string()),
                if new.on_sale {
                    ", on sale"
                } else {
                    ", not on sale yet"
                }
            ),
        ),
        now,
    )?;
    Ok(Ok(id))
}

/// Adds a variant's one-time price. Its lookup key is `key`, unless a price already has it:
/// then `key` and a number. The key it got.
pub fn insert_price(
    conn: &mut AnyConnection,
    (product_id, variant_id): (i64, i64),
    key: &str,
    (currency, unit_amount): (&str, i64),
    now: i64,
) -> QueryResult<String> {
    let mut candidate = key.to_owned();
    for n in 2.. {
        let taken = insert_once(conn, |conn| {
            diesel::insert_into(prices::table)
                .values((
                    prices::product_id.eq(product_id),
                    prices::variant_id.eq(variant_id),
                    prices::lookup_key.eq(&candidate),
                    prices::currency.eq(currency),
                    prices::unit_amount.eq(unit_amount),
                    prices::active.eq(true),
                    prices::created_at.eq(now),
                    prices::updated_at.eq(now),
                ))
                .execute(conn)
        })?;
        if taken {
            break;
        }
        candidate = format!("{key}-{n}");
    }
    Ok(candidate)
}

#[cfg(test)]
mod tests {
    #[test]
    fn slugs_are_lower_case_words_and_dashes() {
        for ok in ["pen", "brass-pen-2", "a1"] {
            assert!(super::plausible_slug(ok), "{ok}");
        }
        for bad in [
            "",
            "Pen",
            "brass--pen",
            "-pen",
            "pen-",
            "pen pen",
            "péné",
            &"a".repeat(101),
        ] {
            assert!(!super::plausible_slug(bad), "{bad}");
        }
    }
}
