//! The ops: every supported ONNX op, what it computes and how it becomes a kernel call.
//!
//! One op (or one family of ops that share a kernel) lives in one file, which holds its
//! attribute struct, parsing ([`Parse`]), shape inference, constant folding, emission and
//! its description in the IR text ([`OpKind`]). [`registry`] is the one table of ONNX op
//! types: to add an op, copy a file, add it to `define_ops!` below, and add one line to the
//! table. A unary op of an existing kernel family is only a table line.
//!
//! `ops` knows tensors ([`crate::tensor`]) but not the graph: the IR holds ops, not the
//! other way round.

use std::fmt;

use proc_macro2::TokenStream;
use zant_runtime::target::KernelSet;

use crate::tensor::{DType, Tensor, TensorType};

mod attr;
mod ctx;
mod dims;
mod error;
mod folding;
mod ml_attrs;
pub mod registry;
#[cfg(test)]
pub(crate) mod testing;
mod tokens;

pub mod arg;
pub mod array_feature_extractor;
pub mod attention;
pub mod binary;
pub mod bit_cast;
pub mod cast;
pub mod causal_conv;
pub mod center_crop_pad;
pub mod channel_norm;
pub mod clip;
pub mod col2im;
pub mod compress;
pub mod concat;
pub mod constant;
pub mod constant_of_shape;
pub mod control;
pub mod conv;
pub mod conv_transpose;
pub mod cumsum;
pub mod deform_conv;
pub mod det;
pub mod dropout;
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
pub mod label_encoder;
pub mod layer_norm;
pub mod linear_attention;
pub mod linear_model;
pub mod logic;
pub mod loss;
pub mod lp_norm;
pub mod matmul;
pub mod ml_transform;
pub mod mvn;
pub mod nms;
pub mod nonzero;
pub mod norm;
pub mod one_hot;
pub mod optim;
pub mod optional;
pub mod pad;
pub mod pool;
pub mod qlayer_norm;
pub mod qlinear;
pub mod qlookup;
pub mod qsoftmax;
pub mod quant;
pub mod range;
pub mod recurrent;
pub mod reduce;
pub mod reshape;
pub mod resize;
pub mod reverse_sequence;
pub mod roi_align;
pub mod rotary_embedding;
pub mod row_carry;
pub mod scatter;
pub mod shape;
pub mod slice;
pub mod softmax;
pub mod space_depth;
pub mod spectral;
pub mod split;
pub mod svm;
pub mod ternary;
pub mod tfidf;
pub mod tile;
pub mod top_k;
pub mod transpose;
pub mod tree_ensemble;
pub mod trilu;
pub mod unary;
pub mod unique;
pub mod variadic;
pub mod where_;
pub mod window;
pub mod window_fn;

pub use attr::{split_top, Attribute, Attrs};
pub use ctx::{required, EmitCtx, FoldCtx, Operand, ParseCtx};
pub use dims::{
    around_axis, around_checked_axis, broadcast_shapes, checked_elems, existing_axis, mac_count,
    normalize_axis, strides, MAX_ELEMS,
};
pub use error::{NodeError, OpError};
pub use folding::{move_bytes, retag, Elem};
pub use registry::{fuzz_dictionary, lookup, markdown_table, OpSpec, REGISTRY};
pub use tokens::{activation_tokens, elem_type, f32_tokens, shape_tokens, unsuffix};

/// The ONNX operator a node implements, as the model named it: what the IR text,
/// comments in generated code and error messages call the node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OnnxOp {
    pub op_type: &'static str,
    /// `""` for the default `ai.onnx` domain.
    pub domain: &'static str,
    /// The opset the model imports for that domain.
    pub opset: i64,
}

impl OnnxOp {
    /// The op of a graph input node.
    pub const INPUT: OnnxOp = OnnxOp {
        op_type: "Input",
        domain: "",
        opset: 0,
    };
    /// The op of a constant node (an initializer, a `Constant` or a folded value).
    pub const CONSTANT: OnnxOp = OnnxOp {
        op_type: "Constant",
        domain: "",
        opset: 0,
    };

