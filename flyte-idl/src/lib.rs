//! Flyte 1's IDL as Rust types: the protobuf messages of flyteidl's `core`, `admin` and `event`
//! packages, generated with [prost].
//!
//! This crate is the only place in the workspace that knows where the generated code lives;
//! everything else names the messages through the three modules below, so a change of version
//! or of generator is a change here and nowhere else.
//!
//! | module    | proto package    | what it holds                                                   |
//! |-----------|------------------|-----------------------------------------------------------------|
//! | [`core`]  | `flyteidl.core`  | literals, types, interfaces, task and workflow templates, nodes |
//! | [`admin`] | `flyteidl.admin` | what FlyteAdmin registers and serves: specs, executions         |
//! | [`event`] | `flyteidl.event` | what propeller reports about workflow, node and task executions |
//!
//! The well-known types (`google.protobuf.Timestamp`, `Duration`, `Struct`, the wrappers, `Any`)
//! are [`prost_types`]'s. Both [`prost`] and [`prost_types`] are re-exported, so a user needs no
//! dependency of a matching version to encode, decode or build a message.
//!
//! Maps are `BTreeMap`s, not prost's default `HashMap`s: prost writes map entries in iteration
//! order, so this way a message encodes to the same bytes every time, and what is built twice
//! from the same graph is byte-identical.
//!
//! # Example
//!
//! An integer literal, encoded and decoded back:
//!
//! ```
//! use flyte_idl::core::{literal, primitive, scalar, Literal, Primitive, Scalar};
//! use flyte_idl::prost::Message;
//!
//! let answer = Literal {
//!     value: Some(literal::Value::Scalar(Box::new(Scalar {
//!         value: Some(scalar::Value::Primitive(Primitive { value: Some(primitive::Value::Integer(42)) })),
//!     }))),
//!     ..Literal::default()
//! };
//!
//! let bytes = answer.encode_to_vec();
//! let decoded = Literal::decode(bytes.as_slice())?;
//! assert_eq!(decoded, answer);
//! # Ok::<(), flyte_idl::prost::DecodeError>(())
//! ```
//!
//! # Flyte 1, and only Flyte 1
//!
//! These are Flyte 1's messages (the `@flyteorg/flyteidl` 1.16.5 `.proto` files, vendored in
//! `protos/` with their license and notice; `protos/VERSION` says where they came from). Flyte 2
//! has another IDL (`flyteidl2`): a Flyte 2 backend would be another crate beside this one, behind
//! the same Flyte layer, and the runtime would not see the difference. Nothing in this crate is
//! meant to be shared with it.
//!
//! # How the code is generated
//!
//! The code in `src/generated/` is checked in. It is what prost-build makes of the vendored files
//! compiled by protox (a protobuf compiler in Rust: no system `protoc`), and the test
//! `tests/generated.rs` regenerates it and fails when it differs
//! (`FLYTE_IDL=overwrite cargo test -p flyte-idl --test generated` rewrites it). A build script
//! would do the same work on every clean build, and every dependent would compile protox and
//! prost-build first: a first build of this crate takes 2 to 3 times as long that way (8 s
//! against 22 s in debug on two busy cores; figures in the repository's `BENCHMARKS.md`).

pub use prost;
pub use prost_types;

/// The generated code, private: it is named only through the facade modules below. Clippy's
/// lints are for code written here (it finds large enum variants and a doc list in upstream's).
#[allow(clippy::all)]
mod generated {
    pub mod flyteidl {
        pub mod core {
            include!("generated/flyteidl.core.rs");
        }
        pub mod admin {
            include!("generated/flyteidl.admin.rs");
        }
        pub mod event {
            include!("generated/flyteidl.event.rs");
        }
    }
}

/// `flyteidl.core`: literals and their types, interfaces, identifiers, task templates
/// ([`core::TaskTemplate`]), workflow templates and their nodes ([`core::WorkflowTemplate`]),
/// execution errors. A message's nested types and oneofs are in the module of its snake-case
/// name: `core::Literal`'s value is a [`core::literal::Value`].
pub mod core {
    pub use crate::generated::flyteidl::core::*;
}

/// `flyteidl.admin`: the specs and closures FlyteAdmin registers and serves
/// ([`admin::TaskSpec`], [`admin::WorkflowSpec`], [`admin::LaunchPlanSpec`]), executions,
/// projects and their attributes, notifications and schedules.
pub mod admin {
    pub use crate::generated::flyteidl::admin::*;
}

/// `flyteidl.event`: the events reported about workflow, node and task executions
/// ([`event::WorkflowExecutionEvent`], [`event::NodeExecutionEvent`],
/// [`event::TaskExecutionEvent`]) and their CloudEvents wrappers.
pub mod event {
    pub use crate::generated::flyteidl::event::*;
}
