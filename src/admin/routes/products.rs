//! The catalogue from the admin pages: `GET /admin/products` (search by name or slug, filter by
//! status; stock, units held by open checkouts, shoppers waiting), `GET /admin/products/{slug}`
//! (its forms and its trail), `POST /admin/products/{slug}` (name, description, on sale, tax
//! code; the Stripe Product follows) and `POST /admin/products/{slug}/stock` (set, adjust or
//! make unlimited, with a reason).

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use diesel::prelude::*;
use serde::Deserialize;
use validator::Validate;

use super::{PAGE_SIZE, escape_like, lower, render, when};
use crate::accounts::auth::Admin;
use crate::admin::audit;
use crate::catalog::back_in_stock;
use crate::catalog::create::{self, NewProduct};
use crate::catalog::images::{self, Picture};
use crate::catalog::model::{Price, Product, Status};
use crate::catalog::slugs;
use crate::catalog::stock::{self, Change};
use crate::db::{self, DbError, write_tx};
use crate::error::AppError;
use crate::money::{Currency, Money, MoneyParseError};
use crate::schema::{
    order_items, prices, product_redirects, products, stock_alerts, stock_reservations,
    subscriptions, users,
};
use crate::state::AppState;
use crate::web::field_errors::FieldErrors;
use crate::web::forms::parse_int_in;
use crate::web::layout::Layout;
use crate::web::see_other;
use crate::web::session::{CsrfForm, TypedSession};

/// The most units one form sets or moves.
const MAX_UNITS: i64 = 1_000_000;

#[derive(Debug, Deserialize)]
pub struct ProductsQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    page: String,
}

struct ProductRow {
    slug: String,
    name: String,
    kind: &'static str,
    status: &'static str,
    stock: String,
    held: i64,
    available: String,
    waiting: i64,
}

#[derive(Template)]
#[template(path = "admin/products.html")]
struct ProductsPage {
    layout: Layout,
    q: String,
    status: String,
    rows: Vec<ProductRow>,
    prev: Option<String>,
    next: Option<String>,
}

type Listed = (String, String, String, Option<String>, String, i64);

/// Sums of (id, units) rows per id (a product's or a variant's).
fn sums_by_id(rows: Vec<(i64, i64)>) -> HashMap<i64, i64> {
    let mut sums = HashMap::new();
    for (id, n) in rows {
        *sums.entry(id).or_insert(0) += n;
    }
    sums
}

pub async fn products(
    state: web::Data<AppState>,
    layout: Layout,
    _admin: Admin,
    query: web::Query<ProductsQuery>,
) -> Result<HttpResponse, AppError> {
    let q: String = query.q.trim().chars().take(200).collect();
    // Anything else lists every product.
    let status = Status::parse(&query.status)
        .map(|s| s.as_str().to_owned())
        .unwrap_or_default();
    let page = parse_int_in(&query.page, 1, 100_000).unwrap_or(1);
    let (q2, status2) = (q.clone(), status.clone());
    let (rows, more) = db::run(&state.pool, move |conn| {
        let mut query = products::table.into_boxed();
        if !q2.is_empty() {
            let pattern = format!("%{}%", escape_like(&q2.to_lowercase()));
            query = query.filter(
                lower(products::name.nullable())
                    .like(pattern.clone())
                    .escape('\\')
                    .or(products::slug.like(pattern).escape('\\')),
            );
        }
        if !status2.is_empty() {
            query = query.filter(products::status.eq(status2));
        }
        let mut found: Vec<Listed> = query
            .order((products::position.asc(), products::id.asc()))
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE + 1)
            .select((
                products::slug,
                products::name,
                products::kind,
                products::delivery,
                products::status,
                products::id,
            ))
            .load(conn)?;
        let more = found.len() as i64 > PAGE_SIZE;
        found.truncate(PAGE_SIZE as usize);
        let ids: Vec<i64> = found.iter().map(|f| f.5).collect();
        let stocks = stock_per_product(conn, &ids)?;
        let held = sums_by_id(
            stock_reservations::table
                .filter(stock_reservations::product_id.eq_any(&ids))
                .filter(stock_reservations::status.eq(crate::inventory::HELD))
                .select((stock_reservations::product_id, stock_reservations::quantity))
                .load(conn)?,
        );
        let waiting: Vec<i64> = stock_alerts::table
            .filter(stock_alerts::product_id.eq_any(&ids))
            .filter(stock_alerts::notified_at.is_null())
            .select(stock_alerts::product_id)
            .load(conn)?;
        let waiting = sums_by_id(waiting.into_iter().map(|id| (id, 1)).collect());
        let rows = found
            .into_iter()
            .map(|(slug, name, kind, delivery, status, id)| {
                let held = held.get(&id).copied().unwrap_or(0);
                let stock = stocks.get(&id).copied().flatten();
                ProductRow {
                    slug,
                    name,
                    kind: match (kind.as_str(), delivery.as_deref()) {
                        ("digital", Some("keys")) => "Digital (licence keys)",
                        ("digital", Some("file")) => "Digital (download)",
                        ("digital", _) => "Digital",
                        _ => "Physical",
                    },
                    status: Status::parse(&status).unwrap_or(Status::Draft).label(),
                    stock: stock.map_or_else(|| "Unlimited".to_owned(), |s| s.to_string()),
                    held,
                    available: stock
                        .map_or_else(|| "Unlimited".to_owned(), |s| (s - held).max(0).to_string()),
                    waiting: waiting.get(&id).copied().unwrap_or(0),
                }
            })
            .collect::<Vec<_>>();
        Ok::<_, DbError>((rows, more))
    })
    .await?;
    let link = |p: i64| {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        if !q.is_empty() {
            s.append_pair("q", &q);
        }
        if !status.is_empty() {
            s.append_pair("status", &status);
        }
        s.append_pair("page", &p.to_string());
        format!("/admin/products?{}", s.finish())
    };
    render(
        ProductsPage {
            layout,
            prev: (page > 1).then(|| link(page - 1)),
            next: more.then(|| link(page + 1)),
            q,
            status,
            rows,
        }
        .render(),
        StatusCode::OK,
    )
}

