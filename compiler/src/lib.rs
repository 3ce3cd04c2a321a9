//! zant: an ahead-of-time compiler from ONNX models to standalone `#![no_std]`,
//! allocation-free Rust crates.
//!
//! The pipeline is the module list: [`onnx`] (protobuf → IR) → [`passes`] → [`plan`]
//! (arena offsets) → [`emit`] (tokens → files). [`compile`] runs all of it and writes a
//! crate; [`Builder`] is the build-script route, which writes a module to `include!`;
//! `verify` (feature `verify`) builds and runs a compiled model against ONNX test data;
//! `bench` (feature `cli`) measures generated crates on the host and on a Cortex-M7.

#[cfg(feature = "cli")]
pub mod bench;
mod builder;
pub mod emit;
pub mod ir;
pub mod onnx;
pub mod ops;
pub mod passes;
pub mod plan;
pub mod report;
pub mod tensor;
#[cfg(feature = "verify")]
pub mod verify;

use std::path::{Path, PathBuf};

pub use builder::{BuildError, Builder, Generated};
pub use emit::{GeneratedFile, RuntimeDep};
pub use onnx::InputShape;

/// Any failure of the compiler, by stage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Import(#[from] onnx::ImportError),
    #[error(transparent)]
    Pass(#[from] passes::PassError),
    #[error("internal error: the IR is inconsistent after the passes: {0}")]
    Verify(#[from] ir::verify::VerifyError),
    #[error(transparent)]
    Emit(#[from] emit::EmitError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

/// What to compile and how.
#[derive(Clone, Debug)]
pub struct Options {
    /// Pins for symbolic input dims.
    pub input_shapes: Vec<InputShape>,
    /// The generated crate's name; defaults to the model's folder or file name.
    pub crate_name: Option<String>,
    /// Where the generated crate finds `zant-runtime`.
    pub runtime: RuntimeDep,
    /// Whether the crate is its own workspace root.
    pub standalone: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            input_shapes: Vec::new(),
            crate_name: None,
            runtime: default_runtime(),
            standalone: true,
        }
    }
}

/// The `zant-runtime` a generated crate depends on by default: the runtime beside this
/// compiler's source, by absolute path, when that folder exists (a checkout); otherwise
/// (a compiler installed from crates.io) the crates.io release of the same version.
pub fn default_runtime() -> RuntimeDep {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("runtime");
    if dir.join("Cargo.toml").is_file() {
        RuntimeDep::Path(default_runtime_path())
    } else {
        RuntimeDep::Version(format!("={}", env!("CARGO_PKG_VERSION")))
    }
}

/// The `zant-runtime` beside this compiler's source, as an absolute path.
pub fn default_runtime_path() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("runtime");
    dir.canonicalize().unwrap_or(dir).display().to_string()
}

/// Everything one compilation produced.
#[derive(Debug)]
pub struct Compiled {
    pub graph: ir::Graph,
    pub plan: plan::MemoryPlan,
    /// The liveness bound of the graph as imported, in file order, before any pass.
    pub file_order_bound: usize,
    /// The IR text as imported (before the passes).
    pub imported_ir: String,
    pub crate_name: String,
    pub files: Vec<GeneratedFile>,
}

/// Imports, optimizes, plans and emits a model file.
pub fn compile(path: &Path, opts: &Options) -> Result<Compiled, Error> {
    let mut graph = onnx::load(path, &opts.input_shapes)?;
    let imported_ir = ir::text::print(&graph);
    let file_order_bound = plan::file_order_bound(&graph);
    passes::optimize(&mut graph)?;
    ir::verify::verify(&graph).map_err(Error::Verify)?;
    let schedule = graph
        .schedule()
        .map_err(|stuck| Error::Verify(ir::verify::VerifyError::cycle(&graph, &stuck)))?;
    let plan = plan::plan(&graph, &schedule);
    let crate_name = opts
        .crate_name
        .clone()
        .unwrap_or_else(|| default_crate_name(path));
    let emit_opts = emit::EmitOptions {
        crate_name: crate_name.clone(),
        source_name: path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
        runtime: opts.runtime.clone(),
        standalone: opts.standalone,
    };
    let files = emit::emit(&graph, &plan, &emit_opts)?;
    Ok(Compiled {
        graph,
        plan,
        file_order_bound,
        imported_ir,
        crate_name,
        files,
    })
}

/// A crate name from the model path: `models/mnist-8/model.onnx` → `mnist-8`.
pub fn default_crate_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let base = if stem == "model" {
        path.parent()
            .and_then(|p| p.file_name())
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or(stem)
    } else {
        stem
    };
    crate_name(&base)
}

/// A valid crate name (`kebab-case`, starting with a letter).
pub fn crate_name(base: &str) -> String {
    let snake = emit::to_snake(base).trim_end_matches('_').replace('_', "-");
    if snake.starts_with("v-") && base.starts_with(|c: char| c.is_ascii_digit()) {
        format!("model-{}", &snake[2..])
    } else {
        snake
    }
}

/// Writes generated files under `dir`. Everything was generated in memory first, so a
/// compile error never leaves a partial crate; each file is written to a temporary name
/// and renamed into place.
pub fn write_files(dir: &Path, files: &[GeneratedFile]) -> Result<(), Error> {
    for f in files {
        let path = dir.join(&f.path);
        let io = |context: String| move |source| Error::Io { context, source };
        let parent = path.parent().unwrap_or(dir);
        std::fs::create_dir_all(parent)
            .map_err(io(format!("cannot create {}", parent.display())))?;
        if std::fs::read(&path).ok().as_deref() == Some(&f.contents[..]) {
            continue;
        }
        let tmp = path.with_extension("zant-tmp");
        std::fs::write(&tmp, &f.contents).map_err(io(format!("cannot write {}", tmp.display())))?;
        std::fs::rename(&tmp, &path).map_err(io(format!("cannot write {}", path.display())))?;
    }
    Ok(())
}

/// `DIR` → `DIR/model.onnx`; a file stays as it is.
pub fn model_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join("model.onnx")
    } else {
        path.to_path_buf()
    }
}

/// The path of a generated file inside its crate.
pub fn file_path(dir: &Path, f: &GeneratedFile) -> PathBuf {
    dir.join(&f.path)
}
