//! The fuzz seeds made from the test tables, and the proof that they reach what they should.
//!
//! Generated seeds live next to the hand-made ones in `fuzz/seeds/<target>/`:
//!
//! - `t-*`: the server side of the table tests, in each target's input format: every
//!   response of `tests/http_cases` (`TRANSCRIPTS` and the malformed corpus) for
//!   `http_response`, every request of `TRANSCRIPTS` for `http_request_encode`, and the
//!   token, error, SCA and rate-limit answers of the recorded API below for `token_response`.
//!   Deterministic: checked here byte for byte.
//! - `rec-*`: real server flights for the `tls_client` and `client` targets, recorded by
//!   running the harness's own client (deterministic TLS, `fuzz/src/deterministic.rs`)
//!   against an in-process rustls server (ring, its own randomness) that requires the
//!   fixture client certificate, through the flows of `tests/client_transcripts.rs`: the
//!   handshake (TLS 1.3 and 1.2), the token exchange, API calls, a 401 and its retry, SCA,
//!   a server close and a reconnection, a truncation, a refused certificate, error bodies,
//!   the HTTP transcripts' responses. The server's randomness makes every recording
//!   different, so these are checked by replay: each must drive the harness to the events
//!   its scenario names (`TokenFetched`, `Response`s, ...), which proves the fuzzer starts
//!   past the handshake.
//!
//! - `t-*` for `client_live`: the same flows as the server's plaintext, for the target
//!   whose server runs in the harness (deterministic at both ends, so checked byte for
//!   byte, and by replay).
//!
//! - `identity_pkcs12`: openssl-made archives of the fixture identity
//!   (`fuzz/seeds/make-pkcs12.sh`, random salts, so not generated here): checked to load.
//!
//! `UPDATE_FUZZ_SEEDS=1 cargo test --test fuzz_seeds` rewrites every `t-*` and `rec-*` seed
//! (after a table, the harness's input format or the fixtures change); without it the test
//! fails when a generated seed is stale or missing.

#[path = "../fuzz/src/lib.rs"]
mod fuzz_checks;
mod http_cases;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fuzz_checks::{Bytes, ClientHarness, ClientSummary};
use http_cases::{Dir, Ev, TRANSCRIPTS};
use mtls_core::internals::BodyKind;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, SupportedProtocolVersion};

fn seeds_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target)
}

fn updating() -> bool {
    std::env::var_os("UPDATE_FUZZ_SEEDS").is_some()
}

/// `"resp: chunked, one chunk"` -> `"resp-chunked-one-chunk"`.
fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').chars().take(60).collect()
}

/// Writes (when updating) or checks the generated seeds of one target with this `prefix`:
/// exactly these files, with these bytes.
fn sync_exact(target: &str, prefix: &str, seeds: &BTreeMap<String, Vec<u8>>) {
    let dir = seeds_dir(target);
    let committed: BTreeMap<String, Vec<u8>> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
                })
                .map(|p| {
                    let name = p.file_name().unwrap().to_string_lossy().into_owned();
                    (name, std::fs::read(&p).unwrap())
                })
                .collect()
        })
        .unwrap_or_default();
    if updating() {
        std::fs::create_dir_all(&dir).unwrap();
        for name in committed.keys() {
            if !seeds.contains_key(name) {
                std::fs::remove_file(dir.join(name)).unwrap();
            }
        }
        for (name, bytes) in seeds {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
        return;
    }
    let stale: Vec<&String> = seeds
        .iter()
        .filter(|(name, bytes)| committed.get(*name) != Some(bytes))
        .map(|(name, _)| name)
        .chain(committed.keys().filter(|n| !seeds.contains_key(*n)))
        .collect();
    assert!(
        stale.is_empty(),
        "fuzz/seeds/{target}: generated seeds stale or missing: {stale:?}; \
         rerun with UPDATE_FUZZ_SEEDS=1 cargo test --test fuzz_seeds"
    );
}

fn insert_unique(seeds: &mut BTreeMap<String, Vec<u8>>, name: String, bytes: Vec<u8>) {
    let mut key = name.clone();
    let mut n = 2;
    while seeds.contains_key(&key) {
        key = format!("{name}-{n}");
        n += 1;
    }
    seeds.insert(key, bytes);
}

// ---------------------------------------------------------------------------------------
// http_response and http_request_encode: the HTTP tables
// ---------------------------------------------------------------------------------------

/// `http_response`'s input: split byte, flags (bit 0 HEAD, bit 1 `Connection: close`
/// requested), the stream.
fn http_response_input(methods: &[&str], close_request: bool, bytes: &[u8]) -> Vec<u8> {
    let flags = u8::from(methods.first() == Some(&"HEAD")) | (u8::from(close_request) << 1);
    let split = (bytes.len() / 2) as u8;
    [&[split, flags][..], bytes].concat()
}

#[test]
fn http_response_seeds_from_the_tables() {
    let mut seeds = BTreeMap::new();
    for t in TRANSCRIPTS {
        if let Dir::Response {
            methods,
            close_request,
            bytes,
            ..
        } = &t.dir
        {
            let name = format!("t-{}", slug(t.name));
            insert_unique(
                &mut seeds,
                name,
                http_response_input(methods, *close_request, bytes),
            );
        }
    }
    for m in http_cases::malformed::cases() {
        let name = format!("t-bad-{}", slug(m.name));
        insert_unique(
            &mut seeds,
            name,
            http_response_input(m.methods, m.close_request, &m.bytes),
        );
    }
    for bytes in seeds.values() {
        fuzz_checks::http_response(bytes);
    }
    sync_exact("http_response", "t-", &seeds);
}

