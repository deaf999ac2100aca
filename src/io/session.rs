//! A blocking session over transports a [`Connector`] opens: one [`Client`] (which holds the
//! token cache), one kept-alive connection, a new one whenever the client asks for it. The
//! std adapter and the WASI component are this loop with their own connector.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use crate::auth::StoreNotice;
use crate::client::{
    ApiRequest, Client, ClientConfig, Event, Failure, FailureKind, RequestId, Warning,
};
use crate::error::Error;
use crate::http::Response;
use crate::io::{drive, Clock};
use crate::time::UnixTime;
use crate::tls::HandshakeSummary;

/// Opens transports for a [`Session`]: the host's sockets.
pub trait Connector {
    /// The byte stream.
    type Transport: embedded_io::Read + embedded_io::Write;

    /// Opens a transport to `host`:`port` (name lookup included).
    fn connect(
        &mut self,
        host: &str,
        port: u16,
    ) -> Result<Self::Transport, <Self::Transport as embedded_io::ErrorType>::Error>;

    /// Bounds the next read to `left` (the time until the client's next timeout; `None`: no
    /// client deadline, the transport's own limit applies). A read that ends this way must
    /// fail with [`embedded_io::ErrorKind::TimedOut`].
    fn bound_read(&mut self, transport: &mut Self::Transport, left: Option<Duration>);

    /// The wall-clock time, for checking the server's certificate on each connection.
    fn wall_clock(&self) -> UnixTime;

    /// The wall-clock time since the Unix epoch, as precise as the host has it, for token
    /// stores ([`TokenStore`](crate::auth::TokenStore)) shared with other processes. The
    /// default is [`Connector::wall_clock`], to the second.
    fn wall_time(&self) -> Duration {
        Duration::from_secs(self.wall_clock().as_secs())
    }

    /// Whether an idle, kept-alive transport is already unusable: the server closed it or
    /// sent something unasked while idle. Checked, without blocking, before a new request
    /// is written, so that the request goes to a fresh connection as not sent instead of
    /// ending "outcome unknown". The default cannot tell and says no.
    fn is_stale(&mut self, transport: &mut Self::Transport) -> bool {
        let _ = transport;
        false
    }
}

/// How one request ended, for every host: the response (any status), or why not.
pub type Outcome = Result<Response, RequestError>;

/// The transport's own words for a failure (a socket error), kept with the outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransportDetail {
    /// Its class.
    pub kind: embedded_io::ErrorKind,
    /// The transport's message, e.g. `Connection refused (os error 111)`.
    pub message: String,
}

impl core::fmt::Display for TransportDetail {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.message)
    }
}

/// What a request can end in, short of a response.
#[derive(Debug)]
#[non_exhaustive]
pub enum RequestError {
    /// No response; [`Failure::kind`] says whether it may be retried.
    Failed {
        /// What the core says.
        failure: Failure,
        /// The transport's own words, when a transport failure was part of the story.
        transport: Option<TransportDetail>,
    },
    /// Mangopay's `401 PendingUserAction`: the user must complete Strong Customer
    /// Authentication. The token is kept.
    ScaRequired {
        /// Where to send the user, when the server gave it.
        redirect_url: Option<String>,
        /// The full response (boxed: it is large).
        response: Box<Response>,
    },
}

impl RequestError {
    /// The failure, when the request failed.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            RequestError::Failed { failure, .. } => Some(failure),
            RequestError::ScaRequired { .. } => None,
        }
    }
}

impl core::fmt::Display for RequestError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RequestError::Failed { failure, transport } => {
                failure.write_with_detail(f, transport.as_ref().map(|e| e as _))
            }
            RequestError::ScaRequired { redirect_url, .. } => match redirect_url {
                Some(url) => write!(f, "strong customer authentication required: {url}"),
                None => f.write_str("strong customer authentication required"),
            },
        }
    }
}

impl core::error::Error for RequestError {}

/// The transport error of a [`Connector`].
pub(crate) type TransportError<C> = <<C as Connector>::Transport as embedded_io::ErrorType>::Error;

/// A [`Client`] with its connections, driven to completion call by call.
pub struct Session<C: Connector, K: Clock> {
    client: Client,
    connector: C,
    clock: K,
    transport: Option<C::Transport>,
    connections: u32,
    /// Events other than outcomes (connected, token fetched, warnings), oldest first.
    pub notices: Vec<Event>,
}

impl<C: Connector, K: Clock> core::fmt::Debug for Session<C, K> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Session")
            .field("client", &self.client)
            .field("connections", &self.connections)
            .finish_non_exhaustive()
    }
}

/// Turns of the loop (connections opened, drives) with no outcome after which a call gives
/// up: the client's own `max_attempts` and timeouts normally end every request first.
pub(crate) const MAX_TURNS_WITHOUT_OUTCOME: usize = 64;

