//! A node's live SDN state, read from the node itself by its agent (through the store, so any
//! sdnd server answers for any node): an EVPN zone's IP VRF, a vnet's MAC VRF, a zone's
//! bridges, and a fabric's routes, neighbors and interfaces, with PVE's paths, checks and
//! answers (`PVE::API2::Network::SDN::Nodes::{Zone,Vnet,Fabric}`).

use hyper::Method;
use serde_json::{json, Value};

use sdn_config::{Config, Kind, SdnObject};

use crate::api::node_param;
use crate::app::App;
use crate::auth::{Caller, Permission, SDN_ALLOCATE, SDN_AUDIT};
use crate::error::Error;
use crate::http::params::Args;
use crate::http::router::Route;
use crate::http::shape::{Field, Schema};
use crate::node_query::NodeQuery;

const ZONE_AUDIT: Permission = Permission::Path("/sdn/zones/{zone}", &[SDN_AUDIT]);
const FABRIC_AUDIT: Permission = Permission::Path("/sdn/fabrics/{fabric}", &[SDN_AUDIT]);

pub fn routes() -> Vec<Route> {
    let zone = || Field::required("zone", Schema::String { pattern: None, max_length: Some(64) }, "the zone's id");
    let vnet = || Field::required("vnet", crate::http::shape::id_schema(Kind::Vnets), "the vnet's id");
    let fabric =
        || Field::required("fabric", Schema::String { pattern: None, max_length: Some(128) }, "the fabric's id");
    let subdirs = || Schema::array(Schema::Object(vec![Field::required("subdir", Schema::string(), "")]));
    let strings = || Schema::array(Schema::string());
    vec![
        Route::new(Method::GET, "/nodes/{node}/sdn/zones/{zone}/ip-vrf", ZONE_AUDIT, ip_vrf)
            .summary("The IP VRF of an EVPN zone on the node (its FRR's `vrf_ZONE` routes).")
            .params([node_param(), zone()])
            .returns(Schema::array(Schema::Object(vec![
                Field::required("ip", Schema::string(), "the CIDR of the route"),
                Field::required("metric", Schema::Integer { min: None, max: None }, ""),
                Field::required("protocol", Schema::string(), "where the route was learned from (e.g. bgp)"),
                Field::required("nexthops", strings(), "interface names or addresses"),
            ]))),
        Route::new(Method::GET, "/nodes/{node}/sdn/zones/{zone}/bridges", ZONE_AUDIT, bridges)
            .summary("The zone's bridges (its vnets; every bridge for `localnetwork`) on the node and their ports.")
            .params([node_param(), zone()])
            .returns(Schema::array(Schema::Object(vec![
                Field::required("name", Schema::string(), ""),
                Field::required("vlan_filtering", Schema::string(), "1 for a VLAN-aware bridge"),
                Field::required(
                    "ports",
                    Schema::array(Schema::Object(vec![
                        Field::required("name", Schema::string(), ""),
                        Field::optional("vmid", Schema::Integer { min: None, max: None }, "the guest of the port"),
                        Field::optional("index", Schema::string(), "the guest's NIC (`netN`)"),
                        Field::optional(
                            "primary_vlan",
                            Schema::Integer { min: None, max: None },
                            "PVID (VLAN-aware only)",
                        ),
                        Field::optional("vlans", strings(), "further VLANs and ranges (VLAN-aware only)"),
                    ])),
                    "",
                ),
            ]))),
        Route::new(Method::GET, "/nodes/{node}/sdn/vnets/{vnet}", Permission::Authenticated, vnet_index)
            .summary("The vnet's status subdirectories (SDN.Audit on /sdn/zones/ZONE/VNET).")
            .params([node_param(), vnet()])
            .returns(subdirs()),
        Route::new(Method::GET, "/nodes/{node}/sdn/vnets/{vnet}/mac-vrf", Permission::Authenticated, mac_vrf)
            .summary("The MAC VRF of a vnet in an EVPN zone on the node (SDN.Audit on /sdn/zones/ZONE/VNET).")
            .params([node_param(), vnet()])
            .returns(Schema::array(Schema::Object(vec![
                Field::required("ip", Schema::string(), ""),
                Field::required("mac", Schema::string(), ""),
                Field::required("nexthop", Schema::string(), ""),
            ]))),
        Route::new(Method::GET, "/nodes/{node}/sdn/fabrics/{fabric}", FABRIC_AUDIT, fabric_index)
            .summary("The fabric's status subdirectories.")
            .params([node_param(), fabric()])
            .returns(subdirs()),
        Route::new(Method::GET, "/nodes/{node}/sdn/fabrics/{fabric}/routes", FABRIC_AUDIT, fabric_routes)
            .summary("The fabric's routes on the node.")
            .params([node_param(), fabric()])
            .returns(Schema::array(Schema::Object(vec![
                Field::required("route", Schema::string(), "the CIDR of the route"),
                Field::required("via", strings(), "its nexthops"),
            ]))),
        Route::new(Method::GET, "/nodes/{node}/sdn/fabrics/{fabric}/neighbors", FABRIC_AUDIT, fabric_neighbors)
            .summary("The fabric's neighbors of the node.")
            .params([node_param(), fabric()])
            .returns(Schema::array(Schema::Object(vec![
                Field::required("neighbor", Schema::string(), "the neighbor's name or address"),
                Field::required("status", Schema::string(), "as FRR reports it"),
                Field::required("uptime", Schema::string(), "as FRR reports it (e.g. 8h24m12s)"),
            ]))),
        Route::new(Method::GET, "/nodes/{node}/sdn/fabrics/{fabric}/interfaces", FABRIC_AUDIT, fabric_interfaces)
            .summary("The fabric's interfaces on the node.")
            .params([node_param(), fabric()])
            .returns(Schema::array(Schema::Object(vec![
                Field::required("name", Schema::string(), ""),
                Field::required("type", Schema::string(), "e.g. Point-To-Point, Broadcast"),
                Field::required("state", Schema::string(), ""),
            ]))),
    ]
}

