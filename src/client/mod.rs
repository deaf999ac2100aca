//! The client state machine: identity + TLS + HTTP + token exchange, driven by the host with
//! bytes and time values. No I/O, no clock.
//!
//! # Method kinds
//! A [`Client`] has three kinds of methods (as `quinn-proto`'s `Connection`):
//!
//! - **Inputs** change the state, and are the only methods that do:
//!   [`send`](Client::send), [`open_connection`](Client::open_connection),
//!   [`handle_input`](Client::handle_input), [`handle_eof`](Client::handle_eof),
//!   [`handle_timeout`](Client::handle_timeout), [`transport_failed`](Client::transport_failed)
//!   and [`discard_connection`](Client::discard_connection).
//! - **Outputs** hand out what inputs produced and change nothing else:
//!   [`poll_transmit`](Client::poll_transmit) (ciphertext to write),
//!   [`poll_event`](Client::poll_event) (outcomes and notices) and
//!   [`poll_timeout`](Client::poll_timeout) (when to call `handle_timeout`). They MAY be
//!   called in any order and interleaved: the bytes and events they return are the same.
//!   Bytes returned by `poll_transmit` count as taken by the transport: the host MUST write
//!   them all, or call `transport_failed`.
//! - [`recycle_response`](Client::recycle_response) hands a [`Response`](crate::http::Response)
//!   the caller is done with back to the client, whose next response reuses its buffers:
//!   optional, it changes no state (see "Allocations").
//! - **Queries** say what the host should do: [`wants_connection`](Client::wants_connection),
//!   [`is_connected`](Client::is_connected), [`is_idle`](Client::is_idle),
//!   [`state`](Client::state).
//!
//! # The host's loop
//! After every input the host MUST drain the outputs: write everything `poll_transmit`
//! returns, take every `poll_event`, and re-arm its timer from `poll_timeout` (`None`: no
//! timer). Then:
//! - when [`Client::wants_connection`], open a transport to [`ClientConfig::host`]:
//!   [`ClientConfig::port`] and call `open_connection` with the wall-clock time, or call
//!   `transport_failed` if it cannot be opened;
//! - when [`Client::is_connected`] turns false ([`Event::ConnectionClosed`]), write what
//!   `poll_transmit` still returns, then close the transport;
//! - bytes read go to `handle_input` (offer the rest again if it took fewer), end of stream
//!   to `handle_eof`, a failed read or write to `transport_failed`, and the timer to
//!   `handle_timeout`.
//!
//! # Outcomes
//! Every request id returned by [`Client::send`] ends in exactly one of
//! [`Event::Response`], [`Event::ScaRequired`] or [`Event::Failed`]. A failure says whether the
//! request was [`FailureKind::NotSent`] (no byte of it ever left, on any connection: safe to
//! retry) or [`FailureKind::OutcomeUnknown`] (it may have reached the server). Requests are
//! retried on a new connection automatically only when that is safe: not yet sent, or
//! idempotent (GET, HEAD, PUT, DELETE, OPTIONS, or any request carrying an
//! `Idempotency-Key`).
//!
//! # Connections
//! One request is on the wire at a time (no pipelining). A connection is reused until the
//! server says `Connection: close`, sends close_notify, sends bytes nobody asked for, or
//! breaks; then [`Client::wants_connection`] asks for a new one. A handshake and each
//! request get [`ClientConfig::request_timeout`]; after `max_attempts` handshakes in a row
//! fail, the queued requests fail. A transport that ends without close_notify is a
//! truncation: a body delimited by the end of the connection is then never delivered, but a
//! response that arrived whole before a failure (an alert, a truncation) is.
//!
//! # Wall-clock time
//! It is an input of [`Client::open_connection`]: each new connection verifies the server's
//! certificate against it, and checks the client certificate too: within
//! [`ClientConfig::expiry_warning_days`] of its expiry a [`Warning::Identity`] event says
//! how many days are left (once per day count), and once expired the connection is refused
//! with the date.
//!
//! # Allocations
//! On a warm connection (open, token cached, buffers grown to the traffic's size) a request
//! allocates nothing in the client, its HTTP framing or its TLS record layer when the caller
//! hands each [`Response`](crate::http::Response) back with
//! [`Client::recycle_response`]: the request is written through reused buffers, and the
//! response is decoded into the recycled one. A caller that keeps its responses gets a new
//! owned one each time (its header fields, body and reason). Building the
//! [`ApiRequest`] value is the caller's (`tests/http_alloc.rs` pins these counts).
//!
//! # Tokens
//! Before the first API request on a connection, the client takes a token from the shared
//! [`TokenCache`](crate::auth::TokenCache); when there is none (or it is due for
//! refresh) it sends the token request on the same connection first. A `401` invalidates the
//! token and the request is retried once; Mangopay's `401 PendingUserAction` is not a token
//! problem and becomes [`Event::ScaRequired`] with the token kept. While another connection
//! sharing the cache fetches the token, this one waits (and looks again every 10 ms).

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use crate::error::Error;
use crate::http::ResponseDecoder;
use crate::time::{Instant, UnixTime};
use crate::tls::TlsConnection;

