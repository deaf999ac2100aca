//! OpenSSL's legacy encrypted PEM: a `RSA PRIVATE KEY` or `EC PRIVATE KEY` section with
//! `Proc-Type: 4,ENCRYPTED` and `DEK-Info: <cipher>,<IV in hex>` headers, what
//! `openssl genrsa -aes256 -traditional`, `openssl rsa -aes128` and OpenSSL 1.x write, and
//! what the Node and PHP SDKs accept through OpenSSL.
//!
//! The key is OpenSSL's `EVP_BytesToKey` with MD5, one round, the first 8 bytes of the IV
//! as salt; the body is CBC with PKCS#7 padding. The derivation is a few MD5 blocks, so
//! unlike PKCS#8's PBKDF2 and scrypt there is no cost to bound. Single DES (`DES-CBC`) is
//! refused: 56-bit keys protect nothing.

use alloc::vec::Vec;

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, KeyIvInit};
use md5::{Digest, Md5};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer, PrivateSec1KeyDer};
use zeroize::Zeroizing;

use super::{IdentityError, Part};

/// The ciphers OpenSSL writes in `DEK-Info`, by name.
#[derive(Clone, Copy)]
enum Cipher {
    Aes128,
    Aes192,
    Aes256,
    DesEde3,
}

impl Cipher {
    fn from_name(name: &str) -> Option<Cipher> {
        match name {
            "AES-128-CBC" => Some(Cipher::Aes128),
            "AES-192-CBC" => Some(Cipher::Aes192),
            "AES-256-CBC" => Some(Cipher::Aes256),
            "DES-EDE3-CBC" => Some(Cipher::DesEde3),
            _ => None,
        }
    }

    const fn key_len(self) -> usize {
        match self {
            Cipher::Aes128 => 16,
            Cipher::Aes192 | Cipher::DesEde3 => 24,
            Cipher::Aes256 => 32,
        }
    }

    const fn iv_len(self) -> usize {
        match self {
            Cipher::DesEde3 => 8,
            _ => 16,
        }
    }

    /// Decrypts `buf` in place; the plaintext's length, or `None` when the padding is wrong
    /// (almost always a wrong passphrase).
    fn decrypt(self, key: &[u8], iv: &[u8], buf: &mut [u8]) -> Option<usize> {
        fn run<C: BlockDecryptMut + KeyIvInit>(
            key: &[u8],
            iv: &[u8],
            buf: &mut [u8],
        ) -> Option<usize> {
            let cipher = C::new_from_slices(key, iv).ok()?;
            cipher
                .decrypt_padded_mut::<Pkcs7>(buf)
                .ok()
                .map(|plain| plain.len())
        }
        match self {
            Cipher::Aes128 => run::<cbc::Decryptor<aes::Aes128>>(key, iv, buf),
            Cipher::Aes192 => run::<cbc::Decryptor<aes::Aes192>>(key, iv, buf),
            Cipher::Aes256 => run::<cbc::Decryptor<aes::Aes256>>(key, iv, buf),
            Cipher::DesEde3 => run::<cbc::Decryptor<des::TdesEde3>>(key, iv, buf),
        }
    }
}

