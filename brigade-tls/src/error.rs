//! What went wrong in a TLS handshake, sorted into the few cases a person can act on.
//!
//! rustls reports a failed handshake as a `rustls::Error` (inside the `io::Error` of kind
//! `InvalidData` that [`TlsStream`](crate::TlsStream) returns). Its Display is precise but
//! terse ("invalid peer certificate: UnknownIssuer"); [`TlsFailure::of`] picks the cases a
//! user meets — an expired certificate, a certificate for another host, an issuer nobody
//! trusts — and says what each means and what to do about it.

use std::fmt;
use std::io;

use rustls::{AlertDescription, CertificateError};

/// A TLS failure sorted by what the user can do about it; `Display` says it in a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsFailure {
    /// The peer's certificate is past its `notAfter` date.
    CertificateExpired,
    /// The peer's certificate is not valid yet (its `notBefore` is in the future).
    CertificateNotYetValid,
    /// The server's certificate does not name the host that was asked for.
    WrongHost,
    /// The certificate chain does not lead to a trusted root (self-signed, private CA).
    UnknownIssuer,
    /// The certificate has been revoked.
    Revoked,
    /// Another problem with the peer's certificate (rustls's words).
    BadCertificate(String),
    /// The peer ended the handshake with an alert (it refused our certificate, or has no
    /// protocol in common with us).
    RejectedByPeer(String),
    /// No ALPN protocol in common.
    NoCommonProtocol,
    /// Anything else the TLS protocol objected to (rustls's words).
    Protocol(String),
}

impl TlsFailure {
    /// The TLS failure behind `error`, if it is one (an `io::Error` from a
    /// [`TlsStream`](crate::TlsStream) or a handshake).
    pub fn of(error: &io::Error) -> Option<TlsFailure> {
        let tls = error.get_ref()?.downcast_ref::<rustls::Error>()?;
        Some(TlsFailure::from_rustls(tls))
    }

    /// Sorts a rustls error.
    pub fn from_rustls(error: &rustls::Error) -> TlsFailure {
        match error {
            rustls::Error::InvalidCertificate(problem) => match problem {
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    TlsFailure::CertificateExpired
                }
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    TlsFailure::CertificateNotYetValid
                }
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => TlsFailure::WrongHost,
                CertificateError::UnknownIssuer => TlsFailure::UnknownIssuer,
                CertificateError::Revoked => TlsFailure::Revoked,
                other if format!("{other:?}").contains("CaUsedAsEndEntity") => {
                    TlsFailure::BadCertificate(
                        "it is a CA certificate (basicConstraints CA:TRUE) presented as the \
                         server's own; a server needs a leaf certificate (with openssl req \
                         -x509: -addext basicConstraints=critical,CA:FALSE)"
                            .to_owned(),
                    )
                }
                other => TlsFailure::BadCertificate(format!("{other:?}")),
            },
            rustls::Error::NoApplicationProtocol
            | rustls::Error::AlertReceived(AlertDescription::NoApplicationProtocol) => {
                TlsFailure::NoCommonProtocol
            }
            rustls::Error::AlertReceived(alert) => TlsFailure::RejectedByPeer(format!("{alert:?}")),
            other => TlsFailure::Protocol(other.to_string()),
        }
    }
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsFailure::CertificateExpired => f.write_str(
                "the peer's certificate has expired (its notAfter date has passed); the peer \
                 must renew it",
            ),
            TlsFailure::CertificateNotYetValid => f.write_str(
                "the peer's certificate is not valid yet (its notBefore date is in the future; \
                 check both clocks)",
            ),
            TlsFailure::WrongHost => f.write_str(
                "the server's certificate is not valid for this host name (it names other \
                 hosts): wrong host, or a certificate missing this name",
            ),
            TlsFailure::UnknownIssuer => f.write_str(
                "the peer's certificate is issued by an unknown authority (self-signed or a \
                 private CA): add its CA with add_root_certificate if you trust it",
            ),
            TlsFailure::Revoked => f.write_str("the peer's certificate has been revoked"),
            TlsFailure::BadCertificate(problem) => {
                write!(f, "the peer's certificate is unusable: {problem}")
            }
            TlsFailure::RejectedByPeer(alert) => write!(
                f,
                "the peer refused the TLS handshake (alert: {alert}); if it wants a client \
                 certificate, configure one"
            ),
            TlsFailure::NoCommonProtocol => {
                f.write_str("the peers share no application protocol (ALPN)")
            }
            TlsFailure::Protocol(problem) => write!(f, "TLS protocol error: {problem}"),
        }
    }
}
