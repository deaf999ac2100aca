//! The checks behind every fuzz target, shared with `tests/fuzz_regressions.rs` (which
//! includes this file with `#[path]`), so a saved crash replays through the same code under
//! plain `cargo test`.
//!
//! Each `pub fn <target>(data: &[u8])` takes the raw fuzzer input, drives one public entry
//! point of `mtls_core` with it and panics only when the library breaks a documented
//! promise (a panic inside the library, an inconsistent answer, a lost or doubled outcome).
//! Typed errors are the expected answer to bad input and are never a failure.
//!
//! Only `mtls_core` and `httparse` are used (both reachable from the main crate's tests), and
//! inputs are sliced by hand rather than with `arbitrary`, for the same reason.

#![allow(dead_code, clippy::all)]

use std::collections::HashMap;
use std::string::String;
use std::sync::OnceLock;
use std::time::Duration;
use std::vec::Vec;

use mtls_core::auth::Credentials;
use mtls_core::client::BaseUrl;
use mtls_core::client::{Auth, Event};
use mtls_core::http::{HttpError, Limits, LocalError, Response};
use mtls_core::identity::{CaBundle, Identity};
use mtls_core::internals::{
    AccessTokenExt, BodyKind, Event as HttpEvent, Request, ResponseContext, ResponseDecoder,
    TlsConnection, TlsEvent, MAX_BASE_URL_LEN,
};
use mtls_core::presets::{self, ErrorBody, RateLimits};
use mtls_core::time::{Instant, UnixTime};
use mtls_core::tls::{TlsConfig, TlsError, TlsLimits, Trust};
use mtls_core::{ApiRequest, Client, ClientConfig};

// ---------------------------------------------------------------------------------------
// Input slicing
// ---------------------------------------------------------------------------------------

/// Reads fuzzer bytes front to back; every read past the end yields zeros / empty slices.
pub struct Bytes<'a> {
    data: &'a [u8],
}

impl<'a> Bytes<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Bytes { data }
    }
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    pub fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.u8();
        }
        u64::from_le_bytes(b)
    }
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }
    pub fn rest(&mut self) -> &'a [u8] {
        self.take(self.data.len())
    }
    /// A length-prefixed (one byte) slice.
    pub fn field(&mut self) -> &'a [u8] {
        let n = self.u8() as usize;
        self.take(n)
    }
    /// A length-prefixed string (lossy UTF-8).
    pub fn string(&mut self) -> String {
        String::from_utf8_lossy(self.field()).into_owned()
    }
}

// ---------------------------------------------------------------------------------------
// Shared fixtures: a P-256 client identity and its CA, made once with openssl
// (see fixtures/README.md).
// ---------------------------------------------------------------------------------------

pub const CA_PEM: &[u8] = include_bytes!("../fixtures/ca.pem");
pub const CLIENT_CERT_PEM: &[u8] = include_bytes!("../fixtures/client.pem");
pub const CLIENT_KEY_PEM: &[u8] = include_bytes!("../fixtures/client.key");
pub const SERVER_NAME: &str = "api.fuzz.test";
pub const BASE_URL: &str = "https://api.fuzz.test";

/// 2030-01-01T00:00:00Z: inside the fixtures' validity (2026-11-25 .. 2126-11-01).
pub fn fixed_now() -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(1_893_456_000))
}

pub fn identity() -> &'static Identity {
    static ID: OnceLock<Identity> = OnceLock::new();
    ID.get_or_init(|| {
        Identity::from_pem(CLIENT_CERT_PEM, CLIENT_KEY_PEM).expect("fixture identity")
    })
}

pub fn tls_config() -> &'static TlsConfig {
    static CFG: OnceLock<TlsConfig> = OnceLock::new();
    CFG.get_or_init(|| {
        let ca = CaBundle::from_pem(CA_PEM).expect("fixture CA");
        TlsConfig::new(identity(), Trust::Custom(ca)).expect("fixture TLS config")
    })
}

// ---------------------------------------------------------------------------------------
// 1. http_response
// ---------------------------------------------------------------------------------------

