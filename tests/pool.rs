//! The blocking pool (`io::Pool`) against the sandbox: many threads, one token, bounded
//! connections, transparent reconnects, and the not-sent / outcome-unknown contract. Every
//! test name contains `pool`, so `cargo test pool` selects them.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use mtls_core::auth::{Credentials, IdempotencyKey};
use mtls_core::client::{Auth, Event, FailureKind};
use mtls_core::identity::{CaBundle, Identity};
use mtls_core::io::{Pool, PoolOptions, RequestError};
use mtls_core::tls::Trust;
use mtls_core::{ApiRequest, ClientConfig, Error};
use mtls_sandbox::{IssueSpec, Sandbox, SandboxConfig};

fn config_for(sandbox: &Sandbox) -> ClientConfig {
    let issued = sandbox.issue_client_identity().unwrap();
    let identity = Identity::from_pem(
        issued.cert_pem.as_bytes(),
        issued.key_pem.as_ref().unwrap().as_bytes(),
    )
    .unwrap();
    let trust = Trust::Custom(CaBundle::from_pem(sandbox.ca_pem().as_bytes()).unwrap());
    let credentials = Credentials::new(sandbox.client_id(), sandbox.api_key()).unwrap();
    ClientConfig::new(
        &sandbox.base_url(),
        Auth::ClientCredentials(credentials),
        &identity,
        trust,
    )
    .unwrap()
}

fn pool_with(sandbox: &Sandbox, max_connections: usize) -> Pool {
    Pool::new(
        config_for(sandbox),
        PoolOptions {
            max_connections,
            ..PoolOptions::default()
        },
    )
}

fn user_path(sandbox: &Sandbox, id: usize) -> String {
    format!("/v2.01/{}/users/{id}", sandbox.client_id())
}

fn failure_of(
    outcome: Result<mtls_core::http::Response, RequestError>,
) -> mtls_core::client::Failure {
    match outcome {
        Err(RequestError::Failed { failure, .. }) => failure,
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// Waits (bounded) until `done` holds; false if it never did.
fn eventually(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..2000 {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

#[test]
fn pool_is_a_cloneable_send_sync_handle() {
    fn check<T: Clone + Send + Sync + 'static>() {}
    check::<Pool>();
}

/// Issue 10: 32 threads x 50 requests at once -> one token request, no failure, and never
/// more connections than the pool allows (the sandbox counts completed handshakes).
#[test]
fn pool_32_threads_share_one_token_and_at_most_max_connections() {
    const THREADS: usize = 32;
    const PER_THREAD: usize = 50;
    const MAX: usize = 8;
    let sandbox = Arc::new(Sandbox::start(SandboxConfig::default()).unwrap());
    let pool = pool_with(&sandbox, MAX);
    let barrier = Arc::new(Barrier::new(THREADS));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let pool = pool.clone();
            let barrier = barrier.clone();
            let sandbox = sandbox.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let mut failures = Vec::new();
                for i in 0..PER_THREAD {
                    let id = t * PER_THREAD + i;
                    match pool.request(ApiRequest::get(&user_path(&sandbox, id))) {
                        Ok(response) if response.status == 200 => {
                            let body = String::from_utf8_lossy(&response.body);
                            assert!(body.contains(&format!("\"Id\":\"{id}\"")), "{body}");
                        }
                        other => failures.push(format!("{other:?}")),
                    }
                }
                failures
            })
        })
        .collect();
    let failures: Vec<String> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert!(
        failures.is_empty(),
        "{} failures: {:?}",
        failures.len(),
        failures.first()
    );
    assert_eq!(sandbox.token_requests(), 1);
    assert_eq!(sandbox.api_requests(), (THREADS * PER_THREAD) as u64);
    assert!(
        sandbox.connections() <= MAX as u64,
        "{} connections for a pool of {MAX}",
        sandbox.connections()
    );
    assert_eq!(pool.connections_opened(), sandbox.connections());
    let notices = pool.take_notices();
    let fetched = notices
        .iter()
        .filter(|e| matches!(e, Event::TokenFetched { .. }))
        .count();
    assert_eq!(fetched, 1);
    assert!(pool.take_notices().is_empty(), "taken once");
}

