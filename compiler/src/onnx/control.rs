//! Control flow at import: `If`, `Loop` and `Scan` are taken apart into ordinary nodes.
//!
//! - An `If` whose condition is a constant (in the model, folded, or bound with `--bind`)
//!   is replaced by its taken branch, imported in place; the other branch is never read.
//! - An `If` whose condition comes at run time imports both branches into the graph, each
//!   behind a gate (`ops::control::Gate`) that guards its nodes, and a `Select` gives its
//!   outputs. Both branches must give the same static types.
//! - A `Loop` is unrolled: its trip count must be known at compile time (a constant, or an
//!   input bound with `--bind`). While the condition is a constant, every iteration is
//!   imported as it is; once it comes at run time, the trip count is the static upper bound
//!   and each further iteration becomes a branch that runs while the condition holds, its
//!   loop-carried values selected after it. Scan outputs need every iteration to run, so a
//!   loop that has them needs a constant condition.
//! - A `Scan` is unrolled over its scan axis: each step reads one slice of every scan input
//!   (a `Gather` at a constant index), and the scan outputs are stacked with `Unsqueeze` and
//!   `Concat`. Opset 8's batch axis is unrolled too.
//!
//! Each unrolled iteration is imported in a scope of its own whose names carry the
//! iteration (`loop[3]/add`), and every node folds as it is read, so a body that depends
//! on the iteration number (a `Slice` at `i`) becomes static code per iteration.

use super::import::{free_names, GateScope, Importer};
use super::proto::{self, attribute_type, type_proto};
use super::ImportError;
use crate::ir::{DType, Data, Tensor, TensorType, Value, ValueId};
use crate::ops::control::{Gate, Select};
use crate::ops::{NodeError, OnnxOp, Op, OpError};

/// Imports a control-flow node (`If`, `Loop` or `Scan` of the default domain) named `name`.
pub(super) fn import<'m>(
    imp: &mut Importer<'m>,
    n: &'m proto::NodeProto,
    name: &str,
    onnx: OnnxOp,
) -> Result<(), ImportError> {
    let cx = Cx { n, name, onnx };
    match n.op_type.as_str() {
        "If" => import_if(imp, &cx),
        "Loop" => import_loop(imp, &cx),
        _ => import_scan(imp, &cx),
    }
}

/// The node being imported, for its errors.
pub(super) struct Cx<'m, 'a> {
    pub(super) n: &'m proto::NodeProto,
    pub(super) name: &'a str,
    pub(super) onnx: OnnxOp,
}

impl<'m> Cx<'m, '_> {
    pub(super) fn err(&self, source: OpError) -> ImportError {
        ImportError::Node(NodeError {
            node: self.name.to_string(),
            op: self.onnx,
            source,
        })
    }

    /// The node's attribute `name`, if it has one.
    pub(super) fn attr(&self, name: &str) -> Option<&'m proto::AttributeProto> {
        self.n.attribute.iter().find(|a| a.name == name)
    }

    /// The subgraph attribute `name`.
    fn graph(&self, name: &str) -> Result<&'m proto::GraphProto, ImportError> {
        self.attr(name)
            .and_then(|a| (a.r#type == attribute_type::GRAPH).then_some(a.g.as_ref()))
            .flatten()
            .ok_or_else(|| self.err(OpError::attr(name, "a graph is required")))
    }

    /// The subgraph attribute `name`, which the node may leave out.
    pub(super) fn optional_graph(
        &self,
        name: &str,
    ) -> Result<Option<&'m proto::GraphProto>, ImportError> {
        match self.attr(name) {
            None => Ok(None),
            Some(_) => self.graph(name).map(Some),
        }
    }

    pub(super) fn int(&self, name: &str) -> Option<i64> {
        self.attr(name).map(|a| a.i)
    }

    fn ints(&self, name: &str) -> Option<&'m [i64]> {
        self.attr(name).map(|a| &a.ints[..])
    }

    /// Input `i` by name, `None` when omitted.
    fn input(&self, i: usize) -> Option<&'m str> {
        self.n
            .input
            .get(i)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// The value of input `i`, which must exist.
    pub(super) fn value(&self, imp: &mut Importer<'m>, i: usize) -> Result<ValueId, ImportError> {
        let name = self
            .input(i)
            .ok_or_else(|| self.err(OpError::MissingInput { input: i }))?;
        imp.lookup(name)?.ok_or_else(|| ImportError::Dangling {
            node: self.name.to_string(),
            op_type: self.n.op_type.clone(),
            input: name.to_string(),
        })
    }

    /// Names the node's outputs in the current scope.
    pub(super) fn define_outputs(
        &self,
        imp: &mut Importer<'m>,
        values: &[ValueId],
    ) -> Result<(), ImportError> {
        if self.n.output.len() > values.len() {
            return Err(self.err(OpError::shape(format!(
                "the node names {} outputs, but it produces {}",
                self.n.output.len(),
                values.len()
            ))));
        }
        for (out, &v) in self.n.output.iter().zip(values) {
            if !out.is_empty() {
                imp.define(out, v)
                    .map_err(|m| self.err(OpError::shape(m)))?;
            }
        }
        Ok(())
    }
}

