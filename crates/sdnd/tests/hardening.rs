//! What a local user or an unauthenticated client can do to a server: each test here failed
//! before its fix (a readable store, half-sent requests held open forever, unbounded login
//! floods, lock details to callers without the privilege, IPAM and DNS credentials in any
//! GET, 400s before 401s).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Client, Server, SDND};

const SDN: &str = "/api2/json/cluster/sdn";
const PASSWORD: &str = "correct horse battery staple";

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn admin(data_dir: &std::path::Path, args: &[&str], stdin: Option<&str>) {
    let mut child = Command::new(SDND)
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .args(common::store_args())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success(), "sdnd {args:?}");
}

#[test]
fn the_store_is_private_from_the_first_instant() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("data");
    let server = Server::start(&dir);
    server.client("ci").get(SDN, &[]).ok();
    assert_eq!(mode(&dir), 0o700);
    for name in ["sdnd.db", "sdnd.db-wal", "sdnd.db-shm", "sdnd-key.pem"] {
        let path = dir.join(name);
        if path.exists() {
            assert_eq!(mode(&path) & 0o077, 0, "{name} is readable by others: {:o}", mode(&path));
        }
    }
}

#[test]
fn an_existing_readable_installation_is_corrected_and_a_writable_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(Server::start(dir.path()));
    // The TLS key is there on every store; the SQLite file only on the embedded one.
    let private: Vec<_> =
        ["sdnd-key.pem", "sdnd.db"].iter().map(|name| dir.path().join(name)).filter(|path| path.exists()).collect();
    assert!(!private.is_empty());
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    for path in &private {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    drop(Server::start(dir.path()));
    assert_eq!(mode(dir.path()), 0o700);
    for path in &private {
        assert_eq!(mode(path), 0o600, "{}", path.display());
    }

    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = Command::new(SDND)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("writable by other users"), "{stderr}");
}

/// A TLS connection that trusts any certificate, for speaking raw HTTP/1.1 to the server.
fn raw_tls(base: &str) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    #[derive(Debug)]
    struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);
    impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
        fn verify_server_cert(
            &self,
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &[rustls::pki_types::CertificateDer<'_>],
            _: &rustls::pki_types::ServerName<'_>,
            _: &[u8],
            _: rustls::pki_types::UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            _: &[u8],
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
        }
        fn verify_tls13_signature(
            &self,
            _: &[u8],
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    let addr = base.trim_start_matches("https://");
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    rustls::StreamOwned::new(conn, tcp)
}

/// Whether the server ends the connection (EOF or reset) before the read times out.
fn closed_by_server(stream: &mut rustls::StreamOwned<rustls::ClientConnection, TcpStream>) -> bool {
    let mut buf = [0u8; 256];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(err) if matches!(err.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => return false,
            Err(_) => return true,
        }
    }
}

#[test]
fn a_half_sent_request_is_closed_after_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), &["--header-timeout", "1"]);
    let mut stream = raw_tls(&server.base);
    stream.write_all(b"GET /api2/json/version HTTP/1.1\r\nHost: localhost\r\n").unwrap();
    stream.flush().unwrap();
    assert!(closed_by_server(&mut stream), "a request whose headers never end must not hold its connection");
}

#[test]
fn connections_past_the_cap_are_closed_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), &["--max-connections", "3", "--header-timeout", "2"]);
    let client = server.client("ci");
    let mut idle: Vec<_> = (0..3)
        .map(|_| {
            let mut stream = raw_tls(&server.base);
            // Finish the handshake (a complete request keeps the connection open afterwards).
            stream.write_all(b"GET /api2/json/version HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
            let mut first = [0u8; 12];
            stream.read_exact(&mut first).unwrap();
            stream
        })
        .collect();
    let mut extra = raw_tls(&server.base);
    let refused = extra.write_all(b"GET /api2/json/version HTTP/1.1\r\nHost: localhost\r\n\r\n").is_err() || closed_by_server(&mut extra);
    assert!(refused, "a fourth connection must be closed while three are open");
    // The idle ones time out after 2 s; then the server answers again.
    for stream in &mut idle {
        assert!(closed_by_server(stream), "an idle kept-alive connection ends after the header timeout");
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let reply = client.get("/api2/json/version", &[]);
        if reply.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the server never served again: {reply:?}");
    }
}

fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn login_from(base: &str, local: &str, user: &str, password: &str) -> (u16, Option<String>) {
    let http = reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .local_address(local.parse::<std::net::IpAddr>().unwrap())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let response = http
        .post(format!("{base}/api2/json/access/ticket"))
        .form(&[("username", user), ("password", password)])
        .send()
        .unwrap();
    let retry = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
    (response.status().as_u16(), retry)
}

