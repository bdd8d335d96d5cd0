//! A description of the machine a measurement ran on, printed with every
//! benchmark figure: speed ratios move with the CPU (AVX-512 or AVX2 gemm
//! kernels, AVX-512 on 256-bit units on Zen 4 and 512-bit ones on Zen 5, caches, core counts), so a number without
//! its machine cannot be compared.

use serde::Serialize;

/// The CPU, its vector extensions, the threads and the allocator in use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Machine {
    /// `model name` of `/proc/cpuinfo` (or the architecture where it is missing).
    pub cpu: String,
    /// Vendor, family and model numbers, and the microarchitecture where they
    /// name one (`AuthenticAMD family 26 model 2: Zen 5`): virtual machines
    /// often hide the model name (`AMD EPYC`), and Zen 4 and Zen 5 EPYCs differ
    /// in the width of their AVX-512 units, hence in every kernel's speed.
    pub cpu_id: String,
    /// The data caches of CPU 0 (`L1d 48K, L2 1024K, L3 32768K`), which decide
    /// how the kernels' blocks fit.
    pub caches: String,
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
        let cpu = cpuinfo_field(&cpuinfo, "model name").map_or_else(|| std::env::consts::ARCH.to_string(), str::to_string);
        let (vector_extensions, gemm_kernel) = vector_extensions();
        Machine {
            cpu,
            cpu_id: cpu_id(&cpuinfo),
            caches: caches(std::path::Path::new("/sys/devices/system/cpu/cpu0/cache")),
            logical_cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            threads: rayon::current_num_threads(),
            vector_extensions,
            gemm_kernel,
            allocator: "mimalloc, freed pages kept, transparent huge pages off (lastmile::alloc)",
        }
    }
}

/// The first value of a `/proc/cpuinfo` field.
fn cpuinfo_field<'a>(cpuinfo: &'a str, field: &str) -> Option<&'a str> {
    cpuinfo.lines().find_map(|l| {
        let (key, value) = l.split_once(':')?;
        (key.trim() == field).then(|| value.trim())
    })
}

/// `vendor family F model M`, with the microarchitecture for the AMD families
/// whose models map to one (the AMD processor programming references); `unknown`
/// without `/proc/cpuinfo`'s fields.
fn cpu_id(cpuinfo: &str) -> String {
    let (Some(vendor), Some(family), Some(model)) =
        (cpuinfo_field(cpuinfo, "vendor_id"), cpuinfo_field(cpuinfo, "cpu family"), cpuinfo_field(cpuinfo, "model"))
    else {
        return "unknown".to_string();
    };
    let id = format!("{vendor} family {family} model {model}");
    let (Ok(family), Ok(model)) = (family.parse::<u32>(), model.parse::<u32>()) else {
        return id;
    };
    let microarchitecture = match (vendor, family, model) {
        ("AuthenticAMD", 0x17, 0x00..=0x2f) => Some("Zen/Zen+"),
        ("AuthenticAMD", 0x17, _) => Some("Zen 2"),
        ("AuthenticAMD", 0x19, 0x10..=0x1f | 0x60..=0x7f | 0xa0..=0xaf) => Some("Zen 4: AVX-512 on 256-bit units"),
        ("AuthenticAMD", 0x19, _) => Some("Zen 3"),
        ("AuthenticAMD", 0x1a, _) => Some("Zen 5: 512-bit AVX-512 units"),
        _ => None,
    };
    match microarchitecture {
        Some(name) => format!("{id}: {name}"),
        None => id,
    }
}

/// CPU 0's data and unified caches from sysfs (`index*/level`, `type`, `size`),
/// `unknown` where sysfs has none.
fn caches(dir: &std::path::Path) -> String {
    let read = |p: std::path::PathBuf| std::fs::read_to_string(p).ok().map(|s| s.trim().to_string());
    let mut found: Vec<(String, String)> = Vec::new();
    for index in 0.. {
        let entry = dir.join(format!("index{index}"));
        let (Some(level), Some(kind), Some(size)) = (read(entry.join("level")), read(entry.join("type")), read(entry.join("size"))) else {
            break;
        };
        match kind.as_str() {
            "Data" => found.push((format!("L{level}d"), size)),
            "Unified" => found.push((format!("L{level}"), size)),
            _ => {}
        }
    }
    if found.is_empty() {
        return "unknown".to_string();
    }
    found.iter().map(|(level, size)| format!("{level} {size}")).collect::<Vec<_>>().join(", ")
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

/// `cpu: AMD EPYC [AuthenticAMD family 26 model 2: Zen 5 ...; caches L1d 48K, ...] (2 logical CPUs, 2 threads); vector: ...`
impl std::fmt::Display for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cpu: {} [{}; caches {}] ({} logical CPUs, {} threads); vector: {}; matmul: faer, {}; allocator: {}",
            self.cpu,
            self.cpu_id,
            self.caches,
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

    #[test]
    fn names_the_microarchitecture_from_family_and_model() {
        let info = |family: u32, model: u32| {
            format!("vendor_id\t: AuthenticAMD\ncpu family\t: {family}\nmodel\t\t: {model}\nmodel name\t: AMD EPYC\n")
        };
        assert_eq!(cpu_id(&info(25, 17)), "AuthenticAMD family 25 model 17: Zen 4: AVX-512 on 256-bit units");
        assert_eq!(cpu_id(&info(25, 1)), "AuthenticAMD family 25 model 1: Zen 3");
        assert_eq!(cpu_id(&info(26, 2)), "AuthenticAMD family 26 model 2: Zen 5: 512-bit AVX-512 units");
        let intel = "vendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 143\n";
        assert_eq!(cpu_id(intel), "GenuineIntel family 6 model 143");
        assert_eq!(cpu_id("processor\t: 0\n"), "unknown");
    }

    #[test]
    fn lists_the_caches_of_a_sysfs_tree() {
        let dir = tempfile::tempdir().unwrap();
        for (i, (level, kind, size)) in [("1", "Data", "48K"), ("1", "Instruction", "32K"), ("2", "Unified", "1024K")].iter().enumerate() {
            let entry = dir.path().join(format!("index{i}"));
            std::fs::create_dir(&entry).unwrap();
            for (file, value) in [("level", level), ("type", kind), ("size", size)] {
                std::fs::write(entry.join(file), format!("{value}\n")).unwrap();
            }
        }
        assert_eq!(caches(dir.path()), "L1d 48K, L2 1024K");
        assert_eq!(caches(&dir.path().join("missing")), "unknown");
    }
}
