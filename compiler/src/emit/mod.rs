//! The back end: `(&Graph, &MemoryPlan)` → the files of a standalone `no_std` crate.
//!
//! All Rust is built with `quote!` and formatted once, in [`format`]. Emission cannot fail
//! on IR that passed `ir::verify`, except for an op whose emitter refuses a case; that
//! comes back as an error naming the node.

mod namer;

use std::path::PathBuf;

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};

pub use namer::{to_snake, Namer};

use crate::ir::{DType, Graph, NodeId, TensorType, ValueId};
use crate::ops::{elem_type, EmitCtx, NodeError, OpError, Operand};
use crate::plan::{Location, MemoryPlan};

/// A file of the generated crate, relative to its root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratedFile {
    pub path: PathBuf,
    pub contents: Vec<u8>,
}

/// How the generated crate finds `zant-runtime`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuntimeDep {
    /// A path dependency (absolute, or relative to the generated crate).
    Path(String),
    /// A crates.io version requirement.
    Version(String),
}

/// Options for emission.
#[derive(Clone, Debug)]
pub struct EmitOptions {
    /// The crate name (`kebab-case`).
    pub crate_name: String,
    /// The model file name, for the header comment.
    pub source_name: String,
    pub runtime: RuntimeDep,
    /// Whether the crate is its own workspace root (adds `[workspace]` and a release profile).
    pub standalone: bool,
}

