//! Stripe's bracketed form encoding (`a[b][0][c]=…`, `expand[]=…`) and parameter schemas.
//!
//! A body is decoded into a JSON tree of strings, then checked against a [`P`] schema that
//! rejects unknown parameters and converts strings into integers, booleans and arrays.

use serde_json::{Map, Value};

use super::error::{ApiError, ApiResult};

/// Deepest bracket nesting accepted (`a[b][c]…`).
pub const MAX_DEPTH: usize = 8;

/// Parameter schema.
#[derive(Debug)]
pub enum P {
    Str,
    Int,
    /// A decimal number (`percent_off=12.5`).
    Num,
    Bool,
    Enum(&'static [&'static str]),
    /// `metadata`: string keys to string values (`""` clears).
    Meta,
    Obj(&'static [(&'static str, P)]),
    Arr(&'static P),
    /// An integer or a range object (`created[gte]=…`).
    Range,
}

/// Decode a form (or query string) into a tree of strings.
pub fn parse_form(input: &[u8]) -> ApiResult<Value> {
    let mut root = Map::new();
    for (k, v) in url::form_urlencoded::parse(input) {
        let segs = split_key(&k).ok_or_else(|| {
            ApiError::invalid(format!("Invalid parameter name: {k}")).code("parameter_invalid")
        })?;
        insert(&mut root, &segs, v.into_owned(), &k)?;
    }
    Ok(Value::Object(root))
}

fn split_key(k: &str) -> Option<Vec<String>> {
    let (head, mut rest) = match k.find('[') {
        Some(i) => (&k[..i], &k[i..]),
        None => (k, ""),
    };
    if head.is_empty() {
        return None;
    }
    let mut segs = vec![head.to_string()];
    while !rest.is_empty() {
        if !rest.starts_with('[') {
            return None;
        }
        let end = rest.find(']')?;
        let seg = &rest[1..end];
        if seg.contains('[') {
            return None;
        }
        segs.push(seg.to_string());
        if segs.len() > MAX_DEPTH {
            return None;
        }
        rest = &rest[end + 1..];
    }
    Some(segs)
}

fn insert(node: &mut Map<String, Value>, segs: &[String], v: String, full: &str) -> ApiResult<()> {
    let mut key = segs[0].clone();
    if key.is_empty() {
        // `[]`: append at the next free index.
        key = node.len().to_string();
    }
    if segs.len() == 1 {
        if matches!(node.get(&key), Some(Value::Object(_))) {
            return Err(ApiError::invalid(format!(
                "Invalid parameter: {full} is given both as a value and as a hash"
            )));
        }
        node.insert(key, Value::String(v));
        return Ok(());
    }
    let child = node.entry(key).or_insert_with(|| Value::Object(Map::new()));
    match child {
        Value::Object(m) => insert(m, &segs[1..], v, full),
        _ => Err(ApiError::invalid(format!(
            "Invalid parameter: {full} is given both as a value and as a hash"
        ))),
    }
}

