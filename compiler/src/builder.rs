//! The build-script API, in the shape of `prost_build::Config`: configure a [`Builder`]
//! with `&mut Self` setters, [`Builder::generate`] the module in memory (pure), then
//! [`Builder::write`] it into `OUT_DIR` for the user to `include!`.
//!
//! ```no_run
//! // build.rs
//! if let Err(e) = zant_compiler::Builder::new()
//!     .model("models/lenet-mnist.onnx")
//!     .module_name("lenet")
//!     .compile()
//! {
//!     // Print the error and fail the build; no panic, no backtrace.
//!     eprintln!("{e}");
//!     std::process::exit(1);
//! }
//!
//! // src/main.rs
//! // include!(concat!(env!("OUT_DIR"), "/lenet.rs"));
//! // let mut model = lenet::Model::new();
//! ```
//!
//! Every failure is a returned [`BuildError`] whose message names the model and, for
//! compile errors, the node, op and opset.

use std::path::{Path, PathBuf};

use crate::emit::{emit_module, weight_blob, ProfileApi, WeightsRef};
use crate::pipeline::{self, Options};
use crate::target::Target;
use crate::{BindValue, Binding, InputShape, PruneSpec, WeightFormat};

/// A build-script failure: the model path and what went wrong.
#[derive(Debug, thiserror::Error)]
#[error("zant: model `{model}`: {source}")]
pub struct BuildError {
    pub model: String,
    /// Boxed: a build script's `Result` stays small.
    #[source]
    pub source: Box<crate::Error>,
}

/// The files a [`Builder`] produces: the module source and its weight blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generated {
    /// The module name (`lenet` in `lenet::Model`).
    pub module: String,
    /// `<module>.rs`: `pub mod <module> { … }`.
    pub source: String,
    /// `<module>.weights.bin`, read by the module with `include_bytes!`.
    pub weights: Vec<u8>,
    /// The arena size of the compiled model, for build output or size budgets.
    pub arena_bytes: usize,
    /// Files the build depends on (the model, its external data).
    pub inputs: Vec<PathBuf>,
    /// What the compiler overrode in the model (a graph output's declared shape that
    /// differs from the computed one). [`Builder::write`] prints them as cargo warnings.
    pub warnings: Vec<String>,
}

/// Compiles one model into a Rust module at build time.
#[derive(Clone, Debug, Default)]
pub struct Builder {
    model: Option<PathBuf>,
    module: Option<String>,
    options: Options,
    out_dir: Option<PathBuf>,
    weights_section: Option<String>,
    rerun_if_changed: Option<bool>,
    profile: bool,
    /// Whether [`Builder::any_target`] turned off reading Cargo's `TARGET`.
    any_target: bool,
}

impl Builder {
    pub fn new() -> Self {
        Self::default()
    }

    /// The `.onnx` file (or a folder holding `model.onnx`), relative to the crate root.
    pub fn model(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.model = Some(path.as_ref().to_path_buf());
        self
    }

    /// The module name (default: from the model's file or folder name, `snake_case`).
    pub fn module_name(&mut self, name: impl Into<String>) -> &mut Self {
        self.module = Some(name.into());
        self
    }

    /// Pins a symbolic input dim, like `--input-shape NAME=DIMS`.
    pub fn input_shape(&mut self, name: impl Into<String>, dims: &[usize]) -> &mut Self {
        self.options.input_shapes.push(InputShape {
            name: name.into(),
            dims: dims.to_vec(),
        });
        self
    }

    /// Binds a graph input to a value, like `--bind NAME=VALUES|FILE.npy`: the input becomes
    /// a constant, what depends on it folds, and it leaves the generated `predict`. `value`
    /// is numbers as text (`"16000"`, `"1,-1"`), typed and shaped by the input's
    /// declaration; a path ending in `.npy` (relative to the crate root, where cargo runs
    /// build scripts), which then joins the files the build reruns on; or a
    /// [`crate::ir::Tensor`].
    pub fn bind(&mut self, name: impl Into<String>, value: impl Into<BindValue>) -> &mut Self {
        self.options.bindings.push(Binding::new(name, value));
        self
    }

