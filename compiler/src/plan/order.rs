//! Memory-aware scheduling: a topological order of the graph chosen for its peak of live
//! bytes, not the file's.
//!
//! Where a graph branches (a residual block's shortcut, a detector's split and concat,
//! parallel heads), the order the exporter wrote is one of many, and which tensors are
//! live together depends on it: running a ResNet block's strided shortcut before its main
//! path keeps the shortcut's small output live across the block instead of the block's
//! larger input (Serenity, Ahn et al., MLSys 2020, schedules irregular networks this
//! way). [`memory_order`] searches the orders breadth first, one node a level, keeping the
//! [`beam`] best partial orders by their peak so far, then by the bytes live; partial
//! orders that ran the same set of nodes are one state, so on a graph whose levels have
//! no more sets than the beam holds (a chain, a few short branches) the search is exact
//! for its cost model. The model counts each tensor from the step that writes it to the
//! last that reads it, views in their input's buffer and kernel scratch at its step; the
//! planner, which also reuses buffers in place, has the last word ([`super::plan_best`]
//! keeps whichever order gives the smaller arena).

use std::collections::HashMap;

use zant_runtime::target::KernelSet;

use crate::ir::{Graph, NodeId, ValueId};
use crate::ops::Op;

/// The partial orders kept a level for a graph of `n` nodes: 64, fewer as graphs grow, so
/// that the search stays within about 10⁸ steps (one state copy is `n` words, a level
/// has about `n` nodes to test); one (greedy) past a few thousand nodes.
fn beam(n: usize) -> usize {
    (100_000_000 / (n * n).max(1)).clamp(1, 64)
}

/// One partial order: the nodes run (a bit each), the reads each buffer still awaits and
/// each node's producers not yet run, the bytes live after it, the most live at any
/// step so far, and how many pairs of its nodes run against the file's order (ties go
/// to the fewest, so a graph where order does not matter keeps the file's).
#[derive(Clone)]
struct State {
    done: Vec<u64>,
    reads_left: Vec<u32>,
    inputs_left: Vec<u32>,
    live: usize,
    peak: usize,
    inversions: u64,
    /// The set of nodes run, hashed.
    hash: u64,
}

/// How the search ranks partial orders of one length: the lowest peak, then the fewest
/// bytes live, then the fewest pairs of nodes out of file order.
type Rank = (usize, usize, u64);

/// The most steps the search takes (nodes scanned, candidates weighed, words copied)
/// before it gives up and leaves the file's order: a few tenths of a second.
const WORK: usize = 500_000_000;

/// Graphs of more op nodes keep the file's order: each level scans every node.
const MAX_NODES: usize = 5_000;

/// The ready nodes a partial order may run next: the first this many in file order. A
/// graph wider than that (hundreds of independent branches) is searched among them.
const READY: usize = 32;

