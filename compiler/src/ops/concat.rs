//! Concat (opset 4: `axis` required; negative axis since 11).

use proc_macro2::TokenStream;
use quote::quote;

use super::{elem_type, normalize_axis, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
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
            .ok_or("attribute `axis` is required")?
            .as_int("axis")?;
        Ok(Self { axis })
    }
}

impl OpKind for Concat {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let parts: Vec<&TensorType> = inputs
            .iter()
            .map(|i| i.ok_or("inputs are required"))
            .collect::<Result<_, _>>()?;
        let first = parts.first().ok_or("Concat needs an input")?;
        let axis = normalize_axis(self.axis, first.rank())?;
        let mut shape = first.shape.clone();
        shape[axis] = 0;
        for p in &parts {
            if p.dtype != first.dtype || p.rank() != first.rank() {
                return Err(OpError::Other(format!(
                    "cannot concatenate {p} with {first}"
                )));
            }
            for (d, (&a, &b)) in p.shape.iter().zip(&first.shape).enumerate() {
                if d != axis && a != b {
                    return Err(OpError::Other(format!(
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
        run!(F32, F64, I8, U8, I16, U16, I32, U32, I64, U64, Bool);
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
