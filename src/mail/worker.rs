//! Sending queued mail: SMTP when `SMTP_URL` is set, else the local mailbox (the outbox rows
//! themselves, shown at `/admin/mail`). Failures are retried with growing delays.
//!
//! Account mails (verification, password reset) are queued without their link's token: the
//! worker issues the token as it sends the mail and stores only its hash, so neither the outbox
//! nor `/admin/mail` ever holds a usable link (a retry issues a fresh token). Where the link may
//! go is [`link_delivery`]'s rule: by SMTP always; to the local mailbox only in demo mode, where
//! it is a development inbox kept in memory ([`DevInbox`]); with a Stripe key and no `SMTP_URL`
//! never — the mail is kept, without a link, marked failed.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use actix_web::web;
use diesel::prelude::*;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::messages::with_token;
use super::outbox::QueuedMail;
use crate::accounts::tokens;
use crate::config::ConfigError;
use crate::db::{self, DbError};
use crate::schema::outbox;
use crate::state::AppState;

/// Give up after this many attempts (the last ones a day apart).
pub const MAX_ATTEMPTS: i64 = 10;

pub enum Transport {
    /// No SMTP: mails stay in the outbox, readable by admins at `/admin/mail`.
    Local,
    Smtp(Box<AsyncSmtpTransport<Tokio1Executor>>),
}

impl Transport {
    pub fn from_config(smtp_url: Option<&str>) -> Result<Self, ConfigError> {
        match smtp_url {
            None => Ok(Transport::Local),
            Some(url) => AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                .map(|b| Transport::Smtp(Box::new(b.timeout(Some(Duration::from_secs(20))).build())))
                .map_err(|e| ConfigError::new("SMTP_URL", format!("not a usable SMTP URL ({e}); e.g. smtp://user:pass@host:587?tls=required"))),
        }
    }

    pub fn is_local(&self) -> bool {
        matches!(self, Transport::Local)
    }
}

/// Whether an account mail's link may be issued and delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkDelivery {
    /// Issue the token and deliver the link (SMTP; the demo's development inbox).
    Issue,
    /// Keep the mail without a link: a local mailbox outside demo mode is read by admins, who
    /// must never be able to take over a customer's account from it.
    Withhold,
}

pub fn link_delivery(local: bool, demo: bool) -> LinkDelivery {
    if local && !demo {
        LinkDelivery::Withhold
    } else {
        LinkDelivery::Issue
    }
}

/// Why an account mail without SMTP is not delivered (shown at `/admin/mail`).
pub const WITHHELD: &str = "not sent: account links go out only by SMTP (set SMTP_URL); a local mailbox shows them in demo mode only";

/// Demo mode's development inbox: account mails as delivered, links included, for
/// `/admin/mail`. In memory only (the newest [`DevInbox::KEEP`]), so the database never holds a
/// usable link.
#[derive(Debug, Default)]
pub struct DevInbox {
    delivered: Mutex<VecDeque<(i64, String)>>,
}

impl DevInbox {
    pub const KEEP: usize = 200;

    pub fn put(&self, outbox_id: i64, text: String) {
        let mut d = self.delivered.lock().unwrap_or_else(|p| p.into_inner());
        d.push_back((outbox_id, text));
        while d.len() > Self::KEEP {
            d.pop_front();
        }
    }

    /// The text as delivered, for an outbox row.
    pub fn get(&self, outbox_id: i64) -> Option<String> {
        let d = self.delivered.lock().unwrap_or_else(|p| p.into_inner());
        d.iter()
            .rev()
            .find(|(id, _)| *id == outbox_id)
            .map(|(_, t)| t.clone())
    }
}

/// How long a claimed mail is left to its claimer before any instance may try it again: longer
/// than a send can take (the SMTP timeout is 20 seconds), short enough that a receipt claimed
/// by an instance that died mid-send goes out a minute later from another.
pub const CLAIM_SECS: i64 = 60;

/// Claims a due mail (seen with `next_attempt_at = seen`) for this round, so another instance
/// (or a slow earlier round) does not send it at the same time; 1 when this caller has it.
pub fn claim(
    conn: &mut crate::db::AnyConnection,
    id: i64,
    seen: i64,
    now: i64,
) -> diesel::QueryResult<usize> {
    diesel::update(
        outbox::table
            .filter(outbox::id.eq(id))
            .filter(outbox::next_attempt_at.eq(seen)),
    )
    .set(outbox::next_attempt_at.eq(now + CLAIM_SECS))
    .execute(conn)
}

fn backoff(attempts: i64) -> i64 {
    (30i64 << attempts.clamp(0, 12)).min(24 * 3600)
}

