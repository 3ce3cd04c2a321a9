//! The intermediate representation: a typed dataflow graph with static shapes.
//!
//! `ir` knows nothing of protobuf. Every value carries a dtype and a static shape; constants
//! are nodes (`Op::Const`), and so are graph inputs (`Op::Input`).

mod dtype;
mod graph;
mod tensor;
pub mod text;
pub mod verify;

pub use dtype::{DType, TensorType};
pub use graph::{Graph, GraphOutput, Node, NodeId, Value, ValueId};
pub use tensor::{Data, Tensor};
