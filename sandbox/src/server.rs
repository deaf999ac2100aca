//! The sandbox server: a loopback listener, one thread per connection, rustls on top, and the
//! knob handle shared with those threads.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::net::SocketAddr;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use core::time::Duration;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Instant;

use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use zeroize::Zeroizing;

use super::api::{self, Fixed, Kind, KnobValues, Now, Parsed, Request, State};
use super::pki::{der_tlv, unix_now};
use super::{random_hex, IssueSpec, Issued, SandboxError, TestCa};

/// How often blocked threads wake up to check for shutdown.
const POLL: Duration = Duration::from_millis(25);
/// A handshake that has not finished after this long is abandoned.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A write that makes no progress for this long fails.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a closing connection keeps reading (and discarding) so that the peer gets our
/// last bytes before any reset.
const LINGER: Duration = Duration::from_millis(300);
/// Most connections served at once unless configured ([`SandboxConfig::max_connections`]).
const MAX_CONNECTIONS: usize = 64;

/// How to start a [`Sandbox`]: credentials, the token path and the initial knob values.
///
/// Every knob can also be changed while the sandbox runs, through [`Sandbox::knobs`].
///
/// ```
/// use mtls_sandbox::SandboxConfig;
///
/// let mut config = SandboxConfig::default();
/// config.token_lifetime_secs = 2;
/// config.sca_paths.push("/v2.01/sandbox-client/users/42/wallets".into());
/// assert_eq!(config.token_path, "/v2.01/oauth/token");
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct SandboxConfig {
    /// The client id (default `"sandbox-client"`). It appears in API paths
    /// (`/v2.01/{client_id}/...`) and in the Basic credentials. Must be non-empty and contain
    /// no `/`, `:`, `?` or whitespace.
    pub client_id: String,
    /// The API key; `None` (the default) generates a random one.
    pub api_key: Option<String>,
    /// The token endpoint's path (default `"/v2.01/oauth/token"`).
    pub token_path: String,
    /// `expires_in` of the tokens handed out, in seconds (default 3600). Zero or less gives
    /// tokens that are already expired on the server.
    pub token_lifetime_secs: i64,
    /// The next N API requests get `401` as if their token had been revoked, and the server
    /// forgets that token (default 0).
    pub force_401_count: u32,
    /// Paths (without query) whose authenticated requests get Mangopay's SCA answer: `401`
    /// with `WWW-Authenticate: PendingUserAction RedirectUrl=https://sandbox.example/sca/...`.
    /// The token stays valid.
    pub sca_paths: Vec<String>,
    /// The next response is cut: its headers (with the full `Content-Length`) and half its
    /// body are sent, then the connection is closed without `close_notify`. One-shot.
    pub truncate_next_response: bool,
    /// Delay before every response, in milliseconds (default 0).
    pub slow_response_ms: u64,
    /// Every response carries `Connection: close` and the connection is closed after it.
    pub close_after_each_response: bool,
    /// The next N requests (of any kind) are read fully, then the connection is closed with no
    /// response and no `close_notify`: the "sent, outcome unknown" case. The request is not
    /// acted on, but it is counted and logged.
    pub close_before_response_count: u32,
    /// The raw status and body the token endpoint answers to a well-formed, authenticated
    /// token request (e.g. malformed JSON, a wrong `token_type`, `expires_in` of 0, negative or
    /// huge). No token is issued. Bad credentials still get `401`.
    pub token_response_override: Option<(u16, String)>,
    /// Whether the server requires a client certificate from its CA (default `true`). With
    /// `false` it never asks for one, like a server that is not enforcing mTLS.
    pub require_client_cert: bool,
    /// A kept-alive connection idle this long is closed with close_notify, as nginx's
    /// `keepalive_timeout` does (default 30 s).
    pub idle_timeout_ms: u64,
    /// Most connections served at once (default 64, at least 1); one more is closed as soon
    /// as it is accepted. Each connection is a thread, and a closed one counts for about
    /// 300 ms more while it lingers. Fixed at start.
    pub max_connections: usize,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            client_id: "sandbox-client".into(),
            api_key: None,
            token_path: "/v2.01/oauth/token".into(),
            token_lifetime_secs: 3600,
            force_401_count: 0,
            sca_paths: Vec::new(),
            truncate_next_response: false,
            slow_response_ms: 0,
            close_after_each_response: false,
            close_before_response_count: 0,
            token_response_override: None,
            require_client_cert: true,
            idle_timeout_ms: 30_000,
            max_connections: MAX_CONNECTIONS,
        }
    }
}