/// Sends what is due now. Returns how many mails were sent.
pub async fn run_once(state: &AppState) -> Result<usize, DbError> {
    let now = state.clock.unix();
    let due: Vec<QueuedMail> = db::run(&state.pool, move |conn| {
        outbox::table
            .filter(outbox::status.eq("queued"))
            .filter(outbox::next_attempt_at.le(now))
            .order(outbox::id.asc())
            .limit(50)
            .select(QueuedMail::as_select())
            .load(conn)
            .map_err(DbError::from)
    })
    .await?;
    let mut sent = 0;
    for mail in due {
        let (id, seen) = (mail.id, mail.next_attempt_at);
        // The lease runs from the claim, not from the round's start: a round slowed by earlier
        // sends must not hand out a lease that has already run out.
        let claimed_at = state.clock.unix();
        let claimed = db::run(&state.pool, move |conn| {
            claim(conn, id, seen, claimed_at).map_err(DbError::from)
        })
        .await?;
        if claimed == 0 {
            continue;
        }
        let result = send(state, &mail, now).await;
        let attempts = mail.attempts + 1;
        // The outbox keeps the failure's text (with its causes) for the admin's mailbox page.
        let outcome = match &result {
            Ok(Sent::Delivered) => Ok(()),
            Ok(Sent::Withheld) => Err((WITHHELD.to_owned(), true)),
            Err(e) => Err((crate::error::Report(e).to_string(), false)),
        };
        db::run(&state.pool, move |conn| {
            let q = diesel::update(outbox::table.find(id));
            match &outcome {
                Ok(()) => q
                    .set((
                        outbox::status.eq("sent"),
                        outbox::attempts.eq(attempts),
                        outbox::sent_at.eq(now),
                        outbox::last_error.eq(None::<String>),
                    ))
                    .execute(conn),
                Err((e, final_)) => q
                    .set((
                        outbox::status.eq(if *final_ || attempts >= MAX_ATTEMPTS {
                            "failed"
                        } else {
                            "queued"
                        }),
                        outbox::attempts.eq(attempts),
                        outbox::next_attempt_at.eq(now + backoff(attempts)),
                        outbox::last_error.eq(Some(e.clone())),
                    ))
                    .execute(conn),
            }
            .map_err(DbError::from)
        })
        .await?;
        match result {
            Ok(Sent::Delivered) => sent += 1,
            Ok(Sent::Withheld) => {
                tracing::warn!(mail = id, "account mail kept without its link: no SMTP_URL")
            }
            Err(e) => {
                tracing::warn!(mail = id, attempts, error = %crate::error::Report(&e), "mail not sent; will retry")
            }
        }
    }
    Ok(sent)
}

