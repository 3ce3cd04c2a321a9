//! Sliding-window geometry shared by Conv and the pools: strides, dilations, explicit pads
//! or `auto_pad`, and `ceil_mode`.

use super::{OpError, ParseCtx};

/// The resolved geometry of one window op over its spatial dims.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    pub kernel: Vec<usize>,
    pub strides: Vec<usize>,
    pub dilations: Vec<usize>,
    pub pads_begin: Vec<usize>,
    pub pads_end: Vec<usize>,
    pub out: Vec<usize>,
}

/// Reads the window attributes of a node whose input has spatial dims `spatial`.
pub fn resolve(
    ctx: &ParseCtx<'_>,
    spatial: &[usize],
    kernel: Vec<usize>,
    ceil_mode: bool,
) -> Result<Window, OpError> {
    let rank = spatial.len();
    if spatial.contains(&0) {
        return Err(OpError::unsupported(format!(
            "an empty spatial dim ({spatial:?}) is not supported"
        )));
    }
    let positive = |name: &str| -> Result<Vec<usize>, OpError> {
        match ctx.ints(name)? {
            None => Ok(vec![1; rank]),
            Some(v) if v.len() == rank && v.iter().all(|&x| x >= 1) => {
                Ok(v.iter().map(|&x| x as usize).collect())
            }
            Some(v) => Err(OpError::attr(
                name,
                format!("{v:?} should hold {rank} positive values"),
            )),
        }
    };
    let strides = positive("strides")?;
    let dilations = positive("dilations")?;
    if kernel.len() != rank || kernel.contains(&0) {
        return Err(OpError::attr(
            "kernel_shape",
            format!("{kernel:?} should hold {rank} positive values"),
        ));
    }
    // Saturating, so that absurd sizes fail the size check below instead of overflowing.
    let effective: Vec<usize> = (0..rank)
        .map(|i| dilations[i].saturating_mul(kernel[i] - 1).saturating_add(1))
        .collect();
    let auto_pad = ctx.string("auto_pad", "NOTSET")?;
    let (pads_begin, pads_end) = match auto_pad.as_str() {
        "NOTSET" => match ctx.ints("pads")? {
            None => (vec![0; rank], vec![0; rank]),
            Some(p) if p.len() == 2 * rank && p.iter().all(|&x| x >= 0) => (
                p[..rank].iter().map(|&x| x as usize).collect(),
                p[rank..].iter().map(|&x| x as usize).collect(),
            ),
            Some(p) => {
                return Err(OpError::attr(
                    "pads",
                    format!("{p:?} should hold {} non-negative values", 2 * rank),
                ))
            }
        },
        "VALID" => (vec![0; rank], vec![0; rank]),
        "SAME_UPPER" | "SAME_LOWER" => {
            let mut begin = vec![0; rank];
            let mut end = vec![0; rank];
            for i in 0..rank {
                let out = spatial[i].div_ceil(strides[i]);
                let total = (out.saturating_sub(1) * strides[i])
                    .saturating_add(effective[i])
                    .saturating_sub(spatial[i]);
                let small = total / 2;
                if auto_pad == "SAME_UPPER" {
                    (begin[i], end[i]) = (small, total - small);
                } else {
                    (begin[i], end[i]) = (total - small, small);
                }
            }
            (begin, end)
        }
        other => {
            return Err(OpError::attr(
                "auto_pad",
                format!("`{other}` is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID"),
            ))
        }
    };
    let mut out = Vec::with_capacity(rank);
    for i in 0..rank {
        let padded = spatial[i]
            .saturating_add(pads_begin[i])
            .saturating_add(pads_end[i]);
        if padded < effective[i] {
            return Err(OpError::shape(format!(
                "the window ({} with dilation {}) does not fit the padded input ({padded})",
                kernel[i], dilations[i]
            )));
        }
        let span = padded - effective[i];
        let mut o = if ceil_mode {
            span.div_ceil(strides[i]) + 1
        } else {
            span / strides[i] + 1
        };
        // With ceil_mode, a window must start inside the input or the left padding.
        if ceil_mode && (o - 1) * strides[i] >= spatial[i] + pads_begin[i] {
            o -= 1;
        }
        out.push(o);
    }
    Ok(Window {
        kernel,
        strides,
        dilations,
        pads_begin,
        pads_end,
        out,
    })
}

/// Widens 1-D geometry to 2-D (a height of 1) so the 2-D kernels serve both.
pub fn as_2d(v: &[usize], fill: usize) -> [usize; 2] {
    match v {
        [w] => [fill, *w],
        [h, w] => [*h, *w],
        _ => unreachable!("1 or 2 spatial dims"),
    }
}

/// The end padding that gives `out` outputs over `len` inputs: what the attributes of a
/// window op say when printed back, whatever extra padding the model had that no output
/// reaches.
pub fn window_pad_end(
    len: usize,
    out: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    pad_begin: usize,
) -> usize {
    let reach = (out.max(1) - 1) * stride + dilation * (kernel.max(1) - 1) + 1;
    reach.saturating_sub(len + pad_begin)
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;

    /// The shared geometry's refusals, through the ops that use it.
    #[test]
    fn refuses() {
        let pool = || {
            node("MaxPool")
                .ints("kernel_shape", &[3, 3])
                .input("f32[1,1,4,4]")
        };
        insta::assert_snapshot!(pool().ints("strides", &[0, 1]).emit(), @"parse: attribute `strides`: [0, 1] should hold 2 positive values");
        insta::assert_snapshot!(pool().ints("pads", &[1, 1, 1]).emit(), @"parse: attribute `pads`: [1, 1, 1] should hold 4 non-negative values");
        insta::assert_snapshot!(pool().string("auto_pad", "SAME").emit(), @"parse: attribute `auto_pad`: `SAME` is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID");
        insta::assert_snapshot!(pool().ints("dilations", &[2, 2]).emit(), @"parse: the window (3 with dilation 2) does not fit the padded input (4)");
        insta::assert_snapshot!(node("MaxPool")
            .ints("kernel_shape", &[3, 3])
            .input("f32[1,1,0,4]")
            .emit(), @"parse: an empty spatial dim ([0, 4]) is not supported");
    }

    #[test]
    fn same_lower_puts_the_odd_pad_first() {
        insta::assert_snapshot!(node("MaxPool")
            .ints("kernel_shape", &[2, 2])
            .string("auto_pad", "SAME_LOWER")
            .input("f32[1,1,5,5]")
            .emit(), @"
        MaxPool(f32[1,1,5,5]) kernel_shape=[2,2] strides=[1,1] pads=[1,1,0,0] -> f32[1,1,5,5]
        rt::pool::max_pool2d(
            &rt::pool::Pool2d {
                batch: 1,
                channels: 1,
                h_in: 5,
                w_in: 5,
                h_out: 5,
                w_out: 5,
                k_h: 2,
                k_w: 2,
                stride_h: 1,
                stride_w: 1,
                dil_h: 1,
                dil_w: 1,
                pad_top: 1,
                pad_left: 1,
                pad_bottom: 0,
                pad_right: 0,
            },
            x0,
            y,
        );
        ");
    }
}
