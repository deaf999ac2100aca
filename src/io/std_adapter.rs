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
use std::string::ToString;
use std::time::{SystemTime, UNIX_EPOCH};
use std::vec::Vec;

use crate::client::{ApiRequest, Client, ClientConfig, Event, Failure};
use crate::http::Response;
use crate::io::session::{self, Connector, Session};
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

/// Opens `TcpStream`s with DNS and timeouts for a [`Session`].
#[derive(Clone, Copy, Debug)]
pub struct TcpConnector {
    /// Timeout for establishing each TCP connection.
    pub connect_timeout: Duration,
    /// Longest wait for each socket read or write.
    pub io_timeout: Duration,
}

impl Connector for TcpConnector {
    type Transport = TcpTransport;

    fn connect(&mut self, host: &str, port: u16) -> Result<TcpTransport, std::io::Error> {
        let host = host.trim_matches(|c| c == '[' || c == ']');
        let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address for host");
        for addr in (host, port).to_socket_addrs()? {
            match TcpStream::connect_timeout(&addr, self.connect_timeout) {
                Ok(stream) => {
                    stream.set_nodelay(true)?;
                    stream.set_read_timeout(Some(self.io_timeout))?;
                    stream.set_write_timeout(Some(self.io_timeout))?;
                    return Ok(TcpTransport(stream));
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn bound_read(&mut self, transport: &mut TcpTransport, left: Option<Duration>) {
        // Never zero (that means "no timeout" to std); never past the I/O timeout.
        let wait = left.map_or(self.io_timeout, |l| {
            l.clamp(Duration::from_millis(1), self.io_timeout)
        });
        // A failure leaves the previous timeout in place, which is still bounded.
        let _ = transport.0.set_read_timeout(Some(wait));
    }

    fn wall_clock(&self) -> UnixTime {
        wall_clock_now()
    }

    /// A non-blocking peek: end of stream, bytes nobody asked for (on an idle connection,
    /// typically the server's close_notify) or an error all mean stale.
    fn is_stale(&mut self, transport: &mut TcpTransport) -> bool {
        let socket = &transport.0;
        if socket.set_nonblocking(true).is_err() {
            return true;
        }
        let mut byte = [0u8; 1];
        let stale =
            !matches!(socket.peek(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
        // Back to blocking reads bounded by timeouts; a socket that refuses is unusable.
        socket.set_nonblocking(false).is_err() || stale
    }
}

/// A blocking mTLS API client over TCP: one kept-alive connection, reconnects when the
/// server closed it, the token cache kept across reconnects.
#[derive(Debug)]
pub struct StdClient {
    session: Session<TcpConnector, StdClock>,
}

impl StdClient {
    /// A client; nothing is connected until the first request. Timeouts: 10 s to connect,
    /// 30 s per socket read or write.
    pub fn new(config: ClientConfig) -> StdClient {
        let connector = TcpConnector {
            connect_timeout: Duration::from_secs(10),
            io_timeout: Duration::from_secs(30),
        };
        StdClient {
            session: Session::new(config, connector, StdClock::new()),
        }
    }

    /// Sets the TCP connect timeout and the per-read/write timeout.
    pub fn set_timeouts(&mut self, connect: Duration, io: Duration) {
        let connector = self.session.connector_mut();
        connector.connect_timeout = connect;
        connector.io_timeout = io;
    }

    /// The sans-IO client inside.
    pub fn client(&self) -> &Client {
        self.session.client()
    }

    /// How many TCP connections were opened so far.
    pub fn connections(&self) -> u32 {
        self.session.connections()
    }

    /// Events other than request outcomes (connections, tokens, warnings), oldest first.
    pub fn notices(&self) -> &[Event] {
        &self.session.notices
    }

    /// Takes the notices gathered so far.
    pub fn take_notices(&mut self) -> Vec<Event> {
        core::mem::take(&mut self.session.notices)
    }

    /// Sends one request and waits for its outcome.
    pub fn request(&mut self, request: ApiRequest) -> Outcome {
        let outcome = self.session.request(request);
        self.convert(outcome)
    }

    /// Sends several requests, in order, on one connection where possible; returns their
    /// outcomes in the same order. `Err` when no connection could be opened at all.
    pub fn request_all(&mut self, requests: Vec<ApiRequest>) -> Result<Vec<Outcome>, RequestError> {
        let outcomes = self.session.request_all(requests);
        let unreachable = !outcomes.is_empty()
            && outcomes.iter().all(
                |o| matches!(o, session::Outcome::Failed(f) if f.error == crate::Error::Transport),
            );
        if unreachable {
            if let Some(e) = self.session.last_transport_error() {
                return Err(RequestError::Io(copy_io_error(e)));
            }
        }
        Ok(outcomes.into_iter().map(|o| self.convert(o)).collect())
    }

    fn convert(&self, outcome: session::Outcome) -> Outcome {
        match outcome {
            session::Outcome::Response(response) => Ok(response),
            session::Outcome::ScaRequired {
                redirect_url,
                response,
            } => Err(RequestError::ScaRequired {
                redirect_url,
                response,
            }),
            session::Outcome::Failed(failure) if failure.error == crate::Error::Transport => {
                match self.session.last_transport_error() {
                    Some(e) => Err(RequestError::Io(copy_io_error(e))),
                    None => Err(RequestError::Failed(failure)),
                }
            }
            session::Outcome::Failed(failure) => Err(RequestError::Failed(failure)),
        }
    }
}

/// `std::io::Error` is not `Clone`: the same kind and message.
fn copy_io_error(e: &std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), e.to_string())
}