impl core::fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("client_id", &self.client_id)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("token_path", &self.token_path)
            .field("token_lifetime_secs", &self.token_lifetime_secs)
            .field("force_401_count", &self.force_401_count)
            .field("sca_paths", &self.sca_paths)
            .field("truncate_next_response", &self.truncate_next_response)
            .field("slow_response_ms", &self.slow_response_ms)
            .field("close_after_each_response", &self.close_after_each_response)
            .field(
                "close_before_response_count",
                &self.close_before_response_count,
            )
            .field("token_response_override", &self.token_response_override)
            .field("require_client_cert", &self.require_client_cert)
            .field("idle_timeout_ms", &self.idle_timeout_ms)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// One request the sandbox received, as kept in [`Sandbox::request_log`]. Holds no
/// credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestRecord {
    /// The method, e.g. `"POST"`.
    pub method: String,
    /// The request target as sent (path and query).
    pub target: String,
    /// The `Idempotency-Key` header, if any.
    pub idempotency_key: Option<String>,
    /// The common name of the client certificate on this connection, if one was presented.
    pub client_cn: Option<String>,
    /// Which TCP connection carried it (1 for the first one accepted, and so on).
    pub connection: u64,
    /// The status answered, or `None` when the connection was closed instead
    /// ([`SandboxConfig::close_before_response_count`]).
    pub status: Option<u16>,
}

/// A running sandbox: an HTTPS server on `127.0.0.1` that requires client certificates
/// from its own CA. See the [module docs](super) for what it serves.
///
/// Dropping it (or calling [`Sandbox::shutdown`]) stops the listener and every connection
/// thread, and waits for them.
pub struct Sandbox {
    shared: Arc<Shared>,
    addr: SocketAddr,
    ca: TestCa,
    acceptor: Option<JoinHandle<()>>,
}

/// What the acceptor and connection threads share with the [`Sandbox`] handle.
struct Shared {
    fixed: Fixed,
    state: Mutex<State>,
    stop: AtomicBool,
    token_requests: AtomicU64,
    api_requests: AtomicU64,
    connections: AtomicU64,
    client_cns: Mutex<Vec<Option<String>>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    max_connections: usize,
    with_client_auth: Arc<ServerConfig>,
    without_client_auth: Arc<ServerConfig>,
}

impl Shared {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }
}

