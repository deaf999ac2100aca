//! Crate-private JSON helpers shared by `auth` (the token response) and `presets` (the error
//! bodies). What is specific to one answer (which fields, which checks) stays with its parser.
//!
//! Everything here is built for `serde-json-core` used *without* an unescape buffer: string
//! values reach the visitors as borrowed, still-escaped slices of the input, and these helpers
//! unescape them into bounded storage. That keeps the parse free of fixed scratch buffers (a
//! long escaped string is never an error just because a scratch buffer was too small).
//!
//! Two `serde-json-core` 0.6 traps this module steers around:
//! - it has no recursion limit, so deeply nested input could exhaust the stack:
//!   [`depth_within`] is checked before any parse;
//! - its map-key deserializer panics (`unreachable!`) for anything but `deserialize_str`,
//!   `deserialize_identifier` and `deserialize_ignored_any`: keys are only ever read through
//!   [`RawStr`], which uses `deserialize_str`.

use alloc::string::String;
use core::fmt;
use core::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json_core::str::{EscapedStr, EscapedStringFragment};

/// The deepest nesting of arrays and objects any of our JSON parsers accepts.
pub(crate) const MAX_JSON_DEPTH: usize = 32;

/// Whether `body` nests arrays/objects at most `max` levels deep.
///
/// A lexical scan (strings and escapes are tracked, nothing else is validated): malformed
/// JSON that passes here is still rejected by the parser proper.
pub(crate) fn depth_within(body: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in body {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return false;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}

/// Whether `body` is empty or only JSON whitespace.
pub(crate) fn is_blank(body: &[u8]) -> bool {
    body.iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

/// A string value or key borrowed from the input, still JSON-escaped.
///
/// Deserialized through `deserialize_str`, so it is safe as a map key with `serde-json-core`.
#[derive(Clone, Copy)]
pub(crate) struct RawStr<'de>(pub(crate) &'de str);

impl<'de> RawStr<'de> {
    /// Unescapes into a `String` of at most `cap` bytes, cut at a character boundary.
    /// `None` if an escape sequence is invalid.
    pub(crate) fn to_bounded_string(self, cap: usize) -> Option<String> {
        let mut out = String::new();
        for fragment in EscapedStr(self.0).fragments() {
            match fragment.ok()? {
                EscapedStringFragment::NotEscaped(s) => {
                    let room = cap.saturating_sub(out.len());
                    if s.len() <= room {
                        out.push_str(s);
                    } else {
                        let mut end = room;
                        while end > 0 && !s.is_char_boundary(end) {
                            end -= 1;
                        }
                        out.push_str(s.get(..end).unwrap_or(""));
                        return Some(out);
                    }
                }
                EscapedStringFragment::Escaped(c) => {
                    if out.len() + c.len_utf8() > cap {
                        return Some(out);
                    }
                    out.push(c);
                }
            }
        }
        Some(out)
    }

    /// Whether the unescaped value equals `expected`, ignoring ASCII case.
    pub(crate) fn eq_ignore_ascii_case(self, expected: &str) -> bool {
        // Tokens we compare against contain no characters that need escaping, so an escaped
        // input can only match if it spells the same characters; compare unescaped.
        let mut rest = expected.as_bytes();
        for fragment in EscapedStr(self.0).fragments() {
            match fragment {
                Ok(EscapedStringFragment::NotEscaped(s)) => {
                    let Some((head, tail)) = rest.split_at_checked(s.len()) else {
                        return false;
                    };
                    if !head.eq_ignore_ascii_case(s.as_bytes()) {
                        return false;
                    }
                    rest = tail;
                }
                Ok(EscapedStringFragment::Escaped(c)) => {
                    let mut buf = [0u8; 4];
                    let enc = c.encode_utf8(&mut buf).as_bytes();
                    let Some((head, tail)) = rest.split_at_checked(enc.len()) else {
                        return false;
                    };
                    if !head.eq_ignore_ascii_case(enc) {
                        return false;
                    }
                    rest = tail;
                }
                Err(_) => return false,
            }
        }
        rest.is_empty()
    }
}

impl<'de> Deserialize<'de> for RawStr<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(RawStr(v))
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// A text value of at most `CAP` bytes, or nothing when the JSON value is not a string.
///
/// Lenient on purpose, for error bodies: a number, `null`, `true`, an array or an object in a
/// text field gives `None` rather than failing the whole parse. Longer strings are cut at a
/// character boundary. An invalid escape sequence is a parse error (the JSON is invalid).
#[derive(Default)]
pub(crate) struct LenientText<const CAP: usize>(pub(crate) Option<String>);

impl<'de, const CAP: usize> Deserialize<'de> for LenientText<CAP> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<const CAP: usize>;
        impl<'de, const CAP: usize> Visitor<'de> for V<CAP> {
            type Value = LenientText<CAP>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                match RawStr(v).to_bounded_string(CAP) {
                    Some(s) => Ok(LenientText(Some(s))),
                    None => Err(E::custom("invalid escape sequence")),
                }
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(LenientText(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(LenientText(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_key::<RawStr<'de>>()?.is_some() {
                    map.next_value::<IgnoredAny>()?;
                }
                Ok(LenientText(None))
            }
        }
        // serde-json-core's `deserialize_ignored_any` peeks at the value and calls
        // `visit_borrowed_str`, `visit_seq`, `visit_map` or (numbers, literals) `visit_unit`:
        // the closest thing it has to `deserialize_any`.
        deserializer.deserialize_ignored_any(V::<CAP>)
    }
}

/// A JSON array of `T` (at most `MAX` kept, the rest skipped) or a single `T` object.
///
/// Any other JSON value gives an empty list.
pub(crate) struct OneOrMany<T, const MAX: usize> {
    pub(crate) items: alloc::vec::Vec<T>,
    pub(crate) truncated: bool,
}

impl<T, const MAX: usize> Default for OneOrMany<T, MAX> {
    fn default() -> Self {
        OneOrMany {
            items: alloc::vec::Vec::new(),
            truncated: false,
        }
    }
}

impl<'de, T: Deserialize<'de>, const MAX: usize> Deserialize<'de> for OneOrMany<T, MAX> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<T, const MAX: usize>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>, const MAX: usize> Visitor<'de> for V<T, MAX> {
            type Value = OneOrMany<T, MAX>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object or an array of objects")
            }
            fn visit_borrowed_str<E: de::Error>(self, _: &'de str) -> Result<Self::Value, E> {
                Ok(OneOrMany::default())
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(OneOrMany::default())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = OneOrMany::default();
                while out.items.len() < MAX {
                    match seq.next_element::<T>()? {
                        Some(item) => out.items.push(item),
                        None => return Ok(out),
                    }
                }
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    out.truncated = true;
                }
                Ok(out)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let item = T::deserialize(de::value::MapAccessDeserializer::new(map))?;
                let mut out = OneOrMany::default();
                if MAX > 0 {
                    out.items.push(item);
                } else {
                    out.truncated = true;
                }
                Ok(out)
            }
        }
        deserializer.deserialize_ignored_any(V::<T, MAX>(PhantomData))
    }
}

