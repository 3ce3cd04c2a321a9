//! The operator table: every supported ONNX op, its opset range and arity, and dispatch.
//!
//! One op (or one family of ops that share a kernel) lives in one file, which holds its
//! attribute struct, parsing, shape inference, constant folding and emission. To add an op,
//! copy a file, implement [`OpKind`], and add one line to `define_ops!` and to [`REGISTRY`].

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;

use proc_macro2::TokenStream;
use quote::quote;

use crate::ir::{DType, Tensor, TensorType};
use crate::onnx::Attribute;

pub mod arg;
pub mod attention;
pub mod binary;
pub mod cast;
pub mod clip;
pub mod concat;
pub mod constant;
pub mod constant_of_shape;
pub mod conv;
pub mod conv_transpose;
pub mod cumsum;
pub mod einsum;
pub mod expand;
pub mod eye_like;
pub mod gather;
pub mod gather_elements;
pub mod gather_nd;
pub mod gemm;
pub mod grid_sample;
pub mod hardmax;
pub mod is_nan;
pub mod layer_norm;
pub mod linear_attention;
pub mod logic;
pub mod loss;
pub mod lp_norm;
pub mod matmul;
pub mod norm;
pub mod one_hot;
pub mod pad;
pub mod pool;
pub mod quant;
pub mod range;
pub mod reduce;
pub mod reshape;
pub mod resize;
pub mod rotary_embedding;
pub mod scatter;
pub mod shape;
pub mod slice;
pub mod softmax;
pub mod space_depth;
pub mod split;
pub mod tile;
pub mod top_k;
pub mod transpose;
pub mod trilu;
pub mod unary;
pub mod variadic;
pub mod where_;
pub mod window;
pub mod window_fn;

/// What an op implementation provides. Errors are plain messages; the caller adds the node,
/// op type and opset.
pub trait OpKind: Sized + Clone + fmt::Debug {
    /// Reads attributes (and constant inputs the op needs at compile time).
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, String>;

    /// Output types from input types (`None` for an omitted optional input).
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, String>;

    /// Evaluates the op on constant inputs. Only called when every present input is
    /// constant, or for any inputs when [`OpKind::folds_from_types`] says so.
    fn fold(&self, _ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, String> {
        Ok(None)
    }

    /// Whether the op can be folded knowing only its input types (e.g. `Shape`).
    fn folds_from_types(&self) -> bool {
        false
    }

    /// Emits the kernel call; see [`EmitCtx`] for the names in scope.
    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, String>;

    /// The inputs whose buffer the output may overwrite (element-wise ops), in order of
    /// preference; the planner takes the first one that has the output's type and dies here.
    fn in_place_inputs(&self) -> &'static [usize] {
        &[]
    }

    /// Whether the output has exactly the bytes of input 0 (reshapes), so it can share its
    /// storage without a copy.
    fn is_view(&self) -> bool {
        false
    }
}

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
    pub parse: fn(&ParseCtx<'_>) -> Result<Op, String>,
}

macro_rules! define_ops {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        /// An operation of the IR.
        #[derive(Clone, Debug)]
        pub enum Op {
            /// Graph input number `.0`.
            Input(usize),
            /// A compile-time constant.
            Const(Tensor),
            $($variant($ty),)*
        }

        impl Op {
            /// The op name shown in the IR text.
            pub fn name(&self) -> &'static str {
                match self {
                    Op::Input(_) => "Input",
                    Op::Const(_) => "Const",
                    $(Op::$variant(_) => stringify!($variant),)*
                }
            }

            /// The attributes shown in the IR text.
            pub fn attrs_text(&self) -> String {
                match self {
                    Op::Input(i) => format!("{{index={i}}}"),
                    Op::Const(t) => format!("{t:?}"),
                    $(Op::$variant(op) => format!("{op:?}"),)*
                }
            }

            pub fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, String> {
                match self {
                    Op::Input(_) => Err("graph inputs have no inference".into()),
                    Op::Const(t) => Ok(vec![t.ty()]),
                    $(Op::$variant(op) => op.infer(inputs),)*
                }
            }

            pub fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, String> {
                match self {
                    Op::Input(_) => Ok(None),
                    Op::Const(t) => Ok(Some(vec![t.clone()])),
                    $(Op::$variant(op) => op.fold(ctx),)*
                }
            }

            pub fn folds_from_types(&self) -> bool {
                match self {
                    Op::Input(_) | Op::Const(_) => false,
                    $(Op::$variant(op) => op.folds_from_types(),)*
                }
            }

            pub fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, String> {
                match self {
                    Op::Input(_) | Op::Const(_) => Ok(TokenStream::new()),
                    $(Op::$variant(op) => op.emit(ctx),)*
                }
            }

            pub fn in_place_inputs(&self) -> &'static [usize] {
                match self {
                    Op::Input(_) | Op::Const(_) => &[],
                    $(Op::$variant(op) => op.in_place_inputs(),)*
                }
            }

            pub fn is_view(&self) -> bool {
                match self {
                    Op::Input(_) | Op::Const(_) => false,
                    $(Op::$variant(op) => op.is_view(),)*
                }
            }
        }
    };
}

