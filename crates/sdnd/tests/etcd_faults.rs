//! sdnd under etcd faults, on a three-member cluster on loopback with two sdnd nodes: a hung
//! member (SIGSTOP, not a crash: its connections stay open and silent) costs latency, never
//! a failed request; an apply task ends with the truth after two members were stopped under
//! it, and a task whose owner died is finished by the other node.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::etcd_nodes::{mixed_load, percentile, Nodes};

const SDN: &str = "/api2/json/cluster/sdn";
const PREFIX: &str = "/cluster/";
const NODES: [&str; 2] = ["node-a", "node-b"];

/// Two sdnd nodes on a three-member etcd cluster, talking to member 0 first.
fn two_nodes(extra: &[&str]) -> Nodes {
    Nodes::start(3, &NODES, PREFIX, extra, |_| 0)
}

/// Runs writes (a zone created and deleted) and reads (zones, the lock, each node's agent
/// status) through both nodes from four threads, freezes member `victim` for `hang`
/// from one second in, and checks that every request succeeded. Prints the latencies.
fn hang_under_load(nodes: &mut Nodes, victim: usize, label: &str) {
    let hang = Duration::from_secs(10);
    let stop = Arc::new(AtomicBool::new(false));
    let (threads, samples) = mixed_load(nodes, &stop);
    std::thread::sleep(Duration::from_secs(1));
    let stopped_at = Instant::now();
    nodes.cluster.members[victim].stop();
    std::thread::sleep(hang);
    nodes.cluster.members[victim].resume();
    let resumed_at = Instant::now();
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::SeqCst);
    for thread in threads {
        thread.join().expect("a load thread failed");
    }
    let samples = samples.lock().unwrap();
    let failed: Vec<String> = samples
        .iter()
        .filter(|s| s.status != 200)
        .map(|s| format!("{} -> {} {}", s.what, s.status, s.body))
        .collect();
    let mut during: Vec<Duration> = samples
        .iter()
        .filter(|s| s.at >= stopped_at && s.at < resumed_at)
        .map(|s| s.took)
        .collect();
    let mut all: Vec<Duration> = samples.iter().map(|s| s.took).collect();
    during.sort();
    all.sort();
    let rate = during.len() as f64 / hang.as_secs_f64();
    let writes = samples
        .iter()
        .filter(|s| s.at >= stopped_at && s.at < resumed_at && !s.what.starts_with("GET"))
        .count();
    eprintln!(
        "{label} hung for {hang:?}: {} requests ({rate:.0}/s, {writes} writes), p50 {:?}, p99 {:?}, max {:?}; \
         whole run: {} requests, p50 {:?}, p99 {:?}, max {:?}",
        during.len(),
        percentile(&during, 0.5),
        percentile(&during, 0.99),
        during.last().copied().unwrap_or_default(),
        all.len(),
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        all.last().copied().unwrap_or_default(),
    );
    assert!(
        failed.is_empty(),
        "{} of {} requests failed while the {label} hung: {failed:?}",
        failed.len(),
        samples.len()
    );
    assert!(
        during.len() >= 20,
        "only {} requests were answered while the {label} hung",
        during.len()
    );
    // The agents kept publishing: both nodes are online and report the running version.
    let status = nodes.clients[1].get("/api2/json/nodes", &[]).ok();
    assert!(
        status
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["status"] == "online"),
        "{status}"
    );
}

/// The member the sdnd nodes talk to (listed first) is the leader, and it hangs.
#[test]
fn a_hung_etcd_leader_costs_latency_not_errors() {
    let mut nodes = Nodes::start(3, &NODES, PREFIX, &[], |cluster| cluster.leader().expect("a leader"));
    let leader = nodes.cluster.leader().expect("a leader");
    hang_under_load(&mut nodes, leader, "leader");
}

/// The member the sdnd nodes talk to (listed first) is a follower, and it hangs.
#[test]
fn a_hung_etcd_follower_costs_latency_not_errors() {
    let mut nodes =
        Nodes::start(3, &NODES, PREFIX, &[], |cluster| (cluster.leader().expect("a leader") + 1) % 3);
    let leader = nodes.cluster.leader().expect("a leader");
    hang_under_load(&mut nodes, (leader + 1) % 3, "follower");
}

