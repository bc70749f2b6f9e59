//! Register, sign in, sign out, and the customer's order history.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;
use validator::Validate;

use super::auth::{self, SignedIn, safe_next};
use super::model::{self, CUSTOMER};
use super::{limits, merge, password};
use crate::db::{self, DbError};
use crate::error::AppError;
use crate::money::Money;
use crate::orders::model::Order;
use crate::orders::view::ItemTable;
use crate::orders::{number, queries};
use crate::state::AppState;
use crate::web::client::ClientAddr;
use crate::web::field_errors::FieldErrors;
use crate::web::layout::Layout;
use crate::web::see_other;
use crate::web::session::{CsrfForm, TypedSession};

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    pub next: Option<String>,
}

// ---- register -------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "account/register.html")]
struct RegisterPage {
    layout: Layout,
    email: String,
    next: String,
    errors: FieldErrors,
}

/// No `Debug`: a typed password must never reach a log line.
#[derive(Default, Deserialize, Validate)]
pub struct RegisterForm {
    #[serde(default)]
    #[validate(
        length(max = 254, message = "That e-mail address is too long."),
        email(message = "Enter an e-mail address like name@example.com.")
    )]
    pub email: String,
    #[serde(default)]
    #[validate(length(
        min = 12,
        max = 1000,
        message = "Use at least 12 characters (and at most 1000)."
    ))]
    pub password: String,
    #[serde(default)]
    #[validate(must_match(other = "password", message = "The two passwords don't match."))]
    pub password_confirmation: String,
    pub next: Option<String>,
}

pub async fn register_form(
    layout: Layout,
    query: web::Query<NextQuery>,
) -> Result<HttpResponse, AppError> {
    let next = safe_next(query.next.as_deref());
    crate::web::html_page(
        RegisterPage {
            layout,
            email: String::new(),
            next,
            errors: FieldErrors::default(),
        }
        .render(),
        StatusCode::OK,
    )
}

pub async fn register(
    state: web::Data<AppState>,
    layout: Layout,
    session: TypedSession,
    form: CsrfForm<RegisterForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.0;
    let next = safe_next(form.next.as_deref());
    let rerender = |errors: FieldErrors| {
        crate::web::html_page(
            RegisterPage {
                layout: layout.clone(),
                email: form.email.clone(),
                next: next.clone(),
                errors,
            }
            .render(),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
    };
    if let Err(e) = form.validate() {
        return rerender(FieldErrors::from_validation(&e));
    }
    let password = form.password.clone();
    let hash = web::block(move || password::hash(&password))
        .await
        .map_err(|e| AppError::Internal(e.into()))?
        .map_err(|e| AppError::Internal(e.into()))?;
    let (email, now) = (form.email.clone(), state.clock.unix());
    let created = db::run(&state.pool, move |conn| {
        Ok::<_, DbError>(model::create(conn, &email, &hash, CUSTOMER, now))
    })
    .await?;
    let user = match created {
        Ok(user) => user,
        Err(e) if crate::db::is_unique_violation(&e) => {
            let mut errors = FieldErrors::default();
            errors.add(
                "email",
                "An account with this e-mail address already exists. Sign in instead?",
            );
            return rerender(errors);
        }
        Err(e) => return Err(e.into()),
    };
    finish_sign_in(&state, &session, &user).await?;
    super::email_routes::send_verification(&state, &user).await?;
    session.flash(
        "Welcome! Your account is ready. We've e-mailed you a link to confirm your address.",
    )?;
    Ok(see_other(&next))
}

/// Signs in and brings the guest's cart and orders along.
async fn finish_sign_in(
    state: &AppState,
    session: &TypedSession,
    user: &model::User,
) -> Result<(), AppError> {
    let (uid, guest_cart, now) = (user.id, session.cart_id(), state.clock.unix());
    let cart = db::run(&state.pool, move |conn| {
        merge::adopt_guest(conn, uid, guest_cart, now).map_err(DbError::from)
    })
    .await?;
    auth::sign_in(&session.0, user)?;
    if let Some(cart) = cart {
        session.set_cart_id(cart)?;
    }
    Ok(())
}

// ---- sign in / out --------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "account/login.html")]
struct LoginPage {
    layout: Layout,
    email: String,
    next: String,
    error: Option<String>,
}

/// No `Debug`: a typed password must never reach a log line.
#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub password: String,
    pub next: Option<String>,
}

pub async fn login_form(
    layout: Layout,
    query: web::Query<NextQuery>,
) -> Result<HttpResponse, AppError> {
    let next = safe_next(query.next.as_deref());
    let error: Option<String> = None;
    crate::web::html_page(
        LoginPage {
            layout,
            email: String::new(),
            next,
            error,
        }
        .render(),
        StatusCode::OK,
    )
}

pub const WRONG: &str = "E-mail or password is wrong.";

