//! The client state machine: identity + TLS + HTTP + token exchange, driven by the host with
//! bytes and time values. No I/O, no clock.
//!
//! # Method kinds
//! - **Inputs** mutate: [`Client::send`], [`Client::open_connection`],
//!   [`Client::handle_input`], [`Client::handle_eof`], [`Client::handle_timeout`].
//! - **Outputs** drain, and MUST be drained after every input, in any order:
//!   [`Client::poll_transmit`] (bytes to write), [`Client::poll_event`] (outcomes),
//!   [`Client::poll_timeout`] (when to call `handle_timeout`).
//! - **Queries** say what the transport should do: [`Client::wants_connection`] (open a
//!   transport and call `open_connection`), [`Client::is_connected`] (when false, close the
//!   transport you hold).
//!
//! # Outcomes
//! Every request id returned by [`Client::send`] ends in exactly one of
//! [`Event::Response`], [`Event::ScaRequired`] or [`Event::Failed`]. A failure says whether the
//! request was [`FailureKind::NotSent`] (safe to retry) or [`FailureKind::OutcomeUnknown`] (it
//! may have reached the server). Requests are retried on a new connection automatically only
//! when that is safe: not yet sent, or idempotent (GET, HEAD, PUT, DELETE, OPTIONS, or any
//! request carrying an `Idempotency-Key`).
//!
//! # Connections
//! One request is on the wire at a time (no pipelining). A connection is reused until the
//! server says `Connection: close`, sends close_notify, sends bytes nobody asked for, or
//! breaks; then [`Client::wants_connection`] asks for a new one. A handshake and each
//! request get [`ClientConfig::request_timeout`]; after `max_attempts` connections in a
//! row fail before their handshake completes, the queued requests fail. A transport that
//! ends without close_notify is a truncation: a body delimited by the end of the connection
//! is then never delivered.
//!
//! # Tokens
//! Before the first API request on a connection, the client takes a token from the shared
//! [`SharedTokenCache`]; when there is none (or it is due for refresh) it sends the token
//! request on the same connection first. A `401` invalidates the token and the request is
//! retried once; Mangopay's `401 PendingUserAction` is not a token problem and becomes
//! [`Event::ScaRequired`] with the token kept.

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::time::Duration;

use crate::auth::{
    parse_token_response, Acquire, AuthDecision, CachedToken, Credentials, FetchTicket, Generation,
    IdempotencyKey, RetryPolicy, SharedTokenCache, TokenRequest, IDEMPOTENCY_KEY_HEADER,
};
use crate::error::Error;
use crate::http::{self, Limits, Request, Response, ResponseDecoder};
use crate::identity::{Identity, IdentityWarning};
use crate::presets::{check_base_url, BaseUrlWarning};
use crate::time::{Instant, UnixTime};
use crate::tls::{TlsConfig, TlsConnection, TlsEvent, TlsLimits, TlsVersion, Trust};

mod base_url;
mod request;

/// How often a client waiting for another connection's token fetch looks again.
pub const TOKEN_WAIT_POLL: Duration = Duration::from_millis(10);

pub use base_url::{BaseUrl, BaseUrlError, MAX_BASE_URL_LEN};
pub use request::{ApiRequest, RequestId};

/// How API requests are authorised on top of the client certificate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AuthMode {
    /// OAuth2 client credentials: a Bearer token from the token endpoint (Mangopay).
    #[default]
    ClientCredentials,
    /// The client certificate alone; no token, no `Authorization` header (Mastercard's
    /// mTLS-only APIs). The credentials are not used.
    CertificateOnly,
}

