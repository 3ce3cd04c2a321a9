//! Gather (opset 1; negative indices since 11, 13 adds nothing for us). Indices read at run
//! time are checked: an index out of range is returned as an error, never a panic.

use proc_macro2::TokenStream;
use quote::quote;

use super::{elem_type, normalize_axis, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Gather {
    pub axis: i64,
}

impl Gather {
    /// `(outer, axis_len, inner)` of the data viewed around the gather axis.
    fn split(&self, data: &[usize]) -> Result<(usize, usize, usize), OpError> {
        let axis = normalize_axis(self.axis, data.len())?;
        Ok((
            data[..axis].iter().product(),
            data[axis],
            data[axis + 1..].iter().product(),
        ))
    }
}

impl Parse for Gather {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        Ok(Self {
            axis: ctx.int("axis", 0)?,
        })
    }
}

impl OpKind for Gather {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let (Some(Some(data)), Some(Some(indices))) = (inputs.first(), inputs.get(1)) else {
            return Err(OpError::Other("Gather takes data and indices".into()));
        };
        if !matches!(indices.dtype, DType::I32 | DType::I64) {
            return Err(OpError::Other(format!(
                "indices must be int32 or int64, not {}",
                indices.dtype
            )));
        }
        let axis = normalize_axis(self.axis, data.rank())?;
        let mut shape = data.shape[..axis].to_vec();
        shape.extend(&indices.shape);
        shape.extend(&data.shape[axis + 1..]);
        Ok(vec![TensorType::new(data.dtype, shape)])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let (data, indices) = (ctx.get(0)?, ctx.get(1)?);
        let (outer, axis_len, inner) = self.split(&data.shape)?;
        let idx = indices.to_i64s();
        let out_ty = &ctx.outputs[0];
        let mut out = Data::zeros(data.dtype(), out_ty.n_elems());
        macro_rules! run {
            ($($variant:ident),*) => {
                match (&data.data, &mut out) {
                    $((Data::$variant(x), Data::$variant(y)) => {
                        zant_runtime::shape::gather(x, outer, axis_len, inner, &idx, y)
                    })*
                    _ => unreachable!("same dtype"),
                }
            };
        }
        run!(F32, F64, I8, U8, I16, U16, I32, U32, I64, U64, Bool).map_err(|e| e.to_string())?;
        Ok(Some(vec![Tensor::new(out_ty.shape.clone(), out)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let data = ctx.input(0)?;
        let (outer, axis_len, inner) = self.split(&data.ty.shape)?;
        let x = &data.expr;
        let indices = ctx.expr(1)?;
        let t = elem_type(data.ty.dtype);
        let try_ = ctx.try_suffix();
        Ok(quote! {
            rt::shape::gather::<#t, _>(#x, #outer, #axis_len, #inner, #indices, y) #try_;
        })
    }
}
