//! Who a request comes from, for per-client limits: the TCP peer, or — only when the peer is one
//! of `TRUSTED_PROXIES` — the address the proxies say they received it from.
//!
//! `X-Forwarded-For` is read from the right: each trusted proxy appends the address it saw, so
//! the rightmost address that is not a trusted proxy is the client. Anything left of it was
//! written by the client itself and proves nothing. Only `X-Forwarded-For` is read: were
//! `Forwarded` read as well, behind a proxy that writes one of the two the client could write
//! the other and pick its own address. IPv6 clients are grouped by /64, the block one household
//! or office usually gets, so a client cannot dodge a limit by rotating its low bits.

use std::net::{IpAddr, Ipv6Addr};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use ipnet::IpNet;

use crate::error::AppError;
use crate::state::AppState;

/// The proxies whose forwarding headers we believe (addresses or CIDR blocks).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// `10.0.0.0/8, 127.0.0.1, ::1` — comma- or space-separated; a bare address is one host.
    pub fn parse(raw: &str) -> Result<Self, String> {
        raw.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{s:?} is not an IP address or CIDR block"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    pub fn contains(&self, ip: &IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&canonical(*ip)))
    }
}

/// The client's address, as far as we can trust it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// Resolves the client of a request that reached us from `peer` with these headers.
    pub fn resolve(peer: IpAddr, forwarded_for: &[IpAddr], trusted: &TrustedProxies) -> Self {
        let mut client = canonical(peer);
        if !trusted.contains(&client) {
            return ClientAddr(client);
        }
        for hop in forwarded_for.iter().rev() {
            client = canonical(*hop);
            if !trusted.contains(&client) {
                break;
            }
        }
        ClientAddr(client)
    }

    /// The key per-client limits count by: the address, or its /64 for IPv6.
    pub fn limit_key(&self) -> String {
        match self.0 {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => {
                let s = v6.segments();
                let block = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{block}/64")
            }
        }
    }

    pub fn from_request(req: &HttpRequest, trusted: &TrustedProxies) -> Self {
        let peer = req
            .peer_addr()
            .map(|a| a.ip())
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        ClientAddr::resolve(peer, &forwarded_for(req), trusted)
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`, from dual-stack sockets) are their IPv4 selves.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// The hops proxies recorded, oldest first. Unparsable entries end the list at that point
/// (reading from the right stops there: what lies left of garbage is not trustworthy).
fn forwarded_for(req: &HttpRequest) -> Vec<IpAddr> {
    let parsed: Vec<Option<IpAddr>> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|e| parse_hop(e.trim()))
        .collect();
    // Keep only the unbroken run of parsable hops at the right end.
    let start = parsed
        .iter()
        .rposition(Option::is_none)
        .map_or(0, |i| i + 1);
    parsed[start..].iter().flatten().copied().collect()
}

/// `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]:5678`.
fn parse_hop(raw: &str) -> Option<IpAddr> {
    if let Ok(ip) = raw.parse() {
        return Some(ip);
    }
    if let Some(rest) = raw.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    raw.rsplit_once(':')?.0.parse().ok()
}

impl FromRequest for ClientAddr {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let trusted = req
            .app_data::<web::Data<AppState>>()
            .map(|s| s.config.trusted_proxies.clone())
            .unwrap_or_default();
        std::future::ready(Ok(ClientAddr::from_request(req, &trusted)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let trusted = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let c = ClientAddr::resolve(ip("203.0.113.9"), &[ip("1.1.1.1")], &trusted);
        assert_eq!(c.0, ip("203.0.113.9"));
        let nobody = TrustedProxies::default();
        let c = ClientAddr::resolve(ip("10.0.0.1"), &[ip("1.1.1.1")], &nobody);
        assert_eq!(c.0, ip("10.0.0.1"));
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_hop_is_the_client() {
        let trusted = TrustedProxies::parse("10.0.0.0/8, 192.0.2.7").unwrap();
        // The client forged 6.6.6.6 on the left; the proxies appended what they saw.
        let hops = [ip("6.6.6.6"), ip("198.51.100.4"), ip("192.0.2.7")];
        let c = ClientAddr::resolve(ip("10.1.2.3"), &hops, &trusted);
        assert_eq!(c.0, ip("198.51.100.4"));
        // Every hop trusted: the leftmost is as far as we can see.
        let c = ClientAddr::resolve(ip("10.1.2.3"), &[ip("10.9.9.9")], &trusted);
        assert_eq!(c.0, ip("10.9.9.9"));
    }

    #[test]
    fn ipv6_clients_are_grouped_by_their_64_block() {
        let a = ClientAddr(ip("2001:db8:1:2:aaaa::1"));
        let b = ClientAddr(ip("2001:db8:1:2:ffff:1:2:3"));
        let other = ClientAddr(ip("2001:db8:1:3::1"));
        assert_eq!(a.limit_key(), b.limit_key());
        assert_ne!(a.limit_key(), other.limit_key());
        assert_eq!(ClientAddr(ip("192.0.2.1")).limit_key(), "192.0.2.1");
        // A v4-mapped peer counts as its IPv4 address.
        let c = ClientAddr::resolve(ip("::ffff:192.0.2.1"), &[], &TrustedProxies::default());
        assert_eq!(c.limit_key(), "192.0.2.1");
    }

    #[test]
    fn only_x_forwarded_for_is_believed() {
        let trusted = TrustedProxies::parse("127.0.0.1").unwrap();
        let req = |headers: &[(&str, &str)]| {
            let mut r = actix_web::test::TestRequest::default()
                .peer_addr("127.0.0.1:4000".parse().unwrap());
            for h in headers {
                r = r.insert_header(*h);
            }
            ClientAddr::from_request(&r.to_http_request(), &trusted).0
        };
        // Behind a proxy that writes `X-Forwarded-For`, a client's own `Forwarded` changes nothing…
        assert_eq!(
            req(&[
                ("x-forwarded-for", "198.51.100.4"),
                ("forwarded", "for=6.6.6.6")
            ]),
            ip("198.51.100.4")
        );
        // …and `Forwarded` alone is not believed: the client is the proxy itself.
        assert_eq!(req(&[("forwarded", "for=6.6.6.6")]), ip("127.0.0.1"));
    }

    #[test]
    fn hops_parse_with_ports_and_brackets_and_bad_lists_are_refused() {
        assert_eq!(parse_hop("192.0.2.1:443"), Some(ip("192.0.2.1")));
        assert_eq!(parse_hop("[2001:db8::1]:443"), Some(ip("2001:db8::1")));
        assert_eq!(parse_hop("2001:db8::1"), Some(ip("2001:db8::1")));
        assert_eq!(parse_hop("unknown"), None);
        assert!(TrustedProxies::parse("10.0.0.0/8 ::1").is_ok());
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("proxy.internal").is_err());
    }
}
