//! A small PKCS#12 (RFC 7292) reader: what `openssl pkcs12 -export` writes (OpenSSL 1.x and
//! 3.x, with or without `-legacy`; Java's keytool uses the same algorithms), reduced to the
//! one private key and its certificates. No std: `alloc` only.
//!
//! The structures are RustCrypto's `pkcs12` (on the `der` / `x509-cert` / `cms` stack the
//! rest of the crate uses) and its RFC 7292 Appendix B key derivation. Read:
//!
//! - the PFX (version 3), its MAC (HMAC with SHA-1, SHA-256, SHA-384 or SHA-512, the key
//!   derived with ID 3) checked in constant time before anything is decrypted;
//! - the AuthenticatedSafe's `data` and `encryptedData` contents, the latter encrypted with
//!   PBES2 (PBKDF2 with HMAC-SHA-1/224/256/384/512, AES-128/192/256-CBC: OpenSSL 3's
//!   default) or the PKCS#12 PBEs `pbeWithSHAAnd3-KeyTripleDES-CBC` and
//!   `pbeWithSHAAnd40BitRC2-CBC` (OpenSSL's `-legacy`, old keytool);
//! - `pkcs8ShroudedKeyBag` (the same ciphers), `keyBag` and `certBag` (X.509) safe bags;
//!   CRL, secret and nested bags are skipped.
//!
//! Every count and size is bounded (below), since all of it comes from the file before the
//! password is checked. Decrypted bytes, derived keys and IVs and the password's BMPString
//! are zeroized on drop. DER only: a BER archive with indefinite lengths (some Windows and
//! old Java exports) is refused as malformed; `openssl pkcs12 -in old.p12 -nodes | openssl
//! pkcs12 -export` rewrites it.

use alloc::vec::Vec;

use cbc::cipher::{block_padding::Pkcs7, BlockDecryptMut, KeyIvInit};
use der::asn1::{ContextSpecific, ObjectIdentifier, OctetString};
use der::{Decode, Encode, TagNumber};
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use pkcs12::kdf::{derive_key, Pkcs12KeyType};
use pkcs12::safe_bag::SafeBag;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::Digest;
use spki::AlgorithmIdentifierOwned;
use zeroize::{Zeroize, Zeroizing};

use super::{IdentityError, KeyMatch};

/// Largest archive read: an identity with a long chain is a few tens of KB.
const MAX_ARCHIVE_LEN: usize = 1024 * 1024;
/// Most ContentInfos in the AuthenticatedSafe (OpenSSL writes 2).
const MAX_CONTENT_INFOS: usize = 16;
/// Most safe bags, all contents together (a key and its chain: a handful).
const MAX_BAGS: usize = 256;
/// Most iterations of one key derivation (the MAC's, PBKDF2's or the PKCS#12 PBEs'):
/// OpenSSL writes 2,048, keytool 10,000 to 100,000. The same bound as encrypted PEM keys.
#[cfg(not(fuzzing))]
const MAX_ITERATIONS: u32 = super::MAX_PBKDF2_ITERATIONS;
/// Under the fuzzer (`cargo fuzz` builds with `--cfg fuzzing`): 10,000,000 iterations per
/// derivation, 20,000,000 per archive, take seconds per input under ASan and trip
/// libFuzzer's timeout (`fuzz/ci.sh`) with a valid but costly count, which is the bound
/// working, not a bug; 4,096 still reads what the seeds hold (`-iter 1`, `-noiter`) and
/// keeps every refusal path (count 0, over the bound, over the budget) reachable.
#[cfg(fuzzing)]
const MAX_ITERATIONS: u32 = 4_096;
/// Most iterations of all derivations of one archive together (a crafted file could ask for
/// `MAX_ITERATIONS` in each of many encrypted contents).
const MAX_TOTAL_ITERATIONS: u64 = 2 * MAX_ITERATIONS as u64;

