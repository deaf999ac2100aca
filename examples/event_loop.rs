//! Your own event loop: one thread, one readiness loop (mio), many mTLS connections, driven
//! through the sans-IO `Client` API alone. The reference for writing a loop of your own.
//!
//! Each connection is one `Client` with a clone of one `ClientConfig`, so all share its
//! token cache: the first connection to finish its handshake fetches the token, the others
//! wait for it (their `poll_timeout` wakes them), and one token serves every request. The
//! loop is the contract of `mtls_core::client` spelled out:
//!
//! - **inputs** (`send`, `open_connection`, `handle_input`, `handle_eof`, `handle_timeout`,
//!   `transport_failed`) when the socket or the timer says so;
//! - after every input, **drain the outputs** (`service`): ciphertext from `poll_transmit`
//!   to the socket (what it does not take now waits in `out` for the next writable event),
//!   events from `poll_event`; then the queries: `is_connected` turned false -> close the
//!   socket; `wants_connection` -> open a new one;
//! - the poll timeout is the earliest `poll_timeout` of all clients.
//!
//! It makes REQUESTS GET calls in all over CONNECTIONS connections against the local
//! sandbox, and prints requests/s, p50/p99 latency (from `send` to the response; the first
//! requests include the handshake), the token requests the sandbox saw (must be one) and the
//! failures (must be none); it exits non-zero otherwise. Bounded: it gives up after 120 s.
//!
//! Run: `cargo run --example event_loop [-- CONNECTIONS REQUESTS]` (defaults 64 and
//! 10000; also `EVENT_LOOP_CONNECTIONS`, `EVENT_LOOP_REQUESTS`); `--release` for figures.

use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant as StdInstant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use mtls_core::auth::Credentials;
use mtls_core::client::{Auth, Event, RequestId};
use mtls_core::identity::{CaBundle, Identity};
use mtls_core::io::std_adapter::{wall_clock_now, StdClock};
use mtls_core::io::Clock;
use mtls_core::tls::Trust;
use mtls_core::{ApiRequest, Client, ClientConfig};
use mtls_sandbox::{Sandbox, SandboxConfig};

/// The whole run's bound.
const DEADLINE: Duration = Duration::from_secs(120);
/// Bytes moved per read or `poll_transmit` call.
const CHUNK: usize = 16 * 1024;

/// One connection: its client and (while connected) its socket.
struct Conn {
    client: Client,
    socket: Option<TcpStream>,
    /// The TCP connect finished and `open_connection` was called.
    open: bool,
    /// Ciphertext taken from `poll_transmit` that the socket has not accepted yet.
    out: Vec<u8>,
    /// The request on this connection and when it was sent.
    in_flight: Option<(RequestId, StdInstant)>,
}

