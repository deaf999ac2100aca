//! Token stores: one token for several processes (or machines), and the host-side logic that
//! keeps a [`TokenCache`] in step with one.
//!
//! The trait and [`MemoryStore`] are `no_std` + alloc. Stores that do I/O live with the std
//! hosts: [`FileStore`](crate::io::file_store::FileStore) (several processes on one machine)
//! and, with the `redis` feature, `RedisStore` (a fleet). The client's state machine never
//! calls a store; the hosts that drive sessions do, through [`StoreLink::sync`], between
//! reads of their transport.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use super::cache::{Generation, TokenCache};
use super::token::MAX_EXPIRES_IN_SECS;
use super::ExportedToken;
use crate::time::Instant;

/// A store's version of its token: increases with every change (0: never written).
/// Compare-and-replace takes the version the caller last saw, so that a change made
/// meanwhile by another process is not overwritten blindly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StoreVersion(pub u64);

/// What [`TokenStore::load`] found: the version, and the token if one is stored and not
/// expired at the `now` given (its remaining lifetime counted from there).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreSnapshot {
    /// The current version.
    pub version: StoreVersion,
    /// The token, unless none is stored or it has expired. `Debug` redacts it.
    pub token: Option<ExportedToken>,
}

/// The answer to [`TokenStore::try_lease`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lease {
    /// The caller holds the refresh lease (taken, or renewed if it held it already).
    Granted,
    /// Another holder has it; it ends at the latest `for_at_most` from now.
    Held {
        /// The time left on the other holder's lease (as far as the store knows).
        for_at_most: Duration,
    },
}

/// Why a store could not answer. Free of secrets: stores put no token in their errors.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreError {
    /// The store did not answer within its timeout (a lock held too long, a slow server).
    Timeout,
    /// The store cannot be reached or refused the operation; the message says why (an OS
    /// or server error, never a token).
    Unavailable(alloc::string::String),
    /// What the store holds is not something this crate wrote.
    Corrupt(&'static str),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Timeout => f.write_str("the token store did not answer in time"),
            StoreError::Unavailable(why) => write!(f, "the token store is unavailable: {why}"),
            StoreError::Corrupt(what) => write!(f, "the token store holds unreadable data: {what}"),
        }
    }
}

impl core::error::Error for StoreError {}

/// Shared storage for one access token, with a refresh lease, so that several processes
/// fetch one token between them (as the official SDKs' storage strategies do).
///
/// `now` is the wall-clock time since the Unix epoch, as the caller's clock says (stores
/// compare it with what other processes wrote: the machines' clocks must roughly agree,
/// as NTP keeps them). Every method must return within a bounded time: a store that cannot
/// answer in time returns [`StoreError::Timeout`], and the hosts then carry on without it.
///
/// The contract:
/// - `load` never blocks on the lease and never returns an expired token.
/// - `compare_and_replace` is atomic: it writes only if the version is still `expected`, and
///   then the version goes up by one. `None` removes the token (a `401` rejected it).
/// - `try_lease` gives the lease to one holder at a time; it ends after `lease` unless
///   renewed, so a holder that dies does not block the others for longer than that.
/// - `release` ends the lease if `holder` still has it, and does nothing otherwise.
///
/// ```
/// use core::time::Duration;
/// use mtls_core::auth::{AccessToken, ExportedToken, Lease, MemoryStore, StoreVersion, TokenStore};
///
/// let store = MemoryStore::new();
/// let now = Duration::from_secs(1_800_000_000);
/// assert_eq!(store.try_lease(1, Duration::from_secs(10), now)?, Lease::Granted);
/// assert!(matches!(store.try_lease(2, Duration::from_secs(10), now)?, Lease::Held { .. }));
/// let token = ExportedToken::new(AccessToken::new("t0k3n")?, Duration::from_secs(3600));
/// let v1 = store.compare_and_replace(StoreVersion(0), Some(&token), now)?;
/// assert_eq!(v1, Some(StoreVersion(1)));
/// store.release(1, now)?;
/// // A stale writer does not overwrite it.
/// assert_eq!(store.compare_and_replace(StoreVersion(0), None, now)?, None);
/// let later = store.load(now + Duration::from_secs(600))?;
/// assert_eq!(later.token.map(|t| t.remaining()), Some(Duration::from_secs(3000)));
/// # Ok::<(), Box<dyn core::error::Error>>(())
/// ```
pub trait TokenStore: Send + Sync {
    /// The current version and token.
    ///
    /// # Errors
    /// The store could not be read in time.
    fn load(&self, now: Duration) -> Result<StoreSnapshot, StoreError>;

