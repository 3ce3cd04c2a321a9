//! One step of the training optimizers of ONNX's `ai.onnx.preview.training` domain
//! (Adagrad, Momentum, Adam), for one optimized tensor `x` and its state: the new
//! values of `x` and of its accumulators, in the op definitions' arithmetic.
//!
//! `r` (the learning rate) and `t` (the update count) are the ops' one-element inputs;
//! the compiler checks their sizes, and an empty slice reads as zero. Every slice of one
//! call has `x`'s length, which the compiler checks too; a shorter one ends the loop.

/// The one value of a one-element input (zero if it is empty).
fn first<T: Copy + Default>(v: &[T]) -> T {
    v.first().copied().unwrap_or_default()
}

/// `norm · x + g`: the gradient with its L2 regularization, which every optimizer
/// starts from.
fn regularized(norm: f32, x: f32, g: f32) -> f32 {
    norm * x + g
}

/// Adagrad: `r' = r / (1 + t · decay)`, `g' = norm · x + g`, `h_new = h + g'²`,
/// `x_new = x − r' · g' / (√h_new + ε)`.
#[allow(clippy::too_many_arguments)]
pub fn adagrad(
    decay_factor: f32,
    epsilon: f32,
    norm: f32,
    r: &[f32],
    t: &[i64],
    x: &[f32],
    g: &[f32],
    h: &[f32],
    x_new: &mut [f32],
    h_new: &mut [f32],
) {
    let rate = first(r) / (1.0 + first(t) as f32 * decay_factor);
    let rows = x.iter().zip(g).zip(h).zip(x_new.iter_mut().zip(h_new));
    for (((&x, &g), &h), (xo, ho)) in rows {
        let g = regularized(norm, x, g);
        let h = h + g * g;
        *ho = h;
        *xo = x - rate * g / (libm::sqrtf(h) + epsilon);
    }
}

/// Momentum: `g' = norm · x + g`, `v_new = α · v + β' · g'` with `β' = β` once `t > 0`
/// and 1 on the first step, then `x_new = x − r · v_new` (standard) or
/// `x − r · (g' + α · v_new)` (Nesterov).
#[allow(clippy::too_many_arguments)]
pub fn momentum(
    alpha: f32,
    beta: f32,
    norm: f32,
    nesterov: bool,
    r: &[f32],
    t: &[i64],
    x: &[f32],
    g: &[f32],
    v: &[f32],
    x_new: &mut [f32],
    v_new: &mut [f32],
) {
    let rate = first(r);
    let beta = if first(t) > 0 { beta } else { 1.0 };
    let rows = x.iter().zip(g).zip(v).zip(x_new.iter_mut().zip(v_new));
    for (((&x, &g), &v), (xo, vo)) in rows {
        let g = regularized(norm, x, g);
        let v = alpha * v + beta * g;
        *vo = v;
        let step = if nesterov { g + alpha * v } else { v };
        *xo = x - rate * step;
    }
}

/// Adam's attributes: the decay rates of the averaged gradient (`alpha`) and squared
/// gradient (`beta`), `epsilon`, and the L2 coefficients before (`norm`) and after
/// (`norm_post`) the update.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Adam {
    pub alpha: f32,
    pub beta: f32,
    pub epsilon: f32,
    pub norm: f32,
    pub norm_post: f32,
}

