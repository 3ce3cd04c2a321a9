//! LinearClassifier and LinearRegressor (ai.onnx.ml opset 1): `x · wᵀ + b` per row, then
//! a post-transform; the classifier also labels each row with the first class of highest
//! raw score, as ONNX Runtime does. The coefficients and intercepts, attributes in ONNX,
//! become constant inputs ([`ParseCtx::tables`]) so that they live in the weight blob.

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::ml::{self as rt_ml, PostTransform};

use super::ml_attrs::{features_input, ints_or_empty, post_transform, post_transform_name};
use super::{required, Attrs, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, Data, Tensor, TensorType};

const TABLES: [&str; 2] = ["coefficients", "intercepts"];

#[derive(Clone, Debug, PartialEq)]
pub struct LinearModel {
    /// A classifier's class labels; `None` for a regressor.
    pub labels: Option<Vec<i64>>,
    pub n_targets: usize,
    pub post_transform: PostTransform,
}

impl Parse for LinearModel {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let (_, n_features) = features_input(ctx.input(0)?)?;
        let classifier = ctx.op_type == "LinearClassifier";
        let post_transform = post_transform(ctx)?;
        let labels = if classifier {
            if ctx.attr("classlabels_strings").is_some() {
                return Err(OpError::unsupported(
                    "string class labels (classlabels_strings): zant compiles int64 labels only",
                ));
            }
            Some(ints_or_empty(ctx, "classlabels_ints")?)
        } else {
            None
        };
        if ctx.n_inputs() > 1 {
            // The IR text: the tables are inputs already.
            let tables =
                ctx.tables(1, &TABLES, || Err(OpError::shape("the tables are missing")))?;
            return Ok(Self {
                n_targets: tables[1].n_elems(),
                labels,
                post_transform,
            });
        }
        let coefficients = ctx
            .attr("coefficients")
            .ok_or_else(|| OpError::attr("coefficients", "is required"))?
            .as_floats("coefficients")?;
        if n_features == 0 || coefficients.len() % n_features != 0 {
            return Err(OpError::attr(
                "coefficients",
                format!(
                    "{} values do not make rows of the {n_features} features of X",
                    coefficients.len()
                ),
            ));
        }
        let n_targets = coefficients.len() / n_features;
        if let Some(labels) = &labels {
            if n_targets != labels.len() || labels.len() < 3 {
                return Err(OpError::unsupported(format!(
                    "{n_targets} rows of coefficients for {} class labels: zant compiles one row \
                     per class of three or more classes (ONNX Runtime's binary rules are not implemented)",
                    labels.len()
                )));
            }
        } else if ctx.int("targets", n_targets as i64)? != n_targets as i64 {
            return Err(OpError::attr(
                "targets",
                format!("does not match the {n_targets} rows of coefficients"),
            ));
        }
        let intercepts = match ctx.attr("intercepts") {
            Some(a) => a.as_floats("intercepts")?,
            None => vec![0.0; n_targets],
        };
        if intercepts.len() != n_targets {
            return Err(OpError::attr(
                "intercepts",
                format!("has {} values for {n_targets} targets", intercepts.len()),
            ));
        }
        let f32s = |v: Vec<f32>| Tensor::new(vec![v.len()], Data::F32(v));
        ctx.tables(1, &TABLES, || {
            Ok(vec![f32s(coefficients), f32s(intercepts)])
        })?;
        Ok(Self {
            labels,
            n_targets,
            post_transform,
        })
    }
}

