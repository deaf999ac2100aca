//! Drivers that move bytes between a [`Client`] and a transport: the only place (with the
//! `wasm/` crate) where the core meets I/O.
//!
//! - [`drive`]: a blocking loop over any `embedded_io::{Read, Write}` stream; the host
//!   supplies the monotonic clock. Works on bare metal (TCP stacks such as smoltcp or
//!   embassy-net expose `embedded-io` sockets).
//! - [`Session`]: the same loop with a [`Connector`] that opens transports: one kept-alive
//!   connection, reconnects when the client asks, outcomes in request order. The std adapter
//!   and the WASI component are sessions with their own connectors.
//! - [`std_adapter`] (feature `std`): [`std_adapter::StdClient`], a one-line blocking client
//!   over `TcpStream` with DNS, connect/read/write timeouts, one kept-alive connection,
//!   transparent reconnects and a token cache kept across them.
//! - [`Pool`] (feature `std`): a cloneable, `Send + Sync` pool of such connections for
//!   servers, up to a maximum, sharing one token cache.
//! - [`file_store::FileStore`] (feature `std`): a token store
//!   ([`TokenCache::with_store`](crate::auth::TokenCache::with_store)) for the processes of
//!   one machine. Sessions (`StdClient`, `Pool`, any [`Session`]; `TokioClient`,
//!   `TokioPool`, any `AsyncSession`, whose store calls run where blocking is allowed, see
//!   `AsyncConnector::run_blocking`) consult a cache's store between reads;
//!   hand-written event loops do not, and a store-backed cache given to them works as a
//!   private one.
//! - [`redis_store::RedisStore`] (feature `redis`): the same for a fleet of machines.
//! - [`async_io`] (feature `async`): the async [`async_io::drive`] and [`AsyncSession`] over
//!   any `embedded_io_async::{Read, Write}` stream, runtime-agnostic and `no_std`; the host
//!   supplies a [`Timer`] (a clock that can wait) and an [`AsyncConnector`].
//! - [`tokio_adapter`] (feature `tokio`): [`TokioClient`], the `StdClient` of tokio (DNS,
//!   timeouts, reconnects, cancellation-safe requests), and [`TokioPool`], a cloneable
//!   `Send + Sync` pool of such connections sharing one token cache.
//!
//! A host with its own readiness loop (epoll, kqueue, an executor of its own) drives
//! [`Client`]s directly: `examples/event_loop.rs` runs 64 connections on one thread.

use crate::client::{Client, Event};
use crate::time::Instant;

#[cfg(feature = "async")]
pub mod async_io;
#[cfg(feature = "std")]
pub mod file_store;
#[cfg(feature = "std")]
pub mod pool;
#[cfg(feature = "redis")]
pub mod redis_store;
pub mod session;
#[cfg(feature = "std")]
pub mod std_adapter;
#[cfg(feature = "tokio")]
pub mod tokio_adapter;
#[cfg(feature = "tokio")]
mod tokio_pool;
mod trace;

#[cfg(feature = "async")]
pub use async_io::{AsyncConnector, AsyncSession, Timer};
#[cfg(feature = "std")]
pub use pool::{Pool, PoolOptions};
pub use session::{Connector, Outcome, RequestError, Session, TransportDetail};
#[cfg(feature = "tokio")]
pub use tokio_adapter::{TokioClient, TokioPool};

/// A monotonic clock the host supplies.
pub trait Clock {
    /// The current instant.
    fn now(&self) -> Instant;
}

impl<F: Fn() -> Instant> Clock for F {
    fn now(&self) -> Instant {
        self()
    }
}

/// Why [`drive`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriveStatus {
    /// Every queued request has its outcome.
    Idle,
    /// The connection is over (orderly or not) and requests remain: open a new transport,
    /// call [`Client::open_connection`], and drive again.
    NeedsConnection,
    /// The connection is over and nothing is queued: close the transport.
    Disconnected,
}

