//! (feature `tokio`) [`TokioPool`]: the async pool for servers, the counterpart of the
//! blocking `io::Pool`, with the same [`PoolOptions`].

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::Semaphore;

use crate::client::{ApiRequest, ClientConfig, Event, Failure, FailureKind};
use crate::error::Error;
use crate::io::pool::Template;
use crate::io::session::{Outcome, RequestError};
use crate::io::tokio_adapter::{TokioClient, TokioClock, TokioConnector};
use crate::io::PoolOptions;

/// How many notices (events other than outcomes) the pool keeps for
/// [`TokioPool::take_notices`]; older ones are dropped.
const MAX_NOTICES: usize = 256;

/// An async pool of mTLS connections to one API host, for tokio servers: clone it freely
/// (clones are the same pool, `Send + Sync`) and call [`TokioPool::request`] from any
/// number of tasks.
///
/// Each request takes a free connection (the one used last, so the others may be closed by
/// the server's keep-alive timeout), or opens a new one while fewer than
/// [`PoolOptions::max_connections`] exist, or waits (in FIFO order) up to
/// [`PoolOptions::acquire_timeout`] for one to be free; then it fails, not sent, with
/// [`Error::PoolExhausted`]. Every connection gets a clone of the configuration, so they share
/// its token cache: however many tasks call at once, they cause one token request (the first
/// connection to need it fetches it, the others wait for it). They also share one clock.
///
/// Retries and reconnects are the [`TokioClient`]'s: a kept-alive connection the server
/// closed while idle is found closed before the next request is written (which then goes to
/// a new connection, not sent); a connection that breaks under a request retries it only if
/// it is idempotent (GET, PUT, DELETE, or an `Idempotency-Key`). A request future dropped
/// before it completes drops its connection (see [`crate::io::tokio_adapter`]) and frees
/// the place for the next request.
///
/// ```
/// # use mtls_core::auth::Credentials;
/// # use mtls_core::client::Auth;
/// # use mtls_core::identity::{CaBundle, Identity};
/// # use mtls_core::tls::Trust;
/// # use mtls_sandbox::{Sandbox, SandboxConfig};
/// use mtls_core::io::{PoolOptions, TokioPool};
/// use mtls_core::{ApiRequest, ClientConfig};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let sandbox = Sandbox::start(SandboxConfig::default())?;
/// # let issued = sandbox.issue_client_identity()?;
/// # let identity = Identity::from_pem(issued.cert_pem.as_bytes(), issued.key_pem.unwrap().as_bytes())?;
/// # let trust = Trust::Custom(CaBundle::from_pem(sandbox.ca_pem().as_bytes())?);
/// # let credentials = Credentials::new(sandbox.client_id(), sandbox.api_key())?;
/// # let base_url = sandbox.base_url();
/// let config = ClientConfig::new(&base_url, Auth::ClientCredentials(credentials), &identity, trust)?;
/// let pool = TokioPool::new(config, PoolOptions { max_connections: 4, ..PoolOptions::default() });
///
/// let tasks: Vec<_> = (0..8)
///     .map(|i| {
///         let pool = pool.clone();
///         tokio::spawn(async move {
///             let path = format!("/v2.01/sandbox-client/users/{i}");
///             pool.request(ApiRequest::get(&path)).await.map(|response| response.status)
///         })
///     })
///     .collect();
/// for task in tasks {
///     assert_eq!(task.await??, 200);
/// }
/// assert!(pool.connections_opened() <= 4);
/// # assert_eq!(sandbox.token_requests(), 1); // one token for all eight
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TokioPool {
    inner: Arc<Inner>,
}

struct Inner {
    /// What each new connection gets a clone of (sharing its token cache).
    template: Template,
    options: PoolOptions,
    /// One clock for every connection: the token cache compares their instants.
    clock: TokioClock,
    /// One permit per connection that may exist; a request holds one while it runs.
    permits: Semaphore,
    slots: Mutex<Slots>,
    opened: AtomicU64,
}

struct Slots {
    /// Connections free to take, the most recently used last. With the ones taken, never
    /// more than `max_connections`: one is made only when none is free, under a permit.
    idle: Vec<(u64, TokioClient)>,
    notices: VecDeque<Event>,
}

