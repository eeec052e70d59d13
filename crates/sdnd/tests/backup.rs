//! `sdnd backup` and `sdnd restore`: a snapshot taken while the server serves, restored into an
//! empty store, answers every GET as the original did (on the test store: SQLite, or etcd with
//! SDND_TEST_STORE=etcd); secrets stay out of a backup unless asked for.

mod common;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{store_args, Client, Server, SDND};
use serde_json::Value;

const SDN: &str = "/api2/json/cluster/sdn";

fn sdnd(
    args: &[&str],
    data_dir: &Path,
    store: &[String],
    stdin: Option<&str>,
) -> std::process::Output {
    let mut child = Command::new(SDND)
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .args(store)
        .env("SDND_LOG", "warn")
        .env("SDND_CONFIG", sdnd_testkit::NO_CONFIG)
        .env_remove("SDND_STORE")
        .env_remove("SDND_STORE_PREFIX")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

#[track_caller]
fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every GET path of the API document, placeholders filled with the objects the test made.
fn get_paths(client: &Client, upid: &str) -> Vec<String> {
    let doc = client.get("/api2/openapi.json", &[]).body;
    let values = [
        ("{userid}", "alice@pve"),
        ("{tokenid}", "ci"),
        ("{vnet}", "v1"),
        ("{zone}", "z1"),
        ("{subnet}", "z1-10.1.0.0-24"),
        ("{controller}", "ctl1"),
        ("{ipam}", "nb"),
        ("{dns}", "pdns"),
        ("{node}", "testnode"),
        ("{upid}", upid),
    ];
    let mut paths = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if item.get("get").is_none() || path == "/access/ticket" {
            continue;
        }
        let mut filled = path.clone();
        for (placeholder, value) in values {
            filled = filled.replace(placeholder, value);
        }
        if filled.contains('{') {
            continue; // fabrics: none configured, their lists are compared
        }
        paths.push(format!("/api2/json{filled}"));
    }
    paths
}

/// Fields of the serving machine rather than the store: when a node was last heard of, its
/// load (the agent measures it afresh with every heartbeat), and the fingerprint of the
/// certificate its API serves (the TLS key lives in the data dir).
fn normalized(mut value: Value) -> Value {
    match &mut value {
        Value::Object(map) => {
            for key in ["last-seen", "uptime", "ssl_fingerprint", "cpu", "mem", "maxmem", "maxcpu"] {
                if map.contains_key(key) {
                    map.insert(key.into(), Value::Null);
                }
            }
            for item in map.values_mut() {
                *item = normalized(item.take());
            }
        }
        Value::Array(items) => {
            for item in items {
                *item = normalized(item.take());
            }
        }
        _ => {}
    }
    value
}

