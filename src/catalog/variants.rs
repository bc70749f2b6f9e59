//! Variants: what a shopper picks on a product page (a size, a colour…). A product names up to
//! two option axes; each variant has its own SKU, one-time price, stock and optional picture.
//! Every product has at least one variant: a product without options has exactly one, its
//! default variant (options empty), which shoppers never see named.
//!
//! Stock, holds and licence-key pools belong to variants, so buying one size never touches
//! another's shelf.

use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::schema::{order_items, prices, product_variants, products, stock_reservations};

/// Most option axes a product may have.
pub const MAX_AXES: usize = 2;

/// Most variants a product may have: a page of radio buttons a shopper can still read.
pub const MAX_VARIANTS: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = product_variants)]
pub struct Variant {
    pub id: i64,
    pub product_id: i64,
    pub position: i64,
    pub sku: Option<String>,
    pub option1: String,
    pub option2: String,
    /// `None`: unlimited.
    pub stock: Option<i64>,
    /// An uploaded picture of the product shown when this variant is picked.
    pub image_id: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Variant {
    /// "Large / Blue"; empty for a product's default variant.
    pub fn label(&self) -> String {
        label(&self.option1, &self.option2)
    }

    pub fn is_default(&self) -> bool {
        self.option1.is_empty() && self.option2.is_empty()
    }
}

/// "Large / Blue" from a variant's option values; empty when it has none.
pub fn label(option1: &str, option2: &str) -> String {
    match (option1.is_empty(), option2.is_empty()) {
        (true, true) => String::new(),
        (false, true) => option1.to_owned(),
        (true, false) => option2.to_owned(),
        (false, false) => format!("{option1} / {option2}"),
    }
}

/// What an order line or cart line is called: "Canvas tote — Large / Blue", or the product's
/// name alone for a default variant.
pub fn line_name(product: &str, variant: &str) -> String {
    if variant.is_empty() {
        product.to_owned()
    } else {
        format!("{product} — {variant}")
    }
}

/// A product's variants in display order.
pub fn of_product(conn: &mut AnyConnection, product_id: i64) -> QueryResult<Vec<Variant>> {
    of_products(conn, &[product_id])
}

/// The variants of several products, each product's in display order.
pub fn of_products(conn: &mut AnyConnection, product_ids: &[i64]) -> QueryResult<Vec<Variant>> {
    product_variants::table
        .filter(product_variants::product_id.eq_any(product_ids))
        .order((
            product_variants::product_id.asc(),
            product_variants::position.asc(),
            product_variants::id.asc(),
        ))
        .select(Variant::as_select())
        .load(conn)
}

/// The variant a form names among a product's: `wanted`, or, when the form names none, the
/// product's only one. With several, a form that names none (a tab opened before the second
/// was added) gets `None`: never a guess.
pub fn chosen(variants: &[Variant], wanted: Option<i64>) -> Option<&Variant> {
    match wanted {
        Some(id) => variants.iter().find(|v| v.id == id),
        None if variants.len() == 1 => variants.first(),
        None => None,
    }
}

pub fn find(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<Variant>> {
    product_variants::table
        .find(id)
        .select(Variant::as_select())
        .first(conn)
        .optional()
}

/// The variant a product's one-time prices belong to when it has no options: made with the
/// product (and by the migration for products made before variants).
pub fn default_of(conn: &mut AnyConnection, product_id: i64) -> QueryResult<Variant> {
    product_variants::table
        .filter(product_variants::product_id.eq(product_id))
        .order((product_variants::position.asc(), product_variants::id.asc()))
        .select(Variant::as_select())
        .first(conn)
}

/// What a new variant is.
#[derive(Debug, Clone, Default)]
pub struct NewVariant<'a> {
    pub sku: Option<&'a str>,
    pub option1: &'a str,
    pub option2: &'a str,
    pub stock: Option<i64>,
}

/// Adds a variant after the product's others; its id.
pub fn insert(
    conn: &mut AnyConnection,
    product_id: i64,
    v: &NewVariant<'_>,
    now: i64,
) -> QueryResult<i64> {
    let last: Option<i64> = product_variants::table
        .filter(product_variants::product_id.eq(product_id))
        .select(diesel::dsl::max(product_variants::position))
        .first(conn)?;
    crate::on_backend!(conn, |c| diesel::insert_into(product_variants::table)
        .values((
            product_variants::product_id.eq(product_id),
            product_variants::position.eq(last.map_or(0, |p| p + 1)),
            product_variants::sku.eq(v.sku),
            product_variants::option1.eq(v.option1),
            product_variants::option2.eq(v.option2),
            product_variants::stock.eq(v.stock),
            product_variants::created_at.eq(now),
            product_variants::updated_at.eq(now),
        ))
        .returning(product_variants::id)
        .get_result(c))
}

/// Whether anything sold or held names the variant: then it stays (retired, not deleted).
pub fn has_sales(conn: &mut AnyConnection, variant_id: i64) -> QueryResult<bool> {
    let sold: i64 = order_items::table
        .filter(order_items::variant_id.eq(variant_id))
        .count()
        .get_result(conn)?;
    let held: i64 = stock_reservations::table
        .filter(stock_reservations::variant_id.eq(variant_id))
        .count()
        .get_result(conn)?;
    Ok(sold + held > 0)
}

/// The one-time price a shopper pays for the variant now, in `currency`, if it is for sale.
pub fn current_price(
    conn: &mut AnyConnection,
    variant_id: i64,
    currency: &str,
) -> QueryResult<Option<super::model::Price>> {
    prices::table
        .filter(prices::variant_id.eq(variant_id))
        .filter(prices::active.eq(true))
        .filter(prices::currency.eq(currency))
        .filter(prices::recurring_interval.is_null())
        .select(super::model::Price::as_select())
        .first(conn)
        .optional()
}

/// The product's option axis names ("Size", "Colour"), as many as it has.
pub fn axes(conn: &mut AnyConnection, product_id: i64) -> QueryResult<Vec<String>> {
    let (a, b): (Option<String>, Option<String>) = products::table
        .find(product_id)
        .select((products::option1_name, products::option2_name))
        .first(conn)?;
    Ok([a, b].into_iter().flatten().collect())
}

/// Longest option axis name ("Size") and option value ("Large").
const MAX_NAME: usize = 40;
/// Longest SKU.
const MAX_SKU: usize = 64;

/// A form's field and what is wrong with it.
pub type Problems = Vec<(String, String)>;

/// Whether a SKU is one a warehouse can print: letters, digits, `-`, `_`, `.`, `/`.
pub fn plausible_sku(sku: &str) -> bool {
    (1..=MAX_SKU).contains(&sku.len())
        && sku
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'))
}

/// One variant's values as the admin typed them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Values {
    pub option1: String,
    pub option2: String,
    pub sku: String,
}

