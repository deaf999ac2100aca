//! The client's signing key: the one place its private key becomes a signer, chosen per build.
//!
//! In a full mTLS handshake the client makes one private-key operation (its
//! CertificateVerify), and with an RSA-2048 key that operation is most of the client's CPU.
//! So this module, not the crypto provider, decides what signs:
//!
//! - **The pure-Rust default** (`rustls-rustcrypto` provider): RSA keys sign with
//!   [`RsaSigner`], on `rsa` 0.10, whose private operation is constant time (crypto-bigint,
//!   with blinding). The provider's own RSA signer is `rsa` 0.9, which carries the timing
//!   advisory RUSTSEC-2023-0071 and is never given our key. P-256 keys sign with
//!   [`P256Signer`] (RustCrypto `p256`, constant time), the signing key the identity's key
//!   check built: that check derives the public point from the scalar to compare it with the
//!   certificate's, and the signer holds that point, so a process derives it once (the
//!   provider's loader would derive it twice more: once checking the point stored in the
//!   file, once for its signing key; 3.3M instructions of a 16.4M one-shot process).
//!   P-384 and Ed25519 keys go to the provider's signers (RustCrypto `p384`/`ed25519-dalek`,
//!   constant time).
//! - **The `ring` feature** (std hosts): ring signs every key type, through its provider
//!   (see [`super::default_provider`]).
//! - **Another provider** given through the hidden door (the fuzzers' deterministic one):
//!   that provider signs, as it asked.
//!
//! The server's signatures are still checked by the provider's verifiers (public-key
//! operations, which the advisory does not concern).

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use der::Decode;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::PrivateKeyDer;
use rustls::sign::{Signer, SigningKey};
use rustls::{SignatureAlgorithm, SignatureScheme};

#[cfg(feature = "rsa-client-key")]
pub(crate) use super::rsa_signer::RsaSigner;
use super::TlsError;

/// `rsaEncryption`, the algorithm of an RSA key in PKCS#8.
const OID_RSA_ENCRYPTION: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// Which signer holds the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SignerChoice {
    /// The constant-time RSA signer (`rsa` 0.10, `rsa_signer.rs`; feature `rsa-client-key`).
    ConstantTimeRsa,
    /// [`P256Signer`]: the P-256 signer the identity's key check made (no second
    /// derivation of the public point); pure-Rust default only.
    CheckedP256,
    /// The crypto provider's own signer.
    Provider,
}

/// Whom this build gives a key to: [`SignerChoice::ConstantTimeRsa`] for an RSA key on the
/// pure-Rust default provider, the provider otherwise. `own_provider` says whether `provider`
/// is this build's default one (not one given through the hidden door).
/// `checked_p256` says whether the identity holds a checked P-256 signer
/// ([`SignerChoice::CheckedP256`]).
pub(crate) fn choose_signer(
    key: &PrivateKeyDer<'_>,
    own_provider: bool,
    checked_p256: bool,
) -> SignerChoice {
    let pure_rust = own_provider && !cfg!(feature = "ring");
    if pure_rust && checked_p256 {
        SignerChoice::CheckedP256
    } else if pure_rust && rsa_pkcs1_der(key).is_some() {
        SignerChoice::ConstantTimeRsa
    } else {
        SignerChoice::Provider
    }
}

/// The client key as a rustls signer, by [`choose_signer`].
///
/// # Errors
/// [`TlsError::ClientKeyUnsupported`] if the chosen signer cannot use the key.
///
/// `checked_p256` is the identity's P-256 signer ([`crate::identity::Identity`] makes it while
/// checking the key against the certificate), if any.
pub(crate) fn load_signing_key(
    key: &PrivateKeyDer<'_>,
    checked_p256: Option<&Arc<p256::ecdsa::SigningKey>>,
    provider: &CryptoProvider,
    own_provider: bool,
) -> Result<Arc<dyn SigningKey>, TlsError> {
    match choose_signer(key, own_provider, checked_p256.is_some()) {
        SignerChoice::CheckedP256 => match checked_p256 {
            Some(key) => Ok(Arc::new(P256Signer(key.clone()))),
            None => Err(TlsError::ClientKeyUnsupported),
        },
        #[cfg(feature = "rsa-client-key")]
        SignerChoice::ConstantTimeRsa => {
            let der = rsa_pkcs1_der(key).ok_or(TlsError::ClientKeyUnsupported)?;
            Ok(Arc::new(RsaSigner::from_pkcs1_der(der)?))
        }
        // Never to the provider's own RSA signer (`rsa` 0.9, the timing advisory).
        #[cfg(not(feature = "rsa-client-key"))]
        SignerChoice::ConstantTimeRsa => Err(TlsError::ClientKeyUnsupported),
        SignerChoice::Provider => provider
            .key_provider
            .load_private_key(key.clone_key())
            .map_err(|_| TlsError::ClientKeyUnsupported),
    }
}

