//! Errors that depend on input data and are therefore returned, never panicked.

use core::fmt;

/// What went wrong inside one kernel call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelError {
    /// An index read from a tensor lies outside `-len..len`.
    IndexOutOfRange { index: i64, len: usize },
    /// An integer division or remainder by zero.
    DivisionByZero,
    /// A recurrent layer's `sequence_lens` holds a length outside `0..=seq_len`.
    SequenceLength { len: i64, seq_len: usize },
    /// A data-dependent result (NonZero, Compress, Unique, NonMaxSuppression) has more
    /// entries than the capacity the crate was compiled with.
    CapacityExceeded { capacity: usize },
}

/// A [`KernelError`] together with the ONNX node that raised it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Error {
    /// The ONNX node name (or `op_type#index` when the node had no name).
    pub node: &'static str,
    /// What went wrong.
    pub kind: KernelError,
}

impl Error {
    /// Attaches the node name to a kernel error; generated code calls this in `map_err`.
    pub const fn at(node: &'static str, kind: KernelError) -> Self {
        Self { node, kind }
    }
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::IndexOutOfRange { index, len } => {
                write!(
                    f,
                    "index {index} is out of range for an axis of length {len}"
                )
            }
            Self::DivisionByZero => f.write_str("integer division by zero"),
            Self::SequenceLength { len, seq_len } => {
                write!(
                    f,
                    "sequence length {len} is outside 0..={seq_len}, the time steps of X"
                )
            }
            Self::CapacityExceeded { capacity } => write!(
                f,
                "the result has more than {capacity} entries, the capacity the model was \
                 compiled with (zantc compile --max-len)"
            ),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node `{}`: {}", self.node, self.kind)
    }
}
