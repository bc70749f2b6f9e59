//! `POST /admin/orders/{number}/refunds`: parse, reserve in one transaction, ask Stripe, flash.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};

use super::order::{Typed, load, order_page};
use super::{NOTE_MAX_CHARS, plausible};
use crate::accounts::auth::Admin;
use crate::admin::refunds::{self, Refusal, Reserved};
use crate::admin::sync::{self, Submitted};
use crate::db::{self, DbError, write_tx};
use crate::error::AppError;
use crate::money::{Money, MoneyParseError};
use crate::orders::queries;
use crate::state::AppState;
use crate::web::field_errors::FieldErrors;
use crate::web::forms::parse_int_in;
use crate::web::layout::Layout;
use crate::web::see_other;
use crate::web::session::{CsrfForm, TypedSession};

fn amount_message(e: &MoneyParseError) -> String {
    match e {
        MoneyParseError::Empty => "Enter the amount to refund, like 12.50.".into(),
        MoneyParseError::Negative => "The amount cannot be negative.".into(),
        MoneyParseError::NotANumber => "Enter a number, like 12.50.".into(),
        MoneyParseError::TooPrecise { decimals: 0 } => {
            "This currency has no decimals; enter a whole number.".into()
        }
        MoneyParseError::TooPrecise { decimals } => {
            format!("Use at most {decimals} decimal places.")
        }
        MoneyParseError::TooLarge => "That amount is too large.".into(),
    }
}

