//! std-only loading: files, environment variables and PKCS#12 archives. This code only
//! produces the bytes the core takes; all parsing and checks stay in [`crate::identity`].
//!
//! The variables, as in `DESIGN.md` and the official SDKs, a path winning over the Base64 form
//! when both are set (the Base64 form is each whole file Base64-encoded; whitespace is
//! ignored):
//!
//! | what | path | Base64 | other |
//! |---|---|---|---|
//! | certificate chain | `MTLS_CERT_PATH` | `MTLS_CERT_B64` | |
//! | private key | `MTLS_KEY_PATH` | `MTLS_KEY_B64` | `MTLS_KEY_PASSPHRASE` |
//! | custom CA | `MTLS_CA_PATH` | `MTLS_CA_B64` | |
//! | PKCS#12 | `MTLS_PKCS12_PATH` | `MTLS_PKCS12_B64` | `MTLS_PKCS12_PASSWORD` |
//!
//! ```no_run
//! use mtls_core::identity::load::IdentitySources;
//! let sources = IdentitySources::from_env();
//! let loaded = sources.load()?.expect("no MTLS_* identity variables set");
//! println!("{}", loaded.identity.info().subject);
//! # Ok::<(), mtls_core::identity::IdentityError>(())
//! ```
//!
//! Other sources (command-line flags, a config file) go through
//! [`IdentitySources::from_lookup`], e.g. a flag first, then the variable:
//!
//! ```no_run
//! use mtls_core::identity::load::IdentitySources;
//! let cert_flag: Option<String> = Some("client.pem".into());
//! let sources = IdentitySources::from_lookup(|name| match name {
//!     "MTLS_CERT_PATH" => cert_flag.clone().or_else(|| std::env::var(name).ok()),
//!     _ => std::env::var(name).ok(),
//! });
//! # let _ = sources;
//! ```

use std::string::String;
use std::vec::Vec;

use zeroize::Zeroizing;

use super::{decode_base64_pem, CaBundle, Identity, IdentityError, IoKind, Part};

/// Where one input comes from: a file path or a Base64 value. A path wins when both are set.
#[derive(Clone, Default, PartialEq, Eq)]
struct Source {
    /// Path to a file (PEM, or DER for PKCS#12).
    path: Option<String>,
    /// Base64 of the file's contents. May hold a key: redacted in `Debug`.
    base64: Option<Zeroizing<String>>,
}

impl core::fmt::Debug for Source {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Source")
            .field("path", &self.path)
            .field("base64", &self.base64.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Which form an input was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// From the file path.
    Path,
    /// From the Base64 value.
    Base64,
}

/// Bytes read from a [`Source`] (zeroized on drop) and where they came from.
type SourceBytes = (Zeroizing<Vec<u8>>, Origin);

impl Source {
    fn is_set(&self) -> bool {
        self.path.is_some() || self.base64.is_some()
    }

