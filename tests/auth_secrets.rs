//! Leak test: formatting every secret-holding type never shows the secret.

use core::time::Duration;

use mtls_core::auth::{AccessToken, AuthError, Credentials, ExportedToken, TokenCache};
use mtls_core::internals::{
    parse_token_response, AccessTokenExt, Acquire, CredentialsExt, TokenCacheExt, TokenRequest,
    TokenResponse,
};
use mtls_core::time::Instant;

const API_KEY: &str = "sEcReTkEy-0042";
const TOKEN: &str = "tOkEnSeCrEt9f8e7d";
// base64("client:sEcReTkEy-0042")
const BASIC_B64: &str = "Y2xpZW50OnNFY1JlVGtFeS0wMDQy";

#[track_caller]
fn assert_clean(what: &str, s: &str) {
    for secret in [API_KEY, TOKEN, BASIC_B64] {
        assert!(!s.contains(secret), "{what} leaks a secret: {s}");
    }
    // Also no long fragments of them.
    for secret in [API_KEY, TOKEN, BASIC_B64] {
        assert!(
            !s.contains(&secret[..8]),
            "{what} leaks part of a secret: {s}"
        );
    }
}

#[test]
fn nothing_secret_is_printed() {
    let creds = Credentials::new("client", API_KEY).unwrap();
    let basic = creds.basic_authorization();
    assert!(
        basic.expose().ends_with(BASIC_B64),
        "the test's fixture is right"
    );
    let request = TokenRequest::new(&creds);
    let headers = request.headers();
    let token = AccessToken::new(TOKEN).unwrap();
    let bearer = token.bearer_header();
    let body = format!(r#"{{"access_token":"{TOKEN}","token_type":"Bearer","expires_in":3600}}"#);
    let response: TokenResponse = parse_token_response(200, body.as_bytes()).unwrap();
    let exported = ExportedToken::new(token.clone(), Duration::from_secs(60));

    let cache = TokenCache::default();
    let shared = cache.clone();
    let Acquire::Fetch(ticket) = shared.acquire(Instant::ZERO) else {
        panic!()
    };
    let ticket_dbg = format!("{ticket:?}");
    let cached = shared
        .complete(ticket, Ok(response.clone()), Instant::ZERO)
        .unwrap();
    let acquired = shared.acquire(Instant::from_secs(1));
    let plain = TokenCache::default();
    let Acquire::Fetch(ticket) = plain.acquire(Instant::ZERO) else {
        panic!()
    };
    ticket
        .complete(Ok(response.clone()), Instant::ZERO)
        .unwrap();

    let outputs = [
        ("Credentials", format!("{creds:?}")),
        ("Credentials {:#?}", format!("{creds:#?}")),
        ("Basic AuthorizationValue", format!("{basic:?}")),
        ("TokenRequest", format!("{request:?}")),
        ("TokenRequest {:#?}", format!("{request:#?}")),
        ("RequestHeader", format!("{headers:?}")),
        ("AccessToken", format!("{token:?}")),
        ("Bearer AuthorizationValue", format!("{bearer:?}")),
        ("TokenResponse", format!("{response:?}")),
        (
            "Ok(TokenResponse)",
            format!("{:?}", Ok::<_, AuthError>(response.clone())),
        ),
        ("ExportedToken", format!("{exported:?}")),
        ("FetchTicket", ticket_dbg),
        ("CachedToken", format!("{cached:?}")),
        ("Acquire", format!("{acquired:?}")),
        ("TokenCache", format!("{cache:?}")),
        ("TokenCache clone", format!("{shared:?}")),
        ("private TokenCache", format!("{plain:?}")),
    ];
    for (what, s) in &outputs {
        assert_clean(what, s);
    }
    assert!(
        outputs[0].1.contains("client"),
        "the client id is not secret"
    );
    assert!(outputs[0].1.contains("<redacted>"));

    // Every error message, too.
    let errors = [
        Credentials::new("client", format!("{API_KEY}\n")).unwrap_err(),
        Credentials::new(format!("cli:{API_KEY}"), API_KEY).unwrap_err(),
        AccessToken::new(&format!("{TOKEN} x")).unwrap_err(),
        parse_token_response(401, body.as_bytes()).unwrap_err(),
        parse_token_response(
            200,
            format!(r#"{{"access_token":"{TOKEN}","token_type":"MAC","expires_in":1}}"#).as_bytes(),
        )
        .unwrap_err(),
    ];
    for e in errors {
        assert_clean("AuthError Display", &e.to_string());
        assert_clean("AuthError Debug", &format!("{e:?}"));
    }
}

#[test]
fn zeroize_wipes_the_token() {
    use zeroize::Zeroize;
    let mut token = AccessToken::new(TOKEN).unwrap();
    token.zeroize();
    assert_eq!(token.expose(), "");
    assert!(token.is_empty());
    let mut header = Credentials::new("client", API_KEY)
        .unwrap()
        .basic_authorization();
    header.zeroize();
    assert_eq!(header.expose(), "");
}
