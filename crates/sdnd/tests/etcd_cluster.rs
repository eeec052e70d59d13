//! Several sdnd nodes sharing one three-member etcd cluster on loopback: one lock, one
//! configuration and one running version for all of them, across etcd member crashes.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::etcd::Cluster;
use common::etcd_nodes::{write_node_files, Nodes};
use common::{Client, Server};
use sdn_store::{EtcdOptions, EtcdStore, Store};

const SDN: &str = "/api2/json/cluster/sdn";
const PREFIX: &str = "/cluster/";
const NODES: [&str; 3] = ["node-a", "node-b", "node-c"];

/// Three sdnd nodes on a three-member etcd cluster.
fn three_nodes() -> Nodes {
    Nodes::start(3, &NODES, PREFIX, &[], |_| 0)
}

/// What the agent of node `index` last rendered.
fn rendered(nodes: &Nodes, index: usize) -> String {
    std::fs::read_to_string(sdnd_testkit::node_dir(nodes.dirs[index].path(), NODES[index]).join("sdn")).unwrap_or_default()
}

/// A direct handle on the cluster's store, to look at what sdnd wrote.
fn store_of(nodes: &Nodes) -> EtcdStore {
    let endpoints = nodes.cluster.members.iter().map(|m| m.endpoint()).collect();
    EtcdStore::connect(EtcdOptions::new(endpoints, PREFIX)).expect("connect to etcd")
}

fn zone(client: &Client, name: &str, token: Option<&str>) -> common::Reply {
    let mut params = vec![("zone", name), ("type", "simple")];
    if let Some(token) = token {
        params.push(("lock-token", token));
    }
    client.post(&format!("{SDN}/zones"), &params)
}

fn zones(client: &Client) -> BTreeSet<String> {
    client
        .get(&format!("{SDN}/zones"), &[])
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .map(|z| z["zone"].as_str().unwrap().to_string())
        .collect()
}

fn lock(client: &Client, params: &[(&str, &str)]) -> String {
    client.post(&format!("{SDN}/lock"), params).ok().as_str().unwrap().to_string()
}

#[test]
fn a_lock_taken_on_one_node_binds_every_node() {
    let nodes = three_nodes();
    let [a, b, c] = [&nodes.clients[0], &nodes.clients[1], &nodes.clients[2]];
    let token = lock(a, &[("allow-pending", "1"), ("comment", "dcm")]);
    for client in [b, c] {
        assert_eq!(client.get(&format!("{SDN}/lock"), &[]).ok()["locked"], 1);
        let refused = zone(client, "nope", None).expect(423);
        assert!(refused.message().contains("locked"), "{refused:?}");
        zone(client, "nope", Some("0190b5a4-0000-7000-8000-000000000000")).expect(423);
        client.post(&format!("{SDN}/lock"), &[("allow-pending", "1")]).expect(423);
    }
    zone(b, "zb", Some(&token)).ok();
    zone(c, "zc", Some(&token)).ok();
    for client in [a, b, c] {
        let seen = zones(client);
        assert!(seen.contains("zb") && seen.contains("zc") && !seen.contains("nope"), "{seen:?}");
    }
    // Released through another node than the one that granted it.
    c.delete(&format!("{SDN}/lock"), &[("lock-token", &token)]).ok();
    assert_eq!(a.get(&format!("{SDN}/lock"), &[]).ok()["locked"], 0);
    zone(a, "free", None).ok();
}

#[test]
fn an_apply_on_one_node_is_rendered_by_every_agent() {
    let nodes = three_nodes();
    let [a, b, c] = [&nodes.clients[0], &nodes.clients[1], &nodes.clients[2]];
    let token = lock(a, &[("allow-pending", "1")]);
    a.post(&format!("{SDN}/zones"), &[("zone", "zvlan"), ("type", "vlan"), ("bridge", "vmbr0"), ("lock-token", &token)]).ok();
    b.post(&format!("{SDN}/vnets"), &[("vnet", "vnet1"), ("zone", "zvlan"), ("tag", "100"), ("lock-token", &token)]).ok();
    let upid = b.put(SDN, &[("lock-token", &token), ("release-lock", "1")]).ok();
    let upid = upid.as_str().unwrap();
    // The task is followed from a third node; it ends OK only once all three reported.
    assert_eq!(c.wait_task(upid), "OK");
    let node = upid.split(':').nth(1).unwrap();
    let log = c.get(&format!("/api2/json/nodes/{node}/tasks/{upid}/log"), &[]).ok().to_string();
    for name in NODES {
        assert!(log.contains(&format!("{name}: applied version 1")), "{name} missing in {log}");
    }
    for (index, name) in NODES.iter().enumerate() {
        let rendered = rendered(&nodes, index);
        assert!(rendered.contains("auto vnet1"), "{name} rendered {rendered:?}");
    }
    for client in [a, b, c] {
        assert_eq!(client.get(&format!("{SDN}/lock"), &[]).ok()["locked"], 0);
    }
}

