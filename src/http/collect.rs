//! The owned, whole response the client's decoder collects (`ResponseDecoder::poll_response`).

use alloc::string::String;
use alloc::vec::Vec;

use core::fmt;

use crate::http::decode::{BodyKind, End, Headers, Redacted, ResponseHead, Version};

/// A complete response with owned data.
///
/// `Debug` prints header names and sizes, not values or body bytes (they may carry tokens).
#[derive(Clone, PartialEq, Eq)]
pub struct Response {
    /// Protocol version.
    pub version: Version,
    /// Status code.
    pub status: u16,
    /// Reason phrase; bytes that are not UTF-8 are replaced by U+FFFD.
    pub reason: String,
    /// Header fields in the order received: (name as received, value).
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body, chunked framing removed; at most [`Limits::max_body_size`] bytes.
    ///
    /// [`Limits::max_body_size`]: crate::http::Limits::max_body_size
    pub body: Vec<u8>,
    /// Trailer fields of a chunked body, kept apart from the headers.
    pub trailers: Vec<(String, Vec<u8>)>,
    /// Whether the connection stays open for the next request: HTTP/1.1 without
    /// `Connection: close`, or HTTP/1.0 with `Connection: keep-alive`; never for a body
    /// delimited by close or when the request said `close`.
    pub keep_alive: bool,
}

impl Response {
    /// The value of the first header named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// Starts a response from its head, reserving the announced body size (at most
    /// `max_body`, which the decoder enforced already). Reuses the allocations of `spare`
    /// (a response handed back by the caller) when there is one.
    pub(crate) fn from_head(head: &ResponseHead<'_>, max_body: u64, spare: Option<Self>) -> Self {
        let mut r = spare.unwrap_or_else(|| Self {
            version: head.version,
            status: head.status,
            reason: String::new(),
            headers: Vec::new(),
            body: Vec::new(),
            trailers: Vec::new(),
            keep_alive: false,
        });
        r.version = head.version;
        r.status = head.status;
        r.reason.clear();
        r.reason.push_str(&String::from_utf8_lossy(head.reason));
        fill_fields(&mut r.headers, &head.headers);
        r.body.clear();
        if let BodyKind::Length(n) = head.body {
            if n <= max_body {
                r.body.reserve_exact(usize::try_from(n).unwrap_or(0));
            }
        }
        r.trailers.clear();
        r.keep_alive = false;
        r
    }

    /// Completes the response at its `End`.
    pub(crate) fn finish(&mut self, end: &End<'_>) {
        self.keep_alive = end.keep_alive;
        fill_fields(&mut self.trailers, &end.trailers);
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = |fields: &[(String, Vec<u8>)]| {
            fields
                .iter()
                .map(|(n, v)| (n.clone(), Redacted(v.len())))
                .collect::<Vec<_>>()
        };
        f.debug_struct("Response")
            .field("version", &self.version)
            .field("status", &self.status)
            .field("reason", &self.reason)
            .field("headers", &names(&self.headers))
            .field("body", &Redacted(self.body.len()))
            .field("trailers", &names(&self.trailers))
            .field("keep_alive", &self.keep_alive)
            .finish()
    }
}

/// Sets `out` to `fields`, reusing the entries (and their allocations) already there.
fn fill_fields(out: &mut Vec<(String, Vec<u8>)>, fields: &Headers<'_>) {
    let mut n = 0;
    for f in fields.iter() {
        match out.get_mut(n) {
            Some((name, value)) => {
                name.clear();
                name.push_str(f.name);
                value.clear();
                value.extend_from_slice(f.value);
            }
            None => out.push((String::from(f.name), Vec::from(f.value))),
        }
        n += 1;
    }
    out.truncate(n);
}
