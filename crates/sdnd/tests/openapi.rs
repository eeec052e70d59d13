//! The OpenAPI document: generated from the route table, structurally valid OpenAPI 3.1,
//! served without authentication and printed by `sdnd openapi`; and the dispatcher refusing
//! every parameter a route does not declare (after authentication and privileges).

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};

use common::{Client, InProcess, SDND};
use serde_json::Value;

fn document() -> Value {
    serde_json::from_str(&sdnd::http::openapi::api_document()).expect("the document is JSON")
}

const METHODS: [&str; 4] = ["get", "post", "put", "delete"];

/// Every operation of the document: (path, method, operation).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            out.push((path.clone(), method.clone(), op.clone()));
        }
    }
    out
}

#[test]
fn document_covers_every_route_and_nothing_else() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    let routes: BTreeSet<(String, String)> = sdnd::api::routes()
        .iter()
        .map(|r| (r.pattern.to_string(), r.method.as_str().to_ascii_lowercase()))
        .collect();
    let documented: BTreeSet<(String, String)> = operations(&doc).into_iter().map(|(p, m, _)| (p, m)).collect();
    assert_eq!(routes, documented);
    assert!(routes.len() > 40, "the table has every object route: {}", routes.len());
    // Spot checks against the wire spec.
    assert!(documented.contains(&("/cluster/sdn/vnets/{vnet}/subnets/{subnet}".into(), "put".into())));
    assert!(documented.contains(&("/nodes/{node}/tasks/{upid}/log".into(), "get".into())));
}

#[test]
fn document_is_structurally_valid_openapi_3_1() {
    let doc = document();
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    assert_eq!(doc["servers"][0]["url"], "/api2/json");
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    let mut ids = BTreeSet::new();
    for (path, method, op) in operations(&doc) {
        let at = format!("{method} {path}");
        assert!(METHODS.contains(&method.as_str()), "{at}");
        assert!(ids.insert(op["operationId"].as_str().unwrap().to_string()), "{at}: operationId not unique");

        // Every placeholder is a required path parameter, and every path parameter a placeholder.
        let placeholders: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        let params = op["parameters"].as_array().unwrap();
        let in_path: BTreeSet<&str> =
            params.iter().filter(|p| p["in"] == "path").map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(placeholders, in_path, "{at}");
        let mut names = BTreeSet::new();
        for p in params {
            assert!(["path", "query"].contains(&p["in"].as_str().unwrap()), "{at}");
            assert!(names.insert(p["name"].as_str().unwrap()), "{at}: {} declared twice", p["name"]);
            assert!(p["in"] != "path" || p["required"] == true, "{at}: {}", p["name"]);
            assert!(p["schema"].is_object(), "{at}: {}", p["name"]);
        }
        // Bodies only where the method has one, in both encodings PVE takes.
        if let Some(body) = op.get("requestBody") {
            assert!(method == "post" || method == "put", "{at}");
            let form = &body["content"]["application/x-www-form-urlencoded"]["schema"];
            assert_eq!(form, &body["content"]["application/json"]["schema"], "{at}");
            for name in form["properties"].as_object().unwrap().keys() {
                assert!(!names.contains(name.as_str()), "{at}: {name} both in the body and the path");
            }
        } else {
            assert!(method == "get" || method == "delete" || params.len() == placeholders.len(), "{at}");
        }

        let responses = op["responses"].as_object().unwrap();
        assert!(responses.contains_key("200"), "{at}");
        assert!(responses.contains_key("400"), "{at}");
        assert_eq!(op["responses"]["200"]["content"]["application/json"]["schema"]["required"][0], "data", "{at}");
        for status in responses.keys() {
            assert!(status.parse::<u16>().is_ok(), "{at}: {status}");
        }

        for requirement in op["security"].as_array().unwrap() {
            for scheme in requirement.as_object().unwrap().keys() {
                assert!(schemes.contains_key(scheme), "{at}: {scheme}");
            }
        }
        assert!(op["x-permissions"].is_object(), "{at}");
        assert!(op["description"].as_str().unwrap().contains("Permission: "), "{at}");
    }
    // The login is public; everything else needs credentials.
    assert_eq!(doc["paths"]["/access/ticket"]["post"]["security"], serde_json::json!([{}]));
    assert_eq!(doc["paths"]["/version"]["get"]["x-permissions"]["user"], "all");
    assert_eq!(doc["paths"]["/cluster/sdn"]["put"]["x-permissions"]["path"], "/sdn");
}

/// Walks every schema: each `$ref` resolves, each pattern compiles, each default fits its
/// type and range, each `required` names a property.
#[test]
fn refs_resolve_and_schemas_are_sound() {
    let doc = document();
    let mut refs = 0;
    walk(&doc, &doc, &mut refs);
    assert!(refs > 40, "{refs} refs");
}

