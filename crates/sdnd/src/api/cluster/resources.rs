//! `GET /cluster/resources`: the cluster's resources as PVE lists them, those of SDN and the
//! nodes (sdnd has no guests, storages or pools), filtered by the caller's privileges.
//!
//! Without `type`, PVE 9's answer: the `node` entries and the `network` entries (per node, each
//! zone reaching it, `localnetwork`, and each fabric it is in); PVE 9 leaves out the older
//! `sdn` entries of nodes that send `network` ones, and every sdnd node does. With
//! `type=sdn` (PVE's type filter has no `network`), the `sdn` entries per node and zone, as a
//! client of PVE 8 gets them; with `type=node`, the nodes; `vm` and `storage` list nothing.

use hyper::Method;
use serde_json::{json, Value};

use sdn_config::{Config, Kind};

use crate::app::App;
use crate::auth::{Caller, Permission, SDN_ALLOCATE, SDN_AUDIT};
use crate::error::Error;
use crate::http::params::Args;
use crate::http::router::Route;
use crate::http::shape::{Field, Schema};
use crate::nodes::NodeState;

/// PVE's `type` filter.
const TYPES: &[&str] = &["vm", "storage", "node", "sdn"];

pub fn routes() -> Vec<Route> {
    let mut fields = vec![
        Field::required("id", Schema::string(), "`node/NODE`, `sdn/NODE/ZONE`, `network/NODE/zone|fabric/ID`"),
        Field::required(
            "type",
            Schema::Enum(vec!["node", "storage", "pool", "qemu", "lxc", "openvz", "sdn", "network"]),
            "",
        ),
        Field::optional(
            "status",
            Schema::string(),
            "node: online/offline/unknown; zone: available/pending/error; fabric: ok/not ok",
        ),
        Field::optional("sdn", Schema::string(), "sdn: the zone"),
        Field::optional("zone-type", Schema::string(), "sdn and network zones: the zone's type"),
        Field::optional("network", Schema::string(), "network: the zone or fabric"),
        Field::optional("network-type", Schema::Enum(vec!["zone", "fabric"]), ""),
        Field::optional("protocol", Schema::string(), "network fabrics: the fabric's protocol"),
    ];
    // A node entry's fields, `node` (the node of every entry here) optional.
    fields.extend(
        crate::api::nodes::node_fields()
            .into_iter()
            .filter(|f| !["id", "type", "status"].contains(&f.name))
            .map(|f| Field { required: false, ..f }),
    );
    vec![Route::new(Method::GET, "/cluster/resources", Permission::Authenticated, resources)
        .summary("The cluster's SDN resources and nodes, those the caller may see (SDN.Audit on the zone, SDN.Audit or SDN.Allocate on the fabric).")
        .params([Field::optional("type", Schema::Enum(TYPES.to_vec()), "only resources of this type")])
        .returns(Schema::array(Schema::Object(fields)))]
}

fn resources(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let only = args.take_string("type");
    if let Some(kind) = only.as_deref().filter(|kind| !TYPES.contains(kind)) {
        let kind: String = kind.chars().take(32).collect();
        args.reject("type", format!("value '{kind}' does not have a value in the enumeration '{}'", TYPES.join(", ")));
    }
    args.finish()?;
    let wants = |kind: &str| only.as_deref().is_none_or(|only| only == kind);
    let mut entries = Vec::new();
    if wants("node") {
        entries.extend(crate::api::nodes::node_entries(app, caller)?);
    }
    let (legacy, network) = match only.as_deref() {
        None => (false, true),
        Some("sdn") => (true, false),
        Some(_) => (false, false),
    };
    if !legacy && !network {
        return Ok(Value::Array(entries));
    }
    let snapshot = app.sdn.snapshot()?;
    let running: &Config = &snapshot.running;
    let dhcp = app.node_dhcps()?;
    // A zone whose DHCP failed on a node is in error there, as one its apply skipped.
    let reports: std::collections::BTreeMap<String, crate::layout::NodeReport> = app
        .node_reports()?
        .into_iter()
        .map(|(node, report)| {
            let report = crate::nodes::with_dhcp(report, dhcp.get(&node));
            (node, report)
        })
        .collect();
    let beats = if network { app.heartbeats()? } else { Default::default() };
    let zone_visible: Vec<(&sdn_config::SdnObject, bool)> = running
        .list(Kind::Zones)
        .map(|zone| (zone, caller.has_any(&format!("/sdn/zones/{}", zone.id()), &[SDN_AUDIT])))
        .collect();
    let local_visible = network && caller.has_any("/sdn/zones/localnetwork", &[SDN_AUDIT]);
    for (node, report) in &reports {
        let state = NodeState::of(Some(report), snapshot.running_version);
        if local_visible {
            entries.push(json!({
                "id": format!("network/{node}/zone/localnetwork"),
                "type": "network",
                "network-type": "zone",
                "network": "localnetwork",
                "node": node,
                "status": "ok",
            }));
        }
        for (zone, visible) in &zone_visible {
            if !visible || !Config::zone_spans_node(zone, node) {
                continue;
            }
            let status = state.clone().narrowed(Some(report), zone.id(), None);
            let mut entry = if legacy {
                json!({ "id": format!("sdn/{node}/{}", zone.id()), "type": "sdn", "sdn": zone.id() })
            } else {
                json!({
                    "id": format!("network/{node}/zone/{}", zone.id()),
                    "type": "network",
                    "network-type": "zone",
                    "network": zone.id(),
                })
            };
            entry["node"] = json!(node);
            entry["status"] = json!(status.name());
            entry["zone-type"] = json!(zone.type_name());
            entries.push(entry);
        }
        if network {
            let fabric_status = beats.get(node).map(|b| &b.fabrics);
            for fabric in running.fabrics() {
                let id = fabric.id();
                if running.get(Kind::Fabrics, &format!("{id}_{node}")).is_none()
                    || !caller.has_any(&format!("/sdn/fabrics/{id}"), &[SDN_AUDIT, SDN_ALLOCATE])
                {
                    continue;
                }
                let status = fabric_status.and_then(|f| f.get(id)).map_or("unknown", String::as_str);
                entries.push(json!({
                    "id": format!("network/{node}/fabric/{id}"),
                    "type": "network",
                    "network-type": "fabric",
                    "network": id,
                    "protocol": sdn_config::protocol_of(fabric),
                    "node": node,
                    "status": status,
                }));
            }
        }
    }
    Ok(Value::Array(entries))
}
