//! Compiles one case in-process with `zant_compiler` and loads its data sets.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};

use std::path::Path;

use zant_compiler::emit::PortNames;
use zant_compiler::ir::{Data, Tensor, TensorType};
use zant_compiler::onnx::{ImportError, ModelInfo};
use zant_compiler::ops::{NodeError, OpError};
use zant_compiler::{
    BindValue, Binding, Compiled, CrateOptions, Error, InputShape, Options, RuntimeDep,
};

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

/// Reads a `TensorProto` file. The message leaves the path out: the caller names the file.
pub fn read_pb(path: &Path) -> Result<Tensor, String> {
    zant_compiler::onnx::read_tensor(path).map_err(|e| match e {
        ImportError::Read { source, .. } => source.to_string(),
        ImportError::TensorFile { message, .. } => message,
        e => e.to_string(),
    })
}

/// Compiles `case` and reads its data sets; `Err` is the case's final outcome.
///
/// zant compiles static shapes, so an op input that shapes the output (a Reshape's shape,
/// a reduction's axes, Pad's pads, TopK's K…) must be known at compile time. Node tests
/// often feed such a value as a graph input, or compute it from graph inputs. When the
/// compiler asks for one, the harness binds the graph inputs it comes from to their values
/// in the data sets (all must agree) as
/// `zantc verify --bind NAME` does, through the same [`Binding`] and
/// `verify::bind_test_data`, and compiles again; [`CompiledCase::bound`] records which.
pub fn compile_case(case: &Case, runtime: &str) -> Result<CompiledCase, Outcome> {
    let model_path = case.dir.join("model.onnx");
    let sets = case.data_sets();
    if sets.is_empty() {
        return Err(Outcome::Unsupported("the case has no data set".into()));
    }
    let info = zant_compiler::onnx::describe(&model_path)
        .map_err(|e| Outcome::Unsupported(e.to_string()))?;
    // A data set that cannot be read (a sequence, a float16 tensor) fails the case, but
    // after the compiler had its say: its reason is the more useful one. An optional
    // input that holds no value is bound `none` (all data sets must agree); one that holds
    // a tensor is fed it.
    let mut data_sets = Vec::new();
    let mut data_error = None;
    let mut absent: Vec<Option<bool>> = vec![None; info.inputs.len()];
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
            .enumerate()
            .map(|(k, p)| {
                if !info.optional.get(k).copied().unwrap_or(false) {
                    return read(p);
                }
                let file = p.file_name().unwrap_or_default().to_string_lossy();
                let value = zant_compiler::onnx::read_optional(p)
                    .map_err(|e| format!("{set_name}/{file}: {e}"))?;
                match (absent[k], value.is_none()) {
                    (Some(was), now) if was != now => Err(format!(
                        "{set_name}/{file}: the data sets disagree on whether the optional \
                         holds a value"
                    )),
                    (_, now) => {
                        absent[k] = Some(now);
                        // The value of an empty optional is never fed: it is bound.
                        Ok(value.unwrap_or_else(|| Tensor::new(vec![0], Data::F32(vec![]))))
                    }
                }
            })
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
    let krate = CrateOptions {
        crate_name: Some("conformance-case".into()),
        runtime: RuntimeDep::Path(runtime.to_string()),
        standalone: false,
    };
    let mut opts = Options::default();
    let mut bound = Vec::new();
    for (k, a) in absent.iter().enumerate() {
        if *a == Some(true) {
            opts.bindings
                .push(Binding::new(info.inputs[k].clone(), BindValue::Absent));
            bound.push(k);
        }
    }
    let compiled = loop {
        opts.input_shapes = pins(&info, &bound, data_sets.first().unwrap_or(&empty));
        let message = match catch_unwind(AssertUnwindSafe(|| {
            let resolved = zant_compiler::verify::bind_test_data(&model_path, &opts, &sets)?;
            zant_compiler::compile(&model_path, &resolved, &krate)
        })) {
            Ok(Ok(done)) => break done,
            Ok(Err(e)) => {
                // The inputs whose values the constant is computed from first; those that
                // decide a type it reads through `Shape` only when that was not enough.
                let unbound = |through_shapes| -> Vec<usize> {
                    bind_inputs(&info, &e, &data_sets, through_shapes)
                        .into_iter()
                        .filter(|k| !bound.contains(k))
                        .collect()
                };
                let mut fresh = unbound(false);
                if fresh.is_empty() {
                    fresh = unbound(true);
                }
                if !fresh.is_empty() && bound.len() + fresh.len() <= 8 {
                    for k in fresh {
                        opts.bindings
                            .push(Binding::new(info.inputs[k].clone(), BindValue::TestData));
                        bound.push(k);
                    }
                    continue;
                }
                e.to_string()
            }
            Err(_) => {
                let message = LAST_PANIC.with(|p| p.borrow().clone());
                format!("the compiler panicked: {message}")
            }
        };
        return Err(Outcome::Unsupported(message));
    };
    let Compiled { lowered, files, .. } = compiled;
    let graph = lowered.graph;
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
    let bound_names = bound.iter().map(|&k| info.inputs[k].clone()).collect();
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

/// When `error` is input `i` of node `N` needing a compile-time constant
/// ([`OpError::NeedsConstant`]): the graph inputs that input is computed from (itself, when
/// it is one; through `Shape` and `Size` too when `through_shapes`, see
/// [`ModelInfo::input_ancestors`]), each with the same value in every data set, to bind.
/// Empty when the value depends on nothing a data set feeds, or on an input whose data
/// sets disagree.
fn bind_inputs(
    info: &ModelInfo,
    error: &Error,
    sets: &[DataSet],
    through_shapes: bool,
) -> Vec<usize> {
    let Error::Import(ImportError::Node(NodeError {
        node,
        source: OpError::NeedsConstant { input, .. },
        ..
    })) = error
    else {
        return Vec::new();
    };
    let Some(value_name) = info.node_input(node, *input) else {
        return Vec::new();
    };
    let inputs = info.input_ancestors(value_name, through_shapes);
    let agree = |k: usize| {
        let Some(value) = sets.first().and_then(|s| s.inputs.get(k)) else {
            return false;
        };
        sets.iter().all(|s| s.inputs.get(k) == Some(value))
    };
    if inputs.iter().all(|&k| agree(k)) {
        inputs
    } else {
        Vec::new()
    }
}

/// Pins every graph input that is not bound to the shape of its data in the first data
/// set, as `zantc verify` does, so that symbolic dims take the shape the references were
/// made with.
fn pins(info: &ModelInfo, bound: &[usize], set: &DataSet) -> Vec<InputShape> {
    info.inputs
        .iter()
        .enumerate()
        .filter(|(k, _)| !bound.contains(k))
        .filter_map(|(k, name)| {
            Some(InputShape {
                name: name.clone(),
                dims: set.inputs.get(k)?.shape.clone(),
            })
        })
        .collect()
}
