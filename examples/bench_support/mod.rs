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

/// One round's figures of a concurrency contender.
#[derive(Clone, Copy)]
pub struct Figures {
    pub requests_per_s: f64,
    pub cpu_us_per_request: f64,
}

/// Prints the contenders' table (medians, each round, the token requests their server saw)
/// and the first-to-second ratio line; returns the medians, in `names`' order.
pub fn report(names: &[&'static str], results: &[Vec<Figures>], tokens: &[u64]) -> Vec<Figures> {
    let medians: Vec<Figures> = results
        .iter()
        .map(|r| Figures {
            requests_per_s: median(r.iter().map(|f| f.requests_per_s).collect()),
            cpu_us_per_request: median(r.iter().map(|f| f.cpu_us_per_request).collect()),
        })
        .collect();
    println!(
        "{:<26} {:>12} {:>16} {:>30} {:>15}",
        "contender", "requests/s", "CPU us/request", "(per round, req/s)", "token requests"
    );
    for (i, name) in names.iter().enumerate() {
        let per_round: Vec<String> = results[i]
            .iter()
            .map(|f| format!("{:.0}", f.requests_per_s))
            .collect();
        println!(
            "{:<26} {:>12.0} {:>16.1} {:>30} {:>15}",
            name,
            medians[i].requests_per_s,
            medians[i].cpu_us_per_request,
            per_round.join(" "),
            tokens[i],
        );
    }
    if medians.len() >= 2 {
        println!(
            "ratio {} / {}: throughput x{:.2}, CPU per request x{:.2}",
            names[0],
            names[1],
            medians[0].requests_per_s / medians[1].requests_per_s,
            medians[0].cpu_us_per_request / medians[1].cpu_us_per_request,
        );
    }
    medians
}
