//! Concat (opset 4: `axis` required; negative axis since 11).

use proc_macro2::TokenStream;
use quote::quote;

use super::{
    elem_type, normalize_axis, required, Attrs, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx,
};
use crate::tensor::{Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Concat {
    pub axis: i64,
}

impl Concat {
    fn layout(
        &self,
        out: &[usize],
        parts: &[&TensorType],
    ) -> Result<(usize, usize, Vec<usize>), OpError> {
        let axis = normalize_axis(self.axis, out.len())?;
        let outer = out[..axis].iter().product();
        let inner = out[axis + 1..].iter().product();
        Ok((outer, inner, parts.iter().map(|p| p.shape[axis]).collect()))
    }
}

impl Parse for Concat {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let axis = ctx
            .attr("axis")
            .ok_or_else(|| OpError::attr("axis", "is required"))?
            .as_int("axis")?;
        Ok(Self { axis })
    }
}

impl OpKind for Concat {
    /// It moves whole elements, so it takes the narrow types as stored.
    fn narrow(&self) -> super::NarrowSupport {
        super::NarrowSupport::Moves
    }

    fn attrs(&self, attrs: &mut Attrs) {
        attrs.int("axis", self.axis);
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let first = required(inputs, 0)?;
        let parts: Vec<&TensorType> = (0..inputs.len())
            .map(|i| required(inputs, i))
            .collect::<Result<_, _>>()?;
        if first.rank() == 0 {
            return Err(OpError::shape(format!(
                "cannot concatenate scalars like {first}"
            )));
        }
        let axis = normalize_axis(self.axis, first.rank())?;
        let mut shape = first.shape.clone();
        shape[axis] = 0;
        for p in &parts {
            if p.dtype != first.dtype || p.rank() != first.rank() {
                return Err(OpError::shape(format!(
                    "cannot concatenate {p} with {first}"
                )));
            }
            for (d, (&a, &b)) in p.shape.iter().zip(&first.shape).enumerate() {
                if d != axis && a != b {
                    return Err(OpError::shape(format!(
                        "cannot concatenate {p} with {first} along axis {axis}"
                    )));
                }
            }
            shape[axis] += p.shape[axis];
        }
        Ok(vec![TensorType::new(first.dtype, shape)])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let parts: Vec<&Tensor> = (0..ctx.consts.len())
            .map(|i| ctx.get(i))
            .collect::<Result<_, _>>()?;
        let out_ty = &ctx.outputs[0];
        let types: Vec<TensorType> = parts.iter().map(|p| p.ty()).collect();
        let (outer, inner, lens) = self.layout(&out_ty.shape, &types.iter().collect::<Vec<_>>())?;
        let mut out = Data::zeros(out_ty.dtype, out_ty.n_elems());
        macro_rules! run {
            ($($variant:ident),*) => {
                match &mut out {
                    $(Data::$variant(y) => {
                        let xs: Vec<&[_]> = parts.iter().map(|p| match &p.data {
                            Data::$variant(v) => v.as_slice(),
                            _ => unreachable!("same dtype"),
                        }).collect();
                        zant_runtime::shape::concat(&xs, &lens, outer, inner, y);
                    })*
                }
            };
        }
        crate::all_dtypes!(run);
        Ok(Some(vec![Tensor::new(out_ty.shape.clone(), out)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let parts: Vec<_> = (0..ctx.inputs.len())
            .map(|i| ctx.input(i))
            .collect::<Result<_, _>>()?;
        let types: Vec<&TensorType> = parts.iter().map(|p| p.ty).collect();
        let (outer, inner, lens) = self.layout(&ctx.out_ty().shape, &types)?;
        let exprs = parts.iter().map(|p| &p.expr);
        let t = elem_type(ctx.out_ty().dtype);
        Ok(quote! {
            rt::shape::concat::<#t>(&[#(#exprs),*], &[#(#lens),*], #outer, #inner, y);
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::Tensor;

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("Concat").int("axis", -1).input("f32[2,3]").input("f32[2,1]").emit(), @"
        Concat(f32[2,3], f32[2,1]) axis=-1 -> f32[2,4]
        rt::shape::concat::<f32>(&[x0, x1], &[3, 1], 2, 1, y);
        ");
        insta::assert_snapshot!(node("Concat").int("axis", 0).constant(Tensor::from_i64s(vec![1, 2])).constant(Tensor::from_i64s(vec![3])).emit(), @"
        Concat(i64[2], i64[1]) axis=0 -> i64[3]
        folds to i64[3] [1, 2, 3]
        ");
        insta::assert_snapshot!(node("Concat").input("f32[2]").emit(), @"parse: attribute `axis`: is required");
        insta::assert_snapshot!(node("Concat").int("axis", 0).input("f32[2,3]").input("f32[2,1]").emit(), @"infer: cannot concatenate f32[2,1] with f32[2,3] along axis 0");
    }
}
