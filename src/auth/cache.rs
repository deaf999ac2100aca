//! The token cache: expiry tracking on the host's monotonic clock and single-flight refresh.
//!
//! # Rules
//!
//! - A token of lifetime `L` obtained from a fetch handed out at `t0` expires at `t0 + L`
//!   (counted from when the fetch was handed out, not when it completed: the server issued
//!   the token after that, so this errs on the early side).
//! - It is *fresh* (reused without question) until `refresh_at`: `t0 + L - margin`, or, when
//!   `L <= margin`, `t0 + L / 2` so that a short-lived token is still used for half its life
//!   rather than refreshed on every request ([`CachePolicy::usable_for`]).
//! - Between `refresh_at` and `expires_at` the first caller gets [`Acquire::Fetch`]; while that
//!   refresh is in flight the others keep getting the old token, which the server still
//!   accepts. With no token, or an expired one, the others get [`Acquire::Wait`].
//! - One fetch is in flight at a time. It ends when completed, when its ticket is dropped
//!   (abandoned), or when it has been in flight for [`CachePolicy::fetch_timeout`]; after
//!   that the next caller gets a new `Fetch`. A late completion of a timed-out fetch still
//!   installs its token if it succeeded.
//! - Every installed token gets a new [`Generation`]; [`TokenCache::invalidate`] drops the
//!   token only if it is still of the given generation.
//! - A failed fetch releases the slot and leaves no trace: the next caller gets `Fetch` again.
//!   Not retrying in a loop on failures (e.g. bad credentials) is the caller's job.

use alloc::sync::Arc;
use core::fmt;
use core::time::Duration;

use super::credentials::AuthorizationValue;
use super::token::{AccessToken, TokenResponse, MAX_EXPIRES_IN_SECS};
use super::AuthError;
use crate::time::Instant;

/// Refresh margin and fetch timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CachePolicy {
    refresh_margin: Duration,
    fetch_timeout: Duration,
}

impl CachePolicy {
    /// 30 s, as the official Mangopay SDKs.
    pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(30);
    /// 30 s.
    pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(30);

