//! The token cache: expiry tracking on the host's monotonic clock and single-flight refresh.
//!
//! The rules are in [`TokenCache`]'s docs. This module is crate-private: the user-facing
//! types are re-exported from [`crate::auth`]; [`Acquire`], [`FetchTicket`], [`Generation`]
//! and the `*Ext` traits are the client's, reachable by the layer tests only through the
//! `internals` door.

use alloc::sync::Arc;
use core::fmt;
use core::time::Duration;

use super::credentials::AuthorizationValue;
use super::store::{StoreLink, StoreOptions, TokenStore};
use super::token::{AccessToken, TokenResponse, MAX_EXPIRES_IN_SECS};
use super::AuthError;
use crate::time::Instant;

/// Refresh margin, fetch timeout, and the lifetime assumed when the server does not say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CachePolicy {
    refresh_margin: Duration,
    fetch_timeout: Duration,
    default_lifetime: Duration,
}

impl CachePolicy {
    /// 30 s, as the official Mangopay SDKs.
    pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(30);
    /// 30 s.
    pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(30);

    /// 300 s. `expires_in` is only RECOMMENDED (RFC 6749, section 5.1); for a server that
    /// leaves it out, a short guess costs a token request every few minutes, while a long
    /// one would use a token past its end (a `401`, then one refresh and retry).
    pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

    /// The defaults: 30 s refresh margin, 30 s fetch timeout, 300 s assumed lifetime.
    pub const fn new() -> CachePolicy {
        CachePolicy {
            refresh_margin: Self::DEFAULT_REFRESH_MARGIN,
            fetch_timeout: Self::DEFAULT_FETCH_TIMEOUT,
            default_lifetime: Self::DEFAULT_LIFETIME,
        }
    }

    /// The lifetime of a token whose response has no `expires_in`.
    pub const fn with_default_lifetime(mut self, lifetime: Duration) -> CachePolicy {
        self.default_lifetime = lifetime;
        self
    }

    /// The lifetime of a fetched token: what the server said, or the default.
    pub(crate) fn lifetime_of(&self, response: &TokenResponse) -> Duration {
        response.expires_in.unwrap_or(self.default_lifetime)
    }

    /// How long before expiry a token is refreshed.
    pub const fn with_refresh_margin(mut self, margin: Duration) -> CachePolicy {
        self.refresh_margin = margin;
        self
    }

    /// How long a fetch may stay in flight before another caller may start one.
    pub const fn with_fetch_timeout(mut self, timeout: Duration) -> CachePolicy {
        self.fetch_timeout = timeout;
        self
    }

    /// How long a token with `lifetime` left is reused before refreshing:
    /// `lifetime - margin`, or `lifetime / 2` when `lifetime <= margin` (with the default
    /// 30 s margin: 3600 s gives 3570 s, 20 s gives 10 s).
    fn usable_for(&self, lifetime: Duration) -> Duration {
        if lifetime > self.refresh_margin {
            lifetime - self.refresh_margin
        } else {
            lifetime / 2
        }
    }
}

impl Default for CachePolicy {
    fn default() -> CachePolicy {
        CachePolicy::new()
    }
}

/// Which installed token a [`CachedToken`] is; increases with every token installed. The
/// client keeps it with each request sent, to invalidate on a `401` only the token that
/// request carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Generation(u64);

impl Generation {
    /// The number (starts at 1 for the first token of a cache).
    #[cfg(any(fuzzing, feature = "internals"))]
    pub const fn get(self) -> u64 {
        self.0
    }
}

/// A token as held by the cache, with its expiry. `Debug` redacts the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedToken {
    token: AccessToken,
    expires_at: Instant,
    refresh_at: Instant,
    generation: Generation,
}

impl CachedToken {
    /// The token.
    pub fn token(&self) -> &AccessToken {
        &self.token
    }

    /// When the server stops accepting it (by our conservative count), on the monotonic
    /// clock of the `now` values given to the cache.
    pub fn expires_at(&self) -> Instant {
        self.expires_at
    }

