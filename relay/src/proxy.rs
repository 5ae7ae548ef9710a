//! Where a request came from and which address the relay goes by, decided without trusting what
//! a client claims.
//!
//! The client's address (rate limits, connection caps) is the TCP peer, unless the peer is a
//! proxy the operator named with `--trust-proxy`: then it is the last address in
//! `X-Forwarded-For` that is not itself a trusted proxy. The relay's own origin (links in
//! emails, `install.sh`, the `relay_url` a connector keeps) is `--public-url`; without it, the
//! address the client's TCP connection reached, or a trusted proxy's `X-Forwarded-Host` and
//! `X-Forwarded-Proto`. A forged `Host` header from anyone else changes nothing.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// An address block, `10.0.0.0/8` or `::1/128`; a bare address is a block of one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Cidr, String> {
        let (addr, prefix) = s.trim().split_once('/').map_or((s.trim(), None), |(a, p)| (a, Some(p)));
        let net: IpAddr =
            addr.parse().map_err(|_| format!("{s:?} is not an address block: write it like 10.0.0.0/8 or ::1/128"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length after '/' must be a number from 0 to {max}"))?,
        };
        Ok(Cidr { net, prefix })
    }
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, canonical(ip)) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// An IPv4 address mapped into IPv6 (`::ffff:1.2.3.4`, as dual-stack sockets report) as the
/// IPv4 address it is.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The operator's trusted proxies.
#[derive(Clone, Debug, Default)]
pub struct Proxies(pub Vec<Cidr>);

impl Proxies {
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }

    /// The client behind `peer`: the peer itself, or, when the peer is trusted, the nearest
    /// untrusted hop of `X-Forwarded-For` (the ones before it were written by the client and
    /// prove nothing).
    pub fn client(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let hops = forwarded_for.unwrap_or("").split(',').rev().map(str::trim);
        let mut client = peer;
        for hop in hops {
            match hop.parse::<IpAddr>() {
                Ok(ip) => {
                    client = canonical(ip);
                    if !self.trusts(client) {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        client
    }

    /// The relay's origin as this request reached it, when no `--public-url` is set: a trusted
    /// proxy's forwarded host and scheme, else the local address of the connection.
    pub fn origin(
        &self,
        peer: IpAddr,
        local: SocketAddr,
        tls: bool,
        fwd_host: Option<&str>,
        fwd_proto: Option<&str>,
    ) -> String {
        let scheme = if tls { "https" } else { "http" };
        if self.trusts(canonical(peer)) {
            let host = fwd_host.and_then(|h| h.split(',').next()).map(str::trim).filter(|h| valid_host(h));
            if let Some(host) = host {
                let proto = match fwd_proto.and_then(|p| p.split(',').next()).map(str::trim) {
                    Some("https") => "https",
                    Some("http") => "http",
                    _ => scheme,
                };
                return format!("{proto}://{host}");
            }
        }
        let local = SocketAddr::new(canonical(local.ip()), local.port());
        format!("{scheme}://{local}")
    }
}

/// A host[:port] made of the characters host names and addresses use, and nothing that could
/// end a URL's authority early.
fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 255
        && h.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']' | b'_'))
}

/// `https://relay.example.com` as a connector's `relay_url`: `wss://relay.example.com`.
pub fn ws_url(origin: &str) -> String {
    if let Some(rest) = origin.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = origin.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        origin.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn blocks_parse_and_match() {
        let c: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(c.contains(ip("10.1.200.3")));
        assert!(!c.contains(ip("10.2.0.1")));
        assert!(c.contains(ip("::ffff:10.1.0.9")), "IPv4-mapped IPv6 is IPv4");
        let one: Cidr = "::1".parse().unwrap();
        assert!(one.contains(ip("::1")) && !one.contains(ip("::2")));
        assert!("0.0.0.0/0".parse::<Cidr>().unwrap().contains(ip("8.8.8.8")));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("proxy".parse::<Cidr>().unwrap_err().contains("10.0.0.0/8"));
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let none = Proxies::default();
        assert_eq!(none.client(ip("203.0.113.9"), Some("1.2.3.4")), ip("203.0.113.9"));
        let local = SocketAddr::from(([192, 168, 1, 5], 8080));
        assert_eq!(none.origin(ip("203.0.113.9"), local, false, Some("evil.example"), None), "http://192.168.1.5:8080");

        let lb = Proxies(vec!["10.0.0.0/8".parse().unwrap()]);
        // The client wrote the first hop itself; the proxy appended the real one.
        assert_eq!(lb.client(ip("10.0.0.2"), Some("6.6.6.6, 198.51.100.7")), ip("198.51.100.7"));
        assert_eq!(lb.client(ip("10.0.0.2"), Some("198.51.100.7, 10.0.0.3")), ip("198.51.100.7"));
        assert_eq!(lb.client(ip("10.0.0.2"), None), ip("10.0.0.2"));
        assert_eq!(lb.client(ip("10.0.0.2"), Some("garbage")), ip("10.0.0.2"));
        assert_eq!(
            lb.origin(ip("10.0.0.2"), local, false, Some("relay.example.com"), Some("https")),
            "https://relay.example.com"
        );
        assert_eq!(
            lb.origin(ip("10.0.0.2"), local, false, Some("evil.example/x?"), Some("https")),
            "http://192.168.1.5:8080",
            "a host that would bend the URL is ignored"
        );
    }

    #[test]
    fn websocket_form() {
        assert_eq!(ws_url("https://r.example"), "wss://r.example");
        assert_eq!(ws_url("http://127.0.0.1:8080"), "ws://127.0.0.1:8080");
    }
}
