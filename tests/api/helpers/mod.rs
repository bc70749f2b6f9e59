//! The test harness: a real app on 127.0.0.1:0 with its own fresh database, and a browser-like client.
//!
//! Each file adds the methods of its topic to [`TestApp`]; the types, functions and constants
//! are re-exported here, so tests `use crate::helpers::*`.

mod accounts;
mod app;
mod catalog;
mod db;
mod html;
mod orders;
mod promotions;
mod purchase;
mod shop;
mod smtp;
mod stripe;

pub use accounts::*;
pub use app::*;
pub use db::*;
pub use html::*;
pub use promotions::*;
pub use purchase::*;
pub use shop::*;
pub use smtp::*;
