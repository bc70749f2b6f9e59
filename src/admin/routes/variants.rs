//! A product's variants from its admin page: `POST /admin/products/{slug}/variants` (option
//! names, each variant's values, SKU and picture), `…/variants/new` (a variant with its price
//! and stock) and `…/variants/{id}/delete` (deleted, or retired when orders name it).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::products::{Typed, product_row, product_view};
use crate::accounts::auth::Admin;
use crate::catalog::variants::{self, Addition, Edit, Problems, Removed, Values};
use crate::db::{self, DbError, write_tx};
use crate::error::AppError;
use crate::state::AppState;
use crate::web::field_errors::FieldErrors;
use crate::web::forms::parse_int_in;
use crate::web::layout::Layout;
use crate::web::see_other;
use crate::web::session::{CsrfForm, TypedSession};

/// The most units a new variant starts with.
const MAX_UNITS: i64 = 1_000_000;
/// Most fields the variants form may send: a name pair and four per variant, with room.
const MAX_FIELDS: usize = 8 + 4 * variants::MAX_VARIANTS;
/// Longest value of any field of these forms.
const MAX_VALUE: usize = 200;

/// The variants form as sent: `option1_name`, `option2_name`, and per variant
/// `v{id}-option1`, `v{id}-option2`, `v{id}-sku`, `v{id}-image`.
#[derive(Debug, Clone, Default)]
pub struct VariantsForm {
    pub option1_name: String,
    pub option2_name: String,
    pub variants: Vec<TypedVariant>,
}

#[derive(Debug, Clone, Default)]
pub struct TypedVariant {
    pub id: i64,
    pub option1: String,
    pub option2: String,
    pub sku: String,
    pub image_id: Option<i64>,
}

impl VariantsForm {
    pub fn variant(&self, id: i64) -> Option<&TypedVariant> {
        self.variants.iter().find(|v| v.id == id)
    }

    /// Reads the form's pairs; unknown fields are ignored, malformed ones refused.
    fn parse(pairs: &[(String, String)]) -> Result<Self, AppError> {
        let bad =
            || AppError::BadRequest("Some fields of the form were missing or malformed.".into());
        if pairs.len() > MAX_FIELDS || pairs.iter().any(|(_, v)| v.len() > MAX_VALUE) {
            return Err(bad());
        }
        let mut form = Self::default();
        for (key, value) in pairs {
            let value = value.trim().to_owned();
            match key.as_str() {
                "option1_name" => form.option1_name = value,
                "option2_name" => form.option2_name = value,
                _ => {
                    let Some((id, field)) =
                        key.strip_prefix('v').and_then(|rest| rest.split_once('-'))
                    else {
                        continue;
                    };
                    let id: i64 = id.parse().map_err(|_| bad())?;
                    if !form.variants.iter().any(|v| v.id == id) {
                        form.variants.push(TypedVariant {
                            id,
                            ..TypedVariant::default()
                        });
                    }
                    let v = form
                        .variants
                        .iter_mut()
                        .find(|v| v.id == id)
                        .ok_or_else(bad)?;
                    match field {
                        "option1" => v.option1 = value,
                        "option2" => v.option2 = value,
                        "sku" => v.sku = value,
                        "image" if value.is_empty() => v.image_id = None,
                        "image" => v.image_id = Some(value.parse().map_err(|_| bad())?),
                        _ => {}
                    }
                }
            }
        }
        Ok(form)
    }

    fn edit(&self) -> Edit {
        Edit {
            option1_name: self.option1_name.clone(),
            option2_name: self.option2_name.clone(),
            variants: self
                .variants
                .iter()
                .map(|v| {
                    (
                        v.id,
                        Values {
                            option1: v.option1.clone(),
                            option2: v.option2.clone(),
                            sku: v.sku.clone(),
                        },
                        v.image_id,
                    )
                })
                .collect(),
        }
    }
}

/// The add-a-variant form, as typed.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct NewVariantForm {
    #[serde(default)]
    pub option1: String,
    #[serde(default)]
    pub option2: String,
    #[serde(default)]
    pub sku: String,
    #[serde(default)]
    pub price: String,
    /// Blank: unlimited.
    #[serde(default)]
    pub stock: String,
    /// "on": a price of 0 is meant (a free item).
    #[serde(default)]
    pub free: String,
}

fn errors_of(problems: Problems) -> FieldErrors {
    let mut errors = FieldErrors::default();
    for (field, message) in problems {
        errors.add(&field, message);
    }
    errors
}

