//! Credentials, the token request and the token response parser: exact outcomes.

use core::time::Duration;

use mtls_core::auth::{AccessToken, AuthError, Credentials, TokenField, DEFAULT_TOKEN_PATH};
use mtls_core::internals::{
    parse_token_response, AccessTokenExt, AuthScheme, CredentialsExt, InsufficientSize,
    TokenRequest, MAX_EXPIRES_IN_SECS, MAX_TOKEN_LEN, MAX_TOKEN_RESPONSE_LEN,
};

#[test]
fn basic_header_matches_the_seed_example() {
    let creds = Credentials::new("Aladdin", "ghsiu6hjqQjj").unwrap();
    let value = creds.basic_authorization();
    assert_eq!(value.scheme(), AuthScheme::Basic);
    assert_eq!(value.expose(), "Basic QWxhZGRpbjpnaHNpdTZoanFRamo=");
    assert_eq!(value.expose_bytes(), b"Basic QWxhZGRpbjpnaHNpdTZoanFRamo=");
    assert_eq!(creds.client_id(), "Aladdin");
}

#[test]
fn credentials_are_validated() {
    assert_eq!(
        Credentials::new("", "k").unwrap_err(),
        AuthError::InvalidClientId
    );
    assert_eq!(
        Credentials::new("a:b", "k").unwrap_err(),
        AuthError::InvalidClientId
    );
    assert_eq!(
        Credentials::new("a b", "k").unwrap_err(),
        AuthError::InvalidClientId
    );
    assert_eq!(
        Credentials::new("id", "").unwrap_err(),
        AuthError::InvalidApiKey
    );
    assert_eq!(
        Credentials::new("id", "key\r\nX: y").unwrap_err(),
        AuthError::InvalidApiKey
    );
    // A colon in the key is fine (Basic splits at the first colon only).
    assert!(Credentials::new("id", "a:b").is_ok());
}

#[test]
fn token_request_is_plain_data() {
    let creds = Credentials::new("Aladdin", "ghsiu6hjqQjj").unwrap();
    let req = TokenRequest::new(&creds);
    assert_eq!(req.method(), "POST");
    assert_eq!(req.path(), DEFAULT_TOKEN_PATH);
    assert_eq!(req.path(), "/v2.01/oauth/token");
    assert_eq!(req.body(), b"grant_type=client_credentials");
    let headers = req.headers();
    assert_eq!(headers[0].name(), "Authorization");
    assert_eq!(
        headers[0].expose_value(),
        b"Basic QWxhZGRpbjpnaHNpdTZoanFRamo="
    );
    assert!(headers[0].is_sensitive());
    assert_eq!(headers[1].name(), "Content-Type");
    assert_eq!(
        headers[1].expose_value(),
        b"application/x-www-form-urlencoded"
    );
    assert!(!headers[1].is_sensitive());
    assert_eq!(
        req.authorization().expose(),
        "Basic QWxhZGRpbjpnaHNpdTZoanFRamo="
    );

    let custom = TokenRequest::with_path(&creds, "/prefix/v2.01/oauth/token").unwrap();
    assert_eq!(custom.path(), "/prefix/v2.01/oauth/token");
    for bad in ["", "v2.01/oauth/token", "/a b", "/a?x=1", "/a#f", "/a\r\n"] {
        assert_eq!(
            TokenRequest::with_path(&creds, bad).unwrap_err(),
            AuthError::InvalidTokenPath,
            "{bad:?}"
        );
    }
}

const GOOD: &[u8] =
    br#"{"access_token":"67b036bd007c40378d4be5a934f197e6","token_type":"Bearer","expires_in":3600}"#;

/// The token and its lifetime; `Duration::ZERO` (never accepted as a value) when absent.
fn parse(body: &str) -> Result<(String, Duration), AuthError> {
    parse_token_response(200, body.as_bytes()).map(|r| {
        (
            r.access_token.expose().to_owned(),
            r.expires_in.unwrap_or_default(),
        )
    })
}

