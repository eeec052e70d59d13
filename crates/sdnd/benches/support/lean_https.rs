//! A synchronous HTTPS/1.1 client for latency benchmarks: one keep-alive connection, rustls
//! on the calling thread, no runtime. A request costs the server's time and the wire, not a
//! client runtime's thread hops (reqwest's blocking client hands every request to a thread of
//! its own and back: two wake-ups per request, which on this 2-core VM cost about as much as
//! the server's whole request path).
//!
//! It trusts exactly the server's certificate, by its fingerprint (sdnd's own pinning, as
//! for an external IPAM).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};

pub struct LeanClient {
    stream: BufReader<StreamOwned<ClientConnection, TcpStream>>,
    host: String,
    authorization: String,
}

impl LeanClient {
    /// Connects to `base` (`https://127.0.0.1:PORT`), whose certificate has the SHA-256
    /// `fingerprint` (`AA:BB:...`), and sends `authorization` with every request.
    pub fn connect(base: &str, fingerprint: &str, authorization: &str) -> LeanClient {
        let host = base.strip_prefix("https://").expect("an https:// base URL").trim_end_matches('/').to_string();
        let pinned = sdnd::ipam::pin::parse(fingerprint).expect("the server's fingerprint");
        let config = sdnd::ipam::pin::client_config(pinned).expect("a TLS client configuration");
        let tcp = TcpStream::connect(&host).expect("connect to the server");
        tcp.set_nodelay(true).unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let tls = ClientConnection::new(Arc::new(config), name).unwrap();
        LeanClient { stream: BufReader::new(StreamOwned::new(tls, tcp)), host, authorization: authorization.to_string() }
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