fn walk(doc: &Value, value: &Value, refs: &mut usize) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                let pointer = target.strip_prefix('#').unwrap_or_else(|| panic!("external ref {target}"));
                assert!(doc.pointer(pointer).is_some(), "dangling ref {target}");
                *refs += 1;
            }
            if let Some(Value::String(pattern)) = map.get("pattern") {
                regex_automata::meta::Regex::new(pattern).unwrap_or_else(|e| panic!("pattern {pattern}: {e}"));
            }
            if let Some(default) = map.get("default") {
                match map.get("type").and_then(Value::as_str) {
                    Some("boolean") => assert!(default.is_boolean(), "{value}"),
                    Some("integer") => {
                        let n = default.as_i64().expect("integer default");
                        assert!(map.get("minimum").and_then(Value::as_i64).is_none_or(|min| n >= min), "{value}");
                        assert!(map.get("maximum").and_then(Value::as_i64).is_none_or(|max| n <= max), "{value}");
                    }
                    Some("string") => {
                        let s = default.as_str().expect("string default");
                        if let Some(Value::Array(allowed)) = map.get("enum") {
                            assert!(allowed.iter().any(|a| a == s), "{value}");
                        }
                    }
                    other => panic!("default on a schema of type {other:?}: {value}"),
                }
            }
            if let (Some(Value::Array(required)), Some(Value::Object(properties))) = (map.get("required"), map.get("properties")) {
                for name in required {
                    assert!(properties.contains_key(name.as_str().unwrap()), "required {name} is no property");
                }
            }
            for child in map.values() {
                walk(doc, child, refs);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| walk(doc, item, refs)),
        _ => {}
    }
}

