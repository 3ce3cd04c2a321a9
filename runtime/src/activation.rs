//! Activations that the compiler fuses into the op that produces their input.

use crate::tokens::tokens;

tokens! {
    rt;
    /// An activation applied to each output element of a Conv, Gemm or MatMul.
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub enum Activation {
        /// Identity.
        None,
        /// `max(x, 0)`.
        Relu,
        /// `min(max(x, min), max)`.
        Clip { min: f32, max: f32 },
    }
}

impl Activation {
    /// Applies the activation to one value.
    #[inline(always)]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Self::None => x,
            Self::Relu => x.max(0.0),
            Self::Clip { min, max } => x.max(min).min(max),
        }
    }

    /// Applies the activation to every element of `y` in place.
    #[inline]
    pub fn apply_slice(self, y: &mut [f32]) {
        match self {
            Self::None => {}
            Self::Relu => y.iter_mut().for_each(|v| *v = v.max(0.0)),
            Self::Clip { min, max } => y.iter_mut().for_each(|v| *v = v.max(min).min(max)),
        }
    }
}
