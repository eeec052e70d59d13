//! Fabrics as configuration objects (PVE 9's `fabrics.cfg`): the API's mutations of fabrics
//! and fabric nodes, and the rules tying fabrics to the zones and controllers that use them.
//!
//! A fabric is the object `ID` of type `PROTOCOL_fabric`, a node of it the object
//! `FABRIC_NODE` of type `PROTOCOL_node`, both of [`Kind::Fabrics`]. The API names the
//! protocol (`protocol=openfabric`), the fabric (`id` or `fabric_id`) and the node (`node_id`);
//! these functions translate that into the objects and name the API's fields in errors.
//! The rules across fabrics (prefixes, addresses, interfaces, areas) are the running config
//! reader's ([`crate::running`]), applied to the configuration a change would leave.

use serde_json::{Map, Value as Json};

use crate::config::{Change, Config, Params};
use crate::error::{ConfigError, FieldErrors};
use crate::kind::Kind;
use crate::net::shorten;
use crate::object::{SdnObject, MISSING};
use crate::running::{check_fabrics, RunningConfigError};
use crate::schema::{unsupported_fabric_protocol, FABRIC_PROTOCOLS, UNSUPPORTED_FABRIC_PROTOCOLS};

/// Whether the object is a fabric (not a fabric node).
fn is_fabric(o: &SdnObject) -> bool {
    o.kind() == Kind::Fabrics && o.type_name().ends_with("_fabric")
}

/// The fabric or node type name of an API `protocol`, or a 400 naming it.
fn type_of(params: &Params, node: bool) -> Result<&'static str, ConfigError> {
    let allowed: Vec<&str> = FABRIC_PROTOCOLS.iter().map(|(p, _, _)| *p).collect();
    let given = match params.get("protocol") {
        Some(Json::String(s)) if !s.is_empty() => s.as_str(),
        Some(Json::String(_)) | None => return Err(FieldErrors::single("protocol", MISSING)),
        Some(_) => {
            return Err(FieldErrors::single(
                "protocol",
                "type check ('string') failed",
            ))
        }
    };
    if UNSUPPORTED_FABRIC_PROTOCOLS.contains(&given) {
        return Err(FieldErrors::single(
            "protocol",
            unsupported_fabric_protocol(given),
        ));
    }
    FABRIC_PROTOCOLS
        .iter()
        .find(|(p, _, _)| *p == given)
        .map(|(_, fabric, node_type)| if node { *node_type } else { *fabric })
        .ok_or_else(|| {
            FieldErrors::single(
                "protocol",
                format!(
                    "unknown protocol '{}' (allowed: {})",
                    shorten(given),
                    allowed.join(", ")
                ),
            )
        })
}

/// A string parameter, or a 400 naming it.
fn string_param<'a>(params: &'a Params, name: &str) -> Result<&'a str, ConfigError> {
    match params.get(name) {
        Some(Json::String(s)) if !s.is_empty() => Ok(s),
        Some(Json::String(_)) | None => Err(FieldErrors::single(name, MISSING)),
        Some(_) => Err(FieldErrors::single(name, "type check ('string') failed")),
    }
}

/// Renames the generic object fields in errors to the fabric API's (`type` is `protocol`, a
/// node's `id` is `node_id`).
fn api_fields(err: ConfigError, node: bool) -> ConfigError {
    match err {
        ConfigError::Invalid(errors) => {
            let mut out = FieldErrors::new();
            for (field, msg) in errors.0 {
                let field = match field.as_str() {
                    "type" => "protocol".to_string(),
                    "id" if node => "node_id".to_string(),
                    _ => field,
                };
                out.add(field, msg);
            }
            ConfigError::Invalid(out)
        }
        other => other,
    }
}

impl Config {
    /// A fabric (not a node) by id.
    pub fn fabric(&self, id: &str) -> Option<&SdnObject> {
        self.get(Kind::Fabrics, id).filter(|o| is_fabric(o))
    }

    /// Every fabric (not the nodes), sorted by id.
    pub fn fabrics(&self) -> impl Iterator<Item = &SdnObject> {
        self.list(Kind::Fabrics).filter(|o| is_fabric(o))
    }

    /// Every fabric node, sorted by `FABRIC_NODE` id.
    pub fn fabric_nodes(&self) -> impl Iterator<Item = &SdnObject> {
        self.list(Kind::Fabrics).filter(|o| !is_fabric(o))
    }

