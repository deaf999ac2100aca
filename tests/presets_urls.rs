//! Presets, the base-URL parser and check, and rate-limit headers.

use mtls_core::client::{BaseUrl, BaseUrlError};
use mtls_core::internals::{
    parse_rate_limit_values, RateLimitError, MANGOPAY_PRODUCTION, MANGOPAY_PRODUCTION_MTLS,
    MANGOPAY_SANDBOX, MANGOPAY_SANDBOX_MTLS, MASTERCARD_PRODUCTION, MASTERCARD_SANDBOX,
};
use mtls_core::presets::{check_base_url, BaseUrlWarning, Preset, RateLimits};

#[test]
fn preset_urls_from_the_seeds() {
    assert_eq!(
        MANGOPAY_SANDBOX_MTLS,
        "https://api-mtls.sandbox.mangopay.com"
    );
    assert_eq!(MANGOPAY_PRODUCTION_MTLS, "https://api-mtls.mangopay.com");
    assert_eq!(MANGOPAY_SANDBOX, "https://api.sandbox.mangopay.com");
    assert_eq!(MANGOPAY_PRODUCTION, "https://api.mangopay.com");
    assert_eq!(MASTERCARD_SANDBOX, "https://mtf.services.mastercard.com");
    assert_eq!(MASTERCARD_PRODUCTION, "https://services.mastercard.com");
    for p in Preset::ALL {
        let url = BaseUrl::parse(p.base_url()).unwrap();
        assert_eq!(check_base_url(url.host()), None, "{p:?}");
        assert_eq!(Preset::from_name(p.name()), Some(p));
        assert_eq!(url.path_prefix(), "");
        assert_eq!(url.port_or_default(), 443);
    }
    assert_eq!(
        Preset::from_name("MANGOPAY-SANDBOX"),
        Some(Preset::MangopaySandbox)
    );
    assert_eq!(Preset::from_name("nope"), None);
    // What the vendor decides: a token exchange for Mangopay, certificate-only for Mastercard.
    assert_eq!(
        Preset::MangopayProduction.token_path(),
        Some("/v2.01/oauth/token")
    );
    assert_eq!(Preset::MastercardSandbox.token_path(), None);
    assert_eq!(
        Preset::MangopaySandbox.token_path(),
        Some("/v2.01/oauth/token")
    );
    assert_eq!(Preset::MastercardProduction.token_path(), None);
}

#[test]
fn base_url_parts() {
    let u = BaseUrl::parse("https://api-mtls.sandbox.mangopay.com/").unwrap();
    assert_eq!(
        (u.host(), u.port(), u.path_prefix()),
        ("api-mtls.sandbox.mangopay.com", None, "")
    );
    let u = BaseUrl::parse("HTTPS://Example.COM:8443/v2.01//").unwrap();
    assert_eq!(
        (u.host(), u.port(), u.path_prefix()),
        ("Example.COM", Some(8443), "/v2.01")
    );
    let u = BaseUrl::parse("https://mtf.services.mastercard.com/petstore").unwrap();
    assert_eq!(u.path_prefix(), "/petstore");
    let u = BaseUrl::parse("https://127.0.0.1:4443").unwrap();
    assert_eq!(
        (u.host(), u.server_name(), u.port()),
        ("127.0.0.1", "127.0.0.1", Some(4443))
    );
    let u = BaseUrl::parse("https://[::1]:4443/x").unwrap();
    assert_eq!(
        (u.host(), u.server_name(), u.port(), u.path_prefix()),
        ("[::1]", "::1", Some(4443), "/x")
    );
    let u = BaseUrl::parse("https://[::1]").unwrap();
    assert_eq!((u.host(), u.port()), ("[::1]", None));
    let u = BaseUrl::parse("https://api.mangopay.com.").unwrap();
    assert_eq!(u.server_name(), "api.mangopay.com");
    assert_eq!(
        BaseUrl::parse("https://localhost:65535").unwrap().port(),
        Some(65535)
    );
}

#[test]
fn base_url_errors() {
    let cases: &[(&str, BaseUrlError)] = &[
        ("http://api.mangopay.com", BaseUrlError::NotHttps),
        ("api.mangopay.com", BaseUrlError::NotHttps),
        ("ftp://x", BaseUrlError::NotHttps),
        ("", BaseUrlError::NotHttps),
        ("https:/x", BaseUrlError::NotHttps),
        ("https://", BaseUrlError::EmptyHost),
        ("https:///path", BaseUrlError::EmptyHost),
        ("https://:443", BaseUrlError::EmptyHost),
        ("https://user:pw@host", BaseUrlError::UserInfo),
        ("https://host:0", BaseUrlError::InvalidPort),
        ("https://host:65536", BaseUrlError::InvalidPort),
        ("https://host:", BaseUrlError::InvalidPort),
        ("https://host:+1", BaseUrlError::InvalidPort),
        ("https://host:443:1", BaseUrlError::InvalidPort),
        ("https://host:0000443", BaseUrlError::InvalidPort),
        ("https://ho st", BaseUrlError::InvalidHost),
        ("https://host_name", BaseUrlError::InvalidHost),
        ("https://-host", BaseUrlError::InvalidHost),
        ("https://a..b", BaseUrlError::InvalidHost),
        ("https://[::1", BaseUrlError::InvalidHost),
        ("https://[]", BaseUrlError::InvalidHost),
        ("https://[zz]", BaseUrlError::InvalidHost),
        ("https://[::1]x", BaseUrlError::InvalidPort),
        ("https://h\u{e9}te", BaseUrlError::InvalidHost),
        ("https://host?x=1", BaseUrlError::QueryOrFragment),
        ("https://host/p?x=1", BaseUrlError::QueryOrFragment),
        ("https://host#f", BaseUrlError::QueryOrFragment),
        ("https://host/a b", BaseUrlError::InvalidPath),
        ("https://host/a\r\n", BaseUrlError::InvalidPath),
    ];
    for (url, err) in cases {
        assert_eq!(BaseUrl::parse(url), Err(*err), "{url:?}");
    }
    let long = format!("https://h/{}", "a".repeat(3000));
    assert_eq!(BaseUrl::parse(&long), Err(BaseUrlError::TooLong));
    assert_eq!(
        BaseUrlError::NotHttps.to_string(),
        "base URL must start with https://"
    );
}

