//! `start_checkout`: re-checks the cart, creates (or reuses) the pending order with its stock
//! held, and creates its Checkout Session under an idempotency key derived from the order.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::result::Error as DieselError;
use sha2::{Digest, Sha256};

use super::{MAX_OPEN_PER_CLIENT, SESSION_MINUTES};
use crate::cart::model::{self as cart, CartLine};
use crate::catalog::model::Product;
use crate::checkout::fulfil;
use crate::config::TaxSetting;
use crate::db::{self, AnyConnection, DbError, write_tx};
use crate::error::SyncError;
use crate::inventory;
use crate::orders::model::{NewOrder, Order, OrderItem};
use crate::orders::status::OrderStatus;
use crate::orders::{number, queries};
use crate::payments::PaymentError;
use crate::payments::checkout::{self as sessions, SessionUrls};
use crate::schema::{carts, checkout_recoveries, order_items, orders, prices, products};
use crate::shipping;
use crate::state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error("Your cart is empty.")]
    EmptyCart,
    #[error("{}", .0.join(" "))]
    StaleCart(Vec<String>),
    #[error(
        "There are already {MAX_OPEN_PER_CLIENT} checkouts open from your network. Finish or cancel one of them, or wait half an hour, and try again."
    )]
    TooManyOpen,
    #[error(
        "The payment page is not available right now ({0}). Your cart is unchanged; please try again in a moment."
    )]
    StripeRefused(String),
    #[error(
        "We couldn't confirm the payment page with Stripe. Please try again in a moment: you won't be charged twice."
    )]
    StripeUnknown,
    /// Stripe's rate limit (or our share of it) has no turn free: the order and its stock hold
    /// are kept, and the shopper waits in line for the payment page.
    #[error("High demand: you're in line for the payment page.")]
    Busy(String),
    /// The order stopped waiting (its place in line ran out) before its payment page came.
    #[error(
        "Stripe is very busy and we couldn't get you a payment page in time. Your cart is as you left it: please try again in a few minutes."
    )]
    LineRanOut,
    #[error(transparent)]
    Db(#[from] DbError),
    /// Our side of a Stripe call failed (a bug to log, not the shopper's problem).
    #[error("the payment client failed")]
    Payments(#[source] PaymentError),
    #[error("could not bring the old checkout up to date")]
    Sync(#[from] SyncError),
    /// A concurrent request's order disappeared between its insert and our read.
    #[error("the concurrent checkout vanished")]
    Vanished,
}

impl From<DieselError> for CheckoutError {
    fn from(e: DieselError) -> Self {
        CheckoutError::Db(e.into())
    }
}

/// What the shopper's browser knows about them.
pub struct Shopper {
    pub cart_id: i64,
    pub email: Option<String>,
    pub client_ip: Option<String>,
    /// A signed-in customer (their user id): the order is theirs, paid as their Stripe
    /// Customer (made with their first session, see [`paying_customer`]).
    pub user: Option<i64>,
    /// Where a recovery e-mail may go if this checkout is abandoned (given with consent).
    pub recovery_email: Option<String>,
}

/// Returns the URL of the Checkout Session to send the shopper to.
pub async fn start_checkout(state: &AppState, shopper: Shopper) -> Result<String, CheckoutError> {
    let currency = state.config.currency;
    let cart_id = shopper.cart_id;
    let now = state.clock.unix();
    let lines = db::run(&state.pool, move |conn| {
        cart::lines(conn, cart_id, currency).map_err(DbError::from)
    })
    .await?;
    if lines.is_empty() {
        return Err(CheckoutError::EmptyCart);
    }
    let problems: Vec<String> = lines
        .iter()
        .filter_map(|l| l.problem().map(|p| format!("{}: {p}", l.name)))
        .collect();
    if !problems.is_empty() {
        return Err(CheckoutError::StaleCart(problems));
    }
    let who = match &shopper.user {
        Some(id) => format!("user:{id}"),
        None => shopper.email.clone().unwrap_or_default(),
    };
    let fingerprint = fingerprint(&lines, &who, currency.code());

    // A checkout already in progress for this cart: reuse it if the cart is unchanged.
    let pending = db::run(&state.pool, move |conn| {
        queries::pending_for_cart(conn, cart_id).map_err(DbError::from)
    })
    .await?;
    if let Some(order) = pending {
        if order.cart_fingerprint == fingerprint && order.checkout_expires_at > now + 60 {
            // The same checkout, asked again: the latest answer about reminders stands.
            if order.recovery_email != shopper.recovery_email {
                let (id, consent) = (order.id, shopper.recovery_email.clone());
                db::run(&state.pool, move |conn| {
                    diesel::update(orders::table.find(id))
                        .set(orders::recovery_email.eq(consent))
                        .execute(conn)
                        .map_err(DbError::from)
                })
                .await?;
            }
            return match (&order.checkout_session_id, &order.checkout_url) {
                (Some(_), Some(url)) => Ok(url.clone()),
                // The first attempt's outcome is unknown: the same key cannot open a second session.
                _ => create_session(state, order).await,
            };
        }
        abandon(state, &order).await?;
    }

    // The Stripe Products made already; a product's first sale makes its own with the session
    // (`create_session`), once the order holds its stock, so a 429 there waits in line too.
    let product_ids: Vec<i64> = lines.iter().map(|l| l.product_id).collect();
    let products = known_stripe_products(state, product_ids).await?;
    let tax = state.config.tax;
    let email = shopper.email.clone();
    let client_ip = shopper.client_ip.clone();
    let user_id = shopper.user;
    let recovery_email = shopper.recovery_email.clone();
    let account = state.stripe.account.clone();
    let stripe = state.stripe.clone();
    let created = db::run(&state.pool, move |conn| {
        let who = Who {
            email: email.as_deref(),
            client_ip: client_ip.as_deref(),
            user_id,
            account: &account,
            recovery_email: recovery_email.as_deref(),
        };
        Ok::<_, CheckoutError>(create_order(
            conn,
            cart_id,
            &lines,
            (&products, tax),
            &who,
            &fingerprint,
            currency.code(),
            &stripe,
            now,
        ))
    })
    .await?;
    let order = match created {
        Ok(order) => order,
        // Another request for this cart (a double click) created it first: share its session.
        Err(CheckoutError::Db(DbError::Query(e))) if db::is_unique_violation(&e) => {
            let order = db::run(&state.pool, move |conn| {
                queries::pending_for_cart(conn, cart_id).map_err(DbError::from)
            })
            .await?
            .ok_or(CheckoutError::Vanished)?;
            if let Some(url) = &order.checkout_url {
                return Ok(url.clone());
            }
            order
        }
        Err(e) => return Err(e),
    };
    // Its stock holds show on this instance's pages at once (others within a second).
    state.catalogue.invalidate();
    create_session(state, order).await
}

/// A pending order's payment page, for a shopper who waited in line: its session if it has one,
/// else a new try at making it (under the order's key, so never two).
pub async fn resume(state: &AppState, order: Order) -> Result<String, CheckoutError> {
    match &order.checkout_url {
        Some(url) => Ok(url.clone()),
        None => create_session(state, order).await,
    }
}

/// The orders waiting in line for their payment page now, every instance's.
pub fn waiting(conn: &mut AnyConnection, now: i64) -> QueryResult<i64> {
    in_line(conn, i64::MAX, now)
}

/// Where a pending order waiting for its payment page stands in line (1: next), counted over
/// every instance's waiting orders.
pub fn place_in_line(conn: &mut AnyConnection, order: &Order, now: i64) -> QueryResult<i64> {
    in_line(conn, order.id, now)
}

/// Orders up to `last_id` waiting for their payment page; not those whose place ran out (the
/// shopper left: the sweep gives their stock back).
fn in_line(conn: &mut AnyConnection, last_id: i64, now: i64) -> QueryResult<i64> {
    orders::table
        .filter(orders::status.eq(OrderStatus::Pending.as_str()))
        .filter(orders::checkout_url.is_null())
        .filter(orders::checkout_expires_at.gt(now))
        .filter(orders::created_at.gt(now - crate::checkout::routes::WAIT_LIMIT_SECS))
        .filter(orders::id.le(last_id))
        .count()
        .get_result(conn)
}

/// Calls Stripe for a pending order and stores the session; on a certain refusal, gives the stock back.
async fn create_session(state: &AppState, order: Order) -> Result<String, CheckoutError> {
    let order_id = order.id;
    let items = {
        let order = order.clone();
        db::run(&state.pool, move |conn| {
            queries::items(conn, &order).map_err(DbError::from)
        })
        .await?
    };
    // What a product's first sale or a customer's first checkout makes at Stripe first.
    let prepared = async {
        let items = complete_stripe_products(state, &order, items).await?;
        let customer = paying_customer(state, &order).await?;
        Ok::<_, CheckoutError>((items, customer))
    };
    let (items, customer) = match prepared.await {
        Err(e @ CheckoutError::StripeRefused(_)) => {
            fulfil::expire(state, order_id).await?;
            return Err(e);
        }
        other => other?,
    };
    let urls = session_urls(state, &order.number);
    let rates = offered_rates(state, &order, &items).await?;
    let shipping = shipping_ask(state, &items, &rates);
    // A turn at Stripe, or a place in line: a shopper waits on a page, never sees a 429.
    if !state.stripe.try_checkout_turn() {
        return Err(CheckoutError::Busy(order.number.clone()));
    }
    let order = fresh_expiry(state, order).await?;
    match sessions::create(
        &state.stripe,
        &order,
        &items,
        &urls,
        customer.as_deref(),
        shipping.as_ref(),
    )
    .await
    {
        Ok(session) => {
            let url =
                session
                    .url
                    .clone()
                    .ok_or(CheckoutError::Payments(PaymentError::Unexpected(
                        "the session's url",
                    )))?;
            state.metrics.checkout_session_created("payment");
            let session_id = session.id.as_str().to_owned();
            let (stored_id, stored_url) = (session_id.clone(), url.clone());
            let now = state.clock.unix();
            // Only while the order still waits for it: one the sweep gave up on (its stock
            // back on the shelf) must not get a page anyone can pay.
            let stored = db::run(&state.pool, move |conn| {
                diesel::update(
                    orders::table
                        .filter(orders::id.eq(order_id))
                        .filter(orders::status.eq(OrderStatus::Pending.as_str())),
                )
                .set((
                    orders::checkout_session_id.eq(stored_id),
                    orders::checkout_url.eq(stored_url),
                    orders::updated_at.eq(now),
                ))
                .execute(conn)
                .map_err(DbError::from)
            })
            .await?;
            if stored == 0 {
                tracing::warn!(order = %order.number, "the order stopped waiting before its session came; expiring the session");
                if let Err(e) = sessions::expire(&state.stripe, &session_id).await {
                    // Its URL was never shown, so nobody can pay it meanwhile.
                    tracing::warn!(order = %order.number, error = %crate::error::Report(&e), "could not expire the unused session");
                }
                return Err(CheckoutError::LineRanOut);
            }
            Ok(url)
        }
        // Stripe's rate limit, after our retries: nothing was made, and the order keeps its
        // key and its stock for the next try from the waiting page.
        Err(PaymentError::Refused { status: 429, .. }) => {
            tracing::warn!(order = %order.number, "Stripe is rate limiting checkouts; the shopper waits in line");
            Err(CheckoutError::Busy(order.number.clone()))
        }
        Err(e) if e.nothing_created() => {
            tracing::warn!(order = %order.number, error = %crate::error::Report(&e), "Stripe refused the checkout session");
            fulfil::expire(state, order_id).await?;
            Err(CheckoutError::StripeRefused(refusal_reason(&e)))
        }
        Err(e @ PaymentError::Unknown(_)) => {
            tracing::warn!(order = %order.number, error = %crate::error::Report(&e), "checkout session outcome unknown; the order keeps its key");
            Err(CheckoutError::StripeUnknown)
        }
        Err(e) => Err(CheckoutError::Payments(e)),
    }
}

/// Stripe refuses a session that expires less than 30 minutes after it is made.
const MIN_SESSION_SECS: i64 = 30 * 60 + 30;

/// The order with an expiry Stripe accepts now. An order that waited in line (or whose first
/// try went unanswered) longer than a minute gets a new one: nothing under its key can be
/// replayed with the old one any more, since Stripe would refuse it now. The stock is held as
/// long.
async fn fresh_expiry(state: &AppState, mut order: Order) -> Result<Order, CheckoutError> {
    let now = state.clock.unix();
    if order.checkout_session_id.is_some() || order.checkout_expires_at >= now + MIN_SESSION_SECS {
        return Ok(order);
    }
    let (id, expires) = (order.id, now + super::SESSION_MINUTES * 60);
    db::run(&state.pool, move |conn| {
        diesel::update(
            orders::table
                .filter(orders::id.eq(id))
                .filter(orders::status.eq(OrderStatus::Pending.as_str())),
        )
        .set(orders::checkout_expires_at.eq(expires))
        .execute(conn)
        .map_err(DbError::from)
    })
    .await?;
    order.checkout_expires_at = expires;
    Ok(order)
}

/// The Stripe Products of these products that exist already, by our product id.
async fn known_stripe_products(
    state: &AppState,
    ids: Vec<i64>,
) -> Result<HashMap<i64, String>, CheckoutError> {
    let known: Vec<(i64, String)> = db::run(&state.pool, move |conn| {
        products::table
            .filter(products::id.eq_any(ids))
            .filter(products::stripe_product_id.is_not_null())
            .select((products::id, products::stripe_product_id.assume_not_null()))
            .load(conn)
            .map_err(DbError::from)
    })
    .await?;
    Ok(known.into_iter().collect())
}

/// Makes at Stripe the Products the order's lines still lack (a product's first sale, under
/// keys derived from our rows, see [`crate::stripe_ids`]) and puts them on the lines. Stripe's
/// 429 (after retries) is a place in line, like the session's own.
async fn complete_stripe_products(
    state: &AppState,
    order: &Order,
    items: Vec<OrderItem>,
) -> Result<Vec<OrderItem>, CheckoutError> {
    let mut missing: Vec<i64> = items
        .iter()
        .filter(|i| i.stripe_product_id.is_none())
        .map(|i| i.product_id)
        .collect();
    missing.sort_unstable();
    missing.dedup();
    if missing.is_empty() {
        return Ok(items);
    }
    let rows: Vec<Product> = db::run(&state.pool, move |conn| {
        products::table
            .filter(products::id.eq_any(missing))
            .select(Product::as_select())
            .load(conn)
            .map_err(DbError::from)
    })
    .await?;
    for product in &rows {
        let stripe_id = crate::stripe_ids::product(state, product)
            .await
            .map_err(|e| made_first(order, "product", e))?;
        let (order_id, product_id) = (order.id, product.id);
        db::run(&state.pool, move |conn| {
            diesel::update(
                order_items::table
                    .filter(order_items::order_id.eq(order_id))
                    .filter(order_items::product_id.eq(product_id)),
            )
            .set(order_items::stripe_product_id.eq(stripe_id))
            .execute(conn)
            .map_err(DbError::from)
        })
        .await?;
    }
    let order = order.clone();
    Ok(db::run(&state.pool, move |conn| {
        queries::items(conn, &order).map_err(DbError::from)
    })
    .await?)
}

/// The shipping options the order offered when it was made (none for a digital-only order).
async fn offered_rates(
    state: &AppState,
    order: &Order,
    items: &[OrderItem],
) -> Result<Vec<shipping::offer::Offered>, CheckoutError> {
    if !items.iter().any(|i| i.physical) {
        return Ok(Vec::new());
    }
    let order_id = order.id;
    Ok(db::run(&state.pool, move |conn| {
        shipping::offer::for_order(conn, order_id).map_err(DbError::from)
    })
    .await?)
}

/// What Checkout asks about shipping: an address (and the rates) when anything is physical.
fn shipping_ask<'a>(
    state: &'a AppState,
    items: &[OrderItem],
    rates: &'a [shipping::offer::Offered],
) -> Option<sessions::ShippingAsk<'a>> {
    items
        .iter()
        .any(|i| i.physical)
        .then(|| sessions::ShippingAsk {
            countries: &state.config.ship_to,
            phone: state.config.collect_phone,
            rates,
        })
}

