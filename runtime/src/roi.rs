//! ONNX `RoiAlign`: for each region of interest, a fixed grid of bins over one image's
//! feature map, each bin the average (or the maximum) of bilinear samples.

use crate::error::KernelError;
use crate::tokens::tokens;

tokens! {
    rt::roi;
    /// The geometry and attributes of a [`roi_align`] call.
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub struct RoiAlign {
        /// The feature map `X`: `[batch, channels, height, width]`.
        pub batch: usize,
        pub channels: usize,
        pub height: usize,
        pub width: usize,
        /// The regions: `rois` is `[regions, 4]` (`x1, y1, x2, y2`).
        pub regions: usize,
        pub out_h: usize,
        pub out_w: usize,
        /// Samples per bin along each axis; 0 is adaptive (`⌈roi extent / bins⌉`).
        pub sampling_ratio: usize,
        pub spatial_scale: f32,
        /// `coordinate_transformation_mode = "half_pixel"` (shift by −0.5, regions of any
        /// size); else `"output_half_pixel"` (no shift, regions at least 1 × 1).
        pub half_pixel: bool,
        /// `mode = "max"`: the largest weighted corner of any sample; else the average.
        pub max: bool,
    }
}

/// The adaptive sample count of one axis is capped at this many times the feature map's
/// extent (plus 2): a region past that (all but a hostile input) would only sample the
/// same cells again, and the cap keeps such an input from running for hours.
const MAX_SAMPLES_PER_EXTENT: usize = 2;

/// `RoiAlign`: `y` (`[regions, channels, out_h, out_w]`) from `x`, `rois` and each
/// region's image in `batch_indices`, as ONNX Runtime computes it: a sample outside
/// `[-1, extent]` counts as zero, one in `[-1, 0]` reads the edge, and the bilinear
/// weights of the four cells around it multiply their values (in max mode, the largest
/// such product of any sample is the bin's value). A batch index outside `0..batch` is
/// an error.
pub fn roi_align(
    p: &RoiAlign,
    x: &[f32],
    rois: &[f32],
    batch_indices: &[i64],
    y: &mut [f32],
) -> Result<(), KernelError> {
    let (h, w) = (p.height, p.width);
    let plane = h * w;
    let bins = p.out_h * p.out_w;
    if bins == 0 || plane == 0 {
        y.fill(0.0);
        return Ok(());
    }
    let offset = if p.half_pixel { 0.5 } else { 0.0 };
    let outputs = y.chunks_exact_mut(p.channels * bins).take(p.regions);
    for (n, y_roi) in outputs.enumerate() {
        let index = batch_indices.get(n).copied().unwrap_or(-1);
        let image = usize::try_from(index).ok().filter(|&b| b < p.batch);
        let Some(image) = image else {
            return Err(KernelError::IndexOutOfRange {
                index,
                len: p.batch,
            });
        };
        let Some(&[x1, y1, x2, y2]) = rois.get(4 * n..4 * n + 4) else {
            return Ok(());
        };
        let start_w = x1 * p.spatial_scale - offset;
        let start_h = y1 * p.spatial_scale - offset;
        let mut roi_w = x2 * p.spatial_scale - offset - start_w;
        let mut roi_h = y2 * p.spatial_scale - offset - start_h;
        if !p.half_pixel {
            roi_w = roi_w.max(1.0);
            roi_h = roi_h.max(1.0);
        }
        let bin_h = roi_h / p.out_h as f32;
        let bin_w = roi_w / p.out_w as f32;
        let grid = |extent: f32, bins: usize, len: usize| -> usize {
            let cap = MAX_SAMPLES_PER_EXTENT * (len + 2);
            if p.sampling_ratio > 0 {
                p.sampling_ratio.min(cap)
            } else {
                // A NaN or negative extent gives 0 samples, as a float-to-int cast does.
                (libm::ceilf(extent / bins as f32) as usize).min(cap)
            }
        };
        let (grid_h, grid_w) = (grid(roi_h, p.out_h, h), grid(roi_w, p.out_w, w));
        let count = (grid_h * grid_w).max(1) as f32;
        let x_image = x.get(image * p.channels * plane..).unwrap_or(&[]);
        for (c, y_plane) in y_roi.chunks_exact_mut(bins).enumerate() {
            let Some(x_plane) = x_image.get(c * plane..(c + 1) * plane) else {
                return Ok(());
            };
            for (bin, out) in y_plane.iter_mut().enumerate() {
                let (ph, pw) = (bin / p.out_w, bin % p.out_w);
                let mut acc = 0.0f32;
                let mut first = true;
                for iy in 0..grid_h {
                    let sy =
                        start_h + ph as f32 * bin_h + (iy as f32 + 0.5) * bin_h / grid_h as f32;
                    for ix in 0..grid_w {
                        let sx =
                            start_w + pw as f32 * bin_w + (ix as f32 + 0.5) * bin_w / grid_w as f32;
                        let corners = bilinear(sy, sx, h, w);
                        let product = |(at, weight): (usize, f32)| weight * x_plane[at];
                        if p.max {
                            let v = corners.map(product);
                            let v = v[0].max(v[1]).max(v[2]).max(v[3]);
                            acc = if first { v } else { acc.max(v) };
                        } else {
                            acc += corners.map(product).iter().sum::<f32>();
                        }
                        first = false;
                    }
                }
                *out = if p.max { acc } else { acc / count };
            }
        }
    }
    Ok(())
}