    /// Replaces the token (or removes it, with `None`) if the version is still `expected`;
    /// returns the new version, or `None` when the version had moved on (nothing written).
    ///
    /// # Errors
    /// The store could not be written in time.
    fn compare_and_replace(
        &self,
        expected: StoreVersion,
        token: Option<&ExportedToken>,
        now: Duration,
    ) -> Result<Option<StoreVersion>, StoreError>;

    /// Takes (or renews) the refresh lease for `holder`, for `lease`.
    ///
    /// # Errors
    /// The store could not be reached in time.
    fn try_lease(&self, holder: u64, lease: Duration, now: Duration) -> Result<Lease, StoreError>;

    /// Ends `holder`'s lease, if it still has it.
    ///
    /// # Errors
    /// The store could not be reached in time.
    fn release(&self, holder: u64, now: Duration) -> Result<(), StoreError>;
}

/// The expiry of a token exported at `now`, as milliseconds since the Unix epoch.
pub(crate) fn expiry_ms(token: &ExportedToken, now: Duration) -> u64 {
    let at = now.saturating_add(token.remaining());
    u64::try_from(at.as_millis()).unwrap_or(u64::MAX)
}

/// The token's remaining lifetime at `now`, from its expiry in milliseconds since the
/// epoch: `None` once expired (and, for data this crate did not write, beyond a year).
pub(crate) fn remaining_at(expires_ms: u64, now: Duration) -> Option<Duration> {
    let left = Duration::from_millis(expires_ms).checked_sub(now)?;
    (!left.is_zero() && left <= Duration::from_secs(MAX_EXPIRES_IN_SECS)).then_some(left)
}

/// A store in this process's memory, `no_std`: for tests, for hosts that keep one store for
/// several caches, and as the reference for other implementations.
#[derive(Default)]
pub struct MemoryStore {
    state: spin::Mutex<MemoryState>,
}

#[derive(Default)]
struct MemoryState {
    version: u64,
    token: Option<(super::AccessToken, u64)>,
    lease: Option<(u64, Duration)>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

impl TokenStore for MemoryStore {
    fn load(&self, now: Duration) -> Result<StoreSnapshot, StoreError> {
        let state = self.state.lock();
        let token = state.token.as_ref().and_then(|(token, expires)| {
            remaining_at(*expires, now).map(|left| ExportedToken::new(token.clone(), left))
        });
        Ok(StoreSnapshot {
            version: StoreVersion(state.version),
            token,
        })
    }

    fn compare_and_replace(
        &self,
        expected: StoreVersion,
        token: Option<&ExportedToken>,
        now: Duration,
    ) -> Result<Option<StoreVersion>, StoreError> {
        let mut state = self.state.lock();
        if state.version != expected.0 {
            return Ok(None);
        }
        state.version = state.version.wrapping_add(1);
        state.token = token.map(|t| (t.token().clone(), expiry_ms(t, now)));
        Ok(Some(StoreVersion(state.version)))
    }

    fn try_lease(&self, holder: u64, lease: Duration, now: Duration) -> Result<Lease, StoreError> {
        let mut state = self.state.lock();
        match state.lease {
            Some((other, until)) if other != holder && until > now => Ok(Lease::Held {
                for_at_most: until - now,
            }),
            _ => {
                state.lease = Some((holder, now.saturating_add(lease)));
                Ok(Lease::Granted)
            }
        }
    }

