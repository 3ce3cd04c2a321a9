//! BatchNormalization in inference mode (opset 7 on; `spatial` gone since 9, training
//! outputs unsupported). Its statistics must be constants: parsing turns them into one
//! per-channel scale and shift. The passes fold it into a preceding Conv, or lower it to
//! Mul + Add; it is never emitted itself.

use proc_macro2::TokenStream;

use super::{required, Attrs, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, Data, Tensor, TensorType};

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
                "training_mode=1 is not supported (inference only)",
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
        insta::assert_snapshot!(batch_norm().int("training_mode", 1).emit(), @"parse: training_mode=1 is not supported (inference only)");
        insta::assert_snapshot!(node("BatchNormalization")
            .input("f32[1,2,3]")
            .constant(per_channel(&[1.0, 2.0, 3.0]))
            .constant(per_channel(&[0.0, 1.0]))
            .constant(per_channel(&[0.5, -0.5]))
            .constant(per_channel(&[1.5, 3.5]))
            .emit(), @"parse: scale has 3 values for 2 channels");
    }
}
