//! Which mode made this database, and its install id (the `installation` table, one row).
//!
//! Demo mode seeds an admin whose password is in the README. If a demo database were later
//! started with a Stripe key, that admin would sign in to a real shop with full rights; so the
//! first start records its mode, and a start in the other mode is refused with one line saying
//! what to do. `storefront demo purge` turns a demo database into an empty shop that keeps only
//! its catalogue.
//!
//! The install id, random and written once, prefixes every Stripe idempotency key
//! ([`crate::payments`]): keys derived from our row ids (`customer-1`) would otherwise replay
//! another shop's object after a database reset, or between two shops on one Stripe account.

use diesel::prelude::*;
use rand::RngCore as _;

use crate::admin::users::DEMO_ADMIN_EMAIL;
use crate::config::ConfigError;
use crate::db::{AnyConnection, insert_once, write_tx};
use crate::schema::{
    audit_log, balance_fetches, balance_transactions, cart_items, carts, checkout_recoveries,
    disputes, download_counts, email_tokens, installation, job_runs, licence_keys, login_attempts,
    order_items, order_shipping, order_shipping_rates, orders, outbox, payment_failures, prices,
    products, rate_limit_hits, recovery_unsubscribes, refund_lines, refund_restocks, refund_tokens,
    refunds, shipment_lines, shipments, shipping_prices, stock_alerts, stock_reservations,
    stripe_event_failures, stripe_events, subscription_checkouts, subscriptions, user_sessions,
    users,
};

/// How the shop that made the database reached Stripe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// No key: the built-in emulator, the demo catalogue and the demo admin.
    Demo,
    /// A Stripe key (test or live).
    Stripe,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Demo => "demo",
            Mode::Stripe => "stripe",
        }
    }

    fn parse(s: &str) -> Self {
        if s == "demo" {
            Mode::Demo
        } else {
            Mode::Stripe
        }
    }
}

/// The database's recorded identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installation {
    pub install_id: String,
    /// `None` until something that talks to Stripe or the emulator opens it (`migrate`, `seed`
    /// and `admin create` without a key leave it open: they add no demo data).
    pub mode: Option<Mode>,
}

/// Returns the database's installation: the row is written at the first open, and its mode at
/// the first open in a known `current` mode. Several instances starting at once agree: the
/// first writer wins and everyone reads the row back.
pub fn claim(
    conn: &mut AnyConnection,
    current: Option<Mode>,
    now: i64,
) -> QueryResult<Installation> {
    let found = match read(conn)? {
        Some(found) => found,
        None => {
            let mode = inferred_mode(conn)?.or(current);
            let install_id = new_install_id();
            insert_once(conn, |conn| {
                diesel::insert_into(installation::table)
                    .values((
                        installation::id.eq(1i64),
                        installation::install_id.eq(&install_id),
                        installation::mode.eq(mode.map(Mode::as_str)),
                        installation::created_at.eq(now),
                    ))
                    .execute(conn)
            })?;
            read(conn)?.ok_or(diesel::result::Error::NotFound)?
        }
    };
    match (found.mode, current) {
        (None, Some(mode)) => {
            diesel::update(installation::table.filter(installation::mode.is_null()))
                .set(installation::mode.eq(mode.as_str()))
                .execute(conn)?;
            read(conn)?.ok_or(diesel::result::Error::NotFound)
        }
        _ => Ok(found),
    }
}

pub fn read(conn: &mut AnyConnection) -> QueryResult<Option<Installation>> {
    installation::table
        .find(1i64)
        .select((installation::install_id, installation::mode))
        .first::<(String, Option<String>)>(conn)
        .optional()
        .map(|row| {
            row.map(|(install_id, mode)| Installation {
                install_id,
                mode: mode.as_deref().map(Mode::parse),
            })
        })
}

/// The mode of a database made before this table existed: a demo admin means a demo; any other
/// data means a shop run with a key (demo data since the Admin issue always has the demo admin);
/// an empty database has none yet.
fn inferred_mode(conn: &mut AnyConnection) -> QueryResult<Option<Mode>> {
    let demo_admin: i64 = users::table
        .filter(users::email_normalized.eq(DEMO_ADMIN_EMAIL))
        .count()
        .get_result(conn)?;
    if demo_admin > 0 {
        return Ok(Some(Mode::Demo));
    }
    let users: i64 = users::table.count().get_result(conn)?;
    let products: i64 = products::table.count().get_result(conn)?;
    let orders: i64 = orders::table.count().get_result(conn)?;
    Ok((users + products + orders > 0).then_some(Mode::Stripe))
}

/// 128 random bits, hex: short enough to prefix Stripe's 255-character idempotency keys.
fn new_install_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Refuses a start in the other mode than the one that made the database; `db` names it.
pub fn check(found: &Installation, current: Option<Mode>, db: &str) -> Result<(), ConfigError> {
    let (Some(made), Some(current)) = (found.mode, current) else {
        return Ok(());
    };
    match (made, current) {
        (Mode::Demo, Mode::Stripe) => Err(ConfigError::new(
            "DATABASE_URL",
            format!(
                "{db} holds demo data (made in demo mode, with the demo admin {DEMO_ADMIN_EMAIL}) and STRIPE_SECRET_KEY is set: point DATABASE_URL at a fresh database, or run `storefront demo purge` to delete the demo's accounts and orders first"
            ),
        )),
        (Mode::Stripe, Mode::Demo) => Err(ConfigError::new(
            "DATABASE_URL",
            format!(
                "{db} belongs to a shop run with a Stripe key, and STRIPE_SECRET_KEY is not set: demo mode would add its demo admin to it; set the key, or give the demo its own database (unset DATABASE_URL for sqlite://storefront-demo.db)"
            ),
        )),
        _ => Ok(()),
    }
}