#[test]
fn good_response() {
    let r = parse_token_response(200, GOOD).unwrap();
    assert_eq!(r.access_token.expose(), "67b036bd007c40378d4be5a934f197e6");
    assert_eq!(r.expires_in, Some(Duration::from_secs(3600)));
    assert_eq!(
        r.access_token.bearer_header().expose(),
        "Bearer 67b036bd007c40378d4be5a934f197e6"
    );
    // Any 2xx; whitespace around; token_type in any case; 3600.0 is integral.
    let ok = Ok(("abc".to_owned(), Duration::from_secs(60)));
    assert_eq!(
        parse_token_response(
            201,
            b" {\"access_token\":\"abc\",\"token_type\":\"bearer\",\"expires_in\":60} \n"
        )
        .map(|r| (r.access_token.expose().to_owned(), r.expires_in.unwrap())),
        ok
    );
    assert_eq!(
        parse(r#"{"access_token":"abc","token_type":"BEARER","expires_in":60.0}"#),
        ok
    );
    // Escapes are decoded (`\/` as PHP-style encoders write a slash).
    assert_eq!(
        parse(r#"{"access_token":"a\/b\u0063","token_type":"Bearer","expires_in":60}"#),
        Ok(("a/bc".to_owned(), Duration::from_secs(60)))
    );
    // The year bound is inclusive.
    assert_eq!(
        parse(&format!(
            r#"{{"access_token":"abc","token_type":"Bearer","expires_in":{MAX_EXPIRES_IN_SECS}}}"#
        )),
        Ok(("abc".to_owned(), Duration::from_secs(MAX_EXPIRES_IN_SECS)))
    );
}

#[test]
fn unknown_fields_are_ignored() {
    let body = r#"{"scope":"all","nested":{"a":[1,2,{"b":null}],"c":"}"},"access_token":"abc",
        "token_type":"Bearer","n":-1.5e3,"t":true,"expires_in":1200,"z":null}"#;
    assert_eq!(
        parse(body),
        Ok(("abc".to_owned(), Duration::from_secs(1200)))
    );
}

#[test]
fn malformed_json() {
    for body in [
        "",
        "   ",
        "not json",
        "[]",
        r#""access_token""#,
        "42",
        r#"{"access_token":"abc","token_type":"Bearer","expires_in":3600"#,
        r#"{"access_token":"abc","token_type":"Bearer","expires_in":3600,}"#,
        r#"{"access_token":"abc","token_type":"Bearer","expires_in":3600}}"#,
        r#"{"access_token":"abc","token_type":"Bearer","expires_in":3600} trailing"#,
        r#"{"access_token":"abc" "token_type":"Bearer","expires_in":3600}"#,
        r#"{access_token:"abc"}"#,
    ] {
        assert_eq!(parse(body), Err(AuthError::MalformedJson), "{body:?}");
    }
    // Deep nesting is refused before parsing (no stack exhaustion).
    let deep = format!(r#"{{"x":{}1{}}}"#, "[".repeat(3000), "]".repeat(3000));
    assert_eq!(parse(&deep), Err(AuthError::MalformedJson));
}

#[test]
fn body_too_large() {
    let pad = "x".repeat(MAX_TOKEN_RESPONSE_LEN);
    let body =
        format!(r#"{{"pad":"{pad}","access_token":"abc","token_type":"Bearer","expires_in":60}}"#);
    assert_eq!(parse(&body), Err(AuthError::BodyTooLarge));
}

#[test]
fn non_2xx_status() {
    for status in [199u16, 300, 400, 401, 403, 500, 503] {
        assert_eq!(
            parse_token_response(status, GOOD).unwrap_err(),
            AuthError::TokenEndpointStatus {
                status,
                error: None
            }
        );
    }
}

#[test]
fn the_token_endpoints_own_words_are_kept() {
    let body = br#"{"error":"unsupported_grant_type","error_description":"grant_type must be\nclient_credentials","error_uri":"https://example.test/e"}"#;
    let e = parse_token_response(400, body).unwrap_err();
    let AuthError::TokenEndpointStatus {
        status: 400,
        error: Some(ref oauth),
    } = e
    else {
        panic!("{e:?}")
    };
    assert_eq!(oauth.code, "unsupported_grant_type");
    // Control characters are not passed on to a terminal or a log.
    assert_eq!(
        oauth.description.as_deref(),
        Some("grant_type must be client_credentials")
    );
    assert_eq!(oauth.uri.as_deref(), Some("https://example.test/e"));
    assert_eq!(
        e.to_string(),
        "token endpoint answered HTTP 400: unsupported_grant_type: grant_type must be \
         client_credentials (see https://example.test/e)"
    );

    // The credentials hint only where the server blamed them.
    let invalid_client = parse_token_response(401, br#"{"error":"invalid_client"}"#).unwrap_err();
    assert_eq!(
        invalid_client.to_string(),
        "token endpoint answered HTTP 401: invalid_client (check the client id and API key)"
    );
    let invalid_request = parse_token_response(
        400,
        br#"{"error":"invalid_request","error_description":"missing grant_type"}"#,
    )
    .unwrap_err();
    assert!(
        !invalid_request.to_string().contains("API key"),
        "{invalid_request}"
    );

    // Not an RFC 6749 error object: no error, just the status.
    for body in [
        &b""[..],
        b"<html>oops</html>",
        br#"{"error":42}"#,
        br#"{"error":"  "}"#,
        br#"{"Message":"nope"}"#,
        br#"[{"error":"x"}]"#,
    ] {
        assert_eq!(
            parse_token_response(400, body).unwrap_err(),
            AuthError::TokenEndpointStatus {
                status: 400,
                error: None
            },
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    // Long values are cut, not refused.
    let long = format!(
        r#"{{"error":"{}","error_description":"{}"}}"#,
        "e".repeat(100),
        "d".repeat(1000)
    );
    let AuthError::TokenEndpointStatus {
        error: Some(oauth), ..
    } = parse_token_response(400, long.as_bytes()).unwrap_err()
    else {
        panic!()
    };
    assert_eq!(
        (oauth.code.len(), oauth.description.map(|d| d.len())),
        (64, Some(256))
    );
}

#[test]
fn wrong_token_type() {
    for t in ["mac", "Basic", "", "Bearer ", "Bearerx"] {
        let body = format!(r#"{{"access_token":"abc","token_type":"{t}","expires_in":60}}"#);
        assert_eq!(parse(&body), Err(AuthError::UnsupportedTokenType), "{t:?}");
    }
}

#[test]
fn missing_fields() {
    assert_eq!(
        parse(r#"{"token_type":"Bearer","expires_in":60}"#),
        Err(AuthError::MissingField(TokenField::AccessToken))
    );
    assert_eq!(
        parse(r#"{"access_token":"abc","expires_in":60}"#),
        Err(AuthError::MissingField(TokenField::TokenType))
    );
    // `expires_in` is only RECOMMENDED (RFC 6749, section 5.1): its absence is no error.
    assert_eq!(
        parse(r#"{"access_token":"abc","token_type":"Bearer"}"#),
        Ok(("abc".to_owned(), Duration::ZERO))
    );
    assert_eq!(
        parse("{}"),
        Err(AuthError::MissingField(TokenField::AccessToken))
    );
}

#[test]
fn wrong_field_types_and_duplicates() {
    assert_eq!(
        parse(r#"{"access_token":123,"token_type":"Bearer","expires_in":60}"#),
        Err(AuthError::InvalidField(TokenField::AccessToken))
    );
    assert_eq!(
        parse(r#"{"access_token":null,"token_type":"Bearer","expires_in":60}"#),
        Err(AuthError::InvalidField(TokenField::AccessToken))
    );
    assert_eq!(
        parse(r#"{"access_token":"abc","token_type":["Bearer"],"expires_in":60}"#),
        Err(AuthError::InvalidField(TokenField::TokenType))
    );
    assert_eq!(
        parse(r#"{"access_token":"abc","token_type":"Bearer","expires_in":"3600"}"#),
        Err(AuthError::InvalidField(TokenField::ExpiresIn))
    );
    assert_eq!(
        parse(r#"{"access_token":"abc","token_type":"Bearer","expires_in":null}"#),
        Err(AuthError::InvalidField(TokenField::ExpiresIn))
    );
    assert_eq!(
        parse(r#"{"access_token":"abc","token_type":"Bearer","expires_in":true}"#),
        Err(AuthError::InvalidField(TokenField::ExpiresIn))
    );
    assert_eq!(
        parse(
            r#"{"access_token":"abc","access_token":"def","token_type":"Bearer","expires_in":60}"#
        ),
        Err(AuthError::DuplicateField(TokenField::AccessToken))
    );
    assert_eq!(
        parse(r#"{"access_token":"abc","token_type":"Bearer","expires_in":60,"expires_in":60}"#),
        Err(AuthError::DuplicateField(TokenField::ExpiresIn))
    );
}

fn with_expires(v: &str) -> Result<(String, Duration), AuthError> {
    parse(&format!(
        r#"{{"access_token":"abc","token_type":"Bearer","expires_in":{v}}}"#
    ))
}

#[test]
fn expires_in_bounds() {
    assert_eq!(with_expires("0"), Err(AuthError::ExpiresInNotPositive));
    assert_eq!(with_expires("-0"), Err(AuthError::ExpiresInNotPositive));
    assert_eq!(with_expires("0.0"), Err(AuthError::ExpiresInNotPositive));
    assert_eq!(with_expires("-1"), Err(AuthError::ExpiresInNotPositive));
    assert_eq!(with_expires("-3600"), Err(AuthError::ExpiresInNotPositive));
    assert_eq!(with_expires("3600.5"), Err(AuthError::ExpiresInNotInteger));
    assert_eq!(with_expires("0.5"), Err(AuthError::ExpiresInNotInteger));
    assert_eq!(with_expires("1e-3"), Err(AuthError::ExpiresInNotInteger));
    assert_eq!(
        with_expires(&(MAX_EXPIRES_IN_SECS + 1).to_string()),
        Err(AuthError::ExpiresInTooLarge)
    );
    assert_eq!(
        with_expires("99999999999999999999999999"),
        Err(AuthError::ExpiresInTooLarge)
    );
    assert_eq!(with_expires("1e999"), Err(AuthError::ExpiresInTooLarge));
    assert_eq!(
        with_expires("1"),
        Ok(("abc".to_owned(), Duration::from_secs(1)))
    );
    assert_eq!(
        with_expires("3.6e3"),
        Ok(("abc".to_owned(), Duration::from_secs(3600)))
    );
}

#[test]
fn access_token_bounds() {
    assert_eq!(
        parse(r#"{"access_token":"","token_type":"Bearer","expires_in":60}"#),
        Err(AuthError::EmptyToken)
    );
    let max = "a".repeat(MAX_TOKEN_LEN);
    assert_eq!(
        parse(&format!(
            r#"{{"access_token":"{max}","token_type":"Bearer","expires_in":60}}"#
        )),
        Ok((max.clone(), Duration::from_secs(60)))
    );
    assert_eq!(
        parse(&format!(
            r#"{{"access_token":"{max}b","token_type":"Bearer","expires_in":60}}"#
        )),
        Err(AuthError::TokenTooLong)
    );
    for bad in ["a b", "a\\u0000b", "caf\u{e9}", "a\\nb", "a\\u00e9"] {
        assert_eq!(
            parse(&format!(
                r#"{{"access_token":"{bad}","token_type":"Bearer","expires_in":60}}"#
            )),
            Err(AuthError::TokenNotPrintable),
            "{bad:?}"
        );
    }
    assert_eq!(
        parse(r#"{"access_token":"a\qb","token_type":"Bearer","expires_in":60}"#),
        Err(AuthError::InvalidField(TokenField::AccessToken))
    );
}

#[test]
fn access_token_new_and_bearer_without_alloc() {
    assert_eq!(AccessToken::new("").unwrap_err(), AuthError::EmptyToken);
    assert_eq!(
        AccessToken::new("a b").unwrap_err(),
        AuthError::TokenNotPrintable
    );
    assert_eq!(
        AccessToken::new(&"a".repeat(MAX_TOKEN_LEN + 1)).unwrap_err(),
        AuthError::TokenTooLong
    );
    let t = AccessToken::new("tok").unwrap();
    assert_eq!(t.len(), 3);
    let mut small = [0u8; 9];
    assert_eq!(
        t.write_bearer_header(&mut small),
        Err(InsufficientSize { required: 10 })
    );
    assert_eq!(small, [0u8; 9], "buffer untouched on error");
    let mut buf = [0u8; 16];
    assert_eq!(t.write_bearer_header(&mut buf), Ok(10));
    assert_eq!(&buf[..10], b"Bearer tok");
}

#[test]
fn errors_display_and_classify() {
    let bare = |status| AuthError::TokenEndpointStatus {
        status,
        error: None,
    };
    assert_eq!(
        bare(401).to_string(),
        "token endpoint answered HTTP 401 (check the client id and API key)"
    );
    // A 400 without the server's words blames nothing in particular.
    assert_eq!(bare(400).to_string(), "token endpoint answered HTTP 400");
    assert_eq!(
        AuthError::ClientCertificateRefused { status: 400 }.to_string(),
        "the server refused the client certificate (HTTP 400 from the token endpoint): check \
         that the certificate is the one the API issued, is not expired, and comes with its \
         key; the API key was not checked"
    );
    assert_eq!(
        AuthError::MissingField(TokenField::ExpiresIn).to_string(),
        "token response has no `expires_in`"
    );
    assert!(AuthError::MalformedJson.is_peer_fault());
    assert!(!AuthError::InvalidApiKey.is_peer_fault());
    let e: &dyn core::error::Error = &AuthError::ExpiresInTooLarge;
    assert!(e.to_string().contains("31536000"));
}

#[test]
fn garbage_never_panics() {
    // A cheap deterministic fuzz: every prefix and single-byte mutation of a good body.
    let mut seed = 0x1234_5678u32;
    for cut in 0..=GOOD.len() {
        let _ = parse_token_response(200, &GOOD[..cut]);
    }
    for i in 0..GOOD.len() {
        for b in [
            b'"', b'\\', b'{', b'}', b'[', b']', b',', b':', b'-', b'.', 0, 0xff, b'e',
        ] {
            let mut v = GOOD.to_vec();
            v[i] = b;
            let _ = parse_token_response(200, &v);
        }
    }
    for _ in 0..2000 {
        let len = (seed % 64) as usize;
        let mut v = Vec::with_capacity(len);
        for _ in 0..len {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let alphabet = b"{}[]\":,0123456789.-eEtrunlfas\\ x";
            v.push(alphabet[(seed as usize) % alphabet.len()]);
        }
        let _ = parse_token_response(200, &v);
    }
}

/// `expires_in` is read as an exact decimal from its text (no float parsing): every spelling
/// of an integer is that integer, any fraction left over is not integral, and keys of nested
/// objects are not the top-level field.
#[test]
fn expires_in_is_read_as_an_exact_decimal() {
    let secs = |s: u64| Ok(("abc".to_owned(), Duration::from_secs(s)));
    assert_eq!(with_expires("3600.000"), secs(3600));
    assert_eq!(with_expires("36e2"), secs(3600));
    assert_eq!(with_expires("36E+2"), secs(3600));
    assert_eq!(with_expires("360000e-2"), secs(3600));
    assert_eq!(with_expires("0.36e4"), secs(3600));
    assert_eq!(with_expires("003600"), secs(3600));
    assert_eq!(
        with_expires(&format!("{MAX_EXPIRES_IN_SECS}.0")),
        secs(MAX_EXPIRES_IN_SECS)
    );
    assert_eq!(
        with_expires(&format!("{MAX_EXPIRES_IN_SECS}.5")),
        Err(AuthError::ExpiresInTooLarge)
    );
    assert_eq!(
        with_expires("36.005e2"),
        Err(AuthError::ExpiresInNotInteger)
    );
    // A float parser rounds this to 3600.0; it is not an integer.
    assert_eq!(
        with_expires("3600.00000000000000000001"),
        Err(AuthError::ExpiresInNotInteger)
    );
    // Positive, however small: not an integer (a float parser underflows it to 0).
    assert_eq!(with_expires("1e-999"), Err(AuthError::ExpiresInNotInteger));
    assert_eq!(with_expires("-0.0e5"), Err(AuthError::ExpiresInNotPositive));
    assert_eq!(
        with_expires("1e1000000000000"),
        Err(AuthError::ExpiresInTooLarge)
    );
    for bad in ["1-2", "1e", "1e+", ".", "-", "1.2.3", "0x10"] {
        assert_eq!(
            with_expires(bad),
            Err(AuthError::InvalidField(TokenField::ExpiresIn)),
            "{bad}"
        );
    }
    assert_eq!(
        parse(
            r#"{"n":{"expires_in":"x"},"access_token":"abc","token_type":"Bearer","expires_in":60}"#
        ),
        secs(60)
    );
}
