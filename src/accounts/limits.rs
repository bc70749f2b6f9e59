//! Limits on the account forms, checked before any password is hashed.
//!
//! **Sign-in** counts failures over [`WINDOW_SECS`] three ways, each with a delay that doubles
//! with every failure past its free allowance:
//! - per (client address, e-mail): nobody can lock another person out from a different address;
//! - per client address (any e-mails): one address cannot try many accounts;
//! - per account (any addresses): a distributed guesser is slowed too, but only addresses that
//!   have failed recently are held back, and never for more than [`ACCOUNT_MAX_DELAY_SECS`]. The
//!   account's owner, signing in from an address with no recent failures, is never refused; one
//!   who mistyped during an attack waits a few minutes at most. A lockout anyone could trigger
//!   would be a denial of service against a chosen customer; a capped delay for failing
//!   addresses only costs the attacker one guess per address per window.
//!
//! The check and the attempt's record are one write transaction ([`begin_sign_in`]): the attempt
//! is recorded as a failure *before* the password is checked and turned into a success after,
//! so parallel guesses each see the ones before them and at most the free allowance get a real
//! password check. On SQLite the transaction begins IMMEDIATE (writers queue); on PostgreSQL it
//! takes advisory locks on the address and the e-mail.
//!
//! **Register, forgot-password and reset** count requests per address and per e-mail or account
//! in `rate_limit_hits` with [`hit`]: fixed allowances per sliding window.

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use sha2::{Digest, Sha256};

use super::model::{self, User};
use crate::db::AnyConnection;
use crate::schema::{login_attempts, rate_limit_hits};

/// Failures are counted over this window.
pub const WINDOW_SECS: i64 = 15 * 60;
/// Free failures per (address, e-mail) before delays start.
pub const PAIR_FREE: i64 = 5;
/// Free failures per address (any e-mails) before delays start.
pub const ADDRESS_FREE: i64 = 20;
const MAX_DELAY_SECS: i64 = 60 * 60;
/// Free failures per account (any addresses) before failing addresses are held back.
pub const ACCOUNT_FREE: i64 = 10;
/// The account delay starts here and doubles with each failure...
pub const ACCOUNT_BASE_DELAY_SECS: i64 = 30;
/// ...up to this.
pub const ACCOUNT_MAX_DELAY_SECS: i64 = 5 * 60;

/// Serialises the limit checks of one key across connections and instances (PostgreSQL; on
/// SQLite the IMMEDIATE write transaction already does). Call inside a write transaction; the
/// lock ends with it. Take keys in a fixed order (address before e-mail) to avoid deadlocks.
pub fn lock(conn: &mut AnyConnection, key: &str) -> QueryResult<()> {
    if let AnyConnection::Postgresql(pg) = conn {
        let digest = Sha256::digest(key.as_bytes());
        let id = i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
        diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
            .bind::<BigInt, _>(id)
            .execute(pg)?;
    }
    Ok(())
}

/// Seconds the client must still wait before the next sign-in attempt, if any.
pub fn wait_needed(
    conn: &mut AnyConnection,
    ip: &str,
    email: &str,
    now: i64,
) -> QueryResult<Option<i64>> {
    let since = now - WINDOW_SECS;
    let failures = || {
        login_attempts::table
            .filter(login_attempts::succeeded.eq(false))
            .filter(login_attempts::created_at.gt(since))
            .select(login_attempts::created_at)
    };
    let pair: Vec<i64> = failures()
        .filter(login_attempts::client_ip.eq(ip))
        .filter(login_attempts::email_normalized.eq(email))
        .load(conn)?;
    let address: Vec<i64> = failures()
        .filter(login_attempts::client_ip.eq(ip))
        .load(conn)?;
    let account: Vec<i64> = if address.is_empty() {
        // An address with no recent failures is never held back by the account's failures.
        Vec::new()
    } else {
        failures()
            .filter(login_attempts::email_normalized.eq(email))
            .load(conn)?
    };
    let wait = |failures: &[i64], free: i64, base: i64, max: i64| -> Option<i64> {
        let n = failures.len() as i64;
        if n < free {
            return None;
        }
        let delay = (base << (n - free).min(20)).min(max);
        let last = failures.iter().copied().max().unwrap_or(now);
        Some(last + delay - now).filter(|w| *w > 0)
    };
    Ok([
        wait(&pair, PAIR_FREE, 60, MAX_DELAY_SECS),
        wait(&address, ADDRESS_FREE, 60, MAX_DELAY_SECS),
        wait(
            &account,
            ACCOUNT_FREE,
            ACCOUNT_BASE_DELAY_SECS,
            ACCOUNT_MAX_DELAY_SECS,
        ),
    ]
    .into_iter()
    .flatten()
    .max())
}

/// A sign-in attempt that may go on to check the password.
pub struct Attempt {
    /// The attempt's row, recorded as a failure until [`finish_sign_in`] says otherwise.
    pub id: i64,
    pub user: Option<User>,
}

/// Checks the limits and, when they allow it, records the attempt as a failure, in one write
/// transaction (call inside `write_tx`). `Err(seconds)`: wait that long first.
pub fn begin_sign_in(
    conn: &mut AnyConnection,
    ip: &str,
    email: &str,
    now: i64,
) -> QueryResult<Result<Attempt, i64>> {
    lock(conn, &format!("sign-in address {ip}"))?;
    lock(conn, &format!("sign-in e-mail {email}"))?;
    if let Some(wait) = wait_needed(conn, ip, email, now)? {
        return Ok(Err(wait));
    }
    let id = diesel::insert_into(login_attempts::table)
        .values((
            login_attempts::client_ip.eq(ip),
            login_attempts::email_normalized.eq(email),
            login_attempts::succeeded.eq(false),
            login_attempts::created_at.eq(now),
        ))
        .returning(login_attempts::id)
        .get_result::<i64>(conn)?;
    // Old rows only slow the counts down.
    diesel::delete(login_attempts::table.filter(login_attempts::created_at.lt(now - 24 * 3600)))
        .execute(conn)?;
    Ok(Ok(Attempt {
        id,
        user: model::by_email(conn, email)?,
    }))
}

