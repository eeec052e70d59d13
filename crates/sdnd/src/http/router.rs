//! The route table: method + path pattern -> handler and the privilege it needs.
//!
//! Like PVE's RESTHandler, every endpoint is one row of data; the dispatcher does
//! authentication, the privilege check and parameter decoding for all of them in one place.

use std::sync::Arc;

use hyper::Method;
use serde_json::{Map, Value};

use super::params::Args;
use super::shape::{Field, Schema};
use crate::error::Error;
use crate::app::App;
use crate::auth::{Caller, Permission};

/// A handler runs on a blocking thread: store calls block, and handlers stay plain functions.
pub type Handler = Arc<dyn Fn(&App, &Caller, Args) -> Result<Value, Error> + Send + Sync>;

/// One endpoint.
pub struct Route {
    pub method: Method,
    /// Path below the API prefix; `{name}` segments become parameters.
    pub pattern: &'static str,
    /// What the caller needs, checked before the handler runs.
    pub permission: Permission,
    pub handler: Handler,
    /// Every parameter the route takes, path placeholders included; the dispatcher refuses
    /// any other before the handler runs.
    pub params: Vec<Field>,
    /// The shape of the answer's `data`.
    pub returns: Schema,
    /// One line for the document.
    pub summary: String,
    /// For a directory index: the field naming each child (`id` or `name`, as PVE has it).
    /// Its handler is made by [`Router::new`] from the routes below it.
    index_key: Option<&'static str>,
    /// For a directory index: adds the current state to its listing (see [`Route::annotate`]).
    annotate: Option<Annotate>,
}

/// Adds to a directory index's listing what the children's state says (a deadline, ...).
pub type Annotate = Arc<dyn Fn(&App, &mut Value) -> Result<(), Error> + Send + Sync>;

impl Route {
    pub fn new(
        method: Method,
        pattern: &'static str,
        permission: Permission,
        handler: impl Fn(&App, &Caller, Args) -> Result<Value, Error> + Send + Sync + 'static,
    ) -> Self {
        Self {
            method,
            pattern,
            permission,
            handler: Arc::new(handler),
            params: Vec::new(),
            returns: Schema::Null,
            summary: String::new(),
            index_key: None,
            annotate: None,
        }
    }

    /// Declares the parameters (path placeholders included).
    pub fn params(mut self, params: impl IntoIterator<Item = Field>) -> Self {
        self.params = params.into_iter().collect();
        self
    }

    /// Declares the shape of the answer's `data`.
    pub fn returns(mut self, shape: Schema) -> Self {
        self.returns = shape;
        self
    }

    /// A one-line summary for the document.
    pub fn summary(mut self, summary: impl Into<String>) -> Self {
        self.summary = summary.into();
        self
    }

    /// The declared parameter called `name`.
    pub fn param(&self, name: &str) -> Option<&Field> {
        self.params.iter().find(|p| p.name == name)
    }

    /// The `{name}` placeholders of the pattern, in order.
    pub fn placeholders(&self) -> Vec<&'static str> {
        split(self.pattern)
            .into_iter()
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect()
    }

    /// `GET pattern` as a directory index: `[{key: child}, ...]`, one entry per path segment
    /// below `pattern` that serves a GET, so an index can't name a path that doesn't exist.
    pub fn index(pattern: &'static str, permission: Permission, key: &'static str) -> Self {
        Self {
            method: Method::GET,
            pattern,
            permission,
            handler: Arc::new(|_, _, _| Err(Error::Internal("index built without its router".into()))),
            params: Vec::new(),
            returns: Schema::array(Schema::Object(vec![Field::required(key, Schema::string(), "a child path")])),
            summary: "Directory index.".into(),
            index_key: Some(key),
            annotate: None,
        }
    }

    /// For a directory index: `annotate` adds the current state of its children to the
    /// listing each time it is served.
    pub fn annotate(mut self, annotate: impl Fn(&App, &mut Value) -> Result<(), Error> + Send + Sync + 'static) -> Self {
        self.annotate = Some(Arc::new(annotate));
        self
    }

    /// Matches `path` (already split into segments), returning the placeholder values.
    fn matches(&self, segments: &[&str]) -> Option<Map<String, Value>> {
        let pattern: Vec<&str> = split(self.pattern);
        if pattern.len() != segments.len() {
            return None;
        }
        let mut captured = Map::new();
        for (want, got) in pattern.iter().zip(segments) {
            if let Some(name) = want.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
                captured.insert(name.to_string(), Value::String((*got).to_string()));
            } else if want != got {
                return None;
            }
        }
        Some(captured)
    }
}

