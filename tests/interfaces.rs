//! Typed interfaces: the Flyte type of every Rust type in the README's table, through the same
//! path the macros take (`flyte_type!`) and through real `#[task]`, `#[workflow]` and
//! `#[dynamic]` items; tracing of user structs and enums; and the errors.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, LinkedList, VecDeque};
use std::num::NonZeroU32;
use std::time::{Duration, SystemTime};

use flytekit::{
    dynamic, flyte_type, task, traced, workflow, Checkpoint, DatetimeForm, DurationForm, Dynamic, Interface,
    InterfaceError, Slot, Task, TaskContext, TaskInfo, Type, TypeError, Typed, Workflow,
};
use serde::{Deserialize, Serialize};

fn list(ty: Type) -> Type {
    Type::Collection(Box::new(ty))
}

fn map(ty: Type) -> Type {
    Type::Dict(Box::new(ty))
}

fn opaque(name: &str) -> Type {
    Type::Struct {
        name: name.into(),
        fields: None,
    }
}

fn named(name: &str, fields: &[(&str, Type)]) -> Type {
    Type::Struct {
        name: name.into(),
        fields: Some(fields.iter().map(|(f, t)| (f.to_string(), t.clone())).collect()),
    }
}

const DURATION: Type = Type::Timedelta(DurationForm::SecsNanos);
const SYSTEM_TIME: Type = Type::Datetime(DatetimeForm::EpochSecsNanos);
const RFC3339: Type = Type::Datetime(DatetimeForm::Rfc3339);

// ---------------------------------------------------------------------------------------------
// The type table, row by row

#[test]
fn integers_are_integers() {
    assert_eq!(flyte_type!(i8).unwrap(), Type::Integer);
    assert_eq!(flyte_type!(i16).unwrap(), Type::Integer);
    assert_eq!(flyte_type!(i32).unwrap(), Type::Integer);
    assert_eq!(flyte_type!(i64).unwrap(), Type::Integer);
    assert_eq!(flyte_type!(i128).unwrap(), Type::Integer);
    assert_eq!(flyte_type!(isize).unwrap(), Type::Integer);
    assert_eq!(flyte_type!(u8).unwrap(), Type::Integer);
    assert_eq!(flyte_type!(u16).unwrap(), Type::Integer);
    assert_eq!(flyte_type!(u32).unwrap(), Type::Integer);
    assert_eq!(flyte_type!(u64).unwrap(), Type::Integer);
    assert_eq!(flyte_type!(u128).unwrap(), Type::Integer);
    assert_eq!(flyte_type!(usize).unwrap(), Type::Integer);
    assert_eq!(flyte_type!(NonZeroU32).unwrap(), Type::Integer);
}

#[test]
fn floats_booleans_strings_and_unit() {
    assert_eq!(flyte_type!(f32).unwrap(), Type::Float);
    assert_eq!(flyte_type!(f64).unwrap(), Type::Float);
    assert_eq!(flyte_type!(bool).unwrap(), Type::Boolean);
    assert_eq!(flyte_type!(String).unwrap(), Type::Str);
    assert_eq!(flyte_type!(char).unwrap(), Type::Str);
    assert_eq!(flyte_type!(Box<str>).unwrap(), Type::Str);
    assert_eq!(flyte_type!(std::path::PathBuf).unwrap(), Type::Str);
    assert_eq!(flyte_type!(()).unwrap(), Type::None);
}

