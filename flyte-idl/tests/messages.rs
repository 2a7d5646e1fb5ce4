//! Messages of the kinds the Flyte layer will build, through the facade only: each survives an
//! encode and a decode unchanged, encodes to the same bytes every time, and is what Flyte's own
//! Python bindings (the PyPI `flyteidl` 1.16.5, built from the same `.proto` files by `protoc`)
//! make of the same message: `tests/golden/*.pb` were written by `tests/golden/make_golden.py`,
//! which builds the twins of the messages below.
//!
//! A round trip alone cannot catch a wrong field number or a oneof read as another; the golden
//! files can, because an independent implementation wrote them. The comparison is of decoded
//! messages, not bytes: prost writes a message's oneof after its other fields (a `Literal`'s
//! hash and metadata before its value), protoc's code in field-number order, and both are valid.

use std::collections::BTreeMap;
use std::path::PathBuf;

use flyte_idl::core::{
    self, array_node, binding_data, blob_type, boolean_expression, comparison_expression, if_else_block, literal,
    literal_type, node, operand, primitive, resources, runtime_metadata, scalar, task_metadata, task_node,
    task_template, workflow_metadata,
};
use flyte_idl::prost::Message;
use flyte_idl::{admin, prost_types};

// --- literals --------------------------------------------------------------------------------

fn scalar(value: scalar::Value) -> core::Literal {
    core::Literal {
        value: Some(literal::Value::Scalar(Box::new(core::Scalar { value: Some(value) }))),
        ..Default::default()
    }
}

fn primitive(value: primitive::Value) -> core::Literal {
    scalar(scalar::Value::Primitive(core::Primitive { value: Some(value) }))
}

fn integer(i: i64) -> core::Literal {
    primitive(primitive::Value::Integer(i))
}

fn collection(literals: impl IntoIterator<Item = core::Literal>) -> core::Literal {
    let literals = literals.into_iter().collect();
    core::Literal {
        value: Some(literal::Value::Collection(core::LiteralCollection { literals })),
        ..Default::default()
    }
}

fn literal_map<'a>(entries: impl IntoIterator<Item = (&'a str, core::Literal)>) -> core::LiteralMap {
    core::LiteralMap {
        literals: entries.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
    }
}

fn map<'a>(entries: impl IntoIterator<Item = (&'a str, core::Literal)>) -> core::Literal {
    core::Literal {
        value: Some(literal::Value::Map(literal_map(entries))),
        ..Default::default()
    }
}

/// Every kind of literal a task's inputs can hold today, nested: collections of collections,
/// maps in maps, each primitive, a blob, bytes, none, a generic struct, a literal's own
/// metadata and hash.
fn nested_literal_map() -> core::LiteralMap {
    let generic = prost_types::Struct {
        fields: BTreeMap::from([
            (
                "lr".to_owned(),
                prost_types::Value {
                    kind: Some(prost_types::value::Kind::NumberValue(0.25)),
                },
            ),
            (
                "name".to_owned(),
                prost_types::Value {
                    kind: Some(prost_types::value::Kind::StringValue("adam".into())),
                },
            ),
        ]),
    };
    let with_metadata = core::Literal {
        hash: "0f1e2d".to_owned(),
        metadata: BTreeMap::from([("origin".to_owned(), "rust".to_owned())]),
        ..integer(-7)
    };
    literal_map([
        ("n", integer(9)),
        ("name", primitive(primitive::Value::StringValue("flyte".to_owned()))),
        (
            "ratios",
            collection([
                primitive(primitive::Value::FloatValue(0.5)),
                primitive(primitive::Value::FloatValue(-1.5)),
            ]),
        ),
        (
            "nested",
            map([
                (
                    "rows",
                    collection([collection([integer(1), integer(2)]), collection([])]),
                ),
                (
                    "flags",
                    map([
                        ("on", primitive(primitive::Value::Boolean(true))),
                        ("off", primitive(primitive::Value::Boolean(false))),
                    ]),
                ),
                (
                    "when",
                    primitive(primitive::Value::Datetime(prost_types::Timestamp {
                        seconds: 1_767_225_600,
                        nanos: 5,
                    })),
                ),
                (
                    "wait",
                    primitive(primitive::Value::Duration(prost_types::Duration {
                        seconds: 90,
                        nanos: 0,
                    })),
                ),
                ("hashed", with_metadata),
            ]),
        ),
        (
            "data",
            scalar(scalar::Value::Blob(core::Blob {
                metadata: Some(core::BlobMetadata {
                    r#type: Some(core::BlobType {
                        format: "csv".to_owned(),
                        dimensionality: blob_type::BlobDimensionality::Multipart as i32,
                    }),
                }),
                uri: "s3://bucket/prefix/".to_owned(),
            })),
        ),
        (
            "bytes",
            scalar(scalar::Value::Binary(core::Binary {
                value: vec![0, 255, 7],
                tag: "msgpack".to_owned(),
            })),
        ),
        ("nothing", scalar(scalar::Value::NoneType(core::Void {}))),
        ("generic", scalar(scalar::Value::Generic(generic))),
    ])
}