/// Whether a constant holds a true first element (a condition).
fn truthy(t: &Tensor) -> bool {
    t.data.to_i64_vec().first().is_some_and(|&v| v != 0)
}

/// A condition as import knows it.
#[derive(Clone, Copy)]
enum Condition {
    Known(bool),
    AtRunTime(ValueId),
}

fn condition(imp: &Importer<'_>, v: ValueId) -> Condition {
    match imp.graph.const_value(v) {
        Some(t) => Condition::Known(truthy(t)),
        None => Condition::AtRunTime(v),
    }
}

fn import_if<'m>(imp: &mut Importer<'m>, cx: &Cx<'m, '_>) -> Result<(), ImportError> {
    if cx.n.input.len() != 1 {
        return Err(cx.err(OpError::shape(format!(
            "has {} inputs; If takes its condition only",
            cx.n.input.len()
        ))));
    }
    let cond = cx.value(imp, 0)?;
    let cond_ty = imp.graph.ty(cond).clone();
    if cond_ty.dtype != DType::Bool || cond_ty.n_elems() != 1 {
        return Err(cx.err(OpError::shape(format!(
            "the condition must be a bool with one element, not {cond_ty}"
        ))));
    }
    let then_branch = cx.graph("then_branch")?;
    let else_branch = cx.graph("else_branch")?;
    match condition(imp, cond) {
        // Only the taken branch is read: the other may use ops zant has no kernel for,
        // or shapes that only hold when it is taken.
        Condition::Known(taken) => {
            let branch = if taken { then_branch } else { else_branch };
            let outputs = import_body(imp, cx, branch, &[], None, "")?;
            cx.define_outputs(imp, &outputs)
        }
        Condition::AtRunTime(cond) => {
            if then_branch.output.len() != else_branch.output.len() {
                return Err(cx.err(OpError::shape(format!(
                    "the then branch gives {} outputs and the else branch {}",
                    then_branch.output.len(),
                    else_branch.output.len()
                ))));
            }
            let mut values = vec![cond];
            for (branch, taken, label) in
                [(then_branch, true, "then"), (else_branch, false, "else")]
            {
                let prefix = format!("{}/{label}", cx.name);
                let gate = open_gate(imp, cx, branch, &[], cond, taken, &prefix)?;
                values.extend(import_body(imp, cx, branch, &[], gate, "")?);
            }
            let outputs = select(imp, cx, &values, cx.name)?;
            cx.define_outputs(imp, &outputs)
        }
    }
}

/// Adds the `Select` of an `If` (or of an iteration of a loop): `values` are the
/// condition, the then values and the else values. Returns its outputs.
fn select(
    imp: &mut Importer<'_>,
    cx: &Cx<'_, '_>,
    values: &[ValueId],
    name: &str,
) -> Result<Vec<ValueId>, ImportError> {
    let types: Vec<Option<&TensorType>> = values.iter().map(|&v| Some(imp.graph.ty(v))).collect();
    let out_types = Op::Select(Select).infer(&types).map_err(|e| cx.err(e))?;
    let n = out_types.len();
    let outputs = out_types
        .into_iter()
        .enumerate()
        .map(|(k, ty)| Value {
            name: match cx.n.output.get(k).filter(|s| !s.is_empty()) {
                Some(out) if name == cx.name => imp.prefixed(out),
                _ => format!("{name}/out{k}"),
            },
            ty,
        })
        .collect();
    let inputs = values.iter().map(|&v| Some(v)).collect();
    let node = imp.add_node(
        name.to_string(),
        Op::Select(Select),
        cx.onnx.with_type("If"),
        inputs,
        outputs,
    );
    Ok((0..n)
        .map(|slot| ValueId {
            node,
            slot: slot as u32,
        })
        .collect())
}