/// Locks `m`, carrying on if a connection thread panicked while holding it: the state is
/// plain data and stays usable for a test server.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Sandbox {
    /// Starts a sandbox on `127.0.0.1` on a free port, with a fresh CA and a server
    /// certificate for `localhost` and `127.0.0.1`. TLS 1.2 and 1.3 (rustls, ring).
    ///
    /// Returns once the listener is bound: connections may be made right away.
    pub fn start(config: SandboxConfig) -> Result<Sandbox, SandboxError> {
        let bad_id = config.client_id.is_empty()
            || config
                .client_id
                .chars()
                .any(|c| matches!(c, '/' | ':' | '?' | '#') || c.is_whitespace());
        if bad_id {
            return Err(SandboxError::InvalidSpec(
                "client_id must be non-empty without '/', ':', '?', '#' or whitespace",
            ));
        }
        if !config.token_path.starts_with('/') {
            return Err(SandboxError::InvalidSpec("token_path must start with '/'"));
        }

        let ca = TestCa::new("mtls-core sandbox CA")?;
        let server_cert = ca.issue(&IssueSpec::server(&["localhost", "127.0.0.1"]))?;
        let key_pem = server_cert
            .key_pem
            .as_ref()
            .ok_or(SandboxError::InvalidSpec(
                "the server key was not generated",
            ))?;
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|e| SandboxError::Certificate(e.to_string()))?;

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let versions: &[&rustls::SupportedProtocolVersion] =
            &[&rustls::version::TLS13, &rustls::version::TLS12];
        let mut roots = RootCertStore::empty();
        roots.add(ca.cert_der())?;
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| SandboxError::Certificate(e.to_string()))?;
        let mut with_client_auth = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![server_cert.cert_der.clone()], key.clone_key())?;
        with_client_auth.alpn_protocols = vec![b"http/1.1".to_vec()];
        let mut without_client_auth = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)?
            .with_no_client_auth()
            .with_single_cert(vec![server_cert.cert_der], key)?;
        without_client_auth.alpn_protocols = vec![b"http/1.1".to_vec()];

        let api_key = match config.api_key {
            Some(k) => Zeroizing::new(k),
            None => Zeroizing::new(random_hex(20)?),
        };
        let knobs = KnobValues {
            token_lifetime_secs: config.token_lifetime_secs,
            force_401_count: config.force_401_count,
            sca_paths: config.sca_paths,
            truncate_next_response: config.truncate_next_response,
            slow_response_ms: config.slow_response_ms,
            close_after_each_response: config.close_after_each_response,
            close_before_response_count: config.close_before_response_count,
            token_response_override: config.token_response_override,
            require_client_cert: config.require_client_cert,
            idle_timeout_ms: config.idle_timeout_ms,
        };

        // Blocking accept (no poll delay on new connections); `shutdown` wakes it with a
        // connection of its own.
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;

        let shared = Arc::new(Shared {
            fixed: Fixed::new(config.client_id, api_key, config.token_path),
            state: Mutex::new(State::new(knobs)),
            stop: AtomicBool::new(false),
            token_requests: AtomicU64::new(0),
            api_requests: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            client_cns: Mutex::new(Vec::new()),
            workers: Mutex::new(Vec::new()),
            max_connections: config.max_connections.max(1),
            with_client_auth: Arc::new(with_client_auth),
            without_client_auth: Arc::new(without_client_auth),
        });
        let acceptor = {
            let shared = shared.clone();
            thread::Builder::new()
                .name(format!("sandbox-accept-{}", addr.port()))
                .spawn(move || accept_loop(listener, &shared))?
        };
        Ok(Sandbox {
            shared,
            addr,
            ca,
            acceptor: Some(acceptor),
        })
    }

    /// The loopback address the sandbox listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://localhost:PORT`, the base URL a client should use.
    pub fn base_url(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }

    /// The name the server certificate is for, to use for SNI and verification:
    /// `"localhost"` (the certificate also covers the IP address `127.0.0.1`).
    pub fn server_name(&self) -> &'static str {
        "localhost"
    }

    /// The sandbox CA certificate, PEM: the trust anchor a client needs, and the issuer of
    /// the client certificates the sandbox accepts.
    pub fn ca_pem(&self) -> String {
        self.ca.cert_pem()
    }

    /// The sandbox CA, to issue other certificates (expired, without `clientAuth`, for an
    /// RSA key the caller holds, ...).
    pub fn ca(&self) -> &TestCa {
        &self.ca
    }

    /// The client id the token endpoint and the API paths expect.
    pub fn client_id(&self) -> &str {
        &self.shared.fixed.client_id
    }

    /// The API key the token endpoint expects (a throwaway secret of this sandbox).
    pub fn api_key(&self) -> &str {
        &self.shared.fixed.api_key
    }

    /// The exact `Authorization` header value the token endpoint expects:
    /// `Basic base64(client_id:api_key)`.
    pub fn basic_authorization(&self) -> &str {
        &self.shared.fixed.basic
    }

    /// Issues a fresh client identity the sandbox accepts: a P-256 key and a certificate with
    /// EKU `clientAuth`, CN = the client id, valid from one hour ago until 365 days from now.
    /// Fails only when the system's random generator does.
    pub fn issue_client_identity(&self) -> Result<Issued, SandboxError> {
        self.ca.issue(&IssueSpec::client(self.client_id()))
    }

    /// Issues any certificate from the sandbox CA; shorthand for `self.ca().issue(spec)`.
    pub fn issue(&self, spec: &IssueSpec) -> Result<Issued, SandboxError> {
        self.ca.issue(spec)
    }

    /// How many requests reached the token endpoint (whatever their outcome).
    pub fn token_requests(&self) -> u64 {
        self.shared.token_requests.load(Ordering::Acquire)
    }

    /// How many requests reached the API paths (`/v2.01/...` other than the token path),
    /// whatever their outcome.
    pub fn api_requests(&self) -> u64 {
        self.shared.api_requests.load(Ordering::Acquire)
    }

    /// How many TLS connections completed their handshake.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::Acquire)
    }

    /// The client certificate subject CN of each completed handshake, in order; `None` where
    /// no certificate was presented (only possible with `require_client_cert` off) or it had
    /// no CN.
    pub fn client_cert_cns(&self) -> Vec<Option<String>> {
        lock(&self.shared.client_cns).clone()
    }

    /// The last requests received (up to 1024), oldest first.
    pub fn request_log(&self) -> Vec<RequestRecord> {
        lock(&self.shared.state).log.iter().cloned().collect()
    }

    /// A handle to change the fault knobs while the sandbox runs. Cheap to clone; changes
    /// apply to the next request (or, for `require_client_cert`, the next connection).
    pub fn knobs(&self) -> Knobs {
        Knobs {
            shared: self.shared.clone(),
        }
    }

    /// The `MTLS_*` environment variables a client needs to reach this sandbox
    /// (`MTLS_BASE_URL`, `MTLS_CLIENT_ID`, `MTLS_API_KEY`, `MTLS_CERT_PATH`, `MTLS_KEY_PATH`,
    /// `MTLS_CA_PATH`), given where the caller wrote the client certificate, its key and
    /// [`Sandbox::ca_pem`]. Includes the sandbox's (throwaway) API key.
    pub fn env_vars(
        &self,
        cert_path: impl AsRef<Path>,
        key_path: impl AsRef<Path>,
        ca_path: impl AsRef<Path>,
    ) -> Vec<(String, String)> {
        let path = |p: &Path| p.to_string_lossy().into_owned();
        vec![
            ("MTLS_BASE_URL".into(), self.base_url()),
            ("MTLS_CLIENT_ID".into(), self.client_id().into()),
            ("MTLS_API_KEY".into(), self.api_key().into()),
            ("MTLS_CERT_PATH".into(), path(cert_path.as_ref())),
            ("MTLS_KEY_PATH".into(), path(key_path.as_ref())),
            ("MTLS_CA_PATH".into(), path(ca_path.as_ref())),
        ]
    }

    /// Stops accepting, closes every connection (without `close_notify`), and waits for all
    /// sandbox threads to exit. Idempotent; also done on drop.
    pub fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(acceptor) = self.acceptor.take() {
            // Wake the blocking accept; it sees the stop flag and returns. If this connect
            // fails the acceptor is already gone.
            let _ = std::net::TcpStream::connect_timeout(&self.addr, WRITE_TIMEOUT);
            // A panicked acceptor has stopped too; nothing more to do about it.
            let _ = acceptor.join();
        }
        let workers = core::mem::take(&mut *lock(&self.shared.workers));
        for worker in workers {
            let _ = worker.join();
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl core::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Sandbox")
            .field("addr", &self.addr)
            .field("client_id", &self.client_id())
            .field("api_key", &"<redacted>")
            .field("token_requests", &self.token_requests())
            .field("api_requests", &self.api_requests())
            .field("connections", &self.connections())
            .finish_non_exhaustive()
    }
}

