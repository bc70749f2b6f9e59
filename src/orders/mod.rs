//! Orders: their rows, their status machine (the allowed moves and the one writer), reading them,
//! and the one view of their items.

pub mod model;
pub mod number;
pub mod queries;
pub mod status;
pub mod transition;
pub mod view;