define_ops! {
    DynamicQuant(quant::DynamicQuant),
    WindowFn(window_fn::WindowFn),
    LpNorm(lp_norm::LpNorm),
    Einsum(einsum::Einsum),
    ConvTranspose(conv_transpose::ConvTranspose),
    Quant(quant::Quant),
    GridSample(grid_sample::GridSample),
    Resize(resize::Resize),
    Arg(arg::Arg),
    CumSum(cumsum::CumSum),
    EyeLike(eye_like::EyeLike),
    GatherElements(gather_elements::GatherElements),
    GatherNd(gather_nd::GatherNd),
    Hardmax(hardmax::Hardmax),
    IsNan(is_nan::IsNan),
    OneHot(one_hot::OneHot),
    Pad(pad::Pad),
    Scatter(scatter::Scatter),
    SpaceDepth(space_depth::SpaceDepth),
    Split(split::Split),
    Tile(tile::Tile),
    TopK(top_k::TopK),
    Trilu(trilu::Trilu),
    Attention(attention::Attention),
    Binary(binary::Binary),
    BatchNorm(norm::BatchNorm),
    Cast(cast::Cast),
    Clip(clip::Clip),
    Concat(concat::Concat),
    ConstantOfShape(constant_of_shape::ConstantOfShape),
    Conv(conv::Conv),
    Expand(expand::Expand),
    Gather(gather::Gather),
    Gemm(gemm::Gemm),
    LayerNorm(layer_norm::LayerNorm),
    LinearAttention(linear_attention::LinearAttention),
    Logic(logic::Logic),
    Loss(loss::Loss),
    MatMul(matmul::MatMul),
    Pool(pool::Pool),
    PowMixed(binary::PowMixed),
    Range(range::Range),
    Reduce(reduce::Reduce),
    Reshape(reshape::Reshape),
    RotaryEmbedding(rotary_embedding::RotaryEmbedding),
    Shape(shape::Shape),
    Slice(slice::Slice),
    Softmax(softmax::Softmax),
    Transpose(transpose::Transpose),
    Unary(unary::Unary),
    Variadic(variadic::Variadic),
    Where(where_::Where),
}

macro_rules! spec {
    ($name:literal, $opsets:expr, $inputs:expr, $outputs:expr, $variant:ident, $ty:ty) => {
        OpSpec {
            name: $name,
            domain: "",
            opsets: $opsets,
            inputs: $inputs,
            outputs: $outputs,
            parse: |ctx| <$ty as OpKind>::parse(ctx).map(Op::$variant),
        }
    };
}