fn refusal_reason(e: &PaymentError) -> String {
    match e {
        PaymentError::Refused { status: 429, .. } => "too many requests".into(),
        PaymentError::Refused { message, .. } => message.clone(),
        _ => "unknown error".into(),
    }
}

pub fn session_urls(state: &AppState, order_number: &str) -> SessionUrls {
    let base = state.public_url.as_str().trim_end_matches('/');
    SessionUrls {
        success_url: format!("{base}/checkout/success?session_id={{CHECKOUT_SESSION_ID}}"),
        cancel_url: format!("{base}/checkout/cancel?order={order_number}"),
    }
}

/// Ends a pending checkout whose cart changed (or that is about to expire): expires its session
/// at Stripe first, since an open session can still be paid, then releases its stock.
pub async fn abandon(state: &AppState, order: &Order) -> Result<(), CheckoutError> {
    let mut session_id = order.checkout_session_id.clone();
    let now = state.clock.unix();
    if session_id.is_none() && order.checkout_expires_at > now {
        // The create call's outcome was unknown: a session may exist under the order's key.
        // Replaying the same request with the same key finds it (or makes it) so it can be expired.
        let order_id = order.id;
        let items = {
            let order = order.clone();
            db::run(&state.pool, move |conn| {
                queries::items(conn, &order).map_err(DbError::from)
            })
            .await?
        };
        let customer = customer_of(state, order).await?;
        let rates = offered_rates(state, order, &items).await?;
        match sessions::create(
            &state.stripe,
            order,
            &items,
            &session_urls(state, &order.number),
            customer.as_deref(),
            shipping_ask(state, &items, &rates).as_ref(),
        )
        .await
        {
            Ok(session) => {
                let id = session.id.as_str().to_owned();
                let stored = id.clone();
                db::run(&state.pool, move |conn| {
                    diesel::update(orders::table.find(order_id))
                        .set(orders::checkout_session_id.eq(stored))
                        .execute(conn)
                        .map_err(DbError::from)
                })
                .await?;
                session_id = Some(id);
            }
            Err(e) if e.nothing_created() => {}
            Err(e) => {
                tracing::warn!(order = %order.number, error = %crate::error::Report(&e), "could not learn the old session");
                return Err(CheckoutError::StripeUnknown);
            }
        }
    }
    if let Some(session_id) = &session_id {
        match sessions::expire(&state.stripe, session_id).await {
            Ok(_) => {}
            // Already expired or completed: let Stripe's truth decide what the order becomes.
            Err(PaymentError::Refused { .. }) => {}
            Err(e) => {
                tracing::warn!(order = %order.number, error = %crate::error::Report(&e), "could not expire the old session");
                return Err(CheckoutError::StripeUnknown);
            }
        }
        fulfil::fulfil_checkout(state, session_id, None).await?;
        return Ok(());
    }
    fulfil::expire(state, order.id).await?;
    Ok(())
}

