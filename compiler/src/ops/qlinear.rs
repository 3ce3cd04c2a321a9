//! The QOperator integer ops that ONNX Runtime's quantizer emits, on int8/uint8 data with
//! `i32` accumulation (`zant_runtime::qlinear`):
//! - ai.onnx QLinearConv and ConvInteger (opset 10 on), QLinearMatMul (10 on; 21 only adds
//!   float8 and float16 types, which zant does not have) and MatMulInteger (10 on);
//! - com.microsoft QGemm, QLinearAdd, QLinearMul and QLinearGlobalAveragePool (version 1).
//!
//! Scales, zero points and the `i32` bias are absorbed: the op keeps them (the IR text
//! prints them under their ONNX input names) and emits what the kernel needs, computed
//! here once: the `f32` requantization scale per output channel, in the order ONNX Runtime
//! computes it, and the bias with the input zero point's share folded in. The weights stay
//! an 8-bit input of the node, so they stay 8-bit in the weight blob.

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::conv::Conv2d;
use zant_runtime::qlinear::{
    qbinary, qpacked_bias, QBinary, QBinaryOp, QMatMul as QMatMulShape, QPACK_COLS, QPACK_DEPTH,
};
use zant_runtime::target::KernelSet;

use super::conv::{geometry, in_shape, out_shape, window_attrs};
use super::ctx::Operand;
use super::{
    broadcast_shapes, elem_type, f32_tokens, mac_count, required, shape_tokens, Attrs, EmitCtx,
    FoldCtx, OpError, OpKind, Parse, ParseCtx,
};
use crate::tensor::{DType, Data, Tensor, TensorType};

/// The constant inputs a node absorbed, under their ONNX input names, in input order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Absorbed(Vec<(&'static str, Tensor)>);

impl Absorbed {
    /// Absorbs input `i` when the node has it; a `required` input must be present.
    pub(super) fn take(
        &mut self,
        ctx: &ParseCtx<'_>,
        i: usize,
        name: &'static str,
        required: bool,
    ) -> Result<(), OpError> {
        let value = if required {
            Some(ctx.absorb(i, name)?)
        } else {
            ctx.absorb_optional(i, name)?
        };
        if let Some(t) = value {
            self.0.push((name, t.clone()));
        }
        Ok(())
    }

    fn get(&self, name: &str) -> Option<&Tensor> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, t)| t)
    }

    /// Drops the constant `name` (a zero point that a pass folded into the weights).
    pub(crate) fn remove(&mut self, name: &str) {
        self.0.retain(|(n, _)| *n != name);
    }

    pub(super) fn print(&self, attrs: &mut Attrs) {
        for (name, t) in &self.0 {
            attrs.tensor(name, t);
        }
    }

    /// A scale: `f32`, one value or (`per_channel`) as many as that.
    pub(super) fn scales(&self, name: &str, per_channel: usize) -> Result<Vec<f32>, OpError> {
        let t = self.get(name).ok_or_else(|| missing(name))?;
        let values = t
            .as_f32()
            .ok_or_else(|| OpError::unsupported(format!("{name} {} is not f32", t.ty())))?;
        check_count(name, t, per_channel)?;
        Ok(values.to_vec())
    }

    /// A zero point of `dtype` (0 when the node omits it): one value, or `per_channel`.
    pub(super) fn zeros(
        &self,
        name: &str,
        dtype: DType,
        per_channel: usize,
    ) -> Result<Vec<i32>, OpError> {
        let Some(t) = self.get(name) else {
            return Ok(vec![0]);
        };
        if t.dtype() != dtype {
            return Err(OpError::shape(format!(
                "{name} {} does not match the {dtype} data",
                t.ty()
            )));
        }
        check_count(name, t, per_channel)?;
        Ok(t.data.to_i64_vec().into_iter().map(|v| v as i32).collect())
    }
}

fn missing(name: &str) -> OpError {
    OpError::shape(format!("the quantization constant {name} is missing"))
}

/// A quantization constant holds one value, or `per_channel` of them when that is not 1.
fn check_count(name: &str, t: &Tensor, per_channel: usize) -> Result<(), OpError> {
    let n = t.n_elems();
    if n == 1 && t.shape.len() <= 1 || n == per_channel && t.shape.len() == 1 {
        Ok(())
    } else if per_channel == 1 {
        Err(OpError::unsupported(format!(
            "{name} {} is not per-tensor",
            t.ty()
        )))
    } else {
        Err(OpError::shape(format!(
            "{name} {} is neither per-tensor nor one per output channel ({per_channel})",
            t.ty()
        )))
    }
}

/// An 8-bit data type, or an error naming the input.
pub(super) fn eight_bit(what: &str, t: &TensorType) -> Result<DType, OpError> {
    match t.dtype {
        DType::U8 | DType::I8 => Ok(t.dtype),
        _ => Err(OpError::unsupported(format!(
            "{what} {t} is not int8 or uint8"
        ))),
    }
}

/// The value of a constant input the op reads but keeps (weights), or the error asking
/// for it to be constant.
fn constant<'a>(ctx: &ParseCtx<'a>, i: usize, what: &'static str) -> Result<&'a Tensor, OpError> {
    ctx.consts
        .get(i)
        .copied()
        .flatten()
        .ok_or(if ctx.has_input(i) {
            OpError::NeedsConstant { input: i, what }
        } else {
            OpError::MissingInput { input: i }
        })
}

/// Whether input `i` is present but not a compile-time constant.
fn consts_missing(ctx: &ParseCtx<'_>, i: usize) -> bool {
    ctx.consts.get(i).copied().flatten().is_none()
}

/// Whether the input zero point `i` of ConvInteger or MatMulInteger comes at run time (a
/// DynamicQuantizeLinear output): then it must be one element of the data's type.
fn runtime_zero(ctx: &ParseCtx<'_>, i: usize, dtype: DType) -> Result<bool, OpError> {
    if !ctx.has_input(i) || !consts_missing(ctx, i) {
        return Ok(false);
    }
    let zero = ctx.input(i)?;
    if zero.dtype != dtype || zero.n_elems() != 1 {
        return Err(OpError::shape(format!(
            "a zero point computed at run time must be one {dtype} element, not {zero}"
        )));
    }
    Ok(true)
}

