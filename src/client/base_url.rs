//! The base URL the client talks to: `https://host[:port][/prefix]`, parsed and checked
//! before any traffic. Which hosts are known (and which deserve a warning) is `presets`'
//! business, not this module's.

use core::fmt;

/// The longest base URL accepted.
pub const MAX_BASE_URL_LEN: usize = 2048;

/// A parsed base URL: `https://host[:port][/prefix]`, borrowed from the input.
///
/// ```
/// use mtls_core::client::BaseUrl;
/// let url = BaseUrl::parse("https://localhost:8443/api/")?;
/// assert_eq!((url.host(), url.port(), url.path_prefix()), ("localhost", Some(8443), "/api"));
/// assert_eq!(url.port_or_default(), 8443);
/// # Ok::<(), mtls_core::client::BaseUrlError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BaseUrl<'a> {
    host: &'a str,
    port: Option<u16>,
    path_prefix: &'a str,
}

impl<'a> BaseUrl<'a> {
    /// Parses `url`. Scheme `https` (any case) only; host a DNS name, IPv4 address or
    /// bracketed IPv6 address; optional port 1..=65535; optional path, whose trailing `/`s
    /// are dropped. No user info, query or fragment.
    ///
    /// # Errors
    /// [`BaseUrlError`], saying which part is wrong.
    pub fn parse(url: &'a str) -> Result<BaseUrl<'a>, BaseUrlError> {
        if url.len() > MAX_BASE_URL_LEN {
            return Err(BaseUrlError::TooLong);
        }
        let rest = match url.get(..8) {
            Some(scheme) if scheme.eq_ignore_ascii_case("https://") => url.get(8..).unwrap_or(""),
            _ => return Err(BaseUrlError::NotHttps),
        };
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(authority_end);
        if authority.contains('@') {
            return Err(BaseUrlError::UserInfo);
        }
        if path.contains(['?', '#']) {
            return Err(BaseUrlError::QueryOrFragment);
        }
        if !path.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(BaseUrlError::InvalidPath);
        }

        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let close = v6.find(']').ok_or(BaseUrlError::InvalidHost)?;
            let (addr, after) = v6.split_at(close);
            if addr.is_empty()
                || !addr
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
            {
                return Err(BaseUrlError::InvalidHost);
            }
            // `after` starts with ']'.
            let host = authority.get(..close + 2).unwrap_or(authority);
            (host, after.get(1..).unwrap_or(""))
        } else {
            match authority.find(':') {
                Some(i) => (
                    authority.get(..i).unwrap_or(""),
                    authority.get(i..).unwrap_or(""),
                ),
                None => (authority, ""),
            }
        };
        if host.is_empty() {
            return Err(BaseUrlError::EmptyHost);
        }
        if !host.starts_with('[') && !is_dns_name(host) {
            return Err(BaseUrlError::InvalidHost);
        }
        let port = match port {
            "" => None,
            p => Some(parse_port(
                p.strip_prefix(':').ok_or(BaseUrlError::InvalidPort)?,
            )?),
        };
        Ok(BaseUrl {
            host,
            port,
            path_prefix: path.trim_end_matches('/'),
        })
    }

    /// The host as written (IPv6 addresses keep their brackets).
    pub fn host(&self) -> &'a str {
        self.host
    }

    /// The host for TLS server-name indication and certificate checks: without IPv6
    /// brackets and without a trailing dot.
    pub fn server_name(&self) -> &'a str {
        let h = self.host;
        match h.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(v6) => v6,
            None => h.strip_suffix('.').unwrap_or(h),
        }
    }

    /// The port, if given.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The port, or 443.
    pub fn port_or_default(&self) -> u16 {
        self.port.unwrap_or(443)
    }

    /// The path prefix without trailing `/` (`""` when none): request paths go after it.
    pub fn path_prefix(&self) -> &'a str {
        self.path_prefix
    }
}

fn is_dns_name(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn parse_port(p: &str) -> Result<u16, BaseUrlError> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BaseUrlError::InvalidPort);
    }
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(BaseUrlError::InvalidPort),
        Ok(port) => Ok(port),
    }
}

/// What is wrong with a base URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BaseUrlError {
    /// Longer than 2,048 bytes.
    TooLong,
    /// The scheme is not `https://` (mTLS needs TLS).
    NotHttps,
    /// User info (`user@`) is not accepted: credentials go in [`Credentials`](crate::auth::Credentials).
    UserInfo,
    /// No host.
    EmptyHost,
    /// The host is not a DNS name, IPv4 address or bracketed IPv6 address.
    InvalidHost,
    /// The port is not a number in 1..=65535.
    InvalidPort,
    /// A query (`?`) or fragment (`#`) is not accepted in a base URL.
    QueryOrFragment,
    /// The path has a space or control character.
    InvalidPath,
}

impl fmt::Display for BaseUrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BaseUrlError::TooLong => "base URL is too long",
            BaseUrlError::NotHttps => "base URL must start with https://",
            BaseUrlError::UserInfo => "base URL must not contain user info (user@host)",
            BaseUrlError::EmptyHost => "base URL has no host",
            BaseUrlError::InvalidHost => "base URL host is not a valid name or address",
            BaseUrlError::InvalidPort => "base URL port is not a number in 1..=65535",
            BaseUrlError::QueryOrFragment => "base URL must not contain a query or fragment",
            BaseUrlError::InvalidPath => "base URL path contains a space or control character",
        })
    }
}

impl core::error::Error for BaseUrlError {}
