//! `GET /metrics` latency with 2,000 vnets (applied, plus a few pending changes) and three
//! nodes whose agents report, over HTTPS on loopback, beside the latency of `GET /version`
//! (authenticated, trivial) measured on the same server in the same run.
//!
//! Target: median under 2 ms.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::InProcess;

const SAMPLES: usize = 300;
const VNETS: usize = 2000;
const TARGET: Duration = Duration::from_millis(2);

fn sorted(mut samples: Vec<Duration>) -> Vec<Duration> {
    samples.sort();
    samples
}

fn measure(mut request: impl FnMut()) -> (Duration, Duration) {
    for _ in 0..20 {
        request();
    }
    let samples = sorted(
        (0..SAMPLES)
            .map(|_| {
                let start = Instant::now();
                request();
                start.elapsed()
            })
            .collect(),
    );
    (samples[SAMPLES / 2], samples[SAMPLES * 9 / 10])
}

fn main() {
    let dir = tempfile::tempdir_in(".").unwrap();
    let files = tempfile::tempdir().unwrap();
    std::fs::write(
        files.path().join("zones.cfg"),
        "simple: bench\n\tipam pve\n\n",
    )
    .unwrap();
    let vnets: String = (0..VNETS)
        .map(|i| format!("vnet: b{i}\n\tzone bench\n\n"))
        .collect();
    std::fs::write(files.path().join("vnets.cfg"), vnets).unwrap();
    let out = std::process::Command::new(common::SDND)
        .args(["import", "--from"])
        .arg(files.path())
        .arg("--data-dir")
        .arg(dir.path())
        .args(common::store_args())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "import failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let server = InProcess::start(dir.path());
    let _n2 = server.start_agent("n2");
    let _n3 = server.start_agent("n3");
    let client = server.client("bench");
    let upid = client
        .put("/api2/json/cluster/sdn", &[])
        .ok()
        .as_str()
        .unwrap()
        .to_string();
    let status = client.wait_task(&upid);
    assert_eq!(status, "OK", "the three nodes apply the 2,000 vnets");
    for i in 0..5 {
        client
            .post(
                "/api2/json/cluster/sdn/vnets",
                &[("vnet", &format!("p{i}")), ("zone", "bench")],
            )
            .ok();
    }

    let http = reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let url = format!("{}/metrics", server.base);
    let text = http.get(&url).send().unwrap().text().unwrap();
    assert!(text.contains("sdnd_pending_changes 5"), "{text}");
    assert!(text.contains("sdnd_nodes{state=\"online\"} 3"), "{text}");

    let (metrics_median, metrics_p90) = measure(|| {
        let response = http.get(&url).send().unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let _ = response.bytes().unwrap();
    });
    let (base_median, base_p90) = measure(|| {
        client.get("/api2/json/version", &[]).ok();
    });
    println!("GET /metrics, {VNETS} vnets, 3 nodes ({} bytes): median {metrics_median:?}, p90 {metrics_p90:?}", text.len());
    println!("GET /version (baseline, same server): median {base_median:?}, p90 {base_p90:?}");
    println!(
        "ratio metrics/baseline (median): {:.2}",
        metrics_median.as_secs_f64() / base_median.as_secs_f64().max(1e-9)
    );
    if metrics_median < TARGET {
        println!("target met: median under {TARGET:?}");
    } else {
        println!("TARGET MISSED: median {metrics_median:?} is not under {TARGET:?}");
    }
}
