//! The carriers the ship form offers, and the tracking page of the ones we know.

use url::Url;

/// (code, name, tracking page with `{}` for the number). "other" has no page.
pub const CARRIERS: [(&str, &str, Option<&str>); 8] = [
    ("ups", "UPS", Some("https://www.ups.com/track?tracknum={}")),
    (
        "usps",
        "USPS",
        Some("https://tools.usps.com/go/TrackConfirmAction?tLabels={}"),
    ),
    (
        "fedex",
        "FedEx",
        Some("https://www.fedex.com/fedextrack/?trknbr={}"),
    ),
    (
        "dhl",
        "DHL",
        Some("https://www.dhl.com/global-en/home/tracking.html?tracking-id={}"),
    ),
    (
        "royal_mail",
        "Royal Mail",
        Some("https://www.royalmail.com/track-your-item#/tracking-results/{}"),
    ),
    (
        "deutsche_post",
        "Deutsche Post",
        Some("https://www.deutschepost.de/sendung/simpleQueryResult.html?form.sendungsnummer={}"),
    ),
    (
        "canada_post",
        "Canada Post",
        Some("https://www.canadapost-postescanada.ca/track-reperage/en#/details/{}"),
    ),
    ("other", "Other", None),
];

/// The carrier of the parcels the migration recorded for orders paid before the shop recorded
/// shipping (fulfilled by hand, details unknown).
pub const UNRECORDED: &str = "unrecorded";

pub fn is_known(code: &str) -> bool {
    CARRIERS.iter().any(|(c, _, _)| *c == code)
}

/// "UPS" for `ups`; an unknown code (an older list) as it is.
pub fn name(code: &str) -> String {
    if code == UNRECORDED {
        return "Not recorded (before shipping was tracked)".to_owned();
    }
    CARRIERS
        .iter()
        .find(|(c, _, _)| *c == code)
        .map_or_else(|| code.to_owned(), |(_, n, _)| (*n).to_owned())
}

/// The carrier's tracking page for this number, if we know the carrier. The number is
/// percent-encoded into the URL, so whatever an admin typed cannot change where it points.
pub fn tracking_url(code: &str, number: &str) -> Option<String> {
    let template = CARRIERS.iter().find(|(c, _, _)| *c == code)?.2?;
    let encoded: String = url::form_urlencoded::byte_serialize(number.as_bytes()).collect();
    let link = template.replace("{}", &encoded);
    Url::parse(&link).ok().map(String::from)
}

/// A tracking number as carriers print them: letters, digits, spaces and dashes, 4 to 40.
pub fn plausible_tracking(number: &str) -> bool {
    let len = number.chars().count();
    (4..=40).contains(&len)
        && number
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-')
        && number.chars().any(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_carriers_link_to_their_tracking_page() {
        assert_eq!(
            tracking_url("ups", "1Z999AA10123456784").as_deref(),
            Some("https://www.ups.com/track?tracknum=1Z999AA10123456784")
        );
        assert_eq!(tracking_url("other", "ABC123"), None);
        assert_eq!(tracking_url("pigeon", "ABC123"), None);
        assert_eq!(name("dhl"), "DHL");
        // Spaces are encoded, not passed through.
        assert!(
            tracking_url("dhl", "JD01 4600")
                .unwrap()
                .ends_with("JD01+4600")
        );
    }

    #[test]
    fn tracking_numbers_are_plain() {
        assert!(plausible_tracking("1Z999AA10123456784"));
        assert!(plausible_tracking("JD01 4600-03"));
        assert!(!plausible_tracking(""));
        assert!(!plausible_tracking("abc"));
        assert!(!plausible_tracking("    "));
        assert!(!plausible_tracking("1Z<script>"));
        assert!(!plausible_tracking(&"9".repeat(41)));
    }
}
