//! Byte-level transcripts: one table (`http_cases::TRANSCRIPTS`) read by both the encoder
//! and the decoder tests, plus the caller-misuse (LocalError) contract.

mod http_cases;

use http_cases::{
    expected_parse, normalize, parse_request, run, run_all_splits, write_events, Dir, Owned,
    TRANSCRIPTS,
};
use mtls_core::http::{HttpError, InsufficientSizeError, Limits, LocalError, RemoteError};
use mtls_core::internals::{Event, Request, ResponseContext, ResponseDecoder};

fn contexts(methods: &[&str], close: bool) -> Vec<ResponseContext> {
    methods
        .iter()
        .map(|m| ResponseContext::new(m).with_close(close))
        .collect()
}

#[test]
fn table_has_both_directions() {
    let requests = TRANSCRIPTS
        .iter()
        .filter(|t| matches!(t.dir, Dir::Request { .. }))
        .count();
    let responses = TRANSCRIPTS.len() - requests;
    assert!(requests >= 8 && responses >= 20, "{requests} / {responses}");
}

#[test]
fn encoder_matches_transcripts() {
    for t in TRANSCRIPTS {
        let Dir::Request { req, bytes } = &t.dir else {
            continue;
        };
        let name = t.name;
        // Into a slice.
        let mut buf = vec![0u8; bytes.len() + 10];
        let n = req
            .encode(&mut buf)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(&buf[..n], *bytes, "{name}: encode");
        assert_eq!(req.encoded_len(), Ok(bytes.len()), "{name}: encoded_len");
        // Exactly the required size works too.
        let mut exact = vec![0u8; bytes.len()];
        assert_eq!(req.encode(&mut exact), Ok(bytes.len()), "{name}");
        // Appending to a Vec with a cap.
        let mut v = b"prefix".to_vec();
        let cap = 6 + bytes.len();
        assert_eq!(req.encode_to_vec(&mut v, cap), Ok(bytes.len()), "{name}");
        assert_eq!(&v[6..], *bytes, "{name}: encode_to_vec");
        // The test parser reads back what was meant.
        assert_eq!(
            parse_request(bytes),
            expected_parse(req),
            "{name}: parse back"
        );
        // The response context follows the method and close flag.
        let ctx = req.response_context();
        assert_eq!(ctx.is_head(), req.method == "HEAD", "{name}");
    }
}

#[test]
fn decoder_matches_transcripts_at_every_split() {
    for t in TRANSCRIPTS {
        let Dir::Response {
            methods,
            close_request,
            bytes,
            eof,
            events,
            canonical,
        } = &t.dir
        else {
            continue;
        };
        let name = t.name;
        let ctxs = contexts(methods, *close_request);
        let expected = normalize(events.iter().map(Owned::from).collect());
        let got = run_all_splits(name, Limits::default(), &ctxs, bytes, *eof);
        assert_eq!(got, expected, "{name}");
        if *canonical {
            assert_eq!(
                String::from_utf8_lossy(&write_events(&expected)),
                String::from_utf8_lossy(bytes),
                "{name}: test writer"
            );
        }
    }
}

/// h11's `tr()`: the same transcripts followed by the start of another response; the events
/// are unchanged and the extra bytes stay buffered for the next response.
#[test]
fn decoder_keeps_trailing_bytes_after_keep_alive_responses() {
    let extra = b"HTTP/1.1 200 OK\r\nCont";
    for t in TRANSCRIPTS {
        let Dir::Response {
            methods,
            close_request,
            bytes,
            eof,
            events,
            ..
        } = &t.dir
        else {
            continue;
        };
        let expected = normalize(events.iter().map(Owned::from).collect());
        let keeps_alive = matches!(
            expected.last(),
            Some(Owned::End {
                keep_alive: true,
                ..
            })
        );
        if *eof || !keeps_alive {
            continue;
        }
        let ctxs = contexts(methods, *close_request);
        let with_extra = [*bytes, &extra[..]].concat();
        let got = run_all_splits(t.name, Limits::default(), &ctxs, &with_extra, false);
        assert_eq!(got, expected, "{}", t.name);
        let (_, d) = run(Limits::default(), &ctxs, &[&with_extra], false);
        assert_eq!(d.buffered(), extra.len(), "{}", t.name);
        assert!(d.can_reuse());
    }
}

