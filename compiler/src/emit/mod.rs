//! The back end: `(&Graph, &MemoryPlan)` → the files of a standalone `no_std` crate.
//!
//! All Rust is built with `quote!` and formatted once, in [`format`]. Emission cannot fail
//! on IR that passed `ir::verify`, except for an op whose emitter refuses a case; that
//! comes back as an error naming the node.

mod api;
mod model;
mod namer;
mod runner;
mod shell;

use std::path::PathBuf;

use proc_macro2::TokenStream;
use quote::quote;

pub use api::{entry_len, port_names, PortNames};
pub use model::{profile_layers, ProfileLayer};
pub use namer::{to_snake, Namer};

use api::{ident, Api};
use model::model_rs;
use runner::{runner_rs, runner_shell};
use shell::{cargo_toml, lib_shell};

use crate::ir::Graph;
use crate::ops::NodeError;
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

/// Emits the crate's files.
pub fn emit(
    graph: &Graph,
    plan: &MemoryPlan,
    opts: &EmitOptions,
) -> Result<Vec<GeneratedFile>, EmitError> {
    let api = Api::new(graph);
    let lib = format(&lib_shell(opts));
    let model = format(&model_rs(
        graph,
        plan,
        &api,
        &WeightsRef::default(),
        ProfileApi::Feature,
    )?);
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
pub(super) const COMMENT_MARK: &str = "zant-comment:";

/// A `// text` comment for a statement position.
pub(super) fn comment(text: &str) -> TokenStream {
    let doc = format!("{COMMENT_MARK} {text}");
    quote!(#[doc = #doc])
}

/// Whether the generated code offers `Model::predict_profiled` and `LAYERS`, the per-layer
/// probe (`zantc bench --per-layer`, docs/build-rs.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProfileApi {
    /// Not at all (the default of the build.rs route).
    #[default]
    Off,
    /// Behind the `profile` cargo feature of the crate that compiles the code (the crate
    /// route declares it).
    Feature,
    /// Always (the build.rs route with `Builder::profile(true)`).
    On,
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
    profile: ProfileApi,
) -> Result<String, EmitError> {
    let api = Api::new(graph);
    let body = model_rs(graph, plan, &api, weights, profile)?;
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
