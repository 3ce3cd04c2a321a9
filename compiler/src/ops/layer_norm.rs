//! LayerNormalization (opset 17; the optional `Mean` and `InvStdDev` outputs) and
//! RMSNormalization (opset 23), which share the `rt::norm` kernels: statistics over the
//! axes from `axis` on, then `Scale` (and LayerNormalization's `B`).
//!
//! `Scale` and `B` broadcast to X unidirectionally. When they cover exactly the normalised
//! axes (the usual case) the kernel applies them in its single output pass; any other
//! broadcast is applied to the output afterwards by the broadcasting `Mul`/`Add` kernel.
//! `stash_type` must be 1 (f32 statistics), the only precision f32 inputs have.

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::elementwise::BinaryOp;
use zant_runtime::norm::Norm;

use super::{
    broadcast_shapes, normalize_axis, required, shape_tokens, Attrs, EmitCtx, FoldCtx, OpError,
    OpKind, Parse, ParseCtx,
};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct LayerNorm {
    /// RMSNormalization: no mean subtracted, no bias, no statistics outputs.
    pub rms: bool,
    pub x_shape: Vec<usize>,
    pub axis: usize,
    pub epsilon: f32,
    /// The shapes of `Scale` and `B` (inputs 1 and 2), when present.
    pub scale: Option<Vec<usize>>,
    pub bias: Option<Vec<usize>>,
    /// Y, then LayerNormalization's Mean and InvStdDev.
    pub n_outputs: usize,
}

impl LayerNorm {
    fn rows(&self) -> usize {
        self.x_shape[..self.axis].iter().product()
    }

    fn cols(&self) -> usize {
        self.x_shape[self.axis..].iter().product()
    }

    /// Whether a `Scale`/`B` of `shape` holds one value per element of a row: padded to X's
    /// rank it is 1 before `axis` and X's extent from there on.
    fn covers_one_row(&self, shape: &[usize]) -> bool {
        let rank = self.x_shape.len();
        let mut padded = vec![1; rank - shape.len()];
        padded.extend_from_slice(shape);
        padded[..self.axis].iter().all(|&d| d == 1)
            && padded[self.axis..] == self.x_shape[self.axis..]
    }

    /// Whether `Scale` and `B` are applied inside the kernel.
    fn fused(&self) -> bool {
        [&self.scale, &self.bias]
            .into_iter()
            .flatten()
            .all(|s| self.covers_one_row(s))
    }
}

impl Parse for LayerNorm {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let rms = ctx.op_type == "RMSNormalization";
        let x = ctx.input(0)?;
        if x.dtype != DType::F32 || x.rank() == 0 {
            return Err(OpError::unsupported(format!(
                "{} is implemented for f32 tensors, not {x}",
                ctx.op_type
            )));
        }
        let stash_type = ctx.int("stash_type", 1)?;
        if stash_type != 1 {
            return Err(OpError::unsupported(format!(
                "stash_type {stash_type} is not supported (only 1, f32)"
            )));
        }
        let param = |i: usize, what: &str| -> Result<Option<Vec<usize>>, OpError> {
            if !ctx.has_input(i) {
                return Ok(None);
            }
            let t = ctx.input(i)?;
            if t.dtype != DType::F32 {
                return Err(OpError::shape(format!("{what} should be f32, not {t}")));
            }
            if t.rank() > x.rank()
                || broadcast_shapes(&x.shape, &t.shape).ok().as_ref() != Some(&x.shape)
            {
                return Err(OpError::shape(format!(
                    "{what} {t} does not broadcast to X {x}"
                )));
            }
            Ok(Some(t.shape.clone()))
        };
        let scale = param(1, "Scale")?;
        let bias = if rms { None } else { param(2, "B")? };
        Ok(Self {
            rms,
            x_shape: x.shape.clone(),
            axis: normalize_axis(ctx.int("axis", -1)?, x.rank())?,
            epsilon: ctx.float("epsilon", 1e-5)?,
            scale,
            bias,
            n_outputs: if rms { 1 } else { ctx.n_outputs.clamp(1, 3) },
        })
    }
}

impl OpKind for LayerNorm {
    fn attrs(&self, attrs: &mut Attrs) {
        attrs
            .int("axis", self.axis as i64)
            .float("epsilon", self.epsilon);
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        let shape_of = |i: usize| inputs.get(i).copied().flatten().map(|t| t.shape.clone());
        if x.shape != self.x_shape || shape_of(1) != self.scale || shape_of(2) != self.bias {
            return Err(OpError::shape(format!(
                "the inputs ({}) do not have the shapes the node was built for",
                shapes_text(inputs)
            )));
        }
        let mut stats_shape = self.x_shape[..self.axis].to_vec();
        stats_shape.resize(self.x_shape.len(), 1);
        let y = TensorType::new(DType::F32, self.x_shape.clone());
        let stats = TensorType::new(DType::F32, stats_shape);
        Ok([y, stats.clone(), stats][..self.n_outputs].to_vec())
    }