/// A handle on a running [`Sandbox`]'s fault knobs (see [`SandboxConfig`] for what each
/// does). Setters take effect on the next request; the handle keeps working after the
/// sandbox stopped, to no effect.
///
/// ```
/// use mtls_sandbox::{Sandbox, SandboxConfig};
///
/// let sandbox = Sandbox::start(SandboxConfig::default())?;
/// let knobs = sandbox.knobs();
/// knobs.set_force_401_count(1); // the next API call gets 401 and its token is forgotten
/// knobs.set_token_response_override(Some((200, r#"{"access_token":"x"}"#.into())));
/// # Ok::<(), mtls_sandbox::SandboxError>(())
/// ```
#[derive(Clone)]
pub struct Knobs {
    shared: Arc<Shared>,
}

impl core::fmt::Debug for Knobs {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Knobs")
            .field("values", &lock(&self.shared.state).knobs)
            .finish()
    }
}

impl Knobs {
    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut lock(&self.shared.state))
    }

    /// Sets `expires_in` for tokens issued from now on. Tokens already issued keep theirs.
    pub fn set_token_lifetime_secs(&self, secs: i64) {
        self.with(|s| s.knobs.token_lifetime_secs = secs);
    }

    /// The next `count` API requests get `401` and their token is forgotten.
    pub fn set_force_401_count(&self, count: u32) {
        self.with(|s| s.knobs.force_401_count = count);
    }

    /// Replaces the paths that get the SCA `401 PendingUserAction` answer.
    pub fn set_sca_paths(&self, paths: Vec<String>) {
        self.with(|s| s.knobs.sca_paths = paths);
    }

    /// Adds one path that gets the SCA `401 PendingUserAction` answer.
    pub fn add_sca_path(&self, path: &str) {
        self.with(|s| s.knobs.sca_paths.push(path.into()));
    }

    /// Whether the next response is sent half-way and the connection closed without
    /// `close_notify` (one-shot).
    pub fn set_truncate_next_response(&self, on: bool) {
        self.with(|s| s.knobs.truncate_next_response = on);
    }

    /// Delay before every response, in milliseconds (0 for none).
    pub fn set_slow_response_ms(&self, ms: u64) {
        self.with(|s| s.knobs.slow_response_ms = ms);
    }

    /// Whether every response says `Connection: close` and the connection closes after it.
    pub fn set_close_after_each_response(&self, on: bool) {
        self.with(|s| s.knobs.close_after_each_response = on);
    }

    /// The next `count` requests are read, then the connection is closed with no response.
    pub fn set_close_before_response_count(&self, count: u32) {
        self.with(|s| s.knobs.close_before_response_count = count);
    }

    /// The raw `(status, body)` the token endpoint answers instead of a token; `None` to
    /// issue real tokens again.
    pub fn set_token_response_override(&self, answer: Option<(u16, String)>) {
        self.with(|s| s.knobs.token_response_override = answer);
    }

    /// Whether new connections must present a client certificate from the sandbox CA
    /// (`false`: the server does not ask for one at all).
    pub fn set_require_client_cert(&self, on: bool) {
        self.with(|s| s.knobs.require_client_cert = on);
    }

    /// Closes kept-alive connections (with close_notify) after `ms` without a request.
    pub fn set_idle_timeout_ms(&self, ms: u64) {
        self.with(|s| s.knobs.idle_timeout_ms = ms);
    }

    /// Forgets every token issued so far: the next API request with any of them gets `401`.
    pub fn revoke_all_tokens(&self) {
        self.with(State::clear_tokens);
    }
}

