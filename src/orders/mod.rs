//! Orders: their rows, their status machine, and reading them.

pub mod model;
pub mod number;
pub mod queries;
pub mod status;
pub mod view;
