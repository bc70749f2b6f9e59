//! A typed view of the encrypted cookie session, and CSRF protection for every form POST.
//!
//! The token lives in the session (a private, encrypted cookie) and is echoed by each form as a
//! hidden `csrf_token` field; [`CsrfForm`] refuses a POST whose field does not match.

use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest, web};
use base64::Engine as _;
use futures_util::future::LocalBoxFuture;
use rand::RngCore as _;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq as _;

use super::canonical_host::CanonicalHost;
use super::csrf::{self, CsrfSigner, Provenance};
use crate::error::AppError;
use crate::state::AppState;

const CSRF_KEY: &str = "csrf";
pub const CSRF_FIELD: &str = "csrf_token";

/// Returns the session's CSRF token, creating one the first time.
pub fn csrf_token_of(session: &Session) -> Result<String, AppError> {
    if let Ok(Some(token)) = session.get::<String>(CSRF_KEY) {
        return Ok(token);
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    session
        .insert(CSRF_KEY, &token)
        .map_err(|e| AppError::Internal(anyhow::Error::new(e).context("session insert")))?;
    Ok(token)
}

/// The token for a page's forms, without writing the session: the session's own token, or a
/// signed one for a visitor whose session has none (see [`super::csrf`]).
pub fn page_token(req: &HttpRequest) -> String {
    let session = req.get_session();
    if let Ok(Some(token)) = session.get::<String>(CSRF_KEY) {
        return token;
    }
    match req.app_data::<web::Data<CsrfSigner>>() {
        Some(signer) => signer.issue(),
        // An app without a signer (unit tests of this module) keeps the token in the session.
        None => csrf_token_of(&session).unwrap_or_default(),
    }
}

/// Whether a form POST may go on: not from another site, and carrying the session's token, or
/// (for a session without one) a signed token from a page of ours, which then becomes the
/// session's token.
fn check_form_token(req: &HttpRequest, session: &Session, sent: Option<&str>) -> bool {
    let own_origin = req
        .app_data::<web::Data<AppState>>()
        .and_then(|s| CanonicalHost::of(&s.public_url).map(|c| c.origin().to_owned()));
    let provenance = csrf::provenance(req, own_origin.as_deref());
    if provenance == Provenance::Foreign {
        return false;
    }
    let Some(sent) = sent else {
        return false;
    };
    let expected = session.get::<String>(CSRF_KEY).ok().flatten();
    if let Some(expected) = &expected {
        if bool::from(sent.as_bytes().ct_eq(expected.as_bytes())) {
            return true;
        }
        // A random token (every session that signed in has one) matches only itself. A session
        // whose token was adopted from a signed one belongs to a visitor who never signed in,
        // and takes any signed token on the same terms as before: a form re-rendered in answer
        // to the POST that began the session carries a newer one.
        if !csrf::is_signed(expected) {
            return false;
        }
    }
    let signed_ok = provenance == Provenance::SameOrigin
        && req
            .app_data::<web::Data<CsrfSigner>>()
            .is_some_and(|s| s.verify(sent));
    signed_ok && (expected.is_some() || session.insert(CSRF_KEY, sent).is_ok())
}

/// Gives the session a new CSRF token. Called on sign-in, so a token seen before (by a page, a
/// proxy log, a shared computer) is worth nothing afterwards; the session holds one from then
/// on, so no signed token is accepted for it either.
pub fn rotate_csrf_token(session: &Session) {
    session.remove(CSRF_KEY);
    let _ = csrf_token_of(session);
}

/// The session cookie's name. On https it carries the `__Host-` prefix: browsers then accept
/// it only with `Secure`, `Path=/` and no `Domain`, so no subdomain or plain-http page can plant
/// or overwrite it. On http browsers refuse `__Host-` cookies, so the plain name stays.
pub fn cookie_name(https: bool) -> &'static str {
    if https {
        "__Host-storefront"
    } else {
        "storefront"
    }
}

/// The session with typed accessors.
pub struct TypedSession(pub Session);

impl TypedSession {
    pub fn csrf_token(&self) -> Result<String, AppError> {
        csrf_token_of(&self.0)
    }

    /// A new session id for the same data (sign-in, sign-out): defeats session fixation.
    pub fn renew(&self) {
        self.0.renew();
    }

    pub fn cart_id(&self) -> Option<i64> {
        self.0.get::<i64>(CART_KEY).ok().flatten()
    }

    pub fn set_cart_id(&self, id: i64) -> Result<(), AppError> {
        self.insert(CART_KEY, id)
    }

    /// A one-time message for the next page (Post/Redirect/Get).
    pub fn flash(&self, message: impl Into<String>) -> Result<(), AppError> {
        self.insert(FLASH_KEY, message.into())
    }