/// Every supported ONNX op type. `docs/ops.md` is generated from this table.
pub static REGISTRY: &[OpSpec] = &[
    spec!("Abs", (6, 28), (1, 1), (1, 1), Unary, unary::Unary),
    spec!("Add", (7, 28), (2, 2), (1, 1), Binary, binary::Binary),
    spec!(
        "Attention",
        (23, 28),
        (3, 7),
        (1, 4),
        Attention,
        attention::Attention
    ),
    spec!("AveragePool", (7, 28), (1, 1), (1, 1), Pool, pool::Pool),
    spec!(
        "BatchNormalization",
        (7, 28),
        (5, 5),
        (1, 1),
        BatchNorm,
        norm::BatchNorm
    ),
    spec!("Clip", (6, 28), (1, 3), (1, 1), Clip, clip::Clip),
    spec!(
        "Concat",
        (4, 28),
        (1, usize::MAX),
        (1, 1),
        Concat,
        concat::Concat
    ),
    OpSpec {
        name: "Constant",
        domain: "",
        opsets: (1, 28),
        inputs: (0, 0),
        outputs: (1, 1),
        parse: constant::parse,
    },
    spec!(
        "ConstantOfShape",
        (9, 28),
        (1, 1),
        (1, 1),
        ConstantOfShape,
        constant_of_shape::ConstantOfShape
    ),
    spec!("Conv", (1, 28), (2, 3), (1, 1), Conv, conv::Conv),
    spec!("Div", (7, 28), (2, 2), (1, 1), Binary, binary::Binary),
    spec!(
        "Dropout",
        (7, 28),
        (1, 3),
        (1, 2),
        Reshape,
        reshape::Reshape
    ),
    spec!("Elu", (6, 28), (1, 1), (1, 1), Unary, unary::Unary),
    spec!("Exp", (6, 28), (1, 1), (1, 1), Unary, unary::Unary),
    spec!(
        "Flatten",
        (1, 28),
        (1, 1),
        (1, 1),
        Reshape,
        reshape::Reshape
    ),
    spec!("Gather", (1, 28), (2, 2), (1, 1), Gather, gather::Gather),
    spec!("Gemm", (7, 28), (2, 3), (1, 1), Gemm, gemm::Gemm),
    spec!(
        "GlobalAveragePool",
        (1, 28),
        (1, 1),
        (1, 1),
        Pool,
        pool::Pool
    ),
    spec!("GlobalMaxPool", (1, 28), (1, 1), (1, 1), Pool, pool::Pool),
    spec!("HardSigmoid", (6, 28), (1, 1), (1, 1), Unary, unary::Unary),
    spec!("HardSwish", (14, 28), (1, 1), (1, 1), Unary, unary::Unary),
    spec!(
        "Identity",
        (1, 28),
        (1, 1),
        (1, 1),
        Reshape,
        reshape::Reshape
    ),
    spec!(
        "LayerNormalization",
        (17, 28),
        (2, 3),
        (1, 3),
        LayerNorm,
        layer_norm::LayerNorm
    ),
    spec!("LeakyRelu", (6, 28), (1, 1), (1, 1), Unary, unary::Unary),
    spec!(
        "LinearAttention",
        (27, 28),
        (3, 6),
        (2, 2),
        LinearAttention,
        linear_attention::LinearAttention
    ),
    spec!("Log", (6, 28), (1, 1), (1, 1), Unary, unary::Unary),
    spec!(
        "LogSoftmax",
        (1, 28),
        (1, 1),
        (1, 1),
        Softmax,
        softmax::Softmax
    ),
    spec!("MatMul", (1, 28), (2, 2), (1, 1), MatMul, matmul::MatMul),
    spec!(
        "Max",
        (8, 28),
        (1, usize::MAX),
        (1, 1),
        Variadic,
        variadic::Variadic
    ),
    spec!("MaxPool", (1, 28), (1, 1), (1, 1), Pool, pool::Pool),
    spec!(
        "Min",
        (8, 28),
        (1, usize::MAX),
        (1, 1),
        Variadic,
        variadic::Variadic
    ),
    spec!("Mul", (7, 28), (2, 2), (1, 1), Binary, binary::Binary),
    spec!("Neg", (6, 28), (1, 1), (1, 1), Unary, unary::Unary),
    spec!(
        "NegativeLogLikelihoodLoss",
        (12, 28),
        (2, 3),
        (1, 1),
        Loss,
        loss::Loss
    ),
    OpSpec {
        name: "Pow",
        domain: "",
        opsets: (7, 28),
        inputs: (2, 2),
        outputs: (1, 1),
        parse: binary::parse_pow,
    },
    spec!(
        "RMSNormalization",
        (23, 28),
        (2, 2),
        (1, 1),
        LayerNorm,
        layer_norm::LayerNorm
    ),
    spec!("ReduceMax", (1, 28), (1, 2), (1, 1), Reduce, reduce::Reduce),
    spec!(
        "ReduceMean",
        (1, 28),
        (1, 2),
        (1, 1),
        Reduce,
        reduce::Reduce
    ),
    spec!("ReduceMin", (1, 28), (1, 2), (1, 1), Reduce, reduce::Reduce),
    spec!("ReduceSum", (1, 28), (1, 2), (1, 1), Reduce, reduce::Reduce),
    spec!("Relu", (6, 28), (1, 1), (1, 1), Unary, unary::Unary),
    spec!(
        "Reshape",
        (5, 28),
        (2, 2),
        (1, 1),
        Reshape,
        reshape::Reshape
    ),
    spec!(
        "RotaryEmbedding",
        (23, 28),
        (3, 4),
        (1, 1),
        RotaryEmbedding,
        rotary_embedding::RotaryEmbedding
    ),
    spec!("Shape", (1, 28), (1, 1), (1, 1), Shape, shape::Shape),
    spec!("Sigmoid", (6, 28), (1, 1), (1, 1), Unary, unary::Unary),
    spec!(
        "Softmax",
        (1, 28),
        (1, 1),
        (1, 1),
        Softmax,
        softmax::Softmax
    ),
    spec!(
        "SoftmaxCrossEntropyLoss",
        (12, 28),
        (2, 3),
        (1, 2),
        Loss,
        loss::Loss
    ),
    spec!("Sqrt", (6, 28), (1, 1), (1, 1), Unary, unary::Unary),
    spec!(
        "Squeeze",
        (1, 28),
        (1, 2),
        (1, 1),
        Reshape,
        reshape::Reshape
    ),
    spec!("Sub", (7, 28), (2, 2), (1, 1), Binary, binary::Binary),
    spec!("Tanh", (6, 28), (1, 1), (1, 1), Unary, unary::Unary),
    spec!(
        "Transpose",
        (1, 28),
        (1, 1),
        (1, 1),
        Transpose,
        transpose::Transpose
    ),
    spec!(
        "Unsqueeze",
        (1, 28),
        (1, 2),
        (1, 1),
        Reshape,
        reshape::Reshape
    ),
    spec!("Acos", (7, 28), (1, 1), (1, 1), Unary, unary::Unary),
    spec!("Acosh", (9, 28), (1, 1), (1, 1), Unary, unary::Unary),
    spec!("And", (7, 28), (2, 2), (1, 1), Logic, logic::Logic),
    spec!("Asin", (7, 28), (1, 1), (1, 1), Unary, unary::Unary),
    spec!("Asinh", (9, 28), (1, 1), (1, 1), Unary, unary::Unary),
    spec!("Atan", (7, 28), (1, 1), (1, 1), Unary, unary::Unary),
    spec!("Atanh", (9, 28), (1, 1), (1, 1), Unary, unary::Unary),
    spec!("BitShift", (11, 28), (2, 2), (1, 1), Logic, logic::Logic),
    spec!("Cast", (6, 28), (1, 1), (1, 1), Cast, cast::Cast),
    spec!("CastLike", (15, 28), (2, 2), (1, 1), Cast, cast::Cast),
    spec!("Ceil", (6, 28), (1, 1), (1, 1), Unary, unary::Unary),
    spec!("Celu", (12, 28), (1, 1), (1, 1), Unary, unary::Unary),
    spec!("Cos", (7, 28), (1, 1), (1, 1), Unary, unary::Unary),
    spec!("Cosh", (9, 28), (1, 1), (1, 1), Unary, unary::Unary),
    spec!("Equal", (7, 28), (2, 2), (1, 1), Logic, logic::Logic),
    spec!("Erf", (9, 28), (1, 1), (1, 1), Unary, unary::Unary),
    spec!("Expand", (8, 28), (2, 2), (1, 1), Expand, expand::Expand),
    spec!("Floor", (6, 28), (1, 1), (1, 1), Unary, unary::Unary),
    spec!("Gelu", (20, 28), (1, 1), (1, 1), Unary, unary::Unary),
    spec!("Greater", (7, 28), (2, 2), (1, 1), Logic, logic::Logic),
    spec!(
        "GreaterOrEqual",
        (12, 28),
        (2, 2),
        (1, 1),
        Logic,
        logic::Logic
    ),
    spec!("Less", (7, 28), (2, 2), (1, 1), Logic, logic::Logic),
    spec!("LessOrEqual", (12, 28), (2, 2), (1, 1), Logic, logic::Logic),
    spec!(
        "Mean",
        (8, 28),
        (1, usize::MAX),
        (1, 1),
        Variadic,
        variadic::Variadic
    ),
    spec!("Mish", (18, 28), (1, 1), (1, 1), Unary, unary::Unary),
    spec!("Mod", (10, 28), (2, 2), (1, 1), Binary, binary::Binary),
    spec!("Not", (1, 28), (1, 1), (1, 1), Logic, logic::Logic),
    spec!("Or", (7, 28), (2, 2), (1, 1), Logic, logic::Logic),
    spec!("Range", (11, 28), (3, 3), (1, 1), Range, range::Range),
    spec!("Reciprocal", (6, 28), (1, 1), (1, 1), Unary, unary::Unary),
    spec!("ReduceL1", (1, 28), (1, 2), (1, 1), Reduce, reduce::Reduce),
    spec!("ReduceL2", (1, 28), (1, 2), (1, 1), Reduce, reduce::Reduce),
    spec!(
        "ReduceLogSum",
        (1, 28),
        (1, 2),
        (1, 1),
        Reduce,
        reduce::Reduce
    ),
    spec!(
        "ReduceLogSumExp",
        (1, 28),
        (1, 2),
        (1, 1),
        Reduce,
        reduce::Reduce
    ),
    spec!(
        "ReduceProd",
        (1, 28),
        (1, 2),
        (1, 1),
        Reduce,
        reduce::Reduce
    ),
    spec!(
        "ReduceSumSquare",
        (1, 28),
        (1, 2),
        (1, 1),
        Reduce,
        reduce::Reduce
    ),
    spec!("Round", (11, 28), (1, 1), (1, 1), Unary, unary::Unary),
    spec!("Selu", (6, 28), (1, 1), (1, 1), Unary, unary::Unary),
    spec!("Shrink", (9, 28), (1, 1), (1, 1), Unary, unary::Unary),
    spec!("Sign", (9, 28), (1, 1), (1, 1), Unary, unary::Unary),
    spec!("Sin", (7, 28), (1, 1), (1, 1), Unary, unary::Unary),
    spec!("Sinh", (9, 28), (1, 1), (1, 1), Unary, unary::Unary),
    spec!("Size", (1, 28), (1, 1), (1, 1), Range, range::Range),
    spec!("Slice", (1, 28), (1, 5), (1, 1), Slice, slice::Slice),
    spec!("Softplus", (1, 28), (1, 1), (1, 1), Unary, unary::Unary),
    spec!("Softsign", (1, 28), (1, 1), (1, 1), Unary, unary::Unary),
    spec!(
        "Sum",
        (8, 28),
        (1, usize::MAX),
        (1, 1),
        Variadic,
        variadic::Variadic
    ),
    spec!("Swish", (24, 28), (1, 1), (1, 1), Unary, unary::Unary),
    spec!("Tan", (7, 28), (1, 1), (1, 1), Unary, unary::Unary),
    spec!(
        "ThresholdedRelu",
        (10, 28),
        (1, 1),
        (1, 1),
        Unary,
        unary::Unary
    ),
    spec!("Where", (9, 28), (3, 3), (1, 1), Where, where_::Where),
    spec!("Xor", (7, 28), (2, 2), (1, 1), Logic, logic::Logic),
    spec!("ArgMax", (1, 28), (1, 1), (1, 1), Arg, arg::Arg),
    spec!("ArgMin", (1, 28), (1, 1), (1, 1), Arg, arg::Arg),
    spec!("CumSum", (11, 28), (2, 2), (1, 1), CumSum, cumsum::CumSum),
    spec!(
        "DepthToSpace",
        (1, 28),
        (1, 1),
        (1, 1),
        SpaceDepth,
        space_depth::SpaceDepth
    ),
    spec!(
        "EyeLike",
        (9, 28),
        (1, 1),
        (1, 1),
        EyeLike,
        eye_like::EyeLike
    ),
    spec!(
        "GatherElements",
        (11, 28),
        (2, 2),
        (1, 1),
        GatherElements,
        gather_elements::GatherElements
    ),
    spec!(
        "GatherND",
        (11, 28),
        (2, 2),
        (1, 1),
        GatherNd,
        gather_nd::GatherNd
    ),
    spec!(
        "Hardmax",
        (1, 28),
        (1, 1),
        (1, 1),
        Hardmax,
        hardmax::Hardmax
    ),
    spec!("IsInf", (10, 28), (1, 1), (1, 1), IsNan, is_nan::IsNan),
    spec!("IsNaN", (9, 28), (1, 1), (1, 1), IsNan, is_nan::IsNan),
    spec!("OneHot", (9, 28), (3, 3), (1, 1), OneHot, one_hot::OneHot),
    spec!("Pad", (2, 28), (1, 4), (1, 1), Pad, pad::Pad),
    spec!(
        "ScatterElements",
        (11, 28),
        (3, 3),
        (1, 1),
        Scatter,
        scatter::Scatter
    ),
    spec!(
        "ScatterND",
        (11, 28),
        (3, 3),
        (1, 1),
        Scatter,
        scatter::Scatter
    ),
    spec!(
        "SpaceToDepth",
        (1, 28),
        (1, 1),
        (1, 1),
        SpaceDepth,
        space_depth::SpaceDepth
    ),
    spec!(
        "Split",
        (2, 28),
        (1, 2),
        (1, usize::MAX),
        Split,
        split::Split
    ),
    spec!("Tile", (6, 28), (2, 2), (1, 1), Tile, tile::Tile),
    spec!("TopK", (1, 28), (1, 2), (2, 2), TopK, top_k::TopK),
    spec!("Trilu", (14, 28), (1, 2), (1, 1), Trilu, trilu::Trilu),
    spec!("BitwiseAnd", (18, 28), (2, 2), (1, 1), Logic, logic::Logic),
    spec!("BitwiseNot", (18, 28), (1, 1), (1, 1), Logic, logic::Logic),
    spec!("BitwiseOr", (18, 28), (2, 2), (1, 1), Logic, logic::Logic),
    spec!("BitwiseXor", (18, 28), (2, 2), (1, 1), Logic, logic::Logic),
    spec!("CumProd", (26, 28), (2, 2), (1, 1), CumSum, cumsum::CumSum),
    spec!("Resize", (11, 28), (1, 4), (1, 1), Resize, resize::Resize),
    spec!(
        "GridSample",
        (16, 28),
        (2, 2),
        (1, 1),
        GridSample,
        grid_sample::GridSample
    ),
    spec!(
        "DequantizeLinear",
        (10, 28),
        (2, 3),
        (1, 1),
        Quant,
        quant::Quant
    ),
    spec!(
        "QuantizeLinear",
        (10, 28),
        (2, 3),
        (1, 1),
        Quant,
        quant::Quant
    ),
    spec!(
        "ConvTranspose",
        (1, 28),
        (2, 3),
        (1, 1),
        ConvTranspose,
        conv_transpose::ConvTranspose
    ),
    spec!("Einsum", (12, 28), (1, 8), (1, 1), Einsum, einsum::Einsum),
    spec!(
        "LpNormalization",
        (1, 28),
        (1, 1),
        (1, 1),
        LpNorm,
        lp_norm::LpNorm
    ),
    spec!(
        "BlackmanWindow",
        (17, 28),
        (1, 1),
        (1, 1),
        WindowFn,
        window_fn::WindowFn
    ),
    spec!(
        "HammingWindow",
        (17, 28),
        (1, 1),
        (1, 1),
        WindowFn,
        window_fn::WindowFn
    ),
    spec!(
        "HannWindow",
        (17, 28),
        (1, 1),
        (1, 1),
        WindowFn,
        window_fn::WindowFn
    ),
    spec!(
        "DynamicQuantizeLinear",
        (11, 28),
        (1, 1),
        (3, 3),
        DynamicQuant,
        quant::DynamicQuant
    ),
];

