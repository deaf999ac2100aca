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
use core::fmt::Write as _;

use der::asn1::{
    Ia5StringRef, ObjectIdentifier, PrintableStringRef, TeletexStringRef, Utf8StringRef,
};
use der::{Encode as _, Tag, Tagged as _};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::name::Name;

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

/// `name` as RFC 4514 text, as `x509_cert`'s `Display` writes it.
pub(crate) fn name_to_string(name: &Name) -> String {
    let mut out = String::new();
    for (i, rdn) in name.0.iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, atv) in rdn.0.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            write_attribute(&mut out, atv);
        }
    }
    out
}

fn write_attribute(out: &mut String, atv: &AttributeTypeAndValue) {
    let value = match atv.value.tag() {
        Tag::PrintableString => PrintableStringRef::try_from(&atv.value)
            .ok()
            .map(|s| s.as_str()),
        Tag::Utf8String => Utf8StringRef::try_from(&atv.value).ok().map(|s| s.as_str()),
        Tag::Ia5String => Ia5StringRef::try_from(&atv.value).ok().map(|s| s.as_str()),
        Tag::TeletexString => TeletexStringRef::try_from(&atv.value)
            .ok()
            .map(|s| s.as_str()),
        _ => None,
    };
    let key = ATTRIBUTES
        .iter()
        .find(|(oid, _)| *oid == atv.oid)
        .map(|(_, key)| *key);
    if let (Some(key), Some(value)) = (key, value) {
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
        let _ = write!(out, "{}=#", atv.oid);
        if let Ok(der) = atv.value.to_der() {
            for b in der {
                let _ = write!(out, "{b:02x}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use der::Decode as _;

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
        use core::str::FromStr as _;
        for text in [
            "CN=api.example.com,O=Example\\, Inc.,C=FR",
            "CN=a+OU=b,DC=example,DC=com",
            "CN=\\#hash,L=\\ lead and trail\\ ",
            "SERIALNUMBER=123,GIVENNAME=Ann,SN=Lee,TITLE=Dr,STREET=1 Road,POSTALCODE=75001,ST=IDF",
            "UID=u1,BUSINESSCATEGORY=Private",
        ] {
            let name = Name::from_str(text).unwrap();
            let name = Name::from_der(&der::Encode::to_der(&name).unwrap()).unwrap();
            assert_eq!(name_to_string(&name), name.to_string(), "{text}");
        }
        // An attribute outside the table: dotted OID and DER hex, as x509-cert writes one
        // that is missing from the database.
        let name = Name::from_str("1.2.3.4=#0c0161").unwrap();
        assert_eq!(name_to_string(&name), "1.2.3.4=#0c0161");
    }
}
