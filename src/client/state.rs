//! The connection state machine: one enum ([`Conn`]) whose variants own what each state
//! needs, and one transition function ([`Client::transition`]) that is the only place the
//! state changes (h11's "Rule 1"). [`TRANSITIONS`] lists every transition it may take; the
//! state diagram in the docs is generated from that table, and debug builds check every
//! transition taken against it.
//!
//! Host inputs do not change the state directly: they feed bytes, end of stream or time to
//! the connection, and [`Client::settle`] turns what that produced into [`Trigger`]s, one at
//! a time, until nothing is left to do.

use alloc::string::String;
use core::time::Duration;

use super::exchange;
use super::request::Pending;
use super::{Client, ConnectionState, Event, Failure, FailureKind, Warning};
use crate::auth::{
    parse_token_response, Acquire, AuthDecision, AuthError, CachedToken, FetchTicket, Generation,
};
use crate::error::Error;
use crate::http::{self, Response, ResponseDecoder};
use crate::presets::refuses_client_certificate;
use crate::time::Instant;
use crate::tls::{TlsConnection, TlsError, TlsEvent, TlsVersion};

/// How often a client waiting for another connection's token fetch looks again: the cache
/// cannot wake it.
const TOKEN_WAIT_POLL: Duration = Duration::from_millis(10);

/// Work bound for one [`Client::settle`]: each turn takes one transition, and a request
/// needs a handful; more than this in one input means a bug, not a busy connection.
const MAX_TRIGGERS_PER_INPUT: usize = 1024;

/// One transport's TLS session and HTTP framing, on the heap: the state machine moves it
/// from state to state, and moving a pointer instead of the whole (over 1 KiB) keeps the
/// transition's stack frame small (measured on a Cortex-M in benches/qemu-live).
pub(super) struct Link(alloc::boxed::Box<LinkParts>);

impl core::ops::Deref for Link {
    type Target = LinkParts;
    fn deref(&self) -> &LinkParts {
        &self.0
    }
}

impl core::ops::DerefMut for Link {
    fn deref_mut(&mut self) -> &mut LinkParts {
        &mut self.0
    }
}

/// What a [`Link`] holds.
pub(super) struct LinkParts {
    pub(super) tls: TlsConnection,
    pub(super) decoder: ResponseDecoder,
    /// Ciphertext bytes the host has taken through `poll_transmit`.
    pub(super) tx_taken: u64,
    /// The server's close_notify arrived.
    peer_closed: bool,
    /// The decoder was told the stream ended (after the close_notify, once all was fed).
    eof_given: bool,
    /// Bytes arrived that answer nothing we asked: the connection cannot be trusted.
    unsolicited: bool,
}

impl Link {
    /// Feeds `data` to the TLS connection; while a response is awaited, each record's
    /// plaintext goes straight to the decoder, as much of it as the decoder has room for
    /// (the rest waits in the TLS plaintext buffer, as all of it did before). Returns what
    /// `TlsConnection::handle_input` returns.
    pub(super) fn handle_input(
        &mut self,
        data: &[u8],
        awaits_response: bool,
    ) -> Result<usize, TlsError> {
        let LinkParts { tls, decoder, .. } = &mut **self;
        if !awaits_response {
            return tls.handle_input(data);
        }
        let mut to_decoder = |plaintext: &[u8]| {
            let n = decoder.room().min(plaintext.len());
            // Refused (an error the decoder keeps): nothing taken, and `next_trigger`
            // reports the error when it feeds the same bytes.
            match decoder.feed(&plaintext[..n]) {
                Ok(()) => n,
                Err(_) => 0,
            }
        };
        tls.handle_input_into(data, Some(&mut to_decoder))
    }

    pub(super) fn new(tls: TlsConnection, decoder: ResponseDecoder) -> Link {
        Link(alloc::boxed::Box::new(LinkParts {
            tls,
            decoder,
            tx_taken: 0,
            peer_closed: false,
            eof_given: false,
            unsolicited: false,
        }))
    }
}

