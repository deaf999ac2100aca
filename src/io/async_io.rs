//! (feature `async`) The async drivers: [`drive`] and [`AsyncSession`], the counterparts of
//! [`crate::io::drive`] and [`crate::io::Session`] over any `embedded_io_async::{Read, Write}`
//! stream. Runtime-agnostic and `no_std` + `alloc`: they run on embassy, on tokio (see
//! [`crate::io::tokio_adapter`]) or under any executor.
//!
//! # What the host supplies
//!
//! | what | how |
//! |---|---|
//! | a byte stream | any `embedded_io_async::{Read, Write}` (embassy-net's `TcpSocket`, a tokio socket, ...) |
//! | a clock, and a way to wait for an instant on it | a [`Timer`]: [`Clock::now`] and [`Timer::sleep_until`] |
//! | transports, for a session | an [`AsyncConnector`]: opens them, tells the wall-clock time |
//! | somewhere to block, for a session whose token cache has a store | [`AsyncConnector::run_blocking`] (the default runs inline) |
//!
//! Nothing here reads a clock of its own or spawns anything: the driver races each read and
//! write against the client's next deadline ([`Client::poll_timeout`]) with the host's
//! [`Timer`], inside the one future the host awaits.
//!
//! # Token stores
//!
//! A session whose token cache has a store
//! ([`TokenCache::with_store`](crate::auth::TokenCache::with_store)) consults it as the
//! blocking [`crate::io::Session`] does, with the same logic: before a call, between reads
//! (while a request waits for a token another process is fetching), after the call. Store
//! calls block (a file lock, a network round trip), so the session makes them only when the
//! store has work to do (no token, a refresh due, a fetch to publish, a `401` to pass on),
//! and through [`AsyncConnector::run_blocking`], which the tokio connector runs on tokio's
//! blocking threads. A turn with nothing to do for the store costs a few uncontended locks
//! and no call to `run_blocking`. A request future dropped while a store step runs there
//! leaves the step to finish (it publishes or releases as it would); what it found, such as
//! a store warning, is then not reported.
//!
//! # Contract with the transport
//!
//! - `read` MUST be cancel-safe: a read future dropped before it completes has taken no
//!   bytes (the trait encourages it; embassy-net's and tokio's sockets are). The driver
//!   drops a pending read when the client's deadline comes first.
//! - `write` need not be: a write cut short by the deadline ends the connection (its bytes
//!   count as sent), so a half-written record is never followed by more bytes.
//! - A read that fails with [`embedded_io_async::ErrorKind::TimedOut`] is a tick of the clock,
//!   as in the blocking driver; any other error is returned to the caller.
//!
//! # Cancellation
//!
//! Dropping a [`drive`] future leaves the client in the state of its last input: the caller
//! must then treat the transport as broken ([`Client::transport_failed`]) unless it knows no
//! write was cut short. [`AsyncSession`] does that itself: a request future dropped before its
//! outcome ends its requests (each `Failed`, not sent or outcome unknown as the core decides,
//! in [`AsyncSession::notices`]) and drops the connection, so a half-read response or a
//! half-written request never meets the next request. The token cache is not affected (a
//! token fetch cut short is abandoned, and the next connection fetches again).

use alloc::vec::Vec;
use core::future::{poll_fn, Future};
use core::pin::pin;
use core::task::Poll;

use embedded_io_async::{Read, Write};

use crate::auth::{StoreNotice, TokenCache};
use crate::client::{ApiRequest, Client, ClientConfig, Event};
use crate::error::Error;
use crate::io::session::{
    detail, gave_up, store_notices, Batch, Outcome, MAX_TURNS_WITHOUT_OUTCOME,
};
use crate::io::{Clock, DriveStatus, CHUNK};
use crate::time::{Instant, UnixTime};

/// A [`Clock`] that can also wait: the host's timer (embassy-time's `Timer::at`, tokio's
/// `sleep_until`, a hardware alarm). Both must run on one timeline.
///
/// ```
/// use core::cell::Cell;
/// use mtls_core::io::{Clock, Timer};
/// use mtls_core::time::Instant;
///
/// /// A virtual clock for tests: waiting moves time forward at once.
/// struct Virtual(Cell<u64>);
/// impl Clock for Virtual {
///     fn now(&self) -> Instant {
///         Instant::from_millis(self.0.get())
///     }
/// }
/// impl Timer for Virtual {
///     async fn sleep_until(&self, deadline: Instant) {
///         self.0.set(self.0.get().max(deadline.as_millis()));
///     }
/// }
/// ```
pub trait Timer: Clock {
    /// Completes once [`Clock::now`] has reached `deadline` (at once if it has passed).
    /// Dropping the future before then MUST be harmless: the driver does it whenever the
    /// transport is ready first.
    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()>;
}