/// Requests handed to the client at a time by [`Session::request_each`]: enough that the
/// next request goes out as soon as the previous one is answered, few enough that memory
/// does not grow with the number of requests.
pub(crate) const WINDOW: usize = 16;

/// How long [`Session::connect`] waits after a TLS 1.3 handshake for the server to accept or
/// refuse the client certificate (most servers send session tickets at once; a silent one
/// costs this wait).
pub const VERDICT_WAIT: Duration = Duration::from_secs(2);

impl<C: Connector, K: Clock> Session<C, K>
where
    TransportError<C>: core::fmt::Display,
{
    /// A session; nothing is connected before the first request.
    pub fn new(config: ClientConfig, connector: C, clock: K) -> Session<C, K> {
        Session {
            client: Client::new(config),
            connector,
            clock,
            transport: None,
            connections: 0,
            notices: Vec::new(),
        }
    }

    /// The sans-IO client inside.
    #[cfg_attr(not(feature = "std"), allow(dead_code))]
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// Hands back a response the caller is done with: the next response reuses its
    /// buffers (see [`Client::recycle_response`]). Optional.
    pub fn recycle_response(&mut self, response: Response) {
        self.client.recycle_response(response);
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

    /// [`Session::set_identity`] with the identity of a pool's `template`.
    #[cfg(feature = "std")]
    pub(crate) fn adopt_identity_of(&mut self, template: &ClientConfig) {
        self.client.adopt_identity_of(template);
        self.client.discard_connection();
        self.transport = None;
    }

    /// Opens the connection now, when none is open, and completes its TLS handshake without
    /// a token or a request: to warm a connection up before the first call, or to see what
    /// the server asks of the client certificate (`mtls check --connect`). The connection
    /// stays open for the next request.
    ///
    /// # Errors
    /// Why the connection could not be opened or its handshake failed (a refused or
    /// unverifiable certificate, a timeout), as a request would have failed: not sent. With
    /// TLS 1.3 it also waits up to [`VERDICT_WAIT`] for the server's refusal of the client
    /// certificate, which comes after the client's side of the handshake is done.
    pub fn connect(&mut self) -> Result<HandshakeSummary, RequestError> {
        if let Some(transport) = self.transport.as_mut() {
            if self.connector.is_stale(transport) || !self.client.is_connected() {
                self.client.discard_connection();
                self.transport = None;
            }
        }
        if self.transport.is_none() {
            let config = self.client.config();
            let transport = self
                .connector
                .connect(config.host(), config.port())
                .map_err(|e| not_sent(Error::Transport, Some(detail(&e))))?;
            let wall_clock = self.connector.wall_clock();
            self.client
                .open_connection(self.clock.now(), wall_clock)
                .map_err(|e| not_sent(e, None))?;
            self.transport = Some(transport);
            self.connections += 1;
        }
        let mut closed = None;
        if let Some(transport) = self.transport.as_mut() {
            let connector = &mut self.connector;
            let notices = &mut self.notices;
            let status = drive(
                &mut self.client,
                transport,
                &self.clock,
                100_000,
                &mut |t, left| connector.bound_read(t, left),
                &mut |event| match event {
                    Event::ConnectionClosed { error } => closed = error,
                    other => {
                        crate::io::trace::event(&other);
                        notices.push(other)
                    }
                },
            );
            if let Err(e) = status {
                self.client.transport_failed();
                self.transport = None;
                return Err(not_sent(Error::Transport, Some(detail(&e))));
            }
        }
        if !self.client.is_connected() {
            self.transport = None;
        }
        let summary = self
            .client
            .handshake_summary()
            .ok_or_else(|| not_sent(closed.take().unwrap_or(Error::ConnectionClosed), None))?;
        if summary.version == crate::tls::TlsVersion::Tls13 && summary.client_cert_requested {
            self.await_verdict(&mut closed)?;
        }
        Ok(summary)
    }

    /// In TLS 1.3 the client's handshake ends before the server has judged its certificate:
    /// waits, up to [`VERDICT_WAIT`], for the server's first word after the handshake, its
    /// session tickets or its refusal (an alert).
    fn await_verdict(&mut self, closed: &mut Option<Error>) -> Result<(), RequestError> {
        use embedded_io::{Error as _, Read as _};
        let Some(transport) = self.transport.as_mut() else {
            return Ok(());
        };
        let deadline = self.clock.now() + VERDICT_WAIT;
        let mut buf = [0u8; crate::io::CHUNK];
        let mut failure = None;
        while failure.is_none() && closed.is_none() {
            let left = deadline.saturating_duration_since(self.clock.now());
            if left.is_zero() {
                break;
            }
            self.connector.bound_read(transport, Some(left));
            match transport.read(&mut buf) {
                Ok(0) => self.client.handle_eof(self.clock.now()),
                Ok(n) => {
                    // Tickets or an alert fit the client's buffers; what does not is ignored.
                    let _ = self.client.handle_input(&buf[..n], self.clock.now());
                }
                Err(e) if e.kind() == embedded_io::ErrorKind::TimedOut => break,
                Err(e) => failure = Some(detail(&e)),
            }
            while let Some(event) = self.client.poll_event() {
                match event {
                    Event::ConnectionClosed { error } => {
                        *closed = Some(error.unwrap_or(Error::ConnectionClosed));
                    }
                    other => self.notices.push(other),
                }
            }
            if self.client.is_connected() && failure.is_none() {
                // The server spoke and kept the connection: it took the certificate.
                break;
            }
        }
        if let Some(transport) = failure {
            self.client.transport_failed();
            self.transport = None;
            return Err(not_sent(Error::Transport, Some(transport)));
        }
        if let Some(error) = closed.take() {
            self.transport = None;
            return Err(not_sent(error, None));
        }
        Ok(())
    }

    /// The connector, to change its settings.
    pub fn connector_mut(&mut self) -> &mut C {
        &mut self.connector
    }

    /// How many transports were opened so far.
    pub fn connections(&self) -> u32 {
        self.connections
    }

    /// Sends one request and waits for its outcome.
    pub fn request(&mut self, request: ApiRequest) -> Outcome {
        let mut outcome = None;
        self.request_each([request], |_, o| outcome = Some(o));
        outcome.unwrap_or_else(|| Err(gave_up(None)))
    }

    /// Sends the requests in order and returns all their outcomes at once. Prefer
    /// [`Session::request_each`] for many requests: this holds every response.
    pub fn request_all(&mut self, requests: Vec<ApiRequest>) -> Vec<Outcome> {
        let mut outcomes = Vec::with_capacity(requests.len());
        self.request_each(requests, |_, outcome| outcomes.push(outcome));
        outcomes
    }

    /// Sends the requests in order (on one connection while the server keeps it open) and
    /// hands each outcome to `on_outcome`, with the request's index, as soon as it is known.
    /// Outcomes come in request order and every request gets exactly one.
    ///
    /// Memory stays bounded however many requests there are: they are taken from the
    /// iterator a few at a time, and each response is handed on, not kept. When a request
    /// fails, not sent, for a reason that ends every queued request (the token exchange, the
    /// identity, a refused certificate, an unreachable server), the requests not yet taken
    /// end with the same failure without contacting the server again.
    pub fn request_each(
        &mut self,
        requests: impl IntoIterator<Item = ApiRequest>,
        on_outcome: impl FnMut(usize, Outcome),
    ) {
        let _span = crate::io::trace::span(self.client.config().host()).entered();
        self.sync_store(true);
        self.request_each_inner(requests, on_outcome);
        self.sync_store(false);
    }

    /// Brings the token cache and its store in step, when the cache has one (see
    /// [`TokenCache::with_store`](crate::auth::TokenCache::with_store)).
    fn sync_store(&mut self, start: bool) {
        let cache = &self.client.config().token_cache;
        if let Some(link) = cache.store_link() {
            let mut found = Vec::new();
            link.sync(
                cache,
                self.clock.now(),
                self.connector.wall_time(),
                start,
                &mut found,
            );
            found.iter().for_each(crate::io::trace::store);
            store_notices(found, &mut self.notices);
        }
    }

    fn request_each_inner(
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
                        Err(RequestError::Failed {
                            failure: failure.clone(),
                            transport: batch.transport.clone(),
                        }),
                    ),
                    None => {
                        let id = self.client.send(request, self.clock.now());
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
                self.open_transport(&mut batch);
                continue;
            }
            let Some(transport) = self.transport.as_mut() else {
                break;
            };
            let connector = &mut self.connector;
            let notices = &mut self.notices;
            // A clone of the handle (one `Arc`): the client is lent to `drive`.
            let cache = self.client.config().token_cache.clone();
            let clock = &self.clock;
            let mut found = Vec::new();
            let status = drive(
                &mut self.client,
                transport,
                clock,
                100_000,
                &mut |t, left| {
                    // Between reads: while a request waits for a token another process is
                    // fetching, this is where it arrives from the store.
                    if let Some(link) = cache.store_link() {
                        let from = found.len();
                        link.sync(&cache, clock.now(), connector.wall_time(), true, &mut found);
                        found[from..].iter().for_each(crate::io::trace::store);
                    }
                    connector.bound_read(t, left)
                },
                &mut |event| batch.sort(event, notices, &mut on_outcome),
            );
            store_notices(found, notices);
            idle_turns = 0;
            if !self.client.is_connected() {
                self.transport = None;
            }
            if let Err(e) = status {
                // The transport broke under us: the client decides each request's fate as
                // for an end of stream (retried when safe).
                self.transport = None;
                batch.transport = Some(detail(&e));
                self.client.handle_eof(self.clock.now());
            }
        }
        // Every request ends in exactly one outcome; should the loop bound be hit first,
        // say so rather than panic. (The client still holds these; a later call drains
        // their events into the notices.)
        for (_, index) in batch.in_client.iter() {
            on_outcome(*index, Err(gave_up(batch.transport.clone())));
        }
        batch.in_client.clear();
        for (index, _) in requests {
            on_outcome(index, Err(gave_up(batch.transport.clone())));
        }
    }

    /// Opens a transport for the client, or tells it the transport could not be opened.
    fn open_transport(&mut self, batch: &mut Batch) {
        let config = self.client.config();
        crate::io::trace::connecting(config.host(), config.port(), self.connections + 1);
        match self.connector.connect(config.host(), config.port()) {
            Ok(transport) => {
                let wall_clock = self.connector.wall_clock();
                // On error the client has already ended every queued request.
                if self
                    .client
                    .open_connection(self.clock.now(), wall_clock)
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

/// The store's findings the host should hear of, as notices (they are traced where found).
pub(crate) fn store_notices(found: Vec<StoreNotice>, notices: &mut Vec<Event>) {
    for notice in found {
        if let StoreNotice::Unavailable(e) = notice {
            notices.push(Event::Warning(Warning::TokenStoreUnavailable(e)));
        }
    }
}

pub(crate) fn detail<E: embedded_io::Error + core::fmt::Display>(e: &E) -> TransportDetail {
    TransportDetail {
        kind: e.kind(),
        message: alloc::format!("{e}"),
    }
}

/// A failure before anything was sent.
fn not_sent(error: Error, transport: Option<TransportDetail>) -> RequestError {
    RequestError::Failed {
        failure: Failure {
            kind: FailureKind::NotSent,
            error,
        },
        transport,
    }
}

pub(crate) fn gave_up(transport: Option<TransportDetail>) -> RequestError {
    RequestError::Failed {
        failure: Failure {
            kind: FailureKind::OutcomeUnknown,
            error: Error::Timeout,
        },
        transport,
    }
}

/// The requests of one `request_each` call that the client holds, by id.
pub(crate) struct Batch {
    /// The requests handed to the client and not yet answered (on the stack: a warm request
    /// allocates nothing here).
    pub(crate) in_client: heapless::Vec<(RequestId, usize), WINDOW>,
    /// The last transport failure seen in this call.
    pub(crate) transport: Option<TransportDetail>,
    /// A failure that ends every request not yet handed to the client.
    pub(crate) stop: Option<Failure>,
}

impl Batch {
    /// An outcome of this batch goes to `on_outcome`, everything else to `notices`.
    pub(crate) fn sort(
        &mut self,
        event: Event,
        notices: &mut Vec<Event>,
        on_outcome: &mut impl FnMut(usize, Outcome),
    ) {
        match &event {
            Event::TokenRejected(id) => {
                let index = self.in_client.iter().find(|(rid, _)| rid == id);
                crate::io::trace::token_rejected(index.map(|(_, i)| *i));
            }
            other => crate::io::trace::event(other),
        }
        let (id, outcome) = match event {
            Event::Response(id, response) => (id, Ok(response)),
            Event::Failed(id, failure) => {
                if ends_the_queue(&failure) {
                    self.stop = Some(failure.clone());
                }
                (
                    id,
                    Err(RequestError::Failed {
                        failure,
                        transport: self.transport.clone(),
                    }),
                )
            }
            Event::ScaRequired {
                id,
                redirect_url,
                response,
            } => (
                id,
                Err(RequestError::ScaRequired {
                    redirect_url,
                    response: Box::new(response),
                }),
            ),
            other => return notices.push(other),
        };
        let position = self.in_client.iter().position(|(rid, _)| *rid == id);
        // INVARIANT: the session sends every request itself and waits for their outcomes
        // before it returns, so an outcome always belongs to the current call.
        debug_assert!(position.is_some(), "an outcome from outside the call");
        if let Some(position) = position {
            let (_, index) = self.in_client.remove(position);
            on_outcome(index, outcome);
        }
    }
}

/// Whether the client ended this request, not sent, for a reason that ends every queued
/// request: everything but the request's own faults (too large, a header it may not carry).
fn ends_the_queue(failure: &Failure) -> bool {
    failure.kind == FailureKind::NotSent
        && !matches!(
            failure.error,
            Error::RequestTooLarge | Error::Http(crate::http::HttpError::Local(_))
        )
}
