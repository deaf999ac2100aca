//! mTLS settings and failures: the types a [`Client`](crate::Client) user meets, and the only
//! module that talks to rustls.
//!
//! [`TlsConfig`] holds the client identity and the trust anchors ([`Trust`]) for the server's
//! certificate, with a provider composed from `rustls-rustcrypto`'s parts as the crate's
//! features choose (`provider.rs`: TLS 1.3, and 1.2 with `tls12`); the client opens
//! each connection with it, within the buffer bounds of [`TlsLimits`]. Nothing here opens a
//! socket or reads a clock: the wall-clock time used to check the server's certificate is a
//! value the host passes in for each connection. This is also the only module that hands key
//! material to the crypto provider.
//!
//! # Provider and signer, per build
//!
//! | build | provider (key exchange, ciphers, server verification) | signs with the client key |
//! |---|---|---|
//! | default (pure Rust, `no_std`) | `rustls-rustcrypto`'s parts, as the features choose (`provider.rs`) | RSA (`rsa-client-key`): `rsa` 0.10, constant time; P-256, P-384 (`p384`), Ed25519 (`ed25519`): RustCrypto |
//! | `ring` feature (std hosts) | ring | ring, every key type |
//!
//! In a full mTLS handshake the client's one private-key operation (its CertificateVerify)
//! is most of its CPU with an RSA key. `rustls-rustcrypto` would sign with `rsa` 0.9, which
//! carries the timing advisory RUSTSEC-2023-0071 (Marvin): no build of this crate gives it
//! the key. The `bench` example prints what each signer costs per handshake.
//!
//! A failed connection is a [`TlsError`]: an [`Alert`] the server sent (see
//! [`Alert::is_client_certificate_rejection`]), a [`CertificateProblem`] with the server's
//! certificate, or a transport end without the server's `close_notify`
//! ([`TlsError::Truncated`]): a truncated stream is never mistaken for a clean end.
//!
//! # Session resumption: off by default, opt-in
//!
//! By default every connection is a full handshake in which the server asks for our
//! certificate and we prove possession of the key. [`TlsConfig::with_resumption`] (or
//! [`ClientConfig::with_resumption`](crate::ClientConfig::with_resumption)) turns on TLS 1.3
//! tickets and TLS 1.2 session ids/tickets, kept in a bounded [`SessionStore`] shared by the
//! connections of that configuration (one client, one pool).
//!
//! What it trades: a resumed handshake still does a fresh (EC)DHE key exchange, but skips
//! the server's certificate chain verification and our CertificateVerify: the server binds
//! the resumed connection to the certificate it verified in the full handshake that made the
//! session (nginx with `ssl_verify_client on` shows our subject and `SUCCESS` for it:
//! `tests/resumption_nginx.rs`), and no new proof of possession of the key is made on it. So:
//! - a revoked or expired client certificate, or a server certificate that changed, is only
//!   noticed at the next full handshake (the server's ticket lifetime bounds this; nginx:
//!   `ssl_session_timeout`, 5 minutes by default);
//! - whoever can read the store (process memory) can resume as us until the tickets expire:
//!   the store is a secret as the key is (it is never printed);
//! - only sessions whose server asked for our certificate are stored, and a new identity
//!   ([`TlsConfig::with_identity`]) starts with an empty store, so a resumed connection is
//!   never bound to no certificate or to an old one.
//!
//! What it buys: a resumed handshake costs the client a fraction of a full one (no
//! signature, no chain verification; see `resumed_vs_full` in the `bench` example).

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
// With `ring`, only its protocol versions are used: ring's provider replaces the composed one.
#[cfg_attr(feature = "ring", allow(dead_code))]
mod provider;
mod resumption;
#[cfg(feature = "rsa-client-key")]
mod rsa_signer;
mod signer;

pub use error::{Alert, CertificateProblem, TlsError};
pub use resumption::SessionStore;

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
    /// stay queued) until the caller consumes some. Must hold one record's plaintext (16 KiB)
    /// or a full-size record is never decrypted.
    pub max_plaintext_in: usize,
    /// Application data waiting to be encrypted (all of it while the handshake runs): the
    /// largest request the client can send. Its ciphertext must also fit `max_outgoing`.
    pub max_plaintext_out: usize,
}

