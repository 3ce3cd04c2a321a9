//! The intermediate representation: a typed dataflow graph with static shapes.
//!
//! `ir` knows nothing of protobuf. Every value carries a dtype and a static shape; constants
//! are nodes (`Op::Const`), and so are graph inputs (`Op::Input`).

mod graph;
pub mod text;
pub mod verify;

pub use crate::tensor::{DType, Data, Tensor, TensorType};
pub use graph::{Graph, GraphOutput, Node, NodeId, Value, ValueId};
