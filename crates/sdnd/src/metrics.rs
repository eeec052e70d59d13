//! What `GET /metrics` tells Prometheus: counters and histograms kept in memory as requests,
//! applies, tasks and store calls happen, and gauges read at scrape time (the lock, pending
//! changes, the running version, the nodes' states).
//!
//! Label values are bounded: requests are counted by their route's path template (never the
//! path itself), so a client cannot grow the table by asking for random paths.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use sdn_store::{Commit, Entry, Revision, Store, Txn};

use crate::app::App;

/// Where the metrics are served (outside the API prefixes, as exporters have it).
pub const PATH: &str = "/metrics";

/// The path label of a request that matched no route.
pub const UNMATCHED: &str = "unmatched";

/// Upper bounds of the request and store latency buckets, seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Upper bounds of the apply task duration buckets, seconds (a task waits for the nodes).
const TASK_BUCKETS: &[f64] = &[0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0];

/// A cumulative histogram with fixed buckets.
struct Histogram {
    bounds: &'static [f64],
    /// One count per bound (observations at most that bound, not cumulative yet).
    counts: Vec<AtomicU64>,
    count: AtomicU64,
    /// Sum of the observations, nanoseconds.
    sum_ns: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_ns: AtomicU64::new(0),
        }
    }

    fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if let Some(slot) = self.bounds.iter().position(|bound| seconds <= *bound) {
            self.counts[slot].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(
            u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Writes the `_bucket`, `_sum` and `_count` series; `labels` is `a="b",` or empty.
    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            cumulative += count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {count}");
        let sum = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        let labels = labels.trim_end_matches(',');
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }
}

/// Requests of one route (method and path template).
struct RouteStats {
    by_status: BTreeMap<u16, u64>,
    latency: Histogram,
}

/// The in-memory side of the metrics, one per [`App`].
pub struct Metrics {
    started: i64,
    requests: Mutex<HashMap<(String, &'static str), RouteStats>>,
    applies: Histogram,
    /// Apply task durations by outcome (`ok`, `warnings`, `error`).
    tasks: [Histogram; 3],
    /// Store call latencies by operation.
    store: [Histogram; STORE_OPS.len()],
    /// The bearer token that lets a non-loopback client read the metrics.
    token: OnceLock<String>,
}

const TASK_RESULTS: [&str; 3] = ["ok", "warnings", "error"];
const STORE_OPS: [&str; 6] = ["get", "get_many", "list", "revision", "commit", "changes"];

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            started: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
            requests: Mutex::default(),
            applies: Histogram::new(LATENCY_BUCKETS),
            tasks: std::array::from_fn(|_| Histogram::new(TASK_BUCKETS)),
            store: std::array::from_fn(|_| Histogram::new(LATENCY_BUCKETS)),
            token: OnceLock::new(),
        }
    }
}

impl Metrics {
    /// Counts one answered request of `template` (a route pattern, or [`UNMATCHED`]).
    pub fn request(&self, method: &str, template: &'static str, status: u16, elapsed: Duration) {
        let mut requests = self
            .requests
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        // Methods outside the standard ones would each add a row: count them together.
        let method = match method {
            "GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "OPTIONS" | "PATCH" => method,
            _ => "other",
        };
        let stats = match requests.get_mut(&(method.to_string(), template)) {
            Some(stats) => stats,
            None => requests
                .entry((method.to_string(), template))
                .or_insert_with(|| RouteStats {
                    by_status: BTreeMap::new(),
                    latency: Histogram::new(LATENCY_BUCKETS),
                }),
        };
        *stats.by_status.entry(status).or_insert(0) += 1;
        stats.latency.observe(elapsed);
    }

    /// Records how long committing an apply took.
    pub fn apply(&self, elapsed: Duration) {
        self.applies.observe(elapsed);
    }

    /// Records a finished apply task with its exit status.
    pub fn task(&self, exitstatus: &str, elapsed: Duration) {
        let slot = if exitstatus == "OK" {
            0
        } else if exitstatus.starts_with("WARNINGS:") {
            1
        } else {
            2
        };
        self.tasks[slot].observe(elapsed);
    }

    fn store_call(&self, op: usize, elapsed: Duration) {
        self.store[op].observe(elapsed);
    }

    /// Sets the bearer token a remote scraper must send (once; later calls are ignored).
    pub fn set_token(&self, token: String) {
        let _ = self.token.set(token);
    }

