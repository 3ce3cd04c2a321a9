//! GridSample (opset 16: 2-D, modes bilinear/nearest/bicubic; 20 on: N-D, modes
//! linear/nearest/cubic; 22 adds types): samples the input at the grid's normalised
//! coordinates with zeros, border or reflection padding (`rt::grid_sample`); AffineGrid
//! (opset 20: 2-D and 3-D), the grid of affine matrices over an output size known at
//! compile time (`rt::grid_sample::affine_grid`).

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::grid_sample::{GridMode, GridPadding};
use zant_runtime::tokens::Param;

use super::{elem_type, required, Attrs, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct GridSample {
    pub mode: GridMode,
    pub padding: GridPadding,
    pub align_corners: bool,
}

/// Where a sampling's sizes come from: X `[N, C, D1, …, Dr]` and the grid
/// `[N, O1, …, Or, r]`.
struct Geometry {
    batch: usize,
    channels: usize,
    /// `D1, …, Dr`.
    dims: Vec<usize>,
    /// `O1 · … · Or`, the points sampled per batch and channel.
    points: usize,
    /// `[N, C, O1, …, Or]`.
    out: Vec<usize>,
}

impl GridSample {
    fn geometry(x: &TensorType, grid: &TensorType) -> Result<Geometry, OpError> {
        let (xs, gs) = (&x.shape, &grid.shape);
        let r = xs
            .len()
            .checked_sub(2)
            .filter(|&r| r >= 1)
            .ok_or_else(|| OpError::shape(format!("X {x} has no spatial dims")))?;
        if gs.len() != r + 2 || gs[0] != xs[0] || gs[r + 1] != r {
            return Err(OpError::shape(format!(
                "grid {grid} does not fit X {x}: it should be [{}, …{r} dims…, {r}]",
                xs[0]
            )));
        }
        let mut out = vec![xs[0], xs[1]];
        out.extend(&gs[1..=r]);
        Ok(Geometry {
            batch: xs[0],
            channels: xs[1],
            dims: xs[2..].to_vec(),
            points: gs[1..=r].iter().product(),
            out,
        })
    }

    /// The kernel's parameters for one geometry.
    fn params<'a>(&self, g: &'a Geometry) -> zant_runtime::grid_sample::GridSample<'a> {
        zant_runtime::grid_sample::GridSample {
            batch: g.batch,
            channels: g.channels,
            dims: &g.dims,
            points: g.points,
            mode: self.mode,
            padding: self.padding,
            align_corners: self.align_corners,
        }
    }
}

