//! Addresses typed on the hosted Checkout page (billing and shipping): the choices offered and
//! their checks.

use serde_json::{Value, json};

/// Countries offered on the page (ISO 3166-1 alpha-2, name).
pub const COUNTRIES: &[(&str, &str)] = &[
    ("AR", "Argentina"),
    ("AU", "Australia"),
    ("AT", "Austria"),
    ("BE", "Belgium"),
    ("BR", "Brazil"),
    ("CA", "Canada"),
    ("CH", "Switzerland"),
    ("CZ", "Czechia"),
    ("DE", "Germany"),
    ("DK", "Denmark"),
    ("ES", "Spain"),
    ("FI", "Finland"),
    ("FR", "France"),
    ("GB", "United Kingdom"),
    ("GR", "Greece"),
    ("HK", "Hong Kong"),
    ("IE", "Ireland"),
    ("IN", "India"),
    ("IT", "Italy"),
    ("JP", "Japan"),
    ("KR", "South Korea"),
    ("MX", "Mexico"),
    ("NL", "Netherlands"),
    ("NO", "Norway"),
    ("NZ", "New Zealand"),
    ("PL", "Poland"),
    ("PT", "Portugal"),
    ("SE", "Sweden"),
    ("SG", "Singapore"),
    ("US", "United States"),
    ("ZA", "South Africa"),
];

/// US states and DC (USPS code, name).
pub const US_STATES: &[(&str, &str)] = &[
    ("AL", "Alabama"),
    ("AK", "Alaska"),
    ("AZ", "Arizona"),
    ("AR", "Arkansas"),
    ("CA", "California"),
    ("CO", "Colorado"),
    ("CT", "Connecticut"),
    ("DE", "Delaware"),
    ("DC", "District of Columbia"),
    ("FL", "Florida"),
    ("GA", "Georgia"),
    ("HI", "Hawaii"),
    ("ID", "Idaho"),
    ("IL", "Illinois"),
    ("IN", "Indiana"),
    ("IA", "Iowa"),
    ("KS", "Kansas"),
    ("KY", "Kentucky"),
    ("LA", "Louisiana"),
    ("ME", "Maine"),
    ("MD", "Maryland"),
    ("MA", "Massachusetts"),
    ("MI", "Michigan"),
    ("MN", "Minnesota"),
    ("MS", "Mississippi"),
    ("MO", "Missouri"),
    ("MT", "Montana"),
    ("NE", "Nebraska"),
    ("NV", "Nevada"),
    ("NH", "New Hampshire"),
    ("NJ", "New Jersey"),
    ("NM", "New Mexico"),
    ("NY", "New York"),
    ("NC", "North Carolina"),
    ("ND", "North Dakota"),
    ("OH", "Ohio"),
    ("OK", "Oklahoma"),
    ("OR", "Oregon"),
    ("PA", "Pennsylvania"),
    ("RI", "Rhode Island"),
    ("SC", "South Carolina"),
    ("SD", "South Dakota"),
    ("TN", "Tennessee"),
    ("TX", "Texas"),
    ("UT", "Utah"),
    ("VT", "Vermont"),
    ("VA", "Virginia"),
    ("WA", "Washington"),
    ("WV", "West Virginia"),
    ("WI", "Wisconsin"),
    ("WY", "Wyoming"),
];

/// The address fields as typed (`billing_country`, `billing_state`, `billing_line1`,
/// `billing_city`, `billing_postal_code`).
#[derive(Debug, Clone, Default)]
pub struct Typed {
    pub country: String,
    pub state: String,
    pub line1: String,
    pub city: String,
    pub postal_code: String,
}

