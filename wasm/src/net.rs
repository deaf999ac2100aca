//! TCP over wasi:sockets: name lookup, connect, and an `embedded-io` stream whose reads block
//! on pollables (the input stream and a monotonic-clock timer), never spinning.

use core::time::Duration;
use std::string::String;
use std::vec::Vec;

use wasi::clocks::monotonic_clock;
use wasi::io::poll::{poll, Pollable};
use wasi::io::streams::{InputStream, OutputStream, StreamError};
use wasi::sockets::instance_network::instance_network;
use wasi::sockets::ip_name_lookup::resolve_addresses;
use wasi::sockets::network::{
    ErrorCode, IpAddress, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, Ipv6SocketAddress,
    Network,
};
use wasi::sockets::tcp::TcpSocket;
use wasi::sockets::tcp_create_socket::create_tcp_socket;

/// A transport failure: what `embedded-io` needs to classify it, and the WASI detail.
#[derive(Clone, Debug)]
pub struct NetError {
    kind: embedded_io::ErrorKind,
    /// What failed and the WASI error code, e.g. `connect to 127.0.0.1:443: access-denied`.
    pub message: String,
}

impl NetError {
    fn new(kind: embedded_io::ErrorKind, message: impl Into<String>) -> NetError {
        NetError {
            kind,
            message: message.into(),
        }
    }

    fn code(what: &str, code: &ErrorCode) -> NetError {
        let kind = match code {
            ErrorCode::Timeout => embedded_io::ErrorKind::TimedOut,
            ErrorCode::AccessDenied | ErrorCode::NotSupported => {
                embedded_io::ErrorKind::PermissionDenied
            }
            ErrorCode::ConnectionRefused => embedded_io::ErrorKind::ConnectionRefused,
            ErrorCode::ConnectionReset => embedded_io::ErrorKind::ConnectionReset,
            ErrorCode::ConnectionAborted => embedded_io::ErrorKind::ConnectionAborted,
            _ => embedded_io::ErrorKind::Other,
        };
        NetError::new(kind, format!("{what}: {}", code.name()))
    }

    fn timed_out(what: &str) -> NetError {
        NetError::new(
            embedded_io::ErrorKind::TimedOut,
            format!("{what}: timed out"),
        )
    }
}

impl core::fmt::Display for NetError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.message)
    }
}

impl embedded_io::Error for NetError {
    fn kind(&self) -> embedded_io::ErrorKind {
        self.kind
    }
}

/// Blocks until `pollable` is ready or `timeout` has passed; true when it is ready.
fn wait(pollable: &Pollable, timeout: Duration) -> bool {
    let timer = monotonic_clock::subscribe_duration(nanos(timeout));
    let ready = poll(&[pollable, &timer]);
    ready.contains(&0)
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Resolves `host` (a name, or an IP literal, brackets allowed) to addresses.
pub fn resolve(
    network: &Network,
    host: &str,
    timeout: Duration,
) -> Result<Vec<IpAddress>, NetError> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(vec![ip_address(ip)]);
    }
    let what = format!("name lookup of {host}");
    let stream = resolve_addresses(network, host).map_err(|e| NetError::code(&what, &e))?;
    let mut addrs = Vec::new();
    // Bounded: each pass yields an address, ends, or waits (a timeout ends the loop).
    for _ in 0..256 {
        match stream.resolve_next_address() {
            Ok(Some(addr)) => addrs.push(addr),
            Ok(None) => break,
            Err(ErrorCode::WouldBlock) => {
                let ready = stream.subscribe();
                if !wait(&ready, timeout) {
                    return Err(NetError::timed_out(&what));
                }
            }
            Err(e) => return Err(NetError::code(&what, &e)),
        }
    }
    if addrs.is_empty() {
        return Err(NetError::new(
            embedded_io::ErrorKind::NotFound,
            format!("{what}: no address"),
        ));
    }
    Ok(addrs)
}

fn ip_address(ip: std::net::IpAddr) -> IpAddress {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            IpAddress::Ipv4((a, b, c, d))
        }
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddress::Ipv6((s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]))
        }
    }
}

fn display(addr: &IpAddress, port: u16) -> String {
    match addr {
        IpAddress::Ipv4((a, b, c, d)) => format!("{a}.{b}.{c}.{d}:{port}"),
        IpAddress::Ipv6(s) => {
            let ip = std::net::Ipv6Addr::new(s.0, s.1, s.2, s.3, s.4, s.5, s.6, s.7);
            format!("[{ip}]:{port}")
        }
    }
}

/// An open TCP connection. Field order is drop order: the streams are children of the
/// socket and must go first.
pub struct TcpStream {
    input: InputStream,
    output: OutputStream,
    _socket: TcpSocket,
    /// How long the next read may wait (set from the client's next timeout).
    read_timeout: Duration,
    /// Upper bound of any single wait.
    io_timeout: Duration,
}

