//! CSRF tokens for visitors who have no session yet, and where a POST says it came from.
//!
//! A page view must not create a session (no cookie to encrypt and set on every catalogue
//! view, no session for every crawler), yet every page carries forms. So a visitor without a
//! session token gets a *signed* token: random bytes and the time of issue, with an HMAC under a
//! key derived from the session key. Any visitor can obtain one, so a signed token alone proves
//! nothing about who submits it; it is accepted only together with the browser's own word that
//! the POST comes from one of our pages (`Sec-Fetch-Site: same-origin`, or an `Origin` equal to
//! ours), which a page on another site cannot forge. The form that accepted it stores it as the
//! session's token, so the other forms of the same page keep working; until the visitor signs
//! in (which gives the session a random token that matches only itself), other signed tokens
//! are accepted on the same terms.
//!
//! Independently of the token, every form POST that the browser says comes from another site
//! (`Sec-Fetch-Site: cross-site` or `same-site`, or a foreign `Origin`) is refused.

use std::sync::Arc;

use actix_web::HttpRequest;
use actix_web::cookie::Key;
use actix_web::http::header;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

use crate::clock::Clock;

/// How long a signed token stays usable: a product page left open for days still works.
pub const SIGNED_TOKEN_LIFETIME_SECS: i64 = 7 * 24 * 3600;

const PAYLOAD_LEN: usize = 8 + 16;
const MAC_LEN: usize = 16;

/// Issues and checks signed CSRF tokens.
pub struct CsrfSigner {
    key: [u8; 32],
    clock: Arc<dyn Clock>,
}

impl CsrfSigner {
    /// The token key is derived from the session key, so tokens survive restarts and are valid
    /// on every instance that shares the session key.
    pub fn new(session_key: &Key, clock: Arc<dyn Clock>) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(session_key.signing()).expect("any key size");
        mac.update(b"storefront csrf token key v1");
        Self {
            key: mac.finalize().into_bytes().into(),
            clock,
        }
    }

    /// A new signed token: `base64(issued_at ‖ random) "." base64(mac)`.
    pub fn issue(&self) -> String {
        let mut payload = [0u8; PAYLOAD_LEN];
        payload[..8].copy_from_slice(&self.clock.unix().to_be_bytes());
        rand::rng().fill_bytes(&mut payload[8..]);
        let mac = self.mac(&payload);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(&mac[..MAC_LEN])
        )
    }

    /// Whether `token` is one we issued, less than [`SIGNED_TOKEN_LIFETIME_SECS`] ago.
    pub fn verify(&self, token: &str) -> bool {
        let Some((payload, mac)) = token.split_once('.') else {
            return false;
        };
        let (Ok(payload), Ok(mac)) = (URL_SAFE_NO_PAD.decode(payload), URL_SAFE_NO_PAD.decode(mac))
        else {
            return false;
        };
        if payload.len() != PAYLOAD_LEN || mac.len() != MAC_LEN {
            return false;
        }
        if !bool::from(self.mac(&payload)[..MAC_LEN].ct_eq(&mac)) {
            return false;
        }
        let issued = i64::from_be_bytes(payload[..8].try_into().expect("8 bytes"));
        let age = self.clock.unix() - issued;
        // A little slack for clocks of instances that disagree.
        (-300..SIGNED_TOKEN_LIFETIME_SECS).contains(&age)
    }

    fn mac(&self, payload: &[u8]) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key size");
        mac.update(payload);
        mac.finalize().into_bytes().into()
    }
}

/// Whether a token has the signed shape (session tokens are plain base64url, without a dot).
pub fn is_signed(token: &str) -> bool {
    token.contains('.')
}

/// Where the browser says a request comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provenance {
    /// One of our own pages.
    SameOrigin,
    /// Another site (or a sibling subdomain, or an opaque `null` origin).
    Foreign,
    /// The client said nothing (an old browser, a script).
    Unknown,
}

