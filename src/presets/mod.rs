//! Known APIs, split by concern:
//!
//! - hosts: the base URLs of Mangopay (the `api-mtls` hosts that see the client certificate,
//!   and the plain ones that do not) and Mastercard ([`Preset`]), and [`check_base_url`],
//!   which warns about a Mangopay host without `api-mtls`. The URL itself is parsed by the
//!   client: [`BaseUrl::parse`](crate::client::BaseUrl::parse).
//! - error bodies: [`ErrorBody::parse`] reads Mangopay and Mastercard error JSON as typed
//!   values, or a typed "unrecognised" outcome; never a panic.
//! - rate limits: [`RateLimits::from_headers`] reads Mangopay's `X-RateLimit*` headers.
//!
//! Both readers also take a whole [`Response`](crate::http::Response):
//! [`ErrorBody::from_response`] and [`RateLimits::from_response`].
//!
//! ```
//! use mtls_core::client::BaseUrl;
//! use mtls_core::presets::{check_base_url, BaseUrlWarning, ErrorBody, Preset};
//!
//! let url = BaseUrl::parse(Preset::MangopaySandbox.base_url())?;
//! assert_eq!(url.host(), "api-mtls.sandbox.mangopay.com");
//! assert_eq!(check_base_url(url.host()), None);
//!
//! let plain = BaseUrl::parse("https://api.sandbox.mangopay.com/")?;
//! assert_eq!(
//!     check_base_url(plain.host()),
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
//! | what | bound |
//! |---|---|
//! | error body | 16 KiB, nested at most 32 deep; longer or deeper is not parsed |
//! | messages, descriptions, details | 512 bytes |
//! | types, ids, reason codes, sources, field names | 128 bytes |
//! | Mangopay field errors | 32, then `field_errors_truncated` |
//! | Mastercard errors | 8, then `truncated` |
//! | numbers per rate-limit header | 8 |
//!
//! Text fields are kept as `String`s cut at a character boundary. Text fields that hold
//! another JSON type are read as absent rather than failing the parse.

// The parsers' parts (per-vendor parsers, bounds, base URL constants) are reachable only
// through the `internals` door, for the tests and the fuzzers.
pub(crate) mod error_bodies;
pub(crate) mod hosts;
pub(crate) mod rate_limits;

pub use error_bodies::{
    refuses_client_certificate, ErrorBody, FieldError, MangopayError, MastercardError,
    MastercardErrorEntry, UnrecognisedBody,
};
pub use hosts::{check_base_url, BaseUrlWarning, Preset};
pub use rate_limits::{RateLimitValues, RateLimits};
