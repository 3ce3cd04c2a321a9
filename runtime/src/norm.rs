//! Normalisation over trailing axes: ONNX `LayerNormalization` and `RMSNormalization`;
//! and over channels of NCHW tensors: `InstanceNormalization`, `GroupNormalization` and
//! `LRN`.
//!
//! Both view the input as `[rows, cols]`, `cols` being the product of the normalised
//! axes. Each row is read for its statistics (summed in independent lanes, so the sums
//! vectorise) and once more to write the output, so the kernels need no scratch memory.
//! The optional `scale` and `bias` are applied in the same pass when they cover exactly
//! one row (the usual `Scale` of the normalised shape); other broadcasts are left to the
//! caller, who applies them to `y` afterwards.

use crate::qlinear::QInt;
use crate::reduce::{squared_deviations, sum_of, sum_of_squares};
use crate::tokens::tokens;

tokens! {
    rt::norm;
    /// The `[rows, cols]` view of a normalisation.
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub struct Norm {
        /// The product of the axes before the first normalised one.
        pub rows: usize,
        /// The product of the normalised axes.
        pub cols: usize,
        pub epsilon: f32,
    }
}

/// A row's mean and `1 / √(var + ε)`, its (biased) variance: both plain averages, summed
/// in lanes (`reduce::sum_of`).
fn row_stats(row: &[f32], epsilon: f32) -> (f32, f32) {
    let n = row.len() as f32;
    let mu = sum_of(row) / n;
    let var = squared_deviations(row, mu) / n;
    (mu, 1.0 / libm::sqrtf(var + epsilon))
}

/// The `f32` words of scratch [`qlayer_norm`] needs for rows of `cols`: a row in, a row
/// out and the 256 dequantized values.
pub const fn qlayer_norm_scratch_len(cols: usize) -> usize {
    2 * cols + 256
}

/// LayerNormalization from 8-bit data to 8-bit data: what `DequantizeLinear`,
/// [`layer_norm`] and `QuantizeLinear` compute in turn (ONNX Runtime runs this group in
/// float as well), row by row, without the two `f32` tensors between them. Each row is
/// dequantized through a table of the 256 values, each computed as
/// [`crate::quant::dequantize`] computes it, normalised by [`layer_norm`] with `scale`
/// and `bias` (`cols` values each) and quantized by [`crate::quant::quantize_8bit`]: the
/// same results to the bit. `scratch` holds [`qlayer_norm_scratch_len`] words; shorter
/// operands leave `y` as it was.
#[allow(clippy::too_many_arguments)]
pub fn qlayer_norm<X: QInt, Y: QInt>(
    p: &Norm,
    x: &[X],
    x_scale: f32,
    x_zero: i32,
    scale: &[f32],
    bias: Option<&[f32]>,
    y_scale: f32,
    y_zero: Y,
    scratch: &mut [f32],
    y: &mut [Y],
) {
    let Norm {
        rows,
        cols,
        epsilon,
    } = *p;
    if cols == 0
        || scratch.len() < qlayer_norm_scratch_len(cols)
        || scale.len() < cols
        || bias.is_some_and(|b| b.len() < cols)
    {
        return;
    }
    let (row_in, rest) = scratch.split_at_mut(cols);
    let (row_out, table) = rest.split_at_mut(cols);
    for (i, entry) in table[..256].iter_mut().enumerate() {
        let v = i as i32 + X::MIN;
        *entry = ((f64::from(v) - f64::from(x_zero)) * f64::from(x_scale)) as f32;
    }
    let one_row = Norm {
        rows: 1,
        cols,
        epsilon,
    };
    let (scale, bias) = (&scale[..cols], bias.map(|b| &b[..cols]));
    for (xs, ys) in x
        .chunks_exact(cols)
        .zip(y.chunks_exact_mut(cols))
        .take(rows)
    {
        for (f, &v) in row_in.iter_mut().zip(xs) {
            *f = table[((v.to_i32() - X::MIN) & 0xff) as usize];
        }
        layer_norm(&one_row, row_in, Some(scale), bias, row_out, None, None);
        crate::quant::quantize_8bit(row_out, y_scale, Some(&[y_zero]), ys);
    }
}

