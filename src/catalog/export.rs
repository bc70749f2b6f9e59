//! `storefront catalogue export`: the catalogue as a TOML file in the shape `storefront seed`
//! reads, so a catalogue round-trips — seeding the export into the same shop changes nothing,
//! and into an empty one makes the same catalogue (products in order, their status, category,
//! current prices, stock, shipping rates, and download files written beside the file).
//!
//! Variants are written with their options, SKU, stock and price (a removed variant is left
//! out, as replaced prices are); a licence key product with several variants is refused (the
//! file lists keys per product).
//!
//! Not exported: price history (replaced prices stay in the database), uploaded pictures (they
//! stay in the database and MEDIA_DIR; `image_url` pictures are exported), and unsold licence
//! keys (they are what customers pay for; move them with the admin pages or your own records).

use std::collections::HashMap;

use diesel::prelude::*;
use serde::Serialize;

use super::model::{Category, Price, Product};
use super::seed::{DEFAULT_MAX_DOWNLOADS, ShippingRateEntry};
use crate::db::AnyConnection;
use crate::money::Currency;
use crate::schema::{categories, prices, product_files, products, shipping_rates};

/// The file `storefront seed` reads; scalar fields come before the tables, as TOML wants.
#[derive(Debug, Serialize)]
struct FileOut {
    currency: String,
    products: Vec<ProductOut>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    shipping_rates: Vec<ShippingRateEntry>,
}

#[derive(Debug, Serialize)]
struct ProductOut {
    slug: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    category: Option<String>,
    status: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    image_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stock: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tax_code: Option<String>,
    kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    delivery: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_downloads: Option<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    options: Vec<String>,
    prices: Vec<PriceOut>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    variants: Vec<VariantOut>,
}

#[derive(Debug, Serialize)]
struct VariantOut {
    options: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sku: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stock: Option<i64>,
    price: PriceOut,
}

#[derive(Debug, Serialize)]
struct PriceOut {
    key: String,
    unit_amount: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    interval: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shipping: Option<i64>,
}

/// The export: the TOML text, and the download files it names (path relative to the TOML file,
/// bytes).
#[derive(Debug)]
pub struct Export {
    pub toml: String,
    pub files: Vec<(String, Vec<u8>)>,
}

/// Where download files go, relative to the exported file.
pub const FILES_DIR: &str = "catalogue-files";

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
    #[error(
        "{0} is a licence key product with several variants, which the catalogue file cannot describe (its keys are listed per product): export is refused rather than lose them"
    )]
    Variants(String),
    #[error("the catalogue could not be written as TOML: {0}")]
    Toml(#[from] toml::ser::Error),
}

