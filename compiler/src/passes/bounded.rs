//! Data-dependent outputs (NonZero, Compress, Unique, NonMaxSuppression:
//! [`crate::ops::OpKind::bounded`]): applies the `--max-len` pins to their capacities and
//! refuses a graph in which a node reads one. Their types are capacities, so a consumer
//! would compute on entries that a run did not produce; the generated API hands such an
//! output to the caller with its count instead. Runs once, after import.

use crate::ir::{Graph, NodeId, ValueId};
use crate::ops::{NodeError, OpError};

/// `--max-len NAME=N`: the data-dependent axis of the value `NAME` holds at most `N`
/// entries, below what the input shapes allow (a NonMaxSuppression that keeps 100 boxes
/// per class of 80 has room for 8,000 rows; a detector keeps far fewer). A run that
/// produces more returns an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaxLen {
    pub name: String,
    pub len: usize,
}

impl std::str::FromStr for MaxLen {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (name, len) = s
            .rsplit_once('=')
            .ok_or_else(|| format!("`{s}` should look like NAME=100"))?;
        let len = len
            .trim()
            .parse::<usize>()
            .map_err(|_| format!("`{len}` in `{s}` is not a length"))?;
        Ok(Self {
            name: name.to_string(),
            len,
        })
    }
}

/// What stops a graph's data-dependent outputs from compiling.
#[derive(Debug, thiserror::Error)]
pub enum BoundedError {
    #[error("--max-len {name}={len}: the model has no value `{name}`")]
    Unknown { name: String, len: usize },
    #[error("--max-len {name}={len}: {source}")]
    Pin {
        name: String,
        len: usize,
        #[source]
        source: NodeError,
    },
    #[error(
        "node `{node}`: {op}: reads `{value}`, whose length along axis {axis} depends on \
         the data (at most {capacity}, from node `{producer}`); zant compiles such outputs \
         only as graph outputs, which the generated API returns with their length"
    )]
    Read {
        node: String,
        op: crate::ops::OnnxOp,
        value: String,
        axis: usize,
        capacity: usize,
        producer: String,
    },
}

/// Applies `pins` and checks that no node reads a data-dependent output.
/// Boxed: the error names nodes and values, and `Result`s stay small.
pub fn apply(graph: &mut Graph, pins: &[MaxLen]) -> Result<(), Box<BoundedError>> {
    for pin in pins {
        let v = find(graph, &pin.name).ok_or_else(|| BoundedError::Unknown {
            name: pin.name.clone(),
            len: pin.len,
        })?;
        pin_capacity(graph, v, pin.len).map_err(|source| BoundedError::Pin {
            name: pin.name.clone(),
            len: pin.len,
            source,
        })?;
    }
    for id in graph.node_ids() {
        let node = graph.node(id);
        for b in node.op.bounded() {
            let v = ValueId {
                node: id,
                slot: b.slot as u32,
            };
            if let Some(&(reader, _)) = graph.consumers(v).first() {
                let r = graph.node(reader);
                return Err(Box::new(BoundedError::Read {
                    node: r.name.clone(),
                    op: r.onnx,
                    value: node.outputs[b.slot].name.clone(),
                    axis: b.axis,
                    capacity: graph.ty(v).shape.get(b.axis).copied().unwrap_or(0),
                    producer: node.name.clone(),
                }));
            }
        }
    }
    Ok(())
}

/// The value named `name`: a node's output, or a graph output of that name.
fn find(graph: &Graph, name: &str) -> Option<ValueId> {
    if let Some(o) = graph.outputs.iter().find(|o| o.name == name) {
        return Some(o.value);
    }
    graph.node_ids().into_iter().find_map(|id| {
        let slot = graph.node(id).outputs.iter().position(|v| v.name == name)?;
        Some(ValueId {
            node: id,
            slot: slot as u32,
        })
    })
}

/// Lowers the capacity of the data-dependent axis of `v` to `len` and types the node's
/// outputs again.
fn pin_capacity(graph: &mut Graph, v: ValueId, len: usize) -> Result<(), NodeError> {
    let id: NodeId = v.node;
    let node = graph.node(id);
    let err = |source: OpError| NodeError {
        node: node.name.clone(),
        op: node.onnx,
        source,
    };
    let Some(b) = graph.bound_of(v) else {
        return Err(err(OpError::unsupported(
            "this output has a static shape; --max-len applies to data-dependent outputs \
             (NonZero, Compress, Unique, NonMaxSuppression)",
        )));
    };
    let most = graph.ty(v).shape[b.axis];
    if len > most {
        return Err(err(OpError::unsupported(format!(
            "{len} is more than the {most} entries this output can ever have"
        ))));
    }
    let mut op = node.op.clone();
    op.set_capacity(len).map_err(err)?;
    let types: Vec<_> = node.inputs.iter().map(|v| v.map(|v| graph.ty(v))).collect();
    let inferred = op.infer(&types).map_err(err)?;
    let node = graph.node_mut(id);
    node.op = op;
    for (out, ty) in node.outputs.iter_mut().zip(inferred) {
        out.ty = ty;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::text::parse;

    #[test]
    fn pins_lower_the_capacity() {
        let text = "input 0: %x : f32[2,3]\n%y = NonZero(%x) : i64[2,6]\noutput 0: y = %y\n";
        let mut g = parse(text).unwrap();
        apply(&mut g, &["y=4".parse().unwrap()]).unwrap();
        assert_eq!(g.ty(g.outputs[0].value).shape, [2, 4]);
        let e = apply(&mut g, &["y=7".parse().unwrap()]).unwrap_err();
        assert!(e.to_string().contains("more than the 4 entries"), "{e}");
        let e = apply(&mut g, &["z=1".parse().unwrap()]).unwrap_err();
        assert_eq!(e.to_string(), "--max-len z=1: the model has no value `z`");
        let e = apply(&mut g, &["x=1".parse().unwrap()]).unwrap_err();
        assert!(e.to_string().contains("static shape"), "{e}");
    }

    #[test]
    fn refuses_a_reader() {
        let text =
            "input 0: %x : f32[4]\n%y = NonZero(%x) : i64[1,4]\n%z = Neg(%y)\noutput 0: z = %z\n";
        let mut g = parse(text).unwrap();
        let e = apply(&mut g, &[]).unwrap_err();
        assert!(e.to_string().starts_with("node `z`: Neg"), "{e}");
        assert!(e.to_string().contains("at most 4"), "{e}");
    }
}
