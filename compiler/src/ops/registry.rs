//! The one table of ONNX op types: each line declares an op type, its domain, the opsets
//! its implementation follows, its input and output arity and its parser. Import checks a
//! node against its line in one place, and `docs/ops.md` is generated from the table.

#[allow(clippy::wildcard_imports)]
use super::*;

/// No upper bound on an arity.
pub const MANY: usize = usize::MAX;

/// The declaration of one ONNX op type.
#[derive(Clone, Copy)]
pub struct OpSpec {
    pub name: &'static str,
    /// `""` for the default `ai.onnx` domain.
    pub domain: &'static str,
    /// The opset versions this implementation follows.
    pub opsets: (i64, i64),
    /// The least and most ONNX inputs.
    pub inputs: (usize, usize),
    pub outputs: (usize, usize),
    pub parse: fn(&ParseCtx<'_>) -> Result<Op, OpError>,
}

/// A line of the table: `op!(name, opsets, inputs, outputs, Type)` parses with
/// `<Type as Parse>`, and `op!(.., fn path)` with a function of its own;
/// `op!(@ "domain", ..)` declares an op outside the default domain.
macro_rules! op {
    ($name:literal, $opsets:expr, $inputs:expr, $outputs:expr, fn $parse:path) => {
        op!(@ "", $name, $opsets, $inputs, $outputs, $parse)
    };
    ($name:literal, $opsets:expr, $inputs:expr, $outputs:expr, $ty:ty) => {
        op!(@ "", $name, $opsets, $inputs, $outputs, |ctx| <$ty as Parse>::parse(ctx).map(Op::from))
    };
    (@ $domain:literal, $name:literal, $opsets:expr, $inputs:expr, $outputs:expr, $parse:expr) => {
        OpSpec {
            name: $name,
            domain: $domain,
            opsets: $opsets,
            inputs: $inputs,
            outputs: $outputs,
            parse: $parse,
        }
    };
}

/// A unary op of the element-wise kernel family: one input, one output, and the runtime
/// `UnaryOp` built from the node's attributes (`|ctx| LeakyRelu { alpha: .. }`);
/// `unary!(@ "com.microsoft", ..)` for an op outside the default domain.
macro_rules! unary {
    ($name:literal, $opsets:expr, |$ctx:pat_param| $make:expr) => {
        unary!(@ "", $name, $opsets, |$ctx| $make)
    };
    (@ $domain:literal, $name:literal, $opsets:expr, |$ctx:pat_param| $make:expr) => {
        op!(@ $domain, $name, $opsets, (1, 1), (1, 1), |ctx| {
            #[allow(unused_imports)]
            use zant_runtime::elementwise::UnaryOp::*;
            let $ctx: &ParseCtx<'_> = ctx;
            Ok(Op::Unary(unary::Unary { op: $make }))
        })
    };
}

/// Every supported ONNX op type, sorted by domain and name, one line each.
#[rustfmt::skip]
pub static REGISTRY: &[OpSpec] = &[
    unary!("Abs",                     (6, 28), |_| Abs),
    unary!("Acos",                    (7, 28), |_| Acos),
    unary!("Acosh",                   (9, 28), |_| Acosh),
    op!("Add",                        (7, 28), (2, 2), (1, 1), binary::Binary),
    op!("AffineGrid",                 (20, 28), (2, 2), (1, 1), grid_sample::AffineGrid),
    op!("And",                        (7, 28), (2, 2), (1, 1), logic::Logic),
    op!("ArgMax",                     (1, 28), (1, 1), (1, 1), arg::Arg),
    op!("ArgMin",                     (1, 28), (1, 1), (1, 1), arg::Arg),
    unary!("Asin",                    (7, 28), |_| Asin),
    unary!("Asinh",                   (9, 28), |_| Asinh),
    unary!("Atan",                    (7, 28), |_| Atan),
    unary!("Atanh",                   (9, 28), |_| Atanh),
    op!("Attention",                  (23, 28), (3, 7), (1, 4), attention::Attention),
    op!("AveragePool",                (7, 28), (1, 1), (1, 1), pool::Pool),
    op!("BatchNormalization",         (7, 28), (5, 5), (1, 3), fn norm::parse),
    op!("BitCast",                    (26, 28), (1, 1), (1, 1), bit_cast::BitCast),
    op!("BitShift",                   (11, 28), (2, 2), (1, 1), logic::Logic),
    op!("BitwiseAnd",                 (18, 28), (2, 2), (1, 1), logic::Logic),
    op!("BitwiseNot",                 (18, 28), (1, 1), (1, 1), logic::Logic),
    op!("BitwiseOr",                  (18, 28), (2, 2), (1, 1), logic::Logic),
    op!("BitwiseXor",                 (18, 28), (2, 2), (1, 1), logic::Logic),
    op!("BlackmanWindow",             (17, 28), (1, 1), (1, 1), window_fn::WindowFn),
    op!("Cast",                       (6, 28), (1, 1), (1, 1), cast::Cast),
    op!("CastLike",                   (15, 28), (2, 2), (1, 1), cast::Cast),
    op!("CausalConvWithState",        (27, 28), (2, 4), (2, 2), causal_conv::CausalConv),
    unary!("Ceil",                    (6, 28), |_| Ceil),
    unary!("Celu",                    (12, 28), |c| Celu { alpha: c.float("alpha", 1.0)? }),
    op!("CenterCropPad",              (18, 28), (2, 2), (1, 1), center_crop_pad::CenterCropPad),
    op!("Clip",                       (6, 28), (1, 3), (1, 1), clip::Clip),
    op!("Col2Im",                     (18, 28), (3, 3), (1, 1), col2im::Col2Im),
    op!("Compress",                   (9, 28), (2, 2), (1, 1), compress::Compress),
    op!("Concat",                     (4, 28), (1, MANY), (1, 1), concat::Concat),
    op!("Constant",                   (1, 28), (0, 0), (1, 1), fn constant::parse),
    op!("ConstantOfShape",            (9, 28), (1, 1), (1, 1), constant_of_shape::ConstantOfShape),
    op!("Conv",                       (1, 28), (2, 3), (1, 1), conv::Conv),
    op!("ConvInteger",                (10, 28), (2, 4), (1, 1), qlinear::QConv),
    op!("ConvTranspose",              (1, 28), (2, 3), (1, 1), conv_transpose::ConvTranspose),
    unary!("Cos",                     (7, 28), |_| Cos),
    unary!("Cosh",                    (9, 28), |_| Cosh),
    op!("CumProd",                    (26, 28), (2, 2), (1, 1), cumsum::CumSum),
    op!("CumSum",                     (11, 28), (2, 2), (1, 1), cumsum::CumSum),
    op!("DFT",                        (17, 28), (1, 3), (1, 1), spectral::Dft),
    op!("DeformConv",                 (19, 28), (3, 5), (1, 1), deform_conv::DeformConv),
    op!("DepthToSpace",               (1, 28), (1, 1), (1, 1), space_depth::SpaceDepth),
    op!("DequantizeLinear",           (10, 28), (2, 3), (1, 1), quant::Quant),
    op!("Det",                        (11, 28), (1, 1), (1, 1), det::Det),
    op!("Div",                        (7, 28), (2, 2), (1, 1), binary::Binary),
    op!("Dropout",                    (7, 28), (1, 3), (1, 2), fn dropout::parse),
    op!("DynamicQuantizeLinear",      (11, 28), (1, 1), (3, 3), quant::DynamicQuant),
    op!("Einsum",                     (12, 28), (1, 8), (1, 1), einsum::Einsum),
    unary!("Elu",                     (6, 28), |c| Elu { alpha: c.float("alpha", 1.0)? }),
    op!("Equal",                      (7, 28), (2, 2), (1, 1), logic::Logic),
    unary!("Erf",                     (9, 28), |_| Erf),
    unary!("Exp",                     (6, 28), |_| Exp),
    op!("Expand",                     (8, 28), (2, 2), (1, 1), expand::Expand),
    op!("EyeLike",                    (9, 28), (1, 1), (1, 1), eye_like::EyeLike),
    op!("Flatten",                    (1, 28), (1, 1), (1, 1), reshape::Reshape),
    unary!("Floor",                   (6, 28), |_| Floor),
    op!("GRU",                        (7, 28), (3, 6), (1, 2), recurrent::Recurrent),
    op!("Gather",                     (1, 28), (2, 2), (1, 1), gather::Gather),
    op!("GatherElements",             (11, 28), (2, 2), (1, 1), gather_elements::GatherElements),
    op!("GatherND",                   (11, 28), (2, 2), (1, 1), gather_nd::GatherNd),
    unary!("Gelu",                    (20, 28), |c| unary::gelu(c)?),
    op!("Gemm",                       (7, 28), (2, 3), (1, 1), gemm::Gemm),
    op!("GlobalAveragePool",          (1, 28), (1, 1), (1, 1), pool::Pool),
    op!("GlobalMaxPool",              (1, 28), (1, 1), (1, 1), pool::Pool),
    op!("Greater",                    (7, 28), (2, 2), (1, 1), logic::Logic),
    op!("GreaterOrEqual",             (12, 28), (2, 2), (1, 1), logic::Logic),
    op!("GridSample",                 (16, 28), (2, 2), (1, 1), grid_sample::GridSample),
    op!("GroupNormalization",         (18, 28), (3, 3), (1, 1), channel_norm::GroupNorm),
    op!("HammingWindow",              (17, 28), (1, 1), (1, 1), window_fn::WindowFn),
    op!("HannWindow",                 (17, 28), (1, 1), (1, 1), window_fn::WindowFn),
    unary!("HardSigmoid",             (6, 28), |c| HardSigmoid { alpha: c.float("alpha", 0.2)?, beta: c.float("beta", 0.5)? }),
    unary!("HardSwish",               (14, 28), |_| HardSwish),
    op!("Hardmax",                    (1, 28), (1, 1), (1, 1), hardmax::Hardmax),
    op!("Identity",                   (1, 28), (1, 1), (1, 1), reshape::Reshape),
    op!("If",                         (1, 28), (1, MANY), (1, MANY), fn control::parse_if),
    op!("InstanceNormalization",      (6, 28), (3, 3), (1, 1), channel_norm::InstanceNorm),
    op!("IsInf",                      (10, 28), (1, 1), (1, 1), is_nan::IsNan),
    op!("IsNaN",                      (9, 28), (1, 1), (1, 1), is_nan::IsNan),
    op!("LRN",                        (1, 28), (1, 1), (1, 1), channel_norm::Lrn),
    op!("LSTM",                       (7, 28), (3, 8), (1, 3), recurrent::Recurrent),
    op!("LayerNormalization",         (17, 28), (2, 3), (1, 3), layer_norm::LayerNorm),
    unary!("LeakyRelu",               (6, 28), |c| LeakyRelu { alpha: c.float("alpha", 0.01)? }),
    op!("Less",                       (7, 28), (2, 2), (1, 1), logic::Logic),
    op!("LessOrEqual",                (12, 28), (2, 2), (1, 1), logic::Logic),
    op!("LinearAttention",            (27, 28), (3, 6), (2, 2), linear_attention::LinearAttention),
    unary!("Log",                     (6, 28), |_| Log),
    op!("LogSoftmax",                 (1, 28), (1, 1), (1, 1), softmax::Softmax),
    op!("Loop",                       (1, 28), (0, MANY), (1, MANY), fn control::parse_unrolled),
    op!("LpNormalization",            (1, 28), (1, 1), (1, 1), lp_norm::LpNorm),
    op!("LpPool",                     (1, 28), (1, 1), (1, 1), pool::Pool),
    op!("MatMul",                     (1, 28), (2, 2), (1, 1), matmul::MatMul),
    op!("MatMulInteger",              (10, 28), (2, 4), (1, 1), qlinear::QMatMul),
    op!("Max",                        (8, 28), (1, MANY), (1, 1), variadic::Variadic),
    op!("MaxPool",                    (1, 28), (1, 1), (1, 2), pool::Pool),
    op!("MaxUnpool",                  (9, 28), (2, 3), (1, 1), pool::MaxUnpool),
    op!("Mean",                       (8, 28), (1, MANY), (1, 1), variadic::Variadic),
    op!("MeanVarianceNormalization",  (9, 28), (1, 1), (1, 1), mvn::MeanVarianceNorm),
    op!("MelWeightMatrix",            (17, 28), (5, 5), (1, 1), window_fn::MelWeightMatrix),
    op!("Min",                        (8, 28), (1, MANY), (1, 1), variadic::Variadic),
    unary!("Mish",                    (18, 28), |_| Mish),
    op!("Mod",                        (10, 28), (2, 2), (1, 1), binary::Binary),
    op!("Mul",                        (7, 28), (2, 2), (1, 1), binary::Binary),
    unary!("Neg",                     (6, 28), |_| Neg),
    op!("NegativeLogLikelihoodLoss",  (12, 28), (2, 3), (1, 1), loss::Loss),
    op!("NonMaxSuppression",          (10, 28), (2, 5), (1, 1), nms::NonMaxSuppression),
    op!("NonZero",                    (9, 28), (1, 1), (1, 1), nonzero::NonZero),
    op!("Not",                        (1, 28), (1, 1), (1, 1), logic::Logic),
    op!("OneHot",                     (9, 28), (3, 3), (1, 1), one_hot::OneHot),
    op!("OptionalGetElement",         (15, 28), (1, 1), (1, 1), reshape::Reshape),
    op!("OptionalHasElement",         (15, 28), (0, 1), (1, 1), optional::HasElement),
    op!("Or",                         (7, 28), (2, 2), (1, 1), logic::Logic),
    op!("PRelu",                      (7, 28), (2, 2), (1, 1), binary::Binary),
    op!("Pad",                        (2, 28), (1, 4), (1, 1), pad::Pad),
    op!("Pow",                        (7, 28), (2, 2), (1, 1), fn binary::parse_pow),
    op!("QLinearConv",                (10, 28), (8, 9), (1, 1), qlinear::QConv),
    op!("QLinearMatMul",              (10, 28), (8, 8), (1, 1), qlinear::QMatMul),
    op!("QuantizeLinear",             (10, 28), (2, 3), (1, 1), quant::Quant),
    op!("RMSNormalization",           (23, 28), (2, 2), (1, 1), layer_norm::LayerNorm),
    op!("RNN",                        (7, 28), (3, 6), (1, 2), recurrent::Recurrent),
    op!("Range",                      (11, 28), (3, 3), (1, 1), range::Range),
    unary!("Reciprocal",              (6, 28), |_| Reciprocal),
    op!("ReduceL1",                   (1, 28), (1, 2), (1, 1), reduce::Reduce),
    op!("ReduceL2",                   (1, 28), (1, 2), (1, 1), reduce::Reduce),
    op!("ReduceLogSum",               (1, 28), (1, 2), (1, 1), reduce::Reduce),
    op!("ReduceLogSumExp",            (1, 28), (1, 2), (1, 1), reduce::Reduce),
    op!("ReduceMax",                  (1, 28), (1, 2), (1, 1), reduce::Reduce),
    op!("ReduceMean",                 (1, 28), (1, 2), (1, 1), reduce::Reduce),
    op!("ReduceMin",                  (1, 28), (1, 2), (1, 1), reduce::Reduce),
    op!("ReduceProd",                 (1, 28), (1, 2), (1, 1), reduce::Reduce),
    op!("ReduceSum",                  (1, 28), (1, 2), (1, 1), reduce::Reduce),
    op!("ReduceSumSquare",            (1, 28), (1, 2), (1, 1), reduce::Reduce),
    unary!("Relu",                    (6, 28), |_| Relu),
    op!("Reshape",                    (5, 28), (2, 2), (1, 1), reshape::Reshape),
    op!("Resize",                     (11, 28), (1, 4), (1, 1), resize::Resize),
    op!("ReverseSequence",            (10, 28), (2, 2), (1, 1), reverse_sequence::ReverseSequence),
    op!("RoiAlign",                   (10, 28), (3, 3), (1, 1), roi_align::RoiAlign),
    op!("RotaryEmbedding",            (23, 28), (3, 4), (1, 1), rotary_embedding::RotaryEmbedding),
    unary!("Round",                   (11, 28), |_| Round),
    op!("STFT",                       (17, 28), (2, 4), (1, 1), spectral::Stft),
    op!("Scan",                       (8, 28), (1, MANY), (1, MANY), fn control::parse_unrolled),
    op!("Scatter",                    (9, 10), (3, 3), (1, 1), scatter::Scatter),
    op!("ScatterElements",            (11, 28), (3, 3), (1, 1), scatter::Scatter),
    op!("ScatterND",                  (11, 28), (3, 3), (1, 1), scatter::Scatter),
    unary!("Selu",                    (6, 28), |c| Selu { alpha: c.float("alpha", 1.673_263_2)?, gamma: c.float("gamma", 1.050_701)? }),
    op!("Shape",                      (1, 28), (1, 1), (1, 1), shape::Shape),
    unary!("Shrink",                  (9, 28), |c| Shrink { bias: c.float("bias", 0.0)?, lambd: c.float("lambd", 0.5)? }),
    unary!("Sigmoid",                 (6, 28), |_| Sigmoid),
    unary!("Sign",                    (9, 28), |_| Sign),
    unary!("Sin",                     (7, 28), |_| Sin),
    unary!("Sinh",                    (9, 28), |_| Sinh),
    op!("Size",                       (1, 28), (1, 1), (1, 1), range::Range),
    op!("Slice",                      (1, 28), (1, 5), (1, 1), slice::Slice),
    op!("Softmax",                    (1, 28), (1, 1), (1, 1), softmax::Softmax),
    op!("SoftmaxCrossEntropyLoss",    (12, 28), (2, 3), (1, 2), loss::Loss),
    unary!("Softplus",                (1, 28), |_| Softplus),
    unary!("Softsign",                (1, 28), |_| Softsign),
    op!("SpaceToDepth",               (1, 28), (1, 1), (1, 1), space_depth::SpaceDepth),
    op!("Split",                      (2, 28), (1, 2), (1, MANY), split::Split),
    unary!("Sqrt",                    (6, 28), |_| Sqrt),
    op!("Squeeze",                    (1, 28), (1, 2), (1, 1), reshape::Reshape),
    op!("Sub",                        (7, 28), (2, 2), (1, 1), binary::Binary),
    op!("Sum",                        (8, 28), (1, MANY), (1, 1), variadic::Variadic),
    op!("SwiGLU",                     (28, 28), (2, 2), (1, 1), unary::SwiGlu),
    unary!("Swish",                   (24, 28), |c| Swish { alpha: c.float("alpha", 1.0)? }),
    unary!("Tan",                     (7, 28), |_| Tan),
    unary!("Tanh",                    (6, 28), |_| Tanh),
    op!("TensorScatter",              (24, 28), (2, 3), (1, 1), scatter::TensorScatter),
    op!("TfIdfVectorizer",            (9, 28), (1, 1), (1, 1), tfidf::TfIdf),
    unary!("ThresholdedRelu",         (10, 28), |c| ThresholdedRelu { alpha: c.float("alpha", 1.0)? }),
    op!("Tile",                       (6, 28), (2, 2), (1, 1), tile::Tile),
    op!("TopK",                       (1, 28), (1, 2), (2, 2), top_k::TopK),
    op!("Transpose",                  (1, 28), (1, 1), (1, 1), transpose::Transpose),
    op!("Trilu",                      (14, 28), (1, 2), (1, 1), trilu::Trilu),
    op!("Unique",                     (11, 28), (1, 1), (1, 4), unique::Unique),
    op!("Unsqueeze",                  (1, 28), (1, 2), (1, 1), reshape::Reshape),
    op!("Upsample",                   (7, 9), (1, 2), (1, 1), fn resize::parse_upsample),
    op!("Where",                      (9, 28), (3, 3), (1, 1), where_::Where),
    op!("Xor",                        (7, 28), (2, 2), (1, 1), logic::Logic),
    op!(@ "ai.onnx.ml", "ArrayFeatureExtractor", (1, 5), (2, 2), (1, 1), |ctx| <array_feature_extractor::ArrayFeatureExtractor as Parse>::parse(ctx).map(Op::from)),
    op!(@ "ai.onnx.ml", "Binarizer", (1, 5), (1, 1), (1, 1), |ctx| <ml_transform::MlTransform as Parse>::parse(ctx).map(Op::from)),
    op!(@ "ai.onnx.ml", "LabelEncoder", (2, 5), (1, 1), (1, 1), |ctx| <label_encoder::LabelEncoder as Parse>::parse(ctx).map(Op::from)),
    op!(@ "ai.onnx.ml", "LinearClassifier", (1, 5), (1, 1), (2, 2), |ctx| <linear_model::LinearModel as Parse>::parse(ctx).map(Op::from)),
    op!(@ "ai.onnx.ml", "LinearRegressor", (1, 5), (1, 1), (1, 1), |ctx| <linear_model::LinearModel as Parse>::parse(ctx).map(Op::from)),
    op!(@ "ai.onnx.ml", "Normalizer", (1, 5), (1, 1), (1, 1), |ctx| <ml_transform::MlTransform as Parse>::parse(ctx).map(Op::from)),
    op!(@ "ai.onnx.ml", "SVMRegressor", (1, 5), (1, 1), (1, 1), |ctx| <svm::SvmRegressor as Parse>::parse(ctx).map(Op::from)),
    op!(@ "ai.onnx.ml", "Scaler", (1, 5), (1, 1), (1, 1), |ctx| <ml_transform::MlTransform as Parse>::parse(ctx).map(Op::from)),
    op!(@ "ai.onnx.ml", "TreeEnsemble", (5, 5), (1, 1), (1, 1), |ctx| <tree_ensemble::TreeEnsemble as Parse>::parse(ctx).map(Op::from)),
    op!(@ "ai.onnx.ml", "TreeEnsembleClassifier", (1, 4), (1, 1), (2, 2), |ctx| <tree_ensemble::TreeEnsemble as Parse>::parse(ctx).map(Op::from)),
    op!(@ "ai.onnx.ml", "TreeEnsembleRegressor", (1, 4), (1, 1), (1, 1), |ctx| <tree_ensemble::TreeEnsemble as Parse>::parse(ctx).map(Op::from)),
    op!(@ "ai.onnx.preview", "FlexAttention", (1, 1), (3, 3), (1, 1), control::parse_unrolled),
    op!(@ "ai.onnx.preview.training", "Adagrad", (1, 1), (5, MANY), (2, MANY), |ctx| <optim::Optimizer as Parse>::parse(ctx).map(Op::from)),
    op!(@ "ai.onnx.preview.training", "Adam", (1, 1), (6, MANY), (3, MANY), |ctx| <optim::Optimizer as Parse>::parse(ctx).map(Op::from)),
    op!(@ "ai.onnx.preview.training", "Momentum", (1, 1), (5, MANY), (2, MANY), |ctx| <optim::Optimizer as Parse>::parse(ctx).map(Op::from)),
    op!(@ "ai.zant", "QLayerNormalization", (1, 1), (4, 7), (1, 1), |ctx| <qlayer_norm::QLayerNorm as Parse>::parse(ctx).map(Op::from)),
    op!(@ "ai.zant", "QLookup", (1, 1), (2, 2), (1, 1), |ctx| <qlookup::QLookup as Parse>::parse(ctx).map(Op::from)),
    op!(@ "ai.zant", "TernaryConv", (1, 1), (3, 4), (1, 1), |ctx| <ternary::TernaryConv as Parse>::parse(ctx).map(Op::from)),
    op!(@ "ai.zant", "TernaryMatMul", (1, 1), (3, 4), (1, 1), |ctx| <ternary::TernaryMatMul as Parse>::parse(ctx).map(Op::from)),
    op!(@ "com.microsoft", "QGemm",   (1, 1), (6, 9), (1, 1), |ctx| <qlinear::QMatMul as Parse>::parse(ctx).map(Op::from)),
    op!(@ "com.microsoft", "QLinearAdd", (1, 1), (7, 8), (1, 1), |ctx| <qlinear::QLinearBinary as Parse>::parse(ctx).map(Op::from)),
    op!(@ "com.microsoft", "QLinearGlobalAveragePool", (1, 1), (4, 5), (1, 1), |ctx| <qlinear::QGlobalAveragePool as Parse>::parse(ctx).map(Op::from)),
    op!(@ "com.microsoft", "QLinearMul", (1, 1), (7, 8), (1, 1), |ctx| <qlinear::QLinearBinary as Parse>::parse(ctx).map(Op::from)),
    op!(@ "com.microsoft", "QLinearSoftmax", (1, 1), (4, 5), (1, 1), |ctx| <qsoftmax::QSoftmax as Parse>::parse(ctx).map(Op::from)),
    unary!(@ "com.microsoft", "QuickGelu", (1, 1), |c| Swish { alpha: c.float("alpha", 1.702)? }),
];

/// Finds the implementation of `op_type` in `domain`.
pub fn lookup(domain: &str, op_type: &str) -> Option<&'static OpSpec> {
    let domain = if domain == "ai.onnx" { "" } else { domain };
    REGISTRY
        .iter()
        .find(|s| s.name == op_type && s.domain == domain)
}

