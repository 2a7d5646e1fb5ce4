//! Values read back from a damaged store are never used. Bytes are flipped in each kind of
//! stored value (a finished node's outputs, an execution's result, its inputs, a cache entry),
//! in `flytekit.db` itself or through SQL, and each test asserts what happens instead:
//!
//! * a node's outputs: the node runs again, and an `output-damaged` event says why;
//! * an execution's result: it is recomputed from its nodes' outputs (`result-damaged`);
//! * an execution's inputs: an error naming the store, the execution and the damage;
//! * a cache entry: a miss (`cache-damaged`), and the entry is written anew;
//! * a status or a text column that does not read as what flytekit writes: an error naming the
//!   row and the column.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use flytekit::{task, workflow, Error, Event, LocalRuntime, Status, Store, StoreError};
use rusqlite::Connection;

fn durable(dir: &Path) -> LocalRuntime {
    LocalRuntime::with_store(dir).unwrap()
}

fn db(dir: &Path) -> Connection {
    Connection::open(dir.join("flytekit.db")).unwrap()
}

/// Flips one bit of the blob in `table.column` of the rows `filter` selects, through SQL.
fn flip_blob(dir: &Path, table: &str, column: &str, filter: &str) {
    let db = db(dir);
    let blob: Vec<u8> = db
        .query_row(&format!("SELECT {column} FROM {table} WHERE {filter}"), [], |r| {
            r.get(0)
        })
        .unwrap();
    let mut damaged = blob.clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x10;
    let changed = db
        .execute(&format!("UPDATE {table} SET {column} = ?1 WHERE {filter}"), [&damaged])
        .unwrap();
    assert_eq!(changed, 1);
}

fn events<'r>(report: &'r flytekit::ExecutionReport, node: Option<&str>) -> &'r [Event] {
    match node {
        None => &report.events,
        Some(id) => &report.nodes.iter().find(|n| n.id == id).unwrap().events,
    }
}

fn event<'e>(events: &'e [Event], kind: &str) -> &'e Event {
    events
        .iter()
        .find(|e| e.kind == kind)
        .unwrap_or_else(|| panic!("no `{kind}` event in {events:#?}"))
}

/// The seeds `make` ran for, and the texts `shout` ran for: tests run in parallel, and each
/// counts only its own calls.
static MADE: Mutex<Vec<String>> = Mutex::new(Vec::new());
static SHOUTED: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn calls(log: &Mutex<Vec<String>>, seed: u64) -> usize {
    let marker = format!("marker-{seed}-made");
    log.lock()
        .unwrap()
        .iter()
        .filter(|m| m.eq_ignore_ascii_case(&marker))
        .count()
}

#[task]
fn make(seed: u64) -> String {
    let made = format!("marker-{seed}-made");
    MADE.lock().unwrap().push(made.clone());
    made
}

#[task]
fn shout(text: String) -> String {
    SHOUTED.lock().unwrap().push(text.clone());
    text.to_uppercase()
}

#[workflow]
fn pipeline(seed: u64) -> String {
    let made = make(seed);
    shout(made)
}

/// Every position in `file` where `needle` starts.
fn positions(file: &[u8], needle: &[u8]) -> Vec<usize> {
    file.windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}

