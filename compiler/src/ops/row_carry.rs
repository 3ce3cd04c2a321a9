//! RowCarry: the buffer of a tensor in a stage whose patches move down by whole rows
//! (`plan::patch`), one patch row after the other. Its input holds the rows a patch adds;
//! its output holds, above them, the `keep` rows the patch shares with the one before,
//! carried over from its own previous run. The memory planner keeps its buffer to itself
//! over the whole patch graph, so that those rows survive from one patch to the next.
//! Only the patch planner writes it; no ONNX node parses to it.

use proc_macro2::TokenStream;
use quote::quote;

use super::{elem_type, required, Attrs, EmitCtx, OpError, OpKind};
use crate::tensor::TensorType;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowCarry {
    /// The rows kept from the previous run, above the input's.
    pub keep: usize,
}

impl OpKind for RowCarry {
    fn attrs(&self, attrs: &mut Attrs) {
        attrs.int("keep", self.keep as i64);
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        if x.rank() != 4 {
            return Err(OpError::shape(format!(
                "RowCarry takes [n, c, h, w], not {x}"
            )));
        }
        let mut shape = x.shape.clone();
        shape[2] += self.keep;
        Ok(vec![TensorType::new(x.dtype, shape)])
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let (xe, t) = (&x.expr, elem_type(x.ty.dtype));
        let [n, c, rows, width] = x.ty.shape[..] else {
            return Err(OpError::shape(format!(
                "RowCarry takes [n, c, h, w], not {}",
                x.ty
            )));
        };
        let (channels, keep) = (n * c, self.keep);
        Ok(quote! { rt::patch::carry::<#t>(#xe, #channels, #keep, #rows, #width, y); })
    }
}