/// What `storefront demo purge` removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PurgeReport {
    pub users: usize,
    pub orders: usize,
    pub subscriptions: usize,
    pub products_kept: i64,
}

impl std::fmt::Display for PurgeReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "deleted {} accounts (the demo admin included), {} orders, {} subscriptions, and their carts, refunds, events, mail and audit log; kept the catalogue ({} products, stock as the demo left it, Stripe ids forgotten)",
            self.users, self.orders, self.subscriptions, self.products_kept
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PurgeError {
    #[error(
        "this database was not made by a demo (it belongs to a shop run with a Stripe key, or was never served): nothing was deleted"
    )]
    NotADemo,
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

/// Deletes everything a demo recorded except the catalogue: every account (the demo admin and
/// anyone who registered: their passwords and Stripe customers belong to the demo), orders and
/// everything hanging off them (items, stock holds, refunds, payment failures, events), carts,
/// subscriptions, the mail outbox, the audit log, sign-in attempts. Products and prices stay,
/// with the emulator's Stripe ids forgotten (the real account gets its own on first use or at
/// `storefront stripe setup`). The installation row goes too: the next start records its own
/// mode and a new install id. Refused unless a demo made the database.
pub fn purge(conn: &mut AnyConnection) -> Result<PurgeReport, PurgeError> {
    write_tx(conn, |conn| {
        let mode = match read(conn)? {
            Some(found) => found.mode,
            None => inferred_mode(conn)?,
        };
        if mode != Some(Mode::Demo) {
            return Err(PurgeError::NotADemo);
        }
        diesel::delete(refund_lines::table).execute(conn)?;
        // The demo emulator's calls are no real account's budget.
        diesel::delete(crate::schema::stripe_usage::table).execute(conn)?;
        diesel::delete(shipment_lines::table).execute(conn)?;
        diesel::delete(shipments::table).execute(conn)?;
        diesel::delete(order_shipping::table).execute(conn)?;
        diesel::delete(order_shipping_rates::table).execute(conn)?;
        diesel::delete(download_counts::table).execute(conn)?;
        // Keys sold to demo orders go with them; the pool's unsold keys stay with the catalogue.
        diesel::delete(licence_keys::table.filter(licence_keys::order_item_id.is_not_null()))
            .execute(conn)?;
        diesel::delete(refund_restocks::table).execute(conn)?;
        diesel::delete(refund_tokens::table).execute(conn)?;
        diesel::delete(refunds::table).execute(conn)?;
        diesel::delete(audit_log::table).execute(conn)?;
        diesel::delete(stock_alerts::table).execute(conn)?;
        diesel::delete(payment_failures::table).execute(conn)?;
        diesel::delete(outbox::table).execute(conn)?;
        diesel::delete(email_tokens::table).execute(conn)?;
        diesel::delete(stripe_events::table).execute(conn)?;
        diesel::delete(stripe_event_failures::table).execute(conn)?;
        diesel::delete(disputes::table).execute(conn)?;
        diesel::delete(balance_transactions::table).execute(conn)?;
        diesel::delete(balance_fetches::table).execute(conn)?;
        diesel::delete(checkout_recoveries::table).execute(conn)?;
        diesel::delete(recovery_unsubscribes::table).execute(conn)?;
        diesel::delete(stock_reservations::table).execute(conn)?;
        diesel::delete(order_items::table).execute(conn)?;
        let orders = diesel::delete(orders::table).execute(conn)?;
        diesel::delete(cart_items::table).execute(conn)?;
        diesel::delete(carts::table).execute(conn)?;
        diesel::delete(subscription_checkouts::table).execute(conn)?;
        let subscriptions = diesel::delete(subscriptions::table).execute(conn)?;
        diesel::delete(login_attempts::table).execute(conn)?;
        diesel::delete(user_sessions::table).execute(conn)?;
        diesel::delete(rate_limit_hits::table).execute(conn)?;
        let users = diesel::delete(users::table).execute(conn)?;
        diesel::delete(shipping_prices::table).execute(conn)?;
        diesel::update(prices::table)
            .set(prices::stripe_price_id.eq(None::<String>))
            .execute(conn)?;
        diesel::update(products::table)
            .set(products::stripe_product_id.eq(None::<String>))
            .execute(conn)?;
        diesel::delete(job_runs::table).execute(conn)?;
        diesel::delete(installation::table).execute(conn)?;
        let products_kept = products::table.count().get_result(conn)?;
        Ok(PurgeReport {
            users,
            orders,
            subscriptions,
            products_kept,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn installed(mode: Option<Mode>) -> Installation {
        Installation {
            install_id: "x".into(),
            mode,
        }
    }

    #[test]
    fn a_start_in_the_other_mode_is_refused_with_what_to_do() {
        let (demo, stripe) = (Some(Mode::Demo), Some(Mode::Stripe));
        let err = check(&installed(demo), stripe, "sqlite://shop.db").unwrap_err();
        assert_eq!(err.var, "DATABASE_URL");
        assert!(err.problem.contains("storefront demo purge"), "{err}");
        assert!(err.problem.contains("fresh database"), "{err}");
        let err = check(&installed(stripe), demo, "sqlite://shop.db").unwrap_err();
        assert_eq!(err.var, "DATABASE_URL");
        assert!(check(&installed(demo), demo, "db").is_ok());
        assert!(check(&installed(stripe), stripe, "db").is_ok());
        assert!(check(&installed(None), stripe, "db").is_ok());
        assert!(check(&installed(demo), None, "db").is_ok());
    }

    #[test]
    fn install_ids_are_random_hex() {
        let (a, b) = (new_install_id(), new_install_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