    /// Its generation: kept with each request sent, passed to `invalidate` on a 401.
    pub(crate) fn generation(&self) -> Generation {
        self.generation
    }

    /// `Bearer {token}` for the `Authorization` header (the client writes it through
    /// [`AccessToken::write_bearer`] instead, into a reused buffer).
    #[cfg_attr(not(any(fuzzing, feature = "internals")), allow(dead_code))]
    pub(crate) fn bearer_header(&self) -> AuthorizationValue {
        self.token.bearer_header()
    }

    /// Whether `now` is before `refresh_at` (see `CachePolicy::usable_for`).
    fn is_fresh(&self, now: Instant) -> bool {
        now < self.refresh_at
    }

    /// Whether `now` is at or after [`CachedToken::expires_at`].
    fn is_expired(&self, now: Instant) -> bool {
        now >= self.expires_at
    }
}

/// [`CachedToken`]'s client-side methods, for the layer tests (the `internals` door).
#[cfg(any(fuzzing, feature = "internals"))]
pub trait CachedTokenExt {
    /// When the cache starts refreshing it: `CachePolicy::usable_for` after the fetch.
    fn refresh_at(&self) -> Instant;
    /// Its generation.
    fn generation(&self) -> Generation;
    /// `Bearer {token}` for the `Authorization` header.
    fn bearer_header(&self) -> AuthorizationValue;
    /// Whether `now` is before [`CachedTokenExt::refresh_at`].
    fn is_fresh(&self, now: Instant) -> bool;
    /// Whether `now` is at or after [`CachedToken::expires_at`].
    fn is_expired(&self, now: Instant) -> bool;
}

#[cfg(any(fuzzing, feature = "internals"))]
impl CachedTokenExt for CachedToken {
    fn refresh_at(&self) -> Instant {
        self.refresh_at
    }
    fn generation(&self) -> Generation {
        CachedToken::generation(self)
    }
    fn bearer_header(&self) -> AuthorizationValue {
        CachedToken::bearer_header(self)
    }
    fn is_fresh(&self, now: Instant) -> bool {
        CachedToken::is_fresh(self, now)
    }
    fn is_expired(&self, now: Instant) -> bool {
        CachedToken::is_expired(self, now)
    }
}

/// What `TokenCache::acquire` tells the caller to do.
#[must_use]
#[derive(Debug)]
// `Valid` (the common answer) holds the token inline; boxing it would allocate per request.
#[allow(clippy::large_enum_variant)]
pub enum Acquire {
    /// Use this token.
    Valid(CachedToken),
    /// This caller, and no other, must fetch a token, then complete the ticket
    /// ([`FetchTicket::complete`]). Dropping the ticket instead abandons the fetch.
    Fetch(FetchTicket),
    /// Another caller is fetching. Call `acquire` again later; at `until` a fetch that has
    /// not completed is given up and the next caller gets `Fetch`.
    Wait {
        /// When the in-flight fetch times out.
        until: Instant,
    },
}

/// A token exported for the host to persist or share: the token and its remaining lifetime.
///
/// Monotonic clocks do not carry across processes or reboots, so the lifetime is relative:
/// the host stores it with its own wall-clock timestamp and subtracts the time elapsed before
/// [`TokenCache::import`]. `Debug` redacts the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportedToken {
    token: AccessToken,
    remaining: Duration,
}

impl ExportedToken {
    /// A token and the lifetime it has left (e.g. read back from storage).
    pub fn new(token: AccessToken, remaining: Duration) -> ExportedToken {
        ExportedToken { token, remaining }
    }

    /// The token.
    pub fn token(&self) -> &AccessToken {
        &self.token
    }

    /// The lifetime left at export time, until the (conservative) expiry.
    pub fn remaining(&self) -> Duration {
        self.remaining
    }
}