/// `y = (x − mean) / √(var + ε) · scale + bias` per row, where `scale` and `bias` hold
/// `cols` values each. `mean` and `inv_std_dev` (`rows` values each) receive the
/// statistics when given. The mean and the (biased) variance are plain averages.
pub fn layer_norm(
    p: &Norm,
    x: &[f32],
    scale: Option<&[f32]>,
    bias: Option<&[f32]>,
    y: &mut [f32],
    mut mean: Option<&mut [f32]>,
    mut inv_std_dev: Option<&mut [f32]>,
) {
    let Norm {
        rows,
        cols,
        epsilon,
    } = *p;
    let scale = scale.map(|s| &s[..cols]);
    let bias = bias.map(|b| &b[..cols]);
    for r in 0..rows {
        let x_row = &x[r * cols..(r + 1) * cols];
        let y_row = &mut y[r * cols..(r + 1) * cols];
        let (mu, inv) = row_stats(x_row, epsilon);
        match (scale, bias) {
            (Some(s), Some(b)) => {
                for (((out, &v), &s), &b) in y_row.iter_mut().zip(x_row).zip(s).zip(b) {
                    *out = (v - mu) * inv * s + b;
                }
            }
            (Some(s), None) => {
                for ((out, &v), &s) in y_row.iter_mut().zip(x_row).zip(s) {
                    *out = (v - mu) * inv * s;
                }
            }
            (None, Some(b)) => {
                for ((out, &v), &b) in y_row.iter_mut().zip(x_row).zip(b) {
                    *out = (v - mu) * inv + b;
                }
            }
            (None, None) => {
                for (out, &v) in y_row.iter_mut().zip(x_row) {
                    *out = (v - mu) * inv;
                }
            }
        }
        if let Some(m) = mean.as_deref_mut() {
            m[r] = mu;
        }
        if let Some(s) = inv_std_dev.as_deref_mut() {
            s[r] = inv;
        }
    }
}

