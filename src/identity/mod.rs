//! Client identity: what a user holds (PEM, Base64-wrapped PEM, DER, encrypted keys, PKCS#12)
//! turned into a certificate chain and a signing key that are known to belong together.
//!
//! Everything here is checked before any traffic: the key is parsed and loaded by the crypto
//! provider, its public key is compared with the certificate's, and [`Identity::check`] reports
//! the validity window, days until expiry and whether the leaf allows `clientAuth`.
//!
//! Key forms accepted, by PEM label:
//!
//! | label | made by |
//! |---|---|
//! | `RSA PRIVATE KEY` (PKCS#1) | `openssl genrsa -traditional`, OpenSSL 1.x `genrsa` |
//! | `PRIVATE KEY` (PKCS#8: RSA, P-256, P-384, Ed25519) | `openssl genrsa` (3.x), `openssl genpkey`, `openssl pkcs8 -topk8 -nocrypt` |
//! | `EC PRIVATE KEY` (SEC1: P-256, P-384) | `openssl ecparam -genkey` |
//! | `ENCRYPTED PRIVATE KEY` (PKCS#8, PBES2) | `openssl genrsa -aes256`, `openssl pkcs8 -topk8 -v2 aes256` |
//! | `RSA PRIVATE KEY` / `EC PRIVATE KEY` with `Proc-Type: 4,ENCRYPTED` (legacy PEM: AES-CBC or DES-EDE3-CBC) | `openssl genrsa -aes256 -traditional`, `openssl rsa -aes128`, `openssl ec -des3`, OpenSSL 1.x `genrsa -aes256` |
//!
//! ```
//! use mtls_core::identity::{Identity, IdentityError};
//! // A key that is not a key is refused with a typed error, before any network traffic.
//! let err = Identity::from_pem(b"not a certificate", b"not a key").unwrap_err();
//! assert!(matches!(err, IdentityError::NoCertificate));
//! ```

use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use der::asn1::ObjectIdentifier;
use der::Decode;
use rustls_pki_types::pem::{PemObject, SectionKind};
use rustls_pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
    UnixTime,
};
use zeroize::{Zeroize, Zeroizing};

mod dn;
mod error;
mod legacy_pem;
mod pkcs12;
mod x509;

#[cfg(feature = "std")]
pub mod load;

pub use error::{IdentityError, IoKind, Part};

/// Days before expiry from which [`Identity::check`] warns (certificates live 12 months).
pub const EXPIRY_WARNING_DAYS: i64 = 30;

const OID_RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_EXT_SUBJECT_ALT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");
const OID_EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
const OID_KP_CLIENT_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.2");
const OID_ANY_EKU: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37.0");

/// A client certificate chain and its private key, known to match.
///
/// Built by one of the `from_*` constructors. The private key is held as DER that is
/// zeroized on drop (the `tls` module turns it into a signer) and, for a P-256 key, as the
/// signing key the key check built (zeroized on drop too; the `tls` module signs with it, so
/// the public point is derived once); `Debug` shows the certificate summary and never key
/// bytes.
pub struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    key_form: KeyForm,
    info: CertificateInfo,
    /// A P-256 key's signer, made by the key check (which derives the public point from the
    /// scalar) and kept so the TLS configuration does not derive it again.
    p256_signer: Option<Arc<p256::ecdsa::SigningKey>>,
}

