//! Shipping from the admin pages: `GET /admin/shipping` (the "awaiting shipment" queue),
//! `POST /admin/orders/{number}/shipments` (mark shipped), `POST …/shipments/{id}/delivered`
//! and `GET /admin/orders/{number}/packing-slip`.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use diesel::prelude::*;
use serde::Deserialize;
use validator::Validate;

use super::order::{ShipTyped, Typed, load, order_page};
use super::{PAGE_SIZE, plausible, render, when};
use crate::accounts::auth::Admin;
use crate::db::{self, AnyConnection, DbError, write_tx};
use crate::error::AppError;
use crate::orders::model::Order;
use crate::orders::queries;
use crate::orders::status::OrderStatus;
use crate::schema::orders;
use crate::shipping::shipments::{self, Outcome, Refusal};
use crate::shipping::status::{self as fulfilment, Fulfilment};
use crate::shipping::{address, carriers};
use crate::state::AppState;
use crate::web::field_errors::FieldErrors;
use crate::web::forms::parse_int_in;
use crate::web::layout::Layout;
use crate::web::see_other;
use crate::web::session::{CsrfForm, TypedSession};

/// The fixed fields of the ship form (the per-line `ship_{item id}` ones are read apart).
#[derive(Debug, Deserialize, Validate)]
struct ShipFields {
    #[validate(length(min = 16, max = 64, message = "The form was incomplete."))]
    form_key: String,
    #[validate(custom(function = "known_carrier"))]
    carrier: String,
    #[validate(custom(function = "tracking_number"))]
    tracking_number: String,
}

fn known_carrier(code: &str) -> Result<(), validator::ValidationError> {
    if carriers::is_known(code) {
        Ok(())
    } else {
        Err(validator::ValidationError::new("carrier")
            .with_message("Choose one of the carriers.".into()))
    }
}

fn tracking_number(number: &str) -> Result<(), validator::ValidationError> {
    if number.trim().is_empty() {
        return Err(validator::ValidationError::new("tracking")
            .with_message("Enter the parcel's tracking number.".into()));
    }
    if carriers::plausible_tracking(number.trim()) {
        Ok(())
    } else {
        Err(validator::ValidationError::new("tracking")
            .with_message("A tracking number is 4 to 40 letters, digits, spaces or dashes.".into()))
    }
}

