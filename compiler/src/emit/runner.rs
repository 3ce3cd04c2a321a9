//! `src/bin/runner/`: the optional `.npy` command-line runner (feature `runner`).

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
        if p.ty.dtype == DType::Bool {
            // numpy writes `|b1`; any non-zero byte is true.
            return quote! {
                let bytes = read_raw_npy(&paths[#i], #name, 1)?;
                if bytes.len() != #n {
                    return Err(format!("input `{}` has {} elements, the model takes {}", #name, bytes.len(), #n).into());
                }
                for (out, &b) in #target.iter_mut().zip(&bytes) {
                    *out = u8::from(b != 0);
                }
            };
        }
        if let Some(format) = p.ty.dtype.narrow() {
            let unit = p.ty.dtype.size();
            let check = quote! {
                if bytes.len() != #n * #unit {
                    return Err(format!("input `{}` has {} bytes of data, the model takes {} elements of {} bytes", #name, bytes.len(), #n, #unit).into());
                }
            };
            return if unit == 2 {
                quote! {
                    let bytes = read_raw_npy(&paths[#i], #name, #unit)?;
                    #check
                    for (out, c) in #target.iter_mut().zip(bytes.chunks_exact(2)) {
                        *out = u16::from_le_bytes([c[0], c[1]]);
                    }
                }
            } else {
                quote! {
                    let bytes = read_raw_npy(&paths[#i], #name, #unit)?;
                    #check
                    rt::narrow::pack(#format, &bytes, &mut #target[..]);
                }
            };
        }
        quote! {
            let values: Vec<#t> = read_npy(&paths[#i], #name)?;
            if values.len() != #n {
                return Err(format!("input `{}` has {} elements, the model takes {}", #name, values.len(), #n).into());
            }
            #target.copy_from_slice(&values);
        }
    });
    let writes = api.outputs.iter().enumerate().map(|(k, p)| {
        let mut shape: Vec<TokenStream> =
            p.ty.shape
                .iter()
                .map(|&d| {
                    let d = d as u64;
                    quote!(#d)
                })
                .collect();
        let mut src = if api.outputs_struct {
            let id = &p.ident;
            quote!(&outputs.#id[..])
        } else {
            quote!(&output[..])
        };
        // A data-dependent output is written as long as the run made it.
        if let Some(b) = &p.bound {
            let (id, count, stride) = (&p.ident, &b.count, b.stride(&p.ty));
            shape[b.axis] = quote!(outputs.#count as u64);
            src = quote!(&outputs.#id[..outputs.#count * #stride]);
        }
        let file = format!("output_{k}.npy");
        if p.ty.dtype == DType::Bool {
            return quote! { write_raw_npy(&out_dir.join(#file), "|b1", &[#(#shape),*], #src)?; };
        }
        if let Some(format) = p.ty.dtype.narrow() {
            let descr = p.ty.dtype.npy_descr();
            let n = p.ty.n_elems();
            return if p.ty.dtype.size() == 2 {
                quote! {
                    let bytes: Vec<u8> = (#src).iter().flat_map(|v| v.to_le_bytes()).collect();
                    write_raw_npy(&out_dir.join(#file), #descr, &[#(#shape),*], &bytes)?;
                }
            } else {
                quote! {
                    let mut bytes = vec![0u8; #n];
                    rt::narrow::unpack(#format, #src, &mut bytes);
                    write_raw_npy(&out_dir.join(#file), #descr, &[#(#shape),*], &bytes)?;
                }
            };
        }
        quote! { write_npy(&out_dir.join(#file), &[#(#shape),*], #src)?; }
    });
    // Narrow types (float16, bfloat16, float8, int4, …) and booleans are read and written
    // as their raw storage units, one element each, under the type string numpy (`|b1`,
    // `<f2`) or `ml_dtypes` (`V` bytes) gives them: npyz has no narrow types and reads
    // `|b1` only as `bool`.
    // Only the helpers some port uses, so the runner builds without warnings.
    let raw = |p: &Port| p.ty.dtype == DType::Bool || p.ty.dtype.narrow().is_some();
    let wide = |ports: &[Port]| ports.iter().any(|p| !raw(p));
    let read_npy = if wide(&api.inputs) {
        quote! {
        /// The values of a `.npy` file in C order, whatever order numpy wrote.
        fn read_npy<T: npyz::Deserialize + Copy>(path: &Path, name: &str) -> Result<Vec<T>, BoxError> {
            let file = std::fs::File::open(path).map_err(|e| format!("input `{name}`: {}: {e}", path.display()))?;
            let npy = npyz::NpyFile::new(std::io::BufReader::new(file))
                .map_err(|e| format!("input `{name}`: {}: {e}", path.display()))?;
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

        }
    } else {
        TokenStream::new()
    };
    let write_npy = if wide(&api.outputs) {
        quote! {
        fn write_npy<T: npyz::AutoSerialize + Copy>(path: &Path, shape: &[u64], data: &[T]) -> Result<(), BoxError> {
            use npyz::WriterBuilder;
            let file = std::io::BufWriter::new(std::fs::File::create(path)?);
            let mut writer = npyz::WriteOptions::new().default_dtype().shape(shape).writer(file).begin_nd()?;
            writer.extend(data.iter().copied())?;
            writer.finish()?;
            Ok(())
        }

        }
    } else {
        TokenStream::new()
    };
    let narrow = |ports: &[Port]| ports.iter().any(raw);
    // The packed types are packed and unpacked by the runtime, whose parameter types
    // write themselves as `rt::…`.
    let packed = api
        .inputs
        .iter()
        .chain(&api.outputs)
        .any(|p| p.ty.dtype.is_packed());
    let use_rt = if packed {
        quote!(
            use zant_runtime as rt;
        )
    } else {
        TokenStream::new()
    };
    let read_raw_npy = if narrow(&api.inputs) {
        quote! {
            fn read_raw_npy(path: &Path, name: &str, unit: usize) -> Result<Vec<u8>, BoxError> {
                use std::io::Read;
                let context = |e: &dyn std::fmt::Display| format!("input `{name}`: {}: {e}", path.display());
                let file = std::fs::File::open(path).map_err(|e| context(&e))?;
                let mut reader = std::io::BufReader::new(file);
                let header = npyz::NpyHeader::from_reader(&mut reader).map_err(|e| context(&e))?;
                let descr = header.dtype().descr();
                let size = descr.trim_matches('\'').get(2..).and_then(|s| s.parse::<usize>().ok());
                if size != Some(unit) {
                    return Err(context(&format!("type {descr} does not have {unit}-byte elements")).into());
                }
                let mut bytes = Vec::new();
                reader.read_to_end(&mut bytes).map_err(|e| context(&e))?;
                Ok(bytes)
            }

        }
    } else {
        TokenStream::new()
    };
    let write_raw_npy = if narrow(&api.outputs) {
        quote! {
            fn write_raw_npy(path: &Path, descr: &str, shape: &[u64], bytes: &[u8]) -> Result<(), BoxError> {
                let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
                let shape = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
                let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
                while (10 + header.len() + 1) % 64 != 0 {
                    header.push(' ');
                }
                header.push('\n');
                let mut out = b"\x93NUMPY\x01\x00".to_vec();
                out.extend((header.len() as u16).to_le_bytes());
                out.extend(header.as_bytes());
                out.extend(bytes);
                std::fs::write(path, out)?;
                Ok(())
            }
        }
    } else {
        TokenStream::new()
    };
    let (input_alloc, call_input) = if api.inputs_struct {
        (
            quote!(let mut inputs = Box::new(#lib::Inputs::new());),
            quote!(&inputs),
        )
    } else {
        let ty = array_type(&api.inputs[0].ty);
        let n = api.inputs[0].ty.storage_len();
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
        let n = api.outputs[0].ty.storage_len();
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
        #use_rt

        type BoxError = Box<dyn std::error::Error>;

        /// The model lives in a static: its arena can be larger than a thread's stack.
        static MODEL: Mutex<#lib::Model> = Mutex::new(#lib::Model::new());

        #read_npy
        #write_npy
        #read_raw_npy
        #write_raw_npy

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
