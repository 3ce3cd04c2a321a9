//! Pooling: MaxPool (opset 1; `ceil_mode` since 10, dilations since 10), AveragePool
//! (`count_include_pad` since 7, `ceil_mode` since 10, dilations since 19),
//! GlobalAveragePool, GlobalMaxPool. 1-D and 2-D; MaxPool's optional Indices output is
//! not supported (the op table allows one output), so `storage_order`, which only shapes
//! the indices, is read and has no effect.

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::pool::Pool2d;

use super::window::{as_2d, resolve, window_pad_end};
use super::{checked_elems, required, Attrs, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    Max,
    Average { count_include_pad: bool },
    GlobalAverage,
    GlobalMax,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Pool {
    pub kind: PoolKind,
    pub params: Pool2d,
    pub out_shape: Vec<usize>,
    /// `f32`, or `i8`/`u8` for a MaxPool (opset 12 on), which moves quantized values
    /// unchanged: the QDQ pass runs max pooling on 8-bit data.
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
        if !(3..=4).contains(&x.rank()) {
            return Err(OpError::unsupported(format!(
                "only 1-D and 2-D pooling is supported; input is {x}"
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
                let kind = if op == "MaxPool" {
                    ctx.int("storage_order", 0)?;
                    PoolKind::Max
                } else {
                    PoolKind::Average {
                        count_include_pad: ctx.int("count_include_pad", 0)? != 0,
                    }
                };
                (kind, kernel, ceil)
            }
        };
        let win = if matches!(kind, PoolKind::GlobalAverage | PoolKind::GlobalMax) {
            super::window::Window {
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
        let [h_in, w_in] = as_2d(spatial, 1);
        let [h_out, w_out] = as_2d(&win.out, 1);
        let [k_h, k_w] = as_2d(&win.kernel, 1);
        let [stride_h, stride_w] = as_2d(&win.strides, 1);
        let [dil_h, dil_w] = as_2d(&win.dilations, 1);
        let [pad_top, pad_left] = as_2d(&win.pads_begin, 0);
        let [pad_bottom, pad_right] = as_2d(&win.pads_end, 0);
        let mut out_shape = x.shape[..2].to_vec();
        out_shape.extend(&win.out);
        checked_elems(&out_shape)?;
        Ok(Self {
            kind,
            params: Pool2d {
                batch: x.shape[0],
                channels: x.shape[1],
                h_in,
                w_in,
                h_out,
                w_out,
                k_h,
                k_w,
                stride_h,
                stride_w,
                dil_h,
                dil_w,
                pad_top,
                pad_left,
                pad_bottom,
                pad_right,
            },
            out_shape,
            dtype: x.dtype,
        })
    }
}

impl OpKind for Pool {
    fn attrs(&self, attrs: &mut Attrs) {
        let count_include_pad = match self.kind {
            PoolKind::GlobalAverage | PoolKind::GlobalMax => return,
            PoolKind::Max => false,
            PoolKind::Average { count_include_pad } => count_include_pad,
        };
        let p = &self.params;
        // A 1-D pool keeps its one spatial dim in the `w` fields.
        let rank = self.out_shape.len();
        let dims = |v: [usize; 2]| v[4 - rank..].to_vec();
        let mut pads = dims([p.pad_top, p.pad_left]);
        pads.extend(dims([p.pad_bottom, p.pad_right]));
        attrs
            .usizes("kernel_shape", &dims([p.k_h, p.k_w]))
            .usizes("strides", &dims([p.stride_h, p.stride_w]))
            .usizes("pads", &pads);
        if p.dil_h != 1 || p.dil_w != 1 {
            attrs.usizes("dilations", &dims([p.dil_h, p.dil_w]));
        }
        // `ceil_mode` shows only where it gave an output the floor would not have.
        // The last window reaching past the end padding is the mark of a ceil.
        let overhang = window_pad_end(p.h_in, p.h_out, p.k_h, p.stride_h, p.dil_h, p.pad_top)
            > p.pad_bottom
            || window_pad_end(p.w_in, p.w_out, p.k_w, p.stride_w, p.dil_w, p.pad_left)
                > p.pad_right;
        if overhang {
            attrs.int("ceil_mode", 1);
        }
        if count_include_pad {
            attrs.int("count_include_pad", 1);
        }
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        let p = &self.params;
        let mut expect_in = vec![p.batch, p.channels, p.h_in, p.w_in];
        if self.out_shape.len() == 3 {
            expect_in.remove(2);
        }
        if x.shape != expect_in {
            return Err(OpError::shape(format!(
                "input {x} does not match the parsed geometry {expect_in:?}"
            )));
        }
        Ok(vec![TensorType::new(self.dtype, self.out_shape.clone())])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let t = ctx.get(0)?;
        let n_out = self.out_shape.iter().product();
        let quantized = match &t.data {
            Data::I8(x) => {
                let mut y = vec![0; n_out];
                zant_runtime::pool::max_pool2d_q(&self.params, x, &mut y);
                Some(Data::I8(y))
            }
            Data::U8(x) => {
                let mut y = vec![0; n_out];
                zant_runtime::pool::max_pool2d_q(&self.params, x, &mut y);
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
        let mut y = vec![0.0; self.out_shape.iter().product()];
        let p = &self.params;
        let (channels, spatial) = (p.batch * p.channels, p.h_in * p.w_in);
        match self.kind {
            PoolKind::Max => zant_runtime::pool::max_pool2d(p, x, &mut y),
            PoolKind::Average { count_include_pad } => {
                zant_runtime::pool::avg_pool2d(p, count_include_pad, x, &mut y)
            }
            PoolKind::GlobalAverage => {
                zant_runtime::pool::global_avg_pool(channels, spatial, x, &mut y)
            }
            PoolKind::GlobalMax => {
                zant_runtime::pool::global_max_pool(channels, spatial, x, &mut y)
            }
        }
        Ok(Some(vec![Tensor::new(
            self.out_shape.clone(),
            Data::F32(y),
        )]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.expr(0)?;
        let params = self.params;
        let (channels, spatial) = (params.batch * params.channels, params.h_in * params.w_in);
        Ok(match self.kind {
            PoolKind::Max if self.dtype != DType::F32 => {
                quote! { rt::pool::max_pool2d_q(&#params, #x, y); }
            }
            PoolKind::Max => quote! { rt::pool::max_pool2d(&#params, #x, y); },
            PoolKind::Average { count_include_pad } => {
                quote! { rt::pool::avg_pool2d(&#params, #count_include_pad, #x, y); }
            }
            PoolKind::GlobalAverage => {
                quote! { rt::pool::global_avg_pool(#channels, #spatial, #x, y); }
            }
            PoolKind::GlobalMax => {
                quote! { rt::pool::global_max_pool(#channels, #spatial, #x, y); }
            }
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
    fn refuses() {
        insta::assert_snapshot!(node("MaxPool").input("f32[1,1,4,4]").emit(), @"parse: attribute `kernel_shape`: is required");
        insta::assert_snapshot!(node("AveragePool")
            .ints("kernel_shape", &[2, 2, 2])
            .input("f32[1,1,4,4,4]")
            .emit(), @"parse: only 1-D and 2-D pooling is supported; input is f32[1,1,4,4,4]");
        // Only max pooling moves 8-bit values unchanged; the others compute.
        insta::assert_snapshot!(node("GlobalMaxPool").input("i8[1,1,4,4]").emit(), @"parse: GlobalMaxPool is implemented for f32, not i8");
    }
}