#[test]
fn a_bit_flipped_in_the_database_file_never_reaches_a_result() {
    // The reported case: one bit flipped in `flytekit.db` changed a finished execution's result
    // and the outputs a resume would use, and a run printed the wrong value with status 0.
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        durable(dir.path()).run_with_id("x", pipeline, 7001).unwrap(),
        "MARKER-7001-MADE"
    );
    assert_eq!((calls(&MADE, 7001), calls(&SHOUTED, 7001)), (1, 1));

    // Every runtime is closed, so the whole database is in the file (no write-ahead log).
    let path = dir.path().join("flytekit.db");
    assert!(!dir.path().join("flytekit.db-wal").exists());
    let mut file = std::fs::read(&path).unwrap();
    let result = positions(&file, b"MARKER-7001-MADE");
    let made = positions(&file, b"marker-7001-made");
    // The result is kept twice (the execution's and the last node's outputs), n0's once.
    assert_eq!((result.len(), made.len()), (2, 1), "where the values are in the file");
    for at in result.iter().chain(&made) {
        file[at + 7] ^= 0x01; // `-` becomes `,`
    }
    std::fs::write(&path, file).unwrap();

    let rt = durable(dir.path());
    assert_eq!(rt.run_with_id("x", pipeline, 7001).unwrap(), "MARKER-7001-MADE");
    // Both nodes ran again: their stored outputs could not be used.
    assert_eq!((calls(&MADE, 7001), calls(&SHOUTED, 7001)), (2, 2));
    let report = rt.store().unwrap().execution("x").unwrap().unwrap();
    assert_eq!(report.summary.status, Status::Succeeded);
    assert_eq!(
        event(&report.events, "result-damaged").message,
        "execution `x`: stored outputs fail their checksum: they were damaged after they were written: run again"
    );
    for node in ["n0", "n1"] {
        assert_eq!(
            event(events(&report, Some(node)), "output-damaged").message,
            format!(
                "execution `x`, node {node}: stored outputs fail their checksum: they were damaged after they \
                 were written: the node runs again"
            )
        );
    }
    // Run once more: all intact again, nothing runs.
    assert_eq!(rt.run_with_id("x", pipeline, 7001).unwrap(), "MARKER-7001-MADE");
    assert_eq!((calls(&MADE, 7001), calls(&SHOUTED, 7001)), (2, 2));
}

#[test]
fn a_damaged_result_is_recomputed_from_intact_node_outputs_without_running_a_task() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        durable(dir.path()).run_with_id("r", pipeline, 7002).unwrap(),
        "MARKER-7002-MADE"
    );
    flip_blob(dir.path(), "executions", "outputs", "id = 'r'");

    let rt = durable(dir.path());
    assert_eq!(rt.run_with_id("r", pipeline, 7002).unwrap(), "MARKER-7002-MADE");
    assert_eq!(
        (calls(&MADE, 7002), calls(&SHOUTED, 7002)),
        (1, 1),
        "no task ran again: the nodes' outputs were intact"
    );
    let report = rt.store().unwrap().execution("r").unwrap().unwrap();
    assert_eq!(report.summary.status, Status::Succeeded);
    assert!(event(&report.events, "result-damaged")
        .message
        .starts_with("execution `r`: stored outputs fail their checksum"));
}

#[test]
fn a_damaged_node_output_runs_the_node_again_on_resume() {
    let dir = tempfile::tempdir().unwrap();
    let rt = durable(dir.path());
    assert_eq!(rt.run_with_id("n", pipeline, 7003).unwrap(), "MARKER-7003-MADE");
    drop(rt);
    // Make it look unfinished (as a killed run leaves it), then damage n0's outputs.
    db(dir.path())
        .execute_batch(
            "UPDATE executions SET status = 'running', outputs = NULL WHERE id = 'n';
             UPDATE nodes SET status = 'pending', outputs = NULL WHERE node_id = 'n1';",
        )
        .unwrap();
    flip_blob(dir.path(), "nodes", "outputs", "execution_id = 'n' AND node_id = 'n0'");

    let rt = durable(dir.path());
    assert_eq!(rt.run_with_id("n", pipeline, 7003).unwrap(), "MARKER-7003-MADE");
    assert_eq!(
        (calls(&MADE, 7003), calls(&SHOUTED, 7003)),
        (2, 2),
        "n0 ran again, and so did n1"
    );
    let report = rt.store().unwrap().execution("n").unwrap().unwrap();
    let n0 = report.nodes.iter().find(|n| n.id == "n0").unwrap();
    assert_eq!(
        n0.attempts.len(),
        2,
        "its first attempt, and the one that replaced its outputs"
    );
    assert!(event(&n0.events, "output-damaged")
        .message
        .ends_with(": the node runs again"));
}

