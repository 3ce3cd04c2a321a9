//! NegativeLogLikelihoodLoss (opset 12; 13 and 22 widen the types) and
//! SoftmaxCrossEntropyLoss (opset 12; 13 widens the types, with its optional `log_prob`
//! output), which share the `rt::loss` kernels.
//!
//! Scores are `[N, C]` or `[N, C, d1, …, dk]` and targets (int32 or int64) the same without
//! `C`; `weights`, when given, hold one value per class. `reduction` is `none`, `sum` or
//! `mean` (the weighted mean `Σ w·l / Σ w`, ignored samples weighing 0). A target out of
//! `0..C` that is not `ignore_index` is a run-time error.

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::loss::Reduction;
use zant_runtime::tokens::Param;

use super::{elem_type, required, Attrs, EmitCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Loss {
    /// SoftmaxCrossEntropyLoss: the scores are logits, not log-probabilities.
    pub softmax: bool,
    pub scores_shape: Vec<usize>,
    pub reduction: Reduction,
    pub ignore_index: Option<i64>,
    pub weighted: bool,
    /// The loss, then SoftmaxCrossEntropyLoss's `log_prob`.
    pub n_outputs: usize,
}

impl Loss {
    fn target_shape(&self) -> Vec<usize> {
        let mut shape = self.scores_shape.clone();
        shape.remove(1);
        shape
    }

    /// The kernel's parameters: the scores seen as `[batch, classes, inner]`.
    fn params(&self) -> zant_runtime::loss::Loss {
        zant_runtime::loss::Loss {
            batch: self.scores_shape[0],
            classes: self.scores_shape[1],
            inner: self.scores_shape[2..].iter().product(),
            reduction: self.reduction,
            ignore_index: self.ignore_index,
        }
    }
}

impl Parse for Loss {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let softmax = ctx.op_type == "SoftmaxCrossEntropyLoss";
        let (scores, target) = (ctx.input(0)?, ctx.input(1)?);
        if scores.dtype != DType::F32 {
            return Err(OpError::unsupported(format!(
                "implemented for f32 scores, not {scores}"
            )));
        }
        if scores.rank() < 2 {
            return Err(OpError::shape(format!(
                "the scores {scores} are not [N, C, …]"
            )));
        }
        let mut target_shape = scores.shape.clone();
        target_shape.remove(1);
        if !matches!(target.dtype, DType::I32 | DType::I64) || target.shape != target_shape {
            return Err(OpError::shape(format!(
                "the target must be int32 or int64 of shape {target_shape:?}, not {target}"
            )));
        }
        let weighted = ctx.has_input(2);
        if weighted {
            let w = ctx.input(2)?;
            if w.dtype != DType::F32 || w.shape != [scores.shape[1]] {
                return Err(OpError::shape(format!(
                    "the weights must be f32 [{}] like the scores, not {w}",
                    scores.shape[1]
                )));
            }
        }
        let reduction = match ctx.string("reduction", "mean")?.as_str() {
            "none" => Reduction::None,
            "sum" => Reduction::Sum,
            "mean" => Reduction::Mean,
            other => {
                return Err(OpError::attr(
                    "reduction",
                    format!("`{other}` is not none, sum or mean"),
                ))
            }
        };
        let ignore_index = match ctx.attr("ignore_index") {
            Some(_) => Some(ctx.int("ignore_index", 0)?),
            None => None,
        };
        Ok(Self {
            softmax,
            scores_shape: scores.shape.clone(),
            reduction,
            ignore_index,
            weighted,
            n_outputs: if softmax {
                ctx.n_outputs.clamp(1, 2)
            } else {
                1
            },
        })
    }
}

