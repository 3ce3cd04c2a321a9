//! Control flow: `If` (opsets 1–28; 11 allows empty tensors in the branches, 13 and later
//! add optional and sequence types, which zant does not compile), `Loop` (1–28; 11 makes
//! the scan outputs' shapes static per iteration) and `Scan` (8: a batch axis and
//! `sequence_lens`; 9 on: per-input axes and directions).
//!
//! All three are taken apart when the model is imported (`onnx::control`): a `Loop` with a
//! known trip count and a `Scan` are unrolled, an `If` whose condition is a constant is
//! replaced by its taken branch, and the branches of an `If` whose condition comes at run
//! time become nodes of the graph like any other, each guarded by its branch's [`Gate`]
//! (`ir::Node::guard`): the generated code runs a guarded node only when the gate's
//! condition holds. Two ops of this file remain in the IR, both under the ONNX type `If`:
//!
//! - [`Gate`], `If(%cond, %x, ..) branch="then"`: the entry of a branch. Its outputs are
//!   views of the outer values the branch reads, so every node of the branch depends on
//!   the gate, and through it on the condition, and the memory plan keeps those values
//!   alive while the branch may read them. It runs no code.
//! - [`Select`], `If(%cond, %then.., %else..)`: the `If`'s outputs, copied from the
//!   branch that ran.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::{Attrs, EmitCtx, FoldCtx, Op, OpError, OpKind, ParseCtx};
use crate::tensor::{DType, Tensor, TensorType};

/// The entry of a branch that runs when the condition (input 0) is `taken`; output `k`
/// is a view of input `k + 1`.
#[derive(Clone, Debug, PartialEq)]
pub struct Gate {
    pub taken: bool,
}

/// The outputs of an `If`: with `n` outputs, inputs `1..=n` are the then branch's values
/// and `n+1..=2n` the else branch's, and output `k` copies the one the condition picks.
#[derive(Clone, Debug, PartialEq)]
pub struct Select;

/// The `If` line of the op table, which reads the IR text: `branch="then"` or `"else"` makes a
/// [`Gate`], and no attribute a [`Select`]. An ONNX `If` node never gets here; import takes
/// it apart first.
pub fn parse_if(ctx: &ParseCtx<'_>) -> Result<Op, OpError> {
    match ctx.string("branch", "")?.as_str() {
        "then" => Ok(Op::Gate(Gate { taken: true })),
        "else" => Ok(Op::Gate(Gate { taken: false })),
        "" => Ok(Op::Select(Select)),
        other => Err(OpError::attr(
            "branch",
            format!("`{other}` is not then or else"),
        )),
    }
}

/// The `Loop`, `Scan` and `FlexAttention` lines of the op table: import unrolls the first
/// two and takes the last apart (`onnx::decompose`), so the IR text never holds one.
pub fn parse_unrolled(ctx: &ParseCtx<'_>) -> Result<Op, OpError> {
    Err(OpError::unsupported(format!(
        "{} is taken apart when the model is imported and has no IR form",
        ctx.op_type
    )))
}

/// Checks that `cond` is a boolean with one element, as `If` requires.
fn check_condition(cond: &TensorType) -> Result<(), OpError> {
    if cond.dtype != DType::Bool || cond.n_elems() != 1 {
        return Err(OpError::shape(format!(
            "the condition must be a bool with one element, not {cond}"
        )));
    }
    Ok(())
}

fn input_types(inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
    inputs
        .iter()
        .enumerate()
        .map(|(i, t)| t.cloned().ok_or(OpError::MissingInput { input: i }))
        .collect()
}

/// The name generated code gives output `k` of a node (see `emit::model::node_block`).
fn output_ident(k: usize) -> proc_macro2::Ident {
    if k == 0 {
        format_ident!("y")
    } else {
        format_ident!("y{}", k)
    }
}

