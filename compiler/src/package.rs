//! The crate route: a model compiled into a standalone Cargo package (`zantc compile`),
//! in memory by [`compile`], then put on disk by [`write_files`].

use std::path::{Path, PathBuf};

use crate::emit::{self, EmitOptions, GeneratedFile, RuntimeDep};
use crate::pipeline::{self, Lowered, Options};
use crate::Error;

/// How the generated crate is packaged: emission settings, apart from the pipeline's
/// [`Options`].
#[derive(Clone, Debug)]
pub struct CrateOptions {
    /// The generated crate's name; defaults to the model's folder or file name.
    pub crate_name: Option<String>,
    /// Where the generated crate finds `zant-runtime`.
    pub runtime: RuntimeDep,
    /// Whether the crate is its own workspace root.
    pub standalone: bool,
}

impl Default for CrateOptions {
    fn default() -> Self {
        Self {
            crate_name: None,
            runtime: default_runtime(),
            standalone: true,
        }
    }
}

/// Everything one compilation to a crate produced.
#[derive(Debug)]
pub struct Compiled {
    /// The pipeline's result: graph, plan and the figures `zantc inspect` reports.
    pub lowered: Lowered,
    pub crate_name: String,
    pub files: Vec<GeneratedFile>,
}

/// Runs the pipeline on a model file and emits a crate, in memory.
pub fn compile(path: &Path, opts: &Options, krate: &CrateOptions) -> Result<Compiled, Error> {
    let lowered = pipeline::compile_graph(path, opts)?;
    let crate_name = krate
        .crate_name
        .clone()
        .unwrap_or_else(|| default_crate_name(path));
    let emit_opts = EmitOptions {
        crate_name: crate_name.clone(),
        source_name: path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
        runtime: krate.runtime.clone(),
        standalone: krate.standalone,
    };
    let files = emit::emit(&lowered.graph, &lowered.plan, &emit_opts)?;
    Ok(Compiled {
        lowered,
        crate_name,
        files,
    })
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