/// Opens transports for an [`AsyncSession`]: the host's sockets. The async counterpart of
/// [`crate::io::Connector`]; reads need no bound from it, the session's [`Timer`] bounds them.
pub trait AsyncConnector {
    /// The byte stream. Its `read` MUST be cancel-safe (see the [module docs](self)).
    type Transport: Read + Write;

    /// Opens a transport to `host`:`port` (name lookup included).
    fn connect(
        &mut self,
        host: &str,
        port: u16,
    ) -> impl Future<Output = Result<Self::Transport, AsyncTransportError<Self>>>;

    /// The wall-clock time, for checking the server's certificate on each connection.
    fn wall_clock(&self) -> UnixTime;

    /// The wall-clock time since the Unix epoch, as precise as the host has it, for token
    /// stores ([`TokenStore`](crate::auth::TokenStore)) shared with other processes. The
    /// default is [`AsyncConnector::wall_clock`], to the second.
    fn wall_time(&self) -> core::time::Duration {
        core::time::Duration::from_secs(self.wall_clock().as_secs())
    }

    /// Runs `job`, which may block (a token store's file lock or network round trip, see
    /// [`TokenStore`](crate::auth::TokenStore)), where blocking does not hold up the
    /// executor, and completes with its result; `None` if it could not run (the executor is
    /// shutting down: the store step is then skipped, the cache carries on as it is). The
    /// session calls it only when its token cache has a store with work to do (see the
    /// [module docs](self)).
    ///
    /// The default runs `job` inline, which suits stores that do not block
    /// ([`MemoryStore`](crate::auth::MemoryStore)) and executors with nowhere else to run
    /// it; the tokio connector runs it with `tokio::task::spawn_blocking`. Should the job
    /// panic (a bug in the store), the panic MUST reach the caller, as it would inline.
    fn run_blocking<R, F>(&self, job: F) -> impl Future<Output = Option<R>>
    where
        R: Send + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        core::future::ready(Some(job()))
    }

    /// Whether an idle, kept-alive transport is already unusable: the server closed it or
    /// sent something unasked while idle. Checked, without waiting, before a new request is
    /// written, so that the request goes to a fresh connection as not sent instead of ending
    /// "outcome unknown". The default cannot tell and says no.
    fn is_stale(&mut self, transport: &mut Self::Transport) -> bool {
        let _ = transport;
        false
    }
}

/// The transport error of an [`AsyncConnector`].
pub type AsyncTransportError<C> =
    <<C as AsyncConnector>::Transport as embedded_io_async::ErrorType>::Error;

/// Runs `client` over `transport` until it is idle or needs a new connection, handing every
/// event to `on_event`: the async [`crate::io::drive`].
///
/// Each read and write is raced against the client's next deadline with `timer`; when the
/// deadline comes first the client gets [`Client::handle_timeout`]. A read that fails with
/// [`embedded_io_async::ErrorKind::TimedOut`] is a tick of the clock too; any other transport
/// error is returned (the connection is then broken: tell the client, as
/// [`AsyncSession`] does with [`Client::handle_eof`]). Bounded: returns after `max_turns`
/// reads. See the [module docs](self) for what dropping the future means.
///
/// ```
/// use mtls_core::io::{async_io, DriveStatus, Timer};
/// # async fn demo<T, K>(client: &mut mtls_core::Client, socket: &mut T, timer: &K) -> Result<(), T::Error>
/// # where T: embedded_io_async::Read + embedded_io_async::Write, K: Timer {
/// let status = async_io::drive(client, socket, timer, 10_000, |event| {
///     if let mtls_core::client::Event::Response(id, response) = event {
///         let _ = (id, response.status); // handle the response
///     }
/// })
/// .await?;
/// assert!(matches!(status, DriveStatus::Idle | DriveStatus::NeedsConnection | DriveStatus::Disconnected));
/// # Ok(()) }
/// ```
pub async fn drive<T, K, F>(
    client: &mut Client,
    transport: &mut T,
    timer: &K,
    max_turns: usize,
    on_event: F,
) -> Result<DriveStatus, T::Error>
where
    T: Read + Write,
    K: Timer + ?Sized,
    F: FnMut(Event),
{
    drive_with(client, transport, timer, max_turns, on_event, &mut NoHook).await
}

