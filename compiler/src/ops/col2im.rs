//! Col2Im (opset 18 on, unchanged since): rearranges the columns of sliding blocks
//! (`[N, C · ∏block_shape, L]`) back into a batch of images (`[N, C, image_shape…]`),
//! adding up the elements of overlapping blocks, the inverse of im2col. `image_shape`
//! and `block_shape` must be compile-time constants; the `dilations`, `pads` and
//! `strides` attributes slide the blocks as a convolution's kernel slides.

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::index::Col2Im as Geometry;
use zant_runtime::MAX_RANK;

use super::{elem_type, required, Attrs, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Col2Im {
    /// The image's spatial dims, as the absorbed `image_shape` gave them.
    pub image_shape: Vec<usize>,
    /// The block's spatial dims, as the absorbed `block_shape` gave them.
    pub block_shape: Vec<usize>,
    pub dilations: Vec<usize>,
    /// `[begin…, end…]` per spatial dim, as ONNX orders them.
    pub pads: Vec<usize>,
    pub strides: Vec<usize>,
}

impl Parse for Col2Im {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let dims = |what: &'static str, values: Vec<i64>, least: i64| {
            sizes(&values, least, |v| {
                OpError::shape(format!("{what} {values:?} has {v}"))
            })
        };
        let image_shape = dims("image_shape", ctx.absorb(1, "image_shape")?.to_i64s(), 0)?;
        let block_shape = dims("block_shape", ctx.absorb(2, "block_shape")?.to_i64s(), 1)?;
        let rank = image_shape.len();
        if rank == 0 || rank > MAX_RANK || block_shape.len() != rank {
            return Err(OpError::shape(format!(
                "image_shape {image_shape:?} and block_shape {block_shape:?} must list the \
                 same 1 to {MAX_RANK} spatial dims"
            )));
        }
        let attr = |name: &'static str, len: usize, default: i64, least: i64| {
            let values = ctx.ints(name)?.unwrap_or_else(|| vec![default; len]);
            if values.len() != len {
                return Err(OpError::attr(
                    name,
                    format!("has {} values for {rank} spatial dims", values.len()),
                ));
            }
            sizes(&values, least, |v| {
                OpError::attr(name, format!("{values:?} has {v}"))
            })
        };
        let op = Self {
            dilations: attr("dilations", rank, 1, 1)?,
            pads: attr("pads", 2 * rank, 0, 0)?,
            strides: attr("strides", rank, 1, 1)?,
            image_shape,
            block_shape,
        };
        op.geometry()?;
        Ok(op)
    }
}

/// `values` as sizes, each at least `least`, or `error(v)` for the first `v` that is not.
fn sizes(
    values: &[i64],
    least: i64,
    error: impl Fn(i64) -> OpError,
) -> Result<Vec<usize>, OpError> {
    values
        .iter()
        .map(|&v| {
            usize::try_from(v)
                .ok()
                .filter(|_| v >= least)
                .ok_or_else(|| error(v))
        })
        .collect()
}

impl Col2Im {
    /// The runtime's geometry: how many blocks fit along each spatial dim of the padded
    /// image, or an error when a dilated block is larger than the padded image.
    fn geometry(&self) -> Result<Geometry, OpError> {
        let rank = self.image_shape.len();
        let (begin, end) = self.pads.split_at(rank);
        let g = Geometry::new(
            &self.image_shape,
            &self.block_shape,
            &self.dilations,
            begin,
            end,
            &self.strides,
        )
        .ok_or_else(|| {
            OpError::shape(format!(
                "blocks {:?} dilated by {:?} do not fit image {:?} padded by {:?}",
                self.block_shape, self.dilations, self.image_shape, self.pads
            ))
        })?;
        super::checked_elems(&g.image[..rank])?;
        super::checked_elems(&g.block[..rank])?;
        super::checked_elems(&g.n_blocks[..rank])?;
        Ok(g)
    }

