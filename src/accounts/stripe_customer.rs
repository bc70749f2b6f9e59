//! The Stripe Customer of a user: created once (idempotently) and reused for every checkout
//! and subscription.

use diesel::prelude::*;
use stripe_core::customer::CreateCustomer;

use super::model::{self, User};
use crate::db::{self, DbError};
use crate::payments::{PaymentError, Stripe};
use crate::schema::users;
use crate::web::AppState;

#[derive(Debug, thiserror::Error)]
pub enum CustomerError {
    #[error(transparent)]
    Stripe(#[from] PaymentError),
    #[error(transparent)]
    Db(#[from] DbError),
}

pub async fn ensure(state: &AppState, user: &User) -> Result<String, CustomerError> {
    if let Some(id) = &user.stripe_customer_id {
        return Ok(id.clone());
    }
    let customer = create(&state.stripe, user).await?;
    let (uid, cid, now) = (user.id, customer, state.clock.unix());
    // Only the first writer stores its id; with the same idempotency key it is the same customer.
    db::run(&state.pool, move |conn| {
        diesel::update(
            users::table
                .filter(users::id.eq(uid))
                .filter(users::stripe_customer_id.is_null()),
        )
        .set((
            users::stripe_customer_id.eq(&cid),
            users::updated_at.eq(now),
        ))
        .execute(conn)?;
        model::by_id(conn, uid)?
            .and_then(|u| u.stripe_customer_id)
            .ok_or(DbError::Query(diesel::result::Error::NotFound))
    })
    .await
    .map_err(CustomerError::from)
}

async fn create(stripe: &Stripe, user: &User) -> Result<String, PaymentError> {
    let req =
        CreateCustomer::new()
            .email(user.email.clone())
            .metadata(std::collections::HashMap::from([(
                "user_id".to_owned(),
                user.id.to_string(),
            )]));
    let customer = stripe.write(&req, &format!("customer-{}", user.id)).await?;
    Ok(customer.id.as_str().to_owned())
}
