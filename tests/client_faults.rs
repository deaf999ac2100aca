//! Transport faults, end to end: a [`Session`] over the fault-injecting transport of
//! `support/faults.rs` (real loopback TCP to the sandbox underneath), with connections reset,
//! closed or stalled at every phase (handshake bytes either way, after the token request,
//! after an API request, before and after the server read it, mid-response-body) and reads
//! and writes cut to every size from 1 byte. Hundreds of runs; after each one the client's
//! outcomes are checked against the sandbox's request log:
//!
//! - no `Ok(Response)` that the server did not send whole (status and body compared with
//!   what the sandbox answered);
//! - a POST without an idempotency key is never received twice;
//! - `NotSent` only for a request the server never received;
//! - keyed POSTs carry the same key on every attempt, and retried requests are received at
//!   most `max_attempts` times;
//! - every run ends by itself (a watchdog thread per run; stalls end by the client's
//!   timeout), without a panic; and with a single reset or close (no stall) every request
//!   that is safe to retry gets its response, on at most one more connection.
//!
//! Each test prints its run count and the tally of fault kinds and outcomes (see them with
//! `cargo test --test client_faults -- --nocapture`).

#[path = "support/faults.rs"]
mod faults;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use faults::{
    Action, Chunks, ConnTrace, Conns, Cut, Dir, Fault, FaultConnector, Plan, Point, SplitMix,
    HEADER,
};
use mtls_core::auth::{Credentials, IdempotencyKey, TokenCache};
use mtls_core::client::{Auth, FailureKind};
use mtls_core::identity::{CaBundle, Identity};
use mtls_core::io::std_adapter::StdClock;
use mtls_core::io::{Outcome, RequestError, Session};
use mtls_core::tls::Trust;
use mtls_core::{ApiRequest, ClientConfig};
use mtls_sandbox::{RequestRecord, Sandbox, SandboxConfig};

/// `ClientConfig::max_attempts` in every run (the default).
const MAX_ATTEMPTS: u8 = 3;
/// The request timeout of runs without a stall: long, only a bound.
const PATIENT: Duration = Duration::from_secs(10);
/// The request timeout of runs with a stall: what a stalled run waits, per stall.
const IMPATIENT: Duration = Duration::from_millis(150);
/// Watchdog: a run that has not ended after this long is a hang.
const WATCHDOG: Duration = Duration::from_secs(60);
/// Bound on the wait for the sandbox to finish with a run's connections.
const SETTLE: Duration = Duration::from_secs(10);
/// The TLS record type of the middlebox-compatibility message.
const CHANGE_CIPHER_SPEC: u8 = 20;
/// Bodies above one TLS record (16 KiB of plaintext) span two records each way.
const BIG_BODY: usize = 20_000;

/// The sandbox and what a client needs to reach it.
struct Fixture {
    sandbox: Sandbox,
    cert_pem: String,
    key_pem: String,
}

impl Fixture {
    fn new() -> Arc<Fixture> {
        Fixture::with(SandboxConfig::default())
    }

    fn with(config: SandboxConfig) -> Arc<Fixture> {
        let sandbox = Sandbox::start(config).unwrap();
        let issued = sandbox.issue_client_identity().unwrap();
        Arc::new(Fixture {
            cert_pem: issued.cert_pem.clone(),
            key_pem: issued.key_pem.as_ref().unwrap().to_string(),
            sandbox,
        })
    }

    fn config(&self, timeout: Duration, cache: Option<&TokenCache>) -> ClientConfig {
        let identity =
            Identity::from_pem(self.cert_pem.as_bytes(), self.key_pem.as_bytes()).unwrap();
        let trust = Trust::Custom(CaBundle::from_pem(self.sandbox.ca_pem().as_bytes()).unwrap());
        let credentials =
            Credentials::new(self.sandbox.client_id(), self.sandbox.api_key()).unwrap();
        let mut config = ClientConfig::new(
            &self.sandbox.base_url(),
            Auth::ClientCredentials(credentials),
            &identity,
            trust,
        )
        .unwrap();
        config.request_timeout = timeout;
        config.max_attempts = MAX_ATTEMPTS;
        if let Some(cache) = cache {
            config.token_cache = cache.clone();
        }
        config
    }

