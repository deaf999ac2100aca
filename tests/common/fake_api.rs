//! An in-memory API for the sans-IO client tests: a rustls server (ring provider, TLS 1.3,
//! client certificates required) with a token endpoint and a responder for everything else,
//! plus [`pump`], which moves bytes both ways on a fake clock. No sockets.

use std::io::{Read, Write};

use mtls_core::auth::Credentials;
use mtls_core::client::{Auth, Event};
use mtls_core::time::Instant;
use mtls_core::{Client, ClientConfig};
use rustls::version::TLS13;
use rustls::ServerConnection;

use super::{identity_for_fixture, TestServerPki};

/// A request the fake API read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// The `Authorization` value, or empty.
    pub auth: String,
    pub body_len: usize,
}

/// Writes the answer to one (non-token) request into the server's TLS writer.
pub type Responder = Box<dyn FnMut(&mut ServerConnection, &Seen)>;

pub struct FakeApi {
    pub tls: ServerConnection,
    inbox: Vec<u8>,
    /// Tokens issued so far; the n-th is `tok{n}`.
    pub tokens_issued: u32,
    /// `expires_in` of the tokens it issues; `0` leaves the field out (RFC 6749 allows it).
    pub expires_in: u64,
    pub seen: Vec<Seen>,
    /// Every plaintext byte the client sent, in order.
    pub received: Vec<u8>,
    /// When true, requests are read but never answered.
    pub mute: bool,
    pub respond: Responder,
}

impl FakeApi {
    /// Answers `GET /x` with `{"path":"/x","auth":"<Authorization>"}`, and `.../big` with
    /// 300,000 bytes.
    pub fn new(pki: &TestServerPki) -> FakeApi {
        FakeApi::with_responder(
            pki,
            Box::new(|tls, seen| {
                let body = if seen.path.ends_with("/big") {
                    "x".repeat(300_000)
                } else {
                    format!(r#"{{"path":"{}","auth":"{}"}}"#, seen.path, seen.auth)
                };
                respond_json(tls, &body);
            }),
        )
    }

    pub fn with_responder(pki: &TestServerPki, respond: Responder) -> FakeApi {
        let mut tls = ServerConnection::new(pki.server_config(&[&TLS13], true)).unwrap();
        tls.set_buffer_limit(None); // large answers are written in one go
        FakeApi {
            tls,
            inbox: Vec::new(),
            tokens_issued: 0,
            expires_in: 60,
            seen: Vec::new(),
            received: Vec::new(),
            mute: false,
            respond,
        }
    }

    /// Reads ciphertext from the client and answers every complete request.
    pub fn receive(&mut self, mut bytes: &[u8]) {
        let mut buf = [0u8; 4096];
        while !bytes.is_empty() {
            self.tls.read_tls(&mut bytes).unwrap();
            if self.tls.process_new_packets().is_err() {
                return; // the alert rustls queued goes out with `transmit`
            }
            while let Ok(n) = self.tls.reader().read(&mut buf) {
                if n == 0 {
                    break;
                }
                self.inbox.extend_from_slice(&buf[..n]);
                self.received.extend_from_slice(&buf[..n]);
            }
        }
        while let Some(seen) = self.next_request() {
            self.seen.push(seen.clone());
            if self.mute {
                continue;
            }
            if seen.path == "/v2.01/oauth/token" {
                self.tokens_issued += 1;
                let n = self.tokens_issued;
                let body = match self.expires_in {
                    0 => format!(r#"{{"access_token":"tok{n}","token_type":"Bearer"}}"#),
                    secs => format!(
                        r#"{{"access_token":"tok{n}","token_type":"Bearer","expires_in":{secs}}}"#
                    ),
                };
                respond_json(&mut self.tls, &body);
            } else {
                (self.respond)(&mut self.tls, &seen);
            }
        }
    }

    fn next_request(&mut self) -> Option<Seen> {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut req = httparse::Request::new(&mut headers);
        let Ok(httparse::Status::Complete(head)) = req.parse(&self.inbox) else {
            return None;
        };
        let header = |name: &str| {
            req.headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| String::from_utf8_lossy(h.value).into_owned())
        };
        let body_len: usize = header("Content-Length").map_or(0, |v| v.parse().unwrap());
        if self.inbox.len() < head + body_len {
            return None;
        }
        let seen = Seen {
            method: req.method.unwrap().to_string(),
            path: req.path.unwrap().to_string(),
            auth: header("Authorization").unwrap_or_default(),
            body_len,
        };
        self.inbox.drain(..head + body_len);
        Some(seen)
    }

    /// Ciphertext for the client.
    pub fn transmit(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while self.tls.wants_write() {
            self.tls.write_tls(&mut out).unwrap();
        }
        out
    }
}

/// `200 OK` with a JSON body.
pub fn respond_json(tls: &mut ServerConnection, body: &str) {
    write!(
        tls.writer(),
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
        body.len(),
        body
    )
    .unwrap();
}

/// Moves bytes both ways until neither side has anything to say. The server's bytes reach
/// the client in pieces of at most `split` bytes, each offered until taken (as `io::drive`
/// does). Returns the events seen.
pub fn pump(client: &mut Client, api: &mut FakeApi, now: Instant, split: usize) -> Vec<Event> {
    let mut events = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    for _ in 0..200 {
        let mut progressed = false;
        loop {
            let n = client.poll_transmit(&mut buf);
            if n == 0 {
                break;
            }
            api.receive(&buf[..n]);
            progressed = true;
        }
        let bytes = api.transmit();
        'pieces: for piece in bytes.chunks(split) {
            let mut offset = 0;
            while offset < piece.len() {
                let taken = client.handle_input(&piece[offset..], now);
                if taken == 0 {
                    break 'pieces; // the connection is gone
                }
                offset += taken;
            }
            progressed = true;
        }
        while let Some(e) = client.poll_event() {
            events.push(e);
        }
        if !progressed {
            break;
        }
    }
    events
}

/// A client for `https://localhost` (client id `cid`) with a P-256 identity from `pki`.
pub fn new_client(pki: &TestServerPki) -> Client {
    client_with(pki, &identity_for_fixture(&pki.ca, "p256-sec1"))
}

/// A client for `https://localhost` (client id `cid`) that trusts `pki`'s server and
/// presents `identity`.
pub fn client_with(pki: &TestServerPki, identity: &mtls_core::identity::Identity) -> Client {
    let credentials = Credentials::new("cid", "secret-api-key").unwrap();
    let config = ClientConfig::new(
        "https://localhost",
        Auth::ClientCredentials(credentials),
        identity,
        pki.trust(),
    )
    .unwrap();
    Client::new(config)
}
