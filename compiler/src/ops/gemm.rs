//! Gemm (opset 7 on; C optional since 11): `Y = alpha·op(A)·op(B) + beta·C`, with C
//! broadcast to [M, N]. A following Relu/Clip is fused by the passes.

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::gemm::Bias;
use zant_runtime::Activation;

use super::{activation_tokens, f32_tokens, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, Data, Tensor, TensorType};

/// How C broadcasts to [M, N].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BiasKind {
    None,
    Scalar,
    Row,
    Col,
    Full,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Gemm {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub trans_a: bool,
    pub trans_b: bool,
    pub alpha: f32,
    pub beta: f32,
    pub bias: BiasKind,
    pub act: Activation,
}

impl Parse for Gemm {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let (a, b) = (ctx.input(0)?, ctx.input(1)?);
        if a.dtype != DType::F32 || b.dtype != DType::F32 {
            return Err(OpError::Other(format!(
                "Gemm is implemented for f32, not {}",
                a.dtype
            )));
        }
        if a.rank() != 2 || b.rank() != 2 {
            return Err(OpError::Other(format!(
                "Gemm takes matrices, got {a} and {b}"
            )));
        }
        let trans_a = ctx.int("transA", 0)? != 0;
        let trans_b = ctx.int("transB", 0)? != 0;
        let (m, k) = if trans_a {
            (a.shape[1], a.shape[0])
        } else {
            (a.shape[0], a.shape[1])
        };
        let (kb, n) = if trans_b {
            (b.shape[1], b.shape[0])
        } else {
            (b.shape[0], b.shape[1])
        };
        if k != kb {
            return Err(OpError::Other(format!(
                "inner dimensions differ: {a} and {b} (transA={trans_a}, transB={trans_b})"
            )));
        }
        let bias = match ctx.inputs.get(2).copied().flatten() {
            None => BiasKind::None,
            Some(c) => bias_kind(&c.shape, m, n)
                .ok_or_else(|| format!("C {c} does not broadcast to [{m}, {n}]"))?,
        };
        Ok(Self {
            m,
            n,
            k,
            trans_a,
            trans_b,
            alpha: ctx.float("alpha", 1.0)?,
            beta: ctx.float("beta", 1.0)?,
            bias,
            act: Activation::None,
        })
    }
}

impl OpKind for Gemm {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let a = inputs
            .first()
            .copied()
            .flatten()
            .ok_or("input 0 is required")?;
        let mk = if self.trans_a {
            [self.k, self.m]
        } else {
            [self.m, self.k]
        };
        if a.shape != mk {
            return Err(OpError::Other(format!(
                "A {a} does not match [{}, {}]",
                mk[0], mk[1]
            )));
        }
        Ok(vec![TensorType::new(DType::F32, vec![self.m, self.n])])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let a = ctx.get(0)?.as_f32().ok_or("f32")?;
        let b = ctx.get(1)?.as_f32().ok_or("f32")?;
        let c = ctx
            .consts
            .get(2)
            .copied()
            .flatten()
            .and_then(|t| t.as_f32());
        let bias = match (self.bias, c) {
            (BiasKind::None, _) | (_, None) => Bias::None,
            (BiasKind::Scalar, Some(c)) => Bias::Scalar(c[0]),
            (BiasKind::Row, Some(c)) => Bias::Row(c),
            (BiasKind::Col, Some(c)) => Bias::Col(c),
            (BiasKind::Full, Some(c)) => Bias::Full(c),
        };
        let mut y = vec![0.0; self.m * self.n];
        zant_runtime::gemm::gemm(
            self.m,
            self.n,
            self.k,
            a,
            self.trans_a,
            b,
            self.trans_b,
            self.alpha,
            self.beta,
            bias,
            self.act,
            &mut y,
        );
        Ok(Some(vec![Tensor::new(vec![self.m, self.n], Data::F32(y))]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let (a, b) = (ctx.expr(0)?, ctx.expr(1)?);
        let bias = match self.bias {
            BiasKind::None => quote!(rt::gemm::Bias::None),
            kind => {
                let c = ctx.expr(2)?;
                match kind {
                    BiasKind::Scalar => quote!(rt::gemm::Bias::Scalar((#c)[0])),
                    BiasKind::Row => quote!(rt::gemm::Bias::Row(#c)),
                    BiasKind::Col => quote!(rt::gemm::Bias::Col(#c)),
                    _ => quote!(rt::gemm::Bias::Full(#c)),
                }
            }
        };
        let Self {
            m,
            n,
            k,
            trans_a,
            trans_b,
            ..
        } = *self;
        let (alpha, beta) = (f32_tokens(self.alpha), f32_tokens(self.beta));
        let act = activation_tokens(self.act);
        Ok(quote! {
            rt::gemm::gemm(#m, #n, #k, #a, #trans_a, #b, #trans_b, #alpha, #beta, #bias, #act, y);
        })
    }
}

/// How a bias of `shape` broadcasts to [m, n]; `None` when it does not.
pub fn bias_kind(shape: &[usize], m: usize, n: usize) -> Option<BiasKind> {
    let n_elems: usize = shape.iter().product();
    let dims: Vec<usize> = shape.to_vec();
    Some(match dims.as_slice() {
        _ if n_elems == 1 => BiasKind::Scalar,
        [d] if *d == n => BiasKind::Row,
        [1, d] if *d == n => BiasKind::Row,
        [d, 1] if *d == m => BiasKind::Col,
        [a, b] if *a == m && *b == n => BiasKind::Full,
        _ => return None,
    })
}
