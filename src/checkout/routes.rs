//! `POST /checkout`, `GET /checkout/success`, `GET /checkout/cancel`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;
use validator::Validate;

use super::fulfil;
use super::start::{self, CheckoutError, Shopper};
use crate::accounts::auth::CurrentUser;
use crate::accounts::model::User;
use crate::cart::model as cart;
use crate::cart::page::{CheckoutFields, render_cart_with};
use crate::db::{self, DbError};
use crate::error::AppError;
use crate::orders::model::Order;
use crate::orders::status::OrderStatus;
use crate::orders::view::ItemTable;
use crate::orders::{number, queries};
use crate::state::AppState;
use crate::web::client::ClientAddr;
use crate::web::forms;
use crate::web::layout::Layout;
use crate::web::see_other;
use crate::web::session::{CsrfForm, TypedSession};

#[derive(Debug, Deserialize, Validate)]
pub struct CheckoutForm {
    #[serde(default)]
    #[validate(custom(function = "optional_email"))]
    pub email: String,
    /// A guest's consent to one recovery e-mail if they don't finish paying.
    #[serde(default)]
    #[validate(length(max = 1))]
    pub remind: Option<String>,
}

fn optional_email(raw: &str) -> Result<(), validator::ValidationError> {
    use validator::ValidateEmail as _;
    let raw = raw.trim();
    if raw.is_empty() || (raw.len() <= 254 && raw.validate_email()) {
        Ok(())
    } else {
        Err(validator::ValidationError::new("email").with_message(
            "Enter an e-mail address like name@example.com, or leave it empty.".into(),
        ))
    }
}

