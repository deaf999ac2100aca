//! The Redis token store (`io::redis_store`, feature `redis`) against a real `redis-server`
//! that each test starts on a free loopback port, with processes sharing one token through
//! it against the sandbox. Every test is in `mod redis`, so `cargo test redis` selects
//! them (scripts/test.sh installs Debian's redis-server when it is missing).

#![cfg(feature = "redis")]

#[path = "support/fleet.rs"]
mod fleet;

mod redis {
    use std::io::{BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};
    use std::path::PathBuf;
    use std::process::{Child, Command, Stdio};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    use mtls_core::auth::{
        AccessToken, CachePolicy, ExportedToken, Lease, StoreError, StoreOptions, StoreVersion,
        TokenCache, TokenStore,
    };
    use mtls_core::client::{Event, Warning};
    use mtls_core::io::redis_store::RedisStore;
    use mtls_core::io::std_adapter::StdClient;
    use mtls_core::ApiRequest;
    use mtls_sandbox::{Sandbox, SandboxConfig};

    use super::fleet::{self, Target};

    /// A `redis-server` of our own on loopback, without persistence; killed on drop.
    struct RedisServer {
        child: Child,
        port: u16,
        dir: PathBuf,
    }

    impl RedisServer {
        fn start() -> RedisServer {
            let dir = std::env::temp_dir().join(format!(
                "mtls-redis-{}-{}",
                std::process::id(),
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_nanos()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            // A free port: the OS picks one, we release it and hand it to redis (retried,
            // should another process take it in between).
            for _ in 0..5 {
                let port = TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap()
                    .port();
                let mut child = Command::new("redis-server")
                    .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                    .args(["--save", "", "--appendonly", "no"])
                    .arg("--dir")
                    .arg(&dir)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect(
                        "redis-server (Debian package redis-server; scripts/test.sh installs it)",
                    );
                let deadline = Instant::now() + Duration::from_secs(10);
                while Instant::now() < deadline {
                    if child.try_wait().unwrap().is_some() {
                        break;
                    }
                    if ping(port) {
                        return RedisServer { child, port, dir };
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                let _ = child.kill();
                let _ = child.wait();
            }
            panic!("redis-server did not start");
        }

        fn url(&self) -> String {
            format!("redis://127.0.0.1:{}/", self.port)
        }

        fn stop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    impl Drop for RedisServer {
        fn drop(&mut self) {
            self.stop();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn ping(port: u16) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        if s.write_all(b"PING\r\n").is_err() {
            return false;
        }
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line).is_ok() && line.starts_with("+PONG")
    }

    fn wall() -> Duration {
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap()
    }

    fn cache_on(store: Arc<dyn TokenStore>) -> TokenCache {
        TokenCache::with_store(CachePolicy::new(), store, StoreOptions::new())
    }

    /// The child side: the spec is `URL KEY`.
    fn child_cache(spec: &str) -> TokenCache {
        let (url, key) = spec.split_once(' ').unwrap();
        cache_on(Arc::new(RedisStore::open(url, key).unwrap()))
    }

    const PROCESSES: usize = 4;
    const REQUESTS: usize = 5;

    #[test]
    fn redis_store_follows_the_contract() {
        let server = RedisServer::start();
        let store = RedisStore::open(&server.url(), "test:contract").unwrap();
        let lease = Duration::from_millis(400);
        // Whole seconds: the store keeps expiries to the millisecond.
        let now = Duration::from_secs(wall().as_secs());
        assert_eq!(store.try_lease(1, lease, now).unwrap(), Lease::Granted);
        match store.try_lease(2, lease, now).unwrap() {
            Lease::Held { for_at_most } => assert!(for_at_most <= lease),
            other => panic!("{other:?}"),
        }
        assert_eq!(store.try_lease(1, lease, now).unwrap(), Lease::Granted); // renewed
        store.release(2, now).unwrap(); // not the holder: nothing happens
        assert!(matches!(
            store.try_lease(2, lease, now).unwrap(),
            Lease::Held { .. }
        ));
        store.release(1, now).unwrap();
        assert_eq!(store.try_lease(2, lease, now).unwrap(), Lease::Granted);
        // Timed by the server: once the lease has run out another holder gets it.
        std::thread::sleep(lease + Duration::from_millis(100));
        assert_eq!(store.try_lease(3, lease, now).unwrap(), Lease::Granted);

        let token = ExportedToken::new(AccessToken::new("t1").unwrap(), Duration::from_secs(60));
        assert_eq!(store.load(now).unwrap().version, StoreVersion(0));
        assert_eq!(
            store
                .compare_and_replace(StoreVersion(0), Some(&token), now)
                .unwrap(),
            Some(StoreVersion(1))
        );
        assert_eq!(
            store
                .compare_and_replace(StoreVersion(0), None, now)
                .unwrap(),
            None
        );
        let later = store.load(now + Duration::from_secs(45)).unwrap();
        assert_eq!(later.version, StoreVersion(1));
        let left = later.token.unwrap();
        assert_eq!(left.token().expose(), "t1");
        assert_eq!(left.remaining(), Duration::from_secs(15));
        assert_eq!(
            store.load(now + Duration::from_secs(60)).unwrap().token,
            None
        );
        assert_eq!(
            store
                .compare_and_replace(StoreVersion(1), None, now)
                .unwrap(),
            Some(StoreVersion(2))
        );
        let empty = store.load(now).unwrap();
        assert_eq!((empty.version, empty.token), (StoreVersion(2), None));
        // Debug names the key, not the URL (it may carry a password).
        let with_password = RedisStore::open("redis://:hunter2@127.0.0.1:1/", "k").unwrap();
        assert!(!format!("{with_password:?}").contains("hunter2"));
    }

    #[test]
    fn redis_store_processes_share_one_token() {
        let name = "redis::redis_store_processes_share_one_token";
        if fleet::child_main(child_cache) {
            return;
        }
        let (n, m) = fleet::size(PROCESSES, REQUESTS);
        let server = RedisServer::start();
        let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
        let target = Target::of(&sandbox);
        let spec = format!("{} mtls:token:share", server.url());
        let children = fleet::spawn(name, &target, &spec, n, m, &[]);
        let reports = fleet::collect(children);
        let ok: usize = reports.iter().map(|r| r.ok).sum();
        println!(
            "redis store: {n} processes x {m} requests -> {} token requests at \
             the sandbox, {ok} responses 200",
            sandbox.token_requests()
        );
        assert_eq!(ok, n * m, "{reports:?}");
        assert_eq!(sandbox.token_requests(), 1, "{reports:?}");
        assert_eq!(reports.iter().map(|r| r.fetched).sum::<usize>(), 1);
        assert_eq!(reports.iter().map(|r| r.store_warnings).sum::<usize>(), 0);
    }

    #[test]
    fn redis_store_processes_refresh_short_tokens_single_flight() {
        let name = "redis::redis_store_processes_refresh_short_tokens_single_flight";
        if fleet::child_main(child_cache) {
            return;
        }
        let server = RedisServer::start();
        let mut config = SandboxConfig::default();
        config.token_lifetime_secs = 2;
        let sandbox = Sandbox::start(config).unwrap();
        let spec = format!("{} mtls:token:refresh", server.url());
        fleet::check_short_tokens_single_flight("redis store", name, &sandbox, &spec, PROCESSES);
    }

    #[test]
    fn redis_store_revoked_token_is_replaced_once_for_every_process() {
        let name = "redis::redis_store_revoked_token_is_replaced_once_for_every_process";
        if fleet::child_main(child_cache) {
            return;
        }
        let server = RedisServer::start();
        let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
        let target = Target::of(&sandbox);
        let spec = format!("{} mtls:token:revoke", server.url());
        let barrier = std::env::temp_dir().join(format!(
            "mtls-redis-barrier-{}-{}",
            std::process::id(),
            wall().as_nanos()
        ));
        std::fs::create_dir_all(&barrier).unwrap();
        let children = fleet::spawn(
            name,
            &target,
            &spec,
            PROCESSES,
            REQUESTS,
            &[("MTLS_FLEET_BARRIER", barrier.to_str().unwrap().into())],
        );
        // Every process has made one request with the shared token; then the server
        // revokes it (the next request gets 401 and the server forgets the token).
        fleet::barrier(&barrier, PROCESSES, || {
            assert_eq!(sandbox.token_requests(), 1);
            sandbox.knobs().set_force_401_count(1);
        });
        let reports = fleet::collect(children);
        let ok: usize = reports.iter().map(|r| r.ok).sum();
        let rejected: usize = reports.iter().map(|r| r.rejected).sum();
        let fetched: usize = reports.iter().map(|r| r.fetched).sum();
        println!(
            "redis store, token revoked mid-run: {PROCESSES} processes x {REQUESTS} requests -> \
             {} token requests, {rejected} 401s, {ok} responses 200",
            sandbox.token_requests()
        );
        assert_eq!(ok, PROCESSES * REQUESTS, "{reports:?}");
        // Each process met the revoked token once; one new token serves them all.
        assert_eq!(rejected, PROCESSES, "{reports:?}");
        assert_eq!(sandbox.token_requests(), 2, "{reports:?}");
        assert_eq!(fetched, 2, "{reports:?}");
        std::fs::remove_dir_all(&barrier).unwrap();
    }

    #[test]
    fn redis_store_down_degrades_to_a_token_per_process() {
        let name = "redis::redis_store_down_degrades_to_a_token_per_process";
        if fleet::child_main(child_cache) {
            return;
        }
        let mut server = RedisServer::start();
        let spec = format!("{} mtls:token:down", server.url());
        server.stop(); // nothing listens there any more
        let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
        let target = Target::of(&sandbox);
        let children = fleet::spawn(name, &target, &spec, PROCESSES, REQUESTS, &[]);
        let reports = fleet::collect(children);
        let ok: usize = reports.iter().map(|r| r.ok).sum();
        let warnings: usize = reports.iter().map(|r| r.store_warnings).sum();
        println!(
            "redis store down: {PROCESSES} processes x {REQUESTS} requests -> {} token requests, \
             {ok} responses 200, {warnings} store warnings",
            sandbox.token_requests()
        );
        // No request failed; each process fell back to its own token, with one warning.
        assert_eq!(ok, PROCESSES * REQUESTS, "{reports:?}");
        assert_eq!(sandbox.token_requests(), PROCESSES as u64, "{reports:?}");
        assert!(reports.iter().all(|r| r.store_warnings == 1), "{reports:?}");
    }

    #[test]
    fn redis_store_tokio_pool_processes_share_one_token() {
        let name = "redis::redis_store_tokio_pool_processes_share_one_token";
        if fleet::child_main(child_cache) {
            return;
        }
        let (n, m) = fleet::size(PROCESSES, 8);
        let server = RedisServer::start();
        let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
        let target = Target::of(&sandbox);
        let spec = format!("{} mtls:token:tokio-share", server.url());
        let host = [(fleet::TOKIO_POOL.0, fleet::TOKIO_POOL.1.to_string())];
        let children = fleet::spawn(name, &target, &spec, n, m, &host);
        let reports = fleet::collect(children);
        let ok: usize = reports.iter().map(|r| r.ok).sum();
        println!(
            "redis store, tokio pools: {n} processes x {m} requests -> {} token requests at \
             the sandbox, {ok} responses 200",
            sandbox.token_requests()
        );
        assert_eq!(ok, n * m, "{reports:?}");
        assert_eq!(sandbox.token_requests(), 1, "{reports:?}");
        assert_eq!(reports.iter().map(|r| r.fetched).sum::<usize>(), 1);
        assert_eq!(reports.iter().map(|r| r.store_warnings).sum::<usize>(), 0);
    }

    #[test]
    fn redis_store_tokio_pool_down_degrades_to_a_token_per_process() {
        let name = "redis::redis_store_tokio_pool_down_degrades_to_a_token_per_process";
        if fleet::child_main(child_cache) {
            return;
        }
        let mut server = RedisServer::start();
        let spec = format!("{} mtls:token:tokio-down", server.url());
        server.stop(); // nothing listens there any more
        let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
        let target = Target::of(&sandbox);
        let host = [(fleet::TOKIO_POOL.0, fleet::TOKIO_POOL.1.to_string())];
        let children = fleet::spawn(name, &target, &spec, PROCESSES, REQUESTS, &host);
        let reports = fleet::collect(children);
        let ok: usize = reports.iter().map(|r| r.ok).sum();
        let warnings: usize = reports.iter().map(|r| r.store_warnings).sum();
        println!(
            "redis store down, tokio pools: {PROCESSES} processes x {REQUESTS} requests -> {} \
             token requests, {ok} responses 200, {warnings} store warnings",
            sandbox.token_requests()
        );
        // No request failed; each process fell back to its own token, with one warning.
        assert_eq!(ok, PROCESSES * REQUESTS, "{reports:?}");
        assert_eq!(sandbox.token_requests(), PROCESSES as u64, "{reports:?}");
        assert!(reports.iter().all(|r| r.store_warnings == 1), "{reports:?}");
    }

    /// Counts the calls that reach a store.
    struct Counted {
        inner: Arc<RedisStore>,
        calls: AtomicUsize,
    }

    impl TokenStore for Counted {
        fn load(&self, now: Duration) -> Result<mtls_core::auth::StoreSnapshot, StoreError> {
            self.calls.fetch_add(1, Ordering::Relaxed);
            self.inner.load(now)
        }
        fn compare_and_replace(
            &self,
            expected: StoreVersion,
            token: Option<&ExportedToken>,
            now: Duration,
        ) -> Result<Option<StoreVersion>, StoreError> {
            self.calls.fetch_add(1, Ordering::Relaxed);
            self.inner.compare_and_replace(expected, token, now)
        }
        fn try_lease(
            &self,
            holder: u64,
            lease: Duration,
            now: Duration,
        ) -> Result<Lease, StoreError> {
            self.calls.fetch_add(1, Ordering::Relaxed);
            self.inner.try_lease(holder, lease, now)
        }
        fn release(&self, holder: u64, now: Duration) -> Result<(), StoreError> {
            self.calls.fetch_add(1, Ordering::Relaxed);
            self.inner.release(holder, now)
        }
    }

    #[test]
    fn redis_store_that_never_answers_times_out_and_is_skipped() {
        // Accepts connections and never answers: a store that hangs.
        let blackhole = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = blackhole.local_addr().unwrap().port();
        let store = Arc::new(
            RedisStore::open(&format!("redis://127.0.0.1:{port}/"), "mtls:token:slow")
                .unwrap()
                .with_timeouts(Duration::from_millis(200), Duration::from_millis(200)),
        );
        let started = Instant::now();
        assert_eq!(store.load(wall()).unwrap_err(), StoreError::Timeout);
        assert!(started.elapsed() < Duration::from_secs(2));

        let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
        let target = Target::of(&sandbox);
        let counted = Arc::new(Counted {
            inner: store,
            calls: AtomicUsize::new(0),
        });
        let mut config = target.config();
        config.token_cache = cache_on(counted.clone());
        let mut client = StdClient::new(config);
        for i in 0..5 {
            let path = format!("/v2.01/{}/users/{i}", sandbox.client_id());
            assert_eq!(client.request(ApiRequest::get(&path)).unwrap().status, 200);
        }
        // One call timed out; then the store was skipped (for `retry_after`), not waited
        // for on every request.
        assert_eq!(counted.calls.load(Ordering::Relaxed), 1);
        assert_eq!(sandbox.token_requests(), 1);
        let warnings: Vec<String> = client
            .take_notices()
            .iter()
            .filter_map(|e| match e {
                Event::Warning(w @ Warning::TokenStoreUnavailable(_)) => Some(w.to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(
            warnings,
            [
                "the token store did not answer in time: this process uses its own token until \
              the store answers again"
            ]
        );
        drop(blackhole);
    }
}
