//! Pinned state transcripts of the sans-IO client (as rustls' `TLS13_CLIENT_TRANSCRIPT`):
//! for each main flow, the sequence of (host step, connection state after it, events it
//! produced) is a table checked here, against an in-memory rustls server that requires
//! client certificates, on a fake clock. And the drain-only contract: the same flows give
//! the same events and the same bytes at the server however the outputs are drained.

mod common;

use std::io::Write;

use common::fake_api::{new_client, respond_json, FakeApi, Responder};
use common::*;
use mtls_core::client::ConnectionState::{self, *};
use mtls_core::client::Event;
use mtls_core::time::Instant;
use mtls_core::{ApiRequest, Client};

/// One thing the host does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// `send(GET path)`.
    Send(&'static str),
    /// `open_connection` (the transport is a fresh in-memory pipe).
    Open,
    /// Drain `poll_transmit` into the server, which answers what it can. An output: it
    /// must never produce an event or change the state.
    Flush,
    /// Hand everything the server wrote to `handle_input` in one piece.
    Deliver,
    /// The transport ended (`handle_eof`).
    Eof,
    /// The server sends close_notify (then `Deliver` carries it).
    ServerCloses,
    /// The fake clock moves forward by this many seconds (`handle_timeout`).
    Wait(u64),
}

use Step::*;

