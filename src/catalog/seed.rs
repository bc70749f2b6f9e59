//! Loading a catalogue from TOML, idempotently: running the same file twice changes nothing,
//! and a changed amount replaces the price with a new one under the same key (Stripe prices are
//! immutable; see [`super::pricing`]).

use std::collections::HashSet;
use std::fmt;

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use validator::{Validate, ValidationError};

use super::model::{Price, Product, Status};
use crate::db::{AnyConnection, write_tx};
use crate::money::Currency;
use crate::schema::{prices, products};

/// The demo catalogue shipped in the binary.
pub const DEMO_CATALOG: &str = include_str!("demo_catalog.toml");

/// The files the demo catalogue's digital products deliver, by the path the catalogue names.
pub const DEMO_FILES: &[(&str, &[u8])] = &[(
    "demo_files/harbour-map.svg",
    include_bytes!("demo_files/harbour-map.svg"),
)];

#[derive(Debug, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct CatalogFile {
    /// If given, must be the shop's `CURRENCY`; amounts are always in the shop's currency.
    pub currency: Option<String>,
    #[validate(nested)]
    pub products: Vec<ProductEntry>,
    /// What Checkout offers for carts with a physical product; the first is preselected.
    #[serde(default)]
    #[validate(
        length(max = 5, message = "Checkout offers at most 5 shipping rates"),
        nested
    )]
    pub shipping_rates: Vec<ShippingRateEntry>,
}

#[derive(Debug, Deserialize, Serialize, Validate)]
#[serde(deny_unknown_fields)]
#[validate(schema(function = "validate_estimate"))]
pub struct ShippingRateEntry {
    #[validate(custom(function = "validate_key"))]
    pub key: String,
    #[validate(length(min = 1, max = 100))]
    pub name: String,
    /// Minor units of the shop's currency.
    #[validate(range(min = 0, max = 99_999_999))]
    pub amount: i64,
    /// Delivery estimate in business days.
    #[validate(range(min = 1, max = 365))]
    pub min_days: Option<i64>,
    #[validate(range(min = 1, max = 365))]
    pub max_days: Option<i64>,
    /// Free when the cart's subtotal before discounts is at least this (minor units).
    #[validate(range(min = 1, max = 99_999_999))]
    pub free_over: Option<i64>,
}

fn validate_estimate(rate: &ShippingRateEntry) -> Result<(), ValidationError> {
    match (rate.min_days, rate.max_days) {
        (Some(min), Some(max)) if min > max => {
            Err(ValidationError::new("days").with_message("min_days is more than max_days".into()))
        }
        _ => Ok(()),
    }
}

/// How a digital product is delivered.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Delivery {
    File,
    Keys,
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::File => "file",
            Delivery::Keys => "keys",
        }
    }
}

/// What a product is: shipped, or delivered online.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    #[default]
    Physical,
    Digital,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Physical => "physical",
            Kind::Digital => "digital",
        }
    }
}

#[derive(Debug, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct ProductEntry {
    #[validate(custom(function = "validate_key"))]
    pub slug: String,
    #[validate(length(min = 1, max = 200))]
    pub name: String,
    #[serde(default)]
    #[validate(length(max = 5000))]
    pub description: String,
    /// A picture shown until one is uploaded: an `https://` (or `http://`) URL, or a path on
    /// this shop such as `/static/products/canvas-tote.svg`.
    #[validate(custom(function = "validate_image_url"))]
    pub image_url: Option<String>,
    /// Kept for older files: `active = false` makes a draft. `status` says it better.
    #[serde(default = "yes")]
    pub active: bool,
    /// `draft`, `active` (the default) or `archived`.
    pub status: Option<Status>,
    /// The category's name; made if new.
    #[validate(custom(function = "super::categories::validate_name"))]
    pub category: Option<String>,
    #[validate(range(min = 0, max = 1_000_000_000))]
    pub stock: Option<i64>,
    /// Stripe Tax's product tax code (`txcd_` and 8 digits); omitted: general tangible goods.
    #[validate(custom(function = "validate_tax_code"))]
    pub tax_code: Option<String>,
    /// `physical` (the default: shipped) or `digital`.
    #[serde(default)]
    pub kind: Kind,
    /// For a digital product: `file` (a download) or `keys` (a licence key per unit).
    pub delivery: Option<Delivery>,
    /// With `delivery = "file"`: the file, relative to the catalogue file.
    #[validate(length(min = 1, max = 500))]
    pub file: Option<String>,
    /// Its bytes, read by [`CatalogFile::load_files`].
    #[serde(skip)]
    pub file_bytes: Option<Vec<u8>>,
    /// With `delivery = "keys"`: keys to add to the pool (already there: skipped).
    #[serde(default)]
    pub licence_keys: Vec<String>,
    /// Downloads allowed per order line (`file` products).
    #[validate(range(min = 1, max = 1000))]
    pub max_downloads: Option<i64>,
    /// Its prices; with `variants`, only its plans (each variant has its own one-time price).
    #[serde(default)]
    #[validate(nested)]
    pub prices: Vec<PriceEntry>,
    /// The names of its option axes ("Size", "Colour"), with `variants`.
    #[serde(default)]
    pub options: Vec<String>,
    /// Its variants, each with its option values, SKU, stock and price. Left out: one variant
    /// holding `stock` and the one-time price of `prices`.
    #[serde(default)]
    #[validate(nested)]
    pub variants: Vec<VariantEntry>,
}

