//! Token stores (`auth::TokenStore`): caches of several clients, pools and processes sharing
//! one token through a store, against the sandbox (which counts token requests). Every test
//! is in `mod token_store`, so `cargo test token_store` selects them.

#[path = "support/fleet.rs"]
mod fleet;

mod token_store {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    use mtls_core::auth::{
        CachePolicy, ExportedToken, Lease, MemoryStore, StoreError, StoreOptions, StoreSnapshot,
        StoreVersion, TokenCache, TokenStore,
    };
    use mtls_core::client::{Event, Warning};
    use mtls_core::io::file_store::FileStore;
    use mtls_core::io::std_adapter::StdClient;
    use mtls_core::io::{Pool, PoolOptions, TokioPool};
    use mtls_core::ApiRequest;
    use mtls_sandbox::{Sandbox, SandboxConfig};

    use super::fleet::{self, Target};

    fn sandbox() -> Sandbox {
        Sandbox::start(SandboxConfig::default()).unwrap()
    }

    fn stored_cache(store: Arc<dyn TokenStore>) -> TokenCache {
        TokenCache::with_store(CachePolicy::new(), store, StoreOptions::new())
    }

    /// A client with its own cache (as another process would have) on `store`.
    fn client_on(target: &Target, store: Arc<dyn TokenStore>) -> StdClient {
        let mut config = target.config();
        config.token_cache = stored_cache(store);
        StdClient::new(config)
    }

    fn get(client: &mut StdClient, sandbox: &Sandbox, id: usize) -> u16 {
        let path = format!("/v2.01/{}/users/{id}", sandbox.client_id());
        client.request(ApiRequest::get(&path)).unwrap().status
    }

    fn count(notices: &[Event], pick: impl Fn(&Event) -> bool) -> usize {
        notices.iter().filter(|e| pick(e)).count()
    }

    fn wall() -> Duration {
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap()
    }

    /// A directory of our own (mode 0700) for a file store.
    fn private_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "mtls-token-store-{}-{name}-{}",
            std::process::id(),
            wall().as_nanos()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn token_store_memory_two_caches_fetch_one_token() {
        let sandbox = sandbox();
        let target = Target::of(&sandbox);
        let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
        let mut a = client_on(&target, store.clone());
        let mut b = client_on(&target, store.clone());
        for i in 0..3 {
            assert_eq!(get(&mut a, &sandbox, i), 200);
            assert_eq!(get(&mut b, &sandbox, i), 200);
        }
        assert_eq!(sandbox.token_requests(), 1);
        let fetched_a = count(&a.take_notices(), |e| {
            matches!(e, Event::TokenFetched { .. })
        });
        let fetched_b = count(&b.take_notices(), |e| {
            matches!(e, Event::TokenFetched { .. })
        });
        assert_eq!((fetched_a, fetched_b), (1, 0));
        // The store holds it, for the next process.
        assert!(store.load(wall()).unwrap().token.is_some());
    }

    #[test]
    fn token_store_revoked_token_is_replaced_once_for_every_cache() {
        let sandbox = sandbox();
        let target = Target::of(&sandbox);
        let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
        let mut clients: Vec<StdClient> =
            (0..3).map(|_| client_on(&target, store.clone())).collect();
        for (i, c) in clients.iter_mut().enumerate() {
            assert_eq!(get(c, &sandbox, i), 200);
        }
        assert_eq!(sandbox.token_requests(), 1);
        let before = store.load(wall()).unwrap().version;
        // The server revokes the token the next request carries (and forgets it).
        sandbox.knobs().set_force_401_count(1);
        for (i, c) in clients.iter_mut().enumerate() {
            assert_eq!(get(c, &sandbox, 10 + i), 200);
        }
        // One new token for all three: the first client removed the rejected one from the
        // store and fetched; the others, rejected in turn, took the new one from the store.
        assert_eq!(sandbox.token_requests(), 2);
        let rejected: Vec<usize> = clients
            .iter_mut()
            .map(|c| count(&c.take_notices(), |e| matches!(e, Event::TokenRejected(_))))
            .collect();
        assert_eq!(rejected, [1, 1, 1]);
        let after = store.load(wall()).unwrap();
        assert!(after.version > before && after.token.is_some());
        // And it keeps working without more token requests.
        for (i, c) in clients.iter_mut().enumerate() {
            assert_eq!(get(c, &sandbox, 20 + i), 200);
        }
        assert_eq!(sandbox.token_requests(), 2);
    }

