//! The canonical host: pages answer only on `PUBLIC_URL`'s host.
//!
//! The session cookie is host-only, and Stripe sends the shopper back to `PUBLIC_URL`: a shopper
//! who filled a cart on another name of the same server (`localhost` when `PUBLIC_URL` says
//! `127.0.0.1`, the bare IP of a named shop) would come back to an empty session. So a GET or
//! HEAD on another host is sent, with 308, to the same path and query on `PUBLIC_URL`'s origin,
//! and any other method gets 400 (re-sending a form to another origin would lose its session and
//! CSRF token anyway).
//!
//! Hosts compare case-insensitively, a missing port meaning the default port of `PUBLIC_URL`'s
//! scheme (80 for http, 443 for https). A request without a `Host` header is on the wrong host:
//! HTTP/1.1 requires the header, and browsers always send it.
//!
//! Exempt, on any host: `/healthz`, `/metrics` and `/webhooks/stripe` (load balancers, scrapers
//! and Stripe reach an instance by its own address), and the static assets (no session, nothing
//! to lose; a redirect would only cost a round trip). When `PUBLIC_URL` is derived from an
//! unspecified `BIND` (`0.0.0.0`), nobody can name that host and nothing is redirected.
//!
//! Behind a reverse proxy, the proxy must pass the browser's `Host` header on (nginx:
//! `proxy_set_header Host $host;`): the shop does not trust `X-Forwarded-Host`.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse, web};
use url::{Host, Url};

use crate::error::AppError;
use crate::state::AppState;

/// Paths that answer on whatever host they are reached by.
fn exempt(path: &str) -> bool {
    matches!(
        path,
        "/healthz" | "/metrics" | "/webhooks/stripe" | "/favicon.svg" | "/favicon.ico"
    ) || path.starts_with("/static/")
}

/// `PUBLIC_URL`'s host and port, as a `Host` header must name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalHost {
    /// Lower case; IPv6 addresses in brackets, as in a `Host` header.
    host: String,
    port: u16,
    /// `scheme://host[:port]`, without a trailing slash.
    origin: String,
}

impl CanonicalHost {
    /// `None` when `url` names no host a browser could use (an unspecified address).
    pub fn of(url: &Url) -> Option<Self> {
        match url.host()? {
            Host::Ipv4(ip) if ip.is_unspecified() => return None,
            Host::Ipv6(ip) if ip.is_unspecified() => return None,
            _ => {}
        }
        Some(Self {
            host: url.host_str()?.to_ascii_lowercase(),
            port: url.port_or_known_default()?,
            origin: url.origin().ascii_serialization(),
        })
    }

    /// `scheme://host[:port]`, as browsers send it in `Origin`.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Whether a `Host` header value names this host (and port).
    pub fn matches(&self, host_header: &str) -> bool {
        let (host, port) = match host_header.strip_prefix('[') {
            // An IPv6 literal: `[::1]` or `[::1]:8080`.
            Some(rest) => match rest.split_once(']') {
                Some((ip, port)) => (&host_header[..ip.len() + 2], port),
                None => return false,
            },
            None => match host_header.rsplit_once(':') {
                Some((host, _)) => (host, &host_header[host.len()..]),
                None => (host_header, ""),
            },
        };
        let port = match port {
            "" | ":" => self.default_port(),
            p => match p.strip_prefix(':').and_then(|p| p.parse::<u16>().ok()) {
                Some(p) => p,
                None => return false,
            },
        };
        host.eq_ignore_ascii_case(&self.host) && port == self.port
    }

    fn default_port(&self) -> u16 {
        if self.origin.starts_with("https:") {
            443
        } else {
            80
        }
    }

    /// The same path and query on the canonical origin.
    pub fn location(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.origin)
    }
}

/// Middleware: lets requests for `PUBLIC_URL`'s host (and exempt paths) through; redirects
/// other GET and HEAD requests there with 308; refuses other methods with 400.
pub async fn enforce(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let canonical = req
        .app_data::<web::Data<AppState>>()
        .and_then(|state| CanonicalHost::of(&state.public_url));
    let Some(canonical) = canonical.filter(|_| !exempt(req.path())) else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    if host.is_some_and(|h| canonical.matches(h)) {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    if req.method() == Method::GET || req.method() == Method::HEAD {
        let path = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
        let location = HeaderValue::from_str(&canonical.location(path))
            .or_else(|_| HeaderValue::from_str(&canonical.location("/")))
            .map_err(|e| AppError::Internal(anyhow::anyhow!("canonical location: {e}")))?;
        let res = HttpResponse::build(StatusCode::PERMANENT_REDIRECT)
            .insert_header((header::LOCATION, location))
            .finish();
        return Ok(req.into_response(res).map_into_right_body());
    }
    let error = AppError::BadRequest(format!(
        "This shop is at {}. Open it there and try again.",
        canonical.origin
    ));
    Ok(req.error_response(error).map_into_right_body())
}

#[cfg(test)]
mod tests {
    use super::CanonicalHost;

    fn canonical(url: &str) -> CanonicalHost {
        CanonicalHost::of(&url.parse().unwrap()).unwrap()
    }

    #[test]
    fn hosts_match_case_insensitively_with_default_ports() {
        let http = canonical("http://Shop.Example.com/");
        assert!(http.matches("shop.example.com"));
        assert!(http.matches("SHOP.example.COM:80"));
        assert!(http.matches("shop.example.com:"));
        assert!(!http.matches("shop.example.com:8080"));
        assert!(!http.matches("shop.example.com:443"));
        assert!(!http.matches("www.shop.example.com"));
        assert!(!http.matches("shop.example.com:x"));
        assert!(!http.matches(""));

        let https = canonical("https://shop.example.com");
        assert!(https.matches("shop.example.com"));
        assert!(https.matches("shop.example.com:443"));
        assert!(!https.matches("shop.example.com:80"));
        assert_eq!(https.location("/a?b=c"), "https://shop.example.com/a?b=c");

        let local = canonical("http://127.0.0.1:8080/");
        assert!(local.matches("127.0.0.1:8080"));
        assert!(!local.matches("127.0.0.1"));
        assert!(!local.matches("localhost:8080"));
        assert_eq!(local.location("/cart"), "http://127.0.0.1:8080/cart");
    }

    #[test]
    fn ipv6_literals_keep_their_brackets() {
        let v6 = canonical("http://[::1]:8080/");
        assert!(v6.matches("[::1]:8080"));
        assert!(!v6.matches("[::1]"));
        assert!(!v6.matches("[::1:8080"));
        assert!(!v6.matches("::1:8080"));
        assert!(canonical("http://[::1]/").matches("[::1]"));
    }

    #[test]
    fn an_unspecified_address_is_no_canonical_host() {
        assert!(CanonicalHost::of(&"http://0.0.0.0:8080/".parse().unwrap()).is_none());
        assert!(CanonicalHost::of(&"http://[::]:8080/".parse().unwrap()).is_none());
    }
}
