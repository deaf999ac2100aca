//! A TCP proxy on loopback in front of a server (the sandbox), that can stall on command: for
//! the cancellation tests, which need a request to hang at a chosen point.
//!
//! Include it with `#[path = "support/stall_proxy.rs"] mod stall_proxy;`. Std only.
//!
//! [`Mode`]s, read on every step, so they can change while a connection runs:
//! - `Pass`: bytes go both ways as they come.
//! - `Blackhole`: new connections are accepted and never forwarded (a server that never
//!   answers the ClientHello); bytes from the client are read and dropped.
//! - `OneRecordThenHold`: from the server to the client, exactly one more complete TLS record
//!   goes through, then nothing: the sandbox writes a response's head and its body as two
//!   records, so the client ends up holding half a response.
//!
//! Every loop is bounded: reads time out every 25 ms to look at the stop flag, and dropping
//! the [`StallProxy`] stops and joins every thread.

#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

const POLL: Duration = Duration::from_millis(25);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Pass,
    Blackhole,
    OneRecordThenHold,
}

struct Shared {
    upstream: SocketAddr,
    mode: Mutex<Mode>,
    stop: AtomicBool,
    connections: AtomicU64,
    /// Set once a connection in `OneRecordThenHold` let its record through and holds more.
    holding: AtomicBool,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Shared {
    fn mode(&self) -> Mode {
        *self.mode.lock().unwrap()
    }
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }
}

pub struct StallProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl StallProxy {
    pub fn start(upstream: SocketAddr) -> StallProxy {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            upstream,
            mode: Mutex::new(Mode::Pass),
            stop: AtomicBool::new(false),
            connections: AtomicU64::new(0),
            holding: AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
        });
        let acceptor = {
            let shared = shared.clone();
            std::thread::spawn(move || accept_loop(listener, shared))
        };
        StallProxy {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// `https://localhost:PORT`: the sandbox's certificate names localhost.
    pub fn base_url(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }

    pub fn set_mode(&self, mode: Mode) {
        if mode == Mode::OneRecordThenHold {
            self.shared.holding.store(false, Ordering::Release);
        }
        *self.shared.mode.lock().unwrap() = mode;
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::Acquire)
    }

    /// Whether a connection let its one record through and now holds the rest.
    pub fn holding(&self) -> bool {
        self.shared.holding.load(Ordering::Acquire)
    }
}

impl Drop for StallProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        // Wakes the blocking accept.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        let threads = std::mem::take(&mut *self.shared.threads.lock().unwrap());
        for t in threads {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    while !shared.stopping() {
        let Ok((client, _)) = listener.accept() else {
            std::thread::sleep(POLL);
            continue;
        };
        if shared.stopping() {
            break;
        }
        shared.connections.fetch_add(1, Ordering::AcqRel);
        let s = shared.clone();
        let t = std::thread::spawn(move || serve(client, s));
        shared.threads.lock().unwrap().push(t);
    }
}

fn serve(client: TcpStream, shared: Arc<Shared>) {
    let _ = client.set_read_timeout(Some(POLL));
    let _ = client.set_nodelay(true);
    if shared.mode() == Mode::Blackhole {
        return drain(client, &shared);
    }
    let Ok(server) = TcpStream::connect(shared.upstream) else {
        return;
    };
    let _ = server.set_read_timeout(Some(POLL));
    let _ = server.set_nodelay(true);
    let up = {
        let (from, to) = (client.try_clone().unwrap(), server.try_clone().unwrap());
        let s = shared.clone();
        std::thread::spawn(move || pump_up(from, to, &s))
    };
    pump_down(server, client, &shared);
    let _ = up.join();
}

/// Reads and drops everything until the client goes away.
fn drain(mut client: TcpStream, shared: &Shared) {
    let mut buf = [0u8; 4096];
    while !shared.stopping() {
        match client.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
}

/// Client to server, as it comes.
fn pump_up(mut from: TcpStream, mut to: TcpStream, shared: &Shared) {
    let mut buf = [0u8; 16384];
    while !shared.stopping() {
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// Server to client, record by record when asked to hold.
fn pump_down(mut from: TcpStream, mut to: TcpStream, shared: &Shared) {
    let mut buf = [0u8; 16384];
    let mut pending: Vec<u8> = Vec::new();
    let mut passed_one = false;
    while !shared.stopping() {
        let mut eof = false;
        match from.read(&mut buf) {
            Ok(0) => eof = true,
            Ok(n) => pending.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => eof = true,
        }
        let forward = match shared.mode() {
            Mode::Pass | Mode::Blackhole => pending.len(),
            Mode::OneRecordThenHold if passed_one => 0,
            Mode::OneRecordThenHold => match record_len(&pending) {
                Some(len) if pending.len() >= len => {
                    passed_one = true;
                    shared.holding.store(true, Ordering::Release);
                    len
                }
                _ => 0,
            },
        };
        if forward > 0 {
            if to.write_all(&pending[..forward]).is_err() {
                break;
            }
            pending.drain(..forward);
        }
        // The server closed (it does once the client's side reached it closed).
        if eof {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

/// The length of the TLS record at the start of `bytes` (header included), once the header
/// is there.
fn record_len(bytes: &[u8]) -> Option<usize> {
    let header = bytes.get(..5)?;
    Some(5 + usize::from(u16::from_be_bytes([header[3], header[4]])))
}
