//! Opening a subscription Checkout: at most one open session per customer and product. Two tabs,
//! or a second click an hour later, reuse the open session; choosing another plan of the product
//! expires the open one first (an open session can still be paid); a session that completed means
//! the customer is subscribed already.
//!
//! `subscription_checkouts.attempt`, moved by compare-and-set, names the idempotency key of the
//! next session, and the row holds that session's parameters (price, `expires_at`): requests that
//! race here send identical requests under the same key, so Stripe opens one session.

use diesel::prelude::*;
use stripe_shared::CheckoutSessionStatus;

use crate::catalog::model::Price;
use crate::db::{self, DbError};
use crate::error::SyncError;
use crate::payments::checkout::{self as sessions, SubscriptionCheckout};
use crate::schema::subscription_checkouts as sc;
use crate::state::AppState;
use crate::stripe_ids;

pub enum Opened {
    /// Send the customer here.
    Url(String),
    /// A session for this product completed: the customer has (or is getting) the subscription.
    AlreadySubscribed,
    /// Another request opened a session for another plan of this product at this very moment.
    Conflict,
}

struct Row {
    attempt: i64,
    price_id: Option<i64>,
    expires_at: i64,
    session_id: Option<String>,
    url: Option<String>,
}

pub async fn open(
    state: &AppState,
    user: &crate::accounts::model::User,
    price: &Price,
    cancel_url: String,
) -> Result<Opened, SyncError> {
    let (uid, pid) = (user.id, price.product_id);
    let row = db::run(&state.pool, move |conn| {
        db::insert_once(conn, |conn| {
            diesel::insert_into(sc::table)
                .values((sc::user_id.eq(uid), sc::product_id.eq(pid)))
                .execute(conn)
        })?;
        read(conn, uid, pid)
    })
    .await?;
    let now = state.clock.unix();

    if let (Some(session_id), true) = (&row.session_id, row.expires_at > now) {
        let open = sessions::retrieve(&state.stripe, session_id).await?;
        match open.status {
            Some(CheckoutSessionStatus::Open) if row.price_id == Some(price.id) => {
                if let Some(url) = open.url.or(row.url) {
                    return Ok(Opened::Url(url));
                }
            }
            // Another plan of the product: the old session must not stay payable.
            Some(CheckoutSessionStatus::Open) => {
                sessions::expire(&state.stripe, session_id).await?;
            }
            Some(CheckoutSessionStatus::Complete) => {
                if let Some(sub) = open.subscription {
                    crate::subscriptions::sync::sync_subscription(state, sub.id().as_str(), None)
                        .await?;
                }
                return Ok(Opened::AlreadySubscribed);
            }
            _ => {}
        }
    }

    // A new session: claim the next attempt with this price and expiry. Losing the race means
    // another request claimed it just now: use its attempt, whose parameters we read back.
    let (seen, price_id, expires_at) = (
        row.attempt,
        price.id,
        now + crate::checkout::SESSION_MINUTES * 60,
    );
    let row = db::run(&state.pool, move |conn| {
        diesel::update(
            sc::table
                .filter(sc::user_id.eq(uid))
                .filter(sc::product_id.eq(pid))
                .filter(sc::attempt.eq(seen)),
        )
        .set((
            sc::attempt.eq(seen + 1),
            sc::price_id.eq(price_id),
            sc::expires_at.eq(expires_at),
            sc::session_id.eq(None::<String>),
            sc::url.eq(None::<String>),
        ))
        .execute(conn)?;
        read(conn, uid, pid)
    })
    .await?;
    if row.price_id != Some(price.id) {
        return Ok(Opened::Conflict);
    }
    let stripe_price = stripe_ids::price(state, price).await?;
    let customer = stripe_ids::customer(state, user).await?;
    // A physical plan (the coffee club) ships every period to the Customer's shipping address.
    let physical = db::run(&state.pool, move |conn| {
        use crate::schema::products;
        products::table
            .find(pid)
            .select(products::kind)
            .first::<String>(conn)
            .map(|k| k != "digital")
            .map_err(DbError::from)
    })
    .await?;
    let shipping_price = match physical {
        true => stripe_ids::shipping_price(state, price).await?,
        false => None,
    };
    let base = state.public_url.as_str().trim_end_matches('/');
    let session = sessions::create_subscription(
        &state.stripe,
        &SubscriptionCheckout {
            customer: &customer,
            stripe_price: &stripe_price,
            user_id: user.id,
            price_id: price.id,
            expires_at: row.expires_at,
            success_url: format!("{base}/account/subscriptions?session_id={{CHECKOUT_SESSION_ID}}"),
            cancel_url,
            idempotency_key: format!("subscribe-{uid}-{pid}-{}", row.attempt),
            tax: state.config.tax,
            ship_to: physical.then_some(state.config.ship_to.as_slice()),
            phone: state.config.collect_phone,
            shipping_price: shipping_price.as_deref(),
        },
    )
    .await?;
    let url = session
        .url
        .clone()
        .ok_or(crate::payments::PaymentError::Unexpected(
            "the session's url",
        ))?;
    let (attempt, id, stored) = (row.attempt, session.id.as_str().to_owned(), url.clone());
    db::run(&state.pool, move |conn| {
        diesel::update(
            sc::table
                .filter(sc::user_id.eq(uid))
                .filter(sc::product_id.eq(pid))
                .filter(sc::attempt.eq(attempt)),
        )
        .set((sc::session_id.eq(id), sc::url.eq(stored)))
        .execute(conn)
        .map_err(DbError::from)
    })
    .await?;
    state.metrics.checkout_session_created("subscription");
    Ok(Opened::Url(url))
}

fn read(conn: &mut db::AnyConnection, uid: i64, pid: i64) -> Result<Row, DbError> {
    let (attempt, price_id, expires_at, session_id, url) = sc::table
        .filter(sc::user_id.eq(uid))
        .filter(sc::product_id.eq(pid))
        .select((
            sc::attempt,
            sc::price_id,
            sc::expires_at,
            sc::session_id,
            sc::url,
        ))
        .first(conn)?;
    Ok(Row {
        attempt,
        price_id,
        expires_at,
        session_id,
        url,
    })
}
