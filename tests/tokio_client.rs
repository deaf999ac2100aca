//! The tokio client and pool (feature `tokio`) against the sandbox: the flow, reconnects,
//! cancellation safety, and 32 tasks through one pool. `cargo test tokio` selects them.

#[path = "support/stall_proxy.rs"]
mod stall_proxy;

use std::sync::Arc;
use std::time::Duration;

use mtls_core::auth::{Credentials, IdempotencyKey};
use mtls_core::client::{Auth, Event, Failure, FailureKind};
use mtls_core::http::Response;
use mtls_core::identity::{CaBundle, Identity};
use mtls_core::io::{PoolOptions, RequestError, TokioClient, TokioPool};
use mtls_core::tls::Trust;
use mtls_core::{ApiRequest, ClientConfig, Error};
use mtls_sandbox::{Sandbox, SandboxConfig};
use stall_proxy::{Mode, StallProxy};

fn sandbox() -> Sandbox {
    Sandbox::start(SandboxConfig::default()).unwrap()
}

/// A configuration for the sandbox, reached at `base_url` (the sandbox's own, or a proxy's).
fn config_at(sandbox: &Sandbox, base_url: &str) -> ClientConfig {
    let issued = sandbox.issue_client_identity().unwrap();
    let identity = Identity::from_pem(
        issued.cert_pem.as_bytes(),
        issued.key_pem.as_ref().unwrap().as_bytes(),
    )
    .unwrap();
    let trust = Trust::Custom(CaBundle::from_pem(sandbox.ca_pem().as_bytes()).unwrap());
    let credentials = Credentials::new(sandbox.client_id(), sandbox.api_key()).unwrap();
    ClientConfig::new(
        base_url,
        Auth::ClientCredentials(credentials),
        &identity,
        trust,
    )
    .unwrap()
}

fn config(sandbox: &Sandbox) -> ClientConfig {
    config_at(sandbox, &sandbox.base_url())
}

fn user_path(sandbox: &Sandbox, id: u32) -> String {
    format!("/v2.01/{}/users/{id}", sandbox.client_id())
}