/// Small bounds so the limit checks are reachable with short inputs. `max_buffered` stays
/// above `max_head_size` as `Limits` asks.
pub fn tiny_limits() -> Limits {
    Limits {
        max_headers: 4,
        max_line_len: 64,
        max_head_size: 256,
        max_body_size: 64,
        max_chunk_ext_size: 16,
        max_trailer_size: 64,
        max_buffered: 512,
    }
}

/// Everything observable from decoding one stream.
#[derive(Debug, Default, PartialEq)]
struct Transcript {
    responses: Vec<Response>,
    /// The error that ended decoding, if any.
    error: Option<HttpError>,
    /// `ResponseDecoder::error()` at the end.
    poisoned: Option<mtls_core::http::RemoteError>,
    /// Events path only: the response being assembled and its announced framing.
    partial: Option<(Response, BodyKind)>,
}

fn check_response(r: &Response, ctx: ResponseContext, limits: &Limits) {
    assert!(
        (200..=999).contains(&r.status),
        "final response with status {} (1xx must be skipped, 101 rejected)",
        r.status
    );
    if ctx.is_head() || r.status == 204 || r.status == 304 {
        assert!(
            r.body.is_empty(),
            "HEAD/204/304 response with a {}-byte body",
            r.body.len()
        );
    }
    assert!(
        r.body.len() as u64 <= limits.max_body_size,
        "body of {} bytes over max_body_size {}",
        r.body.len(),
        limits.max_body_size
    );
}

/// After an `End`: announce the next response when the connection stays open.
fn after_end(
    dec: &mut ResponseDecoder,
    ctx: ResponseContext,
    keep_alive: bool,
) -> Result<bool, HttpError> {
    if keep_alive {
        dec.expect_response(ctx)?;
        Ok(true)
    } else {
        Ok(false)
    }
}

fn drain_events(
    dec: &mut ResponseDecoder,
    ctx: ResponseContext,
    limits: &Limits,
    t: &mut Transcript,
) -> Result<(), HttpError> {
    loop {
        let keep_alive = match dec.poll_event()? {
            None => return Ok(()),
            Some(HttpEvent::Head(h)) => {
                assert!(t.partial.is_none(), "Head while a response is in progress");
                let r = Response {
                    version: h.version,
                    status: h.status,
                    reason: String::from_utf8_lossy(h.reason).into_owned(),
                    headers: h
                        .headers
                        .iter()
                        .map(|f| (f.name.to_string(), f.value.to_vec()))
                        .collect(),
                    body: Vec::new(),
                    trailers: Vec::new(),
                    keep_alive: false,
                };
                assert_eq!(h.headers.len(), r.headers.len());
                t.partial = Some((r, h.body));
                continue;
            }
            Some(HttpEvent::Data(d)) => {
                assert!(!d.is_empty(), "empty Data event");
                let (r, _) = t.partial.as_mut().expect("Data before Head");
                r.body.extend_from_slice(d);
                continue;
            }
            Some(HttpEvent::End(end)) => {
                let (mut r, kind) = t.partial.take().expect("End before Head");
                r.keep_alive = end.keep_alive;
                r.trailers = end
                    .trailers
                    .iter()
                    .map(|f| (f.name.to_string(), f.value.to_vec()))
                    .collect();
                match kind {
                    BodyKind::Empty => assert!(r.body.is_empty(), "Empty body kind with data"),
                    BodyKind::Length(n) => {
                        assert_eq!(r.body.len() as u64, n, "Content-Length body of wrong size")
                    }
                    BodyKind::Chunked | BodyKind::UntilClose => {}
                }
                if kind != BodyKind::Chunked {
                    assert!(r.trailers.is_empty(), "trailers on a non-chunked body");
                }
                if kind == BodyKind::UntilClose {
                    assert!(!r.keep_alive, "close-delimited body with keep_alive");
                }
                check_response(&r, ctx, limits);
                let keep_alive = r.keep_alive;
                t.responses.push(r);
                keep_alive
            }
        };
        if !after_end(dec, ctx, keep_alive)? {
            // Keep draining: bytes after a closing response must be DataAfterClose.
        }
    }
}

