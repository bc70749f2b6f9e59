//! Customer accounts: registration, sign-in with rate limits, sessions bound to a `session_epoch`,
//! and the order history.

pub mod auth;
pub mod email_routes;
pub mod limits;
pub mod merge;
pub mod model;
pub mod password;
pub mod routes;
pub mod tokens;