/// Host work between reads of [`drive_with`]: the session's token-store turn.
pub(crate) trait BeforeRead {
    /// Runs before each read; `now` is the timer's time.
    fn before_read(&mut self, now: Instant) -> impl Future<Output = ()>;
}

/// Nothing between reads: the public [`drive`].
struct NoHook;

impl BeforeRead for NoHook {
    async fn before_read(&mut self, _now: Instant) {}
}

/// [`drive`], with `hook` run before each read (as the blocking driver's `bound_read`).
pub(crate) async fn drive_with<T, K, F, H>(
    client: &mut Client,
    transport: &mut T,
    timer: &K,
    max_turns: usize,
    mut on_event: F,
    hook: &mut H,
) -> Result<DriveStatus, T::Error>
where
    T: Read + Write,
    K: Timer + ?Sized,
    F: FnMut(Event),
    H: BeforeRead,
{
    use embedded_io_async::Error as _;
    let mut rx = [0u8; CHUNK];
    let mut tx = [0u8; CHUNK];
    for _ in 0..max_turns {
        flush(client, transport, timer, &mut tx).await?;
        while let Some(event) = client.poll_event() {
            on_event(event);
        }
        if !client.is_connected() {
            return Ok(if client.wants_connection() {
                DriveStatus::NeedsConnection
            } else {
                DriveStatus::Disconnected
            });
        }
        if client.is_idle() {
            return Ok(DriveStatus::Idle);
        }
        // Between reads: while a request waits for a token another process is fetching,
        // this is where it arrives from the store.
        hook.before_read(timer.now()).await;
        if client.poll_timeout().is_some_and(|t| timer.now() >= t) {
            client.handle_timeout(timer.now());
            continue;
        }
        match race(transport.read(&mut rx), timer, client.poll_timeout()).await {
            Raced::Deadline => client.handle_timeout(timer.now()),
            Raced::Io(Ok(0)) => client.handle_eof(timer.now()),
            Raced::Io(Ok(n)) => {
                // A transport that reports more than it could have read is not trusted.
                let n = n.min(rx.len());
                let mut offset = 0;
                // Bounded: each pass either takes bytes or the client dropped the connection.
                while offset < n && client.is_connected() {
                    let taken = client.handle_input(&rx[offset..n], timer.now());
                    if taken == 0 {
                        flush(client, transport, timer, &mut tx).await?;
                        if client.handle_input(&rx[offset..n], timer.now()) == 0 {
                            break;
                        }
                        continue;
                    }
                    offset += taken;
                }
            }
            Raced::Io(Err(e)) if e.kind() == embedded_io_async::ErrorKind::TimedOut => {
                client.handle_timeout(timer.now());
            }
            Raced::Io(Err(e)) => return Err(e),
        }
    }
    Ok(if client.is_idle() {
        DriveStatus::Idle
    } else {
        DriveStatus::NeedsConnection
    })
}

/// Writes out everything the client has to send, each write raced against the client's
/// deadline. A write cut short (the deadline came first, or the transport took nothing)
/// leaves a partial record on the wire: the connection ends here.
async fn flush<T, K>(
    client: &mut Client,
    transport: &mut T,
    timer: &K,
    buf: &mut [u8],
) -> Result<(), T::Error>
where
    T: Write,
    K: Timer + ?Sized,
{
    // Outputs do not move the deadline: one reading serves the whole flush.
    let deadline = client.poll_timeout();
    let mut wrote = false;
    loop {
        let n = client.poll_transmit(buf);
        if n == 0 {
            break;
        }
        let mut sent = 0;
        while sent < n {
            match race(transport.write(&buf[sent..n]), timer, deadline).await {
                Raced::Io(Ok(0)) => {
                    cut_short(client, timer, false);
                    return Ok(());
                }
                Raced::Io(Ok(k)) => sent += k.min(n - sent),
                Raced::Io(Err(e)) => return Err(e),
                Raced::Deadline => {
                    cut_short(client, timer, true);
                    return Ok(());
                }
            }
        }
        wrote = true;
    }
    if wrote {
        match race(transport.flush(), timer, deadline).await {
            Raced::Io(result) => result?,
            Raced::Deadline => cut_short(client, timer, true),
        }
    }
    Ok(())
}

