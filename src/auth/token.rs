//! Access tokens and the token endpoint's answer.
//!
//! Crate-private: [`AccessToken`] and [`DEFAULT_TOKEN_PATH`] are re-exported from
//! [`crate::auth`]; the parser, its bounds and the `*Ext` trait are the client's (the layer
//! tests and fuzzers reach them through the `internals` door).

use alloc::string::String;
use core::cell::Cell;
use core::fmt;
use core::time::Duration;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json_core::str::{EscapedStr, EscapedStringFragment};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::credentials::{AuthScheme, AuthorizationValue};
use super::{AuthError, TokenField};
use crate::json::{self, LenientText, RawStr};

/// Where Mangopay serves the token endpoint, relative to the base URL.
pub const DEFAULT_TOKEN_PATH: &str = "/v2.01/oauth/token";

/// The longest access token accepted, in bytes. Mangopay's are 32 hex digits; 512 leaves
/// room for opaque tokens of other providers while keeping [`AccessToken`] inline and small.
pub const MAX_TOKEN_LEN: usize = 512;

/// The longest `expires_in` accepted: 365 days. Client-credentials tokens live minutes to
/// hours (Mangopay: 3600 s); anything longer is treated as a broken answer.
pub const MAX_EXPIRES_IN_SECS: u64 = 365 * 24 * 60 * 60;

/// The longest token response body parsed, in bytes.
pub const MAX_TOKEN_RESPONSE_LEN: usize = 8 * 1024;

/// `buf` was too small; nothing was written. Holds the size needed.
#[cfg(any(fuzzing, feature = "internals"))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InsufficientSize {
    /// Bytes the output needs.
    pub required: usize,
}

#[cfg(any(fuzzing, feature = "internals"))]
impl fmt::Display for InsufficientSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "buffer too small: {} bytes needed", self.required)
    }
}

#[cfg(any(fuzzing, feature = "internals"))]
impl core::error::Error for InsufficientSize {}

/// An OAuth access token: 1 to 512 bytes of visible ASCII, stored inline.
///
/// A secret: `Debug` prints `AccessToken(<redacted>)`, there is no `Display`, the bytes are
/// wiped on drop, and they come out only through [`AccessToken::expose`] (and, inside the
/// crate, the client's `Authorization: Bearer` header).
///
/// ```
/// use mtls_core::auth::{AccessToken, AuthError};
/// let token = AccessToken::new("67b036bd007c40378d4be5a934f197e6")?;
/// assert_eq!(token.expose(), "67b036bd007c40378d4be5a934f197e6");
/// assert_eq!(format!("{token:?}"), "AccessToken(<redacted>)");
/// assert_eq!(AccessToken::new("with space").unwrap_err(), AuthError::TokenNotPrintable);
/// # Ok::<(), AuthError>(())
/// ```
#[derive(Clone)]
pub struct AccessToken {
    bytes: [u8; MAX_TOKEN_LEN],
    len: usize,
}

impl AccessToken {
    /// Validates a token given as text (e.g. one persisted by the host).
    ///
    /// # Errors
    /// [`AuthError::EmptyToken`], [`AuthError::TokenTooLong`], [`AuthError::TokenNotPrintable`].
    pub fn new(token: &str) -> Result<AccessToken, AuthError> {
        let mut out = AccessToken::empty();
        out.push_str(token)?;
        out.finish()
    }

    fn empty() -> AccessToken {
        AccessToken {
            bytes: [0; MAX_TOKEN_LEN],
            len: 0,
        }
    }