/// A node of the cluster: one whose agent registered or that the running configuration names.
fn known_node(app: &App, node: &str, running: &Config) -> Result<(), Error> {
    if app.node_report(node)?.is_some() || running.named_nodes().contains(node) {
        Ok(())
    } else {
        Err(Error::NotFound(format!(
            "node '{node}' is not a node of this cluster (no SDN agent registered, not named by the configuration)"
        )))
    }
}

fn ask(app: &App, node: &str, query: NodeQuery) -> Result<Value, Error> {
    app.ask_node(node, query, crate::node_query::ANSWER_TIMEOUT)
}

/// Why a zone has no EVPN status on a node.
enum NotEvpn {
    Missing,
    OtherType,
    NotOnNode,
}

/// An EVPN zone of the running configuration that reaches `node`.
fn evpn_zone<'a>(running: &'a Config, zone: &str, node: &str) -> Result<&'a SdnObject, NotEvpn> {
    let object = running.get(Kind::Zones, zone).ok_or(NotEvpn::Missing)?;
    if object.type_name() != "evpn" {
        return Err(NotEvpn::OtherType);
    }
    if !Config::zone_spans_node(object, node) {
        return Err(NotEvpn::NotOnNode);
    }
    Ok(object)
}

/// `GET /nodes/{node}/sdn/zones/{zone}/ip-vrf`.
fn ip_vrf(app: &App, _: &Caller, mut args: Args) -> Result<Value, Error> {
    let node = args.take_string("node").unwrap_or_default();
    let zone = args.take_string("zone").unwrap_or_default();
    args.finish()?;
    let running = app.sdn.snapshot()?.running;
    known_node(app, &node, &running)?;
    evpn_zone(&running, &zone, &node).map_err(|why| {
        Error::param(
            "zone",
            match why {
                NotEvpn::Missing => "zone does not exist".to_string(),
                NotEvpn::OtherType => "zone is not an EVPN zone".to_string(),
                NotEvpn::NotOnNode => format!("zone does not exist on node {node}"),
            },
        )
    })?;
    ask(app, &node, NodeQuery::IpVrf { vrf: format!("vrf_{zone}") })
}

/// `GET /nodes/{node}/sdn/zones/{zone}/bridges`: the bridges the caller may see
/// (SDN.Audit or SDN.Allocate on /sdn/zones/ZONE/BRIDGE).
fn bridges(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let node = args.take_string("node").unwrap_or_default();
    let zone = args.take_string("zone").unwrap_or_default();
    args.finish()?;
    let running = app.sdn.snapshot()?.running;
    known_node(app, &node, &running)?;
    let query = if zone == "localnetwork" {
        NodeQuery::Bridges { bridges: None }
    } else {
        if running.get(Kind::Zones, &zone).is_none() {
            return Err(Error::param("zone", "zone does not exist"));
        }
        NodeQuery::Bridges { bridges: Some(running.vnets_in_zone(&zone).map(|v| v.id().to_string()).collect()) }
    };
    let answer = ask(app, &node, query)?;
    let visible = answer
        .as_array()
        .into_iter()
        .flatten()
        .filter(|bridge| {
            let name = bridge["name"].as_str().unwrap_or_default();
            caller.has_any(&format!("/sdn/zones/{zone}/{name}"), &[SDN_AUDIT, SDN_ALLOCATE])
        })
        .cloned()
        .collect();
    Ok(Value::Array(visible))
}

/// The vnet of a per-vnet path, once the caller may see it (SDN.Audit on its zone's path).
fn vnet_view(app: &App, caller: &Caller, args: &mut Args) -> Result<(String, String, std::sync::Arc<Config>), Error> {
    let node = args.take_string("node").unwrap_or_default();
    let vnet = args.take_string("vnet").unwrap_or_default();
    let running = app.sdn.snapshot()?.running;
    let zone = running.get(Kind::Vnets, &vnet).and_then(|v| v.get_str("zone")).unwrap_or_default().to_string();
    caller.require(&format!("/sdn/zones/{zone}/{vnet}"), &[SDN_AUDIT])?;
    known_node(app, &node, &running)?;
    if running.get(Kind::Vnets, &vnet).is_none() {
        return Err(Error::param("vnet", "vnet does not exist"));
    }
    Ok((node, vnet, running))
}

