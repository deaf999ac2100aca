//! Shared test data and helpers for the `http` module tests.
//!
//! `TRANSCRIPTS` is the one table of byte-level transcripts (h11 `test_io.py` SIMPLE_CASES
//! style) read by both the encoder tests (client -> server) and the decoder tests
//! (server -> client). `malformed` holds the malformed-response corpus.
#![allow(dead_code)]

pub mod malformed;

use mtls_core::http::{HttpError, Limits, RemoteError, Version};
use mtls_core::internals::{BodyKind, Event, Request, ResponseContext, ResponseDecoder};

/// One event as written in the table.
#[derive(Clone, Copy, Debug)]
pub enum Ev {
    Head {
        version: Version,
        status: u16,
        reason: &'static str,
        headers: &'static [(&'static str, &'static str)],
        body: BodyKind,
    },
    Data(&'static [u8]),
    End {
        keep_alive: bool,
        trailers: &'static [(&'static str, &'static str)],
    },
}

/// An owned event, as recorded from the decoder (consecutive `Data` merged).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owned {
    Head {
        version: Version,
        status: u16,
        reason: Vec<u8>,
        headers: Vec<(String, Vec<u8>)>,
        body: BodyKind,
    },
    Data(Vec<u8>),
    End {
        keep_alive: bool,
        trailers: Vec<(String, Vec<u8>)>,
    },
    /// The decoder failed (from `feed`, `poll_event` or `expect_response`).
    Err(HttpError),
}

fn fields(f: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
    f.iter()
        .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
        .collect()
}

impl From<&Ev> for Owned {
    fn from(e: &Ev) -> Self {
        match *e {
            Ev::Head {
                version,
                status,
                reason,
                headers,
                body,
            } => Owned::Head {
                version,
                status,
                reason: reason.as_bytes().to_vec(),
                headers: fields(headers),
                body,
            },
            Ev::Data(d) => Owned::Data(d.to_vec()),
            Ev::End {
                keep_alive,
                trailers,
            } => Owned::End {
                keep_alive,
                trailers: fields(trailers),
            },
        }
    }
}

/// Merges consecutive `Data` and drops empty ones, so any split compares equal.
pub fn normalize(events: Vec<Owned>) -> Vec<Owned> {
    let mut out: Vec<Owned> = Vec::new();
    for e in events {
        match (out.last_mut(), e) {
            (_, Owned::Data(d)) if d.is_empty() => {}
            (Some(Owned::Data(prev)), Owned::Data(d)) => prev.extend_from_slice(&d),
            (_, e) => out.push(e),
        }
    }
    out
}

/// One side of one transcript.
pub enum Dir {
    /// Client to server: the encoder must produce exactly `bytes` from `req`.
    Request {
        req: Request<'static>,
        bytes: &'static [u8],
    },
    /// Server to client: decoding `bytes` (then end of stream if `eof`) for requests with
    /// `methods` must give exactly `events`. `canonical`: the test writer reproduces `bytes`
    /// from `events`.
    Response {
        methods: &'static [&'static str],
        close_request: bool,
        bytes: &'static [u8],
        eof: bool,
        events: &'static [Ev],
        canonical: bool,
    },
}

pub struct Transcript {
    pub name: &'static str,
    pub dir: Dir,
}

const H11: Version = Version::Http11;
const H10: Version = Version::Http10;

const fn resp(
    methods: &'static [&'static str],
    bytes: &'static [u8],
    eof: bool,
    events: &'static [Ev],
    canonical: bool,
) -> Dir {
    Dir::Response {
        methods,
        close_request: false,
        bytes,
        eof,
        events,
        canonical,
    }
}

const fn head(
    status: u16,
    reason: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: BodyKind,
) -> Ev {
    Ev::Head {
        version: H11,
        status,
        reason,
        headers,
        body,
    }
}

const END: Ev = Ev::End {
    keep_alive: true,
    trailers: &[],
};
const END_CLOSE: Ev = Ev::End {
    keep_alive: false,
    trailers: &[],
};

