#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    clippy::std_instead_of_core,
    clippy::alloc_instead_of_core
)]

extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

#[cfg(not(feature = "alloc"))]
compile_error!("mtls-core needs an allocator: enable the `alloc` feature (rustls requires it)");

pub mod auth;
pub mod client;
pub mod error;
pub mod http;
pub mod identity;
pub mod io;
mod json;
pub mod presets;
pub mod time;
pub mod tls;

pub use client::{ApiRequest, Client, ClientConfig};
pub use error::Error;

/// The layers' own state machines and parsers, for the crate's layer tests, the fuzzers and
/// the benches: one hidden door (`cfg(fuzzing)` or the `internals` feature), not an API.
/// Everything a user needs is public elsewhere.
#[cfg(any(fuzzing, feature = "internals"))]
#[doc(hidden)]
pub mod internals {
    // client
    pub use crate::client::base_url::MAX_BASE_URL_LEN;

    // http
    pub use crate::http::decode::{
        BodyKind, End, Event, HeaderField, Headers, ResponseContext, ResponseDecoder, ResponseHead,
    };
    pub use crate::http::encode::{Request, RESERVED_HEADERS};

    // tls
    pub use crate::tls::connection::{TlsConnection, TlsEvent};

    /// A [`TlsConfig`](crate::tls::TlsConfig) on another rustls crypto provider than
    /// `rustls-rustcrypto`'s. For the fuzzers: with a provider whose randomness and key
    /// exchange are deterministic, a recorded server flight replays through the whole
    /// handshake. Never a production path: the provider decides what is random and which
    /// signatures verify.
    pub fn dangerous_tls_config_with_provider(
        identity: &crate::identity::Identity,
        trust: crate::tls::Trust,
        provider: alloc::sync::Arc<rustls::crypto::CryptoProvider>,
    ) -> Result<crate::tls::TlsConfig, crate::tls::TlsError> {
        crate::tls::TlsConfig::build_with_provider(Some(identity), trust, provider)
    }

    /// The signer this build gives the identity's private key to (see `tls::signer`), for
    /// the `bench` example's signing-cost figures.
    pub fn client_signing_key(
        identity: &crate::identity::Identity,
    ) -> Result<alloc::sync::Arc<dyn rustls::sign::SigningKey>, crate::tls::TlsError> {
        crate::tls::client_signing_key(identity)
    }

    // auth
    pub use crate::auth::cache::{Acquire, CachedTokenExt, FetchTicket, Generation, TokenCacheExt};
    pub use crate::auth::credentials::{
        AuthScheme, AuthorizationValue, CredentialsExt, RequestHeader, TokenRequest,
    };
    pub use crate::auth::policy::{
        is_sca_challenge, AuthDecision, RetryPolicyExt, ScaChallenge, IDEMPOTENCY_KEY_HEADER,
    };
    pub use crate::auth::token::{
        parse_token_response, AccessTokenExt, InsufficientSize, TokenResponse, MAX_EXPIRES_IN_SECS,
        MAX_TOKEN_LEN, MAX_TOKEN_RESPONSE_LEN,
    };

    // identity

    // presets
    pub use crate::presets::error_bodies::{
        parse_mangopay_error, parse_mastercard_error, INVALID_CLIENT_CERT, MAX_ERROR_BODY_LEN,
        MAX_FIELD_ERRORS, MAX_MASTERCARD_ERRORS, MAX_SHORT_TEXT_LEN, MAX_TEXT_LEN,
    };
    pub use crate::presets::hosts::{
        is_mangopay_host, MANGOPAY_PRODUCTION, MANGOPAY_PRODUCTION_MTLS, MANGOPAY_SANDBOX,
        MANGOPAY_SANDBOX_MTLS, MASTERCARD_PRODUCTION, MASTERCARD_SANDBOX,
    };
    pub use crate::presets::rate_limits::{
        parse_rate_limit_values, RateLimitError, MAX_RATE_LIMIT_VALUES,
    };
}