/// A server closing idle kept-alive connections (its keep-alive timeout): GETs reconnect
/// transparently, and an unkeyed POST sent after the close reaches the server exactly once.
#[test]
fn pool_reconnects_transparently_after_the_server_closes_idle_connections() {
    let sandbox = Arc::new(Sandbox::start(SandboxConfig::default()).unwrap());
    sandbox.knobs().set_idle_timeout_ms(50);
    let pool = pool_with(&sandbox, 4);
    let barrier = Arc::new(Barrier::new(4));
    for round in 0..3 {
        // Four callers at once, so that several pooled connections exist and go stale.
        let workers: Vec<_> = (0..4)
            .map(|t| {
                let pool = pool.clone();
                let barrier = barrier.clone();
                let path = user_path(&sandbox, round * 10 + t);
                std::thread::spawn(move || {
                    barrier.wait();
                    pool.request(ApiRequest::get(&path)).map(|r| r.status)
                })
            })
            .collect();
        for worker in workers {
            assert_eq!(worker.join().unwrap().unwrap(), 200);
        }
        // Bounded wait until the sandbox has closed every idle connection (it checks about
        // every 25 ms once the 50 ms are up).
        std::thread::sleep(Duration::from_millis(300));
        let post = ApiRequest::post(
            &user_path(&sandbox, 100 + round),
            format!("{{\"Tag\":\"round {round}\"}}").into_bytes(),
        )
        .header("Content-Type", "application/json");
        assert_eq!(pool.request(post).unwrap().status, 200);
        std::thread::sleep(Duration::from_millis(300));
    }
    let log = sandbox.request_log();
    for round in 0..3 {
        let target = user_path(&sandbox, 100 + round);
        let received = log
            .iter()
            .filter(|r| r.method == "POST" && r.target == target)
            .count();
        assert_eq!(
            received, 1,
            "the POST of round {round} was received {received} times"
        );
    }
    // Every round found its connections closed and opened new ones; one token throughout.
    assert!(
        pool.connections_opened() > 4,
        "{}",
        pool.connections_opened()
    );
    assert_eq!(pool.connections_opened(), sandbox.connections());
    assert_eq!(sandbox.token_requests(), 1);
}

/// A connection that breaks with the request on it (the server reads it and closes without
/// answering): a GET and a keyed POST are retried on a new connection; an unkeyed POST is
/// not sent twice and ends "outcome unknown".
#[test]
fn pool_retries_only_what_is_safe_when_a_connection_breaks_mid_request() {
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    let pool = pool_with(&sandbox, 2);
    assert_eq!(
        pool.request(ApiRequest::get(&user_path(&sandbox, 1)))
            .unwrap()
            .status,
        200
    );

    sandbox.knobs().set_close_before_response_count(1);
    let get = pool.request(ApiRequest::get(&user_path(&sandbox, 2)));
    assert_eq!(get.unwrap().status, 200);

    sandbox.knobs().set_close_before_response_count(1);
    let target = user_path(&sandbox, 3);
    let post = ApiRequest::post(&target, b"{\"Tag\":\"once\"}".to_vec())
        .header("Content-Type", "application/json");
    let failure = failure_of(pool.request(post.clone()));
    assert_eq!(failure.kind, FailureKind::OutcomeUnknown);

    sandbox.knobs().set_close_before_response_count(1);
    let keyed = post.idempotency_key(IdempotencyKey::from_random([9; 16]));
    assert_eq!(pool.request(keyed).unwrap().status, 200);

    let log = sandbox.request_log();
    let posts: Vec<_> = log
        .iter()
        .filter(|r| r.method == "POST" && r.target == target)
        .collect();
    let unkeyed = posts.iter().filter(|r| r.idempotency_key.is_none()).count();
    let keyed = posts.iter().filter(|r| r.idempotency_key.is_some()).count();
    assert_eq!(unkeyed, 1, "the unkeyed POST was sent once");
    assert_eq!(keyed, 2, "the keyed POST was retried once");
    assert_eq!(sandbox.token_requests(), 1);
}