    /// A token cache holding a valid token, fetched on a clean connection of its own: the
    /// runs that use it send no token request.
    fn warm_cache(self: &Arc<Fixture>) -> TokenCache {
        let cache = TokenCache::default();
        let spec = RunSpec {
            name: "warm-up".into(),
            plan: Plan::clean(),
            timeout: PATIENT,
            cache: Some(cache.clone()),
            requests: vec![Req::get(self, "warm-up", "warm")],
            one_by_one: false,
        };
        let result = run(self, &spec);
        assert!(result.outcomes[0].is_ok(), "{:?}", result.outcomes[0]);
        cache
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    Get,
    Post,
    KeyedPost(String),
}

/// One request of a run, with a target no other request of the test uses.
struct Req {
    name: &'static str,
    kind: Kind,
    target: String,
    request: ApiRequest,
    /// Its body (a POST's), and so its response's, spans two TLS records.
    big: bool,
}

impl Req {
    fn get(fix: &Fixture, name: &'static str, tag: &str) -> Req {
        let path = format!("/v2.01/{}/users/{tag}", fix.sandbox.client_id());
        Req {
            name,
            kind: Kind::Get,
            target: path.clone(),
            request: ApiRequest::get(&path),
            big: false,
        }
    }

    fn post(fix: &Fixture, name: &'static str, tag: &str, big: bool, key: Option<u64>) -> Req {
        let path = format!("/v2.01/{}/users/{tag}", fix.sandbox.client_id());
        let pad = if big {
            "p".repeat(BIG_BODY)
        } else {
            String::new()
        };
        let body = format!(r#"{{"Tag":"{tag}","Pad":"{pad}"}}"#);
        let mut request =
            ApiRequest::post(&path, body.into_bytes()).header("Content-Type", "application/json");
        let kind = match key {
            Some(seed) => {
                let mut bytes = [0u8; 16];
                bytes[..8].copy_from_slice(&seed.to_le_bytes());
                bytes[8..].copy_from_slice(&(!seed).to_le_bytes());
                let key = IdempotencyKey::from_random(bytes);
                request = request.idempotency_key(key);
                Kind::KeyedPost(key.as_str().to_string())
            }
            None => Kind::Post,
        };
        Req {
            name,
            kind,
            target: path,
            request,
            big,
        }
    }

    fn retry_safe(&self) -> bool {
        !matches!(self.kind, Kind::Post)
    }

    /// TLS records its request takes, and its response's body as well.
    fn records(&self) -> usize {
        if self.big {
            2
        } else {
            1
        }
    }
}

/// The main scenario: a token fetch, then a GET, a big POST without a key, a keyed POST and
/// another GET, on one connection when nothing breaks.
fn full_scenario(fix: &Fixture, run: u64) -> Vec<Req> {
    vec![
        Req::get(fix, "GET", &format!("r{run}-get")),
        Req::post(fix, "POST", &format!("r{run}-post"), true, None),
        Req::post(
            fix,
            "keyed POST",
            &format!("r{run}-keyed"),
            false,
            Some(run),
        ),
        Req::get(fix, "GET 2", &format!("r{run}-get2")),
    ]
}

struct RunSpec {
    name: String,
    plan: Plan,
    timeout: Duration,
    /// A shared token cache (warm: no token request); `None`: a fresh one.
    cache: Option<TokenCache>,
    requests: Vec<Req>,
    /// One `Session::request` call per request (the connection carries over from call to
    /// call), instead of one `request_each` call for all.
    one_by_one: bool,
}

struct RunResult {
    outcomes: Vec<Outcome>,
    connections: u32,
    traces: Vec<ConnTrace>,
    /// The sandbox's log entries for this run's targets.
    log: Vec<RequestRecord>,
}

/// Runs the requests through a session over a fault connector, under a watchdog, then waits
/// (bounded) until the sandbox has finished with every connection, so its log holds every
/// request they carried.
fn run(fix: &Arc<Fixture>, spec: &RunSpec) -> RunResult {
    let config = fix.config(spec.timeout, spec.cache.as_ref());
    let connector = FaultConnector::new(fix.sandbox.addr(), spec.plan.clone(), PATIENT);
    let traces = connector.traces();
    let requests: Vec<ApiRequest> = spec.requests.iter().map(|r| r.request.clone()).collect();
    let count = requests.len();
    let one_by_one = spec.one_by_one;
    let (tx, rx) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        let mut session = Session::new(config, connector, StdClock::new());
        let mut outcomes: Vec<Option<Outcome>> = (0..count).map(|_| None).collect();
        if one_by_one {
            for (index, request) in requests.into_iter().enumerate() {
                outcomes[index] = Some(session.request(request));
            }
        } else {
            session.request_each(requests, |index, outcome| {
                assert!(
                    outcomes[index].is_none(),
                    "request {index}: a second outcome"
                );
                outcomes[index] = Some(outcome);
            });
        }
        let connections = session.connections();
        drop(session); // closes every transport, which files its trace
        let _ = tx.send((outcomes, connections));
    });
    let (outcomes, connections) = match rx.recv_timeout(WATCHDOG) {
        Ok(done) => done,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{}: no outcome after {WATCHDOG:?}: a hang", spec.name)
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let message = match worker.join() {
                Err(panic) => panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default(),
                Ok(()) => String::new(),
            };
            panic!("{}: the run panicked: {message}", spec.name)
        }
    };
    let _ = worker.join();
    let outcomes: Vec<Outcome> = outcomes
        .into_iter()
        .enumerate()
        .map(|(i, o)| o.unwrap_or_else(|| panic!("{}: request {i} has no outcome", spec.name)))
        .collect();
    let settle = Instant::now();
    while fix.sandbox.open_connections() > 0 {
        assert!(
            settle.elapsed() < SETTLE,
            "{}: the sandbox still serves a connection after {SETTLE:?}",
            spec.name
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut traces = traces.lock().unwrap().clone();
    traces.sort_by_key(|t| t.number);
    assert_eq!(traces.len() as u32, traces.last().map_or(0, |t| t.number));
    let log = fix
        .sandbox
        .request_log()
        .into_iter()
        .filter(|r| spec.requests.iter().any(|q| q.target == r.target))
        .collect();
    RunResult {
        outcomes,
        connections,
        traces,
        log,
    }
}

/// Counts, printed at the end of each test.
#[derive(Default)]
struct Tally {
    runs: usize,
    faults: BTreeMap<String, usize>,
    outcomes: BTreeMap<String, usize>,
    started: Option<Instant>,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            started: Some(Instant::now()),
            ..Tally::default()
        }
    }

    fn fault(&mut self, kind: String) {
        *self.faults.entry(kind).or_default() += 1;
    }

    fn outcome(&mut self, kind: String) {
        *self.outcomes.entry(kind).or_default() += 1;
    }

    fn print(&self, test: &str) {
        let mut out = String::new();
        let elapsed = self.started.map(|s| s.elapsed()).unwrap_or_default();
        let _ = writeln!(out, "{test}: {} runs in {elapsed:.1?}", self.runs);
        let _ = writeln!(out, "  fault kinds (runs):");
        for (k, n) in &self.faults {
            let _ = writeln!(out, "    {n:5}  {k}");
        }
        let _ = writeln!(out, "  outcomes (requests):");
        for (k, n) in &self.outcomes {
            let _ = writeln!(out, "    {n:5}  {k}");
        }
        println!("{out}");
    }
}

