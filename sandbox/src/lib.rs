//! A local stand-in for an mTLS-enforcing payment API, on loopback: the `mtls-sandbox`
//! crate, for tests and quickstarts of `mtls-core` clients (take it as a dev-dependency).
//!
//! [`Sandbox`] is a small HTTPS server on `127.0.0.1` that behaves like the parts of
//! Mangopay's API a client core has to get right:
//!
//! - it **requires a client certificate** issued by its own CA (or, with
//!   [`Knobs::set_require_client_cert`]`(false)`, never asks for one);
//! - it serves the **OAuth 2.0 client-credentials token endpoint**
//!   (`POST /v2.01/oauth/token`, `Authorization: Basic base64(client_id:api_key)`,
//!   `Content-Type: application/x-www-form-urlencoded`, body `grant_type=client_credentials`)
//!   and tracks the tokens it hands out with their expiry;
//! - it serves **sample resources** under `/v2.01/{client_id}/...` that require a valid
//!   `Authorization: Bearer <token>`, answer with JSON and Mangopay-style rate-limit headers,
//!   and replay a `POST`'s response for a repeated `Idempotency-Key`;
//! - it answers errors with Mangopay-style JSON bodies (`Message`, `Type`, `Id`, `Date`,
//!   `errors`), and the SCA case with `401` and
//!   `WWW-Authenticate: PendingUserAction RedirectUrl=...`;
//! - it has **fault knobs** ([`Knobs`]): short-lived tokens, forced 401s, SCA paths, truncated
//!   or slow responses, closing between requests, closing before answering ("outcome
//!   unknown"), and raw token-endpoint answers.
//!
//! Not supported: chunked request bodies (answered `411`), HTTP/2, pipelined requests beyond
//! what fits the read buffer, real rate limiting (`X-RateLimit` counts the API requests so
//! far, `X-RateLimit-Remaining` is 2300 minus that, `X-RateLimit-Reset` is the end of the
//! current 15-minute window; nothing is ever refused for it), persistence of any kind.
//!
//! The PKI underneath ([`TestCa`], [`IssueSpec`], [`Issued`]) is usable on its own, e.g. to
//! make certificates for identity-loading tests.
//!
//! This is test code for the `std` world: it reads the system clock, spawns threads and binds
//! sockets. Nothing in the sans-IO core depends on it. Every loop is bounded (read timeouts,
//! idle timeouts, size limits), and dropping the [`Sandbox`] stops and joins all its threads.
//!
//! # Example
//!
//! Start a sandbox, get a client identity from it, and fetch a token with a plain rustls
//! client:
//!
//! ```
//! use std::io::{Read, Write};
//! use std::sync::Arc;
//!
//! use mtls_sandbox::{Sandbox, SandboxConfig};
//! use rustls_pki_types::pem::PemObject;
//! use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
//!
//! let sandbox = Sandbox::start(SandboxConfig::default())?;
//! let identity = sandbox.issue_client_identity()?;
//!
//! let provider = Arc::new(rustls::crypto::ring::default_provider());
//! let mut roots = rustls::RootCertStore::empty();
//! roots.add(CertificateDer::from_pem_slice(sandbox.ca_pem().as_bytes())?)?;
//! let key = PrivateKeyDer::from_pem_slice(identity.key_pem.as_ref().unwrap().as_bytes())?;
//! let config = rustls::ClientConfig::builder_with_provider(provider)
//!     .with_safe_default_protocol_versions()?
//!     .with_root_certificates(roots)
//!     .with_client_auth_cert(vec![identity.cert_der.clone()], key)?;
//!
//! let name = ServerName::try_from(sandbox.server_name())?.to_owned();
//! let conn = rustls::ClientConnection::new(Arc::new(config), name)?;
//! let tcp = std::net::TcpStream::connect(sandbox.addr())?;
//! let mut tls = rustls::StreamOwned::new(conn, tcp);
//!
//! let body = "grant_type=client_credentials";
//! write!(
//!     tls,
//!     "POST /v2.01/oauth/token HTTP/1.1\r\nHost: localhost\r\n\
//!      Authorization: {}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
//!      Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
//!     sandbox.basic_authorization(),
//!     body.len(),
//! )?;
//! let mut response = Vec::new();
//! tls.read_to_end(&mut response)?;
//! assert!(response.starts_with(b"HTTP/1.1 200 OK\r\n"));
//! assert_eq!(sandbox.token_requests(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    clippy::std_instead_of_core,
    clippy::alloc_instead_of_core
)]

// The code came from `mtls-core` (a `no_std` crate) and names `alloc` items by that path.
extern crate alloc;

use alloc::string::String;

mod api;
mod pki;
mod server;

pub use pki::{IssueSpec, Issued, TestCa, Usage};
pub use server::{Knobs, RequestRecord, Sandbox, SandboxConfig};

/// What went wrong in the sandbox or its PKI.
#[derive(Debug)]
#[non_exhaustive]
pub enum SandboxError {
    /// rcgen could not build or sign a certificate (its message).
    Certificate(String),
    /// An [`IssueSpec`] or a [`SandboxConfig`] value was unusable (what was wrong).
    InvalidSpec(&'static str),
    /// The system clock is before the Unix epoch.
    Clock,
    /// The random number generator failed.
    Random,
    /// rustls rejected the server configuration.
    Tls(rustls::Error),
    /// A socket or thread operation failed.
    Io(std::io::Error),
}

impl core::fmt::Display for SandboxError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SandboxError::Certificate(msg) => {
                write!(f, "sandbox: certificate generation failed: {msg}")
            }
            SandboxError::InvalidSpec(what) => write!(f, "sandbox: invalid parameters: {what}"),
            SandboxError::Clock => f.write_str("sandbox: the system clock is before 1970"),
            SandboxError::Random => f.write_str("sandbox: the random number generator failed"),
            SandboxError::Tls(e) => write!(f, "sandbox: TLS configuration failed: {e}"),
            SandboxError::Io(e) => write!(f, "sandbox: I/O failed: {e}"),
        }
    }
}

impl core::error::Error for SandboxError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            SandboxError::Tls(e) => Some(e),
            SandboxError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for SandboxError {
    fn from(e: std::io::Error) -> Self {
        SandboxError::Io(e)
    }
}

impl From<rustls::Error> for SandboxError {
    fn from(e: rustls::Error) -> Self {
        SandboxError::Tls(e)
    }
}

/// Fills `buf` from ring's system random source (through rustls' provider).
fn random_bytes(buf: &mut [u8]) -> Result<(), SandboxError> {
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(buf)
        .map_err(|_| SandboxError::Random)
}

/// `n` random bytes as lowercase hex (`2 * n` characters).
fn random_hex(n: usize) -> Result<String, SandboxError> {
    let mut bytes = alloc::vec![0u8; n];
    random_bytes(&mut bytes)?;
    Ok(hex(&bytes))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}
