//! `src/model.rs`: the `Model` struct, its arena, and one block per node calling its kernel.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::ir::{Graph, NodeId, TensorType, ValueId};
use crate::ops::{elem_type, EmitCtx, NodeError, Op, OpError, Operand};
use crate::plan::patch::{Region, Stage};
use crate::plan::{Location, MemoryPlan};
use crate::tensor::DType;

use super::api::*;
use super::*;

/// `src/model.rs`: constants, weights, the I/O structs, `Model` and `predict`.
pub(super) fn model_rs(
    graph: &Graph,
    plan: &MemoryPlan,
    api: &Api,
    weights: &WeightsRef,
    profile: ProfileApi,
) -> Result<TokenStream, EmitError> {
    let arena_bytes = plan.arena_bytes;
    let weight_bytes = plan.weight_bytes;

    let mut consts = Vec::new();
    for (what, ports) in [("input", &api.inputs), ("output", &api.outputs)] {
        for p in ports {
            let shape_name = format_ident!("{}_SHAPE", p.konst);
            let len_name = format_ident!("{}_LEN", p.konst);
            let shape = &p.ty.shape;
            let rank = shape.len();
            let n = p.ty.storage_len();
            let mut doc_shape = format!(
                " Shape of the {what} `{}` ({}{}).",
                p.ident,
                p.ty,
                storage_note(p.ty.dtype)
            );
            if let Some(b) = &p.bound {
                doc_shape = format!(
                    "{} Axis {} is a capacity: [`Outputs::{}`] says how much of it a run used.",
                    doc_shape, b.axis, b.count
                );
            }
            let doc_len = if p.ty.dtype.is_packed() {
                format!(" Bytes of the packed {what} `{}`.", p.ident)
            } else {
                format!(" Elements in the {what} `{}`.", p.ident)
            };
            consts.push(quote! {
                #[doc = #doc_shape]
                pub const #shape_name: [usize; #rank] = [#(#shape),*];
                #[doc = #doc_len]
                pub const #len_name: usize = #n;
            });
        }
    }

    let port_structs = port_structs(api);
    let weights_path = &weights.path;
    // `#[link_section]` counts as unsafe code to the compiler: the one static that
    // carries it is allowed explicitly, and the module denies unsafe code otherwise.
    let (unsafe_policy, weights_static) = match &weights.section {
        None => (
            quote!(#![forbid(unsafe_code)]),
            quote! {
                static WEIGHTS: rt::arena::Aligned<[u8; WEIGHT_BYTES]> = rt::arena::Aligned(*include_bytes!(#weights_path));
            },
        ),
        Some(section) => (
            quote!(#![deny(unsafe_code)]),
            quote! {
                #[allow(unsafe_code)]
                #[link_section = #section]
                static WEIGHTS: rt::arena::Aligned<[u8; WEIGHT_BYTES]> = rt::arena::Aligned(*include_bytes!(#weights_path));
            },
        ),
    };
    let (params, outputs_param) = signature(api);

    // `probe(k)` runs before layer `k` and `probe(LAYERS.len())` after the last one: a
    // profiling caller reads a clock there, and `predict` passes a closure that does nothing,
    // which the optimiser removes with the calls.
    let layers = profile_layers(graph, plan);
    let mut body = Vec::new();
    for (k, layer) in layers.iter().enumerate() {
        let k = proc_macro2::Literal::usize_unsuffixed(k);
        body.push(quote!(probe(#k);));
        if let Some(stage) = layer.node.and_then(|id| plan.stage_from(id)) {
            body.push(stage_block(graph, plan, api, stage)?);
            continue;
        }
        match layer.node {
            Some(id) => body.push(guarded(
                graph,
                plan,
                api,
                id,
                node_block(graph, plan, api, id)?,
            )),
            None => body.extend(output_copies(graph, plan, api)),
        }
    }
    let n_layers = layers.len();
    let end = proc_macro2::Literal::usize_unsuffixed(n_layers);
    body.push(quote!(probe(#end);));
    let layer_entries = layers.iter().map(|l| {
        let (op, name) = (l.op, &l.name);
        quote!((#op, #name))
    });
    let (args, outputs_arg) = argument_names(api);
    let profile_gate = match profile {
        ProfileApi::Off => None,
        ProfileApi::Feature => Some(quote!(#[cfg(feature = "profile")])),
        ProfileApi::On => Some(TokenStream::new()),
    };
    let (layers_const, predict_profiled) = match &profile_gate {
        None => (TokenStream::new(), TokenStream::new()),
        Some(gate) => {
            let only = match profile {
                ProfileApi::Feature => " Only with the `profile` feature.",
                _ => "",
            };
            let layers_doc = [
                " The layers [`Model::predict_profiled`] reports, in order: the ONNX op and the"
                    .to_string(),
                format!(" node's name.{only}"),
            ];
            let predict_doc = [
                " [`Model::predict`] that calls `probe(k)` before layer `k` of [`LAYERS`] and"
                    .to_string(),
                " `probe(LAYERS.len())` after the last: read a clock there for the time of each"
                    .to_string(),
                format!(" layer.{only}"),
            ];
            (
                quote! {
                    #(#[doc = #layers_doc])*
                    #gate
                    pub const LAYERS: [(&str, &str); #n_layers] = [#(#layer_entries),*];
                },
                quote! {
                    #(#[doc = #predict_doc])*
                    #gate
                    pub fn predict_profiled(
                        &mut self,
                        #params,
                        #outputs_param,
                        probe: &mut impl FnMut(usize),
                    ) -> Result<(), Error> {
                        self.run(#args, #outputs_arg, probe)
                    }
                },
            )
        }
    };

    // A crate generated for one kernel family has its scratch sized for that family's
    // kernels alone: built for another, a kernel would get less than it takes.
    let family_check = {
        use zant_runtime::target::{KernelSet, Kernels};
        let family = match plan.kernels {
            k if k == KernelSet::only(Kernels::Vector) => Some((quote!(Vector), "vector")),
            k if k == KernelSet::only(Kernels::Scalar) => Some((quote!(Scalar), "scalar")),
            _ => None,
        };
        family.map(|(variant, name)| {
            let message = format!(
                "zant generated this model for targets that run the {name} kernels; \
                 compile it again for this target (`--target`, or the build script's TARGET)"
            );
            quote! {
                const _: () = assert!(
                    rt::target::KernelSet::only(rt::target::Kernels::#variant)
                        .contains(rt::target::Kernels::NATIVE),
                    #message
                );
            }
        })
    };

    Ok(quote! {
        //! The model: constants, weights, the `Model` type and its `predict`.
        #![allow(clippy::excessive_precision, clippy::unreadable_literal, clippy::too_many_arguments)]
        #unsafe_policy

        use zant_runtime as rt;

        pub use rt::Error;

        #family_check

        /// Bytes of the arena that holds every intermediate tensor (inside [`Model`]).
        pub const ARENA_BYTES: usize = #arena_bytes;
        /// Bytes of the weight blob (in flash / `.rodata`).
        pub const WEIGHT_BYTES: usize = #weight_bytes;
        #(#consts)*

        #layers_const

        /// The weights, one aligned little-endian blob.
        #weights_static

        #port_structs

        /// The compiled model: owns its arena, allocates nothing. Put it in a `static`
        /// (behind a lock) or on a stack large enough for [`ARENA_BYTES`].
        pub struct Model {
            arena: rt::arena::Aligned<[u8; ARENA_BYTES]>,
        }

        impl Model {
            /// A model with a zeroed arena; `const`, so it can initialise a `static`.
            pub const fn new() -> Self {
                Self { arena: rt::arena::Aligned([0; ARENA_BYTES]) }
            }

            /// Runs one inference. Errors only for data-dependent failures (an index out
            /// of range, an integer division by zero); it never panics on input data.
            pub fn predict(&mut self, #params, #outputs_param) -> Result<(), Error> {
                self.run(#args, #outputs_arg, &mut |_| {})
            }

            #predict_profiled

            #[inline(always)]
            fn run(
                &mut self,
                #params,
                #outputs_param,
                probe: &mut impl FnMut(usize),
            ) -> Result<(), Error> {
                let arena = &mut self.arena.0;
                #(#body)*
                let _ = arena;
                Ok(())
            }
        }

        impl Default for Model {
            fn default() -> Self {
                Self::new()
            }
        }
    })
}

/// One layer of the per-layer profile: a node that runs code, or the copies of graph
/// outputs that no node wrote in place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileLayer {
    /// `None` for the output copies.
    pub node: Option<NodeId>,
    /// The ONNX op (`Copy` for the output copies).
    pub op: &'static str,
    pub name: String,
}

/// The layers `Model::predict_profiled` probes between, in order: every scheduled node
/// except the views that alias their input (they run no code), then the output copies if
/// there are any.
pub fn profile_layers(graph: &Graph, plan: &MemoryPlan) -> Vec<ProfileLayer> {
    // A stage run patch by patch is one layer, under its first node.
    let inner: std::collections::BTreeSet<NodeId> = plan
        .stages
        .iter()
        .flat_map(|s| s.nodes.iter().skip(1).copied())
        .collect();
    let mut layers: Vec<ProfileLayer> = plan
        .schedule
        .iter()
        .filter(|id| !plan.aliased_views.contains(id) && !inner.contains(id))
        .map(|&id| {
            let node = graph.node(id);
            match plan.stage_from(id) {
                Some(stage) => ProfileLayer {
                    node: Some(id),
                    op: "Patches",
                    name: stage.summary(graph),
                },
                None => ProfileLayer {
                    node: Some(id),
                    op: node.onnx.op_type,
                    name: node.name.clone(),
                },
            }
        })
        .collect();
    let copied = graph
        .outputs
        .iter()
        .enumerate()
        .any(|(k, o)| plan.locations[&o.value] != Location::Output(k));
    if copied {
        layers.push(ProfileLayer {
            node: None,
            op: "Copy",
            name: "graph outputs".into(),
        });
    }
    layers
}

/// The copies of graph outputs that no node wrote directly, from where each value lives.
fn output_copies(graph: &Graph, plan: &MemoryPlan, api: &Api) -> Vec<TokenStream> {
    let mut copies = Vec::new();
    for (k, o) in graph.outputs.iter().enumerate() {
        let loc = plan.locations[&o.value];
        if loc == Location::Output(k) {
            continue;
        }
        let ty = graph.ty(o.value);
        let src = read_expr(api, loc, ty, &o.value);
        let dst = api.output_place(k);
        let comment = comment(&format!("graph output `{}`", o.name));
        copies.push(quote! {
            #comment
            {
                let reads = rt::arena::Reads::all(arena);
                let _ = reads;
                #dst.copy_from_slice(#src);
            }
        });
    }
    copies
}

/// An expression of type `&[T]` reading a value from where it lives.
pub(super) fn read_expr(api: &Api, loc: Location, ty: &TensorType, _v: &ValueId) -> TokenStream {
    let t = elem_type(ty.dtype);
    let n = ty.storage_len();
    match loc {
        Location::Input(i) => api.input_expr(i),
        Location::Output(k) => {
            let place = api.output_place(k);
            quote!(&#place[..])
        }
        Location::Weight { offset } => quote!(rt::arena::slice::<#t>(&WEIGHTS.0, #offset, #n)),
        Location::Arena { offset, .. } => quote!(reads.get::<#t>(#offset, #n)),
    }
}

/// The block that runs one node.
pub(super) fn node_block(
    graph: &Graph,
    plan: &MemoryPlan,
    api: &Api,
    id: NodeId,
) -> Result<TokenStream, EmitError> {
    let node = graph.node(id);
    let err = |source: OpError| {
        EmitError(NodeError {
            node: node.name.clone(),
            op: node.onnx,
            source,
        })
    };
    let in_place = plan.in_place.get(&id).copied();
    let mut uses_reads = false;
    let inputs: Vec<Option<Operand>> = node
        .inputs
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.map(|v| {
                let loc = plan.locations[&v];
                if matches!(loc, Location::Arena { .. }) && in_place != Some(i) {
                    uses_reads = true;
                }
                Operand {
                    expr: read_expr(api, loc, graph.ty(v), &v),
                    ty: graph.ty(v),
                    value: graph.const_value(v),
                }
            })
        })
        .collect();
    let out_values: Vec<ValueId> = (0..node.outputs.len())
        .map(|slot| ValueId {
            node: id,
            slot: slot as u32,
        })
        .collect();
    let ctx = EmitCtx {
        node_name: &node.name,
        inputs,
        outputs: out_values.iter().map(|&v| graph.ty(v)).collect(),
        in_place,
        lead: plan.leads.get(&id).copied(),
        kernels: plan.kernels,
    };
    let call = node.op.emit(&ctx).map_err(err)?;
    // A node with data-dependent outputs binds `count`, which the generated API hands on
    // with each of them that is a graph output. The count is 0 until the kernel returns, so
    // that a run that fails (a result past the capacity) leaves no entries claimed.
    let bounded = node.op.bounded();
    let places: Vec<TokenStream> = bounded
        .iter()
        .flat_map(|b| {
            let v = ValueId {
                node: id,
                slot: b.slot as u32,
            };
            graph
                .outputs
                .iter()
                .enumerate()
                .filter(move |(_, o)| o.value == v)
                .filter_map(|(k, _)| api.count_place(k))
        })
        .collect();
    let resets = places.iter().map(|place| quote!(#place = 0;));
    let counts = match (bounded.is_empty(), places.is_empty()) {
        (true, _) => TokenStream::new(),
        (false, true) => quote!(let _ = count;),
        (false, false) => {
            let sets = places.iter().map(|place| quote!(#place = count;));
            quote!(#(#sets)*)
        }
    };
    let call = quote! {
        #(#resets)*
        #call
    };
    // Output `k` is `y` (k = 0) or `y{k}`, a `&mut [T]` over its arena region or the
    // caller's output array.
    let mut regions = Vec::new();
    let mut binds = Vec::new();
    for (k, &v) in out_values.iter().enumerate() {
        let ty = graph.ty(v);
        let t = elem_type(ty.dtype);
        let y = if k == 0 {
            format_ident!("y")
        } else {
            format_ident!("y{}", k)
        };
        match plan.locations[&v] {
            // An empty output of a node with several outputs needs no arena region,
            // only a well-aligned empty slice.
            Location::Arena { .. } if ty.n_bytes() == 0 && out_values.len() > 1 => {
                binds.push(quote! { let #y: &mut [#t] = &mut []; });
            }
            Location::Arena { offset, .. } => {
                // An output that leads the input it overwrites spans both.
                let bytes = match (k, plan.leads.get(&id), node.inputs.first()) {
                    (0, Some(&lead), Some(Some(x))) => lead + graph.ty(*x).n_bytes(),
                    _ => ty.n_bytes(),
                };
                let region = if out_values.len() == 1 {
                    format_ident!("out")
                } else {
                    format_ident!("out{}", k)
                };
                binds.push(quote! { let #y = rt::arena::view_mut::<#t>(#region); });
                regions.push((region, offset, bytes));
            }
            Location::Output(o) => {
                let place = api.output_place(o);
                binds.push(quote! { let #y: &mut [#t] = &mut #place[..]; });
            }
            other => {
                return Err(err(OpError::unsupported(format!(
                    "output {k} placed at {other:?}"
                ))))
            }
        }
    }
    // The kernel's scratch, when it asked for some: one more region, disjoint from the
    // node's inputs and outputs because the planner made it live at this step.
    if let Some(&(offset, bytes)) = plan.scratch.get(&id) {
        let region = format_ident!("scratch_bytes");
        let t = elem_type(node.op.scratch_type());
        binds.push(quote! { let scratch = rt::arena::view_mut::<#t>(#region); });
        regions.push((region, offset, bytes));
    }
    let reads = if uses_reads { quote!(reads) } else { quote!(_) };
    let split = match regions.as_slice() {
        [] if uses_reads => quote!(let reads = rt::arena::Reads::all(arena);),
        [] => TokenStream::new(),
        [(region, offset, bytes)] if out_values.len() == 1 || plan.scratch.contains_key(&id) => {
            quote!(let (#reads, #region) = rt::arena::split(arena, #offset, #bytes);)
        }
        several => {
            let names = several.iter().map(|(r, _, _)| r);
            let ats = several.iter().map(|(_, o, b)| quote!((#o, #b)));
            quote!(let (#reads, [#(#names),*]) = rt::arena::split_n(arena, [#(#ats),*]);)
        }
    };
    let prelude = quote! {
        #split
        #(#binds)*
    };
    let comment = comment(&shorten(&crate::ir::text::node_signature(graph, id)));
    Ok(quote! {
        #comment
        {
            #prelude
            #call
            #counts
        }
    })
}

/// The loop that runs a stage patch by patch ([`crate::plan::patch`]): per patch, the
/// input's region is cropped into the stage's buffer, the patch graph's nodes run on
/// regions in the arena after it (each masked outside its tensor where a convolution
/// reads it as padding), and the last one's region is pasted into the stage output.
fn stage_block(
    graph: &Graph,
    plan: &MemoryPlan,
    api: &Api,
    stage: &Stage,
) -> Result<TokenStream, EmitError> {
    let first = graph.node(stage.nodes[0]);
    let err = |what: String| {
        EmitError(NodeError {
            node: first.name.clone(),
            op: first.onnx,
            source: OpError::unsupported(what),
        })
    };
    let Some(&(base, _)) = plan.scratch.get(&stage.nodes[0]) else {
        return Err(err("a stage without its buffer in the plan".into()));
    };
    // The patch graph's plan, moved into the stage's buffer of the whole arena, its
    // constants where the whole graph's are.
    let mut sub = stage.plan.clone();
    for (v, loc) in sub.locations.iter_mut() {
        *loc = match *loc {
            Location::Input(_) => return Err(err("a patch graph input outside its arena".into())),
            Location::Arena { offset, buffer } => Location::Arena {
                offset: offset + base,
                buffer,
            },
            Location::Weight { .. } => {
                let whole = stage.consts.get(v).and_then(|c| plan.locations.get(c));
                *whole.ok_or_else(|| err(format!("constant {v:?} of a patch not in the blob")))?
            }
            Location::Output(_) => return Err(err("a patch graph with an output".into())),
        };
    }
    for (offset, _) in sub.scratch.values_mut() {
        *offset += base;
    }
    let origin = |r: &Region| {
        let [(s0, o0), (s1, o1)] = r.axes.map(|a| (a.step, a.offset));
        quote!([patch_row * #s0 + #o0, patch_col * #s1 + #o1])
    };
    let fill = |dtype: DType, v: i32| -> Result<TokenStream, EmitError> {
        Ok(match dtype {
            DType::F32 => {
                let v = proc_macro2::Literal::f32_suffixed(v as f32);
                quote!(#v)
            }
            DType::U8 => {
                let v = proc_macro2::Literal::u8_suffixed(v.clamp(0, 255) as u8);
                quote!(#v)
            }
            DType::I8 => {
                let v = proc_macro2::Literal::i8_suffixed(v.clamp(-128, 127) as i8);
                quote!(#v)
            }
            other => return Err(err(format!("a patch of {other} values"))),
        })
    };
    let plane = |r: &Region| {
        let (c, h, w) = (r.channels, r.axes[0].extent, r.axes[1].extent);
        let (fh, fw) = (r.axes[0].full, r.axes[1].full);
        (c, quote!([#h, #w]), quote!([#fh, #fw]))
    };

    // Crop.
    let x_ty = graph.ty(stage.input);
    let (xt, x_fill) = (elem_type(x_ty.dtype), fill(x_ty.dtype, stage.input_fill)?);
    let x_loc = plan.locations[&stage.input];
    let x_expr = read_expr(api, x_loc, x_ty, &stage.input);
    let (c, extent, full) = plane(&stage.input_region);
    let at = origin(&stage.input_region);
    let crop_value = ValueId {
        node: stage.graph.inputs[0],
        slot: 0,
    };
    let Some(&Location::Arena {
        offset: crop_at, ..
    }) = sub.locations.get(&crop_value)
    else {
        return Err(err("a patch input outside the arena".into()));
    };
    let crop_bytes = stage.graph.ty(crop_value).n_bytes();
    let crop_fn = if stage.input_nhwc {
        quote!(crop_channels_last)
    } else {
        quote!(crop)
    };
    let crop = quote! {
        {
            let (reads, region) = rt::arena::split(arena, #crop_at, #crop_bytes);
            let _ = reads;
            rt::patch::#crop_fn::<#xt>(#x_expr, #c, #full, #at, #extent, #x_fill,
                rt::arena::view_mut::<#xt>(region));
        }
    };
    // The patch graph's nodes, each masked where it must be.
    let mut steps = Vec::new();
    for &id in &sub.schedule {
        let block = node_block(&stage.graph, &sub, api, id)?;
        // A rolling stage's layer whose rows lie outside its tensor in some patch rows
        // skips those: what it would compute there is padding or never read.
        steps.push(match stage.active.get(&id) {
            Some(&(lo, hi)) => {
                let (lo, hi) = (isize_lit(lo), isize_lit(hi));
                quote! { if (#lo..#hi).contains(&patch_row) { #block } }
            }
            None => block,
        });
        let v = ValueId { node: id, slot: 0 };
        for mask in stage.masks.iter().filter(|m| m.value == v) {
            let ty = stage.graph.ty(v);
            let Some(Location::Arena { offset, .. }) = sub.locations.get(&v) else {
                return Err(err(format!("masked value {v:?} outside the arena")));
            };
            let (t, value) = (elem_type(ty.dtype), fill(ty.dtype, mask.fill)?);
            let bytes = ty.n_bytes();
            let (c, extent, full) = plane(&mask.region);
            let at = origin(&mask.region);
            steps.push(quote! {
                {
                    let (_, region) = rt::arena::split(arena, #offset, #bytes);
                    rt::patch::fill_outside::<#t>(rt::arena::view_mut::<#t>(region), #c, #full,
                        #at, #extent, #value);
                }
            });
        }
    }
    // Paste.
    let y_ty = graph.ty(stage.output);
    let Some(Location::Arena { offset: y_at, .. }) = plan.locations.get(&stage.output) else {
        return Err(err("a stage output outside the arena".into()));
    };
    let Some(Location::Arena { offset: r_at, .. }) = sub.locations.get(&stage.result) else {
        return Err(err("a patch result outside the arena".into()));
    };
    let (yt, y_bytes) = (elem_type(y_ty.dtype), y_ty.n_bytes());
    let n = stage.output_region.elems();
    let (c, extent, full) = plane(&stage.output_region);
    let at = origin(&stage.output_region);
    let paste = quote! {
        {
            let (reads, out) = rt::arena::split(arena, #y_at, #y_bytes);
            rt::patch::paste::<#yt>(reads.get::<#yt>(#r_at, #n), #c, #extent, #at, #full,
                rt::arena::view_mut::<#yt>(out));
        }
    };
    let (first, rows) = (isize_lit(stage.rows.0), isize_lit(stage.rows.1));
    let cols = isize_lit(stage.grid[1] as isize);
    let comment = comment(&stage.summary(graph));
    let patch = quote! {
        #crop
        #(#steps)*
        #paste
    };
    // A rolling stage carries rows from one patch row to the next: rows inside columns.
    Ok(if stage.rolling {
        quote! {
            #comment
            for patch_col in 0..#cols {
                for patch_row in #first..#rows {
                    #patch
                }
            }
        }
    } else {
        quote! {
            #comment
            for patch_row in #first..#rows {
                for patch_col in 0..#cols {
                    #patch
                }
            }
        }
    })
}

/// `v` as an `isize` literal (a negative one as `-` and the literal).
fn isize_lit(v: isize) -> TokenStream {
    let abs = proc_macro2::Literal::isize_suffixed(v.abs());
    if v < 0 {
        quote!(-#abs)
    } else {
        quote!(#abs)
    }
}

/// `block` inside `if` on the conditions of the gates that guard node `id` (a node of an
/// `If` branch whose condition comes at run time), or `block` itself for a node that
/// always runs. Each condition is a bool with one element; a node in a branch inside a
/// branch tests the outer condition first, since the inner one is only computed when the
/// outer branch runs.
fn guarded(
    graph: &Graph,
    plan: &MemoryPlan,
    api: &Api,
    id: NodeId,
    block: TokenStream,
) -> TokenStream {
    let gates = graph.guards(id);
    if gates.is_empty() {
        return block;
    }
    let tests = gates.iter().rev().filter_map(|&gate| {
        let node = graph.node(gate);
        let Op::Gate(g) = &node.op else {
            return None;
        };
        let cond = node.inputs.first().copied().flatten()?;
        let expr = read_expr(api, plan.locations[&cond], graph.ty(cond), &cond);
        Some(if g.taken {
            quote!((#expr)[0] != 0)
        } else {
            quote!((#expr)[0] == 0)
        })
    });
    quote! {
        {
            let taken = {
                let reads = rt::arena::Reads::all(arena);
                let _ = reads;
                #(#tests)&&*
            };
            if taken {
                #block
            }
        }
    }
}

/// Keeps node comments readable when a node has long attributes.
pub(super) fn shorten(s: &str) -> String {
    const MAX: usize = 160;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
