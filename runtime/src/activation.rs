//! Activations that the compiler fuses into the op that produces their input.

use crate::scalar::{at_least, at_most};
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
    /// Applies the activation to one value. A NaN input gives the lower bound, as
    /// `f32::max` would.
    #[inline(always)]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Self::None => x,
            Self::Relu => at_least(x, 0.0),
            Self::Clip { min, max } => at_most(at_least(x, min), max),
        }
    }

    /// Applies the activation to every element of `y` in place.
    #[inline]
    pub fn apply_slice(self, y: &mut [f32]) {
        match self {
            Self::None => {}
            Self::Relu => y.iter_mut().for_each(|v| *v = at_least(*v, 0.0)),
            Self::Clip { min, max } => y
                .iter_mut()
                .for_each(|v| *v = at_most(at_least(*v, min), max)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_inputs_give_the_lower_bound() {
        let clip = Activation::Clip {
            min: -1.0,
            max: 2.0,
        };
        for (x, relu, clipped) in [
            (f32::NAN, 0.0, -1.0),
            (-3.0, 0.0, -1.0),
            (0.5, 0.5, 0.5),
            (5.0, 5.0, 2.0),
            (f32::INFINITY, f32::INFINITY, 2.0),
        ] {
            assert_eq!(Activation::Relu.apply(x), relu);
            assert_eq!(clip.apply(x), clipped);
            let mut y = [x; 3];
            clip.apply_slice(&mut y);
            assert_eq!(y, [clipped; 3]);
        }
    }
}
