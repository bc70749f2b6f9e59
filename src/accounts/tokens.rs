//! Single-use tokens for e-mailed links. The link carries 32 random bytes; only their SHA-256 is
//! stored, so a leaked database cannot be used to verify or reset anyone's account. Tokens are
//! issued by the mail worker when it sends the mail (`mail::worker`), never stored in clear in
//! the outbox; expired ones are pruned whenever a new one is issued.

use base64::Engine as _;
use diesel::prelude::*;
use rand::RngCore as _;
use sha2::{Digest, Sha256};

use crate::db::AnyConnection;
use crate::schema::email_tokens;

pub const VERIFY: &str = "verify";
pub const RESET: &str = "reset";
pub const VERIFY_TTL: i64 = 7 * 86_400;
pub const RESET_TTL: i64 = 3600;

/// The purpose named by an outbox row, with its lifetime.
pub fn purpose_of(name: &str) -> Option<(&'static str, i64)> {
    match name {
        VERIFY => Some((VERIFY, VERIFY_TTL)),
        RESET => Some((RESET, RESET_TTL)),
        _ => None,
    }
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Creates a token and returns it (the only time it exists in clear).
pub fn issue(
    conn: &mut AnyConnection,
    user_id: i64,
    purpose: &str,
    ttl: i64,
    now: i64,
) -> QueryResult<String> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    diesel::insert_into(email_tokens::table)
        .values((
            email_tokens::token_hash.eq(hash(&token)),
            email_tokens::user_id.eq(user_id),
            email_tokens::purpose.eq(purpose),
            email_tokens::expires_at.eq(now + ttl),
            email_tokens::created_at.eq(now),
        ))
        .execute(conn)?;
    diesel::delete(email_tokens::table.filter(email_tokens::expires_at.le(now))).execute(conn)?;
    Ok(token)
}

/// Whether the token is valid now (without using it up): for showing the form.
pub fn peek(
    conn: &mut AnyConnection,
    token: &str,
    purpose: &str,
    now: i64,
) -> QueryResult<Option<i64>> {
    email_tokens::table
        .filter(email_tokens::token_hash.eq(hash(token)))
        .filter(email_tokens::purpose.eq(purpose))
        .filter(email_tokens::used_at.is_null())
        .filter(email_tokens::expires_at.gt(now))
        .select(email_tokens::user_id)
        .first(conn)
        .optional()
}

/// Uses the token up, once: returns its user. Call inside the transaction that acts on it.
pub fn consume(
    conn: &mut AnyConnection,
    token: &str,
    purpose: &str,
    now: i64,
) -> QueryResult<Option<i64>> {
    let Some(user_id) = peek(conn, token, purpose, now)? else {
        return Ok(None);
    };
    let used = diesel::update(
        email_tokens::table
            .filter(email_tokens::token_hash.eq(hash(token)))
            .filter(email_tokens::used_at.is_null()),
    )
    .set(email_tokens::used_at.eq(now))
    .execute(conn)?;
    Ok((used == 1).then_some(user_id))
}

/// Every other open token of that purpose for the user stops working too.
pub fn revoke_all(
    conn: &mut AnyConnection,
    user_id: i64,
    purpose: &str,
    now: i64,
) -> QueryResult<usize> {
    diesel::update(
        email_tokens::table
            .filter(email_tokens::user_id.eq(user_id))
            .filter(email_tokens::purpose.eq(purpose))
            .filter(email_tokens::used_at.is_null()),
    )
    .set(email_tokens::used_at.eq(now))
    .execute(conn)
}

/// Plausible token text (cheap check before any query).
pub fn plausible(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