fn failure(result: Result<Response, RequestError>) -> Failure {
    match result {
        Err(RequestError::Failed { failure: f, .. }) => f,
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// The `Failed` outcomes a client left in its notices (requests whose futures were dropped).
fn dropped_outcomes(notices: &[Event]) -> Vec<Failure> {
    notices
        .iter()
        .filter_map(|e| match e {
            Event::Failed(_, f) => Some(f.clone()),
            _ => None,
        })
        .collect()
}

/// How many times the sandbox received `method` on `path`.
fn received(sandbox: &Sandbox, method: &str, path: &str) -> usize {
    sandbox
        .request_log()
        .iter()
        .filter(|r| r.method == method && r.target == path)
        .count()
}

/// Resolves once `done` holds; checked every 5 ms, at most 10 s (then the test fails).
async fn until(mut done: impl FnMut() -> bool) {
    for _ in 0..2000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the condition never held");
}

#[tokio::test]
async fn tokio_client_one_token_serves_many_calls_on_one_connection() {
    let sandbox = sandbox();
    let mut client = TokioClient::new(config(&sandbox));
    let requests = (1..=5)
        .map(|i| ApiRequest::get(&user_path(&sandbox, i)))
        .collect();
    for (i, outcome) in client.request_all(requests).await.into_iter().enumerate() {
        let response = outcome.unwrap();
        assert_eq!(response.status, 200);
        let body = String::from_utf8(response.body).unwrap();
        assert!(body.contains(&format!("\"Id\":\"{}\"", i + 1)), "{body}");
    }
    let response = client
        .request(ApiRequest::get(&user_path(&sandbox, 9)))
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(sandbox.token_requests(), 1);
    assert_eq!(sandbox.api_requests(), 6);
    assert_eq!(sandbox.connections(), 1);
    assert_eq!(client.connections(), 1);
    let notices = client.take_notices();
    assert!(notices.iter().any(|e| matches!(
        e,
        Event::Connected {
            client_cert_requested: true,
            ..
        }
    )));
    assert_eq!(
        notices
            .iter()
            .filter(|e| matches!(e, Event::TokenFetched { .. }))
            .count(),
        1
    );
}

#[tokio::test]
async fn tokio_client_reconnects_after_the_server_closes_an_idle_connection() {
    let sandbox = sandbox();
    sandbox.knobs().set_idle_timeout_ms(100);
    let mut client = TokioClient::new(config(&sandbox));
    let first = client.request(ApiRequest::get(&user_path(&sandbox, 1)));
    assert_eq!(first.await.unwrap().status, 200);
    // Bounded wait until the sandbox has closed the idle connection.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let path = user_path(&sandbox, 2);
    let post = ApiRequest::post(&path, b"{\"Tag\":\"after idle\"}".to_vec());
    assert_eq!(client.request(post).await.unwrap().status, 200);
    assert_eq!(client.connections(), 2);
    assert_eq!(
        received(&sandbox, "POST", &path),
        1,
        "the POST was written once"
    );

    // A server closing after every response: transparent reconnects, one token throughout.
    sandbox.knobs().set_close_after_each_response(true);
    for i in 3..=5 {
        let get = client.request(ApiRequest::get(&user_path(&sandbox, i)));
        assert_eq!(get.await.unwrap().status, 200);
    }
    // The first goes on the kept-alive connection, which then closes; each one after on a
    // new one.
    assert_eq!(sandbox.token_requests(), 1);
    assert_eq!(client.connections(), 4);
}

#[tokio::test]
async fn tokio_client_retries_a_lost_get_but_not_a_lost_post() {
    let sandbox = sandbox();
    let mut client = TokioClient::new(config(&sandbox));
    let warm = client.request(ApiRequest::get(&user_path(&sandbox, 1)));
    assert_eq!(warm.await.unwrap().status, 200);

    sandbox.knobs().set_close_before_response_count(1);
    let get = client.request(ApiRequest::get(&user_path(&sandbox, 2)));
    assert_eq!(get.await.unwrap().status, 200);

    sandbox.knobs().set_close_before_response_count(1);
    let path = user_path(&sandbox, 3);
    let post = ApiRequest::post(&path, b"{\"Tag\":\"x\"}".to_vec());
    let f = failure(client.request(post.clone()).await);
    assert_eq!(f.kind, FailureKind::OutcomeUnknown);
    assert_eq!(
        f.error,
        Error::Tls(mtls_core::tls::TlsError::Truncated {
            during_handshake: false
        })
    );
    assert_eq!(received(&sandbox, "POST", &path), 1);

    // With an idempotency key the same POST is retried and succeeds.
    sandbox.knobs().set_close_before_response_count(1);
    let keyed = post.idempotency_key(IdempotencyKey::from_random([42; 16]));
    assert_eq!(client.request(keyed).await.unwrap().status, 200);
    assert_eq!(received(&sandbox, "POST", &path), 3);
}

/// Cancellation, case 1: the request is on the server (which stalls before answering) when
/// its future is dropped. It ends outcome unknown, the connection goes, and the next request
/// succeeds on a fresh connection; the unkeyed POST reached the sandbox once.
#[tokio::test]
async fn tokio_dropping_a_request_waiting_for_its_response_discards_the_connection() {
    let sandbox = sandbox();
    let mut client = TokioClient::new(config(&sandbox));
    let warm = client.request(ApiRequest::get(&user_path(&sandbox, 1)));
    assert_eq!(warm.await.unwrap().status, 200);
    let _ = client.take_notices();

    sandbox.knobs().set_slow_response_ms(30_000);
    let path = user_path(&sandbox, 2);
    let post = ApiRequest::post(&path, b"{\"Tag\":\"dropped\"}".to_vec());
    // The future is dropped once the sandbox has the POST, while it stalls.
    tokio::select! {
        outcome = client.request(post) => panic!("the sandbox stalls, yet: {outcome:?}"),
        () = until(|| received(&sandbox, "POST", &path) == 1) => {}
    }
    let dropped = dropped_outcomes(&client.take_notices());
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert_eq!(dropped[0].kind, FailureKind::OutcomeUnknown);

    sandbox.knobs().set_slow_response_ms(0);
    let next = client.request(ApiRequest::get(&user_path(&sandbox, 3)));
    assert_eq!(next.await.unwrap().status, 200);
    assert_eq!(
        client.connections(),
        2,
        "the stalled connection was not reused"
    );
    assert_eq!(
        received(&sandbox, "POST", &path),
        1,
        "the POST was never resent"
    );
    assert_eq!(sandbox.token_requests(), 1, "the token survived");
}

/// Cancellation, case 2: the future is dropped with half a response read (its head, not its
/// body). The connection is discarded: the next request gets a clean, new one.
#[tokio::test]
async fn tokio_dropping_a_request_with_half_a_response_read_discards_the_connection() {
    let sandbox = sandbox();
    let proxy = StallProxy::start(sandbox.addr());
    let mut client = TokioClient::new(config_at(&sandbox, &proxy.base_url()));
    let warm = client.request(ApiRequest::get(&user_path(&sandbox, 1)));
    assert_eq!(warm.await.unwrap().status, 200);
    let _ = client.take_notices();

    // The response's head goes through, its body is held.
    proxy.set_mode(Mode::OneRecordThenHold);
    tokio::select! {
        outcome = client.request(ApiRequest::get(&user_path(&sandbox, 2))) => {
            panic!("the body is held, yet: {outcome:?}")
        }
        () = async {
            until(|| proxy.holding()).await;
            // Time for the client to read the head it was let through.
            tokio::time::sleep(Duration::from_millis(50)).await;
        } => {}
    }
    let dropped = dropped_outcomes(&client.take_notices());
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert_eq!(dropped[0].kind, FailureKind::OutcomeUnknown);

    proxy.set_mode(Mode::Pass);
    let next = client.request(ApiRequest::get(&user_path(&sandbox, 3)));
    let response = next.await.unwrap();
    assert_eq!(response.status, 200);
    let body = String::from_utf8(response.body).unwrap();
    assert!(
        body.contains("\"Id\":\"3\""),
        "the answer to this request: {body}"
    );
    assert_eq!(client.connections(), 2);
    assert_eq!(proxy.connections(), 2);
}

/// Cancellation, case 3: `tokio::time::timeout` against a server that never answers the
/// handshake. Nothing was sent; the next request, once the server answers, succeeds.
#[tokio::test]
async fn tokio_timeout_during_a_stalled_handshake_ends_the_request_not_sent() {
    let sandbox = sandbox();
    let proxy = StallProxy::start(sandbox.addr());
    proxy.set_mode(Mode::Blackhole);
    let mut client = TokioClient::new(config_at(&sandbox, &proxy.base_url()));
    let path = user_path(&sandbox, 1);
    let post = ApiRequest::post(&path, b"{}".to_vec());
    let cut = tokio::time::timeout(Duration::from_millis(200), client.request(post)).await;
    assert!(cut.is_err(), "the handshake cannot finish: {cut:?}");
    let dropped = dropped_outcomes(&client.take_notices());
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert_eq!(dropped[0].kind, FailureKind::NotSent);

    proxy.set_mode(Mode::Pass);
    let next = client.request(ApiRequest::get(&user_path(&sandbox, 2)));
    assert_eq!(next.await.unwrap().status, 200);
    assert_eq!(client.connections(), 2);
    assert_eq!(
        received(&sandbox, "POST", &path),
        0,
        "the dropped POST never went"
    );
}

#[test]
fn tokio_pool_is_clone_send_sync_and_its_futures_are_send() {
    fn clone_send_sync<T: Clone + Send + Sync>() {}
    fn send<T: Send>(_: &T) {}
    clone_send_sync::<TokioPool>();
    fn client_send<T: Send>() {}
    client_send::<TokioClient>();
    let sandbox = sandbox();
    let pool = TokioPool::new(config(&sandbox), PoolOptions::default());
    let future = pool.request(ApiRequest::get("/"));
    send(&future);
    let mut client = TokioClient::new(config(&sandbox));
    let future = client.request(ApiRequest::get("/"));
    send(&future);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_pool_32_tasks_x_50_requests_one_token_no_failures_bounded_connections() {
    const TASKS: u32 = 32;
    const EACH: u32 = 50;
    const MAX: usize = 8;
    let sandbox = Arc::new(sandbox());
    let pool = TokioPool::new(
        config(&sandbox),
        PoolOptions {
            max_connections: MAX,
            ..PoolOptions::default()
        },
    );
    let start = Arc::new(tokio::sync::Barrier::new(TASKS as usize));
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let (pool, sandbox, start) = (pool.clone(), sandbox.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                let mut failures = 0;
                for i in 0..EACH {
                    let path = user_path(&sandbox, t * 1000 + i);
                    match pool.request(ApiRequest::get(&path)).await {
                        Ok(response) if response.status == 200 => {}
                        other => {
                            eprintln!("task {t} request {i}: {other:?}");
                            failures += 1;
                        }
                    }
                }
                failures
            })
        })
        .collect();
    let mut failures = 0;
    for task in tasks {
        failures += task.await.unwrap();
    }
    assert_eq!(failures, 0);
    assert_eq!(sandbox.token_requests(), 1, "one token for every task");
    assert_eq!(sandbox.api_requests(), u64::from(TASKS * EACH));
    assert!(pool.connections_opened() <= MAX as u64, "{pool:?}");
    assert!(sandbox.connections() <= MAX as u64);
    let fetched = pool
        .take_notices()
        .iter()
        .filter(|e| matches!(e, Event::TokenFetched { .. }))
        .count();
    assert_eq!(fetched, 1);
}

