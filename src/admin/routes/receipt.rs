//! `POST /admin/orders/{number}/receipt`: send the order's receipt again.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::plausible;
use crate::accounts::auth::Admin;
use crate::admin::receipts::{self, ResendError};
use crate::db::{self, DbError};
use crate::error::AppError;
use crate::state::AppState;
use crate::web::see_other;
use crate::web::session::{CsrfForm, TypedSession};

#[derive(Debug, Deserialize)]
pub struct ResendForm {
    #[serde(default)]
    pub form_key: String,
}

pub async fn resend(
    state: web::Data<AppState>,
    session: TypedSession,
    Admin(admin): Admin,
    path: web::Path<String>,
    form: CsrfForm<ResendForm>,
) -> Result<HttpResponse, AppError> {
    let number = plausible(&path.into_inner())?;
    let key = form.0.form_key;
    if !receipts::plausible_key(&key) {
        return Err(AppError::BadRequest(
            "This form is out of date. Reload the order page and try again.".into(),
        ));
    }
    let now = state.clock.unix();
    let n = number.clone();
    let sent = db::run(&state.pool, move |conn| {
        Ok::<_, DbError>(receipts::resend(conn, &n, admin.id, &key, now))
    })
    .await?;
    match sent {
        Ok((recipient, _)) => {
            session.flash(format!("Receipt sent again to {recipient}."))?;
            Ok(see_other(&format!("/admin/orders/{number}")))
        }
        Err(ResendError::NotFound) => Err(AppError::NotFound),
        Err(ResendError::Refused(why)) => Err(AppError::Conflict(why.to_string())),
        Err(ResendError::Db(e)) => Err(e.into()),
    }
}
