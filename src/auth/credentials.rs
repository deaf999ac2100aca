//! Client credentials, `Authorization` header values and the token request.
//!
//! Crate-private: [`Credentials`] is re-exported from [`crate::auth`]; the rest is the
//! client's (the layer tests reach it through the `internals` door).

use alloc::string::String;
use core::fmt;

use base64::Engine as _;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::AuthError;

/// A client id and API key: what the API issued to the platform.
///
/// The API key is never printed (`Debug` shows `<redacted>`) and is wiped on drop. The only
/// thing made from it is the `Basic` header value of the token request
/// (`Basic base64(client_id:api_key)`), which the client writes on the wire and nowhere else.
///
/// ```
/// use mtls_core::auth::{AuthError, Credentials};
/// let creds = Credentials::new("Aladdin", "ghsiu6hjqQjj")?;
/// assert_eq!(creds.client_id(), "Aladdin");
/// assert!(!format!("{creds:?}").contains("ghsiu6hjqQjj"));
/// assert_eq!(Credentials::new("a:b", "key").unwrap_err(), AuthError::InvalidClientId);
/// # Ok::<(), AuthError>(())
/// ```
#[derive(Clone)]
pub struct Credentials {
    client_id: String,
    api_key: Zeroizing<String>,
}

impl Credentials {
    /// Validates and stores a client id and an API key.
    ///
    /// Pass owned `String`s to avoid leaving an unwiped copy of the key behind.
    ///
    /// # Errors
    /// [`AuthError::InvalidClientId`] if the id is empty, contains `:` (Basic authentication
    /// splits at the first colon) or anything but visible ASCII; [`AuthError::InvalidApiKey`]
    /// if the key is empty or contains a control character.
    pub fn new(
        client_id: impl Into<String>,
        api_key: impl Into<String>,
    ) -> Result<Credentials, AuthError> {
        // Wrap first so the key is wiped even when validation fails.
        let api_key = Zeroizing::new(api_key.into());
        let client_id = client_id.into();
        if client_id.is_empty() || !client_id.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
            return Err(AuthError::InvalidClientId);
        }
        if api_key.is_empty() || api_key.chars().any(char::is_control) {
            return Err(AuthError::InvalidApiKey);
        }
        Ok(Credentials { client_id, api_key })
    }

    /// The client id (not a secret; it also appears in API paths).
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// `Basic base64(client_id:api_key)`, the `Authorization` value for the token request.
    pub(crate) fn basic_authorization(&self) -> AuthorizationValue {
        // Build "id:key" and the header in buffers sized up front so no reallocation leaves
        // an unwiped copy behind.
        let raw_len = self.client_id.len() + 1 + self.api_key.len();
        let mut raw = Zeroizing::new(alloc::vec::Vec::with_capacity(raw_len));
        raw.extend_from_slice(self.client_id.as_bytes());
        raw.push(b':');
        raw.extend_from_slice(self.api_key.as_bytes());

        let encoded_len = raw_len.div_ceil(3) * 4;
        let mut value = Zeroizing::new(String::with_capacity("Basic ".len() + encoded_len));
        value.push_str("Basic ");
        base64::engine::general_purpose::STANDARD.encode_string(&raw[..], &mut value);
        AuthorizationValue {
            scheme: AuthScheme::Basic,
            value,
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("api_key", &"<redacted>")
            .finish()
    }
}

impl ZeroizeOnDrop for Credentials {}

/// [`Credentials`]' client-side methods, for the layer tests (the `internals` door).
#[cfg(any(fuzzing, feature = "internals"))]
pub trait CredentialsExt {
    /// `Basic base64(client_id:api_key)`, the `Authorization` value for the token request.
    fn basic_authorization(&self) -> AuthorizationValue;
}

#[cfg(any(fuzzing, feature = "internals"))]
impl CredentialsExt for Credentials {
    fn basic_authorization(&self) -> AuthorizationValue {
        Credentials::basic_authorization(self)
    }
}

/// The scheme of an `Authorization` header value.
#[cfg_attr(not(any(fuzzing, feature = "internals")), allow(dead_code))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthScheme {
    /// `Basic`: client id and API key (token request only).
    Basic,
    /// `Bearer`: an access token (API requests).
    Bearer,
}

/// An `Authorization` header value (`Basic ...` or `Bearer ...`): a secret.
///
/// `Debug` shows only the scheme; there is no `Display`. The bytes for the wire come out
/// through [`AuthorizationValue::expose`]. Wiped on drop.
#[derive(Clone)]
pub struct AuthorizationValue {
    scheme: AuthScheme,
    value: Zeroizing<String>,
}