/// `GET /admin/products.csv`: every product with its stock, for a spreadsheet. Cells a
/// spreadsheet would read as a formula (`=`, `+`, `-`, `@`, tab, carriage return first) get a
/// leading `'`: a product name must never run as a formula on the admin's machine.
pub async fn products_csv(
    state: web::Data<AppState>,
    _admin: Admin,
) -> Result<HttpResponse, AppError> {
    let currency = state.config.currency;
    let rows = db::run(&state.pool, move |conn| {
        let found: Vec<Listed> = products::table
            .order((products::position.asc(), products::id.asc()))
            .select((
                products::slug,
                products::name,
                products::kind,
                products::delivery,
                products::status,
                products::id,
            ))
            .load(conn)?;
        let ids: Vec<i64> = found.iter().map(|f| f.5).collect();
        let stocks = stock_per_product(conn, &ids)?;
        let held = sums_by_id(
            stock_reservations::table
                .filter(stock_reservations::status.eq(crate::inventory::HELD))
                .select((stock_reservations::product_id, stock_reservations::quantity))
                .load(conn)?,
        );
        let prices: Vec<(i64, i64)> = crate::schema::prices::table
            .filter(crate::schema::prices::active.eq(true))
            .filter(crate::schema::prices::recurring_interval.is_null())
            .order((
                crate::schema::prices::unit_amount.asc(),
                crate::schema::prices::id.asc(),
            ))
            .select((
                crate::schema::prices::product_id,
                crate::schema::prices::unit_amount,
            ))
            .load(conn)?;
        Ok::<_, DbError>(
            found
                .into_iter()
                .map(|(slug, name, kind, delivery, status, id)| {
                    let held = held.get(&id).copied().unwrap_or(0);
                    let stock = stocks.get(&id).copied().flatten();
                    let price = prices
                        .iter()
                        .find(|(p, _)| *p == id)
                        .map(|(_, a)| Money::new(*a, currency).to_major_string())
                        .unwrap_or_default();
                    vec![
                        slug,
                        name,
                        match delivery {
                            Some(d) => format!("{kind} ({d})"),
                            None => kind,
                        },
                        status,
                        price,
                        stock.map_or_else(String::new, |s| s.to_string()),
                        held.to_string(),
                        stock.map_or_else(String::new, |s| (s - held).max(0).to_string()),
                    ]
                })
                .collect::<Vec<_>>(),
        )
    })
    .await?;
    let mut csv = format!(
        "slug,name,kind,status,price_{},stock,held,available\r\n",
        currency.code()
    );
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| crate::web::csv::text(c)).collect();
        csv.push_str(&cells.join(","));
        csv.push_str("\r\n");
    }
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            "attachment; filename=\"products.csv\"",
        ))
        .body(csv))
}

/// Each product's stock over its variants: `None` when one of them is unlimited.
fn stock_per_product(
    conn: &mut crate::db::AnyConnection,
    ids: &[i64],
) -> QueryResult<HashMap<i64, Option<i64>>> {
    // Removed variants (one-time prices, none current) hold nothing anyone can buy.
    let priced: Vec<(Option<i64>, bool)> = prices::table
        .filter(prices::product_id.eq_any(ids))
        .filter(prices::recurring_interval.is_null())
        .select((prices::variant_id, prices::active))
        .load(conn)?;
    let retired = |v: i64| {
        priced.iter().any(|(p, _)| *p == Some(v))
            && !priced.iter().any(|(p, active)| *p == Some(v) && *active)
    };
    let mut stocks: HashMap<i64, Option<i64>> = HashMap::new();
    for v in crate::catalog::variants::of_products(conn, ids)? {
        if retired(v.id) {
            continue;
        }
        let entry = stocks.entry(v.product_id).or_insert(Some(0));
        *entry = entry.zip(v.stock).map(|(a, b)| a + b);
    }
    Ok(stocks)
}

/// A price field and its "Free" box: the amount in minor units, or what is wrong. A price of 0
/// is a free item (a no-cost order), so it must be meant.
pub(super) fn priced(raw: &str, free: bool, currency: Currency) -> Result<i64, String> {
    match (Money::parse_major(raw, currency), free) {
        (Err(MoneyParseError::Empty), true) => Ok(0),
        (Ok(m), true) if m.amount == 0 => Ok(0),
        (Ok(_), true) => Err("A free item's price is 0: clear the price or untick Free.".into()),
        (Ok(m), false) if m.amount == 0 => {
            Err("A price of 0 makes a free item: tick Free if that is what you mean.".into())
        }
        (Ok(m), false) if m.amount > 99_999_999 => Err("The price is too large.".into()),
        (Ok(m), false) => Ok(m.amount),
        (Err(e), _) => Err(format!("Price: {e}.")),
    }
}

/// One entry of a product's trail.
struct TrailRow {
    when: String,
    who: String,
    action: String,
    details: String,
}

