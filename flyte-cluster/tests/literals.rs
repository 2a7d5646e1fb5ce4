//! Our literals against flytekit 1.16.31's `TypeEngine`, both ways: a `LiteralMap` of ours
//! (written as a `.pb`) read by `reference.py decode` must print the JSON of the values we
//! encoded, and `reference.py encode`'s `LiteralMap` of the same JSON read by ours must give
//! back the Rust values. Each value's `Type` is the one the runtime derives for its Rust type
//! (`flyte_type!`), so the twins below are described as a task's inputs would be.

#[path = "../../tests/support/flytekit.rs"]
mod flytekit_reference;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, TimeZone, Utc};
use flyte_cluster::literal::{from_literal_map, to_literal_map};
use flyte_idl::core::LiteralMap;
use flyte_idl::prost::Message;
use flyte_runtime::{flyte_type, Encoded, Type};
use flytekit_reference::Reference;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

/// The twin of `twins.structs.Color`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Color {
    Red,
    Green,
    Blue,
}

/// The twin of `twins.structs.Shard`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Shard {
    name: String,
    size: u64,
    weights: Vec<f64>,
    tags: HashMap<String, u64>,
    owner: Option<String>,
}

/// A dataclass with every kind of field, declared in Python by [`EVENT_PY`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Event {
    when: DateTime<Utc>,
    took: Duration,
    color: Color,
    shards: Vec<Shard>,
    by_name: BTreeMap<String, Shard>,
    best: Option<Shard>,
    note: Option<String>,
    count: i64,
    ratio: f64,
    ok: bool,
    nested: Vec<Vec<Option<i64>>>,
}

/// `littwins.py`, put on `PYTHONPATH` for `reference.py`: the Python twin of [`Event`].
const EVENT_PY: &str = r#"
import datetime
from dataclasses import dataclass
from typing import Dict, List, Optional

from twins.structs import Color, Shard


@dataclass
class Event:
    when: datetime.datetime
    took: datetime.timedelta
    color: Color
    shards: List[Shard]
    by_name: Dict[str, Shard]
    best: Optional[Shard]
    note: Optional[str]
    count: int
    ratio: float
    ok: bool
    nested: List[List[Optional[int]]]
"#;

/// One input: its Rust value, the Python type flytekit reads it as, and the JSON that
/// `reference.py` prints for it (and that `encode` takes).
struct Case {
    name: &'static str,
    python: &'static str,
    ty: Type,
    value: Encoded,
    json: Json,
    /// Asserts that what ours read from flytekit's literal is the Rust value.
    check: Box<dyn Fn(&Encoded)>,
}

fn case<T>(name: &'static str, python: &'static str, ty: Type, value: T, json: Json) -> Case
where
    T: Serialize + DeserializeOwned + PartialEq + Debug + 'static,
{
    let encoded = Encoded::encode(&value).expect("the test value serializes");
    Case {
        name,
        python,
        ty,
        value: encoded,
        json,
        check: Box::new(move |read: &Encoded| {
            let read: T = read.decode().unwrap_or_else(|e| {
                panic!("{name}: ours read flytekit's literal as a value that does not decode: {e}")
            });
            assert_eq!(read, value, "{name}: the value read from flytekit's literal");
        }),
    }
}

/// `case!(name, "python type", RustType, value, json)`, the type described by the runtime.
macro_rules! case {
    ($name:literal, $python:literal, $t:ty, $value:expr, $json:expr $(,)?) => {
        case::<$t>(
            $name,
            $python,
            flyte_type!($t).unwrap_or_else(|e| panic!("{}: {e}", $name)),
            $value,
            $json,
        )
    };
}

fn shard(name: &str, size: u64, owner: Option<&str>) -> Shard {
    Shard {
        name: name.into(),
        size,
        weights: vec![0.5, 1.0, -2.25],
        tags: [("a".to_string(), 1), ("b".to_string(), 20)].into(),
        owner: owner.map(Into::into),
    }
}

fn shard_json(name: &str, size: u64, owner: Option<&str>) -> Json {
    json!({"name": name, "size": size, "weights": [0.5, 1.0, -2.25], "tags": {"a": 1, "b": 20}, "owner": owner})
}

fn when() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap() + chrono::Duration::microseconds(678)
}

