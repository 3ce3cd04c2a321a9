//! Compiles `models/lenet-mnist.onnx` into `$OUT_DIR/lenet.rs` with zant's Builder, with the
//! per-layer probe (`Model::predict_profiled`) that `main --layers` uses.

fn main() {
    let result = zant_compiler::Builder::new()
        .model("../../models/lenet-mnist.onnx")
        .module_name("lenet")
        .profile(true)
        .compile();
    if let Err(e) = result {
        // One readable line, no panic backtrace: cargo shows it under "build script failed".
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