impl OpKind for Gate {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let types = input_types(inputs)?;
        let (cond, values) = types
            .split_first()
            .ok_or(OpError::MissingInput { input: 0 })?;
        check_condition(cond)?;
        if values.is_empty() {
            return Err(OpError::shape("a gate passes at least one value on"));
        }
        Ok(values.to_vec())
    }

    fn view_of(&self, slot: usize) -> Option<usize> {
        Some(slot + 1)
    }

    /// The planner makes every output a view of its input, so this code only runs if a
    /// plan ever could not: then it copies.
    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let copies = (1..ctx.inputs.len())
            .map(|i| {
                let (y, x) = (output_ident(i - 1), ctx.expr(i)?);
                Ok(quote!(#y.copy_from_slice(#x);))
            })
            .collect::<Result<Vec<_>, OpError>>()?;
        Ok(quote!(#(#copies)*))
    }

    fn attrs(&self, attrs: &mut Attrs) {
        attrs.string("branch", if self.taken { "then" } else { "else" });
    }
}

impl OpKind for Select {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let types = input_types(inputs)?;
        let (cond, values) = types
            .split_first()
            .ok_or(OpError::MissingInput { input: 0 })?;
        check_condition(cond)?;
        if values.is_empty() || values.len() % 2 != 0 {
            return Err(OpError::shape(format!(
                "a select takes the condition and as many then values as else values, not {} values",
                values.len()
            )));
        }
        let (then, other) = values.split_at(values.len() / 2);
        for (k, (a, b)) in then.iter().zip(other).enumerate() {
            if a != b {
                return Err(OpError::shape(format!(
                    "output {k}: the then branch gives {a} and the else branch {b}; zant \
                     compiles static shapes, so both branches must give the same type \
                     (binding the condition with --bind keeps only the taken branch)"
                )));
            }
        }
        Ok(then.to_vec())
    }

    /// Folds when the condition is constant; import only builds a select for a condition
    /// that is not, but a later fold may make it one.
    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let cond = ctx.get(0)?;
        let n = ctx.outputs.len();
        let first = if cond.data.to_i64_vec().first() != Some(&0) {
            1
        } else {
            1 + n
        };
        (first..first + n)
            .map(|i| ctx.get(i).cloned())
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let n = ctx.outputs.len();
        let cond = ctx.expr(0)?;
        let copies = |first: usize| {
            (0..n)
                .map(|k| {
                    let (y, x) = (output_ident(k), ctx.expr(first + k)?);
                    Ok(quote!(#y.copy_from_slice(#x);))
                })
                .collect::<Result<Vec<_>, OpError>>()
        };
        let (then, other) = (copies(1)?, copies(1 + n)?);
        Ok(quote! {
            if (#cond)[0] != 0 {
                #(#then)*
            } else {
                #(#other)*
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;

    #[test]
    fn select_copies_the_taken_branch() {
        insta::assert_snapshot!(node("If").input("bool[]").input("f32[2]").input("i64[3]").input("f32[2]").input("i64[3]").outputs(2).emit(), @"
        If(bool[], f32[2], i64[3], f32[2], i64[3]) -> f32[2], i64[3]
        if (x0)[0] != 0 {
            y.copy_from_slice(x1);
            y1.copy_from_slice(x2);
        } else {
            y.copy_from_slice(x3);
            y1.copy_from_slice(x4);
        }
        ");
    }

    #[test]
    fn branches_must_agree() {
        insta::assert_snapshot!(node("If").input("bool[1]").input("f32[2]").input("f32[3]").emit(), @"infer: output 0: the then branch gives f32[2] and the else branch f32[3]; zant compiles static shapes, so both branches must give the same type (binding the condition with --bind keeps only the taken branch)");
    }

    #[test]
    fn a_gate_passes_values_on() {
        insta::assert_snapshot!(node("If").string("branch", "else").input("bool[]").input("f32[2,2]").emit(), @r#"
        If(bool[], f32[2,2]) branch="else" -> f32[2,2]
        y.copy_from_slice(x1);
        "#);
    }
}