/// `pick_or_string`'s encoding: the index in `known`, or `0xFF` and a length-prefixed
/// string. `None` when the string does not fit a one-byte length.
fn pick(known: &[&str], value: &str) -> Option<Vec<u8>> {
    if let Some(i) = known.iter().position(|k| *k == value) {
        return Some(vec![i as u8]);
    }
    let len = u8::try_from(value.len()).ok()?;
    Some([&[0xFF, len][..], value.as_bytes()].concat())
}

fn string(value: &str) -> Option<Vec<u8>> {
    let len = u8::try_from(value.len()).ok()?;
    Some([&[len][..], value.as_bytes()].concat())
}

#[test]
fn http_request_encode_seeds_from_the_tables() {
    let mut seeds = BTreeMap::new();
    for t in TRANSCRIPTS {
        let Dir::Request { req, bytes } = &t.dir else {
            continue;
        };
        if req.headers.len() >= 8 {
            continue;
        }
        // Body present, close as in the table, an unbounded Vec, a slice of exactly the
        // encoded size.
        let flags = u8::from(req.body.is_some()) | (u8::from(req.close) << 1) | 4;
        let len = u16::try_from(bytes.len()).expect("short request");
        let mut input = vec![flags];
        input.extend_from_slice(&len.to_le_bytes());
        let parts = [
            pick(&fuzz_checks::METHODS, req.method),
            pick(&fuzz_checks::HOSTS, req.host),
            pick(&fuzz_checks::TARGETS, req.target),
        ];
        let Some(parts) = parts.into_iter().collect::<Option<Vec<_>>>() else {
            continue;
        };
        input.extend(parts.concat());
        input.push(req.headers.len() as u8);
        for (name, value) in req.headers {
            let (Some(n), Some(v)) = (pick(&fuzz_checks::HEADER_NAMES, name), string(value)) else {
                continue;
            };
            input.extend(n);
            input.extend(v);
        }
        input.extend_from_slice(req.body.unwrap_or_default());
        insert_unique(&mut seeds, format!("t-{}", slug(t.name)), input);
    }
    for bytes in seeds.values() {
        fuzz_checks::http_request_encode(bytes);
    }
    sync_exact("http_request_encode", "t-", &seeds);
}

// ---------------------------------------------------------------------------------------
// The recorded API: what the server answers
// ---------------------------------------------------------------------------------------

const TOKEN_PATH: &str = "/v2.01/oauth/token";

/// The token endpoint's answer (as `tests/common/fake_api.rs` gives it): `tok<n>`, 60 s.
fn token_ok(n: u32) -> Vec<u8> {
    json(
        200,
        "OK",
        &[],
        &format!(r#"{{"access_token":"tok{n}","token_type":"Bearer","expires_in":60}}"#),
    )
}

const TOKEN_REFUSED_BODY: &str =
    r#"{"error":"invalid_client","error_description":"Authentication failed"}"#;

const SCA_CHALLENGE: &str = "PendingUserAction RedirectUrl=https://sca.example/x";

const MANGOPAY_ERROR: &str = r#"{"Message":"One or several required parameters are missing or incorrect.","Type":"param_error","Id":"0b5e0a2d#1700000000","Date":1700000000.0,"errors":{"FirstName":"The FirstName field is required."}}"#;

const MASTERCARD_ERROR: &str = r#"{"Errors":{"Error":[{"Source":"Gateway","ReasonCode":"INVALID_CLIENT_CERT","Description":"The client certificate is invalid or missing from the request.","Recoverable":false,"Details":null}]}}"#;

const RATE_LIMIT_HEADERS: &[(&str, &str)] = &[
    ("X-RateLimit", "3, 5, 10, 40"),
    ("X-RateLimit-Remaining", "2297, 4495, 8990, 103960"),
    (
        "X-RateLimit-Reset",
        "1700000900,1700001800,1700003600,1700086400",
    ),
];

fn json(status: u16, reason: &str, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n");
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    out.into_bytes()
}

/// The GET responses of the HTTP transcripts that answer one request and keep the
/// connection: the API serves the `i`-th at `/t/<i>`.
fn transcript_responses() -> Vec<&'static [u8]> {
    TRANSCRIPTS
        .iter()
        .filter_map(|t| match &t.dir {
            Dir::Response {
                methods: &["GET"],
                close_request: false,
                bytes,
                eof: false,
                events,
                ..
            } if matches!(
                events.last(),
                Some(Ev::End {
                    keep_alive: true,
                    ..
                })
            ) && !events.iter().any(|e| {
                matches!(
                    e,
                    Ev::Head {
                        body: BodyKind::UntilClose,
                        ..
                    }
                )
            }) =>
            {
                Some(*bytes)
            }
            _ => None,
        })
        .collect()
}

/// How the token endpoint answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum TokenAnswer {
    #[default]
    Ok,
    Refused,
}

