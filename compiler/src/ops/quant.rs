//! QuantizeLinear and DequantizeLinear (opset 10 on; `axis` for per-axis scales since 13,
//! `saturate` for float8 since 19, `block_size` for blocked scales since 21,
//! `output_dtype` since 21/23): 8-, 16- and 32-bit integers, and the narrow types of
//! opsets 19–25 (float8, int4/uint4, int2/uint2, float4 E2M1) as the ONNX reference
//! treats them. Quantizing rounds half to even and saturates. A float16 or bfloat16
//! scale (and input) computes in `f32` (`onnx::narrow`). DynamicQuantizeLinear (opset 11)
//! picks a uint8 scale and zero point from the data at run time.

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::narrow::Encoding;
use zant_runtime::quant::QuantLayout;

use super::cast::dtype_attr;
use super::{
    around_axis, elem_type, normalize_axis, required, Attrs, EmitCtx, FoldCtx, OpError, OpKind,
    Parse, ParseCtx,
};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Quant {
    /// Quantize (float to integer) or dequantize.
    pub quantize: bool,
    pub layout: QuantLayout,
    /// The quantization axis, normalised; it only matters for per-axis and blocked scales.
    pub axis: usize,
    /// The `output_dtype` attribute, when the node sets it.
    pub output_dtype: Option<DType>,
    /// The output element type.
    pub to: DType,
    /// Out-of-range values saturate when quantizing to float8 (`saturate`, default 1).
    pub saturate: bool,
}

impl Parse for Quant {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let quantize = ctx.op_type == "QuantizeLinear";
        let (x, scale) = (ctx.input(0)?, ctx.input(1)?);
        let block = ctx.count("block_size", 0)?;
        let per_tensor = scale.n_elems() == 1 && scale.rank() <= 1 && block == 0;
        let axis = if per_tensor {
            // The attribute is ignored; a rank-0 input has no axis to normalise.
            0
        } else {
            normalize_axis(ctx.int("axis", 1)?, x.rank())?
        };
        let layout = if per_tensor {
            QuantLayout::PerTensor
        } else if x.rank() == 0 {
            return Err(OpError::shape(format!(
                "scale {scale} is not per-tensor, but the input {x} has no axis"
            )));
        } else {
            let (_, axis_len, inner) = around_axis(&x.shape, axis);
            if block == 0 {
                if scale.shape != [axis_len] {
                    return Err(OpError::shape(format!(
                        "per-axis scale {scale} does not fit {x} on axis {axis}"
                    )));
                }
                QuantLayout::PerAxis { axis_len, inner }
            } else {
                let mut want = x.shape.clone();
                want[axis] = axis_len.div_ceil(block);
                if scale.shape != want {
                    return Err(OpError::shape(format!(
                        "blocked scale {scale} does not fit {x}"
                    )));
                }
                QuantLayout::Blocked {
                    axis_len,
                    inner,
                    block,
                    scale_axis_len: want[axis],
                }
            }
        };
        let output_dtype = match ctx.int("output_dtype", 0)? {
            0 => None,
            code => Some(dtype_attr("output_dtype", code)?),
        };
        let to = if quantize {
            match (ctx.inputs.get(2).copied().flatten(), output_dtype) {
                (Some(zp), Some(out)) if zp.dtype != out => {
                    return Err(OpError::attr(
                        "output_dtype",
                        format!("{out} disagrees with the zero point {zp}"),
                    ))
                }
                (Some(zp), _) => zp.dtype,
                (None, out) => out.unwrap_or(DType::U8),
            }
        } else {
            output_dtype.unwrap_or(scale.dtype)
        };
        Ok(Self {
            quantize,
            layout,
            axis,
            output_dtype,
            to,
            saturate: ctx.int("saturate", 1)? != 0,
        })
    }
}

/// Whether `dtype` can be quantized data: integers, and the narrow types but half
/// precision.
fn quantized(dtype: DType) -> bool {
    dtype.is_int() || (dtype.narrow().is_some() && !matches!(dtype, DType::F16 | DType::BF16))
}