/// `poll_response` gives the same response as the events.
#[test]
fn collect_helper_matches_events() {
    for t in TRANSCRIPTS {
        let Dir::Response {
            methods,
            close_request,
            bytes,
            eof,
            events,
            ..
        } = &t.dir
        else {
            continue;
        };
        let expected = normalize(events.iter().map(Owned::from).collect());
        let mut d = ResponseDecoder::default();
        let mut got = Vec::new();
        let mut ctxs = contexts(methods, *close_request).into_iter();
        d.expect_response(ctxs.next().unwrap()).unwrap();
        for b in bytes.iter() {
            d.feed(&[*b]).unwrap();
            while let Some(r) = d.poll_response().unwrap() {
                got.push(r);
                if let Some(c) = ctxs.next() {
                    d.expect_response(c).unwrap();
                }
            }
        }
        if *eof {
            d.handle_eof();
            while let Some(r) = d.poll_response().unwrap() {
                got.push(r);
            }
        }
        // Summarise the expected events per response and compare.
        type Summary = (
            u16,
            Vec<(String, Vec<u8>)>,
            Vec<u8>,
            Vec<(String, Vec<u8>)>,
            bool,
        );
        let mut want: Vec<Summary> = Vec::new();
        for e in &expected {
            match e {
                Owned::Head {
                    status, headers, ..
                } => want.push((*status, headers.clone(), Vec::new(), Vec::new(), false)),
                Owned::Data(d) => want.last_mut().unwrap().2.extend_from_slice(d),
                Owned::End {
                    keep_alive,
                    trailers,
                } => {
                    let w = want.last_mut().unwrap();
                    w.3 = trailers.clone();
                    w.4 = *keep_alive;
                }
                Owned::Err(_) => unreachable!(),
            }
        }
        let have: Vec<Summary> = got
            .into_iter()
            .map(|r| (r.status, r.headers, r.body, r.trailers, r.keep_alive))
            .collect();
        assert_eq!(have, want, "{}", t.name);
    }
}

// ---------------- encoder: caller misuse ----------------

