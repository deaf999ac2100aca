//! The sans-IO client driven by bytes and a fake clock, no sockets: an in-memory rustls
//! server (ring provider) with a small token + API responder on top.

mod common;

use std::time::Duration;

use common::fake_api::{new_client, pump, FakeApi};
use common::*;
use mtls_core::auth::{CachePolicy, Credentials};
use mtls_core::client::Auth;
use mtls_core::client::{Event, FailureKind};
use mtls_core::time::Instant;
use mtls_core::{ApiRequest, Client, ClientConfig, Error};

fn statuses(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Response(id, r) => Some(format!(
                "{}:{}:{}",
                id.as_u64(),
                r.status,
                String::from_utf8_lossy(&r.body)
            )),
            Event::Failed(id, f) => Some(format!("{}:failed:{:?}", id.as_u64(), f)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_token_without_expires_in_lives_the_policys_default_lifetime() {
    let pki = TestServerPki::new();
    let mut client = new_client(&pki);
    let mut api = FakeApi::new(&pki);
    api.expires_in = 0; // the answer has no `expires_in`
    let t0 = Instant::from_secs(1_000);
    client.send(ApiRequest::get("/v2.01/cid/users/1"), t0);
    client.open_connection(t0, wall_now()).unwrap();
    let events = pump(&mut client, &mut api, t0, usize::MAX);
    let lifetime = CachePolicy::DEFAULT_LIFETIME;
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::TokenFetched { expires_in } if *expires_in == lifetime)),
        "{events:?}"
    );
    // Reused until the default lifetime less the 30 s margin, then refreshed.
    let margin = CachePolicy::DEFAULT_REFRESH_MARGIN;
    let before = t0 + (lifetime - margin - Duration::from_secs(1));
    client.send(ApiRequest::get("/v2.01/cid/users/2"), before);
    pump(&mut client, &mut api, before, usize::MAX);
    assert_eq!(api.tokens_issued, 1);
    let after = t0 + (lifetime - margin + Duration::from_secs(1));
    client.send(ApiRequest::get("/v2.01/cid/users/3"), after);
    let events = pump(&mut client, &mut api, after, usize::MAX);
    assert_eq!(api.tokens_issued, 2);
    assert_eq!(
        statuses(&events),
        vec![r#"2:200:{"path":"/v2.01/cid/users/3","auth":"Bearer tok2"}"#]
    );
}