#[test]
fn a_crashed_orchestrators_lock_expires_on_every_node() {
    let nodes = three_nodes();
    let store = store_of(&nodes);
    // The orchestrator takes the lock and is never heard of again.
    let _token = lock(&nodes.clients[0], &[("allow-pending", "1"), ("ttl", "2")]);
    assert!(store.get("sdn/lock").unwrap().is_some());
    for client in &nodes.clients {
        assert_eq!(client.get(&format!("{SDN}/lock"), &[]).ok()["locked"], 1);
        zone(client, "early", None).expect(423);
    }
    // The lease removes the entry from etcd by itself, without any write passing by.
    let deadline = Instant::now() + Duration::from_secs(15);
    while store.get("sdn/lock").unwrap().is_some() {
        assert!(Instant::now() < deadline, "the lock's lease never expired");
        std::thread::sleep(Duration::from_millis(200));
    }
    for (index, client) in nodes.clients.iter().enumerate() {
        assert_eq!(client.get(&format!("{SDN}/lock"), &[]).ok()["locked"], 0);
        zone(client, &format!("after{index}"), None).ok();
    }
}

/// Creates zones through the three nodes in turn with `token`; returns the acknowledged ones.
fn stream(clients: &[Client], token: &str, from: usize, count: usize, acked: &mut Vec<String>) {
    for i in from..from + count {
        let name = format!("s{i}");
        let reply = zone(&clients[i % 3], &name, Some(token));
        match reply.status {
            200 => acked.push(name),
            // A leader election in progress; not acknowledged, so not promised.
            503 => assert!(reply.message().contains("store"), "{reply:?}"),
            _ => panic!("unexpected answer to {name}: {reply:?}"),
        }
    }
}

fn retry_until_ok(client: &Client, what: &str, mut request: impl FnMut(&Client) -> common::Reply) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let reply = request(client);
        if reply.status == 200 {
            return reply.ok();
        }
        assert_eq!(reply.status, 503, "{what}: {reply:?}");
        assert!(Instant::now() < deadline, "{what}: the cluster never came back: {reply:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn etcd_member_crashes_lose_nothing_and_service_resumes() {
    let mut nodes = three_nodes();
    let token = lock(&nodes.clients[0], &[("allow-pending", "1")]);
    let mut acked = Vec::new();

    // The leader dies in the middle of a stream of locked changes.
    let leader = nodes.cluster.leader().expect("the cluster has a leader");
    let survivor = (leader + 1) % 3;
    std::thread::scope(|scope| {
        let victim = &mut nodes.cluster.members[leader];
        scope.spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            victim.kill();
        });
        stream(&nodes.clients, &token, 0, 45, &mut acked);
    });
    assert!(acked.len() >= 40, "two of three members should keep serving: {} of 45 acknowledged", acked.len());
    for client in &nodes.clients {
        let seen = retry_until_ok(client, "reading zones", |c| c.get(&format!("{SDN}/zones"), &[]));
        let seen: BTreeSet<String> = seen.as_array().unwrap().iter().map(|z| z["zone"].as_str().unwrap().to_string()).collect();
        for name in &acked {
            assert!(seen.contains(name), "acknowledged {name} was lost");
        }
        // The lock still holds on every node.
        zone(client, "intruder", None).expect(423);
    }

    // A second member dies: no quorum. Requests fail fast and say why.
    nodes.cluster.members[survivor].kill();
    // Once the last member knows it has no leader, no write can be committed at all.
    let last = &nodes.cluster.members[3 - leader - survivor];
    let deadline = Instant::now() + Duration::from_secs(10);
    while last.healthy() {
        assert!(Instant::now() < deadline, "the last member never noticed the lost quorum");
        std::thread::sleep(Duration::from_millis(100));
    }
    for client in &nodes.clients {
        let start = Instant::now();
        let reply = zone(client, "noquorum", Some(&token));
        assert_eq!(reply.status, 503, "{reply:?}");
        let message = reply.message();
        assert!(message.contains("store") && message.contains("etcd"), "{message}");
        assert!(start.elapsed() < Duration::from_secs(12), "took {:?}", start.elapsed());
        assert_eq!(client.get(&format!("{SDN}/zones"), &[]).status, 503);
    }

    // Both come back: everything continues, nothing acknowledged is missing.
    nodes.cluster.members[leader].start();
    nodes.cluster.members[survivor].start();
    nodes.cluster.wait_healthy(Duration::from_secs(30));
    for (index, client) in nodes.clients.iter().enumerate() {
        let name = format!("back{index}");
        retry_until_ok(client, "creating a zone after the restart", |c| {
            let reply = zone(c, &name, Some(&token));
            // A retry of a write whose first try did land after all.
            if reply.status != 200 && reply.status != 503 && reply.body.to_string().contains("already") {
                return common::Reply { status: 200, reason: String::new(), body: serde_json::json!({"data": null}) };
            }
            reply
        });
        acked.push(name);
    }
    let seen = zones(&nodes.clients[2]);
    for name in &acked {
        assert!(seen.contains(name), "acknowledged {name} was lost");
    }
    assert!(!seen.contains("intruder"));
    assert!(!seen.contains("noquorum"), "a write refused with 503 was applied after all");
    // And the cluster still applies on every node.
    let upid = nodes.clients[1].put(SDN, &[("lock-token", &token), ("release-lock", "1")]).ok();
    assert_eq!(nodes.clients[0].wait_task(upid.as_str().unwrap()), "OK");
    // Each node's agent rendered the new version after the outage.
    for (client, name) in nodes.clients.iter().zip(NODES) {
        let version = client.get(&format!("/api2/json/nodes/{name}/sdn/status"), &[]).ok();
        assert_eq!(version["version"], 1, "{name}: {version}");
    }
}

