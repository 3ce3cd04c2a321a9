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
        /// `1 / (1 + e^−x)`, the logistic function.
        Sigmoid,
        /// `x · sigmoid(alpha·x)`: Swish, and SiLU at `alpha` 1.
        Swish { alpha: f32 },
    }
}

impl Activation {
    /// Applies the activation to one value. A NaN input gives the lower bound of Relu
    /// and Clip, as `f32::max` would; Sigmoid and Swish keep it NaN.
    #[inline(always)]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Self::None => x,
            Self::Relu => at_least(x, 0.0),
            Self::Clip { min, max } => at_most(at_least(x, min), max),
            Self::Sigmoid | Self::Swish { .. } => self.logistic(x),
        }
    }

    /// The element-wise op of a logistic activation (Sigmoid or Swish), whose kernels
    /// ([`crate::elementwise`]) compute it in vectors where the target has them.
    #[inline(always)]
    pub(crate) fn logistic_op(self) -> Option<crate::elementwise::UnaryOp> {
        use crate::elementwise::UnaryOp;
        match self {
            Self::Sigmoid => Some(UnaryOp::Sigmoid),
            Self::Swish { alpha } => Some(UnaryOp::Swish { alpha }),
            Self::None | Self::Relu | Self::Clip { .. } => None,
        }
    }

    /// A logistic activation of one value, by the element-wise kernel's scalar formula
    /// (the same value a Sigmoid or Swish node gives its tail); other activations pass
    /// `x` through.
    #[inline(never)]
    fn logistic(self, x: f32) -> f32 {
        let mut value = [x];
        if let Some(op) = self.logistic_op() {
            crate::elementwise::unary_in_place(op, &mut value);
        }
        value[0]
    }

    /// The activation as a [`Fixed`] kind and its bounds, for kernels that compile one
    /// loop per kind.
    #[inline(always)]
    pub(crate) fn fixed(self) -> (u8, (f32, f32)) {
        match self {
            Self::None => (Fixed::IDENTITY, (0.0, 0.0)),
            Self::Relu => (Fixed::RELU, (0.0, 0.0)),
            Self::Clip { min, max } => (Fixed::CLIP, (min, max)),
            Self::Sigmoid => (Fixed::SIGMOID, (0.0, 0.0)),
            Self::Swish { alpha } => (Fixed::SWISH, (alpha, 0.0)),
        }
    }

    /// Applies the activation to every element of `y` in place.
    #[inline]
    pub fn apply_slice(self, y: &mut [f32]) {
        if let Some(op) = self.logistic_op() {
            crate::elementwise::unary_in_place(op, y);
            return;
        }
        #[cfg(all(any(target_arch = "x86_64", target_arch = "aarch64"), zant_size))]
        self.apply_vectors(y);
        #[cfg(not(all(any(target_arch = "x86_64", target_arch = "aarch64"), zant_size)))]
        self.apply_scalars(y);
    }

    /// [`Self::apply_slice`] eight lanes at a time, then the tail, when built for size
    /// (`cfg(zant_size)`): what LLVM's vectoriser makes of the scalar loop at opt-level
    /// 3, written out so that it survives "z", where nothing is vectorised (mlperf-kws's
    /// separate activation passes ran 8 times the instructions). At opt-level 3 the
    /// vectoriser's own loop is unrolled further and is kept.
    #[cfg(all(
        any(target_arch = "x86_64", target_arch = "aarch64"),
        any(test, zant_size)
    ))]
    #[inline(always)]
    fn apply_vectors(self, y: &mut [f32]) {
        use crate::gemm::simd::{load_at, store_at, F32x8, LANES};
        let whole = y.len() - y.len() % LANES;
        let mut at = 0;
        match self {
            Self::None | Self::Sigmoid | Self::Swish { .. } => return self.apply_scalars(y),
            Self::Relu => {
                let zero = F32x8::splat(0.0);
                while at < whole {
                    store_at(load_at(y, at).max(zero), y, at);
                    at += LANES;
                }
            }
            Self::Clip { min, max } => {
                let (low, high) = (F32x8::splat(min), F32x8::splat(max));
                while at < whole {
                    store_at(load_at(y, at).max(low).min(high), y, at);
                    at += LANES;
                }
            }
        }
        self.apply_scalars(&mut y[whole..]);
    }

    /// [`Self::apply_slice`] one element at a time.
    #[inline(always)]
    fn apply_scalars(self, y: &mut [f32]) {
        match self {
            Self::None => {}
            Self::Relu => y.iter_mut().for_each(|v| *v = at_least(*v, 0.0)),
            Self::Clip { min, max } => y
                .iter_mut()
                .for_each(|v| *v = at_most(at_least(*v, min), max)),
            Self::Sigmoid | Self::Swish { .. } => y.iter_mut().for_each(|v| *v = self.apply(*v)),
        }
    }
}