    /// The defaults: 30 s refresh margin, 30 s fetch timeout.
    pub const fn new() -> CachePolicy {
        CachePolicy {
            refresh_margin: Self::DEFAULT_REFRESH_MARGIN,
            fetch_timeout: Self::DEFAULT_FETCH_TIMEOUT,
        }
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

    /// The refresh margin.
    pub const fn refresh_margin(&self) -> Duration {
        self.refresh_margin
    }

    /// The fetch timeout.
    pub const fn fetch_timeout(&self) -> Duration {
        self.fetch_timeout
    }

    /// How long a token with `lifetime` left is reused before refreshing:
    /// `lifetime - margin`, or `lifetime / 2` when `lifetime <= margin`.
    ///
    /// ```
    /// use core::time::Duration;
    /// use mtls_core::auth::CachePolicy;
    /// let p = CachePolicy::default();
    /// assert_eq!(p.usable_for(Duration::from_secs(3600)), Duration::from_secs(3570));
    /// assert_eq!(p.usable_for(Duration::from_secs(20)), Duration::from_secs(10));
    /// ```
    pub fn usable_for(&self, lifetime: Duration) -> Duration {
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

/// Which installed token a [`CachedToken`] is; increases with every token installed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Generation(u64);

impl Generation {
    /// The number (starts at 1 for the first token of a cache).
    pub const fn get(self) -> u64 {
        self.0
    }
}

/// A token as held by the cache, with its timing and generation. `Debug` redacts the token.
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

    /// When the server stops accepting it (by our conservative count).
    pub fn expires_at(&self) -> Instant {
        self.expires_at
    }

    /// When the cache starts refreshing it (see [`CachePolicy::usable_for`]).
    pub fn refresh_at(&self) -> Instant {
        self.refresh_at
    }

    /// Its generation: keep it with each request sent, and pass it to `invalidate` on a 401.
    pub fn generation(&self) -> Generation {
        self.generation
    }

    /// `Bearer {token}` for the `Authorization` header.
    pub fn bearer_header(&self) -> AuthorizationValue {
        self.token.bearer_header()
    }

    /// Whether `now` is before [`CachedToken::refresh_at`].
    pub fn is_fresh(&self, now: Instant) -> bool {
        now < self.refresh_at
    }

    /// Whether `now` is at or after [`CachedToken::expires_at`].
    pub fn is_expired(&self, now: Instant) -> bool {
        now >= self.expires_at
    }
}

/// Identifies one fetch handed out by a [`TokenCache`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FetchId {
    id: u64,
    started: Instant,
}

impl FetchId {
    /// When the fetch was handed out.
    pub fn started(&self) -> Instant {
        self.started
    }
}

/// What [`TokenCache::acquire`] / [`SharedTokenCache::acquire`] tells the caller to do.
#[must_use]
#[derive(Debug)]
// `Valid` (the common answer) holds the token inline; boxing it would allocate per request.
#[allow(clippy::large_enum_variant)]
pub enum Acquire<T = FetchTicket> {
    /// Use this token.
    Valid(CachedToken),
    /// This caller, and no other, must fetch a token, then complete the ticket.
    Fetch(T),
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

/// The token cache for one owner (`&mut self`). Share it between connections with
/// [`SharedTokenCache`].
///
/// ```
/// use core::time::Duration;
/// use mtls_core::auth::{AccessToken, Acquire, TokenCache, TokenResponse};
/// use mtls_core::time::Instant;
///
/// let mut cache = TokenCache::default();
/// let Acquire::Fetch(id) = cache.acquire(Instant::ZERO) else { panic!() };
/// // A second caller waits for the first one's fetch.
/// assert!(matches!(cache.acquire(Instant::ZERO), Acquire::Wait { .. }));
/// let response = TokenResponse {
///     access_token: AccessToken::new("t0k3n")?,
///     expires_in: Duration::from_secs(3600),
/// };
/// let token = cache.complete(id, Ok(response), Instant::from_secs(1))?;
/// assert!(matches!(cache.acquire(Instant::from_secs(2)), Acquire::Valid(t) if t == token));
/// # Ok::<(), mtls_core::auth::AuthError>(())
/// ```
#[derive(Debug)]
pub struct TokenCache {
    policy: CachePolicy,
    token: Option<CachedToken>,
    in_flight: Option<FetchId>,
    next_fetch: u64,
    next_generation: u64,
}

impl TokenCache {
    /// An empty cache.
    pub const fn new(policy: CachePolicy) -> TokenCache {
        TokenCache {
            policy,
            token: None,
            in_flight: None,
            next_fetch: 1,
            next_generation: 1,
        }
    }

    /// The policy.
    pub fn policy(&self) -> CachePolicy {
        self.policy
    }

    /// Decides what a caller that needs a token should do (see the module docs for the
    /// rules). `Fetch` marks a fetch as in flight until it is completed, abandoned or times
    /// out.
    pub fn acquire(&mut self, now: Instant) -> Acquire<FetchId> {
        let timeout = self.policy.fetch_timeout;
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
                return Acquire::Valid(token.clone());
            }
        }
        if let Some(f) = self.in_flight {
            return Acquire::Wait {
                until: f.started + timeout,
            };
        }
        let id = FetchId {
            id: self.next_fetch,
            started: now,
        };
        self.next_fetch = self.next_fetch.wrapping_add(1);
        self.in_flight = Some(id);
        Acquire::Fetch(id)
    }

    /// Ends a fetch with its outcome. On success the token is installed (even if the fetch had
    /// timed out meanwhile: a valid token is a valid token) with a new generation and
    /// returned; on failure the error is returned. Either way the in-flight slot is released
    /// if this fetch still held it.
    ///
    /// # Errors
    /// The fetch's own error, or [`AuthError::TokenExpired`] if the token's lifetime had
    /// already run out by `now` (counted from when the fetch was handed out).
    pub fn complete(
        &mut self,
        id: FetchId,
        result: Result<TokenResponse, AuthError>,
        now: Instant,
    ) -> Result<CachedToken, AuthError> {
        self.abandon(id);
        let response = result?;
        let expires_at = id.started + response.expires_in;
        if expires_at <= now {
            return Err(AuthError::TokenExpired);
        }
        Ok(self.install(response.access_token, id.started, response.expires_in))
    }

    /// Ends a fetch without an outcome (e.g. its connection died): another caller may fetch.
    /// Does nothing if the fetch no longer holds the slot.
    pub fn abandon(&mut self, id: FetchId) {
        if self.in_flight == Some(id) {
            self.in_flight = None;
        }
    }