/// The product's axes and its variants' values, as the variants form saves them.
#[derive(Debug, Clone, Default)]
pub struct Edit {
    pub option1_name: String,
    pub option2_name: String,
    /// (variant id, values, picture id)
    pub variants: Vec<(i64, Values, Option<i64>)>,
}

/// Checks axis names: a second axis needs a first; several variants need at least one.
fn check_axes(option1: &str, option2: &str, variants: usize, problems: &mut Problems) {
    for (field, name) in [("option1_name", option1), ("option2_name", option2)] {
        if name.chars().count() > MAX_NAME || !printable(name) {
            problems.push((
                field.into(),
                format!("Keep option names to {MAX_NAME} characters, without control characters."),
            ));
        }
    }
    if option1.is_empty() && !option2.is_empty() {
        problems.push((
            "option1_name".into(),
            "Name the first option before the second.".into(),
        ));
    }
    if option1.is_empty() && variants > 1 {
        problems.push((
            "option1_name".into(),
            "A product with several variants needs an option name (like Size).".into(),
        ));
    }
}

/// Checks one variant's values against the axes; `field` prefixes the field names.
fn check_values(axes: (&str, &str), v: &Values, field: &str, problems: &mut Problems) {
    for (axis, value, name) in [
        (axes.0, &v.option1, "option1"),
        (axes.1, &v.option2, "option2"),
    ] {
        if !axis.is_empty() && value.is_empty() {
            problems.push((format!("{field}{name}"), format!("Give its {axis}.")));
        } else if value.chars().count() > MAX_NAME || !printable(value) {
            problems.push((
                format!("{field}{name}"),
                format!("Keep option values to {MAX_NAME} characters, without control characters."),
            ));
        }
    }
    if !v.sku.is_empty() && !plausible_sku(&v.sku) {
        problems.push((
            format!("{field}sku"),
            format!(
                "A SKU is up to {MAX_SKU} letters, digits, dashes, underscores, dots or slashes."
            ),
        ));
    }
}

