//! The one benchmark (issue 12): figures, not a test. Starts its own servers, measures side
//! by side in one run (medians over alternating rounds), prints a table and, as its last
//! line, one JSON object. A figure whose feature does not exist (or could not be measured
//! here) is `null`, and the table says why.
//!
//! Run: `cargo run --release --example bench`. Sizes: `BENCH_ROUNDS` (5), `BENCH_PROCESSES`
//! (one-shot processes per contender per round, 5), `BENCH_HANDSHAKES` (per round, 20),
//! `BENCH_CALLERS`/`BENCH_PER_CALLER` (concurrency row, 64/100); `BENCH_NO_FAST=1` skips the
//! build of the `ring` variant of this example (the `_fast` figures are then `null`).
//! `BENCH_PROFILE=SECS` measures nothing: it prints the one-shot command lines (ours, curl's)
//! and keeps the servers up that long, for `perf record`.
//!
//! The server: nginx with `ssl_verify_client on` (`tests/support/nginx.rs`) when installed,
//! else the sandbox in a child process. Either way it runs in another process, so this
//! process's `getrusage(RUSAGE_SELF)` is client CPU only, and `RUSAGE_CHILDREN` after each
//! `wait` is the CPU of the one-shot processes (ours and curl's).
//!
//! Rows:
//! - **sign**: CPU per CertificateVerify signature (RSA-PSS-SHA256 / ECDSA-P256-SHA256):
//!   `rsa` 0.9 (the signer `rustls-rustcrypto` would use), this build's signer (`rsa` 0.10,
//!   constant time), ring; and per load of the RSA key into a signer (once per process).
//! - **one-shot**: one process doing handshake + token + GET (ours: this example with
//!   `oneshot`, the pure-Rust default and, built with `--features ring`, the fast provider)
//!   vs one `curl` 7.88 process doing handshake + the same GET with the token given (curl
//!   has no token exchange), RSA-2048 and P-256 client keys.
//! - **keep-alive**: one process, one connection: token + 200 GETs (ours) vs 200 GETs
//!   (curl, one invocation, same URL 200 times: curl reuses the connection).
//! - **handshake**: client CPU per full mTLS handshake in this process, ours
//!   (`TlsConnection`) vs bare rustls (buffered `ClientConnection`), same provider, same
//!   signer object.
//! - **allocations**: a counting global allocator: allocations per GET on a warm, kept-alive
//!   connection with a cached token, of the sans-IO `Client` against an in-process rustls
//!   server over memory buffers (`tests/support/warm_client.rs`, pinned by
//!   `tests/http_alloc.rs`), split into ours (client, HTTP, TLS record layer; responses
//!   recycled, and kept owned) and rustls' own; of the `StdClient` path (ours, rustls and
//!   the owned `Response` together, over loopback; and with its responses recycled); and
//!   the peak heap of a fresh handshake + token + GET.
//! - **concurrency**: `bench_hosts`' pool vs reqwest (`bench_support::hosts`).

mod bench_support;

#[path = "../tests/support/warm_client.rs"]
mod warm_client;

#[path = "../tests/support/nginx.rs"]
mod nginx;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bench_support::sandbox_child::{self, Server};
use bench_support::{children_cpu_time, cpu_time, median, size, Fallible};
use mtls_core::auth::Credentials;
use mtls_core::client::Auth;
use mtls_core::identity::{CaBundle, Identity};
use mtls_core::internals::TlsConnection;
use mtls_core::io::std_adapter::{wall_clock_now, StdClient};
use mtls_core::tls::{SessionStore, TlsConfig, TlsLimits, Trust};
use mtls_core::{ApiRequest, ClientConfig};
use rustls::SignatureScheme;

const RSA_KEY_PEM: &str = include_str!("../tests/fixtures/rsa2048-pkcs8.pem");
const RSA_SPKI_DER: &[u8] = include_bytes!("../tests/fixtures/rsa2048-pkcs8.spki.der");
const CLIENT_ID: &str = "bench-client";
const API_KEY: &str = "bench-api-key-0123";

// ---- the counting allocator ------------------------------------------------------------

/// Counts this thread's allocations, and the process's live and peak heap bytes.
struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    // The warm-client observer's own allocations (its backtraces) are not counted.
    if warm_client::observe_allocation() {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
    }
    let live = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