/// The API's answer to one request, `None` for silence. As `tests/client_transcripts.rs`'s:
/// `.../revoked` is refused once with 401, `.../sca` answers SCA, `.../silent` is never
/// answered, everything else `200 {}`; plus error bodies, rate limits and the HTTP
/// transcripts' responses.
fn answer(api: &mut ApiState, method: &str, path: &str) -> Option<Vec<u8>> {
    if path == TOKEN_PATH && method == "POST" {
        api.tokens_issued += 1;
        return Some(match api.token_answer {
            TokenAnswer::Ok => token_ok(api.tokens_issued),
            TokenAnswer::Refused => json(401, "Unauthorized", &[], TOKEN_REFUSED_BODY),
        });
    }
    if path.ends_with("/silent") {
        return None;
    }
    if path.ends_with("/sca") {
        return Some(
            format!(
                "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: {SCA_CHALLENGE}\r\n\
                 Content-Length: 0\r\n\r\n"
            )
            .into_bytes(),
        );
    }
    if path.ends_with("/revoked") && !api.refused {
        api.refused = true;
        return Some(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n".to_vec());
    }
    if path.ends_with("/mangopay-error") {
        return Some(json(400, "Bad Request", &[], MANGOPAY_ERROR));
    }
    if path.ends_with("/mastercard-error") {
        return Some(json(401, "Unauthorized", &[], MASTERCARD_ERROR));
    }
    if path.ends_with("/rate-limited") {
        return Some(json(429, "Too Many Requests", RATE_LIMIT_HEADERS, "{}"));
    }
    if path.ends_with("/close") {
        return Some(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}".to_vec(),
        );
    }
    if let Some(i) = path.strip_prefix("/t/") {
        let i: usize = i.parse().unwrap();
        return Some(transcript_responses()[i].to_vec());
    }
    Some(json(200, "OK", RATE_LIMIT_HEADERS, r#"{"Id":"1"}"#))
}

/// What the API answers, for the `token_response` target (deterministic: no TLS): the
/// bodies of the token answers and error responses, the SCA challenge, the rate-limit
/// headers as `name:value` lines.
fn token_response_seeds() -> BTreeMap<String, Vec<u8>> {
    // `token_response`'s input: selector (0: status 200, 1: 401, else the next u16), the
    // status, the body.
    let input = |status: u16, body: &[u8]| {
        let sel = match status {
            200 => 0u8,
            401 => 1,
            _ => 2,
        };
        [&[sel][..], &status.to_le_bytes(), body].concat()
    };
    let body = |response: &[u8]| {
        let at = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(0, |p| p + 4);
        response[at..].to_vec()
    };
    let rate_limits: Vec<String> = RATE_LIMIT_HEADERS
        .iter()
        .map(|(n, v)| format!("{n}:{v}"))
        .collect();
    let mut seeds = BTreeMap::new();
    for (name, status, bytes) in [
        ("t-api-token-ok", 200, body(&token_ok(1))),
        (
            "t-api-token-refused",
            401,
            TOKEN_REFUSED_BODY.as_bytes().to_vec(),
        ),
        (
            "t-api-mangopay-error",
            400,
            MANGOPAY_ERROR.as_bytes().to_vec(),
        ),
        (
            "t-api-mastercard-error",
            401,
            MASTERCARD_ERROR.as_bytes().to_vec(),
        ),
        (
            "t-api-sca-challenge",
            401,
            SCA_CHALLENGE.as_bytes().to_vec(),
        ),
        (
            "t-api-rate-limit-headers",
            429,
            rate_limits.join("\n").into_bytes(),
        ),
    ] {
        seeds.insert(name.to_string(), input(status, &bytes));
    }
    seeds
}

#[test]
fn token_response_seeds_from_the_api_answers() {
    let seeds = token_response_seeds();
    for bytes in seeds.values() {
        fuzz_checks::token_response(bytes);
    }
    sync_exact("token_response", "t-", &seeds);
}

// ---------------------------------------------------------------------------------------
// The recording server
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
struct FixedClock;

impl rustls::time_provider::TimeProvider for FixedClock {
    fn current_time(&self) -> Option<UnixTime> {
        Some(UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            fuzz_checks::FIXED_NOW_SECS,
        )))
    }
}

/// A rustls server (ring) for `api.fuzz.test` with the fixture certificate, speaking only
/// `version`, requiring a client certificate from the fixture CA (or, `trust_client` false,
/// from a CA that did not issue ours), at the harness's wall-clock time.
fn server_config(
    version: &'static SupportedProtocolVersion,
    trust_client: bool,
) -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    let anchor = if trust_client {
        fuzz_checks::CA_PEM
    } else {
        fuzz_checks::SERVER_CERT_PEM
    };
    roots
        .add(CertificateDer::from_pem_slice(anchor).unwrap())
        .unwrap();
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .unwrap();
    let chain = vec![CertificateDer::from_pem_slice(fuzz_checks::SERVER_CERT_PEM).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(fuzz_checks::SERVER_KEY_PEM).unwrap();
    let config = ServerConfig::builder_with_details(provider, Arc::new(FixedClock))
        .with_protocol_versions(&[version])
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .unwrap();
    Arc::new(config)
}

#[derive(Default)]
struct ApiState {
    tokens_issued: u32,
    token_answer: TokenAnswer,
    refused: bool,
}

/// One TLS connection of the recorded API.
struct Server {
    tls: ServerConnection,
    inbox: Vec<u8>,
    failed: bool,
}

impl Server {
    fn new(config: &Arc<ServerConfig>) -> Server {
        let mut tls = ServerConnection::new(config.clone()).unwrap();
        tls.set_buffer_limit(None);
        Server {
            tls,
            inbox: Vec::new(),
            failed: false,
        }
    }