impl TlsLimits {
    /// A preset for small devices (tens of KiB of heap): requests up to 4 KiB, 6 KiB of
    /// ciphertext waiting to be sent. `max_incoming` and `max_plaintext_in` hold one full
    /// record (16 KiB of plaintext): a server may send records that large, TLS gives the
    /// client no way to ask for smaller ones, and a record whose plaintext cannot fit is
    /// never decrypted (the connection stalls until the request times out). Measured with the whole flow on an emulated Cortex-M in `benches/qemu-live`;
    /// pair it with [`Limits::small`](crate::http::Limits::small).
    ///
    /// ```
    /// use mtls_core::tls::TlsLimits;
    /// let small = TlsLimits::small();
    /// assert_eq!(small.max_incoming, TlsLimits::default().max_incoming);
    /// assert!(small.max_outgoing > small.max_plaintext_out);
    /// ```
    pub const fn small() -> Self {
        TlsLimits {
            max_incoming: 18 * 1024 + 512,
            max_outgoing: 6 * 1024,
            max_plaintext_in: 16 * 1024,
            max_plaintext_out: 4 * 1024,
        }
    }
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
    /// Whether `base`'s provider is this build's own ([`default_provider`]), which decides
    /// who signs with the client key ([`signer::choose_signer`]).
    own_provider: bool,
    /// The opt-in resumption store ([`TlsConfig::with_resumption`]) and the one resolver
    /// all its connections share; `None`: every connection is a full handshake.
    sessions: Option<(SessionStore, Arc<RecordingResolver>)>,
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
        TlsConfig::build_inner(identity, trust, default_provider(), true)
    }

    /// [`TlsConfig::build`] with another crypto provider, which then also signs with the
    /// client key. Only the fuzzers' deterministic provider (through the hidden door,
    /// `internals::dangerous_tls_config_with_provider`) comes here.
    #[cfg(any(fuzzing, feature = "internals"))]
    pub(crate) fn build_with_provider(
        identity: Option<&Identity>,
        trust: Trust,
        provider: Arc<CryptoProvider>,
    ) -> Result<TlsConfig, TlsError> {
        TlsConfig::build_inner(identity, trust, provider, false)
    }

    fn build_inner(
        identity: Option<&Identity>,
        trust: Trust,
        provider: Arc<CryptoProvider>,
        own_provider: bool,
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
                let signer = signer::load_signing_key(
                    id.key_der(),
                    id.p256_signer(),
                    &provider,
                    own_provider,
                )?;
                Some(Arc::new(CertifiedKey::new(id.chain().to_vec(), signer)))
            }
            None => None,
        };
        // Every connection replaces this clock with the wall-clock time it was opened with.
        let unset = Arc::new(FixedClock(UnixTime::since_unix_epoch(
            core::time::Duration::ZERO,
        )));
        let mut config = ClientConfig::builder_with_details(provider, unset)
            .with_protocol_versions(provider::protocol_versions())
            .map_err(|_| TlsError::Internal)?
            .with_webpki_verifier(verifier)
            .with_client_cert_resolver(Arc::new(RecordingResolver::own(
                certified_key.clone(),
                Arc::new(SeenRequest::default()),
            )));
        config.resumption = rustls::client::Resumption::disabled();
        Ok(TlsConfig {
            base: Arc::new(config),
            certified_key,
            own_provider,
            sessions: None,
        })
    }

    /// The same trust and provider with another client identity: how a certificate is
    /// rotated without rebuilding the verifier. Connections already open keep theirs.
    ///
    /// # Errors
    /// [`TlsError::ClientKeyUnsupported`] if the provider cannot sign with the new key.
    ///
    /// With resumption on, the new configuration gets a new, empty [`SessionStore`] of the
    /// same size: a session belongs to the certificate of the handshake that made it, so
    /// none made with the old identity is resumed with the new one.
    pub fn with_identity(&self, identity: &Identity) -> Result<TlsConfig, TlsError> {
        let signer = signer::load_signing_key(
            identity.key_der(),
            identity.p256_signer(),
            self.base.crypto_provider(),
            self.own_provider,
        )?;
        let rotated = TlsConfig {
            base: self.base.clone(),
            certified_key: Some(Arc::new(CertifiedKey::new(
                identity.chain().to_vec(),
                signer,
            ))),
            own_provider: self.own_provider,
            sessions: None,
        };
        Ok(match &self.sessions {
            Some((store, _)) => rotated.with_resumption(&SessionStore::new(store.max_servers())),
            None => rotated,
        })
    }

    /// The same configuration with session resumption on (TLS 1.3 tickets, TLS 1.2 session
    /// ids and tickets), its sessions kept in `store`: every connection opened with it (and
    /// with its clones: the connections of one client or pool) takes from and gives to the
    /// same store. Off unless called; see the module docs for what it trades.
    ///
    /// ```no_run
    /// # fn demo(identity: &mtls_core::identity::Identity, trust: mtls_core::tls::Trust)
    /// # -> Result<(), mtls_core::tls::TlsError> {
    /// use mtls_core::tls::{SessionStore, TlsConfig};
    /// let store = SessionStore::new(4);
    /// let tls = TlsConfig::new(identity, trust)?.with_resumption(&store);
    /// assert!(tls.session_store().is_some());
    /// // ... ClientConfig::with_tls(base_url, auth, tls), then the store fills as it connects.
    /// # Ok(()) }
    /// ```
    pub fn with_resumption(&self, store: &SessionStore) -> TlsConfig {
        // rustls resumes a session only with the resolver that made it: one for all.
        let resolver = Arc::new(RecordingResolver::shared(self.certified_key.clone()));
        TlsConfig {
            sessions: Some((store.clone(), resolver)),
            ..self.clone()
        }
    }

    /// The resumption store, if [`TlsConfig::with_resumption`] turned resumption on.
    pub fn session_store(&self) -> Option<&SessionStore> {
        self.sessions.as_ref().map(|(store, _)| store)
    }

    /// The rustls configuration of one connection opened at `now`: this configuration's,
    /// with the clock set to `now` and a client-certificate resolver that records in `seen`
    /// what the server asked for.
    /// With resumption on, also this connection's view of the session store.
    fn for_connection(
        &self,
        now: UnixTime,
        seen: Arc<SeenRequest>,
    ) -> (Arc<ClientConfig>, Option<ConnSessions>) {
        let mut per_conn = (*self.base).clone();
        per_conn.time_provider = Arc::new(FixedClock(now));
        let sessions = match &self.sessions {
            None => {
                per_conn.client_auth_cert_resolver =
                    Arc::new(RecordingResolver::own(self.certified_key.clone(), seen));
                None
            }
            Some((store, resolver)) => {
                per_conn.client_auth_cert_resolver = resolver.clone();
                let conn_store = Arc::new(resumption::ConnStore::new(store.shared(), seen));
                per_conn.resumption = rustls::client::Resumption::store(conn_store.clone())
                    .tls12_resumption(rustls::client::Tls12Resumption::SessionIdOrTickets);
                Some((conn_store, resolver.clone()))
            }
        };
        (Arc::new(per_conn), sessions)
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
        default_provider(),
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

/// A connection's view of the session store, and the resolver shared for resumption.
type ConnSessions = (Arc<resumption::ConnStore>, Arc<RecordingResolver>);

/// This build's crypto provider: composed from `rustls-rustcrypto`'s parts as the crate's
/// features choose (pure Rust, `no_std`; `provider.rs`), or ring with the `ring` feature
/// (std hosts; several times faster, see the `bench` example). Who signs with
/// the client key is decided apart, in [`signer`].
pub(crate) fn default_provider() -> Arc<CryptoProvider> {
    #[cfg(feature = "ring")]
    {
        Arc::new(rustls::crypto::ring::default_provider())
    }
    #[cfg(not(feature = "ring"))]
    {
        Arc::new(provider::provider())
    }
}

/// The signer a [`TlsConfig::new`] of this build holds for `identity`'s key.
#[cfg(any(fuzzing, feature = "internals"))]
pub(crate) fn client_signing_key(
    identity: &Identity,
) -> Result<Arc<dyn rustls::sign::SigningKey>, TlsError> {
    signer::load_signing_key(
        identity.key_der(),
        identity.p256_signer(),
        &default_provider(),
        true,
    )
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
///
/// Without resumption each connection has its own, recording into its [`SeenRequest`].
/// rustls resumes a session only with the resolver object that made it, so with resumption
/// the connections of one configuration share one, and a connection records through it
/// only while it holds the handshake turn ([`RecordingResolver::turn`]): its
/// `process_tls_records` calls while handshaking, during which rustls may ask.
#[derive(Debug)]
pub(crate) struct RecordingResolver {
    key: Option<Arc<CertifiedKey>>,
    seen: SeenSlot,
}

#[derive(Debug)]
enum SeenSlot {
    Own(Arc<SeenRequest>),
    Shared {
        /// One handshaking connection at a time processes records.
        turn: spin::Mutex<()>,
        /// Where the connection holding the turn records.
        current: spin::Mutex<Option<Arc<SeenRequest>>>,
    },
}

/// A connection's handshake turn on a shared resolver; recording goes to it until dropped.
pub(crate) struct Turn<'a> {
    resolver: &'a RecordingResolver,
    _turn: Option<spin::MutexGuard<'a, ()>>,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        if let SeenSlot::Shared { current, .. } = &self.resolver.seen {
            *current.lock() = None;
        }
    }
}