impl OpKind for LinearModel {
    fn attrs(&self, attrs: &mut Attrs) {
        attrs.string("post_transform", post_transform_name(self.post_transform));
        if let Some(labels) = &self.labels {
            attrs.ints("classlabels_ints", labels);
        }
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let (batch, features) = features_input(required(inputs, 0)?)?;
        let (w, b) = (required(inputs, 1)?, required(inputs, 2)?);
        let n = self.n_targets;
        if w.dtype != DType::F32
            || w.n_elems() != n * features
            || b.dtype != DType::F32
            || b.n_elems() != n
        {
            return Err(OpError::shape(format!(
                "coefficients {w} and intercepts {b} do not fit {n} targets of {features} features"
            )));
        }
        let scores = TensorType::new(DType::F32, vec![batch, n]);
        Ok(match self.labels {
            Some(_) => vec![TensorType::new(DType::I64, vec![batch]), scores],
            None => vec![scores],
        })
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let (batch, features) = features_input(required(&ctx.inputs, 0)?)?;
        let (x, w, b) = (ctx.f32(0)?, ctx.f32(1)?, ctx.f32(2)?);
        let mut scores = vec![0.0f32; batch * self.n_targets];
        let shape = vec![batch, self.n_targets];
        Ok(Some(match &self.labels {
            Some(labels) => {
                let mut label = vec![0i64; batch];
                rt_ml::linear_classifier(
                    batch,
                    features,
                    x,
                    w,
                    b,
                    self.post_transform,
                    labels,
                    &mut label,
                    &mut scores,
                );
                vec![
                    Tensor::new(vec![batch], Data::I64(label)),
                    Tensor::new(shape, Data::F32(scores)),
                ]
            }
            None => {
                rt_ml::linear(batch, features, x, w, b, self.post_transform, &mut scores);
                vec![Tensor::new(shape, Data::F32(scores))]
            }
        }))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let (batch, features) = features_input(ctx.input(0)?.ty)?;
        let (x, w, b) = (ctx.expr(0)?, ctx.expr(1)?, ctx.expr(2)?);
        let post = self.post_transform;
        Ok(match &self.labels {
            Some(labels) => quote! {
                rt::ml::linear_classifier(#batch, #features, #x, #w, #b, #post, &[#(#labels),*], y, y1);
            },
            None => quote! {
                rt::ml::linear(#batch, #features, #x, #w, #b, #post, y);
            },
        })
    }

    fn macs(&self, inputs: &[Option<&TensorType>]) -> u64 {
        inputs
            .first()
            .copied()
            .flatten()
            .map_or(0, |x| (x.n_elems() * self.n_targets) as u64)
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::NodeBuilder;
    use crate::tensor::{Data, Tensor};

    fn classifier() -> NodeBuilder {
        NodeBuilder::in_domain("ai.onnx.ml", "LinearClassifier")
            .floats("coefficients", &[1.0, 0.0, 0.0, 1.0, -1.0, -1.0])
            .floats("intercepts", &[0.0, 0.5, 0.25])
            .ints("classlabels_ints", &[3, 4, 5])
            .string("post_transform", "SOFTMAX")
            .outputs(2)
    }

    #[test]
    fn emits() {
        insta::assert_snapshot!(classifier().input("f32[2,2]").emit(), @r#"
        LinearClassifier(f32[2,2], f32[6], f32[3]) post_transform="SOFTMAX" classlabels_ints=[3,4,5] -> i64[2], f32[2,3]
        rt::ml::linear_classifier(
            2,
            2,
            x0,
            x1,
            x2,
            rt::ml::PostTransform::Softmax,
            &[3i64, 4i64, 5i64],
            y,
            y1,
        );
        "#);
        insta::assert_snapshot!(NodeBuilder::in_domain("ai.onnx.ml", "LinearRegressor")
            .floats("coefficients", &[2.0, 3.0])
            .input("f32[4,2]")
            .emit(), @r#"
        LinearRegressor(f32[4,2], f32[2], f32[1]) post_transform="NONE" -> f32[4,1]
        rt::ml::linear(4, 2, x0, x1, x2, rt::ml::PostTransform::None, y);
        "#);
    }

    #[test]
    fn folds() {
        let x = Tensor::new(vec![1, 2], Data::F32(vec![2.0, 1.0]));
        insta::assert_snapshot!(classifier().string("post_transform", "NONE").constant(x).emit(), @r#"
        LinearClassifier(f32[1,2], f32[6], f32[3]) post_transform="NONE" classlabels_ints=[3,4,5] -> i64[1], f32[1,3]
        folds to i64[1] [3], f32[1,3] [2.0, 1.5, -2.75]
        "#);
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(classifier().input("f32[2,4]").emit(), @"parse: attribute `coefficients`: 6 values do not make rows of the 4 features of X");
        insta::assert_snapshot!(NodeBuilder::in_domain("ai.onnx.ml", "LinearClassifier")
            .floats("coefficients", &[1.0, 2.0])
            .ints("classlabels_ints", &[0, 1])
            .input("f32[1,2]")
            .outputs(2)
            .emit(), @"parse: 1 rows of coefficients for 2 class labels: zant compiles one row per class of three or more classes (ONNX Runtime's binary rules are not implemented)");
    }
}