impl Identity {
    /// Loads an identity from a PEM certificate chain (leaf first) and an unencrypted PEM
    /// private key (PKCS#1, PKCS#8 or SEC1).
    ///
    /// Refuses a key that does not belong to the leaf certificate.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Identity, IdentityError> {
        let chain = certificates_from_pem(cert_pem, Part::Certificate)?;
        let (key, form) = private_key_from_pem(key_pem, None)?;
        Identity::from_der(chain, key).map(|id| id.with_key_form(form))
    }

    /// Like [`Identity::from_pem`], for a key encrypted with a passphrase
    /// (`BEGIN ENCRYPTED PRIVATE KEY`, PKCS#8 PBES2). An unencrypted key is accepted too, and
    /// the passphrase then ignored.
    pub fn from_encrypted_pem(
        cert_pem: &[u8],
        key_pem: &[u8],
        passphrase: &[u8],
    ) -> Result<Identity, IdentityError> {
        let chain = certificates_from_pem(cert_pem, Part::Certificate)?;
        let (key, form) = private_key_from_pem(key_pem, Some(passphrase))?;
        Identity::from_der(chain, key).map(|id| id.with_key_form(form))
    }

    /// Loads an identity from the Base64-wrapped form kept in env vars and secret managers:
    /// each whole PEM file Base64-encoded (line breaks and ASCII whitespace ignored, padding
    /// optional). A value that is already PEM is accepted as is.
    pub fn from_base64_pem(
        cert_b64: &str,
        key_b64: &str,
        passphrase: Option<&[u8]>,
    ) -> Result<Identity, IdentityError> {
        let cert_pem = decode_base64_pem(cert_b64, Part::Certificate)?;
        let key_pem = decode_base64_pem(key_b64, Part::PrivateKey)?;
        match passphrase {
            Some(p) => Identity::from_encrypted_pem(&cert_pem, &key_pem, p),
            None => Identity::from_pem(&cert_pem, &key_pem),
        }
    }

    /// Loads an identity from a PKCS#12 archive (.p12/.pfx) and its password: what
    /// `openssl pkcs12 -export` writes (OpenSSL 3's default, PBES2 with AES-256-CBC and an
    /// HMAC-SHA-256 MAC; `-legacy`, 3DES and 40-bit RC2; `-nomac`; SHA-1/384/512 MACs), and
    /// the same algorithms from other tools such as Java's keytool. Needs only `alloc`, not
    /// std: a device can load one too.
    ///
    /// The archive must hold exactly one private key (several:
    /// [`IdentityError::Pkcs12SeveralKeys`]); the leaf is the certificate tied to it (by
    /// `localKeyId`, else by public key), the other certificates follow in archive order.
    /// A MAC that does not verify is [`IdentityError::WrongPassphrase`]; a malformed
    /// archive or an algorithm not read here (PBMAC1, RC4, BER encoding) is
    /// [`IdentityError::Pkcs12`].
    pub fn from_pkcs12(archive: &[u8], password: &str) -> Result<Identity, IdentityError> {
        let contents = pkcs12::read(archive, password)?;
        Identity::from_der(contents.chain, contents.key).map(|id| id.with_key_form(KeyForm::Pkcs12))
    }

    /// Builds an identity from already-parsed DER: the chain (leaf first) and the key.
    pub fn from_der(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Identity, IdentityError> {
        // Wrap first so the key is zeroized on every early return below.
        let key = ZeroizingKey(key);
        let leaf = chain.first().ok_or(IdentityError::NoCertificate)?;
        let info = CertificateInfo::parse(leaf)?;
        for (index, cert) in chain.iter().enumerate().skip(1) {
            x509::CertificateView::parse(cert)
                .map_err(|_| IdentityError::CertificateUnparseable { index })?;
        }
        let (key_match, p256_signer) = public_key_matches(&key.0, &info.spki_der)?;
        if key_match == KeyMatch::Mismatch {
            return Err(IdentityError::KeyDoesNotMatchCertificate);
        }
        let mut info = info;
        info.key_match_checked = key_match == KeyMatch::Match;
        Ok(Identity {
            chain,
            key: key.take(),
            key_form: KeyForm::Der,
            info,
            p256_signer: p256_signer.map(Arc::new),
        })
    }

    pub(crate) fn with_key_form(mut self, form: KeyForm) -> Identity {
        self.key_form = form;
        self
    }

    /// The form the private key was read from (for diagnostics such as `mtls check`).
    ///
    /// ```
    /// use mtls_core::identity::{Identity, IdentityError, KeyForm};
    /// fn describe(cert_pem: &[u8], key_pem: &[u8]) -> Result<String, IdentityError> {
    ///     let identity = Identity::from_pem(cert_pem, key_pem)?;
    ///     let encrypted = identity.key_form() == KeyForm::EncryptedPkcs8Pem;
    ///     Ok(format!("key: {} (encrypted: {encrypted})", identity.key_form()))
    /// }
    /// ```
    pub fn key_form(&self) -> KeyForm {
        self.key_form
    }

    /// The certificate chain, leaf first.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// What the leaf certificate says about itself.
    pub fn info(&self) -> &CertificateInfo {
        &self.info
    }

    /// The private key DER, for the `tls` module (which loads it into the provider).
    pub(crate) fn key_der(&self) -> &PrivateKeyDer<'static> {
        &self.key
    }

    /// The P-256 signer the key check made (its public point checked against the
    /// certificate's), `None` for other key types.
    pub(crate) fn p256_signer(&self) -> Option<&Arc<p256::ecdsa::SigningKey>> {
        self.p256_signer.as_ref()
    }

    /// The leaf's validity window: clients check it against the wall clock on every new
    /// connection, so a long-running process hears of expiry in time.
    pub fn validity(&self) -> Validity {
        Validity {
            not_before: self.info.not_before,
            not_after: self.info.not_after,
        }
    }

    /// Checks the leaf against the wall-clock time `now` (seconds since the Unix epoch,
    /// supplied by the host: the core reads no clock).
    ///
    /// An expired or not-yet-valid certificate is an error that carries its dates; everything
    /// else that deserves attention is a warning in the report.
    pub fn check(&self, now: UnixTime) -> Result<IdentityReport, IdentityError> {
        let days_to_expiry = self.validity().days_left(now)?;
        let mut warnings = Vec::new();
        if days_to_expiry < EXPIRY_WARNING_DAYS {
            warnings.push(IdentityWarning::ExpiresSoon { days_to_expiry });
        }
        warnings.extend(self.timeless_warnings());
        Ok(IdentityReport {
            days_to_expiry,
            warnings,
        })
    }

    /// The warnings that do not depend on the time: no `clientAuth`, key match unchecked.
    pub(crate) fn timeless_warnings(&self) -> impl Iterator<Item = IdentityWarning> {
        let info = &self.info;
        let no_client_auth = info.client_auth == ClientAuthUsage::NotAllowed;
        let unchecked = !info.key_match_checked;
        [
            no_client_auth.then_some(IdentityWarning::ClientAuthNotAllowed),
            unchecked.then_some(IdentityWarning::KeyMatchNotChecked),
        ]
        .into_iter()
        .flatten()
    }
}