/// The host: what every connection shares (the poller, the clock), the work and the tally.
struct Host {
    poll: Poll,
    clock: StdClock,
    addr: SocketAddr,
    path: String,
    requests: usize,
    sent: usize,
    answered: usize,
    failures: usize,
    latencies: Vec<Duration>,
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("event_loop: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<bool, Box<dyn std::error::Error>> {
    let connections = knob(1, "EVENT_LOOP_CONNECTIONS", 64)?.max(1);
    let requests = knob(2, "EVENT_LOOP_REQUESTS", 10_000)?;
    let mut sandbox_config = SandboxConfig::default();
    sandbox_config.max_connections = connections;
    let sandbox = Sandbox::start(sandbox_config)?;
    let config = config_for(&sandbox)?;
    let path = format!("/v2.01/{}/users/1", sandbox.client_id());
    // The sandbox listens on 127.0.0.1; a real loop resolves `config.host()` once, off the
    // loop thread.
    let addr = sandbox.addr();

    let mut host = Host {
        poll: Poll::new()?,
        clock: StdClock::new(),
        addr,
        path,
        requests,
        sent: 0,
        answered: 0,
        failures: 0,
        latencies: Vec::with_capacity(requests),
    };
    let mut events = Events::with_capacity(1024);
    // Clones of one configuration: one token cache for all the clients.
    let mut conns: Vec<Conn> = (0..connections)
        .map(|_| Conn {
            client: Client::new(config.clone()),
            socket: None,
            open: false,
            out: Vec::new(),
            in_flight: None,
        })
        .collect();

    let started = StdInstant::now();
    for (i, conn) in conns.iter_mut().enumerate() {
        host.service(conn, i)?;
    }
    while host.answered + host.failures < requests {
        let elapsed = started.elapsed();
        if elapsed >= DEADLINE {
            eprintln!("event_loop: gave up after {DEADLINE:?}");
            break;
        }
        // Sleep until a socket is ready or the earliest client deadline.
        let now = host.clock.now();
        let next = conns.iter().filter_map(|c| c.client.poll_timeout()).min();
        let wait = next.map_or(DEADLINE, |t| t.saturating_duration_since(now));
        host.poll
            .poll(&mut events, Some(wait.min(DEADLINE - elapsed)))?;

        for event in events.iter() {
            let i = event.token().0;
            let conn = &mut conns[i];
            if event.is_writable() {
                on_writable(conn, &host.clock);
            }
            if event.is_readable() || event.is_read_closed() || event.is_error() {
                on_readable(conn, &host.clock);
            }
            host.service(conn, i)?;
        }
        let now = host.clock.now();
        for (i, conn) in conns.iter_mut().enumerate() {
            if conn.client.poll_timeout().is_some_and(|t| now >= t) {
                conn.client.handle_timeout(now);
                host.service(conn, i)?;
            }
        }
    }
    let elapsed = started.elapsed();

    let mut latencies = host.latencies;
    latencies.sort();
    let percentile = |p: usize| {
        let n = latencies.len();
        (n > 0).then(|| latencies[(n * p / 100).min(n - 1)])
    };
    let ms = |d: Option<Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0);
    let tokens = sandbox.token_requests();
    println!(
        "event_loop: {connections} connections, {} of {requests} requests answered in {:.2} s: \
         {:.0} requests/s, latency p50 {:.2} ms, p99 {:.2} ms; token requests {tokens}, \
         failures {}, TLS connections {}",
        host.answered,
        elapsed.as_secs_f64(),
        host.answered as f64 / elapsed.as_secs_f64(),
        ms(percentile(50)),
        ms(percentile(99)),
        host.failures,
        sandbox.connections(),
    );
    Ok(tokens == 1 && host.failures == 0 && host.answered == requests)
}

impl Host {
    /// Drains the client's outputs after an input, and acts on what it asks for. Loops
    /// because acting (a new request, a new connection) is an input again.
    fn service(&mut self, conn: &mut Conn, i: usize) -> std::io::Result<()> {
        loop {
            // Outputs: ciphertext to the socket, events to the tally.
            let mut buf = [0u8; CHUNK];
            loop {
                let n = conn.client.poll_transmit(&mut buf);
                if n == 0 {
                    break;
                }
                conn.out.extend_from_slice(&buf[..n]);
            }
            flush(conn);
            while let Some(event) = conn.client.poll_event() {
                match event {
                    Event::Response(id, response) => {
                        if let Some((_, sent)) = conn.in_flight.take_if(|(rid, _)| *rid == id) {
                            self.latencies.push(sent.elapsed());
                        }
                        if response.status == 200 {
                            self.answered += 1;
                        } else {
                            eprintln!("event_loop: status {}", response.status);
                            self.failures += 1;
                        }
                    }
                    Event::Failed(id, failure) => {
                        conn.in_flight.take_if(|(rid, _)| *rid == id);
                        eprintln!("event_loop: {failure}");
                        self.failures += 1;
                    }
                    Event::ScaRequired { .. } => self.failures += 1,
                    Event::Warning(w) => eprintln!("event_loop: warning: {w}"),
                    _ => {} // connected, token fetched, connection closed
                }
            }
            // Queries. A connection that is over: what `poll_transmit` still had (close_notify)
            // went to `out` above; write what the socket takes now, then close it.
            if !conn.client.is_connected() {
                if let Some(mut socket) = conn.socket.take() {
                    let _ = socket.write(&conn.out);
                    let _ = self.poll.registry().deregister(&mut socket);
                }
                conn.out.clear();
                conn.open = false;
            }
            if conn.client.wants_connection() && conn.socket.is_none() {
                // Non-blocking connect; `on_writable` finishes it.
                match TcpStream::connect(self.addr) {
                    Ok(mut socket) => {
                        let interest = Interest::READABLE | Interest::WRITABLE;
                        self.poll
                            .registry()
                            .register(&mut socket, Token(i), interest)?;
                        conn.socket = Some(socket);
                    }
                    Err(_) => {
                        conn.client.transport_failed();
                        continue;
                    }
                }
            }
            // The next request, when this connection is free (an input: drain again).
            if conn.in_flight.is_none() && self.sent < self.requests {
                self.sent += 1;
                let id = conn
                    .client
                    .send(ApiRequest::get(&self.path), self.clock.now());
                conn.in_flight = Some((id, StdInstant::now()));
                continue;
            }
            return Ok(());
        }
    }
}