/// Object routes take their parameters from the config model: a property of one zone type is a
/// parameter of create and update, and a bogus one is not.
#[test]
fn object_parameters_come_from_the_config_schema() {
    let doc = document();
    let body = |path: &str, method: &str| {
        doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"].clone()
    };
    let create = body("/cluster/sdn/zones", "post");
    for (kind, path) in [(sdn_config::Kind::Zones, "/cluster/sdn/zones"), (sdn_config::Kind::Controllers, "/cluster/sdn/controllers")] {
        for tdef in sdn_config::schema::types(kind) {
            for prop in tdef.props {
                assert!(body(path, "post")["properties"].get(prop.name).is_some(), "{path} {}", prop.name);
                assert!(body(&format!("{path}/{{{}}}", kind.id_param()), "put")["properties"].get(prop.name).is_some());
            }
        }
    }
    assert_eq!(create["properties"]["vrf-vxlan"]["maximum"], 16_777_215);
    assert_eq!(create["properties"]["type"]["enum"], serde_json::json!(["evpn", "qinq", "simple", "vlan", "vxlan"]));
    let required: Vec<&str> = create["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(required, ["zone", "type"]);
    let update = body("/cluster/sdn/zones/{zone}", "put");
    for name in ["digest", "delete", "lock-token"] {
        assert!(update["properties"].get(name).is_some(), "{name}");
    }
    // IPAMs and DNS are not in the running config: no running/pending view.
    let list_params = |path: &str| -> Vec<String> {
        doc["paths"][path]["get"]["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(list_params("/cluster/sdn/zones"), ["running", "pending", "type"]);
    assert_eq!(list_params("/cluster/sdn/ipams"), ["type"]);
    assert_eq!(list_params("/cluster/sdn/vnets/{vnet}/subnets"), ["vnet", "running", "pending", "type"]);
}

#[test]
fn served_without_authentication_and_printed_by_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let server = InProcess::start(dir.path());
    let anonymous = Client::new(&server.base, None);
    let served = anonymous.get("/api2/openapi.json", &[]).expect(200).body;
    let printed = Command::new(SDND).arg("openapi").stderr(Stdio::inherit()).output().unwrap();
    assert!(printed.status.success());
    let printed: Value = serde_json::from_slice(&printed.stdout).expect("sdnd openapi prints JSON");
    assert_eq!(served, printed);
    assert_eq!(served, document());
    // Only GET; and the API itself still wants credentials.
    anonymous.post("/api2/openapi.json", &[]).expect(501);
    anonymous.get("/api2/json/version", &[]).expect(401);
}

fn admin(data_dir: &std::path::Path, args: &[&str], stdin: Option<&str>) {
    use std::io::Write;
    let mut child = Command::new(SDND)
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success(), "sdnd {args:?}");
}

#[test]
fn undeclared_parameters_are_refused_after_authentication_and_privileges() {
    let dir = tempfile::tempdir().unwrap();
    let server = InProcess::start(dir.path());
    let root = server.client("root");
    let bogus = "property is not defined in schema and the schema does not allow additional properties";

    // Every kind of route: indexes, plain handlers, object routes, in the query and the body.
    let refused = [
        root.get("/api2/json/version", &[("bogus", "1")]),
        root.get("/api2/json/cluster/sdn", &[("bogus", "1")]),
        root.get("/api2/json/cluster/sdn/zones", &[("bogus", "1")]),
        root.post("/api2/json/cluster/sdn/zones", &[("zone", "z1"), ("type", "simple"), ("bogus", "1")]),
        root.json("PUT", "/api2/json/cluster/sdn", &serde_json::json!({ "bogus": 1 })),
        root.get("/api2/json/cluster/sdn/lock", &[("bogus", "1")]),
        // A subnet's create takes the vnet from the path, not a zone.
        root.post("/api2/json/cluster/sdn/vnets/v1/subnets", &[("subnet", "10.0.0.0/24"), ("zone", "z1")]),
    ];
    for reply in refused {
        let reply = reply.expect(400);
        let errors = reply.body["errors"].as_object().unwrap();
        assert_eq!(errors.len(), 1, "{}", reply.body);
        assert_eq!(errors.values().next().unwrap(), bogus);
    }
    // Refused before the handler runs, also where the handler itself ignores what it is given
    // (GET /access/ticket answers null to anything).
    let anonymous = Client::new(&server.base, None);
    anonymous.get("/api2/json/access/ticket", &[]).ok();
    let reply = anonymous.get("/api2/json/access/ticket", &[("bogus", "1")]).expect(400);
    assert_eq!(reply.body["errors"]["bogus"], bogus);
    // Nothing was created by the refused request.
    assert_eq!(root.get("/api2/json/cluster/sdn/zones", &[]).ok(), serde_json::json!([]));
    // Declared ones still work, path placeholders included.
    root.post("/api2/json/cluster/sdn/zones", &[("zone", "z1"), ("type", "simple"), ("mtu", "1450")]).ok();
    root.get("/api2/json/cluster/sdn/zones/z1", &[("pending", "1")]).ok();

    // Who asks comes first: an unknown caller learns nothing about the parameters...
    Client::new(&server.base, None).get("/api2/json/cluster/sdn", &[("bogus", "1")]).expect(401);
    // ...and neither does one without the privilege.
    let d = dir.path();
    admin(d, &["user", "add", "eve@pve", "--password-stdin"], Some("correct horse battery"));
    let eve = root.with_auth(Some(common::add_token(d, "eve@pve", "tok")));
    eve.get("/api2/json/cluster/sdn", &[("bogus", "1")]).expect(403);
    eve.get("/api2/json/version", &[("bogus", "1")]).expect(400);
}

/// Found by schemathesis: a list's `type` filter took any text (and answered an empty list);
/// like PVE's schema, it is one of the kind's types.
#[test]
fn list_type_filter_is_one_of_the_kinds_types() {
    let dir = tempfile::tempdir().unwrap();
    let server = InProcess::start(dir.path());
    let root = server.client("root");
    root.post("/api2/json/cluster/sdn/zones", &[("zone", "z1"), ("type", "simple")]).ok();
    assert_eq!(root.get("/api2/json/cluster/sdn/zones", &[("type", "simple")]).ok().as_array().unwrap().len(), 1);
    assert_eq!(root.get("/api2/json/cluster/sdn/zones", &[("type", "vlan")]).ok(), serde_json::json!([]));
    let reply = root.get("/api2/json/cluster/sdn/zones", &[("type", "nosuch")]).expect(400);
    assert!(reply.body["errors"]["type"].as_str().unwrap().contains("enumeration 'evpn, qinq, simple, vlan, vxlan'"), "{}", reply.body);
    root.get("/api2/json/cluster/sdn/vnets", &[("type", "zone")]).expect(400);
}

/// Found by schemathesis: the pending view of a vnet's subnets answered `[]` for a vnet that
/// exists nowhere (the other views answer 404); it answers 404 too, and still shows the
/// subnets of a vnet deleted since the last apply.
#[test]
fn pending_subnets_of_an_unknown_vnet_are_404() {
    let dir = tempfile::tempdir().unwrap();
    let server = InProcess::start(dir.path());
    let root = server.client("root");
    let subnets = "/api2/json/cluster/sdn/vnets/v1/subnets";
    root.get("/api2/json/cluster/sdn/vnets/nosuch/subnets", &[("pending", "1")]).expect(404);
    root.get(subnets, &[("pending", "1")]).expect(404);
    root.post("/api2/json/cluster/sdn/zones", &[("zone", "z1"), ("type", "simple")]).ok();
    root.post("/api2/json/cluster/sdn/vnets", &[("vnet", "v1"), ("zone", "z1")]).ok();
    root.post(subnets, &[("subnet", "10.0.0.0/24")]).ok();
    root.wait_task(root.put("/api2/json/cluster/sdn", &[]).ok().as_str().unwrap());
    root.delete("/api2/json/cluster/sdn/vnets/v1/subnets/10.0.0.0%2F24", &[]).ok();
    root.delete("/api2/json/cluster/sdn/vnets/v1", &[]).ok();
    root.get(subnets, &[]).expect(404);
    let pending = root.get(subnets, &[("pending", "1")]).ok();
    assert_eq!(pending[0]["state"], "deleted", "{pending}");
}
