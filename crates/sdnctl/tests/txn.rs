//! Transactions against several real sdnd servers.

mod common;

use std::process::{Child, Command};
use std::sync::Mutex;

use common::*;
use sdnctl::changeset::Syntax;
use sdnctl::{ChangeSet, Event, LockOptions, LockedClients, Observer, Phase, RemoteName, RemoteState, TxnOptions};

fn changes(text: &str) -> ChangeSet {
    ChangeSet::parse(text, Syntax::Yaml, "test").unwrap()
}

fn sdnctl(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sdnctl")).args(args).env("XDG_CACHE_HOME", std::env::temp_dir().join("sdnctl-test-cache")).output().expect("run sdnctl");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn assert_clean(client: &sdnctl::Client) {
    assert!(!has_pending(client), "{}: pending changes left", client.remote().name);
    assert!(!client.lock_status().unwrap().locked, "{}: lock left", client.remote().name);
}

#[test]
fn invalid_on_one_remote_changes_nothing_anywhere() {
    let root = tempfile::tempdir().unwrap();
    let servers = servers(root.path(), 3);
    let file = remotes_file(root.path(), &servers);
    let all = clients(&file, &["a", "b", "c"]);
    // b already has vnet v3, so creating it again fails there only.
    let b = &all[1];
    let zone = changes("- create: /cluster/sdn/zones\n  params: {zone: old, type: simple}\n- create: /cluster/sdn/vnets\n  params: {vnet: v3, zone: old}\n");
    let setup = LockedClients::lock_all(vec![b.clone()], TxnOptions::default(), &sdnctl::txn::Quiet);
    let mut setup = setup.unwrap();
    assert!(setup.run(&zone) && setup.apply_all(true), "{}", setup.report());

    let mut txn = LockedClients::lock_all(all.clone(), TxnOptions::default(), &sdnctl::txn::Quiet).unwrap();
    assert!(!txn.run(&changes(&zone_and_vnets("z1", 5))));
    txn.rollback_all();
    let report = txn.report();
    assert!(report.clean() && report.unchanged(), "{report}");
    let states: Vec<&RemoteState> = report.remotes.iter().map(|r| &r.state).collect();
    assert!(states.iter().all(|s| **s == RemoteState::RolledBack), "{report}");
    for client in &all {
        assert_clean(client);
        assert!(!running_ids(client, "/cluster/sdn/zones", "zone").contains(&"z1".to_string()));
    }
    assert_eq!(running_ids(b, "/cluster/sdn/vnets", "vnet"), ["v3"]);
}

