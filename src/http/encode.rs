//! HTTP/1.1 request encoder.
//!
//! The wire form, in order:
//!
//! ```text
//! METHOD SP target SP "HTTP/1.1" CRLF
//! "Host: " host CRLF
//! caller headers, in the caller's order: name ": " value CRLF
//! "Content-Length: " len CRLF      (only when a body is set, even an empty one)
//! "Connection: close" CRLF         (only when `close` is set)
//! CRLF
//! body
//! ```
//!
//! Every input is validated before a byte is written; an invalid request is a
//! [`LocalError`] and nothing is sent.

use alloc::vec::Vec;

use crate::http::decode::{Redacted, ResponseContext};
use crate::http::error::{InsufficientSizeError, LocalError};
use crate::http::syntax::{is_ows, is_token};

/// Header names the encoder writes itself; a caller header with one of these names is a
/// [`LocalError::ReservedHeader`].
pub const RESERVED_HEADERS: [&str; 5] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
];

/// An HTTP/1.1 request to encode. Borrows everything; encoding allocates nothing except
/// through [`Request::encode_to_vec`].
///
/// For example, `Request::new("GET", "api.example.com", "/v1/users?id=7")` with the header
/// `Accept: application/json` encodes to
/// `GET /v1/users?id=7 HTTP/1.1\r\nHost: api.example.com\r\nAccept: application/json\r\n\r\n`
/// (the test `encode_example` in `tests/http_roundtrip.rs`).
///
/// `Debug` prints header names but not their values (`Authorization` carries a bearer
/// token), and the body's length only.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// The method, an RFC 9110 token (`GET`, `POST`, ...). Case-sensitive.
    pub method: &'a str,
    /// The `Host` header value: `host` or `host:port`.
    pub host: &'a str,
    /// The request-target in origin-form (`/path?query`, already percent-encoded), or `*`.
    pub target: &'a str,
    /// Caller headers, written in order. Must not include the names in
    /// [`RESERVED_HEADERS`].
    pub headers: &'a [(&'a str, &'a str)],
    /// The body. `Some` (even empty) adds `Content-Length`; `None` sends no body and no
    /// `Content-Length`.
    pub body: Option<&'a [u8]>,
    /// Add `Connection: close`: the server closes the connection after its response.
    pub close: bool,
}

impl<'a> Request<'a> {
    /// A request with no headers, no body, keep-alive.
    pub const fn new(method: &'a str, host: &'a str, target: &'a str) -> Self {
        Self {
            method,
            host,
            target,
            headers: &[],
            body: None,
            close: false,
        }
    }

    /// Sets the caller headers.
    #[must_use]
    pub const fn headers(mut self, headers: &'a [(&'a str, &'a str)]) -> Self {
        self.headers = headers;
        self
    }

    /// Sets the body (adds `Content-Length`).
    #[must_use]
    pub const fn body(mut self, body: &'a [u8]) -> Self {
        self.body = Some(body);
        self
    }

    /// Asks the server to close the connection after its response.
    #[must_use]
    #[cfg_attr(not(any(fuzzing, feature = "internals")), allow(dead_code))]
    pub const fn close(mut self, close: bool) -> Self {
        self.close = close;
        self
    }

    /// What the response decoder must know about this request: pass it to
    /// [`ResponseDecoder::expect_response`](crate::http::ResponseDecoder::expect_response).
    pub fn response_context(&self) -> ResponseContext {
        ResponseContext::new(self.method).with_close(self.close)
    }

    /// Checks every field; `Ok` means [`encode`](Self::encode) can only fail on size.
    pub fn validate(&self) -> Result<(), LocalError> {
        if !is_token(self.method.as_bytes()) {
            return Err(LocalError::InvalidMethod);
        }
        if !is_valid_target(self.target.as_bytes()) {
            return Err(LocalError::InvalidTarget);
        }
        if !is_valid_host(self.host.as_bytes()) {
            return Err(LocalError::InvalidHost);
        }
        for (index, (name, value)) in self.headers.iter().enumerate() {
            if !is_token(name.as_bytes()) {
                return Err(LocalError::InvalidHeaderName { index });
            }
            if RESERVED_HEADERS
                .iter()
                .any(|r| r.eq_ignore_ascii_case(name))
            {
                return Err(LocalError::ReservedHeader { index });
            }
            if !is_valid_field_value(value.as_bytes()) {
                return Err(LocalError::InvalidHeaderValue { index });
            }
        }
        Ok(())
    }

    /// The exact number of bytes [`encode`](Self::encode) writes, after validation.
    pub fn encoded_len(&self) -> Result<usize, LocalError> {
        self.validate()?;
        let mut counter = Counter(0);
        self.write_to(&mut counter);
        Ok(counter.0)
    }

    /// Writes the request (head and body) into `out` and returns the number of bytes written.
    ///
    /// On [`LocalError::InsufficientSize`] the error carries the exact size needed and `out`
    /// is not modified; on any other error `out` is not modified either.
    #[cfg_attr(not(any(fuzzing, feature = "internals")), allow(dead_code))]
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, LocalError> {
        let required_size = self.encoded_len()?;
        let Some(dest) = out.get_mut(..required_size) else {
            return Err(LocalError::InsufficientSize(InsufficientSizeError {
                required_size,
            }));
        };
        let mut cursor = Cursor { buf: dest, pos: 0 };
        self.write_to(&mut cursor);
        Ok(cursor.pos)
    }

