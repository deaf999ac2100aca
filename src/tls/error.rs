//! TLS failures, named the way the protocol names them.

use core::fmt;

/// A TLS alert description (RFC 8446 section 6), displayed by its protocol name.
///
/// ```
/// use mtls_core::tls::Alert;
/// let alert = Alert(116);
/// assert_eq!(alert.to_string(), "certificate_required");
/// assert_eq!(alert.name(), Some("certificate_required"));
/// assert!(alert.is_client_certificate_rejection());
/// assert_eq!(Alert(200).to_string(), "alert(200)");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Alert(pub u8);

macro_rules! alerts {
    ($($name:ident = $code:literal, $text:literal;)*) => {
        impl Alert {
            // The whole table, used or not: the names `name()` knows, for the crate's own code.
            $(
                #[doc = concat!("`", $text, "` (", stringify!($code), ")")]
                #[allow(dead_code)]
                pub(crate) const $name: Alert = Alert($code);
            )*

            /// The protocol's name for this alert, or `None` for a code we do not know.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($code => Some($text),)*
                    _ => None,
                }
            }
        }
    };
}

alerts! {
    CLOSE_NOTIFY = 0, "close_notify";
    UNEXPECTED_MESSAGE = 10, "unexpected_message";
    BAD_RECORD_MAC = 20, "bad_record_mac";
    RECORD_OVERFLOW = 22, "record_overflow";
    HANDSHAKE_FAILURE = 40, "handshake_failure";
    BAD_CERTIFICATE = 42, "bad_certificate";
    UNSUPPORTED_CERTIFICATE = 43, "unsupported_certificate";
    CERTIFICATE_REVOKED = 44, "certificate_revoked";
    CERTIFICATE_EXPIRED = 45, "certificate_expired";
    CERTIFICATE_UNKNOWN = 46, "certificate_unknown";
    ILLEGAL_PARAMETER = 47, "illegal_parameter";
    UNKNOWN_CA = 48, "unknown_ca";
    ACCESS_DENIED = 49, "access_denied";
    DECODE_ERROR = 50, "decode_error";
    DECRYPT_ERROR = 51, "decrypt_error";
    PROTOCOL_VERSION = 70, "protocol_version";
    INSUFFICIENT_SECURITY = 71, "insufficient_security";
    INTERNAL_ERROR = 80, "internal_error";
    INAPPROPRIATE_FALLBACK = 86, "inappropriate_fallback";
    USER_CANCELED = 90, "user_canceled";
    MISSING_EXTENSION = 109, "missing_extension";
    UNSUPPORTED_EXTENSION = 110, "unsupported_extension";
    UNRECOGNIZED_NAME = 112, "unrecognized_name";
    BAD_CERTIFICATE_STATUS_RESPONSE = 113, "bad_certificate_status_response";
    UNKNOWN_PSK_IDENTITY = 115, "unknown_psk_identity";
    CERTIFICATE_REQUIRED = 116, "certificate_required";
    NO_APPLICATION_PROTOCOL = 120, "no_application_protocol";
}

impl Alert {
    /// True for the alerts a server sends when it does not accept the client certificate.
    pub fn is_client_certificate_rejection(self) -> bool {
        matches!(
            self,
            Alert::CERTIFICATE_REQUIRED
                | Alert::BAD_CERTIFICATE
                | Alert::UNKNOWN_CA
                | Alert::UNSUPPORTED_CERTIFICATE
                | Alert::CERTIFICATE_EXPIRED
                | Alert::CERTIFICATE_REVOKED
                | Alert::CERTIFICATE_UNKNOWN
                | Alert::ACCESS_DENIED
        )
    }
}

impl fmt::Display for Alert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "alert({})", self.0),
        }
    }
}

impl fmt::Debug for Alert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Alert({self})")
    }
}

/// Why we refused the server's certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertificateProblem {
    /// Not signed by a trusted CA.
    UnknownIssuer,
    /// Its signature does not verify against the CA of the same name we trust.
    BadSignature,
    /// Not valid for the server name we connected to.
    NotValidForName,
    /// Past its `notAfter`.
    Expired,
    /// Before its `notBefore`.
    NotValidYet,
    /// Revoked.
    Revoked,
    /// Not a server certificate (wrong key usage).
    InvalidPurpose,
    /// Malformed or otherwise unacceptable.
    Other,
}

impl fmt::Display for CertificateProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CertificateProblem::UnknownIssuer => "it is not signed by a trusted CA",
            CertificateProblem::BadSignature => {
                "its signature does not verify against the trusted CA of that name"
            }
            CertificateProblem::NotValidForName => "it is not valid for the server name",
            CertificateProblem::Expired => "it has expired",
            CertificateProblem::NotValidYet => "it is not valid yet",
            CertificateProblem::Revoked => "it has been revoked",
            CertificateProblem::InvalidPurpose => "it is not a TLS server certificate",
            CertificateProblem::Other => "it is malformed or unacceptable",
        })
    }
}

