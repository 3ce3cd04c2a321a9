//! The RAM budget (`--ram-budget`, `Builder::ram_budget`): a cap on the arena, checked
//! once the plan is made.

use std::fmt;
use std::str::FromStr;

use super::MemoryPlan;
use crate::ir::Graph;

/// A cap on the arena, in bytes. Text takes a count of bytes with an optional unit:
/// `K`, `k` or `KiB` (1,024), `M` or `MiB` (1,048,576), `kB` (1,000) and `MB`
/// (1,000,000), so `256K` is 262,144 bytes, as a linker script's `LENGTH = 256K`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RamBudget(pub usize);

impl FromStr for RamBudget {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (number, unit) = t.split_at(digits);
        let scale: usize = match unit.trim() {
            "" | "B" => 1,
            "K" | "k" | "KiB" => 1 << 10,
            "M" | "MiB" => 1 << 20,
            "kB" | "KB" => 1_000,
            "MB" => 1_000_000,
            other => {
                return Err(format!(
                    "`{s}`: unknown unit `{other}` (bytes, or K/KiB, M/MiB, kB, MB)"
                ))
            }
        };
        let n: usize = number
            .parse()
            .map_err(|_| format!("`{s}` is not a byte count such as 262144, 256K or 1M"))?;
        n.checked_mul(scale)
            .filter(|&b| b > 0)
            .map(RamBudget)
            .ok_or_else(|| format!("`{s}`: a budget is a positive size below 2^64 bytes"))
    }
}

/// A plan whose arena is larger than the budget: what the compiler reaches and where the
/// peak is, so the user knows what to change.
#[derive(Clone, Debug, PartialEq)]
pub struct OverBudget {
    pub budget: usize,
    /// The smallest arena the compiler reaches for the model.
    pub arena: usize,
    /// The step of the schedule where the most bytes are live, its node and ONNX op.
    pub peak_step: usize,
    pub peak_node: String,
    pub peak_op: String,
    /// When running the first layers patch by patch reached `arena`: its extra MACs, as a
    /// fraction of the model's.
    pub patched: Option<f64>,
}

impl fmt::Display for OverBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the arena needs {} bytes ({:.1} KiB), over the RAM budget of {} bytes ({:.1} KiB): \
             {} bytes is the smallest arena zant reaches for this model, ",
            self.arena,
            self.arena as f64 / 1024.0,
            self.budget,
            self.budget as f64 / 1024.0,
            self.arena,
        )?;
        match self.patched {
            Some(extra) => write!(
                f,
                "running its first layers patch by patch ({:.1} % more MACs); layer by \
                 layer",
                extra * 100.0
            )?,
            None => write!(
                f,
                "running each layer whole (no run of layers patch by patch helps);"
            )?,
        }
        write!(
            f,
            " the peak is at step {}, node `{}`, {} (`zantc inspect --layers` shows what is \
             live there)",
            self.peak_step, self.peak_node, self.peak_op,
        )
    }
}

impl std::error::Error for OverBudget {}

/// `Ok` when `plan`'s arena fits `budget`; otherwise what it reaches and where its peak is.
pub fn check(graph: &Graph, plan: &MemoryPlan, budget: RamBudget) -> Result<(), OverBudget> {
    if plan.arena_bytes <= budget.0 {
        return Ok(());
    }
    let live = super::live_per_step(&plan.buffers, plan.schedule.len());
    let peak_step = live
        .iter()
        .enumerate()
        .max_by_key(|&(step, &bytes)| (bytes, std::cmp::Reverse(step)))
        .map_or(0, |(step, _)| step);
    let (peak_node, peak_op) = plan
        .schedule
        .get(peak_step)
        .map(|&id| {
            let node = graph.node(id);
            (node.name.clone(), node.onnx.to_string())
        })
        .unwrap_or_default();
    Err(OverBudget {
        budget: budget.0,
        arena: plan.arena_bytes,
        peak_step,
        peak_node,
        peak_op,
        patched: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_parse_with_their_units() {
        let parse = |s: &str| s.parse::<RamBudget>().map(|b| b.0);
        assert_eq!(parse("262144"), Ok(262_144));
        assert_eq!(parse("256K"), Ok(262_144));
        assert_eq!(parse("256k"), Ok(262_144));
        assert_eq!(parse("256KiB"), Ok(262_144));
        assert_eq!(parse("1M"), Ok(1 << 20));
        assert_eq!(parse("2MiB"), Ok(2 << 20));
        assert_eq!(parse("300kB"), Ok(300_000));
        assert_eq!(parse("1MB"), Ok(1_000_000));
        assert_eq!(parse(" 64 K "), Ok(65_536));
        for bad in [
            "",
            "K",
            "0",
            "0K",
            "12Q",
            "-5",
            "1.5M",
            "99999999999999999999M",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
    }
}
