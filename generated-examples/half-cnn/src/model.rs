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
pub const ARENA_BYTES: usize = 20608;
/// Bytes of the weight blob (in flash / `.rodata`).
pub const WEIGHT_BYTES: usize = 2848;
/// Shape of the input `image` (f16[1,1,16,16]; IEEE binary16 bits, see `zant_runtime::narrow::f16_from_f32`).
pub const IMAGE_SHAPE: [usize; 4] = [1, 1, 16, 16];
/// Elements in the input `image`.
pub const IMAGE_LEN: usize = 256;
/// Shape of the output `probs` (f16[1,10]; IEEE binary16 bits, see `zant_runtime::narrow::f16_from_f32`).
pub const PROBS_SHAPE: [usize; 2] = [1, 10];
/// Elements in the output `probs`.
pub const PROBS_LEN: usize = 10;
/// The layers [`Model::predict_profiled`] reports, in order: the ONNX op and the
/// node's name. Only with the `profile` feature.
#[cfg(feature = "profile")]
pub const LAYERS: [(&str, &str); 23] = [
    ("Cast", "image.to_f32"),
    ("Cast", "conv1.weight.to_f32"),
    ("Cast", "conv1.bias.to_f32"),
    ("Conv", "conv1"),
    ("MaxPool", "pool1"),
    ("Cast", "pool1"),
    ("Cast", "pool1.to_f32"),
    ("Cast", "conv2.weight.to_f32"),
    ("Cast", "conv2.bias.to_f32"),
    ("Conv", "conv2"),
    ("Cast", "clip2"),
    ("Transpose", "swap_hw"),
    ("Cast", "swap_hw.to_f32"),
    ("GlobalAveragePool", "gap"),
    ("Cast", "gap"),
    ("Cast", "flatten.to_f32"),
    ("Cast", "fc.weight.to_f32"),
    ("Cast", "fc.bias.to_f32"),
    ("Gemm", "fc"),
    ("Cast", "fc"),
    ("Cast", "fc.to_f32"),
    ("Softmax", "softmax"),
    ("Cast", "probs"),
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
        image: &[u16; 256],
        probs: &mut [u16; 10],
    ) -> Result<(), Error> {
        self.run(image, probs, &mut |_| {})
    }
    /// [`Model::predict`] that calls `probe(k)` before layer `k` of [`LAYERS`] and
    /// `probe(LAYERS.len())` after the last: read a clock there for the time of each
    /// layer. Only with the `profile` feature.
    #[cfg(feature = "profile")]
    pub fn predict_profiled(
        &mut self,
        image: &[u16; 256],
        probs: &mut [u16; 10],
        probe: &mut impl FnMut(usize),
    ) -> Result<(), Error> {
        self.run(image, probs, probe)
    }
    #[inline(always)]
    fn run(
        &mut self,
        image: &[u16; 256],
        probs: &mut [u16; 10],
        probe: &mut impl FnMut(usize),
    ) -> Result<(), Error> {
        let arena = &mut self.arena.0;
        probe(0);
        // image.to_f32: Cast(%image) -> %image.to_f32 : f32[1,1,16,16]
        {
            let (_, out) = rt::arena::split(arena, 9488, 1024);
            let y = rt::arena::view_mut::<f32>(out);
            rt::narrow::f16_to_f32_slice(&image[..], y);
        }
        probe(1);
        // conv1.weight.to_f32: Cast(%conv1.weight) -> %conv1.weight.to_f32 : f32[8,1,3,3]
        {
            let (_, out) = rt::arena::split(arena, 10512, 288);
            let y = rt::arena::view_mut::<f32>(out);
            rt::narrow::f16_to_f32_slice(rt::arena::slice::<u16>(&WEIGHTS.0, 0, 72), y);
        }
        probe(2);
        // conv1.bias.to_f32: Cast(%conv1.bias) -> %conv1.bias.to_f32 : f32[8]
        {
            let (_, out) = rt::arena::split(arena, 10800, 32);
            let y = rt::arena::view_mut::<f32>(out);
            rt::narrow::f16_to_f32_slice(rt::arena::slice::<u16>(&WEIGHTS.0, 144, 8), y);
        }
        probe(3);
        // conv1: Conv(%image.to_f32, %conv1.weight.to_f32, %conv1.bias.to_f32) -> %conv1.f32 : f32[1,8,16,16]
        {
            let (reads, [out, scratch_bytes]) = rt::arena::split_n(
                arena,
                [(0, 8192), (8192, 1296)],
            );
            let y = rt::arena::view_mut::<f32>(out);
            let scratch = rt::arena::view_mut::<f32>(scratch_bytes);
            rt::conv::conv2d_gemm(
                &rt::conv::Conv2d {
                    batch: 1,
                    c_in: 1,
                    h_in: 16,
                    w_in: 16,
                    c_out: 8,
                    h_out: 16,
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
                reads.get::<f32>(9488, 256),
                reads.get::<f32>(10512, 72),
                Some(reads.get::<f32>(10800, 8)),
                rt::Activation::Relu,
                scratch,
                y,
            );
        }
        probe(4);
        // pool1: MaxPool(%conv1.f32) -> %pool1.f32 : f32[1,8,8,8]
        {
            let (reads, out) = rt::arena::split(arena, 8192, 2048);
            let y = rt::arena::view_mut::<f32>(out);
            rt::pool::max_pool2d(
                &rt::pool::Pool2d {
                    batch: 1,
                    channels: 8,
                    h_in: 16,
                    w_in: 16,
                    h_out: 8,
                    w_out: 8,
                    k_h: 2,
                    k_w: 2,
                    stride_h: 2,
                    stride_w: 2,
                    dil_h: 1,
                    dil_w: 1,
                    pad_top: 0,
                    pad_left: 0,
                    pad_bottom: 0,
                    pad_right: 0,
                },
                reads.get::<f32>(0, 2048),
                y,
            );
        }
        probe(5);
        // pool1: Cast(%pool1.f32) -> %pool1 : f16[1,8,8,8]
        {
            let (reads, out) = rt::arena::split(arena, 0, 1024);
            let y = rt::arena::view_mut::<u16>(out);
            rt::narrow::f32_to_f16_slice(reads.get::<f32>(8192, 512), y);
        }
        probe(6);
        // pool1.to_f32: Cast(%pool1) -> %pool1.to_f32 : f32[1,8,8,8]
        {
            let (reads, out) = rt::arena::split(arena, 18496, 2048);
            let y = rt::arena::view_mut::<f32>(out);
            rt::narrow::f16_to_f32_slice(reads.get::<u16>(0, 512), y);
        }
        probe(7);
        // conv2.weight.to_f32: Cast(%conv2.weight) -> %conv2.weight.to_f32 : f32[16,8,3,3]
        {
            let (_, out) = rt::arena::split(arena, 9792, 4608);
            let y = rt::arena::view_mut::<f32>(out);
            rt::narrow::f16_to_f32_slice(
                rt::arena::slice::<u16>(&WEIGHTS.0, 160, 1152),
                y,
            );
        }
        probe(8);
        // conv2.bias.to_f32: Cast(%conv2.bias) -> %conv2.bias.to_f32 : f32[16]
        {
            let (_, out) = rt::arena::split(arena, 20544, 64);
            let y = rt::arena::view_mut::<f32>(out);
            rt::narrow::f16_to_f32_slice(
                rt::arena::slice::<u16>(&WEIGHTS.0, 2464, 16),
                y,
            );
        }
        probe(9);
        // conv2: Conv(%pool1.to_f32, %conv2.weight.to_f32, %conv2.bias.to_f32) -> %conv2.f32 : f32[1,16,8,8]
        {
            let (reads, [out, scratch_bytes]) = rt::arena::split_n(
                arena,
                [(14400, 4096), (0, 9792)],
            );
            let y = rt::arena::view_mut::<f32>(out);
            let scratch = rt::arena::view_mut::<f32>(scratch_bytes);
            rt::conv::conv2d_gemm(
                &rt::conv::Conv2d {
                    batch: 1,
                    c_in: 8,
                    h_in: 8,
                    w_in: 8,
                    c_out: 16,
                    h_out: 8,
                    w_out: 8,
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
                reads.get::<f32>(18496, 512),
                reads.get::<f32>(9792, 1152),
                Some(reads.get::<f32>(20544, 16)),
                rt::Activation::Clip {
                    min: 0f32,
                    max: 6f32,
                },
                scratch,
                y,
            );
        }
        probe(10);
        // clip2: Cast(%conv2.f32) -> %clip2 : f16[1,16,8,8]
        {
            let (reads, out) = rt::arena::split(arena, 0, 2048);
            let y = rt::arena::view_mut::<u16>(out);
            rt::narrow::f32_to_f16_slice(reads.get::<f32>(14400, 1024), y);
        }
        probe(11);
        // swap_hw: Transpose(%clip2) -> %swap_hw : f16[1,16,8,8]
        {
            let (reads, out) = rt::arena::split(arena, 4096, 2048);
            let y = rt::arena::view_mut::<u16>(out);
            rt::shape::transpose::<
                u16,
            >(reads.get::<u16>(0, 1024), &[1, 16, 8, 8], &[0, 1, 3, 2], y);
        }
        probe(12);
        // swap_hw.to_f32: Cast(%swap_hw) -> %swap_hw.to_f32 : f32[1,16,8,8]
        {
            let (reads, out) = rt::arena::split(arena, 0, 4096);
            let y = rt::arena::view_mut::<f32>(out);
            rt::narrow::f16_to_f32_slice(reads.get::<u16>(4096, 1024), y);
        }
        probe(13);
        // gap: GlobalAveragePool(%swap_hw.to_f32) -> %gap.f32 : f32[1,16,1,1]
        {
            let (reads, out) = rt::arena::split(arena, 4096, 64);
            let y = rt::arena::view_mut::<f32>(out);
            rt::pool::global_avg_pool(16, 64, reads.get::<f32>(0, 1024), y);
        }
        probe(14);
        // gap: Cast(%gap.f32) -> %gap : f16[1,16,1,1]
        {
            let (reads, out) = rt::arena::split(arena, 0, 32);
            let y = rt::arena::view_mut::<u16>(out);
            rt::narrow::f32_to_f16_slice(reads.get::<f32>(4096, 16), y);
        }
        probe(15);
        // flatten.to_f32: Cast(%flatten) -> %flatten.to_f32 : f32[1,16]
        {
            let (reads, out) = rt::arena::split(arena, 640, 64);
            let y = rt::arena::view_mut::<f32>(out);
            rt::narrow::f16_to_f32_slice(reads.get::<u16>(0, 16), y);
        }
        probe(16);
        // fc.weight.to_f32: Cast(%fc.weight) -> %fc.weight.to_f32 : f32[10,16]
        {
            let (_, out) = rt::arena::split(arena, 0, 640);
            let y = rt::arena::view_mut::<f32>(out);
            rt::narrow::f16_to_f32_slice(
                rt::arena::slice::<u16>(&WEIGHTS.0, 2496, 160),
                y,
            );
        }
        probe(17);
        // fc.bias.to_f32: Cast(%fc.bias) -> %fc.bias.to_f32 : f32[10]
        {
            let (_, out) = rt::arena::split(arena, 704, 40);
            let y = rt::arena::view_mut::<f32>(out);
            rt::narrow::f16_to_f32_slice(
                rt::arena::slice::<u16>(&WEIGHTS.0, 2816, 10),
                y,
            );
        }
        probe(18);
        // fc: Gemm(%flatten.to_f32, %fc.weight.to_f32, %fc.bias.to_f32) -> %fc.f32 : f32[1,10]
        {
            let (reads, out) = rt::arena::split(arena, 752, 40);
            let y = rt::arena::view_mut::<f32>(out);
            rt::gemm::gemm(
                1,
                10,
                16,
                reads.get::<f32>(640, 16),
                false,
                reads.get::<f32>(0, 160),
                true,
                1f32,
                1f32,
                rt::gemm::Bias::Row(reads.get::<f32>(704, 10)),
                rt::Activation::None,
                y,
            );
        }
        probe(19);
        // fc: Cast(%fc.f32) -> %fc : f16[1,10]
        {
            let (reads, out) = rt::arena::split(arena, 48, 20);
            let y = rt::arena::view_mut::<u16>(out);
            rt::narrow::f32_to_f16_slice(reads.get::<f32>(752, 10), y);
        }
        probe(20);
        // fc.to_f32: Cast(%fc) -> %fc.to_f32 : f32[1,10]
        {
            let (reads, out) = rt::arena::split(arena, 0, 40);
            let y = rt::arena::view_mut::<f32>(out);
            rt::narrow::f16_to_f32_slice(reads.get::<u16>(48, 10), y);
        }
        probe(21);
        // softmax: Softmax(%fc.to_f32) -> %probs.f32 : f32[1,10]
        {
            let (reads, out) = rt::arena::split(arena, 48, 40);
            let y = rt::arena::view_mut::<f32>(out);
            rt::elementwise::softmax(1, 10, 1, reads.get::<f32>(0, 10), y);
        }
        probe(22);
        // probs: Cast(%probs.f32) -> %probs : f16[1,10]
        {
            let reads = rt::arena::Reads::all(arena);
            let y: &mut [u16] = &mut probs[..];
            rt::narrow::f32_to_f16_slice(reads.get::<f32>(48, 10), y);
        }
        probe(23);
        let _ = arena;
        Ok(())
    }
}
impl Default for Model {
    fn default() -> Self {
        Self::new()
    }
}