#[test]
fn encoder_rejects_invalid_input() {
    use LocalError::*;
    let h = |headers: &'static [(&'static str, &'static str)]| {
        Request::new("GET", "h", "/").headers(headers)
    };
    let cases: Vec<(&str, Request<'static>, LocalError)> = vec![
        ("empty method", Request::new("", "h", "/"), InvalidMethod),
        (
            "space in method",
            Request::new("GE T", "h", "/"),
            InvalidMethod,
        ),
        (
            "CRLF in method",
            Request::new("GET\r\n", "h", "/"),
            InvalidMethod,
        ),
        ("empty target", Request::new("GET", "h", ""), InvalidTarget),
        (
            "relative target",
            Request::new("GET", "h", "a/b"),
            InvalidTarget,
        ),
        (
            "space in target",
            Request::new("GET", "h", "/a b"),
            InvalidTarget,
        ),
        (
            "CRLF in target",
            Request::new("GET", "h", "/a\r\nX: y"),
            InvalidTarget,
        ),
        (
            "fragment in target",
            Request::new("GET", "h", "/a#b"),
            InvalidTarget,
        ),
        (
            "non-ASCII target",
            Request::new("GET", "h", "/\u{e9}"),
            InvalidTarget,
        ),
        (
            "absolute-form target",
            Request::new("GET", "h", "http://h/"),
            InvalidTarget,
        ),
        ("empty host", Request::new("GET", "", "/"), InvalidHost),
        (
            "CRLF in host",
            Request::new("GET", "h\r\nX: y", "/"),
            InvalidHost,
        ),
        (
            "userinfo in host",
            Request::new("GET", "u@h", "/"),
            InvalidHost,
        ),
        ("path in host", Request::new("GET", "h/x", "/"), InvalidHost),
        (
            "space in header name",
            h(&[("A", "1"), ("X Y", "v")]),
            InvalidHeaderName { index: 1 },
        ),
        (
            "empty header name",
            h(&[("", "v")]),
            InvalidHeaderName { index: 0 },
        ),
        (
            "colon in header name",
            h(&[("X:", "v")]),
            InvalidHeaderName { index: 0 },
        ),
        (
            "CRLF in header value",
            h(&[("X", "a\r\nInjected: 1")]),
            InvalidHeaderValue { index: 0 },
        ),
        (
            "LF in header value",
            h(&[("X", "a\nb")]),
            InvalidHeaderValue { index: 0 },
        ),
        (
            "CR in header value",
            h(&[("X", "a\rb")]),
            InvalidHeaderValue { index: 0 },
        ),
        (
            "NUL in header value",
            h(&[("X", "a\0b")]),
            InvalidHeaderValue { index: 0 },
        ),
        (
            "DEL in header value",
            h(&[("A", "ok"), ("X", "a\x7f")]),
            InvalidHeaderValue { index: 1 },
        ),
        (
            "leading space in value",
            h(&[("X", " a")]),
            InvalidHeaderValue { index: 0 },
        ),
        (
            "trailing tab in value",
            h(&[("X", "a\t")]),
            InvalidHeaderValue { index: 0 },
        ),
        (
            "caller Host",
            h(&[("host", "evil")]),
            ReservedHeader { index: 0 },
        ),
        (
            "caller Content-Length",
            h(&[("Content-Length", "0")]),
            ReservedHeader { index: 0 },
        ),
        (
            "caller Transfer-Encoding",
            h(&[("A", "b"), ("TRANSFER-ENCODING", "chunked")]),
            ReservedHeader { index: 1 },
        ),
        (
            "caller Connection",
            h(&[("Connection", "keep-alive")]),
            ReservedHeader { index: 0 },
        ),
        (
            "caller Upgrade",
            h(&[("Upgrade", "h2c")]),
            ReservedHeader { index: 0 },
        ),
    ];
    for (name, req, err) in cases {
        assert_eq!(req.validate(), Err(err), "{name}");
        assert_eq!(req.encoded_len(), Err(err), "{name}");
        let mut buf = [0xAAu8; 256];
        assert_eq!(req.encode(&mut buf), Err(err), "{name}");
        assert!(buf.iter().all(|&b| b == 0xAA), "{name}: buffer touched");
        let mut v = b"keep".to_vec();
        assert_eq!(req.encode_to_vec(&mut v, 1 << 20), Err(err), "{name}");
        assert_eq!(v, b"keep", "{name}: vec touched");
    }
}

#[test]
fn encoder_reports_exact_required_size_and_leaves_buffer_untouched() {
    let req = Request::new("POST", "h", "/a").body(b"0123456789");
    let need = req.encoded_len().unwrap();
    for size in 0..need {
        let mut buf = vec![0x55u8; size];
        assert_eq!(
            req.encode(&mut buf),
            Err(LocalError::InsufficientSize(InsufficientSizeError {
                required_size: need
            }))
        );
        assert!(buf.iter().all(|&b| b == 0x55));
    }
    let mut v = b"abc".to_vec();
    assert_eq!(
        req.encode_to_vec(&mut v, 3 + need - 1),
        Err(LocalError::InsufficientSize(InsufficientSizeError {
            required_size: 3 + need
        }))
    );
    assert_eq!(v, b"abc");
    assert_eq!(req.encode_to_vec(&mut v, 3 + need), Ok(need));
}

// ---------------- decoder: caller misuse and lifecycle ----------------

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

fn drain(d: &mut ResponseDecoder) -> Result<usize, HttpError> {
    let mut n = 0;
    while d.poll_event()?.is_some() {
        n += 1;
    }
    Ok(n)
}

#[test]
fn decoder_misuse_is_local_and_harmless() {
    let mut d = ResponseDecoder::default();
    // Bytes before any request are kept, not parsed.
    d.feed(OK).unwrap();
    assert_eq!(drain(&mut d), Ok(0));
    assert_eq!(d.buffered(), OK.len());
    d.expect_response(ResponseContext::new("GET")).unwrap();
    assert_eq!(
        d.expect_response(ResponseContext::new("GET")),
        Err(HttpError::Local(LocalError::ResponsePending))
    );
    assert!(d.is_response_pending());
    assert_eq!(drain(&mut d), Ok(3));
    assert!(d.can_reuse());
    d.handle_eof();
    assert!(!d.can_reuse());
    assert_eq!(
        d.feed(b"x"),
        Err(HttpError::Local(LocalError::InputAfterEof))
    );
    assert_eq!(
        d.expect_response(ResponseContext::new("GET")),
        Err(HttpError::Local(LocalError::ConnectionClosed))
    );
    assert_eq!(drain(&mut d), Ok(0));
    assert_eq!(d.error(), None);
}