/// A server that closes idle connections: GETs reconnect transparently, and POSTs without
/// an idempotency key are written once each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_pool_with_a_server_closing_idle_connections() {
    let sandbox = Arc::new(sandbox());
    sandbox.knobs().set_idle_timeout_ms(50);
    let pool = TokioPool::new(
        config(&sandbox),
        PoolOptions {
            max_connections: 4,
            ..PoolOptions::default()
        },
    );
    for wave in 0..3u32 {
        let tasks: Vec<_> = (0..8u32)
            .map(|t| {
                let (pool, sandbox) = (pool.clone(), sandbox.clone());
                tokio::spawn(async move {
                    let id = wave * 100 + t;
                    let get = pool.request(ApiRequest::get(&user_path(&sandbox, id)));
                    let post = ApiRequest::post(&user_path(&sandbox, id), b"{}".to_vec());
                    (
                        get.await.map(|r| r.status),
                        pool.request(post).await.map(|r| r.status),
                    )
                })
            })
            .collect();
        for task in tasks {
            let (get, post) = task.await.unwrap();
            assert_eq!(get.unwrap(), 200);
            assert_eq!(post.unwrap(), 200);
        }
        // Longer than the server's idle timeout: every kept-alive connection is closed.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for wave in 0..3u32 {
        for t in 0..8u32 {
            let path = user_path(&sandbox, wave * 100 + t);
            assert_eq!(received(&sandbox, "POST", &path), 1, "{path}");
        }
    }
    assert!(pool.connections_opened() > 4, "the pool reconnected");
    assert_eq!(sandbox.token_requests(), 1);
}

