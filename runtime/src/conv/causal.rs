//! ONNX `CausalConvWithState` (opset 27): a causal depthwise 1-D convolution that carries
//! its last `k − 1` input positions from one call to the next (a Mamba or Gated DeltaNet
//! block's short convolution, decoded a token or a chunk at a time).

/// `CausalConvWithState` on `x` of `[batch, channels, len]` with `w` of
/// `[channels, 1, k]`: each channel's sequence is its `past` state (`[batch, channels,
/// k − 1]`, zeros when absent) followed by `x`, convolved without padding, so
/// `y[b, c, t] = bias[c] + Σ_j w[c, j] · padded[b, c, t + j]`, then `y · sigmoid(y)` when
/// `swish`. `present` (`[batch, channels, k − 1]`) receives the last `k − 1` positions of
/// the padded sequence, the state of the next call.
#[allow(clippy::too_many_arguments)]
pub fn causal_conv_with_state(
    (batch, channels, len, k): (usize, usize, usize, usize),
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    past: Option<&[f32]>,
    swish: bool,
    y: &mut [f32],
    present: &mut [f32],
) {
    if k == 0 {
        return;
    }
    let carry = k - 1;
    for row in 0..batch * channels {
        let c = row % channels;
        let (Some(x), Some(w), Some(y)) = (
            x.get(row * len..(row + 1) * len),
            w.get(c * k..(c + 1) * k),
            y.get_mut(row * len..(row + 1) * len),
        ) else {
            return;
        };
        let past = past.and_then(|p| p.get(row * carry..(row + 1) * carry));
        // Position `i` of the padded sequence: the state first, then the input.
        let padded = |i: usize| {
            if i < carry {
                past.map_or(0.0, |p| p[i])
            } else {
                x[i - carry]
            }
        };
        let b = bias.and_then(|b| b.get(c)).copied().unwrap_or(0.0);
        for (t, out) in y.iter_mut().enumerate() {
            // Past the state, every tap reads the input: no branch per tap.
            let sum = if t >= carry {
                w.iter()
                    .zip(&x[t - carry..t + 1])
                    .fold(b, |acc, (&w, &v)| acc + w * v)
            } else {
                (0..k).fold(b, |acc, j| acc + w[j] * padded(t + j))
            };
            *out = if swish {
                sum / (1.0 + libm::expf(-sum))
            } else {
                sum
            };
        }
        if let Some(present) = present.get_mut(row * carry..(row + 1) * carry) {
            for (i, out) in present.iter_mut().enumerate() {
                *out = padded(len + i);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two channels, k = 3, with and without a state and a bias, against the sums by hand.
    #[test]
    fn convolves_the_state_then_the_input() {
        let x = [1.0, 2.0, 3.0, 10.0, 20.0, 30.0];
        let w = [1.0, 0.5, 0.25, 0.0, 0.0, 1.0];
        let past = [-1.0, -2.0, 5.0, 6.0];
        let (mut y, mut present) = ([0.0; 6], [0.0; 4]);
        causal_conv_with_state(
            (1, 2, 3, 3),
            &x,
            &w,
            Some(&[0.5, 0.0]),
            Some(&past),
            false,
            &mut y,
            &mut present,
        );
        // Channel 0: padded (-1, -2, 1, 2, 3); y[t] = p[t] + p[t+1]/2 + p[t+2]/4 + 0.5.
        // Channel 1: the last tap only, y[t] = x[t].
        assert_eq!(
            y,
            [
                -1.0 - 1.0 + 0.25 + 0.5,
                -2.0 + 0.5 + 0.5 + 0.5,
                1.0 + 1.0 + 0.75 + 0.5,
                10.0,
                20.0,
                30.0
            ]
        );
        assert_eq!(present, [2.0, 3.0, 20.0, 30.0]);
        // No state: zeros before the input; a sequence shorter than the state keeps part
        // of the old state.
        causal_conv_with_state((1, 2, 3, 3), &x, &w, None, None, true, &mut y, &mut present);
        let silu = |v: f32| v / (1.0 + libm::expf(-v));
        assert_eq!(y[0], silu(0.25));
        assert_eq!(y[3], silu(10.0));
        let (mut y1, mut present1) = ([0.0; 2], [0.0; 4]);
        causal_conv_with_state(
            (1, 2, 1, 3),
            &[7.0, 8.0],
            &w,
            None,
            Some(&past),
            false,
            &mut y1,
            &mut present1,
        );
        assert_eq!(present1, [-2.0, 7.0, 6.0, 8.0]);
        assert_eq!(y1, [-1.0 - 1.0 + 1.75, 8.0]);
    }
}