#[derive(Template)]
#[template(path = "admin/product.html")]
struct ProductPage {
    layout: Layout,
    slug: String,
    name: String,
    keys: bool,
    stock: String,
    held: i64,
    available: String,
    waiting: i64,
    mode: String,
    quantity: String,
    reason: String,
    edit: EditForm,
    errors: FieldErrors,
    trail: Vec<TrailRow>,
    /// Every category's name, offered as the category field's suggestions.
    categories: Vec<String>,
    /// Earlier addresses, each redirecting here.
    old_slugs: Vec<String>,
    /// Orders or subscriptions name it: it can be archived, not deleted.
    has_orders: bool,
    /// Its prices, current ones first, then the history newest first.
    prices: Vec<PriceRow>,
    currency: String,
    pictures: Vec<Picture>,
    /// The picture form's alt text, as typed.
    alt: String,
    variants: Vec<VariantRow>,
    /// The option axes' names, as typed or stored ("" when unnamed).
    axes: (String, String),
    /// The add-a-variant form, as typed.
    new_variant: super::variants::NewVariantForm,
    /// The variant the stock form changes.
    stock_variant: i64,
}

/// One of a product's variants, with its stock and the edit form's values.
pub(super) struct VariantRow {
    pub(super) id: i64,
    pub(super) label: String,
    pub(super) option1: String,
    pub(super) option2: String,
    pub(super) sku: String,
    pub(super) image_id: Option<i64>,
    pub(super) price: String,
    pub(super) stock: String,
    pub(super) held: i64,
    pub(super) available: String,
    /// It has a current one-time price: shoppers can pick it.
    pub(super) for_sale: bool,
    /// It had one-time prices and has none now: removed, kept for its orders.
    pub(super) retired: bool,
}

/// One of a product's prices, current or replaced.
struct PriceRow {
    id: i64,
    label: String,
    cadence: &'static str,
    since: String,
    current: bool,
    stripe_id: String,
    /// Live subscriptions on it.
    subscribers: i64,
    /// The amount field: as typed, or the current amount.
    typed: String,
    error: Option<String>,
}

/// What the product form sent, as typed (or the product as it is, for a fresh form).
#[derive(Debug, Default, Deserialize, Validate)]
pub struct EditForm {
    #[serde(default)]
    #[validate(custom(function = "product_name"))]
    name: String,
    #[serde(default)]
    #[validate(length(max = 5000, message = "Keep the description under 5,000 characters."))]
    description: String,
    /// `draft`, `active` or `archived`.
    #[serde(default)]
    status: String,
    #[serde(default)]
    #[validate(custom(function = "tax_code_or_empty"))]
    tax_code: String,
    #[serde(default)]
    slug: String,
    #[serde(default)]
    #[validate(custom(function = "crate::catalog::categories::validate_name"))]
    category: String,
}

fn product_name(name: &str) -> Result<(), validator::ValidationError> {
    let n = name.trim().chars().count();
    if (1..=200).contains(&n) {
        Ok(())
    } else {
        Err(validator::ValidationError::new("name")
            .with_message("Give the product a name of 1 to 200 characters.".into()))
    }
}

fn tax_code_or_empty(code: &str) -> Result<(), validator::ValidationError> {
    match code.trim() {
        "" => Ok(()),
        code => crate::catalog::seed::validate_tax_code(code),
    }
}

/// What a rejected form sent, shown again as typed: the stock form, the product form, or one
/// price's amount (its id and the text).
#[derive(Default)]
pub(super) struct Typed {
    pub(super) stock: StockForm,
    pub(super) edit: Option<EditForm>,
    pub(super) price: Option<(i64, String)>,
    /// The picture form's alt text.
    pub(super) alt: String,
    /// The variants form: axis names and each variant's values, by variant id.
    pub(super) variants: Option<super::variants::VariantsForm>,
    pub(super) new_variant: super::variants::NewVariantForm,
}

/// What the stock form sent, as typed (it is shown again with the errors).
#[derive(Debug, Default, Deserialize, Validate)]
pub struct StockForm {
    #[serde(default)]
    mode: String,
    #[serde(default)]
    quantity: String,
    /// The variant whose stock changes; left out: the product's first.
    #[serde(default)]
    variant: String,
    #[serde(default)]
    #[validate(length(
        min = 3,
        max = 200,
        message = "Say why, in 3 to 200 characters: a delivery, a stock count, damaged units…"
    ))]
    reason: String,
}

pub(super) async fn product_row(state: &AppState, slug: String) -> Result<(i64, String), AppError> {
    // Slugs are lower-case ASCII; anything else cannot exist.
    if slug.is_empty() || slug.len() > 100 {
        return Err(AppError::NotFound);
    }
    db::run(&state.pool, move |conn| {
        products::table
            .filter(products::slug.eq(&slug))
            .select((products::id, products::name))
            .first::<(i64, String)>(conn)
            .optional()
            .map_err(DbError::from)
    })
    .await?
    .ok_or(AppError::NotFound)
}