/// `values` as a `&[T]` literal of generated code.
fn i32_list(values: &[i32]) -> TokenStream {
    quote!(&[#(#values),*])
}

fn f32_list(values: &[f32]) -> TokenStream {
    let values = values.iter().map(|&v| f32_tokens(v));
    quote!(&[#(#values),*])
}

/// `x_scale · w_scale[c] / y_scale` for each weight scale, in `f32` and in ONNX Runtime's
/// order, so the requantization matches it bit for bit.
fn output_scales(x_scale: f32, w_scales: &[f32], y_scale: f32) -> Vec<f32> {
    w_scales.iter().map(|&w| x_scale * w / y_scale).collect()
}

/// A folded `i32` bias, or the error saying it does not fit.
fn fit_i32(values: Vec<i64>) -> Result<Vec<i32>, OpError> {
    values
        .into_iter()
        .map(|v| {
            i32::try_from(v).map_err(|_| {
                OpError::unsupported(format!(
                    "the bias with the zero-point correction folded in ({v}) overflows i32"
                ))
            })
        })
        .collect()
}

/// QLinearConv (requantized 8-bit output) and ConvInteger (raw `i32` output).
#[derive(Clone, Debug, PartialEq)]
pub struct QConv {
    pub params: Conv2d,
    /// The rank of the input (3 for 1-D convolution, 4 for 2-D).
    pub rank: usize,
    /// QLinearConv rather than ConvInteger.
    pub linear: bool,
    pub consts: Absorbed,
    pub out: DType,
    /// A ConvInteger whose `x_zero_point` (input 2) comes at run time, as
    /// DynamicQuantizeLinear computes it: it stays an input of the node.
    pub runtime_zero: bool,
    /// A 1×1 convolution whose `i8` weights, their zero points taken out, are in the
    /// blocks of `rt::qlinear::pack_qmatmul_b` (`B = wᵀ`), still shaped
    /// `[c_out, c_in, 1, 1]` (printed `weights_packed=1`; not ONNX; `passes::layout`
    /// packs them for crates that run vector kernels only, on small planes).
    pub w_packed: bool,
    /// A k×k convolution whose `i8` weights, without zero points, are in the groups of
    /// `rt::qconv::qconv2d_pack_framed` (a permutation, still shaped
    /// `[c_out, c_in, k_h, k_w]`; printed `weights_framed=1`; not ONNX; `passes::layout`
    /// packs them for crates that run vector kernels only).
    pub w_framed: bool,
    /// A convolution (not depthwise) whose `i8` weights, without zero points, are in the
    /// tiles of `rt::qconv::qconv2d_pack_paired` (a permutation, still shaped
    /// `[c_out, c_in / groups, k_h, k_w]`; printed `weights_paired=1`; not ONNX;
    /// `passes::layout` packs them for crates of DSP cores without Helium).
    pub w_paired: bool,
}

impl QConv {
    /// The value the convolution pads its input `x` with, its zero point; `None` when the
    /// zero point comes at run time.
    pub fn pad_value(&self, x: DType) -> Option<i32> {
        if self.runtime_zero {
            return None;
        }
        self.consts.zeros("x_zero_point", x, 1).ok().map(|z| z[0])
    }

    /// The scale of each output channel's requantization (one, or one per channel) and
    /// the output zero point.
    fn requant(&self) -> Result<(Vec<f32>, i32), OpError> {
        Ok(if self.linear {
            let x_scale = self.consts.scales("x_scale", 1)?[0];
            let w_scales = self.consts.scales("w_scale", self.params.c_out)?;
            let y_scale = self.consts.scales("y_scale", 1)?[0];
            (
                output_scales(x_scale, &w_scales, y_scale),
                self.consts.zeros("y_zero_point", self.out, 1)?[0],
            )
        } else {
            (vec![1.0], 0)
        })
    }

    /// The call of `rt::qlinear::qconv2d_pointwise_packed` for packed weights
    /// ([`QConv::w_packed`]): every sum starts from the bias less
    /// `(x_zero − X::MIN) · Σ w'`, computed here from the packed weights.
    fn emit_packed(
        &self,
        x: &Operand<'_>,
        w: &Operand<'_>,
        x_zero: i32,
        bias: Vec<i64>,
    ) -> Result<TokenStream, OpError> {
        let p = self.params;
        let weights = packed_weights(w, self.w_input())?;
        let x_min = if x.ty.dtype == DType::I8 { -128 } else { 0 };
        let base = packed_base(p.c_in, p.c_out, weights, &fit_i32(bias)?, x_zero - x_min);
        let (scales, y_zero) = self.requant()?;
        let (xt, yt) = (elem_type(x.ty.dtype), elem_type(self.out));
        let (xe, we) = (&x.expr, &w.expr);
        let (base, scales) = (i32_list(&base), f32_list(&scales));
        Ok(quote! {
            rt::qlinear::qconv2d_pointwise_packed::<#xt, #yt>(
                &#p, #xe, #we, #base,
                rt::qlinear::Requant { scale: #scales, zero: #y_zero }, scratch, y);
        })
    }

    /// The zero points of the weights (one, or one per output channel) as the node holds
    /// them, or `None` where they do not read.
    pub(crate) fn w_zeros(&self) -> Option<Vec<i32>> {
        match self.consts.get("w_zero_point") {
            None => Some(vec![0]),
            Some(t) => {
                check_count("w_zero_point", t, self.params.c_out).ok()?;
                Some(t.data.to_i64_vec().into_iter().map(|v| v as i32).collect())
            }
        }
    }

    /// The index of the weight input.
    fn w_input(&self) -> usize {
        if self.linear {
            3
        } else {
            1
        }
    }
}

impl Parse for QConv {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let linear = ctx.op_type == "QLinearConv";
        let w_input = if linear { 3 } else { 1 };
        let x = ctx.input(0)?;
        let w = ctx.input(w_input)?;
        let (x_dtype, w_dtype) = (eight_bit("x", x)?, eight_bit("w", w)?);
        constant(ctx, w_input, "w")?;
        let params = geometry(ctx, x, w)?;
        let mut consts = Absorbed::default();
        let c_out = params.c_out;
        let out = if linear {
            consts.take(ctx, 1, "x_scale", true)?;
            consts.take(ctx, 2, "x_zero_point", false)?;
            consts.take(ctx, 4, "w_scale", true)?;
            consts.take(ctx, 5, "w_zero_point", false)?;
            consts.take(ctx, 6, "y_scale", true)?;
            consts.take(ctx, 7, "y_zero_point", false)?;
            consts.take(ctx, 8, "B", false)?;
            consts.scales("x_scale", 1)?;
            consts.scales("w_scale", c_out)?;
            consts.scales("y_scale", 1)?;
            let out = consts.get("y_zero_point").map_or(x_dtype, Tensor::dtype);
            consts.zeros(
                "y_zero_point",
                eight_bit("y_zero_point", &TensorType::new(out, vec![]))?,
                1,
            )?;
            if let Some(b) = consts.get("B") {
                if b.dtype() != DType::I32 || b.shape != [c_out] {
                    return Err(OpError::shape(format!(
                        "bias {} should be i32[{c_out}]",
                        b.ty()
                    )));
                }
            }
            out
        } else {
            if !runtime_zero(ctx, 2, x_dtype)? {
                consts.take(ctx, 2, "x_zero_point", false)?;
            }
            consts.take(ctx, 3, "w_zero_point", false)?;
            DType::I32
        };
        consts.zeros("x_zero_point", x_dtype, 1)?;
        consts.zeros("w_zero_point", w_dtype, c_out)?;
        let w_packed = ctx.int("weights_packed", 0)? != 0;
        let packable = zant_runtime::qlinear::qconv2d_packs(&params)
            && w_dtype == DType::I8
            && consts.get("w_zero_point").is_none()
            && params.c_out % QPACK_COLS == 0
            && params.c_in % QPACK_DEPTH == 0;
        if w_packed && !packable {
            return Err(OpError::attr(
                "weights_packed",
                "needs a 1×1 convolution of stride 1, no padding and one group, i8 weights \
                 without zero points, output channels in 16s and input channels in 4s",
            ));
        }
        let w_framed = ctx.int("weights_framed", 0)? != 0;
        let frameable = zant_runtime::qconv::qconv2d_framed_packs(&params)
            && w_dtype == DType::I8
            && consts.get("w_zero_point").is_none()
            && !w_packed;
        if w_framed && !frameable {
            return Err(OpError::attr(
                "weights_framed",
                "needs a k×k convolution of stride 1 or 2 and one group, i8 weights without \
                 zero points, input channels in 4s and output channels in 8s, rows of at \
                 least 8 outputs and at most 1024 weights per output channel",
            ));
        }
        let w_paired = ctx.int("weights_paired", 0)? != 0;
        let pairable = zant_runtime::qconv::qconv2d_paired_packs(&params)
            && w_dtype == DType::I8
            && consts.get("w_zero_point").is_none()
            && !w_packed
            && !w_framed;
        if w_paired && !pairable {
            return Err(OpError::attr(
                "weights_paired",
                "needs a convolution that is not depthwise, i8 weights without zero points, \
                 each group's output channels in 4s and an even number of weights per output \
                 channel, at most 1024",
            ));
        }
        Ok(Self {
            params,
            rank: x.rank(),
            linear,
            consts,
            out,
            runtime_zero: !linear && ctx.has_input(2) && consts_missing(ctx, 2),
            w_packed,
            w_framed,
            w_paired,
        })
    }
}

impl OpKind for QConv {
    fn attrs(&self, attrs: &mut Attrs) {
        window_attrs(&self.params, self.rank, attrs);
        if self.w_packed {
            attrs.int("weights_packed", 1);
        }
        if self.w_framed {
            attrs.int("weights_framed", 1);
        }
        if self.w_paired {
            attrs.int("weights_paired", 1);
        }
        self.consts.print(attrs);
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
            self.out,
            out_shape(&self.params, self.rank),
        )])
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let (x, w) = (ctx.input(0)?, ctx.input(self.w_input())?);
        let weights = w.value.ok_or(OpError::NeedsConstant {
            input: self.w_input(),
            what: "w",
        })?;
        let p = self.params;
        let x_zero = self.consts.zeros("x_zero_point", x.ty.dtype, 1)?[0];
        let w_zero = self.consts.zeros("w_zero_point", w.ty.dtype, p.c_out)?;
        let per_oc = p.c_in / p.groups * p.k_h * p.k_w;
        let mut w_values = weights.data.to_i64_vec();
        // The sums below are per channel in ONNX's order: permuted weights go back to it.
        type Unpack = fn(&zant_runtime::conv::Conv2d, &[i64], &mut [i64]) -> bool;
        let permuted: Option<(Unpack, &str, &str)> = if self.w_framed {
            let unpack = zant_runtime::qconv::qconv2d_unpack_framed::<i64>;
            Some((unpack, "weights_framed", "the weights are not framed"))
        } else if self.w_paired {
            let unpack = zant_runtime::qconv::qconv2d_unpack_paired::<i64>;
            Some((unpack, "weights_paired", "the weights are not paired"))
        } else {
            None
        };
        if let Some((unpack, attr, message)) = permuted {
            let packed = w_values.clone();
            if !unpack(&p, &packed, &mut w_values) {
                return Err(OpError::attr(attr, message));
            }
        }
        if self.runtime_zero {
            // The zero point's share, `x_zero · Σ (w - w_zero)` per channel, is taken off
            // at run time from these per-channel sums.
            let taps = (0..p.c_out)
                .map(|oc| {
                    let wz = i64::from(w_zero[if w_zero.len() == 1 { 0 } else { oc }]);
                    w_values[oc * per_oc..][..per_oc]
                        .iter()
                        .map(|&v| v - wz)
                        .sum()
                })
                .collect();
            let taps = i32_list(&fit_i32(taps)?);
            let (xt, wt) = (elem_type(x.ty.dtype), elem_type(w.ty.dtype));
            let (xe, we, ze) = (&x.expr, &w.expr, &ctx.input(2)?.expr);
            let w_zero = i32_list(&w_zero);
            return Ok(quote! {
                rt::qlinear::conv_integer_runtime_zero::<#xt, #wt>(&#p, #xe, #ze, #we, #w_zero, #taps, y);
            });
        }
        // The fast kernels take the model's own bias and subtract the zero points as
        // they gather; it still has to fit the `i32` accumulators with them.
        let bias = self.consts.get("B").map(|b| b.data.to_i64_vec());
        if self.w_packed {
            return self.emit_packed(x, w, x_zero, bias.unwrap_or_default());
        }
        let folded = (0..p.c_out)
            .map(|oc| {
                let wz = i64::from(w_zero[if w_zero.len() == 1 { 0 } else { oc }]);
                let taps: i64 = w_values[oc * per_oc..][..per_oc]
                    .iter()
                    .map(|&v| v - wz)
                    .sum();
                bias.as_ref().map_or(0, |b| b[oc]) - i64::from(x_zero) * taps
            })
            .collect();
        fit_i32(folded)?;
        let bias = match bias {
            Some(b) => fit_i32(b)?,
            None => Vec::new(),
        };
        let (scales, y_zero) = self.requant()?;
        let (xt, wt, yt) = (
            elem_type(x.ty.dtype),
            elem_type(w.ty.dtype),
            elem_type(self.out),
        );
        let (xe, we) = (&x.expr, &w.expr);
        let (w_zero, bias, scales) = (i32_list(&w_zero), i32_list(&bias), f32_list(&scales));
        let rq = quote!(rt::qlinear::Requant { scale: #scales, zero: #y_zero });
        Ok(if zant_runtime::qconv::qconv2d_is_depthwise(&p) {
            // `scratch` is in scope only when the kernel asked for some.
            let scratch = if zant_runtime::qconv::qconv2d_depthwise_scratch_len_for(
                &p,
                self.linear,
                ctx.kernels,
            ) > 0
            {
                quote!(scratch)
            } else {
                quote!(&mut [])
            };
            if ctx.in_place == Some(0) {
                let least = self.in_place_shift(&ctx.input_types());
                let Some(shift) = ctx.lead.filter(|&lead| least.is_some_and(|l| lead >= l)) else {
                    return Err(OpError::unsupported(
                        "planned in place, but this depthwise layer cannot overwrite its input so",
                    ));
                };
                // One span: the output, then the input `shift` bytes in.
                quote! {
                    rt::qconv::qconv2d_depthwise_in_place::<#xt, #wt>(
                        &#p, y, #shift, #x_zero, #we, #w_zero, #bias, #rq, #scratch);
                }
            } else {
                quote! {
                    rt::qconv::qconv2d_depthwise::<#xt, #wt, #yt>(
                        &#p, #xe, #x_zero, #we, #w_zero, #bias, #rq, #scratch, y);
                }
            }
        } else if self.w_framed {
            // Each output channel's weight sum, which the kernel's sums start from.
            let framed_w = packed_weights(w, self.w_input())?;
            let mut sums = vec![0i32; p.c_out];
            zant_runtime::qconv::qconv2d_framed_sums(&p, framed_w, &mut sums);
            let sums = i32_list(&sums);
            quote! {
                rt::qconv::qconv2d_framed::<#xt, #yt>(
                    &#p, #xe, #x_zero, #we, #sums, #bias, #rq, scratch, y);
            }
        } else if self.w_paired {
            quote! {
                rt::qconv::qconv2d_paired::<#xt, #wt, #yt>(
                    &#p, #xe, #x_zero, #we, #bias, #rq, scratch, y);
            }
        } else {
            quote! {
                rt::qconv::qconv2d_im2col::<#xt, #wt, #yt>(
                    &#p, #xe, #x_zero, #we, #w_zero, #bias, #rq, scratch, y);
            }
        })
    }

    fn scratch_bytes(&self, _inputs: &[Option<&TensorType>], kernels: KernelSet) -> usize {
        if self.runtime_zero {
            0
        } else if self.w_packed {
            zant_runtime::qlinear::qconv2d_pointwise_packed_scratch_len(&self.params) * 4
        } else if self.w_framed {
            zant_runtime::qconv::qconv2d_framed_scratch_len(&self.params) * 4
        } else if zant_runtime::qconv::qconv2d_is_depthwise(&self.params) {
            zant_runtime::qconv::qconv2d_depthwise_scratch_len_for(
                &self.params,
                self.linear,
                kernels,
            ) * 4
        } else {
            zant_runtime::qconv::qconv2d_im2col_scratch_len(&self.params) * 4
        }
    }

    /// A requantized depthwise layer whose input and output share one 8-bit type.
    fn in_place_shift(&self, inputs: &[Option<&TensorType>]) -> Option<usize> {
        let p = &self.params;
        let x = inputs.first().copied().flatten()?;
        (self.linear
            && !self.runtime_zero
            && x.dtype == self.out
            && self.out.size() == 1
            && zant_runtime::qconv::qconv2d_is_depthwise(p)
            && zant_runtime::conv::depthwise_in_place_fits(p))
        .then(|| super::in_place_bytes(zant_runtime::conv::depthwise_in_place_shift(p)))
    }

    fn scratch_bytes_max(&self, inputs: &[Option<&TensorType>], kernels: KernelSet) -> usize {
        if self.runtime_zero
            || self.w_packed
            || zant_runtime::qconv::qconv2d_is_depthwise(&self.params)
        {
            self.scratch_bytes(inputs, kernels)
        } else {
            let most = zant_runtime::qconv::qconv2d_im2col_scratch_max_len(&self.params) * 4;
            most.max(self.scratch_bytes(inputs, kernels))
        }
    }
    fn macs(&self, _inputs: &[Option<&TensorType>]) -> u64 {
        super::conv::macs(&self.params)
    }
}

/// The bytes of weights `passes::layout` packed (`rt::qlinear::pack_qmatmul_b`), input
/// `input` of the node.
fn packed_weights<'a>(w: &Operand<'a>, input: usize) -> Result<&'a [i8], OpError> {
    match w.value.map(|t| &t.data) {
        Some(crate::tensor::Data::I8(v)) => Ok(v),
        _ => Err(OpError::NeedsConstant {
            input,
            what: "the packed weights",
        }),
    }
}

/// Each column's starting sum for packed weights: `bias` (none, one, or one per column)
/// less `offset · Σ_k w'` (`rt::qlinear::qpacked_bias`).
fn packed_base(k: usize, n: usize, weights: &[i8], bias: &[i32], offset: i32) -> Vec<i32> {
    let mut base = vec![0i32; n];
    let bias_at = |j: usize| match bias.len() {
        0 => 0,
        1 => bias[0],
        _ => bias.get(j).copied().unwrap_or(0),
    };
    qpacked_bias(k, weights, bias_at, offset, &mut base);
    base
}

/// QLinearMatMul and QGemm (requantized, or `f32` for a QGemm without an output scale)
/// and MatMulInteger (raw `i32`).
#[derive(Clone, Debug, PartialEq)]
pub struct QMatMul {
    pub shape: QMatMulShape,
    /// The output shape.
    pub out_shape: Vec<usize>,
    pub consts: Absorbed,
    pub out: DType,
    /// QGemm's `alpha`, which scales the product.
    pub alpha: f32,
    /// A MatMulInteger whose `a_zero_point` (input 2) comes at run time, as
    /// DynamicQuantizeLinear computes it: it stays an input of the node.
    pub runtime_zero: bool,
    /// A constant `B` in the blocks of `rt::qlinear::pack_qmatmul_b`, its zero points
    /// taken out, shaped `[⌈N/16⌉, ⌈K/4⌉, 64]` `i8` (printed `b_packed=N`; not ONNX;
    /// `passes::layout` packs it for crates that run vector kernels only).
    pub b_packed: bool,
    /// `B` is computed at run time (attention's products of two activations): crates of
    /// vector kernels pack it per matrix into scratch (`rt::qlinear::qmatmul_dynamic`).
    pub b_dynamic: bool,
}

/// The inputs of the matrix product ops: (a, b, a_scale, a_zero_point, b_scale,
/// b_zero_point, bias, y_scale, y_zero_point), `None` where the op has no such input.
type MatMulInputs = [Option<usize>; 9];

fn matmul_inputs(op_type: &str) -> MatMulInputs {
    match op_type {
        "MatMulInteger" => [
            Some(0),
            Some(1),
            None,
            Some(2),
            None,
            Some(3),
            None,
            None,
            None,
        ],
        "QGemm" => [0, 3, 1, 2, 4, 5, 6, 7, 8].map(Some),
        // QLinearMatMul.
        _ => [
            Some(0),
            Some(3),
            Some(1),
            Some(2),
            Some(4),
            Some(5),
            None,
            Some(6),
            Some(7),
        ],
    }
}

impl Parse for QMatMul {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let [a_i, b_i, a_scale, a_zero, b_scale, b_zero, bias, y_scale, y_zero] =
            matmul_inputs(ctx.op_type);
        let (a_i, b_i) = (a_i.unwrap_or(0), b_i.unwrap_or(1));
        let (a, b) = (ctx.input(a_i)?, ctx.input(b_i)?);
        let (a_dtype, b_dtype) = (eight_bit("A", a)?, eight_bit("B", b)?);
        let gemm = ctx.op_type == "QGemm";
        let b_transposed = gemm && ctx.int("transB", 0)? != 0;
        if gemm && ctx.int("transA", 0)? != 0 {
            return Err(OpError::unsupported("transA=1 is not supported"));
        }
        let packed = ctx.int("b_packed", 0)?;
        let packed = usize::try_from(packed)
            .map_err(|_| OpError::attr("b_packed", format!("must be 0 or more, not {packed}")))?;
        let b_rank = if packed > 0 { 3 } else { 2 };
        if a.rank() < 2 || b.rank() < 2 || (gemm && (a.rank() != 2 || b.rank() != b_rank)) {
            return Err(OpError::unsupported(format!(
                "only matrices and batches of them are supported, not {a} × {b}"
            )));
        }
        let (m, k) = (a.shape[a.rank() - 2], a.shape[a.rank() - 1]);
        if packed > 0 {
            let want = [packed.div_ceil(QPACK_COLS), k.div_ceil(QPACK_DEPTH), 64];
            if b_transposed || b.dtype != DType::I8 || b.shape != want {
                return Err(OpError::shape(format!(
                    "b_packed={packed} needs B i8[{}, {}, 64] and no transB, not {b}",
                    want[0], want[1]
                )));
            }
        }
        let (b_k, n) = if packed > 0 {
            (k, packed)
        } else if b_transposed {
            (b.shape[1], b.shape[0])
        } else {
            (b.shape[b.rank() - 2], b.shape[b.rank() - 1])
        };
        let lead = &a.shape[..a.rank() - 2];
        let b_lead: &[usize] = if packed > 0 {
            &[]
        } else {
            &b.shape[..b.rank() - 2]
        };
        let b_batched = !b_lead.iter().all(|&d| d == 1);
        if b_k != k || (b_batched && b_lead != lead) {
            return Err(OpError::shape(format!("A {a} and B {b} do not multiply")));
        }
        let mut out_shape = lead.to_vec();
        if out_shape.len() < b_lead.len() {
            out_shape = broadcast_shapes(lead, b_lead)?;
        }
        out_shape.extend([m, n]);
        let mut consts = Absorbed::default();
        let names = [
            "",
            "",
            "a_scale",
            "a_zero_point",
            "b_scale",
            "b_zero_point",
            "C",
            "y_scale",
            "y_zero_point",
        ];
        let slots = [
            None, None, a_scale, a_zero, b_scale, b_zero, bias, y_scale, y_zero,
        ];
        let integer = ctx.op_type == "MatMulInteger";
        let runtime_a_zero = integer && runtime_zero(ctx, 2, a_dtype)?;
        for (slot, name) in slots.into_iter().zip(names) {
            if runtime_a_zero && name == "a_zero_point" {
                continue;
            }
            if let Some(i) = slot {
                let required = matches!(name, "a_scale" | "b_scale") || name == "y_scale" && !gemm;
                consts.take(ctx, i, name, required)?;
            }
        }
        consts.zeros("a_zero_point", a_dtype, 1)?;
        consts.zeros("b_zero_point", b_dtype, n)?;
        let out = if ctx.op_type == "MatMulInteger" {
            DType::I32
        } else {
            consts.scales("a_scale", 1)?;
            consts.scales("b_scale", n)?;
            if consts.get("y_scale").is_some() {
                consts.scales("y_scale", 1)?;
                let out = consts.get("y_zero_point").map_or(a_dtype, Tensor::dtype);
                consts.zeros(
                    "y_zero_point",
                    eight_bit("y_zero_point", &TensorType::new(out, vec![]))?,
                    1,
                )?;
                out
            } else {
                DType::F32
            }
        };
        if let Some(c) = consts.get("C") {
            if c.dtype() != DType::I32 || !(c.n_elems() == 1 || c.n_elems() == n) {
                return Err(OpError::unsupported(format!(
                    "bias C {} is not i32 with one value or one per column ({n})",
                    c.ty()
                )));
            }
        }
        Ok(Self {
            shape: QMatMulShape {
                batch: lead.iter().product(),
                m,
                k,
                n,
                b_transposed,
                b_batched,
            },
            out_shape,
            consts,
            out,
            alpha: if gemm { ctx.float("alpha", 1.0)? } else { 1.0 },
            runtime_zero: runtime_a_zero,
            b_packed: packed > 0,
            b_dynamic: consts_missing(ctx, b_i),
        })
    }
}