// SAFETY: forwards every call to `System` unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        grew(new_size);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn allocs_here() -> u64 {
    ALLOCS.with(Cell::get)
}

// ---- main ------------------------------------------------------------------------------

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") => sandbox_child::serve(),
        Some("oneshot") => child_requests(&args[1..], 1),
        Some("keepalive") => child_requests(&args[1..], 200),
        _ => bench(),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

// ---- the target server -----------------------------------------------------------------

/// A client identity as files (for curl and the child processes) and in memory.
struct Key {
    name: &'static str,
    cert: PathBuf,
    key: PathBuf,
    identity: Identity,
}

/// The server every row talks to, and what a client needs for it.
struct Target {
    kind: &'static str,
    base_url: String,
    addr: std::net::SocketAddr,
    client_id: String,
    api_key: String,
    ca: PathBuf,
    ca_pem: String,
    server_name: String,
    token: String,
    rsa: Key,
    p256: Key,
    dir: PathBuf,
    _nginx: Option<nginx::NginxServer>,
    _sandbox: Option<Server>,
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Target {
    fn path(&self) -> String {
        format!("/v2.01/{}/users/1", self.client_id)
    }

    fn url(&self) -> String {
        format!("{}{}", self.base_url, self.path())
    }

    fn trust(&self) -> Fallible<Trust> {
        Ok(Trust::Custom(CaBundle::from_pem(self.ca_pem.as_bytes())?))
    }

    fn start() -> Fallible<Target> {
        let dir = std::env::temp_dir().join(format!("mtls-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let write = |name: &str, text: &str| -> Fallible<PathBuf> {
            let path = dir.join(name);
            std::fs::write(&path, text)?;
            Ok(path)
        };
        let key = |name: &'static str, cert_pem: &str, key_pem: &str| -> Fallible<Key> {
            Ok(Key {
                name,
                cert: write(&format!("{name}.cert.pem"), cert_pem)?,
                key: write(&format!("{name}.key.pem"), key_pem)?,
                identity: Identity::from_pem(cert_pem.as_bytes(), key_pem.as_bytes())?,
            })
        };
        let ca = mtls_sandbox::TestCa::new("bench CA")?;
        let server_cert = ca.issue(&mtls_sandbox::IssueSpec::server(&[
            "localhost",
            "127.0.0.1",
        ]))?;
        match nginx::NginxServer::start(
            &ca.cert_pem(),
            &server_cert.cert_pem,
            server_cert.key_pem.as_ref().ok_or("no server key")?,
            CLIENT_ID,
            API_KEY,
        ) {
            Ok(server) => {
                let p256 = ca.issue(&mtls_sandbox::IssueSpec::client("bench-p256"))?;
                let mut rsa_spec = mtls_sandbox::IssueSpec::client("bench-rsa");
                rsa_spec.public_key_der = Some(RSA_SPKI_DER.to_vec());
                let rsa = ca.issue(&rsa_spec)?;
                Ok(Target {
                    kind: "nginx (ssl_verify_client on)",
                    base_url: format!("https://127.0.0.1:{}", server.port),
                    addr: server.addr(),
                    client_id: CLIENT_ID.into(),
                    api_key: API_KEY.into(),
                    ca: write("ca.pem", &ca.cert_pem())?,
                    ca_pem: ca.cert_pem(),
                    server_name: "127.0.0.1".into(),
                    token: nginx::NGINX_TOKEN.into(),
                    rsa: key("rsa2048", &rsa.cert_pem, RSA_KEY_PEM)?,
                    p256: key(
                        "p256",
                        &p256.cert_pem,
                        p256.key_pem.as_ref().ok_or("no client key")?,
                    )?,
                    dir,
                    _nginx: Some(server),
                    _sandbox: None,
                })
            }
            Err(e) => {
                println!("nginx not available ({e}): the sandbox serves every row");
                let server = Server::start()?;
                let url = url_parts(&server.base_url)?;
                let addr = std::net::ToSocketAddrs::to_socket_addrs(&(url.0.as_str(), url.1))?
                    .next()
                    .ok_or("the sandbox's host does not resolve")?;
                let ca_path = write("ca.pem", &server.ca_pem)?;
                let token = curl_token(&server, &ca_path, &dir)?;
                Ok(Target {
                    kind: "the sandbox",
                    base_url: server.base_url.clone(),
                    addr,
                    client_id: server.client_id.clone(),
                    api_key: server.api_key.clone(),
                    ca: ca_path,
                    ca_pem: server.ca_pem.clone(),
                    server_name: url.0,
                    token,
                    rsa: key("rsa2048", &server.rsa_cert_pem, RSA_KEY_PEM)?,
                    p256: key("p256", &server.cert_pem, &server.key_pem)?,
                    dir,
                    _nginx: None,
                    _sandbox: Some(server),
                })
            }
        }
    }
}

/// Host and port of `https://host:port`.
fn url_parts(base_url: &str) -> Fallible<(String, u16)> {
    let rest = base_url
        .strip_prefix("https://")
        .ok_or("not an https URL")?;
    let (host, port) = rest.rsplit_once(':').ok_or("no port")?;
    Ok((host.to_string(), port.trim_end_matches('/').parse()?))
}

/// The sandbox's token, fetched once with curl, for curl's GETs.
fn curl_token(server: &Server, ca: &Path, dir: &Path) -> Fallible<String> {
    let cert = dir.join("token.cert.pem");
    let key = dir.join("token.key.pem");
    std::fs::write(&cert, &server.cert_pem)?;
    std::fs::write(&key, &server.key_pem)?;
    let out = Command::new("curl")
        .args(["-sS", "-X", "POST", "--cert"])
        .arg(&cert)
        .arg("--key")
        .arg(&key)
        .arg("--cacert")
        .arg(ca)
        .args(["-H", &format!("Authorization: {}", server.basic)])
        .args(["-H", "Content-Type: application/x-www-form-urlencoded"])
        .args(["--data", "grant_type=client_credentials"])
        .arg(format!("{}/v2.01/oauth/token", server.base_url))
        .output()?;
    let body = String::from_utf8_lossy(&out.stdout);
    Ok(body
        .split("\"access_token\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .ok_or("no access_token in the sandbox's answer to curl")?
        .to_string())
}

// ---- the child processes (`oneshot`, `keepalive`) -------------------------------------

/// `<mode> BASE_URL CLIENT_ID API_KEY CERT KEY CA PATH`: reads the files, builds the client,
/// token + `gets` GETs on one connection; succeeds when every answer is 200.
fn child_requests(args: &[String], gets: usize) -> Fallible<bool> {
    let [base_url, client_id, api_key, cert, key, ca, path] = args else {
        return Err(
            "usage: bench oneshot|keepalive BASE_URL CLIENT_ID API_KEY CERT KEY CA PATH".into(),
        );
    };
    let identity = Identity::from_pem(&std::fs::read(cert)?, &std::fs::read(key)?)?;
    let trust = Trust::Custom(CaBundle::from_pem(&std::fs::read(ca)?)?);
    let config = ClientConfig::new(
        base_url,
        Auth::ClientCredentials(Credentials::new(client_id, api_key)?),
        &identity,
        trust,
    )?;
    let mut client = StdClient::new(config);
    for _ in 0..gets {
        let response = client.request(ApiRequest::get(path))?;
        if response.status != 200 {
            return Ok(false);
        }
    }
    Ok(client.connections() == 1)
}

/// A one-shot or keep-alive process of ours: `exe` is this example, default or fast build.
fn ours(exe: &Path, mode: &str, target: &Target, key: &Key) -> Command {
    let mut command = Command::new(exe);
    command
        .arg(mode)
        .arg(&target.base_url)
        .arg(&target.client_id)
        .arg(&target.api_key)
        .arg(&key.cert)
        .arg(&key.key)
        .arg(&target.ca)
        .arg(target.path());
    command
}

/// curl doing `gets` GETs of the same URL on one connection, with the token given.
fn curl(target: &Target, key: &Key, gets: usize) -> Command {
    let mut command = Command::new("curl");
    command
        .args(["-sS", "--cert"])
        .arg(&key.cert)
        .arg("--key")
        .arg(&key.key)
        .arg("--cacert")
        .arg(&target.ca)
        .args(["-H", &format!("Authorization: Bearer {}", target.token)])
        .args(["-w", "\n%{http_code}\n"]);
    for _ in 0..gets {
        command.arg(target.url());
    }
    command
}

/// Runs `n` processes one after the other; their CPU (user + system) per process, in ms.
/// Each must succeed: for curl, every GET must print 200.
fn processes(n: usize, gets: usize, mut make: impl FnMut() -> Command) -> Fallible<f64> {
    let before = children_cpu_time();
    for _ in 0..n {
        let out = make().stderr(Stdio::inherit()).output()?;
        let oks = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| *l == "200")
            .count();
        let curl_ok = oks == gets;
        if !out.status.success() || (!out.stdout.is_empty() && !curl_ok) {
            return Err(format!("a measured process failed ({:?})", out.status).into());
        }
    }
    Ok((children_cpu_time() - before).as_secs_f64() * 1e3 / n as f64)
}

// ---- in-process handshakes --------------------------------------------------------------

/// One full handshake of ours over TCP, until our Finished is written.
fn our_handshake(config: &TlsConfig, target: &Target) -> Fallible<()> {
    our_handshake_then(config, target, None).map(|_| ())
}

/// [`our_handshake`], then, with `store`, reading on until the server's new session tickets
/// are in it (the same extra work for a full and a resumed handshake). Whether it resumed.
fn our_handshake_then(
    config: &TlsConfig,
    target: &Target,
    store: Option<&SessionStore>,
) -> Fallible<bool> {
    let stored_before = store.map_or(0, SessionStore::len);
    let mut sock = TcpStream::connect(target.addr)?;
    sock.set_nodelay(true)?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut tls = TlsConnection::new(
        config,
        &target.server_name,
        TlsLimits::default(),
        wall_clock_now(),
    )?;
    let mut buf = vec![0u8; 18 * 1024];
    for _ in 0..100 {
        let out = tls.pending_transmit();
        if !out.is_empty() {
            sock.write_all(out)?;
            let n = out.len();
            tls.consume_transmit(n);
        }
        // A resumed handshake takes one ticket: wait until the server replaced it.
        if tls.is_open() && store.is_none_or(|s| s.len() >= stored_before.max(1)) {
            return Ok(tls.resumed());
        }
        let n = sock.read(&mut buf)?;
        if n == 0 {
            return Err("the server closed during the handshake".into());
        }
        let mut offset = 0;
        while offset < n {
            offset += tls.handle_input(&buf[offset..n])?;
        }
    }
    Err("the handshake did not finish".into())
}

/// Hands rustls one fixed certificate and signer.
#[derive(Debug)]
struct Fixed(Arc<rustls::sign::CertifiedKey>);

impl rustls::client::ResolvesClientCert for Fixed {
    fn resolve(
        &self,
        _: &[&[u8]],
        _: &[SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }
    fn has_certs(&self) -> bool {
        true
    }
}

/// Bare rustls (buffered `ClientConnection`) with this build's provider and the signer our
/// `TlsConfig` holds for `identity`: what our layers are measured against.
fn bare_config(target: &Target, identity: &Identity) -> Fallible<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(if cfg!(feature = "ring") {
        rustls::crypto::ring::default_provider()
    } else {
        rustls_rustcrypto::provider()
    });
    let mut roots = rustls::RootCertStore::empty();
    for cert in CaBundle::from_pem(target.ca_pem.as_bytes())?.certs() {
        roots.add(cert.clone())?;
    }
    let signer = mtls_core::internals::client_signing_key(identity)?;
    let certified = rustls::sign::CertifiedKey::new(identity.chain().to_vec(), signer);
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_root_certificates(roots)
        .with_client_cert_resolver(Arc::new(Fixed(Arc::new(certified))));
    config.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(config))
}