/// `y = x / √(mean(x²) + ε) · scale` per row, where `scale` holds `cols` values.
pub fn rms_norm(p: &Norm, x: &[f32], scale: Option<&[f32]>, y: &mut [f32]) {
    let Norm {
        rows,
        cols,
        epsilon,
    } = *p;
    let scale = scale.map(|s| &s[..cols]);
    let n = cols as f32;
    for r in 0..rows {
        let x_row = &x[r * cols..(r + 1) * cols];
        let y_row = &mut y[r * cols..(r + 1) * cols];
        let mean_square = sum_of_squares(x_row) / n;
        let inv = 1.0 / libm::sqrtf(mean_square + epsilon);
        match scale {
            Some(s) => {
                for ((out, &v), &s) in y_row.iter_mut().zip(x_row).zip(s) {
                    *out = v * inv * s;
                }
            }
            None => {
                for (out, &v) in y_row.iter_mut().zip(x_row) {
                    *out = v * inv;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec::Vec;

    use super::*;

    #[test]
    fn qlayer_norm_equals_dequantize_normalise_quantize() {
        use crate::quant::{dequantize, quantize_8bit, QuantLayout};
        let p = Norm {
            rows: 5,
            cols: 48,
            epsilon: 1e-5,
        };
        let x: Vec<u8> = (0..p.rows * p.cols).map(|i| (i * 97 % 256) as u8).collect();
        let scale: Vec<f32> = (0..p.cols).map(|i| 0.8 + i as f32 * 0.01).collect();
        let bias: Vec<f32> = (0..p.cols).map(|i| i as f32 * 0.003 - 0.05).collect();
        let (x_scale, x_zero, y_scale, y_zero) = (0.043f32, 117u8, 0.021f32, -3i8);
        let mut xf = std::vec![0f32; x.len()];
        dequantize(
            &x,
            &[x_scale],
            Some(&[x_zero]),
            QuantLayout::PerTensor,
            &mut xf,
        );
        let mut yf = std::vec![0f32; x.len()];
        layer_norm(&p, &xf, Some(&scale), Some(&bias), &mut yf, None, None);
        let mut want = std::vec![0i8; x.len()];
        quantize_8bit(&yf, y_scale, Some(&[y_zero]), &mut want);
        let mut scratch = std::vec![0f32; qlayer_norm_scratch_len(p.cols)];
        let mut got = std::vec![0i8; x.len()];
        qlayer_norm(
            &p,
            &x,
            x_scale,
            i32::from(x_zero),
            &scale,
            Some(&bias),
            y_scale,
            y_zero,
            &mut scratch,
            &mut got,
        );
        assert_eq!(got, want);
        assert!(want.iter().any(|&v| v != want[0]));
        // Too little scratch leaves the output as it was.
        let mut y = std::vec![7i8; x.len()];
        qlayer_norm(
            &p,
            &x,
            x_scale,
            0,
            &scale,
            None,
            y_scale,
            0,
            &mut scratch[1..],
            &mut y,
        );
        assert!(y.iter().all(|&v| v == 7));
    }

    /// Deterministic values in [-2, 2).
    fn data(n: usize, seed: u32) -> Vec<f32> {
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..n)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 8) as f32 / (1u32 << 24) as f32 * 4.0 - 2.0
            })
            .collect()
    }

    /// Row statistics in `f64`, the textbook way.
    fn naive_stats(row: &[f32]) -> (f64, f64, f64) {
        let n = row.len() as f64;
        let mean = row.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
        let mean_square = row.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / n;
        (mean, var, mean_square)
    }

    fn check(got: &[f32], want: &[f64]) {
        assert_eq!(got.len(), want.len());
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            // f32 accumulation over short rows: a few ulps of the larger operand.
            assert!(
                (g as f64 - w).abs() <= 1e-5 + 1e-5 * w.abs(),
                "element {i}: got {g}, want {w}"
            );
        }
    }

    #[test]
    fn layer_norm_matches_naive_with_every_affine_combination() {
        let (rows, cols, epsilon) = (5, 12, 1e-5);
        let p = Norm {
            rows,
            cols,
            epsilon,
        };
        let x = data(rows * cols, 1);
        let scale = data(cols, 2);
        let bias = data(cols, 3);
        for (s, b) in [(true, true), (true, false), (false, true), (false, false)] {
            let mut y = std::vec![0.0; rows * cols];
            let mut mean = std::vec![0.0; rows];
            let mut inv = std::vec![0.0; rows];
            layer_norm(
                &p,
                &x,
                s.then_some(&scale[..]),
                b.then_some(&bias[..]),
                &mut y,
                Some(&mut mean),
                Some(&mut inv),
            );
            let mut want_y = Vec::new();
            let mut want_mean = Vec::new();
            let mut want_inv = Vec::new();
            for row in x.chunks(cols) {
                let (m, var, _) = naive_stats(row);
                let r = 1.0 / (var + epsilon as f64).sqrt();
                for (c, &v) in row.iter().enumerate() {
                    let mut out = (v as f64 - m) * r;
                    if s {
                        out *= scale[c] as f64;
                    }
                    if b {
                        out += bias[c] as f64;
                    }
                    want_y.push(out);
                }
                want_mean.push(m);
                want_inv.push(r);
            }
            check(&y, &want_y);
            check(&mean, &want_mean);
            check(&inv, &want_inv);
        }
    }

    #[test]
    fn layer_norm_of_a_constant_row_is_the_bias() {
        let p = Norm {
            rows: 1,
            cols: 4,
            epsilon: 1e-5,
        };
        let mut y = [9.0; 4];
        layer_norm(
            &p,
            &[3.0; 4],
            Some(&[2.0; 4]),
            Some(&[0.5, 1.0, 1.5, 2.0]),
            &mut y,
            None,
            None,
        );
        assert_eq!(y, [0.5, 1.0, 1.5, 2.0]);
    }

    #[test]
    fn rms_norm_matches_naive() {
        let (rows, cols, epsilon) = (4, 9, 0.1);
        let p = Norm {
            rows,
            cols,
            epsilon,
        };
        let x = data(rows * cols, 4);
        let scale = data(cols, 5);
        for with_scale in [true, false] {
            let mut y = std::vec![0.0; rows * cols];
            rms_norm(&p, &x, with_scale.then_some(&scale[..]), &mut y);
            let mut want = Vec::new();
            for row in x.chunks(cols) {
                let (_, _, mean_square) = naive_stats(row);
                let r = 1.0 / (mean_square + epsilon as f64).sqrt();
                for (c, &v) in row.iter().enumerate() {
                    let s = if with_scale { scale[c] as f64 } else { 1.0 };
                    want.push(v as f64 * r * s);
                }
            }
            check(&y, &want);
        }
    }
}

