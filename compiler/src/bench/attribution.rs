//! Code attribution: which bytes of a harness image belong to the model, to `zant-runtime`,
//! to `core::fmt` and the panic machinery, and to the harness, read from the ELF symbol
//! table; and which formatting and panic symbols the inference can reach.
//!
//! Every sized symbol of an allocated section is put in one bucket by its demangled path:
//! the weight blob (`<harness>::model::WEIGHTS`); formatting and panics (`core::fmt`,
//! `core::panicking`, the panic handler, `Display`/`Debug` impls, …); the model (its
//! module, and the harness's `io::Io::predict`, the one `#[inline(never)]` call into the
//! model that LTO inlines `Model::predict` into); `zant-runtime` (kernels that were not
//! inlined, monomorphised or not); and the harness (its own code, startup, `core`, `std`
//! and the bytes no symbol covers, such as the vector table's padding or anonymous
//! constants). So the buckets add up to the image, and a kernel that LTO inlines into
//! `predict` counts as model code, which is where a firmware's flash pays for it.
//!
//! Reachability is a conservative call graph built from the disassembly (binutils
//! `objdump -d`): an edge for every address an instruction names (calls, branches,
//! tail calls, `lea`s and literal loads) and every literal-pool word, and for a data
//! object reached that way, every word in it that is the address of a symbol (vtables,
//! function pointers). What the inference can reach is the closure from
//! `<harness>::io::Io::predict`. The closure over-approximates (a branch that never runs
//! still counts), so an empty list of formatting and panic symbols is a proof that
//! `predict` cannot format or panic, and a non-empty one names the paths to remove.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;

use object::{Object, ObjectSection, ObjectSymbol, SectionKind, SymbolKind};
use serde::{Deserialize, Serialize};

use super::{io_error, BenchError};
use crate::Error;

/// A harness image split by owner, in bytes, and what the inference reaches.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribution {
    /// The allocated, loaded image (flash on the Cortex-M7): the sum of the buckets below.
    pub image_bytes: u64,
    /// The weight blob.
    pub weights_bytes: u64,
    /// The model's own code and constants (`predict` with whatever LTO inlined into it).
    pub model_bytes: u64,
    /// `zant-runtime` code and constants that stayed out of line.
    pub runtime_bytes: u64,
    /// `core::fmt`, panic machinery and the panic handler.
    pub fmt_panic_bytes: u64,
    /// The harness, startup code, the rest of `core`/`std`, and bytes no symbol covers.
    pub harness_bytes: u64,
    /// Formatting and panic symbols reachable from `predict` (demangled, without hash),
    /// sorted. Empty when the inference cannot format or panic.
    pub reachable_fmt_panic: Vec<String>,
    /// Where the inference enters that machinery: `caller → callee` for every reachable
    /// edge from other code into a formatting or panic symbol, sorted.
    #[serde(default)]
    pub fmt_panic_entries: Vec<String>,
    /// How many symbols `predict` reaches in all.
    pub reachable_symbols: usize,
}

/// Which bucket a symbol is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Owner {
    Weights,
    Model,
    Runtime,
    FmtPanic,
    Harness,
}

/// The bucket of a demangled symbol `name` (hash removed) in the harness crate `krate`
/// (its Rust name, `zant_bench_mnist_8`).
pub(super) fn owner(name: &str, krate: &str) -> Owner {
    let model = format!("{krate}::model::");
    if name == format!("{model}WEIGHTS") {
        return Owner::Weights;
    }
    if is_fmt_or_panic(name) {
        return Owner::FmtPanic;
    }
    let in_model = |s: &str| s.starts_with(&model);
    if in_model(name) || name.strip_prefix('<').is_some_and(in_model) || is_entry(name, krate) {
        return Owner::Model;
    }
    if name.contains("zant_runtime::") {
        return Owner::Runtime;
    }
    Owner::Harness
}

/// Whether `name` is the harness's `io::Io::predict`, the root of the reachability walk.
/// Legacy mangling demangles it as `krate::io::Io::predict`, v0 as `<krate::io::Io>::predict`.
fn is_entry(name: &str, krate: &str) -> bool {
    name.replace(['<', '>'], "") == format!("{krate}::io::Io::predict")
}

/// Formatting, panics and the panic handler, on `core` and `std`.
fn is_fmt_or_panic(name: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "core::fmt::",
        "core::panicking::",
        "core::panic::",
        "core::result::unwrap_failed",
        "core::option::unwrap_failed",
        "core::option::expect_failed",
        "core::slice::index::slice_",
        "core::slice::<impl [T]>::copy_from_slice::len_mismatch_fail",
        "core::str::slice_error_fail",
        "core::cell::panic_already",
        "core::num::fmt::",
        "std::panicking::",
        "std::panic::",
        "std::rt::panic",
        "alloc::fmt::",
        "rust_begin_unwind",
        "__rustc::rust_begin_unwind",
    ];
    PREFIXES.iter().any(|p| name.starts_with(p))
        || name.contains(" as core::fmt::")
        || name.contains("as core::fmt::")
}

