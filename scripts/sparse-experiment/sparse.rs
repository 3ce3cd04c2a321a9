//! The sparse kernels of the measurement in docs/compression.md, which `sparsify.py` puts
//! into a bench harness in place of zant's dense GEMV and convolution. They round like the
//! runtime's dense kernels (`fmadd`, in the dense GEMV's order), so the fully connected
//! layer's outputs are bit for bit those of the dense kernel.
#![allow(dead_code)]

/// The runtime's multiply-add (rounded as the dense kernels round).
#[inline(always)]
fn fmadd(a: f32, b: f32, c: f32) -> f32 {
    (f64::from(a) * f64::from(b) + f64::from(c)) as f32
}

/// y[j] = act(sum over the nonzeros of column j: x[index] * value + bias[j]); the nonzeros
/// of column j are starts[j]..starts[j + 1], in row order, so the sum runs in the order of
/// the dense GEMV's.
#[inline(never)]
pub fn fc(x: &[f32], values: &[f32], index: &[u8], starts: &[u16], bias: &[f32], relu: bool, y: &mut [f32]) {
    for (j, out) in y.iter_mut().enumerate() {
        let (s, e) = (usize::from(starts[j]), usize::from(starts[j + 1]));
        let mut acc = 0.0f32;
        for (&w, &i) in values[s..e].iter().zip(&index[s..e]) {
            acc = fmadd(x[usize::from(i)], w, acc);
        }
        let v = acc + bias[j];
        *out = if relu { v.max(0.0) } else { v };
    }
}

/// A stride-1 convolution with `pad` on every side and a k×k kernel, over the nonzero taps
/// of each output channel only: tap t of channel m is `taps[t]` = ci·k·k + kh·k + kw, with
/// weight `values[t]`, for t in starts[m]..starts[m + 1].
#[inline(never)]
#[allow(clippy::too_many_arguments)]
pub fn conv(
    x: &[f32], c_in: usize, h: usize, w: usize, k: usize, pad: usize,
    values: &[f32], taps: &[u16], starts: &[u16], bias: &[f32], relu: bool, y: &mut [f32],
) {
    let plane = h * w;
    let c_out = starts.len() - 1;
    let _ = c_in;
    for m in 0..c_out {
        let out = &mut y[m * plane..(m + 1) * plane];
        out.fill(0.0);
        let (s, e) = (usize::from(starts[m]), usize::from(starts[m + 1]));
        for (&wt, &tap) in values[s..e].iter().zip(&taps[s..e]) {
            let tap = usize::from(tap);
            let (ci, kh, kw) = (tap / (k * k), tap / k % k, tap % k);
            let input = &x[ci * plane..(ci + 1) * plane];
            // Output rows and columns whose input pixel lies inside the image.
            let oh0 = pad.saturating_sub(kh);
            let oh1 = (h + pad).saturating_sub(kh).min(h);
            let ow0 = pad.saturating_sub(kw);
            let ow1 = (w + pad).saturating_sub(kw).min(w);
            for oh in oh0..oh1 {
                let ih = oh + kh - pad;
                let o = &mut out[oh * w + ow0..oh * w + ow1];
                let i = &input[ih * w + ow0 + kw - pad..ih * w + ow1 + kw - pad];
                for (o, &xv) in o.iter_mut().zip(i) {
                    *o = fmadd(xv, wt, *o);
                }
            }
        }
        for v in out.iter_mut() {
            let b = *v + bias[m];
            *v = if relu { b.max(0.0) } else { b };
        }
    }
}
