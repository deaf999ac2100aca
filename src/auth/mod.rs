//! OAuth 2.0 client-credentials authentication: credentials, the token request, the token
//! response, a token cache that refreshes one at a time, and the policies the client state
//! machine applies to `401` answers and retries.
//!
//! No I/O and no clock: requests come out as plain data, responses go in as `(status, body)`,
//! and time goes in as [`Instant`](crate::time::Instant) values.
//!
//! # The flow
//!
//! ```
//! use core::time::Duration;
//! use mtls_core::auth::{
//!     parse_token_response, Acquire, CachePolicy, Credentials, TokenCache, TokenRequest,
//! };
//! use mtls_core::time::Instant;
//!
//! let creds = Credentials::new("Aladdin", "ghsiu6hjqQjj")?;
//! let cache = TokenCache::new(CachePolicy::default());
//! let now = Instant::from_secs(10);
//!
//! let token = match cache.acquire(now) {
//!     Acquire::Valid(token) => token,
//!     Acquire::Fetch(ticket) => {
//!         // This caller is the only one fetching: send the token request...
//!         let request = TokenRequest::new(&creds);
//!         assert_eq!(request.method(), "POST");
//!         assert_eq!(request.path(), "/v2.01/oauth/token");
//!         assert_eq!(request.body(), b"grant_type=client_credentials");
//!         // ...on the wire (another module's job), then hand the answer back.
//!         let body = br#"{"access_token":"67b036bd007c40378d4be5a934f197e6",
//!                         "token_type":"Bearer","expires_in":3600}"#;
//!         cache.complete(ticket, parse_token_response(200, body), now)?
//!     }
//!     Acquire::Wait { .. } => unreachable!("nobody else is fetching in this example"),
//! };
//! assert_eq!(
//!     token.bearer_header().expose(),
//!     "Bearer 67b036bd007c40378d4be5a934f197e6"
//! );
//! // Reused until 30 s before expiry...
//! assert!(matches!(cache.acquire(now + Duration::from_secs(3569)), Acquire::Valid(_)));
//! // ...then refreshed.
//! assert!(matches!(cache.acquire(now + Duration::from_secs(3570)), Acquire::Fetch(_)));
//! # Ok::<(), mtls_core::auth::AuthError>(())
//! ```
//!
//! # How the client state machine uses this module
//!
//! The client takes its [`TokenCache`] from
//! [`ClientConfig::token_cache`](crate::client::ClientConfig::token_cache): clone one cache
//! into several configs to share it (one token, one fetch at a time, for all of them); a
//! fresh cache is private to its client.
//!
//! Before sending an API request the client calls [`TokenCache::acquire`]. `Valid` gives
//! the token to attach ([`CachedToken::bearer_header`]); keep its [`Generation`] with the
//! request. `Fetch` gives a [`FetchTicket`]: send a [`TokenRequest`] first on the same
//! connection, parse the answer with [`parse_token_response`] and pass the result to
//! [`FetchTicket::complete`] (dropping the ticket instead, e.g. when the connection dies,
//! lets another caller fetch). `Wait` means another connection is fetching: keep the request
//! queued and call `acquire` again later (at the latest at the `until` instant it carries,
//! when a stuck fetch is given up). When an API response comes back `401`, ask
//! [`RetryPolicy::decide`]: [`AuthDecision::ScaRequired`] is Mangopay's SCA answer (report it,
//! keep the token); [`AuthDecision::InvalidateAndRetry`] means call
//! [`TokenCache::invalidate`] with the generation the request was sent with and send the
//! request again (once: a 401 means the server did not act on it, so this is safe even for a
//! POST without an idempotency key); [`AuthDecision::Deliver`] hands the response to the caller.
//!
//! # Bounds
//!
//! | what | bound |
//! |---|---|
//! | access token | [`MAX_TOKEN_LEN`] = 512 bytes of visible ASCII, stored inline |
//! | `expires_in` | 1 s ..= [`MAX_EXPIRES_IN_SECS`] = 31 536 000 s (365 days) |
//! | token response body | [`MAX_TOKEN_RESPONSE_LEN`] = 8 KiB, nested at most 32 deep |
//! | refresh margin / fetch timeout | 30 s / 30 s by default ([`CachePolicy`]) |
//! | fetches in flight | one per [`TokenCache`], shared by all its clones |
//!
//! # Secrets
//!
//! [`Credentials`] (the API key), [`AuthorizationValue`], [`AccessToken`] and everything that
//! holds one print only redacted `Debug`, implement no `Display`, and wipe their memory on
//! drop. The bytes for the wire come out only through methods named `expose*`. Moving a value
//! copies its bytes like any Rust value; only the copy being dropped is wiped.

mod cache;
mod credentials;
mod policy;
mod token;

pub use cache::{
    Acquire, CachePolicy, CachedToken, ExportedToken, FetchTicket, Generation, TokenCache,
};
pub use credentials::{AuthScheme, AuthorizationValue, Credentials, RequestHeader, TokenRequest};
pub use policy::{
    is_sca_challenge, AuthDecision, IdempotencyKey, IdempotencyKeyError, RetryPolicy, ScaChallenge,
    IDEMPOTENCY_KEY_HEADER,
};
pub use token::{
    parse_token_response, AccessToken, InsufficientSize, TokenResponse, DEFAULT_TOKEN_PATH,
    MAX_EXPIRES_IN_SECS, MAX_TOKEN_LEN, MAX_TOKEN_RESPONSE_LEN,
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

/// Everything that can go wrong in this module. Small, `Copy`, and free of secrets.
///
/// Variants marked *caller* are misuse or bad configuration on our side
/// ([`Credentials::new`], [`TokenRequest::with_path`], [`AccessToken::new`],
/// [`TokenCache::import`]); variants marked *peer* describe what the token endpoint sent
/// ([`parse_token_response`]). [`AuthError::is_peer_fault`] tells them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthError {
    /// *Caller*: the client id is empty, contains `:` or a character that is not visible ASCII.
    InvalidClientId,
    /// *Caller*: the API key is empty or contains a control character.
    InvalidApiKey,
    /// *Caller*: the token path does not start with `/` or contains a space, control
    /// character, `?` or `#`.
    InvalidTokenPath,
    /// *Peer*: the token endpoint answered with a status outside 200..=299. 400 and 401
    /// usually mean wrong credentials; retrying will not help.
    TokenEndpointStatus {
        /// The HTTP status code.
        status: u16,
    },
    /// *Peer*: the body is longer than [`MAX_TOKEN_RESPONSE_LEN`].
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
    /// *Peer* or *caller*: the access token is longer than [`MAX_TOKEN_LEN`].
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
    /// *Peer* or *caller*: `expires_in` (or an imported lifetime) is above
    /// [`MAX_EXPIRES_IN_SECS`].
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
            AuthError::TokenEndpointStatus { status } => {
                write!(f, "token endpoint answered HTTP {status}")?;
                if matches!(status, 400 | 401) {
                    f.write_str(" (check the client id and API key)")?;
                }
                Ok(())
            }
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