/// A symbol of the image: its demangled name, address range and whether it is code.
#[derive(Clone, Debug)]
struct Sym {
    name: String,
    start: u64,
    end: u64,
    code: bool,
}

/// Splits the ELF image at `elf` and follows its call graph from `predict`. `krate` is the
/// harness crate's Rust name; `objdump` the binutils disassembler for its architecture;
/// `excluded` the sections that are not part of the image (the Cortex-M7 harness's inputs,
/// which sit in RAM).
pub(super) fn attribute(
    elf: &Path,
    krate: &str,
    objdump: &str,
    excluded: &[&str],
) -> Result<Attribution, Error> {
    let bytes = std::fs::read(elf).map_err(io_error(format!("cannot read {}", elf.display())))?;
    let file = object::File::parse(&*bytes).map_err(|e| BenchError::Elf {
        path: elf.to_path_buf(),
        message: e.to_string(),
    })?;
    let thumb = file.architecture() == object::Architecture::Arm;
    let word = if file.is_64() { 8 } else { 4 };

    // The loaded, allocated sections: what the image costs in flash (or on disk).
    let mut image_bytes = 0;
    let mut sections = Vec::new();
    for section in file.sections() {
        let allocated = matches!(
            section.flags(),
            object::SectionFlags::Elf { sh_flags } if sh_flags & u64::from(object::elf::SHF_ALLOC) != 0
        );
        let loaded = !matches!(
            section.kind(),
            SectionKind::UninitializedData | SectionKind::UninitializedTls
        );
        let excluded = section.name().is_ok_and(|n| excluded.contains(&n));
        if section.size() == 0 || !allocated || !loaded || excluded {
            continue;
        }
        image_bytes += section.size();
        sections.push(section.index());
    }

    let mut syms = symbols(&file, &sections, thumb);
    syms.sort_by_key(|s| (s.start, std::cmp::Reverse(s.end)));
    // Aliases (two names, one range) count once; the first name is kept.
    syms.dedup_by(|b, a| a.start == b.start && a.end == b.end);

    let mut attribution = Attribution {
        image_bytes,
        ..Attribution::default()
    };
    let mut covered = 0;
    for s in &syms {
        let size = s.end - s.start;
        covered += size;
        match owner(&s.name, krate) {
            Owner::Weights => attribution.weights_bytes += size,
            Owner::Model => attribution.model_bytes += size,
            Owner::Runtime => attribution.runtime_bytes += size,
            Owner::FmtPanic => attribution.fmt_panic_bytes += size,
            Owner::Harness => attribution.harness_bytes += size,
        }
    }
    // Bytes no symbol covers (alignment padding, anonymous constants) go to the harness,
    // so the buckets add up to the image.
    attribution.harness_bytes += image_bytes.saturating_sub(covered);

    let Some(root) = syms.iter().position(|s| s.code && is_entry(&s.name, krate)) else {
        return Err(BenchError::Attribution(format!(
            "{} has no `{krate}::io::Io::predict` symbol",
            elf.display()
        ))
        .into());
    };
    let references = disassembly_references(elf, objdump)?;
    let (reached, edges) = reach(&file, &syms, &references, root, word, thumb);

    attribution.reachable_symbols = reached.len();
    // The entries are the edges into formatting or panics from code that `predict`
    // reaches without passing through them: the panic handler's own calls (into `std`'s
    // printing, say) are not the inference's doing.
    let is_fmt = |i: usize| owner(&syms[i].name, krate) == Owner::FmtPanic;
    let mut successors: HashMap<usize, Vec<usize>> = HashMap::new();
    for &(from, to) in &edges {
        successors.entry(from).or_default().push(to);
    }
    let mut entries = BTreeSet::new();
    let mut seen = BTreeSet::from([root]);
    let mut stack = vec![root];
    while let Some(i) = stack.pop() {
        for &j in successors.get(&i).into_iter().flatten() {
            if is_fmt(j) {
                entries.insert(format!("{} → {}", syms[i].name, syms[j].name));
            } else if seen.insert(j) {
                stack.push(j);
            }
        }
    }
    attribution.fmt_panic_entries = entries.into_iter().collect();
    attribution.reachable_fmt_panic = reached
        .iter()
        .map(|&i| &syms[i].name)
        .filter(|n| owner(n, krate) == Owner::FmtPanic)
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    Ok(attribution)
}

