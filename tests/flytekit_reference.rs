//! The Flyte reference harness (`tests/flyte/`), validated on flytekit's own output: the twins
//! packaged by `pyflyte package` load through flytekit's model classes, compare equal to
//! themselves and to a copy that differs only where the two SDKs must, and differ from a copy
//! with one field changed in exactly that field; literals round-trip through flytekit's
//! `TypeEngine`. Once our `package` command exists, its output goes through the same `compare`
//! and `load`.
//!
//! The first run creates flytekit's virtual environment (see `support/flytekit.rs`); the twins
//! are packaged once per run, shared by the tests here.

#[path = "support/flytekit.rs"]
mod flytekit_reference;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use flytekit_reference::Reference;
use serde_json::{json, Value};

/// The twins, packaged by `pyflyte package` once per test process (a failure fails every test
/// that needs the package, without packaging again).
fn pyflyte_package() -> &'static Path {
    static PACKAGE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let package = PACKAGE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("flytekit-reference");
        fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        // Written aside and renamed: another test process reading the package sees a whole one.
        let partial = dir.join(format!("twins.{}.tgz", std::process::id()));
        let out = Reference::get().run([Path::new("package"), &partial]);
        if !out.status.success() {
            return Err(format!(
                "reference.py package failed ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        eprintln!("{}", String::from_utf8_lossy(&out.stdout).trim());
        let package = dir.join("twins.tgz");
        fs::rename(&partial, &package).map_err(|e| format!("{}: {e}", package.display()))?;
        Ok(package)
    });
    match package {
        Ok(package) => package,
        Err(e) => panic!("{e}"),
    }
}

/// Lines of stdout and the exit code of `reference.py ARGS..`.
fn reference(args: &[&str]) -> (Vec<String>, Option<i32>, String) {
    let out = Reference::get().run(args);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    (stdout.lines().map(str::to_string).collect(), out.status.code(), stderr)
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// `reference.py edit` on the pyflyte package, into `dir/name`: each `"ENTITY PATH=JSON"` of
/// `sets` is a `--set`, and `options` are passed as they are.
fn edited(dir: &tempfile::TempDir, name: &str, sets: &[&str], options: &[&str]) -> PathBuf {
    let out = dir.path().join(name);
    let mut args = vec!["edit", path(pyflyte_package()), path(&out)];
    for set in sets {
        let (entity, rest) = set.split_once(' ').expect("ENTITY PATH=JSON");
        let (field, value) = rest.split_once('=').expect("ENTITY PATH=JSON");
        args.extend(["--set", entity, field, value]);
    }
    args.extend_from_slice(options);
    Reference::get().ok(&args);
    out
}

/// Every entity of the twins, by the key `compare` uses (`kind:module.name`).
const ENTITIES: [&str; 35] = [
    "launch_plan:checkpoint.example",
    "launch_plan:conditional.branch",
    "launch_plan:diamond.diamond",
    "launch_plan:files.files",
    "launch_plan:mapping.squares",
    "launch_plan:structs.structs",
    "launch_plan:subworkflow.inner",
    "launch_plan:subworkflow.outer",
    "task:checkpoint.use_checkpoint",
    "task:conditional.double",
    "task:conditional.is_even",
    "task:conditional.square",
    "task:diamond.double",
    "task:diamond.join",
    "task:diamond.square",
    "task:diamond.start",
    "task:files.merge",
    "task:files.number_lines",
    "task:files.split",
    "task:files.summarize",
    "task:files.write_lines",
    "task:mapping.map_square_1b6b0fecf4392c7d11c829144ba49908-arraynode",
    "task:mapping.square",
    "task:mapping.total",
    "task:structs.weigh",
    "task:subworkflow.stats",
    "task:subworkflow.total",
    "workflow:checkpoint.example",
    "workflow:conditional.branch",
    "workflow:diamond.diamond",
    "workflow:files.files",
    "workflow:mapping.squares",
    "workflow:structs.structs",
    "workflow:subworkflow.inner",
    "workflow:subworkflow.outer",
];

#[test]
fn pyflyte_package_of_the_twins_loads_through_flytekits_model_classes() {
    let r = Reference::get();
    let out = r.ok(["load", path(pyflyte_package())]);
    assert_eq!(
        out.trim(),
        "loaded 19 tasks, 8 workflows and 8 launch plans through flytekit's model classes"
    );
    let normalized: Value = serde_json::from_str(&r.ok(["normalize", path(pyflyte_package())])).unwrap();
    let keys: BTreeSet<&str> = normalized.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ENTITIES.into_iter().collect());
}

