//! MatMul (opset 1 on; 9/13 only add types): numpy matmul with batch broadcasting and
//! 1-D operands. The passes fuse a following `Add` of a per-column bias and Relu/Clip.

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::Activation;

use super::{
    activation_tokens, broadcast_shapes, elem_type, shape_tokens, EmitCtx, FoldCtx, OpError,
    OpKind, Parse, ParseCtx,
};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct MatMul {
    /// Whether a fused bias (input 2, length N) is added.
    pub bias: bool,
    pub act: Activation,
}

/// `(a, b, y)` widened to matrices, and the ONNX output shape.
type Shapes = (Vec<usize>, Vec<usize>, Vec<usize>, Vec<usize>);

/// Operand shapes with 1-D operands widened to matrices, and the output shape.
fn shapes(a: &[usize], b: &[usize]) -> Result<Shapes, OpError> {
    if a.is_empty() || b.is_empty() {
        return Err(OpError::Other(
            "MatMul operands must have rank 1 or more".into(),
        ));
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
        return Err(OpError::Other(format!(
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
            return Err(OpError::Other(format!("operand types differ: {a} and {b}")));
        }
        Ok(Self {
            bias: false,
            act: Activation::None,
        })
    }
}

impl OpKind for MatMul {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let (Some(Some(a)), Some(Some(b))) = (inputs.first(), inputs.get(1)) else {
            return Err(OpError::Other("MatMul takes two inputs".into()));
        };
        let (_, _, y2, y) = shapes(&a.shape, &b.shape)?;
        if self.bias {
            let c = inputs
                .get(2)
                .copied()
                .flatten()
                .ok_or("fused bias is missing")?;
            if c.n_elems() != y2[y2.len() - 1] {
                return Err(OpError::Other(format!("fused bias {c} does not match N")));
            }
        }
        if (self.bias || self.act != Activation::None) && a.dtype != DType::F32 {
            return Err(OpError::Other("fused bias and activation need f32".into()));
        }
        Ok(vec![TensorType::new(a.dtype, y)])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let (a, b) = (ctx.get(0)?, ctx.get(1)?);
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
        let (a2, b2, y2, _) = shapes(&a.ty.shape, &b.ty.shape)?;
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
        let act = activation_tokens(self.act);
        Ok(quote! {
            rt::gemm::matmul(#ae, #a_shape, #be, #b_shape, #bias, #act, y, #y_shape);
        })
    }
}