/// What a run promises beyond the invariants every run keeps.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Only the safety invariants.
    Safe,
    /// And every retry-safe request gets its response, on at most `connections`
    /// connections.
    Progress { connections: u32 },
}

/// Checks the invariants on one run; panics with the run's name and what broke.
fn check(spec: &RunSpec, result: &RunResult, expect: Expect, tally: &mut Tally) {
    let name = &spec.name;
    tally.runs += 1;
    for (req, outcome) in spec.requests.iter().zip(&result.outcomes) {
        let received: Vec<&RequestRecord> = result
            .log
            .iter()
            .filter(|r| r.target == req.target)
            .collect();
        for record in &received {
            let expected = match &req.kind {
                Kind::KeyedPost(key) => Some(key.as_str()),
                _ => None,
            };
            assert_eq!(
                record.idempotency_key.as_deref(),
                expected,
                "{name}: {}: the server got the wrong idempotency key",
                req.name
            );
        }
        match &req.kind {
            Kind::Post => assert!(
                received.len() <= 1,
                "{name}: {}: a POST without an idempotency key was received {} times",
                req.name,
                received.len()
            ),
            Kind::Get | Kind::KeyedPost(_) => assert!(
                received.len() <= usize::from(MAX_ATTEMPTS),
                "{name}: {}: received {} times, more than max_attempts",
                req.name,
                received.len()
            ),
        }
        match outcome {
            Ok(response) => {
                let sent_whole = received.iter().any(|r| {
                    r.status == Some(response.status)
                        && r.response_body.as_deref() == Some(&response.body[..])
                });
                assert!(
                    sent_whole,
                    "{name}: {}: Ok({} with {} body bytes) is not an answer the server sent \
                     whole (it sent {:?})",
                    req.name,
                    response.status,
                    response.body.len(),
                    received
                        .iter()
                        .map(|r| (r.status, r.response_body.as_ref().map(Vec::len)))
                        .collect::<Vec<_>>()
                );
                assert_eq!(response.status, 200, "{name}: {}", req.name);
                tally.outcome(format!("{}: Ok", req.name));
            }
            Err(RequestError::Failed { failure, .. }) => {
                if failure.kind == FailureKind::NotSent {
                    assert!(
                        received.is_empty(),
                        "{name}: {}: NotSent ({}), yet the server received it {} times",
                        req.name,
                        failure.error,
                        received.len()
                    );
                }
                tally.outcome(format!(
                    "{}: {:?} {:?}",
                    req.name, failure.kind, failure.error
                ));
            }
            Err(other) => panic!("{name}: {}: unexpected {other:?}", req.name),
        }
    }
    if let Expect::Progress { connections } = expect {
        for (req, outcome) in spec.requests.iter().zip(&result.outcomes) {
            if req.retry_safe() {
                assert!(
                    outcome.is_ok(),
                    "{name}: {}: one fault, yet no response: {:?}",
                    req.name,
                    outcome.as_ref().err()
                );
            }
        }
        assert!(
            result.connections <= connections,
            "{name}: {} connections, expected at most {connections}",
            result.connections
        );
    }
}

