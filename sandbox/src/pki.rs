//! A throwaway PKI for tests: a certificate authority that issues client and server
//! certificates, for keys it generates or for public keys the caller already holds.
//!
//! Everything here is test material: keys are generated with `ring` through `rcgen`, nothing is
//! persisted, and the CA key never leaves the process.
//!
//! # Example
//!
//! ```
//! use mtls_sandbox::{IssueSpec, TestCa};
//!
//! let ca = TestCa::new("example test CA").unwrap();
//! let client = ca.issue(&IssueSpec::client("merchant-42")).unwrap();
//! assert!(client.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
//! // A fresh P-256 key was generated for it, as PKCS#8 PEM.
//! let key = client.key_pem.as_ref().unwrap();
//! assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
//! ```

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use std::time::{SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, PublicKeyData, SanType, SerialNumber, SignatureAlgorithm,
};
use rustls_pki_types::CertificateDer;
use zeroize::Zeroizing;

use super::{random_bytes, SandboxError};

/// How long [`IssueSpec::client`] and [`IssueSpec::server`] certificates are valid before now.
const BACKDATE_SECS: i64 = 3600;
/// How long [`IssueSpec::client`] and [`IssueSpec::server`] certificates stay valid after now.
const LIFETIME_SECS: i64 = 365 * 24 * 3600;

/// A throwaway certificate authority (ECDSA P-256, rcgen + ring).
///
/// The CA certificate is self-signed, valid from one hour ago for ten years, and marked as an
/// unconstrained CA with the `keyCertSign` and `cRLSign` key usages.
pub struct TestCa {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl core::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The CA key is a secret, even a throwaway one: print only the subject.
        f.debug_struct("TestCa")
            .field("subject", &self.cert.params().distinguished_name)
            .finish_non_exhaustive()
    }
}

impl TestCa {
    /// Creates a CA with a fresh P-256 key and the given subject common name.
    ///
    /// Reads the system clock for the validity window.
    pub fn new(common_name: &str) -> Result<TestCa, SandboxError> {
        let now = unix_now()?;
        let key = KeyPair::generate().map_err(cert_err)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = distinguished_name(common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = to_datetime(now - BACKDATE_SECS)?;
        params.not_after = to_datetime(now + 10 * LIFETIME_SECS)?;
        params.serial_number = Some(random_serial()?);
        let cert = params.self_signed(&key).map_err(cert_err)?;
        Ok(TestCa { cert, key })
    }

    /// The CA certificate, PEM-encoded (one `CERTIFICATE` block).
    pub fn cert_pem(&self) -> String {
        self.cert.pem()
    }

    /// The CA certificate, DER-encoded.
    pub fn cert_der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }

    /// Issues a certificate signed by this CA, as described by `spec`.
    ///
    /// When `spec.public_key_der` is `None` a fresh P-256 key is generated and returned in
    /// [`Issued::key_pem`]; otherwise the certificate is made for that public key (RSA,
    /// P-256, P-384 or Ed25519 SubjectPublicKeyInfo DER) and no key is returned.
    pub fn issue(&self, spec: &IssueSpec) -> Result<Issued, SandboxError> {
        if spec.not_after_unix <= spec.not_before_unix {
            return Err(SandboxError::InvalidSpec(
                "not_after_unix must be later than not_before_unix",
            ));
        }
        let mut params = CertificateParams::default();
        params.distinguished_name = distinguished_name(&spec.common_name);
        params.subject_alt_names = spec
            .dns_names
            .iter()
            .map(|name| san(name))
            .collect::<Result<Vec<_>, _>>()?;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = match spec.usage {
            Usage::Client => vec![ExtendedKeyUsagePurpose::ClientAuth],
            Usage::Server | Usage::ServerOnlyEku => vec![ExtendedKeyUsagePurpose::ServerAuth],
            Usage::NoEku => Vec::new(),
        };
        params.not_before = to_datetime(spec.not_before_unix)?;
        params.not_after = to_datetime(spec.not_after_unix)?;
        params.serial_number = Some(random_serial()?);
        params.use_authority_key_identifier_extension = true;

        let (cert, key_pem) = match &spec.public_key_der {
            Some(spki) => {
                let public_key = ExternalPublicKey::from_spki_der(spki)?;
                let cert = params
                    .signed_by(&public_key, &self.cert, &self.key)
                    .map_err(cert_err)?;
                (cert, None)
            }
            None => {
                let key = KeyPair::generate().map_err(cert_err)?;
                let cert = params
                    .signed_by(&key, &self.cert, &self.key)
                    .map_err(cert_err)?;
                (cert, Some(Zeroizing::new(key.serialize_pem())))
            }
        };
        Ok(Issued {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            key_pem,
        })
    }
}

