//! The preprocessing ops of the ai.onnx.ml domain (opset 1) that keep the input's shape:
//! Scaler (`(x − offset) · scale` per column), Normalizer (each row divided by its MAX,
//! L1 or L2 norm) and Binarizer (1 above a threshold, else 0). They take `f32` inputs, the
//! type the exporters write.

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::ml::{self as rt_ml, Norm};

use super::{f32_tokens, required, Attrs, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub enum MlTransform {
    /// `offset` and `scale` are constant inputs 1 and 2 (`[1]` or one per column).
    Scaler,
    Normalizer(Norm),
    Binarizer {
        threshold: f32,
    },
}

const SCALER_TABLES: [&str; 2] = ["offset", "scale"];

/// The `f32` input every transform takes.
fn f32_input(x: &TensorType) -> Result<&TensorType, OpError> {
    if x.dtype != DType::F32 {
        return Err(OpError::unsupported(format!(
            "input X is {x}; zant compiles this op for f32 inputs only"
        )));
    }
    Ok(x)
}

impl Parse for MlTransform {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let x = f32_input(ctx.input(0)?)?;
        match ctx.op_type {
            "Scaler" => {
                let columns = x.shape.last().copied().unwrap_or(1);
                let read = |name: &str, default: f32| -> Result<Tensor, OpError> {
                    let v = match ctx.attr(name) {
                        Some(a) => a.as_floats(name)?,
                        None => vec![default],
                    };
                    if v.len() != 1 && v.len() != columns {
                        return Err(OpError::attr(
                            name,
                            format!("has {} values; X has {columns} columns", v.len()),
                        ));
                    }
                    Ok(Tensor::new(vec![v.len()], Data::F32(v)))
                };
                ctx.tables(1, &SCALER_TABLES, || {
                    Ok(vec![read("offset", 0.0)?, read("scale", 1.0)?])
                })?;
                Ok(Self::Scaler)
            }
            "Normalizer" => Ok(Self::Normalizer(
                match ctx.string("norm", "MAX")?.as_str() {
                    "MAX" => Norm::Max,
                    "L1" => Norm::L1,
                    "L2" => Norm::L2,
                    other => {
                        return Err(OpError::attr(
                            "norm",
                            format!("`{other}` is not MAX, L1 or L2"),
                        ))
                    }
                },
            )),
            _ => Ok(Self::Binarizer {
                threshold: ctx.float("threshold", 0.0)?,
            }),
        }
    }
}

impl OpKind for MlTransform {
    fn attrs(&self, attrs: &mut Attrs) {
        match self {
            Self::Scaler => {}
            Self::Normalizer(norm) => {
                attrs.string(
                    "norm",
                    match norm {
                        Norm::Max => "MAX",
                        Norm::L1 => "L1",
                        Norm::L2 => "L2",
                    },
                );
            }
            Self::Binarizer { threshold } => {
                attrs.float("threshold", *threshold);
            }
        }
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = f32_input(required(inputs, 0)?)?;
        if let Self::Scaler = self {
            for (i, name) in SCALER_TABLES.iter().enumerate() {
                let t = required(inputs, 1 + i)?;
                if t.dtype != DType::F32 || t.rank() != 1 {
                    return Err(OpError::shape(format!("{name} is {t}, not f32[n]")));
                }
            }
        }
        if let Self::Normalizer(_) = self {
            if x.rank() > 2 {
                return Err(OpError::shape(format!(
                    "input X is {x}, not [rows, columns]"
                )));
            }
        }
        Ok(vec![x.clone()])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.f32(0)?;
        let mut y = vec![0.0f32; x.len()];
        match self {
            Self::Scaler => rt_ml::scale(x, ctx.f32(1)?, ctx.f32(2)?, &mut y),
            Self::Normalizer(norm) => rt_ml::normalize(*norm, row_len(&ctx.outputs[0]), x, &mut y),
            Self::Binarizer { threshold } => rt_ml::binarize(x, *threshold, &mut y),
        }
        Ok(Some(vec![Tensor::new(
            ctx.outputs[0].shape.clone(),
            Data::F32(y),
        )]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.expr(0)?;
        Ok(match self {
            Self::Scaler => {
                let (offset, scale) = (ctx.expr(1)?, ctx.expr(2)?);
                quote! { rt::ml::scale(#x, #offset, #scale, y); }
            }
            Self::Normalizer(norm) => {
                let len = row_len(ctx.out_ty());
                quote! { rt::ml::normalize(#norm, #len, #x, y); }
            }
            Self::Binarizer { threshold } => {
                let t = f32_tokens(*threshold);
                quote! { rt::ml::binarize::<f32>(#x, #t, y); }
            }
        })
    }
}

/// The length of the rows a Normalizer divides: the last axis.
fn row_len(ty: &TensorType) -> usize {
    ty.shape.last().copied().unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::NodeBuilder;
    use crate::tensor::{Data, Tensor};

    fn ml(op: &str) -> NodeBuilder {
        NodeBuilder::in_domain("ai.onnx.ml", op)
    }

    #[test]
    fn emits() {
        insta::assert_snapshot!(ml("Scaler").floats("offset", &[1.0, 2.0]).floats("scale", &[0.5]).input("f32[3,2]").emit(), @"
        Scaler(f32[3,2], f32[2], f32[1]) -> f32[3,2]
        rt::ml::scale(x0, x1, x2, y);
        ");
        insta::assert_snapshot!(ml("Normalizer").string("norm", "L2").input("f32[3,2]").emit(), @r#"
        Normalizer(f32[3,2]) norm="L2" -> f32[3,2]
        rt::ml::normalize(rt::ml::Norm::L2, 2, x0, y);
        "#);
        insta::assert_snapshot!(ml("Binarizer").float("threshold", 1.0).input("f32[3,4,5]").emit(), @"
        Binarizer(f32[3,4,5]) threshold=1.0 -> f32[3,4,5]
        rt::ml::binarize::<f32>(x0, 1f32, y);
        ");
    }

    #[test]
    fn folds() {
        let x = || Tensor::new(vec![1, 2], Data::F32(vec![3.0, 1.0]));
        insta::assert_snapshot!(ml("Scaler").floats("offset", &[1.0, 2.0]).floats("scale", &[0.5]).constant(x()).emit(), @"
        Scaler(f32[1,2], f32[2], f32[1]) -> f32[1,2]
        folds to f32[1,2] [1.0, -0.5]
        ");
        insta::assert_snapshot!(ml("Normalizer").string("norm", "L1").constant(x()).emit(), @r#"
        Normalizer(f32[1,2]) norm="L1" -> f32[1,2]
        folds to f32[1,2] [0.75, 0.25]
        "#);
        insta::assert_snapshot!(ml("Binarizer").float("threshold", 2.0).constant(x()).emit(), @"
        Binarizer(f32[1,2]) threshold=2.0 -> f32[1,2]
        folds to f32[1,2] [1.0, 0.0]
        ");
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(ml("Scaler").floats("offset", &[1.0, 2.0, 3.0]).input("f32[3,2]").emit(), @"parse: attribute `offset`: has 3 values; X has 2 columns");
        insta::assert_snapshot!(ml("Normalizer").string("norm", "L3").input("f32[3,2]").emit(), @"parse: attribute `norm`: `L3` is not MAX, L1 or L2");
        insta::assert_snapshot!(ml("Binarizer").input("i64[3]").emit(), @"parse: input X is i64[3]; zant compiles this op for f32 inputs only");
    }
}
