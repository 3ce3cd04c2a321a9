//! Hardmax (opset 1; from 13 along one axis, default -1, before that on the input coerced
//! to 2-D at `axis`, default 1): 1 at the first largest value, 0 elsewhere.

use proc_macro2::TokenStream;
use quote::quote;

use super::softmax::AxisLayout;
use super::{elem_type, required, Attrs, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Hardmax {
    pub layout: AxisLayout,
}

impl Parse for Hardmax {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        Ok(Self {
            layout: AxisLayout::parse(ctx, &ctx.input(0)?.shape)?,
        })
    }
}

impl OpKind for Hardmax {
    fn attrs(&self, attrs: &mut Attrs) {
        self.layout.attrs(attrs);
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        if !x.dtype.is_float() {
            return Err(OpError::shape(format!("takes floats, not {x}")));
        }
        Ok(vec![x.clone()])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let (outer, axis_len, inner) = self.layout.view();
        let data = crate::with_data!(&x.data, v => {
            let mut y = v.clone();
            zant_runtime::index::hardmax(v, outer, axis_len, inner, &mut y);
            super::retag(y, x.dtype())
        });
        Ok(Some(vec![Tensor::new(x.shape.clone(), data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let xe = &x.expr;
        let t = elem_type(x.ty.dtype);
        let (outer, axis_len, inner) = self.layout.view();
        Ok(quote! { rt::index::hardmax::<#t>(#xe, #outer, #axis_len, #inner, y); })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::{Data, Tensor};

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("Hardmax").input("f32[2,3,4]").emit(), @"
        Hardmax(f32[2,3,4]) axis=2 -> f32[2,3,4]
        rt::index::hardmax::<f32>(x0, 6, 4, 1, y);
        ");
        insta::assert_snapshot!(node("Hardmax").opset(11).input("f64[2,3,4]").emit(), @"
        Hardmax(f64[2,3,4]) axis=1 -> f64[2,3,4]
        rt::index::hardmax::<f64>(x0, 2, 12, 1, y);
        ");
        let values = Tensor::new(vec![2, 3], Data::F32(vec![1.0, 3.0, 3.0, -1.0, -2.0, 0.0]));
        insta::assert_snapshot!(node("Hardmax").constant(values).emit(), @"
        Hardmax(f32[2,3]) axis=1 -> f32[2,3]
        folds to f32[2,3] [0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        ");
        insta::assert_snapshot!(node("Hardmax").input("i32[2,3]").emit(), @"infer: takes floats, not i32[2,3]");
    }
}
