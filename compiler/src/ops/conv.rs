//! Conv (opset 1 on; 11 only adds types): 1-D and 2-D, groups and depthwise, pads, strides,
//! dilations and `auto_pad`. A following BatchNormalization is folded into the weights and
//! a following Relu/Clip is fused into the kernel by the passes.

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::conv::Conv2d;
use zant_runtime::Activation;

use super::window::{as_2d, resolve, window_pad_end};
use super::{activation_tokens, Attrs, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Conv {
    pub params: Conv2d,
    /// The rank of the input (3 for 1-D convolution, 4 for 2-D).
    pub rank: usize,
    pub act: Activation,
}

impl Parse for Conv {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let x = ctx.input(0)?;
        let w = ctx.input(1)?;
        if x.dtype != DType::F32 || w.dtype != DType::F32 {
            return Err(OpError::Other(format!(
                "Conv is implemented for f32, not {}",
                x.dtype
            )));
        }
        if !(3..=4).contains(&x.rank()) {
            return Err(OpError::Other(format!(
                "only 1-D and 2-D convolution is supported; input is {x}"
            )));
        }
        if w.rank() != x.rank() {
            return Err(OpError::Other(format!(
                "weight {w} does not match input {x}"
            )));
        }
        let groups = ctx.int("group", 1)?;
        let c_in = x.shape[1];
        let c_out = w.shape[0];
        if groups < 1 || c_in % groups as usize != 0 || c_out % groups as usize != 0 {
            return Err(OpError::Other(format!(
                "group {groups} does not divide {c_in} input and {c_out} output channels"
            )));
        }
        let groups = groups as usize;
        if w.shape[1] * groups != c_in {
            return Err(OpError::Other(format!(
                "weight {w} does not fit {c_in} input channels in {groups} groups"
            )));
        }
        let kernel = match ctx.ints("kernel_shape")? {
            Some(k) => k.iter().map(|&v| v.max(0) as usize).collect(),
            None => w.shape[2..].to_vec(),
        };
        if kernel != w.shape[2..] {
            return Err(OpError::Other(format!(
                "kernel_shape {kernel:?} disagrees with weight {w}"
            )));
        }
        if let Some(b) = ctx.inputs.get(2).copied().flatten() {
            if b.shape != [c_out] || b.dtype != DType::F32 {
                return Err(OpError::Other(format!("bias {b} should be f32[{c_out}]")));
            }
        }
        let win = resolve(ctx, &x.shape[2..], kernel, false)?;
        let [h_in, w_in] = as_2d(&x.shape[2..], 1);
        let [h_out, w_out] = as_2d(&win.out, 1);
        let [k_h, k_w] = as_2d(&win.kernel, 1);
        let [stride_h, stride_w] = as_2d(&win.strides, 1);
        let [dil_h, dil_w] = as_2d(&win.dilations, 1);
        let [pad_top, pad_left] = as_2d(&win.pads_begin, 0);
        Ok(Self {
            params: Conv2d {
                batch: x.shape[0],
                c_in,
                h_in,
                w_in,
                c_out,
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
                groups,
            },
            rank: x.rank(),
            act: Activation::None,
        })
    }
}

impl OpKind for Conv {
    fn attrs(&self, attrs: &mut Attrs) {
        let p = &self.params;
        // A 1-D convolution keeps its one spatial dim in the `w` fields.
        let dims = |v: [usize; 2]| v[4 - self.rank..].to_vec();
        let pad_bottom = window_pad_end(p.h_in, p.h_out, p.k_h, p.stride_h, p.dil_h, p.pad_top);
        let pad_right = window_pad_end(p.w_in, p.w_out, p.k_w, p.stride_w, p.dil_w, p.pad_left);
        let mut pads = dims([p.pad_top, p.pad_left]);
        pads.extend(dims([pad_bottom, pad_right]));
        attrs
            .usizes("kernel_shape", &dims([p.k_h, p.k_w]))
            .usizes("strides", &dims([p.stride_h, p.stride_w]))
            .usizes("pads", &pads)
            .usizes("dilations", &dims([p.dil_h, p.dil_w]));
        if p.groups != 1 {
            attrs.int("group", p.groups as i64);
        }
        attrs.activation(self.act);
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = inputs
            .first()
            .copied()
            .flatten()
            .ok_or("input 0 is required")?;
        let p = &self.params;
        let expect_in: Vec<usize> = if self.rank == 3 {
            vec![p.batch, p.c_in, p.w_in]
        } else {
            vec![p.batch, p.c_in, p.h_in, p.w_in]
        };
        if x.shape != expect_in {
            return Err(OpError::Other(format!(
                "input {x} does not match the parsed geometry {expect_in:?}"
            )));
        }
        let shape = if self.rank == 3 {
            vec![p.batch, p.c_out, p.w_out]
        } else {
            vec![p.batch, p.c_out, p.h_out, p.w_out]
        };
        Ok(vec![TensorType::new(DType::F32, shape)])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?.as_f32().ok_or("f32")?;
        let w = ctx.get(1)?.as_f32().ok_or("f32")?;
        let b = ctx
            .consts
            .get(2)
            .copied()
            .flatten()
            .and_then(|t| t.as_f32());
        let out = &ctx.outputs[0];
        let mut y = vec![0.0; out.n_elems()];
        zant_runtime::conv::conv2d(&self.params, x, w, b, self.act, &mut y);
        Ok(Some(vec![Tensor::new(out.shape.clone(), Data::F32(y))]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let Conv2d {
            batch,
            c_in,
            h_in,
            w_in,
            c_out,
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
            groups,
        } = self.params;
        let x = ctx.expr(0)?;
        let w = ctx.expr(1)?;
        let bias = match ctx.inputs.get(2).and_then(|o| o.as_ref()) {
            Some(b) => {
                let e = &b.expr;
                quote!(Some(#e))
            }
            None => quote!(None),
        };
        let act = activation_tokens(self.act);
        Ok(quote! {
            rt::conv::conv2d(
                &rt::conv::Conv2d {
                    batch: #batch, c_in: #c_in, h_in: #h_in, w_in: #w_in,
                    c_out: #c_out, h_out: #h_out, w_out: #w_out,
                    k_h: #k_h, k_w: #k_w, stride_h: #stride_h, stride_w: #stride_w,
                    dil_h: #dil_h, dil_w: #dil_w, pad_top: #pad_top, pad_left: #pad_left,
                    groups: #groups,
                },
                #x, #w, #bias, #act, y,
            );
        })
    }
}
