//! Abandoned-checkout recovery, our own (Stripe's `after_expiration.recovery` link opens a new
//! session with no order behind it and no stock held).
//!
//! Only with consent: a signed-in customer who opted in on their account page, or a guest who
//! gave an e-mail address and ticked the box beside it on the cart page. When such a checkout's
//! session expires ([`schedule`], in the transaction that expires the order), one e-mail goes
//! out after `RECOVERY_DELAY` ([`send_due`]) — unless the customer has paid for those items
//! since, asked for no more, or withdrew their consent — with a link that restores the cart
//! ([`restore`]) and one that unsubscribes. Never twice for the same cart. An order paid through
//! the link marks the recovery as recovered, with its revenue ([`mark_recovered`]).

pub mod routes;

use base64::Engine as _;
use diesel::prelude::*;
use rand::RngCore as _;
use sha2::{Digest, Sha256};

use crate::cart::model::{self as cart, AddError, Addition, CartError};
use crate::db::{self, AnyConnection, DbError};
use crate::mail::outbox::{self, Mail};
use crate::money::{Currency, Money};
use crate::orders::model::{Order, OrderItem};
use crate::orders::queries;
use crate::schema::{
    cart_items, carts, checkout_recoveries, order_items, orders, prices, recovery_unsubscribes,
    users,
};
use crate::state::AppState;

pub const SCHEDULED: &str = "scheduled";
pub const SENT: &str = "sent";
pub const CANCELLED: &str = "cancelled";
pub const RECOVERED: &str = "recovered";

/// Where the link's token goes until the mail worker sends the mail: the outbox never holds a
/// usable link. (Letters and dashes only, so HTML escaping leaves it as it is.)
pub const TOKEN_PLACEHOLDER: &str = "RECOVERY-TOKEN-WHEN-SENT";

/// A recovery not sent within a day of being due (the shop was down, or recovery was off) is
/// dropped: a reminder days later is spam, not service.
const TOO_LATE_SECS: i64 = 86_400;

/// Recoveries one pass looks at, at most.
const BATCH: i64 = 50;

/// The outbox kind of the recovery e-mail.
pub const MAIL_KIND: &str = "checkout_recovery";

/// How long a recovery e-mail's links work after it was sent.
pub const LINK_SECS: i64 = 30 * 86_400;

/// How long after its link restored a cart an order from that cart counts as recovered, and
/// how long a cart reminded of is not reminded of again.
pub const ATTRIBUTION_SECS: i64 = 7 * 86_400;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = checkout_recoveries)]
pub struct Recovery {
    pub id: i64,
    pub order_id: i64,
    pub email: String,
    pub user_id: Option<i64>,
    pub cart_id: Option<i64>,
    pub cart_fingerprint: String,
    pub status: String,
    pub expired_at: i64,
    pub sent_at: Option<i64>,
    pub cancelled_reason: Option<String>,
    pub restored_at: Option<i64>,
    pub recovered_order_id: Option<i64>,
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether `email` asked for no more recovery e-mails.
pub fn unsubscribed(conn: &mut AnyConnection, email: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        recovery_unsubscribes::table.filter(recovery_unsubscribes::email.eq(email)),
    ))
    .get_result(conn)
}

/// The address a new checkout may send its recovery e-mail to: a signed-in customer's when
/// they opted in; a guest's when they ticked the box beside it. `None` without consent.
pub fn consented_address(
    conn: &mut AnyConnection,
    user_id: Option<i64>,
    guest: Option<&str>,
    guest_ticked: bool,
) -> QueryResult<Option<String>> {
    let email = match user_id {
        // Only to an address the customer proved is theirs: anyone can type any address into
        // a sign-up form.
        Some(uid) => users::table
            .find(uid)
            .filter(users::recovery_opt_in.eq(true))
            .filter(users::email_verified_at.is_not_null())
            .select(users::email)
            .first::<String>(conn)
            .optional()?,
        None => guest.filter(|_| guest_ticked).map(str::to_owned),
    };
    let Some(email) = email.map(|e| crate::accounts::model::normalize_email(&e)) else {
        return Ok(None);
    };
    Ok((!unsubscribed(conn, &email)?).then_some(email))
}

