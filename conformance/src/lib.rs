//! The ONNX backend conformance suite: runs the official node tests of the `onnx` package
//! through zant's generated code and records what passes.
//!
//! The driver is `tests/conformance.rs` (`cargo test -p zant-conformance`). It sets up the
//! Python venv (`scripts/setup-python.sh`), writes the cases (`conformance/generate.py`),
//! compiles every case in-process ([`compile`]), lays the generated code of all cases out
//! as a few binary crates and builds them together ([`crates`]), runs every data set,
//! compares ([`compare`]) and writes the record ([`report`]): `docs/conformance.md` and the
//! expected-pass list `conformance/expected-passes.txt`.

pub mod compare;
pub mod compile;
pub mod crates;
pub mod report;

use std::fmt;
use std::path::{Path, PathBuf};

/// What happened to one case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every output of every data set was compared and matched.
    Pass,
    /// The generated code ran and some output differs; the reason says where.
    WrongResult(String),
    /// zant refused to compile the model; the reason is the compiler's message.
    Unsupported(String),
    /// The generated code did not compile; the reason is rustc's first error.
    BuildError(String),
    /// The generated code failed or panicked while running.
    RuntimeError(String),
}

impl Outcome {
    /// The class name used in reports.
    pub fn class(&self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::WrongResult(_) => "wrong result",
            Self::Unsupported(_) => "unsupported",
            Self::BuildError(_) => "build error",
            Self::RuntimeError(_) => "runtime error",
        }
    }

    pub fn reason(&self) -> &str {
        match self {
            Self::Pass => "",
            Self::WrongResult(r)
            | Self::Unsupported(r)
            | Self::BuildError(r)
            | Self::RuntimeError(r) => r,
        }
    }

    pub fn passed(&self) -> bool {
        *self == Self::Pass
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pass => f.write_str("pass"),
            other => write!(f, "{}: {}", other.class(), other.reason()),
        }
    }
}

/// One case of the generated suite, as `generate.py` wrote it.
#[derive(Clone, Debug)]
pub struct Case {
    pub name: String,
    /// The op the case tests.
    pub op: String,
    pub rtol: f64,
    pub atol: f64,
    pub dir: PathBuf,
}

impl Case {
    /// Reads `dir/case.txt` (`op=`, `rtol=`, `atol=` lines).
    pub fn read(dir: &Path) -> Result<Self, String> {
        let name = dir
            .file_name()
            .ok_or_else(|| format!("{} has no name", dir.display()))?
            .to_string_lossy()
            .into_owned();
        let meta_path = dir.join("case.txt");
        let text = std::fs::read_to_string(&meta_path)
            .map_err(|e| format!("cannot read {}: {e}", meta_path.display()))?;
        let field = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
                .ok_or_else(|| format!("{} has no `{key}=` line", meta_path.display()))
        };
        let number = |key: &str| -> Result<f64, String> {
            field(key)?
                .parse()
                .map_err(|e| format!("{}: `{key}`: {e}", meta_path.display()))
        };
        Ok(Self {
            op: field("op")?.to_string(),
            rtol: number("rtol")?,
            atol: number("atol")?,
            name,
            dir: dir.to_path_buf(),
        })
    }

    /// The `test_data_set_*` folders, sorted.
    pub fn data_sets(&self) -> Vec<PathBuf> {
        let mut sets: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| {
                        p.is_dir()
                            && p.file_name()
                                .is_some_and(|n| n.to_string_lossy().starts_with("test_data_set_"))
                    })
                    .collect()
            })
            .unwrap_or_default();
        sets.sort();
        sets
    }
}

/// `dir/input_0.pb`, `dir/input_1.pb`, … (or `output_`) while they exist.
pub fn numbered_files(dir: &Path, prefix: &str, ext: &str) -> Vec<PathBuf> {
    (0..)
        .map(|k| dir.join(format!("{prefix}_{k}.{ext}")))
        .take_while(|p| p.exists())
        .collect()
}

/// The result of one case.
#[derive(Clone, Debug)]
pub struct CaseResult {
    pub name: String,
    pub op: String,
    pub outcome: Outcome,
    /// Graph inputs the harness bound to their data-set value at compile time.
    pub bound: Vec<String>,
}