// --- a task ----------------------------------------------------------------------------------

fn simple(t: core::SimpleType) -> core::LiteralType {
    core::LiteralType {
        r#type: Some(literal_type::Type::Simple(t as i32)),
        ..Default::default()
    }
}

fn variables<'a>(entries: impl IntoIterator<Item = (&'a str, core::LiteralType)>) -> core::VariableMap {
    let variables = entries
        .into_iter()
        .map(|(name, t)| {
            (
                name.to_owned(),
                core::Variable {
                    r#type: Some(t),
                    description: name.to_owned(),
                    ..Default::default()
                },
            )
        })
        .collect();
    core::VariableMap { variables }
}

fn identifier(resource_type: core::ResourceType, name: &str) -> core::Identifier {
    core::Identifier {
        resource_type: resource_type as i32,
        project: "flytesnacks".to_owned(),
        domain: "development".to_owned(),
        name: name.to_owned(),
        version: "v1".to_owned(),
        org: String::new(),
    }
}

/// A task as the Flyte layer will register one: interface, container with its arguments,
/// metadata with retries, and the runtime it was written with.
fn task_spec() -> admin::TaskSpec {
    let container = core::Container {
        image: "ghcr.io/example/workflows:v1".to_owned(),
        command: vec![],
        args: [
            "execute",
            "--inputs",
            "{{.input}}",
            "--output-prefix",
            "{{.outputPrefix}}",
            "--checkpoint-path",
        ]
        .into_iter()
        .chain([
            "{{.checkpointOutputPrefix}}",
            "--prev-checkpoint",
            "{{.prevCheckpointPrefix}}",
        ])
        .map(str::to_owned)
        .collect(),
        resources: Some(core::Resources {
            requests: vec![
                resources::ResourceEntry {
                    name: resources::ResourceName::Cpu as i32,
                    value: "1".to_owned(),
                },
                resources::ResourceEntry {
                    name: resources::ResourceName::Memory as i32,
                    value: "512Mi".to_owned(),
                },
            ],
            limits: vec![resources::ResourceEntry {
                name: resources::ResourceName::Memory as i32,
                value: "1Gi".to_owned(),
            }],
        }),
        env: vec![core::KeyValuePair {
            key: "RUST_LOG".to_owned(),
            value: "info".to_owned(),
        }],
        ..Default::default()
    };
    let template = core::TaskTemplate {
        id: Some(identifier(core::ResourceType::Task, "checkpoint.use_checkpoint")),
        r#type: "container".to_owned(),
        metadata: Some(core::TaskMetadata {
            discoverable: true,
            discovery_version: "1".to_owned(),
            runtime: Some(core::RuntimeMetadata {
                r#type: runtime_metadata::RuntimeType::FlyteSdk as i32,
                version: "0.1.0".to_owned(),
                flavor: "rust".to_owned(),
            }),
            timeout: Some(prost_types::Duration { seconds: 600, nanos: 0 }),
            retries: Some(core::RetryStrategy { retries: 3 }),
            interruptible_value: Some(task_metadata::InterruptibleValue::Interruptible(true)),
            cache_ignore_input_vars: vec!["seed".to_owned()],
            ..Default::default()
        }),
        interface: Some(core::TypedInterface {
            inputs: Some(variables([("n_iterations", simple(core::SimpleType::Integer))])),
            outputs: Some(variables([("o0", simple(core::SimpleType::Integer))])),
        }),
        target: Some(task_template::Target::Container(container)),
        ..Default::default()
    };
    admin::TaskSpec {
        template: Some(template),
        description: None,
    }
}

// --- a workflow ------------------------------------------------------------------------------

fn promise(node_id: &str, var: &str) -> core::BindingData {
    core::BindingData {
        value: Some(binding_data::Value::Promise(core::OutputReference {
            node_id: node_id.to_owned(),
            var: var.to_owned(),
            attr_path: vec![],
        })),
        union: None,
    }
}

fn bind(var: &str, binding: core::BindingData) -> core::Binding {
    core::Binding {
        var: var.to_owned(),
        binding: Some(binding),
    }
}

fn task_node(id: &str, task: &str, inputs: Vec<core::Binding>) -> core::Node {
    core::Node {
        id: id.to_owned(),
        metadata: Some(core::NodeMetadata {
            name: task.to_owned(),
            ..Default::default()
        }),
        inputs,
        target: Some(node::Target::TaskNode(core::TaskNode {
            reference: Some(task_node::Reference::ReferenceId(identifier(
                core::ResourceType::Task,
                task,
            ))),
            overrides: None,
        })),
        ..Default::default()
    }
}

