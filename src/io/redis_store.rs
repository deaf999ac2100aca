//! (feature `redis`) [`RedisStore`]: one token for a fleet of machines, in Redis.
//!
//! # Keys
//!
//! | key | value |
//! |---|---|
//! | `PREFIX` | `VERSION` alone (no token), or `VERSION EXPIRES_MS TOKEN` |
//! | `PREFIX:lease` | the lease holder's id, with Redis' own expiry (`PX`) as the lease |
//!
//! Compare-and-replace, lease renewal and release are small Lua scripts (`EVAL`), atomic on
//! the server. The lease is timed by the Redis server, so a holder that dies frees it
//! after the lease whatever the machines' clocks say; the token's expiry is the writer's
//! wall clock (the fleet's clocks must roughly agree, as NTP keeps them).
//!
//! Anyone who can read the Redis database can read the token: give it a password (in the
//! URL, `redis://:PASSWORD@host:6379/`), keep it on a private network, and use a key prefix
//! per API account.
//!
//! # Bounds
//!
//! | what | bound |
//! |---|---|
//! | connect | [`RedisStore::with_timeouts`] (default 250 ms) |
//! | each command | [`RedisStore::with_timeouts`] (default 250 ms to write and to read) |
//!
//! A timeout or an I/O error drops the connection; the next call connects again.

use core::fmt;
use core::time::Duration;
use std::format;
use std::string::{String, ToString};
use std::sync::{Mutex, PoisonError};

use crate::auth::store::{expiry_ms, remaining_at};
use crate::auth::{
    AccessToken, ExportedToken, Lease, StoreError, StoreSnapshot, StoreVersion, TokenStore,
};

const COMPARE_AND_REPLACE: &str = r"
local cur = redis.call('GET', KEYS[1])
local ver = 0
if cur then ver = tonumber(string.match(cur, '^%d+')) or 0 end
if ver ~= tonumber(ARGV[1]) then return -1 end
ver = ver + 1
if ARGV[2] == '' then
  redis.call('SET', KEYS[1], tostring(ver))
else
  redis.call('SET', KEYS[1], tostring(ver) .. ' ' .. ARGV[3] .. ' ' .. ARGV[2])
end
return ver
";

/// Returns -100 when granted (taken or renewed), else the other holder's time left (ms).
const TRY_LEASE: &str = r"
local cur = redis.call('GET', KEYS[1])
if (not cur) or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return -100
end
return redis.call('PTTL', KEYS[1])
";

const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// A [`TokenStore`] in Redis, for a fleet (see the [module docs](self) for the keys).
///
/// ```no_run
/// use std::sync::Arc;
/// use mtls_core::auth::{CachePolicy, StoreOptions, TokenCache};
/// use mtls_core::io::redis_store::RedisStore;
///
/// let store = RedisStore::open("redis://:secret@10.0.0.5:6379/", "mtls:token:my-client-id")?;
/// let cache = TokenCache::with_store(CachePolicy::new(), Arc::new(store), StoreOptions::new());
/// // config.token_cache = cache; every machine doing the same shares one token.
/// # Ok::<(), mtls_core::auth::StoreError>(())
/// ```
pub struct RedisStore {
    client: redis::Client,
    key: String,
    lease_key: String,
    connect_timeout: Duration,
    io_timeout: Duration,
    connection: Mutex<Option<redis::Connection>>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the URL: it may hold the password.
        f.debug_struct("RedisStore")
            .field("key", &self.key)
            .field("connect_timeout", &self.connect_timeout)
            .field("io_timeout", &self.io_timeout)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// 250 ms: a Redis on the local network answers in about a millisecond.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(250);

    /// A store at `url` (`redis://[:PASSWORD@]HOST[:PORT][/DB]`) under the key `prefix`.
    /// Does not connect: the first call does.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if the URL is not a Redis URL.
    pub fn open(url: &str, prefix: &str) -> Result<RedisStore, StoreError> {
        let client = redis::Client::open(url)
            .map_err(|e| StoreError::Unavailable(format!("invalid Redis URL: {}", e.category())))?;
        Ok(RedisStore {
            client,
            key: prefix.into(),
            lease_key: format!("{prefix}:lease"),
            connect_timeout: Self::DEFAULT_TIMEOUT,
            io_timeout: Self::DEFAULT_TIMEOUT,
            connection: Mutex::new(None),
        })
    }

