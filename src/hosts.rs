//! Host names: the one canonical form every Host comparison uses, and the one decision of
//! which names can never be a bucket's linked domain.
//!
//! A linked domain routes every request carrying its Host to one bucket, path-style S3 calls
//! and presigned URLs included. A user who could link the name clients use for the S3
//! endpoint itself (`localhost`, the public endpoint's host, an IP) would receive everyone's
//! writes; [`ReservedHosts::reason`] is asked both when a link is made and on every routing
//! decision, so a link stored before a name became reserved stops routing too.

use std::borrow::Cow;

/// A Host value in the form all comparisons use: lower-case, without its port and without
/// one trailing dot (`Photos.S3.LocalHost.:9000` → `photos.s3.localhost`). IPv6 literals
/// keep their brackets (`[::1]:9000` → `[::1]`).
pub fn canonical(host: &str) -> Cow<'_, str> {
    let h = strip_port(host);
    let h = h.strip_suffix('.').unwrap_or(h);
    if h.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(h.to_ascii_lowercase())
    } else {
        Cow::Borrowed(h)
    }
}

/// `host:port` → `host`; a bare IPv6 address (several colons, no brackets) is left whole.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    match host.split_once(':') {
        Some((h, port)) if !port.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// Why a name cannot be linked (the API's error code and message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not a DNS host name we accept (`InvalidDomain`).
    Invalid(&'static str),
    /// A name the gateway itself answers to (`ReservedDomain`).
    Reserved(String),
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "InvalidDomain",
            Self::Reserved(_) => "ReservedDomain",
        }
    }

    /// The message, naming the field as every API refusal does.
    pub fn message(&self) -> String {
        let why = match self {
            Self::Invalid(why) => why,
            Self::Reserved(why) => why.as_str(),
        };
        format!("domain: {why}")
    }
}

/// Canonical form of a domain a user asks to link: refuses non-ASCII (IDNA is the client's
/// job: the punycode form is what DNS and Host headers carry), then [`canonical`].
pub fn normalize_domain(input: &str) -> Result<String, Refusal> {
    let input = input.trim();
    if !input.is_ascii() {
        return Err(Refusal::Invalid(
            "non-ASCII names are sent in their punycode form (xn--…)",
        ));
    }
    let h = canonical(input).into_owned();
    if h.is_empty() {
        return Err(Refusal::Invalid(
            "must be a host name such as assets.example.com",
        ));
    }
    Ok(h)
}

/// DNS host-name syntax: labels of 1–63 letters, digits and hyphens, not starting or ending
/// with a hyphen, at least two labels, at most 253 characters. `host` is canonical.
pub fn check_syntax(host: &str) -> Result<(), Refusal> {
    let labels_ok = host.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    if !labels_ok || host.len() > 253 {
        return Err(Refusal::Invalid(
            "must be a host name such as assets.example.com (labels of letters, digits and \
             '-', at most 63 characters each, 253 in all)",
        ));
    }
    if !host.contains('.') {
        return Err(Refusal::Invalid(
            "must have at least two labels, such as assets.example.com",
        ));
    }
    Ok(())
}

/// An IP address in any form a resolver or URL parser accepts as one: IPv6 (bracketed or
/// not), dotted IPv4, and the inet_aton forms (`2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`).
/// Following the URL standard, a name whose last label is a number is an IPv4 address: no
/// top-level domain is numeric. `host` is canonical.
pub fn is_ip_literal(host: &str) -> bool {
    // Brackets only ever enclose an IPv6 address; a bare one is recognised by parsing.
    if host.starts_with('[') || host.parse::<std::net::Ipv6Addr>().is_ok() {
        return true;
    }
    let last = host.rsplit('.').next().unwrap_or(host);
    let hex = last
        .strip_prefix("0x")
        .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
    hex || (!last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()))
}

/// The names no bucket may link: built-in ones and those from configuration.
#[derive(Debug, Clone, Default)]
pub struct ReservedHosts {
    /// `(name, why)`: the name and every name under it.
    trees: Vec<(String, String)>,
    /// `(name, why)`: only that name.
    exact: Vec<(String, String)>,
    /// `(suffix, why)` from `*.suffix` patterns: names under the suffix, not the suffix itself.
    under: Vec<(String, String)>,
}

/// The endpoint names a gateway answers to, from its configuration.
#[derive(Debug, Clone, Default)]
pub struct EndpointNames<'a> {
    /// Virtual-host base domain of the S3 API.
    pub s3_base: &'a str,
    /// `<bucket>.<website base>` serves websites.
    pub website_base: &'a str,
    /// Host of `public_endpoint`, when set.
    pub public_host: Option<String>,
    /// Hosts the admin listener is reached by (the console's origins).
    pub admin_hosts: Vec<String>,
    /// `reserved_hosts` from the configuration: names, or `*.suffix` patterns.
    pub configured: &'a [String],
}

impl ReservedHosts {
    pub fn new(names: &EndpointNames<'_>) -> Self {
        let mut r = Self::default();
        r.tree("localhost", "localhost and names under it are reserved");
        r.tree(
            names.s3_base,
            &format!(
                "the S3 base domain {} and names under it are reserved",
                names.s3_base
            ),
        );
        r.tree(
            names.website_base,
            &format!(
                "the website base domain {} and names under it are reserved (its buckets are \
                 already served as <bucket>.{})",
                names.website_base, names.website_base
            ),
        );
        if let Some(h) = &names.public_host {
            r.tree(h, &format!("{h} is the S3 endpoint's public host"));
        }
        for h in &names.admin_hosts {
            r.push_exact(h, &format!("{h} is a host of the admin listener"));
        }
        for pattern in names.configured {
            let why = format!("{pattern} is listed in reserved_hosts");
            match pattern.strip_prefix("*.") {
                Some(suffix) => r.under.push((canonical(suffix).into_owned(), why)),
                None => r.push_exact(pattern, &why),
            }
        }
        r
    }