/// Finds the implementation of `op_type` in `domain` at `opset`.
pub fn lookup(domain: &str, op_type: &str) -> Option<&'static OpSpec> {
    let domain = if domain == "ai.onnx" { "" } else { domain };
    REGISTRY
        .iter()
        .find(|s| s.name == op_type && s.domain == domain)
}

/// What an op's parser sees: the ONNX node's attributes, opset and inputs.
pub struct ParseCtx<'a> {
    pub op_type: &'a str,
    pub opset: i64,
    pub attrs: &'a BTreeMap<String, Attribute>,
    /// Types of the inputs (`None` for omitted optional inputs).
    pub inputs: Vec<Option<&'a TensorType>>,
    /// Values of the inputs that are constant.
    pub consts: Vec<Option<&'a Tensor>>,
    /// How many outputs the node names, up to its last non-empty name; an op with
    /// optional outputs produces that many.
    pub n_outputs: usize,
    absorbed: Cell<u64>,
}

impl<'a> ParseCtx<'a> {
    pub fn new(
        op_type: &'a str,
        opset: i64,
        attrs: &'a BTreeMap<String, Attribute>,
        inputs: Vec<Option<&'a TensorType>>,
        consts: Vec<Option<&'a Tensor>>,
    ) -> Self {
        Self {
            op_type,
            opset,
            attrs,
            inputs,
            consts,
            absorbed: Cell::new(0),
            n_outputs: 1,
        }
    }