#[test]
fn a_backup_taken_while_serving_restores_into_an_empty_store_answering_every_get_alike() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_args();
    let server = Server::start(dir.path());
    let client = server.client("ci");

    // A configuration with every kind of record: objects applied and pending, an IPAM with a
    // token, a DNS with a key, a user with a password, a custom role, ACLs, a task, the lock.
    ok(sdnd(
        &["user", "add", "alice@pve", "--password-stdin"],
        dir.path(),
        &store,
        Some("s3cretpassw0rd\n"),
    ));
    ok(sdnd(
        &["role", "add", "NetOps", "--privs", "SDN.Audit,SDN.Use"],
        dir.path(),
        &store,
        None,
    ));
    ok(sdnd(
        &[
            "acl",
            "modify",
            "/sdn/zones/z1",
            "--users",
            "alice@pve",
            "--roles",
            "NetOps",
        ],
        dir.path(),
        &store,
        None,
    ));
    // The IPAM and DNS server are checked against their service before they are written.
    let services = common::services::Services::start();
    client
        .post(
            &format!("{SDN}/ipams"),
            &[
                ("ipam", "nb"),
                ("type", "netbox"),
                ("url", &services.netbox("nb")),
                ("token", "NETBOX-T0KEN-1234"),
            ],
        )
        .ok();
    client
        .post(
            &format!("{SDN}/dns"),
            &[
                ("dns", "pdns"),
                ("type", "powerdns"),
                ("url", &services.powerdns("pdns")),
                ("key", "PDNS-K3Y-5678"),
            ],
        )
        .ok();
    client
        .post(
            &format!("{SDN}/controllers"),
            &[
                ("controller", "ctl1"),
                ("type", "evpn"),
                ("asn", "65000"),
                ("peers", "192.168.0.1"),
            ],
        )
        .ok();
    client
        .post(
            &format!("{SDN}/zones"),
            &[("zone", "z1"), ("type", "simple"), ("ipam", "pve")],
        )
        .ok();
    client
        .post(&format!("{SDN}/vnets"), &[("vnet", "v1"), ("zone", "z1")])
        .ok();
    client
        .post(
            &format!("{SDN}/vnets/v1/subnets"),
            &[
                ("subnet", "10.1.0.0/24"),
                ("type", "subnet"),
                ("gateway", "10.1.0.1"),
            ],
        )
        .ok();
    let upid = client.put(SDN, &[]).ok().as_str().unwrap().to_string();
    assert_eq!(client.wait_task(&upid), "OK");
    client
        .post(&format!("{SDN}/vnets"), &[("vnet", "v2"), ("zone", "z1")])
        .ok();
    client
        .post(&format!("{SDN}/lock"), &[("allow-pending", "1")])
        .ok();
    // A login creates the ticket signing key.
    let login = Client::new(&server.base, None)
        .post(
            "/api2/json/access/ticket",
            &[("username", "alice@pve"), ("password", "s3cretpassw0rd")],
        )
        .ok();
    let ticket = login["ticket"].as_str().unwrap().to_string();

    let backups = tempfile::tempdir().unwrap();
    let full = backups.path().join("full.json");
    let plain = backups.path().join("plain.json");
    let said = ok(sdnd(
        &["backup", "--to", full.to_str().unwrap(), "--with-secrets"],
        dir.path(),
        &store,
        None,
    ));
    assert!(said.contains("secrets included"), "{said}");
    ok(sdnd(
        &["backup", "--to", plain.to_str().unwrap()],
        dir.path(),
        &store,
        None,
    ));
    for file in [&full, &plain] {
        assert_eq!(
            std::fs::metadata(file).unwrap().permissions().mode() & 0o777,
            0o600,
            "{}",
            file.display()
        );
    }
    // Never over an existing file.
    let again = sdnd(
        &["backup", "--to", full.to_str().unwrap()],
        dir.path(),
        &store,
        None,
    );
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("exists"));

    let full_text = std::fs::read_to_string(&full).unwrap();
    let plain_text = std::fs::read_to_string(&plain).unwrap();
    for secret in [
        "NETBOX-T0KEN-1234",
        "PDNS-K3Y-5678",
        "$argon2",
        "access/ticket-key",
    ] {
        assert!(full_text.contains(secret), "the full backup has {secret}");
        assert!(
            !plain_text.contains(secret),
            "the backup without secrets has {secret}"
        );
    }
    let token_hash = serde_json::from_str::<Value>(&full_text).unwrap()["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"].as_str().unwrap().starts_with("access/tokens/"))
        .map(|e| e["text"].as_str().unwrap().to_string())
        .unwrap();
    assert!(!plain_text.contains(&token_hash), "token hashes stay out");

    // Into a store that is not empty: refused, nothing written.
    let refused = sdnd(
        &["restore", "--from", full.to_str().unwrap()],
        dir.path(),
        &store,
        None,
    );
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("not empty"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // Into an empty store, then a server on it.
    let restored_dir = tempfile::tempdir().unwrap();
    let restored_store = sdnd_testkit::store_args_for("restored");
    let said = ok(sdnd(
        &["restore", "--from", full.to_str().unwrap()],
        restored_dir.path(),
        &restored_store,
        None,
    ));
    assert!(said.contains("restored"), "{said}");
    let restored = Server::start_node(restored_dir.path(), "testnode", &restored_store, &[]);
    // The original's API token works there: the secrets came along.
    let restored_client = Client::new(&restored.base, client_auth(&client));

    // So does a ticket of the original's: the signing key came along.
    let by_ticket = Client::new(&restored.base, None);
    let by_ticket = by_ticket.with_auth(None);
    let answer = reqwest_get_with_cookie(&restored.base, "/api2/json/access/permissions", &ticket);
    assert_eq!(
        answer, 200,
        "a ticket of the original server is valid on the restored one"
    );
    drop(by_ticket);

    let paths = get_paths(&client, &upid);
    assert!(paths.len() > 30, "{paths:?}");
    let mut compared = 0;
    for path in &paths {
        for params in [&[][..], &[("pending", "1")][..], &[("running", "1")][..]] {
            let original = client.get(path, params);
            let copy = restored_client.get(path, params);
            assert_eq!(
                original.status, copy.status,
                "GET {path} {params:?}: {} vs {}",
                original.body, copy.body
            );
            assert_eq!(
                normalized(original.body),
                normalized(copy.body),
                "GET {path} {params:?}"
            );
            compared += 1;
        }
    }
    assert!(compared > 90);

    // Without secrets: the same records, but the token does not authenticate and the token
    // list still shows it.
    let plain_dir = tempfile::tempdir().unwrap();
    let plain_store = sdnd_testkit::store_args_for("plain");
    ok(sdnd(
        &["restore", "--from", plain.to_str().unwrap()],
        plain_dir.path(),
        &plain_store,
        None,
    ));
    let tokens = ok(sdnd(
        &["token", "list", "--output-format", "json"],
        plain_dir.path(),
        &plain_store,
        None,
    ));
    let tokens: Value = serde_json::from_str(&tokens).unwrap();
    assert!(
        tokens
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["tokenid"] == "root@pam!ci"),
        "{tokens}"
    );
    let plain_server = Server::start_node(plain_dir.path(), "testnode", &plain_store, &[]);
    let plain_client = Client::new(&plain_server.base, client_auth(&client));
    plain_client.get(&format!("{SDN}/vnets"), &[]).expect(401);
    let users = ok(sdnd(
        &["user", "list", "--output-format", "json"],
        plain_dir.path(),
        &plain_store,
        None,
    ));
    assert!(
        users.contains("\"userid\":\"alice@pve\"") && users.contains("\"password\":false"),
        "{users}"
    );
}

/// The status of a GET authenticated by a PVE ticket cookie.
fn reqwest_get_with_cookie(base: &str, path: &str, ticket: &str) -> u16 {
    let http = reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let cookie = format!("PVEAuthCookie={}", url_encode(ticket));
    http.get(format!("{base}{path}"))
        .header("Cookie", cookie)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The `Authorization` header a client sends.
fn client_auth(client: &Client) -> Option<String> {
    client.auth().map(str::to_string)
}
