//! A small seeded random generator: splits and samples must give the same
//! rows for the same seed on every machine and every version of the
//! libraries, so they do not use any library's generator.

/// SplitMix64 (Steele, Lea and Flood): 64 bits of state, passes BigCrush,
/// plenty for shuffling row indices.
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (Lemire's multiply-shift; `n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Shuffles in place (Fisher-Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// Splits `total` into parts proportional to `fractions` (which add up to
/// 1): each part gets the floor of its share, and the rows left over go to
/// the parts with the largest remainders (earlier parts first on ties).
pub fn allocate(total: usize, fractions: &[f64]) -> Vec<usize> {
    let shares: Vec<f64> = fractions.iter().map(|f| f * total as f64).collect();
    let mut counts: Vec<usize> = shares.iter().map(|s| s.floor() as usize).collect();
    let mut left = total.saturating_sub(counts.iter().sum());
    let mut order: Vec<usize> = (0..fractions.len()).collect();
    order.sort_by(|&a, &b| (shares[b] - shares[b].floor()).total_cmp(&(shares[a] - shares[a].floor())).then(a.cmp(&b)));
    for i in order.into_iter().cycle() {
        if left == 0 {
            break;
        }
        counts[i] += 1;
        left -= 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_adds_up_and_follows_the_fractions() {
        assert_eq!(allocate(2000, &[0.7, 0.15, 0.15]), vec![1400, 300, 300]);
        assert_eq!(allocate(10, &[0.5, 0.25, 0.25]), vec![5, 3, 2]);
        assert_eq!(allocate(1, &[0.5, 0.5]), vec![1, 0]);
        assert_eq!(allocate(0, &[0.5, 0.5]), vec![0, 0]);
    }

    #[test]
    fn shuffles_are_permutations_fixed_by_the_seed() {
        let mut a: Vec<usize> = (0..100).collect();
        let mut b = a.clone();
        Rng::new(7).shuffle(&mut a);
        Rng::new(7).shuffle(&mut b);
        assert_eq!(a, b);
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_ne!(a, (0..100).collect::<Vec<_>>());
    }
}