/// A write did not finish: the deadline's own consequence first (a request past it fails),
/// then, if the connection survived that (a token wait's look-again instant), it goes too.
fn cut_short<K: Timer + ?Sized>(client: &mut Client, timer: &K, deadline: bool) {
    if deadline {
        client.handle_timeout(timer.now());
    }
    if client.is_connected() {
        client.discard_connection();
    }
}

/// Which of the two finished first.
enum Raced<T> {
    Io(T),
    Deadline,
}

/// Polls `io` until it completes or `deadline` passes on `timer` (never, without one). The
/// loser is dropped: for a read, that is why reads must be cancel-safe.
async fn race<F, K>(io: F, timer: &K, deadline: Option<Instant>) -> Raced<F::Output>
where
    F: Future,
    K: Timer + ?Sized,
{
    let mut io = pin!(io);
    let mut sleep = pin!(deadline.map(|d| timer.sleep_until(d)));
    poll_fn(|cx| {
        if let Poll::Ready(out) = io.as_mut().poll(cx) {
            return Poll::Ready(Raced::Io(out));
        }
        match sleep.as_mut().as_pin_mut().map(|sleep| sleep.poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(Raced::Deadline),
            _ => Poll::Pending,
        }
    })
    .await
}

/// An async session over transports an [`AsyncConnector`] opens: one [`Client`] (which holds
/// the token cache), one kept-alive connection, a new one whenever the client asks for it.
/// The async counterpart of [`crate::io::Session`], with the same outcomes; the tokio client
/// is this session with its own connector.
pub struct AsyncSession<C: AsyncConnector, K: Timer> {
    client: Client,
    connector: C,
    timer: K,
    transport: Option<C::Transport>,
    connections: u32,
    /// Events other than outcomes (connected, token fetched, warnings), oldest first; and
    /// the `Failed` outcome of each request whose future was dropped before it completed.
    pub notices: Vec<Event>,
}

impl<C: AsyncConnector, K: Timer> core::fmt::Debug for AsyncSession<C, K> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AsyncSession")
            .field("client", &self.client)
            .field("connections", &self.connections)
            .finish_non_exhaustive()
    }
}

