//! `/nodes/{node}/sdn...`: a node's SDN state, from what its agent last reported.
//!
//! `GET /nodes/{node}/sdn` is sdnd's own summary of the node's last apply. The reference's
//! per-node status paths answer the same question per zone and vnet: `zones` lists the zones
//! that reach the node with `available`, `pending` (the node has not applied the running version
//! yet) or `error` (its last apply failed), and `zones/{zone}/content` the same per vnet, with
//! the reason in `statusmsg`.

use std::sync::Arc;

use hyper::Method;
use serde_json::{json, Value};

use sdn_config::{Config, Kind};

use crate::app::App;
use crate::layout::NodeReport;
use crate::nodes::NodeState;
use crate::auth::{Caller, Permission, SDN_ALLOCATE, SDN_AUDIT};
use crate::http::params::Args;
use crate::error::Error;
use crate::http::router::Route;

const ZONE_READ: Permission = Permission::Path("/sdn/zones/{zone}", &[SDN_AUDIT, SDN_ALLOCATE]);

pub fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::GET, "/nodes/{node}/sdn", Permission::Path("/sdn", &[SDN_AUDIT]), status),
        Route::new(Method::GET, "/nodes/{node}/sdn/zones", Permission::Authenticated, zones),
        Route::new(Method::GET, "/nodes/{node}/sdn/zones/{zone}", ZONE_READ, zone_index),
        Route::new(Method::GET, "/nodes/{node}/sdn/zones/{zone}/content", ZONE_READ, zone_content),
    ]
}

/// The node's last report, if its agent ever sent one.
fn report(app: &App, node: &str) -> Result<Option<NodeReport>, Error> {
    crate::nodes::report(app.store.as_ref(), node)
}

fn unknown_node(node: &str) -> Error {
    Error::NotFound(format!("node '{node}' has no SDN agent registered"))
}

fn status(app: &App, _: &Caller, mut args: Args) -> Result<Value, Error> {
    let node = args.take_string("node").unwrap_or_default();
    args.finish()?;
    let report = report(app, &node)?.ok_or_else(|| unknown_node(&node))?;
    let running = app.sdn.snapshot()?.running_version;
    Ok(json!({
        "node": report.node,
        "version": report.version,
        "running-version": running,
        "attempted": report.attempted,
        "time": report.time,
        "status": NodeState::of(Some(&report), running).name(),
        "error": report.error,
    }))
}

/// The running configuration and the node's state against it; 404 for a node that neither
/// runs an agent nor is named by the configuration.
fn node_view(app: &App, node: &str) -> Result<(Arc<Config>, NodeState), Error> {
    let snapshot = app.sdn.snapshot()?;
    let report = report(app, node)?;
    if report.is_none() && !snapshot.running.named_nodes().contains(node) {
        return Err(unknown_node(node));
    }
    let state = NodeState::of(report.as_ref(), snapshot.running_version);
    Ok((snapshot.running, state))
}

/// `GET /nodes/{node}/sdn/zones`: the running zones that reach the node, those the caller may see.
fn zones(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let node = args.take_string("node").unwrap_or_default();
    args.finish()?;
    let (running, state) = node_view(app, &node)?;
    let zones: Vec<Value> = running
        .list(Kind::Zones)
        .filter(|zone| Config::zone_spans_node(zone, &node))
        .filter(|zone| caller.has_any(&format!("/sdn/zones/{}", zone.id()), &[SDN_AUDIT, SDN_ALLOCATE]))
        .map(|zone| json!({ "zone": zone.id(), "status": state.name() }))
        .collect();
    Ok(Value::Array(zones))
}

/// The node and zone of a per-zone path, with the running configuration and the node's state;
/// 404 unless the zone is running and reaches the node.
fn zone_view(app: &App, mut args: Args) -> Result<(String, Arc<Config>, NodeState), Error> {
    let node = args.take_string("node").unwrap_or_default();
    let zone = args.take_string("zone").unwrap_or_default();
    args.finish()?;
    let (running, state) = node_view(app, &node)?;
    match running.get(Kind::Zones, &zone) {
        Some(object) if Config::zone_spans_node(object, &node) => Ok((zone, running, state)),
        Some(_) => Err(Error::NotFound(format!("zone '{zone}' does not reach node '{node}'"))),
        None => Err(Error::NotFound(format!("zone '{zone}' is not in the running configuration"))),
    }
}

/// `GET /nodes/{node}/sdn/zones/{zone}`: the zone's status subdirectories.
fn zone_index(app: &App, _: &Caller, args: Args) -> Result<Value, Error> {
    zone_view(app, args)?;
    Ok(json!([{ "subdir": "content" }]))
}

/// `GET /nodes/{node}/sdn/zones/{zone}/content`: the zone's vnets on the node.
fn zone_content(app: &App, _: &Caller, args: Args) -> Result<Value, Error> {
    let (zone, running, state) = zone_view(app, args)?;
    let vnets: Vec<Value> = running
        .vnets_in_zone(&zone)
        .map(|vnet| {
            let mut item = json!({ "vnet": vnet.id(), "status": state.name() });
            if let Some(why) = state.message() {
                item["statusmsg"] = json!(why);
            }
            item
        })
        .collect();
    Ok(Value::Array(vnets))
}