/// An ECDSA P-256 client key signing ECDSA-P256-SHA256 (RustCrypto `p256`, constant time,
/// RFC 6979 nonces with added randomness): what the provider's own P-256 signer does, from
/// a signing key built once by the identity's key check.
#[derive(Debug)]
pub(crate) struct P256Signer(Arc<p256::ecdsa::SigningKey>);

impl SigningKey for P256Signer {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        offered
            .contains(&SignatureScheme::ECDSA_NISTP256_SHA256)
            .then(|| Box::new(P256SchemeSigner(self.0.clone())) as Box<dyn Signer>)
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::ECDSA
    }
}

#[derive(Debug)]
struct P256SchemeSigner(Arc<p256::ecdsa::SigningKey>);

impl Signer for P256SchemeSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        use p256::ecdsa::signature::{RandomizedSigner, SignatureEncoding};
        let signature: p256::ecdsa::DerSignature = self
            .0
            .try_sign_with_rng(&mut rand_core::OsRng, message)
            .map_err(|_| rustls::Error::General(String::from("ECDSA P-256 signing failed")))?;
        Ok(signature.to_vec())
    }

    fn scheme(&self) -> SignatureScheme {
        SignatureScheme::ECDSA_NISTP256_SHA256
    }
}

/// The PKCS#1 `RSAPrivateKey` inside `key`, if it is an RSA key.
fn rsa_pkcs1_der<'a>(key: &'a PrivateKeyDer<'_>) -> Option<&'a [u8]> {
    match key {
        PrivateKeyDer::Pkcs1(k) => Some(k.secret_pkcs1_der()),
        PrivateKeyDer::Pkcs8(k) => {
            let info = pkcs8::PrivateKeyInfo::from_der(k.secret_pkcs8_der()).ok()?;
            (info.algorithm.oid == OID_RSA_ENCRYPTION).then_some(info.private_key)
        }
        _ => None,
    }
}

#[cfg(test)]
#[cfg(feature = "rsa-client-key")]
mod tests {
    use super::*;
    use crate::tls::rsa_signer::RSA_SCHEMES;
    use alloc::vec::Vec;
    use der::Encode;
    use rustls::pki_types::{PrivatePkcs1KeyDer, PrivatePkcs8KeyDer};
    use rustls::SignatureAlgorithm;

    const PKCS1_PEM: &str = include_str!("../../tests/fixtures/rsa2048-pkcs1.pem");
    const PKCS8_PEM: &str = include_str!("../../tests/fixtures/rsa2048-pkcs8.pem");
    const P256_PEM: &str = include_str!("../../tests/fixtures/p256-pkcs8.pem");
    const PKCS1_SPKI: &[u8] = include_bytes!("../../tests/fixtures/rsa2048-pkcs1.spki.der");
    const PKCS8_SPKI: &[u8] = include_bytes!("../../tests/fixtures/rsa2048-pkcs8.spki.der");

    fn pem_der(pem: &str) -> Vec<u8> {
        use base64::Engine;
        let body: alloc::string::String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap()
    }

    /// The subjectPublicKey bits of an SPKI: what rustls' verifiers take.
    fn public_key(spki_der: &[u8]) -> Vec<u8> {
        spki::SubjectPublicKeyInfoRef::from_der(spki_der)
            .unwrap()
            .subject_public_key
            .raw_bytes()
            .to_vec()
    }

    /// Signs with every scheme `key` offers and checks each signature with ring's verifier
    /// (another implementation), and that a changed message does not verify.
    fn sign_and_verify_all(key: &dyn SigningKey, public: &[u8]) {
        let verifiers = rustls::crypto::ring::default_provider().signature_verification_algorithms;
        for scheme in RSA_SCHEMES {
            let signer = key.choose_scheme(&[scheme]).expect("scheme offered");
            assert_eq!(signer.scheme(), scheme);
            let message = b"TLS 1.3, client CertificateVerify\x00transcript hash";
            let signature = signer.sign(message).unwrap();
            assert_eq!(signature.len(), 256, "{scheme:?}");
            let algs = verifiers
                .mapping
                .iter()
                .find(|(s, _)| *s == scheme)
                .map(|(_, algs)| *algs)
                .unwrap();
            assert!(
                algs.iter()
                    .any(|alg| alg.verify_signature(public, message, &signature).is_ok()),
                "{scheme:?} does not verify"
            );
            assert!(
                algs.iter().all(|alg| alg
                    .verify_signature(public, b"another", &signature)
                    .is_err()),
                "{scheme:?} verifies another message"
            );
        }
    }

