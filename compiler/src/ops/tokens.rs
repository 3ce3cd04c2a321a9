//! Small token builders the emitters share.

use proc_macro2::TokenStream;
use quote::quote;

use crate::tensor::DType;

/// `shape` as a `&[usize]` literal.
pub fn shape_tokens(shape: &[usize]) -> TokenStream {
    quote! { &[#(#shape),*] }
}

/// The runtime element type for a dtype.
pub fn elem_type(dtype: DType) -> TokenStream {
    let ident = proc_macro2::Ident::new(dtype.rust_name(), proc_macro2::Span::call_site());
    quote! { #ident }
}

/// An `f32` literal, spelling out the non-finite values `quote!` cannot.
pub fn f32_tokens(v: f32) -> TokenStream {
    if v.is_nan() {
        quote!(f32::NAN)
    } else if v == f32::INFINITY {
        quote!(f32::INFINITY)
    } else if v == f32::NEG_INFINITY {
        quote!(f32::NEG_INFINITY)
    } else {
        let lit = proc_macro2::Literal::f32_suffixed(v);
        quote!(#lit)
    }
}

/// A fused activation as runtime tokens.
pub fn activation_tokens(act: zant_runtime::Activation) -> TokenStream {
    use zant_runtime::Activation;
    match act {
        Activation::None => quote!(rt::Activation::None),
        Activation::Relu => quote!(rt::Activation::Relu),
        Activation::Clip { min, max } => {
            let (min, max) = (f32_tokens(min), f32_tokens(max));
            quote!(rt::Activation::Clip { min: #min, max: #max })
        }
        Activation::Sigmoid => quote!(rt::Activation::Sigmoid),
        Activation::Swish { alpha } => {
            let alpha = f32_tokens(alpha);
            quote!(rt::Activation::Swish { alpha: #alpha })
        }
    }
}

/// Drops the `usize` suffix `quote!` puts on integer literals.
pub fn unsuffix(tokens: TokenStream) -> TokenStream {
    use proc_macro2::{Group, Literal, TokenTree};
    tokens
        .into_iter()
        .map(|tt| match tt {
            TokenTree::Group(g) => {
                let mut ng = Group::new(g.delimiter(), unsuffix(g.stream()));
                ng.set_span(g.span());
                TokenTree::Group(ng)
            }
            TokenTree::Literal(l) => {
                let text = l.to_string();
                match text
                    .strip_suffix("usize")
                    .and_then(|n| n.parse::<usize>().ok())
                {
                    Some(n) => TokenTree::Literal(Literal::usize_unsuffixed(n)),
                    None => TokenTree::Literal(l),
                }
            }
            other => other,
        })
        .collect()
}
