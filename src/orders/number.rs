//! Public order numbers: short, unguessable, unambiguous when read aloud.

use rand::Rng as _;

/// Crockford-style alphabet without I, L, O, U.
const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// "SF-4K7Q-9XPM": 40 bits of randomness.
pub fn generate() -> String {
    let mut rng = rand::rng();
    let mut chars = (0..8).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char);
    let a: String = chars.by_ref().take(4).collect();
    let b: String = chars.collect();
    format!("SF-{a}-{b}")
}

/// Whether `s` could be an order number (cheap check before any query).
pub fn is_plausible(s: &str) -> bool {
    s.len() == 12
        && s.starts_with("SF-")
        && s.bytes()
            .skip(3)
            .all(|b| b == b'-' || ALPHABET.contains(&b))
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_look_right_and_differ() {
        let a = super::generate();
        assert!(super::is_plausible(&a), "{a}");
        assert_ne!(a, super::generate());
        assert!(!super::is_plausible("SF-1234"));
        assert!(!super::is_plausible("SF-0000-000I"));
    }
}
