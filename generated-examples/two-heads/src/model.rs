//! The model: constants, weights, the `Model` type and its `predict`.
#![allow(
    clippy::excessive_precision,
    clippy::unreadable_literal,
    clippy::too_many_arguments
)]
#![forbid(unsafe_code)]
use zant_runtime as rt;
pub use rt::Error;
/// Bytes of the arena that holds every intermediate tensor (inside [`Model`]).
pub const ARENA_BYTES: usize = 256;
/// Bytes of the weight blob (in flash / `.rodata`).
pub const WEIGHT_BYTES: usize = 4000;
/// Shape of the input `features` (f32[1,16]).
pub const FEATURES_SHAPE: [usize; 2] = [1, 16];
/// Elements in the input `features`.
pub const FEATURES_LEN: usize = 16;
/// Shape of the input `context` (f32[1,8]).
pub const CONTEXT_SHAPE: [usize; 2] = [1, 8];
/// Elements in the input `context`.
pub const CONTEXT_LEN: usize = 8;
/// Shape of the output `scores` (f32[1,4]).
pub const SCORES_SHAPE: [usize; 2] = [1, 4];
/// Elements in the output `scores`.
pub const SCORES_LEN: usize = 4;
/// Shape of the output `gate` (f32[1,1]).
pub const GATE_SHAPE: [usize; 2] = [1, 1];
/// Elements in the output `gate`.
pub const GATE_LEN: usize = 1;
/// The layers [`Model::predict_profiled`] reports, in order: the ONNX op and the
/// node's name. Only with the `profile` feature.
#[cfg(feature = "profile")]
pub const LAYERS: [(&str, &str); 6] = [
    ("Gemm", "fc_features"),
    ("MatMul", "context_proj"),
    ("Tanh", "context_tanh"),
    ("Add", "merge"),
    ("Gemm", "scores"),
    ("Gemm", "gate_fc"),
];
/// The weights, one aligned little-endian blob.
static WEIGHTS: rt::arena::Aligned<[u8; WEIGHT_BYTES]> = rt::arena::Aligned(
    *include_bytes!("weights.bin"),
);
/// The model's inputs, one field each.
#[derive(Clone, Debug, PartialEq)]
pub struct Inputs {
    /// `features`: f32[1,16]
    pub features: [f32; 16],
    /// `context`: f32[1,8]
    pub context: [f32; 8],
}
impl Inputs {
    /// All zeros.
    pub const fn new() -> Self {
        Self {
            features: [0 as f32; 16],
            context: [0 as f32; 8],
        }
    }
}
impl Default for Inputs {
    fn default() -> Self {
        Self::new()
    }
}
/// The model's outputs, one field each.
#[derive(Clone, Debug, PartialEq)]
pub struct Outputs {
    /// `scores`: f32[1,4]
    pub scores: [f32; 4],
    /// `gate`: f32[1,1]
    pub gate: [f32; 1],
}
impl Outputs {
    /// All zeros.
    pub const fn new() -> Self {
        Self {
            scores: [0 as f32; 4],
            gate: [0 as f32; 1],
        }
    }
}
impl Default for Outputs {
    fn default() -> Self {
        Self::new()
    }
}
/// The compiled model: owns its arena, allocates nothing. Put it in a `static`
/// (behind a lock) or on a stack large enough for [`ARENA_BYTES`].
pub struct Model {
    arena: rt::arena::Aligned<[u8; ARENA_BYTES]>,
}
impl Model {
    /// A model with a zeroed arena; `const`, so it can initialise a `static`.
    pub const fn new() -> Self {
        Self {
            arena: rt::arena::Aligned([0; ARENA_BYTES]),
        }
    }
    /// Runs one inference. Errors only for data-dependent failures (an index out
    /// of range, an integer division by zero); it never panics on input data.
    pub fn predict(
        &mut self,
        inputs: &Inputs,
        outputs: &mut Outputs,
    ) -> Result<(), Error> {
        self.run(inputs, outputs, &mut |_| {})
    }
    /// [`Model::predict`] that calls `probe(k)` before layer `k` of [`LAYERS`] and
    /// `probe(LAYERS.len())` after the last: read a clock there for the time of each
    /// layer. Only with the `profile` feature.
    #[cfg(feature = "profile")]
    pub fn predict_profiled(
        &mut self,
        inputs: &Inputs,
        outputs: &mut Outputs,
        probe: &mut impl FnMut(usize),
    ) -> Result<(), Error> {
        self.run(inputs, outputs, probe)
    }
    #[inline(always)]
    fn run(
        &mut self,
        inputs: &Inputs,
        outputs: &mut Outputs,
        probe: &mut impl FnMut(usize),
    ) -> Result<(), Error> {
        let arena = &mut self.arena.0;
        probe(0);
        // fc_features: Gemm(%features, %fc_features.weight, %fc_features.bias) -> %fc_features : f32[1,32]
        {
            let (_, out) = rt::arena::split(arena, 0, 128);
            let y = rt::arena::view_mut::<f32>(out);
            rt::gemm::gemm(
                1,
                32,
                16,
                &inputs.features[..],
                false,
                rt::arena::slice::<f32>(&WEIGHTS.0, 0, 512),
                true,
                1f32,
                1f32,
                rt::gemm::Bias::Row(rt::arena::slice::<f32>(&WEIGHTS.0, 2048, 32)),
                rt::Activation::Relu,
                y,
            );
        }
        probe(1);
        // context_proj: MatMul(%context, %context_proj.weight, %context_proj.bias) -> %context_proj : f32[1,32]
        {
            let (_, out) = rt::arena::split(arena, 128, 128);
            let y = rt::arena::view_mut::<f32>(out);
            rt::gemm::matmul(
                &inputs.context[..],
                &[1, 8],
                rt::arena::slice::<f32>(&WEIGHTS.0, 2176, 256),
                &[8, 32],
                Some(rt::arena::slice::<f32>(&WEIGHTS.0, 3200, 32)),
                rt::Activation::None,
                y,
                &[1, 32],
            );
        }
        probe(2);
        // context_tanh: Tanh(%context_proj) -> %context_tanh : f32[1,32]
        {
            let (_, out) = rt::arena::split(arena, 128, 128);
            let y = rt::arena::view_mut::<f32>(out);
            rt::elementwise::unary_in_place(rt::elementwise::UnaryOp::Tanh, y);
        }
        probe(3);
        // merge: Add(%fc_features, %context_tanh) -> %merge : f32[1,32]
        {
            let (reads, out) = rt::arena::split(arena, 0, 128);
            let y = rt::arena::view_mut::<f32>(out);
            rt::elementwise::binary_in_place::<
                f32,
            >(
                    rt::elementwise::BinaryOp::Add,
                    true,
                    y,
                    reads.get::<f32>(128, 32),
                    &[1, 32],
                    &[1, 32],
                )
                .map_err(|e| rt::Error::at("merge", e))?;
        }
        probe(4);
        // scores: Gemm(%merge, %scores.weight, %scores.bias) -> %scores : f32[1,4]
        {
            let reads = rt::arena::Reads::all(arena);
            let y: &mut [f32] = &mut outputs.scores[..];
            rt::gemm::gemm(
                1,
                4,
                32,
                reads.get::<f32>(0, 32),
                false,
                rt::arena::slice::<f32>(&WEIGHTS.0, 3328, 128),
                false,
                1f32,
                1f32,
                rt::gemm::Bias::Row(rt::arena::slice::<f32>(&WEIGHTS.0, 3840, 4)),
                rt::Activation::None,
                y,
            );
        }
        probe(5);
        // gate_fc: Gemm(%merge, %gate_fc.weight, %gate_fc.bias) -> %gate_fc : f32[1,1]
        {
            let reads = rt::arena::Reads::all(arena);
            let y: &mut [f32] = &mut outputs.gate[..];
            rt::gemm::gemm(
                1,
                1,
                32,
                reads.get::<f32>(0, 32),
                false,
                rt::arena::slice::<f32>(&WEIGHTS.0, 3856, 32),
                true,
                1f32,
                1f32,
                rt::gemm::Bias::Scalar(
                    (rt::arena::slice::<f32>(&WEIGHTS.0, 3984, 1))[0],
                ),
                rt::Activation::Sigmoid,
                y,
            );
        }
        probe(6);
        let _ = arena;
        Ok(())
    }
}
impl Default for Model {
    fn default() -> Self {
        Self::new()
    }
}
