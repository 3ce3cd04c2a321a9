//! CenterCropPad (opset 18 on, unchanged since): crops or pads each listed axis (the
//! `axes` attribute, negative axes counting from the end; every axis by default) around
//! its centre to the length the `shape` input gives, padding with zeros. When a length
//! changes by an odd amount, the extra element is cropped or padded at the end, as the
//! ONNX reference implementation does. `shape` must be a compile-time constant.
//!
//! A centred crop or pad is a constant [`Pad`] whose pads are negative on the cropped
//! axes, so the op computes through Pad's kernel and only keeps what the node said.

use proc_macro2::TokenStream;
use zant_runtime::index::PadMode;

use super::pad::Pad;
use super::{
    normalize_axis, Attrs, EmitCtx, FoldCtx, NarrowSupport, OpError, OpKind, Parse, ParseCtx,
};
use crate::tensor::{Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct CenterCropPad {
    /// The target length of each listed axis, as the absorbed `shape` gave them.
    pub shape: Vec<usize>,
    /// The `axes` attribute, made non-negative, when the node lists axes.
    pub axes: Option<Vec<usize>>,
    /// The crop and pad as a constant Pad with zeros.
    pub pad: Pad,
}

impl Parse for CenterCropPad {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let x = ctx.input(0)?;
        super::transpose::supported_rank(x)?;
        let rank = x.rank();
        let target = ctx.absorb(1, "shape")?.to_i64s();
        let shape = target
            .iter()
            .map(|&v| {
                usize::try_from(v)
                    .map_err(|_| OpError::shape(format!("shape {target:?} has the length {v}")))
            })
            .collect::<Result<Vec<usize>, _>>()?;
        let axes = match ctx.ints("axes")? {
            Some(a) => {
                let axes = a
                    .iter()
                    .map(|&a| normalize_axis(a, rank))
                    .collect::<Result<Vec<usize>, _>>()?;
                if (1..axes.len()).any(|i| axes[..i].contains(&axes[i])) {
                    return Err(OpError::attr("axes", format!("{a:?} repeats an axis")));
                }
                Some(axes)
            }
            None => None,
        };
        let listed = axes.clone().unwrap_or_else(|| (0..rank).collect());
        if listed.len() != shape.len() {
            return Err(OpError::shape(format!(
                "shape {target:?} gives {} lengths for the {} axes of {x}",
                shape.len(),
                listed.len()
            )));
        }
        let mut pads_begin = vec![0i64; rank];
        let mut pads_end = vec![0i64; rank];
        let mut out_shape = x.shape.clone();
        for (&axis, &len) in listed.iter().zip(&shape) {
            let (from, to) = (to_i64(x.shape[axis])?, to_i64(len)?);
            // The change splits in two, the odd element at the end; a crop is a negative pad.
            let change = to - from;
            let begin = change.abs() / 2 * change.signum();
            pads_begin[axis] = begin;
            pads_end[axis] = change - begin;
            out_shape[axis] = len;
        }
        super::checked_elems(&out_shape)?;
        Ok(Self {
            shape,
            axes,
            pad: Pad {
                mode: PadMode::Constant,
                pads_begin,
                pads_end,
                out_shape,
                value: 0.0,
                value_input: false,
            },
        })
    }
}

/// A length as `i64`, which every length of a tensor zant accepts fits.
fn to_i64(len: usize) -> Result<i64, OpError> {
    i64::try_from(len).map_err(|_| OpError::shape(format!("the length {len} is too large")))
}

impl OpKind for CenterCropPad {
    fn attrs(&self, attrs: &mut Attrs) {
        // `shape` is an absorbed input, shown under its ONNX name for the parser to read.
        attrs.usizes("shape", &self.shape);
        if let Some(axes) = &self.axes {
            attrs.usizes("axes", axes);
        }
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        self.pad.infer(inputs)
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        self.pad.fold(ctx)
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        self.pad.emit(ctx)
    }

    fn narrow(&self) -> NarrowSupport {
        self.pad.narrow()
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::{i64s, node};
    use crate::tensor::{Data, Tensor};

    #[test]
    fn emits() {
        // Axis 0 cropped by 3 (1 before, 2 after), axis 1 padded by 3 (1 before, 2 after).
        insta::assert_snapshot!(node("CenterCropPad").input("f32[5,2,3]").constant(i64s(&[2, 5, 3])).emit(), @r"
        CenterCropPad(f32[5,2,3]) shape=[2,5,3] -> f32[2,5,3]
        rt::index::pad::<
            f32,
        >(
            x0,
            &[5, 2, 3],
            &[-1i64, 1i64, 0i64],
            rt::index::PadMode::Constant,
            <f32 as rt::scalar::Scalar>::from_f64(0f64),
            y,
            &[2, 5, 3],
        );
        ");
        insta::assert_snapshot!(node("CenterCropPad").ints("axes", &[-3, -2]).input("f32[5,7,3]").constant(i64s(&[6, 4])).emit(), @r"
        CenterCropPad(f32[5,7,3]) shape=[6,4] axes=[0,1] -> f32[6,4,3]
        rt::index::pad::<
            f32,
        >(
            x0,
            &[5, 7, 3],
            &[0i64, -1i64, 0i64],
            rt::index::PadMode::Constant,
            <f32 as rt::scalar::Scalar>::from_f64(0f64),
            y,
            &[6, 4, 3],
        );
        ");
        insta::assert_snapshot!(node("CenterCropPad").ints("axes", &[1])
            .constant(Tensor::new(vec![1, 4], Data::I32(vec![1, 2, 3, 4]))).constant(i64s(&[1])).emit(), @r"
        CenterCropPad(i32[1,4]) shape=[1] axes=[1] -> i32[1,1]
        folds to i32[1,1] [2]
        ");
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("CenterCropPad").input("f32[2,2]").input("i64[2]").emit(), @"parse: input 1 (shape) must be a compile-time constant; zant compiles static shapes only");
        insta::assert_snapshot!(node("CenterCropPad").input("f32[2,2]").constant(i64s(&[2])).emit(), @"parse: shape [2] gives 1 lengths for the 2 axes of f32[2,2]");
        insta::assert_snapshot!(node("CenterCropPad").ints("axes", &[0, -2]).input("f32[2,2]").constant(i64s(&[1, 1])).emit(), @"parse: attribute `axes`: [0, -2] repeats an axis");
        insta::assert_snapshot!(node("CenterCropPad").input("f32[2]").constant(i64s(&[-1])).emit(), @"parse: shape [-1] has the length -1");
    }
}