/// Runs `seed`-less deserialization of `T` over `body` with no unescape buffer and checks
/// that nothing but whitespace follows the value.
pub(crate) fn from_slice<'de, T: Deserialize<'de>>(
    body: &'de [u8],
) -> Result<T, serde_json_core::de::Error> {
    let mut de = serde_json_core::de::Deserializer::new(body, None);
    let value = T::deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// The raw text of the value of `key` in the top-level object of `body` (JSON that the
/// deserializer has already accepted), up to the next delimiter. Keys compare as raw text, as
/// the deserializer matches them (escapes not decoded).
pub(crate) fn top_level_value<'a>(body: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    top_level_value_span(body, key).and_then(|span| body.get(span))
}

/// Where [`top_level_value`]'s text lies in `body`.
pub(crate) fn top_level_value_span(body: &[u8], key: &[u8]) -> Option<core::ops::Range<usize>> {
    let (mut i, mut depth, mut expect_key) = (0usize, 0usize, false);
    while i < body.len() {
        match body[i] {
            b'"' => {
                let start = i + 1;
                i += 1;
                while i < body.len() && body[i] != b'"' {
                    i += if body[i] == b'\\' { 2 } else { 1 };
                }
                let text = body.get(start..i)?;
                i += 1;
                if depth == 1 && expect_key {
                    expect_key = false;
                    if text == key {
                        while i < body.len()
                            && matches!(body[i], b' ' | b'\t' | b'\n' | b'\r' | b':')
                        {
                            i += 1;
                        }
                        let start = i;
                        while i < body.len()
                            && !matches!(body[i], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                        {
                            i += 1;
                        }
                        return Some(start..i);
                    }
                }
            }
            b'{' | b'[' => {
                depth += 1;
                expect_key = depth == 1 && body[i] == b'{';
                i += 1;
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b',' => {
                expect_key = depth == 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
    None
}

/// A JSON number as an exact decimal, (significant digits) × 10^`exp`, read from its text with
/// integers only: no float parsing is linked in (10+ KB of a firmware), and `3600`,
/// `3600.0` and `3.6e3` are the same value.
pub(crate) struct Decimal<'a> {
    negative: bool,
    /// The integer and fraction digits, as one run.
    int: &'a [u8],
    frac: &'a [u8],
    /// The run's leading zeros, then its significant digits (none: the value is zero).
    lead: usize,
    significant: usize,
    /// Where the decimal point is, relative to the last significant digit.
    exp: i64,
}

impl<'a> Decimal<'a> {
    /// The number syntax that f64 parsing accepted (sign, digits, optional fraction and
    /// exponent); `None` for anything else (`null`, `true`, `1-2`).
    pub(crate) fn parse(text: &'a [u8]) -> Option<Decimal<'a>> {
        let (negative, rest) = match text.split_first() {
            Some((b'-', rest)) => (true, rest),
            Some((b'+', rest)) => (false, rest),
            _ => (false, text),
        };
        let int_len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let (int, rest) = rest.split_at(int_len);
        let (frac, rest) = match rest.split_first() {
            Some((b'.', after)) => {
                let n = after.iter().take_while(|b| b.is_ascii_digit()).count();
                after.split_at(n)
            }
            _ => (&rest[..0], rest),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let exp10: i64 = match rest.split_first() {
            None => 0,
            Some((b'e' | b'E', after)) => {
                let (sign, digits) = match after.split_first() {
                    Some((b'-', d)) => (-1, d),
                    Some((b'+', d)) => (1, d),
                    _ => (1, after),
                };
                if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                    return None;
                }
                // Saturates far beyond any meaningful exponent (the body is at most 8 KiB).
                let e = digits.iter().fold(0i64, |e, d| {
                    (e * 10 + i64::from(d - b'0')).min(1_000_000_000)
                });
                sign * e
            }
            Some(_) => return None,
        };
        let run = || int.iter().chain(frac);
        let lead = run().take_while(|&&d| d == b'0').count();
        let total = int.len() + frac.len();
        let trail = if lead == total {
            0
        } else {
            run().rev().take_while(|&&d| d == b'0').count()
        };
        Some(Decimal {
            negative,
            int,
            frac,
            lead,
            significant: total - lead - trail,
            exp: exp10 - frac.len() as i64 + trail as i64,
        })
    }

    /// Whether the value is zero (`0`, `-0.0`, `0e5`).
    pub(crate) fn is_zero(&self) -> bool {
        self.significant == 0
    }

    /// Whether a minus sign was written.
    pub(crate) fn is_negative(&self) -> bool {
        self.negative
    }

    /// The magnitude's integer part (truncated toward zero) when it has at most
    /// `max_digits` (at most 19) digits, and whether a fraction is left over.
    pub(crate) fn integer_part(&self, max_digits: u32) -> Option<(u64, bool)> {
        let int_digits = self.significant as i64 + self.exp;
        if int_digits > i64::from(max_digits.min(19)) {
            return None;
        }
        let keep = usize::try_from(int_digits.max(0)).unwrap_or(0);
        let mut whole = self
            .int
            .iter()
            .chain(self.frac)
            .skip(self.lead)
            .take(self.significant.min(keep))
            .fold(0u64, |v, d| v * 10 + u64::from(d - b'0'));
        // At most 19 digits in all: no overflow.
        for _ in 0..self.exp.max(0) {
            whole *= 10;
        }
        // The last significant digit is not zero: with the point before it, a fraction is left.
        Some((whole, self.exp < 0))
    }
}

/// A value read past without being parsed, for a number read afterwards from its text
/// ([`top_level_value`], [`Decimal`]): a string, array or object is a type error at once (as
/// a number's deserializer says), anything else (a number, `null`, `true`) passes.
pub(crate) struct NumberLike;

impl<'de> Deserialize<'de> for NumberLike {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NumberLike;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(NumberLike)
            }
        }
        // `deserialize_ignored_any` dispatches on the JSON type: strings, arrays and objects
        // reach visit_str/seq/map, which V refuses; other values are skipped to visit_unit.
        deserializer.deserialize_ignored_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth() {
        assert!(depth_within(b"{\"a\":[1,[2]]}", 3));
        assert!(!depth_within(b"{\"a\":[1,[2]]}", 2));
        assert!(depth_within(b"\"[[[[[[\"", 1));
        assert!(depth_within(b"\"\\\"[[[\"", 0));
    }

    #[test]
    fn bounded_unescape() {
        assert_eq!(
            RawStr("ab\\u00e9c").to_bounded_string(3).as_deref(),
            Some("ab")
        );
        assert_eq!(
            RawStr("ab\\u00e9c").to_bounded_string(4).as_deref(),
            Some("ab\u{e9}")
        );
        assert_eq!(
            RawStr("h\u{e9}llo").to_bounded_string(2).as_deref(),
            Some("h")
        );
        assert_eq!(RawStr("\\x").to_bounded_string(10), None);
        assert!(RawStr("Bea\\u0072er").eq_ignore_ascii_case("bearer"));
        assert!(!RawStr("Bear").eq_ignore_ascii_case("bearer"));
        assert!(!RawStr("Bearers").eq_ignore_ascii_case("bearer"));
    }
}