/// The connection's state, with the data each state owns.
pub(super) enum Conn {
    /// No transport.
    Disconnected,
    /// The TLS handshake is running.
    Handshaking { link: Link, deadline: Instant },
    /// Open and free: the next queued request may go.
    Ready { link: Link },
    /// Open; another connection sharing the token cache is fetching the token.
    WaitingForToken { link: Link, until: Instant },
    /// The token request is on the wire.
    FetchingToken {
        link: Link,
        ticket: FetchTicket,
        deadline: Instant,
    },
    /// An API request is on the wire.
    Requesting {
        link: Link,
        pending: Pending,
        /// The token it carried; `None` without one (certificate-only).
        generation: Option<Generation>,
        deadline: Instant,
        /// Ciphertext offset after which the request's bytes start: once the host has
        /// taken more than this, the request may have reached the server.
        tx_mark: u64,
    },
}

impl Conn {
    pub(super) fn name(&self) -> ConnectionState {
        match self {
            Conn::Disconnected => ConnectionState::Disconnected,
            Conn::Handshaking { .. } => ConnectionState::Handshaking,
            Conn::Ready { .. } => ConnectionState::Ready,
            Conn::WaitingForToken { .. } => ConnectionState::WaitingForToken,
            Conn::FetchingToken { .. } => ConnectionState::FetchingToken,
            Conn::Requesting { .. } => ConnectionState::Requesting,
        }
    }

    pub(super) fn link(&self) -> Option<&Link> {
        match self {
            Conn::Disconnected => None,
            Conn::Handshaking { link, .. }
            | Conn::Ready { link }
            | Conn::WaitingForToken { link, .. }
            | Conn::FetchingToken { link, .. }
            | Conn::Requesting { link, .. } => Some(link),
        }
    }

    pub(super) fn link_mut(&mut self) -> Option<&mut Link> {
        match self {
            Conn::Disconnected => None,
            Conn::Handshaking { link, .. }
            | Conn::Ready { link }
            | Conn::WaitingForToken { link, .. }
            | Conn::FetchingToken { link, .. }
            | Conn::Requesting { link, .. } => Some(link),
        }
    }

    /// When `handle_timeout` must be called: the state's deadline, if it has one.
    pub(super) fn deadline(&self) -> Option<Instant> {
        match self {
            Conn::Handshaking { deadline, .. }
            | Conn::FetchingToken { deadline, .. }
            | Conn::Requesting { deadline, .. } => Some(*deadline),
            Conn::WaitingForToken { until, .. } => Some(*until),
            Conn::Disconnected | Conn::Ready { .. } => None,
        }
    }

    pub(super) fn awaits_response(&self) -> bool {
        matches!(self, Conn::FetchingToken { .. } | Conn::Requesting { .. })
    }
}

/// What moves the machine, with its data.
// `Open` carries the new connection: a trigger lives for one call, boxing would only add an
// allocation per connection.
#[allow(clippy::large_enum_variant)]
pub(super) enum Trigger {
    /// The host opened a transport ([`Client::open_connection`]).
    Open { link: Link, deadline: Instant },
    /// The TLS handshake finished.
    HandshakeDone {
        version: TlsVersion,
        client_cert_requested: bool,
    },
    /// The connection is free and requests are queued.
    Start,
    /// The wait for another connection's token fetch is over; look again.
    WaitOver,
    /// A complete response to what is on the wire.
    Response(Response),
    /// The server's close_notify, with nothing outstanding.
    PeerClosed,
    /// The connection is unusable. `fatal` errors will not heal by reconnecting.
    Broke { error: Error, fatal: bool },
}

/// A trigger's name, for the transition table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cause {
    Open,
    HandshakeDone,
    Start,
    WaitOver,
    Response,
    PeerClosed,
    Broke,
}

impl Trigger {
    fn cause(&self) -> Cause {
        match self {
            Trigger::Open { .. } => Cause::Open,
            Trigger::HandshakeDone { .. } => Cause::HandshakeDone,
            Trigger::Start => Cause::Start,
            Trigger::WaitOver => Cause::WaitOver,
            Trigger::Response(_) => Cause::Response,
            Trigger::PeerClosed => Cause::PeerClosed,
            Trigger::Broke { .. } => Cause::Broke,
        }
    }
}