/// The order's session expired: schedules its recovery e-mail when the shopper consented, the
/// checkout had items, and this cart has had none before. Call in the transaction that expired
/// the order. True when scheduled.
pub fn schedule(conn: &mut AnyConnection, order_id: i64, now: i64) -> QueryResult<bool> {
    let order = queries::by_id(conn, order_id)?;
    let Some(email) = order.recovery_email.clone() else {
        return Ok(false);
    };
    // A checkout made through a recovery link and abandoned again: that cart had its e-mail.
    if order.kind != "one_time" || order.recovered_from.is_some() {
        return Ok(false);
    }
    if queries::items(conn, &order)?.is_empty() || unsubscribed(conn, &email)? {
        return Ok(false);
    }
    // These items were reminded of (or are about to be) already.
    let same_items = checkout_recoveries::table
        .filter(checkout_recoveries::email.eq(&email))
        .filter(checkout_recoveries::cart_fingerprint.eq(&order.cart_fingerprint));
    if diesel::select(diesel::dsl::exists(same_items)).get_result::<bool>(conn)? {
        return Ok(false);
    }
    if let Some(cart_id) = order.cart_id {
        // A reminder for this cart still waiting is for an earlier checkout of it, which this
        // one replaced: this one, the last the shopper left, is the one to remind of.
        diesel::update(
            checkout_recoveries::table
                .filter(checkout_recoveries::cart_id.eq(cart_id))
                .filter(checkout_recoveries::status.eq(SCHEDULED)),
        )
        .set((
            checkout_recoveries::status.eq(CANCELLED),
            checkout_recoveries::cancelled_reason.eq("replaced by a later checkout"),
            checkout_recoveries::updated_at.eq(now),
        ))
        .execute(conn)?;
        // One reminder a week per cart, whatever its contents.
        let recent = checkout_recoveries::table
            .filter(checkout_recoveries::cart_id.eq(cart_id))
            .filter(checkout_recoveries::status.ne(CANCELLED))
            .filter(checkout_recoveries::created_at.gt(now - ATTRIBUTION_SECS));
        if diesel::select(diesel::dsl::exists(recent)).get_result::<bool>(conn)? {
            return Ok(false);
        }
    }
    db::insert_once(conn, |conn| {
        diesel::insert_into(checkout_recoveries::table)
            .values((
                checkout_recoveries::order_id.eq(order.id),
                checkout_recoveries::email.eq(&email),
                checkout_recoveries::user_id.eq(order.user_id),
                checkout_recoveries::cart_id.eq(order.cart_id),
                checkout_recoveries::cart_fingerprint.eq(&order.cart_fingerprint),
                checkout_recoveries::status.eq(SCHEDULED),
                checkout_recoveries::expired_at.eq(now),
                checkout_recoveries::created_at.eq(now),
                checkout_recoveries::updated_at.eq(now),
            ))
            .execute(conn)
    })
}

/// Why a due recovery is not sent, if it is not.
fn reason_not_to_send(
    conn: &mut AnyConnection,
    rec: &Recovery,
    abandoned: &Order,
    items: &[OrderItem],
    now: i64,
    delay: i64,
) -> QueryResult<Option<&'static str>> {
    if now > rec.expired_at + delay + TOO_LATE_SECS {
        return Ok(Some("too late"));
    }
    if unsubscribed(conn, &rec.email)? {
        return Ok(Some("unsubscribed"));
    }
    if let Some(uid) = rec.user_id {
        let still: bool = users::table
            .find(uid)
            .select(users::recovery_opt_in)
            .first(conn)
            .optional()?
            .unwrap_or(false);
        if !still {
            return Ok(Some("consent withdrawn"));
        }
    }
    if paid_since(conn, rec, abandoned, items)? {
        return Ok(Some("paid since"));
    }
    if let Some(cart_id) = rec.cart_id {
        // Back at checkout with this cart (or done): a reminder now would be noise.
        let again = orders::table
            .filter(orders::cart_id.eq(cart_id))
            .filter(orders::id.gt(abandoned.id))
            .filter(orders::status.eq_any([
                "pending",
                "processing",
                "paid",
                "partially_refunded",
                "refunded",
            ]));
        if diesel::select(diesel::dsl::exists(again)).get_result::<bool>(conn)? {
            return Ok(Some("checked out again"));
        }
    }
    Ok(None)
}

