//! The top-level error: one variant per layer, plus what only the client knows (timeouts,
//! closed connections, configuration). No variant carries a secret.

use core::fmt;

use crate::auth::AuthError;
use crate::client::BaseUrlError;
use crate::http::HttpError;
use crate::identity::IdentityError;
use crate::tls::TlsError;

/// Anything that can go wrong, by layer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The client identity could not be loaded or is not usable now.
    Identity(IdentityError),
    /// The TLS handshake or record layer failed.
    Tls(TlsError),
    /// HTTP framing: a malformed response, or a request we refuse to send.
    Http(HttpError),
    /// The token exchange failed.
    Auth(AuthError),
    /// The base URL is not usable.
    BaseUrl(BaseUrlError),
    /// A request got no complete response within the configured timeout.
    Timeout,
    /// The TLS handshake did not complete within the configured timeout.
    HandshakeTimeout,
    /// The server closed the connection before answering.
    ConnectionClosed,
    /// The server sent bytes when no response was expected.
    UnsolicitedData,
    /// A request is larger than the connection's send buffer allows.
    RequestTooLarge,
    /// The host could not open or use its transport (DNS, connect); the adapter has details.
    Transport,
    /// A connection pool had no connection free within its acquire timeout: the request was
    /// not sent (see `io::Pool`).
    PoolExhausted,
}

/// The class of an [`Error`], for matching without caring about details.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// [`Error::Identity`].
    Identity,
    /// The server refused our client certificate: a TLS alert such as
    /// `certificate_required`, or an HTTP answer that says so
    /// ([`AuthError::ClientCertificateRefused`]).
    ClientCertificateRejected,
    /// Any other [`Error::Tls`].
    Tls,
    /// [`Error::Http`].
    Http,
    /// [`Error::Auth`].
    Auth,
    /// [`Error::BaseUrl`] or [`Error::RequestTooLarge`]: fix the call.
    Config,
    /// [`Error::Timeout`], [`Error::HandshakeTimeout`] or [`Error::PoolExhausted`].
    Timeout,
    /// [`Error::ConnectionClosed`], [`Error::UnsolicitedData`] or [`Error::Transport`].
    Connection,
}

impl Error {
    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Identity(_) => ErrorKind::Identity,
            Error::Tls(e) if e.is_client_certificate_rejection() => {
                ErrorKind::ClientCertificateRejected
            }
            Error::Tls(_) => ErrorKind::Tls,
            Error::Auth(
                AuthError::ClientCertificateRefused { .. }
                | AuthError::ClientCertificateNotRequested { .. },
            ) => ErrorKind::ClientCertificateRejected,
            Error::Http(_) => ErrorKind::Http,
            Error::Auth(_) => ErrorKind::Auth,
            Error::BaseUrl(_) | Error::RequestTooLarge => ErrorKind::Config,
            Error::Timeout | Error::HandshakeTimeout | Error::PoolExhausted => ErrorKind::Timeout,
            Error::ConnectionClosed | Error::UnsolicitedData | Error::Transport => {
                ErrorKind::Connection
            }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Identity(e) => write!(f, "client identity: {e}"),
            Error::Tls(e) => write!(f, "TLS: {e}"),
            Error::Http(e) => write!(f, "HTTP: {e}"),
            Error::Auth(e) => write!(f, "token exchange: {e}"),
            Error::BaseUrl(e) => write!(f, "base URL: {e}"),
            Error::Timeout => f.write_str("no response within the request timeout"),
            Error::HandshakeTimeout => {
                f.write_str("the TLS handshake did not complete within the request timeout")
            }
            Error::ConnectionClosed => {
                f.write_str("the server closed the connection before answering")
            }
            Error::UnsolicitedData => {
                f.write_str("the server sent data when no response was expected")
            }
            Error::RequestTooLarge => f.write_str("the request is larger than the send buffer"),
            Error::Transport => f.write_str("the connection to the server could not be opened"),
            Error::PoolExhausted => {
                f.write_str("no pooled connection became free within the acquire timeout")
            }
        }
    }
}

impl core::error::Error for Error {}

impl From<IdentityError> for Error {
    fn from(e: IdentityError) -> Self {
        Error::Identity(e)
    }
}

impl From<TlsError> for Error {
    fn from(e: TlsError) -> Self {
        Error::Tls(e)
    }
}

impl From<HttpError> for Error {
    fn from(e: HttpError) -> Self {
        Error::Http(e)
    }
}

impl From<AuthError> for Error {
    fn from(e: AuthError) -> Self {
        Error::Auth(e)
    }
}

impl From<BaseUrlError> for Error {
    fn from(e: BaseUrlError) -> Self {
        Error::BaseUrl(e)
    }
}
