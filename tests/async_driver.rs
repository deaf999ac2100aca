//! The runtime-agnostic async driver (feature `async`) without tokio: `AsyncSession` under
//! embassy-futures' `block_on` (a no_std executor), over a blocking std socket made an
//! `embedded-io-async` stream, against the sandbox; and `drive` on a virtual clock over a
//! transport that never answers.

use core::cell::Cell;
use core::future::Future;
use core::task::Poll;
use std::io::{Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use mtls_core::auth::Credentials;
use mtls_core::client::{Auth, FailureKind};
use mtls_core::identity::{CaBundle, Identity};
use mtls_core::io::std_adapter::{wall_clock_now, StdClock};
use mtls_core::io::{AsyncConnector, AsyncSession, Clock, RequestError, Timer};
use mtls_core::time::{Instant, UnixTime};
use mtls_core::tls::Trust;
use mtls_core::{ApiRequest, ClientConfig, Error};
use mtls_sandbox::{Sandbox, SandboxConfig};

fn config(sandbox: &Sandbox) -> ClientConfig {
    let issued = sandbox.issue_client_identity().unwrap();
    let identity = Identity::from_pem(
        issued.cert_pem.as_bytes(),
        issued.key_pem.as_ref().unwrap().as_bytes(),
    )
    .unwrap();
    let trust = Trust::Custom(CaBundle::from_pem(sandbox.ca_pem().as_bytes()).unwrap());
    let credentials = Credentials::new(sandbox.client_id(), sandbox.api_key()).unwrap();
    ClientConfig::new(
        &sandbox.base_url(),
        Auth::ClientCredentials(credentials),
        &identity,
        trust,
    )
    .unwrap()
}

/// A blocking `TcpStream` behind the async traits: each call blocks, then is ready. Reads
/// time out every 20 ms (`TimedOut`, a tick of the client's clock).
struct Blocking(TcpStream);

impl embedded_io_async::ErrorType for Blocking {
    type Error = std::io::Error;
}

impl embedded_io_async::Read for Blocking {
    async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.0.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                Err(std::io::ErrorKind::TimedOut.into())
            }
            other => other,
        }
    }
}

impl embedded_io_async::Write for Blocking {
    async fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }
}

struct BlockingConnector;

impl AsyncConnector for BlockingConnector {
    type Transport = Blocking;

    async fn connect(&mut self, host: &str, port: u16) -> std::io::Result<Blocking> {
        let addr = (host, port).to_socket_addrs()?.next().unwrap();
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_millis(20)))?;
        Ok(Blocking(stream))
    }

    fn wall_clock(&self) -> UnixTime {
        wall_clock_now()
    }

    fn is_stale(&mut self, transport: &mut Blocking) -> bool {
        let s = &transport.0;
        s.set_nonblocking(true).unwrap();
        let mut b = [0u8; 1];
        let stale = !matches!(s.peek(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
        s.set_nonblocking(false).unwrap();
        stale
    }
}

/// The std clock; waiting sleeps the thread (fine under `block_on`: nothing else runs).
struct SleepingTimer(StdClock);

impl Clock for SleepingTimer {
    fn now(&self) -> Instant {
        self.0.now()
    }
}

impl Timer for SleepingTimer {
    async fn sleep_until(&self, deadline: Instant) {
        let left = deadline.saturating_duration_since(self.0.now());
        std::thread::sleep(left);
    }
}

#[test]
fn async_driver_session_under_block_on_over_blocking_sockets() {
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    sandbox.knobs().set_idle_timeout_ms(100);
    let mut session = AsyncSession::new(
        config(&sandbox),
        BlockingConnector,
        SleepingTimer(StdClock::new()),
    );
    let paths: Vec<_> = (1..=3)
        .map(|i| format!("/v2.01/{}/users/{i}", sandbox.client_id()))
        .collect();
    let outcomes = embassy_futures::block_on(
        session.request_all(paths.iter().map(|p| ApiRequest::get(p)).collect()),
    );
    for outcome in outcomes {
        assert_eq!(outcome.unwrap().status, 200);
    }
    assert_eq!(session.connections(), 1);
    // The server closes the idle connection; the next POST goes to a new one, once.
    std::thread::sleep(Duration::from_millis(400));
    let post = ApiRequest::post(&paths[0], b"{}".to_vec());
    let response = embassy_futures::block_on(session.request(post)).unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(session.connections(), 2);
    assert_eq!(sandbox.token_requests(), 1);
    let posts = sandbox
        .request_log()
        .iter()
        .filter(|r| r.method == "POST" && r.target == paths[0])
        .count();
    assert_eq!(posts, 1);
}

/// A transport whose reads never complete (and never wake anyone) and whose writes all
/// succeed: a server that never answers the ClientHello.
struct Silent;

impl embedded_io_async::ErrorType for Silent {
    type Error = std::io::Error;
}

impl embedded_io_async::Read for Silent {
    async fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        core::future::pending().await
    }
}