#[derive(Debug, Deserialize, Serialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct VariantEntry {
    /// One value per option of the product, in its order.
    pub options: Vec<String>,
    pub sku: Option<String>,
    #[validate(range(min = 0, max = 1_000_000_000))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stock: Option<i64>,
    /// Its one-time price.
    #[validate(nested)]
    pub price: PriceEntry,
}

impl ProductEntry {
    pub fn status(&self) -> Status {
        match (self.status, self.active) {
            (Some(status), _) => status,
            (None, true) => Status::Active,
            (None, false) => Status::Draft,
        }
    }
}

#[derive(Debug, Deserialize, Serialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct PriceEntry {
    #[validate(custom(function = "validate_key"))]
    pub key: String,
    /// Minor units of the shop's currency.
    #[validate(range(min = 0, max = 99_999_999))]
    pub unit_amount: i64,
    pub interval: Option<Interval>,
    #[serde(default = "yes")]
    pub active: bool,
    /// A physical plan's shipping charge per period, in minor units (billed as its own line on
    /// every invoice); left out, the price includes delivery.
    #[validate(range(min = 1, max = 99_999_999))]
    pub shipping: Option<i64>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    Day,
    Week,
    Month,
    Year,
}

impl Interval {
    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Day => "day",
            Interval::Week => "week",
            Interval::Month => "month",
            Interval::Year => "year",
        }
    }
}

/// Downloads per order line unless the catalogue says otherwise.
pub const DEFAULT_MAX_DOWNLOADS: i64 = 5;

fn yes() -> bool {
    true
}

fn validate_image_url(value: &str) -> Result<(), ValidationError> {
    let path =
        value.starts_with('/') && !value.starts_with("//") && !value.contains([' ', '"', '\\']);
    let absolute = url::Url::parse(value).is_ok_and(|u| matches!(u.scheme(), "https" | "http"));
    if (path || absolute) && value.len() <= 500 {
        Ok(())
    } else {
        Err(ValidationError::new("image_url").with_message(
            "an image URL is https://… or a path on this shop like /static/products/mug.svg".into(),
        ))
    }
}

pub fn validate_tax_code(value: &str) -> Result<(), ValidationError> {
    let digits = value.strip_prefix("txcd_").unwrap_or_default();
    if digits.len() == 8 && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(ValidationError::new("tax_code").with_message(
            "a Stripe tax code is txcd_ and 8 digits, e.g. txcd_99999999 (general tangible goods)"
                .into(),
        ))
    }
}

