//! No allocation in the steady state: after the first response on a connection, decoding the
//! next response of the same size through `poll_event` allocates nothing. Counted with a
//! global allocator (its own test binary so no other test shares it). The same figures are
//! printed by `cargo run --example http_alloc`.

#[path = "http_cases/alloc.rs"]
mod alloc_count;

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