/// An [`Event`] whose second shard has `size`, and its JSON.
fn event(size: u64) -> (Event, Json) {
    let event = Event {
        when: when(),
        took: Duration::new(90, 5_000),
        color: Color::Blue,
        shards: vec![shard("s0", 1, None), shard("s1", size, Some("ann"))],
        by_name: [("k".to_string(), shard("s2", 0, Some("")))].into(),
        best: Some(shard("best", 7, None)),
        note: None,
        count: -3,
        ratio: 0.125,
        ok: true,
        nested: vec![vec![Some(1), None], vec![]],
    };
    let event_json = json!({
        "when": "2024-01-02T03:04:05.000678+00:00",
        "took": 90.000005,
        "color": "blue",
        "shards": [shard_json("s0", 1, None), shard_json("s1", size, Some("ann"))],
        "by_name": {"k": shard_json("s2", 0, Some(""))},
        "best": shard_json("best", 7, None),
        "note": null,
        "count": -3,
        "ratio": 0.125,
        "ok": true,
        "nested": [[1, null], []],
    });
    (event, event_json)
}

fn cases() -> Vec<Case> {
    let (event, event_json) = event(u64::MAX >> 1);
    vec![
        case!("i_zero", "int", i64, 0, json!(0)),
        case!("i_neg", "int", i32, -42, json!(-42)),
        case!("i_min", "int", i64, i64::MIN, json!(i64::MIN)),
        case!("i_max", "int", i64, i64::MAX, json!(i64::MAX)),
        case!("u_max", "int", u64, i64::MAX as u64, json!(i64::MAX)),
        case!("u_small", "int", u8, 200, json!(200)),
        case!("f", "float", f64, 1.5, json!(1.5)),
        case!("f_neg", "float", f64, -0.25, json!(-0.25)),
        case!("f_whole", "float", f64, 3.0, json!(3.0)),
        case!("f_big", "float", f64, 1e300, json!(1e300)),
        case!("f32", "float", f32, 0.5, json!(0.5)),
        case!("b_true", "bool", bool, true, json!(true)),
        case!("b_false", "bool", bool, false, json!(false)),
        case!("s", "str", String, "héllo ✓ \"q\"\n".into(), json!("héllo ✓ \"q\"\n")),
        case!("s_empty", "str", String, String::new(), json!("")),
        case!("list", "List[int]", Vec<i64>, vec![1, -2, 3], json!([1, -2, 3])),
        case!("list_empty", "List[str]", Vec<String>, vec![], json!([])),
        case!(
            "dict",
            "Dict[str, float]",
            BTreeMap<String, f64>,
            [("x".to_string(), 1.25), ("y z".to_string(), -1.0)].into(),
            json!({"x": 1.25, "y z": -1.0}),
        ),
        case!("opt_some", "Optional[int]", Option<i64>, Some(5), json!(5)),
        case!("opt_none", "Optional[int]", Option<i64>, None, json!(null)),
        case!(
            "opt_list",
            "Optional[List[str]]",
            Option<Vec<String>>,
            Some(vec!["a".into()]),
            json!(["a"]),
        ),
        case!(
            "nested",
            "List[Dict[str, Optional[List[int]]]]",
            Vec<HashMap<String, Option<Vec<i64>>>>,
            vec![
                [("a".to_string(), Some(vec![1, 2])), ("b".to_string(), None)].into(),
                HashMap::new(),
            ],
            json!([{"a": [1, 2], "b": null}, {}]),
        ),
        case!(
            "dt",
            "datetime",
            DateTime<Utc>,
            when(),
            json!("2024-01-02T03:04:05.000678+00:00")
        ),
        case!(
            "dt_whole",
            "datetime",
            DateTime<Utc>,
            Utc.with_ymd_and_hms(1969, 7, 20, 20, 17, 40).unwrap(),
            json!("1969-07-20T20:17:40+00:00"),
        ),
        case!(
            "dt_system",
            "datetime",
            SystemTime,
            UNIX_EPOCH + Duration::new(1_704_164_645, 678_000),
            json!("2024-01-02T03:04:05.000678+00:00"),
        ),
        case!(
            "dt_opt",
            "Optional[datetime]",
            Option<DateTime<Utc>>,
            Some(when()),
            json!("2024-01-02T03:04:05.000678+00:00"),
        ),
        case!("td", "timedelta", Duration, Duration::new(90, 5_000), json!(90.000005)),
        case!(
            "td_list",
            "List[timedelta]",
            Vec<Duration>,
            vec![Duration::ZERO, Duration::from_secs(86_400 * 3 + 1)],
            json!([0.0, 259201.0]),
        ),
        case!("color", "twins.structs.Color", Color, Color::Green, json!("green")),
        case!(
            "colors",
            "List[Optional[twins.structs.Color]]",
            Vec<Option<Color>>,
            vec![Some(Color::Red), None, Some(Color::Blue)],
            json!(["red", null, "blue"]),
        ),
        case!(
            "shard",
            "twins.structs.Shard",
            Shard,
            shard("s", 3, Some("me")),
            shard_json("s", 3, Some("me")),
        ),
        case!(
            "shard_opt",
            "Optional[twins.structs.Shard]",
            Option<Shard>,
            Some(shard("o", 4, None)),
            shard_json("o", 4, None),
        ),
        case!(
            "shard_none",
            "Optional[twins.structs.Shard]",
            Option<Shard>,
            None,
            json!(null)
        ),
        case!(
            "shards",
            "Dict[str, List[twins.structs.Shard]]",
            HashMap<String, Vec<Shard>>,
            [("one".to_string(), vec![shard("p", 5, Some("x"))])].into(),
            json!({"one": [shard_json("p", 5, Some("x"))]}),
        ),
        case!("event", "littwins.Event", Event, event, event_json),
    ]
}