/// Whether the customer paid (or is paying), since abandoning, for any of the items they left.
fn paid_since(
    conn: &mut AnyConnection,
    rec: &Recovery,
    abandoned: &Order,
    items: &[OrderItem],
) -> QueryResult<bool> {
    // Ordered since; a bank debit still processing (not paid yet, so no `paid_at`) is paid for,
    // as far as a reminder goes.
    let mut theirs = orders::table
        .filter(orders::id.ne(abandoned.id))
        .filter(
            orders::id
                .gt(abandoned.id)
                .or(orders::paid_at.ge(abandoned.created_at)),
        )
        .filter(orders::status.eq_any(["processing", "paid", "partially_refunded", "refunded"]))
        .into_boxed();
    theirs = match rec.user_id {
        Some(uid) => theirs.filter(
            orders::user_id
                .eq(uid)
                .or(orders::email.eq(&rec.email))
                .or(orders::recovery_email.eq(&rec.email)),
        ),
        None => theirs.filter(
            orders::email
                .eq(&rec.email)
                .or(orders::recovery_email.eq(&rec.email)),
        ),
    };
    let ids: Vec<i64> = theirs.select(orders::id).load(conn)?;
    if ids.is_empty() {
        return Ok(false);
    }
    let products: Vec<i64> = items.iter().map(|i| i.product_id).collect();
    diesel::select(diesel::dsl::exists(
        order_items::table
            .filter(order_items::order_id.eq_any(ids))
            .filter(order_items::product_id.eq_any(products)),
    ))
    .get_result(conn)
}

#[derive(askama::Template)]
#[template(path = "email/recovery.txt")]
struct RecoveryText<'a> {
    lines: &'a [String],
    restore: &'a str,
    unsubscribe: &'a str,
    promotion_code: Option<&'a str>,
}

#[derive(askama::Template)]
#[template(path = "email/recovery.html")]
struct RecoveryHtml<'a> {
    lines: &'a [String],
    restore: &'a str,
    unsubscribe: &'a str,
    promotion_code: Option<&'a str>,
}

/// The recovery e-mail, with [`TOKEN_PLACEHOLDER`] and the shop-address placeholder in its
/// links (both filled in by the mail worker when it sends it).
fn mail(rec: &Recovery, order: &Order, items: &[OrderItem], code: Option<&str>) -> Mail {
    use askama::Template as _;
    let currency = order.currency();
    let lines: Vec<String> = items
        .iter()
        .map(|i| {
            format!(
                "{} × {} ({})",
                i.name,
                i.quantity,
                Money::new(i.unit_amount * i.quantity, currency)
            )
        })
        .collect();
    let shop = crate::mail::messages::SHOP_URL;
    let restore = format!("{shop}/recovery/{TOKEN_PLACEHOLDER}");
    let unsubscribe = format!("{shop}/recovery/{TOKEN_PLACEHOLDER}/unsubscribe");
    let (lines, restore, unsubscribe) = (&lines[..], &restore[..], &unsubscribe[..]);
    Mail {
        kind: MAIL_KIND,
        dedupe_key: format!("recovery-{}", rec.id),
        recipient: rec.email.clone(),
        subject: "You left something in your cart".into(),
        text: RecoveryText {
            lines,
            restore,
            unsubscribe,
            promotion_code: code,
        }
        .render()
        .unwrap_or_default(),
        html: RecoveryHtml {
            lines,
            restore,
            unsubscribe,
            promotion_code: code,
        }
        .render()
        .unwrap_or_default(),
        order_id: Some(order.id),
        user_id: None,
        link_purpose: None,
    }
}

/// What became of one due recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Another instance (or an earlier pass) took it.
    Taken,
    Sent,
    Cancelled(&'static str),
}