impl Parse for GridSample {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        // Opset 20 renamed bilinear and bicubic; both spellings are read at every opset.
        let default = if ctx.opset < 20 { "bilinear" } else { "linear" };
        let mode = match ctx.string("mode", default)?.as_str() {
            "bilinear" | "linear" => GridMode::Linear,
            "nearest" => GridMode::Nearest,
            "bicubic" | "cubic" => GridMode::Cubic,
            other => {
                return Err(OpError::attr(
                    "mode",
                    format!("`{other}` is not linear, nearest or cubic"),
                ))
            }
        };
        let padding = match ctx.string("padding_mode", "zeros")?.as_str() {
            "zeros" => GridPadding::Zeros,
            "border" => GridPadding::Border,
            "reflection" => GridPadding::Reflection,
            other => {
                return Err(OpError::attr(
                    "padding_mode",
                    format!("`{other}` is not zeros, border or reflection"),
                ))
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
    fn attrs(&self, attrs: &mut Attrs) {
        // The runtime's variant names are the ONNX names (opset 20's) capitalised.
        attrs
            .string("mode", &self.mode.name().to_lowercase())
            .string("padding_mode", &self.padding.name().to_lowercase());
        if self.align_corners {
            attrs.int("align_corners", 1);
        }
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let (x, grid) = (required(inputs, 0)?, required(inputs, 1)?);
        // ONNX lets X be any type and the grid any float type; the kernel samples floats
        // with a grid of the same type.
        if !x.dtype.is_float() || grid.dtype != x.dtype {
            return Err(OpError::unsupported(format!(
                "implemented for X and grid of one float type, not {x} and {grid}"
            )));
        }
        let out = Self::geometry(x, grid)?.out;
        Ok(vec![TensorType::new(x.dtype, out)])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let (x, grid) = (ctx.get(0)?, ctx.get(1)?);
        let geometry = Self::geometry(&x.ty(), &grid.ty())?;
        let params = self.params(&geometry);
        let n_out = ctx.outputs[0].n_elems();
        let data = match (&x.data, &grid.data) {
            (Data::F32(v), Data::F32(g)) => {
                let mut y = vec![0.0; n_out];
                zant_runtime::grid_sample::grid_sample(&params, v, g, &mut y);
                Data::F32(y)
            }
            (Data::F64(v), Data::F64(g)) => {
                let mut y = vec![0.0; n_out];
                zant_runtime::grid_sample::grid_sample(&params, v, g, &mut y);
                Data::F64(y)
            }
            _ => return Ok(None),
        };
        Ok(Some(vec![Tensor::new(geometry.out, data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let (x, grid) = (ctx.input(0)?, ctx.input(1)?);
        let geometry = Self::geometry(x.ty, grid.ty)?;
        let params = self.params(&geometry);
        let (xe, ge) = (&x.expr, &grid.expr);
        let t = elem_type(x.ty.dtype);
        Ok(quote! { rt::grid_sample::grid_sample::<#t>(&#params, #xe, #ge, y); })
    }
}

/// AffineGrid: `theta` `[N, r, r + 1]` and the absorbed `size` `[N, C, [D,] H, W]` give
/// the grid `[N, [D,] H, W, r]`.
#[derive(Clone, Debug, PartialEq)]
pub struct AffineGrid {
    pub align_corners: bool,
    /// `N, C, [D,] H, W` from the `size` input.
    pub size: Vec<usize>,
}

impl Parse for AffineGrid {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let size = ctx
            .absorb(1, "size")?
            .to_i64s()
            .into_iter()
            .map(|d| usize::try_from(d).map_err(|_| OpError::shape(format!("negative size {d}"))))
            .collect::<Result<Vec<_>, _>>()?;
        if !(size.len() == 4 || size.len() == 5) {
            return Err(OpError::shape(format!(
                "size is {size:?}; it must be [N, C, H, W] or [N, C, D, H, W]"
            )));
        }
        super::checked_elems(&size)?;
        Ok(Self {
            align_corners: ctx.int("align_corners", 0)? != 0,
            size,
        })
    }
}

impl AffineGrid {
    /// The output's spatial dims, `[D,] H, W`.
    fn dims(&self) -> &[usize] {
        &self.size[2..]
    }
}

impl OpKind for AffineGrid {
    fn attrs(&self, attrs: &mut Attrs) {
        attrs
            .int("align_corners", i64::from(self.align_corners))
            .usizes("size", &self.size);
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let theta = required(inputs, 0)?;
        let (n, r) = (self.size[0], self.dims().len());
        if theta.dtype != crate::tensor::DType::F32 || theta.shape != [n, r, r + 1] {
            return Err(OpError::shape(format!(
                "theta is {theta}; for size {:?} it must be f32[{n},{r},{}]",
                self.size,
                r + 1
            )));
        }
        let mut out = vec![n];
        out.extend_from_slice(self.dims());
        out.push(r);
        super::checked_elems(&out)?;
        Ok(vec![TensorType::new(theta.dtype, out)])
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let theta = ctx.expr(0)?;
        let (dims, align) = (self.dims(), self.align_corners);
        Ok(quote! { rt::grid_sample::affine_grid(&[#(#dims),*], #align, #theta, y); })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn affine_grid_emits() {
        use crate::ops::testing::node;
        use crate::tensor::{Data, Tensor};
        let size = |dims: &[i64]| Tensor::new(vec![dims.len()], Data::I64(dims.to_vec()));
        insta::assert_snapshot!(node("AffineGrid").opset(20).int("align_corners", 1)
            .input("f32[2,2,3]").constant(size(&[2, 3, 4, 5])).emit(), @r#"
        AffineGrid(f32[2,2,3]) align_corners=1 size=[2,3,4,5] -> f32[2,4,5,2]
        rt::grid_sample::affine_grid(&[4, 5], true, x0, y);
        "#);
        insta::assert_snapshot!(node("AffineGrid").opset(20)
            .input("f32[1,3,4]").constant(size(&[1, 1, 2, 4, 5])).emit(), @r#"
        AffineGrid(f32[1,3,4]) align_corners=0 size=[1,1,2,4,5] -> f32[1,2,4,5,3]
        rt::grid_sample::affine_grid(&[2, 4, 5], false, x0, y);
        "#);
        insta::assert_snapshot!(node("AffineGrid").opset(20)
            .input("f32[1,2,3]").constant(size(&[2, 3, 4, 5])).emit(), @"infer: theta is f32[1,2,3]; for size [2, 3, 4, 5] it must be f32[2,2,3]");
        insta::assert_snapshot!(node("AffineGrid").opset(20)
            .input("f32[1,2,3]").input("i64[4]").emit(), @"parse: input 1 (size) must be a compile-time constant; zant compiles static shapes only");
    }

    use crate::ops::testing::node;
    use crate::tensor::{Data, Tensor};

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("GridSample")
            .input("f32[1,2,4,4]")
            .input("f32[1,3,3,2]")
            .emit(), @r#"
        GridSample(f32[1,2,4,4], f32[1,3,3,2]) mode="linear" padding_mode="zeros" -> f32[1,2,3,3]
        rt::grid_sample::grid_sample::<
            f32,
        >(
            &rt::grid_sample::GridSample {
                batch: 1,
                channels: 2,
                dims: &[4, 4],
                points: 9,
                mode: rt::grid_sample::GridMode::Linear,
                padding: rt::grid_sample::GridPadding::Zeros,
                align_corners: false,
            },
            x0,
            x1,
            y,
        );
        "#);
        // Opset 16 spells the modes bilinear and bicubic.
        insta::assert_snapshot!(node("GridSample")
            .opset(16)
            .string("mode", "bicubic")
            .string("padding_mode", "border")
            .int("align_corners", 1)
            .input("f64[1,1,4,4]")
            .input("f64[1,2,2,2]")
            .emit(), @r#"
        GridSample(f64[1,1,4,4], f64[1,2,2,2]) mode="cubic" padding_mode="border" align_corners=1 -> f64[1,1,2,2]
        rt::grid_sample::grid_sample::<
            f64,
        >(
            &rt::grid_sample::GridSample {
                batch: 1,
                channels: 1,
                dims: &[4, 4],
                points: 4,
                mode: rt::grid_sample::GridMode::Cubic,
                padding: rt::grid_sample::GridPadding::Border,
                align_corners: true,
            },
            x0,
            x1,
            y,
        );
        "#);
        // 3-D sampling, nearest with reflection.
        insta::assert_snapshot!(node("GridSample")
            .string("mode", "nearest")
            .string("padding_mode", "reflection")
            .input("f32[1,1,2,3,4]")
            .input("f32[1,2,2,2,3]")
            .emit(), @r#"
        GridSample(f32[1,1,2,3,4], f32[1,2,2,2,3]) mode="nearest" padding_mode="reflection" -> f32[1,1,2,2,2]
        rt::grid_sample::grid_sample::<
            f32,
        >(
            &rt::grid_sample::GridSample {
                batch: 1,
                channels: 1,
                dims: &[2, 3, 4],
                points: 8,
                mode: rt::grid_sample::GridMode::Nearest,
                padding: rt::grid_sample::GridPadding::Reflection,
                align_corners: false,
            },
            x0,
            x1,
            y,
        );
        "#);
        // Constant inputs fold: the centre of a 2×2 input is its mean.
        insta::assert_snapshot!(node("GridSample")
            .constant(Tensor::new(vec![1, 1, 2, 2], Data::F32(vec![1.0, 2.0, 3.0, 4.0])))
            .constant(Tensor::new(vec![1, 1, 1, 2], Data::F32(vec![0.0, 0.0])))
            .emit(), @r#"
        GridSample(f32[1,1,2,2], f32[1,1,1,2]) mode="linear" padding_mode="zeros" -> f32[1,1,1,1]
        folds to f32[1,1,1,1] [2.5]
        "#);
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("GridSample")
            .string("padding_mode", "wrap")
            .input("f32[1,1,4,4]")
            .input("f32[1,2,2,2]")
            .emit(), @"parse: attribute `padding_mode`: `wrap` is not zeros, border or reflection");
        insta::assert_snapshot!(node("GridSample")
            .input("f32[1,1,4,4]")
            .input("f32[1,2,2,3]")
            .emit(), @"infer: grid f32[1,2,2,3] does not fit X f32[1,1,4,4]: it should be [1, …2 dims…, 2]");
        insta::assert_snapshot!(node("GridSample")
            .input("i32[1,1,4,4]")
            .input("f32[1,2,2,2]")
            .emit(), @"infer: implemented for X and grid of one float type, not i32[1,1,4,4] and f32[1,2,2,2]");
    }
}