    fn release(&self, holder: u64, _now: Duration) -> Result<(), StoreError> {
        let mut state = self.state.lock();
        if state.lease.is_some_and(|(h, _)| h == holder) {
            state.lease = None;
        }
        Ok(())
    }
}

/// How a cache uses its store.
///
/// ```
/// use core::time::Duration;
/// use mtls_core::auth::StoreOptions;
/// let options = StoreOptions::new().with_lease(Duration::from_secs(5));
/// assert_eq!(options.lease(), Duration::from_secs(5));
/// assert_eq!(options.retry_after(), StoreOptions::DEFAULT_RETRY_AFTER);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    lease: Duration,
    retry_after: Duration,
    poll_interval: Duration,
}

impl StoreOptions {
    /// 15 s: a token request takes well under that; a holder that died blocks the others
    /// for at most this long.
    pub const DEFAULT_LEASE: Duration = Duration::from_secs(15);
    /// 5 s.
    pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);
    /// 25 ms.
    pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(25);

    /// The defaults.
    pub const fn new() -> StoreOptions {
        StoreOptions {
            lease: Self::DEFAULT_LEASE,
            retry_after: Self::DEFAULT_RETRY_AFTER,
            poll_interval: Self::DEFAULT_POLL_INTERVAL,
        }
    }

    /// How long the refresh lease lasts: a process that dies holding it blocks the others'
    /// refresh for at most this long.
    pub const fn with_lease(mut self, lease: Duration) -> StoreOptions {
        self.lease = lease;
        self
    }

    /// After a store error, how long the cache works without the store (as a private cache)
    /// before trying it again.
    pub const fn with_retry_after(mut self, retry_after: Duration) -> StoreOptions {
        self.retry_after = retry_after;
        self
    }

    /// How often a process waiting for another's refresh reads the store.
    pub const fn with_poll_interval(mut self, interval: Duration) -> StoreOptions {
        self.poll_interval = interval;
        self
    }

    /// See [`StoreOptions::with_lease`].
    pub const fn lease(&self) -> Duration {
        self.lease
    }

    /// See [`StoreOptions::with_retry_after`].
    pub const fn retry_after(&self) -> Duration {
        self.retry_after
    }

    /// See [`StoreOptions::with_poll_interval`].
    pub const fn poll_interval(&self) -> Duration {
        self.poll_interval
    }
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions::new()
    }
}

/// What [`StoreLink::sync`] reports to the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum StoreNotice {
    /// The store failed; the cache works on its own until `retry_after` has passed.
    Unavailable(StoreError),
    /// The store answers again after an outage.
    Recovered,
    /// A token was taken from the store instead of fetched.
    Loaded,
    /// This process took the refresh lease and may fetch.
    LeaseTaken,
    /// A fetched token was written to the store.
    Published,
    /// A token a `401` rejected was removed from the store.
    Removed,
}

/// A cache's store and what the cache knows of it; shared by the cache's clones.
pub(crate) struct StoreLink {
    store: Arc<dyn TokenStore>,
    options: StoreOptions,
    holder: u64,
    state: spin::Mutex<LinkState>,
}

#[derive(Default)]
struct LinkState {
    /// The local token's generation and the store version it is.
    synced: Option<(Generation, StoreVersion)>,
    /// The version seen when this process took the lease, while it holds it.
    leased: Option<StoreVersion>,
    /// When the permit was granted (to take it back if nobody used it).
    permit_at: Option<Instant>,
    /// No store reads before this (waiting for another's refresh, or after an error).
    quiet_until: Option<Instant>,
    /// The store failed and has not answered since.
    down: bool,
}

/// A permit nobody used within this is taken back (and the lease released).
const PERMIT_GRACE: Duration = Duration::from_secs(2);

impl StoreLink {
    pub(crate) fn new(store: Arc<dyn TokenStore>, options: StoreOptions) -> StoreLink {
        StoreLink {
            store,
            options,
            holder: holder_id(),
            state: spin::Mutex::new(LinkState::default()),
        }
    }