/// Reads the whole catalogue (every status) priced in `currency`.
pub fn export(conn: &mut AnyConnection, currency: Currency) -> Result<Export, ExportError> {
    let all: Vec<Product> = products::table
        .order((products::position.asc(), products::id.asc()))
        .select(Product::as_select())
        .load(conn)?;
    let names: HashMap<i64, String> = categories::table
        .select(Category::as_select())
        .load(conn)?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect();
    let current: Vec<Price> = prices::table
        .filter(prices::active.eq(true))
        .filter(prices::currency.eq(currency.code()))
        .order((prices::unit_amount.asc(), prices::id.asc()))
        .select(Price::as_select())
        .load(conn)?;
    let variants =
        super::variants::of_products(conn, &all.iter().map(|p| p.id).collect::<Vec<_>>())?;
    let file_rows: Vec<(i64, String, Vec<u8>)> = product_files::table
        .select((
            product_files::product_id,
            product_files::file_name,
            product_files::bytes,
        ))
        .load(conn)?;
    let mut files = vec![];
    let mut products_out = vec![];
    let price_out = |x: &Price| PriceOut {
        key: x.lookup_key.clone(),
        unit_amount: x.unit_amount,
        interval: x.recurring_interval.clone(),
        shipping: x.shipping_amount,
    };
    for p in all {
        let keys = p.delivery.as_deref() == Some("keys");
        let own: Vec<_> = variants.iter().filter(|v| v.product_id == p.id).collect();
        // Named options: the variants are written out, each with its one-time price (a variant
        // no longer for sale has none and is left out, as replaced prices are).
        let with_variants = p.option1_name.is_some() && !keys;
        let for_sale = own
            .iter()
            .filter(|v| {
                current
                    .iter()
                    .any(|x| x.variant_id == Some(v.id) && !x.is_recurring())
            })
            .count();
        if keys && for_sale > 1 {
            return Err(ExportError::Variants(p.slug));
        }
        let prices: Vec<PriceOut> = current
            .iter()
            .filter(|x| x.product_id == p.id && (!with_variants || x.is_recurring()))
            .map(price_out)
            .collect();
        let variants_out: Vec<VariantOut> = match with_variants {
            false => vec![],
            true => own
                .iter()
                .filter_map(|v| {
                    let price = current
                        .iter()
                        .find(|x| x.variant_id == Some(v.id) && !x.is_recurring())?;
                    let options = [&v.option1, &v.option2]
                        .into_iter()
                        .filter(|o| !o.is_empty())
                        .cloned()
                        .collect();
                    Some(VariantOut {
                        options,
                        sku: v.sku.clone(),
                        stock: if keys { None } else { v.stock },
                        price: price_out(price),
                    })
                })
                .collect(),
        };
        // Seeding needs a price per product; one with none here is not sold in this currency.
        if prices.is_empty() && variants_out.is_empty() {
            continue;
        }
        let file = file_rows
            .iter()
            .find(|(id, _, _)| *id == p.id)
            .map(|(_, name, bytes)| {
                let path = format!("{FILES_DIR}/{}/{name}", p.slug);
                files.push((path.clone(), bytes.clone()));
                path
            });
        // Without options, the one variant's stock (the first, should removed ones linger).
        let stock = match with_variants {
            true => None,
            false => own.first().and_then(|v| v.stock),
        };
        products_out.push(ProductOut {
            category: p.category_id.and_then(|id| names.get(&id).cloned()),
            status: p.status.clone(),
            description: p.description.clone(),
            image_url: p.image_url.clone(),
            // A key product's stock is its unsold keys, not a number to restore.
            stock: if keys { None } else { stock },
            tax_code: p.tax_code.clone(),
            kind: p.kind.clone(),
            delivery: p.delivery.clone(),
            max_downloads: (p.delivery.as_deref() == Some("file")
                && p.max_downloads != DEFAULT_MAX_DOWNLOADS)
                .then_some(p.max_downloads),
            file,
            slug: p.slug,
            name: p.name,
            options: [&p.option1_name, &p.option2_name]
                .into_iter()
                .flatten()
                .cloned()
                .collect(),
            prices,
            variants: variants_out,
        });
    }
    let rates: Vec<ShippingRateEntry> = shipping_rates::table
        .filter(shipping_rates::active.eq(true))
        .order((shipping_rates::position.asc(), shipping_rates::id.asc()))
        .select((
            shipping_rates::key,
            shipping_rates::name,
            shipping_rates::amount,
            shipping_rates::min_days,
            shipping_rates::max_days,
            shipping_rates::free_over,
        ))
        .load::<(String, String, i64, Option<i64>, Option<i64>, Option<i64>)>(conn)?
        .into_iter()
        .map(
            |(key, name, amount, min_days, max_days, free_over)| ShippingRateEntry {
                key,
                name,
                amount,
                min_days,
                max_days,
                free_over,
            },
        )
        .collect();
    let body = toml::to_string(&FileOut {
        currency: currency.code().to_owned(),
        products: products_out,
        shipping_rates: rates,
    })?;
    Ok(Export {
        toml: format!(
            "# The catalogue as exported by `storefront catalogue export`; load it with\n# `storefront seed FILE`. Amounts are minor units of {}. Not included: replaced prices,\n# uploaded pictures and unsold licence keys.\n\n{body}",
            currency.code().to_uppercase()
        ),
        files,
    })
}
