//! Errors of the HTTP layer.
//!
//! Split like h11's `LocalProtocolError` / `RemoteProtocolError`:
//!
//! - [`LocalError`]: caller misuse. The request given to the encoder is invalid, an output
//!   buffer is too small, or a decoder method was called in a state that does not allow it.
//!   Nothing was written or changed; the connection is still usable.
//! - [`RemoteError`]: peer fault. The server's bytes broke HTTP/1.1 framing or a configured
//!   [`Limits`](crate::http::Limits) bound. The decoder is poisoned: every later call returns
//!   the same error and the connection MUST NOT be reused (RFC 9112, section 6.3).
//!
//! [`HttpError`] folds both for callers that handle them together.

use core::fmt;

/// Any error of the HTTP layer: caller misuse or peer fault.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpError {
    /// The caller misused the API; see [`LocalError`].
    Local(LocalError),
    /// The server sent bytes that violate HTTP/1.1 framing or our limits; see [`RemoteError`].
    Remote(RemoteError),
}

impl HttpError {
    /// `true` when the answer broke one of our [`Limits`](crate::http::Limits) (its body,
    /// head, a line, the header count, chunk extensions, or a head larger than the
    /// decoder's buffer): asking again would get the same answer, so the client does not
    /// retry the request.
    pub(crate) fn is_over_limit(&self) -> bool {
        matches!(
            self,
            HttpError::Local(LocalError::BufferFull)
                | HttpError::Remote(
                    RemoteError::BodyTooLarge
                        | RemoteError::HeadTooLarge
                        | RemoteError::LineTooLong
                        | RemoteError::TooManyHeaders
                        | RemoteError::ChunkExtensionsTooLarge
                )
        )
    }

    /// `true` for a peer fault, after which the connection must be closed.
    pub fn is_remote(&self) -> bool {
        matches!(self, Self::Remote(_))
    }
}

impl From<LocalError> for HttpError {
    fn from(e: LocalError) -> Self {
        Self::Local(e)
    }
}

impl From<RemoteError> for HttpError {
    fn from(e: RemoteError) -> Self {
        Self::Remote(e)
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Local(e) => write!(f, "http: local error: {e}"),
            Self::Remote(e) => write!(f, "http: peer error: {e}"),
        }
    }
}

impl core::error::Error for HttpError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Local(e) => Some(e),
            Self::Remote(e) => Some(e),
        }
    }
}

/// The caller's output buffer is too small; nothing was written.
///
/// Mirrors rustls' `InsufficientSizeError`: grow the buffer to `required_size` and retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InsufficientSizeError {
    /// The number of bytes the output needs.
    pub required_size: usize,
}

/// Caller misuse: returned by the encoder and by decoder calls made in the wrong state.
///
/// A `LocalError` never changes any state: the buffer, the request and the decoder are as
/// they were before the call.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LocalError {
    /// The method is not an RFC 9110 token (`1*tchar`).
    InvalidMethod,
    /// The request-target is not origin-form (`/path?query`) or `*`: it is empty, or it holds
    /// a space, a control character, a `#` or a non-ASCII byte.
    InvalidTarget,
    /// The `Host` value is empty or holds a byte outside RFC 3986 `host [":" port]`.
    InvalidHost,
    /// Header `index` (in the caller's list) has a name that is not an RFC 9110 token.
    InvalidHeaderName {
        /// Position in the caller's header list.
        index: usize,
    },
    /// Header `index` has a value holding CR, LF, NUL or another control character (HTAB
    /// excepted), or leading/trailing whitespace.
    InvalidHeaderValue {
        /// Position in the caller's header list.
        index: usize,
    },
    /// Header `index` is one the encoder writes itself (`Host`, `Content-Length`,
    /// `Transfer-Encoding`, `Connection`, `Upgrade`).
    ReservedHeader {
        /// Position in the caller's header list.
        index: usize,
    },
    /// The output buffer (or the `Vec` cap) is too small; nothing was written.
    InsufficientSize(InsufficientSizeError),
    /// Feeding the decoder would make it hold more unconsumed bytes than
    /// [`Limits::max_buffered`](crate::http::Limits::max_buffered); drain events and retry.
    BufferFull,
    /// Input fed to the decoder after the end of the stream.
    InputAfterEof,
    /// A new response expected while the previous response is not finished.
    ResponsePending,
    /// A response expected on a connection that is closed or closing (end of stream, or the
    /// last response said `close`).
    ConnectionClosed,
    /// A whole response asked for in the middle of a response whose head was taken as a
    /// zero-copy event.
    MixedConsumption,
}

impl fmt::Display for LocalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidMethod => f.write_str("method is not a token"),
            Self::InvalidTarget => f.write_str("request-target is not origin-form"),
            Self::InvalidHost => f.write_str("invalid Host value"),
            Self::InvalidHeaderName { index } => write!(f, "header {index}: invalid name"),
            Self::InvalidHeaderValue { index } => write!(f, "header {index}: invalid value"),
            Self::ReservedHeader { index } => {
                write!(f, "header {index}: set by the encoder, not the caller")
            }
            Self::InsufficientSize(e) => {
                write!(
                    f,
                    "output buffer too small: {} bytes needed",
                    e.required_size
                )
            }
            Self::BufferFull => f.write_str("decoder input buffer full: drain events first"),
            Self::InputAfterEof => f.write_str("input after end of stream"),
            Self::ResponsePending => f.write_str("previous response not finished"),
            Self::ConnectionClosed => f.write_str("connection closed or closing"),
            Self::MixedConsumption => {
                f.write_str("poll_response called mid-response after poll_event")
            }
        }
    }
}

