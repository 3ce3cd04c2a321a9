//! DFT (opset 17: `axis` an attribute, default 1; 20 on: `axis` input 2, default -2) and
//! STFT (opset 17): discrete Fourier transforms of signals stored with a trailing dim of 1
//! (real) or 2 (real and imaginary parts), computed by `rt::spectral`.
//!
//! DFT transforms along `axis`, cut or zero-padded to `dft_length` (input 1), forward or
//! `inverse` (scaled by `1/n`); `onesided` keeps bins `0..=n/2` of a forward transform, and
//! makes an inverse one read such a half spectrum and return the real signal (numpy's
//! `irfft`, whose default length is `2 · (len - 1)`). STFT transforms the frames
//! `[f · frame_step, f · frame_step + frame_length)` of `[batch, signal_len, 1 or 2]`,
//! each weighted by the optional `window`, into `[batch, frames, bins, 2]` (`onesided`
//! by default). The lengths, the axis and the step are compile-time constants.

use proc_macro2::TokenStream;
use quote::quote;

use super::{
    checked_elems, elem_type, required, Attrs, EmitCtx, FoldCtx, KernelSet, OpError, OpKind, Parse,
    ParseCtx,
};
use crate::tensor::{DType, Data, Tensor, TensorType};

/// ONNX `DFT`, with its axis and length resolved against the input's shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Dft {
    /// The transformed axis, non-negative and before the trailing complex dim.
    pub axis: usize,
    /// The transform's length (`dft_length`, or its default).
    pub n: usize,
    pub inverse: bool,
    pub onesided: bool,
}

/// ONNX `STFT`, with its lengths resolved against the signal's and window's shapes.
#[derive(Clone, Debug, PartialEq)]
pub struct Stft {
    /// The samples between the starts of two frames (`frame_step`).
    pub step: usize,
    /// The transform's length (`frame_length`, or the window's or signal's length).
    pub n: usize,
    pub onesided: bool,
}

/// A scalar (or one-element) integer constant input, at least 1.
fn positive(ctx: &ParseCtx<'_>, input: usize, what: &'static str) -> Result<usize, OpError> {
    positive_value(ctx.absorb(input, what)?, what)
}

/// `value` as a length of at least 1; `what` names it in the error.
fn positive_value(value: &Tensor, what: &str) -> Result<usize, OpError> {
    match value.to_i64s().as_slice() {
        [v] => usize::try_from(*v)
            .ok()
            .filter(|&v| v >= 1)
            .ok_or_else(|| OpError::shape(format!("{what} is {v}; it must be at least 1"))),
        other => Err(OpError::shape(format!(
            "{what} holds {} values, not one",
            other.len()
        ))),
    }
}

/// The trailing dim of a signal: whether it is complex (2) rather than real (1).
fn complex_dim(x: &TensorType, what: &str) -> Result<bool, OpError> {
    match x.shape.last() {
        Some(1) => Ok(false),
        Some(2) => Ok(true),
        _ => Err(OpError::shape(format!(
            "{what} {x} must end with a dim of 1 (real) or 2 (real and imaginary parts)"
        ))),
    }
}

/// Refuses element types the kernels do not transform (narrow floats reach them as `f32`).
fn float_signal(x: &TensorType) -> Result<(), OpError> {
    match x.dtype {
        DType::F32 | DType::F64 => Ok(()),
        other => Err(OpError::unsupported(format!(
            "implemented for f32 and f64 signals, not {other}"
        ))),
    }
}

impl Dft {
    /// The kernel's parameters for input `x`, checked against it.
    fn params(&self, x: &TensorType) -> Result<zant_runtime::spectral::Dft, OpError> {
        float_signal(x)?;
        let complex = complex_dim(x, "the input")?;
        let rank = x.shape.len();
        if self.axis + 1 >= rank {
            return Err(OpError::shape(format!(
                "axis {} is not a signal axis of {x}: the last dim holds the complex parts",
                self.axis
            )));
        }
        let params = zant_runtime::spectral::Dft {
            outer: x.shape[..self.axis].iter().product(),
            len: x.shape[self.axis],
            inner: x.shape[self.axis + 1..rank - 1].iter().product(),
            complex,
            n: self.n,
            inverse: self.inverse,
            onesided: self.onesided,
        };
        if params.len == 0 {
            return Err(OpError::shape(format!(
                "{x} has no samples along axis {}",
                self.axis
            )));
        }
        Ok(params)
    }