/// One row of the transition table.
pub(crate) struct Transition {
    pub(crate) from: ConnectionState,
    pub(crate) cause: Cause,
    pub(crate) to: ConnectionState,
    /// What happens, for the docs (rendered by the tests).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) note: &'static str,
}

const fn row(
    from: ConnectionState,
    cause: Cause,
    to: ConnectionState,
    note: &'static str,
) -> Transition {
    Transition {
        from,
        cause,
        to,
        note,
    }
}

use ConnectionState::{
    Disconnected as D, FetchingToken as F, Handshaking as H, Ready as R, Requesting as Q,
    WaitingForToken as W,
};

/// Every transition [`Client::transition`] may take. The docs' state diagram is generated
/// from this table (`cargo test --lib state_docs` checks it; `UPDATE_STATE_DOCS=1`
/// regenerates it).
pub(crate) const TRANSITIONS: &[Transition] = &[
    row(
        D,
        Cause::Open,
        H,
        "`open_connection`: the ClientHello is queued",
    ),
    row(
        D,
        Cause::Broke,
        D,
        "`transport_failed` with no connection: the queued requests end",
    ),
    row(
        H,
        Cause::HandshakeDone,
        R,
        "`Connected` (and a warning if no certificate was asked for)",
    ),
    row(
        H,
        Cause::Broke,
        D,
        "alert, end of stream, timeout, transport failure; counts toward `max_attempts`",
    ),
    row(
        R,
        Cause::Start,
        Q,
        "a valid token (or certificate-only): the API request goes out",
    ),
    row(
        R,
        Cause::Start,
        F,
        "no valid token: the token request goes out first, on this connection",
    ),
    row(
        R,
        Cause::Start,
        W,
        "another connection is fetching the token",
    ),
    row(
        R,
        Cause::Start,
        R,
        "the request was refused before sending (too large, reserved header)",
    ),
    row(
        R,
        Cause::PeerClosed,
        D,
        "close_notify while idle: answered with close_notify",
    ),
    row(
        R,
        Cause::Broke,
        D,
        "end of stream, unsolicited bytes, `discard_connection`",
    ),
    row(W, Cause::WaitOver, R, "look at the token cache again"),
    row(
        W,
        Cause::PeerClosed,
        D,
        "close_notify while waiting: answered with close_notify",
    ),
    row(
        W,
        Cause::Broke,
        D,
        "end of stream, unsolicited bytes, `discard_connection`",
    ),
    row(
        F,
        Cause::Response,
        R,
        "`TokenFetched` (or the token error ends the queue)",
    ),
    row(
        F,
        Cause::Response,
        D,
        "as above, and the server said `Connection: close`",
    ),
    row(
        F,
        Cause::Broke,
        D,
        "the fetch is abandoned; counts toward `max_attempts`",
    ),
    row(
        Q,
        Cause::Response,
        R,
        "`Response`, `ScaRequired`, or a `401` that is retried once",
    ),
    row(
        Q,
        Cause::Response,
        D,
        "as above, and the server said `Connection: close`",
    ),
    row(
        Q,
        Cause::Broke,
        D,
        "retried on a new connection when safe, else `Failed`",
    ),
];

