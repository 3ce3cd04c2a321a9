//! zant: an ahead-of-time compiler from ONNX models to standalone `#![no_std]`,
//! allocation-free Rust crates.
//!
//! The pipeline is the module list: [`onnx`] (protobuf → IR) → [`passes`] → [`plan`]
//! (arena offsets) → [`emit`] (tokens → files). [`pipeline::compile_graph`] runs it up to
//! the plan, once for every route (after [`compress`] has pruned the model, when asked): [`compile`] emits a crate and [`write_files`] puts it
//! on disk; [`Builder`] is the build-script route, which writes a module to `include!`;
//! `verify` (feature `verify`) builds and runs a compiled model against ONNX test data;
//! `bench` (feature `cli`) measures generated crates on the host and on a Cortex-M7;
//! [`compress`] quantizes float models and measures what compression costs in accuracy.

#[cfg(feature = "cli")]
pub mod bench;
mod builder;
pub mod compress;
pub mod emit;
pub mod ir;
pub mod limits;
pub mod onnx;
pub mod ops;
mod package;
pub mod passes;
pub mod pipeline;
pub mod plan;
pub mod report;
pub mod target;
pub mod tensor;
#[cfg(feature = "verify")]
pub mod verify;

pub use builder::{BuildError, Builder, Generated};
pub use compress::prune::{PruneMethod, PruneSpec, PruneSummary};
pub use emit::{GeneratedFile, RuntimeDep};
pub use onnx::{BindValue, Binding, InputShape};
pub use package::{
    compile, crate_name, default_crate_name, default_runtime, default_runtime_path, file_path,
    model_file, write_files, Compiled, CrateOptions,
};
pub use passes::bounded::MaxLen;
pub use pipeline::{Options, WeightFormat};

/// Any failure of the compiler, by stage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Import(#[from] onnx::ImportError),
    #[error(transparent)]
    Pass(#[from] passes::PassError),
    /// A data-dependent output is read by a node, or a `--max-len` pin does not apply.
    /// Boxed, as its node names would make every `Result` of the crate larger.
    #[error(transparent)]
    Bounded(Box<passes::bounded::BoundedError>),
    /// `--prune` failed (`compress::prune`).
    #[error(transparent)]
    Prune(#[from] compress::prune::PruneError),
    /// The arena does not fit `--ram-budget` (`Builder::ram_budget`). Boxed, as its node
    /// name would make every `Result` of the crate larger.
    #[error(transparent)]
    RamBudget(Box<plan::OverBudget>),
    #[error("internal error: the IR is inconsistent after the passes: {0}")]
    Verify(#[from] ir::verify::VerifyError),
    #[error(transparent)]
    Emit(#[from] emit::EmitError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("no model given: call Builder::model(path)")]
    NoModel,
    #[error("OUT_DIR is not set: call Builder::out_dir(dir) outside build scripts")]
    NoOutDir,
    #[error("module name `{0}` is not a snake_case Rust identifier")]
    ModuleName(String),
    /// The build script's `TARGET` (or a `--target`) cannot be used.
    #[error("target: {0}")]
    Target(#[from] target::TargetError),
    /// Running a compiled model against its test data failed (`zantc verify`).
    #[cfg(feature = "verify")]
    #[error(transparent)]
    Check(#[from] verify::CheckError),
    /// Quantizing a model failed (`zantc quantize`). Boxed, as its paths and shapes would
    /// make every `Result` of the crate larger.
    #[error(transparent)]
    Quantize(Box<compress::quantize::QuantizeError>),
    /// Evaluating a model on a data set failed.
    #[cfg(feature = "cli")]
    #[error(transparent)]
    Eval(Box<bench::eval::EvalError>),
    /// Building or measuring a bench harness failed (`zantc bench`).
    #[cfg(feature = "cli")]
    #[error(transparent)]
    Bench(#[from] bench::BenchError),
}

impl From<Box<passes::bounded::BoundedError>> for Error {
    fn from(e: Box<passes::bounded::BoundedError>) -> Self {
        Error::Bounded(e)
    }
}

impl From<compress::quantize::QuantizeError> for Error {
    fn from(e: compress::quantize::QuantizeError) -> Self {
        Error::Quantize(Box::new(e))
    }
}

#[cfg(feature = "cli")]
impl From<bench::eval::EvalError> for Error {
    fn from(e: bench::eval::EvalError) -> Self {
        Error::Eval(Box::new(e))
    }
}
