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

use super::{elem_type, EmitCtx, OpError, OpKind, Parse, ParseCtx};
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
}

impl Parse for Loss {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let softmax = ctx.op_type == "SoftmaxCrossEntropyLoss";
        let (scores, target) = (ctx.input(0)?, ctx.input(1)?);
        if scores.dtype != DType::F32 || scores.rank() < 2 {
            return Err(OpError::Other(format!(
                "{} takes f32 scores [N, C, …], not {scores}",
                ctx.op_type
            )));
        }
        let mut target_shape = scores.shape.clone();
        target_shape.remove(1);
        if !matches!(target.dtype, DType::I32 | DType::I64) || target.shape != target_shape {
            return Err(OpError::Other(format!(
                "the target must be int32 or int64 of shape {target_shape:?}, not {target}"
            )));
        }
        let weighted = ctx.has_input(2);
        if weighted {
            let w = ctx.input(2)?;
            if w.dtype != DType::F32 || w.shape != [scores.shape[1]] {
                return Err(OpError::Other(format!(
                    "the weights must be f32 [{}], not {w}",
                    scores.shape[1]
                )));
            }
        }
        let reduction = match ctx.string("reduction", "mean")?.as_str() {
            "none" => Reduction::None,
            "sum" => Reduction::Sum,
            "mean" => Reduction::Mean,
            other => return Err(OpError::Other(format!("unknown reduction `{other}`"))),
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
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let shape_of = |i: usize| inputs.get(i).copied().flatten().map(|t| &t.shape[..]);
        if shape_of(0) != Some(&self.scores_shape[..])
            || shape_of(1) != Some(&self.target_shape()[..])
            || shape_of(2).is_some() != self.weighted
        {
            return Err(OpError::Other(
                "the inputs no longer have the shapes the node was built for".into(),
            ));
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
        let batch = self.scores_shape[0];
        let classes = self.scores_shape[1];
        let inner: usize = self.scores_shape[2..].iter().product();
        let reduction = match self.reduction {
            Reduction::None => quote!(None),
            Reduction::Sum => quote!(Sum),
            Reduction::Mean => quote!(Mean),
        };
        let ignore_index = match self.ignore_index {
            Some(i) => quote!(Some(#i)),
            None => quote!(None),
        };
        let weight = if self.weighted {
            let w = ctx.expr(2)?;
            quote!(Some(#w))
        } else {
            quote!(None)
        };
        let params = quote! {
            &rt::loss::Loss {
                batch: #batch,
                classes: #classes,
                inner: #inner,
                reduction: rt::loss::Reduction::#reduction,
                ignore_index: #ignore_index,
            }
        };
        let try_ = ctx.try_suffix();
        Ok(if self.softmax {
            let log_prob = if self.n_outputs > 1 {
                quote!(Some(y1))
            } else {
                quote!(None)
            };
            quote! {
                rt::loss::softmax_cross_entropy::<#index_type>(
                    #params, #scores, #target, #weight, y, #log_prob,
                ) #try_;
            }
        } else {
            quote! {
                rt::loss::nll_loss::<#index_type>(#params, #scores, #target, #weight, y) #try_;
            }
        })
    }
}
