//! `GET /cluster/sdn/dry-run?node=NODE`: what applying the pending configuration would change
//! in that node's files, as unified diffs against the files its agent last published.

use hyper::Method;
use sdn_config::{Reading, RunningConfig};
use serde_json::{json, Value};
use similar::TextDiff;

use crate::agent;
use crate::app::App;
use crate::auth::{Caller, Permission, SYS_AUDIT};
use crate::http::params::Args;
use crate::error::Error;
use crate::http::router::Route;
use crate::http::shape::{Field, Schema};

pub fn routes() -> Vec<Route> {
    let diff = || Schema::nullable(Schema::string());
    vec![Route::new(Method::GET, "/cluster/sdn/dry-run", Permission::Path("/nodes/{node}", &[SYS_AUDIT]), dry_run)
        .summary("What applying the pending configuration would change in the node's files, as unified diffs.")
        .params([Field::required("node", Schema::string(), "the node whose files to compare")])
        .returns(Schema::Object(vec![
            Field::required("frr-diff", diff(), "null when unchanged"),
            Field::required("interfaces-diff", diff(), "null when unchanged"),
            Field::required("warnings", Schema::array(Schema::string()), "what applying would skip on the node"),
        ]))]
}

/// `diff -u` of `current` (missing: empty) against `new`; `None` when identical.
fn unified(path: &str, current: Option<&str>, new: &str) -> Option<String> {
    unified_between(current, new, path, &format!("{path} (pending)"))
}

/// `diff -u` of `old` (missing: empty) against `new` under the given headers; `None` when
/// identical.
pub(super) fn unified_between(old: Option<&str>, new: &str, old_label: &str, new_label: &str) -> Option<String> {
    let old = old.unwrap_or("");
    if old == new {
        return None;
    }
    let diff = TextDiff::from_lines(old, new);
    Some(diff.unified_diff().context_radius(3).header(old_label, new_label).to_string())
}

/// The files `config` (as running version `version`) renders to on the node whose agent
/// published `files`.
pub(super) fn render(config: &sdn_config::Config, version: u64, files: &crate::layout::NodeFiles, node: &str, what: &str) -> Result<sdn_gen::GenOutput, Error> {
    let running = RunningConfig::from_json(&config.to_running_config(version), Reading::Strict)
        .map_err(|err| Error::Conflict(format!("{what} can't be rendered for node '{node}': {err}")))?;
    agent::generate(&running, files).map_err(|err| Error::Conflict(format!("{what} can't be rendered for node '{node}': {err}")))
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
    let files = app.node_files(&node)?;
    let snapshot = app.sdn.snapshot()?;
    // Like the reference, the dry-run keeps the running version: only real changes show.
    let output = render(&snapshot.pending, snapshot.running_version, &files, &node, "the pending configuration")?;
    Ok(json!({
        "frr-diff": unified("/etc/frr/frr.conf", files.current_frr.as_deref(), output.frr.as_deref().unwrap_or("")),
        "interfaces-diff": unified("/etc/network/interfaces.d/sdn", files.current_interfaces.as_deref(), &output.interfaces),
        // What applying would skip on this node (nothing in the diffs shows it).
        "warnings": output.warnings.iter().map(|w| w.message.as_str()).collect::<Vec<_>>(),
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
