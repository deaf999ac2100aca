//! Known APIs: base URLs, a base-URL check, error bodies and rate-limit headers.
//!
//! - Base URLs of Mangopay (the `api-mtls` hosts that see the client certificate, and the
//!   plain ones that do not) and Mastercard ([`Preset`]).
//! - [`check_base_url`] warns about a Mangopay host without `api-mtls` (the URL itself is
//!   parsed by the client: [`BaseUrl::parse`]).
//! - [`ErrorBody::parse`]: Mangopay and Mastercard error JSON as typed values, or a typed
//!   "unrecognised" outcome; never a panic.
//! - [`RateLimits::from_headers`]: Mangopay's `X-RateLimit*` headers.
//!
//! ```
//! use mtls_core::client::BaseUrl;
//! use mtls_core::presets::{check_base_url, BaseUrlWarning, ErrorBody, Preset};
//!
//! let url = BaseUrl::parse(Preset::MangopaySandbox.base_url())?;
//! assert_eq!(url.host(), "api-mtls.sandbox.mangopay.com");
//! assert_eq!(check_base_url(&url), None);
//!
//! let plain = BaseUrl::parse("https://api.sandbox.mangopay.com/")?;
//! assert_eq!(
//!     check_base_url(&plain),
//!     Some(BaseUrlWarning::MangopayWithoutMtls {
//!         suggestion: Some("https://api-mtls.sandbox.mangopay.com")
//!     })
//! );
//!
//! let body = br#"{"Errors":{"Error":[{"Source":"Gateway","ReasonCode":"INVALID_CLIENT_CERT",
//!     "Description":"The client certificate is invalid or missing.","Recoverable":false}]}}"#;
//! assert!(ErrorBody::parse(body).is_invalid_client_cert());
//! # Ok::<(), mtls_core::client::BaseUrlError>(())
//! ```
//!
//! # Bounds
//!
//! Error bodies longer than [`MAX_ERROR_BODY_LEN`] (16 KiB) or nested deeper than 32 are not
//! parsed. Text fields are kept as `String`s cut (at a character boundary) to
//! [`MAX_TEXT_LEN`] (512 bytes) for messages and descriptions, [`MAX_SHORT_TEXT_LEN`] (128)
//! for types, ids, codes, sources and field names; at most [`MAX_FIELD_ERRORS`] (32) Mangopay
//! field errors and [`MAX_MASTERCARD_ERRORS`] (8) Mastercard errors are kept, with a
//! `truncated` flag when more were sent. Text fields that hold another JSON type are read as
//! absent rather than failing the parse. Rate-limit headers keep at most
//! [`MAX_RATE_LIMIT_VALUES`] (8) numbers each.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use crate::client::BaseUrl;
use crate::json::{self, LenientText, OneOrMany, RawStr};

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

/// Who runs an API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Vendor {
    /// Mangopay.
    Mangopay,
    /// Mastercard.
    Mastercard,
}