    /// Drops the token if it is still of `generation` (call on a 401 with the generation the
    /// failed request was sent with). Returns whether it was dropped. A 401 on an old token
    /// does not discard a newer one.
    pub fn invalidate(&mut self, generation: Generation) -> bool {
        if self
            .token
            .as_ref()
            .is_some_and(|t| t.generation == generation)
        {
            self.token = None;
            true
        } else {
            false
        }
    }

    /// The token if one is held and not expired, without starting a fetch.
    pub fn current(&self, now: Instant) -> Option<CachedToken> {
        self.token.as_ref().filter(|t| !t.is_expired(now)).cloned()
    }

    /// Whether a fetch is in flight (and not yet timed out) at `now`.
    pub fn is_fetching(&self, now: Instant) -> bool {
        self.in_flight
            .is_some_and(|f| now < f.started + self.policy.fetch_timeout)
    }

    /// The token and its remaining lifetime at `now`, if one is held and not expired.
    pub fn export(&self, now: Instant) -> Option<ExportedToken> {
        let token = self.current(now)?;
        Some(ExportedToken {
            remaining: token.expires_at.saturating_duration_since(now),
            token: token.token.clone(),
        })
    }

    /// Installs a token exported earlier (here or elsewhere) as if fetched at `now` with the
    /// remaining lifetime as its lifetime: the same refresh rule applies. Does not touch an
    /// in-flight fetch.
    ///
    /// # Errors
    /// [`AuthError::TokenExpired`] if no lifetime is left; [`AuthError::ExpiresInTooLarge`] if
    /// it is above [`MAX_EXPIRES_IN_SECS`].
    pub fn import(
        &mut self,
        exported: &ExportedToken,
        now: Instant,
    ) -> Result<CachedToken, AuthError> {
        if exported.remaining.is_zero() {
            return Err(AuthError::TokenExpired);
        }
        if exported.remaining > Duration::from_secs(MAX_EXPIRES_IN_SECS) {
            return Err(AuthError::ExpiresInTooLarge);
        }
        Ok(self.install(exported.token.clone(), now, exported.remaining))
    }

    /// Forgets the token and any in-flight fetch.
    pub fn clear(&mut self) {
        self.token = None;
        self.in_flight = None;
    }

    fn install(&mut self, token: AccessToken, base: Instant, lifetime: Duration) -> CachedToken {
        let generation = Generation(self.next_generation);
        self.next_generation = self.next_generation.wrapping_add(1);
        let cached = CachedToken {
            token,
            expires_at: base + lifetime,
            refresh_at: base + self.policy.usable_for(lifetime),
            generation,
        };
        self.token = Some(cached.clone());
        cached
    }
}

impl Default for TokenCache {
    fn default() -> TokenCache {
        TokenCache::new(CachePolicy::default())
    }
}

/// A [`TokenCache`] shared by several connections (`Arc<spin::Mutex<_>>`; clones share).
///
/// Exactly one caller at a time gets [`Acquire::Fetch`], as a [`FetchTicket`]; the others get
/// the current token if it is still valid, or [`Acquire::Wait`]. A ticket dropped without
/// being completed releases the fetch. The lock is held only inside these methods, never
/// across a fetch.
///
/// ```
/// use core::time::Duration;
/// use mtls_core::auth::{AccessToken, Acquire, SharedTokenCache, TokenResponse};
/// use mtls_core::time::Instant;
///
/// let cache = SharedTokenCache::default();
/// let other_connection = cache.clone();
/// let Acquire::Fetch(ticket) = cache.acquire(Instant::ZERO) else { panic!() };
/// assert!(matches!(other_connection.acquire(Instant::ZERO), Acquire::Wait { .. }));
/// drop(ticket); // the fetching connection died
/// let Acquire::Fetch(ticket) = other_connection.acquire(Instant::ZERO) else { panic!() };
/// let response = TokenResponse {
///     access_token: AccessToken::new("t0k3n")?,
///     expires_in: Duration::from_secs(3600),
/// };
/// other_connection.complete(ticket, Ok(response), Instant::from_secs(1))?;
/// assert!(matches!(cache.acquire(Instant::from_secs(2)), Acquire::Valid(_)));
/// # Ok::<(), mtls_core::auth::AuthError>(())
/// ```
#[derive(Clone, Default)]
pub struct SharedTokenCache {
    inner: Arc<spin::Mutex<TokenCache>>,
}

