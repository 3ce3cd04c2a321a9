//! Conv (opset 1 on; 11 only adds types): 1-D and 2-D, groups and depthwise, pads, strides,
//! dilations and `auto_pad`. A following BatchNormalization is folded into the weights and
//! a following Relu/Clip is fused into the kernel by the passes.

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::conv::{
    gemm_blocks_pay_for, kernel_for, winograd_fits, winograd_pays_for, winograd_scratch_len,
    Conv2d, ConvKernel,
};
use zant_runtime::target::KernelSet;
use zant_runtime::Activation;

use super::window::{as_2d, resolve, window_pad_end};
use super::{
    checked_elems, mac_count, required, Attrs, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx,
};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Conv {
    pub params: Conv2d,
    /// The rank of the input (3 for 1-D convolution, 4 for 2-D).
    pub rank: usize,
    pub act: Activation,
    /// The weights are stored transposed in row blocks (the `layout` pass so lays out a
    /// 1×1 convolution's constant weights, and a k×k one's where `conv::gemm_blocks_pay`:
    /// `conv::pointwise_block`'s blocks of output channels one after the other, each
    /// `[c_in · k_h · k_w, rows]`, in a constant shaped `[c_in, c_out, k_h, k_w]`), read
    /// by `conv2d_pointwise_blocked` or `conv2d_gemm_blocked`.
    pub weights_blocked: bool,
    /// The weights are Winograd's `G g Gᵀ` per filter (the `layout` pass so transforms a
    /// 3 × 3 layer's constant weights where `conv::winograd_pays_for` the targets: the
    /// layout of `conv::winograd_weights`, in a constant shaped `[c_out, c_in, 4, 4]`),
    /// read by `conv2d_winograd`.
    pub weights_winograd: bool,
}

impl Parse for Conv {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let x = ctx.input(0)?;
        let w = ctx.input(1)?;
        if x.dtype != DType::F32 || w.dtype != DType::F32 {
            return Err(OpError::unsupported(format!(
                "Conv is implemented for f32, not {} and {}",
                x.dtype, w.dtype
            )));
        }
        // `weights_blocked=1` is not ONNX: the IR text prints it for weights the
        // `layout` pass has blocked (shaped `[c_in, c_out, k_h, k_w]`), and reads it back.
        let weights_blocked = ctx.int("weights_blocked", 0)? != 0;
        // `weights_winograd=1` likewise: weights the `layout` pass has transformed,
        // shaped `[c_out, c_in, 4, 4]` for a 3 × 3 layer.
        let weights_winograd = ctx.int("weights_winograd", 0)? != 0;
        if weights_blocked && weights_winograd {
            return Err(OpError::attr(
                "weights_winograd",
                "weights are blocked or transformed, not both",
            ));
        }
        let params = if weights_winograd {
            let mut shape = w.shape.clone();
            if shape.len() == 4 {
                shape[2] = 3;
                shape[3] = 3;
            }
            geometry(ctx, x, &TensorType::new(w.dtype, shape))?
        } else if weights_blocked {
            let mut shape = w.shape.clone();
            if shape.len() >= 2 {
                shape.swap(0, 1);
            }
            geometry(ctx, x, &TensorType::new(w.dtype, shape))?
        } else {
            geometry(ctx, x, w)?
        };
        if weights_blocked && !blocks_fit(&params) {
            return Err(OpError::attr(
                "weights_blocked",
                "only a pointwise (1×1, stride 1, no padding, one group) Conv, or a k×k one \
                 of one group with output channels in whole vectors of 16 (at least 32), \
                 takes blocked weights (`conv::gemm_blocks_pay_for`)",
            ));
        }
        if weights_winograd && !winograd_fits_layout(&params, &w.shape) {
            return Err(OpError::attr(
                "weights_winograd",
                "only a 3×3 Conv of one group at stride 1 without dilation, with output \
                 channels in whole runs of 16, takes transformed weights \
                 (`conv::winograd_fits`), shaped [c_out, c_in, 4, 4]",
            ));
        }
        if let Some(b) = ctx.inputs.get(2).copied().flatten() {
            if b.shape != [params.c_out] || b.dtype != DType::F32 {
                return Err(OpError::shape(format!(
                    "bias {b} should be f32[{}]",
                    params.c_out
                )));
            }
        }
        Ok(Self {
            params,
            rank: x.rank(),
            act: ctx.activation()?,
            weights_blocked,
            weights_winograd,
        })
    }
}

