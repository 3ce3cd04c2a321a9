//! Transpose (opset 1 on; 13 only adds types). `perm` defaults to reversing the axes.

use proc_macro2::TokenStream;
use quote::quote;

use super::{elem_type, shape_tokens, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Transpose {
    pub perm: Vec<usize>,
}

impl Parse for Transpose {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let rank = ctx.input(0)?.rank();
        let perm: Vec<usize> = match ctx.ints("perm")? {
            None => (0..rank).rev().collect(),
            Some(p) => p
                .iter()
                .map(|&a| super::normalize_axis(a, rank))
                .collect::<Result<_, _>>()?,
        };
        let mut seen = vec![false; rank];
        for &p in &perm {
            if std::mem::replace(&mut seen[p], true) {
                return Err(OpError::Other(format!("perm {perm:?} repeats axis {p}")));
            }
        }
        if perm.len() != rank {
            return Err(OpError::Other(format!(
                "perm {perm:?} does not match rank {rank}"
            )));
        }
        if rank > zant_runtime::MAX_RANK {
            return Err(OpError::Other(format!(
                "rank {rank} is above the supported {}",
                zant_runtime::MAX_RANK
            )));
        }
        Ok(Self { perm })
    }
}

impl OpKind for Transpose {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = inputs
            .first()
            .copied()
            .flatten()
            .ok_or("input 0 is required")?;
        if x.rank() != self.perm.len() {
            return Err(OpError::Other(format!(
                "perm {:?} does not match {x}",
                self.perm
            )));
        }
        let shape = self.perm.iter().map(|&p| x.shape[p]).collect();
        Ok(vec![TensorType::new(x.dtype, shape)])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let out = &ctx.outputs[0];
        let mut data = Data::zeros(x.dtype(), x.n_elems());
        macro_rules! run {
            ($($variant:ident),*) => {
                match (&x.data, &mut data) {
                    $((Data::$variant(a), Data::$variant(y)) => zant_runtime::shape::transpose(a, &x.shape, &self.perm, y),)*
                    _ => unreachable!("same dtype"),
                }
            };
        }
        run!(F32, F64, I8, U8, I16, U16, I32, U32, I64, U64, Bool);
        Ok(Some(vec![Tensor::new(out.shape.clone(), data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let (xe, x_shape, perm) = (&x.expr, shape_tokens(&x.ty.shape), shape_tokens(&self.perm));
        let t = elem_type(x.ty.dtype);
        Ok(quote! { rt::shape::transpose::<#t>(#xe, #x_shape, #perm, y); })
    }
}
