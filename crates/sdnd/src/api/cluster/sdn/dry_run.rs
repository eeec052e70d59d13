//! `GET /cluster/sdn/dry-run?node=NODE`: what applying the pending configuration would change
//! in that node's files, as unified diffs against the files its agent last published.

use hyper::Method;
use serde_json::{json, Value};
use similar::TextDiff;

use crate::agent;
use crate::app::App;
use crate::auth::{Caller, Permission, SYS_AUDIT};
use crate::http::params::Args;
use crate::error::Error;
use crate::http::router::Route;

pub fn routes() -> Vec<Route> {
    vec![Route::new(Method::GET, "/cluster/sdn/dry-run", Permission::Path("/nodes/{node}", &[SYS_AUDIT]), dry_run)]
}

/// `diff -u` of `current` (missing: empty) against `new`; `None` when identical.
fn unified(path: &str, current: Option<&str>, new: &str) -> Option<String> {
    let current = current.unwrap_or("");
    if current == new {
        return None;
    }
    let diff = TextDiff::from_lines(current, new);
    Some(diff.unified_diff().context_radius(3).header(path, &format!("{path} (pending)")).to_string())
}

fn dry_run(app: &App, _: &Caller, mut args: Args) -> Result<Value, Error> {
    let node = args.take_string("node");
    let node = match node {
        Some(node) => node,
        None => {
            args.reject("node", "property is missing and it is not optional");
            String::new()
        }
    };
    args.finish()?;
    let files = crate::nodes::files(app.store.as_ref(), &node)?;
    let snapshot = app.sdn.snapshot()?;
    // Like the reference, the dry-run keeps the running version: only real changes show.
    let pending = snapshot.pending.to_running_config(snapshot.running_version);
    let output = agent::generate(&pending, &files)
        .map_err(|err| Error::Conflict(format!("the pending configuration can't be rendered for node '{node}': {err}")))?;
    Ok(json!({
        "frr-diff": unified("/etc/frr/frr.conf", files.current_frr.as_deref(), output.frr.as_deref().unwrap_or("")),
        "interfaces-diff": unified("/etc/network/interfaces.d/sdn", files.current_interfaces.as_deref(), &output.interfaces),
    }))
}

#[cfg(test)]
mod tests {
    use super::unified;

    #[test]
    fn identical_is_null_and_changes_are_unified() {
        assert_eq!(unified("/f", Some("a\n"), "a\n"), None);
        let diff = unified("/f", Some("a\nb\n"), "a\nc\n").unwrap();
        assert!(diff.starts_with("--- /f\n+++ /f (pending)\n"), "{diff}");
        assert!(diff.contains("-b\n+c\n"), "{diff}");
        assert!(unified("/f", None, "x\n").unwrap().contains("+x"));
    }
}