/// The sized symbols of `sections`, demangled without their hash; thumb code addresses
/// without their mode bit.
fn symbols(file: &object::File, sections: &[object::SectionIndex], thumb: bool) -> Vec<Sym> {
    file.symbols()
        .filter(|s| s.size() > 0 && matches!(s.kind(), SymbolKind::Text | SymbolKind::Data))
        .filter(|s| s.section_index().is_some_and(|i| sections.contains(&i)))
        .filter_map(|s| {
            let code = s.kind() == SymbolKind::Text;
            let start = if thumb && code {
                s.address() & !1
            } else {
                s.address()
            };
            let name = s.name().ok()?;
            Some(Sym {
                name: format!("{:#}", rustc_demangle::demangle(name)),
                start,
                end: start + s.size(),
                code,
            })
        })
        .collect()
}

/// For every function of the disassembly (keyed by its start address), the addresses its
/// instructions name: `bl 8a4 <f>`, `call 1234 <f>`, `lea …  # 4a5b0 <x>`, and on Arm the
/// literal-pool words (`.word 0x000012a5`).
fn disassembly_references(elf: &Path, objdump: &str) -> Result<HashMap<u64, Vec<u64>>, Error> {
    let out = Command::new(objdump)
        .args(["-d", "--no-show-raw-insn"])
        .arg(elf)
        .output()
        .map_err(io_error(format!(
            "cannot run {objdump} (binutils) for the code attribution"
        )))?;
    if !out.status.success() {
        return Err(BenchError::Attribution(format!(
            "{objdump} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
        .into());
    }
    Ok(parse_disassembly(&String::from_utf8_lossy(&out.stdout)))
}

fn parse_disassembly(text: &str) -> HashMap<u64, Vec<u64>> {
    let mut references: HashMap<u64, Vec<u64>> = HashMap::new();
    let mut current = None;
    for line in text.lines() {
        // `000008a4 <name>:` opens a function.
        if let Some(head) = line.strip_suffix(">:") {
            current = head
                .split_once(" <")
                .and_then(|(address, _)| u64::from_str_radix(address.trim(), 16).ok());
            continue;
        }
        let Some(function) = current else { continue };
        // An instruction line is `  addr:\tmnemonic operands`; skip the address itself.
        let Some((_, instruction)) = line.split_once(":\t") else {
            continue;
        };
        let list = references.entry(function).or_default();
        if let Some(value) = instruction.trim_start().strip_prefix(".word") {
            let value = value.trim().trim_start_matches("0x");
            if let Ok(v) = u64::from_str_radix(value, 16) {
                list.push(v);
            }
        }
        // Every `HEX <symbol…>` names an address.
        let mut rest = instruction;
        while let Some(at) = rest.find(" <") {
            let before = &rest[..at];
            let hex = before
                .rsplit(|c: char| !c.is_ascii_hexdigit())
                .next()
                .unwrap_or_default();
            if let Ok(v) = u64::from_str_radix(hex, 16) {
                list.push(v);
            }
            rest = &rest[at + 2..];
        }
    }
    references
}

/// The symbols reachable from `root`: through the addresses each function's code names,
/// and through the symbol addresses stored in each data object reached. Also returns every
/// edge followed, as `(from, to)` indices into `syms`.
fn reach(
    file: &object::File,
    syms: &[Sym],
    references: &HashMap<u64, Vec<u64>>,
    root: usize,
    word: usize,
    thumb: bool,
) -> (BTreeSet<usize>, Vec<(usize, usize)>) {
    // The symbol holding `address`: the last one starting at or before it.
    let containing = |address: u64| -> Option<usize> {
        let i = syms.partition_point(|s| s.start <= address);
        (0..i)
            .rev()
            .take(8)
            .find(|&j| syms[j].start <= address && address < syms[j].end)
    };
    // A stored word that points at a symbol's start (a thumb function with its mode bit).
    let starting = |value: u64| -> Option<usize> {
        let address = if thumb { value & !1 } else { value };
        let i = syms.partition_point(|s| s.start < address);
        (i < syms.len() && syms[i].start == address && (value == address || syms[i].code))
            .then_some(i)
    };
    // Addresses whose value a dynamic relocation supplies (`R_X86_64_RELATIVE`: the addend).
    let relocated: HashMap<u64, u64> = file
        .dynamic_relocations()
        .into_iter()
        .flatten()
        .filter(|(_, r)| !r.has_implicit_addend() && r.addend() > 0)
        .filter_map(|(at, r)| Some((at, u64::try_from(r.addend()).ok()?)))
        .collect();
    let got: Vec<(u64, u64)> = file
        .sections()
        .filter(|section| section.name() == Ok(".got"))
        .map(|section| (section.address(), section.address() + section.size()))
        .collect();
    let in_got = |address: u64| got.iter().any(|&(lo, hi)| (lo..hi).contains(&address));
    let mut seen = BTreeSet::from([root]);
    let mut edges = Vec::new();
    let mut stack = vec![root];
    while let Some(i) = stack.pop() {
        let s = &syms[i];
        let mut next = Vec::new();
        // The symbols whose start is stored in the aligned words of `data`, which sits at
        // `address`. A position-independent executable may leave a word zero and put its
        // value in a relative dynamic relocation's addend instead.
        let pointers = |address: u64, data: &[u8], next: &mut Vec<usize>| {
            for (k, chunk) in data.chunks_exact(word).enumerate() {
                let stored = match word {
                    8 => u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8])),
                    _ => u64::from(u32::from_le_bytes(chunk.try_into().unwrap_or([0; 4]))),
                };
                let at = address + (k * word) as u64;
                let value = relocated.get(&at).copied().unwrap_or(stored);
                if value != 0 {
                    next.extend(starting(value));
                }
            }
        };
        if s.code {
            for &address in references.get(&s.start).into_iter().flatten() {
                // A reference inside the function itself is a local branch.
                if (s.start..s.end).contains(&address) {
                    continue;
                }
                match containing(address).or_else(|| containing(address & !1)) {
                    Some(j) => next.push(j),
                    // Data no symbol covers: a GOT slot (a call through `*f@GOTPCREL`),
                    // one word, or an anonymous constant such as a vtable, whose words up
                    // to the next symbol (at most 64 bytes) may point at functions.
                    None => {
                        let span = if in_got(address) { word as u64 } else { 64 };
                        let end = syms
                            .get(syms.partition_point(|t| t.start <= address))
                            .map_or(address + span, |t| t.start.min(address + span));
                        if let Some(data) = bytes_at(file, address, end) {
                            pointers(address, data, &mut next);
                        }
                    }
                }
            }
        } else if let Some(data) = bytes_at(file, s.start, s.end) {
            pointers(s.start, data, &mut next);
        }
        for j in next {
            edges.push((i, j));
            if seen.insert(j) {
                stack.push(j);
            }
        }
    }
    (seen, edges)
}

