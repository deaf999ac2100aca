//! A warm, kept-alive connection of the sans-IO [`Client`] with a cached token, against an
//! in-process rustls server (ring provider, client certificate required) over memory
//! buffers, and the heap allocations one more GET costs on it. Shared by
//! `tests/http_alloc.rs` (which pins the count) and `examples/bench.rs` (which prints it), by
//! `#[path]`; each installs its own counting global allocator and passes its counter in.
//!
//! Only the client's calls are counted (`send`, `poll_transmit`, `handle_input`,
//! `poll_event`, `recycle_response`): the server's work between them is not. Building the
//! [`ApiRequest`] value is the caller's, and counted apart ([`WarmCount::request_value`]).
//!
//! Layers: an allocation inside the client's calls is rustls' own when a rustls (or ring,
//! webpki) frame sits on its stack between the allocator and the first `mtls_core` frame
//! (rustls calls its record encrypter and its state machine through `dyn` traits, so those
//! frames survive inlining, also in release builds); every other one is ours (the client,
//! HTTP and TLS record layers of this crate). The allocators call [`observe_allocation`],
//! which captures a backtrace only while a counted client call runs.

use std::cell::Cell;
use std::io::{Read, Write};
use std::sync::Arc;

use mtls_core::auth::Credentials;
use mtls_core::client::{Auth, Event};
use mtls_core::identity::{CaBundle, Identity};
use mtls_core::time::{Instant, UnixTime};
use mtls_core::tls::Trust;
use mtls_core::{ApiRequest, Client, ClientConfig};
use mtls_sandbox::{IssueSpec, TestCa};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection};

const P256_PEM: &[u8] = include_bytes!("../fixtures/p256-sec1.pem");
const P256_SPKI: &[u8] = include_bytes!("../fixtures/p256-sec1.spki.der");
const TOKEN_BODY: &str =
    r#"{"access_token":"warm-token-0123456789abcdef","token_type":"Bearer","expires_in":3600}"#;
/// The API answer: a typical small JSON response with a few headers (the body is 26 bytes;
/// a wrong `Content-Length` shows as a response that never completes).
const API_RESPONSE: &str = "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: 26\r\nDate: Tue, 25 Nov 2025 13:00:00 GMT\r\nX-Request-Id: 5f1c6a0e-1d7e-4c43\r\n\r\n{\"Id\":\"1\",\"Email\":\"a@b.c\"}";

/// Allocations of one warm GET, from `send` to the response in hand.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WarmCount {
    /// Ours (client, HTTP, TLS record layer), the response handed back through
    /// `Client::recycle_response` (the pooled path).
    pub ours: u64,
    /// rustls' own, inside the same calls.
    pub rustls: u64,
    /// Ours when the caller keeps each owned `Response` (drops it) instead.
    pub ours_owned: u64,
    /// Building the `ApiRequest` value (the caller's `String`s), not the client's.
    pub request_value: u64,
}

thread_local! {
    /// A counted client call is running: attribute its allocations.
    static WATCHING: Cell<bool> = const { Cell::new(false) };
    /// The observer itself is allocating (its backtrace): not counted, not observed.
    static INSIDE: Cell<bool> = const { Cell::new(false) };
    static IN_RUSTLS: Cell<u64> = const { Cell::new(0) };
}

/// For a counting global allocator, on every allocation: `false` when the allocation is
/// the observer's own (do not count it). While a counted client call runs, it captures a
/// backtrace and tallies the allocation as rustls' or ours.
pub fn observe_allocation() -> bool {
    let watching = WATCHING.try_with(Cell::get).unwrap_or(false);
    if !watching {
        return true;
    }
    if INSIDE.try_with(Cell::get).unwrap_or(true) {
        return false;
    }
    INSIDE.with(|c| c.set(true));
    let trace = std::backtrace::Backtrace::force_capture().to_string();
    if made_by_rustls(&trace) {
        IN_RUSTLS.with(|c| c.set(c.get() + 1));
    }
    INSIDE.with(|c| c.set(false));
    true
}

