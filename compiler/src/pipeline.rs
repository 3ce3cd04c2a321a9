//! The compile pipeline, written once: load → passes → verify → schedule → plan.
//!
//! Every route into the compiler runs [`compile_graph`]: the crate route
//! ([`crate::compile`], which then emits a crate), the build-script [`crate::Builder`]
//! (which emits one module), `zantc verify`, `zantc bench` and the conformance harness.
//! What differs between them is emission, and emission options stay with emission; what
//! the pipeline needs to know beyond the model is [`Options`].

use std::path::PathBuf;

use crate::compress::prune::{self, PruneSpec, PruneSummary};
use crate::ir::{self, verify::VerifyError, Graph};
use crate::onnx::{self, Binding, InputShape};
use crate::plan::{self, MemoryPlan};
use crate::target::{self, Target};
use crate::tensor::ternary::KeepFloat;
use crate::{passes, Error};

pub use crate::onnx::Source;

/// What the pipeline needs to know beyond the model itself.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Options {
    /// Pins for symbolic input dims (`--input-shape NAME=DIMS`).
    pub input_shapes: Vec<InputShape>,
    /// Graph inputs bound to a value at compile time (`--bind NAME=VALUES|FILE.npy`,
    /// `Builder::bind`, and the conformance harness's shape-deciding inputs). Each becomes
    /// a constant, as if the model held it in an initializer, what depends on it folds,
    /// and it leaves the generated `predict`.
    pub bindings: Vec<Binding>,
    /// Prune the model before it is imported (`--prune magnitude:50%|channels:30%`,
    /// `Builder::prune`): the model's bytes are rewritten by [`prune::prune`] and the
    /// pruned model is what the pipeline compiles.
    pub prune: Option<PruneSpec>,
    /// How the weights of Conv, MatMul and Gemm are stored and computed with
    /// (`--weights`, `--keep-float`, `Builder::weights`).
    pub weights: WeightFormat,
    /// The target the crate is generated for (`--target`, `--cpu`, `Builder::target`,
    /// a build script's `TARGET`): scratch and weight layout follow its kernel family.
    /// `None` emits a crate that builds for any target.
    pub target: Option<Target>,
    /// Capacities of data-dependent outputs (`--max-len NAME=N`, `Builder::max_len`),
    /// below what the input shapes allow ([`passes::bounded`]).
    pub max_lens: Vec<passes::bounded::MaxLen>,
    /// The most bytes the arena may take (`--ram-budget`, `Builder::ram_budget`): a
    /// plan above it is an error naming the smallest arena the compiler reaches.
    pub ram_budget: Option<plan::RamBudget>,
}

/// How a compiled model holds the weights of its Conv, MatMul and Gemm layers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WeightFormat {
    /// As the model has them (`f32`, or the integers of a quantized model).
    #[default]
    Float,
    /// Ternary (`--weights ternary`): one trit per weight, packed five to a byte, and one
    /// `f32` scale per output channel (`passes::ternary`), except the layers `keep_float`
    /// names (`--keep-float first,last`).
    Ternary { keep_float: KeepFloat },
}

impl WeightFormat {
    /// The layers to keep in float when the weights are ternary; `None` for float weights.
    pub fn ternary(self) -> Option<KeepFloat> {
        match self {
            WeightFormat::Float => None,
            WeightFormat::Ternary { keep_float } => Some(keep_float),
        }
    }
}

/// A model lowered to a verified and planned graph: everything emission needs.
#[derive(Debug)]
pub struct Lowered {
    /// The graph after the passes.
    pub graph: Graph,
    pub plan: MemoryPlan,
    /// The liveness bound of the graph as imported, in file order, before any pass.
    pub file_order_bound: usize,
    /// The liveness bound of the optimized graph run layer by layer: `plan.lower_bound`,
    /// unless a RAM budget had the plan run a stage patch by patch, which goes below it.
    pub layer_bound: usize,
    /// The IR text as imported (before the passes).
    pub imported_ir: String,
    /// The files the model was read from: the model, then its external data. Empty for a
    /// model given as bytes.
    pub files_read: Vec<PathBuf>,
    /// What the model declares that the compiler overrode (a graph output's declared
    /// shape that differs from the computed one); the command line prints them.
    pub warnings: Vec<String>,
    /// What `--prune` did, when it was asked for; the command line prints it.
    pub pruning: Option<PruneSummary>,
}

