//! What a [`super::Client`] is built from: the base URL, how requests are authorised, the
//! TLS settings and the bounds. Validated once, before any traffic.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::time::Duration;

use super::BaseUrl;
use super::Warning;
use crate::auth::{Credentials, RetryPolicy, TokenCache};
use crate::error::Error;
use crate::http::Limits;
use crate::identity::{Identity, Validity, EXPIRY_WARNING_DAYS};
use crate::presets::check_base_url;
use crate::tls::{TlsConfig, TlsLimits, Trust};

/// How API requests are authorised on top of the client certificate.
///
/// ```
/// use mtls_core::auth::Credentials;
/// use mtls_core::client::Auth;
/// // Mangopay: Basic credentials buy a Bearer token, on the mTLS connection.
/// let mangopay = Auth::ClientCredentials(Credentials::new("my-client-id", "my-api-key")?);
/// // Mastercard's mTLS-only APIs: the certificate is the whole story.
/// let mastercard = Auth::CertificateOnly;
/// # let _ = (mangopay, mastercard);
/// # Ok::<(), mtls_core::auth::AuthError>(())
/// ```
#[derive(Clone, Debug)]
pub enum Auth {
    /// OAuth2 client credentials: a Bearer token from the token endpoint (Mangopay).
    ClientCredentials(Credentials),
    /// The client certificate alone: no token, no `Authorization` header.
    CertificateOnly,
}

/// Everything a [`super::Client`] needs; build with [`ClientConfig::new`], adjust the public
/// fields.
///
/// A clone shares the [`token_cache`](ClientConfig::token_cache) (a clone of a cache is the
/// same cache), and the TLS settings (immutable, behind an `Arc`): clone one configuration
/// for each connection of a pool or an event loop, and they fetch one token between them.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) path_prefix: String,
    pub(super) auth: Auth,
    pub(super) tls: TlsConfig,
    /// The client certificate's validity window, checked on every new connection.
    pub(super) validity: Option<Validity>,
    /// Warnings known at configuration time; the client's first events.
    pub(super) warnings: Vec<Warning>,
    /// Path of the token endpoint under the base URL's path (default `/v2.01/oauth/token`).
    pub token_path: String,
    /// TLS buffer bounds.
    pub tls_limits: TlsLimits,
    /// HTTP response limits.
    pub http_limits: Limits,
    /// How long a handshake, and each request once sent, may take (default 30 s).
    pub request_timeout: Duration,
    /// How many connections a request may try when a retry is safe, and how many
    /// handshakes in a row may fail before the queue ends (default 3).
    pub max_attempts: u8,
    /// From how many days before the client certificate expires each new connection warns
    /// (default [`EXPIRY_WARNING_DAYS`], 30).
    pub expiry_warning_days: i64,
    /// The token cache; share one between clients (connections) to fetch one token for all.
    pub token_cache: TokenCache,
    /// What to do on `401`.
    pub retry_policy: RetryPolicy,
}

impl ClientConfig {
    /// Validates everything that does not depend on the time, before any traffic: the base
    /// URL (an https URL; a Mangopay host without `api-mtls` gives a [`Warning`]), the
    /// identity (a leaf without `clientAuth` is a warning), and builds the TLS configuration.
    /// The certificate's validity is checked against the wall clock each time a connection
    /// opens ([`super::Client::open_connection`]).
    pub fn new(
        base_url: &str,
        auth: Auth,
        identity: &Identity,
        trust: Trust,
    ) -> Result<ClientConfig, Error> {
        let mut config = ClientConfig::with_tls(base_url, auth, TlsConfig::new(identity, trust)?)?;
        config.validity = Some(identity.validity());
        config
            .warnings
            .extend(identity.timeless_warnings().map(Warning::Identity));
        Ok(config)
    }

    /// Rotates the client identity: connections opened from now on present `identity`
    /// (checked against the wall clock as each opens); the trust, the credentials and the
    /// token cache stay. Check the new identity first ([`Identity::check`]).
    ///
    /// # Errors
    /// [`Error::Tls`] with [`TlsError::ClientKeyUnsupported`](crate::tls::TlsError) if the
    /// provider cannot sign with the new key; the configuration is then unchanged.
    pub fn set_identity(&mut self, identity: &Identity) -> Result<(), Error> {
        self.tls = self.tls.with_identity(identity)?;
        self.validity = Some(identity.validity());
        Ok(())
    }

    /// Turns on TLS session resumption for the connections of this configuration (and of
    /// its clones: one client's, one pool's), kept in `store`: see
    /// [`TlsConfig::with_resumption`] and the [`tls`](crate::tls) module docs for the
    /// trade-off. Off unless called.
    ///
    /// ```no_run
    /// # fn demo(config: mtls_core::ClientConfig) {
    /// let store = mtls_core::tls::SessionStore::new(4);
    /// let config = config.with_resumption(&store);
    /// # let _ = config; }
    /// ```
    pub fn with_resumption(mut self, store: &crate::tls::SessionStore) -> ClientConfig {
        self.tls = self.tls.with_resumption(store);
        self
    }

    /// Takes `template`'s identity (TLS settings and validity) without loading the key
    /// again: how a pool moves each of its connections to one rotated identity.
    #[cfg(feature = "std")]
    pub(crate) fn adopt_identity_of(&mut self, template: &ClientConfig) {
        self.tls = template.tls.clone();
        self.validity = template.validity;
    }

    /// Like [`ClientConfig::new`] with a prepared [`TlsConfig`]: no identity, so no
    /// identity checks.
    pub fn with_tls(base_url: &str, auth: Auth, tls: TlsConfig) -> Result<ClientConfig, Error> {
        let url = BaseUrl::parse(base_url)?;
        let mut warnings = Vec::new();
        if let Some(w) = check_base_url(url.host()) {
            warnings.push(Warning::BaseUrl(w));
        }
        Ok(ClientConfig {
            host: url.host().to_string(),
            port: url.port_or_default(),
            path_prefix: url.path_prefix().to_string(),
            auth,
            tls,
            validity: None,
            warnings,
            token_path: String::from(crate::auth::DEFAULT_TOKEN_PATH),
            tls_limits: TlsLimits::default(),
            http_limits: Limits::default(),
            request_timeout: Duration::from_secs(30),
            max_attempts: 3,
            expiry_warning_days: EXPIRY_WARNING_DAYS,
            token_cache: TokenCache::default(),
            retry_policy: RetryPolicy::default(),
        })
    }

    /// The host to connect to (also the TLS server name).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port to connect to (443 unless the base URL says otherwise).
    pub fn port(&self) -> u16 {
        self.port
    }
}
