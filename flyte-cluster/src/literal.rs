//! STAND-IN until branch wt-lit (the real value <-> Literal conversion) is merged: it converts
//! nothing and says so. Only its signature is used by `package`.

use flyte_idl::core;
use flyte_runtime::{Encoded, Type};

/// Why a value is not a Flyte literal of a type.
#[derive(Debug, Clone, PartialEq)]
pub struct LiteralError(pub String);

impl std::fmt::Display for LiteralError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LiteralError {}

/// `value` as a Flyte literal of type `ty`.
pub fn to_literal(_value: &Encoded, ty: &Type) -> Result<core::Literal, LiteralError> {
    Err(LiteralError(format!(
        "no literal conversion yet (waiting for branch wt-lit) for a {ty:?}"
    )))
}