impl RecordingResolver {
    fn own(key: Option<Arc<CertifiedKey>>, seen: Arc<SeenRequest>) -> RecordingResolver {
        RecordingResolver {
            key,
            seen: SeenSlot::Own(seen),
        }
    }

    fn shared(key: Option<Arc<CertifiedKey>>) -> RecordingResolver {
        RecordingResolver {
            key,
            seen: SeenSlot::Shared {
                turn: spin::Mutex::new(()),
                current: spin::Mutex::new(None),
            },
        }
    }

    /// Takes the handshake turn for `seen` (waits while another connection of the same
    /// configuration is processing its handshake records: microseconds to one signature).
    pub(crate) fn turn(&self, seen: &Arc<SeenRequest>) -> Turn<'_> {
        let guard = match &self.seen {
            SeenSlot::Own(_) => None,
            SeenSlot::Shared { turn, current } => {
                let guard = turn.lock();
                *current.lock() = Some(seen.clone());
                Some(guard)
            }
        };
        Turn {
            resolver: self,
            _turn: guard,
        }
    }

    fn record(&self, names: Vec<Vec<u8>>) {
        match &self.seen {
            SeenSlot::Own(seen) => *seen.names.lock() = Some(names),
            SeenSlot::Shared { current, .. } => {
                if let Some(seen) = current.lock().as_ref() {
                    *seen.names.lock() = Some(names);
                }
            }
        }
    }
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
    /// The handshake resumed a stored session (made where the server asked for our
    /// certificate: only such sessions are stored).
    resumed: core::sync::atomic::AtomicBool,
}