    /// Brings `cache` and the store in step; the hosts call it before a request and
    /// between reads (every few milliseconds while a request waits for a token). `now` is
    /// the monotonic clock of the cache; `wall` the wall clock since the Unix epoch.
    ///
    /// Only one caller works at a time: should another thread be in here, this returns at
    /// once (that one does the work for the cache both share). Store calls are bounded by
    /// the store's own timeouts; on an error the store is skipped for `retry_after` and
    /// fetches go ahead locally. With `start` false (a request is over) it only finishes
    /// what is under way (publishes, releases) and starts no load or lease.
    pub(crate) fn sync(
        &self,
        cache: &TokenCache,
        now: Instant,
        wall: Duration,
        start: bool,
        notices: &mut Vec<StoreNotice>,
    ) {
        cache.gate_touch(now);
        let Some(mut link) = self.state.try_lock() else {
            return;
        };
        if link.quiet_until.is_some_and(|t| now < t) {
            Self::degraded(&link, cache, now, start);
            return;
        }
        link.quiet_until = None;
        if let Err(e) = self.step(&mut link, cache, now, wall, start, notices) {
            if !link.down {
                notices.push(StoreNotice::Unavailable(e));
            }
            link.down = true;
            link.leased = None;
            link.quiet_until = Some(now + self.options.retry_after);
            if start && cache.wants_fetch(now) {
                cache.grant_fetch();
            }
        } else if link.down {
            link.down = false;
            notices.push(StoreNotice::Recovered);
        }
    }

    /// [`StoreLink::sync`] without the store: does what needs no store call (marks the
    /// host's look, grants the local fetch of a degraded cache) and says whether `sync`
    /// has store work to do now. For hosts that must not block where they poll (the tokio
    /// hosts): they call this inline and, only when it says so, `sync` where blocking is
    /// allowed. Conservative: `true` when `sync` may call the store; `false` only when it
    /// would not (should the state change meanwhile, the next turn catches up).
    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    pub(crate) fn sync_local(&self, cache: &TokenCache, now: Instant, start: bool) -> bool {
        cache.gate_touch(now);
        let Some(link) = self.state.try_lock() else {
            // Another caller is in `sync`: it does the work for the cache both share.
            return false;
        };
        if link.quiet_until.is_some_and(|t| now < t) {
            Self::degraded(&link, cache, now, start);
            return false;
        }
        // What `step` does before it returns without a store call, in its order.
        if cache.has_rejected() {
            return true;
        }
        if link.leased.is_some() {
            let unused_permit = link.permit_at.is_some_and(|at| now >= at + PERMIT_GRACE);
            return unused_permit || !cache.fetch_pending(now);
        }
        start && cache.wants_fetch(now)
    }

    /// While the store is skipped after an error: a private cache, single-flight in this
    /// process only.
    fn degraded(link: &LinkState, cache: &TokenCache, now: Instant, start: bool) {
        if link.down && start && cache.wants_fetch(now) {
            cache.grant_fetch();
        }
    }

