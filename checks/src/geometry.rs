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
fn far_pads(p: &Conv2d) -> (usize, usize) {
    let need = |out: usize, k: usize, s: usize, d: usize, n: usize, pad: usize| {
        ((out - 1) * s + d * (k - 1) + 1).saturating_sub(n + pad)
    };
    (
        need(p.h_out, p.k_h, p.stride_h, p.dil_h, p.h_in, p.pad_top),
        need(p.w_out, p.k_w, p.stride_w, p.dil_w, p.w_in, p.pad_left),
    )
}

/// Pads `(top, bottom, left, right)`.
pub(crate) type Pads = (usize, usize, usize, usize);

/// All four pads of `p`: its own top and left, and the far ones its outputs imply.
pub(crate) fn pads_of(p: &Conv2d) -> Pads {
    let (bottom, right) = far_pads(p);
    (p.pad_top, bottom, p.pad_left, right)
}

/// The smaller geometries a failing convolution's shrink tries, in this order: one
/// image; one group of the same shape, or one group less; fewer channels a group
/// (halved, then one less); a smaller plane, window, stride and dilation; then the
/// same layer with no pads, or pads on one axis only. Each comes with the pads to refit
/// it with ([`padded`]): the family keeps those that fit its buffers and differ from
/// `p`.
pub(crate) fn smaller(p: &Conv2d) -> [(Conv2d, Pads); 17] {
    let pads = pads_of(p);
    let p = *p;
    let halve = |v: usize| v.div_ceil(2).max(1);
    let dec = |v: usize| v.saturating_sub(1).max(1);
    let g = p.groups.max(1);
    let (per_in, per_out) = (p.c_in / g, p.c_out / g);
    let fewer = dec(g);
    let with = |change: &dyn Fn(&mut Conv2d)| {
        let mut q = p;
        change(&mut q);
        (q, pads)
    };
    [
        with(&|q| q.batch = 1),
        with(&|q| (q.groups, q.c_in, q.c_out) = (1, per_in, per_out)),
        with(&|q| (q.groups, q.c_in, q.c_out) = (fewer, fewer * per_in, fewer * per_out)),
        with(&|q| q.c_out = g * halve(per_out)),
        with(&|q| q.c_out = g * dec(per_out)),
        with(&|q| q.c_in = g * halve(per_in)),
        with(&|q| q.c_in = g * dec(per_in)),
        with(&|q| q.h_in = dec(q.h_in)),
        with(&|q| q.w_in = dec(q.w_in)),
        with(&|q| q.k_h = dec(q.k_h)),
        with(&|q| q.k_w = dec(q.k_w)),
        with(&|q| q.stride_h = dec(q.stride_h)),
        with(&|q| q.stride_w = dec(q.stride_w)),
        with(&|q| (q.dil_h, q.dil_w) = (dec(q.dil_h), dec(q.dil_w))),
        (p, (0, 0, 0, 0)),
        (p, (pads.0, pads.1, 0, 0)),
        (p, (0, 0, pads.2, pads.3)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every candidate that refits is a smaller layer: no axis grows, and each of the
    /// seventeen changes something on a layer where every size can shrink.
    #[test]
    fn smaller_layers_only_shrink() {
        let p = Conv2d {
            batch: 2,
            c_in: 6,
            h_in: 9,
            w_in: 11,
            c_out: 9,
            h_out: 0,
            w_out: 0,
            k_h: 3,
            k_w: 3,
            stride_h: 2,
            stride_w: 2,
            dil_h: 2,
            dil_w: 2,
            pad_top: 0,
            pad_left: 0,
            groups: 3,
        };
        let p = padded(p, (2, 1, 2, 2)).unwrap();
        let mut changed = 0;
        for (q, pads) in smaller(&p) {
            let q = padded(q, pads).unwrap();
            let sizes = |c: &Conv2d| {
                [
                    c.batch, c.c_in, c.c_out, c.groups, c.h_in, c.w_in, c.k_h, c.k_w, c.stride_h,
                    c.stride_w, c.dil_h, c.dil_w, c.pad_top, c.pad_left,
                ]
            };
            assert!(
                sizes(&q).iter().zip(sizes(&p)).all(|(a, b)| *a <= b),
                "{q:?}"
            );
            let (qp, pp) = (pads_of(&q), pads_of(&p));
            assert!(qp.1 <= pp.1 && qp.3 <= pp.3, "{q:?}");
            changed += usize::from(q != p);
        }
        assert_eq!(changed, 17);
    }
}
