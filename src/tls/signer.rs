//! The client's signing key: the one place its private key becomes a signer, chosen per build.
//!
//! In a full mTLS handshake the client makes one private-key operation (its
//! CertificateVerify), and with an RSA-2048 key that operation is most of the client's CPU.
//! So this module, not the crypto provider, decides what signs:
//!
//! - **The pure-Rust default** (`rustls-rustcrypto` provider): RSA keys sign with
//!   [`RsaSigner`], on `rsa` 0.10, whose private operation is constant time (crypto-bigint,
//!   with blinding). The provider's own RSA signer is `rsa` 0.9, which carries the timing
//!   advisory RUSTSEC-2023-0071 and is never given our key. ECDSA (P-256, P-384) and Ed25519
//!   keys go to the provider's signers (RustCrypto `p256`/`p384`/`ed25519-dalek`,
//!   constant time).
//! - **The `ring` feature** (std hosts): ring signs every key type, through its provider
//!   (see [`super::default_provider`]).
//! - **Another provider** given through the hidden door (the fuzzers' deterministic one):
//!   that provider signs, as it asked.
//!
//! The server's signatures are still checked by the provider's verifiers (public-key
//! operations, which the advisory does not concern).

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use der::Decode;
use rsa::rand_core::{TryCryptoRng, TryRng};
use rsa::signature::RandomizedSigner;
use rsa::{BoxedUint, PrivateKey};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::PrivateKeyDer;
use rustls::sign::{Signer, SigningKey};
use rustls::{SignatureAlgorithm, SignatureScheme};

use super::TlsError;

/// `rsaEncryption`, the algorithm of an RSA key in PKCS#8.
const OID_RSA_ENCRYPTION: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// Which signer holds the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SignerChoice {
    /// This module's constant-time RSA signer (`rsa` 0.10).
    ConstantTimeRsa,
    /// The crypto provider's own signer.
    Provider,
}

/// Whom this build gives a key to: [`SignerChoice::ConstantTimeRsa`] for an RSA key on the
/// pure-Rust default provider, the provider otherwise. `own_provider` says whether `provider`
/// is this build's default one (not one given through the hidden door).
pub(crate) fn choose_signer(key: &PrivateKeyDer<'_>, own_provider: bool) -> SignerChoice {
    if own_provider && !cfg!(feature = "ring") && rsa_pkcs1_der(key).is_some() {
        SignerChoice::ConstantTimeRsa
    } else {
        SignerChoice::Provider
    }
}

/// The client key as a rustls signer, by [`choose_signer`].
///
/// # Errors
/// [`TlsError::ClientKeyUnsupported`] if the chosen signer cannot use the key.
pub(crate) fn load_signing_key(
    key: &PrivateKeyDer<'_>,
    provider: &CryptoProvider,
    own_provider: bool,
) -> Result<Arc<dyn SigningKey>, TlsError> {
    match choose_signer(key, own_provider) {
        SignerChoice::ConstantTimeRsa => {
            let der = rsa_pkcs1_der(key).ok_or(TlsError::ClientKeyUnsupported)?;
            Ok(Arc::new(RsaSigner::from_pkcs1_der(der)?))
        }
        SignerChoice::Provider => provider
            .key_provider
            .load_private_key(key.clone_key())
            .map_err(|_| TlsError::ClientKeyUnsupported),
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

/// An RSA private key for TLS CertificateVerify: RSA-PSS (TLS 1.3, and TLS 1.2 when offered)
/// and PKCS#1 v1.5 (TLS 1.2), SHA-256/384/512, on `rsa` 0.10.
pub(crate) struct RsaSigner {
    key: Arc<PrivateKey>,
}

impl core::fmt::Debug for RsaSigner {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RsaSigner").finish_non_exhaustive()
    }
}

/// Most preferred first, as rustls' own providers order them.
const RSA_SCHEMES: [SignatureScheme; 6] = [
    SignatureScheme::RSA_PSS_SHA512,
    SignatureScheme::RSA_PSS_SHA384,
    SignatureScheme::RSA_PSS_SHA256,
    SignatureScheme::RSA_PKCS1_SHA512,
    SignatureScheme::RSA_PKCS1_SHA384,
    SignatureScheme::RSA_PKCS1_SHA256,
];

/// Smallest modulus accepted: what rustls' providers accept for a client key.
const MIN_MODULUS_BITS: usize = 2048;
/// Largest modulus accepted: beyond it a signature costs seconds.
const MAX_MODULUS_BITS: usize = 8192;

impl RsaSigner {
    /// Parses and checks the key once (components consistent, CRT values precomputed).
    pub(crate) fn from_pkcs1_der(der: &[u8]) -> Result<RsaSigner, TlsError> {
        let parsed =
            pkcs1::RsaPrivateKey::from_der(der).map_err(|_| TlsError::ClientKeyUnsupported)?;
        if parsed.version() != pkcs1::Version::TwoPrime {
            return Err(TlsError::ClientKeyUnsupported);
        }
        let n = parsed.modulus.as_bytes();
        let bits = n.len() * 8;
        if !(MIN_MODULUS_BITS..=MAX_MODULUS_BITS).contains(&bits) {
            return Err(TlsError::ClientKeyUnsupported);
        }
        let uint = |bytes: &[u8], bits: usize| {
            BoxedUint::from_be_slice(bytes, bits as u32).map_err(|_| TlsError::ClientKeyUnsupported)
        };
        let e = parsed.public_exponent.as_bytes();
        let key = PrivateKey::from_components(
            uint(n, bits)?,
            uint(e, e.len() * 8)?,
            uint(parsed.private_exponent.as_bytes(), bits)?,
            vec![
                uint(parsed.prime1.as_bytes(), bits)?,
                uint(parsed.prime2.as_bytes(), bits)?,
            ],
        )
        .map_err(|_| TlsError::ClientKeyUnsupported)?;
        Ok(RsaSigner { key: Arc::new(key) })
    }
}

impl SigningKey for RsaSigner {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        RSA_SCHEMES
            .iter()
            .find(|scheme| offered.contains(scheme))
            .map(|&scheme| {
                Box::new(RsaSchemeSigner {
                    key: self.key.clone(),
                    scheme,
                }) as Box<dyn Signer>
            })
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::RSA
    }
}