pub async fn checkout(
    state: web::Data<AppState>,
    layout: Layout,
    session: TypedSession,
    CurrentUser(user): CurrentUser,
    client: ClientAddr,
    form: CsrfForm<CheckoutForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.0;
    let remind = form.remind.as_deref() == Some("1") && user.is_none();
    let email = Some(form.email.trim().to_lowercase()).filter(|e| !e.is_empty());
    let email_error = match form.validate() {
        Err(errors) => forms::messages(&errors).into_iter().map(|(_, m)| m).next(),
        // A reminder needs somewhere to go.
        Ok(()) if remind && email.is_none() => {
            Some("Enter your e-mail address to get a reminder, or untick the box.".to_owned())
        }
        Ok(()) => None,
    };
    if email_error.is_some() {
        let fields = CheckoutFields {
            email: form.email,
            email_error,
            remind,
        };
        return render_cart_with(
            &state,
            layout,
            &session,
            vec![],
            fields,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let fields = CheckoutFields {
        email: form.email,
        email_error: None,
        remind,
    };
    let Some(cart_id) = session.cart_id() else {
        return render_cart_with(
            &state,
            layout,
            &session,
            vec![CheckoutError::EmptyCart.to_string()],
            fields,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    begin(&state, layout, &session, user, &client, cart_id, fields).await
}

/// Starts the checkout of the session's cart and sends the shopper to Stripe, or shows the cart
/// again with what stopped it. (`POST /checkout`, and a cart restored from a recovery e-mail.)
pub async fn begin(
    state: &AppState,
    layout: Layout,
    session: &TypedSession,
    user: Option<User>,
    client: &ClientAddr,
    cart_id: i64,
    fields: CheckoutFields,
) -> Result<HttpResponse, AppError> {
    let email = Some(fields.email.trim().to_lowercase()).filter(|e| !e.is_empty());
    let (user_id, guest, ticked) = (user.as_ref().map(|u| u.id), email.clone(), fields.remind);
    let recovery_email = db::run(&state.pool, move |conn| {
        crate::recovery::consented_address(conn, user_id, guest.as_deref(), ticked)
            .map_err(DbError::from)
    })
    .await?;
    let user = user.map(|u| u.id);
    let shopper = Shopper {
        cart_id,
        email: if user.is_some() { None } else { email },
        client_ip: Some(client.limit_key()),
        user,
        recovery_email,
    };
    match start::start_checkout(state, shopper).await {
        Ok(url) => Ok(see_other(&url)),
        Err(CheckoutError::Busy(number)) => Ok(see_other(&format!("/checkout/wait/{number}"))),
        Err(CheckoutError::Db(e)) => Err(e.into()),
        Err(
            e @ (CheckoutError::Payments(_) | CheckoutError::Sync(_) | CheckoutError::Vanished),
        ) => Err(AppError::Internal(e.into())),
        Err(e) => {
            let status = match e {
                CheckoutError::StripeRefused(_)
                | CheckoutError::StripeUnknown
                | CheckoutError::LineRanOut => StatusCode::SERVICE_UNAVAILABLE,
                CheckoutError::TooManyOpen => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::CONFLICT,
            };
            render_cart_with(state, layout, session, vec![e.to_string()], fields, status).await
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "checkout/order.html")]
pub struct OrderPage {
    pub layout: Layout,
    pub number: String,
    pub status: &'static str,
    pub status_class: &'static str,
    pub waiting: bool,
    pub items: ItemTable,
    pub email: Option<String>,
    /// Downloads and licence keys of a paid order.
    pub digital: Vec<crate::digital::access::DigitalLine>,
    pub digital_revoked: bool,
}

impl OrderPage {
    pub fn new(layout: Layout, order: &Order, items: &[crate::orders::model::OrderItem]) -> Self {
        let status = order.status();
        Self {
            layout,
            number: order.number.clone(),
            status: status.label(),
            status_class: status.as_str(),
            waiting: matches!(status, OrderStatus::Pending | OrderStatus::Processing),
            items: ItemTable::new(order, items),
            email: order.email.clone(),
            digital: Vec::new(),
            digital_revoked: crate::digital::access::revoked(order)
                && items.iter().any(|i| !i.physical),
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct SuccessQuery {
    pub session_id: Option<String>,
}

/// The order is this visitor's: made from this browser's cart, or by the signed-in customer.
fn owns(order: &Order, session: &TypedSession, user: Option<&User>) -> bool {
    (order.cart_id.is_some() && order.cart_id == session.cart_id())
        || (order.user_id.is_some() && order.user_id == user.map(|u| u.id))
}

/// The session id in the URL is only trusted for an order this visitor owns.
async fn own_order_by_session(
    state: &AppState,
    session: &TypedSession,
    user: Option<&User>,
    session_id: &str,
) -> Result<Order, AppError> {
    if !session_id.starts_with("cs_")
        || session_id.len() > 255
        || !session_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(AppError::NotFound);
    }
    let id = session_id.to_owned();
    let order = db::run(&state.pool, move |conn| {
        queries::by_session(conn, &id).map_err(AppError::from)
    })
    .await?
    .ok_or(AppError::NotFound)?;
    if !owns(&order, session, user) {
        return Err(AppError::NotFound);
    }
    Ok(order)
}

pub async fn success(
    state: web::Data<AppState>,
    layout: Layout,
    session: TypedSession,
    CurrentUser(user): CurrentUser,
    query: web::Query<SuccessQuery>,
) -> Result<OrderPage, AppError> {
    let session_id = query.into_inner().session_id.ok_or(AppError::NotFound)?;
    let order = own_order_by_session(&state, &session, user.as_ref(), &session_id).await?;
    // Don't wait for the webhook: ask Stripe now, while the order can still move. Whichever of
    // the two comes second does nothing. A settled order has nothing to learn, and a browser
    // reloading the page gets a few lookups a minute: the webhook does the rest. In a rush
    // (half the Stripe budget in use) the webhook alone does it: a paid order stays at two
    // calls, and the page says "payment processing" until then.
    if order.status().may_move_by_payment()
        && state.stripe.budget().has_room()
        && stripe_lookup_allowed(&session, state.clock.unix())
    {
        if let Err(e) = fulfil::fulfil_checkout(&state, &session_id, None).await {
            tracing::warn!(order = %order.number, error = %crate::error::Report(&e), "fulfilment from the success page failed; the webhook will retry");
        }
    }
    let order_id = order.id;
    let links = state.links.clone();
    let expires = state.clock.unix() + crate::digital::links::PAGE_LINK_SECS;
    let (order, items, digital) = db::run(&state.pool, move |conn| {
        let order = queries::by_id(conn, order_id)?;
        let items = queries::items(conn, &order)?;
        let digital = crate::digital::access::for_order(conn, &order, &items, &links, expires)?;
        Ok::<_, DbError>((order, items, digital))
    })
    .await?;
    if matches!(order.status(), OrderStatus::Paid | OrderStatus::Processing)
        && let Some(cart_id) = order.cart_id
    {
        db::run(&state.pool, move |conn| {
            cart::clear(conn, cart_id).map_err(DbError::from)
        })
        .await?;
    }
    Ok(OrderPage {
        digital,
        ..OrderPage::new(layout, &order, &items)
    })
}

/// Stripe lookups the success page may make per browser session and minute.
const LOOKUPS_PER_MINUTE: u32 = 6;

/// Counts a success-page lookup against this browser's budget; false when it is spent.
fn stripe_lookup_allowed(session: &TypedSession, now: i64) -> bool {
    const KEY: &str = "stripe_lookups";
    let minute = now.div_euclid(60);
    let (seen_minute, count) = session
        .0
        .get::<(i64, u32)>(KEY)
        .ok()
        .flatten()
        .unwrap_or((minute, 0));
    let count = if seen_minute == minute { count } else { 0 };
    if count >= LOOKUPS_PER_MINUTE {
        return false;
    }
    session.0.insert(KEY, (minute, count + 1)).is_ok()
}

#[derive(Debug, Deserialize)]
pub struct CancelQuery {
    pub order: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct CancelForm {
    #[serde(default)]
    pub order: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "checkout/cancel.html")]
pub struct CancelPage {
    layout: Layout,
    number: String,
    minutes_left: i64,
    resume_url: Option<String>,
}

/// This browser's cart's order with this number, if there is one. Someone else's order looks
/// exactly like an unknown one.
async fn own_order(
    state: &AppState,
    session: &TypedSession,
    number: Option<String>,
) -> Result<Option<Order>, AppError> {
    let number = number.filter(|n| number::is_plausible(n));
    Ok(match (number, session.cart_id()) {
        (Some(number), Some(cart_id)) => db::run(&state.pool, move |conn| {
            queries::by_number(conn, &number).map_err(AppError::from)
        })
        .await?
        .filter(|o| o.cart_id == Some(cart_id)),
        _ => None,
    })
}

/// No checkout of this cart to cancel: the cart, with a note.
fn nothing_to_cancel(session: &TypedSession) -> Result<HttpResponse, AppError> {
    session.flash("There was no checkout to cancel. Here is your cart.")?;
    Ok(see_other("/cart"))
}

/// Where a checkout that is no longer pending sends the shopper: a payment that went through
/// after all (in another tab) shows the order rather than pretend; anything else, the cart.
fn left_checkout(session: &TypedSession, order: &Order) -> Result<HttpResponse, AppError> {
    let status = order.status();
    if status.is_paid() || status == OrderStatus::Processing {
        return Ok(see_other(&format!(
            "/checkout/success?session_id={}",
            order.checkout_session_id.as_deref().unwrap_or_default()
        )));
    }
    session.flash("Checkout cancelled. Your cart is just as you left it.")?;
    Ok(see_other("/cart"))
}

/// Where the shopper lands from Stripe's "back" link. A GET changes nothing (browsers and link
/// scanners prefetch GETs): it offers "Back to cart", a POST that ends the checkout, and the way
/// back to the payment page, which stays open (and its items reserved) until it expires.
///
/// Without an order of this cart (no or a garbled `order` parameter, an unknown number, someone
/// else's order, a browser that lost its session), the shopper goes to the cart with a note.
pub async fn cancel_page(
    state: web::Data<AppState>,
    layout: Layout,
    session: TypedSession,
    query: Option<web::Query<CancelQuery>>,
) -> Result<HttpResponse, AppError> {
    let number = query.and_then(|q| q.into_inner().order);
    let Some(order) = own_order(&state, &session, number).await? else {
        return nothing_to_cancel(&session);
    };
    if order.status() != OrderStatus::Pending {
        return left_checkout(&session, &order);
    }
    let page = CancelPage {
        layout,
        number: order.number.clone(),
        minutes_left: ((order.checkout_expires_at - state.clock.unix()) / 60).max(1),
        resume_url: order.checkout_url.clone(),
    };
    crate::web::html_page(page.render(), StatusCode::OK)
}

/// How long a shopper waits in line for a payment page at most; their stock is held meanwhile.
pub const WAIT_LIMIT_SECS: i64 = 600;

/// Seconds between the waiting page's reloads.
const WAIT_REFRESH_SECS: i64 = 3;

#[derive(Template, WebTemplate)]
#[template(path = "checkout/wait.html")]
pub struct WaitPage {
    layout: Layout,
    number: String,
    place: i64,
    /// Seconds until the page reloads itself; 0: the shopper turned that off.
    refresh: i64,
}

/// `?auto=off`: the shopper asked the page to stop reloading itself (a screen reader user
/// mid-sentence, say: WCAG 2.2.1 asks that a timed refresh can be turned off).
#[derive(Debug, Deserialize)]
pub struct WaitQuery {
    pub auto: Option<String>,
}

/// `GET /checkout/wait/{number}`: a shopper in line for the payment page (Stripe's rate limit,
/// or our share of it, had no turn free). Each load tries again under the order's key; the page
/// reloads itself without JavaScript, and its stock stays held for up to ten minutes.
pub async fn wait(
    state: web::Data<AppState>,
    layout: Layout,
    session: TypedSession,
    path: web::Path<String>,
    query: web::Query<WaitQuery>,
) -> Result<HttpResponse, AppError> {
    let auto = query.auto.as_deref() != Some("off");
    let Some(order) = own_order(&state, &session, Some(path.into_inner())).await? else {
        return Err(AppError::NotFound);
    };
    if order.status() != OrderStatus::Pending {
        return left_checkout(&session, &order);
    }
    if let Some(url) = &order.checkout_url {
        return Ok(see_other(url));
    }
    let now = state.clock.unix();
    if now >= order.created_at + WAIT_LIMIT_SECS || now >= order.checkout_expires_at - 60 {
        // Its page was never shown (no URL was ever stored), so nothing can pay it: the stock
        // goes back without asking Stripe, which is busy enough.
        fulfil::expire(&state, order.id).await?;
        session.flash(CheckoutError::LineRanOut.to_string())?;
        return Ok(see_other("/cart"));
    }
    match start::resume(&state, order.clone()).await {
        Ok(url) => Ok(see_other(&url)),
        Err(e @ CheckoutError::LineRanOut) => {
            session.flash(e.to_string())?;
            Ok(see_other("/cart"))
        }
        Err(CheckoutError::Busy(number)) => {
            let place = db::run(&state.pool, move |conn| {
                start::place_in_line(conn, &order, now).map_err(AppError::from)
            })
            .await?;
            let page = WaitPage {
                layout,
                number,
                place,
                refresh: if auto { WAIT_REFRESH_SECS } else { 0 },
            };
            crate::web::html_page(page.render(), StatusCode::OK)
        }
        Err(CheckoutError::Db(e)) => Err(e.into()),
        Err(e @ (CheckoutError::StripeRefused(_) | CheckoutError::StripeUnknown)) => {
            render_cart_with(
                &state,
                layout,
                &session,
                vec![e.to_string()],
                CheckoutFields {
                    email: String::new(),
                    email_error: None,
                    remind: false,
                },
                StatusCode::SERVICE_UNAVAILABLE,
            )
            .await
        }
        Err(e) => Err(AppError::Internal(e.into())),
    }
}

/// "Back to cart": expire the session first (an open session can still be paid), which
/// releases the stock; the cart was never touched.
pub async fn cancel(
    state: web::Data<AppState>,
    session: TypedSession,
    form: CsrfForm<CancelForm>,
) -> Result<HttpResponse, AppError> {
    let Some(order) = own_order(&state, &session, Some(form.0.order)).await? else {
        return nothing_to_cancel(&session);
    };
    if order.status() == OrderStatus::Pending {
        start::abandon(&state, &order).await.map_err(|e| match e {
            CheckoutError::Db(e) => AppError::from(e),
            other => AppError::Internal(other.into()),
        })?;
    }
    let order_id = order.id;
    let now = db::run(&state.pool, move |conn| {
        queries::by_id(conn, order_id).map_err(AppError::from)
    })
    .await?;
    left_checkout(&session, &now)
}