pub async fn refund(
    state: web::Data<AppState>,
    layout: Layout,
    session: TypedSession,
    Admin(admin): Admin,
    path: web::Path<String>,
    form: CsrfForm<HashMap<String, String>>,
) -> Result<HttpResponse, AppError> {
    let number = plausible(&path.into_inner())?;
    let fields = form.0;
    let token = fields
        .get("token")
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty() && t.len() <= 100)
        .ok_or_else(|| AppError::BadRequest("The refund form was incomplete.".into()))?;
    let n = number.clone();
    let (order, items) = db::run(&state.pool, move |conn| {
        let order = queries::by_number(conn, &n)?.ok_or(AppError::NotFound)?;
        let items = queries::items(conn, &order)?;
        Ok::<_, AppError>((order, items))
    })
    .await?;
    let currency = order.currency();

    // Parse every field into domain values; collect messages for the ones that fail.
    let mut errors = FieldErrors::default();
    let typed = Typed {
        amount: fields.get("amount").cloned(),
        reason: fields.get("reason").cloned(),
        note: fields.get("note").cloned().unwrap_or_default(),
        restock: items
            .iter()
            .filter_map(|i| {
                fields
                    .get(&format!("restock_{}", i.id))
                    .map(|v| (i.id, v.clone()))
            })
            .collect(),
        line: None,
        ship: None,
        returned: items
            .iter()
            .filter(|i| fields.contains_key(&format!("returned_{}", i.id)))
            .map(|i| i.id)
            .collect(),
    };
    // Hidden, from "refund this line": anything but one of the order's lines is a forged form.
    let typed = match fields
        .get("line")
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
    {
        None => typed,
        Some(raw) => match raw
            .parse::<i64>()
            .ok()
            .filter(|id| items.iter().any(|i| i.id == *id))
        {
            Some(id) => Typed {
                line: Some(id),
                ..typed
            },
            None => {
                return Err(AppError::BadRequest(
                    "The refund form named a line that is not on this order.".into(),
                ));
            }
        },
    };
    let amount = match Money::parse_major(typed.amount.as_deref().unwrap_or(""), currency) {
        Ok(m) if m.amount == 0 => {
            errors.add("amount", "Enter an amount greater than zero.");
            None
        }
        Ok(m) => Some(m.amount),
        Err(e) => {
            errors.add("amount", amount_message(&e));
            None
        }
    };
    let reason = typed
        .reason
        .as_deref()
        .filter(|r| refunds::REASONS.iter().any(|(v, _)| v == r))
        .map(str::to_owned);
    if reason.is_none() {
        errors.add("reason", "Choose one of the reasons.");
    }
    let note = typed.note.trim().to_owned();
    if note.chars().count() > NOTE_MAX_CHARS {
        errors.add(
            "note",
            format!("Keep the note under {NOTE_MAX_CHARS} characters."),
        );
    }
    let mut restock = Vec::new();
    for item in &items {
        let raw = typed
            .restock
            .get(&item.id)
            .map(String::as_str)
            .unwrap_or("0");
        match parse_int_in(raw, 0, item.quantity) {
            Some(0) => {}
            Some(q) => restock.push((item.id, q)),
            None => errors.add(
                &format!("restock_{}", item.id),
                format!("Enter a whole number from 0 to {}.", item.quantity),
            ),
        }
    }

    let now = state.clock.unix();
    let rerender = |errors: FieldErrors, typed: Typed, token: String| {
        let (state, layout, number) = (state.clone(), layout.clone(), number.clone());
        let admin_id = admin.id;
        async move {
            let loaded = db::run(&state.pool, move |conn| {
                load(conn, &number, admin_id, Some(token), now)
            })
            .await?;
            order_page(
                &state,
                layout,
                loaded,
                typed,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    };
    let (Some(amount), Some(reason), true) = (amount, reason, errors.is_empty()) else {
        return rerender(errors, typed, token).await;
    };

    let request = refunds::Request {
        idempotency_key: state.stripe.key(&format!("refund-{token}")),
        token: token.clone(),
        admin_id: admin.id,
        amount,
        reason,
        note: (!note.is_empty()).then_some(note),
        restock,
        line: typed.line,
        returned: typed.returned.clone(),
    };
    let order_id = order.id;
    let reserved = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| refunds::reserve(conn, order_id, &request, now))
            .map_err(DbError::from)
    })
    .await?;
    let target = format!("/admin/orders/{number}");
    let (refund, replay) = match reserved {
        Reserved::New(r) => (r, false),
        Reserved::AlreadySubmitted(r) if r.awaiting_stripe() => (r, true),
        Reserved::AlreadySubmitted(r) => {
            session.flash(format!(
                "This refund was already submitted: {} of {} is {}.",
                r.stripe_refund_id.as_deref().unwrap_or("the refund"),
                Money::new(r.amount, currency),
                r.label().to_lowercase()
            ))?;
            return Ok(see_other(&target));
        }
        Reserved::Refused(Refusal::BadToken) => {
            session.flash("This refund form has expired. Check the refunds below, then try again with the new form.")?;
            return Ok(see_other(&target));
        }
        Reserved::Refused(Refusal::TooMuch { refundable }) => {
            let mut errors = FieldErrors::default();
            errors.add(
                "amount",
                if refundable > 0 {
                    format!(
                        "At most {} can still be refunded (refunds already made or pending count against the total).",
                        Money::new(refundable, currency)
                    )
                } else {
                    "Nothing is left to refund on this order.".to_owned()
                },
            );
            return rerender(errors, typed, token).await;
        }
        Reserved::Refused(Refusal::TooManyUnits { item_id, max }) => {
            let mut errors = FieldErrors::default();
            errors.add(
                &format!("restock_{item_id}"),
                format!("At most {max} unit(s) of this line can still go back to stock."),
            );
            return rerender(errors, typed, token).await;
        }
    };

    let money = Money::new(refund.amount, currency);
    let message = match sync::submit(&state, &order, &refund, Some(admin.id), replay)
        .await
        .map_err(|e| AppError::Internal(e.into()))?
    {
        Submitted::Created(r) if r.status == refunds::SUCCEEDED => {
            format!("Refund of {money} issued.")
        }
        Submitted::Created(r) if r.status == refunds::PENDING => {
            format!("Refund of {money} requested; Stripe reports it pending.")
        }
        Submitted::Created(r) => format!(
            "Refund of {money} {}: {}",
            r.status,
            r.failure_message.as_deref().unwrap_or("no reason given")
        ),
        Submitted::Refused(m) => {
            format!("Stripe refused the refund of {money}; nothing was refunded. Stripe said: {m}")
        }
        Submitted::Unknown => format!(
            "We could not confirm the refund of {money} with Stripe. It stays pending; submitting the same form again retries it safely."
        ),
    };
    session.flash(message)?;
    Ok(see_other(&target))
}
