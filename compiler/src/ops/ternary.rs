//! zant's ternary ops (domain `ai.zant`, opset 1), which `passes::ternary` builds from Conv,
//! MatMul and Gemm under `--weights ternary`; no exporter writes them.
//!
//! - `TernaryConv(x, packed, scale[, bias])`: Conv's attributes (`kernel_shape`, which the
//!   packed weights cannot give, `strides`, `pads`, `dilations`, `group`) and a fused
//!   activation;
//! - `TernaryMatMul(a, packed, scale[, bias])`: `a[…, K]` times the ternary `Wᵀ`, giving
//!   `[…, N]`, with a fused activation.
//!
//! `packed` is `u8[N, row_bytes(K)]`: one row of trits, five to a byte, per output channel
//! (`zant_runtime::ternary` documents the code, `compress::ternary` makes it), `scale` is
//! `f32[N]` and `bias` `f32[N]`. An output is `act(scale · Σ trit · x + bias)`. MACs are
//! counted as for the float op, so the figures compare, although the kernels only add.

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::conv::Conv2d;
use zant_runtime::target::KernelSet;
use zant_runtime::ternary::{self as kernels, row_bytes, MatMulKernel};
use zant_runtime::Activation;

use super::conv::{geometry, in_shape, macs, out_shape, window_attrs};
use super::{
    checked_elems, mac_count, required, Attrs, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx,
};
use crate::tensor::{DType, Data, Tensor, TensorType};

/// A convolution by ternary weights.
#[derive(Clone, Debug, PartialEq)]
pub struct TernaryConv {
    pub params: Conv2d,
    /// The rank of the input (3 for 1-D convolution, 4 for 2-D).
    pub rank: usize,
    pub act: Activation,
}

/// A fully connected layer (a matrix product by a constant matrix) with ternary weights.
#[derive(Clone, Debug, PartialEq)]
pub struct TernaryMatMul {
    /// Rows of `a`: the product of its dims but the last.
    pub m: usize,
    /// Output channels.
    pub n: usize,
    /// Inputs per row: `a`'s last dim.
    pub k: usize,
    pub act: Activation,
}

/// Checks the operands a ternary op reads after its data: `u8[n, row_bytes(k)]` packed
/// weights, then `f32[n]` scales and an optional `f32[n]` bias.
fn check_weights(inputs: &[Option<&TensorType>], n: usize, k: usize) -> Result<(), OpError> {
    let packed = required(inputs, 1)?;
    let want = [n, row_bytes(k)];
    if packed.dtype != DType::U8 || packed.shape != want {
        return Err(OpError::shape(format!(
            "packed weights {packed} should be u8[{},{}]: {n} rows of {k} trits, five a byte",
            want[0], want[1]
        )));
    }
    let scale = required(inputs, 2)?;
    if scale.dtype != DType::F32 || scale.shape != [n] {
        return Err(OpError::shape(format!("scale {scale} should be f32[{n}]")));
    }
    if let Some(Some(bias)) = inputs.get(3) {
        if bias.dtype != DType::F32 || bias.shape != [n] {
            return Err(OpError::shape(format!("bias {bias} should be f32[{n}]")));
        }
    }
    Ok(())
}

/// The `bias` operand of a kernel call: `Some(expr)` or `None`.
fn bias_tokens(ctx: &EmitCtx<'_>) -> TokenStream {
    match ctx.inputs.get(3).and_then(|o| o.as_ref()) {
        Some(b) => {
            let e = &b.expr;
            quote!(Some(#e))
        }
        None => quote!(None),
    }
}

/// The optional bias of a fold.
fn fold_bias<'a>(ctx: &FoldCtx<'a>) -> Result<Option<&'a [f32]>, OpError> {
    match ctx.consts.get(3).copied().flatten() {
        Some(_) => ctx.f32(3).map(Some),
        None => Ok(None),
    }
}

