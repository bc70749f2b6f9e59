//! Register, sign in, sign out, and the customer's order history.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use diesel::prelude::*;
use serde::Deserialize;
use validator::Validate;

use super::auth::{self, SignedIn, safe_next};
use super::model::{self, CUSTOMER};
use super::password::HashError;
use super::{limits, merge, sessions};
use crate::db::{self, DbError, write_tx};
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
    state: web::Data<AppState>,
    layout: Layout,
    query: web::Query<NextQuery>,
) -> Result<HttpResponse, AppError> {
    let next = safe_next(&state.public_url, query.next.as_deref());
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

pub const TAKEN: &str = "An account with this e-mail address already exists. Sign in instead?";

/// What a registration may do, decided before any password is hashed.
enum RegisterGate {
    Go,
    /// The address has an account (counted against the client: see `REGISTER_TAKEN_PER_ADDRESS`).
    Taken,
    Wait(i64),
}

/// The registration limits, checked and counted in one write transaction.
fn register_gate(
    conn: &mut crate::db::AnyConnection,
    ip: &str,
    email: &str,
    now: i64,
) -> diesel::QueryResult<RegisterGate> {
    limits::lock(conn, &format!("register address {ip}"))?;
    limits::lock(conn, &format!("register e-mail {email}"))?;
    let waits = [
        limits::over(conn, &limits::REGISTER_TAKEN_PER_ADDRESS, ip, now)?,
        limits::over(conn, &limits::REGISTER_PER_ADDRESS, ip, now)?,
        limits::over(conn, &limits::REGISTER_PER_EMAIL, email, now)?,
    ];
    if let Some(wait) = waits.into_iter().flatten().max() {
        return Ok(RegisterGate::Wait(wait));
    }
    limits::note(conn, &limits::REGISTER_PER_ADDRESS, ip, now)?;
    limits::note(conn, &limits::REGISTER_PER_EMAIL, email, now)?;
    if model::by_email(conn, email)?.is_some() {
        limits::note(conn, &limits::REGISTER_TAKEN_PER_ADDRESS, ip, now)?;
        return Ok(RegisterGate::Taken);
    }
    Ok(RegisterGate::Go)
}

/// New customers are signed in at once. Registration says when an address already has an
/// account (as a shop must, to send its owner to sign in), but only a few times an hour per
/// client address (`limits::REGISTER_TAKEN_PER_ADDRESS`); past that, every registration from
/// that address is told to wait, whatever the address typed.
pub async fn register(
    state: web::Data<AppState>,
    layout: Layout,
    session: TypedSession,
    client: ClientAddr,
    form: CsrfForm<RegisterForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.0;
    let next = safe_next(&state.public_url, form.next.as_deref());
    let rerender = |errors: FieldErrors, status: StatusCode| {
        crate::web::html_page(
            RegisterPage {
                layout: layout.clone(),
                email: form.email.clone(),
                next: next.clone(),
                errors,
            }
            .render(),
            status,
        )
    };
    let field_error = |message: String, status: StatusCode| {
        let mut errors = FieldErrors::default();
        errors.add("email", message);
        rerender(errors, status)
    };
    if let Err(e) = form.validate() {
        return rerender(
            FieldErrors::from_validation(&e),
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    let (ip, email, now) = (
        client.limit_key(),
        model::normalize_email(&form.email),
        state.clock.unix(),
    );
    let gate = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| register_gate(conn, &ip, &email, now)).map_err(DbError::from)
    })
    .await?;
    match gate {
        RegisterGate::Go => {}
        RegisterGate::Taken => return field_error(TAKEN.into(), StatusCode::UNPROCESSABLE_ENTITY),
        RegisterGate::Wait(wait) => {
            return field_error(
                format!(
                    "Too many registrations from your network. Please wait {} and try again.",
                    limits::minutes(wait)
                ),
                StatusCode::TOO_MANY_REQUESTS,
            );
        }
    }
    let hash = match state.hasher.hash(form.password.clone()).await {
        Ok(hash) => hash,
        Err(HashError::Busy) => return Ok(super::busy()),
        Err(e) => return Err(AppError::Internal(e.into())),
    };
    let (email, now) = (form.email.clone(), state.clock.unix());
    let created = db::run(&state.pool, move |conn| {
        Ok::<_, DbError>(model::create(conn, &email, &hash, CUSTOMER, now))
    })
    .await?;
    let user = match created {
        Ok(user) => user,
        // Registered in the meantime (a double submit).
        Err(e) if crate::db::is_unique_violation(&e) => {
            return field_error(TAKEN.into(), StatusCode::UNPROCESSABLE_ENTITY);
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

/// Signs in (a new server-side session, ending the one this browser had), and brings the
/// guest's cart and orders along.
async fn finish_sign_in(
    state: &AppState,
    session: &TypedSession,
    user: &model::User,
) -> Result<(), AppError> {
    let (uid, guest_cart, now) = (user.id, session.cart_id(), state.clock.unix());
    let previous = auth::session_id(&session.0);
    let (cart, sid) = db::run(&state.pool, move |conn| {
        if let Some(previous) = previous {
            sessions::end(conn, &previous, now)?;
        }
        let cart = merge::adopt_guest(conn, uid, guest_cart, now)?;
        let sid = sessions::start(conn, uid, now)?;
        Ok::<_, DbError>((cart, sid))
    })
    .await?;
    auth::sign_in(&session.0, user, &sid)?;
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
    state: web::Data<AppState>,
    layout: Layout,
    query: web::Query<NextQuery>,
) -> Result<HttpResponse, AppError> {
    let next = safe_next(&state.public_url, query.next.as_deref());
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
    let next = safe_next(&state.public_url, form.next.as_deref());
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
    // The limits are checked and the attempt recorded (as a failure, until the password says
    // otherwise) in one transaction: parallel guesses cannot all pass the check at once.
    let attempt = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| limits::begin_sign_in(conn, &ip, &email, now)).map_err(DbError::from)
    })
    .await?;
    let attempt = match attempt {
        Ok(attempt) => attempt,
        Err(wait) => {
            return rerender(
                format!(
                    "Too many sign-in attempts. Please wait {} and try again.",
                    limits::minutes(wait)
                ),
                StatusCode::TOO_MANY_REQUESTS,
            );
        }
    };
    let stored = attempt.user.as_ref().map(|u| u.password_hash.clone());
    let checked = state.hasher.verify(stored, form.password.clone()).await;
    let outcome = match &checked {
        Ok(true) => limits::Outcome::Succeeded,
        Ok(false) => limits::Outcome::Failed,
        Err(_) => limits::Outcome::NotChecked,
    };
    let id = attempt.id;
    db::run(&state.pool, move |conn| {
        limits::finish_sign_in(conn, id, outcome).map_err(DbError::from)
    })
    .await?;
    match (checked, attempt.user) {
        (Ok(true), Some(user)) => {
            finish_sign_in(&state, &session, &user).await?;
            Ok(see_other(&next))
        }
        (Ok(_), _) => rerender(WRONG.to_owned(), StatusCode::UNAUTHORIZED),
        (Err(HashError::Busy), _) => Ok(super::busy()),
        (Err(e), _) => Err(AppError::Internal(e.into())),
    }
}

