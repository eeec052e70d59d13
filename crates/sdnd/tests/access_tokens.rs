//! API tokens managed over the API, as PVE's `/access/users/{userid}/token/{tokenid}`: a user
//! manages its own (logged in as itself), User.Modify on /access/groups manages anyone's, and a
//! created token works at once.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{Client, Server, SDND};
use serde_json::Value;

const PASSWORD: &str = "correct horse battery staple";

fn add_user(dir: &std::path::Path, user: &str) {
    let mut child = Command::new(SDND)
        .args(["user", "add", user, "--password-stdin", "--data-dir"])
        .arg(dir)
        .args(common::store_args())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(PASSWORD.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success());
}

/// A request as the user logged in with a ticket (cookie + CSRF header).
fn as_user(base: &str, user: &str, method: &str, path: &str, params: &[(&str, &str)]) -> (u16, Value) {
    let http = reqwest::blocking::Client::builder().danger_accept_invalid_certs(true).build().unwrap();
    let login: Value = http
        .post(format!("{base}/api2/json/access/ticket"))
        .form(&[("username", user), ("password", PASSWORD)])
        .send()
        .unwrap()
        .json()
        .unwrap();
    let (ticket, csrf) = (login["data"]["ticket"].as_str().unwrap(), login["data"]["CSRFPreventionToken"].as_str().unwrap());
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let url = format!("{base}/api2/json{path}");
    let request = if method == reqwest::Method::GET || method == reqwest::Method::DELETE {
        http.request(method, url).query(params)
    } else {
        http.request(method, url).form(params)
    };
    let response = request.header("Cookie", format!("PVEAuthCookie={ticket}")).header("CSRFPreventionToken", csrf).send().unwrap();
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

#[test]
fn users_manage_their_own_tokens_and_admins_everyones() {
    let dir = tempfile::tempdir().unwrap();
    add_user(dir.path(), "alice@pve");
    add_user(dir.path(), "bob@pve");
    let server = Server::start(dir.path());
    let root = server.client("root");
    let base = server.base.clone();

    // Alice creates her own token; it works at once (privsep by default: no privileges yet).
    let (status, created) = as_user(&base, "alice@pve", "POST", "/access/users/alice@pve/token/ci", &[("comment", "for CI")]);
    assert_eq!(status, 200, "{created}");
    let data = &created["data"];
    assert_eq!(data["full-tokenid"], "alice@pve!ci");
    assert_eq!(data["info"]["privsep"], 1);
    assert_eq!(data["info"]["comment"], "for CI");
    let secret = data["value"].as_str().unwrap();
    let token = Client::new(&base, Some(format!("PVEAPIToken=alice@pve!ci={secret}")));
    token.get("/api2/json/version", &[]).ok();
    token.get("/api2/json/cluster/sdn/zones", &[]).ok();

    // Listed and read back (never the secret), changed, and refused from a token.
    let (_, listed) = as_user(&base, "alice@pve", "GET", "/access/users/alice@pve/token", &[]);
    assert_eq!(listed["data"][0]["tokenid"], "ci");
    assert!(!listed.to_string().contains(secret));
    let (status, changed) = as_user(&base, "alice@pve", "PUT", "/access/users/alice@pve/token/ci", &[("delete", "comment"), ("privsep", "0")]);
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["data"]["privsep"], 0);
    assert!(changed["data"].get("comment").is_none());
    assert_eq!(token.post("/api2/json/access/users/alice@pve/token/more", &[]).status, 403, "a token is not its user");

    // Bob may not touch Alice's tokens; root may.
    assert_eq!(as_user(&base, "bob@pve", "GET", "/access/users/alice@pve/token", &[]).0, 403);
    assert_eq!(as_user(&base, "bob@pve", "DELETE", "/access/users/alice@pve/token/ci", &[]).0, 403);
    let (_, users) = as_user(&base, "bob@pve", "GET", "/access/users", &[]);
    assert_eq!(users["data"].as_array().unwrap().len(), 1, "bob sees only himself: {users}");
    let all = root.get("/api2/json/access/users", &[("full", "1")]).ok();
    let alice = all.as_array().unwrap().iter().find(|u| u["userid"] == "alice@pve").unwrap().clone();
    assert_eq!(alice["tokens"][0]["tokenid"], "ci");
    assert!(all.as_array().unwrap().iter().any(|u| u["userid"] == "root@pam" && u["realm-type"] == "pam"));
    root.get("/api2/json/access/users/alice@pve/token/ci", &[]).ok();
    root.post("/api2/json/access/users/alice@pve/token/ci", &[]).expect(409);
    root.delete("/api2/json/access/users/alice@pve/token/ci", &[]).ok();
    assert_eq!(token.get("/api2/json/version", &[]).status, 401, "a deleted token is refused at once");
    root.delete("/api2/json/access/users/alice@pve/token/ci", &[]).expect(404);

    // Bad ids and values: 400 naming the field.
    let bad = root.post("/api2/json/access/users/alice@pve/token/9bad", &[]).expect(400);
    assert!(bad.body["errors"]["tokenid"].is_string(), "{:?}", bad.body);
    let bad = root.post("/api2/json/access/users/alice@pve/token/ok1", &[("expire", "-5")]).expect(400);
    assert!(bad.body["errors"]["expire"].is_string(), "{:?}", bad.body);
    root.get("/api2/json/access/users/nobody@pve/token", &[]).expect(404);
}
