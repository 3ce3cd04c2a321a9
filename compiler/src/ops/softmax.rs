//! Softmax and LogSoftmax. Before opset 13 the input is coerced to 2-D at `axis` (default
//! 1); from 13 on the op runs along one axis (default -1).

use proc_macro2::TokenStream;
use quote::quote;

use super::{normalize_axis, required, Attrs, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Softmax {
    pub log: bool,
    pub layout: AxisLayout,
    /// The softmax of `scale · x` (Softmax only): a constant Mul in front, fused by the
    /// passes. Not ONNX: the IR text prints `scale=…` when it is not 1.
    pub scale: f32,
}

/// The axis Softmax, LogSoftmax and Hardmax work along, normalised against the input's
/// rank, and the `[outer, axis_len, inner]` view of the input around it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AxisLayout {
    /// Before opset 13 it may equal the rank: everything is then one row of length 1.
    pub axis: usize,
    pub outer: usize,
    pub axis_len: usize,
    pub inner: usize,
}

impl AxisLayout {
    /// Reads `axis`: before opset 13 the input is coerced to 2-D at `axis` (default 1);
    /// from 13 on the op runs along the one axis (default -1).
    pub fn parse(ctx: &ParseCtx<'_>, d: &[usize]) -> Result<Self, OpError> {
        if ctx.opset < 13 {
            let axis = ctx.int("axis", 1)?;
            let axis = if axis == d.len() as i64 {
                d.len()
            } else {
                normalize_axis(axis, d.len())?
            };
            Ok(Self {
                axis,
                outer: d[..axis].iter().product(),
                axis_len: d[axis..].iter().product(),
                inner: 1,
            })
        } else {
            let axis = normalize_axis(ctx.int("axis", -1)?, d.len())?;
            Ok(Self {
                axis,
                outer: d[..axis].iter().product(),
                axis_len: d.get(axis).copied().unwrap_or(1),
                inner: d.get(axis + 1..).map_or(1, |rest| rest.iter().product()),
            })
        }
    }

    /// The `(outer, axis_len, inner)` view the kernels take.
    pub fn view(&self) -> (usize, usize, usize) {
        (self.outer, self.axis_len, self.inner)
    }

    /// `axis` as the parser reads it back.
    pub fn attrs(&self, attrs: &mut Attrs) {
        attrs.int("axis", self.axis as i64);
    }
}

impl Parse for Softmax {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let x = ctx.input(0)?;
        if !matches!(x.dtype, DType::F32 | DType::F64) {
            return Err(OpError::unsupported(format!(
                "implemented for f32 and f64, not {}",
                x.dtype
            )));
        }
        let log = ctx.op_type == "LogSoftmax";
        let scale = ctx.float("scale", 1.0)?;
        if !scale.is_finite() || scale <= 0.0 || (log && scale != 1.0) {
            return Err(OpError::attr(
                "scale",
                format!("must be a positive finite number, on Softmax only, not {scale}"),
            ));
        }
        Ok(Self {
            log,
            layout: AxisLayout::parse(ctx, &x.shape)?,
            scale,
        })
    }
}

impl OpKind for Softmax {
    fn attrs(&self, attrs: &mut Attrs) {
        self.layout.attrs(attrs);
        if self.scale != 1.0 {
            attrs.float("scale", self.scale);
        }
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        Ok(vec![required(inputs, 0)?.clone()])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        if let Data::F64(xs) = &x.data {
            let (outer, axis_len, inner) = self.layout.view();
            let mut y = vec![0.0; xs.len()];
            let scale = f64::from(self.scale);
            zant_runtime::elementwise::softmax_f64(
                outer, axis_len, inner, self.log, scale, xs, &mut y,
            );
            return Ok(Some(vec![Tensor::new(x.shape.clone(), Data::F64(y))]));
        }
        let Some(xs) = x.as_f32() else {
            return Ok(None);
        };
        let mut y = vec![0.0; xs.len()];
        let (outer, axis_len, inner) = self.layout.view();
        if self.log {
            zant_runtime::elementwise::log_softmax(outer, axis_len, inner, xs, &mut y);
        } else {
            let scale = self.scale;
            zant_runtime::elementwise::softmax_scaled(outer, axis_len, inner, scale, xs, &mut y);
        }
        Ok(Some(vec![Tensor::new(x.shape.clone(), Data::F32(y))]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.expr(0)?;
        let (outer, axis_len, inner) = self.layout.view();
        let scale = self.scale;
        if ctx.input(0)?.ty.dtype == DType::F64 {
            let (log, scale) = (self.log, f64::from(scale));
            return Ok(quote! {
                rt::elementwise::softmax_f64(#outer, #axis_len, #inner, #log, #scale, #x, y);
            });
        }
        Ok(if self.log {
            quote! { rt::elementwise::log_softmax(#outer, #axis_len, #inner, #x, y); }
        } else if scale != 1.0 {
            quote! { rt::elementwise::softmax_scaled(#outer, #axis_len, #inner, #scale, #x, y); }
        } else {
            quote! { rt::elementwise::softmax(#outer, #axis_len, #inner, #x, y); }
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::{Data, Tensor};

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("Softmax").input("f32[2,3,4]").emit(), @"
        Softmax(f32[2,3,4]) axis=2 -> f32[2,3,4]
        rt::elementwise::softmax(6, 4, 1, x0, y);
        ");
        insta::assert_snapshot!(node("LogSoftmax").int("axis", 1).input("f32[2,3,4]").emit(), @"
        LogSoftmax(f32[2,3,4]) axis=1 -> f32[2,3,4]
        rt::elementwise::log_softmax(2, 3, 4, x0, y);
        ");
        // Before opset 13 the input is a matrix split at `axis`.
        insta::assert_snapshot!(node("Softmax").opset(11).input("f32[2,3,4]").emit(), @"
        Softmax(f32[2,3,4]) axis=1 -> f32[2,3,4]
        rt::elementwise::softmax(2, 12, 1, x0, y);
        ");
        insta::assert_snapshot!(node("Softmax").opset(11).int("axis", 3).input("f32[2,3,4]").emit(), @"
        Softmax(f32[2,3,4]) axis=3 -> f32[2,3,4]
        rt::elementwise::softmax(24, 1, 1, x0, y);
        ");
        let values = Tensor::new(vec![2], Data::F32(vec![0.0, 0.0]));
        insta::assert_snapshot!(node("Softmax").constant(values).emit(), @"
        Softmax(f32[2]) axis=0 -> f32[2]
        folds to f32[2] [0.5, 0.5]
        ");
        insta::assert_snapshot!(node("LogSoftmax").int("axis", 0).input("f64[2,3]").emit(), @r#"
        LogSoftmax(f64[2,3]) axis=0 -> f64[2,3]
        rt::elementwise::softmax_f64(1, 2, 3, true, 1f64, x0, y);
        "#);
        insta::assert_snapshot!(node("Softmax")
            .constant(Tensor::new(vec![2], Data::F64(vec![0.0, 0.0]))).emit(), @r#"
        Softmax(f64[2]) axis=0 -> f64[2]
        folds to f64[2] [0.5, 0.5]
        "#);
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("Softmax").int("axis", 2).input("f32[2,3]").emit(), @"parse: axis 2 is out of range for rank 2");
        insta::assert_snapshot!(node("Softmax").input("i32[2,3]").emit(), @"parse: implemented for f32 and f64, not i32");
    }
}
