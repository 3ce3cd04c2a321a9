//! Compiles one case in-process with `zant_compiler` and loads its data sets.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};

use std::path::Path;

use zant_compiler::emit::{EmitOptions, PortNames};
use zant_compiler::ir::{Graph, Tensor, TensorType};
use zant_compiler::onnx::proto::ModelProto;
use zant_compiler::{GeneratedFile, InputShape, RuntimeDep};

use crate::{numbered_files, Case, Outcome};

/// What the harness needs of a compiled case.
#[derive(Debug)]
pub struct CompiledCase {
    /// `src/model.rs` of the generated crate: a self-contained module.
    pub model_rs: Vec<u8>,
    /// `src/weights.bin`, which `model.rs` includes from beside itself.
    pub weights: Vec<u8>,
    pub ports: PortNames,
    pub inputs: Vec<TensorType>,
    pub outputs: Vec<TensorType>,
    pub data_sets: Vec<DataSet>,
    /// Graph inputs bound to their data-set value at compile time (see [`compile_case`]).
    pub bound: Vec<String>,
}

/// One `test_data_set_N`: inputs and reference outputs.
#[derive(Debug)]
pub struct DataSet {
    pub name: String,
    pub inputs: Vec<Tensor>,
    pub outputs: Vec<Tensor>,
}

thread_local! {
    /// The message of the last panic on this thread (see [`quiet_panics`]).
    static LAST_PANIC: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Replaces the panic hook with one that records the message instead of printing it,
/// so that a compiler panic becomes a reported reason rather than noise.
pub fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        LAST_PANIC.with(|p| *p.borrow_mut() = message);
    }));
}

/// Reads a `TensorProto` file.
pub fn read_pb(path: &Path) -> Result<Tensor, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let proto = zant_compiler::onnx::proto::decode_tensor(&bytes)
        .map_err(|e| format!("not a TensorProto: {e}"))?;
    zant_compiler::onnx::tensor::decode(&proto, None)
}

/// Compiles `case` and reads its data sets; `Err` is the case's final outcome.
///
/// zant compiles static shapes, so an op input that shapes the output (a Reshape's shape,
/// a reduction's axes, Pad's pads, TopK's K…) must be known at compile time. Node tests
/// often feed such a value as a graph input. When the compiler asks for one, the harness
/// binds that graph input to its value in the data sets (all must agree), as an
/// initializer, and compiles again; [`CompiledCase::bound`] records which.
pub fn compile_case(case: &Case, runtime: &str) -> Result<CompiledCase, Outcome> {
    let model_path = case.dir.join("model.onnx");
    let sets = case.data_sets();
    if sets.is_empty() {
        return Err(Outcome::Unsupported("the case has no data set".into()));
    }
    // A data set that cannot be read (a sequence, a float16 tensor) fails the case, but
    // after the compiler had its say: its reason is the more useful one.
    let mut data_sets = Vec::new();
    let mut data_error = None;
    for set in &sets {
        let set_name = set
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let read = |path: &Path| {
            read_pb(path).map_err(|e| {
                let file = path.file_name().unwrap_or_default().to_string_lossy();
                format!("{set_name}/{file}: {e}")
            })
        };
        let inputs = numbered_files(set, "input", "pb")
            .iter()
            .map(|p| read(p))
            .collect();
        let outputs = numbered_files(set, "output", "pb")
            .iter()
            .map(|p| read(p))
            .collect();
        match (inputs, outputs) {
            (Ok(inputs), Ok(outputs)) => data_sets.push(DataSet {
                name: set_name,
                inputs,
                outputs,
            }),
            (Err(e), _) | (_, Err(e)) => {
                data_error.get_or_insert(e);
            }
        }
    }
    let empty = DataSet {
        name: String::new(),
        inputs: Vec::new(),
        outputs: Vec::new(),
    };
    let mut model = zant_compiler::onnx::read_model(&model_path)
        .map_err(|e| Outcome::Unsupported(e.to_string()))?;
    let mut bound = Vec::new();
    let (graph, files) = loop {
        let pins = pins(&model, data_sets.first().unwrap_or(&empty));
        let message = match catch_unwind(AssertUnwindSafe(|| {
            compile_proto(&model, &case.dir, &pins, runtime)
        })) {
            Ok(Ok(done)) => break done,
            Ok(Err(message)) => message,
            Err(_) => {
                let message = LAST_PANIC.with(|p| p.borrow().clone());
                return Err(Outcome::Unsupported(format!(
                    "the compiler panicked: {message}"
                )));
            }
        };
        match bind_input(&mut model, &message, &data_sets) {
            Some(k) if bound.len() < 8 => bound.push(k),
            _ => return Err(Outcome::Unsupported(message)),
        }
    };
    if let Some(e) = data_error {
        return Err(Outcome::Unsupported(e));
    }
    let inputs: Vec<TensorType> = graph
        .inputs
        .iter()
        .map(|&id| graph.node(id).outputs[0].ty.clone())
        .collect();
    let outputs: Vec<TensorType> = graph
        .outputs
        .iter()
        .map(|o| graph.ty(o.value).clone())
        .collect();
    for set in &mut data_sets {
        let set_name = &set.name;
        set.inputs = std::mem::take(&mut set.inputs)
            .into_iter()
            .enumerate()
            .filter(|(k, _)| !bound.contains(k))
            .map(|(_, t)| t)
            .collect();
        if set.inputs.len() != inputs.len() {
            return Err(Outcome::Unsupported(format!(
                "{set_name} has {} inputs, the compiled model takes {}",
                set.inputs.len(),
                inputs.len()
            )));
        }
        for (k, (t, ty)) in set.inputs.iter().zip(&inputs).enumerate() {
            if &t.ty() != ty {
                return Err(Outcome::Unsupported(format!(
                    "{set_name} input {k} is {}, the compiled model takes {ty}",
                    t.ty()
                )));
            }
        }
        if set.outputs.is_empty() || set.outputs.len() > outputs.len() {
            return Err(Outcome::Unsupported(format!(
                "{set_name} has {} reference outputs, the compiled model {}",
                set.outputs.len(),
                outputs.len()
            )));
        }
    }
    let file = |path: &str| {
        files
            .iter()
            .find(|f| f.path.to_str() == Some(path))
            .map(|f| f.contents.clone())
            .ok_or_else(|| Outcome::Unsupported(format!("zantc wrote no {path}")))
    };
    let mut bound_names: Vec<String> = Vec::new();
    if let Some(g) = model.graph.as_ref() {
        for &k in &bound {
            bound_names.push(g.input[k].name.clone());
        }
    }
    Ok(CompiledCase {
        model_rs: file("src/model.rs")?,
        weights: file("src/weights.bin")?,
        ports: zant_compiler::emit::port_names(&graph),
        inputs,
        outputs,
        data_sets,
        bound: bound_names,
    })
}

