//! The crypto provider, composed from the parts the crate's features ask for, so that a
//! device links only those: `rustls_rustcrypto::provider()` would reference every algorithm
//! it has (P-384 arithmetic alone is over 100 KB of a Cortex-M firmware).
//!
//! | part | always | with a feature |
//! |---|---|---|
//! | protocol | TLS 1.3 | TLS 1.2 (`tls12`) |
//! | cipher suites | AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305 | the TLS 1.2 ECDHE suites (`tls12`) |
//! | key exchange | X25519, P-256 | P-384 (`p384`) |
//! | server signatures | RSA PKCS#1 v1.5 and PSS (SHA-256/384/512), ECDSA P-256 | ECDSA P-384 (`p384`), Ed25519 (`ed25519`) |
//! | client keys | ECDSA P-256 | P-384 (`p384`), RSA (`rsa-client-key`), Ed25519 (`ed25519`) |
//!
//! The cipher suites, the signers and the random source are rustls-rustcrypto's own (its
//! public items); the key exchanges and the signature verifiers are written here with the
//! same RustCrypto crates, because rustls-rustcrypto keeps its own private.
//!
//! Each part is its own function, so one can be swapped (another signer, another provider)
//! without touching the others.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;

use rustls::crypto::{
    ActiveKeyExchange, CryptoProvider, KeyProvider, SharedSecret, SupportedKxGroup,
    WebPkiSupportedAlgorithms,
};
use rustls::pki_types::{
    alg_id, AlgorithmIdentifier, InvalidSignature, PrivateKeyDer, SignatureVerificationAlgorithm,
};
use rustls::sign::SigningKey;
use rustls::{NamedGroup, SignatureScheme, SupportedCipherSuite};

/// The provider of every connection (and of [`super::verify_client_chain`]).
pub(crate) fn provider() -> CryptoProvider {
    CryptoProvider {
        cipher_suites: cipher_suites(),
        kx_groups: kx_groups(),
        signature_verification_algorithms: SIGNATURE_ALGORITHMS,
        secure_random: &rustls_rustcrypto::Provider,
        key_provider: &KeyLoader,
    }
}

/// The protocol versions the client offers.
pub(crate) fn protocol_versions() -> &'static [&'static rustls::SupportedProtocolVersion] {
    static VERSIONS: &[&rustls::SupportedProtocolVersion] = &[
        &rustls::version::TLS13,
        #[cfg(feature = "tls12")]
        &rustls::version::TLS12,
    ];
    VERSIONS
}

/// Cipher suites, in the client's order of preference.
fn cipher_suites() -> Vec<SupportedCipherSuite> {
    [
        rustls_rustcrypto::TLS13_AES_128_GCM_SHA256,
        rustls_rustcrypto::TLS13_AES_256_GCM_SHA384,
        rustls_rustcrypto::TLS13_CHACHA20_POLY1305_SHA256,
        #[cfg(feature = "tls12")]
        rustls_rustcrypto::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        #[cfg(feature = "tls12")]
        rustls_rustcrypto::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        #[cfg(feature = "tls12")]
        rustls_rustcrypto::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        #[cfg(feature = "tls12")]
        rustls_rustcrypto::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        #[cfg(feature = "tls12")]
        rustls_rustcrypto::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        #[cfg(feature = "tls12")]
        rustls_rustcrypto::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ]
    .to_vec()
}

/// Key exchange groups, in the client's order of preference (X25519's key share is sent
/// in the ClientHello).
fn kx_groups() -> Vec<&'static dyn SupportedKxGroup> {
    [
        &X25519 as &'static dyn SupportedKxGroup,
        &Secp256r1,
        #[cfg(feature = "p384")]
        &Secp384r1,
    ]
    .to_vec()
}

// --- key exchange -------------------------------------------------------------------------

#[derive(Debug)]
struct X25519;

struct X25519Exchange {
    secret: x25519_dalek::EphemeralSecret,
    public: x25519_dalek::PublicKey,
}

