//! Resource bounds for the response decoder.

/// Bounds on what a server may make the decoder hold or accept.
///
/// Every bound is checked as bytes arrive, so an oversized head or body fails as soon as it
/// crosses the line, not after it has been buffered. Exceeding a bound is a
/// [`RemoteError`](crate::http::RemoteError) and poisons the decoder.
///
/// | field | default |
/// |---|---|
/// | [`max_headers`](Self::max_headers) | 64 |
/// | [`max_line_len`](Self::max_line_len) | 8 KiB (8192) |
/// | [`max_head_size`](Self::max_head_size) | 16 KiB (16384) |
/// | [`max_body_size`](Self::max_body_size) | 8 MiB (8388608) |
/// | [`max_chunk_ext_size`](Self::max_chunk_ext_size) | 1 KiB (1024) |
/// | [`max_trailer_size`](Self::max_trailer_size) | 4 KiB (4096) |
/// | [`max_buffered`](Self::max_buffered) | 64 KiB (65536) |
///
/// [`Limits::small`] is a preset for small devices (a few KiB each, a 16 KiB body).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most header fields in one head, and most trailer fields in one trailer section.
    /// Clamped to [`Limits::MAX_HEADERS_CEILING`] (the parser's stack array).
    pub max_headers: usize,
    /// Longest single line without its CRLF: status line, header line, chunk-size line,
    /// trailer line.
    pub max_line_len: usize,
    /// Largest response head, status line to the empty line inclusive. Each skipped 1xx head
    /// is bounded on its own.
    pub max_head_size: usize,
    /// Largest body of one response (after chunked decoding). A `Content-Length` above it
    /// fails at the head, before any body byte.
    pub max_body_size: u64,
    /// Most bytes of chunk extensions (after the chunk size, up to CRLF) in one message.
    pub max_chunk_ext_size: usize,
    /// Largest trailer section (after the last chunk, final CRLF inclusive).
    pub max_trailer_size: usize,
    /// Most unconsumed bytes the decoder holds. Input beyond it is refused (a
    /// [`LocalError::BufferFull`](crate::http::LocalError), not a peer fault): drain
    /// events, then feed again. It must be at least `max_head_size` plus the largest slice
    /// fed at once.
    pub max_buffered: usize,
}

impl Limits {
    /// Upper bound for [`max_headers`](Self::max_headers): the decoder parses into a stack
    /// array of this many `httparse::Header`s (16 bytes each on 32-bit targets).
    pub const MAX_HEADERS_CEILING: usize = 100;

    /// A preset for small devices (tens of KiB of heap), for APIs whose answers are small
    /// JSON documents: 32 header fields, 2 KiB lines, a 4 KiB head, a 16 KiB body, 256 B of
    /// chunk extensions, a 1 KiB trailer and 8 KiB buffered. A larger answer fails with a
    /// [`RemoteError`](crate::http::RemoteError) naming the bound, never with a memory
    /// exhaustion. Measured with the whole flow on an emulated Cortex-M in
    /// `benches/qemu-live`; pair it with [`TlsLimits::small`](crate::tls::TlsLimits::small).
    ///
    /// ```
    /// use mtls_core::http::Limits;
    /// let small = Limits::small();
    /// assert!(small.max_buffered >= small.max_head_size);
    /// assert_eq!(small.max_body_size, 16 * 1024);
    /// ```
    pub const fn small() -> Self {
        Self {
            max_headers: 32,
            max_line_len: 2 * 1024,
            max_head_size: 4 * 1024,
            max_body_size: 16 * 1024,
            max_chunk_ext_size: 256,
            max_trailer_size: 1024,
            max_buffered: 8 * 1024,
        }
    }

    /// `max_headers` after clamping to [`Limits::MAX_HEADERS_CEILING`].
    pub(crate) fn header_slots(&self) -> usize {
        if self.max_headers < Self::MAX_HEADERS_CEILING {
            self.max_headers
        } else {
            Self::MAX_HEADERS_CEILING
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_headers: 64,
            max_line_len: 8 * 1024,
            max_head_size: 16 * 1024,
            max_body_size: 8 * 1024 * 1024,
            max_chunk_ext_size: 1024,
            max_trailer_size: 4 * 1024,
            max_buffered: 64 * 1024,
        }
    }
}