pub async fn login(
    state: web::Data<AppState>,
    layout: Layout,
    session: TypedSession,
    client: ClientAddr,
    form: CsrfForm<LoginForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.0;
    let next = safe_next(form.next.as_deref());
    let ip = client.limit_key();
    let email = model::normalize_email(&form.email);
    let now = state.clock.unix();
    let rerender = |error: String, status: StatusCode| {
        crate::web::html_page(
            LoginPage {
                layout: layout.clone(),
                email: form.email.clone(),
                next: next.clone(),
                error: Some(error),
            }
            .render(),
            status,
        )
    };
    let (ip2, email2) = (ip.clone(), email.clone());
    let (wait, user) = db::run(&state.pool, move |conn| {
        let wait = limits::wait_needed(conn, &ip2, &email2, now)?;
        let user = if wait.is_none() {
            model::by_email(conn, &email2)?
        } else {
            None
        };
        Ok::<_, DbError>((wait, user))
    })
    .await?;
    if let Some(secs) = wait {
        let minutes = (secs + 59) / 60;
        let unit = if minutes == 1 { "minute" } else { "minutes" };
        return rerender(
            format!("Too many sign-in attempts. Please wait {minutes} {unit} and try again."),
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    let stored = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| password::dummy_hash().to_owned());
    let typed = form.password.clone();
    let ok = web::block(move || password::verify(&stored, &typed))
        .await
        .map_err(|e| AppError::Internal(e.into()))?
        && user.is_some();
    let (ip3, email3) = (ip.clone(), email.clone());
    db::run(&state.pool, move |conn| {
        limits::record(conn, &ip3, &email3, ok, now).map_err(DbError::from)
    })
    .await?;
    match user.filter(|_| ok) {
        Some(user) => {
            finish_sign_in(&state, &session, &user).await?;
            Ok(see_other(&next))
        }
        None => rerender(WRONG.to_owned(), StatusCode::UNAUTHORIZED),
    }
}

#[derive(Debug, Deserialize)]
pub struct Empty {}

pub async fn logout(session: Session, _form: CsrfForm<Empty>) -> Result<HttpResponse, AppError> {
    auth::sign_out(&session);
    Ok(see_other("/"))
}

// ---- order history --------------------------------------------------------------------------

pub struct OrderRow {
    pub number: String,
    pub date: String,
    pub status: &'static str,
    pub status_class: &'static str,
    pub total: String,
    pub kind: &'static str,
}

impl From<&Order> for OrderRow {
    fn from(o: &Order) -> Self {
        Self {
            number: o.number.clone(),
            date: date(o.created_at),
            status: o.status().label(),
            status_class: o.status().as_str(),
            total: o.total().to_string(),
            kind: if o.kind == "subscription" {
                "Subscription"
            } else {
                "Order"
            },
        }
    }
}

pub fn date(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .map(|d| d.format("%-d %B %Y").to_string())
        .unwrap_or_default()
}

#[derive(Template, WebTemplate)]
#[template(path = "account/orders.html")]
pub struct OrdersPage {
    layout: Layout,
    email: String,
    orders: Vec<OrderRow>,
    page: i64,
    prev: Option<i64>,
    next: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    pub page: Option<String>,
}

pub const PAGE_SIZE: i64 = 10;

pub async fn orders(
    state: web::Data<AppState>,
    layout: Layout,
    SignedIn(user): SignedIn,
    query: web::Query<PageQuery>,
) -> Result<OrdersPage, AppError> {
    let page = query
        .page
        .as_deref()
        .and_then(|p| crate::web::forms::parse_int_in(p, 1, 100_000))
        .unwrap_or(1);
    let uid = user.id;
    let (rows, more) = db::run(&state.pool, move |conn| {
        let mut rows = queries::for_user(conn, uid, (page - 1) * PAGE_SIZE, PAGE_SIZE + 1)?;
        let more = rows.len() as i64 > PAGE_SIZE;
        rows.truncate(PAGE_SIZE as usize);
        Ok::<_, DbError>((rows, more))
    })
    .await?;
    Ok(OrdersPage {
        layout,
        email: user.email,
        orders: rows.iter().map(OrderRow::from).collect(),
        page,
        prev: (page > 1).then_some(page - 1),
        next: more.then_some(page + 1),
    })
}

pub struct RefundRow {
    pub date: String,
    pub amount: String,
    pub status: &'static str,
    pub status_class: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "account/order.html")]
pub struct OrderDetailPage {
    layout: Layout,
    order: OrderRow,
    items: ItemTable,
    waiting: bool,
    refunds: Vec<RefundRow>,
    disputed: bool,
}

pub async fn order(
    state: web::Data<AppState>,
    layout: Layout,
    SignedIn(user): SignedIn,
    path: web::Path<String>,
) -> Result<OrderDetailPage, AppError> {
    let number = path.into_inner();
    if !number::is_plausible(&number) {
        return Err(AppError::NotFound);
    }
    let uid = user.id;
    let (order, items, refunds) = db::run(&state.pool, move |conn| {
        // Another customer's order number is simply not found.
        let order = queries::by_number(conn, &number)?
            .filter(|o| o.user_id == Some(uid))
            .ok_or(AppError::NotFound)?;
        let items = queries::items(conn, &order)?;
        let refunds = crate::admin::refunds::for_order(conn, order.id)?;
        Ok::<_, AppError>((order, items, refunds))
    })
    .await?;
    let currency = order.currency();
    Ok(OrderDetailPage {
        layout,
        disputed: order.disputed,
        refunds: refunds
            .iter()
            // A refund Stripe refused to create never happened; the customer need not see it.
            .filter(|r| r.status != crate::admin::refunds::CANCELED)
            .map(|r| RefundRow {
                date: date(r.created_at),
                amount: Money::new(r.amount, currency).to_string(),
                status: r.label(),
                status_class: r.status.clone(),
            })
            .collect(),
        waiting: matches!(
            order.status(),
            crate::orders::status::OrderStatus::Pending
                | crate::orders::status::OrderStatus::Processing
        ),
        order: OrderRow::from(&order),
        items: ItemTable::new(&order, &items),
    })
}
