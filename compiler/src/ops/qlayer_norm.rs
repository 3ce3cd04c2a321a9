//! ai.zant.QLayerNormalization: LayerNormalization from 8-bit data to 8-bit data, the
//! compiler's form of a `DequantizeLinear → LayerNormalization → QuantizeLinear` group
//! (`passes::qdq`). ONNX Runtime has no integer LayerNormalization and runs the group in
//! float; so does this op, row by row (`rt::norm::qlayer_norm`): the same results to the
//! bit, without the two `f32` tensors between the DQ and the Q.
//!
//! Inputs: `X` (8-bit), `x_scale`, `x_zero_point`, `Scale`, `B` (`f32`, one value per
//! element of a normalised row), `y_scale`, `y_zero_point` (whose type is the output's,
//! `u8` without it). Attributes `axis` and `epsilon` as LayerNormalization's.

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::norm::Norm;
use zant_runtime::target::KernelSet;

use super::qlinear::{eight_bit, Absorbed};
use super::{
    elem_type, f32_tokens, normalize_axis, required, Attrs, EmitCtx, FoldCtx, OpError, OpKind,
    Parse, ParseCtx,
};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct QLayerNorm {
    pub x_shape: Vec<usize>,
    pub axis: usize,
    pub epsilon: f32,
    pub has_bias: bool,
    /// The output's type: `y_zero_point`'s.
    pub out: DType,
    pub consts: Absorbed,
}

impl QLayerNorm {
    fn norm(&self) -> Norm {
        Norm {
            rows: self.x_shape[..self.axis].iter().product(),
            cols: self.x_shape[self.axis..].iter().product(),
            epsilon: self.epsilon,
        }
    }
}

impl Parse for QLayerNorm {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let x = ctx.input(0)?;
        let dtype = eight_bit("X", x)?;
        if x.rank() == 0 {
            return Err(OpError::shape(format!("X {x} has no axis to normalise")));
        }
        let axis = normalize_axis(ctx.int("axis", -1)?, x.rank())?;
        let cols: usize = x.shape[axis..].iter().product();
        let mut consts = Absorbed::default();
        consts.take(ctx, 1, "x_scale", true)?;
        consts.take(ctx, 2, "x_zero_point", false)?;
        consts.take(ctx, 5, "y_scale", true)?;
        consts.take(ctx, 6, "y_zero_point", false)?;
        consts.scales("x_scale", 1)?;
        consts.scales("y_scale", 1)?;
        consts.zeros("x_zero_point", dtype, 1)?;
        let out = ctx
            .consts
            .get(6)
            .copied()
            .flatten()
            .map_or(DType::U8, |z| z.dtype());
        eight_bit("y_zero_point", &TensorType::new(out, vec![]))?;
        // Scale and B hold one value per element of a row (their leading axes 1).
        let row = |i: usize, what: &str| -> Result<bool, OpError> {
            if !ctx.has_input(i) {
                return Ok(false);
            }
            let t = ctx.input(i)?;
            let lead = t.rank().saturating_sub(x.rank() - axis);
            if t.dtype != DType::F32
                || t.rank() > x.rank()
                || t.shape[..lead].iter().any(|&d| d != 1)
                || t.shape[lead..].iter().product::<usize>() != cols
                || t.shape[lead..] != x.shape[x.rank() - (t.rank() - lead)..]
            {
                return Err(OpError::shape(format!(
                    "{what} {t} is not one f32 value per element of a normalised row of X {x}"
                )));
            }
            Ok(true)
        };
        if !row(3, "Scale")? {
            return Err(OpError::MissingInput { input: 3 });
        }
        let has_bias = row(4, "B")?;
        Ok(Self {
            x_shape: x.shape.clone(),
            axis,
            epsilon: ctx.float("epsilon", 1e-5)?,
            has_bias,
            out,
            consts,
        })
    }
}

impl OpKind for QLayerNorm {
    fn attrs(&self, attrs: &mut Attrs) {
        attrs
            .int("axis", self.axis as i64)
            .float("epsilon", self.epsilon);
        self.consts.print(attrs);
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        if x.shape != self.x_shape {
            return Err(OpError::shape(format!(
                "X {x} is not the {:?} the node was built for",
                self.x_shape
            )));
        }
        Ok(vec![TensorType::new(self.out, self.x_shape.clone())])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let (x, scale) = (ctx.get(0)?, ctx.get(3)?);
        let bias = if self.has_bias {
            Some(ctx.get(4)?)
        } else {
            None
        };
        let (Some(scale), bias) = (scale.as_f32(), bias.map(Tensor::as_f32)) else {
            return Ok(None);
        };
        let bias = match bias {
            Some(None) => return Ok(None),
            Some(b) => b,
            None => None,
        };
        let p = self.norm();
        let x_zero = self.consts.zeros("x_zero_point", x.dtype(), 1)?[0];
        let y_zero = self.consts.zeros("y_zero_point", self.out, 1)?[0];
        let x_scale = self.consts.scales("x_scale", 1)?[0];
        let y_scale = self.consts.scales("y_scale", 1)?[0];
        let mut scratch = vec![0f32; zant_runtime::norm::qlayer_norm_scratch_len(p.cols)];
        let n = x.n_elems();
        macro_rules! run {
            ($xs:expr, $y:ty, $wrap:path) => {{
                let mut y = vec![<$y>::default(); n];
                zant_runtime::norm::qlayer_norm(
                    &p,
                    $xs,
                    x_scale,
                    x_zero,
                    scale,
                    bias,
                    y_scale,
                    y_zero as $y,
                    &mut scratch,
                    &mut y,
                );
                $wrap(y)
            }};
        }
        let data = match (&x.data, self.out) {
            (Data::U8(xs), DType::U8) => run!(xs, u8, Data::U8),
            (Data::U8(xs), DType::I8) => run!(xs, i8, Data::I8),
            (Data::I8(xs), DType::U8) => run!(xs, u8, Data::U8),
            (Data::I8(xs), DType::I8) => run!(xs, i8, Data::I8),
            _ => return Ok(None),
        };
        Ok(Some(vec![Tensor::new(x.shape.clone(), data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let scale = ctx.expr(3)?;
        let bias = if self.has_bias {
            let b = ctx.expr(4)?;
            quote!(Some(#b))
        } else {
            quote!(None)
        };
        let x_zero = self.consts.zeros("x_zero_point", x.ty.dtype, 1)?[0];
        let y_zero = self.consts.zeros("y_zero_point", self.out, 1)?[0];
        let x_scale = f32_tokens(self.consts.scales("x_scale", 1)?[0]);
        let y_scale = f32_tokens(self.consts.scales("y_scale", 1)?[0]);
        let (xt, yt) = (elem_type(x.ty.dtype), elem_type(self.out));
        let (xe, p) = (&x.expr, self.norm());
        let y_zero = match self.out {
            DType::I8 => {
                let v = y_zero as i8;
                quote!(#v)
            }
            _ => {
                let v = y_zero as u8;
                quote!(#v)
            }
        };
        Ok(quote! {
            rt::norm::qlayer_norm::<#xt, #yt>(
                &#p, #xe, #x_scale, #x_zero, #scale, #bias, #y_scale, #y_zero, scratch, y);
        })
    }

    fn scratch_bytes(&self, _inputs: &[Option<&TensorType>], _kernels: KernelSet) -> usize {
        zant_runtime::norm::qlayer_norm_scratch_len(self.norm().cols) * 4
    }
}
