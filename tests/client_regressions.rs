//! Regressions from the review of the client state machine: each test pins the fixed
//! behaviour of one finding, driven with bytes and a fake clock against an in-memory rustls
//! server (no sockets).

mod common;

use std::io::Write;
use std::time::Duration;

use common::fake_api::{new_client, pump, respond_json, FakeApi, Responder, Seen};
use common::*;
use mtls_core::client::Auth;
use mtls_core::client::Event;
use mtls_core::time::Instant;
use mtls_core::{ApiRequest, Client, ClientConfig, Error};

/// The in-memory API, answering `GET /x` with `{"path":"/x"}`.
fn new_api(pki: &TestServerPki) -> FakeApi {
    let respond: Responder = Box::new(|tls, seen| {
        respond_json(tls, &format!(r#"{{"path":"{}"}}"#, seen.path));
    });
    FakeApi::with_responder(pki, respond)
}

fn outcomes(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Response(id, r) => {
                Some(format!("{}:{}:{}", id.as_u64(), r.status, r.body.len()))
            }
            Event::Failed(id, f) => {
                Some(format!("{}:failed:{:?}:{:?}", id.as_u64(), f.kind, f.error))
            }
            Event::ScaRequired { id, .. } => Some(format!("{}:sca", id.as_u64())),
            _ => None,
        })
        .collect()
}

fn connected_client(pki: &TestServerPki, srv: &mut FakeApi, t0: Instant) -> Client {
    let mut client = new_client(pki);
    client.send(ApiRequest::get("/v2.01/cid/warmup"), t0);
    client.open_connection(t0, wall_now()).unwrap();
    let ev = pump(&mut client, srv, t0, usize::MAX);
    assert_eq!(outcomes(&ev), vec!["0:200:28".to_string()]);
    client
}

fn drain(client: &mut Client) -> Vec<Event> {
    let mut events = vec![];
    while let Some(e) = client.poll_event() {
        events.push(e);
    }
    events
}

fn closed_with(events: &[Event]) -> Vec<Option<Error>> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::ConnectionClosed { error } => Some(error.clone()),
            _ => None,
        })
        .collect()
}

/// A server that never answers the ClientHello: the handshake times out, the request is
/// retried on new connections, and after `max_attempts` handshakes it fails.
#[test]
fn a_silent_handshake_times_out_and_ends_the_request() {
    let pki = TestServerPki::new();
    let mut client = new_client(&pki);
    let mut t = Instant::from_secs(5);
    let id = client.send(ApiRequest::get("/x"), t);
    for attempt in 1..=3 {
        assert!(client.wants_connection(), "attempt {attempt}");
        client.open_connection(t, wall_now()).unwrap();
        let mut buf = [0u8; 4096];
        assert!(client.poll_transmit(&mut buf) > 0, "a ClientHello");
        let deadline = client.poll_timeout().expect("a handshake deadline");
        assert_eq!(deadline, t + Duration::from_secs(30));
        client.handle_timeout(deadline);
        t = deadline;
        let events = drain(&mut client);
        // The error names the handshake, not the request.
        assert_eq!(closed_with(&events), vec![Some(Error::HandshakeTimeout)]);
        if attempt < 3 {
            assert!(outcomes(&events).is_empty());
        } else {
            assert_eq!(
                outcomes(&events),
                vec![format!("{}:failed:NotSent:HandshakeTimeout", id.as_u64())]
            );
        }
    }
    assert!(client.is_idle() && !client.wants_connection());
}

/// A body delimited by the connection closing, cut short by a FIN without close_notify:
/// never delivered as a response.
#[test]
fn a_close_delimited_body_cut_by_truncation_is_not_a_response() {
    let pki = TestServerPki::new();
    let mut srv = new_api(&pki);
    let t0 = Instant::from_secs(5);
    let mut client = connected_client(&pki, &mut srv, t0);
    srv.respond = Box::new(|tls, _: &Seen| {
        tls.writer()
            .write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"Amount\":10")
            .unwrap();
    });
    client.send(ApiRequest::post("/v2.01/cid/payins", b"{}".to_vec()), t0);
    let mut events = pump(&mut client, &mut srv, t0, usize::MAX);
    client.handle_eof(t0);
    events.extend(drain(&mut client));
    assert_eq!(
        outcomes(&events),
        vec!["1:failed:OutcomeUnknown:Tls(Truncated { during_handshake: false })".to_string()]
    );
}

