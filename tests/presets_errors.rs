//! Mangopay and Mastercard error bodies: exact outcomes.

use mtls_core::internals::{
    parse_mangopay_error, parse_mastercard_error, MAX_ERROR_BODY_LEN, MAX_FIELD_ERRORS,
    MAX_MASTERCARD_ERRORS, MAX_SHORT_TEXT_LEN, MAX_TEXT_LEN,
};
use mtls_core::presets::{
    ErrorBody, FieldError, MangopayError, MastercardErrorEntry, UnrecognisedBody,
};

const MANGOPAY: &str = r#"{"Message":"One or several required parameters are missing or incorrect. An incorrect resource ID also raises this kind of error.","Type":"param_error","Id":"0b5e0a2d-8b0e-4f4c-a3a4-2d6f4a1b7c9e#1700000000","Date":1700000000.0,"errors":{"FirstName":"The FirstName field is required.","Email":"The Email field is not a valid e-mail address."}}"#;

fn field(f: &str, m: &str) -> FieldError {
    FieldError {
        field: f.to_owned(),
        message: m.to_owned(),
    }
}

#[test]
fn mangopay_realistic() {
    let ErrorBody::Mangopay(e) = ErrorBody::parse(MANGOPAY.as_bytes()) else {
        panic!("not recognised as Mangopay")
    };
    assert_eq!(
        e.message.as_deref(),
        Some("One or several required parameters are missing or incorrect. An incorrect resource ID also raises this kind of error.")
    );
    assert_eq!(e.error_type.as_deref(), Some("param_error"));
    assert_eq!(
        e.id.as_deref(),
        Some("0b5e0a2d-8b0e-4f4c-a3a4-2d6f4a1b7c9e#1700000000")
    );
    assert_eq!(e.date, Some(1_700_000_000));
    assert_eq!(
        e.field_errors,
        vec![
            field("FirstName", "The FirstName field is required."),
            field("Email", "The Email field is not a valid e-mail address."),
        ]
    );
    assert!(!e.field_errors_truncated);
    assert_eq!(
        e.to_string(),
        "Mangopay error param_error: One or several required parameters are missing or \
         incorrect. An incorrect resource ID also raises this kind of error.; FirstName: The \
         FirstName field is required.; Email: The Email field is not a valid e-mail address. \
         (Id 0b5e0a2d-8b0e-4f4c-a3a4-2d6f4a1b7c9e#1700000000)"
    );
}

