//! Prints heap allocations per response when one connection decodes the same response
//! repeatedly (steady state), with a counting global allocator; and per GET of the whole
//! sans-IO client on a warm connection, by layer (`tests/support/warm_client.rs`).
//!
//! ```text
//! cargo run --example http_alloc
//! ```

#[path = "../tests/http_cases/alloc.rs"]
mod alloc_count;

#[path = "../tests/support/warm_client.rs"]
mod warm_client;

use alloc_count::{collect_rounds, encode_rounds, event_rounds, scenarios, Counting};

#[global_allocator]
static ALLOC: Counting = Counting;

fn main() {
    println!("allocations per response, rounds 1..=5 on one connection (poll_event):");
    for s in scenarios() {
        let rounds = event_rounds(&s, 5);
        println!("  {:<58} {:?}", s.name, rounds);
        assert!(
            rounds[1..].iter().all(|&n| n == 0),
            "steady state allocated"
        );
    }
    println!("allocations per response through poll_response (owned Response):");
    for s in scenarios() {
        println!("  {:<58} {:?}", s.name, collect_rounds(&s, 5));
    }
    let (slice, vec) = encode_rounds();
    println!("request encode: into &mut [u8]: {slice}, into a reused Vec: {vec}");
    let mut warm = warm_client::Warm::new(alloc_count::allocations);
    let count = warm.measure(3, 4).expect("steady state");
    println!(
        "warm client GET: ours {} (response recycled), ours {} (owned response kept), rustls {}, building the ApiRequest {}",
        count.ours, count.ours_owned, count.rustls, count.request_value
    );
}