impl embedded_io_async::Write for Silent {
    async fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(buf.len())
    }
}

struct SilentConnector {
    opened: u32,
}

impl AsyncConnector for SilentConnector {
    type Transport = Silent;

    async fn connect(&mut self, _: &str, _: u16) -> std::io::Result<Silent> {
        self.opened += 1;
        Ok(Silent)
    }

    fn wall_clock(&self) -> UnixTime {
        wall_clock_now()
    }
}

/// A virtual clock: waiting moves time to the deadline at once.
struct Virtual(Cell<u64>);

impl Clock for Virtual {
    fn now(&self) -> Instant {
        Instant::from_millis(self.0.get())
    }
}

impl Timer for Virtual {
    async fn sleep_until(&self, deadline: Instant) {
        self.0.set(self.0.get().max(deadline.as_millis()));
    }
}

/// The only way out of a silent transport is the client's deadline, through the host's
/// timer: three handshakes time out (the client's `max_attempts`), then the request fails,
/// not sent, at exactly 3 x the request timeout on the virtual clock.
#[test]
fn async_driver_deadlines_come_from_the_host_timer() {
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    let mut config = config(&sandbox);
    config.request_timeout = Duration::from_secs(5);
    let mut session =
        AsyncSession::new(config, SilentConnector { opened: 0 }, Virtual(Cell::new(0)));
    let outcome = {
        let mut request = core::pin::pin!(session.request(ApiRequest::get("/v2.01/x/users/1")));
        // One poll suffices: each read is pending, and the virtual timer fires at once.
        embassy_futures::block_on(core::future::poll_fn(|cx| {
            match request.as_mut().poll(cx) {
                Poll::Ready(outcome) => Poll::Ready(outcome),
                Poll::Pending => panic!("the virtual timer never waits"),
            }
        }))
    };
    match outcome {
        Err(RequestError::Failed { failure, .. }) => {
            assert_eq!(failure.kind, FailureKind::NotSent);
            assert_eq!(failure.error, Error::HandshakeTimeout);
        }
        other => panic!("expected a handshake timeout, got {other:?}"),
    }
    assert_eq!(session.connector_mut().opened, 3);
    assert_eq!(sandbox.connections(), 0);
}

#[test]
fn async_driver_token_store_two_sessions_share_a_memory_store_without_tokio() {
    // The connector's default `run_blocking` (inline), under a no_std executor: two
    // sessions with caches of their own (as two processes) on one store fetch one token.
    use mtls_core::auth::{CachePolicy, MemoryStore, StoreOptions, TokenCache, TokenStore};
    use std::sync::Arc;
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    let store = Arc::new(MemoryStore::new());
    let session = || {
        let mut config = config(&sandbox);
        let shared: Arc<dyn TokenStore> = store.clone();
        config.token_cache =
            TokenCache::with_store(CachePolicy::new(), shared, StoreOptions::new());
        AsyncSession::new(config, BlockingConnector, SleepingTimer(StdClock::new()))
    };
    let (mut a, mut b) = (session(), session());
    for i in 0..3 {
        for s in [&mut a, &mut b] {
            let path = format!("/v2.01/{}/users/{i}", sandbox.client_id());
            let response = embassy_futures::block_on(s.request(ApiRequest::get(&path))).unwrap();
            assert_eq!(response.status, 200);
        }
    }
    assert_eq!(sandbox.token_requests(), 1);
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    assert!(store.load(wall).unwrap().token.is_some());
}