/// A certificate's validity window, in seconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    not_before: u64,
    not_after: u64,
}

impl Validity {
    /// Whole days left at the wall-clock time `now`; an error with the date when the
    /// certificate has expired or is not valid yet.
    ///
    /// ```
    /// # fn demo(identity: &mtls_core::identity::Identity) {
    /// use mtls_core::time::UnixTime;
    /// let now = UnixTime::since_unix_epoch(core::time::Duration::from_secs(1_790_000_000));
    /// match identity.validity().days_left(now) {
    ///     Ok(days) if days < 30 => println!("renew the client certificate: {days} days left"),
    ///     Ok(_) => {}
    ///     Err(e) => println!("{e}"), // "the client certificate expired on ..."
    /// }
    /// # }
    /// ```
    pub fn days_left(&self, now: UnixTime) -> Result<i64, IdentityError> {
        let now_secs = now.as_secs();
        if now_secs < self.not_before {
            return Err(IdentityError::NotYetValid {
                not_before: self.not_before,
            });
        }
        if now_secs > self.not_after {
            return Err(IdentityError::Expired {
                not_after: self.not_after,
            });
        }
        // Fits in i64: not_after < 2^63 seconds for any DER time (year <= 9999).
        let seconds_left = self.not_after.saturating_sub(now_secs);
        Ok(i64::try_from(seconds_left / 86_400).unwrap_or(i64::MAX))
    }
}

impl Drop for Identity {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("chain_len", &self.chain.len())
            .field("info", &self.info)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// A private key DER zeroized when dropped before it reaches an [`Identity`].
struct ZeroizingKey(PrivateKeyDer<'static>);

impl ZeroizingKey {
    fn take(mut self) -> PrivateKeyDer<'static> {
        // Leave an empty key behind; the Drop below zeroizes nothing of value.
        core::mem::replace(&mut self.0, PrivateKeyDer::Pkcs8(Vec::new().into()))
    }
}

impl Drop for ZeroizingKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// The form a private key was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyForm {
    /// `RSA PRIVATE KEY` PEM.
    Pkcs1Pem,
    /// `PRIVATE KEY` PEM.
    Pkcs8Pem,
    /// `EC PRIVATE KEY` PEM.
    Sec1Pem,
    /// `ENCRYPTED PRIVATE KEY` PEM, decrypted with the passphrase.
    EncryptedPkcs8Pem,
    /// OpenSSL's legacy `Proc-Type: 4,ENCRYPTED` PEM, decrypted with the passphrase.
    LegacyEncryptedPem,
    /// A PKCS#12 archive, opened with its password.
    Pkcs12,
    /// DER handed to [`Identity::from_der`].
    Der,
}

