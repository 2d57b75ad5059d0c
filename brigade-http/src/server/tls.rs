//! HTTPS on the server: [`ServerTls`], the certificate and key a [`Server`](crate::Server)
//! presents, swappable while the server runs (Kestrel's `ServerCertificateSelector`, reduced to
//! "reload the files").
//!
//! Each accepted connection takes the configuration current at its accept; a reload changes
//! what the next connections get and leaves open ones as they are. ALPN offers `h2` and
//! `http/1.1` on the one port (`http/1.1` alone for an `http1_only` server).
//!
//! # Invariants
//! - A reload that fails (a missing file, a key that does not match the certificate) changes
//!   nothing: the server keeps presenting the previous certificate.
//! - The TLS handshake is bounded by the server's header-read timeout (10 s by default): a
//!   client that opens TCP and never sends its ClientHello loses its slot then (see
//!   `connection`).

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};

use brigade_tls::rustls::ServerConfig;
use brigade_tls::Identity;

/// The TLS side of a [`Server`](crate::Server): certificate chain and key, reloadable. Clone
/// it to keep a handle for [`reload_pem_files`](ServerTls::reload_pem_files) after handing it
/// to [`Server::tls`](crate::Server::tls); clones share the configuration.
///
/// ```no_run
/// # brigade::block_on(async {
/// use brigade_http::server::ServerTls;
/// let tls = ServerTls::from_pem_files("cert.pem", "key.pem")?;
/// let server = brigade_http::Server::bind("0.0.0.0:8443").await?.tls(tls.clone());
/// // ... later, after the certificate was renewed on disk:
/// tls.reload_pem_files("cert.pem", "key.pem")?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct ServerTls {
    configs: Arc<Mutex<Configs>>,
}

/// The two ALPN flavours of one identity.
#[derive(Clone)]
struct Configs {
    /// Offers `h2`, then `http/1.1`.
    both: Arc<ServerConfig>,
    /// Offers `http/1.1` only.
    http1: Arc<ServerConfig>,
}

impl Configs {
    fn new(identity: Identity) -> io::Result<Configs> {
        let both = brigade_tls::server_config(
            identity.clone(),
            vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            None,
        )?;
        let http1 = brigade_tls::server_config(identity, vec![b"http/1.1".to_vec()], None)?;
        Ok(Configs { both, http1 })
    }
}

impl ServerTls {
    /// From PEM files: the certificate chain (leaf first) and its private key (PKCS#8,
    /// PKCS#1 or SEC1). A missing file, a file without a certificate or key, or a key that
    /// does not go with the certificate is an error that names the file.
    pub fn from_pem_files(cert: impl AsRef<Path>, key: impl AsRef<Path>) -> io::Result<ServerTls> {
        ServerTls::from_identity(Identity::from_pem_files(cert, key)?)
    }

    /// From PEM texts.
    pub fn from_pem(chain_pem: &[u8], key_pem: &[u8]) -> io::Result<ServerTls> {
        ServerTls::from_identity(Identity::from_pem(chain_pem, key_pem)?)
    }

    /// From a parsed identity.
    pub fn from_identity(identity: Identity) -> io::Result<ServerTls> {
        Ok(ServerTls {
            configs: Arc::new(Mutex::new(Configs::new(identity)?)),
        })
    }

    /// Swaps in a new certificate and key from PEM files, without a restart: connections
    /// accepted from now on present it. On error nothing changes.
    pub fn reload_pem_files(
        &self,
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> io::Result<()> {
        let configs = Configs::new(Identity::from_pem_files(cert, key)?)?;
        *self.lock() = configs;
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Configs> {
        // Only two Arcs live under the lock; a panic cannot leave them torn.
        self.configs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The configuration for a connection accepted now.
    pub(crate) fn current(&self, http1_only: bool) -> Arc<ServerConfig> {
        let configs = self.lock();
        if http1_only {
            Arc::clone(&configs.http1)
        } else {
            Arc::clone(&configs.both)
        }
    }
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls").finish_non_exhaustive()
    }
}
