//! Customer accounts: registration, sign-in with rate limits, sessions recorded on the server
//! (ended by sign-out, idle and absolute lifetimes, `session_epoch`), the order history and the
//! saved cards.

pub mod auth;
pub mod cards;
pub mod email_routes;
pub mod limits;
pub mod merge;
pub mod model;
pub mod password;
pub mod routes;
pub mod sessions;
pub mod tokens;

use actix_web::HttpResponse;

use crate::error::ErrorMessage;

/// 503 with `Retry-After`, rendered as the error page: every password hash slot stayed taken
/// (see [`password::Hasher`]).
pub fn busy() -> HttpResponse {
    let mut res = HttpResponse::ServiceUnavailable()
        .insert_header(("Retry-After", "5"))
        .finish();
    res.extensions_mut().insert(ErrorMessage(
        "Too many people are signing in right now. Please try again in a few seconds.".into(),
    ));
    res
}
