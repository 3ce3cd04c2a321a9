//! The harness crates `zantc bench` builds: a `main.rs` per target from `templates/`, the
//! model as one module (the build.rs route's `emit_module`), an `io.rs` generated for the
//! model's inputs and outputs, and the inputs as little-endian `.bin` files that the
//! harness embeds with `include_bytes!`.
//!
//! The harness prints each output as `output K HEX` lines (the little-endian bytes of its
//! elements, possibly over several lines), which [`parse_outputs`] reads back.

use std::path::Path;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::{BenchError, OptLevel, Prepared};
use crate::emit::{self, GeneratedFile, WeightsRef};
use crate::ir::{Data, Tensor, TensorType};
use crate::ops::elem_type;
use crate::Error;

/// The Rust of the harnesses that does not depend on the model.
pub(super) const HOST_MAIN: &str = include_str!("templates/host_main.rs");
pub(super) const CORTEX_M_MAIN: &str = include_str!("templates/cortex_m_main.rs");
pub(super) const RISCV_MAIN: &str = include_str!("templates/riscv_main.rs");
/// The report lines both microcontroller harnesses print (`include!`d by their `main.rs`).
pub(super) const MCU_REPORT: &str = include_str!("templates/mcu_report.rs");
pub(super) const MCU_BUILD: &str = include_str!("templates/mcu_build.rs");

/// The harness's package (and binary) name.
pub(super) fn package_name(prepared: &Prepared) -> String {
    format!("zant-bench-{}", prepared.name)
}

/// The harness crate's name in Rust paths (`zant_bench_mnist_8`).
pub(super) fn crate_ident(prepared: &Prepared) -> String {
    package_name(prepared).replace('-', "_")
}

/// `[profile.opt-N]` for every opt level, on top of the release profile every harness
/// uses, with the `panic` strategy given. Nothing is stripped: the code attribution reads
/// the symbol table.
///
/// `vectorising` is for targets whose kernels rely on LLVM's loop and SLP vectorisers
/// (x86_64, AArch64): there a level with a runtime override (`z/3`) also turns LTO off.
/// Fat LTO defers vectorisation to the link step, which runs at the crate's "z", where
/// rustc leaves the vectorisers out, so the kernels would lose it however they were
/// compiled. Without LTO the runtime is optimised, vectorisers included, on its own.
pub(super) fn profiles(opt_levels: &[OptLevel], panic: &str, vectorising: bool) -> String {
    let mut s = format!(
        "[profile.release]\ncodegen-units = 1\nlto = true\npanic = \"{panic}\"\ndebug = false\nstrip = false\n",
    );
    for opt in opt_levels {
        s.push_str(&format!(
            "\n[profile.{}]\ninherits = \"release\"\nopt-level = {}\n",
            opt.profile(),
            opt.toml_value()
        ));
        if let Some(runtime) = opt.runtime_toml_value() {
            if vectorising {
                s.push_str("lto = false\n");
            }
            s.push_str(&format!(
                "\n[profile.{}.package.zant-runtime]\nopt-level = {runtime}\n",
                opt.profile()
            ));
        }
    }
    s
}

/// The files under `src/` that both targets share: the model module, its weights, `io.rs`
/// and the inputs. `weights_section` puts the weight blob in a linker section.
pub(super) fn model_files(
    prepared: &Prepared,
    weights_section: Option<&str>,
) -> Result<Vec<GeneratedFile>, Error> {
    let compiled = &prepared.compiled;
    let weights = WeightsRef {
        path: "weights.bin".into(),
        section: weights_section.map(str::to_string),
    };
    let model = emit::emit_module(
        &compiled.graph,
        &compiled.plan,
        "model",
        &weights,
        emit::ProfileApi::Feature,
    )?;
    let mut files = vec![
        file("src/model.rs", model.into_bytes()),
        file(
            "src/weights.bin",
            emit::weight_blob(&compiled.graph, &compiled.plan),
        ),
        file("src/io.rs", emit::format(&io_rs(prepared)).into_bytes()),
    ];
    for (i, input) in prepared.inputs.iter().enumerate() {
        files.push(file(
            &format!("src/input_{i}.bin"),
            input.data.to_le_bytes(),
        ));
    }
    Ok(files)
}

