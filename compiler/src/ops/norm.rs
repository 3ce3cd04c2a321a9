//! BatchNormalization (opset 7 on; `spatial` gone since 9). In inference mode its
//! statistics must be constants: parsing turns them into one per-channel scale and
//! shift, and the passes fold it into a preceding Conv, or lower it to Mul + Add; it is
//! never emitted itself. In training mode (opset 14 on, `training_mode = 1`) it
//! normalises by the batch's own statistics and returns the running mean and variance
//! (`BatchNormTraining`, `rt::norm::batch_norm_training`); the older opsets' training
//! outputs (up to five, chosen by their count) are refused.

use proc_macro2::TokenStream;
use quote::quote;

use super::f32_tokens;
use super::{required, Attrs, EmitCtx, FoldCtx, Op, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, Data, Tensor, TensorType};

/// The table's parser: [`BatchNormTraining`] in training mode, else [`BatchNorm`].
pub fn parse(ctx: &ParseCtx<'_>) -> Result<Op, OpError> {
    if ctx.opset >= 14 && ctx.int("training_mode", 0)? != 0 {
        return Ok(Op::from(BatchNormTraining::parse(ctx)?));
    }
    if ctx.n_outputs > 1 {
        return Err(OpError::unsupported(format!(
            "{} outputs: in inference mode BatchNormalization has one (its training-mode \
             outputs compile from opset 14, with training_mode=1)",
            ctx.n_outputs
        )));
    }
    Ok(Op::from(BatchNorm::parse(ctx)?))
}

/// BatchNormalization in training mode: `Y` from the batch's mean and variance over
/// every axis but the channels, and the running statistics when the node names them.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchNormTraining {
    pub epsilon: f32,
    pub momentum: f32,
    /// 1 to 3: `Y`, then `running_mean`, then `running_var`.
    pub n_outputs: usize,
}

impl Parse for BatchNormTraining {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        Ok(Self {
            epsilon: ctx.float("epsilon", 1e-5)?,
            momentum: ctx.float("momentum", 0.9)?,
            n_outputs: ctx.n_outputs.clamp(1, 3),
        })
    }
}

