//! (std) A blocking connection pool for servers: a cloneable, `Send + Sync` handle that many
//! threads call at once.
//!
//! Each pooled connection is its own [`Session`] (one [`Client`](crate::Client), one
//! kept-alive TCP connection at a time, reconnecting when the client asks), driven by the
//! thread that took it. What the connections share is the configuration, cloned for each,
//! and so its [`TokenCache`](crate::auth::TokenCache): however many threads call at once,
//! one token request is made between them (the first connection to need it fetches it; the
//! others wait for it, see [`Client`](crate::Client)'s "Tokens"). They also share one
//! monotonic clock, so that the cache's instants are on one timeline. With a cache made with
//! [`TokenCache::with_store`](crate::auth::TokenCache::with_store), the pools (and clients)
//! of several processes share one token through the store.
//!
//! # Bounds
//!
//! | what | bound |
//! |---|---|
//! | connections open at once | [`PoolOptions::max_connections`] (one per pooled session) |
//! | wait for a free connection | [`PoolOptions::acquire_timeout`], then [`Error::PoolExhausted`], not sent |
//! | TCP connect | [`PoolOptions::connect_timeout`] per address |
//! | each socket read or write | [`PoolOptions::io_timeout`] |
//! | each handshake and request | [`ClientConfig::request_timeout`] |
//! | notices kept for [`Pool::take_notices`] | the latest [`MAX_NOTICES`] |
//!
//! # Reconnects and retries
//!
//! A kept-alive connection that the server closed while it sat idle (its keep-alive
//! timeout) is found closed before the next request is written, and the request goes to a
//! new connection as not sent, whatever its method. A connection that breaks while a
//! request is on it is decided by the client's rule: a GET, a PUT, a DELETE or a request
//! with an [`IdempotencyKey`](crate::auth::IdempotencyKey) is retried on a new connection;
//! any other request (a POST without a key) is never sent twice and ends
//! [`FailureKind::OutcomeUnknown`].
//!
//! # Rotating the identity
//!
//! [`Pool::set_identity`] loads a new client identity once for the whole pool. Requests
//! already on a connection finish there with the old certificate; every connection taken
//! after the call closes its kept-alive link first, so every new request goes out on a new
//! connection that presents the new certificate. The token cache is kept.
//!
//! Not supported: pipelining or HTTP/2 (one request per connection at a time), closing
//! idle connections from the client side (the server's keep-alive timeout does it), more
//! than one host per pool.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError, RwLock};

use crate::client::{ApiRequest, ClientConfig, Event, Failure, FailureKind};
use crate::error::Error;
use crate::io::session::{Outcome, RequestError, Session};
use crate::io::std_adapter::{StdClock, TcpConnector};

/// How many notices (events other than outcomes) the pool keeps for
/// [`Pool::take_notices`]; older ones are dropped.
pub const MAX_NOTICES: usize = 256;

/// The bounds of a [`Pool`].
///
/// ```
/// use core::time::Duration;
/// use mtls_core::io::PoolOptions;
/// let options = PoolOptions {
///     max_connections: 64,
///     acquire_timeout: Duration::from_secs(2),
///     ..PoolOptions::default()
/// };
/// assert_eq!(options.io_timeout, Duration::from_secs(30));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolOptions {
    /// Most connections open at once (default 16; 0 is taken as 1).
    pub max_connections: usize,
    /// How long a request waits for a free connection when all are busy (default 10 s);
    /// then it fails, not sent, with [`Error::PoolExhausted`].
    pub acquire_timeout: Duration,
    /// Timeout for establishing each TCP connection (default 10 s).
    pub connect_timeout: Duration,
    /// Longest wait for each socket read or write (default 30 s).
    pub io_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> PoolOptions {
        PoolOptions {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            io_timeout: Duration::from_secs(30),
        }
    }
}

/// A pooled connection and the identity generation of the [`Template`] it last took.
struct Pooled {
    session: Session<TcpConnector, StdClock>,
    generation: u64,
}

/// The configuration a pool's connections are made from, and how many times its identity
/// was rotated: a connection taken after a rotation takes the new identity first. Shared
/// by [`Pool`] and [`TokioPool`](crate::io::TokioPool).
pub(crate) struct Template {
    current: RwLock<(u64, ClientConfig)>,
}

impl Template {
    pub(crate) fn new(config: ClientConfig) -> Template {
        Template {
            current: RwLock::new((0, config)),
        }
    }

    /// The configuration for a new connection, with its generation.
    pub(crate) fn config(&self) -> (u64, ClientConfig) {
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        (current.0, current.1.clone())
    }

    pub(crate) fn host(&self) -> String {
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        current.1.host().into()
    }

    /// Loads `identity` once, for every connection taken from now on.
    pub(crate) fn set_identity(&self, identity: &crate::identity::Identity) -> Result<(), Error> {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        current.1.set_identity(identity)?;
        current.0 += 1;
        Ok(())
    }