    fn tree(&mut self, name: &str, why: &str) {
        let name = canonical(name);
        if !name.is_empty() {
            self.trees.push((name.into_owned(), why.to_owned()));
        }
    }

    fn push_exact(&mut self, name: &str, why: &str) {
        let name = canonical(name);
        if !name.is_empty() {
            self.exact.push((name.into_owned(), why.to_owned()));
        }
    }

    /// Why `host` (canonical, see [`canonical`]) can never route to a bucket by a linked
    /// domain, or `None` when it may. The one decision used at link time, at start-up and on
    /// every request.
    pub fn reason(&self, host: &str) -> Option<String> {
        if is_ip_literal(host) {
            return Some(format!("{host} is an IP address literal"));
        }
        let within = |name: &str| host == name || is_under(host, name);
        self.trees
            .iter()
            .find(|(name, _)| within(name))
            .or_else(|| self.exact.iter().find(|(name, _)| host == name))
            .or_else(|| self.under.iter().find(|(suffix, _)| is_under(host, suffix)))
            .map(|(_, why)| why.clone())
    }

    /// The full check of a name a user asks to link: canonical form, reserved names, then
    /// DNS syntax. Returns the canonical name.
    pub fn check_link(&self, input: &str) -> Result<String, Refusal> {
        let host = normalize_domain(input)?;
        if let Some(why) = self.reason(&host) {
            return Err(Refusal::Reserved(why));
        }
        check_syntax(&host)?;
        Ok(host)
    }
}

/// `host` is a name strictly under `parent` (`a.b.example` under `example`).
fn is_under(host: &str, parent: &str) -> bool {
    host.strip_suffix(parent)
        .is_some_and(|rest| rest.len() > 1 && rest.ends_with('.'))
}

/// The host of a URL such as `https://s3.example.com:8443/` (for `public_endpoint` and the
/// console's origins).
pub fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let h = canonical(authority);
    (!h.is_empty()).then(|| h.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reserved() -> ReservedHosts {
        ReservedHosts::new(&EndpointNames {
            s3_base: "S3.Example.com",
            website_base: "web.example.com",
            public_host: url_host("https://gw.example.com:8443/"),
            admin_hosts: vec!["admin.example.com".into()],
            configured: &["exact.example.org".into(), "*.internal.example.org".into()],
        })
    }

    #[test]
    fn hosts_are_canonical() {
        assert_eq!(
            canonical("Photos.S3.LocalHost.:9000"),
            "photos.s3.localhost"
        );
        assert_eq!(canonical("LOCALHOST."), "localhost");
        assert_eq!(canonical("[::1]:9000"), "[::1]");
        assert_eq!(canonical("::1"), "::1");
        assert_eq!(canonical("a.example:x"), "a.example:x");
        assert!(matches!(canonical("plain.example"), Cow::Borrowed(_)));
    }

    #[test]
    fn ip_literals_in_every_form() {
        for ip in [
            "127.0.0.1",
            "2130706433",
            "0x7f.1",
            "0x7f000001",
            "0177.0.0.1",
            "127.1",
            "[::1]",
            "::1",
            "[::ffff:127.0.0.1]",
            "a.1",
        ] {
            assert!(is_ip_literal(ip), "{ip}");
        }
        for name in ["example.com", "0x.example", "x1.example", "1a.example"] {
            assert!(!is_ip_literal(name), "{name}");
        }
    }

    #[test]
    fn reserved_names_are_refused() {
        let r = reserved();
        for host in [
            "localhost",
            "s3.localhost",
            "bucket.s3.localhost",
            "s3.example.com",
            "photos.s3.example.com",
            "web.example.com",
            "site.web.example.com",
            "gw.example.com",
            "x.gw.example.com",
            "admin.example.com",
            "exact.example.org",
            "a.internal.example.org",
            "127.0.0.1",
        ] {
            assert!(r.reason(host).is_some(), "{host}");
        }
        for host in [
            "assets.example.com",
            "x.admin.example.com",
            "internal.example.org",
            "mylocalhost.example",
            "evil-s3.example.com",
        ] {
            assert_eq!(r.reason(host), None, "{host}");
        }
    }

    #[test]
    fn links_are_normalized_then_checked() {
        let r = reserved();
        assert_eq!(
            r.check_link(" Assets.Example.COM.:443").unwrap(),
            "assets.example.com"
        );
        for (input, code) in [
            ("LOCALHOST.", "ReservedDomain"),
            ("localhost:9000", "ReservedDomain"),
            ("[::1]:9000", "ReservedDomain"),
            ("0x7f.1", "ReservedDomain"),
            ("", "InvalidDomain"),
            ("bücher.example", "InvalidDomain"),
            ("single", "InvalidDomain"),
            ("a..b", "InvalidDomain"),
            ("-a.com", "InvalidDomain"),
            ("http://a.com", "InvalidDomain"),
            ("a/b.com", "InvalidDomain"),
            ("a_b.com", "InvalidDomain"),
        ] {
            assert_eq!(r.check_link(input).unwrap_err().code(), code, "{input:?}");
        }
        let long = format!("{}.com", vec!["a".repeat(63); 4].join("."));
        assert_eq!(r.check_link(&long).unwrap_err().code(), "InvalidDomain");
        let label = format!("{}.com", "a".repeat(64));
        assert_eq!(r.check_link(&label).unwrap_err().code(), "InvalidDomain");
    }
}