/// Everything a [`Client`] needs; build with [`ClientConfig::new`], adjust the public fields.
#[derive(Debug)]
pub struct ClientConfig {
    host: String,
    port: u16,
    path_prefix: String,
    credentials: Credentials,
    tls: TlsConfig,
    warnings: Vec<Warning>,
    /// How requests are authorised (default: OAuth2 client credentials).
    pub auth: AuthMode,
    /// Path of the token endpoint under the base URL's path (default `/v2.01/oauth/token`).
    pub token_path: String,
    /// TLS buffer bounds.
    pub tls_limits: TlsLimits,
    /// HTTP response limits.
    pub http_limits: Limits,
    /// How long a request may wait for its complete response once sent (default 30 s).
    pub request_timeout: Duration,
    /// How many connections a request may try when a retry is safe (default 3).
    pub max_attempts: u8,
    /// The token cache; share one between clients (connections) to fetch one token for all.
    pub token_cache: SharedTokenCache,
    /// What to do on `401`.
    pub retry_policy: RetryPolicy,
}

impl ClientConfig {
    /// Validates everything before any traffic: the base URL (an https URL; a Mangopay host
    /// without `api-mtls` gives a [`Warning`]), the identity against the wall-clock time
    /// `now` (expired or not-yet-valid is an error; expiring soon and a leaf without
    /// `clientAuth` are warnings), and builds the TLS configuration.
    pub fn new(
        base_url: &str,
        credentials: Credentials,
        identity: &Identity,
        trust: Trust,
        now: UnixTime,
    ) -> Result<ClientConfig, Error> {
        let report = identity.check(now)?;
        let mut config =
            ClientConfig::with_tls(base_url, credentials, TlsConfig::new(identity, trust, now)?)?;
        config
            .warnings
            .extend(report.warnings.into_iter().map(Warning::Identity));
        Ok(config)
    }

    /// Like [`ClientConfig::new`] with a prepared [`TlsConfig`] (no identity check here).
    pub fn with_tls(
        base_url: &str,
        credentials: Credentials,
        tls: TlsConfig,
    ) -> Result<ClientConfig, Error> {
        let url = BaseUrl::parse(base_url)?;
        let mut warnings = Vec::new();
        if let Some(w) = check_base_url(&url) {
            warnings.push(Warning::BaseUrl(w));
        }
        Ok(ClientConfig {
            host: url.host().to_string(),
            port: url.port_or_default(),
            path_prefix: url.path_prefix().to_string(),
            credentials,
            tls,
            warnings,
            auth: AuthMode::default(),
            token_path: String::from(crate::auth::DEFAULT_TOKEN_PATH),
            tls_limits: TlsLimits::default(),
            http_limits: Limits::default(),
            request_timeout: Duration::from_secs(30),
            max_attempts: 3,
            token_cache: SharedTokenCache::default(),
            retry_policy: RetryPolicy::default(),
        })
    }

    /// The host to connect to (also the TLS server name).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port to connect to (443 unless the base URL says otherwise).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The TLS configuration (to move its wall clock with [`TlsConfig::set_time`]).
    pub fn tls(&self) -> &TlsConfig {
        &self.tls
    }
}

/// Something the host should know that does not stop the client.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// About the base URL (a Mangopay host without `api-mtls`).
    BaseUrl(BaseUrlWarning),
    /// About the client identity (expiring soon, no `clientAuth`).
    Identity(IdentityWarning),
    /// The server completed a handshake without asking for a client certificate: the mTLS
    /// factor was not used on that connection.
    ClientCertificateNotRequested,
}

impl core::fmt::Display for Warning {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Warning::BaseUrl(w) => write!(f, "{w}"),
            Warning::Identity(w) => write!(f, "{w}"),
            Warning::ClientCertificateNotRequested => f.write_str(
                "the server did not ask for the client certificate: the mTLS factor was not used",
            ),
        }
    }
}

/// Whether a failed request may be retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// The request never left the client: safe to retry.
    NotSent,
    /// The request may have reached the server; retry only if it is idempotent.
    OutcomeUnknown,
}

/// Why a request ended without a response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// Safe to retry or not.
    pub kind: FailureKind,
    /// What went wrong.
    pub error: Error,
}