/// Bytes moved per read or write call.
const CHUNK: usize = 4096;
/// The buffer that writes out what the client has to send while a read's bytes wait in the
/// read buffer: smaller (writing loops until all is out), so a small device's stack does
/// not carry two full chunks (measured in benches/qemu-live).
const FLUSH_CHUNK: usize = 512;

/// Runs `client` over `transport` until it is idle or needs a new connection, handing every
/// event to `on_event`.
///
/// Before each (blocking) read, `before_read` gets the time left until the client's next
/// timeout, so the host can bound the read (a std socket sets its read timeout; a host with
/// no timeouts passes `&mut |_, _| {}`). A read that fails with
/// [`embedded_io::ErrorKind::TimedOut`] is a tick of the clock (timeouts fire); any other
/// transport error is returned. Bounded: returns after `max_turns` reads.
///
/// ```
/// use mtls_core::io::{drive, DriveStatus};
/// # fn demo<T: embedded_io::Read + embedded_io::Write>(client: &mut mtls_core::Client, socket: &mut T)
/// #   -> Result<(), T::Error> {
/// let clock = || mtls_core::time::Instant::from_millis(0); // your monotonic timer
/// let status = drive(client, socket, &clock, 10_000, &mut |_, _| {}, &mut |event| {
///     if let mtls_core::client::Event::Response(id, response) = event {
///         // handle the response
///         let _ = (id, response.status);
///     }
/// })?;
/// assert!(matches!(status, DriveStatus::Idle | DriveStatus::NeedsConnection | DriveStatus::Disconnected));
/// # Ok(()) }
/// ```
pub fn drive<T, C>(
    client: &mut Client,
    transport: &mut T,
    clock: &C,
    max_turns: usize,
    before_read: &mut dyn FnMut(&mut T, Option<core::time::Duration>),
    on_event: &mut dyn FnMut(Event),
) -> Result<DriveStatus, T::Error>
where
    T: embedded_io::Read + embedded_io::Write,
    C: Clock + ?Sized,
{
    use embedded_io::Error as _;
    let mut buf = [0u8; CHUNK];
    for _ in 0..max_turns {
        flush(client, transport, &mut buf)?;
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
        if client.poll_timeout().is_some_and(|t| clock.now() >= t) {
            client.handle_timeout(clock.now());
            continue;
        }
        let now = clock.now();
        before_read(
            transport,
            client
                .poll_timeout()
                .map(|t| t.saturating_duration_since(now)),
        );
        match transport.read(&mut buf) {
            Ok(0) => client.handle_eof(clock.now()),
            Ok(n) => {
                // A transport that reports more than it could have written is not trusted.
                let n = n.min(buf.len());
                let mut offset = 0;
                // Bounded: each pass either takes bytes or the client dropped the connection.
                while offset < n && client.is_connected() {
                    let taken = client.handle_input(&buf[offset..n], clock.now());
                    if taken == 0 {
                        flush(client, transport, &mut [0u8; FLUSH_CHUNK])?;
                        if client.handle_input(&buf[offset..n], clock.now()) == 0 {
                            break;
                        }
                        continue;
                    }
                    offset += taken;
                }
            }
            Err(e) if e.kind() == embedded_io::ErrorKind::TimedOut => {
                client.handle_timeout(clock.now());
            }
            Err(e) => return Err(e),
        }
    }
    Ok(if client.is_idle() {
        DriveStatus::Idle
    } else {
        DriveStatus::NeedsConnection
    })
}

/// Writes out everything the client has to send.
fn flush<T>(client: &mut Client, transport: &mut T, buf: &mut [u8]) -> Result<(), T::Error>
where
    T: embedded_io::Write,
{
    let mut wrote = false;
    loop {
        let n = client.poll_transmit(buf);
        if n == 0 {
            break;
        }
        transport.write_all(&buf[..n])?;
        wrote = true;
    }
    if wrote {
        transport.flush()?;
    }
    Ok(())
}
