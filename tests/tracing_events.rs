//! The hosts' `tracing` events (feature `tracing`): captured as text from the std client,
//! the pool and the tokio client against the sandbox, checked for what must be there
//! (handshake, token fetch, store steps, 401, outcomes) and for what must never be there
//! (the API key, the Basic credentials, any token, the private key).

#![cfg(feature = "tracing")]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mtls_core::auth::Credentials;
use mtls_core::auth::{
    CachePolicy, ExportedToken, Lease, MemoryStore, StoreError, StoreOptions, StoreSnapshot,
    StoreVersion, TokenCache, TokenStore,
};
use mtls_core::client::Auth;
use mtls_core::identity::{CaBundle, Identity};
use mtls_core::io::std_adapter::StdClient;
use mtls_core::io::{Pool, PoolOptions, TokioClient};
use mtls_core::tls::Trust;
use mtls_core::{ApiRequest, ClientConfig};
use mtls_sandbox::{Sandbox, SandboxConfig};

/// Everything the subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

struct DownStore;

impl TokenStore for DownStore {
    fn load(&self, _: Duration) -> Result<StoreSnapshot, StoreError> {
        Err(StoreError::Unavailable("connection refused".into()))
    }
    fn compare_and_replace(
        &self,
        _: StoreVersion,
        _: Option<&ExportedToken>,
        _: Duration,
    ) -> Result<Option<StoreVersion>, StoreError> {
        Err(StoreError::Unavailable("connection refused".into()))
    }
    fn try_lease(&self, _: u64, _: Duration, _: Duration) -> Result<Lease, StoreError> {
        Err(StoreError::Unavailable("connection refused".into()))
    }
    fn release(&self, _: u64, _: Duration) -> Result<(), StoreError> {
        Err(StoreError::Unavailable("connection refused".into()))
    }
}

fn config_for(sandbox: &Sandbox, key_pem: &mut String) -> ClientConfig {
    config_at(sandbox, &sandbox.base_url(), key_pem)
}

fn config_at(sandbox: &Sandbox, base_url: &str, key_pem: &mut String) -> ClientConfig {
    let issued = sandbox.issue_client_identity().unwrap();
    *key_pem = issued.key_pem.as_deref().unwrap().to_string();
    let identity = Identity::from_pem(issued.cert_pem.as_bytes(), key_pem.as_bytes()).unwrap();
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

fn wall() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap()
}

#[test]
fn tracing_events_of_the_std_pool_and_tokio_hosts_carry_no_secret() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    // Global: the pool's requests run on other threads.
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    let path = |i: usize| format!("/v2.01/{}/users/{i}", sandbox.client_id());
    let mut key_pem = String::new();
    let mut tokens = Vec::new();

    // The std client on a store, a 401 on the way.
    let store = Arc::new(MemoryStore::new());
    let mut config = config_for(&sandbox, &mut key_pem);
    config.token_cache =
        TokenCache::with_store(CachePolicy::new(), store.clone(), StoreOptions::new());
    let mut client = StdClient::new(config.clone());
    assert_eq!(
        client.request(ApiRequest::get(&path(1))).unwrap().status,
        200
    );
    tokens.push(store.load(wall()).unwrap().token.unwrap());
    sandbox.knobs().set_force_401_count(1);
    assert_eq!(
        client.request(ApiRequest::get(&path(2))).unwrap().status,
        200
    );
    tokens.push(store.load(wall()).unwrap().token.unwrap());

    // The pool, with another cache on the same store: it loads the token.
    let mut pool_config = config.clone();
    pool_config.token_cache =
        TokenCache::with_store(CachePolicy::new(), store.clone(), StoreOptions::new());
    let pool = Pool::new(pool_config, PoolOptions::default());
    let workers: Vec<_> = (0..3)
        .map(|i| {
            let pool = pool.clone();
            let p = path(10 + i);
            std::thread::spawn(move || pool.request(ApiRequest::get(&p)).unwrap().status)
        })
        .collect();
    for w in workers {
        assert_eq!(w.join().unwrap(), 200);
    }

    // The tokio client, on a store that is down: it consults it (off the runtime) and warns.
    let mut tokio_config = config.clone();
    tokio_config.token_cache =
        TokenCache::with_store(CachePolicy::new(), Arc::new(DownStore), StoreOptions::new());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut client = TokioClient::new(tokio_config);
        assert_eq!(
            client
                .request(ApiRequest::get(&path(20)))
                .await
                .unwrap()
                .status,
            200
        );
    });
    // And a std client on it, which does too.
    let mut down_config = config.clone();
    down_config.token_cache =
        TokenCache::with_store(CachePolicy::new(), Arc::new(DownStore), StoreOptions::new());
    let mut down = StdClient::new(down_config);
    assert_eq!(
        down.request(ApiRequest::get(&path(21))).unwrap().status,
        200
    );

    // A server that closes after each response: the second request of a call reconnects.
    sandbox.knobs().set_close_after_each_response(true);
    let outcomes = client.request_all(vec![ApiRequest::get(&path(40)), ApiRequest::get(&path(41))]);
    assert!(outcomes.iter().all(|o| o.as_ref().unwrap().status == 200));
    sandbox.knobs().set_close_after_each_response(false);

    // A server that is not there: the connect and the request fail.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut nowhere = StdClient::new(config_at(
        &sandbox,
        &format!("https://localhost:{port}"),
        &mut String::new(),
    ));
    assert!(nowhere.request(ApiRequest::get(&path(30))).is_err());

    let text = captured.text();
    if std::env::var("SHOW_TRACES").is_ok() {
        println!("{text}");
    }
    for expected in [
        "mtls.request",
        "connecting",
        "handshake complete",
        "tls_version=Tls13",
        "client_cert_requested=true",
        "token fetched",
        "expires_in_secs=3600",
        "store lease taken",
        "token published to the store",
        "token rejected (401): retrying with a new one",
        "rejected token removed from the store",
        "token loaded from the store",
        "token store unavailable",
        "connection refused",
        "status=200",
        "connect failed",
        "request failed",
        "kind=NotSent",
        "reconnecting",
        "connection=2",
    ] {
        assert!(text.contains(expected), "no {expected:?} in:\n{text}");
    }
    // One warning per client on the store that is down: the tokio client and the std one.
    assert_eq!(text.matches("token store unavailable").count(), 2, "{text}");
    // One `response` per request: 2 (std) + 3 (pool) + 1 (tokio) + 1 (std, store down)
    // + 2 (reconnects).
    assert_eq!(text.matches(": response ").count(), 9, "{text}");

    // Never a secret.
    let basic = sandbox.basic_authorization();
    let encoded = basic.split_once(' ').unwrap().1;
    let mut secrets = vec![sandbox.api_key().to_string(), encoded.to_string()];
    secrets.extend(tokens.iter().map(|t| t.token().expose().to_string()));
    // Every base64 line of the private key.
    secrets.extend(
        key_pem
            .lines()
            .filter(|l| !l.starts_with("-----") && l.len() > 16)
            .map(str::to_string),
    );
    assert!(secrets.len() >= 5);
    for secret in &secrets {
        assert!(
            !text.contains(secret.as_str()),
            "a secret is in the traces:\n{text}"
        );
    }
    assert!(!text.contains("Bearer"), "{text}");
    assert!(!text.contains("Basic "), "{text}");
}
