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
    /// `max_body`, which the decoder enforced already).
    pub(crate) fn from_head(head: &ResponseHead<'_>, max_body: u64) -> Self {
        let body = match head.body {
            BodyKind::Length(n) if n <= max_body => {
                Vec::with_capacity(usize::try_from(n).unwrap_or(0))
            }
            _ => Vec::new(),
        };
        Self {
            version: head.version,
            status: head.status,
            reason: String::from_utf8_lossy(head.reason).into_owned(),
            headers: owned_fields(&head.headers),
            body,
            trailers: Vec::new(),
            keep_alive: false,
        }
    }

    /// Completes the response at its `End`.
    pub(crate) fn finish(&mut self, end: &End<'_>) {
        self.keep_alive = end.keep_alive;
        self.trailers = owned_fields(&end.trailers);
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

fn owned_fields(fields: &Headers<'_>) -> Vec<(String, Vec<u8>)> {
    fields
        .iter()
        .map(|f| (String::from(f.name), Vec::from(f.value)))
        .collect()
}
