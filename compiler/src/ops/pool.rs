//! Pooling: MaxPool (opset 1; `ceil_mode` since 10, dilations since 10), AveragePool
//! (`count_include_pad` since 7, `ceil_mode` since 10, dilations since 19), LpPool
//! (opset 1 with a float `p`, an integer `p` since 2, `ceil_mode` and dilations since
//! 18), GlobalAveragePool, GlobalMaxPool.
//!
//! Over 1 to 3 spatial dims. The 1-D and 2-D max and average pools run the runtime's row
//! kernels (`Pool2d`, a 1-D pool being a 2-D one of height 1); the 3-D ones and LpPool of
//! any rank run the generic `pool_nd`. A MaxPool with its optional Indices output (f32)
//! runs `max_pool_with_indices`, whose indices follow `storage_order` (1: column-major
//! in each plane); without that output `storage_order` has no effect. MaxUnpool puts
//! the values back at their indices.

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::pool::{Pool2d, PoolNd, PoolOp};

use super::window::{resolve, window_pad_end, Window};
use super::{checked_elems, required, Attrs, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    Max,
    /// MaxPool with its Indices output; `column_major` is `storage_order = 1`.
    MaxWithIndices {
        column_major: bool,
    },
    Average {
        count_include_pad: bool,
    },
    /// LpPool: the `p`-norm of each window.
    Lp {
        p: u32,
    },
    GlobalAverage,
    GlobalMax,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Pool {
    pub kind: PoolKind,
    /// The window over the spatial dims, widened to 3 with leading dims of one tap (a
    /// global pool's window is the whole input).
    pub window: PoolNd,
    pub in_shape: Vec<usize>,
    pub out_shape: Vec<usize>,
    /// `f32`, or `i8`/`u8` for a 1-D or 2-D MaxPool (opset 12 on), which moves quantized
    /// values unchanged: the QDQ pass runs max pooling on 8-bit data.
    pub dtype: DType,
}

impl Parse for Pool {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let x = ctx.input(0)?;
        let eight_bit = matches!(x.dtype, DType::I8 | DType::U8);
        let max = ctx.op_type == "MaxPool";
        if !(x.dtype == DType::F32 || max && eight_bit) {
            return Err(OpError::unsupported(format!(
                "{} is implemented for f32{}, not {}",
                ctx.op_type,
                if max { ", i8 and u8" } else { "" },
                x.dtype
            )));
        }
        if !(3..=5).contains(&x.rank()) {
            return Err(OpError::unsupported(format!(
                "pooling is supported over 1 to 3 spatial dims; input is {x}"
            )));
        }
        if eight_bit && x.rank() == 5 {
            return Err(OpError::unsupported(format!(
                "8-bit max pooling is supported over 1 and 2 spatial dims; input is {x}"
            )));
        }
        let spatial = &x.shape[2..];
        let (kind, kernel, ceil) = match ctx.op_type {
            "GlobalAveragePool" => (PoolKind::GlobalAverage, spatial.to_vec(), false),
            "GlobalMaxPool" => (PoolKind::GlobalMax, spatial.to_vec(), false),
            op => {
                let kernel = ctx
                    .ints("kernel_shape")?
                    .ok_or_else(|| OpError::attr("kernel_shape", "is required"))?;
                let kernel: Vec<usize> = kernel
                    .iter()
                    .map(|&k| usize::try_from(k).ok())
                    .collect::<Option<_>>()
                    .ok_or_else(|| {
                        OpError::attr("kernel_shape", format!("{kernel:?} has a negative size"))
                    })?;
                let ceil = ctx.int("ceil_mode", 0)? != 0;
                let kind = match op {
                    "MaxPool" => {
                        let column_major = ctx.int("storage_order", 0)? != 0;
                        if ctx.n_outputs < 2 {
                            PoolKind::Max
                        } else if x.dtype == DType::F32 {
                            PoolKind::MaxWithIndices { column_major }
                        } else {
                            return Err(OpError::unsupported(format!(
                                "MaxPool's Indices output is implemented for f32, not {}",
                                x.dtype
                            )));
                        }
                    }
                    "LpPool" => PoolKind::Lp { p: lp_norm(ctx)? },
                    _ => PoolKind::Average {
                        count_include_pad: ctx.int("count_include_pad", 0)? != 0,
                    },
                };
                (kind, kernel, ceil)
            }
        };
        let win = if matches!(kind, PoolKind::GlobalAverage | PoolKind::GlobalMax) {
            Window {
                out: vec![1; spatial.len()],
                strides: vec![1; spatial.len()],
                dilations: vec![1; spatial.len()],
                pads_begin: vec![0; spatial.len()],
                pads_end: vec![0; spatial.len()],
                kernel,
            }
        } else {
            resolve(ctx, spatial, kernel, ceil)?
        };
        let mut out_shape = x.shape[..2].to_vec();
        out_shape.extend(&win.out);
        checked_elems(&out_shape)?;
        // Leading dims of one input, one tap and one output make every pool 3-D.
        let widen = |v: &[usize], fill: usize| {
            let mut dims = [fill; 3];
            dims[3 - v.len()..].copy_from_slice(v);
            dims
        };
        Ok(Self {
            kind,
            window: PoolNd {
                planes: x.shape[0] * x.shape[1],
                input: widen(spatial, 1),
                output: widen(&win.out, 1),
                kernel: widen(&win.kernel, 1),
                strides: widen(&win.strides, 1),
                dilations: widen(&win.dilations, 1),
                pads_begin: widen(&win.pads_begin, 0),
                pads_end: widen(&win.pads_end, 0),
            },
            in_shape: x.shape.clone(),
            out_shape,
            dtype: x.dtype,
        })
    }
}