/// Imports a model (a path or bytes), optimizes, verifies, schedules and plans it.
pub fn compile_graph<'a>(source: impl Into<Source<'a>>, opts: &Options) -> Result<Lowered, Error> {
    let source = source.into();
    let pruned = match &opts.prune {
        Some(spec) => Some(prune::prune_source(
            source,
            spec,
            &opts.input_shapes,
            &opts.bindings,
        )?),
        None => None,
    };
    let (model, pruning) = match &pruned {
        Some((bytes, summary)) => (Source::Bytes(bytes), Some(summary.clone())),
        None => (source, None),
    };
    let onnx::Loaded {
        mut graph,
        mut files,
        warnings,
    } = onnx::load(model, &opts.input_shapes, &opts.bindings)?;
    // A pruned model is imported from bytes, but it came from the user's file (its
    // external data now inline), which a build script must rerun on.
    if let (Some(_), Source::File(path)) = (&pruned, source) {
        files.insert(0, path.to_path_buf());
    }
    passes::bounded::apply(&mut graph, &opts.max_lens)?;
    let imported_ir = ir::text::print(&graph);
    let kernels = target::kernel_set(opts.target.as_ref());
    // The bound is that of the graph as imported with its weights folded, as import did
    // before `passes::qdq` existed: a weight's DequantizeLinear, which import now leaves
    // in the graph, would otherwise count as an activation and loosen the bound.
    let file_order_bound = {
        let mut folded = graph.clone();
        passes::fold::run(&mut folded)?;
        plan::file_order_bound(&folded, kernels)
    };
    passes::optimize(&mut graph, opts.weights.ternary(), opts.target.as_ref())?;
    ir::verify::verify(&graph)?;
    // `verify` has just scheduled the graph, so this cannot fail; it still returns an
    // error rather than panicking, as everything on a user's model does.
    let mut plan =
        plan::plan_best(&graph, kernels).map_err(|stuck| VerifyError::cycle(&graph, &stuck))?;
    let layer_bound = plan.lower_bound;
    if let Some(budget) = opts.ram_budget {
        // Over the budget layer by layer: the first layers patch by patch, if that fits.
        if let Err(mut over) = plan::check_budget(&graph, &plan, budget) {
            match plan::patch::fit(&graph, &plan, kernels, budget) {
                Ok(patched) => plan = patched,
                Err(reached) => {
                    if reached.arena < over.arena {
                        over.arena = reached.arena;
                        over.patched = Some(reached.overhead);
                    }
                    return Err(Error::RamBudget(Box::new(over)));
                }
            }
        }
    }
    Ok(Lowered {
        graph,
        plan,
        file_order_bound,
        layer_bound,
        imported_ir,
        files_read: files,
        warnings,
        pruning,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::tests::{reshape_model, shape_2x2};

    #[test]
    fn a_ram_budget_below_the_arena_names_the_arena_reached() {
        let model =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/lenet-mnist.onnx");
        let arena = compile_graph(model.as_path(), &Options::default())
            .unwrap()
            .plan
            .arena_bytes;
        let budget = |bytes| Options {
            ram_budget: Some(plan::RamBudget(bytes)),
            ..Options::default()
        };
        // At the arena, the model fits; a byte below, the error says what it reaches.
        let fits = compile_graph(model.as_path(), &budget(arena)).unwrap();
        assert_eq!(fits.plan.arena_bytes, arena);
        let err = compile_graph(model.as_path(), &budget(arena - 1)).unwrap_err();
        let Error::RamBudget(over) = &err else {
            panic!("{err}");
        };
        assert_eq!((over.arena, over.budget), (arena, arena - 1));
        assert!(!over.peak_node.is_empty());
        assert!(
            err.to_string()
                .contains(&format!("the arena needs {arena} bytes")),
            "{err}"
        );
    }

    #[test]
    fn bindings_reach_the_import() {
        let bytes = reshape_model(vec![]);
        let err = compile_graph(&bytes, &Options::default()).unwrap_err();
        assert!(
            matches!(&err, Error::Import(onnx::ImportError::Node(e)) if e.node == "reshape"),
            "{err}"
        );
        let opts = Options {
            bindings: vec![shape_2x2()],
            ..Options::default()
        };
        let lowered = compile_graph(&bytes, &opts).unwrap();
        assert_eq!(lowered.graph.inputs.len(), 1);
        assert!(
            lowered.imported_ir.contains("Reshape"),
            "{}",
            lowered.imported_ir
        );
        assert!(lowered.plan.arena_bytes <= lowered.file_order_bound);
    }

    #[test]
    fn a_model_file_is_among_the_files_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.onnx");
        std::fs::write(&path, reshape_model(vec![])).unwrap();
        let opts = Options {
            bindings: vec![shape_2x2()],
            ..Options::default()
        };
        let lowered = compile_graph(&path, &opts).unwrap();
        assert_eq!(lowered.files_read, [path]);
    }
}
