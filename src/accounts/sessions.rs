//! Sign-in sessions recorded on the server, so they can end there.
//!
//! Signing in creates a row keyed by the SHA-256 of a random session id; the id travels in the
//! (encrypted) session cookie. Every signed-in request checks the row: signing out ends it for
//! good (a copied cookie stops working), and so do the idle and absolute lifetimes below.
//! "Sign out everywhere" and a password reset end every row of the user.
//!
//! | role | idle | absolute |
//! |---|---|---|
//! | customer | 2 hours | 14 days |
//! | admin | 30 minutes | 12 hours |
//!
//! Idle time is measured from the last request the server saw, recorded at most once a minute
//! ([`TOUCH_EVERY_SECS`]), so the limits hold to within a minute.

use base64::Engine as _;
use diesel::prelude::*;
use rand::RngCore as _;
use sha2::{Digest, Sha256};

use super::model::User;
use crate::db::AnyConnection;
use crate::schema::user_sessions;

pub const CUSTOMER_IDLE_SECS: i64 = 2 * 3600;
pub const CUSTOMER_ABSOLUTE_SECS: i64 = 14 * 86_400;
pub const ADMIN_IDLE_SECS: i64 = 30 * 60;
pub const ADMIN_ABSOLUTE_SECS: i64 = 12 * 3600;
pub const TOUCH_EVERY_SECS: i64 = 60;

/// (idle, absolute) seconds for this user's sessions, by their current role.
pub fn lifetimes(user: &User) -> (i64, i64) {
    if user.is_admin() {
        (ADMIN_IDLE_SECS, ADMIN_ABSOLUTE_SECS)
    } else {
        (CUSTOMER_IDLE_SECS, CUSTOMER_ABSOLUTE_SECS)
    }
}

fn hash(sid: &str) -> String {
    hex::encode(Sha256::digest(sid.as_bytes()))
}

/// Records a new session for `user_id` and returns its id (the only time it exists in clear).
/// Rows that cannot be valid any more are pruned on the way.
pub fn start(conn: &mut AnyConnection, user_id: i64, now: i64) -> QueryResult<String> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let sid = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    diesel::insert_into(user_sessions::table)
        .values((
            user_sessions::id_hash.eq(hash(&sid)),
            user_sessions::user_id.eq(user_id),
            user_sessions::created_at.eq(now),
            user_sessions::last_seen_at.eq(now),
        ))
        .execute(conn)?;
    diesel::delete(
        user_sessions::table.filter(
            user_sessions::created_at
                .lt(now - CUSTOMER_ABSOLUTE_SECS)
                .or(user_sessions::ended_at.lt(now - 86_400)),
        ),
    )
    .execute(conn)?;
    Ok(sid)
}

/// Whether session `sid` of `user` is still alive at `now`; keeps it alive (idle clock) when it
/// is, and ends it when it has just expired.
pub fn check(conn: &mut AnyConnection, sid: &str, user: &User, now: i64) -> QueryResult<bool> {
    let id_hash = hash(sid);
    let row: Option<(i64, i64)> = user_sessions::table
        .find(&id_hash)
        .filter(user_sessions::user_id.eq(user.id))
        .filter(user_sessions::ended_at.is_null())
        .select((user_sessions::created_at, user_sessions::last_seen_at))
        .first(conn)
        .optional()?;
    let Some((created, last_seen)) = row else {
        return Ok(false);
    };
    let (idle, absolute) = lifetimes(user);
    if now - last_seen >= idle || now - created >= absolute {
        end(conn, sid, now)?;
        return Ok(false);
    }
    if now - last_seen >= TOUCH_EVERY_SECS {
        diesel::update(user_sessions::table.find(&id_hash))
            .set(user_sessions::last_seen_at.eq(now))
            .execute(conn)?;
    }
    Ok(true)
}

/// Ends one session (sign-out).
pub fn end(conn: &mut AnyConnection, sid: &str, now: i64) -> QueryResult<usize> {
    diesel::update(
        user_sessions::table
            .find(hash(sid))
            .filter(user_sessions::ended_at.is_null()),
    )
    .set(user_sessions::ended_at.eq(now))
    .execute(conn)
}

/// Ends every session of a user (sign out everywhere, password reset).
pub fn end_all(conn: &mut AnyConnection, user_id: i64, now: i64) -> QueryResult<usize> {
    diesel::update(
        user_sessions::table
            .filter(user_sessions::user_id.eq(user_id))
            .filter(user_sessions::ended_at.is_null()),
    )
    .set(user_sessions::ended_at.eq(now))
    .execute(conn)
}
