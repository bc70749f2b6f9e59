//! A product's address. A slug is kept stable, but an admin may rename it: the old address then
//! answers 301 with the new one, for bookmarks, links and search engines.

use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::schema::{product_redirects, products};

/// Why a slug cannot be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlugRefusal {
    #[error("Another product already has this slug.")]
    Taken,
    #[error(
        "This slug was an earlier address of another product and still redirects to it: choose another."
    )]
    Redirects,
}

/// Moves product `id` to `new_slug` in the caller's transaction, leaving a redirect from its
/// current slug. An old address of the same product may be taken back.
pub fn rename(
    conn: &mut AnyConnection,
    id: i64,
    new_slug: &str,
    now: i64,
) -> QueryResult<Result<(), SlugRefusal>> {
    let current: String = products::table
        .find(id)
        .select(products::slug)
        .first(conn)?;
    if current == new_slug {
        return Ok(Ok(()));
    }
    let owner: Option<i64> = products::table
        .filter(products::slug.eq(new_slug))
        .select(products::id)
        .first(conn)
        .optional()?;
    if owner.is_some() {
        return Ok(Err(SlugRefusal::Taken));
    }
    let redirects_to: Option<i64> = product_redirects::table
        .find(new_slug)
        .select(product_redirects::product_id)
        .first(conn)
        .optional()?;
    match redirects_to {
        Some(other) if other != id => return Ok(Err(SlugRefusal::Redirects)),
        Some(_) => {
            diesel::delete(product_redirects::table.find(new_slug)).execute(conn)?;
        }
        None => {}
    }
    // Another admin may take the slug at the same moment: the unique index decides.
    let moved = crate::db::insert_once(conn, |conn| {
        diesel::update(products::table.find(id))
            .set((products::slug.eq(new_slug), products::updated_at.eq(now)))
            .execute(conn)
    })?;
    if !moved {
        return Ok(Err(SlugRefusal::Taken));
    }
    diesel::insert_into(product_redirects::table)
        .values((
            product_redirects::slug.eq(&current),
            product_redirects::product_id.eq(id),
            product_redirects::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(Ok(()))
}

/// Where an old address leads now: the product's current slug.
pub fn redirect(conn: &mut AnyConnection, slug: &str) -> QueryResult<Option<String>> {
    product_redirects::table
        .inner_join(products::table)
        .filter(product_redirects::slug.eq(slug))
        .select(products::slug)
        .first(conn)
        .optional()
}

/// Whether some product has, or had, this slug.
pub fn in_use(conn: &mut AnyConnection, slug: &str) -> QueryResult<bool> {
    let current = diesel::select(diesel::dsl::exists(
        products::table.filter(products::slug.eq(slug)),
    ))
    .get_result::<bool>(conn)?;
    let earlier = diesel::select(diesel::dsl::exists(
        product_redirects::table.filter(product_redirects::slug.eq(slug)),
    ))
    .get_result::<bool>(conn)?;
    Ok(current || earlier)
}