/// Decrypts the first legacy-encrypted key section of `pem`.
///
/// # Errors
/// [`IdentityError::PassphraseRequired`] without a passphrase,
/// [`IdentityError::WrongPassphrase`] when it does not decrypt,
/// [`IdentityError::LegacyEncryptedKey`] for a cipher other than AES-CBC or DES-EDE3-CBC,
/// [`IdentityError::Pem`] for a malformed section.
pub(super) fn decrypt(
    pem: &[u8],
    passphrase: Option<&[u8]>,
) -> Result<PrivateKeyDer<'static>, IdentityError> {
    let malformed = IdentityError::Pem {
        part: Part::PrivateKey,
    };
    let text = core::str::from_utf8(pem).map_err(|_| malformed.clone())?;
    let (label, rest) = ["RSA PRIVATE KEY", "EC PRIVATE KEY"]
        .iter()
        .find_map(|label| {
            let begin = alloc::format!("-----BEGIN {label}-----");
            text.find(&begin)
                .map(|at| (*label, &text[at + begin.len()..]))
        })
        .ok_or(IdentityError::NoPrivateKey)?;
    let end = alloc::format!("-----END {label}-----");
    let section = &rest[..rest.find(&end).ok_or(malformed.clone())?];

    // Headers (`Name: value`) up to the first blank line, then the Base64 body.
    let mut dek_info = None;
    let mut lines = section.trim_start().lines().map(str::trim);
    for line in lines.by_ref() {
        if line.is_empty() {
            break;
        }
        if let Some(value) = line.strip_prefix("DEK-Info:") {
            dek_info = Some(value.trim());
        }
    }
    let (cipher_name, iv_hex) = dek_info
        .and_then(|v| v.split_once(','))
        .ok_or(malformed.clone())?;
    let cipher = Cipher::from_name(cipher_name.trim()).ok_or(IdentityError::LegacyEncryptedKey)?;
    let iv = decode_hex(iv_hex.trim()).ok_or(malformed.clone())?;
    if iv.len() != cipher.iv_len() {
        return Err(malformed);
    }
    let body: alloc::string::String = lines.collect();
    let mut buf = Zeroizing::new(
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, body.as_bytes())
            .map_err(|_| malformed.clone())?,
    );
    // CBC: whole blocks, and the block is as long as the IV.
    if buf.is_empty() || buf.len() % cipher.iv_len() != 0 {
        return Err(malformed);
    }

    let passphrase = passphrase.ok_or(IdentityError::PassphraseRequired)?;
    let key = bytes_to_key(passphrase, &iv[..8], cipher.key_len());
    let len = cipher
        .decrypt(&key, &iv, &mut buf)
        .ok_or(IdentityError::WrongPassphrase)?;
    let der = buf[..len].to_vec();
    // A wrong passphrase passes the padding check about once in 256 tries; the DER check
    // that follows (key loading) catches it as an unparseable key.
    Ok(match label {
        "RSA PRIVATE KEY" => PrivatePkcs1KeyDer::from(der).into(),
        _ => PrivateSec1KeyDer::from(der).into(),
    })
}

/// OpenSSL's `EVP_BytesToKey(cipher, MD5, salt, passphrase, count = 1)`:
/// `D_i = MD5(D_{i-1} || passphrase || salt)`, concatenated until `len` bytes.
fn bytes_to_key(passphrase: &[u8], salt: &[u8], len: usize) -> Zeroizing<Vec<u8>> {
    let mut key = Zeroizing::new(Vec::with_capacity(len + 16));
    let mut previous: Option<Zeroizing<[u8; 16]>> = None;
    while key.len() < len {
        let mut md5 = Md5::new();
        if let Some(block) = &previous {
            md5.update(block.as_slice());
        }
        md5.update(passphrase);
        md5.update(salt);
        let block = Zeroizing::new(<[u8; 16]>::from(md5.finalize()));
        key.extend_from_slice(block.as_slice());
        previous = Some(block);
    }
    key.truncate(len);
    key
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    let digit = |b: u8| char::from(b).to_digit(16);
    hex.as_bytes()
        .chunks(2)
        .map(|pair| Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_to_key_matches_openssl() {
        // `openssl enc -aes-256-cbc -P -md md5 -pass pass:correct-horse -S 0001020304050607`
        // printed key=8E8CE185...F0DC; its iv= is the next 16 bytes of the same stream.
        let salt = [0, 1, 2, 3, 4, 5, 6, 7];
        let stream = bytes_to_key(b"correct-horse", &salt, 48);
        assert_eq!(
            decode_hex("8E8CE1855E1C0A2E42D0022D1E7DAF0D6A38F28FABE40D598B2629F6AD5EF0DC").unwrap(),
            stream[..32]
        );
        assert_eq!(
            decode_hex("0C5ECF8D28FAD4E81E1BDF4B00B59EE7").unwrap(),
            stream[32..]
        );
        assert_eq!(bytes_to_key(b"correct-horse", &salt, 24)[..], stream[..24]);
    }

    #[test]
    fn hex() {
        assert_eq!(decode_hex("00ff10"), Some(alloc::vec![0, 255, 16]));
        assert_eq!(decode_hex("0"), None);
        assert_eq!(decode_hex("zz"), None);
    }
}
