//! GridSample (opset 16: 2-D, modes bilinear/nearest/bicubic; 20 on: N-D, modes
//! linear/nearest/cubic; 22 adds types): samples the input at the grid's normalised
//! coordinates with zeros, border or reflection padding (`rt::grid_sample`).

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::grid_sample::{GridMode, GridPadding};

use super::{
    elem_type, required, shape_tokens, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx,
};
use crate::tensor::{Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct GridSample {
    pub mode: GridMode,
    pub padding: GridPadding,
    pub align_corners: bool,
}

/// `(batch, channels, spatial dims, points, output shape)` of a sampling.
type Geometry = (usize, usize, Vec<usize>, usize, Vec<usize>);

impl GridSample {
    /// `(batch, channels, spatial dims, points, output shape)`.
    fn geometry(x: &[usize], grid: &[usize]) -> Result<Geometry, OpError> {
        let r = x
            .len()
            .checked_sub(2)
            .filter(|&r| r >= 1)
            .ok_or("X needs spatial dims")?;
        if grid.len() != r + 2 || grid[0] != x[0] || grid[r + 1] != r {
            return Err(OpError::Other(format!(
                "grid {grid:?} does not fit X {x:?}"
            )));
        }
        let mut out = vec![x[0], x[1]];
        out.extend(&grid[1..=r]);
        Ok((
            x[0],
            x[1],
            x[2..].to_vec(),
            grid[1..=r].iter().product(),
            out,
        ))
    }

    fn tokens(&self, x: &[usize], grid: &[usize]) -> Result<TokenStream, OpError> {
        let (batch, channels, dims, points, _) = Self::geometry(x, grid)?;
        let dims = shape_tokens(&dims);
        let mode = match self.mode {
            GridMode::Nearest => quote!(Nearest),
            GridMode::Linear => quote!(Linear),
            GridMode::Cubic => quote!(Cubic),
        };
        let padding = match self.padding {
            GridPadding::Zeros => quote!(Zeros),
            GridPadding::Border => quote!(Border),
            GridPadding::Reflection => quote!(Reflection),
        };
        let align = self.align_corners;
        Ok(quote! {
            &rt::grid_sample::GridSample {
                batch: #batch, channels: #channels, dims: #dims, points: #points,
                mode: rt::grid_sample::GridMode::#mode,
                padding: rt::grid_sample::GridPadding::#padding,
                align_corners: #align,
            }
        })
    }
}

impl Parse for GridSample {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let default = if ctx.opset < 20 { "bilinear" } else { "linear" };
        let mode = match ctx.string("mode", default)?.as_str() {
            "bilinear" | "linear" => GridMode::Linear,
            "nearest" => GridMode::Nearest,
            "bicubic" | "cubic" => GridMode::Cubic,
            other => return Err(OpError::Other(format!("mode `{other}` is not supported"))),
        };
        let padding = match ctx.string("padding_mode", "zeros")?.as_str() {
            "zeros" => GridPadding::Zeros,
            "border" => GridPadding::Border,
            "reflection" => GridPadding::Reflection,
            other => {
                return Err(OpError::Other(format!(
                    "padding_mode `{other}` is not supported"
                )))
            }
        };
        Ok(Self {
            mode,
            padding,
            align_corners: ctx.int("align_corners", 0)? != 0,
        })
    }
}

impl OpKind for GridSample {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let (x, grid) = (required(inputs, 0)?, required(inputs, 1)?);
        if !x.dtype.is_float() || grid.dtype != x.dtype {
            return Err(OpError::Other(format!(
                "GridSample takes floats of one type, not {x} and {grid}"
            )));
        }
        let (.., out) = Self::geometry(&x.shape, &grid.shape)?;
        Ok(vec![TensorType::new(x.dtype, out)])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let (x, grid) = (ctx.get(0)?, ctx.get(1)?);
        let (batch, channels, dims, points, out) = Self::geometry(&x.shape, &grid.shape)?;
        let g = zant_runtime::grid_sample::GridSample {
            batch,
            channels,
            dims: &dims,
            points,
            mode: self.mode,
            padding: self.padding,
            align_corners: self.align_corners,
        };
        let data = match (&x.data, &grid.data) {
            (crate::tensor::Data::F32(v), crate::tensor::Data::F32(gr)) => {
                let mut y = vec![0.0; ctx.outputs[0].n_elems()];
                zant_runtime::grid_sample::grid_sample(&g, v, gr, &mut y);
                crate::tensor::Data::F32(y)
            }
            (crate::tensor::Data::F64(v), crate::tensor::Data::F64(gr)) => {
                let mut y = vec![0.0; ctx.outputs[0].n_elems()];
                zant_runtime::grid_sample::grid_sample(&g, v, gr, &mut y);
                crate::tensor::Data::F64(y)
            }
            _ => return Ok(None),
        };
        Ok(Some(vec![Tensor::new(out, data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let (x, grid) = (ctx.input(0)?, ctx.input(1)?);
        let params = self.tokens(&x.ty.shape, &grid.ty.shape)?;
        let (xe, ge) = (&x.expr, &grid.expr);
        let t = elem_type(x.ty.dtype);
        Ok(quote! { rt::grid_sample::grid_sample::<#t>(#params, #xe, #ge, y); })
    }
}
