//! Transport fault injection for the client tests: a host [`Connector`] whose transports wrap
//! real loopback TCP connections (to the sandbox) and can reset, close or stall a connection
//! at any byte, in either direction, and cut every read and write short.
//!
//! Faults are addressed by TLS record ([`Point`]: "the server's record 7 on connection 1,
//! just after its header"). Record lengths differ by a byte or two from run to run (ECDSA
//! signatures, counters in headers) but their order does not, so a point lands on the same
//! protocol message in every run. The transport follows the record framing of both
//! directions as bytes pass (headers only: it cannot decrypt), and leaves a [`ConnTrace`] per
//! connection: the records it saw and where its fault struck. A clean run's trace is the map
//! from which a test lists the points and names their phases.
//!
//! What each fault does, at its point:
//!
//! | action | client to server (`Up`) | server to client (`Down`) |
//! |---|---|---|
//! | [`Action::Reset`] | the server has the bytes before the point; that write and everything after fail with `ConnectionReset` | the client has the bytes before the point; that read and everything after fail with `ConnectionReset` |
//! | [`Action::Close`] | the server has the bytes before the point, then end of stream (it answers what it got, then closes); later writes vanish | the client reads end of stream (no close_notify) at the point; later writes vanish |
//! | [`Action::Stall`] | later client bytes never reach the server; reads go on | no more server bytes reach the client: reads wait out their bound and time out; writes go on |
//!
//! Every wait is bounded: reads by the client's deadline ([`Connector::bound_read`]) and the
//! connector's I/O timeout, writes by the I/O timeout.

#![allow(dead_code)]

use std::io::{self, Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use mtls_core::io::std_adapter::wall_clock_now;
use mtls_core::io::Connector;
use mtls_core::time::UnixTime;

/// Length of a TLS record header: type, version, length.
pub const HEADER: usize = 5;

/// Which way bytes go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dir {
    /// Client to server.
    Up,
    /// Server to client.
    Down,
}

/// Where in a record a fault strikes, as an offset from the record's first header byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cut {
    /// Before the record's first byte.
    Start,
    /// After the first header byte.
    InHeader,
    /// After the header, before the first body byte.
    AfterHeader,
    /// Half-way through the body.
    Middle,
    /// Before the last byte.
    BeforeLast,
    /// After the whole record.
    End,
    /// After this many bytes of the record (header included), at most all of it.
    Byte(usize),
}

impl Cut {
    /// The named cuts, in stream order.
    pub const NAMED: [Cut; 6] = [
        Cut::Start,
        Cut::InHeader,
        Cut::AfterHeader,
        Cut::Middle,
        Cut::BeforeLast,
        Cut::End,
    ];

    /// The offset in a record of `len` bytes (header included); `None` while that depends on
    /// a length not known yet.
    pub fn offset(self, len: Option<usize>) -> Option<usize> {
        match self {
            Cut::Start => Some(0),
            Cut::InHeader => Some(1),
            Cut::AfterHeader => Some(HEADER),
            Cut::Middle => len.map(|l| HEADER + (l - HEADER) / 2),
            Cut::BeforeLast => len.map(|l| (l - 1).max(HEADER)),
            Cut::End => len,
            Cut::Byte(k) if k <= HEADER => Some(k),
            Cut::Byte(k) => len.map(|l| k.min(l)),
        }
    }
}

/// A byte position on a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Point {
    pub dir: Dir,
    /// Index of the record in that direction, from 0 on each connection.
    pub record: usize,
    pub cut: Cut,
}

/// What happens at the point (see the module docs' table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    Reset,
    Close,
    Stall,
}

/// Which connections (numbered from 1 in the order the client opens them) a fault hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Conns {
    Only(u32),
    From(u32),
}