/// The transcript table.
pub const TRANSCRIPTS: &[Transcript] = &[
    // ---------------- client -> server ----------------
    Transcript {
        name: "req: minimal GET",
        dir: Dir::Request {
            req: Request::new("GET", "api.example.com", "/"),
            bytes: b"GET / HTTP/1.1\r\nHost: api.example.com\r\n\r\n",
        },
    },
    Transcript {
        name: "req: GET with query and headers",
        dir: Dir::Request {
            req: Request::new("GET", "api.example.com", "/v2.01/client/users/123?x=1&y=%20")
                .headers(&[("Accept", "application/json"), ("Authorization", "Bearer abc.def")]),
            bytes: b"GET /v2.01/client/users/123?x=1&y=%20 HTTP/1.1\r\nHost: api.example.com\r\nAccept: application/json\r\nAuthorization: Bearer abc.def\r\n\r\n",
        },
    },
    Transcript {
        name: "req: POST with body",
        dir: Dir::Request {
            req: Request::new("POST", "api.example.com:8443", "/oauth/token")
                .headers(&[("Content-Type", "application/x-www-form-urlencoded")])
                .body(b"grant_type=client_credentials"),
            bytes: b"POST /oauth/token HTTP/1.1\r\nHost: api.example.com:8443\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 29\r\n\r\ngrant_type=client_credentials",
        },
    },
    Transcript {
        name: "req: POST with empty body sends Content-Length: 0",
        dir: Dir::Request {
            req: Request::new("POST", "h", "/a").body(b""),
            bytes: b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
        },
    },
    Transcript {
        name: "req: PUT with Connection: close",
        dir: Dir::Request {
            req: Request::new("PUT", "h", "/a").body(b"xyz").close(true),
            bytes: b"PUT /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nConnection: close\r\n\r\nxyz",
        },
    },
    Transcript {
        name: "req: OPTIONS asterisk-form",
        dir: Dir::Request {
            req: Request::new("OPTIONS", "h", "*"),
            bytes: b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
        },
    },
    Transcript {
        name: "req: IPv6 host, extension method, odd header values",
        dir: Dir::Request {
            req: Request::new("PURGE", "[::1]:8443", "/c/%E2%82%AC")
                .headers(&[("X-Tab", "a\tb  c"), ("X-Utf8", "caf\u{e9}"), ("X-Empty", "")]),
            bytes: b"PURGE /c/%E2%82%AC HTTP/1.1\r\nHost: [::1]:8443\r\nX-Tab: a\tb  c\r\nX-Utf8: caf\xc3\xa9\r\nX-Empty: \r\n\r\n",
        },
    },
    Transcript {
        name: "req: DELETE with idempotency key",
        dir: Dir::Request {
            req: Request::new("DELETE", "h", "/r/1").headers(&[("Idempotency-Key", "k-1")]),
            bytes: b"DELETE /r/1 HTTP/1.1\r\nHost: h\r\nIdempotency-Key: k-1\r\n\r\n",
        },
    },
    Transcript {
        name: "req: HEAD",
        dir: Dir::Request {
            req: Request::new("HEAD", "h", "/x"),
            bytes: b"HEAD /x HTTP/1.1\r\nHost: h\r\n\r\n",
        },
    },
    // ---------------- server -> client ----------------
    Transcript {
        name: "resp: Content-Length",
        dir: resp(
            &["GET"],
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            false,
            &[
                head(200, "OK", &[("Content-Length", "5")], BodyKind::Length(5)),
                Ev::Data(b"hello"),
                END,
            ],
            true,
        ),
    },
    Transcript {
        name: "resp: Content-Length 0",
        dir: resp(
            &["POST"],
            b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
            false,
            &[head(201, "Created", &[("Content-Length", "0")], BodyKind::Length(0)), END],
            true,
        ),
    },
    Transcript {
        name: "resp: Connection: close ends keep-alive",
        dir: resp(
            &["GET"],
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
            true,
            &[
                head(
                    200,
                    "OK",
                    &[("Connection", "close"), ("Content-Length", "2")],
                    BodyKind::Length(2),
                ),
                Ev::Data(b"ok"),
                END_CLOSE,
            ],
            true,
        ),
    },
    Transcript {
        name: "resp: Connection list with close token",
        dir: resp(
            &["GET"],
            b"HTTP/1.1 200 OK\r\nConnection: foo, CLOSE\r\nContent-Length: 0\r\n\r\n",
            false,
            &[
                head(
                    200,
                    "OK",
                    &[("Connection", "foo, CLOSE"), ("Content-Length", "0")],
                    BodyKind::Length(0),
                ),
                END_CLOSE,
            ],
            true,
        ),
    },
    Transcript {
        name: "resp: HTTP/1.0 without keep-alive closes",
        dir: resp(
            &["GET"],
            b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx",
            false,
            &[
                Ev::Head {
                    version: H10,
                    status: 200,
                    reason: "OK",
                    headers: &[("Content-Length", "1")],
                    body: BodyKind::Length(1),
                },
                Ev::Data(b"x"),
                END_CLOSE,
            ],
            true,
        ),
    },
    Transcript {
        name: "resp: HTTP/1.0 with keep-alive persists",
        dir: resp(
            &["GET", "GET"],
            b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\nxHTTP/1.0 204 No Content\r\nConnection: keep-alive\r\n\r\n",
            false,
            &[
                Ev::Head {
                    version: H10,
                    status: 200,
                    reason: "OK",
                    headers: &[("Connection", "Keep-Alive"), ("Content-Length", "1")],
                    body: BodyKind::Length(1),
                },
                Ev::Data(b"x"),
                END,
                Ev::Head {
                    version: H10,
                    status: 204,
                    reason: "No Content",
                    headers: &[("Connection", "keep-alive")],
                    body: BodyKind::Empty,
                },
                END,
            ],
            true,
        ),
    },
    Transcript {
        name: "resp: HTTP/1.0 body until close",
        dir: resp(
            &["GET"],
            b"HTTP/1.0 200 OK\r\nServer: old\r\n\r\nall of it",
            true,
            &[
                Ev::Head {
                    version: H10,
                    status: 200,
                    reason: "OK",
                    headers: &[("Server", "old")],
                    body: BodyKind::UntilClose,
                },
                Ev::Data(b"all of it"),
                END_CLOSE,
            ],
            true,
        ),
    },
    Transcript {
        name: "resp: HTTP/1.1 body until close, empty",
        dir: resp(
            &["GET"],
            b"HTTP/1.1 200 OK\r\n\r\n",
            true,
            &[head(200, "OK", &[], BodyKind::UntilClose), END_CLOSE],
            true,
        ),
    },
    Transcript {
        name: "resp: chunked",
        dir: resp(
            &["GET"],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
            false,
            &[
                head(200, "OK", &[("Transfer-Encoding", "chunked")], BodyKind::Chunked),
                Ev::Data(b"hello world"),
                END,
            ],
            false,
        ),
    },
    Transcript {
        name: "resp: chunked, one chunk (canonical form)",
        dir: resp(
            &["GET"],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nb\r\nhello world\r\n0\r\n\r\n",
            false,
            &[
                head(200, "OK", &[("Transfer-Encoding", "chunked")], BodyKind::Chunked),
                Ev::Data(b"hello world"),
                END,
            ],
            true,
        ),
    },
    Transcript {
        name: "resp: chunked with extensions",
        dir: resp(
            &["GET"],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;a\r\nabc\r\n3 ; b = c\r\ndef\r\n2;q=\"x \\\" y\";z\r\ngh\r\n0;last\r\n\r\n",
            false,
            &[
                head(200, "OK", &[("Transfer-Encoding", "chunked")], BodyKind::Chunked),
                Ev::Data(b"abcdefgh"),
                END,
            ],
            false,
        ),
    },
    Transcript {
        name: "resp: chunked with trailers",
        dir: resp(
            &["GET"],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n2\r\nhi\r\n0\r\nX-Sum: 42\r\nX-Other: a b\r\n\r\n",
            false,
            &[
                head(
                    200,
                    "OK",
                    &[("Transfer-Encoding", "chunked"), ("Trailer", "X-Sum")],
                    BodyKind::Chunked,
                ),
                Ev::Data(b"hi"),
                Ev::End {
                    keep_alive: true,
                    trailers: &[("X-Sum", "42"), ("X-Other", "a b")],
                },
            ],
            true,
        ),
    },
    Transcript {
        name: "resp: chunked, uppercase hex and leading zeros, mixed-case coding",
        dir: resp(
            &["GET"],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n000A\r\n0123456789\r\n00\r\n\r\n",
            false,
            &[
                head(200, "OK", &[("Transfer-Encoding", "Chunked")], BodyKind::Chunked),
                Ev::Data(b"0123456789"),
                END,
            ],
            false,
        ),
    },
    Transcript {
        name: "resp: chunked with empty body",
        dir: resp(
            &["GET"],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            false,
            &[
                head(200, "OK", &[("Transfer-Encoding", "chunked")], BodyKind::Chunked),
                END,
            ],
            true,
        ),
    },
    Transcript {
        name: "resp: 204 has no body, next response pipelined",
        dir: resp(
            &["DELETE", "GET"],
            b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n!",
            false,
            &[
                head(204, "No Content", &[], BodyKind::Empty),
                END,
                head(200, "OK", &[("Content-Length", "1")], BodyKind::Length(1)),
                Ev::Data(b"!"),
                END,
            ],
            true,
        ),
    },
    Transcript {
        name: "resp: 304 ignores Content-Length",
        dir: resp(
            &["GET"],
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\nETag: \"v1\"\r\n\r\n",
            false,
            &[
                head(
                    304,
                    "Not Modified",
                    &[("Content-Length", "100"), ("ETag", "\"v1\"")],
                    BodyKind::Empty,
                ),
                END,
            ],
            true,
        ),
    },
    Transcript {
        name: "resp: HEAD ignores Content-Length and chunked",
        dir: resp(
            &["HEAD", "HEAD"],
            b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            false,
            &[
                head(200, "OK", &[("Content-Length", "1000")], BodyKind::Empty),
                END,
                head(200, "OK", &[("Transfer-Encoding", "chunked")], BodyKind::Empty),
                END,
            ],
            true,
        ),
    },
    Transcript {
        name: "resp: 100 Continue skipped",
        dir: resp(
            &["POST"],
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            false,
            &[
                head(200, "OK", &[("Content-Length", "2")], BodyKind::Length(2)),
                Ev::Data(b"ok"),
                END,
            ],
            false,
        ),
    },
    Transcript {
        name: "resp: 103 Early Hints and 102 skipped before HEAD response",
        dir: resp(
            &["HEAD"],
            b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n",
            false,
            &[
                head(200, "OK", &[("Content-Length", "9")], BodyKind::Empty),
                END,
            ],
            false,
        ),
    },
    Transcript {
        name: "resp: identical repeated Content-Length accepted",
        dir: resp(
            &["GET"],
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\ncontent-length: 3, 3\r\n\r\nabc",
            false,
            &[
                head(
                    200,
                    "OK",
                    &[("Content-Length", "3"), ("content-length", "3, 3")],
                    BodyKind::Length(3),
                ),
                Ev::Data(b"abc"),
                END,
            ],
            true,
        ),
    },
    Transcript {
        name: "resp: missing and empty reason phrases",
        dir: resp(
            &["GET", "GET"],
            b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\nHTTP/1.1 202 \r\nContent-Length: 0\r\n\r\n",
            false,
            &[
                head(200, "", &[("Content-Length", "0")], BodyKind::Length(0)),
                END,
                head(202, "", &[("Content-Length", "0")], BodyKind::Length(0)),
                END,
            ],
            false,
        ),
    },
    Transcript {
        name: "resp: obs-text in reason and value, whitespace trimmed, empty value",
        dir: resp(
            &["GET"],
            b"HTTP/1.1 200 Tr\xc3\xa8s bien\r\nX-Name:   caf\xc3\xa9 \t\r\nX-Empty:\r\nContent-Length: 0\r\n\r\n",
            false,
            &[
                head(
                    200,
                    "Tr\u{e8}s bien",
                    &[("X-Name", "caf\u{e9}"), ("X-Empty", ""), ("Content-Length", "0")],
                    BodyKind::Length(0),
                ),
                END,
            ],
            false,
        ),
    },
    Transcript {
        name: "resp: unusual status codes pass through",
        dir: resp(
            &["GET", "GET"],
            b"HTTP/1.1 599 Weird\r\nContent-Length: 0\r\n\r\nHTTP/1.1 999 Custom\r\nContent-Length: 0\r\n\r\n",
            false,
            &[
                head(599, "Weird", &[("Content-Length", "0")], BodyKind::Length(0)),
                END,
                head(999, "Custom", &[("Content-Length", "0")], BodyKind::Length(0)),
                END,
            ],
            true,
        ),
    },
    Transcript {
        name: "resp: 401 with JSON error body, then chunked on same connection",
        dir: resp(
            &["GET", "POST"],
            b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: 21\r\n\r\n{\"error\":\"expired\"}\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
            false,
            &[
                head(
                    401,
                    "Unauthorized",
                    &[("Content-Type", "application/json"), ("Content-Length", "21")],
                    BodyKind::Length(21),
                ),
                Ev::Data(b"{\"error\":\"expired\"}\r\n"),
                END,
                head(200, "OK", &[("Transfer-Encoding", "chunked")], BodyKind::Chunked),
                Ev::Data(b"x"),
                END,
            ],
            true,
        ),
    },
    Transcript {
        name: "resp: request said close",
        dir: Dir::Response {
            methods: &["GET"],
            close_request: true,
            bytes: b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz",
            eof: true,
            events: &[
                head(200, "OK", &[("Content-Length", "1")], BodyKind::Length(1)),
                Ev::Data(b"z"),
                END_CLOSE,
            ],
            canonical: true,
        },
    },
    Transcript {
        name: "resp: many headers, tabs around value",
        dir: resp(
            &["GET"],
            b"HTTP/1.1 200 OK\r\nA: 1\r\nB:\t2\t\r\nC: 3\r\nSet-Cookie: a=b\r\nSet-Cookie: c=d\r\nContent-Length: 0\r\n\r\n",
            false,
            &[
                head(
                    200,
                    "OK",
                    &[
                        ("A", "1"),
                        ("B", "2"),
                        ("C", "3"),
                        ("Set-Cookie", "a=b"),
                        ("Set-Cookie", "c=d"),
                        ("Content-Length", "0"),
                    ],
                    BodyKind::Length(0),
                ),
                END,
            ],
            false,
        ),
    },
];

/// Feeds `chunks` (then EOF if `eof`) and records every event; stops at the first error.
/// A response is expected for each entry of `ctxs`, the next one as soon as the previous ends.
pub fn run(
    limits: Limits,
    ctxs: &[ResponseContext],
    chunks: &[&[u8]],
    eof: bool,
) -> (Vec<Owned>, ResponseDecoder) {
    let mut d = ResponseDecoder::new(limits);
    let mut out = Vec::new();
    let mut next_ctx = ctxs.iter();
    if let Some(ctx) = next_ctx.next() {
        if let Err(e) = d.expect_response(*ctx) {
            out.push(Owned::Err(e));
            return (out, d);
        }
    }
    for chunk in chunks {
        if let Err(e) = d.feed(chunk) {
            out.push(Owned::Err(e));
            return (normalize(out), d);
        }
        if !drain(&mut d, &mut out, &mut next_ctx) {
            return (normalize(out), d);
        }
    }
    if eof {
        d.handle_eof();
        drain(&mut d, &mut out, &mut next_ctx);
    }
    (normalize(out), d)
}

/// Polls until `None` or an error; returns `false` on error.
fn drain(
    d: &mut ResponseDecoder,
    out: &mut Vec<Owned>,
    next_ctx: &mut core::slice::Iter<'_, ResponseContext>,
) -> bool {
    loop {
        let mut ended = false;
        match d.poll_event() {
            Err(e) => {
                out.push(Owned::Err(e));
                return false;
            }
            Ok(None) => return true,
            Ok(Some(ev)) => out.push(match ev {
                Event::Head(h) => Owned::Head {
                    version: h.version,
                    status: h.status,
                    reason: h.reason.to_vec(),
                    headers: h
                        .headers
                        .iter()
                        .map(|f| (f.name.to_string(), f.value.to_vec()))
                        .collect(),
                    body: h.body,
                },
                Event::Data(b) => {
                    assert!(!b.is_empty(), "Data events are never empty");
                    Owned::Data(b.to_vec())
                }
                Event::End(e) => {
                    ended = true;
                    Owned::End {
                        keep_alive: e.keep_alive,
                        trailers: e
                            .trailers
                            .iter()
                            .map(|f| (f.name.to_string(), f.value.to_vec()))
                            .collect(),
                    }
                }
            }),
        }
        if ended {
            if let Some(ctx) = next_ctx.next() {
                if let Err(e) = d.expect_response(*ctx) {
                    out.push(Owned::Err(e));
                    return false;
                }
            }
        }
    }
}

/// Splits `bytes` at `cuts` (sorted positions).
pub fn split_at<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut prev = 0;
    for &c in cuts {
        out.push(&bytes[prev..c]);
        prev = c;
    }
    out.push(&bytes[prev..]);
    out
}