/// All connections busy: a request waits at most the acquire timeout, then fails not sent;
/// a dropped request frees its place and the next request gets a connection.
#[tokio::test]
async fn tokio_pool_bounded_wait_and_a_dropped_request_frees_its_connection() {
    let sandbox = Arc::new(sandbox());
    let pool = TokioPool::new(
        config(&sandbox),
        PoolOptions {
            max_connections: 1,
            acquire_timeout: Duration::from_millis(100),
            ..PoolOptions::default()
        },
    );
    assert_eq!(
        pool.request(ApiRequest::get(&user_path(&sandbox, 1)))
            .await
            .unwrap()
            .status,
        200
    );
    sandbox.knobs().set_slow_response_ms(30_000);
    let held = {
        let (pool, sandbox) = (pool.clone(), sandbox.clone());
        tokio::spawn(async move { pool.request(ApiRequest::get(&user_path(&sandbox, 2))).await })
    };
    until(|| received(&sandbox, "GET", &user_path(&sandbox, 2)) == 1).await;
    let f = failure(pool.request(ApiRequest::get(&user_path(&sandbox, 3))).await);
    assert_eq!(f.kind, FailureKind::NotSent);
    assert_eq!(f.error, Error::PoolExhausted);
    assert_eq!(received(&sandbox, "GET", &user_path(&sandbox, 3)), 0);

    // Dropping the stalled request (aborting its task) hands the connection back.
    held.abort();
    assert!(held.await.unwrap_err().is_cancelled());
    sandbox.knobs().set_slow_response_ms(0);
    let next = pool.request(ApiRequest::get(&user_path(&sandbox, 4)));
    assert_eq!(next.await.unwrap().status, 200);
    assert_eq!(pool.connections_opened(), 2);
    let dropped = dropped_outcomes(&pool.take_notices());
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert_eq!(dropped[0].kind, FailureKind::OutcomeUnknown);
}