/// A request whose ciphertext cannot fit the outgoing buffer is refused up front; the
/// connection stays usable and the next request is answered.
#[test]
fn a_request_too_large_for_the_buffers_fails_alone() {
    let pki = TestServerPki::new();
    for body_len in [65_000, 65_347, 65_434, 65_536] {
        let mut srv = new_api(&pki);
        let t0 = Instant::from_secs(5);
        let mut client = connected_client(&pki, &mut srv, t0);
        client.send(
            ApiRequest::post("/v2.01/cid/payins", vec![b'a'; body_len]),
            t0,
        );
        client.send(ApiRequest::get("/v2.01/cid/users/1"), t0);
        let events = pump(&mut client, &mut srv, t0, usize::MAX);
        let o = outcomes(&events);
        assert_eq!(o.len(), 2, "{body_len}: {o:?}");
        if body_len == 65_000 {
            assert_eq!(o[0], "1:200:28", "{body_len}");
        } else {
            assert_eq!(o[0], "1:failed:NotSent:RequestTooLarge", "{body_len}");
        }
        assert_eq!(o[1], "2:200:29", "{body_len}");
        assert!(client.is_connected() && client.is_idle());
    }
}

/// After the server's close_notify the connection carries no new request: it goes on a new
/// connection, not sent before.
#[test]
fn nothing_is_sent_after_the_servers_close_notify() {
    let pki = TestServerPki::new();
    let mut srv = new_api(&pki);
    let t0 = Instant::from_secs(5);
    let mut client = connected_client(&pki, &mut srv, t0);
    srv.tls.send_close_notify();
    let events = pump(&mut client, &mut srv, t0, usize::MAX);
    assert_eq!(closed_with(&events), vec![None], "an orderly close");
    assert!(!client.is_connected());
    client.send(ApiRequest::post("/v2.01/cid/payins", b"{}".to_vec()), t0);
    assert!(client.wants_connection());
    let mut srv2 = new_api(&pki);
    client.open_connection(t0, wall_now()).unwrap();
    let events = pump(&mut client, &mut srv2, t0, usize::MAX);
    assert_eq!(outcomes(&events), vec!["1:200:28".to_string()]);
    assert_eq!(
        srv.seen.len(),
        2,
        "the first server saw only the token and warm-up calls"
    );
}

/// Replacing a connection while a POST is in flight decides the POST on the old connection:
/// it may have been read, so it ends as outcome unknown and is never sent again.
#[test]
fn replacing_a_connection_never_resends_a_post() {
    let pki = TestServerPki::new();
    let mut srv = new_api(&pki);
    let t0 = Instant::from_secs(5);
    let mut client = connected_client(&pki, &mut srv, t0);
    srv.mute = true;
    client.send(
        ApiRequest::post("/v2.01/cid/payins", b"{\"Amount\":100}".to_vec()),
        t0,
    );
    let _ = pump(&mut client, &mut srv, t0, usize::MAX);
    assert_eq!(srv.seen.last().unwrap().path, "/v2.01/cid/payins");
    client.open_connection(t0, wall_now()).unwrap();
    let events = drain(&mut client);
    assert_eq!(
        outcomes(&events),
        vec!["1:failed:OutcomeUnknown:ConnectionClosed".to_string()]
    );
    // Nothing is queued any more: what is left in progress is the new connection's handshake.
    assert_eq!(
        client.state(),
        mtls_core::client::ConnectionState::Handshaking
    );
    assert!(!client.is_idle());
}