/// The phase names of a clean connection's records: the handshake, then each message (the
/// token request first when `token`) and its response. Checks the layout it assumes.
struct Layout {
    up: Vec<(String, usize)>,
    down: Vec<(String, usize)>,
}

impl Layout {
    fn of(conn: &ConnTrace, token: bool, requests: &[Req]) -> Layout {
        // (name, request records, response body records)
        let mut messages: Vec<(&str, usize)> = Vec::new();
        if token {
            messages.push(("token", 1));
        }
        messages.extend(requests.iter().map(|r| (r.name, r.records())));
        let len = |r: &faults::Record| r.len.expect("whole records on a clean connection");
        // Client: the handshake, then each request; the first one shares the flight that
        // ends the handshake, each later one is a flight of its own.
        let app_up: usize = messages.iter().map(|m| m.1).sum();
        let hs_up = conn.up.len() - app_up;
        let mut up = Vec::new();
        for (i, r) in conn.up[..hs_up].iter().enumerate() {
            let phase = match (i, r.content_type) {
                (0, _) => "handshake: ClientHello",
                (_, CHANGE_CIPHER_SPEC) => "handshake: client change_cipher_spec",
                _ => "handshake: client certificate and finish",
            };
            assert_eq!(r.flight, usize::from(i > 0), "{phase}: {:?}", conn.up);
            up.push((phase.to_string(), len(r)));
        }
        let mut at = hs_up;
        for (m, (msg, records)) in messages.iter().enumerate() {
            for k in 0..*records {
                let r = &conn.up[at];
                assert_eq!(r.flight, m + 1, "{msg} request: {:?}", conn.up);
                up.push((format!("{msg} request{}", part(k, *records)), len(r)));
                at += 1;
            }
        }
        // Server: its handshake flight, tickets after the client's finish, then each
        // response: a head record and its body records.
        let app_down: usize = messages.iter().map(|m| 1 + m.1).sum();
        let hs_down = conn.down.len() - app_down;
        let mut down = Vec::new();
        for (i, r) in conn.down[..hs_down].iter().enumerate() {
            let phase = match (i, r.flight, r.content_type) {
                (0, _, _) => "handshake: ServerHello",
                (_, _, CHANGE_CIPHER_SPEC) => "handshake: server change_cipher_spec",
                (_, 1, _) => "handshake: server certificate and finish",
                _ => "tickets after the handshake",
            };
            down.push((phase.to_string(), len(r)));
        }
        let mut at = hs_down;
        for (m, (msg, records)) in messages.iter().enumerate() {
            for k in 0..=*records {
                let r = &conn.down[at];
                assert_eq!(r.flight, m + 2, "{msg} response: {:?}", conn.down);
                let phase = if k == 0 {
                    format!("{msg} response head")
                } else {
                    format!("{msg} response body{}", part(k - 1, *records))
                };
                down.push((phase, len(r)));
                at += 1;
            }
        }
        Layout { up, down }
    }