    fn push_str(&mut self, s: &str) -> Result<(), AuthError> {
        let end = self.len + s.len();
        let Some(dst) = self.bytes.get_mut(self.len..end) else {
            return Err(AuthError::TokenTooLong);
        };
        if !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(AuthError::TokenNotPrintable);
        }
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }

    fn finish(self) -> Result<AccessToken, AuthError> {
        if self.len == 0 {
            Err(AuthError::EmptyToken)
        } else {
            Ok(self)
        }
    }

    /// The token text, to be written on the wire or handed to the host's secret store.
    pub fn expose(&self) -> &str {
        // Only visible ASCII is ever stored (checked in `push_str`), so this is valid UTF-8
        // and the fallback never happens.
        core::str::from_utf8(self.expose_bytes()).unwrap_or("")
    }

    /// [`AccessToken::expose`] as bytes.
    fn expose_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }

    /// `Bearer {token}` as an [`AuthorizationValue`] (allocates).
    #[cfg_attr(not(any(fuzzing, feature = "internals")), allow(dead_code))]
    pub(crate) fn bearer_header(&self) -> AuthorizationValue {
        let mut value = Zeroizing::new(String::with_capacity("Bearer ".len() + self.len));
        self.write_bearer(&mut value);
        AuthorizationValue::new(AuthScheme::Bearer, value)
    }

    /// Replaces `out` with `Bearer {token}`, reusing its capacity: the `Authorization` value
    /// of an API request, written without allocating once `out` is large enough. `out`
    /// then holds the token: wipe it after use.
    pub(crate) fn write_bearer(&self, out: &mut String) {
        out.clear();
        out.push_str("Bearer ");
        out.push_str(self.expose());
    }
}

/// [`AccessToken`]'s methods for the layer tests and fuzzers (the `internals` door).
#[cfg(any(fuzzing, feature = "internals"))]
pub trait AccessTokenExt {
    /// [`AccessToken::expose`] as bytes.
    fn expose_bytes(&self) -> &[u8];
    /// Length in bytes (not secret).
    fn len(&self) -> usize;
    /// `false` for any token made by this crate; `true` once zeroized.
    fn is_empty(&self) -> bool;
    /// `Bearer {token}` as an [`AuthorizationValue`] (allocates).
    fn bearer_header(&self) -> AuthorizationValue;
    /// Writes `Bearer {token}` into `buf` without allocating; returns the length written.
    ///
    /// # Errors
    /// [`InsufficientSize`] with the length needed; `buf` is not modified.
    fn write_bearer_header(&self, buf: &mut [u8]) -> Result<usize, InsufficientSize>;
}

#[cfg(any(fuzzing, feature = "internals"))]
impl AccessTokenExt for AccessToken {
    fn expose_bytes(&self) -> &[u8] {
        AccessToken::expose_bytes(self)
    }
    fn len(&self) -> usize {
        self.len
    }
    fn is_empty(&self) -> bool {
        self.len == 0
    }
    fn bearer_header(&self) -> AuthorizationValue {
        AccessToken::bearer_header(self)
    }
    fn write_bearer_header(&self, buf: &mut [u8]) -> Result<usize, InsufficientSize> {
        let required = "Bearer ".len() + self.len;
        let Some(out) = buf.get_mut(..required) else {
            return Err(InsufficientSize { required });
        };
        let (scheme, token) = out.split_at_mut("Bearer ".len());
        scheme.copy_from_slice(b"Bearer ");
        token.copy_from_slice(self.expose_bytes());
        Ok(required)
    }
}

impl PartialEq for AccessToken {
    /// Compares the token text (not in constant time: do not use it to check a token
    /// against a guess).
    fn eq(&self, other: &AccessToken) -> bool {
        self.expose_bytes() == other.expose_bytes()
    }
}

impl Eq for AccessToken {}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(<redacted>)")
    }
}

impl Zeroize for AccessToken {
    fn zeroize(&mut self) {
        self.bytes.zeroize();
        self.len.zeroize();
    }
}

impl Drop for AccessToken {
    fn drop(&mut self) {
        self.zeroize();
    }
}

impl ZeroizeOnDrop for AccessToken {}

/// A validated token endpoint answer: `token_type` was `Bearer`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenResponse {
    /// The token.
    pub access_token: AccessToken,
    /// Its lifetime as sent (`expires_in`), 1 s ..= [`MAX_EXPIRES_IN_SECS`]; `None` when the
    /// server left it out (the cache then assumes its policy's default lifetime).
    pub expires_in: Option<Duration>,
}

/// The token endpoint's own words when it refuses (RFC 6749, section 5.2): the `error` code,
/// and the optional `error_description` and `error_uri`. Bounded, control characters
/// replaced, so it can be shown as it came.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OAuthError {
    /// `error`, e.g. `invalid_client`, `invalid_request`, `unsupported_grant_type`.
    pub code: String,
    /// `error_description`: the server's explanation, at most 256 bytes.
    pub description: Option<String>,
    /// `error_uri`: a page about the error, at most 256 bytes.
    pub uri: Option<String>,
}

