//! What the benchmarks share: CPU time, medians, sizes from the environment, the sandbox in a
//! child process, and the hosts' concurrency contenders (pool vs reqwest).
//!
//! Each example includes it with `mod bench_support;` and uses what it needs.
#![allow(dead_code)]

pub mod hosts;
pub mod sandbox_child;

use std::time::Duration;

pub type Fallible<T> = Result<T, Box<dyn std::error::Error>>;

fn rusage_time(who: nix::sys::resource::UsageWho) -> Duration {
    use nix::sys::resource::getrusage;
    let to_duration = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec().max(0) as u64)
            + Duration::from_micros(t.tv_usec().max(0) as u64)
    };
    // getrusage cannot fail for this process; should it, CPU reads as zero.
    getrusage(who)
        .map(|u| to_duration(u.user_time()) + to_duration(u.system_time()))
        .unwrap_or_default()
}

/// User + system CPU of this process so far.
pub fn cpu_time() -> Duration {
    rusage_time(nix::sys::resource::UsageWho::RUSAGE_SELF)
}

/// User + system CPU of this process's waited-for children so far.
pub fn children_cpu_time() -> Duration {
    rusage_time(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
}

pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

pub fn size(var: &str, default: usize) -> Fallible<usize> {
    match std::env::var(var) {
        Ok(text) => Ok(text.parse().map_err(|_| format!("{var}: not a number"))?),
        Err(_) => Ok(default),
    }
}