const OID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const OID_ENCRYPTED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.6");
const OID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const OID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const OID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const OID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const OID_PBES2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.13");
const OID_LOCAL_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.21");
const OID_PBE_SHA1_3DES: ObjectIdentifier = pkcs12::PKCS_12_PBE_WITH_SHAAND3_KEY_TRIPLE_DES_CBC;
const OID_PBE_SHA1_RC2_40: ObjectIdentifier = pkcs12::PKCS_12_PBEWITH_SHAAND40_BIT_RC2_CBC;

/// What an archive holds: its certificates (leaf first) and its one private key (PKCS#8).
pub(crate) struct Contents {
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) key: PrivateKeyDer<'static>,
}

/// Reads `archive` with `password`.
///
/// # Errors
///
/// [`IdentityError::WrongPassphrase`] when the MAC does not verify (or, in an archive without
/// MAC, the password does not decrypt), [`IdentityError::Pkcs12SeveralKeys`] for more than one
/// key, [`IdentityError::Pkcs12`] for everything else: malformed, unsupported algorithms,
/// costs over the bounds, no key or no certificate.
pub(crate) fn read(archive: &[u8], password: &str) -> Result<Contents, IdentityError> {
    if archive.len() > MAX_ARCHIVE_LEN {
        return Err(IdentityError::Pkcs12);
    }
    let pfx = pkcs12::pfx::Pfx::from_der(archive).map_err(|_| IdentityError::Pkcs12)?;
    // Password integrity mode only: the public-key mode (signedData) needs a trust decision
    // this reader cannot make, and nothing common writes it.
    if pfx.auth_safe.content_type != OID_DATA {
        return Err(IdentityError::Pkcs12);
    }
    let auth_safe = pfx
        .auth_safe
        .content
        .decode_as::<OctetString>()
        .map_err(|_| IdentityError::Pkcs12)?;
    let mut budget = Budget(MAX_TOTAL_ITERATIONS);
    let mut secret = Secret {
        bmp: bmp_password(password),
        utf8: password.as_bytes(),
        verified: false,
    };
    // No MAC (`openssl pkcs12 -export -nomac`): nothing vouches for the contents, so the
    // archive is accepted only if everything decodes and decrypts, and the key then still
    // has to match the leaf certificate (`Identity::from_der`). A wrong password shows as
    // bad padding or undecodable plaintext: WrongPassphrase.
    if let Some(mac_data) = &pfx.mac_data {
        if !verify_mac(mac_data, auth_safe.as_bytes(), &secret.bmp, &mut budget)? {
            // An empty password: some writers derive the MAC key from no bytes at all
            // rather than from the BMPString's two-byte terminator; OpenSSL's reader
            // tries both too (`PKCS12_verify_mac(p12, NULL, 0)`).
            if !password.is_empty()
                || !verify_mac(mac_data, auth_safe.as_bytes(), &[], &mut budget)?
            {
                return Err(IdentityError::WrongPassphrase);
            }
            secret.bmp = Zeroizing::new(Vec::new());
        }
        secret.verified = true;
    }

    let contents = Vec::<cms::content_info::ContentInfo>::from_der(auth_safe.as_bytes())
        .map_err(|_| IdentityError::Pkcs12)?;
    if contents.len() > MAX_CONTENT_INFOS {
        return Err(IdentityError::Pkcs12);
    }
    let mut found = Found::default();
    for info in &contents {
        let bags = if info.content_type == OID_DATA {
            let data = info
                .content
                .decode_as::<OctetString>()
                .map_err(|_| IdentityError::Pkcs12)?;
            decode_bags(data.as_bytes(), true)?
        } else if info.content_type == OID_ENCRYPTED_DATA {
            let data = info
                .content
                .decode_as::<cms::encrypted_data::EncryptedData>()
                .map_err(|_| IdentityError::Pkcs12)?;
            let enc = &data.enc_content_info;
            if enc.content_type != OID_DATA {
                return Err(IdentityError::Pkcs12);
            }
            let ciphertext = enc
                .encrypted_content
                .as_ref()
                .ok_or(IdentityError::Pkcs12)?;
            let plain = decrypt(
                &enc.content_enc_alg,
                ciphertext.as_bytes(),
                &secret,
                &mut budget,
            )?;
            decode_bags(&plain, secret.verified)?
        } else {
            // envelopedData and the like: nothing common writes them.
            return Err(IdentityError::Pkcs12);
        };
        found.take(bags, &secret, &mut budget)?;
    }
    found.finish()
}