fn validate_key(value: &str) -> Result<(), ValidationError> {
    let ok = !value.is_empty()
        && value.len() <= 100
        && value.split('-').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new("key").with_message(
            "use lower-case letters, digits and single dashes, like coffee-club".into(),
        ))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("the catalogue file is not valid TOML")]
    Parse(#[from] toml::de::Error),
    #[error("the catalogue file is invalid: {0}")]
    Invalid(String),
    #[error("database: {0}")]
    Db(#[from] crate::db::DbError),
}

impl From<diesel::result::Error> for SeedError {
    fn from(e: diesel::result::Error) -> Self {
        SeedError::Db(e.into())
    }
}

impl CatalogFile {
    pub fn parse(text: &str, shop_currency: Currency) -> Result<Self, SeedError> {
        let file: CatalogFile = toml::from_str(text)?;
        file.validate()
            .map_err(|e| SeedError::Invalid(e.to_string().replace('\n', "; ")))?;
        if let Some(c) = &file.currency {
            let c = Currency::parse(c).map_err(SeedError::Invalid)?;
            if c != shop_currency {
                return Err(SeedError::Invalid(format!(
                    "it is priced in {c}, but the shop sells in {shop_currency} (CURRENCY)"
                )));
            }
        }
        let mut rate_keys = HashSet::new();
        for r in &file.shipping_rates {
            if !rate_keys.insert(&r.key) {
                return Err(SeedError::Invalid(format!(
                    "shipping rate key {:?} appears twice",
                    r.key
                )));
            }
        }
        let mut slugs = HashSet::new();
        let mut keys = HashSet::new();
        let mut skus = HashSet::new();
        for p in &file.products {
            let problem = match (p.kind, p.delivery) {
                (Kind::Physical, Some(_)) => Some("only a digital product has a delivery"),
                (_, Some(Delivery::File)) if p.file.is_none() => {
                    Some("delivery = \"file\" needs the file")
                }
                (_, d) if d != Some(Delivery::File) && p.file.is_some() => {
                    Some("a file is delivered only with delivery = \"file\"")
                }
                (_, d) if d != Some(Delivery::Keys) && !p.licence_keys.is_empty() => {
                    Some("licence keys are delivered only with delivery = \"keys\"")
                }
                (_, Some(Delivery::Keys)) if p.stock.is_some() => {
                    Some("a key product's stock is its keys: leave stock out")
                }
                _ => None,
            };
            if let Some(problem) = problem {
                return Err(SeedError::Invalid(format!(
                    "product {:?}: {problem}",
                    p.slug
                )));
            }
            if let Some(f) = &p.file {
                let name = f.rsplit(['/', '\\']).next().unwrap_or(f);
                if name.is_empty() || name.chars().any(|c| c.is_control() || c == '"') {
                    return Err(SeedError::Invalid(format!(
                        "product {:?}: the file's name {name:?} cannot be sent to a browser",
                        p.slug
                    )));
                }
            }
            if let Some(k) = p
                .licence_keys
                .iter()
                .find(|k| !crate::digital::keys::plausible(k))
            {
                return Err(SeedError::Invalid(format!(
                    "product {:?}: {k:?} is not a licence key (4 to 200 printable characters, no spaces)",
                    p.slug
                )));
            }
            if let Some(problem) = variants_problem(p) {
                return Err(SeedError::Invalid(format!(
                    "product {:?}: {problem}",
                    p.slug
                )));
            }
            if let Some(sku) = p
                .variants
                .iter()
                .filter_map(|v| v.sku.as_deref())
                .find(|sku| !skus.insert(sku.to_uppercase()))
            {
                return Err(SeedError::Invalid(format!("SKU {sku:?} appears twice")));
            }
            if !slugs.insert(&p.slug) {
                return Err(SeedError::Invalid(format!(
                    "slug {:?} appears twice",
                    p.slug
                )));
            }
            for price in p.prices.iter().chain(p.variants.iter().map(|v| &v.price)) {
                if price.shipping.is_some()
                    && (p.kind != Kind::Physical || price.interval.is_none())
                {
                    return Err(SeedError::Invalid(format!(
                        "price {:?}: shipping per period is for recurring prices of physical products (one-time orders choose a shipping rate at Checkout)",
                        price.key
                    )));
                }
                if !keys.insert(&price.key) {
                    return Err(SeedError::Invalid(format!(
                        "price key {:?} appears twice",
                        price.key
                    )));
                }
            }
        }
        Ok(file)
    }
}

/// What is wrong with a product's options and variants, if anything.
fn variants_problem(p: &ProductEntry) -> Option<String> {
    if p.prices.is_empty() && p.variants.is_empty() {
        return Some("a product needs at least one price".into());
    }
    if p.variants.is_empty() {
        return (!p.options.is_empty())
            .then(|| "options name the choices of its variants: list the variants".into());
    }
    if !(1..=super::variants::MAX_AXES).contains(&p.options.len()) {
        return Some(
            "a product with variants names one or two options, like options = [\"Size\"]".into(),
        );
    }
    if p.options
        .iter()
        .any(|o| o.trim().is_empty() || o.chars().count() > 40)
        || (p.options.len() == 2 && p.options[0] == p.options[1])
    {
        return Some("option names are 1 to 40 characters, and different".into());
    }
    if p.variants.len() > super::variants::MAX_VARIANTS {
        return Some(format!(
            "a product has at most {} variants",
            super::variants::MAX_VARIANTS
        ));
    }
    if p.delivery == Some(Delivery::Keys) {
        return Some("a licence key product's keys are listed per product: it cannot have variants in the file".into());
    }
    if p.stock.is_some() {
        return Some("with variants, each variant has its stock: leave the product's out".into());
    }
    if p.prices.iter().any(|x| x.interval.is_none()) {
        return Some(
            "with variants, each variant has its one-time price: prices holds only plans".into(),
        );
    }
    let mut seen = HashSet::new();
    let mut skus = HashSet::new();
    for v in &p.variants {
        if v.options.len() != p.options.len()
            || v.options
                .iter()
                .any(|o| o.trim().is_empty() || o.chars().count() > 40)
        {
            return Some(format!(
                "each variant gives one value (1 to 40 characters) per option ({}); {:?} does not",
                p.options.join(", "),
                v.options
            ));
        }
        if !seen.insert(&v.options) {
            return Some(format!("two variants are {:?}", v.options));
        }
        if v.price.interval.is_some() {
            return Some("a variant's price is one-time: plans go in prices".into());
        }
        if let Some(sku) = &v.sku {
            if !super::variants::plausible_sku(sku) {
                return Some(format!(
                    "SKU {sku:?}: up to 64 letters, digits, dashes, underscores, dots or slashes"
                ));
            }
            if !skus.insert(sku.to_uppercase()) {
                return Some(format!("SKU {sku:?} appears twice"));
            }
        }
    }
    None
}

impl CatalogFile {
    /// Reads the files of `file` products through `read` (a path as the catalogue names it →
    /// its bytes), checking their size.
    pub fn load_files(
        &mut self,
        mut read: impl FnMut(&str) -> Result<Vec<u8>, String>,
    ) -> Result<(), SeedError> {
        for p in &mut self.products {
            let Some(path) = &p.file else { continue };
            let bytes = read(path).map_err(|e| {
                SeedError::Invalid(format!("product {:?}: file {path:?}: {e}", p.slug))
            })?;
            if bytes.len() > crate::digital::files::MAX_FILE_BYTES {
                return Err(SeedError::Invalid(format!(
                    "product {:?}: file {path:?} is over {} MB",
                    p.slug,
                    crate::digital::files::MAX_FILE_BYTES / (1024 * 1024)
                )));
            }
            p.file_bytes = Some(bytes);
        }
        Ok(())
    }

    /// The demo catalogue with its embedded files.
    pub fn demo(currency: Currency) -> Result<Self, SeedError> {
        let mut file = Self::parse(DEMO_CATALOG, currency)?;
        file.load_files(|path| {
            DEMO_FILES
                .iter()
                .find(|(p, _)| *p == path)
                .map(|(_, b)| b.to_vec())
                .ok_or_else(|| "not among the demo files".to_owned())
        })?;
        Ok(file)
    }
}

/// What a seed run changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SeedReport {
    pub products_created: usize,
    pub products_updated: usize,
    pub prices_created: usize,
    pub prices_updated: usize,
    pub unchanged: usize,
    /// Shipping rates created, changed or retired.
    pub rates_changed: usize,
}

