//! The constant-time RSA client signer (feature `rsa-client-key`): see [`super::signer`].

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use der::Decode;
use rsa::rand_core::{TryCryptoRng, TryRng};
use rsa::signature::RandomizedSigner;
use rsa::{BoxedUint, PrivateKey};
use rustls::sign::{Signer, SigningKey};
use rustls::{SignatureAlgorithm, SignatureScheme};

use super::TlsError;

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
pub(crate) const RSA_SCHEMES: [SignatureScheme; 6] = [
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
