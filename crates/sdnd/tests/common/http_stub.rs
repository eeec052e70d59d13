//! The plumbing of the tests' loopback stand-ins for HTTP services (NetBox, phpIPAM,
//! PowerDNS): accepting connections until stopped, reading one HTTP/1.1 request of a
//! keep-alive connection, writing a JSON answer. What each stand-in answers is its own.

use std::io::{BufRead, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// One request as a stand-in received it.
pub struct Received {
    pub method: String,
    /// The request target: path and query.
    pub target: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Received {
    /// The value of header `name` (lower case), empty if absent.
    pub fn header(&self, name: &str) -> &str {
        self.headers.iter().find(|(n, _)| n == name).map_or("", |(_, v)| v.as_str())
    }
}

/// The next request on a connection; `None` when the client closed it or sent garbage.
pub fn read_request(reader: &mut impl BufRead) -> Option<Received> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
    let length: usize = headers.iter().find(|(n, _)| n == "content-length").map_or(Some(0), |(_, v)| v.parse().ok())?;
    let mut body = vec![0; length.min(1 << 20)];
    reader.read_exact(&mut body).ok()?;
    Some(Received { method, target, headers, body: String::from_utf8(body).ok()? })
}

/// Writes a JSON answer (`text` as is; nothing for a 204); false when the client is gone.
pub fn write_response(writer: &mut impl Write, status: u16, text: &str) -> bool {
    let text = if status == 204 { "" } else { text };
    let reply = format!("HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}", text.len());
    writer.write_all(reply.as_bytes()).and_then(|()| writer.flush()).is_ok()
}

/// Serves every connection `listener` accepts on a thread of its own (reads time out after
/// 20 s), until `stop` is set and one more connection arrives (see [`wake`]).
pub fn accept_until(listener: TcpListener, stop: Arc<AtomicBool>, serve: impl Fn(TcpStream) + Clone + Send + 'static) {
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            let Ok(stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
            let serve = serve.clone();
            std::thread::spawn(move || serve(stream));
        }
    });
}

/// Stops an [`accept_until`] loop on `port` whose `stop` was set.
pub fn wake(port: u16) {
    let _ = TcpStream::connect(("127.0.0.1", port));
}
