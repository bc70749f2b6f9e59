//! Billing addresses typed on the hosted Checkout page: the choices offered and their checks.

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