/// An outcome or a notice; see the module docs for which events end a request.
#[derive(Debug)]
#[non_exhaustive]
#[must_use]
pub enum Event {
    /// A TLS handshake completed.
    Connected {
        /// Negotiated version.
        version: TlsVersion,
        /// False when the server did not ask for the client certificate.
        client_cert_requested: bool,
    },
    /// A new access token was obtained.
    TokenFetched {
        /// Its lifetime as the server gave it.
        expires_in: Duration,
    },
    /// A `401` invalidated the token; the request is being retried once with a new one.
    TokenRejected(RequestId),
    /// The response to a request.
    Response(RequestId, Response),
    /// Mangopay's `401 PendingUserAction`: the user must complete SCA at `redirect_url`.
    /// The token is kept.
    ScaRequired {
        /// The request.
        id: RequestId,
        /// Where to send the user, when the server gave it.
        redirect_url: Option<String>,
        /// The full response.
        response: Response,
    },
    /// The request ended without a response.
    Failed(RequestId, Failure),
    /// The connection is over; close the transport. `error` is `None` for an orderly close.
    ConnectionClosed {
        /// Why, when it was not orderly.
        error: Option<Error>,
    },
    /// See [`Warning`].
    Warning(Warning),
}

struct Queued {
    id: RequestId,
    request: ApiRequest,
    attempts: u8,
    auth_retried: bool,
}

enum InFlight {
    Token {
        ticket: FetchTicket,
        deadline: Instant,
    },
    Api {
        queued: Queued,
        /// The token it carried; `None` in [`AuthMode::CertificateOnly`].
        generation: Option<Generation>,
        deadline: Instant,
        /// Ciphertext offset after which the request's bytes start: once the host has taken
        /// more than this, the request may have reached the server.
        tx_mark: u64,
    },
}

struct Connection {
    tls: TlsConnection,
    decoder: ResponseDecoder,
    /// Total ciphertext bytes the host has taken.
    tx_taken: u64,
    /// An orderly close was started (close_notify queued).
    closing: bool,
    /// The server sent close_notify; its end of stream was given to the decoder.
    peer_closed: bool,
    /// When an unfinished handshake is given up.
    handshake_deadline: Instant,
}

/// The sans-IO mTLS API client. See the module docs for the driving contract.
pub struct Client {
    config: ClientConfig,
    conn: Option<Connection>,
    queue: VecDeque<Queued>,
    in_flight: Option<InFlight>,
    events: VecDeque<Event>,
    next_id: u64,
    wait_until: Option<Instant>,
    token_attempts: u8,
    /// Connections in a row that failed before their handshake completed.
    connect_failures: u8,
}