    /// Reads the client's ciphertext and answers every complete request.
    fn receive(&mut self, api: &mut ApiState, mut bytes: &[u8]) {
        while !bytes.is_empty() && !self.failed {
            self.tls.read_tls(&mut bytes).unwrap();
            if self.tls.process_new_packets().is_err() {
                self.failed = true; // its alert goes out with `transmit`
                return;
            }
            let mut buf = [0u8; 4096];
            while let Ok(n) = self.tls.reader().read(&mut buf) {
                if n == 0 {
                    break;
                }
                self.inbox.extend_from_slice(&buf[..n]);
            }
        }
        while let Some((method, path)) = self.next_request() {
            if let Some(answer) = answer(api, &method, &path) {
                self.tls.writer().write_all(&answer).unwrap();
                if path.ends_with("/close") {
                    self.tls.send_close_notify();
                }
            }
        }
    }

    fn next_request(&mut self) -> Option<(String, String)> {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut req = httparse::Request::new(&mut headers);
        let Ok(httparse::Status::Complete(head)) = req.parse(&self.inbox) else {
            return None;
        };
        let body_len: usize = req
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("Content-Length"))
            .map_or(0, |h| {
                std::str::from_utf8(h.value).unwrap().parse().unwrap()
            });
        if self.inbox.len() < head + body_len {
            return None;
        }
        let found = (
            req.method.unwrap().to_string(),
            req.path.unwrap().to_string(),
        );
        self.inbox.drain(..head + body_len);
        Some(found)
    }

    fn transmit(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while self.tls.wants_write() {
            self.tls.write_tls(&mut out).unwrap();
        }
        out
    }
}

// ---------------------------------------------------------------------------------------
// The client target: recorded flows
// ---------------------------------------------------------------------------------------

/// One thing the recorder does (each becomes operations of the seed).
#[derive(Clone, Copy, Debug)]
enum Do {
    /// Move bytes both ways until both sides are quiet; the server's bytes reach the client
    /// in pieces of at most this many bytes (`None`: each flight in one op).
    Pump(Option<u8>),
    /// `send` a request: `api_request`'s selector 4 (method and path from the input).
    Send(&'static str, &'static str),
    /// `send` one of `api_request`'s fixed requests (selector 0..=3).
    SendFixed(u8),
    /// The server sends close_notify.
    ServerCloses,
    /// A new server connection, then `open_connection`.
    Reconnect,
    /// `handle_eof`.
    Eof,
    /// The clock moves this many seconds.
    Wait(u32),
    /// `handle_timeout` at `poll_timeout`.
    Timer,
}

use Do::*;

/// A recorded flow: how it is set up, what the recorder does, what the replay must reach.
struct Scenario {
    name: &'static str,
    flags: u8,
    version: &'static SupportedProtocolVersion,
    trust_client: bool,
    token: TokenAnswer,
    steps: Vec<Do>,
    expect: Expect,
}

/// The parts of a [`ClientSummary`] a scenario pins.
#[derive(Debug, PartialEq, Eq)]
struct Expect {
    connected: u32,
    tokens_fetched: u32,
    tokens_rejected: u32,
    responses: Vec<u16>,
    sca_required: u32,
    failed: u32,
}

impl Expect {
    fn of(s: &ClientSummary) -> Expect {
        Expect {
            connected: s.connected,
            tokens_fetched: s.tokens_fetched,
            tokens_rejected: s.tokens_rejected,
            responses: s.responses.clone(),
            sca_required: s.sca_required,
            failed: s.failed,
        }
    }
}

fn expect(connected: u32, tokens: u32, responses: &[u16]) -> Expect {
    Expect {
        connected,
        tokens_fetched: tokens,
        tokens_rejected: 0,
        responses: responses.to_vec(),
        sca_required: 0,
        failed: 0,
    }
}

const TLS13: &SupportedProtocolVersion = &rustls::version::TLS13;
const TLS12: &SupportedProtocolVersion = &rustls::version::TLS12;

