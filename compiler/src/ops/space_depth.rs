//! DepthToSpace (opset 1; `mode` DCR or CRD since 11) and SpaceToDepth (opset 1; `mode`
//! since 28): moves
//! `blocksize × blocksize` blocks between the channel and spatial dims of an NCHW tensor,
//! as a 6-D transpose.

use proc_macro2::TokenStream;
use quote::quote;

use super::{
    elem_type, required, shape_tokens, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx,
};
use crate::tensor::{Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct SpaceDepth {
    /// The input viewed as 6-D, and the permutation that produces the output.
    pub view: Vec<usize>,
    pub perm: Vec<usize>,
    pub out_shape: Vec<usize>,
}

impl Parse for SpaceDepth {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let x = ctx.input(0)?;
        let b = ctx.int("blocksize", 0)?;
        let b = usize::try_from(b)
            .ok()
            .filter(|&b| b > 0)
            .ok_or("blocksize must be positive")?;
        let [n, c, h, w] = x.shape[..] else {
            return Err(OpError::Other(format!(
                "{} takes NCHW, not {x}",
                ctx.op_type
            )));
        };
        if ctx.op_type == "DepthToSpace" {
            if c % (b * b) != 0 {
                return Err(OpError::Other(format!(
                    "{c} channels do not divide by {b}²"
                )));
            }
            let c2 = c / (b * b);
            let (view, perm) = if ctx.string("mode", "DCR")? == "CRD" {
                (vec![n, c2, b, b, h, w], vec![0, 1, 4, 2, 5, 3])
            } else {
                (vec![n, b, b, c2, h, w], vec![0, 3, 4, 1, 5, 2])
            };
            Ok(Self {
                view,
                perm,
                out_shape: vec![n, c2, h * b, w * b],
            })
        } else {
            if h % b != 0 || w % b != 0 {
                return Err(OpError::Other(format!("{h}×{w} does not divide by {b}")));
            }
            // DCR puts the block offset before the channel, CRD (opset 28) after it.
            let perm = if ctx.string("mode", "DCR")? == "CRD" {
                vec![0, 1, 3, 5, 2, 4]
            } else {
                vec![0, 3, 5, 1, 2, 4]
            };
            Ok(Self {
                view: vec![n, c, h / b, b, w / b, b],
                perm,
                out_shape: vec![n, c * b * b, h / b, w / b],
            })
        }
    }
}

impl OpKind for SpaceDepth {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        if x.n_elems() != self.view.iter().product::<usize>() {
            return Err(OpError::Other(format!(
                "{x} does not match the parsed geometry"
            )));
        }
        Ok(vec![TensorType::new(x.dtype, self.out_shape.clone())])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let out = &ctx.outputs[0];
        let data = super::move_bytes(x, out, |xb, yb, size| {
            let mut view = self.view.clone();
            view.push(size);
            let mut perm = self.perm.clone();
            perm.push(6);
            zant_runtime::shape::transpose(xb, &view, &perm, yb);
        });
        Ok(Some(vec![Tensor::new(out.shape.clone(), data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let xe = &x.expr;
        let (view, perm) = (shape_tokens(&self.view), shape_tokens(&self.perm));
        let t = elem_type(x.ty.dtype);
        Ok(quote! { rt::shape::transpose::<#t>(#xe, #view, #perm, y); })
    }
}
