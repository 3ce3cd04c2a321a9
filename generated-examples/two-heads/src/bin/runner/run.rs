//! The runner: reads the inputs, runs the model, writes the outputs.
use std::path::{Path, PathBuf};
use std::sync::Mutex;
type BoxError = Box<dyn std::error::Error>;
/// The model lives in a static: its arena can be larger than a thread's stack.
static MODEL: Mutex<two_heads::Model> = Mutex::new(two_heads::Model::new());
/// The values of a `.npy` file in C order, whatever order numpy wrote.
fn read_npy<T: npyz::Deserialize + Copy>(
    path: &Path,
    name: &str,
) -> Result<Vec<T>, BoxError> {
    let file = std::fs::File::open(path)
        .map_err(|e| format!("input `{name}`: {}: {e}", path.display()))?;
    let npy = npyz::NpyFile::new(std::io::BufReader::new(file))
        .map_err(|e| format!("input `{name}`: {}: {e}", path.display()))?;
    let shape = npy.shape().to_vec();
    let fortran = npy.order() == npyz::Order::Fortran;
    let values = npy
        .into_vec::<T>()
        .map_err(|e| format!("input `{name}`: {}: {e}", path.display()))?;
    Ok(if fortran && shape.len() > 1 { c_order(&values, &shape) } else { values })
}
/// Reorders values stored with the first axis fastest (numpy's `fortran_order`)
/// into the last-axis-fastest order the model reads.
fn c_order<T: Copy>(values: &[T], shape: &[u64]) -> Vec<T> {
    let dims: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
    let mut index = vec![0; dims.len()];
    let mut out = Vec::with_capacity(values.len());
    for _ in 0..values.len() {
        let mut at = 0;
        for axis in (0..dims.len()).rev() {
            at = at * dims[axis] + index[axis];
        }
        out.push(values[at]);
        for axis in (0..dims.len()).rev() {
            index[axis] += 1;
            if index[axis] < dims[axis] {
                break;
            }
            index[axis] = 0;
        }
    }
    out
}
fn write_npy<T: npyz::AutoSerialize + Copy>(
    path: &Path,
    shape: &[u64],
    data: &[T],
) -> Result<(), BoxError> {
    use npyz::WriterBuilder;
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut writer = npyz::WriteOptions::new()
        .default_dtype()
        .shape(shape)
        .writer(file)
        .begin_nd()?;
    writer.extend(data.iter().copied())?;
    writer.finish()?;
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
    if paths.len() != 2 {
        return Err(
            format!("the model takes {} input(s), {} given", 2, paths.len()).into(),
        );
    }
    let mut inputs = Box::new(two_heads::Inputs::new());
    let values: Vec<f32> = read_npy(&paths[0], "features")?;
    if values.len() != 16 {
        return Err(
            format!(
                "input `{}` has {} elements, the model takes {}", "features", values
                .len(), 16
            )
                .into(),
        );
    }
    inputs.features.copy_from_slice(&values);
    let values: Vec<f32> = read_npy(&paths[1], "context")?;
    if values.len() != 8 {
        return Err(
            format!(
                "input `{}` has {} elements, the model takes {}", "context", values
                .len(), 8
            )
                .into(),
        );
    }
    inputs.context.copy_from_slice(&values);
    let mut outputs = Box::new(two_heads::Outputs::new());
    MODEL
        .lock()
        .map_err(|_| "model lock poisoned")?
        .predict(&inputs, &mut outputs)
        .map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&out_dir)?;
    write_npy(&out_dir.join("output_0.npy"), &[1u64, 4u64], &outputs.scores[..])?;
    write_npy(&out_dir.join("output_1.npy"), &[1u64, 1u64], &outputs.gate[..])?;
    Ok(())
}