/// The literal segments right below `pattern` that lead to a GET route, in route order.
fn children_of(pattern: &str, routes: &[Route]) -> Vec<String> {
    let parent = split(pattern);
    let mut children: Vec<String> = Vec::new();
    for route in routes.iter().filter(|r| r.method == Method::GET) {
        let segments = split(route.pattern);
        if segments.len() > parent.len() && segments[..parent.len()] == parent[..] {
            let child = segments[parent.len()];
            if !child.starts_with('{') && !children.iter().any(|c| c == child) {
                children.push(child.to_string());
            }
        }
    }
    children
}

fn split(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// All routes of the API.
pub struct Router {
    routes: Vec<Route>,
}

/// The outcome of looking a request up.
pub enum Lookup<'a> {
    Found(&'a Route, Map<String, Value>),
    NotFound,
    WrongMethod,
}

impl Router {
    pub fn new(mut routes: Vec<Route>) -> Self {
        let children: Vec<Option<Vec<String>>> = routes
            .iter()
            .map(|route| route.index_key.map(|_| children_of(route.pattern, &routes)))
            .collect();
        for (route, children) in routes.iter_mut().zip(children) {
            let (Some(key), Some(children)) = (route.index_key, children) else { continue };
            let listing = Value::Array(children.into_iter().map(|child| serde_json::json!({ key: child })).collect());
            let annotate = route.annotate.clone();
            route.handler = Arc::new(move |app, _, args: Args| {
                args.finish()?;
                let mut listing = listing.clone();
                if let Some(annotate) = &annotate {
                    annotate(app, &mut listing)?;
                }
                Ok(listing)
            });
        }
        Self { routes }
    }

    /// Every route, in table order.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Finds the route for `method` and the percent-decoded path `segments`.
    pub fn lookup(&self, method: &Method, segments: &[&str]) -> Lookup<'_> {
        let mut path_exists = false;
        for route in &self.routes {
            if let Some(captured) = route.matches(segments) {
                if route.method == *method {
                    return Lookup::Found(route, captured);
                }
                path_exists = true;
            }
        }
        if path_exists {
            Lookup::WrongMethod
        } else {
            Lookup::NotFound
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(pattern: &'static str) -> Route {
        Route::new(Method::GET, pattern, Permission::Authenticated, |_, _, _| Ok(Value::Null))
    }

    #[test]
    fn indexes_list_exactly_the_children_that_exist() {
        let router = Router::new(vec![
            Route::index("/cluster/sdn", Permission::Authenticated, "id"),
            get("/cluster/sdn/vnets"),
            get("/cluster/sdn/vnets/{vnet}"),
            get("/cluster/sdn/zones"),
            Route::new(Method::POST, "/cluster/sdn/rollback", Permission::Authenticated, |_, _, _| Ok(Value::Null)),
            get("/cluster/other"),
        ]);
        assert_eq!(children_of("/cluster/sdn", &router.routes), ["vnets", "zones"]);
        let Lookup::Found(route, _) = router.lookup(&Method::GET, &["cluster", "sdn"]) else { panic!("index route") };
        assert!(route.index_key.is_some());
    }
}
