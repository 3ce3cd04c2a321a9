//! com.microsoft QLinearSoftmax: Softmax on 8-bit data, as ONNX Runtime's optimized session
//! runs a `DequantizeLinear → Softmax → QuantizeLinear` group. Import reads it from
//! QOperator models; `passes::qdq` writes it for the QDQ group, so that a quantized
//! transformer's attention weights are the ones ONNX Runtime computes.
//!
//! ONNX Runtime's kernel, which this follows to the bit: a table of 256 `f32` values
//! `exp((i - 255) · x_scale + shift)`, computed in `f64` once per node, where
//! `shift = max(0, ln(f32::MAX / len) - 5)` keeps the sum of a row of `len` entries finite;
//! per row, the entry of each element is `table[255 - (max - x)]`, the entries are summed
//! in `f32`, and the output is `round_half_even(entry · floor(1 / y_scale) / sum) +
//! y_zero`. The compiler builds the table, so the target never calls `exp`. For int8
//! outputs ONNX Runtime wraps a value past 127 around (to -128) where zant saturates; with
//! the quantizer's output scale (1/256 or coarser) and zero point -128 no value gets there.

use proc_macro2::TokenStream;
use quote::quote;

use super::qlinear::{eight_bit, Absorbed};
use super::softmax::AxisLayout;
use super::{
    elem_type, f32_tokens, normalize_axis, required, Attrs, EmitCtx, FoldCtx, OpError, OpKind,
    Parse, ParseCtx,
};
use crate::tensor::{DType, Data, Tensor, TensorType};

/// ONNX Runtime's behaviour changes at this `opset` attribute: before it the input is
/// coerced to 2-D at `axis`, from it on the op runs along one axis.
const OPSET13: i64 = 13;

#[derive(Clone, Debug, PartialEq)]
pub struct QSoftmax {
    pub layout: AxisLayout,
    /// The `opset` attribute: the Softmax semantics the node follows.
    pub opset: i64,
    pub consts: Absorbed,
}

impl QSoftmax {
    fn table(&self) -> Result<[f32; 256], OpError> {
        let x_scale = self.consts.scales("X_scale", 1)?[0];
        Ok(table(x_scale, self.layout.axis_len))
    }

    /// `floor(1 / y_scale)` in `f32`, the factor ONNX Runtime scales each quotient by.
    fn y_factor(&self) -> Result<f32, OpError> {
        Ok((1.0f32 / self.consts.scales("y_scale", 1)?[0]).floor())
    }
}

/// The 256 entries `exp((i - 255 + shift / x_scale) · x_scale)` in ONNX Runtime's steps:
/// `shift = max(0, ln(f32::MAX / len) - 5)` with the quotient in `f32`, the rest in `f64`,
/// each entry rounded to `f32`.
pub fn table(x_scale: f32, len: usize) -> [f32; 256] {
    let x_scale = f64::from(x_scale);
    let shift = (f64::from(f32::MAX / len.max(1) as f32).ln() - 5.0).max(0.0) / x_scale;
    core::array::from_fn(|i| ((i as f64 - 255.0 + shift) * x_scale).exp() as f32)
}

impl Parse for QSoftmax {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let x = ctx.input(0)?;
        let dtype = eight_bit("X", x)?;
        let opset = match ctx.attr("opset") {
            Some(_) => ctx.int("opset", 0)?,
            None => {
                return Err(OpError::attr(
                    "opset",
                    "is required: it says which Softmax semantics the node follows",
                ))
            }
        };
        let d = &x.shape;
        if d.is_empty() {
            return Err(OpError::shape(format!("X {x} has no axis to normalise")));
        }
        let layout = if opset < OPSET13 {
            let axis = normalize_axis(ctx.int("axis", 1)?, d.len())?;
            AxisLayout {
                axis,
                outer: d[..axis].iter().product(),
                axis_len: d[axis..].iter().product(),
                inner: 1,
            }
        } else {
            let axis = normalize_axis(ctx.int("axis", -1)?, d.len())?;
            AxisLayout {
                axis,
                outer: d[..axis].iter().product(),
                axis_len: d[axis],
                inner: d[axis + 1..].iter().product(),
            }
        };
        let mut consts = Absorbed::default();
        consts.take(ctx, 1, "X_scale", true)?;
        consts.take(ctx, 2, "x_zero_point", false)?;
        consts.take(ctx, 3, "y_scale", true)?;
        consts.take(ctx, 4, "y_zero_point", false)?;
        consts.zeros("x_zero_point", dtype, 1)?;
        consts.zeros("y_zero_point", dtype, 1)?;
        for name in ["X_scale", "y_scale"] {
            let s = consts.scales(name, 1)?[0];
            if !(s.is_finite() && s > 0.0) {
                return Err(OpError::unsupported(format!(
                    "{name} {s} is not a positive finite scale"
                )));
            }
        }
        let op = Self {
            layout,
            opset,
            consts,
        };
        if !op.table()?.iter().all(|e| e.is_finite()) || op.table()?[255] <= 0.0 {
            return Err(OpError::unsupported(
                "X_scale and the axis length give a table of exponentials that is not finite",
            ));
        }
        Ok(op)
    }
}