impl fmt::Display for KeyForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyForm::Pkcs1Pem => "PKCS#1 PEM",
            KeyForm::Pkcs8Pem => "PKCS#8 PEM",
            KeyForm::Sec1Pem => "SEC1 PEM",
            KeyForm::EncryptedPkcs8Pem => "encrypted PKCS#8 PEM",
            KeyForm::LegacyEncryptedPem => "legacy encrypted PEM (Proc-Type: 4,ENCRYPTED)",
            KeyForm::Pkcs12 => "PKCS#12 archive",
            KeyForm::Der => "DER",
        })
    }
}

/// What the leaf certificate says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateInfo {
    /// Subject distinguished name (RFC 4514 form).
    pub subject: String,
    /// Issuer distinguished name (RFC 4514 form).
    pub issuer: String,
    /// Start of validity, seconds since the Unix epoch.
    pub not_before: u64,
    /// End of validity, seconds since the Unix epoch.
    pub not_after: u64,
    /// The leaf's public key algorithm.
    pub key_algorithm: KeyAlgorithm,
    /// Whether the leaf may be used for TLS client authentication.
    pub client_auth: ClientAuthUsage,
    /// The subject alternative names, as `DNS:name`, `IP:address`, `email:address` or
    /// `URI:uri` (other kinds as `other`); empty without the extension.
    pub subject_alt_names: Vec<String>,
    /// The extended key usages by name (`clientAuth`, `serverAuth`, ...; others as dotted
    /// OIDs); empty without the extension.
    pub extended_key_usages: Vec<String>,
    /// False when the key type gave no way to compare it with the certificate (Ed25519 PKCS#8
    /// without its public key); the handshake is then the first real check.
    pub key_match_checked: bool,
    spki_der: Vec<u8>,
}

impl CertificateInfo {
    /// Reads any certificate (a client leaf, or a server's certificate for a handshake
    /// report).
    pub(crate) fn parse(leaf: &CertificateDer<'_>) -> Result<CertificateInfo, IdentityError> {
        let unparseable = |_| IdentityError::CertificateUnparseable { index: 0 };
        let cert = x509::CertificateView::parse(leaf).map_err(unparseable)?;
        let spki = spki::SubjectPublicKeyInfoRef::from_der(cert.spki).map_err(unparseable)?;
        let mut client_auth = ClientAuthUsage::Unrestricted;
        let mut subject_alt_names = Vec::new();
        let mut extended_key_usages = Vec::new();
        for ext in cert.extensions().map_err(unparseable)? {
            if ext.id == OID_EXT_SUBJECT_ALT_NAME {
                subject_alt_names = x509::subject_alt_names(ext.value).map_err(unparseable)?;
            }
            if ext.id == OID_EXT_KEY_USAGE {
                let eku = x509::extended_key_usages(ext.value).map_err(unparseable)?;
                extended_key_usages = eku.iter().map(key_purpose).collect();
                client_auth = if eku
                    .iter()
                    .any(|oid| *oid == OID_KP_CLIENT_AUTH || *oid == OID_ANY_EKU)
                {
                    ClientAuthUsage::Allowed
                } else {
                    ClientAuthUsage::NotAllowed
                };
            }
        }
        Ok(CertificateInfo {
            subject: dn::name_to_string(cert.subject).map_err(unparseable)?,
            issuer: dn::name_to_string(cert.issuer).map_err(unparseable)?,
            not_before: cert.validity.not_before.to_unix_duration().as_secs(),
            not_after: cert.validity.not_after.to_unix_duration().as_secs(),
            key_algorithm: KeyAlgorithm::of_spki(&spki),
            client_auth,
            subject_alt_names,
            extended_key_usages,
            key_match_checked: false,
            spki_der: cert.spki.to_vec(),
        })
    }
}

/// An extended key usage by its RFC 5280 name, or its dotted OID.
fn key_purpose(oid: &ObjectIdentifier) -> String {
    const NAMES: [(&str, &str); 7] = [
        ("1.3.6.1.5.5.7.3.1", "serverAuth"),
        ("1.3.6.1.5.5.7.3.2", "clientAuth"),
        ("1.3.6.1.5.5.7.3.3", "codeSigning"),
        ("1.3.6.1.5.5.7.3.4", "emailProtection"),
        ("1.3.6.1.5.5.7.3.8", "timeStamping"),
        ("1.3.6.1.5.5.7.3.9", "OCSPSigning"),
        ("2.5.29.37.0", "anyExtendedKeyUsage"),
    ];
    let dotted = oid.to_string();
    NAMES
        .iter()
        .find(|(o, _)| *o == dotted)
        .map_or(dotted.clone(), |(_, name)| String::from(*name))
}