    /// The kernel's parameters and the output's shape for input `x`.
    fn out_shape(
        &self,
        x: &TensorType,
    ) -> Result<(zant_runtime::spectral::Dft, Vec<usize>), OpError> {
        let params = self.params(x)?;
        let mut shape = x.shape.clone();
        shape[self.axis] = params.out_len();
        if let Some(last) = shape.last_mut() {
            *last = params.out_parts();
        }
        checked_elems(&shape)?;
        Ok((params, shape))
    }
}

impl Parse for Dft {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let x = ctx.input(0)?;
        if x.shape.len() < 2 {
            return Err(OpError::shape(format!(
                "the input {x} has no signal dim before its trailing dim of 1 or 2"
            )));
        }
        let rank = x.shape.len() as i64;
        let axis = if ctx.opset < 20 {
            ctx.int("axis", 1)?
        } else {
            match ctx.absorb_optional(2, "axis")? {
                None => -2,
                Some(value) => match value.to_i64s().as_slice() {
                    [axis] => *axis,
                    other => {
                        return Err(OpError::shape(format!(
                            "the axis input holds {} values, not one",
                            other.len()
                        )))
                    }
                },
            }
        };
        // ONNX accepts [-r, -2] and [0, r - 2]: the last dim holds the complex parts.
        let normalized = if axis < 0 { axis + rank } else { axis };
        if !(0..rank - 1).contains(&normalized) {
            return Err(OpError::shape(format!(
                "axis {axis} is out of range for {x}: it must lie in [-{rank}, -2] or [0, {}]",
                rank - 2
            )));
        }
        let axis = normalized as usize;
        let inverse = ctx.int("inverse", 0)? != 0;
        let onesided = ctx.int("onesided", 0)? != 0;
        let n = match ctx.absorb_optional(1, "dft_length")? {
            Some(value) => positive_value(value, "dft_length")?,
            // A half spectrum of `len` bins stands for a signal of `2 · (len - 1)`.
            None if inverse && onesided => {
                let len = x.shape[axis];
                len.checked_sub(1)
                    .map(|l| 2 * l)
                    .filter(|&n| n >= 1)
                    .ok_or_else(|| {
                        OpError::shape(format!(
                        "a one-sided inverse of {len} bin(s) has no default dft_length; give one"
                    ))
                    })?
            }
            None => x.shape[axis],
        };
        Ok(Self {
            axis,
            n,
            inverse,
            onesided,
        })
    }
}

