//! mTLS settings and failures: the types a [`Client`](crate::Client) user meets, and the only
//! module that talks to rustls.
//!
//! [`TlsConfig`] holds the client identity and the trust anchors ([`Trust`]) for the server's
//! certificate, with the `rustls-rustcrypto` provider, TLS 1.3 and 1.2 only; the client opens
//! each connection with it, within the buffer bounds of [`TlsLimits`]. Nothing here opens a
//! socket or reads a clock: the wall-clock time used to check the server's certificate is a
//! value the host passes in for each connection. This is also the only module that hands key
//! material to the crypto provider.
//!
//! A failed connection is a [`TlsError`]: an [`Alert`] the server sent (see
//! [`Alert::is_client_certificate_rejection`]), a [`CertificateProblem`] with the server's
//! certificate, or a transport end without the server's `close_notify`
//! ([`TlsError::Truncated`]): a truncated stream is never mistaken for a clean end.
//!
//! Session resumption is disabled on purpose: a resumed TLS 1.3 session skips the
//! CertificateRequest, and every connection of an mTLS client should prove possession of the key.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use rustls::client::{ResolvesClientCert, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::UnixTime;
use rustls::sign::CertifiedKey;
use rustls::time_provider::TimeProvider;
use rustls::{ClientConfig, RootCertStore, SignatureScheme};

use crate::identity::{CaBundle, CertificateInfo, Identity};

pub(crate) mod connection;
mod error;

pub use error::{Alert, CertificateProblem, TlsError};

// The client's internals: crate-private here, and public only through the hidden door
// (`crate::internals`) for the layer tests, the fuzzers and the benches.
pub(crate) use connection::{TlsConnection, TlsEvent};

/// Bounds on the buffers a connection owns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlsLimits {
    /// Ciphertext received but not yet processed. Must hold one full record (16 KiB + 2 KiB
    /// overhead) or the handshake cannot progress.
    pub max_incoming: usize,
    /// Ciphertext produced but not yet taken by the caller.
    pub max_outgoing: usize,
    /// Decrypted bytes not yet consumed by the caller. When full, decryption pauses (records
    /// stay queued) until the caller consumes some.
    pub max_plaintext_in: usize,
    /// Application data waiting to be encrypted (all of it while the handshake runs): the
    /// largest request the client can send. Its ciphertext must also fit `max_outgoing`.
    pub max_plaintext_out: usize,
}

impl Default for TlsLimits {
    fn default() -> Self {
        TlsLimits {
            max_incoming: 18 * 1024 + 512,
            max_outgoing: 64 * 1024,
            max_plaintext_in: 64 * 1024,
            max_plaintext_out: 64 * 1024,
        }
    }
}

/// Whom to trust for the server's certificate.
#[derive(Clone, Debug)]
pub enum Trust {
    /// Mozilla's root store (the `webpki-roots` feature): public API hosts.
    #[cfg(feature = "webpki-roots")]
    WebPkiRoots,
    /// Only these CAs (a sandbox, a private PKI).
    Custom(CaBundle),
}

/// Shared, immutable TLS settings: identity, trust anchors, provider. Build once, then open
/// any number of connections with it (a [`ClientConfig`](crate::ClientConfig) field). It
/// holds no clock: each connection is given the wall-clock time when it opens.
#[derive(Clone)]
pub struct TlsConfig {
    base: Arc<ClientConfig>,
    certified_key: Option<Arc<CertifiedKey>>,
}