fn drain_responses(
    dec: &mut ResponseDecoder,
    ctx: ResponseContext,
    limits: &Limits,
    t: &mut Transcript,
) -> Result<(), HttpError> {
    loop {
        match dec.poll_response()? {
            None => return Ok(()),
            Some(r) => {
                check_response(&r, ctx, limits);
                let keep_alive = r.keep_alive;
                t.responses.push(r);
                after_end(dec, ctx, keep_alive)?;
            }
        }
    }
}

fn decode_stream(
    limits: Limits,
    ctx: ResponseContext,
    pieces: &[&[u8]],
    events: bool,
) -> Transcript {
    let mut dec = ResponseDecoder::new(limits);
    let mut t = Transcript::default();
    dec.expect_response(ctx)
        .expect("a fresh decoder takes a response");
    let drain = |dec: &mut ResponseDecoder, t: &mut Transcript| {
        if events {
            drain_events(dec, ctx, &limits, t)
        } else {
            drain_responses(dec, ctx, &limits, t)
        }
    };
    let result = (|| {
        for piece in pieces {
            let mut rest = *piece;
            while !rest.is_empty() {
                // Never offer more than fits: BufferFull is the caller's problem, and a
                // decoder that stays full without an event or an error would be stuck.
                let room = limits.max_buffered.saturating_sub(dec.buffered());
                let n = room.min(rest.len());
                assert!(
                    n > 0,
                    "decoder stalled: {} bytes buffered (max_buffered {}), no event, no error",
                    dec.buffered(),
                    limits.max_buffered
                );
                match dec.feed(&rest[..n]) {
                    Err(HttpError::Local(LocalError::BufferFull)) => {
                        panic!("BufferFull although {} bytes fit", n)
                    }
                    other => other?,
                }
                rest = &rest[n..];
                drain(&mut dec, &mut t)?;
            }
        }
        dec.handle_eof();
        drain(&mut dec, &mut t)?;
        dec.handle_eof(); // idempotent
        drain(&mut dec, &mut t)
    })();
    if let Err(e) = result {
        t.error = Some(e);
        if let HttpError::Remote(r) = e {
            assert_eq!(
                dec.error(),
                Some(r),
                "a RemoteError must poison the decoder"
            );
            assert!(!dec.can_reuse());
            // Sticky: every later call returns it again.
            assert_eq!(dec.feed(b"x"), Err(e));
            assert!(matches!(dec.poll_event(), Err(x) if x == e));
            assert_eq!(dec.poll_response(), Err(e));
        }
    }
    t.poisoned = dec.error();
    // After EOF (reached or not) the decoder never offers reuse once poisoned.
    if t.poisoned.is_some() {
        assert!(!dec.can_reuse());
    }
    t.partial = None;
    t
}

pub fn http_response(data: &[u8]) {
    let mut input = Bytes::new(data);
    let split_byte = input.u8();
    let flags = input.u8();
    let stream = input.rest();
    let split = if stream.is_empty() {
        0
    } else {
        split_byte as usize % (stream.len() + 1)
    };
    let method = if flags & 1 == 0 { "GET" } else { "HEAD" };
    let ctx = ResponseContext::new(method).with_close(flags & 2 != 0);
    let (a, b) = stream.split_at(split);
    for limits in [Limits::default(), tiny_limits()] {
        let events = decode_stream(limits, ctx, &[a, b], true);
        let responses = decode_stream(limits, ctx, &[a, b], false);
        assert_eq!(
            events, responses,
            "poll_event and poll_response disagree ({method}, split {split}, {limits:?})"
        );
        if ctx.with_close(false) != ctx {
            for r in &events.responses {
                assert!(!r.keep_alive, "keep_alive although the request said close");
            }
        }
        // Any split gives the same result as the whole stream at once.
        let whole = decode_stream(limits, ctx, &[stream], true);
        assert_eq!(
            events, whole,
            "split at {split} changes the outcome ({method}, {limits:?})"
        );
    }
}

// ---------------------------------------------------------------------------------------
// 2. http_request_encode
// ---------------------------------------------------------------------------------------

const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT",
];

