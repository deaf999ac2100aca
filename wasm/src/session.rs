//! A blocking session over wasi:sockets: the core's [`mtls_core::io::Session`] (one client
//! holding the token cache, one kept-alive connection, reconnects when the client asks) with
//! a connector that opens wasi:sockets TCP streams. This file only opens transports and
//! keeps the WASI error text for failures.

use core::time::Duration;
use std::string::String;
use std::vec::Vec;

use mtls_core::http::Response;
use mtls_core::io::{Clock, Connector, Outcome as CoreOutcome};
use mtls_core::time::{Instant, UnixTime};
use mtls_core::{ApiRequest, ClientConfig, Error, Event, Failure, FailureKind};

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

/// Opens wasi:sockets TCP connections for the core's [`mtls_core::io::Session`].
#[derive(Clone, Copy, Debug)]
pub struct WasiConnector {
    /// Bound on DNS, connect, and each read or write wait.
    pub io_timeout: Duration,
}

impl Connector for WasiConnector {
    type Transport = TcpStream;

    fn connect(&mut self, host: &str, port: u16) -> Result<TcpStream, NetError> {
        TcpStream::connect(host, port, self.io_timeout)
    }

    fn bound_read(&mut self, transport: &mut TcpStream, left: Option<Duration>) {
        transport.set_read_timeout(left);
    }

    fn wall_clock(&self) -> UnixTime {
        wall_clock_now()
    }

    /// On an idle connection, anything to read (the server's close_notify, end of stream)
    /// means it is no longer fit for a request.
    fn is_stale(&mut self, transport: &mut TcpStream) -> bool {
        transport.input_ready()
    }
}

/// One client, its connection and its token cache: the core's session over wasi:sockets,
/// with the transport's own words attached to transport failures.
pub struct Session {
    inner: mtls_core::io::Session<WasiConnector, MonotonicClock>,
    /// Events other than outcomes (connected, token fetched, warnings), oldest first.
    pub notices: Vec<Event>,
}

impl Session {
    /// A session; nothing is connected before the first request.
    pub fn new(config: ClientConfig) -> Session {
        let connector = WasiConnector {
            io_timeout: config.request_timeout,
        };
        Session {
            inner: mtls_core::io::Session::new(config, connector, MonotonicClock),
            notices: Vec::new(),
        }
    }

    /// TCP connections opened so far.
    pub fn connections(&self) -> u32 {
        self.inner.connections()
    }

    /// Sends the requests in order (one connection while the server keeps it open) and
    /// returns their outcomes in the same order.
    pub fn request_all(&mut self, requests: Vec<ApiRequest>) -> Vec<Outcome> {
        let outcomes = self.inner.request_all(requests);
        self.notices.append(&mut self.inner.notices);
        let detail = self.inner.last_transport_error().map(|e| e.message.clone());
        outcomes
            .into_iter()
            .map(|outcome| match outcome {
                CoreOutcome::Response(response) => Outcome::Response(response),
                CoreOutcome::ScaRequired {
                    redirect_url,
                    response,
                } => Outcome::ScaRequired {
                    redirect_url,
                    response: *response,
                },
                CoreOutcome::Failed(failure) => {
                    let detail = match failure.error {
                        Error::Transport => detail.clone(),
                        _ => None,
                    };
                    Outcome::Failed { failure, detail }
                }
            })
            .collect()
    }
}