/// The token cache: a cheap-to-clone handle (`Arc<spin::Mutex<_>>` inside), given to a
/// client in [`ClientConfig::token_cache`](crate::client::ClientConfig::token_cache).
///
/// **Clone it to share it between clients and connections; a fresh one is private.** Every
/// clone of a cache sees the same token and the same in-flight fetch, so any number of
/// connections holding clones fetch one token between them; a cache made with
/// [`TokenCache::new`] or [`TokenCache::default`] shares nothing with any other.
///
/// The clients drive it: before an API request a client asks it for a token, and exactly
/// one caller at a time is told to fetch one (on its connection, before its request); the
/// others get the current token while it is still valid, or wait. What is left to the host
/// is making, sharing, inspecting and persisting caches ([`TokenCache::export`],
/// [`TokenCache::import`]).
///
/// All methods take `&self`. The lock is held only inside them, never across a fetch and
/// never while calling out; nothing reads a clock (`now` is always an argument).
///
/// # Rules
///
/// - A token of lifetime `L` obtained from a fetch started at `t0` expires at `t0 + L`
///   (counted from when the fetch was handed out, not when it completed: the server issued
///   the token after that, so this errs on the early side).
/// - It is *fresh* (reused without question) until `t0 + L - margin`, or, when
///   `L <= margin`, until `t0 + L / 2`, so that a short-lived token is still used for half its
///   life rather than refreshed on every request.
/// - Between then and its expiry the first caller fetches a new one; while that refresh is
///   in flight the others keep getting the old token, which the server still accepts. With
///   no token, or an expired one, the others wait.
/// - One fetch is in flight at a time. It ends when completed, when the fetching connection
///   gives up (abandoned), or when it has been in flight for the policy's fetch timeout ([`CachePolicy::with_fetch_timeout`]);
///   after that the next caller fetches. A late completion of a timed-out fetch still
///   installs its token if it succeeded.
/// - A `401` on an API request drops the token only if it is still the one that request
///   carried: a late `401` does not discard a newer token.
/// - A failed fetch releases the slot and leaves no trace: the next caller fetches again.
/// - With a store ([`TokenCache::with_store`]) and a host that consults it, a fetch starts
///   only when the host allows it (it holds the store's refresh lease, or found the store
///   down); meanwhile a still-valid token is used, or the caller waits. Should no host look
///   at the cache for 2 s, the next caller fetches on its own.
///
/// # Examples
///
/// Sharing, and a token persisted across processes:
///
/// ```
/// use core::time::Duration;
/// use mtls_core::auth::{AccessToken, CachePolicy, ExportedToken, TokenCache};
/// use mtls_core::time::Instant;
///
/// let cache = TokenCache::new(CachePolicy::new().with_refresh_margin(Duration::from_secs(60)));
/// let shared = cache.clone(); // for another `ClientConfig`: same token, same fetch
/// let elsewhere = TokenCache::default(); // private: shares nothing
///
/// // Read back from storage: the lifetime it had left, minus the time since it was saved.
/// let stored = ExportedToken::new(AccessToken::new("t0k3n")?, Duration::from_secs(1800));
/// let now = Instant::from_secs(5);
/// let token = cache.import(&stored, now)?;
/// assert_eq!(token.expires_at(), Instant::from_secs(1805));
/// assert_eq!(shared.current(now).map(|t| t.expires_at()), Some(token.expires_at()));
/// assert_eq!(elsewhere.current(now), None);
/// assert!(!shared.is_fetching(now));
///
/// // Saved again before exiting.
/// let exported = shared.export(Instant::from_secs(65)).expect("still valid");
/// assert_eq!(exported.token().expose(), "t0k3n");
/// assert_eq!(exported.remaining(), Duration::from_secs(1740));
/// shared.clear();
/// assert_eq!(cache.current(now), None);
/// # Ok::<(), mtls_core::auth::AuthError>(())
/// ```
#[derive(Clone, Default)]
pub struct TokenCache {
    shared: Arc<Shared>,
}

/// What the clones of one [`TokenCache`] (and its tickets) point to.
#[derive(Default)]
struct Shared {
    /// Fixed at creation, so read without the lock.
    policy: CachePolicy,
    state: spin::Mutex<State>,
    /// The store shared with other processes, when the cache was made with one.
    store: Option<StoreLink>,
}