pub(super) async fn product_view(
    state: &AppState,
    layout: Layout,
    slug: String,
    typed: Typed,
    errors: FieldErrors,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let Typed {
        stock: typed,
        edit,
        price: typed_price,
        alt,
        variants: typed_variants,
        new_variant,
    } = typed;
    let (id, name) = product_row(state, slug.clone()).await?;
    let (product, variants, waiting, trail, extra, priced) = db::run(&state.pool, move |conn| {
        let product: Product = products::table
            .find(id)
            .select(Product::as_select())
            .first(conn)?;
        let held = sums_by_id(
            stock_reservations::table
                .filter(stock_reservations::product_id.eq(id))
                .filter(stock_reservations::status.eq(crate::inventory::HELD))
                .select((stock_reservations::variant_id, stock_reservations::quantity))
                .load(conn)?,
        );
        let variants: Vec<_> = crate::catalog::variants::of_product(conn, id)?
            .into_iter()
            .map(|v| {
                let held = held.get(&v.id).copied().unwrap_or(0);
                (v, held)
            })
            .collect();
        let waiting = back_in_stock::waiting(conn, id)?;
        let trail = audit::for_product(conn, id, 50)?;
        let categories = crate::catalog::categories::all(conn)?;
        let category = categories
            .iter()
            .find(|c| Some(c.id) == product.category_id)
            .map(|c| c.name.clone())
            .unwrap_or_default();
        let categories: Vec<String> = categories.into_iter().map(|c| c.name).collect();
        let old_slugs: Vec<String> = product_redirects::table
            .filter(product_redirects::product_id.eq(id))
            .order(product_redirects::created_at.desc())
            .select(product_redirects::slug)
            .load(conn)?;
        let has_orders = has_orders(conn, id)?;
        let prices: Vec<Price> = prices::table
            .filter(prices::product_id.eq(id))
            .order((
                prices::active.desc(),
                prices::created_at.desc(),
                prices::id.desc(),
            ))
            .select(Price::as_select())
            .load(conn)?;
        let ids: Vec<i64> = prices.iter().map(|p| p.id).collect();
        let on: Vec<Option<i64>> = subscriptions::table
            .filter(subscriptions::price_id.eq_any(ids))
            .filter(subscriptions::status.eq_any(crate::subscriptions::model::LIVE_STATUSES))
            .select(subscriptions::price_id)
            .load(conn)?;
        let subscribers = sums_by_id(on.into_iter().flatten().map(|p| (p, 1)).collect());
        let pictures = images::of_product(conn, id)?;
        let actors: Vec<i64> = trail.iter().filter_map(|e| e.actor_id).collect();
        let emails: HashMap<i64, String> = users::table
            .filter(users::id.eq_any(actors))
            .select((users::id, users::email))
            .load::<(i64, String)>(conn)?
            .into_iter()
            .collect();
        let trail = trail
            .into_iter()
            .map(|e| TrailRow {
                when: when(e.created_at),
                who: e
                    .actor_id
                    .and_then(|a| emails.get(&a).cloned())
                    .unwrap_or_else(|| "the shop".to_owned()),
                action: e.action,
                details: e.details,
            })
            .collect::<Vec<_>>();
        Ok::<_, DbError>((
            product,
            variants,
            waiting,
            trail,
            (category, categories, old_slugs, has_orders),
            (prices, subscribers, pictures),
        ))
    })
    .await?;
    let (category, categories, old_slugs, has_orders) = extra;
    let (prices, subscribers, pictures) = priced;
    let variant_rows = variant_rows(&variants, &prices, typed_variants.as_ref());
    let variant_label = |id: Option<i64>| {
        variants
            .iter()
            .find(|(v, _)| Some(v.id) == id)
            .map(|(v, _)| v.label())
            .unwrap_or_default()
    };
    let prices = prices
        .into_iter()
        .map(|p| {
            let typed = match &typed_price {
                Some((id, typed)) if *id == p.id => typed.clone(),
                _ => p.money().map(|m| m.to_major_string()).unwrap_or_default(),
            };
            PriceRow {
                id: p.id,
                label: match variant_label(p.variant_id) {
                    v if v.is_empty() => p.plan_label(),
                    v => format!("{v}: {}", p.plan_label()),
                },
                cadence: match p.recurring_interval.as_deref() {
                    None => "One-time",
                    Some("day") => "Daily",
                    Some("week") => "Weekly",
                    Some("month") => "Monthly",
                    _ => "Yearly",
                },
                since: when(p.created_at),
                current: p.active,
                stripe_id: p.stripe_price_id.clone().unwrap_or_default(),
                subscribers: subscribers.get(&p.id).copied().unwrap_or(0),
                error: errors.get(&format!("price-{}", p.id)).map(str::to_owned),
                typed,
            }
        })
        .collect();
    let edit = edit.unwrap_or_else(|| EditForm {
        name: product.name.clone(),
        description: product.description.clone(),
        status: product.status.clone(),
        tax_code: product.tax_code.clone().unwrap_or_default(),
        slug: product.slug.clone(),
        category,
    });
    // The summary counts what can be sold: removed variants (kept for their orders) are out.
    let live = || {
        variants
            .iter()
            .zip(&variant_rows)
            .filter(|(_, row)| !row.retired)
            .map(|(v, _)| v)
    };
    let held: i64 = live().map(|(_, h)| h).sum();
    let stock = live().try_fold(0i64, |sum, (v, _)| v.stock.map(|s| sum + s));
    let stock_variant = typed
        .variant
        .trim()
        .parse()
        .ok()
        .or(variants.first().map(|(v, _)| v.id))
        .unwrap_or(0);
    let axes = match &typed_variants {
        Some(t) => (t.option1_name.clone(), t.option2_name.clone()),
        None => (
            product.option1_name.clone().unwrap_or_default(),
            product.option2_name.clone().unwrap_or_default(),
        ),
    };
    let mode = if typed.mode.is_empty() {
        "adjust".to_owned()
    } else {
        typed.mode
    };
    render(
        ProductPage {
            layout,
            slug,
            name,
            keys: product.delivery.as_deref() == Some("keys"),
            stock: stock.map_or_else(|| "Unlimited".to_owned(), |s| s.to_string()),
            held,
            available: stock
                .map_or_else(|| "Unlimited".to_owned(), |s| (s - held).max(0).to_string()),
            waiting,
            mode,
            quantity: typed.quantity,
            reason: typed.reason,
            edit,
            errors,
            trail,
            categories,
            old_slugs,
            has_orders,
            prices,
            currency: state.config.currency.code().to_uppercase(),
            pictures,
            alt,
            variants: variant_rows,
            axes,
            new_variant,
            stock_variant,
        }
        .render(),
        status,
    )
}