#[test]
fn the_token_is_fetched_first_then_reused_then_refreshed_by_the_clock() {
    let pki = TestServerPki::new();
    let mut client = new_client(&pki);
    let mut api = FakeApi::new(&pki);
    let t0 = Instant::from_secs(1_000);

    client.send(ApiRequest::get("/v2.01/cid/users/1"), t0);
    assert!(client.wants_connection());
    client.open_connection(t0, wall_now()).unwrap();
    let events = pump(&mut client, &mut api, t0, usize::MAX);
    assert_eq!(
        statuses(&events),
        vec![r#"0:200:{"path":"/v2.01/cid/users/1","auth":"Bearer tok1"}"#]
    );
    assert!(events.iter().any(|e| matches!(e, Event::TokenFetched { expires_in } if *expires_in == Duration::from_secs(60))));
    // The token request carried the Basic credentials, the API call the Bearer token.
    assert_eq!(api.seen[0].method, "POST");
    assert_eq!(api.seen[0].path, "/v2.01/oauth/token");
    assert_eq!(api.seen[0].auth, "Basic Y2lkOnNlY3JldC1hcGkta2V5");

    // 29 s later (before expires_in - 30 s margin): reused.
    let t1 = t0 + Duration::from_secs(29);
    client.send(ApiRequest::get("/v2.01/cid/users/2"), t1);
    let events = pump(&mut client, &mut api, t1, usize::MAX);
    assert_eq!(
        statuses(&events),
        vec![r#"1:200:{"path":"/v2.01/cid/users/2","auth":"Bearer tok1"}"#]
    );
    assert_eq!(api.tokens_issued, 1);

    // 31 s after the fetch the margin is reached: a new token is fetched on the same
    // connection before the call.
    let t2 = t0 + Duration::from_secs(31);
    client.send(ApiRequest::get("/v2.01/cid/users/3"), t2);
    let events = pump(&mut client, &mut api, t2, usize::MAX);
    assert_eq!(
        statuses(&events),
        vec![r#"2:200:{"path":"/v2.01/cid/users/3","auth":"Bearer tok2"}"#]
    );
    assert_eq!(api.tokens_issued, 2);
    assert_eq!(api.seen.len(), 5);
    assert!(client.is_connected());
}

#[test]
fn byte_by_byte_input_gives_the_same_outcomes() {
    let pki = TestServerPki::new();
    for split in [1, 7, 100, usize::MAX] {
        let mut client = new_client(&pki);
        let mut api = FakeApi::new(&pki);
        let t0 = Instant::from_secs(5);
        client.send(ApiRequest::get("/v2.01/cid/users/1"), t0);
        client.send(
            ApiRequest::post("/v2.01/cid/users", b"{\"a\":1}".to_vec()),
            t0,
        );
        client.open_connection(t0, wall_now()).unwrap();
        let events = pump(&mut client, &mut api, t0, split);
        assert_eq!(
            statuses(&events),
            vec![
                r#"0:200:{"path":"/v2.01/cid/users/1","auth":"Bearer tok1"}"#.to_string(),
                r#"1:200:{"path":"/v2.01/cid/users","auth":"Bearer tok1"}"#.to_string(),
            ],
            "split {split}"
        );
    }
}

#[test]
fn a_silent_server_times_out_a_post_as_outcome_unknown() {
    let pki = TestServerPki::new();
    let mut client = new_client(&pki);
    let mut api = FakeApi::new(&pki);
    let t0 = Instant::from_secs(5);
    client.send(ApiRequest::get("/v2.01/cid/users/1"), t0);
    client.open_connection(t0, wall_now()).unwrap();
    let _ = pump(&mut client, &mut api, t0, usize::MAX);

    api.mute = true;
    let id = client.send(ApiRequest::post("/v2.01/cid/payins", b"{}".to_vec()), t0);
    let _ = pump(&mut client, &mut api, t0, usize::MAX);
    let deadline = client.poll_timeout().expect("a request deadline");
    assert_eq!(deadline, t0 + Duration::from_secs(30));
    client.handle_timeout(deadline - Duration::from_millis(1));
    assert!(client.poll_event().is_none(), "not yet");
    client.handle_timeout(deadline);
    let mut failed = None;
    let mut closed = false;
    while let Some(e) = client.poll_event() {
        match e {
            Event::Failed(i, f) => failed = Some((i, f)),
            Event::ConnectionClosed { error } => closed = error == Some(Error::Timeout),
            _ => {}
        }
    }
    let (i, f) = failed.expect("the POST failed");
    assert_eq!(i, id);
    assert_eq!(f.kind, FailureKind::OutcomeUnknown);
    assert_eq!(f.error, Error::Timeout);
    assert!(closed);
    assert!(!client.is_connected());
    assert!(client.is_idle());
}

#[test]
fn bytes_nobody_asked_for_close_the_connection() {
    let pki = TestServerPki::new();
    let mut client = new_client(&pki);
    let mut api = FakeApi::new(&pki);
    let t0 = Instant::from_secs(5);
    client.send(ApiRequest::get("/v2.01/cid/users/1"), t0);
    client.open_connection(t0, wall_now()).unwrap();
    let _ = pump(&mut client, &mut api, t0, usize::MAX);
    use std::io::Write;
    api.tls.writer().write_all(b"HTTP/1.1 200 OK\r\n").unwrap();
    let events = pump(&mut client, &mut api, t0, usize::MAX);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::ConnectionClosed {
            error: Some(Error::UnsolicitedData)
        }
    )));
    assert!(!client.is_connected());
}

#[test]
fn a_mangopay_host_without_api_mtls_is_warned_about() {
    let pki = TestServerPki::new();
    let identity = identity_for_fixture(&pki.ca, "p256-sec1");
    let config = ClientConfig::new(
        "https://api.sandbox.mangopay.com",
        Auth::ClientCredentials(Credentials::new("cid", "k").unwrap()),
        &identity,
        pki.trust(),
    )
    .unwrap();
    let mut client = Client::new(config);
    match client.poll_event() {
        Some(Event::Warning(mtls_core::client::Warning::BaseUrl(w))) => {
            assert!(w.to_string().contains("api-mtls"), "{w}")
        }
        other => panic!("expected a base URL warning, got {other:?}"),
    }
}