/// `BatchNormalization` in training mode on `[batch, channels, spatial]`: each channel
/// normalised by the mean and (biased) variance of its values over the batch and the
/// plane, then `scale[c] · … + bias[c]`; `running_mean` and `running_var`, when given,
/// receive `input · momentum + current · (1 − momentum)`. The statistics are summed in
/// `f64`.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_training(
    (batch, channels, spatial): (usize, usize, usize),
    (epsilon, momentum): (f32, f32),
    x: &[f32],
    [scale, bias, input_mean, input_var]: [&[f32]; 4],
    y: &mut [f32],
    mut running_mean: Option<&mut [f32]>,
    mut running_var: Option<&mut [f32]>,
) {
    let n = (batch * spatial) as f64;
    let plane = |b: usize, c: usize| (b * channels + c) * spatial..(b * channels + c + 1) * spatial;
    for c in 0..channels {
        let (mut sum, mut squares) = (0.0f64, 0.0f64);
        for b in 0..batch {
            for &v in x.get(plane(b, c)).unwrap_or(&[]) {
                sum += f64::from(v);
            }
        }
        let mean = if n > 0.0 { sum / n } else { 0.0 };
        for b in 0..batch {
            for &v in x.get(plane(b, c)).unwrap_or(&[]) {
                let d = f64::from(v) - mean;
                squares += d * d;
            }
        }
        let var = if n > 0.0 { squares / n } else { 0.0 };
        let (Some(&s), Some(&t)) = (scale.get(c), bias.get(c)) else {
            return;
        };
        let a = f64::from(s) / libm::sqrt(var + f64::from(epsilon));
        for b in 0..batch {
            let (Some(x), Some(y)) = (x.get(plane(b, c)), y.get_mut(plane(b, c))) else {
                return;
            };
            for (out, &v) in y.iter_mut().zip(x) {
                *out = ((f64::from(v) - mean) * a + f64::from(t)) as f32;
            }
        }
        let blend = |old: Option<&f32>, current: f64| {
            let old = f64::from(old.copied().unwrap_or(0.0));
            (old * f64::from(momentum) + current * (1.0 - f64::from(momentum))) as f32
        };
        if let Some(out) = running_mean.as_deref_mut().and_then(|m| m.get_mut(c)) {
            *out = blend(input_mean.get(c), mean);
        }
        if let Some(out) = running_var.as_deref_mut().and_then(|v| v.get_mut(c)) {
            *out = blend(input_var.get(c), var);
        }
    }
}

/// `GroupNormalization` on `[batch, channels, spatial]`: the channels of each image cut
/// into `groups` runs of `channels / groups` (one contiguous block of the tensor each),
/// each normalised by its own mean and (biased) variance, then `scale · … + bias` with
/// one `scale` and `bias` value per channel (opset 21: `channels` values each) or per
/// group (opset 18: `groups` values). The statistics are summed in lanes, as a layer
/// normalisation's row (`reduce::sum_of`); the output is one multiply-add a value.
#[allow(clippy::too_many_arguments)]
pub fn group_norm(
    groups: usize,
    channels: usize,
    spatial: usize,
    epsilon: f32,
    x: &[f32],
    scale: &[f32],
    bias: &[f32],
    y: &mut [f32],
) {
    if groups == 0 || spatial == 0 || !channels.is_multiple_of(groups) {
        return;
    }
    let per_group = channels / groups;
    let len = per_group * spatial;
    // One value per channel, or (opset 18) one per group.
    let per_channel = scale.len() == channels && bias.len() == channels;
    let blocks = x.chunks_exact(len).zip(y.chunks_exact_mut(len));
    for (k, (x, y)) in blocks.enumerate() {
        let g = k % groups;
        let (mu, inv) = row_stats(x, epsilon);
        let planes = x.chunks_exact(spatial).zip(y.chunks_exact_mut(spatial));
        for (j, (x, y)) in planes.enumerate() {
            let i = if per_channel { g * per_group + j } else { g };
            let (Some(&s), Some(&b)) = (scale.get(i), bias.get(i)) else {
                return;
            };
            let a = inv * s;
            for (out, &v) in y.iter_mut().zip(x) {
                *out = (v - mu) * a + b;
            }
        }
    }
}

/// `LRN` on `[batch, channels, spatial]`: each value divided by
/// `(bias + alpha / size · Σ x²)^beta`, the sum over the `size` channels around it
/// (`⌊(size − 1)/2⌋` before, `⌈(size − 1)/2⌉` after, clipped to the tensor).
#[allow(clippy::too_many_arguments)]
pub fn lrn(
    channels: usize,
    spatial: usize,
    size: usize,
    alpha: f32,
    beta: f32,
    bias: f32,
    x: &[f32],
    y: &mut [f32],
) {
    let plane = channels * spatial;
    if plane == 0 || size == 0 {
        return;
    }
    let (before, after) = ((size - 1) / 2, size / 2);
    for (x, y) in x.chunks_exact(plane).zip(y.chunks_exact_mut(plane)) {
        for c in 0..channels {
            let (lo, hi) = (c.saturating_sub(before), (c + after).min(channels - 1));
            for s in 0..spatial {
                let sum: f32 = (lo..=hi)
                    .map(|k| x[k * spatial + s] * x[k * spatial + s])
                    .sum();
                let i = c * spatial + s;
                y[i] = x[i] / libm::powf(bias + alpha / size as f32 * sum, beta);
            }
        }
    }
}

