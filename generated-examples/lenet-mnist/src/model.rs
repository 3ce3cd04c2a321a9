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
pub const ARENA_BYTES: usize = 31504;
/// Bytes of the weight blob (in flash / `.rodata`).
pub const WEIGHT_BYTES: usize = 246848;
/// Shape of the input `image` (f32[1,1,28,28]).
pub const IMAGE_SHAPE: [usize; 4] = [1, 1, 28, 28];
/// Elements in the input `image`.
pub const IMAGE_LEN: usize = 784;
/// Shape of the output `probs` (f32[1,10]).
pub const PROBS_SHAPE: [usize; 2] = [1, 10];
/// Elements in the output `probs`.
pub const PROBS_LEN: usize = 10;
/// The layers [`Model::predict_profiled`] reports, in order: the ONNX op and the
/// node's name. Only with the `profile` feature.
#[cfg(feature = "profile")]
pub const LAYERS: [(&str, &str); 8] = [
    ("Conv", "conv1"),
    ("MaxPool", "pool1"),
    ("Conv", "conv2"),
    ("MaxPool", "pool2"),
    ("Gemm", "fc1"),
    ("Gemm", "fc2"),
    ("Gemm", "fc3"),
    ("Softmax", "softmax"),
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
        image: &[f32; 784],
        probs: &mut [f32; 10],
    ) -> Result<(), Error> {
        self.run(image, probs, &mut |_| {})
    }
    /// [`Model::predict`] that calls `probe(k)` before layer `k` of [`LAYERS`] and
    /// `probe(LAYERS.len())` after the last: read a clock there for the time of each
    /// layer. Only with the `profile` feature.
    #[cfg(feature = "profile")]
    pub fn predict_profiled(
        &mut self,
        image: &[f32; 784],
        probs: &mut [f32; 10],
        probe: &mut impl FnMut(usize),
    ) -> Result<(), Error> {
        self.run(image, probs, probe)
    }
    #[inline(always)]
    fn run(
        &mut self,
        image: &[f32; 784],
        probs: &mut [f32; 10],
        probe: &mut impl FnMut(usize),
    ) -> Result<(), Error> {
        let arena = &mut self.arena.0;
        probe(0);
        // conv1: Conv(%image, %conv1.weight, %conv1.bias) -> %conv1 : f32[1,6,28,28]
        {
            let (_, [out, scratch_bytes]) = rt::arena::split_n(
                arena,
                [(0, 18816), (18816, 3584)],
            );
            let y = rt::arena::view_mut::<f32>(out);
            let scratch = rt::arena::view_mut::<f32>(scratch_bytes);
            rt::conv::conv2d_gemm(
                &rt::conv::Conv2d {
                    batch: 1,
                    c_in: 1,
                    h_in: 28,
                    w_in: 28,
                    c_out: 6,
                    h_out: 28,
                    w_out: 28,
                    k_h: 5,
                    k_w: 5,
                    stride_h: 1,
                    stride_w: 1,
                    dil_h: 1,
                    dil_w: 1,
                    pad_top: 2,
                    pad_left: 2,
                    groups: 1,
                },
                &image[..],
                rt::arena::slice::<f32>(&WEIGHTS.0, 0, 150),
                Some(rt::arena::slice::<f32>(&WEIGHTS.0, 608, 6)),
                rt::Activation::Relu,
                scratch,
                y,
            );
        }
        probe(1);
        // pool1: MaxPool(%conv1) -> %pool1 : f32[1,6,14,14]
        {
            let (reads, out) = rt::arena::split(arena, 26800, 4704);
            let y = rt::arena::view_mut::<f32>(out);
            rt::pool::max_pool2d(
                &rt::pool::Pool2d {
                    batch: 1,
                    channels: 6,
                    h_in: 28,
                    w_in: 28,
                    h_out: 14,
                    w_out: 14,
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
                reads.get::<f32>(0, 4704),
                y,
            );
        }
        probe(2);
        // conv2: Conv(%pool1, %conv2.weight, %conv2.bias) -> %conv2 : f32[1,16,10,10]
        {
            let (reads, [out, scratch_bytes]) = rt::arena::split_n(
                arena,
                [(20400, 6400), (0, 20400)],
            );
            let y = rt::arena::view_mut::<f32>(out);
            let scratch = rt::arena::view_mut::<f32>(scratch_bytes);
            rt::conv::conv2d_gemm(
                &rt::conv::Conv2d {
                    batch: 1,
                    c_in: 6,
                    h_in: 14,
                    w_in: 14,
                    c_out: 16,
                    h_out: 10,
                    w_out: 10,
                    k_h: 5,
                    k_w: 5,
                    stride_h: 1,
                    stride_w: 1,
                    dil_h: 1,
                    dil_w: 1,
                    pad_top: 0,
                    pad_left: 0,
                    groups: 1,
                },
                reads.get::<f32>(26800, 1176),
                rt::arena::slice::<f32>(&WEIGHTS.0, 640, 2400),
                Some(rt::arena::slice::<f32>(&WEIGHTS.0, 10240, 16)),
                rt::Activation::Relu,
                scratch,
                y,
            );
        }
        probe(3);
        // pool2: MaxPool(%conv2) -> %pool2 : f32[1,16,5,5]
        {
            let (reads, out) = rt::arena::split(arena, 0, 1600);
            let y = rt::arena::view_mut::<f32>(out);
            rt::pool::max_pool2d(
                &rt::pool::Pool2d {
                    batch: 1,
                    channels: 16,
                    h_in: 10,
                    w_in: 10,
                    h_out: 5,
                    w_out: 5,
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
                reads.get::<f32>(20400, 1600),
                y,
            );
        }
        probe(4);
        // fc1: Gemm(%flatten, %fc1.weight, %fc1.bias) -> %fc1 : f32[1,120]
        {
            let (reads, out) = rt::arena::split(arena, 1600, 480);
            let y = rt::arena::view_mut::<f32>(out);
            rt::gemm::gemm(
                1,
                120,
                400,
                reads.get::<f32>(0, 400),
                false,
                rt::arena::slice::<f32>(&WEIGHTS.0, 10304, 48000),
                true,
                1f32,
                1f32,
                rt::gemm::Bias::Row(rt::arena::slice::<f32>(&WEIGHTS.0, 202304, 120)),
                rt::Activation::Relu,
                y,
            );
        }
        probe(5);
        // fc2: Gemm(%fc1, %fc2.weight, %fc2.bias) -> %fc2 : f32[1,84]
        {
            let (reads, out) = rt::arena::split(arena, 0, 336);
            let y = rt::arena::view_mut::<f32>(out);
            rt::gemm::gemm(
                1,
                84,
                120,
                reads.get::<f32>(1600, 120),
                false,
                rt::arena::slice::<f32>(&WEIGHTS.0, 202784, 10080),
                true,
                1f32,
                1f32,
                rt::gemm::Bias::Row(rt::arena::slice::<f32>(&WEIGHTS.0, 243104, 84)),
                rt::Activation::Relu,
                y,
            );
        }
        probe(6);
        // fc3: Gemm(%fc2, %fc3.weight, %fc3.bias) -> %fc3 : f32[1,10]
        {
            let (reads, out) = rt::arena::split(arena, 336, 40);
            let y = rt::arena::view_mut::<f32>(out);
            rt::gemm::gemm(
                1,
                10,
                84,
                reads.get::<f32>(0, 84),
                false,
                rt::arena::slice::<f32>(&WEIGHTS.0, 243440, 840),
                true,
                1f32,
                1f32,
                rt::gemm::Bias::Row(rt::arena::slice::<f32>(&WEIGHTS.0, 246800, 10)),
                rt::Activation::None,
                y,
            );
        }
        probe(7);
        // softmax: Softmax(%fc3) -> %probs : f32[1,10]
        {
            let reads = rt::arena::Reads::all(arena);
            let y: &mut [f32] = &mut probs[..];
            rt::elementwise::softmax(1, 10, 1, reads.get::<f32>(336, 10), y);
        }
        probe(8);
        let _ = arena;
        Ok(())
    }
}
impl Default for Model {
    fn default() -> Self {
        Self::new()
    }
}
