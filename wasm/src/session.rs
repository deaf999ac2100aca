//! A blocking session over wasi:sockets: the core's [`mtls_core::io::Session`] (one client
//! holding the token cache, one kept-alive connection, reconnects when the client asks) with
//! a connector that opens wasi:sockets TCP streams. This file only opens transports; the
//! WASI error text travels with failures as the core's `TransportDetail`.

use core::time::Duration;

use mtls_core::io::{Clock, Connector};
use mtls_core::time::{Instant, UnixTime};
use mtls_core::ClientConfig;

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
    /// means it is no longer fit for a request (and the session drops it).
    fn is_stale(&mut self, transport: &mut TcpStream) -> bool {
        transport.input_ready()
    }
}

/// One client, its connection and its token cache: the core's session over wasi:sockets.
pub type Session = mtls_core::io::Session<WasiConnector, MonotonicClock>;

/// A session; nothing is connected before the first request. Each wait (DNS, connect,
/// read, write) is bounded by the request timeout.
pub fn new_session(config: ClientConfig) -> Session {
    let connector = WasiConnector {
        io_timeout: config.request_timeout,
    };
    Session::new(config, connector, MonotonicClock)
}
