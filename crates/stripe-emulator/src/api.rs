//! `/v1/…`: the Stripe API surface the shop uses.

use serde_json::{Map, Value, json};

use super::error::{ApiError, ApiResult};
use super::form::{P, Params, check};
use super::objects::{self, list};
use super::payments;
use super::store::{Ctx, new_id, public};

const LIST: &[(&str, P)] = &[
    ("limit", P::Int),
    ("starting_after", P::Str),
    ("ending_before", P::Str),
    ("created", P::Range),
    ("expand", P::Arr(&P::Str)),
];
const EXPAND_ONLY: &[(&str, P)] = &[("expand", P::Arr(&P::Str))];
const RECURRING: &[(&str, P)] = &[
    ("interval", P::Enum(&["day", "week", "month", "year"])),
    ("interval_count", P::Int),
    ("usage_type", P::Enum(&["licensed", "metered"])),
    ("trial_period_days", P::Int),
];
const PRODUCT_DATA: &[(&str, P)] = &[
    ("id", P::Str),
    ("active", P::Bool),
    ("name", P::Str),
    ("description", P::Str),
    ("metadata", P::Meta),
    ("images", P::Arr(&P::Str)),
    ("tax_code", P::Str),
    ("unit_label", P::Str),
    ("statement_descriptor", P::Str),
];

/// Run one API call. `segs` are the path segments after `/v1`.
pub fn route(ctx: &mut Ctx, method: &str, segs: &[&str], raw: &Value) -> ApiResult<Value> {
    let (obj, expand) = match (method, segs) {
        ("POST", ["products"]) => create_product(ctx, raw)?,
        ("GET", ["products"]) => list_simple(
            ctx,
            raw,
            "product",
            "/v1/products",
            &[
                ("active", P::Bool),
                ("ids", P::Arr(&P::Str)),
                ("shippable", P::Bool),
                ("url", P::Str),
            ],
        )?,
        ("GET", ["products", id]) => retrieve(ctx, raw, "product", id)?,
        ("POST", ["products", id]) => update_product(ctx, raw, id)?,
        ("DELETE", ["products", id]) => {
            ctx.fetch("product", id)?;
            ctx.delete(id)?;
            (
                json!({ "id": id, "object": "product", "deleted": true }),
                vec![],
            )
        }
        ("POST", ["prices"]) => create_price(ctx, raw)?,
        ("GET", ["prices"]) => list_simple(
            ctx,
            raw,
            "price",
            "/v1/prices",
            &[
                ("active", P::Bool),
                ("product", P::Str),
                ("currency", P::Str),
                ("type", P::Enum(&["one_time", "recurring"])),
                ("lookup_keys", P::Arr(&P::Str)),
                (
                    "recurring",
                    P::Obj(&[
                        ("interval", P::Str),
                        ("usage_type", P::Str),
                        ("meter", P::Str),
                    ]),
                ),
            ],
        )?,
        ("GET", ["prices", id]) => retrieve(ctx, raw, "price", id)?,
        ("POST", ["prices", id]) => update_price(ctx, raw, id)?,
        ("POST", ["customers"]) => create_customer(ctx, raw)?,
        ("GET", ["customers"]) => {
            list_simple(ctx, raw, "customer", "/v1/customers", &[("email", P::Str)])?
        }
        ("GET", ["customers", id]) => {
            // A deleted customer is still retrievable, as `{id, object, deleted: true}`.
            match ctx.get(id)? {
                Some(c) if c["object"] == "customer" && c["deleted"] == true => {
                    check(&P::Obj(EXPAND_ONLY), raw, "")?;
                    (c, vec![])
                }
                _ => retrieve(ctx, raw, "customer", id)?,
            }
        }
        ("POST", ["customers", id]) => update_customer(ctx, raw, id)?,
        ("DELETE", ["customers", id]) => {
            let cus = ctx.fetch("customer", id)?;
            let tombstone = json!({ "id": id, "object": "customer", "deleted": true });
            ctx.put(&tombstone)?;
            // The event carries the customer as it was, like Stripe's.
            ctx.emit("customer.deleted", &cus, None)?;
            (tombstone, vec![])
        }
        ("POST", ["checkout", "sessions"]) => super::checkout::create_session(ctx, raw)?,
        ("GET", ["checkout", "sessions"]) => list_simple(
            ctx,
            raw,
            "checkout.session",
            "/v1/checkout/sessions",
            &[
                ("customer", P::Str),
                ("payment_intent", P::Str),
                ("subscription", P::Str),
                ("status", P::Enum(&["complete", "expired", "open"])),
                ("payment_link", P::Str),
                ("customer_details", P::Obj(&[("email", P::Str)])),
            ],
        )?,
        ("GET", ["checkout", "sessions", id]) => {
            payments::lazy_expire(ctx, id)?;
            retrieve(ctx, raw, "checkout.session", id)?
        }
        ("POST", ["checkout", "sessions", id, "expire"]) => {
            super::checkout::expire_session(ctx, raw, id)?
        }
        ("GET", ["checkout", "sessions", id, "line_items"]) => {
            let p = check(&P::Obj(LIST), raw, "")?;
            let s = ctx.fetch("checkout.session", id)?;
            let items = s["_line_items"].as_array().cloned().unwrap_or_default();
            let url = format!("/v1/checkout/sessions/{id}/line_items");
            (paginate(ctx, items, &p, &url, "item")?, expand_of(&p))
        }
        ("GET", ["payment_intents"]) => list_simple(
            ctx,
            raw,
            "payment_intent",
            "/v1/payment_intents",
            &[("customer", P::Str)],
        )?,
        ("GET", ["payment_intents", id]) => retrieve(ctx, raw, "payment_intent", id)?,
        ("GET", ["charges"]) => list_simple(
            ctx,
            raw,
            "charge",
            "/v1/charges",
            &[("customer", P::Str), ("payment_intent", P::Str)],
        )?,
        ("GET", ["charges", id]) => retrieve(ctx, raw, "charge", id)?,
        ("POST", ["refunds"]) => payments::create_refund(ctx, raw)?,
        ("GET", ["refunds"]) => list_simple(
            ctx,
            raw,
            "refund",
            "/v1/refunds",
            &[("charge", P::Str), ("payment_intent", P::Str)],
        )?,
        ("GET", ["refunds", id]) => retrieve(ctx, raw, "refund", id)?,
        ("GET", ["events"]) => list_events(ctx, raw)?,
        ("GET", ["events", id]) => {
            let (mut ev, ex) = retrieve(ctx, raw, "event", id)?;
            let pending = super::store::pending_for_event(ctx.conn, id)?;
            ev["pending_webhooks"] = json!(pending);
            (ev, ex)
        }
        ("POST", ["webhook_endpoints"]) => create_webhook_endpoint(ctx, raw)?,
        ("GET", ["webhook_endpoints"]) => {
            list_simple(ctx, raw, "webhook_endpoint", "/v1/webhook_endpoints", &[])?
        }
        ("GET", ["webhook_endpoints", id]) => retrieve(ctx, raw, "webhook_endpoint", id)?,
        ("POST", ["webhook_endpoints", id]) => update_webhook_endpoint(ctx, raw, id)?,
        ("POST", ["webhook_endpoints", id, "test_event"]) => test_event(ctx, raw, id)?,
        ("GET", ["account"]) => {
            let p = check(&P::Obj(EXPAND_ONLY), raw, "")?;
            (objects::account(), expand_of(&p))
        }
        ("GET", ["tax", "settings"]) => {
            let p = check(&P::Obj(EXPAND_ONLY), raw, "")?;
            (objects::tax_settings(), expand_of(&p))
        }
        ("DELETE", ["webhook_endpoints", id]) => {
            ctx.fetch("webhook_endpoint", id)?;
            ctx.delete(id)?;
            (
                json!({ "id": id, "object": "webhook_endpoint", "deleted": true }),
                vec![],
            )
        }
        _ => {
            if let Some(r) = super::billing::route(ctx, method, segs, raw)? {
                r
            } else if let Some(r) = super::coupons::route(ctx, method, segs, raw)? {
                r
            } else if let Some(r) = super::shipping::route(ctx, method, segs, raw)? {
                r
            } else if let Some(r) = super::payment_methods::route(ctx, method, segs, raw)? {
                r
            } else if let Some(r) = super::disputes::route(ctx, method, segs, raw)? {
                r
            } else if let Some(r) = super::balance::route(ctx, method, segs, raw)? {
                r
            } else {
                return Err(ApiError::invalid(format!(
                    "Unrecognized request URL ({method}: /v1/{}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.",
                    segs.join("/")
                ))
                .status(404));
            }
        }
    };
    let mut out = public(&obj);
    // Like Stripe, an endpoint's signing secret is shown only when it is created.
    if method == "GET" {
        if out["object"] == "webhook_endpoint" {
            if let Some(m) = out.as_object_mut() {
                m.remove("secret");
            }
        }
        if let Some(items) = out["data"].as_array_mut() {
            for it in items
                .iter_mut()
                .filter(|i| i["object"] == "webhook_endpoint")
            {
                if let Some(m) = it.as_object_mut() {
                    m.remove("secret");
                }
            }
        }
    }
    for path in &expand {
        let segs: Vec<&str> = path.split('.').collect();
        if segs.len() > 4 {
            return Err(ApiError::param(
                "expand",
                "You cannot expand more than 4 levels of a property.",
            ));
        }
        expand_path(ctx, &mut out, &obj, &segs, path)?;
    }
    Ok(out)
}