/// What the cart held when the order was made: an unchanged cart reuses the order.
fn fingerprint(lines: &[CartLine], who: &str, currency: &str) -> String {
    let mut h = Sha256::new();
    h.update(currency.as_bytes());
    h.update(who.as_bytes());
    for l in lines {
        h.update(format!("|{}:{}:{}", l.price_id, l.unit.amount, l.quantity).as_bytes());
    }
    hex::encode(h.finalize())
}

/// In one write transaction: the per-client limit, the stock check, the order with its
/// snapshotted items, and the held stock.
/// Who is checking out.
struct Who<'a> {
    email: Option<&'a str>,
    client_ip: Option<&'a str>,
    user_id: Option<i64>,
    /// The Stripe account the session will be made under.
    account: &'a str,
    recovery_email: Option<&'a str>,
}

// The transaction's inputs, each used once; `stripe` only derives the order's idempotency key.
#[allow(clippy::too_many_arguments)]
fn create_order(
    conn: &mut AnyConnection,
    cart_id: i64,
    lines: &[CartLine],
    (products, tax): (&HashMap<i64, String>, TaxSetting),
    who: &Who<'_>,
    fingerprint: &str,
    currency: &str,
    stripe: &crate::payments::Stripe,
    now: i64,
) -> Result<Order, CheckoutError> {
    write_tx(conn, |conn| {
        if let Some(ip) = who.client_ip {
            let open: i64 = orders::table
                .filter(orders::client_ip.eq(ip))
                .filter(orders::status.eq(OrderStatus::Pending.as_str()))
                .filter(orders::checkout_expires_at.gt(now))
                .count()
                .get_result(conn)?;
            if open >= MAX_OPEN_PER_CLIENT {
                return Err(CheckoutError::TooManyOpen);
            }
        }
        let product_ids: Vec<i64> = lines.iter().map(|l| l.product_id).collect();
        let variant_ids: Vec<i64> = lines.iter().map(|l| l.variant_id).collect();
        inventory::lock_variants(conn, &variant_ids)?;
        // The lines were read before this transaction: a price retired or a variant removed
        // since (by an admin, on any instance) must not be sold. After the lock, removal waits.
        let price_ids: Vec<i64> = lines.iter().map(|l| l.price_id).collect();
        let still: Vec<(i64, Option<i64>)> = prices::table
            .filter(prices::id.eq_any(&price_ids))
            .filter(prices::active.eq(true))
            .select((prices::id, prices::variant_id))
            .load(conn)?;
        let gone: Vec<String> = lines
            .iter()
            .filter(|l| !still.contains(&(l.price_id, Some(l.variant_id))))
            .map(|l| format!("{} is no longer for sale.", l.name))
            .collect();
        if !gone.is_empty() {
            return Err(CheckoutError::StaleCart(gone));
        }
        let available = inventory::available(conn, &variant_ids)?;
        // Two lines of one variant (a price replaced while both were in the cart) share its shelf.
        let wanted = |variant: i64| -> i64 {
            lines
                .iter()
                .filter(|l| l.variant_id == variant)
                .map(|l| l.quantity)
                .sum()
        };
        let short: Vec<String> = lines
            .iter()
            .filter_map(|l| match available.get(&l.variant_id) {
                Some(0) => Some(format!("{} just sold out.", l.name)),
                Some(&n) if n < wanted(l.variant_id) => {
                    Some(format!("Only {n} of {} left.", l.name))
                }
                _ => None,
            })
            .collect();
        if !short.is_empty() {
            return Err(CheckoutError::StaleCart(short));
        }
        let total = lines
            .iter()
            .try_fold(0i64, |acc, l| {
                l.total().and_then(|t| acc.checked_add(t.amount))
            })
            .ok_or_else(|| {
                CheckoutError::StaleCart(vec!["The order total is too large.".into()])
            })?;
        let number = number::generate();
        // Stored whole (install id included): every retry sends exactly this key.
        let key = stripe.key(&format!("checkout-{number}"));
        diesel::insert_into(orders::table)
            .values(&NewOrder {
                number: &number,
                kind: "one_time",
                status: OrderStatus::Pending.as_str(),
                currency,
                amount_total: total,
                amount_subtotal: total,
                tax_behavior: tax.behavior(),
                email: who.email,
                cart_id: Some(cart_id),
                cart_fingerprint: fingerprint,
                client_ip: who.client_ip,
                idempotency_key: &key,
                checkout_expires_at: now + SESSION_MINUTES * 60,
                created_at: now,
                updated_at: now,
                user_id: who.user_id,
                stripe_account: Some(who.account),
            })
            .execute(conn)?;
        // The consent to a recovery e-mail, and the recovery (if any) this cart was restored from.
        let recovered_from: Option<i64> = carts::table
            .inner_join(
                checkout_recoveries::table
                    .on(carts::recovery_id.eq(checkout_recoveries::id.nullable())),
            )
            .filter(carts::id.eq(cart_id))
            .filter(checkout_recoveries::status.ne(crate::recovery::RECOVERED))
            .filter(checkout_recoveries::restored_at.ge(now - crate::recovery::ATTRIBUTION_SECS))
            .select(checkout_recoveries::id)
            .first(conn)
            .optional()?;
        diesel::update(orders::table.filter(orders::number.eq(&number)))
            .set((
                orders::recovery_email.eq(who.recovery_email),
                orders::recovered_from.eq(recovered_from),
            ))
            .execute(conn)?;
        let order = queries::by_number(conn, &number)?.ok_or(DieselError::NotFound)?;
        let digital: Vec<i64> = products::table
            .filter(products::id.eq_any(&product_ids))
            .filter(products::kind.eq("digital"))
            .select(products::id)
            .load(conn)?;
        for l in lines {
            diesel::insert_into(order_items::table)
                .values((
                    order_items::order_id.eq(order.id),
                    order_items::product_id.eq(l.product_id),
                    order_items::variant_id.eq(l.variant_id),
                    order_items::price_id.eq(l.price_id),
                    order_items::name.eq(&l.name),
                    order_items::unit_amount.eq(l.unit.amount),
                    order_items::quantity.eq(l.quantity),
                    // Until fulfilment learns the line's discount and tax.
                    order_items::amount_paid.eq(l.total().map(|t| t.amount).unwrap_or(0)),
                    order_items::stripe_product_id.eq(products.get(&l.product_id)),
                    order_items::physical.eq(!digital.contains(&l.product_id)),
                ))
                .execute(conn)?;
            if available.contains_key(&l.variant_id) {
                inventory::hold(
                    conn,
                    order.id,
                    (l.product_id, l.variant_id),
                    l.quantity,
                    now,
                )?;
            }
        }
        // Fixed now: free-over thresholds are decided on this subtotal, before any code.
        if lines.iter().any(|l| !digital.contains(&l.product_id)) {
            let offered = shipping::offer::offer(&shipping::offer::active(conn)?, total);
            shipping::offer::store(conn, order.id, &offered)?;
        }
        Ok(order)
    })
}

