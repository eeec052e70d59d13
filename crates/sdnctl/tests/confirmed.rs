//! `sdnctl txn run` on sdnd remotes: change sets in one request each, confirmed apply
//! everywhere, confirmed only when every remote applied; and the history verbs.

mod common;

use std::process::Command;

use common::*;

fn sdnctl(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sdnctl")).args(args).env("XDG_CACHE_HOME", std::env::temp_dir().join("sdnctl-test-cache")).output().expect("run sdnctl");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn actions(client: &sdnctl::Client) -> Vec<String> {
    let records = get(client, "/cluster/sdn/audit", &[]);
    records.as_array().unwrap().iter().map(|r| r["action"].as_str().unwrap().to_string()).collect()
}

#[test]
fn when_the_third_remote_fails_its_apply_the_first_two_revert() {
    let root = tempfile::tempdir().unwrap();
    let servers = servers(root.path(), 3);
    let file = remotes_file(root.path(), &servers);
    let remotes = file.to_str().unwrap();
    // The third node can't write its interfaces file: its apply fails.
    let target = sdnd_testkit::node_dir(&servers[2].data_dir, sdnd_testkit::NODE).join("sdn");
    let _ = std::fs::remove_file(&target);
    std::fs::create_dir_all(target.join("blocker")).unwrap();

    let cs = root.path().join("cs.yaml");
    std::fs::write(&cs, zone_and_vnets("z1", 5)).unwrap();
    let (code, stdout, stderr) =
        sdnctl(&["--remotes", remotes, "txn", "run", cs.to_str().unwrap(), "--remotes", "a,b,c", "--confirm-timeout", "3"]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    // c failed and reverted at once (revert-on-failure), a and b when their window ran out.
    assert_eq!(stdout.matches("reverted by itself to the version before").count(), 3, "{stdout}");
    assert!(stdout.contains("a, b, c applied the change but did not get the confirmation"), "{stdout}");
    assert!(stdout.contains("(another remote failed)") && stdout.contains("did not apply version"), "{stdout}");
    for client in clients(&file, &["a", "b", "c"]) {
        assert!(running_ids(&client, "/cluster/sdn/zones", "zone").is_empty(), "{}: still running z1", client.remote().name);
        assert!(!has_pending(&client), "{}: pending left", client.remote().name);
        assert!(!client.lock_status().unwrap().locked, "{}: lock left", client.remote().name);
        let seen = actions(&client);
        assert_eq!(seen[..3], ["unlock", "revert", "apply"], "{}: {seen:?}", client.remote().name);
        assert_eq!(seen[3], "changes", "one change set, not one request per step: {seen:?}");
    }
}

#[test]
fn a_good_transaction_is_confirmed_everywhere_and_the_history_verbs_show_it() {
    let root = tempfile::tempdir().unwrap();
    let servers = servers(root.path(), 2);
    let file = remotes_file(root.path(), &servers);
    let remotes = file.to_str().unwrap();
    let cs = root.path().join("cs.yaml");
    std::fs::write(&cs, zone_and_vnets("z1", 3)).unwrap();
    let (code, stdout, stderr) = sdnctl(&["--remotes", remotes, "txn", "run", cs.to_str().unwrap(), "--remotes", "a,b"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(stdout.matches("applied on every node, lock released").count(), 2, "{stdout}");
    for client in clients(&file, &["a", "b"]) {
        assert_eq!(running_ids(&client, "/cluster/sdn/vnets", "vnet").len(), 3);
        assert!(!client.lock_status().unwrap().locked);
        assert_eq!(actions(&client)[..3], ["unlock", "confirm", "apply"]);
        assert_eq!(get(&client, "/cluster/sdn/versions", &[])[0]["confirmed"], 1);
    }

    let on_a = |args: &[&str]| {
        let mut all = vec!["--remotes", remotes, "--remote", "a"];
        all.extend_from_slice(args);
        sdnctl(&all)
    };
    let (code, stdout, _) = on_a(&["history"]);
    assert_eq!(code, 0);
    assert!(stdout.trim_start().starts_with('1') && stdout.contains("root@pam!ctl"), "{stdout}");
    let (code, stdout, stderr) = on_a(&["create", "/cluster/sdn/zones", "--zone", "z2", "--type", "simple"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout2, _) = on_a(&["diff", "1", "pending"]);
    assert_eq!(code, 0);
    assert_eq!(stdout2.trim(), "+ zones z2", "{stdout}{stdout2}");
    let (code, _, stderr) = on_a(&["apply", "--confirm-timeout", "60", "--wait"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = on_a(&["confirm"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, _) = on_a(&["confirm"]);
    assert_eq!(code, 1, "nothing left to confirm");
    let (code, _, stderr) = on_a(&["restore", "1"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, _) = on_a(&["diff", "2", "pending"]);
    assert_eq!((code, stdout.trim()), (0, "- zones z2"));
    let (code, stdout, _) = on_a(&["log", "--action", "restore"]);
    assert_eq!(code, 0);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.contains("restore") && stdout.contains("version 1"), "{stdout}");
}
