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
pub const ARENA_BYTES: usize = 80384;
/// Bytes of the weight blob (in flash / `.rodata`).
pub const WEIGHT_BYTES: usize = 90416;
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
pub const LAYERS: [(&str, &str); 11] = [
    ("Conv", "conv1"),
    ("Conv", "dw1"),
    ("Conv", "pw1"),
    ("Conv", "dw2"),
    ("Conv", "pw2"),
    ("Conv", "dw3"),
    ("Conv", "pw3"),
    ("Conv", "dw4"),
    ("Conv", "pw4"),
    ("GlobalAveragePool", "pool"),
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
        // conv1: Conv(%mfcc, %conv1.weight_bn, %conv1.bias_bn) -> %conv1 : f32[1,64,25,5]
        {
            let (_, [out, scratch_bytes]) = rt::arena::split_n(
                arena,
                [(0, 32000), (32000, 10240)],
            );
            let y = rt::arena::view_mut::<f32>(out);
            let scratch = rt::arena::view_mut::<f32>(scratch_bytes);
            rt::conv::conv2d_gemm(
                &rt::conv::Conv2d {
                    batch: 1,
                    c_in: 1,
                    h_in: 49,
                    w_in: 10,
                    c_out: 64,
                    h_out: 25,
                    w_out: 5,
                    k_h: 10,
                    k_w: 4,
                    stride_h: 2,
                    stride_w: 2,
                    dil_h: 1,
                    dil_w: 1,
                    pad_top: 4,
                    pad_left: 1,
                    groups: 1,
                },
                &mfcc[..],
                rt::arena::slice::<f32>(&WEIGHTS.0, 0, 2560),
                Some(rt::arena::slice::<f32>(&WEIGHTS.0, 10240, 64)),
                rt::Activation::Relu,
                scratch,
                y,
            );
        }
        probe(1);
        // dw1: Conv(%conv1, %dw1.weight_bn, %dw1.bias_bn) -> %dw1 : f32[1,64,25,5]
        {
            let (reads, [out, scratch_bytes]) = rt::arena::split_n(
                arena,
                [(32000, 32000), (64000, 15680)],
            );
            let y = rt::arena::view_mut::<f32>(out);
            let scratch = rt::arena::view_mut::<f32>(scratch_bytes);
            rt::conv::conv2d_depthwise(
                &rt::conv::Conv2d {
                    batch: 1,
                    c_in: 64,
                    h_in: 25,
                    w_in: 5,
                    c_out: 64,
                    h_out: 25,
                    w_out: 5,
                    k_h: 3,
                    k_w: 3,
                    stride_h: 1,
                    stride_w: 1,
                    dil_h: 1,
                    dil_w: 1,
                    pad_top: 1,
                    pad_left: 1,
                    groups: 64,
                },
                reads.get::<f32>(0, 8000),
                rt::arena::slice::<f32>(&WEIGHTS.0, 10496, 576),
                Some(rt::arena::slice::<f32>(&WEIGHTS.0, 12800, 64)),
                rt::Activation::Relu,
                scratch,
                y,
            );
        }
        probe(2);
        // pw1: Conv(%dw1, %pw1.weight_bn_blocked, %pw1.bias_bn) -> %pw1 : f32[1,64,25,5]
        {
            let (reads, [out, scratch_bytes]) = rt::arena::split_n(
                arena,
                [(0, 32000), (64000, 16384)],
            );
            let y = rt::arena::view_mut::<f32>(out);
            let scratch = rt::arena::view_mut::<f32>(scratch_bytes);
            rt::conv::conv2d_pointwise_blocked(
                &rt::conv::Conv2d {
                    batch: 1,
                    c_in: 64,
                    h_in: 25,
                    w_in: 5,
                    c_out: 64,
                    h_out: 25,
                    w_out: 5,
                    k_h: 1,
                    k_w: 1,
                    stride_h: 1,
                    stride_w: 1,
                    dil_h: 1,
                    dil_w: 1,
                    pad_top: 0,
                    pad_left: 0,
                    groups: 1,
                },
                reads.get::<f32>(32000, 8000),
                rt::arena::slice::<f32>(&WEIGHTS.0, 13056, 4096),
                Some(rt::arena::slice::<f32>(&WEIGHTS.0, 29440, 64)),
                rt::Activation::Clip {
                    min: 0f32,
                    max: 6f32,
                },
                scratch,
                y,
            );
        }
        probe(3);
        // dw2: Conv(%pw1, %dw2.weight_bn, %dw2.bias_bn) -> %dw2 : f32[1,64,25,5]
        {
            let (reads, [out, scratch_bytes]) = rt::arena::split_n(
                arena,
                [(32000, 32000), (64000, 15680)],
            );
            let y = rt::arena::view_mut::<f32>(out);
            let scratch = rt::arena::view_mut::<f32>(scratch_bytes);
            rt::conv::conv2d_depthwise(
                &rt::conv::Conv2d {
                    batch: 1,
                    c_in: 64,
                    h_in: 25,
                    w_in: 5,
                    c_out: 64,
                    h_out: 25,
                    w_out: 5,
                    k_h: 3,
                    k_w: 3,
                    stride_h: 1,
                    stride_w: 1,
                    dil_h: 1,
                    dil_w: 1,
                    pad_top: 1,
                    pad_left: 1,
                    groups: 64,
                },
                reads.get::<f32>(0, 8000),
                rt::arena::slice::<f32>(&WEIGHTS.0, 29696, 576),
                Some(rt::arena::slice::<f32>(&WEIGHTS.0, 32000, 64)),
                rt::Activation::Relu,
                scratch,
                y,
            );
        }
        probe(4);
        // pw2: Conv(%dw2, %pw2.weight_bn_blocked, %pw2.bias_bn) -> %pw2 : f32[1,64,25,5]
        {
            let (reads, [out, scratch_bytes]) = rt::arena::split_n(
                arena,
                [(0, 32000), (64000, 16384)],
            );
            let y = rt::arena::view_mut::<f32>(out);
            let scratch = rt::arena::view_mut::<f32>(scratch_bytes);
            rt::conv::conv2d_pointwise_blocked(
                &rt::conv::Conv2d {
                    batch: 1,
                    c_in: 64,
                    h_in: 25,
                    w_in: 5,
                    c_out: 64,
                    h_out: 25,
                    w_out: 5,
                    k_h: 1,
                    k_w: 1,
                    stride_h: 1,
                    stride_w: 1,
                    dil_h: 1,
                    dil_w: 1,
                    pad_top: 0,
                    pad_left: 0,
                    groups: 1,
                },
                reads.get::<f32>(32000, 8000),
                rt::arena::slice::<f32>(&WEIGHTS.0, 32256, 4096),
                Some(rt::arena::slice::<f32>(&WEIGHTS.0, 48640, 64)),
                rt::Activation::Clip {
                    min: 0f32,
                    max: 6f32,
                },
                scratch,
                y,
            );
        }
        probe(5);
        // dw3: Conv(%pw2, %dw3.weight_bn, %dw3.bias_bn) -> %dw3 : f32[1,64,25,5]
        {
            let (reads, [out, scratch_bytes]) = rt::arena::split_n(
                arena,
                [(32000, 32000), (64000, 15680)],
            );
            let y = rt::arena::view_mut::<f32>(out);
            let scratch = rt::arena::view_mut::<f32>(scratch_bytes);
            rt::conv::conv2d_depthwise(
                &rt::conv::Conv2d {
                    batch: 1,
                    c_in: 64,
                    h_in: 25,
                    w_in: 5,
                    c_out: 64,
                    h_out: 25,
                    w_out: 5,
                    k_h: 3,
                    k_w: 3,
                    stride_h: 1,
                    stride_w: 1,
                    dil_h: 1,
                    dil_w: 1,
                    pad_top: 1,
                    pad_left: 1,
                    groups: 64,
                },
                reads.get::<f32>(0, 8000),
                rt::arena::slice::<f32>(&WEIGHTS.0, 48896, 576),
                Some(rt::arena::slice::<f32>(&WEIGHTS.0, 51200, 64)),
                rt::Activation::Relu,
                scratch,
                y,
            );
        }
        probe(6);
        // pw3: Conv(%dw3, %pw3.weight_bn_blocked, %pw3.bias_bn) -> %pw3 : f32[1,64,25,5]
        {
            let (reads, [out, scratch_bytes]) = rt::arena::split_n(
                arena,
                [(0, 32000), (64000, 16384)],
            );
            let y = rt::arena::view_mut::<f32>(out);
            let scratch = rt::arena::view_mut::<f32>(scratch_bytes);
            rt::conv::conv2d_pointwise_blocked(
                &rt::conv::Conv2d {
                    batch: 1,
                    c_in: 64,
                    h_in: 25,
                    w_in: 5,
                    c_out: 64,
                    h_out: 25,
                    w_out: 5,
                    k_h: 1,
                    k_w: 1,
                    stride_h: 1,
                    stride_w: 1,
                    dil_h: 1,
                    dil_w: 1,
                    pad_top: 0,
                    pad_left: 0,
                    groups: 1,
                },
                reads.get::<f32>(32000, 8000),
                rt::arena::slice::<f32>(&WEIGHTS.0, 51456, 4096),
                Some(rt::arena::slice::<f32>(&WEIGHTS.0, 67840, 64)),
                rt::Activation::Clip {
                    min: 0f32,
                    max: 6f32,
                },
                scratch,
                y,
            );
        }
        probe(7);
        // dw4: Conv(%pw3, %dw4.weight_bn, %dw4.bias_bn) -> %dw4 : f32[1,64,25,5]
        {
            let (reads, [out, scratch_bytes]) = rt::arena::split_n(
                arena,
                [(32000, 32000), (64000, 15680)],
            );
            let y = rt::arena::view_mut::<f32>(out);
            let scratch = rt::arena::view_mut::<f32>(scratch_bytes);
            rt::conv::conv2d_depthwise(
                &rt::conv::Conv2d {
                    batch: 1,
                    c_in: 64,
                    h_in: 25,
                    w_in: 5,
                    c_out: 64,
                    h_out: 25,
                    w_out: 5,
                    k_h: 3,
                    k_w: 3,
                    stride_h: 1,
                    stride_w: 1,
                    dil_h: 1,
                    dil_w: 1,
                    pad_top: 1,
                    pad_left: 1,
                    groups: 64,
                },
                reads.get::<f32>(0, 8000),
                rt::arena::slice::<f32>(&WEIGHTS.0, 68096, 576),
                Some(rt::arena::slice::<f32>(&WEIGHTS.0, 70400, 64)),
                rt::Activation::Relu,
                scratch,
                y,
            );
        }
        probe(8);
        // pw4: Conv(%dw4, %pw4.weight_bn_blocked, %pw4.bias_bn) -> %pw4 : f32[1,64,25,5]
        {
            let (reads, [out, scratch_bytes]) = rt::arena::split_n(
                arena,
                [(0, 32000), (64000, 16384)],
            );
            let y = rt::arena::view_mut::<f32>(out);
            let scratch = rt::arena::view_mut::<f32>(scratch_bytes);
            rt::conv::conv2d_pointwise_blocked(
                &rt::conv::Conv2d {
                    batch: 1,
                    c_in: 64,
                    h_in: 25,
                    w_in: 5,
                    c_out: 64,
                    h_out: 25,
                    w_out: 5,
                    k_h: 1,
                    k_w: 1,
                    stride_h: 1,
                    stride_w: 1,
                    dil_h: 1,
                    dil_w: 1,
                    pad_top: 0,
                    pad_left: 0,
                    groups: 1,
                },
                reads.get::<f32>(32000, 8000),
                rt::arena::slice::<f32>(&WEIGHTS.0, 70656, 4096),
                Some(rt::arena::slice::<f32>(&WEIGHTS.0, 87040, 64)),
                rt::Activation::Clip {
                    min: 0f32,
                    max: 6f32,
                },
                scratch,
                y,
            );
        }
        probe(9);
        // pool: GlobalAveragePool(%pw4) -> %pool : f32[1,64,1,1]
        {
            let (reads, out) = rt::arena::split(arena, 32000, 256);
            let y = rt::arena::view_mut::<f32>(out);
            rt::pool::global_avg_pool(64, 125, reads.get::<f32>(0, 8000), y);
        }
        probe(10);
        // fc: Gemm(%flatten, %fc.weight, %fc.bias) -> %logits : f32[1,12]
        {
            let reads = rt::arena::Reads::all(arena);
            let y: &mut [f32] = &mut logits[..];
            rt::gemm::gemm(
                1,
                12,
                64,
                reads.get::<f32>(32000, 64),
                false,
                rt::arena::slice::<f32>(&WEIGHTS.0, 87296, 768),
                true,
                1f32,
                1f32,
                rt::gemm::Bias::Row(rt::arena::slice::<f32>(&WEIGHTS.0, 90368, 12)),
                rt::Activation::None,
                y,
            );
        }
        probe(11);
        let _ = arena;
        Ok(())
    }
}
impl Default for Model {
    fn default() -> Self {
        Self::new()
    }
}