/// An activation's kind as a constant parameter (`const ACT: u8`), so a kernel compiled
/// for it is straight code at every opt level: a closure, or a match on [`Activation`]
/// per value, stays a call or a branch at "z" (and LLVM re-tested it per row of a GEMM
/// tile on the Cortex-M7 even at 3). [`Activation::fixed`] gives the kind and bounds.
/// The scalar kernels (Cortex-M, and the host's tests of them) use it, and so do the
/// vector depthwise kernels (`Vector::activate_as`): matched at run time in their loops,
/// the logistic's code and constants stayed beside a Relu's one `max`, and LLVM kept
/// the loops' vectors on the stack.
pub(crate) struct Fixed;

impl Fixed {
    pub(crate) const IDENTITY: u8 = 0;
    pub(crate) const RELU: u8 = 1;
    pub(crate) const CLIP: u8 = 2;
    pub(crate) const SIGMOID: u8 = 3;
    /// Swish, its `alpha` in the first bound.
    pub(crate) const SWISH: u8 = 4;

    /// Activation `ACT` of `x`, with `(min, max)` for [`Fixed::CLIP`]; the same value as
    /// [`Activation::apply`].
    #[cfg(any(test, not(any(target_arch = "x86_64", target_arch = "aarch64"))))]
    #[inline(always)]
    pub(crate) fn apply<const ACT: u8>(x: f32, (min, max): (f32, f32)) -> f32 {
        match ACT {
            Self::RELU => at_least(x, 0.0),
            Self::CLIP => at_most(at_least(x, min), max),
            Self::SIGMOID => Activation::Sigmoid.apply(x),
            Self::SWISH => Activation::Swish { alpha: min }.apply(x),
            _ => x,
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

    #[test]
    fn slices_match_one_value_at_a_time() {
        // 19 values: two vectors and a tail on SIMD targets.
        let values: [f32; 19] = core::array::from_fn(|i| match i {
            3 => f32::NAN,
            7 => -0.0,
            11 => f32::NEG_INFINITY,
            16 => f32::INFINITY,
            _ => i as f32 * 0.75 - 6.0,
        });
        for act in [
            Activation::None,
            Activation::Relu,
            Activation::Clip {
                min: -1.5,
                max: 4.0,
            },
        ] {
            let mut sliced = values;
            act.apply_slice(&mut sliced);
            #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
            let vectors = {
                let mut y = values;
                act.apply_vectors(&mut y);
                y
            };
            #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
            let vectors = sliced;
            for (i, &x) in values.iter().enumerate() {
                let want = act.apply(x).to_bits();
                assert!(
                    sliced[i].to_bits() == want && vectors[i].to_bits() == want,
                    "{act:?} element {i}: {} and {} vs {}",
                    sliced[i],
                    vectors[i],
                    act.apply(x)
                );
            }
        }
    }

    #[test]
    fn logistic_activations_match_their_element_wise_ops() {
        use crate::elementwise::{unary, UnaryOp};
        // Whole vectors and a tail, over the range where both formulas are exercised.
        let values: [f32; 37] = core::array::from_fn(|i| i as f32 * 0.61 - 11.0);
        for (act, op) in [
            (Activation::Sigmoid, UnaryOp::Sigmoid),
            (
                Activation::Swish { alpha: 1.0 },
                UnaryOp::Swish { alpha: 1.0 },
            ),
            (
                Activation::Swish { alpha: 1.702 },
                UnaryOp::Swish { alpha: 1.702 },
            ),
        ] {
            let mut sliced = values;
            act.apply_slice(&mut sliced);
            let mut want = [0.0; 37];
            unary(op, &values, &mut want);
            assert_eq!(sliced, want, "{act:?}: a slice is what the op computes");
            for (&x, &want) in values.iter().zip(&want) {
                // One value takes the scalar formula, the op's vectors within 2 ulp of it.
                let one = act.apply(x);
                assert!(
                    (one - want).abs() <= 2.5e-7 * want.abs().max(1e-30),
                    "{act:?}({x}): {one} vs {want}"
                );
                let (kind, bounds) = act.fixed();
                let fixed = match kind {
                    Fixed::SIGMOID => Fixed::apply::<{ Fixed::SIGMOID }>(x, bounds),
                    _ => Fixed::apply::<{ Fixed::SWISH }>(x, bounds),
                };
                assert_eq!(
                    fixed.to_bits(),
                    one.to_bits(),
                    "{act:?}({x}) as a fixed kind"
                );
            }
        }
    }
}