    fn step(
        &self,
        link: &mut LinkState,
        cache: &TokenCache,
        now: Instant,
        wall: Duration,
        start: bool,
        notices: &mut Vec<StoreNotice>,
    ) -> Result<(), StoreError> {
        // A 401 rejected the token we had from the store: remove it there, once, for all.
        if let Some(rejected) = cache.take_rejected() {
            if let Some((generation, version)) = link.synced {
                if generation == rejected {
                    link.synced = None;
                    if self
                        .store
                        .compare_and_replace(version, None, wall)?
                        .is_some()
                    {
                        notices.push(StoreNotice::Removed);
                    }
                }
            }
        }
        if let Some(seen) = link.leased {
            if let Some(at) = link.permit_at {
                if now >= at + PERMIT_GRACE && cache.revoke_fetch() {
                    // Nobody needed the token after all.
                    link.permit_at = None;
                }
            }
            if cache.fetch_pending(now) {
                return Ok(());
            }
            // Our fetch is over: publish what it brought, then let the others go.
            link.leased = None;
            link.permit_at = None;
            let current = cache.current(now);
            let fetched = current
                .as_ref()
                .filter(|t| link.synced.is_none_or(|(g, _)| g != t.generation()));
            if let (Some(token), Some(exported)) = (fetched, cache.export(now)) {
                let mut expected = seen;
                // Bounded: a second conflict means a busy store; the token stays ours.
                for _ in 0..2 {
                    match self
                        .store
                        .compare_and_replace(expected, Some(&exported), wall)?
                    {
                        Some(version) => {
                            link.synced = Some((token.generation(), version));
                            notices.push(StoreNotice::Published);
                            break;
                        }
                        // Another process wrote meanwhile (its lease had expired ours):
                        // both tokens are valid; the last one written is shared.
                        None => expected = self.store.load(wall)?.version,
                    }
                }
            }
            self.store.release(self.holder, wall)?;
        }
        if !start || !cache.wants_fetch(now) {
            return Ok(());
        }
        if self.take_stored(link, cache, now, wall, notices)?.is_none() {
            return Ok(());
        }
        match self
            .store
            .try_lease(self.holder, self.options.lease, wall)?
        {
            Lease::Granted => {
                // Loading and leasing are two steps: the holder before us may have
                // published and released in between. Look again, now that no one else can.
                let Some(version) = self.take_stored(link, cache, now, wall, notices)? else {
                    self.store.release(self.holder, wall)?;
                    return Ok(());
                };
                link.leased = Some(version);
                link.permit_at = Some(now);
                cache.grant_fetch();
                notices.push(StoreNotice::LeaseTaken);
            }
            Lease::Held { for_at_most } => {
                // Another process is fetching: look again shortly (a still-valid token is
                // used meanwhile).
                let wait = self.options.poll_interval.min(for_at_most);
                link.quiet_until = Some(now + wait.max(Duration::from_millis(1)));
            }
        }
        Ok(())
    }

    /// Imports the store's token when it is another than the one this cache has (or had:
    /// the one it wants to refresh, or a `401` rejected), so newer: `None` then; otherwise
    /// the version seen, with no usable token.
    ///
    /// The same version is never taken twice: a token due for refresh is refreshed (under
    /// the lease), not re-imported with its short remaining lifetime again and again.
    fn take_stored(
        &self,
        link: &mut LinkState,
        cache: &TokenCache,
        now: Instant,
        wall: Duration,
        notices: &mut Vec<StoreNotice>,
    ) -> Result<Option<StoreVersion>, StoreError> {
        let snapshot = self.store.load(wall)?;
        if let Some(token) = &snapshot.token {
            if link.synced.map(|(_, v)| v) != Some(snapshot.version) {
                // INVARIANT: `load` returns only unexpired tokens within a year, which is
                // what `import` accepts; should a store break that, fetch instead.
                if let Ok(imported) = cache.import(token, now) {
                    link.synced = Some((imported.generation(), snapshot.version));
                    notices.push(StoreNotice::Loaded);
                    return Ok(None);
                }
            }
        }
        Ok(Some(snapshot.version))
    }
}

/// A holder id for the lease: random, so that processes (and caches) do not collide.
fn holder_id() -> u64 {
    let mut bytes = [0u8; 8];
    // Without randomness (a bare-metal host that registered none), the address of a local
    // and a counter still differ between the caches of one process; processes then risk
    // sharing an id, which only makes the lease shared between them.
    if getrandom::getrandom(&mut bytes).is_err() {
        // `usize`: 32-bit microcontrollers have no 64-bit atomics.
        static NEXT: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(1);
        let n = NEXT.fetch_add(1, core::sync::atomic::Ordering::Relaxed) as u64;
        let here = &bytes as *const _ as usize as u64;
        return n ^ here.rotate_left(17);
    }
    u64::from_le_bytes(bytes)
}

