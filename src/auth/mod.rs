//! OAuth 2.0 client-credentials authentication: what the client needs from the host
//! (credentials, a token cache to share, the `401` retry policy, idempotency keys) and what
//! it does with them.
//!
//! No I/O and no clock: the client sends the token request and reads the token response on
//! its own connection, and time goes in as [`Instant`](crate::time::Instant) values.
//!
//! # What the client does
//!
//! The client takes its [`Credentials`] from [`Auth`](crate::client::Auth) and its [`TokenCache`] from
//! [`ClientConfig::token_cache`](crate::client::ClientConfig::token_cache): clone one cache
//! into several configs to share it (one token, one fetch at a time, for all of them); a
//! fresh cache is private to its client.
//!
//! Before sending an API request the client asks the cache for a token. When there is none,
//! or it is due for refresh, and no other connection is fetching one, the client sends
//! `POST /v2.01/oauth/token` ([`DEFAULT_TOKEN_PATH`], under the base URL's path prefix) with
//! `Authorization: Basic base64(client_id:api_key)`,
//! `Content-Type: application/x-www-form-urlencoded` and `grant_type=client_credentials` first,
//! on the same connection, and installs the `Bearer` token it gets back. While another
//! connection is fetching, the request waits in the queue. A failed token request is an
//! [`AuthError`] and is not retried.
//!
//! When an API response comes back `401`, the [`RetryPolicy`] applies: Mangopay's SCA answer
//! (`WWW-Authenticate: PendingUserAction RedirectUrl=...`) is reported as
//! [`Event::ScaRequired`](crate::client::Event::ScaRequired) with the token kept; any other `401`
//! drops the token the request carried (not a newer one) and sends the request once more
//! with a fresh token (safe even for a POST without an idempotency key: the server did not
//! act on it). A POST with an [`IdempotencyKey`] carries it in the `Idempotency-Key` header.
//!
//! ```
//! use core::time::Duration;
//! use mtls_core::auth::{CachePolicy, Credentials, IdempotencyKey, RetryPolicy, TokenCache};
//!
//! let creds = Credentials::new("Aladdin", "ghsiu6hjqQjj")?;
//! // One cache for every client of this platform account (clone it into each config).
//! let cache = TokenCache::new(CachePolicy::new().with_refresh_margin(Duration::from_secs(60)));
//! let retry = RetryPolicy::default();
//! let key = IdempotencyKey::from_random([0x42; 16]);
//! assert_eq!(key.as_str().len(), IdempotencyKey::MAX_LEN);
//! # let _ = (creds, cache, retry);
//! # Ok::<(), mtls_core::auth::AuthError>(())
//! ```
//!
//! # One token for several processes
//!
//! A cache made with [`TokenCache::with_store`] shares its token through a [`TokenStore`]
//! (load, compare-and-replace, a refresh lease): the hosts that drive sessions load the
//! store's token before fetching, fetch under the lease, publish, and remove a token a `401`
//! rejected, so one token request serves every process. [`MemoryStore`] is the no_std
//! reference; the file and Redis stores are with the std hosts
//! ([`crate::io`]). A store that fails degrades to a private cache with a warning.
//!
//! # Bounds
//!
//! | what | bound |
//! |---|---|
//! | access token | 512 bytes of visible ASCII, stored inline |
//! | `expires_in` | 1 s ..= 31 536 000 s (365 days); when absent, 300 s ([`CachePolicy::DEFAULT_LIFETIME`]) |
//! | token response body | 8 KiB, nested at most 32 deep |
//! | refresh margin / fetch timeout | 30 s / 30 s by default ([`CachePolicy`]) |
//! | fetches in flight | one per [`TokenCache`], shared by all its clones; one per store with [`TokenCache::with_store`] (the lease) |
//! | store refresh lease | [`StoreOptions::DEFAULT_LEASE`] (15 s), then another process may fetch |
//! | idempotency key | [`IdempotencyKey::MIN_LEN`] ..= [`IdempotencyKey::MAX_LEN`] (16 ..= 36) characters |
//!
//! # Secrets
//!
//! [`Credentials`] (the API key), [`AccessToken`] and everything that holds one (the
//! `Authorization` header values included) print only redacted `Debug`, implement no
//! `Display`, and wipe their memory on drop. The bytes for the wire come out only through
//! methods named `expose*`. Moving a value copies its bytes like any Rust value; only the
//! copy being dropped is wiped.