/// The packed weights of a fold.
fn fold_packed<'a>(ctx: &FoldCtx<'a>) -> Result<&'a [u8], OpError> {
    match &ctx.get(1)?.data {
        Data::U8(v) => Ok(v),
        other => Err(OpError::shape(format!(
            "packed weights are {}, not u8",
            other.dtype()
        ))),
    }
}

impl Parse for TernaryConv {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let x = ctx.input(0)?;
        let packed = ctx.input(1)?;
        if x.dtype != DType::F32 {
            return Err(OpError::unsupported(format!(
                "TernaryConv is implemented for f32, not {}",
                x.dtype
            )));
        }
        if !(3..=4).contains(&x.rank()) || packed.rank() != 2 {
            return Err(OpError::shape(format!(
                "TernaryConv takes a 1-D or 2-D input and packed rows, not {x} and {packed}"
            )));
        }
        let kernel = ctx.ints("kernel_shape")?.ok_or_else(|| {
            OpError::attr(
                "kernel_shape",
                "is required: packed weights do not carry the kernel's shape",
            )
        })?;
        // The float weight the packed rows stand for, whose shape the geometry checks.
        let groups = ctx.int("group", 1)?.max(1) as usize;
        let mut w_shape = vec![packed.shape[0], x.shape[1] / groups];
        w_shape.extend(kernel.iter().map(|&k| k.max(0) as usize));
        let w = TensorType::new(DType::F32, w_shape);
        let params = geometry(ctx, x, &w)?;
        let conv = Self {
            params,
            rank: x.rank(),
            act: ctx.activation()?,
        };
        check_weights(&ctx.inputs, params.c_out, conv.taps())?;
        Ok(conv)
    }
}

impl TernaryConv {
    /// Trits per output channel: `c_in / group · k_h · k_w`.
    fn taps(&self) -> usize {
        let p = &self.params;
        p.c_in / p.groups.max(1) * p.k_h * p.k_w
    }
}