#[test]
fn collections_maps_and_options() {
    assert_eq!(flyte_type!(Vec<u64>).unwrap(), list(Type::Integer));
    assert_eq!(flyte_type!(VecDeque<String>).unwrap(), list(Type::Str));
    assert_eq!(flyte_type!(LinkedList<bool>).unwrap(), list(Type::Boolean));
    assert_eq!(flyte_type!(HashSet<i32>).unwrap(), list(Type::Integer));
    assert_eq!(flyte_type!(BTreeSet<String>).unwrap(), list(Type::Str));
    assert_eq!(flyte_type!([f64; 3]).unwrap(), list(Type::Float));
    assert_eq!(flyte_type!(Vec<Vec<String>>).unwrap(), list(list(Type::Str)));
    assert_eq!(flyte_type!(HashMap<String, f64>).unwrap(), map(Type::Float));
    assert_eq!(
        flyte_type!(BTreeMap<String, Vec<u8>>).unwrap(),
        map(list(Type::Integer))
    );
    assert_eq!(flyte_type!(Option<u64>).unwrap(), Type::optional(Type::Integer));
    // flytekit makes `Optional[Optional[int]]` one union: so does `Option<Option<u64>>`.
    assert_eq!(flyte_type!(Option<Option<u64>>).unwrap(), Type::optional(Type::Integer));
    assert_eq!(
        flyte_type!(Vec<Option<String>>).unwrap(),
        list(Type::optional(Type::Str))
    );
    assert_eq!(flyte_type!(Box<u64>).unwrap(), Type::Integer);
}

/// flytekit 1.16 has no bytes type of its own (Python `bytes` is a pickle file), so bytes are
/// integers, as serde writes `Vec<u8>`.
#[test]
fn bytes_are_a_collection_of_integers() {
    assert_eq!(flyte_type!(Vec<u8>).unwrap(), list(Type::Integer));
}

#[test]
fn durations_and_datetimes() {
    assert_eq!(flyte_type!(Duration).unwrap(), DURATION);
    assert_eq!(flyte_type!(SystemTime).unwrap(), SYSTEM_TIME);
    assert_eq!(flyte_type!(chrono::DateTime<chrono::Utc>).unwrap(), RFC3339);
    assert_eq!(flyte_type!(chrono::DateTime<chrono::FixedOffset>).unwrap(), RFC3339);
    assert_eq!(
        flyte_type!(Option<chrono::DateTime<chrono::Utc>>).unwrap(),
        Type::optional(RFC3339)
    );
    assert_eq!(
        flyte_type!(HashMap<String, Vec<Duration>>).unwrap(),
        map(list(DURATION))
    );
}

#[test]
fn json_values_are_structs_without_fields() {
    assert_eq!(flyte_type!(serde_json::Value).unwrap(), opaque("serde_json::Value"));
}