    /// Caps the data-dependent output `name` (NonZero, Compress, Unique,
    /// NonMaxSuppression) at `len` entries along its data-dependent axis, like
    /// `--max-len NAME=N`; a run that produces more returns an error.
    pub fn max_len(&mut self, name: impl Into<String>, len: usize) -> &mut Self {
        self.options.max_lens.push(crate::MaxLen {
            name: name.into(),
            len,
        });
        self
    }

    /// Caps the arena at `bytes`, like `--ram-budget`: a model whose smallest arena is
    /// larger fails to build, with the arena it reaches and the node at its peak.
    pub fn ram_budget(&mut self, bytes: usize) -> &mut Self {
        self.options.ram_budget = Some(crate::plan::RamBudget(bytes));
        self
    }

    /// How the weights of Conv, MatMul and Gemm are stored, like `--weights` and
    /// `--keep-float`: [`WeightFormat::Ternary`] packs them as trits, five to a byte, with
    /// one scale per output channel (default: [`WeightFormat::Float`], as the model has
    /// them).
    ///
    /// ```no_run
    /// use zant_compiler::compress::ternary::KeepFloat;
    /// use zant_compiler::WeightFormat;
    ///
    /// zant_compiler::Builder::new()
    ///     .model("models/digits-mlp.onnx")
    ///     .weights(WeightFormat::Ternary {
    ///         keep_float: KeepFloat { first: false, last: true },
    ///     });
    /// ```
    pub fn weights(&mut self, format: WeightFormat) -> &mut Self {
        self.options.weights = format;
        self
    }

    /// Prunes the model before compiling it, like `--prune`:
    /// `PruneSpec::channels(50.0)?` removes about half the compute (29 % of each layer's
    /// output channels, by filter L1 norm) and shrinks what reads them,
    /// `PruneSpec::magnitude(50.0)?` zeroes the
    /// smaller half of each weight tensor; `"channels:30%".parse()?` gives the same specs.
    pub fn prune(&mut self, spec: PruneSpec) -> &mut Self {
        self.options.prune = Some(spec);
        self
    }

    /// The target the module is compiled for, like `--target` and `--cpu`:
    /// `Target::from_triple("thumbv7em-none-eabihf", Some("cortex-m7"))?` or
    /// `Target::core("cortex-m4")?`. Default: in a build script, the crate's own target
    /// (Cargo's `TARGET`, with the `-C target-cpu` of its rustflags), so a firmware build
    /// gets scratch and weight layout for its own core with no extra line; elsewhere a
    /// module that builds for any target.
    pub fn target(&mut self, target: Target) -> &mut Self {
        self.options.target = Some(target);
        self.any_target = false;
        self
    }

    /// Compiles a module that builds for any target (scratch sized for every kernel
    /// family), ignoring the build script's `TARGET`.
    pub fn any_target(&mut self) -> &mut Self {
        self.options.target = None;
        self.any_target = true;
        self
    }