fn compare(operator: comparison_expression::Operator, var: &str, right: i64) -> core::BooleanExpression {
    let right = core::Scalar {
        value: Some(scalar::Value::Primitive(core::Primitive {
            value: Some(primitive::Value::Integer(right)),
        })),
    };
    core::BooleanExpression {
        expr: Some(boolean_expression::Expr::Comparison(core::ComparisonExpression {
            operator: operator as i32,
            left_value: Some(core::Operand {
                val: Some(operand::Val::Var(var.to_owned())),
            }),
            right_value: Some(core::Operand {
                val: Some(operand::Val::Scalar(right)),
            }),
        })),
    }
}

/// A workflow with a task node, a branch node (if, else-if, else-fail) and an array node mapping
/// a task over a collection built from a promise and a literal.
fn workflow_template() -> core::WorkflowTemplate {
    let start = task_node("n0", "train.prepare", vec![bind("x", promise("start-node", "x"))]);
    let branch = core::Node {
        id: "n1".to_owned(),
        inputs: vec![bind("x", promise("n0", "o0"))],
        upstream_node_ids: vec!["n0".to_owned()],
        target: Some(node::Target::BranchNode(Box::new(core::BranchNode {
            if_else: Some(Box::new(core::IfElseBlock {
                case: Some(Box::new(core::IfBlock {
                    condition: Some(compare(comparison_expression::Operator::Gt, "n0.o0", 10)),
                    then_node: Some(Box::new(task_node(
                        "n1-n0",
                        "train.big",
                        vec![bind("x", promise("n0", "o0"))],
                    ))),
                })),
                other: vec![core::IfBlock {
                    condition: Some(compare(comparison_expression::Operator::Gte, "n0.o0", 0)),
                    then_node: Some(Box::new(task_node(
                        "n1-n1",
                        "train.small",
                        vec![bind("x", promise("n0", "o0"))],
                    ))),
                }],
                default: Some(if_else_block::Default::Error(core::Error {
                    failed_node_id: "n1".to_owned(),
                    message: "x is negative".to_owned(),
                })),
            })),
        }))),
        ..Default::default()
    };
    let literal_one = core::BindingData {
        value: Some(binding_data::Value::Scalar(core::Scalar {
            value: Some(scalar::Value::Primitive(core::Primitive {
                value: Some(primitive::Value::Integer(1)),
            })),
        })),
        union: None,
    };
    let xs = core::BindingData {
        value: Some(binding_data::Value::Collection(core::BindingDataCollection {
            bindings: vec![promise("n0", "o0"), literal_one],
        })),
        union: None,
    };
    let array = core::Node {
        id: "n2".to_owned(),
        inputs: vec![bind("xs", xs)],
        upstream_node_ids: vec!["n0".to_owned()],
        target: Some(node::Target::ArrayNode(Box::new(core::ArrayNode {
            node: Some(Box::new(task_node(
                "n2-n0",
                "train.shard",
                vec![bind("x", promise("n2", "xs"))],
            ))),
            execution_mode: array_node::ExecutionMode::FullState as i32,
            is_original_sub_node_interface: Some(true),
            bound_inputs: vec!["x".to_owned()],
            parallelism_option: Some(array_node::ParallelismOption::Parallelism(4)),
            success_criteria: Some(array_node::SuccessCriteria::MinSuccessRatio(0.75)),
            ..Default::default()
        }))),
        ..Default::default()
    };
    core::WorkflowTemplate {
        id: Some(identifier(core::ResourceType::Workflow, "train.pipeline")),
        metadata: Some(core::WorkflowMetadata {
            on_failure: workflow_metadata::OnFailurePolicy::FailAfterExecutableNodesComplete as i32,
            tags: BTreeMap::from([("team".to_owned(), "ml".to_owned())]),
            quality_of_service: None,
        }),
        interface: Some(core::TypedInterface {
            inputs: Some(variables([("x", simple(core::SimpleType::Integer))])),
            outputs: Some(variables([("o0", simple(core::SimpleType::Integer))])),
        }),
        nodes: vec![start, branch, array],
        outputs: vec![bind("o0", promise("n1", "o0"))],
        ..Default::default()
    }
}

// --- the checks ------------------------------------------------------------------------------

/// Encodes, decodes, and encodes again: the message is unchanged and the bytes are the same.
fn round_trip<M: Message + Default + PartialEq + std::fmt::Debug>(message: &M) -> M {
    let bytes = message.encode_to_vec();
    assert_eq!(bytes.len(), message.encoded_len());
    let decoded = M::decode(bytes.as_slice()).expect("decode what was just encoded");
    assert_eq!(&decoded, message);
    assert_eq!(
        decoded.encode_to_vec(),
        bytes,
        "a decoded message encodes to other bytes"
    );
    decoded
}