/// The TLS connection failed. Every variant says what went wrong and on which side.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsError {
    /// The server sent a fatal alert. For `certificate_required`, `bad_certificate`,
    /// `unknown_ca` and friends, the server refused our client certificate.
    AlertReceived(Alert),
    /// The server ended an open connection with a `handshake_failure` alert after a
    /// handshake in which it had not asked for the client certificate: it asked for it
    /// afterwards, by TLS 1.2 renegotiation (Apache's per-directory `SSLVerifyClient
    /// require`), which this client refuses. The server must request the certificate in the
    /// handshake.
    CertificateAskedAfterHandshake,
    /// We refused the server's certificate.
    ServerCertificate(CertificateProblem),
    /// The server did not present a certificate.
    NoServerCertificate,
    /// No protocol version, cipher suite or signature scheme in common.
    Incompatible,
    /// The server broke the protocol (malformed or unexpected messages, bad signatures).
    PeerMisbehaved,
    /// A record failed to decrypt.
    DecryptFailed,
    /// The transport ended without the server's close_notify: data may be missing.
    Truncated {
        /// True when the end came before the handshake finished.
        during_handshake: bool,
    },
    /// A bounded buffer is full (see [`super::TlsLimits`]).
    BufferFull,
    /// The server name is neither a DNS name nor an IP address.
    InvalidServerName,
    /// A trust anchor could not be used.
    InvalidTrustAnchor,
    /// The crypto provider cannot sign with the client key's type.
    ClientKeyUnsupported,
    /// Application data was offered after close, or input after this side's close_notify
    /// (a closed connection reads nothing more).
    Closed,
    /// The crypto provider got no random bytes: on bare metal, register an RNG with
    /// `getrandom::register_custom_getrandom!`.
    RandomUnavailable,
    /// rustls reported something this wrapper does not expect; a bug here, not in the peer.
    Internal,
}

impl TlsError {
    pub(crate) fn from_rustls(e: &rustls::Error) -> TlsError {
        use rustls::{CertificateError as C, Error as E};
        match e {
            E::AlertReceived(desc) => TlsError::AlertReceived(Alert(u8::from(*desc))),
            E::InvalidCertificate(c) => TlsError::ServerCertificate(match c {
                C::UnknownIssuer => CertificateProblem::UnknownIssuer,
                C::BadSignature => CertificateProblem::BadSignature,
                C::NotValidForName | C::NotValidForNameContext { .. } => {
                    CertificateProblem::NotValidForName
                }
                C::Expired | C::ExpiredContext { .. } => CertificateProblem::Expired,
                C::NotValidYet | C::NotValidYetContext { .. } => CertificateProblem::NotValidYet,
                C::Revoked => CertificateProblem::Revoked,
                C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
                    CertificateProblem::InvalidPurpose
                }
                _ => CertificateProblem::Other,
            }),
            E::NoCertificatesPresented => TlsError::NoServerCertificate,
            E::FailedToGetRandomBytes => TlsError::RandomUnavailable,
            E::PeerIncompatible(_) => TlsError::Incompatible,
            E::DecryptError => TlsError::DecryptFailed,
            E::PeerMisbehaved(_)
            | E::InvalidMessage(_)
            | E::InappropriateMessage { .. }
            | E::InappropriateHandshakeMessage { .. }
            | E::PeerSentOversizedRecord => TlsError::PeerMisbehaved,
            _ => TlsError::Internal,
        }
    }

    /// True when the server refused our client certificate (by its alert), or could not get
    /// it because it asked after the handshake.
    pub fn is_client_certificate_rejection(&self) -> bool {
        matches!(self, TlsError::AlertReceived(a) if a.is_client_certificate_rejection())
            || *self == TlsError::CertificateAskedAfterHandshake
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::AlertReceived(alert) if alert.is_client_certificate_rejection() => write!(
                f,
                "the server rejected the client certificate (TLS alert {alert})"
            ),
            TlsError::AlertReceived(alert) => write!(f, "the server sent TLS alert {alert}"),
            TlsError::CertificateAskedAfterHandshake => f.write_str(
                "the server did not ask for the client certificate in the handshake and then \
                 ended the connection (TLS alert handshake_failure): it asked for the \
                 certificate afterwards, by renegotiation, which this client does not do \
                 (Apache's per-directory `SSLVerifyClient require`); the server must request \
                 the certificate during the handshake (Apache: `SSLVerifyClient require` at \
                 the virtual-host level)",
            ),
            TlsError::ServerCertificate(problem) => {
                write!(f, "the server's certificate was refused: {problem}")
            }
            TlsError::NoServerCertificate => f.write_str("the server presented no certificate"),
            TlsError::Incompatible => f.write_str(
                "no TLS version, cipher suite or signature scheme in common with the server (TLS 1.2+ only)",
            ),
            TlsError::PeerMisbehaved => f.write_str("the server violated the TLS protocol"),
            TlsError::DecryptFailed => f.write_str("a TLS record from the server failed to decrypt"),
            TlsError::Truncated { during_handshake: true } => {
                f.write_str("the connection closed during the TLS handshake")
            }
            TlsError::Truncated { during_handshake: false } => f.write_str(
                "the connection closed without TLS close_notify: the data may be truncated",
            ),
            TlsError::BufferFull => f.write_str("a TLS buffer limit was reached"),
            TlsError::InvalidServerName => {
                f.write_str("the server name is not a valid DNS name or IP address")
            }
            TlsError::InvalidTrustAnchor => f.write_str("a CA certificate cannot be used as a trust anchor"),
            TlsError::ClientKeyUnsupported => f.write_str(
                "the crypto provider cannot sign with the client key's type (use RSA, P-256, P-384 \
                 or Ed25519; in a build without default features, RSA, P-384 and Ed25519 keys \
                 need the `rsa-client-key`, `p384` and `ed25519` features)",
            ),
            TlsError::Closed => f.write_str("the TLS connection is closed (we sent close_notify)"),
            TlsError::RandomUnavailable => f.write_str(
                "no random bytes from the host (bare metal: register an RNG with getrandom's custom feature)",
            ),
            TlsError::Internal => f.write_str("internal TLS error (a bug in mtls-core)"),
        }
    }
}

impl core::error::Error for TlsError {}