/// The socket can take bytes: finish the TCP connect (then start TLS), or write what waits.
fn on_writable(conn: &mut Conn, clock: &StdClock) {
    let Some(socket) = &conn.socket else { return };
    if !conn.open {
        match (socket.take_error(), socket.peer_addr()) {
            (Ok(None), Ok(_)) => {
                conn.open = true;
                // On error the client has already ended the queued requests (events).
                let _ = conn.client.open_connection(clock.now(), wall_clock_now());
            }
            // Not connected yet: a spurious wake-up.
            (Ok(None), Err(e)) if e.kind() == ErrorKind::NotConnected => {}
            _ => conn.client.transport_failed(),
        }
        return;
    }
    flush(conn);
}

/// Writes as much of `out` as the socket takes now; the rest waits for the next writable
/// event. A write that fails is `transport_failed`.
fn flush(conn: &mut Conn) {
    let (Some(socket), true) = (&mut conn.socket, conn.open) else {
        return;
    };
    while !conn.out.is_empty() {
        match socket.write(&conn.out) {
            Ok(n) => {
                conn.out.drain(..n);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => {
                conn.client.transport_failed();
                return;
            }
        }
    }
}

/// Bytes arrived (or the stream ended): mio is edge-triggered, so read until `WouldBlock`.
fn on_readable(conn: &mut Conn, clock: &StdClock) {
    let mut buf = [0u8; CHUNK];
    while conn.open && conn.client.is_connected() {
        let Some(socket) = &mut conn.socket else {
            return;
        };
        match socket.read(&mut buf) {
            Ok(0) => return conn.client.handle_eof(clock.now()),
            Ok(n) => {
                let mut rest = &buf[..n];
                // The client takes everything unless the connection is over (then it takes
                // nothing and the rest is moot).
                while !rest.is_empty() && conn.client.is_connected() {
                    let taken = conn.client.handle_input(rest, clock.now());
                    if taken == 0 {
                        break;
                    }
                    rest = &rest[taken..];
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => conn.client.transport_failed(),
        }
    }
}

/// A configuration for the sandbox: its client identity, its CA, its credentials.
fn config_for(sandbox: &Sandbox) -> Result<ClientConfig, Box<dyn std::error::Error>> {
    let issued = sandbox.issue_client_identity()?;
    let key = issued.key_pem.as_ref().ok_or("the sandbox issued no key")?;
    let identity = Identity::from_pem(issued.cert_pem.as_bytes(), key.as_bytes())?;
    let trust = Trust::Custom(CaBundle::from_pem(sandbox.ca_pem().as_bytes())?);
    let credentials = Credentials::new(sandbox.client_id(), sandbox.api_key())?;
    let auth = Auth::ClientCredentials(credentials);
    Ok(ClientConfig::new(
        &sandbox.base_url(),
        auth,
        &identity,
        trust,
    )?)
}

/// A size from the command line (position `arg`), else the environment, else `default`.
fn knob(arg: usize, var: &str, default: usize) -> Result<usize, String> {
    match std::env::args()
        .nth(arg)
        .or_else(|| std::env::var(var).ok())
    {
        Some(text) => text
            .parse()
            .map_err(|_| format!("{var} (argument {arg}): not a number: {text:?}")),
        None => Ok(default),
    }
}