    /// Appends the request to `out`, provided `out.len()` stays within `max_len`; returns the
    /// number of bytes appended.
    ///
    /// On [`LocalError::InsufficientSize`], `required_size` is the total length `out` would
    /// need, and `out` is not modified (on any error).
    pub fn encode_to_vec(&self, out: &mut Vec<u8>, max_len: usize) -> Result<usize, LocalError> {
        let n = self.encoded_len()?;
        let required_size = out.len().saturating_add(n);
        if required_size > max_len {
            return Err(LocalError::InsufficientSize(InsufficientSizeError {
                required_size,
            }));
        }
        out.reserve_exact(n);
        self.write_to(out);
        Ok(n)
    }

    /// The single writer behind `encoded_len`, `encode` and `encode_to_vec`.
    fn write_to(&self, out: &mut impl Sink) {
        out.put(self.method.as_bytes());
        out.put(b" ");
        out.put(self.target.as_bytes());
        out.put(b" HTTP/1.1\r\nHost: ");
        out.put(self.host.as_bytes());
        out.put(b"\r\n");
        for (name, value) in self.headers {
            out.put(name.as_bytes());
            out.put(b": ");
            out.put(value.as_bytes());
            out.put(b"\r\n");
        }
        if let Some(body) = self.body {
            out.put(b"Content-Length: ");
            let mut digits = [0u8; 20];
            out.put(format_decimal(body.len() as u64, &mut digits));
            out.put(b"\r\n");
        }
        if self.close {
            out.put(b"Connection: close\r\n");
        }
        out.put(b"\r\n");
        if let Some(body) = self.body {
            out.put(body);
        }
    }
}

impl core::fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let names = self.headers.iter().map(|(n, v)| (n, Redacted(v.len())));
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("host", &self.host)
            .field("target", &self.target)
            .field("headers", &DebugMap(names))
            .field("body", &self.body.map(|b| Redacted(b.len())))
            .field("close", &self.close)
            .finish()
    }
}

/// Formats an iterator of pairs as a map.
struct DebugMap<I>(I);

impl<K: core::fmt::Debug, V: core::fmt::Debug, I: Iterator<Item = (K, V)> + Clone> core::fmt::Debug
    for DebugMap<I>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_map().entries(self.0.clone()).finish()
    }
}

/// origin-form (`/` then visible ASCII except `#`) or asterisk-form.
fn is_valid_target(t: &[u8]) -> bool {
    if t == b"*" {
        return true;
    }
    t.first() == Some(&b'/') && t.iter().all(|&b| (0x21..=0x7e).contains(&b) && b != b'#')
}

/// RFC 3986 `host [":" port]` bytes: unreserved, pct-encoded, sub-delims, ':' and IP-literal
/// brackets. Rejects userinfo (`@`), paths, whitespace and controls.
fn is_valid_host(h: &[u8]) -> bool {
    !h.is_empty()
        && h.iter().all(|&b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'.'
                        | b'_'
                        | b'~'
                        | b'%'
                        | b'!'
                        | b'$'
                        | b'&'
                        | b'\''
                        | b'('
                        | b')'
                        | b'*'
                        | b'+'
                        | b','
                        | b';'
                        | b'='
                        | b':'
                        | b'['
                        | b']'
                )
        })
}

/// RFC 9110 `field-value`: VCHAR, obs-text, and SP/HTAB inside; no CR, LF, NUL or other
/// control character; no leading or trailing whitespace (the receiver would strip it).
fn is_valid_field_value(v: &[u8]) -> bool {
    let content_ok = v
        .iter()
        .all(|&b| b == b'\t' || (b' '..=0x7e).contains(&b) || b >= 0x80);
    let edges_ok = !v.first().is_some_and(|&b| is_ows(b)) && !v.last().is_some_and(|&b| is_ows(b));
    content_ok && edges_ok
}

/// Writes `n` in decimal at the end of `buf`; returns the digits.
fn format_decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1; // cannot underflow: u64::MAX has 20 digits and the loop stops at n == 0
        buf[i] = b'0' + (n % 10) as u8; // `i < 20` by the line above
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

/// Where `write_to` puts bytes.
trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

/// Counts bytes, for `encoded_len`.
struct Counter(usize);

impl Sink for Counter {
    fn put(&mut self, bytes: &[u8]) {
        self.0 = self.0.saturating_add(bytes.len());
    }
}

/// Writes into a slice already checked to be exactly `encoded_len` long.
#[cfg_attr(not(any(fuzzing, feature = "internals")), allow(dead_code))]
struct Cursor<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl Sink for Cursor<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let end = self.pos.saturating_add(bytes.len());
        // Always `Some`: the slice has the length the `Counter` pass computed for the same
        // writes. Should that ever break, the output is cut short, never a panic.
        if let Some(dest) = self.buf.get_mut(self.pos..end) {
            dest.copy_from_slice(bytes);
            self.pos = end;
        }
    }
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_values_and_body() {
        let headers = [("Authorization", "Bearer s3cret")];
        let req = Request::new("POST", "h", "/t")
            .headers(&headers)
            .body(b"pw=hunter2");
        let shown = alloc::format!("{req:?}");
        assert!(
            shown.contains("Authorization") && shown.contains("<13 bytes>"),
            "{shown}"
        );
        assert!(
            !shown.contains("s3cret") && !shown.contains("hunter2"),
            "{shown}"
        );
    }

    #[test]
    fn decimal() {
        let mut b = [0u8; 20];
        assert_eq!(format_decimal(0, &mut b), b"0");
        assert_eq!(format_decimal(u64::MAX, &mut b), b"18446744073709551615");
    }
}