/// The Stripe Customer a signed-in customer's order is paid as, made at Stripe with their first
/// checkout (once, under a key derived from the user). Stripe's 429 is a place in line.
async fn paying_customer(state: &AppState, order: &Order) -> Result<Option<String>, CheckoutError> {
    let Some(uid) = order.user_id else {
        return Ok(None);
    };
    let user = order_user(state, uid)
        .await?
        .ok_or(CheckoutError::Vanished)?;
    crate::stripe_ids::customer(state, &user)
        .await
        .map(Some)
        .map_err(|e| made_first(order, "customer", e))
}

/// What a failure to make a Stripe object the session needs first (`what`: "product",
/// "customer") means for the order: Stripe's 429 after retries is a place in line, a refusal
/// gives the stock back (the caller expires the order), anything else keeps it for a retry.
fn made_first(order: &Order, what: &'static str, e: SyncError) -> CheckoutError {
    match e {
        SyncError::Stripe(PaymentError::Refused { status: 429, .. }) => {
            tracing::warn!(order = %order.number, what, "Stripe is rate limiting; the shopper waits in line");
            CheckoutError::Busy(order.number.clone())
        }
        SyncError::Stripe(e) if e.nothing_created() => {
            tracing::warn!(order = %order.number, what, error = %crate::error::Report(&e), "Stripe refused to make it");
            CheckoutError::StripeRefused(refusal_reason(&e))
        }
        e => {
            tracing::warn!(order = %order.number, what, error = %crate::error::Report(&e), "could not make it at Stripe");
            CheckoutError::StripeUnknown
        }
    }
}

