//! Decisions the client state machine takes on `401` answers, and idempotency keys.
//!
//! State (which request was already retried, which token generation it carried) is the
//! client's; these functions only decide.
//!
//! Crate-private: [`RetryPolicy`], [`IdempotencyKey`] and [`IdempotencyKeyError`] are
//! re-exported from [`crate::auth`]; the rest is the client's (the layer tests reach it
//! through the `internals` door).

use core::fmt;

/// Mangopay's SCA answer: a `401` with `WWW-Authenticate: PendingUserAction RedirectUrl=...`.
///
/// Not a token problem: the user must complete strong customer authentication at the URL;
/// the token stays valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScaChallenge<'a> {
    /// The `RedirectUrl` parameter, without quotes; `None` if absent or empty. Borrowed from
    /// the header value as sent (a quoted value is not unescaped; URLs contain no `\`).
    pub redirect_url: Option<&'a str>,
}

/// Recognises Mangopay's SCA challenge: `status` 401 and a `WWW-Authenticate` value with the
/// `PendingUserAction` scheme (any case). The `RedirectUrl` parameter (any case) may be
/// quoted or not; unquoted, it runs to the next space or comma.
pub fn is_sca_challenge(status: u16, www_authenticate: &[u8]) -> Option<ScaChallenge<'_>> {
    if status != 401 {
        return None;
    }
    let s = core::str::from_utf8(www_authenticate).ok()?;
    let b = s.as_bytes();
    let is_ws = |c: u8| c == b' ' || c == b'\t';
    let mut i = 0;
    let mut in_challenge = false;
    let mut found = false;
    let mut redirect_url = None;
    while let Some(&c) = b.get(i) {
        if is_ws(c) || c == b',' {
            i += 1;
            continue;
        }
        if c == b'"' {
            // A stray quoted string: skip it.
            i = skip_quoted(b, i).1;
            continue;
        }
        let start = i;
        while b
            .get(i)
            .is_some_and(|&c| !is_ws(c) && !matches!(c, b',' | b'=' | b'"'))
        {
            i += 1;
        }
        let word = s.get(start..i).unwrap_or("");
        let mut j = i;
        while b.get(j).copied().is_some_and(is_ws) {
            j += 1;
        }
        if b.get(j) == Some(&b'=') {
            // `name = value`: an auth-param of the current challenge.
            j += 1;
            while b.get(j).copied().is_some_and(is_ws) {
                j += 1;
            }
            let value = if b.get(j) == Some(&b'"') {
                let (inner, next) = skip_quoted(b, j);
                i = next;
                s.get(inner.0..inner.1).unwrap_or("")
            } else {
                let vstart = j;
                while b.get(j).is_some_and(|&c| !is_ws(c) && c != b',') {
                    j += 1;
                }
                i = j;
                s.get(vstart..j).unwrap_or("")
            };
            if in_challenge
                && redirect_url.is_none()
                && !value.is_empty()
                && word.eq_ignore_ascii_case("RedirectUrl")
            {
                redirect_url = Some(value);
            }
        } else if word.is_empty() {
            // A stray `=`.
            i += 1;
        } else {
            // A new challenge's scheme (or a token68, which cannot be `PendingUserAction`).
            in_challenge = !found && word.eq_ignore_ascii_case("PendingUserAction");
            found |= in_challenge;
        }
    }
    found.then_some(ScaChallenge { redirect_url })
}

/// Skips a quoted string starting at `b[start] == '"'`; returns the inner range and the index
/// after the closing quote (the end of input if unterminated).
fn skip_quoted(b: &[u8], start: usize) -> ((usize, usize), usize) {
    let mut k = start + 1;
    while let Some(&c) = b.get(k) {
        match c {
            b'\\' => k += 2,
            b'"' => return ((start + 1, k), k + 1),
            _ => k += 1,
        }
    }
    ((start + 1, b.len()), b.len())
}

/// What to do with an API response, as far as authentication is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum AuthDecision<'a> {
    /// Not an authentication matter, or the retry was already spent: hand the response to
    /// the caller as it is.
    Deliver,
    /// Mangopay's SCA answer: report it with the redirect URL; keep the token; do not retry.
    ScaRequired(ScaChallenge<'a>),
    /// The token was refused: invalidate it (with the generation the request carried), get a
    /// fresh one, and send the request once more.
    InvalidateAndRetry,
}

/// The `401` rule, set in [`ClientConfig::retry_policy`](crate::client::ClientConfig::retry_policy):
/// by default ([`RetryPolicy::default`]) a `401` invalidates the token and the request is
/// sent once more with a fresh token, never in a loop; Mangopay's SCA `401`
/// (`WWW-Authenticate: PendingUserAction RedirectUrl=...`) is not a token problem and becomes
/// [`Event::ScaRequired`](crate::client::Event::ScaRequired), the token kept.
///
/// A retry after a `401` is safe even for a POST without an idempotency key: the server
/// refused the request before acting on it. This applies to API requests only; a failed
/// token request is an [`AuthError`](super::AuthError) and is not retried.
///
/// ```
/// use mtls_core::auth::RetryPolicy;
/// // For hosts that retry themselves: the `401` response is delivered as it is.
/// let policy = RetryPolicy::without_retry();
/// assert_ne!(policy, RetryPolicy::default());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    retry_on_unauthorized: bool,
}

impl RetryPolicy {
    /// No retry after a `401`: the response is delivered as it is (SCA answers are still
    /// recognised). For hosts that retry themselves.
    pub const fn without_retry() -> RetryPolicy {
        RetryPolicy {
            retry_on_unauthorized: false,
        }
    }

