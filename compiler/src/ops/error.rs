//! What an op implementation can fail with. The caller wraps an [`OpError`] with the node,
//! the ONNX op type, its domain and opset ([`NodeError`]), so messages here never repeat them.

use zant_runtime::KernelError;

use super::OnnxOp;

/// Why an op could not be parsed, typed, folded or emitted.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum OpError {
    /// An input that decides a shape (a Reshape's shape, Slice's starts, TopK's `k`) is
    /// not a compile-time constant. zant compiles static shapes only; binding the input
    /// to a value at compile time makes the node compile.
    #[error(
        "input {input} ({what}) must be a compile-time constant; zant compiles static shapes only"
    )]
    NeedsConstant { input: usize, what: &'static str },
    /// A required input is omitted.
    #[error("input {input} is required")]
    MissingInput { input: usize },
    /// An attribute has the wrong kind or an invalid value.
    #[error("attribute `{name}`: {reason}")]
    BadAttribute { name: String, reason: String },
    /// Valid ONNX that zant does not implement: an element type, a mode, a combination.
    #[error("{0}")]
    Unsupported(String),
    /// The input types or shapes do not fit the op: the model is inconsistent.
    #[error("{0}")]
    Shape(String),
    /// Folding a constant node ran into a data-dependent error (an index out of range).
    #[error("while folding constants: {0}")]
    Kernel(KernelError),
}

impl From<KernelError> for OpError {
    fn from(e: KernelError) -> Self {
        Self::Kernel(e)
    }
}

impl OpError {
    /// An [`OpError::BadAttribute`].
    pub fn attr(name: &str, reason: impl Into<String>) -> Self {
        Self::BadAttribute {
            name: name.to_string(),
            reason: reason.into(),
        }
    }

    /// An [`OpError::Unsupported`].
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::Unsupported(message.into())
    }

    /// An [`OpError::Shape`].
    pub fn shape(message: impl Into<String>) -> Self {
        Self::Shape(message.into())
    }
}

/// An [`OpError`] with the node it happened at.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("node `{node}`: {op}: {source}")]
pub struct NodeError {
    /// The ONNX node name.
    pub node: String,
    pub op: OnnxOp,
    #[source]
    pub source: OpError,
}
