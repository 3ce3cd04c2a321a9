//! QuantizeLinear and DequantizeLinear (opset 10 on; `axis` for per-axis scales since 13,
//! `block_size` for blocked scales since 21, `output_dtype` since 21/23): 8-, 16- and 32-bit
//! integers (float8 and 4-bit types are not supported). Quantizing rounds half to even and
//! saturates. DynamicQuantizeLinear (opset 11) picks a uint8 scale and zero point from the
//! data at run time.

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::quant::QuantLayout;

use super::{
    around_axis, elem_type, normalize_axis, required, EmitCtx, FoldCtx, OpError, OpKind, Parse,
    ParseCtx,
};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Quant {
    /// Quantize (float to integer) or dequantize.
    pub quantize: bool,
    pub layout: QuantLayout,
    /// The output element type.
    pub to: DType,
}

fn layout_tokens(layout: QuantLayout) -> TokenStream {
    match layout {
        QuantLayout::PerTensor => quote!(rt::quant::QuantLayout::PerTensor),
        QuantLayout::PerAxis { axis_len, inner } => {
            quote!(rt::quant::QuantLayout::PerAxis { axis_len: #axis_len, inner: #inner })
        }
        QuantLayout::Blocked {
            axis_len,
            inner,
            block,
            scale_axis_len,
        } => quote!(rt::quant::QuantLayout::Blocked {
            axis_len: #axis_len, inner: #inner, block: #block, scale_axis_len: #scale_axis_len
        }),
    }
}

impl Parse for Quant {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let quantize = ctx.op_type == "QuantizeLinear";
        let (x, scale) = (ctx.input(0)?, ctx.input(1)?);
        let block = ctx.int("block_size", 0)?;
        let block = usize::try_from(block).map_err(|_| format!("block_size {block}"))?;
        let layout = if scale.n_elems() == 1 && scale.rank() <= 1 && block == 0 {
            QuantLayout::PerTensor
        } else {
            let axis = normalize_axis(ctx.int("axis", 1)?, x.rank())?;
            let (_, axis_len, inner) = around_axis(&x.shape, axis);
            if block == 0 {
                if scale.shape != [axis_len] {
                    return Err(OpError::Other(format!(
                        "per-axis scale {scale} does not fit {x} on axis {axis}"
                    )));
                }
                QuantLayout::PerAxis { axis_len, inner }
            } else {
                let mut want = x.shape.clone();
                want[axis] = axis_len.div_ceil(block);
                if scale.shape != want {
                    return Err(OpError::Other(format!(
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
            code => Some(DType::from_onnx(code as i32).ok_or_else(|| {
                format!(
                    "output_dtype {} is not supported",
                    DType::onnx_name(code as i32)
                )
            })?),
        };
        let to = if quantize {
            match ctx.inputs.get(2).copied().flatten() {
                Some(zp) => zp.dtype,
                None => output_dtype.unwrap_or(DType::U8),
            }
        } else {
            output_dtype.unwrap_or(scale.dtype)
        };
        Ok(Self {
            quantize,
            layout,
            to,
        })
    }
}

impl OpKind for Quant {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let (x, scale) = (required(inputs, 0)?, required(inputs, 1)?);
        let ok = if self.quantize {
            x.dtype.is_float() && scale.dtype == x.dtype && self.to.is_int()
        } else {
            x.dtype.is_int() && scale.dtype.is_float() && scale.dtype == self.to
        };
        if !ok {
            return Err(OpError::Other(format!(
                "unsupported types: x {x}, scale {scale}, output {}",
                self.to
            )));
        }
        if let Some(zp) = inputs.get(2).copied().flatten() {
            let want = if self.quantize { self.to } else { x.dtype };
            if zp.dtype != want || zp.shape != scale.shape {
                return Err(OpError::Other(format!(
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
                zant_runtime::quant::quantize(xs, ss, z, self.layout, &mut y).map_err(|e| e.to_string())?;
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
        let layout = layout_tokens(self.layout);
        let (a, b) = (elem_type(x.ty.dtype), elem_type(self.to));
        if self.quantize {
            let try_ = ctx.try_suffix();
            Ok(quote! { rt::quant::quantize::<#a, #b>(#xe, #se, #zp, #layout, y) #try_; })
        } else {
            Ok(quote! { rt::quant::dequantize::<#a, #b>(#xe, #se, #zp, #layout, y); })
        }
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

impl OpKind for DynamicQuant {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        if x.dtype != DType::F32 {
            return Err(OpError::Other(format!(
                "DynamicQuantizeLinear takes f32, not {x}"
            )));
        }
        Ok(vec![
            TensorType::new(DType::U8, x.shape.clone()),
            TensorType::new(DType::F32, vec![]),
            TensorType::new(DType::U8, vec![]),
        ])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let xs = x.as_f32().ok_or("f32")?;
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
