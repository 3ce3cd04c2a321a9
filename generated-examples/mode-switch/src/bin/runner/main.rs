//! Runs the model on `.npy` inputs: `runner INPUT.npy... -o OUT_DIR` writes
//! `output_N.npy` in graph output order. Built with `--features runner`.
#[rustfmt::skip]
mod run;
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run::main()
}
