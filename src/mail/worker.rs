//! Sending queued mail: SMTP when `SMTP_URL` is set, else the local mailbox (the outbox rows
//! themselves, shown at `/admin/mail`). Failures are retried with growing delays.

use std::time::Duration;

use actix_web::web;
use diesel::prelude::*;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::outbox::QueuedMail;
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
        // Claim it, so another instance (or a slow earlier round) does not send it at the same time.
        let (id, seen) = (mail.id, mail.next_attempt_at);
        let claimed = db::run(&state.pool, move |conn| {
            diesel::update(
                outbox::table
                    .filter(outbox::id.eq(id))
                    .filter(outbox::next_attempt_at.eq(seen)),
            )
            .set(outbox::next_attempt_at.eq(now + 300))
            .execute(conn)
            .map_err(DbError::from)
        })
        .await?;
        if claimed == 0 {
            continue;
        }
        let result = deliver(state, &mail).await;
        let attempts = mail.attempts + 1;
        // The outbox keeps the failure's text (with its causes) for the admin's mailbox page.
        let outcome = result
            .as_ref()
            .map(|_| ())
            .map_err(|e| crate::error::Report(e).to_string());
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
                Err(e) => q
                    .set((
                        outbox::status.eq(if attempts >= MAX_ATTEMPTS {
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
            Ok(()) => sent += 1,
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
}

async fn deliver(state: &AppState, mail: &QueuedMail) -> Result<(), SendError> {
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
                        .body(mail.body_text.clone()),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(mail.body_html.clone()),
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
