//! Product search: one query layer over each backend's full-text index — SQLite's FTS5 table
//! `product_search`, PostgreSQL's GIN index on the products' weighted `tsvector` (see the
//! `catalogue_structure` migrations).
//!
//! A shopper's words are reduced to letters and digits before they reach either engine, so no
//! query syntax (quotes, `NEAR`, `:*`, `!`) can be typed in; every word must match, as a prefix
//! ("mug" finds "mugs"), in the name or the description. Names weigh more than descriptions.
//! A query that is a variant's SKU (whole, in any case) finds its product first: what a shop
//! assistant types from a label.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::db::AnyConnection;

/// Words of a query beyond this are ignored.
pub const MAX_TERMS: usize = 8;
/// Longer words are cut to this many characters.
const MAX_TERM_CHARS: usize = 40;
/// Most matches one search reads.
const MAX_HITS: i64 = 500;

/// The words a search looks for: runs of letters and digits, lower-cased.
pub fn terms(q: &str) -> Vec<String> {
    q.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            w.chars()
                .take(MAX_TERM_CHARS)
                .collect::<String>()
                .to_lowercase()
        })
        .take(MAX_TERMS)
        .collect()
}

#[derive(QueryableByName)]
struct Hit {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Ids of the active products matching every term, best match first (the limit applies to
/// what shoppers can see, not to drafts); a product with a variant whose SKU is `q` first.
pub fn matching(conn: &mut AnyConnection, q: &str, terms: &[String]) -> QueryResult<Vec<i64>> {
    if terms.is_empty() {
        return Ok(vec![]);
    }
    let mut ids = by_sku(conn, q)?;
    for id in words(conn, terms)? {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// The product with a variant whose SKU is `q`, case aside (the page shows it only if it is
/// for sale, as every search hit).
fn by_sku(conn: &mut AnyConnection, q: &str) -> QueryResult<Vec<i64>> {
    let q = q.trim();
    if !super::variants::plausible_sku(q) {
        return Ok(vec![]);
    }
    Ok(super::variants::sku_owner(conn, q)?
        .map(|(_, product)| product)
        .into_iter()
        .collect())
}

fn words(conn: &mut AnyConnection, terms: &[String]) -> QueryResult<Vec<i64>> {
    let hits: Vec<Hit> = match conn {
        AnyConnection::Sqlite(c) => {
            // `"word"*`: a quoted prefix term; terms hold no quotes, so nothing escapes.
            let expr = terms
                .iter()
                .map(|t| format!("\"{t}\"*"))
                .collect::<Vec<_>>()
                .join(" ");
            diesel::sql_query(
                "SELECT product_search.rowid AS id FROM product_search \
                 JOIN products ON products.id = product_search.rowid \
                 WHERE product_search MATCH ? AND products.status = 'active' \
                 ORDER BY bm25(product_search, 10.0, 1.0), product_search.rowid LIMIT ?",
            )
            .bind::<Text, _>(expr)
            .bind::<BigInt, _>(MAX_HITS)
            .load(c)?
        }
        AnyConnection::Postgresql(c) => {
            let expr = terms
                .iter()
                .map(|t| format!("{t}:*"))
                .collect::<Vec<_>>()
                .join(" & ");
            diesel::sql_query(
                "SELECT id FROM products, to_tsquery('simple', $1) AS query \
                 WHERE (setweight(to_tsvector('simple', name), 'A') \
                        || setweight(to_tsvector('simple', description), 'B')) @@ query \
                   AND status = 'active' \
                 ORDER BY ts_rank(setweight(to_tsvector('simple', name), 'A') \
                        || setweight(to_tsvector('simple', description), 'B'), query) DESC, id \
                 LIMIT $2",
            )
            .bind::<Text, _>(expr)
            .bind::<BigInt, _>(MAX_HITS)
            .load(c)?
        }
    };
    Ok(hits.into_iter().map(|h| h.id).collect())
}

#[cfg(test)]
mod tests {
    use super::terms;

    #[test]
    fn terms_are_words_without_query_syntax() {
        assert_eq!(terms("Canvas  TOTE"), ["canvas", "tote"]);
        assert_eq!(terms("\"mug\" OR x:* -y"), ["mug", "or", "x", "y"]);
        assert_eq!(terms("  ---  "), Vec::<String>::new());
        assert_eq!(terms("Café crème"), ["café", "crème"]);
        assert_eq!(terms("a b c d e f g h i j").len(), super::MAX_TERMS);
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    proptest! {
        /// Whatever is typed in the search box, the words handed to FTS5 or `to_tsquery` are
        /// letters and digits only (no query syntax can get through), at most MAX_TERMS of them.
        #[test]
        fn search_terms_carry_no_query_syntax(q in ".{0,200}") {
            let terms = super::terms(&q);
            prop_assert!(terms.len() <= super::MAX_TERMS);
            for t in terms {
                prop_assert!(!t.is_empty());
                prop_assert!(t.chars().all(char::is_alphanumeric), "{:?}", t);
            }
        }
    }
}
