//! Distinguished names as text (RFC 4514), without the OID name database.
//!
//! `x509_cert::name::Name`'s `Display` looks every attribute up in const-oid's database of
//! about 1,100 OID names: some 40 KB of a firmware's flash for the handful of attributes
//! certificate names use. This is the same formatting (RDNs in reverse order, `+` within a
//! multi-valued RDN, the same escapes) with a table of those attributes; an attribute not in
//! the table is written as its dotted OID and the DER of its value in hex (`1.2.3=#0c03...`),
//! as RFC 4514 and x509-cert do for unknown ones. The test below checks that every name in
//! the table is the one the database gives.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;

use der::asn1::{
    AnyRef, Ia5StringRef, ObjectIdentifier, PrintableStringRef, TeletexStringRef, Utf8StringRef,
};
use der::{Decode as _, Tag, Tagged as _};

use super::x509::Elements;

/// The attributes certificate names use, with their shortest name in const-oid's database
/// (upper-cased as x509-cert writes them).
const ATTRIBUTES: &[(ObjectIdentifier, &str)] = &[
    (ObjectIdentifier::new_unwrap("2.5.4.3"), "CN"),
    (ObjectIdentifier::new_unwrap("2.5.4.4"), "SN"),
    (ObjectIdentifier::new_unwrap("2.5.4.5"), "SERIALNUMBER"),
    (ObjectIdentifier::new_unwrap("2.5.4.6"), "C"),
    (ObjectIdentifier::new_unwrap("2.5.4.7"), "L"),
    (ObjectIdentifier::new_unwrap("2.5.4.8"), "ST"),
    (ObjectIdentifier::new_unwrap("2.5.4.9"), "STREET"),
    (ObjectIdentifier::new_unwrap("2.5.4.10"), "O"),
    (ObjectIdentifier::new_unwrap("2.5.4.11"), "OU"),
    (ObjectIdentifier::new_unwrap("2.5.4.12"), "TITLE"),
    (ObjectIdentifier::new_unwrap("2.5.4.15"), "BUSINESSCATEGORY"),
    (ObjectIdentifier::new_unwrap("2.5.4.17"), "POSTALCODE"),
    (ObjectIdentifier::new_unwrap("2.5.4.42"), "GIVENNAME"),
    (
        ObjectIdentifier::new_unwrap("0.9.2342.19200300.100.1.1"),
        "UID",
    ),
    (
        ObjectIdentifier::new_unwrap("0.9.2342.19200300.100.1.25"),
        "DC",
    ),
];

/// `name` (the DER of a `Name`: a SEQUENCE of RDNs, each a SET of type-and-value
/// SEQUENCEs) as RFC 4514 text, as `x509_cert`'s `Display` writes it. Walked in place:
/// decoding an owned `x509_cert::name::Name` costs a firmware some 10 KB more.
pub(crate) fn name_to_string(name: &[u8]) -> der::Result<String> {
    let mut rdns = Elements::of(name, Tag::Sequence)?;
    let mut sets = Vec::new();
    while !rdns.is_empty() {
        sets.push(rdns.next_of(Tag::Set)?);
    }
    let mut out = String::new();
    for (i, set) in sets.iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let mut attributes = Elements::of(set, Tag::Set)?;
        let mut j = 0;
        while !attributes.is_empty() {
            if j > 0 {
                out.push('+');
            }
            let mut atv = Elements::of(attributes.next_of(Tag::Sequence)?, Tag::Sequence)?;
            let oid = ObjectIdentifier::from_der(atv.next_of(Tag::ObjectIdentifier)?)?;
            let value = atv.next()?;
            atv.finish()?;
            write_attribute(&mut out, oid, AnyRef::from_der(value)?, value);
            j += 1;
        }
        if j == 0 {
            // RFC 5280: an RDN holds at least one attribute.
            return Err(der::ErrorKind::Length { tag: Tag::Set }.into());
        }
    }
    Ok(out)
}