/// The cache's mutable state, behind the lock.
struct State {
    token: Option<CachedToken>,
    in_flight: Option<FetchId>,
    next_fetch: u64,
    next_generation: u64,
    /// Present once a host coordinates fetches with a [`TokenStore`]: a fetch then starts
    /// only with the host's permit (see [`Gate`]).
    gate: Option<Gate>,
    /// The generation the last `401` dropped, until the host has read it.
    rejected: Option<Generation>,
}

/// Fetches under a host's control. The host (which holds the store's refresh lease, or has
/// found the store down) grants one fetch at a time; without a permit a caller that would
/// fetch keeps using a still-valid token, or waits.
///
/// Should no host look at the cache for [`GATE_SILENCE`] (a client whose host does not
/// consult stores), the gate opens by itself: a store never blocks a fetch for good.
#[derive(Clone, Copy, Debug)]
struct Gate {
    permit: bool,
    last_sync: Instant,
}

/// How long a gated cache waits for a host that has stopped calling before it lets a
/// caller fetch on its own.
pub(crate) const GATE_SILENCE: Duration = Duration::from_secs(2);

/// Identifies one fetch handed out by a cache: the slot is released only by the fetch that
/// holds it, not by a stale ticket (one that timed out, or outlived a `clear`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FetchId {
    id: u64,
    started: Instant,
}

/// [`State::acquire`]'s answer, turned into an [`Acquire`] once the lock is released.
// Inline for the same reason as `Acquire`: `Valid` is the common answer.
#[allow(clippy::large_enum_variant)]
enum Decision {
    Valid(CachedToken),
    Fetch(FetchId),
    Wait { until: Instant },
}

impl TokenCache {
    /// An empty, private cache (clone it to share it).
    pub fn new(policy: CachePolicy) -> TokenCache {
        TokenCache {
            shared: Arc::new(Shared {
                policy,
                state: spin::Mutex::new(State::default()),
                store: None,
            }),
        }
    }

    /// An empty cache that shares its token with other processes (or machines) through
    /// `store`: the hosts that drive sessions ([`StdClient`](crate::io::std_adapter::StdClient),
    /// [`Pool`](crate::io::Pool), and with the `tokio` feature `TokioClient` and `TokioPool`,
    /// which make the store's blocking calls off the runtime) load the store's token before
    /// fetching one, take the store's refresh lease to fetch, publish what they fetched, and
    /// remove a token a `401` rejected, so that one token request serves every process. A
    /// store that fails or times out is skipped for [`StoreOptions::retry_after`] with a
    /// [`Warning::TokenStoreUnavailable`](crate::client::Warning::TokenStoreUnavailable): the
    /// cache then works as a private one. See [`TokenStore`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use mtls_core::auth::{CachePolicy, MemoryStore, StoreOptions, TokenCache};
    ///
    /// let store = Arc::new(MemoryStore::new());
    /// let cache = TokenCache::with_store(CachePolicy::new(), store, StoreOptions::new());
    /// assert!(cache.has_store());
    /// ```
    pub fn with_store(
        policy: CachePolicy,
        store: Arc<dyn TokenStore>,
        options: StoreOptions,
    ) -> TokenCache {
        TokenCache {
            shared: Arc::new(Shared {
                policy,
                state: spin::Mutex::new(State::default()),
                store: Some(StoreLink::new(store, options)),
            }),
        }
    }

    /// Whether the cache was made with a store ([`TokenCache::with_store`]).
    pub fn has_store(&self) -> bool {
        self.shared.store.is_some()
    }

    /// The store link, for the hosts.
    pub(crate) fn store_link(&self) -> Option<&StoreLink> {
        self.shared.store.as_ref()
    }

    /// Puts fetches under the host's control (idempotent); marks that a host looked now.
    pub(crate) fn gate_touch(&self, now: Instant) {
        let mut state = self.shared.state.lock();
        match &mut state.gate {
            Some(gate) => gate.last_sync = now,
            None => {
                state.gate = Some(Gate {
                    permit: false,
                    last_sync: now,
                })
            }
        }
    }

