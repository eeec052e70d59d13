//! TLS: the operator's certificate or a self-signed one kept in the data dir.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

/// A loaded certificate chain and key, and the leaf certificate's SHA-256 fingerprint.
pub struct Identity {
    pub config: Arc<rustls::ServerConfig>,
    pub fingerprint: String,
}

/// Loads `cert`/`key`, or creates a self-signed pair in `data_dir` on first start.
pub fn load_or_create(data_dir: &Path, cert: Option<&Path>, key: Option<&Path>) -> Result<Identity, String> {
    let (cert_path, key_path) = match (cert, key) {
        (Some(cert), Some(key)) => (cert.to_path_buf(), key.to_path_buf()),
        (None, None) => {
            let cert = data_dir.join("sdnd-cert.pem");
            let key = data_dir.join("sdnd-key.pem");
            if !cert.exists() || !key.exists() {
                create_self_signed(&cert, &key)?;
            }
            (cert, key)
        }
        _ => return Err("--cert and --key must be given together".into()),
    };
    let certs: Vec<CertificateDer<'static>> = {
        let pem = std::fs::read(&cert_path).map_err(|e| format!("reading {}: {e}", cert_path.display()))?;
        rustls_pemfile::certs(&mut pem.as_slice())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("parsing {}: {e}", cert_path.display()))?
    };
    let leaf = certs.first().ok_or_else(|| format!("{} holds no certificate", cert_path.display()))?;
    let fingerprint = fingerprint(leaf.as_ref());
    let key: PrivateKeyDer<'static> = {
        let pem = std::fs::read(&key_path).map_err(|e| format!("reading {}: {e}", key_path.display()))?;
        rustls_pemfile::private_key(&mut pem.as_slice())
            .map_err(|e| format!("parsing {}: {e}", key_path.display()))?
            .ok_or_else(|| format!("{} holds no private key", key_path.display()))?
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("certificate and key don't fit: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Identity { config: Arc::new(config), fingerprint })
}

/// `AA:BB:...` SHA-256 of a DER certificate, the form PVE shows and clients pin.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

fn create_self_signed(cert_path: &Path, key_path: &Path) -> Result<(), String> {
    let hostname = crate::clock::hostname();
    let names = vec![hostname, "localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
    let certified = rcgen::generate_simple_self_signed(names).map_err(|e| format!("creating a certificate: {e}"))?;
    crate::fsutil::write_atomic(key_path, certified.signing_key.serialize_pem().as_bytes(), 0o600)
        .map_err(|e| format!("writing {}: {e}", key_path.display()))?;
    crate::fsutil::write_atomic(cert_path, certified.cert.pem().as_bytes(), 0o644)
        .map_err(|e| format!("writing {}: {e}", cert_path.display()))?;
    Ok(())
}