pub async fn ship(
    state: web::Data<AppState>,
    layout: Layout,
    session: TypedSession,
    Admin(admin): Admin,
    path: web::Path<String>,
    form: CsrfForm<HashMap<String, String>>,
) -> Result<HttpResponse, AppError> {
    let number = plausible(&path.into_inner())?;
    let fields = form.0;
    let n = number.clone();
    let (order, lines) = db::run(&state.pool, move |conn| {
        let order = queries::by_number(conn, &n)?.ok_or(AppError::NotFound)?;
        let lines = fulfilment::lines(conn, order.id)?;
        Ok::<_, AppError>((order, lines))
    })
    .await?;
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let typed = ShipTyped {
        form_key: get("form_key"),
        carrier: get("carrier"),
        tracking_number: get("tracking_number"),
        lines: lines
            .iter()
            .filter_map(|l| {
                fields
                    .get(&format!("ship_{}", l.item_id))
                    .map(|v| (l.item_id, v.clone()))
            })
            .collect(),
    };
    let parsed = ShipFields {
        form_key: typed.form_key.trim().to_owned(),
        carrier: typed.carrier.trim().to_owned(),
        tracking_number: typed.tracking_number.trim().to_owned(),
    };
    let mut errors = match parsed.validate() {
        Ok(()) => FieldErrors::default(),
        Err(e) => FieldErrors::from_validation(&e),
    };
    if errors.get("form_key").is_some() {
        return Err(AppError::BadRequest("The ship form was incomplete.".into()));
    }
    let mut chosen = Vec::new();
    for line in lines.iter().filter(|l| l.physical) {
        let field = format!("ship_{}", line.item_id);
        let raw = typed.lines.get(&line.item_id).map_or("0", String::as_str);
        match parse_int_in(raw, 0, line.quantity) {
            Some(0) => {}
            Some(q) => chosen.push((line.item_id, q)),
            None => errors.add(
                &field,
                format!("Enter a whole number from 0 to {}.", line.to_ship()),
            ),
        }
    }
    let now = state.clock.unix();
    let rerender = |errors: FieldErrors, typed: ShipTyped| {
        let (state, layout, number) = (state.clone(), layout.clone(), number.clone());
        let admin_id = admin.id;
        async move {
            let loaded = db::run(&state.pool, move |conn| {
                load(conn, &number, admin_id, None, now)
            })
            .await?;
            let typed = Typed {
                ship: Some(typed),
                ..Typed::default()
            };
            order_page(
                &state,
                layout,
                loaded,
                typed,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    };
    if !errors.is_empty() {
        return rerender(errors, typed).await;
    }
    let request = shipments::Request {
        form_key: parsed.form_key,
        admin_id: admin.id,
        carrier: parsed.carrier,
        tracking_number: parsed.tracking_number,
        lines: chosen,
    };
    let order_id = order.id;
    let outcome = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| shipments::ship(conn, order_id, &request, now)).map_err(DbError::from)
    })
    .await?;
    let target = format!("/admin/orders/{number}#fulfilment");
    let mut errors = FieldErrors::default();
    match outcome {
        Outcome::Recorded(s) => {
            session.flash(format!(
                "Marked shipped with {}, tracking number {}. The customer was e-mailed.",
                s.carrier_name(),
                s.tracking_number
            ))?;
            return Ok(see_other(&target));
        }
        Outcome::AlreadyRecorded(s) => {
            session.flash(format!(
                "This parcel was already recorded (tracking number {}).",
                s.tracking_number
            ))?;
            return Ok(see_other(&target));
        }
        Outcome::Refused(Refusal::NotShippable(why)) => errors.add("ship", why),
        Outcome::Refused(Refusal::NothingChosen) => {
            errors.add("ship", "Choose at least one unit to put in the parcel.");
        }
        Outcome::Refused(Refusal::TooManyUnits { item_id, max }) => errors.add(
            &format!("ship_{item_id}"),
            if max > 0 {
                format!("At most {max} unit(s) of this line are left to ship.")
            } else {
                "Nothing of this line is left to ship.".to_owned()
            },
        ),
        Outcome::Refused(Refusal::UnknownShipment) => return Err(AppError::NotFound),
    }
    rerender(errors, typed).await
}

pub async fn delivered(
    state: web::Data<AppState>,
    session: TypedSession,
    Admin(admin): Admin,
    path: web::Path<(String, i64)>,
    _form: CsrfForm<HashMap<String, String>>,
) -> Result<HttpResponse, AppError> {
    let (number, shipment_id) = path.into_inner();
    let number = plausible(&number)?;
    let now = state.clock.unix();
    let n = number.clone();
    let result = db::run(&state.pool, move |conn| {
        let order = queries::by_number(conn, &n)?.ok_or(AppError::NotFound)?;
        write_tx(conn, |conn| {
            shipments::mark_delivered(conn, order.id, shipment_id, admin.id, now)
        })
        .map_err(|e| AppError::from(DbError::from(e)))
    })
    .await?;
    match result {
        Ok(true) => session.flash("Marked delivered. The customer was e-mailed.")?,
        Ok(false) => session.flash("This parcel was already marked delivered.")?,
        Err(_) => return Err(AppError::NotFound),
    }
    Ok(see_other(&format!("/admin/orders/{number}#fulfilment")))
}

pub struct QueueRow {
    pub number: String,
    pub paid: String,
    pub email: String,
    pub ship_to: String,
    pub units: i64,
    pub partly: bool,
}

