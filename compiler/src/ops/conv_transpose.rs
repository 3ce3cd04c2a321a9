//! ConvTranspose (opset 1 on; 11 and 22 only add types): any number of spatial dims,
//! groups, strides, dilations, `output_padding`, explicit pads, `auto_pad` and
//! `output_shape`, following the ONNX reference implementation (`rt::conv::conv_transpose`).
//!
//! A 1-D or 2-D layer runs on a fast kernel picked at compile time
//! (`rt::conv::transpose_kernel_for`): a GEMM into a band of columns in arena scratch
//! and col2im (`conv_transpose2d_gemm`, the band sized for the target's kernel family by
//! `transpose_band_for`), or row scatters for few input channels per group
//! (`conv_transpose2d_rows`, no scratch). Three or more spatial dims run the N-D
//! reference kernel.

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::conv::{
    transpose_band_for, transpose_kernel_for, transpose_scratch_len_for, ConvTranspose2d,
    TransposeKernel,
};
use zant_runtime::target::KernelSet;

use super::{
    checked_elems, mac_count, required, Attrs, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx,
};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct ConvTranspose {
    /// The shape of X, `[batch, c_in, spatial…]`.
    pub in_shape: Vec<usize>,
    pub c_out: usize,
    pub groups: usize,
    pub kernel: Vec<usize>,
    pub strides: Vec<usize>,
    pub dilations: Vec<usize>,
    /// Output positions cut from the start of each dim (negative: zeros added).
    pub pads_begin: Vec<i64>,
    pub out_shape: Vec<usize>,
}

impl ConvTranspose {
    /// The runtime geometry, borrowing the op's dims.
    fn params(&self) -> zant_runtime::conv::ConvTranspose<'_> {
        zant_runtime::conv::ConvTranspose {
            batch: self.in_shape[0],
            c_in: self.in_shape[1],
            c_out: self.c_out,
            groups: self.groups,
            in_dims: &self.in_shape[2..],
            out_dims: &self.out_shape[2..],
            kernel: &self.kernel,
            strides: &self.strides,
            dilations: &self.dilations,
            pads_begin: &self.pads_begin,
        }
    }

    /// The 1-D or 2-D geometry of the fast kernels with the band for `kernels`, and the
    /// kernel it runs on; `None` for three or more spatial dims.
    fn fast(&self, kernels: KernelSet) -> Option<(ConvTranspose2d, TransposeKernel)> {
        let mut p = ConvTranspose2d::from_nd(&self.params(), 0)?;
        p.band = transpose_band_for(&p, kernels);
        Some((p, transpose_kernel_for(&p)))
    }

    /// The length of each output dim before any padding is cut, with no `output_padding`.
    fn full_lengths(&self) -> Vec<i64> {
        let in_dims = &self.in_shape[2..];
        (0..in_dims.len())
            .map(|d| {
                full_length(
                    in_dims[d],
                    self.kernel[d],
                    self.strides[d],
                    self.dilations[d],
                    0,
                )
            })
            .collect()
    }
}

/// `stride·(in − 1) + output_padding + dilation·(kernel − 1) + 1`, saturating so that
/// absurd attributes fail the size check instead of overflowing.
fn full_length(len: usize, kernel: usize, stride: usize, dilation: usize, extra: i64) -> i64 {
    let int = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
    int(stride)
        .saturating_mul(int(len) - 1)
        .saturating_add(extra)
        .saturating_add(int(dilation).saturating_mul(int(kernel) - 1))
        .saturating_add(1)
}