    /// Sets [`ParseCtx::n_outputs`].
    pub fn with_outputs(mut self, n_outputs: usize) -> Self {
        self.n_outputs = n_outputs;
        self
    }

    pub fn attr(&self, name: &str) -> Option<&'a Attribute> {
        self.attrs.get(name)
    }

    pub fn int(&self, name: &str, default: i64) -> Result<i64, String> {
        match self.attr(name) {
            None => Ok(default),
            Some(a) => a.as_int(name),
        }
    }

    pub fn float(&self, name: &str, default: f32) -> Result<f32, String> {
        match self.attr(name) {
            None => Ok(default),
            Some(a) => a.as_float(name),
        }
    }

    pub fn ints(&self, name: &str) -> Result<Option<Vec<i64>>, String> {
        self.attr(name).map(|a| a.as_ints(name)).transpose()
    }

    pub fn string(&self, name: &str, default: &str) -> Result<String, String> {
        match self.attr(name) {
            None => Ok(default.to_string()),
            Some(a) => a.as_string(name),
        }
    }

    pub fn n_inputs(&self) -> usize {
        self.inputs.len()
    }

    /// The type of input `i`, or an error naming it when it is missing.
    pub fn input(&self, i: usize) -> Result<&'a TensorType, String> {
        self.inputs
            .get(i)
            .copied()
            .flatten()
            .ok_or_else(|| format!("input {i} is required"))
    }

    pub fn has_input(&self, i: usize) -> bool {
        matches!(self.inputs.get(i), Some(Some(_)))
    }

    /// The value of constant input `i`, which the op needs at compile time; the input is
    /// then dropped from the node, since the op keeps what it needs in its attributes.
    pub fn absorb(&self, i: usize, what: &str) -> Result<&'a Tensor, String> {
        match self.consts.get(i).copied().flatten() {
            Some(t) => {
                self.absorbed.set(self.absorbed.get() | (1 << i));
                Ok(t)
            }
            None if self.has_input(i) => Err(format!(
                "input {i} ({what}) must be a compile-time constant; zant compiles static shapes only"
            )),
            None => Err(format!("input {i} ({what}) is required")),
        }
    }

    /// Like [`ParseCtx::absorb`] for an optional input: `Ok(None)` when it is omitted.
    pub fn absorb_optional(&self, i: usize, what: &str) -> Result<Option<&'a Tensor>, String> {
        if self.has_input(i) {
            self.absorb(i, what).map(Some)
        } else {
            Ok(None)
        }
    }

    /// A bitmask of the inputs the op absorbed.
    pub fn absorbed(&self) -> u64 {
        self.absorbed.get()
    }
}

