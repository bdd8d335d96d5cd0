//! A description of the machine a measurement ran on, printed with every
//! benchmark figure: speed ratios move with the CPU (AVX-512 or AVX2 gemm
//! kernels, double-pumped AVX-512 on Zen 4, core counts), so a number without
//! its machine cannot be compared.

use serde::Serialize;

/// The CPU, its vector extensions, the threads and the allocator in use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Machine {
    /// `model name` of `/proc/cpuinfo` (or the architecture where it is missing).
    pub cpu: String,
    /// Logical CPUs the OS reports.
    pub logical_cpus: usize,
    /// Threads of the global rayon pool (candle's CPU kernels and ours run on it).
    pub threads: usize,
    /// The vector extensions that decide which kernels run (AVX2, FMA, AVX-512 F/BF16/VNNI).
    pub vector_extensions: Vec<&'static str>,
    /// The widest f32 matmul micro-kernel this CPU runs (faer's x86 kernels for
    /// the model's products on the CPU; candle's `gemm` picks the same width).
    pub gemm_kernel: &'static str,
    /// The global allocator of lastmile's binaries and benchmarks, and its setting.
    pub allocator: &'static str,
}

impl Machine {
    /// Describes the machine this process runs on.
    pub fn detect() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, v)| v.trim().to_string()))
            .unwrap_or_else(|| std::env::consts::ARCH.to_string());
        let (vector_extensions, gemm_kernel) = vector_extensions();
        Machine {
            cpu,
            logical_cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            threads: rayon::current_num_threads(),
            vector_extensions,
            gemm_kernel,
            allocator: "mimalloc, freed pages kept, transparent huge pages off (lastmile::alloc)",
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn vector_extensions() -> (Vec<&'static str>, &'static str) {
    let mut found = Vec::new();
    macro_rules! probe {
        ($($feature:tt),*) => {
            $(if std::arch::is_x86_feature_detected!($feature) { found.push($feature); })*
        };
    }
    probe!("avx2", "fma", "avx512f", "avx512bf16", "avx512vnni");
    // gemm's x86 dispatch: AVX-512 kernels when avx512f is there, else AVX2+FMA, else SSE/scalar
    let kernel = if found.contains(&"avx512f") {
        "avx512f (16 f32 lanes)"
    } else if found.contains(&"fma") {
        "avx2+fma (8 f32 lanes)"
    } else {
        "scalar/sse"
    };
    (found, kernel)
}

#[cfg(not(target_arch = "x86_64"))]
fn vector_extensions() -> (Vec<&'static str>, &'static str) {
    (Vec::new(), if cfg!(target_arch = "aarch64") { "neon" } else { "scalar" })
}

/// `cpu: AMD EPYC 9654 (2 logical CPUs, 2 threads); vector: avx2 fma avx512f; gemm: ...; allocator: ...`
impl std::fmt::Display for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cpu: {} ({} logical CPUs, {} threads); vector: {}; matmul: faer, {}; allocator: {}",
            self.cpu,
            self.logical_cpus,
            self.threads,
            if self.vector_extensions.is_empty() { "none detected".to_string() } else { self.vector_extensions.join(" ") },
            self.gemm_kernel,
            self.allocator
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_this_machine() {
        let m = Machine::detect();
        assert!(!m.cpu.is_empty() && m.logical_cpus >= 1 && m.threads >= 1);
        let line = m.to_string();
        assert!(line.starts_with("cpu: ") && line.contains("matmul: faer, "), "{line}");
        #[cfg(target_arch = "x86_64")]
        assert_eq!(m.gemm_kernel.starts_with("avx512f"), m.vector_extensions.contains(&"avx512f"));
    }
}
