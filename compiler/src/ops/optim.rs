//! The training optimizers of `ai.onnx.preview.training` (opset 1): Adagrad, Momentum
//! and Adam, one step for several tensors at once. Inputs are the learning rate `R`
//! and the update count `T` (one element each), then the tensors `X₁…Xₙ`, their
//! gradients `G₁…Gₙ` and their states (Adagrad `H`, Momentum `V`, Adam `V` then `H`);
//! outputs are the new `X`s, then the new states in the same order
//! (`zant_runtime::optim`).

use proc_macro2::TokenStream;
use quote::quote;

use super::f32_tokens;
use super::{Attribute, Attrs, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub enum Rule {
    Adagrad {
        decay_factor: f32,
        epsilon: f32,
        norm: f32,
    },
    Momentum {
        alpha: f32,
        beta: f32,
        norm: f32,
        nesterov: bool,
    },
    Adam(zant_runtime::optim::Adam),
}

impl Rule {
    /// The state tensors each optimized tensor carries (`H`; `V`; `V` and `H`).
    fn states(&self) -> usize {
        match self {
            Rule::Adagrad { .. } | Rule::Momentum { .. } => 1,
            Rule::Adam(_) => 2,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Rule::Adagrad { .. } => "Adagrad",
            Rule::Momentum { .. } => "Momentum",
            Rule::Adam(_) => "Adam",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Optimizer {
    pub rule: Rule,
    /// How many tensors the step optimizes.
    pub tensors: usize,
}

/// An attribute every Momentum node must have.
fn required<'a>(ctx: &ParseCtx<'a>, name: &str) -> Result<&'a Attribute, OpError> {
    ctx.attr(name)
        .ok_or_else(|| OpError::attr(name, "is required"))
}

impl Parse for Optimizer {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let rule = match ctx.op_type {
            "Adagrad" => Rule::Adagrad {
                decay_factor: ctx.float("decay_factor", 0.0)?,
                epsilon: ctx.float("epsilon", 1e-6)?,
                norm: ctx.float("norm_coefficient", 0.0)?,
            },
            "Momentum" => {
                let nesterov = match required(ctx, "mode")?.as_string("mode")?.as_str() {
                    "standard" => false,
                    "nesterov" => true,
                    other => {
                        return Err(OpError::unsupported(format!(
                            "Momentum's mode is \"standard\" or \"nesterov\", not {other:?}"
                        )))
                    }
                };
                Rule::Momentum {
                    alpha: required(ctx, "alpha")?.as_float("alpha")?,
                    beta: required(ctx, "beta")?.as_float("beta")?,
                    norm: required(ctx, "norm_coefficient")?.as_float("norm_coefficient")?,
                    nesterov,
                }
            }
            _ => Rule::Adam(zant_runtime::optim::Adam {
                alpha: ctx.float("alpha", 0.9)?,
                beta: ctx.float("beta", 0.999)?,
                epsilon: ctx.float("epsilon", 1e-6)?,
                norm: ctx.float("norm_coefficient", 0.0)?,
                norm_post: ctx.float("norm_coefficient_post", 0.0)?,
            }),
        };
        // R, T, then X, G and the states of each tensor; the new X and states out.
        let per_tensor = 2 + rule.states();
        let operands = ctx.n_inputs().saturating_sub(2);
        let tensors = operands / per_tensor;
        if tensors == 0 || !operands.is_multiple_of(per_tensor) {
            return Err(OpError::unsupported(format!(
                "{} takes R, T and {per_tensor} inputs per optimized tensor, not {} inputs",
                rule.name(),
                ctx.n_inputs()
            )));
        }
        let outputs = tensors * (1 + rule.states());
        if ctx.n_outputs != outputs {
            return Err(OpError::unsupported(format!(
                "{} of {tensors} tensor(s) has {outputs} outputs, not {}",
                rule.name(),
                ctx.n_outputs
            )));
        }
        Ok(Self { rule, tensors })
    }
}

impl OpKind for Optimizer {
    fn attrs(&self, attrs: &mut Attrs) {
        match &self.rule {
            Rule::Adagrad {
                decay_factor,
                epsilon,
                norm,
            } => attrs
                .float("decay_factor", *decay_factor)
                .float("epsilon", *epsilon)
                .float("norm_coefficient", *norm),
            Rule::Momentum {
                alpha,
                beta,
                norm,
                nesterov,
            } => attrs
                .float("alpha", *alpha)
                .float("beta", *beta)
                .string("mode", if *nesterov { "nesterov" } else { "standard" })
                .float("norm_coefficient", *norm),
            Rule::Adam(a) => attrs
                .float("alpha", a.alpha)
                .float("beta", a.beta)
                .float("epsilon", a.epsilon)
                .float("norm_coefficient", a.norm)
                .float("norm_coefficient_post", a.norm_post),
        };
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let name = self.rule.name();
        for (i, what, dtype) in [(0, "R", DType::F32), (1, "T", DType::I64)] {
            let t = super::required(inputs, i)?;
            if t.dtype != dtype || t.n_elems() != 1 {
                return Err(OpError::unsupported(format!(
                    "{name}'s {what} is one {dtype} value, not {t}"
                )));
            }
        }
        let per_tensor = 2 + self.rule.states();
        let mut xs = Vec::with_capacity(self.tensors);
        for k in 0..self.tensors {
            let x = super::required(inputs, 2 + k)?;
            if x.dtype != DType::F32 {
                return Err(OpError::unsupported(format!(
                    "{name} is implemented for f32 tensors, not {x}"
                )));
            }
            for j in 1..per_tensor {
                let other = super::required(inputs, 2 + j * self.tensors + k)?;
                if other.dtype != DType::F32 || other.shape != x.shape {
                    return Err(OpError::shape(format!(
                        "{name}'s input {} is {other}, not {x} as its tensor X{}",
                        2 + j * self.tensors + k,
                        k + 1
                    )));
                }
            }
            xs.push(x.clone());
        }
        let mut outputs = xs.clone();
        for _ in 0..self.rule.states() {
            outputs.extend(xs.iter().cloned());
        }
        Ok(outputs)
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let f32s = |i: usize| {
            let t = ctx.get(i)?;
            t.as_f32()
                .map(|v| (t.shape.clone(), v))
                .ok_or_else(|| OpError::shape(format!("input {i} is {}, not f32", t.dtype())))
        };
        let r = f32s(0)?.1;
        let t = match &ctx.get(1)?.data {
            Data::I64(v) => v.as_slice(),
            _ => return Err(OpError::shape("input 1 is not i64")),
        };
        let n = self.tensors;
        let states = self.rule.states();
        let mut outputs: Vec<Option<Tensor>> = vec![None; n * (1 + states)];
        for k in 0..n {
            let (shape, x) = f32s(2 + k)?;
            let g = f32s(2 + n + k)?.1;
            let s1 = f32s(2 + 2 * n + k)?.1;
            let mut xo = vec![0.0; x.len()];
            let mut so = vec![vec![0.0; x.len()]; states];
            match (&self.rule, so.as_mut_slice()) {
                (
                    Rule::Adagrad {
                        decay_factor,
                        epsilon,
                        norm,
                    },
                    [h],
                ) => {
                    zant_runtime::optim::adagrad(
                        *decay_factor,
                        *epsilon,
                        *norm,
                        r,
                        t,
                        x,
                        g,
                        s1,
                        &mut xo,
                        h,
                    );
                }
                (
                    Rule::Momentum {
                        alpha,
                        beta,
                        norm,
                        nesterov,
                    },
                    [v],
                ) => {
                    zant_runtime::optim::momentum(
                        *alpha, *beta, *norm, *nesterov, r, t, x, g, s1, &mut xo, v,
                    );
                }
                (Rule::Adam(adam), [v, h]) => {
                    let s2 = f32s(2 + 3 * n + k)?.1;
                    adam.step(r, t, x, g, s1, s2, &mut xo, v, h);
                }
                _ => return Ok(None),
            }
            outputs[k] = Some(Tensor::new(shape.clone(), Data::F32(xo)));
            for (j, s) in so.into_iter().enumerate() {
                outputs[(1 + j) * n + k] = Some(Tensor::new(shape.clone(), Data::F32(s)));
            }
        }
        Ok(outputs.into_iter().collect())
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let n = self.tensors;
        let out = |k: usize| {
            if k == 0 {
                quote::format_ident!("y")
            } else {
                quote::format_ident!("y{}", k)
            }
        };
        let (r, t) = (ctx.expr(0)?, ctx.expr(1)?);
        let mut calls = Vec::with_capacity(n);
        for k in 0..n {
            let (x, g, s1) = (
                ctx.expr(2 + k)?,
                ctx.expr(2 + n + k)?,
                ctx.expr(2 + 2 * n + k)?,
            );
            let (xo, s1o) = (out(k), out(n + k));
            calls.push(match &self.rule {
                Rule::Adagrad { decay_factor, epsilon, norm } => {
                    let [decay_factor, epsilon, norm] = [*decay_factor, *epsilon, *norm].map(f32_tokens);
                    quote! {
                        rt::optim::adagrad(#decay_factor, #epsilon, #norm, #r, #t, #x, #g, #s1, #xo, #s1o);
                    }
                }
                Rule::Momentum { alpha, beta, norm, nesterov } => {
                    let [alpha, beta, norm] = [*alpha, *beta, *norm].map(f32_tokens);
                    quote! {
                        rt::optim::momentum(#alpha, #beta, #norm, #nesterov, #r, #t, #x, #g, #s1, #xo, #s1o);
                    }
                }
                Rule::Adam(a) => {
                    let s2 = ctx.expr(2 + 3 * n + k)?;
                    let s2o = out(2 * n + k);
                    let [alpha, beta, epsilon, norm, norm_post] =
                        [a.alpha, a.beta, a.epsilon, a.norm, a.norm_post].map(f32_tokens);
                    quote! {
                        rt::optim::Adam {
                            alpha: #alpha, beta: #beta, epsilon: #epsilon, norm: #norm, norm_post: #norm_post,
                        }
                        .step(#r, #t, #x, #g, #s1, #s2, #xo, #s1o, #s2o);
                    }
                }
            });
        }
        Ok(quote! { #(#calls)* })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::NodeBuilder;
    use crate::tensor::{Data, Tensor};

    fn training(op: &str) -> NodeBuilder {
        NodeBuilder::in_domain("ai.onnx.preview.training", op)
    }

    #[test]
    fn emits() {
        insta::assert_snapshot!(training("Adagrad").float("decay_factor", 0.1)
            .input("f32[]").input("i64[]").input("f32[3]").input("f32[3]").input("f32[3]")
            .outputs(2).emit(), @r#"
        Adagrad(f32[], i64[], f32[3], f32[3], f32[3]) decay_factor=0.1 epsilon=1e-6 norm_coefficient=0.0 -> f32[3], f32[3]
        rt::optim::adagrad(0.1f32, 0.000001f32, 0f32, x0, x1, x2, x3, x4, y, y1);
        "#);
        insta::assert_snapshot!(training("Momentum").float("alpha", 0.9).float("beta", 0.1)
            .float("norm_coefficient", 0.0).string("mode", "nesterov")
            .input("f32[1]").input("i64[]").input("f32[2]").input("f32[4]")
            .input("f32[2]").input("f32[4]").input("f32[2]").input("f32[4]")
            .outputs(4).emit(), @r#"
        Momentum(f32[1], i64[], f32[2], f32[4], f32[2], f32[4], f32[2], f32[4]) alpha=0.9 beta=0.1 mode="nesterov" norm_coefficient=0.0 -> f32[2], f32[4], f32[2], f32[4]
        rt::optim::momentum(0.9f32, 0.1f32, 0f32, true, x0, x1, x2, x4, x6, y, y2);
        rt::optim::momentum(0.9f32, 0.1f32, 0f32, true, x0, x1, x3, x5, x7, y1, y3);
        "#);
        insta::assert_snapshot!(training("Adam").float("norm_coefficient_post", 0.1)
            .input("f32[]").input("i64[]").input("f32[2]").input("f32[2]").input("f32[2]")
            .input("f32[2]").outputs(3).emit(), @r#"
        Adam(f32[], i64[], f32[2], f32[2], f32[2], f32[2]) alpha=0.9 beta=0.999 epsilon=1e-6 norm_coefficient=0.0 norm_coefficient_post=0.1 -> f32[2], f32[2], f32[2]
        rt::optim::Adam {
            alpha: 0.9f32,
            beta: 0.999f32,
            epsilon: 0.000001f32,
            norm: 0f32,
            norm_post: 0.1f32,
        }
            .step(x0, x1, x2, x3, x4, x5, y, y1, y2);
        "#);
    }

    #[test]
    fn folds() {
        let scalar = |d: Data| Tensor::new(vec![], d);
        let v = |x: &[f32]| Tensor::new(vec![x.len()], Data::F32(x.to_vec()));
        insta::assert_snapshot!(training("Momentum").float("alpha", 0.5).float("beta", 0.1)
            .float("norm_coefficient", 0.0).string("mode", "standard")
            .constant(scalar(Data::F32(vec![0.5]))).constant(scalar(Data::I64(vec![0])))
            .constant(v(&[1.0, 2.0])).constant(v(&[2.0, 4.0])).constant(v(&[0.0, 2.0]))
            .outputs(2).emit(), @r#"
        Momentum(f32[], i64[], f32[2], f32[2], f32[2]) alpha=0.5 beta=0.1 mode="standard" norm_coefficient=0.0 -> f32[2], f32[2]
        folds to f32[2] [0.0, -0.5], f32[2] [2.0, 5.0]
        "#);
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(training("Adagrad")
            .input("f32[]").input("i64[]").input("f32[3]").input("f32[3]")
            .outputs(2).emit(), @"parse: Adagrad takes R, T and 3 inputs per optimized tensor, not 4 inputs");
        insta::assert_snapshot!(training("Adagrad")
            .input("f32[]").input("i64[]").input("f32[3]").input("f32[3]").input("f32[3]")
            .outputs(1).emit(), @"parse: Adagrad of 1 tensor(s) has 2 outputs, not 1");
        insta::assert_snapshot!(training("Adagrad")
            .input("f32[2]").input("i64[]").input("f32[3]").input("f32[3]").input("f32[3]")
            .outputs(2).emit(), @"infer: Adagrad's R is one f32 value, not f32[2]");
        insta::assert_snapshot!(training("Adagrad")
            .input("f32[]").input("i64[]").input("f32[3]").input("f32[2]").input("f32[3]")
            .outputs(2).emit(), @"infer: Adagrad's input 3 is f32[2], not f32[3] as its tensor X1");
        insta::assert_snapshot!(training("Momentum").float("alpha", 0.9).float("beta", 0.1)
            .float("norm_coefficient", 0.0)
            .input("f32[]").input("i64[]").input("f32[3]").input("f32[3]").input("f32[3]")
            .outputs(2).emit(), @"parse: attribute `mode`: is required");
        insta::assert_snapshot!(training("Momentum").float("alpha", 0.9).float("beta", 0.1)
            .float("norm_coefficient", 0.0).string("mode", "heavy")
            .input("f32[]").input("i64[]").input("f32[3]").input("f32[3]").input("f32[3]")
            .outputs(2).emit(), @r#"
        parse: Momentum's mode is "standard" or "nesterov", not "heavy"
        "#);
    }
}
