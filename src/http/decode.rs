//! Incremental, strict HTTP/1.1 response decoder.
//!
//! # State machine
//!
//! All transitions live in [`ResponseDecoder::step`]:
//!
//! ```text
//!            expect_response                  final head
//!   Idle ------------------------> Head -----------------+---------------------------+
//!    ^                              |  ^  1xx (skipped)   |                           |
//!    |                              +--+                  v                           v
//!    |                                       Length(n) / UntilClose / ChunkSize <-+  EndPending
//!    |                                                    |          |            |   |
//!    |                                                    |     ChunkData -> ChunkCrlf
//!    |                                                    |          |                |
//!    |                                                    |       Trailers            |
//!    |             End { keep_alive: true }               v          v                v
//!    +--------------------------------------------------------- End -----------------+
//!                                                                 | keep_alive: false
//!                                                                 v
//!                                                               Closed (any byte: DataAfterClose)
//! ```
//!
//! Any [`RemoteError`] poisons the decoder from any state.

use crate::http::error::{HttpError, LocalError, RemoteError};
use crate::http::limits::Limits;
use crate::http::syntax::{
    hex_value, is_ows, is_valid_chunk_ext, list_contains, list_elements, parse_decimal,
};
use alloc::vec::Vec;
use core::fmt;

/// What the decoder must know about the request a response answers.
///
/// Build it with [`ResponseContext::new`] or take it from
/// [`Request::response_context`](crate::http::Request::response_context).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseContext {
    head: bool,
    close: bool,
}

impl ResponseContext {
    /// The context for a request with `method` (case-sensitive; only `HEAD` changes framing).
    pub fn new(method: &str) -> Self {
        Self {
            head: method == "HEAD",
            close: false,
        }
    }

    /// Marks that the request carried `Connection: close`: the connection ends after this
    /// response whatever the server says.
    #[must_use]
    pub fn with_close(mut self, close: bool) -> Self {
        self.close = close;
        self
    }

    /// `true` if the request was `HEAD` (the response has no body).
    #[cfg_attr(not(any(fuzzing, feature = "internals")), allow(dead_code))]
    pub fn is_head(&self) -> bool {
        self.head
    }
}

/// HTTP version of a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// `HTTP/1.0`
    Http10,
    /// `HTTP/1.1`
    Http11,
}

/// How the body of a response is framed (RFC 9112, section 6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// No body: a response to `HEAD`, a 204 or a 304, or `Content-Length: 0`.
    Empty,
    /// Exactly this many bytes (`Content-Length`).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Neither length nor chunked: the body runs until the end of the stream, and the
    /// connection cannot be reused.
    UntilClose,
}

/// One header (or trailer) field, borrowed from the decoder's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderField<'a> {
    /// Field name as received (a token; compare case-insensitively).
    pub name: &'a str,
    /// Field value with surrounding whitespace removed; may hold obs-text (bytes >= 0x80).
    pub value: &'a [u8],
}

/// Byte ranges of one field in the decoder's buffer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Span {
    name: (usize, usize),
    value: (usize, usize),
}

/// The header (or trailer) fields of a response, borrowed from the decoder's buffer.
#[derive(Clone, Copy)]
pub struct Headers<'a> {
    buf: &'a [u8],
    spans: &'a [Span],
}

impl<'a> Headers<'a> {
    /// Number of fields.
    #[cfg_attr(not(any(fuzzing, feature = "internals")), allow(dead_code))]
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// `true` if there are no fields.
    #[cfg_attr(not(any(fuzzing, feature = "internals")), allow(dead_code))]
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Fields in the order received.
    pub fn iter(&self) -> impl Iterator<Item = HeaderField<'a>> + 'a {
        let buf = self.buf;
        self.spans.iter().map(move |s| HeaderField {
            // Spans come from httparse, which only yields token (ASCII) names; the
            // fallbacks cannot be taken.
            name: buf
                .get(s.name.0..s.name.1)
                .and_then(|n| core::str::from_utf8(n).ok())
                .unwrap_or(""),
            value: buf.get(s.value.0..s.value.1).unwrap_or(&[]),
        })
    }

    /// The value of the first field named `name` (ASCII case-insensitive).
    #[cfg_attr(not(any(fuzzing, feature = "internals")), allow(dead_code))]
    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        self.iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
            .map(|f| f.value)
    }
}

/// Prints field names and value lengths only: values may carry secrets (cookies, tokens).
impl fmt::Debug for Headers<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|h| (h.name, Redacted(h.value.len()))))
            .finish()
    }
}

/// Stands in for secret bytes in `Debug` output: prints only their length.
pub(crate) struct Redacted(pub(crate) usize);

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes>", self.0)
    }
}

