//! SVMRegressor (ai.onnx.ml opset 1): support vector regression, `Σ cⱼ·K(x, sⱼ) + rho` over
//! the support vectors with a LINEAR, POLY, RBF or SIGMOID kernel; with no support vectors
//! (`n_supports = 0`, liblinear's form) `K(x, coefficients) + rho`; a one-class model
//! outputs ±1. The support vectors and coefficients become constant inputs
//! ([`ParseCtx::tables`]), so they live in the weight blob. SVMClassifier is not
//! implemented.

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::ml::{self as rt_ml, SvmKernel};

use super::ml_attrs::features_input;
use super::{f32_tokens, required, Attrs, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, Data, Tensor, TensorType};

const TABLES: [&str; 2] = ["support_vectors", "coefficients"];

#[derive(Clone, Debug, PartialEq)]
pub struct SvmRegressor {
    pub kernel: SvmKernel,
    pub rho: f32,
    pub one_class: bool,
}

fn floats(ctx: &ParseCtx<'_>, name: &str) -> Result<Vec<f32>, OpError> {
    Ok(match ctx.attr(name) {
        Some(a) => a.as_floats(name)?,
        None => Vec::new(),
    })
}

impl Parse for SvmRegressor {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let (_, n_features) = features_input(ctx.input(0)?)?;
        let params = floats(ctx, "kernel_params")?;
        let param = |i: usize, default: f32| params.get(i).copied().unwrap_or(default);
        let (gamma, coef0, degree) = (param(0, 0.0), param(1, 0.0), param(2, 0.0));
        let kernel = match ctx.string("kernel_type", "LINEAR")?.as_str() {
            "LINEAR" => SvmKernel::Linear,
            "POLY" => SvmKernel::Poly {
                gamma,
                coef0,
                degree,
            },
            "RBF" => SvmKernel::Rbf { gamma },
            "SIGMOID" => SvmKernel::Sigmoid { gamma, coef0 },
            other => {
                return Err(OpError::attr(
                    "kernel_type",
                    format!("`{other}` is not LINEAR, POLY, RBF or SIGMOID"),
                ))
            }
        };
        if ctx.string("post_transform", "NONE")? != "NONE" {
            return Err(OpError::unsupported(
                "a post-transform other than NONE on SVMRegressor",
            ));
        }
        let rho = floats(ctx, "rho")?.first().copied().unwrap_or(0.0);
        let one_class = ctx.int("one_class", 0)? != 0;
        if ctx.n_inputs() > 1 {
            // The IR text: the tables are inputs already.
            ctx.tables(1, &TABLES, || Err(OpError::shape("the tables are missing")))?;
            return Ok(Self {
                kernel,
                rho,
                one_class,
            });
        }
        let n_supports = usize::try_from(ctx.int("n_supports", 0)?)
            .map_err(|_| OpError::attr("n_supports", "is negative"))?;
        let vectors = floats(ctx, "support_vectors")?;
        let coefficients = floats(ctx, "coefficients")?;
        let (want_vectors, want_coefficients) = if n_supports == 0 {
            (0, n_features)
        } else {
            (n_supports * n_features, n_supports)
        };
        if vectors.len() != want_vectors || coefficients.len() != want_coefficients {
            return Err(OpError::attr(
                "support_vectors",
                format!(
                    "{} support vector values and {} coefficients do not fit {n_supports} supports of {n_features} features",
                    vectors.len(),
                    coefficients.len()
                ),
            ));
        }
        let f32s = |v: Vec<f32>| Tensor::new(vec![v.len()], Data::F32(v));
        ctx.tables(1, &TABLES, || Ok(vec![f32s(vectors), f32s(coefficients)]))?;
        Ok(Self {
            kernel,
            rho,
            one_class,
        })
    }
}

