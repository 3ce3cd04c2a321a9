//! A tiny seeded random number generator for weights, so the models are the same bytes everywhere.
//!
//! SplitMix64 (Steele, Lea and Flood, 2014) is a few lines, passes BigCrush, and unlike `rand`
//! promises nothing it might change between versions: the committed models depend on every bit.

/// A SplitMix64 stream.
pub(crate) struct Rng {
    state: u64,
}

impl Rng {
    /// The stream for the tensor `name` of a model seeded with `seed`.
    ///
    /// Each tensor gets its own stream, so adding or reordering layers leaves the weights of the
    /// other layers as they were.
    pub(crate) fn for_tensor(seed: u64, name: &str) -> Rng {
        Rng {
            state: seed ^ fnv1a(name.as_bytes()),
        }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A float drawn uniformly from `[low, high)`.
    pub(crate) fn uniform(&mut self, low: f32, high: f32) -> f32 {
        // The top 24 bits fill an f32 mantissa exactly, so `unit` is exact and lies in [0, 1).
        let unit = (self.next_u64() >> 40) as f32 / (1u32 << 24) as f32;
        low + (high - low) * unit
    }
}

/// The 64-bit FNV-1a hash, used to turn tensor names into stream offsets.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_the_reference_sequence() {
        // The first outputs of the reference C implementation seeded with 0.
        let mut rng = Rng { state: 0 };
        assert_eq!(rng.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(rng.next_u64(), 0x6e78_9e6a_a1b9_65f4);
        assert_eq!(rng.next_u64(), 0x06c4_5d18_8009_454f);
    }

    #[test]
    fn uniform_stays_in_range() {
        let mut rng = Rng::for_tensor(7, "conv1.weight");
        for _ in 0..10_000 {
            let value = rng.uniform(-0.5, 0.25);
            assert!((-0.5..0.25).contains(&value), "{value} out of range");
        }
    }
}
