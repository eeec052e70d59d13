//! `GET /metrics`: the exposition text parses with Prometheus' own text parser (the Python
//! client's, from the test venv) and counts what happened: requests by path template and
//! status, the lock, pending changes, the running version, applies, tasks, nodes, the store.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::InProcess;
use serde_json::Value;

const SDN: &str = "/api2/json/cluster/sdn";

/// The Python of the test venv (scripts/test installs prometheus-client there).
fn python() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.tools/venv/bin/python")
}

/// One sample: its name, labels and value.
type Sample = (String, BTreeMap<String, String>, f64);

/// Parses `text` with `prometheus_client.parser` and returns every sample as
/// (name, labels, value), with each family's declared type by family name.
fn parse(text: &str) -> (Vec<Sample>, BTreeMap<String, String>) {
    let script = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
samples, types = [], {}
for family in text_string_to_metric_families(sys.stdin.read()):
    types[family.name] = family.type
    for s in family.samples:
        samples.append([s.name, s.labels, s.value])
print(json.dumps({"samples": samples, "types": types}))
"#;
    let mut child = Command::new(python())
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the test venv's python (.tools/venv, made by scripts/test) must exist");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), text.as_bytes()).unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "Prometheus' parser refused the text (or prometheus-client is missing from .tools/venv: run scripts/test): {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let samples = parsed["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let labels = s[1]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            (
                s[0].as_str().unwrap().to_string(),
                labels,
                s[2].as_f64().unwrap(),
            )
        })
        .collect();
    let types = parsed["types"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    (samples, types)
}

struct Scrape {
    samples: Vec<Sample>,
    types: BTreeMap<String, String>,
    text: String,
}

impl Scrape {
    /// The value of the one sample called `name` whose labels include `labels`.
    #[track_caller]
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found: Vec<f64> = self
            .samples
            .iter()
            .filter(|(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, _, v)| *v)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "expected one sample {name}{labels:?}, found {found:?} in\n{}",
            self.text
        );
        found[0]
    }

    fn has(&self, name: &str) -> bool {
        self.samples.iter().any(|(n, _, _)| n == name)
    }
}

fn scrape(base: &str) -> Scrape {
    // No ticket, no token: a loopback client may read them.
    let http = reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let response = http.get(format!("{base}/metrics")).send().unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().unwrap();
    let (samples, types) = parse(&text);
    Scrape {
        samples,
        types,
        text,
    }
}