/// The password in its two encodings: the PKCS#12 PBEs and the MAC derive from the
/// BMPString, PBES2 from UTF-8 (RFC 7292 Appendix B.1, and what OpenSSL does).
struct Secret<'a> {
    bmp: Zeroizing<Vec<u8>>,
    utf8: &'a [u8],
    /// The MAC verified with this password: failures after it are malformed data, not a
    /// wrong password.
    verified: bool,
}

impl Secret<'_> {
    /// The error for plaintext that does not decode: without a verified MAC the likeliest
    /// cause is a wrong password that happened to leave valid padding.
    fn undecodable(&self) -> IdentityError {
        if self.verified {
            IdentityError::Pkcs12
        } else {
            IdentityError::WrongPassphrase
        }
    }
}

/// The password as a big-endian BMPString (UTF-16) with the two-byte terminator, as
/// RFC 7292 Appendix B.1 says.
fn bmp_password(password: &str) -> Zeroizing<Vec<u8>> {
    // At most one UTF-16 unit per UTF-8 byte: no reallocation leaves a copy behind.
    let mut bmp = Zeroizing::new(Vec::with_capacity(2 * password.len() + 2));
    for unit in password.encode_utf16() {
        bmp.extend_from_slice(&unit.to_be_bytes());
    }
    bmp.extend_from_slice(&[0, 0]);
    bmp
}

/// Iterations left for the whole archive.
struct Budget(u64);

impl Budget {
    /// Checks one derivation's count (1 to [`MAX_ITERATIONS`]) and takes it (`times` over)
    /// from the budget.
    fn spend(&mut self, iterations: i64, times: u64) -> Result<u32, IdentityError> {
        let count = u32::try_from(iterations)
            .ok()
            .filter(|n| (1..=MAX_ITERATIONS).contains(n))
            .ok_or(IdentityError::Pkcs12)?;
        let cost = u64::from(count).saturating_mul(times);
        self.0 = self.0.checked_sub(cost).ok_or(IdentityError::Pkcs12)?;
        Ok(count)
    }
}

/// Checks the MacData over `data` with the BMPString password `bmp`: `Ok(false)` when it
/// does not match, an error when it cannot be checked (PBMAC1, unknown digest, bad sizes).
fn verify_mac(
    mac_data: &pkcs12::mac_data::MacData,
    data: &[u8],
    bmp: &[u8],
    budget: &mut Budget,
) -> Result<bool, IdentityError> {
    let iterations = budget.spend(i64::from(mac_data.iterations), 1)?;
    let salt = mac_data.mac_salt.as_bytes();
    let expected = mac_data.mac.digest.as_bytes();
    let oid = mac_data.mac.algorithm.oid;
    // A digest's parameters are NULL or absent (RFC 5754); anything else is not a digest
    // this reader knows.
    if mac_data
        .mac
        .algorithm
        .parameters
        .as_ref()
        .is_some_and(|p| !p.is_null())
    {
        return Err(IdentityError::Pkcs12);
    }
    let rounds = i32::try_from(iterations).map_err(|_| IdentityError::Pkcs12)?;
    macro_rules! check {
        ($digest:ty) => {{
            let len = <$digest as Digest>::output_size();
            if expected.len() != len {
                return Err(IdentityError::Pkcs12);
            }
            let key = Zeroizing::new(derive_key::<$digest>(
                bmp,
                salt,
                Pkcs12KeyType::Mac,
                rounds,
                len,
            ));
            let mut mac = <Hmac<$digest> as KeyInit>::new_from_slice(&key)
                .map_err(|_| IdentityError::Pkcs12)?;
            mac.update(data);
            Ok(mac.verify_slice(expected).is_ok())
        }};
    }
    // PBMAC1 (RFC 9579) and any other algorithm: not read.
    if oid == OID_SHA1 {
        check!(sha1::Sha1)
    } else if oid == OID_SHA256 {
        check!(sha2::Sha256)
    } else if oid == OID_SHA384 {
        check!(sha2::Sha384)
    } else if oid == OID_SHA512 {
        check!(sha2::Sha512)
    } else {
        Err(IdentityError::Pkcs12)
    }
}

