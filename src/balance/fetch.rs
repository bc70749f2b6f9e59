//! The background job that reads queued balance transactions from Stripe. Safe on every
//! instance at once: each fetch is claimed with a compare-and-set on its attempt count.

use diesel::prelude::*;

use crate::db::{self, DbError};
use crate::error::SyncError;
use crate::payments::PaymentError;
use crate::payments::balance::{self, Txn};
use crate::schema::{balance_fetches, orders};
use crate::state::AppState;

/// Fetches one pass reads, at most.
pub const BATCH: i64 = 50;

/// Attempts before a fetch is given up (about two days at the longest back-off): a charge with
/// no balance transaction by then is not going to get one.
pub const MAX_ATTEMPTS: i64 = 48;

/// Reads the due fetches (at most `limit`); returns how many were stored.
pub async fn run_due(state: &AppState, limit: i64) -> Result<usize, SyncError> {
    let now = state.clock.unix();
    let due: Vec<(String, i64, i64)> = db::run(&state.pool, move |conn| {
        balance_fetches::table
            .filter(balance_fetches::next_at.le(now))
            .order((
                balance_fetches::next_at.asc(),
                balance_fetches::created_at.asc(),
            ))
            .limit(limit)
            .select((
                balance_fetches::source,
                balance_fetches::order_id,
                balance_fetches::attempts,
            ))
            .load(conn)
            .map_err(DbError::from)
    })
    .await?;
    let mut stored = 0;
    for (source, order_id, seen) in due {
        let claimed = {
            let source = source.clone();
            db::run(&state.pool, move |conn| {
                diesel::update(
                    balance_fetches::table
                        .filter(balance_fetches::source.eq(&source))
                        .filter(balance_fetches::attempts.eq(seen)),
                )
                .set((
                    balance_fetches::attempts.eq(seen + 1),
                    balance_fetches::next_at.eq(now + crate::jobs::backoff(seen + 1)),
                ))
                .execute(conn)
                .map_err(DbError::from)
            })
            .await?
        };
        if claimed == 0 {
            continue;
        }
        let read = if source.starts_with("re_") {
            balance::of_refund(&state.stripe, &source)
                .await
                .map(|t| Some((t, None)))
        } else {
            balance::of_intent(&state.stripe, &source)
                .await
                .map(|c| c.map(|c| (vec![c.txn], c.method)))
        };
        match read {
            Ok(Some((txns, method))) if !txns.is_empty() => {
                store(state, &source, order_id, seen + 1, txns, method).await?;
                stored += 1;
            }
            // Not settled yet: tried again after the back-off, for a while.
            Ok(_) if seen + 1 >= MAX_ATTEMPTS => {
                tracing::warn!(%source, attempts = seen + 1, "balance transactions: none after every attempt; given up");
                give_up(state, &source).await?;
            }
            Ok(_) => note(state, &source, "no balance transaction yet").await?,
            Err(PaymentError::Refused { status: 404, .. }) => {
                // Made on another account (a shop moved from test to live keys): never readable.
                tracing::warn!(%source, "balance transactions: Stripe does not know the object; not read");
                give_up(state, &source).await?;
            }
            Err(e) => {
                tracing::warn!(%source, error = %crate::error::Report(&e), "balance transactions: could not read");
                note(state, &source, &e.to_string()).await?;
            }
        }
    }
    Ok(stored)
}

/// Stores what was read and takes the fetch off the queue, unless it was queued again while
/// being read (its attempt count reset): then it is read once more.
async fn store(
    state: &AppState,
    source: &str,
    order_id: i64,
    claimed: i64,
    txns: Vec<Txn>,
    method: Option<String>,
) -> Result<(), SyncError> {
    let now = state.clock.unix();
    let source = source.to_owned();
    db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| {
            super::record(conn, order_id, &txns, now)?;
            if method.is_some() {
                diesel::update(orders::table.find(order_id))
                    .set(orders::payment_method_type.eq(&method))
                    .execute(conn)?;
            }
            diesel::delete(
                balance_fetches::table
                    .filter(balance_fetches::source.eq(&source))
                    .filter(balance_fetches::attempts.eq(claimed)),
            )
            .execute(conn)
        })
        .map_err(DbError::from)
    })
    .await?;
    Ok(())
}

async fn give_up(state: &AppState, source: &str) -> Result<(), SyncError> {
    let source = source.to_owned();
    db::run(&state.pool, move |conn| {
        diesel::delete(balance_fetches::table.find(&source))
            .execute(conn)
            .map_err(DbError::from)
    })
    .await?;
    Ok(())
}

async fn note(state: &AppState, source: &str, error: &str) -> Result<(), SyncError> {
    let (source, error) = (source.to_owned(), error.to_owned());
    db::run(&state.pool, move |conn| {
        diesel::update(balance_fetches::table.find(&source))
            .set(balance_fetches::last_error.eq(error))
            .execute(conn)
            .map_err(DbError::from)
    })
    .await?;
    Ok(())
}