#[test]
fn normalize_keeps_what_both_sdks_must_write() {
    let r = Reference::get();
    let n: Value = serde_json::from_str(&r.ok(["normalize", path(pyflyte_package())])).unwrap();
    // Task options land where propeller reads them, and stay compared.
    let square = &n["task:diamond.square"]["template"];
    assert_eq!(square["metadata"]["interruptible"], json!(true));
    assert_eq!(
        square["container"]["resources"],
        json!({
            "requests": [{"name": "CPU", "value": "1"}, {"name": "MEMORY", "value": "500Mi"}],
            "limits": [{"name": "CPU", "value": "2"}, {"name": "MEMORY", "value": "1Gi"}],
        })
    );
    assert_eq!(square["container"]["image"], json!("example.com/twins:1"));
    assert_eq!(square["type"], json!("container"));
    assert_eq!(
        square["metadata"]["runtime"],
        json!({"type": "FLYTE_SDK", "version": "<sdk>", "flavor": "<sdk>"})
    );
    // Only the template-variable pairs of the container's arguments are kept.
    assert_eq!(
        square["container"]["args"],
        json!([
            ["--inputs", "{{.input}}"],
            ["--output-prefix", "{{.outputPrefix}}"],
            ["--raw-output-data-prefix", "{{.rawOutputDataPrefix}}"],
            ["--checkpoint-path", "{{.checkpointOutputPrefix}}"],
            ["--prev-checkpoint", "{{.prevCheckpointPrefix}}"],
        ])
    );
    let start = &n["task:diamond.start"]["template"]["metadata"];
    assert_eq!(
        (&start["discoverable"], &start["discovery_version"]),
        (&json!(true), &json!("1"))
    );
    let double = &n["task:diamond.double"]["template"]["metadata"];
    assert_eq!(
        (&double["retries"], &double["timeout"]),
        (&json!({"retries": 2}), &json!("600s"))
    );
    // Names lose the package (`twins.`) everywhere, the map task's sub-node included.
    let map = &n["workflow:mapping.squares"]["template"]["nodes"][0]["array_node"];
    assert_eq!(
        map["node"]["task_node"]["reference_id"]["name"],
        json!("mapping.map_square_1b6b0fecf4392c7d11c829144ba49908-arraynode")
    );
    assert_eq!(
        (&map["parallelism"], &map["min_success_ratio"]),
        (&json!(4), &json!(0.75))
    );
    // The join's upstream set, sorted.
    let join = &n["workflow:diamond.diamond"]["template"]["nodes"][3];
    assert_eq!(join["upstream_node_ids"], json!(["n1", "n2"]));
}

#[test]
fn a_package_compares_equal_to_itself() {
    let p = path(pyflyte_package());
    let (lines, code, stderr) = reference(&["compare", p, p]);
    assert_eq!(code, Some(0), "{lines:?} {stderr}");
    assert_eq!(lines, ["no difference in 35 entities"]);
}

#[test]
fn one_changed_field_is_exactly_one_difference() {
    let dir = tempfile::tempdir().unwrap();
    let sets = ["task:diamond.double template.metadata.retries.retries=3"];
    let b = edited(&dir, "retries.tgz", &sets, &[]);
    let (lines, code, stderr) = reference(&["compare", path(pyflyte_package()), path(&b)]);
    assert_eq!(code, Some(1), "{lines:?} {stderr}");
    assert_eq!(
        lines[0],
        "task:diamond.double: template.metadata.retries.retries: 2 != 3"
    );
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(lines[1].starts_with("1 difference(s) between "), "{}", lines[1]);
}