impl OAuthError {
    /// The longest `error` code kept, in bytes.
    const MAX_CODE_LEN: usize = 64;
    /// The longest `error_description` or `error_uri` kept, in bytes.
    const MAX_TEXT_LEN: usize = 256;

    /// The error object of a non-2xx token answer, if the body is one (a JSON object with a
    /// string `error`). Anything else (HTML, empty, another JSON shape) gives `None`.
    pub(crate) fn parse(body: &[u8]) -> Option<OAuthError> {
        if body.len() > MAX_TOKEN_RESPONSE_LEN || !json::depth_within(body, json::MAX_JSON_DEPTH) {
            return None;
        }
        #[derive(serde::Deserialize)]
        struct Raw {
            #[serde(default)]
            error: LenientText<{ OAuthError::MAX_CODE_LEN }>,
            #[serde(default)]
            error_description: LenientText<{ OAuthError::MAX_TEXT_LEN }>,
            #[serde(default)]
            error_uri: LenientText<{ OAuthError::MAX_TEXT_LEN }>,
        }
        let raw: Raw = json::from_slice(body).ok()?;
        let printable = |s: String| -> Option<String> {
            let s: String = s
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            let s = s.trim();
            (!s.is_empty()).then(|| String::from(s))
        };
        Some(OAuthError {
            code: printable(raw.error.0?)?,
            description: raw.error_description.0.and_then(printable),
            uri: raw.error_uri.0.and_then(printable),
        })
    }

    /// Whether the server said the client's credentials are wrong (`invalid_client`).
    pub fn is_invalid_client(&self) -> bool {
        self.code == "invalid_client"
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code)?;
        if let Some(description) = &self.description {
            write!(f, ": {description}")?;
        }
        if let Some(uri) = &self.uri {
            write!(f, " (see {uri})")?;
        }
        Ok(())
    }
}

/// Parses the token endpoint's answer.
///
/// Accepts any 2xx status and a JSON object with `access_token` (1 to [`MAX_TOKEN_LEN`] bytes
/// of visible ASCII after unescaping), `token_type` (`Bearer`, any case) and, if present, `expires_in` (a
/// JSON number with an integral value, 1 ..= [`MAX_EXPIRES_IN_SECS`]; `3600.0` counts as
/// integral; RFC 6749 only recommends it). Other fields are ignored. Never panics.
///
/// # Errors
/// In this order of checks: [`AuthError::TokenEndpointStatus`] (non-2xx),
/// [`AuthError::BodyTooLarge`], [`AuthError::MalformedJson`], [`AuthError::InvalidField`],
/// [`AuthError::DuplicateField`], [`AuthError::MissingField`], then the value checks
/// ([`AuthError::EmptyToken`], [`AuthError::TokenTooLong`], [`AuthError::TokenNotPrintable`],
/// [`AuthError::UnsupportedTokenType`], [`AuthError::ExpiresInNotPositive`],
/// [`AuthError::ExpiresInNotInteger`], [`AuthError::ExpiresInTooLarge`]).
pub fn parse_token_response(status: u16, body: &[u8]) -> Result<TokenResponse, AuthError> {
    if !(200..=299).contains(&status) {
        return Err(AuthError::TokenEndpointStatus {
            status,
            error: OAuthError::parse(body),
        });
    }
    if body.len() > MAX_TOKEN_RESPONSE_LEN {
        return Err(AuthError::BodyTooLarge);
    }
    if !json::depth_within(body, json::MAX_JSON_DEPTH) {
        return Err(AuthError::MalformedJson);
    }

    let current = Cell::new(None);
    let duplicate = Cell::new(None);
    let seed = Seed {
        current: &current,
        duplicate: &duplicate,
    };
    let mut de = serde_json_core::de::Deserializer::new(body, None);
    let raw = match seed.deserialize(&mut de) {
        Ok(raw) => raw,
        Err(_) => {
            return Err(match (duplicate.get(), current.get()) {
                (Some(field), _) => AuthError::DuplicateField(field),
                // The body ends inside the number (the skipping read hit the end where a
                // number's parser would have stopped at its last digit): malformed.
                (None, Some(TokenField::ExpiresIn))
                    if json::top_level_value_span(body, b"expires_in")
                        .is_some_and(|v| v.end == body.len()) =>
                {
                    AuthError::MalformedJson
                }
                (None, Some(field)) => AuthError::InvalidField(field),
                (None, None) => AuthError::MalformedJson,
            });
        }
    };
    if de.end().is_err() {
        return Err(AuthError::MalformedJson);
    }
    // The number's text, read without floats: its syntax now (a type error), its value with
    // the other value checks below.
    let expires_in = match raw.expires_in {
        Some(()) => Some(
            json::top_level_value(body, b"expires_in")
                .and_then(json::Decimal::parse)
                .ok_or(AuthError::InvalidField(TokenField::ExpiresIn))?,
        ),
        None => None,
    };

    let access_token = raw
        .access_token
        .ok_or(AuthError::MissingField(TokenField::AccessToken))?;
    let token_type = raw
        .token_type
        .ok_or(AuthError::MissingField(TokenField::TokenType))?;

    let access_token = unescape_token(access_token)?;
    if !token_type.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::UnsupportedTokenType);
    }
    let expires_in = expires_in.map(check_expires_in).transpose()?;
    Ok(TokenResponse {
        access_token,
        expires_in,
    })
}