/// Decrypts `ciphertext` (an encryptedData's content or a shrouded key) as `alg` says.
fn decrypt(
    alg: &AlgorithmIdentifierOwned,
    ciphertext: &[u8],
    secret: &Secret<'_>,
    budget: &mut Budget,
) -> Result<Zeroizing<Vec<u8>>, IdentityError> {
    if ciphertext.len() > MAX_ARCHIVE_LEN {
        return Err(IdentityError::Pkcs12);
    }
    let mut buf = Zeroizing::new(ciphertext.to_vec());
    let len = if alg.oid == OID_PBES2 {
        pbes2_decrypt(alg, &mut buf, secret.utf8, budget)?
    } else if alg.oid == OID_PBE_SHA1_3DES || alg.oid == OID_PBE_SHA1_RC2_40 {
        let params = alg
            .parameters
            .as_ref()
            .ok_or(IdentityError::Pkcs12)?
            .decode_as::<pkcs12::pbe_params::Pkcs12PbeParams>()
            .map_err(|_| IdentityError::Pkcs12)?;
        // Two derivations: the key (ID 1) and the IV (ID 2).
        let rounds = budget.spend(i64::from(params.iterations), 2)?;
        let rounds = i32::try_from(rounds).map_err(|_| IdentityError::Pkcs12)?;
        let salt = params.salt.as_bytes();
        let key_len = if alg.oid == OID_PBE_SHA1_3DES { 24 } else { 5 };
        let derive =
            |id, len| Zeroizing::new(derive_key::<sha1::Sha1>(&secret.bmp, salt, id, rounds, len));
        let key = derive(Pkcs12KeyType::EncryptionKey, key_len);
        let iv = derive(Pkcs12KeyType::Iv, 8);
        if alg.oid == OID_PBE_SHA1_3DES {
            cbc_decrypt::<cbc::Decryptor<des::TdesEde3>>(&key, &iv, &mut buf)?
        } else {
            // RC2 with a 5-byte key: 40 effective bits (`new_from_slice` takes the key's).
            cbc_decrypt::<cbc::Decryptor<rc2::Rc2>>(&key, &iv, &mut buf)?
        }
    } else {
        // RC4, RC2-128, two-key 3DES, PBES1 (MD5/SHA-1 with DES): nothing current writes them.
        return Err(IdentityError::Pkcs12);
    };
    buf.truncate(len);
    Ok(buf)
}

