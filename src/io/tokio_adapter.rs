//! (feature `tokio`) The tokio adapter: [`TokioClient`], one kept-alive connection driven by
//! the async driver ([`AsyncSession`]) over tokio's `TcpStream`, and [`TokioPool`], many of
//! them behind one cloneable handle. The async counterparts of
//! [`StdClient`](crate::io::std_adapter::StdClient) and the blocking pool.
//!
//! ```no_run
//! use mtls_core::io::TokioClient;
//! use mtls_core::{ApiRequest, ClientConfig};
//! # async fn demo(config: ClientConfig) -> Result<(), mtls_core::io::RequestError> {
//! let mut client = TokioClient::new(config);
//! let user = client.request(ApiRequest::get("/v2.01/my-client-id/users/123")).await?;
//! println!("{} {}", user.status, String::from_utf8_lossy(&user.body));
//! # Ok(()) }
//! ```
//!
//! The futures MUST be polled inside a tokio runtime with its I/O and time drivers enabled
//! (`#[tokio::main]`, or a runtime built with `enable_all`); the library itself asks tokio only
//! for `net`, `time`, `sync` and `rt` (for `spawn_blocking`).
//!
//! # Token stores
//!
//! A token cache made with a store
//! ([`TokenCache::with_store`](crate::auth::TokenCache::with_store)) is consulted as by the
//! std hosts, with the same logic: the store's token is loaded before one is fetched, a fetch
//! goes ahead under the store's refresh lease (the store read again once it is taken), what
//! was fetched is published, a token a `401` rejected is removed; a store that fails or times
//! out is skipped for a while with a
//! [`Warning::TokenStoreUnavailable`](crate::client::Warning::TokenStoreUnavailable) and the
//! cache works as a private one. Store calls block (a file lock, a Redis round trip): they run
//! on tokio's blocking threads (`spawn_blocking`), only on turns when the store has work to
//! do, never on the runtime's workers.
//!
//! # Timeouts
//!
//! | what | bound |
//! |---|---|
//! | name lookup, and each TCP connect | the connect timeout (default 10 s) |
//! | each socket read or write | the I/O timeout (default 30 s) |
//! | each handshake and request | [`ClientConfig::request_timeout`] (the driver races every read and write against it) |
//!
//! # Cancellation
//!
//! A request future may be dropped at any point (`tokio::time::timeout`, `select!`, a
//! client that went away). The request then ends as the core decides, not sent or outcome
//! unknown (its `Failed` event is in [`TokioClient::take_notices`]); the connection is
//! dropped with it, so a half-read response or a half-written request never meets the next
//! request, and a request that was never sent is never sent later. The token cache is kept.

use core::future::{poll_fn, Future};
use core::mem::MaybeUninit;
use core::pin::Pin;
use core::time::Duration;
use std::io;
use std::vec::Vec;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::client::{ApiRequest, Client, ClientConfig, Event};
use crate::io::async_io::{AsyncConnector, AsyncSession, Timer};
use crate::io::session::Outcome;
use crate::io::std_adapter::{wall_clock_now, wall_time_now};
use crate::io::Clock;
use crate::time::{Instant, UnixTime};

pub use crate::io::tokio_pool::TokioPool;

/// The farthest a [`TokioClock`] waits in one sleep: "never", without overflowing tokio's
/// instants (a client deadline saturates at the end of time).
const FAR_FUTURE: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// A monotonic clock on tokio's time (so a paused test runtime pauses it too), counting from
/// its creation, that waits with `tokio::time::sleep_until`.
#[derive(Clone, Copy, Debug)]
pub struct TokioClock {
    origin: tokio::time::Instant,
}

