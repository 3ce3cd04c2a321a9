//! Ops that only change the shape, never the bytes: Reshape (opset 5, `allowzero` since 14),
//! Flatten (negative axis since 11), Squeeze and Unsqueeze (axes move from attribute to
//! input in opset 13), Identity, and Dropout in inference mode.
//!
//! The memory plan lets the output share the input's storage, so these usually cost nothing.

use proc_macro2::TokenStream;
use quote::quote;

use super::{normalize_axis, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Reshape {
    /// The output shape, resolved at compile time.
    pub shape: Vec<usize>,
}

impl Parse for Reshape {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let x = ctx.input(0)?;
        let dims = &x.shape;
        let shape = match ctx.op_type {
            "Reshape" => {
                let target = ctx.absorb(1, "shape")?.to_i64s();
                let allow_zero = ctx.int("allowzero", 0)? != 0;
                reshape_target(dims, &target, allow_zero)?
            }
            "Flatten" => {
                let axis = ctx.int("axis", 1)?;
                let axis = if axis == dims.len() as i64 {
                    dims.len()
                } else {
                    normalize_axis(axis, dims.len())?
                };
                vec![dims[..axis].iter().product(), dims[axis..].iter().product()]
            }
            "Squeeze" => {
                let axes = axes(ctx)?;
                match axes {
                    None => dims.iter().copied().filter(|&d| d != 1).collect(),
                    Some(axes) => {
                        let axes = axes
                            .iter()
                            .map(|&a| normalize_axis(a, dims.len()))
                            .collect::<Result<Vec<_>, _>>()?;
                        for &a in &axes {
                            if dims[a] != 1 {
                                return Err(OpError::Other(format!(
                                    "cannot squeeze axis {a} of extent {}",
                                    dims[a]
                                )));
                            }
                        }
                        dims.iter()
                            .enumerate()
                            .filter(|(i, _)| !axes.contains(i))
                            .map(|(_, &d)| d)
                            .collect()
                    }
                }
            }
            "Unsqueeze" => {
                let axes = axes(ctx)?.ok_or("Unsqueeze needs axes")?;
                let rank = dims.len() + axes.len();
                let mut axes = axes
                    .iter()
                    .map(|&a| normalize_axis(a, rank))
                    .collect::<Result<Vec<_>, _>>()?;
                axes.sort_unstable();
                if axes.windows(2).any(|w| w[0] == w[1]) {
                    return Err(OpError::Other(format!("repeated axis in {axes:?}")));
                }
                let mut rest = dims.iter();
                (0..rank)
                    .map(|i| {
                        if axes.contains(&i) {
                            1
                        } else {
                            *rest.next().expect("rank")
                        }
                    })
                    .collect()
            }
            "Dropout" => {
                if ctx.has_input(2) {
                    let training = ctx.absorb(2, "training_mode")?.to_i64s();
                    if training.first().copied().unwrap_or(0) != 0 {
                        return Err(OpError::Other(
                            "training_mode is true; zant compiles inference only".into(),
                        ));
                    }
                }
                if ctx.has_input(1) {
                    ctx.absorb(1, "ratio")?;
                }
                dims.clone()
            }
            _ => dims.clone(),
        };
        Ok(Self { shape })
    }
}

impl OpKind for Reshape {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = inputs
            .first()
            .copied()
            .flatten()
            .ok_or("input 0 is required")?;
        let n: usize = self.shape.iter().product();
        if n != x.n_elems() {
            return Err(OpError::Other(format!(
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
                format!("target {target:?} copies dim {i}, which the input lacks")
            })?,
            t if t >= 0 => t as usize,
            _ => return Err(OpError::Other(format!("invalid reshape target {target:?}"))),
        });
    }
    let known: usize = shape.iter().product();
    if let Some(i) = infer_at {
        if known == 0 || !n.is_multiple_of(known) {
            return Err(OpError::Other(format!(
                "cannot reshape {dims:?} to {target:?}"
            )));
        }
        shape[i] = n / known;
    } else if known != n {
        return Err(OpError::Other(format!(
            "cannot reshape {dims:?} to {target:?}"
        )));
    }
    Ok(shape)
}