fn fmt_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}[{key}]")
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Check a decoded tree against a schema; returns typed JSON.
pub fn check(schema: &P, v: &Value, path: &str) -> ApiResult<Value> {
    match schema {
        P::Str => match v {
            Value::String(_) => Ok(v.clone()),
            _ => Err(
                ApiError::param(path, format!("Invalid string: {}", describe(v)))
                    .code("parameter_invalid_string"),
            ),
        },
        P::Int | P::Range if v.is_string() => {
            let s = v.as_str().unwrap_or_default();
            if s.is_empty() {
                return Ok(Value::Null);
            }
            s.trim().parse::<i64>().map(Value::from).map_err(|_| {
                ApiError::param(path, format!("Invalid integer: {s}"))
                    .code("parameter_invalid_integer")
            })
        }
        P::Int => Err(
            ApiError::param(path, format!("Invalid integer: {}", describe(v)))
                .code("parameter_invalid_integer"),
        ),
        P::Num => {
            let s = v.as_str().unwrap_or_default().trim();
            if s.is_empty() && v.is_string() {
                return Ok(Value::Null);
            }
            s.parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| {
                    ApiError::param(path, format!("Invalid decimal: {}", describe(v)))
                        .code("parameter_invalid_decimal")
                })
        }
        P::Range => {
            static RANGE: P = P::Obj(&[
                ("gt", P::Int),
                ("gte", P::Int),
                ("lt", P::Int),
                ("lte", P::Int),
            ]);
            check(&RANGE, v, path)
        }
        P::Bool => match v.as_str() {
            Some("true") => Ok(Value::Bool(true)),
            Some("false") => Ok(Value::Bool(false)),
            _ => Err(ApiError::param(
                path,
                format!("Invalid boolean: {}", describe(v)),
            )),
        },
        P::Enum(options) => match v.as_str() {
            Some(s) if options.contains(&s) => Ok(v.clone()),
            _ => Err(ApiError::param(
                path,
                format!("Invalid {}: must be one of {}", path, options.join(", ")),
            )),
        },
        P::Meta => match v {
            Value::String(s) if s.is_empty() => Ok(Value::Object(Map::new())),
            Value::Object(m) => {
                if m.len() > 50 {
                    return Err(ApiError::param(
                        path,
                        "You can specify up to 50 keys in metadata.",
                    ));
                }
                for (k, val) in m {
                    let p = fmt_path(path, k);
                    if k.chars().count() > 40 {
                        return Err(ApiError::param(
                            p,
                            "Metadata keys can be at most 40 characters long.",
                        ));
                    }
                    match val {
                        Value::String(s) if s.chars().count() <= 500 => {}
                        Value::String(_) => {
                            return Err(ApiError::param(
                                p,
                                "Metadata values can be at most 500 characters long.",
                            ));
                        }
                        _ => {
                            return Err(ApiError::param(
                                p,
                                "Invalid metadata value: must be a string",
                            ));
                        }
                    }
                }
                Ok(v.clone())
            }
            _ => Err(ApiError::param(path, "Invalid metadata: must be a hash")),
        },
        P::Obj(fields) => match v {
            Value::String(s) if s.is_empty() && !path.is_empty() => Ok(Value::Null),
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, val) in m {
                    let p = fmt_path(path, k);
                    let Some((_, sub)) = fields.iter().find(|(name, _)| name == k) else {
                        return Err(ApiError::unknown_param(&p));
                    };
                    let typed = check(sub, val, &p)?;
                    out.insert(k.clone(), typed);
                }
                Ok(Value::Object(out))
            }
            _ => Err(
                ApiError::param(path, format!("Invalid hash: {}", describe(v)))
                    .code("parameter_invalid"),
            ),
        },
        P::Arr(inner) => match v {
            Value::String(s) if s.is_empty() => Ok(Value::Array(vec![])),
            Value::Object(m) => {
                let mut items: Vec<(u64, &Value)> = Vec::with_capacity(m.len());
                for (k, val) in m {
                    let idx = k.parse::<u64>().map_err(|_| {
                        ApiError::param(
                            fmt_path(path, k),
                            format!("Invalid array: {path} must be indexed by integers"),
                        )
                    })?;
                    items.push((idx, val));
                }
                items.sort_by_key(|(i, _)| *i);
                let mut out = Vec::with_capacity(items.len());
                for (pos, (_, val)) in items.into_iter().enumerate() {
                    out.push(check(inner, val, &format!("{path}[{pos}]"))?);
                }
                Ok(Value::Array(out))
            }
            _ => Err(
                ApiError::param(path, format!("Invalid array: {}", describe(v)))
                    .code("parameter_invalid"),
            ),
        },
    }
}

/// Small accessors over checked parameters.
pub trait Params {
    fn s(&self, key: &str) -> Option<String>;
    fn i(&self, key: &str) -> Option<i64>;
    fn b(&self, key: &str) -> Option<bool>;
    fn f(&self, key: &str) -> Option<f64>;
}

impl Params for Value {
    fn s(&self, key: &str) -> Option<String> {
        self.get(key).and_then(Value::as_str).map(str::to_string)
    }
    fn i(&self, key: &str) -> Option<i64> {
        self.get(key).and_then(Value::as_i64)
    }
    fn b(&self, key: &str) -> Option<bool> {
        self.get(key).and_then(Value::as_bool)
    }
    fn f(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(Value::as_f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_and_arrays() {
        static S: P = P::Obj(&[
            ("expand", P::Arr(&P::Str)),
            (
                "line_items",
                P::Arr(&P::Obj(&[("price", P::Str), ("quantity", P::Int)])),
            ),
            ("metadata", P::Meta),
        ]);
        let raw = parse_form(
            b"line_items[0][price]=p1&line_items[0][quantity]=2&line_items[1][price]=p2&expand[]=a&expand[]=b&metadata[k]=v",
        )
        .unwrap();
        let v = check(&S, &raw, "").unwrap();
        assert_eq!(v["line_items"][1]["price"], "p2");
        assert_eq!(v["line_items"][0]["quantity"], 2);
        assert_eq!(v["expand"], serde_json::json!(["a", "b"]));
        let e = check(&S, &parse_form(b"nope=1").unwrap(), "").unwrap_err();
        assert_eq!(e.code.as_deref(), Some("parameter_unknown"));
        let e = check(&S, &parse_form(b"line_items[0][quantity]=x").unwrap(), "").unwrap_err();
        assert_eq!(e.param.as_deref(), Some("line_items[0][quantity]"));
    }
}
