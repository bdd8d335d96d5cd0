//! How precisely `f32` matrix products are computed, chosen once per process,
//! as PyTorch's `torch.set_float32_matmul_precision`.
//!
//! `Highest` (the default) multiplies in `f32`. `Medium` lets the linear layers
//! round their operands to bfloat16 and sum the products in `f32`
//! ([`crate::bf16`]) on CPUs with AVX-512 BF16, about twice the products per
//! instruction; elsewhere it changes nothing. `Low` quantizes the operands to
//! 8-bit integers and sums them exactly in `i32` ([`crate::int8`]) on CPUs with
//! AVX-512 VNNI, twice bf16's products per instruction; without VNNI it is
//! `Medium`. Both are meant for inference (sampling, rollout, repair): the
//! training backward passes stay in `f32`.

use std::sync::atomic::{AtomicU8, Ordering};

/// The precision of `f32` matrix products.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MatmulPrecision {
    /// `f32` operands and sums.
    #[default]
    Highest,
    /// bfloat16 operands, `f32` sums, where the CPU has the instructions.
    Medium,
    /// 8-bit integer operands (activations per row, weights per output),
    /// exact `i32` sums, where the CPU has AVX-512 VNNI; else as `Medium`.
    Low,
}

impl MatmulPrecision {
    /// Whether the linear layers may round their operands (`Medium` or `Low`).
    pub fn is_reduced(self) -> bool {
        self != MatmulPrecision::Highest
    }
}

impl std::str::FromStr for MatmulPrecision {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "highest" => Ok(MatmulPrecision::Highest),
            "medium" => Ok(MatmulPrecision::Medium),
            "low" => Ok(MatmulPrecision::Low),
            other => Err(format!("unknown matmul precision `{other}` (expected `highest`, `medium` or `low`)")),
        }
    }
}

impl std::fmt::Display for MatmulPrecision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MatmulPrecision::Highest => "highest",
            MatmulPrecision::Medium => "medium",
            MatmulPrecision::Low => "low",
        })
    }
}

static PRECISION: AtomicU8 = AtomicU8::new(0);

/// Sets the precision of every later `f32` linear layer in this process.
pub fn set_matmul_precision(precision: MatmulPrecision) {
    PRECISION.store(precision as u8, Ordering::Relaxed);
}

/// Runs `f` with `precision`, then restores the one before (training stages
/// run in `f32` inside a pipeline whose sampling stages run in `Medium`).
pub fn with_matmul_precision<R>(precision: MatmulPrecision, f: impl FnOnce() -> R) -> R {
    let before = matmul_precision();
    set_matmul_precision(precision);
    let result = f();
    set_matmul_precision(before);
    result
}

/// The precision set by [`set_matmul_precision`] (`Highest` until then).
pub fn matmul_precision() -> MatmulPrecision {
    match PRECISION.load(Ordering::Relaxed) {
        0 => MatmulPrecision::Highest,
        1 => MatmulPrecision::Medium,
        _ => MatmulPrecision::Low,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_are_errors() {
        for p in [MatmulPrecision::Highest, MatmulPrecision::Medium, MatmulPrecision::Low] {
            assert_eq!(p.to_string().parse::<MatmulPrecision>(), Ok(p));
        }
        assert!("bf16".parse::<MatmulPrecision>().unwrap_err().contains("`bf16`"));
    }
}