// Crate-private modules: the user-facing items are re-exported below; the client's own
// (token request and response, cache tickets, 401 decisions) are `pub` inside them only for
// the `internals` door (layer tests, fuzzers, benches).
pub(crate) mod cache;
pub(crate) mod credentials;
pub(crate) mod policy;
pub(crate) mod store;
pub(crate) mod token;

pub use cache::{CachePolicy, CachedToken, ExportedToken, TokenCache};
pub use credentials::Credentials;
pub use policy::{IdempotencyKey, IdempotencyKeyError, RetryPolicy};
pub use store::{
    Lease, MemoryStore, StoreError, StoreOptions, StoreSnapshot, StoreVersion, TokenStore,
};
pub use token::{AccessToken, OAuthError, DEFAULT_TOKEN_PATH};

pub(crate) use cache::{Acquire, FetchTicket, Generation};
pub(crate) use credentials::TokenRequest;
pub(crate) use policy::{AuthDecision, IDEMPOTENCY_KEY_HEADER};
pub(crate) use store::StoreNotice;
pub(crate) use token::{
    parse_token_response, MAX_EXPIRES_IN_SECS, MAX_TOKEN_LEN, MAX_TOKEN_RESPONSE_LEN,
};

use core::fmt;

/// A field of the token endpoint's JSON answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenField {
    /// `access_token`
    AccessToken,
    /// `token_type`
    TokenType,
    /// `expires_in`
    ExpiresIn,
}

impl TokenField {
    /// The JSON name of the field.
    pub const fn name(self) -> &'static str {
        match self {
            TokenField::AccessToken => "access_token",
            TokenField::TokenType => "token_type",
            TokenField::ExpiresIn => "expires_in",
        }
    }
}

impl fmt::Display for TokenField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything that can go wrong in this module. Free of secrets.
///
/// Variants marked *caller* are misuse or bad configuration on our side
/// ([`Credentials::new`], [`ClientConfig::token_path`](crate::client::ClientConfig::token_path),
/// [`AccessToken::new`],
/// [`TokenCache::import`]); variants marked *peer* describe what the token endpoint sent
/// (the client's token request). [`AuthError::is_peer_fault`] tells them apart.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthError {
    /// *Caller*: the client id is empty, contains `:` or a character that is not visible ASCII.
    InvalidClientId,
    /// *Caller*: the API key is empty or contains a control character.
    InvalidApiKey,
    /// *Caller*: the token path does not start with `/` or contains a space, control
    /// character, `?` or `#`.
    InvalidTokenPath,
    /// *Peer*: the token endpoint answered with a status outside 200..=299. Its RFC 6749
    /// error object, when it sent one, says why (`invalid_client`: wrong client id or API
    /// key). Retrying will not help.
    TokenEndpointStatus {
        /// The HTTP status code.
        status: u16,
        /// The server's `error`, `error_description` and `error_uri`.
        error: Option<OAuthError>,
    },
    /// *Peer*: the token endpoint's server refused the client certificate with an HTTP
    /// answer rather than a TLS alert (nginx's `400 The SSL certificate error` or `No
    /// required SSL certificate was sent`, Mastercard's `INVALID_CLIENT_CERT`). The API key
    /// was not judged: fix the certificate (or the CA it was issued by) first.
    ClientCertificateRefused {
        /// The HTTP status code.
        status: u16,
    },
    /// *Peer*: the token endpoint answered `403` (or a certificate error page) on a
    /// connection where the server had not asked for the client certificate during the
    /// handshake, so none was sent. A server that asks only afterwards (TLS 1.3
    /// post-handshake authentication: Apache's per-directory `SSLVerifyClient require`)
    /// cannot get it from this client: the server must request it in the handshake.
    ClientCertificateNotRequested {
        /// The HTTP status code.
        status: u16,
    },
    /// *Peer*: the body is longer than 8 KiB.
    BodyTooLarge,
    /// *Peer*: the body is not a JSON object (syntax error, empty, or nested too deeply).
    MalformedJson,
    /// *Peer*: a required field is absent.
    MissingField(TokenField),
    /// *Peer*: a field has the wrong JSON type (e.g. `"expires_in": "3600"`).
    InvalidField(TokenField),
    /// *Peer*: a field appears twice.
    DuplicateField(TokenField),
    /// *Peer* or *caller*: the access token is empty.
    EmptyToken,
    /// *Peer* or *caller*: the access token is longer than 512 bytes.
    TokenTooLong,
    /// *Peer* or *caller*: the access token contains a byte that is not visible ASCII
    /// (`0x21..=0x7e`), so it cannot go into a header.
    TokenNotPrintable,
    /// *Peer*: `token_type` is not `Bearer` (compared case-insensitively).
    UnsupportedTokenType,
    /// *Peer*: `expires_in` is zero or negative.
    ExpiresInNotPositive,
    /// *Peer*: `expires_in` has a fractional part.
    ExpiresInNotInteger,
    /// *Peer* or *caller*: `expires_in` (or an imported lifetime) is above 365 days
    /// (31 536 000 s).
    ExpiresInTooLarge,
    /// *Caller*: an imported token has no lifetime left.
    TokenExpired,
}