/// Opens the gate of a branch (or of an iteration that runs while `cond` holds) that
/// reads `bound` and the outer names `body` reads: the values that are not constants
/// pass through the gate, which then guards every node of the branch. `None` when the
/// branch reads no such value: its nodes read only constants and need no guard.
fn open_gate<'m>(
    imp: &mut Importer<'m>,
    cx: &Cx<'m, '_>,
    body: &'m proto::GraphProto,
    bound: &[ValueId],
    cond: ValueId,
    taken: bool,
    name: &str,
) -> Result<Option<GateScope>, ImportError> {
    let mut captured: Vec<ValueId> = Vec::new();
    for free in free_names(body) {
        let v = imp.lookup(free)?.ok_or_else(|| ImportError::Dangling {
            node: cx.name.to_string(),
            op_type: cx.n.op_type.clone(),
            input: free.to_string(),
        })?;
        captured.push(v);
    }
    captured.extend(bound);
    let mut seen = std::collections::HashSet::new();
    captured.retain(|&v| imp.graph.const_value(v).is_none() && seen.insert(v));
    if captured.is_empty() {
        return Ok(None);
    }
    let outputs = captured
        .iter()
        .map(|&v| Value {
            name: format!("{name}/{}", imp.graph.value(v).name),
            ty: imp.graph.ty(v).clone(),
        })
        .collect();
    let mut inputs = vec![Some(cond)];
    inputs.extend(captured.iter().map(|&v| Some(v)));
    let node = imp.add_node(
        name.to_string(),
        Op::Gate(Gate { taken }),
        cx.onnx.with_type("If"),
        inputs,
        outputs,
    );
    let views = captured
        .iter()
        .enumerate()
        .map(|(slot, &v)| {
            (
                v,
                ValueId {
                    node,
                    slot: slot as u32,
                },
            )
        })
        .collect();
    Ok(Some(GateScope { node, views }))
}

/// Imports a subgraph in a scope of its own (behind `gate`, if given) with its inputs bound
/// to `bound`, and returns the values of its outputs.
pub(super) fn import_body<'m>(
    imp: &mut Importer<'m>,
    cx: &Cx<'m, '_>,
    body: &'m proto::GraphProto,
    bound: &[ValueId],
    gate: Option<GateScope>,
    prefix: &str,
) -> Result<Vec<ValueId>, ImportError> {
    if body.input.len() != bound.len() {
        return Err(cx.err(OpError::shape(format!(
            "the subgraph `{}` takes {} inputs, the node gives it {}",
            body.name,
            body.input.len(),
            bound.len()
        ))));
    }
    imp.check_subgraph_depth().map_err(|e| cx.err(e))?;
    let views = gate.as_ref().map(|g| g.views.clone()).unwrap_or_default();
    imp.push_scope(&body.initializer, gate, prefix);
    let result = (|| {
        for (input, &v) in body.input.iter().zip(bound) {
            let v = views.get(&v).copied().unwrap_or(v);
            imp.define(&input.name, v)
                .map_err(|m| cx.err(OpError::shape(m)))?;
        }
        imp.import_nodes(body)?;
        body.output
            .iter()
            .map(|o| {
                imp.lookup(&o.name)?.ok_or_else(|| {
                    cx.err(OpError::shape(format!(
                        "the subgraph `{}` has an output `{}` that nothing produces",
                        body.name, o.name
                    )))
                })
            })
            .collect()
    })();
    imp.pop_scope();
    result
}

/// A constant made by the importer.
fn constant(imp: &mut Importer<'_>, name: &str, t: Tensor) -> ValueId {
    let name = imp.prefixed(name);
    imp.graph.add_const(name, t)
}