    /// Whether `authorization` (the header's value) carries the configured token.
    pub fn token_matches(&self, authorization: Option<&str>) -> bool {
        let (Some(token), Some(header)) = (self.token.get(), authorization) else {
            return false;
        };
        let Some(given) = header.strip_prefix("Bearer ").map(str::trim) else {
            return false;
        };
        subtle::ConstantTimeEq::ct_eq(given.as_bytes(), token.as_bytes()).into()
    }
}

/// A store that times every call into [`Metrics`] (waiting for a change is not a call with a
/// latency, and is not timed).
pub struct TimedStore {
    inner: Arc<dyn Store>,
    metrics: Arc<Metrics>,
}

impl TimedStore {
    pub fn new(inner: Arc<dyn Store>, metrics: Arc<Metrics>) -> Self {
        TimedStore { inner, metrics }
    }

    fn timed<T>(&self, op: usize, call: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let result = call();
        self.metrics.store_call(op, start.elapsed());
        result
    }
}

impl Store for TimedStore {
    fn get(&self, key: &str) -> sdn_store::Result<Option<Entry>> {
        self.timed(0, || self.inner.get(key))
    }

    fn get_many(&self, keys: &[&str]) -> sdn_store::Result<Vec<Option<Entry>>> {
        self.timed(1, || self.inner.get_many(keys))
    }

    fn list(&self, prefix: &str) -> sdn_store::Result<(Vec<Entry>, Revision)> {
        self.timed(2, || self.inner.list(prefix))
    }

    // Timed as a listing: it is one, without the values.
    fn keys(&self, prefix: &str, limit: Option<usize>) -> sdn_store::Result<sdn_store::KeyList> {
        self.timed(2, || self.inner.keys(prefix, limit))
    }

    fn revision(&self) -> sdn_store::Result<Revision> {
        self.timed(3, || self.inner.revision())
    }

    fn commit(&self, txn: Txn) -> sdn_store::Result<Commit> {
        self.timed(4, || self.inner.commit(txn))
    }

    fn commit_or_read(&self, txn: Txn, keys: &[&str]) -> sdn_store::Result<sdn_store::CommitOrRead> {
        self.timed(4, || self.inner.commit_or_read(txn, keys))
    }

    fn changes_through(
        &self,
        prefix: &str,
        after: Revision,
        through: Revision,
    ) -> sdn_store::Result<Option<sdn_store::KeyChanges>> {
        self.timed(5, || self.inner.changes_through(prefix, after, through))
    }

    fn wait_for_change(
        &self,
        prefix: &str,
        after: Revision,
        timeout: Duration,
    ) -> sdn_store::Result<Revision> {
        self.inner.wait_for_change(prefix, after, timeout)
    }

    fn watch_prefix<'a>(&'a self, prefix: &str) -> Box<dyn sdn_store::PrefixWatch + 'a> {
        self.inner.watch_prefix(prefix)
    }

    fn remote(&self) -> bool {
        self.inner.remote()
    }
}