impl core::fmt::Debug for Client {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Client")
            .field("host", &self.config.host)
            .field("connected", &self.conn.is_some())
            .field("queued", &self.queue.len())
            .field("in_flight", &self.in_flight.is_some())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client with no connection yet. The configuration's warnings are the first events.
    pub fn new(config: ClientConfig) -> Client {
        let events = config
            .warnings
            .iter()
            .cloned()
            .map(Event::Warning)
            .collect();
        Client {
            config,
            conn: None,
            queue: VecDeque::new(),
            in_flight: None,
            events,
            next_id: 0,
            wait_until: None,
            token_attempts: 0,
            connect_failures: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Queues a request; it ends in exactly one outcome event carrying the returned id.
    pub fn send(&mut self, request: ApiRequest, now: Instant) -> RequestId {
        let id = RequestId(self.next_id);
        self.next_id += 1;
        self.queue.push_back(Queued {
            id,
            request,
            attempts: 0,
            auth_retried: false,
        });
        self.drive(now);
        id
    }

    /// True when requests are waiting and there is no connection: open a transport to
    /// [`ClientConfig::host`]:[`ClientConfig::port`] and call [`Client::open_connection`].
    pub fn wants_connection(&self) -> bool {
        self.conn.is_none() && (!self.queue.is_empty() || self.in_flight.is_some())
    }

    /// True while a connection is in use. When it turns false, close the transport.
    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// True when no request is queued or in flight.
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.in_flight.is_none()
    }

    /// Starts a TLS handshake on a fresh transport. Replaces any previous connection: a
    /// request in flight on it is decided as if that connection had broken.
    pub fn open_connection(&mut self, now: Instant) -> Result<(), Error> {
        if self.conn.is_some() || self.in_flight.is_some() {
            self.connection_failed(Error::ConnectionClosed, false);
        }
        match TlsConnection::new(&self.config.tls, &self.config.host, self.config.tls_limits) {
            Ok(tls) => {
                self.conn = Some(Connection {
                    tls,
                    decoder: ResponseDecoder::new(self.config.http_limits),
                    tx_taken: 0,
                    closing: false,
                    peer_closed: false,
                    handshake_deadline: now + self.config.request_timeout,
                });
                Ok(())
            }
            Err(e) => {
                self.fail_all(FailureKind::NotSent, &Error::Tls(e.clone()));
                Err(Error::Tls(e))
            }
        }
    }

    /// The host could not open or use its transport (DNS, connect, a write that failed):
    /// the request in flight ends as not sent or outcome unknown, every queued one as not
    /// sent, all with [`Error::Transport`]. No automatic retry.
    pub fn transport_failed(&mut self) {
        self.connection_failed(Error::Transport, true);
    }

    /// The host found its idle transport closed by the server (or otherwise unusable)
    /// before writing anything new to it: the connection is dropped, and a request whose
    /// bytes the host has not taken goes to a new connection as not sent.
    pub fn discard_connection(&mut self) {
        if self.conn.is_some() {
            self.connection_failed(Error::ConnectionClosed, false);
        }
    }

    /// Feeds bytes read from the transport. Returns how many were taken (all, unless the
    /// connection is backpressured or gone; offer the rest again after draining events).
    pub fn handle_input(&mut self, data: &[u8], now: Instant) -> usize {
        let Some(conn) = self.conn.as_mut() else {
            return 0;
        };
        let taken = match conn.tls.handle_input(data) {
            Ok(n) => n,
            Err(e) => {
                self.tls_failed(e);
                return data.len();
            }
        };
        self.drive(now);
        taken
    }

    /// The transport reached end of stream (the server closed it).
    pub fn handle_eof(&mut self, now: Instant) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let tls_end = conn.tls.handle_eof();
        // Plaintext already decrypted may still complete a response.
        self.pump_responses(now);
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        // Only a clean TLS end may end a body delimited by the connection closing: after a
        // truncation such a body is cut short, never complete.
        if tls_end.is_ok() {
            conn.decoder.handle_eof();
            self.pump_responses(now);
        }
        match (tls_end, self.in_flight.is_some()) {
            (Err(e), _) => self.tls_failed(e),
            (Ok(()), true) => self.connection_failed(Error::ConnectionClosed, false),
            (Ok(()), false) => self.drop_connection(None),
        }
        self.drive(now);
    }

    /// When [`Client::handle_timeout`] should be called next, if at all.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.request_deadline(),
            self.handshake_deadline(),
            self.wait_until,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn request_deadline(&self) -> Option<Instant> {
        match &self.in_flight {
            Some(InFlight::Token { deadline, .. } | InFlight::Api { deadline, .. }) => {
                Some(*deadline)
            }
            None => None,
        }
    }

    fn handshake_deadline(&self) -> Option<Instant> {
        self.conn
            .as_ref()
            .filter(|c| c.tls.is_handshaking())
            .map(|c| c.handshake_deadline)
    }

    /// Time has advanced to `now`: fails a request past its deadline (and drops the
    /// connection), and retries a token wait.
    pub fn handle_timeout(&mut self, now: Instant) {
        let expired = [self.request_deadline(), self.handshake_deadline()]
            .into_iter()
            .flatten()
            .any(|deadline| now >= deadline);
        if expired {
            self.connection_failed(Error::Timeout, false);
        }
        if self.wait_until.is_some_and(|t| now >= t) {
            self.wait_until = None;
        }
        self.drive(now);
    }