fn golden<M: Message + Default>(name: &str) -> M {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.pb"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    M::decode(bytes.as_slice()).unwrap_or_else(|e| panic!("decode {}: {e}", path.display()))
}

/// With `FLYTE_IDL_GOLDEN_OUT=dir`, writes this crate's encodings there too, for
/// `make_golden.py --check dir` to decode with the Python bindings: the other direction.
fn write_for_python<M: Message>(name: &str, message: &M) {
    if let Some(dir) = std::env::var_os("FLYTE_IDL_GOLDEN_OUT") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).expect("create FLYTE_IDL_GOLDEN_OUT");
        std::fs::write(dir.join(format!("{name}.pb")), message.encode_to_vec()).expect("write an encoding");
    }
}

#[test]
fn an_integer_literal_has_the_wire_bytes_of_flyteidl() {
    // Literal.scalar (1) { Scalar.primitive (1) { Primitive.integer (1) = 42 } }, as Python's
    // `Literal(scalar=Scalar(primitive=Primitive(integer=42))).SerializeToString()` writes it.
    assert_eq!(integer(42).encode_to_vec(), [0x0a, 0x04, 0x0a, 0x02, 0x08, 0x2a]);
}

#[test]
fn a_nested_literal_map_round_trips() {
    let map = nested_literal_map();
    let decoded = round_trip(&map);

    let Some(literal::Value::Map(nested)) = &decoded.literals["nested"].value else {
        panic!("`nested` is not a map: {:?}", decoded.literals["nested"]);
    };
    let Some(literal::Value::Collection(rows)) = &nested.literals["rows"].value else {
        panic!("`rows` is not a collection: {:?}", nested.literals["rows"]);
    };
    assert_eq!(rows.literals, [collection([integer(1), integer(2)]), collection([])]);
    assert_eq!(nested.literals["hashed"].hash, "0f1e2d");
    assert_eq!(nested.literals["hashed"].metadata["origin"], "rust");

    // Maps are BTreeMaps, so entries are written in key order whatever the insertion order.
    let reversed = core::LiteralMap {
        literals: map.literals.clone().into_iter().rev().collect(),
    };
    assert_eq!(reversed.encode_to_vec(), map.encode_to_vec());
}

#[test]
fn a_task_spec_round_trips() {
    let decoded = round_trip(&task_spec());

    let template = decoded.template.expect("the template");
    let metadata = template.metadata.expect("the metadata");
    let runtime = metadata.runtime.expect("the runtime");
    assert_eq!(runtime.r#type(), runtime_metadata::RuntimeType::FlyteSdk);
    assert_eq!((runtime.version.as_str(), runtime.flavor.as_str()), ("0.1.0", "rust"));
    assert_eq!(metadata.retries, Some(core::RetryStrategy { retries: 3 }));
    let Some(task_template::Target::Container(container)) = template.target else {
        panic!("the target is not a container");
    };
    assert_eq!(container.args[..3], ["execute", "--inputs", "{{.input}}"]);
    let inputs = template.interface.and_then(|i| i.inputs).expect("the inputs");
    assert_eq!(inputs.variables.keys().collect::<Vec<_>>(), ["n_iterations"]);
}

#[test]
fn a_workflow_template_with_a_branch_and_an_array_node_round_trips() {
    let decoded = round_trip(&workflow_template());

    let targets: Vec<_> = decoded
        .nodes
        .iter()
        .map(|n| n.target.as_ref().expect("a target"))
        .collect();
    let [node::Target::TaskNode(_), node::Target::BranchNode(branch), node::Target::ArrayNode(array)] = targets[..]
    else {
        panic!("the nodes are not task, branch, array: {targets:?}");
    };
    let if_else = branch.if_else.as_ref().expect("the if-else block");
    assert_eq!(if_else.other.len(), 1);
    assert!(matches!(&if_else.default, Some(if_else_block::Default::Error(e)) if e.message == "x is negative"));
    assert_eq!(
        array.parallelism_option,
        Some(array_node::ParallelismOption::Parallelism(4))
    );
    assert_eq!(array.node.as_ref().map(|n| n.id.as_str()), Some("n2-n0"));
}

#[test]
fn flytes_python_bindings_wrote_the_same_messages() {
    let map = nested_literal_map();
    let task = task_spec();
    let workflow = workflow_template();
    write_for_python("literal_map", &map);
    write_for_python("task_spec", &task);
    write_for_python("workflow_template", &workflow);

    assert_eq!(golden::<core::LiteralMap>("literal_map"), map);
    assert_eq!(golden::<admin::TaskSpec>("task_spec"), task);
    assert_eq!(golden::<core::WorkflowTemplate>("workflow_template"), workflow);
}
