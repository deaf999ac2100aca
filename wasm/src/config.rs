//! From what the host gives (WIT config record, or `MTLS_*` variables) to a
//! [`ClientConfig`]. Parsing and checks are the core's; this only routes the inputs.

use core::time::Duration;
use std::string::String;

use mtls_core::auth::Credentials;
use mtls_core::client::Auth;
use mtls_core::identity::load::IdentitySources;
use mtls_core::identity::{CaBundle, Identity};
use mtls_core::tls::Trust;
use mtls_core::{ClientConfig, Error};

use crate::session::wall_clock_now;

/// Why no configuration could be built.
#[derive(Debug)]
pub enum ConfigError {
    /// A required input is missing or unusable (what, for people).
    Missing(String),
    /// The core refused an input.
    Core(Error),
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ConfigError::Missing(what) => f.write_str(what),
            ConfigError::Core(e) => write!(f, "{e}"),
        }
    }
}

impl From<Error> for ConfigError {
    fn from(e: Error) -> Self {
        ConfigError::Core(e)
    }
}

/// What to verify the server with: the given CA, else Mozilla's roots when built in.
pub fn trust(ca: Option<CaBundle>) -> Result<Trust, ConfigError> {
    match ca {
        Some(bundle) => Ok(Trust::Custom(bundle)),
        #[cfg(feature = "webpki-roots")]
        None => Ok(Trust::WebPkiRoots),
        #[cfg(not(feature = "webpki-roots"))]
        None => Err(ConfigError::Missing(String::from(
            "no CA given, and this build has no built-in root store (feature `webpki-roots`)",
        ))),
    }
}

/// Everything but the identity, already loaded.
pub struct Settings<'a> {
    /// `https://host[:port][/prefix]`.
    pub base_url: &'a str,
    /// OAuth client id.
    pub client_id: String,
    /// API key (moved into [`Credentials`], which zeroizes it).
    pub api_key: String,
    /// Per-request timeout.
    pub timeout: Option<Duration>,
}

/// Builds the client configuration; checks the identity against the wall clock now.
pub fn build(
    settings: Settings<'_>,
    identity: &Identity,
    ca: Option<CaBundle>,
) -> Result<ClientConfig, ConfigError> {
    let credentials = Credentials::new(settings.client_id, settings.api_key)
        .map_err(|e| ConfigError::Core(Error::Auth(e)))?;
    // The client checks validity on every connection; a configuration refuses up front.
    identity
        .check(wall_clock_now())
        .map_err(|e| ConfigError::Core(Error::Identity(e)))?;
    let mut config = ClientConfig::new(
        settings.base_url,
        Auth::ClientCredentials(credentials),
        identity,
        trust(ca)?,
    )?;
    if let Some(timeout) = settings.timeout {
        config.request_timeout = timeout;
    }
    Ok(config)
}

/// The `mtls` command's configuration from `MTLS_*` variables (the same names and
/// precedence as the native command: a path wins over the Base64 form). Files are read
/// through the host's preopened directories (`wasmtime run --dir`).
pub fn from_env(vars: &[(String, String)]) -> Result<ClientConfig, ConfigError> {
    let lookup = |name: &str| {
        vars.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.trim().is_empty())
    };
    let required =
        |name: &str| lookup(name).ok_or_else(|| ConfigError::Missing(format!("{name} is not set")));
    let base_url = required("MTLS_BASE_URL")?;
    let client_id = required("MTLS_CLIENT_ID")?;
    let api_key = required("MTLS_API_KEY")?;
    let loaded = IdentitySources::from_lookup(lookup)
        .load()
        .map_err(|e| ConfigError::Core(Error::Identity(e)))?
        .ok_or_else(|| {
            ConfigError::Missing(String::from(
                "no client identity: set MTLS_CERT_PATH and MTLS_KEY_PATH (or MTLS_CERT_B64 \
                 and MTLS_KEY_B64, or MTLS_PKCS12_PATH / MTLS_PKCS12_B64)",
            ))
        })?;
    build(
        Settings {
            base_url: &base_url,
            client_id,
            api_key,
            timeout: None,
        },
        &loaded.identity,
        loaded.ca,
    )
}