    /// Decides for a response with `status` and its `WWW-Authenticate` values (pass every
    /// one; `None` if there is none). `already_retried` says whether this request is itself
    /// the retry.
    pub(crate) fn decide<'a, I>(
        &self,
        status: u16,
        www_authenticate: I,
        already_retried: bool,
    ) -> AuthDecision<'a>
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        if status != 401 {
            return AuthDecision::Deliver;
        }
        if let Some(challenge) = www_authenticate
            .into_iter()
            .find_map(|v| is_sca_challenge(status, v))
        {
            return AuthDecision::ScaRequired(challenge);
        }
        if self.retry_on_unauthorized && !already_retried {
            AuthDecision::InvalidateAndRetry
        } else {
            AuthDecision::Deliver
        }
    }
}

impl Default for RetryPolicy {
    /// One retry after a `401`.
    fn default() -> RetryPolicy {
        RetryPolicy {
            retry_on_unauthorized: true,
        }
    }
}

/// [`RetryPolicy`]'s client-side method, for the layer tests (the `internals` door).
#[cfg(any(fuzzing, feature = "internals"))]
pub trait RetryPolicyExt {
    /// Decides for a response with `status` and its `WWW-Authenticate` values.
    fn decide<'a, I>(
        &self,
        status: u16,
        www_authenticate: I,
        already_retried: bool,
    ) -> AuthDecision<'a>
    where
        I: IntoIterator<Item = &'a [u8]>;
}

#[cfg(any(fuzzing, feature = "internals"))]
impl RetryPolicyExt for RetryPolicy {
    fn decide<'a, I>(
        &self,
        status: u16,
        www_authenticate: I,
        already_retried: bool,
    ) -> AuthDecision<'a>
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        RetryPolicy::decide(self, status, www_authenticate, already_retried)
    }
}

/// The header that carries an [`IdempotencyKey`]: `Idempotency-Key`.
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";

/// A Mangopay idempotency key: 16 to 36 ASCII letters, digits and dashes, sent in the
/// `Idempotency-Key` header.
///
/// A POST carrying one may be retried when its outcome is unknown: the API answers a repeat
/// with the first outcome. Not a secret.
///
/// ```
/// use mtls_core::auth::IdempotencyKey;
/// let key = IdempotencyKey::from_random([0xab; 16]);
/// assert_eq!(key.as_str(), "abababab-abab-4bab-abab-abababababab");
/// assert!(IdempotencyKey::new("order-2024-0001-retry").is_ok());
/// assert!(IdempotencyKey::new("too-short").is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdempotencyKey {
    bytes: [u8; IdempotencyKey::MAX_LEN],
    len: u8,
}

impl IdempotencyKey {
    /// Shortest key Mangopay accepts.
    pub const MIN_LEN: usize = 16;
    /// Longest key Mangopay accepts.
    pub const MAX_LEN: usize = 36;

    /// A UUID-v4-shaped key (36 characters, lowercase) from 16 bytes the host drew from its
    /// random source. The version and variant bits are set as for a UUID v4, so 122 bits of
    /// the input are used.
    pub fn from_random(mut random: [u8; 16]) -> IdempotencyKey {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        random[6] = (random[6] & 0x0f) | 0x40;
        random[8] = (random[8] & 0x3f) | 0x80;
        let mut bytes = [b'-'; Self::MAX_LEN];
        let mut pos = 0;
        for (i, byte) in random.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                pos += 1; // leave the dash
            }
            // In bounds: 16 bytes make 32 digits plus 4 dashes, so `pos + 1 <= 35` here; the
            // nibbles index a 16-entry table.
            bytes[pos] = HEX[usize::from(byte >> 4)];
            bytes[pos + 1] = HEX[usize::from(byte & 0x0f)];
            pos += 2;
        }
        IdempotencyKey {
            bytes,
            len: Self::MAX_LEN as u8,
        }
    }

    /// Validates a key chosen by the caller.
    ///
    /// # Errors
    /// [`IdempotencyKeyError`] if the length is outside 16..=36 or a character is not an
    /// ASCII letter, digit or `-`.
    pub fn new(key: &str) -> Result<IdempotencyKey, IdempotencyKeyError> {
        if key.len() < Self::MIN_LEN {
            return Err(IdempotencyKeyError::TooShort);
        }
        if key.len() > Self::MAX_LEN {
            return Err(IdempotencyKeyError::TooLong);
        }
        if !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(IdempotencyKeyError::InvalidCharacter);
        }
        let mut bytes = [0u8; Self::MAX_LEN];
        // In bounds: `key.len() <= MAX_LEN`, checked above.
        bytes[..key.len()].copy_from_slice(key.as_bytes());
        Ok(IdempotencyKey {
            bytes,
            // At most MAX_LEN (36), checked above.
            len: key.len() as u8,
        })
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        // Only ASCII letters, digits and dashes are stored, so this is valid UTF-8 and the
        // fallback never happens.
        core::str::from_utf8(self.bytes.get(..usize::from(self.len)).unwrap_or(&[])).unwrap_or("")
    }
}

impl fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("IdempotencyKey")
            .field(&self.as_str())
            .finish()
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string is not an acceptable [`IdempotencyKey`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IdempotencyKeyError {
    /// Fewer than 16 characters.
    TooShort,
    /// More than 36 characters.
    TooLong,
    /// A character other than an ASCII letter, digit or `-`.
    InvalidCharacter,
}

impl fmt::Display for IdempotencyKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdempotencyKeyError::TooShort => "idempotency key is shorter than 16 characters",
            IdempotencyKeyError::TooLong => "idempotency key is longer than 36 characters",
            IdempotencyKeyError::InvalidCharacter => {
                "idempotency key may contain only ASCII letters, digits and '-'"
            }
        })
    }
}

impl core::error::Error for IdempotencyKeyError {}