    /// The nodes of one fabric, sorted by node name.
    pub fn nodes_of_fabric<'a>(&'a self, fabric: &str) -> impl Iterator<Item = &'a SdnObject> + 'a {
        let prefix = format!("{fabric}_");
        self.fabric_nodes()
            .filter(move |o| o.id().starts_with(&prefix))
    }

    /// Which zones and controllers name fabric `id`, as a 409 message; `None` if none does.
    pub(crate) fn fabric_users(&self, id: &str) -> Option<String> {
        let users: Vec<String> = self
            .list(Kind::Controllers)
            .filter(|c| c.get_str("fabric") == Some(id))
            .map(|c| format!("controller {}", c.id()))
            .chain(
                self.list(Kind::Zones)
                    .filter(|z| z.get_str("fabric") == Some(id))
                    .map(|z| format!("zone {}", z.id())),
            )
            .collect();
        (!users.is_empty()).then(|| format!("fabric {id} is still used by {}", users.join(", ")))
    }

    /// A zone's or controller's `fabric` must name an existing fabric.
    pub(crate) fn check_fabric_ref(&self, o: &SdnObject, e: &mut FieldErrors) {
        if let Some(fabric) = o.get_str("fabric") {
            if self.fabric(fabric).is_none() {
                e.add(
                    "fabric",
                    format!(
                        "fabric '{fabric}' named by {} '{}' does not exist",
                        o.kind().noun(),
                        o.id()
                    ),
                );
            }
        }
    }

    /// Checks all fabrics and nodes, with `new` replacing (or adding) its object, by the rules
    /// of the running config reader. Errors are keyed by the field they concern.
    pub(crate) fn check_fabric_set(&self, new: Option<&SdnObject>) -> Result<(), ConfigError> {
        let mut ids: Map<String, Json> = self
            .list(Kind::Fabrics)
            .map(|o| (o.id().to_string(), Json::Object(o.to_raw_json())))
            .collect();
        if let Some(new) = new {
            ids.insert(new.id().to_string(), Json::Object(new.to_raw_json()));
        }
        check_fabrics(&ids).map_err(|err| match err {
            RunningConfigError::Field {
                object,
                field,
                reason,
            } => {
                let field = if field == "type" {
                    "protocol".to_string()
                } else {
                    field
                };
                FieldErrors::single(field, format!("{object}: {reason}"))
            }
            RunningConfigError::Shape { object, reason } => {
                FieldErrors::single("id", format!("{object}: {reason}"))
            }
        })
    }

    /// `POST /cluster/sdn/fabrics/fabric`: `id`, `protocol` and the protocol's properties.
    pub fn plan_fabric_create(&self, params: &Params) -> Result<Change, ConfigError> {
        let type_name = type_of(params, false)?;
        let mut generic = params.clone();
        generic.remove("protocol");
        generic.insert("type".into(), Json::String(type_name.into()));
        if let Some(Json::String(id)) = params.get("id") {
            if id.contains('_') {
                return Err(FieldErrors::single(
                    "id",
                    format!("Fabric ID '{}' contains illegal characters", shorten(id)),
                ));
            }
        }
        self.plan_create(Kind::Fabrics, &generic)
            .map_err(|e| api_fields(e, false))
    }

    /// `PUT /cluster/sdn/fabrics/fabric/{id}`: `protocol` (required, must be the fabric's),
    /// properties to set, `delete` (properties to remove), `digest`.
    pub fn plan_fabric_update(&self, id: &str, params: &Params) -> Result<Change, ConfigError> {
        let fabric = self.fabric(id).ok_or_else(|| fabric_not_found(id))?;
        let type_name = type_of(params, false)?;
        if type_name != fabric.type_name() {
            return Err(FieldErrors::single(
                "protocol",
                format!(
                    "fabric '{id}' is a {} fabric; its protocol can't change",
                    protocol_of(fabric)
                ),
            ));
        }
        let mut generic = params.clone();
        generic.remove("protocol");
        generic.remove("id");
        self.plan_update(Kind::Fabrics, id, &generic)
            .map_err(|e| api_fields(e, false))
    }

    /// `DELETE /cluster/sdn/fabrics/fabric/{id}`: the fabric and all its nodes; refused (409)
    /// while a zone or controller uses it.
    pub fn plan_fabric_delete(&self, id: &str) -> Result<Vec<Change>, ConfigError> {
        if self.fabric(id).is_none() {
            return Err(fabric_not_found(id));
        }
        let mut changes = vec![self.plan_delete(Kind::Fabrics, id)?];
        for node in self.nodes_of_fabric(id) {
            changes.push(Change {
                kind: Kind::Fabrics,
                id: node.id().to_string(),
                object: None,
            });
        }
        Ok(changes)
    }

    /// `POST /cluster/sdn/fabrics/node/{fabric_id}`: `node_id`, `protocol` (the fabric's),
    /// `ip`, `ip6`, `interfaces`.
    pub fn plan_node_create(
        &self,
        fabric_id: &str,
        params: &Params,
    ) -> Result<Change, ConfigError> {
        let fabric = self
            .fabric(fabric_id)
            .ok_or_else(|| fabric_not_found(fabric_id))?;
        let type_name = type_of(params, true)?;
        if !type_name.starts_with(protocol_of(fabric)) || !fabric.type_name().ends_with("_fabric") {
            return Err(protocol_mismatch(fabric));
        }
        let node_id = string_param(params, "node_id")?;
        crate::net::check_node_name(node_id).map_err(|e| FieldErrors::single("node_id", e))?;
        let mut generic = params.clone();
        for name in ["protocol", "node_id", "fabric_id"] {
            generic.remove(name);
        }
        generic.insert("id".into(), Json::String(format!("{fabric_id}_{node_id}")));
        generic.insert("type".into(), Json::String(type_name.into()));
        self.plan_create(Kind::Fabrics, &generic)
            .map_err(|e| match e {
                ConfigError::Conflict(_) => ConfigError::Conflict(format!(
                    "node '{node_id}' is already in fabric '{fabric_id}'"
                )),
                other => api_fields(other, true),
            })
    }

    /// `PUT /cluster/sdn/fabrics/node/{fabric_id}/{node_id}`: `protocol` (the fabric's),
    /// `ip`, `ip6`, `interfaces`, `delete`, `digest`.
    pub fn plan_node_update(
        &self,
        fabric_id: &str,
        node_id: &str,
        params: &Params,
    ) -> Result<Change, ConfigError> {
        let fabric = self
            .fabric(fabric_id)
            .ok_or_else(|| fabric_not_found(fabric_id))?;
        let id = format!("{fabric_id}_{node_id}");
        if self.get(Kind::Fabrics, &id).is_none() {
            return Err(node_not_found(fabric_id, node_id));
        }
        let type_name = type_of(params, true)?;
        if !type_name.starts_with(protocol_of(fabric)) {
            return Err(protocol_mismatch(fabric));
        }
        let mut generic = params.clone();
        for name in ["protocol", "node_id", "fabric_id"] {
            generic.remove(name);
        }
        self.plan_update(Kind::Fabrics, &id, &generic)
            .map_err(|e| api_fields(e, true))
    }

    /// `DELETE /cluster/sdn/fabrics/node/{fabric_id}/{node_id}`.
    pub fn plan_node_delete(&self, fabric_id: &str, node_id: &str) -> Result<Change, ConfigError> {
        if self.fabric(fabric_id).is_none() {
            return Err(fabric_not_found(fabric_id));
        }
        let id = format!("{fabric_id}_{node_id}");
        if self.get(Kind::Fabrics, &id).is_none() {
            return Err(node_not_found(fabric_id, node_id));
        }
        Ok(Change {
            kind: Kind::Fabrics,
            id,
            object: None,
        })
    }
}

/// The API `protocol` of a fabric or node object.
pub fn protocol_of(o: &SdnObject) -> &str {
    o.type_name()
        .rsplit_once('_')
        .map_or(o.type_name(), |(p, _)| p)
}

fn protocol_mismatch(fabric: &SdnObject) -> ConfigError {
    FieldErrors::single(
        "protocol",
        format!(
            "fabric '{}' is a {} fabric: its nodes must be {} nodes",
            fabric.id(),
            protocol_of(fabric),
            protocol_of(fabric)
        ),
    )
}

fn fabric_not_found(id: &str) -> ConfigError {
    ConfigError::NotFound(format!("sdn fabric '{}' does not exist", shorten(id)))
}

fn node_not_found(fabric_id: &str, node_id: &str) -> ConfigError {
    ConfigError::NotFound(format!(
        "node '{}' is not in sdn fabric '{}'",
        shorten(node_id),
        shorten(fabric_id)
    ))
}