impl Client {
    /// The only place the connection state changes.
    pub(super) fn transition(&mut self, trigger: Trigger, now: Instant) {
        let from = self.conn.name();
        let cause = trigger.cause();
        let conn = core::mem::replace(&mut self.conn, Conn::Disconnected);
        self.conn = match (conn, trigger) {
            (Conn::Disconnected, Trigger::Open { link, deadline }) => {
                Conn::Handshaking { link, deadline }
            }
            (
                Conn::Handshaking { link, .. },
                Trigger::HandshakeDone {
                    version,
                    client_cert_requested,
                },
            ) => {
                self.connect_failures = 0;
                self.events.push_back(Event::Connected {
                    version,
                    client_cert_requested,
                });
                if !client_cert_requested {
                    self.events
                        .push_back(Event::Warning(Warning::ClientCertificateNotRequested));
                }
                Conn::Ready { link }
            }
            (Conn::Ready { link }, Trigger::Start) => self.start_next(link, now),
            (Conn::WaitingForToken { link, .. }, Trigger::WaitOver) => Conn::Ready { link },
            (
                Conn::FetchingToken {
                    mut link, ticket, ..
                },
                Trigger::Response(response),
            ) => {
                let keep_alive = response.keep_alive;
                let cert_requested = link.tls.client_cert_requested();
                self.token_answered(ticket, response, cert_requested, now);
                // The token was in plaintext in the TLS and HTTP buffers too.
                link.tls.wipe_consumed();
                link.decoder.wipe_consumed();
                self.after_response(link, keep_alive)
            }
            (
                Conn::Requesting {
                    link,
                    pending,
                    generation,
                    ..
                },
                Trigger::Response(response),
            ) => {
                let keep_alive = response.keep_alive;
                self.api_answered(pending, generation, response);
                self.after_response(link, keep_alive)
            }
            (Conn::Ready { link } | Conn::WaitingForToken { link, .. }, Trigger::PeerClosed) => {
                self.close_orderly(link)
            }
            (conn, Trigger::Broke { error, fatal }) => self.broke(conn, error, fatal),
            (conn, _) => {
                // The driver only produces triggers that apply to the state; should one not,
                // nothing changes (and the table check below reports it in debug builds).
                conn
            }
        };
        let to = self.conn.name();
        debug_assert!(
            TRANSITIONS
                .iter()
                .any(|t| t.from == from && t.cause == cause && t.to == to),
            "transition {from:?} --{cause:?}--> {to:?} is not in the table"
        );
    }

    /// Runs the machine until it waits for input, output or time: looks at what the last
    /// input left on the connection and takes one transition per finding.
    pub(super) fn settle(&mut self, now: Instant) {
        for _ in 0..MAX_TRIGGERS_PER_INPUT {
            match self.next_trigger() {
                Some(trigger) => self.transition(trigger, now),
                None => return,
            }
        }
        debug_assert!(false, "settle did not settle");
    }

    /// What the connection has for the machine, in order: the handshake's end, complete
    /// responses (before any error that followed them: what arrived whole is delivered),
    /// the server's close, a failure, and finally work to start.
    fn next_trigger(&mut self) -> Option<Trigger> {
        let awaits_response = self.conn.awaits_response();
        let ready = matches!(self.conn, Conn::Ready { .. });
        let link = self.conn.link_mut()?;
        while let Some(event) = link.tls.poll_event() {
            match event {
                TlsEvent::HandshakeComplete {
                    version,
                    client_cert_requested,
                } => {
                    return Some(Trigger::HandshakeDone {
                        version,
                        client_cert_requested,
                    })
                }
                TlsEvent::PeerClosed => link.peer_closed = true,
            }
        }
        // Decrypted bytes go to the decoder; each pass consumes plaintext or returns.
        for _ in 0..MAX_TRIGGERS_PER_INPUT {
            if !link.tls.plaintext().is_empty() && !awaits_response {
                link.unsolicited = true;
                break;
            }
            if !link.tls.plaintext().is_empty() {
                // The decoder takes a slice whole or not at all, and may hold bytes it cannot
                // use before more arrive (a partial head): offer only what fits, or a full
                // plaintext buffer would be refused on every pass and the response never
                // complete.
                let room = link.decoder.room();
                // A full decoder is offered nothing: it may first use what it holds (the
                // input path fills it straight from the TLS records).
                if room > 0 {
                    let n = link.tls.plaintext().len().min(room);
                    let parts = &mut **link;
                    match parts.decoder.feed(&parts.tls.plaintext()[..n]) {
                        Ok(()) => {
                            // Consuming resumes decryption paused by a full plaintext
                            // buffer; an error found there is reported below, after what
                            // arrived whole.
                            let _ = link.tls.consume_plaintext(n);
                        }
                        Err(e) => return Some(broke(Error::Http(e))),
                    }
                }
            }
            let full = link.decoder.room() == 0;
            match link.decoder.poll_response() {
                Ok(Some(response)) => {
                    // No pipelining: bytes already here after a complete response answer
                    // nothing we asked.
                    link.unsolicited =
                        link.decoder.buffered() > 0 || !link.tls.plaintext().is_empty();
                    return Some(Trigger::Response(response));
                }
                Ok(None) if link.tls.plaintext().is_empty() => break,
                Ok(None) if full && link.decoder.room() == 0 => {
                    // Full, and still full after the decoder looked: a head (or chunk line)
                    // larger than `max_buffered`.
                    return Some(broke(Error::Http(http::HttpError::Local(
                        http::LocalError::BufferFull,
                    ))));
                }
                Ok(None) => continue,
                Err(e) => return Some(broke(Error::Http(e))),
            }
        }
        if link.peer_closed && !link.eof_given {
            // Only a clean end may complete a body delimited by the connection's end, and
            // only once every byte before it is in.
            link.eof_given = true;
            link.decoder.handle_eof();
            match link.decoder.poll_response() {
                Ok(Some(response)) => return Some(Trigger::Response(response)),
                Ok(None) => {}
                Err(e) => return Some(broke(Error::Http(e))),
            }
        }
        if let Some(e) = link.tls.error() {
            let fatal = !matches!(e, TlsError::Truncated { .. } | TlsError::BufferFull);
            return Some(Trigger::Broke {
                error: Error::Tls(e.clone()),
                fatal,
            });
        }
        if link.unsolicited {
            return Some(broke(Error::UnsolicitedData));
        }
        if link.peer_closed {
            return Some(if awaits_response {
                broke(Error::ConnectionClosed)
            } else {
                Trigger::PeerClosed
            });
        }
        let reusable = link.tls.is_open() && link.decoder.can_reuse();
        if ready && !reusable {
            return Some(broke(Error::ConnectionClosed));
        }
        (ready && !self.queue.is_empty()).then_some(Trigger::Start)
    }