impl core::error::Error for LocalError {}

/// Peer fault: the server's bytes violate HTTP/1.1 framing (RFC 9112) or our
/// [`Limits`](crate::http::Limits).
///
/// After any `RemoteError` the decoder is poisoned and the connection must be closed, never
/// reused: the response boundary can no longer be trusted (RFC 9112, section 6.3).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoteError {
    // --- line syntax ---
    /// A CR not followed by LF where CRLF is required.
    BareCr,
    /// An LF not preceded by CR where CRLF is required.
    BareLf,
    /// A header or trailer line starting with SP or HTAB (obsolete line folding).
    ObsFold,
    /// The status line is malformed (leading empty line, bad delimiters, bad reason bytes).
    InvalidStatusLine,
    /// The version is not `HTTP/1.0` or `HTTP/1.1`.
    InvalidVersion,
    /// The status code is not three digits in `100..=999`.
    InvalidStatusCode,
    /// A header name is not a token, or has whitespace before the colon.
    InvalidHeaderName,
    /// A header value holds a control character (NUL, DEL, ...).
    InvalidHeaderValue,
    // --- size limits ---
    /// A status, header, chunk-size or trailer line is longer than `Limits::max_line_len`.
    LineTooLong,
    /// More header (or trailer) fields than `Limits::max_headers`.
    TooManyHeaders,
    /// The response head is larger than `Limits::max_head_size`.
    HeadTooLarge,
    /// The body is larger than `Limits::max_body_size` (known from `Content-Length` or
    /// counted as it arrives).
    BodyTooLarge,
    // --- message framing ---
    /// `101 Switching Protocols`: we never ask for an upgrade.
    SwitchingProtocols,
    /// Both `Content-Length` and `Transfer-Encoding` (a request-smuggling shape).
    ContentLengthWithTransferEncoding,
    /// Several different `Content-Length` values.
    ConflictingContentLength,
    /// A `Content-Length` that is not `1*DIGIT` (signs, spaces inside, empty, hex, ...).
    InvalidContentLength,
    /// A `Content-Length` that does not fit in a `u64`.
    ContentLengthOverflow,
    /// `Transfer-Encoding` in an HTTP/1.0 response (faulty framing, RFC 9112 section 6.1).
    TransferEncodingInHttp10,
    /// A `Transfer-Encoding` other than exactly `chunked` (we decode no other coding).
    UnsupportedTransferEncoding,
    /// A chunk size that is not `1*HEXDIG` followed by extensions or CRLF.
    InvalidChunkSize,
    /// A chunk size that does not fit in a `u64`.
    ChunkSizeOverflow,
    /// A chunk extension that breaks `*( BWS ";" BWS name [ BWS "=" BWS value ] )`.
    InvalidChunkExtension,
    /// Chunk extensions in one message total more than `Limits::max_chunk_ext_size`.
    ChunkExtensionsTooLarge,
    /// Chunk data not followed by exactly CRLF.
    BadChunkTerminator,
    /// A malformed trailer field.
    InvalidTrailer,
    /// The trailer section is larger than `Limits::max_trailer_size`.
    TrailersTooLarge,
    // --- connection lifecycle ---
    /// The stream ended before any byte of an expected response.
    ClosedBeforeResponse,
    /// The stream ended inside a response head (or left a partial head behind).
    TruncatedHead,
    /// The stream ended before the body announced by `Content-Length` or chunked framing.
    TruncatedBody,
    /// Bytes arrived after a complete response on a connection that said `close`.
    DataAfterClose,
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BareCr => "bare CR where CRLF is required",
            Self::BareLf => "bare LF where CRLF is required",
            Self::ObsFold => "obsolete line folding",
            Self::InvalidStatusLine => "malformed status line",
            Self::InvalidVersion => "unsupported HTTP version",
            Self::InvalidStatusCode => "invalid status code",
            Self::InvalidHeaderName => "invalid header name",
            Self::InvalidHeaderValue => "invalid header value",
            Self::LineTooLong => "line longer than the limit",
            Self::TooManyHeaders => "more header fields than the limit",
            Self::HeadTooLarge => "response head larger than the limit",
            Self::BodyTooLarge => "body larger than the limit",
            Self::SwitchingProtocols => "unexpected 101 Switching Protocols",
            Self::ContentLengthWithTransferEncoding => "both Content-Length and Transfer-Encoding",
            Self::ConflictingContentLength => "conflicting Content-Length values",
            Self::InvalidContentLength => "invalid Content-Length",
            Self::ContentLengthOverflow => "Content-Length overflows",
            Self::TransferEncodingInHttp10 => "Transfer-Encoding in an HTTP/1.0 response",
            Self::UnsupportedTransferEncoding => "unsupported Transfer-Encoding",
            Self::InvalidChunkSize => "invalid chunk size",
            Self::ChunkSizeOverflow => "chunk size overflows",
            Self::InvalidChunkExtension => "invalid chunk extension",
            Self::ChunkExtensionsTooLarge => "chunk extensions larger than the limit",
            Self::BadChunkTerminator => "chunk data not followed by CRLF",
            Self::InvalidTrailer => "invalid trailer field",
            Self::TrailersTooLarge => "trailer section larger than the limit",
            Self::ClosedBeforeResponse => "connection closed before the response",
            Self::TruncatedHead => "connection closed inside the response head",
            Self::TruncatedBody => "connection closed inside the response body",
            Self::DataAfterClose => "data after a response that closed the connection",
        })
    }
}

impl core::error::Error for RemoteError {}