impl core::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TlsConfig").finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// Builds the configuration: loads the identity's private key into the crypto provider
    /// (the one place a key becomes a signer) and the trust anchors into a verifier.
    pub fn new(identity: &Identity, trust: Trust) -> Result<TlsConfig, TlsError> {
        TlsConfig::build(Some(identity), trust)
    }

    /// A configuration that presents no client certificate. For diagnostics only: a server
    /// that enforces mTLS must refuse it (see the `mtls` command's checks and the tests).
    pub fn without_client_identity(trust: Trust) -> Result<TlsConfig, TlsError> {
        TlsConfig::build(None, trust)
    }

    fn build(identity: Option<&Identity>, trust: Trust) -> Result<TlsConfig, TlsError> {
        TlsConfig::build_with_provider(identity, trust, Arc::new(rustls_rustcrypto::provider()))
    }

    /// [`TlsConfig::build`] with another crypto provider. Only the fuzzers' deterministic
    /// provider (through the hidden door, `internals::dangerous_tls_config_with_provider`)
    /// comes here with anything but `rustls-rustcrypto`'s.
    pub(crate) fn build_with_provider(
        identity: Option<&Identity>,
        trust: Trust,
        provider: Arc<CryptoProvider>,
    ) -> Result<TlsConfig, TlsError> {
        let mut roots = RootCertStore::empty();
        match trust {
            #[cfg(feature = "webpki-roots")]
            Trust::WebPkiRoots => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            Trust::Custom(bundle) => {
                for cert in bundle.certs() {
                    roots
                        .add(cert.clone())
                        .map_err(|_| TlsError::InvalidTrustAnchor)?;
                }
            }
        }
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|_| TlsError::InvalidTrustAnchor)?;
        let certified_key = match identity {
            Some(id) => {
                let signer = provider
                    .key_provider
                    .load_private_key(id.key_der().clone_key())
                    .map_err(|_| TlsError::ClientKeyUnsupported)?;
                Some(Arc::new(CertifiedKey::new(id.chain().to_vec(), signer)))
            }
            None => None,
        };
        // Every connection replaces this clock with the wall-clock time it was opened with.
        let unset = Arc::new(FixedClock(UnixTime::since_unix_epoch(
            core::time::Duration::ZERO,
        )));
        let mut config = ClientConfig::builder_with_details(provider, unset)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|_| TlsError::Internal)?
            .with_webpki_verifier(verifier)
            .with_client_cert_resolver(Arc::new(RecordingResolver {
                key: certified_key.clone(),
                seen: Arc::new(SeenRequest::default()),
            }));
        config.resumption = rustls::client::Resumption::disabled();
        Ok(TlsConfig {
            base: Arc::new(config),
            certified_key,
        })
    }

    /// The same trust and provider with another client identity: how a certificate is
    /// rotated without rebuilding the verifier. Connections already open keep theirs.
    ///
    /// # Errors
    /// [`TlsError::ClientKeyUnsupported`] if the provider cannot sign with the new key.
    pub fn with_identity(&self, identity: &Identity) -> Result<TlsConfig, TlsError> {
        let signer = self
            .base
            .crypto_provider()
            .key_provider
            .load_private_key(identity.key_der().clone_key())
            .map_err(|_| TlsError::ClientKeyUnsupported)?;
        Ok(TlsConfig {
            base: self.base.clone(),
            certified_key: Some(Arc::new(CertifiedKey::new(
                identity.chain().to_vec(),
                signer,
            ))),
        })
    }

    /// The rustls configuration of one connection opened at `now`: this configuration's,
    /// with the clock set to `now` and a client-certificate resolver that records in `seen`
    /// what the server asked for.
    fn for_connection(&self, now: UnixTime, seen: Arc<SeenRequest>) -> Arc<ClientConfig> {
        let mut per_conn = (*self.base).clone();
        per_conn.client_auth_cert_resolver = Arc::new(RecordingResolver {
            key: self.certified_key.clone(),
            seen,
        });
        per_conn.time_provider = Arc::new(FixedClock(now));
        Arc::new(per_conn)
    }
}

/// Whether `identity`'s certificate chain verifies for TLS client authentication against
/// `ca` at `now`: what a server trusting `ca` checks in the handshake. Meaningful when one
/// private PKI signs both the server's and the client's certificates (a sandbox, your own
/// API); a public API's client CA is its own, not the server's CA.
///
/// For the client chain, [`CertificateProblem::InvalidPurpose`] means the leaf does not allow
/// `clientAuth`, and [`CertificateProblem::UnknownIssuer`] that no certificate of `ca` signed
/// it (or the intermediate is missing from the chain).
///
/// ```no_run
/// # fn demo(identity: &mtls_core::identity::Identity, ca: &mtls_core::identity::CaBundle) {
/// let now = mtls_core::io::std_adapter::wall_clock_now();
/// match mtls_core::tls::verify_client_chain(identity, ca, now) {
///     Ok(()) => println!("a server trusting this CA accepts the certificate"),
///     Err(problem) => println!("it would refuse it: {problem:?}"),
/// }
/// # }
/// ```
///
/// # Errors
/// The [`CertificateProblem`] the server would find, [`CertificateProblem::Other`] also when
/// `ca` holds no usable trust anchor.
pub fn verify_client_chain(
    identity: &Identity,
    ca: &CaBundle,
    now: UnixTime,
) -> Result<(), CertificateProblem> {
    let mut roots = RootCertStore::empty();
    for cert in ca.certs() {
        roots
            .add(cert.clone())
            .map_err(|_| CertificateProblem::Other)?;
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::new(rustls_rustcrypto::provider()),
    )
    .build()
    .map_err(|_| CertificateProblem::Other)?;
    let (leaf, intermediates) = identity
        .chain()
        .split_first()
        .ok_or(CertificateProblem::Other)?;
    verifier
        .verify_client_cert(leaf, intermediates, now)
        .map(|_| ())
        .map_err(|e| match TlsError::from_rustls(&e) {
            TlsError::ServerCertificate(problem) => problem,
            _ => CertificateProblem::Other,
        })
}

