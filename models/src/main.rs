//! `make-models`: writes the models `zant_models::all()` authors beside this crate's
//! `Cargo.toml`, or with `--check` lists the files that are stale and exits 1, or with
//! `--zoo [DIR]` writes the zoo models as `DIR/<name>/model.onnx` (default `models/zoo`).

use std::{env, fs, io, path::Path, process::ExitCode};

use zant_models::Drift;

const USAGE: &str = "usage: make-models [--check | --zoo [DIR]]";

fn main() -> ExitCode {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.as_slice() {
        [] => write(dir),
        [flag] if flag == "--check" => check(dir),
        [flag] if flag == "--zoo" => write_zoo(&dir.join("zoo")),
        [flag, zoo_dir] if flag == "--zoo" => write_zoo(Path::new(zoo_dir)),
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
        write_if_changed(&dir.join(file_name), &bytes)?;
    }
    // Files this crate does not author are reported, not deleted: they may be someone's work.
    for (file_name, drift) in zant_models::drift(dir)? {
        if drift == Drift::Unexpected {
            eprintln!("warning: {file_name} is {drift}; remove it or author it in zant-models");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes every zoo model whose file is missing or stale, as `dir/<name>/model.onnx`.
fn write_zoo(dir: &Path) -> io::Result<ExitCode> {
    for (name, bytes) in zant_models::zoo() {
        let folder = dir.join(name);
        fs::create_dir_all(&folder)
            .map_err(|err| io::Error::new(err.kind(), format!("{}: {err}", folder.display())))?;
        write_if_changed(&folder.join("model.onnx"), &bytes)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn write_if_changed(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let fresh = fs::read(path).is_ok_and(|on_disk| on_disk == bytes);
    if fresh {
        println!("unchanged {}", path.display());
    } else {
        fs::write(path, bytes)
            .map_err(|err| io::Error::new(err.kind(), format!("{}: {err}", path.display())))?;
        println!("wrote     {} ({} bytes)", path.display(), bytes.len());
    }
    Ok(())
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