#[test]
fn mangopay_without_mtls_warns() {
    let warn = |u: &str| check_base_url(BaseUrl::parse(u).unwrap().host());
    assert_eq!(
        warn("https://api.sandbox.mangopay.com"),
        Some(BaseUrlWarning::MangopayWithoutMtls {
            suggestion: Some(MANGOPAY_SANDBOX_MTLS)
        })
    );
    assert_eq!(
        warn("https://API.Mangopay.com/v2.01/"),
        Some(BaseUrlWarning::MangopayWithoutMtls {
            suggestion: Some(MANGOPAY_PRODUCTION_MTLS)
        })
    );
    assert_eq!(
        warn("https://api.mangopay.com."),
        Some(BaseUrlWarning::MangopayWithoutMtls {
            suggestion: Some(MANGOPAY_PRODUCTION_MTLS)
        })
    );
    assert_eq!(
        warn("https://mangopay.com"),
        Some(BaseUrlWarning::MangopayWithoutMtls { suggestion: None })
    );
    assert_eq!(
        warn("https://other.sandbox.mangopay.com"),
        Some(BaseUrlWarning::MangopayWithoutMtls { suggestion: None })
    );
    assert_eq!(warn("https://API-MTLS.sandbox.mangopay.com"), None);
    assert_eq!(warn("https://api-mtls.mangopay.com:443/"), None);
    assert_eq!(warn("https://notmangopay.com"), None);
    assert_eq!(warn("https://mangopay.com.evil.test"), None);
    assert_eq!(warn("https://localhost:8443"), None);
    assert_eq!(warn(MASTERCARD_SANDBOX), None);
    assert_eq!(
        warn("https://api.sandbox.mangopay.com")
            .unwrap()
            .to_string(),
        "Mangopay base URL without `api-mtls`: the client certificate would not be seen; \
         use https://api-mtls.sandbox.mangopay.com"
    );
}

#[test]
fn rate_limit_headers() {
    let headers: Vec<(&str, &[u8])> = vec![
        ("Content-Type", b"application/json"),
        ("x-ratelimit", b"3, 5, 10, 40"),
        ("X-RATELIMIT-REMAINING", b"2297,4495 ,8990,\t103960"),
        ("X-RateLimit-Reset", b"1700000900"),
        ("X-RateLimit", b"999"), // a second occurrence: ignored
    ];
    let rl = RateLimits::from_headers(headers);
    assert_eq!(rl.calls_made.as_deref(), Some(&[3u64, 5, 10, 40][..]));
    assert_eq!(
        rl.remaining.as_deref(),
        Some(&[2297u64, 4495, 8990, 103960][..])
    );
    assert_eq!(rl.reset.as_deref(), Some(&[1700000900u64][..]));
    assert_eq!(rl.min_remaining(), Some(2297));
    assert!(!rl.is_empty());

    let none = RateLimits::from_headers([("Date", &b"x"[..])]);
    assert!(none.is_empty());
    assert_eq!(none.min_remaining(), None);

    // Malformed headers are dropped, not fatal.
    let bad = RateLimits::from_headers([
        ("X-RateLimit", &b"1,,2"[..]),
        ("X-RateLimit-Remaining", &b"-1"[..]),
        ("X-RateLimit-Reset", &b"5"[..]),
    ]);
    assert_eq!(bad.calls_made, None);
    assert_eq!(bad.remaining, None);
    assert_eq!(bad.reset.as_deref(), Some(&[5u64][..]));
}

#[test]
fn rate_limit_values() {
    assert_eq!(
        parse_rate_limit_values(b"").unwrap_err(),
        RateLimitError::Empty
    );
    assert_eq!(
        parse_rate_limit_values(b" ").unwrap_err(),
        RateLimitError::Empty
    );
    assert_eq!(
        parse_rate_limit_values(b"1,").unwrap_err(),
        RateLimitError::Empty
    );
    assert_eq!(
        parse_rate_limit_values(b"1.5").unwrap_err(),
        RateLimitError::InvalidNumber
    );
    assert_eq!(
        parse_rate_limit_values(b"abc").unwrap_err(),
        RateLimitError::InvalidNumber
    );
    assert_eq!(
        parse_rate_limit_values(b"1 2").unwrap_err(),
        RateLimitError::InvalidNumber
    );
    assert_eq!(
        parse_rate_limit_values(b"18446744073709551616").unwrap_err(),
        RateLimitError::InvalidNumber
    );
    assert_eq!(
        parse_rate_limit_values(b"18446744073709551615")
            .unwrap()
            .as_slice(),
        &[u64::MAX]
    );
    assert_eq!(
        parse_rate_limit_values(b"1,2,3,4,5,6,7,8").unwrap().len(),
        8
    );
    assert_eq!(
        parse_rate_limit_values(b"1,2,3,4,5,6,7,8,9").unwrap_err(),
        RateLimitError::TooManyValues
    );
}