impl OpKind for BatchNormTraining {
    fn attrs(&self, attrs: &mut Attrs) {
        attrs
            .float("epsilon", self.epsilon)
            .float("momentum", self.momentum)
            .int("training_mode", 1);
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        if x.dtype != DType::F32 || x.rank() < 2 {
            return Err(OpError::unsupported(format!(
                "BatchNormalization is implemented for f32 with channels, not {x}"
            )));
        }
        let stats = TensorType::new(DType::F32, vec![x.shape[1]]);
        for (i, name) in [(1, "scale"), (2, "B"), (3, "input_mean"), (4, "input_var")] {
            let t = required(inputs, i)?;
            if *t != stats {
                return Err(OpError::shape(format!("{name} is {t}; it must be {stats}")));
            }
        }
        Ok([x.clone(), stats.clone(), stats][..self.n_outputs].to_vec())
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let (batch, channels) = (x.ty.shape[0], x.ty.shape[1]);
        let spatial: usize = x.ty.shape[2..].iter().product();
        let xe = &x.expr;
        let (s, b, m, v) = (ctx.expr(1)?, ctx.expr(2)?, ctx.expr(3)?, ctx.expr(4)?);
        let (eps, momentum) = (f32_tokens(self.epsilon), f32_tokens(self.momentum));
        let mean = if self.n_outputs > 1 {
            quote!(Some(y1))
        } else {
            quote!(None)
        };
        let var = if self.n_outputs > 2 {
            quote!(Some(y2))
        } else {
            quote!(None)
        };
        Ok(quote! {
            rt::norm::batch_norm_training(
                (#batch, #channels, #spatial), (#eps, #momentum), #xe, [#s, #b, #m, #v], y, #mean, #var,
            );
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct BatchNorm {
    /// `scale / sqrt(var + epsilon)` per channel.
    pub scale: Vec<f32>,
    /// `bias - mean * scale'` per channel.
    pub shift: Vec<f32>,
    /// The `epsilon` that went into `scale`.
    pub epsilon: f32,
    /// The absorbed inputs as the node gave them (`scale`, `B`, `mean`, `var`), kept for
    /// the IR text, which shows them under their input names.
    pub stats: [Vec<f32>; 4],
}

impl Parse for BatchNorm {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let x = ctx.input(0)?;
        if x.dtype != DType::F32 || x.rank() < 2 {
            return Err(OpError::unsupported(format!(
                "BatchNormalization is implemented for f32 with channels, not {x}"
            )));
        }
        if ctx.int("training_mode", 0)? != 0 {
            return Err(OpError::unsupported(
                "training_mode=1 compiles from opset 14 (its outputs before were others)",
            ));
        }
        let c = x.shape[1];
        let param = |i: usize, what: &'static str| -> Result<Vec<f32>, OpError> {
            let t = ctx.absorb(i, what)?;
            let v = t
                .as_f32()
                .ok_or_else(|| OpError::shape(format!("{what} should be f32, not {}", t.ty())))?;
            if v.len() != c {
                return Err(OpError::shape(format!(
                    "{what} has {} values for {c} channels",
                    v.len()
                )));
            }
            Ok(v.to_vec())
        };
        let (gamma, beta, mean, var) = (
            param(1, "scale")?,
            param(2, "B")?,
            param(3, "mean")?,
            param(4, "var")?,
        );
        let eps = ctx.float("epsilon", 1e-5)?;
        let scale: Vec<f32> = gamma
            .iter()
            .zip(&var)
            .map(|(g, v)| g / (v + eps).sqrt())
            .collect();
        let shift = beta
            .iter()
            .zip(&mean)
            .zip(&scale)
            .map(|((b, m), s)| b - m * s)
            .collect();
        Ok(Self {
            scale,
            shift,
            epsilon: eps,
            stats: [gamma, beta, mean, var],
        })
    }
}

impl OpKind for BatchNorm {
    fn attrs(&self, attrs: &mut Attrs) {
        attrs.float("epsilon", self.epsilon);
        for (name, values) in ["scale", "B", "mean", "var"].into_iter().zip(&self.stats) {
            attrs.floats(name, values);
        }
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        if x.rank() < 2 || x.shape[1] != self.scale.len() {
            return Err(OpError::shape(format!(
                "input {x} does not have {} channels",
                self.scale.len()
            )));
        }
        Ok(vec![x.clone()])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let xs = x
            .as_f32()
            .ok_or_else(|| OpError::shape(format!("input 0 is {}, not f32", x.dtype())))?;
        let c = self.scale.len();
        let inner: usize = x.shape[2..].iter().product();
        let y = xs
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let ch = (i / inner.max(1)) % c;
                v * self.scale[ch] + self.shift[ch]
            })
            .collect();
        Ok(Some(vec![Tensor::new(x.shape.clone(), Data::F32(y))]))
    }

    fn emit(&self, _ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        // The passes always fold or lower it; reaching here means they did not run.
        Err(OpError::unsupported(
            "BatchNormalization has no kernel: the passes fold it into a Conv or lower it",
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::{Data, Tensor};

    #[test]
    fn emits_training_mode() {
        insta::assert_snapshot!(node("BatchNormalization").opset(15).outputs(3).int("training_mode", 1)
            .input("f32[2,3,4]").input("f32[3]").input("f32[3]").input("f32[3]").input("f32[3]").emit(), @r#"
        BatchNormalization(f32[2,3,4], f32[3], f32[3], f32[3], f32[3]) epsilon=1e-5 momentum=0.9 training_mode=1 -> f32[2,3,4], f32[3], f32[3]
        rt::norm::batch_norm_training(
            (2, 3, 4),
            (0.00001f32, 0.9f32),
            x0,
            [x1, x2, x3, x4],
            y,
            Some(y1),
            Some(y2),
        );
        "#);
        insta::assert_snapshot!(node("BatchNormalization").opset(15).int("training_mode", 1).float("momentum", 0.5)
            .input("f32[2,3]").input("f32[3]").input("f32[3]").input("f32[3]").input("f32[3]").emit(), @r#"
        BatchNormalization(f32[2,3], f32[3], f32[3], f32[3], f32[3]) epsilon=1e-5 momentum=0.5 training_mode=1 -> f32[2,3]
        rt::norm::batch_norm_training(
            (2, 3, 1),
            (0.00001f32, 0.5f32),
            x0,
            [x1, x2, x3, x4],
            y,
            None,
            None,
        );
        "#);
        insta::assert_snapshot!(node("BatchNormalization").opset(15).outputs(3).int("training_mode", 1)
            .input("f32[2,3,4]").input("f32[3]").input("f32[2]").input("f32[3]").input("f32[3]").emit(), @"infer: B is f32[2]; it must be f32[3]");
        insta::assert_snapshot!(node("BatchNormalization").opset(15).outputs(3)
            .input("f32[2,3,4]").input("f32[3]").input("f32[3]").input("f32[3]").input("f32[3]").emit(), @"parse: 3 outputs: in inference mode BatchNormalization has one (its training-mode outputs compile from opset 14, with training_mode=1)");
        insta::assert_snapshot!(node("BatchNormalization").opset(9).int("training_mode", 1)
            .input("f32[2,3,4]").input("f32[3]").input("f32[3]").input("f32[3]").input("f32[3]").emit(), @"parse: training_mode=1 compiles from opset 14 (its outputs before were others)");
    }

    fn per_channel(values: &[f32]) -> Tensor {
        Tensor::new(vec![values.len()], Data::F32(values.to_vec()))
    }

    fn batch_norm() -> crate::ops::testing::NodeBuilder {
        node("BatchNormalization")
            .float("epsilon", 0.5)
            .input("f32[1,2,3]")
            .constant(per_channel(&[1.0, 2.0]))
            .constant(per_channel(&[0.0, 1.0]))
            .constant(per_channel(&[0.5, -0.5]))
            .constant(per_channel(&[1.5, 3.5]))
    }

    #[test]
    fn emits() {
        // Only ever lowered by the passes.
        insta::assert_snapshot!(batch_norm().emit(), @"emit: BatchNormalization has no kernel: the passes fold it into a Conv or lower it");
        insta::assert_snapshot!(node("BatchNormalization")
            .constant(Tensor::new(vec![1, 2], Data::F32(vec![1.0, 1.0])))
            .constant(per_channel(&[1.0, 2.0]))
            .constant(per_channel(&[0.0, 1.0]))
            .constant(per_channel(&[0.5, -0.5]))
            .constant(per_channel(&[0.75, 3.75]))
            .emit(), @"
        BatchNormalization(f32[1,2]) epsilon=1e-5 scale=[1.0,2.0] B=[0.0,1.0] mean=[0.5,-0.5] var=[0.75,3.75] -> f32[1,2]
        folds to f32[1,2] [0.57734644, 2.5491915]
        ");
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("BatchNormalization")
            .input("f32[1,2,3]")
            .constant(per_channel(&[1.0, 2.0]))
            .constant(per_channel(&[0.0, 1.0]))
            .input("f32[2]")
            .constant(per_channel(&[1.0, 1.0]))
            .emit(), @"parse: input 3 (mean) must be a compile-time constant; zant compiles static shapes only");
        // Training mode compiles (emits_training_mode); the old opsets refuse it.
        insta::assert_snapshot!(batch_norm().opset(13).int("training_mode", 1).emit(), @"parse: training_mode=1 compiles from opset 14 (its outputs before were others)");
        insta::assert_snapshot!(node("BatchNormalization")
            .input("f32[1,2,3]")
            .constant(per_channel(&[1.0, 2.0, 3.0]))
            .constant(per_channel(&[0.0, 1.0]))
            .constant(per_channel(&[0.5, -0.5]))
            .constant(per_channel(&[1.5, 3.5]))
            .emit(), @"parse: scale has 3 values for 2 channels");
    }
}