/// Runs `bytes` whole, byte by byte, and split at every position (or every `stride`-th
/// for long inputs); asserts all give the same events and returns them.
pub fn run_all_splits(
    name: &str,
    limits: Limits,
    ctxs: &[ResponseContext],
    bytes: &[u8],
    eof: bool,
) -> Vec<Owned> {
    let (whole, _) = run(limits, ctxs, &[bytes], eof);
    let singles: Vec<&[u8]> = bytes.chunks(1).collect();
    let (bytewise, _) = run(limits, ctxs, &singles, eof);
    assert_eq!(bytewise, whole, "{name}: byte by byte differs from whole");
    let stride = if bytes.len() > 2048 { 97 } else { 1 };
    for cut in (1..bytes.len()).step_by(stride) {
        let (split, _) = run(limits, ctxs, &split_at(bytes, &[cut]), eof);
        assert_eq!(split, whole, "{name}: split at {cut} differs from whole");
    }
    whole
}

/// Test response writer: the canonical wire form of a list of events (one response or
/// several). Chunked bodies are written as a single chunk.
pub fn write_events(events: &[Owned]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chunked = false;
    let mut body = Vec::new();
    for e in events {
        match e {
            Owned::Head {
                version,
                status,
                reason,
                headers,
                body: kind,
            } => {
                out.extend_from_slice(match version {
                    Version::Http10 => b"HTTP/1.0 ",
                    Version::Http11 => b"HTTP/1.1 ",
                });
                out.extend_from_slice(status.to_string().as_bytes());
                out.push(b' ');
                out.extend_from_slice(reason);
                out.extend_from_slice(b"\r\n");
                write_fields(&mut out, headers);
                out.extend_from_slice(b"\r\n");
                chunked = *kind == BodyKind::Chunked;
                body.clear();
            }
            Owned::Data(d) => body.extend_from_slice(d),
            Owned::End { trailers, .. } => {
                if chunked {
                    if !body.is_empty() {
                        out.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
                        out.extend_from_slice(&body);
                        out.extend_from_slice(b"\r\n");
                    }
                    out.extend_from_slice(b"0\r\n");
                    write_fields(&mut out, trailers);
                    out.extend_from_slice(b"\r\n");
                } else {
                    out.extend_from_slice(&body);
                }
                body.clear();
            }
            Owned::Err(_) => {}
        }
    }
    out
}

