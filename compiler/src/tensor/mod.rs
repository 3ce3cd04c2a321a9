//! Element types, tensor types and constant tensors: the vocabulary every stage shares.
//!
//! It sits below `ops` and `ir` so that an op can describe its types and fold constants
//! without knowing the graph, and the graph can hold ops without a module cycle.

mod data;
mod dtype;

pub use data::{parse_number, Data, Tensor};
pub use dtype::{DType, TensorType};