/// The pipeline of `zant_compiler::compile`, from a decoded model: import, passes,
/// verification, plan, emission.
fn compile_proto(
    model: &ModelProto,
    dir: &Path,
    pins: &[InputShape],
    runtime: &str,
) -> Result<(Graph, Vec<GeneratedFile>), String> {
    let mut graph =
        zant_compiler::onnx::import(model, Some(dir), pins).map_err(|e| e.to_string())?;
    zant_compiler::passes::optimize(&mut graph).map_err(|e| e.to_string())?;
    zant_compiler::ir::verify::verify(&graph)
        .map_err(|e| format!("internal error: the IR is inconsistent after the passes: {e}"))?;
    let schedule = graph
        .schedule()
        .map_err(|_| "internal error: a cycle after the passes".to_string())?;
    let plan = zant_compiler::plan::plan(&graph, &schedule);
    let opts = EmitOptions {
        crate_name: "conformance-case".into(),
        source_name: "model.onnx".into(),
        runtime: RuntimeDep::Path(runtime.to_string()),
        standalone: false,
    };
    let files = zant_compiler::emit::emit(&graph, &plan, &opts).map_err(|e| e.to_string())?;
    Ok((graph, files))
}

/// When `message` says that input `i` of node `N` must be a compile-time constant and that
/// input is graph input `k`, with the same value in every data set: makes it an
/// initializer and returns `k`.
fn bind_input(model: &mut ModelProto, message: &str, sets: &[DataSet]) -> Option<usize> {
    if !message.contains("must be a compile-time constant") {
        return None;
    }
    let node_name = message.strip_prefix("node `")?.split('`').next()?;
    let input_idx: usize = message
        .split("): input ")
        .nth(1)?
        .split(' ')
        .next()?
        .parse()
        .ok()?;
    let graph = model.graph.as_mut()?;
    let value_name = graph
        .node
        .iter()
        .enumerate()
        .find(|(idx, n)| zant_compiler::onnx::node_name(n, *idx) == node_name)?
        .1
        .input
        .get(input_idx)?
        .clone();
    if graph.initializer.iter().any(|t| t.name == value_name) {
        return None;
    }
    let k = graph.input.iter().position(|i| i.name == value_name)?;
    let value = sets.first()?.inputs.get(k)?;
    if sets.iter().any(|s| s.inputs.get(k) != Some(value)) {
        return None;
    }
    graph
        .initializer
        .push(zant_compiler::onnx::tensor::encode(value, &value_name));
    Some(k)
}

/// Pins every graph input to the shape of its data in the first data set, as `zantc
/// verify` does, so that symbolic dims take the shape the references were made with.
fn pins(model: &ModelProto, set: &DataSet) -> Vec<InputShape> {
    let Some(graph) = model.graph.as_ref() else {
        return Vec::new();
    };
    let initializers: std::collections::HashSet<&str> =
        graph.initializer.iter().map(|t| t.name.as_str()).collect();
    graph
        .input
        .iter()
        .enumerate()
        .filter(|(_, i)| !initializers.contains(i.name.as_str()))
        .filter_map(|(k, input)| {
            Some(InputShape {
                name: input.name.clone(),
                dims: set.inputs.get(k)?.shape.clone(),
            })
        })
        .collect()
}
