//! The bounds of a connection pool, shared by the blocking `io::Pool` and [`super::TokioPool`].
//!
//! MERGE NOTE (branch hosts-async): a stand-in, field for field and default for default, for
//! the `PoolOptions` that branch hosts-loop-pool defines in `src/io/pool.rs`. When both land,
//! delete this file and its `mod`/`pub use` lines in `src/io/mod.rs`: `TokioPool` uses
//! `crate::io::PoolOptions` and needs nothing else.

use core::time::Duration;

/// The bounds of a pool.
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
    /// then it fails, not sent, with [`crate::Error::PoolExhausted`].
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
