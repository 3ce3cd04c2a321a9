//! `make-models`: writes the models `zant_models::all()` authors beside this crate's
//! `Cargo.toml`, or with `--check` lists the files that are stale and exits 1.

use std::{env, fs, io, path::Path, process::ExitCode};

use zant_models::Drift;

const USAGE: &str = "usage: make-models [--check]";

fn main() -> ExitCode {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.as_slice() {
        [] => write(dir),
        [flag] if flag == "--check" => check(dir),
        [flag] if flag == "--help" || flag == "-h" => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    result.unwrap_or_else(|err| {
        eprintln!("make-models: {err}");
        ExitCode::FAILURE
    })
}

/// Writes every model whose file is missing or stale, and leaves the others untouched so their
/// modification times stay put.
fn write(dir: &Path) -> io::Result<ExitCode> {
    for (file_name, bytes) in zant_models::all() {
        let path = dir.join(file_name);
        let fresh = fs::read(&path).is_ok_and(|on_disk| on_disk == bytes);
        if fresh {
            println!("unchanged {}", path.display());
        } else {
            fs::write(&path, &bytes)
                .map_err(|err| io::Error::new(err.kind(), format!("{}: {err}", path.display())))?;
            println!("wrote     {} ({} bytes)", path.display(), bytes.len());
        }
    }
    // Files this crate does not author are reported, not deleted: they may be someone's work.
    for (file_name, drift) in zant_models::drift(dir)? {
        if drift == Drift::Unexpected {
            eprintln!("warning: {file_name} is {drift}; remove it or author it in zant-models");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn check(dir: &Path) -> io::Result<ExitCode> {
    let drifted = zant_models::drift(dir)?;
    if drifted.is_empty() {
        println!("all models in {} are fresh", dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    for (file_name, drift) in &drifted {
        eprintln!("{file_name}: {drift}");
    }
    eprintln!("run `cargo run -p zant-models` to regenerate the models");
    Ok(ExitCode::FAILURE)
}
