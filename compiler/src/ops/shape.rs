//! Shape (opset 1; `start`/`end` since 15). Always folds: every shape is static.

use proc_macro2::TokenStream;
use quote::quote;

use super::{required, Attrs, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Shape {
    pub start: i64,
    pub end: Option<i64>,
}

impl Shape {
    fn range(&self, rank: usize) -> (usize, usize) {
        let clamp = |v: i64| {
            let v = if v < 0 {
                v.saturating_add(rank as i64)
            } else {
                v
            };
            v.clamp(0, rank as i64) as usize
        };
        let start = clamp(self.start);
        let end = self.end.map_or(rank, clamp);
        (start, end.max(start))
    }

    /// The dims the op outputs.
    fn dims(&self, x: &TensorType) -> Vec<i64> {
        let (start, end) = self.range(x.rank());
        x.shape[start..end].iter().map(|&d| d as i64).collect()
    }
}

impl Parse for Shape {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        Ok(Self {
            start: ctx.int("start", 0)?,
            end: ctx.attr("end").map(|a| a.as_int("end")).transpose()?,
        })
    }
}

impl OpKind for Shape {
    /// It reads the input's shape, never its elements.
    fn narrow(&self) -> super::NarrowSupport {
        super::NarrowSupport::Native
    }

    fn attrs(&self, attrs: &mut Attrs) {
        if self.start != 0 {
            attrs.int("start", self.start);
        }
        if let Some(end) = self.end {
            attrs.int("end", end);
        }
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        let (start, end) = self.range(x.rank());
        Ok(vec![TensorType::new(DType::I64, vec![end - start])])
    }

    fn folds_from_types(&self) -> bool {
        true
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = required(&ctx.inputs, 0)?;
        Ok(Some(vec![Tensor::from_i64s(self.dims(x))]))
    }

    /// The import folds every Shape node; a graph built otherwise (from IR text, say)
    /// still gets the dims, written out as constants.
    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let dims = self.dims(ctx.input(0)?.ty);
        Ok(quote! { y.copy_from_slice(&[#(#dims),*]); })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::{node, parse_type};
    use crate::ops::{EmitCtx, OpKind, Operand};

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("Shape").input("f32[1,3,224,224]").emit(), @"
        Shape(f32[1,3,224,224]) -> i64[4]
        folds to i64[4] [1, 3, 224, 224]
        ");
        insta::assert_snapshot!(node("Shape").int("start", 1).int("end", -1).input("f32[1,3,224,224]").emit(), @"
        Shape(f32[1,3,224,224]) start=1 end=-1 -> i64[2]
        folds to i64[2] [3, 224]
        ");
    }

    /// The node builder folds every Shape, as the import does; emission is what a graph
    /// that skipped folding gets.
    #[test]
    fn emits_unfolded() {
        let x = parse_type("f32[2,3,5]");
        let op = super::Shape {
            start: -2,
            end: None,
        };
        let ctx = EmitCtx {
            node_name: "node",
            inputs: vec![Some(Operand {
                expr: quote::quote!(x0),
                ty: &x,
                value: None,
            })],
            outputs: vec![],
            in_place: None,
            lead: None,
            kernels: zant_runtime::target::KernelSet::ANY,
        };
        assert_eq!(
            op.emit(&ctx).unwrap().to_string(),
            "y . copy_from_slice (& [3i64 , 5i64]) ;"
        );
    }
}