pub fn write_fields(out: &mut Vec<u8>, fields: &[(String, Vec<u8>)]) {
    for (n, v) in fields {
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v);
        out.extend_from_slice(b"\r\n");
    }
}

/// Test request parser (httparse): (method, target, headers, body).
pub type Parsed = (String, String, Vec<(String, Vec<u8>)>, Vec<u8>);

pub fn parse_request(bytes: &[u8]) -> Parsed {
    let mut slots = [httparse::EMPTY_HEADER; 128];
    let mut req = httparse::Request::new(&mut slots);
    let n = match req.parse(bytes).expect("valid request") {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => panic!("partial request"),
    };
    assert_eq!(req.version, Some(1));
    let headers: Vec<(String, Vec<u8>)> = req
        .headers
        .iter()
        .map(|h| (h.name.to_string(), h.value.to_vec()))
        .collect();
    (
        req.method.unwrap().to_string(),
        req.path.unwrap().to_string(),
        headers,
        bytes[n..].to_vec(),
    )
}

/// What `parse_request` should return for `req`.
pub fn expected_parse(req: &Request<'_>) -> Parsed {
    let mut headers = vec![("Host".to_string(), req.host.as_bytes().to_vec())];
    headers.extend(
        req.headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec())),
    );
    if let Some(b) = req.body {
        headers.push((
            "Content-Length".to_string(),
            b.len().to_string().into_bytes(),
        ));
    }
    if req.close {
        headers.push(("Connection".to_string(), b"close".to_vec()));
    }
    (
        req.method.to_string(),
        req.target.to_string(),
        headers,
        req.body.unwrap_or(b"").to_vec(),
    )
}

/// `true` if `e` is the peer fault `r`.
pub fn is_remote(e: &Owned, r: RemoteError) -> bool {
    *e == Owned::Err(HttpError::Remote(r))
}