/// A distinguished name as a server sends it in a CertificateRequest (DER, with or without
/// its outer SEQUENCE): the `Name`'s DER with its SEQUENCE, and its RFC 4514 text.
pub(crate) fn parse_name(der: &[u8]) -> Option<(Vec<u8>, String)> {
    if let Ok(text) = dn::name_to_string(der) {
        return Some((der.to_vec(), text));
    }
    let mut wrapped = Vec::with_capacity(der.len() + 4);
    wrapped.push(0x30);
    let len = der.len();
    if len < 0x80 {
        wrapped.push(len as u8);
    } else if len <= 0xff {
        wrapped.extend_from_slice(&[0x81, len as u8]);
    } else if len <= 0xffff {
        wrapped.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    } else {
        return None;
    }
    wrapped.extend_from_slice(der);
    let text = dn::name_to_string(&wrapped).ok()?;
    Some((wrapped, text))
}

/// The issuer names (DER) of every certificate in a chain. DER has one encoding per value,
/// so equal names are equal bytes.
pub(crate) fn issuers<'a>(chain: &'a [CertificateDer<'_>]) -> Vec<&'a [u8]> {
    chain
        .iter()
        .filter_map(|c| x509::CertificateView::parse(c).ok())
        .map(|c| c.issuer)
        .collect()
}

/// Public key algorithm of a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// RSA with a modulus of this many bits.
    Rsa {
        /// Modulus size in bits.
        bits: usize,
    },
    /// ECDSA on NIST P-256.
    EcdsaP256,
    /// ECDSA on NIST P-384.
    EcdsaP384,
    /// Ed25519.
    Ed25519,
    /// Anything else (the provider will likely refuse it).
    Other,
}

impl KeyAlgorithm {
    fn of_spki(spki: &spki::SubjectPublicKeyInfoRef<'_>) -> KeyAlgorithm {
        let oid = spki.algorithm.oid;
        if oid == OID_RSA_ENCRYPTION {
            let bits = spki
                .subject_public_key
                .as_bytes()
                .and_then(|b| pkcs1::RsaPublicKey::from_der(b).ok())
                .map(|k| uint_bits(k.modulus.as_bytes()))
                .unwrap_or(0);
            KeyAlgorithm::Rsa { bits }
        } else if oid == OID_EC_PUBLIC_KEY {
            match spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
            {
                Some(c) if c == OID_P256 => KeyAlgorithm::EcdsaP256,
                Some(c) if c == OID_P384 => KeyAlgorithm::EcdsaP384,
                _ => KeyAlgorithm::Other,
            }
        } else if oid == OID_ED25519 {
            KeyAlgorithm::Ed25519
        } else {
            KeyAlgorithm::Other
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyAlgorithm::Rsa { bits } => write!(f, "RSA-{bits}"),
            KeyAlgorithm::EcdsaP256 => f.write_str("ECDSA P-256"),
            KeyAlgorithm::EcdsaP384 => f.write_str("ECDSA P-384"),
            KeyAlgorithm::Ed25519 => f.write_str("Ed25519"),
            KeyAlgorithm::Other => f.write_str("unknown algorithm"),
        }
    }
}

/// Whether the leaf's extended key usage allows TLS client authentication.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuthUsage {
    /// The EKU lists `clientAuth` (or `anyExtendedKeyUsage`).
    Allowed,
    /// No EKU extension: any usage is allowed.
    Unrestricted,
    /// The EKU exists and does not list `clientAuth`: servers will likely refuse it.
    NotAllowed,
}

/// Result of [`Identity::check`]: the certificate is within its validity window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityReport {
    /// Whole days until `not_after`.
    pub days_to_expiry: i64,
    /// Things the user should know; none of them stops the handshake.
    pub warnings: Vec<IdentityWarning>,
}

/// Something about an identity that deserves attention but is not fatal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdentityWarning {
    /// The certificate expires in fewer than [`EXPIRY_WARNING_DAYS`] days.
    ExpiresSoon {
        /// Whole days left.
        days_to_expiry: i64,
    },
    /// The leaf's extended key usage does not include `clientAuth`.
    ClientAuthNotAllowed,
    /// The key could not be compared with the certificate before the handshake.
    KeyMatchNotChecked,
}

