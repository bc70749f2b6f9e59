//! Digital goods: a file to download (kept in the database, so every instance serves it) or a
//! licence key per unit (from a pool that is the product's stock). Paid orders get signed,
//! expiring download links, counted against the product's limit, and their keys; a full refund
//! or a dispute revokes both.

pub mod access;
pub mod files;
pub mod keys;
pub mod links;
pub mod routes;
