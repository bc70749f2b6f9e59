//! Who is signed in. The session holds the user id and the user's `session_epoch` at sign-in;
//! every signed-in request checks the epoch against the database, so bumping it (password reset,
//! "sign out everywhere") ends all of the user's sessions at once.

use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;

use super::model::{self, User};
use crate::db;
use crate::error::AppError;
use crate::state::AppState;

const USER_KEY: &str = "uid";
const EPOCH_KEY: &str = "epoch";
const ROLE_KEY: &str = "role";

/// Signs `user` in: a new session id (defeats fixation), keeping the cart and CSRF token.
pub fn sign_in(session: &Session, user: &User) -> Result<(), AppError> {
    session.renew();
    let insert = |k: &str, v: serde_json::Value| {
        session
            .insert(k, v)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("session insert: {e}")))
    };
    insert(USER_KEY, user.id.into())?;
    insert(EPOCH_KEY, user.session_epoch.into())?;
    insert(ROLE_KEY, user.role.clone().into())?;
    Ok(())
}

/// Ends the session entirely (a new, empty one follows).
pub fn sign_out(session: &Session) {
    session.purge();
}

/// The role remembered at sign-in, for the header only (never for access checks).
pub fn session_role(session: &Session) -> Option<String> {
    session.get::<i64>(USER_KEY).ok().flatten()?;
    session.get::<String>(ROLE_KEY).ok().flatten()
}

async fn load(req: &HttpRequest) -> Result<Option<User>, AppError> {
    let session = req.get_session();
    let Some(user_id) = session.get::<i64>(USER_KEY).ok().flatten() else {
        return Ok(None);
    };
    let epoch = session.get::<i64>(EPOCH_KEY).ok().flatten();
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no app state")))?
        .clone();
    let user = db::run(&state.pool, move |conn| {
        model::by_id(conn, user_id).map_err(AppError::from)
    })
    .await?;
    match user {
        Some(u) if Some(u.session_epoch) == epoch => Ok(Some(u)),
        // The account is gone or its sessions were ended: forget this one.
        _ => {
            session.remove(USER_KEY);
            session.remove(EPOCH_KEY);
            session.remove(ROLE_KEY);
            Ok(None)
        }
    }
}

/// The signed-in user, if any.
pub struct CurrentUser(pub Option<User>);

impl FromRequest for CurrentUser {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { Ok(CurrentUser(load(&req).await?)) })
    }
}

/// A signed-in user; anyone else is sent to sign in and brought back afterwards.
pub struct SignedIn(pub User);

impl FromRequest for SignedIn {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            match load(&req).await? {
                Some(user) => Ok(SignedIn(user)),
                None => {
                    let next = if req.method() == actix_web::http::Method::GET {
                        req.uri()
                            .path_and_query()
                            .map(|p| p.as_str().to_owned())
                            .unwrap_or_else(|| "/account".into())
                    } else {
                        "/account".into()
                    };
                    Err(AppError::SignInRequired(next))
                }
            }
        })
    }
}

/// A signed-in admin. Signed-out visitors are sent to sign in; customers get 403.
pub struct Admin(pub User);

impl FromRequest for Admin {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let signed_in = SignedIn::from_request(req, payload);
        Box::pin(async move {
            let SignedIn(user) = signed_in.await?;
            if user.is_admin() {
                Ok(Admin(user))
            } else {
                Err(AppError::Forbidden)
            }
        })
    }
}

/// A local path to return to after sign-in; anything else (another site, `//host`) is refused.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && n.len() < 500 =>
        {
            n.to_owned()
        }
        _ => "/account".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(
            super::safe_next(Some("/products/coffee-club")),
            "/products/coffee-club"
        );
        for evil in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "javascript:alert(1)",
        ] {
            assert_eq!(super::safe_next(Some(evil)), "/account", "{evil}");
        }
        assert_eq!(super::safe_next(None), "/account");
    }
}