/// The rank a subgraph input is declared with (0 when it has no shape).
fn declared_rank(vi: Option<&proto::ValueInfoProto>) -> usize {
    match vi
        .and_then(|v| v.r#type.as_ref())
        .and_then(|t| t.value.as_ref())
    {
        Some(type_proto::Value::TensorType(t)) => t.shape.as_ref().map_or(0, |s| s.dim.len()),
        _ => 0,
    }
}

/// `v` along a new axis `axis` (`Unsqueeze`, spelled for the model's opset).
fn unsqueeze(
    imp: &mut Importer<'_>,
    v: ValueId,
    axis: usize,
    name: &str,
) -> Result<ValueId, ImportError> {
    if imp.onnx_opset() >= 13 {
        let axes = constant(
            imp,
            &format!("{name}/axes"),
            Tensor::from_i64s(vec![axis as i64]),
        );
        imp.synthesize("Unsqueeze", &[v, axes], vec![], name)
    } else {
        imp.synthesize(
            "Unsqueeze",
            &[v],
            vec![ints_attr("axes", &[axis as i64])],
            name,
        )
    }
}

/// `values` stacked along a new axis `axis`, in order: the output of a scan.
fn stack(
    imp: &mut Importer<'_>,
    values: &[ValueId],
    axis: usize,
    name: &str,
) -> Result<ValueId, ImportError> {
    let parts = values
        .iter()
        .enumerate()
        .map(|(i, &v)| unsqueeze(imp, v, axis, &format!("{name}/{i}")))
        .collect::<Result<Vec<_>, _>>()?;
    imp.synthesize("Concat", &parts, vec![int_attr("axis", axis as i64)], name)
}

/// Slice `index` of `v` along `axis`, without that axis (`Gather` at a constant index).
fn take(
    imp: &mut Importer<'_>,
    v: ValueId,
    axis: usize,
    index: usize,
    name: &str,
) -> Result<ValueId, ImportError> {
    let at = constant(
        imp,
        &format!("{name}/index"),
        Tensor::new(vec![], Data::I64(vec![index as i64])),
    );
    imp.synthesize(
        "Gather",
        &[v, at],
        vec![int_attr("axis", axis as i64)],
        name,
    )
}

pub(super) fn int_attr(name: &str, i: i64) -> proto::AttributeProto {
    proto::AttributeProto {
        name: name.into(),
        r#type: attribute_type::INT,
        i,
        ..Default::default()
    }
}

pub(super) fn ints_attr(name: &str, ints: &[i64]) -> proto::AttributeProto {
    proto::AttributeProto {
        name: name.into(),
        r#type: attribute_type::INTS,
        ints: ints.to_vec(),
        ..Default::default()
    }
}

fn import_loop<'m>(imp: &mut Importer<'m>, cx: &Cx<'m, '_>) -> Result<(), ImportError> {
    let body = cx.graph("body")?;
    let n_carried = crate::onnx::import::n_inputs(cx.n).saturating_sub(2);
    if body.input.len() != 2 + n_carried || body.output.len() < 1 + n_carried {
        return Err(cx.err(OpError::shape(format!(
            "the body takes {} inputs and gives {} outputs; with {n_carried} loop-carried \
             value(s) it must take {} and give at least {}",
            body.input.len(),
            body.output.len(),
            2 + n_carried,
            1 + n_carried
        ))));
    }
    let n_scan = body.output.len() - 1 - n_carried;

    let trip_count = match cx.input(0) {
        None => {
            return Err(cx.err(OpError::unsupported(
                "the loop has no trip count M; zant unrolls loops at compile time, so it \
                 needs one, constant or bound with --bind, as a static upper bound",
            )))
        }
        Some(_) => {
            let m = cx.value(imp, 0)?;
            let t = imp.graph.const_value(m).ok_or_else(|| {
                cx.err(OpError::NeedsConstant {
                    input: 0,
                    what: "M",
                })
            })?;
            let m = t.data.to_i64_vec().first().copied().unwrap_or(0);
            usize::try_from(m).unwrap_or(0)
        }
    };
    let mut active = match cx.input(1) {
        None => Condition::Known(true),
        Some(_) => {
            let c = cx.value(imp, 1)?;
            match condition(imp, c) {
                Condition::AtRunTime(_) if n_scan > 0 => {
                    return Err(cx.err(OpError::NeedsConstant {
                        input: 1,
                        what: "cond",
                    }))
                }
                c => c,
            }
        }
    };
    let mut carried = (0..n_carried)
        .map(|i| cx.value(imp, 2 + i))
        .collect::<Result<Vec<_>, _>>()?;
    let mut scans: Vec<Vec<ValueId>> = vec![Vec::new(); n_scan];
    // The body reads the iteration number and the condition as a scalar or a
    // one-element tensor, as it declares them. The condition it reads is true: an
    // iteration only runs while it holds.
    let iter_shape = vec![1; declared_rank(body.input.first()).min(1)];
    let cond_shape = vec![1; declared_rank(body.input.get(1)).min(1)];

    for k in 0..trip_count {
        let gate_cond = match active {
            Condition::Known(false) => break,
            Condition::Known(true) => None,
            Condition::AtRunTime(a) => Some(a),
        };
        imp.count_nodes(body.node.len()).map_err(|e| cx.err(e))?;
        let step = format!("{}[{k}]", cx.name);
        let mut bound = vec![
            constant(
                imp,
                &format!("{step}/iteration"),
                Tensor::new(iter_shape.clone(), Data::I64(vec![k as i64])),
            ),
            constant(
                imp,
                &format!("{step}/cond_in"),
                Tensor::new(cond_shape.clone(), Data::Bool(vec![1])),
            ),
        ];
        bound.extend(&carried);
        let gate = match gate_cond {
            Some(a) => open_gate(imp, cx, body, &bound, a, true, &step)?,
            None => None,
        };
        let outs = import_body(imp, cx, body, &bound, gate, &format!("{step}/"))?;
        let (cond_out, rest) = outs.split_first().expect("checked: the body has outputs");
        let (carried_out, scan_out) = rest.split_at(n_carried);
        match gate_cond {
            None => {
                carried = carried_out.to_vec();
                for (list, &v) in scans.iter_mut().zip(scan_out) {
                    list.push(v);
                }
                active = condition(imp, *cond_out);
                if n_scan > 0 && matches!(active, Condition::AtRunTime(_)) {
                    return Err(cx.err(OpError::unsupported(format!(
                        "iteration {k} computes the loop condition at run time, so the number \
                         of iterations, and the length of the scan outputs, are not known at \
                         compile time"
                    ))));
                }
            }
            Some(a) => {
                // The iteration ran only if `a` held: after it, the condition is the body's
                // when it ran and false otherwise, and so on for the carried values.
                let cond_ty = imp.graph.ty(*cond_out).clone();
                let stopped = constant(
                    imp,
                    &format!("{step}/stopped"),
                    Tensor::new(
                        cond_ty.shape.clone(),
                        Data::Bool(vec![0; cond_ty.n_elems()]),
                    ),
                );
                let mut values = vec![a, *cond_out];
                values.extend(carried_out);
                values.push(stopped);
                values.extend(&carried);
                let selected = select(imp, cx, &values, &format!("{step}/select"))?;
                active = condition(imp, selected[0]);
                carried = selected[1..].to_vec();
            }
        }
    }

    let mut outputs = carried;
    for (j, list) in scans.iter().enumerate() {
        if list.is_empty() {
            return Err(cx.err(OpError::unsupported(
                "the loop runs no iteration, so its scan outputs are empty and zant has no \
                 type for them",
            )));
        }
        outputs.push(stack(imp, list, 0, &format!("{}/scan{j}", cx.name))?);
    }
    cx.define_outputs(imp, &outputs)
}

