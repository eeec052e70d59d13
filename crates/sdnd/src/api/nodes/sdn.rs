//! `/nodes/{node}/sdn...`: a node's SDN state, from what its agent last reported.
//!
//! `GET /nodes/{node}/sdn` is PVE's directory index; `GET /nodes/{node}/sdn/status` is sdnd's
//! own summary of the node's last apply. The reference's
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
use crate::nodes::{Liveness, NodeState};
use crate::auth::{Caller, Permission, SDN_ALLOCATE, SDN_AUDIT};
use crate::http::params::Args;
use crate::error::Error;
use crate::http::router::Route;
use crate::http::shape::{Field, Schema};
use crate::api::node_param;

const ZONE_READ: Permission = Permission::Path("/sdn/zones/{zone}", &[SDN_AUDIT, SDN_ALLOCATE]);

pub fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::GET, "/nodes/{node}/sdn", Permission::Authenticated, index)
            .summary("The node's SDN status directories, as PVE lists them (`fabrics`, `vnets`, `zones`; sdnd adds `status`).")
            .params([node_param()])
            .returns(Schema::array(Schema::Object(vec![Field::required("name", Schema::string(), "a child path")]))),
        Route::new(Method::GET, "/nodes/{node}/sdn/status", Permission::Path("/sdn", &[SDN_AUDIT]), status)
            .summary("The node's last apply, as its agent reported it.")
            .params([node_param()])
            .returns(Schema::Object(vec![
                Field::required("node", Schema::string(), ""),
                Field::required("version", Schema::Integer { min: Some(0), max: None }, "the running version last applied"),
                Field::required("running-version", Schema::Integer { min: Some(0), max: None }, ""),
                Field::required("attempted", Schema::Integer { min: Some(0), max: None }, "the version last attempted"),
                Field::required("time", Schema::Integer { min: None, max: None }, "when (epoch seconds)"),
                Field::required("status", state(), ""),
                Field::required("error", Schema::nullable(Schema::string()), "why the last attempt failed"),
                Field::required("warnings", Schema::array(Schema::string()), "what the last apply skipped on the node"),
                Field::required(
                    "dhcp-errors",
                    Schema::array(Schema::string()),
                    "what failed in the node's last DHCP pass, each `zone Z: cause` (dnsmasq files not written, dnsmasq not reloaded); `status` is then `error`",
                ),
                Field::required("online", Schema::Flag, "whether its agent sends heartbeats"),
                Field::required("last-seen", Schema::nullable(Schema::Integer { min: None, max: None }), "its last heartbeat (epoch seconds)"),
            ])),
        Route::new(Method::GET, "/nodes/{node}/sdn/zones", Permission::Authenticated, zones)
            .summary("The running zones that reach the node, those the caller may see (SDN.Audit or SDN.Allocate on each).")
            .params([node_param()])
            .returns(Schema::array(Schema::Object(vec![
                Field::required("zone", Schema::string(), ""),
                Field::required("status", state(), ""),
                Field::optional("statusmsg", Schema::string(), "why it is not available"),
            ]))),
        Route::new(Method::GET, "/nodes/{node}/sdn/zones/{zone}", ZONE_READ, zone_index)
            .summary("The zone's status subdirectories.")
            .params([node_param(), zone_param()])
            .returns(Schema::array(Schema::Object(vec![Field::required("subdir", Schema::string(), "")]))),
        Route::new(Method::GET, "/nodes/{node}/sdn/zones/{zone}/content", ZONE_READ, zone_content)
            .summary("The zone's vnets on the node.")
            .params([node_param(), zone_param()])
            .returns(Schema::array(Schema::Object(vec![
                Field::required("vnet", Schema::string(), ""),
                Field::required("status", state(), ""),
                Field::optional("statusmsg", Schema::string(), "why it is not available"),
            ]))),
    ]
}

fn zone_param() -> Field {
    Field::required("zone", crate::http::shape::id_schema(Kind::Zones), "the zone's id")
}

/// A node's state against the running version.
fn state() -> Schema {
    Schema::Enum(vec!["available", "pending", "error"])
}

/// The node's last report, if its agent ever sent one.
fn report(app: &App, node: &str) -> Result<Option<NodeReport>, Error> {
    app.node_report(node)
}

fn unknown_node(node: &str) -> Error {
    Error::NotFound(format!("node '{node}' has no SDN agent registered"))
}

/// `GET /nodes/{node}/sdn`: PVE's index (`fabrics/{fabric}` and `vnets/{vnet}` have no list of
/// their own, as in PVE), then sdnd's `status`.
fn index(app: &App, _: &Caller, mut args: Args) -> Result<Value, Error> {
    let node = args.take_string("node").unwrap_or_default();
    args.finish()?;
    node_view(app, &node)?;
    Ok(json!([{ "name": "fabrics" }, { "name": "vnets" }, { "name": "zones" }, { "name": "status" }]))
}