#[derive(Debug, Deserialize)]
pub struct Empty {}

/// Signs this browser out and ends its session on the server: a copy of the cookie is worth
/// nothing afterwards.
pub async fn logout(
    state: web::Data<AppState>,
    session: Session,
    _form: CsrfForm<Empty>,
) -> Result<HttpResponse, AppError> {
    if let Some(sid) = auth::session_id(&session) {
        let now = state.clock.unix();
        db::run(&state.pool, move |conn| {
            sessions::end(conn, &sid, now).map_err(DbError::from)
        })
        .await?;
    }
    auth::sign_out(&session);
    Ok(see_other("/"))
}

/// "Sign out everywhere": ends every session of the account, this one included.
pub async fn logout_everywhere(
    state: web::Data<AppState>,
    session: TypedSession,
    SignedIn(user): SignedIn,
    _form: CsrfForm<Empty>,
) -> Result<HttpResponse, AppError> {
    let (uid, now) = (user.id, state.clock.unix());
    db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            sessions::end_all(conn, uid, now)?;
            diesel::update(crate::schema::users::table.find(uid))
                .set(
                    crate::schema::users::session_epoch.eq(crate::schema::users::session_epoch + 1),
                )
                .execute(conn)
        })
        .map_err(DbError::from)
    })
    .await?;
    // Emptied rather than purged: a purged session drops what is written after it (the flash).
    session.0.clear();
    session.renew();
    session.flash("You're signed out on every device, this one included.")?;
    Ok(see_other("/account/login"))
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
    /// Recovery e-mails for checkouts left unfinished.
    reminders: bool,
    /// Reminders go only to a verified address.
    verified: bool,
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
        reminders: user.recovery_opt_in,
        verified: user.email_verified_at.is_some(),
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
    /// Shipping, for orders with something to ship: the way there and the address.
    timeline: Vec<TimelineRow>,
    ship_to: Vec<String>,
    ship_rate: Option<String>,
    digital: Vec<crate::digital::access::DigitalLine>,
    digital_revoked: bool,
}

pub struct TimelineRow {
    pub date: Option<String>,
    pub label: String,
    pub detail: Option<String>,
    pub tracking: Option<(Option<String>, String)>,
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
    let links = state.links.clone();
    let expires = state.clock.unix() + crate::digital::links::PAGE_LINK_SECS;
    let (order, items, refunds, parcels, address, digital) = db::run(&state.pool, move |conn| {
        // Another customer's order number is simply not found.
        let order = queries::by_number(conn, &number)?
            .filter(|o| o.user_id == Some(uid))
            .ok_or(AppError::NotFound)?;
        let items = queries::items(conn, &order)?;
        let refunds = crate::admin::refunds::for_order(conn, order.id)?;
        let parcels = crate::shipping::shipments::for_order(conn, order.id)?;
        let address = crate::shipping::address::for_order(conn, order.id)?;
        let digital = crate::digital::access::for_order(conn, &order, &items, &links, expires)?;
        Ok::<_, AppError>((order, items, refunds, parcels, address, digital))
    })
    .await?;
    let currency = order.currency();
    let fulfilment = crate::shipping::status::Fulfilment::parse(&order.fulfilment_status)
        .unwrap_or(crate::shipping::status::Fulfilment::Unfulfilled);
    let timeline = if fulfilment == crate::shipping::status::Fulfilment::NotRequired
        || order.paid_at.is_none()
    {
        Vec::new()
    } else {
        crate::shipping::timeline::steps(&order, &items, fulfilment, &parcels)
            .into_iter()
            .map(|s| TimelineRow {
                date: s.at.map(date),
                label: s.label,
                detail: s.detail,
                tracking: s.tracking,
            })
            .collect()
    };
    Ok(OrderDetailPage {
        layout,
        digital,
        digital_revoked: crate::digital::access::revoked(&order)
            && items.iter().any(|i| !i.physical),
        timeline,
        ship_rate: address.as_ref().and_then(|a| a.rate_name.clone()),
        ship_to: address
            .as_ref()
            .map(crate::shipping::address::OrderShipping::lines)
            .unwrap_or_default(),
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
