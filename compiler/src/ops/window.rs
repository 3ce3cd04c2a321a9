//! Sliding-window geometry shared by Conv and the pools: strides, dilations, explicit pads
//! or `auto_pad`, and `ceil_mode`.

use super::{OpError, ParseCtx};

/// The resolved geometry of one window op over 1 or 2 spatial dims.
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
    let positive = |name: &str| -> Result<Vec<usize>, OpError> {
        match ctx.ints(name)? {
            None => Ok(vec![1; rank]),
            Some(v) if v.len() == rank && v.iter().all(|&x| x >= 1) => {
                Ok(v.iter().map(|&x| x as usize).collect())
            }
            Some(v) => Err(OpError::Other(format!(
                "attribute `{name}` {v:?} should hold {rank} positive values"
            ))),
        }
    };
    let strides = positive("strides")?;
    let dilations = positive("dilations")?;
    if kernel.len() != rank || kernel.contains(&0) {
        return Err(OpError::Other(format!(
            "kernel shape {kernel:?} does not fit {rank} spatial dims"
        )));
    }
    let effective: Vec<usize> = (0..rank)
        .map(|i| dilations[i] * (kernel[i] - 1) + 1)
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
                return Err(OpError::Other(format!(
                    "attribute `pads` {p:?} should hold {} non-negative values",
                    2 * rank
                )))
            }
        },
        "VALID" => (vec![0; rank], vec![0; rank]),
        "SAME_UPPER" | "SAME_LOWER" => {
            let mut begin = vec![0; rank];
            let mut end = vec![0; rank];
            for i in 0..rank {
                let out = spatial[i].div_ceil(strides[i]);
                let total = ((out - 1) * strides[i] + effective[i]).saturating_sub(spatial[i]);
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
            return Err(OpError::Other(format!(
                "auto_pad `{other}` is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID"
            )))
        }
    };
    let mut out = Vec::with_capacity(rank);
    for i in 0..rank {
        let padded = spatial[i] + pads_begin[i] + pads_end[i];
        if padded < effective[i] {
            return Err(OpError::Other(format!(
                "the window ({} with dilation {}) is larger than the padded input ({padded})",
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