/// The `TYPES` argument of `reference.py`: each case's name and Python type.
fn types_json(cases: &[Case]) -> String {
    let types: serde_json::Map<String, Json> = cases.iter().map(|c| (c.name.to_owned(), json!(c.python))).collect();
    Json::Object(types).to_string()
}

/// Runs `reference.py` with `littwins` importable; stdout, or a panic with the output.
fn reference(dir: &Path, args: &[&str]) -> String {
    let mut cmd = Reference::get().command(args);
    cmd.env("PYTHONPATH", dir);
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("reference.py prints UTF-8")
}

fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("littwins.py"), EVENT_PY).expect("littwins.py written");
    dir
}

#[test]
fn flytekit_reads_our_literals_as_the_values_we_wrote() {
    let cases = cases();
    let dir = workdir();
    let values: Vec<(&str, &Encoded, &Type)> = cases.iter().map(|c| (c.name, &c.value, &c.ty)).collect();
    let map = to_literal_map(&values).expect("our values convert");
    let pb = dir.path().join("ours.pb");
    std::fs::write(&pb, map.encode_to_vec()).expect("ours.pb written");

    let printed = reference(
        dir.path(),
        &["decode", &types_json(&cases), pb.to_str().expect("a UTF-8 path")],
    );
    let read: serde_json::Map<String, Json> = serde_json::from_str(&printed).expect("decode prints JSON");
    for c in &cases {
        assert_eq!(
            read.get(c.name),
            Some(&c.json),
            "{}: flytekit read our literal as another value",
            c.name
        );
    }
    assert_eq!(read.len(), cases.len());
}

#[test]
fn we_read_flytekits_literals_as_the_values_it_was_given() {
    let cases = cases();
    let dir = workdir();
    let values: serde_json::Map<String, Json> = cases.iter().map(|c| (c.name.to_owned(), c.json.clone())).collect();
    let pb = dir.path().join("theirs.pb");
    reference(
        dir.path(),
        &[
            "encode",
            &types_json(&cases),
            &Json::Object(values).to_string(),
            pb.to_str().expect("a UTF-8 path"),
        ],
    );
    let bytes = std::fs::read(&pb).expect("encode wrote its file");
    let map = LiteralMap::decode(bytes.as_slice()).expect("a core.LiteralMap");

    let slots: Vec<(&str, &Type)> = cases.iter().map(|c| (c.name, &c.ty)).collect();
    let read = from_literal_map(&map, &slots).unwrap_or_else(|e| panic!("ours cannot read flytekit's literals: {e}"));
    assert_eq!(read.len(), cases.len());
    for (c, value) in cases.iter().zip(&read) {
        (c.check)(value);
    }
}