/// One signature scheme of an [`RsaSigner`], as rustls asks for it.
struct RsaSchemeSigner {
    key: Arc<PrivateKey>,
    scheme: SignatureScheme,
}

impl core::fmt::Debug for RsaSchemeSigner {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RsaSchemeSigner")
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

impl Signer for RsaSchemeSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        use rsa::sha2::{Sha256, Sha384, Sha512};
        use rsa::{pkcs1v15, pss};
        let key = (*self.key).clone();
        let rng = &mut HostRng;
        // The salt and the blinding factor come from the host's RNG; its failure is the
        // only cause for which rustls has a name.
        let signed: Result<Box<[u8]>, rsa::signature::Error> = match self.scheme {
            SignatureScheme::RSA_PSS_SHA256 => pss::SigningKey::<Sha256>::new(key)
                .try_sign_with_rng(rng, message)
                .map(Into::into),
            SignatureScheme::RSA_PSS_SHA384 => pss::SigningKey::<Sha384>::new(key)
                .try_sign_with_rng(rng, message)
                .map(Into::into),
            SignatureScheme::RSA_PSS_SHA512 => pss::SigningKey::<Sha512>::new(key)
                .try_sign_with_rng(rng, message)
                .map(Into::into),
            SignatureScheme::RSA_PKCS1_SHA256 => pkcs1v15::SigningKey::<Sha256>::new(key)
                .try_sign_with_rng(rng, message)
                .map(Into::into),
            SignatureScheme::RSA_PKCS1_SHA384 => pkcs1v15::SigningKey::<Sha384>::new(key)
                .try_sign_with_rng(rng, message)
                .map(Into::into),
            SignatureScheme::RSA_PKCS1_SHA512 => pkcs1v15::SigningKey::<Sha512>::new(key)
                .try_sign_with_rng(rng, message)
                .map(Into::into),
            _ => return Err(rustls::Error::General("unsupported RSA scheme".into())),
        };
        signed
            .map(Vec::from)
            .map_err(|_| rustls::Error::FailedToGetRandomBytes)
    }

    fn scheme(&self) -> SignatureScheme {
        self.scheme
    }
}

/// The host's RNG (`getrandom` 0.2: the OS, or what a bare-metal host registered), in the
/// `rand_core` 0.10 shape `rsa` 0.10 asks for.
struct HostRng;

/// The host's RNG gave no bytes.
#[derive(Debug)]
struct RngFailed;

impl core::fmt::Display for RngFailed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("the host's RNG gave no bytes")
    }
}

impl core::error::Error for RngFailed {}

impl TryRng for HostRng {
    type Error = RngFailed;

    fn try_next_u32(&mut self) -> Result<u32, RngFailed> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, RngFailed> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), RngFailed> {
        getrandom::getrandom(dst).map_err(|_| RngFailed)
    }
}

impl TryCryptoRng for HostRng {}

#[cfg(test)]
mod tests {
    use super::*;
    use der::Encode;
    use rustls::pki_types::{PrivatePkcs1KeyDer, PrivatePkcs8KeyDer};

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
        assert_eq!(choose_signer(&pkcs1, true), expected);
        assert_eq!(choose_signer(&pkcs8, true), expected);
        // A provider given through the hidden door signs itself.
        assert_eq!(choose_signer(&pkcs1, false), SignerChoice::Provider);
        let provider = super::super::default_provider();
        for (key, spki) in [(&pkcs1, PKCS1_SPKI), (&pkcs8, PKCS8_SPKI)] {
            let own = load_signing_key(key, &provider, true).unwrap();
            assert_eq!(own.algorithm(), SignatureAlgorithm::RSA);
            sign_and_verify_all(&*own, &public_key(spki));
            let direct = RsaSigner::from_pkcs1_der(rsa_pkcs1_der(key).unwrap()).unwrap();
            sign_and_verify_all(&direct, &public_key(spki));
        }
    }

    #[test]
    fn an_ecdsa_key_goes_to_the_provider() {
        let p256 = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pem_der(P256_PEM)));
        assert_eq!(choose_signer(&p256, true), SignerChoice::Provider);
        let key = load_signing_key(&p256, &super::super::default_provider(), true).unwrap();
        assert_eq!(key.algorithm(), SignatureAlgorithm::ECDSA);
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
