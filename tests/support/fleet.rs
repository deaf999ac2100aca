//! Several processes sharing one token: the test binary re-invokes itself (one test,
//! `--exact`) with the sandbox's address, the client identity and the store to use in
//! environment variables; the child runs its requests and prints one line of figures.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mtls_core::auth::Credentials;
use mtls_core::client::{Auth, Event, Warning};
use mtls_core::identity::{CaBundle, Identity};
use mtls_core::tls::Trust;
use mtls_core::{ApiRequest, ClientConfig};
use mtls_sandbox::Sandbox;

/// Set in a child: what it is to do (the store spec).
pub const CHILD: &str = "MTLS_FLEET_CHILD";

/// The child's host, in the `extra` environment of [`spawn`]: `std` (the default, a
/// `StdClient`, requests one after the other) or `tokio-pool` (see [`TOKIO_POOL`]).
pub const HOST: &str = "MTLS_FLEET_HOST";

/// A `TokioPool` (4 connections) on a 2-thread tokio runtime: the first request alone (then
/// the barrier, if any), the others all at once, each in its own task.
#[allow(dead_code)] // not every test binary uses it
pub const TOKIO_POOL: (&str, &str) = (HOST, "tokio-pool");

/// What a child needs to reach the sandbox.
pub struct Target {
    pub base_url: String,
    pub client_id: String,
    pub api_key: String,
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl Target {
    pub fn of(sandbox: &Sandbox) -> Target {
        let issued = sandbox.issue_client_identity().unwrap();
        Target {
            base_url: sandbox.base_url(),
            client_id: sandbox.client_id().into(),
            api_key: sandbox.api_key().into(),
            ca_pem: sandbox.ca_pem(),
            cert_pem: issued.cert_pem,
            key_pem: issued.key_pem.as_deref().unwrap().to_string(),
        }
    }

    fn from_env() -> Target {
        let var = |name: &str| std::env::var(name).unwrap();
        Target {
            base_url: var("MTLS_FLEET_BASE_URL"),
            client_id: var("MTLS_FLEET_CLIENT_ID"),
            api_key: var("MTLS_FLEET_API_KEY"),
            ca_pem: var("MTLS_FLEET_CA"),
            cert_pem: var("MTLS_FLEET_CERT"),
            key_pem: var("MTLS_FLEET_KEY"),
        }
    }

    pub fn config(&self) -> ClientConfig {
        let identity =
            Identity::from_pem(self.cert_pem.as_bytes(), self.key_pem.as_bytes()).unwrap();
        let trust = Trust::Custom(CaBundle::from_pem(self.ca_pem.as_bytes()).unwrap());
        let credentials = Credentials::new(&self.client_id, &self.api_key).unwrap();
        ClientConfig::new(
            &self.base_url,
            Auth::ClientCredentials(credentials),
            &identity,
            trust,
        )
        .unwrap()
    }
}

/// Starts `n` children running `test` (its full name) with `spec` for the store; each makes
/// `m` requests, all starting at the same wall-clock moment (so they contend).
pub fn spawn(
    test: &str,
    target: &Target,
    spec: &str,
    n: usize,
    m: usize,
    extra: &[(&str, String)],
) -> Vec<Child> {
    let start = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_millis(1500);
    (0..n)
        .map(|i| {
            Command::new(std::env::current_exe().unwrap())
                .args([test, "--exact", "--nocapture", "--test-threads=1"])
                .env(CHILD, spec)
                .env("MTLS_FLEET_INDEX", i.to_string())
                .env("MTLS_FLEET_REQUESTS", m.to_string())
                .env("MTLS_FLEET_START_MS", start.as_millis().to_string())
                .env("MTLS_FLEET_BASE_URL", &target.base_url)
                .env("MTLS_FLEET_CLIENT_ID", &target.client_id)
                .env("MTLS_FLEET_API_KEY", &target.api_key)
                .env("MTLS_FLEET_CA", &target.ca_pem)
                .env("MTLS_FLEET_CERT", &target.cert_pem)
                .env("MTLS_FLEET_KEY", &target.key_pem)
                .envs(extra.iter().map(|(k, v)| (*k, v)))
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap()
        })
        .collect()
}

/// What one child reports.
#[derive(Debug, Default, Clone, Copy)]
pub struct ChildReport {
    pub ok: usize,
    pub failed: usize,
    pub fetched: usize,
    pub rejected: usize,
    pub store_warnings: usize,
}

/// Waits (bounded: 120 s each) for the children and reads their reports.
pub fn collect(children: Vec<Child>) -> Vec<ChildReport> {
    children
        .into_iter()
        .map(|mut child| {
            let deadline = Instant::now() + Duration::from_secs(120);
            loop {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    panic!("a child process did not finish in 120 s");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let output = child.wait_with_output().unwrap();
            assert!(output.status.success(), "child failed: {:?}", output.status);
            let text = String::from_utf8(output.stdout).unwrap();
            let line = text
                .lines()
                .find_map(|l| l.split_once("fleet-report ").map(|(_, r)| r))
                .unwrap_or_else(|| panic!("no report in {text}"));
            let mut report = ChildReport::default();
            for field in line.split(' ') {
                let (k, v) = field.split_once('=').unwrap();
                let v: usize = v.parse().unwrap();
                match k {
                    "ok" => report.ok = v,
                    "failed" => report.failed = v,
                    "fetched" => report.fetched = v,
                    "rejected" => report.rejected = v,
                    "store_warnings" => report.store_warnings = v,
                    _ => panic!("unknown field {k}"),
                }
            }
            report
        })
        .collect()
}

/// The child's side: runs when [`CHILD`] is set, with a config whose token cache has the
/// store; makes its requests one after the other (with a pause, `between`) and prints its
/// report. Returns false in the parent.
pub fn child_main(make_cache: impl FnOnce(&str) -> mtls_core::auth::TokenCache) -> bool {
    let Ok(spec) = std::env::var(CHILD) else {
        return false;
    };
    let target = Target::from_env();
    let m: usize = std::env::var("MTLS_FLEET_REQUESTS")
        .unwrap()
        .parse()
        .unwrap();
    let start_ms: u128 = std::env::var("MTLS_FLEET_START_MS")
        .unwrap()
        .parse()
        .unwrap();
    let index: usize = std::env::var("MTLS_FLEET_INDEX").unwrap().parse().unwrap();
    let mut config = target.config();
    config.token_cache = make_cache(&spec);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    if start_ms > now {
        std::thread::sleep(Duration::from_millis((start_ms - now) as u64));
    }
    let mut report = ChildReport::default();
    let mut tally = |status: Result<u16, String>| match status {
        Ok(200) => report.ok += 1,
        Ok(status) => {
            eprintln!("child {index}: status {status}");
            report.failed += 1
        }
        Err(e) => {
            eprintln!("child {index}: {e}");
            report.failed += 1
        }
    };
    let path = |i: usize| format!("/v2.01/{}/users/{}", target.client_id, index * 1000 + i);
    let notices = match std::env::var(HOST).as_deref() {
        Ok("tokio-pool") => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let options = mtls_core::io::PoolOptions {
                max_connections: 4,
                ..mtls_core::io::PoolOptions::default()
            };
            let pool = mtls_core::io::TokioPool::new(config, options);
            let get = |pool: mtls_core::io::TokioPool, path: String| async move {
                let outcome = pool.request(ApiRequest::get(&path)).await;
                outcome.map(|r| r.status).map_err(|e| e.to_string())
            };
            runtime.block_on(async {
                if m > 0 {
                    tally(get(pool.clone(), path(0)).await);
                    barrier_child(index);
                }
                let tasks: Vec<_> = (1..m)
                    .map(|i| tokio::spawn(get(pool.clone(), path(i))))
                    .collect();
                for task in tasks {
                    tally(task.await.unwrap());
                }
            });
            pool.take_notices()
        }
        Ok(other) if other != "std" => panic!("unknown {HOST} {other}"),
        _ => {
            let mut client = mtls_core::io::std_adapter::StdClient::new(config);
            for i in 0..m {
                let outcome = client.request(ApiRequest::get(&path(i)));
                tally(outcome.map(|r| r.status).map_err(|e| e.to_string()));
                if i == 0 {
                    barrier_child(index);
                }
                if let Ok(pause) = std::env::var("MTLS_FLEET_PAUSE_MS") {
                    std::thread::sleep(Duration::from_millis(pause.parse().unwrap()));
                }
            }
            client.take_notices()
        }
    };
    for notice in notices {
        match notice {
            Event::TokenFetched { .. } => report.fetched += 1,
            Event::TokenRejected(_) => report.rejected += 1,
            Event::Warning(Warning::TokenStoreUnavailable(_)) => report.store_warnings += 1,
            _ => {}
        }
    }
    println!(
        "fleet-report ok={} failed={} fetched={} rejected={} store_warnings={}",
        report.ok, report.failed, report.fetched, report.rejected, report.store_warnings
    );
    true
}

/// The child's side of [`barrier`], when `MTLS_FLEET_BARRIER` is set: tells the parent the
/// first request is done and waits (bounded) for its word to go on.
fn barrier_child(index: usize) {
    if let Ok(dir) = std::env::var("MTLS_FLEET_BARRIER") {
        let dir = std::path::Path::new(&dir);
        std::fs::write(dir.join(format!("ready-{index}")), b"").unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !dir.join("go").exists() {
            assert!(Instant::now() < deadline, "no go from the parent");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Waits (bounded) until every one of `n` children has written its `ready-i` file in `dir`,
/// runs `between`, then lets them go on.
pub fn barrier(dir: &std::path::Path, n: usize, between: impl FnOnce()) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while (0..n).any(|i| !dir.join(format!("ready-{i}")).exists()) {
        assert!(Instant::now() < deadline, "children did not get ready");
        std::thread::sleep(Duration::from_millis(5));
    }
    between();
    std::fs::write(dir.join("go"), b"").unwrap();
}

/// `(processes, requests)`: the defaults, or `MTLS_FLEET_N` / `MTLS_FLEET_M` for a larger run
/// by hand (`MTLS_FLEET_N=16 MTLS_FLEET_M=50 cargo test ... -- --nocapture`).
#[allow(dead_code)] // not every test binary uses it
pub fn size(n: usize, m: usize) -> (usize, usize) {
    let var = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    (var("MTLS_FLEET_N", n), var("MTLS_FLEET_M", m))
}

/// Runs `processes` children of test `name` on `store_spec`, 12 requests each with a 250 ms
/// pause, against a sandbox whose tokens live 2 s, and checks that refresh stayed
/// single-flight across them: every request answered, and about one token per second of work
/// for all of them (each 2 s token is reused for 1 s, half its life), as one process alone
/// would need; without a shared store each process would. `label` names the store in the
/// printed figure.
pub fn check_short_tokens_single_flight(
    label: &str,
    name: &str,
    sandbox: &Sandbox,
    store_spec: &str,
    processes: usize,
) {
    let target = Target::of(sandbox);
    let started = Instant::now();
    let children = spawn(
        name,
        &target,
        store_spec,
        processes,
        12,
        &[("MTLS_FLEET_PAUSE_MS", "250".into())],
    );
    let reports = collect(children);
    // The children wait 1.5 s for their common start.
    let busy = started
        .elapsed()
        .saturating_sub(Duration::from_millis(1500));
    let ok: usize = reports.iter().map(|r| r.ok).sum();
    let tokens = sandbox.token_requests();
    println!(
        "{label}, 2 s tokens: {processes} processes x 12 requests over {busy:?} -> \
         {tokens} token requests"
    );
    assert_eq!(ok, processes * 12, "{reports:?}");
    let one_process = busy.as_secs_f64().ceil() as u64 + 1;
    assert!(tokens >= 2, "no refresh happened: {tokens}");
    assert!(
        tokens <= one_process + 1,
        "{tokens} token requests in {busy:?}"
    );
}