impl QMatMul {
    /// Whether `B`, computed at run time, is packed into scratch for the vector kernel:
    /// in crates that run vector kernels only, for an 8-bit product with constant
    /// quantization.
    fn packs_dynamic_b(&self, kernels: KernelSet) -> bool {
        self.b_dynamic
            && !self.b_packed
            && !self.runtime_zero
            && kernels.vector
            && !kernels.scalar
            && self.shape.k > 0
            && self.shape.n > 0
    }

    /// The zero points of `B` (one, or one per column) as the node holds them, or `None`
    /// where they do not read (the parser checked them, so only for a broken node).
    pub(crate) fn b_zeros(&self) -> Option<Vec<i32>> {
        match self.consts.get("b_zero_point") {
            None => Some(vec![0]),
            Some(t) => {
                check_count("b_zero_point", t, self.shape.n).ok()?;
                Some(t.data.to_i64_vec().into_iter().map(|v| v as i32).collect())
            }
        }
    }

    /// The scale of each column's requantization (one, or one per column) and the
    /// output zero point.
    fn requant(&self) -> Result<(Vec<f32>, i32), OpError> {
        let p = self.shape;
        Ok(match self.out {
            DType::I32 => (vec![1.0], 0),
            out => {
                let a_scale = self.alpha * self.consts.scales("a_scale", 1)?[0];
                let b_scales = self.consts.scales("b_scale", p.n)?;
                let y_scale = match self.consts.get("y_scale") {
                    Some(_) => self.consts.scales("y_scale", 1)?[0],
                    None => 1.0,
                };
                let y_zero = match out {
                    DType::F32 => 0,
                    _ => self.consts.zeros("y_zero_point", out, 1)?[0],
                };
                (output_scales(a_scale, &b_scales, y_scale), y_zero)
            }
        })
    }