impl VariantRow {
    /// Whether the variant's picture is this one.
    fn shows(&self, picture: impl std::borrow::Borrow<i64>) -> bool {
        self.image_id == Some(*picture.borrow())
    }
}

/// The variants as the page shows them: stock and price, and the edit form's values as typed.
fn variant_rows(
    variants: &[(crate::catalog::variants::Variant, i64)],
    prices: &[Price],
    typed: Option<&super::variants::VariantsForm>,
) -> Vec<VariantRow> {
    variants
        .iter()
        .map(|(v, held)| {
            let price = prices
                .iter()
                .find(|p| p.active && p.variant_id == Some(v.id) && !p.is_recurring());
            let typed = typed.and_then(|t| t.variant(v.id));
            VariantRow {
                id: v.id,
                label: v.label(),
                option1: typed.map_or_else(|| v.option1.clone(), |t| t.option1.clone()),
                option2: typed.map_or_else(|| v.option2.clone(), |t| t.option2.clone()),
                sku: typed.map_or_else(|| v.sku.clone().unwrap_or_default(), |t| t.sku.clone()),
                image_id: typed.map_or(v.image_id, |t| t.image_id),
                price: price.map(|p| p.label()).unwrap_or_else(|| "—".to_owned()),
                stock: v
                    .stock
                    .map_or_else(|| "Unlimited".to_owned(), |s| s.to_string()),
                held: *held,
                available: v
                    .stock
                    .map_or_else(|| "Unlimited".to_owned(), |s| (s - held).max(0).to_string()),
                for_sale: price.is_some(),
                retired: price.is_none()
                    && prices
                        .iter()
                        .any(|p| p.variant_id == Some(v.id) && !p.is_recurring()),
            }
        })
        .collect()
}

pub async fn product(
    state: web::Data<AppState>,
    layout: Layout,
    _admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    product_view(
        &state,
        layout,
        path.into_inner(),
        Typed::default(),
        FieldErrors::default(),
        StatusCode::OK,
    )
    .await
}

/// The change the form asks for, or the form's errors.
fn parse_change(form: &StockForm) -> Result<Change, FieldErrors> {
    let mut errors = match form.validate() {
        Ok(()) => FieldErrors::default(),
        Err(e) => FieldErrors::from_validation(&e),
    };
    let quantity = form.quantity.trim().trim_start_matches('+');
    let change = match form.mode.as_str() {
        "set" => parse_int_in(quantity, 0, MAX_UNITS)
            .map(Change::Set)
            .or_else(|| {
                errors.add(
                    "quantity",
                    format!("Enter the units on the shelf, a whole number from 0 to {MAX_UNITS}."),
                );
                None
            }),
        "adjust" => parse_int_in(quantity, -MAX_UNITS, MAX_UNITS)
            .filter(|n| *n != 0)
            .map(Change::Adjust)
            .or_else(|| {
                errors.add(
                    "quantity",
                    "Enter the units to add (like 5) or take away (like -2), not 0.",
                );
                None
            }),
        "unlimited" => Some(Change::Unlimited),
        _ => {
            errors.add("mode", "Choose whether to set, adjust or lift the stock.");
            None
        }
    };
    match change {
        Some(change) if errors.is_empty() => Ok(change),
        _ => Err(errors),
    }
}