fn bare_handshake(config: &Arc<rustls::ClientConfig>, target: &Target) -> Fallible<()> {
    let mut sock = TcpStream::connect(target.addr)?;
    sock.set_nodelay(true)?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))?;
    let name = rustls::pki_types::ServerName::try_from(target.server_name.clone())?;
    let mut conn = rustls::ClientConnection::new(config.clone(), name)?;
    for _ in 0..100 {
        if !conn.is_handshaking() && !conn.wants_write() {
            return Ok(());
        }
        conn.complete_io(&mut sock)?;
    }
    Err("the bare handshake did not finish".into())
}

/// CPU per call of `f` in this process, in ms, over `n` calls.
fn cpu_per(n: usize, mut f: impl FnMut() -> Fallible<()>) -> Fallible<f64> {
    let before = cpu_time();
    for _ in 0..n {
        f()?;
    }
    Ok((cpu_time() - before).as_secs_f64() * 1e3 / n as f64)
}

// ---- the fast build ---------------------------------------------------------------------

/// This example built with `--features ring` (in `target/bench-ring`), or why not.
fn fast_build() -> Result<PathBuf, String> {
    if cfg!(feature = "ring") {
        return std::env::current_exe().map_err(|e| e.to_string());
    }
    if std::env::var_os("BENCH_NO_FAST").is_some() {
        return Err("BENCH_NO_FAST set".into());
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target_dir = root.join("target").join("bench-ring");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    println!("building the ring variant of this example (once; target/bench-ring) ...");
    let status = Command::new(cargo)
        .current_dir(root)
        .args([
            "build",
            "--release",
            "--example",
            "bench",
            "--features",
            "ring",
        ])
        .env("CARGO_TARGET_DIR", &target_dir)
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("cargo: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build --features ring failed ({status})"));
    }
    Ok(target_dir.join("release").join("examples").join("bench"))
}

