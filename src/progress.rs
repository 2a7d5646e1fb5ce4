//! The live view of a run on the command line, fed by the runtime's `tracing` spans and events:
//! each node waiting, running (with its attempt), done or failed, and when a checkpointing
//! task last committed, with a line of its own for a checkpoint fallback or an interrupted
//! attempt. On a terminal it is a set of redrawn lines (indicatif); otherwise one
//! plain line per change of state on stderr, which logs and tests can read.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use flyte_runtime::Graph;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

#[derive(Clone, PartialEq)]
enum State {
    Waiting,
    Running(u64),
    Succeeded,
    Cached,
    Failed,
    /// In a case of a branch that was not taken.
    Skipped,
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            State::Waiting => f.write_str("waiting"),
            State::Running(attempt) => write!(f, "running (attempt {attempt})"),
            State::Succeeded => f.write_str("succeeded"),
            State::Cached => f.write_str("succeeded (cache hit)"),
            State::Failed => f.write_str("failed"),
            State::Skipped => f.write_str("skipped (its case of the branch was not taken)"),
        }
    }
}

struct Row {
    task: String,
    state: State,
    /// When the node last committed a checkpoint. Shown as a time of day, which stays true
    /// between redraws (an age would not: a line is redrawn only when something changes).
    checkpoint: Option<SystemTime>,
    bar: Option<ProgressBar>,
}

/// Where the view goes: indicatif's lines on a terminal, plain lines elsewhere.
enum Output {
    Terminal(MultiProgress),
    Lines,
}

pub(crate) struct Progress {
    rows: Mutex<BTreeMap<String, Row>>,
    output: Output,
}

/// The ids a node or attempt span carries.
#[derive(Default)]
struct Ids {
    node: Option<String>,
    task: Option<String>,
    attempt: Option<u64>,
}

impl Visit for Ids {
    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "node_id" => self.node = Some(value.to_owned()),
            "task" => self.task = Some(value.to_owned()),
            _ => {}
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "attempt" {
            self.attempt = Some(value);
        }
    }
}

impl Progress {
    /// A view of `graph`'s nodes, all waiting.
    pub(crate) fn new(graph: &Graph) -> Self {
        let output = if std::io::stderr().is_terminal() {
            Output::Terminal(MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
        } else {
            Output::Lines
        };
        let progress = Progress {
            rows: Mutex::new(BTreeMap::new()),
            output,
        };
        // A branch's output node runs nothing: it has no line.
        for node in graph.nodes().iter().filter(|n| n.output_of().is_none()) {
            progress.set(node.id(), Some(node.task_name()), |row| row.state = State::Waiting);
        }
        progress
    }

    /// Updates a node's row (adding it if new: a map's elements appear as they start), then
    /// shows the change.
    fn set(&self, node: &str, task: Option<&str>, change: impl FnOnce(&mut Row)) {
        let mut rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
        let row = rows.entry(node.to_owned()).or_insert_with(|| Row {
            task: task.unwrap_or("?").to_owned(),
            state: State::Waiting,
            checkpoint: None,
            bar: None,
        });
        let before = row.state.clone();
        change(row);
        match &self.output {
            Output::Lines => {
                if row.state != before && row.state != State::Waiting {
                    eprintln!("{node} {}: {}", row.task, row.state);
                }
            }
            Output::Terminal(multi) => {
                let bar = row.bar.get_or_insert_with(|| {
                    let bar = multi.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template("{spinner} {prefix} {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    bar.set_prefix(format!("{node} {}", row.task));
                    bar
                });
                let checkpoint = row
                    .checkpoint
                    .map(|at| format!(", last checkpoint at {}", humantime::format_rfc3339_seconds(at)))
                    .unwrap_or_default();
                bar.set_message(format!("{}{checkpoint}", row.state));
                match row.state {
                    State::Running(_) => bar.enable_steady_tick(Duration::from_millis(200)),
                    State::Succeeded | State::Cached | State::Failed | State::Skipped => bar.finish(),
                    State::Waiting => {}
                }
            }
        }
    }
}

impl Progress {
    /// Something a node's state does not show, as a line of its own: above the redrawn lines
    /// on a terminal.
    fn note(&self, node: &str, task: Option<&str>, text: &str) {
        let line = format!("{node} {}: {text}", task.unwrap_or("?"));
        match &self.output {
            Output::Lines => eprintln!("{line}"),
            Output::Terminal(multi) => {
                let _ = multi.println(line);
            }
        }
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Progress {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut ids = Ids::default();
        attrs.record(&mut ids);
        let name = attrs.metadata().name();
        if name == "node" {
            if let Some(span) = ctx.span(id) {
                span.extensions_mut().insert(ids);
            }
        } else if name == "attempt" {
            let node = ctx
                .span(id)
                .and_then(|s| s.parent())
                .and_then(|p| p.extensions().get::<Ids>().map(|n| (n.node.clone(), n.task.clone())));
            if let (Some((Some(node), task)), Some(attempt)) = (node, ids.attempt) {
                self.set(&node, task.as_deref(), |row| row.state = State::Running(attempt));
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(scope) = ctx.event_scope(event) else { return };
        let Some((node, task)) = scope
            .from_root()
            .find_map(|s| s.extensions().get::<Ids>().map(|n| (n.node.clone(), n.task.clone())))
        else {
            return;
        };
        let Some(node) = node else { return };
        // Events are told apart by their `event` field, which the runtime keeps stable; their
        // messages are prose and may be reworded.
        #[derive(Default)]
        struct Fields {
            event: String,
            warning: Option<String>,
            message: Option<String>,
        }
        impl Visit for Fields {
            fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
                match field.name() {
                    "warning" => self.warning = Some(format!("{value:?}")),
                    "message" => self.message = Some(format!("{value:?}")),
                    _ => {}
                }
            }
            fn record_str(&mut self, field: &Field, value: &str) {
                match field.name() {
                    "event" => self.event = value.to_owned(),
                    "warning" => self.warning = Some(value.to_owned()),
                    _ => {}
                }
            }
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let task = task.as_deref();
        match fields.event.as_str() {
            "node_succeeded" => self.set(&node, task, |row| row.state = State::Succeeded),
            "node_cached" => self.set(&node, task, |row| row.state = State::Cached),
            "node_failed" => self.set(&node, task, |row| row.state = State::Failed),
            "node_skipped" => self.set(&node, task, |row| row.state = State::Skipped),
            "branch_taken" => {
                let taken = fields.message.unwrap_or_default();
                self.set(&node, task, |row| row.state = State::Succeeded);
                self.note(&node, task, &taken);
            }
            "checkpoint_committed" => self.set(&node, task, |row| row.checkpoint = Some(SystemTime::now())),
            "checkpoint_fallback" => {
                let warning = fields.warning.unwrap_or_default();
                self.note(&node, task, &format!("checkpoint fallback: {warning}"));
            }
            "attempt_interrupted" => self.note(&node, task, "its last attempt was interrupted (its process stopped)"),
            _ => {}
        }
    }
}
