//! `src/bin/runner/`: the optional `.npy` command-line runner (feature `runner`).

use proc_macro2::TokenStream;
use quote::quote;

use crate::ops::elem_type;

use super::api::*;
use super::*;

/// `src/bin/runner/main.rs`: the runner's entry point; the code is in `run.rs`.
pub(super) fn runner_shell() -> TokenStream {
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

pub(super) fn runner_rs(api: &Api, opts: &EmitOptions) -> TokenStream {
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