#[derive(Template)]
#[template(path = "admin/shipping.html")]
struct QueuePage {
    layout: Layout,
    rows: Vec<QueueRow>,
    page: i64,
    prev: Option<String>,
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct QueueQuery {
    pub page: Option<String>,
}

/// Paid (or partly refunded) orders with something left to ship, oldest first; orders still
/// processing, disputed or flagged wait elsewhere.
pub fn awaiting(conn: &mut AnyConnection, page: i64) -> QueryResult<(Vec<QueueRow>, bool)> {
    let rows: Vec<Order> = orders::table
        .filter(orders::status.eq_any([
            OrderStatus::Paid.as_str(),
            OrderStatus::PartiallyRefunded.as_str(),
        ]))
        .filter(orders::fulfilment_status.eq_any([
            Fulfilment::Unfulfilled.as_str(),
            Fulfilment::PartiallyShipped.as_str(),
        ]))
        .filter(orders::flagged.is_null())
        .filter(orders::disputed.eq(false))
        .order((orders::created_at.asc(), orders::id.asc()))
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE + 1)
        .select(Order::as_select())
        .load(conn)?;
    let more = rows.len() as i64 > PAGE_SIZE;
    let mut out = Vec::new();
    for o in rows.into_iter().take(PAGE_SIZE as usize) {
        let units = fulfilment::lines(conn, o.id)?
            .iter()
            .map(fulfilment::Line::to_ship)
            .sum();
        let ship_to = address::for_order(conn, o.id)?.map_or_else(
            || "No address recorded".to_owned(),
            |a| format!("{}, {}", a.name, a.short()),
        );
        out.push(QueueRow {
            number: o.number.clone(),
            paid: when(o.paid_at.unwrap_or(o.created_at)),
            email: o.email.clone().unwrap_or_default(),
            ship_to,
            units,
            partly: o.fulfilment_status == Fulfilment::PartiallyShipped.as_str(),
        });
    }
    Ok((out, more))
}

pub async fn queue(
    state: web::Data<AppState>,
    layout: Layout,
    Admin(_admin): Admin,
    query: web::Query<QueueQuery>,
) -> Result<HttpResponse, AppError> {
    let page = match query.page.as_deref() {
        None | Some("") => 1,
        Some(p) => parse_int_in(p, 1, 100_000).ok_or_else(|| {
            AppError::BadRequest("The page number must be a whole number from 1.".into())
        })?,
    };
    let (rows, more) = db::run(&state.pool, move |conn| {
        awaiting(conn, page).map_err(DbError::from)
    })
    .await?;
    let html = QueuePage {
        layout,
        rows,
        page,
        prev: (page > 1).then(|| format!("/admin/shipping?page={}", page - 1)),
        next: more.then(|| format!("/admin/shipping?page={}", page + 1)),
    }
    .render();
    render(html, StatusCode::OK)
}

pub struct SlipLine {
    pub name: String,
    pub ordered: i64,
    pub to_ship: i64,
}

#[derive(Template)]
#[template(path = "admin/packing_slip.html")]
struct PackingSlip {
    shop: String,
    stylesheet: String,
    number: String,
    date: String,
    address: Vec<String>,
    phone: Option<String>,
    rate: Option<String>,
    lines: Vec<SlipLine>,
}

/// A plain printable page: who it goes to and what goes in the box, no prices.
pub async fn packing_slip(
    state: web::Data<AppState>,
    layout: Layout,
    Admin(_admin): Admin,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let number = plausible(&path.into_inner())?;
    let (order, items, lines, address) = db::run(&state.pool, move |conn| {
        let order = queries::by_number(conn, &number)?.ok_or(AppError::NotFound)?;
        let items = queries::items(conn, &order)?;
        let lines = fulfilment::lines(conn, order.id)?;
        let address = address::for_order(conn, order.id)?;
        Ok::<_, AppError>((order, items, lines, address))
    })
    .await?;
    let html = PackingSlip {
        shop: layout.shop_name.to_string(),
        stylesheet: layout.stylesheet.to_string(),
        number: order.number.clone(),
        date: when(order.paid_at.unwrap_or(order.created_at)),
        address: address
            .as_ref()
            .map(address::OrderShipping::lines)
            .unwrap_or_default(),
        phone: address.as_ref().and_then(|a| a.phone.clone()),
        rate: address.as_ref().and_then(|a| a.rate_name.clone()),
        lines: items
            .iter()
            .filter(|i| i.physical)
            .map(|i| SlipLine {
                name: i.name.clone(),
                ordered: i.quantity,
                to_ship: lines
                    .iter()
                    .find(|l| l.item_id == i.id)
                    .map_or(0, fulfilment::Line::to_ship),
            })
            .collect(),
    }
    .render();
    render(html, StatusCode::OK)
}