    /// Whether a caller would fetch now, were it allowed: no fresh token, no fetch in flight,
    /// no permit waiting to be used.
    pub(crate) fn wants_fetch(&self, now: Instant) -> bool {
        let state = self.shared.state.lock();
        let timeout = self.shared.policy.fetch_timeout;
        let fetching = state.in_flight.is_some_and(|f| now < f.started + timeout);
        let fresh = state.token.as_ref().is_some_and(|t| t.is_fresh(now));
        let permit = state.gate.is_some_and(|g| g.permit);
        !fresh && !fetching && !permit
    }

    /// Lets the next caller that needs a token fetch one.
    pub(crate) fn grant_fetch(&self) {
        if let Some(gate) = &mut self.shared.state.lock().gate {
            gate.permit = true;
        }
    }

    /// Takes back a permit nobody used; returns whether there was one.
    pub(crate) fn revoke_fetch(&self) -> bool {
        match &mut self.shared.state.lock().gate {
            Some(gate) => core::mem::replace(&mut gate.permit, false),
            None => false,
        }
    }

    /// Whether a granted fetch is still to start or in flight.
    pub(crate) fn fetch_pending(&self, now: Instant) -> bool {
        let state = self.shared.state.lock();
        let timeout = self.shared.policy.fetch_timeout;
        state.gate.is_some_and(|g| g.permit)
            || state.in_flight.is_some_and(|f| now < f.started + timeout)
    }

    /// Whether a `401` dropped a token that [`TokenCache::take_rejected`] has not taken yet.
    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    pub(crate) fn has_rejected(&self) -> bool {
        self.shared.state.lock().rejected.is_some()
    }

    /// The generation a `401` dropped since the last call, if any.
    pub(crate) fn take_rejected(&self) -> Option<Generation> {
        self.shared.state.lock().rejected.take()
    }

    /// The policy it was made with (the same for all its clones).
    pub fn policy(&self) -> CachePolicy {
        self.shared.policy
    }

    /// Decides what a caller that needs a token should do (see the rules on
    /// [`TokenCache`]). `Fetch` marks a fetch as in flight until its ticket is completed or
    /// dropped, or the fetch times out.
    pub(crate) fn acquire(&self, now: Instant) -> Acquire {
        // The guard is a temporary: released at the end of this statement, before a ticket
        // exists (a ticket's `drop` locks).
        let decision = self.shared.state.lock().acquire(&self.shared.policy, now);
        match decision {
            Decision::Valid(token) => Acquire::Valid(token),
            Decision::Wait { until } => Acquire::Wait { until },
            Decision::Fetch(id) => Acquire::Fetch(FetchTicket {
                id,
                cache: Arc::clone(&self.shared),
                armed: true,
            }),
        }
    }

    /// Drops the token if it is still of `generation` (call on a 401 with the generation the
    /// failed request was sent with). Returns whether it was dropped. A 401 on an old token
    /// does not discard a newer one.
    pub(crate) fn invalidate(&self, generation: Generation) -> bool {
        self.shared.state.lock().invalidate(generation)
    }

    /// The token if one is held and not expired, without starting a fetch.
    pub fn current(&self, now: Instant) -> Option<CachedToken> {
        self.shared.state.lock().current(now)
    }

    /// Whether a fetch is in flight (and not yet timed out) at `now`.
    pub fn is_fetching(&self, now: Instant) -> bool {
        self.shared
            .state
            .lock()
            .in_flight
            .is_some_and(|f| now < f.started + self.shared.policy.fetch_timeout)
    }

    /// The token and its remaining lifetime at `now`, if one is held and not expired.
    pub fn export(&self, now: Instant) -> Option<ExportedToken> {
        let token = self.current(now)?;
        Some(ExportedToken {
            remaining: token.expires_at.saturating_duration_since(now),
            token: token.token,
        })
    }

