//! sdnctl as a person uses it at a shell: global flags in any position, yaml output, the lock
//! token kept in a file between commands, and a lock refusal that says what to do.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::*;

fn sdnctl(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sdnctl"))
        .args(args)
        .env_remove("SDNCTL_LOCK_TOKEN")
        .env_remove("SDNCTL_LOCK_TOKEN_FILE")
        // Never the runner's own cache; a test that looks at the cache names its own.
        .env("XDG_CACHE_HOME", std::env::temp_dir().join("sdnctl-test-cache"))
        .envs(env.iter().copied())
        .output()
        .expect("run sdnctl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn global_flags_anywhere_yaml_and_a_kept_lock_token() {
    let root = tempfile::tempdir().unwrap();
    let servers = servers(root.path(), 1);
    let file = remotes_file(root.path(), &servers);
    let f = file.to_str().unwrap();

    // Global flags after the subcommand and among a call's parameters.
    let (code, _, stderr) = sdnctl(
        &[
            "create",
            "/cluster/sdn/zones",
            "--zone",
            "z1",
            "--remotes-file",
            f,
            "--type",
            "simple",
        ],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, stderr) = sdnctl(
        &[
            "get",
            "/cluster/sdn/zones",
            "--pending",
            "1",
            "--output-format",
            "yaml",
            "--remote",
            "a",
            "--remotes-file",
            f,
        ],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    let parsed: serde_yaml::Value = serde_yaml::from_str(&stdout).unwrap();
    assert_eq!(parsed[0]["zone"].as_str(), Some("z1"), "{stdout}");
    // The old spelling of the remotes file flag, before the subcommand.
    let (code, stdout, _) = sdnctl(
        &[
            "--remotes",
            f,
            "get",
            "/cluster/sdn/zones",
            "--output-format",
            "json",
        ],
        &[],
    );
    assert_eq!(code, 0);
    assert!(stdout.contains("\"z1\""), "{stdout}");
    let (code, stdout, _) = sdnctl(&["--remotes-file", f, "rollback"], &[]);
    assert_eq!(code, 0, "{stdout}");

    // The lock token kept in a file: later commands find it, the apply that releases the lock
    // removes it.
    let kept = root.path().join("lock-token");
    let k = kept.to_str().unwrap();
    let (code, token, stderr) = sdnctl(&["lock", "--remotes-file", f, "--lock-token-file", k], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(std::fs::read_to_string(&kept).unwrap().trim(), token.trim());
    assert_eq!(
        std::fs::metadata(&kept).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let (code, _, stderr) = sdnctl(
        &[
            "create",
            "/cluster/sdn/zones",
            "--zone",
            "z2",
            "--type",
            "simple",
            "--remotes-file",
            f,
        ],
        &[("SDNCTL_LOCK_TOKEN_FILE", k)],
    );
    assert_eq!(code, 0, "the kept token is used: {stderr}");

    // Someone else is refused, told the way out.
    let (code, _, stderr) = sdnctl(
        &[
            "create",
            "/cluster/sdn/zones",
            "--zone",
            "z3",
            "--type",
            "simple",
            "--remotes-file",
            f,
        ],
        &[],
    );
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("sdnctl unlock --force"), "{stderr}");
    let (code, _, stderr) = sdnctl(&["lock", "--remotes-file", f], &[]);
    assert_eq!(code, 4);
    assert!(
        stderr.contains("sdnctl unlock --force") && stderr.contains("--allow-pending"),
        "{stderr}"
    );

    let (code, _, stderr) = sdnctl(
        &[
            "apply",
            "--wait",
            "--remotes-file",
            f,
            "--lock-token-file",
            k,
        ],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(!kept.exists(), "the released lock's token is forgotten");
    let (_, stdout, _) = sdnctl(
        &[
            "get",
            "/cluster/sdn/lock",
            "--remotes-file",
            f,
            "--output-format",
            "json",
        ],
        &[],
    );
    assert!(stdout.contains("\"locked\":0"), "{stdout}");

    // The API described by the server: ls, usage, and a misspelt parameter refused with the
    // right name before the call is sent.
    let (code, stdout, stderr) = sdnctl(&["ls", "/cluster/sdn", "--remotes-file", f], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout
            .lines()
            .any(|l| l.ends_with("  vnets") && l.starts_with("dr-c-")),
        "{stdout}"
    );
    let (code, stdout, _) = sdnctl(&["ls", "/cluster/sdn/zones", "--remotes-file", f], &[]);
    assert_eq!(code, 0);
    assert!(
        stdout
            .lines()
            .any(|l| l.ends_with("  z2") && l.contains('r') && l.contains('D')),
        "{stdout}"
    );
    let (code, stdout, _) = sdnctl(&["usage", "/cluster/sdn/vnets", "--remotes-file", f], &[]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("USAGE: sdnctl create /cluster/sdn/vnets")
            && stdout.contains("--zone <string>"),
        "{stdout}"
    );
    let (code, _, stderr) = sdnctl(
        &[
            "create",
            "/cluster/sdn/vnets",
            "--vnet",
            "v9",
            "--zonee",
            "z1",
            "--remotes-file",
            f,
        ],
        &[],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("did you mean --zone?"), "{stderr}");
    let (_, stdout, _) = sdnctl(
        &[
            "get",
            "/cluster/sdn/vnets",
            "--pending",
            "1",
            "--remotes-file",
            f,
            "--output-format",
            "json",
        ],
        &[],
    );
    assert!(!stdout.contains("v9"), "nothing was created: {stdout}");
    let (code, _, stderr) = sdnctl(&["usage", "/no/such/path", "--remotes-file", f], &[]);
    assert_eq!(code, 2, "{stderr}");

    // A task followed by its UPID.
    let (code, _, stderr) = sdnctl(
        &[
            "create",
            "/cluster/sdn/zones",
            "--zone",
            "z4",
            "--type",
            "simple",
            "--remotes-file",
            f,
        ],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    let (code, upid, stderr) = sdnctl(&["apply", "--remotes-file", f], &[]);
    assert_eq!(code, 0, "{stderr}");
    let upid = upid.trim();
    let (code, log, stderr) = sdnctl(&["task", "log", upid, "--remotes-file", f], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        log.contains("applied version") && log.trim_end().ends_with("TASK OK"),
        "{log}"
    );
    let (code, status, _) = sdnctl(
        &[
            "task",
            "status",
            upid,
            "--remotes-file",
            f,
            "--output-format",
            "json",
        ],
        &[],
    );
    assert_eq!(code, 0);
    assert!(
        status.contains("\"status\":\"stopped\"") && status.contains("\"exitstatus\":\"OK\""),
        "{status}"
    );
    let (code, _, stderr) = sdnctl(&["task", "status", "not-a-upid", "--remotes-file", f], &[]);
    assert_eq!(code, 2, "{stderr}");

    // --wait running out is its own exit code and says so (a node named in the configuration
    // that never reports keeps the task running).
    let (code, _, stderr) = sdnctl(
        &[
            "create",
            "/cluster/sdn/zones",
            "--zone",
            "z5",
            "--type",
            "simple",
            "--nodes",
            "ghost",
            "--remotes-file",
            f,
        ],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = sdnctl(
        &["apply", "--wait", "--timeout", "1", "--remotes-file", f],
        &[],
    );
    assert_eq!(code, 7, "{stderr}");
    assert!(
        stderr.contains("task still running after 1 s") && !stderr.contains("cannot reach"),
        "{stderr}"
    );

    // A token straight from the environment.
    let (_, token, _) = sdnctl(&["lock", "--remotes-file", f], &[]);
    let (code, _, stderr) = sdnctl(
        &["unlock", "--remotes-file", f],
        &[("SDNCTL_LOCK_TOKEN", token.trim())],
    );
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn the_system_ca_store_is_a_third_way_to_trust_a_server() {
    let root = tempfile::tempdir().unwrap();
    // A server certificate for 127.0.0.1 from a CA, as ACME would issue one for a name.
    let pki = sdnd_testkit::etcd::Pki::create(&root.path().join("pki"));
    let other = sdnd_testkit::etcd::Pki::create(&root.path().join("other"));
    let data = root.path().join("a");
    let store = sdnd_testkit::store_args_for("ca");
    let server = sdnd_testkit::Server::start(
        &sdnd(),
        &data,
        sdnd_testkit::NODE,
        &store,
        &[
            "--cert",
            pki.server_cert.to_str().unwrap(),
            "--key",
            pki.server_key.to_str().unwrap(),
        ],
    );
    let token = server.add_token("root@pam", "ctl");
    let file = root.path().join("remotes.toml");
    std::fs::write(
        &file,
        format!(
            "[remotes.a]\nurl = \"{}\"\ntoken = \"{token}\"\nsystem-ca = true\n",
            server.url()
        ),
    )
    .unwrap();
    let f = file.to_str().unwrap();

    let (code, stdout, stderr) = sdnctl(
        &["get", "/version", "--remotes-file", f],
        &[("SSL_CERT_FILE", pki.ca.to_str().unwrap())],
    );
    assert_eq!(code, 0, "a CA in the store: trusted ({stderr})");
    assert!(stdout.contains("version"), "{stdout}");
    let (code, _, stderr) = sdnctl(
        &["get", "/version", "--remotes-file", f],
        &[("SSL_CERT_FILE", other.ca.to_str().unwrap())],
    );
    assert_eq!(code, 3, "another CA: refused ({stderr})");

    std::fs::write(
        &file,
        format!(
            "[remotes.a]\nurl = \"{}\"\ntoken = \"{token}\"\nsystem-ca = true\ninsecure = true\n",
            server.url()
        ),
    )
    .unwrap();
    let (code, _, stderr) = sdnctl(&["get", "/version", "--remotes-file", f], &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("system-ca"), "{stderr}");
}

#[test]
fn a_transaction_with_a_remote_refusing_the_connection_changes_nothing_and_says_so() {
    let root = tempfile::tempdir().unwrap();
    let servers = servers(root.path(), 1);
    let file = remotes_file(root.path(), &servers);
    // A remote whose port nobody listens on: the connection is refused before anything is sent.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str(&format!(
        "[remotes.gone]\nurl = \"https://127.0.0.1:{closed}\"\ntoken = \"root@pam!x=y\"\nfingerprint = \"{}\"\n",
        servers[0].fingerprint
    ));
    std::fs::write(&file, text).unwrap();
    let cs = root.path().join("cs.yaml");
    std::fs::write(
        &cs,
        "- create: /cluster/sdn/zones\n  params: {zone: zt, type: simple}\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let (code, stdout, stderr) = sdnctl(
        &[
            "--remotes",
            f,
            "txn",
            "run",
            cs.to_str().unwrap(),
            "--remotes",
            "a,gone",
        ],
        &[],
    );
    assert_eq!(code, 3, "{stdout}{stderr}");
    assert!(stdout.contains("not reached, nothing changed"), "{stdout}");
    assert!(!stdout.contains("unknown"), "{stdout}");
    let client = &clients(&file, &["a"])[0];
    assert!(
        !client.lock_status().unwrap().locked,
        "a's lock was released"
    );
    assert!(!has_pending(client));
}

#[test]
fn status_across_remotes_names_the_caller_and_fails_when_one_is_not_ok() {
    let root = tempfile::tempdir().unwrap();
    let servers = servers(root.path(), 2);
    let file = remotes_file(root.path(), &servers);
    let f = file.to_str().unwrap();
    let (code, _, stderr) = sdnctl(
        &["lock", "--remote", "a", "--remotes-file", f],
        &[("TZ", "UTC")],
    );
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, stderr) = sdnctl(
        &["status", "--remotes", "a,b", "--remotes-file", f],
        &[("TZ", "UTC")],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("remote: a") && stdout.contains("remote: b"),
        "{stdout}"
    );
    assert!(
        stdout.contains("held by root@pam!ctl (you) since 20") && stdout.contains(" UTC"),
        "local time, (you): {stdout}"
    );
    let (_, json, _) = sdnctl(
        &[
            "status",
            "--remotes",
            "a,b",
            "--remotes-file",
            f,
            "--output-format",
            "json",
        ],
        &[],
    );
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json[0]["lock"]["yours"], true);
    assert!(json[0]["lock"]["since"].as_i64().is_some(), "epoch in json");
    assert_eq!(json[1]["lock"]["locked"], 0);

    // A node in error on b: the status across both says so by its exit code.
    let (code, _, stderr) = sdnctl(
        &[
            "create",
            "/cluster/sdn/zones",
            "--zone",
            "vl1",
            "--type",
            "vlan",
            "--bridge",
            "vmbr9",
            "--remote",
            "b",
            "--remotes-file",
            f,
        ],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = sdnctl(
        &[
            "create",
            "/cluster/sdn/vnets",
            "--vnet",
            "vl10",
            "--zone",
            "vl1",
            "--tag",
            "10",
            "--remote",
            "b",
            "--remotes-file",
            f,
        ],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    let (code, _, _) = sdnctl(
        &["apply", "--wait", "--remote", "b", "--remotes-file", f],
        &[],
    );
    assert_eq!(code, 5, "the vnet is skipped on the node");
    let (code, stdout, _) = sdnctl(&["status", "--remotes", "a,b", "--remotes-file", f], &[]);
    assert_eq!(code, 5, "{stdout}");
}

#[test]
fn a_digest_conflict_shows_the_current_digest_and_a_zone_in_use_names_every_vnet() {
    let root = tempfile::tempdir().unwrap();
    let servers = servers(root.path(), 1);
    let file = remotes_file(root.path(), &servers);
    let f = file.to_str().unwrap();
    let ok = |args: &[&str]| {
        let mut all = vec!["--remotes-file", f, "--output-format", "json"];
        all.extend_from_slice(args);
        let (code, stdout, stderr) = sdnctl(&all, &[]);
        assert_eq!(code, 0, "{args:?}: {stderr}");
        stdout
    };
    let digest = |stdout: String| {
        let value: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        value["digest"].as_str().unwrap().to_string()
    };
    ok(&["create", "/cluster/sdn/zones", "--zone", "z1", "--type", "simple"]);
    for vnet in ["v2", "v1", "v3"] {
        ok(&["create", "/cluster/sdn/vnets", "--vnet", vnet, "--zone", "z1"]);
    }
    let stale = digest(ok(&["get", "/cluster/sdn/zones/z1"]));
    ok(&["set", "/cluster/sdn/zones/z1", "--mtu", "1400"]);
    let current = digest(ok(&["get", "/cluster/sdn/zones/z1"]));
    assert_ne!(stale, current);

    let (code, _, stderr) = sdnctl(
        &["--remotes-file", f, "set", "/cluster/sdn/zones/z1", "--mtu", "1300", "--digest", &stale],
        &[],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains(&format!("the current digest is {current}")), "{stderr}");
    let retry = stderr
        .split("retry with: ")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .unwrap_or_else(|| panic!("no retry command: {stderr}"));
    assert_eq!(
        retry,
        format!("sdnctl set /cluster/sdn/zones/z1 --mtu 1300 --digest {current}")
    );
    // The command shown works as it is.
    let words: Vec<&str> = retry.split(' ').skip(1).collect();
    let mut args = vec!["--remotes-file", f];
    args.extend(words);
    let (code, _, stderr) = sdnctl(&args, &[]);
    assert_eq!(code, 0, "{stderr}");
    let zone: serde_json::Value =
        serde_json::from_str(&ok(&["get", "/cluster/sdn/zones/z1"])).unwrap();
    assert_eq!(zone["mtu"], 1300);

    let (code, _, stderr) = sdnctl(&["--remotes-file", f, "delete", "/cluster/sdn/zones/z1"], &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("zone z1 is used by vnets v1, v2, v3"), "{stderr}");
    assert!(stderr.contains("delete those vnets or move them"), "{stderr}");
    ok(&["get", "/cluster/sdn/zones/z1"]);
}

/// Asks sdnctl for completions as fish's hook does (the last word is the one completed).
fn complete(words: &[&str], cache: &std::path::Path) -> Vec<String> {
    let mut args = vec!["--", "sdnctl"];
    args.extend_from_slice(words);
    let cache = cache.to_str().unwrap();
    let (code, stdout, stderr) = sdnctl(&args, &[("COMPLETE", "fish"), ("XDG_CACHE_HOME", cache)]);
    assert_eq!(code, 0, "{stderr}");
    stdout
        .lines()
        .map(|l| l.split('\t').next().unwrap_or("").to_string())
        .collect()
}

#[test]
fn completion_of_api_paths_remotes_and_parameters() {
    let root = tempfile::tempdir().unwrap();
    let mut servers = servers(root.path(), 2);
    let file = remotes_file(root.path(), &servers);
    let f = file.to_str().unwrap();
    let cache = root.path().join("cache");
    let (code, _, stderr) = sdnctl(
        &["--remotes-file", f, "--remote", "a", "create", "/cluster/sdn/zones", "--zone", "z1", "--type", "simple"],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");

    let paths = complete(&["--remotes-file", f, "--remote", "a", "get", "/cluster/sdn/"], &cache);
    for want in ["/cluster/sdn/vnets", "/cluster/sdn/zones", "/cluster/sdn/controllers"] {
        assert!(paths.iter().any(|p| p == want), "{want} not in {paths:?}");
    }
    assert!(paths.iter().all(|p| p.starts_with("/cluster/sdn/")), "{paths:?}");
    let cached = cache.join("sdnctl").join("openapi-a.json");
    assert!(cached.exists(), "the OpenAPI document is cached");
    // The objects of a placeholder segment, from the remote the line names.
    assert_eq!(
        complete(&["--remotes-file", f, "--remote", "a", "set", "/cluster/sdn/zones/"], &cache),
        ["/cluster/sdn/zones/z1"]
    );
    assert!(complete(&["--remotes-file", f, "--remote", "b", "set", "/cluster/sdn/zones/"], &cache).is_empty());
    // A path's parameters, those already given left out.
    let params = complete(&["--remotes-file", f, "--remote", "a", "create", "/cluster/sdn/vnets", "--vnet", "v1", "--"], &cache);
    assert!(params.iter().any(|p| p == "--zone") && params.iter().any(|p| p == "--tag"), "{params:?}");
    assert!(!params.iter().any(|p| p == "--vnet"), "{params:?}");
    assert_eq!(
        complete(&["--remotes-file", f, "--remote", "a", "create", "/cluster/sdn/vnets", "--zo"], &cache),
        ["--zone"]
    );
    // Remote names from the remotes file, also in comma lists.
    assert_eq!(complete(&["--remotes-file", f, "status", "--remote", ""], &cache), ["a", "b"]);
    assert_eq!(complete(&["--remotes-file", f, "status", "--remotes", "a,"], &cache), ["a,a", "a,b"]);

    // With the server gone, the cached document still completes the paths.
    servers.truncate(0);
    let paths = complete(&["--remotes-file", f, "--remote", "a", "get", "/cluster/sdn/v"], &cache);
    assert!(paths.iter().any(|p| p == "/cluster/sdn/vnets"), "{paths:?}");

    // The scripts hook into that protocol.
    let (code, script, _) = sdnctl(&["completion", "bash"], &[]);
    assert_eq!(code, 0);
    assert!(script.contains("COMPLETE=\"bash\"") || script.contains("COMPLETE=bash"), "{script}");
    assert!(script.contains("sdnctl"), "{script}");
}

/// Rewrites the cached OpenAPI document of remote `a` with `edit`, keeping it fresh.
fn edit_cached_doc(cache: &std::path::Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let file = cache.join("sdnctl").join("openapi-a.json");
    let mut cached: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    edit(&mut cached["doc"]);
    std::fs::write(&file, cached.to_string()).unwrap();
}

#[test]
fn calls_check_parameters_on_the_cached_document_and_recheck_what_it_refuses() {
    let root = tempfile::tempdir().unwrap();
    let servers = servers(root.path(), 1);
    let file = remotes_file(root.path(), &servers);
    let f = file.to_str().unwrap();
    let cache = root.path().join("cache");
    let env = [("XDG_CACHE_HOME", cache.to_str().unwrap())];
    let create = |zone: &str, extra: &[&str]| {
        let mut args = vec!["--remotes-file", f, "create", "/cluster/sdn/zones", "--zone", zone, "--type", "simple"];
        args.extend_from_slice(extra);
        sdnctl(&args, &env)
    };
    let (code, _, stderr) = create("z1", &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(cache.join("sdnctl").join("openapi-a.json").exists(), "the first call caches the document");

    // A fresh cached document is what the call is checked on: one that (wrongly) declares a
    // parameter lets it through to the server, which refuses it itself.
    edit_cached_doc(&cache, |doc| {
        let op = &mut doc["paths"]["/cluster/sdn/zones"]["post"];
        op["parameters"].as_array_mut().unwrap().push(serde_json::json!({"name": "bogus", "in": "query", "schema": {"type": "string"}}));
    });
    let (code, _, stderr) = create("z2", &["--bogus", "1"]);
    assert_ne!(code, 0);
    assert!(!stderr.contains("it takes:"), "refused by the server, not by sdnctl's check: {stderr}");
    assert!(stderr.contains("bogus"), "{stderr}");

    // What the cached document refuses is checked again on the server's current one (the
    // server may have been upgraded since), which also replaces the cached copy.
    edit_cached_doc(&cache, |doc| {
        doc["paths"]["/cluster/sdn/zones"].as_object_mut().unwrap().remove("post");
    });
    let (code, _, stderr) = create("z3", &[]);
    assert_eq!(code, 0, "{stderr}");
    let cached: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cache.join("sdnctl").join("openapi-a.json")).unwrap()).unwrap();
    assert!(cached["doc"]["paths"]["/cluster/sdn/zones"]["post"].is_object(), "the cache was refreshed");
    // A parameter no document declares is still refused before anything is sent.
    let (code, _, stderr) = create("z4", &["--mtux", "1"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("did you mean --mtu?"), "{stderr}");
}

#[test]
fn completion_gives_up_on_a_hung_server_instead_of_stalling_the_shell() {
    let root = tempfile::tempdir().unwrap();
    let servers = servers(root.path(), 1);
    // Accepts connections and never answers (a frozen process looks like this).
    let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = hung.local_addr().unwrap().port();
    let accepted = std::thread::spawn(move || {
        let held: Vec<_> = hung.incoming().take(8).collect();
        std::thread::sleep(std::time::Duration::from_secs(30));
        drop(held);
    });
    let toml = servers[0].remote_toml().replacen("[remotes.a]", "[remotes.h]", 1);
    let url = servers[0].url();
    let toml = toml.replace(&url, &format!("https://127.0.0.1:{port}/api2/json"));
    let file = root.path().join("remotes.toml");
    std::fs::write(&file, toml).unwrap();
    let started = std::time::Instant::now();
    let paths = complete(&["--remotes-file", file.to_str().unwrap(), "--remote", "h", "get", "/cluster/sdn/"], &root.path().join("cache"));
    let took = started.elapsed();
    assert!(paths.is_empty(), "{paths:?}");
    // The client's normal call timeout is 60 s; completion's is a few seconds per request.
    assert!(took < std::time::Duration::from_secs(20), "completion waited {took:?} on a hung server");
    drop(accepted);
}
