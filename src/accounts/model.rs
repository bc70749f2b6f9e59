//! User rows.

use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::schema::users;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub email_normalized: String,
    pub password_hash: String,
    pub role: String,
    pub session_epoch: i64,
    pub stripe_customer_id: Option<String>,
    pub email_verified_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Asked for one e-mail with a link back when they leave a checkout unfinished.
    pub recovery_opt_in: bool,
}

pub const ADMIN: &str = "admin";
pub const CUSTOMER: &str = "customer";

impl User {
    pub fn is_admin(&self) -> bool {
        self.role == ADMIN
    }
}

pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

pub fn by_id(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<User>> {
    users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .optional()
}

pub fn by_email(conn: &mut AnyConnection, email: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(users::email_normalized.eq(normalize_email(email)))
        .select(User::as_select())
        .first(conn)
        .optional()
}

pub fn by_stripe_customer(conn: &mut AnyConnection, customer: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(users::stripe_customer_id.eq(customer))
        .select(User::as_select())
        .first(conn)
        .optional()
}

/// Creates a user; a unique violation means the e-mail is taken (in any case).
pub fn create(
    conn: &mut AnyConnection,
    email: &str,
    password_hash: &str,
    role: &str,
    now: i64,
) -> QueryResult<User> {
    diesel::insert_into(users::table)
        .values((
            users::email.eq(email.trim()),
            users::email_normalized.eq(normalize_email(email)),
            users::password_hash.eq(password_hash),
            users::role.eq(role),
            users::created_at.eq(now),
            users::updated_at.eq(now),
        ))
        .execute(conn)?;
    by_email(conn, email)?.ok_or(diesel::result::Error::NotFound)
}