/// `POST /admin/products/{slug}/variants`
pub async fn save(
    state: web::Data<AppState>,
    layout: Layout,
    session: TypedSession,
    Admin(admin): Admin,
    path: web::Path<String>,
    form: CsrfForm<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let slug = path.into_inner();
    let form = VariantsForm::parse(&form.0)?;
    let (id, name) = product_row(&state, slug.clone()).await?;
    let (edit, now, actor) = (form.edit(), state.clock.unix(), admin.id);
    let saved = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            variants::save(conn, id, &edit, Some(actor), now)
        })
        .map_err(DbError::from)
    })
    .await?;
    match saved {
        Ok(()) => {
            state.catalogue.invalidate();
            session.flash(format!("Variants of {name} saved."))?;
            Ok(see_other(&format!("/admin/products/{slug}")))
        }
        Err(problems) => {
            product_view(
                &state,
                layout,
                slug,
                Typed {
                    variants: Some(form),
                    ..Typed::default()
                },
                errors_of(problems),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

/// `POST /admin/products/{slug}/variants/new`
pub async fn add(
    state: web::Data<AppState>,
    layout: Layout,
    session: TypedSession,
    Admin(admin): Admin,
    path: web::Path<String>,
    form: CsrfForm<NewVariantForm>,
) -> Result<HttpResponse, AppError> {
    let slug = path.into_inner();
    let form = form.0;
    let currency = state.config.currency;
    let mut problems = Problems::new();
    let unit_amount = match super::products::priced(&form.price, form.free == "on", currency) {
        Ok(amount) => Some(amount),
        Err(message) => {
            problems.push(("new-price".into(), message));
            None
        }
    };
    let stock = match form.stock.trim() {
        "" => Some(None),
        n => parse_int_in(n, 0, MAX_UNITS).map(Some).or_else(|| {
            problems.push((
                "new-stock".into(),
                format!("Stock is a whole number from 0 to {MAX_UNITS}, or blank for no limit."),
            ));
            None
        }),
    };
    if [&form.option1, &form.option2, &form.sku]
        .iter()
        .any(|v| v.len() > MAX_VALUE)
    {
        problems.push(("new-option1".into(), "That is too long.".into()));
    }
    let refuse = |problems: Problems, form: NewVariantForm| {
        product_view(
            &state,
            layout,
            slug.clone(),
            Typed {
                new_variant: form,
                ..Typed::default()
            },
            errors_of(problems),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
    };
    let (Some(unit_amount), Some(stock), true) = (unit_amount, stock, problems.is_empty()) else {
        return refuse(problems, form).await;
    };
    let (id, name) = product_row(&state, slug.clone()).await?;
    let addition = Addition {
        values: Values {
            option1: form.option1.trim().to_owned(),
            option2: form.option2.trim().to_owned(),
            sku: form.sku.trim().to_owned(),
        },
        unit_amount,
        stock,
    };
    let (now, actor) = (state.clock.unix(), admin.id);
    let added = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            variants::add(conn, id, &addition, currency.code(), Some(actor), now)
        })
        .map_err(DbError::from)
    })
    .await?;
    match added {
        Ok(_) => {
            state.catalogue.invalidate();
            session.flash(format!(
                "Added the {} variant of {name}.",
                variants::label(form.option1.trim(), form.option2.trim())
            ))?;
            Ok(see_other(&format!("/admin/products/{slug}")))
        }
        Err(problems) => refuse(problems, form).await,
    }
}

/// `POST /admin/products/{slug}/variants/{id}/delete`
pub async fn remove(
    state: web::Data<AppState>,
    layout: Layout,
    session: TypedSession,
    Admin(admin): Admin,
    path: web::Path<(String, String)>,
    _form: CsrfForm<super::products::Confirm>,
) -> Result<HttpResponse, AppError> {
    let (slug, variant) = path.into_inner();
    let variant: i64 = variant.parse().map_err(|_| AppError::NotFound)?;
    let (id, name) = product_row(&state, slug.clone()).await?;
    let (now, actor) = (state.clock.unix(), admin.id);
    let removed = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            variants::remove(conn, id, variant, Some(actor), now)
        })
        .map_err(DbError::from)
    })
    .await?
    .ok_or(AppError::NotFound)?;
    let stripe = match removed {
        Err(refusal) => {
            let mut errors = FieldErrors::default();
            errors.add(&format!("v{variant}-remove"), refusal.to_string());
            return product_view(
                &state,
                layout,
                slug,
                Typed::default(),
                errors,
                StatusCode::CONFLICT,
            )
            .await;
        }
        Ok(Removed::Deleted(stripe)) => {
            session.flash(format!("Deleted a variant of {name}."))?;
            stripe
        }
        Ok(Removed::Retired(stripe)) => {
            session.flash(format!(
                "A variant of {name} is no longer for sale; its orders keep it."
            ))?;
            stripe
        }
    };
    state.catalogue.invalidate();
    for price in stripe {
        // `storefront stripe setup` retires any a failure leaves active.
        if let Err(e) = crate::payments::products::retire_price(&state.stripe, &price).await {
            tracing::warn!(price = %price, error = %crate::error::Report(&e), "could not retire a variant's Stripe price");
        }
    }
    Ok(see_other(&format!("/admin/products/{slug}")))
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::VariantsForm;

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("option1_name".to_owned()),
            Just("option2_name".to_owned()),
            "v-?[0-9]{0,20}-(option1|option2|sku|image|other)",
            ".{0,12}",
        ]
    }

    proptest! {
        /// Any set of fields the variants form could be sent decodes to a form or a 400, never
        /// a panic; a decoded form names each variant once.
        #[test]
        fn any_variants_form_decodes_or_is_refused(
            pairs in prop::collection::vec((key(), ".{0,30}"), 0..40),
        ) {
            if let Ok(form) = VariantsForm::parse(&pairs) {
                let mut ids: Vec<i64> = form.variants.iter().map(|v| v.id).collect();
                ids.sort_unstable();
                ids.dedup();
                prop_assert_eq!(ids.len(), form.variants.len());
            }
        }
    }
}