fn users_by_cn(sandbox: &Sandbox) -> Vec<Option<String>> {
    sandbox
        .request_log()
        .into_iter()
        .filter(|r| r.target.contains("/users/"))
        .map(|r| r.client_cn)
        .collect()
}

/// Issue 13: `TokioPool::set_identity` while requests are on the wire (as the blocking
/// pool's test): those finish with the old certificate, later ones present the new one, and
/// the token is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_pool_rotates_the_identity_while_requests_are_in_flight() {
    const TASKS: u32 = 4;
    let sandbox = Arc::new(sandbox());
    let pool = TokioPool::new(
        config(&sandbox),
        PoolOptions {
            max_connections: TASKS as usize,
            ..PoolOptions::default()
        },
    );
    let (old, new) = (
        Some(sandbox.client_id().to_owned()),
        Some("renewed-client".to_owned()),
    );
    for i in 0..TASKS {
        pool.request(ApiRequest::get(&user_path(&sandbox, i)))
            .await
            .unwrap();
    }
    sandbox.knobs().set_slow_response_ms(400);
    let in_flight: Vec<_> = (0..TASKS)
        .map(|i| {
            let (pool, path) = (pool.clone(), user_path(&sandbox, 100 + i));
            tokio::spawn(
                async move { pool.request(ApiRequest::get(&path)).await.map(|r| r.status) },
            )
        })
        .collect();
    let logged = sandbox.clone();
    until(move || users_by_cn(&logged).len() >= 2 * TASKS as usize).await;
    let renewed = sandbox
        .issue(&mtls_sandbox::IssueSpec::client("renewed-client"))
        .unwrap();
    let identity = Identity::from_pem(
        renewed.cert_pem.as_bytes(),
        renewed.key_pem.as_ref().unwrap().as_bytes(),
    )
    .unwrap();
    pool.set_identity(&identity).unwrap();
    for task in in_flight {
        assert_eq!(task.await.unwrap().unwrap(), 200, "in flight: finished");
    }
    sandbox.knobs().set_slow_response_ms(0);
    let before = users_by_cn(&sandbox);
    for i in 0..2 * TASKS {
        pool.request(ApiRequest::get(&user_path(&sandbox, 200 + i)))
            .await
            .unwrap();
    }
    let cns = users_by_cn(&sandbox);
    assert!(before.iter().all(|cn| *cn == old), "{before:?}");
    assert!(cns[before.len()..].iter().all(|cn| *cn == new), "{cns:?}");
    assert_eq!(
        sandbox.token_requests(),
        1,
        "the token survives the rotation"
    );
}
