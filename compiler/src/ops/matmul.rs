//! MatMul (opset 1 on; 9/13 only add types): numpy matmul with batch broadcasting and
//! 1-D operands. The passes fuse a following `Add` of a per-column bias and Relu/Clip,
//! and the `layout` pass may store a constant `f32` `B` in the column panels of
//! `rt::gemm::panels` (`b_panels=N`, `B` then shaped `[⌈N/16⌉, K, 16]`).

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::gemm::panels::PANEL;
use zant_runtime::target::KernelSet;
use zant_runtime::Activation;

use super::{
    broadcast_shapes, checked_elems, elem_type, mac_count, required, shape_tokens, Attrs, EmitCtx,
    FoldCtx, OpError, OpKind, Parse, ParseCtx,
};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct MatMul {
    /// Whether a fused bias (input 2, length N) is added. ONNX MatMul has two inputs, so
    /// only the passes (or the IR text of a fused graph) give it a third.
    pub bias: bool,
    pub act: Activation,
    /// `N` when `B` (input 1) is a constant in the column panels of
    /// `rt::gemm::panels::pack_b`, shaped `[⌈N/16⌉, K, 16]`; 0 for ONNX's `B`. Not ONNX:
    /// the IR text prints `b_panels=N` for what the `layout` pass rewrote.
    pub b_panels: usize,
}

impl MatMul {
    /// `B`'s ONNX shape: `b` itself, or the `[K, N]` its panels hold.
    fn b_shape(&self, b: &[usize]) -> Result<Vec<usize>, OpError> {
        if self.b_panels == 0 {
            return Ok(b.to_vec());
        }
        let n = self.b_panels;
        match *b {
            [panels, k, PANEL] if panels == n.div_ceil(PANEL) => Ok(vec![k, n]),
            _ => Err(OpError::shape(format!(
                "b_panels={n} needs B shaped [{}, K, {PANEL}], not {b:?}",
                n.div_ceil(PANEL)
            ))),
        }
    }
}

/// `(a, b, y)` widened to matrices, and the ONNX output shape.
type Shapes = (Vec<usize>, Vec<usize>, Vec<usize>, Vec<usize>);

/// Operand shapes with 1-D operands widened to matrices, and the output shape.
fn shapes(a: &[usize], b: &[usize]) -> Result<Shapes, OpError> {
    if a.is_empty() || b.is_empty() {
        return Err(OpError::shape(format!(
            "operands must have rank 1 or more, not {a:?} and {b:?}"
        )));
    }
    let a2 = if a.len() == 1 {
        vec![1, a[0]]
    } else {
        a.to_vec()
    };
    let b2 = if b.len() == 1 {
        vec![b[0], 1]
    } else {
        b.to_vec()
    };
    let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
    let (kb, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
    if k != kb {
        return Err(OpError::shape(format!(
            "inner dimensions differ: {a:?} and {b:?}"
        )));
    }
    let batch = broadcast_shapes(&a2[..a2.len() - 2], &b2[..b2.len() - 2])?;
    let mut y2 = batch.clone();
    y2.extend([m, n]);
    let mut y = batch;
    if a.len() > 1 {
        y.push(m);
    }
    if b.len() > 1 {
        y.push(n);
    }
    Ok((a2, b2, y2, y))
}

impl Parse for MatMul {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let (a, b) = (ctx.input(0)?, ctx.input(1)?);
        if a.dtype != b.dtype {
            return Err(OpError::shape(format!("operand types differ: {a} and {b}")));
        }
        let b_panels = ctx.int("b_panels", 0)?;
        let b_panels = usize::try_from(b_panels)
            .map_err(|_| OpError::attr("b_panels", format!("must be 0 or more, not {b_panels}")))?;
        let op = Self {
            bias: ctx.has_input(2),
            act: ctx.activation()?,
            b_panels,
        };
        op.b_shape(&b.shape)?;
        Ok(op)
    }
}