    /// `op_type` of `spec` at `opset`.
    pub fn new(spec: &OpSpec, opset: i64) -> Self {
        Self {
            op_type: spec.name,
            domain: spec.domain,
            opset,
        }
    }

    /// The same op type at this op's opset, for a node a pass builds in place of this one.
    pub fn with_type(self, op_type: &'static str) -> Self {
        Self { op_type, ..self }
    }
}

impl fmt::Display for OnnxOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let domain = if self.domain.is_empty() {
            "ai.onnx"
        } else {
            self.domain
        };
        write!(
            f,
            "{} (domain {domain}, opset {})",
            self.op_type, self.opset
        )
    }
}

/// Reads an op from an ONNX node: its attributes, and the constant inputs it needs at
/// compile time ([`ParseCtx::absorb`]).
pub trait Parse: Sized {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError>;
}

/// How an op takes the narrow element types (float16, bfloat16, float8, float4, int4,
/// int2). Import applies it (`onnx::narrow`): the kernels never do arithmetic in a narrow
/// type, so an op that computes sees `f32` between casts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NarrowSupport {
    /// The op computes: import casts its narrow float inputs to `f32` and its `f32`
    /// outputs back to the narrow type; it refuses the packed integer types.
    Compute,
    /// The op only moves whole elements (gathers, slices, transposes): every narrow type
    /// whose elements are whole storage units passes as it is, the packed ones are refused.
    Moves,
    /// The op handles every narrow type itself (Cast, the reshapes, Shape).
    Native,
    /// The inputs of this bit mask compute as for [`NarrowSupport::Compute`]; the others
    /// are the op's own business (QuantizeLinear's quantized data and zero point).
    ComputeInputs(u64),
}

/// Output `slot` of an op, whose length along `axis` depends on the data
/// ([`OpKind::bounded`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounded {
    pub slot: usize,
    pub axis: usize,
}

/// `bytes` rounded up to the arena's alignment (16, `plan::ALIGN`): the lead an op
/// declares in [`OpKind::in_place_shift`].
pub(crate) const fn in_place_bytes(bytes: usize) -> usize {
    bytes.div_ceil(16) * 16
}

/// What an op implementation provides besides parsing.
pub trait OpKind: Clone + fmt::Debug {
    /// Output types from input types (`None` for an omitted optional input).
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError>;

    /// Evaluates the op on constant inputs. Only called when every present input is
    /// constant, or for any inputs when [`OpKind::folds_from_types`] says so.
    fn fold(&self, _ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        Ok(None)
    }

    /// Whether the op can be folded knowing only its input types (e.g. `Shape`).
    fn folds_from_types(&self) -> bool {
        false
    }

    /// Emits the kernel call; see [`EmitCtx`] for the names in scope.
    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError>;

    /// Describes the attributes for the IR text, under their ONNX names where ONNX has
    /// them, so that [`Parse::parse`] reads the text back.
    fn attrs(&self, _attrs: &mut Attrs) {}