#[test]
fn mangopay_variants() {
    // Minimal, integer date, no errors, unknown fields, null values, escapes.
    let e = parse_mangopay_error(
        br#"{"Message":"Forbidden \"ressource\" \u00e9","Type":"forbidden_ressource","Id":null,
            "Date":1700000001,"errors":null,"Extra":{"a":[1,2]}}"#,
    )
    .unwrap();
    assert_eq!(e.message.as_deref(), Some("Forbidden \"ressource\" \u{e9}"));
    assert_eq!(e.error_type.as_deref(), Some("forbidden_ressource"));
    assert_eq!(e.id, None);
    assert_eq!(e.date, Some(1_700_000_001));
    assert!(e.field_errors.is_empty());

    // Only a Type.
    let e = parse_mangopay_error(br#"{"Type":"other"}"#).unwrap();
    assert_eq!((e.message, e.error_type.as_deref()), (None, Some("other")));

    // Odd value types in text fields and in the errors map read as absent / empty.
    let e = parse_mangopay_error(
        br#"{"Message":"m","Type":42,"errors":{"A":["x"],"B\u0021":"bad","C":{"d":1},"D":true}}"#,
    )
    .unwrap();
    assert_eq!(e.error_type, None);
    assert_eq!(
        e.field_errors,
        vec![
            field("A", ""),
            field("B!", "bad"),
            field("C", ""),
            field("D", "")
        ]
    );
    // `errors` of another type: no field errors.
    let e = parse_mangopay_error(br#"{"Message":"m","errors":["FirstName"]}"#).unwrap();
    assert!(e.field_errors.is_empty());
    let e = parse_mangopay_error(br#"{"Message":"m","errors":"x"}"#).unwrap();
    assert!(e.field_errors.is_empty());
}

#[test]
fn mangopay_bounds() {
    let long = "\u{e9}".repeat(MAX_TEXT_LEN); // 2 bytes each
    let body = format!(r#"{{"Message":"{long}","Type":"{}"}}"#, "t".repeat(1000));
    let e = parse_mangopay_error(body.as_bytes()).unwrap();
    assert_eq!(e.message.as_deref().map(str::len), Some(MAX_TEXT_LEN));
    assert!(e.message.as_deref().unwrap().chars().all(|c| c == '\u{e9}'));
    assert_eq!(
        e.error_type.as_deref().map(str::len),
        Some(MAX_SHORT_TEXT_LEN)
    );

    let many: Vec<String> = (0..MAX_FIELD_ERRORS + 5)
        .map(|i| format!(r#""F{i}":"m{i}""#))
        .collect();
    let body = format!(r#"{{"Message":"m","errors":{{{}}}}}"#, many.join(","));
    let e = parse_mangopay_error(body.as_bytes()).unwrap();
    assert_eq!(e.field_errors.len(), MAX_FIELD_ERRORS);
    assert!(e.field_errors_truncated);
    assert_eq!(
        e.field_errors[MAX_FIELD_ERRORS - 1],
        field(
            &format!("F{}", MAX_FIELD_ERRORS - 1),
            &format!("m{}", MAX_FIELD_ERRORS - 1)
        )
    );

    assert_eq!(
        parse_mangopay_error(br#"{"Message":"m","Date":1e400}"#)
            .unwrap()
            .date,
        None
    );
}

const MASTERCARD_WRAPPED: &str = r#"{"Errors":{"Error":[{"Source":"Gateway","ReasonCode":"INVALID_CLIENT_CERT","Description":"The client certificate is invalid or missing from the request.","Recoverable":false,"Details":null}]}}"#;

#[test]
fn mastercard_wrapped_list() {
    let body = ErrorBody::parse(MASTERCARD_WRAPPED.as_bytes());
    assert!(body.is_invalid_client_cert());
    let ErrorBody::Mastercard(e) = body else {
        panic!()
    };
    assert_eq!(e.errors.len(), 1);
    let entry = &e.errors[0];
    assert_eq!(entry.source.as_deref(), Some("Gateway"));
    assert_eq!(entry.reason_code.as_deref(), Some("INVALID_CLIENT_CERT"));
    assert_eq!(
        entry.description.as_deref(),
        Some("The client certificate is invalid or missing from the request.")
    );
    assert_eq!(entry.recoverable, Some(false));
    assert_eq!(entry.details, None);
    assert_eq!(
        e.to_string(),
        "Mastercard error: INVALID_CLIENT_CERT: The client certificate is invalid or missing \
         from the request. (source Gateway)"
    );
}

#[test]
fn mastercard_flat_form_from_the_seed() {
    let body = br#"{
        "Source": "Gateway",
        "ReasonCode": "INVALID_CLIENT_CERT",
        "Description": "The client certificate is invalid or missing from the request.",
        "Recoverable": false
    }"#;
    let e = parse_mastercard_error(body).unwrap();
    assert_eq!(e.errors.len(), 1);
    assert!(ErrorBody::Mastercard(e.clone()).is_invalid_client_cert());
    assert_eq!(ErrorBody::parse(body), ErrorBody::Mastercard(e));
}

#[test]
fn mastercard_variants() {
    // A single wrapped object instead of a list.
    let e = parse_mastercard_error(
        br#"{"Errors":{"Error":{"Source":"S","ReasonCode":"DECLINED","Recoverable":true,"Details":"d"}}}"#,
    )
    .unwrap();
    assert_eq!(e.errors[0], {
        let mut x = MastercardErrorEntry::default();
        x.source = Some("S".into());
        x.reason_code = Some("DECLINED".into());
        x.recoverable = Some(true);
        x.details = Some("d".into());
        x
    });
    assert!(!ErrorBody::Mastercard(e.clone()).is_invalid_client_cert());
    // Several errors, lower-case code still recognised, capped.
    let items: Vec<String> = (0..MAX_MASTERCARD_ERRORS + 2)
        .map(|i| format!(r#"{{"ReasonCode":"invalid_client_cert","Description":"d{i}"}}"#))
        .collect();
    let body = format!(r#"{{"Errors":{{"Error":[{}]}}}}"#, items.join(","));
    let e = parse_mastercard_error(body.as_bytes()).unwrap();
    assert_eq!(e.errors.len(), MAX_MASTERCARD_ERRORS);
    assert!(e.truncated);
    assert!(ErrorBody::Mastercard(e.clone()).is_invalid_client_cert());
    // Empty list: not a Mastercard error.
    assert_eq!(
        parse_mastercard_error(br#"{"Errors":{"Error":[]}}"#),
        Err(UnrecognisedBody::UnknownShape)
    );
}

#[test]
fn unrecognised_bodies() {
    let cases: &[(&[u8], UnrecognisedBody)] = &[
        (b"", UnrecognisedBody::Empty),
        (b" \r\n", UnrecognisedBody::Empty),
        (
            b"<html><body>502 Bad Gateway</body></html>",
            UnrecognisedBody::NotJson,
        ),
        (b"{\"Message\":", UnrecognisedBody::NotJson),
        (b"{\"Message\":\"a\\qb\"}", UnrecognisedBody::NotJson),
        (b"[1,2]", UnrecognisedBody::NotJson),
        (b"\"just a string\"", UnrecognisedBody::NotJson),
        (b"{}", UnrecognisedBody::UnknownShape),
        (
            b"{\"error\":\"invalid_client\"}",
            UnrecognisedBody::UnknownShape,
        ),
        (
            b"{\"Message\":null,\"Type\":null}",
            UnrecognisedBody::UnknownShape,
        ),
    ];
    for (body, why) in cases {
        assert_eq!(
            ErrorBody::parse(body),
            ErrorBody::Unrecognised(*why),
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
    let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
    assert_eq!(
        ErrorBody::parse(deep.as_bytes()),
        ErrorBody::Unrecognised(UnrecognisedBody::TooDeep)
    );
    let big = format!(r#"{{"Message":"{}"}}"#, "x".repeat(MAX_ERROR_BODY_LEN));
    assert_eq!(
        ErrorBody::parse(big.as_bytes()),
        ErrorBody::Unrecognised(UnrecognisedBody::TooLarge)
    );
    assert_eq!(
        ErrorBody::Unrecognised(UnrecognisedBody::NotJson).to_string(),
        "error body is not JSON of a known shape"
    );
}

#[test]
fn vendor_parsers_are_distinct() {
    assert_eq!(
        parse_mangopay_error(MASTERCARD_WRAPPED.as_bytes()),
        Err(UnrecognisedBody::UnknownShape)
    );
    assert_eq!(
        parse_mastercard_error(MANGOPAY.as_bytes()),
        Err(UnrecognisedBody::UnknownShape)
    );
    let _: MangopayError = parse_mangopay_error(MANGOPAY.as_bytes()).unwrap();
}

#[test]
fn garbage_never_panics() {
    let samples = [MANGOPAY.as_bytes(), MASTERCARD_WRAPPED.as_bytes()];
    for s in samples {
        for cut in 0..=s.len() {
            let _ = ErrorBody::parse(&s[..cut]);
        }
        for i in 0..s.len() {
            for b in [
                b'"', b'\\', b'{', b'}', b'[', b']', b',', b':', b'n', 0xc3, 0xff,
            ] {
                let mut v = s.to_vec();
                v[i] = b;
                let _ = ErrorBody::parse(&v);
            }
        }
    }
    let alphabet = b"{}[]\":,0123456789.-eEtrunlfas\\ xMessageErrorsError";
    let mut seed = 7u32;
    for _ in 0..5000 {
        let len = (seed % 80) as usize;
        let mut v = Vec::with_capacity(len);
        for _ in 0..len {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            v.push(alphabet[(seed as usize) % alphabet.len()]);
        }
        let _ = ErrorBody::parse(&v);
    }
}

/// Mangopay's `Date` is read from its text without floats: truncated toward zero, in range.
#[test]
fn mangopay_date_read_from_its_text() {
    let date = |v: &str| {
        parse_mangopay_error(format!(r#"{{"Message":"m","Date":{v}}}"#).as_bytes())
            .unwrap()
            .date
    };
    assert_eq!(date("1700000000"), Some(1_700_000_000));
    assert_eq!(date("1700000000.9"), Some(1_700_000_000));
    assert_eq!(date("1.7e9"), Some(1_700_000_000));
    assert_eq!(date("-12.5"), Some(-12));
    assert_eq!(date("9007199254740992"), Some(9_007_199_254_740_992));
    assert_eq!(date("9007199254740993"), None);
    assert_eq!(date("null"), None);
}
