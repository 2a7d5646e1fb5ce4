//! A disk that fills during a checkpoint commit: the run reports the checkpoint's own error
//! (which file, which commit) first, each OS error once, and the attempt's end is recorded
//! whenever the store can still write.
//!
//! A full disk is a real one: each case runs this test binary again, as the ignored `program`
//! test, inside a user and mount namespace (`unshare -Urm`) where a small tmpfs holds the store.
//! Where namespaces are not available the tests say so and pass without running.

use std::path::Path;
use std::process::{Command, Stdio};

use flytekit::{task, workflow, Checkpoint, LocalRuntime, Status, TaskError};

const CASE_VAR: &str = "FLYTEKIT_DISK_CASE";
const DIR_VAR: &str = "FLYTEKIT_DISK_DIR";

/// Commits a checkpoint larger than the whole file system.
#[task(retries = 1)]
fn too_big(cp: &Checkpoint) -> Result<u64, TaskError> {
    cp.write(&vec![7u8; 8 << 20])?;
    Ok(1)
}

#[workflow]
fn big(x: u64) -> u64 {
    let _ = x;
    too_big()
}

/// Fills the file system, then commits a small checkpoint; with `FLYTEKIT_DISK_DIR/filled`
/// gone (the disk freed), it just succeeds.
#[task]
fn fill_then_commit(cp: &Checkpoint) -> Result<u64, TaskError> {
    let dir = std::path::PathBuf::from(std::env::var(DIR_VAR).unwrap_or_default());
    if dir.join("freed").exists() {
        return Ok(2);
    }
    let filler = dir.join("filler");
    let mut file = std::fs::File::create(&filler)?;
    let block = vec![1u8; 64 << 10];
    while std::io::Write::write_all(&mut file, &block).is_ok() {}
    drop(file);
    cp.write(b"small")?;
    Ok(2)
}

#[workflow]
fn full(x: u64) -> u64 {
    let _ = x;
    fill_then_commit()
}

/// Not a test: the program run inside the namespace, on a tmpfs at `FLYTEKIT_DISK_DIR`.
#[test]
#[ignore = "run by the other tests as a child process"]
fn program() {
    let (Ok(case), Ok(dir)) = (std::env::var(CASE_VAR), std::env::var(DIR_VAR)) else {
        return;
    };
    let dir = Path::new(&dir);
    let store = dir.join("store");
    let rt = LocalRuntime::with_store(&store).unwrap();
    match case.as_str() {
        "freed" => {
            let err = rt.run_with_id("b", big, 0).unwrap_err();
            println!("error: {err}");
            for a in &rt.store().unwrap().execution("b").unwrap().unwrap().nodes[0].attempts {
                println!(
                    "attempt {} {}: {}",
                    a.number,
                    a.status,
                    a.cause.as_deref().unwrap_or("-")
                );
            }
        }
        "stays-full" => {
            let err = rt.run_with_id("f", full, 0).unwrap_err();
            println!("error: {err}");
            std::fs::remove_file(dir.join("filler")).unwrap();
            std::fs::write(dir.join("freed"), "").unwrap();
            let attempts = |rt: &LocalRuntime| -> Vec<(u32, Status)> {
                let report = rt.store().unwrap().execution("f").unwrap().unwrap();
                report.nodes[0].attempts.iter().map(|a| (a.number, a.status)).collect()
            };
            println!("before the resume: {:?}", attempts(&rt));
            println!("resumed: {}", rt.run_with_id("f", full, 0).unwrap());
            println!("after the resume: {:?}", attempts(&rt));
        }
        other => panic!("unknown case {other}"),
    }
    std::process::exit(0);
}

/// Runs `case` in a private tmpfs of `size`; `None` where namespaces are not available.
fn in_small_tmpfs(case: &str, size: &str) -> Option<String> {
    let usable = Command::new("unshare")
        .args(["-Urm", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !usable {
        eprintln!("skipped: `unshare -Urm` (user and mount namespaces) is not available here");
        return None;
    }
    let mount = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let script = format!(
        "mount -t tmpfs -o size={size} tmpfs \"$0\" && exec \"$1\" program --exact --ignored --nocapture --quiet"
    );
    let out = Command::new("unshare")
        .args(["-Urm", "sh", "-c", &script])
        .arg(mount.path())
        .arg(exe)
        .env(CASE_VAR, case)
        .env(DIR_VAR, mount.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(stdout)
}

fn line<'s>(stdout: &'s str, prefix: &str) -> &'s str {
    stdout
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting `{prefix}` in:\n{stdout}"))
}

#[test]
fn a_commit_that_fills_the_disk_is_the_reported_cause_and_each_attempt_is_recorded() {
    let Some(stdout) = in_small_tmpfs("freed", "4m") else {
        return;
    };
    let error = line(&stdout, "error: ");
    // The checkpoint's own error, naming the commit's file, with the OS error once.
    let enospc = "No space left on device (os error 28)";
    assert!(error.contains("failed after 2 of 2 attempts"), "{error}");
    assert!(
        error.contains("attempt 1: recoverable error: checkpoint write failed for "),
        "{error}"
    );
    assert!(
        error.contains("/store/executions/b/n0/.tmp-0000000000000000: "),
        "{error}"
    );
    assert_eq!(error.matches(enospc).count(), 2, "once per attempt: {error}");
    assert!(!error.contains(&format!("{enospc}: {enospc}")), "{error}");
    // Both attempts' ends are in the store, with the same cause.
    for n in [1, 2] {
        let attempt = line(&stdout, &format!("attempt {n} "));
        assert!(
            attempt.starts_with(&format!("attempt {n} failed: checkpoint write failed for ")),
            "{attempt}"
        );
        assert!(attempt.ends_with(enospc), "{attempt}");
    }
}

#[test]
fn when_the_store_cannot_record_the_attempt_its_own_cause_still_comes_first() {
    let Some(stdout) = in_small_tmpfs("stays-full", "4m") else {
        return;
    };
    let error = line(&stdout, "error: ");
    assert!(
        error.starts_with(
            "error: node n0 (task `fill_then_commit`), attempt 1: recoverable error: checkpoint write failed for "
        ),
        "{error}"
    );
    assert!(error.contains("; and the store could not record it: store "), "{error}");
    assert!(error.ends_with("database or disk is full"), "{error}");
    // Unrecorded, the attempt stayed running; the next run counts it as interrupted and resumes.
    assert_eq!(
        line(&stdout, "before the resume: "),
        "before the resume: [(1, Running)]"
    );
    assert_eq!(line(&stdout, "resumed: "), "resumed: 2");
    assert_eq!(
        line(&stdout, "after the resume: "),
        "after the resume: [(1, Interrupted), (2, Succeeded)]"
    );
}
