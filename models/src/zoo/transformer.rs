//! A pre-norm transformer encoder in the shape of ViT's and BERT's as PyTorch exports them
//! at opset 17: per layer, LayerNormalization, multi-head self-attention (MatMul + Add
//! projections, heads split by Reshape and Transpose, QKᵀ by MatMul, a scale, Softmax, the
//! weighted sum, heads merged back), a residual Add, LayerNormalization, an MLP with GELU
//! in its exact (Erf) form, a residual Add; a final LayerNormalization.
//!
//! Ops: LayerNormalization (opset 17), MatMul, Add, Reshape, Transpose, Mul, Softmax, Div,
//! Erf.

use onnx_protobuf::ModelProto;

use crate::builder::{float, int, ints, GraphBuilder, Init, SMALL};

pub(crate) const NAME: &str = "transformer-encoder";
const SEED: u64 = 0x7f_0017;
const SEQ: i64 = 128;
const DIM: i64 = 192;
const HEADS: i64 = 4;
const HEAD_DIM: i64 = DIM / HEADS;
const MLP: i64 = 4 * DIM;
const LAYERS: usize = 3;

/// Constants the layers share, by initializer name.
struct Shared {
    /// `[1, SEQ, HEADS, HEAD_DIM]` and `[1, SEQ, DIM]`.
    split_heads: String,
    merge_heads: String,
    /// `1 / sqrt(HEAD_DIM)`.
    scale: String,
    sqrt2: String,
    one: String,
    half: String,
}

/// `tokens: f32[1,128,192]` → `encoded: f32[1,128,192]`.
pub(crate) fn model() -> ModelProto {
    let mut graph = GraphBuilder::new("transformer_encoder", SEED).opset(17);
    let tokens = graph.input("tokens", &[1, SEQ, DIM]);
    let g = &mut graph;
    let shared = Shared {
        split_heads: g.shape("split_heads.shape", &[1, SEQ, HEADS, HEAD_DIM]),
        merge_heads: g.shape("merge_heads.shape", &[1, SEQ, DIM]),
        scale: g.constant("attention.scale", &[], vec![1.0 / (HEAD_DIM as f32).sqrt()]),
        sqrt2: g.constant("gelu.sqrt2", &[], vec![std::f32::consts::SQRT_2]),
        one: g.constant("gelu.one", &[], vec![1.0]),
        half: g.constant("gelu.half", &[], vec![0.5]),
    };

    let mut x = tokens;
    for index in 0..LAYERS {
        x = encoder_layer(g, &format!("layers.{index}"), &x, &shared);
    }
    let scale = g.param(
        "norm.weight",
        &[DIM],
        Init::Uniform {
            low: 0.8,
            high: 1.2,
        },
    );
    let shift = g.param("norm.bias", &[DIM], SMALL);
    g.node_to(
        "LayerNormalization",
        "norm",
        &[&x, &scale, &shift],
        "encoded",
        vec![int("axis", -1), float("epsilon", 1e-5)],
    );

    graph.output("encoded", &[1, SEQ, DIM]);
    graph.finish(
        "Pre-norm transformer encoder (128 tokens of 192 in; 3 layers of 4-head self-attention \
         and a GELU MLP of 768; 128x192 out) with random weights, opset 17, authored by \
         zant-models.",
    )
}

fn encoder_layer(graph: &mut GraphBuilder, name: &str, input: &str, shared: &Shared) -> String {
    let x = layer_norm(graph, &format!("{name}.norm1"), input);
    let x = attention(graph, &format!("{name}.attn"), &x, shared);
    let x = graph.node("Add", &format!("{name}.add1"), &[input, &x], vec![]);
    let residual = x.clone();
    let y = layer_norm(graph, &format!("{name}.norm2"), &x);
    let y = linear(graph, &format!("{name}.mlp.fc1"), &y, DIM, MLP, 2);
    let y = gelu(graph, &format!("{name}.mlp.act"), &y, shared);
    let y = linear(graph, &format!("{name}.mlp.fc2"), &y, MLP, DIM, 1);
    graph.node("Add", &format!("{name}.add2"), &[&residual, &y], vec![])
}

