//! Building rustls configurations: certificates and keys from PEM, Mozilla's roots, ALPN, and
//! the one crypto provider brigade uses everywhere.
//!
//! Every configuration is built with [`crypto_provider`] passed explicitly, never rustls's
//! process-wide default, so brigade's TLS works whatever else in the process installed (or
//! failed to install) as the default.

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// The crypto provider of every configuration brigade builds: *ring*.
///
/// ring builds with a C compiler alone; rustls's other provider, aws-lc-rs, needs cmake (and
/// on some targets nasm) and takes several times as long to compile, for no difference
/// brigade's users would notice (both are constant-time, both offer the same TLS 1.2/1.3
/// suites; aws-lc-rs adds FIPS mode and post-quantum key exchange, which brigade does not
/// need yet).
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// Every certificate in a PEM text (`-----BEGIN CERTIFICATE-----` blocks), in order. None at
/// all is an error: a PEM file without a certificate is surely the wrong file.
pub fn certificates_from_pem(pem: &[u8]) -> io::Result<Vec<CertificateDer<'static>>> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| invalid(format!("the PEM certificates do not parse: {error}")))?;
    if certificates.is_empty() {
        return Err(invalid(
            "no `-----BEGIN CERTIFICATE-----` block in the PEM text".into(),
        ));
    }
    Ok(certificates)
}

/// The private key in a PEM text (PKCS#8, PKCS#1 RSA or SEC1 EC).
pub fn private_key_from_pem(pem: &[u8]) -> io::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|error| {
        invalid(format!(
            "no usable private key in the PEM text (expected a `BEGIN PRIVATE KEY`, \
             `BEGIN RSA PRIVATE KEY` or `BEGIN EC PRIVATE KEY` block): {error}"
        ))
    })
}

fn read_file(path: &Path, what: &str) -> io::Result<Vec<u8>> {
    std::fs::read(path).map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("cannot read the {what} file {}: {error}", path.display()),
        )
    })
}

/// A certificate chain and its private key: a server's identity, or a client certificate.
#[derive(Debug)]
pub struct Identity {
    /// The end-entity certificate first, then its intermediates.
    pub chain: Vec<CertificateDer<'static>>,
    /// The private key of the first certificate.
    pub key: PrivateKeyDer<'static>,
}

impl Clone for Identity {
    fn clone(&self) -> Identity {
        Identity {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl Identity {
    /// From PEM texts: the chain (end-entity certificate first) and the key. Both may be the
    /// same text (a combined PEM file).
    pub fn from_pem(chain_pem: &[u8], key_pem: &[u8]) -> io::Result<Identity> {
        Ok(Identity {
            chain: certificates_from_pem(chain_pem)?,
            key: private_key_from_pem(key_pem)?,
        })
    }

    /// From PEM files (what `openssl req -x509 -out cert.pem -keyout key.pem` writes).
    pub fn from_pem_files(chain: impl AsRef<Path>, key: impl AsRef<Path>) -> io::Result<Identity> {
        let chain_pem = read_file(chain.as_ref(), "certificate")?;
        let key_pem = read_file(key.as_ref(), "private key")?;
        Identity::from_pem(&chain_pem, &key_pem).map_err(|error| {
            invalid(format!(
                "{error} (certificate file {}, key file {})",
                chain.as_ref().display(),
                key.as_ref().display()
            ))
        })
    }
}

/// What a client trusts and presents.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// Trust Mozilla's root certificates (webpki-roots, compiled in). Default: yes.
    pub mozilla_roots: bool,
    /// More trusted roots (a private CA, a self-signed server's certificate).
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// A client certificate, for servers that ask for one.
    pub identity: Option<Identity>,
    /// ALPN protocols offered, most preferred first (`b"h2"`, `b"http/1.1"`).
    pub alpn: Vec<Vec<u8>>,
}

impl Default for ClientSettings {
    fn default() -> ClientSettings {
        ClientSettings {
            mozilla_roots: true,
            extra_roots: Vec::new(),
            identity: None,
            alpn: Vec::new(),
        }
    }
}

impl ClientSettings {
    /// The rustls configuration (TLS 1.2 and 1.3, ring). Fails if a root certificate or the
    /// client identity is malformed, or no root is trusted at all.
    pub fn build(&self) -> io::Result<Arc<ClientConfig>> {
        let mut roots = RootCertStore::empty();
        if self.mozilla_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        for root in &self.extra_roots {
            roots
                .add(root.clone())
                .map_err(|error| invalid(format!("a root certificate is unusable: {error}")))?;
        }
        if roots.is_empty() {
            return Err(invalid(
                "no trusted root certificate: keep Mozilla's roots or add one of your own".into(),
            ));
        }
        let builder = ClientConfig::builder_with_provider(crypto_provider())
            .with_safe_default_protocol_versions()
            .map_err(|error| invalid(error.to_string()))?
            .with_root_certificates(roots);
        let mut config = match &self.identity {
            Some(identity) => builder
                .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())
                .map_err(|error| invalid(format!("the client certificate is unusable: {error}")))?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = self.alpn.clone();
        Ok(Arc::new(config))
    }
}

/// A server's rustls configuration (TLS 1.2 and 1.3, ring): its identity, the ALPN protocols
/// it accepts (most preferred first), and, if `client_roots` is given, a required client
/// certificate issued by one of them.
pub fn server_config(
    identity: Identity,
    alpn: Vec<Vec<u8>>,
    client_roots: Option<Vec<CertificateDer<'static>>>,
) -> io::Result<Arc<ServerConfig>> {
    let builder = ServerConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(|error| invalid(error.to_string()))?;
    let builder = match client_roots {
        None => builder.with_no_client_auth(),
        Some(certificates) => {
            let mut roots = RootCertStore::empty();
            for root in certificates {
                roots.add(root).map_err(|error| {
                    invalid(format!("a client root certificate is unusable: {error}"))
                })?;
            }
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), crypto_provider())
                    .build()
                    .map_err(|error| invalid(format!("client verification: {error}")))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(identity.chain, identity.key)
        .map_err(|error| {
            invalid(format!(
                "the server certificate and key do not go together: {error}"
            ))
        })?;
    config.alpn_protocols = alpn;
    Ok(Arc::new(config))
}
