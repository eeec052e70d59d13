//! The live per-remote view of a transaction: on a terminal one line per remote, redrawn in
//! place; otherwise one line per state change, so logs stay readable.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sdnctl::{Event, Observer, Phase, RemoteName};

struct Inner {
    lines: BTreeMap<RemoteName, String>,
    drawn: usize,
    last_draw: Option<Instant>,
}

pub struct Progress {
    order: Vec<RemoteName>,
    tty: bool,
    inner: Mutex<Inner>,
}

impl Progress {
    pub fn new(order: Vec<RemoteName>, tty: bool) -> Self {
        let lines = order.iter().map(|name| (name.clone(), "waiting".to_string())).collect();
        Progress { order, tty, inner: Mutex::new(Inner { lines, drawn: 0, last_draw: None }) }
    }

    fn draw(&self, inner: &mut Inner, force: bool) {
        let due = inner.last_draw.is_none_or(|t| t.elapsed() >= Duration::from_millis(100));
        if !(force || due) {
            return;
        }
        let width = self.order.iter().map(|n| n.as_str().len()).max().unwrap_or(0);
        let mut out = String::new();
        if inner.drawn > 0 {
            out.push_str(&format!("\x1b[{}A", inner.drawn));
        }
        for name in &self.order {
            let line = inner.lines.get(name).map(String::as_str).unwrap_or("");
            let line: String = line.chars().take(160).collect();
            out.push_str(&format!("\x1b[2K{:width$}  {line}\n", name.as_str()));
        }
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(out.as_bytes());
        let _ = stderr.flush();
        inner.drawn = self.order.len();
        inner.last_draw = Some(Instant::now());
    }

    /// Draws the final state.
    pub fn finish(&self) {
        if self.tty {
            if let Ok(mut inner) = self.inner.lock() {
                self.draw(&mut inner, true);
            }
        }
    }
}

impl Observer for Progress {
    fn event(&self, remote: &RemoteName, event: &Event) {
        let text = match event {
            Event::Started(Phase::Step { index, total, step }) => format!("step {}/{total}: {step}", index + 1),
            Event::Started(phase) => format!("{phase}..."),
            Event::State(state) => state.to_string(),
            Event::TaskLine(line) => format!("task: {line}"),
        };
        if self.tty {
            if let Ok(mut inner) = self.inner.lock() {
                inner.lines.insert(remote.clone(), text);
                self.draw(&mut inner, matches!(event, Event::State(_)));
            }
        } else if !matches!(event, Event::Started(Phase::Step { .. })) {
            eprintln!("{remote}: {text}");
        }
    }
}