fn scenarios() -> Vec<Scenario> {
    let base = |name, version, steps: Vec<Do>, expect| Scenario {
        name,
        flags: 0,
        version,
        trust_client: true,
        token: TokenAnswer::Ok,
        steps,
        expect,
    };
    let whole = Pump(None);
    let mut out = vec![
        // FIRST_CONNECTION: the handshake, the token, the two queued requests.
        base(
            "tls13-first-connection",
            TLS13,
            vec![whole],
            expect(1, 1, &[200, 200]),
        ),
        base(
            "tls12-first-connection",
            TLS12,
            vec![whole],
            expect(1, 1, &[200, 200]),
        ),
        // The same flights in 7-byte pieces: records split everywhere.
        base(
            "tls13-first-connection-7-byte-pieces",
            TLS13,
            vec![Pump(Some(7))],
            expect(1, 1, &[200, 200]),
        ),
        base(
            "tls12-first-connection-100-byte-pieces",
            TLS12,
            vec![Pump(Some(100))],
            expect(1, 1, &[200, 200]),
        ),
        Scenario {
            flags: 1,
            ..base(
                "tls13-certificate-only",
                TLS13,
                vec![whole, SendFixed(1), whole],
                expect(1, 0, &[200, 200, 200]),
            )
        },
        // TOKEN_REUSE, then REFRESH_AT_EXPIRY.
        base(
            "tls13-token-reuse-then-refresh",
            TLS13,
            vec![
                whole,
                Wait(29),
                SendFixed(0),
                whole,
                Wait(31),
                SendFixed(2),
                whole,
            ],
            expect(1, 2, &[200, 200, 200, 200]),
        ),
        // UNAUTHORIZED_THEN_RETRY and SCA_401.
        Scenario {
            expect: Expect {
                tokens_rejected: 1,
                sca_required: 1,
                ..expect(1, 2, &[200, 200, 200])
            },
            ..base(
                "tls13-401-retry-and-sca",
                TLS13,
                vec![
                    whole,
                    Send("GET", "/v2.01/cid/revoked"),
                    whole,
                    Send("GET", "/v2.01/cid/sca"),
                    whole,
                ],
                expect(0, 0, &[]),
            )
        },
        // SERVER_CLOSE_BETWEEN_REQUESTS, then a new connection that reuses the token.
        base(
            "tls13-server-close-then-reconnect",
            TLS13,
            vec![
                whole,
                ServerCloses,
                whole,
                Eof,
                SendFixed(0),
                Reconnect,
                whole,
            ],
            expect(2, 1, &[200, 200, 200]),
        ),
        // A `Connection: close` answer, then a new connection for the POST.
        base(
            "tls12-connection-close-then-reconnect",
            TLS12,
            vec![
                whole,
                Send("GET", "/v2.01/cid/close"),
                whole,
                Eof,
                SendFixed(3),
                Reconnect,
                whole,
            ],
            expect(2, 1, &[200, 200, 200, 200]),
        ),
        // TRUNCATION: no answer, the transport ends; the GET is retried on a new connection
        // (max_attempts 2), which ends the same way.
        Scenario {
            flags: 2,
            expect: Expect {
                failed: 1,
                ..expect(2, 1, &[200, 200])
            },
            ..base(
                "tls13-truncation-then-retry",
                TLS13,
                vec![
                    whole,
                    Send("GET", "/v2.01/cid/silent"),
                    whole,
                    Eof,
                    Reconnect,
                    whole,
                    Eof,
                ],
                expect(0, 0, &[]),
            )
        },
        // A 50 ms request timeout on an unanswered request.
        Scenario {
            flags: 8,
            expect: Expect {
                failed: 1,
                ..expect(1, 1, &[200, 200])
            },
            ..base(
                "tls13-request-timeout",
                TLS13,
                vec![whole, Send("GET", "/v2.01/cid/silent"), whole, Timer],
                expect(0, 0, &[]),
            )
        },
        // HANDSHAKE_REFUSAL: the server does not trust our certificate.
        Scenario {
            trust_client: false,
            expect: Expect {
                failed: 2,
                ..expect(1, 0, &[])
            },
            ..base(
                "tls13-handshake-refusal",
                TLS13,
                vec![whole],
                expect(0, 0, &[]),
            )
        },
        Scenario {
            trust_client: false,
            expect: Expect {
                failed: 2,
                ..expect(0, 0, &[])
            },
            ..base(
                "tls12-handshake-refusal",
                TLS12,
                vec![whole],
                expect(0, 0, &[]),
            )
        },
        // The token endpoint refuses the credentials.
        Scenario {
            token: TokenAnswer::Refused,
            expect: Expect {
                failed: 2,
                ..expect(1, 0, &[])
            },
            ..base("tls13-token-refused", TLS13, vec![whole], expect(0, 0, &[]))
        },
        // Vendor error bodies and rate limits.
        base(
            "tls13-error-bodies",
            TLS13,
            vec![
                whole,
                Send("GET", "/v2.01/cid/mangopay-error"),
                whole,
                Send("GET", "/v2.01/cid/mastercard-error"),
                whole,
                Send("DELETE", "/v2.01/cid/rate-limited"),
                whole,
            ],
            Expect {
                tokens_rejected: 1,
                ..expect(1, 2, &[200, 200, 400, 401, 429])
            },
        ),
        // Tiny HTTP limits: the JSON answers are over them.
        Scenario {
            flags: 16,
            expect: Expect {
                failed: 2,
                ..expect(1, 1, &[])
            },
            ..base(
                "tls13-tiny-http-limits",
                TLS13,
                vec![whole],
                expect(0, 0, &[]),
            )
        },
    ];
    // The HTTP transcripts' responses, eight to a connection.
    let responses = transcript_responses();
    for (n, group) in (0..responses.len())
        .collect::<Vec<_>>()
        .chunks(8)
        .enumerate()
    {
        let mut steps = vec![whole];
        for &i in group {
            let path: &'static str = Box::leak(format!("/t/{i}").into_boxed_str());
            steps.push(Send("GET", path));
            steps.push(whole);
        }
        let mut statuses = vec![200, 200];
        statuses.extend(group.iter().map(|_| 0));
        out.push(Scenario {
            name: Box::leak(format!("tls13-http-transcripts-{n}").into_boxed_str()),
            ..base("", TLS13, steps, expect(1, 1, &statuses))
        });
    }
    out
}