/// A copy of the package changed in every place where ours must differ from flytekit's, as ours
/// will: another crate name, the runtime's flavor and version, the task type, the binary's own
/// arguments around the template variables, an unnamed conditional, rustdoc's description format,
/// and the upstream sets in another order. None of it is a difference, and the copy still loads.
#[test]
fn what_must_differ_between_sdks_is_not_a_difference() {
    let dir = tempfile::tempdir().unwrap();
    let rust_args = r#"["/usr/local/bin/twins", "execute", "--inputs", "{{.input}}", "--output-prefix",
        "{{.outputPrefix}}", "--raw-output-data-prefix", "{{.rawOutputDataPrefix}}", "--checkpoint-path",
        "{{.checkpointOutputPrefix}}", "--prev-checkpoint", "{{.prevCheckpointPrefix}}", "--task", "diamond.square"]"#;
    let args = format!("task:diamond.square template.container.args={rust_args}");
    let sets = [
        r#"task:diamond.square template.metadata.runtime.flavor="rust""#,
        r#"task:diamond.square template.metadata.runtime.version="0.1.0""#,
        r#"task:diamond.square template.type="container""#,
        &args,
        r#"task:diamond.square description.long_description.format="DESCRIPTION_FORMAT_MARKDOWN""#,
        r#"workflow:conditional.branch template.nodes.1.metadata.name="n1""#,
        r#"workflow:conditional.branch template.nodes.1.branch_node.if_else.error.failed_node_id="n1""#,
        r#"workflow:diamond.diamond template.nodes.3.upstream_node_ids=["n1", "n2"]"#,
    ];
    let b = edited(&dir, "rust-like.tgz", &sets, &["--rename-root", "rust_twins"]);
    let (lines, code, stderr) = reference(&["compare", path(pyflyte_package()), path(&b)]);
    assert_eq!(code, Some(0), "{lines:#?} {stderr}");
    assert_eq!(lines, ["no difference in 35 entities"]);
    let loaded = Reference::get().ok(["load", path(&b)]);
    assert!(loaded.starts_with("loaded 19 tasks"), "{loaded}");
}

/// What both SDKs must write the same is compared, each change one difference.
#[test]
fn what_must_not_differ_is_a_difference() {
    let dir = tempfile::tempdir().unwrap();
    let sets = [
        // The contract with propeller: template-variable pairs missing.
        r#"task:diamond.join template.container.args=["twins", "execute", "--inputs", "{{.input}}"]"#,
        // The image is compared: both sides are packaged with the same `--image`.
        r#"task:diamond.start template.container.image="example.com/other:1""#,
        // A task type propeller does not run as a container, and another runtime type.
        r#"task:diamond.double template.type="rust-task""#,
        r#"task:diamond.double template.metadata.runtime.type="OTHER""#,
        // An upstream set with a member less.
        r#"workflow:diamond.diamond template.nodes.3.upstream_node_ids=["n2"]"#,
        // A branch node's condition, and a node's name outside a branch.
        r#"workflow:conditional.branch template.nodes.1.branch_node.if_else.case.condition.conjunction.left_expression.comparison.operator="GTE""#,
        r#"workflow:diamond.diamond template.nodes.0.metadata.name="begin""#,
        // A launch plan's closure, set but empty.
        r#"launch_plan:mapping.squares closure={}"#,
    ];
    let b = edited(&dir, "changed.tgz", &sets, &[]);
    let (lines, code, stderr) = reference(&["compare", path(pyflyte_package()), path(&b)]);
    assert_eq!(code, Some(1), "{lines:#?} {stderr}");
    let (summary, diffs) = lines.split_last().unwrap();
    let expected = [
        "launch_plan:mapping.squares: closure.expected_inputs: {} != (absent)".to_string(),
        "launch_plan:mapping.squares: closure.expected_outputs: {} != (absent)".to_string(),
        // OTHER is the enum's zero: absent on the wire, as in the JSON.
        "task:diamond.double: template.metadata.runtime.type: \"FLYTE_SDK\" != (absent)".to_string(),
        "task:diamond.double: template.type: \"container\" != \"rust-task\"".to_string(),
        format!(
            "task:diamond.join: template.container.args[1]: {} != (absent)",
            json!(["--output-prefix", "{{.outputPrefix}}"])
        ),
        format!(
            "task:diamond.join: template.container.args[2]: {} != (absent)",
            json!(["--raw-output-data-prefix", "{{.rawOutputDataPrefix}}"])
        ),
        format!(
            "task:diamond.join: template.container.args[3]: {} != (absent)",
            json!(["--checkpoint-path", "{{.checkpointOutputPrefix}}"])
        ),
        format!(
            "task:diamond.join: template.container.args[4]: {} != (absent)",
            json!(["--prev-checkpoint", "{{.prevCheckpointPrefix}}"])
        ),
        "task:diamond.start: template.container.image: \"example.com/twins:1\" != \"example.com/other:1\"".to_string(),
        "workflow:conditional.branch: template.nodes[1].branch_node.if_else.case.condition.conjunction.left_expression.comparison.operator: \"GT\" != \"GTE\"".to_string(),
        "workflow:diamond.diamond: template.nodes[0].metadata.name: \"start\" != \"begin\"".to_string(),
        "workflow:diamond.diamond: template.nodes[3].upstream_node_ids: [\"n1\",\"n2\"] != [\"n2\"]".to_string(),
    ];
    assert_eq!(diffs, expected);
    assert_eq!(summary.split(' ').next(), Some("12"), "{summary}");
}

