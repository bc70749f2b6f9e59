//! The catalogue: products and their prices, the pages that list them, and seeding from TOML.

pub mod back_in_stock;
pub mod categories;
pub mod create;
pub mod delete;
pub mod export;
pub mod grid;
pub mod images;
pub mod media;
pub mod model;
pub mod pricing;
pub mod queries;
pub mod routes;
pub mod search;
pub mod seed;
pub mod seo;
pub mod slugs;
pub mod snapshot;
pub mod stock;
pub mod variants;
