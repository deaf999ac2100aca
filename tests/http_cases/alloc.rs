//! A counting global allocator and the steady-state scenarios shared by
//! `tests/http_alloc.rs` and `examples/http_alloc.rs`. Not part of `http_cases/mod.rs`:
//! only binaries that mean to install the allocator include this file (by `#[path]`), with
//! `support/warm_client.rs` as the crate's `warm_client` module.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use mtls_core::http::Limits;
use mtls_core::internals::{Event, Request, ResponseContext, ResponseDecoder};

/// Counts allocations and reallocations made by the current thread.
pub struct Counting;

thread_local! {
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

fn bump() {
    // The warm-client observer's own allocations (its backtraces) are not counted.
    if !crate::warm_client::observe_allocation() {
        return;
    }
    // `try_with`: the slot may be gone while a thread is being torn down.
    let _ = COUNT.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: forwards every call to `System` unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Allocations made so far by this thread.
#[allow(dead_code)]
pub fn allocations() -> u64 {
    COUNT.with(Cell::get) as u64
}

/// Allocations made by `f` on this thread.
pub fn count<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let before = COUNT.with(Cell::get);
    let r = f();
    (COUNT.with(Cell::get) - before, r)
}

/// One scenario: a response, the way it is fed, and the request it answers.
pub struct Scenario {
    pub name: &'static str,
    pub method: &'static str,
    pub bytes: Vec<u8>,
    /// Sizes of the slices fed, in order (the last one takes the rest).
    pub pieces: Vec<usize>,
}

pub fn scenarios() -> Vec<Scenario> {
    let body = vec![b'x'; 4096];
    let mut cl = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4096\r\nDate: Tue, 25 Nov 2025 13:00:00 GMT\r\n\r\n".to_vec();
    cl.extend_from_slice(&body);
    let mut chunked =
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n".to_vec();
    for _ in 0..8 {
        chunked.extend_from_slice(b"200;ext=1\r\n");
        chunked.extend_from_slice(&body[..512]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\nX-Sum: 4096\r\n\r\n");
    let interim =
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}"
            .to_vec();
    vec![
        Scenario {
            name: "Content-Length 4 KiB, 3 slices",
            method: "GET",
            bytes: cl.clone(),
            pieces: vec![40, 1500, usize::MAX],
        },
        Scenario {
            name: "Content-Length 4 KiB, byte by byte",
            method: "GET",
            bytes: cl,
            pieces: vec![1; 5000],
        },
        Scenario {
            name: "chunked 8 x 512 B + extensions + trailer, 1 KiB slices",
            method: "GET",
            bytes: chunked,
            pieces: vec![1024; 8],
        },
        Scenario {
            name: "100 Continue then 201, one slice",
            method: "POST",
            bytes: interim,
            pieces: vec![usize::MAX],
        },
    ]
}

/// Decodes one response of `s` on `d` through `poll_event`; returns the body length seen.
pub fn decode_events(d: &mut ResponseDecoder, s: &Scenario) -> usize {
    d.expect_response(ResponseContext::new(s.method))
        .expect("idle");
    let mut rest = &s.bytes[..];
    let mut body = 0;
    for &p in &s.pieces {
        if rest.is_empty() {
            break;
        }
        let (piece, tail) = rest.split_at(p.min(rest.len()));
        rest = tail;
        d.feed(piece).expect("feed");
        while let Some(ev) = d.poll_event().expect("valid") {
            if let Event::Data(b) = ev {
                body += b.len();
            }
        }
    }
    body
}

/// Allocations per round of decoding the same response on one connection, `rounds` times.
pub fn event_rounds(s: &Scenario, rounds: usize) -> Vec<usize> {
    let mut d = ResponseDecoder::new(Limits::default());
    (0..rounds)
        .map(|_| count(|| decode_events(&mut d, s)).0)
        .collect()
}

/// Allocations per round through `poll_response` (owned response: allocates by design).
pub fn collect_rounds(s: &Scenario, rounds: usize) -> Vec<usize> {
    let mut d = ResponseDecoder::new(Limits::default());
    (0..rounds)
        .map(|_| {
            count(|| {
                d.expect_response(ResponseContext::new(s.method))
                    .expect("idle");
                d.feed(&s.bytes).expect("feed");
                d.poll_response().expect("valid").expect("complete")
            })
            .0
        })
        .collect()
}

/// Allocations of encoding a typical request: into a slice, and into a reused `Vec`.
pub fn encode_rounds() -> (usize, usize) {
    let headers = [
        ("Authorization", "Bearer eyJhbGciOiJSUzI1NiJ9.e30.sig"),
        ("Accept", "application/json"),
        ("Content-Type", "application/json"),
        ("Idempotency-Key", "5f1c6a0e-1d7e-4c43-9c1e-2a3f1f0b6a11"),
    ];
    let req = Request::new(
        "POST",
        "api-mtls.example.com",
        "/v2.01/client/payins/card/direct",
    )
    .headers(&headers)
    .body(b"{\"AuthorId\":\"123\",\"DebitedFunds\":{\"Currency\":\"EUR\",\"Amount\":1000}}");
    let mut buf = [0u8; 1024];
    let (slice, _) = count(|| req.encode(&mut buf).expect("fits"));
    let mut v = Vec::with_capacity(1024);
    let (vec, _) = count(|| {
        v.clear();
        req.encode_to_vec(&mut v, 1024).expect("fits")
    });
    (slice, vec)
}
