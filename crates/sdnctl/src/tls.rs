//! Certificate pinning: PVE clusters usually run self-signed certificates, so clients pin the
//! SHA-256 fingerprint of the server's end-entity certificate instead of trusting a CA; or,
//! for certificates from a public CA (ACME), the system's CA store.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

/// The SHA-256 fingerprint of a DER certificate, written `AA:BB:...` as PVE shows it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of a DER-encoded certificate.
    pub fn of(der: &[u8]) -> Self {
        Fingerprint(Sha256::digest(der).into())
    }
}

impl FromStr for Fingerprint {
    type Err = String;

    /// Accepts `AA:BB:..` (any case) or 64 plain hex digits.
    fn from_str(text: &str) -> Result<Self, String> {
        let hex_digits: String = text.trim().chars().filter(|c| *c != ':').collect();
        let mut bytes = [0u8; 32];
        match hex::decode_to_slice(&hex_digits, &mut bytes) {
            Ok(()) => Ok(Fingerprint(bytes)),
            Err(_) => Err(format!(
                "'{text}' is not a SHA-256 fingerprint: expected 32 hex bytes like AB:12:... (sdnd prints it at start)"
            )),
        }
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{byte:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// How a client decides to trust a server's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// Only a server whose end-entity certificate has this fingerprint.
    Pinned(Fingerprint),
    /// Any certificate (the operator said `insecure = true`). The handshake signature is still
    /// checked, so this only gives up on knowing *who* the server is.
    Insecure,
    /// A certificate for the remote's host name from a CA in the system's store
    /// (`system-ca = true`; `$SSL_CERT_FILE`, else the distribution's bundle), as for ACME
    /// certificates.
    SystemCa,
}

/// Where distributions keep the bundle of trusted CA certificates.
const CA_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The system's trusted CA certificates: `$SSL_CERT_FILE` if set, else the first bundle found.
fn system_roots() -> Result<rustls::RootCertStore, String> {
    let path = match std::env::var_os("SSL_CERT_FILE").filter(|v| !v.is_empty()) {
        Some(path) => std::path::PathBuf::from(path),
        None => CA_BUNDLES
            .iter()
            .map(std::path::PathBuf::from)
            .find(|p| p.exists())
            .ok_or_else(|| format!("system-ca: no CA bundle found (looked for {}; set SSL_CERT_FILE)", CA_BUNDLES.join(", ")))?,
    };
    let pem = std::fs::read(&path).map_err(|e| format!("system-ca: {}: {e}", path.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        let cert = cert.map_err(|e| format!("system-ca: {}: {e}", path.display()))?;
        // A certificate rustls can't use is skipped, as the system's own tools skip it.
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(format!("system-ca: {} holds no usable CA certificate", path.display()));
    }
    Ok(roots)
}

/// A verifier that compares the end-entity certificate with the pinned fingerprint and checks
/// the handshake signature against that certificate's key.
#[derive(Debug)]
struct PinVerifier {
    trust: Trust,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.trust {
            Trust::Insecure => Ok(ServerCertVerified::assertion()),
            // Verified by rustls's own WebPKI verifier (see `client_config`), never here.
            Trust::SystemCa => Err(rustls::Error::General("system-ca is verified by the WebPKI verifier".into())),
            Trust::Pinned(expected) => {
                let actual = Fingerprint::of(end_entity.as_ref());
                if actual == expected {
                    Ok(ServerCertVerified::assertion())
                } else {
                    Err(rustls::Error::General(format!(
                        "certificate fingerprint mismatch: the server presented {actual}, the remote pins {expected}"
                    )))
                }
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// A rustls client configuration that trusts servers as `trust` says.
pub fn client_config(trust: Trust) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    if trust == Trust::SystemCa {
        return Ok(rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| format!("TLS setup: {e}"))?
            .with_root_certificates(system_roots()?)
            .with_no_client_auth());
    }
    let verifier = Arc::new(PinVerifier { trust, provider: provider.clone() });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS setup: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_parses_both_forms_and_prints_pve_form() {
        let colons = "ab:".repeat(31) + "CD";
        let fp: Fingerprint = colons.parse().unwrap();
        assert_eq!(fp.to_string(), "AB:".repeat(31) + "CD");
        let plain: Fingerprint = ("ab".repeat(31) + "cd").parse().unwrap();
        assert_eq!(plain, fp);
        assert!("AB:CD".parse::<Fingerprint>().is_err());
        assert!(("zz".repeat(32)).parse::<Fingerprint>().is_err());
    }

    #[test]
    fn pin_verifier_refuses_other_certificates() {
        let cert = CertificateDer::from(vec![1u8, 2, 3]);
        let name = ServerName::try_from("localhost").unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let good = PinVerifier { trust: Trust::Pinned(Fingerprint::of(&[1, 2, 3])), provider: provider.clone() };
        assert!(good.verify_server_cert(&cert, &[], &name, &[], UnixTime::now()).is_ok());
        let bad = PinVerifier { trust: Trust::Pinned(Fingerprint::of(&[9])), provider };
        let err = bad.verify_server_cert(&cert, &[], &name, &[], UnixTime::now()).unwrap_err();
        assert!(err.to_string().contains("fingerprint mismatch"), "{err}");
    }
}
