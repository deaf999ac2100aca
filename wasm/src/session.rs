//! A blocking session over wasi:sockets: one [`mtls_core::Client`] (which holds the token
//! cache), one kept-alive connection, reconnects when the client asks for one. The bytes are
//! moved by the core's own [`mtls_core::io::drive`]; this file only opens transports and
//! sorts the events.

use core::time::Duration;
use std::string::String;
use std::vec::Vec;

use mtls_core::http::Response;
use mtls_core::io::{drive, Clock, DriveStatus};
use mtls_core::time::{Instant, UnixTime};
use mtls_core::{ApiRequest, Client, ClientConfig, Error, Event, Failure, FailureKind, RequestId};

use crate::net::{NetError, TcpStream};

/// wasi:clocks/monotonic-clock in milliseconds: token expiry and request timeouts.
#[derive(Clone, Copy, Debug, Default)]
pub struct MonotonicClock;

impl Clock for MonotonicClock {
    fn now(&self) -> Instant {
        Instant::from_millis(wasi::clocks::monotonic_clock::now() / 1_000_000)
    }
}

/// wasi:clocks/wall-clock: certificate validity.
pub fn wall_clock_now() -> UnixTime {
    let t = wasi::clocks::wall_clock::now();
    UnixTime::since_unix_epoch(Duration::new(t.seconds, t.nanoseconds))
}

/// How one request ended.
#[derive(Debug)]
pub enum Outcome {
    /// A response (any status).
    Response(Response),
    /// Mangopay's `401 PendingUserAction`.
    ScaRequired {
        /// Where to send the user.
        redirect_url: Option<String>,
        /// The full response.
        response: Response,
    },
    /// No response; `detail` is the WASI transport error behind an [`Error::Transport`].
    Failed {
        /// What the core says.
        failure: Failure,
        /// The transport's own words, when the transport failed.
        detail: Option<String>,
    },
}

impl Outcome {
    /// A one-line description of a failure (for stderr and the WIT `failure.message`).
    pub fn failure_message(failure: &Failure, detail: Option<&str>) -> String {
        let mut message = format!("{}", failure.error);
        if let Some(detail) = detail {
            message.push_str(": ");
            message.push_str(detail);
        }
        match failure.kind {
            FailureKind::NotSent => message.push_str(" (request not sent)"),
            FailureKind::OutcomeUnknown => message.push_str(" (request outcome unknown)"),
        }
        message
    }
}

/// One client, its connection and its token cache.
pub struct Session {
    client: Client,
    stream: Option<TcpStream>,
    clock: MonotonicClock,
    /// Bound on DNS, connect, and each read or write wait.
    pub io_timeout: Duration,
    connections: u32,
    last_transport_error: Option<String>,
    /// Events other than outcomes (connected, token fetched, warnings), oldest first.
    pub notices: Vec<Event>,
}

impl Session {
    /// A session; nothing is connected before the first request.
    pub fn new(config: ClientConfig) -> Session {
        let io_timeout = config.request_timeout;
        Session {
            client: Client::new(config),
            stream: None,
            clock: MonotonicClock,
            io_timeout,
            connections: 0,
            last_transport_error: None,
            notices: Vec::new(),
        }
    }

    /// TCP connections opened so far.
    pub fn connections(&self) -> u32 {
        self.connections
    }

    /// Sends the requests in order (one connection while the server keeps it open) and
    /// returns their outcomes in the same order.
    pub fn request_all(&mut self, requests: Vec<ApiRequest>) -> Vec<Outcome> {
        let now = self.clock.now();
        let ids: Vec<RequestId> = requests
            .into_iter()
            .map(|r| self.client.send(r, now))
            .collect();
        let mut outcomes = self.run();
        ids.into_iter()
            .map(|id| match outcomes.iter().position(|(i, _)| *i == id) {
                Some(i) => outcomes.swap_remove(i).1,
                // The client ends every request in exactly one outcome; if the loop bound was
                // hit first, say so rather than panic.
                None => Outcome::Failed {
                    failure: Failure {
                        kind: FailureKind::OutcomeUnknown,
                        error: Error::Timeout,
                    },
                    detail: Some(String::from("the client stopped without an outcome")),
                },
            })
            .collect()
    }

    /// Drives until every queued request has an outcome.
    fn run(&mut self) -> Vec<(RequestId, Outcome)> {
        let mut outcomes = Vec::new();
        // Each turn is one connection; a request tries at most `max_attempts` of them.
        for _ in 0..64 {
            if self.client.wants_connection() {
                if let Err(e) = self.connect() {
                    self.last_transport_error = Some(e.message);
                    self.client.transport_failed(self.clock.now());
                    break;
                }
            }
            let Some(stream) = self.stream.as_mut() else {
                break;
            };
            let notices = &mut self.notices;
            let detail = self.last_transport_error.as_deref();
            let status = drive(
                &mut self.client,
                stream,
                &self.clock,
                100_000,
                &mut |s: &mut TcpStream, left| s.set_read_timeout(left),
                &mut |event| sort(event, &mut outcomes, notices, detail),
            );
            match status {
                Ok(DriveStatus::Idle) => {
                    if !self.client.is_connected() {
                        self.stream = None;
                    }
                    break;
                }
                Ok(DriveStatus::Disconnected) => {
                    self.stream = None;
                    break;
                }
                Ok(DriveStatus::NeedsConnection) => self.stream = None,
                Err(e) => {
                    // The socket broke under us: the client decides each request's fate.
                    self.stream = None;
                    self.last_transport_error = Some(e.message);
                    self.client.handle_eof(self.clock.now());
                    if !self.client.wants_connection() && self.client.is_idle() {
                        break;
                    }
                }
            }
        }
        let detail = self.last_transport_error.take();
        while let Some(event) = self.client.poll_event() {
            sort(event, &mut outcomes, &mut self.notices, detail.as_deref());
        }
        outcomes
    }

    fn connect(&mut self) -> Result<(), NetError> {
        let config = self.client.config();
        let stream = TcpStream::connect(config.host(), config.port(), self.io_timeout)?;
        config.tls().set_time(wall_clock_now());
        let now = self.clock.now();
        // A TLS configuration error fails every queued request itself (as events).
        if self.client.open_connection(now).is_ok() {
            self.stream = Some(stream);
            self.connections += 1;
        }
        Ok(())
    }
}

fn sort(
    event: Event,
    outcomes: &mut Vec<(RequestId, Outcome)>,
    notices: &mut Vec<Event>,
    detail: Option<&str>,
) {
    match event {
        Event::Response(id, response) => outcomes.push((id, Outcome::Response(response))),
        Event::ScaRequired {
            id,
            redirect_url,
            response,
        } => outcomes.push((
            id,
            Outcome::ScaRequired {
                redirect_url,
                response,
            },
        )),
        Event::Failed(id, failure) => {
            let detail = match failure.error {
                Error::Transport => detail.map(String::from),
                _ => None,
            };
            outcomes.push((id, Outcome::Failed { failure, detail }));
        }
        other => notices.push(other),
    }
}