/// What certificate [`TestCa::issue`] should make.
#[derive(Clone, Debug)]
pub struct IssueSpec {
    /// The subject common name (`CN`).
    pub common_name: String,
    /// Subject alternative names. A name that parses as an IP address becomes an IP SAN
    /// (e.g. `"127.0.0.1"`), anything else a DNS SAN.
    pub dns_names: Vec<String>,
    /// Which extended key usage the certificate carries.
    pub usage: Usage,
    /// Start of the validity window, in seconds since the Unix epoch.
    pub not_before_unix: i64,
    /// End of the validity window, in seconds since the Unix epoch.
    pub not_after_unix: i64,
    /// SubjectPublicKeyInfo DER of a key the caller holds (RSA, P-256, P-384 or Ed25519);
    /// `None` generates a fresh P-256 key.
    pub public_key_der: Option<Vec<u8>>,
}

impl IssueSpec {
    /// A client certificate (EKU `clientAuth`) for a fresh P-256 key, valid from one hour ago
    /// for 365 days. Reads the system clock.
    pub fn client(cn: &str) -> Self {
        let (not_before_unix, not_after_unix) = default_window();
        IssueSpec {
            common_name: cn.into(),
            dns_names: Vec::new(),
            usage: Usage::Client,
            not_before_unix,
            not_after_unix,
            public_key_der: None,
        }
    }

    /// A server certificate (EKU `serverAuth`) for the given names (DNS names or IP
    /// addresses), for a fresh P-256 key, valid from one hour ago for 365 days. The common
    /// name is the first name. Reads the system clock.
    pub fn server(names: &[&str]) -> Self {
        let (not_before_unix, not_after_unix) = default_window();
        IssueSpec {
            common_name: names.first().copied().unwrap_or("sandbox server").into(),
            dns_names: names.iter().map(|n| String::from(*n)).collect(),
            usage: Usage::Server,
            not_before_unix,
            not_after_unix,
            public_key_der: None,
        }
    }
}

/// The extended key usage of an issued certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Usage {
    /// EKU `clientAuth`: a normal client certificate.
    Client,
    /// EKU `serverAuth`: a normal server certificate.
    Server,
    /// No extended key usage extension at all (valid for any purpose).
    NoEku,
    /// EKU `serverAuth` only, on a certificate meant for a client: a leaf that does not allow
    /// `clientAuth` (for tests of the warning about it).
    ServerOnlyEku,
}

/// A certificate issued by [`TestCa::issue`].
pub struct Issued {
    /// The certificate, PEM-encoded (one `CERTIFICATE` block).
    pub cert_pem: String,
    /// The certificate, DER-encoded.
    pub cert_der: CertificateDer<'static>,
    /// The PKCS#8 PEM of the generated P-256 key; `None` when the spec gave a public key.
    pub key_pem: Option<Zeroizing<String>>,
}