impl OpKind for Dft {
    /// The axis and length under their ONNX names, and the switches that are on.
    fn attrs(&self, attrs: &mut Attrs) {
        attrs
            .int("axis", self.axis as i64)
            .int("dft_length", self.n as i64);
        if self.inverse {
            attrs.int("inverse", 1);
        }
        if self.onesided {
            attrs.int("onesided", 1);
        }
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        let (_, shape) = self.out_shape(x)?;
        Ok(vec![TensorType::new(x.dtype, shape)])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let (params, shape) = self.out_shape(&x.ty())?;
        let n_out = shape.iter().product();
        let mut scratch = vec![0.0; zant_runtime::spectral::scratch_len(params.n)];
        let data = match &x.data {
            Data::F32(v) => {
                let mut y = vec![0.0; n_out];
                zant_runtime::spectral::dft(&params, v, &mut scratch, &mut y);
                Data::F32(y)
            }
            Data::F64(v) => {
                let mut y = vec![0.0; n_out];
                zant_runtime::spectral::dft(&params, v, &mut scratch, &mut y);
                Data::F64(y)
            }
            _ => return Ok(None),
        };
        Ok(Some(vec![Tensor::new(shape, data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let (params, _) = self.out_shape(x.ty)?;
        let xe = &x.expr;
        let t = elem_type(x.ty.dtype);
        Ok(quote! { rt::spectral::dft::<#t>(&#params, #xe, scratch, y); })
    }

    fn scratch_bytes(&self, _inputs: &[Option<&TensorType>], _kernels: KernelSet) -> usize {
        zant_runtime::spectral::scratch_len(self.n) * 8
    }

    fn scratch_type(&self) -> DType {
        DType::F64
    }
}

impl Stft {
    /// The kernel's parameters for the signal and the optional window, checked against them.
    fn params(
        &self,
        signal: &TensorType,
        window: Option<&TensorType>,
    ) -> Result<(zant_runtime::spectral::Stft, Vec<usize>), OpError> {
        float_signal(signal)?;
        let complex = complex_dim(signal, "the signal")?;
        let &[batch, signal_len, _] = signal.shape.as_slice() else {
            return Err(OpError::shape(format!(
                "the signal {signal} is not [batch, signal_length, 1 or 2]"
            )));
        };
        let frame_len = match window {
            None => self.n,
            Some(w) => match w.shape.as_slice() {
                [len] if w.dtype == signal.dtype && *len >= 1 => *len,
                _ => {
                    return Err(OpError::shape(format!(
                        "the window {w} is not a non-empty vector of the signal's type {}",
                        signal.dtype
                    )))
                }
            },
        };
        let frames = signal_len
            .checked_sub(self.n)
            .map(|rest| rest / self.step + 1)
            .ok_or_else(|| {
                OpError::shape(format!(
                    "frame_length {} is longer than the signal {signal}",
                    self.n
                ))
            })?;
        let params = zant_runtime::spectral::Stft {
            batch,
            signal_len,
            complex,
            step: self.step,
            frames,
            frame_len,
            n: self.n,
            onesided: self.onesided,
        };
        let shape = vec![batch, frames, params.bins(), 2];
        checked_elems(&shape)?;
        Ok((params, shape))
    }
}

impl Parse for Stft {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let signal = ctx.input(0)?;
        let step = positive(ctx, 1, "frame_step")?;
        let n = match ctx.absorb_optional(3, "frame_length")? {
            Some(value) => positive_value(value, "frame_length")?,
            None => match ctx.inputs.get(2).copied().flatten() {
                Some(window) => window.shape.first().copied().unwrap_or(0),
                None => signal.shape.get(1).copied().unwrap_or(0),
            },
        };
        if n == 0 {
            return Err(OpError::shape(
                "the frame length (from the window or the signal) is 0",
            ));
        }
        Ok(Self {
            step,
            n,
            onesided: ctx.int("onesided", 1)? != 0,
        })
    }
}

impl OpKind for Stft {
    /// The step and length under their ONNX input names, and `onesided` when it is off.
    fn attrs(&self, attrs: &mut Attrs) {
        attrs
            .int("frame_step", self.step as i64)
            .int("frame_length", self.n as i64);
        if !self.onesided {
            attrs.int("onesided", 0);
        }
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let signal = required(inputs, 0)?;
        let window = inputs.get(2).copied().flatten();
        let (_, shape) = self.params(signal, window)?;
        Ok(vec![TensorType::new(signal.dtype, shape)])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let signal = ctx.get(0)?;
        let window = ctx.consts.get(2).copied().flatten();
        let (params, shape) = self.params(&signal.ty(), window.map(|w| w.ty()).as_ref())?;
        let n_out = shape.iter().product();
        let mut scratch = vec![0.0; zant_runtime::spectral::scratch_len(params.n)];
        let scratch = &mut scratch;
        let data = match (&signal.data, window.map(|w| &w.data)) {
            (Data::F32(v), None) => {
                let mut y = vec![0.0; n_out];
                zant_runtime::spectral::stft(&params, v, None, scratch, &mut y);
                Data::F32(y)
            }
            (Data::F32(v), Some(Data::F32(w))) => {
                let mut y = vec![0.0; n_out];
                zant_runtime::spectral::stft(&params, v, Some(w), scratch, &mut y);
                Data::F32(y)
            }
            (Data::F64(v), None) => {
                let mut y = vec![0.0; n_out];
                zant_runtime::spectral::stft(&params, v, None, scratch, &mut y);
                Data::F64(y)
            }
            (Data::F64(v), Some(Data::F64(w))) => {
                let mut y = vec![0.0; n_out];
                zant_runtime::spectral::stft(&params, v, Some(w), scratch, &mut y);
                Data::F64(y)
            }
            _ => return Ok(None),
        };
        Ok(Some(vec![Tensor::new(shape, data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let signal = ctx.input(0)?;
        let window = ctx.inputs.get(2).and_then(Option::as_ref);
        let (params, _) = self.params(signal.ty, window.map(|w| w.ty))?;
        let xe = &signal.expr;
        let we = match window {
            Some(w) => {
                let e = &w.expr;
                quote!(Some(#e))
            }
            None => quote!(None),
        };
        let t = elem_type(signal.ty.dtype);
        Ok(quote! { rt::spectral::stft::<#t>(&#params, #xe, #we, scratch, y); })
    }

    fn scratch_bytes(&self, _inputs: &[Option<&TensorType>], _kernels: KernelSet) -> usize {
        zant_runtime::spectral::scratch_len(self.n) * 8
    }

    fn scratch_type(&self) -> DType {
        DType::F64
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::{Data, Tensor};

    fn scalar(v: i64) -> Tensor {
        Tensor::new(vec![], Data::I64(vec![v]))
    }

    #[test]
    fn dft_emits() {
        insta::assert_snapshot!(node("DFT").input("f32[1,10,10,1]").omitted().constant(scalar(1)).emit(), @"
        DFT(f32[1,10,10,1]) axis=1 dft_length=10 -> f32[1,10,10,2]
        rt::spectral::dft::<
            f32,
        >(
            &rt::spectral::Dft {
                outer: 1,
                len: 10,
                inner: 10,
                complex: false,
                n: 10,
                inverse: false,
                onesided: false,
            },
            x0,
            scratch,
            y,
        );
        ");
        insta::assert_snapshot!(node("DFT").opset(17).int("axis", 2).int("inverse", 1).input("f64[1,10,10,2]").emit(), @"
        DFT(f64[1,10,10,2]) axis=2 dft_length=10 inverse=1 -> f64[1,10,10,2]
        rt::spectral::dft::<
            f64,
        >(
            &rt::spectral::Dft {
                outer: 10,
                len: 10,
                inner: 1,
                complex: true,
                n: 10,
                inverse: true,
                onesided: false,
            },
            x0,
            scratch,
            y,
        );
        ");
        insta::assert_snapshot!(node("DFT").int("onesided", 1).input("f32[3,8,1]").constant(scalar(9)).emit(), @"
        DFT(f32[3,8,1]) axis=1 dft_length=9 onesided=1 -> f32[3,5,2]
        rt::spectral::dft::<
            f32,
        >(
            &rt::spectral::Dft {
                outer: 3,
                len: 8,
                inner: 1,
                complex: false,
                n: 9,
                inverse: false,
                onesided: true,
            },
            x0,
            scratch,
            y,
        );
        ");
        insta::assert_snapshot!(node("DFT").int("onesided", 1).int("inverse", 1).input("f32[2,6,2]").emit(), @"
        DFT(f32[2,6,2]) axis=1 dft_length=10 inverse=1 onesided=1 -> f32[2,10,1]
        rt::spectral::dft::<
            f32,
        >(
            &rt::spectral::Dft {
                outer: 2,
                len: 6,
                inner: 1,
                complex: true,
                n: 10,
                inverse: true,
                onesided: true,
            },
            x0,
            scratch,
            y,
        );
        ");
    }

    #[test]
    fn dft_folds() {
        // The spectrum of [1, 2, 3, 4]: 10, -2 + 2i, -2, -2 - 2i; one-sided, bins 0 to 2.
        let x = Tensor::new(vec![4, 1], Data::F32(vec![1.0, 2.0, 3.0, 4.0]));
        insta::assert_snapshot!(node("DFT").int("onesided", 1).constant(x).omitted().constant(scalar(0)).emit(), @"
        DFT(f32[4,1]) axis=0 dft_length=4 onesided=1 -> f32[3,2]
        folds to f32[3,2] [10.0, 0.0, -2.0, 2.0, -2.0, 0.0]
        ");
        let half = Tensor::new(vec![3, 2], Data::F32(vec![10.0, 0.0, -2.0, 2.0, -2.0, 0.0]));
        insta::assert_snapshot!(node("DFT").int("onesided", 1).int("inverse", 1).constant(half).omitted().constant(scalar(0)).emit(), @"
        DFT(f32[3,2]) axis=0 dft_length=4 inverse=1 onesided=1 -> f32[4,1]
        folds to f32[4,1] [1.0, 2.0, 3.0, 4.0]
        ");
    }

    #[test]
    fn dft_refuses() {
        insta::assert_snapshot!(node("DFT").input("f32[1,10,1]").omitted().input("i64[]").emit(), @"parse: input 2 (axis) must be a compile-time constant; zant compiles static shapes only");
        insta::assert_snapshot!(node("DFT").input("f32[1,10,1]").input("i64[]").emit(), @"parse: input 1 (dft_length) must be a compile-time constant; zant compiles static shapes only");
        insta::assert_snapshot!(node("DFT").input("f32[1,10,1]").omitted().constant(scalar(2)).emit(), @"parse: axis 2 is out of range for f32[1,10,1]: it must lie in [-3, -2] or [0, 1]");
        insta::assert_snapshot!(node("DFT").input("f32[1,10,1]").omitted().constant(scalar(-1)).emit(), @"parse: axis -1 is out of range for f32[1,10,1]: it must lie in [-3, -2] or [0, 1]");
        insta::assert_snapshot!(node("DFT").input("f32[2]").emit(), @"parse: the input f32[2] has no signal dim before its trailing dim of 1 or 2");
        insta::assert_snapshot!(node("DFT").input("f32[1,10,3]").emit(), @"infer: the input f32[1,10,3] must end with a dim of 1 (real) or 2 (real and imaginary parts)");
        insta::assert_snapshot!(node("DFT").input("i32[1,10,1]").emit(), @"infer: implemented for f32 and f64 signals, not i32");
        insta::assert_snapshot!(node("DFT").input("f32[1,10,1]").constant(scalar(0)).emit(), @"parse: dft_length is 0; it must be at least 1");
        insta::assert_snapshot!(node("DFT").int("onesided", 1).int("inverse", 1).input("f32[1,1,2]").emit(), @"parse: a one-sided inverse of 1 bin(s) has no default dft_length; give one");
    }

    #[test]
    fn stft_emits() {
        insta::assert_snapshot!(node("STFT").input("f32[1,128,1]").constant(scalar(8)).omitted().constant(scalar(16)).emit(), @"
        STFT(f32[1,128,1]) frame_step=8 frame_length=16 -> f32[1,15,9,2]
        rt::spectral::stft::<
            f32,
        >(
            &rt::spectral::Stft {
                batch: 1,
                signal_len: 128,
                complex: false,
                step: 8,
                frames: 15,
                frame_len: 16,
                n: 16,
                onesided: true,
            },
            x0,
            None,
            scratch,
            y,
        );
        ");
        insta::assert_snapshot!(node("STFT").int("onesided", 0).input("f32[2,64,2]").constant(scalar(4)).input("f32[16]").emit(), @"
        STFT(f32[2,64,2], _, f32[16]) frame_step=4 frame_length=16 onesided=0 -> f32[2,13,16,2]
        rt::spectral::stft::<
            f32,
        >(
            &rt::spectral::Stft {
                batch: 2,
                signal_len: 64,
                complex: true,
                step: 4,
                frames: 13,
                frame_len: 16,
                n: 16,
                onesided: false,
            },
            x0,
            Some(x2),
            scratch,
            y,
        );
        ");
        insta::assert_snapshot!(node("STFT").input("f32[1,128,1]").input("i64[]").emit(), @"parse: input 1 (frame_step) must be a compile-time constant; zant compiles static shapes only");
        insta::assert_snapshot!(node("STFT").input("f32[1,8,1]").constant(scalar(8)).omitted().constant(scalar(16)).emit(), @"infer: frame_length 16 is longer than the signal f32[1,8,1]");
        insta::assert_snapshot!(node("STFT").input("f32[1,128,1]").constant(scalar(8)).input("f64[16]").emit(), @"infer: the window f64[16] is not a non-empty vector of the signal's type f32");
    }
}
