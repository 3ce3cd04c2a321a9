//! `zantc inspect`'s per-layer view and its picture of the memory plan: the table's format
//! pinned on a repository model, the MACs and the live peak checked on mobilenet_v2, the
//! JSON and SVG written by the command line, and the SVGs of three shared models rendered
//! to pixels with resvg.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use resvg::{tiny_skia, usvg};
use zant_compiler::pipeline::{compile_graph, Lowered};
use zant_compiler::report::layers::{layers, Place, Reuse};
use zant_compiler::report::plan_svg;
use zant_compiler::verify::model_file;
use zant_compiler::Options;

/// Lowers `model` (a file, or a folder holding model.onnx) with input shape pins.
fn lower(model: &Path, pins: &[&str]) -> Lowered {
    let opts = Options {
        input_shapes: pins.iter().map(|p| p.parse().unwrap()).collect(),
        ..Options::default()
    };
    compile_graph(&model_file(model), &opts).unwrap_or_else(|e| panic!("{}: {e}", model.display()))
}

fn lenet() -> PathBuf {
    common::repo_root().join("models/lenet-mnist.onnx")
}

#[test]
fn the_layer_table_of_lenet() {
    let table = layers(&lower(&lenet(), &[])).table();
    insta::assert_snapshot!(table, @"
    step  op       node                         output             MACs  weights    read  written  scratch  offset  bytes  storage    live
       0  Conv     conv1                        f32[1,6,28,28]   117600      624    3760    18816     3584       0  18816  arena     22400
          └ Relu   (fused into the node above)
       1  MaxPool  pool1                        f32[1,6,14,14]        0        0   18816     4704            26800   4704  arena     23520
       2  Conv     conv2                        f32[1,16,10,10]  240000     9664   14368     6400    20400   20400   6400  arena     31504  <- peak
          └ Relu   (fused into the node above)
       3  MaxPool  pool2                        f32[1,16,5,5]         0        0    6400     1600                0   1600  arena      8000
       4  Flatten  flatten                      f32[1,400]            0        0       0        0                0   1600  view       1600
       5  Gemm     fc1                          f32[1,120]        48000   192480  194080      480             1600    480  arena      2080
          └ Relu   (fused into the node above)
       6  Gemm     fc2                          f32[1,84]         10080    40656   41136      336                0    336  arena       816
          └ Relu   (fused into the node above)
       7  Gemm     fc3                          f32[1,10]           840     3400    3736       40              336     48  arena       384
       8  Softmax  softmax                      f32[1,10]             0        0      40       40                -      -  output 0     48

    == totals ==
    layers         9
    MACs           416520 (416.5 k)
    weight bytes   246824 read by the layers; weight blob 246848
    bytes read     282336
    bytes written  32416
    peak live      31504 at step 2; the plan's lower bound is 31504
    ARENA_BYTES    31504 (1.000× the lower bound)
    ");
}

#[test]
fn rows_follow_the_plan() {
    let c = lower(&lenet(), &[]);
    let l = layers(&c);
    assert_eq!(l.rows.len(), c.plan.schedule.len());
    assert!(l.rows.iter().enumerate().all(|(i, r)| r.step == i));
    // The peak of the live bytes is the plan's lower bound, at the marked step, and no
    // step holds more than the arena.
    let t = &l.totals;
    assert_eq!(t.peak_live_bytes, c.plan.lower_bound);
    assert!(l.rows.iter().all(|r| r.live_bytes <= c.plan.arena_bytes));
    assert_eq!(l.rows[t.peak_step.unwrap()].live_bytes, t.peak_live_bytes);
    // Every arena output lies inside the arena.
    for r in &l.rows {
        for o in &r.outputs {
            if let Place::Arena { offset, bytes } = o.place {
                assert!(offset + bytes <= c.plan.arena_bytes, "{}: {o:?}", r.name);
            }
        }
    }
    // The Flatten is a view: it moves nothing and shares the pooled tensor's buffer.
    let flatten = l.rows.iter().find(|r| r.op == "Flatten").unwrap();
    assert_eq!(flatten.outputs[0].reuse, Reuse::View);
    assert_eq!((flatten.read_bytes, flatten.written_bytes), (0, 0));
    let pool = &l.rows[flatten.step - 1];
    assert_eq!(pool.outputs[0].place, flatten.outputs[0].place);
    // The weights are the blob's, each read by one layer.
    assert_eq!(t.weight_bytes, 246_824);
    assert!(t.weight_blob_bytes >= t.weight_bytes);
    assert_eq!(
        t.macs,
        l.rows.iter().map(|r| r.macs).sum::<u64>(),
        "the total is the rows' sum"
    );
}

#[test]
fn mobilenet_v2_has_300_m_macs_and_peaks_at_the_lower_bound() {
    let Some(dir) = common::shared_models() else {
        return;
    };
    let c = lower(&dir.join("mobilenet_v2"), &[]);
    let l = layers(&c);
    let t = &l.totals;
    // MobileNetV2 1.0 at 224×224 is quoted at 300 M multiply-adds.
    let off = (t.macs as f64 - 300e6).abs() / 300e6;
    assert!(
        off < 0.01,
        "{} MACs, {:.2} % off 300 M",
        t.macs,
        off * 100.0
    );
    // One row per node of the optimized graph: the 52 convolutions with their ReLU6 fused,
    // the 10 residual Adds, pooling, Flatten and the classifier. With the 35 fused Clips
    // they are the 100 nodes of the model as imported.
    assert_eq!(l.rows.len(), c.plan.schedule.len());
    let fused = l.rows.iter().filter(|r| r.activation.is_some()).count();
    let model = zant_compiler::onnx::describe(&model_file(&dir.join("mobilenet_v2"))).unwrap();
    let imported_nodes = model
        .nodes
        .iter()
        .filter(|n| n.op_type != "Constant")
        .count();
    assert_eq!((l.rows.len(), fused, imported_nodes), (65, 35, 100));
    // The printed table gives every imported node a line: a step of its own, or a line
    // under the convolution its Clip was fused into.
    let table = l.table();
    let node_lines = table
        .lines()
        .skip(1)
        .take_while(|line| !line.is_empty())
        .filter(|line| {
            let first = line.split_whitespace().next().unwrap_or_default();
            first.parse::<usize>().is_ok() || first == "└"
        })
        .count();
    assert_eq!(node_lines, 100, "{table}");
    // The peak is the plan's lower bound, and ARENA_BYTES holds it.
    assert_eq!(t.peak_live_bytes, c.plan.lower_bound);
    assert!(t.peak_live_bytes <= t.arena_bytes);
    assert_eq!(t.arena_bytes, c.plan.arena_bytes);
    let peak_row = &l.rows[t.peak_step.unwrap()];
    assert_eq!(peak_row.live_bytes, t.peak_live_bytes);
    let table = l.table();
    let marked: Vec<&str> = table.lines().filter(|l| l.ends_with("<- peak")).collect();
    assert!(
        marked
            .iter()
            .any(|l| l.trim_start().starts_with(&format!("{} ", peak_row.step))),
        "{marked:?}"
    );
    assert!(
        table.contains(&format!("MACs           {}", t.macs)),
        "{table}"
    );
}

/// The `x`, `y`, `width` and `height` of an SVG `<rect …>` line.
fn rect_box(line: &str) -> [f64; 4] {
    ["x", "y", "width", "height"].map(|name| {
        let key = format!(" {name}=\"");
        let start = line
            .find(&key)
            .unwrap_or_else(|| panic!("no {name} in {line}"))
            + key.len();
        let end = start + line[start..].find('"').unwrap();
        line[start..end].parse().unwrap()
    })
}

/// Renders an SVG to pixels at its declared size, with the system's fonts; the generic
/// `sans-serif` the pictures ask for is DejaVu Sans, which Debian installs by default.
fn render(svg: &str) -> tiny_skia::Pixmap {
    let mut opt = usvg::Options::default();
    let fonts = opt.fontdb_mut();
    fonts.load_system_fonts();
    fonts.set_sans_serif_family("DejaVu Sans");
    let tree = usvg::Tree::from_str(svg, &opt).unwrap();
    let size = tree.size().to_int_size();
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height()).unwrap();
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap
}

