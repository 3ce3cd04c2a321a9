//! The convolution geometry the conv families share: output extents from pads, and the
//! far pads an output extent implies.

use zant_runtime::conv::Conv2d;

/// The output extent of an axis of `n` inputs with `pad` pads in all, if it has one.
pub(crate) fn out_len(n: usize, k: usize, stride: usize, dil: usize, pad: usize) -> Option<usize> {
    let span = dil * (k - 1) + 1;
    (n + pad >= span).then(|| (n + pad - span) / stride + 1)
}

/// `p` with the pads `(top, bottom, left, right)` and its outputs recomputed for them,
/// if it is a walkable geometry: no zero kernel, stride, dilation or group, channels
/// that the groups divide, an output on each axis. Whether its buffers fit is the
/// family's question.
pub(crate) fn padded(mut p: Conv2d, pads: (usize, usize, usize, usize)) -> Option<Conv2d> {
    let nonzero = [
        p.groups, p.c_in, p.k_h, p.k_w, p.stride_h, p.stride_w, p.dil_h, p.dil_w,
    ];
    if nonzero.contains(&0) || !p.c_in.is_multiple_of(p.groups) || !p.c_out.is_multiple_of(p.groups)
    {
        return None;
    }
    p.pad_top = pads.0;
    p.pad_left = pads.2;
    p.h_out = out_len(p.h_in, p.k_h, p.stride_h, p.dil_h, pads.0 + pads.1)?;
    p.w_out = out_len(p.w_in, p.k_w, p.stride_w, p.dil_w, pads.2 + pads.3)?;
    Some(p)
}

/// The bottom and right pads `p` implies.
pub(crate) fn far_pads(p: &Conv2d) -> (usize, usize) {
    let need = |out: usize, k: usize, s: usize, d: usize, n: usize, pad: usize| {
        ((out - 1) * s + d * (k - 1) + 1).saturating_sub(n + pad)
    };
    (
        need(p.h_out, p.k_h, p.stride_h, p.dil_h, p.h_in, p.pad_top),
        need(p.w_out, p.k_w, p.stride_w, p.dil_w, p.w_in, p.pad_left),
    )
}