impl OpKind for MatMul {
    fn attrs(&self, attrs: &mut Attrs) {
        attrs.activation(self.act);
        if self.b_panels > 0 {
            attrs.int("b_panels", self.b_panels as i64);
        }
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let (a, b) = (required(inputs, 0)?, required(inputs, 1)?);
        if a.dtype != b.dtype {
            return Err(OpError::shape(format!("operand types differ: {a} and {b}")));
        }
        if a.dtype == DType::Bool {
            return Err(OpError::unsupported("MatMul is not implemented for bool"));
        }
        let (_, _, y2, y) = shapes(&a.shape, &self.b_shape(&b.shape)?)?;
        if self.b_panels > 0 && (a.dtype != DType::F32 || a.shape.len() < 2) {
            return Err(OpError::shape(format!(
                "b_panels needs an f32 A of rank 2 or more, not {a}"
            )));
        }
        if self.bias {
            let c = required(inputs, 2)?;
            if c.n_elems() != y2[y2.len() - 1] || c.dtype != a.dtype {
                return Err(OpError::shape(format!(
                    "fused bias {c} does not hold N = {} values of {}",
                    y2[y2.len() - 1],
                    a.dtype
                )));
            }
        }
        if (self.bias || self.act != Activation::None) && a.dtype != DType::F32 {
            return Err(OpError::unsupported(format!(
                "a fused bias or activation needs f32, not {}",
                a.dtype
            )));
        }
        checked_elems(&y2)?;
        Ok(vec![TensorType::new(a.dtype, y)])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let (a, b) = (ctx.get(0)?, ctx.get(1)?);
        if self.b_panels > 0 {
            // Only the `layout` pass makes panels, after folding.
            return Ok(None);
        }
        let (a2, b2, y2, y_shape) = shapes(&a.shape, &b.shape)?;
        let n: usize = y2.iter().product();
        let data = match (&a.data, &b.data) {
            (Data::F32(x), Data::F32(z)) => {
                let bias = if self.bias {
                    ctx.get(2)?.as_f32()
                } else {
                    None
                };
                let mut y = vec![0.0; n];
                zant_runtime::gemm::matmul(x, &a2, z, &b2, bias, self.act, &mut y, &y2);
                Data::F32(y)
            }
            (Data::I64(x), Data::I64(z)) => {
                let mut y = vec![0; n];
                zant_runtime::gemm::matmul_generic(x, &a2, z, &b2, &mut y, &y2);
                Data::I64(y)
            }
            (Data::I32(x), Data::I32(z)) => {
                let mut y = vec![0; n];
                zant_runtime::gemm::matmul_generic(x, &a2, z, &b2, &mut y, &y2);
                Data::I32(y)
            }
            _ => return Ok(None),
        };
        Ok(Some(vec![Tensor::new(y_shape, data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let (a, b) = (ctx.input(0)?, ctx.input(1)?);
        let (a2, b2, y2, _) = shapes(&a.ty.shape, &self.b_shape(&b.ty.shape)?)?;
        let (ae, be) = (&a.expr, &b.expr);
        let (a_shape, b_shape, y_shape) = (shape_tokens(&a2), shape_tokens(&b2), shape_tokens(&y2));
        if a.ty.dtype != DType::F32 {
            let t = elem_type(a.ty.dtype);
            return Ok(quote! {
                rt::gemm::matmul_generic::<#t>(#ae, #a_shape, #be, #b_shape, y, #y_shape);
            });
        }
        let bias = if self.bias {
            let c = ctx.expr(2)?;
            quote!(Some(#c))
        } else {
            quote!(None)
        };
        let act = self.act;
        if self.b_panels > 0 {
            // `B` has no batch: every row of the broadcast `A` is one row of the product.
            let k = a2[a2.len() - 1];
            let m = a2.iter().product::<usize>() / k.max(1);
            let n = self.b_panels;
            return Ok(quote! {
                rt::gemm::panels::gemm_panels((#m, #n, #k), #ae, #be, #bias, #act, y);
            });
        }
        // The blocked products pack into the arena scratch the planner reserved.
        if zant_runtime::gemm::matmul_scratch_len(&a2, &b2, &y2) > 0 {
            return Ok(quote! {
                rt::gemm::matmul_with_scratch(#ae, #a_shape, #be, #b_shape, #bias, #act, scratch, y, #y_shape);
            });
        }
        Ok(quote! {
            rt::gemm::matmul(#ae, #a_shape, #be, #b_shape, #bias, #act, y, #y_shape);
        })
    }

    fn scratch_bytes(&self, inputs: &[Option<&TensorType>], _kernels: KernelSet) -> usize {
        let (Some(Some(a)), Some(Some(b))) = (inputs.first(), inputs.get(1)) else {
            return 0;
        };
        if a.dtype != DType::F32 || self.b_panels > 0 {
            return 0;
        }
        match shapes(&a.shape, &b.shape) {
            Ok((a2, b2, y2, _)) => zant_runtime::gemm::matmul_scratch_len(&a2, &b2, &y2) * 4,
            Err(_) => 0,
        }
    }

    /// `M·N·K` for each matrix of the broadcast batch, whatever the element type.
    fn macs(&self, inputs: &[Option<&TensorType>]) -> u64 {
        let (Some(Some(a)), Some(Some(b))) = (inputs.first(), inputs.get(1)) else {
            return 0;
        };
        let Ok(b) = self.b_shape(&b.shape) else {
            return 0;
        };
        match shapes(&a.shape, &b) {
            Ok((a2, _, y2, _)) => mac_count(y2.iter().copied().chain([a2[a2.len() - 1]])),
            Err(_) => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::{Data, Tensor};

    #[test]
    fn emits_panels_and_refuses_a_b_of_another_shape() {
        let panels = || Tensor::new(vec![2, 4, 16], Data::F32(vec![0.5; 128]));
        insta::assert_snapshot!(node("MatMul")
            .int("b_panels", 20)
            .input("f32[2,3,4]")
            .constant(panels())
            .emit(), @"
        MatMul(f32[2,3,4], f32[2,4,16]) b_panels=20 -> f32[2,3,20]
        rt::gemm::panels::gemm_panels((6, 20, 4), x0, x1, None, rt::Activation::None, y);
        ");
        insta::assert_snapshot!(node("MatMul")
            .int("b_panels", 40)
            .input("f32[2,3,4]")
            .constant(panels())
            .emit(), @"parse: b_panels=40 needs B shaped [3, K, 16], not [2, 4, 16]");
        insta::assert_snapshot!(node("MatMul")
            .int("b_panels", 20)
            .input("f32[4]")
            .constant(panels())
            .emit(), @"infer: b_panels needs an f32 A of rank 2 or more, not f32[4]");
    }

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("MatMul")
            .input("f32[2,3,4]")
            .constant(Tensor::new(vec![4, 5], Data::F32(vec![0.5; 20])))
            .emit(), @"
        MatMul(f32[2,3,4], f32[4,5]) -> f32[2,3,5]
        rt::gemm::matmul_with_scratch(
            x0,
            &[2, 3, 4],
            x1,
            &[4, 5],
            None,
            rt::Activation::None,
            scratch,
            y,
            &[2, 3, 5],
        );
        ");
        insta::assert_snapshot!(node("MatMul").input("i64[4]").input("i64[4]").emit(), @"
        MatMul(i64[4], i64[4]) -> i64[]
        rt::gemm::matmul_generic::<i64>(x0, &[1, 4], x1, &[4, 1], y, &[1, 1]);
        ");
        insta::assert_snapshot!(node("MatMul")
            .input("f64[3]")
            .input("f64[2,3,1]")
            .emit(), @"
        MatMul(f64[3], f64[2,3,1]) -> f64[2,1]
        rt::gemm::matmul_generic::<f64>(x0, &[1, 3], x1, &[2, 3, 1], y, &[2, 1, 1]);
        ");
        insta::assert_snapshot!(node("MatMul")
            .constant(Tensor::new(vec![1, 2], Data::I32(vec![1, 2])))
            .constant(Tensor::new(vec![2, 2], Data::I32(vec![3, 4, 5, 6])))
            .emit(), @"
        MatMul(i32[1,2], i32[2,2]) -> i32[1,2]
        folds to i32[1,2] [13, 16]
        ");
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("MatMul").input("f32[2,3]").input("f32[4,5]").emit(), @"infer: inner dimensions differ: [2, 3] and [4, 5]");
        insta::assert_snapshot!(node("MatMul").input("f32[2,3]").input("i32[3,5]").emit(), @"parse: operand types differ: f32[2,3] and i32[3,5]");
        insta::assert_snapshot!(node("MatMul").input("bool[2,2]").input("bool[2,2]").emit(), @"infer: MatMul is not implemented for bool");
        insta::assert_snapshot!(node("MatMul").input("f32[]").input("f32[2]").emit(), @"infer: operands must have rank 1 or more, not [] and [2]");
    }

    #[test]
    fn counts_m_n_k_macs_per_broadcast_matrix() {
        // Batch dims [2, 1] and [5] broadcast to [2, 5]: ten 3×4 by 4×6 products.
        let batched = node("MatMul").input("f32[2,1,3,4]").input("f32[5,4,6]");
        assert_eq!(batched.macs(), 2 * 5 * (3 * 6 * 4));
        // A 1-D operand is a one-row matrix.
        let vector = node("MatMul").input("f32[4]").input("f32[4,6]");
        assert_eq!(vector.macs(), 6 * 4);
        // Integer products count the same.
        let integer = node("MatMul").input("i64[2,3]").input("i64[3,2]");
        assert_eq!(integer.macs(), 2 * 2 * 3);
    }
}