    /// Where [`Builder::write`] puts the files (default: `$OUT_DIR`).
    pub fn out_dir(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.out_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Puts the weight blob in a named linker section (e.g. `.rodata.zant` or an external
    /// flash region of your memory map). The generated module then denies unsafe code
    /// instead of forbidding it, because the compiler counts `#[link_section]` as unsafe.
    pub fn weights_section(&mut self, section: impl Into<String>) -> &mut Self {
        self.weights_section = Some(section.into());
        self
    }

    /// Adds `Model::predict_profiled` and `LAYERS` to the module: a probe called between
    /// layers, for per-layer timing on your own target (default: off, and then the module
    /// has neither).
    pub fn profile(&mut self, on: bool) -> &mut Self {
        self.profile = on;
        self
    }

    /// Whether [`Builder::write`] prints `cargo:rerun-if-changed` lines, and the compiler's
    /// warnings as `cargo:warning` lines (default: when run by cargo, that is when
    /// `OUT_DIR` is set).
    pub fn emit_rerun_if_changed(&mut self, on: bool) -> &mut Self {
        self.rerun_if_changed = Some(on);
        self
    }

    fn model_path(&self) -> Result<PathBuf, BuildError> {
        let model = self.model.clone().ok_or_else(|| BuildError {
            model: "?".into(),
            source: Box::new(crate::Error::NoModel),
        })?;
        Ok(crate::model_file(&model))
    }

    fn module(&self, model: &Path) -> String {
        self.module
            .clone()
            .unwrap_or_else(|| crate::default_crate_name(model).replace('-', "_"))
    }

    fn out_dir_path(&self, model: &Path) -> Result<PathBuf, BuildError> {
        self.out_dir
            .clone()
            .or_else(|| std::env::var_os("OUT_DIR").map(PathBuf::from))
            .ok_or_else(|| BuildError {
                model: model.display().to_string(),
                source: Box::new(crate::Error::NoOutDir),
            })
    }

    /// Compiles the model into module source and weights, in memory. Pure: nothing is
    /// written and nothing printed. The weights path baked into the module is
    /// `<out_dir>/<module>.weights.bin`.
    pub fn generate(&self) -> Result<Generated, BuildError> {
        let model = self.model_path()?;
        let fail = |source: crate::Error| BuildError {
            model: model.display().to_string(),
            source: Box::new(source),
        };
        let module = self.module(&model);
        if crate::emit::to_snake(&module) != module {
            return Err(fail(crate::Error::ModuleName(module)));
        }
        let out_dir = self.out_dir_path(&model)?;
        let mut options = self.options.clone();
        if options.target.is_none() && !self.any_target {
            options.target = Target::from_cargo_env(|key| std::env::var(key).ok())
                .transpose()
                .map_err(|e| fail(e.into()))?;
        }
        let lowered = pipeline::compile_graph(&model, &options).map_err(fail)?;
        let weights_file = out_dir.join(format!("{module}.weights.bin"));
        let weights = WeightsRef {
            path: weights_file.display().to_string(),
            section: self.weights_section.clone(),
        };
        let profile = if self.profile {
            ProfileApi::On
        } else {
            ProfileApi::Off
        };
        let source = emit_module(&lowered.graph, &lowered.plan, &module, &weights, profile)
            .map_err(|e| fail(e.into()))?;
        Ok(Generated {
            module,
            source,
            weights: weight_blob(&lowered.graph, &lowered.plan),
            arena_bytes: lowered.plan.arena_bytes,
            inputs: lowered.files_read,
            warnings: lowered.warnings,
        })
    }

    /// Writes `<module>.rs` and `<module>.weights.bin` into the output folder (files that
    /// did not change are left alone, so cargo does not rebuild) and prints
    /// `cargo:rerun-if-changed` for the model. Returns the path of the module source.
    pub fn write(&self, generated: &Generated) -> Result<PathBuf, BuildError> {
        let model = self.model_path()?;
        let fail = |source: crate::Error| BuildError {
            model: model.display().to_string(),
            source: Box::new(source),
        };
        let out_dir = self.out_dir_path(&model)?;
        let files = [
            crate::GeneratedFile {
                path: format!("{}.rs", generated.module).into(),
                contents: generated.source.clone().into_bytes(),
            },
            crate::GeneratedFile {
                path: format!("{}.weights.bin", generated.module).into(),
                contents: generated.weights.clone(),
            },
        ];
        crate::write_files(&out_dir, &files).map_err(fail)?;
        let rerun = self
            .rerun_if_changed
            .unwrap_or_else(|| std::env::var_os("OUT_DIR").is_some());
        if rerun {
            for input in &generated.inputs {
                println!("cargo:rerun-if-changed={}", input.display());
            }
            for warning in &generated.warnings {
                println!("cargo:warning=zant: model `{}`: {warning}", model.display());
            }
        }
        Ok(out_dir.join(format!("{}.rs", generated.module)))
    }

    /// [`Builder::generate`] then [`Builder::write`].
    pub fn compile(&self) -> Result<PathBuf, BuildError> {
        let generated = self.generate()?;
        self.write(&generated)
    }
}