impl SupportedKxGroup for X25519 {
    fn name(&self) -> NamedGroup {
        NamedGroup::X25519
    }

    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, rustls::Error> {
        let secret = x25519_dalek::EphemeralSecret::random_from_rng(rand_core::OsRng);
        let public = x25519_dalek::PublicKey::from(&secret);
        Ok(Box::new(X25519Exchange { secret, public }))
    }
}

impl ActiveKeyExchange for X25519Exchange {
    fn complete(self: Box<Self>, peer: &[u8]) -> Result<SharedSecret, rustls::Error> {
        let peer: [u8; 32] = peer
            .try_into()
            .map_err(|_| rustls::Error::from(rustls::PeerMisbehaved::InvalidKeyShare))?;
        let shared = self.secret.diffie_hellman(&peer.into());
        Ok(SharedSecret::from(shared.as_bytes().as_slice()))
    }

    fn pub_key(&self) -> &[u8] {
        self.public.as_bytes()
    }

    fn group(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

/// ECDH over a NIST curve: P-256 always, P-384 with the `p384` feature.
macro_rules! nist_kx {
    ($group:ident, $exchange:ident, $curve:ident, $name:expr) => {
        #[derive(Debug)]
        struct $group;

        struct $exchange {
            secret: $curve::ecdh::EphemeralSecret,
            public: Box<[u8]>,
        }

        impl SupportedKxGroup for $group {
            fn name(&self) -> NamedGroup {
                $name
            }

            fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, rustls::Error> {
                let secret = $curve::ecdh::EphemeralSecret::random(&mut rand_core::OsRng);
                let public = $curve::PublicKey::from(&secret).to_sec1_bytes();
                Ok(Box::new($exchange { secret, public }))
            }
        }

        impl ActiveKeyExchange for $exchange {
            fn complete(self: Box<Self>, peer: &[u8]) -> Result<SharedSecret, rustls::Error> {
                let peer = $curve::PublicKey::from_sec1_bytes(peer)
                    .map_err(|_| rustls::Error::from(rustls::PeerMisbehaved::InvalidKeyShare))?;
                let shared = self.secret.diffie_hellman(&peer);
                Ok(SharedSecret::from(shared.raw_secret_bytes().as_slice()))
            }

            fn pub_key(&self) -> &[u8] {
                &self.public
            }

            fn group(&self) -> NamedGroup {
                $name
            }
        }
    };
}

nist_kx!(Secp256r1, Secp256r1Exchange, p256, NamedGroup::secp256r1);
#[cfg(feature = "p384")]
nist_kx!(Secp384r1, Secp384r1Exchange, p384, NamedGroup::secp384r1);

// --- client keys --------------------------------------------------------------------------

/// Loads the client's private key as a signer, for the key types the features allow.
#[derive(Debug)]
struct KeyLoader;

impl KeyProvider for KeyLoader {
    fn load_private_key(
        &self,
        key_der: PrivateKeyDer<'static>,
    ) -> Result<Arc<dyn SigningKey>, rustls::Error> {
        signing_key(&key_der)
    }
}

/// The signer for `der`: ECDSA P-256, P-384 (`p384`), RSA (`rsa-client-key`), Ed25519
/// (`ed25519`); rustls-rustcrypto's signers.
fn signing_key(der: &PrivateKeyDer<'_>) -> Result<Arc<dyn SigningKey>, rustls::Error> {
    use rustls_rustcrypto::sign;
    if let Ok(key) = sign::ecdsa::EcdsaSigningKeyP256::try_from(der) {
        return Ok(Arc::new(key));
    }
    #[cfg(feature = "p384")]
    if let Ok(key) = sign::ecdsa::EcdsaSigningKeyP384::try_from(der) {
        return Ok(Arc::new(key));
    }
    #[cfg(feature = "ed25519")]
    if let Ok(key) = sign::eddsa::Ed25519SigningKey::try_from(der) {
        return Ok(Arc::new(key));
    }
    Err(rustls::Error::General(alloc::string::String::from(
        "client key type not enabled",
    )))
}

// --- server signatures --------------------------------------------------------------------

/// What the server's certificates and handshake signature may use: `all` for certificate
/// signatures, `mapping` for the TLS handshake's signature schemes (what the client offers).
static SIGNATURE_ALGORITHMS: WebPkiSupportedAlgorithms = WebPkiSupportedAlgorithms {
    all: &[
        ECDSA_P256_SHA256,
        ECDSA_P256_SHA384,
        #[cfg(feature = "p384")]
        ECDSA_P384_SHA256,
        #[cfg(feature = "p384")]
        ECDSA_P384_SHA384,
        #[cfg(feature = "ed25519")]
        ED25519,
        RSA_PKCS1_SHA256,
        RSA_PKCS1_SHA384,
        RSA_PKCS1_SHA512,
        RSA_PSS_SHA256,
        RSA_PSS_SHA384,
        RSA_PSS_SHA512,
    ],
    mapping: &[
        #[cfg(feature = "p384")]
        (
            SignatureScheme::ECDSA_NISTP384_SHA384,
            &[ECDSA_P384_SHA384, ECDSA_P256_SHA384],
        ),
        #[cfg(feature = "p384")]
        (
            SignatureScheme::ECDSA_NISTP256_SHA256,
            &[ECDSA_P256_SHA256, ECDSA_P384_SHA256],
        ),
        #[cfg(not(feature = "p384"))]
        (SignatureScheme::ECDSA_NISTP256_SHA256, &[ECDSA_P256_SHA256]),
        #[cfg(feature = "ed25519")]
        (SignatureScheme::ED25519, &[ED25519]),
        (SignatureScheme::RSA_PKCS1_SHA256, &[RSA_PKCS1_SHA256]),
        (SignatureScheme::RSA_PKCS1_SHA384, &[RSA_PKCS1_SHA384]),
        (SignatureScheme::RSA_PKCS1_SHA512, &[RSA_PKCS1_SHA512]),
        (SignatureScheme::RSA_PSS_SHA256, &[RSA_PSS_SHA256]),
        (SignatureScheme::RSA_PSS_SHA384, &[RSA_PSS_SHA384]),
        (SignatureScheme::RSA_PSS_SHA512, &[RSA_PSS_SHA512]),
    ],
};

/// An ECDSA verifier: DER signature over the hash of the message.
macro_rules! ecdsa_verifier {
    ($name:ident, $ty:ident, $curve:ident, $key_alg:expr, $sig_alg:expr, $hash:ty) => {
        #[derive(Debug)]
        struct $ty;

        impl SignatureVerificationAlgorithm for $ty {
            fn public_key_alg_id(&self) -> AlgorithmIdentifier {
                $key_alg
            }

            fn signature_alg_id(&self) -> AlgorithmIdentifier {
                $sig_alg
            }

            fn verify_signature(
                &self,
                public_key: &[u8],
                message: &[u8],
                signature: &[u8],
            ) -> Result<(), InvalidSignature> {
                use sha2::Digest as _;
                use signature::hazmat::PrehashVerifier as _;
                let signature = $curve::ecdsa::DerSignature::try_from(signature)
                    .map_err(|_| InvalidSignature)?;
                let key = $curve::ecdsa::VerifyingKey::from_sec1_bytes(public_key)
                    .map_err(|_| InvalidSignature)?;
                key.verify_prehash(&<$hash>::digest(message), &signature)
                    .map_err(|_| InvalidSignature)
            }
        }

        const $name: &dyn SignatureVerificationAlgorithm = &$ty;
    };
}

ecdsa_verifier!(
    ECDSA_P256_SHA256,
    EcdsaP256Sha256,
    p256,
    alg_id::ECDSA_P256,
    alg_id::ECDSA_SHA256,
    sha2::Sha256
);
ecdsa_verifier!(
    ECDSA_P256_SHA384,
    EcdsaP256Sha384,
    p256,
    alg_id::ECDSA_P256,
    alg_id::ECDSA_SHA384,
    sha2::Sha384
);
#[cfg(feature = "p384")]
ecdsa_verifier!(
    ECDSA_P384_SHA256,
    EcdsaP384Sha256,
    p384,
    alg_id::ECDSA_P384,
    alg_id::ECDSA_SHA256,
    sha2::Sha256
);
#[cfg(feature = "p384")]
ecdsa_verifier!(
    ECDSA_P384_SHA384,
    EcdsaP384Sha384,
    p384,
    alg_id::ECDSA_P384,
    alg_id::ECDSA_SHA384,
    sha2::Sha384
);

/// An RSA verifier (PKCS#1 v1.5 or PSS) over a PKCS#1 public key.
macro_rules! rsa_verifier {
    ($name:ident, $ty:ident, $sig_alg:expr, $scheme:ident, $hash:ty) => {
        #[derive(Debug)]
        struct $ty;

        impl SignatureVerificationAlgorithm for $ty {
            fn public_key_alg_id(&self) -> AlgorithmIdentifier {
                alg_id::RSA_ENCRYPTION
            }

            fn signature_alg_id(&self) -> AlgorithmIdentifier {
                $sig_alg
            }

            fn verify_signature(
                &self,
                public_key: &[u8],
                message: &[u8],
                signature: &[u8],
            ) -> Result<(), InvalidSignature> {
                use rsa_verify::pkcs1::DecodeRsaPublicKey as _;
                use signature::Verifier as _;
                let key = rsa_verify::RsaPublicKey::from_pkcs1_der(public_key)
                    .map_err(|_| InvalidSignature)?;
                let signature = rsa_verify::$scheme::Signature::try_from(signature)
                    .map_err(|_| InvalidSignature)?;
                rsa_verify::$scheme::VerifyingKey::<$hash>::new(key)
                    .verify(message, &signature)
                    .map_err(|_| InvalidSignature)
            }
        }

        const $name: &dyn SignatureVerificationAlgorithm = &$ty;
    };
}

rsa_verifier!(
    RSA_PKCS1_SHA256,
    RsaPkcs1Sha256,
    alg_id::RSA_PKCS1_SHA256,
    pkcs1v15,
    sha2::Sha256
);
rsa_verifier!(
    RSA_PKCS1_SHA384,
    RsaPkcs1Sha384,
    alg_id::RSA_PKCS1_SHA384,
    pkcs1v15,
    sha2::Sha384
);
rsa_verifier!(
    RSA_PKCS1_SHA512,
    RsaPkcs1Sha512,
    alg_id::RSA_PKCS1_SHA512,
    pkcs1v15,
    sha2::Sha512
);
rsa_verifier!(
    RSA_PSS_SHA256,
    RsaPssSha256,
    alg_id::RSA_PSS_SHA256,
    pss,
    sha2::Sha256
);
rsa_verifier!(
    RSA_PSS_SHA384,
    RsaPssSha384,
    alg_id::RSA_PSS_SHA384,
    pss,
    sha2::Sha384
);
rsa_verifier!(
    RSA_PSS_SHA512,
    RsaPssSha512,
    alg_id::RSA_PSS_SHA512,
    pss,
    sha2::Sha512
);

/// Ed25519 server signatures (feature `ed25519`).
#[cfg(feature = "ed25519")]
#[derive(Debug)]
struct Ed25519Verifier;

#[cfg(feature = "ed25519")]
impl SignatureVerificationAlgorithm for Ed25519Verifier {
    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ED25519
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ED25519
    }

    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        use signature::Verifier as _;
        let public_key: &[u8; 32] = public_key.try_into().map_err(|_| InvalidSignature)?;
        let signature =
            ed25519_dalek::Signature::from_slice(signature).map_err(|_| InvalidSignature)?;
        ed25519_dalek::VerifyingKey::from_bytes(public_key)
            .map_err(|_| InvalidSignature)?
            .verify(message, &signature)
            .map_err(|_| InvalidSignature)
    }
}

#[cfg(feature = "ed25519")]
const ED25519: &dyn SignatureVerificationAlgorithm = &Ed25519Verifier;