pub(crate) mod base_url;
mod config;
mod event;
mod exchange;
mod request;
mod state;

pub use base_url::{BaseUrl, BaseUrlError};
pub use config::{Auth, ClientConfig};
pub use event::{Event, Failure, FailureKind, Warning};
pub use request::{ApiRequest, RequestId};

use request::Pending;
use state::{Conn, Link, Trigger};

/// The connection's state, as [`Client::state`] reports it.
///
/// The transitions between them:
#[doc = include_str!("states.md")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnectionState {
    /// No transport.
    Disconnected,
    /// The TLS handshake is running.
    Handshaking,
    /// Open and free for the next request.
    Ready,
    /// Open; another connection sharing the token cache is fetching the token.
    WaitingForToken,
    /// The token request is on the wire.
    FetchingToken,
    /// An API request is on the wire.
    Requesting,
}

/// The sans-IO mTLS API client. See the [module docs](self) for the driving contract.
///
/// A complete run loop over any blocking `embedded-io` transport, with an iteration cap
/// (the [`crate::io`] drivers are this loop, with reconnects):
///
/// ```
/// use embedded_io::{Read, Write};
/// use mtls_core::time::{Instant, UnixTime};
/// use mtls_core::{ApiRequest, Client};
/// use mtls_core::client::Event;
///
/// fn get_user<T: Read + Write>(
///     client: &mut Client,
///     transport: &mut T,
///     now: impl Fn() -> Instant,
///     wall_clock: UnixTime,
/// ) -> Result<u16, mtls_core::Error> {
///     let id = client.send(ApiRequest::get("/v2.01/my-client-id/users/1"), now());
///     assert!(client.wants_connection());
///     client.open_connection(now(), wall_clock)?; // the transport is already connected
///     let mut buf = [0u8; 4096];
///     for _ in 0..10_000 {
///         // Outputs: write every byte, take every event.
///         loop {
///             let n = client.poll_transmit(&mut buf);
///             if n == 0 {
///                 break;
///             }
///             if transport.write_all(&buf[..n]).is_err() {
///                 client.transport_failed();
///             }
///         }
///         while let Some(event) = client.poll_event() {
///             match event {
///                 Event::Response(rid, response) if rid == id => return Ok(response.status),
///                 Event::Failed(rid, failure) if rid == id => return Err(failure.error),
///                 _ => {} // notices: connected, token fetched, warnings
///             }
///         }
///         // Time: a real host bounds the read by `poll_timeout` instead.
///         if client.poll_timeout().is_some_and(|t| now() >= t) {
///             client.handle_timeout(now());
///             continue;
///         }
///         // Inputs: bytes, or the end of the stream.
///         match transport.read(&mut buf) {
///             Ok(0) => client.handle_eof(now()),
///             Ok(n) => {
///                 let mut offset = 0;
///                 while offset < n && client.is_connected() {
///                     offset += client.handle_input(&buf[offset..n], now());
///                 }
///             }
///             Err(_) => client.transport_failed(),
///         }
///     }
///     unreachable!("the request timeout ends every request well before 10,000 turns")
/// }
/// ```
pub struct Client {
    config: ClientConfig,
    conn: Conn,
    queue: VecDeque<Pending>,
    events: VecDeque<Event>,
    /// What an ended connection still had to send (close_notify, an alert).
    farewell: Vec<u8>,
    /// Buffers the requests are written through, kept between requests.
    scratch: exchange::Scratch,
    /// A response handed back by the caller, until a connection's decoder takes it.
    spare: Option<crate::http::Response>,
    next_id: u64,
    token_attempts: u8,
    /// Handshakes in a row that failed.
    connect_failures: u8,
    /// The days-left count the last expiry warning gave.
    warned_days_left: Option<i64>,
}

