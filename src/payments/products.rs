//! Products and prices.

use stripe_product::price::{
    CreatePrice, CreatePriceProductData, CreatePriceRecurring, CreatePriceRecurringInterval,
    UpdatePrice,
};
use stripe_product::product::{CreateProduct, UpdateProduct};
use stripe_shared::PriceTaxBehavior;

use super::checkout::SHIPPING_TAX_CODE;
use super::{PaymentError, Stripe, currency};
use crate::catalog::model::{Price, Product};

/// Creates the Stripe Product of ours, once: the key is derived from our row.
pub async fn create_product(stripe: &Stripe, product: &Product) -> Result<String, PaymentError> {
    // Stripe Tax reads the code from the product; it is harmless while tax is off.
    let mut req = CreateProduct::new(product.name.clone()).tax_code(product.tax_code().to_owned());
    if !product.description.is_empty() {
        req = req.description(product.description.clone());
    }
    let created = stripe
        .write(&req, &format!("product-{}", product.id))
        .await?;
    Ok(created.id.as_str().to_owned())
}

/// Sets the tax code of a Stripe Product made earlier (the catalogue's may have changed since,
/// or the product predates tax codes). Idempotent by nature.
pub async fn set_tax_code(
    stripe: &Stripe,
    stripe_product: &str,
    tax_code: &str,
) -> Result<(), PaymentError> {
    let req = UpdateProduct::new(stripe_product).tax_code(tax_code.to_owned());
    stripe
        .write_once(&req, &format!("tax-code-{stripe_product}"))
        .await?;
    Ok(())
}

/// Brings a Stripe Product made earlier in line with ours after an admin edited it: the name
/// and description Checkout shows, the tax code Stripe Tax reads, and whether it is on sale.
/// Idempotent by nature.
pub async fn update_product(
    stripe: &Stripe,
    stripe_product: &str,
    product: &Product,
) -> Result<(), PaymentError> {
    let mut req = UpdateProduct::new(stripe_product)
        .name(product.name.clone())
        .tax_code(product.tax_code().to_owned())
        .active(product.is_active());
    // Stripe refuses an empty description; a product without one keeps Stripe's as it is.
    if !product.description.is_empty() {
        req = req.description(product.description.clone());
    }
    stripe
        .write_once(&req, &format!("product-edit-{stripe_product}"))
        .await?;
    Ok(())
}

/// The pictures Checkout shows for the product (absolute `https://` URLs, at most 8).
/// Idempotent by nature.
pub async fn set_images(
    stripe: &Stripe,
    stripe_product: &str,
    urls: Vec<String>,
) -> Result<(), PaymentError> {
    let req = UpdateProduct::new(stripe_product).images(urls);
    stripe
        .write_once(&req, &format!("product-images-{stripe_product}"))
        .await?;
    Ok(())
}

/// Takes a Stripe Product off sale after ours was deleted (Stripe refuses to delete a Product
/// that has prices, and keeps it for the payments that name it). Idempotent by nature.
pub async fn retire_product(stripe: &Stripe, stripe_product: &str) -> Result<(), PaymentError> {
    let req = UpdateProduct::new(stripe_product).active(false);
    stripe
        .write_once(&req, &format!("product-retire-{stripe_product}"))
        .await?;
    Ok(())
}

/// Takes a Stripe Price off sale after ours was replaced by a new amount: it stays for the
/// subscriptions on it, but is offered nowhere. Idempotent by nature.
pub async fn retire_price(stripe: &Stripe, stripe_price: &str) -> Result<(), PaymentError> {
    let req = UpdatePrice::new(stripe_price).active(false);
    stripe
        .write_once(&req, &format!("price-retire-{stripe_price}"))
        .await?;
    Ok(())
}

/// Creates the Stripe Price of ours under `stripe_product`, keyed by our row and its terms:
/// new terms, new Stripe price. `tax_behavior` (with Stripe Tax on) is one of the terms: Stripe
/// never lets a Price's behavior change.
pub async fn create_price(
    stripe: &Stripe,
    price: &Price,
    stripe_product: &str,
    tax_behavior: Option<&str>,
) -> Result<String, PaymentError> {
    let mut req = CreatePrice::new(currency(&price.currency)?)
        .product(stripe_product.to_owned())
        .unit_amount(price.unit_amount)
        .lookup_key(price.lookup_key.clone())
        // The new terms' Price takes the key over from the old one (Stripe keeps keys unique).
        .transfer_lookup_key(true);
    if let Some(interval) = &price.recurring_interval {
        req = req.recurring(CreatePriceRecurring::new(interval_of(interval)));
    }
    let mut key = format!(
        "price-{}-{}-{}",
        price.id,
        price.unit_amount,
        price.recurring_interval.as_deref().unwrap_or("once")
    );
    if let Some(behavior) = tax_behavior {
        req = req.tax_behavior(behavior_of(behavior));
        key.push('-');
        key.push_str(behavior);
    }
    Ok(stripe.write(&req, &key).await?.id.as_str().to_owned())
}

/// Creates the Stripe Price of a plan's shipping charge per period, under a Product of its own
/// named "Shipping" with the shipping tax code (so Stripe Tax taxes it as shipping, and invoices
/// show it as its own line). `terms` (amount, interval, behavior) key it: new terms, new Price.
pub async fn create_shipping_price(
    stripe: &Stripe,
    price: &Price,
    amount: i64,
    tax_behavior: Option<&str>,
    terms: &str,
) -> Result<String, PaymentError> {
    let interval = price
        .recurring_interval
        .as_deref()
        .ok_or(PaymentError::Unexpected(
            "shipping per period on a one-time price",
        ))?;
    let mut product = CreatePriceProductData::new("Shipping");
    product.tax_code = Some(SHIPPING_TAX_CODE.to_owned());
    let mut req = CreatePrice::new(currency(&price.currency)?)
        .product_data(product)
        .unit_amount(amount)
        .recurring(CreatePriceRecurring::new(interval_of(interval)));
    if let Some(behavior) = tax_behavior {
        req = req.tax_behavior(behavior_of(behavior));
    }
    let key = format!("shipping-price-{}-{terms}", price.id);
    Ok(stripe.write(&req, &key).await?.id.as_str().to_owned())
}

fn interval_of(interval: &str) -> CreatePriceRecurringInterval {
    match interval {
        "day" => CreatePriceRecurringInterval::Day,
        "week" => CreatePriceRecurringInterval::Week,
        "month" => CreatePriceRecurringInterval::Month,
        _ => CreatePriceRecurringInterval::Year,
    }
}

fn behavior_of(behavior: &str) -> PriceTaxBehavior {
    match behavior {
        "inclusive" => PriceTaxBehavior::Inclusive,
        _ => PriceTaxBehavior::Exclusive,
    }
}

/// The ids of every active price at Stripe.
pub async fn active_price_ids(stripe: &Stripe) -> Result<Vec<String>, PaymentError> {
    let mut ids: Vec<String> = vec![];
    loop {
        let mut req = stripe_product::price::ListPrice::new()
            .active(true)
            .limit(100);
        if let Some(last) = ids.last() {
            req = req.starting_after(last.clone());
        }
        let page = stripe.read(&req).await?;
        ids.extend(page.data.iter().map(|p| p.id.as_str().to_owned()));
        if !page.has_more || page.data.is_empty() {
            return Ok(ids);
        }
    }
}
