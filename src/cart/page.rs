//! The cart page, rendered by the cart's handlers and re-rendered with errors by checkout's.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;

use super::model::{self, CartLine};
use crate::db;
use crate::error::AppError;
use crate::money::Money;
use crate::state::AppState;
use crate::web::layout::Layout;
use crate::web::session::TypedSession;

pub struct LineView {
    pub item_id: i64,
    pub slug: String,
    pub name: String,
    pub unit: String,
    pub quantity: i64,
    pub total: String,
    pub max: i64,
    pub problem: Option<String>,
}

impl From<&CartLine> for LineView {
    fn from(l: &CartLine) -> Self {
        Self {
            item_id: l.item_id,
            slug: l.slug.clone(),
            name: l.name.clone(),
            unit: l.unit.to_string(),
            quantity: l.quantity,
            total: l.total().map(|m| m.to_string()).unwrap_or_default(),
            max: l.available.map_or(model::MAX_QUANTITY, |a| {
                a.clamp(l.quantity.min(model::MAX_QUANTITY), model::MAX_QUANTITY)
            }),
            problem: l.problem(),
        }
    }
}

#[derive(Template)]
#[template(path = "cart/cart.html")]
pub struct CartPage {
    pub layout: Layout,
    pub lines: Vec<LineView>,
    pub subtotal: String,
    pub errors: Vec<String>,
    pub email: String,
    pub email_error: Option<String>,
    /// The guest's "e-mail me a link back" box, as they left it.
    pub remind: bool,
    pub can_checkout: bool,
    /// The rates Checkout will offer, described, when something in the cart ships.
    pub shipping: Vec<String>,
    /// A rate turns free over some subtotal: say when that is decided.
    pub free_shipping_note: bool,
}

/// Renders the cart with optional errors (used by the cart and checkout handlers).
pub async fn render_cart(
    state: &AppState,
    layout: Layout,
    session: &TypedSession,
    errors: Vec<String>,
    email: String,
    email_error: Option<String>,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let fields = CheckoutFields {
        email,
        email_error,
        remind: false,
    };
    render_cart_with(state, layout, session, errors, fields, status).await
}

/// What the shopper typed into the checkout form, shown again with the cart.
pub struct CheckoutFields {
    pub email: String,
    pub email_error: Option<String>,
    pub remind: bool,
}

/// [`render_cart`] keeping the whole checkout form as the shopper filled it.
pub async fn render_cart_with(
    state: &AppState,
    layout: Layout,
    session: &TypedSession,
    errors: Vec<String>,
    fields: CheckoutFields,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let CheckoutFields {
        email,
        email_error,
        remind,
    } = fields;
    let currency = state.config.currency;
    let cart_id = session.cart_id();
    let lines = match cart_id {
        Some(id) => {
            db::read(&state.pool, move |conn| {
                model::lines(conn, id, currency).map_err(AppError::from)
            })
            .await?
        }
        None => vec![],
    };
    let subtotal = lines
        .iter()
        .filter_map(CartLine::total)
        .try_fold(Money::new(0, currency), Money::checked_add)
        .map(|m| m.to_string())
        .unwrap_or_default();
    let catalogue = state.catalogue.get().await?;
    let ships = lines.iter().any(|l| catalogue.ships(&l.slug));
    let rates = if ships {
        catalogue.shipping_rates()
    } else {
        &[]
    };
    let page = CartPage {
        shipping: rates
            .iter()
            .map(|r| crate::shipping::offer::describe(r, currency))
            .collect(),
        free_shipping_note: rates.iter().any(|r| r.free_over.is_some()),
        can_checkout: !lines.is_empty() && lines.iter().all(|l| l.problem().is_none()),
        lines: lines.iter().map(LineView::from).collect(),
        subtotal,
        errors,
        email,
        email_error,
        remind,
        layout,
    };
    crate::web::html_page(page.render(), status)
}
