//! Certificate pinning for the external IPAMs (and DNS servers), as the reference's
//! `fingerprint` property: the SHA-256 of the server's leaf certificate, `AA:BB:...`. With it
//! the client accepts exactly that certificate (a self-signed one included) and nothing else;
//! the handshake's signature is still checked against that certificate's key, so a server
//! that shows the certificate without holding its key is refused too.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

/// The words every mismatch's message contains (the API's errors carry them).
pub const MISMATCH: &str = "certificate fingerprint mismatch";

/// `text` (`AA:BB:...`, any case, as the configuration model admits it) as 32 bytes.
pub fn parse(text: &str) -> Result<[u8; 32], String> {
    let hex_digits: String = text.trim().chars().filter(|c| *c != ':').collect();
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(&hex_digits, &mut bytes)
        .map_err(|_| format!("'{text}' is not a SHA-256 fingerprint (32 hex bytes, AA:BB:...)"))?;
    Ok(bytes)
}

/// `AA:BB:...`, as PVE writes it.
pub fn format(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[derive(Debug)]
struct Pinned {
    expected: [u8; 32],
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let actual: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        if actual == self.expected {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "{MISMATCH}: the server presented {}, the configured fingerprint is {}",
                format(&actual),
                format(&self.expected)
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A TLS client configuration trusting exactly the certificate whose SHA-256 is `expected`.
pub fn client_config(expected: [u8; 32]) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(Pinned {
        expected,
        provider: provider.clone(),
    });
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|err| format!("TLS setup: {err}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pve_form_in_any_case_and_prints_it_upper() {
        let text = vec!["aB"; 32].join(":");
        let bytes = parse(&text).unwrap();
        assert_eq!(format(&bytes), vec!["AB"; 32].join(":"));
        assert!(parse("AB:CD").is_err());
        assert!(parse(&vec!["zz"; 32].join(":")).is_err());
    }
}
