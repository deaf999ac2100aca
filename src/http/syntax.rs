//! Byte classes and small grammar checks shared by the encoder and the decoder.

/// RFC 9110 `tchar`.
pub(crate) fn is_tchar(b: u8) -> bool {
    matches!(b,
        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9'
        | b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+'
        | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~')
}

/// RFC 9110 `token = 1*tchar`.
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// Optional whitespace: SP or HTAB.
pub(crate) fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Trims SP/HTAB on both ends.
pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_ows(*first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !is_ows(*last) {
            break;
        }
        s = rest;
    }
    s
}

/// Iterates the elements of a comma-separated list, each trimmed of OWS. Empty elements
/// are yielded as empty slices, so callers can reject them.
pub(crate) fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(trim_ows)
}

/// `true` if the comma-separated `value` contains `token` (ASCII case-insensitive).
pub(crate) fn list_contains(value: &[u8], token: &[u8]) -> bool {
    list_elements(value).any(|e| e.eq_ignore_ascii_case(token))
}

/// Parses `1*DIGIT` into a `u64`. `Err(true)` on overflow, `Err(false)` on bad syntax.
pub(crate) fn parse_decimal(s: &[u8]) -> Result<u64, bool> {
    if s.is_empty() {
        return Err(false);
    }
    let mut n: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return Err(false);
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
            .ok_or(true)?;
    }
    Ok(n)
}

/// Value of one hex digit.
pub(crate) fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Checks chunk extensions (RFC 9112 section 7.1.1), everything after the size digits:
/// `*( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )`,
/// where a value is a token or a quoted-string.
pub(crate) fn is_valid_chunk_ext(ext: &[u8]) -> bool {
    let mut i = 0;
    let at = |i: usize| ext.get(i).copied();
    let skip_ws = |mut i: usize| {
        while at(i).is_some_and(is_ows) {
            i += 1;
        }
        i
    };
    let token_end = |mut i: usize| {
        while at(i).is_some_and(is_tchar) {
            i += 1;
        }
        i
    };
    while i < ext.len() {
        i = skip_ws(i);
        if at(i) != Some(b';') {
            return false;
        }
        i = skip_ws(i + 1);
        let end = token_end(i);
        if end == i {
            return false;
        }
        i = end;
        let after = skip_ws(i);
        if at(after) == Some(b'=') {
            i = skip_ws(after + 1);
            if at(i) == Some(b'"') {
                i += 1;
                loop {
                    match at(i) {
                        None => return false,
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(b'\\') => match at(i + 1) {
                            Some(b) if b == b'\t' || (b' '..=0x7e).contains(&b) || b >= 0x80 => {
                                i += 2
                            }
                            _ => return false,
                        },
                        Some(b) if b == b'\t' || (b' '..=0x7e).contains(&b) || b >= 0x80 => i += 1,
                        Some(_) => return false,
                    }
                }
            } else {
                let end = token_end(i);
                if end == i {
                    return false;
                }
                i = end;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_ext_grammar() {
        for ok in [
            &b""[..],
            b";a",
            b";a=b",
            b" ; a = b",
            b";a=\"x y\\\"\";b",
            b"\t;a",
        ] {
            assert!(is_valid_chunk_ext(ok), "{:?}", ok);
        }
        for bad in [
            &b" "[..],
            b";",
            b";a=",
            b";a=\"x",
            b"a",
            b";a ",
            b";a=b c",
            b";a=\x01",
            b";\"a\"",
        ] {
            assert!(!is_valid_chunk_ext(bad), "{:?}", bad);
        }
    }

    #[test]
    fn decimal() {
        assert_eq!(parse_decimal(b"0"), Ok(0));
        assert_eq!(parse_decimal(b"18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_decimal(b"18446744073709551616"), Err(true));
        assert_eq!(parse_decimal(b"+1"), Err(false));
        assert_eq!(parse_decimal(b""), Err(false));
    }

    #[test]
    fn trimming() {
        assert_eq!(trim_ows(b" \t a b \t"), b"a b");
        assert_eq!(trim_ows(b"   "), b"");
    }
}