#[test]
fn a_remote_locked_by_someone_else_makes_the_transaction_change_nothing() {
    let root = tempfile::tempdir().unwrap();
    let servers = servers(root.path(), 3);
    let file = remotes_file(root.path(), &servers);
    let all = clients(&file, &["a", "b", "c"]);
    let other = all[2].lock(&LockOptions { comment: Some("maintenance".into()), ..LockOptions::default() }).unwrap();

    let err = LockedClients::lock_all(all.clone(), TxnOptions::default(), &sdnctl::txn::Quiet).err().expect("lock must fail");
    assert!(err.unchanged() && err.clean(), "{err}");
    assert_eq!(err.remotes[0].state, RemoteState::Released);
    assert!(matches!(&err.remotes[2].state, RemoteState::NotLocked { error } if error.contains("423") && error.contains("maintenance")), "{err}");
    assert_clean(&all[0]);
    assert_clean(&all[1]);
    assert!(all[2].lock_status().unwrap().locked, "the other holder's lock must stay");

    // The command line says the same and exits 1 (refused, nothing to fix).
    let cs = root.path().join("cs.yaml");
    std::fs::write(&cs, zone_and_vnets("z1", 2)).unwrap();
    let (code, stdout, _) = sdnctl(&["--remotes", file.to_str().unwrap(), "txn", "run", cs.to_str().unwrap(), "--remotes", "a,b,c"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("not locked, nothing changed"), "{stdout}");
    for client in &all[..2] {
        assert_clean(client);
    }
    all[2].unlock(Some(&other), false).unwrap();
    assert_clean(&all[2]);
}

#[test]
fn good_change_set_applies_everywhere_and_releases_the_locks() {
    let root = tempfile::tempdir().unwrap();
    let servers = servers(root.path(), 3);
    let file = remotes_file(root.path(), &servers);
    let cs = root.path().join("cs.yaml");
    std::fs::write(&cs, zone_and_vnets("z1", 10)).unwrap();
    let (code, stdout, stderr) =
        sdnctl(&["--remotes", file.to_str().unwrap(), "txn", "run", cs.to_str().unwrap(), "--remotes", "a,b,c", "--ttl", "600"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(stdout.matches("applied on every node, lock released").count(), 3, "{stdout}");
    for client in clients(&file, &["a", "b", "c"]) {
        assert_clean(&client);
        assert_eq!(running_ids(&client, "/cluster/sdn/vnets", "vnet").len(), 10);
        let node = get(&client, "/nodes/testnode/sdn/status", &[]);
        assert_eq!(node["status"], "available", "{node}");
    }
}

/// Kills one server when it reaches a given step.
struct Killer {
    victim: RemoteName,
    at_step: usize,
    child: Mutex<Option<Child>>,
}

impl Observer for Killer {
    fn event(&self, remote: &RemoteName, event: &Event) {
        if let Event::Started(Phase::Step { index, .. }) = event {
            if *remote == self.victim && *index == self.at_step {
                if let Some(mut child) = self.child.lock().unwrap().take() {
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
        }
    }
}

#[test]
fn a_remote_killed_in_the_middle_is_reported_with_its_state() {
    let root = tempfile::tempdir().unwrap();
    let mut servers = servers(root.path(), 3);
    let file = remotes_file(root.path(), &servers);
    let all = clients(&file, &["a", "b", "c"]);
    let killer = Killer { victim: "b".parse().unwrap(), at_step: 10, child: Mutex::new(servers[1].child.take()) };
    let options = TxnOptions { command: "sdnctl --remotes R".into(), ..TxnOptions::default() };
    let mut txn = LockedClients::lock_all(all.clone(), options, &killer).unwrap();
    assert!(!txn.run(&changes(&zone_and_vnets("z1", 30))));
    txn.rollback_all();
    let report = txn.report();
    let b = &report.remotes[1];
    assert!(
        matches!(&b.state, RemoteState::Unreachable { phase: Phase::Rollback, holds_lock: true, .. }),
        "{report}"
    );
    let token = txn.remotes()[1].token().expect("b may still be locked by us").clone();
    assert!(b.fix.iter().any(|c| c == &format!("sdnctl --remotes R --remote b rollback --lock-token {}", token.as_str())), "{report}");
    assert!(report.to_string().contains("UNREACHABLE"), "{report}");
    assert_eq!(report.remotes[0].state, RemoteState::RolledBack);
    assert_eq!(report.remotes[2].state, RemoteState::RolledBack);
    assert_clean(&all[0]);
    assert_clean(&all[2]);

    // b comes back still locked with its half-made changes; the printed fix repairs it.
    servers[1].spawn();
    let file = remotes_file(root.path(), &servers);
    let b = clients(&file, &["b"]).remove(0);
    assert!(b.lock_status().unwrap().locked);
    assert!(has_pending(&b));
    let (code, _, stderr) = sdnctl(&["--remotes", file.to_str().unwrap(), "--remote", "b", "rollback", "--lock-token", token.as_str()]);
    assert_eq!(code, 0, "{stderr}");
    assert_clean(&b);
}

#[test]
fn command_line_shortcuts_and_errors() {
    let root = tempfile::tempdir().unwrap();
    let servers = servers(root.path(), 1);
    let file = remotes_file(root.path(), &servers);
    let f = file.to_str().unwrap();
    let (code, _, stderr) = sdnctl(&["--remotes", f, "create", "/cluster/sdn/zones", "--zone", "z1", "--type", "simple"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, _) = sdnctl(&["--remotes", f, "get", "/cluster/sdn/zones"]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("zone") && stdout.contains("z1") && stdout.contains("simple"), "{stdout}");
    let (_, stdout, _) = sdnctl(&["--remotes", f, "get", "/cluster/sdn/zones", "--output-format", "json"]);
    assert!(stdout.trim_start().starts_with('['), "{stdout}");
    let (_, stdout, _) = sdnctl(&["--remotes", f, "pending"]);
    assert!(stdout.contains("+ zone z1 type=simple") || stdout.contains("+ zone z1"), "{stdout}");

    // Bad parameter: one line naming it, exit 1.
    let (code, _, stderr) = sdnctl(&["--remotes", f, "create", "/cluster/sdn/vnets", "--vnet", "v1", "--zone", "nope"]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("zone"), "{stderr}");

    // Locking refuses with pending changes; with --allow-pending it hands out a token.
    let (code, _, stderr) = sdnctl(&["--remotes", f, "lock"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("pending"), "{stderr}");
    let (code, token, _) = sdnctl(&["--remotes", f, "lock", "--allow-pending", "--ttl", "60"]);
    assert_eq!(code, 0);
    let (code, _, stderr) = sdnctl(&["--remotes", f, "rollback"]);
    assert_eq!(code, 4, "{stderr}");
    let (code, stdout, _) = sdnctl(&["--remotes", f, "status"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("lock: held by root@pam!ctl"), "{stdout}");
    let (code, _, stderr) = sdnctl(&["--remotes", f, "apply", "--wait", "--lock-token", token.trim()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("testnode: applied version"), "{stderr}");
    let (_, stdout, _) = sdnctl(&["--remotes", f, "status"]);
    assert!(stdout.contains("lock: free") && stdout.contains("running version: 1"), "{stdout}");

    // A vnet the node had to skip (its zone's bridge is missing there): not OK, anywhere.
    let (code, _, _) = sdnctl(&["--remotes", f, "create", "/cluster/sdn/zones", "--zone", "vl1", "--type", "vlan", "--bridge", "vmbr9"]);
    assert_eq!(code, 0);
    let (code, _, _) = sdnctl(&["--remotes", f, "create", "/cluster/sdn/vnets", "--vnet", "vl10", "--zone", "vl1", "--tag", "10"]);
    assert_eq!(code, 0);
    let (code, _, stderr) = sdnctl(&["--remotes", f, "apply", "--wait"]);
    assert_eq!(code, 5, "an apply with warnings is not success: {stderr}");
    let (code, stdout, _) = sdnctl(&["--remotes", f, "status"]);
    assert_eq!(code, 5, "a node that skipped a vnet makes status fail: {stdout}");
    assert!(stdout.contains("vmbr9"), "the warning is shown: {stdout}");

    // A wrong pinned fingerprint is refused before anything is sent.
    let wrong = std::fs::read_to_string(&file).unwrap().replace(&servers[0].fingerprint, &("AA:".repeat(31) + "AA"));
    let wrong_file = root.path().join("wrong.toml");
    std::fs::write(&wrong_file, wrong).unwrap();
    let (code, _, stderr) = sdnctl(&["--remotes", wrong_file.to_str().unwrap(), "get", "/version"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("fingerprint mismatch"), "{stderr}");

    let (code, stdout, _) = sdnctl(&["completion", "bash"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("sdnctl"));
}
