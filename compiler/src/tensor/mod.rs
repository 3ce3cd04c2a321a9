//! Element types, tensor types and constant tensors: the vocabulary every stage shares.
//!
//! It sits below `ops` and `ir` so that an op can describe its types and fold constants
//! without knowing the graph, and the graph can hold ops without a module cycle.

mod data;
mod dtype;
pub mod npy;
pub mod ternary;

pub use data::{parse_number, Data, Tensor};

/// Text that is not a type, a tensor or a number as the IR text writes them.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SyntaxError(pub String);

impl From<String> for SyntaxError {
    fn from(message: String) -> Self {
        Self(message)
    }
}
pub use dtype::{DType, TensorType};
