//! The kernel families a build runs, so that the compiler can reserve scratch for the
//! target it emits for rather than for the machine it runs on.
//!
//! Each kernel picks its path at compile time of the *generated crate*, from
//! `target_arch` and `target_feature`. What matters to the memory plan is only which
//! family of paths a target takes: the vector kernels (x86-64 and AArch64: packed GEMM
//! panels, framed convolutions, channel-vector depthwise bands) or the scalar kernels of
//! the microcontrollers (Cortex-M, with or without the DSP extension, and RISC-V:
//! windowed direct convolutions, per-channel depthwise rows). The scratch functions take
//! a [`KernelSet`], the families the crate may be built for: one of them for a crate
//! generated for a known target, or both for a crate that builds anywhere.

/// One family of kernel paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernels {
    /// The SIMD kernels of x86-64 and AArch64.
    Vector,
    /// The kernels of targets without wide vectors: Cortex-M (the DSP extension's
    /// instructions where the core has them) and RISC-V.
    Scalar,
}

impl Kernels {
    /// The family this build of the runtime runs.
    pub const NATIVE: Kernels = if cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
        Kernels::Vector
    } else {
        Kernels::Scalar
    };

    /// The family of a target architecture, by the name `target_arch` gives it.
    pub fn of_arch(arch: &str) -> Kernels {
        match arch {
            "x86_64" | "aarch64" => Kernels::Vector,
            _ => Kernels::Scalar,
        }
    }
}

/// The families a generated crate may be built for: scratch is sized for the largest
/// need among them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KernelSet {
    pub vector: bool,
    pub scalar: bool,
}

impl KernelSet {
    /// Both families: the crate builds and runs on any target.
    pub const ANY: KernelSet = KernelSet {
        vector: true,
        scalar: true,
    };

    /// One family only.
    pub const fn only(kernels: Kernels) -> KernelSet {
        KernelSet {
            vector: matches!(kernels, Kernels::Vector),
            scalar: matches!(kernels, Kernels::Scalar),
        }
    }

    /// Whether a build of family `kernels` may run code sized for this set.
    pub const fn contains(self, kernels: Kernels) -> bool {
        match kernels {
            Kernels::Vector => self.vector,
            Kernels::Scalar => self.scalar,
        }
    }

    /// The larger of the two families' needs, `vector` and `scalar`, over the families
    /// in the set.
    pub const fn most(self, vector: usize, scalar: usize) -> usize {
        let v = if self.vector { vector } else { 0 };
        let s = if self.scalar { scalar } else { 0 };
        if v > s {
            v
        } else {
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_take_the_need_of_their_families() {
        assert_eq!(KernelSet::ANY.most(10, 3), 10);
        assert_eq!(KernelSet::ANY.most(2, 3), 3);
        assert_eq!(KernelSet::only(Kernels::Scalar).most(10, 3), 3);
        assert_eq!(KernelSet::only(Kernels::Vector).most(10, 3), 10);
        assert!(KernelSet::ANY.contains(Kernels::NATIVE));
        assert!(!KernelSet::only(Kernels::Scalar).contains(Kernels::Vector));
        assert_eq!(Kernels::of_arch("arm"), Kernels::Scalar);
        assert_eq!(Kernels::of_arch("riscv32"), Kernels::Scalar);
        assert_eq!(Kernels::of_arch("aarch64"), Kernels::Vector);
    }
}
