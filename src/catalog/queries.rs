//! Reading the catalogue.

use diesel::prelude::*;

use super::images::Picture;
use super::model::{Listing, Price, Product};
use super::variants::Variant;
use crate::db::AnyConnection;
use crate::money::Currency;
use crate::schema::{prices, products};

/// Active products in display order, each with its active prices in `currency`.
/// Products without such a price are not for sale here and are left out.
pub fn active_listings(conn: &mut AnyConnection, currency: Currency) -> QueryResult<Vec<Listing>> {
    let products: Vec<Product> = products::table
        .filter(products::status.eq(crate::catalog::model::Status::Active.as_str()))
        .order((products::position.asc(), products::id.asc()))
        .select(Product::as_select())
        .load(conn)?;
    let prices: Vec<Price> = prices::table
        .filter(prices::active.eq(true))
        .filter(prices::currency.eq(currency.code()))
        .filter(prices::product_id.eq_any(products.iter().map(|p| p.id).collect::<Vec<_>>()))
        .order((prices::unit_amount.asc(), prices::id.asc()))
        .select(Price::as_select())
        .load(conn)?;
    let ids: Vec<i64> = products.iter().map(|p| p.id).collect();
    let pictures = super::images::of_products(conn, &ids)?;
    let variants = super::variants::of_products(conn, &ids)?;
    Ok(group(products, prices, pictures, variants))
}

fn group(
    products: Vec<Product>,
    prices: Vec<Price>,
    pictures: Vec<Picture>,
    variants: Vec<Variant>,
) -> Vec<Listing> {
    let mut listings: Vec<Listing> = products
        .into_iter()
        .map(|product| Listing {
            product,
            prices: vec![],
            pictures: vec![],
            variants: vec![],
        })
        .collect();
    for picture in pictures {
        if let Some(l) = listings
            .iter_mut()
            .find(|l| l.product.id == picture.product_id)
        {
            l.pictures.push(picture);
        }
    }
    for price in prices {
        if let Some(l) = listings
            .iter_mut()
            .find(|l| l.product.id == price.product_id)
        {
            l.prices.push(price);
        }
    }
    // A variant is offered when it has a one-time price here; plans belong to no variant.
    for variant in variants {
        if let Some(l) = listings.iter_mut().find(|l| {
            l.product.id == variant.product_id
                && l.prices.iter().any(|p| p.variant_id == Some(variant.id))
        }) {
            l.variants.push(variant);
        }
    }
    listings.retain(|l| !l.prices.is_empty());
    listings
}