/// What constant folding sees: input types and the constant inputs.
pub struct FoldCtx<'a> {
    pub inputs: Vec<Option<&'a TensorType>>,
    pub consts: Vec<Option<&'a Tensor>>,
    pub outputs: &'a [TensorType],
}

impl<'a> FoldCtx<'a> {
    /// Constant input `i`; folding is only attempted when it is present.
    pub fn get(&self, i: usize) -> Result<&'a Tensor, String> {
        self.consts
            .get(i)
            .copied()
            .flatten()
            .ok_or_else(|| format!("input {i} is not constant"))
    }
}

/// One operand of a node in generated code.
#[derive(Clone)]
pub struct Operand<'a> {
    /// An expression of type `&[T]`.
    pub expr: TokenStream,
    pub ty: &'a TensorType,
    /// The value when it is a compile-time constant (weights).
    pub value: Option<&'a Tensor>,
}

/// What an op's emitter sees. In scope of the emitted tokens: `rt` (the runtime crate),
/// and `y`, the output as `&mut [T]`. When the node works in place (`in_place` is
/// `Some(i)`), `y` already holds input `i` and that input's expression must not be used.
pub struct EmitCtx<'a> {
    pub node_name: &'a str,
    pub inputs: Vec<Option<Operand<'a>>>,
    pub outputs: Vec<&'a TensorType>,
    pub in_place: Option<usize>,
}

