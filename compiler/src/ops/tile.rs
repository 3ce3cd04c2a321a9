//! Tile (opset 6 on; 13 adds types): repeats the input along each dim; `repeats` must be a
//! compile-time constant.

use proc_macro2::TokenStream;
use quote::quote;

use super::{
    checked_elems, elem_type, required, shape_tokens, Attrs, EmitCtx, FoldCtx, OpError, OpKind,
    Parse, ParseCtx,
};
use crate::tensor::{Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Tile {
    /// How many times each dim is repeated.
    pub repeats: Vec<usize>,
}

impl Tile {
    /// The tiled shape of `x`.
    fn out_shape(&self, x: &TensorType) -> Result<Vec<usize>, OpError> {
        if self.repeats.len() != x.rank() {
            return Err(OpError::shape(format!(
                "{} repeats for {x}",
                self.repeats.len()
            )));
        }
        let shape = x
            .shape
            .iter()
            .zip(&self.repeats)
            .map(|(&d, &r)| d.checked_mul(r))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                OpError::unsupported(format!("{x} tiled {:?} times is too big", self.repeats))
            })?;
        checked_elems(&shape)?;
        Ok(shape)
    }
}

impl Parse for Tile {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let x = ctx.input(0)?;
        super::transpose::supported_rank(x)?;
        let repeats = ctx
            .absorb(1, "repeats")?
            .to_i64s()
            .into_iter()
            .map(|r| usize::try_from(r).map_err(|_| OpError::shape(format!("negative repeat {r}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let tile = Self { repeats };
        tile.out_shape(x)?;
        Ok(tile)
    }
}

impl OpKind for Tile {
    /// It moves whole elements, so it takes the narrow types as stored.
    fn narrow(&self) -> super::NarrowSupport {
        super::NarrowSupport::Moves
    }

    fn attrs(&self, attrs: &mut Attrs) {
        attrs.usizes("repeats", &self.repeats);
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        Ok(vec![TensorType::new(x.dtype, self.out_shape(x)?)])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let out = &ctx.outputs[0];
        let data = crate::with_data!(&x.data, v => {
            let mut y = vec![Default::default(); out.n_elems()];
            zant_runtime::index::tile(v, &x.shape, &mut y, &out.shape);
            super::retag(y, x.dtype())
        });
        Ok(Some(vec![Tensor::new(out.shape.clone(), data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let (xe, x_shape) = (&x.expr, shape_tokens(&x.ty.shape));
        let y_shape = shape_tokens(&ctx.out_ty().shape);
        let t = elem_type(x.ty.dtype);
        Ok(quote! { rt::index::tile::<#t>(#xe, #x_shape, y, #y_shape); })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::Tensor;

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("Tile").input("f32[2,3]").constant(Tensor::from_i64s(vec![2, 1])).emit(), @"
        Tile(f32[2,3]) repeats=[2,1] -> f32[4,3]
        rt::index::tile::<f32>(x0, &[2, 3], y, &[4, 3]);
        ");
        insta::assert_snapshot!(node("Tile").constant(Tensor::from_i64s(vec![1, 2])).constant(Tensor::from_i64s(vec![2])).emit(), @"
        Tile(i64[2]) repeats=[2] -> i64[4]
        folds to i64[4] [1, 2, 1, 2]
        ");
        insta::assert_snapshot!(node("Tile").input("f32[2,3]").constant(Tensor::from_i64s(vec![2])).emit(), @"parse: 1 repeats for f32[2,3]");
        insta::assert_snapshot!(node("Tile").input("f32[2]").constant(Tensor::from_i64s(vec![-1])).emit(), @"parse: negative repeat -1");
    }
}