#[test]
fn a_package_missing_an_entity_is_a_difference_and_does_not_load() {
    let dir = tempfile::tempdir().unwrap();
    let b = edited(&dir, "no-join.tgz", &[], &["--drop", "task:diamond.join"]);
    let (lines, code, _) = reference(&["compare", path(pyflyte_package()), path(&b)]);
    assert_eq!(code, Some(1));
    assert_eq!(lines[0], "task:diamond.join: only in A");
    assert_eq!(lines.len(), 2, "{lines:#?}");
    let (_, code, stderr) = reference(&["load", path(&b)]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "_twins.diamond.diamond_2.pb: refers to task 'twins.diamond.join', which the package does not hold"
        ),
        "{stderr}"
    );
}

#[test]
fn load_refuses_a_binding_to_an_output_that_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let sets =
        [r#"workflow:subworkflow.outer template.nodes.2.inputs.0.binding.collection.bindings.0.promise.var="o7""#];
    let b = edited(&dir, "bad-binding.tgz", &sets, &[]);
    let (_, code, stderr) = reference(&["load", path(&b)]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("_twins.subworkflow.outer_2.pb: node 'n2': binds n0.o7, but n0's outputs are ['o0', 'o1']"),
        "{stderr}"
    );
}

/// One value of every type the two type engines must agree on.
fn types_and_values() -> (Value, Value) {
    let types = json!({
        "i": "int",
        "f": "float",
        "b": "bool",
        "s": "str",
        "d": "datetime",
        "t": "timedelta",
        "l": "List[int]",
        "m": "Dict[str, float]",
        "o": "Optional[str]",
        "none": "Optional[int]",
        "c": "twins.structs.Color",
        "shard": "twins.structs.Shard",
        "nested": "List[Dict[str, Optional[twins.structs.Shard]]]",
    });
    let values = json!({
        "i": -9_007_199_254_740_993_i64,
        "f": 2.5,
        "b": true,
        "s": "héllo, \"world\"",
        "d": "2024-01-02T03:04:05.123456+00:00",
        "t": 90.5,
        "l": [1, 2, 3],
        "m": {"a": 1.5, "b": -0.25},
        "o": "x",
        "none": null,
        "c": "green",
        "shard": {"name": "a", "size": 3, "weights": [1.0, 2.5], "tags": {"x": 1}, "owner": null},
        "nested": [{
            "k": {"name": "b", "size": 0, "weights": [], "tags": {}, "owner": "me"},
            "n": null,
        }],
    });
    (types, values)
}

#[test]
fn literals_round_trip_through_flytekits_type_engine() {
    let dir = tempfile::tempdir().unwrap();
    let (types, values) = types_and_values();
    let pb = dir.path().join("literals.pb");
    let r = Reference::get();
    r.ok(["encode", &types.to_string(), &values.to_string(), path(&pb)]);
    let decoded: Value = serde_json::from_str(&r.ok(["decode", &types.to_string(), path(&pb)])).unwrap();
    assert_eq!(decoded, values);
}

#[test]
fn decode_refuses_a_literal_of_another_type() {
    let dir = tempfile::tempdir().unwrap();
    let pb = dir.path().join("literals.pb");
    let r = Reference::get();
    r.ok(["encode", r#"{"x": "str"}"#, r#"{"x": "seven"}"#, path(&pb)]);
    let (_, code, stderr) = reference(&["decode", r#"{"x": "int"}"#, path(&pb)]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("flytekit's TypeEngine cannot read it as"), "{stderr}");
    let (_, code, stderr) = reference(&["decode", r#"{"y": "str"}"#, path(&pb)]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("holds ['x'], but TYPES declares ['y']"), "{stderr}");
}