impl AuthError {
    /// Whether the error describes what the token endpoint sent, rather than our own input.
    pub const fn is_peer_fault(&self) -> bool {
        !matches!(
            self,
            AuthError::InvalidClientId
                | AuthError::InvalidApiKey
                | AuthError::InvalidTokenPath
                | AuthError::TokenExpired
        )
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::InvalidClientId => {
                f.write_str("client id is empty or contains ':' or a non-visible character")
            }
            AuthError::InvalidApiKey => f.write_str("API key is empty or contains a control character"),
            AuthError::InvalidTokenPath => f.write_str(
                "token path must start with '/' and contain no space, control character, '?' or '#'",
            ),
            AuthError::TokenEndpointStatus { status, error } => {
                write!(f, "token endpoint answered HTTP {status}")?;
                if let Some(error) = error {
                    write!(f, ": {error}")?;
                }
                // Only where the server blamed the credentials (a bare 401 does too).
                let credentials = match error {
                    Some(error) => error.is_invalid_client(),
                    None => *status == 401,
                };
                if credentials {
                    f.write_str(" (check the client id and API key)")?;
                }
                Ok(())
            }
            AuthError::ClientCertificateRefused { status } => write!(
                f,
                "the server refused the client certificate (HTTP {status} from the token \
                 endpoint): check that the certificate is the one the API issued, is not \
                 expired, and comes with its key; the API key was not checked"
            ),
            AuthError::ClientCertificateNotRequested { status } => write!(
                f,
                "the token endpoint answered HTTP {status} on a connection where the server \
                 had not asked for the client certificate during the handshake, so none was \
                 sent: a server that asks for it only afterwards (TLS 1.3 post-handshake \
                 authentication, as Apache's per-directory `SSLVerifyClient require` does) \
                 cannot get it from this client; the server must request it in the handshake \
                 (Apache: `SSLVerifyClient require` at the virtual-host level), or the base \
                 URL is not the API's mTLS host; the API key was not checked"
            ),
            AuthError::BodyTooLarge => write!(
                f,
                "token response body is longer than {MAX_TOKEN_RESPONSE_LEN} bytes"
            ),
            AuthError::MalformedJson => f.write_str("token response is not a JSON object"),
            AuthError::MissingField(field) => write!(f, "token response has no `{field}`"),
            AuthError::InvalidField(field) => {
                write!(f, "token response field `{field}` has the wrong type")
            }
            AuthError::DuplicateField(field) => {
                write!(f, "token response has `{field}` more than once")
            }
            AuthError::EmptyToken => f.write_str("access token is empty"),
            AuthError::TokenTooLong => {
                write!(f, "access token is longer than {MAX_TOKEN_LEN} bytes")
            }
            AuthError::TokenNotPrintable => {
                f.write_str("access token contains a character that is not visible ASCII")
            }
            AuthError::UnsupportedTokenType => f.write_str("token_type is not Bearer"),
            AuthError::ExpiresInNotPositive => f.write_str("expires_in is zero or negative"),
            AuthError::ExpiresInNotInteger => f.write_str("expires_in is not a whole number"),
            AuthError::ExpiresInTooLarge => write!(
                f,
                "expires_in is above {MAX_EXPIRES_IN_SECS} seconds (one year)"
            ),
            AuthError::TokenExpired => f.write_str("imported token has no lifetime left"),
        }
    }
}

impl core::error::Error for AuthError {}