impl Typed {
    /// From a stored address (`customer_details.address` shape).
    pub fn of(v: &Value) -> Typed {
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        Typed {
            country: s("country"),
            state: s("state"),
            line1: s("line1"),
            city: s("city"),
            postal_code: s("postal_code"),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.country.is_empty()
    }

    /// Check the fields; `full` asks for the street address too (`billing_address_collection=
    /// required`). Returns the address in Stripe's shape, or the page's message.
    pub fn parse(&self, full: bool) -> Result<Value, String> {
        let country = self.country.trim().to_ascii_uppercase();
        if !COUNTRIES.iter().any(|(c, _)| *c == country) {
            return Err("Select your country.".into());
        }
        let state = self.state.trim().to_ascii_uppercase();
        let state = if country == "US" {
            if !US_STATES.iter().any(|(s, _)| *s == state) {
                return Err("Select your state.".into());
            }
            Some(state)
        } else {
            None
        };
        let opt = |s: &str| {
            let s = s.trim();
            (!s.is_empty()).then(|| s.to_string())
        };
        let (line1, city, postal) = (opt(&self.line1), opt(&self.city), opt(&self.postal_code));
        if full && (line1.is_none() || city.is_none() || postal.is_none()) {
            return Err("Your billing address is incomplete.".into());
        }
        Ok(json!({
            "city": city,
            "country": country,
            "line1": line1,
            "line2": null,
            "postal_code": postal,
            "state": state,
        }))
    }
}

/// One `<option>`.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

pub fn choices(list: &[(&str, &str)], selected: &str) -> Vec<Choice> {
    list.iter()
        .map(|(v, l)| Choice {
            value: (*v).to_string(),
            label: (*l).to_string(),
            selected: v.eq_ignore_ascii_case(selected),
        })
        .collect()
}

/// Countries without postal codes: the shipping form does not ask for one there.
pub const NO_POSTAL_CODE: &[&str] = &[
    "AE", "AG", "AO", "AW", "BF", "BI", "BJ", "BO", "BS", "BW", "BZ", "CD", "CF", "CG", "CI", "CM",
    "DJ", "DM", "ER", "FJ", "GA", "GD", "GH", "GM", "GQ", "GY", "HK", "JM", "KI", "KM", "KN", "LC",
    "ML", "MO", "MR", "MS", "MW", "NR", "QA", "RW", "SB", "SC", "SL", "SR", "ST", "TD", "TG", "TL",
    "TO", "TT", "TV", "UG", "VU", "YE", "ZW",
];

/// Countries whose shipping address needs a state or province (US: one of [`US_STATES`]).
pub const STATE_REQUIRED: &[&str] = &["US", "CA", "AU"];

/// The page's name for a country, or its code when the emulator has no name for it.
pub fn country_name(code: &str) -> String {
    COUNTRIES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or_else(|| code.to_string(), |(_, n)| (*n).to_string())
}

/// A US state by its USPS code or its name, as its code.
pub fn us_state(typed: &str) -> Option<&'static str> {
    let t = typed.trim();
    US_STATES
        .iter()
        .find(|(c, n)| c.eq_ignore_ascii_case(t) || n.eq_ignore_ascii_case(t))
        .map(|(c, _)| *c)
}

/// The shipping fields as typed (`shipping_name`, `shipping_line1`, `shipping_line2`,
/// `shipping_city`, `shipping_state`, `shipping_postal_code`, `shipping_country`).
#[derive(Debug, Clone, Default)]
pub struct ShippingTyped {
    pub name: String,
    pub line1: String,
    pub line2: String,
    pub city: String,
    pub state: String,
    pub postal_code: String,
    pub country: String,
}

impl ShippingTyped {
    /// From stored shipping details (`{name, address}`).
    pub fn of(v: &Value) -> ShippingTyped {
        let a = |k: &str| v["address"][k].as_str().unwrap_or_default().to_string();
        ShippingTyped {
            name: v["name"].as_str().unwrap_or_default().to_string(),
            line1: a("line1"),
            line2: a("line2"),
            city: a("city"),
            state: a("state"),
            postal_code: a("postal_code"),
            country: a("country"),
        }
    }

    pub fn is_empty(&self) -> bool {
        [
            &self.name,
            &self.line1,
            &self.line2,
            &self.city,
            &self.state,
            &self.postal_code,
            &self.country,
        ]
        .iter()
        .all(|f| f.trim().is_empty())
    }