/// LpPool's `p`: an integer from opset 2, a float before (which must then be a whole
/// number, as every later opset has it).
fn lp_norm(ctx: &ParseCtx<'_>) -> Result<u32, OpError> {
    let p = if ctx.opset < 2 {
        let p = ctx.float("p", 2.0)?;
        if p.fract() != 0.0 || !(1.0..=u32::MAX as f32).contains(&p) {
            return Err(OpError::attr(
                "p",
                format!("{p} should be a positive whole number"),
            ));
        }
        p as i64
    } else {
        ctx.int("p", 2)?
    };
    u32::try_from(p)
        .ok()
        .filter(|&p| p >= 1)
        .ok_or_else(|| OpError::attr("p", format!("{p} should be a positive integer")))
}

/// The runtime kernel a pool runs.
enum Kernel {
    /// `max_pool2d` (or `max_pool2d_q` on 8-bit data).
    MaxRows(Pool2d),
    /// `avg_pool2d`, with its `count_include_pad`.
    AverageRows(Pool2d, bool),
    GlobalAverage,
    GlobalMax,
    /// `pool_nd`: the 3-D max and average pools and every LpPool.
    Nd(PoolOp),
    /// `max_pool_with_indices`, with its `column_major`.
    MaxIndices(bool),
}

impl Pool {
    /// The row kernels take the max and average pools over 1 or 2 spatial dims (with a
    /// height of 1 for 1-D); `pool_nd` the rest.
    fn kernel(&self) -> Kernel {
        let w = &self.window;
        let rows = Pool2d {
            batch: self.in_shape[0],
            channels: self.in_shape[1],
            h_in: w.input[1],
            w_in: w.input[2],
            h_out: w.output[1],
            w_out: w.output[2],
            k_h: w.kernel[1],
            k_w: w.kernel[2],
            stride_h: w.strides[1],
            stride_w: w.strides[2],
            dil_h: w.dilations[1],
            dil_w: w.dilations[2],
            pad_top: w.pads_begin[1],
            pad_left: w.pads_begin[2],
            pad_bottom: w.pads_end[1],
            pad_right: w.pads_end[2],
        };
        let two_d = self.in_shape.len() <= 4;
        match self.kind {
            PoolKind::Max if two_d => Kernel::MaxRows(rows),
            PoolKind::Average { count_include_pad } if two_d => {
                Kernel::AverageRows(rows, count_include_pad)
            }
            PoolKind::Max => Kernel::Nd(PoolOp::Max),
            PoolKind::Average { count_include_pad } => {
                Kernel::Nd(PoolOp::Average { count_include_pad })
            }
            PoolKind::Lp { p } => Kernel::Nd(PoolOp::Lp { p }),
            PoolKind::MaxWithIndices { column_major } => Kernel::MaxIndices(column_major),
            PoolKind::GlobalAverage => Kernel::GlobalAverage,
            PoolKind::GlobalMax => Kernel::GlobalMax,
        }
    }

    /// A global pool's planes and the elements of each.
    fn planes(&self) -> (usize, usize) {
        (self.window.planes, self.window.input.iter().product())
    }
}

