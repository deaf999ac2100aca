//! The std adapter: a blocking client over `TcpStream`.
//!
//! ```no_run
//! use mtls_core::io::std_adapter::StdClient;
//! use mtls_core::{ApiRequest, ClientConfig};
//! # fn demo(config: ClientConfig) -> Result<(), mtls_core::io::std_adapter::RequestError> {
//! let mut client = StdClient::new(config);
//! let user = client.request(ApiRequest::get("/v2.01/my-client-id/users/123"))?;
//! println!("{} {}", user.status, String::from_utf8_lossy(&user.body));
//! # Ok(()) }
//! ```

use core::time::Duration;
use std::boxed::Box;
use std::net::{TcpStream, ToSocketAddrs};
use std::string::String;
use std::time::{SystemTime, UNIX_EPOCH};
use std::vec::Vec;

use crate::client::{ApiRequest, Client, ClientConfig, Event, Failure, RequestId};
use crate::http::Response;
use crate::io::{drive, DriveStatus};
use crate::time::{Instant, UnixTime};

/// The wall-clock time now, for certificate checks.
pub fn wall_clock_now() -> UnixTime {
    // A clock before 1970 is a host misconfiguration; treat it as the epoch.
    UnixTime::since_unix_epoch(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default(),
    )
}

/// A monotonic clock counting from its creation.
#[derive(Clone, Copy, Debug)]
pub struct StdClock {
    origin: std::time::Instant,
}

impl StdClock {
    /// A clock whose zero is now.
    pub fn new() -> StdClock {
        StdClock {
            origin: std::time::Instant::now(),
        }
    }
}

impl Default for StdClock {
    fn default() -> Self {
        StdClock::new()
    }
}

impl crate::io::Clock for StdClock {
    fn now(&self) -> Instant {
        let ms = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        Instant::from_millis(ms)
    }
}

/// A `TcpStream` as an `embedded-io` stream; read timeouts surface as `TimedOut`.
#[derive(Debug)]
pub struct TcpTransport(pub TcpStream);

impl embedded_io::ErrorType for TcpTransport {
    type Error = std::io::Error;
}

impl embedded_io::Read for TcpTransport {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        use std::io::Read;
        match self.0.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                Err(std::io::Error::new(std::io::ErrorKind::TimedOut, e))
            }
            other => other,
        }
    }
}

impl embedded_io::Write for TcpTransport {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        std::io::Write::write(&mut self.0, buf)
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        std::io::Write::flush(&mut self.0)
    }
}

/// The outcome of one request.
pub type Outcome = Result<Response, RequestError>;

/// What a request can end in, short of a normal response.
#[derive(Debug)]
#[non_exhaustive]
pub enum RequestError {
    /// The request failed; see [`Failure::kind`] for whether it may be retried.
    Failed(Failure),
    /// Mangopay asked for Strong Customer Authentication (`401 PendingUserAction`).
    ScaRequired {
        /// Where to send the user.
        redirect_url: Option<String>,
        /// The full response (boxed: it is large).
        response: Box<Response>,
    },
    /// Connecting or reading/writing the socket failed.
    Io(std::io::Error),
}

impl core::fmt::Display for RequestError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RequestError::Failed(failure) => match failure.kind {
                crate::FailureKind::NotSent => write!(f, "{} (request not sent)", failure.error),
                crate::FailureKind::OutcomeUnknown => {
                    write!(f, "{} (request outcome unknown)", failure.error)
                }
            },
            RequestError::ScaRequired { redirect_url, .. } => match redirect_url {
                Some(url) => write!(f, "strong customer authentication required: {url}"),
                None => f.write_str("strong customer authentication required"),
            },
            RequestError::Io(e) => write!(f, "network: {e}"),
        }
    }
}

impl core::error::Error for RequestError {}

/// A blocking mTLS API client over TCP: one kept-alive connection, reconnects when the
/// server closed it, the token cache kept across reconnects.
pub struct StdClient {
    client: Client,
    socket: Option<TcpTransport>,
    clock: StdClock,
    /// Timeout for establishing the TCP connection (default 10 s).
    pub connect_timeout: Duration,
    /// Timeout for each socket read and write (default 30 s).
    pub io_timeout: Duration,
    /// Events other than request outcomes (connections, tokens, warnings), oldest first.
    pub notices: Vec<Event>,
    connections: u32,
}

impl core::fmt::Debug for StdClient {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StdClient")
            .field("client", &self.client)
            .field("connections", &self.connections)
            .finish_non_exhaustive()
    }
}

impl StdClient {
    /// A client; nothing is connected until the first request.
    pub fn new(config: ClientConfig) -> StdClient {
        StdClient {
            client: Client::new(config),
            socket: None,
            clock: StdClock::new(),
            connect_timeout: Duration::from_secs(10),
            io_timeout: Duration::from_secs(30),
            notices: Vec::new(),
            connections: 0,
        }
    }

    /// The sans-IO client inside.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// How many TCP connections were opened so far.
    pub fn connections(&self) -> u32 {
        self.connections
    }

    /// Sends one request and waits for its outcome.
    pub fn request(&mut self, request: ApiRequest) -> Result<Response, RequestError> {
        let id = self
            .client
            .send(request, crate::io::Clock::now(&self.clock));
        let mut outcomes = self.run()?;
        match outcomes.iter().position(|(i, _)| *i == id) {
            Some(i) => outcomes.swap_remove(i).1,
            None => Err(RequestError::Io(std::io::Error::other(
                "the client stopped without an outcome for the request",
            ))),
        }
    }