impl<'a> EmitCtx<'a> {
    pub fn input(&self, i: usize) -> Result<&Operand<'a>, String> {
        self.inputs
            .get(i)
            .and_then(|o| o.as_ref())
            .ok_or_else(|| format!("input {i} is missing"))
    }

    /// The `&[T]` expression of input `i`.
    pub fn expr(&self, i: usize) -> Result<TokenStream, String> {
        Ok(self.input(i)?.expr.clone())
    }

    pub fn out_ty(&self) -> &'a TensorType {
        self.outputs[0]
    }

    /// `.map_err(...)?` that attaches this node's name to a kernel error.
    pub fn try_suffix(&self) -> TokenStream {
        let name = self.node_name;
        quote! { .map_err(|e| rt::Error::at(#name, e))? }
    }
}

/// Input `i` of an op's inputs in `infer`, or an error naming it.
pub fn required<'a>(inputs: &[Option<&'a TensorType>], i: usize) -> Result<&'a TensorType, String> {
    inputs
        .get(i)
        .copied()
        .flatten()
        .ok_or_else(|| format!("input {i} is required"))
}

/// A Rust element type that constant folding computes in.
pub trait Elem: zant_runtime::scalar::Scalar {
    /// Wraps a vector as [`Data`] (`u8` as `U8`; see [`retag`] for booleans).
    fn into_data(v: Vec<Self>) -> crate::ir::Data;
}

