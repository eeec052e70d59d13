//! The history verbs: `history`, `diff`, `restore`, `confirm`, `log`.

use serde_json::Value;

use sdnctl::render::OutputFormat;
use sdnctl::{ApiPath, Client, LockToken, Method};

use crate::{print, Failure};

#[derive(clap::Args)]
pub struct HistoryArgs {
    /// Show at most this many versions.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

#[derive(clap::Args)]
pub struct DiffArgs {
    /// The version to compare from.
    pub version: u64,
    /// Another version, or `pending` [default: the running version].
    pub to: Option<String>,
    /// Also show the file diffs of this node.
    #[arg(long)]
    pub node: Option<String>,
}

#[derive(clap::Args)]
pub struct RestoreArgs {
    /// The version whose configuration becomes pending (apply makes it running).
    pub version: u64,
    #[arg(long, value_name = "TOKEN")]
    pub lock_token: Option<String>,
    /// Restore even over pending changes (they are replaced).
    #[arg(long)]
    pub allow_pending: bool,
    #[arg(long)]
    pub comment: Option<String>,
}

#[derive(clap::Args)]
pub struct ConfirmArgs {
    /// The lock token, if the confirmed apply was made under the lock.
    #[arg(long, value_name = "TOKEN")]
    pub lock_token: Option<String>,
}

#[derive(clap::Args)]
pub struct LogArgs {
    /// Show at most this many records.
    #[arg(long, default_value_t = 50)]
    pub limit: u64,
    /// Only records from this time on (epoch seconds).
    #[arg(long)]
    pub since: Option<u64>,
    /// Only this user's or token's records.
    #[arg(long)]
    pub user: Option<String>,
    /// Only this action (lock, unlock, force-unlock, expire, apply, rollback, restore, confirm, revert, changes).
    #[arg(long)]
    pub action: Option<String>,
}

fn get(client: &Client, path: &str, params: &[(String, String)]) -> Result<Value, Failure> {
    let path: ApiPath = path.parse().map_err(Failure::usage)?;
    Ok(client.call(Method::Get, &path, params)?)
}

pub fn history(client: &Client, args: &HistoryArgs, format: OutputFormat) -> Result<u8, Failure> {
    let versions = get(client, "/cluster/sdn/versions", &[])?;
    let list: Vec<Value> = versions.as_array().cloned().unwrap_or_default().into_iter().take(args.limit).collect();
    if format != OutputFormat::Text {
        print(&Value::Array(list), format);
        return Ok(0);
    }
    if list.is_empty() {
        println!("no versions kept (nothing applied since the history was kept)");
    }
    for version in list {
        let mut line = format!(
            "{:>6}  {}  {}",
            version["version"],
            version["time"],
            version["user"].as_str().unwrap_or("")
        );
        if version["confirmed"] == 0 {
            line.push_str("  (not confirmed)");
        }
        if let Some(comment) = version["comment"].as_str() {
            line.push_str(&format!("  {comment}"));
        }
        println!("{line}");
    }
    Ok(0)
}

/// The properties that differ between two API objects, as `name: old -> new`.
fn changed_fields(before: &Value, after: &Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let (old, new) = (before.as_object().unwrap_or(&empty), after.as_object().unwrap_or(&empty));
    let mut names: Vec<&String> = old.keys().chain(new.keys()).collect();
    names.sort();
    names.dedup();
    let show = |v: Option<&Value>| v.map_or("(unset)".to_string(), |v| v.as_str().map_or_else(|| v.to_string(), str::to_string));
    names
        .into_iter()
        .filter(|name| old.get(*name) != new.get(*name))
        .map(|name| format!("{name}: {} -> {}", show(old.get(name)), show(new.get(name))))
        .collect()
}

pub fn diff(client: &Client, args: &DiffArgs, format: OutputFormat) -> Result<u8, Failure> {
    let mut params = Vec::new();
    if let Some(to) = &args.to {
        params.push(("to".to_string(), to.clone()));
    }
    if let Some(node) = &args.node {
        params.push(("node".to_string(), node.clone()));
    }
    let changes = get(client, &format!("/cluster/sdn/versions/{}/diff", args.version), &params)?;
    if format != OutputFormat::Text {
        print(&changes, format);
        return Ok(0);
    }
    let list = changes.as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        println!("no differences");
    }
    for change in &list {
        let (kind, id) = (change["kind"].as_str().unwrap_or(""), change["id"].as_str().unwrap_or(""));
        match change["state"].as_str() {
            _ if kind == "file" => print!("\n{}", change["diff"].as_str().unwrap_or("")),
            Some("new") => println!("+ {kind} {id}"),
            Some("deleted") => println!("- {kind} {id}"),
            _ => println!("~ {kind} {id}: {}", changed_fields(&change["before"], &change["after"]).join(", ")),
        }
    }
    Ok(0)
}

pub fn restore(client: &Client, args: &RestoreArgs) -> Result<u8, Failure> {
    let mut params = vec![("allow-pending".to_string(), if args.allow_pending { "1" } else { "0" }.to_string())];
    if let Some(token) = &args.lock_token {
        params.push(("lock-token".into(), token.clone()));
    }
    if let Some(comment) = &args.comment {
        params.push(("comment".into(), comment.clone()));
    }
    let path: ApiPath = format!("/cluster/sdn/versions/{}/restore", args.version).parse().map_err(Failure::usage)?;
    client.call(Method::Create, &path, &params)?;
    eprintln!("pending is version {} again: review with `sdnctl pending`, then `sdnctl apply`", args.version);
    Ok(0)
}

pub fn confirm(client: &Client, args: &ConfirmArgs) -> Result<u8, Failure> {
    let token = args.lock_token.clone().map(LockToken::new);
    let version = sdnctl::confirmed::confirm(client, token.as_ref())?;
    eprintln!("version {version} confirmed");
    Ok(0)
}

pub fn log(client: &Client, args: &LogArgs, format: OutputFormat) -> Result<u8, Failure> {
    let mut params = vec![("limit".to_string(), args.limit.to_string())];
    if let Some(since) = args.since {
        params.push(("since".into(), since.to_string()));
    }
    if let Some(user) = &args.user {
        params.push(("user".into(), user.clone()));
    }
    if let Some(action) = &args.action {
        params.push(("action".into(), action.clone()));
    }
    let records = get(client, "/cluster/sdn/audit", &params)?;
    if format != OutputFormat::Text {
        print(&records, format);
        return Ok(0);
    }
    for record in records.as_array().cloned().unwrap_or_default() {
        let mut line = format!(
            "{}  {:<12}  {}",
            record["time"],
            record["action"].as_str().unwrap_or(""),
            record["user"].as_str().unwrap_or("")
        );
        if let Some(client) = record["client"].as_str().filter(|c| !c.is_empty()) {
            line.push_str(&format!(" from {client}"));
        }
        if let Some(version) = record["version"].as_u64() {
            line.push_str(&format!("  version {version}"));
        }
        for key in ["comment", "detail"] {
            if let Some(text) = record[key].as_str() {
                line.push_str(&format!("  {text}"));
            }
        }
        println!("{line}");
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::changed_fields;
    use serde_json::json;

    #[test]
    fn changed_fields_name_old_and_new() {
        let fields = changed_fields(&json!({"zone": "z", "mtu": 1500}), &json!({"zone": "z", "mtu": 1400, "dns": "d"}));
        assert_eq!(fields, ["dns: (unset) -> d", "mtu: 1500 -> 1400"]);
    }
}