/// Whether a rustls, ring or webpki frame comes before (inside) the first `mtls_core` one.
fn made_by_rustls(trace: &str) -> bool {
    for line in trace.lines() {
        let Some((index, symbol)) = line.trim_start().split_once(": ") else {
            continue;
        };
        if !index.bytes().all(|b| b.is_ascii_digit()) {
            continue; // an `at file:line` line
        }
        let symbol = symbol.trim_start_matches('<');
        let krate = symbol.split("::").next().unwrap_or("");
        match krate {
            "rustls" | "ring" | "webpki" | "rustls_webpki" => return true,
            "mtls_core" => return false,
            _ => {}
        }
    }
    false
}

/// The in-process server: a rustls server connection and a tiny HTTP responder.
pub struct Server {
    tls: ServerConnection,
    inbox: Vec<u8>,
    pub requests: usize,
}

impl Server {
    fn receive(&mut self, mut bytes: &[u8]) {
        let mut buf = [0u8; 4096];
        while !bytes.is_empty() {
            self.tls.read_tls(&mut bytes).expect("server read");
            self.tls.process_new_packets().expect("server TLS");
            while let Ok(n) = self.tls.reader().read(&mut buf) {
                if n == 0 {
                    break;
                }
                self.inbox.extend_from_slice(&buf[..n]);
            }
        }
        while let Some(end) = find(&self.inbox, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&self.inbox[..end]).into_owned();
            let body_len: usize = head
                .lines()
                .find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if self.inbox.len() < end + 4 + body_len {
                return;
            }
            self.inbox.drain(..end + 4 + body_len);
            self.requests += 1;
            if head.contains("/oauth/token") {
                write!(
                    self.tls.writer(),
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{TOKEN_BODY}",
                    TOKEN_BODY.len()
                )
                .expect("server write");
            } else {
                self.tls
                    .writer()
                    .write_all(API_RESPONSE.as_bytes())
                    .expect("server write");
            }
        }
    }

    fn transmit(&mut self, out: &mut Vec<u8>) {
        out.clear();
        while self.tls.wants_write() {
            self.tls.write_tls(out).expect("server write_tls");
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A client and the server it talks to, on one connection.
pub struct Warm {
    pub client: Client,
    pub server: Server,
    counter: fn() -> u64,
    now: Instant,
    out: Vec<u8>,
    back: Vec<u8>,
    /// The responses seen, by status.
    pub ok: usize,
}

fn wall_now() -> UnixTime {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs))
}

impl Warm {
    /// Handshake, token and a first GET done: the connection is warm.
    pub fn new(counter: fn() -> u64) -> Warm {
        let ca = TestCa::new("warm alloc CA").expect("CA");
        let server_cert = ca
            .issue(&IssueSpec::server(&["localhost"]))
            .expect("server cert");
        let mut spec = IssueSpec::client("client.sandbox.example");
        spec.public_key_der = Some(P256_SPKI.to_vec());
        let client_cert = ca.issue(&spec).expect("client cert");
        let identity =
            Identity::from_pem(client_cert.cert_pem.as_bytes(), P256_PEM).expect("identity");

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        roots.add(ca.cert_der()).expect("root");
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .expect("verifier");
        let key =
            PrivateKeyDer::from_pem_slice(server_cert.key_pem.as_ref().expect("key").as_bytes())
                .expect("server key");
        let chain: Vec<CertificateDer<'static>> = vec![server_cert.cert_der.clone()];
        let server_config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .expect("versions")
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .expect("server config");
        let server = Server {
            tls: ServerConnection::new(Arc::new(server_config)).expect("server"),
            inbox: Vec::new(),
            requests: 0,
        };

        let trust = Trust::Custom(CaBundle::from_pem(ca.cert_pem().as_bytes()).expect("CA"));
        let config = ClientConfig::new(
            "https://localhost",
            Auth::ClientCredentials(Credentials::new("cid", "secret-api-key").expect("creds")),
            &identity,
            trust,
        )
        .expect("config");
        let mut warm = Warm {
            client: Client::new(config),
            server,
            counter,
            now: Instant::from_secs(1_000),
            out: vec![0u8; 64 * 1024],
            back: Vec::with_capacity(64 * 1024),
            ok: 0,
        };
        let id = warm
            .client
            .send(ApiRequest::get("/v2.01/cid/users/1"), warm.now);
        assert!(warm.client.wants_connection());
        warm.client
            .open_connection(warm.now, wall_now())
            .expect("open");
        warm.until_response(id.as_u64(), false);
        assert_eq!(warm.ok, 1, "the first GET answered");
        warm
    }

