//! A deterministic rustls crypto provider, for fuzzing only (as rustls' own fuzzers do).
//!
//! `rustls-rustcrypto`'s provider draws the client's randoms, its ephemeral key-exchange
//! secrets and its ECDSA nonces from the OS, so a recorded server flight never completes a
//! replayed handshake. This one is `rustls_rustcrypto::provider()` with three parts swapped:
//!
//! - `secure_random`: a SplitMix64 stream (not a CSPRNG);
//! - `kx_groups`: X25519, P-256 and P-384 (the same groups in the same order) whose
//!   ephemeral secrets come from that stream;
//! - `key_provider`: P-256 keys sign with RFC 6979 deterministic nonces (other key types go
//!   to `rustls-rustcrypto`, randomized: the fixtures are P-256).
//!
//! - `signature_verification_algorithms`: `rustls-rustcrypto`'s, memoized.
//!
//! Memoized: every public-key operation (signature checks, signing, key generation, Diffie-
//! Hellman) is a pure function of its inputs, and a replayed seed repeats the same ones in
//! every execution, so a small per-thread table of recent answers makes a full handshake
//! several times cheaper without changing any answer (a mutated input misses the table and
//! is computed).
//!
//! The stream's state is per thread and starts again at [`reset`], which the harness calls
//! at the start of every input: the same input then sends the same bytes (same ClientHello,
//! same key shares, same CertificateVerify), so the server bytes recorded against one run
//! (`tests/fuzz_seeds.rs`) decrypt and verify in every replay. Per thread, because
//! `cargo test` replays inputs on several threads at once; a sans-IO connection draws its
//! randomness on the thread that drives it.
//!
//! Never use this outside the fuzz harness: everything it calls random is predictable.

use std::boxed::Box;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::vec::Vec;

use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::DecodePrivateKey as _;
use rustls::crypto::{
    ActiveKeyExchange, CryptoProvider, GetRandomFailed, KeyProvider, SecureRandom, SharedSecret,
    SupportedKxGroup, WebPkiSupportedAlgorithms,
};
use rustls::pki_types::{
    AlgorithmIdentifier, InvalidSignature, PrivateKeyDer, SignatureVerificationAlgorithm,
};
use rustls::sign::{Signer, SigningKey};
use rustls::{Error, NamedGroup, PeerMisbehaved, SignatureAlgorithm, SignatureScheme};

/// Where every stream starts.
const SEED: u64 = 0x6d74_6c73_2d66_757a; // "mtls-fuz"

thread_local! {
    static STATE: Cell<u64> = const { Cell::new(SEED) };
}

/// Starts this thread's stream again from the fixed seed.
pub fn reset() {
    STATE.with(|s| s.set(SEED));
}

/// The next 64 bits of this thread's stream (SplitMix64).
fn next_u64() -> u64 {
    STATE.with(|s| {
        let x = s.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        s.set(x);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    })
}

fn fill(bytes: &mut [u8]) {
    for chunk in bytes.chunks_mut(8) {
        let word = next_u64().to_le_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
}

fn array32() -> [u8; 32] {
    let mut b = [0u8; 32];
    fill(&mut b);
    b
}

/// Answers kept per thread; the table starts again when full.
const MEMO_ENTRIES: usize = 512;

thread_local! {
    static MEMO: RefCell<HashMap<Vec<u8>, Vec<u8>>> = RefCell::new(HashMap::new());
}

/// `compute()`'s answer for these inputs, from the table when it was computed before.
/// `parts` must name the operation and hold every input.
fn memo(parts: &[&[u8]], compute: impl FnOnce() -> Vec<u8>) -> Vec<u8> {
    let mut key = Vec::new();
    for part in parts {
        key.extend_from_slice(&(part.len() as u64).to_le_bytes());
        key.extend_from_slice(part);
    }
    if let Some(hit) = MEMO.with(|m| m.borrow().get(&key).cloned()) {
        return hit;
    }
    let value = compute();
    MEMO.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= MEMO_ENTRIES {
            m.clear();
        }
        m.insert(key, value.clone());
    });
    value
}

