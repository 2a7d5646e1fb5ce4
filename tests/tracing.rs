//! The runtime's `tracing` spans and events: executions, nodes, attempts, retries, checkpoint
//! commits and cache hits, each with its ids as fields, on whatever thread runs it.
//!
//! One subscriber is installed for the whole test binary (a global default, so that the
//! scheduler's worker threads report to it too); each test picks its own execution's records
//! out by execution id.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use flytekit::{task, workflow, LocalRuntime, TaskContext, TaskError};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

type Fields = BTreeMap<String, String>;

#[derive(Debug, Clone)]
struct Record {
    level: Level,
    message: String,
    fields: Fields,
    /// The event's spans, outermost first: name and fields.
    spans: Vec<(String, Fields)>,
}

impl Record {
    /// A field of the event or of any of its spans.
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .get(name)
            .or_else(|| self.spans.iter().rev().find_map(|(_, f)| f.get(name)))
            .map(String::as_str)
    }

    fn span_names(&self) -> Vec<&str> {
        self.spans.iter().map(|(n, _)| n.as_str()).collect()
    }
}

struct Collect(Fields);

impl Visit for Collect {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

struct Capture(Arc<Mutex<Vec<Record>>>);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Collect(Fields::new());
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields.0);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Collect(Fields::new());
        event.record(&mut fields);
        let mut fields = fields.0;
        let message = fields.remove("message").unwrap_or_default();
        let spans = ctx
            .event_scope(event)
            .map(|scope| {
                scope
                    .from_root()
                    .map(|s| {
                        let f = s.extensions().get::<Fields>().cloned().unwrap_or_default();
                        (s.name().to_owned(), f)
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.0.lock().unwrap().push(Record {
            level: *event.metadata().level(),
            message,
            fields,
            spans,
        });
    }
}

fn records() -> &'static Arc<Mutex<Vec<Record>>> {
    static RECORDS: OnceLock<Arc<Mutex<Vec<Record>>>> = OnceLock::new();
    RECORDS.get_or_init(|| {
        let records = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry().with(Capture(Arc::clone(&records)));
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber of this test binary");
        records
    })
}

/// The records of one execution, in order.
fn of_execution(id: &str) -> Vec<Record> {
    records()
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.field("execution_id") == Some(id))
        .cloned()
        .collect()
}

#[task(retries = 1)]
fn saves_then_fails_once(ctx: &TaskContext, x: u64) -> Result<u64, TaskError> {
    ctx.checkpoint().save_state(&x)?;
    if ctx.attempt() == 1 {
        return Err(TaskError::recoverable("first attempt fails"));
    }
    Ok(x + 1)
}

#[task(cache = true, cache_version = "1")]
fn cached(x: u64) -> u64 {
    x * 3
}

#[workflow]
fn traced(x: u64) -> (u64, u64) {
    (saves_then_fails_once(x), cached(x))
}

#[test]
fn attempts_retries_and_checkpoint_commits_are_events_inside_their_node_and_attempt_spans() {
    records();
    let dir = tempfile::tempdir().unwrap();
    let rt = LocalRuntime::with_store(dir.path()).unwrap().max_parallelism(2);
    assert_eq!(rt.run_with_id("traced-1", traced, 4).unwrap(), (5, 12));
    let seen = of_execution("traced-1");

    let started = seen
        .iter()
        .find(|r| r.message == "execution started")
        .expect("execution started");
    assert_eq!(started.span_names(), ["execution"]);
    assert_eq!(started.field("workflow"), Some("traced"));
    assert!(seen.iter().any(|r| r.message == "execution succeeded"));

    // The failed first attempt, inside node n0's attempt 1, says it will be retried.
    let failed = seen
        .iter()
        .find(|r| r.message == "attempt failed")
        .expect("attempt failed");
    assert_eq!(failed.level, Level::WARN);
    assert_eq!(failed.span_names(), ["execution", "node", "attempt"]);
    assert_eq!(failed.field("node_id"), Some("n0"));
    assert_eq!(failed.field("task"), Some("saves_then_fails_once"));
    assert_eq!(failed.field("attempt"), Some("1"));
    assert_eq!(failed.field("will_retry"), Some("true"));
    assert_eq!(failed.field("cause"), Some("first attempt fails"));

    // One commit per attempt, each inside its attempt's span.
    let commits: Vec<&Record> = seen.iter().filter(|r| r.message == "checkpoint committed").collect();
    let attempts: Vec<Option<&str>> = commits.iter().map(|r| r.field("attempt")).collect();
    assert_eq!(attempts, [Some("1"), Some("2")]);
    assert!(commits
        .iter()
        .all(|r| r.field("node_id") == Some("n0") && r.field("seq").is_some()));

    let succeeded: Vec<Option<&str>> = seen
        .iter()
        .filter(|r| r.message == "node succeeded")
        .map(|r| r.field("node_id"))
        .collect();
    assert_eq!(succeeded.len(), 2);
    assert!(succeeded.contains(&Some("n0")) && succeeded.contains(&Some("n1")));

    // The same inputs in another execution: `cached` is a cache hit there.
    assert_eq!(rt.run_with_id("traced-2", traced, 4).unwrap(), (5, 12));
    let hit = of_execution("traced-2")
        .into_iter()
        .find(|r| r.message == "outputs taken from the cache")
        .expect("a cache hit");
    assert_eq!((hit.field("node_id"), hit.field("task")), (Some("n1"), Some("cached")));
    assert_eq!(hit.field("cache_hit"), Some("true"));
}