impl AuthorizationValue {
    #[cfg_attr(not(any(fuzzing, feature = "internals")), allow(dead_code))]
    pub(crate) fn new(scheme: AuthScheme, value: Zeroizing<String>) -> AuthorizationValue {
        AuthorizationValue { scheme, value }
    }

    /// The scheme (not secret).
    #[cfg(any(fuzzing, feature = "internals"))]
    pub fn scheme(&self) -> AuthScheme {
        self.scheme
    }

    /// The whole header value, secret included, to be written on the wire and nowhere else.
    #[cfg_attr(not(any(fuzzing, feature = "internals")), allow(dead_code))]
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// [`AuthorizationValue::expose`] as bytes.
    pub fn expose_bytes(&self) -> &[u8] {
        self.value.as_bytes()
    }
}

impl fmt::Debug for AuthorizationValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationValue")
            .field("scheme", &self.scheme)
            .field("value", &"<redacted>")
            .finish()
    }
}

impl Zeroize for AuthorizationValue {
    fn zeroize(&mut self) {
        self.value.zeroize();
    }
}

impl ZeroizeOnDrop for AuthorizationValue {}

/// One header of a request described as data. `Debug` redacts sensitive values.
#[derive(Clone, Copy)]
pub struct RequestHeader<'a> {
    name: &'static str,
    value: &'a [u8],
    sensitive: bool,
}

impl<'a> RequestHeader<'a> {
    /// The header name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The header value as it goes on the wire (a secret when [`RequestHeader::is_sensitive`]).
    pub fn expose_value(&self) -> &'a [u8] {
        self.value
    }

    /// Whether the value is a secret (never log it).
    #[cfg(any(fuzzing, feature = "internals"))]
    pub fn is_sensitive(&self) -> bool {
        self.sensitive
    }
}

impl fmt::Debug for RequestHeader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RequestHeader");
        d.field("name", &self.name);
        if self.sensitive {
            d.field("value", &"<redacted>");
        } else {
            d.field(
                "value",
                &core::str::from_utf8(self.value).unwrap_or("<bytes>"),
            );
        }
        d.finish()
    }
}

/// The OAuth 2.0 client-credentials token request, as plain data.
///
/// `POST {path}` with `Authorization: Basic ...`,
/// `Content-Type: application/x-www-form-urlencoded` and the body
/// `grant_type=client_credentials`. Framing (`Host`, `Content-Length`, ...) is the HTTP
/// module's job. `Debug` redacts the `Authorization` value.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    path: String,
    authorization: AuthorizationValue,
}

impl TokenRequest {
    /// The request method.
    pub const METHOD: &'static str = "POST";
    /// The `Content-Type` of the body.
    pub const CONTENT_TYPE: &'static str = "application/x-www-form-urlencoded";
    /// The form body.
    pub const BODY: &'static [u8] = b"grant_type=client_credentials";

    /// The request to [`DEFAULT_TOKEN_PATH`](super::DEFAULT_TOKEN_PATH) (`/v2.01/oauth/token`).
    #[cfg(any(fuzzing, feature = "internals"))]
    pub fn new(credentials: &Credentials) -> TokenRequest {
        TokenRequest {
            path: String::from(super::DEFAULT_TOKEN_PATH),
            authorization: credentials.basic_authorization(),
        }
    }

    /// The request to another path (e.g. behind a base-URL path prefix).
    ///
    /// # Errors
    /// [`AuthError::InvalidTokenPath`] unless `path` starts with `/` and has no space,
    /// control character, `?` or `#`.
    pub fn with_path(credentials: &Credentials, path: &str) -> Result<TokenRequest, AuthError> {
        let ok = path.starts_with('/')
            && path
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'?' && b != b'#');
        if !ok {
            return Err(AuthError::InvalidTokenPath);
        }
        Ok(TokenRequest {
            path: String::from(path),
            authorization: credentials.basic_authorization(),
        })
    }

    /// `"POST"`.
    pub fn method(&self) -> &'static str {
        Self::METHOD
    }

    /// The request target.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The `Authorization: Basic ...` value.
    #[cfg(any(fuzzing, feature = "internals"))]
    pub fn authorization(&self) -> &AuthorizationValue {
        &self.authorization
    }

    /// `Authorization` (sensitive) and `Content-Type`, in that order.
    pub fn headers(&self) -> [RequestHeader<'_>; 2] {
        [
            RequestHeader {
                name: "Authorization",
                value: self.authorization.expose_bytes(),
                sensitive: true,
            },
            RequestHeader {
                name: "Content-Type",
                value: Self::CONTENT_TYPE.as_bytes(),
                sensitive: false,
            },
        ]
    }

    /// `grant_type=client_credentials`.
    pub fn body(&self) -> &'static [u8] {
        Self::BODY
    }
}
