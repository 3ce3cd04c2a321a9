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
pub const ARENA_BYTES: usize = 32032;
/// Bytes of the weight blob (in flash / `.rodata`).
pub const WEIGHT_BYTES: usize = 5136;
/// Shape of the input `features` (f32[1,1,20,16]).
pub const FEATURES_SHAPE: [usize; 4] = [1, 1, 20, 16];
/// Elements in the input `features`.
pub const FEATURES_LEN: usize = 320;
/// Shape of the input `high_accuracy` (bool[]).
pub const HIGH_ACCURACY_SHAPE: [usize; 0] = [];
/// Elements in the input `high_accuracy`.
pub const HIGH_ACCURACY_LEN: usize = 1;
/// Shape of the output `scores` (f32[1,4]).
pub const SCORES_SHAPE: [usize; 2] = [1, 4];
/// Elements in the output `scores`.
pub const SCORES_LEN: usize = 4;
/// The layers [`Model::predict_profiled`] reports, in order: the ONNX op and the
/// node's name. Only with the `profile` feature.
#[cfg(feature = "profile")]
pub const LAYERS: [(&str, &str); 7] = [
    ("Conv", "stem"),
    ("Conv", "deep1"),
    ("GlobalAveragePool", "fast_pool"),
    ("Conv", "deep2"),
    ("GlobalAveragePool", "deep_pool"),
    ("If", "mode"),
    ("Gemm", "classifier"),
];
/// The weights, one aligned little-endian blob.
static WEIGHTS: rt::arena::Aligned<[u8; WEIGHT_BYTES]> = rt::arena::Aligned(
    *include_bytes!("weights.bin"),
);
/// The model's inputs, one field each.
#[derive(Clone, Debug, PartialEq)]
pub struct Inputs {
    /// `features`: f32[1,1,20,16]
    pub features: [f32; 320],
    /// `high_accuracy`: bool[]
    pub high_accuracy: [u8; 1],
}
impl Inputs {
    /// All zeros.
    pub const fn new() -> Self {
        Self {
            features: [0 as f32; 320],
            high_accuracy: [0; 1],
        }
    }
}
impl Default for Inputs {
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
        scores: &mut [f32; 4],
    ) -> Result<(), Error> {
        self.run(inputs, scores, &mut |_| {})
    }
    /// [`Model::predict`] that calls `probe(k)` before layer `k` of [`LAYERS`] and
    /// `probe(LAYERS.len())` after the last: read a clock there for the time of each
    /// layer. Only with the `profile` feature.
    #[cfg(feature = "profile")]
    pub fn predict_profiled(
        &mut self,
        inputs: &Inputs,
        scores: &mut [f32; 4],
        probe: &mut impl FnMut(usize),
    ) -> Result<(), Error> {
        self.run(inputs, scores, probe)
    }
    #[inline(always)]
    fn run(
        &mut self,
        inputs: &Inputs,
        scores: &mut [f32; 4],
        probe: &mut impl FnMut(usize),
    ) -> Result<(), Error> {
        let arena = &mut self.arena.0;
        probe(0);
        // stem: Conv(%features, %stem.weight, %stem.bias) -> %stem : f32[1,8,20,16]
        {
            let (_, [out, scratch_bytes]) = rt::arena::split_n(
                arena,
                [(11520, 10240), (0, 1440)],
            );
            let y = rt::arena::view_mut::<f32>(out);
            let scratch = rt::arena::view_mut::<f32>(scratch_bytes);
            rt::conv::conv2d_gemm(
                &rt::conv::Conv2d {
                    batch: 1,
                    c_in: 1,
                    h_in: 20,
                    w_in: 16,
                    c_out: 8,
                    h_out: 20,
                    w_out: 16,
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
                &inputs.features[..],
                rt::arena::slice::<f32>(&WEIGHTS.0, 0, 72),
                Some(rt::arena::slice::<f32>(&WEIGHTS.0, 288, 8)),
                rt::Activation::Relu,
                scratch,
                y,
            );
        }
        probe(1);
        {
            let taken = {
                let reads = rt::arena::Reads::all(arena);
                let _ = reads;
                (&inputs.high_accuracy[..])[0] != 0
            };
            if taken {
                // deep1: Conv(%mode/then/stem_relu, %deep1.weight, %deep1.bias) -> %deep1 : f32[1,8,20,16]
                {
                    let (reads, [out, scratch_bytes]) = rt::arena::split_n(
                        arena,
                        [(21760, 10240), (0, 11520)],
                    );
                    let y = rt::arena::view_mut::<f32>(out);
                    let scratch = rt::arena::view_mut::<f32>(scratch_bytes);
                    rt::conv::conv2d_gemm(
                        &rt::conv::Conv2d {
                            batch: 1,
                            c_in: 8,
                            h_in: 20,
                            w_in: 16,
                            c_out: 8,
                            h_out: 20,
                            w_out: 16,
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
                        reads.get::<f32>(11520, 2560),
                        rt::arena::slice::<f32>(&WEIGHTS.0, 320, 576),
                        Some(rt::arena::slice::<f32>(&WEIGHTS.0, 2624, 8)),
                        rt::Activation::Relu,
                        scratch,
                        y,
                    );
                }
            }
        }
        probe(2);
        {
            let taken = {
                let reads = rt::arena::Reads::all(arena);
                let _ = reads;
                (&inputs.high_accuracy[..])[0] == 0
            };
            if taken {
                // fast_pool: GlobalAveragePool(%mode/else/stem_relu) -> %fast_summary : f32[1,8,1,1]
                {
                    let (reads, out) = rt::arena::split(arena, 32000, 32);
                    let y = rt::arena::view_mut::<f32>(out);
                    rt::pool::global_avg_pool(8, 320, reads.get::<f32>(11520, 2560), y);
                }
            }
        }
        probe(3);
        {
            let taken = {
                let reads = rt::arena::Reads::all(arena);
                let _ = reads;
                (&inputs.high_accuracy[..])[0] != 0
            };
            if taken {
                // deep2: Conv(%deep1, %deep2.weight, %deep2.bias) -> %deep2 : f32[1,8,10,8]
                {
                    let (reads, [out, scratch_bytes]) = rt::arena::split_n(
                        arena,
                        [(15088, 2560), (0, 15088)],
                    );
                    let y = rt::arena::view_mut::<f32>(out);
                    let scratch = rt::arena::view_mut::<f32>(scratch_bytes);
                    rt::conv::conv2d_gemm(
                        &rt::conv::Conv2d {
                            batch: 1,
                            c_in: 8,
                            h_in: 20,
                            w_in: 16,
                            c_out: 8,
                            h_out: 10,
                            w_out: 8,
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
                        reads.get::<f32>(21760, 2560),
                        rt::arena::slice::<f32>(&WEIGHTS.0, 2656, 576),
                        Some(rt::arena::slice::<f32>(&WEIGHTS.0, 4960, 8)),
                        rt::Activation::Relu,
                        scratch,
                        y,
                    );
                }
            }
        }
        probe(4);
        {
            let taken = {
                let reads = rt::arena::Reads::all(arena);
                let _ = reads;
                (&inputs.high_accuracy[..])[0] != 0
            };
            if taken {
                // deep_pool: GlobalAveragePool(%deep2) -> %deep_summary : f32[1,8,1,1]
                {
                    let (reads, out) = rt::arena::split(arena, 0, 32);
                    let y = rt::arena::view_mut::<f32>(out);
                    rt::pool::global_avg_pool(8, 80, reads.get::<f32>(15088, 640), y);
                }
            }
        }
        probe(5);
        // mode: If(%high_accuracy, %deep_summary, %fast_summary) -> %summary : f32[1,8,1,1]
        {
            let (reads, out) = rt::arena::split(arena, 32, 32);
            let y = rt::arena::view_mut::<f32>(out);
            if (&inputs.high_accuracy[..])[0] != 0 {
                y.copy_from_slice(reads.get::<f32>(0, 8));
            } else {
                y.copy_from_slice(reads.get::<f32>(32000, 8));
            }
        }
        probe(6);
        // classifier: Gemm(%flatten, %classifier.weight, %classifier.bias) -> %scores : f32[1,4]
        {
            let reads = rt::arena::Reads::all(arena);
            let y: &mut [f32] = &mut scores[..];
            rt::gemm::gemm(
                1,
                4,
                8,
                reads.get::<f32>(32, 8),
                false,
                rt::arena::slice::<f32>(&WEIGHTS.0, 4992, 32),
                true,
                1f32,
                1f32,
                rt::gemm::Bias::Row(rt::arena::slice::<f32>(&WEIGHTS.0, 5120, 4)),
                rt::Activation::None,
                y,
            );
        }
        probe(7);
        let _ = arena;
        Ok(())
    }
}
impl Default for Model {
    fn default() -> Self {
        Self::new()
    }
}