    /// LayerNormalization with its `Scale` and `B` covering one row and no statistics
    /// outputs (what `passes::qdq` compares its integer form with), by the kernel.
    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        if self.rms || self.n_outputs != 1 || !self.fused() {
            return Ok(None);
        }
        let operand = |i: usize, present: bool| -> Result<Option<&[f32]>, OpError> {
            Ok(if present { ctx.get(i)?.as_f32() } else { None })
        };
        let x = ctx.get(0)?;
        let (Some(xs), scale, bias) = (
            x.as_f32(),
            operand(1, self.scale.is_some())?,
            operand(2, self.bias.is_some())?,
        ) else {
            return Ok(None);
        };
        if scale.is_none() != self.scale.is_none() || bias.is_none() != self.bias.is_none() {
            return Ok(None);
        }
        let p = Norm {
            rows: self.rows(),
            cols: self.cols(),
            epsilon: self.epsilon,
        };
        let mut y = vec![0.0; xs.len()];
        zant_runtime::norm::layer_norm(&p, xs, scale, bias, &mut y, None, None);
        Ok(Some(vec![Tensor::new(x.shape.clone(), Data::F32(y))]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.expr(0)?;
        let (rows, cols) = (self.rows(), self.cols());
        let params = Norm {
            rows,
            cols,
            epsilon: self.epsilon,
        };
        let fused = self.fused();
        let operand = |i: usize, present: bool| -> Result<TokenStream, OpError> {
            Ok(if present && fused {
                let e = ctx.expr(i)?;
                quote!(Some(#e))
            } else {
                quote!(None)
            })
        };
        let scale = operand(1, self.scale.is_some())?;
        let mut call = if self.rms {
            quote! { rt::norm::rms_norm(&#params, #x, #scale, y); }
        } else {
            let bias = operand(2, self.bias.is_some())?;
            let mean = if self.n_outputs > 1 {
                quote!(Some(y1))
            } else {
                quote!(None)
            };
            let inv = if self.n_outputs > 2 {
                quote!(Some(y2))
            } else {
                quote!(None)
            };
            quote! { rt::norm::layer_norm(&#params, #x, #scale, #bias, y, #mean, #inv); }
        };
        if !fused {
            // Scale, then shift, the normalised output in place with broadcasting.
            let y_shape = shape_tokens(&self.x_shape);
            let try_ = ctx.try_suffix();
            for (i, op, shape) in [
                (1, BinaryOp::Mul, &self.scale),
                (2, BinaryOp::Add, &self.bias),
            ] {
                if let Some(shape) = shape {
                    let (e, s) = (ctx.expr(i)?, shape_tokens(shape));
                    call.extend(quote! {
                        rt::elementwise::binary_in_place(#op, true, y, #e, #s, #y_shape) #try_;
                    });
                }
            }
        }
        Ok(call)
    }
}

/// The input types as a list, `_` for an omitted one.
fn shapes_text(inputs: &[Option<&TensorType>]) -> String {
    let shown: Vec<String> = inputs
        .iter()
        .map(|t| t.map_or_else(|| "_".to_string(), ToString::to_string))
        .collect();
    shown.join(", ")
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("LayerNormalization")
            .input("f32[2,3,4]")
            .input("f32[4]")
            .input("f32[4]")
            .emit(), @"
        LayerNormalization(f32[2,3,4], f32[4], f32[4]) axis=2 epsilon=1e-5 -> f32[2,3,4]
        rt::norm::layer_norm(
            &rt::norm::Norm {
                rows: 6,
                cols: 4,
                epsilon: 0.00001f32,
            },
            x0,
            Some(x1),
            Some(x2),
            y,
            None,
            None,
        );
        ");
        insta::assert_snapshot!(node("LayerNormalization")
            .int("axis", -2)
            .float("epsilon", 1e-3)
            .input("f32[2,3,4]")
            .input("f32[3,4]")
            .outputs(3)
            .emit(), @"
        LayerNormalization(f32[2,3,4], f32[3,4]) axis=1 epsilon=0.001 -> f32[2,3,4], f32[2,1,1], f32[2,1,1]
        rt::norm::layer_norm(
            &rt::norm::Norm {
                rows: 2,
                cols: 12,
                epsilon: 0.001f32,
            },
            x0,
            Some(x1),
            None,
            y,
            Some(y1),
            Some(y2),
        );
        ");
        // A Scale that does not cover one row is applied after the kernel.
        insta::assert_snapshot!(node("LayerNormalization")
            .int("axis", 1)
            .input("f32[2,3,4]")
            .input("f32[4]")
            .input("f32[1,1,4]")
            .emit(), @r#"
        LayerNormalization(f32[2,3,4], f32[4], f32[1,1,4]) axis=1 epsilon=1e-5 -> f32[2,3,4]
        rt::norm::layer_norm(
            &rt::norm::Norm {
                rows: 2,
                cols: 12,
                epsilon: 0.00001f32,
            },
            x0,
            None,
            None,
            y,
            None,
            None,
        );
        rt::elementwise::binary_in_place(
                rt::elementwise::BinaryOp::Mul,
                true,
                y,
                x1,
                &[4],
                &[2, 3, 4],
            )
            .map_err(|e| rt::Error::at("node", e))?;
        rt::elementwise::binary_in_place(
                rt::elementwise::BinaryOp::Add,
                true,
                y,
                x2,
                &[1, 1, 4],
                &[2, 3, 4],
            )
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        insta::assert_snapshot!(node("RMSNormalization")
            .input("f32[2,8]")
            .input("f32[8]")
            .emit(), @"
        RMSNormalization(f32[2,8], f32[8]) axis=1 epsilon=1e-5 -> f32[2,8]
        rt::norm::rms_norm(
            &rt::norm::Norm {
                rows: 2,
                cols: 8,
                epsilon: 0.00001f32,
            },
            x0,
            Some(x1),
            y,
        );
        ");
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("LayerNormalization")
            .int("stash_type", 0)
            .input("f32[2,4]")
            .input("f32[4]")
            .emit(), @"parse: stash_type 0 is not supported (only 1, f32)");
        insta::assert_snapshot!(node("LayerNormalization")
            .input("f32[2,4]")
            .input("f32[3]")
            .emit(), @"parse: Scale f32[3] does not broadcast to X f32[2,4]");
        insta::assert_snapshot!(node("RMSNormalization")
            .int("axis", 2)
            .input("f32[2,4]")
            .input("f32[4]")
            .emit(), @"parse: axis 2 is out of range for rank 2");
    }
}
