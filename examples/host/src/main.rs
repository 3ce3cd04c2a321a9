//! Runs the LeNet model compiled at build time on the embedded digit and prints the class,
//! the same line the Cortex-M7 firmware prints (`scripts/firmware-m7.sh` compares them).
//! With `--layers` it also prints the time of every layer, read by the probe that
//! `Model::predict_profiled` calls between layers (the build script asks for it).

include!(concat!(env!("OUT_DIR"), "/lenet.rs"));
include!("../../common/digit.rs");

fn main() {
    let mut model = Box::new(lenet::Model::new());
    let image = digit();
    let mut probs = [0.0f32; lenet::PROBS_LEN];
    if let Err(e) = model.predict(&image, &mut probs) {
        eprintln!("inference failed: {e}");
        std::process::exit(1);
    }
    println!("class={}", argmax(&probs));
    println!(
        "arena_bytes={} weight_bytes={}",
        lenet::ARENA_BYTES,
        lenet::WEIGHT_BYTES
    );
    if std::env::args().any(|a| a == "--layers") {
        print_layers(&mut model, &image);
    }
}

/// One profiled inference: the wall time of each layer in µs.
fn print_layers(model: &mut lenet::Model, image: &[f32; lenet::IMAGE_LEN]) {
    let mut probs = [0.0f32; lenet::PROBS_LEN];
    let mut stamps = [std::time::Duration::ZERO; lenet::LAYERS.len() + 1];
    let start = std::time::Instant::now();
    if let Err(e) = model.predict_profiled(image, &mut probs, &mut |k| {
        stamps[k] = start.elapsed();
    }) {
        eprintln!("inference failed: {e}");
        std::process::exit(1);
    }
    for (k, (op, name)) in lenet::LAYERS.iter().enumerate() {
        let us = (stamps[k + 1] - stamps[k]).as_secs_f64() * 1e6;
        println!("layer {k} {op} {name} {us:.1} us");
    }
}
