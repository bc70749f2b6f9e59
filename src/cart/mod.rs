//! The cart: kept in the database, found through the session's cart id.

pub mod model;
pub mod page;
pub mod routes;