async fn order_user(
    state: &AppState,
    uid: i64,
) -> Result<Option<crate::accounts::model::User>, CheckoutError> {
    Ok(db::run(&state.pool, move |conn| {
        crate::accounts::model::by_id(conn, uid).map_err(DbError::from)
    })
    .await?)
}

/// The Stripe Customer an order is paid as (a signed-in customer's), if any.
async fn customer_of(state: &AppState, order: &Order) -> Result<Option<String>, CheckoutError> {
    let Some(uid) = order.user_id else {
        return Ok(None);
    };
    Ok(order_user(state, uid)
        .await?
        .and_then(|u| u.stripe_customer_id))
}

#[cfg(test)]
mod tests {
    use super::CheckoutError;

    /// What the cart page shows for each error (`None`: never shown, the error page says
    /// "Something went wrong" and the cause is logged). `reason` stands for what Stripe said.
    fn shown(e: &CheckoutError) -> Option<Vec<String>> {
        use CheckoutError::*;
        match e {
            EmptyCart | TooManyOpen | StripeUnknown => Some(vec![e.to_string()]),
            // Split around Stripe's words, which the page shows between.
            StripeRefused(reason) => Some(
                e.to_string()
                    .split(reason.as_str())
                    .map(str::to_owned)
                    .collect(),
            ),
            // The lines' own problems, one per line (see `CartLine::problem`).
            StaleCart(_) => None,
            Db(_) | Payments(_) | Sync(_) | Vanished => None,
            // Not an error: the waiting page (`checkout::routes::wait`).
            Busy(_) => None,
            LineRanOut => Some(vec![e.to_string()]),
        }
    }

    #[test]
    fn every_checkout_message_is_on_the_errors_page() {
        let page = include_str!("../../docs/errors.md");
        let all = [
            CheckoutError::EmptyCart,
            CheckoutError::StaleCart(vec![]),
            CheckoutError::TooManyOpen,
            CheckoutError::StripeRefused("REASON".into()),
            CheckoutError::StripeUnknown,
            CheckoutError::Vanished,
            CheckoutError::LineRanOut,
        ];
        for e in &all {
            for part in shown(e).unwrap_or_default() {
                assert!(
                    page.contains(part.trim()),
                    "docs/errors.md lacks the checkout message {part:?}"
                );
            }
        }
    }
}
