//! Sign-in attempt limits, per client address and per (client address, e-mail) pair, with
//! delays that grow with each failure. Counting per pair means nobody can lock another person
//! out from a different address; counting per address stops one address trying many e-mails.

use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::schema::login_attempts;

/// Failures are counted over this window.
pub const WINDOW_SECS: i64 = 15 * 60;
/// Free failures per (address, e-mail) before delays start.
pub const PAIR_FREE: i64 = 5;
/// Free failures per address (any e-mails) before delays start.
pub const ADDRESS_FREE: i64 = 20;
const MAX_DELAY_SECS: i64 = 60 * 60;

/// Seconds the client must still wait before the next attempt, if any.
pub fn wait_needed(
    conn: &mut AnyConnection,
    ip: &str,
    email: &str,
    now: i64,
) -> QueryResult<Option<i64>> {
    let since = now - WINDOW_SECS;
    let pair: Vec<i64> = login_attempts::table
        .filter(login_attempts::client_ip.eq(ip))
        .filter(login_attempts::email_normalized.eq(email))
        .filter(login_attempts::succeeded.eq(false))
        .filter(login_attempts::created_at.gt(since))
        .select(login_attempts::created_at)
        .load(conn)?;
    let address: Vec<i64> = login_attempts::table
        .filter(login_attempts::client_ip.eq(ip))
        .filter(login_attempts::succeeded.eq(false))
        .filter(login_attempts::created_at.gt(since))
        .select(login_attempts::created_at)
        .load(conn)?;
    let wait = |failures: &[i64], free: i64| -> Option<i64> {
        let n = failures.len() as i64;
        if n < free {
            return None;
        }
        let delay = (60i64 << (n - free).min(10)).min(MAX_DELAY_SECS);
        let last = failures.iter().copied().max().unwrap_or(now);
        Some(last + delay - now).filter(|w| *w > 0)
    };
    Ok(
        match (wait(&pair, PAIR_FREE), wait(&address, ADDRESS_FREE)) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        },
    )
}

pub fn record(
    conn: &mut AnyConnection,
    ip: &str,
    email: &str,
    succeeded: bool,
    now: i64,
) -> QueryResult<()> {
    diesel::insert_into(login_attempts::table)
        .values((
            login_attempts::client_ip.eq(ip),
            login_attempts::email_normalized.eq(email),
            login_attempts::succeeded.eq(succeeded),
            login_attempts::created_at.eq(now),
        ))
        .execute(conn)?;
    // Old rows only slow the counts down.
    diesel::delete(login_attempts::table.filter(login_attempts::created_at.lt(now - 24 * 3600)))
        .execute(conn)?;
    Ok(())
}