fn unescape_token(raw: RawStr<'_>) -> Result<AccessToken, AuthError> {
    let mut token = AccessToken::empty();
    for fragment in EscapedStr(raw.0).fragments() {
        match fragment.map_err(|_| AuthError::InvalidField(TokenField::AccessToken))? {
            EscapedStringFragment::NotEscaped(s) => token.push_str(s)?,
            EscapedStringFragment::Escaped(c) => {
                let mut buf = [0u8; 4];
                token.push_str(c.encode_utf8(&mut buf))?;
            }
        }
    }
    token.finish()
}

/// `expires_in`'s value checks on its exact decimal value, in the order the float version
/// made them: not positive, too large, not integral.
fn check_expires_in(value: json::Decimal<'_>) -> Result<Duration, AuthError> {
    if value.is_zero() || value.is_negative() {
        return Err(AuthError::ExpiresInNotPositive);
    }
    // MAX_EXPIRES_IN_SECS has 8 digits.
    let (whole, fractional) = value.integer_part(8).ok_or(AuthError::ExpiresInTooLarge)?;
    if whole > MAX_EXPIRES_IN_SECS || (whole == MAX_EXPIRES_IN_SECS && fractional) {
        return Err(AuthError::ExpiresInTooLarge);
    }
    if fractional {
        return Err(AuthError::ExpiresInNotInteger);
    }
    Ok(Duration::from_secs(whole))
}

/// The three fields as found, unvalidated.
struct RawToken<'de> {
    access_token: Option<RawStr<'de>>,
    token_type: Option<RawStr<'de>>,
    /// Present (the value is a number, a literal or nothing the deserializer rejected);
    /// its text is read from the body afterwards, without floats.
    expires_in: Option<()>,
}

/// Deserializes [`RawToken`] while recording which known field's value is being read (so a
/// type error can be attributed to it) and which field was repeated.
struct Seed<'c> {
    current: &'c Cell<Option<TokenField>>,
    duplicate: &'c Cell<Option<TokenField>>,
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = RawToken<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = RawToken<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a token response object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut raw = RawToken {
            access_token: None,
            token_type: None,
            expires_in: None,
        };
        while let Some(key) = map.next_key::<RawStr<'de>>()? {
            let field = match key.0 {
                "access_token" => TokenField::AccessToken,
                "token_type" => TokenField::TokenType,
                "expires_in" => TokenField::ExpiresIn,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            let seen = match field {
                TokenField::AccessToken => raw.access_token.is_some(),
                TokenField::TokenType => raw.token_type.is_some(),
                TokenField::ExpiresIn => raw.expires_in.is_some(),
            };
            if seen {
                self.duplicate.set(Some(field));
                return Err(de::Error::custom("duplicate field"));
            }
            self.current.set(Some(field));
            match field {
                TokenField::AccessToken => raw.access_token = Some(map.next_value()?),
                TokenField::TokenType => raw.token_type = Some(map.next_value()?),
                TokenField::ExpiresIn => {
                    map.next_value::<json::NumberLike>()?;
                    raw.expires_in = Some(());
                }
            }
            self.current.set(None);
        }
        Ok(raw)
    }
}