impl core::fmt::Debug for Client {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Client")
            .field("host", &self.config.host)
            .field("state", &self.conn.name())
            .field("queued", &self.queue.len())
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
            scratch: exchange::Scratch::new(&config),
            spare: None,
            config,
            conn: Conn::Disconnected,
            queue: VecDeque::new(),
            events,
            farewell: Vec::new(),
            next_id: 0,
            token_attempts: 0,
            connect_failures: 0,
            warned_days_left: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Input: rotates the client identity without a restart (see
    /// [`ClientConfig::set_identity`]). The connection open now, and a request on it, go on
    /// with the certificate it was opened with; the next connection presents the new one.
    /// Call [`Client::discard_connection`] when idle to switch at once. The token is kept.
    ///
    /// # Errors
    /// As [`ClientConfig::set_identity`]; nothing changes then.
    pub fn set_identity(&mut self, identity: &crate::identity::Identity) -> Result<(), Error> {
        self.config.set_identity(identity)?;
        // The expiry warning is about the new certificate from now on.
        self.warned_days_left = None;
        Ok(())
    }

    /// [`Client::set_identity`] with an identity already loaded into `template` (see
    /// [`ClientConfig::adopt_identity_of`]).
    #[cfg(feature = "std")]
    pub(crate) fn adopt_identity_of(&mut self, template: &ClientConfig) {
        self.config.adopt_identity_of(template);
        self.warned_days_left = None;
    }

    /// What the handshake of the open connection showed (version, whether the server asked
    /// for the client certificate and from which CAs, the server's chain); `None` before
    /// the handshake completes or without a connection. Allocates: call it to diagnose, not
    /// per request.
    pub fn handshake_summary(&self) -> Option<crate::tls::HandshakeSummary> {
        self.conn.link()?.tls.handshake_summary()
    }

    /// The connection's state.
    pub fn state(&self) -> ConnectionState {
        self.conn.name()
    }

    /// Input: queues a request; it ends in exactly one outcome event carrying the returned
    /// id. On an open, free connection it goes out at once.
    pub fn send(&mut self, request: ApiRequest, now: Instant) -> RequestId {
        let id = RequestId(self.next_id);
        self.next_id += 1;
        self.queue.push_back(Pending {
            id,
            request,
            attempts: 0,
            auth_retried: false,
            maybe_sent: false,
        });
        self.settle(now);
        id
    }

    /// True when requests are waiting and there is no connection: open a transport to
    /// [`ClientConfig::host`]:[`ClientConfig::port`] and call [`Client::open_connection`].
    pub fn wants_connection(&self) -> bool {
        matches!(self.conn, Conn::Disconnected) && !self.queue.is_empty()
    }

    /// True while a connection is in use. When it turns false, write what
    /// [`Client::poll_transmit`] still returns and close the transport.
    pub fn is_connected(&self) -> bool {
        !matches!(self.conn, Conn::Disconnected)
    }

    /// True when nothing is in progress: no request queued or on the wire, and no handshake
    /// running (a host that opened a connection with nothing queued drives it until the
    /// handshake is done).
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty()
            && !matches!(
                self.conn,
                Conn::Handshaking { .. } | Conn::FetchingToken { .. } | Conn::Requesting { .. }
            )
    }

    /// Input: the host opened a fresh transport; starts the TLS handshake on it. `wall_clock`
    /// is the time now, against which the server's certificate is verified and the client
    /// certificate checked (see the module docs).
    ///
    /// Replaces any previous connection: a request on it is decided as if that connection
    /// had broken, and what it still had to send is dropped. On error (the client
    /// certificate expired, an invalid server name) every queued request has ended.
    pub fn open_connection(&mut self, now: Instant, wall_clock: UnixTime) -> Result<(), Error> {
        if self.is_connected() {
            self.transition(
                Trigger::Broke {
                    error: Error::ConnectionClosed,
                    fatal: false,
                },
                now,
            );
        }
        self.farewell.clear();
        let opened = self.check_identity(wall_clock).and_then(|()| {
            TlsConnection::new(
                &self.config.tls,
                &self.config.host,
                self.config.tls_limits,
                wall_clock,
            )
            .map_err(Error::Tls)
        });
        let tls = match opened {
            Ok(tls) => tls,
            Err(e) => {
                self.fail_queue(&e);
                return Err(e);
            }
        };
        let mut decoder = ResponseDecoder::new(self.config.http_limits);
        if let Some(spare) = self.spare.take() {
            decoder.recycle(spare);
        }
        let link = Link::new(tls, decoder);
        let deadline = now + self.config.request_timeout;
        self.transition(Trigger::Open { link, deadline }, now);
        self.settle(now);
        Ok(())
    }