    /// The inputs whose buffer the output may overwrite (element-wise ops), in order of
    /// preference; the planner takes the first one that has the output's type and dies here.
    fn in_place_inputs(&self) -> &'static [usize] {
        &[]
    }

    /// The bytes by which the output may lead input 0 in one shared buffer, overwriting
    /// the input as it is read (a depthwise convolution, `conv/in_place.rs` in the
    /// runtime): the output starts that many bytes before the input and the kernel,
    /// emitted with `EmitCtx::in_place` set to input 0, takes the whole span as its
    /// output. A multiple of 16 ([`in_place_bytes`]), so the output keeps the arena's
    /// alignment. `None` for an op that cannot.
    fn in_place_shift(&self, _inputs: &[Option<&TensorType>]) -> Option<usize> {
        None
    }

    /// Whether the output has exactly the bytes of input 0 (reshapes), so it can share its
    /// storage without a copy.
    fn is_view(&self) -> bool {
        false
    }

    /// The constant inputs the kernel reads in place as rows of whole vectors, which the
    /// weight blob starts on a cache line (the planner's `LINE`) so that no row straddles
    /// two lines.
    fn line_aligned_inputs(&self) -> &'static [usize] {
        &[]
    }

    /// How the op takes narrow element types; a view takes them all.
    fn narrow(&self) -> NarrowSupport {
        if self.is_view() {
            NarrowSupport::Native
        } else {
            NarrowSupport::Compute
        }
    }

    /// The input whose bytes output `slot` has exactly, so that it shares its storage: input
    /// 0 for output 0 of a view ([`OpKind::is_view`]); a node with several outputs that
    /// pass inputs on (a branch's gate) says so per output.
    fn view_of(&self, slot: usize) -> Option<usize> {
        (slot == 0 && self.is_view()).then_some(0)
    }

    /// The bytes of scratch the kernel needs for these input types (packed GEMM panels,
    /// for instance). The memory planner reserves them in the arena for this node's step
    /// only, and [`OpKind::emit`] then finds `scratch: &mut [f32]` in scope.
    ///
    /// `kernels` are the kernel families the generated crate may be built for (one for a
    /// crate generated for a known target, both for one that builds anywhere): a kernel
    /// whose paths differ between them reserves the larger need.
    fn scratch_bytes(&self, _inputs: &[Option<&TensorType>], _kernels: KernelSet) -> usize {
        0
    }

    /// The most scratch the kernel can use to run faster (larger blocks, say), at least
    /// [`OpKind::scratch_bytes`]. The planner grows the scratch into the arena space free
    /// at the node's step, up to this, without growing the arena; the kernel takes the
    /// slice it is given.
    fn scratch_bytes_max(&self, inputs: &[Option<&TensorType>], kernels: KernelSet) -> usize {
        self.scratch_bytes(inputs, kernels)
    }

    /// The element type of the scratch [`OpKind::emit`] finds as `scratch: &mut [T]`:
    /// `f32` unless the op says otherwise (the transforms take `f64` and view it as `f32`
    /// on cores that compute in `f32`; the sorts of the selections take `u32` indices).
    /// The arena's alignment suits every one; the op's byte counts must be whole elements.
    fn scratch_type(&self) -> DType {
        DType::F32
    }

    /// The outputs whose length along one axis depends on the data (NonZero, Compress,
    /// Unique, NonMaxSuppression). Their types are capacities: the kernel packs its
    /// entries at the front in C order, and [`OpKind::emit`] binds `count: usize`, how
    /// many there are along that axis, shared by all of the node's bounded outputs. The
    /// generated API hands `count` on with each such graph output; no node may read them.
    fn bounded(&self) -> Vec<Bounded> {
        Vec::new()
    }

    /// Lowers the capacity of the data-dependent axis to `n` (`zantc compile --max-len`);
    /// an op without one ([`OpKind::bounded`] empty) refuses.
    fn set_capacity(&mut self, _n: usize) -> Result<(), OpError> {
        Err(OpError::unsupported(
            "its outputs have static shapes; --max-len applies to data-dependent outputs only",
        ))
    }

    /// The multiply-accumulates one run of the op performs for these input types, for
    /// `zantc inspect --layers`. A MAC is one product of two operands added into a sum,
    /// one step of a dot product: a convolution counts every kernel tap of every output
    /// (padding included), a matrix product `M·N·K` per matrix. Everything else counts 0:
    /// bias adds, activations, scaling and requantization, element-wise arithmetic,
    /// pooling, normalisation, softmax and data movement, so the figure compares with the
    /// MACs that model zoos and vendor tools quote.
    fn macs(&self, _inputs: &[Option<&TensorType>]) -> u64 {
        0
    }
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

        $(impl From<$ty> for Op {
            fn from(op: $ty) -> Self {
                Op::$variant(op)
            }
        })*

        impl Op {
            /// The implementation family (`Unary` for Relu, Sigmoid, …), for diagnostics;
            /// the ONNX name of a node is its [`OnnxOp`].
            pub fn family(&self) -> &'static str {
                match self {
                    Op::Input(_) => "Input",
                    Op::Const(_) => "Const",
                    $(Op::$variant(_) => stringify!($variant),)*
                }
            }

            /// The attributes shown in the IR text.
            pub fn attrs(&self) -> Attrs {
                let mut attrs = Attrs::default();
                match self {
                    Op::Input(_) | Op::Const(_) => {}
                    $(Op::$variant(op) => op.attrs(&mut attrs),)*
                }
                attrs
            }

            pub fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
                match self {
                    Op::Input(_) => Err(OpError::shape("graph inputs have no inference")),
                    Op::Const(t) => Ok(vec![t.ty()]),
                    $(Op::$variant(op) => op.infer(inputs),)*
                }
            }

            pub fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
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

            pub fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
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

            pub fn in_place_shift(&self, inputs: &[Option<&TensorType>]) -> Option<usize> {
                match self {
                    Op::Input(_) | Op::Const(_) => None,
                    $(Op::$variant(op) => op.in_place_shift(inputs),)*
                }
            }

            pub fn line_aligned_inputs(&self) -> &'static [usize] {
                match self {
                    Op::Input(_) | Op::Const(_) => &[],
                    $(Op::$variant(op) => op.line_aligned_inputs(),)*
                }
            }

            pub fn is_view(&self) -> bool {
                match self {
                    Op::Input(_) | Op::Const(_) => false,
                    $(Op::$variant(op) => op.is_view(),)*
                }
            }

            pub fn narrow(&self) -> NarrowSupport {
                match self {
                    Op::Input(_) | Op::Const(_) => NarrowSupport::Native,
                    $(Op::$variant(op) => op.narrow(),)*
                }
            }

            pub fn view_of(&self, slot: usize) -> Option<usize> {
                match self {
                    Op::Input(_) | Op::Const(_) => None,
                    $(Op::$variant(op) => op.view_of(slot),)*
                }
            }

            pub fn scratch_bytes(&self, inputs: &[Option<&TensorType>], kernels: KernelSet) -> usize {
                match self {
                    Op::Input(_) | Op::Const(_) => 0,
                    $(Op::$variant(op) => op.scratch_bytes(inputs, kernels),)*
                }
            }

            pub fn scratch_bytes_max(&self, inputs: &[Option<&TensorType>], kernels: KernelSet) -> usize {
                match self {
                    Op::Input(_) | Op::Const(_) => 0,
                    $(Op::$variant(op) => op.scratch_bytes_max(inputs, kernels),)*
                }
            }

            pub fn scratch_type(&self) -> DType {
                match self {
                    Op::Input(_) | Op::Const(_) => DType::F32,
                    $(Op::$variant(op) => op.scratch_type(),)*
                }
            }

            pub fn bounded(&self) -> Vec<Bounded> {
                match self {
                    Op::Input(_) | Op::Const(_) => Vec::new(),
                    $(Op::$variant(op) => op.bounded(),)*
                }
            }

            pub fn set_capacity(&mut self, n: usize) -> Result<(), OpError> {
                match self {
                    Op::Input(_) | Op::Const(_) => Err(OpError::unsupported(
                        "a graph input or constant has a static shape",
                    )),
                    $(Op::$variant(op) => op.set_capacity(n),)*
                }
            }

            pub fn macs(&self, inputs: &[Option<&TensorType>]) -> u64 {
                match self {
                    Op::Input(_) | Op::Const(_) => 0,
                    $(Op::$variant(op) => op.macs(inputs),)*
                }
            }
        }
    };
}