/// The axis `a` of a tensor of rank `rank` (negative counts from the end).
fn axis(cx: &Cx<'_, '_>, a: i64, rank: usize, what: &str) -> Result<usize, ImportError> {
    let r = rank as i64;
    let normalized = if a < 0 { a + r } else { a };
    if !(0..r).contains(&normalized) {
        return Err(cx.err(OpError::attr(
            what,
            format!("axis {a} is out of range for rank {rank}"),
        )));
    }
    Ok(normalized as usize)
}

/// What one unrolled scan runs: its states, its scan inputs with their axis and whether
/// they are read in reverse, and its scan outputs' axis and direction.
struct ScanPlan {
    states: Vec<ValueId>,
    inputs: Vec<(ValueId, usize, bool)>,
    outputs: Vec<(i64, bool)>,
}

fn import_scan<'m>(imp: &mut Importer<'m>, cx: &Cx<'m, '_>) -> Result<(), ImportError> {
    let body = cx.graph("body")?;
    let n_scan_inputs = cx
        .int("num_scan_inputs")
        .ok_or_else(|| cx.err(OpError::attr("num_scan_inputs", "required")))?;
    let n_scan_inputs = usize::try_from(n_scan_inputs)
        .map_err(|_| cx.err(OpError::attr("num_scan_inputs", "must not be negative")))?;
    let batched = cx.onnx.opset < 9;
    let first = usize::from(batched);
    let n_inputs = crate::onnx::import::n_inputs(cx.n);
    if n_inputs < first + n_scan_inputs || n_scan_inputs == 0 {
        return Err(cx.err(OpError::shape(format!(
            "has {n_inputs} inputs but {n_scan_inputs} scan inputs"
        ))));
    }
    let n_states = n_inputs - first - n_scan_inputs;
    if body.output.len() < n_states {
        return Err(cx.err(OpError::shape(format!(
            "the body gives {} outputs for {n_states} states",
            body.output.len()
        ))));
    }
    let n_scan_outputs = body.output.len() - n_states;
    let values = (first..n_inputs)
        .map(|i| cx.value(imp, i))
        .collect::<Result<Vec<_>, _>>()?;
    let (states, scanned) = values.split_at(n_states);
    let flag =
        |list: Option<&[i64]>, i: usize| list.and_then(|l| l.get(i)).is_some_and(|&d| d != 0);

    if !batched {
        let in_axes = cx.ints("scan_input_axes");
        let in_dirs = cx.ints("scan_input_directions");
        let out_axes = cx.ints("scan_output_axes");
        let out_dirs = cx.ints("scan_output_directions");
        let inputs = scanned
            .iter()
            .enumerate()
            .map(|(j, &v)| {
                let a = in_axes.and_then(|l| l.get(j)).copied().unwrap_or(0);
                let rank = imp.graph.ty(v).rank();
                Ok((v, axis(cx, a, rank, "scan_input_axes")?, flag(in_dirs, j)))
            })
            .collect::<Result<Vec<_>, ImportError>>()?;
        let outputs = (0..n_scan_outputs)
            .map(|k| {
                let a = out_axes.and_then(|l| l.get(k)).copied().unwrap_or(0);
                (a, flag(out_dirs, k))
            })
            .collect();
        let plan = ScanPlan {
            states: states.to_vec(),
            inputs,
            outputs,
        };
        let (mut results, scan_outputs) = unroll_scan(imp, cx, body, plan, cx.name)?;
        results.extend(scan_outputs);
        return cx.define_outputs(imp, &results);
    }

    // Opset 8: axis 0 of every state and scan input is a batch, each item scanned on its
    // own along axis 1, and `sequence_lens` must leave every sequence whole.
    let batches: Vec<usize> = states
        .iter()
        .chain(scanned)
        .map(|&v| imp.graph.ty(v).shape.first().copied().unwrap_or(0))
        .collect();
    let batch = batches[0];
    if batches.iter().any(|&b| b != batch) || scanned.iter().any(|&v| imp.graph.ty(v).rank() < 2) {
        return Err(cx.err(OpError::shape(
            "at opset 8, every state and scan input has the batch as axis 0, and every scan \
             input the sequence as axis 1",
        )));
    }
    let lengths: Vec<usize> = scanned
        .iter()
        .map(|&v| imp.graph.ty(v).shape.get(1).copied().unwrap_or(0))
        .collect();
    if let Some(name) = cx.input(0) {
        let v = imp.lookup(name)?.ok_or_else(|| ImportError::Dangling {
            node: cx.name.to_string(),
            op_type: cx.n.op_type.clone(),
            input: name.to_string(),
        })?;
        let whole = imp.graph.const_value(v).is_some_and(|t| {
            t.data
                .to_i64_vec()
                .iter()
                .all(|&l| lengths.iter().all(|&n| l == n as i64))
        });
        if !whole {
            return Err(cx.err(OpError::unsupported(
                "sequence_lens must be a constant that keeps every sequence whole; zant \
                 compiles static shapes",
            )));
        }
    }
    let directions = cx.ints("directions");
    let mut final_states: Vec<Vec<ValueId>> = vec![Vec::new(); n_states];
    let mut outputs: Vec<Vec<ValueId>> = vec![Vec::new(); n_scan_outputs];
    for b in 0..batch {
        let item = format!("{}/batch{b}", cx.name);
        let states = states
            .iter()
            .enumerate()
            .map(|(i, &v)| take(imp, v, 0, b, &format!("{item}/state{i}")))
            .collect::<Result<Vec<_>, _>>()?;
        let inputs = scanned
            .iter()
            .enumerate()
            .map(|(j, &v)| {
                let x = take(imp, v, 0, b, &format!("{item}/input{j}"))?;
                Ok((x, 0, flag(directions, j)))
            })
            .collect::<Result<Vec<_>, ImportError>>()?;
        let plan = ScanPlan {
            states,
            inputs,
            outputs: vec![(0, false); n_scan_outputs],
        };
        let (states, scans) = unroll_scan(imp, cx, body, plan, &item)?;
        for (list, v) in final_states.iter_mut().zip(states) {
            list.push(v);
        }
        for (list, v) in outputs.iter_mut().zip(scans) {
            list.push(v);
        }
    }
    if batch == 0 {
        return Err(cx.err(OpError::unsupported(
            "the batch is empty, so the outputs have no type zant can give",
        )));
    }
    let mut results = Vec::new();
    for (i, list) in final_states.iter().chain(&outputs).enumerate() {
        results.push(stack(imp, list, 0, &format!("{}/out{i}", cx.name))?);
    }
    cx.define_outputs(imp, &results)
}