    fn records(&self, dir: Dir) -> &[(String, usize)] {
        match dir {
            Dir::Up => &self.up,
            Dir::Down => &self.down,
        }
    }

    /// The phase a point falls in.
    fn phase(&self, point: Point) -> String {
        let records = self.records(point.dir);
        match records.get(point.record) {
            Some((phase, len)) => {
                let offset = point.cut.offset(Some(*len)).unwrap_or(0);
                if offset == *len && point.record + 1 == records.len() {
                    format!("{phase}, after it")
                } else {
                    phase.clone()
                }
            }
            None => "beyond the last record".to_string(),
        }
    }

    /// Every named cut of every record, each byte offset once.
    fn points(&self, dir: Dir, cuts: &[Cut]) -> Vec<Point> {
        let records = self.records(dir);
        let mut points = Vec::new();
        for (record, (_, len)) in records.iter().enumerate() {
            let mut seen = Vec::new();
            for &cut in cuts {
                let offset = cut.offset(Some(*len)).unwrap_or(0);
                // `End` is the next record's `Start`, except after the last record.
                let is_next_start = offset == *len && record + 1 < records.len();
                if !seen.contains(&offset) && !is_next_start {
                    seen.push(offset);
                    points.push(Point { dir, record, cut });
                }
            }
        }
        points
    }
}

fn part(k: usize, of: usize) -> String {
    if of > 1 {
        format!(" (record {} of {of})", k + 1)
    } else {
        String::new()
    }
}

/// A clean run of `requests`; returns its layout (and checks that everything succeeded on
/// one connection).
fn record_layout(
    fix: &Arc<Fixture>,
    token: bool,
    cache: Option<&TokenCache>,
    requests: Vec<Req>,
    tally: &mut Tally,
) -> Layout {
    let spec = RunSpec {
        name: "clean".into(),
        plan: Plan::clean(),
        timeout: PATIENT,
        cache: cache.cloned(),
        requests,
        one_by_one: false,
    };
    let result = run(fix, &spec);
    check(&spec, &result, Expect::Progress { connections: 1 }, tally);
    assert!(result.outcomes.iter().all(Result::is_ok));
    Layout::of(&result.traces[0], token, &spec.requests)
}

/// The fault, with the phase `layout` (connection 1's) names where it strikes there, or
/// everywhere when `uniform` (every connection carries the same messages).
fn fault_name(fault: &Fault, layout: Option<&Layout>, uniform: bool) -> String {
    let dir = match fault.point.dir {
        Dir::Up => "client->server",
        Dir::Down => "server->client",
    };
    let phase = match layout {
        Some(layout) if fault.conns.covers(1) || uniform => layout.phase(fault.point),
        _ => format!("record {} {:?}", fault.point.record, fault.point.cut),
    };
    let conns = match fault.conns {
        Conns::Only(1) => String::new(),
        Conns::Only(n) => format!(" (connection {n})"),
        Conns::From(1) if uniform => " (every connection)".to_string(),
        Conns::From(1) => format!(
            " (and record {} of every later connection)",
            fault.point.record
        ),
        Conns::From(n) => format!(" (every connection from {n})"),
    };
    format!("{:?} {dir} {phase}{conns}", fault.action)
}