/// A known mTLS API environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Preset {
    /// [`MANGOPAY_SANDBOX_MTLS`].
    MangopaySandbox,
    /// [`MANGOPAY_PRODUCTION_MTLS`].
    MangopayProduction,
    /// [`MASTERCARD_SANDBOX`].
    MastercardSandbox,
    /// [`MASTERCARD_PRODUCTION`].
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
    pub const fn vendor(self) -> Vendor {
        match self {
            Preset::MangopaySandbox | Preset::MangopayProduction => Vendor::Mangopay,
            Preset::MastercardSandbox | Preset::MastercardProduction => Vendor::Mastercard,
        }
    }

    /// Whether it is a test environment.
    pub const fn is_sandbox(self) -> bool {
        matches!(self, Preset::MangopaySandbox | Preset::MastercardSandbox)
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

// ---------------------------------------------------------------------------------------------
// Base URLs

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

/// Whether `url`'s host is Mangopay's (`mangopay.com` or a subdomain; ASCII case and a
/// trailing dot ignored).
///
/// ```
/// use mtls_core::client::BaseUrl;
/// use mtls_core::presets::is_mangopay_host;
/// assert!(is_mangopay_host(&BaseUrl::parse("https://API.Mangopay.com.")?));
/// assert!(!is_mangopay_host(&BaseUrl::parse("https://mangopay.com.evil.test")?));
/// # Ok::<(), mtls_core::client::BaseUrlError>(())
/// ```
pub fn is_mangopay_host(url: &BaseUrl<'_>) -> bool {
    let host = url.host();
    let host = host.strip_suffix('.').unwrap_or(host);
    let suffix = ".mangopay.com";
    host.eq_ignore_ascii_case("mangopay.com")
        || (host.len() > suffix.len()
            && host
                .get(host.len() - suffix.len()..)
                .is_some_and(|s| s.eq_ignore_ascii_case(suffix)))
}

/// Warns when `url` is a Mangopay host whose first label is not `api-mtls`.
pub fn check_base_url(url: &BaseUrl<'_>) -> Option<BaseUrlWarning> {
    if !is_mangopay_host(url) {
        return None;
    }
    let host = url.server_name();
    let first_label = host.split('.').next().unwrap_or("");
    if first_label.eq_ignore_ascii_case("api-mtls") {
        return None;
    }
    let suggestion = if host.eq_ignore_ascii_case("api.sandbox.mangopay.com") {
        Some(MANGOPAY_SANDBOX_MTLS)
    } else if host.eq_ignore_ascii_case("api.mangopay.com") {
        Some(MANGOPAY_PRODUCTION_MTLS)
    } else {
        None
    };
    Some(BaseUrlWarning::MangopayWithoutMtls { suggestion })
}

// ---------------------------------------------------------------------------------------------
// Error bodies

/// The longest error body parsed, in bytes.
pub const MAX_ERROR_BODY_LEN: usize = 16 * 1024;
/// Cap on messages and descriptions, in bytes.
pub const MAX_TEXT_LEN: usize = 512;
/// Cap on types, ids, reason codes, sources and field names, in bytes.
pub const MAX_SHORT_TEXT_LEN: usize = 128;
/// Most Mangopay field errors kept.
pub const MAX_FIELD_ERRORS: usize = 32;
/// Most Mastercard errors kept.
pub const MAX_MASTERCARD_ERRORS: usize = 8;

/// The Mastercard reason code for a client certificate that is invalid or missing.
pub const INVALID_CLIENT_CERT: &str = "INVALID_CLIENT_CERT";

/// A Mangopay error answer:
/// `{"Message":..,"Type":..,"Id":..,"Date":..,"errors":{"Field":"message",..}}`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MangopayError {
    /// `Message`: what went wrong, for people.
    pub message: Option<String>,
    /// `Type`: a machine-readable kind, e.g. `param_error`.
    pub error_type: Option<String>,
    /// `Id`: the error's identifier (quote it to support).
    pub id: Option<String>,
    /// `Date`: Unix time in seconds (fraction dropped).
    pub date: Option<i64>,
    /// `errors`: per-field messages, in the order sent.
    pub field_errors: Vec<FieldError>,
    /// More than [`MAX_FIELD_ERRORS`] field errors were sent; the rest were dropped.
    pub field_errors_truncated: bool,
}

/// One entry of Mangopay's `errors` map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The parameter name.
    pub field: String,
    /// What is wrong with it (empty if the value was not a string).
    pub message: String,
}

impl fmt::Display for MangopayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Mangopay error")?;
        if let Some(t) = &self.error_type {
            write!(f, " {t}")?;
        }
        if let Some(m) = &self.message {
            write!(f, ": {m}")?;
        }
        for e in &self.field_errors {
            write!(f, "; {}: {}", e.field, e.message)?;
        }
        if let Some(id) = &self.id {
            write!(f, " (Id {id})")?;
        }
        Ok(())
    }
}

impl core::error::Error for MangopayError {}

/// A Mastercard error answer: `{"Errors":{"Error":[..]}}` or a single flat
/// `{"Source":..,"ReasonCode":..,"Description":..,"Recoverable":..}`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MastercardError {
    /// The errors, in the order sent.
    pub errors: Vec<MastercardErrorEntry>,
    /// More than [`MAX_MASTERCARD_ERRORS`] were sent; the rest were dropped.
    pub truncated: bool,
}

impl MastercardError {
    /// Whether any error has reason code [`INVALID_CLIENT_CERT`].
    pub fn is_invalid_client_cert(&self) -> bool {
        self.errors
            .iter()
            .any(MastercardErrorEntry::is_invalid_client_cert)
    }
}

