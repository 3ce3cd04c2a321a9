//! BatchNormalization in inference mode (opset 7 on; `spatial` gone since 9, training
//! outputs unsupported). Its statistics must be constants: parsing turns them into one
//! per-channel scale and shift. The passes fold it into a preceding Conv, or lower it to
//! Mul + Add; it is never emitted itself.

use proc_macro2::TokenStream;

use super::{EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct BatchNorm {
    /// `scale / sqrt(var + epsilon)` per channel.
    pub scale: Vec<f32>,
    /// `bias - mean * scale'` per channel.
    pub shift: Vec<f32>,
}

impl Parse for BatchNorm {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let x = ctx.input(0)?;
        if x.dtype != DType::F32 || x.rank() < 2 {
            return Err(OpError::Other(format!(
                "BatchNormalization is implemented for f32 with channels, not {x}"
            )));
        }
        if ctx.int("training_mode", 0)? != 0 {
            return Err(OpError::Other("training_mode is not supported".into()));
        }
        let c = x.shape[1];
        let param = |i: usize, what: &'static str| -> Result<Vec<f32>, OpError> {
            let t = ctx.absorb(i, what)?;
            let v = t.as_f32().ok_or_else(|| format!("{what} must be f32"))?;
            if v.len() != c {
                return Err(OpError::Other(format!(
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
        Ok(Self { scale, shift })
    }
}

impl OpKind for BatchNorm {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = inputs
            .first()
            .copied()
            .flatten()
            .ok_or("input 0 is required")?;
        if x.rank() < 2 || x.shape[1] != self.scale.len() {
            return Err(OpError::Other(format!(
                "input {x} does not have {} channels",
                self.scale.len()
            )));
        }
        Ok(vec![x.clone()])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let xs = x.as_f32().ok_or("f32")?;
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
        Err(OpError::Other(
            "BatchNormalization is lowered by the passes before emission".into(),
        ))
    }
}