/// A single reset, close or stall on the first connection, at every cut of every record of
/// the main scenario, both ways. A run with one reset or close must still answer every
/// retry-safe request (on a second connection at most).
fn single_faults(actions: &[Action], cuts: &[Cut], test: &str) {
    let fix = Fixture::new();
    let mut tally = Tally::new();
    let layout = record_layout(&fix, true, None, full_scenario(&fix, 0), &mut tally);
    let mut run_no = 1;
    for &action in actions {
        for dir in [Dir::Up, Dir::Down] {
            for point in layout.points(dir, cuts) {
                let fault = Fault {
                    conns: Conns::Only(1),
                    point,
                    action,
                };
                let name = format!("run {run_no}: {}", fault_name(&fault, Some(&layout), false));
                let spec = RunSpec {
                    name,
                    plan: Plan::with_fault(fault),
                    timeout: if action == Action::Stall {
                        IMPATIENT
                    } else {
                        PATIENT
                    },
                    cache: None,
                    requests: full_scenario(&fix, run_no),
                    one_by_one: false,
                };
                let result = run(&fix, &spec);
                let hit = result.traces.first().and_then(|t| t.hit).is_some();
                tally.fault(if hit {
                    fault_name(&fault, Some(&layout), false)
                } else {
                    format!("(not reached) {}", fault_name(&fault, Some(&layout), false))
                });
                let expect = if action == Action::Stall {
                    Expect::Safe
                } else {
                    Expect::Progress { connections: 2 }
                };
                check(&spec, &result, expect, &mut tally);
                run_no += 1;
            }
        }
    }
    tally.print(test);
}

#[test]
fn a_single_reset_anywhere_loses_nothing() {
    single_faults(&[Action::Reset], &Cut::NAMED, "reset");
}

#[test]
fn a_single_close_anywhere_loses_nothing() {
    single_faults(&[Action::Close], &Cut::NAMED, "close");
}

#[test]
fn a_single_stall_anywhere_ends_by_the_timeout() {
    single_faults(
        &[Action::Stall],
        &[Cut::Start, Cut::AfterHeader, Cut::Middle, Cut::End],
        "stall",
    );
}

/// The same fault on every connection, for one request at a time (the token already
/// cached): retries stop at `max_attempts`, keyed POSTs carry their key every time, a POST
/// without a key is never received twice.
#[test]
fn a_fault_on_every_connection_stops_the_retries() {
    let fix = Fixture::new();
    let cache = fix.warm_cache();
    let mut tally = Tally::new();
    let kinds: [fn(&Fixture, u64) -> Req; 3] = [
        |fix, run| Req::get(fix, "GET", &format!("e{run}-get")),
        |fix, run| Req::post(fix, "POST", &format!("e{run}-post"), true, None),
        |fix, run| Req::post(fix, "keyed POST", &format!("e{run}-keyed"), true, Some(run)),
    ];
    let mut run_no = 1;
    for make in kinds {
        let layout = record_layout(&fix, false, Some(&cache), vec![make(&fix, 0)], &mut tally);
        for action in [Action::Reset, Action::Close, Action::Stall] {
            let cuts: &[Cut] = if action == Action::Stall {
                &[Cut::Middle]
            } else {
                &[Cut::Start, Cut::Middle, Cut::End]
            };
            for dir in [Dir::Up, Dir::Down] {
                for point in layout.points(dir, cuts) {
                    // Stalls cost a timeout per connection: only at the request and its
                    // answer, and once in the handshake.
                    let phase = layout.phase(point);
                    if action == Action::Stall
                        && !(phase.contains("request")
                            || phase.contains("response")
                            || (point.record == 0 && dir == Dir::Down))
                    {
                        continue;
                    }
                    let fault = Fault {
                        conns: Conns::From(1),
                        point,
                        action,
                    };
                    let spec = RunSpec {
                        name: format!("run {run_no}: {}", fault_name(&fault, Some(&layout), true)),
                        plan: Plan::with_fault(fault),
                        timeout: if action == Action::Stall {
                            IMPATIENT
                        } else {
                            PATIENT
                        },
                        cache: Some(cache.clone()),
                        requests: vec![make(&fix, run_no)],
                        one_by_one: false,
                    };
                    let result = run(&fix, &spec);
                    tally.fault(fault_name(&fault, Some(&layout), true));
                    check(&spec, &result, Expect::Safe, &mut tally);
                    // One request: each connection is a handshake that failed or an attempt.
                    assert!(
                        result.connections <= u32::from(MAX_ATTEMPTS),
                        "{}: {} connections",
                        spec.name,
                        result.connections
                    );
                    run_no += 1;
                }
            }
        }
    }
    tally.print("every connection");
}

