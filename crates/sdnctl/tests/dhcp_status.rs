//! `sdnctl status` shows a node whose DHCP fails as not OK (exit 5), naming the zone and the
//! cause, and as OK again once it works.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use sdnctl::{ApiPath, Client, Method};

fn sdnctl(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sdnctl"))
        .args(args)
        .output()
        .expect("run sdnctl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn create(client: &Client, path: &str, params: &[(&str, &str)]) {
    let path: ApiPath = path.parse().unwrap();
    let params: Vec<(String, String)> = params
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    client.call(Method::Create, &path, &params).unwrap();
}

/// Runs `sdnctl status` until its exit code is `code` (at most 20 s); the last run.
fn status_until(remotes: &str, code: i32) -> (i32, String, String) {
    let started = Instant::now();
    loop {
        let run = sdnctl(&["--remotes", remotes, "--remote", "a", "status"]);
        if run.0 == code || started.elapsed() > Duration::from_secs(20) {
            return run;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_node_whose_dhcp_fails_is_not_ok_in_sdnctl_status() {
    let root = tempfile::tempdir().unwrap();
    let marker = root.path().join("refuse");
    std::fs::write(&marker, "").unwrap();
    let dnsmasq = root.path().join("dnsmasq.d");
    let reload = format!(
        "if [ -e '{}' ]; then echo 'dnsmasq@{{zone}} refused to start' >&2; exit 3; fi",
        marker.display()
    );
    let extra = [
        "--dnsmasq-dir",
        dnsmasq.to_str().unwrap(),
        "--reload-dnsmasq",
        &reload,
        "--dnsmasq-default-dir",
        "",
        "--dbus-policy-dir",
        "",
    ];
    let store = sdnd_testkit::store_args_for("a");
    let inner = sdnd_testkit::Server::start(
        &sdnd(),
        &root.path().join("a"),
        sdnd_testkit::NODE,
        &store,
        &extra,
    );
    let token = inner.add_token("root@pam", "ctl");
    let file = root.path().join("remotes.toml");
    std::fs::write(
        &file,
        format!("[remotes.a]\nurl = \"{}\"\ntoken = \"{token}\"\nfingerprint = \"{}\"\nnodes = [\"{}\"]\n", inner.url(), inner.fingerprint, sdnd_testkit::NODE),
    )
    .unwrap();
    let remotes = file.to_str().unwrap();
    let client = &clients(&file, &["a"])[0];
    create(
        client,
        "/cluster/sdn/zones",
        &[
            ("zone", "z1"),
            ("type", "simple"),
            ("ipam", "pve"),
            ("dhcp", "dnsmasq"),
        ],
    );
    create(
        client,
        "/cluster/sdn/vnets",
        &[("vnet", "v1"), ("zone", "z1")],
    );
    create(
        client,
        "/cluster/sdn/vnets/v1/subnets",
        &[
            ("subnet", "10.0.0.0/24"),
            ("type", "subnet"),
            ("gateway", "10.0.0.1"),
            (
                "dhcp-range",
                "start-address=10.0.0.10,end-address=10.0.0.20",
            ),
        ],
    );
    let upid = client.apply(None, false).unwrap();
    assert_eq!(
        client
            .wait_task(&upid, Duration::from_secs(60), |_| {})
            .unwrap(),
        "OK"
    );

    let (code, stdout, stderr) = status_until(remotes, 5);
    assert_eq!(code, 5, "{stdout}{stderr}");
    assert!(
        stdout.contains("error") && stdout.contains("zone z1: reloading dnsmasq"),
        "{stdout}"
    );
    assert!(stdout.contains("dnsmasq@z1 refused to start"), "{stdout}");

    std::fs::remove_file(&marker).unwrap();
    let (code, stdout, stderr) = status_until(remotes, 0);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("available") && !stdout.contains("refused"),
        "{stdout}"
    );
}