pub type Routed = (Value, Vec<String>);

pub fn expand_of(p: &Value) -> Vec<String> {
    p["expand"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Fields Stripe leaves out unless expanded; the emulator keeps them as `_field`.
const INCLUDABLE: &[(&str, &str)] = &[
    ("item", "discounts"),
    ("item", "taxes"),
    ("coupon", "applies_to"),
    // `total_details` (no `object` field) of a Checkout Session.
    ("", "breakdown"),
    // `shipping_cost` (no `object` field) of a Checkout Session.
    ("", "taxes"),
];

/// A stored object fetched for an expansion, as the API shows it (coupons and promotion codes
/// with their time-dependent fields refreshed).
fn expanded(ctx: &mut Ctx, id: &str) -> ApiResult<Option<Value>> {
    let Some(mut obj) = ctx.get(id)? else {
        return Ok(None);
    };
    super::coupons::refresh(ctx, &mut obj)?;
    Ok(Some(obj))
}

/// Can this string be replaced by the object it names? Coupon ids are chosen by the caller, so
/// they are recognised by lookup rather than by prefix.
fn expandable_id(ctx: &mut Ctx, id: &str) -> ApiResult<bool> {
    Ok(super::store::kind_of_id(id).is_some()
        || ctx.get(id)?.is_some_and(|o| o["object"] == "coupon"))
}

/// Expandable fields absent from an object until they have a value.
const OPTIONAL_EXPANDABLE: &[(&str, &str)] = &[("refund", "failure_balance_transaction")];

fn expand_path(
    ctx: &mut Ctx,
    out: &mut Value,
    stored: &Value,
    segs: &[&str],
    full: &str,
) -> ApiResult<()> {
    let Some((head, rest)) = segs.split_first() else {
        return Ok(());
    };
    if out["object"] == "list" && *head == "data" {
        if let Some(items) = out["data"].as_array_mut() {
            for (i, item) in items.iter_mut().enumerate() {
                let id = item["id"].as_str().unwrap_or_default().to_string();
                let stored_item = match ctx.get(&id)? {
                    Some(o) => o,
                    None => stored["data"]
                        .get(i)
                        .filter(|s| s["id"] == item["id"])
                        .cloned()
                        .unwrap_or_else(|| item.clone()),
                };
                expand_path(ctx, item, &stored_item, rest, full)?;
            }
        }
        return Ok(());
    }
    let cannot = || {
        ApiError::param(
            "expand",
            format!("This property cannot be expanded ({full})."),
        )
    };
    if *head == "line_items" && out["object"] == "checkout.session" {
        let items = stored["_line_items"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let id = out["id"].as_str().unwrap_or_default();
        let has_more = items.len() > 10;
        let items: Vec<Value> = items.into_iter().take(10).collect();
        let stored_li = list(
            items,
            has_more,
            &format!("/v1/checkout/sessions/{id}/line_items"),
        );
        // Several `line_items…` paths add to one list.
        let mut li = if out["line_items"].is_object() {
            out["line_items"].clone()
        } else {
            public(&stored_li)
        };
        expand_path(ctx, &mut li, &stored_li, rest, full)?;
        out["line_items"] = li;
        return Ok(());
    }
    // Lists that Stripe includes only when expanded.
    if *head == "payments" && out["object"] == "invoice" {
        let mut l = stored["_payments"].clone();
        let stored_l = l.clone();
        expand_path(ctx, &mut l, &stored_l, rest, full)?;
        out["payments"] = public(&l);
        return Ok(());
    }
    if *head == "refunds" && out["object"] == "charge" {
        let id = out["id"].clone();
        let refunds: Vec<Value> = ctx
            .all("refund")?
            .into_iter()
            .filter(|r| r["charge"] == id)
            .map(|r| public(&r))
            .collect();
        let url = format!("/v1/charges/{}/refunds", id.as_str().unwrap_or_default());
        let mut l = list(refunds, false, &url);
        let stored_l = l.clone();
        expand_path(ctx, &mut l, &stored_l, rest, full)?;
        out["refunds"] = l;
        return Ok(());
    }
    let kind = out["object"].as_str().unwrap_or_default().to_string();
    let hidden = format!("_{head}");
    if out.get(*head).is_none()
        && INCLUDABLE.contains(&(kind.as_str(), *head))
        && stored.get(&hidden).is_some()
    {
        out[*head] = public(&stored[&hidden]);
        let stored_field = stored[&hidden].clone();
        let mut field = out[*head].clone();
        expand_field(ctx, &mut field, &stored_field, rest, full)?;
        out[*head] = field;
        return Ok(());
    }
    let Some(field) = out.get(*head) else {
        // Expandable fields Stripe leaves out until they have a value: asking is no error.
        if OPTIONAL_EXPANDABLE.contains(&(kind.as_str(), *head)) {
            return Ok(());
        }
        return Err(cannot());
    };
    let mut field = field.clone();
    let stored_field = stored.get(*head).cloned().unwrap_or(Value::Null);
    if field.is_string() && !expandable_id(ctx, field.as_str().unwrap_or_default())? {
        return Err(cannot());
    }
    if !matches!(
        field,
        Value::Null | Value::String(_) | Value::Object(_) | Value::Array(_)
    ) {
        return Err(cannot());
    }
    expand_field(ctx, &mut field, &stored_field, rest, full)?;
    out[*head] = field;
    Ok(())
}

/// Expand one field's value: an id becomes its object, an object or a list of ids/objects is
/// expanded further along `rest`.
fn expand_field(
    ctx: &mut Ctx,
    field: &mut Value,
    stored: &Value,
    rest: &[&str],
    full: &str,
) -> ApiResult<()> {
    match field {
        Value::String(id) => {
            let id = id.clone();
            if !expandable_id(ctx, &id)? {
                return Ok(());
            }
            if let Some(obj) = expanded(ctx, &id)? {
                let mut pubobj = public(&obj);
                expand_path(ctx, &mut pubobj, &obj, rest, full)?;
                *field = pubobj;
            }
            Ok(())
        }
        Value::Object(_) => {
            let inner_id = field["id"].as_str().unwrap_or_default().to_string();
            let stored_inner = match ctx.get(&inner_id)? {
                Some(o) if !inner_id.is_empty() => o,
                _ if stored.is_object() => stored.clone(),
                _ => field.clone(),
            };
            expand_path(ctx, field, &stored_inner, rest, full)
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let stored_item = stored.get(i).cloned().unwrap_or(Value::Null);
                expand_field(ctx, item, &stored_item, rest, full)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn retrieve(ctx: &mut Ctx, raw: &Value, kind: &str, id: &str) -> ApiResult<Routed> {
    let p = check(&P::Obj(EXPAND_ONLY), raw, "")?;
    Ok((ctx.fetch(kind, id)?, expand_of(&p)))
}

/// Filter by `created` and page with `limit`/`starting_after`/`ending_before`. Items keep their
/// internal fields (for `expand[]`); [`route`] strips them from the answer.
pub fn paginate(
    _ctx: &mut Ctx,
    items: Vec<Value>,
    p: &Value,
    url: &str,
    kind: &str,
) -> ApiResult<Value> {
    let limit = p.i("limit").unwrap_or(10);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::param(
            "limit",
            format!("Invalid limit: must be between 1 and 100 (got {limit})"),
        ));
    }
    let mut items: Vec<Value> = items
        .into_iter()
        .filter(|o| created_matches(o["created"].as_i64().unwrap_or(0), &p["created"]))
        .collect();
    if let Some(after) = p.s("starting_after") {
        let pos = items
            .iter()
            .position(|o| o["id"] == after.as_str())
            .ok_or_else(|| ApiError::no_such(kind, &after, Some("starting_after")).status(400))?;
        items.drain(..=pos);
    } else if let Some(before) = p.s("ending_before") {
        let pos = items
            .iter()
            .position(|o| o["id"] == before.as_str())
            .ok_or_else(|| ApiError::no_such(kind, &before, Some("ending_before")).status(400))?;
        items.truncate(pos);
        let start = items.len().saturating_sub(limit as usize);
        items.drain(..start);
    }
    let has_more = items.len() > limit as usize;
    items.truncate(limit as usize);
    Ok(list(items, has_more, url))
}

fn created_matches(created: i64, filter: &Value) -> bool {
    match filter {
        Value::Number(n) => n.as_i64() == Some(created),
        Value::Object(m) => m.iter().all(|(op, v)| {
            let Some(v) = v.as_i64() else { return true };
            match op.as_str() {
                "gt" => created > v,
                "gte" => created >= v,
                "lt" => created < v,
                "lte" => created <= v,
                _ => true,
            }
        }),
        _ => true,
    }
}

/// A list endpoint with equality filters on top-level fields.
pub fn list_simple(
    ctx: &mut Ctx,
    raw: &Value,
    kind: &str,
    url: &str,
    filters: &'static [(&'static str, P)],
) -> ApiResult<Routed> {
    let schema: Vec<(&str, &P)> = LIST
        .iter()
        .chain(filters.iter())
        .map(|(k, v)| (*k, v))
        .collect();
    let p = check_dyn(&schema, raw)?;
    let mut items = ctx.all(kind)?;
    for (name, _) in filters {
        let Some(want) = p.get(*name) else { continue };
        items.retain(|o| match (*name, want) {
            ("ids", Value::Array(ids)) => ids.contains(&o["id"]),
            ("lookup_keys", Value::Array(keys)) => keys.contains(&o["lookup_key"]),
            ("recurring", Value::Object(m)) => m.iter().all(|(k, v)| o["recurring"][k] == *v),
            ("customer_details", Value::Object(m)) => {
                m.iter().all(|(k, v)| o["customer_details"][k] == *v)
            }
            // Invoices name their subscription under `parent` in this API version.
            ("subscription", v) if o["object"] == "invoice" => {
                o["parent"]["subscription_details"]["subscription"] == *v
            }
            (field, v) => o[field] == *v,
        });
    }
    Ok((paginate(ctx, items, &p, url, kind)?, expand_of(&p)))
}

/// Check against a schema assembled at run time (the common list parameters plus filters).
fn check_dyn(schema: &[(&str, &P)], raw: &Value) -> ApiResult<Value> {
    let Value::Object(m) = raw else {
        return Ok(json!({}));
    };
    let mut out = Map::new();
    for (k, v) in m {
        let Some((_, sub)) = schema.iter().find(|(n, _)| n == k) else {
            return Err(ApiError::unknown_param(k));
        };
        out.insert(k.clone(), check(sub, v, k)?);
    }
    Ok(Value::Object(out))
}

pub fn merge_metadata(obj: &mut Value, p: &Value) {
    if let Some(meta) = p.get("metadata") {
        match meta.as_object() {
            Some(m) if m.is_empty() => obj["metadata"] = json!({}),
            Some(m) => {
                for (k, v) in m {
                    if v == "" {
                        if let Some(o) = obj["metadata"].as_object_mut() {
                            o.remove(k);
                        }
                    } else {
                        obj["metadata"][k] = v.clone();
                    }
                }
            }
            None => {}
        }
    }
}

fn required_str(p: &Value, key: &str) -> ApiResult<String> {
    match p.s(key) {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(ApiError::missing(key)),
    }
}

pub fn valid_currency(c: &str, param: &str) -> ApiResult<String> {
    let c = c.to_ascii_lowercase();
    if c.len() == 3 && c.chars().all(|ch| ch.is_ascii_lowercase()) {
        Ok(c)
    } else {
        Err(ApiError::param(
            param,
            format!(
                "Invalid currency: {c}. Stripe currently supports these currencies: usd, eur, gbp, jpy, …"
            ),
        ))
    }
}

const PRODUCT_PARAMS: &[(&str, P)] = &[
    ("id", P::Str),
    ("name", P::Str),
    ("description", P::Str),
    ("active", P::Bool),
    ("metadata", P::Meta),
    ("images", P::Arr(&P::Str)),
    ("url", P::Str),
    ("shippable", P::Bool),
    ("statement_descriptor", P::Str),
    ("unit_label", P::Str),
    ("tax_code", P::Str),
    ("default_price", P::Str),
    ("marketing_features", P::Arr(&P::Obj(&[("name", P::Str)]))),
    ("type", P::Enum(&["good", "service"])),
    (
        "package_dimensions",
        P::Obj(&[
            ("height", P::Str),
            ("length", P::Str),
            ("weight", P::Str),
            ("width", P::Str),
        ]),
    ),
    (
        "default_price_data",
        P::Obj(&[
            ("currency", P::Str),
            ("unit_amount", P::Int),
            ("unit_amount_decimal", P::Str),
            ("recurring", P::Obj(RECURRING)),
            (
                "tax_behavior",
                P::Enum(&["exclusive", "inclusive", "unspecified"]),
            ),
            ("metadata", P::Meta),
        ]),
    ),
    ("expand", P::Arr(&P::Str)),
];

/// Tax codes look like `txcd_99999999` (the emulator accepts any such code).
pub fn check_tax_code(p: &Value, param: &str) -> ApiResult<()> {
    if let Some(code) = p.s("tax_code") {
        let digits = code.strip_prefix("txcd_").unwrap_or_default();
        if digits.len() != 8 || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(ApiError::no_such("tax_code", &code, Some(param)).status(400));
        }
    }
    Ok(())
}

fn apply_product_fields(prod: &mut Value, p: &Value) {
    for key in [
        "name",
        "description",
        "url",
        "statement_descriptor",
        "unit_label",
        "tax_code",
    ] {
        if let Some(v) = p.get(key) {
            prod[key] = v.clone();
        }
    }
    for key in ["active", "shippable", "images", "type"] {
        if let Some(v) = p.get(key) {
            prod[key] = v.clone();
        }
    }
    if let Some(features) = p.get("marketing_features") {
        prod["marketing_features"] = features.clone();
    }
    if let Some(d) = p.get("package_dimensions").and_then(Value::as_object) {
        let num = |k: &str| {
            d.get(k)
                .and_then(Value::as_str)
                .and_then(|x| x.parse::<f64>().ok())
        };
        prod["package_dimensions"] = json!({
            "height": num("height"), "length": num("length"), "weight": num("weight"), "width": num("width"),
        });
    }
    merge_metadata(prod, p);
}

fn create_product(ctx: &mut Ctx, raw: &Value) -> ApiResult<Routed> {
    let p = check(&P::Obj(PRODUCT_PARAMS), raw, "")?;
    check_tax_code(&p, "tax_code")?;
    let name = required_str(&p, "name")?;
    let id = match p.s("id") {
        Some(id) => {
            if ctx.get(&id)?.is_some() {
                return Err(ApiError::param("id", "Product already exists.")
                    .code("resource_already_exists"));
            }
            id
        }
        None => new_id("prod_"),
    };
    let mut prod = objects::product(id.clone(), ctx.now, &name);
    apply_product_fields(&mut prod, &p);
    if p.get("default_price").is_some() {
        return Err(ApiError::unknown_param("default_price"));
    }
    if let Some(dp) = p.get("default_price_data") {
        let currency = valid_currency(
            &dp.s("currency")
                .ok_or_else(|| ApiError::missing("default_price_data[currency]"))?,
            "default_price_data[currency]",
        )?;
        let amount = unit_amount(dp, "default_price_data")?;
        let mut price = objects::price(
            ctx.now,
            &currency,
            amount,
            &id,
            dp.get("recurring").cloned(),
        );
        if let Some(tb) = dp.s("tax_behavior") {
            price["tax_behavior"] = json!(tb);
        }
        merge_metadata(&mut price, dp);
        ctx.put(&price)?;
        prod["default_price"] = price["id"].clone();
        ctx.put(&prod)?;
        ctx.emit("product.created", &prod, None)?;
        ctx.emit("price.created", &price, None)?;
    } else {
        ctx.put(&prod)?;
        ctx.emit("product.created", &prod, None)?;
    }
    Ok((prod, expand_of(&p)))
}

fn unit_amount(p: &Value, prefix: &str) -> ApiResult<i64> {
    let param = if prefix.is_empty() {
        "unit_amount".to_string()
    } else {
        format!("{prefix}[unit_amount]")
    };
    let amount = match (p.i("unit_amount"), p.s("unit_amount_decimal")) {
        (Some(a), _) => a,
        (None, Some(d)) => d.parse::<f64>().map(|f| f.round() as i64).map_err(|_| {
            ApiError::param(format!("{prefix}[unit_amount_decimal]"), "Invalid decimal")
        })?,
        (None, None) => return Err(ApiError::missing(&param)),
    };
    if !(0..=99_999_999_999).contains(&amount) {
        return Err(ApiError::param(
            param,
            "Invalid integer: unit_amount must be between 0 and 99999999999",
        ));
    }
    Ok(amount)
}

fn update_product(ctx: &mut Ctx, raw: &Value, id: &str) -> ApiResult<Routed> {
    let p = check(&P::Obj(PRODUCT_PARAMS), raw, "")?;
    check_tax_code(&p, "tax_code")?;
    if p.get("id").is_some() || p.get("default_price_data").is_some() {
        return Err(ApiError::unknown_param(if p.get("id").is_some() {
            "id"
        } else {
            "default_price_data"
        }));
    }
    let mut prod = ctx.fetch("product", id)?;
    let before = prod.clone();
    apply_product_fields(&mut prod, &p);
    if let Some(dp) = p.s("default_price") {
        let price = ctx.fetch_param("price", &dp, "default_price")?;
        if price["product"] != id {
            return Err(ApiError::param(
                "default_price",
                "The price must belong to this product.",
            ));
        }
        prod["default_price"] = json!(dp);
    }
    prod["updated"] = json!(ctx.now);
    ctx.put(&prod)?;
    ctx.emit("product.updated", &prod, Some(previous(&before, &prod)))?;
    Ok((prod, expand_of(&p)))
}

/// `previous_attributes`: the old values of changed top-level fields.
pub fn previous(before: &Value, after: &Value) -> Value {
    let mut prev = Map::new();
    if let (Some(b), Some(a)) = (before.as_object(), after.as_object()) {
        for (k, v) in b {
            if k.starts_with('_') || k == "updated" {
                continue;
            }
            if a.get(k) != Some(v) {
                prev.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(prev)
}

const PRICE_PARAMS: &[(&str, P)] = &[
    ("currency", P::Str),
    ("unit_amount", P::Int),
    ("unit_amount_decimal", P::Str),
    ("product", P::Str),
    ("product_data", P::Obj(PRODUCT_DATA)),
    ("recurring", P::Obj(RECURRING)),
    ("active", P::Bool),
    ("metadata", P::Meta),
    ("nickname", P::Str),
    ("lookup_key", P::Str),
    ("transfer_lookup_key", P::Bool),
    (
        "tax_behavior",
        P::Enum(&["exclusive", "inclusive", "unspecified"]),
    ),
    ("billing_scheme", P::Enum(&["per_unit"])),
    ("expand", P::Arr(&P::Str)),
];

/// Create a price from `price_data`-like params; also used by Checkout's inline prices.
pub fn make_price(ctx: &mut Ctx, p: &Value, prefix: &str) -> ApiResult<Value> {
    let name = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}[{k}]")
        }
    };
    let currency = valid_currency(
        &p.s("currency")
            .ok_or_else(|| ApiError::missing(&name("currency")))?,
        &name("currency"),
    )?;
    let amount = unit_amount(p, prefix)?;
    let product_id = match (p.s("product"), p.get("product_data")) {
        (Some(_), Some(_)) => {
            return Err(ApiError::param(
                name("product_data"),
                "You may only specify one of these parameters: product, product_data.",
            ));
        }
        (Some(pid), None) => {
            ctx.fetch_param("product", &pid, &name("product"))?;
            pid
        }
        (None, Some(pd)) => {
            check_tax_code(pd, &format!("{}[tax_code]", name("product_data")))?;
            let pname = pd
                .s("name")
                .filter(|s| !s.is_empty())
                .ok_or_else(|| ApiError::missing(&format!("{}[name]", name("product_data"))))?;
            let pid = match pd.s("id") {
                Some(id) if ctx.get(&id)?.is_some() => {
                    return Err(ApiError::param(
                        format!("{}[id]", name("product_data")),
                        "Product already exists.",
                    )
                    .code("resource_already_exists"));
                }
                Some(id) => id,
                None => new_id("prod_"),
            };
            let mut prod = objects::product(pid, ctx.now, &pname);
            apply_product_fields(&mut prod, pd);
            ctx.put(&prod)?;
            ctx.emit("product.created", &prod, None)?;
            prod["id"].as_str().unwrap_or_default().to_string()
        }
        (None, None) => return Err(ApiError::missing(&name("product"))),
    };
    let recurring = p.get("recurring").cloned();
    if let Some(r) = &recurring {
        if r.get("interval").is_none() {
            return Err(ApiError::missing(&format!(
                "{}[interval]",
                name("recurring")
            )));
        }
        if let Some(n) = r.i("interval_count") {
            if !(1..=36).contains(&n) {
                return Err(ApiError::param(
                    format!("{}[interval_count]", name("recurring")),
                    "Invalid interval_count: must be between 1 and 36",
                ));
            }
        }
    }
    let mut price = objects::price(ctx.now, &currency, amount, &product_id, recurring);
    if let Some(tb) = p.s("tax_behavior") {
        price["tax_behavior"] = json!(tb);
    }
    Ok(price)
}

fn create_price(ctx: &mut Ctx, raw: &Value) -> ApiResult<Routed> {
    let p = check(&P::Obj(PRICE_PARAMS), raw, "")?;
    let mut price = make_price(ctx, &p, "")?;
    for key in ["active", "nickname"] {
        if let Some(v) = p.get(key) {
            price[key] = v.clone();
        }
    }
    if let Some(lk) = p.s("lookup_key") {
        for mut other in ctx.all("price")? {
            if other["lookup_key"] == lk.as_str() {
                if p.b("transfer_lookup_key") == Some(true) {
                    other["lookup_key"] = Value::Null;
                    ctx.put(&other)?;
                } else {
                    return Err(ApiError::param(
                        "lookup_key",
                        format!(
                            "A price (`{}`) already uses that lookup key.",
                            other["id"].as_str().unwrap_or_default()
                        ),
                    ));
                }
            }
        }
        price["lookup_key"] = json!(lk);
    }
    merge_metadata(&mut price, &p);
    ctx.put(&price)?;
    ctx.emit("price.created", &price, None)?;
    Ok((price, expand_of(&p)))
}

fn update_price(ctx: &mut Ctx, raw: &Value, id: &str) -> ApiResult<Routed> {
    const S: &[(&str, P)] = &[
        ("active", P::Bool),
        ("metadata", P::Meta),
        ("nickname", P::Str),
        ("lookup_key", P::Str),
        ("transfer_lookup_key", P::Bool),
        (
            "tax_behavior",
            P::Enum(&["exclusive", "inclusive", "unspecified"]),
        ),
        ("expand", P::Arr(&P::Str)),
    ];
    let p = check(&P::Obj(S), raw, "")?;
    let mut price = ctx.fetch("price", id)?;
    let before = price.clone();
    if let Some(tb) = p.s("tax_behavior") {
        let current = price["tax_behavior"].as_str().unwrap_or("unspecified");
        if current != "unspecified" && current != tb {
            return Err(ApiError::param(
                "tax_behavior",
                format!(
                    "The tax_behavior of a price cannot be changed once it is set to `inclusive` or `exclusive` (this price's is `{current}`). Create a new price instead."
                ),
            ));
        }
    }
    for key in ["active", "nickname", "lookup_key", "tax_behavior"] {
        if let Some(v) = p.get(key) {
            price[key] = v.clone();
        }
    }
    merge_metadata(&mut price, &p);
    ctx.put(&price)?;
    ctx.emit("price.updated", &price, Some(previous(&before, &price)))?;
    Ok((price, expand_of(&p)))
}

const CUSTOMER_PARAMS: &[(&str, P)] = &[
    ("email", P::Str),
    ("name", P::Str),
    ("description", P::Str),
    ("phone", P::Str),
    ("metadata", P::Meta),
    ("preferred_locales", P::Arr(&P::Str)),
    (
        "address",
        P::Obj(&[
            ("line1", P::Str),
            ("line2", P::Str),
            ("city", P::Str),
            ("state", P::Str),
            ("postal_code", P::Str),
            ("country", P::Str),
        ]),
    ),
    ("tax_exempt", P::Enum(&["exempt", "none", "reverse"])),
    (
        "shipping",
        P::Obj(&[
            ("name", P::Str),
            ("phone", P::Str),
            (
                "address",
                P::Obj(&[
                    ("line1", P::Str),
                    ("line2", P::Str),
                    ("city", P::Str),
                    ("state", P::Str),
                    ("postal_code", P::Str),
                    ("country", P::Str),
                ]),
            ),
        ]),
    ),
    ("payment_method", P::Str),
    (
        "invoice_settings",
        P::Obj(&[("default_payment_method", P::Str)]),
    ),
    ("expand", P::Arr(&P::Str)),
];

/// An address parameter as stored: every field present, the ones not given `null`.
fn full_address(given: &Value) -> Value {
    let mut full = objects::empty_address();
    if let (Some(f), Some(given)) = (full.as_object_mut(), given.as_object()) {
        for (k, v) in given {
            f.insert(k.clone(), v.clone());
        }
    }
    full
}

fn apply_customer_fields(ctx: &mut Ctx, cus: &mut Value, p: &Value) -> ApiResult<()> {
    if let Some(a) = p.get("address") {
        cus["address"] = if a.is_null() {
            Value::Null
        } else {
            full_address(a)
        };
    }
    // `shipping=""` clears; otherwise `name` and `address` are required, as on Stripe.
    if let Some(sh) = p.get("shipping") {
        cus["shipping"] = if sh.is_null() {
            Value::Null
        } else {
            let name = sh
                .s("name")
                .filter(|n| !n.trim().is_empty())
                .ok_or_else(|| ApiError::missing("shipping[name]"))?;
            let address = sh
                .get("address")
                .filter(|a| a.is_object())
                .ok_or_else(|| ApiError::missing("shipping[address]"))?;
            json!({
                "address": full_address(address),
                "name": name,
                "phone": sh.get("phone").filter(|v| *v != "").cloned().unwrap_or(Value::Null),
            })
        };
    }
    for key in [
        "email",
        "name",
        "description",
        "phone",
        "preferred_locales",
        "tax_exempt",
    ] {
        if let Some(v) = p.get(key) {
            cus[key] = if v == "" { Value::Null } else { v.clone() };
        }
    }
    if let Some(email) = p.s("email") {
        if !email.is_empty() && !email.contains('@') {
            return Err(
                ApiError::param("email", format!("Invalid email address: {email}"))
                    .code("email_invalid"),
            );
        }
    }
    if let Some(pm) = p
        .get("invoice_settings")
        .and_then(|i| i.s("default_payment_method"))
    {
        ctx.fetch_param(
            "payment_method",
            &pm,
            "invoice_settings[default_payment_method]",
        )?;
        cus["invoice_settings"]["default_payment_method"] = json!(pm);
    }
    merge_metadata(cus, p);
    Ok(())
}

fn create_customer(ctx: &mut Ctx, raw: &Value) -> ApiResult<Routed> {
    let p = check(&P::Obj(CUSTOMER_PARAMS), raw, "")?;
    let mut cus = objects::customer(ctx.now);
    if p.get("payment_method").is_some() {
        return Err(ApiError::param(
            "payment_method",
            "The emulator attaches payment methods only through Checkout and the Billing Portal.",
        ));
    }
    apply_customer_fields(ctx, &mut cus, &p)?;
    ctx.put(&cus)?;
    ctx.emit("customer.created", &cus, None)?;
    Ok((cus, expand_of(&p)))
}

fn update_customer(ctx: &mut Ctx, raw: &Value, id: &str) -> ApiResult<Routed> {
    let p = check(&P::Obj(CUSTOMER_PARAMS), raw, "")?;
    let mut cus = ctx.fetch("customer", id)?;
    let before = cus.clone();
    apply_customer_fields(ctx, &mut cus, &p)?;
    ctx.put(&cus)?;
    ctx.emit("customer.updated", &cus, Some(previous(&before, &cus)))?;
    Ok((cus, expand_of(&p)))
}

fn list_events(ctx: &mut Ctx, raw: &Value) -> ApiResult<Routed> {
    const S: &[(&str, P)] = &[
        ("limit", P::Int),
        ("starting_after", P::Str),
        ("ending_before", P::Str),
        ("created", P::Range),
        ("expand", P::Arr(&P::Str)),
        ("type", P::Str),
        ("types", P::Arr(&P::Str)),
        ("delivery_success", P::Bool),
    ];
    let p = check(&P::Obj(S), raw, "")?;
    let mut items = ctx.all("event")?;
    let matches = |pattern: &str, t: &str| match pattern.strip_suffix('*') {
        Some(prefix) => t.starts_with(prefix),
        None => pattern == t,
    };
    if let Some(t) = p.s("type") {
        items.retain(|e| matches(&t, e["type"].as_str().unwrap_or_default()));
    }
    if let Some(ok) = p.b("delivery_success") {
        let undelivered = super::store::undelivered_events(ctx.conn)?;
        items.retain(|e| undelivered.contains(e["id"].as_str().unwrap_or_default()) != ok);
    }
    if let Some(ts) = p["types"].as_array() {
        items.retain(|e| {
            ts.iter().any(|t| {
                matches(
                    t.as_str().unwrap_or_default(),
                    e["type"].as_str().unwrap_or_default(),
                )
            })
        });
    }
    Ok((
        paginate(ctx, items, &p, "/v1/events", "event")?,
        expand_of(&p),
    ))
}

const ENDPOINT_PARAMS: &[(&str, P)] = &[
    ("url", P::Str),
    ("enabled_events", P::Arr(&P::Str)),
    ("description", P::Str),
    ("metadata", P::Meta),
    ("api_version", P::Str),
    ("connect", P::Bool),
    ("disabled", P::Bool),
    ("expand", P::Arr(&P::Str)),
];

fn valid_url(u: &str, param: &str) -> ApiResult<()> {
    match url::Url::parse(u) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Ok(()),
        _ => Err(ApiError::param(
            param,
            format!("Invalid URL: {u}. URLs must begin with http:// or https://"),
        )
        .code("url_invalid")),
    }
}

