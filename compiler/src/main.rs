//! `zantc`: the command-line front of the zant compiler.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use zant_compiler::verify::{model_file, VerifyOptions};
use zant_compiler::{InputShape, Options, RuntimeDep};

/// Compile ONNX models into standalone `#![no_std]`, allocation-free Rust crates.
#[derive(Parser)]
#[command(name = "zantc", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options shared by every command that reads a model.
#[derive(clap::Args)]
struct ModelArgs {
    /// The model: an .onnx file, or a folder holding model.onnx.
    model: PathBuf,
    /// Pin a symbolic input shape, e.g. `--input-shape input=1,3,224,224` (repeatable).
    #[arg(long = "input-shape", value_name = "NAME=DIMS")]
    input_shapes: Vec<InputShape>,
}

#[derive(Subcommand)]
enum Command {
    /// Compile a model into a crate folder.
    Compile {
        #[command(flatten)]
        model: ModelArgs,
        /// The folder to write the crate into.
        #[arg(short, long)]
        out: PathBuf,
        /// The crate name (default: the model's file or folder name).
        #[arg(long)]
        name: Option<String>,
        /// Path to zant-runtime for the generated Cargo.toml (default: this zantc's own runtime).
        #[arg(long, value_name = "PATH", conflicts_with = "runtime_version")]
        runtime_path: Option<String>,
        /// Depend on zant-runtime from crates.io with this version requirement instead.
        #[arg(long, value_name = "VERSION")]
        runtime_version: Option<String>,
        /// Do not make the crate its own workspace (for crates that join an existing workspace).
        #[arg(long)]
        workspace_member: bool,
    },
    /// Print the IR, the op histogram, the memory plan and its totals.
    Inspect {
        #[command(flatten)]
        model: ModelArgs,
        /// Also print the IR as imported, before the passes.
        #[arg(long)]
        imported: bool,
        /// Print only the totals line.
        #[arg(long)]
        totals: bool,
    },
    /// Compile, build and run the model on its test_data_set_* folders; exit 1 on a mismatch.
    Verify {
        #[command(flatten)]
        model: ModelArgs,
        /// The folder holding test_data_set_* (default: the model's folder).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Absolute tolerance.
        #[arg(long, default_value_t = 1e-4)]
        atol: f64,
        /// Relative tolerance.
        #[arg(long, default_value_t = 1e-3)]
        rtol: f64,
    },
    /// List the supported ONNX ops as Markdown (the source of docs/ops.md).
    Ops,
}

fn options(model: &ModelArgs) -> Options {
    Options {
        input_shapes: model.input_shapes.clone(),
        ..Options::default()
    }
}

fn run(cli: Cli) -> Result<bool, zant_compiler::Error> {
    match cli.command {
        Command::Compile {
            model,
            out,
            name,
            runtime_path,
            runtime_version,
            workspace_member,
        } => {
            let mut opts = options(&model);
            opts.crate_name = name;
            opts.standalone = !workspace_member;
            if let Some(p) = runtime_path {
                opts.runtime = RuntimeDep::Path(p);
            }
            if let Some(v) = runtime_version {
                opts.runtime = RuntimeDep::Version(v);
            }
            let compiled = zant_compiler::compile(&model_file(&model.model), &opts)?;
            zant_compiler::write_files(&out, &compiled.files)?;
            println!("wrote crate `{}` to {}", compiled.crate_name, out.display());
            for f in &compiled.files {
                println!("  {:<20} {:>10} bytes", f.path.display(), f.contents.len());
            }
            println!("{}", zant_compiler::report::totals(&compiled));
            Ok(true)
        }
        Command::Inspect {
            model,
            imported,
            totals,
        } => {
            let compiled = zant_compiler::compile(&model_file(&model.model), &options(&model))?;
            if totals {
                println!("{}", zant_compiler::report::totals(&compiled));
            } else {
                print!("{}", zant_compiler::report::inspect(&compiled, imported));
            }
            Ok(true)
        }
        Command::Verify {
            model,
            data,
            atol,
            rtol,
        } => {
            let vopts = VerifyOptions {
                data_dir: data,
                atol,
                rtol,
                ..VerifyOptions::default()
            };
            let checks = zant_compiler::verify::verify(&model.model, &options(&model), &vopts)?;
            let mut ok = true;
            for c in &checks {
                println!(
                    "{} {:<24} {:<30} max_abs={:.3e} max_rel={:.3e} mismatches={}/{}",
                    if c.passed() { "PASS" } else { "FAIL" },
                    c.data_set,
                    c.output,
                    c.max_abs,
                    c.max_rel,
                    c.mismatches,
                    c.n_elems
                );
                ok &= c.passed();
            }
            println!(
                "verify: {}",
                if ok { "all outputs match" } else { "MISMATCH" }
            );
            Ok(ok)
        }
        Command::Ops => {
            print!("{}", zant_compiler::ops::markdown_table());
            Ok(true)
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