impl TokioClock {
    /// A clock whose zero is now.
    pub fn new() -> TokioClock {
        TokioClock {
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        TokioClock::new()
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Instant {
        let ms = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        Instant::from_millis(ms)
    }
}

impl Timer for TokioClock {
    async fn sleep_until(&self, deadline: Instant) {
        let after = Duration::from_millis(deadline.as_millis()).min(FAR_FUTURE);
        match self.origin.checked_add(after) {
            Some(at) => tokio::time::sleep_until(at).await,
            // Past what the platform's instants hold: never.
            None => core::future::pending().await,
        }
    }
}

/// A tokio `TcpStream` as an `embedded-io-async` stream. Reads and writes are cancel-safe
/// (a dropped future moved no bytes) and bounded by the I/O timeout, after which they fail
/// with `TimedOut`.
#[derive(Debug)]
pub struct TokioTransport {
    stream: TcpStream,
    io_timeout: Duration,
}

impl TokioTransport {
    /// Wraps a connected stream; each read and write waits at most `io_timeout`.
    pub fn new(stream: TcpStream, io_timeout: Duration) -> TokioTransport {
        TokioTransport { stream, io_timeout }
    }

    /// The stream.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }
}

/// `op`, or `TimedOut` after `limit`.
async fn bounded<T>(limit: Duration, op: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    match tokio::time::timeout(limit, op).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "no progress within the I/O timeout",
        )),
    }
}

impl embedded_io_async::ErrorType for TokioTransport {
    type Error = io::Error;
}

impl embedded_io_async::Read for TokioTransport {
    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let stream = &mut self.stream;
        // One `poll_read` per poll: until it is ready nothing is taken from the socket, so
        // dropping the future loses nothing.
        let read = poll_fn(|cx| {
            let mut out = ReadBuf::new(&mut *buf);
            Pin::new(&mut *stream)
                .poll_read(cx, &mut out)
                .map_ok(|()| out.filled().len())
        });
        bounded(self.io_timeout, read).await
    }
}

impl embedded_io_async::Write for TokioTransport {
    async fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let stream = &mut self.stream;
        let write = poll_fn(|cx| Pin::new(&mut *stream).poll_write(cx, buf));
        bounded(self.io_timeout, write).await
    }

    async fn flush(&mut self) -> io::Result<()> {
        // TCP has no user-space buffer here: `write` handed the bytes to the kernel.
        Ok(())
    }
}

/// Opens tokio `TcpStream`s with name lookup and timeouts for an [`AsyncSession`].
#[derive(Clone, Copy, Debug)]
pub struct TokioConnector {
    /// Bound on the name lookup, and on establishing each TCP connection.
    pub connect_timeout: Duration,
    /// Longest wait for each socket read or write.
    pub io_timeout: Duration,
}

impl Default for TokioConnector {
    /// 10 s to connect, 30 s per read or write (as the std adapter).
    fn default() -> Self {
        TokioConnector {
            connect_timeout: Duration::from_secs(10),
            io_timeout: Duration::from_secs(30),
        }
    }
}

impl AsyncConnector for TokioConnector {
    type Transport = TokioTransport;