fn create_webhook_endpoint(ctx: &mut Ctx, raw: &Value) -> ApiResult<Routed> {
    let p = check(&P::Obj(ENDPOINT_PARAMS), raw, "")?;
    let u = required_str(&p, "url")?;
    valid_url(&u, "url")?;
    let events: Vec<String> = p["enabled_events"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if events.is_empty() {
        return Err(ApiError::missing("enabled_events"));
    }
    let secret = format!("whsec_{}", super::store::random_token(32));
    let mut ep = objects::webhook_endpoint(ctx.now, &u, events, &secret);
    if let Some(v) = p.get("api_version") {
        ep["api_version"] = v.clone();
    }
    if let Some(v) = p.get("description") {
        ep["description"] = v.clone();
    }
    merge_metadata(&mut ep, &p);
    ctx.put(&ep)?;
    Ok((ep, expand_of(&p)))
}

fn update_webhook_endpoint(ctx: &mut Ctx, raw: &Value, id: &str) -> ApiResult<Routed> {
    let p = check(&P::Obj(ENDPOINT_PARAMS), raw, "")?;
    let mut ep = ctx.fetch("webhook_endpoint", id)?;
    if let Some(u) = p.s("url") {
        valid_url(&u, "url")?;
        ep["url"] = json!(u);
    }
    if let Some(e) = p.get("enabled_events") {
        ep["enabled_events"] = e.clone();
    }
    if let Some(d) = p.b("disabled") {
        ep["status"] = json!(if d { "disabled" } else { "enabled" });
    }
    if let Some(v) = p.get("description") {
        ep["description"] = v.clone();
    }
    merge_metadata(&mut ep, &p);
    ctx.put(&ep)?;
    // Like Stripe, the secret is only shown at creation.
    let mut shown = ep.clone();
    if let Some(m) = shown.as_object_mut() {
        m.remove("secret");
    }
    Ok((shown, expand_of(&p)))
}

/// Register or update (by URL) the configured endpoint, with a fixed secret.
pub fn ensure_endpoint(ctx: &mut Ctx, target: &super::WebhookTarget) -> ApiResult<()> {
    let url = target.url.as_str();
    let existing = ctx
        .all("webhook_endpoint")?
        .into_iter()
        .find(|e| e["url"] == url);
    let events = if target.enabled_events.is_empty() {
        vec!["*".to_string()]
    } else {
        target.enabled_events.clone()
    };
    let mut ep = match existing {
        Some(mut ep) => {
            ep["secret"] = json!(target.secret);
            ep["enabled_events"] = json!(events);
            ep["status"] = json!("enabled");
            ep
        }
        None => objects::webhook_endpoint(ctx.now, url, events, &target.secret),
    };
    ep["api_version"] = json!(target.api_version);
    ctx.put(&ep)
}

/// `POST /v1/webhook_endpoints/{id}/test_event` (the emulator's own; Stripe's Dashboard has a
/// button instead): a signed `emulator.test_event` delivered to this endpoint only, like any
/// event (retried until it is answered 2xx). Whether it arrived shows in the event's
/// `pending_webhooks`, as on Stripe.
fn test_event(ctx: &mut Ctx, raw: &Value, id: &str) -> ApiResult<Routed> {
    let p = check(&P::Obj(&[("expand", P::Arr(&P::Str))]), raw, "")?;
    let ep = ctx.fetch("webhook_endpoint", id)?;
    if ep["status"] != "enabled" {
        return Err(ApiError::invalid("This webhook endpoint is disabled."));
    }
    let object = json!({ "id": id, "object": "webhook_endpoint", "url": ep["url"] });
    let event = ctx.emit_to("emulator.test_event", &object, None, Some(id))?;
    Ok((event, expand_of(&p)))
}