/// Emission failed at one node: an op's emitter refused a case.
#[derive(Debug, thiserror::Error)]
#[error("cannot emit {0}")]
pub struct EmitError(#[from] pub NodeError);

/// The names the generated API gives the graph's inputs and outputs.
struct Api {
    inputs: Vec<Port>,
    outputs: Vec<Port>,
    /// Several inputs (or outputs) are passed as one struct.
    inputs_struct: bool,
    outputs_struct: bool,
}

struct Port {
    ident: Ident,
    konst: Ident,
    ty: TensorType,
}

fn ident(s: &str) -> Ident {
    Ident::new(s, Span::call_site())
}

impl Api {
    fn new(graph: &Graph) -> Self {
        let mut namer = Namer::default();
        namer.reserve(&[
            "self", "inputs", "outputs", "arena", "reads", "y", "out", "rt",
        ]);
        let port = |namer: &mut Namer, name: &str, ty: &TensorType| {
            let snake = namer.snake(name);
            Port {
                konst: format_ident!("{}", snake.trim_end_matches('_').to_uppercase()),
                ident: ident(&snake),
                ty: ty.clone(),
            }
        };
        let inputs: Vec<Port> = graph
            .inputs
            .iter()
            .map(|&id| {
                let v = &graph.node(id).outputs[0];
                port(&mut namer, &v.name, &v.ty)
            })
            .collect();
        let outputs: Vec<Port> = graph
            .outputs
            .iter()
            .map(|o| port(&mut namer, &o.name, graph.ty(o.value)))
            .collect();
        Self {
            inputs_struct: inputs.len() != 1,
            outputs_struct: outputs.len() != 1,
            inputs,
            outputs,
        }
    }

    /// `&[T]` for graph input `i`.
    fn input_expr(&self, i: usize) -> TokenStream {
        let id = &self.inputs[i].ident;
        if self.inputs_struct {
            quote!(&inputs.#id[..])
        } else {
            quote!(&#id[..])
        }
    }

    /// The place of graph output `i`, without a borrow.
    fn output_place(&self, i: usize) -> TokenStream {
        let id = &self.outputs[i].ident;
        if self.outputs_struct {
            quote!(outputs.#id)
        } else {
            quote!(#id)
        }
    }
}

/// The names the generated API gives a graph's inputs and outputs, for code that drives a
/// generated model without reading it (the conformance harness).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortNames {
    /// The field (or parameter) name of each graph input, in graph input order.
    pub inputs: Vec<String>,
    /// The field (or parameter) name of each graph output, in graph output order.
    pub outputs: Vec<String>,
    /// Whether `predict` takes an `&Inputs` struct (else one `&[T; N]` array).
    pub inputs_struct: bool,
    /// Whether `predict` takes an `&mut Outputs` struct (else one `&mut [T; N]` array).
    pub outputs_struct: bool,
}

/// The API names [`emit`] gives `graph`'s inputs and outputs.
pub fn port_names(graph: &Graph) -> PortNames {
    let api = Api::new(graph);
    let names = |ports: &[Port]| ports.iter().map(|p| p.ident.to_string()).collect();
    PortNames {
        inputs: names(&api.inputs),
        outputs: names(&api.outputs),
        inputs_struct: api.inputs_struct,
        outputs_struct: api.outputs_struct,
    }
}

/// A `[T; N]` array type for a port.
fn array_type(ty: &TensorType) -> TokenStream {
    let t = elem_type(ty.dtype);
    let n = ty.n_elems();
    quote!([#t; #n])
}

fn zero(dtype: DType) -> TokenStream {
    if dtype.is_float() {
        let t = elem_type(dtype);
        quote!(0 as #t)
    } else {
        quote!(0)
    }
}

/// Emits the crate's files.
pub fn emit(
    graph: &Graph,
    plan: &MemoryPlan,
    opts: &EmitOptions,
) -> Result<Vec<GeneratedFile>, EmitError> {
    let api = Api::new(graph);
    let lib = format(&lib_shell(opts));
    let model = format(&model_rs(graph, plan, &api, &WeightsRef::default())?);
    let runner_main = format(&runner_shell());
    let runner = format(&runner_rs(&api, opts));
    let blob = weight_blob(graph, plan);
    Ok(vec![
        GeneratedFile {
            path: "Cargo.toml".into(),
            contents: cargo_toml(opts).into_bytes(),
        },
        GeneratedFile {
            path: "src/lib.rs".into(),
            contents: lib.into_bytes(),
        },
        GeneratedFile {
            path: "src/model.rs".into(),
            contents: model.into_bytes(),
        },
        GeneratedFile {
            path: "src/weights.bin".into(),
            contents: blob,
        },
        GeneratedFile {
            path: "src/bin/runner/main.rs".into(),
            contents: runner_main.into_bytes(),
        },
        GeneratedFile {
            path: "src/bin/runner/run.rs".into(),
            contents: runner.into_bytes(),
        },
    ])
}

/// Marks a doc attribute that is really a plain `//` comment inside a function body
/// (`quote!` cannot carry comments, and doc comments on statements draw warnings).
const COMMENT_MARK: &str = "zant-comment:";

/// A `// text` comment for a statement position.
fn comment(text: &str) -> TokenStream {
    let doc = format!("{COMMENT_MARK} {text}");
    quote!(#[doc = #doc])
}

/// Where the generated code finds its weights.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeightsRef {
    /// The path `include_bytes!` reads, relative to the generated file or absolute.
    pub path: String,
    /// A linker section for the weight blob (`#[link_section]`), e.g. to pin it in flash.
    pub section: Option<String>,
}

impl Default for WeightsRef {
    fn default() -> Self {
        Self {
            path: "weights.bin".into(),
            section: None,
        }
    }
}

/// The weight blob: every constant at its planned offset, little endian.
pub fn weight_blob(graph: &Graph, plan: &MemoryPlan) -> Vec<u8> {
    let mut blob = vec![0u8; plan.weight_bytes];
    for &v in &plan.weights {
        let Location::Weight { offset } = plan.locations[&v] else {
            unreachable!("weights are in the blob")
        };
        let bytes = graph
            .const_value(v)
            .expect("weights are constants")
            .data
            .to_le_bytes();
        blob[offset..offset + bytes.len()].copy_from_slice(&bytes);
    }
    blob
}

/// The model as one Rust module, `pub mod <module> { … }`, for a build script to write
/// and the user to `include!`: the build.rs route. Returns the formatted source.
pub fn emit_module(
    graph: &Graph,
    plan: &MemoryPlan,
    module: &str,
    weights: &WeightsRef,
) -> Result<String, EmitError> {
    let api = Api::new(graph);
    let body = model_rs(graph, plan, &api, weights)?;
    let name = ident(module);
    // The module's own `//!` docs come from `model_rs`; an outer doc as well would mix
    // attribute styles on one item.
    Ok(format(&quote! {
        pub mod #name {
            #body
        }
    }))
}

/// Formats tokens as a Rust file: the one place generated code is turned into text.
/// Integer literals lose their `usize` suffix, and marked doc attributes become comments.
pub fn format(tokens: &TokenStream) -> String {
    let file: syn::File = syn::parse2(crate::ops::unsuffix(tokens.clone()))
        .expect("generated tokens parse as a Rust file");
    let text = prettyplease::unparse(&file);
    text.replace(&format!("///{COMMENT_MARK} "), "// ")
}

fn cargo_toml(opts: &EmitOptions) -> String {
    let runtime = match &opts.runtime {
        RuntimeDep::Path(p) => format!("{{ path = {p:?} }}"),
        RuntimeDep::Version(v) => format!("{v:?}"),
    };
    let mut s = format!(
        r#"# Generated by zantc {version} from `{source}`. Do not edit.
[package]
name = "{name}"
version = "0.1.0"
edition = "2021"
publish = false

[lib]
path = "src/lib.rs"

[[bin]]
name = "runner"
path = "src/bin/runner/main.rs"
required-features = ["runner"]

[features]
# The `runner` binary reads inputs from .npy files and writes outputs as .npy (std).
runner = ["dep:npyz"]

[dependencies]
zant-runtime = {runtime}
npyz = {{ version = "0.8", optional = true }}
"#,
        version = env!("CARGO_PKG_VERSION"),
        source = opts.source_name,
        name = opts.crate_name,
    );
    if opts.standalone {
        s.push_str(
            r#"
[profile.release]
codegen-units = 1
lto = true
panic = "abort"

# This crate is its own workspace, wherever it is written.
[workspace]
"#,
        );
    }
    s
}

/// `src/lib.rs`: the crate attributes and the model module. The code lives in
/// `src/model.rs`, which rustfmt skips, so `cargo fmt` in a workspace that holds the crate
/// never rewrites zantc's output.
fn lib_shell(opts: &EmitOptions) -> TokenStream {
    let header = format!(
        " Generated by zantc {} from `{}`. Do not edit.",
        env!("CARGO_PKG_VERSION"),
        opts.source_name
    );
    quote! {
        #![doc = #header]
        #![no_std]
        #![forbid(unsafe_code)]

        #[rustfmt::skip]
        mod model;

        pub use model::*;
    }
}

/// `src/bin/runner/main.rs`: the runner's entry point; the code is in `run.rs`.
fn runner_shell() -> TokenStream {
    quote! {
        //! Runs the model on `.npy` inputs: `runner INPUT.npy... -o OUT_DIR` writes
        //! `output_N.npy` in graph output order. Built with `--features runner`.

        #[rustfmt::skip]
        mod run;

        fn main() -> Result<(), Box<dyn std::error::Error>> {
            run::main()
        }
    }
}

/// `src/model.rs`: constants, weights, the I/O structs, `Model` and `predict`.
fn model_rs(
    graph: &Graph,
    plan: &MemoryPlan,
    api: &Api,
    weights: &WeightsRef,
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
            let n = p.ty.n_elems();
            let doc_shape = format!(" Shape of the {what} `{}` ({}).", p.ident, p.ty);
            let doc_len = format!(" Elements in the {what} `{}`.", p.ident);
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

    let mut body = Vec::new();
    for &id in &plan.schedule {
        if plan.aliased_views.contains(&id) {
            continue;
        }
        body.push(node_block(graph, plan, api, id)?);
    }
    // Outputs that no node wrote directly: copies from where the value lives.
    for (k, o) in graph.outputs.iter().enumerate() {
        let loc = plan.locations[&o.value];
        if loc == Location::Output(k) {
            continue;
        }
        let ty = graph.ty(o.value);
        let src = read_expr(api, loc, ty, &o.value);
        let dst = api.output_place(k);
        let comment = comment(&format!("graph output `{}`", o.name));
        body.push(quote! {
            #comment
            {
                let reads = rt::arena::Reads::all(arena);
                let _ = reads;
                #dst.copy_from_slice(#src);
            }
        });
    }

    Ok(quote! {
        //! The model: constants, weights, the `Model` type and its `predict`.
        #![allow(clippy::excessive_precision, clippy::unreadable_literal, clippy::too_many_arguments)]
        #unsafe_policy

        use zant_runtime as rt;

        pub use rt::Error;

        /// Bytes of the arena that holds every intermediate tensor (inside [`Model`]).
        pub const ARENA_BYTES: usize = #arena_bytes;
        /// Bytes of the weight blob (in flash / `.rodata`).
        pub const WEIGHT_BYTES: usize = #weight_bytes;
        #(#consts)*

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

/// `Inputs`/`Outputs` structs when a side has several tensors.
fn port_structs(api: &Api) -> TokenStream {
    let mut out = TokenStream::new();
    for (name, ports, several) in [
        ("Inputs", &api.inputs, api.inputs_struct),
        ("Outputs", &api.outputs, api.outputs_struct),
    ] {
        if !several {
            continue;
        }
        let name = ident(name);
        let fields = ports.iter().map(|p| {
            let (id, ty) = (&p.ident, array_type(&p.ty));
            let doc = format!(" `{}`: {}", p.ident, p.ty);
            quote! { #[doc = #doc] pub #id: #ty }
        });
        let inits = ports.iter().map(|p| {
            let (id, z, n) = (&p.ident, zero(p.ty.dtype), p.ty.n_elems());
            quote! { #id: [#z; #n] }
        });
        let doc = format!(
            " The model's {}, one field each.",
            name.to_string().to_lowercase()
        );
        out.extend(quote! {
            #[doc = #doc]
            #[derive(Clone, Debug, PartialEq)]
            pub struct #name { #(#fields,)* }

            impl #name {
                /// All zeros.
                pub const fn new() -> Self {
                    Self { #(#inits,)* }
                }
            }

            impl Default for #name {
                fn default() -> Self {
                    Self::new()
                }
            }
        });
    }
    out
}

/// The parameters of `predict`.
fn signature(api: &Api) -> (TokenStream, TokenStream) {
    let params = if api.inputs_struct {
        quote!(inputs: &Inputs)
    } else {
        let p = &api.inputs[0];
        let (id, ty) = (&p.ident, array_type(&p.ty));
        quote!(#id: &#ty)
    };
    let outputs = if api.outputs_struct {
        quote!(outputs: &mut Outputs)
    } else {
        let p = &api.outputs[0];
        let (id, ty) = (&p.ident, array_type(&p.ty));
        quote!(#id: &mut #ty)
    };
    (params, outputs)
}

/// An expression of type `&[T]` reading a value from where it lives.
fn read_expr(api: &Api, loc: Location, ty: &TensorType, _v: &ValueId) -> TokenStream {
    let t = elem_type(ty.dtype);
    let n = ty.n_elems();
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
fn node_block(
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
    };
    let call = node.op.emit(&ctx).map_err(err)?;
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
                let bytes = ty.n_bytes();
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
    let reads = if uses_reads { quote!(reads) } else { quote!(_) };
    let split = match regions.as_slice() {
        [] if uses_reads => quote!(let reads = rt::arena::Reads::all(arena);),
        [] => TokenStream::new(),
        [(region, offset, bytes)] if out_values.len() == 1 => {
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
        }
    })
}

/// Keeps node comments readable when a node has long attributes.
fn shorten(s: &str) -> String {
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

fn runner_rs(api: &Api, opts: &EmitOptions) -> TokenStream {
    let lib = ident(&opts.crate_name.replace('-', "_"));
    let n_inputs = api.inputs.len();
    let reads = api.inputs.iter().enumerate().map(|(i, p)| {
        let t = elem_type(p.ty.dtype);
        let n = p.ty.n_elems();
        let name = p.ident.to_string();
        let target = if api.inputs_struct {
            let id = &p.ident;
            quote!(inputs.#id)
        } else {
            quote!(input)
        };
        quote! {
            let values: Vec<#t> = read_npy(&paths[#i], #name)?;
            if values.len() != #n {
                return Err(format!("input `{}` has {} elements, the model takes {}", #name, values.len(), #n).into());
            }
            #target.copy_from_slice(&values);
        }
    });
    let writes = api.outputs.iter().enumerate().map(|(k, p)| {
        let shape: Vec<u64> = p.ty.shape.iter().map(|&d| d as u64).collect();
        let src = if api.outputs_struct {
            let id = &p.ident;
            quote!(&outputs.#id[..])
        } else {
            quote!(&output[..])
        };
        let file = format!("output_{k}.npy");
        quote! { write_npy(&out_dir.join(#file), &[#(#shape),*], #src)?; }
    });
    let (input_alloc, call_input) = if api.inputs_struct {
        (
            quote!(let mut inputs = Box::new(#lib::Inputs::new());),
            quote!(&inputs),
        )
    } else {
        let ty = array_type(&api.inputs[0].ty);
        let n = api.inputs[0].ty.n_elems();
        let z = zero(api.inputs[0].ty.dtype);
        (
            quote!(let mut input: Box<#ty> = vec![#z; #n].into_boxed_slice().try_into().expect("length");),
            quote!(&input),
        )
    };
    let (output_alloc, call_output) = if api.outputs_struct {
        (
            quote!(let mut outputs = Box::new(#lib::Outputs::new());),
            quote!(&mut outputs),
        )
    } else {
        let ty = array_type(&api.outputs[0].ty);
        let n = api.outputs[0].ty.n_elems();
        let z = zero(api.outputs[0].ty.dtype);
        (
            quote!(let mut output: Box<#ty> = vec![#z; #n].into_boxed_slice().try_into().expect("length");),
            quote!(&mut output),
        )
    };
    quote! {
        //! The runner: reads the inputs, runs the model, writes the outputs.

        use std::path::{Path, PathBuf};
        use std::sync::Mutex;

        type BoxError = Box<dyn std::error::Error>;

        /// The model lives in a static: its arena can be larger than a thread's stack.
        static MODEL: Mutex<#lib::Model> = Mutex::new(#lib::Model::new());

        fn read_npy<T: npyz::Deserialize>(path: &Path, name: &str) -> Result<Vec<T>, BoxError> {
            let file = std::fs::File::open(path).map_err(|e| format!("input `{name}`: {}: {e}", path.display()))?;
            let npy = npyz::NpyFile::new(std::io::BufReader::new(file))
                .map_err(|e| format!("input `{name}`: {}: {e}", path.display()))?;
            Ok(npy.into_vec::<T>().map_err(|e| format!("input `{name}`: {}: {e}", path.display()))?)
        }

        fn write_npy<T: npyz::AutoSerialize + Copy>(path: &Path, shape: &[u64], data: &[T]) -> Result<(), BoxError> {
            use npyz::WriterBuilder;
            let file = std::io::BufWriter::new(std::fs::File::create(path)?);
            let mut writer = npyz::WriteOptions::new().default_dtype().shape(shape).writer(file).begin_nd()?;
            writer.extend(data.iter().copied())?;
            writer.finish()?;
            Ok(())
        }

        pub fn main() -> Result<(), BoxError> {
            let mut paths = Vec::new();
            let mut out_dir = None;
            let mut args = std::env::args_os().skip(1);
            while let Some(arg) = args.next() {
                if arg == "-o" {
                    out_dir = Some(PathBuf::from(args.next().ok_or("-o needs a folder")?));
                } else {
                    paths.push(PathBuf::from(arg));
                }
            }
            let out_dir = out_dir.ok_or("usage: runner INPUT.npy... -o OUT_DIR")?;
            if paths.len() != #n_inputs {
                return Err(format!("the model takes {} input(s), {} given", #n_inputs, paths.len()).into());
            }
            #input_alloc
            #(#reads)*
            #output_alloc
            MODEL.lock().map_err(|_| "model lock poisoned")?.predict(#call_input, #call_output).map_err(|e| e.to_string())?;
            std::fs::create_dir_all(&out_dir)?;
            #(#writes)*
            Ok(())
        }
    }
}
