//! Ops that only change the shape, never the bytes: Reshape (opset 5, `allowzero` since 14),
//! Flatten (negative axis since 11), Squeeze and Unsqueeze (axes move from attribute to
//! input in opset 13), Identity, and Dropout in inference mode.
//!
//! The memory plan lets the output share the input's storage, so these usually cost nothing.

use proc_macro2::TokenStream;
use quote::quote;

use super::{normalize_axis, required, Attrs, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Reshape {
    /// The output shape, resolved at compile time.
    pub shape: Vec<usize>,
    /// What the node asked for, which the IR text shows under the ONNX names.
    pub view: View,
}

/// The ONNX description of a view, kept so the IR text reads back as the same op.
#[derive(Clone, Debug, PartialEq)]
pub enum View {
    /// Reshape to the target shape; `allowzero` makes a `0` in the target a real 0.
    Reshape { allow_zero: bool },
    /// Flatten at `axis` (normalised; the rank itself is allowed).
    Flatten { axis: usize },
    /// Squeeze of these axes (normalised and sorted; every dim of 1 when none are given).
    Squeeze { axes: Vec<usize> },
    /// Unsqueeze at these output axes (normalised and sorted).
    Unsqueeze { axes: Vec<usize> },
    /// Identity, and Dropout in inference mode.
    Same,
}

impl Parse for Reshape {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let x = ctx.input(0)?;
        let dims = &x.shape;
        let (shape, view) = match ctx.op_type {
            "Reshape" => {
                let target = ctx.absorb(1, "shape")?.to_i64s();
                let allow_zero = ctx.int("allowzero", 0)? != 0;
                let shape = reshape_target(dims, &target, allow_zero)?;
                (shape, View::Reshape { allow_zero })
            }
            "Flatten" => {
                let axis = ctx.int("axis", 1)?;
                let axis = if axis == dims.len() as i64 {
                    dims.len()
                } else {
                    normalize_axis(axis, dims.len())?
                };
                let shape = vec![dims[..axis].iter().product(), dims[axis..].iter().product()];
                (shape, View::Flatten { axis })
            }
            "Squeeze" => {
                let mut axes: Vec<usize> = match axes(ctx)? {
                    None => (0..dims.len()).filter(|&a| dims[a] == 1).collect(),
                    Some(axes) => axes
                        .iter()
                        .map(|&a| normalize_axis(a, dims.len()))
                        .collect::<Result<_, _>>()?,
                };
                axes.sort_unstable();
                axes.dedup();
                // A scalar's axis 0 passes `normalize_axis` (which takes it for ops on
                // scalars) but has no extent to squeeze.
                if let Some(&a) = axes.iter().find(|&&a| dims.get(a) != Some(&1)) {
                    return Err(OpError::shape(match dims.get(a) {
                        Some(d) => format!("cannot squeeze axis {a} of extent {d}"),
                        None => format!("cannot squeeze axis {a} of a scalar"),
                    }));
                }
                let shape = dims
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !axes.contains(i))
                    .map(|(_, &d)| d)
                    .collect();
                (shape, View::Squeeze { axes })
            }
            "Unsqueeze" => {
                let axes = axes(ctx)?.ok_or(if ctx.opset >= 13 {
                    OpError::MissingInput { input: 1 }
                } else {
                    OpError::attr("axes", "is required")
                })?;
                let rank = dims.len() + axes.len();
                let mut axes = axes
                    .iter()
                    .map(|&a| normalize_axis(a, rank))
                    .collect::<Result<Vec<_>, _>>()?;
                axes.sort_unstable();
                if axes.windows(2).any(|w| w[0] == w[1]) {
                    return Err(OpError::shape(format!("axes {axes:?} repeat an axis")));
                }
                // The axes are distinct and below `rank`, so exactly `dims.len()` output
                // positions are left for the input's dims.
                let mut rest = dims.iter();
                let shape = (0..rank)
                    .map(|i| {
                        if axes.contains(&i) {
                            1
                        } else {
                            rest.next().copied().unwrap_or(1)
                        }
                    })
                    .collect();
                (shape, View::Unsqueeze { axes })
            }
            "Dropout" => {
                let training = ctx.has_input(2)
                    && ctx.absorb(2, "training_mode")?.to_i64s().first() != Some(&0);
                let ratio = if ctx.has_input(1) {
                    ctx.absorb(1, "ratio")?.data.to_f64_vec().first().copied()
                } else {
                    None
                };
                // In training mode each value is dropped at random with probability
                // `ratio` (0.5 when absent) and the rest scaled by 1 / (1 − ratio): only
                // a ratio of 0, which keeps every value unscaled, is deterministic.
                if training && ratio != Some(0.0) {
                    return Err(OpError::unsupported(format!(
                        "training_mode is true with a ratio of {}: zant compiles inference \
                         only (a training-mode Dropout compiles only with a ratio of 0)",
                        ratio.unwrap_or(0.5)
                    )));
                }
                (dims.clone(), View::Same)
            }
            _ => (dims.clone(), View::Same),
        };
        Ok(Self { shape, view })
    }
}