/// The four cells around `(y, x)` in an `h × w` plane and their bilinear weights, in the
/// order top-left, top-right, bottom-left, bottom-right; all weights 0 outside
/// `[-1, h] × [-1, w]`.
fn bilinear(y: f32, x: f32, h: usize, w: usize) -> [(usize, f32); 4] {
    if !(y >= -1.0 && y <= h as f32 && x >= -1.0 && x <= w as f32) {
        return [(0, 0.0); 4];
    }
    let axis = |v: f32, len: usize| -> (usize, usize, f32) {
        let v = v.max(0.0);
        let low = v as usize;
        if low + 1 >= len {
            (len - 1, len - 1, 0.0)
        } else {
            (low, low + 1, v - low as f32)
        }
    };
    let (y0, y1, ly) = axis(y, h);
    let (x0, x1, lx) = axis(x, w);
    let (hy, hx) = (1.0 - ly, 1.0 - lx);
    [
        (y0 * w + x0, hy * hx),
        (y0 * w + x1, hy * lx),
        (y1 * w + x0, ly * hx),
        (y1 * w + x1, ly * lx),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry(out: usize, sampling_ratio: usize, max: bool) -> RoiAlign {
        RoiAlign {
            batch: 2,
            channels: 1,
            height: 4,
            width: 4,
            regions: 2,
            out_h: out,
            out_w: out,
            sampling_ratio,
            spatial_scale: 1.0,
            half_pixel: false,
            max,
        }
    }

    /// On a linear ramp `x + 4y` bilinear sampling is exact, so each bin's average is
    /// the ramp at the bin's centre; the second region reads the second image.
    #[test]
    fn average_bins_of_a_ramp_are_their_centres() {
        let mut x = [0.0f32; 32];
        for (i, v) in x.iter_mut().enumerate() {
            *v = (i % 16) as f32 + if i >= 16 { 100.0 } else { 0.0 };
        }
        let rois = [0.0, 0.0, 2.0, 2.0, 1.0, 1.0, 3.0, 3.0];
        let mut y = [f32::NAN; 8];
        roi_align(&geometry(2, 2, false), &x, &rois, &[0, 1], &mut y).unwrap();
        // Bins of 1 × 1 from (0, 0): centres (0.5, 0.5), (1.5, 0.5), …
        let want = [2.5, 3.5, 6.5, 7.5, 107.5, 108.5, 111.5, 112.5];
        for (got, want) in y.iter().zip(want) {
            assert!((got - want).abs() < 1e-5, "{y:?}");
        }
    }

    #[test]
    fn max_mode_and_bad_batch_indices() {
        let x: [f32; 32] = core::array::from_fn(|i| i as f32);
        let rois = [0.0, 0.0, 3.0, 3.0, 0.0, 0.0, 3.0, 3.0];
        let mut y = [f32::NAN; 2];
        roi_align(&geometry(1, 1, true), &x, &rois, &[0, 1], &mut y).unwrap();
        // One sample at (1.5, 1.5): its largest weighted corner is 0.25 · x[2][2].
        assert_eq!(y, [0.25 * 10.0, 0.25 * 26.0]);
        let err = roi_align(&geometry(1, 1, true), &x, &rois, &[0, 2], &mut y);
        assert!(err.is_err());
        // A region of NaNs samples nothing; one of 1e30 is capped, not run for hours.
        let rois = [f32::NAN, 0.0, 1.0, 1.0, 0.0, 0.0, 1e30, 1e30];
        roi_align(&geometry(1, 0, false), &x, &rois, &[0, 0], &mut y).unwrap();
        assert!(y.iter().all(|v| v.is_finite()), "{y:?}");
    }
}
