//! `GET /cart`, `POST /cart/items`, `POST /cart/items/{id}`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use validator::Validate;

use super::model::{self, AddError, CartError};
use super::page::render_cart;
use crate::accounts::auth::CurrentUser;
use crate::catalog::routes::render_product;
use crate::db;
use crate::error::AppError;
use crate::schema::{prices, products};
use crate::state::AppState;
use crate::web::forms::{self, parse_id, parse_int_in};
use crate::web::layout::Layout;
use crate::web::see_other;
use crate::web::session::{CsrfForm, TypedSession};

pub async fn show(
    state: web::Data<AppState>,
    layout: Layout,
    session: TypedSession,
) -> Result<HttpResponse, AppError> {
    render_cart(
        &state,
        layout,
        &session,
        vec![],
        String::new(),
        None,
        StatusCode::OK,
    )
    .await
}

#[derive(Debug, Deserialize, Validate)]
pub struct AddItemForm {
    #[serde(default)]
    #[validate(custom(function = "forms::id"))]
    pub price_id: String,
    #[serde(default)]
    #[validate(custom(function = "forms::quantity_1_99"))]
    pub quantity: String,
}

pub async fn add(
    state: web::Data<AppState>,
    layout: Layout,
    session: TypedSession,
    CurrentUser(user): CurrentUser,
    form: CsrfForm<AddItemForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.0;
    let Some(price_id) = parse_id(&form.price_id) else {
        return unknown_item(&state, layout, &session).await;
    };
    // Why the item was not added: the message and status for its product page.
    let (message, status) = match form.validate() {
        Err(errors) => {
            let message = forms::messages(&errors)
                .into_iter()
                .map(|(_, m)| m)
                .next()
                .unwrap_or_default();
            (message, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Ok(()) => {
            let quantity = parse_int_in(&form.quantity, 1, 99).unwrap_or(1);
            let addition = model::Addition {
                cart_id: session.cart_id(),
                user_id: user.map(|u| u.id),
                price_id,
                quantity,
            };
            let (currency, now) = (state.config.currency, state.clock.unix());
            let added = db::write(&state.pool, move |conn| {
                model::add(conn, &addition, currency, now)
            })
            .await;
            match added {
                Ok((cart_id, name)) => {
                    session.set_cart_id(cart_id)?;
                    let noun = if quantity == 1 {
                        String::new()
                    } else {
                        format!("{quantity} × ")
                    };
                    session.flash(format!("Added {noun}{name} to your cart."))?;
                    return Ok(see_other("/cart"));
                }
                Err(AddError::Db(e)) => return Err(e.into()),
                Err(AddError::Cart(CartError::UnknownItem)) => {
                    return unknown_item(&state, layout, &session).await;
                }
                Err(AddError::Cart(e)) => {
                    let status = if matches!(e, CartError::SoldOut(_)) {
                        StatusCode::CONFLICT
                    } else {
                        StatusCode::UNPROCESSABLE_ENTITY
                    };
                    (e.to_string(), status)
                }
            }
        }
    };
    // Looked up only now: a successful add never needs the product page.
    let Some(slug) = slug_of_price(&state, price_id).await? else {
        return unknown_item(&state, layout, &session).await;
    };
    let page = render_product(
        &state,
        layout,
        slug,
        Some(message),
        (form.quantity, Some(price_id)),
    )
    .await?;
    crate::web::html_page(page.render(), status)
}

/// A price that doesn't exist has no product page to go back to: the cart, with a 404.
async fn unknown_item(
    state: &AppState,
    layout: Layout,
    session: &TypedSession,
) -> Result<HttpResponse, AppError> {
    render_cart(
        state,
        layout,
        session,
        vec![CartError::UnknownItem.to_string()],
        String::new(),
        None,
        StatusCode::NOT_FOUND,
    )
    .await
}

async fn slug_of_price(state: &AppState, price_id: i64) -> Result<Option<String>, AppError> {
    use diesel::prelude::*;
    db::run(&state.pool, move |conn| {
        prices::table
            .inner_join(products::table)
            .filter(prices::id.eq(price_id))
            .select(products::slug)
            .first::<String>(conn)
            .optional()
            .map_err(AppError::from)
    })
    .await
}

#[derive(Debug, Deserialize, Validate)]
pub struct QuantityForm {
    #[serde(default)]
    #[validate(custom(function = "forms::quantity_0_99"))]
    pub quantity: String,
}

pub async fn update(
    state: web::Data<AppState>,
    layout: Layout,
    session: TypedSession,
    item_id: web::Path<String>,
    form: CsrfForm<QuantityForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.0;
    let item_id = parse_id(&item_id).ok_or(AppError::NotFound)?;
    let cart_id = session.cart_id().ok_or(AppError::NotFound)?;
    if let Err(errors) = form.validate() {
        let messages = forms::messages(&errors)
            .into_iter()
            .map(|(_, m)| m)
            .collect();
        return render_cart(
            &state,
            layout,
            &session,
            messages,
            String::new(),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let quantity = parse_int_in(&form.quantity, 0, 99).unwrap_or(0);
    let now = state.clock.unix();
    let result = db::write(&state.pool, move |conn| {
        Ok::<_, AddError>(model::set_quantity(conn, cart_id, item_id, quantity, now))
    })
    .await?;
    match result {
        Ok(()) => {
            session.flash(if quantity == 0 {
                "Removed from your cart."
            } else {
                "Cart updated."
            })?;
            Ok(see_other("/cart"))
        }
        Err(AddError::Cart(CartError::UnknownItem)) => Err(AppError::NotFound),
        Err(AddError::Cart(e)) => {
            render_cart(
                &state,
                layout,
                &session,
                vec![e.to_string()],
                String::new(),
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(AddError::Db(e)) => Err(e.into()),
    }
}