impl SeedReport {
    pub fn changed(&self) -> bool {
        self.products_created
            + self.products_updated
            + self.prices_created
            + self.prices_updated
            + self.rates_changed
            > 0
    }
}

impl fmt::Display for SeedReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "products: {} created, {} updated; prices: {} created, {} updated; {} unchanged; shipping rates: {} changed",
            self.products_created,
            self.products_updated,
            self.prices_created,
            self.prices_updated,
            self.unchanged,
            self.rates_changed
        )
    }
}

#[derive(Insertable, AsChangeset)]
#[diesel(table_name = products)]
struct ProductFields<'a> {
    slug: &'a str,
    name: &'a str,
    description: &'a str,
    image_url: Option<&'a str>,
    status: &'a str,
    category_id: Option<i64>,
    position: i64,
    tax_code: Option<&'a str>,
    kind: &'a str,
    delivery: Option<&'a str>,
    max_downloads: i64,
    updated_at: i64,
}

/// Creates or updates every product and price of the file, in one transaction.
pub fn seed(
    conn: &mut AnyConnection,
    file: &CatalogFile,
    currency: Currency,
    now: i64,
) -> Result<SeedReport, SeedError> {
    write_tx(conn, |conn| {
        let mut report = SeedReport::default();
        for (position, entry) in file.products.iter().enumerate() {
            let category_id =
                super::categories::resolve(conn, entry.category.as_deref().unwrap_or(""), now)?;
            // A product renamed in the admin pages is still the file's entry under its old slug.
            let slug = super::slugs::redirect(conn, &entry.slug)?.unwrap_or(entry.slug.clone());
            let fields = ProductFields {
                slug: &slug,
                name: &entry.name,
                description: &entry.description,
                image_url: entry.image_url.as_deref(),
                status: entry.status().as_str(),
                category_id,
                position: position as i64,
                tax_code: entry.tax_code.as_deref(),
                kind: entry.kind.as_str(),
                delivery: entry.delivery.map(Delivery::as_str),
                max_downloads: entry.max_downloads.unwrap_or(DEFAULT_MAX_DOWNLOADS),
                updated_at: now,
            };
            let existing: Option<Product> = products::table
                .filter(products::slug.eq(&slug))
                .select(Product::as_select())
                .first(conn)
                .optional()?;
            let created = existing.is_none();
            let product_id = match existing {
                None => {
                    diesel::insert_into(products::table)
                        .values((&fields, products::created_at.eq(now)))
                        .execute(conn)?;
                    report.products_created += 1;
                    let id = products::table
                        .filter(products::slug.eq(&slug))
                        .select(products::id)
                        .first(conn)?;
                    // Its one variant holds the stock; a key product starts sold out: its stock
                    // is its keys.
                    let stock = match entry.delivery {
                        Some(Delivery::Keys) => Some(0),
                        _ => entry.stock,
                    };
                    let new = super::variants::NewVariant {
                        stock,
                        ..Default::default()
                    };
                    super::variants::insert(conn, id, &new, now)?;
                    id
                }
                Some(p) => {
                    let same = p.name == entry.name
                        && p.description == entry.description
                        && p.image_url == entry.image_url
                        && p.status == entry.status().as_str()
                        && p.category_id == category_id
                        && p.position == position as i64
                        && p.tax_code == entry.tax_code
                        && p.kind == entry.kind.as_str()
                        && p.delivery.as_deref() == entry.delivery.map(Delivery::as_str)
                        && p.max_downloads == entry.max_downloads.unwrap_or(DEFAULT_MAX_DOWNLOADS);
                    if same {
                        report.unchanged += 1;
                    } else {
                        diesel::update(products::table.find(p.id))
                            .set(&fields)
                            .execute(conn)?;
                        report.products_updated += 1;
                    }
                    p.id
                }
            };
            seed_variants(
                conn,
                product_id,
                entry,
                created,
                (currency, now),
                &mut report,
            )?;
            for price in &entry.prices {
                seed_price(conn, (product_id, None), price, currency, now, &mut report)?;
            }
            if let (Some(path), Some(bytes)) = (&entry.file, &entry.file_bytes) {
                let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
                if crate::digital::files::store(conn, product_id, name, bytes, now)? {
                    report.products_updated += 1;
                }
            }
            // Always for a key product: its stock becomes its unsold keys, also when an
            // existing product turns into one.
            if entry.delivery == Some(Delivery::Keys) {
                let variant = super::variants::default_of(conn, product_id)?.id;
                let (added, _) =
                    crate::digital::keys::add(conn, variant, &entry.licence_keys, now)?;
                if added.added > 0 {
                    report.products_updated += 1;
                }
            }
        }
        report.rates_changed = seed_rates(conn, &file.shipping_rates, now)?;
        Ok(report)
    })
}

