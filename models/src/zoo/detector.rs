//! A single-shot detector that ends in its post-processing, as TensorFlow's object detection
//! exports and torchvision's `batched_nms` exports do: a small convolutional backbone, a
//! head that predicts one box (sigmoid-scaled corners `[y1, x1, y2, x2]` in pixels, in
//! either order) and per-class scores (sigmoid) at each cell of a 12 × 12 grid, the 64 cells
//! of best class score kept by TopK, their boxes and scores gathered, and NonMaxSuppression
//! (at most 10 boxes per class, IoU above 0.3 suppresses, scores above 0.5 count).
//!
//! `selected_indices` has a data-dependent number of rows (`num_selected`): at most
//! 3 classes × 10 boxes = 30, the capacity zant gives it unless `--max-len` lowers it.
//!
//! Ops: Conv, Relu, Sigmoid, Mul, Reshape, Transpose, ReduceMax, TopK, Gather,
//! NonMaxSuppression.

use onnx_protobuf::ModelProto;

use super::square_conv;
use crate::builder::{int, ints, GraphBuilder};

pub(crate) const NAME: &str = "detector-nms";
const SEED: u64 = 0xde7_0010;
const SIZE: i64 = 96;
/// The grid after three stride-2 convolutions and one more: 96 / 8 = 12.
const GRID: i64 = 12;
const CELLS: i64 = GRID * GRID;
const N_CLASSES: i64 = 3;
const TOP_K: i64 = 64;
const MAX_PER_CLASS: i64 = 10;

/// `image: f32[1,3,96,96]` → `selected_indices: i64[num_selected,3]`, `boxes: f32[1,64,4]`,
/// `scores: f32[1,3,64]`.
pub(crate) fn model() -> ModelProto {
    let mut graph = GraphBuilder::new("detector_nms", SEED);
    let image = graph.input("image", &[1, 3, SIZE, SIZE]);
    let g = &mut graph;

    // Backbone: [1,3,96,96] → [1,32,12,12].
    let mut x = image;
    let mut in_channels = 3;
    for (index, channels) in [16, 24, 32].into_iter().enumerate() {
        let conv = g.conv(
            &format!("backbone.{index}"),
            &x,
            &square_conv(in_channels, channels, 3, 2),
        );
        x = g.node("Relu", &format!("backbone.{index}.relu"), &[&conv], vec![]);
        in_channels = channels;
    }
    let conv = g.conv("neck", &x, &square_conv(in_channels, 32, 3, 1));
    let features = g.node("Relu", "neck.relu", &[&conv], vec![]);

    // Head: boxes [1,4,12,12] → [1,144,4] pixel corners; scores [1,3,12,12] → [1,3,144].
    let raw = g.conv("head.box", &features, &square_conv(32, 4, 1, 1));
    let unit = g.node("Sigmoid", "head.box.sigmoid", &[&raw], vec![]);
    let scale = g.constant("head.box.scale", &[], vec![SIZE as f32]);
    let corners = g.node("Mul", "head.box.pixels", &[&unit, &scale], vec![]);
    let flat = g.shape("head.box.flat", &[1, 4, CELLS]);
    let corners = g.node("Reshape", "head.box.reshape", &[&corners, &flat], vec![]);
    let boxes = g.node(
        "Transpose",
        "head.box.transpose",
        &[&corners],
        vec![ints("perm", &[0, 2, 1])],
    );
    let raw = g.conv("head.cls", &features, &square_conv(32, N_CLASSES, 1, 1));
    let probs = g.node("Sigmoid", "head.cls.sigmoid", &[&raw], vec![]);
    let flat = g.shape("head.cls.flat", &[1, N_CLASSES, CELLS]);
    let scores = g.node("Reshape", "head.cls.reshape", &[&probs, &flat], vec![]);

    // Keep the 64 cells of best class score.
    let best = g.node(
        "ReduceMax",
        "select.best",
        &[&scores],
        vec![ints("axes", &[1]), int("keepdims", 0)],
    );
    let k = g.shape("select.k", &[TOP_K]);
    let top = g.node_outputs(
        "TopK",
        "select.topk",
        &[&best, &k],
        &["select.top_scores", "select.top_cells"],
        vec![int("axis", 1)],
    );
    let one_row = g.shape("select.cells_shape", &[TOP_K]);
    let cells = g.node("Reshape", "select.cells", &[&top[1], &one_row], vec![]);
    let kept_boxes = g.node_to(
        "Gather",
        "select.boxes",
        &[&boxes, &cells],
        "boxes",
        vec![int("axis", 1)],
    );
    let kept_scores = g.node_to(
        "Gather",
        "select.scores",
        &[&scores, &cells],
        "scores",
        vec![int("axis", 2)],
    );

    // NonMaxSuppression over the kept boxes, per class.
    let max = g.shape("nms.max_per_class", &[MAX_PER_CLASS]);
    let iou = g.constant("nms.iou_threshold", &[1], vec![0.3]);
    let threshold = g.constant("nms.score_threshold", &[1], vec![0.5]);
    g.node_to(
        "NonMaxSuppression",
        "nms",
        &[&kept_boxes, &kept_scores, &max, &iou, &threshold],
        "selected_indices",
        vec![int("center_point_box", 0)],
    );

    graph.int64_output("selected_indices", "num_selected", &[3]);
    graph.output("boxes", &[1, TOP_K, 4]);
    graph.output("scores", &[1, N_CLASSES, TOP_K]);
    graph.finish(
        "Single-shot detector ending in its post-processing (96x96 image in; three strided \
         3x3 convolutions, a 12x12 grid of boxes and 3 class scores, TopK of 64 cells, \
         NonMaxSuppression at most 10 per class, IoU 0.3, score 0.5; the selected \
         [batch, class, box] rows, the kept boxes and scores out) with random weights, \
         authored by zant-models.",
    )
}