impl Conns {
    pub fn covers(self, number: u32) -> bool {
        match self {
            Conns::Only(n) => number == n,
            Conns::From(n) => number >= n,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fault {
    pub conns: Conns,
    pub point: Point,
    pub action: Action,
}

/// How many bytes each read or write call moves at most.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chunks {
    /// As many as the caller offers (reads: as many as have arrived).
    Whole,
    /// At most this many (at least 1).
    Fixed(usize),
    /// A fresh size in `1..=max` for every call, from a generator seeded per connection.
    Random { max: usize, seed: u64 },
}

/// Everything a [`FaultConnector`] does to its connections.
#[derive(Clone, Debug)]
pub struct Plan {
    pub fault: Option<Fault>,
    /// Connections (numbered from 1) that cannot be opened: connect fails with
    /// `ConnectionRefused` before any byte.
    pub refuse: Vec<u32>,
    pub reads: Chunks,
    pub writes: Chunks,
}

impl Plan {
    /// No fault, whole reads and writes.
    pub fn clean() -> Plan {
        Plan {
            fault: None,
            refuse: Vec::new(),
            reads: Chunks::Whole,
            writes: Chunks::Whole,
        }
    }

    pub fn with_fault(fault: Fault) -> Plan {
        Plan {
            fault: Some(fault),
            ..Plan::clean()
        }
    }
}

/// A TLS record as it passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    pub content_type: u8,
    /// Its offset in the direction's stream.
    pub start: u64,
    /// Header included; `None` until the whole header passed.
    pub len: Option<usize>,
    /// How many client flights (writes ended by a flush) had been sent when its first byte
    /// passed.
    pub flight: usize,
}

/// Where a fault struck.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit {
    pub fault: Fault,
    /// The offset in the direction's stream.
    pub at: u64,
}

/// What one connection saw.
#[derive(Clone, Debug, Default)]
pub struct ConnTrace {
    /// 1 for the first connection the client opened, and so on.
    pub number: u32,
    /// The connect was refused by the plan.
    pub refused: bool,
    pub up: Vec<Record>,
    pub down: Vec<Record>,
    /// Client flights sent.
    pub flights: usize,
    pub hit: Option<Hit>,
}

/// The traces of a connector's connections, filled in as each transport is dropped.
pub type Traces = Arc<Mutex<Vec<ConnTrace>>>;

/// Opens [`FaultTransport`]s to one address (the sandbox), whatever host the client asks for.
pub struct FaultConnector {
    addr: SocketAddr,
    plan: Plan,
    io_timeout: Duration,
    opened: u32,
    traces: Traces,
}

impl FaultConnector {
    /// `io_timeout` bounds every socket wait (a watchdog; the client's deadlines come first).
    pub fn new(addr: SocketAddr, plan: Plan, io_timeout: Duration) -> FaultConnector {
        FaultConnector {
            addr,
            plan,
            io_timeout,
            opened: 0,
            traces: Traces::default(),
        }
    }

    /// Where the traces go (sorted by connection number once every transport is dropped).
    pub fn traces(&self) -> Traces {
        self.traces.clone()
    }
}

impl Connector for FaultConnector {
    type Transport = FaultTransport;