/// Why a mail was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("the {0} address is invalid")]
    Address(&'static str, #[source] lettre::address::AddressError),
    #[error("the message could not be built")]
    Build(#[source] lettre::error::Error),
    #[error("the SMTP server did not take it")]
    Smtp(#[source] lettre::transport::smtp::Error),
    #[error("the account mail names no user or an unknown link purpose")]
    NoLink,
    #[error("the link's token could not be issued")]
    Token(#[source] DbError),
}

enum Sent {
    Delivered,
    /// An account mail kept without its link ([`LinkDelivery::Withhold`]).
    Withheld,
}

/// Sends one mail; account mails get their token now.
async fn send(state: &AppState, mail: &QueuedMail, now: i64) -> Result<Sent, SendError> {
    let Some(purpose) = mail.link_purpose.as_deref() else {
        // Download links are signed now, good for a week from sending.
        let (text, html) = if mail.body_text.contains(crate::digital::links::PLACEHOLDER)
            && let Some(order_id) = mail.order_id
        {
            let base = state.public_url.as_str();
            let expires = now + crate::digital::links::MAIL_LINK_SECS;
            // Only the lines of the order the mail is about.
            let allowed: Vec<i64> = db::run(&state.pool, move |conn| {
                use diesel::prelude::*;
                crate::schema::order_items::table
                    .filter(crate::schema::order_items::order_id.eq(order_id))
                    .select(crate::schema::order_items::id)
                    .load(conn)
                    .map_err(DbError::from)
            })
            .await
            .map_err(SendError::Token)?;
            let sign = |body: &str| state.links.sign_placeholders(body, base, expires, &allowed);
            (sign(&mail.body_text), sign(&mail.body_html))
        } else {
            (mail.body_text.clone(), mail.body_html.clone())
        };
        // A recovery e-mail's links get their token now (the outbox never holds one).
        let (text, html) = if mail.kind == crate::recovery::MAIL_KIND
            && let Some(order_id) = mail.order_id
        {
            let token = db::run(&state.pool, move |conn| {
                crate::recovery::issue_token(conn, order_id).map_err(DbError::from)
            })
            .await
            .map_err(SendError::Token)?;
            let fill = |body: &str| body.replace(crate::recovery::TOKEN_PLACEHOLDER, &token);
            (fill(&text), fill(&html))
        } else {
            (text, html)
        };
        let signed = text != mail.body_text;
        let base = state.public_url.as_str();
        let (text, html) = (
            super::messages::with_shop_url(&text, base, false),
            super::messages::with_shop_url(&html, base, true),
        );
        deliver(state, mail, &text, &html).await?;
        if state.mailer.is_local() && signed {
            state.dev_inbox.put(mail.id, text);
        }
        return Ok(Sent::Delivered);
    };
    let demo = state.config.is_demo();
    if link_delivery(state.mailer.is_local(), demo) == LinkDelivery::Withhold {
        return Ok(Sent::Withheld);
    }
    let (purpose, ttl) = tokens::purpose_of(purpose).ok_or(SendError::NoLink)?;
    let user_id = mail.user_id.ok_or(SendError::NoLink)?;
    let token = db::run(&state.pool, move |conn| {
        tokens::issue(conn, user_id, purpose, ttl, now).map_err(DbError::from)
    })
    .await
    .map_err(SendError::Token)?;
    let (text, html) = (
        with_token(&mail.body_text, &token),
        with_token(&mail.body_html, &token),
    );
    deliver(state, mail, &text, &html).await?;
    if state.mailer.is_local() {
        state.dev_inbox.put(mail.id, text);
    }
    Ok(Sent::Delivered)
}

async fn deliver(
    state: &AppState,
    mail: &QueuedMail,
    text: &str,
    html: &str,
) -> Result<(), SendError> {
    let smtp = match state.mailer.as_ref() {
        Transport::Local => return Ok(()),
        Transport::Smtp(smtp) => smtp,
    };
    let from: Mailbox = state
        .mail_from
        .parse()
        .map_err(|e| SendError::Address("MAIL_FROM", e))?;
    let to: Mailbox = mail
        .recipient
        .parse()
        .map_err(|e| SendError::Address("recipient", e))?;
    let message = Message::builder()
        .from(from)
        .to(to)
        .subject(mail.subject.clone())
        .message_id(Some(mail.message_id.clone()))
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(text.to_owned()),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(html.to_owned()),
                ),
        )
        .map_err(SendError::Build)?;
    smtp.send(message)
        .await
        .map(|_| ())
        .map_err(SendError::Smtp)
}

/// Sends mail every few seconds until stopped (see `crate::jobs`), and keeps the outbox
/// backlog gauge (`storefront_outbox_backlog`) up to date.
pub fn spawn(
    state: web::Data<AppState>,
    mut stop: crate::jobs::StopSignal,
) -> tokio::task::JoinHandle<()> {
    actix_web::rt::spawn(async move {
        loop {
            if let Err(e) = run_once(&state).await {
                tracing::warn!(error = %crate::error::Report(&e), "mail worker round failed");
            }
            match backlog(&state).await {
                Ok(n) => state.metrics.set_outbox_backlog(n),
                Err(e) => {
                    tracing::warn!(error = %crate::error::Report(&e), "could not count the outbox")
                }
            }
            if !crate::jobs::pause(&mut stop, Duration::from_secs(2)).await {
                return;
            }
        }
    })
}

/// Mails waiting to be sent (queued, including those waiting for a retry).
pub async fn backlog(state: &AppState) -> Result<i64, DbError> {
    db::run(&state.pool, |conn| {
        outbox::table
            .filter(outbox::status.eq("queued"))
            .count()
            .get_result(conn)
            .map_err(DbError::from)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_links_reach_a_local_mailbox_only_in_demo_mode() {
        assert_eq!(link_delivery(false, false), LinkDelivery::Issue, "SMTP");
        assert_eq!(
            link_delivery(false, true),
            LinkDelivery::Issue,
            "SMTP, demo"
        );
        assert_eq!(link_delivery(true, true), LinkDelivery::Issue, "demo inbox");
        assert_eq!(
            link_delivery(true, false),
            LinkDelivery::Withhold,
            "a Stripe key and no SMTP_URL: admins must not see customers' links"
        );
    }

    #[test]
    fn the_dev_inbox_keeps_the_newest_mails() {
        let inbox = DevInbox::default();
        for id in 0..(DevInbox::KEEP as i64 + 5) {
            inbox.put(id, format!("mail {id}"));
        }
        assert_eq!(inbox.get(0), None);
        assert_eq!(inbox.get(4), None);
        assert_eq!(inbox.get(5).as_deref(), Some("mail 5"));
    }
}