/// Queues one due recovery's e-mail, or cancels it with the reason, in one transaction: claimed
/// by a conditional update, so two instances never both send it.
pub fn send_one(
    conn: &mut AnyConnection,
    id: i64,
    delay: i64,
    code: Option<&str>,
    now: i64,
) -> QueryResult<Decision> {
    db::write_tx(conn, |conn| {
        let claimed = diesel::update(
            checkout_recoveries::table
                .filter(checkout_recoveries::id.eq(id))
                .filter(checkout_recoveries::status.eq(SCHEDULED)),
        )
        .set(checkout_recoveries::updated_at.eq(now))
        .execute(conn)?;
        if claimed == 0 {
            return Ok(Decision::Taken);
        }
        let rec: Recovery = checkout_recoveries::table
            .find(id)
            .select(Recovery::as_select())
            .first(conn)?;
        let order = queries::by_id(conn, rec.order_id)?;
        let items = queries::items(conn, &order)?;
        if let Some(reason) = reason_not_to_send(conn, &rec, &order, &items, now, delay)? {
            diesel::update(checkout_recoveries::table.find(id))
                .set((
                    checkout_recoveries::status.eq(CANCELLED),
                    checkout_recoveries::cancelled_reason.eq(reason),
                ))
                .execute(conn)?;
            return Ok(Decision::Cancelled(reason));
        }
        outbox::enqueue(conn, &mail(&rec, &order, &items, code), now)?;
        diesel::update(checkout_recoveries::table.find(id))
            .set((
                checkout_recoveries::status.eq(SENT),
                checkout_recoveries::sent_at.eq(now),
            ))
            .execute(conn)?;
        Ok(Decision::Sent)
    })
}

/// Sends the recovery e-mails that are due (their checkout expired `RECOVERY_DELAY` ago).
/// Safe on every instance at once. Returns how many were queued.
pub async fn send_due(state: &AppState) -> Result<usize, DbError> {
    let Some(delay) = state.config.recovery.delay else {
        return Ok(0);
    };
    let code = state.config.recovery.promotion_code.clone();
    let now = state.clock.unix();
    let due: Vec<i64> = db::run(&state.pool, move |conn| {
        checkout_recoveries::table
            .filter(checkout_recoveries::status.eq(SCHEDULED))
            .filter(checkout_recoveries::expired_at.le(now - delay))
            .order(checkout_recoveries::expired_at.asc())
            .limit(BATCH)
            .select(checkout_recoveries::id)
            .load(conn)
            .map_err(DbError::from)
    })
    .await?;
    let mut sent = 0;
    for id in due {
        let code = code.clone();
        let decision = db::run(&state.pool, move |conn| {
            send_one(conn, id, delay, code.as_deref(), now).map_err(DbError::from)
        })
        .await?;
        match decision {
            Decision::Sent => sent += 1,
            Decision::Cancelled(reason) => {
                tracing::info!(recovery = id, reason, "recovery e-mail not sent")
            }
            Decision::Taken => {}
        }
    }
    Ok(sent)
}

/// Issues the link token of the recovery e-mail about `order_id` (the mail worker, as it sends
/// the mail): returned once in clear, stored as its hash. A resend replaces the token.
pub fn issue_token(conn: &mut AnyConnection, order_id: i64) -> QueryResult<String> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    diesel::update(checkout_recoveries::table.filter(checkout_recoveries::order_id.eq(order_id)))
        .set(checkout_recoveries::token_hash.eq(hash(&token)))
        .execute(conn)?;
    Ok(token)
}

/// The recovery a link's token belongs to, while its links work ([`LINK_SECS`] after sending).
pub fn by_token(conn: &mut AnyConnection, token: &str, now: i64) -> QueryResult<Option<Recovery>> {
    // A token is 43 URL-safe characters; anything else is not one of ours.
    if token.len() != 43
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Ok(None);
    }
    checkout_recoveries::table
        .filter(checkout_recoveries::token_hash.eq(hash(token)))
        .filter(checkout_recoveries::sent_at.ge(now - LINK_SECS))
        .select(Recovery::as_select())
        .first(conn)
        .optional()
}