/// PBES2 (RFC 8018): PBKDF2 with an HMAC, then AES-CBC. Done here rather than by `pkcs5`
/// (which parses the parameters) so the derived key is zeroized.
fn pbes2_decrypt(
    alg: &AlgorithmIdentifierOwned,
    buf: &mut [u8],
    password: &[u8],
    budget: &mut Budget,
) -> Result<usize, IdentityError> {
    use pkcs8::pkcs5::pbes2::{EncryptionScheme, Kdf, Parameters, Pbkdf2Prf};
    let encoded = alg
        .parameters
        .as_ref()
        .ok_or(IdentityError::Pkcs12)?
        .to_der()
        .map_err(|_| IdentityError::Pkcs12)?;
    let params = Parameters::from_der(&encoded).map_err(|_| IdentityError::Pkcs12)?;
    let Kdf::Pbkdf2(kdf) = &params.kdf else {
        // scrypt: OpenSSL's pkcs12 does not write it.
        return Err(IdentityError::Pkcs12);
    };
    let rounds = budget.spend(i64::from(kdf.iteration_count), 1)?;
    let (key_len, iv) = match params.encryption {
        EncryptionScheme::Aes128Cbc { iv } => (16, iv),
        EncryptionScheme::Aes192Cbc { iv } => (24, iv),
        EncryptionScheme::Aes256Cbc { iv } => (32, iv),
        _ => return Err(IdentityError::Pkcs12),
    };
    if kdf.key_length.is_some_and(|l| usize::from(l) != key_len) {
        return Err(IdentityError::Pkcs12);
    }
    let mut key = Zeroizing::new([0u8; 32]);
    let key = &mut key[..key_len];
    match kdf.prf {
        Pbkdf2Prf::HmacWithSha1 => {
            pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password, kdf.salt, rounds, key)
        }
        Pbkdf2Prf::HmacWithSha224 => {
            pbkdf2::pbkdf2_hmac::<sha2::Sha224>(password, kdf.salt, rounds, key)
        }
        Pbkdf2Prf::HmacWithSha256 => {
            pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, kdf.salt, rounds, key)
        }
        Pbkdf2Prf::HmacWithSha384 => {
            pbkdf2::pbkdf2_hmac::<sha2::Sha384>(password, kdf.salt, rounds, key)
        }
        Pbkdf2Prf::HmacWithSha512 => {
            pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password, kdf.salt, rounds, key)
        }
        _ => return Err(IdentityError::Pkcs12),
    }
    match key_len {
        16 => cbc_decrypt::<cbc::Decryptor<aes::Aes128>>(key, iv, buf),
        24 => cbc_decrypt::<cbc::Decryptor<aes::Aes192>>(key, iv, buf),
        _ => cbc_decrypt::<cbc::Decryptor<aes::Aes256>>(key, iv, buf),
    }
}

/// CBC with PKCS#7 padding, in place: the plaintext's length. Bad padding is almost always
/// a wrong password (the MAC, when there is one, has vouched for the bytes).
fn cbc_decrypt<C: BlockDecryptMut + KeyIvInit>(
    key: &[u8],
    iv: &[u8],
    buf: &mut [u8],
) -> Result<usize, IdentityError> {
    let cipher = C::new_from_slices(key, iv).map_err(|_| IdentityError::Pkcs12)?;
    cipher
        .decrypt_padded_mut::<Pkcs7>(buf)
        .map(|plain| plain.len())
        .map_err(|_| IdentityError::WrongPassphrase)
}

/// Decoded safe bags; their values (which hold a `keyBag`'s plain key) are wiped on drop.
struct Bags(Vec<SafeBag>);

impl Drop for Bags {
    fn drop(&mut self) {
        for bag in &mut self.0 {
            bag.bag_value.zeroize();
        }
    }
}

/// Decodes a SafeContents. `trusted`: the bytes are the archive's own (or vouched for by the
/// MAC), so a failure is malformed data; otherwise it points at a wrong password.
fn decode_bags(der: &[u8], trusted: bool) -> Result<Bags, IdentityError> {
    let undecodable = if trusted {
        IdentityError::Pkcs12
    } else {
        IdentityError::WrongPassphrase
    };
    pkcs12::safe_bag::SafeContents::from_der(der)
        .map(Bags)
        .map_err(|_| undecodable)
}

/// A bag's DER value (a PKCS#8 key, wiped on drop, or a certificate) and its `localKeyId`.
type WithKeyId<T> = (T, Option<Vec<u8>>);

/// The keys and certificates found so far, in archive order.
#[derive(Default)]
struct Found {
    keys: Vec<WithKeyId<Zeroizing<Vec<u8>>>>,
    certs: Vec<WithKeyId<Vec<u8>>>,
    bags: usize,
}

