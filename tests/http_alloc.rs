//! No allocation in the steady state: after the first response on a connection, decoding the
//! next response of the same size through `poll_event` allocates nothing. Counted with a
//! global allocator (its own test binary so no other test shares it). The same figures are
//! printed by `cargo run --example http_alloc`.
//!
//! And the whole client: one more GET on a warm, kept-alive connection with a cached token
//! (`support/warm_client.rs`: an in-process rustls server over memory buffers) allocates
//! nothing in the client's calls when the caller recycles its responses. The same figures
//! are printed by `cargo run --release --example bench` (`allocs_per_warm_request`).

#[path = "http_cases/alloc.rs"]
mod alloc_count;

#[path = "support/warm_client.rs"]
mod warm_client;

use alloc_count::{collect_rounds, encode_rounds, event_rounds, scenarios, Counting};

#[global_allocator]
static ALLOC: Counting = Counting;

#[test]
fn steady_state_decoding_allocates_nothing() {
    for s in scenarios() {
        let rounds = event_rounds(&s, 4);
        println!("{}: allocations per response {:?}", s.name, rounds);
        assert!(rounds[0] > 0, "{}: the counter works", s.name);
        assert_eq!(&rounds[1..], &[0, 0, 0], "{}", s.name);
    }
}

#[test]
fn encoding_allocates_nothing() {
    assert_eq!(encode_rounds(), (0, 0));
}

#[test]
fn collect_helper_allocates_only_the_owned_response() {
    for s in scenarios() {
        let rounds = collect_rounds(&s, 3);
        println!("{}: poll_response allocations {:?}", s.name, rounds);
        // Steady: the same number each time (the owned parts), no buffer growth.
        assert_eq!(rounds[1], rounds[2], "{}", s.name);
    }
}

#[test]
fn a_warm_client_request_allocates_nothing_in_our_layers() {
    let mut warm = warm_client::Warm::new(alloc_count::allocations);
    let count = warm.measure(3, 4).expect("steady");
    println!("allocations per warm GET: {count:?}");
    // Token and first GET, then 2 x (3 + 1 + 4) GETs: all on the one connection.
    assert_eq!(warm.answered(), 2 + 2 * (3 + 1 + 4));
    // The counter and the attribution see the client's work.
    // Building `ApiRequest::get(path)`: the path's `String` (the method is borrowed).
    assert_eq!(count.request_value, 1, "the counter works");
    assert!(
        count.rustls > 0,
        "rustls' allocations are seen (and set apart)"
    );
    // The pooled path: nothing in the client, HTTP and TLS record layers.
    assert_eq!(count.ours, 0, "ours per warm request, response recycled");
    // Keeping each owned response costs only its own parts.
    assert_eq!(
        count.ours_owned,
        owned_parts(),
        "ours per warm request, owned"
    );
    // rustls 0.23: one buffer per record it encrypts (the request) and one per application
    // data record it decrypts (the response). Not ours; pinned so a change shows.
    assert_eq!(count.rustls, 2, "rustls per warm request");
}

/// The allocations of one owned copy of the harness's API response: the header list, a name
/// and a value for each of its 4 headers, the reason and the body.
fn owned_parts() -> u64 {
    1 + 2 * 4 + 1 + 1
}