    /// The call of `rt::qlinear::qmatmul_packed` for a `B` in its blocks
    /// ([`QMatMul::b_packed`]): every sum starts from the bias less
    /// `(a_zero − A::MIN) · Σ_k b'`, computed here from the packed weights.
    fn emit_packed(
        &self,
        a: &Operand<'_>,
        b: &Operand<'_>,
        a_zero: i32,
        bias: &[i64],
    ) -> Result<TokenStream, OpError> {
        let p = self.shape;
        let weights = packed_weights(b, 1)?;
        let a_min = if a.ty.dtype == DType::I8 { -128 } else { 0 };
        let base = packed_base(p.k, p.n, weights, &fit_i32(bias.to_vec())?, a_zero - a_min);
        let (scales, y_zero) = self.requant()?;
        let (at, yt) = (elem_type(a.ty.dtype), elem_type(self.out));
        let (ae, be) = (&a.expr, &b.expr);
        let (base, scales) = (i32_list(&base), f32_list(&scales));
        Ok(quote! {
            rt::qlinear::qmatmul_packed::<#at, #yt>(
                &#p, #ae, #be, #base,
                rt::qlinear::Requant { scale: #scales, zero: #y_zero }, y);
        })
    }
}

impl OpKind for QMatMul {
    fn attrs(&self, attrs: &mut Attrs) {
        if self.shape.b_transposed {
            attrs.int("transB", 1);
        }
        if self.alpha != 1.0 {
            attrs.float("alpha", self.alpha);
        }
        if self.b_packed {
            attrs.int("b_packed", self.shape.n as i64);
        }
        self.consts.print(attrs);
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let a = required(inputs, 0)?;
        let p = &self.shape;
        if a.n_elems() != p.batch * p.m * p.k {
            return Err(OpError::shape(format!(
                "A {a} does not match the parsed product {}×{}×{}",
                p.batch, p.m, p.k
            )));
        }
        Ok(vec![TensorType::new(self.out, self.out_shape.clone())])
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        // Absorbed inputs leave gaps: A is input 0 and B the next present one.
        let a = ctx.input(0)?;
        let b = ctx
            .inputs
            .iter()
            .skip(1)
            .flatten()
            .next()
            .ok_or(OpError::MissingInput { input: 1 })?;
        let p = self.shape;
        let a_zero = self.consts.zeros("a_zero_point", a.ty.dtype, 1)?[0];
        let b_zero = self.consts.zeros("b_zero_point", b.ty.dtype, p.n)?;
        let bias: Vec<i64> = self
            .consts
            .get("C")
            .map(|c| c.data.to_i64_vec())
            .unwrap_or_default();
        if self.b_packed {
            return self.emit_packed(a, b, a_zero, &bias);
        }
        // With constant, unbatched weights, the input zero point's share of every sum
        // is a constant: fold `- a_zero · Σ_k (b - b_zero)` into the bias per column.
        let (a_zero, bias) = match b.value {
            Some(weights) if !p.b_batched && a_zero != 0 && !self.runtime_zero => {
                let values = weights.data.to_i64_vec();
                let at = |kk: usize, j: usize| {
                    if p.b_transposed {
                        values[j * p.k + kk]
                    } else {
                        values[kk * p.n + j]
                    }
                };
                let folded = (0..p.n)
                    .map(|j| {
                        let bz = i64::from(b_zero[if b_zero.len() == 1 { 0 } else { j }]);
                        let column: i64 = (0..p.k).map(|kk| at(kk, j) - bz).sum();
                        let c = match bias.len() {
                            0 => 0,
                            1 => bias[0],
                            _ => bias[j],
                        };
                        c - i64::from(a_zero) * column
                    })
                    .collect();
                (0, fit_i32(folded)?)
            }
            _ => (a_zero, fit_i32(bias)?),
        };
        let (scales, y_zero) = self.requant()?;
        let (at, bt, yt) = (
            elem_type(a.ty.dtype),
            elem_type(b.ty.dtype),
            elem_type(self.out),
        );
        let (ae, be) = (&a.expr, &b.expr);
        if self.packs_dynamic_b(ctx.kernels) && b.value.is_none() && bias.is_empty() {
            let (b_zero, scales) = (i32_list(&b_zero), f32_list(&scales));
            return Ok(quote! {
                rt::qlinear::qmatmul_dynamic::<#at, #bt, #yt>(
                    &#p, #ae, #a_zero, #be, #b_zero,
                    rt::qlinear::Requant { scale: #scales, zero: #y_zero }, scratch, y);
            });
        }
        // A zero point computed at run time is read where the kernel is called.
        let a_zero = if self.runtime_zero {
            let z = &ctx.input(2)?.expr;
            quote!(i32::from((#z)[0]))
        } else {
            quote!(#a_zero)
        };
        let (b_zero, bias, scales) = (i32_list(&b_zero), i32_list(&bias), f32_list(&scales));
        Ok(quote! {
            rt::qlinear::qmatmul::<#at, #bt, #yt>(
                &#p, #ae, #a_zero, #be, #b_zero, #bias,
                rt::qlinear::Requant { scale: #scales, zero: #y_zero }, y);
        })
    }
    fn scratch_bytes(&self, _inputs: &[Option<&TensorType>], kernels: KernelSet) -> usize {
        if self.packs_dynamic_b(kernels) {
            zant_runtime::qlinear::qmatmul_dynamic_scratch_len(&self.shape) * 4
        } else {
            0
        }
    }

    /// `K` products for each output element, whatever the batch broadcasting.
    fn macs(&self, _inputs: &[Option<&TensorType>]) -> u64 {
        mac_count(self.out_shape.iter().copied().chain([self.shape.k]))
    }
}

/// com.microsoft QLinearAdd and QLinearMul, with numpy broadcasting.
#[derive(Clone, Debug, PartialEq)]
pub struct QLinearBinary {
    pub params: QBinary,
    pub consts: Absorbed,
}

impl Parse for QLinearBinary {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let (a, b) = (ctx.input(0)?, ctx.input(3)?);
        let dtype = eight_bit("A", a)?;
        if b.dtype != dtype {
            return Err(OpError::shape(format!("A {a} and B {b} differ in type")));
        }
        let mut consts = Absorbed::default();
        for (i, name, required) in [
            (1, "A_scale", true),
            (2, "A_zero_point", false),
            (4, "B_scale", true),
            (5, "B_zero_point", false),
            (6, "C_scale", true),
            (7, "C_zero_point", false),
        ] {
            consts.take(ctx, i, name, required)?;
        }
        let scale = |name| consts.scales(name, 1).map(|s| s[0]);
        let zero = |name| consts.zeros(name, dtype, 1).map(|z| z[0]);
        let params = QBinary {
            op: if ctx.op_type == "QLinearMul" {
                QBinaryOp::Mul
            } else {
                QBinaryOp::Add
            },
            a_scale: scale("A_scale")?,
            a_zero: zero("A_zero_point")?,
            b_scale: scale("B_scale")?,
            b_zero: zero("B_zero_point")?,
            y_scale: scale("C_scale")?,
            y_zero: zero("C_zero_point")?,
        };
        Ok(Self { params, consts })
    }
}

impl OpKind for QLinearBinary {
    fn attrs(&self, attrs: &mut Attrs) {
        self.consts.print(attrs);
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let (a, b) = (required(inputs, 0)?, required(inputs, 3)?);
        let shape = broadcast_shapes(&a.shape, &b.shape)?;
        Ok(vec![TensorType::new(a.dtype, shape)])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let (a, b) = (ctx.get(0)?, ctx.get(3)?);
        let out = &ctx.outputs[0];
        let data = match (&a.data, &b.data) {
            (Data::U8(av), Data::U8(bv)) => {
                let mut y = vec![0u8; out.n_elems()];
                qbinary(&self.params, av, &a.shape, bv, &b.shape, &mut y, &out.shape);
                Data::U8(y)
            }
            (Data::I8(av), Data::I8(bv)) => {
                let mut y = vec![0i8; out.n_elems()];
                qbinary(&self.params, av, &a.shape, bv, &b.shape, &mut y, &out.shape);
                Data::I8(y)
            }
            _ => return Ok(None),
        };
        Ok(Some(vec![Tensor::new(out.shape.clone(), data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let (a, b) = (ctx.input(0)?, ctx.input(3)?);
        let (ae, be) = (&a.expr, &b.expr);
        let (a_shape, b_shape) = (shape_tokens(&a.ty.shape), shape_tokens(&b.ty.shape));
        let y_shape = shape_tokens(&ctx.out_ty().shape);
        let (t, p) = (elem_type(a.ty.dtype), self.params);
        Ok(quote! {
            rt::qlinear::qbinary::<#t>(&#p, #ae, #a_shape, #be, #b_shape, y, #y_shape);
        })
    }
}

/// com.microsoft QLinearGlobalAveragePool, channels first.
#[derive(Clone, Debug, PartialEq)]
pub struct QGlobalAveragePool {
    pub consts: Absorbed,
}

impl Parse for QGlobalAveragePool {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let x = ctx.input(0)?;
        let dtype = eight_bit("X", x)?;
        if ctx.int("channels_last", 0)? != 0 {
            return Err(OpError::unsupported("channels_last=1 is not supported"));
        }
        if x.rank() < 3 {
            return Err(OpError::shape(format!("X {x} has no spatial dims")));
        }
        let mut consts = Absorbed::default();
        consts.take(ctx, 1, "x_scale", true)?;
        consts.take(ctx, 2, "x_zero_point", false)?;
        consts.take(ctx, 3, "y_scale", true)?;
        consts.take(ctx, 4, "y_zero_point", false)?;
        consts.scales("x_scale", 1)?;
        consts.scales("y_scale", 1)?;
        consts.zeros("x_zero_point", dtype, 1)?;
        consts.zeros("y_zero_point", dtype, 1)?;
        Ok(Self { consts })
    }
}

impl OpKind for QGlobalAveragePool {
    fn attrs(&self, attrs: &mut Attrs) {
        self.consts.print(attrs);
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        let mut shape = x.shape.clone();
        shape[2..].fill(1);
        Ok(vec![TensorType::new(x.dtype, shape)])
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let channels = x.ty.shape[0] * x.ty.shape[1];
        let size: usize = x.ty.shape[2..].iter().product();
        let dtype = x.ty.dtype;
        let x_zero = self.consts.zeros("x_zero_point", dtype, 1)?[0];
        let y_zero = self.consts.zeros("y_zero_point", dtype, 1)?[0];
        let x_scale = self.consts.scales("x_scale", 1)?[0];
        let y_scale = self.consts.scales("y_scale", 1)?[0];
        // ONNX Runtime's scale for the sum: x_scale / (y_scale · size), in f32.
        let scale = f32_tokens(x_scale / (y_scale * size as f32));
        let (t, xe) = (elem_type(dtype), &x.expr);
        Ok(quote! {
            rt::qlinear::qglobal_average_pool::<#t>(#channels, #size, #xe, #x_zero, #scale, #y_zero, y);
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::{node, NodeBuilder};
    use crate::tensor::{Data, Tensor};

    fn f32s(v: &[f32]) -> Tensor {
        let shape = if v.len() == 1 { vec![] } else { vec![v.len()] };
        Tensor::new(shape, Data::F32(v.to_vec()))
    }

    fn u8s(v: &[u8]) -> Tensor {
        let shape = if v.len() == 1 { vec![] } else { vec![v.len()] };
        Tensor::new(shape, Data::U8(v.to_vec()))
    }

    fn i8s(shape: Vec<usize>, v: &[i8]) -> Tensor {
        Tensor::new(shape, Data::I8(v.to_vec()))
    }

    /// A QLinearConv with uint8 activations and per-channel int8 weights, as ONNX
    /// Runtime's quantizer writes it.
    fn qlinear_conv() -> NodeBuilder {
        node("QLinearConv")
            .ints("pads", &[1, 1, 1, 1])
            .input("u8[1,2,3,3]")
            .constant(f32s(&[0.5]))
            .constant(u8s(&[128]))
            .constant(i8s(vec![2, 2, 1, 1], &[1, -2, 3, 4]))
            .constant(f32s(&[0.25, 0.125]))
            .constant(i8s(vec![2], &[0, 0]))
            .constant(f32s(&[0.0625]))
            .constant(u8s(&[3]))
            .constant(Tensor::new(vec![2], Data::I32(vec![10, -20])))
    }

    #[test]
    fn emits() {
        // The bias stays the model's (the kernel subtracts the zero points as it gathers);
        // the scales are 0.5 · w_scale / 0.0625.
        insta::assert_snapshot!(qlinear_conv().emit(), @"
        QLinearConv(u8[1,2,3,3], _, _, i8[2,2,1,1]) kernel_shape=[1,1] strides=[1,1] pads=[1,1,1,1] dilations=[1,1] x_scale=f32[][0.5] x_zero_point=u8[][128] w_scale=f32[2][0.25,0.125] w_zero_point=i8[2][0,0] y_scale=f32[][0.0625] y_zero_point=u8[][3] B=i32[2][10,-20] -> u8[1,2,5,5]
        rt::qconv::qconv2d_im2col::<
            u8,
            i8,
            u8,
        >(
            &rt::conv::Conv2d {
                batch: 1,
                c_in: 2,
                h_in: 3,
                w_in: 3,
                c_out: 2,
                h_out: 5,
                w_out: 5,
                k_h: 1,
                k_w: 1,
                stride_h: 1,
                stride_w: 1,
                dil_h: 1,
                dil_w: 1,
                pad_top: 1,
                pad_left: 1,
                groups: 1,
            },
            x0,
            128i32,
            x3,
            &[0i32, 0i32],
            &[10i32, -20i32],
            rt::qlinear::Requant {
                scale: &[2f32, 1f32],
                zero: 3i32,
            },
            scratch,
            y,
        );
        ");
        // A depthwise layer planned over its input: one span, the output two 9-byte planes
        // ahead, rounded up to the arena's 16.
        insta::assert_snapshot!(node("QLinearConv")
            .int("group", 2)
            .ints("kernel_shape", &[3, 3])
            .ints("pads", &[1, 1, 1, 1])
            .input("u8[1,2,3,3]")
            .constant(f32s(&[0.5]))
            .constant(u8s(&[128]))
            .constant(i8s(vec![2, 1, 3, 3], &[1, -2, 3, 4, 5, 6, 7, 8, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9]))
            .constant(f32s(&[0.25, 0.125]))
            .constant(i8s(vec![2], &[0, 0]))
            .constant(f32s(&[0.0625]))
            .constant(u8s(&[3]))
            .in_place()
            .emit(), @"
        QLinearConv(u8[1,2,3,3], _, _, i8[2,1,3,3]) kernel_shape=[3,3] strides=[1,1] pads=[1,1,1,1] dilations=[1,1] group=2 x_scale=f32[][0.5] x_zero_point=u8[][128] w_scale=f32[2][0.25,0.125] w_zero_point=i8[2][0,0] y_scale=f32[][0.0625] y_zero_point=u8[][3] -> u8[1,2,3,3]
        rt::qconv::qconv2d_depthwise_in_place::<
            u8,
            i8,
        >(
            &rt::conv::Conv2d {
                batch: 1,
                c_in: 2,
                h_in: 3,
                w_in: 3,
                c_out: 2,
                h_out: 3,
                w_out: 3,
                k_h: 3,
                k_w: 3,
                stride_h: 1,
                stride_w: 1,
                dil_h: 1,
                dil_w: 1,
                pad_top: 1,
                pad_left: 1,
                groups: 2,
            },
            y,
            32,
            128i32,
            x3,
            &[0i32, 0i32],
            &[],
            rt::qlinear::Requant {
                scale: &[2f32, 1f32],
                zero: 3i32,
            },
            scratch,
        );
        ");
        insta::assert_snapshot!(node("ConvInteger")
            .int("group", 2)
            .ints("kernel_shape", &[2, 2])
            .input("u8[1,2,3,3]")
            .constant(i8s(vec![2, 1, 2, 2], &[1, 2, 3, 4, 5, 6, 7, 8]))
            .constant(u8s(&[1]))
            .emit(), @"
        ConvInteger(u8[1,2,3,3], i8[2,1,2,2]) kernel_shape=[2,2] strides=[1,1] pads=[0,0,0,0] dilations=[1,1] group=2 x_zero_point=u8[][1] -> i32[1,2,2,2]
        rt::qconv::qconv2d_depthwise::<
            u8,
            i8,
            i32,
        >(
            &rt::conv::Conv2d {
                batch: 1,
                c_in: 2,
                h_in: 3,
                w_in: 3,
                c_out: 2,
                h_out: 2,
                w_out: 2,
                k_h: 2,
                k_w: 2,
                stride_h: 1,
                stride_w: 1,
                dil_h: 1,
                dil_w: 1,
                pad_top: 0,
                pad_left: 0,
                groups: 2,
            },
            x0,
            1i32,
            x1,
            &[0i32],
            &[],
            rt::qlinear::Requant {
                scale: &[1f32],
                zero: 0i32,
            },
            &mut [],
            y,
        );
        ");
        insta::assert_snapshot!(node("QLinearMatMul")
            .input("u8[2,3]")
            .constant(f32s(&[0.5]))
            .constant(u8s(&[2]))
            .constant(i8s(vec![3, 2], &[1, 2, 3, 4, 5, 6]))
            .constant(f32s(&[0.25]))
            .constant(i8s(vec![], &[0]))
            .constant(f32s(&[1.0]))
            .constant(u8s(&[0]))
            .emit(), @"
        QLinearMatMul(u8[2,3], _, _, i8[3,2]) a_scale=f32[][0.5] a_zero_point=u8[][2] b_scale=f32[][0.25] b_zero_point=i8[][0] y_scale=f32[][1.0] y_zero_point=u8[][0] -> u8[2,2]
        rt::qlinear::qmatmul::<
            u8,
            i8,
            u8,
        >(
            &rt::qlinear::QMatMul {
                batch: 1,
                m: 2,
                k: 3,
                n: 2,
                b_transposed: false,
                b_batched: false,
            },
            x0,
            0i32,
            x3,
            &[0i32],
            &[-18i32, -24i32],
            rt::qlinear::Requant {
                scale: &[0.125f32],
                zero: 0i32,
            },
            y,
        );
        ");
        // MatMulInteger with a runtime B keeps both zero points for the kernel.
        insta::assert_snapshot!(node("MatMulInteger")
            .input("u8[2,2,3]")
            .input("u8[2,3,4]")
            .constant(u8s(&[12]))
            .constant(u8s(&[0]))
            .emit(), @"
        MatMulInteger(u8[2,2,3], u8[2,3,4]) a_zero_point=u8[][12] b_zero_point=u8[][0] -> i32[2,2,4]
        rt::qlinear::qmatmul::<
            u8,
            u8,
            i32,
        >(
            &rt::qlinear::QMatMul {
                batch: 2,
                m: 2,
                k: 3,
                n: 4,
                b_transposed: false,
                b_batched: true,
            },
            x0,
            12i32,
            x1,
            &[0i32],
            &[],
            rt::qlinear::Requant {
                scale: &[1f32],
                zero: 0i32,
            },
            y,
        );
        ");
        // The zero point DynamicQuantizeLinear computes stays an input, read at run time.
        insta::assert_snapshot!(node("MatMulInteger")
            .input("u8[1,3]")
            .constant(Tensor::new(vec![3, 2], Data::I8(vec![1, -2, 3, -4, 5, -6])))
            .input("u8[]")
            .constant(Tensor::new(vec![2], Data::I8(vec![0, 0])))
            .emit(), @"
        MatMulInteger(u8[1,3], i8[3,2], u8[]) b_zero_point=i8[2][0,0] -> i32[1,2]
        rt::qlinear::qmatmul::<
            u8,
            i8,
            i32,
        >(
            &rt::qlinear::QMatMul {
                batch: 1,
                m: 1,
                k: 3,
                n: 2,
                b_transposed: false,
                b_batched: false,
            },
            x0,
            i32::from((x2)[0]),
            x1,
            &[0i32, 0i32],
            &[],
            rt::qlinear::Requant {
                scale: &[1f32],
                zero: 0i32,
            },
            y,
        );
        ");
        insta::assert_snapshot!(node("ConvInteger")
            .input("u8[1,1,3,3]")
            .constant(Tensor::new(vec![2, 1, 1, 1], Data::U8(vec![130, 120])))
            .input("u8[]")
            .constant(u8s(&[128]))
            .emit(), @"
        ConvInteger(u8[1,1,3,3], u8[2,1,1,1], u8[]) kernel_shape=[1,1] strides=[1,1] pads=[0,0,0,0] dilations=[1,1] w_zero_point=u8[][128] -> i32[1,2,3,3]
        rt::qlinear::conv_integer_runtime_zero::<
            u8,
            u8,
        >(
            &rt::conv::Conv2d {
                batch: 1,
                c_in: 1,
                h_in: 3,
                w_in: 3,
                c_out: 2,
                h_out: 3,
                w_out: 3,
                k_h: 1,
                k_w: 1,
                stride_h: 1,
                stride_w: 1,
                dil_h: 1,
                dil_w: 1,
                pad_top: 0,
                pad_left: 0,
                groups: 1,
            },
            x0,
            x2,
            x1,
            &[128i32],
            &[2i32, -8i32],
            y,
        );
        ");
        insta::assert_snapshot!(NodeBuilder::in_domain("com.microsoft", "QGemm")
            .int("transB", 1)
            .input("u8[1,3]")
            .constant(f32s(&[0.5]))
            .constant(u8s(&[0]))
            .constant(i8s(vec![2, 3], &[1, 2, 3, 4, 5, 6]))
            .constant(f32s(&[0.25, 0.5]))
            .constant(i8s(vec![2], &[0, 0]))
            .constant(Tensor::new(vec![2], Data::I32(vec![7, 8])))
            .constant(f32s(&[0.125]))
            .constant(u8s(&[130]))
            .emit(), @"
        QGemm(u8[1,3], _, _, i8[2,3]) transB=1 a_scale=f32[][0.5] a_zero_point=u8[][0] b_scale=f32[2][0.25,0.5] b_zero_point=i8[2][0,0] C=i32[2][7,8] y_scale=f32[][0.125] y_zero_point=u8[][130] -> u8[1,2]
        rt::qlinear::qmatmul::<
            u8,
            i8,
            u8,
        >(
            &rt::qlinear::QMatMul {
                batch: 1,
                m: 1,
                k: 3,
                n: 2,
                b_transposed: true,
                b_batched: false,
            },
            x0,
            0i32,
            x3,
            &[0i32, 0i32],
            &[7i32, 8i32],
            rt::qlinear::Requant {
                scale: &[1f32, 2f32],
                zero: 130i32,
            },
            y,
        );
        ");
        insta::assert_snapshot!(NodeBuilder::in_domain("com.microsoft", "QLinearAdd")
            .input("u8[1,4,2,2]")
            .constant(f32s(&[0.5]))
            .constant(u8s(&[128]))
            .input("u8[1,4,2,2]")
            .constant(f32s(&[0.25]))
            .constant(u8s(&[120]))
            .constant(f32s(&[0.75]))
            .constant(u8s(&[125]))
            .emit(), @"
        QLinearAdd(u8[1,4,2,2], _, _, u8[1,4,2,2]) A_scale=f32[][0.5] A_zero_point=u8[][128] B_scale=f32[][0.25] B_zero_point=u8[][120] C_scale=f32[][0.75] C_zero_point=u8[][125] -> u8[1,4,2,2]
        rt::qlinear::qbinary::<
            u8,
        >(
            &rt::qlinear::QBinary {
                op: rt::qlinear::QBinaryOp::Add,
                a_scale: 0.5f32,
                a_zero: 128i32,
                b_scale: 0.25f32,
                b_zero: 120i32,
                y_scale: 0.75f32,
                y_zero: 125i32,
            },
            x0,
            &[1, 4, 2, 2],
            x3,
            &[1, 4, 2, 2],
            y,
            &[1, 4, 2, 2],
        );
        ");
        insta::assert_snapshot!(NodeBuilder::in_domain("com.microsoft", "QLinearGlobalAveragePool")
            .input("u8[1,4,7,7]")
            .constant(f32s(&[0.5]))
            .constant(u8s(&[3]))
            .constant(f32s(&[0.25]))
            .constant(u8s(&[0]))
            .emit(), @"
        QLinearGlobalAveragePool(u8[1,4,7,7]) x_scale=f32[][0.5] x_zero_point=u8[][3] y_scale=f32[][0.25] y_zero_point=u8[][0] -> u8[1,4,1,1]
        rt::qlinear::qglobal_average_pool::<u8>(4, 49, x0, 3i32, 0.040816326f32, 0i32, y);
        ");
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("QLinearConv")
            .input("u8[1,2,3,3]")
            .input("f32[]")
            .emit(), @"parse: input 3 is required");
        insta::assert_snapshot!(node("ConvInteger")
            .input("u8[1,2,3,3]")
            .input("i8[2,2,1,1]")
            .emit(), @"parse: input 1 (w) must be a compile-time constant; zant compiles static shapes only");
        insta::assert_snapshot!(node("MatMulInteger")
            .input("i32[2,3]")
            .input("u8[3,2]")
            .emit(), @"parse: A i32[2,3] is not int8 or uint8");
        insta::assert_snapshot!(NodeBuilder::in_domain("com.microsoft", "QLinearGlobalAveragePool")
            .int("channels_last", 1)
            .input("u8[1,7,7,4]")
            .constant(f32s(&[0.5]))
            .constant(u8s(&[3]))
            .constant(f32s(&[0.25]))
            .constant(u8s(&[0]))
            .emit(), @"parse: channels_last=1 is not supported");
    }

    #[test]
    fn counts_macs_as_the_float_ops_do() {
        // Two output channels of 5×5 (the 1×1 kernel reads padding at the border), each
        // summing two input channels.
        assert_eq!(qlinear_conv().macs(), 2 * 25 * 2);
        let grouped = node("ConvInteger")
            .int("group", 2)
            .ints("kernel_shape", &[2, 2])
            .input("u8[1,2,3,3]")
            .constant(i8s(vec![2, 1, 2, 2], &[1, 2, 3, 4, 5, 6, 7, 8]));
        assert_eq!(grouped.macs(), 2 * 4 * 4);
        let matmul = node("MatMulInteger")
            .input("u8[2,3,4]")
            .constant(i8s(vec![4, 5], &[1; 20]));
        assert_eq!(matmul.macs(), 2 * 3 * 5 * 4);
    }
}