impl fmt::Display for MastercardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Mastercard error")?;
        for (i, e) in self.errors.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { "; " })?;
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl core::error::Error for MastercardError {}

/// One Mastercard error.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MastercardErrorEntry {
    /// `Source`: the component that raised it.
    pub source: Option<String>,
    /// `ReasonCode`, e.g. [`INVALID_CLIENT_CERT`].
    pub reason_code: Option<String>,
    /// `Description`.
    pub description: Option<String>,
    /// `Recoverable`: whether retrying can help.
    pub recoverable: Option<bool>,
    /// `Details`.
    pub details: Option<String>,
}

impl MastercardErrorEntry {
    /// Whether the reason code is [`INVALID_CLIENT_CERT`] (ASCII case ignored).
    pub fn is_invalid_client_cert(&self) -> bool {
        self.reason_code
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case(INVALID_CLIENT_CERT))
    }
}

impl fmt::Display for MastercardErrorEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.reason_code.as_deref().unwrap_or("(no reason code)");
        f.write_str(code)?;
        if let Some(d) = &self.description {
            write!(f, ": {d}")?;
        }
        if let Some(s) = &self.source {
            write!(f, " (source {s})")?;
        }
        Ok(())
    }
}

/// Why an error body was not recognised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UnrecognisedBody {
    /// Empty or only whitespace.
    Empty,
    /// Longer than [`MAX_ERROR_BODY_LEN`].
    TooLarge,
    /// Nested deeper than 32 levels.
    TooDeep,
    /// Not JSON, or JSON of an unexpected type where a value was required.
    NotJson,
    /// Valid JSON, but neither a Mangopay nor a Mastercard error.
    UnknownShape,
}

impl fmt::Display for UnrecognisedBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UnrecognisedBody::Empty => "empty error body",
            UnrecognisedBody::TooLarge => "error body too large to parse",
            UnrecognisedBody::TooDeep => "error body nested too deeply",
            UnrecognisedBody::NotJson => "error body is not JSON of a known shape",
            UnrecognisedBody::UnknownShape => "error body is JSON of an unknown shape",
        })
    }
}

impl core::error::Error for UnrecognisedBody {}

/// An API error body, typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorBody {
    /// A Mangopay error.
    Mangopay(MangopayError),
    /// A Mastercard error.
    Mastercard(MastercardError),
    /// Neither (the raw body is still the caller's).
    Unrecognised(UnrecognisedBody),
}

impl ErrorBody {
    /// Parses an error body of either vendor. A Mangopay error needs `Message` or `Type`; a
    /// Mastercard error needs at least one entry with `ReasonCode`, `Description` or
    /// `Source`. Never panics.
    pub fn parse(body: &[u8]) -> ErrorBody {
        match parse_mangopay_error(body) {
            Ok(e) => ErrorBody::Mangopay(e),
            Err(UnrecognisedBody::UnknownShape) => match parse_mastercard_error(body) {
                Ok(e) => ErrorBody::Mastercard(e),
                Err(why) => ErrorBody::Unrecognised(why),
            },
            Err(why) => match parse_mastercard_error(body) {
                Ok(e) => ErrorBody::Mastercard(e),
                Err(_) => ErrorBody::Unrecognised(why),
            },
        }
    }

    /// Whether this is Mastercard's [`INVALID_CLIENT_CERT`].
    pub fn is_invalid_client_cert(&self) -> bool {
        matches!(self, ErrorBody::Mastercard(e) if e.is_invalid_client_cert())
    }
}

impl fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorBody::Mangopay(e) => e.fmt(f),
            ErrorBody::Mastercard(e) => e.fmt(f),
            ErrorBody::Unrecognised(e) => e.fmt(f),
        }
    }
}

fn precheck(body: &[u8]) -> Result<(), UnrecognisedBody> {
    if json::is_blank(body) {
        return Err(UnrecognisedBody::Empty);
    }
    if body.len() > MAX_ERROR_BODY_LEN {
        return Err(UnrecognisedBody::TooLarge);
    }
    if !json::depth_within(body, json::MAX_JSON_DEPTH) {
        return Err(UnrecognisedBody::TooDeep);
    }
    Ok(())
}

