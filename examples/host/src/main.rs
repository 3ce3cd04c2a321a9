//! Runs the LeNet model compiled at build time on the embedded digit and prints the class,
//! the same line the Cortex-M7 firmware prints (`scripts/firmware-m7.sh` compares them).

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
}
