//! Deterministic property tests (seeded xorshift, no proptest):
//! - random valid requests: encode -> httparse request parse gives back what was meant;
//! - random header values with an injected CR/LF/NUL are refused, never written;
//! - random valid connections (several responses, all framings, 1xx, trailers, extensions):
//!   test writer -> decode with random splits gives the expected events, and the collect
//!   helper agrees;
//! - random mutations of valid responses: never a panic, and the outcome does not depend on
//!   how the bytes are split.

mod http_cases;

use http_cases::{expected_parse, normalize, parse_request, run, split_at, write_fields, Owned};
use mtls_core::http::{HttpError, Limits, LocalError, Version};
use mtls_core::internals::{BodyKind, Event, Request, ResponseContext, ResponseDecoder};

/// xorshift64*; deterministic across platforms.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
    fn string(&mut self, alphabet: &[u8], min: usize, max: usize) -> String {
        let n = min + self.below(max - min + 1);
        (0..n).map(|_| self.pick(alphabet) as char).collect()
    }
    fn cuts(&mut self, len: usize) -> Vec<usize> {
        if len < 2 {
            return Vec::new();
        }
        let mut cuts: Vec<usize> = (0..self.below(12))
            .map(|_| 1 + self.below(len - 1))
            .collect();
        cuts.sort_unstable();
        cuts.dedup();
        cuts
    }
}

const TCHARS: &[u8] =
    b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const HOST: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789.-";
const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

fn target_chars() -> Vec<u8> {
    (0x21u8..=0x7e).filter(|&b| b != b'#').collect()
}

fn value_chars() -> Vec<u8> {
    let mut v: Vec<u8> = (0x20u8..=0x7e).collect();
    v.push(b'\t');
    v
}

fn token(rng: &mut Rng, max: usize) -> String {
    rng.string(TCHARS, 1, max)
}

/// A field value: visible ASCII, SP/HTAB inside, sometimes a non-ASCII character.
fn field_value(rng: &mut Rng, max: usize) -> String {
    let mut v = rng.string(&value_chars(), 0, max);
    if rng.chance(10) {
        v.push('\u{e9}');
    }
    let trimmed = v.trim_matches([' ', '\t']);
    if trimmed.len() == v.len() {
        v
    } else {
        format!("x{trimmed}x")
    }
}

fn is_reserved(name: &str) -> bool {
    mtls_core::internals::RESERVED_HEADERS
        .iter()
        .any(|r| r.eq_ignore_ascii_case(name))
}

struct OwnedRequest {
    method: String,
    host: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    close: bool,
}