/// A stored rate's name, amount, estimate (min, max days), free-over, active and position.
type RateRow = (
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    bool,
    i64,
);

/// Makes the shop's shipping rates the file's: new ones created, changed ones updated, and
/// ones no longer in the file retired (orders keep what they offered in their own rows).
fn seed_rates(
    conn: &mut AnyConnection,
    entries: &[ShippingRateEntry],
    now: i64,
) -> Result<usize, SeedError> {
    use crate::schema::shipping_rates as r;
    let mut changed = 0;
    for (position, e) in entries.iter().enumerate() {
        let wanted = (
            e.name.clone(),
            e.amount,
            e.min_days,
            e.max_days,
            e.free_over,
            true,
            position as i64,
        );
        let existing: Option<RateRow> = r::table
            .filter(r::key.eq(&e.key))
            .select((
                r::name,
                r::amount,
                r::min_days,
                r::max_days,
                r::free_over,
                r::active,
                r::position,
            ))
            .first(conn)
            .optional()?;
        let values = (
            r::name.eq(&e.name),
            r::amount.eq(e.amount),
            r::min_days.eq(e.min_days),
            r::max_days.eq(e.max_days),
            r::free_over.eq(e.free_over),
            r::active.eq(true),
            r::position.eq(position as i64),
            r::updated_at.eq(now),
        );
        match existing {
            Some(found) if found == wanted => {}
            Some(_) => {
                diesel::update(r::table.filter(r::key.eq(&e.key)))
                    .set(values)
                    .execute(conn)?;
                changed += 1;
            }
            None => {
                diesel::insert_into(r::table)
                    .values((values, r::key.eq(&e.key), r::created_at.eq(now)))
                    .execute(conn)?;
                changed += 1;
            }
        }
    }
    let keys: Vec<&str> = entries.iter().map(|e| e.key.as_str()).collect();
    changed += diesel::update(
        r::table
            .filter(r::active.eq(true))
            .filter(r::key.ne_all(keys)),
    )
    .set((r::active.eq(false), r::updated_at.eq(now)))
    .execute(conn)?;
    Ok(changed)
}

