//! The activations the float families fuse into their kernels, by the number a case
//! draws, and the same in `f64` for the references: 0 none, 1 Relu, 2 Clip to the
//! family's bounds, 3 Sigmoid, 4 SiLU, 5 Swish with α = 1.702 (the GELU approximation).

use zant_runtime::activation::Activation;

use crate::elementwise::sigmoid;

/// The kernel's activation number `act`, with Clip's bounds `clip`.
pub(crate) fn activation(act: u8, clip: (f32, f32)) -> Activation {
    match act {
        1 => Activation::Relu,
        2 => Activation::Clip {
            min: clip.0,
            max: clip.1,
        },
        3 => Activation::Sigmoid,
        4 => Activation::Swish { alpha: 1.0 },
        5 => Activation::Swish { alpha: 1.702 },
        _ => Activation::None,
    }
}

/// Activation `act` of `v` in `f64`, as the references apply it.
pub(crate) fn reference(act: u8, clip: (f32, f32), v: f64) -> f64 {
    match act {
        1 => v.max(0.0),
        2 => v.clamp(f64::from(clip.0), f64::from(clip.1)),
        3 => sigmoid(v),
        4 => v * sigmoid(v),
        5 => v * sigmoid(f64::from(1.702f32) * v),
        _ => v,
    }
}