impl OpKind for Loss {
    fn attrs(&self, attrs: &mut Attrs) {
        // The runtime's variant names are the ONNX names capitalised.
        attrs.string("reduction", &self.reduction.name().to_lowercase());
        if let Some(index) = self.ignore_index {
            attrs.int("ignore_index", index);
        }
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let (scores, target) = (required(inputs, 0)?, required(inputs, 1)?);
        let has_weights = inputs.get(2).copied().flatten().is_some();
        if scores.shape != self.scores_shape
            || target.shape != self.target_shape()
            || has_weights != self.weighted
        {
            return Err(OpError::shape(format!(
                "the scores {scores} and target {target} no longer have the shapes the node was built for"
            )));
        }
        let loss_shape = match self.reduction {
            Reduction::None => self.target_shape(),
            Reduction::Sum | Reduction::Mean => vec![],
        };
        let mut outputs = vec![TensorType::new(DType::F32, loss_shape)];
        if self.n_outputs > 1 {
            outputs.push(TensorType::new(DType::F32, self.scores_shape.clone()));
        }
        Ok(outputs)
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let (scores, target) = (ctx.expr(0)?, ctx.input(1)?);
        let (target, index_type) = (&target.expr, elem_type(target.ty.dtype));
        let weight = if self.weighted {
            let w = ctx.expr(2)?;
            quote!(Some(#w))
        } else {
            quote!(None)
        };
        let params = self.params();
        let try_ = ctx.try_suffix();
        Ok(if self.softmax {
            let log_prob = if self.n_outputs > 1 {
                quote!(Some(y1))
            } else {
                quote!(None)
            };
            quote! {
                rt::loss::softmax_cross_entropy::<#index_type>(
                    &#params, #scores, #target, #weight, y, #log_prob,
                ) #try_;
            }
        } else {
            quote! {
                rt::loss::nll_loss::<#index_type>(&#params, #scores, #target, #weight, y) #try_;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("NegativeLogLikelihoodLoss")
            .input("f32[2,3]")
            .input("i64[2]")
            .emit(), @r#"
        NegativeLogLikelihoodLoss(f32[2,3], i64[2]) reduction="mean" -> f32[]
        rt::loss::nll_loss::<
            i64,
        >(
                &rt::loss::Loss {
                    batch: 2,
                    classes: 3,
                    inner: 1,
                    reduction: rt::loss::Reduction::Mean,
                    ignore_index: None,
                },
                x0,
                x1,
                None,
                y,
            )
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        insta::assert_snapshot!(node("NegativeLogLikelihoodLoss")
            .string("reduction", "none")
            .int("ignore_index", -1)
            .input("f32[2,3,4]")
            .input("i32[2,4]")
            .input("f32[3]")
            .emit(), @r#"
        NegativeLogLikelihoodLoss(f32[2,3,4], i32[2,4], f32[3]) reduction="none" ignore_index=-1 -> f32[2,4]
        rt::loss::nll_loss::<
            i32,
        >(
                &rt::loss::Loss {
                    batch: 2,
                    classes: 3,
                    inner: 4,
                    reduction: rt::loss::Reduction::None,
                    ignore_index: Some(-1i64),
                },
                x0,
                x1,
                Some(x2),
                y,
            )
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        insta::assert_snapshot!(node("SoftmaxCrossEntropyLoss")
            .string("reduction", "sum")
            .input("f32[2,3]")
            .input("i64[2]")
            .outputs(2)
            .emit(), @r#"
        SoftmaxCrossEntropyLoss(f32[2,3], i64[2]) reduction="sum" -> f32[], f32[2,3]
        rt::loss::softmax_cross_entropy::<
            i64,
        >(
                &rt::loss::Loss {
                    batch: 2,
                    classes: 3,
                    inner: 1,
                    reduction: rt::loss::Reduction::Sum,
                    ignore_index: None,
                },
                x0,
                x1,
                None,
                y,
                Some(y1),
            )
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("SoftmaxCrossEntropyLoss")
            .string("reduction", "max")
            .input("f32[2,3]")
            .input("i64[2]")
            .emit(), @"parse: attribute `reduction`: `max` is not none, sum or mean");
        insta::assert_snapshot!(node("NegativeLogLikelihoodLoss")
            .input("f32[2,3]")
            .input("i64[3]")
            .emit(), @"parse: the target must be int32 or int64 of shape [2], not i64[3]");
    }
}
