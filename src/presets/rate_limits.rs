//! Mangopay's rate-limit headers (`X-RateLimit`, `X-RateLimit-Remaining`,
//! `X-RateLimit-Reset`), one number per rate-limit window in each.

use core::fmt;

use crate::http::Response;

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
    pub(crate) const CALLS_MADE_HEADER: &'static str = "X-RateLimit";
    /// The header carrying [`RateLimits::remaining`].
    pub(crate) const REMAINING_HEADER: &'static str = "X-RateLimit-Remaining";
    /// The header carrying [`RateLimits::reset`].
    pub(crate) const RESET_HEADER: &'static str = "X-RateLimit-Reset";

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

    /// Reads the three headers of a decoded `response` (empty when it has none), as
    /// [`RateLimits::from_headers`] does.
    ///
    /// ```
    /// use mtls_core::http::{Response, Version};
    /// use mtls_core::presets::RateLimits;
    /// // As a client's `Event::Response` carries it.
    /// let response = Response {
    ///     version: Version::Http11,
    ///     status: 200,
    ///     reason: "OK".into(),
    ///     headers: vec![("X-RateLimit-Remaining".into(), b"2299, 2298".to_vec())],
    ///     body: vec![],
    ///     trailers: vec![],
    ///     keep_alive: true,
    /// };
    /// assert_eq!(RateLimits::from_response(&response).min_remaining(), Some(2298));
    /// ```
    pub fn from_response(response: &Response) -> RateLimits {
        RateLimits::from_headers(
            response
                .headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_slice())),
        )
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
    /// More than 8 items.
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
/// `RateLimitError`.
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