/// The provider: `rustls_rustcrypto::provider()` with deterministic randomness, key
/// exchange and signing, and memoized public-key operations. Built once per process (its
/// parts are stateless; the stream and the table live in the thread).
pub fn shared_provider() -> Arc<CryptoProvider> {
    static PROVIDER: std::sync::OnceLock<Arc<CryptoProvider>> = std::sync::OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            let base = rustls_rustcrypto::provider();
            Arc::new(CryptoProvider {
                kx_groups: vec![&X25519, &P256, &P384],
                secure_random: &Random,
                key_provider: &Keys,
                signature_verification_algorithms: memoized(base.signature_verification_algorithms),
                ..base
            })
        })
        .clone()
}

/// The same algorithms, each behind [`Memoized`]. Leaks a few hundred bytes, once per
/// process (rustls wants `'static` tables).
fn memoized(base: WebPkiSupportedAlgorithms) -> WebPkiSupportedAlgorithms {
    type Alg = &'static dyn SignatureVerificationAlgorithm;
    let wrap = |a: &Alg| -> Alg { Box::leak(Box::new(Memoized(*a))) };
    let all: Vec<Alg> = base.all.iter().map(wrap).collect();
    let mapping: Vec<(SignatureScheme, &'static [Alg])> = base
        .mapping
        .iter()
        .map(|(scheme, algs)| {
            let algs: &'static [Alg] = Box::leak(algs.iter().map(wrap).collect());
            (*scheme, algs)
        })
        .collect();
    WebPkiSupportedAlgorithms {
        all: Box::leak(all.into_boxed_slice()),
        mapping: Box::leak(mapping.into_boxed_slice()),
    }
}

#[derive(Debug)]
struct Memoized(&'static dyn SignatureVerificationAlgorithm);

impl SignatureVerificationAlgorithm for Memoized {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        let ok = memo(
            &[
                b"verify",
                &self.0.public_key_alg_id(),
                &self.0.signature_alg_id(),
                public_key,
                message,
                signature,
            ],
            || {
                vec![u8::from(
                    self.0
                        .verify_signature(public_key, message, signature)
                        .is_ok(),
                )]
            },
        );
        if ok == [1] {
            Ok(())
        } else {
            Err(InvalidSignature)
        }
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        self.0.public_key_alg_id()
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        self.0.signature_alg_id()
    }

    fn fips(&self) -> bool {
        self.0.fips()
    }
}

#[derive(Debug)]
struct Random;

impl SecureRandom for Random {
    fn fill(&self, bytes: &mut [u8]) -> Result<(), GetRandomFailed> {
        fill(bytes);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Key exchange
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
struct X25519;

struct X25519Exchange {
    secret: [u8; 32],
    public: [u8; 32],
}

impl SupportedKxGroup for X25519 {
    fn name(&self) -> NamedGroup {
        NamedGroup::X25519
    }

    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, Error> {
        let secret = array32();
        let public = memo(&[b"x25519 public", &secret], || {
            x25519_dalek::x25519(secret, x25519_dalek::X25519_BASEPOINT_BYTES).to_vec()
        });
        let public = public.try_into().expect("32 bytes");
        Ok(Box::new(X25519Exchange { secret, public }))
    }
}

impl ActiveKeyExchange for X25519Exchange {
    fn complete(self: Box<Self>, peer: &[u8]) -> Result<SharedSecret, Error> {
        let peer: [u8; 32] = peer
            .try_into()
            .map_err(|_| Error::from(PeerMisbehaved::InvalidKeyShare))?;
        let shared = memo(&[b"x25519", &self.secret, &peer], || {
            x25519_dalek::x25519(self.secret, peer).to_vec()
        });
        Ok(SharedSecret::from(&shared[..]))
    }

    fn pub_key(&self) -> &[u8] {
        &self.public
    }

    fn group(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

/// ECDH on a NIST curve, as `rustls-rustcrypto` does it, with the secret from the stream.
macro_rules! nist_group {
    ($group:ident, $exchange:ident, $curve:ident, $named:expr) => {
        #[derive(Debug)]
        struct $group;

        struct $exchange {
            secret: $curve::SecretKey,
            public: Box<[u8]>,
        }

        impl SupportedKxGroup for $group {
            fn name(&self) -> NamedGroup {
                $named
            }

            fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, Error> {
                // A draw outside 1..n (probability about 2^-128) is drawn again.
                let mut bytes = $curve::FieldBytes::default();
                let secret = loop {
                    fill(&mut bytes);
                    if let Ok(secret) = $curve::SecretKey::from_bytes(&bytes) {
                        break secret;
                    }
                };
                let public = memo(&[stringify!($group).as_bytes(), &bytes], || {
                    secret.public_key().to_sec1_bytes().into_vec()
                })
                .into_boxed_slice();
                Ok(Box::new($exchange { secret, public }))
            }
        }

        impl ActiveKeyExchange for $exchange {
            fn complete(self: Box<Self>, peer: &[u8]) -> Result<SharedSecret, Error> {
                let secret = self.secret.to_bytes();
                let shared = memo(&[stringify!($exchange).as_bytes(), &secret, peer], || {
                    match $curve::PublicKey::from_sec1_bytes(peer) {
                        Ok(peer) => $curve::ecdh::diffie_hellman(
                            self.secret.to_nonzero_scalar(),
                            peer.as_affine(),
                        )
                        .raw_secret_bytes()
                        .to_vec(),
                        Err(_) => Vec::new(),
                    }
                });
                if shared.is_empty() {
                    return Err(PeerMisbehaved::InvalidKeyShare.into());
                }
                Ok(SharedSecret::from(&shared[..]))
            }

            fn pub_key(&self) -> &[u8] {
                &self.public
            }

            fn group(&self) -> NamedGroup {
                $named
            }
        }
    };
}

nist_group!(P256, P256Exchange, p256, NamedGroup::secp256r1);
nist_group!(P384, P384Exchange, p384, NamedGroup::secp384r1);

// ---------------------------------------------------------------------------------------
// Signing
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
struct Keys;

impl KeyProvider for Keys {
    fn load_private_key(
        &self,
        key_der: PrivateKeyDer<'static>,
    ) -> Result<Arc<dyn SigningKey>, Error> {
        let p256_key = match &key_der {
            PrivateKeyDer::Pkcs8(der) => {
                p256::ecdsa::SigningKey::from_pkcs8_der(der.secret_pkcs8_der()).ok()
            }
            PrivateKeyDer::Sec1(der) => p256::SecretKey::from_sec1_der(der.secret_sec1_der())
                .ok()
                .map(p256::ecdsa::SigningKey::from),
            _ => None,
        };
        match p256_key {
            Some(key) => Ok(Arc::new(P256Key(Arc::new(key)))),
            None => rustls_rustcrypto::provider()
                .key_provider
                .load_private_key(key_der),
        }
    }
}

/// A P-256 key that signs with RFC 6979 nonces (no randomness at all).
#[derive(Clone)]
struct P256Key(Arc<p256::ecdsa::SigningKey>);

impl fmt::Debug for P256Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("P256Key")
    }
}

impl SigningKey for P256Key {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        offered
            .contains(&SignatureScheme::ECDSA_NISTP256_SHA256)
            .then(|| Box::new(self.clone()) as Box<dyn Signer>)
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::ECDSA
    }
}

impl Signer for P256Key {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        let key = self.0.to_bytes();
        let signature = memo(&[b"p256 sign", &key, message], || {
            match self.0.try_sign(message) {
                Ok(sig) => {
                    let sig: p256::ecdsa::DerSignature = sig;
                    sig.as_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            }
        });
        if signature.is_empty() {
            return Err(Error::General("signing failed".into()));
        }
        Ok(signature)
    }

    fn scheme(&self) -> SignatureScheme {
        SignatureScheme::ECDSA_NISTP256_SHA256
    }
}