pub async fn stock(
    state: web::Data<AppState>,
    layout: Layout,
    session: TypedSession,
    Admin(admin): Admin,
    path: web::Path<String>,
    form: CsrfForm<StockForm>,
) -> Result<HttpResponse, AppError> {
    let slug = path.into_inner();
    let form = form.0;
    let change = match parse_change(&form) {
        Ok(change) => change,
        Err(errors) => {
            return product_view(
                &state,
                layout,
                slug,
                Typed {
                    stock: form,
                    ..Typed::default()
                },
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let (id, name) = product_row(&state, slug.clone()).await?;
    let (now, actor, reason) = (state.clock.unix(), admin.id, form.reason.trim().to_owned());
    let public_url = state.public_url.clone();
    let wanted: Option<i64> = form.variant.trim().parse().ok();
    let outcome = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let variants = crate::catalog::variants::of_product(conn, id)?;
            let Some(variant) = crate::catalog::variants::chosen(&variants, wanted) else {
                return Ok(Err(stock::Refusal::NoSuchVariant));
            };
            let changed = stock::change(conn, variant.id, change, &reason, Some(actor), now)?;
            // Shoppers waiting for it hear now, in the same transaction as the restock.
            let mailed = match changed {
                Ok(_) => back_in_stock::notify(conn, &public_url, Some(id), now)?,
                Err(_) => 0,
            };
            Ok::<_, diesel::result::Error>(changed.map(|c| (c, mailed)))
        })
        .map_err(DbError::from)
    })
    .await?;
    match outcome {
        Ok((changed, mailed)) => {
            state.catalogue.invalidate();
            let show = |s: Option<i64>| s.map_or_else(|| "unlimited".to_owned(), |n| n.to_string());
            let mut message = format!(
                "Stock of {name}: {} → {}.",
                show(changed.before),
                show(changed.after)
            );
            if mailed > 0 {
                message.push_str(&format!(
                    " {mailed} waiting shopper(s) will get a back-in-stock e-mail."
                ));
            }
            session.flash(message)?;
            Ok(see_other(&format!("/admin/products/{slug}")))
        }
        Err(refusal) => {
            let mut errors = FieldErrors::default();
            let field = match refusal {
                stock::Refusal::NoSuchVariant => "variant",
                _ => "quantity",
            };
            errors.add(field, refusal.to_string());
            product_view(
                &state,
                layout,
                slug,
                Typed {
                    stock: form,
                    ..Typed::default()
                },
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

#[derive(Template)]
#[template(path = "admin/product_new.html")]
struct NewProductPage {
    layout: Layout,
    form: CreateForm,
    currency: String,
    errors: FieldErrors,
    categories: Vec<String>,
}

/// What the new-product form sent, as typed.
#[derive(Debug, Deserialize, Validate)]
pub struct CreateForm {
    #[serde(default)]
    #[validate(custom(function = "product_name"))]
    name: String,
    #[serde(default)]
    slug: String,
    #[serde(default)]
    #[validate(length(max = 5000, message = "Keep the description under 5,000 characters."))]
    description: String,
    /// `physical` or `keys`.
    #[serde(default)]
    kind: String,
    #[serde(default)]
    price: String,
    /// "on": the price is meant to be 0.
    #[serde(default)]
    free: String,
    /// Blank: no limit.
    #[serde(default)]
    stock: String,
    #[serde(default)]
    #[validate(custom(function = "tax_code_or_empty"))]
    tax_code: String,
    #[serde(default)]
    on_sale: String,
    #[serde(default)]
    #[validate(custom(function = "crate::catalog::categories::validate_name"))]
    category: String,
}

impl Default for CreateForm {
    fn default() -> Self {
        Self {
            name: String::new(),
            slug: String::new(),
            description: String::new(),
            kind: "physical".into(),
            price: String::new(),
            free: String::new(),
            stock: String::new(),
            tax_code: String::new(),
            on_sale: String::new(),
            category: String::new(),
        }
    }
}

async fn new_product_page(
    state: &AppState,
    layout: Layout,
    form: CreateForm,
    errors: FieldErrors,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let categories = db::run(&state.pool, |conn| {
        crate::catalog::categories::all(conn).map_err(DbError::from)
    })
    .await?;
    render(
        NewProductPage {
            layout,
            form,
            currency: state.config.currency.code().to_uppercase(),
            errors,
            categories: categories.into_iter().map(|c| c.name).collect(),
        }
        .render(),
        status,
    )
}

pub async fn new_product(
    state: web::Data<AppState>,
    layout: Layout,
    _admin: Admin,
) -> Result<HttpResponse, AppError> {
    new_product_page(
        &state,
        layout,
        CreateForm::default(),
        FieldErrors::default(),
        StatusCode::OK,
    )
    .await
}

/// The product the form describes, or its errors.
fn parse_new(form: &CreateForm, currency: Currency) -> Result<NewProduct, FieldErrors> {
    let mut errors = match form.validate() {
        Ok(()) => FieldErrors::default(),
        Err(e) => FieldErrors::from_validation(&e),
    };
    let slug = form.slug.trim().to_owned();
    if let Err(e) = check_slug(&slug) {
        errors.add("slug", e);
    }
    let kind = match form.kind.as_str() {
        "physical" => Some(create::Kind::Physical),
        "keys" => Some(create::Kind::LicenceKeys),
        _ => {
            errors.add("kind", "Choose physical or licence keys.");
            None
        }
    };
    let unit_amount = match priced(&form.price, form.free == "on", currency) {
        Ok(amount) => Some(amount),
        Err(message) => {
            errors.add("price", message);
            None
        }
    };
    let stock = match form.stock.trim() {
        "" => Some(None),
        typed => parse_int_in(typed, 0, MAX_UNITS).map(Some).or_else(|| {
            errors.add(
                "stock",
                "Stock is a whole number from 0 to 1,000,000, or blank for no limit.",
            );
            None
        }),
    };
    match (kind, unit_amount, stock) {
        (Some(kind), Some(unit_amount), Some(stock)) if errors.is_empty() => Ok(NewProduct {
            slug,
            name: form.name.trim().to_owned(),
            description: form.description.replace("\r\n", "\n").trim().to_owned(),
            kind,
            currency: currency.code().to_owned(),
            unit_amount,
            stock,
            tax_code: Some(form.tax_code.trim().to_owned()).filter(|c| !c.is_empty()),
            on_sale: form.on_sale == "on",
            category: form.category.trim().to_owned(),
        }),
        _ => Err(errors),
    }
}

pub async fn create_product(
    state: web::Data<AppState>,
    layout: Layout,
    session: TypedSession,
    Admin(admin): Admin,
    form: CsrfForm<CreateForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.0;
    let new = match parse_new(&form, state.config.currency) {
        Ok(new) => new,
        Err(errors) => {
            return new_product_page(
                &state,
                layout,
                form,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let (now, actor, made) = (state.clock.unix(), admin.id, new.clone());
    let created = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| create::create(conn, &made, Some(actor), now)).map_err(DbError::from)
    })
    .await?;
    match created {
        Ok(_) => {
            state.catalogue.invalidate();
            session.flash(format!(
                "Created {}.{}",
                new.name,
                match (new.on_sale, new.kind) {
                    (_, create::Kind::LicenceKeys) =>
                        " Add its licence keys: until then it shows as sold out.",
                    (true, _) => " It is on sale.",
                    (false, _) =>
                        " It is a draft, not in the shop yet: make it Active when it is ready.",
                }
            ))?;
            Ok(see_other(&format!("/admin/products/{}", new.slug)))
        }
        Err(refusal) => {
            let mut errors = FieldErrors::default();
            errors.add("slug", refusal.to_string());
            new_product_page(
                &state,
                layout,
                form,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

/// Whether an order line or a subscription names the product (then it is archived, never
/// deleted: those records must keep pointing at it).
fn has_orders(conn: &mut db::AnyConnection, id: i64) -> QueryResult<bool> {
    let ordered = diesel::select(diesel::dsl::exists(
        order_items::table.filter(order_items::product_id.eq(id)),
    ))
    .get_result::<bool>(conn)?;
    let subscribed = diesel::select(diesel::dsl::exists(
        subscriptions::table
            .inner_join(prices::table)
            .filter(prices::product_id.eq(id)),
    ))
    .get_result::<bool>(conn)?;
    Ok(ordered || subscribed)
}

/// The form's slug, or what is wrong with it.
fn check_slug(slug: &str) -> Result<(), &'static str> {
    if slug == "new" {
        Err("\"new\" names the new-product page: choose another slug.")
    } else if create::plausible_slug(slug) {
        Ok(())
    } else {
        Err(
            "Use lower-case letters, digits and single dashes (at most 100), like canvas-tote: it is the product's address.",
        )
    }
}

/// What an edit changes, checked.
struct Edit {
    name: String,
    description: String,
    status: Status,
    tax_code: Option<String>,
    slug: String,
    category: String,
}

fn parse_edit(form: &EditForm) -> Result<Edit, FieldErrors> {
    let mut errors = match form.validate() {
        Ok(()) => FieldErrors::default(),
        Err(e) => FieldErrors::from_validation(&e),
    };
    let slug = form.slug.trim().to_owned();
    if let Err(e) = check_slug(&slug) {
        errors.add("slug", e);
    }
    let status = Status::parse(&form.status);
    if status.is_none() {
        errors.add("status", "Choose draft, active or archived.");
    }
    match status {
        Some(status) if errors.is_empty() => Ok(Edit {
            name: form.name.trim().to_owned(),
            // Plain text: line endings as one kind, trailing space gone; pages escape it.
            description: form.description.replace("\r\n", "\n").trim().to_owned(),
            status,
            tax_code: Some(form.tax_code.trim().to_owned()).filter(|c| !c.is_empty()),
            slug,
            category: form.category.trim().to_owned(),
        }),
        _ => Err(errors),
    }
}

/// Applies an edit in the caller's transaction: the product as saved (`None`: nothing changed),
/// or why the slug could not be taken.
fn apply_edit(
    conn: &mut db::AnyConnection,
    id: i64,
    edit: &Edit,
    actor: i64,
    now: i64,
) -> QueryResult<Result<Option<Product>, slugs::SlugRefusal>> {
    let before: Product = products::table
        .find(id)
        .select(Product::as_select())
        .first(conn)?;
    let category_id = crate::catalog::categories::resolve(conn, &edit.category, now)?;
    let mut changed = vec![];
    if before.slug != edit.slug {
        if let Err(refusal) = slugs::rename(conn, id, &edit.slug, now)? {
            return Ok(Err(refusal));
        }
        changed.push(format!(
            "address /products/{} → /products/{} (the old one redirects)",
            before.slug, edit.slug
        ));
    }
    if before.name != edit.name {
        changed.push(format!("name {:?} → {:?}", before.name, edit.name));
    }
    if before.description != edit.description {
        changed.push("description".to_owned());
    }
    if before.status != edit.status.as_str() {
        changed.push(format!(
            "status {} → {}",
            before.status,
            edit.status.as_str()
        ));
    }
    if before.category_id != category_id {
        changed.push(match edit.category.as_str() {
            "" => "category removed".to_owned(),
            name => format!("category {name:?}"),
        });
    }
    if before.tax_code != edit.tax_code {
        changed.push(format!(
            "tax code {} → {}",
            before.tax_code(),
            edit.tax_code
                .as_deref()
                .unwrap_or(crate::catalog::model::GENERAL_TAX_CODE)
        ));
    }
    if changed.is_empty() {
        return Ok(Ok(None));
    }
    diesel::update(products::table.find(id))
        .set((
            products::name.eq(&edit.name),
            products::description.eq(&edit.description),
            products::status.eq(edit.status.as_str()),
            products::category_id.eq(category_id),
            products::tax_code.eq(&edit.tax_code),
            products::updated_at.eq(now),
        ))
        .execute(conn)?;
    audit::record(
        conn,
        audit::Event::product(Some(actor), audit::PRODUCT_EDITED, id, changed.join("; ")),
        now,
    )?;
    products::table
        .find(id)
        .select(Product::as_select())
        .first(conn)
        .map(|p| Ok(Some(p)))
}

pub async fn edit(
    state: web::Data<AppState>,
    layout: Layout,
    session: TypedSession,
    Admin(admin): Admin,
    path: web::Path<String>,
    form: CsrfForm<EditForm>,
) -> Result<HttpResponse, AppError> {
    let slug = path.into_inner();
    let form = form.0;
    let (id, _) = product_row(&state, slug.clone()).await?;
    let refuse = |form: EditForm, errors: FieldErrors| {
        product_view(
            &state,
            layout,
            slug.clone(),
            Typed {
                edit: Some(form),
                ..Typed::default()
            },
            errors,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
    };
    let edit = match parse_edit(&form) {
        Ok(edit) => edit,
        Err(errors) => return refuse(form, errors).await,
    };
    let (now, actor) = (state.clock.unix(), admin.id);
    let saved = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| apply_edit(conn, id, &edit, actor, now)).map_err(DbError::from)
    })
    .await?;
    let product = match saved {
        Ok(Some(product)) => product,
        Ok(None) => {
            session.flash("Nothing to save: the product is as it was.")?;
            return Ok(see_other(&format!("/admin/products/{slug}")));
        }
        Err(refusal) => {
            let mut errors = FieldErrors::default();
            errors.add("slug", refusal.to_string());
            return refuse(form, errors).await;
        }
    };
    state.catalogue.invalidate();
    // Checkout shows the Stripe Product's name; a failure here leaves our change saved and says so.
    let synced = match &product.stripe_product_id {
        Some(stripe_id) => {
            crate::payments::products::update_product(&state.stripe, stripe_id, &product).await
        }
        None => Ok(()),
    };
    match synced {
        Ok(()) => session.flash(format!("Saved {}.", product.name))?,
        Err(e) => {
            tracing::warn!(product = %product.slug, error = %crate::error::Report(&e), "Stripe Product not updated");
            session.flash(format!(
                "Saved {}, but Stripe's copy (the name Checkout shows) was not updated: {e}. Save again to retry, or run `storefront stripe setup`.",
                product.name
            ))?
        }
    }
    Ok(see_other(&format!("/admin/products/{}", product.slug)))
}

/// `POST /admin/products/{slug}/delete`: removes a product no order or subscription names (a
/// draft made by mistake, say) with its prices, stock alerts and keys. One that has orders is
/// archived instead: the form is not offered and the request is refused.
pub async fn delete(
    state: web::Data<AppState>,
    session: TypedSession,
    Admin(admin): Admin,
    path: web::Path<String>,
    _form: CsrfForm<Confirm>,
) -> Result<HttpResponse, AppError> {
    let slug = path.into_inner();
    let (id, name) = product_row(&state, slug.clone()).await?;
    let (now, actor) = (state.clock.unix(), admin.id);
    let deleted = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            if has_orders(conn, id)? {
                return Ok(None);
            }
            crate::catalog::delete::delete(conn, id, Some(actor), now).map(Some)
        })
        .map_err(DbError::from)
    })
    .await?;
    let Some(stripe_product) = deleted else {
        return Err(AppError::Refused(format!(
            "{name} has orders or subscriptions, so it cannot be deleted: set its status to Archived instead."
        )));
    };
    state.catalogue.invalidate();
    // Stripe keeps a Product that has prices; ours is gone, so theirs is retired.
    if let Some(stripe_id) = stripe_product {
        if let Err(e) = crate::payments::products::retire_product(&state.stripe, &stripe_id).await {
            tracing::warn!(product = %slug, error = %crate::error::Report(&e), "Stripe Product not retired");
        }
    }
    session.flash(format!("Deleted {name}."))?;
    Ok(see_other("/admin/products"))
}

