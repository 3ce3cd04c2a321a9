//! Pad (opset 2: `pads` and `value` attributes; 11 on: `pads` and `constant_value` inputs;
//! 18 adds `axes`; 19 adds `wrap` mode): constant, reflect, edge or wrap padding, negative
//! pads crop. Pads, axes and the value must be compile-time constants.

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::index::PadMode;
use zant_runtime::tokens::{Field, Param};

use super::{
    elem_type, normalize_axis, required, shape_tokens, Attrs, EmitCtx, FoldCtx, OpError, OpKind,
    Parse, ParseCtx,
};
use crate::tensor::{Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Pad {
    pub mode: PadMode,
    /// Per input dim: the elements added before and after (negative crops).
    pub pads_begin: Vec<i64>,
    pub pads_end: Vec<i64>,
    pub out_shape: Vec<usize>,
    /// The constant fill value, as `f64` (cast to the element type).
    pub value: f64,
    /// The fill value is input 2, read at run time (a value computed by the model).
    pub value_input: bool,
}

impl Parse for Pad {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let x = ctx.input(0)?;
        super::transpose::supported_rank(x)?;
        let rank = x.rank();
        let mode = match ctx.string("mode", "constant")?.as_str() {
            "constant" => PadMode::Constant,
            "reflect" => PadMode::Reflect,
            "edge" => PadMode::Edge,
            "wrap" => PadMode::Wrap,
            other => {
                return Err(OpError::attr(
                    "mode",
                    format!("`{other}` is not constant, reflect, edge or wrap"),
                ))
            }
        };
        let mut value_input = false;
        let (pads, value, axes) = if ctx.opset < 11 {
            let pads = ctx
                .ints("pads")?
                .ok_or_else(|| OpError::attr("pads", "is required"))?;
            // `constant_value` is how the IR text prints the fill at any opset.
            let value = ctx.float("value", ctx.float("constant_value", 0.0)?)?;
            (pads, f64::from(value), None)
        } else {
            let pads = ctx.absorb(1, "pads")?.to_i64s();
            let value = if ctx.has_input(2) && ctx.consts.get(2).copied().flatten().is_none() {
                value_input = true;
                0.0
            } else {
                match ctx.absorb_optional(2, "constant_value")? {
                    Some(t) => *t.data.to_f64_vec().first().unwrap_or(&0.0),
                    None => 0.0,
                }
            };
            let axes = ctx.absorb_optional(3, "axes")?.map(|t| t.to_i64s());
            (pads, value, axes)
        };
        let axes: Vec<usize> = match axes {
            Some(a) => a
                .iter()
                .map(|&a| normalize_axis(a, rank))
                .collect::<Result<_, _>>()?,
            None => (0..rank).collect(),
        };
        if pads.len() != 2 * axes.len() {
            return Err(OpError::shape(format!(
                "{} pads for {} axes",
                pads.len(),
                axes.len()
            )));
        }
        let mut pads_begin = vec![0i64; rank];
        let mut pads_end = vec![0i64; rank];
        let mut out_shape = x.shape.clone();
        for (i, &a) in axes.iter().enumerate() {
            let (begin, end) = (pads[i], pads[i + axes.len()]);
            pads_begin[a] = begin;
            pads_end[a] = end;
            let dim = (x.shape[a] as i64)
                .checked_add(begin)
                .and_then(|d| d.checked_add(end));
            out_shape[a] = dim
                .and_then(|d| usize::try_from(d).ok())
                .ok_or_else(|| OpError::shape(format!("pads {pads:?} leave axis {a} negative")))?;
            if mode != PadMode::Constant && x.shape[a] == 0 && out_shape[a] > 0 {
                return Err(OpError::shape(format!(
                    "cannot pad the empty axis {a} in {} mode",
                    mode.name().to_lowercase()
                )));
            }
        }
        super::checked_elems(&out_shape)?;
        Ok(Self {
            mode,
            pads_begin,
            pads_end,
            out_shape,
            value,
            value_input,
        })
    }
}