impl OpKind for Quant {
    /// The axis of per-axis and blocked scales (the parser reads the layout again from the
    /// scale's shape), the block size, and `output_dtype` when the node sets it.
    fn attrs(&self, attrs: &mut Attrs) {
        match self.layout {
            QuantLayout::PerTensor => {}
            QuantLayout::PerAxis { .. } => {
                attrs.int("axis", self.axis as i64);
            }
            QuantLayout::Blocked { block, .. } => {
                attrs
                    .int("axis", self.axis as i64)
                    .int("block_size", block as i64);
            }
        }
        if let Some(dtype) = self.output_dtype {
            attrs.int("output_dtype", i64::from(dtype.onnx_code()));
        }
        if !self.saturate {
            attrs.int("saturate", 0);
        }
    }

    /// The float input and the scale compute (in `f32` when they are half precision);
    /// the quantized data and the zero point are whatever narrow type they are.
    fn narrow(&self) -> super::NarrowSupport {
        super::NarrowSupport::ComputeInputs(if self.quantize { 0b011 } else { 0b010 })
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let (x, scale) = (required(inputs, 0)?, required(inputs, 1)?);
        let wide_float = |d: DType| matches!(d, DType::F32 | DType::F64);
        let ok = if self.quantize {
            wide_float(x.dtype) && scale.dtype == x.dtype && quantized(self.to)
        } else {
            quantized(x.dtype) && wide_float(scale.dtype) && scale.dtype == self.to
        };
        if !ok {
            return Err(OpError::unsupported(format!(
                "element types x {x}, scale {scale} and output {} are not supported",
                self.to
            )));
        }
        if let Some(zp) = inputs.get(2).copied().flatten() {
            let want = if self.quantize { self.to } else { x.dtype };
            // A per-tensor zero point may be a scalar or have one element, whatever the
            // scale's rank.
            let fits = zp.shape == scale.shape
                || (self.layout == QuantLayout::PerTensor && zp.n_elems() == 1);
            if zp.dtype != want || !fits {
                return Err(OpError::shape(format!(
                    "zero point {zp} does not match scale {scale}"
                )));
            }
        }
        Ok(vec![TensorType::new(self.to, x.shape.clone())])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let (x, scale) = (ctx.get(0)?, ctx.get(1)?);
        let zp = ctx.consts.get(2).copied().flatten();
        let n = x.n_elems();
        let narrow_type = if self.quantize { self.to } else { x.dtype() };
        if let Some(format) = narrow_type.narrow() {
            return self
                .fold_narrow(format, x, scale, zp)
                .map(|t| t.map(|t| vec![t]));
        }
        let data = if self.quantize {
            let Data::F32(xs) = &x.data else {
                return Ok(None);
            };
            let Data::F32(ss) = &scale.data else {
                return Ok(None);
            };
            let zeros = zp
                .map(|z| z.data.clone())
                .unwrap_or_else(|| Data::zeros(self.to, 1));
            let single = zp.is_none();
            crate::with_data!(&zeros, z => {
                let mut y = vec![Default::default(); n];
                let z = if single { None } else { Some(&z[..]) };
                zant_runtime::quant::quantize(xs, ss, z, self.layout, &mut y)?;
                super::retag(y, self.to)
            })
        } else {
            let Data::F32(ss) = &scale.data else {
                return Ok(None);
            };
            let zeros = zp.map(|z| z.data.clone());
            let mut y = vec![0.0f32; n];
            crate::with_data!(&x.data, v => {
                let z = zeros.as_ref().map(|d| super::cast::cast_data(d, x.dtype()));
                let zs: Option<Vec<_>> = z.as_ref().map(|d| crate::with_data!(d, w => w.iter().map(|&e| zant_runtime::scalar::Scalar::from_f64(zant_runtime::scalar::Scalar::to_f64(e))).collect()));
                zant_runtime::quant::dequantize(v, ss, zs.as_deref(), self.layout, &mut y)
            });
            Data::F32(y)
        };
        Ok(Some(vec![Tensor::new(x.shape.clone(), data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let (x, scale) = (ctx.input(0)?, ctx.input(1)?);
        let (xe, se) = (&x.expr, &scale.expr);
        let zp = match ctx.inputs.get(2).and_then(|o| o.as_ref()) {
            Some(z) => {
                let e = &z.expr;
                quote!(Some(#e))
            }
            None => quote!(None),
        };
        let layout = self.layout;
        let (a, b) = (elem_type(x.ty.dtype), elem_type(self.to));
        if self.quantize {
            if let Some(format) = self.to.narrow() {
                let to = Encoding {
                    saturate: self.saturate,
                    ..Encoding::new(format)
                };
                let try_ = ctx.try_suffix();
                return Ok(quote! {
                    rt::quant::quantize_narrow::<#a, #b>(#xe, #se, #zp, #layout, #to, y) #try_;
                });
            }
        } else if let Some(format) = x.ty.dtype.narrow() {
            return Ok(quote! {
                rt::quant::dequantize_narrow::<#a, #b>(#format, #xe, #se, #zp, #layout, y);
            });
        }
        let eight_bit = matches!(self.to, DType::U8 | DType::I8);
        if self.quantize
            && eight_bit
            && x.ty.dtype == DType::F32
            && matches!(self.layout, QuantLayout::PerTensor)
        {
            // The float island's exit into the integer kernels: the per-tensor 8-bit
            // path, which cannot fail.
            Ok(quote! { rt::quant::quantize_8bit::<#b>(#xe, (#se)[0], #zp, y); })
        } else if self.quantize {
            let try_ = ctx.try_suffix();
            Ok(quote! { rt::quant::quantize::<#a, #b>(#xe, #se, #zp, #layout, y) #try_; })
        } else {
            Ok(quote! { rt::quant::dequantize::<#a, #b>(#xe, #se, #zp, #layout, y); })
        }
    }
}

impl Quant {
    /// Folds a quantization to or from a narrow type with the runtime's kernels, on the
    /// narrow data's storage; `f32` scales only, as generated code.
    fn fold_narrow(
        &self,
        format: zant_runtime::narrow::Format,
        x: &Tensor,
        scale: &Tensor,
        zp: Option<&Tensor>,
    ) -> Result<Option<Tensor>, OpError> {
        let Data::F32(ss) = &scale.data else {
            return Ok(None);
        };
        let n = x.n_elems();
        let zp_bytes = zp.map(|z| z.data.to_le_bytes());
        let zp_slice = zp_bytes.as_deref();
        if self.quantize {
            let Data::F32(xs) = &x.data else {
                return Ok(None);
            };
            let to = Encoding {
                saturate: self.saturate,
                ..Encoding::new(format)
            };
            let mut y = vec![0u8; self.to.storage_len(n)];
            zant_runtime::quant::quantize_narrow(xs, ss, zp_slice, self.layout, to, &mut y)?;
            let data = Data::from_storage(self.to, &y, n).expect("whole storage");
            return Ok(Some(Tensor::new(x.shape.clone(), data)));
        }
        let mut y = vec![0.0f32; n];
        let xb = x.data.to_le_bytes();
        zant_runtime::quant::dequantize_narrow(format, &xb, ss, zp_slice, self.layout, &mut y);
        Ok(Some(Tensor::new(x.shape.clone(), Data::F32(y))))
    }
}

/// DynamicQuantizeLinear: `y`, `y_scale`, `y_zero_point` from f32 `x`.
#[derive(Clone, Debug, PartialEq)]
pub struct DynamicQuant;

impl Parse for DynamicQuant {
    fn parse(_ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        Ok(Self)
    }
}

// DynamicQuantizeLinear has no attribute, so the default (empty) `OpKind::attrs`
// describes it.
impl OpKind for DynamicQuant {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        if x.dtype != DType::F32 {
            return Err(OpError::shape(format!("takes f32, not {x}")));
        }
        Ok(vec![
            TensorType::new(DType::U8, x.shape.clone()),
            TensorType::new(DType::F32, vec![]),
            TensorType::new(DType::U8, vec![]),
        ])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let Some(xs) = x.as_f32() else {
            return Ok(None);
        };
        let (mut y, mut s, mut z) = (vec![0u8; xs.len()], [0.0f32], [0u8]);
        zant_runtime::quant::dynamic_quantize(xs, &mut y, &mut s, &mut z);
        Ok(Some(vec![
            Tensor::new(x.shape.clone(), Data::U8(y)),
            Tensor::new(vec![], Data::F32(s.to_vec())),
            Tensor::new(vec![], Data::U8(z.to_vec())),
        ]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.expr(0)?;
        Ok(quote! { rt::quant::dynamic_quantize(#x, y, y1, y2); })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::{Data, Tensor};

    #[test]
    fn emits() {
        let f32s = |shape: Vec<usize>, v: Vec<f32>| Tensor::new(shape, Data::F32(v));
        insta::assert_snapshot!(node("QuantizeLinear").input("f32[2,4]").constant(Tensor::scalar_f32(0.5)).emit(), @r#"
        QuantizeLinear(f32[2,4], f32[]) -> u8[2,4]
        rt::quant::quantize_8bit::<u8>(x0, (x1)[0], None, y);
        "#);
        insta::assert_snapshot!(node("QuantizeLinear").input("f32[2,4]").input("f32[]").input("i8[]").emit(), @r#"
        QuantizeLinear(f32[2,4], f32[], i8[]) -> i8[2,4]
        rt::quant::quantize_8bit::<i8>(x0, (x1)[0], Some(x2), y);
        "#);
        // ONNX type code 6 is int32.
        insta::assert_snapshot!(node("QuantizeLinear").int("output_dtype", 6).input("f32[4]").input("f32[]").emit(), @r#"
        QuantizeLinear(f32[4], f32[]) output_dtype=6 -> i32[4]
        rt::quant::quantize::<f32, i32>(x0, x1, None, rt::quant::QuantLayout::PerTensor, y)
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        insta::assert_snapshot!(node("DequantizeLinear").int("axis", 0).input("i8[2,4]").constant(f32s(vec![2], vec![0.5, 0.25])).emit(), @"
        DequantizeLinear(i8[2,4], f32[2]) axis=0 -> f32[2,4]
        rt::quant::dequantize::<
            i8,
            f32,
        >(
            x0,
            x1,
            None,
            rt::quant::QuantLayout::PerAxis {
                axis_len: 2,
                inner: 4,
            },
            y,
        );
        ");
        insta::assert_snapshot!(node("DequantizeLinear").int("axis", 1).int("block_size", 2).input("u8[2,4]").input("f32[2,2]").input("u8[2,2]").emit(), @"
        DequantizeLinear(u8[2,4], f32[2,2], u8[2,2]) axis=1 block_size=2 -> f32[2,4]
        rt::quant::dequantize::<
            u8,
            f32,
        >(
            x0,
            x1,
            Some(x2),
            rt::quant::QuantLayout::Blocked {
                axis_len: 4,
                inner: 1,
                block: 2,
                scale_axis_len: 2,
            },
            y,
        );
        ");
        insta::assert_snapshot!(node("DynamicQuantizeLinear").outputs(3).input("f32[2,3]").emit(), @"
        DynamicQuantizeLinear(f32[2,3]) -> u8[2,3], f32[], u8[]
        rt::quant::dynamic_quantize(x0, y, y1, y2);
        ");
        let x = f32s(vec![4], vec![-1.0, 0.0, 1.25, 300.0]);
        insta::assert_snapshot!(node("QuantizeLinear").constant(x).constant(Tensor::scalar_f32(0.5)).emit(), @"
        QuantizeLinear(f32[4], f32[]) -> u8[4]
        folds to u8[4] [0, 0, 2, 255]
        ");
        let q = Tensor::new(vec![2], Data::I8(vec![-4, 6]));
        insta::assert_snapshot!(node("DequantizeLinear").constant(q).constant(Tensor::scalar_f32(0.5)).emit(), @"
        DequantizeLinear(i8[2], f32[]) -> f32[2]
        folds to f32[2] [-2.0, 3.0]
        ");
        insta::assert_snapshot!(node("DynamicQuantizeLinear").outputs(3).constant(f32s(vec![3], vec![-1.0, 0.0, 2.0])).emit(), @"
        DynamicQuantizeLinear(f32[3]) -> u8[3], f32[], u8[]
        folds to u8[3] [0, 85, 255], f32[] [0.011764706], u8[] [85]
        ");
    }

    #[test]
    fn emits_narrow_types() {
        // ONNX type codes: 17 float8e4m3fn, 22 int4.
        insta::assert_snapshot!(node("QuantizeLinear").int("saturate", 0).input("f32[4]").input("f32[]").input("f8e4m3fn[1]").emit(), @r#"
        QuantizeLinear(f32[4], f32[], f8e4m3fn[1]) saturate=0 -> f8e4m3fn[4]
        rt::quant::quantize_narrow::<
            f32,
            u8,
        >(
                x0,
                x1,
                Some(x2),
                rt::quant::QuantLayout::PerTensor,
                rt::narrow::Encoding {
                    format: rt::narrow::Format::F8E4M3FN,
                    saturate: false,
                    round: rt::narrow::E8M0Round::Up,
                },
                y,
            )
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        insta::assert_snapshot!(node("DequantizeLinear").int("axis", 0).input("i4[3,4]").input("f32[3]").input("i4[3]").emit(), @"
        DequantizeLinear(i4[3,4], f32[3], i4[3]) axis=0 -> f32[3,4]
        rt::quant::dequantize_narrow::<
            u8,
            f32,
        >(
            rt::narrow::Format::I4,
            x0,
            x1,
            Some(x2),
            rt::quant::QuantLayout::PerAxis {
                axis_len: 3,
                inner: 4,
            },
            y,
        );
        ");
        let x = Tensor::new(vec![4], Data::F32(vec![-20.0, -1.0, 3.0, 20.0]));
        let zero = Tensor::new(vec![], Data::I4(vec![1]));
        insta::assert_snapshot!(node("QuantizeLinear").constant(x).constant(Tensor::scalar_f32(2.0)).constant(zero).emit(), @"
        QuantizeLinear(f32[4], f32[], i4[]) -> i4[4]
        folds to i4[4] [-8, 1, 3, 7]
        ");
        let codes = Tensor::new(vec![3], Data::F8E5M2(vec![0x3c, 0x7b, 0xfe]));
        insta::assert_snapshot!(node("DequantizeLinear").constant(codes).constant(Tensor::scalar_f32(0.5)).emit(), @"
        DequantizeLinear(f8e5m2[3], f32[]) -> f32[3]
        folds to f32[3] [0.5, 28672.0, NaN]
        ");
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("DequantizeLinear").input("i8[2,4]").input("f32[3]").emit(), @"parse: per-axis scale f32[3] does not fit i8[2,4] on axis 1");
        insta::assert_snapshot!(node("QuantizeLinear").int("block_size", -2).input("f32[2,4]").input("f32[2,2]").emit(), @"parse: attribute `block_size`: -2 is negative");
        insta::assert_snapshot!(node("QuantizeLinear").int("output_dtype", 3).input("f32[4]").input("f32[]").input("u8[]").emit(), @"parse: attribute `output_dtype`: i8 disagrees with the zero point u8[]");
        insta::assert_snapshot!(node("QuantizeLinear").int("output_dtype", 10).input("f32[4]").input("f32[]").emit(), @"infer: element types x f32[4], scale f32[] and output f16 are not supported");
        insta::assert_snapshot!(node("QuantizeLinear").input("i32[4]").input("i32[]").emit(), @"infer: element types x i32[4], scale i32[] and output u8 are not supported");
        insta::assert_snapshot!(node("DynamicQuantizeLinear").outputs(3).input("f64[3]").emit(), @"infer: takes f32, not f64[3]");
    }
}
