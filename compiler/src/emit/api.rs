//! The generated API: the names, types and port structs of the graph's inputs and outputs.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};

use crate::ir::{DType, Graph, TensorType};
use crate::ops::elem_type;

use super::*;

/// The names the generated API gives the graph's inputs and outputs.
pub(super) struct Api {
    pub(super) inputs: Vec<Port>,
    pub(super) outputs: Vec<Port>,
    /// Several inputs (or outputs) are passed as one struct.
    pub(super) inputs_struct: bool,
    pub(super) outputs_struct: bool,
}

pub(super) struct Port {
    pub(super) ident: Ident,
    pub(super) konst: Ident,
    /// The type, whose data-dependent axis (if any) is a capacity.
    pub(super) ty: TensorType,
    /// A graph output whose length along an axis depends on the data
    /// ([`crate::ops::OpKind::bounded`]).
    pub(super) bound: Option<PortBound>,
}

/// The data-dependent axis of a graph output, and the `Outputs` field that says how long
/// a run made it.
pub(super) struct PortBound {
    pub(super) axis: usize,
    pub(super) count: Ident,
}

impl PortBound {
    /// The elements per entry along the axis ([`entry_len`]).
    pub(super) fn stride(&self, ty: &TensorType) -> usize {
        entry_len(&ty.shape, self.axis)
    }
}

/// The elements of one entry along `axis` of a data-dependent output of capacity shape
/// `shape`: the product of the other dimensions. `count` entries fill the first
/// `count × entry_len` elements of its array.
pub fn entry_len(shape: &[usize], axis: usize) -> usize {
    shape
        .iter()
        .enumerate()
        .filter(|&(a, _)| a != axis)
        .map(|(_, &d)| d)
        .product()
}

pub(super) fn ident(s: &str) -> Ident {
    Ident::new(s, Span::call_site())
}

impl Api {
    pub(super) fn new(graph: &Graph) -> Self {
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
                bound: None,
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
            .map(|o| {
                let mut p = port(&mut namer, &o.name, graph.ty(o.value));
                if let Some(b) = graph.bound_of(o.value) {
                    p.bound = Some(PortBound {
                        axis: b.axis,
                        count: ident(&namer.snake(&format!("{}_count", o.name))),
                    });
                }
                p
            })
            .collect();
        // The count of a data-dependent output is a field of `Outputs`.
        let bounded = outputs.iter().any(|p| p.bound.is_some());
        Self {
            inputs_struct: inputs.len() != 1,
            outputs_struct: outputs.len() != 1 || bounded,
            inputs,
            outputs,
        }
    }

    /// `&[T]` for graph input `i`.
    pub(super) fn input_expr(&self, i: usize) -> TokenStream {
        let id = &self.inputs[i].ident;
        if self.inputs_struct {
            quote!(&inputs.#id[..])
        } else {
            quote!(&#id[..])
        }
    }

    /// The count field of bounded graph output `i` (`outputs.y_count`).
    pub(super) fn count_place(&self, i: usize) -> Option<TokenStream> {
        let count = &self.outputs[i].bound.as_ref()?.count;
        Some(quote!(outputs.#count))
    }

    /// The place of graph output `i`, without a borrow.
    pub(super) fn output_place(&self, i: usize) -> TokenStream {
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
    /// For each graph output whose length along an axis depends on the data: the
    /// `Outputs` field holding that length, and the axis. Its entries are packed at the
    /// front of the output array in C order.
    pub output_counts: Vec<Option<(String, usize)>>,
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
        output_counts: api
            .outputs
            .iter()
            .map(|p| p.bound.as_ref().map(|b| (b.count.to_string(), b.axis)))
            .collect(),
    }
}

/// A `[T; N]` array type for a port: `N` storage units of `T` (a narrow type's bits, see
/// [`DType::rust_name`]).
pub(super) fn array_type(ty: &TensorType) -> TokenStream {
    let t = elem_type(ty.dtype);
    let n = ty.storage_len();
    quote!([#t; #n])
}

pub(super) fn zero(dtype: DType) -> TokenStream {
    if matches!(dtype, DType::F32 | DType::F64) {
        let t = elem_type(dtype);
        quote!(0 as #t)
    } else {
        quote!(0)
    }
}

/// How a narrow type's elements are stored, for the docs of the generated API.
pub(super) fn storage_note(dtype: DType) -> &'static str {
    match dtype {
        DType::F16 => "; IEEE binary16 bits, see `zant_runtime::narrow::f16_from_f32`",
        DType::BF16 => "; bfloat16 bits, see `zant_runtime::narrow::bf16_from_f32`",
        d if d.is_packed() => "; packed as ONNX packs it, the first element in the low bits",
        d if d.narrow().is_some() => "; one code a byte, as ONNX stores it",
        _ => "",
    }
}

/// `Inputs`/`Outputs` structs when a side has several tensors.
pub(super) fn port_structs(api: &Api) -> TokenStream {
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
            let doc = format!(" `{}`: {}{}", p.ident, p.ty, storage_note(p.ty.dtype));
            let Some(b) = &p.bound else {
                return quote! { #[doc = #doc] pub #id: #ty };
            };
            let count = &b.count;
            let doc = format!(
                " `{}`: {}{}, whose axis {} depends on the data: {} is the most it holds, \
                 `{}` how many a run produced, packed at the front in C order.",
                p.ident,
                p.ty,
                storage_note(p.ty.dtype),
                b.axis,
                p.ty.shape[b.axis],
                count
            );
            let count_doc = format!(
                " How many entries along axis {} of `{}` the last run produced.",
                b.axis, p.ident
            );
            quote! {
                #[doc = #doc] pub #id: #ty,
                #[doc = #count_doc] pub #count: usize
            }
        });
        let inits = ports.iter().map(|p| {
            let (id, z, n) = (&p.ident, zero(p.ty.dtype), p.ty.storage_len());
            match &p.bound {
                None => quote! { #id: [#z; #n] },
                Some(b) => {
                    let count = &b.count;
                    quote! { #id: [#z; #n], #count: 0 }
                }
            }
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
/// The names of [`signature`]'s parameters, to pass them on.
pub(super) fn argument_names(api: &Api) -> (TokenStream, TokenStream) {
    let inputs = if api.inputs_struct {
        quote!(inputs)
    } else {
        let id = &api.inputs[0].ident;
        quote!(#id)
    };
    let outputs = if api.outputs_struct {
        quote!(outputs)
    } else {
        let id = &api.outputs[0].ident;
        quote!(#id)
    };
    (inputs, outputs)
}

pub(super) fn signature(api: &Api) -> (TokenStream, TokenStream) {
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
