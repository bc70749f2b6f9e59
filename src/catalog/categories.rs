//! Categories: named groups of products, each with its own page (`/categories/{slug}`).
//!
//! The admin names a product's category in its form; a new name makes the category. A category
//! without active products is not shown to shoppers.

use diesel::prelude::*;

use super::model::Category;
use crate::db::{AnyConnection, insert_once};
use crate::schema::categories;

/// The longest category name.
pub const MAX_NAME: usize = 60;

/// A category's address from its name: lower-case ASCII letters and digits, single dashes.
/// Letters outside ASCII are dropped, so a name made only of them gets a numbered slug.
pub fn slug_of(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    slug.chars()
        .take(80)
        .collect::<String>()
        .trim_end_matches('-')
        .to_owned()
}

/// Every category, by name.
pub fn all(conn: &mut AnyConnection) -> QueryResult<Vec<Category>> {
    categories::table
        .order(categories::name.asc())
        .select(Category::as_select())
        .load(conn)
}

/// The category called `name` (compared by its slug, so "Kitchen" and "kitchen" are one),
/// made if there is none yet; its id.
pub fn find_or_create(conn: &mut AnyConnection, name: &str, now: i64) -> QueryResult<i64> {
    let name = name.trim();
    if let Some(id) = categories::table
        .filter(categories::name.eq(name))
        .select(categories::id)
        .first(conn)
        .optional()?
    {
        return Ok(id);
    }
    // The same slug is the same category ("Kitchen", "kitchen") — unless the name has no ASCII
    // letters to make one from: then only the exact name is.
    let base = slug_of(name);
    if !base.is_empty()
        && let Some(id) = categories::table
            .filter(categories::slug.eq(&base))
            .select(categories::id)
            .first(conn)
            .optional()?
    {
        return Ok(id);
    }
    let base = if base.is_empty() {
        "category".to_owned()
    } else {
        base
    };
    let mut slug = base.clone();
    for n in 2.. {
        let made = insert_once(conn, |conn| {
            diesel::insert_into(categories::table)
                .values((
                    categories::slug.eq(&slug),
                    categories::name.eq(name),
                    categories::created_at.eq(now),
                ))
                .execute(conn)
        })?;
        if made {
            break;
        }
        // Another writer made it between our read and our insert: theirs is ours.
        if let Some(id) = categories::table
            .filter(categories::name.eq(name))
            .select(categories::id)
            .first(conn)
            .optional()?
        {
            return Ok(id);
        }
        slug = format!("{base}-{n}");
    }
    categories::table
        .filter(categories::slug.eq(&slug))
        .select(categories::id)
        .first(conn)
}

/// The category a form names: `None` for a blank name, else its id (made if new).
pub fn resolve(conn: &mut AnyConnection, name: &str, now: i64) -> QueryResult<Option<i64>> {
    match name.trim() {
        "" => Ok(None),
        name => find_or_create(conn, name, now).map(Some),
    }
}

/// Checks a typed category name: blank (none) or 1 to [`MAX_NAME`] characters.
pub fn validate_name(name: &str) -> Result<(), validator::ValidationError> {
    let name = name.trim();
    if name.chars().count() <= MAX_NAME && !name.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(validator::ValidationError::new("category").with_message(
            format!("Name the category in at most {MAX_NAME} characters, or leave it blank.")
                .into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::slug_of;

    #[test]
    fn slugs_are_lower_case_ascii_with_single_dashes() {
        assert_eq!(slug_of("Kitchen & Home"), "kitchen-home");
        assert_eq!(slug_of("  Bags  "), "bags");
        assert_eq!(slug_of("Café-au-lait!"), "caf-au-lait");
        assert_eq!(slug_of("日本"), "");
        assert_eq!(slug_of("A--B"), "a-b");
    }
}