/// The variant that has this SKU, case aside ("tote-s" and "TOTE-S" on two labels would be
/// one code to a warehouse and to the search box; a unique index on `UPPER(sku)` says so too):
/// (its id, its product's id).
pub fn sku_owner(conn: &mut AnyConnection, sku: &str) -> QueryResult<Option<(i64, i64)>> {
    let upper = diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::Text>>(
        "UPPER(product_variants.sku)",
    );
    product_variants::table
        .filter(upper.eq(Some(sku.to_uppercase())))
        .select((product_variants::id, product_variants::product_id))
        .first(conn)
        .optional()
}

/// Holds the product's row until the transaction ends: changes to one product's variants (and
/// the checks they rest on, like "the last one for sale") run one at a time across instances.
/// SQLite's write transactions already do.
fn lock_product(conn: &mut AnyConnection, product_id: i64) -> QueryResult<()> {
    if let AnyConnection::Postgresql(pg) = conn {
        products::table
            .find(product_id)
            .select(products::id)
            .for_update()
            .load::<i64>(pg)?;
    }
    Ok(())
}

/// Whether a name or value can be stored and shown: no control characters.
fn printable(s: &str) -> bool {
    !s.chars().any(char::is_control)
}

/// Values kept for an axis that is named, cleared for one that is not.
fn fitted(axes: (&str, &str), v: &Values) -> (String, String) {
    let keep = |axis: &str, value: &str| match axis.is_empty() {
        true => String::new(),
        false => value.to_owned(),
    };
    (keep(axes.0, &v.option1), keep(axes.1, &v.option2))
}