/// An order of `graph`'s op nodes (no inputs, no constants) chosen for its peak of live
/// bytes, or `None` for a graph with a cycle.
pub fn memory_order(graph: &Graph, kernels: KernelSet) -> Option<Vec<NodeId>> {
    let file_order = graph.schedule().ok()?;
    let ops: Vec<NodeId> = file_order
        .into_iter()
        .filter(|&id| !matches!(graph.node(id).op, Op::Input(_) | Op::Const(_)))
        .collect();
    let n = ops.len();
    if n > MAX_NODES {
        return None;
    }
    let index: HashMap<NodeId, usize> = ops.iter().enumerate().map(|(i, &id)| (id, i)).collect();

    // Buffers: each op output that lives in the arena, views in their input's buffer.
    let mut buffer_of: HashMap<ValueId, usize> = HashMap::new();
    let mut bytes: Vec<usize> = Vec::new();
    let mut reads: Vec<u32> = Vec::new();
    // Per node: the buffers it creates, each buffer it reads with how many of its inputs
    // read it, its scratch.
    let mut creates: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut reads_of: Vec<Vec<(usize, u32)>> = vec![Vec::new(); n];
    let mut scratch = vec![0usize; n];
    let mut consumers: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut inputs_left = vec![0u32; n];
    let mut reuse: Vec<Option<(usize, usize)>> = vec![None; n];
    let types = |id: NodeId| {
        let node = graph.node(id);
        node.inputs
            .iter()
            .map(|v| v.map(|v| graph.ty(v)))
            .collect::<Vec<_>>()
    };
    for (i, &id) in ops.iter().enumerate() {
        let node = graph.node(id);
        let mut producers: Vec<usize> = Vec::new();
        for v in node.inputs.iter().flatten() {
            if let Some(&p) = index.get(&v.node) {
                if !producers.contains(&p) {
                    producers.push(p);
                }
            }
            if let Some(&b) = buffer_of.get(v) {
                match reads_of[i].iter_mut().find(|(o, _)| *o == b) {
                    Some((_, count)) => *count += 1,
                    None => reads_of[i].push((b, 1)),
                }
                reads[b] += 1;
            }
        }
        // Whether the output may overwrite an input that dies here, as the planner lets
        // it: an element-wise op's input of its type, a depthwise layer's input (less the
        // lead). The input's buffer, and the bytes the output then does not add.
        let out_ty = graph.ty(ValueId { node: id, slot: 0 });
        let elementwise = node.op.in_place_inputs().iter().find_map(|&k| {
            let x = node.inputs.get(k).copied().flatten()?;
            (graph.ty(x).dtype == out_ty.dtype && graph.ty(x).shape == out_ty.shape)
                .then_some((x, 0))
        });
        let shifted = node
            .op
            .in_place_shift(&types(id))
            .and_then(|lead| Some((node.inputs.first().copied().flatten()?, lead)));
        reuse[i] = elementwise.or(shifted).and_then(|(x, lead)| {
            let b = *buffer_of.get(&x)?;
            let out = super::align(out_ty.n_bytes());
            Some((b, out.saturating_sub(lead)))
        });
        inputs_left[i] = producers.len() as u32;
        for p in producers {
            consumers[p].push(i);
        }
        scratch[i] = super::align(node.op.scratch_bytes(&types(id), kernels));
        for slot in 0..node.outputs.len() {
            let v = ValueId {
                node: id,
                slot: slot as u32,
            };
            if graph.is_graph_output(v) {
                continue;
            }
            let viewed = node
                .op
                .view_of(slot)
                .and_then(|k| node.inputs.get(k).copied().flatten());
            match viewed {
                Some(x) => {
                    if let Some(&b) = buffer_of.get(&x) {
                        buffer_of.insert(v, b);
                    }
                }
                None => {
                    buffer_of.insert(v, bytes.len());
                    creates[i].push(bytes.len());
                    bytes.push(super::align(graph.ty(v).n_bytes()));
                    reads.push(0);
                }
            }
        }
    }
    let words = n.div_ceil(64);
    // Each node's key for the Zobrist hash of a set of nodes (the XOR of its members'
    // keys), which merges partial orders that ran the same nodes: a 64-bit mixer of the
    // index, so the hash is the same on every run. Two sets that collide only merge two
    // valid partial orders, which costs optimality, never correctness.
    let keys: Vec<u64> = (0..n as u64)
        .map(|i| {
            let mut z = i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        })
        .collect();
    let start = State {
        done: vec![0; words],
        reads_left: reads.clone(),
        inputs_left,
        live: 0,
        peak: 0,
        inversions: 0,
        hash: 0,
    };
    let width = beam(n);
    let mut level = vec![start];
    // Per level, each kept state's (index on the level before, node it ran).
    let mut trails: Vec<Vec<(usize, usize)>> = Vec::with_capacity(n);
    let mut work = 0usize;
    for _ in 0..n {
        // Candidates, light: rank, set hash, the state they grow from, the node they run.
        let mut next: Vec<(Rank, u64, usize, usize)> = Vec::new();
        let mut seen: HashMap<u64, usize> = HashMap::new();
        for (s, state) in level.iter().enumerate() {
            work += n;
            let ready = (0..n)
                .filter(|&i| state.inputs_left[i] == 0 && state.done[i / 64] >> (i % 64) & 1 == 0)
                .take(READY);
            for i in ready {
                work += words + reads_of[i].len();
                let made: usize = creates[i].iter().map(|&b| bytes[b]).sum();
                let saved = match reuse[i] {
                    Some((b, saving)) if state.reads_left[b] == 1 => saving,
                    _ => 0,
                };
                let peak = state
                    .peak
                    .max(state.live + made - saved.min(made) + scratch[i]);
                let mut live = state.live + made;
                for &(b, here) in &reads_of[i] {
                    // This node's reads of `b` that bring it to zero free it.
                    if state.reads_left[b] == here {
                        live -= bytes[b];
                    }
                }
                // A tensor nothing reads dies at the step that writes it.
                live -= creates[i]
                    .iter()
                    .filter(|&&b| reads[b] == 0)
                    .map(|&b| bytes[b])
                    .sum::<usize>();
                // The nodes already run that the file has after `i`.
                let later: u32 = (i / 64..words)
                    .map(|w| {
                        let bits = state.done[w];
                        if w == i / 64 {
                            (bits >> (i % 64) >> 1).count_ones()
                        } else {
                            bits.count_ones()
                        }
                    })
                    .sum();
                let rank = (peak, live, state.inversions + u64::from(later));
                let hash = state.hash ^ keys[i];
                match seen.get(&hash) {
                    Some(&k) => {
                        if (rank, i) < (next[k].0, next[k].3) {
                            next[k] = (rank, hash, s, i);
                        }
                    }
                    None => {
                        seen.insert(hash, next.len());
                        next.push((rank, hash, s, i));
                    }
                }
            }
        }
        if next.is_empty() || work > WORK {
            return None;
        }
        // The best `width` partial orders, made whole.
        next.sort_by_key(|&(rank, _, _, i)| (rank, i));
        next.truncate(width);
        trails.push(next.iter().map(|&(_, _, s, i)| (s, i)).collect());
        level = next
            .iter()
            .map(|&((peak, live, inversions), hash, s, i)| {
                let mut t = level[s].clone();
                work += words + t.reads_left.len() + consumers[i].len();
                t.done[i / 64] |= 1 << (i % 64);
                for &c in &consumers[i] {
                    t.inputs_left[c] -= 1;
                }
                for &(b, here) in &reads_of[i] {
                    t.reads_left[b] -= here;
                }
                State {
                    live,
                    peak,
                    inversions,
                    hash,
                    ..t
                }
            })
            .collect();
    }
    // Walk back from the best full order.
    let mut order = Vec::with_capacity(n);
    let mut k = 0;
    for records in trails.iter().rev() {
        let (before, node) = records[k];
        order.push(ops[node]);
        k = before;
    }
    order.reverse();
    Some(order)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::text;
    use crate::plan::{plan_best, plan_for};

    /// A block whose shortcut, written last, keeps the block's input live across the
    /// main path in file order.
    const SHORTCUT_LAST: &str = "input 0: %in : f32[1,4,16,16]\n\
        %x = Neg(%in) : f32[1,4,16,16]\n\
        %a1 = Exp(%x) : f32[1,4,16,16]\n\
        %a2 = Sin(%a1) : f32[1,4,16,16]\n\
        %a3 = Cos(%a2) : f32[1,4,16,16]\n\
        %b = GlobalAveragePool(%x) : f32[1,4,1,1]\n\
        %y = Add(%a3, %b) : f32[1,4,16,16]\n\
        output 0: out = %y\n";

    fn names(graph: &Graph, order: &[NodeId]) -> Vec<String> {
        order
            .iter()
            .map(|&id| graph.node(id).name.clone())
            .collect()
    }

    #[test]
    fn a_shortcut_runs_first_when_that_lowers_the_peak() {
        let graph = text::parse(SHORTCUT_LAST).unwrap();
        let order = memory_order(&graph, KernelSet::ANY).unwrap();
        assert_eq!(names(&graph, &order), ["x", "b", "a1", "a2", "a3", "y"]);
        let file = plan_for(&graph, &graph.schedule().unwrap(), KernelSet::ANY);
        let best = plan_best(&graph, KernelSet::ANY).unwrap();
        best.check().unwrap();
        assert!(best.memory_ordered);
        assert_eq!(best.schedule, order);
        // File order keeps `x` live beside the main path (which overwrites itself in
        // place); run first, the shortcut frees `x` for `a1` to overwrite too.
        let (plane, pooled) = (4 * 16 * 16 * 4, 16);
        assert_eq!(file.arena_bytes, 2 * plane + pooled);
        assert_eq!(best.arena_bytes, plane + pooled);
    }

    #[test]
    fn a_chain_keeps_the_file_order() {
        let chain = "input 0: %in : f32[1,64]\n\
            %a = Neg(%in) : f32[1,64]\n\
            %b = Exp(%a) : f32[1,64]\n\
            %c = Sin(%b) : f32[1,64]\n\
            output 0: out = %c\n";
        let graph = text::parse(chain).unwrap();
        let order = memory_order(&graph, KernelSet::ANY).unwrap();
        assert_eq!(names(&graph, &order), ["a", "b", "c"]);
        assert!(!plan_best(&graph, KernelSet::ANY).unwrap().memory_ordered);
    }

    #[test]
    fn independent_branches_that_cost_the_same_keep_the_file_order() {
        let branches = "input 0: %in : f32[1,64]\n\
            %a = Neg(%in) : f32[1,64]\n\
            %b = Exp(%in) : f32[1,64]\n\
            %c = Add(%a, %b) : f32[1,64]\n\
            output 0: out = %c\n";
        let graph = text::parse(branches).unwrap();
        let order = memory_order(&graph, KernelSet::ANY).unwrap();
        assert_eq!(names(&graph, &order), ["a", "b", "c"]);
    }

    #[test]
    fn the_beam_narrows_as_graphs_grow() {
        assert_eq!(beam(10), 64);
        assert_eq!(beam(1_000), 64);
        assert_eq!(beam(2_000), 25);
        assert_eq!(beam(20_000), 1);
    }
}