#[test]
fn an_apply_under_which_two_members_stop_ends_with_the_truth() {
    let timeout = 60;
    let mut nodes = two_nodes(&["--apply-timeout", "60"]);
    nodes.clients[0]
        .post(
            &format!("{SDN}/zones"),
            &[("zone", "z1"), ("type", "simple")],
        )
        .ok();
    let started = Instant::now();
    let upid = nodes.clients[0]
        .put(SDN, &[])
        .ok()
        .as_str()
        .unwrap()
        .to_string();
    // No quorum for 8 s, right after the apply started.
    nodes.cluster.members[1].stop();
    nodes.cluster.members[2].stop();
    std::thread::sleep(Duration::from_secs(8));
    nodes.cluster.members[1].resume();
    nodes.cluster.members[2].resume();
    let status = format!("/api2/json/nodes/{}/tasks/{upid}/status", NODES[0]);
    let mut answer = serde_json::Value::Null;
    while started.elapsed() < Duration::from_secs(timeout + 10) {
        let reply = nodes.clients[1].get(&status, &[]);
        if reply.status == 200 {
            answer = reply.ok();
            if answer["status"] == "stopped" {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        answer["status"],
        "stopped",
        "the task still runs {:?} after it started: {answer}",
        started.elapsed()
    );
    assert_eq!(
        answer["exitstatus"], "OK",
        "both agents applied once the members were back: {answer}"
    );
    let log = nodes.clients[1]
        .get(
            &format!("/api2/json/nodes/{}/tasks/{upid}/log", NODES[0]),
            &[],
        )
        .ok()
        .to_string();
    for node in NODES {
        assert!(
            log.contains(&format!("{node}: applied version 1")),
            "{node} missing in {log}"
        );
    }
    eprintln!(
        "apply under a quorum loss of 8 s ended OK after {:?}",
        started.elapsed()
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "ended only after {:?}",
        started.elapsed()
    );
}

#[test]
fn a_task_whose_owner_died_is_finished_by_the_other_node_on_etcd() {
    let mut nodes = two_nodes(&["--apply-timeout", "2"]);
    let client = nodes.clients[0].clone();
    // The apply waits for a node that never reports; its owner dies while it runs.
    client
        .post(
            &format!("{SDN}/zones"),
            &[
                ("zone", "z1"),
                ("type", "simple"),
                ("nodes", "node-a,ghost"),
            ],
        )
        .ok();
    let started = Instant::now();
    let upid = client.put(SDN, &[]).ok().as_str().unwrap().to_string();
    nodes.servers[0].kill();
    let status = format!("/api2/json/nodes/{}/tasks/{upid}/status", NODES[0]);
    let mut answer = serde_json::Value::Null;
    while started.elapsed() < Duration::from_secs(45) {
        answer = nodes.clients[1].get(&status, &[]).ok();
        if answer["status"] == "stopped" {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        answer["status"], "stopped",
        "the task stayed running after its owner died: {answer}"
    );
    let exit = answer["exitstatus"].as_str().unwrap();
    assert!(
        exit.contains("ghost"),
        "the outcome names the node that never reported: {exit}"
    );
    let log = nodes.clients[1]
        .get(
            &format!("/api2/json/nodes/{}/tasks/{upid}/log", NODES[0]),
            &[],
        )
        .ok()
        .to_string();
    assert!(log.contains("finished by node-b"), "{log}");
}

#[test]
fn a_task_of_a_restarted_server_still_ends_at_its_timeout() {
    let mut nodes = two_nodes(&["--apply-timeout", "8"]);
    let client = nodes.clients[0].clone();
    // The apply waits for a node that never reports, so only its timeout ends it.
    client
        .post(
            &format!("{SDN}/zones"),
            &[
                ("zone", "z1"),
                ("type", "simple"),
                ("nodes", "node-a,ghost"),
            ],
        )
        .ok();
    let started = Instant::now();
    let upid = client.put(SDN, &[]).ok().as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_secs(4));
    // The owner crashes and comes back: it resumes following the task, whose timeout runs
    // from the task's start, not from the restart.
    nodes.servers[0].restart();
    let status = format!("/api2/json/nodes/{}/tasks/{upid}/status", NODES[0]);
    let mut answer = serde_json::Value::Null;
    while started.elapsed() < Duration::from_secs(30) {
        answer = nodes.clients[1].get(&status, &[]).ok();
        if answer["status"] == "stopped" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let ended = started.elapsed();
    assert_eq!(answer["status"], "stopped", "{answer}");
    assert!(
        answer["exitstatus"].as_str().unwrap().contains("ghost"),
        "{answer}"
    );
    eprintln!("an 8 s apply task whose server restarted 4 s in ended after {ended:?}");
    assert!(
        ended < Duration::from_secs(11),
        "the timeout started over at the restart: ended after {ended:?}"
    );
}

/// Requests waiting on a hung store step off the server's workers (see `sdnd::blocking`):
/// with more of them than workers, what needs no store (the API's description) is still
/// answered while they wait. With one request's work run on its worker, this failed 2 runs
/// in 8 with the CPU busy: that worker had been the one polling the sockets.
#[test]
fn requests_waiting_on_a_hung_store_leave_the_server_answering() {
    let mut nodes = Nodes::start(1, &["node-a"], PREFIX, &[], |_| 0);
    nodes.cluster.members[0].stop();
    let writers: Vec<_> = (0..4)
        .map(|i| {
            let client = nodes.clients[0].clone();
            std::thread::spawn(move || client.post(&format!("{SDN}/zones"), &[("zone", &format!("h{i}")), ("type", "simple")]).status)
        })
        .collect();
    // On loopback the writes reach the store within milliseconds, and then wait seconds.
    std::thread::sleep(Duration::from_millis(500));
    let description = nodes.clients[0].get("/api2/openapi.json", &[]).status;
    let writes_pending = writers.iter().filter(|w| !w.is_finished()).count();
    nodes.cluster.members[0].resume();
    let statuses: Vec<u16> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    assert_eq!(description, 200);
    assert_eq!(writes_pending, 4, "the description was answered only once writes on the hung store ended ({statuses:?})");
    // And each write ends with an answer: done once the store was back, or a clear 503.
    assert!(statuses.iter().all(|s| *s == 200 || *s == 503), "{statuses:?}");
}
