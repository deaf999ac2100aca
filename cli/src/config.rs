//! Turning flags and `MTLS_*` variables into an identity and a [`ClientConfig`].

use std::time::Duration;

use clap::Args;
use mtls_core::auth::Credentials;
use mtls_core::client::Auth;
use mtls_core::identity::load::{IdentitySources, LoadedIdentity};
use mtls_core::io::std_adapter::wall_clock_now;
use mtls_core::presets::Preset;
use mtls_core::tls::Trust;
use mtls_core::ClientConfig;
use zeroize::Zeroizing;

use crate::{non_empty, Fail, IdentityArgs};

/// Arguments of commands that call the API: base URL, credentials, identity, timeouts.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// Base URL (https://host, with optional :port and /prefix) or a preset:
    /// mangopay-sandbox, mangopay-production, mastercard-sandbox, mastercard-production.
    #[arg(long, env = "MTLS_BASE_URL", value_name = "URL|PRESET")]
    pub base_url: Option<String>,
    /// OAuth client id.
    #[arg(long, env = "MTLS_CLIENT_ID", value_name = "ID")]
    pub client_id: Option<String>,
    /// API key (prefer the MTLS_API_KEY variable: command lines are visible to other users).
    #[arg(
        long,
        env = "MTLS_API_KEY",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub api_key: Option<String>,
    /// Token endpoint path under the base URL (default /v2.01/oauth/token).
    #[arg(long, value_name = "PATH")]
    pub token_path: Option<String>,
    /// Authenticate with the client certificate alone: no token exchange, no client id or
    /// API key (Mastercard's mTLS APIs; implied by the mastercard-* presets).
    #[arg(long, env = "MTLS_CERTIFICATE_ONLY")]
    pub certificate_only: bool,
    /// Seconds to wait for each response (and for each socket read or write).
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub timeout: u64,
    #[command(flatten)]
    pub identity: IdentityArgs,
}

/// `base` resolved: a preset name becomes its URL; anything else is taken as a URL.
pub fn resolve_base_url(base: &str) -> String {
    match Preset::from_name(base.trim()) {
        Some(preset) => preset.base_url().to_owned(),
        None => base.trim().to_owned(),
    }
}

/// The identity sources: the `MTLS_*` variables, each overridden by its flag when given.
pub fn identity_sources(args: &IdentityArgs) -> IdentitySources {
    // A path given as a flag wins over the variable's path and, as any path, over Base64.
    IdentitySources::from_lookup(|name| {
        let flag = match name {
            "MTLS_CERT_PATH" => &args.cert,
            "MTLS_KEY_PATH" => &args.key,
            "MTLS_PKCS12_PATH" => &args.pkcs12,
            "MTLS_CA_PATH" => &args.ca,
            "MTLS_KEY_PASSPHRASE" => &args.key_passphrase,
            "MTLS_PKCS12_PASSWORD" => &args.pkcs12_password,
            _ => &None,
        };
        non_empty(flag.clone()).or_else(|| std::env::var(name).ok())
    })
}

/// Loads the identity (and custom CA). A missing or unreadable identity is a configuration
/// error.
pub fn load_identity(args: &IdentityArgs) -> Result<LoadedIdentity, Fail> {
    match identity_sources(args).load() {
        Ok(Some(loaded)) => Ok(loaded),
        Ok(None) => Err(Fail::config(
            "no client identity configured: set MTLS_CERT_PATH and MTLS_KEY_PATH (or --cert \
             and --key, the *_B64 variables, or MTLS_PKCS12_PATH / --pkcs12)",
        )),
        Err(e) => Err(Fail::config(format_args!("client identity: {e}"))),
    }
}

/// Whom to trust for the server: the custom CA, else Mozilla's roots.
pub fn trust(loaded: &LoadedIdentity) -> Result<Trust, Fail> {
    match &loaded.ca {
        Some(ca) => Ok(Trust::Custom(ca.clone())),
        #[cfg(feature = "webpki-roots")]
        None => Ok(Trust::WebPkiRoots),
        #[cfg(not(feature = "webpki-roots"))]
        None => Err(Fail::config(
            "no CA configured (MTLS_CA_PATH / --ca) and built without the `webpki-roots` feature",
        )),
    }
}

/// The client configuration, with every setting validated before any traffic. Missing
/// settings are reported together, in one line.
pub fn client_config(args: &ApiArgs) -> Result<(ClientConfig, String), Fail> {
    let base_url = non_empty(args.base_url.clone());
    let certificate_only = args.certificate_only
        || base_url
            .as_deref()
            .and_then(|b| Preset::from_name(b.trim()))
            .is_some_and(|p| p.token_path().is_none());
    let client_id = non_empty(args.client_id.clone());
    let api_key = non_empty(args.api_key.clone()).map(Zeroizing::new);
    let mut missing = Vec::new();
    if base_url.is_none() {
        missing.push("MTLS_BASE_URL (--base-url)");
    }
    // Without a token exchange there are no credentials to ask for.
    if client_id.is_none() && !certificate_only {
        missing.push("MTLS_CLIENT_ID (--client-id)");
    }
    if api_key.is_none() && !certificate_only {
        missing.push("MTLS_API_KEY (--api-key)");
    }
    let Some(base_url) = base_url.filter(|_| missing.is_empty()) else {
        return Err(Fail::config(format_args!(
            "missing configuration: {}",
            missing.join(", ")
        )));
    };
    let base_url = resolve_base_url(&base_url);
    let auth = match (&client_id, &api_key) {
        (Some(id), Some(key)) if !certificate_only => Auth::ClientCredentials(
            Credentials::new(id.clone(), String::from(key.as_str()))
                .map_err(|e| Fail::config(format_args!("credentials: {e}")))?,
        ),
        _ => Auth::CertificateOnly,
    };
    let loaded = load_identity(&args.identity)?;
    // The client checks validity on every connection; a command refuses up front.
    loaded
        .identity
        .check(wall_clock_now())
        .map_err(|e| Fail::config(mtls_core::Error::Identity(e)))?;
    let trust = trust(&loaded)?;
    let mut config =
        ClientConfig::new(&base_url, auth, &loaded.identity, trust).map_err(Fail::config)?;
    if let Some(path) = non_empty(args.token_path.clone()) {
        config.token_path = path;
    }
    config.request_timeout = timeout(args.timeout)?;
    Ok((config, client_id.unwrap_or_default()))
}

/// `secs` as a timeout; zero is refused (it would fail every request).
pub fn timeout(secs: u64) -> Result<Duration, Fail> {
    if secs == 0 {
        return Err(Fail::config("--timeout must be at least 1 second"));
    }
    Ok(Duration::from_secs(secs))
}