    /// Sends several requests, in order, on one connection where possible; returns their
    /// outcomes in the same order.
    pub fn request_all(
        &mut self,
        requests: Vec<ApiRequest>,
    ) -> Result<Vec<Result<Response, RequestError>>, RequestError> {
        let now = crate::io::Clock::now(&self.clock);
        let ids: Vec<RequestId> = requests
            .into_iter()
            .map(|r| self.client.send(r, now))
            .collect();
        let mut outcomes = self.run()?;
        let mut ordered = Vec::with_capacity(ids.len());
        for id in ids {
            match outcomes.iter().position(|(i, _)| *i == id) {
                Some(i) => ordered.push(outcomes.swap_remove(i).1),
                None => ordered.push(Err(RequestError::Io(std::io::Error::other(
                    "the client stopped without an outcome for the request",
                )))),
            }
        }
        Ok(ordered)
    }

    /// Drives until every queued request has an outcome.
    fn run(&mut self) -> Result<Vec<(RequestId, Outcome)>, RequestError> {
        let mut outcomes = Vec::new();
        // Each turn is one connection; a request tries at most `max_attempts` of them.
        for _ in 0..64 {
            if self.client.wants_connection() {
                if let Err(e) = self.connect() {
                    let now = crate::io::Clock::now(&self.clock);
                    self.client.transport_failed(now);
                    self.drain_events(&mut outcomes);
                    return Err(e);
                }
            }
            let Some(socket) = self.socket.as_mut() else {
                break;
            };
            let notices = &mut self.notices;
            let io_timeout = self.io_timeout;
            let mut bound_read = |t: &mut TcpTransport, left: Option<Duration>| {
                // Never zero (that means "no timeout" to std); never past the I/O timeout.
                let wait = left.map_or(io_timeout, |l| {
                    l.clamp(Duration::from_millis(1), io_timeout)
                });
                // A failure leaves the previous timeout in place, which is still bounded.
                let _ = t.0.set_read_timeout(Some(wait));
            };
            let status = drive(
                &mut self.client,
                socket,
                &self.clock,
                100_000,
                &mut bound_read,
                &mut |event| sort_event(event, &mut outcomes, notices),
            );
            match status {
                Ok(DriveStatus::Idle) => {
                    if !self.client.is_connected() {
                        self.socket = None;
                    }
                    break;
                }
                Ok(DriveStatus::Disconnected) => {
                    self.socket = None;
                    break;
                }
                Ok(DriveStatus::NeedsConnection) => self.socket = None,
                Err(e) => {
                    // The socket broke under us: the client decides each request's fate.
                    self.socket = None;
                    let now = crate::io::Clock::now(&self.clock);
                    self.client.handle_eof(now);
                    if !self.client.wants_connection() && self.client.is_idle() {
                        self.drain_events(&mut outcomes);
                        return if outcomes.is_empty() {
                            Err(RequestError::Io(e))
                        } else {
                            Ok(outcomes)
                        };
                    }
                }
            }
        }
        self.drain_events(&mut outcomes);
        Ok(outcomes)
    }

    fn drain_events(&mut self, outcomes: &mut Vec<(RequestId, Outcome)>) {
        while let Some(event) = self.client.poll_event() {
            sort_event(event, outcomes, &mut self.notices);
        }
    }

    fn connect(&mut self) -> Result<(), RequestError> {
        let host = self
            .client
            .config()
            .host()
            .trim_matches(|c| c == '[' || c == ']');
        let port = self.client.config().port();
        let addrs = (host, port).to_socket_addrs().map_err(RequestError::Io)?;
        let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address for host");
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, self.connect_timeout) {
                Ok(stream) => {
                    stream.set_nodelay(true).map_err(RequestError::Io)?;
                    stream
                        .set_read_timeout(Some(self.io_timeout))
                        .map_err(RequestError::Io)?;
                    stream
                        .set_write_timeout(Some(self.io_timeout))
                        .map_err(RequestError::Io)?;
                    self.client.config().tls().set_time(wall_clock_now());
                    let now = crate::io::Clock::now(&self.clock);
                    self.client.open_connection(now).map_err(|e| {
                        RequestError::Failed(Failure {
                            kind: crate::FailureKind::NotSent,
                            error: e,
                        })
                    })?;
                    self.socket = Some(TcpTransport(stream));
                    self.connections += 1;
                    return Ok(());
                }
                Err(e) => last = e,
            }
        }
        Err(RequestError::Io(last))
    }
}

/// Request outcomes go to `outcomes`, everything else to `notices`.
fn sort_event(event: Event, outcomes: &mut Vec<(RequestId, Outcome)>, notices: &mut Vec<Event>) {
    match event {
        Event::Response(id, response) => outcomes.push((id, Ok(response))),
        Event::Failed(id, failure) => outcomes.push((id, Err(RequestError::Failed(failure)))),
        Event::ScaRequired {
            id,
            redirect_url,
            response,
        } => outcomes.push((
            id,
            Err(RequestError::ScaRequired {
                redirect_url,
                response: Box::new(response),
            }),
        )),
        other => notices.push(other),
    }
}
