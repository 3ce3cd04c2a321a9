//! `src/bin/runner/`: the optional `.npy` command-line runner (feature `runner`).
//!
//! The runner reads what `numpy.save` writes: any element type the model takes, in C or
//! Fortran order, booleans as `|b1` (or `|u1`); it writes booleans as `|b1` too.

use proc_macro2::TokenStream;
use quote::quote;

use crate::ir::DType;
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
        // Booleans are bytes in the model and `|b1` in numpy; the reader takes both.
        let read = if p.ty.dtype == DType::Bool {
            quote!(read_bool_npy(&paths[#i], #name)?)
        } else {
            quote!(read_npy::<#t>(&paths[#i], #name)?)
        };
        quote! {
            let values: Vec<#t> = #read;
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
        // A boolean output is written as numpy's `|b1`, so `np.load` gives `dtype=bool`.
        if p.ty.dtype == DType::Bool {
            quote! {
                let bools: Vec<bool> = (#src).iter().map(|&b| b != 0).collect();
                write_npy(&out_dir.join(#file), &[#(#shape),*], &bools)?;
            }
        } else {
            quote! { write_npy(&out_dir.join(#file), &[#(#shape),*], #src)?; }
        }
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
    // Only a model with a boolean input reads `|b1` files: an unused function in the
    // runner would draw a warning.
    let bool_reader = if api.inputs.iter().any(|p| p.ty.dtype == DType::Bool) {
        quote! {
            /// A boolean input as the model's bytes (0 or 1), from numpy's `|b1` or from `|u1`.
            fn read_bool_npy(path: &Path, name: &str) -> Result<Vec<u8>, BoxError> {
                let npy = open_npy(path, name)?;
                let is_bool = matches!(npy.dtype(), npyz::DType::Plain(t) if t.type_char() == npyz::TypeChar::Bool);
                if is_bool {
                    let values: Vec<bool> = npy_values(npy, path, name)?;
                    Ok(values.into_iter().map(u8::from).collect())
                } else {
                    let values: Vec<u8> = npy_values(npy, path, name)?;
                    Ok(values.into_iter().map(|b| u8::from(b != 0)).collect())
                }
            }
        }
    } else {
        TokenStream::new()
    };
    quote! {
        //! The runner: reads the inputs, runs the model, writes the outputs.

        use std::path::{Path, PathBuf};
        use std::sync::Mutex;

        type BoxError = Box<dyn std::error::Error>;

        /// The model lives in a static: its arena can be larger than a thread's stack.
        static MODEL: Mutex<#lib::Model> = Mutex::new(#lib::Model::new());

        type Npy = npyz::NpyFile<std::io::BufReader<std::fs::File>>;

        fn open_npy(path: &Path, name: &str) -> Result<Npy, BoxError> {
            let file = std::fs::File::open(path).map_err(|e| format!("input `{name}`: {}: {e}", path.display()))?;
            Ok(npyz::NpyFile::new(std::io::BufReader::new(file))
                .map_err(|e| format!("input `{name}`: {}: {e}", path.display()))?)
        }

        /// The values of an opened `.npy` file in C order, whatever order numpy wrote.
        fn npy_values<T: npyz::Deserialize + Copy>(npy: Npy, path: &Path, name: &str) -> Result<Vec<T>, BoxError> {
            let shape = npy.shape().to_vec();
            let fortran = npy.order() == npyz::Order::Fortran;
            let values = npy.into_vec::<T>().map_err(|e| format!("input `{name}`: {}: {e}", path.display()))?;
            Ok(if fortran && shape.len() > 1 { c_order(&values, &shape) } else { values })
        }

        /// Reorders values stored with the first axis fastest (numpy's `fortran_order`)
        /// into the last-axis-fastest order the model reads.
        fn c_order<T: Copy>(values: &[T], shape: &[u64]) -> Vec<T> {
            let dims: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
            let mut index = vec![0usize; dims.len()];
            let mut out = Vec::with_capacity(values.len());
            for _ in 0..values.len() {
                let mut at = 0;
                for axis in (0..dims.len()).rev() {
                    at = at * dims[axis] + index[axis];
                }
                out.push(values[at]);
                for axis in (0..dims.len()).rev() {
                    index[axis] += 1;
                    if index[axis] < dims[axis] {
                        break;
                    }
                    index[axis] = 0;
                }
            }
            out
        }

        fn read_npy<T: npyz::Deserialize + Copy>(path: &Path, name: &str) -> Result<Vec<T>, BoxError> {
            npy_values(open_npy(path, name)?, path, name)
        }

        #bool_reader

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