    fn connect(&mut self, _host: &str, _port: u16) -> io::Result<FaultTransport> {
        self.opened += 1;
        let number = self.opened;
        if self.plan.refuse.contains(&number) {
            lock(&self.traces).push(ConnTrace {
                number,
                refused: true,
                ..ConnTrace::default()
            });
            return Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                "connection refused (injected)",
            ));
        }
        let tcp = TcpStream::connect_timeout(&self.addr, self.io_timeout)?;
        tcp.set_nodelay(true)?;
        tcp.set_write_timeout(Some(self.io_timeout))?;
        tcp.set_read_timeout(Some(self.io_timeout))?;
        let seed = u64::from(number).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        Ok(FaultTransport {
            tcp,
            number,
            fault: self.plan.fault.filter(|f| f.conns.covers(number)),
            reads: Sizes::new(self.plan.reads, seed),
            writes: Sizes::new(self.plan.writes, seed ^ 0xff),
            up: Framing::default(),
            down: Framing::default(),
            flights: 0,
            wrote: false,
            outbox: Vec::new(),
            inbox: Vec::new(),
            inbox_at: 0,
            tcp_eof: false,
            reset: false,
            up_void: false,
            down_eof: false,
            down_stalled: false,
            bound: self.io_timeout,
            io_timeout: self.io_timeout,
            hit: None,
            traces: self.traces.clone(),
        })
    }

    fn bound_read(&mut self, transport: &mut FaultTransport, left: Option<Duration>) {
        transport.bound = left.map_or(self.io_timeout, |l| {
            l.clamp(Duration::from_millis(1), self.io_timeout)
        });
    }

    fn wall_clock(&self) -> UnixTime {
        wall_clock_now()
    }

    /// As `TcpConnector`'s: end of stream, bytes nobody asked for or an error mean stale;
    /// so does a reset or close the plan already struck. A non-blocking peek.
    fn is_stale(&mut self, transport: &mut FaultTransport) -> bool {
        if transport.reset || transport.down_eof || transport.inbox_at < transport.inbox.len() {
            return true;
        }
        if transport.down_stalled {
            return false; // nothing arrives: it looks alive, as a stalled socket does
        }
        let socket = &transport.tcp;
        if socket.set_nonblocking(true).is_err() {
            return true;
        }
        let mut byte = [0u8; 1];
        let stale =
            !matches!(socket.peek(&mut byte), Err(e) if e.kind() == io::ErrorKind::WouldBlock);
        socket.set_nonblocking(false).is_err() || stale
    }
}

/// Read or write sizes.
struct Sizes {
    chunks: Chunks,
    rng: SplitMix,
}

impl Sizes {
    fn new(chunks: Chunks, seed: u64) -> Sizes {
        let seed = match chunks {
            Chunks::Random { seed: s, .. } => s ^ seed,
            _ => seed,
        };
        Sizes {
            chunks,
            rng: SplitMix(seed),
        }
    }

    /// The most the next call may move.
    fn next(&mut self, offered: usize) -> usize {
        let limit = match self.chunks {
            Chunks::Whole => usize::MAX,
            Chunks::Fixed(n) => n.max(1),
            Chunks::Random { max, .. } => 1 + self.rng.below(max.max(1) as u64) as usize,
        };
        offered.min(limit)
    }
}

/// The record framing of one direction, followed header by header.
#[derive(Default)]
struct Framing {
    records: Vec<Record>,
    pos: u64,
    header: [u8; HEADER],
    header_len: usize,
    body_left: usize,
}

impl Framing {
    fn at_boundary(&self) -> bool {
        self.header_len == 0 && self.body_left == 0
    }

    /// Bytes until the framing learns something (a header ends, a record ends).
    fn to_event(&self) -> usize {
        if self.body_left > 0 {
            self.body_left
        } else {
            HEADER - self.header_len
        }
    }

    /// The stream offset of `cut` in record `record`, once it can be known.
    fn cut_at(&self, record: usize, cut: Cut) -> Option<u64> {
        match self.records.get(record) {
            Some(r) => cut.offset(r.len).map(|o| r.start + o as u64),
            None if record == self.records.len() && self.at_boundary() => {
                cut.offset(None).map(|o| self.pos + o as u64)
            }
            None => None,
        }
    }