/// `GET /nodes/{node}/sdn/status`: the node's last apply.
fn status(app: &App, _: &Caller, mut args: Args) -> Result<Value, Error> {
    let node = args.take_string("node").unwrap_or_default();
    args.finish()?;
    let report = report(app, &node)?.ok_or_else(|| unknown_node(&node))?;
    let running = app.sdn.snapshot()?.running_version;
    let heartbeat = app.heartbeats()?.remove(&node);
    let liveness = Liveness::of(heartbeat.as_ref(), app.clock.now_ms());
    let warnings: Vec<&str> = report.warnings.iter().map(|w| w.message.as_str()).collect();
    let dhcp_errors = app.node_dhcp(&node)?.map(|d| d.messages()).unwrap_or_default();
    let mut state = NodeState::of(Some(&report), running);
    if state == NodeState::Available && !dhcp_errors.is_empty() {
        // Applied, but its DHCP failed: not OK.
        state = NodeState::Error(format!("dhcp: {}", dhcp_errors.join("; ")));
    }
    Ok(json!({
        "node": report.node,
        "version": report.version,
        "running-version": running,
        "attempted": report.attempted,
        "time": report.time,
        "status": state.name(),
        "error": report.error,
        "warnings": warnings,
        "dhcp-errors": dhcp_errors,
        "online": u8::from(liveness.is_online()),
        "last-seen": liveness.last_seen(),
    }))
}

/// The running configuration, the node's report and its state against it; 404 for a node
/// that neither runs an agent nor is named by the configuration.
fn node_view(app: &App, node: &str) -> Result<(Arc<Config>, Option<NodeReport>, NodeState), Error> {
    let snapshot = app.sdn.snapshot()?;
    // A zone whose DHCP failed on the node is in error there, as one its apply skipped.
    let dhcp = app.node_dhcp(node)?;
    let report = report(app, node)?.map(|report| crate::nodes::with_dhcp(report, dhcp.as_ref()));
    if report.is_none() && !snapshot.running.named_nodes().contains(node) {
        return Err(unknown_node(node));
    }
    let state = NodeState::of(report.as_ref(), snapshot.running_version);
    Ok((snapshot.running, report, state))
}

/// `GET /nodes/{node}/sdn/zones`: the running zones that reach the node, those the caller may see.
fn zones(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let node = args.take_string("node").unwrap_or_default();
    args.finish()?;
    let (running, report, state) = node_view(app, &node)?;
    let zones: Vec<Value> = running
        .list(Kind::Zones)
        .filter(|zone| Config::zone_spans_node(zone, &node))
        .filter(|zone| caller.has_any(&format!("/sdn/zones/{}", zone.id()), &[SDN_AUDIT, SDN_ALLOCATE]))
        .map(|zone| status_item("zone", zone.id(), &state.clone().narrowed(report.as_ref(), zone.id(), None)))
        .collect();
    Ok(Value::Array(zones))
}

/// The node and zone of a per-zone path, with the running configuration and the node's state;
/// 404 unless the zone is running and reaches the node.
fn zone_view(app: &App, mut args: Args) -> Result<(String, Arc<Config>, Option<NodeReport>, NodeState), Error> {
    let node = args.take_string("node").unwrap_or_default();
    let zone = args.take_string("zone").unwrap_or_default();
    args.finish()?;
    let (running, report, state) = node_view(app, &node)?;
    match running.get(Kind::Zones, &zone) {
        Some(object) if Config::zone_spans_node(object, &node) => Ok((zone, running, report, state)),
        Some(_) => Err(Error::NotFound(format!("zone '{zone}' does not reach node '{node}'"))),
        None => Err(Error::NotFound(format!("zone '{zone}' is not in the running configuration"))),
    }
}

/// `GET /nodes/{node}/sdn/zones/{zone}`: the zone's status subdirectories.
fn zone_index(app: &App, _: &Caller, args: Args) -> Result<Value, Error> {
    zone_view(app, args)?;
    Ok(json!([{ "subdir": "content" }, { "subdir": "bridges" }, { "subdir": "ip-vrf" }]))
}

/// `GET /nodes/{node}/sdn/zones/{zone}/content`: the zone's vnets on the node.
fn zone_content(app: &App, _: &Caller, args: Args) -> Result<Value, Error> {
    let (zone, running, report, state) = zone_view(app, args)?;
    let vnets: Vec<Value> = running
        .vnets_in_zone(&zone)
        .map(|vnet| status_item("vnet", vnet.id(), &state.clone().narrowed(report.as_ref(), &zone, Some(vnet.id()))))
        .collect();
    Ok(Value::Array(vnets))
}

/// `{"<key>": id, "status": ..., "statusmsg": why}` (the reason only where it isn't available).
fn status_item(key: &str, id: &str, state: &NodeState) -> Value {
    let mut item = json!({ key: id, "status": state.name() });
    if let Some(why) = state.message() {
        item["statusmsg"] = json!(why);
    }
    item
}