    /// Sends the next queued request (or the token request it needs first).
    fn start_next(&mut self, mut link: Link, now: Instant) -> Conn {
        let token = match &self.config.auth {
            super::Auth::CertificateOnly => None,
            super::Auth::ClientCredentials(credentials) => {
                match self.config.token_cache.acquire(now) {
                    Acquire::Valid(token) => Some(token),
                    Acquire::Wait { until } => {
                        return Conn::WaitingForToken {
                            link,
                            until: until.min(now + TOKEN_WAIT_POLL),
                        };
                    }
                    Acquire::Fetch(ticket) => {
                        let scratch = &mut self.scratch;
                        let sent = exchange::token_request(&self.config, credentials, scratch)
                            .and_then(|context| exchange::transmit(&mut link, scratch, context));
                        return match sent {
                            Ok(_) => Conn::FetchingToken {
                                link,
                                ticket,
                                deadline: now + self.config.request_timeout,
                            },
                            Err(e) => {
                                drop(ticket); // abandons the fetch
                                self.fail_queue(&e);
                                Conn::Ready { link }
                            }
                        };
                    }
                }
            }
        };
        self.start_api_request(link, token, now)
    }

    /// Sends the next queued API request, with `token` as `Bearer` when there is one.
    fn start_api_request(
        &mut self,
        mut link: Link,
        token: Option<CachedToken>,
        now: Instant,
    ) -> Conn {
        let Some(mut pending) = self.queue.pop_front() else {
            return Conn::Ready { link };
        };
        pending.attempts = pending.attempts.saturating_add(1);
        let scratch = &mut self.scratch;
        let sent = exchange::api_request(&self.config, scratch, &pending.request, token.as_ref())
            .and_then(|context| exchange::transmit(&mut link, scratch, context));
        match sent {
            Ok(tx_mark) => Conn::Requesting {
                link,
                pending,
                generation: token.map(|t| t.generation()),
                deadline: now + self.config.request_timeout,
                tx_mark,
            },
            Err(e) => {
                self.finish(pending, e);
                Conn::Ready { link }
            }
        }
    }

