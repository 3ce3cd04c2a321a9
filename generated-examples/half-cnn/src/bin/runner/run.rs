//! The runner: reads the inputs, runs the model, writes the outputs.
use std::path::{Path, PathBuf};
use std::sync::Mutex;
type BoxError = Box<dyn std::error::Error>;
/// The model lives in a static: its arena can be larger than a thread's stack.
static MODEL: Mutex<half_cnn::Model> = Mutex::new(half_cnn::Model::new());
fn read_raw_npy(path: &Path, name: &str, unit: usize) -> Result<Vec<u8>, BoxError> {
    use std::io::Read;
    let context = |e: &dyn std::fmt::Display| {
        format!("input `{name}`: {}: {e}", path.display())
    };
    let file = std::fs::File::open(path).map_err(|e| context(&e))?;
    let mut reader = std::io::BufReader::new(file);
    let header = npyz::NpyHeader::from_reader(&mut reader).map_err(|e| context(&e))?;
    let descr = header.dtype().descr();
    let size = descr.trim_matches('\'').get(2..).and_then(|s| s.parse::<usize>().ok());
    if size != Some(unit) {
        return Err(
            context(&format!("type {descr} does not have {unit}-byte elements")).into(),
        );
    }
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes).map_err(|e| context(&e))?;
    Ok(bytes)
}
fn write_raw_npy(
    path: &Path,
    descr: &str,
    shape: &[u64],
    bytes: &[u8],
) -> Result<(), BoxError> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!(
        "{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(bytes);
    std::fs::write(path, out)?;
    Ok(())
}
pub fn main() -> Result<(), BoxError> {
    let mut paths = Vec::new();
    let mut out_dir = None;
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        if arg == "-o" {
            out_dir = Some(PathBuf::from(args.next().ok_or("-o needs a folder")?));
        } else {
            paths.push(PathBuf::from(arg));
        }
    }
    let out_dir = out_dir.ok_or("usage: runner INPUT.npy... -o OUT_DIR")?;
    if paths.len() != 1 {
        return Err(
            format!("the model takes {} input(s), {} given", 1, paths.len()).into(),
        );
    }
    let mut input: Box<[u16; 256]> = vec![0; 256]
        .into_boxed_slice()
        .try_into()
        .expect("length");
    let bytes = read_raw_npy(&paths[0], "image", 2)?;
    if bytes.len() != 256 * 2 {
        return Err(
            format!(
                "input `{}` has {} bytes of data, the model takes {} elements of {} bytes",
                "image", bytes.len(), 256, 2
            )
                .into(),
        );
    }
    for (out, c) in input.iter_mut().zip(bytes.chunks_exact(2)) {
        *out = u16::from_le_bytes([c[0], c[1]]);
    }
    let mut output: Box<[u16; 10]> = vec![0; 10]
        .into_boxed_slice()
        .try_into()
        .expect("length");
    MODEL
        .lock()
        .map_err(|_| "model lock poisoned")?
        .predict(&input, &mut output)
        .map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&out_dir)?;
    let bytes: Vec<u8> = (&output[..]).iter().flat_map(|v| v.to_le_bytes()).collect();
    write_raw_npy(&out_dir.join("output_0.npy"), "<f2", &[1u64, 10u64], &bytes)?;
    Ok(())
}