    /// Calls `adopt` with the configuration when `generation` is behind it, and catches up.
    pub(crate) fn refresh(&self, generation: &mut u64, adopt: impl FnOnce(&ClientConfig)) {
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        if current.0 != *generation {
            adopt(&current.1);
            *generation = current.0;
        }
    }
}

/// A blocking pool of mTLS connections to one API host; clone it freely (clones are the
/// same pool) and call [`Pool::request`] from any number of threads.
///
/// Each request takes a free connection (the one used last, so the others may be closed by
/// the server's keep-alive timeout), or opens a new one while fewer than
/// [`PoolOptions::max_connections`] exist, or waits up to [`PoolOptions::acquire_timeout`]
/// for one to be free. Waiting requests are served in arrival order: a connection handed
/// back goes straight to the longest waiter, so none starves while others keep arriving.
/// See the [module docs](self) for the bounds and the retry rules.
///
/// ```
/// # use mtls_core::auth::Credentials;
/// # use mtls_core::client::Auth;
/// # use mtls_core::identity::{CaBundle, Identity};
/// # use mtls_core::tls::Trust;
/// # use mtls_sandbox::{Sandbox, SandboxConfig};
/// use mtls_core::io::{Pool, PoolOptions};
/// use mtls_core::{ApiRequest, ClientConfig};
///
/// # let sandbox = Sandbox::start(SandboxConfig::default())?;
/// # let issued = sandbox.issue_client_identity()?;
/// # let identity = Identity::from_pem(issued.cert_pem.as_bytes(), issued.key_pem.unwrap().as_bytes())?;
/// # let trust = Trust::Custom(CaBundle::from_pem(sandbox.ca_pem().as_bytes())?);
/// # let credentials = Credentials::new(sandbox.client_id(), sandbox.api_key())?;
/// # let base_url = sandbox.base_url();
/// let config = ClientConfig::new(&base_url, Auth::ClientCredentials(credentials), &identity, trust)?;
/// let pool = Pool::new(config, PoolOptions { max_connections: 4, ..PoolOptions::default() });
///
/// let workers: Vec<_> = (0..8)
///     .map(|i| {
///         let pool = pool.clone();
///         std::thread::spawn(move || {
///             let path = format!("/v2.01/sandbox-client/users/{i}");
///             pool.request(ApiRequest::get(&path)).map(|response| response.status)
///         })
///     })
///     .collect();
/// for worker in workers {
///     assert_eq!(worker.join().unwrap()?, 200);
/// }
/// assert!(pool.connections_opened() <= 4);
/// # assert_eq!(sandbox.token_requests(), 1); // one token for all eight
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    /// What each new session gets a clone of (sharing its token cache).
    template: Template,
    options: PoolOptions,
    /// One clock for every session: the token cache compares their instants.
    clock: StdClock,
    slots: Mutex<Slots>,
    opened: AtomicU64,
}

struct Slots {
    /// Sessions free to take, the most recently used last. Empty while anyone waits.
    idle: Vec<Pooled>,
    /// Sessions that exist: idle, taken, or handed to a waiter.
    count: usize,
    /// Requests waiting for a session, oldest first.
    waiting: VecDeque<Waiter>,
    /// Sessions handed back to a waiter that has not woken up yet, by ticket.
    handed: Vec<(u64, Pooled)>,
    next_ticket: u64,
    notices: VecDeque<Event>,
}

/// A request waiting for a session; woken alone when one is handed to it.
struct Waiter {
    ticket: u64,
    wake: Arc<Condvar>,
}

impl core::fmt::Debug for Pool {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pool")
            .field("host", &self.inner.template.host())
            .field("options", &self.inner.options)
            .field("connections_opened", &self.connections_opened())
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// A pool; nothing is connected until the first request. Every connection gets a clone
    /// of `config`: they share its token cache (and any cache it was cloned from).
    pub fn new(config: ClientConfig, options: PoolOptions) -> Pool {
        Pool {
            inner: Arc::new(Inner {
                template: Template::new(config),
                options: PoolOptions {
                    max_connections: options.max_connections.max(1),
                    ..options
                },
                clock: StdClock::new(),
                slots: Mutex::new(Slots {
                    idle: Vec::new(),
                    count: 0,
                    waiting: VecDeque::new(),
                    handed: Vec::new(),
                    next_ticket: 0,
                    notices: VecDeque::new(),
                }),
                opened: AtomicU64::new(0),
            }),
        }
    }