#[cfg(test)]
mod channel_tests {
    use super::*;

    #[test]
    fn batch_norm_training_uses_the_batch_statistics() {
        // Two images of one channel of two values: 1, 3 and 5, 7 → mean 4, variance 5.
        let x = [1.0, 3.0, 5.0, 7.0];
        let (mut y, mut mean, mut var) = ([0.0; 4], [0.0], [0.0]);
        batch_norm_training(
            (2, 1, 2),
            (0.0, 0.9),
            &x,
            [&[2.0], &[1.0], &[10.0], &[20.0]],
            &mut y,
            Some(&mut mean),
            Some(&mut var),
        );
        let s = 2.0 / libm::sqrtf(5.0);
        for (got, v) in y.iter().zip(x) {
            assert!((got - ((v - 4.0) * s + 1.0)).abs() < 1e-5, "{y:?}");
        }
        assert!((mean[0] - 9.4).abs() < 1e-5 && (var[0] - 18.5).abs() < 1e-5);
    }

    #[test]
    fn instance_norm_normalises_each_plane() {
        // InstanceNormalization is a group a channel. Two channels of two values:
        // (1, 3) → (-1, 1) · 2 + 1; (5, 5) → 0 · 1 + 0 (the epsilon keeps the constant
        // plane finite).
        let mut y = [0.0; 4];
        group_norm(
            2,
            2,
            2,
            1e-6,
            &[1.0, 3.0, 5.0, 5.0],
            &[2.0, 1.0],
            &[1.0, 0.0],
            &mut y,
        );
        for (got, want) in y.iter().zip([-1.0, 3.0, 0.0, 0.0]) {
            assert!((got - want).abs() < 1e-5, "{y:?}");
        }
    }

    /// Group normalisation against a direct computation in `f64`: per-channel and
    /// per-group scales, one group, a group a channel, and the batch walking the groups.
    #[test]
    fn group_norm_matches_the_definition() {
        extern crate std;
        use std::vec::Vec;
        let (batch, channels, spatial) = (2, 6, 5);
        let x: Vec<f32> = (0..batch * channels * spatial)
            .map(|i| ((i * 37 % 23) as f32 - 11.0) * 0.25 + (i / spatial) as f32)
            .collect();
        for groups in [1, 2, 3, 6] {
            for per_channel in [true, false] {
                let count = if per_channel { channels } else { groups };
                let scale: Vec<f32> = (0..count).map(|i| 0.5 + i as f32 * 0.25).collect();
                let bias: Vec<f32> = (0..count).map(|i| i as f32 - 1.0).collect();
                let mut y = std::vec![0.0; x.len()];
                group_norm(groups, channels, spatial, 1e-5, &x, &scale, &bias, &mut y);
                let len = channels / groups * spatial;
                for (k, block) in x.chunks(len).enumerate() {
                    let n = len as f64;
                    let mean = block.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
                    let var = block
                        .iter()
                        .map(|&v| (f64::from(v) - mean).powi(2))
                        .sum::<f64>()
                        / n;
                    for (i, &v) in block.iter().enumerate() {
                        let g = k % groups;
                        let c = g * (channels / groups) + i / spatial;
                        let at = if per_channel { c } else { g };
                        let want = (f64::from(v) - mean) / (var + 1e-5).sqrt()
                            * f64::from(scale[at])
                            + f64::from(bias[at]);
                        let got = f64::from(y[k * len + i]);
                        assert!(
                            (got - want).abs() < 1e-5 * (1.0 + want.abs()),
                            "groups {groups}, per channel {per_channel}, at {}: {got} against {want}",
                            k * len + i
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn lrn_sums_neighbouring_channels() {
        // Three channels of one value each, size 3: channel 1 sees all three.
        let x = [1.0, 2.0, 3.0];
        let mut y = [0.0; 3];
        lrn(3, 1, 3, 3.0, 1.0, 1.0, &x, &mut y);
        // 1 / (1 + 1·(1 + 4)), 2 / (1 + 14), 3 / (1 + 13)
        assert_eq!(y, [1.0 / 6.0, 2.0 / 15.0, 3.0 / 14.0]);
    }
}