pub(super) fn file(path: &str, contents: impl Into<Vec<u8>>) -> GeneratedFile {
    GeneratedFile {
        path: path.into(),
        contents: contents.into(),
    }
}

/// `src/io.rs`: the model's input and output buffers in one struct, decoding the embedded
/// inputs and handing out the outputs' bytes.
fn io_rs(prepared: &Prepared) -> TokenStream {
    let graph = &prepared.compiled.graph;
    let ports = emit::port_names(graph);
    let input_types: Vec<&TensorType> = graph
        .inputs
        .iter()
        .map(|&id| &graph.node(id).outputs[0].ty)
        .collect();
    let output_types = &prepared.output_types;

    // One field per side: the model's `Inputs`/`Outputs` struct, or a bare array.
    let side = |is_struct: bool, struct_name: &str, field: &str, ty: &TensorType| {
        let field = format_ident!("{field}");
        if is_struct {
            let name = format_ident!("{struct_name}");
            (
                quote!(#field: model::#name),
                quote!(#field: model::#name::new()),
            )
        } else {
            let t = elem_type(ty.dtype);
            let n = ty.n_elems();
            let zero = if ty.dtype.is_float() {
                quote!(0.0)
            } else {
                quote!(0)
            };
            (quote!(#field: [#t; #n]), quote!(#field: [#zero; #n]))
        }
    };
    let (input_field, input_init) = side(ports.inputs_struct, "Inputs", "inputs", input_types[0]);
    let (output_field, output_init) =
        side(ports.outputs_struct, "Outputs", "outputs", &output_types[0]);

    let place = |is_struct: bool, side: &str, name: &str| {
        let side = format_ident!("{side}");
        if is_struct {
            let name = format_ident!("{name}");
            quote!(self.#side.#name)
        } else {
            quote!(self.#side)
        }
    };
    // On the Cortex-M7 the inputs sit in RAM, where QEMU loads them with the image, and
    // not in flash: a firmware reads its input from a sensor, so the flash figure leaves
    // the benchmark's input out.
    let statics = input_types.iter().enumerate().map(|(i, ty)| {
        let name = format_ident!("INPUT_{i}");
        let file = format!("input_{i}.bin");
        let n_bytes = ty.n_bytes();
        quote! {
            #[cfg_attr(target_os = "none", link_section = ".zant_input")]
            static #name: [u8; #n_bytes] = *include_bytes!(#file);
        }
    });
    let loads = input_types.iter().enumerate().map(|(i, ty)| {
        let bytes = format_ident!("INPUT_{i}");
        let dst = place(ports.inputs_struct, "inputs", &ports.inputs[i]);
        let t = elem_type(ty.dtype);
        let size = ty.dtype.size();
        quote! {
            for (x, b) in #dst.iter_mut().zip(#bytes.chunks_exact(#size)) {
                let mut a = [0u8; #size];
                a.copy_from_slice(b);
                *x = #t::from_le_bytes(a);
            }
        }
    });
    let outputs = (0..output_types.len()).map(|k| {
        let src = place(ports.outputs_struct, "outputs", &ports.outputs[k]);
        quote! {
            for x in #src.iter() {
                f(#k, &x.to_le_bytes());
            }
        }
    });
    let (input_arg, output_arg) = (quote!(&self.inputs), quote!(&mut self.outputs));
    quote! {
        //! The model's inputs and outputs for the benchmark (generated by `zantc bench`).

        use crate::model;

        #(#statics)*

        /// The input and output buffers of one inference.
        pub struct Io {
            #input_field,
            #output_field,
        }

        impl Io {
            pub const fn new() -> Self {
                Self { #input_init, #output_init }
            }

            /// Decodes the embedded little-endian inputs.
            pub fn load(&mut self) {
                #(#loads)*
            }

            /// One inference. Never inlined, so the image has one symbol that holds the
            /// model's `predict` (which LTO inlines here): the root of the bench's code
            /// attribution.
            #[inline(never)]
            pub fn predict(&mut self, model: &mut model::Model) -> Result<(), model::Error> {
                model.predict(#input_arg, #output_arg)
            }

            /// One inference through `predict_profiled`, `probe` called between layers.
            #[cfg(feature = "profile")]
            #[inline(never)]
            pub fn predict_profiled(
                &mut self,
                model: &mut model::Model,
                probe: &mut impl FnMut(usize),
            ) -> Result<(), model::Error> {
                model.predict_profiled(#input_arg, #output_arg, probe)
            }

            /// Calls `f(k, bytes)` with the little-endian bytes of every element of every
            /// output `k`, in order.
            pub fn output_bytes(&self, mut f: impl FnMut(usize, &[u8])) {
                #(#outputs)*
            }
        }
    }
}

/// Reads the `output K HEX` lines a harness printed back into tensors of `types`.
pub(super) fn parse_outputs(text: &str, types: &[TensorType]) -> Result<Vec<Tensor>, Error> {
    let mut bytes = vec![Vec::new(); types.len()];
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("output ") else {
            continue;
        };
        let (k, hex) = rest.split_once(' ').unwrap_or((rest, ""));
        let k: usize = k
            .parse()
            .ok()
            .filter(|&k| k < types.len())
            .ok_or_else(|| BenchError::HarnessLine(line.to_string()))?;
        for pair in hex.trim().as_bytes().chunks(2) {
            let byte = std::str::from_utf8(pair)
                .ok()
                .and_then(|p| u8::from_str_radix(p, 16).ok())
                .ok_or_else(|| BenchError::HarnessHex(line.to_string()))?;
            bytes[k].push(byte);
        }
    }
    types
        .iter()
        .zip(bytes)
        .enumerate()
        .map(|(k, (ty, b))| {
            Data::from_le_bytes(ty.dtype, &b)
                .filter(|d| d.len() == ty.n_elems())
                .map(|d| Tensor::new(ty.shape.clone(), d))
                .ok_or_else(|| {
                    BenchError::HarnessOutput {
                        output: k,
                        len: b.len(),
                        ty: ty.clone(),
                    }
                    .into()
                })
        })
        .collect()
}

/// `key=value` from a harness's output.
pub(super) fn value<T: std::str::FromStr>(text: &str, key: &str) -> Result<T, Error> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| {
            BenchError::HarnessValue {
                key: key.to_string(),
                text: text.to_string(),
            }
            .into()
        })
}

/// Writes a harness crate into `dir` (files that did not change keep their dates, so
/// cargo rebuilds only what changed).
pub(super) fn write(dir: &Path, files: &[GeneratedFile]) -> Result<(), Error> {
    crate::write_files(dir, files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::DType;

    #[test]
    fn outputs_round_trip_through_hex() {
        let types = [
            TensorType::new(DType::F32, vec![1, 2]),
            TensorType::new(DType::I64, vec![1]),
        ];
        let text = "time=1\noutput 0 0000803f\noutput 0 000000c0\noutput 1 0700000000000000\n";
        let outputs = parse_outputs(text, &types).unwrap();
        assert_eq!(outputs[0].data.to_f64_vec(), vec![1.0, -2.0]);
        assert_eq!(outputs[1].data.to_i64_vec(), vec![7]);
        let err = parse_outputs("output 0 0000803f\n", &types).unwrap_err();
        assert!(err.to_string().contains("4 bytes for output 0"), "{err}");
    }

    #[test]
    fn values() {
        assert_eq!(
            value::<u64>("a=1\nheap_allocs=0\n", "heap_allocs").unwrap(),
            0
        );
        assert!(value::<u64>("a=1\n", "b").is_err());
    }
}