    /// Copies ciphertext to write into `buf`; returns the count (0 when there is none).
    pub fn poll_transmit(&mut self, buf: &mut [u8], now: Instant) -> usize {
        let Some(conn) = self.conn.as_mut() else {
            return 0;
        };
        let n = conn.tls.poll_transmit(buf);
        conn.tx_taken += n as u64;
        if n > 0 {
            self.drive(now);
        } else if conn.closing && self.in_flight.is_none() {
            // close_notify is out: the connection is over.
            self.drop_connection(None);
            self.drive(now);
        }
        n
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Runs the state machine until it waits for input, output or time.
    fn drive(&mut self, now: Instant) {
        // Each turn starts one request or stops; a request that fails at once still counts.
        for _ in 0..self.queue.len() + 2 {
            self.take_tls_events();
            self.pump_responses(now);
            self.after_peer_closed(now);
            if !self.start_next(now) {
                break;
            }
        }
    }

    /// After the server's close_notify: no new request goes out; the response in flight
    /// may end with the stream, else the connection is over.
    fn after_peer_closed(&mut self, now: Instant) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        if !conn.peer_closed || conn.closing {
            return;
        }
        conn.closing = true;
        conn.decoder.handle_eof();
        self.pump_responses(now);
        if self.in_flight.is_some() {
            self.connection_failed(Error::ConnectionClosed, false);
        } else if let Some(conn) = self.conn.as_mut() {
            // Answer with our own close_notify; the connection ends once it is sent.
            if conn.tls.close().is_err() {
                self.drop_connection(None);
            }
        }
    }

