//! Pass tests as text fixtures, one pass at a time: the IR text before, the pass, and the
//! IR text after (an inline snapshot; `cargo insta test --accept` rewrites it after a
//! deliberate change). `ir::verify` runs on the graph before and after the pass.

use zant_compiler::ir::{text, verify::verify};
use zant_compiler::passes::PASSES;
use zant_runtime::target::KernelSet;

/// Parses `before`, runs the pass called `pass` and prints the graph after it, with a
/// first line saying whether the pass reported a change.
fn run(pass: &str, before: &str) -> String {
    let mut graph = text::parse(before).unwrap_or_else(|e| panic!("fixture: {e}"));
    verify(&graph).unwrap_or_else(|e| panic!("fixture: {e}"));
    let (_, run) = PASSES
        .iter()
        .find(|(name, _)| *name == pass)
        .unwrap_or_else(|| panic!("no pass `{pass}`"));
    let changed = run(&mut graph).unwrap_or_else(|e| panic!("{pass}: {e}"));
    verify(&graph).unwrap_or_else(|e| panic!("after {pass}: {e}"));
    format!("changed: {changed}\n{}", text::print(&graph))
}

/// Runs every pass in order, as the compiler does.
fn optimize(before: &str) -> String {
    let mut graph = text::parse(before).unwrap_or_else(|e| panic!("fixture: {e}"));
    zant_compiler::passes::optimize(&mut graph, None, None).unwrap();
    verify(&graph).unwrap();
    text::print(&graph)
}

