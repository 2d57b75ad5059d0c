//! Certificates for tests, made fresh on every run (feature `testing`): a private CA, server
//! certificates for given names (valid, or expired), client certificates. Nothing here is ever
//! written to the repository; private keys live in memory or in a test's temporary directory.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};

use crate::Identity;

/// A throwaway certificate authority.
pub struct TestCa {
    certificate: Certificate,
    key: KeyPair,
}

/// A certificate and its key, as PEM texts.
#[derive(Debug, Clone)]
pub struct TestCert {
    /// The certificate (one PEM block).
    pub cert_pem: String,
    /// Its private key (PKCS#8 PEM).
    pub key_pem: String,
}

impl TestCa {
    /// A new CA, named `name`.
    pub fn new(name: &str) -> TestCa {
        let key = KeyPair::generate().expect("generate a CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let certificate = params.self_signed(&key).expect("self-sign the CA");
        TestCa { certificate, key }
    }

    /// The CA's certificate (what a peer adds to its trusted roots).
    pub fn cert_pem(&self) -> String {
        self.certificate.pem()
    }

    fn issue(&self, names: &[&str], client: bool, expired: bool) -> TestCert {
        let key = KeyPair::generate().expect("generate a key");
        let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
        let mut params = CertificateParams::new(names.clone()).expect("certificate params");
        if let Some(first) = names.first() {
            params.distinguished_name.push(DnType::CommonName, first);
        }
        params.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        if expired {
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        }
        let certificate = params
            .signed_by(&key, &self.certificate, &self.key)
            .expect("sign a certificate");
        TestCert {
            cert_pem: certificate.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// A server certificate for `names` (DNS names or IP addresses), valid now.
    pub fn server(&self, names: &[&str]) -> TestCert {
        self.issue(names, false, false)
    }

    /// A server certificate for `names` that expired in 2001.
    pub fn expired_server(&self, names: &[&str]) -> TestCert {
        self.issue(names, false, true)
    }

    /// A client certificate for `name`.
    pub fn client(&self, name: &str) -> TestCert {
        self.issue(&[name], true, false)
    }
}

impl TestCert {
    /// As an [`Identity`].
    pub fn identity(&self) -> Identity {
        Identity::from_pem(self.cert_pem.as_bytes(), self.key_pem.as_bytes())
            .expect("a generated certificate parses")
    }

    /// Writes `<stem>.crt` and `<stem>.key` into `dir` (the key readable by its owner only);
    /// returns their paths.
    pub fn write_to(&self, dir: &Path, stem: &str) -> (PathBuf, PathBuf) {
        use std::os::unix::fs::PermissionsExt;
        let cert = dir.join(format!("{stem}.crt"));
        let key = dir.join(format!("{stem}.key"));
        std::fs::write(&cert, &self.cert_pem).expect("write the certificate");
        std::fs::write(&key, &self.key_pem).expect("write the key");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
            .expect("chmod 600 the key");
        (cert, key)
    }
}

/// A fresh, empty directory under the system's temporary directory, for a test's certificate
/// files; removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates it; `label` shows in its name.
    pub fn new(label: &str) -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "brigade-tls-{label}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create a temporary directory");
        TempDir(path)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
