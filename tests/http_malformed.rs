//! The malformed-response corpus: every case must end in its exact `RemoteError`, the same
//! way whole, byte by byte and split at every position, and must poison the decoder.

mod http_cases;

use http_cases::malformed::cases;
use http_cases::{run, run_all_splits, Owned};
use mtls_core::http::HttpError;
use mtls_core::internals::ResponseContext;

#[test]
fn corpus_is_large_enough_and_names_are_unique() {
    let all = cases();
    assert!(all.len() >= 60, "only {} malformed cases", all.len());
    let mut names: Vec<_> = all.iter().map(|c| c.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), all.len(), "duplicate case names");
    println!("{} malformed-response cases", all.len());
}

#[test]
fn every_malformed_response_gives_its_exact_error_at_every_split() {
    for c in cases() {
        let ctxs: Vec<ResponseContext> = c
            .methods
            .iter()
            .map(|m| ResponseContext::new(m).with_close(c.close_request))
            .collect();
        let events = run_all_splits(c.name, c.limits, &ctxs, &c.bytes, c.eof);
        assert_eq!(
            events.last(),
            Some(&Owned::Err(HttpError::Remote(c.error))),
            "{}: {:?}",
            c.name,
            events
        );
        // Exactly one error, at the end.
        assert_eq!(
            events.iter().filter(|e| matches!(e, Owned::Err(_))).count(),
            1,
            "{}",
            c.name
        );
    }
}

#[test]
fn every_error_poisons_the_decoder() {
    for c in cases() {
        let ctxs: Vec<ResponseContext> = c
            .methods
            .iter()
            .map(|m| ResponseContext::new(m).with_close(c.close_request))
            .collect();
        let (_, mut d) = run(c.limits, &ctxs, &[&c.bytes], c.eof);
        let err = Some(HttpError::Remote(c.error));
        assert_eq!(d.error(), Some(c.error), "{}", c.name);
        assert!(!d.can_reuse(), "{}", c.name);
        assert_eq!(d.poll_event().err(), err, "{}", c.name);
        assert_eq!(d.poll_response().err(), err, "{}", c.name);
        if !c.eof {
            assert_eq!(d.feed(b"HTTP/1.1 200 OK\r\n\r\n").err(), err, "{}", c.name);
        }
        assert_eq!(
            d.expect_response(ResponseContext::new("GET")).err(),
            err,
            "{}",
            c.name
        );
        d.handle_eof();
        assert_eq!(d.poll_event().err(), err, "{}", c.name);
    }
}

#[test]
fn collect_helper_reports_the_same_errors() {
    for c in cases() {
        let mut ctxs = c
            .methods
            .iter()
            .map(|m| ResponseContext::new(m).with_close(c.close_request));
        let mut d = mtls_core::internals::ResponseDecoder::new(c.limits);
        d.expect_response(ctxs.next().unwrap()).unwrap();
        let mut fed_eof = false;
        let result = match d.feed(&c.bytes) {
            Err(e) => Err(e),
            Ok(()) => loop {
                match d.poll_response() {
                    Err(e) => break Err(e),
                    Ok(Some(_)) => {
                        if let Some(ctx) = ctxs.next() {
                            if let Err(e) = d.expect_response(ctx) {
                                break Err(e);
                            }
                        }
                    }
                    Ok(None) if c.eof && !fed_eof => {
                        d.handle_eof();
                        fed_eof = true;
                    }
                    Ok(None) => break Ok(()),
                }
            },
        };
        assert_eq!(result, Err(HttpError::Remote(c.error)), "{}", c.name);
    }
}