    /// Runs one client call, adding its allocations to `sum` (all) and `rustls` (rustls').
    fn counted<R>(&mut self, sum: &mut (u64, u64), f: impl FnOnce(&mut Client, Instant) -> R) -> R {
        let rustls_before = IN_RUSTLS.with(Cell::get);
        WATCHING.with(|c| c.set(true));
        let before = (self.counter)();
        let r = f(&mut self.client, self.now);
        let after = (self.counter)();
        WATCHING.with(|c| c.set(false));
        sum.0 += after - before;
        sum.1 += IN_RUSTLS.with(Cell::get) - rustls_before;
        r
    }

    /// Moves bytes both ways until request `id` has its response; returns the client-side
    /// allocations on the way (all, and rustls').
    fn until_response(&mut self, id: u64, recycle: bool) -> (u64, u64) {
        let mut sum = (0, 0);
        for _ in 0..100 {
            loop {
                let mut out = std::mem::take(&mut self.out);
                let n = self.counted(&mut sum, |c, _| c.poll_transmit(&mut out));
                if n > 0 {
                    self.server.receive(&out[..n]);
                }
                self.out = out;
                if n == 0 {
                    break;
                }
            }
            let mut back = std::mem::take(&mut self.back);
            self.server.transmit(&mut back);
            let mut offset = 0;
            while offset < back.len() {
                let taken = self.counted(&mut sum, |c, now| c.handle_input(&back[offset..], now));
                assert!(taken > 0, "the connection stayed open");
                offset += taken;
            }
            self.back = back;
            let mut done = false;
            while let Some(event) = self.counted(&mut sum, |c, _| c.poll_event()) {
                match event {
                    Event::Response(rid, response) => {
                        assert_eq!(response.status, 200, "{response:?}");
                        self.ok += 1;
                        done |= rid.as_u64() == id;
                        if recycle {
                            self.counted(&mut sum, |c, _| c.recycle_response(response));
                        } else {
                            self.counted(&mut sum, |_, _| drop(response));
                        }
                    }
                    Event::Failed(_, failure) => panic!("request failed: {failure}"),
                    _ => {}
                }
            }
            if done {
                return sum;
            }
        }
        panic!("no response to request {id} in 100 turns");
    }

    /// One GET on the warm connection: the client's allocations (all, rustls'), and those of
    /// building the request value.
    pub fn get(&mut self, recycle: bool) -> ((u64, u64), u64) {
        let before = (self.counter)();
        let request = ApiRequest::get("/v2.01/cid/users/1");
        let request_value = (self.counter)() - before;
        let mut sum = (0, 0);
        let id = self.counted(&mut sum, |c, now| c.send(request, now));
        let rest = self.until_response(id.as_u64(), recycle);
        ((sum.0 + rest.0, sum.1 + rest.1), request_value)
    }

    /// Runs `warmup` GETs of each kind, then `rounds` more of each (owned responses, then
    /// recycled ones); returns the count of the last round of each kind.
    ///
    /// # Errors
    /// When the measured rounds of a kind did not all cost the same (not a steady state).
    pub fn measure(&mut self, warmup: usize, rounds: usize) -> Result<WarmCount, String> {
        for _ in 0..warmup {
            self.get(false);
            self.get(true);
        }
        // The first owned GET still decodes into the response recycled before it.
        self.get(false);
        let owned: Vec<_> = (0..rounds).map(|_| self.get(false)).collect();
        // The first recycled GET follows a dropped response: it has nothing to reuse yet.
        self.get(true);
        let pooled: Vec<_> = (0..rounds).map(|_| self.get(true)).collect();
        for (kind, runs) in [("owned", &owned), ("recycled", &pooled)] {
            if runs.windows(2).any(|w| w[0] != w[1]) {
                return Err(format!("{kind} rounds differ: {runs:?}"));
            }
        }
        let ((all_owned, rustls_owned), request_value) = owned[rounds - 1];
        let ((all, rustls), _) = pooled[rounds - 1];
        Ok(WarmCount {
            ours: all - rustls,
            rustls,
            ours_owned: all_owned - rustls_owned,
            request_value,
        })
    }

    /// Requests the server answered (token and API), all on the one connection.
    #[allow(dead_code)] // the test checks it; the examples do not
    pub fn answered(&self) -> usize {
        self.server.requests
    }
}
