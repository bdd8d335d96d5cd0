//! Work units and ranks: unit `u` holds chains `u*C .. (u+1)*C`; rank `r` of
//! `W` computes units `r, r+W, r+2W, ...`. A unit's files are written
//! atomically and then its completion marker, so a unit is either done (marker
//! present) or redone; its content depends only on the seed and the unit index,
//! never on which rank ran it.

use super::filter::FilterCounts;
use super::RolloutError;
use crate::dataset::{read_pairs, write_file_atomic, PairRecord};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// This process's place among the rollout processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rank {
    /// 0-based rank.
    pub rank: usize,
    /// Number of ranks.
    pub world_size: usize,
}

impl Rank {
    /// The single-process rank.
    pub const SOLO: Rank = Rank { rank: 0, world_size: 1 };

    /// Rank and world size from flags, else from the environment of a launcher
    /// (`RANK`/`WORLD_SIZE` of torchrun, `OMPI_COMM_WORLD_RANK`/`_SIZE` of
    /// mpirun, `SLURM_PROCID`/`SLURM_NTASKS` of srun: [`crate::dist::launched`]),
    /// else a single process.
    pub fn detect(rank: Option<usize>, world_size: Option<usize>, env: impl Fn(&str) -> Option<String>) -> Result<Rank, RolloutError> {
        let (rank, world_size) = match (rank, world_size) {
            (Some(r), Some(w)) => (r, w),
            (None, None) => match crate::dist::launched(env).map_err(|e| RolloutError::Rank(e.to_string()))? {
                Some((_, rank, world)) => (rank, world),
                None => (0, 1),
            },
            _ => return Err(RolloutError::Rank("--rank and --world-size go together".into())),
        };
        if world_size == 0 || rank >= world_size {
            return Err(RolloutError::Rank(format!("rank {rank} is not below world size {world_size}")));
        }
        Ok(Rank { rank, world_size })
    }

    /// The units this rank computes, in order.
    pub fn units(self, total: usize) -> impl Iterator<Item = usize> {
        (self.rank..total).step_by(self.world_size)
    }
}

/// Seconds spent per phase of a unit, and the denoising work done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// Reverse diffusion (denoiser, decoder, head, argmax).
    pub denoise_s: f64,
    /// Tokens to text.
    pub decode_s: f64,
    /// Syntax checks, edit distances, dedupe, decontamination.
    pub filter_s: f64,
    /// Reverse steps over all chains (one chain at one timestep = 1): the
    /// work, so that kept pairs per step compares sampler settings
    /// independently of the machine.
    #[serde(default)]
    pub chain_steps: u64,
}

impl Timing {
    /// Seconds of denoising, decoding and filtering together.
    pub fn busy_s(&self) -> f64 {
        self.denoise_s + self.decode_s + self.filter_s
    }
}

/// `denoise 1.0 s (80%), decode ..., filter ...`: where a rank's time went.
impl std::fmt::Display for Timing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let busy = self.busy_s().max(1e-9);
        let share = |s: f64| 100.0 * s / busy;
        write!(
            f,
            "denoise {:.1} s ({:.0}%), decode {:.1} s ({:.0}%), filter {:.1} s ({:.0}%)",
            self.denoise_s,
            share(self.denoise_s),
            self.decode_s,
            share(self.decode_s),
            self.filter_s,
            share(self.filter_s)
        )
    }
}

impl std::ops::AddAssign for Timing {
    fn add_assign(&mut self, o: Self) {
        self.denoise_s += o.denoise_s;
        self.decode_s += o.decode_s;
        self.filter_s += o.filter_s;
        self.chain_steps += o.chain_steps;
    }
}

/// The completion marker of a unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitMarker {
    /// Unit index.
    pub unit: usize,
    /// Chains run.
    pub chains: usize,
    /// Filter counts of the unit (dedupe within the unit only).
    pub counts: FilterCounts,
    /// Where the time went (not part of the dataset, so runs stay byte-identical).
    pub timing: Timing,
    /// The rank that computed it.
    pub rank: usize,
}

/// The work-unit directory of a dataset: `<parent>/.<name>.units/`.
#[derive(Debug, Clone)]
pub struct UnitDir {
    dir: PathBuf,
}