fn pick_or_string(input: &mut Bytes<'_>, known: &[&str]) -> String {
    let sel = input.u8();
    if (sel as usize) < known.len() {
        known[sel as usize].to_string()
    } else {
        input.string()
    }
}

pub fn http_request_encode(data: &[u8]) {
    let mut input = Bytes::new(data);
    let flags = input.u8();
    let buf_len = input.u16() as usize;
    let method = pick_or_string(&mut input, &METHODS);
    let host = pick_or_string(
        &mut input,
        &["api.example.com", "[::1]:8443", "127.0.0.1:1"],
    );
    let target = pick_or_string(&mut input, &["/", "*", "/v2.01/oauth/token", "/a?b=c"]);
    let n_headers = (input.u8() % 8) as usize;
    let mut owned: Vec<(String, String)> = Vec::new();
    for _ in 0..n_headers {
        let name = pick_or_string(&mut input, &["Accept", "Authorization", "X-A", "Host"]);
        let value = input.string();
        owned.push((name, value));
    }
    let headers: Vec<(&str, &str)> = owned
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let body = input.rest();

    let mut req = Request::new(&method, &host, &target)
        .headers(&headers)
        .close(flags & 2 != 0);
    if flags & 1 != 0 {
        req = req.body(body);
    }

    let validated = req.validate();
    let len = req.encoded_len();
    match (&validated, &len) {
        (Ok(()), Ok(_)) => {}
        (Err(e), Err(f)) => assert_eq!(e, f, "validate and encoded_len disagree"),
        _ => panic!("validate {validated:?} but encoded_len {len:?}"),
    }

    // Into a slice.
    let mut buf = vec![0xAAu8; buf_len];
    let slice_result = req.encode(&mut buf);
    match (&slice_result, &len) {
        (Ok(n), Ok(l)) => assert_eq!(n, l, "encode wrote a different length than encoded_len"),
        (Err(LocalError::InsufficientSize(s)), Ok(l)) => {
            assert_eq!(s.required_size, *l);
            assert!(buf_len < *l, "InsufficientSize although the buffer fits");
            assert!(buf.iter().all(|&b| b == 0xAA), "buffer modified on error");
        }
        (Err(e), Err(f)) => {
            assert_eq!(e, f);
            assert!(buf.iter().all(|&b| b == 0xAA), "buffer modified on error");
        }
        other => panic!("encode/encoded_len mismatch: {other:?}"),
    }

    // Into a Vec with a prefix and a cap.
    let prefix = b"prefix".to_vec();
    let mut out = prefix.clone();
    let max_len = if flags & 4 != 0 {
        usize::MAX
    } else {
        prefix.len() + buf_len
    };
    let vec_result = req.encode_to_vec(&mut out, max_len);
    let full = match (&vec_result, &len) {
        (Ok(n), Ok(l)) => {
            assert_eq!(n, l);
            assert_eq!(out.len(), prefix.len() + n);
            assert!(out.starts_with(&prefix));
            Some(out[prefix.len()..].to_vec())
        }
        (Err(LocalError::InsufficientSize(s)), Ok(l)) => {
            assert_eq!(s.required_size, prefix.len() + l);
            assert!(s.required_size > max_len);
            assert_eq!(out, prefix, "Vec modified on error");
            None
        }
        (Err(e), Err(f)) => {
            assert_eq!(e, f);
            assert_eq!(out, prefix, "Vec modified on error");
            None
        }
        other => panic!("encode_to_vec/encoded_len mismatch: {other:?}"),
    };
    if let (Ok(n), Some(v)) = (&slice_result, &full) {
        assert_eq!(&buf[..*n], v.as_slice(), "slice and Vec encodings differ");
    }

    // A valid request must read back with httparse as the same request.
    let Ok(l) = len else { return };
    let wire = {
        let mut v = Vec::new();
        req.encode_to_vec(&mut v, usize::MAX)
            .expect("valid request encodes");
        assert_eq!(v.len(), l);
        v
    };
    let mut hdrs = vec![httparse::EMPTY_HEADER; headers.len() + 4];
    let mut parsed = httparse::Request::new(&mut hdrs);
    let status = parsed.parse(&wire);
    let head_len = match status {
        Ok(httparse::Status::Complete(n)) => n,
        other => panic!(
            "encoder output does not parse as a request: {other:?}\n{:?}",
            String::from_utf8_lossy(&wire)
        ),
    };
    assert_eq!(parsed.method, Some(method.as_str()));
    assert_eq!(parsed.path, Some(target.as_str()));
    assert_eq!(parsed.version, Some(1));
    let expected_count =
        1 + headers.len() + usize::from(req.body.is_some()) + usize::from(req.close);
    assert_eq!(parsed.headers.len(), expected_count);
    assert!(parsed.headers[0].name.eq_ignore_ascii_case("Host"));
    assert_eq!(parsed.headers[0].value, host.as_bytes());
    for (i, (n, v)) in headers.iter().enumerate() {
        assert_eq!(parsed.headers[1 + i].name, *n);
        assert_eq!(parsed.headers[1 + i].value, v.as_bytes());
    }
    let sent_body = &wire[head_len..];
    match req.body {
        Some(b) => {
            assert_eq!(sent_body, b);
            let cl = &parsed.headers[1 + headers.len()];
            assert!(cl.name.eq_ignore_ascii_case("Content-Length"));
            assert_eq!(cl.value, b.len().to_string().as_bytes());
        }
        None => assert!(sent_body.is_empty()),
    }
}