/// Large bodies handed over in one slice arrive whole: consuming plaintext resumes
/// decryption that a full buffer paused.
#[test]
fn large_bodies_in_one_slice_never_stall() {
    let pki = TestServerPki::new();
    for size in (40_000..200_000).step_by(3_001) {
        let mut srv = new_api(&pki);
        let t0 = Instant::from_secs(5);
        let mut client = connected_client(&pki, &mut srv, t0);
        srv.respond = Box::new(move |tls, _: &Seen| {
            write!(
                tls.writer(),
                "HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n"
            )
            .unwrap();
            tls.writer().write_all(&vec![b'x'; size]).unwrap();
        });
        client.send(ApiRequest::get("/v2.01/cid/big"), t0);
        let events = pump(&mut client, &mut srv, t0, usize::MAX);
        assert_eq!(outcomes(&events), vec![format!("1:200:{size}")]);
    }
}

/// Bytes after a complete response answer nothing we asked: the response is delivered,
/// the connection dropped, and the extra bytes never become the next request's response.
#[test]
fn bytes_after_a_response_never_answer_the_next_request() {
    let pki = TestServerPki::new();
    let mut srv = new_api(&pki);
    let t0 = Instant::from_secs(5);
    let mut client = connected_client(&pki, &mut srv, t0);
    srv.respond = Box::new(|tls, _: &Seen| {
        tls.writer()
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\nSMUGG")
            .unwrap();
    });
    client.send(ApiRequest::get("/v2.01/cid/users/1"), t0);
    let events = pump(&mut client, &mut srv, t0, usize::MAX);
    assert_eq!(outcomes(&events), vec!["1:200:2".to_string()]);
    assert_eq!(closed_with(&events), vec![Some(Error::UnsolicitedData)]);
    assert!(!client.is_connected());
}

/// A TLS 1.3 server that refuses the client certificate read no request: not sent.
#[test]
fn a_refused_certificate_means_not_sent() {
    let pki = TestServerPki::new();
    let other = TestServerPki::named("someone else's CA");
    let identity = identity_for_fixture(&other.ca, "p256-sec1");
    let config = ClientConfig::new(
        "https://localhost",
        Auth::CertificateOnly,
        &identity,
        pki.trust(),
    )
    .unwrap();
    let mut client = Client::new(config);
    let mut srv = new_api(&pki);
    let t0 = Instant::from_secs(5);
    client.send(ApiRequest::post("/v2.01/cid/payins", b"{}".to_vec()), t0);
    client.open_connection(t0, wall_now()).unwrap();
    let events = pump(&mut client, &mut srv, t0, usize::MAX);
    assert!(srv.seen.is_empty());
    assert_eq!(
        outcomes(&events),
        vec!["0:failed:NotSent:Tls(AlertReceived(Alert(unknown_ca)))".to_string()]
    );
}

/// A transport that fails under a request in flight ends it (outcome unknown: it was
/// written) without a retry.
#[test]
fn transport_failure_ends_the_request_in_flight() {
    let pki = TestServerPki::new();
    let mut srv = new_api(&pki);
    let t0 = Instant::from_secs(5);
    let mut client = connected_client(&pki, &mut srv, t0);
    srv.mute = true;
    client.send(ApiRequest::get("/v2.01/cid/users/9"), t0);
    client.send(ApiRequest::get("/v2.01/cid/users/10"), t0);
    let _ = pump(&mut client, &mut srv, t0, usize::MAX);
    client.transport_failed();
    let events = drain(&mut client);
    assert_eq!(
        outcomes(&events),
        vec![
            "1:failed:OutcomeUnknown:Transport".to_string(),
            "2:failed:NotSent:Transport".to_string()
        ]
    );
    assert!(client.is_idle() && client.poll_timeout().is_none());
}

/// The client owns `Authorization` when it holds a token.
#[test]
fn a_caller_authorization_header_is_refused() {
    let pki = TestServerPki::new();
    let mut srv = new_api(&pki);
    let t0 = Instant::from_secs(5);
    let mut client = connected_client(&pki, &mut srv, t0);
    client.send(
        ApiRequest::get("/v2.01/cid/users/1").header("authorization", "Basic c3Rvb2w="),
        t0,
    );
    let events = pump(&mut client, &mut srv, t0, usize::MAX);
    assert_eq!(
        outcomes(&events),
        vec!["1:failed:NotSent:Http(Local(ReservedHeader { index: 0 }))".to_string()]
    );
}