impl<C: AsyncConnector, K: Timer> AsyncSession<C, K>
where
    AsyncTransportError<C>: core::fmt::Display,
{
    /// A session; nothing is connected before the first request.
    pub fn new(config: ClientConfig, connector: C, timer: K) -> AsyncSession<C, K> {
        AsyncSession {
            client: Client::new(config),
            connector,
            timer,
            transport: None,
            connections: 0,
            notices: Vec::new(),
        }
    }

    /// The sans-IO client inside.
    #[cfg(feature = "tokio")]
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// Rotates the client identity without a restart: the kept-alive connection (idle: no
    /// request is in flight between calls) is closed, the next request connects with the
    /// new certificate, and the token is kept.
    ///
    /// # Errors
    /// As [`Client::set_identity`]; the session is then unchanged.
    pub fn set_identity(&mut self, identity: &crate::identity::Identity) -> Result<(), Error> {
        self.client.set_identity(identity)?;
        self.client.discard_connection();
        self.transport = None;
        Ok(())
    }

    /// [`AsyncSession::set_identity`] with the identity of a pool's `template`.
    #[cfg(feature = "tokio")]
    pub(crate) fn adopt_identity_of(&mut self, template: &ClientConfig) {
        self.client.adopt_identity_of(template);
        self.client.discard_connection();
        self.transport = None;
    }

    /// The connector, to change its settings.
    pub fn connector_mut(&mut self) -> &mut C {
        &mut self.connector
    }

    /// How many transports were opened so far.
    pub fn connections(&self) -> u32 {
        self.connections
    }

    /// Sends one request and waits for its outcome. Dropping the future before it completes
    /// ends the request (see the [module docs](self)).
    pub async fn request(&mut self, request: ApiRequest) -> Outcome {
        let mut outcome = None;
        self.request_each([request], |_, o| outcome = Some(o)).await;
        outcome.unwrap_or_else(|| Err(gave_up(None)))
    }

    /// Sends the requests in order and returns all their outcomes at once. Prefer
    /// [`AsyncSession::request_each`] for many requests: this holds every response.
    pub async fn request_all(&mut self, requests: Vec<ApiRequest>) -> Vec<Outcome> {
        let mut outcomes = Vec::with_capacity(requests.len());
        self.request_each(requests, |_, outcome| outcomes.push(outcome))
            .await;
        outcomes
    }

    /// Sends the requests in order (on one connection while the server keeps it open) and
    /// hands each outcome to `on_outcome`, with the request's index, as soon as it is known:
    /// [`crate::io::Session::request_each`], with the same bounds and order.
    ///
    /// Dropping the future before it completes ends every request of the call that the
    /// client holds (their `Failed` events go to [`AsyncSession::notices`]), drops the
    /// connection, and never sends the requests not yet taken from the iterator.
    pub async fn request_each(
        &mut self,
        requests: impl IntoIterator<Item = ApiRequest>,
        on_outcome: impl FnMut(usize, Outcome),
    ) {
        #[cfg(feature = "tracing")]
        let span = crate::io::trace::span(self.client.config().host());
        let mut guard = AbandonOnDrop {
            session: self,
            armed: true,
        };
        let run = guard.session.run(requests, on_outcome);
        #[cfg(feature = "tracing")]
        let run = tracing::Instrument::instrument(run, span);
        run.await;
        guard.armed = false;
    }

    async fn run(
        &mut self,
        requests: impl IntoIterator<Item = ApiRequest>,
        on_outcome: impl FnMut(usize, Outcome),
    ) {
        self.sync_store(true).await;
        self.run_requests(requests, on_outcome).await;
        self.sync_store(false).await;
    }

    /// Brings the token cache and its store in step, when the cache has one (see the
    /// [module docs](self)).
    async fn sync_store(&mut self, start: bool) {
        let mut found = Vec::new();
        let now = self.timer.now();
        let cache = &self.client.config().token_cache;
        store_turn(&self.connector, cache, now, start, &mut found).await;
        store_notices(found, &mut self.notices);
    }

    async fn run_requests(
        &mut self,
        requests: impl IntoIterator<Item = ApiRequest>,
        mut on_outcome: impl FnMut(usize, Outcome),
    ) {
        let mut on_outcome = |index, outcome: Outcome| {
            crate::io::trace::outcome(index, &outcome);
            on_outcome(index, outcome);
        };
        if let Some(transport) = self.transport.as_mut() {
            if self.connector.is_stale(transport) {
                self.client.discard_connection();
                self.transport = None;
            }
        }
        let mut requests = requests.into_iter().enumerate();
        let mut batch = Batch {
            in_client: heapless::Vec::new(),
            transport: None,
            stop: None,
        };
        let mut idle_turns = 0;
        loop {
            let mut more = true;
            while !batch.in_client.is_full() {
                let Some((index, request)) = requests.next() else {
                    more = false;
                    break;
                };
                match &batch.stop {
                    Some(failure) => on_outcome(
                        index,
                        Err(crate::io::RequestError::Failed {
                            failure: failure.clone(),
                            transport: batch.transport.clone(),
                        }),
                    ),
                    None => {
                        let id = self.client.send(request, self.timer.now());
                        // Room checked by the loop's condition.
                        let pushed = batch.in_client.push((id, index));
                        debug_assert!(pushed.is_ok());
                    }
                }
            }
            let before = batch.in_client.len();
            while let Some(event) = self.client.poll_event() {
                batch.sort(event, &mut self.notices, &mut on_outcome);
            }
            if batch.in_client.len() < before {
                idle_turns = 0;
            }
            if batch.in_client.is_empty() {
                if more {
                    continue;
                }
                return;
            }
            idle_turns += 1;
            if idle_turns > MAX_TURNS_WITHOUT_OUTCOME {
                break;
            }
            if self.client.wants_connection() {
                self.connect(&mut batch).await;
                continue;
            }
            let Some(transport) = self.transport.as_mut() else {
                break;
            };
            let notices = &mut self.notices;
            let mut store = StoreTurns {
                connector: &self.connector,
                // A clone of the handle (one `Arc`): the client is lent to `drive_with`.
                cache: self.client.config().token_cache.clone(),
                found: Vec::new(),
            };
            let status = drive_with(
                &mut self.client,
                transport,
                &self.timer,
                100_000,
                |event| batch.sort(event, notices, &mut on_outcome),
                &mut store,
            )
            .await;
            store_notices(store.found, notices);
            idle_turns = 0;
            if !self.client.is_connected() {
                self.transport = None;
            }
            if let Err(e) = status {
                // The transport broke under us: the client decides each request's fate as
                // for an end of stream (retried when safe).
                self.transport = None;
                batch.transport = Some(detail(&e));
                self.client.handle_eof(self.timer.now());
            }
        }
        // Every request ends in exactly one outcome; should the loop bound be hit first,
        // say so rather than panic.
        for (_, index) in batch.in_client.iter() {
            on_outcome(*index, Err(gave_up(batch.transport.clone())));
        }
        batch.in_client.clear();
        for (index, _) in requests {
            on_outcome(index, Err(gave_up(batch.transport.clone())));
        }
    }

    /// Opens a transport for the client, or tells it the transport could not be opened.
    async fn connect(&mut self, batch: &mut Batch) {
        let config = self.client.config();
        crate::io::trace::connecting(config.host(), config.port(), self.connections + 1);
        match self.connector.connect(config.host(), config.port()).await {
            Ok(transport) => {
                let wall_clock = self.connector.wall_clock();
                // On error the client has already ended every queued request.
                if self
                    .client
                    .open_connection(self.timer.now(), wall_clock)
                    .is_ok()
                {
                    self.transport = Some(transport);
                    self.connections += 1;
                }
            }
            Err(e) => {
                let detail = detail(&e);
                let config = self.client.config();
                crate::io::trace::connect_failed(config.host(), config.port(), &detail);
                batch.transport = Some(detail);
                self.client.transport_failed();
            }
        }
    }
}

