//! Mangopay and Mastercard error bodies, parsed into typed values ([`ErrorBody`]), or a typed
//! "unrecognised" outcome; never a panic. The bounds are listed in the [module
//! docs](crate::presets#bounds).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use crate::http::Response;
use crate::json::{self, LenientText, OneOrMany, RawStr};

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
    /// More than 32 field errors were sent; the rest were dropped.
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
    /// More than 8 were sent; the rest were dropped.
    pub truncated: bool,
}

impl MastercardError {
    /// Whether any error has reason code `INVALID_CLIENT_CERT`.
    pub(crate) fn is_invalid_client_cert(&self) -> bool {
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
    /// `ReasonCode`, e.g. `INVALID_CLIENT_CERT`.
    pub reason_code: Option<String>,
    /// `Description`.
    pub description: Option<String>,
    /// `Recoverable`: whether retrying can help.
    pub recoverable: Option<bool>,
    /// `Details`.
    pub details: Option<String>,
}

impl MastercardErrorEntry {
    /// Whether the reason code is `INVALID_CLIENT_CERT` (ASCII case ignored).
    pub(crate) fn is_invalid_client_cert(&self) -> bool {
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
    /// Longer than 16 KiB.
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

    /// The API's error body of a decoded `response`, parsed as [`ErrorBody::parse`] does;
    /// `None` for a status below 400.
    ///
    /// ```
    /// use mtls_core::http::{Response, Version};
    /// use mtls_core::presets::ErrorBody;
    /// // As a client's `Event::Response` carries it.
    /// let response = Response {
    ///     version: Version::Http11,
    ///     status: 401,
    ///     reason: "Unauthorized".into(),
    ///     headers: vec![],
    ///     body: br#"{"ReasonCode":"INVALID_CLIENT_CERT"}"#.to_vec(),
    ///     trailers: vec![],
    ///     keep_alive: true,
    /// };
    /// assert!(ErrorBody::from_response(&response).is_some_and(|e| e.is_invalid_client_cert()));
    /// ```
    pub fn from_response(response: &Response) -> Option<ErrorBody> {
        (response.status >= 400).then(|| ErrorBody::parse(&response.body))
    }

    /// Whether this is Mastercard's `INVALID_CLIENT_CERT`.
    pub fn is_invalid_client_cert(&self) -> bool {
        matches!(self, ErrorBody::Mastercard(e) if e.is_invalid_client_cert())
    }
}

/// The pages nginx answers with under `ssl_verify_client on` when the client certificate
/// is bad or missing: it finishes the handshake and refuses at the HTTP layer.
const NGINX_CERTIFICATE_PAGES: [&str; 2] = [
    "The SSL certificate error",
    "No required SSL certificate was sent",
];

/// Whether `response` is the server refusing the client certificate in an HTTP answer
/// rather than a TLS alert: nginx's `400` pages for a bad or missing certificate (and the
/// `495`/`496` statuses behind them), or Mastercard's `INVALID_CLIENT_CERT`. The client
/// reports such an answer to its token request as
/// [`AuthError::ClientCertificateRefused`](crate::auth::AuthError::ClientCertificateRefused),
/// and callers can check API answers with it.
///
/// ```
/// use mtls_core::http::{Response, Version};
/// use mtls_core::presets::refuses_client_certificate;
///
/// let response = Response {
///     version: Version::Http11,
///     status: 400,
///     reason: "Bad Request".into(),
///     headers: vec![],
///     body: b"<html><head><title>400 The SSL certificate error</title></head></html>".to_vec(),
///     trailers: vec![],
///     keep_alive: false,
/// };
/// assert!(refuses_client_certificate(&response));
/// ```
pub fn refuses_client_certificate(response: &Response) -> bool {
    match response.status {
        495 | 496 => true,
        400..=499 => {
            let body = &response.body;
            NGINX_CERTIFICATE_PAGES
                .iter()
                .any(|page| body.windows(page.len()).any(|w| w == page.as_bytes()))
                || ErrorBody::parse(body).is_invalid_client_cert()
        }
        _ => false,
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
/// use mtls_core::internals::parse_mangopay_error;
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
        date: raw.date.and_then(|_| unix_seconds(body)),
        field_errors: errors.items,
        field_errors_truncated: errors.truncated,
    })
}

/// Parses a Mastercard error body (wrapped `Errors.Error` list, a single wrapped object, or
/// the flat form).
///
/// ```
/// use mtls_core::internals::parse_mastercard_error;
/// let e = parse_mastercard_error(br#"{"Source":"Gateway","ReasonCode":"INVALID_CLIENT_CERT",
///     "Description":"The client certificate is invalid or missing.","Recoverable":false}"#).unwrap();
/// assert_eq!(e.errors[0].reason_code.as_deref(), Some("INVALID_CLIENT_CERT"));
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

/// `Date`, read from its text as an exact decimal (no float parsing): truncated toward zero,
/// `None` beyond ±2^53 (where the float version stopped, far beyond any real date), or when
/// it is no number (`null`).
fn unix_seconds(body: &[u8]) -> Option<i64> {
    const LIMIT: u64 = 1 << 53;
    let value = json::Decimal::parse(json::top_level_value(body, b"Date")?)?;
    let (whole, _) = value.integer_part(16)?;
    let whole = i64::try_from(whole).ok().filter(|_| whole <= LIMIT)?;
    Some(if value.is_negative() { -whole } else { whole })
}

#[derive(Deserialize)]
struct RawMangopay {
    #[serde(rename = "Message", default)]
    message: LenientText<MAX_TEXT_LEN>,
    #[serde(rename = "Type", default)]
    error_type: LenientText<MAX_SHORT_TEXT_LEN>,
    #[serde(rename = "Id", default)]
    id: LenientText<MAX_SHORT_TEXT_LEN>,
    /// Present and not a string or container; its value is read from the text afterwards.
    #[serde(rename = "Date", default)]
    date: Option<json::NumberLike>,
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