/// Whether transformed weights of shape `shape` suit a convolution of geometry `p`: it
/// [`winograd_fits`], its output channels are whole runs of 16, and the weights are
/// `[c_out, c_in, 4, 4]`.
fn winograd_fits_layout(p: &Conv2d, shape: &[usize]) -> bool {
    winograd_fits(p)
        && p.c_out
            .is_multiple_of(zant_runtime::conv::WINOGRAD_CHANNELS)
        && shape == [p.c_out, p.c_in, 4, 4]
}

/// Whether weights blocked by the `layout` pass may suit a convolution of geometry `p`
/// on some target: a pointwise one of one group, or a k×k one the vector kernels read
/// blocked. The parser refuses blocked weights elsewhere; the emitter, which knows the
/// targets, checks [`blocks_fit_for`] them.
pub(crate) fn blocks_fit(p: &Conv2d) -> bool {
    blocks_fit_for(p, KernelSet::only(zant_runtime::target::Kernels::Vector))
}

/// [`blocks_fit`] for a crate built for the targets of `kernels`, as the `layout` pass
/// decides: a k×k layer's weights stay in rows where only scalar kernels run.
pub(crate) fn blocks_fit_for(p: &Conv2d, kernels: KernelSet) -> bool {
    (kernel_for(p) == ConvKernel::Pointwise && p.groups == 1) || gemm_blocks_pay_for(p, kernels)
}

/// The geometry of a convolution of `x` by `w` from the node's attributes (`group`,
/// `kernel_shape`, `pads`, `strides`, `dilations`, `auto_pad`), checked against both
/// shapes; shared with the quantized convolutions.
pub(super) fn geometry(
    ctx: &ParseCtx<'_>,
    x: &TensorType,
    w: &TensorType,
) -> Result<Conv2d, OpError> {
    if !(3..=4).contains(&x.rank()) {
        return Err(OpError::unsupported(format!(
            "only 1-D and 2-D convolution is supported; input is {x}"
        )));
    }
    if w.rank() != x.rank() {
        return Err(OpError::shape(format!(
            "weight {w} does not match input {x}"
        )));
    }
    let groups = ctx.int("group", 1)?;
    let c_in = x.shape[1];
    let c_out = w.shape[0];
    if groups < 1 || !c_in.is_multiple_of(groups as usize) || !c_out.is_multiple_of(groups as usize)
    {
        return Err(OpError::attr(
            "group",
            format!("{groups} does not divide {c_in} input and {c_out} output channels"),
        ));
    }
    let groups = groups as usize;
    if w.shape[1] * groups != c_in {
        return Err(OpError::shape(format!(
            "weight {w} does not fit {c_in} input channels in {groups} groups"
        )));
    }
    let kernel = match ctx.ints("kernel_shape")? {
        Some(k) => k.iter().map(|&v| v.max(0) as usize).collect(),
        None => w.shape[2..].to_vec(),
    };
    if kernel != w.shape[2..] {
        return Err(OpError::attr(
            "kernel_shape",
            format!("{kernel:?} disagrees with weight {w}"),
        ));
    }
    let win = resolve(ctx, &x.shape[2..], kernel, false)?;
    let mut out_shape = vec![x.shape[0], c_out];
    out_shape.extend(&win.out);
    checked_elems(&out_shape)?;
    let [h_in, w_in] = as_2d(&x.shape[2..], 1);
    let [h_out, w_out] = as_2d(&win.out, 1);
    let [k_h, k_w] = as_2d(&win.kernel, 1);
    let [stride_h, stride_w] = as_2d(&win.strides, 1);
    let [dil_h, dil_w] = as_2d(&win.dilations, 1);
    let [pad_top, pad_left] = as_2d(&win.pads_begin, 0);
    Ok(Conv2d {
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
    })
}

/// The IR text's window attributes of a convolution (`kernel_shape`, `strides`, `pads`,
/// `dilations`, `group`) for an input of `rank`; shared with the quantized convolutions.
pub(super) fn window_attrs(p: &Conv2d, rank: usize, attrs: &mut Attrs) {
    // A 1-D convolution keeps its one spatial dim in the `w` fields.
    let dims = |v: [usize; 2]| v[4 - rank..].to_vec();
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
}

/// The output shape of a convolution: `[batch, c_out, w_out]` in 1-D, with `h_out` in 2-D.
pub(super) fn out_shape(p: &Conv2d, rank: usize) -> Vec<usize> {
    if rank == 3 {
        vec![p.batch, p.c_out, p.w_out]
    } else {
        vec![p.batch, p.c_out, p.h_out, p.w_out]
    }
}