    fn token_answered(
        &mut self,
        ticket: FetchTicket,
        mut response: Response,
        cert_requested: bool,
        now: Instant,
    ) {
        let status = response.status;
        let refused = !(200..=299).contains(&status) && refuses_client_certificate(&response);
        let parsed = if (refused || status == 403) && !cert_requested {
            // No certificate was sent: the server asked too late, or is no mTLS host.
            Err(AuthError::ClientCertificateNotRequested { status })
        } else if refused {
            Err(AuthError::ClientCertificateRefused { status })
        } else {
            parse_token_response(response.status, &response.body)
        };
        // The parsed token holds its own copy; the JSON that carried it goes.
        zeroize::Zeroize::zeroize(&mut response.body);
        let policy = self.config.token_cache.policy();
        let expires_in = parsed.as_ref().map(|t| policy.lifetime_of(t)).ok();
        match ticket.complete(parsed, now) {
            Ok(_) => {
                self.token_attempts = 0;
                if let Some(expires_in) = expires_in {
                    self.events.push_back(Event::TokenFetched { expires_in });
                }
            }
            Err(e) => self.fail_queue(&Error::Auth(e)),
        }
    }

    fn api_answered(
        &mut self,
        mut pending: Pending,
        generation: Option<Generation>,
        response: Response,
    ) {
        let www = response
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("WWW-Authenticate"))
            .map(|(_, v)| v.as_slice());
        let decision = self
            .config
            .retry_policy
            .decide(response.status, www, pending.auth_retried);
        let id = pending.id;
        match (decision, generation) {
            (AuthDecision::ScaRequired(challenge), _) => {
                let redirect_url = challenge.redirect_url.map(String::from);
                self.events.push_back(Event::ScaRequired {
                    id,
                    redirect_url,
                    response,
                });
            }
            (AuthDecision::InvalidateAndRetry, Some(generation)) => {
                self.config.token_cache.invalidate(generation);
                self.events.push_back(Event::TokenRejected(id));
                pending.auth_retried = true;
                self.queue.push_front(pending);
            }
            // No token to blame (certificate-only), or a plain answer: the answer is the answer.
            (AuthDecision::InvalidateAndRetry | AuthDecision::Deliver, _) => {
                self.events.push_back(Event::Response(id, response));
            }
        }
    }

    fn after_response(&mut self, link: Link, keep_alive: bool) -> Conn {
        if keep_alive {
            Conn::Ready { link }
        } else {
            self.close_orderly(link)
        }
    }

    /// Ends the connection with close_notify; the host writes it out, then closes.
    fn close_orderly(&mut self, mut link: Link) -> Conn {
        // Best effort: a failing close only means no close_notify.
        let _ = link.tls.close();
        self.end_link(link, None);
        Conn::Disconnected
    }

    /// The connection broke (or was replaced): decides the fate of what was on it.
    ///
    /// A request keeps "may have been sent" across reconnects: once its bytes were taken by
    /// a transport it is never reported as not sent. A request whose answer broke one of
    /// our HTTP limits ends with that error, never retried. `fatal` errors (a refused certificate
    /// on either side, an alert, no common version, a dead transport) end the whole queue.
    /// Handshake failures in a row count, and after `max_attempts` of them the queue ends.
    fn broke(&mut self, conn: Conn, error: Error, fatal: bool) -> Conn {
        let handshaking = matches!(conn, Conn::Handshaking { .. });
        // A server refusing our certificate refuses before it reads any request.
        let refused_certificate =
            matches!(&error, Error::Tls(e) if e.is_client_certificate_rejection());
        let link = match conn {
            Conn::Disconnected => None,
            Conn::Requesting {
                link,
                mut pending,
                tx_mark,
                ..
            } => {
                if link.tx_taken > tx_mark && !refused_certificate {
                    pending.maybe_sent = true;
                }
                let retry_safe = !pending.maybe_sent || pending.request.is_retry_safe();
                // An answer too large for our limits would be as large again.
                let over_limit = matches!(&error, Error::Http(e) if e.is_over_limit());
                if !fatal
                    && retry_safe
                    && !over_limit
                    && pending.attempts < self.config.max_attempts
                {
                    self.queue.push_front(pending);
                } else {
                    self.finish(pending, error.clone());
                }
                Some(link)
            }
            Conn::FetchingToken { link, ticket, .. } => {
                drop(ticket); // abandons the fetch so another connection may start one
                self.token_attempts = self.token_attempts.saturating_add(1);
                if self.token_attempts >= self.config.max_attempts {
                    self.token_attempts = 0;
                    self.fail_queue(&error);
                }
                Some(link)
            }
            Conn::Handshaking { link, .. }
            | Conn::Ready { link }
            | Conn::WaitingForToken { link, .. } => Some(link),
        };
        if handshaking {
            self.connect_failures = self.connect_failures.saturating_add(1);
            if self.connect_failures >= self.config.max_attempts {
                self.connect_failures = 0;
                self.fail_queue(&error);
            }
        }
        if fatal {
            self.fail_queue(&error);
        }
        if let Some(link) = link {
            self.end_link(link, Some(error));
        }
        Conn::Disconnected
    }

    /// Keeps what the connection still has to say (close_notify, an alert) for
    /// `poll_transmit`, and tells the host to close the transport.
    fn end_link(&mut self, link: Link, error: Option<Error>) {
        self.farewell.clear();
        self.farewell.extend_from_slice(link.tls.pending_transmit());
        self.events.push_back(Event::ConnectionClosed { error });
    }

    /// Ends one request without a response.
    pub(super) fn finish(&mut self, pending: Pending, error: Error) {
        let kind = if pending.maybe_sent {
            FailureKind::OutcomeUnknown
        } else {
            FailureKind::NotSent
        };
        self.events
            .push_back(Event::Failed(pending.id, Failure { kind, error }));
    }

    /// Ends every queued request with `error`.
    pub(super) fn fail_queue(&mut self, error: &Error) {
        while let Some(pending) = self.queue.pop_front() {
            self.finish(pending, error.clone());
        }
    }
}