impl core::fmt::Debug for TokioPool {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TokioPool")
            .field("host", &self.inner.template.host())
            .field("options", &self.inner.options)
            .field("connections_opened", &self.connections_opened())
            .finish_non_exhaustive()
    }
}

impl TokioPool {
    /// A pool; nothing is connected until the first request. Every connection gets a clone
    /// of `config`: they share its token cache (and any cache it was cloned from).
    pub fn new(config: ClientConfig, options: PoolOptions) -> TokioPool {
        let max_connections = options.max_connections.clamp(1, Semaphore::MAX_PERMITS);
        TokioPool {
            inner: Arc::new(Inner {
                template: Template::new(config),
                options: PoolOptions {
                    max_connections,
                    ..options
                },
                clock: TokioClock::new(),
                permits: Semaphore::new(max_connections),
                slots: Mutex::new(Slots {
                    idle: Vec::new(),
                    notices: VecDeque::new(),
                }),
                opened: AtomicU64::new(0),
            }),
        }
    }

    /// Sends one request on a pooled connection and waits for its outcome (see the type's
    /// docs for retries and cancellation). When no connection is free within
    /// [`PoolOptions::acquire_timeout`] it fails, not sent, with [`Error::PoolExhausted`].
    pub async fn request(&self, request: ApiRequest) -> Outcome {
        let acquire = self.inner.permits.acquire();
        let permit = match tokio::time::timeout(self.inner.options.acquire_timeout, acquire).await {
            Ok(Ok(permit)) => permit,
            // Elapsed; or closed, which this pool never does.
            Ok(Err(_)) | Err(_) => return Err(exhausted()),
        };
        let idle = self.lock().idle.pop();
        let (mut generation, mut client) = idle.unwrap_or_else(|| {
            let options = &self.inner.options;
            let connector = TokioConnector {
                connect_timeout: options.connect_timeout,
                io_timeout: options.io_timeout,
            };
            let (generation, config) = self.inner.template.config();
            let client = TokioClient::with_parts(config, connector, self.inner.clock);
            (generation, client)
        });
        self.inner.template.refresh(&mut generation, |template| {
            client.adopt_identity_of(template)
        });
        let mut lease = Lease {
            pool: self,
            opened_before: client.connections(),
            generation,
            client: Some(client),
            _permit: permit,
        };
        match lease.client.as_mut() {
            Some(client) => client.request(request).await,
            // INVARIANT: the lease holds its client until it is dropped.
            None => Err(exhausted()),
        }
    }

    /// Rotates the client identity of every connection without a restart: requests in
    /// flight finish with the old certificate, requests from now on go out on new
    /// connections with the new one, and the token is kept (as
    /// [`Pool::set_identity`](crate::io::Pool::set_identity)).
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
    /// the client certificate's coming expiry) gathered from every connection so far, and
    /// the `Failed` outcome of each request whose future was dropped, oldest first; at most
    /// the latest 256.
    pub fn take_notices(&self) -> Vec<Event> {
        self.lock().notices.drain(..).collect()
    }

    /// The pool's bounds (`max_connections` at least 1).
    pub fn options(&self) -> PoolOptions {
        self.inner.options
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        // A task that panicked while holding the lock left plain bookkeeping behind: carry on.
        self.inner
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// A taken connection and its permit: handed back when the request ends, however it ends
/// (completed, or its future dropped, in which case the client has already cleaned up).
struct Lease<'a> {
    pool: &'a TokioPool,
    opened_before: u32,
    /// The identity generation the client took.
    generation: u64,
    client: Option<TokioClient>,
    /// Released after `drop` has put the client back, so the next request finds it.
    _permit: tokio::sync::SemaphorePermit<'a>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let Some(mut client) = self.client.take() else {
            return;
        };
        let opened = client.connections().saturating_sub(self.opened_before);
        self.pool
            .inner
            .opened
            .fetch_add(u64::from(opened), Ordering::Relaxed);
        if std::thread::panicking() {
            // Half-way through anything: dropped, not reused; a new one may take its place.
            return;
        }
        let notices = client.take_notices();
        let mut slots = self.pool.lock();
        for notice in notices {
            if slots.notices.len() >= MAX_NOTICES {
                slots.notices.pop_front();
            }
            slots.notices.push_back(notice);
        }
        slots.idle.push((self.generation, client));
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