impl OpKind for Pool {
    fn attrs(&self, attrs: &mut Attrs) {
        let count_include_pad = match self.kind {
            PoolKind::GlobalAverage | PoolKind::GlobalMax => return,
            PoolKind::Max | PoolKind::MaxWithIndices { .. } | PoolKind::Lp { .. } => false,
            PoolKind::Average { count_include_pad } => count_include_pad,
        };
        let w = &self.window;
        // Only the model's spatial dims, not the leading ones the widening added.
        let rank = self.out_shape.len() - 2;
        let dims = |v: [usize; 3]| v[3 - rank..].to_vec();
        let mut pads = dims(w.pads_begin);
        pads.extend(dims(w.pads_end));
        attrs
            .usizes("kernel_shape", &dims(w.kernel))
            .usizes("strides", &dims(w.strides))
            .usizes("pads", &pads);
        if w.dilations.iter().any(|&d| d != 1) {
            attrs.usizes("dilations", &dims(w.dilations));
        }
        // `ceil_mode` shows only where it gave an output the floor would not have.
        // The last window reaching past the end padding is the mark of a ceil.
        let overhang = (0..3).any(|axis| {
            window_pad_end(
                w.input[axis],
                w.output[axis],
                w.kernel[axis],
                w.strides[axis],
                w.dilations[axis],
                w.pads_begin[axis],
            ) > w.pads_end[axis]
        });
        if overhang {
            attrs.int("ceil_mode", 1);
        }
        if count_include_pad {
            attrs.int("count_include_pad", 1);
        }
        if let PoolKind::MaxWithIndices { column_major: true } = self.kind {
            attrs.int("storage_order", 1);
        }
        if let PoolKind::Lp { p } = self.kind {
            if p != 2 {
                attrs.int("p", p.into());
            }
        }
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        if x.shape != self.in_shape {
            return Err(OpError::shape(format!(
                "input {x} does not match the parsed geometry {:?}",
                self.in_shape
            )));
        }
        let y = TensorType::new(self.dtype, self.out_shape.clone());
        if let PoolKind::MaxWithIndices { .. } = self.kind {
            return Ok(vec![y, TensorType::new(DType::I64, self.out_shape.clone())]);
        }
        Ok(vec![y])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let t = ctx.get(0)?;
        let n_out = self.out_shape.iter().product();
        let kernel = self.kernel();
        let quantized = match (&t.data, &kernel) {
            (Data::I8(x), Kernel::MaxRows(rows)) => {
                let mut y = vec![0; n_out];
                zant_runtime::pool::max_pool2d_q(rows, x, &mut y);
                Some(Data::I8(y))
            }
            (Data::U8(x), Kernel::MaxRows(rows)) => {
                let mut y = vec![0; n_out];
                zant_runtime::pool::max_pool2d_q(rows, x, &mut y);
                Some(Data::U8(y))
            }
            _ => None,
        };
        if let Some(data) = quantized {
            return Ok(Some(vec![Tensor::new(self.out_shape.clone(), data)]));
        }
        let x = t
            .as_f32()
            .ok_or_else(|| OpError::shape(format!("input 0 is {}, not f32", t.dtype())))?;
        let mut y = vec![0.0; n_out];
        let (planes, spatial) = self.planes();
        match kernel {
            Kernel::MaxRows(rows) => zant_runtime::pool::max_pool2d(&rows, x, &mut y),
            Kernel::AverageRows(rows, count_include_pad) => {
                zant_runtime::pool::avg_pool2d(&rows, count_include_pad, x, &mut y)
            }
            Kernel::GlobalAverage => {
                zant_runtime::pool::global_avg_pool(planes, spatial, x, &mut y)
            }
            Kernel::GlobalMax => zant_runtime::pool::global_max_pool(planes, spatial, x, &mut y),
            Kernel::Nd(op) => zant_runtime::pool::pool_nd(&self.window, op, x, &mut y),
            Kernel::MaxIndices(column_major) => {
                let mut indices = vec![0; n_out];
                let w = &self.window;
                zant_runtime::pool::max_pool_with_indices(w, column_major, x, &mut y, &mut indices);
                return Ok(Some(vec![
                    Tensor::new(self.out_shape.clone(), Data::F32(y)),
                    Tensor::new(self.out_shape.clone(), Data::I64(indices)),
                ]));
            }
        }
        Ok(Some(vec![Tensor::new(
            self.out_shape.clone(),
            Data::F32(y),
        )]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.expr(0)?;
        let (planes, spatial) = self.planes();
        Ok(match self.kernel() {
            Kernel::MaxRows(rows) if self.dtype != DType::F32 => {
                quote! { rt::pool::max_pool2d_q(&#rows, #x, y); }
            }
            Kernel::MaxRows(rows) => quote! { rt::pool::max_pool2d(&#rows, #x, y); },
            Kernel::AverageRows(rows, count_include_pad) => {
                quote! { rt::pool::avg_pool2d(&#rows, #count_include_pad, #x, y); }
            }
            Kernel::GlobalAverage => {
                quote! { rt::pool::global_avg_pool(#planes, #spatial, #x, y); }
            }
            Kernel::GlobalMax => {
                quote! { rt::pool::global_max_pool(#planes, #spatial, #x, y); }
            }
            Kernel::Nd(op) => {
                let window = self.window;
                quote! { rt::pool::pool_nd(&#window, #op, #x, y); }
            }
            Kernel::MaxIndices(column_major) => {
                let window = self.window;
                quote! { rt::pool::max_pool_with_indices(&#window, #column_major, #x, y, y1); }
            }
        })
    }
}

/// MaxUnpool (opset 9 on): MaxPool's values put back at its indices in a zeroed tensor
/// of the pooled input's shape: `output_shape` when given (a constant), else per
/// spatial dim `(in − 1) · stride + kernel − pads`. An index outside the output is a
/// run-time error.
#[derive(Clone, Debug, PartialEq)]
pub struct MaxUnpool {
    /// The attributes as given (printed back by `attrs`).
    pub kernel: Vec<i64>,
    pub strides: Vec<i64>,
    pub pads: Vec<i64>,
    /// The spatial extents the attributes give, which the indices count in.
    pub unpooled: Vec<usize>,
    pub out_shape: Vec<usize>,
}

impl Parse for MaxUnpool {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let x = ctx.input(0)?;
        if !(3..=5).contains(&x.rank()) {
            return Err(OpError::unsupported(format!(
                "MaxUnpool is supported over 1 to 3 spatial dims; input is {x}"
            )));
        }
        let spatial = x.rank() - 2;
        let kernel = ctx
            .ints("kernel_shape")?
            .ok_or_else(|| OpError::attr("kernel_shape", "is required"))?;
        let strides = ctx.ints("strides")?.unwrap_or_else(|| vec![1; spatial]);
        let pads = ctx.ints("pads")?.unwrap_or_else(|| vec![0; 2 * spatial]);
        if kernel.len() != spatial || strides.len() != spatial || pads.len() != 2 * spatial {
            return Err(OpError::attr(
                "kernel_shape",
                format!(
                    "kernel_shape {kernel:?}, strides {strides:?} and pads {pads:?} do not \
                     fit {spatial} spatial dims"
                ),
            ));
        }
        let mut unpooled = Vec::with_capacity(spatial);
        for (axis, &len) in x.shape[2..].iter().enumerate() {
            let (k, s) = (kernel[axis], strides[axis]);
            let pad = pads[axis].checked_add(pads[axis + spatial]);
            let extent = i64::try_from(len)
                .ok()
                .and_then(|n| (n - 1).checked_mul(s))
                .and_then(|n| n.checked_add(k))
                .zip(pad)
                .and_then(|(n, pad)| n.checked_sub(pad))
                .and_then(|n| usize::try_from(n).ok())
                .filter(|_| k > 0 && s > 0 && len > 0);
            let Some(extent) = extent else {
                return Err(OpError::shape(format!(
                    "kernel {k}, stride {s} and pads {:?} give no output extent for an \
                     input extent of {len}",
                    (pads[axis], pads[axis + spatial])
                )));
            };
            unpooled.push(extent);
        }
        let out_shape = match ctx.absorb_optional(2, "output_shape")? {
            Some(shape) => {
                let shape = shape.to_i64s();
                let out_shape: Option<Vec<usize>> =
                    shape.iter().map(|&d| usize::try_from(d).ok()).collect();
                match out_shape {
                    Some(out_shape) if out_shape.len() == x.rank() => {
                        if out_shape[2..].iter().zip(&unpooled).any(|(o, u)| o < u) {
                            return Err(OpError::shape(format!(
                                "output_shape {shape:?} is smaller than the unpooled \
                                 extents {unpooled:?} its indices count in"
                            )));
                        }
                        out_shape
                    }
                    _ => {
                        return Err(OpError::shape(format!(
                            "output_shape {shape:?} is not {} extents of 0 or more",
                            x.rank()
                        )))
                    }
                }
            }
            None => {
                let mut out_shape = x.shape[..2].to_vec();
                out_shape.extend(&unpooled);
                out_shape
            }
        };
        checked_elems(&out_shape)?;
        Ok(Self {
            kernel,
            strides,
            pads,
            unpooled,
            out_shape,
        })
    }
}

impl OpKind for MaxUnpool {
    /// The attributes, and the output shape as `output_shape` (the input it may come
    /// from, or the one the attributes give).
    fn attrs(&self, attrs: &mut Attrs) {
        attrs
            .ints("kernel_shape", &self.kernel)
            .ints("strides", &self.strides)
            .ints("pads", &self.pads)
            .usizes("output_shape", &self.out_shape);
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let (x, i) = (required(inputs, 0)?, required(inputs, 1)?);
        if x.dtype != DType::F32 || i.dtype != DType::I64 || i.shape != x.shape {
            return Err(OpError::unsupported(format!(
                "MaxUnpool takes f32 values and i64 indices of the same shape; got {x} and {i}"
            )));
        }
        if self.out_shape.get(..2) != x.shape.get(..2) {
            return Err(OpError::shape(format!(
                "output_shape {:?} does not keep the input's batch and channels ({x})",
                self.out_shape
            )));
        }
        Ok(vec![TensorType::new(DType::F32, self.out_shape.clone())])
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let (x, i, try_) = (ctx.expr(0)?, ctx.expr(1)?, ctx.try_suffix());
        let widen = |v: &[usize]| {
            let mut dims = [1; 3];
            dims[3 - v.len()..].copy_from_slice(v);
            dims
        };
        let (unpooled, output) = (widen(&self.unpooled), widen(&self.out_shape[2..]));
        Ok(quote! {
            rt::pool::max_unpool([#(#unpooled),*], [#(#output),*], #x, #i, y) #try_;
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::{Data, Tensor};

    #[test]
    fn emits() {
        // Max pooling moves 8-bit quantized values as they are.
        insta::assert_snapshot!(node("MaxPool")
            .ints("kernel_shape", &[2, 2])
            .ints("strides", &[2, 2])
            .input("i8[1,2,4,4]")
            .emit(), @"
        MaxPool(i8[1,2,4,4]) kernel_shape=[2,2] strides=[2,2] pads=[0,0,0,0] -> i8[1,2,2,2]
        rt::pool::max_pool2d_q(
            &rt::pool::Pool2d {
                batch: 1,
                channels: 2,
                h_in: 4,
                w_in: 4,
                h_out: 2,
                w_out: 2,
                k_h: 2,
                k_w: 2,
                stride_h: 2,
                stride_w: 2,
                dil_h: 1,
                dil_w: 1,
                pad_top: 0,
                pad_left: 0,
                pad_bottom: 0,
                pad_right: 0,
            },
            x0,
            y,
        );
        ");
        insta::assert_snapshot!(node("AveragePool")
            .ints("kernel_shape", &[2, 2])
            .input("i8[1,2,4,4]")
            .emit(), @"parse: AveragePool is implemented for f32, not i8");
        insta::assert_snapshot!(node("MaxPool")
            .ints("kernel_shape", &[2, 2])
            .ints("strides", &[2, 2])
            .input("f32[1,3,8,8]")
            .emit(), @"
        MaxPool(f32[1,3,8,8]) kernel_shape=[2,2] strides=[2,2] pads=[0,0,0,0] -> f32[1,3,4,4]
        rt::pool::max_pool2d(
            &rt::pool::Pool2d {
                batch: 1,
                channels: 3,
                h_in: 8,
                w_in: 8,
                h_out: 4,
                w_out: 4,
                k_h: 2,
                k_w: 2,
                stride_h: 2,
                stride_w: 2,
                dil_h: 1,
                dil_w: 1,
                pad_top: 0,
                pad_left: 0,
                pad_bottom: 0,
                pad_right: 0,
            },
            x0,
            y,
        );
        ");
        // ceil_mode adds a last output whose window hangs past the padding.
        insta::assert_snapshot!(node("AveragePool")
            .ints("kernel_shape", &[2, 2])
            .ints("strides", &[2, 2])
            .ints("pads", &[1, 0, 0, 0])
            .int("ceil_mode", 1)
            .int("count_include_pad", 1)
            .input("f32[1,1,5,5]")
            .emit(), @"
        AveragePool(f32[1,1,5,5]) kernel_shape=[2,2] strides=[2,2] pads=[1,0,0,0] ceil_mode=1 count_include_pad=1 -> f32[1,1,3,3]
        rt::pool::avg_pool2d(
            &rt::pool::Pool2d {
                batch: 1,
                channels: 1,
                h_in: 5,
                w_in: 5,
                h_out: 3,
                w_out: 3,
                k_h: 2,
                k_w: 2,
                stride_h: 2,
                stride_w: 2,
                dil_h: 1,
                dil_w: 1,
                pad_top: 1,
                pad_left: 0,
                pad_bottom: 0,
                pad_right: 0,
            },
            true,
            x0,
            y,
        );
        ");
        // A ceil_mode that changes nothing is not shown.
        insta::assert_snapshot!(node("AveragePool")
            .ints("kernel_shape", &[2, 2])
            .int("ceil_mode", 1)
            .input("f32[1,1,4,4]")
            .emit(), @"
        AveragePool(f32[1,1,4,4]) kernel_shape=[2,2] strides=[1,1] pads=[0,0,0,0] -> f32[1,1,3,3]
        rt::pool::avg_pool2d(
            &rt::pool::Pool2d {
                batch: 1,
                channels: 1,
                h_in: 4,
                w_in: 4,
                h_out: 3,
                w_out: 3,
                k_h: 2,
                k_w: 2,
                stride_h: 1,
                stride_w: 1,
                dil_h: 1,
                dil_w: 1,
                pad_top: 0,
                pad_left: 0,
                pad_bottom: 0,
                pad_right: 0,
            },
            false,
            x0,
            y,
        );
        ");
        insta::assert_snapshot!(node("MaxPool")
            .ints("kernel_shape", &[3])
            .ints("dilations", &[2])
            .input("f32[1,2,10]")
            .emit(), @"
        MaxPool(f32[1,2,10]) kernel_shape=[3] strides=[1] pads=[0,0] dilations=[2] -> f32[1,2,6]
        rt::pool::max_pool2d(
            &rt::pool::Pool2d {
                batch: 1,
                channels: 2,
                h_in: 1,
                w_in: 10,
                h_out: 1,
                w_out: 6,
                k_h: 1,
                k_w: 3,
                stride_h: 1,
                stride_w: 1,
                dil_h: 1,
                dil_w: 2,
                pad_top: 0,
                pad_left: 0,
                pad_bottom: 0,
                pad_right: 0,
            },
            x0,
            y,
        );
        ");
        insta::assert_snapshot!(node("GlobalAveragePool").input("f32[1,8,7,7]").emit(), @"
        GlobalAveragePool(f32[1,8,7,7]) -> f32[1,8,1,1]
        rt::pool::global_avg_pool(8, 49, x0, y);
        ");
        insta::assert_snapshot!(node("GlobalMaxPool").input("f32[2,3,4]").emit(), @"
        GlobalMaxPool(f32[2,3,4]) -> f32[2,3,1]
        rt::pool::global_max_pool(6, 4, x0, y);
        ");
        insta::assert_snapshot!(node("GlobalMaxPool")
            .constant(Tensor::new(vec![1, 2, 2], Data::F32(vec![1.0, -2.0, 0.5, 3.0])))
            .emit(), @"
        GlobalMaxPool(f32[1,2,2]) -> f32[1,2,1]
        folds to f32[1,2,1] [1.0, 3.0]
        ");
    }

    #[test]
    fn emits_3d() {
        // 3-D pools run the generic kernel; the widened geometry prints back as 3 dims.
        insta::assert_snapshot!(node("AveragePool")
            .ints("kernel_shape", &[2, 2, 2])
            .ints("strides", &[2, 2, 2])
            .ints("pads", &[1, 0, 0, 0, 0, 0])
            .int("ceil_mode", 1)
            .int("count_include_pad", 1)
            .input("f32[1,2,5,5,4]")
            .emit(), @"
        AveragePool(f32[1,2,5,5,4]) kernel_shape=[2,2,2] strides=[2,2,2] pads=[1,0,0,0,0,0] ceil_mode=1 count_include_pad=1 -> f32[1,2,3,3,2]
        rt::pool::pool_nd(
            &rt::pool::PoolNd {
                planes: 2,
                input: [5, 5, 4],
                output: [3, 3, 2],
                kernel: [2, 2, 2],
                strides: [2, 2, 2],
                dilations: [1, 1, 1],
                pads_begin: [1, 0, 0],
                pads_end: [0, 0, 0],
            },
            rt::pool::PoolOp::Average {
                count_include_pad: true,
            },
            x0,
            y,
        );
        ");
        insta::assert_snapshot!(node("MaxPool")
            .ints("kernel_shape", &[2, 2, 2])
            .ints("dilations", &[2, 2, 2])
            .input("f32[1,1,4,4,4]")
            .emit(), @"
        MaxPool(f32[1,1,4,4,4]) kernel_shape=[2,2,2] strides=[1,1,1] pads=[0,0,0,0,0,0] dilations=[2,2,2] -> f32[1,1,2,2,2]
        rt::pool::pool_nd(
            &rt::pool::PoolNd {
                planes: 1,
                input: [4, 4, 4],
                output: [2, 2, 2],
                kernel: [2, 2, 2],
                strides: [1, 1, 1],
                dilations: [2, 2, 2],
                pads_begin: [0, 0, 0],
                pads_end: [0, 0, 0],
            },
            rt::pool::PoolOp::Max,
            x0,
            y,
        );
        ");
        insta::assert_snapshot!(node("GlobalAveragePool").input("f32[1,8,2,3,4]").emit(), @"
        GlobalAveragePool(f32[1,8,2,3,4]) -> f32[1,8,1,1,1]
        rt::pool::global_avg_pool(8, 24, x0, y);
        ");
        // x[:, :, d, h, w] = 8·d + 4·h + 2·w + 1 over 2 × 2 × 2: the maximum is the last.
        insta::assert_snapshot!(node("MaxPool")
            .ints("kernel_shape", &[2, 2, 2])
            .constant(Tensor::new(
                vec![1, 1, 2, 2, 2],
                Data::F32((0..8).map(|i| 2.0 * i as f32 + 1.0).collect()),
            ))
            .emit(), @"
        MaxPool(f32[1,1,2,2,2]) kernel_shape=[2,2,2] strides=[1,1,1] pads=[0,0,0,0,0,0] -> f32[1,1,1,1,1]
        folds to f32[1,1,1,1,1] [15.0]
        ");
    }

    #[test]
    fn emits_lp_pool() {
        // The default p = 2 is not shown.
        insta::assert_snapshot!(node("LpPool")
            .ints("kernel_shape", &[2, 2])
            .string("auto_pad", "SAME_UPPER")
            .input("f32[1,3,6,6]")
            .emit(), @"
        LpPool(f32[1,3,6,6]) kernel_shape=[2,2] strides=[1,1] pads=[0,0,1,1] -> f32[1,3,6,6]
        rt::pool::pool_nd(
            &rt::pool::PoolNd {
                planes: 3,
                input: [1, 6, 6],
                output: [1, 6, 6],
                kernel: [1, 2, 2],
                strides: [1, 1, 1],
                dilations: [1, 1, 1],
                pads_begin: [0, 0, 0],
                pads_end: [0, 1, 1],
            },
            rt::pool::PoolOp::Lp { p: 2u32 },
            x0,
            y,
        );
        ");
        insta::assert_snapshot!(node("LpPool")
            .ints("kernel_shape", &[3])
            .ints("strides", &[2])
            .ints("dilations", &[2])
            .int("p", 3)
            .input("f32[2,3,11]")
            .emit(), @"
        LpPool(f32[2,3,11]) kernel_shape=[3] strides=[2] pads=[0,0] dilations=[2] p=3 -> f32[2,3,4]
        rt::pool::pool_nd(
            &rt::pool::PoolNd {
                planes: 6,
                input: [1, 1, 11],
                output: [1, 1, 4],
                kernel: [1, 1, 3],
                strides: [1, 1, 2],
                dilations: [1, 1, 2],
                pads_begin: [0, 0, 0],
                pads_end: [0, 0, 0],
            },
            rt::pool::PoolOp::Lp { p: 3u32 },
            x0,
            y,
        );
        ");
        // The 1-norm of [3, −4], and of [0.5] with a pad.
        insta::assert_snapshot!(node("LpPool")
            .ints("kernel_shape", &[2])
            .ints("strides", &[2])
            .ints("pads", &[0, 1])
            .int("p", 1)
            .constant(Tensor::new(vec![1, 1, 3], Data::F32(vec![3.0, -4.0, 0.5])))
            .emit(), @"
        LpPool(f32[1,1,3]) kernel_shape=[2] strides=[2] pads=[0,1] p=1 -> f32[1,1,2]
        folds to f32[1,1,2] [7.0, 0.5]
        ");
        // Opset 1 gives p as a float.
        insta::assert_snapshot!(node("LpPool")
            .opset(1)
            .ints("kernel_shape", &[2])
            .float("p", 3.0)
            .constant(Tensor::new(vec![1, 1, 2], Data::F32(vec![1.0, -2.0])))
            .emit(), @"
        LpPool(f32[1,1,2]) kernel_shape=[2] strides=[1] pads=[0,0] p=3 -> f32[1,1,1]
        folds to f32[1,1,1] [2.0800838]
        ");
    }

    #[test]
    fn emits_max_pool_indices_and_max_unpool() {
        insta::assert_snapshot!(node("MaxPool").outputs(2).ints("kernel_shape", &[2, 2]).ints("strides", &[2, 2])
            .input("f32[1,2,4,4]").emit(), @r#"
        MaxPool(f32[1,2,4,4]) kernel_shape=[2,2] strides=[2,2] pads=[0,0,0,0] -> f32[1,2,2,2], i64[1,2,2,2]
        rt::pool::max_pool_with_indices(
            &rt::pool::PoolNd {
                planes: 2,
                input: [1, 4, 4],
                output: [1, 2, 2],
                kernel: [1, 2, 2],
                strides: [1, 2, 2],
                dilations: [1, 1, 1],
                pads_begin: [0, 0, 0],
                pads_end: [0, 0, 0],
            },
            false,
            x0,
            y,
            y1,
        );
        "#);
        insta::assert_snapshot!(node("MaxPool").outputs(2).ints("kernel_shape", &[2, 2]).int("storage_order", 1)
            .input("f32[1,1,3,3]").emit(), @r#"
        MaxPool(f32[1,1,3,3]) kernel_shape=[2,2] strides=[1,1] pads=[0,0,0,0] storage_order=1 -> f32[1,1,2,2], i64[1,1,2,2]
        rt::pool::max_pool_with_indices(
            &rt::pool::PoolNd {
                planes: 1,
                input: [1, 3, 3],
                output: [1, 2, 2],
                kernel: [1, 2, 2],
                strides: [1, 1, 1],
                dilations: [1, 1, 1],
                pads_begin: [0, 0, 0],
                pads_end: [0, 0, 0],
            },
            true,
            x0,
            y,
            y1,
        );
        "#);
        insta::assert_snapshot!(node("MaxPool").outputs(2).ints("kernel_shape", &[2])
            .constant(Tensor::new(vec![1, 1, 3], Data::F32(vec![1.0, 3.0, 2.0]))).emit(), @r#"
        MaxPool(f32[1,1,3]) kernel_shape=[2] strides=[1] pads=[0,0] -> f32[1,1,2], i64[1,1,2]
        folds to f32[1,1,2] [3.0, 3.0], i64[1,1,2] [1, 1]
        "#);
        insta::assert_snapshot!(node("MaxUnpool").ints("kernel_shape", &[2, 2]).ints("strides", &[2, 2])
            .input("f32[1,2,2,2]").input("i64[1,2,2,2]").emit(), @r#"
        MaxUnpool(f32[1,2,2,2], i64[1,2,2,2]) kernel_shape=[2,2] strides=[2,2] pads=[0,0,0,0] output_shape=[1,2,4,4] -> f32[1,2,4,4]
        rt::pool::max_unpool([1, 4, 4], [1, 4, 4], x0, x1, y)
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        insta::assert_snapshot!(node("MaxUnpool").ints("kernel_shape", &[2, 2]).ints("strides", &[2, 2])
            .input("f32[1,2,2,2]").input("i64[1,2,2,2]").constant(Tensor::from_i64s(vec![1, 2, 5, 5])).emit(), @r#"
        MaxUnpool(f32[1,2,2,2], i64[1,2,2,2]) kernel_shape=[2,2] strides=[2,2] pads=[0,0,0,0] output_shape=[1,2,5,5] -> f32[1,2,5,5]
        rt::pool::max_unpool([1, 4, 4], [1, 5, 5], x0, x1, y)
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
    }

    #[test]
    fn refuses_max_pool_indices_and_max_unpool() {
        insta::assert_snapshot!(node("MaxPool").outputs(2).ints("kernel_shape", &[2])
            .input("i8[1,1,4]").emit(), @"parse: MaxPool's Indices output is implemented for f32, not i8");
        insta::assert_snapshot!(node("MaxUnpool").input("f32[1,2,2,2]").input("i64[1,2,2,2]").emit(), @"parse: attribute `kernel_shape`: is required");
        insta::assert_snapshot!(node("MaxUnpool").ints("kernel_shape", &[2, 2])
            .input("f32[1,2,2,2]").input("i32[1,2,2,2]").emit(), @"infer: MaxUnpool takes f32 values and i64 indices of the same shape; got f32[1,2,2,2] and i32[1,2,2,2]");
        insta::assert_snapshot!(node("MaxUnpool").ints("kernel_shape", &[2, 2]).ints("pads", &[3, 3, 3, 3])
            .input("f32[1,2,2,2]").input("i64[1,2,2,2]").emit(), @"parse: kernel 2, stride 1 and pads (3, 3) give no output extent for an input extent of 2");
        insta::assert_snapshot!(node("MaxUnpool").ints("kernel_shape", &[2, 2]).ints("strides", &[2, 2])
            .input("f32[1,2,2,2]").input("i64[1,2,2,2]").constant(Tensor::from_i64s(vec![1, 2, 3, 5])).emit(), @"parse: output_shape [1, 2, 3, 5] is smaller than the unpooled extents [4, 4] its indices count in");
        insta::assert_snapshot!(node("MaxUnpool").ints("kernel_shape", &[2, 2])
            .input("f32[1,2,2,2]").input("i64[1,2,2,2]").constant(Tensor::from_i64s(vec![1, 3, 5, 5])).emit(), @"infer: output_shape [1, 3, 5, 5] does not keep the input's batch and channels (f32[1,2,2,2])");
        insta::assert_snapshot!(node("MaxUnpool").ints("kernel_shape", &[2, 2])
            .input("f32[1,2,2,2]").input("i64[1,2,2,2]").constant(Tensor::from_i64s(vec![1, 2, -5, 5])).emit(), @"parse: output_shape [1, 2, -5, 5] is not 4 extents of 0 or more");
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("MaxPool").input("f32[1,1,4,4]").emit(), @"parse: attribute `kernel_shape`: is required");
        insta::assert_snapshot!(node("AveragePool")
            .ints("kernel_shape", &[2, 2, 2, 2])
            .input("f32[1,1,4,4,4,4]")
            .emit(), @"parse: pooling is supported over 1 to 3 spatial dims; input is f32[1,1,4,4,4,4]");
        // Only max pooling moves 8-bit values unchanged; the others compute.
        insta::assert_snapshot!(node("GlobalMaxPool").input("i8[1,1,4,4]").emit(), @"parse: GlobalMaxPool is implemented for f32, not i8");
        insta::assert_snapshot!(node("MaxPool")
            .ints("kernel_shape", &[2, 2, 2])
            .input("u8[1,1,4,4,4]")
            .emit(), @"parse: 8-bit max pooling is supported over 1 and 2 spatial dims; input is u8[1,1,4,4,4]");
        let lp = || node("LpPool").input("f32[1,1,4,4]");
        insta::assert_snapshot!(lp().ints("kernel_shape", &[2, 2]).int("p", 0).emit(), @"parse: attribute `p`: 0 should be a positive integer");
        insta::assert_snapshot!(lp().ints("kernel_shape", &[2, 2]).int("p", -2).emit(), @"parse: attribute `p`: -2 should be a positive integer");
        insta::assert_snapshot!(lp().ints("kernel_shape", &[2]).emit(), @"parse: attribute `kernel_shape`: [2] should hold 2 positive values");
        insta::assert_snapshot!(lp().emit(), @"parse: attribute `kernel_shape`: is required");
        insta::assert_snapshot!(lp().opset(1).ints("kernel_shape", &[2, 2]).float("p", 1.5).emit(), @"parse: attribute `p`: 1.5 should be a positive whole number");
        insta::assert_snapshot!(node("LpPool")
            .ints("kernel_shape", &[2, 2])
            .input("i8[1,1,4,4]")
            .emit(), @"parse: LpPool is implemented for f32, not i8");
    }
}
