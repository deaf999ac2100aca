//! The few fields of an X.509 certificate mtls-core inspects, borrowed from its DER.
//!
//! `x509_cert::Certificate` decodes everything into owned values (every name attribute,
//! every extension, the signature), and re-encoding its public key takes an encoder too:
//! with the owned names of `dn`, 32 KB of a firmware's flash, for a certificate rustls and
//! webpki parse again anyway. Here the structure is walked with `der`'s own types: the
//! fields read are checked (tags, lengths, the validity times, the extensions' shape), the
//! others are only delimited. `tests::reads_what_x509_cert_decodes` holds it to x509-cert.

use alloc::string::String;
use alloc::vec::Vec;

use der::asn1::{AnyRef, Ia5StringRef, ObjectIdentifier, OctetStringRef};
use der::{Decode, ErrorKind, Reader, SliceReader, Tag, TagNumber, Tagged};
use x509_cert::time::Validity;

/// A certificate's inspected fields; names and the public key as their DER TLVs.
pub(crate) struct CertificateView<'a> {
    /// The issuer `Name` (a SEQUENCE).
    pub(crate) issuer: &'a [u8],
    /// The subject `Name` (a SEQUENCE).
    pub(crate) subject: &'a [u8],
    pub(crate) validity: Validity,
    /// The `SubjectPublicKeyInfo` (a SEQUENCE).
    pub(crate) spki: &'a [u8],
    /// The contents of the `[3] EXPLICIT` extensions field, when present.
    extensions: Option<&'a [u8]>,
}

/// One extension: its id and the DER its OCTET STRING wraps.
pub(crate) struct ExtensionRef<'a> {
    pub(crate) id: ObjectIdentifier,
    pub(crate) value: &'a [u8],
}

impl<'a> CertificateView<'a> {
    /// Reads `Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature }`
    /// (RFC 5280 4.1), the whole input and nothing after it.
    pub(crate) fn parse(der: &'a [u8]) -> der::Result<CertificateView<'a>> {
        let mut certificate = Elements::of(der, Tag::Sequence)?;
        let tbs = certificate.next_of(Tag::Sequence)?;
        certificate.next_of(Tag::Sequence)?; // signatureAlgorithm
        certificate.next_of(Tag::BitString)?; // signature
        certificate.finish()?;

        let mut tbs = Elements::of(tbs, Tag::Sequence)?;
        if tbs.peek_tag()? == Some(context(TagNumber::N0, true)) {
            tbs.next()?; // version
        }
        tbs.next_of(Tag::Integer)?; // serialNumber
        tbs.next_of(Tag::Sequence)?; // signature
        let issuer = tbs.next_of(Tag::Sequence)?;
        let validity = Validity::from_der(tbs.next_of(Tag::Sequence)?)?;
        let subject = tbs.next_of(Tag::Sequence)?;
        let spki = tbs.next_of(Tag::Sequence)?;
        let mut extensions = None;
        while let Some(tag) = tbs.peek_tag()? {
            let field = tbs.next()?;
            if tag == context(TagNumber::N3, true) {
                extensions = Some(AnyRef::from_der(field)?.value());
            } else if tag != context(TagNumber::N1, false) && tag != context(TagNumber::N2, false) {
                // Only the unique identifiers [1], [2] and the extensions [3] may follow.
                return Err(ErrorKind::TagUnexpected {
                    expected: None,
                    actual: tag,
                }
                .into());
            }
        }
        Ok(CertificateView {
            issuer,
            subject,
            validity,
            spki,
            extensions,
        })
    }

    /// The extensions, in certificate order (`Extension ::= SEQUENCE { extnID, critical
    /// BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }`).
    pub(crate) fn extensions(&self) -> der::Result<Vec<ExtensionRef<'a>>> {
        let mut out = Vec::new();
        let Some(field) = self.extensions else {
            return Ok(out);
        };
        let mut list = Elements::of(field, Tag::Sequence)?;
        while !list.is_empty() {
            let mut extension = Elements::of(list.next_of(Tag::Sequence)?, Tag::Sequence)?;
            let id = ObjectIdentifier::from_der(extension.next_of(Tag::ObjectIdentifier)?)?;
            if extension.peek_tag()? == Some(Tag::Boolean) {
                bool::from_der(extension.next()?)?;
            }
            let value = OctetStringRef::from_der(extension.next_of(Tag::OctetString)?)?;
            extension.finish()?;
            out.push(ExtensionRef {
                id,
                value: value.as_bytes(),
            });
        }
        Ok(out)
    }
}