/// The pixel at the centre of a box, as opaque RGB.
fn centre(pixmap: &tiny_skia::Pixmap, [x, y, w, h]: [f64; 4]) -> [u8; 3] {
    let p = pixmap
        .pixel((x + w / 2.0) as u32, (y + h / 2.0) as u32)
        .unwrap()
        .demultiply();
    [p.red(), p.green(), p.blue()]
}

#[test]
fn plan_pictures_of_shared_models_render() {
    let Some(dir) = common::shared_models() else {
        return;
    };
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    for (model, pins) in [
        ("mobilenet_v2", &[][..]),
        ("fomo-96", &[]),
        ("tiny-lm", &["input=1,25"]),
    ] {
        let c = lower(&dir.join(model), pins);
        let svg = plan_svg(&c, model);
        assert_eq!(svg, plan_svg(&c, model), "{model}: not deterministic");
        assert!(!svg.contains("<script"), "{model}");
        let pixmap = render(&svg);
        // Rendered where a reader looks at it, for a person to check by eye.
        pixmap
            .save_png(out.join(format!("plan-{model}.png")))
            .unwrap();
        assert_eq!((pixmap.width(), pixmap.height()), (1200, 830), "{model}");
        let white = [255, 255, 255];
        assert_eq!(centre(&pixmap, [0.0, 0.0, 4.0, 4.0]), white, "{model}");
        // One rectangle per buffer; the largest tensor is painted where the SVG says.
        let tensors: Vec<[f64; 4]> = svg
            .lines()
            .filter(|l| l.starts_with(r#"<rect class="tensor""#))
            .map(rect_box)
            .collect();
        let scratch = svg
            .lines()
            .filter(|l| l.starts_with(r#"<rect class="scratch""#))
            .count();
        assert_eq!(tensors.len() + scratch, c.plan.buffers.len(), "{model}");
        let largest = tensors
            .iter()
            .copied()
            .max_by(|a, b| (a[2] * a[3]).total_cmp(&(b[2] * b[3])))
            .unwrap();
        let painted = centre(&pixmap, largest);
        assert!(
            painted != white && painted != [0xf7, 0xf7, 0xf7],
            "{model}: the largest buffer {largest:?} shows the background {painted:?}"
        );
        // The live-bytes bar of the peak step is red.
        let peak = svg
            .lines()
            .find(|l| l.starts_with("<rect x=") && l.contains(r#"class="peak""#))
            .map(rect_box)
            .unwrap_or_else(|| panic!("{model}: no peak bar"));
        let [r, g, b] = centre(&pixmap, peak);
        assert!(
            r > 150 && g < 100 && b < 100,
            "{model}: peak bar {:?}",
            [r, g, b]
        );
    }
}

/// A plan with a stage run patch by patch draws the stage's buffer as one rectangle of
/// its own colour, labelled with its grid and its layers.
#[test]
fn a_patched_plan_draws_its_stage() {
    let Some(dir) = common::shared_models() else {
        return;
    };
    let opts = Options {
        ram_budget: Some(zant_compiler::plan::RamBudget(160 * 1024)),
        ..Options::default()
    };
    let c = compile_graph(&model_file(&dir.join("fomo-96")), &opts).unwrap();
    let [stage] = c.plan.stages.as_slice() else {
        panic!("{} stages", c.plan.stages.len());
    };
    let svg = plan_svg(&c, "fomo-96");
    let rects: Vec<&str> = svg
        .lines()
        .filter(|l| l.starts_with(r#"<rect class="patches""#))
        .collect();
    assert_eq!(rects.len(), 1, "{rects:?}");
    let grid = format!("{}x{} patches", stage.grid[0], stage.grid[1]);
    assert!(svg.contains(&grid), "no {grid} label");
    let layers = format!("{} layers in", stage.nodes.len());
    assert!(rects[0].contains(&layers), "no `{layers}` tooltip");
    // The rectangle shows its colour right of its label.
    let [x, y, w, h] = rect_box(rects[0]);
    let pixmap = render(&svg);
    let p = pixmap
        .pixel((x + w * 0.9) as u32, (y + h * 0.25) as u32)
        .unwrap()
        .demultiply();
    assert_eq!([p.red(), p.green(), p.blue()], [0xfd, 0xae, 0x6b]);
}

#[test]
fn the_committed_plan_picture_is_fresh() {
    let Some(dir) = common::shared_models() else {
        return;
    };
    let path = common::repo_root().join("docs/plan-fomo-96.svg");
    let want = plan_svg(&lower(&dir.join("fomo-96"), &[]), "fomo-96");
    if std::env::var_os("ZANT_BLESS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/plan-fomo-96.svg is stale: run `zantc inspect ../shared/models/fomo-96 --svg docs/plan-fomo-96.svg` (or ZANT_BLESS=1 cargo test --test inspect)"
    );
}

#[test]
fn the_command_line_writes_the_table_json_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let (json, svg) = (dir.path().join("layers.json"), dir.path().join("plan.svg"));
    let out = Command::new(env!("CARGO_BIN_EXE_zantc"))
        .arg("inspect")
        .arg(lenet())
        .arg("--layers")
        .arg("--json")
        .arg(&json)
        .arg("--svg")
        .arg(&svg)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.starts_with("step  op"), "{stdout}");
    assert!(!stdout.contains("== IR after passes =="), "{stdout}");
    let rows: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(rows["rows"].as_array().unwrap().len(), 9);
    assert_eq!(rows["rows"][0]["op"], "Conv");
    assert_eq!(rows["rows"][0]["outputs"][0]["place"]["kind"], "arena");
    assert_eq!(rows["rows"][4]["outputs"][0]["reuse"]["kind"], "view");
    assert_eq!(rows["rows"][8]["outputs"][0]["place"]["kind"], "output");
    assert_eq!(
        rows["totals"]["peak_live_bytes"],
        rows["totals"]["lower_bound"]
    );
    let picture = std::fs::read_to_string(&svg).unwrap();
    assert!(picture.contains("Memory plan of lenet-mnist"), "{picture}");

    // `--json -` and the table would both go to standard output.
    let out = Command::new(env!("CARGO_BIN_EXE_zantc"))
        .arg("inspect")
        .arg(lenet())
        .args(["--layers", "--json", "-"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("`--json -` writes to standard output"),
        "{stderr}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_zantc"))
        .arg("inspect")
        .arg(lenet())
        .args(["--json", "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows["totals"]["layers"], 9);
}

/// A graph quantized in its middle only: a Relu on the float input, QuantizeLinear and
/// DequantizeLinear around a Hardmax (which has no integer form), then a Neg on the way
/// to the float output.
fn half_quantized_model() -> tempfile::TempDir {
    use common::model::{floats, model, node, value};
    let m = model(
        vec![
            node("relu", "Relu", &["x"], &["r"]),
            node("q1", "QuantizeLinear", &["r", "s"], &["rq"]),
            node("dq1", "DequantizeLinear", &["rq", "s"], &["rd"]),
            node("hardmax", "Hardmax", &["rd"], &["p"]),
            node("q2", "QuantizeLinear", &["p", "t"], &["pq"]),
            node("dq2", "DequantizeLinear", &["pq", "t"], &["pd"]),
            node("neg", "Neg", &["pd"], &["y"]),
        ],
        vec![value("x", &[1, 8])],
        vec![value("y", &[1, 8])],
        vec![floats("s", &[], &[0.05]), floats("t", &[], &[1.0 / 256.0])],
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("model.onnx"), common::model::encode(&m)).unwrap();
    dir
}

#[test]
fn inspect_lists_each_float_op_of_a_quantized_model_with_its_reason() {
    use zant_compiler::report::{float_islands, inspect, FloatOp};
    let dir = half_quantized_model();
    let lowered = lower(dir.path(), &[]);
    let islands = float_islands(&lowered).expect("the model has 8-bit activations");
    let listed: Vec<(&str, &str)> = islands
        .iter()
        .map(|f: &FloatOp| (f.node.as_str(), f.op))
        .collect();
    assert_eq!(
        listed,
        [("relu", "Relu"), ("hardmax", "Hardmax"), ("neg", "Neg")]
    );
    assert!(
        islands[0]
            .reason
            .contains("reads the float graph input `x`"),
        "{islands:?}"
    );
    assert!(
        islands[1]
            .reason
            .contains("between DequantizeLinear and QuantizeLinear"),
        "{islands:?}"
    );
    assert!(
        islands[2].reason.contains("float graph output `y`"),
        "{islands:?}"
    );
    let text = inspect(&lowered, false);
    assert!(
        text.contains("== float ops in a quantized model =="),
        "{text}"
    );
    assert!(text.contains("Hardmax hardmax: between"), "{text}");
}

#[test]
fn a_float_model_has_no_float_op_section() {
    use zant_compiler::report::{float_islands, inspect};
    let lowered = lower(&lenet(), &[]);
    assert_eq!(float_islands(&lowered), None);
    assert!(!inspect(&lowered, false).contains("float ops in a quantized model"));
}

#[test]
fn the_shared_int8_models_keep_only_their_softmax_float() {
    use zant_compiler::report::float_islands;
    let Some(shared) = common::shared_models() else {
        return;
    };
    for (name, float_ops) in [
        ("mobilenet_v2-int8", &[][..]),
        ("mlperf-ad-int8", &[]),
        ("mlperf-kws-int8", &["Softmax"]),
        ("mlperf-vww-int8", &["Softmax"]),
        ("mlperf-ic-int8", &["Softmax"]),
    ] {
        let lowered = lower(&shared.join(name), &[]);
        let islands = float_islands(&lowered).expect("an int8 model");
        let ops: Vec<&str> = islands.iter().map(|f| f.op).collect();
        assert_eq!(ops, float_ops, "{name}: {islands:?}");
        // Their Softmax is int8, which ONNX Runtime runs in float too.
        for island in &islands {
            assert!(
                island.reason.contains("fuses uint8 Softmax only"),
                "{island:?}"
            );
        }
    }
}