/// An order made through a recovery link was paid: the recovery is recovered, with the order's
/// total as its revenue (once). Call in the transaction that marks the order paid.
pub fn mark_recovered(conn: &mut AnyConnection, order_id: i64, now: i64) -> QueryResult<()> {
    // Read now: the paid total (tax, shipping, discount) was stored in this transaction.
    let order = queries::by_id(conn, order_id)?;
    let Some(id) = order.recovered_from else {
        return Ok(());
    };
    diesel::update(
        checkout_recoveries::table
            .filter(checkout_recoveries::id.eq(id))
            .filter(checkout_recoveries::status.ne(RECOVERED)),
    )
    .set((
        checkout_recoveries::status.eq(RECOVERED),
        checkout_recoveries::recovered_order_id.eq(order.id),
        checkout_recoveries::recovered_amount.eq(order.amount_total),
        checkout_recoveries::recovered_currency.eq(&order.currency),
        checkout_recoveries::updated_at.eq(now),
    ))
    .execute(conn)?;
    // The cart's later orders are its own.
    diesel::update(carts::table.filter(carts::recovery_id.eq(id)))
        .set(carts::recovery_id.eq(None::<i64>))
        .execute(conn)?;
    Ok(())
}

/// The address asks for no more recovery e-mails: recorded (no sign-in needed), any scheduled
/// one cancelled, and an account with that address opted out.
pub fn unsubscribe(conn: &mut AnyConnection, email: &str, now: i64) -> QueryResult<()> {
    db::write_tx(conn, |conn| {
        db::insert_once(conn, |conn| {
            diesel::insert_into(recovery_unsubscribes::table)
                .values((
                    recovery_unsubscribes::email.eq(email),
                    recovery_unsubscribes::created_at.eq(now),
                ))
                .execute(conn)
        })?;
        diesel::update(
            checkout_recoveries::table
                .filter(checkout_recoveries::email.eq(email))
                .filter(checkout_recoveries::status.eq(SCHEDULED)),
        )
        .set((
            checkout_recoveries::status.eq(CANCELLED),
            checkout_recoveries::cancelled_reason.eq("unsubscribed"),
            checkout_recoveries::updated_at.eq(now),
        ))
        .execute(conn)?;
        diesel::update(users::table.filter(users::email_normalized.eq(email)))
            .set(users::recovery_opt_in.eq(false))
            .execute(conn)?;
        Ok(())
    })
}

/// A customer's standing choice on their account page. Opting in again lifts an earlier
/// unsubscribe of their address once it is verified: then it is the same person asking.
pub fn set_opt_in(conn: &mut AnyConnection, user_id: i64, on: bool) -> QueryResult<()> {
    db::write_tx(conn, |conn| {
        diesel::update(users::table.find(user_id))
            .set(users::recovery_opt_in.eq(on))
            .execute(conn)?;
        if on {
            let verified: Option<String> = users::table
                .find(user_id)
                .filter(users::email_verified_at.is_not_null())
                .select(users::email_normalized)
                .first(conn)
                .optional()?;
            if let Some(email) = verified {
                diesel::delete(
                    recovery_unsubscribes::table.filter(recovery_unsubscribes::email.eq(email)),
                )
                .execute(conn)?;
            }
        }
        Ok(())
    })
}

/// One line of an abandoned checkout as it can be bought now.
#[derive(Debug, Clone)]
pub struct Offer {
    pub name: String,
    pub quantity: i64,
    /// The price row to add (the line's own, or its variant's current one); `None`: not for sale.
    pub price_id: Option<i64>,
    pub was: Money,
    pub now: Option<Money>,
}

