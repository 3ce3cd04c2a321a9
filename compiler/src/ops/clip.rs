//! Clip (opset 6: `min`/`max` attributes; opset 11 on: optional inputs). The bounds must
//! be compile-time constants; a Clip after Conv/Gemm/MatMul is fused into it.
//!
//! From opset 11 the bounds are inputs, which parsing absorbs; the IR text then shows them
//! as the attributes `min` and `max`, and a node without the inputs reads them from there.

use proc_macro2::TokenStream;
use zant_runtime::elementwise::UnaryOp;

use super::{
    required, unary::emit_unary, Attrs, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx,
};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Clip {
    pub min: f32,
    pub max: f32,
}

impl Parse for Clip {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        if ctx.input(0)?.dtype == DType::Bool {
            return Err(OpError::unsupported("Clip is not implemented for bool"));
        }
        let bound = |i: usize, what: &'static str, default: f32| -> Result<f32, OpError> {
            let input = if ctx.opset < 11 {
                None
            } else {
                ctx.absorb_optional(i, what)?
            };
            match input {
                None => ctx.float(what, default),
                Some(t) => match t.data.to_f64_vec().as_slice() {
                    [v] => Ok(*v as f32),
                    _ => Err(OpError::shape(format!(
                        "{what} should be one value, not {}",
                        t.ty()
                    ))),
                },
            }
        };
        Ok(Self {
            min: bound(1, "min", f32::MIN)?,
            max: bound(2, "max", f32::MAX)?,
        })
    }
}

impl OpKind for Clip {
    fn attrs(&self, attrs: &mut Attrs) {
        // The defaults are the widest f32 range, which says nothing worth showing.
        if self.min != f32::MIN {
            attrs.float("min", self.min);
        }
        if self.max != f32::MAX {
            attrs.float("max", self.max);
        }
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        Ok(vec![required(inputs, 0)?.clone()])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let op = UnaryOp::Clip {
            min: self.min,
            max: self.max,
        };
        let data = match &x.data {
            Data::F32(xs) => Data::F32(xs.iter().map(|v| v.max(self.min).min(self.max)).collect()),
            other => crate::with_data!(other, v => {
                let mut y = v.clone();
                zant_runtime::elementwise::unary_scalar(op, v, &mut y);
                super::retag(y, x.dtype())
            }),
        };
        Ok(Some(vec![Tensor::new(x.shape.clone(), data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        emit_unary(
            UnaryOp::Clip {
                min: self.min,
                max: self.max,
            },
            ctx,
        )
    }

    fn in_place_inputs(&self) -> &'static [usize] {
        &[0]
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::{Data, Tensor};

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("Clip")
            .input("f32[2,3]")
            .constant(Tensor::scalar_f32(0.0))
            .constant(Tensor::scalar_f32(6.0))
            .emit(), @"
        Clip(f32[2,3]) min=0.0 max=6.0 -> f32[2,3]
        rt::elementwise::unary(
            rt::elementwise::UnaryOp::Clip {
                min: 0f32,
                max: 6f32,
            },
            x0,
            y,
        );
        ");
        insta::assert_snapshot!(node("Clip")
            .input("i32[4]")
            .omitted()
            .constant(Tensor::new(vec![], Data::I32(vec![7])))
            .in_place()
            .emit(), @"
        Clip(i32[4]) max=7.0 -> i32[4]
        rt::elementwise::unary_scalar_in_place::<
            i32,
        >(
            rt::elementwise::UnaryOp::Clip {
                min: -340282350000000000000000000000000000000f32,
                max: 7f32,
            },
            y,
        );
        ");
        // Before opset 11 the bounds are attributes.
        insta::assert_snapshot!(node("Clip")
            .opset(6)
            .float("min", -1.0)
            .input("f32[4]")
            .emit(), @"
        Clip(f32[4]) min=-1.0 -> f32[4]
        rt::elementwise::unary(
            rt::elementwise::UnaryOp::Clip {
                min: -1f32,
                max: 340282350000000000000000000000000000000f32,
            },
            x0,
            y,
        );
        ");
        insta::assert_snapshot!(node("Clip")
            .constant(Tensor::new(vec![3], Data::F32(vec![-2.0, 0.5, 9.0])))
            .constant(Tensor::scalar_f32(0.0))
            .constant(Tensor::scalar_f32(1.0))
            .emit(), @"
        Clip(f32[3]) min=0.0 max=1.0 -> f32[3]
        folds to f32[3] [0.0, 0.5, 1.0]
        ");
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("Clip").input("f32[2]").input("f32[]").emit(), @"parse: input 1 (min) must be a compile-time constant; zant compiles static shapes only");
        insta::assert_snapshot!(node("Clip")
            .input("f32[2]")
            .constant(Tensor::new(vec![2], Data::F32(vec![0.0, 1.0])))
            .emit(), @"parse: min should be one value, not f32[2]");
        insta::assert_snapshot!(node("Clip").input("bool[2]").emit(), @"parse: Clip is not implemented for bool");
    }
}