    /// Sends one request on a pooled connection and waits for its outcome (see the
    /// [module docs](self) for retries). When no connection is free within
    /// [`PoolOptions::acquire_timeout`] it fails, not sent, with [`Error::PoolExhausted`].
    pub fn request(&self, request: ApiRequest) -> Outcome {
        let mut pooled = self.acquire()?;
        let unwinding = ReplaceOnUnwind(self);
        let Pooled {
            session,
            generation,
        } = &mut pooled;
        self.inner
            .template
            .refresh(generation, |template| session.adopt_identity_of(template));
        let before = session.connections();
        let outcome = session.request(request);
        let opened = session.connections().saturating_sub(before);
        self.inner
            .opened
            .fetch_add(u64::from(opened), Ordering::Relaxed);
        drop(unwinding);
        self.release(pooled);
        outcome
    }

    /// Rotates the client identity of every connection without a restart (see the
    /// [module docs](self#rotating-the-identity)): requests in flight finish with the old
    /// certificate, requests from now on go out on new connections with the new one, and
    /// the token is kept. Safe to call while other threads send requests.
    ///
    /// # Errors
    /// As [`ClientConfig::set_identity`]; the pool is then unchanged.
    pub fn set_identity(&self, identity: &crate::identity::Identity) -> Result<(), Error> {
        self.inner.template.set_identity(identity)
    }

    /// How many TCP connections the pool has opened so far (reconnects included).
    pub fn connections_opened(&self) -> u64 {
        self.inner.opened.load(Ordering::Relaxed)
    }

    /// Takes the events other than request outcomes (connections, tokens, warnings such as
    /// the client certificate's coming expiry) gathered from every connection so far, oldest
    /// first; at most the latest [`MAX_NOTICES`].
    pub fn take_notices(&self) -> Vec<Event> {
        self.lock().notices.drain(..).collect()
    }

    /// The pool's bounds (`max_connections` at least 1).
    pub fn options(&self) -> PoolOptions {
        self.inner.options
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        // Only the pool's own bookkeeping runs under the lock (no I/O, no user code); should a
        // thread have panicked there, the data is still consistent lists: carry on with it.
        self.inner
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A free session, a new one while fewer than `max_connections` exist, or the first one
    /// handed back within the acquire timeout (in arrival order).
    fn acquire(&self) -> Result<Pooled, RequestError> {
        let started = std::time::Instant::now();
        let mut slots = self.lock();
        // Nobody is waiting whenever a session is idle (`release` hands it over instead).
        if let Some(session) = slots.idle.pop() {
            return Ok(session);
        }
        if slots.count < self.inner.options.max_connections {
            slots.count += 1;
            drop(slots);
            return Ok(self.new_session());
        }
        let ticket = slots.next_ticket;
        slots.next_ticket = slots.next_ticket.wrapping_add(1);
        let wake = Arc::new(Condvar::new());
        slots.waiting.push_back(Waiter {
            ticket,
            wake: wake.clone(),
        });
        loop {
            if let Some(at) = slots.handed.iter().position(|(t, _)| *t == ticket) {
                return Ok(slots.handed.swap_remove(at).1);
            }
            let left = match self
                .inner
                .options
                .acquire_timeout
                .checked_sub(started.elapsed())
            {
                Some(left) if !left.is_zero() => left,
                _ => {
                    slots.waiting.retain(|w| w.ticket != ticket);
                    return Err(exhausted());
                }
            };
            slots = wake
                .wait_timeout(slots, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn new_session(&self) -> Pooled {
        let options = &self.inner.options;
        let connector = TcpConnector {
            connect_timeout: options.connect_timeout,
            io_timeout: options.io_timeout,
        };
        let (generation, config) = self.inner.template.config();
        Pooled {
            session: Session::new(config, connector, self.inner.clock),
            generation,
        }
    }

    /// Hands a session back (with its kept-alive connection) to the longest waiter, or to
    /// the idle ones; its notices go to the pool's.
    fn release(&self, mut session: Pooled) {
        let notices = core::mem::take(&mut session.session.notices);
        let mut slots = self.lock();
        for notice in notices {
            if slots.notices.len() >= MAX_NOTICES {
                slots.notices.pop_front();
            }
            slots.notices.push_back(notice);
        }
        match slots.waiting.pop_front() {
            Some(waiter) => {
                slots.handed.push((waiter.ticket, session));
                waiter.wake.notify_one();
            }
            None => slots.idle.push(session),
        }
    }
}

/// The failure of a request that found no free connection in time.
fn exhausted() -> RequestError {
    RequestError::Failed {
        failure: Failure {
            kind: FailureKind::NotSent,
            error: Error::PoolExhausted,
        },
        transport: None,
    }
}

/// Replaces a taken session if the request unwinds (a bug): the session may be half-way
/// through anything, so it is dropped, not reused, and a fresh one (not connected) takes its
/// place, so that a waiter still gets one.
struct ReplaceOnUnwind<'a>(&'a Pool);

impl Drop for ReplaceOnUnwind<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.release(self.0.new_session());
        }
    }
}