/// The abandoned checkout's lines with today's prices.
pub fn offers(
    conn: &mut AnyConnection,
    rec: &Recovery,
    currency: Currency,
) -> QueryResult<Vec<Offer>> {
    let order = queries::by_id(conn, rec.order_id)?;
    let mut out = Vec::new();
    for item in queries::items(conn, &order)? {
        let was = Money::new(item.unit_amount, order.currency());
        // The line's price if it is still sold, else its variant's current one-time price.
        let mut current: Option<(i64, i64)> = prices::table
            .find(item.price_id)
            .filter(prices::active.eq(true))
            .filter(prices::currency.eq(currency.code()))
            .filter(prices::recurring_interval.is_null())
            .select((prices::id, prices::unit_amount))
            .first(conn)
            .optional()?;
        if current.is_none()
            && let Some(variant) = item.variant_id
        {
            current = prices::table
                .filter(prices::variant_id.eq(variant))
                .filter(prices::active.eq(true))
                .filter(prices::currency.eq(currency.code()))
                .filter(prices::recurring_interval.is_null())
                .order(prices::id.desc())
                .select((prices::id, prices::unit_amount))
                .first(conn)
                .optional()?;
        }
        out.push(Offer {
            name: item.name.clone(),
            quantity: item.quantity,
            price_id: current.map(|(id, _)| id),
            was,
            now: current.map(|(_, amount)| Money::new(amount, currency)),
        });
    }
    Ok(out)
}

/// Puts an abandoned checkout's lines back into the shopper's cart with today's prices and
/// stock (lines already in the cart are left as they are). Returns the cart and what changed
/// ("… now costs …", "only 2 left …", "… is sold out"); nothing changed means the cart can be
/// checked out as it was.
pub fn restore(
    conn: &mut AnyConnection,
    rec: &Recovery,
    cart_id: Option<i64>,
    user_id: Option<i64>,
    currency: Currency,
    now: i64,
) -> Result<(i64, Vec<String>), DbError> {
    let offers = offers(conn, rec, currency)?;
    let cart_id = cart::ensure(conn, cart_id, user_id, now)?;
    let mut changes = Vec::new();
    for offer in offers {
        let (Some(price_id), Some(price)) = (offer.price_id, offer.now) else {
            changes.push(format!("{} is no longer for sale.", offer.name));
            continue;
        };
        if price != offer.was {
            changes.push(format!(
                "{} now costs {price} (it was {}).",
                offer.name, offer.was
            ));
        }
        // What the cart holds of it already (restored before, or added since) counts.
        let existing: i64 = cart_items::table
            .filter(cart_items::cart_id.eq(cart_id))
            .filter(cart_items::price_id.eq(price_id))
            .select(cart_items::quantity)
            .first(conn)
            .optional()?
            .unwrap_or(0);
        let mut quantity = offer.quantity - existing;
        if quantity <= 0 {
            continue;
        }
        loop {
            let addition = Addition {
                cart_id: Some(cart_id),
                user_id,
                price_id,
                quantity,
            };
            match cart::add(conn, &addition, currency, now) {
                Ok(_) => break,
                Err(AddError::Cart(CartError::TooMany { max, .. }))
                    if max > existing && max - existing < quantity =>
                {
                    changes.push(format!(
                        "Only {max} of {} left: your cart has {max}.",
                        offer.name
                    ));
                    quantity = max - existing;
                }
                // Already in the cart as many as can be had: leave it.
                Err(AddError::Cart(CartError::TooMany { .. })) => break,
                Err(AddError::Cart(CartError::SoldOut(_))) => {
                    changes.push(format!("{} is sold out.", offer.name));
                    break;
                }
                Err(AddError::Cart(_)) => {
                    changes.push(format!("{} is no longer for sale.", offer.name));
                    break;
                }
                Err(AddError::Db(e)) => return Err(e),
            }
        }
    }
    db::write_tx(conn, |conn| {
        diesel::update(carts::table.find(cart_id))
            .set(carts::recovery_id.eq(rec.id))
            .execute(conn)?;
        diesel::update(
            checkout_recoveries::table
                .filter(checkout_recoveries::id.eq(rec.id))
                .filter(checkout_recoveries::restored_at.is_null()),
        )
        .set(checkout_recoveries::restored_at.eq(now))
        .execute(conn)?;
        Ok::<_, diesel::result::Error>(())
    })?;
    Ok((cart_id, changes))
}

#[cfg(test)]
mod tests {
    use super::hash;

    #[test]
    fn only_the_hash_is_kept() {
        let h = hash("abc");
        assert_eq!(h.len(), 64);
        assert_ne!(h, "abc");
    }
}