type Transcript = &'static [(Step, ConnectionState, &'static [&'static str])];

/// What the host sees of an event, in the transcript's words.
fn name(event: &Event) -> String {
    match event {
        Event::Connected { .. } => "Connected".into(),
        Event::TokenFetched { .. } => "TokenFetched".into(),
        Event::TokenRejected(id) => format!("TokenRejected({})", id.as_u64()),
        Event::Response(id, r) => format!("Response({}, {})", id.as_u64(), r.status),
        Event::ScaRequired { id, .. } => format!("ScaRequired({})", id.as_u64()),
        Event::Failed(id, f) => format!("Failed({}, {:?}, {:?})", id.as_u64(), f.kind, f.error),
        Event::ConnectionClosed { error: None } => "Closed".into(),
        Event::ConnectionClosed { error: Some(e) } => format!("Closed({e:?})"),
        Event::Warning(w) => format!("Warning({w:?})"),
        other => format!("{other:?}"),
    }
}

/// Runs `steps` and returns the transcript as it happened.
fn run(
    client: &mut Client,
    api: &mut FakeApi,
    steps: &[Step],
) -> Vec<(Step, ConnectionState, Vec<String>)> {
    let mut now = Instant::from_secs(1_000);
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    for &step in steps {
        match step {
            Send(path) => {
                client.send(ApiRequest::get(path), now);
            }
            Open => client.open_connection(now, wall_now()).unwrap(),
            Flush => loop {
                let n = client.poll_transmit(&mut buf);
                if n == 0 {
                    break;
                }
                api.receive(&buf[..n]);
            },
            Deliver => {
                let bytes = api.transmit();
                let taken = client.handle_input(&bytes, now);
                assert!(taken == bytes.len() || !client.is_connected());
            }
            Eof => client.handle_eof(now),
            ServerCloses => api.tls.send_close_notify(),
            Wait(secs) => {
                now = now + std::time::Duration::from_secs(secs);
                client.handle_timeout(now);
            }
        }
        let mut events = Vec::new();
        while let Some(e) = client.poll_event() {
            events.push(name(&e));
        }
        out.push((step, client.state(), events));
    }
    out
}

fn check(client: &mut Client, api: &mut FakeApi, transcript: Transcript) {
    let steps: Vec<Step> = transcript.iter().map(|(s, _, _)| *s).collect();
    let actual = run(client, api, &steps);
    let expected: Vec<(Step, ConnectionState, Vec<String>)> = transcript
        .iter()
        .map(|(s, st, ev)| (*s, *st, ev.iter().map(|e| e.to_string()).collect()))
        .collect();
    for (i, (a, e)) in actual.iter().zip(&expected).enumerate() {
        assert_eq!(a, e, "step {i} differs; whole run: {actual:#?}");
    }
}

/// The handshake and the first request: the token is fetched first, on the same connection.
const FIRST_CONNECTION: Transcript = &[
    (Send("/v2.01/cid/users/1"), Disconnected, &[]),
    (Open, Handshaking, &[]),
    (Flush, Handshaking, &[]),
    (Deliver, FetchingToken, &["Connected"]),
    (Flush, FetchingToken, &[]),
    (Deliver, Requesting, &["TokenFetched"]),
    (Flush, Requesting, &[]),
    (Deliver, Ready, &["Response(0, 200)"]),
];

/// A second request 29 s later reuses the token (refresh is at `expires_in` - 30 s = 30 s).
const TOKEN_REUSE: Transcript = &[
    (Wait(29), Ready, &[]),
    (Send("/v2.01/cid/users/2"), Requesting, &[]),
    (Flush, Requesting, &[]),
    (Deliver, Ready, &["Response(1, 200)"]),
];

/// Past the refresh margin, the next request fetches a new token first.
const REFRESH_AT_EXPIRY: Transcript = &[
    (Wait(31), Ready, &[]),
    (Send("/v2.01/cid/users/2"), FetchingToken, &[]),
    (Flush, FetchingToken, &[]),
    (Deliver, Requesting, &["TokenFetched"]),
    (Flush, Requesting, &[]),
    (Deliver, Ready, &["Response(1, 200)"]),
];

/// A `401` invalidates the token: one new token, one retry.
const UNAUTHORIZED_THEN_RETRY: Transcript = &[
    (Send("/v2.01/cid/revoked"), Requesting, &[]),
    (Flush, Requesting, &[]),
    (Deliver, FetchingToken, &["TokenRejected(1)"]),
    (Flush, FetchingToken, &[]),
    (Deliver, Requesting, &["TokenFetched"]),
    (Flush, Requesting, &[]),
    (Deliver, Ready, &["Response(1, 200)"]),
];

/// Mangopay's `401 PendingUserAction` is SCA, not a token problem: no refresh.
const SCA_401: Transcript = &[
    (Send("/v2.01/cid/sca"), Requesting, &[]),
    (Flush, Requesting, &[]),
    (Deliver, Ready, &["ScaRequired(1)"]),
];

/// The server closes an idle connection: answered, over; the next request asks for a new
/// connection.
const SERVER_CLOSE_BETWEEN_REQUESTS: Transcript = &[
    (ServerCloses, Ready, &[]),
    (Deliver, Disconnected, &["Closed"]),
    (Flush, Disconnected, &[]),
    (Eof, Disconnected, &[]),
    (Send("/v2.01/cid/users/2"), Disconnected, &[]),
];

/// The transport ends mid-request without close_notify: a truncation. The GET is
/// idempotent, so it waits for a new connection.
const TRUNCATION: Transcript = &[
    (Send("/v2.01/cid/silent"), Requesting, &[]),
    (Flush, Requesting, &[]),
    (
        Eof,
        Disconnected,
        &["Closed(Tls(Truncated { during_handshake: false }))"],
    ),
];

/// The server refuses our certificate (issued by a CA it does not trust): every request
/// ends, not sent.
const HANDSHAKE_REFUSAL: Transcript = &[
    (Send("/v2.01/cid/users/1"), Disconnected, &[]),
    (Open, Handshaking, &[]),
    (Flush, Handshaking, &[]),
    // TLS 1.3: the client's handshake is done once it has the server's flight; the server
    // judges the client certificate only when it reads the client's, and the token request
    // travels with it.
    (Deliver, FetchingToken, &["Connected"]),
    (Flush, FetchingToken, &[]),
    (
        Deliver,
        Disconnected,
        &[
            // Refused before the server read any request: not sent.
            "Failed(0, NotSent, Tls(AlertReceived(Alert(unknown_ca))))",
            "Closed(Tls(AlertReceived(Alert(unknown_ca))))",
        ],
    ),
];

/// `GET .../revoked` is refused once with 401, `.../sca` always answers SCA, `.../silent`
/// is never answered; everything else is `200 {}`.
fn api(pki: &TestServerPki) -> FakeApi {
    let mut refused = false;
    let respond: Responder = Box::new(move |tls, seen| {
        if seen.path.ends_with("/silent") {
            return;
        }
        if seen.path.ends_with("/sca") {
            write!(
                tls.writer(),
                "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: PendingUserAction \
                 RedirectUrl=https://sca.example/x\r\nContent-Length: 0\r\n\r\n"
            )
            .unwrap();
            return;
        }
        if seen.path.ends_with("/revoked") && !refused {
            refused = true;
            write!(
                tls.writer(),
                "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n"
            )
            .unwrap();
            return;
        }
        respond_json(tls, "{}");
    });
    FakeApi::with_responder(pki, respond)
}

/// A client that has been through [`FIRST_CONNECTION`].
fn connected(pki: &TestServerPki, api: &mut FakeApi) -> Client {
    let mut client = new_client(pki);
    check(&mut client, api, FIRST_CONNECTION);
    client
}

#[test]
fn transcript_first_connection_fetches_the_token_first() {
    let pki = TestServerPki::new();
    let mut api = api(&pki);
    let client = connected(&pki, &mut api);
    assert_eq!(api.tokens_issued, 1);
    assert_eq!(
        client.poll_timeout(),
        None,
        "an idle connection has no timer"
    );
}

#[test]
fn transcript_token_reuse() {
    let pki = TestServerPki::new();
    let mut api = api(&pki);
    let mut client = connected(&pki, &mut api);
    check(&mut client, &mut api, TOKEN_REUSE);
    assert_eq!(api.tokens_issued, 1);
}

#[test]
fn transcript_refresh_at_expiry() {
    let pki = TestServerPki::new();
    let mut api = api(&pki);
    let mut client = connected(&pki, &mut api);
    check(&mut client, &mut api, REFRESH_AT_EXPIRY);
    assert_eq!(api.tokens_issued, 2);
}

#[test]
fn transcript_401_then_retry() {
    let pki = TestServerPki::new();
    let mut api = api(&pki);
    let mut client = connected(&pki, &mut api);
    check(&mut client, &mut api, UNAUTHORIZED_THEN_RETRY);
    assert_eq!(api.tokens_issued, 2);
    let auths: Vec<&str> = api.seen.iter().map(|s| s.auth.as_str()).collect();
    assert_eq!(auths[auths.len() - 1], "Bearer tok2");
}

#[test]
fn transcript_sca_401() {
    let pki = TestServerPki::new();
    let mut api = api(&pki);
    let mut client = connected(&pki, &mut api);
    check(&mut client, &mut api, SCA_401);
    assert_eq!(api.tokens_issued, 1, "SCA keeps the token");
}

#[test]
fn transcript_server_close_between_requests() {
    let pki = TestServerPki::new();
    let mut api = api(&pki);
    let mut client = connected(&pki, &mut api);
    check(&mut client, &mut api, SERVER_CLOSE_BETWEEN_REQUESTS);
    assert!(client.wants_connection());
}

#[test]
fn transcript_truncation() {
    let pki = TestServerPki::new();
    let mut api = api(&pki);
    let mut client = connected(&pki, &mut api);
    check(&mut client, &mut api, TRUNCATION);
    assert!(
        client.wants_connection(),
        "the GET is retried on a new connection"
    );
}

#[test]
fn transcript_handshake_refusal() {
    let pki = TestServerPki::new();
    let other = TestServerPki::named("someone else's CA");
    let identity = identity_for_fixture(&other.ca, "p256-sec1");
    let mut client = common::fake_api::client_with(&pki, &identity);
    let mut api = api(&pki);
    check(&mut client, &mut api, HANDSHAKE_REFUSAL);
    assert!(!client.wants_connection(), "a refused certificate is fatal");
}

/// How a host drains the outputs after each input.
#[derive(Clone, Copy, Debug)]
enum Drain {
    TransmitThenEvents,
    EventsThenTransmit,
    /// One event, then 7 bytes, then a look at the timer, and again, until both are empty.
    Interleaved,
}

/// Moves bytes both ways until neither side has anything to say, draining the client's
/// outputs in `order`. Returns the events seen.
fn pump_in_order(
    client: &mut Client,
    api: &mut FakeApi,
    now: Instant,
    order: Drain,
) -> Vec<String> {
    let mut events = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    for _ in 0..100 {
        let mut wrote = Vec::new();
        match order {
            Drain::TransmitThenEvents | Drain::EventsThenTransmit => {
                if let Drain::EventsThenTransmit = order {
                    while let Some(e) = client.poll_event() {
                        events.push(name(&e));
                    }
                }
                loop {
                    let n = client.poll_transmit(&mut buf);
                    if n == 0 {
                        break;
                    }
                    wrote.extend_from_slice(&buf[..n]);
                }
                while let Some(e) = client.poll_event() {
                    events.push(name(&e));
                }
            }
            Drain::Interleaved => loop {
                let event = client.poll_event();
                let n = client.poll_transmit(&mut buf[..7]);
                wrote.extend_from_slice(&buf[..n]);
                let _ = client.poll_timeout();
                match event {
                    Some(e) => events.push(name(&e)),
                    None if n == 0 => break,
                    None => {}
                }
            },
        }
        api.receive(&wrote);
        let answer = api.transmit();
        if wrote.is_empty() && answer.is_empty() {
            break;
        }
        if !answer.is_empty() && client.is_connected() {
            client.handle_input(&answer, now);
        }
    }
    events
}

#[test]
fn draining_the_outputs_in_any_order_gives_the_same_events_and_bytes() {
    let pki = TestServerPki::new();
    let mut runs = Vec::new();
    for order in [
        Drain::TransmitThenEvents,
        Drain::EventsThenTransmit,
        Drain::Interleaved,
    ] {
        let mut client = new_client(&pki);
        let mut api = api(&pki);
        let t0 = Instant::from_secs(7);
        let mut events = Vec::new();
        for path in ["/v2.01/cid/users/1", "/v2.01/cid/revoked", "/v2.01/cid/sca"] {
            client.send(ApiRequest::get(path), t0);
        }
        client.open_connection(t0, wall_now()).unwrap();
        events.extend(pump_in_order(&mut client, &mut api, t0, order));
        // The server closes; the next request needs a new connection (a new server too).
        api.tls.send_close_notify();
        events.extend(pump_in_order(&mut client, &mut api, t0, order));
        client.handle_eof(t0);
        client.send(ApiRequest::get("/v2.01/cid/users/2"), t0);
        assert!(client.wants_connection(), "{order:?}");
        let mut second = self::api(&pki);
        client.open_connection(t0, wall_now()).unwrap();
        events.extend(pump_in_order(&mut client, &mut second, t0, order));
        runs.push((order, events, api.received, second.received));
    }
    let (_, events, received, second_received) = &runs[0];
    assert_eq!(
        events
            .iter()
            .filter(|e| e.starts_with("Response") || e.starts_with("Sca"))
            .count(),
        4,
        "{events:?}"
    );
    assert!(
        events.contains(&"TokenRejected(1)".to_string()),
        "{events:?}"
    );
    for (order, other_events, other_received, other_second) in &runs[1..] {
        assert_eq!(other_events, events, "{order:?}: events differ");
        // The ciphertext differs between runs (TLS randomness); what the server decrypted
        // must not.
        assert_eq!(
            other_received, received,
            "{order:?}: bytes at the server differ"
        );
        assert_eq!(
            other_second, second_received,
            "{order:?}: bytes at the second server"
        );
    }
}

/// Fault injection, finding 1: a request that reached the server, on a connection that then
/// broke, must never be reported "not sent", however the next connections fail.
#[test]
fn a_request_that_reached_the_server_is_never_reported_not_sent() {
    let pki = TestServerPki::new();
    for keyed_post in [false, true] {
        let mut api = api(&pki);
        let mut client = connected(&pki, &mut api);
        api.mute = true;
        let request = if keyed_post {
            ApiRequest::post("/v2.01/cid/payins", b"{}".to_vec())
                .idempotency_key(mtls_core::auth::IdempotencyKey::from_random([3; 16]))
        } else {
            ApiRequest::get("/v2.01/cid/users/9")
        };
        let id = client.send(request, Instant::from_secs(1_000));
        let steps = [
            Flush, Eof, Open, Flush, Eof, Open, Flush, Eof, Open, Flush, Eof,
        ];
        let transcript = run(&mut client, &mut api, &steps);
        assert!(
            api.seen.iter().any(|s| s.path.ends_with(if keyed_post {
                "/payins"
            } else {
                "/users/9"
            })),
            "the server read the request"
        );
        let last = &transcript.last().unwrap().2;
        let failed = format!(
            "Failed({}, OutcomeUnknown, Tls(Truncated {{ during_handshake: true }}))",
            id.as_u64()
        );
        assert!(last.contains(&failed), "{transcript:#?}");
        // The message says the handshake failed, and that the request may have arrived.
        let failure = mtls_core::client::Failure {
            kind: mtls_core::client::FailureKind::OutcomeUnknown,
            error: mtls_core::Error::Tls(mtls_core::tls::TlsError::Truncated {
                during_handshake: true,
            }),
        };
        assert_eq!(
            failure.to_string(),
            "TLS: the connection closed during the TLS handshake (request outcome unknown: it may \
             have reached the server)"
        );
        assert!(!client.wants_connection());
    }
}

/// Fault injection, finding 2: the whole response arrives, then a fatal alert in the same
/// read: the response is delivered, then the connection ends.
#[test]
fn a_complete_response_followed_by_an_alert_is_delivered() {
    let pki = TestServerPki::new();
    let mut api = api(&pki);
    let mut client = connected(&pki, &mut api);
    let id = client.send(
        ApiRequest::get("/v2.01/cid/users/5"),
        Instant::from_secs(1_000),
    );
    run(&mut client, &mut api, &[Flush]);
    // The server has written the response; a broken record from the client's direction
    // then makes it send a fatal alert after it.
    let mut garbage: &[u8] = &[0x17, 0x03, 0x03, 0x00, 0x01, 0x00];
    api.tls.read_tls(&mut garbage).unwrap();
    assert!(api.tls.process_new_packets().is_err());
    let transcript = run(&mut client, &mut api, &[Deliver]);
    let (_, state, events) = &transcript[0];
    assert_eq!(*state, Disconnected);
    assert_eq!(
        events[0],
        format!("Response({}, 200)", id.as_u64()),
        "{events:?}"
    );
    assert!(
        events[1].starts_with("Closed(Tls(AlertReceived"),
        "{events:?}"
    );
}