/// `GET /nodes/{node}/sdn/vnets/{vnet}`.
fn vnet_index(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    vnet_view(app, caller, &mut args)?;
    args.finish()?;
    Ok(json!([{ "subdir": "mac-vrf" }]))
}

/// `GET /nodes/{node}/sdn/vnets/{vnet}/mac-vrf`.
fn mac_vrf(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let (node, vnet, running) = vnet_view(app, caller, &mut args)?;
    args.finish()?;
    let object = running.get(Kind::Vnets, &vnet).ok_or_else(|| Error::param("vnet", "vnet does not exist"))?;
    let zone = object.get_str("zone").unwrap_or_default();
    evpn_zone(&running, zone, &node).map_err(|why| {
        Error::param(
            "zone",
            match why {
                NotEvpn::Missing => format!("zone {zone} does not exist"),
                NotEvpn::OtherType => format!("zone {zone} is not an EVPN zone."),
                NotEvpn::NotOnNode => format!("zone {zone} of vnet {vnet} does not exist on node {node}"),
            },
        )
    })?;
    let vni = object.get_int("tag").ok_or_else(|| Error::param("vnet", format!("vnet {vnet} has no tag")))?;
    ask(app, &node, NodeQuery::MacVrf { vni })
}

/// A per-fabric path's node, fabric and protocol, and the node's interfaces in the fabric
/// (`None`: the node is not in it).
struct FabricView {
    node: String,
    fabric: String,
    protocol: String,
    interfaces: Option<Vec<String>>,
}

fn fabric_view(app: &App, mut args: Args) -> Result<FabricView, Error> {
    let node = args.take_string("node").unwrap_or_default();
    let fabric = args.take_string("fabric").unwrap_or_default();
    args.finish()?;
    let running = app.sdn.snapshot()?.running;
    known_node(app, &node, &running)?;
    let object = running
        .fabric(&fabric)
        .ok_or_else(|| Error::param("fabric", format!("fabric '{fabric}' is not in the running configuration")))?;
    let protocol = sdn_config::protocol_of(object).to_string();
    let interfaces = running
        .get(Kind::Fabrics, &format!("{fabric}_{node}"))
        .map(|member| member.get_list("interfaces").iter().filter_map(|spec| interface_name(spec)).collect());
    Ok(FabricView { node, fabric, protocol, interfaces })
}

/// The interface name of a fabric node's interface property string (`name=ens19,ip=...`).
fn interface_name(spec: &str) -> Option<String> {
    spec.split(',')
        .find_map(|part| match part.split_once('=') {
            Some(("name", name)) => Some(name),
            Some(_) => None,
            None => Some(part),
        })
        .map(str::to_string)
}

/// `GET /nodes/{node}/sdn/fabrics/{fabric}`.
fn fabric_index(app: &App, _: &Caller, args: Args) -> Result<Value, Error> {
    fabric_view(app, args)?;
    Ok(json!([{ "subdir": "interfaces" }, { "subdir": "neighbors" }, { "subdir": "routes" }]))
}

/// One of a fabric's status paths: asks the node unless it is not in the fabric (nothing of
/// the fabric on it, as PVE answers).
fn fabric_status(app: &App, args: Args, query: fn(String, String, Vec<String>) -> NodeQuery) -> Result<Value, Error> {
    let view = fabric_view(app, args)?;
    let Some(interfaces) = view.interfaces else { return Ok(json!([])) };
    ask(app, &view.node, query(view.fabric, view.protocol, interfaces))
}

fn fabric_routes(app: &App, _: &Caller, args: Args) -> Result<Value, Error> {
    fabric_status(app, args, |fabric, protocol, interfaces| NodeQuery::FabricRoutes { fabric, protocol, interfaces })
}

fn fabric_neighbors(app: &App, _: &Caller, args: Args) -> Result<Value, Error> {
    fabric_status(app, args, |fabric, protocol, interfaces| NodeQuery::FabricNeighbors { fabric, protocol, interfaces })
}

fn fabric_interfaces(app: &App, _: &Caller, args: Args) -> Result<Value, Error> {
    fabric_status(app, args, |fabric, protocol, interfaces| NodeQuery::FabricInterfaces {
        fabric,
        protocol,
        interfaces,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn interface_names_come_from_the_property_strings() {
        assert_eq!(super::interface_name("name=ens19,hello_multiplier=3").as_deref(), Some("ens19"));
        assert_eq!(super::interface_name("ip=10.0.0.1/31,name=ens20").as_deref(), Some("ens20"));
        assert_eq!(super::interface_name("ens21").as_deref(), Some("ens21"));
    }
}