    /// Sets the connect timeout and the timeout of each command's write and read.
    pub fn with_timeouts(mut self, connect: Duration, io: Duration) -> RedisStore {
        self.connect_timeout = connect;
        self.io_timeout = io;
        self
    }

    /// Runs `command` on the connection (connecting first when there is none); a failure
    /// drops the connection.
    fn run<T>(
        &self,
        command: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, StoreError> {
        let mut slot = self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            let connection = self
                .client
                .get_connection_with_timeout(self.connect_timeout)
                .map_err(store_error)?;
            connection
                .set_read_timeout(Some(self.io_timeout))
                .map_err(store_error)?;
            connection
                .set_write_timeout(Some(self.io_timeout))
                .map_err(store_error)?;
            *slot = Some(connection);
        }
        // INVARIANT: filled just above.
        let Some(connection) = slot.as_mut() else {
            return Err(StoreError::Unavailable("no connection".into()));
        };
        match command(connection) {
            Ok(value) => Ok(value),
            Err(e) => {
                *slot = None;
                Err(store_error(e))
            }
        }
    }
}

/// A Redis error without what the command carried: the kind, and the OS's words for I/O.
fn store_error(e: redis::RedisError) -> StoreError {
    if e.is_timeout() {
        StoreError::Timeout
    } else if e.is_io_error() || e.is_connection_dropped() {
        StoreError::Unavailable(format!("Redis connection: {}", e.category()))
    } else {
        StoreError::Unavailable(format!(
            "Redis answered {}",
            e.code().unwrap_or_else(|| e.category())
        ))
    }
}

impl TokenStore for RedisStore {
    fn load(&self, now: Duration) -> Result<StoreSnapshot, StoreError> {
        let value: Option<String> = self.run(|c| redis::cmd("GET").arg(&self.key).query(c))?;
        let value = zeroize::Zeroizing::new(value.unwrap_or_default());
        if value.is_empty() {
            return Ok(StoreSnapshot {
                version: StoreVersion(0),
                token: None,
            });
        }
        let mut fields = value.splitn(3, ' ');
        let version = fields
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or(StoreError::Corrupt("version"))?;
        let token = match (fields.next(), fields.next()) {
            (Some(expires), Some(token)) => {
                let expires: u64 = expires.parse().map_err(|_| StoreError::Corrupt("expiry"))?;
                let token = AccessToken::new(token)
                    .map_err(|_| StoreError::Corrupt("token is not a valid access token"))?;
                remaining_at(expires, now).map(|left| ExportedToken::new(token, left))
            }
            (None, None) => None,
            _ => return Err(StoreError::Corrupt("expiry without token")),
        };
        Ok(StoreSnapshot {
            version: StoreVersion(version),
            token,
        })
    }

    fn compare_and_replace(
        &self,
        expected: StoreVersion,
        token: Option<&ExportedToken>,
        now: Duration,
    ) -> Result<Option<StoreVersion>, StoreError> {
        let (text, expires) = match token {
            Some(t) => (t.token().expose(), expiry_ms(t, now).to_string()),
            None => ("", String::new()),
        };
        let answer: i64 = self.run(|c| {
            redis::cmd("EVAL")
                .arg(COMPARE_AND_REPLACE)
                .arg(1)
                .arg(&self.key)
                .arg(expected.0)
                .arg(text)
                .arg(&expires)
                .query(c)
        })?;
        Ok(u64::try_from(answer).ok().map(StoreVersion))
    }

    fn try_lease(&self, holder: u64, lease: Duration, _now: Duration) -> Result<Lease, StoreError> {
        let ms = u64::try_from(lease.as_millis()).unwrap_or(u64::MAX).max(1);
        let answer: i64 = self.run(|c| {
            redis::cmd("EVAL")
                .arg(TRY_LEASE)
                .arg(1)
                .arg(&self.lease_key)
                .arg(holder.to_string())
                .arg(ms)
                .query(c)
        })?;
        Ok(if answer == -100 {
            Lease::Granted
        } else {
            // PTTL: -1 (no expiry: not ours to judge) or -2 (just expired) count as zero.
            Lease::Held {
                for_at_most: Duration::from_millis(u64::try_from(answer).unwrap_or(0)),
            }
        })
    }

    fn release(&self, holder: u64, _now: Duration) -> Result<(), StoreError> {
        let _: i64 = self.run(|c| {
            redis::cmd("EVAL")
                .arg(RELEASE)
                .arg(1)
                .arg(&self.lease_key)
                .arg(holder.to_string())
                .query(c)
        })?;
        Ok(())
    }
}
