//! The catalogue: products and their prices, the pages that list them, and seeding from TOML.

pub mod back_in_stock;
pub mod create;
pub mod model;
pub mod queries;
pub mod routes;
pub mod seed;
pub mod seo;
pub mod snapshot;
pub mod stock;
