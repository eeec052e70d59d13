//! The route table: method + path pattern -> handler and the privilege it needs.
//!
//! Like PVE's RESTHandler, every endpoint is one row of data; the dispatcher does
//! authentication, the privilege check and parameter decoding for all of them in one place.

use std::sync::Arc;

use hyper::Method;
use serde_json::{Map, Value};

use super::params::Args;
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
    /// For a directory index: the field naming each child (`id` or `name`, as PVE has it).
    /// Its handler is made by [`Router::new`] from the routes below it.
    index_key: Option<&'static str>,
}

impl Route {
    pub fn new(
        method: Method,
        pattern: &'static str,
        permission: Permission,
        handler: impl Fn(&App, &Caller, Args) -> Result<Value, Error> + Send + Sync + 'static,
    ) -> Self {
        Self { method, pattern, permission, handler: Arc::new(handler), index_key: None }
    }

    /// `GET pattern` as a directory index: `[{key: child}, ...]`, one entry per path segment
    /// below `pattern` that serves a GET, so an index can't name a path that doesn't exist.
    pub fn index(pattern: &'static str, permission: Permission, key: &'static str) -> Self {
        Self {
            method: Method::GET,
            pattern,
            permission,
            handler: Arc::new(|_, _, _| Err(Error::Internal("index built without its router".into()))),
            index_key: Some(key),
        }
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
            route.handler = Arc::new(move |_, _, args: Args| {
                args.finish()?;
                Ok(listing.clone())
            });
        }
        Self { routes }
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