impl OpKind for TernaryConv {
    fn attrs(&self, attrs: &mut Attrs) {
        window_attrs(&self.params, self.rank, attrs);
        attrs.activation(self.act);
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        let expect_in = in_shape(&self.params, self.rank);
        if x.shape != expect_in || x.dtype != DType::F32 {
            return Err(OpError::shape(format!(
                "input {x} does not match the parsed geometry f32{expect_in:?}"
            )));
        }
        check_weights(inputs, self.params.c_out, self.taps())?;
        Ok(vec![TensorType::new(
            DType::F32,
            out_shape(&self.params, self.rank),
        )])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let out = &ctx.outputs[0];
        let mut y = vec![0.0; out.n_elems()];
        let mut scratch = vec![0.0; kernels::conv2d_scratch_len(&self.params)];
        kernels::conv2d(
            &self.params,
            ctx.f32(0)?,
            fold_packed(ctx)?,
            ctx.f32(2)?,
            fold_bias(ctx)?,
            self.act,
            &mut scratch,
            &mut y,
        );
        Ok(Some(vec![Tensor::new(out.shape.clone(), Data::F32(y))]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let (params, act) = (self.params, self.act);
        let (x, packed, scale) = (ctx.expr(0)?, ctx.expr(1)?, ctx.expr(2)?);
        let bias = bias_tokens(ctx);
        // `scratch` is in scope only when the planner reserved some.
        let scratch = if self.scratch_floats() > 0 {
            quote!(scratch)
        } else {
            quote!(&mut [])
        };
        Ok(quote! {
            rt::ternary::conv2d(&#params, #x, #packed, #scale, #bias, #act, #scratch, y);
        })
    }

    fn scratch_bytes(&self, _inputs: &[Option<&TensorType>], _kernels: KernelSet) -> usize {
        self.scratch_floats() * 4
    }

    fn macs(&self, _inputs: &[Option<&TensorType>]) -> u64 {
        macs(&self.params)
    }
}

impl TernaryConv {
    fn scratch_floats(&self) -> usize {
        kernels::conv2d_scratch_len(&self.params)
    }
}

impl Parse for TernaryMatMul {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let a = ctx.input(0)?;
        let packed = ctx.input(1)?;
        if a.dtype != DType::F32 {
            return Err(OpError::unsupported(format!(
                "TernaryMatMul is implemented for f32, not {}",
                a.dtype
            )));
        }
        let Some((&k, rows)) = a.shape.split_last() else {
            return Err(OpError::shape(format!(
                "TernaryMatMul takes an input of rank 1 or more, not {a}"
            )));
        };
        if packed.rank() != 2 {
            return Err(OpError::shape(format!(
                "packed weights {packed} should be a matrix of rows"
            )));
        }
        let op = Self {
            m: rows.iter().product(),
            n: packed.shape[0],
            k,
            act: ctx.activation()?,
        };
        check_weights(&ctx.inputs, op.n, op.k)?;
        Ok(op)
    }
}

impl OpKind for TernaryMatMul {
    fn attrs(&self, attrs: &mut Attrs) {
        attrs.activation(self.act);
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let a = required(inputs, 0)?;
        let rows: usize = a.shape.iter().rev().skip(1).product();
        if a.dtype != DType::F32 || a.shape.last() != Some(&self.k) || rows != self.m {
            return Err(OpError::shape(format!(
                "input {a} does not hold {} rows of {} f32 values",
                self.m, self.k
            )));
        }
        check_weights(inputs, self.n, self.k)?;
        let mut shape = a.shape[..a.rank() - 1].to_vec();
        shape.push(self.n);
        checked_elems(&shape)?;
        Ok(vec![TensorType::new(DType::F32, shape)])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let Self { m, n, k, act } = *self;
        let mut y = vec![0.0; m * n];
        let kernel = kernels::matmul_kernel_for(m, n, k);
        let mut scratch = vec![0.0; kernel.scratch_len(k)];
        kernels::matmul(
            m,
            n,
            k,
            ctx.f32(0)?,
            fold_packed(ctx)?,
            ctx.f32(2)?,
            fold_bias(ctx)?,
            act,
            &mut scratch,
            &mut y,
        );
        Ok(Some(vec![Tensor::new(
            ctx.outputs[0].shape.clone(),
            Data::F32(y),
        )]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let Self { m, n, k, act } = *self;
        let (a, packed, scale) = (ctx.expr(0)?, ctx.expr(1)?, ctx.expr(2)?);
        let bias = bias_tokens(ctx);
        // The kernel is chosen here, from the constant shape, so the generated crate links
        // only the one its model runs.
        Ok(match kernels::matmul_kernel_for(m, n, k) {
            MatMulKernel::Lut => quote! {
                rt::ternary::matmul_lut(#m, #n, #k, #a, #packed, #scale, #bias, #act, scratch, y);
            },
            MatMulKernel::Direct => quote! {
                rt::ternary::matmul_direct(#m, #n, #k, #a, #packed, #scale, #bias, #act, y);
            },
        })
    }

    fn scratch_bytes(&self, _inputs: &[Option<&TensorType>], _kernels: KernelSet) -> usize {
        kernels::matmul_kernel_for(self.m, self.n, self.k).scratch_len(self.k) * 4
    }

    fn macs(&self, _inputs: &[Option<&TensorType>]) -> u64 {
        mac_count([self.m, self.n, self.k])
    }
}

#[cfg(test)]
mod tests {
    use zant_runtime::ternary::{encode, row_bytes};

    use crate::ops::testing::NodeBuilder;
    use crate::tensor::{Data, Tensor};

    fn node(op_type: &str) -> NodeBuilder {
        NodeBuilder::in_domain("ai.zant", op_type)
    }

    /// Packed rows and scales for `rows` output channels of the trits `trits`, packed as
    /// `compress::ternary` packs them (which `ops` does not depend on).
    fn packed(rows: usize, trits: &[i8], scales: &[f32]) -> (Tensor, Tensor) {
        let k = trits.len() / rows;
        let mut bytes = Vec::new();
        for row in trits.chunks_exact(k) {
            for chunk in row.chunks(5) {
                let mut five = [0i8; 5];
                five[..chunk.len()].copy_from_slice(chunk);
                bytes.push(encode(five));
            }
        }
        (
            Tensor::new(vec![rows, row_bytes(k)], Data::U8(bytes)),
            Tensor::new(vec![rows], Data::F32(scales.to_vec())),
        )
    }

    /// Packed weights and unit scales for a weight of `shape`, its output channels first.
    fn ternary(shape: Vec<usize>) -> (Tensor, Tensor) {
        let n: usize = shape.iter().product();
        let trits: Vec<i8> = (0..n).map(|i| (i % 3) as i8 - 1).collect();
        packed(shape[0], &trits, &vec![1.0; shape[0]])
    }

    #[test]
    fn emits() {
        let (packed, scale) = ternary(vec![4, 2, 3, 3]);
        insta::assert_snapshot!(node("TernaryConv")
            .ints("kernel_shape", &[3, 3])
            .ints("pads", &[1, 1, 1, 1])
            .string("activation", "Relu")
            .input("f32[1,2,5,5]")
            .constant(packed)
            .constant(scale)
            .constant(Tensor::new(vec![4], Data::F32(vec![0.5; 4])))
            .emit(), @r#"
        TernaryConv(f32[1,2,5,5], u8[4,4], f32[4], f32[4]) kernel_shape=[3,3] strides=[1,1] pads=[1,1,1,1] dilations=[1,1] activation="Relu" -> f32[1,4,5,5]
        rt::ternary::conv2d(
            &rt::conv::Conv2d {
                batch: 1,
                c_in: 2,
                h_in: 5,
                w_in: 5,
                c_out: 4,
                h_out: 5,
                w_out: 5,
                k_h: 3,
                k_w: 3,
                stride_h: 1,
                stride_w: 1,
                dil_h: 1,
                dil_w: 1,
                pad_top: 1,
                pad_left: 1,
                groups: 1,
            },
            x0,
            x1,
            x2,
            Some(x3),
            rt::Activation::Relu,
            scratch,
            y,
        );
        "#);
        let (packed, scale) = ternary(vec![6, 1, 3, 3]);
        insta::assert_snapshot!(node("TernaryConv")
            .ints("kernel_shape", &[3, 3])
            .ints("strides", &[2, 2])
            .int("group", 3)
            .input("f32[1,3,7,7]")
            .constant(packed)
            .constant(scale)
            .emit(), @"
        TernaryConv(f32[1,3,7,7], u8[6,2], f32[6]) kernel_shape=[3,3] strides=[2,2] pads=[0,0,0,0] dilations=[1,1] group=3 -> f32[1,6,3,3]
        rt::ternary::conv2d(
            &rt::conv::Conv2d {
                batch: 1,
                c_in: 3,
                h_in: 7,
                w_in: 7,
                c_out: 6,
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
                groups: 3,
            },
            x0,
            x1,
            x2,
            None,
            rt::Activation::None,
            scratch,
            y,
        );
        ");
        let (packed, scale) = ternary(vec![32, 64]);
        insta::assert_snapshot!(node("TernaryMatMul")
            .string("activation", "Relu")
            .input("f32[1,64]")
            .constant(packed)
            .constant(scale)
            .constant(Tensor::new(vec![32], Data::F32(vec![0.25; 32])))
            .emit(), @r#"
        TernaryMatMul(f32[1,64], u8[32,13], f32[32], f32[32]) activation="Relu" -> f32[1,32]
        rt::ternary::matmul_lut(
            1,
            32,
            64,
            x0,
            x1,
            x2,
            Some(x3),
            rt::Activation::Relu,
            scratch,
            y,
        );
        "#);
        let (packed, scale) = ternary(vec![10, 12]);
        insta::assert_snapshot!(node("TernaryMatMul")
            .input("f32[2,3,12]")
            .constant(packed)
            .constant(scale)
            .emit(), @"
        TernaryMatMul(f32[2,3,12], u8[10,3], f32[10]) -> f32[2,3,10]
        rt::ternary::matmul_direct(6, 10, 12, x0, x1, x2, None, rt::Activation::None, y);
        ");
    }

    #[test]
    fn folds_on_the_runtime_kernels() {
        // Rows (1, 1, −1) and (0, 1, 0) with scales 2 and 0.5: the inputs (1, 2, 4) give
        // 2·(1 + 2 − 4) + 1 and 0.5·2 + 1.
        let (weights, scales) = packed(2, &[1, 1, -1, 0, 1, 0], &[2.0, 0.5]);
        insta::assert_snapshot!(node("TernaryMatMul")
            .constant(Tensor::new(vec![1, 3], Data::F32(vec![1.0, 2.0, 4.0])))
            .constant(weights)
            .constant(scales)
            .constant(Tensor::new(vec![2], Data::F32(vec![1.0, 1.0])))
            .emit(), @"
        TernaryMatMul(f32[1,3], u8[2,1], f32[2], f32[2]) -> f32[1,2]
        folds to f32[1,2] [-1.0, 2.0]
        ");
    }

    #[test]
    fn refuses() {
        let (packed, scale) = ternary(vec![4, 2, 3, 3]);
        insta::assert_snapshot!(node("TernaryConv")
            .input("f32[1,2,5,5]")
            .constant(packed.clone())
            .constant(scale.clone())
            .emit(), @"parse: attribute `kernel_shape`: is required: packed weights do not carry the kernel's shape");
        insta::assert_snapshot!(node("TernaryConv")
            .ints("kernel_shape", &[3, 3])
            .input("f32[1,3,5,5]")
            .constant(packed.clone())
            .constant(scale.clone())
            .emit(), @"parse: packed weights u8[4,4] should be u8[4,6]: 4 rows of 27 trits, five a byte");
        insta::assert_snapshot!(node("TernaryConv")
            .ints("kernel_shape", &[3, 3])
            .input("f32[1,2,5,5]")
            .constant(packed)
            .constant(Tensor::new(vec![3], Data::F32(vec![1.0; 3])))
            .emit(), @"parse: scale f32[3] should be f32[4]");
        let (packed, scale) = ternary(vec![8, 10]);
        insta::assert_snapshot!(node("TernaryMatMul")
            .input("f32[1,12]")
            .constant(packed.clone())
            .constant(scale.clone())
            .emit(), @"parse: packed weights u8[8,2] should be u8[8,3]: 8 rows of 12 trits, five a byte");
        insta::assert_snapshot!(node("TernaryMatMul")
            .input("i32[1,10]")
            .constant(packed)
            .constant(scale)
            .emit(), @"parse: TernaryMatMul is implemented for f32, not i32");
    }

    #[test]
    fn counts_the_float_ops_macs() {
        let (packed, scale) = ternary(vec![4, 2, 3, 3]);
        let conv = node("TernaryConv")
            .ints("kernel_shape", &[3, 3])
            .ints("pads", &[1, 1, 1, 1])
            .input("f32[1,2,5,5]")
            .constant(packed)
            .constant(scale);
        assert_eq!(conv.macs(), 4 * 5 * 5 * 2 * 3 * 3);
        let (packed, scale) = ternary(vec![10, 12]);
        let fc = node("TernaryMatMul")
            .input("f32[2,3,12]")
            .constant(packed)
            .constant(scale);
        assert_eq!(fc.macs(), 6 * 10 * 12);
    }
}