/// The MACs of a convolution: each output element sums `c_in / groups · k_h · k_w` taps,
/// the padded ones included, as model zoos count them; shared with the quantized
/// convolutions.
pub(super) fn macs(p: &Conv2d) -> u64 {
    mac_count([
        p.batch,
        p.c_out,
        p.h_out,
        p.w_out,
        p.c_in / p.groups.max(1),
        p.k_h,
        p.k_w,
    ])
}

/// The input shape a convolution's geometry was parsed for.
pub(super) fn in_shape(p: &Conv2d, rank: usize) -> Vec<usize> {
    if rank == 3 {
        vec![p.batch, p.c_in, p.w_in]
    } else {
        vec![p.batch, p.c_in, p.h_in, p.w_in]
    }
}

impl OpKind for Conv {
    fn attrs(&self, attrs: &mut Attrs) {
        window_attrs(&self.params, self.rank, attrs);
        attrs.activation(self.act);
        if self.weights_blocked {
            attrs.int("weights_blocked", 1);
        }
        if self.weights_winograd {
            attrs.int("weights_winograd", 1);
        }
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        let expect_in = in_shape(&self.params, self.rank);
        if x.shape != expect_in {
            return Err(OpError::shape(format!(
                "input {x} does not match the parsed geometry {expect_in:?}"
            )));
        }
        Ok(vec![TensorType::new(
            DType::F32,
            out_shape(&self.params, self.rank),
        )])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        // Constants are folded before `layout` blocks any weights; a blocked
        // Conv is left to the kernel rather than folded through the wrong layout.
        if self.weights_blocked || self.weights_winograd {
            return Ok(None);
        }
        let x = ctx.f32(0)?;
        let w = ctx.f32(1)?;
        let b = match ctx.consts.get(2).copied().flatten() {
            Some(_) => Some(ctx.f32(2)?),
            None => None,
        };
        let out = &ctx.outputs[0];
        let mut y = vec![0.0; out.n_elems()];
        zant_runtime::conv::conv2d(&self.params, x, w, b, self.act, &mut y);
        Ok(Some(vec![Tensor::new(out.shape.clone(), Data::F32(y))]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let (params, act) = (self.params, self.act);
        let x = ctx.expr(0)?;
        let w = ctx.expr(1)?;
        let bias = match ctx.inputs.get(2).and_then(|o| o.as_ref()) {
            Some(b) => {
                let e = &b.expr;
                quote!(Some(#e))
            }
            None => quote!(None),
        };
        // The kernel is chosen here, from the constant geometry, so the generated crate
        // links only the convolution kernels its model runs. `scratch` is in scope only
        // when the planner reserved some (a product too small to block needs none).
        let kernel = kernel_for(&params);
        let scratch = if kernel.scratch_len_for(&params, ctx.kernels) > 0 {
            quote!(scratch)
        } else {
            quote!(&mut [])
        };
        if self.weights_blocked && !blocks_fit_for(&params, ctx.kernels) {
            return Err(OpError::unsupported(format!(
                "blocked weights need the pointwise kernel or a k×k layer where \
                 `gemm_blocks_pay_for` the crate's targets, not {kernel:?}"
            )));
        }
        // Overwriting its input, the depthwise kernel takes one span: the output, then
        // the input at `depthwise_in_place_shift` (`in_place_shift`).
        if ctx.in_place == Some(0) {
            let least = self.in_place_shift(&ctx.input_types());
            let Some(shift) = ctx.lead.filter(|&lead| least.is_some_and(|l| lead >= l)) else {
                return Err(OpError::unsupported(format!(
                    "planned in place, but {kernel:?} cannot overwrite its input so"
                )));
            };
            let shift = shift / 4;
            return Ok(quote! {
                rt::conv::conv2d_depthwise_in_place(&#params, y, #shift, #w, #bias, #act, #scratch);
            });
        }
        if self.weights_winograd {
            if !winograd_pays_for(&params, ctx.kernels) {
                return Err(OpError::unsupported(
                    "transformed (Winograd) weights need a 3×3 layer that \
                     `conv::winograd_pays_for` the crate's targets, all with vector kernels",
                ));
            }
            return Ok(quote! {
                rt::conv::conv2d_winograd(&#params, #x, #w, #bias, #act, scratch, y);
            });
        }
        Ok(match kernel {
            ConvKernel::Pointwise if self.weights_blocked => quote! {
                rt::conv::conv2d_pointwise_blocked(&#params, #x, #w, #bias, #act, #scratch, y);
            },
            ConvKernel::Gemm if self.weights_blocked => quote! {
                rt::conv::conv2d_gemm_blocked(&#params, #x, #w, #bias, #act, #scratch, y);
            },
            ConvKernel::Pointwise => quote! {
                rt::conv::conv2d_pointwise(&#params, #x, #w, #bias, #act, #scratch, y);
            },
            ConvKernel::Depthwise => quote! {
                rt::conv::conv2d_depthwise(&#params, #x, #w, #bias, #act, #scratch, y);
            },
            ConvKernel::Gemm => quote! {
                rt::conv::conv2d_gemm(&#params, #x, #w, #bias, #act, #scratch, y);
            },
            ConvKernel::Direct => quote! {
                rt::conv::conv2d_direct(&#params, #x, #w, #bias, #act, y);
            },
        })
    }

    fn scratch_bytes(&self, _inputs: &[Option<&TensorType>], kernels: KernelSet) -> usize {
        if self.weights_winograd {
            return winograd_scratch_len(&self.params) * 4;
        }
        kernel_for(&self.params).scratch_len_for(&self.params, kernels) * 4
    }

    fn in_place_shift(&self, _inputs: &[Option<&TensorType>]) -> Option<usize> {
        let p = &self.params;
        (kernel_for(p) == ConvKernel::Depthwise && zant_runtime::conv::depthwise_in_place_fits(p))
            .then(|| super::in_place_bytes(zant_runtime::conv::depthwise_in_place_shift(p) * 4))
    }

    fn macs(&self, _inputs: &[Option<&TensorType>]) -> u64 {
        macs(&self.params)
    }

    /// Blocked weights are read in place, one input channel's vectors of a block's output
    /// channels per depth (`conv2d_pointwise_blocked`).
    fn line_aligned_inputs(&self) -> &'static [usize] {
        if self.weights_blocked {
            &[1]
        } else {
            &[]
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::{Data, Tensor};

    fn weights(shape: Vec<usize>) -> Tensor {
        let n = shape.iter().product();
        Tensor::new(shape, Data::F32((0..n).map(|i| i as f32 * 0.5).collect()))
    }

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("Conv")
            .ints("kernel_shape", &[3, 3])
            .ints("strides", &[2, 2])
            .ints("pads", &[1, 1, 1, 1])
            .input("f32[1,2,5,5]")
            .constant(weights(vec![4, 2, 3, 3]))
            .constant(weights(vec![4]))
            .emit(), @"
        Conv(f32[1,2,5,5], f32[4,2,3,3], f32[4]) kernel_shape=[3,3] strides=[2,2] pads=[1,1,1,1] dilations=[1,1] -> f32[1,4,3,3]
        rt::conv::conv2d_gemm(
            &rt::conv::Conv2d {
                batch: 1,
                c_in: 2,
                h_in: 5,
                w_in: 5,
                c_out: 4,
                h_out: 3,
                w_out: 3,
                k_h: 3,
                k_w: 3,
                stride_h: 2,
                stride_w: 2,
                dil_h: 1,
                dil_w: 1,
                pad_top: 1,
                pad_left: 1,
                groups: 1,
            },
            x0,
            x1,
            Some(x2),
            rt::Activation::None,
            scratch,
            y,
        );
        ");
        // Planned over its input: one span, the output 16 planes (the whole layer's 4
        // here, 144 bytes) ahead of the input.
        insta::assert_snapshot!(node("Conv")
            .int("group", 4)
            .ints("kernel_shape", &[3, 3])
            .ints("strides", &[2, 2])
            .ints("pads", &[1, 1, 1, 1])
            .input("f32[1,4,6,6]")
            .constant(weights(vec![4, 1, 3, 3]))
            .in_place()
            .emit(), @"
        Conv(f32[1,4,6,6], f32[4,1,3,3]) kernel_shape=[3,3] strides=[2,2] pads=[1,1,0,0] dilations=[1,1] group=4 -> f32[1,4,3,3]
        rt::conv::conv2d_depthwise_in_place(
            &rt::conv::Conv2d {
                batch: 1,
                c_in: 4,
                h_in: 6,
                w_in: 6,
                c_out: 4,
                h_out: 3,
                w_out: 3,
                k_h: 3,
                k_w: 3,
                stride_h: 2,
                stride_w: 2,
                dil_h: 1,
                dil_w: 1,
                pad_top: 1,
                pad_left: 1,
                groups: 4,
            },
            y,
            36,
            x1,
            None,
            rt::Activation::None,
            scratch,
        );
        ");
        // SAME_UPPER resolves to explicit pads, the extra one at the end.
        insta::assert_snapshot!(node("Conv")
            .int("group", 4)
            .string("auto_pad", "SAME_UPPER")
            .ints("strides", &[2, 2])
            .input("f32[1,4,6,6]")
            .constant(weights(vec![4, 1, 3, 3]))
            .emit(), @"
        Conv(f32[1,4,6,6], f32[4,1,3,3]) kernel_shape=[3,3] strides=[2,2] pads=[0,0,1,1] dilations=[1,1] group=4 -> f32[1,4,3,3]
        rt::conv::conv2d_depthwise(
            &rt::conv::Conv2d {
                batch: 1,
                c_in: 4,
                h_in: 6,
                w_in: 6,
                c_out: 4,
                h_out: 3,
                w_out: 3,
                k_h: 3,
                k_w: 3,
                stride_h: 2,
                stride_w: 2,
                dil_h: 1,
                dil_w: 1,
                pad_top: 0,
                pad_left: 0,
                groups: 4,
            },
            x0,
            x1,
            None,
            rt::Activation::None,
            scratch,
            y,
        );
        ");
        insta::assert_snapshot!(node("Conv")
            .ints("dilations", &[2])
            .input("f32[1,1,8]")
            .constant(weights(vec![2, 1, 3]))
            .emit(), @"
        Conv(f32[1,1,8], f32[2,1,3]) kernel_shape=[3] strides=[1] pads=[0,0] dilations=[2] -> f32[1,2,4]
        rt::conv::conv2d_direct(
            &rt::conv::Conv2d {
                batch: 1,
                c_in: 1,
                h_in: 1,
                w_in: 8,
                c_out: 2,
                h_out: 1,
                w_out: 4,
                k_h: 1,
                k_w: 3,
                stride_h: 1,
                stride_w: 1,
                dil_h: 1,
                dil_w: 2,
                pad_top: 0,
                pad_left: 0,
                groups: 1,
            },
            x0,
            x1,
            None,
            rt::Activation::None,
            y,
        );
        ");
        insta::assert_snapshot!(node("Conv")
            .constant(weights(vec![1, 1, 3, 3]))
            .constant(Tensor::new(vec![1, 1, 2, 2], Data::F32(vec![1.0; 4])))
            .emit(), @"
        Conv(f32[1,1,3,3], f32[1,1,2,2]) kernel_shape=[2,2] strides=[1,1] pads=[0,0,0,0] dilations=[1,1] -> f32[1,1,2,2]
        folds to f32[1,1,2,2] [4.0, 6.0, 10.0, 12.0]
        ");
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("Conv")
            .input("i32[1,1,4,4]")
            .input("i32[1,1,3,3]")
            .emit(), @"parse: Conv is implemented for f32, not i32 and i32");
        insta::assert_snapshot!(node("Conv")
            .ints("kernel_shape", &[2, 2])
            .input("f32[1,1,4,4]")
            .constant(weights(vec![1, 1, 3, 3]))
            .emit(), @"parse: attribute `kernel_shape`: [2, 2] disagrees with weight f32[1,1,3,3]");
        insta::assert_snapshot!(node("Conv")
            .int("group", 3)
            .input("f32[1,4,4,4]")
            .constant(weights(vec![4, 1, 3, 3]))
            .emit(), @"parse: attribute `group`: 3 does not divide 4 input and 4 output channels");
    }

    #[test]
    fn counts_a_mac_per_kernel_tap_of_each_output() {
        // Four 3×3 outputs per channel of four, each summing 2 channels × 9 taps; the
        // padded taps count, as model zoos count them.
        let dense = node("Conv")
            .ints("kernel_shape", &[3, 3])
            .ints("strides", &[2, 2])
            .ints("pads", &[1, 1, 1, 1])
            .input("f32[1,2,5,5]")
            .constant(weights(vec![4, 2, 3, 3]));
        assert_eq!(dense.macs(), 4 * 3 * 3 * (2 * 9));
        // Two groups of four input channels: each output sums its group's 4 channels only,
        // for both images of the batch.
        let grouped = node("Conv")
            .int("group", 2)
            .input("f32[2,8,6,6]")
            .constant(weights(vec![6, 4, 3, 3]));
        assert_eq!(grouped.macs(), 2 * 6 * 4 * 4 * (4 * 9));
        // Depthwise: one input channel per output channel.
        let depthwise = node("Conv")
            .int("group", 4)
            .string("auto_pad", "SAME_UPPER")
            .input("f32[1,4,6,6]")
            .constant(weights(vec![4, 1, 3, 3]));
        assert_eq!(depthwise.macs(), 4 * 6 * 6 * 9);
        // 1-D, dilated: two channels of four outputs, three taps each.
        let one_d = node("Conv")
            .ints("dilations", &[2])
            .input("f32[1,1,8]")
            .constant(weights(vec![2, 1, 3]));
        assert_eq!(one_d.macs(), 2 * 4 * 3);
    }
}
