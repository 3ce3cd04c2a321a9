//! Attribute readers shared by the ops of the `ai.onnx.ml` domain: post-transforms,
//! aggregate functions, and the float lists that opset 3 also allows as double tensors
//! (`nodes_values_as_tensor`, …).

use zant_runtime::ml::{Aggregate, PostTransform};

use super::{Attribute, OpError, ParseCtx};
use crate::tensor::{DType, TensorType};

/// The ONNX name of a post-transform, as opsets 1–4 spell it (and the IR text prints it).
pub fn post_transform_name(t: PostTransform) -> &'static str {
    match t {
        PostTransform::None => "NONE",
        PostTransform::Softmax => "SOFTMAX",
        PostTransform::Logistic => "LOGISTIC",
        PostTransform::SoftmaxZero => "SOFTMAX_ZERO",
        PostTransform::Probit => "PROBIT",
    }
}

/// `post_transform`: a string up to opset 4, an int (`0` NONE … `4` PROBIT) in
/// `TreeEnsemble` of opset 5. Either spelling is read, whatever the opset.
pub fn post_transform(ctx: &ParseCtx<'_>) -> Result<PostTransform, OpError> {
    const ALL: [PostTransform; 5] = [
        PostTransform::None,
        PostTransform::Softmax,
        PostTransform::Logistic,
        PostTransform::SoftmaxZero,
        PostTransform::Probit,
    ];
    match ctx.attr("post_transform") {
        None => Ok(PostTransform::None),
        Some(Attribute::Int(i)) => usize::try_from(*i)
            .ok()
            .and_then(|i| ALL.get(i).copied())
            .ok_or_else(|| OpError::attr("post_transform", format!("{i} is not 0..=4"))),
        Some(a) => {
            let name = a.as_string("post_transform")?;
            ALL.into_iter()
                .find(|&t| post_transform_name(t) == name)
                .ok_or_else(|| {
                    OpError::attr(
                        "post_transform",
                        format!("`{name}` is not a post-transform"),
                    )
                })
        }
    }
}

/// The ONNX name of an aggregate function.
pub fn aggregate_name(a: Aggregate) -> &'static str {
    match a {
        Aggregate::Sum => "SUM",
        Aggregate::Average => "AVERAGE",
        Aggregate::Min => "MIN",
        Aggregate::Max => "MAX",
    }
}

/// `aggregate_function`: a string up to opset 4, an int (`0` AVERAGE, `1` SUM, `2` MIN,
/// `3` MAX) in opset 5; SUM when absent.
pub fn aggregate(ctx: &ParseCtx<'_>) -> Result<Aggregate, OpError> {
    const BY_CODE: [Aggregate; 4] = [
        Aggregate::Average,
        Aggregate::Sum,
        Aggregate::Min,
        Aggregate::Max,
    ];
    match ctx.attr("aggregate_function") {
        None => Ok(Aggregate::Sum),
        Some(Attribute::Int(i)) => usize::try_from(*i)
            .ok()
            .and_then(|i| BY_CODE.get(i).copied())
            .ok_or_else(|| OpError::attr("aggregate_function", format!("{i} is not 0..=3"))),
        Some(a) => {
            let name = a.as_string("aggregate_function")?;
            BY_CODE
                .into_iter()
                .find(|&t| aggregate_name(t) == name)
                .ok_or_else(|| {
                    OpError::attr(
                        "aggregate_function",
                        format!("`{name}` is not SUM, AVERAGE, MIN or MAX"),
                    )
                })
        }
    }
}

/// A list of numbers given either as `name` (floats) or, from opset 3 on, as
/// `name_as_tensor` (a float or double tensor), as `f64`; `None` when neither is there.
pub fn numbers(ctx: &ParseCtx<'_>, name: &str) -> Result<Option<Vec<f64>>, OpError> {
    let tensor_name = format!("{name}_as_tensor");
    match (ctx.attr(name), ctx.attr(&tensor_name)) {
        (Some(_), Some(_)) => Err(OpError::attr(
            name,
            format!("is given twice, also as `{tensor_name}`"),
        )),
        (Some(a), None) => Ok(Some(
            a.as_floats(name)?.into_iter().map(f64::from).collect(),
        )),
        (None, Some(a)) => tensor_numbers(a, &tensor_name).map(Some),
        (None, None) => Ok(None),
    }
}

/// A tensor attribute's values as `f64`, for a float or double tensor.
pub fn tensor_numbers(a: &Attribute, name: &str) -> Result<Vec<f64>, OpError> {
    let t = a.as_tensor(name)?;
    match t.dtype() {
        DType::F32 | DType::F64 => Ok(t.data.to_f64_vec()),
        other => Err(OpError::attr(
            name,
            format!("is {other}, not float or double"),
        )),
    }
}

/// The integer list `name`, or an empty list when the node does not set it.
pub fn ints_or_empty(ctx: &ParseCtx<'_>, name: &str) -> Result<Vec<i64>, OpError> {
    Ok(ctx.ints(name)?.unwrap_or_default())
}

/// `name` as a list of indices (non-negative ints fitting `usize`).
pub fn indices(ctx: &ParseCtx<'_>, name: &str) -> Result<Vec<usize>, OpError> {
    ints_or_empty(ctx, name)?
        .into_iter()
        .map(|v| {
            usize::try_from(v).map_err(|_| OpError::attr(name, format!("holds the negative {v}")))
        })
        .collect()
}

/// The `[batch, features]` input of a classic ML model, which must be `f32`: the dtype the
/// exporters write. (ONNX also allows doubles and integers, which zant does not compile.)
pub fn features_input(x: &TensorType) -> Result<(usize, usize), OpError> {
    if x.dtype != DType::F32 {
        return Err(OpError::unsupported(format!(
            "input X is {x}; zant compiles this op for f32 inputs only"
        )));
    }
    match x.shape[..] {
        [batch, features] => Ok((batch, features)),
        [features] => Ok((1, features)),
        _ => Err(OpError::shape(format!(
            "input X is {x}, not [batch, features]"
        ))),
    }
}