impl fmt::Display for IdentityWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentityWarning::ExpiresSoon { days_to_expiry } => write!(
                f,
                "the client certificate expires in {days_to_expiry} days; request a new one"
            ),
            IdentityWarning::ClientAuthNotAllowed => f.write_str(
                "the client certificate's extended key usage does not include clientAuth",
            ),
            IdentityWarning::KeyMatchNotChecked => {
                f.write_str("the private key could not be compared with the certificate")
            }
        }
    }
}

/// A set of trust anchors: the custom CA that signed the server's certificate.
#[derive(Clone, Debug, Default)]
pub struct CaBundle {
    certs: Vec<CertificateDer<'static>>,
}

impl CaBundle {
    /// Reads one or more PEM certificates.
    pub fn from_pem(pem: &[u8]) -> Result<CaBundle, IdentityError> {
        Ok(CaBundle {
            certs: certificates_from_pem(pem, Part::CaCertificate)?,
        })
    }

    /// Reads the Base64-wrapped form of a PEM bundle (or plain PEM).
    pub fn from_base64_pem(b64: &str) -> Result<CaBundle, IdentityError> {
        CaBundle::from_pem(&decode_base64_pem(b64, Part::CaCertificate)?)
    }

    /// Wraps already-parsed DER certificates.
    pub fn from_der(certs: Vec<CertificateDer<'static>>) -> CaBundle {
        CaBundle { certs }
    }

    /// The certificates.
    pub fn certs(&self) -> &[CertificateDer<'static>] {
        &self.certs
    }
}

/// Decodes the Base64-wrapped form of a PEM file. ASCII whitespace (line wrapping by secret
/// managers) is ignored; padding is optional. Input that already looks like PEM is returned
/// as is. The result is zeroized on drop since it may hold a key.
pub(crate) fn decode_base64_pem(
    value: &str,
    part: Part,
) -> Result<Zeroizing<Vec<u8>>, IdentityError> {
    use base64::engine::{general_purpose, DecodePaddingMode, GeneralPurpose};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        general_purpose::PAD.with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let trimmed = value.trim();
    if trimmed.starts_with("-----BEGIN ") {
        return Ok(Zeroizing::new(trimmed.as_bytes().to_vec()));
    }
    let compact: Zeroizing<Vec<u8>> = Zeroizing::new(
        trimmed
            .bytes()
            .filter(|b| !b.is_ascii_whitespace())
            .collect(),
    );
    if compact.is_empty() {
        return Err(IdentityError::Empty { part });
    }
    base64::Engine::decode(&LENIENT, &*compact)
        .map(Zeroizing::new)
        .map_err(|_| IdentityError::Base64 { part })
}

/// All `CERTIFICATE` sections of a PEM input, in order.
pub(crate) fn certificates_from_pem(
    pem: &[u8],
    part: Part,
) -> Result<Vec<CertificateDer<'static>>, IdentityError> {
    let mut certs = Vec::new();
    for item in CertificateDer::pem_slice_iter(pem) {
        certs.push(item.map_err(|_| IdentityError::Pem { part })?);
    }
    if certs.is_empty() {
        return Err(match part {
            Part::Certificate => IdentityError::NoCertificate,
            other => IdentityError::Pem { part: other },
        });
    }
    Ok(certs)
}

/// The first private key of a PEM input, decrypting `ENCRYPTED PRIVATE KEY` with `passphrase`,
/// and the form it was in.
pub(crate) fn private_key_from_pem(
    pem: &[u8],
    passphrase: Option<&[u8]>,
) -> Result<(PrivateKeyDer<'static>, KeyForm), IdentityError> {
    if contains(pem, b"Proc-Type: 4,ENCRYPTED") {
        return legacy_pem::decrypt(pem, passphrase).map(|k| (k, KeyForm::LegacyEncryptedPem));
    }
    let part = Part::PrivateKey;
    for item in <(SectionKind, Vec<u8>)>::pem_slice_iter(pem) {
        let (kind, der) = item.map_err(|_| IdentityError::Pem { part })?;
        let der = Zeroizing::new(der);
        match kind {
            SectionKind::RsaPrivateKey => {
                return Ok((
                    PrivatePkcs1KeyDer::from(der.to_vec()).into(),
                    KeyForm::Pkcs1Pem,
                ));
            }
            SectionKind::PrivateKey => {
                return Ok((
                    PrivatePkcs8KeyDer::from(der.to_vec()).into(),
                    KeyForm::Pkcs8Pem,
                ));
            }
            SectionKind::EcPrivateKey => {
                return Ok((
                    PrivateSec1KeyDer::from(der.to_vec()).into(),
                    KeyForm::Sec1Pem,
                ));
            }
            _ => continue,
        }
    }
    // rustls-pki-types skips labels it does not know, such as ENCRYPTED PRIVATE KEY.
    if contains(pem, b"-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        let passphrase = passphrase.ok_or(IdentityError::PassphraseRequired)?;
        return decrypt_pkcs8_pem(pem, passphrase).map(|k| (k, KeyForm::EncryptedPkcs8Pem));
    }
    Err(IdentityError::NoPrivateKey)
}

