//! Running sdnd as a service: the configuration file sets `serve`'s flags (and the admin
//! commands' store), flags override it; logs carry one access line per request and every
//! change at info, without colour codes when not at a terminal; `--listen` takes names and
//! IPv6 addresses; the admin list commands; a command about to create a new store says so.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Client, SDND};

/// A `sdnd serve` started with the given arguments (no `SDND_LOG`, no `SDND_CONFIG`), its
/// stderr collected.
struct Daemon {
    child: Child,
    base: String,
    node: String,
    stderr: Arc<Mutex<String>>,
}

impl Daemon {
    fn start(args: &[&str]) -> Daemon {
        let mut child = Command::new(SDND)
            .args(args)
            .env_remove("SDND_LOG")
            .env_remove("SDND_CONFIG")
            .env_remove("SDND_STORE")
            .env_remove("SDND_STORE_PREFIX")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut text = sink.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().expect("sdnd printed nothing").unwrap();
        let rest = first
            .strip_prefix("sdnd listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {first}"));
        let url = rest.split_whitespace().next().unwrap();
        let node = rest
            .split("(node ")
            .nth(1)
            .unwrap()
            .trim_end_matches(')')
            .to_string();
        std::thread::spawn(move || for _ in lines {});
        Daemon {
            child,
            base: url.trim_end_matches("/api2/json").to_string(),
            node,
            stderr,
        }
    }

    /// Waits (bounded) until the collected stderr has a line containing every needle.
    fn wait_for_line(&self, needles: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = self.stderr.lock().unwrap().clone();
            if let Some(line) = text
                .lines()
                .find(|line| needles.iter().all(|n| line.contains(n)))
            {
                return line.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {needles:?} in:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs sdnd with `args` and no configuration from the environment.
fn sdnd(args: &[&str]) -> std::process::Output {
    Command::new(SDND)
        .args(args)
        .env("SDND_LOG", "warn")
        .env_remove("SDND_CONFIG")
        .env_remove("SDND_STORE")
        .env_remove("SDND_STORE_PREFIX")
        .output()
        .unwrap()
}

/// The configuration of a test node as `sdnd.toml` keys (the agent's files in `node_dir`).
fn agent_keys(node_dir: &Path) -> String {
    let path = |name: &str| node_dir.join(name).display().to_string();
    format!(
        "host-interfaces = \"{}\"\ninterfaces-out = \"{}\"\nfrr-out = \"{}\"\nfrr-local = \"{}\"\nnode-facts = \"{}\"\n\
         reload-interfaces = \"\"\nreload-frr = \"\"\n",
        path("interfaces"),
        path("sdn"),
        path("frr.conf"),
        path("frr.conf.local"),
        path("facts.json")
    )
}

#[test]
fn the_configuration_file_sets_serve_and_admin_flags_and_logs_name_who_did_what() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let node_dir = sdnd_testkit::node_dir(&data, "cfgnode");
    let config = dir.path().join("sdnd.toml");
    std::fs::write(
        &config,
        format!(
            "# every serve flag may be set here\ndata-dir = \"{}\"\nlisten = \"localhost:0\"\nnode = \"cfgnode\"\n\
             log-level = \"info\"\napply-timeout = 30\n{}",
            data.display(),
            agent_keys(&node_dir)
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let daemon = Daemon::start(&["--config", config, "serve"]);
    assert_eq!(daemon.node, "cfgnode", "the node comes from the file");
    assert!(
        daemon.base.starts_with("https://127.0.0.1:") || daemon.base.starts_with("https://[::1]:"),
        "{}",
        daemon.base
    );

    // The admin commands read the same file: the token is minted in the store the server uses.
    let out = sdnd(&["--config", config, "token", "add", "root@pam", "ops"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("new, empty"),
        "the file's data dir is the served one"
    );
    let token = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_string();
    let client = Client::new(&daemon.base, Some(format!("PVEAPIToken={token}")));
    client.get("/api2/json/version", &[]).ok();
    client
        .post(
            "/api2/json/cluster/sdn/zones",
            &[("zone", "z1"), ("type", "simple")],
        )
        .ok();
    client
        .get("/api2/json/cluster/sdn/zones/nosuch", &[])
        .expect_not(200);

    // One access line per request with who, what, the status and the time it took; the change
    // itself at info, naming who made it. No colour codes: stderr is a pipe here.
    let line = daemon.wait_for_line(&["sdnd::access", "path=/api2/json/version", "status=200"]);
    assert!(
        line.contains("user=root@pam!ops")
            && line.contains("duration_ms=")
            && line.contains("method=GET"),
        "{line}"
    );
    daemon.wait_for_line(&[
        "sdnd::access",
        "path=/api2/json/cluster/sdn/zones/nosuch",
        "status=4",
    ]);
    let change = daemon.wait_for_line(&["zones 'z1' created"]);
    assert!(
        change.contains("INFO") && change.contains("user=root@pam!ops"),
        "{change}"
    );
    assert!(
        !daemon.stderr.lock().unwrap().contains('\u{1b}'),
        "no ANSI escapes when not a terminal"
    );
    let tokens = sdnd(&["--config", config, "token", "list"]);
    assert!(String::from_utf8_lossy(&tokens.stdout).contains("root@pam!ops"));
    drop(daemon);

    // Flags win over the file: another address (IPv6), and a log level that hides requests.
    let daemon = Daemon::start(&[
        "--config",
        config,
        "--log-level",
        "warn",
        "serve",
        "--listen",
        "[::1]:0",
        "--node",
        "flagnode",
    ]);
    assert!(daemon.base.starts_with("https://[::1]:"), "{}", daemon.base);
    assert_eq!(daemon.node, "flagnode");
    let client = Client::new(&daemon.base, Some(format!("PVEAPIToken={token}")));
    client.get("/api2/json/version", &[]).ok();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !daemon.stderr.lock().unwrap().contains("sdnd::access"),
        "warn hides the access lines"
    );
}

#[test]
fn bad_configuration_and_flags_are_refused_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sdnd.toml");
    std::fs::write(
        &config,
        "listen = \"127.0.0.1:0\"\nlisten-address = \"x\"\n",
    )
    .unwrap();
    let out = sdnd(&["--config", config.to_str().unwrap(), "serve"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown key 'listen-address'") && err.contains("data-dir"),
        "{err}"
    );

    let out = sdnd(&["--config", "/nonexistent/sdnd.toml", "user", "list"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/nonexistent/sdnd.toml"),
        "a named file must exist"
    );

    let out = sdnd(&[
        "--log-level",
        "loud",
        "user",
        "list",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("log level 'loud'"));

    let out = sdnd(&[
        "serve",
        "--listen",
        "nosuchhost.invalid:8006",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nosuchhost.invalid"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn admin_lists_show_users_tokens_acls_and_roles_and_a_new_store_is_announced() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("typo");
    let data = data.to_str().unwrap();
    let out = sdnd(&["token", "add", "root@pam", "t1", "--data-dir", data]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("new, empty") && err.contains(data),
        "a new store is announced, naming where: {err}"
    );
    let out = sdnd(&["token", "add", "root@pam", "t2", "--data-dir", data]);
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("new, empty"),
        "only the first time"
    );
    assert!(sdnd(&[
        "role",
        "add",
        "NetOps",
        "--privs",
        "SDN.Audit",
        "--data-dir",
        data
    ])
    .status
    .success());
    assert!(sdnd(&[
        "acl",
        "modify",
        "/sdn",
        "--tokens",
        "root@pam!t1",
        "--roles",
        "NetOps",
        "--data-dir",
        data
    ])
    .status
    .success());

    let json = |args: &[&str]| -> serde_json::Value {
        let mut full = args.to_vec();
        full.extend(["--output-format", "json", "--data-dir", data]);
        let out = sdnd(&full);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let tokens = json(&["token", "list"]);
    let ids: Vec<&str> = tokens
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tokenid"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["root@pam!t1", "root@pam!t2"]);
    assert!(
        !tokens.to_string().contains("sha256"),
        "no secret, not even its hash"
    );
    let users = json(&["user", "list"]);
    assert_eq!(users[0]["userid"], "root@pam");
    let acls = json(&["acl", "list"]);
    assert_eq!(acls[0]["path"], "/sdn");
    assert_eq!(acls[0]["ugid"], "root@pam!t1");
    assert_eq!(acls[0]["roleid"], "NetOps");
    let roles = json(&["role", "list"]);
    let netops = roles
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["roleid"] == "NetOps")
        .unwrap();
    assert_eq!(netops["privs"], "SDN.Audit");
    assert!(roles
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["roleid"] == "Administrator" && r["special"] == 1));

    let out = sdnd(&["token", "delete", "root@pam", "t1", "--data-dir", data]);
    assert!(out.status.success());
    let tokens = json(&["token", "list"]);
    assert_eq!(tokens.as_array().unwrap().len(), 1);
    assert_eq!(
        json(&["acl", "list"]),
        serde_json::json!([]),
        "the token's ACL entries went with it"
    );
    let out = sdnd(&["token", "delete", "root@pam", "t1", "--data-dir", data]);
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("no such token")
    );
    // The text table, for people.
    let out = sdnd(&["token", "list", "--data-dir", data]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("tokenid") && text.contains("root@pam!t2"),
        "{text}"
    );
}