/// The head of a final (non-1xx) response.
#[derive(Clone, Copy, Debug)]
pub struct ResponseHead<'a> {
    /// Protocol version.
    pub version: Version,
    /// Status code, `200..=999` (1xx heads are skipped; 600..=999 are passed through).
    pub status: u16,
    /// Reason phrase as received (may be empty; may hold obs-text).
    pub reason: &'a [u8],
    /// Header fields.
    pub headers: Headers<'a>,
    /// How the body is framed.
    pub body: BodyKind,
}

/// The end of a response.
#[derive(Clone, Copy, Debug)]
pub struct End<'a> {
    /// `true` if the connection stays open for the next request: HTTP/1.1 without
    /// `Connection: close`, or HTTP/1.0 with `Connection: keep-alive`; never for a body
    /// delimited by close or when the request said `close`.
    pub keep_alive: bool,
    /// Trailer fields of a chunked body (empty otherwise). Never merged into the headers.
    pub trailers: Headers<'a>,
}

/// One step of a response, in order: `Head`, zero or more `Data`, `End`.
///
/// `Debug` prints the length of `Data`, not its bytes (bodies may carry tokens).
#[must_use]
#[derive(Clone, Copy)]
pub enum Event<'a> {
    /// The final response head.
    Head(ResponseHead<'a>),
    /// Body bytes (chunked framing removed), borrowed from the decoder's buffer. Never empty.
    Data(&'a [u8]),
    /// The response is complete.
    End(End<'a>),
}

impl fmt::Debug for Event<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Head(h) => f.debug_tuple("Head").field(h).finish(),
            Self::Data(d) => f.debug_tuple("Data").field(&Redacted(d.len())).finish(),
            Self::End(e) => f.debug_tuple("End").field(e).finish(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// No response expected.
    Idle,
    /// Waiting for a response head.
    Head,
    /// Body-less response: `End` is next.
    EndPending,
    /// `Content-Length` body with this many bytes left.
    Length(u64),
    /// Body until the end of the stream.
    UntilClose,
    /// Waiting for a chunk-size line.
    ChunkSize,
    /// Inside chunk data with this many bytes left.
    ChunkData(u64),
    /// Waiting for the CRLF after chunk data.
    ChunkCrlf,
    /// Waiting for the trailer section.
    Trailers,
    /// The last response closed the connection.
    Closed,
}

/// Progress through a CRLF-delimited block, relative to the unconsumed input.
#[derive(Clone, Copy, Debug, Default)]
struct Scan {
    /// Bytes already checked.
    pos: usize,
    /// Start of the current line.
    line_start: usize,
    /// Complete non-empty lines so far.
    lines: usize,
}

/// Internal result of one step; borrows nothing so `poll_event` can build the `Event`.
#[derive(Clone, Copy)]
enum Step {
    Pending,
    Head {
        version: Version,
        status: u16,
        reason: (usize, usize),
        body: BodyKind,
    },
    Data(usize, usize),
    End {
        keep_alive: bool,
    },
}

/// Incremental, sans-IO HTTP/1.1 response decoder for one connection.
///
/// # Driving it
///
/// - [`expect_response`](Self::expect_response) once per request sent, in order (one
///   outstanding response at a time).
/// - [`feed`](Self::feed) bytes as they arrive (any split: whole, byte by byte, ...), then
///   drain [`poll_event`](Self::poll_event) (or [`poll_response`](Self::poll_response)) until
///   it returns `Ok(None)` ("mutate once, then drain").
/// - [`handle_eof`](Self::handle_eof) when the stream ends (TLS close_notify or TCP FIN),
///   then drain again: that ends a close-delimited body, or turns a cut-short response into
///   [`RemoteError::TruncatedHead`] / [`RemoteError::TruncatedBody`].
///
/// Bytes that arrive after a complete response stay buffered for the next
/// `expect_response`; after a response that closed the connection they are
/// [`RemoteError::DataAfterClose`].
///
/// # Errors
///
/// A [`RemoteError`] poisons the decoder: every later call returns it again and
/// [`can_reuse`](Self::can_reuse) is `false`. A [`LocalError`] changes nothing.
///
/// # Memory
///
/// The decoder owns one input buffer (bounded by [`Limits::max_buffered`]) and one list of
/// field positions. Both keep their capacity, so once a connection has carried one response,
/// decoding another of the same shape and size through `poll_event` allocates nothing.
///
/// `Debug` shows the state and counts, never buffered bytes.
pub struct ResponseDecoder {
    limits: Limits,
    /// Input; `buf[pos..]` is unconsumed. Compacted at `feed`, never while an event borrows.
    buf: Vec<u8>,
    pos: usize,
    state: State,
    ctx: ResponseContext,
    scan: Scan,
    /// Field positions (absolute in `buf`) of the last `Head` or `End` event.
    spans: Vec<Span>,
    keep_alive: bool,
    body_seen: u64,
    ext_seen: usize,
    eof: bool,
    error: Option<RemoteError>,
    /// A response was started through `poll_event` (for `MixedConsumption`).
    events_mid_response: bool,
    /// The response being assembled by `poll_response`.
    collecting: Option<crate::http::collect::Response>,
    /// A response handed back ([`recycle`](Self::recycle)): the next one reuses its buffers.
    spare: Option<crate::http::collect::Response>,
}

impl fmt::Debug for ResponseDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseDecoder")
            .field("state", &self.state)
            .field("buffered", &self.buffered())
            .field("eof", &self.eof)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl Default for ResponseDecoder {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

impl ResponseDecoder {
    /// A decoder for a new connection. Allocates nothing until the first `feed`.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            buf: Vec::new(),
            pos: 0,
            state: State::Idle,
            ctx: ResponseContext::new("GET"),
            scan: Scan::default(),
            spans: Vec::new(),
            keep_alive: false,
            body_seen: 0,
            ext_seen: 0,
            eof: false,
            error: None,
            events_mid_response: false,
            collecting: None,
            spare: None,
        }
    }

    /// Makes the decoder fresh for a new connection, keeping its allocations.
    #[cfg_attr(not(any(fuzzing, feature = "internals")), allow(dead_code))]
    pub fn reset(&mut self) {
        let mut buf = core::mem::take(&mut self.buf);
        let mut spans = core::mem::take(&mut self.spans);
        buf.clear();
        spans.clear();
        *self = Self {
            buf,
            spans,
            ..Self::new(self.limits)
        };
    }

    /// The limits in force.
    #[cfg_attr(not(any(fuzzing, feature = "internals")), allow(dead_code))]
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Announces that the next response answers a request described by `ctx`.
    ///
    /// # Errors
    /// - [`LocalError::ResponsePending`] if the previous response has not reached `End`.
    /// - [`LocalError::ConnectionClosed`] after the end of the stream or a response that
    ///   closed the connection.
    /// - The poisoning [`RemoteError`], if any.
    pub fn expect_response(&mut self, ctx: ResponseContext) -> Result<(), HttpError> {
        if let Some(e) = self.error {
            return Err(e.into());
        }
        match self.state {
            State::Idle if !self.eof => {
                self.ctx = ctx;
                self.state = State::Head;
                self.scan = Scan::default();
                Ok(())
            }
            State::Idle | State::Closed => Err(LocalError::ConnectionClosed.into()),
            _ => Err(LocalError::ResponsePending.into()),
        }
    }

    /// Appends received bytes (any amount, any split). Copies them into the decoder's buffer.
    ///
    /// # Errors
    /// - [`LocalError::BufferFull`] if the unconsumed bytes would exceed
    ///   [`Limits::max_buffered`]; nothing was taken: drain events and retry.
    /// - [`LocalError::InputAfterEof`] after [`handle_eof`](Self::handle_eof).
    /// - [`RemoteError::DataAfterClose`] (poisons) if the last response closed the connection
    ///   and `data` is not empty.
    /// - The poisoning [`RemoteError`], if any.
    pub fn feed(&mut self, data: &[u8]) -> Result<(), HttpError> {
        if let Some(e) = self.error {
            return Err(e.into());
        }
        if self.eof {
            return Err(LocalError::InputAfterEof.into());
        }
        if data.is_empty() {
            return Ok(());
        }
        if self.state == State::Closed {
            return Err(self.poison(RemoteError::DataAfterClose));
        }
        self.compact();
        if self.buf.len().saturating_add(data.len()) > self.limits.max_buffered {
            return Err(LocalError::BufferFull.into());
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    /// Records the end of the input stream. Idempotent. Drain events afterwards.
    pub fn handle_eof(&mut self) {
        self.eof = true;
    }

    /// The next event, or `Ok(None)` when more input (or [`expect_response`],
    /// [`handle_eof`]) is needed.
    ///
    /// The event borrows the decoder; `Data` slices point into its buffer (no copy).
    ///
    /// [`expect_response`]: Self::expect_response
    /// [`handle_eof`]: Self::handle_eof
    ///
    /// # Errors
    /// Any [`RemoteError`] (then poisoned), or [`LocalError::MixedConsumption`] if a
    /// response is half-collected by [`poll_response`](Self::poll_response).
    #[cfg_attr(not(any(fuzzing, feature = "internals")), allow(dead_code))]
    pub fn poll_event(&mut self) -> Result<Option<Event<'_>>, HttpError> {
        if let Some(e) = self.error {
            return Err(e.into());
        }
        if self.collecting.is_some() {
            return Err(LocalError::MixedConsumption.into());
        }
        let step = match self.step() {
            Ok(step) => step,
            Err(e) => return Err(self.poison(e)),
        };
        match step {
            Step::Head { .. } => self.events_mid_response = true,
            Step::End { .. } => self.events_mid_response = false,
            _ => {}
        }
        Ok(self.build(step))
    }

    /// `true` while a response is expected but not finished.
    #[cfg_attr(not(any(fuzzing, feature = "internals")), allow(dead_code))]
    pub fn is_response_pending(&self) -> bool {
        !matches!(self.state, State::Idle | State::Closed)
    }

    /// `true` if the connection may carry another request: no error, no end of stream, the
    /// last response ended with `keep_alive` and none is in progress. Buffered bytes of a
    /// next response do not prevent reuse.
    pub fn can_reuse(&self) -> bool {
        self.error.is_none() && !self.eof && self.state == State::Idle
    }

    /// The error that poisoned the decoder, if any.
    #[cfg_attr(not(any(fuzzing, feature = "internals")), allow(dead_code))]
    pub fn error(&self) -> Option<RemoteError> {
        self.error
    }

    /// Bytes received but not yet consumed by an event.
    pub fn buffered(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// How many more bytes [`ResponseDecoder::feed`] takes now: the room left under
    /// [`Limits::max_buffered`].
    pub(crate) fn room(&self) -> usize {
        self.limits.max_buffered.saturating_sub(self.buffered())
    }

    /// Drives the decoder to the next complete response and returns it as owned data: the
    /// "collect whole response" helper. Returns `Ok(None)` when more input is needed; the
    /// partial response is kept inside the decoder between calls.
    ///
    /// The body is capped by [`Limits::max_body_size`]. This path allocates the owned
    /// response (use [`poll_event`](Self::poll_event) for zero-copy, allocation-free
    /// decoding). Do not mix the two within one response.
    ///
    /// # Errors
    /// Any [`RemoteError`] (then poisoned), or [`LocalError::MixedConsumption`] if the
    /// current response was started through `poll_event`.
    pub fn poll_response(&mut self) -> Result<Option<crate::http::Response>, HttpError> {
        if let Some(e) = self.error {
            return Err(e.into());
        }
        if self.events_mid_response {
            return Err(LocalError::MixedConsumption.into());
        }
        let mut partial = self.collecting.take();
        let mut spare = self.spare.take();
        let result = loop {
            let step = match self.step() {
                Ok(step) => step,
                Err(e) => break Err(self.poison(e)),
            };
            match self.build(step) {
                None => break Ok(None),
                Some(Event::Head(head)) => {
                    partial = Some(crate::http::Response::from_head(
                        &head,
                        self.limits.max_body_size,
                        spare.take(),
                    ));
                }
                Some(Event::Data(data)) => match partial.as_mut() {
                    Some(r) => r.body.extend_from_slice(data),
                    // `partial` is set by the `Head` that precedes any `Data`, and
                    // `events_mid_response` was checked above; kept as an error, not a panic.
                    None => break Err(LocalError::MixedConsumption.into()),
                },
                Some(Event::End(end)) => match partial.take() {
                    Some(mut r) => {
                        r.finish(&end);
                        break Ok(Some(r));
                    }
                    None => break Err(LocalError::MixedConsumption.into()),
                },
            }
        };
        self.collecting = partial;
        if spare.is_some() {
            self.spare = spare;
        }
        result
    }

    /// Takes back a response [`poll_response`](Self::poll_response) returned: the next one
    /// reuses its allocations (header entries, body), so a connection whose responses keep
    /// their shape allocates nothing per response on that path either. Its contents are
    /// overwritten by the next response.
    pub fn recycle(&mut self, response: crate::http::Response) {
        self.spare = Some(response);
    }

    // --- internals ---

    fn poison(&mut self, e: RemoteError) -> HttpError {
        self.error = Some(e);
        e.into()
    }

    /// Zeroes the bytes already consumed and the buffer's spare capacity, where earlier
    /// messages linger. Called after a response that carried a secret (the token); bytes not
    /// yet decoded are untouched.
    pub fn wipe_consumed(&mut self) {
        use zeroize::Zeroize;
        if let Some(consumed) = self.buf.get_mut(..self.pos) {
            consumed.zeroize();
        }
        self.buf.spare_capacity_mut().zeroize();
    }

    /// Drops consumed bytes from the front of the buffer (no allocation).
    fn compact(&mut self) {
        if self.pos == 0 {
            return;
        }
        if self.pos >= self.buf.len() {
            self.buf.clear();
        } else {
            self.buf.drain(..self.pos);
        }
        self.pos = 0;
    }

    /// Turns a `Step` into the borrowed `Event` it describes.
    fn build(&self, step: Step) -> Option<Event<'_>> {
        let headers = Headers {
            buf: &self.buf,
            spans: &self.spans,
        };
        match step {
            Step::Pending => None,
            Step::Head {
                version,
                status,
                reason,
                body,
            } => Some(Event::Head(ResponseHead {
                version,
                status,
                reason: self.buf.get(reason.0..reason.1).unwrap_or(&[]),
                headers,
                body,
            })),
            Step::Data(start, end) => Some(Event::Data(self.buf.get(start..end).unwrap_or(&[]))),
            Step::End { keep_alive } => Some(Event::End(End {
                keep_alive,
                trailers: headers,
            })),
        }
    }

    /// The unconsumed input.
    fn input(&self) -> &[u8] {
        unconsumed(&self.buf, self.pos)
    }

    /// Ends the current response: the single place that leaves a body state.
    fn finish(&mut self, trailers: bool) -> Step {
        if !trailers {
            self.spans.clear();
        }
        self.state = if self.keep_alive {
            State::Idle
        } else {
            State::Closed
        };
        Step::End {
            keep_alive: self.keep_alive,
        }
    }

    /// Hands out up to `left` body bytes; returns the step and the bytes taken.
    fn take_body(&mut self, left: u64) -> (Step, u64) {
        let avail = self.buffered();
        let n = if (avail as u64) < left {
            avail
        } else {
            // `left <= avail`, which is a `usize`: the cast is lossless.
            left as usize
        };
        let start = self.pos;
        self.pos += n;
        (Step::Data(start, self.pos), n as u64)
    }

    /// The state machine: every transition of the decoder happens here.
    fn step(&mut self) -> Result<Step, RemoteError> {
        loop {
            let avail = self.buffered();
            match self.state {
                State::Idle => {
                    // Bytes of an unrequested next response, then the stream ended.
                    if self.eof && avail > 0 {
                        return Err(RemoteError::TruncatedHead);
                    }
                    return Ok(Step::Pending);
                }
                State::Closed => {
                    if avail > 0 {
                        return Err(RemoteError::DataAfterClose);
                    }
                    return Ok(Step::Pending);
                }
                State::Head => {
                    let limits = BlockLimits {
                        max_line: self.limits.max_line_len,
                        max_total: self.limits.max_head_size,
                        too_large: RemoteError::HeadTooLarge,
                        max_lines: self.limits.header_slots().saturating_add(1),
                        head: true,
                    };
                    let Some(head_len) =
                        scan_block(unconsumed(&self.buf, self.pos), &mut self.scan, &limits)?
                    else {
                        if self.eof {
                            return Err(if avail == 0 {
                                RemoteError::ClosedBeforeResponse
                            } else {
                                RemoteError::TruncatedHead
                            });
                        }
                        return Ok(Step::Pending);
                    };
                    self.scan = Scan::default();
                    let head = parse_head(
                        &self.buf,
                        self.pos,
                        head_len,
                        &mut self.spans,
                        self.ctx,
                        &self.limits,
                    )?;
                    self.pos += head_len;
                    let Some(body) = head.body else {
                        continue; // 1xx interim response: skip it.
                    };
                    self.keep_alive = head.keep_alive;
                    self.body_seen = 0;
                    self.ext_seen = 0;
                    self.state = match body {
                        BodyKind::Empty | BodyKind::Length(0) => State::EndPending,
                        BodyKind::Length(n) => State::Length(n),
                        BodyKind::Chunked => State::ChunkSize,
                        BodyKind::UntilClose => State::UntilClose,
                    };
                    return Ok(Step::Head {
                        version: head.version,
                        status: head.status,
                        reason: head.reason,
                        body,
                    });
                }
                State::EndPending => return Ok(self.finish(false)),
                State::Length(0) => return Ok(self.finish(false)),
                State::Length(left) => {
                    if avail == 0 {
                        return if self.eof {
                            Err(RemoteError::TruncatedBody)
                        } else {
                            Ok(Step::Pending)
                        };
                    }
                    let (step, n) = self.take_body(left);
                    self.state = State::Length(left - n);
                    return Ok(step);
                }
                State::UntilClose => {
                    if avail == 0 {
                        return if self.eof {
                            Ok(self.finish(false))
                        } else {
                            Ok(Step::Pending)
                        };
                    }
                    // Hand out body up to the limit, then fail on the first byte beyond it,
                    // so every split gives the same events.
                    let room = self.limits.max_body_size.saturating_sub(self.body_seen);
                    if room == 0 {
                        return Err(RemoteError::BodyTooLarge);
                    }
                    let (step, n) = self.take_body(room);
                    self.body_seen = self.body_seen.saturating_add(n);
                    return Ok(step);
                }
                State::ChunkSize => {
                    let line = scan_line(
                        unconsumed(&self.buf, self.pos),
                        &mut self.scan,
                        self.limits.max_line_len,
                        usize::MAX,
                        RemoteError::LineTooLong,
                    )?;
                    let Some(end) = line else {
                        return if self.eof {
                            Err(RemoteError::TruncatedBody)
                        } else {
                            Ok(Step::Pending)
                        };
                    };
                    let consumed = self.scan.pos;
                    self.scan = Scan::default();
                    let line = self.input().get(..end).unwrap_or(&[]);
                    let (size, ext_len) = parse_chunk_line(line)?;
                    self.ext_seen = self.ext_seen.saturating_add(ext_len);
                    if self.ext_seen > self.limits.max_chunk_ext_size {
                        return Err(RemoteError::ChunkExtensionsTooLarge);
                    }
                    self.pos += consumed;
                    if size == 0 {
                        self.state = State::Trailers;
                        continue;
                    }
                    self.body_seen = self.body_seen.saturating_add(size);
                    if self.body_seen > self.limits.max_body_size {
                        return Err(RemoteError::BodyTooLarge);
                    }
                    self.state = State::ChunkData(size);
                }
                State::ChunkData(0) => self.state = State::ChunkCrlf,
                State::ChunkData(left) => {
                    if avail == 0 {
                        return if self.eof {
                            Err(RemoteError::TruncatedBody)
                        } else {
                            Ok(Step::Pending)
                        };
                    }
                    let (step, n) = self.take_body(left);
                    self.state = State::ChunkData(left - n);
                    return Ok(step);
                }
                State::ChunkCrlf => match self.input() {
                    [b'\r', b'\n', ..] => {
                        self.pos += 2;
                        self.state = State::ChunkSize;
                    }
                    [] | [b'\r'] => {
                        return if self.eof {
                            Err(RemoteError::TruncatedBody)
                        } else {
                            Ok(Step::Pending)
                        };
                    }
                    _ => return Err(RemoteError::BadChunkTerminator),
                },
                State::Trailers => {
                    let limits = BlockLimits {
                        max_line: self.limits.max_line_len,
                        max_total: self.limits.max_trailer_size,
                        too_large: RemoteError::TrailersTooLarge,
                        max_lines: self.limits.header_slots(),
                        head: false,
                    };
                    let Some(len) =
                        scan_block(unconsumed(&self.buf, self.pos), &mut self.scan, &limits)?
                    else {
                        return if self.eof {
                            Err(RemoteError::TruncatedBody)
                        } else {
                            Ok(Step::Pending)
                        };
                    };
                    self.scan = Scan::default();
                    parse_trailers(&self.buf, self.pos, len, &mut self.spans, &self.limits)?;
                    self.pos += len;
                    return Ok(self.finish(true));
                }
            }
        }
    }
}

/// `buf[pos..]`, or nothing if `pos` were out of range.
fn unconsumed(buf: &[u8], pos: usize) -> &[u8] {
    buf.get(pos..).unwrap_or(&[])
}

/// Bounds for `scan_block`.
struct BlockLimits {
    max_line: usize,
    max_total: usize,
    too_large: RemoteError,
    max_lines: usize,
    /// A response head (first line is the status line) rather than a trailer section.
    head: bool,
}

/// Checks bytes up to the next CRLF, resuming at `s.pos`. Returns the offset of the CR once
/// the CRLF is complete (and moves `s.pos` past it). Every byte is checked once, whatever the
/// split, so the same input gives the same error however it arrives.
fn scan_line(
    data: &[u8],
    s: &mut Scan,
    max_line: usize,
    max_total: usize,
    too_large: RemoteError,
) -> Result<Option<usize>, RemoteError> {
    while let Some(&b) = data.get(s.pos) {
        match b {
            b'\r' => match data.get(s.pos + 1) {
                None => return Ok(None),
                Some(b'\n') => {
                    let end = s.pos;
                    s.pos += 2;
                    if s.pos > max_total {
                        return Err(too_large);
                    }
                    return Ok(Some(end));
                }
                Some(_) => return Err(RemoteError::BareCr),
            },
            b'\n' => return Err(RemoteError::BareLf),
            _ => {
                s.pos += 1;
                if s.pos - s.line_start > max_line {
                    return Err(RemoteError::LineTooLong);
                }
                if s.pos > max_total {
                    return Err(too_large);
                }
            }
        }
    }
    Ok(None)
}

/// Finds the end of a block of lines closed by an empty line (a head or a trailer section);
/// returns its length including the final CRLF.
fn scan_block(data: &[u8], s: &mut Scan, lim: &BlockLimits) -> Result<Option<usize>, RemoteError> {
    loop {
        let Some(end) = scan_line(data, s, lim.max_line, lim.max_total, lim.too_large)? else {
            return Ok(None);
        };
        let line = data.get(s.line_start..end).unwrap_or(&[]);
        match line.first() {
            None if lim.head && s.line_start == 0 => return Err(RemoteError::InvalidStatusLine),
            None => return Ok(Some(s.pos)),
            Some(&b) if is_ows(b) => return Err(RemoteError::ObsFold),
            Some(_) => {}
        }
        s.lines += 1;
        if s.lines > lim.max_lines {
            return Err(RemoteError::TooManyHeaders);
        }
        s.line_start = s.pos;
    }
}

/// What `parse_head` learned.
struct ParsedHead {
    version: Version,
    status: u16,
    reason: (usize, usize),
    /// `None` for an interim (1xx) response.
    body: Option<BodyKind>,
    keep_alive: bool,
}

/// Parses a complete head (`buf[base..base + len]`, already scanned) with httparse, records
/// field positions in `spans`, and decides framing (RFC 9112, section 6.3).
fn parse_head(
    buf: &[u8],
    base: usize,
    len: usize,
    spans: &mut Vec<Span>,
    ctx: ResponseContext,
    limits: &Limits,
) -> Result<ParsedHead, RemoteError> {
    let head = buf
        .get(base..base.saturating_add(len))
        .ok_or(RemoteError::InvalidStatusLine)?;
    let mut slots = [httparse::EMPTY_HEADER; Limits::MAX_HEADERS_CEILING];
    let slots = slots
        .get_mut(..limits.header_slots())
        .ok_or(RemoteError::TooManyHeaders)?;
    let mut resp = httparse::Response::new(slots);
    match resp.parse(head) {
        Ok(httparse::Status::Complete(n)) if n == len => {}
        // The scan found the end of the head, so httparse cannot stop elsewhere.
        Ok(_) => return Err(RemoteError::InvalidStatusLine),
        Err(e) => return Err(map_head_error(e, head)),
    }
    let version = match resp.version {
        Some(0) => Version::Http10,
        Some(1) => Version::Http11,
        _ => return Err(RemoteError::InvalidVersion),
    };
    let status = resp.code.ok_or(RemoteError::InvalidStatusCode)?;
    if status < 100 {
        return Err(RemoteError::InvalidStatusCode);
    }
    // httparse accepted exactly "HTTP/1.x SP DDD [SP reason] CRLF" (single spaces).
    let line_end = head
        .windows(2)
        .position(|w| w == b"\r\n")
        .unwrap_or(head.len());
    let reason = if line_end > 13 {
        (base + 13, base + line_end)
    } else {
        (base + line_end, base + line_end)
    };
    record_spans(resp.headers, head, base, spans)?;

    // Framing fields.
    let mut content_length: Option<u64> = None;
    let mut te_codings = 0usize;
    let mut te_only_chunked = true;
    let mut close = false;
    let mut keep_alive_token = false;
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            for element in list_elements(h.value) {
                let n = parse_decimal(element).map_err(|overflow| {
                    if overflow {
                        RemoteError::ContentLengthOverflow
                    } else {
                        RemoteError::InvalidContentLength
                    }
                })?;
                if content_length.is_some_and(|prev| prev != n) {
                    return Err(RemoteError::ConflictingContentLength);
                }
                content_length = Some(n);
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            for element in list_elements(h.value) {
                te_codings += 1;
                te_only_chunked &= element.eq_ignore_ascii_case(b"chunked");
            }
        } else if h.name.eq_ignore_ascii_case("connection") {
            close |= list_contains(h.value, b"close");
            keep_alive_token |= list_contains(h.value, b"keep-alive");
        }
    }
    let chunked = te_codings > 0;
    if chunked && content_length.is_some() {
        return Err(RemoteError::ContentLengthWithTransferEncoding);
    }
    if chunked && version == Version::Http10 {
        return Err(RemoteError::TransferEncodingInHttp10);
    }
    if chunked && !(te_codings == 1 && te_only_chunked) {
        return Err(RemoteError::UnsupportedTransferEncoding);
    }
    if status == 101 {
        return Err(RemoteError::SwitchingProtocols);
    }
    let body = if status < 200 {
        None
    } else if ctx.head || status == 204 || status == 304 {
        Some(BodyKind::Empty)
    } else if chunked {
        Some(BodyKind::Chunked)
    } else if let Some(n) = content_length {
        if n > limits.max_body_size {
            return Err(RemoteError::BodyTooLarge);
        }
        Some(BodyKind::Length(n))
    } else {
        Some(BodyKind::UntilClose)
    };
    let persistent = match version {
        Version::Http11 => !close,
        Version::Http10 => keep_alive_token && !close,
    };
    let keep_alive = persistent && !ctx.close && body != Some(BodyKind::UntilClose);
    Ok(ParsedHead {
        version,
        status,
        reason,
        body,
        keep_alive,
    })
}

/// Parses a complete trailer section (`buf[base..base + len]`, at least the final CRLF).
fn parse_trailers(
    buf: &[u8],
    base: usize,
    len: usize,
    spans: &mut Vec<Span>,
    limits: &Limits,
) -> Result<(), RemoteError> {
    spans.clear();
    if len == 2 {
        return Ok(());
    }
    let block = buf
        .get(base..base.saturating_add(len))
        .ok_or(RemoteError::InvalidTrailer)?;
    let mut slots = [httparse::EMPTY_HEADER; Limits::MAX_HEADERS_CEILING];
    let slots = slots
        .get_mut(..limits.header_slots())
        .ok_or(RemoteError::TooManyHeaders)?;
    match httparse::parse_headers(block, slots) {
        Ok(httparse::Status::Complete((n, fields))) if n == len => {
            record_spans(fields, block, base, spans)
        }
        Ok(_) => Err(RemoteError::InvalidTrailer),
        Err(httparse::Error::TooManyHeaders) => Err(RemoteError::TooManyHeaders),
        Err(_) => Err(RemoteError::InvalidTrailer),
    }
}

/// Stores the positions of httparse's fields (slices of `block`, which starts at `base`).
fn record_spans(
    fields: &[httparse::Header<'_>],
    block: &[u8],
    base: usize,
    spans: &mut Vec<Span>,
) -> Result<(), RemoteError> {
    let origin = block.as_ptr() as usize;
    let range = |ptr: *const u8, len: usize| -> Option<(usize, usize)> {
        let start = (ptr as usize).checked_sub(origin)?;
        let end = start.checked_add(len)?;
        (end <= block.len()).then_some((base + start, base + end))
    };
    spans.clear();
    for f in fields {
        // httparse returns sub-slices of `block`, so both ranges exist.
        let name = range(f.name.as_ptr(), f.name.len()).ok_or(RemoteError::InvalidHeaderName)?;
        let value =
            range(f.value.as_ptr(), f.value.len()).ok_or(RemoteError::InvalidHeaderValue)?;
        spans.push(Span { name, value });
    }
    Ok(())
}

/// Maps an httparse head error to our variant; `head` tells code from reason problems.
fn map_head_error(e: httparse::Error, head: &[u8]) -> RemoteError {
    match e {
        httparse::Error::Version => RemoteError::InvalidVersion,
        httparse::Error::Status => {
            let code_ok = head.get(8) == Some(&b' ')
                && head
                    .get(9..12)
                    .is_some_and(|c| c.iter().all(u8::is_ascii_digit))
                && matches!(head.get(12), Some(b' ' | b'\r'));
            if code_ok {
                RemoteError::InvalidStatusLine
            } else {
                RemoteError::InvalidStatusCode
            }
        }
        httparse::Error::HeaderName => RemoteError::InvalidHeaderName,
        httparse::Error::HeaderValue => RemoteError::InvalidHeaderValue,
        httparse::Error::TooManyHeaders => RemoteError::TooManyHeaders,
        httparse::Error::NewLine => RemoteError::BareCr,
        httparse::Error::Token => RemoteError::InvalidStatusLine,
    }
}

/// Parses a chunk-size line (without CRLF): `1*HEXDIG [chunk-ext]`. Returns the size and the
/// length of the extensions.
fn parse_chunk_line(line: &[u8]) -> Result<(u64, usize), RemoteError> {
    let digits = line.iter().take_while(|&&b| hex_value(b).is_some()).count();
    if digits == 0 {
        return Err(RemoteError::InvalidChunkSize);
    }
    let mut size: u64 = 0;
    for &b in line.iter().take(digits) {
        let d = u64::from(hex_value(b).unwrap_or(0)); // every byte here is a hex digit
        size = size
            .checked_mul(16)
            .and_then(|s| s.checked_add(d))
            .ok_or(RemoteError::ChunkSizeOverflow)?;
    }
    let ext = line.get(digits..).unwrap_or(&[]);
    match ext.first() {
        None => Ok((size, 0)),
        Some(b';' | b' ' | b'\t') => {
            if is_valid_chunk_ext(ext) {
                Ok((size, ext.len()))
            } else {
                Err(RemoteError::InvalidChunkExtension)
            }
        }
        Some(_) => Err(RemoteError::InvalidChunkSize),
    }
}