/// All connections busy past the acquire timeout: the request fails, not sent, with a typed
/// error, and never reaches the server. Once the connection is free again it is reused.
#[test]
fn pool_exhausted_fails_not_sent_after_the_acquire_timeout() {
    let sandbox = Arc::new(Sandbox::start(SandboxConfig::default()).unwrap());
    let pool = Pool::new(
        config_for(&sandbox),
        PoolOptions {
            max_connections: 1,
            acquire_timeout: Duration::from_millis(50),
            ..PoolOptions::default()
        },
    );
    // Connect and fetch the token first, so that only the slow API call holds the pool.
    assert_eq!(
        pool.request(ApiRequest::get(&user_path(&sandbox, 1)))
            .unwrap()
            .status,
        200
    );
    sandbox.knobs().set_slow_response_ms(2_000);
    let busy = {
        let pool = pool.clone();
        let path = user_path(&sandbox, 2);
        std::thread::spawn(move || pool.request(ApiRequest::get(&path)).map(|r| r.status))
    };
    // The sandbox has read the slow request: the only connection is taken.
    assert!(eventually(|| sandbox.api_requests() == 2));

    let target = user_path(&sandbox, 3);
    let failure = failure_of(pool.request(ApiRequest::post(&target, b"{}".to_vec())));
    assert_eq!(failure.kind, FailureKind::NotSent);
    assert_eq!(failure.error, Error::PoolExhausted);
    assert_eq!(
        failure.to_string(),
        "no pooled connection became free within the acquire timeout (request not sent)"
    );

    assert_eq!(busy.join().unwrap().unwrap(), 200);
    sandbox.knobs().set_slow_response_ms(0);
    assert_eq!(
        pool.request(ApiRequest::get(&user_path(&sandbox, 4)))
            .unwrap()
            .status,
        200
    );
    assert!(sandbox.request_log().iter().all(|r| r.target != target));
    assert_eq!(pool.connections_opened(), 1);
    assert_eq!(sandbox.connections(), 1);
}

/// Nothing secret in the pool's `Debug`.
#[test]
fn pool_debug_output_holds_no_secret() {
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    let pool = pool_with(&sandbox, 2);
    assert_eq!(
        pool.request(ApiRequest::get(&user_path(&sandbox, 1)))
            .unwrap()
            .status,
        200
    );
    let debug = format!("{pool:?} {:?}", pool.take_notices());
    assert!(debug.contains("Pool"), "{debug}");
    assert!(!debug.contains(sandbox.api_key()), "API key leaked");
    let basic = sandbox.basic_authorization().trim_start_matches("Basic ");
    assert!(!debug.contains(basic), "Basic credentials leaked");
    assert!(
        !debug.to_lowercase().contains("bearer "),
        "a bearer value leaked"
    );
}

fn users_by_cn(sandbox: &Sandbox) -> Vec<Option<String>> {
    sandbox
        .request_log()
        .into_iter()
        .filter(|r| r.target.contains("/users/"))
        .map(|r| r.client_cn)
        .collect()
}

/// Issue 13: `Pool::set_identity` while requests are on the wire. Those finish with the old
/// certificate; every request after the call goes out on a new connection that presents the
/// new one; the token is kept.
#[test]
fn pool_rotates_the_identity_while_requests_are_in_flight() {
    const THREADS: usize = 4;
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    let pool = pool_with(&sandbox, THREADS);
    let old = Some(sandbox.client_id().to_owned());
    let new = Some("renewed-client".to_owned());
    // Warm up: connections with the old certificate, and the token.
    for i in 0..THREADS {
        pool.request(ApiRequest::get(&user_path(&sandbox, i)))
            .unwrap();
    }
    // Slow answers, so that the rotation happens while these are on the wire.
    sandbox.knobs().set_slow_response_ms(400);
    let started = Arc::new(Barrier::new(THREADS + 1));
    let in_flight: Vec<_> = (0..THREADS)
        .map(|i| {
            let (pool, started) = (pool.clone(), started.clone());
            let path = user_path(&sandbox, 100 + i);
            std::thread::spawn(move || {
                started.wait();
                pool.request(ApiRequest::get(&path)).map(|r| r.status)
            })
        })
        .collect();
    started.wait();
    assert!(
        eventually(|| users_by_cn(&sandbox).len() >= 2 * THREADS),
        "the slow requests reached the server"
    );
    let renewed = sandbox.issue(&IssueSpec::client("renewed-client")).unwrap();
    let identity = Identity::from_pem(
        renewed.cert_pem.as_bytes(),
        renewed.key_pem.as_ref().unwrap().as_bytes(),
    )
    .unwrap();
    pool.set_identity(&identity).unwrap();
    for handle in in_flight {
        assert_eq!(handle.join().unwrap().unwrap(), 200, "in flight: finished");
    }
    sandbox.knobs().set_slow_response_ms(0);
    let cns_before = users_by_cn(&sandbox);
    for i in 0..2 * THREADS {
        pool.request(ApiRequest::get(&user_path(&sandbox, 200 + i)))
            .unwrap();
    }
    let cns = users_by_cn(&sandbox);
    assert!(
        cns_before.iter().all(|cn| *cn == old),
        "warm-up and in-flight requests kept the old certificate: {cns_before:?}"
    );
    assert!(
        cns[cns_before.len()..].iter().all(|cn| *cn == new),
        "every request after the rotation presented the new certificate: {cns:?}"
    );
    assert_eq!(
        sandbox.token_requests(),
        1,
        "the token survives the rotation"
    );
}
