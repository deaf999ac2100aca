//! The token cache: expiry, refresh margin, single flight, tickets, invalidation, export,
//! and sharing by clone.

use core::time::Duration;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

use mtls_core::auth::{AccessToken, AuthError, CachePolicy, ExportedToken, TokenCache};
use mtls_core::internals::{
    Acquire, CachedTokenExt, TokenCacheExt, TokenResponse, MAX_EXPIRES_IN_SECS,
};
use mtls_core::time::Instant;

fn response(token: &str, secs: u64) -> Result<TokenResponse, AuthError> {
    Ok(TokenResponse {
        access_token: AccessToken::new(token).unwrap(),
        expires_in: Some(Duration::from_secs(secs)),
    })
}

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

fn secs(n: u64) -> Instant {
    Instant::from_secs(n)
}

#[track_caller]
fn valid_token(a: Acquire) -> String {
    match a {
        Acquire::Valid(t) => t.token().expose().to_owned(),
        other => panic!("expected Valid, got {other:?}"),
    }
}

#[test]
fn reuse_before_margin_refresh_after() {
    let cache = TokenCache::new(CachePolicy::default());
    let Acquire::Fetch(ticket) = cache.acquire(secs(100)) else {
        panic!("empty cache must ask for a fetch")
    };
    let t = cache
        .complete(ticket, response("one", 3600), secs(101))
        .unwrap();
    // Counted from when the fetch was handed out (100 s).
    assert_eq!(t.expires_at(), secs(3700));
    assert_eq!(t.refresh_at(), secs(3670));
    assert_eq!(t.generation().get(), 1);
    assert_eq!(valid_token(cache.acquire(secs(102))), "one");
    assert_eq!(valid_token(cache.acquire(ms(3_669_999))), "one");
    let Acquire::Fetch(refresh) = cache.acquire(secs(3670)) else {
        panic!("must refresh at expires_in - margin")
    };
    // While the refresh is in flight, others still get the old (still accepted) token.
    assert_eq!(valid_token(cache.acquire(secs(3680))), "one");
    let t2 = cache
        .complete(refresh, response("two", 3600), secs(3671))
        .unwrap();
    assert_eq!(t2.generation().get(), 2);
    assert_eq!(t2.expires_at(), secs(3670 + 3600));
    assert_eq!(valid_token(cache.acquire(secs(3690))), "two");
}

#[test]
fn expired_token_makes_others_wait() {
    let cache = TokenCache::default();
    let Acquire::Fetch(t) = cache.acquire(secs(0)) else {
        panic!()
    };
    cache.complete(t, response("one", 100), secs(0)).unwrap();
    let Acquire::Fetch(refresh) = cache.acquire(secs(100)) else {
        panic!()
    };
    // The old token is expired at 100 s: nobody may use it.
    match cache.acquire(secs(100)) {
        Acquire::Wait { until } => assert_eq!(until, secs(130)),
        other => panic!("{other:?}"),
    }
    assert_eq!(cache.current(secs(100)), None);
    drop(refresh);
}

#[test]
fn configurable_margin_and_short_lived_tokens() {
    let cache = TokenCache::new(CachePolicy::new().with_refresh_margin(Duration::from_secs(60)));
    let Acquire::Fetch(id) = cache.acquire(secs(0)) else {
        panic!()
    };
    let t = cache.complete(id, response("a", 600), secs(0)).unwrap();
    assert_eq!(t.refresh_at(), secs(540));

    // expires_in <= margin: usable for half its life.
    let cache = TokenCache::default();
    let Acquire::Fetch(id) = cache.acquire(secs(0)) else {
        panic!()
    };
    let t = cache.complete(id, response("a", 20), secs(0)).unwrap();
    assert_eq!(t.refresh_at(), secs(10));
    assert_eq!(t.expires_at(), secs(20));
    assert!(matches!(cache.acquire(ms(9_999)), Acquire::Valid(_)));
    assert!(matches!(cache.acquire(secs(10)), Acquire::Fetch(_)));

    // Exactly the margin: also half.
    let cache = TokenCache::default();
    let Acquire::Fetch(id) = cache.acquire(secs(0)) else {
        panic!()
    };
    let t = cache.complete(id, response("a", 30), secs(0)).unwrap();
    assert_eq!(t.refresh_at(), secs(15));

    // A one-second token.
    let cache = TokenCache::default();
    let Acquire::Fetch(id) = cache.acquire(secs(0)) else {
        panic!()
    };
    let t = cache.complete(id, response("a", 1), secs(0)).unwrap();
    assert_eq!(t.refresh_at(), ms(500));
}

