//! The shop's pages: `GET /`, `GET /categories/{slug}`, `GET /search?q=`, `GET /products/{slug}`
//! (an old slug answers 301 with the new address) and `POST /products/{slug}/back-in-stock`.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{Either, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;
use validator::Validate;

use super::back_in_stock::{self, SignUp};
use super::grid::{self, GridQuery, Pager, Sort, arrange, paginate};
use super::images::Size;
use super::model::{Listing, Price};
use super::search;
use super::snapshot::Snapshot;
use crate::accounts::limits;
use crate::db::{self, DbError, write_tx};
use crate::error::AppError;
use crate::state::AppState;
use crate::web::client::ClientAddr;
use crate::web::forms;
use crate::web::layout::Layout;
use crate::web::see_other;
use crate::web::session::{CsrfForm, TypedSession};

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
            image_url: l.picture(Size::Thumb).map(|(url, _)| url),
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

/// A category in the shop's category list.
pub struct CategoryLink {
    pub slug: String,
    pub name: String,
    pub current: bool,
}

/// One choice of the sort menu.
pub struct SortOption {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

/// A grid of products: the front page, a category page or search results.
#[derive(Template, WebTemplate)]
#[template(path = "catalog/index.html")]
pub struct IndexPage {
    pub layout: Layout,
    pub title: String,
    pub heading: String,
    /// On the search page: what was typed (the search box shows it again).
    pub search: Option<String>,
    /// Where the sort form goes (the page's own path).
    pub action: String,
    pub products: Vec<ProductCard>,
    /// Matches (or products) on every page together.
    pub total: usize,
    pub categories: Vec<CategoryLink>,
    /// "All" is the page shown (the front page).
    pub all_current: bool,
    pub sorts: Vec<SortOption>,
    pub pager: Pager,
    pub canonical: String,
    /// Search results are not for search engines' indexes.
    pub noindex: bool,
}

/// What one grid page shows, before it is rendered.
struct Grid<'a> {
    path: String,
    q: String,
    listings: Vec<&'a Listing>,
    sort: Sort,
    page: usize,
    category: Option<i64>,
}

fn grid_page(
    state: &AppState,
    layout: Layout,
    catalogue: &Snapshot,
    grid: Grid<'_>,
    title: String,
    heading: String,
) -> Result<IndexPage, AppError> {
    let Grid {
        path,
        q,
        mut listings,
        sort,
        page,
        category,
    } = grid;
    arrange(&mut listings, sort);
    let total = listings.len();
    let (shown, pager) = paginate(listings, page, &path, &q, sort)?;
    let searching = path == "/search";
    let base = state.public_url.as_str().trim_end_matches('/');
    Ok(IndexPage {
        title,
        heading,
        search: searching.then(|| q.clone()),
        products: shown
            .into_iter()
            .map(|l| ProductCard::new(l, catalogue.available(l.product.id)))
            .collect(),
        total,
        categories: catalogue
            .categories()
            .iter()
            .map(|c| CategoryLink {
                slug: c.slug.clone(),
                name: c.name.clone(),
                current: category == Some(c.id),
            })
            .collect(),
        all_current: category.is_none() && !searching,
        sorts: Sort::ALL
            .into_iter()
            .map(|s| SortOption {
                value: s.as_str(),
                label: s.label(searching),
                selected: s == sort,
            })
            .collect(),
        canonical: format!("{base}{}", grid::link(&path, &q, Sort::Featured, page)),
        noindex: searching,
        action: path,
        pager,
        layout,
    })
}

/// `GET /`: every product for sale.
pub async fn index(
    state: web::Data<AppState>,
    layout: Layout,
    query: web::Query<GridQuery>,
) -> Result<IndexPage, AppError> {
    let (sort, page) = query.parse()?;
    let catalogue = state.catalogue.get().await?;
    let grid = Grid {
        path: "/".to_owned(),
        q: String::new(),
        listings: catalogue.listings().iter().collect(),
        sort,
        page,
        category: None,
    };
    grid_page(
        &state,
        layout,
        &catalogue,
        grid,
        "Shop".into(),
        "Shop".into(),
    )
}

