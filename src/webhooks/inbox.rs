//! The events inbox's reading side: the ledger (events applied or ignored), the failures not
//! yet applied, and the orders flagged by an event, with the filters of `/admin/events`.

use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::schema::{orders, stripe_event_failures, stripe_events};

/// What became of an event, as the inbox filters it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// Its effects are committed (or it told us something already known).
    Applied,
    /// Delivered more than once (the later copies changed nothing).
    Duplicate,
    /// A type we don't act on, or an object that is not ours.
    Ignored,
    /// Processing failed; not applied yet.
    Failed,
    /// Applied, and its order needs an admin's look.
    Flagged,
}

impl Category {
    pub const ALL: [Category; 5] = [
        Category::Applied,
        Category::Duplicate,
        Category::Ignored,
        Category::Failed,
        Category::Flagged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Applied => "applied",
            Category::Duplicate => "duplicate",
            Category::Ignored => "ignored",
            Category::Failed => "failed",
            Category::Flagged => "flagged",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// The ledger's outcome for a type we don't act on; an object that is not ours is recorded as
/// `unknown session`, `unknown refund`… (see [`is_ignored`]).
const IGNORED: &str = "ignored";
const NOT_OURS: &str = "unknown %";

/// Whether a ledger outcome means "nothing of ours".
pub fn is_ignored(outcome: &str) -> bool {
    outcome == IGNORED || outcome.starts_with("unknown ")
}

/// One line of the inbox.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: String,
    pub type_: String,
    pub created: i64,
    /// When it was applied; for a failure, when it last failed.
    pub at: i64,
    pub object_id: Option<String>,
    pub order_number: Option<String>,
    /// The ledger's outcome ("paid", "refund succeeded", "ignored"…), or the failure's reason.
    pub outcome: String,
    pub category: Category,
    pub deliveries: i64,
    /// For a failure: how many times it failed.
    pub attempts: i64,
}

#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub type_: Option<String>,
    pub category: Option<Category>,
    pub object_id: Option<String>,
}

type Ledger = (
    String,
    String,
    i64,
    i64,
    Option<String>,
    i64,
    String,
    Option<String>,
    Option<String>,
);

/// Ledger rows matching `filter`, newest first: `limit` from `offset`. (Failures are listed by
/// [`failures`].)
pub fn ledger(
    conn: &mut AnyConnection,
    filter: &Filter,
    offset: i64,
    limit: i64,
) -> QueryResult<Vec<Row>> {
    let mut q = stripe_events::table
        .left_join(orders::table.on(orders::id.nullable().eq(stripe_events::order_id)))
        .into_boxed();
    if let Some(t) = &filter.type_ {
        q = q.filter(stripe_events::type_.eq(t.clone()));
    }
    if let Some(o) = &filter.object_id {
        q = q.filter(stripe_events::object_id.eq(o.clone()));
    }
    match filter.category {
        None => {}
        Some(Category::Applied) => {
            q = q
                .filter(stripe_events::outcome.ne(IGNORED))
                .filter(stripe_events::outcome.not_like(NOT_OURS))
                .filter(orders::flagged.is_null())
        }
        Some(Category::Duplicate) => q = q.filter(stripe_events::deliveries.gt(1)),
        Some(Category::Ignored) => {
            q = q.filter(
                stripe_events::outcome
                    .eq(IGNORED)
                    .or(stripe_events::outcome.like(NOT_OURS)),
            )
        }
        Some(Category::Flagged) => q = q.filter(orders::flagged.is_not_null()),
        // Failures are not in the ledger.
        Some(Category::Failed) => return Ok(vec![]),
    }
    let rows: Vec<Ledger> = q
        .order((stripe_events::processed_at.desc(), stripe_events::id.desc()))
        .offset(offset)
        .limit(limit)
        .select((
            stripe_events::id,
            stripe_events::type_,
            stripe_events::created,
            stripe_events::processed_at,
            stripe_events::object_id,
            stripe_events::deliveries,
            stripe_events::outcome,
            orders::number.nullable(),
            orders::flagged.nullable(),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(id, type_, created, at, object_id, deliveries, outcome, number, flagged)| {
                let category = if flagged.is_some() {
                    Category::Flagged
                } else if is_ignored(&outcome) {
                    Category::Ignored
                } else if deliveries > 1 {
                    Category::Duplicate
                } else {
                    Category::Applied
                };
                Row {
                    id,
                    type_,
                    created,
                    at,
                    object_id,
                    order_number: number,
                    outcome,
                    category,
                    deliveries,
                    attempts: 0,
                }
            },
        )
        .collect())
}

/// (event id, type, created, last failed, object id, error, attempts)
type Failure = (String, String, i64, i64, Option<String>, String, i64);

/// Events whose processing failed and that nothing has applied since, newest failure first.
pub fn failures(conn: &mut AnyConnection, filter: &Filter) -> QueryResult<Vec<Row>> {
    if filter.category.is_some_and(|c| c != Category::Failed) {
        return Ok(vec![]);
    }
    // A note another instance's success raced past is not a failure any more.
    let mut q = stripe_event_failures::table
        .filter(diesel::dsl::not(diesel::dsl::exists(
            stripe_events::table.filter(stripe_events::id.eq(stripe_event_failures::event_id)),
        )))
        .into_boxed();
    if let Some(t) = &filter.type_ {
        q = q.filter(stripe_event_failures::type_.eq(t.clone()));
    }
    if let Some(o) = &filter.object_id {
        q = q.filter(stripe_event_failures::object_id.eq(o.clone()));
    }
    let rows: Vec<Failure> = q
        .order(stripe_event_failures::last_failed_at.desc())
        .limit(200)
        .select((
            stripe_event_failures::event_id,
            stripe_event_failures::type_,
            stripe_event_failures::created,
            stripe_event_failures::last_failed_at,
            stripe_event_failures::object_id,
            stripe_event_failures::error,
            stripe_event_failures::attempts,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, type_, created, at, object_id, error, attempts)| Row {
            id,
            type_,
            created,
            at,
            object_id,
            order_number: None,
            outcome: error,
            category: Category::Failed,
            deliveries: 0,
            attempts,
        })
        .collect())
}

/// Orders an event flagged for an admin, with the reason, newest first.
pub fn flagged_orders(conn: &mut AnyConnection) -> QueryResult<Vec<(String, String)>> {
    orders::table
        .filter(orders::flagged.is_not_null())
        .order(orders::updated_at.desc())
        .limit(50)
        .select((orders::number, orders::flagged.assume_not_null()))
        .load(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_not_ours_and_types_we_ignore_are_ignored() {
        for outcome in [
            "ignored",
            "unknown session",
            "unknown refund",
            "unknown dispute",
        ] {
            assert!(is_ignored(outcome), "{outcome}");
        }
        for outcome in [
            "paid",
            "expired",
            "invoice paid",
            "disputed",
            "payment failed",
        ] {
            assert!(!is_ignored(outcome), "{outcome}");
        }
    }

    #[test]
    fn categories_read_back() {
        for c in Category::ALL {
            assert_eq!(Category::parse(c.as_str()), Some(c));
        }
        assert_eq!(Category::parse("nonsense"), None);
    }
}