fn decrypt_pkcs8_pem(
    pem: &[u8],
    passphrase: &[u8],
) -> Result<PrivateKeyDer<'static>, IdentityError> {
    let part = Part::PrivateKey;
    let text = core::str::from_utf8(pem).map_err(|_| IdentityError::Pem { part })?;
    // Take the one section out of whatever surrounds it (comments, other sections).
    let begin = text
        .find("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        .ok_or(IdentityError::NoPrivateKey)?;
    const END: &str = "-----END ENCRYPTED PRIVATE KEY-----";
    let end = text[begin..]
        .find(END)
        .map(|i| begin + i + END.len())
        .ok_or(IdentityError::Pem { part })?;
    let (label, doc) =
        der::Document::from_pem(&text[begin..end]).map_err(|_| IdentityError::Pem { part })?;
    if label != "ENCRYPTED PRIVATE KEY" {
        return Err(IdentityError::Pem { part });
    }
    let info = pkcs8::EncryptedPrivateKeyInfo::from_der(doc.as_bytes())
        .map_err(|_| IdentityError::Pem { part })?;
    check_key_derivation_cost(&info.encryption_algorithm)?;
    let secret = info
        .decrypt(passphrase)
        .map_err(|_| IdentityError::WrongPassphrase)?;
    Ok(PrivatePkcs8KeyDer::from(secret.as_bytes().to_vec()).into())
}

/// Most PBKDF2 iterations an encrypted key may ask for (OpenSSL writes 2,048). Stated in
/// [`IdentityError::KeyDerivationTooCostly`]'s docs.
const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
/// Most memory scrypt may need, `128 * r * N * p` bytes (OpenSSL's default: 16 MiB). Stated
/// in [`IdentityError::KeyDerivationTooCostly`]'s docs.
const MAX_SCRYPT_MEMORY: u64 = 256 * 1024 * 1024;