/// `GET /categories/{slug}`: the products of one category.
pub async fn category(
    state: web::Data<AppState>,
    layout: Layout,
    slug: web::Path<String>,
    query: web::Query<GridQuery>,
) -> Result<IndexPage, AppError> {
    let (sort, page) = query.parse()?;
    let catalogue = state.catalogue.get().await?;
    let category = catalogue.category(&slug).ok_or(AppError::NotFound)?;
    let grid = Grid {
        path: format!("/categories/{}", category.slug),
        q: String::new(),
        listings: catalogue
            .listings()
            .iter()
            .filter(|l| l.product.category_id == Some(category.id))
            .collect(),
        sort,
        page,
        category: Some(category.id),
    };
    let name = category.name.clone();
    grid_page(&state, layout, &catalogue, grid, name.clone(), name)
}

/// `GET /search?q=`: products whose name or description has every word typed.
pub async fn search(
    state: web::Data<AppState>,
    layout: Layout,
    query: web::Query<GridQuery>,
) -> Result<IndexPage, AppError> {
    let (sort, page) = query.parse()?;
    let q: String = query.q.trim().chars().take(200).collect();
    let terms = search::terms(&q);
    let ids = if terms.is_empty() {
        vec![]
    } else {
        let sku = q.clone();
        db::run(&state.pool, move |conn| {
            search::matching(conn, &sku, &terms).map_err(DbError::from)
        })
        .await?
    };
    let catalogue = state.catalogue.get().await?;
    let grid = Grid {
        path: "/search".to_owned(),
        listings: ids
            .iter()
            .filter_map(|id| catalogue.listing_by_id(*id))
            .collect(),
        q: q.clone(),
        sort,
        page,
        category: None,
    };
    let (title, heading) = if q.is_empty() {
        ("Search".to_owned(), "Search".to_owned())
    } else {
        (format!("Search: {q}"), format!("Results for “{q}”"))
    };
    grid_page(&state, layout, &catalogue, grid, title, heading)
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

/// One variant as the product page offers it: a radio button in the add-to-cart form.
pub struct VariantOption {
    /// The price the form adds (each variant has its own).
    pub price_id: i64,
    pub label: String,
    pub price: String,
    /// "Only 2 left", "Sold out", or empty.
    pub note: String,
    pub sold_out: bool,
    pub checked: bool,
    /// The variant's own picture, as a thumbnail, and its alt text.
    pub picture: Option<(String, String)>,
}

#[derive(Template, WebTemplate)]
#[template(path = "catalog/product.html")]
pub struct ProductPage {
    pub layout: Layout,
    pub name: String,
    /// The description's paragraphs (plain text, split at blank lines).
    pub paragraphs: Vec<String>,
    pub initial: String,
    pub image_url: Option<String>,
    pub image_alt: String,
    /// More pictures: (thumbnail, large copy, alt text).
    pub gallery: Vec<(String, String, String)>,
    pub sold_out: bool,
    pub stock_note: Option<String>,
    pub max_quantity: i64,
    pub one_time: Vec<PriceOption>,
    /// With several variants: the radio group that replaces `one_time`'s single form.
    pub variants: Vec<VariantOption>,
    /// The variants' option names ("Size / Colour").
    pub options_legend: String,
    pub recurring: Vec<PriceOption>,
    /// Why adding to the cart failed, shown next to the quantity field.
    pub error: Option<String>,
    pub quantity: String,
    pub slug: String,
    /// For search engines: the page's address, a description and `Product` JSON-LD.
    pub canonical: String,
    pub meta_description: String,
    pub json_ld: Option<String>,
    /// Variants sold out while others are not: (variant id, label), offered in the
    /// back-in-stock form.
    pub sold_out_variants: Vec<(i64, String)>,
    /// The back-in-stock form of a sold-out product: the address typed, and what was wrong.
    pub alert_email: String,
    pub alert_error: Option<String>,
}

pub async fn product(
    state: web::Data<AppState>,
    layout: Layout,
    slug: web::Path<String>,
) -> Result<Either<ProductPage, HttpResponse>, AppError> {
    let slug = slug.into_inner();
    match render_product(&state, layout, slug.clone(), None, ("1".into(), None)).await {
        // Only a miss asks the database: a renamed product's old address leads to the new one.
        Err(AppError::NotFound) if is_plausible_slug(&slug) => {
            let moved = db::run(&state.pool, move |conn| {
                super::slugs::redirect(conn, &slug).map_err(DbError::from)
            })
            .await?
            .ok_or(AppError::NotFound)?;
            Ok(Either::Right(
                HttpResponse::MovedPermanently()
                    .insert_header((header::LOCATION, format!("/products/{moved}")))
                    .finish(),
            ))
        }
        page => page.map(Either::Left),
    }
}

/// The product page, optionally with an error for the add-to-cart form (and what was typed).
pub async fn render_product(
    state: &AppState,
    layout: Layout,
    slug: String,
    error: Option<String>,
    (quantity, chosen): (String, Option<i64>),
) -> Result<ProductPage, AppError> {
    // Slugs are lower-case ASCII; anything else cannot exist.
    if !is_plausible_slug(&slug) {
        return Err(AppError::NotFound);
    }
    let catalogue = state.catalogue.get().await?;
    let listing = catalogue.listing(&slug).ok_or(AppError::NotFound)?;
    let available = catalogue.available(listing.product.id);
    let p = &listing.product;
    let canonical = super::seo::canonical(&state.public_url, &p.slug);
    let meta_description = super::seo::meta_description(&p.description);
    let main_picture = listing.picture(Size::Large);
    let stock_note = match available {
        Some(0) => None,
        Some(1) => Some("Only one left".to_owned()),
        Some(n) if n <= 5 => Some(format!("Only {n} left")),
        _ => None,
    };
    Ok(ProductPage {
        name: p.name.clone(),
        paragraphs: p
            .description
            .split("\n\n")
            .map(str::trim)
            .filter(|para| !para.is_empty())
            .map(str::to_owned)
            .collect(),
        initial: initial(&p.name),
        image_url: main_picture.as_ref().map(|(url, _)| url.clone()),
        image_alt: main_picture.map(|(_, alt)| alt).unwrap_or_default(),
        gallery: listing
            .pictures
            .iter()
            .skip(1)
            .map(|x| (x.url(Size::Thumb), x.url(Size::Large), x.alt.clone()))
            .collect(),
        sold_out: available == Some(0),
        stock_note,
        // With variants, the most any one of them has (the cart checks the one chosen).
        max_quantity: match listing.variants.len() {
            0 | 1 => available,
            _ => listing
                .variants
                .iter()
                .map(|v| catalogue.variant_available(v.id))
                .try_fold(0, |most, a| a.map(|a| most.max(a))),
        }
        .map_or(MAX_QUANTITY, |s| s.min(MAX_QUANTITY)),
        variants: variant_options(listing, &catalogue, chosen),
        options_legend: [&p.option1_name, &p.option2_name]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" / "),
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
        slug: p.slug.clone(),
        canonical: canonical.clone(),
        json_ld: super::seo::product_json_ld(
            listing,
            (available, &|v| catalogue.variant_available(v)),
            &canonical,
            &meta_description,
            layout.shop_name,
        ),
        meta_description,
        sold_out_variants: match available == Some(0) {
            true => vec![],
            false => listing
                .variants
                .iter()
                .filter(|v| catalogue.variant_available(v.id) == Some(0))
                .map(|v| (v.id, v.label()))
                .collect(),
        },
        alert_email: String::new(),
        alert_error: None,
        layout,
    })
}