    /// Reads the bytes: the file when a path is set (the path wins), else decodes the Base64
    /// value. `None` when neither is set.
    fn read(&self, part: Part) -> Result<Option<SourceBytes>, IdentityError> {
        if let Some(path) = &self.path {
            let bytes = std::fs::read(path).map_err(|e| IdentityError::Io {
                part,
                kind: match e.kind() {
                    std::io::ErrorKind::NotFound => IoKind::NotFound,
                    std::io::ErrorKind::PermissionDenied => IoKind::PermissionDenied,
                    _ => IoKind::Other,
                },
            })?;
            return Ok(Some((Zeroizing::new(bytes), Origin::Path)));
        }
        match &self.base64 {
            Some(b64) if part == Part::Pkcs12 => {
                use base64::Engine;
                let compact: Zeroizing<String> =
                    Zeroizing::new(b64.chars().filter(|c| !c.is_ascii_whitespace()).collect());
                base64::engine::general_purpose::STANDARD
                    .decode(compact.as_bytes())
                    .map(|b| Some((Zeroizing::new(b), Origin::Base64)))
                    .map_err(|_| IdentityError::Base64 { part })
            }
            Some(b64) => Ok(Some((decode_base64_pem(b64, part)?, Origin::Base64))),
            None => Ok(None),
        }
    }
}

/// Every place an identity can come from, read from the environment
/// ([`IdentitySources::from_env`]) or from any lookup function
/// ([`IdentitySources::from_lookup`]: flags, config files, tests) by the variable names of the
/// [module docs](self): the certificate chain, the private key and its passphrase, a custom
/// CA, or a PKCS#12 archive and its password (used when no certificate or key is set).
/// Secrets are redacted in `Debug` and wiped on drop.
#[derive(Clone, Debug, Default)]
pub struct IdentitySources {
    /// Certificate chain (`MTLS_CERT_PATH` / `MTLS_CERT_B64`).
    cert: Source,
    /// Private key (`MTLS_KEY_PATH` / `MTLS_KEY_B64`).
    key: Source,
    /// Passphrase of an encrypted key (`MTLS_KEY_PASSPHRASE`).
    key_passphrase: Option<Zeroizing<String>>,
    /// Custom CA (`MTLS_CA_PATH` / `MTLS_CA_B64`).
    ca: Source,
    /// PKCS#12 archive (`MTLS_PKCS12_PATH` / `MTLS_PKCS12_B64`), used when no cert/key is set.
    pkcs12: Source,
    /// PKCS#12 password (`MTLS_PKCS12_PASSWORD`).
    pkcs12_password: Option<Zeroizing<String>>,
}

/// What [`IdentitySources::load`] produced.
#[derive(Debug)]
pub struct LoadedIdentity {
    /// The identity, its key checked against its certificate.
    pub identity: Identity,
    /// The custom CA, when one was given.
    pub ca: Option<CaBundle>,
    /// Where the certificate came from.
    pub cert_origin: Origin,
    /// Where the key came from (for PKCS#12: where the archive came from).
    pub key_origin: Origin,
}

impl IdentitySources {
    /// Reads the `MTLS_*` variables of the process environment.
    pub fn from_env() -> IdentitySources {
        IdentitySources::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the `MTLS_*` variables through `lookup` (empty values count as unset).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> IdentitySources {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let secret = |name: &str| get(name).map(Zeroizing::new);
        let source = |path: &str, b64: &str| Source {
            path: get(path),
            base64: secret(b64),
        };
        IdentitySources {
            cert: source("MTLS_CERT_PATH", "MTLS_CERT_B64"),
            key: source("MTLS_KEY_PATH", "MTLS_KEY_B64"),
            key_passphrase: secret("MTLS_KEY_PASSPHRASE"),
            ca: source("MTLS_CA_PATH", "MTLS_CA_B64"),
            pkcs12: source("MTLS_PKCS12_PATH", "MTLS_PKCS12_B64"),
            pkcs12_password: secret("MTLS_PKCS12_PASSWORD"),
        }
    }

    /// Loads the identity and CA. `Ok(None)` when no identity input is set at all; a
    /// certificate without a key (or the reverse) is an error.
    pub fn load(&self) -> Result<Option<LoadedIdentity>, IdentityError> {
        let ca = match self.ca.read(Part::CaCertificate)? {
            Some((pem, _)) => Some(CaBundle::from_pem(&pem)?),
            None => None,
        };
        if self.cert.is_set() || self.key.is_set() {
            let (cert_pem, cert_origin) = self
                .cert
                .read(Part::Certificate)?
                .ok_or(IdentityError::NoCertificate)?;
            let (key_pem, key_origin) = self
                .key
                .read(Part::PrivateKey)?
                .ok_or(IdentityError::NoPrivateKey)?;
            let identity = match &self.key_passphrase {
                Some(p) => Identity::from_encrypted_pem(&cert_pem, &key_pem, p.as_bytes())?,
                None => Identity::from_pem(&cert_pem, &key_pem)?,
            };
            return Ok(Some(LoadedIdentity {
                identity,
                ca,
                cert_origin,
                key_origin,
            }));
        }
        if let Some((archive, origin)) = self.pkcs12.read(Part::Pkcs12)? {
            let password = self.pkcs12_password.as_deref().map_or("", |p| p.as_str());
            let identity = Identity::from_pkcs12(&archive, password)?;
            return Ok(Some(LoadedIdentity {
                identity,
                ca,
                cert_origin: origin,
                key_origin: origin,
            }));
        }
        Ok(None)
    }
}