impl OpKind for QSoftmax {
    fn attrs(&self, attrs: &mut Attrs) {
        attrs.int("axis", self.layout.axis as i64);
        attrs.int("opset", self.opset);
        self.consts.print(attrs);
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        Ok(vec![required(inputs, 0)?.clone()])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let (table, factor) = (self.table()?, self.y_factor()?);
        let zero = self.consts.zeros("y_zero_point", x.dtype(), 1)?[0];
        fn run<T: zant_runtime::qlinear::QInt + Default>(
            (outer, len, inner): (usize, usize, usize),
            xs: &[T],
            table: &[f32; 256],
            factor: f32,
            zero: i32,
        ) -> Vec<T> {
            let mut y = vec![T::default(); xs.len()];
            zant_runtime::qlinear::qsoftmax(outer, len, inner, xs, table, factor, zero, &mut y);
            y
        }
        let view = self.layout.view();
        let data = match &x.data {
            Data::U8(xs) => Data::U8(run(view, xs, &table, factor, zero)),
            Data::I8(xs) => Data::I8(run(view, xs, &table, factor, zero)),
            _ => return Ok(None),
        };
        Ok(Some(vec![Tensor::new(x.shape.clone(), data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let (outer, axis_len, inner) = self.layout.view();
        let dtype: DType = x.ty.dtype;
        let zero = self.consts.zeros("y_zero_point", dtype, 1)?[0];
        let factor = f32_tokens(self.y_factor()?);
        let entries = self.table()?.map(f32_tokens);
        let (t, xe) = (elem_type(dtype), &x.expr);
        Ok(quote! {
            rt::qlinear::qsoftmax::<#t>(
                #outer, #axis_len, #inner, #xe, &[#(#entries),*], #factor, #zero, y,
            );
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::NodeBuilder;
    use crate::tensor::{Data, Tensor};

    fn qlinear_softmax(opset: Option<i64>, axis: i64) -> NodeBuilder {
        let mut b = NodeBuilder::in_domain("com.microsoft", "QLinearSoftmax").int("axis", axis);
        if let Some(opset) = opset {
            b = b.int("opset", opset);
        }
        b.input("u8[2,3,4]")
            .constant(Tensor::new(vec![], Data::F32(vec![0.1])))
            .constant(Tensor::new(vec![], Data::U8(vec![7])))
            .constant(Tensor::new(vec![], Data::F32(vec![1.0 / 256.0])))
            .constant(Tensor::new(vec![], Data::U8(vec![0])))
    }

    #[test]
    fn reads_the_axis_in_the_semantics_of_its_opset() {
        // From 13 on one axis of 3 between 2 and 4 elements; before, everything from
        // axis 1 on is one row of 12. The quotient's factor is floor(1 / y_scale).
        let one_axis = qlinear_softmax(Some(13), 1).emit();
        assert!(
            one_axis.contains(">(\n    2,\n    3,\n    4,\n    x0,"),
            "{one_axis}"
        );
        assert!(one_axis.contains("256f32,\n    0i32,"), "{one_axis}");
        let flattened = qlinear_softmax(Some(12), 1).emit();
        assert!(
            flattened.contains(">(\n    2,\n    12,\n    1,\n    x0,"),
            "{flattened}"
        );
        // ONNX Runtime requires `opset`; so does zant.
        let missing = qlinear_softmax(None, 1).emit();
        assert!(missing.contains("opset"), "{missing}");
        assert!(qlinear_softmax(Some(13), 3).emit().contains("axis"));
    }

    #[test]
    fn the_table_keeps_a_row_sum_finite() {
        // The largest entry times the row length stays below f32::MAX by e^5 or so, and
        // entries fall by exp(-x_scale) a step.
        for (scale, len) in [(0.1f32, 128usize), (0.01, 1), (2.0, 4096)] {
            let t = super::table(scale, len);
            assert!(t[255].is_finite() && t[255] * len as f32 <= f32::MAX / 100.0);
            let ratio = f64::from(t[200]) / f64::from(t[201]);
            assert!(
                (ratio - (-f64::from(scale)).exp()).abs() < 1e-5,
                "{scale}: {ratio}"
            );
        }
    }
}