/// What a price form sent: the new amount in major units, as typed.
#[derive(Debug, Deserialize)]
pub struct PriceForm {
    #[serde(default)]
    amount: String,
}

/// `POST /admin/products/{slug}/prices/{id}`: a new amount for a current price. Stripe prices
/// are immutable: a new one is made (at the next checkout) and the old one retired at once;
/// subscriptions stay on the old one.
pub async fn change_price(
    state: web::Data<AppState>,
    layout: Layout,
    session: TypedSession,
    Admin(admin): Admin,
    path: web::Path<(String, String)>,
    form: CsrfForm<PriceForm>,
) -> Result<HttpResponse, AppError> {
    let (slug, price_id) = path.into_inner();
    let price_id: i64 = price_id.parse().map_err(|_| AppError::NotFound)?;
    let (id, name) = product_row(&state, slug.clone()).await?;
    let currency = state.config.currency;
    let typed = form.0.amount;
    let amount = match Money::parse_major(&typed, currency) {
        Ok(m) if (0..=99_999_999).contains(&m.amount) => Ok(m.amount),
        Ok(_) => Err("The price must be from 0 to 999,999.99.".to_owned()),
        Err(e) => Err(format!("Price: {e}.")),
    };
    let refuse = |message: String| {
        let mut errors = FieldErrors::default();
        errors.add(&format!("price-{price_id}"), message);
        product_view(
            &state,
            layout,
            slug.clone(),
            Typed {
                price: Some((price_id, typed.clone())),
                ..Typed::default()
            },
            errors,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
    };
    let amount = match amount {
        Ok(amount) => amount,
        Err(message) => return refuse(message).await,
    };
    let (now, actor) = (state.clock.unix(), admin.id);
    let changed = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            crate::catalog::pricing::change_amount(conn, id, price_id, amount, actor, now)
                .optional()
        })
        .map_err(DbError::from)
    })
    .await?
    .ok_or(AppError::NotFound)?;
    let changed = match changed {
        Ok(changed) => changed,
        Err(refusal) => return refuse(refusal.to_string()).await,
    };
    state.catalogue.invalidate();
    let mut message = format!("Price of {name}: {} → {}.", changed.before, changed.after);
    if changed.subscribers > 0 {
        message.push_str(&format!(
            " {} subscription(s) stay on {} until the customer switches.",
            changed.subscribers, changed.before
        ));
    }
    if let Some(old) = &changed.old_stripe_price {
        if let Err(e) = crate::payments::products::retire_price(&state.stripe, old).await {
            tracing::warn!(product = %slug, error = %crate::error::Report(&e), "old Stripe Price not retired");
            message.push_str(&format!(
                " Stripe's old price could not be retired yet ({e}): `storefront stripe setup` retries."
            ));
        }
    }
    session.flash(message)?;
    Ok(see_other(&format!("/admin/products/{slug}")))
}

/// A form with nothing but its CSRF token.
#[derive(Debug, Deserialize)]
pub struct Confirm {}