#[test]
fn a_login_flood_is_throttled_costs_bounded_memory_and_spares_everyone_else() {
    let dir = tempfile::tempdir().unwrap();
    admin(dir.path(), &["user", "add", "alice@pve", "--password-stdin"], Some(PASSWORD));
    let server = Server::start(dir.path());
    let client = server.client("ci");
    let pid = server.child.as_ref().unwrap().id();
    let base = server.base.clone();

    let stop = Arc::new(AtomicBool::new(false));
    let flooders: Vec<_> = (0..7)
        .map(|i| {
            let (base, stop) = (base.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut statuses = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    statuses.push(login_from(&base, "127.0.0.1", &format!("victim{}@pve", i % 2), "wrong"));
                }
                statuses
            })
        })
        .collect();
    let mut peak = 0;
    for _ in 0..20 {
        // An authenticated request is still answered during the flood.
        client.get("/api2/json/version", &[]).ok();
        peak = peak.max(resident_kib(pid));
        std::thread::sleep(Duration::from_millis(200));
    }
    // The real alice, from another address, is not locked out by the flood from 127.0.0.1.
    assert_eq!(login_from(&base, "127.0.0.2", "alice@pve", PASSWORD).0, 200);
    stop.store(true, Ordering::SeqCst);
    let statuses: Vec<(u16, Option<String>)> = flooders.into_iter().flat_map(|t| t.join().unwrap()).collect();
    assert!(statuses.iter().all(|(status, _)| [401, 429, 503].contains(status)), "{statuses:?}");
    let throttled: Vec<_> = statuses.iter().filter(|(status, _)| *status == 429).collect();
    assert!(!throttled.is_empty(), "the flood was never throttled");
    assert!(throttled.iter().all(|(_, retry)| retry.as_deref().is_some_and(|s| s.parse::<u64>().is_ok())), "429 without Retry-After");
    assert!(peak < 256 * 1024, "server grew to {peak} KiB during the flood");
}

#[test]
fn callers_without_the_privilege_learn_nothing_of_the_lock_or_the_parameters() {
    let dir = tempfile::tempdir().unwrap();
    admin(dir.path(), &["user", "add", "mallory@pve", "--password-stdin"], Some(PASSWORD));
    let server = Server::start(dir.path());
    let root = server.client("root");
    root.post(&format!("{SDN}/zones"), &[("zone", "z1"), ("type", "simple")]).ok();
    root.put(SDN, &[]).ok();
    root.post(&format!("{SDN}/lock"), &[("comment", "secret-migration")]).ok();

    let mallory = Client::new(&server.base, Some(common::add_token(dir.path(), "mallory@pve", "tk")));
    let attempts = [
        mallory.post(&format!("{SDN}/zones"), &[("zone", "z2"), ("type", "simple")]),
        mallory.request("PUT", &format!("{SDN}/zones/z1"), &[("mtu", "1400")]),
        mallory.delete(&format!("{SDN}/zones/z1"), &[]),
        mallory.delete(&format!("{SDN}/zones/nosuch"), &[]),
        mallory.post(&format!("{SDN}/vnets"), &[("vnet", "v1"), ("zone", "z1")]),
        mallory.get(&format!("{SDN}/lock"), &[]),
        mallory.put(SDN, &[]),
        mallory.post(&format!("{SDN}/zones"), &[("zone", "!!bad!!"), ("type", "nonsense")]),
    ];
    for reply in attempts {
        assert_eq!(reply.status, 403, "{reply:?}");
        let text = reply.body.to_string();
        assert!(!text.contains("root@pam") && !text.contains("secret-migration"), "{text}");
    }

    // Not even authenticated: 401 before any parameter is looked at.
    let anonymous = Client::new(&server.base, None);
    assert_eq!(anonymous.post(&format!("{SDN}/zones"), &[("zone", "!!bad!!")]).status, 401);
    let forged = Client::new(&server.base, Some("PVEAPIToken=root@pam!x=nope".into()));
    assert_eq!(forged.get(&format!("{SDN}/zones"), &[("pending", "maybe")]).status, 401);
}

/// Every GET route of the API (from the route table the server dispatches on), its
/// placeholders filled with every value given for them (others with `x`).
fn every_get_path(values: &[(&str, &[&str])]) -> Vec<String> {
    let mut paths = Vec::new();
    for route in sdnd::api::routes().iter().filter(|r| r.method == hyper::Method::GET) {
        let mut filled = vec![String::new()];
        for segment in route.pattern.split('/').filter(|s| !s.is_empty()) {
            let choices: Vec<String> = match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => values
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map_or(vec!["x".to_string()], |(_, v)| v.iter().map(|v| v.to_string()).collect()),
                None => vec![segment.to_string()],
            };
            filled = filled.iter().flat_map(|p| choices.iter().map(move |c| format!("{p}/{c}"))).collect();
        }
        paths.extend(filled);
    }
    paths
}