/// One attribute; `der` is the value's whole TLV (written in hex when the attribute is not
/// in the table or its value is not a string).
fn write_attribute(out: &mut String, oid: ObjectIdentifier, value: AnyRef<'_>, der: &[u8]) {
    let text = match value.tag() {
        Tag::PrintableString => PrintableStringRef::try_from(value).ok().map(|s| s.as_str()),
        Tag::Utf8String => Utf8StringRef::try_from(value).ok().map(|s| s.as_str()),
        Tag::Ia5String => Ia5StringRef::try_from(value).ok().map(|s| s.as_str()),
        Tag::TeletexString => TeletexStringRef::try_from(value).ok().map(|s| s.as_str()),
        _ => None,
    };
    let key = ATTRIBUTES
        .iter()
        .find(|(known, _)| *known == oid)
        .map(|(_, key)| *key);
    if let (Some(key), Some(value)) = (key, text) {
        out.push_str(key);
        out.push('=');
        let mut chars = value.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '#' if i == 0 => out.push_str("\\#"),
                ' ' if i == 0 || chars.peek().is_none() => out.push_str("\\ "),
                '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                    out.push('\\');
                    out.push(c);
                }
                '\x00'..='\x1f' | '\x7f' => {
                    let _ = write!(out, "\\{:02x}", c as u8);
                }
                _ => out.push(c),
            }
        }
    } else {
        let _ = write!(out, "{oid}=#");
        for b in der {
            let _ = write!(out, "{b:02x}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use der::Encode as _;
    use x509_cert::name::Name;

    /// The DER of `name`, re-read from its encoding as a certificate carries it.
    fn der_of(text: &str) -> (Name, Vec<u8>) {
        use core::str::FromStr as _;
        let der = Name::from_str(text).unwrap().to_der().unwrap();
        (Name::from_der(&der).unwrap(), der)
    }

    #[test]
    fn table_names_are_the_database_shortest_names() {
        for (oid, key) in ATTRIBUTES {
            // x509-cert's choice: the shortest of the database's names for the OID.
            let db = der::oid::db::DB
                .find_names_for_oid(*oid)
                .min_by_key(|name| name.len())
                .map(str::to_ascii_uppercase);
            assert_eq!(db.as_deref(), Some(*key), "{oid}");
        }
    }

    #[test]
    fn formats_as_x509_cert_does() {
        for text in [
            "CN=api.example.com,O=Example\\, Inc.,C=FR",
            "CN=a+OU=b,DC=example,DC=com",
            "CN=\\#hash,L=\\ lead and trail\\ ",
            "SERIALNUMBER=123,GIVENNAME=Ann,SN=Lee,TITLE=Dr,STREET=1 Road,POSTALCODE=75001,ST=IDF",
            "UID=u1,BUSINESSCATEGORY=Private",
        ] {
            let (name, der) = der_of(text);
            assert_eq!(name_to_string(&der).unwrap(), name.to_string(), "{text}");
        }
        // An attribute outside the table: dotted OID and DER hex, as x509-cert writes one
        // that is missing from the database.
        let (_, der) = der_of("1.2.3.4=#0c0161");
        assert_eq!(name_to_string(&der).unwrap(), "1.2.3.4=#0c0161");
    }

    #[test]
    fn malformed_names_are_errors() {
        let (_, der) = der_of("CN=a,O=b");
        for cut in 0..der.len() {
            assert!(name_to_string(&der[..cut]).is_err(), "cut at {cut}");
        }
        // An empty RDN, and a SEQUENCE where the RDN's SET belongs.
        assert!(name_to_string(&[0x30, 0x02, 0x31, 0x00]).is_err());
        assert!(name_to_string(&[0x30, 0x02, 0x30, 0x00]).is_err());
        assert_eq!(name_to_string(&[0x30, 0x00]).unwrap(), "");
    }
}