    #[test]
    fn token_store_pool_and_client_with_separate_caches_fetch_one_token() {
        let sandbox = sandbox();
        let target = Target::of(&sandbox);
        let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
        let mut config = target.config();
        config.token_cache = stored_cache(store.clone());
        let pool = Pool::new(
            config,
            PoolOptions {
                max_connections: 4,
                ..PoolOptions::default()
            },
        );
        let workers: Vec<_> = (0..8)
            .map(|i| {
                let pool = pool.clone();
                let path = format!("/v2.01/{}/users/{i}", sandbox.client_id());
                std::thread::spawn(move || pool.request(ApiRequest::get(&path)).unwrap().status)
            })
            .collect();
        let mut other = client_on(&target, store.clone());
        let other_status = get(&mut other, &sandbox, 99);
        for w in workers {
            assert_eq!(w.join().unwrap(), 200);
        }
        assert_eq!(other_status, 200);
        assert_eq!(sandbox.token_requests(), 1);
    }

    /// A `TokioPool` of 4 connections whose cache (its own, as another process would have)
    /// is on `store`.
    fn tokio_pool_on(target: &Target, store: Arc<dyn TokenStore>) -> TokioPool {
        let mut config = target.config();
        config.token_cache = stored_cache(store);
        let options = PoolOptions {
            max_connections: 4,
            ..PoolOptions::default()
        };
        TokioPool::new(config, options)
    }

    /// `m` requests on each pool, all at once (one task each); their statuses.
    async fn tokio_fan_out(pools: &[TokioPool], sandbox: &Sandbox, from: usize, m: usize) {
        let mut tasks = Vec::new();
        for (p, pool) in pools.iter().enumerate() {
            for i in 0..m {
                let pool = pool.clone();
                let path = format!("/v2.01/{}/users/{}", sandbox.client_id(), from + p * m + i);
                tasks.push(tokio::spawn(async move {
                    pool.request(ApiRequest::get(&path)).await.map(|r| r.status)
                }));
            }
        }
        for task in tasks {
            assert_eq!(task.await.unwrap().unwrap(), 200);
        }
    }

