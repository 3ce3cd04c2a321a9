//! Pooling: MaxPool (opset 1; `ceil_mode` since 10, dilations since 10), AveragePool
//! (`count_include_pad` since 7, `ceil_mode` since 10), GlobalAveragePool, GlobalMaxPool.
//! 1-D and 2-D; MaxPool's optional Indices output is not supported.

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::pool::Pool2d;

use super::window::{as_2d, resolve};
use super::{EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
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
}

impl Parse for Pool {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let x = ctx.input(0)?;
        if x.dtype != DType::F32 {
            return Err(OpError::Other(format!(
                "{} is implemented for f32, not {}",
                ctx.op_type, x.dtype
            )));
        }
        if !(3..=4).contains(&x.rank()) {
            return Err(OpError::Other(format!(
                "only 1-D and 2-D pooling is supported; input is {x}"
            )));
        }
        let spatial = &x.shape[2..];
        let (kind, kernel, ceil) = match ctx.op_type {
            "GlobalAveragePool" => (PoolKind::GlobalAverage, spatial.to_vec(), false),
            "GlobalMaxPool" => (PoolKind::GlobalMax, spatial.to_vec(), false),
            op => {
                let kernel: Vec<usize> = ctx
                    .ints("kernel_shape")?
                    .ok_or("attribute `kernel_shape` is required")?
                    .iter()
                    .map(|&k| {
                        usize::try_from(k).map_err(|_| format!("kernel size {k} is negative"))
                    })
                    .collect::<Result<_, _>>()?;
                let ceil = ctx.int("ceil_mode", 0)? != 0;
                let kind = if op == "MaxPool" {
                    if ctx.int("storage_order", 0)? != 0 {
                        return Err(OpError::Other("storage_order=1 is not supported".into()));
                    }
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
        })
    }
}

impl OpKind for Pool {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = inputs
            .first()
            .copied()
            .flatten()
            .ok_or("input 0 is required")?;
        let p = &self.params;
        if x.n_elems() != p.batch * p.channels * p.h_in * p.w_in {
            return Err(OpError::Other(format!(
                "input {x} does not match the parsed geometry"
            )));
        }
        Ok(vec![TensorType::new(DType::F32, self.out_shape.clone())])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?.as_f32().ok_or("f32")?;
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
        let Pool2d {
            batch,
            channels,
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
        } = self.params;
        let params = quote! {
            &rt::pool::Pool2d {
                batch: #batch, channels: #channels, h_in: #h_in, w_in: #w_in, h_out: #h_out, w_out: #w_out,
                k_h: #k_h, k_w: #k_w, stride_h: #stride_h, stride_w: #stride_w, dil_h: #dil_h, dil_w: #dil_w,
                pad_top: #pad_top, pad_left: #pad_left, pad_bottom: #pad_bottom, pad_right: #pad_right,
            }
        };
        let (n_channels, spatial) = (batch * channels, h_in * w_in);
        Ok(match self.kind {
            PoolKind::Max => quote! { rt::pool::max_pool2d(#params, #x, y); },
            PoolKind::Average { count_include_pad } => {
                quote! { rt::pool::avg_pool2d(#params, #count_include_pad, #x, y); }
            }
            PoolKind::GlobalAverage => {
                quote! { rt::pool::global_avg_pool(#n_channels, #spatial, #x, y); }
            }
            PoolKind::GlobalMax => {
                quote! { rt::pool::global_max_pool(#n_channels, #spatial, #x, y); }
            }
        })
    }
}