/// The op table as Markdown (`docs/ops.md`).
pub fn markdown_table() -> String {
    let mut s = String::from(
        "# Supported ONNX ops\n\nGenerated from `compiler/src/ops/mod.rs` by `zantc ops`; a test fails when it is stale.\n\n| op | domain | opsets | inputs | outputs |\n|---|---|---|---|---|\n",
    );
    let range = |(lo, hi): (usize, usize)| {
        if hi == usize::MAX {
            format!("{lo}+")
        } else if lo == hi {
            lo.to_string()
        } else {
            format!("{lo}–{hi}")
        }
    };
    for spec in REGISTRY {
        let domain = if spec.domain.is_empty() {
            "ai.onnx"
        } else {
            spec.domain
        };
        s.push_str(&format!(
            "| {} | {} | {}–{} | {} | {} |\n",
            spec.name,
            domain,
            spec.opsets.0,
            spec.opsets.1,
            range(spec.inputs),
            range(spec.outputs)
        ));
    }
    s
}

/// Attribute names the ops read, for [`fuzz_dictionary`]: a mutation that writes one of
/// them reaches an op's attribute parsing instead of its "missing attribute" error.
const ATTRIBUTE_NAMES: &[&str] = &[
    "activations",
    "allowzero",
    "alpha",
    "auto_pad",
    "axes",
    "axis",
    "batch_dims",
    "beta",
    "blocksize",
    "body",
    "ceil_mode",
    "coordinate_transformation_mode",
    "count_include_pad",
    "dilations",
    "direction",
    "dtype",
    "else_branch",
    "epsilon",
    "group",
    "hidden_size",
    "k",
    "keepdims",
    "kernel_shape",
    "largest",
    "layout",
    "mode",
    "nearest_mode",
    "num_outputs",
    "output_padding",
    "output_shape",
    "p",
    "pads",
    "perm",
    "reduction",
    "saturate",
    "select_last_index",
    "sorted",
    "split",
    "stash_type",
    "strides",
    "then_branch",
    "to",
    "transA",
    "transB",
    "value",
    "value_float",
    "value_floats",
    "value_int",
    "value_ints",
];

