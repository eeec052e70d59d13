//! The parameters and answers of the object routes, derived from the config model's schema
//! (`sdn_config::schema::types`), so that a new property is declared where it is defined.

use serde_json::json;

use sdn_config::schema::{types, PropType};
use sdn_config::Kind;

use crate::api::cluster::sdn::lock_token_param;
use crate::http::shape::{id_schema, prop_input, prop_output, Field, Schema};

/// The path placeholders of an object path (a subnet's vnet, then the id).
fn path_ids(kind: Kind, with_id: bool) -> Vec<Field> {
    let mut fields = Vec::new();
    if kind == Kind::Subnets {
        fields.push(Field::required("vnet", id_schema(Kind::Vnets), "the vnet the subnets belong to"));
    }
    if with_id {
        let what = if kind == Kind::Subnets { "the subnet's id (ZONE-ADDRESS-PREFIXLEN) or its CIDR" } else { "the object's id" };
        fields.push(Field::required(kind.id_param(), id_schema(kind), what));
    }
    fields
}

fn type_names(kind: Kind) -> Schema {
    Schema::Enum(types(kind).iter().map(|t| t.name).collect())
}

fn view(kind: Kind) -> Vec<Field> {
    if !kind.in_running_config() {
        return Vec::new();
    }
    vec![
        Field::optional("running", Schema::Boolean, "the running configuration instead of the pending one").default(json!(false)),
        Field::optional("pending", Schema::Boolean, "running and pending merged, with `state` and `pending` per object").default(json!(false)),
    ]
}

/// One property of the union of the kind's types: its types (distinct), the type names
/// having it, and whether every type requires it.
struct Prop {
    name: &'static str,
    tys: Vec<PropType>,
    of: Vec<&'static str>,
    required_by_all: bool,
}

/// Every property of every type of `kind`, in first-seen order, but those the path gives.
fn props(kind: Kind) -> Vec<Prop> {
    let all = types(kind);
    let mut props: Vec<Prop> = Vec::new();
    for tdef in all {
        for p in tdef.props {
            if kind == Kind::Subnets && p.name == "vnet" {
                continue;
            }
            let index = match props.iter().position(|q| q.name == p.name) {
                Some(i) => i,
                None => {
                    props.push(Prop { name: p.name, tys: Vec::new(), of: Vec::new(), required_by_all: true });
                    props.len() - 1
                }
            };
            let prop = &mut props[index];
            if !prop.tys.contains(&p.ty) {
                prop.tys.push(p.ty);
            }
            prop.of.push(tdef.name);
            prop.required_by_all &= p.required;
        }
    }
    for prop in &mut props {
        prop.required_by_all &= prop.of.len() == all.len();
    }
    props
}

fn union(shapes: Vec<Schema>) -> Schema {
    let mut distinct: Vec<Schema> = Vec::new();
    for shape in shapes {
        if !distinct.contains(&shape) {
            distinct.push(shape);
        }
    }
    if distinct.len() == 1 {
        distinct.remove(0)
    } else {
        Schema::AnyOf(distinct)
    }
}

fn prop_description(kind: Kind, prop: &Prop) -> String {
    let all = types(kind);
    let required: Vec<&str> = all.iter().filter(|t| t.prop(prop.name).is_some_and(|p| p.required)).map(|t| t.name).collect();
    let mut text = String::new();
    if all.len() > 1 && prop.of.len() < all.len() {
        text.push_str(&format!("Only for type {}.", prop.of.join(", ")));
    }
    if !required.is_empty() && !prop.required_by_all && all.len() > 1 {
        text.push_str(&format!(" Required for type {}.", required.join(", ")));
    }
    if super::SECRETS.contains(&(kind, prop.name)) {
        text.push_str(" A credential: stored and used, never returned by a read; an update without it keeps it.");
    }
    text.trim().to_string()
}

/// The properties as request parameters; `create` marks those every type requires.
fn prop_params(kind: Kind, create: bool) -> Vec<Field> {
    props(kind)
        .iter()
        .map(|prop| Field {
            name: prop.name,
            schema: union(prop.tys.iter().map(|t| prop_input(*t)).collect()),
            required: create && prop.required_by_all,
            default: None,
            description: prop_description(kind, prop),
        })
        .collect()
}

pub fn list(kind: Kind) -> Vec<Field> {
    let mut fields = path_ids(kind, false);
    fields.extend(view(kind));
    fields.push(Field::optional("type", type_names(kind), "only objects of this type"));
    fields
}

pub fn read(kind: Kind) -> Vec<Field> {
    let mut fields = path_ids(kind, true);
    fields.extend(view(kind));
    fields
}

pub fn create(kind: Kind) -> Vec<Field> {
    let mut fields = path_ids(kind, false);
    fields.push(if kind == Kind::Subnets {
        Field::required("subnet", Schema::String { pattern: None, max_length: Some(64) }, "the subnet's CIDR, e.g. 10.0.0.0/24")
    } else {
        Field::required(kind.id_param(), id_schema(kind), "the new object's id")
    });
    let ty = Field::optional("type", type_names(kind), "the object's type");
    // Vnets and subnets have one type, the default.
    fields.push(if types(kind).len() > 1 { Field { required: true, ..ty } } else { ty.default(json!(types(kind)[0].name)) });
    fields.extend(prop_params(kind, true));
    fields.push(lock_token_param());
    fields
}

pub fn update(kind: Kind) -> Vec<Field> {
    let mut fields = path_ids(kind, true);
    fields.push(Field::optional("type", type_names(kind), "must be the object's type (a type can't change)"));
    fields.extend(prop_params(kind, false));
    fields.push(Field::optional(
        "delete",
        Schema::AnyOf(vec![Schema::String { pattern: None, max_length: Some(4096) }, Schema::array(Schema::string())]),
        "properties to remove, comma-separated",
    ));
    fields.push(Field::optional(
        "digest",
        Schema::String { pattern: None, max_length: Some(64) },
        "refuse the change (409) unless the kind's configuration still has this digest",
    ));
    fields.push(lock_token_param());
    fields
}

pub fn delete(kind: Kind) -> Vec<Field> {
    let mut fields = path_ids(kind, true);
    fields.push(lock_token_param());
    fields
}

/// One object as reads answer it: the id, `type`, the set properties, `digest`; in the
/// pending view also `state` and `pending`; subnets also their address fields.
pub fn object(kind: Kind) -> Schema {
    let mut fields = vec![
        Field::required(kind.id_param(), Schema::string(), "the object's id"),
        Field::required("type", type_names(kind), ""),
    ];
    // The credentials are never returned (see `super::SECRETS`).
    for prop in props(kind).into_iter().filter(|prop| !super::SECRETS.contains(&(kind, prop.name))) {
        let description = prop_description(kind, &prop);
        fields.push(Field::optional(prop.name, union(prop.tys.iter().map(|t| prop_output(*t)).collect()), description));
    }
    if kind == Kind::Subnets {
        fields.push(Field::optional("vnet", Schema::string(), ""));
        for name in ["id", "cidr", "zone", "network", "mask"] {
            fields.push(Field::optional(name, Schema::string(), ""));
        }
    }
    fields.push(Field::required("digest", Schema::string(), "pass to a change to detect concurrent ones"));
    if kind.in_running_config() {
        fields.push(Field::optional("state", Schema::Enum(vec!["new", "changed", "deleted"]), "with pending=1: how it differs from running"));
        fields.push(Field::optional("pending", Schema::Map(Box::new(Schema::Any)), "with pending=1: the values that differ (`deleted` for removed ones)"));
    }
    Schema::Object(fields)
}