macro_rules! impl_elem {
    ($($ty:ty => $variant:ident),*) => {
        $(impl Elem for $ty {
            fn into_data(v: Vec<Self>) -> crate::ir::Data {
                crate::ir::Data::$variant(v)
            }
        })*
    };
}

impl_elem!(f32 => F32, f64 => F64, i8 => I8, u8 => U8, i16 => I16, u16 => U16, i32 => I32,
    u32 => U32, i64 => I64, u64 => U64);

/// Wraps a folded vector as data of `dtype` (bytes become `Bool` when `dtype` is bool).
pub fn retag<T: Elem>(v: Vec<T>, dtype: DType) -> crate::ir::Data {
    match T::into_data(v) {
        crate::ir::Data::U8(b) if dtype == DType::Bool => crate::ir::Data::Bool(b),
        other => other,
    }
}

/// Folds a data-movement op on any dtype by moving elements as `size`-byte groups:
/// `f(x_bytes, y_bytes, size)` fills the output's bytes.
pub fn move_bytes(
    x: &Tensor,
    out: &TensorType,
    f: impl FnOnce(&[u8], &mut [u8], usize),
) -> crate::ir::Data {
    let size = x.dtype().size();
    let xb = x.data.to_le_bytes();
    let mut yb = vec![0u8; out.n_elems() * size];
    f(&xb, &mut yb, size);
    crate::ir::Data::from_le_bytes(out.dtype, &yb).expect("whole elements")
}

/// Row-major strides of a shape.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        s[d] = s[d + 1] * shape[d + 1];
    }
    s
}

/// `(outer, axis_len, inner)` of a shape viewed around `axis`.
pub fn around_axis(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    (
        shape[..axis].iter().product(),
        shape[axis],
        shape[axis + 1..].iter().product(),
    )
}

/// `shape` as a `&[usize]` literal.
pub fn shape_tokens(shape: &[usize]) -> TokenStream {
    quote! { &[#(#shape),*] }
}

/// The runtime element type for a dtype.
pub fn elem_type(dtype: DType) -> TokenStream {
    let ident = proc_macro2::Ident::new(dtype.rust_name(), proc_macro2::Span::call_site());
    quote! { #ident }
}

/// Normalises a possibly negative axis against `rank`.
pub fn normalize_axis(axis: i64, rank: usize) -> Result<usize, String> {
    let r = rank as i64;
    if axis < -r || axis >= r.max(1) {
        return Err(format!("axis {axis} is out of range for rank {rank}"));
    }
    Ok(if axis < 0 {
        (axis + r) as usize
    } else {
        axis as usize
    })
}

/// Numpy broadcasting of two shapes.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Result<Vec<usize>, String> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for i in 0..rank {
        let da = if i + a.len() >= rank {
            a[i + a.len() - rank]
        } else {
            1
        };
        let db = if i + b.len() >= rank {
            b[i + b.len() - rank]
        } else {
            1
        };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return Err(format!("shapes {a:?} and {b:?} do not broadcast")),
        };
    }
    Ok(out)
}

/// Checks an element count against a bound so hostile shapes fail cleanly, not by overflow.
pub fn checked_elems(shape: &[usize]) -> Result<usize, String> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= MAX_ELEMS)
        .ok_or_else(|| format!("shape {shape:?} has too many elements (limit {MAX_ELEMS})"))
}

/// The largest tensor zant accepts: 2^31 elements (8 GiB of f32), far past any MCU.
pub const MAX_ELEMS: usize = 1 << 31;

/// An `f32` literal, spelling out the non-finite values `quote!` cannot.
pub fn f32_tokens(v: f32) -> TokenStream {
    if v.is_nan() {
        quote!(f32::NAN)
    } else if v == f32::INFINITY {
        quote!(f32::INFINITY)
    } else if v == f32::NEG_INFINITY {
        quote!(f32::NEG_INFINITY)
    } else {
        let lit = proc_macro2::Literal::f32_suffixed(v);
        quote!(#lit)
    }
}

/// A fused activation as runtime tokens.
pub fn activation_tokens(act: zant_runtime::Activation) -> TokenStream {
    use zant_runtime::Activation;
    match act {
        Activation::None => quote!(rt::Activation::None),
        Activation::Relu => quote!(rt::Activation::Relu),
        Activation::Clip { min, max } => {
            let (min, max) = (f32_tokens(min), f32_tokens(max));
            quote!(rt::Activation::Clip { min: #min, max: #max })
        }
    }
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
    let mut specs: Vec<&OpSpec> = REGISTRY.iter().collect();
    specs.sort_by_key(|s| (s.domain, s.name));
    for spec in specs {
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