/// The server's bytes as its TLS records: the first record, and everything after it.
fn split_first_record(bytes: &[u8]) -> (&[u8], &[u8]) {
    let first = 5 + usize::from(u16::from_be_bytes([bytes[3], bytes[4]]));
    bytes.split_at(first)
}

/// Offers `bytes` until the client takes them all (bounded: each offer takes some or the
/// connection is gone), then returns the events.
fn offer(client: &mut Client, bytes: &[u8], now: Instant) -> Vec<Event> {
    let mut offset = 0;
    for _ in 0..bytes.len() {
        if offset == bytes.len() {
            break;
        }
        let taken = client.handle_input(&bytes[offset..], now);
        if taken == 0 {
            break;
        }
        offset += taken;
    }
    assert!(
        offset == bytes.len() || !client.is_connected(),
        "took {offset} of {}",
        bytes.len()
    );
    drain(client)
}

/// Fault injection, finding 4: the decoder held a partial response head (its first TLS
/// record) when a full plaintext buffer (64 KiB) arrived in one slice. The client offered
/// the decoder the whole buffer, which does not fit beside the partial head and was
/// refused on every pass: the response, though it had arrived whole, was never delivered,
/// and the request timed out. Now the decoder is offered what fits.
#[test]
fn a_partial_head_then_a_full_plaintext_buffer_in_one_slice_is_delivered() {
    let pki = TestServerPki::new();
    let mut srv = new_api(&pki);
    let t0 = Instant::from_secs(5);
    let mut client = connected_client(&pki, &mut srv, t0);
    srv.respond = Box::new(|tls, _: &Seen| {
        tls.writer()
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Len")
            .unwrap();
        let mut rest = b"gth: 100000\r\n\r\n".to_vec();
        rest.resize(rest.len() + 100_000, b'x');
        tls.writer().write_all(&rest).unwrap();
    });
    client.send(ApiRequest::get("/v2.01/cid/big"), t0);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = client.poll_transmit(&mut buf);
        if n == 0 {
            break;
        }
        srv.receive(&buf[..n]);
    }
    let bytes = srv.transmit();
    let (head_part, rest) = split_first_record(&bytes);
    let mut events = offer(&mut client, head_part, t0);
    assert!(outcomes(&events).is_empty());
    events.extend(offer(&mut client, rest, t0));
    assert_eq!(outcomes(&events), vec!["1:200:100000".to_string()]);
    assert!(client.is_connected() && client.is_idle());
}

/// The same stall with a response head larger than the decoder may buffer (a
/// `max_buffered` below the head): a typed error at once, not a wait for the timeout.
#[test]
fn a_head_larger_than_the_decoder_buffer_is_a_typed_error_not_a_stall() {
    let pki = TestServerPki::new();
    let mut config = ClientConfig::new(
        "https://localhost",
        Auth::CertificateOnly,
        &identity_for_fixture(&pki.ca, "p256-sec1"),
        pki.trust(),
    )
    .unwrap();
    config.http_limits.max_buffered = 64;
    let mut client = Client::new(config);
    let mut srv = new_api(&pki);
    let t0 = Instant::from_secs(5);
    client.send(ApiRequest::get("/v2.01/cid/users/1"), t0);
    client.open_connection(t0, wall_now()).unwrap();
    let events = pump(&mut client, &mut srv, t0, usize::MAX);
    assert_eq!(srv.seen.len(), 1, "the server answered");
    assert_eq!(
        closed_with(&events),
        vec![Some(Error::Http(mtls_core::http::HttpError::Local(
            mtls_core::http::LocalError::BufferFull
        )))]
    );
    // The GET ends with that error: on a new connection it would fail the same way.
    assert_eq!(
        outcomes(&events),
        vec!["0:failed:OutcomeUnknown:Http(Local(BufferFull))".to_string()]
    );
    assert!(!client.wants_connection());
}
