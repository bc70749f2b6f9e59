//! Admin accounts: `storefront admin create` and the demo admin.

use diesel::prelude::*;

use super::audit;
use crate::accounts::model::{self, ADMIN, User};
use crate::db::AnyConnection;
use crate::schema::users;

/// The demo admin, seeded in demo mode only (documented in the README, printed at start).
pub const DEMO_ADMIN_EMAIL: &str = "admin@example.com";
pub const DEMO_ADMIN_PASSWORD: &str = "storefront-demo-admin";

pub const MIN_PASSWORD_CHARS: usize = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    Created,
    Promoted,
    /// Already an admin: the password was replaced.
    Updated,
}

/// Whether a password is acceptable for an admin.
pub fn check_password(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(format!(
            "the password must have at least {MIN_PASSWORD_CHARS} characters (it has {n})"
        ));
    }
    if n > 1000 {
        return Err("the password must have at most 1000 characters".into());
    }
    Ok(())
}

/// Creates an admin, or promotes an existing user and sets the password, in the caller's
/// transaction; the role change is audited (actor: the command line).
pub fn create_or_promote(
    conn: &mut AnyConnection,
    email: &str,
    password_hash: &str,
    now: i64,
) -> QueryResult<(User, Created)> {
    let (user, what) = match model::by_email(conn, email)? {
        None => (
            model::create(conn, email, password_hash, ADMIN, now)?,
            Created::Created,
        ),
        Some(existing) => {
            let what = if existing.is_admin() {
                Created::Updated
            } else {
                Created::Promoted
            };
            // A new password ends the user's sessions (the epoch moves).
            diesel::update(users::table.find(existing.id))
                .set((
                    users::role.eq(ADMIN),
                    users::password_hash.eq(password_hash),
                    users::session_epoch.eq(existing.session_epoch + 1),
                    users::updated_at.eq(now),
                ))
                .execute(conn)?;
            (
                model::by_id(conn, existing.id)?.ok_or(diesel::result::Error::NotFound)?,
                what,
            )
        }
    };
    let details = match what {
        Created::Created => format!("{} created as admin", user.email),
        Created::Promoted => format!("{} promoted from customer to admin", user.email),
        Created::Updated => format!("{} (already admin): password replaced", user.email),
    };
    audit::record(
        conn,
        audit::Event {
            actor: None,
            action: audit::ROLE_CHANGED,
            order_id: None,
            subject_user_id: Some(user.id),
            product_id: None,
            details,
        },
        now,
    )?;
    Ok((user, what))
}

/// Seeds the demo admin if absent (demo mode only). Returns whether it was created.
pub fn seed_demo_admin(conn: &mut AnyConnection, now: i64) -> anyhow::Result<bool> {
    if model::by_email(conn, DEMO_ADMIN_EMAIL)?.is_some() {
        return Ok(false);
    }
    let hash = crate::accounts::password::hash(DEMO_ADMIN_PASSWORD).map_err(anyhow::Error::msg)?;
    crate::db::write_tx(conn, |conn| {
        create_or_promote(conn, DEMO_ADMIN_EMAIL, &hash, now)
    })?;
    Ok(true)
}