// ---------------------------------------------------------------------------------------
// 3. identity_pem
// ---------------------------------------------------------------------------------------

/// Splits the input in three at positions given by its first two bytes (scaled).
fn three_parts(data: &[u8]) -> (&[u8], &[u8], &[u8]) {
    let mut input = Bytes::new(data);
    let s1 = input.u16() as usize;
    let s2 = input.u8() as usize;
    let rest = input.rest();
    let a_end = if rest.is_empty() {
        0
    } else {
        s1 % (rest.len() + 1)
    };
    let (a, tail) = rest.split_at(a_end);
    let b_end = tail.len().saturating_sub(s2);
    let (b, c) = tail.split_at(b_end);
    (a, b, c)
}

pub fn identity_pem(data: &[u8]) {
    let (a, b, c) = three_parts(data);
    let _ = Identity::from_pem(a, b);
    let _ = Identity::from_encrypted_pem(a, b, c);
    // With the fixture certificate, the key parser and the key/cert match check get the
    // fuzzed key; with the fixture key, the certificate parser gets the fuzzed chain.
    let _ = Identity::from_pem(CLIENT_CERT_PEM, b);
    let _ = Identity::from_pem(a, CLIENT_KEY_PEM);
    let _ = Identity::from_encrypted_pem(CLIENT_CERT_PEM, b, c);
    let (sa, sb) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
    let _ = Identity::from_base64_pem(&sa, &sb, None);
    let _ = Identity::from_base64_pem(&sa, &sb, Some(c));
    let _ = CaBundle::from_pem(data);
    let _ = CaBundle::from_base64_pem(&String::from_utf8_lossy(data));
    if let Ok(id) = Identity::from_pem(a, b) {
        // A loaded identity must answer its queries without panicking.
        let _ = format!("{id:?}");
        let _ = id.check(fixed_now());
        let _ = id.check(UnixTime::since_unix_epoch(Duration::ZERO));
        let _ = id.check(UnixTime::since_unix_epoch(Duration::from_secs(
            u64::MAX / 2,
        )));
    }
}

// ---------------------------------------------------------------------------------------
// 4. token_response
// ---------------------------------------------------------------------------------------