#[cfg(test)]
mod wide {
    use super::*;
    use crate::ir::text;

    /// A graph with `n` independent nodes, all ready at once, summed by a chain of Adds:
    /// the widest levels the search meets. It must finish and give a valid order.
    #[test]
    fn a_wide_graph_gets_a_topological_order() {
        let n = 1_500;
        let mut ir = String::from("input 0: %in : f32[1,16]\n");
        for i in 0..n {
            ir += &format!("%a{i} = Neg(%in) : f32[1,16]\n");
        }
        ir += "%s1 = Add(%a0, %a1) : f32[1,16]\n";
        for i in 2..n {
            ir += &format!("%s{i} = Add(%s{}, %a{i}) : f32[1,16]\n", i - 1);
        }
        ir += &format!("output 0: out = %s{}\n", n - 1);
        let graph = text::parse(&ir).unwrap();
        let started = std::time::Instant::now();
        let order = memory_order(&graph, KernelSet::ANY);
        eprintln!("{} nodes: {:?}", 2 * n - 1, started.elapsed());
        let order = order.expect("within the work budget");
        assert_eq!(order.len(), 2 * n - 1);
        let position: HashMap<NodeId, usize> =
            order.iter().enumerate().map(|(k, &id)| (id, k)).collect();
        for &id in &order {
            for v in graph.node(id).inputs.iter().flatten() {
                if let Some(&p) = position.get(&v.node) {
                    assert!(p < position[&id], "a node runs before its input");
                }
            }
        }
    }
}