/// Records one scenario: the seed, and the summary of the run that recorded it.
fn record(s: &Scenario) -> (Vec<u8>, ClientSummary) {
    let config = server_config(s.version, s.trust_client);
    let mut api = ApiState {
        token_answer: s.token,
        ..ApiState::default()
    };
    let mut server = Server::new(&config);
    let mut seed = vec![s.flags];
    let mut h = ClientHarness::new(s.flags, true);
    let run = |h: &mut ClientHarness, seed: &mut Vec<u8>, op: Vec<u8>| {
        seed.extend_from_slice(&op);
        let mut input = Bytes::new(&op);
        h.step(&mut input);
        assert!(input.is_empty(), "op {op:?} not consumed");
    };
    for step in &s.steps {
        match *step {
            Pump(piece) => {
                for _ in 0..100 {
                    let sent = std::mem::take(h.transmitted.as_mut().unwrap());
                    server.receive(&mut api, &sent);
                    let out = server.transmit();
                    if out.is_empty() {
                        if sent.is_empty() {
                            break;
                        }
                        continue;
                    }
                    match piece {
                        None => {
                            for chunk in out.chunks(usize::from(u16::MAX)) {
                                let mut op = vec![fuzz_checks::OP_INPUT_U16];
                                op.extend_from_slice(&(chunk.len() as u16).to_le_bytes());
                                op.extend_from_slice(chunk);
                                run(&mut h, &mut seed, op);
                            }
                        }
                        Some(p) => {
                            for chunk in out.chunks(usize::from(p)) {
                                let mut op = vec![fuzz_checks::OP_INPUT_U8, chunk.len() as u8];
                                op.extend_from_slice(chunk);
                                run(&mut h, &mut seed, op);
                            }
                        }
                    }
                }
            }
            Send(method, path) => {
                let mut op = vec![fuzz_checks::OP_SEND, 4];
                op.extend(string(method).unwrap());
                op.extend(string(path).unwrap());
                run(&mut h, &mut seed, op);
            }
            SendFixed(sel) => run(&mut h, &mut seed, vec![fuzz_checks::OP_SEND, sel]),
            ServerCloses => server.tls.send_close_notify(),
            Reconnect => {
                server = Server::new(&config);
                run(&mut h, &mut seed, vec![fuzz_checks::OP_OPEN]);
            }
            Eof => run(&mut h, &mut seed, vec![fuzz_checks::OP_EOF]),
            Wait(secs) => {
                // Steps of at most 25.4 s (a step byte is 100 ms; 0xFF means absolute).
                let mut left = secs * 10;
                while left > 0 {
                    let step = left.min(254);
                    run(&mut h, &mut seed, vec![fuzz_checks::OP_WAIT, step as u8]);
                    left -= step;
                }
            }
            Timer => run(&mut h, &mut seed, vec![fuzz_checks::OP_TIMER]),
        }
    }
    (seed, h.finish())
}

/// Statuses of the transcript responses are not known in advance: `0` in an expectation
/// matches any status.
fn matches(e: &Expect, g: &Expect) -> bool {
    let statuses = e.responses.len() == g.responses.len()
        && e.responses
            .iter()
            .zip(&g.responses)
            .all(|(e, g)| *e == 0 || e == g);
    let counts = |x: &Expect| {
        (
            x.connected,
            x.tokens_fetched,
            x.tokens_rejected,
            x.sca_required,
            x.failed,
        )
    };
    statuses && counts(e) == counts(g)
}