/// The key-derivation parameters come from the file, before the passphrase is checked: a
/// crafted file could ask for hours of PBKDF2 or terabytes of scrypt memory.
fn check_key_derivation_cost(
    scheme: &pkcs8::pkcs5::EncryptionScheme<'_>,
) -> Result<(), IdentityError> {
    use pkcs8::pkcs5::pbes2::Kdf;
    // PBES1 counts iterations in a u16: bounded by its type.
    let Some(params) = scheme.pbes2() else {
        return Ok(());
    };
    let affordable = match &params.kdf {
        Kdf::Pbkdf2(p) => p.iteration_count <= MAX_PBKDF2_ITERATIONS,
        Kdf::Scrypt(p) => 128u64
            .checked_mul(u64::from(p.block_size))
            .and_then(|m| m.checked_mul(p.cost_parameter))
            .and_then(|m| m.checked_mul(u64::from(p.parallelization)))
            .is_some_and(|m| m <= MAX_SCRYPT_MEMORY),
        _ => true,
    };
    if affordable {
        Ok(())
    } else {
        Err(IdentityError::KeyDerivationTooCostly)
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyMatch {
    Match,
    Mismatch,
    Unknown,
}

/// Compares the public half of `key` with the certificate's SubjectPublicKeyInfo; for a
/// matching P-256 key, also returns its signer (made by the derivation the check needs).
fn public_key_matches(
    key: &PrivateKeyDer<'_>,
    cert_spki_der: &[u8],
) -> Result<(KeyMatch, Option<p256::ecdsa::SigningKey>), IdentityError> {
    let spki = spki::SubjectPublicKeyInfoRef::from_der(cert_spki_der)
        .map_err(|_| IdentityError::CertificateUnparseable { index: 0 })?;
    let cert_key = spki
        .subject_public_key
        .as_bytes()
        .ok_or(IdentityError::CertificateUnparseable { index: 0 })?;
    let cert_curve = spki
        .algorithm
        .parameters
        .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
    let bad_key = IdentityError::KeyUnparseable;
    let matched = match key {
        PrivateKeyDer::Pkcs1(k) => (rsa_matches(k.secret_pkcs1_der(), cert_key)?, None),
        PrivateKeyDer::Sec1(k) => sec1_matches(k.secret_sec1_der(), cert_curve, cert_key)?,
        PrivateKeyDer::Pkcs8(k) => {
            let info =
                pkcs8::PrivateKeyInfo::from_der(k.secret_pkcs8_der()).map_err(|_| bad_key)?;
            let oid = info.algorithm.oid;
            if oid == OID_RSA_ENCRYPTION {
                (rsa_matches(info.private_key, cert_key)?, None)
            } else if oid == OID_EC_PUBLIC_KEY {
                let curve = info
                    .algorithm
                    .parameters
                    .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
                    .or(cert_curve);
                sec1_matches(info.private_key, curve, cert_key)?
            } else {
                // Ed25519 and others: no derivation here, and a stored public key is only a
                // claim. The handshake is the check (reported as a warning).
                (KeyMatch::Unknown, None)
            }
        }
        _ => (KeyMatch::Unknown, None),
    };
    Ok(matched)
}

fn rsa_matches(pkcs1_der: &[u8], cert_key: &[u8]) -> Result<KeyMatch, IdentityError> {
    let private =
        pkcs1::RsaPrivateKey::from_der(pkcs1_der).map_err(|_| IdentityError::KeyUnparseable)?;
    let Ok(public) = pkcs1::RsaPublicKey::from_der(cert_key) else {
        return Ok(KeyMatch::Mismatch); // the certificate holds no RSA key
    };
    Ok(
        if private.modulus == public.modulus && private.public_exponent == public.public_exponent {
            KeyMatch::Match
        } else {
            KeyMatch::Mismatch
        },
    )
}

fn sec1_matches(
    sec1_der: &[u8],
    curve: Option<ObjectIdentifier>,
    cert_key: &[u8],
) -> Result<(KeyMatch, Option<p256::ecdsa::SigningKey>), IdentityError> {
    let private =
        sec1::EcPrivateKey::from_der(sec1_der).map_err(|_| IdentityError::KeyUnparseable)?;
    let curve = private.parameters.and_then(|p| p.named_curve()).or(curve);
    let verdict = |derived: &[u8]| {
        if derived == cert_key {
            KeyMatch::Match
        } else {
            KeyMatch::Mismatch
        }
    };
    // Derive the public point from the private scalar: the public key stored beside it is
    // only a claim, and a hand-edited file could pair it with another scalar.
    match curve {
        Some(c) if c == OID_P256 => {
            // The signer holds the derived point: one derivation serves the check and TLS.
            let secret = p256::SecretKey::from_slice(private.private_key)
                .map_err(|_| IdentityError::KeyUnparseable)?;
            let signer = p256::ecdsa::SigningKey::from(&secret);
            let matched = verdict(signer.verifying_key().to_encoded_point(false).as_bytes());
            Ok((matched, (matched == KeyMatch::Match).then_some(signer)))
        }
        // Without the `p384` feature no P-384 key can sign either: the TLS configuration
        // refuses it (ClientKeyUnsupported).
        #[cfg(feature = "p384")]
        Some(c) if c == OID_P384 => {
            use p384::elliptic_curve::sec1::ToEncodedPoint;
            let key = p384::SecretKey::from_slice(private.private_key)
                .map_err(|_| IdentityError::KeyUnparseable)?;
            Ok((
                verdict(key.public_key().to_encoded_point(false).as_bytes()),
                None,
            ))
        }
        _ => Ok((KeyMatch::Unknown, None)),
    }
}

/// Number of significant bits in a big-endian unsigned integer.
fn uint_bits(bytes: &[u8]) -> usize {
    let bytes = match bytes.iter().position(|b| *b != 0) {
        Some(i) => &bytes[i..],
        None => return 0,
    };
    // `bytes` is non-empty here: position found a non-zero byte.
    let lead = bytes.first().map_or(0, |b| b.leading_zeros() as usize);
    bytes.len() * 8 - lead
}