    fn multi_thread_runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn token_store_file_tokio_pools_share_one_token() {
        // Pools with caches of their own, each on its own handle of one file (as processes
        // are): the file's lock and lease make one fetch for all of them.
        let sandbox = sandbox();
        let target = Target::of(&sandbox);
        let dir = private_dir("tokio-pools");
        let path = dir.join("token");
        let pools: Vec<TokioPool> = (0..3)
            .map(|_| tokio_pool_on(&target, Arc::new(FileStore::open(&path).unwrap())))
            .collect();
        multi_thread_runtime().block_on(tokio_fan_out(&pools, &sandbox, 0, 8));
        assert_eq!(sandbox.token_requests(), 1);
        assert_eq!(sandbox.api_requests(), 24);
        let fetched: usize = pools
            .iter()
            .map(|p| {
                count(&p.take_notices(), |e| {
                    matches!(e, Event::TokenFetched { .. })
                })
            })
            .sum();
        assert_eq!(fetched, 1);
        let stored = FileStore::open(&path).unwrap().load(wall()).unwrap();
        assert!(stored.token.is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn token_store_tokio_revoked_token_is_replaced_once_for_every_pool() {
        let sandbox = sandbox();
        let target = Target::of(&sandbox);
        let dir = private_dir("tokio-revoke");
        let path = dir.join("token");
        let pools: Vec<TokioPool> = (0..3)
            .map(|_| tokio_pool_on(&target, Arc::new(FileStore::open(&path).unwrap())))
            .collect();
        let runtime = multi_thread_runtime();
        runtime.block_on(tokio_fan_out(&pools, &sandbox, 0, 2));
        assert_eq!(sandbox.token_requests(), 1);
        // The server revokes the token the next request carries (and forgets it); then one
        // request on each pool, one after the other.
        sandbox.knobs().set_force_401_count(1);
        runtime.block_on(async {
            for (p, pool) in pools.iter().enumerate() {
                let path = format!("/v2.01/{}/users/{}", sandbox.client_id(), 100 + p);
                let response = pool.request(ApiRequest::get(&path)).await.unwrap();
                assert_eq!(response.status, 200);
            }
        });
        // One new token for the three: the first pool removed the rejected one from the
        // store and fetched; the others, rejected in turn, took the new one from the store.
        assert_eq!(sandbox.token_requests(), 2);
        let rejected: Vec<usize> = pools
            .iter()
            .map(|p| count(&p.take_notices(), |e| matches!(e, Event::TokenRejected(_))))
            .collect();
        assert_eq!(rejected, [1, 1, 1]);
        // And it keeps working without more token requests.
        runtime.block_on(tokio_fan_out(&pools, &sandbox, 200, 4));
        assert_eq!(sandbox.token_requests(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn token_store_tokio_store_down_degrades_off_the_runtime_with_a_warning() {
        let sandbox = sandbox();
        let target = Target::of(&sandbox);
        let down = Arc::new(DownStore {
            delay: Duration::from_millis(50),
            calls: AtomicUsize::new(0),
            threads: std::sync::Mutex::new(Vec::new()),
        });
        let pools: Vec<TokioPool> = (0..2)
            .map(|_| tokio_pool_on(&target, down.clone()))
            .collect();
        // One thread runs the runtime (this one): a store call made on it would stall every
        // task for its 50 ms.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(tokio_fan_out(&pools, &sandbox, 0, 5));
        // Each pool works on its own token: one request each, none failed.
        assert_eq!(sandbox.token_requests(), 2);
        for pool in &pools {
            let notices = pool.take_notices();
            let warnings = count(&notices, |e| {
                matches!(e, Event::Warning(Warning::TokenStoreUnavailable(_)))
            });
            // One warning per outage, not one per request.
            assert_eq!(warnings, 1, "{notices:?}");
        }
        let calls = down.calls.load(Ordering::Relaxed);
        assert!((2..10).contains(&calls), "{calls} store calls");
        // Every store call ran on a thread other than the runtime's.
        let here = std::thread::current().id();
        let threads = down.threads.lock().unwrap();
        assert_eq!(threads.len(), calls);
        assert!(
            threads.iter().all(|t| *t != here),
            "a store call blocked the runtime"
        );
    }

    /// A store that is down: every call fails after `delay` (a slow store that times out).
    struct DownStore {
        delay: Duration,
        calls: AtomicUsize,
        /// The thread of each call.
        threads: std::sync::Mutex<Vec<std::thread::ThreadId>>,
    }

    impl DownStore {
        fn fail(&self) -> StoreError {
            self.calls.fetch_add(1, Ordering::Relaxed);
            let thread = std::thread::current().id();
            self.threads.lock().unwrap().push(thread);
            std::thread::sleep(self.delay);
            StoreError::Timeout
        }
    }

    impl TokenStore for DownStore {
        fn load(&self, _: Duration) -> Result<StoreSnapshot, StoreError> {
            Err(self.fail())
        }
        fn compare_and_replace(
            &self,
            _: StoreVersion,
            _: Option<&ExportedToken>,
            _: Duration,
        ) -> Result<Option<StoreVersion>, StoreError> {
            Err(self.fail())
        }
        fn try_lease(&self, _: u64, _: Duration, _: Duration) -> Result<Lease, StoreError> {
            Err(self.fail())
        }
        fn release(&self, _: u64, _: Duration) -> Result<(), StoreError> {
            Err(self.fail())
        }
    }

    #[test]
    fn token_store_down_degrades_to_a_private_cache_with_a_warning() {
        let sandbox = sandbox();
        let target = Target::of(&sandbox);
        let down = Arc::new(DownStore {
            delay: Duration::from_millis(50),
            calls: AtomicUsize::new(0),
            threads: std::sync::Mutex::new(Vec::new()),
        });
        let mut a = client_on(&target, down.clone());
        let mut b = client_on(&target, down.clone());
        for i in 0..5 {
            assert_eq!(get(&mut a, &sandbox, i), 200);
            assert_eq!(get(&mut b, &sandbox, i), 200);
        }
        // Each works on its own token: one request each, none failed.
        assert_eq!(sandbox.token_requests(), 2);
        for c in [&mut a, &mut b] {
            let notices = c.take_notices();
            let warnings: Vec<String> = notices
                .iter()
                .filter_map(|e| match e {
                    Event::Warning(w @ Warning::TokenStoreUnavailable(_)) => Some(w.to_string()),
                    _ => None,
                })
                .collect();
            // One warning per outage, not one per request.
            assert_eq!(warnings.len(), 1, "{notices:?}");
            assert_eq!(
                warnings[0],
                "the token store did not answer in time: this process uses its own token \
                 until the store answers again"
            );
        }
        // The store was skipped after its first failure (retry after 5 s), not asked on
        // every request.
        let calls = down.calls.load(Ordering::Relaxed);
        assert!(
            (2..10).contains(&calls),
            "{calls} store calls for 10 requests"
        );
    }

    #[test]
    fn token_store_file_is_private_and_refuses_shared_directories() {
        use std::os::unix::fs::PermissionsExt;
        let dir = private_dir("modes");
        let path = dir.join("token");
        let store = FileStore::open(&path).unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        let token = ExportedToken::new(
            mtls_core::auth::AccessToken::new("s3cr3t-t0ken").unwrap(),
            Duration::from_secs(3600),
        );
        let v = store
            .compare_and_replace(StoreVersion(0), Some(&token), wall())
            .unwrap();
        assert_eq!(v, Some(StoreVersion(1)));
        assert_eq!(mode(&path), 0o600);
        // No temporary file is left behind; only the state and its lock file.
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["token", "token.lock"]);
        assert_eq!(mode(&dir.join("token.lock")), 0o600);
        let loaded = store.load(wall()).unwrap();
        assert_eq!(loaded.version, StoreVersion(1));
        assert_eq!(loaded.token.unwrap().token().expose(), "s3cr3t-t0ken");
        // Debug shows the path, never the token.
        assert!(!format!("{store:?}").contains("s3cr3t"));

        // A world-writable directory (such as /tmp itself) is refused.
        let err = FileStore::open(std::env::temp_dir().join("mtls-token")).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied);
        assert!(err.to_string().contains("writable by other users"), "{err}");
        // So is a state file others can read.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = FileStore::open(&path).unwrap_err();
        assert!(err.to_string().contains("chmod 600"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn token_store_file_compare_and_replace_and_lease_follow_the_contract() {
        let dir = private_dir("contract");
        let store = FileStore::open(dir.join("token")).unwrap();
        let memory = MemoryStore::new();
        // One script, both implementations: the same answers.
        for s in [&store as &dyn TokenStore, &memory] {
            let now = Duration::from_secs(1_800_000_000);
            let lease = Duration::from_secs(10);
            assert_eq!(s.try_lease(1, lease, now).unwrap(), Lease::Granted);
            assert_eq!(
                s.try_lease(2, lease, now + Duration::from_secs(4)).unwrap(),
                Lease::Held {
                    for_at_most: Duration::from_secs(6)
                }
            );
            // Renewed by its holder; taken by another once it ran out.
            assert_eq!(s.try_lease(1, lease, now).unwrap(), Lease::Granted);
            assert_eq!(
                s.try_lease(2, lease, now + Duration::from_secs(10))
                    .unwrap(),
                Lease::Granted
            );
            s.release(1, now).unwrap(); // not the holder any more: nothing happens
            assert!(matches!(
                s.try_lease(3, lease, now).unwrap(),
                Lease::Held { .. }
            ));
            s.release(2, now).unwrap();
            assert_eq!(s.try_lease(3, lease, now).unwrap(), Lease::Granted);

            let token = ExportedToken::new(
                mtls_core::auth::AccessToken::new("t1").unwrap(),
                Duration::from_secs(60),
            );
            assert_eq!(
                s.compare_and_replace(StoreVersion(0), Some(&token), now)
                    .unwrap(),
                Some(StoreVersion(1))
            );
            assert_eq!(
                s.compare_and_replace(StoreVersion(0), None, now).unwrap(),
                None
            );
            let later = s.load(now + Duration::from_secs(45)).unwrap();
            assert_eq!(later.token.unwrap().remaining(), Duration::from_secs(15));
            // Expired: not returned.
            assert_eq!(s.load(now + Duration::from_secs(60)).unwrap().token, None);
            assert_eq!(
                s.compare_and_replace(StoreVersion(1), None, now).unwrap(),
                Some(StoreVersion(2))
            );
            assert_eq!(
                s.load(now).unwrap(),
                StoreSnapshot {
                    version: StoreVersion(2),
                    token: None
                }
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn token_store_file_lease_of_a_holder_that_never_releases_expires() {
        let sandbox = sandbox();
        let target = Target::of(&sandbox);
        let dir = private_dir("lease");
        let store = Arc::new(FileStore::open(dir.join("token")).unwrap());
        let lease = Duration::from_secs(2);
        let mut config = target.config();
        config.token_cache = TokenCache::with_store(
            CachePolicy::new(),
            store.clone(),
            StoreOptions::new().with_lease(lease),
        );
        let mut client = StdClient::new(config);
        // A process took the refresh lease and died (it never releases, never publishes).
        assert_eq!(
            store.try_lease(0xdead, lease, wall()).unwrap(),
            Lease::Granted
        );
        let started = Instant::now();
        assert_eq!(get(&mut client, &sandbox, 1), 200);
        let waited = started.elapsed();
        // It waited for the dead holder's lease, not for ever, then fetched itself.
        assert!(waited >= Duration::from_millis(1500), "{waited:?}");
        assert!(waited < Duration::from_secs(20), "{waited:?}");
        assert_eq!(sandbox.token_requests(), 1);
        assert!(store.load(wall()).unwrap().token.is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn token_store_file_lock_held_too_long_degrades_with_a_warning() {
        let sandbox = sandbox();
        let target = Target::of(&sandbox);
        let dir = private_dir("stuck");
        let path = dir.join("token");
        let store = FileStore::open(&path)
            .unwrap()
            .with_lock_timeout(Duration::from_millis(100));
        // A process that hangs holding the write lock.
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("token.lock"))
            .unwrap();
        lock.lock().unwrap();
        let mut client = client_on(&target, Arc::new(store));
        for i in 0..3 {
            assert_eq!(get(&mut client, &sandbox, i), 200);
        }
        assert_eq!(sandbox.token_requests(), 1);
        let notices = client.take_notices();
        assert_eq!(
            count(&notices, |e| matches!(
                e,
                Event::Warning(Warning::TokenStoreUnavailable(StoreError::Timeout))
            )),
            1,
            "{notices:?}"
        );
        drop(lock);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    const PROCESSES: usize = 4;
    const REQUESTS: usize = 5;

    #[test]
    fn token_store_file_processes_share_one_token() {
        let name = "token_store::token_store_file_processes_share_one_token";
        if fleet::child_main(|path| stored_cache(Arc::new(FileStore::open(path).unwrap()))) {
            return;
        }
        let (n, m) = fleet::size(PROCESSES, REQUESTS);
        let sandbox = sandbox();
        let target = Target::of(&sandbox);
        let dir = private_dir("fleet");
        let path = dir.join("token");
        FileStore::open(&path).unwrap(); // creates the directory
        let children = fleet::spawn(name, &target, path.to_str().unwrap(), n, m, &[]);
        let reports = fleet::collect(children);
        let ok: usize = reports.iter().map(|r| r.ok).sum();
        let fetched: usize = reports.iter().map(|r| r.fetched).sum();
        println!(
            "file store: {n} processes x {m} requests -> {} token requests at the \
             sandbox, {ok} responses 200",
            sandbox.token_requests()
        );
        assert_eq!(ok, n * m, "{reports:?}");
        assert_eq!(sandbox.token_requests(), 1, "{reports:?}");
        assert_eq!(fetched, 1);
        assert_eq!(sandbox.api_requests(), (n * m) as u64);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn token_store_file_processes_refresh_short_tokens_single_flight() {
        let name = "token_store::token_store_file_processes_refresh_short_tokens_single_flight";
        if fleet::child_main(|path| stored_cache(Arc::new(FileStore::open(path).unwrap()))) {
            return;
        }
        // Tokens of 2 s: each is reused for 1 s (half its life: it is shorter than the
        // refresh margin), so a process alone refreshes about once a second.
        let mut config = SandboxConfig::default();
        config.token_lifetime_secs = 2;
        let sandbox = Sandbox::start(config).unwrap();
        let dir = private_dir("refresh");
        let path = dir.join("token");
        FileStore::open(&path).unwrap();
        fleet::check_short_tokens_single_flight(
            "file store",
            name,
            &sandbox,
            path.to_str().unwrap(),
            PROCESSES,
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn token_store_file_tokio_pool_processes_share_one_token() {
        let name = "token_store::token_store_file_tokio_pool_processes_share_one_token";
        if fleet::child_main(|path| stored_cache(Arc::new(FileStore::open(path).unwrap()))) {
            return;
        }
        let (n, m) = fleet::size(PROCESSES, 8);
        let sandbox = sandbox();
        let target = Target::of(&sandbox);
        let dir = private_dir("tokio-fleet");
        let path = dir.join("token");
        FileStore::open(&path).unwrap(); // creates the directory
        let host = [(fleet::TOKIO_POOL.0, fleet::TOKIO_POOL.1.to_string())];
        let children = fleet::spawn(name, &target, path.to_str().unwrap(), n, m, &host);
        let reports = fleet::collect(children);
        let ok: usize = reports.iter().map(|r| r.ok).sum();
        let fetched: usize = reports.iter().map(|r| r.fetched).sum();
        println!(
            "file store, tokio pools: {n} processes x {m} requests -> {} token requests at \
             the sandbox, {ok} responses 200",
            sandbox.token_requests()
        );
        assert_eq!(ok, n * m, "{reports:?}");
        assert_eq!(sandbox.token_requests(), 1, "{reports:?}");
        assert_eq!(fetched, 1);
        assert_eq!(sandbox.api_requests(), (n * m) as u64);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn token_store_file_tokio_pool_processes_replace_a_revoked_token_once() {
        let name =
            "token_store::token_store_file_tokio_pool_processes_replace_a_revoked_token_once";
        if fleet::child_main(|path| stored_cache(Arc::new(FileStore::open(path).unwrap()))) {
            return;
        }
        let sandbox = sandbox();
        let target = Target::of(&sandbox);
        let dir = private_dir("tokio-fleet-revoke");
        let path = dir.join("token");
        FileStore::open(&path).unwrap();
        let barrier = dir.join("barrier");
        std::fs::create_dir_all(&barrier).unwrap();
        let extra = [
            (fleet::TOKIO_POOL.0, fleet::TOKIO_POOL.1.to_string()),
            ("MTLS_FLEET_BARRIER", barrier.to_str().unwrap().into()),
        ];
        let children = fleet::spawn(name, &target, path.to_str().unwrap(), PROCESSES, 6, &extra);
        // Every process has made one request with the shared token; then the server revokes
        // it (the next request gets 401 and the server forgets the token).
        fleet::barrier(&barrier, PROCESSES, || {
            assert_eq!(sandbox.token_requests(), 1);
            sandbox.knobs().set_force_401_count(1);
        });
        let reports = fleet::collect(children);
        let ok: usize = reports.iter().map(|r| r.ok).sum();
        let rejected: usize = reports.iter().map(|r| r.rejected).sum();
        println!(
            "file store, tokio pools, token revoked mid-run: {PROCESSES} processes x 6 \
             requests -> {} token requests, {rejected} 401s, {ok} responses 200",
            sandbox.token_requests()
        );
        assert_eq!(ok, PROCESSES * 6, "{reports:?}");
        // Each process met the revoked token (at least once: its connections carry it at
        // the same time); one new token serves them all.
        assert!(rejected >= PROCESSES, "{reports:?}");
        assert_eq!(sandbox.token_requests(), 2, "{reports:?}");
        assert_eq!(reports.iter().map(|r| r.fetched).sum::<usize>(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