impl SeenRequest {
    /// Whether the server asked for our certificate in this handshake.
    pub(crate) fn asked(&self) -> bool {
        self.names.lock().is_some()
    }

    /// Whether this connection is bound to our certificate: the server asked for it in this
    /// handshake, or the handshake resumed a session in which it had.
    pub(crate) fn certificate_bound(&self) -> bool {
        self.asked() || self.resumed()
    }

    pub(crate) fn resumed(&self) -> bool {
        self.resumed.load(core::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn set_resumed(&self) {
        self.resumed
            .store(true, core::sync::atomic::Ordering::Relaxed);
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
        self.record(names);
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
    /// Whether the handshake resumed a stored session ([`TlsConfig::with_resumption`]): no
    /// CertificateRequest then, the session is bound to the certificate of the full
    /// handshake that made it.
    pub resumed: bool,
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
        let guard = seen.names.lock();
        let listed = guard.as_deref().unwrap_or(&[]);
        let names: Vec<Option<(Vec<u8>, String)>> = listed
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
                        .any(|(name, _)| issuers.contains(&name.as_slice())),
                )
            }
            _ => None,
        };
        HandshakeSummary {
            version,
            client_cert_requested: guard.is_some(),
            resumed: seen.resumed(),
            acceptable_issuers: names
                .into_iter()
                .zip(listed)
                .map(|(name, der)| match name {
                    Some((_, text)) => text,
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