// ---- the benchmark ----------------------------------------------------------------------

/// One printed row: what, ours, the peer, the ratio (or why there is none).
struct Row {
    work: String,
    ours: String,
    peer: String,
    ratio: String,
}

fn row(work: impl Into<String>, ours: f64, peer: Option<f64>, unit: &str) -> Row {
    Row {
        work: work.into(),
        ours: format!("{ours:.2} {unit}"),
        peer: peer.map_or("-".into(), |p| format!("{p:.2} {unit}")),
        ratio: peer.map_or("-".into(), |p| format!("{:.2}", ours / p)),
    }
}

fn json_number(value: Option<f64>) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{v:.3}"),
        _ => "null".into(),
    }
}

/// Medians over `rounds` rounds of each contender; the order alternates between rounds.
fn alternate(
    rounds: usize,
    contenders: &mut [&mut dyn FnMut() -> Fallible<f64>],
) -> Fallible<Vec<f64>> {
    let mut results = vec![Vec::new(); contenders.len()];
    for round in 0..rounds {
        let mut order: Vec<usize> = (0..contenders.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            results[i].push(contenders[i]()?);
        }
    }
    Ok(results.into_iter().map(median).collect())
}

fn bench() -> Fallible<bool> {
    let rounds = size("BENCH_ROUNDS", 5)?.max(1);
    let procs = size("BENCH_PROCESSES", 5)?.max(1);
    let handshakes = size("BENCH_HANDSHAKES", 20)?.max(1);
    let callers = size("BENCH_CALLERS", 64)?.max(1);
    let per_caller = size("BENCH_PER_CALLER", 100)?.max(1);
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let target = Target::start()?;
    let me = std::env::current_exe()?;
    if let Some(secs) = std::env::var("BENCH_PROFILE")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        // For `perf record`: the one-shot command lines, the servers up for `secs` seconds.
        for key in [&target.rsa, &target.p256] {
            println!("{:?}", ours(&me, "oneshot", &target, key));
            println!("{:?}", curl(&target, key, 1));
        }
        std::thread::sleep(Duration::from_secs(secs));
        return Ok(true);
    }
    let fast = fast_build();
    println!(
        "bench: server {}, {rounds} rounds, {build} build, provider {}",
        target.kind,
        if cfg!(feature = "ring") {
            "ring"
        } else {
            "rustls-rustcrypto (pure Rust)"
        }
    );
    let mut rows = Vec::new();
    let mut notes = Vec::new();

    // sign
    let message = [0x5a_u8; 130];
    let signer_of = |key: Arc<dyn rustls::sign::SigningKey>,
                     scheme|
     -> Fallible<Box<dyn rustls::sign::Signer>> {
        key.choose_scheme(&[scheme])
            .ok_or_else(|| "scheme not offered".into())
    };
    let key_der = |pem: &str| -> Fallible<rustls::pki_types::PrivateKeyDer<'static>> {
        use rustls::pki_types::pem::PemObject;
        Ok(rustls::pki_types::PrivateKeyDer::from_pem_slice(
            pem.as_bytes(),
        )?)
    };
    let rsa_key = key_der(RSA_KEY_PEM)?;
    let p256_pem = std::fs::read_to_string(&target.p256.key)?;
    let p256_key = key_der(&p256_pem)?;
    let pss = SignatureScheme::RSA_PSS_SHA256;
    let ecdsa = SignatureScheme::ECDSA_NISTP256_SHA256;
    let rsa09 = signer_of(
        rustls_rustcrypto::provider()
            .key_provider
            .load_private_key(rsa_key.clone_key())?,
        pss,
    )?;
    let rsa_ours = signer_of(
        mtls_core::internals::client_signing_key(&target.rsa.identity)?,
        pss,
    )?;
    let rsa_ring = signer_of(
        rustls::crypto::ring::default_provider()
            .key_provider
            .load_private_key(rsa_key.clone_key())?,
        pss,
    )?;
    let p256_rc = signer_of(
        rustls_rustcrypto::provider()
            .key_provider
            .load_private_key(p256_key.clone_key())?,
        ecdsa,
    )?;
    let p256_ring = signer_of(
        rustls::crypto::ring::default_provider()
            .key_provider
            .load_private_key(p256_key.clone_key())?,
        ecdsa,
    )?;
    fn sign<'a>(
        s: &'a dyn rustls::sign::Signer,
        message: &[u8],
    ) -> impl FnMut() -> Fallible<f64> + 'a {
        let message = message.to_vec();
        move || cpu_per(10, || Ok(s.sign(&message).map(|_| ())?))
    }
    let (mut a, mut b, mut c, mut d, mut e) = (
        sign(&*rsa09, &message),
        sign(&*rsa_ours, &message),
        sign(&*rsa_ring, &message),
        sign(&*p256_rc, &message),
        sign(&*p256_ring, &message),
    );
    let m = alternate(rounds, &mut [&mut a, &mut b, &mut c, &mut d, &mut e])?;
    rows.push(row(
        "sign RSA-2048 PSS: this build's signer vs rsa 0.9 (rustls-rustcrypto's)",
        m[1],
        Some(m[0]),
        "ms",
    ));
    rows.push(row(
        "sign RSA-2048 PSS: ring vs rsa 0.9",
        m[2],
        Some(m[0]),
        "ms",
    ));
    rows.push(row(
        "sign ECDSA P-256: ring vs RustCrypto p256",
        m[4],
        Some(m[3]),
        "ms",
    ));
    // Loading the key (parse, check, precompute): once per process, part of a one-shot.
    let mut load_ours = || {
        cpu_per(10, || {
            mtls_core::internals::client_signing_key(&target.rsa.identity).map(|_| ())?;
            Ok(())
        })
    };
    let mut load_ring = || {
        cpu_per(10, || {
            let provider = rustls::crypto::ring::default_provider();
            provider
                .key_provider
                .load_private_key(rsa_key.clone_key())?;
            Ok(())
        })
    };
    let m = alternate(rounds, &mut [&mut load_ours, &mut load_ring])?;
    rows.push(row(
        "load the RSA-2048 key: this build's signer vs ring",
        m[0],
        Some(m[1]),
        "ms",
    ));

    // one-shot processes
    let mut oneshot_ratio = |exe: &Path, label: &str| -> Fallible<Option<f64>> {
        let mut ours_rsa = || processes(procs, 0, || ours(exe, "oneshot", &target, &target.rsa));
        let mut curl_rsa = || processes(procs, 1, || curl(&target, &target.rsa, 1));
        let mut ours_p256 = || processes(procs, 0, || ours(exe, "oneshot", &target, &target.p256));
        let mut curl_p256 = || processes(procs, 1, || curl(&target, &target.p256, 1));
        let m = alternate(
            rounds,
            &mut [&mut ours_rsa, &mut curl_rsa, &mut ours_p256, &mut curl_p256],
        )?;
        rows.push(row(
            format!("one-shot process RSA-2048 ({label}) vs curl"),
            m[0],
            Some(m[1]),
            "ms CPU",
        ));
        rows.push(row(
            format!("one-shot process P-256 ({label}) vs curl"),
            m[2],
            Some(m[3]),
            "ms CPU",
        ));
        Ok(Some(m[0] / m[1]))
    };
    let oneshot_default = if cfg!(feature = "ring") {
        notes.push("oneshot_rsa_vs_curl_default: this binary is the ring build; run without --features ring".to_string());
        None
    } else {
        oneshot_ratio(&me, "default, pure Rust")?
    };
    let oneshot_fast = match &fast {
        Ok(exe) => oneshot_ratio(exe, "fast: ring")?,
        Err(why) => {
            notes.push(format!("oneshot_rsa_vs_curl_fast: no ring build ({why})"));
            None
        }
    };

    // keep-alive
    let mut ours_ka = || processes(1, 0, || ours(&me, "keepalive", &target, &target.p256));
    let mut curl_ka = || processes(1, 200, || curl(&target, &target.p256, 200));
    let m = alternate(rounds, &mut [&mut ours_ka, &mut curl_ka])?;
    rows.push(row(
        "one process, 200 GETs on one connection (P-256; ours + token) vs curl",
        m[0],
        Some(m[1]),
        "ms CPU",
    ));
    let keepalive = m[0] / m[1];

    // handshakes in this process
    let trust = target.trust()?;
    let mut handshake_ratio = |key: &Key| -> Fallible<f64> {
        let ours_config = TlsConfig::new(&key.identity, trust.clone())?;
        let bare = bare_config(&target, &key.identity)?;
        let mut o = || cpu_per(handshakes, || our_handshake(&ours_config, &target));
        let mut b = || cpu_per(handshakes, || bare_handshake(&bare, &target));
        let m = alternate(rounds, &mut [&mut o, &mut b])?;
        rows.push(row(
            format!(
                "client CPU per full handshake, {}: ours vs bare rustls",
                key.name
            ),
            m[0],
            Some(m[1]),
            "ms",
        ));
        Ok(m[0] / m[1])
    };
    let handshake_rsa = handshake_ratio(&target.rsa)?;
    let handshake_p256 = handshake_ratio(&target.p256)?;
    // resumed vs full, ours, client auth, each with the server's new tickets read
    let resumed = {
        let key = &target.rsa;
        let full_store = SessionStore::new(1);
        let full = TlsConfig::new(&key.identity, trust.clone())?.with_resumption(&full_store);
        let store = SessionStore::new(1);
        let resuming = TlsConfig::new(&key.identity, trust.clone())?.with_resumption(&store);
        our_handshake_then(&resuming, &target, Some(&store))?;
        let mut f = || {
            cpu_per(handshakes, || {
                full_store.clear();
                match our_handshake_then(&full, &target, Some(&full_store))? {
                    false => Ok(()),
                    true => Err("a cleared store resumed".into()),
                }
            })
        };
        let mut r = || {
            cpu_per(handshakes, || {
                match our_handshake_then(&resuming, &target, Some(&store))? {
                    true => Ok(()),
                    false => Err("a handshake with a stored ticket did not resume".into()),
                }
            })
        };
        let m = alternate(rounds, &mut [&mut r, &mut f])?;
        rows.push(row(
            format!(
                "client CPU per handshake, {}: resumed (TLS 1.3 ticket) vs full",
                key.name
            ),
            m[0],
            Some(m[1]),
            "ms",
        ));
        Some(m[0] / m[1])
    };

    // allocations and peak heap
    let config = |identity: &Identity| -> Fallible<ClientConfig> {
        Ok(ClientConfig::new(
            &target.base_url,
            Auth::ClientCredentials(Credentials::new(&target.client_id, &target.api_key)?),
            identity,
            target.trust()?,
        )?)
    };
    let path = target.path();
    let baseline = LIVE.load(Ordering::Relaxed);
    PEAK.store(baseline, Ordering::Relaxed);
    let mut client = StdClient::new(config(&target.p256.identity)?);
    let first = client.request(ApiRequest::get(&path))?;
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(baseline);
    let warm_gets = 100;
    let before = allocs_here();
    for _ in 0..warm_gets {
        let response = client.request(ApiRequest::get(&path))?;
        if response.status != 200 {
            return Err("a warm GET failed".into());
        }
    }
    let std_allocs = (allocs_here() - before) as f64 / warm_gets as f64;
    // The same, each response handed back (`StdClient::recycle_response`).
    let response = client.request(ApiRequest::get(&path))?;
    client.recycle_response(response);
    let before = allocs_here();
    for _ in 0..warm_gets {
        let response = client.request(ApiRequest::get(&path))?;
        if response.status != 200 {
            return Err("a warm GET failed".into());
        }
        client.recycle_response(response);
    }
    let std_recycled = (allocs_here() - before) as f64 / warm_gets as f64;
    if first.status != 200 || client.connections() != 1 {
        return Err("the allocation run did not stay on one connection".into());
    }
    drop(client);
    let mut warm = warm_client::Warm::new(allocs_here);
    let warm_count = warm.measure(10, 20)?;
    let allocs = warm_count.ours as f64;
    for (work, n) in [
        (
            "allocations per GET, warm sans-IO Client: ours (client, HTTP, TLS records), response recycled",
            warm_count.ours as f64,
        ),
        (
            "  ours, each owned Response kept (its reason, headers, body)",
            warm_count.ours_owned as f64,
        ),
        ("  rustls' own (record encrypt and decrypt)", warm_count.rustls as f64),
        (
            "  building the ApiRequest value (the caller's)",
            warm_count.request_value as f64,
        ),
        (
            "allocations per GET, warm StdClient (all layers, loopback, owned Response)",
            std_allocs,
        ),
        (
            "  the same, each Response recycled (StdClient::recycle_response)",
            std_recycled,
        ),
    ] {
        rows.push(Row {
            work: work.into(),
            ours: format!("{n:.1}"),
            peer: "-".into(),
            ratio: "-".into(),
        });
    }
    rows.push(Row {
        work: "peak heap: new StdClient, handshake (P-256) + token + GET".into(),
        ours: format!("{peak} B"),
        peer: "-".into(),
        ratio: "-".into(),
    });

    // concurrency
    let hosts = bench_support::hosts::bench("concurrency", callers, per_caller, rounds)?;
    let concurrency = match hosts.medians.as_slice() {
        [(_, pool), (_, reqwest)] if hosts.ok => {
            rows.push(row(
                format!("{callers} concurrent callers (sandbox): pool vs reqwest, requests/s"),
                pool.requests_per_s,
                Some(reqwest.requests_per_s),
                "req/s",
            ));
            rows.push(row(
                "  CPU per request",
                pool.cpu_us_per_request,
                Some(reqwest.cpu_us_per_request),
                "us",
            ));
            Some(pool.requests_per_s / reqwest.requests_per_s)
        }
        _ => {
            notes.push("concurrency_rps_vs_reqwest: a round had failures".to_string());
            None
        }
    };

    println!();
    println!(
        "{:<84} {:>14} {:>14} {:>8}",
        "work", "ours", "peer", "ratio"
    );
    for r in &rows {
        println!(
            "{:<84} {:>14} {:>14} {:>8}",
            r.work, r.ours, r.peer, r.ratio
        );
    }
    for n in &notes {
        println!("null: {n}");
    }
    println!(
        "{{\"oneshot_rsa_vs_curl_default\":{},\"oneshot_rsa_vs_curl_fast\":{},\"keepalive_vs_curl\":{},\"handshake_vs_bare_rustls\":{},\"handshake_vs_bare_rustls_p256\":{},\"resumed_vs_full\":{},\"allocs_per_warm_request\":{},\"allocs_per_warm_request_owned\":{},\"allocs_per_warm_request_rustls\":{},\"allocs_per_warm_request_std_client\":{},\"allocs_per_warm_request_std_client_recycled\":{},\"peak_heap_bytes\":{},\"concurrency_rps_vs_reqwest\":{}}}",
        json_number(oneshot_default),
        json_number(oneshot_fast),
        json_number(Some(keepalive)),
        json_number(Some(handshake_rsa)),
        json_number(Some(handshake_p256)),
        json_number(resumed),
        json_number(Some(allocs)),
        warm_count.ours_owned,
        warm_count.rustls,
        json_number(Some(std_allocs)),
        json_number(Some(std_recycled)),
        peak,
        json_number(concurrency),
    );
    Ok(hosts.ok)
}
