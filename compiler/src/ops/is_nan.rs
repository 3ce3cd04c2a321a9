//! IsNaN (opset 9 on) and IsInf (opset 10 on; `detect_positive`/`detect_negative`): bool
//! masks of a float tensor.

use proc_macro2::TokenStream;
use quote::quote;

use super::{elem_type, required, Attrs, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub enum IsNan {
    Nan,
    Inf { positive: bool, negative: bool },
}

impl Parse for IsNan {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        Ok(if ctx.op_type == "IsNaN" {
            Self::Nan
        } else {
            Self::Inf {
                positive: ctx.int("detect_positive", 1)? != 0,
                negative: ctx.int("detect_negative", 1)? != 0,
            }
        })
    }
}

impl OpKind for IsNan {
    /// IsInf's switches, when one is off (both default to on).
    fn attrs(&self, attrs: &mut Attrs) {
        if let Self::Inf { positive, negative } = *self {
            if !positive {
                attrs.int("detect_positive", 0);
            }
            if !negative {
                attrs.int("detect_negative", 0);
            }
        }
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        if !x.dtype.is_float() {
            return Err(OpError::shape(format!("takes floats, not {x}")));
        }
        Ok(vec![TensorType::new(DType::Bool, x.shape.clone())])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let mut y = vec![0u8; x.n_elems()];
        crate::with_data!(&x.data, v => match *self {
            Self::Nan => zant_runtime::index::is_nan(v, &mut y),
            Self::Inf { positive, negative } => zant_runtime::index::is_inf(v, positive, negative, &mut y),
        });
        Ok(Some(vec![Tensor::new(x.shape.clone(), Data::Bool(y))]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let xe = &x.expr;
        let t = elem_type(x.ty.dtype);
        Ok(match *self {
            Self::Nan => quote! { rt::index::is_nan::<#t>(#xe, y); },
            Self::Inf { positive, negative } => {
                quote! { rt::index::is_inf::<#t>(#xe, #positive, #negative, y); }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::{Data, Tensor};

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("IsNaN").input("f32[2,3]").emit(), @"
        IsNaN(f32[2,3]) -> bool[2,3]
        rt::index::is_nan::<f32>(x0, y);
        ");
        insta::assert_snapshot!(node("IsInf").input("f64[4]").emit(), @"
        IsInf(f64[4]) -> bool[4]
        rt::index::is_inf::<f64>(x0, true, true, y);
        ");
        insta::assert_snapshot!(node("IsInf").int("detect_negative", 0).input("f32[4]").emit(), @"
        IsInf(f32[4]) detect_negative=0 -> bool[4]
        rt::index::is_inf::<f32>(x0, true, false, y);
        ");
        let values = Tensor::new(
            vec![4],
            Data::F32(vec![f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1.0]),
        );
        insta::assert_snapshot!(node("IsInf").int("detect_positive", 0).constant(values.clone()).emit(), @"
        IsInf(f32[4]) detect_positive=0 -> bool[4]
        folds to bool[4] [0, 0, 1, 0]
        ");
        insta::assert_snapshot!(node("IsNaN").constant(values).emit(), @"
        IsNaN(f32[4]) -> bool[4]
        folds to bool[4] [1, 0, 0, 0]
        ");
        insta::assert_snapshot!(node("IsNaN").input("i32[4]").emit(), @"infer: takes floats, not i32[4]");
    }
}
