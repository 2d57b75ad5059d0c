//! TLS to PostgreSQL with rustls (through brigade-tls, on brigade sockets): libpq's
//! `sslmode=require` and `sslmode=verify-full`. [`PgTlsConnect`] is tokio-postgres's
//! [`TlsConnect`]; [`PgTls`] plays the part of its `MakeTlsConnect` (one connector per host,
//! [`PgTls::for_host`]) — that trait itself sits behind tokio-postgres's `runtime` feature,
//! which brings tokio's runtime, so brigade-postgres offers the same as a method.
//!
//! tokio-postgres's `Config` knows `sslmode=disable|prefer|require` — *whether* TLS is used;
//! [`PgTls`] says *how much* is checked, which libpq folds into the same parameter:
//!
//! | libpq | here |
//! |---|---|
//! | `sslmode=require` (encrypted, certificate not checked) | `sslmode=require` + [`PgTls::require`] |
//! | `sslmode=verify-full` (chain to a trusted root, and the host name) | `sslmode=require` + [`PgTls::verify_full`] |
//! | `sslmode=prefer` (TLS when the server offers it) | `sslmode=prefer` (the default) + either |
//!
//! Pass it to [`connect_tls`](crate::connect_tls) or [`PoolBuilder::tls`](crate::PoolBuilder::tls).
//! Query cancellation goes over TLS too: the cancel request's connection is made with the same
//! `PgTls` and `sslmode`.
//!
//! # Invariants
//! - [`PgTls::require`] still runs a full TLS handshake and checks the server's signature over
//!   it (the connection is encrypted to whoever holds the certificate's key); only the
//!   certificate's chain and name go unchecked — as libpq's `require`, which guards against
//!   eavesdropping, not against an impostor.
//! - Channel binding is not offered (SCRAM without `-PLUS`); `channel_binding=require` is
//!   refused with a message.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use brigade_tls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use brigade_tls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use brigade_tls::rustls::{self, ClientConfig, DigitallySignedStruct, SignatureScheme};
use brigade_tls::{ClientSettings, ClientTlsStream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, TlsConnect, TlsStream};

use crate::socket::Socket;
use crate::Error;

/// How connections to PostgreSQL are encrypted and checked; see the [module docs](self).
#[derive(Clone)]
pub struct PgTls {
    config: Arc<ClientConfig>,
}

impl PgTls {
    /// libpq's `sslmode=require`: encrypted, the server's certificate not checked.
    pub fn require() -> PgTls {
        let provider = brigade_tls::crypto_provider();
        let verifier = Arc::new(AnyCertificate(provider.clone()));
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports TLS 1.2 and 1.3")
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        PgTls {
            config: Arc::new(config),
        }
    }

    /// libpq's `sslmode=verify-full` with `sslrootcert` = `root_pem`: the server's certificate
    /// must chain to one of these roots and name the host connected to. A text without a
    /// certificate is an [`Error::Config`].
    pub fn verify_full(root_pem: &[u8]) -> Result<PgTls, Error> {
        let roots = brigade_tls::certificates_from_pem(root_pem)
            .map_err(|error| Error::Config(format!("sslrootcert: {error}")))?;
        PgTls::verify_full_with(ClientSettings {
            mozilla_roots: false,
            extra_roots: roots,
            ..ClientSettings::default()
        })
    }

    /// `verify-full` with any brigade-tls client settings: Mozilla's roots (for a managed
    /// database whose CA is public), extra roots, a client certificate.
    pub fn verify_full_with(settings: ClientSettings) -> Result<PgTls, Error> {
        let config = settings
            .build()
            .map_err(|error| Error::Config(format!("TLS settings: {error}")))?;
        Ok(PgTls { config })
    }
}

impl std::fmt::Debug for PgTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTls").finish_non_exhaustive()
    }
}

impl PgTls {
    /// The connector for one host (`MakeTlsConnect::make_tls_connect`): `domain` is sent as
    /// SNI and, with [`verify_full`](PgTls::verify_full), must be named by the certificate.
    pub fn for_host(&self, domain: &str) -> io::Result<PgTlsConnect> {
        // A host given as an IP address is checked against the certificate's IP addresses.
        let name = ServerName::try_from(domain.to_owned()).map_err(|error| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{domain:?} is not a valid TLS server name: {error}"),
            )
        })?;
        Ok(PgTlsConnect {
            config: Arc::clone(&self.config),
            name,
        })
    }
}

/// [`PgTls`] for one host: what tokio-postgres calls to start TLS on a socket.
#[derive(Clone)]
pub struct PgTlsConnect {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl TlsConnect<Socket> for PgTlsConnect {
    type Stream = PgTlsStream;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<PgTlsStream>> + Send>>;

    fn connect(self, socket: Socket) -> Self::Future {
        Box::pin(async move {
            let stream = brigade_tls::connect(self.config, self.name, socket)
                .await
                .map_err(|error| match brigade_tls::TlsFailure::of(&error) {
                    Some(failure) => io::Error::new(
                        error.kind(),
                        format!("TLS handshake with the PostgreSQL server failed: {failure}"),
                    ),
                    None => error,
                })?;
            Ok(PgTlsStream(stream))
        })
    }
}

/// A TLS connection to PostgreSQL over a brigade [`Socket`].
pub struct PgTlsStream(ClientTlsStream<Socket>);

impl TlsStream for PgTlsStream {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl AsyncRead for PgTlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for PgTlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

/// `sslmode=require`'s verifier: any certificate is accepted; the handshake's signatures are
/// still checked with the provider's algorithms.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
