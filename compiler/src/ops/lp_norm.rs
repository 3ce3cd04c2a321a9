//! LpNormalization (opset 1 on; 22 adds types): `x / ‖x‖_p` along one axis (default -1),
//! p = 1 or 2 (default 2); a zero norm gives 0, as the ONNX reference does.

use proc_macro2::TokenStream;
use quote::quote;

use super::{
    around_axis, elem_type, normalize_axis, required, Attrs, EmitCtx, FoldCtx, OpError, OpKind,
    Parse, ParseCtx,
};
use crate::tensor::{Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct LpNorm {
    /// The axis, normalised against the input's rank.
    pub axis: usize,
    pub p: u8,
}

impl Parse for LpNorm {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let x = ctx.input(0)?;
        let p = match ctx.int("p", 2)? {
            1 => 1,
            2 => 2,
            other => return Err(OpError::attr("p", format!("{other} is not 1 or 2"))),
        };
        Ok(Self {
            axis: normalize_axis(ctx.int("axis", -1)?, x.rank())?,
            p,
        })
    }
}

impl OpKind for LpNorm {
    fn attrs(&self, attrs: &mut Attrs) {
        attrs
            .int("axis", self.axis as i64)
            .int("p", i64::from(self.p));
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        if !x.dtype.is_float() {
            return Err(OpError::unsupported(format!(
                "LpNormalization is implemented for f32 and f64, not {}",
                x.dtype
            )));
        }
        if self.axis >= x.rank() {
            return Err(OpError::shape(format!(
                "axis {} is out of range for {x}",
                self.axis
            )));
        }
        Ok(vec![x.clone()])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let (outer, len, inner) = around_axis(&x.shape, self.axis);
        let data = crate::with_data!(&x.data, v => {
            let mut y = v.clone();
            zant_runtime::reduce::lp_normalize(v, outer, len, inner, self.p, &mut y);
            super::retag(y, x.dtype())
        });
        Ok(Some(vec![Tensor::new(x.shape.clone(), data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let (outer, len, inner) = around_axis(&x.ty.shape, self.axis);
        let xe = &x.expr;
        let t = elem_type(x.ty.dtype);
        let p = self.p;
        Ok(quote! { rt::reduce::lp_normalize::<#t>(#xe, #outer, #len, #inner, #p, y); })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::{Data, Tensor};

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("LpNormalization").input("f32[2,3]").emit(), @"
        LpNormalization(f32[2,3]) axis=1 p=2 -> f32[2,3]
        rt::reduce::lp_normalize::<f32>(x0, 2, 3, 1, 2u8, y);
        ");
        insta::assert_snapshot!(node("LpNormalization")
            .int("axis", 0)
            .int("p", 1)
            .input("f64[2,3]")
            .emit(), @"
        LpNormalization(f64[2,3]) axis=0 p=1 -> f64[2,3]
        rt::reduce::lp_normalize::<f64>(x0, 1, 2, 3, 1u8, y);
        ");
        insta::assert_snapshot!(node("LpNormalization")
            .constant(Tensor::new(vec![2], Data::F32(vec![3.0, 4.0])))
            .emit(), @"
        LpNormalization(f32[2]) axis=0 p=2 -> f32[2]
        folds to f32[2] [0.6, 0.8]
        ");
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("LpNormalization").int("p", 3).input("f32[2]").emit(), @"parse: attribute `p`: 3 is not 1 or 2");
        insta::assert_snapshot!(node("LpNormalization").input("i32[2]").emit(), @"infer: LpNormalization is implemented for f32 and f64, not i32");
        insta::assert_snapshot!(node("LpNormalization").int("axis", 2).input("f32[2,2]").emit(), @"parse: axis 2 is out of range for rank 2");
    }
}