    /// Installs a token exported earlier (here or elsewhere) as if fetched at `now` with the
    /// remaining lifetime as its lifetime: the same refresh rule applies. Does not touch an
    /// in-flight fetch.
    ///
    /// # Errors
    /// [`AuthError::TokenExpired`] if no lifetime is left; [`AuthError::ExpiresInTooLarge`] if
    /// it is above 365 days.
    pub fn import(&self, exported: &ExportedToken, now: Instant) -> Result<CachedToken, AuthError> {
        if exported.remaining.is_zero() {
            return Err(AuthError::TokenExpired);
        }
        if exported.remaining > Duration::from_secs(MAX_EXPIRES_IN_SECS) {
            return Err(AuthError::ExpiresInTooLarge);
        }
        Ok(self.shared.state.lock().install(
            &self.shared.policy,
            exported.token.clone(),
            now,
            exported.remaining,
        ))
    }

    /// Forgets the token and any in-flight fetch (its ticket, completed later, still installs
    /// a valid token; dropped, it does nothing).
    pub fn clear(&self) {
        let mut state = self.shared.state.lock();
        state.token = None;
        state.in_flight = None;
    }
}

/// [`TokenCache`]'s client-side methods, for the layer tests (the `internals` door).
#[cfg(any(fuzzing, feature = "internals"))]
pub trait TokenCacheExt {
    /// Decides what a caller that needs a token should do (see the rules on
    /// [`TokenCache`]).
    fn acquire(&self, now: Instant) -> Acquire;
    /// Completes a ticket; the same as [`FetchTicket::complete`]. The ticket remembers the
    /// cache that issued it: that is the cache completed, whichever handle this is called on.
    ///
    /// # Errors
    /// As [`FetchTicket::complete`].
    fn complete(
        &self,
        ticket: FetchTicket,
        result: Result<TokenResponse, AuthError>,
        now: Instant,
    ) -> Result<CachedToken, AuthError>;
    /// Drops the token if it is still of `generation`; returns whether it was dropped.
    fn invalidate(&self, generation: Generation) -> bool;
}

#[cfg(any(fuzzing, feature = "internals"))]
impl TokenCacheExt for TokenCache {
    fn acquire(&self, now: Instant) -> Acquire {
        TokenCache::acquire(self, now)
    }
    fn complete(
        &self,
        ticket: FetchTicket,
        result: Result<TokenResponse, AuthError>,
        now: Instant,
    ) -> Result<CachedToken, AuthError> {
        ticket.complete(result, now)
    }
    fn invalidate(&self, generation: Generation) -> bool {
        TokenCache::invalidate(self, generation)
    }
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Do not lock in Debug (it could be called while a guard is alive in a caller's
        // frame); the token is redacted anyway.
        f.debug_struct("TokenCache")
            .field("policy", &self.shared.policy)
            .field("store", &self.shared.store)
            .finish_non_exhaustive()
    }
}

impl State {
    fn acquire(&mut self, policy: &CachePolicy, now: Instant) -> Decision {
        let timeout = policy.fetch_timeout;
        if self.in_flight.is_some_and(|f| now >= f.started + timeout) {
            // A stuck fetch: give up on it. (`Instant + Duration` saturates at the end of
            // time, it does not overflow.)
            self.in_flight = None;
        }
        if self.token.as_ref().is_some_and(|t| t.is_expired(now)) {
            self.token = None;
        }
        if let Some(token) = &self.token {
            if token.is_fresh(now) || self.in_flight.is_some() {
                return Decision::Valid(token.clone());
            }
        }
        if let Some(f) = self.in_flight {
            return Decision::Wait {
                until: f.started + timeout,
            };
        }
        if let Some(gate) = &mut self.gate {
            if gate.permit || now >= gate.last_sync + GATE_SILENCE {
                gate.permit = false;
            } else {
                // The host decides (it may be loading another process's token): a valid
                // token is still good meanwhile.
                return match &self.token {
                    Some(token) => Decision::Valid(token.clone()),
                    None => Decision::Wait {
                        until: gate.last_sync + GATE_SILENCE,
                    },
                };
            }
        }
        let id = FetchId {
            id: self.next_fetch,
            started: now,
        };
        self.next_fetch = self.next_fetch.wrapping_add(1);
        self.in_flight = Some(id);
        Decision::Fetch(id)
    }