/// One store turn for `cache` (nothing without a store): what needs no store call inline,
/// the store calls, when there is work for them, through the connector's
/// [`AsyncConnector::run_blocking`]; the findings are traced and added to `found`. The
/// logic is the blocking session's (`StoreLink::sync`).
async fn store_turn<C: AsyncConnector + ?Sized>(
    connector: &C,
    cache: &TokenCache,
    now: Instant,
    start: bool,
    found: &mut Vec<StoreNotice>,
) {
    let needed = cache
        .store_link()
        .is_some_and(|link| link.sync_local(cache, now, start));
    if !needed {
        return;
    }
    let wall = connector.wall_time();
    let cache = cache.clone();
    let job = move || {
        let mut found = Vec::new();
        if let Some(link) = cache.store_link() {
            link.sync(&cache, now, wall, start, &mut found);
        }
        found
    };
    if let Some(more) = connector.run_blocking(job).await {
        more.iter().for_each(crate::io::trace::store);
        found.extend(more);
    }
}

/// The session's [`BeforeRead`]: a store turn before each read.
struct StoreTurns<'a, C: ?Sized> {
    connector: &'a C,
    cache: TokenCache,
    found: Vec<StoreNotice>,
}

impl<C: AsyncConnector + ?Sized> BeforeRead for StoreTurns<'_, C> {
    async fn before_read(&mut self, now: Instant) {
        store_turn(self.connector, &self.cache, now, true, &mut self.found).await;
    }
}

impl<C: AsyncConnector, K: Timer> AsyncSession<C, K> {
    /// A request call was dropped half-way: whatever the client holds ends now (the core
    /// decides each: not sent, or outcome unknown), and the transport goes with it, since a
    /// response may be half read or a record half written on it.
    fn abandon(&mut self) {
        if self.client.is_connected() || !self.client.is_idle() {
            self.client.transport_failed();
        }
        self.transport = None;
        while let Some(event) = self.client.poll_event() {
            self.notices.push(event);
        }
    }
}

/// Ends a request call's work if its future is dropped before the call returns.
struct AbandonOnDrop<'a, C: AsyncConnector, K: Timer> {
    session: &'a mut AsyncSession<C, K>,
    armed: bool,
}

impl<C: AsyncConnector, K: Timer> Drop for AbandonOnDrop<'_, C, K> {
    fn drop(&mut self) {
        if self.armed {
            self.session.abandon();
        }
    }
}