impl core::fmt::Debug for Issued {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Issued")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &self.key_pem.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// A public key given as SubjectPublicKeyInfo DER, in the form rcgen signs for.
///
/// rcgen 0.13 only parses SPKI with its `x509-parser` feature, which we do not enable; the
/// format is small enough to take apart here.
struct ExternalPublicKey {
    alg: &'static SignatureAlgorithm,
    key: Vec<u8>,
}

/// `AlgorithmIdentifier` DER for the key types we accept, and the rcgen algorithm whose
/// SPKI encoding writes exactly these bytes back.
const KEY_ALGORITHMS: &[(&[u8], &SignatureAlgorithm)] = &[
    // rsaEncryption, NULL parameters.
    (
        &[
            0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05,
            0x00,
        ],
        &rcgen::PKCS_RSA_SHA256,
    ),
    // id-ecPublicKey, prime256v1.
    (
        &[
            0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
            0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
        ],
        &rcgen::PKCS_ECDSA_P256_SHA256,
    ),
    // id-ecPublicKey, secp384r1.
    (
        &[
            0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b,
            0x81, 0x04, 0x00, 0x22,
        ],
        &rcgen::PKCS_ECDSA_P384_SHA384,
    ),
    // id-Ed25519.
    (
        &[0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70],
        &rcgen::PKCS_ED25519,
    ),
];

impl ExternalPublicKey {
    fn from_spki_der(spki: &[u8]) -> Result<Self, SandboxError> {
        const BAD: SandboxError = SandboxError::InvalidSpec(
            "public_key_der is not a SubjectPublicKeyInfo of a supported key type",
        );
        // SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier,
        //                                     subjectPublicKey BIT STRING }
        let (tag, body, rest) = der_tlv(spki).ok_or(BAD)?;
        if tag != 0x30 || !rest.is_empty() {
            return Err(BAD);
        }
        let (tag, _, after_alg) = der_tlv(body).ok_or(BAD)?;
        if tag != 0x30 {
            return Err(BAD);
        }
        let alg_der = &body[..body.len() - after_alg.len()];
        let (tag, bits, rest) = der_tlv(after_alg).ok_or(BAD)?;
        if tag != 0x03 || !rest.is_empty() {
            return Err(BAD);
        }
        // The first content octet of a BIT STRING counts unused bits; a key has none.
        let key = match bits.split_first() {
            Some((0, key)) if !key.is_empty() => key,
            _ => return Err(BAD),
        };
        let alg = KEY_ALGORITHMS
            .iter()
            .find(|(der, _)| *der == alg_der)
            .map(|(_, alg)| *alg)
            .ok_or(BAD)?;
        Ok(ExternalPublicKey {
            alg,
            key: key.to_vec(),
        })
    }
}

impl PublicKeyData for ExternalPublicKey {
    fn der_bytes(&self) -> &[u8] {
        &self.key
    }

    fn algorithm(&self) -> &SignatureAlgorithm {
        self.alg
    }
}

/// Splits one DER TLV off `input`: `(tag, contents, rest)`. Single-byte tags and definite
/// lengths up to four length octets only; `None` on anything malformed.
pub(super) fn der_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

fn distinguished_name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}

fn san(name: &str) -> Result<SanType, SandboxError> {
    Ok(match name.parse::<core::net::IpAddr>() {
        Ok(ip) => SanType::IpAddress(ip),
        Err(_) => SanType::DnsName(
            name.try_into()
                .map_err(|_| SandboxError::InvalidSpec("a DNS name is not ASCII"))?,
        ),
    })
}

fn random_serial() -> Result<SerialNumber, SandboxError> {
    let mut serial = [0u8; 16];
    random_bytes(&mut serial)?;
    // Positive, and never a leading zero octet that DER would have to strip.
    serial[0] = (serial[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&serial))
}

fn to_datetime(unix: i64) -> Result<time::OffsetDateTime, SandboxError> {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map_err(|_| SandboxError::InvalidSpec("a validity time is out of range"))
}

pub(super) fn unix_now() -> Result<i64, SandboxError> {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| SandboxError::Clock)?;
    i64::try_from(since.as_secs()).map_err(|_| SandboxError::Clock)
}

fn default_window() -> (i64, i64) {
    // A clock before 1970 is a broken host; certificates from "1970" still parse and the
    // tests that use them will fail loudly at the handshake.
    let now = unix_now().unwrap_or(0);
    (now - BACKDATE_SECS, now + LIFETIME_SECS)
}

fn cert_err(e: rcgen::Error) -> SandboxError {
    SandboxError::Certificate(e.to_string())
}