/// The radio buttons of a product with several variants (none for one): each variant's price
/// and availability. The one the shopper chose stays checked, else the first available.
fn variant_options(
    listing: &super::model::Listing,
    catalogue: &super::snapshot::Snapshot,
    chosen: Option<i64>,
) -> Vec<VariantOption> {
    if listing.variants.len() < 2 {
        return vec![];
    }
    let mut options: Vec<VariantOption> = listing
        .variants
        .iter()
        .filter_map(|v| {
            let price = listing.price_of(v.id)?;
            let available = catalogue.variant_available(v.id);
            let picture = v.image_id.and_then(|id| {
                listing
                    .pictures
                    .iter()
                    .find(|x| x.id == id)
                    .map(|x| (x.url(Size::Thumb), x.alt.clone()))
            });
            Some(VariantOption {
                price_id: price.id,
                label: v.label(),
                price: price.label(),
                note: match available {
                    Some(0) => "Sold out".to_owned(),
                    Some(1) => "Only one left".to_owned(),
                    Some(n) if n <= 5 => format!("Only {n} left"),
                    _ => String::new(),
                },
                sold_out: available == Some(0),
                checked: false,
                picture,
            })
        })
        .collect();
    let pick = options
        .iter()
        .position(|o| Some(o.price_id) == chosen && !o.sold_out)
        .or_else(|| options.iter().position(|o| !o.sold_out));
    if let Some(i) = pick {
        options[i].checked = true;
    }
    options
}