define_ops! {
    Arg(arg::Arg),
    ArrayFeatureExtractor(array_feature_extractor::ArrayFeatureExtractor),
    Attention(attention::Attention),
    BatchNorm(norm::BatchNorm),
    Binary(binary::Binary),
    BitCast(bit_cast::BitCast),
    Cast(cast::Cast),
    CenterCropPad(center_crop_pad::CenterCropPad),
    Clip(clip::Clip),
    Col2Im(col2im::Col2Im),
    Compress(compress::Compress),
    Concat(concat::Concat),
    ConstantOfShape(constant_of_shape::ConstantOfShape),
    Conv(conv::Conv),
    ConvTranspose(conv_transpose::ConvTranspose),
    CumSum(cumsum::CumSum),
    Det(det::Det),
    Dropout(dropout::Dropout),
    DynamicQuant(quant::DynamicQuant),
    Einsum(einsum::Einsum),
    Expand(expand::Expand),
    EyeLike(eye_like::EyeLike),
    Gate(control::Gate),
    Gather(gather::Gather),
    GatherElements(gather_elements::GatherElements),
    GatherNd(gather_nd::GatherNd),
    Gemm(gemm::Gemm),
    GridSample(grid_sample::GridSample),
    AffineGrid(grid_sample::AffineGrid),
    Hardmax(hardmax::Hardmax),
    IsNan(is_nan::IsNan),
    LabelEncoder(label_encoder::LabelEncoder),
    LayerNorm(layer_norm::LayerNorm),
    LinearAttention(linear_attention::LinearAttention),
    LinearModel(linear_model::LinearModel),
    Logic(logic::Logic),
    Loss(loss::Loss),
    LpNorm(lp_norm::LpNorm),
    MeanVarianceNorm(mvn::MeanVarianceNorm),
    MaxUnpool(pool::MaxUnpool),
    RoiAlign(roi_align::RoiAlign),
    DeformConv(deform_conv::DeformConv),
    MelWeightMatrix(window_fn::MelWeightMatrix),
    BatchNormTraining(norm::BatchNormTraining),
    MatMul(matmul::MatMul),
    MlTransform(ml_transform::MlTransform),
    NonMaxSuppression(nms::NonMaxSuppression),
    NonZero(nonzero::NonZero),
    OneHot(one_hot::OneHot),
    TfIdf(tfidf::TfIdf),
    Optimizer(optim::Optimizer),
    HasElement(optional::HasElement),
    Pad(pad::Pad),
    Pool(pool::Pool),
    PowMixed(binary::PowMixed),
    QConv(qlinear::QConv),
    QGlobalAveragePool(qlinear::QGlobalAveragePool),
    QLinearBinary(qlinear::QLinearBinary),
    QMatMul(qlinear::QMatMul),
    Quant(quant::Quant),
    Range(range::Range),
    Recurrent(recurrent::Recurrent),
    Reduce(reduce::Reduce),
    Reshape(reshape::Reshape),
    Resize(resize::Resize),
    RotaryEmbedding(rotary_embedding::RotaryEmbedding),
    Scatter(scatter::Scatter),
    TensorScatter(scatter::TensorScatter),
    Select(control::Select),
    Shape(shape::Shape),
    Slice(slice::Slice),
    Softmax(softmax::Softmax),
    ReverseSequence(reverse_sequence::ReverseSequence),
    RowCarry(row_carry::RowCarry),
    InstanceNorm(channel_norm::InstanceNorm),
    CausalConv(causal_conv::CausalConv),
    GroupNorm(channel_norm::GroupNorm),
    Lrn(channel_norm::Lrn),
    SpaceDepth(space_depth::SpaceDepth),
    Dft(spectral::Dft),
    Stft(spectral::Stft),
    Split(split::Split),
    SvmRegressor(svm::SvmRegressor),
    QLookup(qlookup::QLookup),
    QLayerNorm(qlayer_norm::QLayerNorm),
    QSoftmax(qsoftmax::QSoftmax),
    TernaryConv(ternary::TernaryConv),
    TernaryMatMul(ternary::TernaryMatMul),
    Tile(tile::Tile),
    TopK(top_k::TopK),
    Transpose(transpose::Transpose),
    TreeEnsemble(tree_ensemble::TreeEnsemble),
    Trilu(trilu::Trilu),
    Unary(unary::Unary),
    Unique(unique::Unique),
    SwiGlu(unary::SwiGlu),
    Variadic(variadic::Variadic),
    Where(where_::Where),
    WindowFn(window_fn::WindowFn),
}