/// Saves the axes and every variant's values, SKU and picture, audited, in the caller's
/// transaction; or the problems, and nothing saved.
pub fn save(
    conn: &mut AnyConnection,
    product_id: i64,
    edit: &Edit,
    actor: Option<i64>,
    now: i64,
) -> QueryResult<Result<(), Problems>> {
    lock_product(conn, product_id)?;
    let current = of_product(conn, product_id)?;
    let pictures: Vec<i64> = crate::schema::product_images::table
        .filter(crate::schema::product_images::product_id.eq(product_id))
        .select(crate::schema::product_images::id)
        .load(conn)?;
    let axes = (edit.option1_name.as_str(), edit.option2_name.as_str());
    let mut problems = Problems::new();
    check_axes(axes.0, axes.1, current.len(), &mut problems);
    // Variants the form leaves as they are (one added meanwhile) count from the start: their
    // options and SKUs are taken whatever order the rows come in.
    let kept: Vec<&Variant> = current
        .iter()
        .filter(|v| !edit.variants.iter().any(|(id, _, _)| *id == v.id))
        .collect();
    let mut seen: Vec<(String, String)> = kept
        .iter()
        .map(|v| {
            let values = Values {
                option1: v.option1.clone(),
                option2: v.option2.clone(),
                sku: String::new(),
            };
            fitted(axes, &values)
        })
        .collect();
    let mut skus: Vec<String> = kept
        .iter()
        .filter_map(|v| v.sku.as_deref().map(str::to_uppercase))
        .collect();
    for v in &current {
        let Some((_, values, image)) = edit.variants.iter().find(|(id, _, _)| *id == v.id) else {
            // A variant the form did not show (added meanwhile): keep it, check it as it is.
            let values = Values {
                option1: v.option1.clone(),
                option2: v.option2.clone(),
                sku: v.sku.clone().unwrap_or_default(),
            };
            check_values(axes, &values, &format!("v{}-", v.id), &mut problems);
            continue;
        };
        let field = format!("v{}-", v.id);
        check_values(axes, values, &field, &mut problems);
        if image.is_some_and(|i| !pictures.contains(&i)) {
            problems.push((
                format!("{field}image"),
                "Choose one of this product's pictures.".into(),
            ));
        }
        // Taken by another product's variant, or twice in this form (this product's own SKUs
        // may move between its variants in one save).
        let upper = values.sku.to_uppercase();
        let elsewhere = match values.sku.is_empty() {
            true => false,
            false => sku_owner(conn, &values.sku)?.is_some_and(|(_, p)| p != product_id),
        };
        if elsewhere || (!upper.is_empty() && skus.contains(&upper)) {
            problems.push((
                format!("{field}sku"),
                "Another variant already has this SKU.".into(),
            ));
        }
        skus.push(upper);
        let combination = fitted(axes, values);
        if seen.contains(&combination) && !(combination.0.is_empty() && combination.1.is_empty()) {
            problems.push((
                format!("{field}option1"),
                "Two variants cannot have the same options.".into(),
            ));
        }
        seen.push(combination);
    }
    if !problems.is_empty() {
        return Ok(Err(problems));
    }
    let name = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    diesel::update(products::table.find(product_id))
        .set((
            products::option1_name.eq(name(axes.0)),
            products::option2_name.eq(name(axes.1)),
            products::updated_at.eq(now),
        ))
        .execute(conn)?;
    let mut changes = Vec::new();
    for v in &current {
        let (values, image) = match edit.variants.iter().find(|(id, _, _)| *id == v.id) {
            Some((_, values, image)) => (values.clone(), *image),
            None => (
                Values {
                    option1: v.option1.clone(),
                    option2: v.option2.clone(),
                    sku: v.sku.clone().unwrap_or_default(),
                },
                v.image_id,
            ),
        };
        let (option1, option2) = fitted(axes, &values);
        let sku = name(&values.sku);
        if (&option1, &option2, &sku, image) == (&v.option1, &v.option2, &v.sku, v.image_id) {
            continue;
        }
        // Two variants swapping values would meet the unique index half-way: park first, under
        // a value no form can send (control characters are refused).
        diesel::update(product_variants::table.find(v.id))
            .set((
                product_variants::option1.eq(format!("\u{1}{}", v.id)),
                product_variants::sku.eq(None::<String>),
            ))
            .execute(conn)?;
        changes.push((v.id, option1, option2, sku, image, v.label()));
    }
    let mut details = Vec::new();
    for (id, option1, option2, sku, image, before) in changes {
        diesel::update(product_variants::table.find(id))
            .set((
                product_variants::option1.eq(&option1),
                product_variants::option2.eq(&option2),
                product_variants::sku.eq(&sku),
                product_variants::image_id.eq(image),
                product_variants::updated_at.eq(now),
            ))
            .execute(conn)?;
        let after = label(&option1, &option2);
        details.push(format!(
            "{} → {}{}",
            if before.is_empty() {
                "(default)"
            } else {
                &before
            },
            if after.is_empty() {
                "(default)"
            } else {
                &after
            },
            sku.map(|s| format!(" SKU {s}")).unwrap_or_default()
        ));
    }
    crate::admin::audit::record(
        conn,
        crate::admin::audit::Event::product(
            actor,
            crate::admin::audit::VARIANTS_CHANGED,
            product_id,
            format!(
                "options: {}{}",
                [axes.0, axes.1]
                    .iter()
                    .filter(|a| !a.is_empty())
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", "),
                if details.is_empty() {
                    String::new()
                } else {
                    format!("; {}", details.join("; "))
                }
            ),
        ),
        now,
    )?;
    Ok(Ok(()))
}

/// A variant to add, as checked by the form: its values, price (minor units) and stock.
#[derive(Debug, Clone)]
pub struct Addition {
    pub values: Values,
    pub unit_amount: i64,
    /// `None`: unlimited.
    pub stock: Option<i64>,
}