    fn take_tls_events(&mut self) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        while let Some(ev) = conn.tls.poll_event() {
            match ev {
                TlsEvent::HandshakeComplete {
                    version,
                    client_cert_requested,
                } => {
                    self.connect_failures = 0;
                    self.events.push_back(Event::Connected {
                        version,
                        client_cert_requested,
                    });
                    if !client_cert_requested {
                        self.events
                            .push_back(Event::Warning(Warning::ClientCertificateNotRequested));
                    }
                }
                TlsEvent::PeerClosed => conn.peer_closed = true,
            }
        }
    }

    /// Moves decrypted plaintext into the HTTP decoder and handles complete responses.
    fn pump_responses(&mut self, now: Instant) {
        for _ in 0..64 {
            let Some(conn) = self.conn.as_mut() else {
                return;
            };
            let plaintext = conn.tls.plaintext();
            if !plaintext.is_empty() {
                if self.in_flight.is_none() {
                    self.connection_failed(Error::UnsolicitedData, false);
                    return;
                }
                match conn.decoder.feed(plaintext) {
                    Ok(()) => {
                        let n = plaintext.len();
                        // Consuming resumes decryption paused by a full plaintext buffer.
                        if let Err(e) = conn.tls.consume_plaintext(n) {
                            self.tls_failed(e);
                            return;
                        }
                    }
                    // Full: the decoder drains below, then we feed again.
                    Err(http::HttpError::Local(http::LocalError::BufferFull)) => {}
                    Err(e) => {
                        self.connection_failed(Error::Http(e), false);
                        return;
                    }
                }
            }
            let response = match conn.decoder.poll_response() {
                Ok(Some(r)) => r,
                Ok(None) if conn.tls.plaintext().is_empty() => return,
                Ok(None) => continue,
                Err(e) => {
                    self.connection_failed(Error::Http(e), false);
                    return;
                }
            };
            if !response.keep_alive {
                conn.closing = true;
                // Best effort: a failing close only means no close_notify.
                let _ = conn.tls.close();
            }
            // No pipelining: bytes already here after a complete response answer nothing we
            // asked. Deliver the response (its framing was sound), then drop the connection.
            let unsolicited = conn.decoder.buffered() > 0 || !conn.tls.plaintext().is_empty();
            self.on_response(response, now);
            if unsolicited {
                self.connection_failed(Error::UnsolicitedData, false);
                return;
            }
        }
    }

    fn on_response(&mut self, response: Response, now: Instant) {
        match self.in_flight.take() {
            Some(InFlight::Token { ticket, .. }) => {
                let parsed = parse_token_response(response.status, &response.body);
                let expires_in = parsed.as_ref().map(|t| t.expires_in).ok();
                match ticket.complete(parsed, now) {
                    Ok(_) => {
                        self.token_attempts = 0;
                        if let Some(expires_in) = expires_in {
                            self.events.push_back(Event::TokenFetched { expires_in });
                        }
                    }
                    Err(e) => self.fail_all(FailureKind::NotSent, &Error::Auth(e)),
                }
            }
            Some(InFlight::Api {
                mut queued,
                generation,
                ..
            }) => {
                let www: Vec<&[u8]> = response
                    .headers
                    .iter()
                    .filter(|(n, _)| n.eq_ignore_ascii_case("WWW-Authenticate"))
                    .map(|(_, v)| v.as_slice())
                    .collect();
                let decision = self.config.retry_policy.decide(
                    response.status,
                    www.iter().copied(),
                    queued.auth_retried,
                );
                match decision {
                    AuthDecision::Deliver => {
                        self.events.push_back(Event::Response(queued.id, response));
                    }
                    AuthDecision::ScaRequired(challenge) => {
                        let redirect_url = challenge.redirect_url.map(String::from);
                        self.events.push_back(Event::ScaRequired {
                            id: queued.id,
                            redirect_url,
                            response,
                        });
                    }
                    AuthDecision::InvalidateAndRetry if generation.is_none() => {
                        // No token to blame: the answer is the answer.
                        self.events.push_back(Event::Response(queued.id, response));
                    }
                    AuthDecision::InvalidateAndRetry => {
                        if let Some(generation) = generation {
                            self.config.token_cache.invalidate(generation);
                        }
                        self.events.push_back(Event::TokenRejected(queued.id));
                        queued.auth_retried = true;
                        self.queue.push_front(queued);
                    }
                }
            }
            None => {}
        }
    }

    /// Starts the next request if the connection is free. Returns true if it did something.
    fn start_next(&mut self, now: Instant) -> bool {
        let Some(conn) = self.conn.as_mut() else {
            return false;
        };
        if self.in_flight.is_some()
            || self.queue.is_empty()
            || !conn.tls.is_open()
            || conn.closing
            || conn.peer_closed
            || !conn.decoder.can_reuse()
            || !conn.tls.pending_transmit().is_empty()
            || self.wait_until.is_some()
        {
            return false;
        }
        if self.config.auth == AuthMode::CertificateOnly {
            return self.start_api_request(None, now);
        }
        match self.config.token_cache.acquire(now) {
            Acquire::Wait { until } => {
                // Another connection is fetching; look again soon (we cannot be told).
                self.wait_until = Some(until.min(now + TOKEN_WAIT_POLL));
                false
            }
            Acquire::Fetch(ticket) => {
                let token_request = match TokenRequest::with_path(
                    &self.config.credentials,
                    &self.config.token_path,
                ) {
                    Ok(r) => r,
                    Err(e) => {
                        self.fail_all(FailureKind::NotSent, &Error::Auth(e));
                        return false;
                    }
                };
                let headers = token_request.headers();
                let values: Vec<(&str, &str)> = headers
                    .iter()
                    .filter_map(|h| {
                        core::str::from_utf8(h.expose_value())
                            .ok()
                            .map(|v| (h.name(), v))
                    })
                    .collect();
                let target = format!("{}{}", self.config.path_prefix, token_request.path());
                let host = host_header(&self.config.host, self.config.port);
                let request = Request::new(token_request.method(), &host, &target)
                    .headers(&values)
                    .body(token_request.body());
                match self.transmit(&request) {
                    Ok(_) => {
                        self.in_flight = Some(InFlight::Token {
                            ticket,
                            deadline: now + self.config.request_timeout,
                        });
                        true
                    }
                    Err(e) => {
                        drop(ticket);
                        self.fail_all(FailureKind::NotSent, &e);
                        self.drop_if_dead();
                        false
                    }
                }
            }
            Acquire::Valid(token) => self.start_api_request(Some(token), now),
        }
    }

    /// Sends the next queued API request, with `token` as `Bearer` when there is one.
    fn start_api_request(&mut self, token: Option<CachedToken>, now: Instant) -> bool {
        let Some(mut queued) = self.queue.pop_front() else {
            return false;
        };
        queued.attempts = queued.attempts.saturating_add(1);
        if let Some(index) = queued
            .request
            .headers
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case("Authorization"))
            .filter(|_| token.is_some())
        {
            // The client owns Authorization when it holds a token.
            self.events.push_back(Event::Failed(
                queued.id,
                Failure {
                    kind: FailureKind::NotSent,
                    error: Error::Http(http::HttpError::Local(http::LocalError::ReservedHeader {
                        index,
                    })),
                },
            ));
            return true;
        }
        let bearer = token.as_ref().map(CachedToken::bearer_header);
        let mut headers: Vec<(&str, &str)> = Vec::with_capacity(queued.request.headers.len() + 2);
        if let Some(bearer) = &bearer {
            headers.push(("Authorization", bearer.expose()));
        }
        if let Some(key) = &queued.request.idempotency_key {
            headers.push((IDEMPOTENCY_KEY_HEADER, key.as_str()));
        }
        for (n, v) in &queued.request.headers {
            headers.push((n.as_str(), v.as_str()));
        }
        let target = format!("{}{}", self.config.path_prefix, queued.request.path);
        let host = host_header(&self.config.host, self.config.port);
        let mut request = Request::new(&queued.request.method, &host, &target).headers(&headers);
        if let Some(body) = &queued.request.body {
            request = request.body(body);
        }
        match self.transmit(&request) {
            Ok(tx_mark) => {
                self.in_flight = Some(InFlight::Api {
                    queued,
                    generation: token.map(|t| t.generation()),
                    deadline: now + self.config.request_timeout,
                    tx_mark,
                });
            }
            Err(e) => {
                self.events.push_back(Event::Failed(
                    queued.id,
                    Failure {
                        kind: FailureKind::NotSent,
                        error: e,
                    },
                ));
                self.drop_if_dead();
            }
        }
        true
    }

    /// After a failed send: a TLS connection that died in the attempt is dropped (its
    /// queued requests go to a new one) rather than kept as a zombie.
    fn drop_if_dead(&mut self) {
        if let Some(e) = self.conn.as_ref().and_then(|c| c.tls.error().cloned()) {
            self.connection_failed(Error::Tls(e), false);
        }
    }

    /// Encodes and encrypts one request; returns the ciphertext offset where it starts.
    /// A request whose ciphertext could not fit the outgoing buffer is refused before any
    /// byte of it is queued.
    fn transmit(&mut self, request: &Request<'_>) -> Result<u64, Error> {
        let Some(conn) = self.conn.as_mut() else {
            return Err(Error::ConnectionClosed);
        };
        let limits = self.config.tls_limits;
        // The request carries credentials or a token: wiped when dropped.
        let mut bytes = zeroize::Zeroizing::new(Vec::new());
        request
            .encode_to_vec(&mut bytes, limits.max_plaintext_out)
            .map_err(|e| match e {
                http::LocalError::InsufficientSize(_) => Error::RequestTooLarge,
                other => Error::Http(http::HttpError::Local(other)),
            })?;
        if ciphertext_bound(bytes.len()) > limits.max_outgoing {
            return Err(Error::RequestTooLarge);
        }
        let mark = conn.tx_taken + conn.tls.pending_transmit().len() as u64;
        let queued = conn.tls.send_plaintext(&bytes)?;
        if queued < bytes.len() {
            return Err(Error::RequestTooLarge);
        }
        conn.decoder.expect_response(request.response_context())?;
        Ok(mark)
    }

    /// A TLS failure: fatal for the queue unless it is a truncation (the network, not the
    /// peer's judgement) or our own buffer limit.
    fn tls_failed(&mut self, e: crate::tls::TlsError) {
        use crate::tls::TlsError;
        let fatal = !matches!(e, TlsError::Truncated { .. } | TlsError::BufferFull);
        self.connection_failed(Error::Tls(e), fatal);
    }

    /// The connection broke (or is being replaced): decide the fate of the in-flight request
    /// and drop the connection.
    ///
    /// `fatal` errors (a refused certificate on either side, an alert, no common version, a
    /// dead transport) will not heal by reconnecting: nothing is retried and every queued
    /// request ends too. Failures before a handshake completes count, and after
    /// `max_attempts` of them in a row the queue ends as well.
    fn connection_failed(&mut self, error: Error, fatal: bool) {
        let handshaking = self.conn.as_ref().is_some_and(|c| c.tls.is_handshaking());
        let tx_taken = self.conn.as_ref().map_or(0, |c| c.tx_taken);
        // A server refusing our certificate refuses before it reads any request.
        let refused_certificate =
            matches!(&error, Error::Tls(e) if e.is_client_certificate_rejection());
        match self.in_flight.take() {
            Some(InFlight::Api {
                queued, tx_mark, ..
            }) => {
                let maybe_sent = tx_taken > tx_mark && !refused_certificate;
                let kind = if maybe_sent {
                    FailureKind::OutcomeUnknown
                } else {
                    FailureKind::NotSent
                };
                let retry_safe = !maybe_sent || queued.request.is_retry_safe();
                if !fatal && retry_safe && queued.attempts < self.config.max_attempts {
                    self.queue.push_front(queued);
                } else {
                    self.events.push_back(Event::Failed(
                        queued.id,
                        Failure {
                            kind,
                            error: error.clone(),
                        },
                    ));
                }
            }
            Some(InFlight::Token { ticket, .. }) => {
                drop(ticket); // abandons the fetch so another connection may start one
                self.token_attempts = self.token_attempts.saturating_add(1);
                if self.token_attempts >= self.config.max_attempts {
                    self.token_attempts = 0;
                    self.fail_all(FailureKind::NotSent, &error);
                }
            }
            None => {}
        }
        if handshaking {
            self.connect_failures = self.connect_failures.saturating_add(1);
            if self.connect_failures >= self.config.max_attempts {
                self.connect_failures = 0;
                self.fail_all(FailureKind::NotSent, &error);
            }
        }
        if fatal {
            self.fail_all(FailureKind::NotSent, &error);
        }
        self.drop_connection(Some(error));
    }

    fn drop_connection(&mut self, error: Option<Error>) {
        if self.conn.take().is_some() {
            self.events.push_back(Event::ConnectionClosed { error });
        }
    }

    /// Ends every queued request with `error`.
    fn fail_all(&mut self, kind: FailureKind, error: &Error) {
        while let Some(q) = self.queue.pop_front() {
            self.events.push_back(Event::Failed(
                q.id,
                Failure {
                    kind,
                    error: error.clone(),
                },
            ));
        }
    }
}

/// The most ciphertext `len` bytes of plaintext can become: per record of at most 16 KiB,
/// a 5-byte header plus at most 27 bytes of nonce, tag and content type (TLS 1.2 AES-GCM
/// needs 24, TLS 1.3 needs 17), rounded up to 32.
fn ciphertext_bound(len: usize) -> usize {
    len.saturating_add(len.div_ceil(16 * 1024).max(1).saturating_mul(32))
}

fn host_header(host: &str, port: u16) -> String {
    let bracketed = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        String::from(host)
    };
    if port == 443 {
        bracketed
    } else {
        format!("{bracketed}:{port}")
    }
}

/// Builds an idempotency key from 16 bytes of caller-supplied randomness.
pub fn idempotency_key(random: [u8; 16]) -> IdempotencyKey {
    IdempotencyKey::from_random(random)
}