#[derive(Debug, Deserialize, Validate)]
pub struct AlertForm {
    #[serde(default)]
    #[validate(
        email(message = "Enter an e-mail address like name@example.com."),
        length(max = 254, message = "That e-mail address is too long.")
    )]
    email: String,
    /// The sold-out variant to wait for; left out: the product.
    #[serde(default)]
    variant: String,
}

/// `POST /products/{slug}/back-in-stock`: "e-mail me when it's back" on a sold-out product.
pub async fn back_in_stock(
    state: web::Data<AppState>,
    layout: Layout,
    session: TypedSession,
    client: ClientAddr,
    slug: web::Path<String>,
    form: CsrfForm<AlertForm>,
) -> Result<HttpResponse, AppError> {
    let slug = slug.into_inner();
    let mut form = form.0;
    form.email = form.email.trim().to_owned();
    let typed = form.email.clone();
    let refuse = |page: ProductPage, error: String, status: StatusCode| {
        let page = ProductPage {
            alert_email: typed.clone(),
            alert_error: Some(error),
            ..page
        };
        crate::web::html_page(page.render(), status)
    };
    if let Err(errors) = form.validate() {
        let page = render_product(&state, layout, slug, None, ("1".into(), None)).await?;
        let message = forms::messages(&errors)
            .into_iter()
            .map(|(_, m)| m)
            .next()
            .unwrap_or_default();
        return refuse(page, message, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let email = crate::accounts::model::normalize_email(&typed);
    let catalogue = state.catalogue.get().await?;
    let listing = catalogue.listing(&slug).ok_or(AppError::NotFound)?;
    let (product_id, mut name) = (listing.product.id, listing.product.name.clone());
    let variant = match form.variant.trim() {
        "" => None,
        v => {
            let v = listing
                .variants
                .iter()
                .find(|x| x.id.to_string() == v)
                .ok_or_else(|| {
                    AppError::BadRequest("That choice is not one of this product's.".into())
                })?;
            name = super::variants::line_name(&name, &v.label());
            Some(v.id)
        }
    };
    let (ip, now) = (client.limit_key(), state.clock.unix());
    let email2 = email.clone();
    let outcome = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            if let Err(wait) = limits::hit(conn, &limits::STOCK_ALERTS_PER_ADDRESS, &ip, now)? {
                return Ok(Err(wait));
            }
            back_in_stock::sign_up(conn, (product_id, variant), &email2, now).map(Ok)
        })
        .map_err(DbError::from)
    })
    .await?;
    match outcome {
        Ok(SignUp::Waiting) => {
            session.flash(format!(
                "We'll e-mail {email} once when {name} is back in stock."
            ))?;
        }
        Ok(SignUp::InStock) => {
            session.flash(format!("Good news: {name} is in stock now."))?;
        }
        Err(wait) => {
            let page = render_product(&state, layout, slug, None, ("1".into(), None)).await?;
            return refuse(
                page,
                format!(
                    "Too many requests from your network. Please wait {} and try again.",
                    limits::minutes(wait)
                ),
                StatusCode::TOO_MANY_REQUESTS,
            );
        }
    }
    Ok(see_other(&format!("/products/{slug}")))
}

fn is_plausible_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= 100
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}