impl Parse for ConvTranspose {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let (x, w) = (ctx.input(0)?, ctx.input(1)?);
        if x.dtype != DType::F32 || w.dtype != DType::F32 {
            return Err(OpError::unsupported(format!(
                "ConvTranspose is implemented for f32, not {} and {}",
                x.dtype, w.dtype
            )));
        }
        let r = x.rank().saturating_sub(2);
        if r == 0 || x.shape[2..].contains(&0) {
            return Err(OpError::shape(format!(
                "input {x} should be [N, C, spatial…] with non-empty spatial dims"
            )));
        }
        if w.rank() != x.rank() || w.shape[0] != x.shape[1] {
            return Err(OpError::shape(format!("weight {w} does not fit input {x}")));
        }
        let groups = ctx.int("group", 1)?;
        let groups = usize::try_from(groups)
            .ok()
            .filter(|&g| g >= 1 && x.shape[1] % g == 0)
            .ok_or_else(|| {
                OpError::attr(
                    "group",
                    format!("{groups} does not divide {} input channels", x.shape[1]),
                )
            })?;
        let c_out = w.shape[1] * groups;
        let kernel: Vec<usize> = w.shape[2..].to_vec();
        if kernel.contains(&0) {
            return Err(OpError::shape(format!("weight {w} has an empty kernel")));
        }
        if let Some(k) = ctx.ints("kernel_shape")? {
            if !k.iter().copied().eq(kernel.iter().map(|&v| v as i64)) {
                return Err(OpError::attr(
                    "kernel_shape",
                    format!("{k:?} disagrees with weight {w}"),
                ));
            }
        }
        let list = |name: &str, default: i64| -> Result<Vec<i64>, OpError> {
            match ctx.ints(name)? {
                None => Ok(vec![default; r]),
                Some(v) if v.len() == r => Ok(v),
                Some(v) => Err(OpError::attr(name, format!("{v:?} should hold {r} values"))),
            }
        };
        let positive = |name: &str| -> Result<Vec<usize>, OpError> {
            let v = list(name, 1)?;
            v.iter()
                .map(|&s| usize::try_from(s).ok().filter(|&s| s >= 1))
                .collect::<Option<_>>()
                .ok_or_else(|| OpError::attr(name, format!("{v:?} should be positive")))
        };
        let strides = positive("strides")?;
        let dilations = positive("dilations")?;
        let output_padding = list("output_padding", 0)?;
        let in_dims = &x.shape[2..];
        // The full output length of each dim, before pads.
        let full: Vec<i64> = (0..r)
            .map(|d| {
                full_length(
                    in_dims[d],
                    kernel[d],
                    strides[d],
                    dilations[d],
                    output_padding[d],
                )
            })
            .collect();
        let auto_pad = ctx.string("auto_pad", "NOTSET")?;
        if !matches!(
            auto_pad.as_str(),
            "NOTSET" | "VALID" | "SAME_UPPER" | "SAME_LOWER"
        ) {
            return Err(OpError::attr(
                "auto_pad",
                format!("`{auto_pad}` is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID"),
            ));
        }
        let output_shape = match ctx.ints("output_shape")? {
            // With or without the batch and channel dims.
            Some(s) if s.len() == r || s.len() == r + 2 => Some(s[s.len() - r..].to_vec()),
            Some(s) => {
                return Err(OpError::attr(
                    "output_shape",
                    format!("{s:?} should hold {r} spatial dims"),
                ))
            }
            None => None,
        };
        // The output size is `output_shape`, else `input · stride` for SAME (then the
        // padding is split as `auto_pad` says), else what explicit pads leave of `full`.
        let target = match (&output_shape, auto_pad.as_str()) {
            (Some(s), _) => Some(s.clone()),
            (None, "SAME_UPPER" | "SAME_LOWER") => Some(
                (0..r)
                    .map(|d| (in_dims[d] as i64).saturating_mul(strides[d] as i64))
                    .collect(),
            ),
            (None, _) => None,
        };
        let (pads_begin, out_dims): (Vec<i64>, Vec<i64>) = match target {
            Some(target) => {
                let begin = (0..r)
                    .map(|d| {
                        let total = full[d].saturating_sub(target[d]);
                        if auto_pad == "SAME_UPPER" {
                            total.div_euclid(2)
                        } else {
                            total - total.div_euclid(2)
                        }
                    })
                    .collect();
                (begin, target)
            }
            None if auto_pad == "VALID" => (vec![0; r], full.clone()),
            None => {
                let p = match ctx.ints("pads")? {
                    None => vec![0; 2 * r],
                    Some(p) if p.len() == 2 * r => p,
                    Some(p) => {
                        return Err(OpError::attr(
                            "pads",
                            format!("{p:?} should hold {} values", 2 * r),
                        ))
                    }
                };
                (
                    p[..r].to_vec(),
                    (0..r)
                        .map(|d| full[d].saturating_sub(p[d]).saturating_sub(p[d + r]))
                        .collect(),
                )
            }
        };
        let mut out_shape = vec![x.shape[0], c_out];
        for &d in &out_dims {
            out_shape.push(usize::try_from(d).map_err(|_| {
                OpError::shape(format!(
                    "the output would have a negative dim ({out_dims:?})"
                ))
            })?);
        }
        checked_elems(&out_shape)?;
        if let Some(b) = ctx.inputs.get(2).copied().flatten() {
            if b.shape != [c_out] || b.dtype != DType::F32 {
                return Err(OpError::shape(format!("bias {b} should be f32[{c_out}]")));
            }
        }
        Ok(Self {
            in_shape: x.shape.clone(),
            c_out,
            groups,
            kernel,
            strides,
            dilations,
            pads_begin,
            out_shape,
        })
    }
}

