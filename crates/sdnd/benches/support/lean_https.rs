//! A synchronous HTTPS/1.1 client for latency benchmarks: one keep-alive connection, rustls
//! on the calling thread, no runtime. A request costs the server's time and the wire, not a
//! client runtime's thread hops (reqwest's blocking client hands every request to a thread of
//! its own and back: two wake-ups per request, which on this 2-core VM cost about as much as
//! the server's whole request path).
//!
//! Only for loopback servers with a test certificate: it accepts any certificate.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};

/// Accepts the test server's self-signed certificate (and any other: loopback only).
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
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

pub struct LeanClient {
    stream: BufReader<StreamOwned<ClientConnection, TcpStream>>,
    host: String,
    authorization: String,
}

impl LeanClient {
    /// Connects to `base` (`https://127.0.0.1:PORT`) and sends `authorization` with every request.
    pub fn connect(base: &str, authorization: &str) -> LeanClient {
        let host = base
            .strip_prefix("https://")
            .expect("an https:// base URL")
            .trim_end_matches('/')
            .to_string();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth();
        let tcp = TcpStream::connect(&host).expect("connect to the server");
        tcp.set_nodelay(true).unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let tls = ClientConnection::new(Arc::new(config), name).unwrap();
        LeanClient {
            stream: BufReader::new(StreamOwned::new(tls, tcp)),
            host,
            authorization: authorization.to_string(),
        }
    }

    /// Sends one request (a form body when `form` is given) and returns the status and body.
    pub fn request(&mut self, method: &str, path: &str, form: Option<&str>) -> (u16, Vec<u8>) {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\n",
            self.host, self.authorization
        );
        let body = form.unwrap_or("");
        if form.is_some() {
            head.push_str(&format!(
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        head.push_str("\r\n");
        head.push_str(body);
        let stream = self.stream.get_mut();
        stream.write_all(head.as_bytes()).expect("send the request");
        stream.flush().unwrap();
        self.read_response()
    }

    fn read_response(&mut self) -> (u16, Vec<u8>) {
        let mut line = String::new();
        self.stream
            .read_line(&mut line)
            .expect("read the status line");
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {line:?}"));
        let mut length = None;
        loop {
            line.clear();
            self.stream.read_line(&mut line).expect("read a header");
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse::<usize>().ok();
                }
            }
        }
        let mut body = vec![0; length.expect("a response with a Content-Length")];
        self.stream.read_exact(&mut body).expect("read the body");
        (status, body)
    }
}