#[test]
fn metrics_parse_with_prometheus_parser_and_count_what_happened() {
    let dir = tempfile::tempdir().unwrap();
    let server = InProcess::start(dir.path());
    let client = server.client("ci");

    let before = scrape(&server.base);
    assert_eq!(before.value("sdnd_lock_held", &[]), 0.0);
    assert_eq!(before.value("sdnd_running_version", &[]), 0.0);
    assert_eq!(before.value("sdnd_store_up", &[]), 1.0);
    assert_eq!(
        before.types["sdnd_http_request_duration_seconds"],
        "histogram"
    );
    assert_eq!(before.types["sdnd_http_requests"], "counter");
    assert_eq!(before.types["sdnd_view_whole_reads"], "counter");
    assert_eq!(before.types["sdnd_view_refreshes"], "counter");
    let whole_reads = |scrape: &Scrape| {
        ["pending", "running"].map(|part| scrape.value("sdnd_view_whole_reads_total", &[("part", part)]))
    };

    let token = client
        .post(&format!("{SDN}/lock"), &[])
        .ok()
        .as_str()
        .unwrap()
        .to_string();
    client
        .post(
            &format!("{SDN}/zones"),
            &[("zone", "z1"), ("type", "simple"), ("lock-token", &token)],
        )
        .ok();
    for vnet in ["v1", "v2"] {
        client
            .post(
                &format!("{SDN}/vnets"),
                &[("vnet", vnet), ("zone", "z1"), ("lock-token", &token)],
            )
            .ok();
    }
    // A refused create and a path no route serves (counted under one label, not its path).
    client
        .post(
            &format!("{SDN}/vnets"),
            &[("vnet", "v1"), ("zone", "z1"), ("lock-token", &token)],
        )
        .expect_not(200);
    client.get("/api2/json/no/such/path-12345", &[]).expect(501);

    let locked = scrape(&server.base);
    assert_eq!(locked.value("sdnd_lock_held", &[]), 1.0);
    // Its own changes keep the view current without reading anything whole.
    assert_eq!(whole_reads(&locked), whole_reads(&before), "the lock and the creates read a configuration whole");
    assert_eq!(
        locked.value("sdnd_lock_holder", &[("holder", "root@pam!ci")]),
        1.0
    );
    assert!(locked.value("sdnd_lock_age_seconds", &[]) >= 0.0);
    assert_eq!(
        locked.value("sdnd_pending_changes", &[]),
        3.0,
        "a zone and two vnets"
    );
    let creates = locked.value(
        "sdnd_http_requests_total",
        &[
            ("method", "POST"),
            ("path", "/cluster/sdn/vnets"),
            ("status", "200"),
        ],
    );
    assert_eq!(creates, 2.0);
    let refused = locked
        .samples
        .iter()
        .filter(|(n, l, _)| {
            n == "sdnd_http_requests_total"
                && l["path"] == "/cluster/sdn/vnets"
                && l["status"] != "200"
        })
        .count();
    assert_eq!(refused, 1, "the refused create has its own status");
    assert_eq!(
        locked.value(
            "sdnd_http_requests_total",
            &[("path", "unmatched"), ("status", "501")]
        ),
        1.0
    );
    assert!(
        !locked.text.contains("path-12345"),
        "a path nobody serves is not a label"
    );
    let histogram_count = locked.value(
        "sdnd_http_request_duration_seconds_count",
        &[("method", "POST"), ("path", "/cluster/sdn/vnets")],
    );
    assert_eq!(histogram_count, 3.0);
    assert_eq!(
        locked.value(
            "sdnd_http_request_duration_seconds_bucket",
            &[
                ("method", "POST"),
                ("path", "/cluster/sdn/vnets"),
                ("le", "+Inf")
            ]
        ),
        3.0
    );
    assert!(
        locked.value(
            "sdnd_store_request_duration_seconds_count",
            &[("op", "commit")]
        ) >= 3.0
    );

    let upid = client
        .put(SDN, &[("lock-token", &token)])
        .ok()
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(client.wait_task(&upid), "OK");
    let applied = scrape(&server.base);
    assert_eq!(
        applied.value("sdnd_lock_held", &[]),
        0.0,
        "the apply released the lock"
    );
    assert!(!applied.has("sdnd_lock_holder"));
    assert_eq!(applied.value("sdnd_pending_changes", &[]), 0.0);
    assert_eq!(applied.value("sdnd_running_version", &[]), 1.0);
    assert_eq!(applied.value("sdnd_apply_duration_seconds_count", &[]), 1.0);
    assert_eq!(
        applied.value("sdnd_task_duration_seconds_count", &[("result", "ok")]),
        1.0
    );
    assert_eq!(
        applied.value("sdnd_task_duration_seconds_count", &[("result", "error")]),
        0.0
    );
    assert_eq!(applied.value("sdnd_nodes", &[("state", "online")]), 1.0);
    assert_eq!(applied.value("sdnd_nodes", &[("state", "offline")]), 0.0);
    assert_eq!(applied.value("sdnd_nodes", &[("state", "error")]), 0.0);
    assert_eq!(
        applied.value("sdnd_node_online", &[("node", "testnode")]),
        1.0
    );
    assert_eq!(
        applied.value(
            "sdnd_node_status",
            &[("node", "testnode"), ("status", "available")]
        ),
        1.0
    );
    // The earlier scrapes are counted too (this one is counted once it is answered).
    assert!(
        applied.value(
            "sdnd_http_requests_total",
            &[("path", "/metrics"), ("status", "200")]
        ) == 2.0
    );

    // Only GET is served there.
    let http = reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    assert_eq!(
        http.post(format!("{}/metrics", server.base))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        405
    );
}

/// The store calls a server has made so far, by its own count (`GET /metrics`).
fn store_calls(base: &str) -> u64 {
    let http = reqwest::blocking::Client::builder().danger_accept_invalid_certs(true).build().unwrap();
    let text = http.get(format!("{base}/metrics")).send().unwrap().text().unwrap();
    text.lines()
        .filter(|line| line.starts_with("sdnd_store_request_duration_seconds_count"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// An idle node, agent included, leaves the store alone: every thread that follows it (the
/// agent's, the confirm and lock-expiry watchers, on etcd the access watcher) waits on a watch
/// and reads only when that tells of a change, so what is left is the heartbeat, the task
/// sweeper and the safety-net looks: 8 calls in this window on either store. Each thread read
/// every second or two before: 23 calls on SQLite, 87 on etcd (the access watcher's four a
/// second on top), each a round trip there, made by every node of a cluster.
#[test]
fn an_idle_node_leaves_the_store_alone() {
    const WINDOW: std::time::Duration = std::time::Duration::from_secs(8);
    let dir = tempfile::tempdir().unwrap();
    let server = common::Server::start_node(dir.path(), "n1", &common::store_args(), &[]);
    // The start's own reads (the agent's first pass, the watchers' first looks) are over.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let before = store_calls(&server.base);
    std::thread::sleep(WINDOW);
    let calls = store_calls(&server.base) - before;
    // Heartbeats every 5 s, the task sweeper's look every 5 s, the confirm watcher's every
    // 10 s, the agent's 30 s rechecks, and the first scrape's own reads.
    assert!(calls <= 12, "an idle node made {calls} store calls in {WINDOW:?}");
}
