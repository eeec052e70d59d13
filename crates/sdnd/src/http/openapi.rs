//! The OpenAPI 3.1 document of the API, generated from the route table: every path, method,
//! declared parameter, privilege and answer shape comes from the [`Route`]s the server
//! dispatches with, so the document can't drift from what is served.
//!
//! Served at `GET /api2/openapi.json` (no authentication) and printed by `sdnd openapi`.

use hyper::Method;
use serde_json::{json, Map, Value};

use super::router::Route;
use super::shape::{field_schema, object_schema, Field};
use crate::auth::Permission;

/// Where the document is served, outside the API prefixes.
pub const PATH: &str = "/api2/openapi.json";

/// The statuses a refusal may have, with what they mean (see `reply::status`).
const ERRORS: [(u16, &str); 9] = [
    (400, "Parameter verification failed: `errors` names each bad parameter."),
    (401, "No valid credentials (or a failed login)."),
    (403, "Authenticated, but a privilege is missing."),
    (404, "No such object."),
    (409, "Conflicts with the current state (stale digest, pending changes, object in use)."),
    (423, "The global SDN lock refuses the change."),
    (429, "Too many failed logins: retry after `Retry-After` seconds."),
    (501, "The server has no such path or method."),
    (503, "The configuration store can't be reached right now."),
];

/// The document of the API sdnd serves, as JSON text (what `GET /api2/openapi.json` answers).
pub fn api_document() -> String {
    document(&crate::api::routes()).to_string()
}

/// The whole document for `routes`.
pub fn document(routes: &[Route]) -> Value {
    let mut paths = Map::new();
    for route in routes {
        let item = paths.entry(route.pattern.to_string()).or_insert_with(|| json!({}));
        item[method_key(&route.method)] = operation(route);
    }
    let responses: Map<String, Value> = ERRORS
        .iter()
        .map(|(status, description)| {
            let schema = if *status == 400 { "#/components/schemas/ParameterErrors" } else { "#/components/schemas/Error" };
            let mut response = json!({
                "description": description,
                "content": { "application/json": { "schema": { "$ref": schema } } },
            });
            if *status == 429 {
                response["headers"] = json!({ "Retry-After": { "schema": { "type": "integer", "minimum": 0 } } });
            }
            (status.to_string(), response)
        })
        .collect();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "sdnd",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The Proxmox VE SDN API as sdnd serves it. The same API is served below \
                /api2/extjs, where every answer is HTTP 200 with `success` and `data`. \
                Generated from the server's route table.",
        },
        "servers": [{ "url": "/api2/json" }],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "PVEAPIToken": {
                    "type": "apiKey", "in": "header", "name": "Authorization",
                    "description": "`PVEAPIToken=USER@REALM!TOKENID=SECRET` (`sdnd token add`).",
                },
                "PVEAuthCookie": {
                    "type": "apiKey", "in": "cookie", "name": "PVEAuthCookie",
                    "description": "The ticket from `POST /access/ticket`.",
                },
                "CSRFPreventionToken": {
                    "type": "apiKey", "in": "header", "name": "CSRFPreventionToken",
                    "description": "With a ticket, every request but GET needs the token that came with it.",
                },
            },
            "schemas": {
                "ParameterErrors": {
                    "type": "object",
                    "properties": {
                        "data": { "type": "null" },
                        "errors": { "type": "object", "additionalProperties": { "type": "string" } },
                    },
                    "required": ["data", "errors"],
                },
                "Error": {
                    "type": "object",
                    "properties": { "data": { "type": "null" }, "message": { "type": "string" } },
                    "required": ["data", "message"],
                },
            },
            "responses": responses,
        },
    })
}

fn method_key(method: &Method) -> &'static str {
    match *method {
        Method::GET => "get",
        Method::POST => "post",
        Method::PUT => "put",
        Method::DELETE => "delete",
        Method::HEAD => "head",
        Method::PATCH => "patch",
        _ => "options",
    }
}

/// Whether the method's parameters travel in the body (the others: in the query string).
fn has_body(method: &Method) -> bool {
    *method == Method::POST || *method == Method::PUT
}