impl OpKind for SvmRegressor {
    fn attrs(&self, attrs: &mut Attrs) {
        let (name, params) = match self.kernel {
            SvmKernel::Linear => ("LINEAR", vec![]),
            SvmKernel::Poly {
                gamma,
                coef0,
                degree,
            } => ("POLY", vec![gamma, coef0, degree]),
            SvmKernel::Rbf { gamma } => ("RBF", vec![gamma]),
            SvmKernel::Sigmoid { gamma, coef0 } => ("SIGMOID", vec![gamma, coef0]),
        };
        attrs.string("kernel_type", name);
        if !params.is_empty() {
            attrs.floats("kernel_params", &params);
        }
        attrs
            .floats("rho", &[self.rho])
            .int("one_class", i64::from(self.one_class));
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let (batch, _) = features_input(required(inputs, 0)?)?;
        for i in 1..=2 {
            if required(inputs, i)?.dtype != DType::F32 {
                return Err(OpError::shape(format!(
                    "table {} is not f32",
                    TABLES[i - 1]
                )));
            }
        }
        Ok(vec![TensorType::new(DType::F32, vec![batch, 1])])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let (batch, features) = features_input(required(&ctx.inputs, 0)?)?;
        let mut y = vec![0.0f32; batch];
        rt_ml::svm_regressor(
            batch,
            features,
            self.kernel,
            ctx.f32(0)?,
            ctx.f32(1)?,
            ctx.f32(2)?,
            self.rho,
            self.one_class,
            &mut y,
        );
        Ok(Some(vec![Tensor::new(vec![batch, 1], Data::F32(y))]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let (batch, features) = features_input(ctx.input(0)?.ty)?;
        let (x, vectors, coefficients) = (ctx.expr(0)?, ctx.expr(1)?, ctx.expr(2)?);
        let (kernel, rho, one_class) = (self.kernel, f32_tokens(self.rho), self.one_class);
        Ok(quote! {
            rt::ml::svm_regressor(#batch, #features, #kernel, #x, #vectors, #coefficients, #rho, #one_class, y);
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::NodeBuilder;
    use crate::tensor::{Data, Tensor};

    fn rbf() -> NodeBuilder {
        NodeBuilder::in_domain("ai.onnx.ml", "SVMRegressor")
            .string("kernel_type", "RBF")
            .floats("kernel_params", &[0.5, 0.0, 3.0])
            .int("n_supports", 2)
            .floats("support_vectors", &[0.0, 2.0])
            .floats("coefficients", &[1.0, -1.0])
            .floats("rho", &[0.25])
    }

    #[test]
    fn emits() {
        insta::assert_snapshot!(rbf().input("f32[3,1]").emit(), @r#"
        SVMRegressor(f32[3,1], f32[2], f32[2]) kernel_type="RBF" kernel_params=[0.5] rho=[0.25] one_class=0 -> f32[3,1]
        rt::ml::svm_regressor(
            3,
            1,
            rt::ml::SvmKernel::Rbf {
                gamma: 0.5f32,
            },
            x0,
            x1,
            x2,
            0.25f32,
            false,
            y,
        );
        "#);
        insta::assert_snapshot!(NodeBuilder::in_domain("ai.onnx.ml", "SVMRegressor")
            .floats("coefficients", &[1.0, 2.0])
            .floats("rho", &[0.5])
            .int("one_class", 1)
            .input("f32[1,2]")
            .emit(), @r#"
        SVMRegressor(f32[1,2], f32[0], f32[2]) kernel_type="LINEAR" rho=[0.5] one_class=1 -> f32[1,1]
        rt::ml::svm_regressor(1, 2, rt::ml::SvmKernel::Linear, x0, x1, x2, 0.5f32, true, y);
        "#);
    }

    #[test]
    fn folds() {
        let x = Tensor::new(vec![2, 1], Data::F32(vec![0.0, 2.0]));
        insta::assert_snapshot!(rbf().constant(x).emit(), @r#"
        SVMRegressor(f32[2,1], f32[2], f32[2]) kernel_type="RBF" kernel_params=[0.5] rho=[0.25] one_class=0 -> f32[2,1]
        folds to f32[2,1] [1.1146648, -0.61466473]
        "#);
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(rbf().input("f32[3,2]").emit(), @"parse: attribute `support_vectors`: 2 support vector values and 2 coefficients do not fit 2 supports of 2 features");
        insta::assert_snapshot!(rbf().string("kernel_type", "CUBIC").input("f32[3,1]").emit(), @"parse: attribute `kernel_type`: `CUBIC` is not LINEAR, POLY, RBF or SIGMOID");
    }
}