/// Parses a Mangopay error body.
///
/// ```
/// use mtls_core::presets::parse_mangopay_error;
/// let e = parse_mangopay_error(br#"{"Message":"Invalid","Type":"param_error",
///     "errors":{"FirstName":"The FirstName field is required."}}"#).unwrap();
/// assert_eq!(e.field_errors[0].field, "FirstName");
/// ```
///
/// # Errors
/// [`UnrecognisedBody`] if it is not one.
pub fn parse_mangopay_error(body: &[u8]) -> Result<MangopayError, UnrecognisedBody> {
    precheck(body)?;
    let raw: RawMangopay = json::from_slice(body).map_err(|_| UnrecognisedBody::NotJson)?;
    if raw.message.0.is_none() && raw.error_type.0.is_none() {
        return Err(UnrecognisedBody::UnknownShape);
    }
    let errors = raw.errors;
    Ok(MangopayError {
        message: raw.message.0,
        error_type: raw.error_type.0,
        id: raw.id.0,
        date: raw.date.and_then(unix_seconds),
        field_errors: errors.items,
        field_errors_truncated: errors.truncated,
    })
}

/// Parses a Mastercard error body (wrapped `Errors.Error` list, a single wrapped object, or
/// the flat form).
///
/// ```
/// use mtls_core::presets::parse_mastercard_error;
/// let e = parse_mastercard_error(br#"{"Source":"Gateway","ReasonCode":"INVALID_CLIENT_CERT",
///     "Description":"The client certificate is invalid or missing.","Recoverable":false}"#).unwrap();
/// assert!(e.is_invalid_client_cert());
/// ```
///
/// # Errors
/// [`UnrecognisedBody`] if it is not one.
pub fn parse_mastercard_error(body: &[u8]) -> Result<MastercardError, UnrecognisedBody> {
    precheck(body)?;
    let raw: RawMastercard = json::from_slice(body).map_err(|_| UnrecognisedBody::NotJson)?;
    let mut out = MastercardError::default();
    if let Some(list) = raw.errors.and_then(|e| e.error) {
        out.truncated = list.truncated;
        out.errors = list
            .items
            .into_iter()
            .map(RawMastercardEntry::into_entry)
            .filter(MastercardErrorEntry::is_meaningful)
            .collect();
    }
    let flat = MastercardErrorEntry {
        source: raw.source.0,
        reason_code: raw.reason_code.0,
        description: raw.description.0,
        recoverable: raw.recoverable,
        details: raw.details.0,
    };
    if out.errors.is_empty() && flat.is_meaningful() {
        out.errors.push(flat);
    }
    if out.errors.is_empty() {
        return Err(UnrecognisedBody::UnknownShape);
    }
    Ok(out)
}

impl MastercardErrorEntry {
    fn is_meaningful(&self) -> bool {
        self.reason_code.is_some() || self.description.is_some() || self.source.is_some()
    }
}

fn unix_seconds(date: f64) -> Option<i64> {
    // Finite and within ±2^53 (exact in f64, far beyond any real date): the cast is exact.
    const LIMIT: f64 = 9_007_199_254_740_992.0;
    // `as` truncates toward zero.
    (date.is_finite() && date.abs() <= LIMIT).then_some(date as i64)
}

#[derive(Deserialize)]
struct RawMangopay {
    #[serde(rename = "Message", default)]
    message: LenientText<MAX_TEXT_LEN>,
    #[serde(rename = "Type", default)]
    error_type: LenientText<MAX_SHORT_TEXT_LEN>,
    #[serde(rename = "Id", default)]
    id: LenientText<MAX_SHORT_TEXT_LEN>,
    #[serde(rename = "Date", default)]
    date: Option<f64>,
    #[serde(rename = "errors", default)]
    errors: FieldErrors,
}

/// Mangopay's `errors`: an object of arbitrary field names to messages, read with a custom
/// visitor (a derived struct cannot take arbitrary keys, and `serde-json-core` has no map type
/// of its own without `heapless`). Any other JSON value (`null`, an array, ...) reads as no
/// field errors.
#[derive(Default)]
struct FieldErrors {
    items: Vec<FieldError>,
    truncated: bool,
}