impl OpKind for Reshape {
    fn attrs(&self, attrs: &mut Attrs) {
        match &self.view {
            View::Reshape { allow_zero } => {
                // The target is an absorbed input; the resolved shape is what the view uses.
                attrs.usizes("shape", &self.shape);
                if *allow_zero {
                    attrs.int("allowzero", 1);
                }
            }
            View::Flatten { axis } => {
                attrs.int("axis", *axis as i64);
            }
            View::Squeeze { axes } | View::Unsqueeze { axes } => {
                attrs.usizes("axes", axes);
            }
            View::Same => {}
        }
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        let n: usize = self.shape.iter().product();
        if n != x.n_elems() {
            return Err(OpError::shape(format!(
                "cannot view {x} as {:?}",
                self.shape
            )));
        }
        Ok(vec![TensorType::new(x.dtype, self.shape.clone())])
    }

    fn fold(&self, ctx: &super::FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        Ok(Some(vec![Tensor::new(self.shape.clone(), x.data.clone())]))
    }

    fn emit(&self, ctx: &super::EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.expr(0)?;
        Ok(quote! { rt::shape::copy(#x, y); })
    }

    fn is_view(&self) -> bool {
        true
    }
}

/// Squeeze/Unsqueeze axes: an attribute before opset 13, an optional input from 13 on.
fn axes(ctx: &ParseCtx<'_>) -> Result<Option<Vec<i64>>, OpError> {
    if ctx.opset >= 13 {
        Ok(ctx.absorb_optional(1, "axes")?.map(|t| t.to_i64s()))
    } else {
        ctx.ints("axes")
    }
}

/// Resolves a Reshape target: `0` copies the input dim (unless `allowzero`), `-1` is inferred.
pub fn reshape_target(
    dims: &[usize],
    target: &[i64],
    allow_zero: bool,
) -> Result<Vec<usize>, OpError> {
    let n: usize = dims.iter().product();
    let mut shape = Vec::with_capacity(target.len());
    let mut infer_at = None;
    for (i, &t) in target.iter().enumerate() {
        shape.push(match t {
            -1 if infer_at.is_none() => {
                infer_at = Some(i);
                1
            }
            0 if !allow_zero => *dims.get(i).ok_or_else(|| {
                OpError::shape(format!(
                    "target {target:?} copies dim {i}, which the input lacks"
                ))
            })?,
            t if t >= 0 => t as usize,
            _ => return Err(OpError::shape(format!("invalid reshape target {target:?}"))),
        });
    }
    let known = super::checked_elems(&shape)?;
    if let Some(i) = infer_at {
        if known == 0 || !n.is_multiple_of(known) {
            return Err(OpError::shape(format!(
                "cannot reshape {dims:?} to {target:?}"
            )));
        }
        shape[i] = n / known;
    } else if known != n {
        return Err(OpError::shape(format!(
            "cannot reshape {dims:?} to {target:?}"
        )));
    }
    Ok(shape)
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::{i64s, node};
    use crate::tensor::{Data, Tensor};

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("Reshape").input("f32[2,3,4]").constant(i64s(&[0, -1])).emit(), @"
        Reshape(f32[2,3,4]) shape=[2,12] -> f32[2,12]
        rt::shape::copy(x0, y);
        ");
        insta::assert_snapshot!(node("Reshape").int("allowzero", 1).input("f32[0,3]").constant(i64s(&[3, 0])).emit(), @"
        Reshape(f32[0,3]) shape=[3,0] allowzero=1 -> f32[3,0]
        rt::shape::copy(x0, y);
        ");
        insta::assert_snapshot!(node("Flatten").int("axis", -1).input("f32[2,3,4]").emit(), @"
        Flatten(f32[2,3,4]) axis=2 -> f32[6,4]
        rt::shape::copy(x0, y);
        ");
        insta::assert_snapshot!(node("Squeeze").opset(11).ints("axes", &[-1, 0]).input("f32[1,3,1]").emit(), @"
        Squeeze(f32[1,3,1]) axes=[0,2] -> f32[3]
        rt::shape::copy(x0, y);
        ");
        insta::assert_snapshot!(node("Squeeze").input("f32[1,3,1]").emit(), @"
        Squeeze(f32[1,3,1]) axes=[0,2] -> f32[3]
        rt::shape::copy(x0, y);
        ");
        insta::assert_snapshot!(node("Unsqueeze").input("f32[2,3]").constant(i64s(&[-1, 0])).emit(), @"
        Unsqueeze(f32[2,3]) axes=[0,3] -> f32[1,2,3,1]
        rt::shape::copy(x0, y);
        ");
        insta::assert_snapshot!(node("Identity").input("i64[4]").emit(), @"
        Identity(i64[4]) -> i64[4]
        rt::shape::copy(x0, y);
        ");
        insta::assert_snapshot!(node("Dropout").input("f32[2,2]").constant(Tensor::scalar_f32(0.5)).emit(), @"
        Dropout(f32[2,2]) -> f32[2,2]
        rt::shape::copy(x0, y);
        ");
        insta::assert_snapshot!(node("Reshape").constant(i64s(&[1, 2, 3, 4])).constant(i64s(&[2, 2])).emit(), @"
        Reshape(i64[4]) shape=[2,2] -> i64[2,2]
        folds to i64[2,2] [1, 2, 3, 4]
        ");
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("Reshape").input("f32[2,3]").input("i64[2]").emit(), @"parse: input 1 (shape) must be a compile-time constant; zant compiles static shapes only");
        insta::assert_snapshot!(node("Reshape").input("f32[2,3]").constant(i64s(&[4, -1])).emit(), @"parse: cannot reshape [2, 3] to [4, -1]");
        insta::assert_snapshot!(node("Squeeze").input("f32[1,3]").constant(i64s(&[1])).emit(), @"parse: cannot squeeze axis 1 of extent 3");
        // A scalar's axis 0 (found by the fuzzer: it had indexed past the dims).
        insta::assert_snapshot!(node("Squeeze").input("f32[]").constant(i64s(&[0])).emit(), @"parse: cannot squeeze axis 0 of a scalar");
        insta::assert_snapshot!(node("Unsqueeze").opset(11).input("f32[2]").emit(), @"parse: attribute `axes`: is required");
        insta::assert_snapshot!(node("Unsqueeze").input("f32[2]").constant(i64s(&[0, -3])).emit(), @"parse: axes [0, 0] repeat an axis");
        insta::assert_snapshot!(node("Dropout").input("f32[2]").omitted().constant(Tensor::new(vec![], Data::Bool(vec![1]))).emit(), @"parse: training_mode is true with a ratio of 0.5: zant compiles inference only (a training-mode Dropout compiles only with a ratio of 0)");
    }
}
