//! The API as its OpenAPI document describes it, for `sdnctl ls PATH`, `sdnctl usage PATH` and
//! checking a call's parameters before anything is sent ("did you mean").

use serde_json::Value;

use crate::client::Method;

/// A server's OpenAPI document.
pub struct ApiDoc {
    doc: Value,
}

/// What one method of one path takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub required: bool,
    pub kind: String,
    pub description: String,
}

fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

fn is_placeholder(segment: &str) -> bool {
    segment.starts_with('{') && segment.ends_with('}')
}

impl ApiDoc {
    pub fn new(doc: Value) -> Self {
        ApiDoc { doc }
    }

    fn paths(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.doc
            .get("paths")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
    }

    /// Every path template the document describes.
    pub fn templates(&self) -> impl Iterator<Item = &str> {
        self.paths().map(|(template, _)| template.as_str())
    }

    /// The path template `path` (a concrete path below /api2/json) matches, preferring
    /// literal segments over placeholders.
    pub fn template(&self, path: &str) -> Option<&str> {
        let wanted = segments(path);
        self.paths()
            .map(|(template, _)| template.as_str())
            .filter(|template| {
                let have = segments(template);
                have.len() == wanted.len()
                    && have
                        .iter()
                        .zip(&wanted)
                        .all(|(h, w)| is_placeholder(h) || h == w)
            })
            .min_by_key(|template| {
                segments(template)
                    .iter()
                    .filter(|s| is_placeholder(s))
                    .count()
            })
    }

    fn operation(&self, template: &str, method: Method) -> Option<&Value> {
        self.doc["paths"]
            .get(template)?
            .get(method.http().as_str().to_ascii_lowercase())
    }

    /// The HTTP methods `template` serves, as pvesh's verbs.
    pub fn methods(&self, template: &str) -> Vec<Method> {
        [Method::Get, Method::Set, Method::Create, Method::Delete]
            .into_iter()
            .filter(|method| self.operation(template, *method).is_some())
            .collect()
    }

    pub fn summary(&self, template: &str, method: Method) -> String {
        self.operation(template, method)
            .and_then(|op| op["summary"].as_str())
            .unwrap_or("")
            .to_string()
    }

    /// The parameters of `method` on `template` (path placeholders left out: they are in the
    /// path), by name.
    pub fn params(&self, template: &str, method: Method) -> Vec<Param> {
        let Some(op) = self.operation(template, method) else {
            return Vec::new();
        };
        let describe = |name: &str, schema: &Value, required: bool| Param {
            name: name.to_string(),
            required,
            kind: schema["type"]
                .as_str()
                .or_else(|| schema.get("enum").map(|_| "enum"))
                .unwrap_or("value")
                .to_string(),
            description: schema["description"].as_str().unwrap_or("").to_string(),
        };
        let mut params = Vec::new();
        for param in op["parameters"].as_array().into_iter().flatten() {
            if param["in"] == "path" {
                continue;
            }
            let name = param["name"].as_str().unwrap_or("");
            let mut schema = param["schema"].clone();
            if schema.get("description").is_none() {
                schema["description"] = param["description"].clone();
            }
            params.push(describe(
                name,
                &schema,
                param["required"].as_bool().unwrap_or(false),
            ));
        }
        let body = &op["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"];
        let required: Vec<&str> = body["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let placeholders: Vec<&str> = segments(template)
            .into_iter()
            .filter(|s| is_placeholder(s))
            .map(|s| &s[1..s.len() - 1])
            .collect();
        for (name, schema) in body["properties"].as_object().into_iter().flatten() {
            if !placeholders.contains(&name.as_str()) {
                params.push(describe(name, schema, required.contains(&name.as_str())));
            }
        }
        params
    }

    /// The child segments below `template`: literal names, and placeholders (`{vnet}`).
    pub fn children(&self, template: &str) -> Vec<String> {
        let depth = segments(template).len();
        let parent = segments(template);
        let mut children: Vec<String> = self
            .paths()
            .map(|(path, _)| segments(path))
            .filter(|path| path.len() == depth + 1 && path[..depth] == parent[..])
            .map(|path| path[depth].to_string())
            .collect();
        children.sort();
        children.dedup();
        children
    }

    /// Refuses a parameter `method` on `path` does not take, before anything is sent, with the
    /// closest known name; `None` when the document doesn't know the path (the server decides).
    pub fn check(
        &self,
        method: Method,
        path: &str,
        given: &[(String, String)],
    ) -> Result<(), String> {
        let Some(template) = self.template(path) else {
            return Ok(());
        };
        if self.operation(template, method).is_none() {
            let served: Vec<&str> = self.methods(template).iter().map(|m| m.verb()).collect();
            return Err(format!(
                "{path} has no '{}' (it serves: {})",
                method.verb(),
                served.join(", ")
            ));
        }
        let known = self.params(template, method);
        let placeholders: Vec<&str> = segments(template)
            .into_iter()
            .filter(|s| is_placeholder(s))
            .map(|s| &s[1..s.len() - 1])
            .collect();
        for (name, _) in given {
            if known.iter().any(|p| &p.name == name) || placeholders.contains(&name.as_str()) {
                continue;
            }
            let mut names: Vec<&str> = known.iter().map(|p| p.name.as_str()).collect();
            names.sort_unstable();
            let hint = closest(name, &names)
                .map(|c| format!("did you mean --{c}? "))
                .unwrap_or_default();
            let list = if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            };
            return Err(format!(
                "unknown parameter --{name} for {} {template}: {hint}(it takes: {list})",
                method.verb()
            ));
        }
        Ok(())
    }
}