/// A label value in the exposition format's escaping.
fn label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// The whole exposition text: what was counted, and the gauges read from the store now.
pub fn render(app: &App) -> String {
    let metrics = &app.metrics;
    let mut out = String::with_capacity(16 * 1024);

    header(
        &mut out,
        "sdnd_build_info",
        "gauge",
        "The running sdnd's version.",
    );
    let _ = writeln!(
        out,
        "sdnd_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    header(
        &mut out,
        "sdnd_start_time_seconds",
        "gauge",
        "When this server started, epoch seconds.",
    );
    let _ = writeln!(out, "sdnd_start_time_seconds {}", metrics.started);

    {
        let requests = metrics
            .requests
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let mut rows: Vec<(&(String, &'static str), &RouteStats)> = requests.iter().collect();
        rows.sort_by(|a, b| (a.0 .1, &a.0 .0).cmp(&(b.0 .1, &b.0 .0)));
        header(
            &mut out,
            "sdnd_http_requests_total",
            "counter",
            "HTTP requests answered, by method, path template and status.",
        );
        for ((method, path), stats) in &rows {
            for (status, count) in &stats.by_status {
                let _ = writeln!(out, "sdnd_http_requests_total{{method=\"{method}\",path=\"{}\",status=\"{status}\"}} {count}", label(path));
            }
        }
        header(
            &mut out,
            "sdnd_http_request_duration_seconds",
            "histogram",
            "Time to answer an HTTP request, by method and path template.",
        );
        for ((method, path), stats) in &rows {
            stats.latency.render(
                &mut out,
                "sdnd_http_request_duration_seconds",
                &format!("method=\"{method}\",path=\"{}\",", label(path)),
            );
        }
    }

    header(
        &mut out,
        "sdnd_apply_duration_seconds",
        "histogram",
        "Time to commit an apply (the new running version and its task).",
    );
    metrics
        .applies
        .render(&mut out, "sdnd_apply_duration_seconds", "");
    header(
        &mut out,
        "sdnd_task_duration_seconds",
        "histogram",
        "Apply task durations, from start until every node reported (or the timeout), by result.",
    );
    for (result, histogram) in TASK_RESULTS.iter().zip(&metrics.tasks) {
        histogram.render(
            &mut out,
            "sdnd_task_duration_seconds",
            &format!("type=\"reloadnetworkall\",result=\"{result}\","),
        );
    }
    header(
        &mut out,
        "sdnd_store_request_duration_seconds",
        "histogram",
        "Latency of the configuration store's calls, by operation.",
    );
    for (op, histogram) in STORE_OPS.iter().zip(&metrics.store) {
        histogram.render(
            &mut out,
            "sdnd_store_request_duration_seconds",
            &format!("op=\"{op}\","),
        );
    }

    let view = app.sdn.view_counts();
    header(
        &mut out,
        "sdnd_view_refreshes_total",
        "counter",
        "Refreshes of this server's view of the configuration after a change made elsewhere.",
    );
    let _ = writeln!(out, "sdnd_view_refreshes_total {}", view.refreshes);
    header(
        &mut out,
        "sdnd_view_whole_reads_total",
        "counter",
        "Reads of the whole pending or running configuration into this server's view (a catch-up by what changed is none; an apply elsewhere costs one of the running).",
    );
    let _ = writeln!(out, "sdnd_view_whole_reads_total{{part=\"pending\"}} {}", view.whole_pending_reads);
    let _ = writeln!(out, "sdnd_view_whole_reads_total{{part=\"running\"}} {}", view.whole_running_reads);

    // The gauges from the store: if it can't answer, say so and leave them out (a scraper
    // sees the gap) rather than answer stale or made-up values.
    let read_start = Instant::now();
    let state = read_state(app);
    let read_time = read_start.elapsed();
    header(
        &mut out,
        "sdnd_store_up",
        "gauge",
        "Whether the configuration store answered this scrape's reads.",
    );
    let _ = writeln!(out, "sdnd_store_up {}", u8::from(state.is_ok()));
    header(
        &mut out,
        "sdnd_store_scrape_duration_seconds",
        "gauge",
        "Time this scrape's store reads took.",
    );
    let _ = writeln!(
        out,
        "sdnd_store_scrape_duration_seconds {}",
        read_time.as_secs_f64()
    );
    match state {
        Ok(state) => state.render(&mut out),
        Err(err) => tracing::debug!("metrics: reading the store: {err}"),
    }
    out
}

/// The gauges read from the store at scrape time.
struct State {
    now_ms: i64,
    lock: Option<crate::sdn::lock::LockRecord>,
    pending_changes: usize,
    running_version: u64,
    /// Per node: online, and its state against the running version.
    nodes: BTreeMap<String, (bool, &'static str)>,
}

fn read_state(app: &App) -> Result<State, crate::Error> {
    let snapshot = app.sdn.snapshot()?;
    let now_ms = app.clock.now_ms();
    let lock = app
        .sdn
        .lock_record()?
        .filter(|lock| !lock.is_expired(now_ms));
    let beats = app.heartbeats()?;
    let dhcp = app.node_dhcps()?;
    let nodes = app
        .node_reports()?
        .into_iter()
        .map(|(node, report)| {
            // Its DHCP failing counts as something skipped there.
            let report = crate::nodes::with_dhcp(report, dhcp.get(&node));
            let online = crate::nodes::Liveness::of(beats.get(&node), now_ms).is_online();
            let state = crate::nodes::NodeState::of(Some(&report), snapshot.running_version);
            // A node whose last apply skipped something is in error too, as its status says.
            let state =
                if state == crate::nodes::NodeState::Available && !report.warnings.is_empty() {
                    "error"
                } else {
                    state.name()
                };
            (node, (online, state))
        })
        .collect();
    Ok(State {
        now_ms,
        lock,
        pending_changes: sdn_config::count_pending_changes(&snapshot.pending, &snapshot.running),
        running_version: snapshot.running_version,
        nodes,
    })
}

impl State {
    fn render(&self, out: &mut String) {
        header(
            out,
            "sdnd_lock_held",
            "gauge",
            "Whether the global SDN lock is held.",
        );
        let _ = writeln!(out, "sdnd_lock_held {}", u8::from(self.lock.is_some()));
        header(
            out,
            "sdnd_lock_holder",
            "gauge",
            "Who holds the global SDN lock (1 for the holder; absent when free).",
        );
        header(
            out,
            "sdnd_lock_age_seconds",
            "gauge",
            "How long the global SDN lock has been held (0 when free).",
        );
        match &self.lock {
            Some(lock) => {
                let _ = writeln!(
                    out,
                    "sdnd_lock_holder{{holder=\"{}\"}} 1",
                    label(&lock.holder)
                );
                let _ = writeln!(
                    out,
                    "sdnd_lock_age_seconds {}",
                    (self.now_ms - lock.since_ms).max(0) as f64 / 1000.0
                );
            }
            None => {
                let _ = writeln!(out, "sdnd_lock_age_seconds 0");
            }
        }
        header(out, "sdnd_pending_changes", "gauge", "Zones, vnets, subnets, controllers and fabrics an apply would create, change or delete.");
        let _ = writeln!(out, "sdnd_pending_changes {}", self.pending_changes);
        header(
            out,
            "sdnd_running_version",
            "gauge",
            "The running SDN configuration version (0: never applied).",
        );
        let _ = writeln!(out, "sdnd_running_version {}", self.running_version);

        let online = self.nodes.values().filter(|(online, _)| *online).count();
        let errors = self
            .nodes
            .values()
            .filter(|(_, state)| *state == "error")
            .count();
        header(out, "sdnd_nodes", "gauge", "Registered nodes by state: online and offline (heartbeats), error (the running version failed or skipped something there).");
        let _ = writeln!(out, "sdnd_nodes{{state=\"online\"}} {online}");
        let _ = writeln!(
            out,
            "sdnd_nodes{{state=\"offline\"}} {}",
            self.nodes.len() - online
        );
        let _ = writeln!(out, "sdnd_nodes{{state=\"error\"}} {errors}");
        header(
            out,
            "sdnd_node_online",
            "gauge",
            "Whether a node's agent sends heartbeats.",
        );
        for (node, (online, _)) in &self.nodes {
            let _ = writeln!(
                out,
                "sdnd_node_online{{node=\"{}\"}} {}",
                label(node),
                u8::from(*online)
            );
        }
        header(out, "sdnd_node_status", "gauge", "A node's state against the running version (1 for its state: available, pending or error).");
        for (node, (_, state)) in &self.nodes {
            let _ = writeln!(
                out,
                "sdnd_node_status{{node=\"{}\",status=\"{state}\"}} 1",
                label(node)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_with_sum_and_count() {
        let histogram = Histogram::new(&[0.001, 0.01]);
        histogram.observe(Duration::from_micros(500));
        histogram.observe(Duration::from_millis(5));
        histogram.observe(Duration::from_secs(1));
        let mut out = String::new();
        histogram.render(&mut out, "x", "a=\"b\",");
        assert_eq!(
            out,
            "x_bucket{a=\"b\",le=\"0.001\"} 1\nx_bucket{a=\"b\",le=\"0.01\"} 2\nx_bucket{a=\"b\",le=\"+Inf\"} 3\n\
             x_sum{a=\"b\"} 1.0055\nx_count{a=\"b\"} 3\n"
        );
    }

    #[test]
    fn labels_are_escaped_and_tokens_compared_exactly() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        let metrics = Metrics::default();
        assert!(
            !metrics.token_matches(Some("Bearer x")),
            "no token configured"
        );
        metrics.set_token("s3cret".into());
        assert!(metrics.token_matches(Some("Bearer s3cret")));
        assert!(!metrics.token_matches(Some("Bearer s3cre")));
        assert!(!metrics.token_matches(Some("s3cret")));
        assert!(!metrics.token_matches(None));
    }
}