impl Found {
    fn take(
        &mut self,
        bags: Bags,
        secret: &Secret<'_>,
        budget: &mut Budget,
    ) -> Result<(), IdentityError> {
        self.bags = self.bags.saturating_add(bags.0.len());
        if self.bags > MAX_BAGS {
            return Err(IdentityError::Pkcs12);
        }
        for bag in &bags.0 {
            let key_id = local_key_id(bag);
            if bag.bag_id == pkcs12::PKCS_12_PKCS8_KEY_BAG_OID {
                let shrouded = explicit0::<pkcs12::pbe_params::EncryptedPrivateKeyInfo>(bag)?;
                let key = decrypt(
                    &shrouded.encryption_algorithm,
                    shrouded.encrypted_data.as_bytes(),
                    secret,
                    budget,
                )?;
                // Valid padding from a wrong password (1 in 256 without a MAC): not a key.
                if pkcs8::PrivateKeyInfo::from_der(&key).is_err() {
                    return Err(secret.undecodable());
                }
                self.keys.push((key, key_id));
            } else if bag.bag_id == pkcs12::PKCS_12_KEY_BAG_OID {
                let key = explicit0::<der::AnyRef<'_>>(bag)?;
                let key = Zeroizing::new(key.to_der().map_err(|_| IdentityError::Pkcs12)?);
                self.keys.push((key, key_id));
            } else if bag.bag_id == pkcs12::PKCS_12_CERT_BAG_OID {
                let cert = explicit0::<pkcs12::cert_type::CertBag>(bag)?;
                // sdsiCertificate: not X.509, nothing to present in TLS.
                if cert.cert_id == pkcs12::PKCS_12_X509_CERT_OID {
                    self.certs
                        .push((cert.cert_value.as_bytes().to_vec(), key_id));
                }
            }
            // CRL, secret and nested safeContents bags: not part of an identity.
        }
        Ok(())
    }

    /// The one key and the chain, leaf first: the certificate with the key's `localKeyId`
    /// when exactly one has it, else the first whose public key is the key's, else the
    /// first (and `Identity::from_der` then reports the mismatch).
    fn finish(mut self) -> Result<Contents, IdentityError> {
        let (key, key_id) = match self.keys.len() {
            0 => return Err(IdentityError::Pkcs12),
            1 => self.keys.remove(0),
            count => return Err(IdentityError::Pkcs12SeveralKeys { count }),
        };
        if self.certs.is_empty() {
            return Err(IdentityError::Pkcs12);
        }
        let key = PrivateKeyDer::from(PrivatePkcs8KeyDer::from(key.to_vec()));
        let by_id = key_id.as_ref().and_then(|id| {
            let mut with_id = self
                .certs
                .iter()
                .enumerate()
                .filter(|(_, (_, cert_id))| cert_id.as_ref() == Some(id));
            match (with_id.next(), with_id.next()) {
                (Some((index, _)), None) => Some(index),
                _ => None,
            }
        });
        let leaf = by_id
            .or_else(|| {
                (self.certs.len() > 1)
                    .then(|| {
                        self.certs
                            .iter()
                            .position(|(cert, _)| spki_matches(&key, cert))
                    })
                    .flatten()
            })
            .unwrap_or(0);
        let leaf = self.certs.remove(leaf);
        let chain = core::iter::once(leaf)
            .chain(self.certs)
            .map(|(der, _)| CertificateDer::from(der))
            .collect();
        Ok(Contents { chain, key })
    }
}

/// Whether `cert`'s public key is `key`'s (false when either does not parse).
fn spki_matches(key: &PrivateKeyDer<'_>, cert: &[u8]) -> bool {
    let Ok(cert) = super::x509::CertificateView::parse(cert) else {
        return false;
    };
    matches!(
        super::public_key_matches(key, cert.spki),
        Ok((KeyMatch::Match, _))
    )
}

/// A bag's value, inside its `[0] EXPLICIT` tag.
fn explicit0<'a, T: Decode<'a>>(bag: &'a SafeBag) -> Result<T, IdentityError> {
    let value =
        ContextSpecific::<T>::from_der(&bag.bag_value).map_err(|_| IdentityError::Pkcs12)?;
    if value.tag_number != TagNumber::N0 {
        return Err(IdentityError::Pkcs12);
    }
    Ok(value.value)
}

/// A bag's `localKeyId` attribute (PKCS#9), which ties a key to its certificate.
fn local_key_id(bag: &SafeBag) -> Option<Vec<u8>> {
    let attrs = bag.bag_attributes.as_ref()?;
    let attr = attrs.iter().find(|a| a.oid == OID_LOCAL_KEY_ID)?;
    let value = attr.values.iter().next()?;
    value
        .decode_as::<OctetString>()
        .ok()
        .map(|id| id.as_bytes().to_vec())
}