    #[test]
    fn rsa_pkcs1_and_pkcs8_keys_go_to_the_constant_time_signer_and_verify() {
        let pkcs1 = PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(pem_der(PKCS1_PEM)));
        let pkcs8 = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pem_der(PKCS8_PEM)));
        let expected = if cfg!(feature = "ring") {
            SignerChoice::Provider
        } else {
            SignerChoice::ConstantTimeRsa
        };
        assert_eq!(choose_signer(&pkcs1, true, false), expected);
        assert_eq!(choose_signer(&pkcs8, true, false), expected);
        // A provider given through the hidden door signs itself.
        assert_eq!(choose_signer(&pkcs1, false, false), SignerChoice::Provider);
        let provider = super::super::default_provider();
        for (key, spki) in [(&pkcs1, PKCS1_SPKI), (&pkcs8, PKCS8_SPKI)] {
            let own = load_signing_key(key, None, &provider, true).unwrap();
            assert_eq!(own.algorithm(), SignatureAlgorithm::RSA);
            sign_and_verify_all(&*own, &public_key(spki));
            let direct = RsaSigner::from_pkcs1_der(rsa_pkcs1_der(key).unwrap()).unwrap();
            sign_and_verify_all(&direct, &public_key(spki));
        }
    }

    #[test]
    fn an_ecdsa_key_without_a_checked_signer_goes_to_the_provider() {
        let p256 = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pem_der(P256_PEM)));
        assert_eq!(choose_signer(&p256, true, false), SignerChoice::Provider);
        let key = load_signing_key(&p256, None, &super::super::default_provider(), true).unwrap();
        assert_eq!(key.algorithm(), SignatureAlgorithm::ECDSA);
    }

    #[test]
    fn the_identity_checked_p256_signer_signs_and_verifies() {
        let der = pem_der(P256_PEM);
        let info = pkcs8::PrivateKeyInfo::from_der(&der).unwrap();
        let sec1 = sec1::EcPrivateKey::from_der(info.private_key).unwrap();
        let secret = p256::SecretKey::from_slice(sec1.private_key).unwrap();
        let checked = Arc::new(p256::ecdsa::SigningKey::from(&secret));
        let p256 = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der.clone()));
        let expected = if cfg!(feature = "ring") {
            SignerChoice::Provider
        } else {
            SignerChoice::CheckedP256
        };
        assert_eq!(choose_signer(&p256, true, true), expected);
        assert_eq!(choose_signer(&p256, false, true), SignerChoice::Provider);
        let provider = super::super::default_provider();
        let key = load_signing_key(&p256, Some(&checked), &provider, true).unwrap();
        assert_eq!(key.algorithm(), SignatureAlgorithm::ECDSA);
        assert!(key
            .choose_scheme(&[SignatureScheme::RSA_PSS_SHA256])
            .is_none());
        let verifiers = rustls::crypto::ring::default_provider().signature_verification_algorithms;
        let scheme = SignatureScheme::ECDSA_NISTP256_SHA256;
        let alg = verifiers
            .mapping
            .iter()
            .find(|(s, _)| *s == scheme)
            .map(|(_, algs)| algs[0])
            .unwrap();
        let public = public_key(include_bytes!("../../tests/fixtures/p256-pkcs8.spki.der"));
        for signer in [
            key.choose_scheme(&[scheme]).unwrap(),
            P256Signer(checked).choose_scheme(&[scheme]).unwrap(),
        ] {
            assert_eq!(signer.scheme(), scheme);
            let message = b"TLS 1.3, client CertificateVerify\x00transcript hash";
            let signature = signer.sign(message).unwrap();
            assert!(alg.verify_signature(&public, message, &signature).is_ok());
            assert!(alg
                .verify_signature(&public, b"another message", &signature)
                .is_err());
        }
    }

    #[test]
    fn a_key_with_p_below_q_signs_correctly_every_time() {
        // openssl writes p > q; swap them (and their CRT exponents) as other tools may.
        let der = pem_der(PKCS1_PEM);
        let key = pkcs1::RsaPrivateKey::from_der(&der).unwrap();
        assert!(key.prime1.as_bytes() > key.prime2.as_bytes());
        let swapped = pkcs1::RsaPrivateKey {
            prime1: key.prime2,
            prime2: key.prime1,
            exponent1: key.exponent2,
            exponent2: key.exponent1,
            ..key
        }
        .to_der()
        .unwrap();
        let signer = RsaSigner::from_pkcs1_der(&swapped).unwrap();
        for _ in 0..8 {
            sign_and_verify_all(&signer, &public_key(PKCS1_SPKI));
        }
    }

    #[test]
    fn broken_and_out_of_range_keys_are_refused() {
        let der = pem_der(PKCS1_PEM);
        let key = pkcs1::RsaPrivateKey::from_der(&der).unwrap();
        // d does not belong to n: the components are checked once, at load.
        let wrong_d = pkcs1::RsaPrivateKey {
            private_exponent: key.prime1,
            ..key.clone()
        }
        .to_der()
        .unwrap();
        assert!(matches!(
            RsaSigner::from_pkcs1_der(&wrong_d),
            Err(TlsError::ClientKeyUnsupported)
        ));
        assert!(matches!(
            RsaSigner::from_pkcs1_der(b"\x30\x03\x02\x01\x00"),
            Err(TlsError::ClientKeyUnsupported)
        ));
    }
}
