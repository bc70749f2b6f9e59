//! Queueing mail.

use diesel::prelude::*;
use sha2::{Digest, Sha256};

use crate::db::AnyConnection;
use crate::schema::outbox;

/// A message to queue.
#[derive(Debug, Clone)]
pub struct Mail {
    pub kind: &'static str,
    /// The event this mail reports (e.g. `order-paid-SF-…`): queued once per key.
    pub dedupe_key: String,
    pub recipient: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub order_id: Option<i64>,
    /// Account mails: whose link it is. The bodies hold [`super::messages::TOKEN_PLACEHOLDER`]
    /// where the token goes; the worker issues the token when it sends the mail.
    pub user_id: Option<i64>,
    /// Account mails: what the link does (`accounts::tokens::VERIFY`, `RESET`).
    pub link_purpose: Option<&'static str>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = outbox)]
pub struct QueuedMail {
    pub id: i64,
    pub kind: String,
    pub dedupe_key: String,
    pub recipient: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    pub message_id: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub sent_at: Option<i64>,
    pub order_id: Option<i64>,
    pub created_at: i64,
    pub user_id: Option<i64>,
    pub link_purpose: Option<String>,
}

/// A Message-ID derived from the event, so every retry (and any re-queue) carries the same one.
pub fn message_id(dedupe_key: &str) -> String {
    let digest = hex::encode(Sha256::digest(dedupe_key.as_bytes()));
    format!("<{}@storefront.mail>", &digest[..32])
}

/// Queues `mail` unless one with its key was queued before. Call inside the transaction of the
/// change the mail reports. Returns whether it was queued now.
pub fn enqueue(conn: &mut AnyConnection, mail: &Mail, now: i64) -> QueryResult<bool> {
    crate::db::insert_once(conn, |conn| {
        diesel::insert_into(outbox::table)
            .values((
                outbox::kind.eq(mail.kind),
                outbox::dedupe_key.eq(&mail.dedupe_key),
                outbox::recipient.eq(&mail.recipient),
                outbox::subject.eq(&mail.subject),
                outbox::body_text.eq(&mail.text),
                outbox::body_html.eq(&mail.html),
                outbox::message_id.eq(message_id(&mail.dedupe_key)),
                outbox::status.eq("queued"),
                outbox::next_attempt_at.eq(now),
                outbox::order_id.eq(mail.order_id),
                outbox::created_at.eq(now),
                outbox::user_id.eq(mail.user_id),
                outbox::link_purpose.eq(mail.link_purpose),
            ))
            .execute(conn)
    })
}

/// Newest first, for the local mailbox page.
pub fn recent(conn: &mut AnyConnection, limit: i64) -> QueryResult<Vec<QueuedMail>> {
    outbox::table
        .order(outbox::id.desc())
        .limit(limit)
        .select(QueuedMail::as_select())
        .load(conn)
}

/// Mails still to be sent.
pub fn backlog(conn: &mut AnyConnection) -> QueryResult<i64> {
    outbox::table
        .filter(outbox::status.eq("queued"))
        .count()
        .get_result(conn)
}
