//! The std adapter: a blocking client over `TcpStream`.
//!
//! ```no_run
//! use mtls_core::io::std_adapter::StdClient;
//! use mtls_core::{ApiRequest, ClientConfig};
//! # fn demo(config: ClientConfig) -> Result<(), mtls_core::io::RequestError> {
//! let mut client = StdClient::new(config);
//! let user = client.request(ApiRequest::get("/v2.01/my-client-id/users/123"))?;
//! println!("{} {}", user.status, String::from_utf8_lossy(&user.body));
//! # Ok(()) }
//! ```

use core::time::Duration;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{SystemTime, UNIX_EPOCH};
use std::vec::Vec;

use crate::client::{ApiRequest, Client, ClientConfig, Event};
use crate::io::session::{Connector, Outcome, Session};
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

/// The wall-clock time since the Unix epoch, to the nanosecond the system gives, for token
/// stores (the epoch itself on a clock set before 1970).
pub(crate) fn wall_time_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
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

    fn wall_time(&self) -> Duration {
        wall_time_now()
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

    /// Rotates the client identity without a restart: the next request connects with the
    /// new certificate; the token is kept. See [`Session::set_identity`].
    ///
    /// # Errors
    /// As [`Client::set_identity`](crate::Client::set_identity).
    pub fn set_identity(
        &mut self,
        identity: &crate::identity::Identity,
    ) -> Result<(), crate::Error> {
        self.session.set_identity(identity)
    }

    /// Opens the connection and completes its handshake now, without a token or a request:
    /// to warm it up, or to see what the server asks of the client certificate. See
    /// [`Session::connect`].
    ///
    /// ```no_run
    /// use mtls_core::io::std_adapter::StdClient;
    /// # fn demo(config: mtls_core::ClientConfig) -> Result<(), mtls_core::io::RequestError> {
    /// let mut client = StdClient::new(config);
    /// let handshake = client.connect()?;
    /// if handshake.issuer_acceptable == Some(false) {
    ///     eprintln!("the server takes certificates from: {:?}", handshake.acceptable_issuers);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Session::connect`].
    pub fn connect(
        &mut self,
    ) -> Result<crate::tls::HandshakeSummary, crate::io::session::RequestError> {
        self.session.connect()
    }

    /// How many TCP connections were opened so far.
    pub fn connections(&self) -> u32 {
        self.session.connections()
    }

    /// Takes the events other than request outcomes (connections, tokens, warnings)
    /// gathered so far, oldest first.
    pub fn take_notices(&mut self) -> Vec<Event> {
        core::mem::take(&mut self.session.notices)
    }

    /// Sends one request and waits for its outcome.
    pub fn request(&mut self, request: ApiRequest) -> Outcome {
        self.session.request(request)
    }

    /// Hands back a response the caller is done with: the next response reuses its
    /// buffers, so a warm request allocates nothing in the client's layers (see
    /// [`Client::recycle_response`]). Optional: dropping a response is fine too.
    ///
    /// ```no_run
    /// # fn f(client: &mut mtls_core::io::std_adapter::StdClient) -> Result<(), Box<dyn std::error::Error>> {
    /// use mtls_core::ApiRequest;
    /// let response = client.request(ApiRequest::get("/v2.01/my-client-id/users/1"))?;
    /// println!("{}", response.status);
    /// client.recycle_response(response);
    /// # Ok(()) }
    /// ```
    pub fn recycle_response(&mut self, response: crate::http::Response) {
        self.session.recycle_response(response);
    }

    /// Sends the requests one after the other, on one connection where possible, and hands
    /// each outcome to `on_outcome` (with the request's index) as soon as it is known.
    pub fn request_each(
        &mut self,
        requests: impl IntoIterator<Item = ApiRequest>,
        on_outcome: impl FnMut(usize, Outcome),
    ) {
        self.session.request_each(requests, on_outcome);
    }

    /// Sends the requests in order and returns all their outcomes at once. Prefer
    /// [`StdClient::request_each`] for many requests: this holds every response.
    pub fn request_all(&mut self, requests: Vec<ApiRequest>) -> Vec<Outcome> {
        self.session.request_all(requests)
    }
}