impl fmt::Debug for StoreLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreLink")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    //! The store protocol on virtual clocks: caches standing for processes, driven by hand
    //! the way a session drives them (sync, then acquire; complete the fetch; 401).
    use super::*;
    use crate::auth::cache::{Acquire, GATE_SILENCE};
    use crate::auth::token::TokenResponse;
    use crate::auth::{AccessToken, CachePolicy};

    const WALL0: Duration = Duration::from_secs(1_800_000_000);

    struct Process {
        cache: TokenCache,
        notices: Vec<StoreNotice>,
    }

    impl Process {
        fn new(store: &Arc<MemoryStore>) -> Process {
            let store: Arc<dyn TokenStore> = store.clone();
            Process {
                cache: TokenCache::with_store(CachePolicy::new(), store, StoreOptions::new()),
                notices: Vec::new(),
            }
        }

        /// One host turn at `t` seconds: sync, then what the client's acquire says.
        fn turn(&mut self, t: u64) -> Acquire {
            let link = self.cache.store_link().expect("a store");
            link.sync(
                &self.cache,
                Instant::from_secs(t),
                WALL0 + Duration::from_secs(t),
                true,
                &mut self.notices,
            );
            self.cache.acquire(Instant::from_secs(t))
        }

        fn finish(&mut self, t: u64) {
            let link = self.cache.store_link().expect("a store");
            let wall = WALL0 + Duration::from_secs(t);
            link.sync(
                &self.cache,
                Instant::from_secs(t),
                wall,
                false,
                &mut self.notices,
            );
        }
    }

    fn response(token: &str) -> Result<TokenResponse, crate::auth::AuthError> {
        Ok(TokenResponse {
            access_token: AccessToken::new(token).unwrap(),
            expires_in: Some(Duration::from_secs(3600)),
        })
    }

    fn bearer(acquire: Acquire) -> alloc::string::String {
        match acquire {
            Acquire::Valid(token) => token.token().expose().into(),
            other => panic!("expected a token, got {other:?}"),
        }
    }

    #[test]
    fn token_store_protocol_one_fetch_for_two_caches() {
        let store = Arc::new(MemoryStore::new());
        let (mut a, mut b) = (Process::new(&store), Process::new(&store));
        let Acquire::Fetch(ticket) = a.turn(0) else {
            panic!("a fetches")
        };
        assert_eq!(a.notices, [StoreNotice::LeaseTaken]);
        // b finds the lease taken and no token: it waits, it does not fetch.
        assert!(matches!(b.turn(0), Acquire::Wait { .. }));
        ticket
            .complete(response("t1"), Instant::from_secs(1))
            .unwrap();
        a.finish(1);
        assert_eq!(a.notices, [StoreNotice::LeaseTaken, StoreNotice::Published]);
        // b, a poll interval later, loads it.
        assert_eq!(bearer(b.turn(2)), "t1");
        assert_eq!(b.notices, [StoreNotice::Loaded]);
        // A 401 at b removes it from the store; b leases and fetches; a, rejected in turn,
        // takes b's token: two fetches in all.
        let Acquire::Valid(token) = b.cache.acquire(Instant::from_secs(3)) else {
            panic!()
        };
        assert!(b.cache.invalidate(token.generation()));
        let Acquire::Fetch(ticket) = b.turn(3) else {
            panic!("b refetches")
        };
        assert!(b
            .notices
            .ends_with(&[StoreNotice::Removed, StoreNotice::LeaseTaken]));
        ticket
            .complete(response("t2"), Instant::from_secs(4))
            .unwrap();
        b.finish(4);
        let Acquire::Valid(old) = a.cache.acquire(Instant::from_secs(5)) else {
            panic!()
        };
        assert_eq!(old.token().expose(), "t1");
        assert!(a.cache.invalidate(old.generation()));
        assert_eq!(bearer(a.turn(5)), "t2");
        assert!(a.notices.ends_with(&[StoreNotice::Loaded]));
        assert_eq!(store.load(WALL0).unwrap().version, StoreVersion(3));
    }

    /// A [`MemoryStore`] that counts the calls that reach it.
    #[derive(Default)]
    struct Counting {
        inner: MemoryStore,
        calls: core::sync::atomic::AtomicUsize,
    }

    impl Counting {
        fn calls(&self) -> usize {
            self.calls.load(core::sync::atomic::Ordering::Relaxed)
        }
        fn count(&self) {
            self.calls
                .fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        }
    }

    impl TokenStore for Counting {
        fn load(&self, now: Duration) -> Result<StoreSnapshot, StoreError> {
            self.count();
            self.inner.load(now)
        }
        fn compare_and_replace(
            &self,
            expected: StoreVersion,
            token: Option<&ExportedToken>,
            now: Duration,
        ) -> Result<Option<StoreVersion>, StoreError> {
            self.count();
            self.inner.compare_and_replace(expected, token, now)
        }
        fn try_lease(
            &self,
            holder: u64,
            lease: Duration,
            now: Duration,
        ) -> Result<Lease, StoreError> {
            self.count();
            self.inner.try_lease(holder, lease, now)
        }
        fn release(&self, holder: u64, now: Duration) -> Result<(), StoreError> {
            self.count();
            self.inner.release(holder, now)
        }
    }

    /// One host turn as the tokio hosts take it: `sync_local`, then `sync`. Returns
    /// (what `sync_local` said, whether `sync` called the store).
    fn local_then_sync(
        cache: &TokenCache,
        store: &Counting,
        t_ms: u64,
        start: bool,
    ) -> (bool, bool) {
        let link = cache.store_link().expect("a store");
        let now = Instant::from_millis(t_ms);
        let local = link.sync_local(cache, now, start);
        let before = store.calls();
        let mut notices = Vec::new();
        link.sync(
            cache,
            now,
            WALL0 + Duration::from_millis(t_ms),
            start,
            &mut notices,
        );
        (local, store.calls() > before)
    }

    #[test]
    fn token_store_protocol_sync_local_says_when_sync_calls_the_store() {
        let store = Arc::new(Counting::default());
        let shared: Arc<dyn TokenStore> = store.clone();
        let a = TokenCache::with_store(CachePolicy::new(), shared.clone(), StoreOptions::new());
        let b = TokenCache::with_store(CachePolicy::new(), shared, StoreOptions::new());
        // No token anywhere: both have store work (a takes the lease, b finds it held).
        assert_eq!(local_then_sync(&a, &store, 0, true), (true, true));
        let Acquire::Fetch(ticket) = a.acquire(Instant::from_millis(0)) else {
            panic!("a fetches")
        };
        assert_eq!(local_then_sync(&b, &store, 0, true), (true, true));
        // b waits a poll interval before it reads again; a's fetch is in flight.
        assert_eq!(local_then_sync(&b, &store, 10, true), (false, false));
        assert_eq!(local_then_sync(&a, &store, 10, true), (false, false));
        ticket
            .complete(response("t1"), Instant::from_millis(20))
            .unwrap();
        // a's fetch is over: publish and release (even with `start` false).
        assert_eq!(local_then_sync(&a, &store, 30, false), (true, true));
        // A fresh token and nothing under way: no store work.
        assert_eq!(local_then_sync(&a, &store, 40, true), (false, false));
        assert_eq!(local_then_sync(&a, &store, 40, false), (false, false));
        // b's quiet time is over and it has no token: it loads a's.
        assert_eq!(local_then_sync(&b, &store, 50, true), (true, true));
        assert_eq!(bearer(b.acquire(Instant::from_millis(50))), "t1");
        assert_eq!(local_then_sync(&b, &store, 60, true), (false, false));
        // A 401 at b: the removal is store work.
        let Acquire::Valid(token) = b.acquire(Instant::from_millis(70)) else {
            panic!()
        };
        assert!(b.invalidate(token.generation()));
        assert_eq!(local_then_sync(&b, &store, 70, false), (true, true));
    }

    #[test]
    fn token_store_protocol_a_cache_no_host_syncs_opens_its_gate() {
        let store = Arc::new(MemoryStore::new());
        let mut a = Process::new(&store);
        // Another process holds the lease for long.
        store.try_lease(7, Duration::from_secs(600), WALL0).unwrap();
        assert!(matches!(a.turn(0), Acquire::Wait { .. }));
        // The host stops calling: after GATE_SILENCE the cache lets a caller fetch alone.
        assert!(matches!(
            a.cache.acquire(Instant::from_secs(1)),
            Acquire::Wait { .. }
        ));
        assert!(matches!(
            a.cache.acquire(Instant::from_secs(0) + GATE_SILENCE),
            Acquire::Fetch(_)
        ));
    }
}