impl Adam {
    /// One step: `g' = norm · x + g`, `v_new = α · v + (1 − α) · g'`,
    /// `h_new = β · h + (1 − β) · g'²`, `r' = r · √(1 − βᵗ) / (1 − αᵗ)` once `t > 0`
    /// (`r` on the first step), `x_new = (1 − norm_post) · (x − r' · v_new / (√h_new + ε))`.
    #[allow(clippy::too_many_arguments)]
    pub fn step(
        &self,
        r: &[f32],
        t: &[i64],
        x: &[f32],
        g: &[f32],
        v: &[f32],
        h: &[f32],
        x_new: &mut [f32],
        v_new: &mut [f32],
        h_new: &mut [f32],
    ) {
        let (r, t) = (first(r), first(t));
        // The bias correction in f64, as the definition's scalar arithmetic; a count past
        // i32 leaves both powers at their limit.
        let rate = if t > 0 {
            let t = i32::try_from(t).unwrap_or(i32::MAX);
            let (a, b) = (f64::from(self.alpha), f64::from(self.beta));
            (f64::from(r) * libm::sqrt(1.0 - libm::pow(b, f64::from(t)))
                / (1.0 - libm::pow(a, f64::from(t)))) as f32
        } else {
            r
        };
        let (alpha, beta) = (self.alpha, self.beta);
        let states = v.iter().zip(h).zip(v_new.iter_mut().zip(h_new));
        for (((&x, &g), ((&v, &h), (vo, ho))), xo) in x.iter().zip(g).zip(states).zip(x_new) {
            let g = regularized(self.norm, x, g);
            let v = alpha * v + (1.0 - alpha) * g;
            let h = beta * h + (1.0 - beta) * (g * g);
            *vo = v;
            *ho = h;
            let x = x - rate * (v / (libm::sqrtf(h) + self.epsilon));
            *xo = (1.0 - self.norm_post) * x;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adagrad_follows_the_definition() {
        // r = 0.1, t = 1, decay 0.1: r' = 0.1 / 1.1; norm 0.5.
        let (x, g, h) = ([1.0f32, -2.0], [0.5f32, 0.25], [0.0f32, 4.0]);
        let (mut xo, mut ho) = ([0.0f32; 2], [0.0f32; 2]);
        adagrad(0.1, 1e-6, 0.5, &[0.1], &[1], &x, &g, &h, &mut xo, &mut ho);
        for i in 0..2 {
            let gr = 0.5 * x[i] + g[i];
            let hn = h[i] + gr * gr;
            assert_eq!(ho[i], hn);
            let want = x[i] - (0.1 / 1.1) * gr / (hn.sqrt() + 1e-6);
            assert!((xo[i] - want).abs() < 1e-6, "{} vs {want}", xo[i]);
        }
    }

    #[test]
    fn momentum_uses_beta_only_after_the_first_step() {
        let (x, g, v) = ([1.0f32], [2.0f32], [3.0f32]);
        let (mut xo, mut vo) = ([0.0f32], [0.0f32]);
        // t = 0: v_new = 0.9 · 3 + 1 · 2.
        momentum(
            0.9,
            0.5,
            0.0,
            false,
            &[0.1],
            &[0],
            &x,
            &g,
            &v,
            &mut xo,
            &mut vo,
        );
        assert_eq!(vo[0], 0.9 * 3.0 + 2.0);
        assert_eq!(xo[0], 1.0 - 0.1 * vo[0]);
        // t = 1: v_new = 0.9 · 3 + 0.5 · 2; Nesterov steps along g + α · v_new.
        momentum(
            0.9,
            0.5,
            0.0,
            true,
            &[0.1],
            &[1],
            &x,
            &g,
            &v,
            &mut xo,
            &mut vo,
        );
        assert_eq!(vo[0], 0.9 * 3.0 + 0.5 * 2.0);
        assert_eq!(xo[0], 1.0 - 0.1 * (2.0 + 0.9 * vo[0]));
    }

    #[test]
    fn adam_corrects_its_bias_after_the_first_step() {
        let adam = Adam {
            alpha: 0.9,
            beta: 0.999,
            epsilon: 1e-6,
            norm: 0.0,
            norm_post: 0.1,
        };
        let (x, g, v, h) = ([1.0f32], [0.5f32], [0.1f32], [0.2f32]);
        let (mut xo, mut vo, mut ho) = ([0.0f32], [0.0f32], [0.0f32]);
        for t in [0i64, 3] {
            adam.step(&[0.01], &[t], &x, &g, &v, &h, &mut xo, &mut vo, &mut ho);
            let vn: f64 = 0.9 * 0.1 + 0.1 * 0.5;
            let hn: f64 = 0.999 * 0.2 + 0.001 * 0.25;
            let rate = if t == 0 {
                0.01
            } else {
                0.01 * (1.0 - 0.999f64.powi(3)).sqrt() / (1.0 - 0.9f64.powi(3))
            };
            let want = 0.9 * (1.0 - rate * (vn / (hn.sqrt() + 1e-6)));
            assert!((f64::from(vo[0]) - vn).abs() < 1e-7);
            assert!((f64::from(ho[0]) - hn).abs() < 1e-7);
            assert!(
                (f64::from(xo[0]) - want).abs() < 1e-6,
                "t={t}: {} vs {want}",
                xo[0]
            );
        }
    }

    #[test]
    fn empty_rate_and_count_read_as_zero() {
        let (mut xo, mut ho) = ([9.0f32], [9.0f32]);
        adagrad(
            0.0,
            1e-6,
            0.0,
            &[],
            &[],
            &[1.0],
            &[1.0],
            &[0.0],
            &mut xo,
            &mut ho,
        );
        assert_eq!((xo[0], ho[0]), (1.0, 1.0));
    }
}