/// flytekit 1.16 still writes a dataclass as a protobuf `Struct` (`scalar.generic`, its JSON)
/// when `FLYTE_USE_OLD_DC_FORMAT` is set, as flytekit before 1.14 did: ours reads that too,
/// integers included (a `Struct` has only doubles, exact up to 2^53).
#[test]
fn we_read_flytekits_older_dataclass_literals() {
    let (event, event_json) = event(1 << 53);
    let cases = vec![
        case!(
            "shard",
            "twins.structs.Shard",
            Shard,
            shard("s", 3, Some("me")),
            shard_json("s", 3, Some("me")),
        ),
        case!(
            "shard_opt",
            "Optional[twins.structs.Shard]",
            Option<Shard>,
            Some(shard("o", 4, None)),
            shard_json("o", 4, None),
        ),
        case!(
            "shards",
            "List[twins.structs.Shard]",
            Vec<Shard>,
            vec![shard("p", 5, Some("x"))],
            json!([shard_json("p", 5, Some("x"))]),
        ),
        case!("event", "littwins.Event", Event, event, event_json),
    ];
    let dir = workdir();
    let values: serde_json::Map<String, Json> = cases.iter().map(|c| (c.name.to_owned(), c.json.clone())).collect();
    let pb = dir.path().join("old.pb");
    let mut cmd = Reference::get().command([
        "encode",
        &types_json(&cases),
        &Json::Object(values).to_string(),
        pb.to_str().expect("a UTF-8 path"),
    ]);
    let out = cmd
        .env("PYTHONPATH", dir.path())
        .env("FLYTE_USE_OLD_DC_FORMAT", "true")
        .output()
        .expect("reference.py runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let map = LiteralMap::decode(std::fs::read(&pb).expect("encode wrote its file").as_slice()).expect("a LiteralMap");
    let generic = |l: &flyte_idl::core::Literal| {
        matches!(&l.value, Some(flyte_idl::core::literal::Value::Scalar(s))
            if matches!(s.value, Some(flyte_idl::core::scalar::Value::Generic(_))))
    };
    assert!(
        generic(&map.literals["shard"]),
        "flytekit wrote {:?}",
        map.literals["shard"]
    );
    assert!(
        generic(&map.literals["event"]),
        "flytekit wrote {:?}",
        map.literals["event"]
    );

    let slots: Vec<(&str, &Type)> = cases.iter().map(|c| (c.name, &c.ty)).collect();
    let read = from_literal_map(&map, &slots).unwrap_or_else(|e| panic!("ours cannot read flytekit's literals: {e}"));
    for (c, value) in cases.iter().zip(&read) {
        (c.check)(value);
    }
}

/// What flytekit writes is also what we write, literal for literal and byte for byte inside a
/// struct's msgpack, but for the order of a map's entries (a Rust `HashMap` has none): so a
/// literal of ours is one flytekit could have sent.
#[test]
fn our_literals_are_flytekits() {
    let cases = cases();
    let dir = workdir();
    let values: serde_json::Map<String, Json> = cases.iter().map(|c| (c.name.to_owned(), c.json.clone())).collect();
    let pb = dir.path().join("theirs.pb");
    reference(
        dir.path(),
        &[
            "encode",
            &types_json(&cases),
            &Json::Object(values).to_string(),
            pb.to_str().expect("a UTF-8 path"),
        ],
    );
    let theirs =
        LiteralMap::decode(std::fs::read(&pb).expect("encode wrote its file").as_slice()).expect("a LiteralMap");
    let values: Vec<(&str, &Encoded, &Type)> = cases.iter().map(|c| (c.name, &c.value, &c.ty)).collect();
    let ours = to_literal_map(&values).expect("our values convert");
    for c in &cases {
        let (Some(mut ours), Some(mut theirs)) =
            (ours.literals.get(c.name).cloned(), theirs.literals.get(c.name).cloned())
        else {
            panic!("{}: missing", c.name)
        };
        sort_msgpack_maps(&mut ours);
        sort_msgpack_maps(&mut theirs);
        assert_eq!(ours, theirs, "{}: the literals differ", c.name);
    }
}

/// Rewrites every msgpack value inside `literal` with each map's entries sorted by key.
fn sort_msgpack_maps(literal: &mut flyte_idl::core::Literal) {
    use flyte_idl::core::{literal, scalar};
    fn sort(v: &mut rmpv::Value) {
        match v {
            rmpv::Value::Map(entries) => {
                entries.iter_mut().for_each(|(_, x)| sort(x));
                entries.sort_by_key(|(k, _)| k.to_string());
            }
            rmpv::Value::Array(items) => items.iter_mut().for_each(sort),
            _ => {}
        }
    }
    match &mut literal.value {
        Some(literal::Value::Collection(c)) => c.literals.iter_mut().for_each(sort_msgpack_maps),
        Some(literal::Value::Map(m)) => m.literals.values_mut().for_each(sort_msgpack_maps),
        Some(literal::Value::Scalar(s)) => match &mut s.value {
            Some(scalar::Value::Union(u)) => u.value.iter_mut().for_each(|v| sort_msgpack_maps(v)),
            Some(scalar::Value::Binary(b)) => {
                let mut value = rmpv::decode::read_value(&mut b.value.as_slice()).expect("msgpack");
                sort(&mut value);
                b.value.clear();
                rmpv::encode::write_value(&mut b.value, &value).expect("msgpack written");
            }
            _ => {}
        },
        _ => {}
    }
}

/// flytekit's literals read as types they are not: each error names the input, the place inside
/// it and what was wrong, and nothing panics.
#[test]
fn flytekits_literals_of_other_types_are_typed_errors() {
    let dir = workdir();
    let pb = dir.path().join("theirs.pb");
    let types =
        json!({"xs": "List[str]", "shard": "twins.structs.Shard", "color": "twins.structs.Color", "ints": "List[int]"});
    let values = json!({"xs": ["a", "b"], "shard": shard_json("s", 1, None), "color": "blue", "ints": [1, i64::MAX]});
    reference(
        dir.path(),
        &[
            "encode",
            &types.to_string(),
            &values.to_string(),
            pb.to_str().expect("a UTF-8 path"),
        ],
    );
    let map = LiteralMap::decode(std::fs::read(&pb).expect("encode wrote its file").as_slice()).expect("a LiteralMap");
    // Each input alone, read as `ty`.
    let read = |name: &str, ty: Type| {
        let one = LiteralMap {
            literals: [(name.to_owned(), map.literals[name].clone())].into(),
        };
        from_literal_map(&one, &[(name, &ty)])
            .expect_err("a type the literal is not")
            .to_string()
    };
    assert_eq!(
        read("xs", Type::Collection(Box::new(Type::Integer))),
        "xs[0]: expected integer, found a string literal"
    );
    let mut fields = vec![("weights".to_string(), Type::Collection(Box::new(Type::Str)))];
    let twin = Type::Struct {
        name: "Shard".into(),
        fields: Some(fields.clone()),
    };
    assert_eq!(
        read("shard", twin),
        "shard.weights[0]: expected string, found a float with a fraction in msgpack"
    );
    fields.insert(0, ("id".into(), Type::Integer));
    let more = Type::Struct {
        name: "Shard".into(),
        fields: Some(fields),
    };
    assert_eq!(
        read("shard", more),
        "shard.id: missing, and struct Shard has it (and it is not optional)"
    );
    let two = Type::Enum(vec!["red".into(), "green".into()]);
    assert_eq!(
        read("color", two),
        "color: `blue` is not one of the enum's values (red, green)"
    );
    assert_eq!(
        read("ints", Type::Collection(Box::new(Type::Str))),
        "ints[0]: expected string, found an integer literal"
    );
    let slots: [(&str, &Type); 1] = [("xs", &Type::Collection(Box::new(Type::Str)))];
    let err = from_literal_map(&map, &slots).expect_err("more names than slots");
    assert_eq!(err.problem, flyte_cluster::Problem::Unexpected("not in the interface"));
}

/// `execute` reads `inputs.pb` as it streams in, walking each list's and dict's literals by
/// hand: every case, as one `LiteralMap` and as one map per case (so that each input is also
/// the map's last bytes), reads the same values as prost's whole map converted, and as the Rust
/// values the cases were made from.
#[test]
fn inputs_read_as_they_stream_in_are_the_whole_readings_values() {
    let cases = cases();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let check = |cases: &[&Case], file: &str| {
        let values: Vec<(&str, &Encoded, &Type)> = cases.iter().map(|c| (c.name, &c.value, &c.ty)).collect();
        let map = to_literal_map(&values).unwrap_or_else(|e| panic!("{file}: {e}"));
        let path = dir.path().join(file);
        std::fs::write(&path, map.encode_to_vec()).expect("inputs.pb written");
        // In the interface's order, which is not the map's (sorted by name).
        let slots: Vec<(&str, &Type)> = cases.iter().rev().map(|c| (c.name, &c.ty)).collect();
        let streamed = flyte_cluster::execute::read_input_values(&format!("file://{}", path.display()), &slots)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let whole = from_literal_map(&map, &slots).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(streamed.len(), slots.len());
        for (((name, _), s), w) in slots.iter().zip(&streamed).zip(&whole) {
            let s_value: ciborium::Value = s.decode().unwrap_or_else(|e| panic!("{name}: {e}"));
            let w_value: ciborium::Value = w.decode().unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(s_value, w_value, "{name}");
            let case = cases.iter().find(|c| c.name == *name).expect("a slot is a case");
            (case.check)(s);
        }
    };
    check(&cases.iter().collect::<Vec<_>>(), "all.pb");
    for case in &cases {
        check(&[case], &format!("{}.pb", case.name));
    }
}
