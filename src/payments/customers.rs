//! Customers.

use std::collections::HashMap;

use stripe_core::customer::CreateCustomer;

use super::{PaymentError, Stripe};

/// Creates the Stripe Customer of our user `user_id`, once: the key is derived from the user.
pub async fn create(stripe: &Stripe, user_id: i64, email: &str) -> Result<String, PaymentError> {
    let req = CreateCustomer::new()
        .email(email.to_owned())
        .metadata(HashMap::from([("user_id".to_owned(), user_id.to_string())]));
    let customer = stripe.write(&req, &format!("customer-{user_id}")).await?;
    Ok(customer.id.as_str().to_owned())
}