    async fn connect(&mut self, host: &str, port: u16) -> io::Result<TokioTransport> {
        let host = host.trim_matches(|c| c == '[' || c == ']');
        let limit = self.connect_timeout;
        let addrs = bounded(limit, tokio::net::lookup_host((host, port))).await?;
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address for host");
        for addr in addrs {
            match bounded(limit, TcpStream::connect(addr)).await {
                Ok(stream) => {
                    stream.set_nodelay(true)?;
                    return Ok(TokioTransport::new(stream, self.io_timeout));
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn wall_clock(&self) -> UnixTime {
        wall_clock_now()
    }

    fn wall_time(&self) -> Duration {
        wall_time_now()
    }

    /// On tokio's blocking threads (`spawn_blocking`); a panic in `job` is resumed here.
    async fn run_blocking<R, F>(&self, job: F) -> Option<R>
    where
        R: Send + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        match tokio::task::spawn_blocking(job).await {
            Ok(result) => Some(result),
            Err(e) => match e.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                // Cancelled: the runtime is shutting down.
                Err(_) => None,
            },
        }
    }

    /// A non-blocking peek (tokio's sockets are non-blocking): end of stream, bytes nobody
    /// asked for (on an idle connection, typically the server's close_notify) or an error
    /// all mean stale. It asks the socket itself, not tokio's readiness, which may not have
    /// seen the server's close yet.
    fn is_stale(&mut self, transport: &mut TokioTransport) -> bool {
        let mut byte = [MaybeUninit::<u8>::uninit(); 1];
        !matches!(
            socket2::SockRef::from(&transport.stream).peek(&mut byte),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock
        )
    }
}

/// An async mTLS API client over tokio TCP: one kept-alive connection, reconnects when the
/// server closed it, the token cache kept across reconnects; DNS and connect/read/write
/// timeouts. For concurrent requests use a [`TokioPool`] (or one client per task, sharing
/// [`ClientConfig::token_cache`]).
///
/// See the [module docs](self) for timeouts and cancellation.
#[derive(Debug)]
pub struct TokioClient {
    session: AsyncSession<TokioConnector, TokioClock>,
}

impl TokioClient {
    /// A client; nothing is connected until the first request. Timeouts: 10 s to connect,
    /// 30 s per socket read or write.
    pub fn new(config: ClientConfig) -> TokioClient {
        TokioClient::with_parts(config, TokioConnector::default(), TokioClock::new())
    }

    /// A client with this connector and clock (a pool gives all its clients one clock).
    pub(crate) fn with_parts(
        config: ClientConfig,
        connector: TokioConnector,
        clock: TokioClock,
    ) -> TokioClient {
        TokioClient {
            session: AsyncSession::new(config, connector, clock),
        }
    }

    /// Sets the connect timeout (name lookup and each TCP connect) and the per-read/write
    /// timeout.
    pub fn set_timeouts(&mut self, connect: Duration, io: Duration) {
        let connector = self.session.connector_mut();
        connector.connect_timeout = connect;
        connector.io_timeout = io;
    }

    /// The sans-IO client inside.
    pub fn client(&self) -> &Client {
        self.session.client()
    }

    /// Rotates the client identity without a restart: the idle kept-alive connection is
    /// closed, the next request connects with the new certificate; the token is kept.
    ///
    /// # Errors
    /// As [`Client::set_identity`]; the client is then unchanged.
    pub fn set_identity(
        &mut self,
        identity: &crate::identity::Identity,
    ) -> Result<(), crate::Error> {
        self.session.set_identity(identity)
    }

    /// [`TokioClient::set_identity`] with the identity of a pool's `template`.
    pub(crate) fn adopt_identity_of(&mut self, template: &ClientConfig) {
        self.session.adopt_identity_of(template);
    }

    /// How many TCP connections were opened so far.
    pub fn connections(&self) -> u32 {
        self.session.connections()
    }

    /// Takes the events other than request outcomes (connections, tokens, warnings)
    /// gathered so far, oldest first, and the `Failed` outcome of each request whose
    /// future was dropped.
    pub fn take_notices(&mut self) -> Vec<Event> {
        core::mem::take(&mut self.session.notices)
    }

    /// Sends one request and waits for its outcome. Cancel-safe (see the
    /// [module docs](self)).
    pub async fn request(&mut self, request: ApiRequest) -> Outcome {
        self.session.request(request).await
    }

    /// Sends the requests one after the other, on one connection where possible, and hands
    /// each outcome to `on_outcome` (with the request's index) as soon as it is known.
    pub async fn request_each(
        &mut self,
        requests: impl IntoIterator<Item = ApiRequest>,
        on_outcome: impl FnMut(usize, Outcome),
    ) {
        self.session.request_each(requests, on_outcome).await;
    }

    /// Sends the requests in order and returns all their outcomes at once. Prefer
    /// [`TokioClient::request_each`] for many requests: this holds every response.
    pub async fn request_all(&mut self, requests: Vec<ApiRequest>) -> Vec<Outcome> {
        self.session.request_all(requests).await
    }
}