impl<'de> Deserialize<'de> for FieldErrors {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FieldErrors;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of field names to messages")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FieldErrors, A::Error> {
                let mut out = FieldErrors::default();
                while let Some(key) = map.next_key::<RawStr<'de>>()? {
                    let value = map.next_value::<LenientText<MAX_TEXT_LEN>>()?;
                    if out.items.len() >= MAX_FIELD_ERRORS {
                        out.truncated = true;
                        continue;
                    }
                    let field = key
                        .to_bounded_string(MAX_SHORT_TEXT_LEN)
                        .ok_or_else(|| de::Error::custom("invalid escape sequence"))?;
                    out.items.push(FieldError {
                        field,
                        message: value.0.unwrap_or_default(),
                    });
                }
                Ok(out)
            }
            fn visit_unit<E: de::Error>(self) -> Result<FieldErrors, E> {
                Ok(FieldErrors::default())
            }
            fn visit_borrowed_str<E: de::Error>(self, _: &'de str) -> Result<FieldErrors, E> {
                Ok(FieldErrors::default())
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<FieldErrors, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(FieldErrors::default())
            }
        }
        // See `LenientText`: `deserialize_ignored_any` dispatches on the value's JSON type.
        deserializer.deserialize_ignored_any(V)
    }
}

#[derive(Deserialize)]
struct RawMastercard {
    #[serde(rename = "Errors", default)]
    errors: Option<RawMastercardErrors>,
    // The flat form's fields, listed rather than `#[serde(flatten)]`ed: flattening needs
    // `deserialize_any`, which serde-json-core does not support.
    #[serde(rename = "Source", default)]
    source: LenientText<MAX_SHORT_TEXT_LEN>,
    #[serde(rename = "ReasonCode", default)]
    reason_code: LenientText<MAX_SHORT_TEXT_LEN>,
    #[serde(rename = "Description", default)]
    description: LenientText<MAX_TEXT_LEN>,
    #[serde(rename = "Recoverable", default)]
    recoverable: Option<bool>,
    #[serde(rename = "Details", default)]
    details: LenientText<MAX_TEXT_LEN>,
}

#[derive(Deserialize)]
struct RawMastercardErrors {
    #[serde(rename = "Error", default)]
    error: Option<OneOrMany<RawMastercardEntry, MAX_MASTERCARD_ERRORS>>,
}

#[derive(Deserialize)]
struct RawMastercardEntry {
    #[serde(rename = "Source", default)]
    source: LenientText<MAX_SHORT_TEXT_LEN>,
    #[serde(rename = "ReasonCode", default)]
    reason_code: LenientText<MAX_SHORT_TEXT_LEN>,
    #[serde(rename = "Description", default)]
    description: LenientText<MAX_TEXT_LEN>,
    #[serde(rename = "Recoverable", default)]
    recoverable: Option<bool>,
    #[serde(rename = "Details", default)]
    details: LenientText<MAX_TEXT_LEN>,
}