/// Reads and writes of every size from 1 byte (and random sizes), no fault: everything
/// arrives, on one connection.
#[test]
fn short_reads_and_writes_of_every_size() {
    let fix = Fixture::new();
    let mut tally = Tally::new();
    let mut plans = Vec::new();
    for n in (1..=32).chain([100, 1000, 4095, 4097, 16 * 1024 + 1]) {
        plans.push((format!("reads of {n}"), Chunks::Fixed(n), Chunks::Whole));
        plans.push((format!("writes of {n}"), Chunks::Whole, Chunks::Fixed(n)));
    }
    for seed in 0..16 {
        let random = |s| Chunks::Random { max: 64, seed: s };
        plans.push((
            format!("random sizes 1..=64, seed {seed}"),
            random(seed),
            random(seed + 100),
        ));
    }
    plans.push((
        "reads and writes of 1".into(),
        Chunks::Fixed(1),
        Chunks::Fixed(1),
    ));
    for (run_no, (name, reads, writes)) in plans.into_iter().enumerate() {
        let spec = RunSpec {
            name: format!("run {run_no}: {name}"),
            plan: Plan {
                reads,
                writes,
                ..Plan::clean()
            },
            timeout: PATIENT,
            cache: None,
            requests: full_scenario(&fix, run_no as u64 + 1),
            one_by_one: false,
        };
        let result = run(&fix, &spec);
        let kind = match (reads, writes) {
            (Chunks::Fixed(_), Chunks::Whole) => "short reads",
            (Chunks::Whole, Chunks::Fixed(_)) => "short writes",
            _ => "short reads and writes",
        };
        tally.fault(kind.to_string());
        check(
            &spec,
            &result,
            Expect::Progress { connections: 1 },
            &mut tally,
        );
    }
    tally.print("short reads and writes");
}

/// Seeded random plans: a fault at any byte of any record, on one connection or on every
/// connection from some point, reads and writes of random sizes, sometimes a refused
/// connect; the requests in one `request_each` call or one call each.
#[test]
fn random_fault_plans() {
    random_plans(Fixture::new(), 150, 0x5eed_0014, "random plans");
}

/// The same against a server that closes every connection (with close_notify) after its
/// response: one connection per message, the client's close_notify in between.
#[test]
fn random_fault_plans_with_a_connection_per_request() {
    let mut config = SandboxConfig::default();
    config.close_after_each_response = true;
    random_plans(
        Fixture::with(config),
        80,
        0x5eed_0015,
        "random plans, a connection per request",
    );
}