/// Reads `Sec-Fetch-Site`, then `Origin`. `own_origin` is `scheme://host[:port]`; `None` when
/// the shop's own host is not known (bound to an unspecified address), in which case the
/// request's `Host` header stands for it (the canonical-host check has nothing to enforce then).
pub fn provenance(req: &HttpRequest, own_origin: Option<&str>) -> Provenance {
    let headers = req.headers();
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        match site {
            "same-origin" => return Provenance::SameOrigin,
            "same-site" | "cross-site" => return Provenance::Foreign,
            // "none": typed or bookmarked; not a form on a page. Let Origin decide.
            _ => {}
        }
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return Provenance::Unknown;
    };
    let same = match own_origin {
        Some(own) => origin.eq_ignore_ascii_case(own),
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let scheme = req.connection_info().scheme().to_owned();
            !host.is_empty() && origin.eq_ignore_ascii_case(&format!("{scheme}://{host}"))
        }
    };
    if same {
        Provenance::SameOrigin
    } else {
        Provenance::Foreign
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;
    use crate::clock::ManualClock;

    fn signer(clock: Arc<ManualClock>) -> CsrfSigner {
        CsrfSigner::new(&Key::from(&[7u8; 64]), clock)
    }

    #[test]
    fn signed_tokens_verify_until_they_expire_and_not_when_altered() {
        let clock = Arc::new(ManualClock::new(
            chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        ));
        let s = signer(clock.clone());
        let token = s.issue();
        assert!(s.verify(&token));
        assert_ne!(token, s.issue(), "each token is new");

        // Altered anywhere, or signed with another key: refused.
        let mut bytes = token.clone().into_bytes();
        bytes[3] = if bytes[3] == b'A' { b'B' } else { b'A' };
        assert!(!s.verify(&String::from_utf8(bytes).unwrap()));
        let other = CsrfSigner::new(&Key::from(&[8u8; 64]), clock.clone());
        assert!(!other.verify(&token));
        for junk in ["", ".", "abc", "abc.def", &token.replace('.', "")] {
            assert!(!s.verify(junk), "{junk}");
        }

        clock.advance(chrono::TimeDelta::seconds(SIGNED_TOKEN_LIFETIME_SECS - 1));
        assert!(s.verify(&token));
        clock.advance(chrono::TimeDelta::seconds(1));
        assert!(!s.verify(&token), "expired");
    }

    #[test]
    fn provenance_reads_fetch_metadata_then_origin() {
        let own = Some("http://shop.test:8080");
        let p = |headers: &[(&str, &str)]| {
            let mut req = TestRequest::post().insert_header(("host", "shop.test:8080"));
            for h in headers {
                req = req.insert_header(*h);
            }
            provenance(&req.to_http_request(), own)
        };
        assert_eq!(
            p(&[("sec-fetch-site", "same-origin")]),
            Provenance::SameOrigin
        );
        assert_eq!(p(&[("sec-fetch-site", "cross-site")]), Provenance::Foreign);
        assert_eq!(p(&[("sec-fetch-site", "same-site")]), Provenance::Foreign);
        assert_eq!(
            p(&[("origin", "http://shop.test:8080")]),
            Provenance::SameOrigin
        );
        assert_eq!(p(&[("origin", "http://evil.test")]), Provenance::Foreign);
        assert_eq!(p(&[("origin", "null")]), Provenance::Foreign);
        assert_eq!(
            p(&[("sec-fetch-site", "none"), ("origin", "http://evil.test")]),
            Provenance::Foreign
        );
        assert_eq!(p(&[]), Provenance::Unknown);

        // Without a known own origin, the Host header stands for it.
        let req = TestRequest::post()
            .insert_header(("host", "10.0.0.5:8080"))
            .insert_header(("origin", "http://10.0.0.5:8080"))
            .to_http_request();
        assert_eq!(provenance(&req, None), Provenance::SameOrigin);
    }
}
