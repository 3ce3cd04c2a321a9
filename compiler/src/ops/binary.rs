//! Element-wise binary ops with numpy broadcasting: Add, Sub, Mul, Div, Pow (opset 7 on;
//! 13/14 only add types; Pow with an exponent of another type is [`PowMixed`]) and Mod
//! (opset 10 on; `fmod = 1` takes the dividend's sign, `fmod = 0` the divisor's).
//! Max, Min, Sum and Mean with any number of inputs are in `variadic.rs`.

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::elementwise::BinaryOp;
use zant_runtime::Activation;

use super::{
    broadcast_shapes, elem_type, required, shape_tokens, Attrs, EmitCtx, FoldCtx, OpError, OpKind,
    Parse, ParseCtx,
};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Binary {
    pub op: BinaryOp,
    /// A Relu or Clip the `fuse` pass folded in: only on an `f32` Add whose operands
    /// both have the output's shape (a residual connection), computed in one pass
    /// (`elementwise::add_activated`). Printed as Conv prints it.
    pub act: Activation,
}

impl Parse for Binary {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let op = match ctx.op_type {
            "Add" => BinaryOp::Add,
            "Sub" => BinaryOp::Sub,
            "Mul" => BinaryOp::Mul,
            "Div" => BinaryOp::Div,
            "Pow" => BinaryOp::Pow,
            "PRelu" => BinaryOp::PRelu,
            "Max" => BinaryOp::Max,
            "Min" => BinaryOp::Min,
            "Mod" if ctx.int("fmod", 0)? != 0 => BinaryOp::Fmod,
            "Mod" if ctx.input(0)?.dtype.is_float() => BinaryOp::FloorMod,
            "Mod" => BinaryOp::Mod,
            _ => return Err(OpError::unsupported("the op type is not a binary op")),
        };
        if ctx.opset < 7 && ctx.attr("broadcast").is_some() {
            return Err(OpError::unsupported(
                "the legacy `broadcast` attribute (opset < 7) is not supported",
            ));
        }
        if ctx.n_inputs() > 2 {
            return Err(OpError::unsupported(
                "more than two inputs are not supported",
            ));
        }
        let act = ctx.activation()?;
        if matches!(act, Activation::Sigmoid | Activation::Swish { .. }) {
            return Err(OpError::attr(
                "activation",
                "a binary op takes Relu or Clip, not a logistic activation",
            ));
        }
        if act != Activation::None {
            let (a, b) = (ctx.input(0)?, ctx.inputs.get(1).copied().flatten());
            if !fuses_activation(op, a, b) {
                return Err(OpError::attr(
                    "activation",
                    "only an f32 Add of two operands of one shape takes an activation",
                ));
            }
        }
        Ok(Self { op, act })
    }
}

/// Whether a Binary of `op` on `a` and `b` may carry an activation: an `f32` Add of two
/// operands of one shape, which `elementwise::add_activated` computes.
pub(crate) fn fuses_activation(op: BinaryOp, a: &TensorType, b: Option<&TensorType>) -> bool {
    op == BinaryOp::Add
        && a.dtype == DType::F32
        && b.is_some_and(|b| b.dtype == a.dtype && b.shape == a.shape)
}