/// What the password check said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    Failed,
    /// No check happened (the shop was too busy): the attempt does not count.
    NotChecked,
}

pub fn finish_sign_in(conn: &mut AnyConnection, id: i64, outcome: Outcome) -> QueryResult<()> {
    let row = login_attempts::table.find(id);
    match outcome {
        Outcome::Succeeded => diesel::update(row)
            .set(login_attempts::succeeded.eq(true))
            .execute(conn)?,
        Outcome::Failed => 0,
        Outcome::NotChecked => diesel::delete(row).execute(conn)?,
    };
    Ok(())
}

/// An allowance: at most `max` counted requests per `window` seconds for one bucket.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub kind: &'static str,
    pub max: i64,
    pub window: i64,
}

/// Registrations per client address (that passed validation).
pub const REGISTER_PER_ADDRESS: Limit = Limit {
    kind: "register-address",
    max: 10,
    window: 3600,
};
/// Registrations per e-mail address.
pub const REGISTER_PER_EMAIL: Limit = Limit {
    kind: "register-email",
    max: 5,
    window: 3600,
};
/// "That address has an account" answers per client address: past it, every registration from
/// the address waits, so nobody learns more than a few addresses an hour that way.
pub const REGISTER_TAKEN_PER_ADDRESS: Limit = Limit {
    kind: "register-taken",
    max: 3,
    window: 3600,
};
/// Forgot-password requests per client address.
pub const FORGOT_PER_ADDRESS: Limit = Limit {
    kind: "forgot-address",
    max: 10,
    window: 3600,
};
/// Reset mails per e-mail address: one every few minutes, whatever the number of requests.
pub const RESET_MAIL_PER_EMAIL: Limit = Limit {
    kind: "reset-mail",
    max: 1,
    window: 5 * 60,
};
/// Password-reset submissions per client address.
pub const RESET_PER_ADDRESS: Limit = Limit {
    kind: "reset-address",
    max: 10,
    window: 3600,
};
/// Password resets per account.
pub const RESET_PER_ACCOUNT: Limit = Limit {
    kind: "reset-account",
    max: 5,
    window: 3600,
};

/// Back-in-stock sign-ups per client address: enough for a shopper, too few to sign up other
/// people's addresses by the thousand.
pub const STOCK_ALERTS_PER_ADDRESS: Limit = Limit {
    kind: "stock-alert-address",
    max: 20,
    window: 3600,
};

/// Seconds until `bucket` is under `limit` again, or None when it is under now.
pub fn over(
    conn: &mut AnyConnection,
    limit: &Limit,
    bucket: &str,
    now: i64,
) -> QueryResult<Option<i64>> {
    let since = now - limit.window;
    let mut hits: Vec<i64> = rate_limit_hits::table
        .filter(rate_limit_hits::kind.eq(limit.kind))
        .filter(rate_limit_hits::bucket.eq(bucket))
        .filter(rate_limit_hits::created_at.gt(since))
        .select(rate_limit_hits::created_at)
        .load(conn)?;
    let n = hits.len() as i64;
    if n < limit.max {
        return Ok(None);
    }
    // Under again when enough of the oldest have left the window.
    hits.sort_unstable();
    let freeing = hits[(n - limit.max) as usize];
    Ok(Some((freeing + limit.window - now).max(1)))
}

/// Counts one request against `bucket`.
pub fn note(conn: &mut AnyConnection, limit: &Limit, bucket: &str, now: i64) -> QueryResult<()> {
    diesel::insert_into(rate_limit_hits::table)
        .values((
            rate_limit_hits::kind.eq(limit.kind),
            rate_limit_hits::bucket.eq(bucket),
            rate_limit_hits::created_at.eq(now),
        ))
        .execute(conn)?;
    diesel::delete(rate_limit_hits::table.filter(rate_limit_hits::created_at.lt(now - 24 * 3600)))
        .execute(conn)?;
    Ok(())
}

/// Checks and counts in one go (call inside `write_tx`): `Err(seconds)` when over the limit,
/// in which case nothing is counted.
pub fn hit(
    conn: &mut AnyConnection,
    limit: &Limit,
    bucket: &str,
    now: i64,
) -> QueryResult<Result<(), i64>> {
    lock(conn, &format!("{} {bucket}", limit.kind))?;
    if let Some(wait) = over(conn, limit, bucket, now)? {
        return Ok(Err(wait));
    }
    note(conn, limit, bucket, now)?;
    Ok(Ok(()))
}

/// "5 minutes", "1 minute": a wait as the pages say it.
pub fn minutes(secs: i64) -> String {
    let minutes = (secs + 59) / 60;
    let unit = if minutes == 1 { "minute" } else { "minutes" };
    format!("{minutes} {unit}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn waits_are_said_in_whole_minutes_rounded_up() {
        assert_eq!(super::minutes(1), "1 minute");
        assert_eq!(super::minutes(60), "1 minute");
        assert_eq!(super::minutes(61), "2 minutes");
    }
}