    fn advance(&mut self, bytes: &[u8], flight: usize) {
        let mut rest = bytes;
        while !rest.is_empty() {
            if self.body_left > 0 {
                let n = self.body_left.min(rest.len());
                self.body_left -= n;
                self.pos += n as u64;
                rest = &rest[n..];
                continue;
            }
            if self.header_len == 0 {
                self.records.push(Record {
                    content_type: rest[0],
                    start: self.pos,
                    len: None,
                    flight,
                });
            }
            let n = (HEADER - self.header_len).min(rest.len());
            self.header[self.header_len..self.header_len + n].copy_from_slice(&rest[..n]);
            self.header_len += n;
            self.pos += n as u64;
            rest = &rest[n..];
            if self.header_len == HEADER {
                let body = usize::from(u16::from_be_bytes([self.header[3], self.header[4]]));
                if let Some(r) = self.records.last_mut() {
                    r.len = Some(HEADER + body);
                }
                self.header_len = 0;
                self.body_left = body;
            }
        }
    }
}

/// A loopback TCP connection with a fault plan; see the module docs.
pub struct FaultTransport {
    tcp: TcpStream,
    number: u32,
    /// The plan's fault, when it covers this connection.
    fault: Option<Fault>,
    reads: Sizes,
    writes: Sizes,
    up: Framing,
    down: Framing,
    flights: usize,
    /// Bytes were written since the last flush.
    wrote: bool,
    /// Client bytes taken, not yet written to the socket.
    outbox: Vec<u8>,
    /// Server bytes read from the socket; `inbox[inbox_at..]` not yet handed to the client.
    inbox: Vec<u8>,
    inbox_at: usize,
    tcp_eof: bool,
    /// Every call fails with `ConnectionReset`.
    reset: bool,
    /// Client bytes are taken and dropped.
    up_void: bool,
    /// Reads return end of stream.
    down_eof: bool,
    /// Reads wait out their bound and time out.
    down_stalled: bool,
    /// How long the next read may wait.
    bound: Duration,
    io_timeout: Duration,
    hit: Option<Hit>,
    traces: Traces,
}

impl FaultTransport {
    /// Where this connection's fault strikes in `dir`, once known.
    fn cut(&self, dir: Dir) -> Option<u64> {
        let fault = self
            .fault
            .filter(|f| f.point.dir == dir && self.hit.is_none())?;
        let framing = match dir {
            Dir::Up => &self.up,
            Dir::Down => &self.down,
        };
        framing.cut_at(fault.point.record, fault.point.cut)
    }

    /// The fault strikes now.
    fn strike(&mut self, dir: Dir) {
        // INVARIANT: called only when `cut(dir)` found the fault.
        let Some(fault) = self.fault else { return };
        let at = match dir {
            Dir::Up => self.up.pos,
            Dir::Down => self.down.pos,
        };
        self.hit = Some(Hit { fault, at });
        // The bytes before the point are the server's.
        let _ = self.send_outbox();
        match (fault.action, dir) {
            (Action::Reset, _) => {
                self.reset = true;
                let _ = self.tcp.shutdown(Shutdown::Both);
            }
            (Action::Close, Dir::Up) => {
                self.up_void = true;
                let _ = self.tcp.shutdown(Shutdown::Write);
            }
            (Action::Close, Dir::Down) => {
                self.down_eof = true;
                self.up_void = true;
                let _ = self.tcp.shutdown(Shutdown::Both);
            }
            (Action::Stall, Dir::Up) => self.up_void = true,
            (Action::Stall, Dir::Down) => self.down_stalled = true,
        }
    }

    fn send_outbox(&mut self) -> io::Result<()> {
        if self.outbox.is_empty() {
            return Ok(());
        }
        let bytes = core::mem::take(&mut self.outbox);
        self.tcp.write_all(&bytes)
    }

    fn reset_error() -> io::Error {
        io::Error::new(
            io::ErrorKind::ConnectionReset,
            "connection reset (injected)",
        )
    }

    fn stalled_read(&self) -> io::Error {
        std::thread::sleep(self.bound);
        io::Error::new(io::ErrorKind::TimedOut, "no bytes (injected stall)")
    }