impl TcpStream {
    /// Resolves `host` and connects to the first address that accepts, within `timeout` per
    /// step.
    pub fn connect(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, NetError> {
        let network = instance_network();
        let addrs = resolve(&network, host, timeout)?;
        let mut last = None;
        for addr in &addrs {
            match connect_one(&network, addr, port, timeout) {
                Ok((socket, input, output)) => {
                    return Ok(TcpStream {
                        input,
                        output,
                        _socket: socket,
                        read_timeout: timeout,
                        io_timeout: timeout,
                    })
                }
                Err(e) => last = Some(e),
            }
        }
        // `addrs` is never empty (resolve says NotFound instead), so `last` is set.
        Err(last.unwrap_or_else(|| {
            NetError::new(
                embedded_io::ErrorKind::NotFound,
                format!("no address for {host}"),
            )
        }))
    }

    /// Bounds the next read: `None` means the I/O timeout.
    pub fn set_read_timeout(&mut self, left: Option<Duration>) {
        self.read_timeout = left.map_or(self.io_timeout, |l| l.min(self.io_timeout));
    }

    /// True when the (idle) input has something to read, has ended or has failed; never
    /// waits. May take a byte: only ask this of a connection to be dropped when it says so.
    ///
    /// Asked with a read, which never blocks in WASI and looks at the socket on every host,
    /// not with the input's pollable: jco's preview2-shim answers `pollable.ready()` from a
    /// flag it caches, and Wasmtime answers `ready()` and `poll` from tokio's readiness,
    /// which stays set after a read that emptied the socket until a read finds nothing.
    /// Either way a kept-alive connection looked stale after most responses and every
    /// request opened a new connection.
    pub fn input_ready(&mut self) -> bool {
        !matches!(self.input.read(1), Ok(bytes) if bytes.is_empty())
    }
}

fn connect_one(
    network: &Network,
    addr: &IpAddress,
    port: u16,
    timeout: Duration,
) -> Result<(TcpSocket, InputStream, OutputStream), NetError> {
    let what = format!("connect to {}", display(addr, port));
    let (family, remote) = match *addr {
        IpAddress::Ipv4(address) => (
            IpAddressFamily::Ipv4,
            IpSocketAddress::Ipv4(Ipv4SocketAddress { port, address }),
        ),
        IpAddress::Ipv6(address) => (
            IpAddressFamily::Ipv6,
            IpSocketAddress::Ipv6(Ipv6SocketAddress {
                port,
                flow_info: 0,
                address,
                scope_id: 0,
            }),
        ),
    };
    let socket = create_tcp_socket(family).map_err(|e| NetError::code(&what, &e))?;
    socket
        .start_connect(network, remote)
        .map_err(|e| NetError::code(&what, &e))?;
    let ready = socket.subscribe();
    // Bounded: a pass either finishes, fails, or waits once (a timeout ends the loop).
    for _ in 0..64 {
        match socket.finish_connect() {
            Ok((input, output)) => {
                drop(ready);
                return Ok((socket, input, output));
            }
            Err(ErrorCode::WouldBlock) => {
                if !wait(&ready, timeout) {
                    return Err(NetError::timed_out(&what));
                }
            }
            Err(e) => return Err(NetError::code(&what, &e)),
        }
    }
    Err(NetError::timed_out(&what))
}

impl embedded_io::ErrorType for TcpStream {
    type Error = NetError;
}

impl embedded_io::Read for TcpStream {
    /// Returns what is available, blocking on the input stream's pollable until data, end of
    /// stream (`Ok(0)`) or the read timeout (`TimedOut`: a tick for the client's timers).
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, NetError> {
        if buf.is_empty() {
            return Ok(0);
        }
        for _ in 0..2 {
            match self.input.read(buf.len() as u64) {
                Ok(bytes) if !bytes.is_empty() => {
                    // `read(len)` returns at most `len` bytes.
                    let n = bytes.len().min(buf.len());
                    buf[..n].copy_from_slice(&bytes[..n]);
                    return Ok(n);
                }
                Ok(_) => {
                    let ready = self.input.subscribe();
                    if !wait(&ready, self.read_timeout) {
                        return Err(NetError::timed_out("read"));
                    }
                }
                Err(StreamError::Closed) => return Ok(0),
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(NetError::new(
                        embedded_io::ErrorKind::ConnectionReset,
                        format!("read: {}", e.to_debug_string()),
                    ))
                }
            }
        }
        // Ready but still empty: let the caller come back (counts as a timer tick).
        Err(NetError::timed_out("read"))
    }
}

impl embedded_io::Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> Result<usize, NetError> {
        if buf.is_empty() {
            return Ok(0);
        }
        for _ in 0..2 {
            let room = self.output.check_write().map_err(write_error)?;
            if room > 0 {
                let n = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
                self.output.write(&buf[..n]).map_err(write_error)?;
                return Ok(n);
            }
            let ready = self.output.subscribe();
            if !wait(&ready, self.io_timeout) {
                return Err(NetError::timed_out("write"));
            }
        }
        Err(NetError::timed_out("write"))
    }

    fn flush(&mut self) -> Result<(), NetError> {
        self.output.flush().map_err(write_error)?;
        let ready = self.output.subscribe();
        if !wait(&ready, self.io_timeout) {
            return Err(NetError::timed_out("flush"));
        }
        self.output.check_write().map_err(write_error).map(|_| ())
    }
}

fn write_error(e: StreamError) -> NetError {
    match e {
        StreamError::Closed => NetError::new(
            embedded_io::ErrorKind::BrokenPipe,
            "write: the connection is closed",
        ),
        StreamError::LastOperationFailed(e) => NetError::new(
            embedded_io::ErrorKind::ConnectionReset,
            format!("write: {}", e.to_debug_string()),
        ),
    }
}
