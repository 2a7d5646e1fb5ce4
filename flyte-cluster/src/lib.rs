//! What a Flyte 1 cluster needs of a workflow binary: each task's and workflow's interface in
//! Flyte's types ([`types`]), values as Flyte literals, and the registration package that
//! `flytectl register files --archive` takes.
//!
//! This is the one crate that speaks Flyte's IDL (through `flyte-idl`); the runtime
//! (`flyte-runtime`) describes types and graphs as plain data, and a local-only build compiles
//! none of this. A Flyte 2 backend would be another crate beside this one, reading the same data.

pub mod checkpoint;
pub mod execute;
pub mod storage;
pub mod types;