pub fn token_response(data: &[u8]) {
    let mut input = Bytes::new(data);
    let sel = input.u8();
    let raw_status = input.u16();
    let body = input.rest();
    let status = match sel % 4 {
        0 => 200,
        1 => 401,
        _ => raw_status,
    };

    match mtls_core::internals::parse_token_response(status, body) {
        Ok(t) => {
            assert!(
                (200..=299).contains(&status),
                "token accepted with status {status}"
            );
            let len = t.access_token.len();
            assert!(
                len >= 1 && len <= mtls_core::internals::MAX_TOKEN_LEN,
                "token length {len}"
            );
            assert!(t
                .access_token
                .expose_bytes()
                .iter()
                .all(|b| b.is_ascii_graphic()));
            if let Some(secs) = t.expires_in.map(|d| d.as_secs()) {
                assert!(
                    secs >= 1 && secs <= mtls_core::internals::MAX_EXPIRES_IN_SECS,
                    "expires_in {secs}"
                );
            }
            let _ = t.access_token.bearer_header();
            let mut small = [0u8; 16];
            let _ = t.access_token.write_bearer_header(&mut small);
        }
        Err(e) => {
            let _ = format!("{e} {e:?}");
        }
    }

    let eb = ErrorBody::parse(body);
    let _ = format!("{eb} {eb:?}");
    let _ = eb.is_invalid_client_cert();
    let _ = mtls_core::internals::parse_mangopay_error(body);
    let _ = mtls_core::internals::parse_mastercard_error(body);

    let url = String::from_utf8_lossy(body);
    if let Ok(u) = BaseUrl::parse(&url) {
        assert!(url.len() <= MAX_BASE_URL_LEN);
        let _ = (
            u.host(),
            u.server_name(),
            u.port(),
            u.port_or_default(),
            u.path_prefix(),
        );
        let _ = mtls_core::internals::is_mangopay_host(u.host());
        let _ = presets::check_base_url(u.host());
        // What the client does with a parsed URL.
        let _ = ClientConfig::with_tls(
            &url,
            Auth::ClientCredentials(credentials()),
            tls_config().clone(),
        );
    }
    // Also behind a valid scheme, where most of the parser lives.
    let prefixed = format!("https://{url}");
    if let Ok(u) = BaseUrl::parse(&prefixed) {
        let _ = (
            u.host(),
            u.server_name(),
            u.port_or_default(),
            u.path_prefix(),
        );
        let _ = presets::check_base_url(u.host());
    }

    if let Some(c) = mtls_core::internals::is_sca_challenge(401, body) {
        if let Some(url) = c.redirect_url {
            assert!(!url.is_empty(), "empty redirect_url must be None");
        }
    }
    assert!(mtls_core::internals::is_sca_challenge(status.max(402), body).is_none());

    // Header lines `name:value`, as many as the body holds.
    let pairs: Vec<(&str, &[u8])> = body
        .split(|&b| b == b'\n')
        .filter_map(|line| {
            let colon = line.iter().position(|&b| b == b':')?;
            let name = core::str::from_utf8(&line[..colon]).ok()?;
            Some((name, &line[colon + 1..]))
        })
        .collect();
    let limits = RateLimits::from_headers(pairs.iter().copied());
    let _ = limits.min_remaining();
    let _ = limits.is_empty();
    let _ = mtls_core::internals::parse_rate_limit_values(body);
}

fn credentials() -> Credentials {
    Credentials::new("fuzz-client", "fuzz-api-key").expect("valid credentials")
}

// ---------------------------------------------------------------------------------------
// 5. tls_client
// ---------------------------------------------------------------------------------------

fn check_tls_error(e: &TlsError) {
    assert!(
        !matches!(e, TlsError::Internal),
        "TlsError::Internal (documented as a bug in the wrapper) from peer bytes"
    );
}

fn drain_tls(tls: &mut TlsConnection) {
    let mut buf = [0u8; 4096];
    while tls.poll_transmit(&mut buf) > 0 {}
    while let Some(ev) = tls.poll_event() {
        match ev {
            TlsEvent::HandshakeComplete { .. } => assert!(!tls.is_handshaking()),
            TlsEvent::PeerClosed => assert!(tls.peer_closed()),
        }
    }
    let n = tls.plaintext().len();
    if n > 0 {
        assert!(
            !tls.is_handshaking(),
            "plaintext before the handshake completed"
        );
    }
    // An error found in records waiting behind a full buffer is typed; nothing to check.
    let _ = tls.consume_plaintext(n);
}

