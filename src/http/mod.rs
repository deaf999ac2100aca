//! HTTP/1.1 framing: the types a [`Client`](crate::Client) user meets.
//!
//! The client writes its requests and reads the responses itself, with a strict,
//! incremental, zero-copy decoder on top of the TLS plaintext stream; this module makes
//! public what comes out of it: the owned [`Response`] (and its [`Version`]), the decoder's
//! bounds [`Limits`] (a field of [`ClientConfig`](crate::ClientConfig)) and the errors
//! ([`HttpError`], [`LocalError`], [`RemoteError`], [`InsufficientSizeError`]) found inside
//! [`Error`](crate::Error).
//!
//! No I/O, no clock, no `unsafe`, `no_std` + `alloc`. The decoder is meant to face a
//! hostile server: a misread response boundary would attribute one response to the wrong
//! request, so every ambiguous framing is a typed [`RemoteError`] and poisons the connection
//! (RFC 9112, section 6.3).
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
pub(crate) mod decode;
pub(crate) mod encode;
mod error;
mod limits;
mod syntax;

pub use collect::Response;
pub use decode::Version;
pub use error::{HttpError, InsufficientSizeError, LocalError, RemoteError};
pub use limits::Limits;

// The client's internals: crate-private here, and public only through the hidden door
// (`crate::internals`) for the layer tests, the fuzzers and the benches.
pub(crate) use decode::{ResponseContext, ResponseDecoder};
pub(crate) use encode::Request;