impl UnitDir {
    /// The unit directory of the dataset at `out`.
    pub fn for_dataset(out: &Path) -> Self {
        let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "dataset".into());
        UnitDir { dir: out.with_file_name(format!(".{name}.units")) }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Makes sure the directory holds units of `key`; units of another key
    /// (other checkpoint, seed, sampler, filters) are removed. Returns whether
    /// old units were removed. Ranks starting together serialise on a lock
    /// file next to the directory, so only the first removes and the others
    /// see the new key.
    pub fn prepare(&self, key: &str) -> Result<bool, RolloutError> {
        let lock_path = self.dir.with_extension("lock");
        if let Some(parent) = lock_path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| RolloutError::io(parent, e))?;
        }
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| RolloutError::io(&lock_path, e))?;
        lock.lock().map_err(|e| RolloutError::io(&lock_path, e))?;
        let key_path = self.dir.join("key");
        let stale = match std::fs::read_to_string(&key_path) {
            Ok(existing) => existing.trim() != key,
            // no key: nothing was computed yet (the key is written before any unit)
            Err(_) => false,
        };
        if stale {
            std::fs::remove_dir_all(&self.dir).map_err(|e| RolloutError::io(&self.dir, e))?;
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| RolloutError::io(&self.dir, e))?;
        if !key_path.exists() {
            write_file_atomic(&key_path, key.as_bytes())?;
        }
        drop(lock); // unlocks
        Ok(stale)
    }

    /// The pairs file of unit `u`.
    pub fn pairs(&self, u: usize) -> PathBuf {
        self.dir.join(format!("unit-{u:06}.pairs.parquet"))
    }

    /// The chain-log file of unit `u`.
    pub fn chains(&self, u: usize) -> PathBuf {
        self.dir.join(format!("unit-{u:06}.chains.parquet"))
    }

    /// The completion marker of unit `u`.
    pub fn marker(&self, u: usize) -> PathBuf {
        self.dir.join(format!("unit-{u:06}.done.json"))
    }

    /// The marker of unit `u`, if the unit is complete.
    pub fn read_marker(&self, u: usize) -> Result<Option<UnitMarker>, RolloutError> {
        let path = self.marker(u);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| RolloutError::Config { path, reason: format!("corrupt unit marker: {e}") }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(RolloutError::io(&path, e)),
        }
    }

    /// Marks unit `u` complete (after its files are in place).
    pub fn write_marker(&self, marker: &UnitMarker) -> Result<(), RolloutError> {
        write_file_atomic(&self.marker(marker.unit), &serde_json::to_vec_pretty(marker).expect("marker serialises"))?;
        Ok(())
    }
}

/// Follows the longest prefix of complete units, deduplicating their pairs
/// globally in unit order: the dataset is the first `target` pairs of it.
pub struct Prefix {
    /// Units `0..next` are complete and absorbed.
    pub next: usize,
    /// Globally distinct pairs in the absorbed units.
    pub kept: usize,
    seen: HashSet<(String, String)>,
}

impl Prefix {
    /// An empty prefix.
    pub fn new() -> Self {
        Prefix { next: 0, kept: 0, seen: HashSet::new() }
    }

    /// Absorbs complete units after the prefix, up to `total` or until `target`
    /// pairs are reached. Returns whether the target is reached.
    pub fn advance(&mut self, units: &UnitDir, total: usize, target: usize) -> Result<bool, RolloutError> {
        while self.kept < target && self.next < total {
            if units.read_marker(self.next)?.is_none() {
                break;
            }
            for pair in read_pairs(&units.pairs(self.next))? {
                if self.seen.insert((pair.broken, pair.fixed)) {
                    self.kept += 1;
                }
            }
            self.next += 1;
        }
        Ok(self.kept >= target)
    }

    /// Whether the dataset can be finalized: target reached or budget spent.
    pub fn complete(&self, total: usize, target: usize) -> bool {
        self.kept >= target || self.next == total
    }
}

impl Default for Prefix {
    fn default() -> Self {
        Self::new()
    }
}

/// Pairs of the prefix of units, deduplicated globally in unit order and cut at
/// `target`, with the number of units used and of cross-unit duplicates.
pub fn collect_prefix(units: &UnitDir, total: usize, target: usize) -> Result<(Vec<PairRecord>, usize, usize), RolloutError> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let mut duplicates = 0;
    let mut used = 0;
    while out.len() < target && used < total {
        if units.read_marker(used)?.is_none() {
            return Err(RolloutError::Incomplete(format!(
                "unit {used} is not complete (have {} of {target} pairs); run the missing ranks, then --finalize",
                out.len()
            )));
        }
        for pair in read_pairs(&units.pairs(used))? {
            if out.len() == target {
                break;
            }
            if seen.insert((pair.broken.clone(), pair.fixed.clone())) {
                out.push(pair);
            } else {
                duplicates += 1;
            }
        }
        used += 1;
    }
    Ok((out, used, duplicates))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_comes_from_flags_or_launchers() {
        let none = |_: &str| None;
        assert_eq!(Rank::detect(None, None, none).unwrap(), Rank::SOLO);
        assert_eq!(Rank::detect(Some(1), Some(3), none).unwrap(), Rank { rank: 1, world_size: 3 });
        let torchrun = |k: &str| match k {
            "RANK" => Some("2".to_string()),
            "WORLD_SIZE" => Some("4".to_string()),
            _ => None,
        };
        assert_eq!(Rank::detect(None, None, torchrun).unwrap(), Rank { rank: 2, world_size: 4 });
        let slurm = |k: &str| match k {
            "SLURM_PROCID" => Some("0".to_string()),
            "SLURM_NTASKS" => Some("2".to_string()),
            _ => None,
        };
        assert_eq!(Rank::detect(None, None, slurm).unwrap(), Rank { rank: 0, world_size: 2 });
        let broken = |k: &str| (k == "OMPI_COMM_WORLD_RANK" || k == "OMPI_COMM_WORLD_SIZE").then(|| "x".to_string());
        assert!(Rank::detect(None, None, broken).unwrap_err().to_string().contains("OMPI_COMM_WORLD_RANK"));
        assert!(Rank::detect(Some(3), Some(3), none).is_err());
        assert!(Rank::detect(Some(0), None, none).is_err());
        assert_eq!(Rank { rank: 1, world_size: 3 }.units(8).collect::<Vec<_>>(), vec![1, 4, 7]);
    }
}
