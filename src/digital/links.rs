//! Signed download links: `/downloads/{order item}/{expires}/{signature}`. The signature is an
//! HMAC over the item and the expiry with a key derived from the session key, so links work on
//! every instance that shares it and cannot be made for another order's line or a later expiry.

use actix_web::cookie::Key;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

/// A link shown on a page is good for a day; one in an e-mail for a week.
pub const PAGE_LINK_SECS: i64 = 24 * 3600;
pub const MAIL_LINK_SECS: i64 = 7 * 24 * 3600;

/// Where a receipt's download link goes until the worker signs it when sending: the outbox
/// never holds a usable link. Followed by the order item's id.
pub const PLACEHOLDER: &str = "DOWNLOAD-LINK-";

const MAC_LEN: usize = 16;

pub struct LinkSigner {
    key: [u8; 32],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    /// Not a link we made (or for another line, or another expiry).
    Forged,
    Expired,
}

impl LinkSigner {
    pub fn new(session_key: &Key) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(session_key.signing()).expect("any key size");
        mac.update(b"storefront download link key v1");
        Self {
            key: mac.finalize().into_bytes().into(),
        }
    }

    /// The path of a link to the line's file, good until `expires` (unix seconds).
    pub fn path(&self, item_id: i64, expires: i64) -> String {
        format!(
            "/downloads/{item_id}/{expires}/{}",
            URL_SAFE_NO_PAD.encode(&self.mac(item_id, expires)[..MAC_LEN])
        )
    }

    pub fn verify(
        &self,
        item_id: i64,
        expires: i64,
        signature: &str,
        now: i64,
    ) -> Result<(), LinkError> {
        let Ok(given) = URL_SAFE_NO_PAD.decode(signature) else {
            return Err(LinkError::Forged);
        };
        if given.len() != MAC_LEN
            || !bool::from(self.mac(item_id, expires)[..MAC_LEN].ct_eq(&given))
        {
            return Err(LinkError::Forged);
        }
        if now > expires {
            return Err(LinkError::Expired);
        }
        Ok(())
    }

    /// Replaces each `DOWNLOAD-LINK-{id}` in a mail with a signed link under `base`, for the
    /// ids in `allowed` (the mail's order's lines) only.
    pub fn sign_placeholders(
        &self,
        body: &str,
        base: &str,
        expires: i64,
        allowed: &[i64],
    ) -> String {
        let mut out = String::with_capacity(body.len());
        let mut rest = body;
        while let Some(at) = rest.find(PLACEHOLDER) {
            out.push_str(&rest[..at]);
            let after = &rest[at + PLACEHOLDER.len()..];
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            match after[..digits].parse::<i64>() {
                Ok(id) if allowed.contains(&id) => {
                    out.push_str(base.trim_end_matches('/'));
                    out.push_str(&self.path(id, expires));
                }
                _ => {
                    out.push_str(PLACEHOLDER);
                    out.push_str(&after[..digits]);
                }
            }
            rest = &after[digits..];
        }
        out.push_str(rest);
        out
    }

    fn mac(&self, item_id: i64, expires: i64) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key size");
        mac.update(&item_id.to_be_bytes());
        mac.update(&expires.to_be_bytes());
        mac.finalize().into_bytes().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(byte: u8) -> LinkSigner {
        LinkSigner::new(&Key::from(&[byte; 64]))
    }

    #[test]
    fn a_link_is_good_for_its_line_until_it_expires() {
        let s = signer(7);
        let path = s.path(42, 1_000);
        let sig = path.rsplit('/').next().unwrap();
        assert_eq!(s.verify(42, 1_000, sig, 999), Ok(()));
        assert_eq!(s.verify(42, 1_000, sig, 1_001), Err(LinkError::Expired));
        // Another line, a later expiry, another shop's key: forged.
        assert_eq!(s.verify(43, 1_000, sig, 999), Err(LinkError::Forged));
        assert_eq!(s.verify(42, 9_000, sig, 999), Err(LinkError::Forged));
        assert_eq!(
            signer(8).verify(42, 1_000, sig, 999),
            Err(LinkError::Forged)
        );
        assert_eq!(
            s.verify(42, 1_000, "not base64!", 999),
            Err(LinkError::Forged)
        );
    }

    #[test]
    fn placeholders_become_signed_links() {
        let s = signer(7);
        let body = "Download: DOWNLOAD-LINK-42\nAnd DOWNLOAD-LINK-x stays, DOWNLOAD-LINK-7 too.";
        let signed = s.sign_placeholders(body, "https://shop.example/", 1_000, &[42]);
        assert!(signed.starts_with(&format!(
            "Download: https://shop.example{}\n",
            s.path(42, 1_000)
        )));
        assert!(
            signed.ends_with("And DOWNLOAD-LINK-x stays, DOWNLOAD-LINK-7 too."),
            "another order's line is not signed: {signed}"
        );
    }
}
