//! Shared test helpers: key fixtures, certificates issued by the sandbox CA, and an in-memory
//! rustls server (ring provider: a TLS implementation configured independently of ours).
#![allow(dead_code)]

pub mod fake_api;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use mtls_core::identity::{CaBundle, Identity};
use mtls_core::internals::{TlsConnection, TlsEvent};
use mtls_core::time::UnixTime;
use mtls_core::tls::{TlsConfig, TlsError, TlsLimits, Trust};
use mtls_sandbox::{IssueSpec, Issued, TestCa, Usage};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection};

pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn wall_now() -> UnixTime {
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(now_secs() as u64))
}

/// A client certificate from `ca` for the key fixture `key_name` (its `.spki.der` sibling).
pub fn client_cert_for_fixture(ca: &TestCa, key_name: &str) -> Issued {
    let mut spec = IssueSpec::client("client.sandbox.example");
    spec.public_key_der = Some(fixture(&format!("{key_name}.spki.der")));
    ca.issue(&spec).unwrap()
}

/// An identity for the key fixture `key_name`, certified by `ca`.
pub fn identity_for_fixture(ca: &TestCa, key_name: &str) -> Identity {
    let issued = client_cert_for_fixture(ca, key_name);
    Identity::from_pem(
        issued.cert_pem.as_bytes(),
        &fixture(&format!("{key_name}.pem")),
    )
    .unwrap()
}

/// The server side of a test: its CA (which also certifies clients) and its certificate.
pub struct TestServerPki {
    pub ca: TestCa,
    pub server: Issued,
}

impl TestServerPki {
    pub fn new() -> TestServerPki {
        TestServerPki::named("mtls-core test CA")
    }

    pub fn named(ca_name: &str) -> TestServerPki {
        let ca = TestCa::new(ca_name).unwrap();
        let server = ca
            .issue(&IssueSpec::server(&["localhost", "127.0.0.1"]))
            .unwrap();
        TestServerPki { ca, server }
    }

    pub fn trust(&self) -> Trust {
        Trust::Custom(CaBundle::from_pem(self.ca.cert_pem().as_bytes()).unwrap())
    }

    /// A rustls server config: only `versions`, client certificates from our CA required
    /// (or not requested at all when `client_auth` is false).
    pub fn server_config(
        &self,
        versions: &[&'static rustls::SupportedProtocolVersion],
        client_auth: bool,
    ) -> Arc<ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .unwrap();
        let builder = if client_auth {
            let mut roots = RootCertStore::empty();
            roots.add(self.ca.cert_der()).unwrap();
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let key = PrivateKeyDer::from_pem_slice(self.server.key_pem.as_ref().unwrap().as_bytes())
            .unwrap();
        let chain: Vec<CertificateDer<'static>> = vec![self.server.cert_der.clone()];
        Arc::new(builder.with_single_cert(chain, key).unwrap())
    }
}

/// What happened when a client and a server talked.
#[derive(Debug)]
pub struct Outcome {
    pub client_error: Option<TlsError>,
    pub server_error: Option<String>,
    pub client_events: Vec<TlsEvent>,
    /// Plaintext the client received.
    pub client_received: Vec<u8>,
    /// Plaintext the server received.
    pub server_received: Vec<u8>,
    /// The client certificate chain the server saw.
    pub server_saw_client_cert: Option<Vec<CertificateDer<'static>>>,
}

/// Moves bytes between an in-memory client and server until both are idle or one fails.
/// `split` chooses the size of each piece handed to the client (1 = byte by byte). The
/// client sends `request` once the handshake completes; the server answers every complete
/// `request` with `response`.
pub fn converse(
    client: &mut TlsConnection,
    server: &mut ServerConnection,
    split: &mut dyn FnMut(usize) -> usize,
    request: &[u8],
    response: &[u8],
) -> Outcome {
    use std::io::{Read, Write};
    let mut out = Outcome {
        client_error: None,
        server_error: None,
        client_events: Vec::new(),
        client_received: Vec::new(),
        server_received: Vec::new(),
        server_saw_client_cert: None,
    };
    let mut request_sent = false;
    let mut answered = false;
    for _round in 0..200 {
        let mut progressed = false;
        // client -> server
        let to_server = client.pending_transmit().to_vec();
        client.consume_transmit(to_server.len());
        if !to_server.is_empty() && out.server_error.is_none() {
            progressed = true;
            let mut rd = &to_server[..];
            while !rd.is_empty() {
                if server.read_tls(&mut rd).is_err() {
                    break;
                }
                if let Err(e) = server.process_new_packets() {
                    out.server_error = Some(format!("{e:?}"));
                    break;
                }
            }
        }
        if out.server_error.is_none() {
            let mut buf = [0u8; 4096];
            while let Ok(n) = server.reader().read(&mut buf) {
                if n == 0 {
                    break;
                }
                out.server_received.extend_from_slice(&buf[..n]);
            }
            if out.server_saw_client_cert.is_none() {
                out.server_saw_client_cert = server.peer_certificates().map(|c| c.to_vec());
            }
            if !answered && !request.is_empty() && out.server_received.ends_with(request) {
                server.writer().write_all(response).unwrap();
                answered = true;
            }
        }
        // server -> client (including a fatal alert after a server error)
        let mut to_client = Vec::new();
        while server.wants_write() {
            if server.write_tls(&mut to_client).unwrap_or(0) == 0 {
                break;
            }
        }
        let mut offset = 0;
        while offset < to_client.len() && out.client_error.is_none() {
            progressed = true;
            let n = split(to_client.len() - offset).clamp(1, to_client.len() - offset);
            match client.handle_input(&to_client[offset..offset + n]) {
                Ok(taken) => {
                    offset += taken;
                    out.client_received.extend_from_slice(client.plaintext());
                    let len = client.plaintext().len();
                    if let Err(e) = client.consume_plaintext(len) {
                        out.client_error = Some(e);
                    }
                }
                Err(e) => out.client_error = Some(e),
            }
        }
        while let Some(ev) = client.poll_event() {
            out.client_events.push(ev);
        }
        if client.is_open() && !request_sent && !request.is_empty() {
            assert_eq!(client.send_plaintext(request).unwrap(), request.len());
            request_sent = true;
            progressed = true;
        }
        let done = out.client_error.is_some()
            || (out.server_error.is_some() && !progressed)
            || (!progressed && client.pending_transmit().is_empty());
        if done {
            break;
        }
    }
    out
}

/// A client for `server_name` with default limits.
pub fn client(config: &TlsConfig, server_name: &str) -> TlsConnection {
    TlsConnection::new(config, server_name, TlsLimits::default(), wall_now()).unwrap()
}

/// A TLS config for `identity` trusting `pki`'s CA.
pub fn client_config(pki: &TestServerPki, identity: &Identity) -> TlsConfig {
    TlsConfig::new(identity, pki.trust()).unwrap()
}

/// A seeded xorshift generator: deterministic "random" splits.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

pub fn usage_issue(ca: &TestCa, usage: Usage, not_before: i64, not_after: i64) -> Issued {
    let mut spec = IssueSpec::client("client.sandbox.example");
    spec.usage = usage;
    spec.not_before_unix = not_before;
    spec.not_after_unix = not_after;
    ca.issue(&spec).unwrap()
}