#[test]
fn single_flight_across_eight_threads() {
    let cache = TokenCache::default();
    let fetches = Arc::new(AtomicUsize::new(0));
    let waits = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let cache = cache.clone();
            let fetches = Arc::clone(&fetches);
            let waits = Arc::clone(&waits);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let now = secs(5);
                barrier.wait();
                let mut waited = false;
                for _ in 0..10_000_000u64 {
                    match cache.acquire(now) {
                        Acquire::Valid(t) => {
                            return (t.token().expose().to_owned(), t.generation().get(), waited)
                        }
                        Acquire::Fetch(ticket) => {
                            fetches.fetch_add(1, Ordering::SeqCst);
                            // A fake fetch that lasts until the seven others have seen `Wait`
                            // (bounded, in case the cache were wrong).
                            let start = std::time::Instant::now();
                            while waits.load(Ordering::SeqCst) < 7
                                && start.elapsed() < std::time::Duration::from_secs(10)
                            {
                                std::thread::yield_now();
                            }
                            let t = cache
                                .complete(ticket, response("shared", 3600), now)
                                .unwrap();
                            return (t.token().expose().to_owned(), t.generation().get(), waited);
                        }
                        Acquire::Wait { until } => {
                            assert_eq!(until, secs(35));
                            if !waited {
                                waits.fetch_add(1, Ordering::SeqCst);
                                waited = true;
                            }
                            std::thread::yield_now();
                        }
                    }
                }
                panic!("never got a token");
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "exactly one Fetch");
    assert_eq!(waits.load(Ordering::SeqCst), 7, "the seven others waited");
    for (token, generation, _) in &results {
        assert_eq!(token, "shared");
        assert_eq!(*generation, 1);
    }
}

#[test]
fn dropped_ticket_releases_the_fetch() {
    let cache = TokenCache::default();
    let other = cache.clone();
    let Acquire::Fetch(ticket) = cache.acquire(secs(0)) else {
        panic!()
    };
    assert!(cache.is_fetching(secs(0)));
    assert!(matches!(other.acquire(secs(1)), Acquire::Wait { .. }));
    drop(ticket);
    assert!(!cache.is_fetching(secs(1)));
    let Acquire::Fetch(ticket) = other.acquire(secs(1)) else {
        panic!("a dropped ticket must let another caller fetch")
    };
    assert_eq!(ticket.started(), secs(1));
    // Dropping an `Acquire::Fetch` without looking at it releases too.
    drop(ticket);
    let _ = other.acquire(secs(2));
    assert!(matches!(cache.acquire(secs(2)), Acquire::Fetch(_)));
}

#[test]
fn clones_share_a_fresh_cache_is_private() {
    let policy = CachePolicy::new().with_refresh_margin(Duration::from_secs(60));
    let cache = TokenCache::new(policy);
    let clone = cache.clone();
    let private = TokenCache::new(policy);
    assert_eq!(clone.policy(), policy);
    // The fetch is shared: a clone waits, a fresh cache fetches for itself.
    let Acquire::Fetch(ticket) = cache.acquire(secs(0)) else {
        panic!()
    };
    assert!(clone.is_fetching(secs(0)));
    assert!(matches!(clone.acquire(secs(0)), Acquire::Wait { .. }));
    assert!(!private.is_fetching(secs(0)));
    let Acquire::Fetch(own) = private.acquire(secs(0)) else {
        panic!("a fresh cache shares no fetch")
    };
    // So is the token, its generation, and every change to it.
    let t = ticket.complete(response("shared", 3600), secs(0)).unwrap();
    assert_eq!(valid_token(clone.acquire(secs(1))), "shared");
    assert_eq!(clone.current(secs(1)), Some(t.clone()));
    assert_eq!(clone.export(secs(1)), cache.export(secs(1)));
    assert_eq!(private.current(secs(1)), None);
    let p = own.complete(response("private", 3600), secs(0)).unwrap();
    assert_eq!(p.generation().get(), 1, "generations are per cache");
    assert_eq!(valid_token(cache.acquire(secs(1))), "shared");
    assert!(clone.invalidate(t.generation()));
    assert_eq!(cache.current(secs(1)), None);
    assert_eq!(valid_token(private.acquire(secs(1))), "private");
    private.clear();
    assert_eq!(private.current(secs(1)), None);
    // A clone of a clone is the same cache too.
    let Acquire::Fetch(ticket) = clone.clone().acquire(secs(2)) else {
        panic!()
    };
    assert!(cache.is_fetching(secs(2)));
    drop(ticket);
    assert!(!cache.is_fetching(secs(2)));
}