#[task]
fn refuses() -> Result<u64, TaskError> {
    Err(TaskError::non_recoverable("no"))
}

#[test]
fn a_failed_node_and_execution_are_error_events() {
    records();
    let rt = LocalRuntime::new();
    assert!(rt.run_task(refuses, ()).is_err());
    let all = records().lock().unwrap().clone();
    let node_failed = all
        .iter()
        .find(|r| r.message == "node failed" && r.field("task") == Some("refuses"))
        .expect("node failed");
    assert_eq!(node_failed.level, Level::ERROR);
    let execution = node_failed.field("execution_id").unwrap().to_owned();
    let seen = of_execution(&execution);
    let failed = seen
        .iter()
        .find(|r| r.message == "execution failed")
        .expect("execution failed");
    assert_eq!(failed.level, Level::ERROR);
    assert!(failed.field("error").unwrap().contains("task `refuses`"));
    let attempt = seen.iter().find(|r| r.message == "attempt failed").unwrap();
    assert_eq!(attempt.field("will_retry"), Some("false"));
}

// An async task's attempt runs on the executor's threads, and a map's elements interleave on
// them: each event still lands in its own element's node and attempt spans.

#[task(retries = 1)]
async fn saves_then_fails_once_async(ctx: &TaskContext, x: u64) -> Result<u64, TaskError> {
    tokio::task::yield_now().await;
    ctx.checkpoint().save_state(&x)?;
    if ctx.attempt() == 1 && x.is_multiple_of(2) {
        return Err(TaskError::recoverable("even elements fail once"));
    }
    Ok(x + 1)
}

#[workflow]
fn traced_async(xs: Vec<u64>) -> Vec<u64> {
    map(saves_then_fails_once_async, xs)
}

#[test]
fn an_async_elements_events_are_inside_its_own_node_and_attempt_spans() {
    records();
    let rt = LocalRuntime::new();
    assert_eq!(
        rt.run_with_id("traced-async", traced_async, (0..6).collect()).unwrap(),
        [1, 2, 3, 4, 5, 6]
    );
    let seen = of_execution("traced-async");

    // Element i commits x = i once per attempt: 2 attempts for even elements, 1 for odd ones.
    let mut commits: Vec<(String, String)> = seen
        .iter()
        .filter(|r| r.message == "checkpoint committed")
        .map(|r| {
            assert_eq!(r.span_names(), ["execution", "node", "attempt"]);
            (
                r.field("node_id").unwrap().to_owned(),
                r.field("attempt").unwrap().to_owned(),
            )
        })
        .collect();
    commits.sort();
    let expected: Vec<(String, String)> = (0..6u64)
        .flat_map(|i| {
            let attempts = if i.is_multiple_of(2) { 2 } else { 1 };
            (1..=attempts).map(move |a| (format!("n0-{i}"), a.to_string()))
        })
        .collect();
    assert_eq!(commits, expected);

    let failed: Vec<Option<&str>> = seen
        .iter()
        .filter(|r| r.message == "attempt failed")
        .map(|r| r.field("node_id"))
        .collect();
    assert_eq!(failed.len(), 3);
    assert!(
        failed.iter().all(|id| matches!(id, Some("n0-0" | "n0-2" | "n0-4"))),
        "{failed:?}"
    );
}