/// Multi-head self-attention: `[1,128,192]` → Q, K, V `[1,4,128,48]` (K as `[1,4,48,128]`)
/// → scores `[1,4,128,128]` → `[1,4,128,48]` → `[1,128,192]` → the output projection.
fn attention(graph: &mut GraphBuilder, name: &str, input: &str, shared: &Shared) -> String {
    let mut heads = Vec::new();
    for (part, perm) in [
        ("q", [0, 2, 1, 3]),
        ("k", [0, 2, 3, 1]),
        ("v", [0, 2, 1, 3]),
    ] {
        let x = linear(graph, &format!("{name}.{part}_proj"), input, DIM, DIM, 1);
        let x = graph.node(
            "Reshape",
            &format!("{name}.{part}_heads"),
            &[&x, &shared.split_heads],
            vec![],
        );
        heads.push(graph.node(
            "Transpose",
            &format!("{name}.{part}_transpose"),
            &[&x],
            vec![ints("perm", &perm)],
        ));
    }
    let scores = graph.node(
        "MatMul",
        &format!("{name}.scores"),
        &[&heads[0], &heads[1]],
        vec![],
    );
    let scores = graph.node(
        "Mul",
        &format!("{name}.scaled"),
        &[&scores, &shared.scale],
        vec![],
    );
    let weights = graph.node(
        "Softmax",
        &format!("{name}.softmax"),
        &[&scores],
        vec![int("axis", -1)],
    );
    let x = graph.node(
        "MatMul",
        &format!("{name}.context"),
        &[&weights, &heads[2]],
        vec![],
    );
    let x = graph.node(
        "Transpose",
        &format!("{name}.merge_transpose"),
        &[&x],
        vec![ints("perm", &[0, 2, 1, 3])],
    );
    let x = graph.node(
        "Reshape",
        &format!("{name}.merge"),
        &[&x, &shared.merge_heads],
        vec![],
    );
    linear(graph, &format!("{name}.out_proj"), &x, DIM, DIM, 1)
}

/// `nn.Linear` on a 3-D input as exported: MatMul by the transposed weight `[in, out]`,
/// then Add of the bias. `gain` 2 draws He's variance (before a GELU), 1 LeCun's.
fn linear(
    graph: &mut GraphBuilder,
    name: &str,
    input: &str,
    in_features: i64,
    out_features: i64,
    gain: usize,
) -> String {
    let init = Init::LeCun {
        fan_in: in_features as usize / gain,
    };
    let weight = graph.weight(
        &format!("{name}.weight"),
        &[in_features, out_features],
        init,
    );
    let bias = graph.param(&format!("{name}.bias"), &[out_features], SMALL);
    let x = graph.node(
        "MatMul",
        &format!("{name}.matmul"),
        &[input, &weight],
        vec![],
    );
    graph.node("Add", name, &[&x, &bias], vec![])
}

/// LayerNormalization over the last axis, `epsilon` 1e-5, scale near 1 and a small shift.
fn layer_norm(graph: &mut GraphBuilder, name: &str, input: &str) -> String {
    let scale = graph.param(
        &format!("{name}.weight"),
        &[DIM],
        Init::Uniform {
            low: 0.8,
            high: 1.2,
        },
    );
    let shift = graph.param(&format!("{name}.bias"), &[DIM], SMALL);
    graph.node(
        "LayerNormalization",
        name,
        &[input, &scale, &shift],
        vec![int("axis", -1), float("epsilon", 1e-5)],
    )
}

/// GELU as `torch.nn.GELU()` exports it before opset 20: `x · (1 + erf(x / √2)) · 0.5`.
fn gelu(graph: &mut GraphBuilder, name: &str, input: &str, shared: &Shared) -> String {
    let x = graph.node(
        "Div",
        &format!("{name}.div"),
        &[input, &shared.sqrt2],
        vec![],
    );
    let x = graph.node("Erf", &format!("{name}.erf"), &[&x], vec![]);
    let x = graph.node("Add", &format!("{name}.add"), &[&x, &shared.one], vec![]);
    let x = graph.node("Mul", &format!("{name}.mul"), &[input, &x], vec![]);
    graph.node("Mul", name, &[&x, &shared.half], vec![])
}
