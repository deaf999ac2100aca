//! Why an identity could not be loaded. No variant carries key material or a passphrase.

use core::fmt;

/// Which input an [`IdentityError`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The client certificate chain.
    Certificate,
    /// The private key.
    PrivateKey,
    /// The custom CA bundle.
    CaCertificate,
    /// A PKCS#12 (.p12/.pfx) archive.
    Pkcs12,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Part::Certificate => "client certificate",
            Part::PrivateKey => "private key",
            Part::CaCertificate => "CA certificate",
            Part::Pkcs12 => "PKCS#12 archive",
        })
    }
}

/// An identity could not be loaded or is not usable now.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdentityError {
    /// The certificate input holds no `CERTIFICATE` PEM section.
    NoCertificate,
    /// The key input holds no private key section (`RSA PRIVATE KEY`, `PRIVATE KEY`,
    /// `EC PRIVATE KEY` or `ENCRYPTED PRIVATE KEY`).
    NoPrivateKey,
    /// A PEM section is malformed (bad markers or Base64 inside).
    Pem {
        /// Which input.
        part: Part,
    },
    /// A Base64-wrapped value is not valid Base64.
    Base64 {
        /// Which input.
        part: Part,
    },
    /// An input is empty.
    Empty {
        /// Which input.
        part: Part,
    },
    /// A certificate in the chain is not valid DER X.509.
    CertificateUnparseable {
        /// Position in the chain, leaf = 0.
        index: usize,
    },
    /// The private key is not valid DER for its label.
    KeyUnparseable,
    /// The private key does not belong to the certificate: their public keys differ.
    KeyDoesNotMatchCertificate,
    /// The key is encrypted and no passphrase was given.
    PassphraseRequired,
    /// The passphrase does not decrypt the key (or the PKCS#12 password is wrong).
    WrongPassphrase,
    /// OpenSSL's legacy encrypted PEM (`Proc-Type: 4,ENCRYPTED`) with a cipher other than
    /// AES-128/192/256-CBC or DES-EDE3-CBC (single DES, for one, protects nothing).
    LegacyEncryptedKey,
    /// The encrypted key asks for more key-derivation work than allowed: more than
    /// 10,000,000 PBKDF2 iterations (OpenSSL writes 2,048), or scrypt parameters needing more
    /// than 256 MiB (`128 * r * N * p` bytes; OpenSSL's default needs 16 MiB). The parameters
    /// come from the file, before the passphrase is checked.
    KeyDerivationTooCostly,
    /// The certificate is past its `notAfter` date.
    Expired {
        /// `notAfter`, seconds since the Unix epoch.
        not_after: u64,
    },
    /// The certificate's `notBefore` date is still in the future.
    NotYetValid {
        /// `notBefore`, seconds since the Unix epoch.
        not_before: u64,
    },
    /// A PKCS#12 archive could not be read or holds no key with a certificate.
    Pkcs12,
    /// A PKCS#12 archive holds more than one private key (a keystore with several
    /// entries): which one is the client's cannot be told.
    Pkcs12SeveralKeys {
        /// How many keys it holds.
        count: usize,
    },
    /// A file could not be read (std only).
    Io {
        /// Which input.
        part: Part,
        /// What the OS said, without the file's contents.
        kind: IoKind,
    },
}

/// The OS error class of [`IdentityError::Io`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoKind {
    /// The file does not exist.
    NotFound,
    /// The process may not read it.
    PermissionDenied,
    /// Any other error.
    Other,
}

/// Formats seconds since the Unix epoch as an RFC 3339 UTC date.
pub(crate) struct Date(pub u64);

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match der::DateTime::from_unix_duration(core::time::Duration::from_secs(self.0)) {
            Ok(dt) => write!(f, "{dt}"),
            Err(_) => write!(f, "{} seconds after 1970-01-01", self.0),
        }
    }
}

impl fmt::Display for IdentityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentityError::NoCertificate => {
                f.write_str("no CERTIFICATE section found in the client certificate input")
            }
            IdentityError::NoPrivateKey => f.write_str(
                "no private key found (expected RSA PRIVATE KEY, PRIVATE KEY, EC PRIVATE KEY or ENCRYPTED PRIVATE KEY)",
            ),
            IdentityError::Pem { part } => write!(f, "the {part} is not well-formed PEM"),
            IdentityError::Base64 { part } => {
                write!(f, "the Base64-encoded {part} is not valid Base64")
            }
            IdentityError::Empty { part } => write!(f, "the {part} input is empty"),
            IdentityError::CertificateUnparseable { index } => {
                write!(f, "certificate #{index} of the chain is not a valid X.509 certificate")
            }
            IdentityError::KeyUnparseable => f.write_str("the private key is not valid DER"),
            IdentityError::KeyDoesNotMatchCertificate => f.write_str(
                "the private key does not belong to the client certificate (their public keys differ)",
            ),
            IdentityError::PassphraseRequired => {
                f.write_str("the private key is encrypted and no passphrase was given")
            }
            IdentityError::WrongPassphrase => {
                f.write_str("the passphrase or password does not decrypt the key")
            }
            IdentityError::LegacyEncryptedKey => f.write_str(
                "the legacy encrypted PEM key uses a cipher other than AES-CBC or DES-EDE3-CBC; re-encrypt it with `openssl pkcs8 -topk8 -v2 aes256 -in old.key -out new.key`",
            ),
            IdentityError::KeyDerivationTooCostly => f.write_str(
                "the encrypted key asks for more key-derivation work than allowed (re-encrypt it with `openssl pkcs8 -topk8 -v2 aes256`)",
            ),
            IdentityError::Expired { not_after } => {
                write!(f, "the client certificate expired on {}", Date(*not_after))
            }
            IdentityError::NotYetValid { not_before } => {
                write!(f, "the client certificate is not valid before {}", Date(*not_before))
            }
            IdentityError::Pkcs12 => {
                f.write_str("the PKCS#12 archive could not be read or holds no private key with a certificate")
            }
            IdentityError::Pkcs12SeveralKeys { count } => write!(
                f,
                "the PKCS#12 archive holds {count} private keys and an identity is one; export the client's alone (`openssl pkcs12 -export -in client.crt -inkey client.key -out client.p12`)"
            ),
            IdentityError::Io { part, kind } => {
                let what = match kind {
                    IoKind::NotFound => "file not found",
                    IoKind::PermissionDenied => "permission denied",
                    IoKind::Other => "read error",
                };
                write!(f, "could not read the {part} file: {what}")
            }
        }
    }
}

impl core::error::Error for IdentityError {}