/// A libFuzzer dictionary (`compiler/fuzz/onnx.dict`): every op name and domain of the
/// table and the common attribute names, each a quoted token on a line of its own.
pub fn fuzz_dictionary() -> String {
    let mut s = String::from(
        "# ONNX tokens for the compiler's fuzz targets (docs/fuzzing.md).\n\
         # Generated by `zant_compiler::ops::fuzz_dictionary`; a test fails when it is stale.\n",
    );
    let mut seen = std::collections::BTreeSet::new();
    let domains = REGISTRY
        .iter()
        .map(|spec| spec.domain)
        .filter(|d| !d.is_empty());
    let tokens = REGISTRY
        .iter()
        .map(|spec| spec.name)
        .chain(domains)
        .chain(["ai.onnx"])
        .chain(ATTRIBUTE_NAMES.iter().copied());
    for token in tokens {
        if seen.insert(token) {
            s.push_str(&format!("\"{token}\"\n"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every op, given a node with none of its inputs and no attributes, is refused by its
    /// parser or by its inference (unless it needs no inputs), and nothing panics.
    #[test]
    fn every_op_refuses_a_node_without_its_inputs() {
        use std::collections::BTreeMap;
        use std::panic::{catch_unwind, AssertUnwindSafe};
        let attrs = BTreeMap::new();
        for spec in REGISTRY {
            let ctx = ParseCtx::new(spec.name, spec.opsets.1, &attrs, vec![], vec![]);
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                (spec.parse)(&ctx).and_then(|op| op.infer(&[]).map(|_| ()))
            }))
            .unwrap_or_else(|_| panic!("{} panicked", spec.name));
            if spec.inputs.0 > 0 {
                assert!(
                    outcome.is_err(),
                    "{} accepted a node without inputs",
                    spec.name
                );
            }
        }
    }

    #[test]
    fn the_table_is_sorted_and_has_no_duplicates() {
        for pair in REGISTRY.windows(2) {
            let (a, b) = (
                (pair[0].domain, pair[0].name),
                (pair[1].domain, pair[1].name),
            );
            assert!(a < b, "{a:?} must come before {b:?}");
        }
    }
}