    /// Check the fields for a session that ships to `allowed`. Returns the details in
    /// Stripe's shape (`{name, address}`), or the message for each field that is wrong, keyed by
    /// the field's name (the page shows it in `#{name}_error`).
    pub fn parse(&self, allowed: &[String]) -> Result<Value, Vec<(&'static str, String)>> {
        let mut errors = Vec::new();
        let opt = |s: &str| {
            let s = s.trim();
            (!s.is_empty()).then(|| s.chars().take(200).collect::<String>())
        };
        let country = self.country.trim().to_ascii_uppercase();
        if country.is_empty() {
            errors.push(("shipping_country", "Select a country.".to_string()));
        } else if !allowed.contains(&country) {
            let shown: String = country.chars().take(8).collect();
            errors.push((
                "shipping_country",
                format!("Shipping to {shown} is not available."),
            ));
        }
        let name = opt(&self.name);
        if name.is_none() {
            errors.push(("shipping_name", "Enter the recipient's name.".to_string()));
        }
        let line1 = opt(&self.line1);
        if line1.is_none() {
            errors.push(("shipping_line1", "Enter the street address.".to_string()));
        }
        let city = opt(&self.city);
        if city.is_none() {
            errors.push(("shipping_city", "Enter the city.".to_string()));
        }
        let state = match country.as_str() {
            "US" => match us_state(&self.state) {
                Some(code) => Some(code.to_string()),
                None => {
                    errors.push(("shipping_state", "Select a state.".to_string()));
                    None
                }
            },
            c => {
                let s = opt(&self.state).map(|s| {
                    // Province codes (ON, NSW) are kept upper case, names as typed.
                    if s.len() <= 3 {
                        s.to_ascii_uppercase()
                    } else {
                        s
                    }
                });
                if s.is_none() && STATE_REQUIRED.contains(&c) {
                    errors.push(("shipping_state", "Enter the state or province.".to_string()));
                }
                s
            }
        };
        let postal_code = opt(&self.postal_code);
        if postal_code.is_none() && !NO_POSTAL_CODE.contains(&country.as_str()) {
            errors.push(("shipping_postal_code", "Enter the postal code.".to_string()));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(json!({
            "address": {
                "city": city,
                "country": country,
                "line1": line1,
                "line2": opt(&self.line2),
                "postal_code": postal_code,
                "state": state,
            },
            "name": name,
        }))
    }
}

/// A phone number as typed (`phone`): empty is none; otherwise digits with optional spaces,
/// dashes, dots and brackets, and a leading `+`; kept as `+` and digits.
pub fn parse_phone(typed: &str) -> Result<Option<String>, String> {
    let t = typed.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let invalid = || "Your phone number is invalid.".to_string();
    let body = t.strip_prefix('+').unwrap_or(t);
    if !body
        .chars()
        .all(|c| c.is_ascii_digit() || " -.()".contains(c))
    {
        return Err(invalid());
    }
    let digits: String = body.chars().filter(char::is_ascii_digit).collect();
    if !(7..=15).contains(&digits.len()) {
        return Err(invalid());
    }
    Ok(Some(if t.starts_with('+') {
        format!("+{digits}")
    } else {
        digits
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(country: &str, state: &str, postal: &str) -> ShippingTyped {
        ShippingTyped {
            name: "Ada".into(),
            line1: "1 Main St".into(),
            city: "Town".into(),
            state: state.into(),
            postal_code: postal.into(),
            country: country.into(),
            ..Default::default()
        }
    }

    #[test]
    fn shipping_fields_follow_the_country() {
        let allowed: Vec<String> = ["US", "CA", "HK", "DE"].map(String::from).to_vec();
        let ok = typed("us", "california", "94103").parse(&allowed).unwrap();
        assert_eq!(ok["address"]["state"], "CA");
        assert_eq!(ok["address"]["country"], "US");
        assert_eq!(ok["address"]["line2"], Value::Null);
        let e = typed("US", "ZZ", "94103").parse(&allowed).unwrap_err();
        assert_eq!(e, vec![("shipping_state", "Select a state.".to_string())]);
        let e = typed("CA", "", "").parse(&allowed).unwrap_err();
        let fields: Vec<&str> = e.iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, vec!["shipping_state", "shipping_postal_code"]);
        assert!(
            typed("HK", "", "").parse(&allowed).is_ok(),
            "no postal code"
        );
        assert!(typed("DE", "", "10115").parse(&allowed).is_ok(), "no state");
        let e = typed("FR", "", "75001").parse(&allowed).unwrap_err();
        assert_eq!(
            e,
            vec![(
                "shipping_country",
                "Shipping to FR is not available.".to_string()
            )]
        );
        let e = ShippingTyped::default().parse(&allowed).unwrap_err();
        assert_eq!(e.len(), 5, "{e:?}");
    }

    #[test]
    fn phone_numbers() {
        assert_eq!(parse_phone(""), Ok(None));
        assert_eq!(
            parse_phone("+49 (151) 123-456.78"),
            Ok(Some("+4915112345678".into()))
        );
        assert_eq!(parse_phone("4155552671"), Ok(Some("4155552671".into())));
        assert!(parse_phone("call me").is_err());
        assert!(parse_phone("123").is_err());
    }
}
