//! What a route takes and answers, as data: the parameters it declares and the JSON shape of
//! its `data`. The dispatcher refuses parameters a route does not declare, and the OpenAPI
//! document is generated from the same declarations, so neither can drift from the other.

use serde_json::{json, Map, Value};

use sdn_config::schema::PropType;
use sdn_config::Kind;

/// The JSON shape of a value (a parameter or part of an answer), rendered as JSON Schema.
#[derive(Debug, Clone, PartialEq)]
pub enum Schema {
    /// Always `null`.
    Null,
    /// Anything.
    Any,
    /// A request boolean: `0`/`1`, `true`/`false`, as PVE's schema accepts them.
    Boolean,
    /// An answer's boolean: the integer `0` or `1`, as PVE writes them.
    Flag,
    Integer { min: Option<i64>, max: Option<i64> },
    /// Any number (a fraction, such as a CPU utilization).
    Number,
    String { pattern: Option<&'static str>, max_length: Option<usize> },
    /// One of these strings.
    Enum(Vec<&'static str>),
    Array(Box<Schema>),
    /// An object with these properties (others may appear).
    Object(Vec<Field>),
    /// An object whose every value has this shape (a map keyed by name).
    Map(Box<Schema>),
    /// Any of these shapes.
    AnyOf(Vec<Schema>),
    /// This shape or `null`.
    Nullable(Box<Schema>),
}

/// A named value: a request parameter, or one property of an object in an answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: &'static str,
    pub schema: Schema,
    pub required: bool,
    /// What the handler assumes when the parameter is not given.
    pub default: Option<Value>,
    pub description: String,
}

impl Field {
    /// An optional field.
    pub fn optional(name: &'static str, schema: Schema, description: impl Into<String>) -> Self {
        Field { name, schema, required: false, default: None, description: description.into() }
    }

    /// A required field (every path placeholder is one).
    pub fn required(name: &'static str, schema: Schema, description: impl Into<String>) -> Self {
        Field { required: true, ..Field::optional(name, schema, description) }
    }

    /// The value assumed when it is absent.
    pub fn default(mut self, value: Value) -> Self {
        self.default = Some(value);
        self
    }
}

impl Schema {
    /// Any string.
    pub fn string() -> Self {
        Schema::String { pattern: None, max_length: None }
    }

    /// A string matching `pattern` (an ECMA regex, anchored by the caller).
    pub fn pattern(pattern: &'static str) -> Self {
        Schema::String { pattern: Some(pattern), max_length: None }
    }

    /// An integer within `min..=max`.
    pub fn int(min: i64, max: i64) -> Self {
        Schema::Integer { min: Some(min), max: Some(max) }
    }

    /// An array of `items`.
    pub fn array(items: Schema) -> Self {
        Schema::Array(Box::new(items))
    }

    /// `shape` or `null`.
    pub fn nullable(shape: Schema) -> Self {
        Schema::Nullable(Box::new(shape))
    }

    /// The JSON Schema (2020-12, as OpenAPI 3.1 uses it) of this shape.
    pub fn to_json(&self) -> Value {
        match self {
            Schema::Null => json!({ "type": "null" }),
            Schema::Any => json!({}),
            Schema::Boolean => json!({ "type": "boolean" }),
            Schema::Flag => json!({ "type": "integer", "enum": [0, 1] }),
            Schema::Integer { min, max } => {
                let mut out = json!({ "type": "integer" });
                if let Some(min) = min {
                    out["minimum"] = json!(min);
                }
                if let Some(max) = max {
                    out["maximum"] = json!(max);
                }
                out
            }
            Schema::Number => json!({ "type": "number" }),
            Schema::String { pattern, max_length } => {
                let mut out = json!({ "type": "string" });
                if let Some(pattern) = pattern {
                    out["pattern"] = json!(pattern);
                }
                if let Some(max) = max_length {
                    out["maxLength"] = json!(max);
                }
                out
            }
            Schema::Enum(values) => json!({ "type": "string", "enum": values }),
            Schema::Array(items) => json!({ "type": "array", "items": items.to_json() }),
            Schema::Object(fields) => object_schema(fields),
            Schema::Map(values) => json!({ "type": "object", "additionalProperties": values.to_json() }),
            Schema::AnyOf(shapes) => json!({ "anyOf": shapes.iter().map(Schema::to_json).collect::<Vec<_>>() }),
            Schema::Nullable(shape) => json!({ "anyOf": [shape.to_json(), { "type": "null" }] }),
        }
    }
}

/// The JSON Schema of one field: its shape with its description and default.
pub fn field_schema(field: &Field) -> Value {
    let mut out = field.schema.to_json();
    if !field.description.is_empty() {
        out["description"] = json!(field.description);
    }
    if let Some(default) = &field.default {
        out["default"] = default.clone();
    }
    out
}

/// `{"type":"object","properties":...,"required":[...]}` of `fields`.
pub fn object_schema<'a>(fields: impl IntoIterator<Item = &'a Field>) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for field in fields {
        properties.insert(field.name.to_string(), field_schema(field));
        if field.required {
            required.push(json!(field.name));
        }
    }
    let mut out = json!({ "type": "object", "properties": properties });
    if !required.is_empty() {
        out["required"] = Value::Array(required);
    }
    out
}