fn accept_loop(listener: TcpListener, shared: &Arc<Shared>) {
    let mut seq = 0u64;
    while !shared.stopping() {
        let tcp = match listener.accept() {
            Ok((tcp, _)) => tcp,
            Err(_) => {
                // A transient accept error (out of descriptors, ...): wait a bit.
                thread::sleep(POLL);
                continue;
            }
        };
        if shared.stopping() {
            break; // the wake-up connection from `shutdown`
        }
        seq += 1;
        let mut workers = lock(&shared.workers);
        let (done, live): (Vec<_>, Vec<_>) = core::mem::take(&mut *workers)
            .into_iter()
            .partition(JoinHandle::is_finished);
        *workers = live;
        for worker in done {
            let _ = worker.join();
        }
        if workers.len() >= shared.max_connections || tcp.set_nonblocking(false).is_err() {
            continue;
        }
        let config = if lock(&shared.state).knobs.require_client_cert {
            shared.with_client_auth.clone()
        } else {
            shared.without_client_auth.clone()
        };
        let worker_shared = shared.clone();
        let spawned = thread::Builder::new()
            .name(format!("sandbox-conn-{seq}"))
            .spawn(move || serve(tcp, config, worker_shared, seq));
        if let Ok(worker) = spawned {
            workers.push(worker);
        }
    }
    // The listener is dropped here: the port is closed before `shutdown` returns.
}

fn serve(tcp: TcpStream, config: Arc<ServerConfig>, shared: Arc<Shared>, seq: u64) {
    let _ = tcp.set_nodelay(true);
    if tcp.set_read_timeout(Some(POLL)).is_err()
        || tcp.set_write_timeout(Some(WRITE_TIMEOUT)).is_err()
    {
        return;
    }
    let Ok(tls) = ServerConnection::new(config) else {
        return;
    };
    let mut conn = Conn {
        tcp,
        tls,
        shared,
        seq,
        inbuf: Vec::new(),
        established: false,
        client_cn: None,
    };
    conn.run();
}