    /// The output type for input `x`, checked against the geometry.
    fn output(&self, x: &TensorType) -> Result<TensorType, OpError> {
        let g = self.geometry()?;
        let (block_len, n_columns) = (g.block_len(), g.n_columns());
        let fits = x.rank() == 3 && x.shape[1].is_multiple_of(block_len) && x.shape[2] == n_columns;
        if !fits || x.dtype == DType::Bool {
            return Err(OpError::shape(format!(
                "input {x} is not [N, C × {block_len}, {n_columns}] numbers for blocks \
                 {:?} in image {:?}",
                self.block_shape, self.image_shape
            )));
        }
        let mut shape = vec![x.shape[0], x.shape[1] / block_len];
        shape.extend(&self.image_shape);
        super::checked_elems(&shape)?;
        Ok(TensorType::new(x.dtype, shape))
    }
}

impl OpKind for Col2Im {
    fn attrs(&self, attrs: &mut Attrs) {
        // The absorbed inputs show under their ONNX names, which the parser reads back.
        attrs
            .usizes("image_shape", &self.image_shape)
            .usizes("block_shape", &self.block_shape)
            .usizes("dilations", &self.dilations)
            .usizes("pads", &self.pads)
            .usizes("strides", &self.strides);
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        Ok(vec![self.output(required(inputs, 0)?)?])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let g = self.geometry()?;
        let out = self.output(&x.ty())?;
        let data = crate::with_data!(&x.data, v => {
            let mut y = vec![Default::default(); out.n_elems()];
            zant_runtime::index::col2im(&g, v, &mut y);
            super::retag(y, x.dtype())
        });
        Ok(Some(vec![Tensor::new(out.shape, data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let g = self.geometry()?;
        let (xe, t) = (&x.expr, elem_type(x.ty.dtype));
        Ok(quote! { rt::index::col2im::<#t>(&#g, #xe, y); })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::{i64s, node};
    use crate::tensor::{Data, Tensor};

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("Col2Im").ints("strides", &[2, 2]).input("f32[1,9,4]")
            .constant(i64s(&[5, 5])).constant(i64s(&[3, 3])).emit(), @r"
        Col2Im(f32[1,9,4]) image_shape=[5,5] block_shape=[3,3] dilations=[1,1] pads=[0,0,0,0] strides=[2,2] -> f32[1,1,5,5]
        rt::index::col2im::<
            f32,
        >(
            &rt::index::Col2Im {
                rank: 2,
                image: [5, 5, 0, 0, 0, 0, 0, 0],
                block: [3, 3, 0, 0, 0, 0, 0, 0],
                n_blocks: [2, 2, 0, 0, 0, 0, 0, 0],
                dilations: [1, 1, 0, 0, 0, 0, 0, 0],
                pads_begin: [0, 0, 0, 0, 0, 0, 0, 0],
                strides: [2, 2, 0, 0, 0, 0, 0, 0],
            },
            x0,
            y,
        );
        ");
        // Two blocks of two along one dim, overlapping in the middle element.
        insta::assert_snapshot!(node("Col2Im").constant(Tensor::new(vec![1, 2, 2], Data::F32(vec![1.0, 2.0, 10.0, 20.0])))
            .constant(i64s(&[3])).constant(i64s(&[2])).emit(), @r"
        Col2Im(f32[1,2,2]) image_shape=[3] block_shape=[2] dilations=[1] pads=[0,0] strides=[1] -> f32[1,1,3]
        folds to f32[1,1,3] [1.0, 12.0, 20.0]
        ");
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("Col2Im").input("f32[1,4,4]").input("i64[2]").constant(i64s(&[2, 2])).emit(), @"parse: input 1 (image_shape) must be a compile-time constant; zant compiles static shapes only");
        insta::assert_snapshot!(node("Col2Im").input("f32[1,4,4]").constant(i64s(&[2, 2])).constant(i64s(&[3, 3])).emit(), @"parse: blocks [3, 3] dilated by [1, 1] do not fit image [2, 2] padded by [0, 0, 0, 0]");
        insta::assert_snapshot!(node("Col2Im").ints("dilations", &[1]).input("f32[1,4,4]").constant(i64s(&[3, 3])).constant(i64s(&[2, 2])).emit(), @"parse: attribute `dilations`: has 1 values for 2 spatial dims");
        insta::assert_snapshot!(node("Col2Im").input("f32[1,5,4]").constant(i64s(&[3, 3])).constant(i64s(&[2, 2])).emit(), @"infer: input f32[1,5,4] is not [N, C × 4, 4] numbers for blocks [2, 2] in image [3, 3]");
    }
}