#[test]
fn a_body_larger_than_every_buffer_arrives_whole() {
    let pki = TestServerPki::new();
    let mut client = new_client(&pki);
    let mut api = FakeApi::new(&pki);
    let t0 = Instant::from_secs(5);
    client.send(ApiRequest::get("/v2.01/cid/big"), t0);
    client.send(ApiRequest::get("/v2.01/cid/users/1"), t0);
    client.open_connection(t0, wall_now()).unwrap();
    for split in [usize::MAX, 16 * 1024, 1000] {
        let events = pump(&mut client, &mut api, t0, split);
        let bodies: Vec<usize> = events
            .iter()
            .filter_map(|e| match e {
                Event::Response(_, r) => Some(r.body.len()),
                _ => None,
            })
            .collect();
        assert_eq!(bodies.len(), 2, "split {split}");
        assert_eq!(bodies[0], 300_000);
        client.send(ApiRequest::get("/v2.01/cid/big"), t0);
        client.send(ApiRequest::get("/v2.01/cid/users/1"), t0);
    }
}

/// Catches a retry of an answer that broke a limit: the same request gets the same answer,
/// so it ends at once with the limit's error (seen on the QEMU board, where the retry then
/// failed as "the UART carries one connection"), and the next request still goes out.
#[test]
fn an_answer_over_the_body_limit_ends_its_request_without_a_retry() {
    let pki = TestServerPki::new();
    let identity = identity_for_fixture(&pki.ca, "p256-sec1");
    let mut config = ClientConfig::new(
        "https://localhost",
        Auth::ClientCredentials(Credentials::new("cid", "secret-api-key").unwrap()),
        &identity,
        pki.trust(),
    )
    .unwrap();
    config.http_limits.max_body_size = 100_000; // the big answer has 300,000 bytes
    let mut client = Client::new(config);
    let mut api = FakeApi::new(&pki);
    let t0 = Instant::from_secs(5);
    client.send(ApiRequest::get("/v2.01/cid/big"), t0);
    client.open_connection(t0, wall_now()).unwrap();
    let events = pump(&mut client, &mut api, t0, 16 * 1024);
    let failure = events
        .iter()
        .find_map(|e| match e {
            Event::Failed(_, f) => Some(f.to_string()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("the big GET must fail: {events:?}"));
    assert!(failure.contains("body larger than the limit"), "{failure}");
    assert!(!client.wants_connection(), "nothing is left to retry");
    let big_requests = api.seen.iter().filter(|s| s.path.ends_with("/big")).count();
    assert_eq!(big_requests, 1);
    // The client goes on with the next request, on a new connection with the same token.
    client.send(ApiRequest::get("/v2.01/cid/users/1"), t0);
    client.open_connection(t0, wall_now()).unwrap();
    let mut api = FakeApi::new(&pki);
    let events = pump(&mut client, &mut api, t0, usize::MAX);
    assert_eq!(
        statuses(&events),
        vec![r#"1:200:{"path":"/v2.01/cid/users/1","auth":"Bearer tok1"}"#]
    );
}

#[test]
fn certificate_only_mode_sends_no_token_request_and_no_authorization() {
    let pki = TestServerPki::new();
    let identity = identity_for_fixture(&pki.ca, "p256-sec1");
    let config = ClientConfig::new(
        "https://localhost",
        Auth::CertificateOnly,
        &identity,
        pki.trust(),
    )
    .unwrap();
    let mut client = Client::new(config);
    let mut api = FakeApi::new(&pki);
    let t0 = Instant::from_secs(5);
    client.send(ApiRequest::get("/petstore/pets"), t0);
    client.open_connection(t0, wall_now()).unwrap();
    let events = pump(&mut client, &mut api, t0, usize::MAX);
    assert_eq!(
        statuses(&events),
        vec![r#"0:200:{"path":"/petstore/pets","auth":""}"#]
    );
    assert_eq!(api.tokens_issued, 0);
    assert_eq!(api.seen.len(), 1);
}

/// The wall clock is an input of every connection: a long-running client hears, on its new
/// connections, that its certificate expires soon (once per day count), and once it has
/// expired no connection opens and the queue ends with the date.
#[test]
fn each_new_connection_checks_the_client_certificate_against_the_wall_clock() {
    use mtls_core::identity::{IdentityError, IdentityWarning};
    use mtls_core::time::UnixTime;
    let pki = TestServerPki::new();
    let now = now_secs();
    // Valid from yesterday for 40 days.
    let issued = usage_issue(
        &pki.ca,
        mtls_sandbox::Usage::Client,
        now - 86_400,
        now + 40 * 86_400,
    );
    let key = issued.key_pem.as_ref().unwrap();
    let identity =
        mtls_core::identity::Identity::from_pem(issued.cert_pem.as_bytes(), key.as_bytes())
            .unwrap();
    let mut client = common::fake_api::client_with(&pki, &identity);
    let at =
        |days: i64| UnixTime::since_unix_epoch(Duration::from_secs((now + days * 86_400) as u64));
    let expiry_warnings = |client: &mut Client| {
        let mut days = Vec::new();
        while let Some(e) = client.poll_event() {
            if let Event::Warning(mtls_core::client::Warning::Identity(
                IdentityWarning::ExpiresSoon { days_to_expiry },
            )) = e
            {
                days.push(days_to_expiry);
            }
        }
        days
    };
    let t = Instant::from_secs(1);
    // Today: 40 days left, no warning.
    client.send(ApiRequest::get("/v2.01/cid/users/1"), t);
    client.open_connection(t, at(0)).unwrap();
    assert_eq!(expiry_warnings(&mut client), Vec::<i64>::new());
    // 20 days on: 20 days left, one warning; a second connection the same day repeats nothing.
    client.open_connection(t, at(20)).unwrap();
    assert_eq!(expiry_warnings(&mut client), vec![20]);
    client.open_connection(t, at(20)).unwrap();
    assert_eq!(expiry_warnings(&mut client), Vec::<i64>::new());
    // The next day: the count dropped, a new warning.
    client.open_connection(t, at(21)).unwrap();
    assert_eq!(expiry_warnings(&mut client), vec![19]);
    // After expiry: refused with the date, and the queued request ends (never sent).
    // (The first request ended already: three handshakes in a row were abandoned above.)
    let id = client.send(ApiRequest::get("/v2.01/cid/users/2"), t);
    let err = client.open_connection(t, at(41)).unwrap_err();
    let expired = IdentityError::Expired {
        not_after: (now + 40 * 86_400) as u64,
    };
    assert_eq!(err, Error::Identity(expired.clone()));
    assert!(
        err.to_string()
            .contains("the client certificate expired on"),
        "{err}"
    );
    let mut failed = None;
    while let Some(e) = client.poll_event() {
        if let Event::Failed(fid, f) = e {
            if fid == id {
                failed = Some(f);
            }
        }
    }
    let failed = failed.expect("the queued request ends");
    assert_eq!(failed.kind, FailureKind::NotSent);
    assert_eq!(failed.error, Error::Identity(expired));
    assert!(!client.is_connected() && !client.wants_connection());
}

#[test]
fn a_rotated_identity_leaves_the_open_connection_and_is_presented_by_the_next() {
    let pki = TestServerPki::new();
    let first = identity_for_fixture(&pki.ca, "p256-sec1");
    let second = identity_for_fixture(&pki.ca, "rsa2048-pkcs1");
    let mut client = common::fake_api::client_with(&pki, &first);
    let mut api = FakeApi::new(&pki);
    let t0 = Instant::from_secs(1_000);
    client.send(ApiRequest::get("/v2.01/cid/users/1"), t0);
    client.open_connection(t0, wall_now()).unwrap();
    pump(&mut client, &mut api, t0, usize::MAX);
    let presented = |api: &FakeApi| api.tls.peer_certificates().unwrap()[0].clone();
    assert_eq!(presented(&api), first.chain()[0]);

    client.set_identity(&second).unwrap();
    assert!(client.is_connected(), "the open connection stays");
    client.send(ApiRequest::get("/v2.01/cid/users/2"), t0);
    let events = pump(&mut client, &mut api, t0, usize::MAX);
    assert_eq!(
        statuses(&events),
        vec![r#"1:200:{"path":"/v2.01/cid/users/2","auth":"Bearer tok1"}"#],
        "served on the same connection with the same token"
    );

    // The next connection presents the new certificate; the token is kept.
    client.discard_connection();
    let mut api2 = FakeApi::new(&pki);
    client.send(ApiRequest::get("/v2.01/cid/users/3"), t0);
    client.open_connection(t0, wall_now()).unwrap();
    let events = pump(&mut client, &mut api2, t0, usize::MAX);
    assert_eq!(presented(&api2), second.chain()[0]);
    assert_eq!(
        statuses(&events),
        vec![r#"2:200:{"path":"/v2.01/cid/users/3","auth":"Bearer tok1"}"#]
    );
    assert_eq!(
        api2.tokens_issued, 0,
        "no token request on the new connection"
    );
}