/// `SubjectAltName ::= GeneralNames` (a SEQUENCE OF GeneralName) as OpenSSL prints the
/// kinds certificates carry: `DNS:`, `email:`, `URI:`, `IP:`; any other kind as `other`.
pub(crate) fn subject_alt_names(value: &[u8]) -> der::Result<Vec<String>> {
    let mut names = Elements::of(value, Tag::Sequence)?;
    let mut out = Vec::new();
    while !names.is_empty() {
        let name = AnyRef::from_der(names.next()?)?;
        let text = match name.tag() {
            Tag::ContextSpecific {
                constructed: false,
                number,
            } => match number.value() {
                1 => alloc::format!("email:{}", Ia5StringRef::new(name.value())?.as_str()),
                2 => alloc::format!("DNS:{}", Ia5StringRef::new(name.value())?.as_str()),
                6 => alloc::format!("URI:{}", Ia5StringRef::new(name.value())?.as_str()),
                7 => ip_address(name.value()),
                _ => String::from("other"),
            },
            _ => String::from("other"),
        };
        out.push(text);
    }
    Ok(out)
}

/// An `iPAddress` name: four bytes dotted, sixteen as eight hex groups.
fn ip_address(bytes: &[u8]) -> String {
    match bytes {
        [a, b, c, d] => alloc::format!("IP:{a}.{b}.{c}.{d}"),
        _ if bytes.len() == 16 => {
            let mut out = String::from("IP:");
            for (i, pair) in bytes.chunks(2).enumerate() {
                if i > 0 {
                    out.push(':');
                }
                out.push_str(&alloc::format!(
                    "{:x}",
                    u16::from_be_bytes([pair[0], pair[1]])
                ));
            }
            out
        }
        _ => String::from("IP:?"),
    }
}

/// `ExtKeyUsageSyntax ::= SEQUENCE SIZE (1..MAX) OF KeyPurposeId` (OIDs).
pub(crate) fn extended_key_usages(value: &[u8]) -> der::Result<Vec<ObjectIdentifier>> {
    let mut purposes = Elements::of(value, Tag::Sequence)?;
    let mut out = Vec::new();
    while !purposes.is_empty() {
        out.push(ObjectIdentifier::from_der(
            purposes.next_of(Tag::ObjectIdentifier)?,
        )?);
    }
    Ok(out)
}

/// A context-specific tag.
fn context(number: TagNumber, constructed: bool) -> Tag {
    Tag::ContextSpecific {
        constructed,
        number,
    }
}

/// The elements of one constructed value, each handed out as its whole TLV.
pub(super) struct Elements<'a>(SliceReader<'a>);

impl<'a> Elements<'a> {
    /// The contents of `der`, which must be exactly one value tagged `tag`.
    pub(super) fn of(der: &'a [u8], tag: Tag) -> der::Result<Elements<'a>> {
        let value = AnyRef::from_der(der)?;
        value.tag().assert_eq(tag)?;
        Ok(Elements(SliceReader::new(value.value())?))
    }

    /// The tag of the next element, `None` after the last one.
    pub(super) fn peek_tag(&self) -> der::Result<Option<Tag>> {
        if self.is_empty() {
            Ok(None)
        } else {
            self.0.peek_tag().map(Some)
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_finished()
    }

    /// The next element, whatever its tag.
    pub(super) fn next(&mut self) -> der::Result<&'a [u8]> {
        self.0.tlv_bytes()
    }

    /// The next element, which must be tagged `tag`.
    pub(super) fn next_of(&mut self, tag: Tag) -> der::Result<&'a [u8]> {
        self.0.peek_tag()?.assert_eq(tag)?;
        self.next()
    }