    /// The client certificate against the wall clock: an error once it is not valid, a
    /// warning (once per day count) when it expires soon.
    fn check_identity(&mut self, wall_clock: UnixTime) -> Result<(), Error> {
        let Some(validity) = self.config.validity else {
            return Ok(());
        };
        let days_left = validity.days_left(wall_clock)?;
        if days_left < self.config.expiry_warning_days && self.warned_days_left != Some(days_left) {
            self.warned_days_left = Some(days_left);
            self.events.push_back(Event::Warning(Warning::Identity(
                crate::identity::IdentityWarning::ExpiresSoon {
                    days_to_expiry: days_left,
                },
            )));
        }
        Ok(())
    }

    /// Input: the host could not open or use its transport (DNS, connect, a write that
    /// failed). The request on the wire ends as not sent or outcome unknown, every queued
    /// one too, all with [`Error::Transport`]: no automatic retry.
    pub fn transport_failed(&mut self) {
        let error = Error::Transport;
        if self.is_connected() {
            self.transition(Trigger::Broke { error, fatal: true }, Instant::ZERO);
        } else {
            self.fail_queue(&error);
        }
    }

    /// Input: the host found its idle transport closed by the server (or otherwise unusable)
    /// before writing anything new to it: the connection is dropped, and a request whose
    /// bytes the host has not taken goes to a new connection as not sent.
    pub fn discard_connection(&mut self) {
        if self.is_connected() {
            self.transition(
                Trigger::Broke {
                    error: Error::ConnectionClosed,
                    fatal: false,
                },
                Instant::ZERO,
            );
        }
    }

    /// Input: bytes read from the transport. Returns how many were taken: all of them,
    /// unless the connection is gone (0) or its buffers are full (offer the rest again after
    /// draining the outputs).
    pub fn handle_input(&mut self, data: &[u8], now: Instant) -> usize {
        let awaits_response = self.conn.awaits_response();
        let Some(link) = self.conn.link_mut() else {
            return 0;
        };
        // On a TLS error the error stays on the connection and `settle` reports it, after
        // delivering what arrived whole before it.
        let taken = link
            .handle_input(data, awaits_response)
            .unwrap_or(data.len());
        self.settle(now);
        taken
    }

    /// Input: the transport reached end of stream (the server closed it).
    pub fn handle_eof(&mut self, now: Instant) {
        let Some(link) = self.conn.link_mut() else {
            return;
        };
        // Without close_notify this records a truncation, which `settle` reports after
        // delivering any response that arrived whole.
        let _ = link.tls.handle_eof();
        self.settle(now);
    }

    /// Output: when [`Client::handle_timeout`] should be called next, if at all.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.conn.deadline()
    }

    /// Input: time has advanced to `now`. Fails a handshake or request past its deadline
    /// (and drops the connection), or ends a wait for another connection's token fetch.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due = self.conn.deadline().is_some_and(|deadline| now >= deadline);
        if due {
            let trigger = match self.conn {
                Conn::WaitingForToken { .. } => Trigger::WaitOver,
                Conn::Handshaking { .. } => Trigger::Broke {
                    error: Error::HandshakeTimeout,
                    fatal: false,
                },
                _ => Trigger::Broke {
                    error: Error::Timeout,
                    fatal: false,
                },
            };
            self.transition(trigger, now);
        }
        self.settle(now);
    }

    /// Output: copies ciphertext to write into `buf`; returns the count (0 when there is
    /// none). The bytes count as taken by the transport.
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> usize {
        if !self.farewell.is_empty() {
            let n = buf.len().min(self.farewell.len());
            buf[..n].copy_from_slice(&self.farewell[..n]);
            self.farewell.drain(..n);
            return n;
        }
        let Some(link) = self.conn.link_mut() else {
            return 0;
        };
        let n = link.tls.poll_transmit(buf);
        link.tx_taken += n as u64;
        n
    }

    /// Output: the next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Hands back a response the caller is done with (from [`Event::Response`] or
    /// [`Event::ScaRequired`]): the next response reuses its allocations, so that on a warm
    /// connection a request allocates nothing in the client (see the module docs). Its
    /// contents are overwritten. Optional: dropping a response is fine too.
    ///
    /// ```
    /// # fn f(client: &mut mtls_core::Client) {
    /// use mtls_core::client::Event;
    /// while let Some(event) = client.poll_event() {
    ///     if let Event::Response(_, response) = event {
    ///         println!("{}", response.status);
    ///         client.recycle_response(response);
    ///     }
    /// }
    /// # }
    /// ```
    pub fn recycle_response(&mut self, response: crate::http::Response) {
        match self.conn.link_mut() {
            Some(link) => link.decoder.recycle(response),
            None => self.spare = Some(response),
        }
    }
}
