//! Trilu (opset 14 on): keeps the upper (`upper = 1`, default) or lower triangle of the
//! last two dims from diagonal `k` (an optional input, a compile-time constant).

use proc_macro2::TokenStream;
use quote::quote;

use super::{elem_type, required, Attrs, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Trilu {
    pub upper: bool,
    pub k: i64,
}

impl Trilu {
    fn matrix(shape: &[usize]) -> Result<(usize, usize), OpError> {
        match shape {
            [.., r, c] => Ok((*r, *c)),
            _ => Err(OpError::shape(format!(
                "Trilu takes a tensor of rank 2 or more, not rank {}",
                shape.len()
            ))),
        }
    }
}

impl Parse for Trilu {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let k = match ctx.absorb_optional(1, "k")? {
            Some(t) => *t
                .to_i64s()
                .first()
                .ok_or_else(|| OpError::shape("k is empty"))?,
            None => 0,
        };
        Ok(Self {
            upper: ctx.int("upper", 1)? != 0,
            k,
        })
    }
}

impl OpKind for Trilu {
    fn attrs(&self, attrs: &mut Attrs) {
        attrs.int("upper", i64::from(self.upper));
        if self.k != 0 {
            attrs.int("k", self.k);
        }
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        Self::matrix(&x.shape)?;
        Ok(vec![x.clone()])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let (rows, cols) = Self::matrix(&x.shape)?;
        let data = crate::with_data!(&x.data, v => {
            let mut y = v.clone();
            zant_runtime::index::trilu(v, rows, cols, self.k, self.upper, &mut y);
            super::retag(y, x.dtype())
        });
        Ok(Some(vec![Tensor::new(x.shape.clone(), data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let (rows, cols) = Self::matrix(&x.ty.shape)?;
        let xe = &x.expr;
        let t = elem_type(x.ty.dtype);
        let (k, upper) = (self.k, self.upper);
        Ok(quote! { rt::index::trilu::<#t>(#xe, #rows, #cols, #k, #upper, y); })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::{Data, Tensor};

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("Trilu").input("f32[2,3,4]").emit(), @"
        Trilu(f32[2,3,4]) upper=1 -> f32[2,3,4]
        rt::index::trilu::<f32>(x0, 3, 4, 0i64, true, y);
        ");
        insta::assert_snapshot!(node("Trilu").int("upper", 0).input("i64[3,3]").constant(Tensor::new(vec![], Data::I64(vec![-1]))).emit(), @"
        Trilu(i64[3,3]) upper=0 k=-1 -> i64[3,3]
        rt::index::trilu::<i64>(x0, 3, 3, -1i64, false, y);
        ");
        insta::assert_snapshot!(node("Trilu").input("f32[3]").emit(), @"infer: Trilu takes a tensor of rank 2 or more, not rank 1");
    }
}