#[test]
fn damaged_inputs_are_an_error_naming_the_store_the_execution_and_the_damage() {
    let dir = tempfile::tempdir().unwrap();
    durable(dir.path()).run_with_id("i", pipeline, 7004).unwrap();
    flip_blob(dir.path(), "executions", "inputs", "id = 'i'");
    let err = Store::open(dir.path()).unwrap().inputs("i").unwrap_err();
    match &err {
        Error::Store {
            path,
            source: StoreError::Damaged { place, problem },
        } => {
            assert_eq!(path, &dir.path().join("flytekit.db"));
            assert_eq!(place, "execution `i`");
            assert_eq!(
                problem,
                "stored inputs fail their checksum: they were damaged after they were written"
            );
        }
        other => panic!("expected a damaged-store error, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        format!(
            "store {}: execution `i`: stored inputs fail their checksum: they were damaged after they were written",
            dir.path().join("flytekit.db").display()
        )
    );
}

static CACHED_RUNS: AtomicUsize = AtomicUsize::new(0);

#[task(cache = true, cache_version = "1")]
fn costly(x: u64) -> u64 {
    CACHED_RUNS.fetch_add(1, Ordering::SeqCst);
    x * 3
}

#[workflow]
fn cached(x: u64) -> u64 {
    costly(x)
}

#[test]
fn a_damaged_cache_entry_is_a_miss_and_is_written_anew() {
    let dir = tempfile::tempdir().unwrap();
    let rt = durable(dir.path());
    assert_eq!(rt.run_with_id("c1", cached, 7005).unwrap(), 21015);
    let runs = CACHED_RUNS.load(Ordering::SeqCst);
    flip_blob(dir.path(), "cache", "outputs", "execution_id = 'c1'");

    assert_eq!(rt.run_with_id("c2", cached, 7005).unwrap(), 21015);
    assert_eq!(
        CACHED_RUNS.load(Ordering::SeqCst),
        runs + 1,
        "the damaged entry was a miss"
    );
    let report = rt.store().unwrap().execution("c2").unwrap().unwrap();
    let n0 = &report.nodes[0];
    assert!(!n0.cache_hit);
    let damaged = event(&n0.events, "cache-damaged");
    assert!(damaged.message.starts_with("cache entry "), "{}", damaged.message);
    assert!(
        damaged.message.ends_with(
            ": cached outputs fail their checksum: they were damaged after they were written: taken as a miss, the task runs"
        ),
        "{}",
        damaged.message
    );

    // Written anew: the next execution hits.
    assert_eq!(rt.run_with_id("c3", cached, 7005).unwrap(), 21015);
    assert_eq!(CACHED_RUNS.load(Ordering::SeqCst), runs + 1);
    assert!(rt.store().unwrap().execution("c3").unwrap().unwrap().nodes[0].cache_hit);
}

#[test]
fn an_unknown_status_is_an_error_naming_the_row_not_pending() {
    let dir = tempfile::tempdir().unwrap();
    durable(dir.path()).run_with_id("s", pipeline, 7006).unwrap();
    db(dir.path())
        .execute("UPDATE nodes SET status = 'succeedeD' WHERE node_id = 'n1'", [])
        .unwrap();
    let db_path = dir.path().join("flytekit.db");
    let expected = format!(
        "store {}: execution `s`, node n1: column `status` holds an unknown status `succeedeD`",
        db_path.display()
    );
    let err = Store::open(dir.path()).unwrap().execution("s").unwrap_err();
    assert_eq!(err.to_string(), expected);
    // A resume reads the same row, and refuses in the same words.
    db(dir.path())
        .execute("UPDATE executions SET status = 'running' WHERE id = 's'", [])
        .unwrap();
    let err = durable(dir.path()).run_with_id("s", pipeline, 7006).unwrap_err();
    assert_eq!(err.to_string(), expected);
}

#[test]
fn a_text_column_that_is_not_utf8_is_an_error_naming_the_row_and_column() {
    let dir = tempfile::tempdir().unwrap();
    durable(dir.path()).run_with_id("u", pipeline, 7007).unwrap();
    db(dir.path())
        .execute(
            "UPDATE executions SET workflow = CAST(X'70FF6970' AS TEXT) WHERE id = 'u'",
            [],
        )
        .unwrap();
    let err = Store::open(dir.path()).unwrap().executions().unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("execution `u`: column `workflow` holds text that is not UTF-8"),
        "{message}"
    );
    assert!(!message.contains("Conversion error"), "{message}");
}