/// Who the test believes holds the lock (0: nobody), and a counter bumped on every change.
struct Holder {
    id: AtomicUsize,
    generation: AtomicU64,
}

#[test]
fn clients_on_all_nodes_race_for_the_lock() {
    const THREADS: usize = 6;
    const ROUNDS: usize = 8;
    let nodes = three_nodes();
    let holder = Arc::new(Holder { id: AtomicUsize::new(0), generation: AtomicU64::new(0) });
    let violations = Arc::new(Mutex::new(Vec::<String>::new()));
    let acquisitions = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..THREADS)
        .map(|index| {
            let client = nodes.clients[index % 3].clone();
            let (holder, violations, acquisitions) = (holder.clone(), violations.clone(), acquisitions.clone());
            std::thread::spawn(move || {
                let me = index + 1;
                let mut stale: Option<String> = None;
                for round in 0..ROUNDS {
                    let name = format!("r{me}x{round}");
                    let reply = client.post(&format!("{SDN}/lock"), &[("allow-pending", "1")]);
                    if reply.status == 200 {
                        let token = reply.data().as_str().unwrap().to_string();
                        let previous = holder.id.compare_exchange(0, me, Ordering::SeqCst, Ordering::SeqCst);
                        assert!(previous.is_ok(), "two lock holders: {me} and {previous:?}");
                        holder.generation.fetch_add(1, Ordering::SeqCst);
                        acquisitions.fetch_add(1, Ordering::SeqCst);
                        zone(&client, &name, Some(&token)).ok();
                        std::thread::sleep(Duration::from_millis(20));
                        holder.id.store(0, Ordering::SeqCst);
                        holder.generation.fetch_add(1, Ordering::SeqCst);
                        client.delete(&format!("{SDN}/lock"), &[("lock-token", &token)]).ok();
                        stale = Some(token);
                    } else {
                        assert_eq!(reply.status, 423, "unexpected lock answer {reply:?}");
                        let forged = stale.clone().unwrap_or_else(|| "0190b5a4-0000-7000-8000-000000000000".into());
                        let r = zone(&client, &name, Some(&forged));
                        assert_eq!(r.status, 423, "a stale or forged token was accepted: {r:?}");
                        let generation = holder.generation.load(Ordering::SeqCst);
                        let held_before = holder.id.load(Ordering::SeqCst) != 0;
                        let r = zone(&client, &name, None);
                        let held_throughout = held_before
                            && holder.id.load(Ordering::SeqCst) != 0
                            && holder.generation.load(Ordering::SeqCst) == generation;
                        if r.status == 200 && held_throughout {
                            violations.lock().unwrap().push(name);
                        }
                        assert!(r.status == 200 || r.status == 423, "unexpected answer {r:?}");
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("a racing client failed");
    }
    assert!(violations.lock().unwrap().is_empty(), "changes accepted without the token while locked: {violations:?}");
    assert!(acquisitions.load(Ordering::SeqCst) > 0, "nobody ever got the lock");
}

#[test]
fn a_node_started_before_its_etcd_comes_up_by_itself() {
    let mut cluster = Cluster::start(1);
    let store = vec!["--store".to_string(), cluster.url(), "--store-prefix".to_string(), PREFIX.to_string()];
    cluster.members[0].kill();
    let dir = tempfile::tempdir().unwrap();
    write_node_files(dir.path(), NODES[0]);
    // Starting blocks until sdnd listens, which it only does once etcd answers. The member is
    // restarted from this thread: test etcds die with the thread that started them.
    let starting = {
        let (data_dir, store) = (dir.path().to_path_buf(), store.clone());
        std::thread::spawn(move || Server::start_node(&data_dir, NODES[0], &store, &[]))
    };
    std::thread::sleep(Duration::from_secs(3));
    assert!(!starting.is_finished(), "sdnd came up without its store");
    cluster.members[0].start();
    let server = starting.join().expect("sdnd started once etcd was back");
    cluster.wait_healthy(Duration::from_secs(30));
    let client = server.client("late");
    client.post("/api2/json/cluster/sdn/zones", &[("zone", "zl"), ("type", "simple")]).ok();
    assert!(zones(&client).contains("zl"));
}

/// On an etcd with its stock limits (128 operations per transaction), rolling back a few
/// changes to a configuration of hundreds of objects works: a rollback writes what differs.
#[test]
fn a_rollback_on_a_stock_etcd_writes_only_what_differs() {
    let cluster = Cluster::start_stock(1);
    let store = vec!["--store".to_string(), cluster.url(), "--store-prefix".to_string(), PREFIX.to_string()];
    let dir = tempfile::tempdir().unwrap();
    write_node_files(dir.path(), "node-a");
    let server = Server::start_node(dir.path(), "node-a", &store, &[]);
    let client = server.client("stock");
    client.post(&format!("{SDN}/zones"), &[("zone", "zbig"), ("type", "simple")]).ok();
    for i in 0..300 {
        client.post(&format!("{SDN}/vnets"), &[("vnet", &format!("v{i}")), ("zone", "zbig")]).ok();
    }
    let upid = client.put(SDN, &[]).ok();
    assert_eq!(client.wait_task(upid.as_str().unwrap()), "OK");
    let running = client.get(&format!("{SDN}/vnets"), &[("running", "1")]).ok();

    let token = client.post(&format!("{SDN}/lock"), &[]).ok();
    let token = token.as_str().unwrap();
    client.post(&format!("{SDN}/vnets"), &[("vnet", "vnew"), ("zone", "zbig"), ("lock-token", token)]).ok();
    client.put(&format!("{SDN}/vnets/v7"), &[("alias", "changed"), ("lock-token", token)]).ok();
    client.delete(&format!("{SDN}/vnets/v8"), &[("lock-token", token)]).ok();
    client.post(&format!("{SDN}/rollback"), &[("lock-token", token)]).ok();

    // The same objects (the digests differ: they hash each file, whose order differs).
    let without_digests = |list: serde_json::Value| -> Vec<serde_json::Value> {
        let mut objects = list.as_array().unwrap().clone();
        objects.iter_mut().for_each(|o| {
            o.as_object_mut().unwrap().remove("digest");
        });
        objects
    };
    let pending = without_digests(client.get(&format!("{SDN}/vnets"), &[]).ok());
    assert!(pending == without_digests(running), "pending differs from running after the rollback");
    let pending = client.get(&format!("{SDN}/vnets"), &[("pending", "1")]).ok();
    assert!(pending.as_array().unwrap().iter().all(|v| v.get("state").is_none()), "nothing pending");
    assert_eq!(client.get(&format!("{SDN}/lock"), &[]).ok()["locked"], 0);
}