/// The bytes at addresses `start..end` from the file image of the section holding
/// `start` (clipped to it; none for `.bss` or an address outside every section).
fn bytes_at<'a>(file: &'a object::File<'a>, start: u64, end: u64) -> Option<&'a [u8]> {
    let section = file
        .sections()
        .find(|section| section.address() <= start && start < section.address() + section.size())?;
    let data = section.data().ok()?;
    let offset = usize::try_from(start - section.address()).ok()?;
    let len = usize::try_from(end.min(section.address() + section.size()) - start).ok()?;
    data.get(offset..offset + len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners() {
        let krate = "zant_bench_mnist_8";
        let check = |name: &str, want: Owner| assert_eq!(owner(name, krate), want, "{name}");
        check("zant_bench_mnist_8::model::WEIGHTS", Owner::Weights);
        check("zant_bench_mnist_8::model::Model::predict", Owner::Model);
        check("zant_bench_mnist_8::io::Io::predict", Owner::Model);
        check("<zant_bench_mnist_8::io::Io>::predict", Owner::Model);
        check("<zant_bench_mnist_8::model::Model>::predict", Owner::Model);
        check("zant_runtime::conv::direct", Owner::Runtime);
        check(
            "<zant_runtime::Activation as core::clone::Clone>::clone",
            Owner::Runtime,
        );
        check(
            "<zant_runtime::error::Error as core::fmt::Display>::fmt",
            Owner::FmtPanic,
        );
        check("core::panicking::panic_bounds_check", Owner::FmtPanic);
        check("core::fmt::write", Owner::FmtPanic);
        check(
            "core::slice::index::slice_end_index_len_fail",
            Owner::FmtPanic,
        );
        check("zant_bench_mnist_8::io::Io::load", Owner::Harness);
        check("Reset", Owner::Harness);
        check("memcpy", Owner::Harness);
    }

    #[test]
    fn disassembly_lines() {
        let text = "\
00000400 <main>:
 400:\tbl\t8a4 <zant_bench::io::Io::predict>
 404:\tldr\tr0, [pc, #8]\t@ (410 <main+0x10>)
 408:\tb.w\t900 <core::panicking::panic>
 410:\t.word\t0x000012a5

00000500 <_ZN3foo3barE>:
 500:\tcall   1234 <memcpy>
 505:\tlea    0x10(%rip),%rdi        # 4a5b0 <anon.1>
";
        let refs = parse_disassembly(text);
        assert_eq!(refs[&0x400], vec![0x8a4, 0x410, 0x900, 0x12a5]);
        assert_eq!(refs[&0x500], vec![0x1234, 0x4a5b0]);
    }
}