/// Adds a variant with its one-time price in `currency`, audited, in the caller's transaction:
/// its id, or the problems. The product's options must be named and its variants valued first,
/// so every variant a shopper sees has a name.
pub fn add(
    conn: &mut AnyConnection,
    product_id: i64,
    new: &Addition,
    currency: &str,
    actor: Option<i64>,
    now: i64,
) -> QueryResult<Result<i64, Problems>> {
    let (slug, axis1, axis2, delivery): (String, Option<String>, Option<String>, Option<String>) =
        products::table
            .find(product_id)
            .select((
                products::slug,
                products::option1_name,
                products::option2_name,
                products::delivery,
            ))
            .first(conn)?;
    lock_product(conn, product_id)?;
    let axes = (
        axis1.as_deref().unwrap_or(""),
        axis2.as_deref().unwrap_or(""),
    );
    let current = of_product(conn, product_id)?;
    let for_sale: Vec<Option<i64>> = prices::table
        .filter(prices::product_id.eq(product_id))
        .filter(prices::active.eq(true))
        .filter(prices::recurring_interval.is_null())
        .select(prices::variant_id)
        .load(conn)?;
    let mut problems = Problems::new();
    if axes.0.is_empty() {
        problems.push((
            "new-option1".into(),
            "Name the product's option first (like Size, under Variants), and give the existing variant its value.".into(),
        ));
        return Ok(Err(problems));
    }
    let (option1, option2) = fitted(axes, &new.values);
    // One removed earlier (kept for its orders) comes back with the new price and stock.
    let retired = current
        .iter()
        .find(|v| v.option1 == option1 && v.option2 == option2)
        .filter(|v| !for_sale.contains(&Some(v.id)))
        .cloned();
    if current.len() >= MAX_VARIANTS && retired.is_none() {
        problems.push((
            "new-option1".into(),
            format!("A product has at most {MAX_VARIANTS} variants."),
        ));
    }
    if let Some(unnamed) = current
        .iter()
        .find(|v| v.option1.is_empty() || (!axes.1.is_empty() && v.option2.is_empty()))
    {
        problems.push((
            "new-option1".into(),
            format!(
                "Give every variant its options first (variant {} has none).",
                unnamed.sku.as_deref().unwrap_or("without a SKU")
            ),
        ));
    }
    check_values(axes, &new.values, "new-", &mut problems);
    if retired.is_none()
        && current
            .iter()
            .any(|v| v.option1 == option1 && v.option2 == option2)
    {
        problems.push((
            "new-option1".into(),
            format!("There is already a {} variant.", label(&option1, &option2)),
        ));
    }
    let owner = match new.values.sku.is_empty() {
        true => None,
        false => sku_owner(conn, &new.values.sku)?,
    };
    if owner.is_some_and(|(id, _)| retired.as_ref().is_none_or(|r| r.id != id)) {
        problems.push((
            "new-sku".into(),
            "Another variant already has this SKU.".into(),
        ));
    }
    if !problems.is_empty() {
        return Ok(Err(problems));
    }
    // A key product's stock is its keys, added on the keys page.
    let stock = match delivery.as_deref() {
        Some("keys") => Some(0),
        _ => new.stock,
    };
    let sku = (!new.values.sku.is_empty()).then_some(new.values.sku.as_str());
    let id = match &retired {
        Some(r) => {
            diesel::update(product_variants::table.find(r.id))
                .set((
                    product_variants::sku.eq(sku),
                    product_variants::stock.eq(stock),
                    product_variants::updated_at.eq(now),
                ))
                .execute(conn)?;
            r.id
        }
        None => {
            // Another instance may take the SKU between the check and here (the index decides).
            let fresh = NewVariant {
                sku,
                option1: &option1,
                option2: &option2,
                stock,
            };
            let mut made = None;
            let inserted = crate::db::insert_once(conn, |conn| {
                made = Some(insert(conn, product_id, &fresh, now)?);
                Ok(1)
            })?;
            match (inserted, made) {
                (true, Some(id)) => id,
                _ => {
                    problems.push((
                        "new-sku".into(),
                        "Another variant already has this SKU.".into(),
                    ));
                    return Ok(Err(problems));
                }
            }
        }
    };
    let key = super::create::insert_price(
        conn,
        (product_id, id),
        &format!("{slug}-v{id}"),
        (currency, new.unit_amount),
        now,
    )?;
    crate::admin::audit::record(
        conn,
        crate::admin::audit::Event::product(
            actor,
            crate::admin::audit::VARIANT_ADDED,
            product_id,
            format!(
                "{}: {} {currency}, stock {}, price {key}{}",
                label(&option1, &option2),
                new.unit_amount,
                stock.map_or_else(|| "unlimited".to_owned(), |s| s.to_string()),
                sku.map(|s| format!(", SKU {s}")).unwrap_or_default()
            ),
        ),
        now,
    )?;
    Ok(Ok(id))
}