fn operation(route: &Route) -> Value {
    let placeholders = route.placeholders();
    let mut parameters = Vec::new();
    let mut body: Vec<&Field> = Vec::new();
    for field in &route.params {
        let location = if placeholders.contains(&field.name) {
            "path"
        } else if has_body(&route.method) {
            body.push(field);
            continue;
        } else {
            "query"
        };
        let mut parameter = json!({
            "name": field.name,
            "in": location,
            "required": field.required || location == "path",
            "schema": field_schema(field),
        });
        if !field.description.is_empty() {
            parameter["description"] = json!(field.description);
        }
        parameters.push(parameter);
    }
    let (permission_text, permission) = permission(route.permission);
    let mut description = String::new();
    if !route.summary.is_empty() {
        description.push_str(&route.summary);
        description.push_str("\n\n");
    }
    description.push_str("Permission: ");
    description.push_str(&permission_text);
    let mut op = json!({
        "operationId": operation_id(route),
        "summary": route.summary,
        "description": description,
        "x-permissions": permission,
        "parameters": parameters,
        "security": security(route),
        "responses": responses(route),
    });
    if !body.is_empty() {
        let schema = object_schema(body.iter().copied());
        op["requestBody"] = json!({
            "required": body.iter().any(|f| f.required),
            "content": {
                "application/x-www-form-urlencoded": { "schema": schema },
                "application/json": { "schema": schema },
            },
        });
    }
    op
}

/// `GET /cluster/sdn/zones/{zone}` -> `get_cluster_sdn_zones_zone` (unique per route).
fn operation_id(route: &Route) -> String {
    let mut id = method_key(&route.method).to_string();
    for segment in route.pattern.split('/').filter(|s| !s.is_empty()) {
        id.push('_');
        id.extend(segment.chars().filter_map(|c| match c {
            '-' => Some('_'),
            c if c.is_ascii_alphanumeric() => Some(c),
            _ => None,
        }));
    }
    id
}

/// The privilege a route needs, as text and as the `x-permissions` extension.
fn permission(permission: Permission) -> (String, Value) {
    match permission {
        Permission::Public => ("none, no authentication needed.".into(), json!({ "user": "world" })),
        Permission::Authenticated => ("any authenticated user.".into(), json!({ "user": "all" })),
        Permission::Path(path, privileges) => (
            format!("one of {} on `{path}`.", privileges.join(", ")),
            json!({ "path": path, "any-of": privileges }),
        ),
        Permission::PerObject => (
            "checked on each object the call touches, on that object's own ACL path; \
             lists show only what the caller may see."
                .into(),
            json!({ "per-object": true }),
        ),
    }
}

/// Who may call: nobody needs to authenticate for a public route; a ticket needs the CSRF
/// header on anything but GET.
fn security(route: &Route) -> Value {
    if route.permission == Permission::Public {
        return json!([{}]);
    }
    if route.method == Method::GET {
        json!([{ "PVEAPIToken": [] }, { "PVEAuthCookie": [] }])
    } else {
        json!([{ "PVEAPIToken": [] }, { "PVEAuthCookie": [], "CSRFPreventionToken": [] }])
    }
}

/// 200 with `{"data": shape}`, and the refusals the route can give.
fn responses(route: &Route) -> Value {
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        json!({
            "description": "Success.",
            "content": { "application/json": { "schema": {
                "type": "object",
                "properties": { "data": route.returns.to_json() },
                "required": ["data"],
            } } },
        }),
    );
    let public = route.permission == Permission::Public;
    let login = public && route.method == Method::POST;
    let changes = route.method != Method::GET;
    for (status, _) in ERRORS {
        let given = match status {
            400 | 501 | 503 => true,
            401 => !public || login,
            429 => login,
            403 | 404 | 409 => !public,
            423 => !public && changes,
            _ => false,
        };
        if given {
            responses.insert(status.to_string(), json!({ "$ref": format!("#/components/responses/{status}") }));
        }
    }
    Value::Object(responses)
}
