//! ConvTranspose (opset 1 on; 11 and 22 only add types): any number of spatial dims,
//! groups, strides, dilations, `output_padding`, explicit pads, `auto_pad` and
//! `output_shape`, following the ONNX reference implementation (`rt::conv::conv_transpose`).

use proc_macro2::TokenStream;
use quote::quote;

use super::{required, shape_tokens, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct ConvTranspose {
    pub c_out: usize,
    pub groups: usize,
    pub kernel: Vec<usize>,
    pub strides: Vec<usize>,
    pub dilations: Vec<usize>,
    pub pads_begin: Vec<i64>,
    pub out_shape: Vec<usize>,
}

impl Parse for ConvTranspose {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let (x, w) = (ctx.input(0)?, ctx.input(1)?);
        if x.dtype != DType::F32 || w.dtype != DType::F32 {
            return Err(OpError::Other(format!(
                "ConvTranspose is implemented for f32, not {}",
                x.dtype
            )));
        }
        let r = x
            .rank()
            .checked_sub(2)
            .filter(|&r| r >= 1)
            .ok_or("X needs spatial dims")?;
        if w.rank() != x.rank() || w.shape[0] != x.shape[1] {
            return Err(OpError::Other(format!("weight {w} does not fit input {x}")));
        }
        let groups = usize::try_from(ctx.int("group", 1)?)
            .ok()
            .filter(|&g| g >= 1)
            .ok_or("bad group")?;
        if x.shape[1] % groups != 0 {
            return Err(OpError::Other(format!(
                "group {groups} does not divide {} channels",
                x.shape[1]
            )));
        }
        let c_out = w.shape[1] * groups;
        let list = |name: &str, default: i64| -> Result<Vec<i64>, OpError> {
            Ok(ctx.ints(name)?.unwrap_or_else(|| vec![default; r]))
        };
        let kernel: Vec<usize> = w.shape[2..].to_vec();
        let positive = |v: Vec<i64>, name: &str| -> Result<Vec<usize>, OpError> {
            if v.len() != r || v.iter().any(|&s| s < 1) {
                return Err(OpError::Other(format!(
                    "`{name}` {v:?} should hold {r} positive values"
                )));
            }
            Ok(v.iter().map(|&s| s as usize).collect())
        };
        let strides = positive(list("strides", 1)?, "strides")?;
        let dilations = positive(list("dilations", 1)?, "dilations")?;
        let output_padding = list("output_padding", 0)?;
        let in_dims = &x.shape[2..];
        // The full output length of each dim, before pads.
        let full: Vec<i64> = (0..r)
            .map(|d| {
                strides[d] as i64 * (in_dims[d] as i64 - 1)
                    + output_padding.get(d).copied().unwrap_or(0)
                    + ((kernel[d] as i64 - 1) * dilations[d] as i64 + 1)
            })
            .collect();
        let auto_pad = ctx.string("auto_pad", "NOTSET")?;
        let pads = ctx.ints("pads")?;
        let output_shape = ctx.ints("output_shape")?;
        let (pads_begin, out_shape): (Vec<i64>, Vec<i64>) = match (pads, auto_pad.as_str()) {
            (Some(p), "NOTSET") if output_shape.is_none() => {
                if p.len() != 2 * r {
                    return Err(OpError::Other(format!(
                        "`pads` {p:?} should hold {} values",
                        2 * r
                    )));
                }
                (
                    (0..r).map(|d| p[d]).collect(),
                    (0..r).map(|d| full[d] - p[d] - p[d + r]).collect(),
                )
            }
            (None, "NOTSET" | "VALID") if output_shape.is_none() => (vec![0; r], full.clone()),
            _ => {
                let target: Vec<i64> = match &output_shape {
                    Some(s) => s.iter().rev().take(r).rev().copied().collect(),
                    None => (0..r)
                        .map(|d| in_dims[d] as i64 * strides[d] as i64)
                        .collect(),
                };
                let begin = (0..r)
                    .map(|d| {
                        let total = full[d] - target[d];
                        if auto_pad == "SAME_UPPER" {
                            total.div_euclid(2)
                        } else {
                            total - total.div_euclid(2)
                        }
                    })
                    .collect();
                (begin, target)
            }
        };
        let mut shape = vec![x.shape[0], c_out];
        for &d in &out_shape {
            shape.push(usize::try_from(d).map_err(|_| format!("output dim {d}"))?);
        }
        super::checked_elems(&shape)?;
        if let Some(b) = ctx.inputs.get(2).copied().flatten() {
            if b.shape != [c_out] {
                return Err(OpError::Other(format!("bias {b} should be f32[{c_out}]")));
            }
        }
        Ok(Self {
            c_out,
            groups,
            kernel,
            strides,
            dilations,
            pads_begin,
            out_shape: shape,
        })
    }
}

impl OpKind for ConvTranspose {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        required(inputs, 0)?;
        Ok(vec![TensorType::new(DType::F32, self.out_shape.clone())])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let (xs, w) = (x.as_f32().ok_or("f32")?, ctx.get(1)?.as_f32().ok_or("f32")?);
        let b = ctx
            .consts
            .get(2)
            .copied()
            .flatten()
            .and_then(|t| t.as_f32());
        let p = zant_runtime::conv::ConvTranspose {
            batch: x.shape[0],
            c_in: x.shape[1],
            c_out: self.c_out,
            groups: self.groups,
            in_dims: &x.shape[2..],
            out_dims: &self.out_shape[2..],
            kernel: &self.kernel,
            strides: &self.strides,
            dilations: &self.dilations,
            pads_begin: &self.pads_begin,
        };
        let mut y = vec![0.0; ctx.outputs[0].n_elems()];
        zant_runtime::conv::conv_transpose(&p, xs, w, b, &mut y);
        Ok(Some(vec![Tensor::new(
            self.out_shape.clone(),
            Data::F32(y),
        )]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let (xe, we) = (&x.expr, ctx.expr(1)?);
        let bias = match ctx.inputs.get(2).and_then(|o| o.as_ref()) {
            Some(b) => {
                let e = &b.expr;
                quote!(Some(#e))
            }
            None => quote!(None),
        };
        let (batch, c_in) = (x.ty.shape[0], x.ty.shape[1]);
        let (c_out, groups) = (self.c_out, self.groups);
        let in_dims = shape_tokens(&x.ty.shape[2..]);
        let out_dims = shape_tokens(&self.out_shape[2..]);
        let (kernel, strides, dilations) = (
            shape_tokens(&self.kernel),
            shape_tokens(&self.strides),
            shape_tokens(&self.dilations),
        );
        let pads = &self.pads_begin;
        Ok(quote! {
            rt::conv::conv_transpose(
                &rt::conv::ConvTranspose {
                    batch: #batch, c_in: #c_in, c_out: #c_out, groups: #groups,
                    in_dims: #in_dims, out_dims: #out_dims, kernel: #kernel,
                    strides: #strides, dilations: #dilations, pads_begin: &[#(#pads),*],
                },
                #xe, #we, #bias, y,
            );
        })
    }
}
