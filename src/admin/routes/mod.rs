//! `GET /admin` (orders), `GET /admin/orders/{number}` (details, refunds, events, audit trail)
//! and `POST /admin/orders/{number}/refunds`. Everything behind
//! [`Admin`](crate::accounts::auth::Admin); every POST through
//! [`CsrfForm`](crate::web::session::CsrfForm); results flashed after a redirect
//! (Post/Redirect/Get).

mod events;
mod health;
mod images;
mod list;
mod order;
mod products;
mod receipt;
mod refund;
mod shipping;
mod variants;

pub use events::{catch_up as catch_up_events, list as events, replay as replay_event};
pub use health::health;
pub use images::{make_main as main_picture, remove as remove_picture, upload as upload_picture};
pub use list::{list, movements_csv, orders_csv};
pub use order::show;
pub use products::{
    change_price, create_product, delete as delete_product, edit as edit_product, new_product,
    product as product_page, products, products_csv, stock,
};
pub use receipt::resend as resend_receipt;
pub use refund::refund;
pub use shipping::{delivered, packing_slip, queue as shipping_queue, ship};
pub use variants::{add as add_variant, remove as remove_variant, save as save_variants};

use crate::error::AppError;
use crate::orders::number;
use crate::orders::status::OrderStatus;
pub const PAGE_SIZE: i64 = 20;
pub(super) const NOTE_MAX_CHARS: usize = 500;

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Nullable<diesel::sql_types::Text>) -> diesel::sql_types::Nullable<diesel::sql_types::Text>);

pub(super) use crate::web::html_page as render;

/// `q` for a `LIKE … ESCAPE '\\'` pattern: its wildcards match themselves.
pub(super) fn escape_like(q: &str) -> String {
    q.chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect()
}

/// "2026-11-26 21:40 UTC": admins need the time, not only the day.
pub fn when(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

/// A status as admins read it: the plain state, not the customer's wording.
pub fn admin_label(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::Pending => "Pending",
        OrderStatus::Processing => "Processing",
        OrderStatus::Paid => "Paid",
        OrderStatus::PaymentFailed => "Payment failed",
        OrderStatus::Expired => "Expired",
        OrderStatus::PartiallyRefunded => "Partially refunded",
        OrderStatus::Refunded => "Refunded",
    }
}

pub(super) fn plausible(number: &str) -> Result<String, AppError> {
    if number::is_plausible(number) {
        Ok(number.to_owned())
    } else {
        Err(AppError::NotFound)
    }
}
