//! What a Flyte 1 cluster needs of a workflow binary: each task's and workflow's interface in
//! Flyte's types ([`types`]), values as Flyte literals ([`literal`]), the registration package that
//! `flytectl register files --archive` takes, and what the task container does: checkpoints
//! ([`checkpoint`]), inputs and outputs ([`execute`]) and files ([`files`]) in object storage
//! ([`storage`]).
//!
//! This is the one crate that speaks Flyte's IDL (through `flyte-idl`); the runtime
//! (`flyte-runtime`) describes types and graphs as plain data, and a local-only build compiles
//! none of this. A Flyte 2 backend would be another crate beside this one, reading the same data.

pub mod checkpoint;
pub mod execute;
pub mod files;
pub mod literal;
mod outputs;
pub mod package;
pub mod storage;
pub mod types;
mod wire;

pub use literal::{from_literal, from_literal_map, to_literal, to_literal_map, LiteralError, Problem};
