//! Who is signed in. The session holds the user id, the user's `session_epoch` at sign-in and
//! the id of its server-side session record ([`super::sessions`]); every signed-in request
//! checks both, so signing out, "sign out everywhere", a password reset and the idle and
//! absolute lifetimes end a session on the server, whoever holds a copy of the cookie.

use actix_session::{Session, SessionExt};
use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use url::Url;

use super::model::{self, User};
use super::sessions;
use crate::db;
use crate::error::AppError;
use crate::state::AppState;

const USER_KEY: &str = "uid";
const EPOCH_KEY: &str = "epoch";
const ROLE_KEY: &str = "role";
const SESSION_ID_KEY: &str = "sid";

/// Signs `user` in under the server-side session `sid` ([`sessions::start`]): a new session id
/// (defeats fixation) and a new CSRF token (a token seen before sign-in is worth nothing after),
/// keeping the cart.
pub fn sign_in(session: &Session, user: &User, sid: &str) -> Result<(), AppError> {
    session.renew();
    crate::web::session::rotate_csrf_token(session);
    let insert = |k: &str, v: serde_json::Value| {
        session
            .insert(k, v)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("session insert: {e}")))
    };
    insert(USER_KEY, user.id.into())?;
    insert(EPOCH_KEY, user.session_epoch.into())?;
    insert(ROLE_KEY, user.role.clone().into())?;
    insert(SESSION_ID_KEY, sid.into())?;
    Ok(())
}

/// The server-side session id of this cookie session, if signed in.
pub fn session_id(session: &Session) -> Option<String> {
    session.get::<String>(SESSION_ID_KEY).ok().flatten()
}

/// Ends the session in the browser entirely (a new, empty one follows). The server-side record
/// is ended by the caller ([`sessions::end`]).
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
    let sid = session_id(&session);
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no app state")))?
        .clone();
    let now = state.clock.unix();
    let user = db::run(&state.pool, move |conn| {
        let Some(user) = model::by_id(conn, user_id)? else {
            return Ok(None);
        };
        let alive = match &sid {
            Some(sid) if Some(user.session_epoch) == epoch => {
                sessions::check(conn, sid, &user, now)?
            }
            _ => false,
        };
        Ok::<_, AppError>(alive.then_some(user))
    })
    .await?;
    if user.is_none() {
        // The account is gone or this session was ended: forget it.
        session.remove(USER_KEY);
        session.remove(EPOCH_KEY);
        session.remove(ROLE_KEY);
        session.remove(SESSION_ID_KEY);
    }
    Ok(user)
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
                            .unwrap_or_else(|| DEFAULT_NEXT.into())
                    } else {
                        DEFAULT_NEXT.into()
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

/// Where sign-in and registration go when `next` is missing or refused.
pub const DEFAULT_NEXT: &str = "/account";

/// A path on this shop to return to after sign-in: `next` resolved against `PUBLIC_URL` must
/// keep its origin, and `next` must be a plain absolute path. Refused (the default page
/// instead): anything a browser could resolve to another site (`//host`, `/\host`, `https:host`,
/// `user@host`…), control characters, whitespace and backslashes anywhere — raw or
/// percent-encoded — since browsers strip or reinterpret them.
pub fn safe_next(public_url: &Url, next: Option<&str>) -> String {
    next.and_then(|n| local_path(public_url, n))
        .unwrap_or_else(|| DEFAULT_NEXT.to_owned())
}

fn local_path(base: &Url, raw: &str) -> Option<String> {
    let suspicious = |s: &str| {
        s.chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
    };
    if raw.len() > 500 || !raw.starts_with('/') || raw.starts_with("//") || suspicious(raw) {
        return None;
    }
    let decoded = percent_decode(raw);
    if suspicious(&decoded) || decoded.starts_with("//") {
        return None;
    }
    let url = base.join(raw).ok()?;
    if url.origin() != base.origin() || !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    let mut path = url.path().to_owned();
    // Dot segments can fold `/.//host` (or `/./%2F/host`) into `//host`: a path must stay a
    // path, decoded too, for whatever decodes it next.
    if !path.starts_with('/') || path.starts_with("//") || percent_decode(&path).starts_with("//") {
        return None;
    }
    if let Some(query) = url.query() {
        path.push('?');
        path.push_str(query);
    }
    Some(path)
}

/// `%XX` sequences decoded (invalid ones kept as they are), as a lossy string.
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Middleware: `Cache-Control: no-store` on every response to a signed-in browser and on every
/// account and admin page, so no shared or browser cache keeps a customer's or an admin's page
/// (back button after sign-out, a proxy serving it to someone else).
pub async fn no_store(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let path = req.path();
    let private = path == "/account"
        || path.starts_with("/account/")
        || path == "/admin"
        || path.starts_with("/admin/")
        || req
            .get_session()
            .get::<i64>(USER_KEY)
            .ok()
            .flatten()
            .is_some();
    let mut res = next.call(req).await?;
    if private {
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("http://127.0.0.1:8080/").unwrap()
    }

    #[test]
    fn next_stays_on_this_site() {
        for (next, kept) in [
            ("/products/coffee-club", "/products/coffee-club"),
            (
                "/account/orders/SF-1?x=1&y=%2F",
                "/account/orders/SF-1?x=1&y=%2F",
            ),
            ("/a/../cart", "/cart"),
            ("/", "/"),
        ] {
            assert_eq!(safe_next(&base(), Some(next)), kept, "{next}");
        }
        assert_eq!(safe_next(&base(), None), DEFAULT_NEXT);
    }

    #[test]
    fn known_open_redirect_bypasses_fall_back_to_the_account_page() {
        let corpus = [
            "https://evil.example",
            "//evil.example",
            "///evil.example",
            "////evil.example",
            "/\\evil.example",
            "\\/evil.example",
            "\\\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            " /evil.example",
            "/ /evil.example",
            "/%09/evil.example",
            "/%0a/evil.example",
            "/%0D%0A/evil.example",
            "/%5Cevil.example",
            "/%5c%5cevil.example",
            "/%2F/evil.example",
            "/%2f%2fevil.example",
            "%2F%2Fevil.example",
            "/.//evil.example",
            "/..//evil.example",
            "/./%2F/evil.example",
            "https:evil.example",
            "http:evil.example",
            "http:/evil.example",
            "https:/\\evil.example",
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "http://127.0.0.1:8080@evil.example",
            "http://127.0.0.1:8080/@evil.example/",
            "http://evil.example/127.0.0.1:8080",
            "/\u{3000}/evil.example",
            "/\u{2028}/evil.example",
            "/\u{0}/evil.example",
            "evil.example",
            "",
        ];
        for evil in corpus {
            assert_eq!(safe_next(&base(), Some(evil)), DEFAULT_NEXT, "{evil:?}");
        }
        assert_eq!(
            safe_next(&base(), Some(&format!("/{}", "a".repeat(600)))),
            DEFAULT_NEXT,
            "too long"
        );
    }
}