/// Unrolls one scan: returns the final states and the stacked scan outputs.
fn unroll_scan<'m>(
    imp: &mut Importer<'m>,
    cx: &Cx<'m, '_>,
    body: &'m proto::GraphProto,
    plan: ScanPlan,
    name: &str,
) -> Result<(Vec<ValueId>, Vec<ValueId>), ImportError> {
    let lengths = plan
        .inputs
        .iter()
        .map(|&(v, a, _)| {
            let ty = imp.graph.ty(v);
            ty.shape.get(a).copied().ok_or_else(|| {
                cx.err(OpError::shape(format!(
                    "a scan input of type {ty} has no axis {a} to scan"
                )))
            })
        })
        .collect::<Result<Vec<usize>, ImportError>>()?;
    let steps = lengths.first().copied().unwrap_or(0);
    if lengths.iter().any(|&l| l != steps) {
        return Err(cx.err(OpError::shape(format!(
            "the scan inputs have different lengths along their scan axes: {lengths:?}"
        ))));
    }
    if steps == 0 {
        return Err(cx.err(OpError::unsupported(
            "the scan has no step, so its outputs are empty and zant has no type for them",
        )));
    }
    let mut states = plan.states;
    let mut per_step: Vec<Vec<ValueId>> = vec![Vec::new(); plan.outputs.len()];
    for t in 0..steps {
        imp.count_nodes(body.node.len()).map_err(|e| cx.err(e))?;
        let step = format!("{name}[{t}]");
        let mut bound = states.clone();
        for (j, &(x, a, reverse)) in plan.inputs.iter().enumerate() {
            let index = if reverse { steps - 1 - t } else { t };
            bound.push(take(imp, x, a, index, &format!("{step}/input{j}"))?);
        }
        let outs = import_body(imp, cx, body, &bound, None, &format!("{step}/"))?;
        let (new_states, scan_out) = outs.split_at(states.len());
        states = new_states.to_vec();
        for (list, &v) in per_step.iter_mut().zip(scan_out) {
            list.push(v);
        }
    }
    let mut stacked = Vec::new();
    for (k, (mut list, &(a, reverse))) in per_step.into_iter().zip(&plan.outputs).enumerate() {
        if reverse {
            list.reverse();
        }
        let rank = imp.graph.ty(list[0]).rank() + 1;
        let a = axis(cx, a, rank, "scan_output_axes")?;
        stacked.push(stack(imp, &list, a, &format!("{name}/scan{k}"))?);
    }
    Ok((states, stacked))
}