    pub fn take_flash(&self) -> Option<String> {
        take_flash(&self.0)
    }

    fn insert(&self, key: &str, value: impl serde::Serialize) -> Result<(), AppError> {
        self.0
            .insert(key, value)
            .map_err(|e| AppError::Internal(anyhow::Error::new(e).context("session insert")))
    }
}

/// Removes and returns the flash message. Only a session that has one is touched: removing an
/// absent key would still mark the session changed, and re-encrypt and re-send its cookie.
pub fn take_flash(session: &Session) -> Option<String> {
    if !session.contains_key(FLASH_KEY) {
        return None;
    }
    session.remove_as::<String>(FLASH_KEY).and_then(Result::ok)
}

const CART_KEY: &str = "cart";
pub(crate) const FLASH_KEY: &str = "flash";

impl FromRequest for TypedSession {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(Self(req.get_session())))
    }
}

/// The CSRF check of a form that is not url-encoded (a multipart upload): `sent` is its
/// `csrf_token` field.
pub fn verify_form_token(req: &HttpRequest, sent: Option<&str>) -> Result<(), AppError> {
    if check_form_token(req, &req.get_session(), sent) {
        Ok(())
    } else {
        Err(AppError::Csrf)
    }
}

/// A url-encoded form whose `csrf_token` matched the session's. Other fields deserialize into `T`.
pub struct CsrfForm<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for CsrfForm<T> {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = Bytes::from_request(&req, payload);
        Box::pin(async move {
            let body = body
                .await
                .map_err(|_| AppError::BadRequest("The form could not be read.".into()))?;
            let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
                .map_err(|_| AppError::BadRequest("The form could not be read.".into()))?;
            let sent = pairs
                .iter()
                .find(|(k, _)| k == CSRF_FIELD)
                .map(|(_, v)| v.as_str());
            if !check_form_token(&req, &req.get_session(), sent) {
                return Err(AppError::Csrf);
            }
            let form = serde_urlencoded::from_bytes::<T>(&body).map_err(|_| {
                AppError::BadRequest("Some fields of the form were missing or malformed.".into())
            })?;
            Ok(CsrfForm(form))
        })
    }
}

#[cfg(test)]
mod cookie_tests {
    #[test]
    fn the_cookie_name_has_the_host_prefix_on_https_only() {
        assert_eq!(super::cookie_name(true), "__Host-storefront");
        assert_eq!(super::cookie_name(false), "storefront");
    }
}

#[cfg(test)]
mod tests {
    use actix_session::SessionMiddleware;
    use actix_session::storage::CookieSessionStore;
    use actix_web::cookie::Key;
    use actix_web::{App, HttpResponse, test, web};

    use super::*;

    #[derive(serde::Deserialize)]
    struct Dummy {
        name: String,
    }

    async fn show_form(session: TypedSession) -> Result<HttpResponse, AppError> {
        Ok(HttpResponse::Ok().body(session.csrf_token()?))
    }

    async fn submit(form: CsrfForm<Dummy>) -> HttpResponse {
        HttpResponse::Ok().body(format!("hello {}", form.0.name))
    }

    #[actix_web::test]
    async fn csrf_form_rejects_missing_and_wrong_tokens_and_accepts_the_right_one() {
        let app = test::init_service(
            App::new()
                .wrap(SessionMiddleware::new(
                    CookieSessionStore::default(),
                    Key::generate(),
                ))
                .route("/form", web::get().to(show_form))
                .route("/form", web::post().to(submit)),
        )
        .await;

        let res =
            test::call_service(&app, test::TestRequest::get().uri("/form").to_request()).await;
        let cookie = res
            .response()
            .cookies()
            .next()
            .expect("session cookie")
            .into_owned();
        let token = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();

        let post = |body: String| {
            test::TestRequest::post()
                .uri("/form")
                .cookie(cookie.clone())
                .insert_header(("content-type", "application/x-www-form-urlencoded"))
                .set_payload(body)
                .to_request()
        };

        let res = test::call_service(&app, post("name=ann".into())).await;
        assert_eq!(res.status(), 403, "no token");
        let res = test::call_service(&app, post("name=ann&csrf_token=forged".into())).await;
        assert_eq!(res.status(), 403, "wrong token");
        let res = test::call_service(&app, post(format!("name=ann&csrf_token={token}"))).await;
        assert_eq!(res.status(), 200, "right token");
        assert_eq!(test::read_body(res).await, "hello ann");

        // A right token without the session it belongs to is refused too.
        let res = test::call_service(
            &app,
            test::TestRequest::post()
                .uri("/form")
                .insert_header(("content-type", "application/x-www-form-urlencoded"))
                .set_payload(format!("name=ann&csrf_token={token}"))
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), 403, "token without session");
    }
}
