//! What a [`super::Client`] hands out through [`super::Client::poll_event`]: request outcomes
//! and notices. Every text a front-end prints comes from the `Display` impls here.

use alloc::string::String;
use core::fmt;
use core::time::Duration;

use super::RequestId;
use crate::error::Error;
use crate::http::Response;
use crate::identity::IdentityWarning;
use crate::presets::BaseUrlWarning;
use crate::tls::TlsVersion;

/// Something the host should know that does not stop the client.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// About the base URL (a Mangopay host without `api-mtls`).
    BaseUrl(BaseUrlWarning),
    /// About the client identity: no `clientAuth`, or (on a new connection) expiring within
    /// [`super::ClientConfig::expiry_warning_days`].
    Identity(IdentityWarning),
    /// The server completed a handshake without asking for a client certificate: the mTLS
    /// factor was not used on that connection.
    ClientCertificateNotRequested,
    /// The token store ([`TokenCache::with_store`](crate::auth::TokenCache::with_store))
    /// failed or timed out: this process works with its own token (single-flight within
    /// the process) and tries the store again after
    /// [`StoreOptions::retry_after`](crate::auth::StoreOptions::retry_after). No request
    /// fails for it.
    TokenStoreUnavailable(crate::auth::StoreError),
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::BaseUrl(w) => write!(f, "{w}"),
            Warning::Identity(w) => write!(f, "{w}"),
            Warning::ClientCertificateNotRequested => f.write_str(
                "the server did not ask for the client certificate: the mTLS factor was not used",
            ),
            Warning::TokenStoreUnavailable(e) => write!(
                f,
                "{e}: this process uses its own token until the store answers again"
            ),
        }
    }
}

/// Whether a failed request may be retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// No byte of the request ever left the client, on any connection: safe to retry.
    NotSent,
    /// The request may have reached the server (on this connection or an earlier one);
    /// retry only if it is idempotent.
    OutcomeUnknown,
}

/// Why a request ended without a response.
///
/// ```
/// use mtls_core::{Error};
/// use mtls_core::client::{Failure, FailureKind};
/// let failure = Failure { kind: FailureKind::OutcomeUnknown, error: Error::Timeout };
/// assert_eq!(
///     failure.to_string(),
///     "no response within the request timeout (request outcome unknown: it may have reached the server)"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// Safe to retry or not.
    pub kind: FailureKind,
    /// What went wrong last.
    pub error: Error,
}

impl Failure {
    /// The one failure text, with the transport's own words after the error when a host
    /// has them.
    pub(crate) fn write_with_detail(
        &self,
        f: &mut fmt::Formatter<'_>,
        detail: Option<&dyn fmt::Display>,
    ) -> fmt::Result {
        write!(f, "{}", self.error)?;
        if let Some(detail) = detail {
            write!(f, ": {detail}")?;
        }
        f.write_str(match self.kind {
            FailureKind::NotSent => " (request not sent)",
            FailureKind::OutcomeUnknown => {
                " (request outcome unknown: it may have reached the server)"
            }
        })
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_with_detail(f, None)
    }
}

/// An outcome or a notice; see the [`super::Client`] docs for which events end a request.
#[derive(Debug)]
#[non_exhaustive]
#[must_use]
pub enum Event {
    /// A TLS handshake completed.
    Connected {
        /// Negotiated version.
        version: TlsVersion,
        /// False when the server did not ask for the client certificate.
        client_cert_requested: bool,
    },
    /// A new access token was obtained.
    TokenFetched {
        /// Its lifetime as the server gave it.
        expires_in: Duration,
    },
    /// A `401` invalidated the token; the request is being retried once with a new one.
    TokenRejected(RequestId),
    /// The response to a request.
    Response(RequestId, Response),
    /// Mangopay's `401 PendingUserAction`: the user must complete SCA at `redirect_url`.
    /// The token is kept.
    ScaRequired {
        /// The request.
        id: RequestId,
        /// Where to send the user, when the server gave it.
        redirect_url: Option<String>,
        /// The full response.
        response: Response,
    },
    /// The request ended without a response.
    Failed(RequestId, Failure),
    /// The connection is over: write out what [`super::Client::poll_transmit`] still holds
    /// (a close_notify or an alert), then close the transport. `error` is `None` for an
    /// orderly close.
    ConnectionClosed {
        /// Why, when it was not orderly.
        error: Option<Error>,
    },
    /// See [`Warning`].
    Warning(Warning),
}
