//! Catalogue rows.

use diesel::prelude::*;

use crate::money::{Currency, Money};
use crate::schema::{prices, products};

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = products)]
pub struct Product {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub image_url: Option<String>,
    pub position: i64,
    pub stripe_product_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Stripe Tax's code for what the product is; `None`: [`GENERAL_TAX_CODE`].
    pub tax_code: Option<String>,
    /// `physical` (shipped) or `digital`.
    pub kind: String,
    /// For a digital product: `file` (a download) or `keys` (a licence key per unit).
    pub delivery: Option<String>,
    /// Downloads allowed per order line of a `file` product.
    pub max_downloads: i64,
    pub category_id: Option<i64>,
    /// `draft`, `active` or `archived`: see [`Status`].
    pub status: String,
    /// The first option axis of its variants ("Size"), if it has options.
    pub option1_name: Option<String>,
    pub option2_name: Option<String>,
}

/// Where a product is in its life. Only an active product is shown and sold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Being prepared: not shown to shoppers, not synced as active to Stripe.
    Draft,
    Active,
    /// No longer sold, kept because orders (or subscriptions) name it.
    Archived,
}

impl Status {
    pub const ALL: [Status; 3] = [Status::Draft, Status::Active, Status::Archived];

    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Active => "active",
            Status::Archived => "archived",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// What the admin pages call it.
    pub fn label(self) -> &'static str {
        match self {
            Status::Draft => "Draft",
            Status::Active => "Active",
            Status::Archived => "Archived",
        }
    }
}

/// Stripe's "General - Tangible Goods" tax code: what a product without its own is taxed as.
pub const GENERAL_TAX_CODE: &str = "txcd_99999999";

impl Product {
    /// Shown to shoppers and for sale.
    pub fn is_active(&self) -> bool {
        self.status == Status::Active.as_str()
    }

    pub fn tax_code(&self) -> &str {
        self.tax_code.as_deref().unwrap_or(GENERAL_TAX_CODE)
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable, Associations)]
#[diesel(table_name = prices, belongs_to(Product))]
pub struct Price {
    pub id: i64,
    pub product_id: i64,
    pub lookup_key: String,
    pub currency: String,
    pub unit_amount: i64,
    /// `None`: a one-time price; otherwise `day`, `week`, `month` or `year`.
    pub recurring_interval: Option<String>,
    pub active: bool,
    pub stripe_price_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The `tax_behavior` the Stripe Price was made with (`None`: unspecified, tax off).
    pub stripe_tax_behavior: Option<String>,
    /// A plan's shipping charge per period, billed as a second subscription item; `None`: the
    /// price includes delivery.
    pub shipping_amount: Option<i64>,
    /// The variant a one-time price sells; `None` for a plan.
    pub variant_id: Option<i64>,
}

impl Price {
    pub fn money(&self) -> Option<Money> {
        Currency::parse(&self.currency)
            .ok()
            .map(|c| Money::new(self.unit_amount, c))
    }

    pub fn is_recurring(&self) -> bool {
        self.recurring_interval.is_some()
    }

    /// "$15.00", or "$15.00 / month" for a recurring price.
    pub fn label(&self) -> String {
        let amount = self.money().map(|m| m.to_string()).unwrap_or_default();
        match &self.recurring_interval {
            Some(interval) => format!("{amount} / {interval}"),
            None => amount,
        }
    }

    /// What a plan costs each period: its `label`, or "$15.00 + $4.00 shipping / month" for a
    /// plan that charges shipping.
    pub fn plan_label(&self) -> String {
        let (Some(shipping), Some(interval), Some(money)) =
            (self.shipping_amount, &self.recurring_interval, self.money())
        else {
            return self.label();
        };
        let shipping = Money::new(shipping, money.currency);
        format!("{money} + {shipping} shipping / {interval}")
    }
}

/// A product with its active prices in the shop's currency.
#[derive(Debug, Clone)]
pub struct Listing {
    pub product: Product,
    pub prices: Vec<Price>,
    /// Uploaded pictures, the main one first.
    pub pictures: Vec<super::images::Picture>,
    /// Its variants for sale (with a one-time price here), in display order.
    pub variants: Vec<super::variants::Variant>,
}

impl Listing {
    /// The picture to show and its alt text: the main upload, else the catalogue's picture
    /// (whose alt is the product's name). A path on this shop, or an absolute URL.
    pub fn picture(&self, size: super::images::Size) -> Option<(String, String)> {
        match self.pictures.first() {
            Some(p) => Some((p.url(size), p.alt.clone())),
            None => self
                .product
                .image_url
                .clone()
                .map(|url| (url, self.product.name.clone())),
        }
    }

    /// The one-time price a variant sells at here, if it is for sale.
    pub fn price_of(&self, variant_id: i64) -> Option<&Price> {
        self.prices
            .iter()
            .find(|p| p.variant_id == Some(variant_id) && !p.is_recurring())
    }

    /// What the cheapest price costs (prices are loaded cheapest first): what "sort by price"
    /// orders by.
    pub fn from_amount(&self) -> i64 {
        self.prices.first().map_or(0, |p| p.unit_amount)
    }
}

/// A group of products shoppers browse by.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = crate::schema::categories)]
pub struct Category {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub created_at: i64,
}