/// The file's variants of a product: its option names, each variant found by its values (or the
/// product's default variant taking the first one's values), its SKU and position, and its
/// price. Stock is set only when a variant is made, as for products. Variants the file does not
/// list are left as they are.
fn seed_variants(
    conn: &mut AnyConnection,
    product_id: i64,
    entry: &ProductEntry,
    created: bool,
    (currency, now): (Currency, i64),
    report: &mut SeedReport,
) -> Result<(), SeedError> {
    use crate::schema::product_variants as pv;
    if entry.variants.is_empty() {
        return Ok(());
    }
    let names = (
        entry.options.first().cloned(),
        entry.options.get(1).cloned(),
    );
    let current: (Option<String>, Option<String>) = products::table
        .find(product_id)
        .select((products::option1_name, products::option2_name))
        .first(conn)?;
    if current != names {
        diesel::update(products::table.find(product_id))
            .set((
                products::option1_name.eq(&names.0),
                products::option2_name.eq(&names.1),
            ))
            .execute(conn)?;
        report.products_updated += usize::from(!created);
    }
    let mut existing = super::variants::of_product(conn, product_id)?;
    for (position, v) in entry.variants.iter().enumerate() {
        let option1 = v.options.first().cloned().unwrap_or_default();
        let option2 = v.options.get(1).cloned().unwrap_or_default();
        let sku = v.sku.clone();
        let found = existing
            .iter()
            .find(|x| x.option1 == option1 && x.option2 == option2)
            .cloned();
        // A product made without options (by this run, or earlier) turns its one variant into
        // the file's first: its stock, prices and sales carry over.
        let renamed = match found {
            Some(_) => None,
            None if position == 0 && existing.len() == 1 && existing[0].is_default() => {
                Some(existing[0].clone())
            }
            None => None,
        };
        let target = found.or(renamed);
        if let Some(sku) = &sku {
            let owner = super::variants::sku_owner(conn, sku)?;
            if owner.is_some_and(|(id, _)| target.as_ref().is_none_or(|t| t.id != id)) {
                return Err(SeedError::Invalid(format!(
                    "product {:?}: SKU {sku:?} belongs to another variant in the shop",
                    entry.slug
                )));
            }
        }
        let id = match target {
            Some(x) => {
                let same = x.option1 == option1
                    && x.option2 == option2
                    && x.sku == sku
                    && x.position == position as i64;
                if !same {
                    let mut stock = x.stock;
                    if created {
                        stock = v.stock;
                    }
                    diesel::update(pv::table.find(x.id))
                        .set((
                            pv::option1.eq(&option1),
                            pv::option2.eq(&option2),
                            pv::sku.eq(&sku),
                            pv::position.eq(position as i64),
                            pv::stock.eq(stock),
                            pv::updated_at.eq(now),
                        ))
                        .execute(conn)?;
                    report.products_updated += usize::from(!created);
                }
                x.id
            }
            None => {
                let new = super::variants::NewVariant {
                    sku: sku.as_deref(),
                    option1: &option1,
                    option2: &option2,
                    stock: v.stock,
                };
                let id = super::variants::insert(conn, product_id, &new, now)?;
                diesel::update(pv::table.find(id))
                    .set(pv::position.eq(position as i64))
                    .execute(conn)?;
                report.products_updated += usize::from(!created);
                id
            }
        };
        existing = super::variants::of_product(conn, product_id)?;
        seed_price(
            conn,
            (product_id, Some(id)),
            &v.price,
            currency,
            now,
            report,
        )?;
    }
    Ok(())
}

fn seed_price(
    conn: &mut AnyConnection,
    (product_id, variant): (i64, Option<i64>),
    entry: &PriceEntry,
    currency: Currency,
    now: i64,
    report: &mut SeedReport,
) -> Result<(), SeedError> {
    let interval = entry.interval.map(Interval::as_str);
    let existing: Option<Price> = prices::table
        .filter(prices::lookup_key.eq(&entry.key))
        .select(Price::as_select())
        .first(conn)
        .optional()?;
    match existing {
        None => {
            let variant = match (interval, variant) {
                (None, Some(v)) => Some(v),
                (None, None) => {
                    // Which variant a new one-time price sells is for the file to say.
                    let own = super::variants::of_product(conn, product_id)?;
                    if own.len() > 1 {
                        return Err(SeedError::Invalid(format!(
                            "price {:?}: its product has variants in the shop; give the product its variants (an export writes them) and each its price",
                            entry.key
                        )));
                    }
                    own.first().map(|v| v.id)
                }
                (Some(_), _) => None,
            };
            diesel::insert_into(prices::table)
                .values((
                    prices::product_id.eq(product_id),
                    prices::variant_id.eq(variant),
                    prices::lookup_key.eq(&entry.key),
                    prices::currency.eq(currency.code()),
                    prices::unit_amount.eq(entry.unit_amount),
                    prices::recurring_interval.eq(interval),
                    prices::active.eq(entry.active),
                    prices::shipping_amount.eq(entry.shipping),
                    prices::created_at.eq(now),
                    prices::updated_at.eq(now),
                ))
                .execute(conn)?;
            report.prices_created += 1;
        }
        Some(p) => {
            let terms_same = p.currency == currency.code()
                && p.unit_amount == entry.unit_amount
                && p.recurring_interval.as_deref() == interval
                && p.product_id == product_id;
            // A new shipping charge needs no new plan Price: its own Stripe Price follows the
            // row's terms (`stripe_ids::shipping_price`).
            // A price the file gives another variant of the product moves with it (Stripe's
            // Price is the product's either way).
            let variant = variant.or(p.variant_id).filter(|_| interval.is_none());
            if terms_same
                && p.active == entry.active
                && p.shipping_amount == entry.shipping
                && p.variant_id == variant
            {
                report.unchanged += 1;
                return Ok(());
            }
            if terms_same {
                diesel::update(prices::table.find(p.id))
                    .set((
                        prices::active.eq(entry.active),
                        prices::shipping_amount.eq(entry.shipping),
                        prices::variant_id.eq(variant),
                        prices::updated_at.eq(now),
                    ))
                    .execute(conn)?;
            } else {
                // New terms are a new price (Stripe's are immutable); orders and subscriptions
                // keep the old row.
                let terms = super::pricing::Terms {
                    product_id,
                    currency: currency.code().to_owned(),
                    unit_amount: entry.unit_amount,
                    recurring_interval: interval.map(str::to_owned),
                    shipping_amount: entry.shipping,
                    active: entry.active,
                };
                if let (Some(new), Some(v)) =
                    (super::pricing::replace(conn, &p, &terms, now)?, variant)
                {
                    diesel::update(prices::table.find(new))
                        .set(prices::variant_id.eq(v))
                        .execute(conn)?;
                }
            }
            report.prices_updated += 1;
        }
    }
    Ok(())
}

