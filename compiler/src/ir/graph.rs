//! The graph: nodes in a petgraph `StableDiGraph`, hidden behind typed ids.
//!
//! Node inputs are the source of truth; the petgraph edges mirror them (one edge per used
//! input slot) so that consumers, topological order and cycles come from petgraph.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use petgraph::visit::EdgeRef;
use petgraph::Direction;

use crate::ops::{Bounded, OnnxOp, Op};
use crate::tensor::{Tensor, TensorType};

/// A node of the graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(NodeIndex<u32>);

/// An output slot of a node: the one way to name a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueId {
    pub node: NodeId,
    pub slot: u32,
}

/// A value produced by a node.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    /// The ONNX name of the value (unique in the graph).
    pub name: String,
    pub ty: TensorType,
}

/// One operation, a graph input or a constant.
#[derive(Clone, Debug)]
pub struct Node {
    /// The ONNX node name, or a generated `op_type_N` when the model gave none.
    pub name: String,
    pub op: Op,
    /// The ONNX op the node came from (or stands for, when a pass built it).
    pub onnx: OnnxOp,
    /// One entry per ONNX input; `None` for an omitted optional input.
    pub inputs: Vec<Option<ValueId>>,
    pub outputs: Vec<Value>,
    /// Position in the source file; the schedule keeps file order where dependencies allow.
    pub order: u64,
    /// The gate (`ops::control::Gate`) of the `If` branch the node belongs to: the
    /// generated code runs the node only when the gate's condition holds (and, for a
    /// branch inside a branch, the conditions of the gates around it). `None` for a node
    /// that always runs. The node depends on its gate through its inputs, so the schedule
    /// puts it after the condition and the memory plan keeps the condition alive.
    pub guard: Option<NodeId>,
}

/// Which input slot of a consumer an edge feeds.
#[derive(Clone, Copy, Debug)]
struct Use {
    slot: u32,
    input_idx: u32,
}

/// A graph output: its ONNX name and the value it reads.
#[derive(Clone, Debug, PartialEq)]
pub struct GraphOutput {
    pub name: String,
    pub value: ValueId,
}

/// A dataflow graph with static types on every value.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    nodes: StableDiGraph<Node, Use, u32>,
    /// The `Op::Input` nodes, in graph input order.
    pub inputs: Vec<NodeId>,
    pub outputs: Vec<GraphOutput>,
    next_order: u64,
}

impl Graph {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a node whose input values already exist; the caller gives the output types.
    pub fn add_node(
        &mut self,
        name: String,
        op: Op,
        onnx: OnnxOp,
        inputs: Vec<Option<ValueId>>,
        outputs: Vec<Value>,
    ) -> NodeId {
        let order = self.next_order;
        self.next_order += 1;
        let index = self.nodes.add_node(Node {
            name,
            op,
            onnx,
            inputs: inputs.clone(),
            outputs,
            order,
            guard: None,
        });
        for (input_idx, input) in inputs.iter().enumerate() {
            if let Some(v) = input {
                self.nodes.add_edge(
                    v.node.0,
                    index,
                    Use {
                        slot: v.slot,
                        input_idx: input_idx as u32,
                    },
                );
            }
        }
        NodeId(index)
    }

