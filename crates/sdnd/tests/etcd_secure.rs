//! sdnd on an etcd that guards itself: TLS with client certificates, and etcd's own
//! authentication. The right credentials work for `serve` and for the admin commands; wrong or
//! missing ones fail at once with a message that says what is wrong.

mod common;

use std::path::Path;
use std::process::Command;

use common::etcd::{Cluster, Pki};
use common::{Server, SDND};

const SDN: &str = "/api2/json/cluster/sdn";
const PREFIX: &str = "/secure/";

fn arg(path: &Path) -> String {
    path.display().to_string()
}

/// Runs `sdnd token add` with the given store flags; its exit status and stderr.
fn token_add(data_dir: &Path, store: &[String], tokenid: &str) -> (bool, String) {
    let out = Command::new(SDND)
        .args(["token", "add", "root@pam", tokenid, "--data-dir"])
        .arg(data_dir)
        .args(store)
        .env("SDND_LOG", "warn")
        .output()
        .expect("run sdnd token add");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// A server on `store` answers, keeps what it is told, and its data is in that etcd.
fn serve_and_change(data_dir: &Path, store: &[String]) {
    let server = Server::start_node(data_dir, "secure-node", store, &[]);
    let client = common::Client::new(&server.base, Some(common::add_token_in(data_dir, store, "root@pam", "t1")));
    client.post(&format!("{SDN}/zones"), &[("zone", "zsec"), ("type", "simple")]).ok();
    let zones = client.get(&format!("{SDN}/zones"), &[]).ok();
    assert_eq!(zones[0]["zone"], "zsec", "{zones}");
}

#[test]
fn tls_with_client_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::create(&dir.path().join("pki"));
    let cluster = Cluster::start_with(1, Some(&pki));
    let base = vec!["--store".to_string(), cluster.url(), "--store-prefix".to_string(), PREFIX.to_string()];
    let with = |extra: &[&str]| -> Vec<String> { base.iter().cloned().chain(extra.iter().map(|s| s.to_string())).collect() };
    let (ca, cert, key) = (arg(&pki.ca), arg(&pki.client_cert), arg(&pki.client_key));

    let full = with(&["--store-ca", &ca, "--store-cert", &cert, "--store-key", &key]);
    serve_and_change(&dir.path().join("node"), &full);

    // Plain HTTP/2 against a TLS member, or TLS without the client certificate it demands.
    let (ok, stderr) = token_add(dir.path(), &base, "plain");
    assert!(!ok && stderr.contains("etcd at"), "{stderr}");
    let (ok, stderr) = token_add(dir.path(), &with(&["--store-ca", &ca]), "nocert");
    assert!(!ok && stderr.contains("etcd at"), "{stderr}");
    // A CA that didn't sign the member's certificate.
    let other = Pki::create(&dir.path().join("other"));
    let (ok, stderr) = token_add(dir.path(), &with(&["--store-ca", &arg(&other.ca), "--store-cert", &cert, "--store-key", &key]), "wrongca");
    assert!(!ok && stderr.contains("etcd at"), "{stderr}");

    // Flags that don't go together are refused before anything is reached.
    let (ok, stderr) = token_add(dir.path(), &with(&["--store-ca", &ca, "--store-cert", &cert]), "halfpair");
    assert!(!ok && stderr.contains("--store-cert and --store-key go together"), "{stderr}");
    let (ok, stderr) = token_add(dir.path(), &with(&["--store-cert", &cert, "--store-key", &key]), "noca");
    assert!(!ok && stderr.contains("need --store-ca"), "{stderr}");
    let (ok, stderr) = token_add(dir.path(), &with(&["--store-ca", &key]), "notpem");
    assert!(!ok && stderr.contains("--store-ca"), "{stderr}");
    let (ok, stderr) = token_add(dir.path(), &with(&["--store-ca", "/nonexistent/ca.pem"]), "missing");
    assert!(!ok && stderr.contains("/nonexistent/ca.pem"), "{stderr}");
    let (ok, stderr) = token_add(dir.path(), &["--store-ca".to_string(), ca.clone()], "sqlite");
    assert!(!ok && stderr.contains("only applies to an etcd store"), "{stderr}");

    let (ok, stderr) = token_add(dir.path(), &full, "again");
    assert!(ok, "{stderr}");
}

#[test]
fn etcd_authentication() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(1);
    cluster.enable_auth("rootpw", "sdnd", "s3cret", PREFIX);
    let password = dir.path().join("password");
    std::fs::write(&password, "s3cret\n").unwrap();
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "guess").unwrap();
    let base = vec!["--store".to_string(), cluster.url(), "--store-prefix".to_string(), PREFIX.to_string()];
    let with = |extra: &[&str]| -> Vec<String> { base.iter().cloned().chain(extra.iter().map(|s| s.to_string())).collect() };

    serve_and_change(&dir.path().join("node"), &with(&["--store-user", "sdnd", "--store-password-file", &arg(&password)]));

    let (ok, stderr) = token_add(dir.path(), &with(&["--store-user", "sdnd", "--store-password-file", &arg(&wrong)]), "wrong");
    assert!(!ok && stderr.contains("authentication failed"), "{stderr}");
    let (ok, stderr) = token_add(dir.path(), &base, "anonymous");
    assert!(!ok && stderr.contains("etcd at"), "{stderr}");
    let (ok, stderr) = token_add(dir.path(), &with(&["--store-user", "sdnd"]), "nopassword");
    assert!(!ok && stderr.contains("needs a password"), "{stderr}");
    // The user may only touch its own prefix.
    let (ok, stderr) = token_add(
        dir.path(),
        &["--store".to_string(), cluster.url(), "--store-prefix".to_string(), "/elsewhere/".to_string(), "--store-user".to_string(), "sdnd".to_string(), "--store-password-file".to_string(), arg(&password)],
        "elsewhere",
    );
    assert!(!ok && stderr.contains("permission denied"), "{stderr}");
}
