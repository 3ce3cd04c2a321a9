//! GatherElements (opset 11 on; 13 adds types): `y[i][j] = data[indices[i][j]][j]` along
//! one axis; `y` has the shape of `indices`. Indices are checked at run time.

use proc_macro2::TokenStream;
use quote::quote;

use super::{
    elem_type, normalize_axis, required, shape_tokens, Attrs, EmitCtx, FoldCtx, OpError, OpKind,
    Parse, ParseCtx,
};
use crate::tensor::{DType, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct GatherElements {
    pub axis: i64,
}

impl Parse for GatherElements {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        Ok(Self {
            axis: ctx.int("axis", 0)?,
        })
    }
}

impl OpKind for GatherElements {
    /// It moves whole elements, so it takes the narrow types as stored.
    fn narrow(&self) -> super::NarrowSupport {
        super::NarrowSupport::Moves
    }

    fn attrs(&self, attrs: &mut Attrs) {
        attrs.int("axis", self.axis);
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let (data, indices) = (required(inputs, 0)?, required(inputs, 1)?);
        super::transpose::supported_rank(data)?;
        if data.rank() == 0 {
            return Err(OpError::shape(format!(
                "cannot gather from the scalar {data}"
            )));
        }
        let axis = normalize_axis(self.axis, data.rank())?;
        // Off the axis, an index names its own position, which must exist in `data`.
        let fits = indices.rank() == data.rank()
            && (0..data.rank()).all(|d| d == axis || indices.shape[d] <= data.shape[d]);
        if !matches!(indices.dtype, DType::I32 | DType::I64) || !fits {
            return Err(OpError::shape(format!(
                "indices {indices} do not fit data {data}"
            )));
        }
        Ok(vec![TensorType::new(data.dtype, indices.shape.clone())])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let (data, indices) = (ctx.get(0)?, ctx.get(1)?);
        let axis = normalize_axis(self.axis, data.shape.len())?;
        let idx = indices.to_i64s();
        let out = &ctx.outputs[0];
        let values = crate::with_data!(&data.data, v => {
            let mut y = vec![Default::default(); out.n_elems()];
            zant_runtime::index::gather_elements(v, &data.shape, &idx, &indices.shape, axis, &mut y)?;
            super::retag(y, data.dtype())
        });
        Ok(Some(vec![Tensor::new(out.shape.clone(), values)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let (data, indices) = (ctx.input(0)?, ctx.input(1)?);
        let axis = normalize_axis(self.axis, data.ty.rank())?;
        let (de, ds) = (&data.expr, shape_tokens(&data.ty.shape));
        let (ie, is) = (&indices.expr, shape_tokens(&indices.ty.shape));
        let t = elem_type(data.ty.dtype);
        let try_ = ctx.try_suffix();
        Ok(quote! { rt::index::gather_elements::<#t, _>(#de, #ds, #ie, #is, #axis, y) #try_; })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("GatherElements").int("axis", 1).input("f32[2,3]").input("i64[2,2]").emit(), @r#"
        GatherElements(f32[2,3], i64[2,2]) axis=1 -> f32[2,2]
        rt::index::gather_elements::<f32, _>(x0, &[2, 3], x1, &[2, 2], 1, y)
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        insta::assert_snapshot!(node("GatherElements").input("f32[2,3]").input("i64[2,4]").emit(), @"infer: indices i64[2,4] do not fit data f32[2,3]");
    }
}
