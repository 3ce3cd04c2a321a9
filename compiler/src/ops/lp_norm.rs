//! LpNormalization (opset 1 on; 22 adds types): `x / ‖x‖_p` along one axis (default -1),
//! p = 1 or 2 (default 2); a zero norm gives 0, as the ONNX reference does.

use proc_macro2::TokenStream;
use quote::quote;

use super::{
    around_axis, elem_type, normalize_axis, required, EmitCtx, FoldCtx, OpError, OpKind, Parse,
    ParseCtx,
};
use crate::tensor::{Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct LpNorm {
    pub axis: i64,
    pub p: u8,
}

impl Parse for LpNorm {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let p = match ctx.int("p", 2)? {
            1 => 1,
            2 => 2,
            other => return Err(OpError::Other(format!("p = {other} is not 1 or 2"))),
        };
        Ok(Self {
            axis: ctx.int("axis", -1)?,
            p,
        })
    }
}

impl OpKind for LpNorm {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        if !x.dtype.is_float() {
            return Err(OpError::Other(format!(
                "LpNormalization takes floats, not {x}"
            )));
        }
        normalize_axis(self.axis, x.rank())?;
        Ok(vec![x.clone()])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let (outer, len, inner) = around_axis(&x.shape, normalize_axis(self.axis, x.shape.len())?);
        let data = crate::with_data!(&x.data, v => {
            let mut y = v.clone();
            zant_runtime::reduce::lp_normalize(v, outer, len, inner, self.p, &mut y);
            super::retag(y, x.dtype())
        });
        Ok(Some(vec![Tensor::new(x.shape.clone(), data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let (outer, len, inner) = around_axis(&x.ty.shape, normalize_axis(self.axis, x.ty.rank())?);
        let xe = &x.expr;
        let t = elem_type(x.ty.dtype);
        let p = self.p;
        Ok(quote! { rt::reduce::lp_normalize::<#t>(#xe, #outer, #len, #inner, #p, y); })
    }
}