#[test]
fn fold_evaluates_constant_nodes() {
    insta::assert_snapshot!(run("fold", "
        %a = Const f32[2] [1.0, 2.0]
        %b = Const f32[2] [10.0, 20.0]
        %sum = Add(%a, %b)
        output 0: sum = %sum
    "), @"
    changed: true
    %a = Const f32[2] [1.0, 2.0]
    %b = Const f32[2] [10.0, 20.0]
    %sum = Const f32[2] [11.0, 22.0]
    output 0: sum = %sum
    ");
}

#[test]
fn fold_leaves_a_narrow_weight_narrow() {
    // Import widens a float16 weight for an op that computes in f32 with a cast marked
    // `widens_weight`: folding it would put the f32 copy in the blob.
    insta::assert_snapshot!(run("fold", "
        input 0: %x : f32[2]
        %w = Const f16[2] [0.5, 3.0]
        %wide = Cast(%w) to=1 widens_weight=1
        %plain = Cast(%w) to=1
        %a = Add(%x, %wide)
        %b = Add(%a, %plain)
        output 0: b = %b
    "), @"
    changed: true
    input 0: %x : f32[2]
    %w = Const f16[2] [0.5, 3.0]
    %wide = Cast(%w) to=1 widens_weight=1 : f32[2]
    %a = Add(%x, %wide) : f32[2]
    %plain = Const f32[2] [0.5, 3.0]
    %b = Add(%a, %plain) : f32[2]
    output 0: b = %b
    ");
}

#[test]
fn narrow_moves_rounding_past_ops_that_commute_with_it() {
    // Relu and a Clip whose bounds float16 holds read the f32 Conv output directly; a
    // Clip at 0.1, which float16 does not hold, keeps its round trip, as does Sigmoid.
    insta::assert_snapshot!(run("narrow", "
        input 0: %x : f32[1,1,4,4]
        %w = Const f32[1,1,1,1] [2.0]
        %c = Conv(%x, %w) kernel_shape=[1,1]
        %c16 = Cast(%c) to=10
        %c32 = Cast(%c16) to=1
        %r = Relu(%c32)
        %r16 = Cast(%r) to=10
        %r32 = Cast(%r16) to=1
        %lo = Const f32[] [0.1]
        %k = Clip(%r32, %lo)
        %k16 = Cast(%k) to=10
        %k32 = Cast(%k16) to=1
        %s = Sigmoid(%k32)
        %s16 = Cast(%s) to=10
        output 0: y = %s16
    "), @"
    changed: true
    input 0: %x : f32[1,1,4,4]
    %w = Const f32[1,1,1,1] [2.0]
    %c = Conv(%x, %w) kernel_shape=[1,1] strides=[1,1] pads=[0,0,0,0] dilations=[1,1] : f32[1,1,4,4]
    %r = Relu(%c) : f32[1,1,4,4]
    %r16 = Cast(%r) to=10 : f16[1,1,4,4]
    %r32 = Cast(%r16) to=1 : f32[1,1,4,4]
    %lo = Const f32[] [0.1]
    %k = Clip(%r32) min=0.1 : f32[1,1,4,4]
    %k16 = Cast(%k) to=10 : f16[1,1,4,4]
    %k32 = Cast(%k16) to=1 : f32[1,1,4,4]
    %s = Sigmoid(%k32) : f32[1,1,4,4]
    %s16 = Cast(%s) to=10 : f16[1,1,4,4]
    output 0: y = %s16
    ");
}

#[test]
fn fold_leaves_nodes_with_a_runtime_input() {
    insta::assert_snapshot!(run("fold", "
        input 0: %x : f32[2]
        %a = Const f32[2] [1.0, 2.0]
        %sum = Add(%x, %a)
        output 0: sum = %sum
    "), @"
    changed: false
    input 0: %x : f32[2]
    %a = Const f32[2] [1.0, 2.0]
    %sum = Add(%x, %a) : f32[2]
    output 0: sum = %sum
    ");
}

#[test]
fn identity_removes_views_that_change_nothing() {
    insta::assert_snapshot!(run("identity", "
        input 0: %x : f32[1,2]
        %i = Identity(%x)
        %d = Dropout(%i)
        %s = Const i64[2] [1, 2]
        %r = Reshape(%d, %s)
        %y = Relu(%r)
        output 0: y = %y
    "), @"
    changed: true
    input 0: %x : f32[1,2]
    %s = Const i64[2] [1, 2]
    %y = Relu(%x) : f32[1,2]
    output 0: y = %y
    ");
}

#[test]
fn batchnorm_folds_into_the_conv_before_it() {
    insta::assert_snapshot!(run("batchnorm", "
        input 0: %x : f32[1,1,3,3]
        %w = Const f32[2,1,1,1] [1.0, 2.0]
        %conv = Conv(%x, %w)
        %gamma = Const f32[2] [1.0, 0.5]
        %beta = Const f32[2] [0.0, 1.0]
        %mean = Const f32[2] [0.0, 0.0]
        %var = Const f32[2] [1.0, 1.0]
        %bn = BatchNormalization(%conv, %gamma, %beta, %mean, %var)
        %y = Relu(%bn)
        output 0: y = %y
    "), @"
    changed: true
    input 0: %x : f32[1,1,3,3]
    %w = Const f32[2,1,1,1] [1.0, 2.0]
    %gamma = Const f32[2] [1.0, 0.5]
    %beta = Const f32[2] [0.0, 1.0]
    %mean = Const f32[2] [0.0, 0.0]
    %var = Const f32[2] [1.0, 1.0]
    %conv.weight_bn = Const f32[2,1,1,1] [0.999995, 0.999995]
    %conv.bias_bn = Const f32[2] [0.0, 1.0]
    %conv = Conv(%x, %conv.weight_bn, %conv.bias_bn) kernel_shape=[1,1] strides=[1,1] pads=[0,0,0,0] dilations=[1,1] : f32[1,2,3,3]
    %y = Relu(%conv) : f32[1,2,3,3]
    output 0: y = %y
    ");
}

#[test]
fn batchnorm_folds_into_the_conv_transpose_before_it() {
    // A DBNet head's upsampling: ConvTranspose (two groups of 2 → 3 channels, 2 × 2 at
    // stride 2, a bias) → BatchNormalization. The BN goes into the ConvTranspose's
    // weights and bias; the graph computes what it did (both evaluated by folding), and
    // a ConvTranspose read elsewhere too keeps the BN (lowered to Mul and Add).
    use zant_compiler::ir::{Data, Tensor};
    use zant_compiler::passes::{batchnorm, fold::evaluate};
    let fixture = |extra: &str| {
        let w: Vec<String> = (0..4 * 3 * 4)
            .map(|i| format!("{:.2}", (i % 7) as f32 * 0.25 - 0.6))
            .collect();
        format!(
            "
        input 0: %x : f32[1,4,3,3]
        %w = Const f32[4,3,2,2] [{}]
        %b = Const f32[6] [0.1, -0.2, 0.3, 0.0, 0.5, -0.4]
        %t = ConvTranspose(%x, %w, %b) kernel_shape=[2,2] strides=[2,2] group=2
        %gamma = Const f32[6] [1.0, 0.5, 2.0, -1.0, 0.25, 1.5]
        %beta = Const f32[6] [0.0, 1.0, -0.5, 0.25, 0.0, 2.0]
        %mean = Const f32[6] [0.1, 0.0, -0.3, 0.2, 0.0, 1.0]
        %var = Const f32[6] [1.0, 4.0, 0.5, 2.0, 1.0, 0.25]
        %bn = BatchNormalization(%t, %gamma, %beta, %mean, %var)
        output 0: y = %bn
        {extra}
    ",
            w.join(", ")
        )
    };
    let x = Tensor::new(
        vec![1, 4, 3, 3],
        Data::F32((0..36).map(|i| (i % 5) as f32 * 0.5 - 1.0).collect()),
    );
    for (extra, folded) in [("", true), ("output 1: t = %t", false)] {
        let mut graph = text::parse(&fixture(extra)).unwrap();
        let before = evaluate(&graph, std::slice::from_ref(&x)).unwrap().unwrap();
        batchnorm::run(&mut graph).unwrap();
        verify(&graph).unwrap();
        let printed = text::print(&graph);
        assert_eq!(printed.contains("Mul("), !folded, "{printed}");
        assert!(!printed.contains("BatchNormalization("), "{printed}");
        let after = evaluate(&graph, std::slice::from_ref(&x)).unwrap().unwrap();
        let (want, got) = (before[0].as_f32().unwrap(), after[0].as_f32().unwrap());
        assert_eq!(want.len(), 6 * 6 * 6);
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() <= 1e-5 * (1.0 + w.abs()), "{g} against {w}");
        }
    }
}

#[test]
fn batchnorm_without_a_conv_is_lowered_to_mul_and_add() {
    insta::assert_snapshot!(run("batchnorm", "
        input 0: %x : f32[1,2,2,2]
        %gamma = Const f32[2] [1.0, 0.5]
        %beta = Const f32[2] [0.0, 1.0]
        %mean = Const f32[2] [0.0, 0.0]
        %var = Const f32[2] [1.0, 1.0]
        %y = BatchNormalization(%x, %gamma, %beta, %mean, %var)
        output 0: y = %y
    "), @"
    changed: true
    input 0: %x : f32[1,2,2,2]
    %gamma = Const f32[2] [1.0, 0.5]
    %beta = Const f32[2] [0.0, 1.0]
    %mean = Const f32[2] [0.0, 0.0]
    %var = Const f32[2] [1.0, 1.0]
    %y.scale = Const f32[2,1,1] [0.999995, 0.4999975]
    %y.scaled = Mul(%x, %y.scale) : f32[1,2,2,2]
    %y.shift = Const f32[2,1,1] [0.0, 1.0]
    %y = Add(%y.scaled, %y.shift) : f32[1,2,2,2]
    output 0: y = %y
    ");
}

#[test]
fn fuse_takes_relu_and_clip_into_conv() {
    insta::assert_snapshot!(run("fuse", "
        input 0: %x : f32[1,1,2,2]
        %w = Const f32[2,1,1,1] [1.0, -1.0]
        %c1 = Conv(%x, %w)
        %r = Relu(%c1)
        %w2 = Const f32[2,2,1,1] [1.0, 0.0, 0.0, 1.0]
        %c2 = Conv(%r, %w2)
        %lo = Const f32[] [0.0]
        %hi = Const f32[] [6.0]
        %y = Clip(%c2, %lo, %hi)
        output 0: y = %y
    "), @r#"
    changed: true
    input 0: %x : f32[1,1,2,2]
    %w = Const f32[2,1,1,1] [1.0, -1.0]
    %c1 = Conv(%x, %w) kernel_shape=[1,1] strides=[1,1] pads=[0,0,0,0] dilations=[1,1] activation="Relu" : f32[1,2,2,2]
    %w2 = Const f32[2,2,1,1] [1.0, 0.0, 0.0, 1.0]
    %c2 = Conv(%c1, %w2) kernel_shape=[1,1] strides=[1,1] pads=[0,0,0,0] dilations=[1,1] activation="Clip" activation_min=0.0 activation_max=6.0 : f32[1,2,2,2]
    %lo = Const f32[] [0.0]
    %hi = Const f32[] [6.0]
    output 0: y = %c2
    "#);
}

#[test]
fn fuse_takes_a_per_channel_add_as_the_conv_bias() {
    // The ONNX model zoo's MNIST writes Conv without bias, then Add of a [C,1,1] constant.
    insta::assert_snapshot!(run("fuse", "
        input 0: %x : f32[1,1,2,2]
        %w = Const f32[2,1,1,1] [1.0, -1.0]
        %conv = Conv(%x, %w)
        %b = Const f32[2,1,1] [0.5, 0.25]
        %add = Add(%conv, %b)
        %y = Relu(%add)
        output 0: y = %y
    "), @r#"
    changed: true
    input 0: %x : f32[1,1,2,2]
    %w = Const f32[2,1,1,1] [1.0, -1.0]
    %b = Const f32[2,1,1] [0.5, 0.25]
    %conv.bias_fused = Const f32[2] [0.5, 0.25]
    %conv = Conv(%x, %w, %conv.bias_fused) kernel_shape=[1,1] strides=[1,1] pads=[0,0,0,0] dilations=[1,1] activation="Relu" : f32[1,2,2,2]
    output 0: y = %conv
    "#);
}

#[test]
fn fuse_leaves_an_add_along_the_width() {
    // [2] right-aligns with the width axis, not the channels: it must stay an Add.
    insta::assert_snapshot!(run("fuse", "
        input 0: %x : f32[1,1,2,2]
        %w = Const f32[2,1,1,1] [1.0, -1.0]
        %conv = Conv(%x, %w)
        %b = Const f32[2] [0.5, 0.25]
        %y = Add(%conv, %b)
        output 0: y = %y
    "), @"
    changed: false
    input 0: %x : f32[1,1,2,2]
    %w = Const f32[2,1,1,1] [1.0, -1.0]
    %conv = Conv(%x, %w) kernel_shape=[1,1] strides=[1,1] pads=[0,0,0,0] dilations=[1,1] : f32[1,2,2,2]
    %b = Const f32[2] [0.5, 0.25]
    %y = Add(%conv, %b) : f32[1,2,2,2]
    output 0: y = %y
    ");
}

#[test]
fn fuse_takes_bias_and_relu_into_matmul() {
    insta::assert_snapshot!(run("fuse", "
        input 0: %x : f32[1,2]
        %w = Const f32[2,3] splat(1.0)
        %mm = MatMul(%x, %w)
        %b = Const f32[3] splat(0.5)
        %add = Add(%mm, %b)
        %y = Relu(%add)
        output 0: y = %y
    "), @r#"
    changed: true
    input 0: %x : f32[1,2]
    %w = Const f32[2,3] [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    %b = Const f32[3] [0.5, 0.5, 0.5]
    %mm = MatMul(%x, %w, %b) activation="Relu" : f32[1,3]
    output 0: y = %mm
    "#);
}

#[test]
fn dead_removes_what_nothing_reads() {
    insta::assert_snapshot!(run("dead", "
        input 0: %x : f32[1,2]
        %unused = Relu(%x)
        %c = Const f32[2] [1.0, 2.0]
        %y = Sigmoid(%x)
        output 0: y = %y
    "), @"
    changed: true
    input 0: %x : f32[1,2]
    %y = Sigmoid(%x) : f32[1,2]
    output 0: y = %y
    ");
}

#[test]
fn the_passes_together_leave_one_fused_conv() {
    insta::assert_snapshot!(optimize("
        input 0: %x : f32[1,1,3,3]
        %w = Const f32[2,1,1,1] [1.0, 2.0]
        %conv = Conv(%x, %w)
        %gamma = Const f32[2] [1.0, 0.5]
        %beta = Const f32[2] [0.0, 1.0]
        %mean = Const f32[2] [0.0, 0.0]
        %var = Const f32[2] [1.0, 1.0]
        %bn = BatchNormalization(%conv, %gamma, %beta, %mean, %var)
        %i = Identity(%bn)
        %y = Relu(%i)
        output 0: y = %y
    "), @r#"
    input 0: %x : f32[1,1,3,3]
    %conv.bias_bn = Const f32[2] [0.0, 1.0]
    %conv.weight_bn_blocked = Const f32[1,2,1,1] [0.999995, 0.999995]
    %conv = Conv(%x, %conv.weight_bn_blocked, %conv.bias_bn) kernel_shape=[1,1] strides=[1,1] pads=[0,0,0,0] dilations=[1,1] activation="Relu" weights_blocked=1 : f32[1,2,3,3]
    output 0: y = %conv
    "#);
}

#[test]
fn layout_blocks_pointwise_conv_weights_only() {
    // The 1×1 Conv's weights become [c_in, c_out, 1, 1] (w[o][i] at [i][o]: three
    // outputs are one block); the 3×3 Conv keeps its layout. The printed IR reads back
    // (`weights_blocked=1`).
    let text = run("layout", "
        input 0: %x : f32[1,2,3,3]
        %w = Const f32[3,2,1,1] [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
        %c = Conv(%x, %w)
        %k = Const f32[1,3,3,3] [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
        %y = Conv(%c, %k) pads=[1,1,1,1]
        output 0: y = %y
    ");
    let printed = text
        .strip_prefix("changed: true\n")
        .expect("the pass changes the graph");
    let again = text::parse(printed).unwrap_or_else(|e| panic!("{printed}\ndoes not parse: {e}"));
    verify(&again).unwrap();
    assert_eq!(text::print(&again), printed);
    insta::assert_snapshot!(text, @"
    changed: true
    input 0: %x : f32[1,2,3,3]
    %w = Const f32[3,2,1,1] [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    %k = Const f32[1,3,3,3] splat(1.0)
    %w_blocked = Const f32[2,3,1,1] [1.0, 3.0, 5.0, 2.0, 4.0, 6.0]
    %c = Conv(%x, %w_blocked) kernel_shape=[1,1] strides=[1,1] pads=[0,0,0,0] dilations=[1,1] weights_blocked=1 : f32[1,3,3,3]
    %y = Conv(%c, %k) kernel_shape=[3,3] strides=[1,1] pads=[1,1,1,1] dilations=[1,1] : f32[1,1,3,3]
    output 0: y = %y
    ");
}

/// The constant the `layout` pass wrote for `%w` (`%w_blocked`).
fn blocked_constant(graph: &zant_compiler::ir::Graph) -> zant_compiler::tensor::Tensor {
    graph
        .node_ids()
        .into_iter()
        .find(|&id| graph.node(id).name == "w_blocked")
        .and_then(|id| match &graph.node(id).op {
            zant_compiler::ops::Op::Const(t) => Some(t.clone()),
            _ => None,
        })
        .expect("a w_blocked constant")
}

#[test]
fn layout_cuts_wide_pointwise_weights_into_row_blocks() {
    // 64 outputs are two blocks of 32 (`conv::pointwise_block`), each stored input
    // channel by input channel: w[o][i] lands at block(o)'s start + i · 32 + o mod 32.
    let (c_out, c_in) = (64, 3);
    let values: Vec<String> = (0..c_out * c_in).map(|v| format!("{v}.0")).collect();
    let fixture = format!(
        "
        input 0: %x : f32[1,{c_in},2,2]
        %w = Const f32[{c_out},{c_in},1,1] [{}]
        %y = Conv(%x, %w)
        output 0: y = %y
        ",
        values.join(", ")
    );
    // The printer abbreviates constants of more than eight values: run the pass here
    // and read the new one.
    let mut graph = text::parse(&fixture).unwrap();
    let (_, layout) = PASSES.iter().find(|(name, _)| *name == "layout").unwrap();
    assert!(layout(&mut graph).unwrap());
    verify(&graph).unwrap();
    let blocked = blocked_constant(&graph);
    assert_eq!(blocked.shape, [c_in, c_out, 1, 1]);
    let mut expected = Vec::new();
    for block in [0..32, 32..64] {
        for i in 0..c_in {
            expected.extend(block.clone().map(|o| (o * c_in + i) as i64));
        }
    }
    assert_eq!(blocked.data.to_i64_vec(), expected);
    assert!(text::print(&graph).contains("weights_blocked=1"));
}

#[test]
fn layout_blocks_kxk_conv_weights_where_gemm_blocks_pay() {
    // A 3×3 Conv of 2 → 64 channels (`conv::gemm_blocks_pay`) gets its weights in two
    // blocks of 32 outputs, each stored depth by depth (depth `(i, kh, kw)`):
    // w[o][d] lands at block(o)'s start + d · 32 + o mod 32, in a constant shaped
    // [c_in, c_out, 3, 3]; the printed IR reads back. The same layer with 16 outputs
    // keeps its rows.
    let (c_in, depth) = (2, 18);
    let fixture = |c_out: usize| {
        let values: Vec<String> = (0..c_out * depth).map(|v| format!("{v}.0")).collect();
        format!(
            "
            input 0: %x : f32[1,{c_in},8,8]
            %w = Const f32[{c_out},{c_in},3,3] [{}]
            %y = Conv(%x, %w) pads=[1,1,1,1]
            output 0: y = %y
            ",
            values.join(", ")
        )
    };
    let (_, layout) = PASSES.iter().find(|(name, _)| *name == "layout").unwrap();
    let mut narrow = text::parse(&fixture(16)).unwrap();
    assert!(!layout(&mut narrow).unwrap(), "16 outputs keep their rows");
    let c_out = 64;
    let mut graph = text::parse(&fixture(c_out)).unwrap();
    assert!(layout(&mut graph).unwrap());
    verify(&graph).unwrap();
    let blocked = blocked_constant(&graph);
    assert_eq!(blocked.shape, [c_in, c_out, 3, 3]);
    let mut expected = Vec::new();
    for block in [0..32, 32..64] {
        for d in 0..depth {
            expected.extend(block.clone().map(|o| (o * depth + d) as i64));
        }
    }
    assert_eq!(blocked.data.to_i64_vec(), expected);
    assert!(text::print(&graph).contains("weights_blocked=1"));
    // The printed attribute reads back on a k×k Conv where blocks pay, and is refused,
    // naming it, where they do not (16 outputs).
    let blocked_conv = |c_out: usize| {
        format!(
            "
            input 0: %x : f32[1,{c_in},8,8]
            %w = Const f32[{c_in},{c_out},3,3] splat(0.5)
            %y = Conv(%x, %w) kernel_shape=[3,3] strides=[1,1] pads=[1,1,1,1] dilations=[1,1] weights_blocked=1
            output 0: y = %y
            "
        )
    };
    let again = text::parse(&blocked_conv(64)).unwrap();
    verify(&again).unwrap();
    assert!(text::print(&again).contains("weights_blocked=1 : f32[1,64,8,8]"));
    let refused = text::parse(&blocked_conv(16)).map(|_| ()).unwrap_err();
    assert!(refused.to_string().contains("weights_blocked"), "{refused}");
}

#[test]
fn fuse_folds_a_positive_scale_into_the_softmax_it_feeds() {
    // Attention's scores times 1/√d, then Softmax: one Softmax of the scaled scores,
    // printed `scale=…`, which reads back. A negative or non-finite scale, a Mul read
    // elsewhere too, or a LogSoftmax keeps the Mul.
    let fixture = |scale: &str, op: &str, extra: &str| {
        format!(
            "
            input 0: %x : f32[2,4,8]
            %c = Const f32[] [{scale}]
            %m = Mul(%x, %c)
            %y = {op}(%m) axis=2
            {extra}
            output 0: y = %y
            "
        )
    };
    let fused = run("fuse", &fixture("0.125", "Softmax", ""));
    assert!(fused.starts_with("changed: true"), "{fused}");
    assert!(!fused.contains("Mul("), "{fused}");
    assert!(
        fused.contains("Softmax(%x) axis=2 scale=0.125 : f32[2,4,8]"),
        "{fused}"
    );
    let body = fused.split_once('\n').map_or("", |(_, rest)| rest);
    let reread = text::parse(body).unwrap();
    assert!(text::print(&reread).contains("scale=0.125"));
    for (scale, op, extra) in [
        ("-0.125", "Softmax", ""),
        ("inf", "Softmax", ""),
        ("0.125", "LogSoftmax", ""),
        ("0.125", "Softmax", "output 1: m = %m"),
    ] {
        let kept = run("fuse", &fixture(scale, op, extra));
        assert!(kept.contains("Mul("), "{scale} {op} {extra}: {kept}");
    }
}

#[test]
fn fuse_folds_a_zero_pad_into_the_conv_it_feeds() {
    // A TCN's causal left pad of a 1-D convolution joins the Conv's pads; the output's
    // size, and so the trailing pad, stays. A Pad of another value or mode, one that pads
    // the batch, or one read elsewhere too stays a node.
    let fixture = |pad_attrs: &str, extra: &str| {
        format!(
            "
            input 0: %x : f32[1,4,10]
            %w = Const f32[2,4,3] splat(0.5)
            %p = Pad(%x) {pad_attrs}
            %y = Conv(%p, %w) kernel_shape=[3] dilations=[2]
            {extra}
            output 0: y = %y
            "
        )
    };
    let fused = run("fuse", &fixture("pads=[0,0,4,0,0,0]", ""));
    assert!(fused.starts_with("changed: true"), "{fused}");
    assert!(!fused.contains("Pad("), "{fused}");
    assert!(
        fused.contains(
            "Conv(%x, %w) kernel_shape=[3] strides=[1] pads=[4,0] dilations=[2] : f32[1,2,10]"
        ),
        "{fused}"
    );
    for (attrs, extra) in [
        ("pads=[0,0,4,0,0,0] constant_value=1.0", ""),
        ("pads=[1,0,4,0,0,0]", ""),
        ("pads=[0,0,4,0,0,0] mode=\"edge\"", ""),
        (
            "pads=[0,0,4,0,0,0]",
            "%z = Relu(%p)\n            output 1: z = %z",
        ),
    ] {
        let kept = run("fuse", &fixture(attrs, extra));
        assert!(kept.contains("Pad(%x)"), "{attrs} {extra}: {kept}");
    }
}

#[test]
fn layout_blocks_small_planes_where_only_vector_kernels_run() {
    // A 3×3 Conv of 32 → 64 channels on a 7 × 7 plane: too narrow for the windowed kernel
    // the targets without SIMD run (`conv::gemm_blocks_pay`), so a crate that may be
    // built for them keeps its rows, while one for vector targets alone gets the blocks
    // its narrow tiles read in place (`conv::gemm_blocks_pay_for`); a crate for scalar
    // targets alone never blocks a k×k layer. The printed IR reads back either way.
    use zant_compiler::passes::layout::run_for;
    use zant_runtime::target::Kernels;
    let fixture = "
        input 0: %x : f32[1,32,7,7]
        %w = Const f32[64,32,3,3] splat(0.25)
        %y = Conv(%x, %w) pads=[1,1,1,1]
        output 0: y = %y
    ";
    for (kernels, blocks) in [
        (KernelSet::ANY, false),
        (KernelSet::only(Kernels::Scalar), false),
        (KernelSet::only(Kernels::Vector), true),
    ] {
        let mut graph = text::parse(fixture).unwrap();
        assert_eq!(
            run_for(&mut graph, kernels, false).unwrap(),
            blocks,
            "{kernels:?}"
        );
        verify(&graph).unwrap();
        let printed = text::print(&graph);
        assert_eq!(printed.contains("weights_blocked=1"), blocks, "{printed}");
        text::parse(&printed).unwrap();
    }
}

#[test]
fn layout_panels_a_constant_matmul_b_where_only_vector_kernels_run() {
    // A MatMul of rows of 4 by a constant [4, 32]: a crate for vector targets alone gets
    // `B` in the two column panels of `rt::gemm::panels`, printed `b_panels=32`; crates
    // that may run the scalar kernels keep ONNX's `B`, and so does a single row (a
    // matrix-vector product) everywhere. The printed IR reads back.
    use zant_compiler::passes::layout::run_for;
    use zant_runtime::target::Kernels;
    let fixture = |batch: usize, rows: usize| {
        format!(
            "
        input 0: %x : f32[{batch},{rows},4]
        %w = Const f32[4,32] splat(0.5)
        %y = MatMul(%x, %w)
        output 0: y = %y
    "
        )
    };
    for ((batch, rows), kernels, panels) in [
        ((1, 3), KernelSet::ANY, false),
        ((1, 3), KernelSet::only(Kernels::Scalar), false),
        ((1, 3), KernelSet::only(Kernels::Vector), true),
        ((2, 1), KernelSet::only(Kernels::Vector), true),
        ((1, 1), KernelSet::only(Kernels::Vector), false),
    ] {
        let mut graph = text::parse(&fixture(batch, rows)).unwrap();
        assert_eq!(
            run_for(&mut graph, kernels, false).unwrap(),
            panels,
            "{kernels:?}"
        );
        verify(&graph).unwrap();
        let printed = text::print(&graph);
        assert_eq!(printed.contains("b_panels=32"), panels, "{printed}");
        assert_eq!(printed.contains("f32[2,4,16]"), panels, "{printed}");
        text::parse(&printed).unwrap();
    }
}

#[test]
fn qdq_turns_conv_bias_and_relu_into_qlinear_conv() {
    // The Relu goes: its output is quantized with zero point -128, which clamps at 0 anyway.
    // The weight stays i8 and the bias i32; the DequantizeLinear nodes are gone.
    insta::assert_snapshot!(run("qdq", "
        input 0: %x : i8[1,1,3,3]
        %xs = Const f32[] [0.5]
        %xz = Const i8[] [-1]
        %xd = DequantizeLinear(%x, %xs, %xz)
        %w = Const i8[2,1,1,1] [1, -2]
        %ws = Const f32[2] [0.25, 0.125]
        %wz = Const i8[2] [0, 0]
        %wd = DequantizeLinear(%w, %ws, %wz) axis=0
        %b = Const i32[2] [10, -20]
        %bs = Const f32[2] [0.125, 0.0625]
        %bd = DequantizeLinear(%b, %bs) axis=0
        %c = Conv(%xd, %wd, %bd)
        %r = Relu(%c)
        %ys = Const f32[] [0.0625]
        %yz = Const i8[] [-128]
        %y = QuantizeLinear(%r, %ys, %yz)
        output 0: y = %y
    "), @"
    changed: true
    input 0: %x : i8[1,1,3,3]
    %xs = Const f32[] [0.5]
    %xz = Const i8[] [-1]
    %w = Const i8[2,1,1,1] [1, -2]
    %ws = Const f32[2] [0.25, 0.125]
    %wz = Const i8[2] [0, 0]
    %b = Const i32[2] [10, -20]
    %bs = Const f32[2] [0.125, 0.0625]
    %y = QLinearConv(%x, _, _, %w) kernel_shape=[1,1] strides=[1,1] pads=[0,0,0,0] dilations=[1,1] x_scale=f32[][0.5] x_zero_point=i8[][-1] w_scale=f32[2][0.25,0.125] w_zero_point=i8[2][0,0] y_scale=f32[][0.0625] y_zero_point=i8[][-128] B=i32[2][10,-20] : i8[1,2,3,3]
    %ys = Const f32[] [0.0625]
    %yz = Const i8[] [-128]
    output 0: y = %y
    ");
}

#[test]
fn qdq_keeps_a_relu_the_quantization_does_not_imply_in_float() {
    // Zero point 0 leaves room below 0, so dropping the Relu would change the result.
    insta::assert_snapshot!(run("qdq", "
        input 0: %x : u8[1,2]
        %s = Const f32[] [0.5]
        %z = Const u8[] [128]
        %xd = DequantizeLinear(%x, %s, %z)
        %w = Const u8[2,2] [1, 2, 3, 4]
        %ws = Const f32[] [0.25]
        %wd = DequantizeLinear(%w, %ws)
        %mm = MatMul(%xd, %wd)
        %r = Relu(%mm)
        %y = QuantizeLinear(%r, %s, %z)
        output 0: y = %y
    "), @"
    changed: false
    input 0: %x : u8[1,2]
    %s = Const f32[] [0.5]
    %z = Const u8[] [128]
    %xd = DequantizeLinear(%x, %s, %z) : f32[1,2]
    %w = Const u8[2,2] [1, 2, 3, 4]
    %ws = Const f32[] [0.25]
    %wd = DequantizeLinear(%w, %ws) : f32[2,2]
    %mm = MatMul(%xd, %wd) : f32[1,2]
    %r = Relu(%mm) : f32[1,2]
    %y = QuantizeLinear(%r, %s, %z) : u8[1,2]
    output 0: y = %y
    ");
}

#[test]
fn qdq_turns_matmul_and_bias_into_qgemm_and_keeps_softmax_in_float() {
    // The Reshape has the same quantization on both sides and moves the i8 data; the
    // int8 Softmax stays between its DequantizeLinear and QuantizeLinear, a float island,
    // as in ONNX Runtime's optimized session (which fuses uint8 Softmax only).
    insta::assert_snapshot!(run("qdq", "
        input 0: %x : i8[1,1,2,2]
        %s = Const f32[] [0.5]
        %z = Const i8[] [3]
        %xd = DequantizeLinear(%x, %s, %z)
        %flat = Flatten(%xd)
        %xq = QuantizeLinear(%flat, %s, %z)
        %fd = DequantizeLinear(%xq, %s, %z)
        %w = Const i8[4,2] [1, 2, 3, 4, 5, 6, 7, 8]
        %ws = Const f32[2] [0.25, 0.5]
        %wz = Const i8[2] [0, 0]
        %wd = DequantizeLinear(%w, %ws, %wz) axis=1
        %mm = MatMul(%fd, %wd)
        %b = Const i32[2] [7, -7]
        %bs = Const f32[2] [0.125, 0.25]
        %bd = DequantizeLinear(%b, %bs) axis=0
        %add = Add(%mm, %bd)
        %ls = Const f32[] [0.125]
        %lz = Const i8[] [0]
        %logits = QuantizeLinear(%add, %ls, %lz)
        %ld = DequantizeLinear(%logits, %ls, %lz)
        %p = Softmax(%ld)
        %ps = Const f32[] [0.00390625]
        %pz = Const i8[] [-128]
        %y = QuantizeLinear(%p, %ps, %pz)
        output 0: y = %y
    "), @"
    changed: true
    input 0: %x : i8[1,1,2,2]
    %s = Const f32[] [0.5]
    %z = Const i8[] [3]
    %xq = Flatten(%x) axis=1 : i8[1,4]
    %w = Const i8[4,2] [1, 2, 3, 4, 5, 6, 7, 8]
    %ws = Const f32[2] [0.25, 0.5]
    %wz = Const i8[2] [0, 0]
    %logits = com.microsoft.QGemm(%xq, _, _, %w) a_scale=f32[][0.5] a_zero_point=i8[][3] b_scale=f32[2][0.25,0.5] b_zero_point=i8[2][0,0] C=i32[2][7,-7] y_scale=f32[][0.125] y_zero_point=i8[][0] : i8[1,2]
    %b = Const i32[2] [7, -7]
    %bs = Const f32[2] [0.125, 0.25]
    %ls = Const f32[] [0.125]
    %lz = Const i8[] [0]
    %ld = DequantizeLinear(%logits, %ls, %lz) : f32[1,2]
    %p = Softmax(%ld) axis=1 : f32[1,2]
    %ps = Const f32[] [0.00390625]
    %pz = Const i8[] [-128]
    %y = QuantizeLinear(%p, %ps, %pz) : i8[1,2]
    output 0: y = %y
    ");
}

#[test]
fn qdq_turns_add_into_qlinear_add() {
    insta::assert_snapshot!(run("qdq", "
        input 0: %a : i8[1,4]
        input 1: %b : i8[1,4]
        %as = Const f32[] [0.5]
        %az = Const i8[] [1]
        %ad = DequantizeLinear(%a, %as, %az)
        %bs = Const f32[] [0.25]
        %bz = Const i8[] [-2]
        %bd = DequantizeLinear(%b, %bs, %bz)
        %sum = Add(%ad, %bd)
        %lo = Const f32[] [0.0]
        %hi = Const f32[] [6.0]
        %clip = Clip(%sum, %lo, %hi)
        %ys = Const f32[] [0.0235294]
        %yz = Const i8[] [-128]
        %y = QuantizeLinear(%clip, %ys, %yz)
        output 0: y = %y
    "), @"
    changed: true
    input 0: %a : i8[1,4]
    input 1: %b : i8[1,4]
    %as = Const f32[] [0.5]
    %az = Const i8[] [1]
    %bs = Const f32[] [0.25]
    %bz = Const i8[] [-2]
    %y = com.microsoft.QLinearAdd(%a, _, _, %b) A_scale=f32[][0.5] A_zero_point=i8[][1] B_scale=f32[][0.25] B_zero_point=i8[][-2] C_scale=f32[][0.0235294] C_zero_point=i8[][-128] : i8[1,4]
    %lo = Const f32[] [0.0]
    %hi = Const f32[] [6.0]
    %ys = Const f32[] [0.0235294]
    %yz = Const i8[] [-128]
    output 0: y = %y
    ");
}

#[test]
fn qdq_runs_max_pooling_on_8_bit_data_with_one_quantization() {
    // The same scale and zero point on both sides: the pool moves int8 values. Another
    // output scale would need a requantization, so that group stays in float.
    insta::assert_snapshot!(run("qdq", "
        input 0: %x : i8[1,1,4,4]
        %s = Const f32[] [0.5]
        %z = Const i8[] [-3]
        %xd = DequantizeLinear(%x, %s, %z)
        %p = MaxPool(%xd) kernel_shape=[2,2] strides=[2,2]
        %y = QuantizeLinear(%p, %s, %z)
        %other = Const f32[] [0.25]
        %p2 = MaxPool(%xd) kernel_shape=[2,2] strides=[2,2]
        %y2 = QuantizeLinear(%p2, %other, %z)
        output 0: y = %y
        output 1: y2 = %y2
    "), @"
    changed: true
    input 0: %x : i8[1,1,4,4]
    %s = Const f32[] [0.5]
    %z = Const i8[] [-3]
    %xd = DequantizeLinear(%x, %s, %z) : f32[1,1,4,4]
    %y = MaxPool(%x) kernel_shape=[2,2] strides=[2,2] pads=[0,0,0,0] : i8[1,1,2,2]
    %other = Const f32[] [0.25]
    %p2 = MaxPool(%xd) kernel_shape=[2,2] strides=[2,2] pads=[0,0,0,0] : f32[1,1,2,2]
    %y2 = QuantizeLinear(%p2, %other, %z) : i8[1,1,2,2]
    output 0: y = %y
    output 1: y2 = %y2
    ");
}

#[test]
fn qdq_turns_a_whole_input_average_pool_into_qlinear_global_average_pool() {
    // TensorFlow exports a global average as an AveragePool whose window is the input.
    insta::assert_snapshot!(run("qdq", "
        input 0: %x : u8[1,2,2,3]
        %xs = Const f32[] [0.5]
        %xz = Const u8[] [128]
        %xd = DequantizeLinear(%x, %xs, %xz)
        %p = AveragePool(%xd) kernel_shape=[2,3] strides=[2,3]
        %ys = Const f32[] [0.25]
        %yz = Const u8[] [0]
        %y = QuantizeLinear(%p, %ys, %yz)
        output 0: y = %y
    "), @"
    changed: true
    input 0: %x : u8[1,2,2,3]
    %xs = Const f32[] [0.5]
    %xz = Const u8[] [128]
    %y = com.microsoft.QLinearGlobalAveragePool(%x) x_scale=f32[][0.5] x_zero_point=u8[][128] y_scale=f32[][0.25] y_zero_point=u8[][0] : u8[1,2,1,1]
    %ys = Const f32[] [0.25]
    %yz = Const u8[] [0]
    output 0: y = %y
    ");
}

/// Runs every pass in order with `--weights ternary` and the given `--keep-float`, and
/// checks that the IR text of the result reads back to the same graph.
fn optimize_ternary(before: &str, keep_float: &str) -> String {
    let mut graph = text::parse(before).unwrap_or_else(|e| panic!("fixture: {e}"));
    let keep = keep_float.parse().unwrap();
    zant_compiler::passes::optimize(&mut graph, Some(keep), None).unwrap();
    verify(&graph).unwrap();
    let printed = text::print(&graph);
    let again = text::parse(&printed).unwrap_or_else(|e| panic!("{printed}\ndoes not parse: {e}"));
    assert_eq!(text::print(&again), printed);
    printed
}

#[test]
fn ternary_keeps_what_fusion_took_into_matmul_and_gemm() {
    // Column 0 of %w1 is (2, −0.5): scale 1.25, trits (1, 0); the Gemm's alpha joins its
    // scales and beta · C becomes its bias.
    insta::assert_snapshot!(optimize_ternary("
        input 0: %x : f32[1,2]
        %w1 = Const f32[2,3] [2.0, 1.0, -1.0, -0.5, 1.0, 3.0]
        %mm = MatMul(%x, %w1)
        %b1 = Const f32[3] [0.5, -0.5, 0.0]
        %add = Add(%mm, %b1)
        %h = Relu(%add)
        %w2 = Const f32[2,3] [1.0, -1.0, 0.0, 0.0, 0.0, 0.0]
        %c = Const f32[2] [1.0, 2.0]
        %y = Gemm(%h, %w2, %c) transB=1 alpha=0.5 beta=2.0
        output 0: y = %y
    ", "none"), @r#"
    input 0: %x : f32[1,2]
    %b1 = Const f32[3] [0.5, -0.5, 0.0]
    %mm.ternary_weights = Const u8[3,1] [122, 125, 124]
    %mm.ternary_scale = Const f32[3] [1.25, 1.0, 2.0]
    %mm = ai.zant.TernaryMatMul(%x, %mm.ternary_weights, %mm.ternary_scale, %b1) activation="Relu" : f32[1,3]
    %y.ternary_weights = Const u8[2,1] [119, 121]
    %y.ternary_scale = Const f32[2] [0.33333334, 0.0]
    %y.ternary_bias = Const f32[2] [2.0, 4.0]
    %y = ai.zant.TernaryMatMul(%mm, %y.ternary_weights, %y.ternary_scale, %y.ternary_bias) : f32[1,2]
    output 0: y = %y
    "#);
}

#[test]
fn ternary_leaves_the_layers_keep_float_names_in_float() {
    let model = "
        input 0: %x : f32[1,2]
        %w1 = Const f32[2,2] [2.0, 1.0, -1.0, -0.5]
        %a = MatMul(%x, %w1)
        %w2 = Const f32[2,2] [1.0, 0.0, 0.0, 1.0]
        %b = MatMul(%a, %w2)
        %w3 = Const f32[2,2] [0.5, 0.5, 0.5, 0.5]
        %y = MatMul(%b, %w3)
        output 0: y = %y
    ";
    insta::assert_snapshot!(optimize_ternary(model, "first,last"), @"
    input 0: %x : f32[1,2]
    %w1 = Const f32[2,2] [2.0, 1.0, -1.0, -0.5]
    %a = MatMul(%x, %w1) : f32[1,2]
    %w3 = Const f32[2,2] [0.5, 0.5, 0.5, 0.5]
    %b.ternary_weights = Const u8[2,1] [122, 124]
    %b.ternary_scale = Const f32[2] [0.5, 0.5]
    %b = ai.zant.TernaryMatMul(%a, %b.ternary_weights, %b.ternary_scale) : f32[1,2]
    %y = MatMul(%b, %w3) : f32[1,2]
    output 0: y = %y
    ");
    insta::assert_snapshot!(optimize_ternary(model, "last"), @"
    input 0: %x : f32[1,2]
    %w3 = Const f32[2,2] [0.5, 0.5, 0.5, 0.5]
    %a.ternary_weights = Const u8[2,1] [119, 119]
    %a.ternary_scale = Const f32[2] [1.5, 0.75]
    %a = ai.zant.TernaryMatMul(%x, %a.ternary_weights, %a.ternary_scale) : f32[1,2]
    %b.ternary_weights = Const u8[2,1] [122, 124]
    %b.ternary_scale = Const f32[2] [0.5, 0.5]
    %b = ai.zant.TernaryMatMul(%a, %b.ternary_weights, %b.ternary_scale) : f32[1,2]
    %y = MatMul(%b, %w3) : f32[1,2]
    output 0: y = %y
    ");
}

#[test]
fn ternary_takes_grouped_convolutions_with_their_activation() {
    insta::assert_snapshot!(optimize_ternary("
        input 0: %x : f32[1,2,3,3]
        %w = Const f32[2,1,2,2] [1.0, -1.0, 0.25, 0.0, 0.0, 0.0, 0.0, 0.0]
        %bias = Const f32[2] [0.5, -0.5]
        %conv = Conv(%x, %w, %bias) group=2 pads=[1,1,0,0]
        %y = Clip(%conv) min=0.0 max=6.0
        output 0: y = %y
    ", "none"), @r#"
    input 0: %x : f32[1,2,3,3]
    %bias = Const f32[2] [0.5, -0.5]
    %conv.ternary_weights = Const u8[2,1] [119, 121]
    %conv.ternary_scale = Const f32[2] [0.5625, 0.0]
    %conv = ai.zant.TernaryConv(%x, %conv.ternary_weights, %conv.ternary_scale, %bias) kernel_shape=[2,2] strides=[1,1] pads=[1,1,0,0] dilations=[1,1] group=2 activation="Clip" activation_min=0.0 activation_max=6.0 : f32[1,2,3,3]
    output 0: y = %conv
    "#);
}

#[test]
fn evaluate_runs_a_graph_on_its_inputs_through_folding() {
    use zant_compiler::ir::{Data, Tensor};
    use zant_compiler::passes::fold::evaluate;
    // The ternary layer of `ternary_keeps_what_fusion_took_into_matmul_and_gemm`: columns
    // (1, 0), (1, 1) and (0, 1) of scales 1.25, 1 and 2, the bias (0.5, −0.5, 0) and Relu.
    let mut graph = text::parse(
        "
        input 0: %x : f32[1,2]
        %w1 = Const f32[2,3] [2.0, 1.0, -1.0, -0.5, 1.0, 3.0]
        %mm = MatMul(%x, %w1)
        %b1 = Const f32[3] [0.5, -0.5, 0.0]
        %add = Add(%mm, %b1)
        %h = Relu(%add)
        output 0: h = %h
    ",
    )
    .unwrap();
    let x = Tensor::new(vec![1, 2], Data::F32(vec![2.0, -4.0]));
    let float = evaluate(&graph, std::slice::from_ref(&x)).unwrap().unwrap();
    assert_eq!(float[0].as_f32().unwrap(), [6.5, 0.0, 0.0]);
    zant_compiler::passes::optimize(&mut graph, Some(Default::default()), None).unwrap();
    let ternary = evaluate(&graph, &[x]).unwrap().unwrap();
    // 1.25·2 + 0.5, 1·(2 − 4) − 0.5 clamped, 2·(−4) clamped.
    assert_eq!(ternary[0].as_f32().unwrap(), [3.0, 0.0, 0.0]);
}

/// Runs the QDQ pass on `fixture` (one 8-bit input of 256 elements) and checks that it
/// wrote `expect_op` and that the graph still computes, for every 8-bit input value, what
/// the float island computed before (both evaluated by the compiler's constant folding).
fn qdq_keeps_every_value(
    fixture: &str,
    input: zant_compiler::ir::Tensor,
    expect_op: &str,
) -> String {
    let before = text::parse(fixture).unwrap_or_else(|e| panic!("fixture: {e}"));
    let want = zant_compiler::passes::fold::evaluate(&before, std::slice::from_ref(&input))
        .unwrap()
        .unwrap();
    let mut after = before.clone();
    let (_, run) = PASSES.iter().find(|(name, _)| *name == "qdq").unwrap();
    assert!(run(&mut after).unwrap(), "the pass changed nothing");
    verify(&after).unwrap();
    let printed = text::print(&after);
    assert!(printed.contains(expect_op), "no {expect_op} in\n{printed}");
    let got = zant_compiler::passes::fold::evaluate(&after, &[input])
        .unwrap()
        .unwrap();
    assert_eq!(got, want, "{printed}");
    printed
}

#[test]
fn qdq_turns_an_element_wise_island_into_a_lookup_table() {
    use zant_compiler::ir::{Data, Tensor};
    // A Sigmoid between a DQ and a Q of other scales: every u8 input through the table
    // equals the float chain, and no float op is left.
    let printed = qdq_keeps_every_value(
        "
        input 0: %x : u8[256]
        %s = Const f32[] [0.0625]
        %z = Const u8[] [128]
        %xd = DequantizeLinear(%x, %s, %z)
        %sg = Sigmoid(%xd)
        %ys = Const f32[] [0.00390625]
        %yz = Const u8[] [0]
        %y = QuantizeLinear(%sg, %ys, %yz)
        output 0: y = %y
        ",
        Tensor::new(vec![256], Data::U8((0..=255).collect())),
        "QLookup(%x, %y.table)",
    );
    assert!(!printed.contains("Sigmoid") && !printed.contains("DequantizeLinear"));
    // ReLU6 that requantizes an i8 tensor (QOperator models write it between two
    // QLinearConvs), then a second op reading the result.
    qdq_keeps_every_value(
        "
        input 0: %x : i8[256]
        %s = Const f32[] [0.15]
        %z = Const i8[] [-22]
        %xd = DequantizeLinear(%x, %s, %z)
        %c = Clip(%xd) min=0.0 max=6.0
        %ys = Const f32[] [0.023529412]
        %yz = Const i8[] [-128]
        %q = QuantizeLinear(%c, %ys, %yz)
        %y = Neg(%q)
        output 0: y = %y
        ",
        Tensor::new(vec![256], Data::I8((-128..=127).collect())),
        "QLookup(%x, %q.table)",
    );
}

#[test]
fn qdq_drops_a_dequantize_quantize_pair_that_changes_nothing() {
    use zant_compiler::ir::{Data, Tensor};
    // Same scale and zero point on both sides, and a Clip the saturation implies: the
    // second op reads `x` itself.
    let printed = qdq_keeps_every_value(
        "
        input 0: %x : u8[256]
        %s = Const f32[] [0.0235294]
        %z = Const u8[] [0]
        %xd = DequantizeLinear(%x, %s, %z)
        %c = Clip(%xd) min=0.0 max=6.0
        %q = QuantizeLinear(%c, %s, %z)
        %y = Identity(%q)
        output 0: y = %y
        ",
        Tensor::new(vec![256], Data::U8((0..=255).collect())),
        "Identity(%x)",
    );
    assert!(
        !printed.contains("QuantizeLinear") && !printed.contains("QLookup"),
        "{printed}"
    );
}

#[test]
fn layout_transposes_the_weights_of_a_one_row_qgemm() {
    // The pass only reorders the weights and sets `transB`; that the kernel computes the
    // same products from either layout is `zant-runtime`'s
    // `matmul_subtracts_zero_points_in_both_layouts`, and mlperf-ad-int8 end to end in
    // `shared_models` (QGemm does not fold, so `fold::evaluate` cannot compare here).
    use zant_compiler::ir::DType;
    let fixture = |rows: usize| {
        format!(
            "
        input 0: %x : u8[{rows},5]
        %w = Const i8[5,3] [1, -2, 3, -4, 5, -6, 7, -8, 9, -10, 11, -12, 13, -14, 127]
        %y = com.microsoft.QGemm(%x, _, _, %w) a_scale=f32[][0.5] a_zero_point=u8[][3] b_scale=f32[3][0.25,0.5,0.125] b_zero_point=i8[3][1,0,-2] C=i32[3][7,-7,100] y_scale=f32[][0.75] y_zero_point=u8[][130]
        output 0: y = %y
        "
        )
    };
    insta::assert_snapshot!(run("layout", &fixture(1)), @r"
    changed: true
    input 0: %x : u8[1,5]
    %w = Const i8[5,3]
    %w_transposed = Const i8[3,5]
    %y = com.microsoft.QGemm(%x, _, _, %w_transposed) transB=1 a_scale=f32[][0.5] a_zero_point=u8[][3] b_scale=f32[3][0.25,0.5,0.125] b_zero_point=i8[3][1,0,-2] C=i32[3][7,-7,100] y_scale=f32[][0.75] y_zero_point=u8[][130] : u8[1,3]
    output 0: y = %y
    ");
    // The printer abbreviates constants of more than eight values: read the new one.
    let mut graph = text::parse(&fixture(1)).unwrap();
    let (_, layout) = PASSES.iter().find(|(name, _)| *name == "layout").unwrap();
    assert!(layout(&mut graph).unwrap());
    let transposed = graph
        .node_ids()
        .into_iter()
        .find(|&id| graph.node(id).name == "w_transposed")
        .and_then(|id| match &graph.node(id).op {
            zant_compiler::ops::Op::Const(t) => Some(t.clone()),
            _ => None,
        })
        .expect("a w_transposed constant");
    assert_eq!(transposed.shape, [3, 5]);
    assert_eq!(
        transposed.data.to_i64_vec(),
        [1, -4, 7, -10, 13, -2, 5, -8, 11, -14, 3, -6, 9, -12, 127]
    );
    assert_eq!(transposed.dtype(), DType::I8);
    // Two rows keep `[k, n]`: its column tiles reuse each weight across the rows.
    assert!(run("layout", &fixture(2)).starts_with("changed: false"));
}

#[test]
fn layout_puts_the_recurrent_weights_in_panels() {
    // An LSTM of hidden size 2: each of its four gates becomes one zero-padded panel of
    // 16 columns, 2 deep in `R` and 1 in `W`. That the kernel computes the same layer from either layout is
    // `zant-runtime`'s `paneled_r_matches_the_naive_layer_and_the_gemm_path`.
    let fixture = |batch: usize| {
        format!(
            "
        input 0: %x : f32[3,{batch},1]
        %w = Const f32[1,8,1] [1, 2, 3, 4, 5, 6, 7, 8]
        %r = Const f32[1,8,2] [10, 11, 20, 21, 30, 31, 40, 41, 50, 51, 60, 61, 70, 71, 80, 81]
        %y, %y_h = LSTM(%x, %w, %r) hidden_size=2
        output 0: y_h = %y_h
        "
        )
    };
    insta::assert_snapshot!(run("layout", &fixture(1)), @r"
    changed: true
    input 0: %x : f32[3,1,1]
    %w = Const f32[1,8,1] [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    %r = Const f32[1,8,2]
    %w_panels = Const f32[1,64,1]
    %r_panels = Const f32[1,64,2]
    %y, %y_h = LSTM(%x, %w_panels, %r_panels) hidden_size=2 r_panels=1 w_panels=1 : f32[3,1,1,2], f32[1,1,2]
    output 0: y_h = %y_h
    ");
    let mut graph = text::parse(&fixture(1)).unwrap();
    let (_, layout) = PASSES.iter().find(|(name, _)| *name == "layout").unwrap();
    assert!(layout(&mut graph).unwrap());
    let constant = |graph: &zant_compiler::ir::Graph, name: &str| {
        graph
            .node_ids()
            .into_iter()
            .find(|&id| graph.node(id).name == name)
            .and_then(|id| match &graph.node(id).op {
                zant_compiler::ops::Op::Const(t) => Some(t.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("a constant {name}"))
    };
    let panels = constant(&graph, "r_panels");
    assert_eq!(panels.shape, [1, 64, 2]);
    let values = panels.as_f32().unwrap();
    // Gate 1 (rows 2 and 3 of `R`) at depth 1 is the fourth run of 16 values: R[2][1]
    // and R[3][1], then 14 zeros.
    assert_eq!(values[3 * 16..][..2], [31.0, 41.0]);
    assert_eq!(values[3 * 16 + 2..][..14], [0.0; 14]);
    // A second run changes nothing, and the IR text reads back.
    assert!(!layout(&mut graph).unwrap());
    let again = text::parse(
        "
        input 0: %x : f32[3,1,1]
        %w = Const f32[1,8,1] splat(0.5)
        %r = Const f32[1,64,2] splat(0.25)
        %y, %y_h = LSTM(%x, %w, %r) hidden_size=2 r_panels=1
        output 0: y_h = %y_h
        ",
    )
    .unwrap();
    assert!(text::print(&again).contains("r_panels=1 : f32[3,1,1,2], f32[1,1,2]"));
    // `W` (the input projection of all steps) in panels, two gates a panel deep: W[2]
    // and W[3] at the head of the second panel.
    let w = constant(&graph, "w_panels");
    assert_eq!(w.shape, [1, 64, 1]);
    assert_eq!(w.as_f32().unwrap()[16..][..3], [3.0, 4.0, 0.0]);
    // A batch of two keeps ONNX's `R`, which its steps' GEMMs read, and panels `W`.
    let two = run("layout", &fixture(2));
    assert!(
        two.contains("%w_panels") && !two.contains("r_panels"),
        "{two}"
    );
}

#[test]
fn fuse_takes_the_relu_after_a_residual_add() {
    // A ResNet block's end: Conv, the Add of the block's input, Relu. The Add takes the
    // Relu (one pass instead of two); an Add that broadcasts keeps its Relu apart.
    insta::assert_snapshot!(run("fuse", "
        input 0: %x : f32[1,2,2,2]
        %w = Const f32[2,2,1,1] [1.0, 0.0, 0.0, 1.0]
        %c = Conv(%x, %w)
        %sum = Add(%c, %x)
        %r = Relu(%sum)
        %b = Const f32[2] [0.5, 0.25]
        %wide = Add(%r, %b)
        %y = Relu(%wide)
        output 0: y = %y
    "), @r#"
    changed: true
    input 0: %x : f32[1,2,2,2]
    %w = Const f32[2,2,1,1] [1.0, 0.0, 0.0, 1.0]
    %c = Conv(%x, %w) kernel_shape=[1,1] strides=[1,1] pads=[0,0,0,0] dilations=[1,1] : f32[1,2,2,2]
    %sum = Add(%c, %x) activation="Relu" : f32[1,2,2,2]
    %b = Const f32[2] [0.5, 0.25]
    %wide = Add(%sum, %b) : f32[1,2,2,2]
    %y = Relu(%wide) : f32[1,2,2,2]
    output 0: y = %y
    "#);
}

#[test]
fn fuse_takes_silu_as_exported_into_the_conv() {
    // PyTorch's SiLU before opset 24: Mul(x, Sigmoid(x)), in either order. It becomes the
    // Conv's Swish; a Sigmoid with a second reader stays, and so does its Mul.
    insta::assert_snapshot!(run("fuse", "
        input 0: %x : f32[1,1,2,2]
        %w = Const f32[2,1,1,1] [1.0, -1.0]
        %c1 = Conv(%x, %w)
        %s1 = Sigmoid(%c1)
        %m1 = Mul(%s1, %c1)
        %w2 = Const f32[2,2,1,1] [1.0, 0.0, 0.0, 1.0]
        %c2 = Conv(%m1, %w2)
        %s2 = Sigmoid(%c2)
        %m2 = Mul(%c2, %s2)
        %y = Add(%m2, %s2)
        output 0: y = %y
    "), @r#"
    changed: true
    input 0: %x : f32[1,1,2,2]
    %w = Const f32[2,1,1,1] [1.0, -1.0]
    %c1 = Conv(%x, %w) kernel_shape=[1,1] strides=[1,1] pads=[0,0,0,0] dilations=[1,1] activation="Swish" activation_alpha=1.0 : f32[1,2,2,2]
    %w2 = Const f32[2,2,1,1] [1.0, 0.0, 0.0, 1.0]
    %c2 = Conv(%c1, %w2) kernel_shape=[1,1] strides=[1,1] pads=[0,0,0,0] dilations=[1,1] : f32[1,2,2,2]
    %s2 = Sigmoid(%c2) : f32[1,2,2,2]
    %m2 = Mul(%c2, %s2) : f32[1,2,2,2]
    %y = Add(%m2, %s2) : f32[1,2,2,2]
    output 0: y = %y
    "#);
}

#[test]
fn fuse_takes_exact_gelu_as_exported() {
    // PyTorch's exact GELU: Div(x, √2), Erf, Add 1, Mul by x, Mul by 0.5, with the half
    // last (%g1) or on x first (%g2, scaled by Mul(x, 1/√2)). Both become one Gelu; a
    // chain whose Erf has a second reader (%e3) stays.
    insta::assert_snapshot!(run("fuse", "
        input 0: %x : f32[2,3]
        %r2 = Const f32[] [1.4142135]
        %one = Const f32[] [1.0]
        %half = Const f32[] [0.5]
        %d1 = Div(%x, %r2)
        %e1 = Erf(%d1)
        %a1 = Add(%e1, %one)
        %m1 = Mul(%x, %a1)
        %g1 = Mul(%m1, %half)
        %inv = Const f32[] [0.70710677]
        %d2 = Mul(%g1, %inv)
        %e2 = Erf(%d2)
        %a2 = Add(%one, %e2)
        %h2 = Mul(%half, %g1)
        %g2 = Mul(%h2, %a2)
        %d3 = Div(%g2, %r2)
        %e3 = Erf(%d3)
        %a3 = Add(%e3, %one)
        %m3 = Mul(%g2, %a3)
        %g3 = Mul(%m3, %half)
        %y = Add(%g3, %e3)
        output 0: y = %y
    "), @r#"
    changed: true
    input 0: %x : f32[2,3]
    %r2 = Const f32[] [1.4142135]
    %one = Const f32[] [1.0]
    %half = Const f32[] [0.5]
    %g1 = Gelu(%x) : f32[2,3]
    %inv = Const f32[] [0.70710677]
    %g2 = Gelu(%g1) : f32[2,3]
    %d3 = Div(%g2, %r2) : f32[2,3]
    %e3 = Erf(%d3) : f32[2,3]
    %a3 = Add(%e3, %one) : f32[2,3]
    %m3 = Mul(%g2, %a3) : f32[2,3]
    %g3 = Mul(%m3, %half) : f32[2,3]
    %y = Add(%g3, %e3) : f32[2,3]
    output 0: y = %y
    "#);
}

#[test]
fn fuse_folds_a_batch_norm_exported_as_mul_and_add_into_the_conv() {
    // Conv → Mul([C,1,1]) → Add([C,1,1]) → Relu: one Conv, its weights and bias scaled.
    insta::assert_snapshot!(run("fuse", "
        input 0: %x : f32[1,1,2,2]
        %w = Const f32[2,1,1,1] [1.0, -1.0]
        %b = Const f32[2] [1.0, 2.0]
        %conv = Conv(%x, %w, %b)
        %s = Const f32[2,1,1] [2.0, 0.5]
        %mul = Mul(%conv, %s)
        %t = Const f32[2,1,1] [0.5, 0.25]
        %add = Add(%mul, %t)
        %y = Relu(%add)
        output 0: y = %y
    "), @r#"
    changed: true
    input 0: %x : f32[1,1,2,2]
    %w = Const f32[2,1,1,1] [1.0, -1.0]
    %b = Const f32[2] [1.0, 2.0]
    %s = Const f32[2,1,1] [2.0, 0.5]
    %t = Const f32[2,1,1] [0.5, 0.25]
    %conv.weight_scaled = Const f32[2,1,1,1] [2.0, -0.5]
    %conv.bias_scaled = Const f32[2] [2.0, 1.0]
    %conv.bias_fused = Const f32[2] [2.5, 1.25]
    %conv = Conv(%x, %conv.weight_scaled, %conv.bias_fused) kernel_shape=[1,1] strides=[1,1] pads=[0,0,0,0] dilations=[1,1] activation="Relu" : f32[1,2,2,2]
    output 0: y = %conv
    "#);
}

#[test]
fn fuse_folds_a_scalar_scale_after_the_bias_into_the_conv() {
    // Conv → Add([C,1,1]) → Mul(scalar): the bias first, then the scale over both.
    insta::assert_snapshot!(run("fuse", "
        input 0: %x : f32[1,1,2,2]
        %w = Const f32[2,1,1,1] [1.0, -1.0]
        %conv = Conv(%x, %w)
        %t = Const f32[2,1,1] [0.5, 0.25]
        %add = Add(%conv, %t)
        %s = Const f32[] [4.0]
        %y = Mul(%s, %add)
        output 0: y = %y
    "), @r#"
    changed: true
    input 0: %x : f32[1,1,2,2]
    %w = Const f32[2,1,1,1] [1.0, -1.0]
    %t = Const f32[2,1,1] [0.5, 0.25]
    %s = Const f32[] [4.0]
    %conv.bias_fused = Const f32[2] [0.5, 0.25]
    %conv.weight_scaled = Const f32[2,1,1,1] [4.0, -4.0]
    %conv.bias_scaled = Const f32[2] [2.0, 1.0]
    %conv = Conv(%x, %conv.weight_scaled, %conv.bias_scaled) kernel_shape=[1,1] strides=[1,1] pads=[0,0,0,0] dilations=[1,1] : f32[1,2,2,2]
    output 0: y = %conv
    "#);
}

#[test]
fn fuse_folds_a_per_column_scale_into_the_matmul() {
    insta::assert_snapshot!(run("fuse", "
        input 0: %x : f32[1,2]
        %w = Const f32[2,3] [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
        %mm = MatMul(%x, %w)
        %s = Const f32[1,3] [1.0, 0.5, -2.0]
        %y = Mul(%mm, %s)
        output 0: y = %y
    "), @r#"
    changed: true
    input 0: %x : f32[1,2]
    %w = Const f32[2,3] [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    %s = Const f32[1,3] [1.0, 0.5, -2.0]
    %mm.weight_scaled = Const f32[2,3] [1.0, 1.0, -6.0, 4.0, 2.5, -12.0]
    %mm = MatMul(%x, %mm.weight_scaled) : f32[1,3]
    output 0: y = %mm
    "#);
}

#[test]
fn fuse_leaves_a_scale_along_the_width_a_dynamic_one_and_an_infinite_one() {
    // [2] right-aligns with the width, not the channels; `x` is no constant; an infinite
    // scale would turn a zero product into NaN.
    insta::assert_snapshot!(run("fuse", "
        input 0: %x : f32[1,1,2,2]
        %w = Const f32[2,1,1,1] [1.0, -1.0]
        %c1 = Conv(%x, %w)
        %s = Const f32[2] [0.5, 0.25]
        %y1 = Mul(%c1, %s)
        %c2 = Conv(%x, %w)
        %y2 = Mul(%c2, %x)
        %c3 = Conv(%x, %w)
        %inf = Const f32[] [inf]
        %y3 = Mul(%c3, %inf)
        output 0: y1 = %y1
        output 1: y2 = %y2
        output 2: y3 = %y3
    "), @r#"
    changed: false
    input 0: %x : f32[1,1,2,2]
    %w = Const f32[2,1,1,1] [1.0, -1.0]
    %c1 = Conv(%x, %w) kernel_shape=[1,1] strides=[1,1] pads=[0,0,0,0] dilations=[1,1] : f32[1,2,2,2]
    %s = Const f32[2] [0.5, 0.25]
    %y1 = Mul(%c1, %s) : f32[1,2,2,2]
    %c2 = Conv(%x, %w) kernel_shape=[1,1] strides=[1,1] pads=[0,0,0,0] dilations=[1,1] : f32[1,2,2,2]
    %y2 = Mul(%c2, %x) : f32[1,2,2,2]
    %c3 = Conv(%x, %w) kernel_shape=[1,1] strides=[1,1] pads=[0,0,0,0] dilations=[1,1] : f32[1,2,2,2]
    %inf = Const f32[] [inf]
    %y3 = Mul(%c3, %inf) : f32[1,2,2,2]
    output 0: y1 = %y1
    output 1: y2 = %y2
    output 2: y3 = %y3
    "#);
}

/// Runs the QDQ pass on `fixture` and checks that it wrote each of `expect`, left no
/// DequantizeLinear, QuantizeLinear or float op among `gone`, and that every output
/// element is within `steps` quantization steps of what the float islands computed
/// before (both evaluated by the compiler's constant folding).
fn qdq_within_steps(
    fixture: &str,
    inputs: &[zant_compiler::ir::Tensor],
    expect: &[&str],
    gone: &[&str],
    steps: i64,
) -> String {
    use zant_compiler::passes::fold::evaluate;
    let before = text::parse(fixture).unwrap_or_else(|e| panic!("fixture: {e}"));
    let want = evaluate(&before, inputs).unwrap().unwrap();
    let mut after = before.clone();
    let (_, run) = PASSES.iter().find(|(name, _)| *name == "qdq").unwrap();
    assert!(run(&mut after).unwrap(), "the pass changed nothing");
    verify(&after).unwrap();
    let printed = text::print(&after);
    for op in expect {
        assert!(printed.contains(op), "no {op} in\n{printed}");
    }
    for op in gone.iter().chain(&["DequantizeLinear", "QuantizeLinear"]) {
        assert!(!printed.contains(op), "{op} is left in\n{printed}");
    }
    let got = evaluate(&after, inputs).unwrap().unwrap();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.shape, w.shape, "{printed}");
        let (g, w) = (g.data.to_i64_vec(), w.data.to_i64_vec());
        let most = g
            .iter()
            .zip(&w)
            .map(|(a, b)| (a - b).abs())
            .max()
            .unwrap_or(0);
        assert!(
            most <= steps,
            "{most} steps apart (at most {steps})\n{printed}"
        );
    }
    printed
}

fn every_u8(shape: Vec<usize>) -> zant_compiler::ir::Tensor {
    use zant_compiler::ir::{Data, Tensor};
    let n = shape.iter().product::<usize>();
    Tensor::new(
        shape,
        Data::U8((0..n).map(|i| (i * 97 % 256) as u8).collect()),
    )
}

#[test]
fn qdq_turns_silu_into_one_lookup_table() {
    // SiLU as quantizers write it: the Sigmoid and the Mul both read DQ(x). The pair
    // becomes one table of x; the integer product may round differently from the float
    // one by a step.
    qdq_within_steps(
        "
        input 0: %x : u8[256]
        %s = Const f32[] [0.05]
        %z = Const u8[] [128]
        %xd = DequantizeLinear(%x, %s, %z)
        %sg = Sigmoid(%xd)
        %gs = Const f32[] [0.00390625]
        %gz = Const u8[] [0]
        %g = QuantizeLinear(%sg, %gs, %gz)
        %gd = DequantizeLinear(%g, %gs, %gz)
        %m = Mul(%xd, %gd)
        %ys = Const f32[] [0.03]
        %yz = Const u8[] [10]
        %y = QuantizeLinear(%m, %ys, %yz)
        output 0: y = %y
        ",
        &[every_u8(vec![256])],
        &["QLookup(%x, %m.table)"],
        &["Sigmoid", "Mul", "QLinearMul"],
        1,
    );
}

#[test]
fn qdq_runs_softmax_as_onnx_runtimes_integer_softmax() {
    // Attention weights as ONNX Runtime's quantizer writes them (output scale 1/256,
    // zero point 0): com.microsoft QLinearSoftmax, whose table and integer quotient
    // land within a step of the float softmax quantized.
    let printed = qdq_within_steps(
        "
        input 0: %x : u8[4,64]
        %s = Const f32[] [0.08]
        %z = Const u8[] [131]
        %xd = DequantizeLinear(%x, %s, %z)
        %p = Softmax(%xd) axis=-1
        %ys = Const f32[] [0.00390625]
        %yz = Const u8[] [0]
        %y = QuantizeLinear(%p, %ys, %yz)
        output 0: y = %y
        ",
        &[every_u8(vec![4, 64])],
        &["QLinearSoftmax(%x) axis=1 opset=13"],
        &["Softmax(%xd"],
        1,
    );
    assert!(!printed.contains(": f32[4,64]"), "{printed}");
}

#[test]
fn qdq_normalizes_layers_from_8_bit_data_to_8_bit_data() {
    // A transformer's LayerNormalization between a DQ and a Q: ONNX Runtime runs it in
    // float, and so does QLayerNormalization, row by row from the 8-bit data: the same
    // values to the bit, no f32 tensor left.
    let printed = qdq_within_steps(
        "
        input 0: %x : u8[3,8]
        %s = Const f32[] [0.07]
        %z = Const u8[] [119]
        %xd = DequantizeLinear(%x, %s, %z)
        %g = Const f32[8] [1.1, 0.9, 1.0, 1.2, 0.8, 1.05, 0.95, 1.0]
        %b = Const f32[8] [-0.2, 0.1, 0.0, 0.3, -0.1, 0.05, 0.2, -0.3]
        %n = LayerNormalization(%xd, %g, %b) axis=-1 epsilon=0.00001
        %ys = Const f32[] [0.02]
        %yz = Const i8[] [3]
        %y = QuantizeLinear(%n, %ys, %yz)
        output 0: y = %y
        ",
        &[every_u8(vec![3, 8])],
        &["QLayerNormalization(%x, _, _, %g, %b) axis=1"],
        &["= LayerNormalization("],
        0,
    );
    assert!(printed.contains(": i8[3,8]"), "{printed}");
}

#[test]
fn qdq_slices_8_bit_data_with_one_quantization() {
    qdq_within_steps(
        "
        input 0: %x : u8[2,16]
        %s = Const f32[] [0.05]
        %z = Const u8[] [128]
        %xd = DequantizeLinear(%x, %s, %z)
        %st = Const i64[1] [3]
        %en = Const i64[1] [11]
        %ax = Const i64[1] [1]
        %sl = Slice(%xd, %st, %en, %ax)
        %y = QuantizeLinear(%sl, %s, %z)
        output 0: y = %y
        ",
        &[every_u8(vec![2, 16])],
        &["Slice(%x) starts=[0,3]"],
        &[],
        0,
    );
}

#[test]
fn qdq_turns_gelu_into_one_lookup_table() {
    // GELU in its exact form as ONNX Runtime's quantizer leaves it: `x / √2` and the
    // erf in float up to a Q, then `+ 1`, `· x` and `· 0.5` between Q/DQ pairs. All of
    // it is a function of x: one table.
    let printed = qdq_within_steps(
        "
        input 0: %x : u8[2,128]
        %s = Const f32[] [0.04]
        %z = Const u8[] [120]
        %xd = DequantizeLinear(%x, %s, %z)
        %r2 = Const f32[] [1.4142135]
        %dv = Div(%xd, %r2)
        %ef = Erf(%dv)
        %es = Const f32[] [0.0078125]
        %ez = Const u8[] [128]
        %e = QuantizeLinear(%ef, %es, %ez)
        %ed = DequantizeLinear(%e, %es, %ez)
        %oq = Const u8[] [255]
        %os = Const f32[] [0.003921569]
        %oz = Const u8[] [0]
        %od = DequantizeLinear(%oq, %os, %oz)
        %ad = Add(%ed, %od)
        %as = Const f32[] [0.0078431]
        %az = Const u8[] [0]
        %a = QuantizeLinear(%ad, %as, %az)
        %adq = DequantizeLinear(%a, %as, %az)
        %m = Mul(%xd, %adq)
        %ms = Const f32[] [0.08]
        %mz = Const u8[] [40]
        %mq = QuantizeLinear(%m, %ms, %mz)
        %mdq = DequantizeLinear(%mq, %ms, %mz)
        %hq = Const u8[] [255]
        %hs = Const f32[] [0.0019607844]
        %hd = DequantizeLinear(%hq, %hs, %oz)
        %h = Mul(%mdq, %hd)
        %ys = Const f32[] [0.04]
        %yz = Const u8[] [40]
        %y = QuantizeLinear(%h, %ys, %yz)
        output 0: y = %y
        ",
        &[every_u8(vec![2, 128])],
        &["QLookup(%x, "],
        &["Erf", "Div", "QLinearAdd", "QLinearMul"],
        1,
    );
    assert_eq!(printed.matches("QLookup(").count(), 1, "{printed}");
}

#[test]
fn qdq_multiplies_8_bit_tensors_with_broadcasting() {
    // A squeeze-and-excitation scale: [1,4,8,8] times [1,4,1,1].
    qdq_within_steps(
        "
        input 0: %x : u8[1,4,8,8]
        input 1: %e : u8[1,4,1,1]
        %s = Const f32[] [0.05]
        %z = Const u8[] [3]
        %xd = DequantizeLinear(%x, %s, %z)
        %es = Const f32[] [0.004]
        %ez = Const u8[] [0]
        %ed = DequantizeLinear(%e, %es, %ez)
        %m = Mul(%xd, %ed)
        %ys = Const f32[] [0.02]
        %yz = Const u8[] [5]
        %y = QuantizeLinear(%m, %ys, %yz)
        output 0: y = %y
        ",
        &[every_u8(vec![1, 4, 8, 8]), every_u8(vec![1, 4, 1, 1])],
        &["QLinearMul(%x"],
        &["= Mul("],
        1,
    );
}

#[test]
fn qdq_concatenates_8_bit_tensors_requantizing_by_tables() {
    // The first input has the output's quantization and is copied; the second has its
    // own, and goes through a table of Q(DQ(v)): the same values as the float island.
    qdq_within_steps(
        "
        input 0: %a : u8[1,256]
        input 1: %b : u8[1,256]
        %s = Const f32[] [0.05]
        %z = Const u8[] [128]
        %ad = DequantizeLinear(%a, %s, %z)
        %bs = Const f32[] [0.11]
        %bz = Const u8[] [7]
        %bd = DequantizeLinear(%b, %bs, %bz)
        %c = Concat(%ad, %bd) axis=0
        %y = QuantizeLinear(%c, %s, %z)
        output 0: y = %y
        ",
        &[every_u8(vec![1, 256]), every_u8(vec![1, 256])],
        &["Concat(%a, %c.requantize1)", "QLookup(%b"],
        &[],
        0,
    );
}

#[test]
fn qdq_splits_and_resizes_8_bit_data_with_one_quantization() {
    qdq_within_steps(
        "
        input 0: %x : u8[1,4,4,4]
        %s = Const f32[] [0.05]
        %z = Const u8[] [128]
        %xd = DequantizeLinear(%x, %s, %z)
        %p, %q = Split(%xd) axis=1 num_outputs=2
        %pq = QuantizeLinear(%p, %s, %z)
        %qq = QuantizeLinear(%q, %s, %z)
        %pd = DequantizeLinear(%pq, %s, %z)
        %roi = Const f32[0] []
        %scales = Const f32[4] [1.0, 1.0, 2.0, 2.0]
        %r = Resize(%pd, %roi, %scales) mode=\"nearest\" coordinate_transformation_mode=\"asymmetric\" nearest_mode=\"floor\"
        %rq = QuantizeLinear(%r, %s, %z)
        output 0: y = %rq
        output 1: w = %qq
        ",
        &[every_u8(vec![1, 4, 4, 4])],
        &["Split(%x)", "Resize(%pq)"],
        &[],
        0,
    );
}

#[test]
fn qdq_turns_gemm_and_attention_matmul_into_integer_products() {
    // A Gemm with transB and a per-row weight scale (a classifier), then a MatMul of two
    // activations (attention's scores). The integer products have no fold to compare
    // values with here; the zoo's quantized models check them against ONNX Runtime.
    insta::assert_snapshot!(run("qdq", "
        input 0: %a : u8[2,3]
        input 1: %k : u8[2,2]
        %as = Const f32[] [0.5]
        %az = Const u8[] [128]
        %ad = DequantizeLinear(%a, %as, %az)
        %w = Const i8[2,3] [1, -2, 3, -4, 5, -6]
        %ws = Const f32[2] [0.25, 0.125]
        %wz = Const i8[2] [0, 0]
        %wd = DequantizeLinear(%w, %ws, %wz) axis=0
        %b = Const i32[2] [10, -20]
        %bs = Const f32[2] [0.125, 0.0625]
        %bd = DequantizeLinear(%b, %bs) axis=0
        %g = Gemm(%ad, %wd, %bd) transB=1
        %gs = Const f32[] [0.25]
        %gz = Const u8[] [100]
        %gq = QuantizeLinear(%g, %gs, %gz)
        %gd = DequantizeLinear(%gq, %gs, %gz)
        %ks = Const f32[] [0.1]
        %kz = Const u8[] [120]
        %kd = DequantizeLinear(%k, %ks, %kz)
        %m = MatMul(%gd, %kd)
        %ms = Const f32[] [0.3]
        %mz = Const u8[] [90]
        %y = QuantizeLinear(%m, %ms, %mz)
        output 0: y = %y
    "), @"
    changed: true
    input 0: %a : u8[2,3]
    input 1: %k : u8[2,2]
    %as = Const f32[] [0.5]
    %az = Const u8[] [128]
    %w = Const i8[2,3] [1, -2, 3, -4, 5, -6]
    %ws = Const f32[2] [0.25, 0.125]
    %wz = Const i8[2] [0, 0]
    %b = Const i32[2] [10, -20]
    %bs = Const f32[2] [0.125, 0.0625]
    %gq = com.microsoft.QGemm(%a, _, _, %w) transB=1 a_scale=f32[][0.5] a_zero_point=u8[][128] b_scale=f32[2][0.25,0.125] b_zero_point=i8[2][0,0] C=i32[2][10,-20] y_scale=f32[][0.25] y_zero_point=u8[][100] : u8[2,2]
    %gs = Const f32[] [0.25]
    %gz = Const u8[] [100]
    %ks = Const f32[] [0.1]
    %kz = Const u8[] [120]
    %y = QLinearMatMul(%gq, _, _, %k) a_scale=f32[][0.25] a_zero_point=u8[][100] b_scale=f32[][0.1] b_zero_point=u8[][120] y_scale=f32[][0.3] y_zero_point=u8[][90] : u8[2,2]
    %ms = Const f32[] [0.3]
    %mz = Const u8[] [90]
    output 0: y = %y
    ");
}
