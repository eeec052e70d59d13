//! A loopback stand-in for the external services an IPAM or DNS object names (NetBox,
//! phpIPAM, PowerDNS), answering only the check sdnd makes before such an object is created
//! or changed (the reference's `on_update_hook`): NetBox's `GET .../ipam/aggregates/`,
//! phpIPAM's `GET .../sections/N`, PowerDNS's `GET` of its url (`.../servers/NAME`). For the
//! tests that are about something else than the services: every object they create points
//! here, under a path of its own (`url("netbox2")`), so no test reaches out of the machine.
//! Everything else is a 404; the requests are recorded.

use std::io::BufReader;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

pub struct Services {
    port: u16,
    /// "GET /path" of every request, in order.
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Services {
    pub fn start() -> Services {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let stop: Arc<AtomicBool> = Arc::default();
        let seen = requests.clone();
        super::http_stub::accept_until(listener, stop.clone(), move |stream| serve(stream, &seen));
        Services {
            port,
            requests,
            stop,
        }
    }

    /// A NetBox url (`http://127.0.0.1:PORT/NAME/api`); `name` tells objects apart.
    pub fn netbox(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/{name}/api", self.port)
    }

    /// A phpIPAM url (`.../NAME/api/sdnd`, the app id last, as phpIPAM's).
    pub fn phpipam(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/{name}/api/sdnd", self.port)
    }

    /// A PowerDNS url (`.../NAME/api/v1/servers/localhost`).
    pub fn powerdns(&self, name: &str) -> String {
        format!(
            "http://127.0.0.1:{}/{name}/api/v1/servers/localhost",
            self.port
        )
    }

    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        super::http_stub::wake(self.port);
    }
}

/// The answer to `method path`, as the service would give it.
fn answer(method: &str, path: &str) -> (u16, String) {
    let last = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    let tail = path.trim_end_matches('/').rsplit('/').nth(1).unwrap_or("");
    match method {
        "GET" if path.ends_with("/ipam/aggregates/") => (
            200,
            r#"{"count":0,"next":null,"previous":null,"results":[]}"#.into(),
        ),
        "GET" if tail == "sections" && last.parse::<u32>().is_ok() => (
            200,
            format!(r#"{{"code":200,"success":true,"data":{{"id":"{last}","name":"Customers"}}}}"#),
        ),
        "GET" if tail == "servers" => (
            200,
            format!(r#"{{"type":"Server","id":"{last}","daemon_type":"authoritative"}}"#),
        ),
        _ => (404, r#"{"detail":"Not found."}"#.into()),
    }
}

fn serve(stream: TcpStream, seen: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    while let Some(request) = super::http_stub::read_request(&mut reader) {
        seen.lock().unwrap().push(format!("{} {}", request.method, request.target));
        let (status, text) = answer(&request.method, &request.target);
        if !super::http_stub::write_response(&mut writer, status, &text) {
            return;
        }
    }
}
