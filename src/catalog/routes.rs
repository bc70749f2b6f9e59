//! `GET /` and `GET /products/{slug}`.

use actix_web::web;
use askama::Template;
use askama_web::WebTemplate;

use super::model::{Listing, Price};
use crate::error::AppError;
use crate::state::AppState;
use crate::web::layout::Layout;

/// Most a shopper can put in the cart of one item.
pub const MAX_QUANTITY: i64 = 99;

pub struct ProductCard {
    pub slug: String,
    pub name: String,
    pub initial: String,
    pub image_url: Option<String>,
    pub price_label: String,
    pub sold_out: bool,
    pub last_one: bool,
}

impl ProductCard {
    fn new(l: &Listing, available: Option<i64>) -> Self {
        let cheapest = &l.prices[0];
        let price_label = if l.prices.len() > 1 || cheapest.is_recurring() {
            format!("from {}", cheapest.label())
        } else {
            cheapest.label()
        };
        Self {
            slug: l.product.slug.clone(),
            name: l.product.name.clone(),
            initial: initial(&l.product.name),
            image_url: l.product.image_url.clone(),
            price_label,
            sold_out: available == Some(0),
            last_one: available == Some(1),
        }
    }
}

fn initial(name: &str) -> String {
    name.chars()
        .next()
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_default()
}

#[derive(Template, WebTemplate)]
#[template(path = "catalog/index.html")]
pub struct IndexPage {
    pub layout: Layout,
    pub products: Vec<ProductCard>,
}

pub async fn index(state: web::Data<AppState>, layout: Layout) -> Result<IndexPage, AppError> {
    let catalogue = state.catalogue.get().await?;
    Ok(IndexPage {
        layout,
        products: catalogue
            .listings()
            .iter()
            .map(|l| ProductCard::new(l, catalogue.available(l.product.id)))
            .collect(),
    })
}

pub struct PriceOption {
    pub id: i64,
    pub label: String,
    /// "monthly", "yearly"…; empty for a one-time price.
    pub cadence: &'static str,
}

impl From<&Price> for PriceOption {
    fn from(p: &Price) -> Self {
        Self {
            id: p.id,
            label: p.plan_label(),
            cadence: match p.recurring_interval.as_deref() {
                Some("day") => "daily",
                Some("week") => "weekly",
                Some("month") => "monthly",
                Some("year") => "yearly",
                _ => "",
            },
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "catalog/product.html")]
pub struct ProductPage {
    pub layout: Layout,
    pub name: String,
    pub description: String,
    pub initial: String,
    pub image_url: Option<String>,
    pub sold_out: bool,
    pub stock_note: Option<String>,
    pub max_quantity: i64,
    pub one_time: Vec<PriceOption>,
    pub recurring: Vec<PriceOption>,
    /// Why adding to the cart failed, shown next to the quantity field.
    pub error: Option<String>,
    pub quantity: String,
}

pub async fn product(
    state: web::Data<AppState>,
    layout: Layout,
    slug: web::Path<String>,
) -> Result<ProductPage, AppError> {
    render_product(&state, layout, slug.into_inner(), None, "1".into()).await
}

/// The product page, optionally with an error for the add-to-cart form (and what was typed).
pub async fn render_product(
    state: &AppState,
    layout: Layout,
    slug: String,
    error: Option<String>,
    quantity: String,
) -> Result<ProductPage, AppError> {
    // Slugs are lower-case ASCII; anything else cannot exist.
    if !is_plausible_slug(&slug) {
        return Err(AppError::NotFound);
    }
    let catalogue = state.catalogue.get().await?;
    let listing = catalogue.listing(&slug).ok_or(AppError::NotFound)?;
    let available = catalogue.available(listing.product.id);
    let p = &listing.product;
    let stock_note = match available {
        Some(0) => None,
        Some(1) => Some("Only one left".to_owned()),
        Some(n) if n <= 5 => Some(format!("Only {n} left")),
        _ => None,
    };
    Ok(ProductPage {
        name: p.name.clone(),
        description: p.description.clone(),
        initial: initial(&p.name),
        image_url: p.image_url.clone(),
        sold_out: available == Some(0),
        stock_note,
        max_quantity: available.map_or(MAX_QUANTITY, |s| s.min(MAX_QUANTITY)),
        one_time: listing
            .prices
            .iter()
            .filter(|x| !x.is_recurring())
            .map(PriceOption::from)
            .collect(),
        recurring: listing
            .prices
            .iter()
            .filter(|x| x.is_recurring())
            .map(PriceOption::from)
            .collect(),
        error,
        quantity,
        layout,
    })
}

fn is_plausible_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= 100
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}