#[test]
fn ticket_completes_the_cache_that_issued_it() {
    let a = TokenCache::default();
    let b = TokenCache::default();
    let Acquire::Fetch(ticket) = a.acquire(secs(0)) else {
        panic!()
    };
    // Completed through the wrong handle: the token still goes where the ticket came from.
    b.complete(ticket, response("a's", 3600), secs(0)).unwrap();
    assert_eq!(valid_token(a.acquire(secs(1))), "a's");
    assert!(!a.is_fetching(secs(1)));
    assert_eq!(b.current(secs(1)), None);
    assert!(matches!(b.acquire(secs(1)), Acquire::Fetch(_)));
}

#[test]
fn stale_ticket_does_not_release_a_newer_fetch() {
    let cache = TokenCache::new(CachePolicy::new().with_fetch_timeout(Duration::from_secs(10)));
    let Acquire::Fetch(stuck) = cache.acquire(secs(0)) else {
        panic!()
    };
    let Acquire::Fetch(second) = cache.acquire(secs(10)) else {
        panic!("a stuck fetch must expire")
    };
    assert_eq!(second.started(), secs(10));
    // The timed-out ticket dropped late leaves the second fetch in flight.
    drop(stuck);
    assert!(cache.is_fetching(secs(11)));
    match cache.acquire(secs(11)) {
        Acquire::Wait { until } => assert_eq!(until, secs(20)),
        other => panic!("{other:?}"),
    }
    // `clear` forgets the fetch: the next caller fetches, and the cleared ticket, dropped,
    // does not release the new one; completed, it still installs its (valid) token.
    cache.clear();
    assert!(!cache.is_fetching(secs(11)));
    let Acquire::Fetch(third) = cache.acquire(secs(11)) else {
        panic!("clear must forget the in-flight fetch")
    };
    drop(second);
    assert!(cache.is_fetching(secs(12)));
    assert!(matches!(cache.acquire(secs(12)), Acquire::Wait { .. }));
    let t = third.complete(response("third", 3600), secs(12)).unwrap();
    assert_eq!(t.expires_at(), secs(3611));
    assert!(!cache.is_fetching(secs(12)));
    assert_eq!(valid_token(cache.acquire(secs(13))), "third");
}

#[test]
fn failed_fetch_releases_the_fetch() {
    let cache = TokenCache::default();
    let Acquire::Fetch(ticket) = cache.acquire(secs(0)) else {
        panic!()
    };
    assert_eq!(
        cache.complete(
            ticket,
            Err(AuthError::TokenEndpointStatus {
                status: 401,
                error: None,
            }),
            secs(1)
        ),
        Err(AuthError::TokenEndpointStatus {
            status: 401,
            error: None,
        })
    );
    assert!(matches!(cache.acquire(secs(1)), Acquire::Fetch(_)));
}

#[test]
fn stuck_fetch_times_out() {
    let cache = TokenCache::new(CachePolicy::new().with_fetch_timeout(Duration::from_secs(10)));
    let Acquire::Fetch(stuck) = cache.acquire(secs(0)) else {
        panic!()
    };
    match cache.acquire(ms(9_999)) {
        Acquire::Wait { until } => assert_eq!(until, secs(10)),
        other => panic!("{other:?}"),
    }
    let Acquire::Fetch(second) = cache.acquire(secs(10)) else {
        panic!("a stuck fetch must expire")
    };
    // The stuck one completing late still installs its (valid) token...
    let late = cache
        .complete(stuck, response("late", 3600), secs(11))
        .unwrap();
    assert_eq!(late.expires_at(), secs(3600));
    // ...without freeing the second fetch's slot: others still get the token, not a Fetch.
    assert_eq!(valid_token(cache.acquire(secs(12))), "late");
    let newer = cache
        .complete(second, response("second", 3600), secs(12))
        .unwrap();
    assert_eq!(newer.generation().get(), 2);
    assert_eq!(valid_token(cache.acquire(secs(13))), "second");
}