impl OpKind for Pad {
    fn attrs(&self, attrs: &mut Attrs) {
        if self.mode != PadMode::Constant {
            attrs.string("mode", &self.mode.name().to_lowercase());
        }
        let mut pads = self.pads_begin.clone();
        pads.extend(&self.pads_end);
        attrs.ints("pads", &pads);
        // The fill read at run time has no value to show; a constant one is shown under
        // its input's name, which the IR text reads back as the absorbed input.
        if !self.value_input && self.value.to_bits() != 0 {
            attrs.float("constant_value", self.value as f32);
        }
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        if x.rank() != self.pads_begin.len() {
            return Err(OpError::shape(format!(
                "{x} does not match the rank of the pads"
            )));
        }
        Ok(vec![TensorType::new(x.dtype, self.out_shape.clone())])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let data = crate::with_data!(&x.data, v => {
            let mut y = vec![Default::default(); ctx.outputs[0].n_elems()];
            let value = match ctx.consts.get(2).copied().flatten() {
                Some(t) if self.value_input => *t.data.to_f64_vec().first().unwrap_or(&0.0),
                _ => self.value,
            };
            let value = zant_runtime::scalar::Scalar::from_f64(value);
            zant_runtime::index::pad(v, &x.shape, &self.pads_begin, self.mode, value, &mut y, &self.out_shape);
            super::retag(y, x.dtype())
        });
        Ok(Some(vec![Tensor::new(self.out_shape.clone(), data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let (xe, x_shape) = (&x.expr, shape_tokens(&x.ty.shape));
        let y_shape = shape_tokens(&self.out_shape);
        let t = elem_type(x.ty.dtype);
        let begin = &self.pads_begin;
        let mode = self.mode;
        let value = if self.value_input {
            let v = ctx.expr(2)?;
            quote!((#v)[0])
        } else {
            let value = self.value.tokens();
            quote!(<#t as rt::scalar::Scalar>::from_f64(#value))
        };
        Ok(quote! {
            rt::index::pad::<#t>(#xe, #x_shape, &[#(#begin),*], #mode, #value, y, #y_shape);
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::{Data, Tensor};

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("Pad").input("f32[2,3]").constant(Tensor::from_i64s(vec![1, 0, 1, -1])).constant(Tensor::scalar_f32(1.5)).emit(), @"
        Pad(f32[2,3]) pads=[1,0,1,-1] constant_value=1.5 -> f32[4,2]
        rt::index::pad::<
            f32,
        >(
            x0,
            &[2, 3],
            &[1i64, 0i64],
            rt::index::PadMode::Constant,
            <f32 as rt::scalar::Scalar>::from_f64(1.5f64),
            y,
            &[4, 2],
        );
        ");
        insta::assert_snapshot!(node("Pad").string("mode", "reflect").input("i32[1,4]").constant(Tensor::from_i64s(vec![2, 2]))
            .omitted().constant(Tensor::from_i64s(vec![-1])).emit(), @r#"
        Pad(i32[1,4]) mode="reflect" pads=[0,2,0,2] -> i32[1,8]
        rt::index::pad::<
            i32,
        >(
            x0,
            &[1, 4],
            &[0i64, 2i64],
            rt::index::PadMode::Reflect,
            <i32 as rt::scalar::Scalar>::from_f64(0f64),
            y,
            &[1, 8],
        );
        "#);
        insta::assert_snapshot!(node("Pad").opset(2).ints("pads", &[0, 1, 0, 1]).float("value", f32::NEG_INFINITY).input("f32[1,2]").emit(), @"
        Pad(f32[1,2]) pads=[0,1,0,1] constant_value=-inf -> f32[1,4]
        rt::index::pad::<
            f32,
        >(
            x0,
            &[1, 2],
            &[0i64, 1i64],
            rt::index::PadMode::Constant,
            <f32 as rt::scalar::Scalar>::from_f64(f64::NEG_INFINITY),
            y,
            &[1, 4],
        );
        ");
        insta::assert_snapshot!(node("Pad").string("mode", "wrap").constant(Tensor::new(vec![3], Data::F32(vec![1.0, 2.0, 3.0]))).constant(Tensor::from_i64s(vec![1, 2])).emit(), @r#"
        Pad(f32[3]) mode="wrap" pads=[1,2] -> f32[6]
        folds to f32[6] [3.0, 1.0, 2.0, 3.0, 1.0, 2.0]
        "#);
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("Pad").string("mode", "mirror").input("f32[2]").constant(Tensor::from_i64s(vec![1, 1])).emit(), @"parse: attribute `mode`: `mirror` is not constant, reflect, edge or wrap");
        insta::assert_snapshot!(node("Pad").input("f32[2]").constant(Tensor::from_i64s(vec![-2, -1])).emit(), @"parse: pads [-2, -1] leave axis 0 negative");
        insta::assert_snapshot!(node("Pad").string("mode", "edge").input("f32[0]").constant(Tensor::from_i64s(vec![1, 1])).emit(), @"parse: cannot pad the empty axis 0 in edge mode");
    }
}
