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
    let user_id = user.map(|u| u.id);
    let price_id = parse_id(&form.price_id);
    let slug = match price_id {
        Some(id) => slug_of_price(&state, id).await?,
        None => None,
    };
    // A price that doesn't exist has no product page to go back to: show the cart.
    let Some(slug) = slug else {
        return render_cart(
            &state,
            layout,
            &session,
            vec![CartError::UnknownItem.to_string()],
            String::new(),
            None,
            StatusCode::NOT_FOUND,
        )
        .await;
    };
    let back_to_product = |message: String, status: StatusCode| {
        let (state, layout, slug, quantity) = (
            state.clone(),
            layout.clone(),
            slug.clone(),
            form.quantity.clone(),
        );
        async move {
            let page = render_product(&state, layout, slug, Some(message), quantity).await?;
            crate::web::html_page(page.render(), status)
        }
    };
    if let Err(errors) = form.validate() {
        let message = forms::messages(&errors)
            .into_iter()
            .map(|(_, m)| m)
            .next()
            .unwrap_or_default();
        return back_to_product(message, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let (price_id, quantity) = (
        price_id.unwrap_or_default(),
        parse_int_in(&form.quantity, 1, 99).unwrap_or(1),
    );
    let currency = state.config.currency;
    let now = state.clock.unix();
    let cart_id = session.cart_id();
    let result = db::run(&state.pool, move |conn| {
        let cart_id = model::ensure(conn, cart_id, user_id, now)?;
        Ok::<_, AddError>((
            cart_id,
            model::add(conn, cart_id, price_id, quantity, currency, now),
        ))
    })
    .await;
    let (cart_id, added) = match result {
        Ok(v) => v,
        Err(AddError::Db(e)) => return Err(e.into()),
        Err(AddError::Cart(e)) => {
            return back_to_product(e.to_string(), StatusCode::UNPROCESSABLE_ENTITY).await;
        }
    };
    session.set_cart_id(cart_id)?;
    match added {
        Ok(name) => {
            let noun = if quantity == 1 {
                String::new()
            } else {
                format!("{quantity} × ")
            };
            session.flash(format!("Added {noun}{name} to your cart."))?;
            Ok(see_other("/cart"))
        }
        Err(AddError::Cart(e)) => {
            let status = if matches!(e, CartError::SoldOut(_)) {
                StatusCode::CONFLICT
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            back_to_product(e.to_string(), status).await
        }
        Err(AddError::Db(e)) => Err(e.into()),
    }
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
    let result = db::run(&state.pool, move |conn| {
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