/// The id pattern of an object of `kind` (as `sdn_config::schema::check_id` checks it).
pub fn id_schema(kind: Kind) -> Schema {
    match kind {
        Kind::Zones | Kind::Vnets => Schema::pattern("^[a-zA-Z][a-zA-Z0-9]{0,6}[a-zA-Z0-9]$"),
        Kind::Controllers => Schema::pattern("^[a-zA-Z][a-zA-Z0-9_-]{0,62}[a-zA-Z0-9]$"),
        Kind::Ipams | Kind::Dns => Schema::pattern("^[a-zA-Z][a-zA-Z0-9]{0,62}[a-zA-Z0-9]$"),
        // A subnet is addressed by its id (`ZONE-10.0.0.0-24`) or its CIDR.
        Kind::Subnets => Schema::String { pattern: None, max_length: Some(128) },
        // A fabric by its id; a fabric node by `FABRIC_NODE` (the API names them apart).
        Kind::Fabrics => Schema::String { pattern: None, max_length: Some(128) },
        // A route map entry by `MAP_ORDER` (the API names them apart).
        Kind::RouteMaps => Schema::String { pattern: None, max_length: Some(40) },
        Kind::PrefixLists => Schema::pattern("^[a-zA-Z0-9][a-zA-Z0-9_-]{0,30}[a-zA-Z0-9]?$"),
    }
}

/// How a property of `ty` is sent in a request.
pub fn prop_input(ty: PropType) -> Schema {
    match ty {
        PropType::Int { min, max } => Schema::int(min, max),
        PropType::Bool => Schema::Boolean,
        PropType::Enum(values) => Schema::Enum(values.to_vec()),
        PropType::Text { max } => Schema::String { pattern: None, max_length: Some(max) },
        PropType::Ref(kind) => id_schema(kind),
        PropType::Mac => Schema::pattern("^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$"),
        // Lists arrive as one comma-separated string (pvesh, proxmoxer) or as an array of
        // strings (Rust clients); repeated `dhcp-range` keys arrive as an array.
        PropType::NodeList
        | PropType::IpList
        | PropType::RouteTargetList
        | PropType::ControllerList
        | PropType::IfaceList
        | PropType::DhcpRanges
        | PropType::FabricInterfaces { .. }
        | PropType::PropStrings(_) => Schema::AnyOf(vec![Schema::string(), Schema::array(Schema::string())]),
        PropType::Prefix { .. } | PropType::Addr { .. } => Schema::string(),
        // An area: a number or a dotted quad.
        PropType::OspfArea => Schema::AnyOf(vec![Schema::string(), Schema::Integer { min: Some(0), max: None }]),
        PropType::Bridge
        | PropType::Alias
        | PropType::Node
        | PropType::Ip
        | PropType::DnsName
        | PropType::FabricId
        | PropType::IsisNet
        | PropType::Fingerprint
        | PropType::ExitAction => Schema::string(),
        PropType::RouteMapName => Schema::pattern("^[a-zA-Z0-9][a-zA-Z0-9_-]{0,30}[a-zA-Z0-9]?$"),
        PropType::ConfigId => Schema::pattern("^[a-zA-Z][a-zA-Z0-9_-]{0,63}$"),
    }
}

/// How a property of `ty` appears in an answer (`SdnObject::to_api_json`).
pub fn prop_output(ty: PropType) -> Schema {
    match ty {
        PropType::Int { min, max } => Schema::int(min, max),
        PropType::Bool => Schema::Flag,
        PropType::Enum(values) => Schema::Enum(values.to_vec()),
        // Subnets show their ranges parsed into objects.
        PropType::DhcpRanges => Schema::array(Schema::Object(vec![
            Field::required("start-address", Schema::string(), ""),
            Field::required("end-address", Schema::string(), ""),
        ])),
        // Lists as one comma-separated string.
        _ => Schema::string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_render_with_default_description_and_required() {
        let shape = Schema::Object(vec![
            Field::required("a", Schema::int(1, 5), "an a"),
            Field::optional("b", Schema::Boolean, "").default(json!(true)),
        ]);
        assert_eq!(
            shape.to_json(),
            json!({
                "type": "object",
                "properties": {
                    "a": { "type": "integer", "minimum": 1, "maximum": 5, "description": "an a" },
                    "b": { "type": "boolean", "default": true },
                },
                "required": ["a"],
            })
        );
    }

    #[test]
    fn id_patterns_agree_with_the_config_model() {
        for (kind, good, bad) in [
            (Kind::Zones, "z1abcdef", "z1abcdefg"),
            (Kind::Vnets, "ab", "a"),
            (Kind::Controllers, "my-ctrl_1", "my-ctrl-"),
            (Kind::Ipams, "pve", "my-ipam"),
        ] {
            let Schema::String { pattern: Some(pattern), .. } = id_schema(kind) else { panic!("{kind}") };
            let re = regex_automata::meta::Regex::new(pattern).unwrap();
            assert!(re.is_match(good) && sdn_config::schema::check_id(kind, good).is_ok(), "{kind} {good}");
            assert!(!re.is_match(bad) && sdn_config::schema::check_id(kind, bad).is_err(), "{kind} {bad}");
        }
    }
}