impl OpKind for ConvTranspose {
    fn attrs(&self, attrs: &mut Attrs) {
        // Explicit pads say everything `auto_pad`, `output_shape` and `output_padding`
        // said: the end pad is what is left of the full length past the output (negative
        // when `output_padding` or `output_shape` added zeros there).
        let full = self.full_lengths();
        let begin = &self.pads_begin;
        let mut pads = begin.clone();
        pads.extend((0..full.len()).map(|d| full[d] - self.out_shape[d + 2] as i64 - begin[d]));
        attrs
            .usizes("kernel_shape", &self.kernel)
            .usizes("strides", &self.strides)
            .ints("pads", &pads)
            .usizes("dilations", &self.dilations);
        if self.groups != 1 {
            attrs.int("group", self.groups as i64);
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
        Ok(vec![TensorType::new(DType::F32, self.out_shape.clone())])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.f32(0)?;
        let w = ctx.f32(1)?;
        let b = match ctx.consts.get(2).copied().flatten() {
            Some(_) => Some(ctx.f32(2)?),
            None => None,
        };
        let mut y = vec![0.0; ctx.outputs[0].n_elems()];
        match ConvTranspose2d::from_nd(&self.params(), 0) {
            Some(p) => zant_runtime::conv::conv_transpose2d(&p, x, w, b, &mut y),
            None => zant_runtime::conv::conv_transpose(&self.params(), x, w, b, &mut y),
        }
        Ok(Some(vec![Tensor::new(
            self.out_shape.clone(),
            Data::F32(y),
        )]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let (x, w) = (ctx.expr(0)?, ctx.expr(1)?);
        let bias = match ctx.inputs.get(2).and_then(|o| o.as_ref()) {
            Some(b) => {
                let e = &b.expr;
                quote!(Some(#e))
            }
            None => quote!(None),
        };
        Ok(match self.fast(ctx.kernels) {
            Some((p, TransposeKernel::Gemm)) => quote! {
                rt::conv::conv_transpose2d_gemm(&#p, #x, #w, #bias, scratch, y);
            },
            Some((p, TransposeKernel::Rows)) => quote! {
                rt::conv::conv_transpose2d_rows(&#p, #x, #w, #bias, y);
            },
            None => {
                let params = self.params();
                quote! {
                    rt::conv::conv_transpose(&#params, #x, #w, #bias, y);
                }
            }
        })
    }

    /// The GEMM kernel's band of columns, its copy of the input and the GEMM's packing
    /// buffers, for the band `emit` picks for the same `kernels`.
    fn scratch_bytes(&self, _inputs: &[Option<&TensorType>], kernels: KernelSet) -> usize {
        self.fast(kernels).map_or(0, |(p, kernel)| {
            transpose_scratch_len_for(kernel, &p, kernels) * 4
        })
    }

    /// Every input element times every tap of its group's `c_out / groups` kernels, the
    /// products the padding crops included: the dense count of a transposed convolution.
    fn macs(&self, _inputs: &[Option<&TensorType>]) -> u64 {
        let per_group = self.c_out / self.groups.max(1);
        mac_count(
            self.in_shape
                .iter()
                .chain(&self.kernel)
                .copied()
                .chain([per_group]),
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::{Data, Tensor};

    fn weights(shape: Vec<usize>) -> Tensor {
        let n = shape.iter().product();
        Tensor::new(shape, Data::F32((0..n).map(|i| i as f32 * 0.25).collect()))
    }

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("ConvTranspose")
            .ints("strides", &[2, 2])
            .ints("pads", &[1, 1, 1, 1])
            .ints("output_padding", &[1, 1])
            .input("f32[1,2,3,3]")
            .constant(weights(vec![2, 3, 3, 3]))
            .constant(weights(vec![3]))
            .emit(), @"
        ConvTranspose(f32[1,2,3,3], f32[2,3,3,3], f32[3]) kernel_shape=[3,3] strides=[2,2] pads=[1,1,0,0] dilations=[1,1] -> f32[1,3,6,6]
        rt::conv::conv_transpose2d_rows(
            &rt::conv::ConvTranspose2d {
                batch: 1,
                c_in: 2,
                h_in: 3,
                w_in: 3,
                c_out: 3,
                h_out: 6,
                w_out: 6,
                k_h: 3,
                k_w: 3,
                stride_h: 2,
                stride_w: 2,
                dil_h: 1,
                dil_w: 1,
                pad_top: 1i64,
                pad_left: 1i64,
                groups: 1,
                band: 9,
            },
            x0,
            x1,
            Some(x2),
            y,
        );
        ");
        // SAME_UPPER makes the output `input · stride` long, cutting the extra at the end.
        insta::assert_snapshot!(node("ConvTranspose")
            .string("auto_pad", "SAME_UPPER")
            .ints("strides", &[2])
            .input("f32[1,1,4]")
            .constant(weights(vec![1, 2, 3]))
            .emit(), @"
        ConvTranspose(f32[1,1,4], f32[1,2,3]) kernel_shape=[3] strides=[2] pads=[0,1] dilations=[1] -> f32[1,2,8]
        rt::conv::conv_transpose2d_rows(
            &rt::conv::ConvTranspose2d {
                batch: 1,
                c_in: 1,
                h_in: 1,
                w_in: 4,
                c_out: 2,
                h_out: 1,
                w_out: 8,
                k_h: 1,
                k_w: 3,
                stride_h: 1,
                stride_w: 2,
                dil_h: 1,
                dil_w: 1,
                pad_top: 0i64,
                pad_left: 0i64,
                groups: 1,
                band: 4,
            },
            x0,
            x1,
            None,
            y,
        );
        ");
        // An `output_shape` larger than the full output pads it with zeros.
        insta::assert_snapshot!(node("ConvTranspose")
            .int("group", 2)
            .ints("output_shape", &[1, 4, 6, 6])
            .input("f32[1,2,2,2]")
            .constant(weights(vec![2, 2, 3, 3]))
            .emit(), @"
        ConvTranspose(f32[1,2,2,2], f32[2,2,3,3]) kernel_shape=[3,3] strides=[1,1] pads=[-1,-1,-1,-1] dilations=[1,1] group=2 -> f32[1,4,6,6]
        rt::conv::conv_transpose2d_rows(
            &rt::conv::ConvTranspose2d {
                batch: 1,
                c_in: 2,
                h_in: 2,
                w_in: 2,
                c_out: 4,
                h_out: 6,
                w_out: 6,
                k_h: 3,
                k_w: 3,
                stride_h: 1,
                stride_w: 1,
                dil_h: 1,
                dil_w: 1,
                pad_top: -1i64,
                pad_left: -1i64,
                groups: 2,
                band: 4,
            },
            x0,
            x1,
            None,
            y,
        );
        ");
    }

    #[test]
    fn emits_the_gemm_kernel() {
        // Enough input channels for the GEMM: a band of columns in scratch. The kernel
        // tiles the output exactly, so col2im stores the columns instead of adding them.
        insta::assert_snapshot!(node("ConvTranspose")
            .ints("strides", &[2, 2])
            .input("f32[1,8,4,4]")
            .constant(weights(vec![8, 3, 2, 2]))
            .emit(), @"
        ConvTranspose(f32[1,8,4,4], f32[8,3,2,2]) kernel_shape=[2,2] strides=[2,2] pads=[0,0,0,0] dilations=[1,1] -> f32[1,3,8,8]
        rt::conv::conv_transpose2d_gemm(
            &rt::conv::ConvTranspose2d {
                batch: 1,
                c_in: 8,
                h_in: 4,
                w_in: 4,
                c_out: 3,
                h_out: 8,
                w_out: 8,
                k_h: 2,
                k_w: 2,
                stride_h: 2,
                stride_w: 2,
                dil_h: 1,
                dil_w: 1,
                pad_top: 0i64,
                pad_left: 0i64,
                groups: 1,
                band: 16,
            },
            x0,
            x1,
            None,
            scratch,
            y,
        );
        ");
        // Three spatial dims run the N-D reference kernel.
        insta::assert_snapshot!(node("ConvTranspose")
            .input("f32[1,1,2,2,2]")
            .constant(weights(vec![1, 1, 2, 2, 2]))
            .emit(), @"
        ConvTranspose(f32[1,1,2,2,2], f32[1,1,2,2,2]) kernel_shape=[2,2,2] strides=[1,1,1] pads=[0,0,0,0,0,0] dilations=[1,1,1] -> f32[1,1,3,3,3]
        rt::conv::conv_transpose(
            &rt::conv::ConvTranspose {
                batch: 1,
                c_in: 1,
                c_out: 1,
                groups: 1,
                in_dims: &[2, 2, 2],
                out_dims: &[3, 3, 3],
                kernel: &[2, 2, 2],
                strides: &[1, 1, 1],
                dilations: &[1, 1, 1],
                pads_begin: &[0i64, 0i64, 0i64],
            },
            x0,
            x1,
            None,
            y,
        );
        ");
    }

    #[test]
    fn scratch_follows_the_band() {
        use zant_runtime::target::{KernelSet, Kernels};
        // DBNet's 64 → 64 upsampling of 80 × 80: 256 columns and 64 inputs a position.
        let op = super::ConvTranspose {
            in_shape: vec![1, 64, 80, 80],
            c_out: 64,
            groups: 1,
            kernel: vec![2, 2],
            strides: vec![2, 2],
            dilations: vec![1, 1],
            pads_begin: vec![0, 0],
            out_shape: vec![1, 64, 160, 160],
        };
        let scratch = |kernels| super::OpKind::scratch_bytes(&op, &[], kernels);
        // Two rows of 80 positions with SIMD: columns, the copied band, one packed block
        // of 48 rows and a sliver of 16 columns, 64 deep.
        let vector = scratch(KernelSet::only(Kernels::Vector));
        assert_eq!(vector, 4 * (256 * 160 + 64 * 160 + (48 + 16) * 64));
        // Twelve positions in 16 KiB on a microcontroller, and one sliver of `B`.
        let scalar = scratch(KernelSet::only(Kernels::Scalar));
        assert_eq!(scalar, 4 * (256 * 12 + 64 * 12 + 16 * 64));
        assert_eq!(
            scratch(KernelSet::ANY),
            vector.max(4 * (256 * 160 + 64 * 160 + 16 * 64))
        );
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("ConvTranspose")
            .string("auto_pad", "SAME")
            .input("f32[1,1,4,4]")
            .constant(weights(vec![1, 1, 3, 3]))
            .emit(), @"parse: attribute `auto_pad`: `SAME` is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID");
        insta::assert_snapshot!(node("ConvTranspose")
            .ints("pads", &[3, 3])
            .input("f32[1,1,2]")
            .constant(weights(vec![1, 1, 2]))
            .emit(), @"parse: the output would have a negative dim ([-3])");
    }

    #[test]
    fn counts_every_input_element_times_its_kernels() {
        // Two input channels of 3×3, each scattered through 3 output channels' 3×3 kernels.
        let up = node("ConvTranspose")
            .ints("strides", &[2, 2])
            .input("f32[1,2,3,3]")
            .constant(weights(vec![2, 3, 3, 3]));
        assert_eq!(up.macs(), 2 * 9 * (3 * 9));
        // In two groups, each input channel reaches its group's one output channel only.
        let grouped = node("ConvTranspose")
            .int("group", 2)
            .input("f32[1,2,3,3]")
            .constant(weights(vec![2, 1, 3, 3]));
        assert_eq!(grouped.macs(), 2 * 9 * 9);
    }
}