/// The recorded `client` seeds: in update mode each scenario is recorded, its replay must
/// reach the same events; otherwise each committed seed is replayed and must reach what its
/// scenario expects.
#[test]
fn client_seeds_replay_past_the_handshake() {
    let dir = seeds_dir("client");
    let mut problems = Vec::new();
    let mut names = Vec::new();
    for s in scenarios() {
        let file = format!("rec-{}", s.name);
        names.push(file.clone());
        let path = dir.join(&file);
        if updating() {
            let (seed, recorded) = record(&s);
            let replayed = fuzz_checks::client_run(&seed);
            assert_eq!(
                replayed, recorded,
                "{}: the replay differs from the recording (is the client deterministic?)",
                s.name
            );
            std::fs::write(&path, &seed).unwrap();
        }
        let Ok(seed) = std::fs::read(&path) else {
            problems.push(format!("{file}: missing"));
            continue;
        };
        let got = fuzz_checks::client_run(&seed);
        if !matches(&s.expect, &Expect::of(&got)) {
            problems.push(format!("{file}: expected {:?}, got {got:?}", s.expect));
        }
    }
    // No recorded seed without a scenario.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.starts_with("rec-") && !names.contains(&name) {
            if updating() {
                std::fs::remove_file(dir.join(&name)).unwrap();
            } else {
                problems.push(format!("{name}: no scenario records it"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{problems:#?}\n(rerun with UPDATE_FUZZ_SEEDS=1 cargo test --test fuzz_seeds)"
    );
}

// ---------------------------------------------------------------------------------------
// The tls_client target: recorded flights
// ---------------------------------------------------------------------------------------

/// The server->client stream of one whole connection: handshake, an HTTP answer to the
/// client's request, close_notify.
fn record_tls_stream(version: &'static SupportedProtocolVersion) -> Vec<u8> {
    let config = server_config(version, true);
    let mut server = Server::new(&config);
    let mut api = ApiState::default();
    let mut tls = fuzz_checks::tls_connection(mtls_core::tls::TlsLimits::default());
    let mut stream = Vec::new();
    let mut sent_request = false;
    for _ in 0..50 {
        let out = tls.pending_transmit().to_vec();
        tls.consume_transmit(out.len());
        server.receive(&mut api, &out);
        let back = server.transmit();
        if back.is_empty() && out.is_empty() {
            break;
        }
        stream.extend_from_slice(&back);
        let mut rest = &back[..];
        while !rest.is_empty() {
            let n = tls.handle_input(rest).unwrap();
            rest = &rest[n..];
            let len = tls.plaintext().len();
            tls.consume_plaintext(len).unwrap();
        }
        while tls.poll_event().is_some() {}
        if !tls.is_handshaking() && !sent_request {
            sent_request = true;
            tls.send_plaintext(b"GET /v2.01/a HTTP/1.1\r\nHost: api.fuzz.test\r\n\r\n")
                .unwrap();
        }
    }
    assert!(sent_request, "the handshake did not complete");
    server.tls.send_close_notify();
    stream.extend_from_slice(&server.transmit());
    stream
}

#[test]
fn tls_client_seeds_replay_past_the_handshake() {
    let dir = seeds_dir("tls_client");
    let mut problems = Vec::new();
    let mut names = Vec::new();
    for (version, vname) in [(TLS13, "tls13"), (TLS12, "tls12")] {
        let stream = if updating() {
            Some(record_tls_stream(version))
        } else {
            None
        };
        // `tls_client`'s input: flags (bit 1: one piece), three piece sizes, the stream.
        for (flags, sizes, what) in [
            (2u8, [0u8, 0, 0], "whole"),
            (0, [200, 31, 7], "pieces"),
            (4, [255, 255, 255], "then-send-and-close"),
        ] {
            let file = format!("rec-{vname}-{what}");
            names.push(file.clone());
            let path = dir.join(&file);
            if let Some(stream) = &stream {
                let seed = [&[flags][..], &sizes, stream].concat();
                std::fs::write(&path, seed).unwrap();
            }
            let Ok(seed) = std::fs::read(&path) else {
                problems.push(format!("{file}: missing"));
                continue;
            };
            let got = fuzz_checks::tls_client_run(&seed);
            if !(got.handshake_complete
                && got.plaintext > 0
                && got.peer_closed
                && got.error.is_none())
            {
                problems.push(format!("{file}: {got:?}"));
            }
        }
    }
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.starts_with("rec-") && !names.contains(&name) {
            if updating() {
                std::fs::remove_file(dir.join(&name)).unwrap();
            } else {
                problems.push(format!("{name}: no recording makes it"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{problems:#?}\n(rerun with UPDATE_FUZZ_SEEDS=1 cargo test --test fuzz_seeds)"
    );
}

/// Every committed seed of every target passes its target's checks.
#[test]
fn every_seed_passes_its_checks() {
    type Check = fn(&[u8]);
    let targets: [(&str, Check); 8] = [
        ("http_response", fuzz_checks::http_response),
        ("http_request_encode", fuzz_checks::http_request_encode),
        ("identity_pem", fuzz_checks::identity_pem),
        ("identity_pkcs12", fuzz_checks::identity_pkcs12),
        ("token_response", fuzz_checks::token_response),
        ("tls_client", fuzz_checks::tls_client),
        ("client", fuzz_checks::client),
        ("client_live", fuzz_checks::client_live),
    ];
    for (target, check) in targets {
        for entry in std::fs::read_dir(seeds_dir(target)).unwrap() {
            let path = entry.unwrap().path();
            // The scrypt seed takes seconds in a test build; identity_pem's fuzz runs cover it.
            if path.ends_with("scrypt-key") {
                continue;
            }
            let data = std::fs::read(&path).unwrap();
            check(&data);
        }
    }
}

/// The `identity_pkcs12` seeds (`fuzz/seeds/make-pkcs12.sh`) are real archives of the
/// fixture identity: each loads with the password in its own prefix, so the fuzzer starts
/// past the MAC and the decryption, with the fixture certificate as the leaf (and the CA
/// after it in `chain`).
#[test]
fn identity_pkcs12_seeds_load_the_fixture_identity() {
    use mtls_core::identity::{Identity, KeyForm};
    let leaf = CertificateDer::from_pem_slice(fuzz_checks::CLIENT_CERT_PEM).unwrap();
    let ca = CertificateDer::from_pem_slice(fuzz_checks::CA_PEM).unwrap();
    let mut names = Vec::new();
    for entry in std::fs::read_dir(seeds_dir("identity_pkcs12")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let data = std::fs::read(&path).unwrap();
        let (password, archive) = fuzz_checks::pkcs12_parts(&data);
        let expected = if name == "empty-password" {
            ""
        } else {
            fuzz_checks::PKCS12_SEED_PASSWORD
        };
        assert_eq!(password, expected, "{name}: password prefix");
        assert!(data.len() < 4096, "{name}: {} bytes", data.len());
        let id =
            Identity::from_pkcs12(archive, &password).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(id.key_form(), KeyForm::Pkcs12, "{name}");
        let want: &[CertificateDer<'_>] = if name == "chain" {
            &[leaf.clone(), ca.clone()]
        } else {
            std::slice::from_ref(&leaf)
        };
        assert_eq!(id.chain(), want, "{name}");
        names.push(name);
    }
    names.sort();
    assert_eq!(
        names,
        [
            "3des-sha1",
            "certpbe-none",
            "chain",
            "default",
            "empty-password",
            "keybag",
            "legacy",
            "nomac",
            "sha384-iter2",
            "sha512-mac",
        ]
    );
}

// ---------------------------------------------------------------------------------------
// The client_live target: flows against the harness's own live server
// ---------------------------------------------------------------------------------------

/// A `client_live` input, op by op.
struct Live(Vec<u8>);

impl Live {
    fn new(flags: u8) -> Live {
        Live(vec![flags])
    }
    fn exchange(mut self) -> Live {
        self.0.push(fuzz_checks::LIVE_EXCHANGE);
        self
    }
    fn pieces(mut self, n: u8) -> Live {
        self.0.extend([fuzz_checks::LIVE_EXCHANGE_PIECES, n]);
        self
    }
    fn canned(mut self, sel: u8) -> Live {
        self.0.extend([fuzz_checks::LIVE_CANNED, sel]);
        self.exchange()
    }
    fn write(mut self, plaintext: &[u8]) -> Live {
        self.0.push(fuzz_checks::LIVE_WRITE);
        self.0
            .extend_from_slice(&u16::try_from(plaintext.len()).unwrap().to_le_bytes());
        self.0.extend_from_slice(plaintext);
        self.exchange()
    }
    fn close(mut self) -> Live {
        self.0.push(fuzz_checks::LIVE_CLOSE);
        self.exchange()
    }
    fn host(mut self, op: &[u8]) -> Live {
        self.0.push(fuzz_checks::LIVE_HOST);
        self.0.extend_from_slice(op);
        self
    }
}

const TOKEN: u8 = 0;
const OK: u8 = 1;
const UNAUTHORIZED: u8 = 2;
const SCA: u8 = 3;
const CHUNKED: u8 = 4;
const CLOSE: u8 = 5;

fn live_scenarios() -> Vec<(String, Vec<u8>, Expect)> {
    let first = |flags| {
        Live::new(flags)
            .exchange()
            .canned(TOKEN)
            .canned(OK)
            .canned(OK)
    };
    let mut out = vec![
        (
            "tls13-first-connection",
            first(0),
            expect(1, 1, &[200, 200]),
        ),
        (
            "tls12-first-connection",
            first(32),
            expect(1, 1, &[200, 200]),
        ),
        (
            "tls13-first-connection-5-byte-pieces",
            Live::new(0)
                .pieces(5)
                .canned(TOKEN)
                .pieces(5)
                .canned(OK)
                .canned(OK),
            expect(1, 1, &[200, 200]),
        ),
        (
            "tls13-certificate-only",
            Live::new(1).exchange().canned(CHUNKED).canned(OK),
            expect(1, 0, &[200, 200]),
        ),
        (
            "tls13-401-retry-sca-and-close",
            first(0)
                .host(&[fuzz_checks::OP_SEND, 0])
                .exchange()
                .canned(UNAUTHORIZED)
                .canned(TOKEN)
                .canned(OK)
                .host(&[fuzz_checks::OP_SEND, 2])
                .exchange()
                .canned(SCA)
                .host(&[fuzz_checks::OP_SEND, 1])
                .exchange()
                .canned(CLOSE)
                .host(&[fuzz_checks::OP_EOF])
                .host(&[fuzz_checks::OP_SEND, 3])
                .host(&[fuzz_checks::OP_OPEN])
                .exchange()
                .canned(OK),
            Expect {
                tokens_rejected: 1,
                sca_required: 1,
                ..expect(2, 2, &[200, 200, 200, 200, 200])
            },
        ),
        (
            "tls13-server-close-then-reconnect",
            first(0)
                .close()
                .host(&[fuzz_checks::OP_EOF])
                .host(&[fuzz_checks::OP_SEND, 0])
                .host(&[fuzz_checks::OP_OPEN])
                .exchange()
                .canned(OK),
            expect(2, 1, &[200, 200, 200]),
        ),
        (
            "tls13-token-refused",
            Live::new(0)
                .exchange()
                .write(&json(401, "Unauthorized", &[], TOKEN_REFUSED_BODY)),
            Expect {
                failed: 2,
                ..expect(1, 0, &[])
            },
        ),
        (
            "tls13-error-bodies",
            Live::new(0)
                .exchange()
                .canned(TOKEN)
                .write(&json(400, "Bad Request", &[], MANGOPAY_ERROR))
                .write(&json(429, "Too Many Requests", RATE_LIMIT_HEADERS, "{}")),
            expect(1, 1, &[400, 429]),
        ),
    ]
    .into_iter()
    .map(|(name, live, e)| (name.to_string(), live.0, e))
    .collect::<Vec<_>>();
    // The HTTP transcripts' responses as the server's plaintext, two requests a connection
    // (the queued GET and POST).
    let responses = transcript_responses();
    for (n, pair) in responses.chunks(2).enumerate() {
        let mut live = Live::new(0).exchange().canned(TOKEN);
        for r in pair {
            live = live.write(r);
        }
        let mut statuses = vec![0; pair.len()];
        if pair.len() < 2 {
            live = live.canned(OK);
            statuses.push(200);
        }
        out.push((
            format!("tls13-http-transcripts-{n}"),
            live.0,
            expect(1, 1, &statuses),
        ));
    }
    out
}

/// The `client_live` seeds are deterministic (both ends of the TLS connection are): checked
/// byte for byte, and each must reach what its flow expects.
#[test]
fn client_live_seeds_reach_the_api() {
    let mut seeds = BTreeMap::new();
    let mut problems = Vec::new();
    for (name, bytes, e) in live_scenarios() {
        let got = fuzz_checks::client_live_run(&bytes);
        if !matches(&e, &Expect::of(&got)) {
            problems.push(format!("{name}: expected {e:?}, got {got:?}"));
        }
        seeds.insert(format!("t-{name}"), bytes);
    }
    assert!(problems.is_empty(), "{problems:#?}");
    sync_exact("client_live", "t-", &seeds);
}

/// The `tls_client` regressions are recorded flights with one change: they must still get
/// through the handshake, or they would pass without reaching their bug (after the seeds or
/// the fixtures are made again, make them again the same way: see fuzz/README.md).
#[test]
fn tls_client_regressions_still_reach_their_bug() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/tls_client");
    for name in [
        "close-notify-then-bad-record",
        "tls12-data-then-broken-alert-in-one-input",
    ] {
        let data = std::fs::read(dir.join(name)).unwrap();
        let got = fuzz_checks::tls_client_run(&data);
        assert!(got.handshake_complete, "{name}: {got:?}");
    }
}
