//! Time as values the host passes in: the core never reads a clock.
//!
//! Two clocks matter here. [`Instant`] is monotonic (token expiry, timeouts); any counter of
//! milliseconds the host has will do. Wall-clock time for certificate validity is
//! [`rustls_pki_types::UnixTime`], re-exported as [`UnixTime`].

use core::ops::{Add, Sub};
use core::time::Duration;

pub use rustls_pki_types::UnixTime;

/// A point on the host's monotonic clock, in milliseconds since an arbitrary origin.
///
/// ```
/// use core::time::Duration;
/// use mtls_core::time::Instant;
/// let start = Instant::from_millis(1_000);
/// assert_eq!(start + Duration::from_secs(2), Instant::from_millis(3_000));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

impl Instant {
    /// The origin of the host's clock.
    pub const ZERO: Instant = Instant(0);

    /// An instant `millis` milliseconds after the origin.
    pub const fn from_millis(millis: u64) -> Self {
        Instant(millis)
    }

    /// An instant `secs` seconds after the origin.
    pub const fn from_secs(secs: u64) -> Self {
        Instant(secs.saturating_mul(1000))
    }

    /// Milliseconds since the origin.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Time elapsed from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }

    /// `self + d`, or `None` on overflow.
    fn checked_add(self, d: Duration) -> Option<Instant> {
        let ms = u64::try_from(d.as_millis()).ok()?;
        self.0.checked_add(ms).map(Instant)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    /// Saturates at the end of time rather than overflowing.
    fn add(self, d: Duration) -> Instant {
        self.checked_add(d).unwrap_or(Instant(u64::MAX))
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    /// Saturates at the origin.
    fn sub(self, d: Duration) -> Instant {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Instant(self.0.saturating_sub(ms))
    }
}