fn random_plans(fix: Arc<Fixture>, runs: u64, seed: u64, test: &str) {
    let mut tally = Tally::new();
    // The clean run's connections: where the points are drawn from.
    let clean = {
        let spec = RunSpec {
            name: "clean".into(),
            plan: Plan::clean(),
            timeout: PATIENT,
            cache: None,
            requests: full_scenario(&fix, 0),
            one_by_one: false,
        };
        let result = run(&fix, &spec);
        check(
            &spec,
            &result,
            Expect::Progress {
                connections: u32::MAX,
            },
            &mut tally,
        );
        result.traces
    };
    // Phase names where connection 1 carries every message (a server that keeps it open).
    let layout = (clean.len() == 1).then(|| Layout::of(&clean[0], true, &full_scenario(&fix, 0)));
    let mut rng = SplitMix(seed);
    for run_no in 1..=runs {
        let conn = &clean[rng.below(clean.len() as u64) as usize];
        let number = conn.number;
        let dir = *rng.pick(&[Dir::Up, Dir::Down]);
        let records = match dir {
            Dir::Up => &conn.up,
            Dir::Down => &conn.down,
        };
        let record = rng.below(records.len() as u64) as usize;
        let len = records[record].len.unwrap_or(HEADER);
        let cut = Cut::Byte(rng.below(len as u64 + 1) as usize);
        let action = *rng.pick(&[
            Action::Reset,
            Action::Reset,
            Action::Close,
            Action::Close,
            Action::Stall,
        ]);
        let conns = *rng.pick(&[
            Conns::Only(number),
            Conns::Only(number),
            Conns::Only(number + 1),
            Conns::From(number),
            Conns::From(number + 1),
        ]);
        let fault = Fault {
            conns,
            point: Point { dir, record, cut },
            action,
        };
        let refuse = if rng.below(10) == 0 {
            vec![1 + rng.below(clean.len() as u64 + 2) as u32]
        } else {
            Vec::new()
        };
        let sizes = |rng: &mut SplitMix| match rng.below(3) {
            0 => Chunks::Whole,
            1 => Chunks::Fixed(1 + rng.below(64) as usize),
            _ => Chunks::Random {
                max: 1 + rng.below(512) as usize,
                seed: rng.next_u64(),
            },
        };
        let plan = Plan {
            fault: Some(fault),
            refuse: refuse.clone(),
            reads: sizes(&mut rng),
            writes: sizes(&mut rng),
        };
        let one_by_one = rng.below(2) == 0;
        let spec = RunSpec {
            name: format!(
                "run {run_no}: {}, {plan:?}, one call each: {one_by_one}",
                fault_name(&fault, layout.as_ref(), false)
            ),
            plan,
            timeout: if action == Action::Stall {
                IMPATIENT
            } else {
                PATIENT
            },
            cache: None,
            requests: full_scenario(&fix, seed + run_no),
            one_by_one,
        };
        let result = run(&fix, &spec);
        let hits = result.traces.iter().filter(|t| t.hit.is_some()).count();
        tally.fault(format!(
            "{action:?} {}, struck {hits} time(s){}{}",
            match conns {
                Conns::Only(_) => "on one connection",
                Conns::From(_) => "on every connection from one on",
            },
            if refuse.is_empty() {
                ""
            } else {
                ", a refused connect"
            },
            if one_by_one {
                ", one call per request"
            } else {
                ""
            },
        ));
        // One fault (no stall, no refusal): as for the single faults.
        let expect = match (conns, action, refuse.is_empty()) {
            (Conns::Only(_), Action::Reset | Action::Close, true) => Expect::Progress {
                connections: clean.len() as u32 + 1,
            },
            _ => Expect::Safe,
        };
        check(&spec, &result, expect, &mut tally);
    }
    tally.print(test);
}

/// The layout the other tests name their phases by: a full handshake, the tickets, the token
/// exchange and each request on one connection, as expected.
#[test]
fn the_clean_layout_is_as_named() {
    let fix = Fixture::new();
    let mut tally = Tally::new();
    let layout = record_layout(&fix, true, None, full_scenario(&fix, 0), &mut tally);
    for (dir, records) in [
        ("client->server", &layout.up),
        ("server->client", &layout.down),
    ] {
        println!("{dir}:");
        for (i, (phase, len)) in records.iter().enumerate() {
            println!("  record {i:2}: {len:6} bytes  {phase}");
        }
    }
    let names: Vec<&str> = layout.up.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names[0], "handshake: ClientHello");
    assert!(names.contains(&"token request"), "{names:?}");
    assert!(names.contains(&"POST request (record 2 of 2)"), "{names:?}");
    let names: Vec<&str> = layout.down.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names[0], "handshake: ServerHello");
    assert!(names.contains(&"POST response body (record 2 of 2)"));
    assert!(
        layout.down.iter().all(|(_, len)| *len > HEADER),
        "{:?}",
        layout.down
    );
}
