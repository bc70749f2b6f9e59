//! E-mail: queued in the `outbox` table inside the transaction of the change it reports
//! (exactly once per event, by a unique key), sent by a background worker through SMTP
//! (`SMTP_URL`) or, without it, delivered to the local mailbox shown at `/admin/mail`.
//! Delivery is at least once, with a Message-ID that stays the same across retries.

pub mod messages;
pub mod outbox;
pub mod routes;
pub mod worker;