    /// Reads from the socket into the inbox, waiting at most `bound`. `Ok(false)`: end of
    /// stream.
    fn fill_inbox(&mut self) -> io::Result<bool> {
        if self.tcp_eof {
            return Ok(false);
        }
        self.tcp.set_read_timeout(Some(self.bound))?;
        let mut buf = [0u8; 16 * 1024];
        match self.tcp.read(&mut buf) {
            Ok(0) => {
                self.tcp_eof = true;
                Ok(false)
            }
            Ok(n) => {
                self.inbox.drain(..self.inbox_at);
                self.inbox_at = 0;
                self.inbox.extend_from_slice(&buf[..n]);
                Ok(true)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Err(io::Error::new(io::ErrorKind::TimedOut, e))
            }
            Err(e) => Err(e),
        }
    }
}

impl Drop for FaultTransport {
    fn drop(&mut self) {
        let _ = self.tcp.shutdown(Shutdown::Both);
        lock(&self.traces).push(ConnTrace {
            number: self.number,
            refused: false,
            up: core::mem::take(&mut self.up.records),
            down: core::mem::take(&mut self.down.records),
            flights: self.flights,
            hit: self.hit,
        });
    }
}

impl embedded_io::ErrorType for FaultTransport {
    type Error = io::Error;
}

impl embedded_io::Read for FaultTransport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.reset {
            return Err(Self::reset_error());
        }
        if buf.is_empty() || self.down_eof {
            return Ok(0);
        }
        if self.down_stalled {
            return Err(self.stalled_read());
        }
        // What the client wrote goes out before it waits for the answer.
        self.send_outbox()?;
        if self.cut(Dir::Down).is_some_and(|cut| cut <= self.down.pos) {
            self.strike(Dir::Down);
            return self.read(buf);
        }
        if self.inbox_at == self.inbox.len() && !self.fill_inbox()? {
            return Ok(0);
        }
        let quota = self.reads.next(buf.len());
        let mut moved = 0;
        while moved < quota && self.inbox_at < self.inbox.len() {
            let mut n = (quota - moved)
                .min(self.inbox.len() - self.inbox_at)
                .min(self.down.to_event());
            if let Some(cut) = self.cut(Dir::Down) {
                if cut <= self.down.pos {
                    break; // a short read; the fault strikes on the next one
                }
                n = n.min((cut - self.down.pos) as usize);
            }
            let bytes = &self.inbox[self.inbox_at..self.inbox_at + n];
            buf[moved..moved + n].copy_from_slice(bytes);
            self.down.advance(bytes, self.flights);
            self.inbox_at += n;
            moved += n;
        }
        Ok(moved)
    }
}

impl embedded_io::Write for FaultTransport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.reset {
            return Err(Self::reset_error());
        }
        if buf.is_empty() {
            return Ok(0);
        }
        if self.up_void {
            return Ok(buf.len());
        }
        if self.cut(Dir::Up).is_some_and(|cut| cut <= self.up.pos) {
            self.strike(Dir::Up);
            return self.write(buf);
        }
        let quota = self.writes.next(buf.len());
        let mut moved = 0;
        while moved < quota {
            let mut n = (quota - moved).min(self.up.to_event());
            if let Some(cut) = self.cut(Dir::Up) {
                if cut <= self.up.pos {
                    break; // a short write; the fault strikes on the next one
                }
                n = n.min((cut - self.up.pos) as usize);
            }
            let bytes = &buf[moved..moved + n];
            self.up.advance(bytes, self.flights);
            self.outbox.extend_from_slice(bytes);
            moved += n;
        }
        self.wrote = true;
        Ok(moved)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.reset {
            return Err(Self::reset_error());
        }
        if core::mem::take(&mut self.wrote) {
            self.flights += 1;
        }
        if self.up_void {
            return Ok(());
        }
        self.send_outbox()?;
        self.tcp.flush()
    }
}

/// SplitMix64: a small seeded generator, for reproducible "random" plans.
#[derive(Clone, Debug)]
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
