//! Known hosts: the Mangopay and Mastercard base URLs ([`Preset`]) and the check that warns
//! about a Mangopay host the client certificate would not reach ([`check_base_url`]).
//!
//! The URL itself is parsed by the client ([`BaseUrl`]); this module only knows which hosts
//! are which.

use core::fmt;

/// Mangopay sandbox, mTLS host: use it whenever a client certificate is configured.
pub const MANGOPAY_SANDBOX_MTLS: &str = "https://api-mtls.sandbox.mangopay.com";
/// Mangopay production, mTLS host.
pub const MANGOPAY_PRODUCTION_MTLS: &str = "https://api-mtls.mangopay.com";
/// Mangopay sandbox without mTLS: the client certificate is not seen here.
pub const MANGOPAY_SANDBOX: &str = "https://api.sandbox.mangopay.com";
/// Mangopay production without mTLS: the client certificate is not seen here.
pub const MANGOPAY_PRODUCTION: &str = "https://api.mangopay.com";
/// Mastercard sandbox ("MTF"). Individual APIs add a path and may use another host.
pub const MASTERCARD_SANDBOX: &str = "https://mtf.services.mastercard.com";
/// Mastercard production. Individual APIs add a path and may use another host.
pub const MASTERCARD_PRODUCTION: &str = "https://services.mastercard.com";

/// Who runs an API: what decides how it authorises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Vendor {
    /// Mangopay.
    Mangopay,
    /// Mastercard.
    Mastercard,
}

/// A known mTLS API environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Preset {
    /// `MANGOPAY_SANDBOX_MTLS`.
    MangopaySandbox,
    /// `MANGOPAY_PRODUCTION_MTLS`.
    MangopayProduction,
    /// `MASTERCARD_SANDBOX`.
    MastercardSandbox,
    /// `MASTERCARD_PRODUCTION`.
    MastercardProduction,
}

impl Preset {
    /// Every preset.
    pub const ALL: [Preset; 4] = [
        Preset::MangopaySandbox,
        Preset::MangopayProduction,
        Preset::MastercardSandbox,
        Preset::MastercardProduction,
    ];

    /// The base URL (mTLS host, no trailing slash).
    pub const fn base_url(self) -> &'static str {
        match self {
            Preset::MangopaySandbox => MANGOPAY_SANDBOX_MTLS,
            Preset::MangopayProduction => MANGOPAY_PRODUCTION_MTLS,
            Preset::MastercardSandbox => MASTERCARD_SANDBOX,
            Preset::MastercardProduction => MASTERCARD_PRODUCTION,
        }
    }

    /// A short name for configuration: `mangopay-sandbox`, `mangopay-production`,
    /// `mastercard-sandbox`, `mastercard-production`.
    pub const fn name(self) -> &'static str {
        match self {
            Preset::MangopaySandbox => "mangopay-sandbox",
            Preset::MangopayProduction => "mangopay-production",
            Preset::MastercardSandbox => "mastercard-sandbox",
            Preset::MastercardProduction => "mastercard-production",
        }
    }

    /// The preset called `name` (see [`Preset::name`]; ASCII case ignored).
    pub fn from_name(name: &str) -> Option<Preset> {
        Preset::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }

    /// Who runs it.
    const fn vendor(self) -> Vendor {
        match self {
            Preset::MangopaySandbox | Preset::MangopayProduction => Vendor::Mangopay,
            Preset::MastercardSandbox | Preset::MastercardProduction => Vendor::Mastercard,
        }
    }

    /// The OAuth client-credentials token path, for APIs that use one (Mangopay:
    /// `/v2.01/oauth/token`; Mastercard's mTLS APIs authenticate by certificate: `None`).
    pub const fn token_path(self) -> Option<&'static str> {
        match self.vendor() {
            Vendor::Mangopay => Some(crate::auth::DEFAULT_TOKEN_PATH),
            Vendor::Mastercard => None,
        }
    }
}

/// Something likely wrong with a base URL that is still usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BaseUrlWarning {
    /// A Mangopay host without `api-mtls`: the client certificate would not be seen, and
    /// calls fail once Mangopay enforces mTLS.
    MangopayWithoutMtls {
        /// The `api-mtls` base URL to use instead, when the host is one of the two standard
        /// API hosts.
        suggestion: Option<&'static str>,
    },
}

impl fmt::Display for BaseUrlWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BaseUrlWarning::MangopayWithoutMtls { suggestion } => {
                f.write_str(
                    "Mangopay base URL without `api-mtls`: the client certificate would not be seen",
                )?;
                if let Some(url) = suggestion {
                    write!(f, "; use {url}")?;
                }
                Ok(())
            }
        }
    }
}

/// Whether `host` is Mangopay's (`mangopay.com` or a subdomain; ASCII case and a trailing
/// dot ignored).
///
/// ```
/// use mtls_core::internals::is_mangopay_host;
/// assert!(is_mangopay_host("API.Mangopay.com."));
/// assert!(!is_mangopay_host("mangopay.com.evil.test"));
/// ```
pub fn is_mangopay_host(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    let suffix = ".mangopay.com";
    host.eq_ignore_ascii_case("mangopay.com")
        || (host.len() > suffix.len()
            && host
                .get(host.len() - suffix.len()..)
                .is_some_and(|s| s.eq_ignore_ascii_case(suffix)))
}

/// Warns when `host` (a base URL's, see [`crate::client::BaseUrl::host`]) is a Mangopay
/// host whose first label is not `api-mtls`: the certificate would not be seen there.
pub fn check_base_url(host: &str) -> Option<BaseUrlWarning> {
    if !is_mangopay_host(host) {
        return None;
    }
    let host = host.strip_suffix('.').unwrap_or(host);
    let first_label = host.split('.').next().unwrap_or("");
    if first_label.eq_ignore_ascii_case("api-mtls") {
        return None;
    }
    let plain = |url: &str| host.eq_ignore_ascii_case(url.trim_start_matches("https://"));
    let suggestion = if plain(MANGOPAY_SANDBOX) {
        Some(MANGOPAY_SANDBOX_MTLS)
    } else if plain(MANGOPAY_PRODUCTION) {
        Some(MANGOPAY_PRODUCTION_MTLS)
    } else {
        None
    };
    Some(BaseUrlWarning::MangopayWithoutMtls { suggestion })
}