fn random_request(rng: &mut Rng) -> OwnedRequest {
    let method = if rng.chance(70) {
        rng.pick(&["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
            .to_string()
    } else {
        token(rng, 10)
    };
    let target = if rng.chance(3) {
        "*".to_string()
    } else {
        format!("/{}", rng.string(&target_chars(), 0, 60))
    };
    let mut host = rng.string(HOST, 1, 30);
    if rng.chance(30) {
        host.push_str(&format!(":{}", rng.below(65536)));
    }
    let mut headers = Vec::new();
    for _ in 0..rng.below(10) {
        let name = token(rng, 16);
        if is_reserved(&name) {
            continue;
        }
        headers.push((name, field_value(rng, 40)));
    }
    let body = rng.chance(50).then(|| {
        (0..rng.below(300))
            .map(|_| rng.next() as u8)
            .collect::<Vec<u8>>()
    });
    OwnedRequest {
        method,
        host,
        target,
        headers,
        body,
        close: rng.chance(20),
    }
}

#[test]
fn random_requests_round_trip() {
    let mut rng = Rng::new(0x5eed_0001);
    for i in 0..3000 {
        let o = random_request(&mut rng);
        let headers: Vec<(&str, &str)> = o
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let mut req = Request::new(&o.method, &o.host, &o.target)
            .headers(&headers)
            .close(o.close);
        if let Some(b) = &o.body {
            req = req.body(b);
        }
        let len = req
            .encoded_len()
            .unwrap_or_else(|e| panic!("case {i}: {e}"));
        let mut buf = vec![0u8; len];
        assert_eq!(req.encode(&mut buf), Ok(len), "case {i}");
        let mut v = Vec::new();
        assert_eq!(req.encode_to_vec(&mut v, len), Ok(len), "case {i}");
        assert_eq!(v, buf, "case {i}");
        assert_eq!(parse_request(&buf), expected_parse(&req), "case {i}");
    }
}

#[test]
fn random_injections_are_refused() {
    let mut rng = Rng::new(0x5eed_0002);
    for i in 0..2000 {
        let o = random_request(&mut rng);
        let mut headers: Vec<(String, String)> = o.headers.clone();
        headers.push(("X-Last".into(), "v".into()));
        let index = rng.below(headers.len());
        let bad = rng.pick(&["\r", "\n", "\0", "\r\nX-Injected: 1", "\x0b", "\x7f"]);
        let value = &mut headers[index].1;
        let at = rng.below(value.len() + 1);
        // Keep the split on a char boundary.
        let at = (0..=at).rev().find(|&p| value.is_char_boundary(p)).unwrap();
        value.insert_str(at, bad);
        let refs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let req = Request::new(&o.method, &o.host, &o.target).headers(&refs);
        let mut buf = [0u8; 4096];
        assert_eq!(
            req.encode(&mut buf),
            Err(LocalError::InvalidHeaderValue { index }),
            "case {i}"
        );
        assert!(buf.iter().all(|&b| b == 0), "case {i}: bytes written");
    }
}

// ---------------- responses ----------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length,
    Chunked,
    UntilClose,
}

/// Writes one random valid response to `out`; returns its expected events and whether the
/// connection stays open.
fn random_response(
    rng: &mut Rng,
    out: &mut Vec<u8>,
    allow_until_close: bool,
) -> (ResponseContext, Vec<Owned>, bool) {
    let method = rng.pick(&["GET", "GET", "POST", "HEAD", "DELETE"]);
    let close_request = rng.chance(5);
    let ctx = ResponseContext::new(method).with_close(close_request);
    let version = if rng.chance(15) {
        Version::Http10
    } else {
        Version::Http11
    };
    let vtext: &[u8] = match version {
        Version::Http10 => b"HTTP/1.0 ",
        Version::Http11 => b"HTTP/1.1 ",
    };
    // Interim responses first.
    if version == Version::Http11 {
        for _ in 0..rng.below(3) {
            let code = rng.pick(&[100u16, 102, 103]);
            out.extend_from_slice(format!("HTTP/1.1 {code} Interim\r\n").as_bytes());
            if rng.chance(50) {
                out.extend_from_slice(b"Link: </x>; rel=preload\r\n");
            }
            out.extend_from_slice(b"\r\n");
        }
    }
    let status = rng.pick(&[
        200u16, 200, 201, 202, 204, 301, 304, 400, 401, 404, 500, 503,
    ]);
    let reason = rng.string(ALNUM, 0, 20);
    let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
    for _ in 0..rng.below(8) {
        let name = token(rng, 12);
        let lower = name.to_ascii_lowercase();
        if ["content-length", "transfer-encoding", "connection"].contains(&lower.as_str()) {
            continue;
        }
        headers.push((name, field_value(rng, 30).into_bytes()));
    }
    let bodyless = ctx.is_head() || status == 204 || status == 304;
    let mut framing = match rng.below(10) {
        0..=4 => Framing::Length,
        5..=8 if version == Version::Http11 => Framing::Chunked,
        _ => Framing::UntilClose,
    };
    if framing == Framing::UntilClose && !allow_until_close && !bodyless {
        framing = Framing::Length;
    }
    let mut persistent = match version {
        Version::Http11 => !rng.chance(10),
        Version::Http10 => rng.chance(60),
    };
    if persistent && version == Version::Http10 {
        headers.push(("Connection".into(), b"keep-alive".to_vec()));
    }
    if !persistent && version == Version::Http11 {
        headers.push(("Connection".into(), b"close".to_vec()));
    }
    let body: Vec<u8> = if bodyless {
        Vec::new()
    } else {
        (0..rng.below(400)).map(|_| rng.next() as u8).collect()
    };
    let announced = if bodyless {
        rng.below(1000)
    } else {
        body.len()
    };
    match framing {
        Framing::Length => {
            headers.push(("Content-Length".into(), announced.to_string().into_bytes()))
        }
        Framing::Chunked => {
            headers.push(("Transfer-Encoding".into(), b"chunked".to_vec()));
        }
        Framing::UntilClose => {}
    }
    out.extend_from_slice(vtext);
    out.extend_from_slice(format!("{status} {reason}\r\n").as_bytes());
    write_fields(out, &headers);
    out.extend_from_slice(b"\r\n");
    let mut trailers = Vec::new();
    if !bodyless {
        match framing {
            Framing::Length | Framing::UntilClose => out.extend_from_slice(&body),
            Framing::Chunked => {
                let mut rest = &body[..];
                while !rest.is_empty() {
                    let n = 1 + rng.below(rest.len().min(120));
                    let hex = if rng.chance(50) {
                        format!("{n:x}")
                    } else {
                        format!("{n:04X}")
                    };
                    out.extend_from_slice(hex.as_bytes());
                    if rng.chance(20) {
                        out.extend_from_slice(b";ext=\"a b\"; flag");
                    }
                    out.extend_from_slice(b"\r\n");
                    out.extend_from_slice(&rest[..n]);
                    out.extend_from_slice(b"\r\n");
                    rest = &rest[n..];
                }
                out.extend_from_slice(b"0\r\n");
                for _ in 0..rng.below(3) {
                    trailers.push((token(rng, 10), field_value(rng, 20).into_bytes()));
                }
                write_fields(out, &trailers);
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    let kind = if bodyless {
        BodyKind::Empty
    } else {
        match framing {
            Framing::Length => BodyKind::Length(body.len() as u64),
            Framing::Chunked => BodyKind::Chunked,
            Framing::UntilClose => BodyKind::UntilClose,
        }
    };
    let keep_alive = persistent && !close_request && kind != BodyKind::UntilClose;
    if kind == BodyKind::UntilClose {
        persistent = false;
    }
    let _ = persistent;
    let mut events = vec![Owned::Head {
        version,
        status,
        reason: reason.into_bytes(),
        headers,
        body: kind,
    }];
    if !body.is_empty() {
        events.push(Owned::Data(body));
    }
    events.push(Owned::End {
        keep_alive,
        trailers,
    });
    (ctx, events, keep_alive)
}

/// A whole connection: responses until one closes; (contexts, bytes, events, needs eof).
fn random_connection(rng: &mut Rng) -> (Vec<ResponseContext>, Vec<u8>, Vec<Owned>, bool) {
    let mut bytes = Vec::new();
    let mut ctxs = Vec::new();
    let mut events = Vec::new();
    let count = 1 + rng.below(4);
    let mut eof = false;
    for i in 0..count {
        let last = i + 1 == count;
        let (ctx, ev, keep_alive) = random_response(rng, &mut bytes, last);
        ctxs.push(ctx);
        let until_close = ev.iter().any(|e| {
            matches!(
                e,
                Owned::Head {
                    body: BodyKind::UntilClose,
                    ..
                }
            )
        });
        events.extend(ev);
        if until_close {
            eof = true;
        }
        if !keep_alive {
            break;
        }
    }
    if !eof && rng.chance(30) {
        eof = true;
    }
    (ctxs, bytes, normalize(events), eof)
}

#[test]
fn random_responses_decode_at_random_splits() {
    let mut rng = Rng::new(0x5eed_0003);
    for i in 0..3000 {
        let (ctxs, bytes, expected, eof) = random_connection(&mut rng);
        let cuts = rng.cuts(bytes.len());
        let (got, d) = run(Limits::default(), &ctxs, &split_at(&bytes, &cuts), eof);
        assert_eq!(
            got,
            expected,
            "case {i}, cuts {cuts:?}, bytes {:?}",
            String::from_utf8_lossy(&bytes)
        );
        assert_eq!(d.error(), None, "case {i}");
        let last_keep_alive = matches!(
            expected.last(),
            Some(Owned::End {
                keep_alive: true,
                ..
            })
        );
        assert_eq!(d.can_reuse(), last_keep_alive && !eof, "case {i}");

        // The collect helper agrees on bodies and statuses.
        let mut d = ResponseDecoder::default();
        let mut next = ctxs.iter();
        d.expect_response(*next.next().unwrap()).unwrap();
        let mut collected = Vec::new();
        for piece in split_at(&bytes, &cuts) {
            d.feed(piece).unwrap();
            while let Some(r) = d.poll_response().unwrap() {
                collected.push((r.status, r.body));
                if let Some(c) = next.next() {
                    d.expect_response(*c).unwrap();
                }
            }
        }
        if eof {
            d.handle_eof();
            while let Some(r) = d.poll_response().unwrap() {
                collected.push((r.status, r.body));
            }
        }
        let mut want = Vec::new();
        for e in &expected {
            match e {
                Owned::Head { status, .. } => want.push((*status, Vec::new())),
                Owned::Data(b) => want.last_mut().unwrap().1.extend_from_slice(b),
                _ => {}
            }
        }
        assert_eq!(collected, want, "case {i}");
    }
}

#[test]
fn random_mutations_never_panic_and_ignore_splits() {
    let mut rng = Rng::new(0x5eed_0004);
    let small = Limits {
        max_headers: 8,
        max_line_len: 64,
        max_head_size: 256,
        max_body_size: 300,
        max_chunk_ext_size: 32,
        max_trailer_size: 64,
        max_buffered: 1 << 16,
    };
    let mut failures = 0;
    for i in 0..4000 {
        let (ctxs, mut bytes, _, eof) = random_connection(&mut rng);
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(bytes.len() + 1);
            let b = rng.pick(b"\r\n\t :;0123456789aAfFxX-+\"\x00\x7f\xff");
            match rng.below(3) {
                0 if at < bytes.len() => bytes[at] = b,
                1 if at < bytes.len() => {
                    bytes.remove(at);
                }
                _ => bytes.insert(at, b),
            }
        }
        let limits = if rng.chance(30) {
            small
        } else {
            Limits::default()
        };
        let (whole, _) = run(limits, &ctxs, &[&bytes], eof);
        let cuts = rng.cuts(bytes.len());
        let (split, _) = run(limits, &ctxs, &split_at(&bytes, &cuts), eof);
        assert_eq!(
            split,
            whole,
            "case {i}, cuts {cuts:?}, {:?}",
            String::from_utf8_lossy(&bytes)
        );
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        let (bytewise, _) = run(limits, &ctxs, &singles, eof);
        assert_eq!(bytewise, whole, "case {i}, byte by byte");
        // Only peer faults come out of a peer's bytes (or, when a mutation made a response
        // close the connection, the harness's next `expect_response` is refused).
        for e in &whole {
            if let Owned::Err(err) = e {
                failures += 1;
                assert!(
                    matches!(
                        err,
                        HttpError::Remote(_) | HttpError::Local(LocalError::ConnectionClosed)
                    ),
                    "case {i}: {err:?}"
                );
            }
        }
    }
    // The mutations do reach the error paths.
    assert!(
        failures > 1000,
        "only {failures} of 4000 mutated inputs failed"
    );
}

/// The request encoder's example (once the doc example of `Request`).
#[test]
fn encode_example() -> Result<(), LocalError> {
    let headers = [("Accept", "application/json")];
    let req = Request::new("GET", "api.example.com", "/v1/users?id=7").headers(&headers);
    let mut buf = [0u8; 128];
    let n = req.encode(&mut buf)?;
    assert_eq!(
        &buf[..n],
        b"GET /v1/users?id=7 HTTP/1.1\r\nHost: api.example.com\r\nAccept: application/json\r\n\r\n"
    );
    Ok(())
}

/// Driving the encoder and the decoder (once the example of the `http` module's docs):
/// encode, decode fed in two pieces with zero-copy events, then collect a whole chunked
/// response on the same connection.
#[test]
fn encode_decode_walkthrough() -> Result<(), HttpError> {
    // Encode.
    let headers = [
        ("Authorization", "Bearer t0k3n"),
        ("Accept", "application/json"),
    ];
    let req = Request::new("POST", "api.example.com", "/v1/pay")
        .headers(&headers)
        .body(b"{}");
    let mut out = [0u8; 256];
    let n = req.encode(&mut out)?;
    assert!(out[..n].starts_with(b"POST /v1/pay HTTP/1.1\r\nHost: api.example.com\r\n"));

    // Decode, fed in two pieces, zero-copy events.
    let mut decoder = ResponseDecoder::new(Limits::default());
    decoder.expect_response(req.response_context())?;
    let mut body = Vec::new();
    let mut done = None;
    for piece in [
        &b"HTTP/1.1 201 Created\r\nContent-Le"[..],
        b"ngth: 2\r\n\r\nok",
    ] {
        decoder.feed(piece)?;
        while let Some(event) = decoder.poll_event()? {
            match event {
                Event::Head(head) => assert_eq!(head.status, 201),
                Event::Data(bytes) => body.extend_from_slice(bytes),
                Event::End(end) => done = Some(end.keep_alive),
            }
        }
    }
    assert_eq!((body.as_slice(), done), (&b"ok"[..], Some(true)));
    assert!(decoder.can_reuse());

    // The same connection, collecting a whole chunked response.
    decoder.expect_response(Request::new("GET", "api.example.com", "/v1/x").response_context())?;
    decoder.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n")?;
    let response = decoder.poll_response()?.expect("complete");
    assert_eq!(
        (response.status, response.body.as_slice()),
        (200, &b"hi"[..])
    );
    Ok(())
}

/// A response handed back with `recycle` lends its buffers to the next one and nothing else:
/// the next response reads exactly as it would from a fresh decoder (fewer headers, a shorter
/// body, no trailers where the recycled one had them).
#[test]
fn a_recycled_response_leaves_nothing_of_itself_in_the_next() {
    let first: &[u8] = b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\nX-B: 22\r\nTrailer: X-Sum\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 5\r\n\r\n";
    let second: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
    let decode = |d: &mut ResponseDecoder, bytes: &[u8]| {
        d.expect_response(ResponseContext::new("GET")).unwrap();
        d.feed(bytes).unwrap();
        d.poll_response().unwrap().expect("complete")
    };
    let mut fresh = ResponseDecoder::new(Limits::default());
    let expected = decode(&mut fresh, second);
    let mut d = ResponseDecoder::new(Limits::default());
    let r = decode(&mut d, first);
    assert_eq!(
        (r.status, r.trailers.len(), r.body.as_slice()),
        (404, 1, &b"hello"[..])
    );
    d.recycle(r);
    assert_eq!(decode(&mut d, second), expected);
    // And the other way round: more headers than the recycled response had.
    let r = decode(&mut d, second);
    d.recycle(r);
    assert_eq!(decode(&mut d, first), decode(&mut fresh, first));
}
