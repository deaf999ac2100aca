//! HTTP/1.1 framing: a request encoder and a strict, incremental response decoder.
//!
//! No I/O, no clock, no `unsafe`, `no_std` + `alloc`. The client state machine writes
//! requests with [`Request`] and reads responses with [`ResponseDecoder`] on top of the TLS
//! plaintext stream. The decoder is meant to face a hostile server: a misread response
//! boundary would attribute one response to the wrong request, so every ambiguous framing
//! is a typed [`RemoteError`] and poisons the connection (RFC 9112, section 6.3).
//!
//! # Driving it
//!
//! For each request: validate and encode it ([`Request::encode`] into a caller buffer, or
//! [`Request::encode_to_vec`] with a cap), hand
//! [`Request::response_context`] to [`ResponseDecoder::expect_response`], then for each
//! slice of plaintext received call [`ResponseDecoder::feed`] and drain
//! [`ResponseDecoder::poll_event`] until `Ok(None)`. Events come as `Head`, `Data`*, `End`;
//! `Head` and `Data` borrow the decoder's buffer (no copy). When the stream ends, call
//! [`ResponseDecoder::handle_eof`] and drain again. [`End::keep_alive`] and
//! [`ResponseDecoder::can_reuse`] say whether the next request may use this connection.
//! [`ResponseDecoder::poll_response`] does the same draining and returns a whole owned
//! [`Response`] instead.
//!
//! ```
//! use mtls_core::http::{Event, Request, ResponseDecoder, Limits};
//!
//! // Encode.
//! let headers = [("Authorization", "Bearer t0k3n"), ("Accept", "application/json")];
//! let req = Request::new("POST", "api.example.com", "/v1/pay").headers(&headers).body(b"{}");
//! let mut out = [0u8; 256];
//! let n = req.encode(&mut out)?;
//! assert!(out[..n].starts_with(b"POST /v1/pay HTTP/1.1\r\nHost: api.example.com\r\n"));
//!
//! // Decode, fed in two pieces, zero-copy events.
//! let mut decoder = ResponseDecoder::new(Limits::default());
//! decoder.expect_response(req.response_context())?;
//! let mut body = Vec::new();
//! let mut done = None;
//! for piece in [&b"HTTP/1.1 201 Created\r\nContent-Le"[..], b"ngth: 2\r\n\r\nok"] {
//!     decoder.feed(piece)?;
//!     while let Some(event) = decoder.poll_event()? {
//!         match event {
//!             Event::Head(head) => assert_eq!(head.status, 201),
//!             Event::Data(bytes) => body.extend_from_slice(bytes),
//!             Event::End(end) => done = Some(end.keep_alive),
//!         }
//!     }
//! }
//! assert_eq!((body.as_slice(), done), (&b"ok"[..], Some(true)));
//! assert!(decoder.can_reuse());
//!
//! // The same connection, collecting a whole chunked response.
//! decoder.expect_response(Request::new("GET", "api.example.com", "/v1/x").response_context())?;
//! decoder.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n")?;
//! let response = decoder.poll_response()?.expect("complete");
//! assert_eq!((response.status, response.body.as_slice()), (200, &b"hi"[..]));
//! # Ok::<(), mtls_core::http::HttpError>(())
//! ```
//!
//! # Strictness
//!
//! Each of these is a [`RemoteError`]: both `Content-Length` and `Transfer-Encoding`;
//! different `Content-Length` values (identical repeats, as in `5, 5`, are accepted per RFC
//! 9110 section 8.6); a `Content-Length` that is not `1*DIGIT` or overflows `u64`; a chunk
//! size that is not hex or overflows; chunk data not followed by CRLF; a bare CR or bare LF
//! anywhere a line ends; obs-fold; chunk extensions and trailers over [`Limits`]; header
//! count, line length, head size and body size over [`Limits`]; `Transfer-Encoding` in
//! HTTP/1.0 or with any coding but a single `chunked`; `101 Switching Protocols`; the stream
//! ending inside a head or a length-delimited or chunked body (never a short body); bytes
//! after a response that closed the connection.
//!
//! Responses to `HEAD`, and 204 and 304 responses, have no body whatever their headers say;
//! 1xx interim responses (other than 101) are skipped.
//!
//! # Not supported
//!
//! - Pipelining: one response is expected at a time ([`LocalError::ResponsePending`]).
//! - Transfer codings other than `chunked` (`gzip`, ...) are rejected, not decoded.
//! - Status codes 600..=999 are passed through as they are (RFC 9110 asks clients to treat
//!   them as 5xx); codes below 100 are rejected.
//! - Leading empty lines before a status line are rejected (some servers send a stray CRLF
//!   after a body; we treat it as a framing fault).
//! - Request bodies are written whole, with `Content-Length`; no chunked requests.
//! - No `Upgrade`, no `CONNECT`, no `Expect: 100-continue` handling (a 100 is skipped).

mod collect;
mod decode;
mod encode;
mod error;
mod limits;
mod syntax;

pub use collect::Response;
pub use decode::{
    BodyKind, End, Event, HeaderField, Headers, ResponseContext, ResponseDecoder, ResponseHead,
    Version,
};
pub use encode::{Request, RESERVED_HEADERS};
pub use error::{HttpError, InsufficientSizeError, LocalError, RemoteError};
pub use limits::Limits;
