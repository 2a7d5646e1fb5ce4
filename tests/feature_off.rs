//! The compile-time check that trybuild cannot reach: `#[task] async fn` without flytekit's
//! cargo feature `async`. Every other test builds with the feature on (the crate's
//! dev-dependencies turn it on, and cargo unifies features), so this one builds a small crate
//! of its own, outside the workspace, that depends on flytekit without it
//! (`tests/fixtures/async_without_feature.rs`), and reads rustc's errors as JSON.

use std::path::Path;
use std::process::Command;

#[test]
fn an_async_task_without_the_feature_is_one_error_naming_the_feature() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("feature-off");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let manifest = format!(
        "[package]\nname = \"feature-off\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
         [dependencies]\nflytekit = {{ path = {:?} }}\n\n\
         # Not a member of the workspace around it.\n[workspace]\n",
        root.display().to_string()
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    std::fs::copy(
        root.join("tests/fixtures/async_without_feature.rs"),
        dir.join("src/main.rs"),
    )
    .unwrap();
    // The workspace's versions, so that nothing new is resolved or fetched.
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args(["check", "--quiet", "--message-format", "json"])
        .current_dir(&dir)
        // A target directory of its own: the one running this test is locked by its build.
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .output()
        .unwrap();
    assert!(!out.status.success(), "it compiled without the feature");

    let errors: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-message" && m["message"]["level"] == "error")
        .map(|m| m["message"].clone())
        .collect();
    let messages: Vec<&str> = errors.iter().filter_map(|e| e["message"].as_str()).collect();
    assert_eq!(
        messages,
        ["`#[task] async fn` needs flytekit's cargo feature `async`"],
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let span = &errors[0]["spans"][0];
    assert_eq!(
        (
            span["file_name"].as_str(),
            span["line_start"].as_u64(),
            span["column_start"].as_u64()
        ),
        (Some("src/main.rs"), Some(6), Some(1)),
        "at the `async` keyword"
    );
    assert_eq!(span["label"], "an async task");
    let notes: Vec<&str> = errors[0]["children"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["message"].as_str())
        .collect();
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("turn the feature on where flytekit is a dependency: `flytekit = { version = \"..\", features = [\"async\"] }`")),
        "{notes:?}"
    );
}