pub fn tls_client(data: &[u8]) {
    let mut input = Bytes::new(data);
    let flags = input.u8();
    let sizes = [input.u8(), input.u8(), input.u8()];
    let server_bytes = input.rest();
    let limits = if flags & 1 != 0 {
        TlsLimits {
            max_incoming: 600,
            max_outgoing: 4096,
            max_plaintext_in: 64,
            max_plaintext_out: 64,
        }
    } else {
        TlsLimits::default()
    };
    let mut tls = match TlsConnection::new(tls_config(), SERVER_NAME, limits, fixed_now()) {
        Ok(t) => t,
        Err(e) => panic!("TlsConnection::new failed: {e:?}"),
    };
    assert!(!tls.pending_transmit().is_empty(), "no ClientHello");
    drain_tls(&mut tls);

    let mut rest = server_bytes;
    let mut i = 0usize;
    let mut failed: Option<TlsError> = None;
    while !rest.is_empty() {
        let size = if flags & 2 != 0 {
            rest.len()
        } else {
            (sizes[i % 3] as usize).max(1)
        };
        i += 1;
        let chunk = &rest[..size.min(rest.len())];
        let mut offered = chunk;
        let mut stuck = 0;
        loop {
            match tls.handle_input(offered) {
                Ok(n) => {
                    assert!(n <= offered.len(), "took more than offered");
                    offered = &offered[n..];
                    drain_tls(&mut tls);
                    if offered.is_empty() {
                        break;
                    }
                    stuck = if n == 0 { stuck + 1 } else { 0 };
                    assert!(
                        stuck < 3,
                        "handle_input takes nothing after the plaintext was drained"
                    );
                }
                Err(e) => {
                    check_tls_error(&e);
                    failed = Some(e);
                    break;
                }
            }
        }
        if failed.is_some() {
            break;
        }
        rest = &rest[chunk.len()..];
    }
    if let Some(e) = &failed {
        assert_eq!(
            tls.error(),
            Some(e),
            "error() differs from the returned error"
        );
        assert!(!tls.is_open());
        // Sticky.
        assert_eq!(tls.handle_input(b"\x16\x03\x03"), Err(e.clone()));
        assert_eq!(tls.handle_eof(), Err(e.clone()));
    }
    if flags & 4 != 0 {
        if let Err(e) = tls.send_plaintext(b"GET / HTTP/1.1\r\n\r\n") {
            check_tls_error(&e);
        }
        if let Err(e) = tls.close() {
            check_tls_error(&e);
        }
        drain_tls(&mut tls);
    }
    match tls.handle_eof() {
        Ok(()) => assert!(tls.peer_closed(), "clean EOF without close_notify"),
        Err(e) => check_tls_error(&e),
    }
    drain_tls(&mut tls);
    let _ = (tls.version(), format!("{tls:?}"));
}

// ---------------------------------------------------------------------------------------
// 6. client
// ---------------------------------------------------------------------------------------

/// Tracks every request id and its outcome events.
#[derive(Default)]
struct Outcomes {
    sent: Vec<u64>,
    ended: HashMap<u64, u32>,
}

impl Outcomes {
    fn end(&mut self, id: u64, what: &str) {
        assert!(
            self.sent.contains(&id),
            "{what} for unknown request id {id}"
        );
        let n = self.ended.entry(id).or_insert(0);
        *n += 1;
        assert_eq!(*n, 1, "request {id} ended twice (second: {what})");
    }
}

fn drain_client(client: &mut Client, outcomes: &mut Outcomes) {
    let mut buf = [0u8; 2048];
    for _ in 0..10_000 {
        if client.poll_transmit(&mut buf) == 0 {
            break;
        }
    }
    while let Some(ev) = client.poll_event() {
        match ev {
            Event::Response(id, _) => outcomes.end(id.as_u64(), "Response"),
            Event::ScaRequired { id, .. } => outcomes.end(id.as_u64(), "ScaRequired"),
            Event::Failed(id, f) => {
                if let mtls_core::Error::Tls(e) = &f.error {
                    check_tls_error(e);
                }
                outcomes.end(id.as_u64(), "Failed")
            }
            Event::TokenRejected(id) => {
                assert!(outcomes.sent.contains(&id.as_u64()));
                assert!(
                    !outcomes.ended.contains_key(&id.as_u64()),
                    "TokenRejected after the end"
                );
            }
            Event::ConnectionClosed {
                error: Some(mtls_core::Error::Tls(e)),
            } => check_tls_error(&e),
            _ => {}
        }
    }
}