#[test]
fn ipam_and_dns_credentials_are_never_returned_by_a_get() {
    let dir = tempfile::tempdir().unwrap();
    admin(dir.path(), &["user", "add", "audrey@pve", "--password-stdin"], Some(PASSWORD));
    admin(dir.path(), &["acl", "modify", "/", "--users", "audrey@pve", "--roles", "PVEAuditor"], None);
    let server = Server::start(dir.path());
    let root = server.client("root");
    // Each is checked against its service before it is written: a loopback one.
    let services = common::services::Services::start();
    root.post(&format!("{SDN}/ipams"), &[("ipam", "nb"), ("type", "netbox"), ("url", &services.netbox("netbox")), ("token", "NETBOX-SECRET")])
        .ok();
    root.post(&format!("{SDN}/dns"), &[("dns", "pdns"), ("type", "powerdns"), ("url", &services.powerdns("pdns")), ("key", "PDNS-SECRET")])
        .ok();
    let php = [("ipam", "php"), ("type", "phpipam"), ("url", &services.phpipam("php")), ("section", "1"), ("token", "PHPIPAM-SECRET")];
    // A change set can't create it (its service can't be asked inside the set's transaction),
    // and its refusal doesn't echo the credential either.
    let steps = serde_json::json!([{"method": "POST", "path": "/cluster/sdn/ipams", "params": serde_json::Map::from_iter(
        php.iter().map(|(k, v)| (k.to_string(), serde_json::json!(v))))}]);
    let refused = root.post(&format!("{SDN}/changes"), &[("steps", &steps.to_string())]).expect(409);
    assert!(!refused.body.to_string().contains("SECRET"), "{}", refused.body);
    root.post(&format!("{SDN}/ipams"), &php).ok();
    // Objects using them, applied (a version, a task, its log, audit records), then a pending change.
    root.post(&format!("{SDN}/zones"), &[("zone", "z1"), ("type", "simple"), ("ipam", "pve")])
        .ok();
    root.post(&format!("{SDN}/vnets"), &[("vnet", "v1"), ("zone", "z1")]).ok();
    root.post(&format!("{SDN}/vnets/v1/subnets"), &[("subnet", "10.0.0.0/24"), ("type", "subnet"), ("gateway", "10.0.0.1")]).ok();
    let upid = root.put(SDN, &[]).ok().as_str().unwrap().to_string();
    assert_eq!(root.wait_task(&upid), "OK");
    root.put(&format!("{SDN}/vnets/v1"), &[("alias", "changed")]).ok();
    // An update without the credential keeps it; the required one can't be deleted.
    root.put(&format!("{SDN}/ipams/nb"), &[("url", &services.netbox("netbox2"))]).ok();
    let refused = root.put(&format!("{SDN}/ipams/nb"), &[("delete", "token")]).expect(400);
    assert!(refused.body["errors"]["delete"].to_string().contains("token"), "{}", refused.body);

    let auditor = Client::new(&server.base, Some(common::add_token(dir.path(), "audrey@pve", "tk")));
    let values: &[(&str, &[&str])] = &[
        ("node", &[sdnd_testkit::NODE]),
        ("ipam", &["nb", "php", "pve"]),
        ("dns", &["pdns"]),
        ("zone", &["z1"]),
        ("vnet", &["v1"]),
        ("subnet", &["z1-10.0.0.0-24"]),
        ("version", &["1"]),
        ("upid", &[&upid]),
        ("userid", &["root@pam", "audrey@pve"]),
        ("tokenid", &["root", "tk"]),
    ];
    let views: &[&[(&str, &str)]] = &[&[], &[("pending", "1")], &[("running", "1")], &[("to", "pending")], &[("limit", "500")]];
    let mut answered = 0;
    for path in every_get_path(values) {
        for client in [&root, &auditor] {
            for view in views {
                let reply = client.get(&format!("/api2/json{path}"), view);
                let seen = reply.body.to_string();
                assert!(!seen.contains("SECRET"), "GET {path} {view:?} ({}): {seen}", reply.status);
                answered += usize::from(reply.status == 200);
            }
        }
    }
    assert!(answered > 100, "the sweep reached the routes: {answered} answers");
    // The rest is shown, and the credentials are kept for the plugins, in the store and in a
    // backup with secrets.
    for path in [format!("{SDN}/ipams"), format!("{SDN}/ipams/nb"), format!("{SDN}/dns"), format!("{SDN}/dns/pdns")] {
        for client in [&root, &auditor] {
            let seen = client.get(&path, &[]).ok();
            assert!(seen.to_string().contains("127.0.0.1"), "{path}: the rest is still shown: {seen}");
        }
    }
    assert_eq!(root.get(&format!("{SDN}/ipams/nb"), &[]).ok()["url"], services.netbox("netbox2"));
    // The update was checked with the credential kept.
    assert!(services.requests().contains(&"GET /netbox2/api/ipam/aggregates/".to_string()), "{:?}", services.requests());
    let backup = dir.path().join("backup.json");
    admin(dir.path(), &["backup", "--to", backup.to_str().unwrap(), "--with-secrets"], None);
    let text = std::fs::read_to_string(&backup).unwrap();
    for secret in ["NETBOX-SECRET", "PHPIPAM-SECRET", "PDNS-SECRET"] {
        assert!(text.contains(secret), "{secret} is kept");
    }
}
