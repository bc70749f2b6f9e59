//! Web plumbing shared by every feature: responses, page layout, sessions and CSRF, headers,
//! assets, the canonical host.

pub mod assets;
pub mod canonical_host;
pub mod client;
pub mod csrf;
pub mod csv;
pub mod field_errors;
pub mod forms;
pub mod layout;
pub mod responses;
pub mod security;
pub mod session;
pub mod telemetry;

pub use responses::{html_page, see_other};
