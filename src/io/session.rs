//! A blocking session over transports a [`Connector`] opens: one [`Client`] (which holds the
//! token cache), one kept-alive connection, a new one whenever the client asks for it. The
//! std adapter and the WASI component are this loop with their own connector.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use crate::client::{ApiRequest, Client, ClientConfig, Event, Failure, FailureKind, RequestId};
use crate::error::Error;
use crate::http::Response;
use crate::io::{drive, Clock, DriveStatus};
use crate::time::UnixTime;

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

    /// Whether an idle, kept-alive transport is already unusable: the server closed it or
    /// sent something unasked while idle. Checked, without blocking, before a new request
    /// is written, so that the request goes to a fresh connection as not sent instead of
    /// ending "outcome unknown". The default cannot tell and says no.
    fn is_stale(&mut self, transport: &mut Self::Transport) -> bool {
        let _ = transport;
        false
    }
}

/// How one request ended.
#[derive(Debug)]
pub enum Outcome {
    /// A response, any status.
    Response(Response),
    /// Mangopay's `401 PendingUserAction`: the user must complete SCA.
    ScaRequired {
        /// Where to send the user, when the server gave it.
        redirect_url: Option<String>,
        /// The full response (boxed: it is large).
        response: Box<Response>,
    },
    /// No response; the failure says whether it may be retried.
    Failed(Failure),
}

/// The transport error of a [`Connector`].
pub type TransportError<C> = <<C as Connector>::Transport as embedded_io::ErrorType>::Error;

/// A [`Client`] with its connections, driven to completion call by call.
pub struct Session<C: Connector, K: Clock> {
    client: Client,
    connector: C,
    clock: K,
    transport: Option<C::Transport>,
    connections: u32,
    last_transport_error: Option<TransportError<C>>,
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

/// Connections a single `request_all` may open before it gives up (each request also has
/// its own `max_attempts`).
const MAX_CONNECTIONS_PER_CALL: usize = 64;

impl<C: Connector, K: Clock> Session<C, K> {
    /// A session; nothing is connected before the first request.
    pub fn new(config: ClientConfig, connector: C, clock: K) -> Session<C, K> {
        Session {
            client: Client::new(config),
            connector,
            clock,
            transport: None,
            connections: 0,
            last_transport_error: None,
            notices: Vec::new(),
        }
    }

    /// The sans-IO client inside.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The connector.
    pub fn connector(&self) -> &C {
        &self.connector
    }

    /// The connector, to change its settings.
    pub fn connector_mut(&mut self) -> &mut C {
        &mut self.connector
    }

    /// How many transports were opened so far.
    pub fn connections(&self) -> u32 {
        self.connections
    }

    /// The transport's own words for the last [`Error::Transport`] failure, if any.
    pub fn last_transport_error(&self) -> Option<&TransportError<C>> {
        self.last_transport_error.as_ref()
    }

    /// Sends one request and waits for its outcome.
    pub fn request(&mut self, request: ApiRequest) -> Outcome {
        let mut outcomes = self.request_all(alloc::vec![request]);
        outcomes.pop().unwrap_or(Outcome::Failed(Failure {
            kind: FailureKind::OutcomeUnknown,
            error: Error::Timeout,
        }))
    }

    /// Sends the requests in order (on one connection while the server keeps it open) and
    /// returns their outcomes in the same order.
    pub fn request_all(&mut self, requests: Vec<ApiRequest>) -> Vec<Outcome> {
        let now = self.clock.now();
        self.last_transport_error = None;
        if let Some(transport) = self.transport.as_mut() {
            if self.connector.is_stale(transport) {
                self.client.discard_connection();
                self.transport = None;
            }
        }
        let ids: Vec<RequestId> = requests
            .into_iter()
            .map(|r| self.client.send(r, now))
            .collect();
        let mut outcomes = self.run();
        ids.into_iter()
            .map(|id| match outcomes.iter().position(|(i, _)| *i == id) {
                Some(i) => outcomes.swap_remove(i).1,
                // Every request ends in exactly one outcome; should the loop bound be hit
                // first, say so rather than panic.
                None => Outcome::Failed(Failure {
                    kind: FailureKind::OutcomeUnknown,
                    error: Error::Timeout,
                }),
            })
            .collect()
    }

    /// Drives until every queued request has an outcome.
    fn run(&mut self) -> Vec<(RequestId, Outcome)> {
        let mut outcomes = Vec::new();
        for _ in 0..MAX_CONNECTIONS_PER_CALL {
            if self.client.wants_connection() {
                let config = self.client.config();
                match self.connector.connect(config.host(), config.port()) {
                    Ok(transport) => {
                        config.tls().set_time(self.connector.wall_clock());
                        // On error the client has already ended every queued request.
                        if self.client.open_connection(self.clock.now()).is_ok() {
                            self.transport = Some(transport);
                            self.connections += 1;
                        }
                    }
                    Err(e) => {
                        self.last_transport_error = Some(e);
                        self.client.transport_failed();
                        break;
                    }
                }
            }
            let Some(transport) = self.transport.as_mut() else {
                break;
            };
            let connector = &mut self.connector;
            let notices = &mut self.notices;
            let status = drive(
                &mut self.client,
                transport,
                &self.clock,
                100_000,
                &mut |t, left| connector.bound_read(t, left),
                &mut |event| sort_event(event, &mut outcomes, notices),
            );
            match status {
                Ok(DriveStatus::Idle) => {
                    if !self.client.is_connected() {
                        self.transport = None;
                    }
                    break;
                }
                Ok(DriveStatus::Disconnected) => {
                    self.transport = None;
                    break;
                }
                Ok(DriveStatus::NeedsConnection) => self.transport = None,
                Err(e) => {
                    // The transport broke under us: the client decides each request's fate.
                    self.transport = None;
                    self.last_transport_error = Some(e);
                    self.client.handle_eof(self.clock.now());
                    if !self.client.wants_connection() && self.client.is_idle() {
                        break;
                    }
                }
            }
        }
        while let Some(event) = self.client.poll_event() {
            sort_event(event, &mut outcomes, &mut self.notices);
        }
        outcomes
    }
}

/// Request outcomes go to `outcomes`, everything else to `notices`.
fn sort_event(event: Event, outcomes: &mut Vec<(RequestId, Outcome)>, notices: &mut Vec<Event>) {
    match event {
        Event::Response(id, response) => outcomes.push((id, Outcome::Response(response))),
        Event::Failed(id, failure) => outcomes.push((id, Outcome::Failed(failure))),
        Event::ScaRequired {
            id,
            redirect_url,
            response,
        } => outcomes.push((
            id,
            Outcome::ScaRequired {
                redirect_url,
                response: Box::new(response),
            },
        )),
        other => notices.push(other),
    }
}