/// What removing a variant did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removed {
    /// Nothing sold names it: gone with its prices. The Stripe prices to retire.
    Deleted(Vec<String>),
    /// Orders name it: kept for them, no longer for sale. The Stripe prices to retire.
    Retired(Vec<String>),
}

/// Why a variant stays.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("This is the product's last variant for sale: archive the product instead.")]
    Last,
    #[error("This variant still has unsold licence keys.")]
    Keys,
}

/// Takes a variant off sale: deleted when nothing sold or held names it, retired otherwise
/// (orders keep their line's variant). Carts drop its lines. The product keeps at least one
/// variant for sale.
pub fn remove(
    conn: &mut AnyConnection,
    product_id: i64,
    variant_id: i64,
    actor: Option<i64>,
    now: i64,
) -> QueryResult<Option<Result<Removed, Refusal>>> {
    lock_product(conn, product_id)?;
    let Some(variant) = find(conn, variant_id)?.filter(|v| v.product_id == product_id) else {
        return Ok(None);
    };
    crate::inventory::lock_variants(conn, &[variant_id])?;
    let on_sale: Vec<Option<i64>> = prices::table
        .filter(prices::product_id.eq(product_id))
        .filter(prices::active.eq(true))
        .filter(prices::recurring_interval.is_null())
        .select(prices::variant_id)
        .load(conn)?;
    if !on_sale.iter().any(|v| *v != Some(variant_id)) {
        return Ok(Some(Err(Refusal::Last)));
    }
    let unsold: i64 = crate::schema::licence_keys::table
        .filter(crate::schema::licence_keys::variant_id.eq(variant_id))
        .filter(crate::schema::licence_keys::order_item_id.is_null())
        .count()
        .get_result(conn)?;
    if unsold > 0 {
        return Ok(Some(Err(Refusal::Keys)));
    }
    let own: Vec<(i64, String, Option<String>)> = prices::table
        .filter(prices::variant_id.eq(variant_id))
        .select((prices::id, prices::lookup_key, prices::stripe_price_id))
        .load(conn)?;
    let ids: Vec<i64> = own.iter().map(|(id, _, _)| *id).collect();
    let stripe: Vec<String> = own.iter().filter_map(|(_, _, s)| s.clone()).collect();
    diesel::delete(
        crate::schema::cart_items::table.filter(crate::schema::cart_items::price_id.eq_any(&ids)),
    )
    .execute(conn)?;
    let removed = if has_sales(conn, variant_id)? {
        for (id, key, _) in &own {
            if key.contains('~') {
                continue;
            }
            diesel::update(prices::table.find(id))
                .set((
                    prices::active.eq(false),
                    prices::lookup_key.eq(format!("{key}~{id}")),
                    prices::updated_at.eq(now),
                ))
                .execute(conn)?;
        }
        Removed::Retired(stripe)
    } else {
        diesel::delete(prices::table.filter(prices::variant_id.eq(variant_id))).execute(conn)?;
        diesel::delete(
            crate::schema::stock_alerts::table
                .filter(crate::schema::stock_alerts::variant_id.eq(variant_id)),
        )
        .execute(conn)?;
        diesel::delete(
            crate::schema::licence_keys::table
                .filter(crate::schema::licence_keys::variant_id.eq(variant_id)),
        )
        .execute(conn)?;
        diesel::delete(product_variants::table.find(variant_id)).execute(conn)?;
        Removed::Deleted(stripe)
    };
    crate::admin::audit::record(
        conn,
        crate::admin::audit::Event::product(
            actor,
            crate::admin::audit::VARIANT_REMOVED,
            product_id,
            format!(
                "{}{}",
                variant.label(),
                match removed {
                    Removed::Deleted(_) => ": deleted",
                    Removed::Retired(_) => ": retired, kept for its orders",
                }
            ),
        ),
        now,
    )?;
    Ok(Some(Ok(removed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_default_variant_adds_nothing_to_the_name() {
        assert_eq!(label("", ""), "");
        assert_eq!(label("Large", ""), "Large");
        assert_eq!(label("Large", "Blue"), "Large / Blue");
        assert_eq!(line_name("Canvas tote", ""), "Canvas tote");
        assert_eq!(
            line_name("Canvas tote", "Large / Blue"),
            "Canvas tote — Large / Blue"
        );
    }
}