/// Whether any product exists yet (demo mode seeds an empty shop).
pub fn catalog_is_empty(conn: &mut AnyConnection) -> QueryResult<bool> {
    let n: i64 = products::table.count().get_result(conn)?;
    Ok(n == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd() -> Currency {
        Currency::parse("usd").unwrap()
    }

    #[test]
    fn the_demo_catalogue_parses_and_has_what_the_demo_needs() {
        let file = CatalogFile::parse(DEMO_CATALOG, usd()).unwrap();
        assert!(file.products.len() >= 8);
        assert!(file.products.iter().any(|p| p.stock == Some(1)));
        assert!(file.products.iter().any(|p| p.stock == Some(0)));
        let sub = file
            .products
            .iter()
            .find(|p| p.prices.iter().any(|x| x.interval.is_some()))
            .unwrap();
        let intervals: Vec<_> = sub.prices.iter().filter_map(|p| p.interval).collect();
        assert!(intervals.contains(&Interval::Month) && intervals.contains(&Interval::Year));
        // Its digital goods: a file (embedded in the binary) and a pool of keys.
        let demo = CatalogFile::demo(usd()).unwrap();
        assert!(demo.products.iter().any(|p| {
            p.delivery == Some(Delivery::File)
                && p.file_bytes
                    .as_ref()
                    .is_some_and(|b| b.starts_with(b"<svg"))
        }));
        assert!(
            demo.products
                .iter()
                .any(|p| p.delivery == Some(Delivery::Keys) && p.licence_keys.len() >= 5)
        );
    }

    #[test]
    fn invalid_files_are_refused_with_a_reason() {
        let cases = [
            (
                "[[products]]\nslug = \"Bad Slug\"\nname = \"x\"\nprices = [{ key = \"a\", unit_amount = 1 }]",
                "slug",
            ),
            (
                "[[products]]\nslug = \"a\"\nname = \"x\"\nprices = []",
                "at least one price",
            ),
            (
                "[[products]]\nslug = \"a\"\nname = \"x\"\nprices = [{ key = \"a\", unit_amount = -5 }]",
                "unit_amount",
            ),
            (
                "[[products]]\nslug = \"a\"\nname = \"x\"\ncolour = 1\nprices = [{ key = \"a\", unit_amount = 5 }]",
                "colour",
            ),
            ("currency = \"eur\"\nproducts = []", "eur"),
            (
                "[[products]]\nslug = \"a\"\nname = \"x\"\nprices = [{ key = \"a\", unit_amount = 5, interval = \"fortnight\" }]",
                "fortnight",
            ),
            (
                "[[products]]\nslug = \"a\"\nname = \"x\"\nprices = [{ key = \"k\", unit_amount = 5 }]\n[[products]]\nslug = \"a\"\nname = \"y\"\nprices = [{ key = \"j\", unit_amount = 5 }]",
                "twice",
            ),
            ("not toml at all [", "TOML"),
            (
                "[[products]]\nslug = \"a\"\nname = \"x\"\ntax_code = \"txcd_123\"\nprices = [{ key = \"a\", unit_amount = 5 }]",
                "txcd_ and 8 digits",
            ),
            (
                "[[products]]\nslug = \"a\"\nname = \"x\"\ndelivery = \"file\"\nfile = \"a.pdf\"\nprices = [{ key = \"a\", unit_amount = 5 }]",
                "only a digital product has a delivery",
            ),
            (
                "[[products]]\nslug = \"a\"\nname = \"x\"\nkind = \"digital\"\ndelivery = \"file\"\nprices = [{ key = \"a\", unit_amount = 5 }]",
                "needs the file",
            ),
            (
                "[[products]]\nslug = \"a\"\nname = \"x\"\nkind = \"digital\"\ndelivery = \"keys\"\nstock = 3\nprices = [{ key = \"a\", unit_amount = 5 }]",
                "leave stock out",
            ),
            (
                "[[products]]\nslug = \"a\"\nname = \"x\"\nkind = \"digital\"\ndelivery = \"keys\"\nlicence_keys = [\"a b\"]\nprices = [{ key = \"a\", unit_amount = 5 }]",
                "is not a licence key",
            ),
            (
                "[[shipping_rates]]\nkey = \"s\"\nname = \"S\"\namount = 5\nmin_days = 5\nmax_days = 2\n[[products]]\nslug = \"a\"\nname = \"x\"\nprices = [{ key = \"a\", unit_amount = 5 }]",
                "min_days is more than max_days",
            ),
            (
                "[[products]]\nslug = \"a\"\nname = \"x\"\nprices = [{ key = \"a\", unit_amount = 5, shipping = 4 }]",
                "shipping per period is for recurring prices of physical products",
            ),
            (
                "[[products]]\nslug = \"a\"\nname = \"x\"\nkind = \"digital\"\nprices = [{ key = \"a\", unit_amount = 5, interval = \"month\", shipping = 4 }]",
                "shipping per period is for recurring prices of physical products",
            ),
            (
                "[[products]]\nslug = \"a\"\nname = \"x\"\nprices = [{ key = \"a\", unit_amount = 5, interval = \"month\", shipping = 0 }]",
                "shipping",
            ),
        ];
        let cap = |extra: &str, variants: &[&str]| {
            let mut text = format!("[[products]]\nslug = \"cap\"\nname = \"Cap\"\n{extra}\n");
            for v in variants {
                text.push_str(&format!("[[products.variants]]\n{v}\n"));
            }
            text
        };
        const M: &str = "options = [\"M\"]\nprice = { key = \"cap-m\", unit_amount = 5 }";
        const L: &str = "options = [\"L\"]\nprice = { key = \"cap-l\", unit_amount = 5 }";
        let variant_cases = [
            (
                cap("options = [\"Size\"]", &[]),
                "a product needs at least one price",
            ),
            (
                cap(
                    "options = [\"Size\"]\nprices = [{ key = \"a\", unit_amount = 5 }]",
                    &[],
                ),
                "list the variants",
            ),
            (cap("", &[M, L]), "names one or two options"),
            (cap("options = [\"Size\", \"Size\"]", &[M]), "different"),
            (
                cap("options = [\"Size\", \"Colour\"]", &[M]),
                "one value (1 to 40 characters) per option",
            ),
            (cap("options = [\"Size\"]", &[M, M]), "two variants are"),
            (
                cap("options = [\"Size\"]\nstock = 3", &[M]),
                "each variant has its stock",
            ),
            (
                cap(
                    "options = [\"Size\"]\nprices = [{ key = \"a\", unit_amount = 5 }]",
                    &[M],
                ),
                "prices holds only plans",
            ),
            (
                cap(
                    "options = [\"Size\"]",
                    &[
                        "options = [\"M\"]\nprice = { key = \"cap-m\", unit_amount = 5, interval = \"month\" }",
                    ],
                ),
                "a variant's price is one-time",
            ),
            (
                cap(
                    "options = [\"Size\"]",
                    &[&format!("{M}\nsku = \"CAP 1\""), L],
                ),
                "SKU \"CAP 1\"",
            ),
            (
                cap(
                    "options = [\"Size\"]",
                    &[
                        &format!("sku = \"cap-1\"\n{M}"),
                        &format!("sku = \"CAP-1\"\n{L}"),
                    ],
                ),
                "appears twice",
            ),
            (
                cap(
                    "options = [\"Size\"]\nkind = \"digital\"\ndelivery = \"keys\"",
                    &[M],
                ),
                "cannot have variants",
            ),
        ];
        for (text, needle) in variant_cases {
            let err = CatalogFile::parse(&text, usd()).unwrap_err();
            let err = crate::error::Report(&err).to_string();
            assert!(err.contains(needle), "{needle:?} not in {err:?} for {text}");
        }
        for (text, needle) in cases {
            let err = CatalogFile::parse(text, usd()).unwrap_err();
            let err = crate::error::Report(&err).to_string();
            assert!(err.contains(needle), "{needle:?} not in {err:?}");
        }
    }
}
