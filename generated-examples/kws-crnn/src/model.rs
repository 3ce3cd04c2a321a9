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
pub const ARENA_BYTES: usize = 75712;
/// Bytes of the weight blob (in flash / `.rodata`).
pub const WEIGHT_BYTES: usize = 94992;
/// Shape of the input `mfcc` (f32[1,1,49,10]).
pub const MFCC_SHAPE: [usize; 4] = [1, 1, 49, 10];
/// Elements in the input `mfcc`.
pub const MFCC_LEN: usize = 490;
/// Shape of the output `logits` (f32[1,12]).
pub const LOGITS_SHAPE: [usize; 2] = [1, 12];
/// Elements in the output `logits`.
pub const LOGITS_LEN: usize = 12;
/// The layers [`Model::predict_profiled`] reports, in order: the ONNX op and the
/// node's name. Only with the `profile` feature.
#[cfg(feature = "profile")]
pub const LAYERS: [(&str, &str); 5] = [
    ("Conv", "conv1"),
    ("Conv", "conv2"),
    ("Transpose", "to_time_major"),
    ("LSTM", "lstm"),
    ("Gemm", "fc"),
];
/// The weights, one aligned little-endian blob.
static WEIGHTS: rt::arena::Aligned<[u8; WEIGHT_BYTES]> = rt::arena::Aligned(
    *include_bytes!("weights.bin"),
);
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
        mfcc: &[f32; 490],
        logits: &mut [f32; 12],
    ) -> Result<(), Error> {
        self.run(mfcc, logits, &mut |_| {})
    }
    /// [`Model::predict`] that calls `probe(k)` before layer `k` of [`LAYERS`] and
    /// `probe(LAYERS.len())` after the last: read a clock there for the time of each
    /// layer. Only with the `profile` feature.
    #[cfg(feature = "profile")]
    pub fn predict_profiled(
        &mut self,
        mfcc: &[f32; 490],
        logits: &mut [f32; 12],
        probe: &mut impl FnMut(usize),
    ) -> Result<(), Error> {
        self.run(mfcc, logits, probe)
    }
    #[inline(always)]
    fn run(
        &mut self,
        mfcc: &[f32; 490],
        logits: &mut [f32; 12],
        probe: &mut impl FnMut(usize),
    ) -> Result<(), Error> {
        let arena = &mut self.arena.0;
        probe(0);
        // conv1: Conv(%mfcc, %conv1.weight, %conv1.bias) -> %conv1 : f32[1,16,49,10]
        {
            let (_, [out, scratch_bytes]) = rt::arena::split_n(
                arena,
                [(32352, 31360), (0, 2352)],
            );
            let y = rt::arena::view_mut::<f32>(out);
            let scratch = rt::arena::view_mut::<f32>(scratch_bytes);
            rt::conv::conv2d_gemm(
                &rt::conv::Conv2d {
                    batch: 1,
                    c_in: 1,
                    h_in: 49,
                    w_in: 10,
                    c_out: 16,
                    h_out: 49,
                    w_out: 10,
                    k_h: 3,
                    k_w: 3,
                    stride_h: 1,
                    stride_w: 1,
                    dil_h: 1,
                    dil_w: 1,
                    pad_top: 1,
                    pad_left: 1,
                    groups: 1,
                },
                &mfcc[..],
                rt::arena::slice::<f32>(&WEIGHTS.0, 0, 144),
                Some(rt::arena::slice::<f32>(&WEIGHTS.0, 576, 16)),
                rt::Activation::Relu,
                scratch,
                y,
            );
        }
        probe(1);
        // conv2: Conv(%conv1, %conv2.weight, %conv2.bias) -> %conv2 : f32[1,24,25,5]
        {
            let (reads, [out, scratch_bytes]) = rt::arena::split_n(
                arena,
                [(63712, 12000), (0, 32352)],
            );
            let y = rt::arena::view_mut::<f32>(out);
            let scratch = rt::arena::view_mut::<f32>(scratch_bytes);
            rt::conv::conv2d_gemm(
                &rt::conv::Conv2d {
                    batch: 1,
                    c_in: 16,
                    h_in: 49,
                    w_in: 10,
                    c_out: 24,
                    h_out: 25,
                    w_out: 5,
                    k_h: 3,
                    k_w: 3,
                    stride_h: 2,
                    stride_w: 2,
                    dil_h: 1,
                    dil_w: 1,
                    pad_top: 1,
                    pad_left: 1,
                    groups: 1,
                },
                reads.get::<f32>(32352, 7840),
                rt::arena::slice::<f32>(&WEIGHTS.0, 640, 3456),
                Some(rt::arena::slice::<f32>(&WEIGHTS.0, 14464, 24)),
                rt::Activation::Relu,
                scratch,
                y,
            );
        }
        probe(2);
        // to_time_major: Transpose(%conv2) -> %to_time_major : f32[25,1,24,5]
        {
            let (reads, out) = rt::arena::split(arena, 36160, 12000);
            let y = rt::arena::view_mut::<f32>(out);
            rt::shape::transpose_f32(
                reads.get::<f32>(63712, 3000),
                &[1, 24, 25, 5],
                &[2, 0, 1, 3],
                y,
            );
        }
        probe(3);
        // lstm: LSTM(%sequence, %lstm.weight_ih_panels, %lstm.weight_hh_panels, %lstm.bias) -> %lstm_unused_0 : f32[25,1,1,32], %lstm.h : f32[1,1,32]
        {
            let (reads, [out0, out1, scratch_bytes]) = rt::arena::split_n(
                arena,
                [(48160, 3200), (51360, 128), (0, 36160)],
            );
            let y = rt::arena::view_mut::<f32>(out0);
            let y1 = rt::arena::view_mut::<f32>(out1);
            let scratch = rt::arena::view_mut::<f32>(scratch_bytes);
            rt::recurrent::recurrent(
                    &rt::recurrent::Recurrent {
                        cell: rt::recurrent::Cell::Lstm {
                            input_forget: false,
                        },
                        direction: rt::recurrent::Direction::Forward,
                        seq_len: 25,
                        batch: 1,
                        input_size: 120,
                        hidden: 32,
                        batch_first: false,
                        clip: None,
                        activations: [
                            [
                                rt::recurrent::GateActivation::Sigmoid,
                                rt::recurrent::GateActivation::Tanh,
                                rt::recurrent::GateActivation::Tanh,
                            ],
                            [
                                rt::recurrent::GateActivation::Sigmoid,
                                rt::recurrent::GateActivation::Tanh,
                                rt::recurrent::GateActivation::Tanh,
                            ],
                        ],
                        r_panels: true,
                        w_panels: true,
                    },
                    rt::recurrent::Inputs {
                        x: reads.get::<f32>(36160, 3000),
                        w: rt::arena::slice::<f32>(&WEIGHTS.0, 14560, 15360),
                        r: rt::arena::slice::<f32>(&WEIGHTS.0, 76000, 4096),
                        b: Some(rt::arena::slice::<f32>(&WEIGHTS.0, 92384, 256)),
                        sequence_lens: None,
                        initial_h: None,
                        initial_c: None,
                        p: None,
                    },
                    rt::recurrent::Outputs {
                        y: Some(y),
                        y_h: Some(y1),
                        y_c: None,
                    },
                    scratch,
                )
                .map_err(|e| rt::Error::at("lstm", e))?;
        }
        probe(4);
        // fc: Gemm(%last_state, %fc.weight, %fc.bias) -> %logits : f32[1,12]
        {
            let reads = rt::arena::Reads::all(arena);
            let y: &mut [f32] = &mut logits[..];
            rt::gemm::gemm(
                1,
                12,
                32,
                reads.get::<f32>(51360, 32),
                false,
                rt::arena::slice::<f32>(&WEIGHTS.0, 93408, 384),
                true,
                1f32,
                1f32,
                rt::gemm::Bias::Row(rt::arena::slice::<f32>(&WEIGHTS.0, 94944, 12)),
                rt::Activation::None,
                y,
            );
        }
        probe(5);
        let _ = arena;
        Ok(())
    }
}
impl Default for Model {
    fn default() -> Self {
        Self::new()
    }
}