    /// Nothing may follow the elements read.
    pub(super) fn finish(self) -> der::Result<()> {
        self.0.finish(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString as _;
    use alloc::vec;
    use der::Encode as _;
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::CertificateDer;

    /// Certificates from three makers: rcgen (the sandbox: a CA, client and server leaves,
    /// with and without an EKU) and openssl (benches/qemu-live/pki: an RSA chain, a P-256
    /// device leaf).
    fn certificates() -> Vec<Vec<u8>> {
        use mtls_sandbox::{IssueSpec, TestCa, Usage};
        let ca = TestCa::new("Differential CA").unwrap();
        let mut out = vec![ca.cert_der().to_vec()];
        let mut no_eku = IssueSpec::client("no-eku");
        no_eku.usage = Usage::NoEku;
        for spec in [
            IssueSpec::client("device-1"),
            IssueSpec::server(&["api.example.test", "127.0.0.1", "::1"]),
            no_eku,
        ] {
            let issued = ca.issue(&spec).unwrap();
            out.extend(pem_certificates(issued.cert_pem.as_bytes()));
        }
        for pem in [
            &include_bytes!("../../benches/qemu-live/pki/server-chain.pem")[..],
            &include_bytes!("../../benches/qemu-live/pki/server-root.pem")[..],
            &include_bytes!("../../benches/qemu-live/pki/device-cert.pem")[..],
            &include_bytes!("../../benches/qemu-live/pki/client-ca.pem")[..],
        ] {
            out.extend(pem_certificates(pem));
        }
        out
    }

    fn pem_certificates(pem: &[u8]) -> Vec<Vec<u8>> {
        CertificateDer::pem_slice_iter(pem)
            .map(|c| c.unwrap().to_vec())
            .collect()
    }

    /// The view reads what x509-cert's full decode reads, byte for byte, and the names as
    /// its `Display` writes them.
    #[test]
    fn reads_what_x509_cert_decodes() {
        let certificates = certificates();
        assert!(certificates.len() >= 8, "{}", certificates.len());
        for der in &certificates {
            let full = x509_cert::Certificate::from_der(der).unwrap();
            let tbs = &full.tbs_certificate;
            let view = CertificateView::parse(der).unwrap();
            assert_eq!(view.issuer, tbs.issuer.to_der().unwrap());
            assert_eq!(view.subject, tbs.subject.to_der().unwrap());
            assert_eq!(view.spki, tbs.subject_public_key_info.to_der().unwrap());
            assert_eq!(view.validity, tbs.validity);
            let ours: Vec<_> = view
                .extensions()
                .unwrap()
                .into_iter()
                .map(|e| (e.id, e.value.to_vec()))
                .collect();
            let theirs: Vec<_> = tbs
                .extensions
                .iter()
                .flatten()
                .map(|e| (e.extn_id, e.extn_value.as_bytes().to_vec()))
                .collect();
            assert!(!theirs.is_empty());
            assert_eq!(ours, theirs);
            assert_eq!(
                super::super::dn::name_to_string(view.subject).unwrap(),
                tbs.subject.to_string()
            );
            for ext in view.extensions().unwrap() {
                if ext.id == super::super::OID_EXT_KEY_USAGE {
                    let theirs =
                        x509_cert::ext::pkix::ExtendedKeyUsage::from_der(ext.value).unwrap();
                    assert_eq!(extended_key_usages(ext.value).unwrap(), theirs.0);
                }
                if ext.id == super::super::OID_EXT_SUBJECT_ALT_NAME {
                    let theirs = x509_cert::ext::pkix::SubjectAltName::from_der(ext.value).unwrap();
                    assert_eq!(subject_alt_names(ext.value).unwrap().len(), theirs.0.len());
                }
            }
            // Any cut of the certificate is refused, never read as something else.
            for cut in [0, 1, der.len() / 3, der.len() / 2, der.len() - 1] {
                assert!(CertificateView::parse(&der[..cut]).is_err(), "cut at {cut}");
            }
        }
    }

    #[test]
    fn refuses_what_is_not_a_certificate() {
        assert!(CertificateView::parse(&[]).is_err());
        assert!(CertificateView::parse(&[0x30, 0x00]).is_err());
        // A SEQUENCE whose length runs past the input.
        assert!(CertificateView::parse(&[0x30, 0x05, 0x30, 0x00]).is_err());
        assert!(subject_alt_names(&[0x31, 0x00]).is_err());
        assert_eq!(subject_alt_names(&[0x30, 0x00]).unwrap().len(), 0);
    }

    #[test]
    fn formats_ip_addresses_as_openssl() {
        assert_eq!(ip_address(&[127, 0, 0, 1]), "IP:127.0.0.1");
        let mut v6 = [0u8; 16];
        v6[15] = 1;
        assert_eq!(ip_address(&v6), "IP:0:0:0:0:0:0:0:1");
        assert_eq!(ip_address(&[1, 2]), "IP:?");
    }
}
