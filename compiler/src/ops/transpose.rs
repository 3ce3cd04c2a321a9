//! Transpose (opset 1 on; 13 only adds types). `perm` defaults to reversing the axes.

use proc_macro2::TokenStream;
use quote::quote;

use super::{
    elem_type, required, shape_tokens, Attrs, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx,
};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Transpose {
    pub perm: Vec<usize>,
}

/// Refuses a tensor of more dims than the runtime's index kernels walk
/// ([`zant_runtime::MAX_RANK`]); they keep a multi-index in a fixed array.
pub fn supported_rank(x: &TensorType) -> Result<(), OpError> {
    if x.rank() > zant_runtime::MAX_RANK {
        return Err(OpError::unsupported(format!(
            "{x} has more than {} dims",
            zant_runtime::MAX_RANK
        )));
    }
    Ok(())
}

impl Parse for Transpose {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let x = ctx.input(0)?;
        supported_rank(x)?;
        let rank = x.rank();
        let perm: Vec<usize> = match ctx.ints("perm")? {
            None => (0..rank).rev().collect(),
            Some(p) => p
                .iter()
                .map(|&a| {
                    super::normalize_axis(a, rank).map_err(|_| {
                        OpError::attr("perm", format!("{p:?} names an axis outside rank {rank}"))
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let mut seen = vec![false; rank];
        for &p in &perm {
            if std::mem::replace(&mut seen[p], true) {
                return Err(OpError::attr("perm", format!("{perm:?} repeats axis {p}")));
            }
        }
        if perm.len() != rank {
            return Err(OpError::attr(
                "perm",
                format!("{perm:?} does not match rank {rank}"),
            ));
        }
        Ok(Self { perm })
    }
}

impl OpKind for Transpose {
    /// It moves whole elements, so it takes the narrow types as stored.
    fn narrow(&self) -> super::NarrowSupport {
        super::NarrowSupport::Moves
    }

    fn attrs(&self, attrs: &mut Attrs) {
        attrs.usizes("perm", &self.perm);
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        if x.rank() != self.perm.len() {
            return Err(OpError::shape(format!(
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
        crate::all_dtypes!(run);
        Ok(Some(vec![Tensor::new(out.shape.clone(), data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let (xe, x_shape, perm) = (&x.expr, shape_tokens(&x.ty.shape), shape_tokens(&self.perm));
        if x.ty.dtype == DType::F32 {
            // Whole tiles of a batched 2-D transpose move through registers.
            return Ok(quote! { rt::shape::transpose_f32(#xe, #x_shape, #perm, y); });
        }
        let t = elem_type(x.ty.dtype);
        Ok(quote! { rt::shape::transpose::<#t>(#xe, #x_shape, #perm, y); })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("Transpose").ints("perm", &[0, 2, 1]).input("f32[2,3,4]").emit(), @"
        Transpose(f32[2,3,4]) perm=[0,2,1] -> f32[2,4,3]
        rt::shape::transpose_f32(x0, &[2, 3, 4], &[0, 2, 1], y);
        ");
        insta::assert_snapshot!(node("Transpose").input("u8[2,3]").emit(), @"
        Transpose(u8[2,3]) perm=[1,0] -> u8[3,2]
        rt::shape::transpose::<u8>(x0, &[2, 3], &[1, 0], y);
        ");
        insta::assert_snapshot!(node("Transpose").ints("perm", &[0, 0]).input("f32[2,3]").emit(), @"parse: attribute `perm`: [0, 0] repeats axis 0");
        insta::assert_snapshot!(node("Transpose").ints("perm", &[0]).input("f32[2,3]").emit(), @"parse: attribute `perm`: [0] does not match rank 2");
        insta::assert_snapshot!(node("Transpose").input("f32[1,1,1,1,1,1,1,1,2]").emit(), @"parse: f32[1,1,1,1,1,1,1,1,2] has more than 8 dims");
    }
}