#[test]
fn decoder_refuses_input_over_max_buffered() {
    let limits = Limits {
        max_buffered: 50,
        ..Limits::default()
    };
    let mut d = ResponseDecoder::new(limits);
    d.expect_response(ResponseContext::new("GET")).unwrap();
    d.feed(&OK[..30]).unwrap();
    assert_eq!(
        d.feed(&[b'x'; 21]),
        Err(HttpError::Local(LocalError::BufferFull))
    );
    assert_eq!(d.buffered(), 30);
    d.feed(&OK[30..]).unwrap();
    assert_eq!(drain(&mut d), Ok(3));
    // Consumed bytes are compacted away, so the next response fits again.
    d.expect_response(ResponseContext::new("GET")).unwrap();
    d.feed(OK).unwrap();
    assert_eq!(drain(&mut d), Ok(3));
}

#[test]
fn decoder_after_close_refuses_next_request() {
    let mut d = ResponseDecoder::default();
    d.expect_response(ResponseContext::new("GET").with_close(true))
        .unwrap();
    d.feed(OK).unwrap();
    assert_eq!(drain(&mut d), Ok(3));
    assert!(!d.can_reuse());
    assert_eq!(
        d.expect_response(ResponseContext::new("GET")),
        Err(HttpError::Local(LocalError::ConnectionClosed))
    );
    // Empty input is not data.
    d.feed(b"").unwrap();
    assert_eq!(
        d.feed(b"H"),
        Err(HttpError::Remote(RemoteError::DataAfterClose))
    );
}

#[test]
fn decoder_rejects_mixed_consumption() {
    let mut d = ResponseDecoder::default();
    d.expect_response(ResponseContext::new("GET")).unwrap();
    d.feed(OK).unwrap();
    assert!(matches!(d.poll_event(), Ok(Some(Event::Head(_)))));
    assert_eq!(
        d.poll_response(),
        Err(HttpError::Local(LocalError::MixedConsumption))
    );
    assert!(matches!(d.poll_event(), Ok(Some(Event::Data(b"ok")))));
    assert!(matches!(d.poll_event(), Ok(Some(Event::End(_)))));
    // A new response may use the other API.
    d.expect_response(ResponseContext::new("GET")).unwrap();
    d.feed(&OK[..39]).unwrap();
    assert_eq!(d.poll_response(), Ok(None));
    assert_eq!(
        d.poll_event().map(|e| e.is_some()),
        Err(HttpError::Local(LocalError::MixedConsumption))
    );
    d.feed(&OK[39..]).unwrap();
    let r = d.poll_response().unwrap().unwrap();
    assert_eq!(
        (r.status, r.body.as_slice(), r.keep_alive),
        (200, &b"ok"[..], true)
    );
    assert_eq!(r.header("content-length"), Some(&b"2"[..]));
}

#[test]
fn reset_makes_a_fresh_decoder() {
    let mut d = ResponseDecoder::default();
    d.expect_response(ResponseContext::new("GET")).unwrap();
    d.feed(b"HTTP/1.1 200 OK\n").unwrap();
    assert!(drain(&mut d).is_err());
    d.reset();
    assert_eq!(d.error(), None);
    assert!(d.can_reuse());
    d.expect_response(ResponseContext::new("GET")).unwrap();
    d.feed(OK).unwrap();
    assert_eq!(drain(&mut d), Ok(3));
}

#[test]
fn errors_display_and_chain() {
    let e = HttpError::from(RemoteError::BareLf);
    assert!(e.is_remote());
    assert_eq!(
        e.to_string(),
        "http: peer error: bare LF where CRLF is required"
    );
    let l = HttpError::from(LocalError::InvalidHeaderValue { index: 2 });
    assert_eq!(l.to_string(), "http: local error: header 2: invalid value");
    assert!(std::error::Error::source(&l).is_some());
}