fn broke(error: Error) -> Trigger {
    Trigger::Broke {
        error,
        fatal: false,
    }
}

/// The state table and diagram, as Markdown (`src/client/states.md`, included in the
/// [`Client`] docs).
#[cfg(test)]
pub(crate) fn render_state_docs() -> String {
    use core::fmt::Write;
    let mut out = String::new();
    out.push_str(
        "<!-- Generated from TRANSITIONS in src/client/state.rs by \
         `UPDATE_STATE_DOCS=1 cargo test --lib state_docs`; do not edit. -->\n\n",
    );
    out.push_str("| from | on | to | what happens |\n|---|---|---|---|\n");
    for t in TRANSITIONS {
        let _ = writeln!(
            out,
            "| `{:?}` | {} | `{:?}` | {} |",
            t.from,
            cause_text(t.cause),
            t.to,
            t.note
        );
    }
    out.push_str("\n```mermaid\nstateDiagram-v2\n    [*] --> Disconnected\n");
    for t in TRANSITIONS {
        let _ = writeln!(
            out,
            "    {:?} --> {:?}: {}",
            t.from,
            t.to,
            cause_text(t.cause)
        );
    }
    out.push_str("```\n");
    out
}

#[cfg(test)]
fn cause_text(cause: Cause) -> &'static str {
    match cause {
        Cause::Open => "open",
        Cause::HandshakeDone => "handshake done",
        Cause::Start => "request queued",
        Cause::WaitOver => "wait over",
        Cause::Response => "response",
        Cause::PeerClosed => "close_notify",
        Cause::Broke => "failure",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_docs_are_generated_from_the_table() {
        let rendered = render_state_docs();
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/client/states.md");
        if std::env::var_os("UPDATE_STATE_DOCS").is_some() {
            std::fs::write(path, &rendered).unwrap();
        }
        let on_disk = std::fs::read_to_string(path).unwrap_or_default();
        assert_eq!(
            on_disk, rendered,
            "src/client/states.md is stale: run `UPDATE_STATE_DOCS=1 cargo test --lib state_docs`"
        );
    }

    #[test]
    fn every_state_is_reachable_and_every_connected_state_can_fail() {
        use ConnectionState::*;
        for state in [
            Handshaking,
            Ready,
            WaitingForToken,
            FetchingToken,
            Requesting,
        ] {
            assert!(
                TRANSITIONS.iter().any(|t| t.to == state),
                "{state:?} is never entered"
            );
            assert!(
                TRANSITIONS
                    .iter()
                    .any(|t| t.from == state && t.cause == Cause::Broke && t.to == Disconnected),
                "{state:?} cannot fail"
            );
        }
    }
}