impl RawMastercardEntry {
    fn into_entry(self) -> MastercardErrorEntry {
        MastercardErrorEntry {
            source: self.source.0,
            reason_code: self.reason_code.0,
            description: self.description.0,
            recoverable: self.recoverable,
            details: self.details.0,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Rate limits

/// Most numbers kept per rate-limit header (Mangopay sends one per window, four today).
pub const MAX_RATE_LIMIT_VALUES: usize = 8;

/// The numbers of one rate-limit header, in the order sent (one per rate-limit window).
pub type RateLimitValues = heapless::Vec<u64, MAX_RATE_LIMIT_VALUES>;

/// Mangopay's rate-limit headers, one number per rate-limit window in each.
///
/// Absent or malformed headers are `None` (a response is never failed over them).
///
/// ```
/// use mtls_core::presets::RateLimits;
/// let headers: [(&str, &[u8]); 3] = [
///     ("x-ratelimit", b"3, 5, 10, 40"),
///     ("X-RateLimit-Remaining", b"2297, 4495, 8990, 103960"),
///     ("X-RateLimit-Reset", b"1700000900,1700001800,1700003600,1700086400"),
/// ];
/// let limits = RateLimits::from_headers(headers);
/// assert_eq!(limits.calls_made.as_deref(), Some(&[3, 5, 10, 40][..]));
/// assert_eq!(limits.min_remaining(), Some(2297));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimits {
    /// `X-RateLimit`: calls made in each window.
    pub calls_made: Option<RateLimitValues>,
    /// `X-RateLimit-Remaining`: calls left in each window.
    pub remaining: Option<RateLimitValues>,
    /// `X-RateLimit-Reset`: when each window resets, as Unix time in seconds.
    pub reset: Option<RateLimitValues>,
}

impl RateLimits {
    /// The header carrying [`RateLimits::calls_made`].
    pub const CALLS_MADE_HEADER: &'static str = "X-RateLimit";
    /// The header carrying [`RateLimits::remaining`].
    pub const REMAINING_HEADER: &'static str = "X-RateLimit-Remaining";
    /// The header carrying [`RateLimits::reset`].
    pub const RESET_HEADER: &'static str = "X-RateLimit-Reset";

    /// Reads the three headers from `(name, value)` pairs (names compared case-insensitively;
    /// the first occurrence of each counts).
    pub fn from_headers<'a, I>(headers: I) -> RateLimits
    where
        I: IntoIterator<Item = (&'a str, &'a [u8])>,
    {
        let mut out = RateLimits::default();
        let mut seen = [false; 3];
        for (name, value) in headers {
            let (slot, idx) = if name.eq_ignore_ascii_case(Self::CALLS_MADE_HEADER) {
                (&mut out.calls_made, 0)
            } else if name.eq_ignore_ascii_case(Self::REMAINING_HEADER) {
                (&mut out.remaining, 1)
            } else if name.eq_ignore_ascii_case(Self::RESET_HEADER) {
                (&mut out.reset, 2)
            } else {
                continue;
            };
            // `idx` is 0, 1 or 2: in bounds.
            if !seen[idx] {
                seen[idx] = true;
                *slot = parse_rate_limit_values(value).ok();
            }
        }
        out
    }

    /// Whether none of the headers was found (or all were malformed).
    pub fn is_empty(&self) -> bool {
        self.calls_made.is_none() && self.remaining.is_none() && self.reset.is_none()
    }

    /// The fewest calls left in any window.
    pub fn min_remaining(&self) -> Option<u64> {
        self.remaining.as_ref()?.iter().copied().min()
    }
}

/// Why a rate-limit header value was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RateLimitError {
    /// An empty value or an empty item between commas.
    Empty,
    /// An item that is not a decimal number fitting in `u64`.
    InvalidNumber,
    /// More than [`MAX_RATE_LIMIT_VALUES`] items.
    TooManyValues,
}

impl fmt::Display for RateLimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RateLimitError::Empty => "empty rate-limit value",
            RateLimitError::InvalidNumber => "rate-limit value is not a list of numbers",
            RateLimitError::TooManyValues => "too many rate-limit values",
        })
    }
}

impl core::error::Error for RateLimitError {}

/// Parses one rate-limit header value: comma-separated decimal numbers, spaces around them
/// allowed.
///
/// # Errors
/// [`RateLimitError`].
pub fn parse_rate_limit_values(value: &[u8]) -> Result<RateLimitValues, RateLimitError> {
    let mut out = RateLimitValues::new();
    for item in value.split(|&b| b == b',') {
        let item = item.trim_ascii();
        if item.is_empty() {
            return Err(RateLimitError::Empty);
        }
        let mut n: u64 = 0;
        for &b in item {
            if !b.is_ascii_digit() {
                return Err(RateLimitError::InvalidNumber);
            }
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(b - b'0')))
                .ok_or(RateLimitError::InvalidNumber)?;
        }
        out.push(n).map_err(|_| RateLimitError::TooManyValues)?;
    }
    Ok(out)
}

impl crate::http::Response {
    /// Mangopay's rate-limit headers of this response (empty when it has none).
    ///
    /// ```
    /// # let mut decoder = mtls_core::http::ResponseDecoder::new(Default::default());
    /// # decoder.expect_response(mtls_core::http::ResponseContext::new("GET"))?;
    /// # decoder.feed(b"HTTP/1.1 200 OK\r\nX-RateLimit-Remaining: 2299, 2298\r\nContent-Length: 0\r\n\r\n")?;
    /// # let response = decoder.poll_response()?.unwrap();
    /// assert_eq!(response.rate_limits().min_remaining(), Some(2298));
    /// # Ok::<(), mtls_core::http::HttpError>(())
    /// ```
    pub fn rate_limits(&self) -> RateLimits {
        RateLimits::from_headers(self.headers.iter().map(|(n, v)| (n.as_str(), v.as_slice())))
    }

    /// The API's error body, parsed, for a response with status 400 or more.
    pub fn error_body(&self) -> Option<ErrorBody> {
        (self.status >= 400).then(|| ErrorBody::parse(&self.body))
    }
}