    /// Adds a constant node holding `tensor`.
    pub fn add_const(&mut self, name: String, tensor: Tensor) -> ValueId {
        let ty = tensor.ty();
        let node = self.add_node(
            name.clone(),
            Op::Const(tensor),
            OnnxOp::CONSTANT,
            vec![],
            vec![Value { name, ty }],
        );
        ValueId { node, slot: 0 }
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.0]
    }

    pub fn node_mut(&mut self, id: NodeId) -> &mut Node {
        &mut self.nodes[id.0]
    }

    pub fn contains(&self, id: NodeId) -> bool {
        self.nodes.contains_node(id.0)
    }

    pub fn value(&self, v: ValueId) -> &Value {
        &self.nodes[v.node.0].outputs[v.slot as usize]
    }

    pub fn ty(&self, v: ValueId) -> &TensorType {
        &self.value(v).ty
    }

    /// The constant behind a value, if its producer is a constant node.
    pub fn const_value(&self, v: ValueId) -> Option<&Tensor> {
        match &self.node(v.node).op {
            Op::Const(t) => Some(t),
            _ => None,
        }
    }

    pub fn node_count(&self) -> usize {
        self.nodes.node_count()
    }

    /// Every node id, in file order.
    pub fn node_ids(&self) -> Vec<NodeId> {
        let mut ids: Vec<NodeId> = self.nodes.node_indices().map(NodeId).collect();
        ids.sort_by_key(|&id| self.node(id).order);
        ids
    }

    /// The `(consumer, input index)` pairs that read `v`, in file order of the consumers.
    pub fn consumers(&self, v: ValueId) -> Vec<(NodeId, usize)> {
        let mut uses: Vec<(NodeId, usize)> = self
            .nodes
            .edges_directed(v.node.0, Direction::Outgoing)
            .filter(|e| e.weight().slot == v.slot)
            .map(|e| (NodeId(e.target()), e.weight().input_idx as usize))
            .collect();
        uses.sort_by_key(|&(n, i)| (self.node(n).order, i));
        uses
    }

    /// Whether `v` is read by a node or is a graph output.
    pub fn is_used(&self, v: ValueId) -> bool {
        self.is_graph_output(v) || !self.consumers(v).is_empty()
    }

    pub fn is_graph_output(&self, v: ValueId) -> bool {
        self.outputs.iter().any(|o| o.value == v)
    }

    /// The data-dependent axis of `v`, when its producer says its length along it depends
    /// on the data ([`crate::ops::OpKind::bounded`]).
    pub fn bound_of(&self, v: ValueId) -> Option<Bounded> {
        self.node(v.node)
            .op
            .bounded()
            .into_iter()
            .find(|b| b.slot == v.slot as usize)
    }

    /// Points input `input_idx` of `node` at `value`.
    pub fn set_input(&mut self, node: NodeId, input_idx: usize, value: Option<ValueId>) {
        let stale: Vec<_> = self
            .nodes
            .edges_directed(node.0, Direction::Incoming)
            .filter(|e| e.weight().input_idx as usize == input_idx)
            .map(|e| e.id())
            .collect();
        for e in stale {
            self.nodes.remove_edge(e);
        }
        if let Some(v) = value {
            self.nodes.add_edge(
                v.node.0,
                node.0,
                Use {
                    slot: v.slot,
                    input_idx: input_idx as u32,
                },
            );
        }
        self.nodes[node.0].inputs[input_idx] = value;
    }

    /// Makes every reader of `old` (nodes and graph outputs) read `new` instead.
    pub fn replace_all_uses(&mut self, old: ValueId, new: ValueId) {
        for (consumer, input_idx) in self.consumers(old) {
            self.set_input(consumer, input_idx, Some(new));
        }
        for output in &mut self.outputs {
            if output.value == old {
                output.value = new;
            }
        }
    }

    /// Removes a node; its outputs must be unused.
    pub fn remove_node(&mut self, id: NodeId) {
        self.nodes.remove_node(id.0);
    }

    /// A topological order that keeps file order wherever the dependencies allow it.
    /// `Err` holds the nodes that lie on or behind a cycle.
    pub fn schedule(&self) -> Result<Vec<NodeId>, Vec<NodeId>> {
        let mut in_degree: std::collections::HashMap<NodeIndex<u32>, usize> = self
            .nodes
            .node_indices()
            .map(|n| (n, self.nodes.edges_directed(n, Direction::Incoming).count()))
            .collect();
        let mut ready: BinaryHeap<Reverse<(u64, NodeIndex<u32>)>> = in_degree
            .iter()
            .filter(|(_, &d)| d == 0)
            .map(|(&n, _)| Reverse((self.nodes[n].order, n)))
            .collect();
        let mut order = Vec::with_capacity(self.nodes.node_count());
        while let Some(Reverse((_, n))) = ready.pop() {
            order.push(NodeId(n));
            for e in self.nodes.edges_directed(n, Direction::Outgoing) {
                let d = in_degree
                    .get_mut(&e.target())
                    .expect("edge target is a node");
                *d -= 1;
                if *d == 0 {
                    ready.push(Reverse((self.nodes[e.target()].order, e.target())));
                }
            }
        }
        if order.len() == self.nodes.node_count() {
            Ok(order)
        } else {
            let mut stuck: Vec<NodeId> = in_degree
                .into_iter()
                .filter(|&(_, d)| d > 0)
                .map(|(n, _)| NodeId(n))
                .collect();
            stuck.sort_by_key(|&id| self.node(id).order);
            Err(stuck)
        }
    }

    /// The ids of the graph's output values, in graph output order.
    pub fn output_values(&self) -> Vec<ValueId> {
        self.outputs.iter().map(|o| o.value).collect()
    }

    /// The gates that guard `id`, innermost first: its own guard, that gate's guard, and
    /// so on outwards. Empty for a node that always runs.
    pub fn guards(&self, id: NodeId) -> Vec<NodeId> {
        let mut gates = Vec::new();
        let mut next = self.node(id).guard;
        while let Some(gate) = next.filter(|&g| self.contains(g) && !gates.contains(&g)) {
            gates.push(gate);
            next = self.node(gate).guard;
        }
        gates
    }

    /// Renumbers the file order after a pass inserted nodes out of sequence (keeps relative order).
    pub fn next_order(&self) -> u64 {
        self.next_order
    }
}