fn api_request(input: &mut Bytes<'_>) -> ApiRequest {
    match input.u8() % 6 {
        0 => ApiRequest::get("/v2.01/users/1"),
        1 => ApiRequest::post("/v2.01/payins", b"{\"a\":1}".to_vec()),
        2 => ApiRequest::delete("/v2.01/x"),
        3 => ApiRequest::post("/v2.01/payins", Vec::new())
            .idempotency_key(mtls_core::auth::IdempotencyKey::from_random([7; 16])),
        4 => ApiRequest::new(&input.string(), &input.string()).header("X-A", "b"),
        _ => ApiRequest::get("/v2.01/y").header(&input.string(), &input.string()),
    }
}

pub fn client(data: &[u8]) {
    let mut input = Bytes::new(data);
    let flags = input.u8();
    let auth = if flags & 1 != 0 {
        Auth::CertificateOnly
    } else {
        Auth::ClientCredentials(credentials())
    };
    let mut config = ClientConfig::with_tls(BASE_URL, auth, tls_config().clone()).expect("config");
    config.max_attempts = 1 + (flags >> 1) % 3;
    if flags & 8 != 0 {
        config.request_timeout = Duration::from_millis(50);
    }
    if flags & 16 != 0 {
        config.http_limits = tiny_limits();
    }
    let mut client = Client::new(config);
    let mut outcomes = Outcomes::default();
    let mut now = Instant::from_millis(1_000);

    for r in [
        ApiRequest::get("/v2.01/a"),
        ApiRequest::post("/v2.01/b", b"{}".to_vec()),
    ] {
        let id = client.send(r, now);
        outcomes.sent.push(id.as_u64());
    }
    drain_client(&mut client, &mut outcomes);
    if client.open_connection(now, fixed_now()).is_err() {
        panic!("open_connection failed with a valid config");
    }
    drain_client(&mut client, &mut outcomes);

    let mut opens = 0;
    while !input.is_empty() {
        match input.u8() % 10 {
            0..=3 => {
                let n = input.u8() as usize;
                let chunk = if n == 0 { input.rest() } else { input.take(n) };
                let mut offered = chunk;
                for _ in 0..4 {
                    let taken = client.handle_input(offered, now);
                    assert!(
                        taken <= offered.len(),
                        "handle_input took more than offered"
                    );
                    offered = &offered[taken..];
                    drain_client(&mut client, &mut outcomes);
                    if offered.is_empty() || taken == 0 {
                        break;
                    }
                }
            }
            4 => client.handle_eof(now),
            5 => {
                let step = input.u8();
                now = if step == 0xFF {
                    Instant::from_millis(input.u64().max(now.as_millis()))
                } else {
                    now + Duration::from_millis(u64::from(step) * 100)
                };
                client.handle_timeout(now);
            }
            6 => {
                if opens < 4 {
                    opens += 1;
                    let _ = client.open_connection(now, fixed_now());
                }
            }
            7 => {
                let r = api_request(&mut input);
                let id = client.send(r, now);
                assert!(!outcomes.sent.contains(&id.as_u64()), "request id reused");
                outcomes.sent.push(id.as_u64());
            }
            8 => {
                if let Some(t) = client.poll_timeout() {
                    now = now.max(t);
                    client.handle_timeout(now);
                }
            }
            _ => client.transport_failed(),
        }
        drain_client(&mut client, &mut outcomes);
    }

    // Wind down: the transport goes away for good. Every request must now have ended
    // exactly once.
    client.handle_eof(now);
    drain_client(&mut client, &mut outcomes);
    client.transport_failed();
    drain_client(&mut client, &mut outcomes);
    assert!(client.is_idle(), "requests left after transport_failed");
    for id in &outcomes.sent {
        assert_eq!(
            outcomes.ended.get(id).copied().unwrap_or(0),
            1,
            "request {id} has no outcome event"
        );
    }
}
