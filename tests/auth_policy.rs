//! SCA challenge parsing, the 401 retry rule and idempotency keys.

use mtls_core::auth::{IdempotencyKey, IdempotencyKeyError, RetryPolicy};
use mtls_core::internals::{
    is_sca_challenge, AuthDecision, RetryPolicyExt, ScaChallenge, IDEMPOTENCY_KEY_HEADER,
};

fn url(v: &str) -> Option<Option<&str>> {
    is_sca_challenge(401, v.as_bytes()).map(|c| c.redirect_url)
}

#[test]
fn sca_challenge_forms() {
    let u = "https://sca.sandbox.mangopay.com/?token=abc&lang=en";
    assert_eq!(
        url(&format!("PendingUserAction RedirectUrl={u}")),
        Some(Some(u))
    );
    assert_eq!(
        url(&format!("PendingUserAction RedirectUrl=\"{u}\"")),
        Some(Some(u))
    );
    assert_eq!(
        url(&format!("pendinguseraction redirecturl = \"{u}\"")),
        Some(Some(u))
    );
    assert_eq!(
        url(&format!("  PendingUserAction   RedirectUrl={u}  ")),
        Some(Some(u))
    );
    assert_eq!(
        url(&format!(
            "PendingUserAction realm=\"api\", RedirectUrl={u}, other=1"
        )),
        Some(Some(u))
    );
    // Among other challenges.
    assert_eq!(
        url(&format!(
            "Bearer realm=\"api\", PendingUserAction RedirectUrl=\"{u}\""
        )),
        Some(Some(u))
    );
    // A RedirectUrl of another scheme's challenge is not ours.
    assert_eq!(
        url(&format!(
            "Bearer RedirectUrl={u}, PendingUserAction realm=x"
        )),
        Some(None)
    );
    // The challenge without a URL is still SCA (not a token problem).
    assert_eq!(url("PendingUserAction"), Some(None));
    assert_eq!(url("PendingUserAction RedirectUrl="), Some(None));
    assert_eq!(url("PendingUserAction RedirectUrl=\"\""), Some(None));
    // Unterminated quote: runs to the end.
    assert_eq!(
        url("PendingUserAction RedirectUrl=\"https://x"),
        Some(Some("https://x"))
    );
}

#[test]
fn not_sca() {
    assert_eq!(url("Bearer realm=\"api\", error=\"invalid_token\""), None);
    assert_eq!(url(""), None);
    assert_eq!(url("PendingUserActionX RedirectUrl=https://x"), None);
    assert_eq!(url("Bearer realm=\"PendingUserAction\""), None);
    assert_eq!(url("realm=PendingUserAction"), None);
    assert_eq!(
        is_sca_challenge(403, b"PendingUserAction RedirectUrl=https://x"),
        None
    );
    assert_eq!(is_sca_challenge(401, b"PendingUserAction \xff"), None);
}

#[test]
fn sca_never_panics() {
    let alphabet = b"PendingUserAction RedirectUrl=\",\\ \t=x";
    let mut seed = 99u32;
    for _ in 0..20_000 {
        let len = (seed % 48) as usize;
        let mut v = Vec::with_capacity(len);
        for _ in 0..len {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            v.push(alphabet[(seed as usize) % alphabet.len()]);
        }
        let _ = is_sca_challenge(401, &v);
    }
}

#[test]
fn retry_rule() {
    let p = RetryPolicy::default();
    let sca: &[u8] = b"PendingUserAction RedirectUrl=https://x/y";
    let bearer: &[u8] = b"Bearer error=\"invalid_token\"";
    assert_eq!(p.decide(200, None, false), AuthDecision::Deliver);
    assert_eq!(p.decide(403, Some(sca), false), AuthDecision::Deliver);
    assert_eq!(p.decide(401, None, false), AuthDecision::InvalidateAndRetry);
    assert_eq!(
        p.decide(401, Some(bearer), false),
        AuthDecision::InvalidateAndRetry
    );
    // Exactly one retry.
    assert_eq!(p.decide(401, Some(bearer), true), AuthDecision::Deliver);
    // SCA is never a retry, first attempt or not.
    let expected = AuthDecision::ScaRequired(ScaChallenge {
        redirect_url: Some("https://x/y"),
    });
    assert_eq!(p.decide(401, Some(sca), false), expected);
    assert_eq!(p.decide(401, Some(sca), true), expected);
    assert_eq!(p.decide(401, [bearer, sca], false), expected);
    assert_eq!(
        RetryPolicy::without_retry().decide(401, None, false),
        AuthDecision::Deliver
    );
}

#[test]
fn idempotency_key_from_random() {
    let k = IdempotencyKey::from_random([0; 16]);
    assert_eq!(k.as_str(), "00000000-0000-4000-8000-000000000000");
    let k = IdempotencyKey::from_random([0xff; 16]);
    assert_eq!(k.as_str(), "ffffffff-ffff-4fff-bfff-ffffffffffff");
    let k = IdempotencyKey::from_random([
        0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd,
        0xef,
    ]);
    assert_eq!(k.as_str(), "12345678-9abc-4ef0-8123-456789abcdef");
    assert_eq!(k.to_string(), k.as_str());
    assert_eq!(IdempotencyKey::new(k.as_str()), Ok(k));
    assert_eq!(IDEMPOTENCY_KEY_HEADER, "Idempotency-Key");
    assert_eq!(
        format!("{k:?}"),
        "IdempotencyKey(\"12345678-9abc-4ef0-8123-456789abcdef\")"
    );
}

#[test]
fn idempotency_key_validation() {
    assert_eq!(
        IdempotencyKey::new("a".repeat(16).as_str())
            .unwrap()
            .as_str()
            .len(),
        16
    );
    assert_eq!(
        IdempotencyKey::new("A-z-0-9".repeat(5).as_str())
            .unwrap()
            .as_str()
            .len(),
        35
    );
    assert_eq!(
        IdempotencyKey::new("a".repeat(36).as_str())
            .unwrap()
            .as_str()
            .len(),
        36
    );
    assert_eq!(
        IdempotencyKey::new(&"a".repeat(15)),
        Err(IdempotencyKeyError::TooShort)
    );
    assert_eq!(IdempotencyKey::new(""), Err(IdempotencyKeyError::TooShort));
    assert_eq!(
        IdempotencyKey::new(&"a".repeat(37)),
        Err(IdempotencyKeyError::TooLong)
    );
    assert_eq!(
        IdempotencyKey::new("abcdefgh_ijklmnop"),
        Err(IdempotencyKeyError::InvalidCharacter)
    );
    assert_eq!(
        IdempotencyKey::new("abcdefgh ijklmnop"),
        Err(IdempotencyKeyError::InvalidCharacter)
    );
    assert_eq!(
        IdempotencyKey::new("abcdéfghijklmnop"),
        Err(IdempotencyKeyError::InvalidCharacter)
    );
}
