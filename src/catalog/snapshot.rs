//! The catalogue as the shop pages show it, read from the database at most about once a second
//! per instance and shared by every request in between.
//!
//! Why: the catalogue pages are the shop's busiest, and their rows change rarely, while each
//! database round trip (a pool checkout and a thread hop per query) costs more than rendering
//! the page. Why it stays correct:
//! - **Freshness.** A snapshot older than [`MAX_AGE`] is not served to a lone visitor: the
//!   request reloads it. Under load one request reloads while the others keep the snapshot they
//!   have, which is then at most `MAX_AGE` plus one load old. So a change made anywhere — by
//!   `storefront seed`, by an admin, by another instance on the same PostgreSQL database, or by
//!   stock holds and sales — shows on every instance within about a second, with no message
//!   between instances to lose: each instance asks the database itself.
//! - **Local writes** that a shopper expects to see at once (this instance's own stock holds,
//!   and their release when a checkout expires) call [`CatalogueCache::invalidate`]; the next
//!   page reloads.
//! - **Selling never trusts it.** Adding to the cart and starting a checkout re-check stock in the
//!   database, inside their transactions; a stale "1 left" badge can cost a shopper a message,
//!   never an oversold unit.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::model::{Category, Listing};
use super::queries;
use crate::db::{self, Pool};
use crate::error::AppError;
use crate::money::Currency;

/// How old a snapshot may be when a page is served from it.
pub const MAX_AGE: Duration = Duration::from_secs(1);

/// The active listings and what is available of each, as of one moment.
#[derive(Debug)]
pub struct Snapshot {
    listings: Vec<Listing>,
    by_slug: HashMap<String, usize>,
    by_id: HashMap<i64, usize>,
    /// Units available to a new checkout per variant (absent: unlimited).
    available: HashMap<i64, i64>,
    /// The same per product, over its variants for sale (absent: one of them is unlimited).
    available_products: HashMap<i64, i64>,
    /// The shop's active shipping rates, for the cart page.
    shipping_rates: Vec<crate::shipping::offer::Rate>,
    /// Categories with at least one listing, by name.
    categories: Vec<Category>,
}

impl Snapshot {
    /// Active listings in display order.
    pub fn listings(&self) -> &[Listing] {
        &self.listings
    }

    pub fn listing(&self, slug: &str) -> Option<&Listing> {
        self.by_slug.get(slug).map(|&i| &self.listings[i])
    }

    /// Categories a shopper can browse (each has listings), by name.
    pub fn categories(&self) -> &[Category] {
        &self.categories
    }

    pub fn category(&self, slug: &str) -> Option<&Category> {
        self.categories.iter().find(|c| c.slug == slug)
    }

    /// The listing of a product, if it is for sale.
    pub fn listing_by_id(&self, product_id: i64) -> Option<&Listing> {
        self.by_id.get(&product_id).map(|&i| &self.listings[i])
    }

    pub fn shipping_rates(&self) -> &[crate::shipping::offer::Rate] {
        &self.shipping_rates
    }

    /// Whether a listed product ships (unknown ones are taken to, as the checkout will).
    pub fn ships(&self, slug: &str) -> bool {
        self.listing(slug)
            .is_none_or(|l| l.product.kind != "digital")
    }

    /// Units of a product (over its variants) available to a new checkout; `None`: unlimited.
    pub fn available(&self, product_id: i64) -> Option<i64> {
        self.available_products.get(&product_id).copied()
    }

    /// Units of one variant available to a new checkout; `None`: unlimited.
    pub fn variant_available(&self, variant_id: i64) -> Option<i64> {
        self.available.get(&variant_id).copied()
    }

    fn load(pool: &Pool, currency: Currency) -> impl Future<Output = Result<Self, AppError>> {
        db::run(pool, move |conn| {
            let listings = queries::active_listings(conn, currency)?;
            let offered: Vec<(i64, i64)> = listings
                .iter()
                .flat_map(|l| l.variants.iter().map(|v| (v.product_id, v.id)))
                .collect();
            let ids: Vec<i64> = offered.iter().map(|(_, v)| *v).collect();
            let available = crate::inventory::available(conn, &ids)?;
            let available_products = crate::inventory::by_product(&offered, &available);
            let shipping_rates = crate::shipping::offer::active(conn)?;
            let mut categories = super::categories::all(conn)?;
            categories.retain(|c| listings.iter().any(|l| l.product.category_id == Some(c.id)));
            let by_id = listings
                .iter()
                .enumerate()
                .map(|(i, l)| (l.product.id, i))
                .collect();
            let by_slug = listings
                .iter()
                .enumerate()
                .map(|(i, l)| (l.product.slug.clone(), i))
                .collect();
            Ok::<_, AppError>(Self {
                listings,
                by_slug,
                by_id,
                available,
                available_products,
                shipping_rates,
                categories,
            })
        })
    }
}

struct Loaded {
    snapshot: Arc<Snapshot>,
    at: Instant,
}

/// One instance's current snapshot.
pub struct CatalogueCache {
    pool: Pool,
    currency: Currency,
    current: RwLock<Option<Loaded>>,
    /// Set while one request reloads, so the others serve what they have instead of all
    /// querying at once.
    reloading: AtomicBool,
    /// Bumped by [`Self::invalidate`]: a load that began before it must not be kept.
    generation: AtomicU64,
}

impl CatalogueCache {
    pub fn new(pool: Pool, currency: Currency) -> Self {
        Self {
            pool,
            currency,
            current: RwLock::new(None),
            reloading: AtomicBool::new(false),
            generation: AtomicU64::new(0),
        }
    }

    /// A snapshot at most about [`MAX_AGE`] old.
    pub async fn get(&self) -> Result<Arc<Snapshot>, AppError> {
        let held = self
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|l| (l.snapshot.clone(), l.at.elapsed()));
        let Some((snapshot, age)) = held else {
            return self.reload().await;
        };
        if age <= MAX_AGE {
            return Ok(snapshot);
        }
        let mine = self
            .reloading
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        // Another request is reloading a snapshot that was fresh a moment ago: keep serving it.
        if !mine && age <= MAX_AGE * 2 {
            return Ok(snapshot);
        }
        let _reset = mine.then(|| ResetOnDrop(&self.reloading));
        self.reload().await
    }

    /// Forgets the snapshot: the next request reads the database.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = None;
    }

    async fn reload(&self) -> Result<Arc<Snapshot>, AppError> {
        let generation = self.generation.load(Ordering::Acquire);
        let at = Instant::now();
        let snapshot = Arc::new(Snapshot::load(&self.pool, self.currency).await?);
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        let newer_held = current.as_ref().is_some_and(|l| l.at > at);
        if self.generation.load(Ordering::Acquire) == generation && !newer_held {
            *current = Some(Loaded {
                snapshot: snapshot.clone(),
                at,
            });
        }
        Ok(snapshot)
    }
}

/// Clears the reloading flag however the reload ends (success, error, or the request dropped).
struct ResetOnDrop<'a>(&'a AtomicBool);

impl Drop for ResetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}