/// The known name nearest to `name` (edit distance at most a third of its length, at least 2).
fn closest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(2);
    known
        .iter()
        .map(|k| (distance(name, k), *k))
        .filter(|(d, k)| *d <= limit || k.starts_with(name) || name.starts_with(k))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (prev + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> ApiDoc {
        ApiDoc::new(json!({"paths": {
            "/cluster/sdn/vnets": {
                "get": {"summary": "List vnets.", "parameters": [{"name": "pending", "in": "query", "schema": {"type": "boolean"}}]},
                "post": {"summary": "Create a vnet.", "requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {
                    "properties": {"vnet": {"type": "string"}, "zone": {"type": "string"}, "tag": {"type": "integer"}},
                    "required": ["vnet", "zone"]}}}}}
            },
            "/cluster/sdn/vnets/{vnet}": {"get": {}, "delete": {}},
            "/cluster/sdn/vnets/{vnet}/subnets": {"get": {}},
            "/cluster/sdn/zones": {"get": {}}
        }}))
    }

    #[test]
    fn paths_match_templates_and_list_children() {
        let doc = doc();
        assert_eq!(
            doc.template("/cluster/sdn/vnets/v1"),
            Some("/cluster/sdn/vnets/{vnet}")
        );
        assert_eq!(
            doc.template("/cluster/sdn/vnets"),
            Some("/cluster/sdn/vnets")
        );
        assert_eq!(doc.template("/nope"), None);
        assert_eq!(
            doc.children("/cluster/sdn"),
            ["vnets", "zones"],
            "also below a path that is not one itself"
        );
        assert_eq!(doc.children("/cluster/sdn/vnets"), ["{vnet}"]);
        assert_eq!(
            doc.methods("/cluster/sdn/vnets/{vnet}"),
            [Method::Get, Method::Delete]
        );
        let params = doc.params("/cluster/sdn/vnets", Method::Create);
        assert!(params.iter().any(|p| p.name == "zone" && p.required));
    }

    #[test]
    fn unknown_parameters_are_refused_with_the_closest_name() {
        let doc = doc();
        let given = vec![
            ("vnet".to_string(), "v1".to_string()),
            ("zon".to_string(), "z1".to_string()),
        ];
        let err = doc
            .check(Method::Create, "/cluster/sdn/vnets", &given)
            .unwrap_err();
        assert!(
            err.contains("unknown parameter --zon") && err.contains("did you mean --zone?"),
            "{err}"
        );
        let err = doc
            .check(Method::Set, "/cluster/sdn/vnets", &[])
            .unwrap_err();
        assert!(err.contains("has no 'set'"), "{err}");
        assert!(doc
            .check(
                Method::Get,
                "/cluster/sdn/vnets",
                &[("pending".into(), "1".into())]
            )
            .is_ok());
        assert!(doc
            .check(Method::Get, "/not/described", &[("x".into(), "1".into())])
            .is_ok());
        assert_eq!(closest("qwerty", &["zone", "vnet"]), None);
    }
}
