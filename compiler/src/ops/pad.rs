//! Pad (opset 2: `pads` and `value` attributes; 11 on: `pads` and `constant_value` inputs;
//! 18 adds `axes`; 19 adds `wrap` mode): constant, reflect, edge or wrap padding, negative
//! pads crop. Pads, axes and the value must be compile-time constants.

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::index::PadMode;

use super::{
    elem_type, normalize_axis, required, shape_tokens, EmitCtx, FoldCtx, OpError, OpKind, Parse,
    ParseCtx,
};
use crate::tensor::{Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Pad {
    pub mode: PadMode,
    pub pads_begin: Vec<i64>,
    pub out_shape: Vec<usize>,
    /// The constant fill value, as `f64` (cast to the element type).
    pub value: f64,
    /// The fill value is input 2, read at run time (a value computed by the model).
    pub value_input: bool,
}

impl Parse for Pad {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let x = ctx.input(0)?;
        let rank = x.rank();
        let mode = match ctx.string("mode", "constant")?.as_str() {
            "constant" => PadMode::Constant,
            "reflect" => PadMode::Reflect,
            "edge" => PadMode::Edge,
            "wrap" => PadMode::Wrap,
            other => return Err(OpError::Other(format!("mode `{other}` is not supported"))),
        };
        let mut value_input = false;
        let (pads, value, axes) = if ctx.opset < 11 {
            let pads = ctx.ints("pads")?.ok_or("attribute `pads` is required")?;
            (pads, f64::from(ctx.float("value", 0.0)?), None)
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
            return Err(OpError::Other(format!(
                "{} pads for {} axes",
                pads.len(),
                axes.len()
            )));
        }
        let mut pads_begin = vec![0i64; rank];
        let mut out_shape = x.shape.clone();
        for (i, &a) in axes.iter().enumerate() {
            let (begin, end) = (pads[i], pads[i + axes.len()]);
            pads_begin[a] = begin;
            let dim = x.shape[a] as i64 + begin + end;
            out_shape[a] = usize::try_from(dim).map_err(|_| format!("axis {a} pads to {dim}"))?;
            if mode != PadMode::Constant && x.shape[a] == 0 && dim > 0 {
                return Err(OpError::Other(format!(
                    "cannot pad the empty axis {a} in this mode"
                )));
            }
        }
        super::checked_elems(&out_shape)?;
        Ok(Self {
            mode,
            pads_begin,
            out_shape,
            value,
            value_input,
        })
    }
}

impl OpKind for Pad {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
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
        let mode = match self.mode {
            PadMode::Constant => quote!(Constant),
            PadMode::Reflect => quote!(Reflect),
            PadMode::Edge => quote!(Edge),
            PadMode::Wrap => quote!(Wrap),
        };
        let value = self.value;
        let value = if value.is_nan() {
            quote!(f64::NAN)
        } else if value.is_infinite() {
            if value > 0.0 {
                quote!(f64::INFINITY)
            } else {
                quote!(f64::NEG_INFINITY)
            }
        } else {
            quote!(#value)
        };
        let value = if self.value_input {
            let v = ctx.expr(2)?;
            quote!((#v)[0])
        } else {
            quote!(<#t as rt::scalar::Scalar>::from_f64(#value))
        };
        Ok(quote! {
            rt::index::pad::<#t>(#xe, #x_shape, &[#(#begin),*], rt::index::PadMode::#mode, #value, y, #y_shape);
        })
    }
}
