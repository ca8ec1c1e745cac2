//! Seeded randomness for the simulation: a small generator and the few distributions it needs.
//!
//! What this module does not do: anything cryptographic. The numbers only have to be uniform
//! enough for jitter and request outcomes, and identical for the same seed.
//!
//! Key design decision: SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number
//! generators", OOPSLA 2014) written out here rather than a `rand` generator, whose output
//! may change between releases (`StdRng` promises no stability). A scenario with a seed must give
//! the same report next year; the maths goes through `libm`, like the health model's, so it is
//! also the same on every target.

/// SplitMix64's increment, the golden ratio in 64 bits.
const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// A SplitMix64 stream.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    /// The stream `stream` of `seed`: streams of one seed are independent, so adding a CDN does
    /// not change the draws of the others.
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut mixer = Rng(seed ^ stream.wrapping_mul(GOLDEN).rotate_left(17));
        Rng(mixer.next_u64())
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), from the top 53 bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `0..n` (0 when `n` is 0); the modulo bias is below `n / 2^64`.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// A multiplicative jitter factor, uniform in `[1 − amplitude, 1 + amplitude]`.
    pub fn jitter(&mut self, amplitude: f64) -> f64 {
        1.0 + amplitude * (2.0 * self.unit() - 1.0)
    }

    /// A standard normal draw (Box–Muller).
    fn normal(&mut self) -> f64 {
        // 1 − unit() is in (0, 1], so the logarithm is finite.
        let u = 1.0 - self.unit();
        let v = self.unit();
        libm::sqrt(-2.0 * libm::log(u)) * libm::cos(2.0 * core::f64::consts::PI * v)
    }

    /// A Poisson draw by Knuth's multiplication method; only used for `lambda` below 30, where
    /// `e^−λ` is far from underflow and the loop is short.
    fn poisson(&mut self, lambda: f64) -> u64 {
        let limit = libm::exp(-lambda);
        let mut k = 0;
        let mut p = self.unit();
        while p > limit {
            k += 1;
            p *= self.unit();
        }
        k
    }

    /// How many of `n` trials succeed with probability `p`.
    ///
    /// Exact for up to 64 trials; beyond, Poisson when the expected count of the rarer outcome is
    /// below 30, else the normal approximation: the simulation draws the errors and cache hits of
    /// tens of thousands of requests per second, and only the count matters.
    pub fn binomial(&mut self, n: u64, p: f64) -> u64 {
        if n == 0 || p.is_nan() || p <= 0.0 {
            return 0;
        }
        if p >= 1.0 {
            return n;
        }
        if n <= 64 {
            return (0..n).filter(|_| self.unit() < p).count() as u64;
        }
        let (q, flipped) = if p > 0.5 { (1.0 - p, true) } else { (p, false) };
        let mean = n as f64 * q;
        let k = if mean < 30.0 {
            self.poisson(mean).min(n)
        } else {
            let x = mean + libm::sqrt(mean * (1.0 - q)) * self.normal();
            // Clamped to 0..=n, so the conversion cannot wrap.
            libm::round(x).clamp(0.0, n as f64) as u64
        };
        if flipped { n - k } else { k }
    }

    /// `x` rounded down or up at random, with the expected value `x` (a rate of 2.5 requests per
    /// second gives 2 or 3, 2.5 on average).
    pub fn round(&mut self, x: f64) -> u64 {
        let floor = libm::floor(x.max(0.0));
        let up = self.unit() < x - floor;
        floor as u64 + u64::from(up)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use proptest::prelude::*;

    // Named, so it wins over the prelude's `Rng` trait.
    use super::Rng;

    #[test]
    fn the_same_seed_and_stream_give_the_same_draws() {
        let a: Vec<u64> = (0..5)
            .map({
                let mut r = Rng::new(7, 1);
                move |_| r.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..5)
            .map({
                let mut r = Rng::new(7, 1);
                move |_| r.next_u64()
            })
            .collect();
        let c: Vec<u64> = (0..5)
            .map({
                let mut r = Rng::new(7, 2);
                move |_| r.next_u64()
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn binomial_means_match_n_times_p() {
        // Each regime: exact, Poisson, normal, and the flipped side of each.
        for (n, p) in [
            (50, 0.3),
            (10_000, 0.001),
            (10_000, 0.2),
            (10_000, 0.98),
            (500, 0.999),
        ] {
            let mut r = Rng::new(1, n);
            let draws = 2000;
            let total: u64 = (0..draws).map(|_| r.binomial(n, p)).sum();
            let mean = total as f64 / draws as f64;
            let expected = n as f64 * p;
            let sd = (n as f64 * p * (1.0 - p) / draws as f64).sqrt();
            assert!(
                (mean - expected).abs() < 5.0 * sd + 0.01,
                "n {n} p {p}: mean {mean}, expected {expected}"
            );
        }
    }

    #[test]
    fn stochastic_rounding_keeps_the_mean() {
        let mut r = Rng::new(3, 0);
        let total: u64 = (0..10_000).map(|_| r.round(2.5)).sum();
        assert!((24_500..=25_500).contains(&total), "{total}");
    }

    proptest! {
        #[test]
        fn binomial_stays_within_zero_and_n(seed: u64, n in 0u64..1_000_000, p in -0.5f64..1.5) {
            let k = Rng::new(seed, 0).binomial(n, p);
            prop_assert!(k <= n);
            if p <= 0.0 { prop_assert_eq!(k, 0); }
            if p >= 1.0 { prop_assert_eq!(k, n); }
        }

        #[test]
        fn jitter_stays_within_its_amplitude(seed: u64, a in 0.0f64..0.9) {
            let x = Rng::new(seed, 0).jitter(a);
            prop_assert!((1.0 - a..=1.0 + a).contains(&x));
        }
    }
}