    fn complete(
        &mut self,
        policy: &CachePolicy,
        id: FetchId,
        result: Result<TokenResponse, AuthError>,
        now: Instant,
    ) -> Result<CachedToken, AuthError> {
        self.abandon(id);
        let response = result?;
        let lifetime = policy.lifetime_of(&response);
        let expires_at = id.started + lifetime;
        if expires_at <= now {
            return Err(AuthError::TokenExpired);
        }
        Ok(self.install(policy, response.access_token, id.started, lifetime))
    }

    /// Releases the slot if `id` still holds it.
    fn abandon(&mut self, id: FetchId) {
        if self.in_flight == Some(id) {
            self.in_flight = None;
        }
    }

    fn invalidate(&mut self, generation: Generation) -> bool {
        if self
            .token
            .as_ref()
            .is_some_and(|t| t.generation == generation)
        {
            self.token = None;
            self.rejected = Some(generation);
            true
        } else {
            false
        }
    }

    fn current(&self, now: Instant) -> Option<CachedToken> {
        self.token.as_ref().filter(|t| !t.is_expired(now)).cloned()
    }

    fn install(
        &mut self,
        policy: &CachePolicy,
        token: AccessToken,
        base: Instant,
        lifetime: Duration,
    ) -> CachedToken {
        let generation = Generation(self.next_generation);
        self.next_generation = self.next_generation.wrapping_add(1);
        let cached = CachedToken {
            token,
            expires_at: base + lifetime,
            refresh_at: base + policy.usable_for(lifetime),
            generation,
        };
        self.token = Some(cached.clone());
        cached
    }
}

impl Default for State {
    fn default() -> State {
        State {
            token: None,
            in_flight: None,
            next_fetch: 1,
            next_generation: 1,
            gate: None,
            rejected: None,
        }
    }
}

/// The right, and duty, to fetch a token for a [`TokenCache`].
///
/// Complete it with [`FetchTicket::complete`]. Dropping it
/// uncompleted abandons the fetch so another caller can start one. `Debug` shows only the
/// fetch's number and start.
#[must_use = "dropping a ticket abandons the fetch"]
pub struct FetchTicket {
    id: FetchId,
    cache: Arc<Shared>,
    /// Cleared once completed, so that `drop` does not abandon.
    armed: bool,
}

impl FetchTicket {
    /// When the fetch was handed out: a fetched token's lifetime counts from here.
    #[cfg(any(fuzzing, feature = "internals"))]
    pub fn started(&self) -> Instant {
        self.id.started
    }

    /// Ends the fetch with its outcome. On success the token is installed in the cache that
    /// issued the ticket (even if the fetch had timed out meanwhile: a valid token is a valid
    /// token) with a new generation and returned; on failure the error is returned. Either
    /// way the in-flight slot is released if this fetch still held it.
    ///
    /// # Errors
    /// The fetch's own error, or [`AuthError::TokenExpired`] if the token's lifetime had
    /// already run out by `now` (counted from [`FetchTicket::started`]).
    pub fn complete(
        mut self,
        result: Result<TokenResponse, AuthError>,
        now: Instant,
    ) -> Result<CachedToken, AuthError> {
        self.armed = false;
        let outcome = self
            .cache
            .state
            .lock()
            .complete(&self.cache.policy, self.id, result, now);
        // The guard is gone here; `drop` (not armed) will not lock again.
        outcome
    }
}

impl fmt::Debug for FetchTicket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FetchTicket")
            .field("id", &self.id.id)
            .field("started", &self.id.started)
            .finish()
    }
}

impl Drop for FetchTicket {
    fn drop(&mut self) {
        if self.armed {
            self.cache.state.lock().abandon(self.id);
        }
    }
}