#[derive(Serialize, Deserialize)]
struct Point {
    x: f64,
    y: f64,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum Level {
    Low,
    VeryHigh,
}

#[derive(Serialize, Deserialize)]
enum Shape {
    Dot,
    Circle(f64),
    Rect { w: f64, h: f64 },
}

#[derive(Serialize, Deserialize)]
struct Meters(f64);

#[derive(Serialize, Deserialize)]
struct Pair(u8, String);

#[derive(Serialize, Deserialize)]
struct Marker;

#[test]
fn user_types_are_traced() {
    let point = named("Point", &[("x", Type::Float), ("y", Type::Float)]);
    assert_eq!(flyte_type!(Point).unwrap(), point);
    assert_eq!(flyte_type!(Vec<Point>).unwrap(), list(point.clone()));
    assert_eq!(flyte_type!(Option<Point>).unwrap(), Type::optional(point.clone()));
    assert_eq!(flyte_type!(HashMap<String, Point>).unwrap(), map(point));
    assert_eq!(
        flyte_type!(Level).unwrap(),
        Type::Enum(vec!["LOW".into(), "VERY_HIGH".into()])
    );
    assert_eq!(flyte_type!(Shape).unwrap(), opaque("Shape"));
    assert_eq!(flyte_type!(Meters).unwrap(), Type::Float);
    assert_eq!(flyte_type!(Pair).unwrap(), opaque("Pair"));
    assert_eq!(flyte_type!(Marker).unwrap(), Type::None);
    assert_eq!(flyte_type!(HashMap<u64, Point>).unwrap(), opaque("map<u64, Point>"));
    assert_eq!(flyte_type!((u64, String)).unwrap(), opaque("(u64, String)"));
    assert_eq!(flyte_type!((u64, u64)).unwrap(), list(Type::Integer));
}

/// Where a type is both `Typed` and traceable, the two give the same type.
#[test]
fn typed_and_traced_agree() {
    macro_rules! agree {
        ($($t:ty),* $(,)?) => {
            $(assert_eq!(flyte_type!($t).unwrap(), traced::<$t>().unwrap(), "{}", stringify!($t));)*
        };
    }
    agree!(
        u8,
        i128,
        f32,
        bool,
        String,
        char,
        (),
        Vec<u64>,
        VecDeque<f64>,
        BTreeSet<String>,
        HashSet<u16>,
        Option<String>,
        Option<Option<bool>>,
        Box<Vec<u8>>,
        HashMap<String, Vec<Option<i64>>>,
        BTreeMap<String, String>,
        Duration,
        Vec<Duration>,
        Option<Duration>,
        SystemTime,
        NonZeroU32,
        serde_json::Value,
        chrono::DateTime<chrono::Utc>,
        chrono::DateTime<chrono::FixedOffset>,
        Vec<chrono::DateTime<chrono::Utc>>,
    );
}

// ---------------------------------------------------------------------------------------------
// Structs, traced

#[derive(Serialize, Deserialize)]
#[serde(rename = "Position")]
struct Pos {
    #[serde(rename = "latitude")]
    lat: f64,
    lon: f64,
}

#[derive(Serialize, Deserialize)]
#[allow(dead_code)] // `cache`, skipped by serde
struct Trip {
    start: Pos,
    stops: Vec<Pos>,
    legs: HashMap<String, Duration>,
    level: Option<Level>,
    levels: Vec<Level>,
    shape: Shape,
    by_id: HashMap<u64, Pos>,
    departs: chrono::DateTime<chrono::Utc>,
    logged: SystemTime,
    #[serde(skip)]
    cache: Vec<u8>,
    note: Meters,
}

#[test]
fn nested_structs_renamed_fields_enums_and_special_types() {
    let pos = named("Position", &[("latitude", Type::Float), ("lon", Type::Float)]);
    let level = Type::Enum(vec!["LOW".into(), "VERY_HIGH".into()]);
    assert_eq!(
        flyte_type!(Trip).unwrap(),
        named(
            "Trip",
            &[
                ("start", pos.clone()),
                ("stops", list(pos)),
                ("legs", map(DURATION)),
                ("level", Type::optional(level.clone())),
                ("levels", list(level)),
                ("shape", opaque("Shape")),
                ("by_id", opaque("map<u64, Position>")),
                ("departs", RFC3339),
                ("logged", SYSTEM_TIME),
                ("note", Type::Float),
            ]
        )
    );
}

/// The twin of `Sample` in tests/fixtures/flytekit_sample_schema.py, whose schema flytekit
/// wrote to flytekit_sample_schema.json.
#[derive(Serialize, Deserialize)]
struct Sample {
    id: u64,
    name: String,
    ok: bool,
    at: Point,
    path: Vec<Point>,
    tags: HashMap<String, String>,
    level: Lowercase,
    levels: Vec<Option<Lowercase>>,
    best: Option<Point>,
    when: chrono::DateTime<chrono::Utc>,
    took: Duration,
    grid: Vec<Vec<i32>>,
    weights: Option<BTreeMap<String, f32>>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Lowercase {
    Low,
    High,
}

#[test]
fn a_structs_schema_is_flytekits() {
    let expected: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/flytekit_sample_schema.json")).unwrap();
    assert_eq!(flyte_type!(Sample).unwrap().json_schema(), Some(expected));
}

// ---------------------------------------------------------------------------------------------
// Through the macros

#[task]
fn measure(cp: &Checkpoint, points: Vec<Point>, r#type: String, scale: Option<f64>) -> (f64, Level) {
    let _ = (cp, r#type, scale);
    (points.len() as f64, Level::Low)
}

#[task]
fn nothing() {}

#[task]
#[allow(clippy::unused_unit)]
fn unit_output(ctx: &TaskContext) -> () {
    let _ = ctx;
}

#[task]
fn when(at: chrono::DateTime<chrono::Utc>) -> Result<Duration, std::io::Error> {
    let _ = at;
    Ok(Duration::from_secs(1))
}

#[task]
fn nested((a, b): (u64, u64)) -> ((u64, String), u64) {
    ((a, b.to_string()), a + b)
}

#[test]
fn a_tasks_inputs_are_named_and_its_outputs_numbered() {
    let level = Type::Enum(vec!["LOW".into(), "VERY_HIGH".into()]);
    let point = named("Point", &[("x", Type::Float), ("y", Type::Float)]);
    assert_eq!(
        measure.interface().unwrap(),
        Interface {
            inputs: vec![
                ("points".into(), list(point)),
                ("type".into(), Type::Str),
                ("scale".into(), Type::optional(Type::Float)),
            ],
            outputs: vec![("o0".into(), Type::Float), ("o1".into(), level)],
        }
    );
    let none = Interface {
        inputs: vec![],
        outputs: vec![],
    };
    assert_eq!(nothing.interface().unwrap(), none);
    assert_eq!(unit_output.interface().unwrap(), none);
    // `Result<T, E>` is `T`, and `Typed` types are described through their impl.
    assert_eq!(
        when.interface().unwrap(),
        Interface {
            inputs: vec![("at".into(), RFC3339)],
            outputs: vec![("o0".into(), DURATION)],
        }
    );
    // A pattern parameter is named by its position; a nested tuple output is one output.
    assert_eq!(
        nested.interface().unwrap(),
        Interface {
            inputs: vec![("arg0".into(), list(Type::Integer))],
            outputs: vec![("o0".into(), opaque("(u64, String)")), ("o1".into(), Type::Integer)],
        }
    );
}

#[workflow]
fn trip_length(points: Vec<Point>, label: String) -> (f64, Level) {
    measure(points, label, Some(1.0))
}

mod pipelines {
    use super::*;

    #[workflow]
    pub fn inner(x: u64) -> u64 {
        super::sum_to(x)
    }
}

#[task]
fn sum_to(n: u64) -> u64 {
    (0..=n).sum()
}

#[dynamic]
fn fan_out(n: u64, label: Option<String>) -> (u64, u64) {
    let _ = label;
    (sum_to(n), sum_to(n + 1))
}

#[test]
fn workflows_and_dynamic_workflows_have_interfaces_and_modules() {
    let wf = trip_length.interface().unwrap();
    assert_eq!(
        wf.inputs.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["points", "label"]
    );
    assert_eq!(
        wf.output("o1"),
        Some(&Type::Enum(vec!["LOW".into(), "VERY_HIGH".into()]))
    );
    assert_eq!(trip_length.module(), "interfaces");
    assert_eq!(pipelines::inner.module(), "interfaces::pipelines");
    assert_eq!(
        pipelines::inner.interface().unwrap(),
        Interface {
            inputs: vec![("x".into(), Type::Integer)],
            outputs: vec![("o0".into(), Type::Integer)],
        }
    );
    assert_eq!(
        fan_out.interface().unwrap(),
        Interface {
            inputs: vec![("n".into(), Type::Integer), ("label".into(), Type::optional(Type::Str))],
            outputs: vec![("o0".into(), Type::Integer), ("o1".into(), Type::Integer)],
        }
    );
    assert_eq!(Dynamic::info(&fan_out).module(), "interfaces");
}

// ---------------------------------------------------------------------------------------------
// Errors

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind")]
enum Tagged {
    A { x: u64 },
    B,
}

#[derive(Serialize)]
struct Even(u64);

impl<'de> Deserialize<'de> for Even {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = u64::deserialize(d)?;
        if n % 2 == 0 {
            Ok(Even(n))
        } else {
            Err(serde::de::Error::custom(format!("{n} is odd")))
        }
    }
}

#[derive(Serialize, Deserialize)]
struct HoldsEven {
    even: Even,
}

#[task]
fn tagged(x: u64, t: Tagged) -> u64 {
    let _ = t;
    x
}

#[task]
fn odd_output(x: u64) -> (u64, HoldsEven) {
    (x, HoldsEven { even: Even(0) })
}

#[test]
fn an_untraceable_input_is_an_error_naming_the_task_the_input_and_the_type() {
    let err = tagged.interface().unwrap_err();
    assert_eq!(
        err,
        InterfaceError {
            of: "task `interfaces::tagged`".into(),
            slot: Slot::Input("t".into()),
            error: TypeError::SelfDescribing {
                type_name: "interfaces::Tagged",
                what: "deserialize_any",
            },
        }
    );
    assert_eq!(
        err.to_string(),
        "the interface of task `interfaces::tagged` cannot be described: input `t`: `interfaces::Tagged` cannot be traced through its Deserialize impl, which calls `deserialize_any`: tracing follows what binary formats see, so `#[serde(flatten)]`, `#[serde(tag = ..)]`, `#[serde(untagged)]` and impls that call `deserialize_any` are out of its reach; use plain derived serde attributes in it, or implement `flytekit::Typed` for the type to give its Flyte type yourself"
    );
}

#[test]
fn a_type_that_rejects_the_sample_is_an_error_naming_the_output() {
    let err = odd_output.interface().unwrap_err();
    assert_eq!(err.slot, Slot::Output("o1".into()));
    assert_eq!(
        err.error,
        TypeError::Rejected {
            type_name: "interfaces::HoldsEven",
            message: "1 is odd".into(),
        }
    );
    assert!(
        err.to_string()
            .contains("implement `flytekit::Typed` for the type (or for the struct of yours that holds it)"),
        "{err}"
    );
}

/// The way out the errors name: `Typed` by hand.
#[derive(Serialize, Deserialize)]
struct DescribedEven {
    even: Even,
}

impl Typed for DescribedEven {
    fn flyte_type() -> Type {
        named("DescribedEven", &[("even", Type::Integer)])
    }
}

#[task]
fn typed_by_hand(h: DescribedEven, hs: Vec<DescribedEven>) -> u64 {
    h.even.0 + hs.len() as u64
}

#[test]
fn typed_by_hand_replaces_tracing() {
    let described = named("DescribedEven", &[("even", Type::Integer)]);
    let interface = typed_by_hand.interface().unwrap();
    assert_eq!(interface.input("h"), Some(&described));
    assert_eq!(interface.input("hs"), Some(&list(described)));
    // Tracing does not know of it.
    assert!(matches!(traced::<DescribedEven>(), Err(TypeError::Rejected { .. })));
}

// ---------------------------------------------------------------------------------------------
// A task written by hand

#[derive(Clone, Copy)]
struct HandWritten;

impl Task for HandWritten {
    type Input = (u64, chrono::DateTime<chrono::Utc>);
    type Output = Vec<Duration>;
    type InputShape = flytekit::__private::Many;
    type OutputShape = flytekit::__private::One;

    fn info(&self) -> TaskInfo {
        TaskInfo::new("hand_written", "interfaces::by_hand", &["n", "at"])
    }

    fn run(&self, _: &TaskContext, _: Self::Input) -> flytekit::Body<Self::Output> {
        flytekit::Body::Done(Ok(Vec::new()))
    }
}

#[test]
fn a_task_written_by_hand_gets_a_traced_interface() {
    assert_eq!(
        HandWritten.interface().unwrap(),
        Interface {
            inputs: vec![("n".into(), Type::Integer), ("at".into(), RFC3339)],
            outputs: vec![("o0".into(), list(DURATION))],
        }
    );
}
