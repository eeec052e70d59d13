//! The route table: method + path pattern -> handler and the privilege it needs.
//!
//! Like PVE's RESTHandler, every endpoint is one row of data; the dispatcher does
//! authentication, the privilege check and parameter decoding for all of them in one place.

use std::sync::Arc;

use hyper::Method;
use serde_json::{Map, Value};

use super::params::Args;
use super::reply::ApiError;
use crate::app::App;
use crate::auth::{Caller, Permission};

/// A handler runs on a blocking thread: store calls block, and handlers stay plain functions.
pub type Handler = Arc<dyn Fn(&App, &Caller, Args) -> Result<Value, ApiError> + Send + Sync>;

/// One endpoint.
pub struct Route {
    pub method: Method,
    /// Path below the API prefix; `{name}` segments become parameters.
    pub pattern: &'static str,
    /// What the caller needs, checked before the handler runs.
    pub permission: Permission,
    pub handler: Handler,
}

impl Route {
    pub fn new(
        method: Method,
        pattern: &'static str,
        permission: Permission,
        handler: impl Fn(&App, &Caller, Args) -> Result<Value, ApiError> + Send + Sync + 'static,
    ) -> Self {
        Self { method, pattern, permission, handler: Arc::new(handler) }
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
    pub fn new(routes: Vec<Route>) -> Self {
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