impl OpKind for Binary {
    /// The op type names the operation; only `Mod` has an attribute, and only `fmod = 1`
    /// needs printing, since `fmod = 0` splits into `Mod` and `FloorMod` by element type.
    fn attrs(&self, attrs: &mut Attrs) {
        if self.op == BinaryOp::Fmod {
            attrs.int("fmod", 1);
        }
        attrs.activation(self.act);
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let a = required(inputs, 0)?;
        let Some(b) = inputs.get(1).copied().flatten() else {
            return Ok(vec![a.clone()]);
        };
        if a.dtype != b.dtype {
            return Err(OpError::shape(format!("operand types differ: {a} and {b}")));
        }
        Ok(vec![TensorType::new(
            a.dtype,
            broadcast_shapes(&a.shape, &b.shape)?,
        )])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let a = ctx.get(0)?;
        let out_ty = &ctx.outputs[0];
        let Ok(b) = ctx.get(1) else {
            return Ok(Some(vec![a.clone()]));
        };
        let mut out = Data::zeros(out_ty.dtype, out_ty.n_elems());
        macro_rules! run {
            ($($variant:ident),*) => {
                match (&a.data, &b.data, &mut out) {
                    $((Data::$variant(x), Data::$variant(z), Data::$variant(y)) => {
                        zant_runtime::elementwise::binary(self.op, x, &a.shape, z, &b.shape, y, &out_ty.shape)
                    })*
                    _ => return Ok(None),
                }
            };
        }
        run!(F32, F64, I8, U8, I16, U16, I32, U32, I64, U64)?;
        if let Data::F32(y) = &mut out {
            self.act.apply_slice(y);
        }
        Ok(Some(vec![Tensor::new(out_ty.shape.clone(), out)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let out = ctx.out_ty();
        let t = elem_type(out.dtype);
        let op = self.op;
        let y_shape = shape_tokens(&out.shape);
        let try_ = ctx.try_suffix();
        if ctx.inputs.len() == 1 {
            let x = ctx.expr(0)?;
            return Ok(quote! { rt::shape::copy::<#t>(#x, y); });
        }
        let act = self.act;
        if act != Activation::None {
            // Both operands have the output's shape (`fuses_activation`).
            return Ok(match ctx.in_place {
                Some(i) => {
                    let other = &ctx.input(1 - i)?.expr;
                    quote! { rt::elementwise::add_activated_in_place(y, #other, #act); }
                }
                None => {
                    let (a, b) = (&ctx.input(0)?.expr, &ctx.input(1)?.expr);
                    quote! { rt::elementwise::add_activated(#a, #b, #act, y); }
                }
            });
        }
        if let Some(i) = ctx.in_place {
            let other = ctx.input(1 - i)?;
            let (x, x_shape) = (&other.expr, shape_tokens(&other.ty.shape));
            let is_lhs = i == 0;
            return Ok(quote! {
                rt::elementwise::binary_in_place::<#t>(#op, #is_lhs, y, #x, #x_shape, #y_shape) #try_;
            });
        }
        let (a, b) = (ctx.input(0)?, ctx.input(1)?);
        let (ae, be) = (&a.expr, &b.expr);
        let (a_shape, b_shape) = (shape_tokens(&a.ty.shape), shape_tokens(&b.ty.shape));
        Ok(quote! {
            rt::elementwise::binary::<#t>(#op, #ae, #a_shape, #be, #b_shape, y, #y_shape) #try_;
        })
    }

    fn in_place_inputs(&self) -> &'static [usize] {
        &[0, 1]
    }
}

/// Parses `Pow`: a [`Binary`] when base and exponent have one type, else [`PowMixed`].
pub fn parse_pow(ctx: &ParseCtx<'_>) -> Result<super::Op, OpError> {
    if ctx.input(0)?.dtype == ctx.input(1)?.dtype {
        Binary::parse(ctx).map(super::Op::Binary)
    } else {
        PowMixed::parse(ctx).map(super::Op::PowMixed)
    }
}

/// `Pow` whose exponent has another type than its base (opset 12 on): computed in `f64`,
/// the result in the base's type.
#[derive(Clone, Debug, PartialEq)]
pub struct PowMixed;

impl Parse for PowMixed {
    fn parse(_ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        Ok(Self)
    }
}

impl OpKind for PowMixed {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let (a, b) = (required(inputs, 0)?, required(inputs, 1)?);
        if a.dtype == DType::Bool || b.dtype == DType::Bool {
            return Err(OpError::shape(format!(
                "bool operands are not allowed: {a} and {b}"
            )));
        }
        Ok(vec![TensorType::new(
            a.dtype,
            broadcast_shapes(&a.shape, &b.shape)?,
        )])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let (a, b) = (ctx.get(0)?, ctx.get(1)?);
        let out = &ctx.outputs[0];
        // Exact for every exponent the integer types hold below 2^53.
        let exponent = super::cast::cast_data(&b.data, DType::F64);
        let Data::F64(e) = exponent else {
            return Ok(None);
        };
        let data = crate::with_data!(&a.data, x => {
            let mut y = x.clone();
            y.truncate(0);
            y.resize(out.n_elems(), Default::default());
            zant_runtime::logic::pow_mixed(x, &a.shape, &e, &b.shape, &mut y, &out.shape)?;
            super::retag(y, out.dtype)
        });
        Ok(Some(vec![Tensor::new(out.shape.clone(), data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let (a, b) = (ctx.input(0)?, ctx.input(1)?);
        let (ae, be) = (&a.expr, &b.expr);
        let (a_shape, b_shape) = (shape_tokens(&a.ty.shape), shape_tokens(&b.ty.shape));
        let y_shape = shape_tokens(&ctx.out_ty().shape);
        let (t, e) = (elem_type(a.ty.dtype), elem_type(b.ty.dtype));
        let try_ = ctx.try_suffix();
        Ok(quote! {
            rt::logic::pow_mixed::<#t, #e>(#ae, #a_shape, #be, #b_shape, y, #y_shape) #try_;
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::{Data, Tensor};

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("Add").input("f32[2,3]").input("f32[3]").emit(), @r#"
        Add(f32[2,3], f32[3]) -> f32[2,3]
        rt::elementwise::binary::<
            f32,
        >(rt::elementwise::BinaryOp::Add, x0, &[2, 3], x1, &[3], y, &[2, 3])
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        insta::assert_snapshot!(node("Sub").input("f32[4]").input("f32[4]").in_place().emit(), @r#"
        Sub(f32[4], f32[4]) -> f32[4]
        rt::elementwise::binary_in_place::<
            f32,
        >(rt::elementwise::BinaryOp::Sub, true, y, x1, &[4], &[4])
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        // A residual Add with the Relu the `fuse` pass folded in: one pass, in place or not.
        insta::assert_snapshot!(node("Add").string("activation", "Relu").input("f32[1,2,3]").input("f32[1,2,3]").emit(), @r#"
        Add(f32[1,2,3], f32[1,2,3]) activation="Relu" -> f32[1,2,3]
        rt::elementwise::add_activated(x0, x1, rt::Activation::Relu, y);
        "#);
        insta::assert_snapshot!(node("Add").string("activation", "Clip").float("activation_max", 6.0).input("f32[4]").input("f32[4]").in_place().emit(), @r#"
        Add(f32[4], f32[4]) activation="Clip" activation_min=-inf activation_max=6.0 -> f32[4]
        rt::elementwise::add_activated_in_place(
            y,
            x1,
            rt::Activation::Clip {
                min: f32::NEG_INFINITY,
                max: 6f32,
            },
        );
        "#);
        insta::assert_snapshot!(node("Add").string("activation", "Relu").input("f32[2,3]").input("f32[3]").emit(), @"parse: attribute `activation`: only an f32 Add of two operands of one shape takes an activation");
        insta::assert_snapshot!(node("Mul").input("i64[2,1]").input("i64[1,3]").emit(), @r#"
        Mul(i64[2,1], i64[1,3]) -> i64[2,3]
        rt::elementwise::binary::<
            i64,
        >(rt::elementwise::BinaryOp::Mul, x0, &[2, 1], x1, &[1, 3], y, &[2, 3])
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        insta::assert_snapshot!(node("Div").input("i32[4]").constant(Tensor::new(vec![], Data::I32(vec![2]))).emit(), @r#"
        Div(i32[4], i32[]) -> i32[4]
        rt::elementwise::binary::<
            i32,
        >(rt::elementwise::BinaryOp::Div, x0, &[4], x1, &[], y, &[4])
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        // `fmod = 1` is C's fmod for every type; `fmod = 0` is the divisor's sign, which
        // the runtime splits into `Mod` (integers) and `FloorMod` (floats).
        insta::assert_snapshot!(node("Mod").int("fmod", 1).input("f32[4]").input("f32[4]").emit(), @r#"
        Mod(f32[4], f32[4]) fmod=1 -> f32[4]
        rt::elementwise::binary::<
            f32,
        >(rt::elementwise::BinaryOp::Fmod, x0, &[4], x1, &[4], y, &[4])
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        insta::assert_snapshot!(node("Mod").input("f32[4]").input("f32[4]").emit(), @r#"
        Mod(f32[4], f32[4]) -> f32[4]
        rt::elementwise::binary::<
            f32,
        >(rt::elementwise::BinaryOp::FloorMod, x0, &[4], x1, &[4], y, &[4])
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        insta::assert_snapshot!(node("Mod").input("i32[4]").input("i32[4]").emit(), @r#"
        Mod(i32[4], i32[4]) -> i32[4]
        rt::elementwise::binary::<
            i32,
        >(rt::elementwise::BinaryOp::Mod, x0, &[4], x1, &[4], y, &[4])
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        insta::assert_snapshot!(node("Pow").input("f32[4]").input("f32[]").emit(), @r#"
        Pow(f32[4], f32[]) -> f32[4]
        rt::elementwise::binary::<
            f32,
        >(rt::elementwise::BinaryOp::Pow, x0, &[4], x1, &[], y, &[4])
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        insta::assert_snapshot!(node("Pow").input("f32[4]").input("i64[]").emit(), @r#"
        Pow(f32[4], i64[]) -> f32[4]
        rt::logic::pow_mixed::<f32, i64>(x0, &[4], x1, &[], y, &[4])
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
    }

    #[test]
    fn folds() {
        let f32s = |v: Vec<f32>| Tensor::new(vec![v.len()], Data::F32(v));
        let i32s = |v: Vec<i32>| Tensor::new(vec![v.len()], Data::I32(v));
        insta::assert_snapshot!(node("Mod").constant(f32s(vec![-3.0, 3.0])).constant(f32s(vec![2.0])).emit(), @"
        Mod(f32[2], f32[1]) -> f32[2]
        folds to f32[2] [1.0, 1.0]
        ");
        insta::assert_snapshot!(node("Pow").constant(i32s(vec![2, 3])).constant(Tensor::new(vec![], Data::F32(vec![2.0]))).emit(), @"
        Pow(i32[2], f32[]) -> i32[2]
        folds to i32[2] [4, 9]
        ");
        insta::assert_snapshot!(node("Div").constant(i32s(vec![1, 2])).constant(i32s(vec![1, 0])).emit(), @"fold: while folding constants: integer division by zero");
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("Add").input("f32[2]").input("i64[2]").emit(), @"infer: operand types differ: f32[2] and i64[2]");
        insta::assert_snapshot!(node("Add").input("f32[2]").input("f32[3]").emit(), @"infer: shapes [2] and [3] do not broadcast");
        insta::assert_snapshot!(node("Pow").input("bool[2]").input("i64[2]").emit(), @"infer: bool operands are not allowed: bool[2] and i64[2]");
    }
}
