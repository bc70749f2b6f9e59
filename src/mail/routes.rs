//! `GET /admin/mail`: the local mailbox (every queued and sent mail), for admins. Account mails
//! show their link only as delivered to demo mode's development inbox; otherwise the link's token
//! is a placeholder (it is issued when the mail is sent, and never stored).

use actix_web::web;
use askama::Template;
use askama_web::WebTemplate;

use super::outbox::{self, QueuedMail};
use crate::accounts::auth::Admin;
use crate::accounts::routes::date;
use crate::db::{self, DbError};
use crate::error::AppError;
use crate::state::AppState;
use crate::web::layout::Layout;

pub struct MailView {
    pub id: i64,
    pub to: String,
    pub subject: String,
    pub status: String,
    pub attempts: i64,
    pub date: String,
    pub message_id: String,
    pub text: String,
    pub error: Option<String>,
}

impl From<QueuedMail> for MailView {
    fn from(m: QueuedMail) -> Self {
        Self {
            id: m.id,
            to: m.recipient,
            subject: m.subject,
            status: m.status,
            attempts: m.attempts,
            date: date(m.created_at),
            message_id: m.message_id,
            text: m.body_text,
            error: m.last_error,
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/mail.html")]
pub struct MailPage {
    layout: Layout,
    local: bool,
    mails: Vec<MailView>,
}

pub async fn mailbox(
    state: web::Data<AppState>,
    layout: Layout,
    _admin: Admin,
) -> Result<MailPage, AppError> {
    let mails = db::run(&state.pool, |conn| {
        outbox::recent(conn, 100).map_err(DbError::from)
    })
    .await?;
    let demo = state.config.is_demo();
    Ok(MailPage {
        layout,
        local: state.mailer.is_local(),
        mails: mails
            .into_iter()
            .map(|m| {
                let delivered = demo.then(|| state.dev_inbox.get(m.id)).flatten();
                let mut view = MailView::from(m);
                match delivered {
                    Some(text) => view.text = text,
                    // As it goes out: with the shop's address in its links.
                    None => {
                        view.text = super::messages::with_shop_url(
                            &view.text,
                            state.public_url.as_str(),
                            false,
                        )
                    }
                }
                view
            })
            .collect(),
    })
}
