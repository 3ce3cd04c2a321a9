//! Gemm (opset 7 on; C optional since 11): `Y = alpha·op(A)·op(B) + beta·C`, with C
//! broadcast to [M, N]. A following Relu/Clip is fused by the passes, and the `layout`
//! pass may store a constant `B` in the column panels of `rt::gemm::panels`
//! (`b_panels=N`, `B` then shaped `[⌈N/16⌉, K, 16]` and `transB` gone).

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::gemm::panels::PANEL;
use zant_runtime::gemm::Bias;
use zant_runtime::target::KernelSet;
use zant_runtime::Activation;

use super::{
    f32_tokens, mac_count, required, Attrs, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx,
};
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
    /// Whether `B` is a constant in the column panels of `rt::gemm::panels::pack_b`,
    /// shaped `[⌈N/16⌉, K, 16]` (printed `b_panels=N`; not ONNX).
    pub b_panels: bool,
}

impl Parse for Gemm {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let (a, b) = (ctx.input(0)?, ctx.input(1)?);
        if a.dtype != DType::F32 || b.dtype != DType::F32 {
            return Err(OpError::unsupported(format!(
                "Gemm is implemented for f32, not {} and {}",
                a.dtype, b.dtype
            )));
        }
        let panels = ctx.int("b_panels", 0)?;
        let panels = usize::try_from(panels)
            .map_err(|_| OpError::attr("b_panels", format!("must be 0 or more, not {panels}")))?;
        if a.rank() != 2 || b.rank() != if panels > 0 { 3 } else { 2 } {
            return Err(OpError::shape(format!(
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
        let (kb, n) = if panels > 0 {
            if trans_b || b.shape != [panels.div_ceil(PANEL), b.shape[1], PANEL] {
                return Err(OpError::shape(format!(
                    "b_panels={panels} needs B shaped [{}, K, {PANEL}] and no transB, not {b}",
                    panels.div_ceil(PANEL)
                )));
            }
            (b.shape[1], panels)
        } else if trans_b {
            (b.shape[1], b.shape[0])
        } else {
            (b.shape[0], b.shape[1])
        };
        if k != kb {
            return Err(OpError::shape(format!(
                "inner dimensions differ: {a} and {b} (transA={}, transB={})",
                u8::from(trans_a),
                u8::from(trans_b)
            )));
        }
        let bias = match ctx.inputs.get(2).copied().flatten() {
            None => BiasKind::None,
            Some(c) if c.dtype != DType::F32 => {
                return Err(OpError::shape(format!("C {c} should be f32")));
            }
            Some(c) => bias_kind(&c.shape, m, n)
                .ok_or_else(|| OpError::shape(format!("C {c} does not broadcast to [{m}, {n}]")))?,
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
            act: ctx.activation()?,
            b_panels: panels > 0,
        })
    }
}

impl OpKind for Gemm {
    fn attrs(&self, attrs: &mut Attrs) {
        if self.trans_a {
            attrs.int("transA", 1);
        }
        if self.trans_b {
            attrs.int("transB", 1);
        }
        if self.alpha != 1.0 {
            attrs.float("alpha", self.alpha);
        }
        if self.beta != 1.0 {
            attrs.float("beta", self.beta);
        }
        attrs.activation(self.act);
        if self.b_panels {
            attrs.int("b_panels", self.n as i64);
        }
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let a = required(inputs, 0)?;
        let b = required(inputs, 1)?;
        let (mk, kn) = (
            if self.trans_a {
                [self.k, self.m]
            } else {
                [self.m, self.k]
            },
            if self.trans_b {
                [self.n, self.k]
            } else {
                [self.k, self.n]
            },
        );
        let b_ok = if self.b_panels {
            b.shape == [self.n.div_ceil(PANEL), self.k, PANEL]
        } else {
            b.shape == kn
        };
        if a.shape != mk || !b_ok {
            return Err(OpError::shape(format!(
                "A {a} and B {b} do not match the parsed [{}, {}] and [{}, {}]",
                mk[0], mk[1], kn[0], kn[1]
            )));
        }
        Ok(vec![TensorType::new(DType::F32, vec![self.m, self.n])])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        if self.b_panels {
            // Only the `layout` pass makes panels, after folding.
            return Ok(None);
        }
        let a = ctx.f32(0)?;
        let b = ctx.f32(1)?;
        let bias = match self.bias {
            BiasKind::None => Bias::None,
            BiasKind::Scalar => Bias::Scalar(ctx.f32(2)?[0]),
            BiasKind::Row => Bias::Row(ctx.f32(2)?),
            BiasKind::Col => Bias::Col(ctx.f32(2)?),
            BiasKind::Full => Bias::Full(ctx.f32(2)?),
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
        if self.b_panels {
            return self.emit_panels(ctx);
        }
        let (a, b) = (ctx.expr(0)?, ctx.expr(1)?);
        // `Bias` borrows the arena, so it is written here rather than as a parameter value.
        let bias = match self.bias {
            BiasKind::None => quote!(rt::gemm::Bias::None),
            BiasKind::Scalar => {
                let c = ctx.expr(2)?;
                quote!(rt::gemm::Bias::Scalar((#c)[0]))
            }
            BiasKind::Row => {
                let c = ctx.expr(2)?;
                quote!(rt::gemm::Bias::Row(#c))
            }
            BiasKind::Col => {
                let c = ctx.expr(2)?;
                quote!(rt::gemm::Bias::Col(#c))
            }
            BiasKind::Full => {
                let c = ctx.expr(2)?;
                quote!(rt::gemm::Bias::Full(#c))
            }
        };
        let Self {
            m,
            n,
            k,
            trans_a,
            trans_b,
            act,
            ..
        } = *self;
        let (alpha, beta) = (f32_tokens(self.alpha), f32_tokens(self.beta));
        // The blocked kernel packs into the arena scratch the planner reserved; matrix-vector
        // products need none and keep the plain entry point.
        if self.scratch_floats() > 0 {
            return Ok(quote! {
                rt::gemm::gemm_with_scratch(#m, #n, #k, #a, #trans_a, #b, #trans_b, #alpha, #beta, #bias, #act, scratch, y);
            });
        }
        Ok(quote! {
            rt::gemm::gemm(#m, #n, #k, #a, #trans_a, #b, #trans_b, #alpha, #beta, #bias, #act, y);
        })
    }

    fn scratch_bytes(&self, _inputs: &[Option<&TensorType>], _kernels: KernelSet) -> usize {
        self.scratch_floats() * 4
    }

    fn macs(&self, _inputs: &[Option<&TensorType>]) -> u64 {
        mac_count([self.m, self.n, self.k])
    }
}

impl Gemm {
    /// The call for a `B` in panels (`b_panels`): no `transA`, `alpha = 1`, and no bias or
    /// one per column with `beta = 1`, as the `layout` pass leaves it.
    fn emit_panels(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let (a, b) = (ctx.expr(0)?, ctx.expr(1)?);
        let bias = match self.bias {
            BiasKind::None => quote!(None),
            BiasKind::Row if self.beta == 1.0 => {
                let c = ctx.expr(2)?;
                quote!(Some(#c))
            }
            _ => {
                return Err(OpError::unsupported(
                    "b_panels takes no bias or one per column, with beta = 1",
                ))
            }
        };
        if self.trans_a || self.alpha != 1.0 {
            return Err(OpError::unsupported(
                "b_panels takes no transA and alpha = 1",
            ));
        }
        let Self { m, n, k, act, .. } = *self;
        Ok(quote! {
            rt::gemm::panels::gemm_panels((#m, #n, #k), #a, #b, #bias, #act, y);
        })
    }

    /// The floats of packing scratch the runtime's blocked GEMM needs for this product.
    fn scratch_floats(&self) -> usize {
        if self.b_panels {
            return 0;
        }
        zant_runtime::gemm::scratch_len(self.m, self.n, self.k)
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

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::{Data, Tensor};

    fn values(shape: Vec<usize>) -> Tensor {
        let n = shape.iter().product();
        Tensor::new(shape, Data::F32((0..n).map(|i| i as f32).collect()))
    }

    #[test]
    fn emits_panels_and_refuses_a_b_of_another_shape() {
        let panels = || Tensor::new(vec![2, 4, 16], Data::F32(vec![0.5; 128]));
        insta::assert_snapshot!(node("Gemm")
            .int("b_panels", 20)
            .input("f32[3,4]")
            .constant(panels())
            .emit(), @"
        Gemm(f32[3,4], f32[2,4,16]) b_panels=20 -> f32[3,20]
        rt::gemm::panels::gemm_panels((3, 20, 4), x0, x1, None, rt::Activation::None, y);
        ");
        insta::assert_snapshot!(node("Gemm")
            .int("b_panels", 20)
            .int("transB", 1)
            .input("f32[3,4]")
            .constant(panels())
            .emit(), @"parse: b_panels=20 needs B shaped [2, K, 16] and no transB, not f32[2,4,16]");
        insta::assert_snapshot!(node("Gemm")
            .int("b_panels", 40)
            .input("f32[3,4]")
            .constant(panels())
            .emit(), @"parse: b_panels=40 needs B shaped [3, K, 16] and no transB, not f32[2,4,16]");
    }

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("Gemm")
            .int("transB", 1)
            .float("alpha", 0.5)
            .input("f32[2,4]")
            .constant(values(vec![3, 4]))
            .constant(values(vec![3]))
            .emit(), @"
        Gemm(f32[2,4], f32[3,4], f32[3]) transB=1 alpha=0.5 -> f32[2,3]
        rt::gemm::gemm_with_scratch(
            2,
            3,
            4,
            x0,
            false,
            x1,
            true,
            0.5f32,
            1f32,
            rt::gemm::Bias::Row(x2),
            rt::Activation::None,
            scratch,
            y,
        );
        ");
        insta::assert_snapshot!(node("Gemm")
            .int("transA", 1)
            .float("beta", 2.0)
            .input("f32[4,2]")
            .constant(values(vec![4, 3]))
            .constant(values(vec![2, 1]))
            .emit(), @"
        Gemm(f32[4,2], f32[4,3], f32[2,1]) transA=1 beta=2.0 -> f32[2,3]
        rt::gemm::gemm_with_scratch(
            2,
            3,
            4,
            x0,
            true,
            x1,
            false,
            1f32,
            2f32,
            rt::gemm::Bias::Col(x2),
            rt::Activation::None,
            scratch,
            y,
        );
        ");
        insta::assert_snapshot!(node("Gemm")
            .input("f32[2,4]")
            .constant(values(vec![4, 3]))
            .constant(values(vec![]))
            .emit(), @"
        Gemm(f32[2,4], f32[4,3], f32[]) -> f32[2,3]
        rt::gemm::gemm_with_scratch(
            2,
            3,
            4,
            x0,
            false,
            x1,
            false,
            1f32,
            1f32,
            rt::gemm::Bias::Scalar((x2)[0]),
            rt::Activation::None,
            scratch,
            y,
        );
        ");
        insta::assert_snapshot!(node("Gemm")
            .input("f32[2,4]")
            .input("f32[4,3]")
            .input("f32[2,3]")
            .emit(), @"
        Gemm(f32[2,4], f32[4,3], f32[2,3]) -> f32[2,3]
        rt::gemm::gemm_with_scratch(
            2,
            3,
            4,
            x0,
            false,
            x1,
            false,
            1f32,
            1f32,
            rt::gemm::Bias::Full(x2),
            rt::Activation::None,
            scratch,
            y,
        );
        ");
        insta::assert_snapshot!(node("Gemm")
            .input("f32[1,2]")
            .constant(values(vec![2, 2]))
            .omitted()
            .emit(), @"
        Gemm(f32[1,2], f32[2,2]) -> f32[1,2]
        rt::gemm::gemm(
            1,
            2,
            2,
            x0,
            false,
            x1,
            false,
            1f32,
            1f32,
            rt::gemm::Bias::None,
            rt::Activation::None,
            y,
        );
        ");
        insta::assert_snapshot!(node("Gemm")
            .constant(values(vec![1, 2]))
            .constant(values(vec![2, 2]))
            .constant(values(vec![2]))
            .emit(), @"
        Gemm(f32[1,2], f32[2,2], f32[2]) -> f32[1,2]
        folds to f32[1,2] [2.0, 4.0]
        ");
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("Gemm")
            .input("f32[2,4]")
            .constant(values(vec![4, 3]))
            .constant(values(vec![5]))
            .emit(), @"parse: C f32[5] does not broadcast to [2, 3]");
        insta::assert_snapshot!(node("Gemm")
            .input("f32[2,4]")
            .input("f32[3,4]")
            .emit(), @"parse: inner dimensions differ: f32[2,4] and f32[3,4] (transA=0, transB=0)");
        insta::assert_snapshot!(node("Gemm").input("f64[2,2]").input("f64[2,2]").emit(), @"parse: Gemm is implemented for f32, not f64 and f64");
    }

    #[test]
    fn counts_m_n_k_macs() {
        // A is 3×5 and Bᵀ is 5×7: 21 outputs of 5 products each; alpha, the bias and a
        // fused activation count nothing.
        let gemm = node("Gemm")
            .int("transB", 1)
            .float("alpha", 0.5)
            .input("f32[3,5]")
            .constant(values(vec![7, 5]))
            .constant(values(vec![7]));
        assert_eq!(gemm.macs(), 3 * 7 * 5);
        let trans_a = node("Gemm")
            .int("transA", 1)
            .input("f32[5,3]")
            .constant(values(vec![5, 7]));
        assert_eq!(trans_a.macs(), 3 * 7 * 5);
    }
}