impl SharedTokenCache {
    /// An empty shared cache.
    pub fn new(policy: CachePolicy) -> SharedTokenCache {
        SharedTokenCache {
            inner: Arc::new(spin::Mutex::new(TokenCache::new(policy))),
        }
    }

    /// The policy.
    pub fn policy(&self) -> CachePolicy {
        self.inner.lock().policy()
    }

    /// See [`TokenCache::acquire`]; `Fetch` comes as a [`FetchTicket`].
    pub fn acquire(&self, now: Instant) -> Acquire {
        let acquired = self.inner.lock().acquire(now);
        match acquired {
            Acquire::Valid(token) => Acquire::Valid(token),
            Acquire::Wait { until } => Acquire::Wait { until },
            Acquire::Fetch(id) => Acquire::Fetch(FetchTicket {
                id,
                cache: Arc::clone(&self.inner),
                armed: true,
            }),
        }
    }

    /// Completes a ticket (see [`TokenCache::complete`]). The ticket remembers the cache
    /// that issued it; that is the cache completed, whichever handle this is called on.
    ///
    /// # Errors
    /// As [`TokenCache::complete`].
    pub fn complete(
        &self,
        ticket: FetchTicket,
        result: Result<TokenResponse, AuthError>,
        now: Instant,
    ) -> Result<CachedToken, AuthError> {
        ticket.complete(result, now)
    }

    /// See [`TokenCache::invalidate`].
    pub fn invalidate(&self, generation: Generation) -> bool {
        self.inner.lock().invalidate(generation)
    }

    /// See [`TokenCache::current`].
    pub fn current(&self, now: Instant) -> Option<CachedToken> {
        self.inner.lock().current(now)
    }

    /// See [`TokenCache::is_fetching`].
    pub fn is_fetching(&self, now: Instant) -> bool {
        self.inner.lock().is_fetching(now)
    }

    /// See [`TokenCache::export`].
    pub fn export(&self, now: Instant) -> Option<ExportedToken> {
        self.inner.lock().export(now)
    }

    /// See [`TokenCache::import`].
    ///
    /// # Errors
    /// As [`TokenCache::import`].
    pub fn import(&self, exported: &ExportedToken, now: Instant) -> Result<CachedToken, AuthError> {
        self.inner.lock().import(exported, now)
    }

    /// See [`TokenCache::clear`].
    pub fn clear(&self) {
        self.inner.lock().clear()
    }
}

impl fmt::Debug for SharedTokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Do not lock in Debug (it could be called while a guard is alive in a caller's
        // frame); the token is redacted anyway.
        f.debug_struct("SharedTokenCache").finish_non_exhaustive()
    }
}

/// The right, and duty, to fetch a token for a [`SharedTokenCache`].
///
/// Complete it with [`FetchTicket::complete`] (or [`SharedTokenCache::complete`]). Dropping it
/// uncompleted abandons the fetch so another caller can start one.
#[must_use = "dropping a ticket abandons the fetch"]
pub struct FetchTicket {
    id: FetchId,
    cache: Arc<spin::Mutex<TokenCache>>,
    /// Cleared once completed, so that `drop` does not abandon.
    armed: bool,
}

impl FetchTicket {
    /// The fetch this ticket stands for.
    pub fn id(&self) -> FetchId {
        self.id
    }

    /// Ends the fetch with its outcome; see [`TokenCache::complete`].
    ///
    /// # Errors
    /// As [`TokenCache::complete`].
    pub fn complete(
        mut self,
        result: Result<TokenResponse, AuthError>,
        now: Instant,
    ) -> Result<CachedToken, AuthError> {
        self.armed = false;
        let outcome = self.cache.lock().complete(self.id, result, now);
        // The guard is gone here; `drop` (not armed) will not lock again.
        outcome
    }
}

impl fmt::Debug for FetchTicket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FetchTicket").field("id", &self.id).finish()
    }
}

impl Drop for FetchTicket {
    fn drop(&mut self) {
        if self.armed {
            self.cache.lock().abandon(self.id);
        }
    }
}