/// The wall-clock time a connection was opened with, as rustls asks for it: a handshake
/// takes seconds at most, so one reading serves the whole verification.
#[derive(Debug)]
struct FixedClock(UnixTime);

impl TimeProvider for FixedClock {
    fn current_time(&self) -> Option<UnixTime> {
        Some(self.0)
    }
}

/// Hands rustls the identity and records what the server asked for.
#[derive(Debug)]
struct RecordingResolver {
    key: Option<Arc<CertifiedKey>>,
    seen: Arc<SeenRequest>,
}

/// Most bytes of CA names kept from one CertificateRequest: a server trusting a whole root
/// store may list hundreds, and the report needs only to show them.
const MAX_RECORDED_NAME_BYTES: usize = 16 * 1024;

/// What the server's CertificateRequest carried: `None` until the server asked for the
/// client certificate, then the CA names it listed (DER as sent, up to
/// [`MAX_RECORDED_NAME_BYTES`]).
#[derive(Debug, Default)]
pub(crate) struct SeenRequest {
    names: spin::Mutex<Option<Vec<Vec<u8>>>>,
}

impl SeenRequest {
    pub(crate) fn asked(&self) -> bool {
        self.names.lock().is_some()
    }
}

impl ResolvesClientCert for RecordingResolver {
    fn resolve(
        &self,
        root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        let mut kept = 0;
        let names = root_hint_subjects
            .iter()
            .take_while(|name| {
                kept += name.len();
                kept <= MAX_RECORDED_NAME_BYTES
            })
            .map(|name| name.to_vec())
            .collect();
        *self.seen.names.lock() = Some(names);
        self.key.clone()
    }

    fn has_certs(&self) -> bool {
        self.key.is_some()
    }
}

/// What a completed handshake showed: the server's side of "why is my certificate not
/// accepted", from [`Client::handshake_summary`](crate::Client::handshake_summary).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HandshakeSummary {
    /// Negotiated version.
    pub version: TlsVersion,
    /// Whether the server asked for the client certificate during the handshake. When it did
    /// not, the certificate was not sent (a server asking only later, after the handshake,
    /// cannot get it: see [`Warning::ClientCertificateNotRequested`](crate::client::Warning::ClientCertificateNotRequested)).
    pub client_cert_requested: bool,
    /// The CA names (RFC 4514) the server listed as acceptable issuers of the client
    /// certificate; empty when it listed none (it then takes any issuer it trusts).
    pub acceptable_issuers: Vec<String>,
    /// Whether a certificate of our chain was issued by one of `acceptable_issuers`:
    /// `Some(false)` means the server will most likely refuse our certificate. `None` when
    /// the server listed no names, did not ask, or no identity is configured.
    pub issuer_acceptable: Option<bool>,
    /// The server's certificate chain as it sent it, leaf first (verified by then).
    pub server_chain: Vec<CertificateInfo>,
}

impl HandshakeSummary {
    /// Built from what the handshake recorded; CA names that do not parse are shown as such.
    pub(crate) fn new(
        version: TlsVersion,
        seen: &SeenRequest,
        ours: Option<&CertifiedKey>,
        server: &[rustls::pki_types::CertificateDer<'_>],
    ) -> HandshakeSummary {
        use alloc::string::ToString;
        let guard = seen.names.lock();
        let listed = guard.as_deref().unwrap_or(&[]);
        let names: Vec<Option<x509_cert::name::Name>> = listed
            .iter()
            .map(|der| crate::identity::parse_name(der))
            .collect();
        let issuer_acceptable = match ours {
            Some(key) if !names.is_empty() => {
                let issuers = crate::identity::issuers(&key.cert);
                Some(
                    names
                        .iter()
                        .flatten()
                        .any(|name| issuers.iter().any(|issuer| issuer == name)),
                )
            }
            _ => None,
        };
        HandshakeSummary {
            version,
            client_cert_requested: guard.is_some(),
            acceptable_issuers: names
                .iter()
                .zip(listed)
                .map(|(name, der)| match name {
                    Some(name) => name.to_string(),
                    None => alloc::format!("(unparseable name, {} bytes)", der.len()),
                })
                .collect(),
            issuer_acceptable,
            server_chain: server
                .iter()
                .filter_map(|cert| CertificateInfo::parse(cert).ok())
                .collect(),
        }
    }
}

/// Negotiated protocol version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

impl core::fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            TlsVersion::Tls12 => "TLS 1.2",
            TlsVersion::Tls13 => "TLS 1.3",
        })
    }
}
