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

#[path = "deterministic.rs"]
pub mod deterministic;

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
    /// The next byte, left in place (0 at the end).
    pub fn peek(&self) -> u8 {
        self.data.first().copied().unwrap_or(0)
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
/// Only for the seed recorder's server (`tests/fuzz_seeds.rs`).
pub const SERVER_CERT_PEM: &[u8] = include_bytes!("../fixtures/server.pem");
pub const SERVER_KEY_PEM: &[u8] = include_bytes!("../fixtures/server.key");
pub const SERVER_NAME: &str = "api.fuzz.test";
pub const BASE_URL: &str = "https://api.fuzz.test";

/// 2030-01-01T00:00:00Z: inside the fixtures' validity (2026-12-02 .. 2126-11-08).
pub const FIXED_NOW_SECS: u64 = 1_893_456_000;

pub fn fixed_now() -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(FIXED_NOW_SECS))
}

pub fn identity() -> &'static Identity {
    static ID: OnceLock<Identity> = OnceLock::new();
    ID.get_or_init(|| {
        Identity::from_pem(CLIENT_CERT_PEM, CLIENT_KEY_PEM).expect("fixture identity")
    })
}

/// The fixture identity trusting the fixture CA, on the deterministic provider
/// ([`deterministic`]): call [`deterministic::reset`] before opening a connection and the
/// same steps send the same bytes in every run.
pub fn tls_config() -> &'static TlsConfig {
    static CFG: OnceLock<TlsConfig> = OnceLock::new();
    CFG.get_or_init(|| {
        let ca = CaBundle::from_pem(CA_PEM).expect("fixture CA");
        mtls_core::internals::dangerous_tls_config_with_provider(
            identity(),
            Trust::Custom(ca),
            deterministic::shared_provider(),
        )
        .expect("fixture TLS config")
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

// The values `pick_or_string` picks by index (the seed generator, `tests/fuzz_seeds.rs`,
// encodes with them).
pub const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT",
];
pub const HOSTS: [&str; 3] = ["api.example.com", "[::1]:8443", "127.0.0.1:1"];
pub const TARGETS: [&str; 4] = ["/", "*", "/v2.01/oauth/token", "/a?b=c"];
pub const HEADER_NAMES: [&str; 4] = ["Accept", "Authorization", "X-A", "Host"];

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
    let host = pick_or_string(&mut input, &HOSTS);
    let target = pick_or_string(&mut input, &TARGETS);
    let n_headers = (input.u8() % 8) as usize;
    let mut owned: Vec<(String, String)> = Vec::new();
    for _ in 0..n_headers {
        let name = pick_or_string(&mut input, &HEADER_NAMES);
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
// 3b. identity_pkcs12
// ---------------------------------------------------------------------------------------

/// The password of the `identity_pkcs12` seeds (`seeds/make-pkcs12.sh`), tried on every
/// input so a mutated archive still gets past its MAC and decryption.
pub const PKCS12_SEED_PASSWORD: &str = "fuzz-p12";
/// Longest fuzzed password (the first input byte is its length, clamped to this).
pub const PKCS12_MAX_PASSWORD: usize = 64;

/// The input: one byte `n`, then `min(n, 64)` bytes of password (lossy UTF-8), then the
/// archive (the seeds: `seeds/make-pkcs12.sh`).
pub fn pkcs12_parts(data: &[u8]) -> (String, &[u8]) {
    let mut input = Bytes::new(data);
    let n = usize::from(input.u8()).min(PKCS12_MAX_PASSWORD);
    let password = String::from_utf8_lossy(input.take(n)).into_owned();
    (password, input.rest())
}

/// `Identity::from_pkcs12` with the fuzzed password, the seeds' password and an empty one
/// (its MAC is tried two ways). A loaded identity is tagged `KeyForm::Pkcs12`, has a chain,
/// and answers `check` and `Debug`. Iteration counts come from the archive: under
/// `cfg(fuzzing)` the reader's bounds are lowered (`src/identity/pkcs12.rs`), so a costly
/// count is refused rather than run.
pub fn identity_pkcs12(data: &[u8]) {
    let (password, archive) = pkcs12_parts(data);
    let mut tried = vec![password.as_str()];
    for p in [PKCS12_SEED_PASSWORD, ""] {
        if !tried.contains(&p) {
            tried.push(p);
        }
    }
    for p in tried {
        if let Ok(id) = Identity::from_pkcs12(archive, p) {
            assert_eq!(id.key_form(), mtls_core::identity::KeyForm::Pkcs12);
            assert!(!id.chain().is_empty(), "a PKCS#12 identity without a chain");
            // A loaded identity must answer its queries without panicking.
            let _ = format!("{id:?}");
            let _ = id.check(fixed_now());
            let _ = id.check(UnixTime::since_unix_epoch(Duration::ZERO));
            let _ = id.check(UnixTime::since_unix_epoch(Duration::from_secs(
                u64::MAX / 2,
            )));
        }
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

/// How far one `tls_client` run got (for `tests/fuzz_seeds.rs`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsSummary {
    pub handshake_complete: bool,
    /// Plaintext bytes received.
    pub plaintext: usize,
    pub peer_closed: bool,
    /// The error that ended the input, if any (not the final `handle_eof`'s).
    pub error: Option<TlsError>,
}

fn drain_tls(tls: &mut TlsConnection, summary: &mut TlsSummary) {
    let mut buf = [0u8; 4096];
    while tls.poll_transmit(&mut buf) > 0 {}
    while let Some(ev) = tls.poll_event() {
        match ev {
            TlsEvent::HandshakeComplete { .. } => {
                assert!(!tls.is_handshaking());
                summary.handshake_complete = true;
            }
            TlsEvent::PeerClosed => {
                assert!(tls.peer_closed());
                summary.peer_closed = true;
            }
        }
    }
    let n = tls.plaintext().len();
    if n > 0 {
        assert!(
            !tls.is_handshaking(),
            "plaintext before the handshake completed"
        );
    }
    summary.plaintext += n;
    // An error found in records waiting behind a full buffer is typed; nothing to check.
    let _ = tls.consume_plaintext(n);
}

/// A client connection to [`SERVER_NAME`] opened at [`fixed_now`], with the deterministic
/// stream started again: its ClientHello (and everything it sends after) is the same in
/// every run, so the recorded seeds' server flights complete the handshake.
pub fn tls_connection(limits: TlsLimits) -> TlsConnection {
    deterministic::reset();
    match TlsConnection::new(tls_config(), SERVER_NAME, limits, fixed_now()) {
        Ok(t) => t,
        Err(e) => panic!("TlsConnection::new failed: {e:?}"),
    }
}

/// The small `TlsLimits` of `tls_client` inputs whose flags say so.
pub fn small_tls_limits() -> TlsLimits {
    TlsLimits {
        max_incoming: 600,
        max_outgoing: 4096,
        max_plaintext_in: 64,
        max_plaintext_out: 64,
    }
}

pub fn tls_client(data: &[u8]) {
    tls_client_run(data);
}

pub fn tls_client_run(data: &[u8]) -> TlsSummary {
    let mut summary = TlsSummary::default();
    let mut input = Bytes::new(data);
    let flags = input.u8();
    let sizes = [input.u8(), input.u8(), input.u8()];
    let server_bytes = input.rest();
    let limits = if flags & 1 != 0 {
        small_tls_limits()
    } else {
        TlsLimits::default()
    };
    let mut tls = tls_connection(limits);
    assert!(!tls.pending_transmit().is_empty(), "no ClientHello");
    drain_tls(&mut tls, &mut summary);

    let mut rest = server_bytes;
    let mut i = 0usize;
    let mut failed: Option<TlsError> = None;
    // Flag 8: close as soon as the handshake completes, then keep offering the server's
    // bytes: nothing is read after our close_notify.
    let mut closed_early = false;
    while !rest.is_empty() {
        if flags & 8 != 0 && !closed_early && summary.handshake_complete {
            closed_early = true;
            if let Err(e) = tls.close() {
                check_tls_error(&e);
            }
            drain_tls(&mut tls, &mut summary);
        }
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
                    drain_tls(&mut tls, &mut summary);
                    if offered.is_empty() {
                        break;
                    }
                    stuck = if n == 0 { stuck + 1 } else { 0 };
                    assert!(
                        stuck < 3,
                        "handle_input takes nothing after the plaintext was drained"
                    );
                }
                Err(TlsError::Closed) if closed_early && tls.error().is_none() => {
                    // The documented answer to input after close; it changes nothing.
                    assert!(!tls.is_open());
                    break;
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
        drain_tls(&mut tls, &mut summary);
    }
    let we_closed = closed_early || flags & 4 != 0;
    match tls.handle_eof() {
        Ok(()) => assert!(
            tls.peer_closed() || we_closed,
            "clean EOF without close_notify from either side"
        ),
        Err(e) => check_tls_error(&e),
    }
    drain_tls(&mut tls, &mut summary);
    let _ = (tls.version(), format!("{tls:?}"));
    summary.error = failed;
    summary
}

// ---------------------------------------------------------------------------------------
// 6. client
// ---------------------------------------------------------------------------------------

// The input: a flags byte, then operations until the input ends. Each operation is one byte
// (taken modulo 10) and its operands:
//
// | op | operands | what the host does |
// |---|---|---|
// | 0, 1, 2 | `n: u8`, `n` bytes (`n = 0`: the rest of the input) | `handle_input` with those server bytes |
// | 3 | `n: u16` LE, `n` bytes (`n = 0`: the rest) | the same, for whole recorded flights |
// | 4 | | `handle_eof` |
// | 5 | `step: u8` (`0xFF`: then an absolute time, `u64` LE ms) | the clock moves by `step` x 100 ms, `handle_timeout` |
// | 6 | | `open_connection` (at most 4 more) |
// | 7 | a request (see `api_request`) | `send` |
// | 8 | | `handle_timeout` at `poll_timeout` |
// | 9 | | `transport_failed` |
//
// Flags: bit 0 `Auth::CertificateOnly` (no token exchange); bits 1-2 `max_attempts - 1`
// (modulo 3); bit 3 a 50 ms request timeout; bit 4 tiny HTTP limits.
//
// The client's TLS is deterministic (see `deterministic`), so the seeds recorded by
// `tests/fuzz_seeds.rs` (real server flights answering this very client) complete the
// handshake, the token exchange and the API calls when replayed.

/// Op codes, for the seed recorder.
pub const OP_INPUT_U8: u8 = 0;
pub const OP_INPUT_U16: u8 = 3;
pub const OP_EOF: u8 = 4;
pub const OP_WAIT: u8 = 5;
pub const OP_OPEN: u8 = 6;
pub const OP_SEND: u8 = 7;
pub const OP_TIMER: u8 = 8;
pub const OP_TRANSPORT_FAILED: u8 = 9;

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

/// How far one run got: the events it saw, counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientSummary {
    pub connected: u32,
    pub tokens_fetched: u32,
    pub tokens_rejected: u32,
    /// The status of each `Response` event, in order.
    pub responses: Vec<u16>,
    pub sca_required: u32,
    pub failed: u32,
    pub closed: u32,
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

/// One run of the `client` target, step by step (the recorder drives it op by op and hands
/// what the client transmitted to a real server).
pub struct ClientHarness {
    client: Client,
    outcomes: Outcomes,
    now: Instant,
    opens: u32,
    pub summary: ClientSummary,
    /// Every byte the client transmitted, when recording.
    pub transmitted: Option<Vec<u8>>,
}

impl ClientHarness {
    /// A client (configured by `flags`) with two requests queued and a connection opened.
    pub fn new(flags: u8, record: bool) -> ClientHarness {
        deterministic::reset();
        let auth = if flags & 1 != 0 {
            Auth::CertificateOnly
        } else {
            Auth::ClientCredentials(credentials())
        };
        let mut config =
            ClientConfig::with_tls(BASE_URL, auth, tls_config().clone()).expect("config");
        config.max_attempts = 1 + (flags >> 1) % 3;
        if flags & 8 != 0 {
            config.request_timeout = Duration::from_millis(50);
        }
        if flags & 16 != 0 {
            config.http_limits = tiny_limits();
        }
        let mut h = ClientHarness {
            client: Client::new(config),
            outcomes: Outcomes::default(),
            now: Instant::from_millis(1_000),
            opens: 0,
            summary: ClientSummary::default(),
            transmitted: record.then(Vec::new),
        };
        for r in [
            ApiRequest::get("/v2.01/a"),
            ApiRequest::post("/v2.01/b", b"{}".to_vec()),
        ] {
            let id = h.client.send(r, h.now);
            h.outcomes.sent.push(id.as_u64());
        }
        h.drain();
        if h.client.open_connection(h.now, fixed_now()).is_err() {
            panic!("open_connection failed with a valid config");
        }
        h.drain();
        h
    }

    fn drain(&mut self) {
        let mut buf = [0u8; 2048];
        for _ in 0..10_000 {
            let n = self.client.poll_transmit(&mut buf);
            if n == 0 {
                break;
            }
            if let Some(t) = &mut self.transmitted {
                t.extend_from_slice(&buf[..n]);
            }
        }
        let (outcomes, summary) = (&mut self.outcomes, &mut self.summary);
        while let Some(ev) = self.client.poll_event() {
            match ev {
                Event::Connected { .. } => summary.connected += 1,
                Event::TokenFetched { .. } => summary.tokens_fetched += 1,
                Event::Response(id, r) => {
                    summary.responses.push(r.status);
                    outcomes.end(id.as_u64(), "Response")
                }
                Event::ScaRequired { id, .. } => {
                    summary.sca_required += 1;
                    outcomes.end(id.as_u64(), "ScaRequired")
                }
                Event::Failed(id, f) => {
                    if let mtls_core::Error::Tls(e) = &f.error {
                        check_tls_error(e);
                    }
                    summary.failed += 1;
                    outcomes.end(id.as_u64(), "Failed")
                }
                Event::TokenRejected(id) => {
                    summary.tokens_rejected += 1;
                    assert!(outcomes.sent.contains(&id.as_u64()));
                    assert!(
                        !outcomes.ended.contains_key(&id.as_u64()),
                        "TokenRejected after the end"
                    );
                }
                Event::ConnectionClosed { error } => {
                    summary.closed += 1;
                    if let Some(mtls_core::Error::Tls(e)) = &error {
                        check_tls_error(e);
                    }
                }
                _ => {}
            }
        }
    }

    /// Reads one operation from `input` and performs it.
    pub fn step(&mut self, input: &mut Bytes<'_>) {
        match input.u8() % 10 {
            op @ 0..=3 => {
                let n = if op == OP_INPUT_U16 {
                    input.u16() as usize
                } else {
                    input.u8() as usize
                };
                let chunk = if n == 0 { input.rest() } else { input.take(n) };
                self.input(chunk);
            }
            4 => self.client.handle_eof(self.now),
            5 => {
                let step = input.u8();
                self.now = if step == 0xFF {
                    Instant::from_millis(input.u64().max(self.now.as_millis()))
                } else {
                    self.now + Duration::from_millis(u64::from(step) * 100)
                };
                self.client.handle_timeout(self.now);
            }
            6 => {
                if self.opens < 4 {
                    self.opens += 1;
                    let _ = self.client.open_connection(self.now, fixed_now());
                }
            }
            7 => {
                let r = api_request(input);
                let id = self.client.send(r, self.now);
                assert!(
                    !self.outcomes.sent.contains(&id.as_u64()),
                    "request id reused"
                );
                self.outcomes.sent.push(id.as_u64());
            }
            8 => {
                if let Some(t) = self.client.poll_timeout() {
                    self.now = self.now.max(t);
                    self.client.handle_timeout(self.now);
                }
            }
            _ => self.client.transport_failed(),
        }
        self.drain();
    }

    /// `handle_input` with server bytes, offered again while the client takes some.
    pub fn input(&mut self, chunk: &[u8]) {
        let mut offered = chunk;
        for _ in 0..4 {
            let taken = self.client.handle_input(offered, self.now);
            assert!(
                taken <= offered.len(),
                "handle_input took more than offered"
            );
            offered = &offered[taken..];
            self.drain();
            if offered.is_empty() || taken == 0 {
                break;
            }
        }
    }

    /// What the client transmitted since the last call (recording harnesses only).
    pub fn take_transmitted(&mut self) -> Vec<u8> {
        self.transmitted
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Whether the client has a live connection (for the recorder).
    pub fn is_connected(&self) -> bool {
        self.client.is_connected()
    }

    /// Winds down: the transport goes away for good. Every request must now have ended
    /// exactly once.
    pub fn finish(mut self) -> ClientSummary {
        self.client.handle_eof(self.now);
        self.drain();
        self.client.transport_failed();
        self.drain();
        assert!(
            self.client.is_idle(),
            "requests left after transport_failed"
        );
        for id in &self.outcomes.sent {
            assert_eq!(
                self.outcomes.ended.get(id).copied().unwrap_or(0),
                1,
                "request {id} has no outcome event"
            );
        }
        self.summary
    }
}

/// Runs one input and says how far it got.
pub fn client_run(data: &[u8]) -> ClientSummary {
    let mut input = Bytes::new(data);
    let flags = input.u8();
    let mut h = ClientHarness::new(flags, false);
    while !input.is_empty() {
        h.step(&mut input);
    }
    h.finish()
}

pub fn client(data: &[u8]) {
    client_run(data);
}

// ---------------------------------------------------------------------------------------
// 7. client_live
// ---------------------------------------------------------------------------------------

// The `client` target against a live in-process rustls server on the same deterministic
// provider: the input is the server's *plaintext* (HTTP answers, token bodies) and the
// timing, so the fuzzer mutates what arrives after the handshake (recorded ciphertext
// cannot be mutated past the record layer's integrity check). The server requires the
// fixture client certificate and never parses what the client sends.
//
// The input: a flags byte (the `client` target's, plus bit 5: the server speaks TLS 1.2
// instead of 1.3), then operations, each a byte taken modulo 8:
//
// | op | operands | what happens |
// |---|---|---|
// | 0, 6, 7 | | exchange: client bytes to the server, server bytes to the client, until both are quiet |
// | 1 | `n: u16` LE, `n` bytes | the server writes that plaintext |
// | 2 | `sel: u8` | the server writes a canned answer (`LIVE_ANSWERS[sel % len]`) |
// | 3 | | the server sends close_notify |
// | 4 | `n: u8` | exchange, with server bytes in pieces of `n` (0: 1) |
// | 5 | one `client` operation | the host's step (`open_connection` also gets a new server) |

/// Canned server answers for op 2: what the recorded API answers, well formed, so the
/// fuzzer can get through a flow and spend its mutations elsewhere.
pub const LIVE_ANSWERS: [&[u8]; 6] = [
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 61\r\n\r\n{\"access_token\":\"tok1\",\"token_type\":\"Bearer\",\"expires_in\":60}",
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{\"Id\":\"1\"}",
    b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: PendingUserAction RedirectUrl=https://sca.example/x\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}",
];

pub const LIVE_EXCHANGE: u8 = 0;
pub const LIVE_WRITE: u8 = 1;
pub const LIVE_CANNED: u8 = 2;
pub const LIVE_CLOSE: u8 = 3;
pub const LIVE_EXCHANGE_PIECES: u8 = 4;
pub const LIVE_HOST: u8 = 5;

#[derive(Debug)]
struct FixedServerClock;

impl rustls::time_provider::TimeProvider for FixedServerClock {
    fn current_time(&self) -> Option<rustls::pki_types::UnixTime> {
        Some(rustls::pki_types::UnixTime::since_unix_epoch(
            Duration::from_secs(FIXED_NOW_SECS),
        ))
    }
}

/// The live server's configuration: deterministic provider, the fixture server identity,
/// client certificates from the fixture CA required, no session storage (nothing carried
/// from one input to the next).
fn live_server_config(tls12: bool) -> std::sync::Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use std::sync::Arc;
    static CONFIGS: OnceLock<[Arc<rustls::ServerConfig>; 2]> = OnceLock::new();
    let configs = CONFIGS.get_or_init(|| {
        let build = |version: &'static rustls::SupportedProtocolVersion| {
            let provider = deterministic::shared_provider();
            let mut roots = rustls::RootCertStore::empty();
            roots
                .add(rustls::pki_types::CertificateDer::from_pem_slice(CA_PEM).expect("CA"))
                .expect("CA");
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider.clone(),
            )
            .build()
            .expect("verifier");
            let chain = vec![
                rustls::pki_types::CertificateDer::from_pem_slice(SERVER_CERT_PEM)
                    .expect("server cert"),
            ];
            let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(SERVER_KEY_PEM)
                .expect("server key");
            let mut config =
                rustls::ServerConfig::builder_with_details(provider, Arc::new(FixedServerClock))
                    .with_protocol_versions(&[version])
                    .expect("versions")
                    .with_client_cert_verifier(verifier)
                    .with_single_cert(chain, key)
                    .expect("server config");
            config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
            config.send_tls13_tickets = 0;
            Arc::new(config)
        };
        [
            build(&rustls::version::TLS13),
            build(&rustls::version::TLS12),
        ]
    });
    configs[usize::from(tls12)].clone()
}

/// One connection of the live server.
struct LiveServer {
    tls: rustls::ServerConnection,
    /// It failed or sent close_notify: it reads nothing more (rustls must not see a bad
    /// record after its close_notify: a debug assertion, rustls/rustls#959).
    done: bool,
}

impl LiveServer {
    fn new(tls12: bool) -> LiveServer {
        let tls = rustls::ServerConnection::new(live_server_config(tls12)).expect("server");
        LiveServer { tls, done: false }
    }

    fn close(&mut self) {
        self.tls.send_close_notify();
        self.done = true;
    }

    /// Takes the client's ciphertext; what it decrypts is read and dropped.
    fn receive(&mut self, mut bytes: &[u8]) {
        use std::io::Read;
        while !bytes.is_empty() && !self.done {
            match self.tls.read_tls(&mut bytes) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            if self.tls.process_new_packets().is_err() {
                self.done = true; // its alert goes out with `transmit`
            }
            let mut sink = [0u8; 4096];
            while matches!(self.tls.reader().read(&mut sink), Ok(n) if n > 0) {}
        }
    }

    fn write(&mut self, plaintext: &[u8]) {
        use std::io::Write;
        if !self.done {
            // A full buffer takes less; the rest is dropped, as a server that gave up would.
            let _ = self.tls.writer().write(plaintext);
        }
    }

    fn transmit(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while self.tls.wants_write() {
            if self.tls.write_tls(&mut out).unwrap_or(0) == 0 {
                break;
            }
        }
        out
    }
}

/// Moves bytes both ways until neither side has anything to say; the server's reach the
/// client in pieces of at most `piece` bytes.
fn exchange(h: &mut ClientHarness, server: &mut LiveServer, piece: usize) {
    for _ in 0..32 {
        let sent = h.take_transmitted();
        server.receive(&sent);
        let back = server.transmit();
        if back.is_empty() && sent.is_empty() {
            break;
        }
        for chunk in back.chunks(piece.max(1)) {
            h.input(chunk);
        }
    }
}

pub fn client_live(data: &[u8]) {
    client_live_run(data);
}

/// Runs one `client_live` input and says how far it got.
pub fn client_live_run(data: &[u8]) -> ClientSummary {
    let mut input = Bytes::new(data);
    let flags = input.u8();
    let tls12 = flags & 32 != 0;
    let mut h = ClientHarness::new(flags, true);
    let mut server = LiveServer::new(tls12);
    while !input.is_empty() {
        match input.u8() % 8 {
            1 => {
                let n = input.u16() as usize;
                server.write(input.take(n));
            }
            2 => server.write(LIVE_ANSWERS[usize::from(input.u8()) % LIVE_ANSWERS.len()]),
            3 => server.close(),
            4 => {
                let piece = usize::from(input.u8());
                exchange(&mut h, &mut server, piece);
            }
            5 => {
                if input.peek() % 10 == OP_OPEN {
                    // A fresh transport: what the client had not yet sent on the old one
                    // never arrives (the client drops it too).
                    let _ = h.take_transmitted();
                    server = LiveServer::new(tls12);
                }
                h.step(&mut input);
            }
            _ => exchange(&mut h, &mut server, usize::MAX),
        }
    }
    h.finish()
}