#[test]
fn completion_after_lifetime_ran_out() {
    let cache = TokenCache::default();
    let Acquire::Fetch(id) = cache.acquire(secs(0)) else {
        panic!()
    };
    assert_eq!(
        cache.complete(id, response("a", 5), secs(5)),
        Err(AuthError::TokenExpired)
    );
    assert!(matches!(cache.acquire(secs(5)), Acquire::Fetch(_)));
}

#[test]
fn invalidate_only_drops_the_same_generation() {
    let cache = TokenCache::default();
    let Acquire::Fetch(t) = cache.acquire(secs(0)) else {
        panic!()
    };
    let old = cache.complete(t, response("old", 3600), secs(0)).unwrap();
    // A 401 on `old`: invalidate it, refetch.
    assert!(cache.invalidate(old.generation()));
    assert_eq!(cache.current(secs(1)), None);
    let Acquire::Fetch(t) = cache.acquire(secs(1)) else {
        panic!()
    };
    let new = cache.complete(t, response("new", 3600), secs(1)).unwrap();
    assert!(new.generation() > old.generation());
    // A late 401 for a request that carried the old token must not discard the new one.
    assert!(!cache.invalidate(old.generation()));
    assert_eq!(valid_token(cache.acquire(secs(2))), "new");
    assert!(cache.invalidate(new.generation()));
    assert!(matches!(cache.acquire(secs(2)), Acquire::Fetch(_)));
}

#[test]
fn export_import_round_trip() {
    let a = TokenCache::default();
    assert_eq!(a.export(secs(0)), None);
    let Acquire::Fetch(t) = a.acquire(secs(1000)) else {
        panic!()
    };
    a.complete(t, response("persist-me", 3600), secs(1000))
        .unwrap();
    let exported = a.export(secs(1600)).unwrap();
    assert_eq!(exported.token().expose(), "persist-me");
    assert_eq!(exported.remaining(), Duration::from_secs(3000));

    // Another process, another monotonic clock.
    let b = TokenCache::default();
    let imported = b.import(&exported, secs(7)).unwrap();
    assert_eq!(imported.expires_at(), secs(3007));
    assert_eq!(imported.refresh_at(), secs(2977));
    assert_eq!(valid_token(b.acquire(secs(8))), "persist-me");
    assert_eq!(b.export(secs(7)).unwrap(), exported);

    // Rebuilt from storage.
    let from_disk = ExportedToken::new(
        AccessToken::new("persist-me").unwrap(),
        Duration::from_secs(3000),
    );
    assert_eq!(from_disk, exported);

    assert_eq!(
        b.import(
            &ExportedToken::new(AccessToken::new("x").unwrap(), Duration::ZERO),
            secs(0)
        ),
        Err(AuthError::TokenExpired)
    );
    assert_eq!(
        b.import(
            &ExportedToken::new(
                AccessToken::new("x").unwrap(),
                Duration::from_secs(MAX_EXPIRES_IN_SECS + 1)
            ),
            secs(0)
        ),
        Err(AuthError::ExpiresInTooLarge)
    );
    // Expired tokens are not exported.
    assert_eq!(a.export(secs(4600)), None);
    b.clear();
    assert_eq!(b.current(secs(8)), None);
}

#[test]
fn fake_clock_walk() {
    // Drive one cache through many refreshes on a fake clock: every fetch gets a new
    // generation, no two fetches overlap, and a token is never handed out past its expiry.
    let cache = TokenCache::default();
    let mut now = 0u64;
    let mut pending = None;
    let mut generations = 0;
    while now < 10 * 3600 * 1000 {
        match cache.acquire(ms(now)) {
            Acquire::Valid(t) => assert!(!t.is_expired(ms(now))),
            Acquire::Fetch(id) => {
                assert!(pending.is_none());
                pending = Some(id);
            }
            Acquire::Wait { .. } => assert!(pending.is_some()),
        }
        now += 7_000;
        if let Some(id) = pending.take() {
            let t = cache.complete(id, response("t", 600), ms(now)).unwrap();
            generations += 1;
            assert_eq!(t.generation().get(), generations);
        }
    }
    assert!(generations >= 60, "{generations}");
}