/// How a connection carries on after a response.
enum After {
    KeepAlive,
    /// Send `close_notify`, then close.
    Close,
    /// Close the TCP connection without `close_notify`.
    Abort,
}

struct Conn {
    tcp: TcpStream,
    tls: ServerConnection,
    shared: Arc<Shared>,
    seq: u64,
    /// Decrypted bytes not yet parsed into a request.
    inbuf: Vec<u8>,
    established: bool,
    client_cn: Option<String>,
}

impl Conn {
    fn run(&mut self) {
        let started = Instant::now();
        let mut last_activity = started;
        let mut peer_closed = false;
        loop {
            if self.shared.stopping() {
                let _ = self.tcp.shutdown(Shutdown::Both);
                return;
            }
            if self.flush().is_err() {
                return;
            }
            if !self.established && !self.tls.is_handshaking() {
                self.on_established();
            }
            // Serve every complete request already buffered, in order.
            while self.established {
                match api::parse_request(&self.inbuf) {
                    Parsed::Partial => break,
                    Parsed::Invalid(status, message) => {
                        self.reject(status, message);
                        return;
                    }
                    Parsed::Complete(request, used) => {
                        self.inbuf.drain(..used);
                        match self.respond(&request) {
                            After::KeepAlive => {}
                            After::Close => return self.close(true),
                            After::Abort => return self.close(false),
                        }
                    }
                }
            }
            if peer_closed {
                return self.close(true);
            }
            if self.established {
                let idle = Duration::from_millis(lock(&self.shared.state).knobs.idle_timeout_ms);
                if last_activity.elapsed() > idle {
                    return self.close(true);
                }
            } else if last_activity.elapsed() > HANDSHAKE_TIMEOUT {
                return self.close(false);
            }
            match self.tls.read_tls(&mut self.tcp) {
                // TCP EOF without close_notify: nothing more will come.
                Ok(0) => return self.close(false),
                Ok(_) => {
                    last_activity = Instant::now();
                    if self.tls.process_new_packets().is_err() {
                        // rustls queued an alert (e.g. certificate required): send it.
                        let _ = self.flush();
                        return self.close(false);
                    }
                    match self.read_plaintext() {
                        Ok(closed) => peer_closed = closed,
                        Err(()) => return self.close(false),
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return,
            }
        }
    }

    fn on_established(&mut self) {
        self.established = true;
        self.client_cn = self
            .tls
            .peer_certificates()
            .and_then(|certs| certs.first())
            .and_then(subject_common_name);
        self.shared.connections.fetch_add(1, Ordering::AcqRel);
        lock(&self.shared.client_cns).push(self.client_cn.clone());
    }

    /// Drains decrypted bytes into `inbuf`. `Ok(true)` when the peer sent `close_notify`.
    fn read_plaintext(&mut self) -> Result<bool, ()> {
        let mut buf = [0u8; 8192];
        loop {
            match self.tls.reader().read(&mut buf) {
                Ok(0) => return Ok(true),
                Ok(n) => {
                    self.inbuf.extend_from_slice(&buf[..n]);
                    if self.inbuf.len() > api::MAX_HEAD + api::MAX_BODY {
                        return Err(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(_) => return Err(()),
            }
        }
    }

    fn respond(&mut self, request: &Request) -> After {
        let shared = self.shared.clone();
        let kind = api::classify(&shared.fixed, request);
        let api_count = match kind {
            Kind::Token => {
                shared.token_requests.fetch_add(1, Ordering::AcqRel);
                0
            }
            Kind::Api => shared.api_requests.fetch_add(1, Ordering::AcqRel) + 1,
            Kind::Other => 0,
        };
        let now = Now {
            instant: Instant::now(),
            unix: unix_now().unwrap_or(0),
        };
        let mut record = RequestRecord {
            method: request.method.clone(),
            target: request.target.clone(),
            idempotency_key: request.header("idempotency-key").map(String::from),
            client_cn: self.client_cn.clone(),
            connection: self.seq,
            status: None,
        };

        let mut state = lock(&shared.state);
        if state.knobs.close_before_response_count > 0 {
            state.knobs.close_before_response_count -= 1;
            push_log(&mut state, record);
            return After::Abort;
        }
        let response = api::handle(&shared.fixed, &mut state, request, kind, &now, api_count)
            .unwrap_or_else(|_| {
                api::Response::json(
                    500,
                    r#"{"Message":"sandbox failure","Type":"internal_error","errors":{}}"#.into(),
                )
            });
        let slow = state.knobs.slow_response_ms;
        let truncate = core::mem::take(&mut state.knobs.truncate_next_response);
        let close = state.knobs.close_after_each_response || request.wants_close;
        record.status = Some(response.status);
        push_log(&mut state, record);
        drop(state);

        if slow > 0 && !self.sleep(Duration::from_millis(slow)) {
            return After::Abort;
        }
        let (head, body) = response.encode(close);
        if truncate {
            let _ = self
                .write_plaintext(&head)
                .and_then(|()| self.write_plaintext(&body[..body.len() / 2]));
            return After::Abort;
        }
        if self.write_plaintext(&head).is_err() || self.write_plaintext(body).is_err() {
            return After::Abort;
        }
        if close {
            After::Close
        } else {
            After::KeepAlive
        }
    }

    /// Answers a request we could not parse, then closes.
    fn reject(&mut self, status: u16, message: &str) {
        let now = Now {
            instant: Instant::now(),
            unix: unix_now().unwrap_or(0),
        };
        if let Ok(response) = api::error(status, message, "param_error", &[], &now) {
            let (head, body) = response.encode(true);
            let _ = self
                .write_plaintext(&head)
                .and_then(|()| self.write_plaintext(body));
        }
        self.close(true);
    }

    /// Sleeps up to `total`, waking to check for shutdown; `false` if the sandbox is stopping.
    fn sleep(&self, total: Duration) -> bool {
        let until = Instant::now() + total;
        loop {
            if self.shared.stopping() {
                return false;
            }
            let now = Instant::now();
            if now >= until {
                return true;
            }
            thread::sleep((until - now).min(POLL));
        }
    }

    fn write_plaintext(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let n = self.tls.writer().write(data)?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            data = &data[n..];
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            self.tls.write_tls(&mut self.tcp)?;
        }
        self.tcp.flush()
    }

    /// Closes the connection, with `close_notify` first when `graceful`. Then lingers
    /// briefly, discarding input, so the peer reads our last bytes rather than a reset.
    fn close(&mut self, graceful: bool) {
        if graceful {
            self.tls.send_close_notify();
            let _ = self.flush();
        }
        let _ = self.tcp.shutdown(Shutdown::Write);
        let until = Instant::now() + LINGER;
        let mut sink = [0u8; 4096];
        while Instant::now() < until && !self.shared.stopping() {
            match self.tcp.read(&mut sink) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break,
            }
        }
        let _ = self.tcp.shutdown(Shutdown::Both);
    }
}

fn push_log(state: &mut State, record: RequestRecord) {
    if state.log.len() >= api::MAX_LOG {
        state.log.pop_front();
    }
    state.log.push_back(record);
}

/// The subject common name of a DER certificate, if it has one we can read.
fn subject_common_name(cert: &CertificateDer<'_>) -> Option<String> {
    const CN_OID: &[u8] = &[0x55, 0x04, 0x03];
    // Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL,
    //   serialNumber, signature, issuer, validity, subject, ... }, ... }
    let (_, cert, _) = der_tlv(cert).filter(|(tag, _, _)| *tag == 0x30)?;
    let (_, tbs, _) = der_tlv(cert).filter(|(tag, _, _)| *tag == 0x30)?;
    let mut rest = tbs;
    let (tag, _, after) = der_tlv(rest)?;
    if tag == 0xa0 {
        rest = after;
    }
    // Skip serialNumber, signature, issuer, validity.
    for _ in 0..4 {
        rest = der_tlv(rest)?.2;
    }
    let (_, mut rdns, _) = der_tlv(rest).filter(|(tag, _, _)| *tag == 0x30)?;
    // Name ::= SEQUENCE OF SET OF SEQUENCE { type OID, value ANY }
    while !rdns.is_empty() {
        let (_, mut set, next) = der_tlv(rdns)?;
        rdns = next;
        while !set.is_empty() {
            let (_, atv, next) = der_tlv(set)?;
            set = next;
            let (oid_tag, oid, value) = der_tlv(atv)?;
            if oid_tag == 0x06 && oid == CN_OID {
                let (_, text, _) = der_tlv(value)?;
                return Some(String::from_utf8_lossy(text).into_owned());
            }
        }
    }
    None
}