#[test]
fn end_of_time_does_not_overflow() {
    let end = Instant::from_millis(u64::MAX);
    let cache = TokenCache::default();
    let Acquire::Fetch(id) = cache.acquire(ms(u64::MAX - 1000)) else {
        panic!()
    };
    // The deadline saturates at the end of time, where the stuck fetch is given up.
    assert!(matches!(cache.acquire(end), Acquire::Fetch(_)));
    let t = cache.complete(id, response("a", 3600), ms(u64::MAX - 500));
    assert_eq!(t.map(|t| t.expires_at()), Ok(end));
    let _ = cache.acquire(end);
    let _ = cache.export(end);
}

/// The client's flow, once the `auth` module's doc example: acquire, fetch with a token
/// request, complete, reuse, refresh.
#[test]
fn the_flow() {
    use mtls_core::auth::Credentials;
    use mtls_core::internals::{parse_token_response, AccessTokenExt, TokenRequest};

    let creds = Credentials::new("Aladdin", "ghsiu6hjqQjj").unwrap();
    let cache = TokenCache::new(CachePolicy::default());
    let now = Instant::from_secs(10);

    let token = match cache.acquire(now) {
        Acquire::Valid(token) => token,
        Acquire::Fetch(ticket) => {
            // This caller is the only one fetching: send the token request...
            let request = TokenRequest::new(&creds);
            assert_eq!(request.method(), "POST");
            assert_eq!(request.path(), "/v2.01/oauth/token");
            assert_eq!(request.body(), b"grant_type=client_credentials");
            // ...on the wire (another module's job), then hand the answer back.
            let body = br#"{"access_token":"67b036bd007c40378d4be5a934f197e6",
                            "token_type":"Bearer","expires_in":3600}"#;
            cache
                .complete(ticket, parse_token_response(200, body), now)
                .unwrap()
        }
        Acquire::Wait { .. } => unreachable!("nobody else is fetching in this example"),
    };
    assert_eq!(
        token.bearer_header().expose(),
        "Bearer 67b036bd007c40378d4be5a934f197e6"
    );
    assert_eq!(
        token.token().bearer_header().expose(),
        "Bearer 67b036bd007c40378d4be5a934f197e6"
    );
    // Reused until 30 s before expiry...
    assert!(matches!(
        cache.acquire(now + Duration::from_secs(3569)),
        Acquire::Valid(_)
    ));
    // ...then refreshed.
    assert!(matches!(
        cache.acquire(now + Duration::from_secs(3570)),
        Acquire::Fetch(_)
    ));
}

/// Once `TokenCache`'s first doc example: a second caller waits for the first one's fetch.
#[test]
fn a_second_caller_waits_for_the_fetch() {
    let cache = TokenCache::default();
    let Acquire::Fetch(ticket) = cache.acquire(Instant::ZERO) else {
        unreachable!()
    };
    assert!(matches!(cache.acquire(Instant::ZERO), Acquire::Wait { .. }));
    let token = ticket
        .complete(response("t0k3n", 3600), Instant::from_secs(1))
        .unwrap();
    assert!(matches!(cache.acquire(Instant::from_secs(2)), Acquire::Valid(t) if t == token));
}

/// Once `TokenCache`'s second doc example: sharing, and a fetch abandoned by a dropped ticket.
#[test]
fn sharing_and_an_abandoned_fetch() {
    let cache = TokenCache::default();
    let other_connection = cache.clone(); // shares the token and the fetch
    let elsewhere = TokenCache::default(); // private: shares nothing
    let Acquire::Fetch(ticket) = cache.acquire(Instant::ZERO) else {
        unreachable!()
    };
    assert!(matches!(
        other_connection.acquire(Instant::ZERO),
        Acquire::Wait { .. }
    ));
    assert!(matches!(
        elsewhere.acquire(Instant::ZERO),
        Acquire::Fetch(_)
    ));
    drop(ticket); // the fetching connection died
    let Acquire::Fetch(ticket) = other_connection.acquire(Instant::ZERO) else {
        unreachable!()
    };
    other_connection
        .complete(ticket, response("t0k3n", 3600), Instant::from_secs(1))
        .unwrap();
    assert!(matches!(
        cache.acquire(Instant::from_secs(2)),
        Acquire::Valid(_)
    ));
    assert_eq!(elsewhere.current(Instant::from_secs(2)), None);
}
